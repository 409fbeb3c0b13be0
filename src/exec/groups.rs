//! A group table (DataFusion's `GroupValues`) and its accumulators, as a checkpoint keeps them:
//! the group keys in group order, then each accumulator's intermediate state (a partial sum and
//! count for AVG, …). Restoring interns the keys again, which numbers the groups in the same
//! order, and merges the states, so the results are exactly those of the original.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_plan::aggregates::group_values::GroupValues;
use std::sync::Arc;

use crate::error::Result;
use crate::state::Snapshot;

/// The keys (one batch) and the accumulators' states (one batch each), with the group count.
/// Taking them empties the table; [`restore`] puts them back.
pub fn take(
    groups: &mut Box<dyn GroupValues>,
    accumulators: &mut [Box<dyn GroupsAccumulator>],
) -> Result<Vec<RecordBatch>> {
    let n = groups.len();
    let keys = if n == 0 {
        Vec::new()
    } else {
        let keys = groups.emit(EmitTo::All)?;
        // Some tables (DataFusion's column table) keep their hash map after `emit(All)`;
        // clearing it makes the table as empty as a new one, so interning starts at group 0.
        groups.clear_shrink(n);
        keys
    };
    let mut out = vec![batch_of(keys, n)?];
    for acc in accumulators.iter_mut() {
        let state = if n == 0 {
            Vec::new()
        } else {
            acc.state(EmitTo::All)?
        };
        out.push(batch_of(state, n)?);
    }
    Ok(out)
}

/// Puts back what [`take`] took, into an empty table and fresh accumulators.
pub fn restore(
    groups: &mut Box<dyn GroupValues>,
    accumulators: &mut [Box<dyn GroupsAccumulator>],
    batches: &[RecordBatch],
) -> Result<()> {
    let keys = &batches[0];
    let n = keys.num_rows();
    if n == 0 {
        return Ok(());
    }
    let mut indices = Vec::with_capacity(n);
    groups.intern(keys.columns(), &mut indices)?;
    debug_assert!(indices.iter().enumerate().all(|(i, g)| i == *g));
    for (acc, state) in accumulators.iter_mut().zip(&batches[1..]) {
        acc.merge_batch(state.columns(), &indices, n)?;
    }
    Ok(())
}

/// Takes and immediately restores: the state for a checkpoint, the table as it was.
pub fn snapshot(
    groups: &mut Box<dyn GroupValues>,
    accumulators: &mut [Box<dyn GroupsAccumulator>],
    meta: serde_json::Value,
) -> Result<Snapshot> {
    let batches = take(groups, accumulators)?;
    restore(groups, accumulators, &batches)?;
    Ok(Snapshot { meta, batches })
}

/// Columns as a batch (field names are positions; a batch of no columns keeps its row count).
fn batch_of(columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}
