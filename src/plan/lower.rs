//! Lowering a pump's `LogicalPlan` node by node into operator specs: table scans (a pump reads a
//! stream), projection, filter, `SELECT STREAM DISTINCT`; windows (`window.rs`) and joins
//! (`join.rs`) have files of their own. Every physical expression is simplified, guarded against
//! division by zero and given KDA's rounding casts here.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::sql::sqlparser::tokenizer::Location;

use super::join::{JoinWindow, resolve_join_rowtime};
use super::monotonic::{column_key, is_output_rowtime};
use super::order::group_rank_call;
use super::pump::df_error;
use super::{OperatorSpec, PumpInput};
use crate::catalog::{Catalog, ROWTIME, nullable, with_rowtime};
use crate::error::{Error, Result, SourceText};
use crate::exec::distinct::DistinctSpec;
use crate::exec::filter::FilterSpec;
use crate::exec::monotonic::MonotonicKey;
use crate::exec::project::ProjectSpec;
use crate::exec::stream_join::StreamJoinSpec;
use crate::functions::JOIN_ROWTIME;
use crate::functions::division::checked_division;

/// KDA rounds approximate numbers cast to integers (`CAST(-1.77 AS INTEGER)` is -2); Arrow
/// truncates. Such casts get a `round` first, and so do casts of decimals with a fraction.
pub(crate) fn rounding_casts(e: &Expr, schema: &DFSchema) -> datafusion::error::Result<Expr> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{Cast, ExprSchemable};
    e.clone()
        .transform_up(|e| {
            let Expr::Cast(c) = &e else {
                return Ok(Transformed::no(e));
            };
            let to = c.field.data_type().clone();
            if to.is_integer()
                && matches!(
                    c.expr.get_type(schema)?,
                    DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, 1..)
                )
            {
                let rounded =
                    datafusion::functions::math::round().call(vec![c.expr.as_ref().clone()]);
                return Ok(Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(rounded),
                    to,
                ))));
            }
            Ok(Transformed::no(e))
        })
        .map(|t| t.data)
}

/// Expressions separated by commas, for `explain`.
pub(crate) fn listed<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> String {
    exprs
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expressions as DataFusion prints them, with intervals written the SQL way for `explain`.
pub(crate) fn shown(text: &str) -> String {
    const START: &str = "IntervalMonthDayNano(\"IntervalMonthDayNano { months: ";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(START) {
        out.push_str(&rest[..at]);
        let tail = &rest[at + START.len()..];
        let Some(end) = tail.find(" }\")") else { break };
        let fields: Vec<i64> = tail[..end]
            .split(", ")
            .filter_map(|f| f.rsplit(": ").next().and_then(|v| v.parse().ok()))
            .collect();
        let text = match fields.as_slice() {
            [m, 0, 0] if *m % 12 == 0 => format!("INTERVAL '{}' YEAR", m / 12),
            [m, 0, 0] => format!("INTERVAL '{m}' MONTH"),
            [0, d, 0] => format!("INTERVAL '{d}' DAY"),
            [0, 0, n] if n % 3_600_000_000_000 == 0 => {
                format!("INTERVAL '{}' HOUR", n / 3_600_000_000_000)
            }
            [0, 0, n] if n % 60_000_000_000 == 0 => {
                format!("INTERVAL '{}' MINUTE", n / 60_000_000_000)
            }
            [0, 0, n] if n % 1_000_000 == 0 => format!("INTERVAL '{}' SECOND", *n as f64 / 1e9),
            _ => tail[..end].to_string(),
        };
        out.push_str(&text);
        rest = &tail[end + 4..];
    }
    out.push_str(rest);
    out
}

pub(crate) struct Lowering<'a> {
    pub(crate) src: &'a SourceText,
    pub(crate) catalog: &'a Catalog,
    pub(crate) pump: &'a str,
    /// Where errors point: the query, its GROUP BY, its first JOIN, …
    pub(crate) at: Location,
    pub(crate) group_by_at: Location,
    pub(crate) join_at: Location,
    /// The first `ORDER BY` expression, and the first windowed aggregate (`AVG(x) OVER (…)`).
    pub(crate) order_by_at: Location,
    pub(crate) window_at: Location,
    /// `WINDOWED BY STAGGER`: the window length (its keys are the GROUP BY).
    pub(crate) stagger_ms: Option<i64>,
    /// `COUNT_DISTINCT_ITEMS_TUMBLING`: its subquery counts DISTINCT values.
    pub(crate) count_distinct: bool,
    /// `ORDER BY … WITHIN interval` (a T-sort): the interval's milliseconds and where it is.
    pub(crate) tsort: Option<(i64, Location)>,
    /// `TABLE(RANDOM_CUT_FOREST(…))`, its explanation form or `HOTSPOTS`: the call's arguments.
    pub(crate) machine_learning: Option<crate::dialect::MachineLearningCall>,
    pub(crate) ops: Vec<OperatorSpec>,
    /// `FROM stream OVER (…)`: the windows of a stream-to-stream join.
    pub(crate) windows: Vec<JoinWindow>,
    /// The stream-to-stream join of the branch being lowered, with its two inputs.
    pub(crate) join: Option<(Arc<StreamJoinSpec>, Vec<PumpInput>)>,
    pub(crate) props: ExecutionProps,
}

