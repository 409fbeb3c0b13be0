//! `SELECT STREAM DISTINCT …` (SQLREF sql-reference-select-all-distinct.html): a row passes the
//! first time its values appear, at once ("emits rows for SELECT DISTINCT as soon as they are
//! ready"), with its own ROWTIME; NULL equals NULL. An unqualified `ROWTIME` among the columns is
//! "ignored for the purposes of duplicate-elimination".
//!
//! KDA asks for a monotonic expression among the columns, such as `FLOOR(s.ROWTIME TO MINUTE)`:
//! rows with different values of it are never equal, so the rows seen are forgotten when it moves
//! on (for a step function of ROWTIME, once the ROWTIME bound has passed its window; for a
//! `MONOTONIC(x)` column, when another value arrives). The state is the distinct rows of one value
//! of that expression. Without such a column among those compared (only the ignored ROWTIME),
//! every distinct row is kept for the whole run.

use std::collections::HashSet;
use std::fmt;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};

use super::monotonic::{MonotonicKey, Span};
use super::{Emit, Operator};
use crate::catalog::rowtime;
use crate::error::{Error, Result};
use crate::state::Snapshot;

/// Plan node: keep the first of equal rows.
#[derive(Debug)]
pub struct DistinctSpec {
    /// The visible columns and the trailing ROWTIME.
    pub schema: SchemaRef,
    /// The columns compared (the unqualified ROWTIME left out).
    pub compared: Vec<usize>,
    /// The monotonic column among them whose moving on forgets the rows seen, and how it moves.
    pub forget_by: Option<(usize, MonotonicKey)>,
}

impl fmt::Display for DistinctSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .compared
            .iter()
            .map(|i| self.schema.field(*i).name().as_str())
            .collect();
        write!(f, "distinct rows of [{}]", names.join(", "))?;
        match &self.forget_by {
            Some((i, key)) => write!(
                f,
                ", forgotten as {} moves on ({key})",
                self.schema.field(*i).name()
            ),
            None => write!(f, ", all kept"),
        }
    }
}

/// What the rows seen have in common: the group of the monotonic column they belong to.
#[derive(Debug, Clone, PartialEq)]
enum Current {
    None,
    Window(Span),
    Value(OwnedRow),
}

pub struct Distinct {
    converter: RowConverter,
    compared: Vec<usize>,
    forget_by: Option<(usize, MonotonicKey)>,
    /// A declared key's values as comparable rows.
    declared: Option<RowConverter>,
    current: Current,
    seen: HashSet<OwnedRow>,
}

impl Distinct {
    pub fn new(spec: &DistinctSpec) -> Result<Distinct> {
        let fields = spec
            .compared
            .iter()
            .map(|i| SortField::new(spec.schema.field(*i).data_type().clone()))
            .collect();
        let declared = match spec.forget_by {
            Some((i, MonotonicKey::Declared)) => Some(RowConverter::new(vec![SortField::new(
                spec.schema.field(i).data_type().clone(),
            )])?),
            _ => None,
        };
        Ok(Distinct {
            converter: RowConverter::new(fields)?,
            compared: spec.compared.clone(),
            forget_by: spec.forget_by,
            declared,
            current: Current::None,
            seen: HashSet::new(),
        })
    }

    /// Forgets the rows seen unless row `i` belongs with them.
    fn move_on(&mut self, i: usize, t: i64, values: Option<&datafusion::arrow::row::Rows>) {
        let next = match (&self.forget_by, values) {
            (Some((_, MonotonicKey::Rowtime(steps))), _) => match &self.current {
                Current::Window(span) if span.contains(t) => return,
                _ => Current::Window(steps.span(t)),
            },
            (Some((_, MonotonicKey::Declared)), Some(values)) => match &self.current {
                Current::Value(v) if v.row() == values.row(i) => return,
                _ => Current::Value(values.row(i).owned()),
            },
            _ => return,
        };
        self.current = next;
        self.seen.clear();
    }
}

