//! Evaluating DataFusion physical expressions over stream batches. A batch that fails (a division
//! by zero, a bad cast) is evaluated again row by row, so that only the failing rows go to
//! `error_stream` and the others go on.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::Emit;
use crate::catalog::rowtime;
use crate::error::Result;
use crate::error_stream::{EVALUATION_ERROR, ErrorRow};
use crate::format::row_as_json;

/// One vectorized accumulator per aggregate; aggregates without a `GroupsAccumulator` are adapted.
pub fn groups_accumulators(
    aggregates: &[Arc<datafusion::physical_expr::aggregate::AggregateFunctionExpr>],
) -> Result<Vec<Box<dyn datafusion::logical_expr::GroupsAccumulator>>> {
    aggregates
        .iter()
        .map(|a| {
            if a.groups_accumulator_supported() {
                Ok(a.create_groups_accumulator()?)
            } else {
                let a = Arc::clone(a);
                Ok(
                    Box::new(datafusion::physical_expr::GroupsAccumulatorAdapter::new(
                        move || a.create_accumulator(),
                    )) as Box<dyn datafusion::logical_expr::GroupsAccumulator>,
                )
            }
        })
        .collect()
}

/// Evaluates an aggregate's `FILTER (WHERE …)`, if it has one.
pub fn evaluate_filter(
    filter: &Option<Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<Option<BooleanArray>> {
    use datafusion::arrow::array::AsArray;
    Ok(match filter {
        Some(f) => Some(
            f.evaluate(batch)?
                .into_array(batch.num_rows())?
                .as_boolean()
                .clone(),
        ),
        None => None,
    })
}

/// Evaluates expressions over a batch, one array per expression.
pub fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    let n = batch.num_rows();
    exprs
        .iter()
        .map(|e| Ok(e.evaluate(batch)?.into_array(n)?))
        .collect()
}

/// Evaluates `f` over a whole batch; if that fails (division by zero, a bad cast, …), evaluates
/// it row by row so that only the failing rows go to error_stream and the others go on.
/// Returns the result over the good rows and those rows (the batch filtered to them).
pub fn evaluate_or_isolate<T>(
    batch: &RecordBatch,
    visible: usize,
    pump: &str,
    out: &mut Emit,
    f: impl Fn(&RecordBatch) -> Result<T>,
    combine: impl Fn(Vec<T>) -> Result<T>,
) -> Result<Option<(T, RecordBatch)>> {
    match f(batch) {
        Ok(v) => return Ok(Some((v, batch.clone()))),
        Err(first) if batch.num_rows() <= 1 => {
            if batch.num_rows() == 1 {
                out.errors.push(error_row(batch, visible, 0, &first, pump));
            }
            return Ok(None);
        }
        Err(_) => {}
    }
    let mut good = Vec::new();
    let mut keep = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let row = batch.slice(i, 1);
        match f(&row) {
            Ok(v) => {
                good.push(v);
                keep.push(true);
            }
            Err(e) => {
                out.errors.push(error_row(batch, visible, i, &e, pump));
                keep.push(false);
            }
        }
    }
    if good.is_empty() {
        return Ok(None);
    }
    let rows = filter_record_batch(batch, &BooleanArray::from(keep))?;
    Ok(Some((combine(good)?, rows)))
}

pub(crate) fn error_row(
    batch: &RecordBatch,
    visible: usize,
    row: usize,
    e: &crate::error::Error,
    pump: &str,
) -> ErrorRow {
    let message = match e {
        crate::error::Error::DataFusion(d) => d.message().to_string(),
        other => other.to_string(),
    };
    ErrorRow {
        name: EVALUATION_ERROR,
        message,
        data_rowtime: Some(rowtime(batch).value(row)),
        data_row: row_as_json(batch, visible, row).into_bytes(),
        pump: Some(pump.to_string()),
    }
}

/// Concatenates batches of one schema (used to combine row-by-row results).
pub fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    Ok(concat_batches(schema, batches)?)
}
