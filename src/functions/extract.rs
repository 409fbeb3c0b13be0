//! `EXTRACT(SECOND FROM …)` as KDA gives it, with the milliseconds (KDA SQL reference
//! `sql-reference-extract.html`: DECIMAL(5,3)); the other fields are DataFusion's `date_part`.
//! The planner's syntax rewrite (`functions/mod.rs`) turns it into [`ExtractSecond`].

/// `kda_extract_second(t)`: `EXTRACT(SECOND FROM t)` of a TIMESTAMP or TIME as KDA gives it, the
/// seconds with their milliseconds as a DECIMAL(5,3) (41.337).
pub struct ExtractSecond;

impl ExtractSecond {
    pub const NAME: &str = "kda_extract_second";

    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        crate::functions::KdaScalar::udf(
            ExtractSecond::NAME,
            datafusion::logical_expr::Signature::any(
                1,
                datafusion::logical_expr::Volatility::Immutable,
            ),
            datafusion::arrow::datatypes::DataType::Decimal128(5, 3),
            ExtractSecond::invoke,
        )
    }

    fn invoke(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{AsArray, Decimal128Array};
        use datafusion::arrow::datatypes::{
            DataType, Time32MillisecondType, TimeUnit, TimestampMillisecondType,
        };
        let value = args.args[0].to_array(args.number_rows)?;
        // Milliseconds within the minute.
        let millis: Vec<Option<i128>> = match value.data_type() {
            DataType::Time32(_) | DataType::Time64(_) => {
                let t = datafusion::arrow::compute::cast(
                    &value,
                    &DataType::Time32(TimeUnit::Millisecond),
                )?;
                t.as_primitive::<Time32MillisecondType>()
                    .iter()
                    .map(|v| v.map(|v| i128::from(v.rem_euclid(60_000))))
                    .collect()
            }
            _ => {
                let t = datafusion::arrow::compute::cast(
                    &value,
                    &DataType::Timestamp(TimeUnit::Millisecond, None),
                )
                .map_err(|_| {
                    datafusion::error::DataFusionError::Plan(format!(
                        "EXTRACT(SECOND FROM …) needs a TIMESTAMP or TIME, not {}",
                        value.data_type()
                    ))
                })?;
                t.as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .map(|v| v.map(|v| i128::from(v.rem_euclid(60_000))))
                    .collect()
            }
        };
        let out = Decimal128Array::from(millis).with_precision_and_scale(5, 3)?;
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(out),
        ))
    }
}