impl Operator for Distinct {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: 0,
            rows: self.seen.len(),
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let columns: Vec<_> = self
            .compared
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect();
        let rows = self.converter.convert_columns(&columns)?;
        let values = match (&self.declared, self.forget_by) {
            (Some(converter), Some((i, _))) => {
                Some(converter.convert_columns(&[batch.column(i).clone()])?)
            }
            _ => None,
        };
        let times = rowtime(&batch);
        let mut keep = Vec::with_capacity(batch.num_rows());
        for (i, row) in rows.iter().enumerate() {
            self.move_on(i, times.value(i), values.as_ref());
            keep.push(self.seen.insert(row.owned()));
        }
        let kept = filter_record_batch(&batch, &BooleanArray::from(keep))?;
        if kept.num_rows() > 0 {
            out.batches.push(kept);
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, _out: &mut Emit) -> Result<()> {
        // No later row can fall in the window of the rows seen.
        if let Current::Window(span) = &self.current
            && span.complete_at(bound)
        {
            self.current = Current::None;
            self.seen.clear();
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let hex = |r: &OwnedRow| crate::format::hex(r.row().as_ref());
        let seen: Vec<String> = self.seen.iter().map(hex).collect();
        let current = match &self.current {
            Current::None => serde_json::Value::Null,
            Current::Window(span) => serde_json::json!([span.first, span.last]),
            Current::Value(v) => serde_json::json!(hex(v)),
        };
        Ok(Snapshot::of(
            serde_json::json!({ "current": current, "seen": seen }),
        ))
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        let bytes = |text: &str| {
            crate::format::unhex(text)
                .ok_or_else(|| Error::Application("checkpoint: a DISTINCT row is not hex".into()))
        };
        let current: serde_json::Value = state.field("current")?;
        self.current = match (&current, &self.declared) {
            (serde_json::Value::Array(span), _) => Current::Window(Span {
                first: span[0].as_i64().unwrap_or_default(),
                last: span[1].as_i64().unwrap_or_default(),
            }),
            (serde_json::Value::String(text), Some(converter)) => {
                Current::Value(converter.parser().parse(&bytes(text)?).owned())
            }
            // Written before DISTINCT compared across ROWTIMEs: the ROWTIME of the rows seen.
            (serde_json::Value::Number(t), _) => match (t.as_i64(), self.forget_by) {
                (Some(t), Some((_, MonotonicKey::Rowtime(steps)))) => {
                    Current::Window(steps.span(t))
                }
                _ => Current::None,
            },
            _ => Current::None,
        };
        let seen: Vec<String> = state.field("seen")?;
        let parser = self.converter.parser();
        for text in seen {
            self.seen.insert(parser.parse(&bytes(&text)?).owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};

    use super::*;
    use crate::exec::monotonic::Steps;
    use crate::exec::test_util::{batch, table};

    #[test]
    fn keeps_the_first_of_equal_rows_until_the_window_moves_on() {
        // Windows of ten milliseconds: rows at 10 and 19 share one, 20 starts the next.
        let input = batch(
            vec![
                (
                    "T",
                    Arc::new(StringArray::from(vec![
                        Some("a"),
                        Some("a"),
                        None,
                        None,
                        Some("a"),
                        Some("a"),
                    ])) as ArrayRef,
                ),
                (
                    "N",
                    Arc::new(Int32Array::from(vec![1, 1, 2, 2, 1, 3])) as ArrayRef,
                ),
            ],
            &[10, 10, 19, 19, 20, 20],
        );
        let spec = DistinctSpec {
            schema: input.schema(),
            compared: vec![0, 1],
            forget_by: Some((
                2,
                MonotonicKey::Rowtime(Steps {
                    kind: crate::exec::monotonic::StepKind::Floor(
                        crate::time::WindowWidth::Millis(10),
                    ),
                    shift: 0,
                }),
            )),
        };
        let mut op = Distinct::new(&spec).unwrap();
        let mut out = Emit::default();
        op.push(input.slice(0, 3), &mut out).unwrap();
        // A batch boundary inside one window: the rows seen are remembered.
        op.push(input.slice(3, 3), &mut out).unwrap();
        let expected = "\
+---+---+-------------------------+
| T | N | ROWTIME                 |
+---+---+-------------------------+
| a | 1 | 1970-01-01T00:00:00.010 |
|   | 2 | 1970-01-01T00:00:00.019 |
| a | 1 | 1970-01-01T00:00:00.020 |
| a | 3 | 1970-01-01T00:00:00.020 |
+---+---+-------------------------+";
        assert_eq!(table(&out.batches), expected);
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        use crate::exec::test_util::rows;
        use crate::types::SqlType;
        let columns = [("K", SqlType::Varchar(Some(4))), ("N", SqlType::Integer)];
        let input = rows(
            &columns,
            "ROWTIME             | K | N
             2020-01-01 00:00:01 | a | 1
             2020-01-01 00:00:01 | a | 1
             2020-01-01 00:00:01 | b | NULL
             2020-01-01 00:00:30 | b | NULL
             2020-01-01 00:01:02 | a | 1
             2020-01-01 00:01:02 | a | 1
             2020-01-01 00:01:03 | a | 2",
        );
        for code in [
            "CREATE STREAM OUT (M TIMESTAMP, K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM DISTINCT FLOOR(S.ROWTIME TO MINUTE), K, N FROM S;",
            "CREATE STREAM OUT (N INTEGER, K VARCHAR(4));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM DISTINCT MONOTONIC(N), K FROM S;",
            "CREATE STREAM OUT (K VARCHAR(4));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM DISTINCT ROWTIME, K FROM S;",
        ] {
            for cut in 0..=input.num_rows() {
                let (straight, resumed) =
                    crate::exec::test_util::straight_and_resumed(code, &columns, &[], &input, cut);
                assert_eq!(resumed, straight, "{code}: cut at row {cut}");
            }
        }
    }
}
