//! `WHERE` and `HAVING`: keep the rows whose predicate is TRUE (NULL and FALSE drop the row).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::{concat, filter_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{Emit, Operator, evaluate_or_isolate};
use crate::error::Result;

/// Plan node: a row filter.
#[derive(Debug, Clone)]
pub struct FilterSpec {
    pub predicate: Arc<dyn PhysicalExpr>,
    /// The predicate as written (after planning), for `explain`.
    pub display: String,
    /// Number of visible input columns.
    pub visible: usize,
    pub pump: String,
}

impl fmt::Display for FilterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter {}", self.display)
    }
}

/// Running filter (stateless).
pub struct Filter {
    spec: Arc<FilterSpec>,
}

impl Filter {
    pub fn new(spec: Arc<FilterSpec>) -> Filter {
        Filter { spec }
    }
}

/// The predicate's value for every row of `batch`.
fn mask(predicate: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<BooleanArray> {
    let value = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
    Ok(value.as_boolean().clone())
}

impl Operator for Filter {
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let spec = &self.spec;
        let evaluated = evaluate_or_isolate(
            &batch,
            spec.visible,
            &spec.pump,
            out,
            |b| mask(&spec.predicate, b),
            |parts| {
                let arrays: Vec<&dyn Array> = parts.iter().map(|a| a as &dyn Array).collect();
                Ok(concat(&arrays)?.as_boolean().clone())
            },
        )?;
        if let Some((mask, rows)) = evaluated {
            let kept = filter_record_batch(&rows, &mask)?;
            if kept.num_rows() > 0 {
                out.batches.push(kept);
            }
        }
        Ok(())
    }

    fn advance(&mut self, _bound: i64, _out: &mut Emit) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::logical_expr::Operator as Op;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
    use datafusion::scalar::ScalarValue;

    use super::*;
    use crate::exec::test_util::{batch, table};

    fn spec(predicate: Arc<dyn PhysicalExpr>) -> Arc<FilterSpec> {
        Arc::new(FilterSpec {
            predicate,
            display: "test".into(),
            visible: 1,
            pump: "P".into(),
        })
    }

    #[test]
    fn keeps_true_rows_and_drops_null_and_false() {
        let pred = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("A", 0)),
            Op::Gt,
            Arc::new(Literal::new(ScalarValue::Int32(Some(1)))),
        ));
        let mut f = Filter::new(spec(pred));
        let mut out = Emit::default();
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(3)]));
        f.push(batch(vec![("A", a)], &[10, 20, 30, 40]), &mut out)
            .unwrap();
        let t = table(&out.batches);
        assert!(t.contains("| 2 | 1970-01-01T00:00:00.020"), "{t}");
        assert!(t.contains("| 3 | 1970-01-01T00:00:00.040"), "{t}");
        assert_eq!(out.batches[0].num_rows(), 2);
        assert!(out.errors.is_empty());
    }

    #[test]
    fn a_row_that_fails_goes_to_error_stream_and_the_others_go_on() {
        // 10 / A > 1: A = 0 divides by zero.
        let div = Arc::new(BinaryExpr::new(
            Arc::new(Literal::new(ScalarValue::Int32(Some(10)))),
            Op::Divide,
            Arc::new(Column::new("A", 0)),
        ));
        let pred = Arc::new(BinaryExpr::new(
            div,
            Op::Gt,
            Arc::new(Literal::new(ScalarValue::Int32(Some(1)))),
        ));
        let mut f = Filter::new(spec(pred));
        let mut out = Emit::default();
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 0, 2, 20]));
        f.push(batch(vec![("A", a)], &[1, 2, 3, 4]), &mut out)
            .unwrap();
        assert_eq!(out.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(out.errors.len(), 1);
        let e = &out.errors[0];
        assert!(
            e.message.to_lowercase().contains("divide by zero"),
            "{}",
            e.message
        );
        assert_eq!(e.data_rowtime, Some(2));
        assert_eq!(String::from_utf8(e.data_row.clone()).unwrap(), r#"{"A":0}"#);
        assert_eq!(e.pump.as_deref(), Some("P"));
    }
}
