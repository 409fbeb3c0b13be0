//! Streaming `ORDER BY` (SQLREF sql-reference-order-by-clause.html): allowed when its leading
//! expression is monotonic (`ORDER BY FLOOR(s.ROWTIME TO SECOND), ANOMALY_SCORE DESC`); it
//! "collects rows until the monotonic expression in the streaming ORDER BY clause does not
//! change", then releases them sorted by the other expressions.
//!
//! A group is the rows of one value of the leading expression (`monotonic.rs`): for a window of
//! ROWTIME, it is released once the ROWTIME bound has passed the window, and its rows all get the
//! window's end as ROWTIME (so that the sorted stream still goes forward in time; for `ORDER BY
//! ROWTIME, …` that is each row's own ROWTIME); for `MONOTONIC(x)`, when another value arrives or
//! the input ends, with the ROWTIME of its last row. Rows that sort equal keep their arrival order.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::monotonic::{MonotonicKey, Span};
use super::{Emit, Operator, evaluate};
use crate::catalog::rowtime;
use crate::error::{Error, Result};
use crate::state::Snapshot;

/// Plan node: a streaming ORDER BY.
#[derive(Debug)]
pub struct OrderBySpec {
    /// How rows fall into the groups released together (the leading expression).
    pub group: MonotonicKey,
    /// A declared leading expression (`MONOTONIC(x)`), whose values tell its groups apart.
    pub declared: Option<Arc<dyn PhysicalExpr>>,
    /// The other expressions, in order, and their directions.
    pub keys: Vec<(Arc<dyn PhysicalExpr>, SortOptions)>,
    /// Each input batch holds all the rows of its groups (the output of a tumbling window,
    /// which emits a window's rows at once): a group is released at the end of its batch.
    pub whole_batches: bool,
    /// Input and output: the visible columns, then ROWTIME.
    pub schema: SchemaRef,
    pub display: String,
}

impl fmt::Display for OrderBySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "order by {} within groups of {}",
            self.display, self.group
        )
    }
}

/// The group being gathered.
struct Group {
    /// Its ROWTIMEs (for a declared key, those of its rows so far).
    span: Span,
    /// A declared key's value.
    value: Option<OwnedRow>,
    rows: Vec<RecordBatch>,
}

pub struct OrderBy {
    spec: Arc<OrderBySpec>,
    declared: Option<RowConverter>,
    open: Option<Group>,
}

impl OrderBy {
    pub fn new(spec: Arc<OrderBySpec>) -> Result<OrderBy> {
        let declared = match &spec.declared {
            Some(e) => Some(RowConverter::new(vec![SortField::new(
                e.data_type(&spec.schema)?,
            )])?),
            None => None,
        };
        Ok(OrderBy {
            spec,
            declared,
            open: None,
        })
    }

    /// Releases the open group: sorted, stamped with its ROWTIME.
    fn release(&mut self, out: &mut Emit) -> Result<()> {
        let Some(group) = self.open.take() else {
            return Ok(());
        };
        let batch = concat_batches(&self.spec.schema, &group.rows)?;
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let values = evaluate(
            &self
                .spec
                .keys
                .iter()
                .map(|(e, _)| Arc::clone(e))
                .collect::<Vec<_>>(),
            &batch,
        )?;
        let mut sort: Vec<SortColumn> = values
            .into_iter()
            .zip(&self.spec.keys)
            .map(|(values, (_, options))| SortColumn {
                values,
                options: Some(*options),
            })
            .collect();
        // Arrival order breaks ties, so equal rows keep it.
        sort.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..n as u32)),
            options: None,
        });
        let indices = lexsort_to_indices(&sort, None)?;
        let stamp = match self.spec.group {
            MonotonicKey::Rowtime(steps) => steps.stamp(&group.span),
            MonotonicKey::Declared => group.span.last,
        };
        let mut columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<Result<_, _>>()?;
        *columns.last_mut().expect("a ROWTIME column") =
            Arc::new(TimestampMillisecondArray::from_value(stamp, n));
        out.batches.push(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?);
        Ok(())
    }

    /// Adds rows `from..to` (one group's) to the open group, releasing the open one first if
    /// they are another's.
    fn gather(
        &mut self,
        batch: &RecordBatch,
        from: usize,
        to: usize,
        span: Span,
        value: Option<OwnedRow>,
        out: &mut Emit,
    ) -> Result<()> {
        let same = self.open.as_ref().is_some_and(|g| match &value {
            Some(v) => g.value.as_ref() == Some(v),
            None => g.span == span,
        });
        if !same {
            self.release(out)?;
            self.open = Some(Group {
                span,
                value,
                rows: Vec::new(),
            });
        }
        let group = self.open.as_mut().expect("a group is open");
        if same && group.value.is_some() {
            group.span.last = span.last;
        }
        group.rows.push(batch.slice(from, to - from));
        Ok(())
    }
}

