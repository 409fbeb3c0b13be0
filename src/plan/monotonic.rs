//! Which expressions are monotonic, and how (SQLREF sql-reference-monotonic-expressions-
//! operators.html): ROWTIME is ascending; `STEP`, `FLOOR` and `CEIL` of an ascending
//! expression, `CAST` of it to a date or timestamp, and it plus or minus a constant interval are
//! ascending too; `MONOTONIC(x)` declares that `x` is. A streaming `GROUP BY` needs one such
//! key, so do `SELECT STREAM DISTINCT` and a streaming `ORDER BY` (its leading expression).
//!
//! [`monotonic_key`] reads a planned expression into the [`MonotonicKey`] operators use: a step
//! function of ROWTIME, with the width, alignment and shift of its windows, or a declared key.
//! Forms it cannot read as windows but that use ROWTIME are rejected by the callers.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator};

use crate::catalog::ROWTIME;
use crate::exec::monotonic::{MonotonicKey, StepKind, Steps};
use crate::functions::JOIN_ROWTIME;
use crate::functions::floor_elapsed;
use crate::functions::monotonic::NAME as MONOTONIC;
use crate::time::{MS_PER_DAY, WindowWidth, interval_ms};

/// An expression as a function of the row's ROWTIME.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// ROWTIME moved by a constant number of milliseconds.
    Shifted(i64),
    /// A step function of ROWTIME (constant on each window), maybe moved by a constant.
    Steps(Steps),
}

/// The monotonic key `e` is, if it is one: read against `input`, the plan whose output `e`'s
/// columns name (a column of a subquery that is ROWTIME under another name is ROWTIME).
pub(crate) fn monotonic_key(e: &Expr, input: &LogicalPlan) -> Option<MonotonicKey> {
    match shape(e, input) {
        Some(Shape::Shifted(_)) => Some(MonotonicKey::Rowtime(Steps::POINT)),
        Some(Shape::Steps(steps)) => Some(MonotonicKey::Rowtime(steps)),
        None => declared(e, input).then_some(MonotonicKey::Declared),
    }
}

/// Whether `e` is `MONOTONIC(x)`, or a subquery's column that is.
fn declared(e: &Expr, input: &LogicalPlan) -> bool {
    match unaliased(e) {
        Expr::ScalarFunction(f) => f.name() == MONOTONIC,
        Expr::Column(c) => match input
            .schema()
            .maybe_index_of_column(c)
            .map(|i| origin(input, i))
        {
            Some(Origin::Defined(e, below)) => declared(e, below),
            _ => false,
        },
        _ => false,
    }
}

/// Whether column `i` of `plan` is the unqualified ROWTIME of the rows being written (`rewrite.rs`
/// makes it `join_rowtime()`), which `SELECT STREAM DISTINCT` does not compare.
pub(crate) fn is_output_rowtime(plan: &LogicalPlan, i: usize) -> bool {
    matches!(origin(plan, i), Origin::Defined(e, _)
        if matches!(unaliased(e), Expr::ScalarFunction(f) if f.name() == JOIN_ROWTIME))
}

/// Whether `e` is the window of a `GROUP BY` below (its monotonic key, selected): the rows a
/// tumbling window emits share one ROWTIME, so in the aggregate's output the key's value changes
/// exactly when ROWTIME does.
pub(crate) fn groups_rows_by_rowtime(e: &Expr, plan: &LogicalPlan) -> bool {
    let Expr::Column(c) = unaliased(e) else {
        return false;
    };
    match plan
        .schema()
        .maybe_index_of_column(c)
        .map(|i| origin(plan, i))
    {
        Some(Origin::Defined(e, below)) => groups_rows_by_rowtime(e, below),
        Some(Origin::Group(key, input)) => {
            matches!(monotonic_key(key, input), Some(MonotonicKey::Rowtime(_)))
        }
        _ => false,
    }
}

/// The monotonic key column `i` of `plan`'s output is, if it is one.
pub(crate) fn column_key(plan: &LogicalPlan, i: usize) -> Option<MonotonicKey> {
    let column = Expr::Column(datafusion::common::Column::from(
        plan.schema().qualified_field(i),
    ));
    monotonic_key(&column, plan)
}

fn unaliased(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unaliased(&a.expr),
        other => other,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match unaliased(e) {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal(&c.expr),
        Expr::TryCast(c) => literal(&c.expr),
        _ => None,
    }
}

