//! Intervals whose qualifier the query spells out (KDA SQL reference
//! `sql-reference-date-timestamp-interval.html`, `sql-reference-cast.html`,
//! `sql-reference-extract.html`; EX-38):
//!
//! - `(a - b) <qualifier>`, the interval between two datetimes (`(t1 - t2) MINUTE TO SECOND`,
//!   `(ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND`): the dialect writes it as
//!   `KDA_DATETIME_MINUS((a - b), 'qualifier')` and [`rewrite`] makes it [`DatetimeMinus`]. A
//!   day-time difference is cut to whole units of its last field (SECOND keeps milliseconds); a
//!   year-month one counts whole months.
//! - `CAST(interval AS VARCHAR(n) | CHAR(n))` is the interval's text in KDA's form for its
//!   qualifier: a sign, the leading field, then each further field in two digits
//!   (`'+6:11'` MINUTE TO SECOND, `'+4 04'` DAY TO HOUR, `'-2 04'`, `'+4-04'` YEAR TO MONTH),
//!   with `.fff` when the seconds have milliseconds.
//! - `CAST(interval AS BIGINT | DECIMAL | …)` is its length in units of its last field
//!   (`CAST(INTERVAL '2' MINUTE AS BIGINT)` = 2, `'3 4' DAY TO HOUR` = 76).
//! - `EXTRACT(field FROM interval)` is that field of the interval: the leading field unbounded,
//!   the others within their range (`EXTRACT(HOUR FROM INTERVAL '3 4' DAY TO HOUR)` = 4,
//!   `EXTRACT(MINUTE FROM INTERVAL '90' MINUTE)` = 90); SECOND keeps its milliseconds.
//!
//! The qualifier of an expression is read from its syntax ([`qualifier_of`]): an interval
//! literal's, a datetime difference's, the widest of a sum of intervals, an interval's times or
//! divided by a number. Arrow's intervals do not carry one, so this happens before planning.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, IntervalMonthDayNanoArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    TimeUnit, TimestampMillisecondType,
};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType as SqlDataType, Expr, Query, UnaryOperator, Value, VisitMut,
    VisitorMut,
};

use crate::dialect::{function_call, unnamed_args};
use crate::functions::KdaScalar;
use crate::time::{MS_PER_DAY, civil_from_days};

/// The call the dialect writes for `(a - b) qualifier`.
pub use crate::dialect::DATETIME_MINUS_CALL;

/// Interval fields, from YEAR down to SECOND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Unit {
    const ALL: [Unit; 6] = [
        Unit::Year,
        Unit::Month,
        Unit::Day,
        Unit::Hour,
        Unit::Minute,
        Unit::Second,
    ];

    fn name(self) -> &'static str {
        ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"][self as usize]
    }

    pub fn parse(text: &str) -> Option<Unit> {
        let text = text.trim().to_uppercase();
        let text = text.strip_suffix('S').unwrap_or(&text);
        Unit::ALL.into_iter().find(|u| u.name() == text)
    }

    fn year_month(self) -> bool {
        self <= Unit::Month
    }

    /// Milliseconds in one unit of a day-time field.
    fn ms(self) -> i64 {
        match self {
            Unit::Day => MS_PER_DAY,
            Unit::Hour => 3_600_000,
            Unit::Minute => 60_000,
            _ => 1000,
        }
    }

    /// How many of this field make one of the field above it (None for the top of its kind).
    fn range(self) -> Option<i64> {
        match self {
            Unit::Month => Some(12),
            Unit::Hour => Some(24),
            Unit::Minute | Unit::Second => Some(60),
            Unit::Year | Unit::Day => None,
        }
    }
}

/// `leading [TO trailing]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qualifier {
    pub leading: Unit,
    pub trailing: Unit,
}

