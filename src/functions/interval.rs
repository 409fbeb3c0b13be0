//! SQL interval literals as KDA writes them (KDA SQL reference `sql-reference-date-timestamp-interval.html`;
//! EX-38), made into ones DataFusion reads:
//!
//! - ranges such as `INTERVAL '3 4' DAY TO HOUR`, `'1 2:30' DAY TO MINUTE`,
//!   `'2:30:15.5' HOUR TO SECOND` or `'3-4' YEAR TO MONTH` (with an optional sign) become
//!   `INTERVAL 'n milliseconds'` or `INTERVAL 'n months'`;
//! - a literal interval multiplied or divided by a literal number (`2 * INTERVAL '3 4' DAY TO HOUR`,
//!   `INTERVAL '3 4' DAY TO HOUR / 2`) is computed while planning, since Arrow has no
//!   interval-by-number arithmetic; multiplied by any other number (`(EXTRACT(MINUTE FROM ts) / 30)
//!   * INTERVAL '30' MINUTE`, KDA's idiom for 30-minute buckets) it becomes [`IntervalTimes`].
//!
//! Day-time intervals are exact milliseconds (everything is UTC, so a day is 24 hours);
//! year-month intervals are whole months.

use datafusion::sql::sqlparser::ast::{BinaryOperator, DateTimeField, Expr, Interval, Value};

/// An interval's length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Millis(i64),
    Months(i64),
}

impl Amount {
    fn literal(self) -> Expr {
        let text = match self {
            Amount::Millis(ms) => format!("{ms} milliseconds"),
            Amount::Months(m) => format!("{m} months"),
        };
        Expr::Interval(Interval {
            value: Box::new(Expr::value(Value::SingleQuotedString(text))),
            leading_field: None,
            leading_precision: None,
            last_field: None,
            fractional_seconds_precision: None,
        })
    }

    fn scaled(self, numerator: i64, denominator: i64) -> Option<Amount> {
        let scale = |v: i64| v.checked_mul(numerator).map(|v| v / denominator);
        Some(match self {
            Amount::Millis(ms) => Amount::Millis(scale(ms)?),
            Amount::Months(m) => Amount::Months(scale(m)?),
        })
    }
}

/// Field order, from YEAR down to SECOND.
fn rank(field: &DateTimeField) -> Option<usize> {
    Some(match field {
        DateTimeField::Year | DateTimeField::Years => 0,
        DateTimeField::Month | DateTimeField::Months => 1,
        DateTimeField::Day | DateTimeField::Days => 2,
        DateTimeField::Hour | DateTimeField::Hours => 3,
        DateTimeField::Minute | DateTimeField::Minutes => 4,
        DateTimeField::Second | DateTimeField::Seconds => 5,
        _ => return None,
    })
}

/// Milliseconds per unit of DAY, HOUR, MINUTE, SECOND (ranks 2 to 5).
const MS: [i64; 4] = [86_400_000, 3_600_000, 60_000, 1000];

