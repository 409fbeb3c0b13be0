//! `FLOOR((ts - origin) SECOND / n TO SECOND)`: the N-second window idiom of KDA's templates and
//! AWS's blog posts (`GROUP BY …, FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND /
//! 10 TO SECOND)` groups rows into 10-second windows). `(ts - origin) SECOND` is the interval
//! between the two timestamps, `/ n` divides it, and `FLOOR(… TO unit)` rounds the result down
//! to whole units: the value is the number of the `n`-unit window since `origin`, as an
//! interval of that many units (`INTERVAL '6' SECOND` for 00:01:05 with n = 10).
//!
//! The dialect reads the idiom as a whole (`dialect/windows.rs`) into `floor_elapsed(ts, origin,
//! n, 'UNIT')`; the planner reads that call as a window of `n` units aligned to `origin`
//! (`plan/monotonic.rs`). Other uses of `(ts - ts) unit` are not this function's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Int64Type, IntervalMonthDayNano, TimeUnit, TimestampMillisecondType,
};
use datafusion::common::exec_err;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, Signature, Volatility};

use super::scalar::KdaScalar;

/// The function's name in plans.
pub const NAME: &str = crate::dialect::FLOOR_ELAPSED;

pub struct FloorElapsed;

impl FloorElapsed {
    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        // Timestamps of any unit (a TIMESTAMP literal is in nanoseconds), cast in the body.
        KdaScalar::udf(
            NAME,
            Signature::any(4, Volatility::Immutable),
            DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
            FloorElapsed::body,
        )
    }

    fn body(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
        let (ts, origin) = (cast(&arrays[0], &ms)?, cast(&arrays[1], &ms)?);
        let (count, unit) = (
            cast(&arrays[2], &DataType::Int64)?,
            cast(&arrays[3], &DataType::Utf8)?,
        );
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let origin = origin.as_primitive::<TimestampMillisecondType>();
        let count = count.as_primitive::<Int64Type>();
        let unit = unit.as_string::<i32>();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if ts.is_null(i) || origin.is_null(i) || count.is_null(i) || unit.is_null(i) {
                out.push(None);
                continue;
            }
            let Some(unit_ms) = crate::time::unit_ms(unit.value(i)) else {
                return exec_err!("FLOOR(… TO {}): not a unit of time", unit.value(i));
            };
            let width = count.value(i).saturating_mul(unit_ms);
            if width <= 0 {
                return exec_err!(
                    "FLOOR((…) / {} …): divide by a number above 0",
                    count.value(i)
                );
            }
            let k = (ts.value(i) - origin.value(i)).div_euclid(width);
            let nanos = i128::from(k) * i128::from(unit_ms) * 1_000_000;
            out.push(
                i64::try_from(nanos)
                    .ok()
                    .map(|n| IntervalMonthDayNano::new(0, 0, n)),
            );
        }
        Ok(ColumnarValue::Array(Arc::new(
            out.into_iter().collect::<IntervalMonthDayNanoArray>(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::Field;

    #[test]
    fn the_number_of_the_window_as_an_interval_of_units() {
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(65_000),
            Some(69_999),
            Some(70_000),
            Some(-1),
            None,
        ]));
        let n = 5;
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(ts),
                ColumnarValue::Array(Arc::new(TimestampMillisecondArray::from(vec![0; n]))),
                ColumnarValue::Array(Arc::new(Int64Array::from(vec![10; n]))),
                ColumnarValue::Array(Arc::new(StringArray::from(vec!["SECOND"; n]))),
            ],
            arg_fields: vec![],
            number_rows: n,
            return_field: Arc::new(Field::new(
                "x",
                DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
                true,
            )),
            config_options: Arc::new(Default::default()),
        };
        let out = FloorElapsed::body(&args).unwrap().into_array(n).unwrap();
        let out = out.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
        let seconds: Vec<Option<i64>> = (0..n)
            .map(|i| {
                out.is_valid(i)
                    .then(|| out.value(i).nanoseconds / 1_000_000_000)
            })
            .collect();
        // 65 s / 10 = 6.5 s → 6; 69.999 s → 6; 70 s → 7; a millisecond before the origin → -1.
        assert_eq!(seconds, vec![Some(6), Some(6), Some(7), Some(-1), None]);
    }
}