impl Qualifier {
    /// Reads `MINUTE TO SECOND`, `HOUR` or `SECOND(3)` (a precision is ignored).
    pub fn parse(text: &str) -> Result<Qualifier, String> {
        let clean = |s: &str| s.split('(').next().unwrap_or_default().trim().to_string();
        let upper = text.to_uppercase();
        let (first, second) = match upper.split_once(" TO ") {
            Some((a, b)) => (clean(a), Some(clean(b))),
            None => (clean(&upper), None),
        };
        let unit =
            |s: &str| Unit::parse(s).ok_or_else(|| format!("`{s}` is not an interval field"));
        let leading = unit(&first)?;
        let trailing = match second {
            Some(s) => unit(&s)?,
            None => leading,
        };
        if trailing < leading || leading.year_month() != trailing.year_month() {
            return Err(format!(
                "`{text}` is not an interval qualifier: YEAR and MONTH go together, DAY to SECOND \
                 together, the larger field first"
            ));
        }
        Ok(Qualifier { leading, trailing })
    }

    fn text(&self) -> String {
        if self.leading == self.trailing {
            self.leading.name().to_string()
        } else {
            format!("{} TO {}", self.leading.name(), self.trailing.name())
        }
    }

    fn year_month(&self) -> bool {
        self.leading.year_month()
    }

    /// The qualifier of a sum of intervals: from the larger leading field to the smaller trailing
    /// one (None when one is year-month and the other day-time).
    fn widest(self, other: Qualifier) -> Option<Qualifier> {
        (self.year_month() == other.year_month()).then(|| Qualifier {
            leading: self.leading.min(other.leading),
            trailing: self.trailing.max(other.trailing),
        })
    }

    /// The interval's text in KDA's form: `+6:11`, `+4 04`, `-2 04`, `+4-04`.
    pub fn format(&self, months: i64, ms: i64) -> String {
        let (value, negative) = if self.year_month() {
            (months.unsigned_abs() as i64, months < 0)
        } else {
            (ms.unsigned_abs() as i64, ms < 0)
        };
        let mut out = String::from(if negative { "-" } else { "+" });
        for unit in Unit::ALL
            .into_iter()
            .filter(|u| *u >= self.leading && *u <= self.trailing)
        {
            let n = self.field(unit, value);
            if unit == self.leading {
                out.push_str(&n.to_string());
            } else {
                out.push(match unit {
                    Unit::Month => '-',
                    Unit::Hour => ' ',
                    _ => ':',
                });
                out.push_str(&format!("{n:02}"));
            }
        }
        if self.trailing == Unit::Second && value % 1000 != 0 {
            out.push_str(&format!(".{:03}", value % 1000));
        }
        out
    }

    /// One field of a length (months, or milliseconds), the leading field unbounded; whole units
    /// (seconds without their milliseconds). Fields above the leading one are 0.
    fn field(&self, unit: Unit, value: i64) -> i64 {
        if unit < self.leading || unit.year_month() != self.year_month() {
            return 0;
        }
        let whole = if unit.year_month() {
            if unit == Unit::Year {
                value / 12
            } else {
                value
            }
        } else {
            value / unit.ms()
        };
        match unit.range() {
            Some(range) if unit != self.leading => whole % range,
            _ => whole,
        }
    }
}

/// The qualifier of an interval-valued expression, read from its syntax; None when the
/// expression is not an interval the syntax shows.
pub fn qualifier_of(e: &Expr) -> Option<Qualifier> {
    match e {
        Expr::Interval(i) => {
            let leading = Unit::parse(&i.leading_field.as_ref()?.to_string())?;
            let trailing = match &i.last_field {
                Some(f) => Unit::parse(&f.to_string())?,
                None => leading,
            };
            Some(Qualifier { leading, trailing })
        }
        Expr::Function(f) if f.name.to_string() == DATETIME_MINUS_CALL => {
            match unnamed_args(f).get(1) {
                Some(Expr::Value(v)) => match &v.value {
                    Value::SingleQuotedString(q) => Qualifier::parse(q).ok(),
                    _ => None,
                },
                _ => None,
            }
        }
        Expr::Nested(inner) => qualifier_of(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => qualifier_of(expr),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::Plus | BinaryOperator::Minus => {
                qualifier_of(left)?.widest(qualifier_of(right)?)
            }
            BinaryOperator::Multiply => qualifier_of(left).or_else(|| qualifier_of(right)),
            BinaryOperator::Divide => qualifier_of(left),
            _ => None,
        },
        _ => None,
    }
}

