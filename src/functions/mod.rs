//! KDA's functions: DataFusion UDFs for what DataFusion lacks, and the call syntax that reaches
//! them. [`rewrite_calls`] runs on a pump's syntax tree before DataFusion plans it:
//! - `STEP(ts BY INTERVAL 'n' unit)` → `date_bin(INTERVAL 'n' unit, ts)` (epoch-aligned);
//!   `STEP(x BY n)` on numbers → `(x / n) * n`;
//! - `FLOOR(ts TO unit)` → `date_trunc('unit', ts)`; `CEIL(ts TO unit)` the next start;
//! - function names fold to lower case (DataFusion's registry is lower case);
//! - `x SIMILAR TO 'pattern'`: the SQL pattern becomes an anchored regex (`similar.rs`);
//! - `TO_TIMESTAMP(ms)` and `UNIX_TIMESTAMP(ts)` work in BIGINT milliseconds, as in KDA;
//!   `TSDIFF(start, end)` is `end - start` in milliseconds;
//! - `CAST(x AS CHAR(n) | VARCHAR(n))`, `OVERLAY`, `SUBSTRING`'s KDA forms, interval ranges and
//!   `EXTRACT(SECOND …)` become the functions of their files;
//! - `MONOTONIC(x)` is `monotonic(x)`, the identity the planner reads as a declared key;
//! - `CURRENT_ROW_TIMESTAMP` is the wall clock per row.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`scalar_udfs`] and [`aggregate_udfs`] (what the planner can call), [`rewrite_calls`] |
//! | `scalar.rs` | [`KdaScalar`]: the one `ScalarUDFImpl` of rowtime's own scalar functions |
//! | `rowtime.rs` | `CURRENT_ROW_TIMESTAMP`, `join_rowtime()` |
//! | `exp_avg.rs` | `EXP_AVG` (computed by sliding windows only) |
//! | `monotonic.rs` | `MONOTONIC(x)`: the identity, read by the planner |
//! | `group_rank.rs` | the mark on `GROUP_RANK`'s rank column, read by the planner |
//! | `floor_elapsed.rs` | `FLOOR((ts - origin) SECOND / n TO SECOND)`, the N-second window idiom |
//! | `similar.rs` | `SIMILAR` patterns as regexes |
//! | `division.rs` | division by zero of REAL/DOUBLE is an error of the row |
//! | `cast.rs` | `CAST` to `CHAR(n)` (padded) and `VARCHAR(n)` (checked) |
//! | `extract.rs` | `EXTRACT(SECOND …)` with milliseconds |
//! | `overlay.rs` | `OVERLAY(s PLACING r FROM p [FOR n])` by KDA's table |
//! | `substring.rs` | `SUBSTRING`'s comma, regex and `SIMILAR … ESCAPE` forms |
//! | `regex_replace.rs` | `REGEX_REPLACE` with Java replacement syntax |
//! | `interval.rs` | interval ranges and interval arithmetic with numbers |
//! | `interval_qualifier.rs` | `(a - b) qualifier`; CAST and EXTRACT of intervals by their qualifier |
//! | `numeric.rs` | `MOD`, `CEILING` |
//! | `initcap.rs` | `INITCAP`, words delimited by spaces only |
//! | `exp.rs` | `EXP` with Java's (fdlibm's) results, through the `libm` crate |
//! | `like.rs` | `LIKE`: no escape character unless `ESCAPE` names one; bad escape sequences are errors of the row |
//! | `math_domain.rs` | `LN`, `LOG10`, `POWER` failing outside their domain, as KDA's do |
//! | `boolean.rs` | `ANY`, `EVERY` |
//! | `date_format.rs` | `TIMESTAMP_TO_CHAR`, `CHAR_TO_TIMESTAMP`, … with `SimpleDateFormat` letters |
//! | `log_parse.rs` | the log parsers: `REGEX_LOG_PARSE`, `W3C_LOG_PARSE`, `VARIABLE_COLUMN_LOG_PARSE`, `FAST_REGEX_LOG_PARSE`, `SYS_LOG_PARSE`, `FIXED_COLUMN_LOG_PARSE` |
//! | `fast_regex.rs` | `FAST_REGEX_LOG_PARSE`'s pattern language, matched without backtracking |
//!
//! Shape to imitate: `overlay.rs` (a [`KdaScalar`] with its body and tests). A function with a
//! test file: `tests/functions/`. Tests: `cargo test --lib functions`.

