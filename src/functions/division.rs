//! Division by zero is an error in KDA for every numeric type: the row goes to error_stream
//! (EX-45, EX-46). DataFusion already fails on integer and decimal division by zero; for
//! approximate numbers (REAL, DOUBLE) it returns ±Infinity or NaN. [`checked_division`] guards
//! the divisor of every approximate `/` and `%` with [`NonZero`], which fails on a zero.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::BinaryExpr;

/// Passes its child's values through, failing if any (non-null) value is zero.
#[derive(Debug, Eq)]
pub struct NonZero {
    divisor: Arc<dyn PhysicalExpr>,
}

impl PartialEq for NonZero {
    fn eq(&self, other: &Self) -> bool {
        self.divisor.eq(&other.divisor)
    }
}

impl Hash for NonZero {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.divisor.hash(state);
    }
}

impl fmt::Display for NonZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.divisor)
    }
}

fn has_zero(array: &dyn Array) -> bool {
    match array.data_type() {
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .any(|v| v == 0.0),
        DataType::Float32 => array
            .as_primitive::<Float32Type>()
            .iter()
            .flatten()
            .any(|v| v == 0.0),
        _ => false,
    }
}

impl PhysicalExpr for NonZero {
    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.divisor.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.divisor.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let value = self.divisor.evaluate(batch)?;
        let zero = match &value {
            ColumnarValue::Array(a) => has_zero(a.as_ref()),
            ColumnarValue::Scalar(s) => !s.is_null() && has_zero(s.to_array()?.as_ref()),
        };
        if zero {
            return Err(DataFusionError::ArrowError(
                Box::new(datafusion::arrow::error::ArrowError::DivideByZero),
                None,
            ));
        }
        Ok(value)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.divisor]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(NonZero {
            divisor: Arc::clone(&children[0]),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.divisor.fmt_sql(f)
    }
}

/// Guards the divisor of every `/` and `%` on approximate numbers in `expr`.
pub fn checked_division(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    Ok(expr
        .transform_up(|e| {
            let Some(b) = e.downcast_ref::<BinaryExpr>() else {
                return Ok(Transformed::no(e));
            };
            if !matches!(b.op(), Operator::Divide | Operator::Modulo)
                || !matches!(
                    b.right().data_type(schema)?,
                    DataType::Float32 | DataType::Float64
                )
            {
                return Ok(Transformed::no(e));
            }
            let guarded: Arc<dyn PhysicalExpr> = Arc::new(NonZero {
                divisor: Arc::clone(b.right()),
            });
            Ok(Transformed::yes(
                Arc::new(BinaryExpr::new(Arc::clone(b.left()), *b.op(), guarded))
                    as Arc<dyn PhysicalExpr>,
            ))
        })?
        .data)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array};

    use crate::exec::test_util::{batch, pump, run, table};
    use crate::types::SqlType;

    use super::*;

    #[test]
    fn ex46_double_division_by_zero_goes_to_error_stream() {
        // EX-46: WHERE (ABS(Change / (Price - Change)) * 100) > 1; XYZ has Price - Change = 0.
        let mut ops = pump(
            "CREATE STREAM OUT (T VARCHAR(4), CHANGE DOUBLE, PRICE DOUBLE);
             CREATE PUMP STREAM_PUMP AS INSERT INTO OUT
             SELECT STREAM T, CHANGE, PRICE FROM S WHERE (ABS(CHANGE / (PRICE - CHANGE)) * 100) > 1;",
            &[("T", SqlType::Varchar(Some(4))), ("CHANGE", SqlType::Double), ("PRICE", SqlType::Double)],
            &[],
        )
        .unwrap();
        let input = batch(
            vec![
                (
                    "T",
                    Arc::new(datafusion::arrow::array::StringArray::from(vec![
                        "AMZN", "QXZ", "XYZ",
                    ])) as ArrayRef,
                ),
                (
                    "CHANGE",
                    Arc::new(Float64Array::from(vec![-0.95, 2.0, 1.0])) as ArrayRef,
                ),
                (
                    "PRICE",
                    Arc::new(Float64Array::from(vec![815.43, 62.0, 1.0])) as ArrayRef,
                ),
            ],
            &[1, 2, 3],
        );
        let (out, errors) = run(&mut ops, input, 3);
        let expected = "\
+-----+--------+-------+-------------------------+
| T   | CHANGE | PRICE | ROWTIME                 |
+-----+--------+-------+-------------------------+
| QXZ | 2.0    | 62.0  | 1970-01-01T00:00:00.002 |
+-----+--------+-------+-------------------------+";
        assert_eq!(table(&out), expected);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("Divide by zero"),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[0].pump.as_deref(), Some("STREAM_PUMP"));
        assert_eq!(
            String::from_utf8(errors[0].data_row.clone()).unwrap(),
            r#"{"T":"XYZ","CHANGE":1.0,"PRICE":1.0}"#
        );
    }

    #[test]
    fn integer_division_by_zero_also_goes_to_error_stream() {
        let mut ops = pump(
            "CREATE STREAM OUT (Q INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM 100 / N FROM S;",
            &[("N", SqlType::Integer)],
            &[],
        )
        .unwrap();
        let input = batch(
            vec![("N", Arc::new(Int32Array::from(vec![3, 0, -7])) as ArrayRef)],
            &[1, 2, 3],
        );
        let (out, errors) = run(&mut ops, input, 3);
        assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].data_rowtime, Some(2));
    }
}