fn is_text(t: &SqlDataType) -> bool {
    matches!(
        t,
        SqlDataType::Char(_)
            | SqlDataType::Character(_)
            | SqlDataType::Varchar(_)
            | SqlDataType::CharacterVarying(_)
            | SqlDataType::CharVarying(_)
    )
}

fn is_number(t: &SqlDataType) -> bool {
    matches!(
        t,
        SqlDataType::BigInt(_)
            | SqlDataType::Int(_)
            | SqlDataType::Integer(_)
            | SqlDataType::SmallInt(_)
            | SqlDataType::TinyInt(_)
            | SqlDataType::Decimal(_)
            | SqlDataType::Dec(_)
            | SqlDataType::Numeric(_)
            | SqlDataType::Double(_)
            | SqlDataType::DoublePrecision
            | SqlDataType::Real
            | SqlDataType::Float(_)
    )
}

fn literal(text: String) -> Expr {
    Expr::value(Value::SingleQuotedString(text))
}

/// A rewrite the planner cannot make: the message and where.
pub type RewriteError = crate::functions::RewriteError;

/// Rewrites, outermost first (before the other call rewrites, which lose interval qualifiers):
/// `(a - b) q`, and CAST and EXTRACT of an interval whose qualifier the syntax shows.
pub fn rewrite(query: &mut Query) -> Result<(), RewriteError> {
    struct Pass;
    impl VisitorMut for Pass {
        type Break = RewriteError;
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<RewriteError> {
            match rewrite_one(expr) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match query.visit(&mut Pass) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn rewrite_one(expr: &mut Expr) -> Result<(), RewriteError> {
    use datafusion::sql::sqlparser::ast::Spanned;
    match expr {
        Expr::Cast {
            expr: inner,
            data_type,
            format: None,
            ..
        } if is_text(data_type) || is_number(data_type) => {
            let Some(q) = qualifier_of(inner) else {
                return Ok(());
            };
            let name = if is_text(data_type) {
                IntervalText::NAME
            } else {
                IntervalNumber::NAME
            };
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            **inner = function_call(name, vec![arg, literal(q.text())]);
        }
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let Some(q) = qualifier_of(inner) else {
                return Ok(());
            };
            let Some(unit) = Unit::parse(&field.to_string()) else {
                return Err(RewriteError {
                    span: inner.span(),
                    message: format!("EXTRACT({field} FROM …) of an interval is not supported"),
                    help: "extract YEAR, MONTH, DAY, HOUR, MINUTE or SECOND".into(),
                });
            };
            let name = if unit == Unit::Second {
                ExtractInterval::SECOND
            } else {
                ExtractInterval::NAME
            };
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = function_call(
                name,
                vec![arg, literal(unit.name().into()), literal(q.text())],
            );
        }
        Expr::Function(f) if f.name.to_string() == DATETIME_MINUS_CALL => {
            let span = f.name.span();
            let args = unnamed_args(f);
            let (Some(difference), Some(Expr::Value(q))) = (args.first(), args.get(1)) else {
                return Ok(());
            };
            let Value::SingleQuotedString(q) = &q.value else {
                return Ok(());
            };
            let qualifier = Qualifier::parse(q).map_err(|message| RewriteError {
                span,
                message,
                help: "write (a - b) DAY TO SECOND, (a - b) MINUTE, (a - b) YEAR TO MONTH …".into(),
            })?;
            let mut inner = difference;
            while let Expr::Nested(e) = inner {
                inner = e;
            }
            let Expr::BinaryOp {
                left,
                op: BinaryOperator::Minus,
                right,
            } = inner
            else {
                return Err(RewriteError {
                    span,
                    message: format!(
                        "`({difference}) {q}` is not the difference of two datetimes"
                    ),
                    help: "an interval qualifier after parentheses takes (datetime - datetime), as in (t1 - t2) MINUTE TO SECOND".into(),
                });
            };
            *expr = function_call(
                DatetimeMinus::NAME,
                vec![
                    (**left).clone(),
                    (**right).clone(),
                    literal(qualifier.text()),
                ],
            );
        }
        _ => {}
    }
    Ok(())
}

/// The qualifier argument of a call, a literal the rewrite wrote.
fn qualifier_arg(args: &ScalarFunctionArgs, i: usize) -> datafusion::error::Result<Qualifier> {
    match args.args.get(i) {
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(q)))) => {
            Qualifier::parse(q).map_err(datafusion::error::DataFusionError::Plan)
        }
        _ => exec_err!("an interval qualifier must be a literal"),
    }
}