pub(crate) fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip(&a.expr),
        Expr::Cast(c) => strip(&c.expr),
        Expr::TryCast(c) => strip(&c.expr),
        other => other,
    }
}

/// Whether output column `i` of the query is the input's ROWTIME, unchanged.
pub(crate) fn selects_input_rowtime(query: &LogicalPlan, i: usize) -> bool {
    match query {
        LogicalPlan::Projection(p) => match &p.expr[i] {
            Expr::Column(c) => c.name == ROWTIME,
            // Unqualified ROWTIME where it is the output row's (`rewrite.rs`), as it is.
            Expr::Alias(a) => {
                a.name == ROWTIME
                    && matches!(a.expr.as_ref(), Expr::ScalarFunction(f) if f.func.name() == JOIN_ROWTIME)
            }
            _ => false,
        },
        LogicalPlan::Union(u) => u.inputs.iter().all(|b| selects_input_rowtime(b, i)),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            selects_input_rowtime(input, i)
        }
        LogicalPlan::Sort(s) => selects_input_rowtime(&s.input, i),
        _ => false,
    }
}

pub(crate) fn is_rowtime_column(e: &Expr) -> bool {
    match strip(e) {
        Expr::Column(c) => c.name == ROWTIME,
        // Unqualified ROWTIME in a stream-to-stream join: the joined row's.
        Expr::ScalarFunction(f) => f.func.name() == JOIN_ROWTIME,
        _ => false,
    }
}