/// A literal's milliseconds: a day-time interval.
fn literal_ms(e: &Expr) -> Option<i64> {
    literal(e).and_then(interval_ms)
}

/// The width and alignment of `FLOOR(… TO unit)` (DataFusion's `date_trunc`): weeks start on
/// Mondays, 1970-01-05 being the first after the epoch.
fn unit_steps(unit: &str) -> Option<(WindowWidth, i64)> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "second" => (WindowWidth::Millis(1000), 0),
        "minute" => (WindowWidth::Millis(60_000), 0),
        "hour" => (WindowWidth::Millis(3_600_000), 0),
        "day" => (WindowWidth::Millis(MS_PER_DAY), 0),
        "week" => (WindowWidth::Millis(7 * MS_PER_DAY), 4 * MS_PER_DAY),
        "month" => (WindowWidth::Months(1), 0),
        "quarter" => (WindowWidth::Months(3), 0),
        "year" => (WindowWidth::Months(12), 0),
        _ => return None,
    })
}

/// `date_trunc('unit', x)`: the unit and `x`.
fn date_trunc(e: &Expr) -> Option<(&str, &Expr)> {
    match unaliased(e) {
        Expr::ScalarFunction(f) if f.name() == "date_trunc" && f.args.len() == 2 => {
            match literal(&f.args[0])? {
                ScalarValue::Utf8(Some(unit)) => Some((unit.as_str(), &f.args[1])),
                _ => None,
            }
        }
        Expr::Cast(c) => date_trunc(&c.expr),
        _ => None,
    }
}

/// KDA's `CEIL(x TO unit)`, which `functions::rewrite_calls` wrote as `CASE WHEN date_trunc(u,
/// x) = x THEN date_trunc(u, x) ELSE date_trunc(u, x) + INTERVAL '1' unit END`: the unit and `x`.
fn ceil_to(e: &Expr) -> Option<(&str, &Expr)> {
    let Expr::Case(case) = unaliased(e) else {
        return None;
    };
    if case.expr.is_some() || case.when_then_expr.len() != 1 {
        return None;
    }
    let (when, then) = &case.when_then_expr[0];
    let Expr::BinaryExpr(when) = unaliased(when) else {
        return None;
    };
    let Expr::BinaryExpr(otherwise) = unaliased(case.else_expr.as_deref()?) else {
        return None;
    };
    let (unit, x) = date_trunc(&otherwise.left)?;
    let same = |other: &Expr| date_trunc(other) == Some((unit, x));
    (when.op == Operator::Eq
        && same(&when.left)
        && same(then)
        && otherwise.op == Operator::Plus
        && literal(&otherwise.right).is_some())
    .then_some((unit, x))
}

/// Where column `i` of a plan's output comes from.
enum Origin<'p> {
    /// A projection's expression, over the plan below it.
    Defined(&'p Expr, &'p LogicalPlan),
    /// A stream's own column (its ROWTIME is the row's).
    Stream,
    /// A group key of an aggregate, over the aggregate's input.
    Group(&'p Expr, &'p LogicalPlan),
    /// Anything else: a join side's column (`o.ROWTIME` is not the joined row's ROWTIME), an
    /// aggregate's, a table's.
    Unknown,
}

fn origin(plan: &LogicalPlan, i: usize) -> Origin<'_> {
    match plan {
        LogicalPlan::Projection(p) => match p.expr.get(i) {
            Some(e) => Origin::Defined(e, &p.input),
            None => Origin::Unknown,
        },
        LogicalPlan::SubqueryAlias(a) => origin(&a.input, i),
        LogicalPlan::Filter(f) => origin(&f.input, i),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => origin(input, i),
        LogicalPlan::Sort(s) => origin(&s.input, i),
        // A sliding window's output starts with its input's columns.
        LogicalPlan::Window(w) if i < w.input.schema().fields().len() => origin(&w.input, i),
        LogicalPlan::TableScan(_) => Origin::Stream,
        LogicalPlan::Aggregate(a) if i < a.group_expr.len() => {
            Origin::Group(&a.group_expr[i], &a.input)
        }
        _ => Origin::Unknown,
    }
}