/// Milliseconds since the epoch (TIMESTAMP, DATE) or since midnight (TIME).
fn datetime_ms(array: &ArrayRef) -> datafusion::error::Result<Vec<Option<i64>>> {
    Ok(match array.data_type() {
        DataType::Time32(_) | DataType::Time64(_) => {
            let t = cast(array, &DataType::Time32(TimeUnit::Millisecond))?;
            t.as_primitive::<datafusion::arrow::datatypes::Time32MillisecondType>()
                .iter()
                .map(|v| v.map(i64::from))
                .collect()
        }
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) | DataType::Utf8 => {
            let t = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            t.as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect()
        }
        DataType::Null => vec![None; array.len()],
        other => {
            return exec_err!(
                "(a - b) with an interval qualifier takes two datetimes, not {other}"
            );
        }
    })
}

/// Whole months from `b` to `a`, cut toward zero.
fn months_between(a: i64, b: i64) -> i64 {
    if a < b {
        return -months_between(b, a);
    }
    let civil = |ms: i64| {
        let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
        (y * 12 + i64::from(m) - 1, d, ms.rem_euclid(MS_PER_DAY))
    };
    let (ma, da, ta) = civil(a);
    let (mb, db, tb) = civil(b);
    let mut months = ma - mb;
    if (da, ta) < (db, tb) {
        months -= 1;
    }
    months
}

/// `kda_datetime_minus(a, b, 'qualifier')`: `(a - b) qualifier`, an interval.
pub struct DatetimeMinus;

impl DatetimeMinus {
    pub const NAME: &str = "kda_datetime_minus";

    pub fn udf() -> ScalarUDF {
        KdaScalar::udf(
            DatetimeMinus::NAME,
            Signature::any(3, Volatility::Immutable),
            DataType::Interval(IntervalUnit::MonthDayNano),
            DatetimeMinus::invoke,
        )
    }

