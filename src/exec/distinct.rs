//! `SELECT STREAM DISTINCT …`: a row passes the first time its values appear among the rows of
//! the same ROWTIME. Rows of a stream are ordered by ROWTIME, so the rows seen are forgotten as
//! soon as ROWTIME moves on: the state is one ROWTIME's distinct rows. (KDA asks for a monotonic
//! expression, usually ROWTIME, among the selected columns, which makes rows of different
//! ROWTIMEs distinct anyway.)

use std::collections::HashSet;
use std::fmt;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};

use super::{Emit, Operator};
use crate::catalog::rowtime;
use crate::error::Result;
use crate::state::Snapshot;

/// Plan node: keep the first of equal rows.
#[derive(Debug)]
pub struct DistinctSpec {
    /// The visible columns compared (all of them) and the trailing ROWTIME.
    pub schema: SchemaRef,
}

impl fmt::Display for DistinctSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "distinct rows of each ROWTIME")
    }
}

pub struct Distinct {
    converter: RowConverter,
    /// The visible columns.
    visible: usize,
    /// The ROWTIME of the rows in `seen`.
    current: i64,
    seen: HashSet<OwnedRow>,
}

impl Distinct {
    pub fn new(spec: &DistinctSpec) -> Result<Distinct> {
        let visible = spec.schema.fields().len() - 1;
        let fields = spec.schema.fields()[..visible]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Distinct {
            converter: RowConverter::new(fields)?,
            visible,
            current: i64::MIN,
            seen: HashSet::new(),
        })
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
        let rows = self
            .converter
            .convert_columns(&batch.columns()[..self.visible])?;
        let times = rowtime(&batch);
        let mut keep = Vec::with_capacity(batch.num_rows());
        for (i, row) in rows.iter().enumerate() {
            let t = times.value(i);
            if t != self.current {
                self.current = t;
                self.seen.clear();
            }
            keep.push(self.seen.insert(row.owned()));
        }
        let kept = filter_record_batch(&batch, &BooleanArray::from(keep))?;
        if kept.num_rows() > 0 {
            out.batches.push(kept);
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|r| crate::format::hex(r.row().as_ref()))
            .collect();
        Ok(Snapshot::of(
            serde_json::json!({ "current": self.current, "seen": seen }),
        ))
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.current = state.field("current")?;
        let seen: Vec<String> = state.field("seen")?;
        let parser = self.converter.parser();
        for text in seen {
            let bytes = unhex(&text).ok_or_else(|| {
                crate::error::Error::Application("checkpoint: a DISTINCT row is not hex".into())
            })?;
            self.seen.insert(parser.parse(&bytes).owned());
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, _out: &mut Emit) -> Result<()> {
        // No later row can share the ROWTIME of the rows seen.
        if bound > self.current {
            self.seen.clear();
        }
        Ok(())
    }
}

/// The bytes of a lower-case hex text.
fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};

    use super::*;
    use crate::exec::test_util::{batch, table};

    #[test]
    fn keeps_the_first_of_equal_rows_of_one_rowtime() {
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
            &[10, 10, 10, 10, 20, 20],
        );
        let spec = DistinctSpec {
            schema: input.schema(),
        };
        let mut op = Distinct::new(&spec).unwrap();
        let mut out = Emit::default();
        op.push(input.slice(0, 3), &mut out).unwrap();
        // A batch boundary inside one ROWTIME: the rows seen are remembered.
        op.push(input.slice(3, 3), &mut out).unwrap();
        let expected = "\
+---+---+-------------------------+
| T | N | ROWTIME                 |
+---+---+-------------------------+
| a | 1 | 1970-01-01T00:00:00.010 |
|   | 2 | 1970-01-01T00:00:00.010 |
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
        let code = "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
                    CREATE PUMP P AS INSERT INTO OUT SELECT STREAM DISTINCT K, N FROM S;";
        let input = rows(
            &columns,
            "ROWTIME             | K | N
             2020-01-01 00:00:01 | a | 1
             2020-01-01 00:00:01 | a | 1
             2020-01-01 00:00:01 | b | NULL
             2020-01-01 00:00:01 | b | NULL
             2020-01-01 00:00:02 | a | 1
             2020-01-01 00:00:02 | a | 1",
        );
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, &columns, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
    }
}