impl Lowering<'_> {
    pub(crate) fn reject(&self, message: impl Into<String>, help: impl Into<String>) -> Error {
        self.reject_at(self.at, message, help)
    }

    pub(crate) fn reject_at(
        &self,
        at: Location,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Error {
        self.src.error_at(at, message).with_help(help).into_error()
    }

    pub(crate) fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        let e = rounding_casts(e, schema).map_err(|err| df_error(self.src, err, self.at))?;
        // Some functions exist only to be rewritten by the simplifier (COALESCE becomes CASE),
        // which also folds constants. If it fails (say on `1 / 0`), the rows report it instead.
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .with_query_execution_start_time(self.props.query_execution_start_time)
            .build();
        let e = ExprSimplifier::new(context)
            .simplify(e.clone())
            .unwrap_or(e);
        create_physical_expr(&e, schema, &self.props, &PhysicalPlanningContext::default())
            .and_then(|p| checked_division(p, schema.as_arrow()))
            .and_then(|p| resolve_join_rowtime(p, schema.fields().len()))
            .map_err(|err| df_error(self.src, err, self.at))
    }

    /// `SELECT STREAM DISTINCT` over `input`: every column compared but the unqualified ROWTIME,
    /// and a monotonic one among them (a step function of ROWTIME first) to forget rows by.
    fn distinct(&self, input: &LogicalPlan) -> Result<DistinctSpec> {
        let mut compared = Vec::new();
        let mut forget_by: Option<(usize, MonotonicKey)> = None;
        let mut selects_rowtime = false;
        for i in 0..input.schema().fields().len() {
            if is_output_rowtime(input, i) {
                selects_rowtime = true;
                continue;
            }
            compared.push(i);
            match (column_key(input, i), &forget_by) {
                (
                    Some(key @ MonotonicKey::Rowtime(_)),
                    None | Some((_, MonotonicKey::Declared)),
                )
                | (Some(key @ MonotonicKey::Declared), None) => forget_by = Some((i, key)),
                _ => {}
            }
        }
        if forget_by.is_none() && !selects_rowtime {
            return Err(self.reject(
                "SELECT STREAM DISTINCT needs a monotonic expression among its columns: without one, no row could ever be forgotten",
                "select one such as FLOOR(s.ROWTIME TO MINUTE) or s.ROWTIME, or MONOTONIC(column)",
            ));
        }
        Ok(DistinctSpec {
            schema: with_rowtime(&nullable(input.schema().as_arrow())),
            compared,
            forget_by,
        })
    }

    /// Lowers `plan`, appending its stages; returns the stream it reads.
    pub(crate) fn lower(&mut self, plan: &LogicalPlan) -> Result<usize> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                if let Some((i, _)) = self.catalog.stream(name) {
                    return Ok(i);
                }
                Err(self.reject(
                    format!("reference table `{name}` is read on its own; a pump must read a stream"),
                    format!("join it to a stream: FROM \"SOURCE_SQL_STREAM_001\" JOIN \"{name}\" ON …"),
                ))
            }
            LogicalPlan::SubqueryAlias(a) => self.lower(&a.input),
            LogicalPlan::Filter(f) => {
                let source = self.lower(&f.input)?;
                let predicate = self.physical(&f.predicate, f.input.schema())?;
                self.ops.push(OperatorSpec::Filter(Arc::new(FilterSpec {
                    predicate,
                    display: shown(&f.predicate.to_string()),
                    visible: f.input.schema().fields().len(),
                    pump: self.pump.to_string(),
                })));
                Ok(source)
            }
            LogicalPlan::Projection(p) if super::machine_learning::computes_stand_in(p) => {
                self.lower_machine_learning(p)
            }
            LogicalPlan::Projection(p) => {
                let source = self.lower(&p.input)?;
                // GROUP_RANK's rank column is computed after the projection, in its place.
                let rank = group_rank_call(p);
                let exprs = p.expr.iter().enumerate().map(|(i, e)| match &rank {
                    Some((at, _)) if *at == i => self.physical(&Expr::Literal(datafusion::common::ScalarValue::Int32(None), None), p.input.schema()),
                    _ => self.physical(e, p.input.schema()),
                }).collect::<Result<Vec<_>>>()?;
                self.ops.push(OperatorSpec::Project(Arc::new(ProjectSpec {
                    exprs,
                    schema: with_rowtime(&nullable(p.schema.as_arrow())),
                    display: p.expr.iter().map(|e| shown(&e.to_string())).collect(),
                    visible: p.input.schema().fields().len(),
                    pump: self.pump.to_string(),
                })));
                if let Some((at, args)) = rank {
                    self.lower_group_rank(p, at, &args)?;
                }
                Ok(source)
            }
            LogicalPlan::Aggregate(a) => {
                let source = self.lower(&a.input)?;
                self.lower_aggregate(a)?;
                Ok(source)
            }
            LogicalPlan::Join(j) => self.lower_join(j),
            LogicalPlan::Window(w) => {
                let source = self.lower(&w.input)?;
                self.lower_window(w)?;
                Ok(source)
            }
            LogicalPlan::Union(_) => Err(self.reject("a UNION ALL under an aggregate, a window or a join is not supported", "write the UNION ALL into a stream of its own with a pump, and aggregate, window or join in a pump that reads that stream")),
            LogicalPlan::Sort(s) if matches!(s.input.as_ref(), LogicalPlan::Union(_)) => Err(self.reject(
                "a T-sort (ORDER BY … WITHIN) over a UNION ALL is not supported",
                "T-sort each input in a pump of its own, or write the UNION ALL into a stream and T-sort in a pump that reads it",
            )),
            LogicalPlan::Sort(s) => {
                let source = self.lower(&s.input)?;
                self.lower_sort(s)?;
                Ok(source)
            }
            LogicalPlan::Limit(_) => Err(self.reject("LIMIT and FETCH cannot be used on a stream", "remove LIMIT")),
            LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
                let source = self.lower(input)?;
                let spec = self.distinct(input)?;
                self.ops.push(OperatorSpec::Distinct(Arc::new(spec)));
                Ok(source)
            }
            LogicalPlan::Distinct(_) => Err(self.reject("SELECT DISTINCT ON on a stream is not supported", "use SELECT STREAM DISTINCT with the columns, ROWTIME among them")),
            LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
                Err(self.reject("a pump's query must read a stream", "add FROM \"SOURCE_SQL_STREAM_001\" (or another stream)"))
            }
            other => Err(self.reject(
                format!("this query shape is not supported in a pump: {}", other.display()),
                "pumps support projection, WHERE, GROUP BY with a ROWTIME window, HAVING and joins with reference tables",
            )),
        }
    }
}