fn shape(e: &Expr, input: &LogicalPlan) -> Option<Shape> {
    let shifted = |inner: &Expr, by: i64| {
        Some(match shape(inner, input)? {
            Shape::Shifted(o) => Shape::Shifted(o.checked_add(by)?),
            // A constant added to a step function leaves its windows as they are.
            steps @ Shape::Steps(_) => steps,
        })
    };
    // `f(x)` for a step function `f` of ROWTIME: its windows, moved by x's offset.
    let steps_of = |kind: StepKind, align: i64, x: &Expr| match shape(x, input)? {
        Shape::Shifted(o) => Some(Shape::Steps(Steps {
            kind,
            shift: align.checked_sub(o)?,
        })),
        // A step function of a step function (FLOOR(STEP(…) TO …)) is not read.
        Shape::Steps(_) => None,
    };
    if let Some((unit, x)) = ceil_to(e) {
        let (width, align) = unit_steps(unit)?;
        return steps_of(StepKind::Ceil(width), align, x);
    }
    match e {
        Expr::Alias(a) => shape(&a.expr, input),
        Expr::Column(c) => {
            let i = input.schema().maybe_index_of_column(c)?;
            match origin(input, i) {
                Origin::Defined(e, below) => shape(e, below),
                Origin::Stream => (c.name == ROWTIME).then_some(Shape::Shifted(0)),
                Origin::Group(..) | Origin::Unknown => None,
            }
        }
        Expr::BinaryExpr(b) => match b.op {
            Operator::Plus => match (literal_ms(&b.right), literal_ms(&b.left)) {
                (Some(ms), _) => shifted(&b.left, ms),
                (None, Some(ms)) => shifted(&b.right, ms),
                _ => None,
            },
            Operator::Minus => shifted(&b.left, literal_ms(&b.right)?.checked_neg()?),
            _ => None,
        },
        Expr::Cast(c) => cast_shape(&c.expr, c.field.data_type(), input),
        Expr::TryCast(c) => cast_shape(&c.expr, c.field.data_type(), input),
        Expr::ScalarFunction(f) => match f.name() {
            // Unqualified ROWTIME where it is the output row's (`rewrite.rs`).
            JOIN_ROWTIME => Some(Shape::Shifted(0)),
            MONOTONIC if f.args.len() == 1 => shape(&f.args[0], input),
            "date_trunc" => {
                let (unit, x) = date_trunc(e)?;
                let (width, align) = unit_steps(unit)?;
                steps_of(StepKind::Floor(width), align, x)
            }
            // STEP(x BY INTERVAL …): bins from the epoch.
            "date_bin" if f.args.len() == 2 => {
                let width = match literal(&f.args[0])? {
                    ScalarValue::IntervalMonthDayNano(Some(v))
                        if v.months > 0 && v.days == 0 && v.nanoseconds == 0 =>
                    {
                        WindowWidth::Months(v.months as u32)
                    }
                    v => WindowWidth::Millis(interval_ms(v).filter(|ms| *ms > 0)?),
                };
                steps_of(StepKind::Floor(width), 0, &f.args[1])
            }
            // FLOOR((ROWTIME - origin) SECOND / n TO unit): n units from the origin.
            floor_elapsed::NAME if f.args.len() == 4 => {
                let origin = match literal(&f.args[1])?.cast_to(&crate::catalog::rowtime_type()) {
                    Ok(ScalarValue::TimestampMillisecond(Some(ms), None)) => ms,
                    _ => return None,
                };
                let n = match literal(&f.args[2])? {
                    ScalarValue::Int64(Some(n)) if *n > 0 => *n,
                    _ => return None,
                };
                let unit = match literal(&f.args[3])? {
                    ScalarValue::Utf8(Some(u)) => crate::time::unit_ms(u)?,
                    _ => return None,
                };
                let width = WindowWidth::Millis(n.checked_mul(unit)?);
                steps_of(StepKind::Floor(width), origin, &f.args[0])
            }
            _ => None,
        },
        _ => None,
    }
}