pub mod boolean;
pub mod cast;
pub mod date_format;
pub mod division;
pub mod exp;
pub mod exp_avg;
pub mod extract;
pub mod fast_regex;
pub mod floor_elapsed;
pub mod group_rank;
pub mod initcap;
pub mod like;
pub mod interval;
pub mod interval_qualifier;
pub mod log_parse;
pub mod math_domain;
pub mod monotonic;
pub mod numeric;
pub mod overlay;
pub mod regex_replace;
pub mod rowtime;
pub mod scalar;
pub mod similar;
pub mod substring;

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, ScalarUDFImpl, WindowUDF};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, ObjectNamePart, Query, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::dialect::{function_call, unnamed_args};
pub use exp_avg::ExpAvg;
pub use rowtime::{CURRENT_ROW_TIMESTAMP, JOIN_ROWTIME, RowtimeTyped};
pub use scalar::{KdaScalar, ScalarBody};
pub use similar::{similar_body, similar_to_regex};

/// Every scalar function a pump can call: DataFusion's, then rowtime's own.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    let mut all = SessionStateDefaults::default_scalar_functions();
    // KDA's LOCALTIME and LOCALTIMESTAMP are CURRENT_TIME and CURRENT_TIMESTAMP (all UTC).
    for (name, alias) in [("current_time", "localtime"), ("now", "localtimestamp")] {
        if let Some(f) = all.iter_mut().find(|f| f.name() == name) {
            *f = Arc::new(f.as_ref().clone().with_aliases([alias]));
        }
    }
    let ours = [
        RowtimeTyped::udf(JOIN_ROWTIME),
        RowtimeTyped::udf(CURRENT_ROW_TIMESTAMP),
        interval::IntervalTimes::udf(),
        extract::ExtractSecond::udf(),
        overlay::Overlay::udf(),
        cast::CastText::udf(),
        cast::AsText::udf(),
        regex_replace::RegexReplace::udf(),
        monotonic::Monotonic::udf(),
        floor_elapsed::FloorElapsed::udf(),
        group_rank::GroupRank::udf(),
        initcap::Initcap::udf(),
        like::Like::udf(),
        exp::Exp::udf(),
    ];
    all.extend(ours.into_iter().map(Arc::new));
    // After DataFusion's: the checked LN, LOG10 and POWER take their names.
    let checked = math_domain::DomainChecked::all(&all);
    let substr = substring::SubstrBytes::all(&all);
    for family in [
        checked,
        substr,
        interval_qualifier::udfs(),
        log_parse::LogParse::all(),
        substring::Substring::all(),
        date_format::DateFormatFunction::all(),
    ] {
        all.extend(family.into_iter().map(Arc::new));
    }
    all
}

/// DataFusion's function `name` among `functions`, wrapped by `wrap` (which takes its name).
pub(crate) fn wrapping<F: ScalarUDFImpl + 'static>(
    functions: &[Arc<ScalarUDF>],
    name: &str,
    wrap: impl FnOnce(Arc<ScalarUDF>) -> F,
) -> Option<ScalarUDF> {
    let inner = functions.iter().find(|f| f.name() == name)?;
    Some(ScalarUDF::new_from_impl(wrap(Arc::clone(inner))))
}

/// Every aggregate function: DataFusion's and `EXP_AVG`.
pub fn aggregate_udfs() -> Vec<Arc<AggregateUDF>> {
    let mut all = SessionStateDefaults::default_aggregate_functions();
    all.push(Arc::new(ExpAvg::udaf()));
    all
}

/// Every window function (DataFusion's).
pub fn window_udfs() -> Vec<Arc<WindowUDF>> {
    SessionStateDefaults::default_window_functions()
}

/// A rewrite that cannot be done: the message and where.
pub struct RewriteError {
    pub span: Span,
    pub message: String,
    pub help: String,
}

/// Rewrites every KDA call form of the query into the functions DataFusion plans.
pub fn rewrite_calls(query: &mut Query) -> Result<(), RewriteError> {
    interval_qualifier::rewrite(query)?;
    let flow = visit_expressions_mut(query, |expr| match rewrite(expr) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn unit_name(field: &DateTimeField) -> Option<&'static str> {
    Some(match field {
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Week(_) | DateTimeField::Weeks => "week",
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        _ => return None,
    })
}

/// `CAST(to_timestamp_millis(e) AS BIGINT)`: a timestamp (or BIGINT milliseconds) as BIGINT
/// milliseconds since the epoch.
fn epoch_millis(e: Expr) -> Expr {
    Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
        expr: Box::new(function_call("to_timestamp_millis", vec![e])),
        data_type: datafusion::sql::sqlparser::ast::DataType::BigInt(None),
        array: false,
        format: None,
    }
}

