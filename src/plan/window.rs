//! Windows: a streaming `GROUP BY` with one ROWTIME window (tumbling), `WINDOWED BY STAGGER`,
//! and aggregates `OVER` a sliding window. Each form is recognised by a small function; anything
//! else is rejected with what to write instead.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
#[allow(deprecated)] // its replacement (LoweredAggregateBuilder) is not public API yet in 55.2
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;

use super::OperatorSpec;
use super::lower::{Lowering, is_rowtime_column, listed, shown, strip};
use super::monotonic::monotonic_key;
use super::pump::{describe_type, df_error};
use crate::catalog::{ROWTIME, nullable, with_rowtime};
use crate::error::Result;
use crate::exec::monotonic::MonotonicKey;
use crate::exec::sliding::{Frame, SlidingAggregate, SlidingFunction, SlidingSpec};
use crate::exec::stagger::StaggerSpec;
use crate::exec::tumbling::TumblingSpec;
use crate::time::interval_ms;

/// A windowed aggregate's aggregate functions and their `FILTER (WHERE …)` clauses.
pub(crate) type AggregatesAndFilters = (
    Vec<Arc<datafusion::physical_expr::aggregate::AggregateFunctionExpr>>,
    Vec<Option<Arc<dyn PhysicalExpr>>>,
);

/// Mentions ROWTIME (directly or inside a function) — a window-like key that is not supported.
pub(crate) fn mentions_rowtime(e: &Expr) -> bool {
    e.column_refs().iter().any(|c| c.name == ROWTIME)
}

/// The GROUP BY expressions without repeats, in order: the aggregate's output has one column
/// for each distinct expression (DataFusion drops a repeated one from its schema, and only
/// there), so `GROUP BY T, STEP(…), T` has two keys.
fn distinct_group_exprs(a: &datafusion::logical_expr::Aggregate) -> Vec<&Expr> {
    let mut distinct: Vec<&Expr> = Vec::with_capacity(a.group_expr.len());
    for g in &a.group_expr {
        if !distinct.contains(&g) {
            distinct.push(g);
        }
    }
    distinct
}