/// The length of a literal interval: a range (`'3 4' DAY TO HOUR`), one field (`'3' DAY`), or
/// the `'n milliseconds'` / `'n months'` this module writes. None for anything else.
pub fn amount(interval: &Interval) -> Option<Amount> {
    let Expr::Value(v) = interval.value.as_ref() else {
        return None;
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return None;
    };
    let text = text.trim();
    let Some(leading) = interval.leading_field.as_ref() else {
        let (n, unit) = text.split_once(' ')?;
        let n: i64 = n.parse().ok()?;
        return match unit {
            "milliseconds" => Some(Amount::Millis(n)),
            "months" => Some(Amount::Months(n)),
            _ => None,
        };
    };
    let first = rank(leading)?;
    let last = match &interval.last_field {
        Some(f) => rank(f)?,
        None => first,
    };
    if last < first || (first <= 1 && last >= 2) {
        return None; // YEAR TO DAY and the like mix months and days
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let parts: Vec<&str> = digits.split([' ', ':', '-']).collect();
    if parts.len() != last - first + 1 {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    if first <= 1 {
        let mut months = 0i64;
        for (part, r) in parts.iter().zip(first..=last) {
            let n: i64 = part.parse().ok()?;
            months = months.checked_add(if r == 0 { n.checked_mul(12)? } else { n })?;
        }
        return Some(Amount::Months(sign * months));
    }
    let mut ms = 0i64;
    for (part, r) in parts.iter().zip(first..=last) {
        let unit = MS[r - 2];
        let value = if r == 5 {
            // Seconds may have a fraction: milliseconds, the rest dropped.
            let (whole, fraction) = part.split_once('.').unwrap_or((part, ""));
            let whole: i64 = whole.parse().ok()?;
            let fraction: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
            whole.checked_mul(1000)?.checked_add(fraction)?
        } else {
            part.parse::<i64>().ok()?.checked_mul(unit)?
        };
        ms = ms.checked_add(value)?;
    }
    Some(Amount::Millis(sign * ms))
}

/// Rewrites `expr` in place when it is a range interval literal, or a literal interval times or
/// divided by a literal integer. Returns false when `expr` is none of these.
pub fn rewrite(expr: &mut Expr) -> bool {
    match expr {
        Expr::Interval(i) if i.last_field.is_some() => match amount(i) {
            Some(a) => {
                *expr = a.literal();
                true
            }
            None => false,
        },
        Expr::BinaryOp { left, op, right }
            if matches!(op, BinaryOperator::Multiply | BinaryOperator::Divide) =>
        {
            let integer = |e: &Expr| match e {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.parse::<i64>().ok(),
                    _ => None,
                },
                _ => None,
            };
            let interval = |e: &Expr| match e {
                Expr::Interval(i) => amount(i),
                Expr::Nested(inner) => match inner.as_ref() {
                    Expr::Interval(i) => amount(i),
                    _ => None,
                },
                _ => None,
            };
            // `n * INTERVAL …` with n computed per row: `kda_interval_times(n, amount)`.
            if matches!(op, BinaryOperator::Multiply) {
                let per_row = match (interval(left), interval(right)) {
                    (Some(a), None) if integer(right).is_none() => Some((a, right.as_ref())),
                    (None, Some(a)) if integer(left).is_none() => Some((a, left.as_ref())),
                    _ => None,
                };
                if let Some((amount, factor)) = per_row {
                    let (n, months) = match amount {
                        Amount::Millis(ms) => (ms, false),
                        Amount::Months(m) => (m, true),
                    };
                    *expr = crate::dialect::function_call(
                        IntervalTimes::NAME,
                        vec![
                            factor.clone(),
                            Expr::value(Value::Number(n.to_string(), false)),
                            Expr::value(Value::Boolean(months)),
                        ],
                    );
                    return true;
                }
            }
            let scaled = match op {
                BinaryOperator::Multiply => match (interval(left), integer(right)) {
                    (Some(a), Some(n)) => a.scaled(n, 1),
                    _ => match (integer(left), interval(right)) {
                        (Some(n), Some(a)) => a.scaled(n, 1),
                        _ => None,
                    },
                },
                _ => match (interval(left), integer(right)) {
                    (Some(a), Some(n)) if n != 0 => a.scaled(1, n),
                    _ => None,
                },
            };
            match scaled {
                Some(a) => {
                    *expr = a.literal();
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// `kda_interval_times(n, amount, months)`: `n` times an interval of `amount` milliseconds (or
/// months), per row. A fractional `n` of a day-time interval is rounded to the nanosecond; of a
/// year-month interval, to the month.
pub struct IntervalTimes;

impl IntervalTimes {
    pub const NAME: &str = "kda_interval_times";

    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        crate::functions::KdaScalar::udf(
            IntervalTimes::NAME,
            datafusion::logical_expr::Signature::any(
                3,
                datafusion::logical_expr::Volatility::Immutable,
            ),
            datafusion::arrow::datatypes::DataType::Interval(
                datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
            ),
            IntervalTimes::invoke,
        )
    }

    fn invoke(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{AsArray, IntervalMonthDayNanoArray};
        use datafusion::arrow::datatypes::{
            DataType, Float64Type, Int64Type, IntervalMonthDayNano,
        };
        use datafusion::common::ScalarValue;
        let n = args.number_rows;
        use datafusion::logical_expr::ColumnarValue::Scalar;
        let (Scalar(ScalarValue::Int64(Some(amount))), Scalar(ScalarValue::Boolean(Some(months)))) =
            (&args.args[1], &args.args[2])
        else {
            return datafusion::common::internal_err!(
                "{} takes a factor, a literal amount and a literal flag",
                IntervalTimes::NAME
            );
        };
        let (amount, months) = (*amount, *months);
        let factor = args.args[0].to_array(n)?;
        let overflow = || {
            datafusion::error::DataFusionError::Execution(format!(
                "an interval times {} does not fit",
                factor.data_type()
            ))
        };
        let values: Vec<Option<IntervalMonthDayNano>> = if factor.data_type().is_integer() {
            let f = datafusion::arrow::compute::cast(&factor, &DataType::Int64)?;
            f.as_primitive::<Int64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let total = v.checked_mul(amount).ok_or_else(overflow)?;
                        Ok(if months {
                            IntervalMonthDayNano::new(
                                i32::try_from(total).map_err(|_| overflow())?,
                                0,
                                0,
                            )
                        } else {
                            IntervalMonthDayNano::new(
                                0,
                                0,
                                total.checked_mul(1_000_000).ok_or_else(overflow)?,
                            )
                        })
                    })
                    .transpose()
                })
                .collect::<datafusion::error::Result<_>>()?
        } else {
            let f = datafusion::arrow::compute::cast(&factor, &DataType::Float64)?;
            f.as_primitive::<Float64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        Ok(if months {
                            let m = (v * amount as f64).round();
                            if !(i32::MIN as f64..=i32::MAX as f64).contains(&m) {
                                return Err(overflow());
                            }
                            IntervalMonthDayNano::new(m as i32, 0, 0)
                        } else {
                            let ns = (v * amount as f64 * 1e6).round();
                            if !(i64::MIN as f64..=i64::MAX as f64).contains(&ns) {
                                return Err(overflow());
                            }
                            IntervalMonthDayNano::new(0, 0, ns as i64)
                        })
                    })
                    .transpose()
                })
                .collect::<datafusion::error::Result<_>>()?
        };
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(IntervalMonthDayNanoArray::from(values)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Expr {
        datafusion::sql::sqlparser::parser::Parser::new(&crate::dialect::KdaDialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap()
    }

    fn amount_of(sql: &str) -> Option<Amount> {
        match parse(sql) {
            Expr::Interval(i) => amount(&i),
            other => panic!("not an interval: {other}"),
        }
    }

    #[test]
    fn ranges_and_single_fields() {
        let h = 3_600_000;
        assert_eq!(
            amount_of("INTERVAL '3 4' DAY TO HOUR"),
            Some(Amount::Millis(76 * h))
        );
        assert_eq!(
            amount_of("INTERVAL '-3 4' DAY TO HOUR"),
            Some(Amount::Millis(-76 * h))
        );
        assert_eq!(
            amount_of("INTERVAL '1 2:30' DAY TO MINUTE"),
            Some(Amount::Millis(26 * h + 30 * 60_000))
        );
        assert_eq!(
            amount_of("INTERVAL '2:30:15.5' HOUR TO SECOND"),
            Some(Amount::Millis(2 * h + 30 * 60_000 + 15_500))
        );
        assert_eq!(
            amount_of("INTERVAL '6:11' MINUTE TO SECOND"),
            Some(Amount::Millis(371_000))
        );
        assert_eq!(
            amount_of("INTERVAL '3-4' YEAR TO MONTH"),
            Some(Amount::Months(40))
        );
        assert_eq!(amount_of("INTERVAL '3' DAY"), Some(Amount::Millis(72 * h)));
        // Not a range this module reads: left to DataFusion.
        assert_eq!(amount_of("INTERVAL '3 4' DAY TO MINUTE"), None);
        assert_eq!(amount_of("INTERVAL '1 day'"), None);
    }

    #[test]
    fn literal_products_and_quotients_are_folded() {
        let mut e = parse("2 * INTERVAL '3 4' DAY TO HOUR");
        assert!(rewrite(&mut e));
        assert_eq!(e.to_string(), "INTERVAL '547200000 milliseconds'");
        let mut e = parse("INTERVAL '3 4' DAY TO HOUR / 2");
        assert!(rewrite(&mut e));
        assert_eq!(e.to_string(), "INTERVAL '136800000 milliseconds'");
        let mut e = parse("INTERVAL '1' DAY / 0");
        assert!(
            !rewrite(&mut e),
            "division by zero is left for the engine to report"
        );
        // A factor computed per row: the function multiplies per row.
        let mut e = parse("x * INTERVAL '1' DAY");
        assert!(rewrite(&mut e));
        assert_eq!(e.to_string(), "kda_interval_times(x, 86400000, false)");
    }
}