fn rewrite(expr: &mut Expr) -> Result<(), RewriteError> {
    use datafusion::sql::sqlparser::ast::Spanned;
    // Interval ranges (`'3 4' DAY TO HOUR`) and literal interval arithmetic (`interval.rs`).
    if interval::rewrite(expr) {
        return Ok(());
    }
    match expr {
        Expr::Interval(i) if i.last_field.is_some() => {
            return Err(RewriteError {
                span: expr.span(),
                message: format!("the interval {expr} does not match its fields"),
                help: "write YEAR TO MONTH as 'Y-M', DAY TO HOUR as 'D H', DAY TO MINUTE as 'D H:M', \
                       DAY TO SECOND as 'D H:M:S', HOUR TO MINUTE as 'H:M', HOUR TO SECOND as 'H:M:S' \
                       and MINUTE TO SECOND as 'M:S'"
                    .into(),
            });
        }
        Expr::Floor {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            let span = inner.span();
            let unit = unit_name(field).ok_or_else(|| RewriteError {
                span,
                message: format!("FLOOR(… TO {field}) is not supported"),
                help: "use one of YEAR, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND".into(),
            })?;
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = function_call(
                "date_trunc",
                vec![Expr::value(Value::SingleQuotedString(unit.into())), arg],
            );
        }
        Expr::Ceil {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            // The start of the unit containing ts, unless ts is already a start: then ts.
            let span = inner.span();
            let unit = unit_name(field).ok_or_else(|| RewriteError {
                span,
                message: format!("CEIL(… TO {field}) is not supported"),
                help: "use one of YEAR, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND".into(),
            })?;
            let step = match unit {
                "week" => "INTERVAL '7' DAY".to_string(),
                other => format!("INTERVAL '1' {}", other.to_uppercase()),
            };
            let arg = inner.to_string();
            let text = format!(
                "CASE WHEN date_trunc('{unit}', {arg}) = {arg} THEN date_trunc('{unit}', {arg}) \
                 ELSE date_trunc('{unit}', {arg}) + {step} END"
            );
            *expr = datafusion::sql::sqlparser::parser::Parser::new(&crate::dialect::KdaDialect)
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
                .map_err(|e| RewriteError {
                    span,
                    message: format!("CEIL(… TO {field}): {e}"),
                    help: "use FLOOR(… TO unit) plus one unit".into(),
                })?;
        }
        Expr::Cast {
            kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
            expr: inner,
            data_type,
            format: None,
            ..
        } if cast::text_length(data_type).is_some() => {
            let (length, pad) = cast::text_length(data_type).expect("checked by the guard");
            if !(1..=cast::MAX_LENGTH).contains(&length) {
                return Err(RewriteError {
                    span: inner.span(),
                    message: format!(
                        "CAST to {data_type}: the length must be 1 to {}",
                        cast::MAX_LENGTH
                    ),
                    help: "give CHAR or VARCHAR a length of 1 to 65534, as in a column's type"
                        .into(),
                });
            }
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = function_call(
                cast::CastText::NAME,
                vec![
                    function_call(cast::AsText::NAME, vec![arg]),
                    Expr::value(Value::Number(length.to_string(), false)),
                    Expr::value(Value::Boolean(pad)),
                ],
            );
        }
        Expr::Cast {
            kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
            expr: inner,
            data_type,
            format: None,
            ..
        } if cast::is_unbounded_varchar(data_type) => {
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = function_call(cast::AsText::NAME, vec![arg]);
        }
        Expr::Extract {
            field: DateTimeField::Second | DateTimeField::Seconds,
            expr: inner,
            ..
        } => {
            *expr = function_call(extract::ExtractSecond::NAME, vec![(**inner).clone()]);
        }
        Expr::Overlay {
            expr: target,
            overlay_what,
            overlay_from,
            overlay_for,
        } => {
            let mut args = vec![
                (**target).clone(),
                (**overlay_what).clone(),
                (**overlay_from).clone(),
            ];
            args.extend(overlay_for.as_deref().cloned());
            *expr = function_call(overlay::Overlay::NAME, args);
        }
        Expr::Substring {
            expr: text,
            substring_from: Some(from),
            substring_for,
            special,
            shorthand: false,
        } => {
            let regex_form = !*special
                && substring_for.is_none()
                && matches!(from.as_ref(), Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)));
            let mut args = vec![(**text).clone(), (**from).clone()];
            args.extend(substring_for.as_deref().cloned());
            // The FROM … FOR form is `substr`, by name, so that rowtime's (which takes binary
            // values too: substring.rs) answers rather than the one DataFusion's planner calls.
            let name = if regex_form {
                substring::REGEX
            } else if *special {
                substring::COMMA
            } else {
                "substr"
            };
            *expr = function_call(name, args);
        }
        Expr::Like {
            negated,
            any: false,
            expr: text,
            pattern,
            escape_char,
        } => {
            let mut args = vec![(**text).clone(), (**pattern).clone()];
            if let Some(e) = escape_char {
                args.push(Expr::Value(e.clone()));
            }
            let call = function_call(like::NAME, args);
            *expr = if *negated {
                Expr::UnaryOp {
                    op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                    expr: Box::new(Expr::Nested(Box::new(call))),
                }
            } else {
                call
            };
        }
        // KDA's per-row wall clock.
        Expr::Identifier(id) if id.quote_style.is_none() && id.value == "CURRENT_ROW_TIMESTAMP" => {
            *expr = function_call(CURRENT_ROW_TIMESTAMP, vec![]);
        }
        Expr::SimilarTo {
            pattern,
            escape_char: None,
            ..
        } => {
            if let Expr::Value(v) = pattern.as_mut()
                && let Value::SingleQuotedString(p) = &v.value
            {
                v.value = Value::SingleQuotedString(similar_to_regex(p));
            }
        }
        Expr::Function(f)
            if f.name.0.len() == 1
                && matches!(f.name.to_string().as_str(), "TSDIFF" | "MONOTONIC") =>
        {
            let name = f.name.to_string();
            let args: Vec<Expr> = unnamed_args(f);
            *expr = match (name.as_str(), args.as_slice()) {
                ("TSDIFF", [start, end]) => Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(epoch_millis(end.clone())),
                    op: BinaryOperator::Minus,
                    right: Box::new(epoch_millis(start.clone())),
                })),
                ("MONOTONIC", [x]) => function_call(monotonic::NAME, vec![x.clone()]),
                _ => {
                    return Err(RewriteError {
                        span: f.name.span(),
                        message: format!(
                            "{name} takes {}",
                            if name == "TSDIFF" {
                                "two arguments"
                            } else {
                                "one argument"
                            }
                        ),
                        help: "TSDIFF(start, end) or MONOTONIC(expression)".into(),
                    });
                }
            };
        }
        Expr::Function(f)
            if f.name.0.len() == 1
                && matches!(
                    f.name.to_string().as_str(),
                    "TO_TIMESTAMP" | "UNIX_TIMESTAMP"
                ) =>
        {
            let args = match &f.args {
                FunctionArguments::List(list) => list.args.clone(),
                _ => vec![],
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = args.as_slice() else {
                return Err(RewriteError {
                    span: f.name.span(),
                    message: format!("{} takes one argument", f.name),
                    help: "TO_TIMESTAMP(milliseconds BIGINT) or UNIX_TIMESTAMP(ts TIMESTAMP)"
                        .into(),
                });
            };
            *expr = if f.name.to_string() == "TO_TIMESTAMP" {
                function_call("to_timestamp_millis", vec![arg.clone()])
            } else {
                epoch_millis(arg.clone())
            };
        }
        Expr::Function(f) if numeric::rewrite_mod(f).is_some() => {
            let span = f.name.span();
            *expr = numeric::rewrite_mod(f)
                .expect("checked by the guard")
                .map_err(|message| RewriteError {
                    span,
                    message,
                    help: "write MOD(dividend, divisor)".into(),
                })?;
        }
        Expr::Function(f) => {
            let is_step = f.name.0.len() == 1 && f.name.to_string() == "STEP";
            if is_step {
                let span = f.name.span();
                let args: Vec<Expr> = unnamed_args(f);
                let [value, width] = <[Expr; 2]>::try_from(args).map_err(|_| RewriteError {
                    span,
                    message: "STEP takes a value and a width".into(),
                    help: "write STEP(s.ROWTIME BY INTERVAL '1' MINUTE) or STEP(x BY 10)".into(),
                })?;
                *expr = if matches!(width, Expr::Interval(_)) {
                    function_call("date_bin", vec![width, value])
                } else {
                    // Integer form: (x / n) * n.
                    Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(Expr::BinaryOp {
                            left: Box::new(value),
                            op: BinaryOperator::Divide,
                            right: Box::new(width.clone()),
                        }))),
                        op: BinaryOperator::Multiply,
                        right: Box::new(width),
                    }
                };
            } else if f.name.0.len() == 1
                && let ObjectNamePart::Identifier(ident) = &mut f.name.0[0]
                && ident.quote_style.is_none()
            {
                ident.value = match boolean::aggregate_name(&ident.value) {
                    Some(name) => name.to_string(),
                    None => ident.value.to_lowercase(),
                };
            }
        }
        _ => {}
    }
    Ok(())
}
