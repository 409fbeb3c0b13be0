//! `GROUP_RANK` (SQLREF sql-reference-group-rank-udx.html): "applies a RANK() function to logical
//! groups of rows and optionally delivers the group in sorted order". It "gathers rows until
//! either a rowtime change is detected or a specified idle-time limit is exceeded", ranks them by
//! one column (`sortOrder` 'asc' or 'desc'), and outputs them ordered by rank (`outputOrder`), at
//! most `outputMax` of them per group (0: all).
//!
//! A group is the rows of one ROWTIME; it is released once the ROWTIME bound has passed it (in
//! live mode the clock moves the bound about every 100 ms, so `maxIdle` changes nothing about
//! which rows form a group, and is not used). The rank is SQL's `RANK()`: rows with equal values
//! share a rank and the next rank skips (1, 1, 3); NULL ranks after every value ascending and
//! before them descending. Rows of one rank keep their arrival order; `outputMax` keeps the first
//! rows of the output order. Each row keeps its ROWTIME.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use super::{Emit, Operator};
use crate::catalog::rowtime;
use crate::error::Result;
use crate::state::Snapshot;

/// Plan node: GROUP_RANK over its input's columns.
#[derive(Debug)]
pub struct GroupRankSpec {
    /// The column ranked by, and the column the rank goes in.
    pub rank_by: usize,
    pub rank_out: usize,
    /// `sortOrder` and `outputOrder` are 'desc'.
    pub sort_desc: bool,
    pub output_desc: bool,
    /// `outputMax`: rows out per group, 0 for all.
    pub output_max: usize,
    /// `maxIdle` as given (not used: see the module doc).
    pub max_idle: u64,
    /// Each input batch holds all the rows of its ROWTIMEs (a tumbling window's output): a group
    /// is released at the end of its batch.
    pub whole_batches: bool,
    /// Input and output: the visible columns, then ROWTIME.
    pub schema: SchemaRef,
}

impl fmt::Display for GroupRankSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = |desc: bool| if desc { "desc" } else { "asc" };
        write!(
            f,
            "group rank of each ROWTIME's rows by {} {} into {}, output {}",
            self.schema.field(self.rank_by).name(),
            order(self.sort_desc),
            self.schema.field(self.rank_out).name(),
            order(self.output_desc)
        )?;
        if self.output_max > 0 {
            write!(f, ", at most {} rows", self.output_max)?;
        }
        Ok(())
    }
}

pub struct GroupRank {
    spec: Arc<GroupRankSpec>,
    /// The rows of the open ROWTIME.
    open: Vec<RecordBatch>,
    at: i64,
    converter: RowConverter,
}

impl GroupRank {
    pub fn new(spec: Arc<GroupRankSpec>) -> Result<GroupRank> {
        let converter = RowConverter::new(vec![SortField::new_with_options(
            spec.schema.field(spec.rank_by).data_type().clone(),
            SortOptions {
                descending: spec.sort_desc,
                nulls_first: spec.sort_desc,
            },
        )])?;
        Ok(GroupRank {
            spec,
            open: Vec::new(),
            at: i64::MIN,
            converter,
        })
    }

    /// Ranks, orders and cuts the open group, and emits it.
    fn release(&mut self, out: &mut Emit) -> Result<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(&self.spec.schema, &std::mem::take(&mut self.open))?;
        let n = batch.num_rows();
        let values = Arc::clone(batch.column(self.spec.rank_by));
        let arrival: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..n as u32));
        // Ranking order: by the value, ties in arrival order.
        let order = lexsort_to_indices(
            &[
                SortColumn {
                    values: Arc::clone(&values),
                    options: Some(SortOptions {
                        descending: self.spec.sort_desc,
                        nulls_first: self.spec.sort_desc,
                    }),
                },
                SortColumn {
                    values: Arc::clone(&arrival),
                    options: None,
                },
            ],
            None,
        )?;
        // RANK(): a row's rank is one more than the rows before it with another value.
        let rows = self.converter.convert_columns(&[values])?;
        let mut ranks = vec![0i32; n];
        for (position, i) in order.values().iter().enumerate() {
            let i = *i as usize;
            ranks[i] = match position {
                0 => 1,
                _ => {
                    let before = order.value(position - 1) as usize;
                    if rows.row(before) == rows.row(i) {
                        ranks[before]
                    } else {
                        position as i32 + 1
                    }
                }
            };
        }
        let rank: ArrayRef = Arc::new(Int32Array::from(ranks));
        // Output order: by rank, ties in arrival order.
        let output = lexsort_to_indices(
            &[
                SortColumn {
                    values: Arc::clone(&rank),
                    options: Some(SortOptions {
                        descending: self.spec.output_desc,
                        nulls_first: false,
                    }),
                },
                SortColumn {
                    values: arrival,
                    options: None,
                },
            ],
            None,
        )?;
        let keep = match self.spec.output_max {
            0 => n,
            max => max.min(n),
        };
        let output = output.slice(0, keep);
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[self.spec.rank_out] = rank;
        let columns = columns
            .iter()
            .map(|c| take(c.as_ref(), &output, None))
            .collect::<Result<Vec<_>, _>>()?;
        out.batches.push(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?);
        Ok(())
    }
}

impl Operator for GroupRank {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: usize::from(!self.open.is_empty()),
            rows: self.open.iter().map(RecordBatch::num_rows).sum(),
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let times = rowtime(&batch).clone();
        let n = batch.num_rows();
        let mut from = 0;
        while from < n {
            let t = times.value(from);
            let mut to = from + 1;
            while to < n && times.value(to) == t {
                to += 1;
            }
            if t != self.at {
                self.release(out)?;
                self.at = t;
            }
            self.open.push(batch.slice(from, to - from));
            from = to;
        }
        if self.spec.whole_batches {
            self.release(out)?;
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        if bound > self.at {
            self.release(out)?;
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let rows = if self.open.is_empty() {
            Vec::new()
        } else {
            vec![concat_batches(&self.spec.schema, &self.open)?]
        };
        Ok(Snapshot {
            meta: serde_json::json!({ "at": self.at }),
            batches: rows,
        })
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.at = state.field("at")?;
        self.open = state.batches.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::exec::test_util::{rows, straight_and_resumed};
    use crate::types::SqlType;

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        let columns = [("K", SqlType::Varchar(Some(4))), ("N", SqlType::Integer)];
        let input = rows(
            &columns,
            "ROWTIME             | K | N
             2020-01-01 00:00:01 | a | 3
             2020-01-01 00:00:01 | b | 1
             2020-01-01 00:00:01 | c | 3
             2020-01-01 00:00:02 | d | NULL
             2020-01-01 00:00:02 | e | 7
             2020-01-01 00:00:03 | f | 0",
        );
        let code = "CREATE STREAM OUT (K VARCHAR(4), N INTEGER, R INTEGER);
                    CREATE PUMP P AS INSERT INTO OUT SELECT STREAM * FROM TABLE(GROUP_RANK(
                      CURSOR(SELECT STREAM * FROM S), 'N', 'R', 'asc', 'asc', 0, 0));";
        for cut in 0..=input.num_rows() {
            let (straight, resumed) = straight_and_resumed(code, &columns, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
        let (straight, _) = straight_and_resumed(code, &columns, &[], &input, 0);
        // 1 (b), then the two 3s share rank 2 (a before c, as they arrived); NULL after 7.
        let ranked: Vec<String> = straight
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| K"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                format!("{}{}", cells[1], cells[3])
            })
            .collect();
        assert_eq!(ranked, ["b1", "a2", "c2", "e1", "d2", "f1"], "{straight}");
    }
}