impl Operator for OrderBy {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: usize::from(self.open.is_some()),
            rows: self
                .open
                .as_ref()
                .map_or(0, |g| g.rows.iter().map(RecordBatch::num_rows).sum()),
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let times = rowtime(&batch).clone();
        let mut from = 0;
        match (self.spec.group, &self.spec.declared, &self.declared) {
            (MonotonicKey::Rowtime(steps), _, _) => {
                while from < n {
                    let t = times.value(from);
                    let span = match &self.open {
                        Some(g) if g.span.contains(t) => g.span,
                        _ => steps.span(t),
                    };
                    let mut to = from + 1;
                    while to < n && times.value(to) <= span.last {
                        to += 1;
                    }
                    self.gather(&batch, from, to, span, None, out)?;
                    from = to;
                }
            }
            (MonotonicKey::Declared, Some(expr), Some(converter)) => {
                let values = expr.evaluate(&batch)?.into_array(n)?;
                let rows = converter.convert_columns(&[values])?;
                while from < n {
                    let mut to = from + 1;
                    while to < n && rows.row(to) == rows.row(from) {
                        to += 1;
                    }
                    let span = Span {
                        first: times.value(from),
                        last: times.value(to - 1),
                    };
                    self.gather(&batch, from, to, span, Some(rows.row(from).owned()), out)?;
                    from = to;
                }
            }
            _ => {
                return Err(Error::Application(
                    "internal error: a declared ORDER BY key without its expression".into(),
                ));
            }
        }
        if self.spec.whole_batches {
            self.release(out)?;
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        let complete = self.open.as_ref().is_some_and(|g| match self.spec.group {
            MonotonicKey::Rowtime(_) => g.span.complete_at(bound),
            // Only another value, or the end of the input, ends a declared key's group.
            MonotonicKey::Declared => bound == i64::MAX,
        });
        if complete {
            self.release(out)?;
        }
        Ok(())
    }

    fn output_bound(&self, input_bound: i64) -> i64 {
        match (&self.spec.group, &self.open) {
            // The open group comes out with the ROWTIME of its last row.
            (MonotonicKey::Declared, Some(g)) => input_bound.min(g.span.last),
            _ => input_bound,
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let Some(group) = &self.open else {
            return Ok(Snapshot::of(serde_json::json!({ "open": null })));
        };
        let value = group
            .value
            .as_ref()
            .map(|v| crate::format::hex(v.row().as_ref()));
        let rows = concat_batches(&self.spec.schema, &group.rows)?;
        Ok(Snapshot {
            meta: serde_json::json!({
                "open": [group.span.first, group.span.last],
                "value": value,
            }),
            batches: vec![rows],
        })
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        let open: Option<[i64; 2]> = state.field("open")?;
        let Some([first, last]) = open else {
            self.open = None;
            return Ok(());
        };
        let value: Option<String> = state.field("value")?;
        let value = match (value, &self.declared) {
            (Some(text), Some(converter)) => {
                let bytes = crate::format::unhex(&text).ok_or_else(|| {
                    Error::Application("checkpoint: an ORDER BY key is not hex".into())
                })?;
                Some(converter.parser().parse(&bytes).owned())
            }
            _ => None,
        };
        self.open = Some(Group {
            span: Span { first, last },
            value,
            rows: state.batches.clone(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::exec::test_util::{rows, straight_and_resumed};
    use crate::types::SqlType;

    const COLUMNS: &[(&str, SqlType)] =
        &[("K", SqlType::Varchar(Some(4))), ("N", SqlType::Integer)];

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        let input = rows(
            COLUMNS,
            "ROWTIME                 | K | N
             2020-01-01 00:00:01     | a | 3
             2020-01-01 00:00:01.500 | b | 1
             2020-01-01 00:00:02     | a | 2
             2020-01-01 00:00:02     | a | NULL
             2020-01-01 00:00:03.100 | c | 5
             2020-01-01 00:00:03.200 | c | 4
             2020-01-01 00:00:09     | d | 0",
        );
        for code in [
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM S ORDER BY FLOOR(S.ROWTIME TO SECOND), N DESC;",
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM S ORDER BY MONOTONIC(K), N;",
        ] {
            for cut in 0..=input.num_rows() {
                let (straight, resumed) = straight_and_resumed(code, COLUMNS, &[], &input, cut);
                assert_eq!(resumed, straight, "{code}: cut at row {cut}");
            }
        }
        let (straight, _) = straight_and_resumed(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM S ORDER BY FLOOR(S.ROWTIME TO SECOND), N DESC;",
            COLUMNS,
            &[],
            &input,
            0,
        );
        // Second 1 (a 3, b 1) out at 00:00:02, sorted by N descending.
        assert!(
            straight.contains("| a | 3 | 2020-01-01T00:00:02 | 2020-01-01T00:00:02 |\n| b | 1 |"),
            "{straight}"
        );
    }
}