impl Lowering<'_> {
    pub(crate) fn lower_aggregate(
        &mut self,
        a: &datafusion::logical_expr::Aggregate,
    ) -> Result<()> {
        if let Some(length) = self.stagger_ms {
            return self.lower_stagger(a, length);
        }
        let input_schema = a.input.schema();
        let mut window: Option<(usize, &Expr, MonotonicKey)> = None;
        let mut keys: Vec<(usize, &Expr)> = Vec::new();
        for (i, g) in distinct_group_exprs(a).into_iter().enumerate() {
            if matches!(g, Expr::GroupingSet(_)) {
                return Err(self.reject_at(
                    self.group_by_at,
                    "GROUPING SETS, CUBE and ROLLUP are not supported on streams",
                    "group by plain expressions",
                ));
            }
            match monotonic_key(g, &a.input) {
                Some(key) => {
                    if window.is_some() {
                        return Err(self.reject_at(self.group_by_at,
                            "a GROUP BY clause uses multiple ROWTIME columns",
                            "group by exactly one monotonic expression, e.g. STEP(s.ROWTIME BY INTERVAL '1' MINUTE)",
                        ));
                    }
                    window = Some((i, g, key));
                }
                None if mentions_rowtime(g) => {
                    return Err(self.reject_at(self.group_by_at,
                        format!("the GROUP BY expression `{}` uses ROWTIME but is not a supported window", shown(&g.to_string())),
                        "use STEP(s.ROWTIME BY INTERVAL 'n' unit), FLOOR(s.ROWTIME TO unit), CEIL(s.ROWTIME TO unit) or s.ROWTIME plus a day-time interval",
                    ));
                }
                None => keys.push((i, g)),
            }
        }
        let Some((window_position, window_expr, key)) = window else {
            return Err(self.reject_at(self.group_by_at,
                "a streaming GROUP BY needs a ROWTIME window: without one, groups would never close",
                "add a window to GROUP BY, e.g. STEP(s.ROWTIME BY INTERVAL '1' MINUTE) or FLOOR(s.ROWTIME TO MINUTE), or declare a key with MONOTONIC(expr)",
            ));
        };
        let (aggregates, filters) = self.aggregates(a)?;
        let schema = with_rowtime(&nullable(a.schema.as_arrow()));
        let key_schema = Arc::new(Schema::new(
            keys.iter()
                .map(|(i, _)| {
                    Field::new(format!("k{i}"), schema.field(*i).data_type().clone(), true)
                })
                .collect::<Vec<_>>(),
        ));
        let display = shown(&format!(
            "window {window_expr}, group by [{}], aggregates [{}]",
            listed(keys.iter().map(|(_, k)| *k)),
            listed(&a.aggr_expr)
        ));
        let spec = TumblingSpec {
            window: self.physical(window_expr, input_schema)?,
            key,
            window_position,
            keys: keys
                .iter()
                .map(|(_, k)| self.physical(k, input_schema))
                .collect::<Result<_>>()?,
            key_positions: keys.iter().map(|(i, _)| *i).collect(),
            key_schema,
            aggregates,
            filters,
            schema,
            display,
            top_k: None,
        };
        self.ops.push(OperatorSpec::Tumbling(Arc::new(spec)));
        Ok(())
    }

    /// The aggregates of a windowed aggregate, checked (no DISTINCT, no ordered aggregates).
    pub(crate) fn aggregates(
        &self,
        a: &datafusion::logical_expr::Aggregate,
    ) -> Result<AggregatesAndFilters> {
        let input_schema = a.input.schema();
        let mut aggregates = Vec::new();
        let mut filters = Vec::new();
        for e in &a.aggr_expr {
            if let Expr::AggregateFunction(f) = strip(e)
                && f.params.distinct
                && !self.count_distinct
            {
                return Err(self.reject_at(
                    self.group_by_at,
                    format!(
                        "{} with DISTINCT is not allowed in a windowed aggregate",
                        f.func.name().to_uppercase()
                    ),
                    "remove DISTINCT (KDA rejects COUNT(DISTINCT …) in streaming GROUP BY)",
                ));
            }
            // SQLREF first-value.html: "FIRST_VALUE requires the OVER clause" (LAST_VALUE too).
            if let Expr::AggregateFunction(f) = strip(e)
                && matches!(f.func.name(), "first_value" | "last_value")
            {
                let name = f.func.name().to_uppercase();
                return Err(self.reject_at(
                    super::pump::locate_call(self.src, self.at, &name),
                    format!("{name} needs OVER: it is an analytic function, not an aggregate of a GROUP BY"),
                    format!("write {name}(x) OVER (RANGE INTERVAL '1' MINUTE PRECEDING), or use MIN(x) or MAX(x) in the GROUP BY"),
                ));
            }
            if let Expr::AggregateFunction(f) = strip(e)
                && f.func.name() == crate::functions::ExpAvg::NAME
            {
                return Err(self.reject_at(
                    self.group_by_at,
                    "EXP_AVG works only over a sliding window",
                    "write EXP_AVG(x, INTERVAL '10' SECOND) OVER (RANGE INTERVAL '1' MINUTE PRECEDING)",
                ));
            }
            #[allow(deprecated)]
            let (agg, filter, ordering) = create_aggregate_expr_and_maybe_filter(
                e,
                input_schema,
                input_schema.as_arrow(),
                &self.props,
            )
            .map_err(|err| df_error(self.src, err, self.at))?;
            if !ordering.is_empty() {
                return Err(self.reject(
                    "ordered aggregates (WITHIN GROUP / ORDER BY) are not supported",
                    "remove the ORDER BY inside the aggregate",
                ));
            }
            aggregates.push(agg);
            filters.push(filter);
        }
        Ok((aggregates, filters))
    }

    pub(crate) fn lower_stagger(
        &mut self,
        a: &datafusion::logical_expr::Aggregate,
        length: i64,
    ) -> Result<()> {
        let input_schema = a.input.schema();
        if a.group_expr
            .iter()
            .any(|g| matches!(g, Expr::GroupingSet(_)))
        {
            return Err(self.reject(
                "GROUPING SETS cannot be used with STAGGER",
                "list the partition keys",
            ));
        }
        let (aggregates, filters) = self.aggregates(a)?;
        let schema = with_rowtime(&nullable(a.schema.as_arrow()));
        let group_expr = distinct_group_exprs(a);
        let mut group_fields: Vec<Field> = (0..group_expr.len())
            .map(|i| Field::new(format!("k{i}"), schema.field(i).data_type().clone(), true))
            .collect();
        group_fields.push(Field::new("open", crate::catalog::rowtime_type(), false));
        let display = shown(&format!(
            "partition by [{}], aggregates [{}]",
            listed(group_expr.iter().copied()),
            listed(&a.aggr_expr)
        ));
        let spec = StaggerSpec {
            length,
            keys: group_expr
                .iter()
                .map(|k| self.physical(k, input_schema))
                .collect::<Result<_>>()?,
            group_schema: Arc::new(Schema::new(group_fields)),
            aggregates,
            filters,
            schema,
            display,
        };
        self.ops.push(OperatorSpec::Stagger(Arc::new(spec)));
        Ok(())
    }

    pub(crate) fn lower_window(&mut self, w: &datafusion::logical_expr::Window) -> Result<()> {
        use datafusion::logical_expr::{WindowFrameBound, WindowFrameUnits};
        let input_schema = w.input.schema();
        let input_visible = input_schema.fields().len();
        let mut aggregates = Vec::new();
        for (k, e) in w.window_expr.iter().enumerate() {
            let Expr::WindowFunction(f) = strip(e) else {
                return Err(self.reject_at(
                    self.window_at,
                    format!("`{e}` is not a window function"),
                    "use an aggregate OVER a window",
                ));
            };
            let name = f.fun.name().to_lowercase();
            let function = match name.as_str() {
                "sum" => SlidingFunction::Sum,
                "count" => SlidingFunction::Count,
                "avg" => SlidingFunction::Avg,
                "min" => SlidingFunction::Min,
                "max" => SlidingFunction::Max,
                "first_value" => SlidingFunction::FirstValue,
                "last_value" => SlidingFunction::LastValue,
                "var_pop" => SlidingFunction::VarPop,
                "var" | "var_samp" => SlidingFunction::VarSamp,
                "stddev_pop" => SlidingFunction::StddevPop,
                "stddev" | "stddev_samp" => SlidingFunction::StddevSamp,
                "lag" | "nth_value" | "exp_avg" => {
                    let lit = |i: usize| {
                        match f.params.args.get(i).map(strip) {
                        None => Ok(None),
                        Some(Expr::Literal(v, _)) => Ok(Some(v.clone())),
                        Some(Expr::Negative(e)) => match strip(e) {
                            Expr::Literal(v, _) => Ok(v.arithmetic_negate().ok()),
                            other => Err(self.reject_at(
                    self.window_at,

                                format!("{}: `-{other}` must be a literal", name.to_uppercase()),
                                "write LAG(x, 1, 0) or NTH_VALUE(x, 2) with literal numbers",
                            )),
                        },
                        Some(other) => Err(self.reject_at(
                    self.window_at,

                            format!("{}: `{other}` must be a literal", name.to_uppercase()),
                            "write LAG(x, 1, 0), NTH_VALUE(x, 2) or EXP_AVG(x, INTERVAL '10' SECOND) with literals",
                        )),
                    }
                    };
                    let count = |v: Option<ScalarValue>, default: i64| -> Result<i64> {
                        match v {
                            None => Ok(default),
                            Some(v) => match v.cast_to(&DataType::Int64) {
                                Ok(ScalarValue::Int64(Some(n))) => Ok(n),
                                _ => Err(self.reject_at(
                                    self.window_at,
                                    format!("{}: `{v}` is not a row count", name.to_uppercase()),
                                    "use a whole number",
                                )),
                            },
                        }
                    };
                    match name.as_str() {
                        "lag" => {
                            let offset = count(lit(1)?, 1)?;
                            if offset < 0 {
                                return Err(self.reject_at(
                                    self.window_at,
                                    format!("LAG: offset {offset} is negative"),
                                    "LAG looks back: use an offset of 0 or more",
                                ));
                            }
                            let default = lit(2)?.filter(|v| !v.is_null());
                            SlidingFunction::Lag {
                                offset: offset as usize,
                                default,
                            }
                        }
                        "nth_value" => {
                            // FROM LAST arrives as a negative n (see `dialect/tokens.rs`).
                            let n = count(lit(1)?, 1)?;
                            if n == 0 {
                                return Err(self.reject_at(
                                    self.window_at,
                                    "NTH_VALUE: n must be 1 or more",
                                    "NTH_VALUE(x, 1) is the first value",
                                ));
                            }
                            SlidingFunction::NthValue {
                                n: n.unsigned_abs() as usize,
                                from_last: n < 0,
                            }
                        }
                        _ => match lit(1)?.as_ref().and_then(interval_ms) {
                            Some(ms) if ms > 0 => SlidingFunction::ExpAvg { half_life_ms: ms },
                            _ => {
                                return Err(self.reject_at(
                    self.window_at,

                                    "EXP_AVG needs a positive half-life: EXP_AVG(x, INTERVAL 'n' unit)",
                                    "write EXP_AVG(x, INTERVAL '10' SECOND) OVER (…)",
                                ));
                            }
                        },
                    }
                }
                other => {
                    return Err(self.reject_at(
                    self.window_at,

                        format!(
                            "{} over a sliding window is not supported yet",
                            other.to_uppercase()
                        ),
                        "sliding windows support SUM, COUNT, AVG, MIN, MAX, FIRST_VALUE, LAST_VALUE, NTH_VALUE, LAG, EXP_AVG, VAR_POP, VAR_SAMP, STDDEV_POP and STDDEV_SAMP",
                    ));
                }
            };
            let p = &f.params;
            let ignore_nulls = p.null_treatment
                == Some(datafusion::logical_expr::expr::NullTreatment::IgnoreNulls);
            if ignore_nulls
                && !matches!(
                    function,
                    SlidingFunction::FirstValue
                        | SlidingFunction::LastValue
                        | SlidingFunction::Lag { .. }
                        | SlidingFunction::NthValue { .. }
                )
            {
                return Err(self.reject_at(
                    self.window_at,

                    format!("{}(…) IGNORE NULLS is not allowed", name.to_uppercase()),
                    "IGNORE NULLS applies to FIRST_VALUE, LAST_VALUE, NTH_VALUE and LAG (aggregates skip NULLs anyway)",
                ));
            }
            if p.distinct {
                return Err(self.reject_at(
                    self.window_at,
                    format!(
                        "{}(DISTINCT …) is not allowed in a windowed aggregate",
                        name.to_uppercase()
                    ),
                    "remove DISTINCT",
                ));
            }
            if p.order_by.len() != 1
                || !is_rowtime_column(&p.order_by[0].expr)
                || !p.order_by[0].asc
            {
                return Err(self.reject_at(
                    self.window_at,

                    "a sliding window is ordered by ROWTIME; ORDER BY is not allowed in a windowed aggregate",
                    "remove ORDER BY from the window",
                ));
            }
            let frame = &p.window_frame;
            if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
                return Err(self.reject_at(
                    self.window_at,
                    "a sliding window must end at the current row",
                    "write RANGE INTERVAL 'n' unit PRECEDING or ROWS n PRECEDING",
                ));
            }
            let frame = match (&frame.units, &frame.start_bound) {
                (_, WindowFrameBound::Preceding(v)) if v.is_null() => Frame::Range(i64::MAX),
                (WindowFrameUnits::Range, WindowFrameBound::CurrentRow) => Frame::Range(0),
                (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow) => Frame::Rows(0),
                (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) => match interval_ms(v) {
                    Some(ms) => Frame::Range(ms),
                    None => {
                        return Err(self.reject_at(
                    self.window_at,

                            format!("RANGE {v} PRECEDING is not supported: the range must be a day-time INTERVAL"),
                            "write RANGE INTERVAL '1' HOUR PRECEDING",
                        ));
                    }
                },
                (
                    WindowFrameUnits::Rows,
                    WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n))),
                ) => Frame::Rows(*n),
                _ => {
                    return Err(self.reject_at(
                        self.window_at,
                        "this window frame is not supported",
                        "write RANGE INTERVAL 'n' unit PRECEDING or ROWS n PRECEDING",
                    ));
                }
            };
            let argument = match p.args.first() {
                Some(a) => self.physical(a, input_schema)?,
                None => self.physical(&datafusion::logical_expr::lit(1i64), input_schema)?,
            };
            let output_type = w.schema.field(input_visible + k).data_type().clone();
            let argument_type = argument
                .data_type(input_schema.as_arrow())
                .map_err(|e| df_error(self.src, e, self.at))?;
            let numeric = argument_type.is_numeric();
            if !numeric && (function.sums() || matches!(function, SlidingFunction::ExpAvg { .. })) {
                return Err(self.reject_at(
                    self.window_at,
                    format!(
                        "{} of a {} over a sliding window",
                        name.to_uppercase(),
                        describe_type(&argument_type)
                    ),
                    "SUM, AVG, EXP_AVG and the variances take numbers",
                ));
            }
            // LAG's default takes the argument's type (for numbers, it is kept as a DOUBLE).
            let function = match function {
                SlidingFunction::Lag {
                    offset,
                    default: Some(d),
                } if !numeric => SlidingFunction::Lag {
                    offset,
                    default: Some(d.cast_to(&argument_type).map_err(|_| {
                        self.reject_at(
                            self.window_at,
                            format!(
                                "LAG's default `{d}` is not a {}",
                                describe_type(&argument_type)
                            ),
                            "give a default of the argument's type",
                        )
                    })?),
                },
                other => other,
            };
            aggregates.push(SlidingAggregate {
                function,
                ignore_nulls,
                numeric,
                argument,
                partition_by: p
                    .partition_by
                    .iter()
                    .map(|e| self.physical(e, input_schema))
                    .collect::<Result<_>>()?,
                frame,
                output_type,
                display: shown(&e.to_string()),
            });
        }
        self.ops.push(OperatorSpec::Sliding(Arc::new(SlidingSpec {
            aggregates,
            input_visible,
            schema: with_rowtime(&nullable(w.schema.as_arrow())),
        })));
        Ok(())
    }
}