/// `CAST(x AS type)`: a timestamp is `x` itself, a DATE its day.
fn cast_shape(x: &Expr, to: &DataType, input: &LogicalPlan) -> Option<Shape> {
    match to {
        // Units down to the millisecond keep every ROWTIME as it is.
        DataType::Timestamp(TimeUnit::Second, None) => None,
        DataType::Timestamp(_, None) => shape(x, input),
        DataType::Date32 | DataType::Date64 => match shape(x, input)? {
            Shape::Shifted(o) => Some(Shape::Steps(Steps {
                kind: StepKind::Floor(WindowWidth::Millis(MS_PER_DAY)),
                shift: o.checked_neg()?,
            })),
            Shape::Steps(_) => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, Int32Array};
    use datafusion::arrow::row::{RowConverter, SortField};

    use crate::catalog::{Catalog, StreamDef, StreamKind};
    use crate::error::SourceText;
    use crate::exec::monotonic::MonotonicKey;
    use crate::exec::test_util::batch;
    use crate::plan::OperatorSpec;
    use crate::types::SqlType;

    /// The tumbling spec of `SELECT STREAM key, COUNT(*) FROM S GROUP BY key`.
    fn tumbling(key: &str) -> Arc<crate::exec::tumbling::TumblingSpec> {
        let code = format!(
            "CREATE STREAM OUT (K TIMESTAMP, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT (N) SELECT STREAM COUNT(*) FROM S GROUP BY {key};"
        );
        let stream = StreamDef {
            name: "S".into(),
            columns: vec![("N".into(), SqlType::Integer)],
            kind: StreamKind::Created,
        };
        let src = SourceText::new("test.sql", &code);
        let statements = crate::dialect::parse_application(&src).unwrap();
        let plan = crate::plan::plan(&src, &statements, Catalog::new(vec![stream], vec![]))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        plan.pumps[0]
            .ops
            .iter()
            .find_map(|op| match op {
                OperatorSpec::Tumbling(spec) => Some(Arc::clone(spec)),
                _ => None,
            })
            .expect("a tumbling window")
    }

    /// Windows found from ROWTIME must split rows exactly where the key's value changes: rows of
    /// one window share a value and rows of two windows do not (the group table keys on the value).
    #[test]
    fn windows_from_rowtime_agree_with_the_key_values() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        // Around the epoch, a leap day and a month end, with steps from 1 ms to hours.
        let mut times = Vec::new();
        for start in [
            "1969-12-31 23:58:00",
            "2024-02-28 23:00:00",
            "2024-03-31 23:59:00",
        ] {
            let mut t = crate::exec::test_util::ts(start);
            for _ in 0..400 {
                t += [0, 1, 999, 1000, 29_999, 60_000, 3_600_000][next(7) as usize];
                times.push(t);
            }
        }
        times.sort();
        let keys = [
            "STEP(S.ROWTIME BY INTERVAL '10' SECOND)",
            "STEP(S.ROWTIME BY INTERVAL '1' MONTH)",
            "FLOOR(S.ROWTIME TO MINUTE)",
            "FLOOR(S.ROWTIME TO WEEK)",
            "FLOOR(S.ROWTIME TO MONTH)",
            "FLOOR(S.ROWTIME + INTERVAL '30' SECOND TO HOUR)",
            "FLOOR(S.ROWTIME TO MINUTE) - INTERVAL '1' DAY",
            "CEIL(S.ROWTIME TO SECOND)",
            "CEIL(S.ROWTIME TO MINUTE)",
            "CEIL(S.ROWTIME TO MONTH)",
            "CEIL((S.ROWTIME - INTERVAL '1' MINUTE) TO HOUR)",
            "CAST(S.ROWTIME AS DATE)",
            "S.ROWTIME",
            "S.ROWTIME + INTERVAL '1' HOUR",
            "MONOTONIC(FLOOR(S.ROWTIME TO HOUR))",
            "FLOOR((S.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)",
            "FLOOR((S.ROWTIME - TIMESTAMP '2024-01-01 00:00:07') MINUTE / 5 TO MINUTE)",
        ];
        let input = batch(
            vec![(
                "N",
                Arc::new(Int32Array::from(vec![1; times.len()])) as ArrayRef,
            )],
            &times,
        );
        for key in keys {
            let spec = tumbling(key);
            let MonotonicKey::Rowtime(steps) = spec.key else {
                panic!("{key}: {:?}", spec.key);
            };
            let values = spec
                .window
                .evaluate(&input)
                .unwrap()
                .into_array(input.num_rows())
                .unwrap();
            let rows = RowConverter::new(vec![SortField::new(values.data_type().clone())])
                .unwrap()
                .convert_columns(&[values])
                .unwrap();
            for i in 1..times.len() {
                let same_window = steps.span(times[i - 1]) == steps.span(times[i]);
                let same_value = rows.row(i - 1) == rows.row(i);
                assert_eq!(
                    same_window,
                    same_value,
                    "{key} at {} and {}",
                    crate::time::timestamp_text(times[i - 1]),
                    crate::time::timestamp_text(times[i])
                );
            }
        }
    }
}