    fn invoke(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let n = args.number_rows;
        let q = qualifier_arg(args, 2)?;
        let a = datetime_ms(&args.args[0].to_array(n)?)?;
        let b = datetime_ms(&args.args[1].to_array(n)?)?;
        let values: IntervalMonthDayNanoArray = a
            .iter()
            .zip(&b)
            .map(|(a, b)| {
                let (a, b) = ((*a)?, (*b)?);
                Some(if q.year_month() {
                    let months = months_between(a, b);
                    let months = if q.trailing == Unit::Year {
                        months / 12 * 12
                    } else {
                        months
                    };
                    IntervalMonthDayNanoType::make_value(months as i32, 0, 0)
                } else {
                    let unit = if q.trailing == Unit::Second {
                        1
                    } else {
                        q.trailing.ms()
                    };
                    let ms = (a - b) / unit * unit;
                    IntervalMonthDayNanoType::make_value(0, 0, ms * 1_000_000)
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// An interval array's lengths: (months, milliseconds) per row.
fn lengths(array: &ArrayRef) -> datafusion::error::Result<Vec<Option<(i64, i64)>>> {
    Ok(match array.data_type() {
        DataType::Interval(IntervalUnit::MonthDayNano) => array
            .as_primitive::<IntervalMonthDayNanoType>()
            .iter()
            .map(|v| {
                v.map(|v| {
                    (
                        i64::from(v.months),
                        i64::from(v.days) * MS_PER_DAY + v.nanoseconds / 1_000_000,
                    )
                })
            })
            .collect(),
        DataType::Interval(IntervalUnit::DayTime) => array
            .as_primitive::<IntervalDayTimeType>()
            .iter()
            .map(|v| {
                v.map(|v| {
                    (
                        0,
                        i64::from(v.days) * MS_PER_DAY + i64::from(v.milliseconds),
                    )
                })
            })
            .collect(),
        DataType::Interval(IntervalUnit::YearMonth) => array
            .as_primitive::<IntervalYearMonthType>()
            .iter()
            .map(|v| v.map(|m| (i64::from(m), 0)))
            .collect(),
        DataType::Null => vec![None; array.len()],
        other => return exec_err!("expected an interval, not {other}"),
    })
}

/// `kda_interval_text(interval, 'qualifier')`: the interval's text in KDA's form.
pub struct IntervalText;

impl IntervalText {
    pub const NAME: &str = "kda_interval_text";

    pub fn udf() -> ScalarUDF {
        KdaScalar::udf(
            IntervalText::NAME,
            Signature::any(2, Volatility::Immutable),
            DataType::Utf8,
            IntervalText::invoke,
        )
    }

    fn invoke(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let q = qualifier_arg(args, 1)?;
        let values = lengths(&args.args[0].to_array(args.number_rows)?)?;
        let mut out = StringBuilder::new();
        for v in values {
            out.append_option(v.map(|(months, ms)| q.format(months, ms)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `kda_interval_number(interval, 'qualifier')`: the length in units of the last field, as a
/// DECIMAL with milliseconds' precision.
pub struct IntervalNumber;

impl IntervalNumber {
    pub const NAME: &str = "kda_interval_number";

    pub fn udf() -> ScalarUDF {
        KdaScalar::udf(
            IntervalNumber::NAME,
            Signature::any(2, Volatility::Immutable),
            DataType::Decimal128(38, 3),
            IntervalNumber::invoke,
        )
    }

    fn invoke(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let q = qualifier_arg(args, 1)?;
        let values = lengths(&args.args[0].to_array(args.number_rows)?)?;
        let out: Decimal128Array = values
            .into_iter()
            .map(|v| {
                v.map(|(months, ms)| match q.trailing {
                    Unit::Year => i128::from(months) * 1000 / 12,
                    Unit::Month => i128::from(months) * 1000,
                    unit => i128::from(ms) * 1000 / i128::from(unit.ms()),
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 3)?,
        )))
    }
}

/// `kda_extract_interval(interval, 'FIELD', 'qualifier')` (BIGINT) and
/// `kda_extract_interval_second(…)` (DECIMAL(18,3), with milliseconds).
pub struct ExtractInterval;

impl ExtractInterval {
    pub const NAME: &str = "kda_extract_interval";
    pub const SECOND: &str = "kda_extract_interval_second";

    pub fn udfs() -> Vec<ScalarUDF> {
        vec![
            KdaScalar::udf(
                ExtractInterval::NAME,
                Signature::any(3, Volatility::Immutable),
                DataType::Int64,
                ExtractInterval::invoke,
            ),
            KdaScalar::udf(
                ExtractInterval::SECOND,
                Signature::any(3, Volatility::Immutable),
                DataType::Decimal128(18, 3),
                ExtractInterval::invoke,
            ),
        ]
    }

    fn invoke(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let unit = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(f)))) => Unit::parse(f),
            _ => None,
        };
        let Some(unit) = unit else {
            return exec_err!("EXTRACT of an interval needs a literal field");
        };
        let q = qualifier_arg(args, 2)?;
        let values = lengths(&args.args[0].to_array(args.number_rows)?)?;
        let field = |(months, ms): (i64, i64)| {
            let value = if q.year_month() { months } else { ms };
            let sign = value.signum();
            sign * q.field(unit, value.abs())
        };
        if unit == Unit::Second {
            let out: Decimal128Array = values
                .into_iter()
                .map(|v| {
                    v.map(|(months, ms)| {
                        let whole = field((months, ms));
                        let fraction = if q.year_month() { 0 } else { ms % 1000 };
                        i128::from(whole) * 1000 + i128::from(fraction)
                    })
                })
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(
                out.with_precision_and_scale(18, 3)?,
            )));
        }
        let out: datafusion::arrow::array::Int64Array =
            values.into_iter().map(|v| v.map(field)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Every function of this file.
pub fn udfs() -> Vec<ScalarUDF> {
    let mut all = vec![
        DatetimeMinus::udf(),
        IntervalText::udf(),
        IntervalNumber::udf(),
    ];
    all.extend(ExtractInterval::udfs());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Qualifier {
        Qualifier::parse(text).unwrap()
    }

    #[test]
    fn intervals_print_as_kda_writes_them() {
        // EX-38: (time '12:03:34' - time '11:57:23') minute to second = '+6:11'.
        assert_eq!(q("MINUTE TO SECOND").format(0, 371_000), "+6:11");
        // INTERVAL '1' DAY + INTERVAL '3 4' DAY TO HOUR = '+4 04'; 1 day - '3 4' = '-2 04'.
        assert_eq!(
            q("DAY TO HOUR").format(0, 4 * MS_PER_DAY + 4 * 3_600_000),
            "+4 04"
        );
        assert_eq!(
            q("DAY TO HOUR").format(0, -(2 * MS_PER_DAY + 4 * 3_600_000)),
            "-2 04"
        );
        // INTERVAL '1' YEAR + INTERVAL '3-4' YEAR TO MONTH = '+4-04'.
        assert_eq!(q("YEAR TO MONTH").format(52, 0), "+4-04");
        assert_eq!(q("HOUR TO SECOND").format(0, 3_723_500), "+1:02:03.500");
        assert_eq!(q("SECOND").format(0, 90_000), "+90");
    }

    #[test]
    fn fields_of_an_interval() {
        let dh = q("DAY TO HOUR");
        let v = 3 * MS_PER_DAY + 4 * 3_600_000;
        assert_eq!(dh.field(Unit::Day, v), 3);
        assert_eq!(dh.field(Unit::Hour, v), 4);
        assert_eq!(dh.field(Unit::Minute, v), 0);
        assert_eq!(dh.field(Unit::Year, v), 0);
        assert_eq!(q("MINUTE").field(Unit::Minute, 90 * 60_000), 90);
        assert_eq!(q("YEAR TO MONTH").field(Unit::Month, 40), 4);
        assert_eq!(q("YEAR TO MONTH").field(Unit::Year, 40), 3);
    }

    #[test]
    fn qualifiers_are_checked() {
        assert!(Qualifier::parse("SECOND TO MINUTE").is_err());
        assert!(Qualifier::parse("YEAR TO DAY").is_err());
        assert_eq!(q("second(3)"), q("SECOND"));
    }

    #[test]
    fn months_between_counts_whole_months() {
        let ms = |y, m, d| crate::time::days_from_civil(y, m, d) * MS_PER_DAY;
        assert_eq!(months_between(ms(2024, 3, 15), ms(2024, 1, 15)), 2);
        assert_eq!(months_between(ms(2024, 3, 14), ms(2024, 1, 15)), 1);
        assert_eq!(months_between(ms(2024, 1, 15), ms(2024, 3, 14)), -1);
    }
}
