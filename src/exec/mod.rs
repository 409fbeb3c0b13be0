//! Operators: synchronous, push-based, over Arrow `RecordBatch`es (no sqlparser, no threads).
//!
//! Every batch that moves between operators holds the visible columns of the plan node that made
//! it, followed by one trailing ROWTIME column (`Timestamp(Millisecond)`, never null,
//! non-decreasing). Operators receive batches and progress marks (a ROWTIME bound: the smallest
//! ROWTIME any future row can have) and push batches and `error_stream` rows into an [`Emit`].
//! Each operator is built from an immutable, printable spec made by the planner.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Operator`], [`Emit`], running a chain of operators ([`push_through`], [`advance_with_bound`]) |
//! | `eval.rs` | evaluating physical expressions; a failing row goes to `error_stream`, the others on |
//! | `monotonic.rs` | how rows fall into the groups of a monotonic key (windows of ROWTIME, or runs of a `MONOTONIC` value) |
//! | `groups.rs` | a group table and its accumulators kept in a checkpoint (tumbling and stagger) |
//! | `filter.rs` | `WHERE` |
//! | `project.rs` | the select list |
//! | `distinct.rs` | `SELECT STREAM DISTINCT` |
//! | `order_by.rs` | streaming `ORDER BY` within the groups of a monotonic leading key |
//! | `tsort.rs` | T-sort: `ORDER BY ts WITHIN interval` |
//! | `group_rank.rs` | `GROUP_RANK`: each ROWTIME's rows ranked, ordered and cut |
//! | `tumbling.rs` | `GROUP BY` with a ROWTIME window (`STEP`, `FLOOR`) |
//! | `stagger.rs` | `WINDOWED BY STAGGER` |
//! | `sliding.rs` | aggregates `OVER (RANGE … PRECEDING | ROWS n PRECEDING)` |
//! | `lookup_join.rs` | a stream joined to a reference table |
//! | `stream_join.rs` | two streams joined over windows |
//! | `random_cut_forest.rs` (+ folder) | `RANDOM_CUT_FOREST`, `RANDOM_CUT_FOREST_WITH_EXPLANATION`: a score per row |
//! | `hotspots.rs` | `HOTSPOTS`: the dense regions of a sliding window of rows |
//! | `model_input.rs` | what those share: numeric columns as numbers, NULL rows to `error_stream`, output columns |
//! | `insert.rs` | `INSERT INTO` the pump's target: column order, lengths, `… AS ROWTIME` |
//! | `test_util.rs` | (tests) batches from text tables, planning a pump, running it |
//!
//! Shape to imitate: `filter.rs` (an immutable spec, the operator that owns state, tests at the
//! bottom). Tests: `cargo test --lib exec`.

pub mod distinct;
mod eval;
pub mod filter;
pub mod group_rank;
mod groups;
pub mod hotspots;
pub mod insert;
pub mod lookup_join;
pub mod monotonic;
pub mod order_by;
pub mod model_input;
pub mod project;
pub mod random_cut_forest;
pub mod sliding;
pub mod stagger;
pub mod stream_join;
pub mod tsort;
pub mod tumbling;

#[cfg(test)]
pub(crate) mod test_util;

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::error_stream::ErrorRow;
use crate::state::Snapshot;
pub use eval::{concat, evaluate, evaluate_filter, evaluate_or_isolate, groups_accumulators};

/// What an operator produced for one input: batches for the next stage and error rows.
#[derive(Debug, Default)]
pub struct Emit {
    pub batches: Vec<RecordBatch>,
    pub errors: Vec<ErrorRow>,
}

/// What an operator holds between batches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    /// Windows open (a tumbling window per window start, a stagger or sliding window per key,
    /// the ORDER BY or GROUP_RANK group being gathered).
    pub windows: usize,
    /// Rows or groups kept for them (groups of open windows, rows in sliding windows, rows a
    /// join waits on or can still match, rows DISTINCT remembers, rows ORDER BY, T-sort and
    /// GROUP_RANK hold until they release them).
    pub rows: usize,
}

/// A running operator: owns its state; built from a spec.
pub trait Operator: Send {
    /// Processes a batch (visible columns + trailing ROWTIME).
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()>;
    /// No future input row will have a ROWTIME below `bound`.
    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()>;

    /// The bound of this operator's output once its input has reached `input_bound`: no row it
    /// emits later has a smaller ROWTIME. Operators that keep ROWTIME pass the bound through.
    fn output_bound(&self, input_bound: i64) -> i64 {
        input_bound
    }

    /// Reference table `name` has new rows (a reload): operators that read it use them from the
    /// next batch on. Returns whether this operator reads the table.
    fn replace_table(&mut self, _name: &str, _rows: &RecordBatch) -> Result<bool> {
        Ok(false)
    }

    /// The operator's state, for a checkpoint (taken between batches). Taking it changes
    /// nothing the operator produces later. Stateless operators keep nothing.
    fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::empty())
    }

    /// What the operator holds between batches (the console shows it); stateless operators
    /// hold nothing.
    fn held(&self) -> Held {
        Held::default()
    }

    /// Puts back a state taken by [`Operator::snapshot`] of an operator built from the same
    /// spec, into one just built.
    fn restore(&mut self, _state: &Snapshot) -> Result<()> {
        Ok(())
    }
}

/// Runs `ops` in order over one input batch: the output of each is the input of the next.
pub fn push_through(
    ops: &mut [Box<dyn Operator>],
    batch: RecordBatch,
    errors: &mut Vec<crate::error_stream::ErrorRow>,
) -> Result<Vec<RecordBatch>> {
    let mut current = vec![batch];
    for op in ops.iter_mut() {
        let mut out = Emit::default();
        for b in current {
            if b.num_rows() > 0 {
                op.push(b, &mut out)?;
            }
        }
        errors.append(&mut out.errors);
        current = out.batches;
        if current.is_empty() {
            break;
        }
    }
    Ok(current)
}

/// Raises the ROWTIME bound of `ops`: each stage first advances, and what it emits flows on.
pub fn advance_through(
    ops: &mut [Box<dyn Operator>],
    bound: i64,
    errors: &mut Vec<ErrorRow>,
) -> Result<Vec<RecordBatch>> {
    Ok(advance_with_bound(ops, vec![], bound, errors)?.0)
}

/// [`advance_through`] after pushing `carried` into the first stage, also returning the bound
/// of the last stage's output.
pub fn advance_with_bound(
    ops: &mut [Box<dyn Operator>],
    mut carried: Vec<RecordBatch>,
    mut bound: i64,
    errors: &mut Vec<ErrorRow>,
) -> Result<(Vec<RecordBatch>, i64)> {
    for op in ops.iter_mut() {
        let mut out = Emit::default();
        for b in carried {
            if b.num_rows() > 0 {
                op.push(b, &mut out)?;
            }
        }
        op.advance(bound, &mut out)?;
        errors.append(&mut out.errors);
        carried = out.batches;
        bound = op.output_bound(bound);
    }
    Ok((carried, bound))
}
