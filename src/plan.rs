//! The planner: application statements + catalog → a dataflow of operator specs.
//!
//! Each pump's query is planned by DataFusion's SQL planner (with KDA's identifier rules and
//! functions, see `functions.rs`) into a `LogicalPlan`, type-checked by DataFusion's analyzer,
//! and then lowered node by node into streaming operators: projection, filter, tumbling window
//! (`GROUP BY`), lookup join with a reference table, insert into the target stream. Anything
//! that has no streaming meaning yet is rejected here, with its location and what to do instead.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{BinaryExpr, Expr, JoinType, LogicalPlan, Operator as LogicalOp};
use datafusion::optimizer::analyzer::Analyzer;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
#[allow(deprecated)] // its replacement (LoweredAggregateBuilder) is not public API yet in 55.2
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;
use datafusion::sql::planner::{ParserOptions, SqlToRel};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

use crate::catalog::{
    Catalog, ERROR_STREAM, ROWTIME, Resolver, StreamDef, StreamKind, TableDef, UNKNOWN_RELATION,
};
use crate::create_function::{CreateFunction, expand as expand_functions};
use crate::dialect::{
    AppStatement, CreatePump, CreateStream, SourceText, WindowedTableFunction, join_window_text_ms,
};
use crate::error::{Error, Result};
use crate::exec::distinct::{Distinct, DistinctSpec};
use crate::exec::division::checked_division;
use crate::exec::filter::{Filter, FilterSpec};
use crate::exec::insert::{Insert, InsertSpec};
use crate::exec::lookup_join::{LookupJoin, LookupJoinSpec, LookupJoinType};
use crate::exec::project::{Project, ProjectSpec};
use crate::exec::sliding::{Frame, Sliding, SlidingAggregate, SlidingFunction, SlidingSpec};
use crate::exec::stagger::{Stagger, StaggerSpec};
use crate::exec::stream_join::{StreamJoinSpec, StreamJoinType, resolve_join_rowtime};
use crate::exec::tumbling::{Tumbling, TumblingSpec, WindowWidth};
use crate::exec::{Operator, nullable, with_rowtime};
use crate::functions::{
    exclude_rowtime_from_wildcards, expose_rowtime_of_derived_tables, name_select_expressions,
    order_windows_by_rowtime, rewrite_kda_functions, take_named_window,
    unqualified_rowtime_of_join,
};
use crate::types::SqlType;

/// One stage of a pump.
#[derive(Debug, Clone)]
pub enum OperatorSpec {
    Filter(Arc<FilterSpec>),
    Project(Arc<ProjectSpec>),
    Tumbling(Arc<TumblingSpec>),
    LookupJoin(Arc<LookupJoinSpec>),
    Insert(Arc<InsertSpec>),
    Sliding(Arc<SlidingSpec>),
    Stagger(Arc<StaggerSpec>),
    Distinct(Arc<DistinctSpec>),
}

impl OperatorSpec {
    /// Builds the running operator; `tables` holds the loaded reference tables by name.
    pub fn build(&self, tables: &HashMap<String, RecordBatch>) -> Result<Box<dyn Operator>> {
        Ok(match self {
            OperatorSpec::Filter(s) => Box::new(Filter::new(Arc::clone(s))),
            OperatorSpec::Project(s) => Box::new(Project::new(Arc::clone(s))),
            OperatorSpec::Tumbling(s) => Box::new(Tumbling::new(Arc::clone(s))?),
            OperatorSpec::LookupJoin(s) => {
                let table = tables.get(&s.table).ok_or_else(|| {
                    Error::Application(format!("reference table {} was not loaded", s.table))
                })?;
                Box::new(LookupJoin::new(Arc::clone(s), table.clone())?)
            }
            OperatorSpec::Insert(s) => Box::new(Insert::new(Arc::clone(s))),
            OperatorSpec::Sliding(s) => Box::new(Sliding::new(Arc::clone(s))),
            OperatorSpec::Stagger(s) => Box::new(Stagger::new(Arc::clone(s))?),
            OperatorSpec::Distinct(s) => Box::new(Distinct::new(s)?),
        })
    }
}

impl fmt::Display for OperatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorSpec::Filter(s) => s.fmt(f),
            OperatorSpec::Project(s) => s.fmt(f),
            OperatorSpec::Tumbling(s) => s.fmt(f),
            OperatorSpec::LookupJoin(s) => s.fmt(f),
            OperatorSpec::Insert(s) => s.fmt(f),
            OperatorSpec::Sliding(s) => s.fmt(f),
            OperatorSpec::Stagger(s) => s.fmt(f),
            OperatorSpec::Distinct(s) => s.fmt(f),
        }
    }
}

/// A planned pump: reads one stream (or two, joined), runs its stages, writes one stream.
#[derive(Debug, Clone)]
pub struct PumpPlan {
    pub name: String,
    /// The name in the CREATE PUMP statement (branches of a UNION ALL share it).
    pub statement: String,
    /// The streams it reads, each with the stages that run on that input alone.
    pub inputs: Vec<PumpInput>,
    /// With two inputs: the stream-to-stream join that combines them.
    pub join: Option<Arc<StreamJoinSpec>>,
    pub target: usize,
    /// The stages after the join (or after the only input's own stages).
    pub ops: Vec<OperatorSpec>,
}

/// One stream a pump reads, and the stages that run on its rows before they meet the other input.
#[derive(Debug, Clone)]
pub struct PumpInput {
    pub source: usize,
    pub ops: Vec<OperatorSpec>,
}

impl PumpPlan {
    /// Whether the pump reads `stream`.
    pub fn reads(&self, stream: usize) -> bool {
        self.inputs.iter().any(|i| i.source == stream)
    }
}

/// The application's dataflow.
#[derive(Debug, Clone)]
pub struct Plan {
    pub catalog: Catalog,
    pub pumps: Vec<PumpPlan>,
}

impl Plan {
    /// Pumps in an order where every pump comes after the pumps that write its source.
    pub fn pump_order(&self) -> Vec<usize> {
        let mut order = Vec::new();
        let mut done = vec![false; self.pumps.len()];
        while order.len() < self.pumps.len() {
            for (i, p) in self.pumps.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let waiting = self
                    .pumps
                    .iter()
                    .enumerate()
                    .any(|(j, q)| !done[j] && j != i && p.reads(q.target));
                if !waiting {
                    done[i] = true;
                    order.push(i);
                }
            }
        }
        order
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = |cols: &[(String, SqlType)]| {
            cols.iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for s in &self.catalog.streams {
            let kind = match s.kind {
                StreamKind::Source => "source stream",
                StreamKind::Created => "stream",
                StreamKind::Error => "error stream",
            };
            writeln!(
                f,
                "{kind} {} ({}, ROWTIME TIMESTAMP)",
                s.name,
                columns(&s.columns)
            )?;
        }
        for t in &self.catalog.tables {
            let cols: Vec<String> = t
                .schema
                .fields()
                .iter()
                .map(|c| {
                    let ty = SqlType::from_arrow(c.data_type())
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| c.data_type().to_string());
                    format!("{} {ty}", c.name())
                })
                .collect();
            writeln!(f, "reference table {} ({})", t.name, cols.join(", "))?;
        }
        for p in &self.pumps {
            let sources: Vec<&str> = p
                .inputs
                .iter()
                .map(|i| self.catalog.streams[i.source].name.as_str())
                .collect();
            writeln!(
                f,
                "pump {}: {} -> {}",
                p.name,
                sources.join(" + "),
                self.catalog.streams[p.target].name
            )?;
            let mut step = 0;
            for ((input, side), name) in p.inputs.iter().zip(["left", "right"]).zip(&sources) {
                for op in &input.ops {
                    step += 1;
                    writeln!(f, "  {step}. [{side} input {name}] {op}")?;
                }
            }
            if let Some(join) = &p.join {
                step += 1;
                writeln!(f, "  {step}. {join}")?;
            }
            for op in &p.ops {
                step += 1;
                writeln!(f, "  {step}. {op}")?;
            }
        }
        Ok(())
    }
}

/// Plans application code against a catalog that already holds the source streams,
/// error_stream and the reference tables.
pub fn plan(src: &SourceText, statements: &[AppStatement], mut catalog: Catalog) -> Result<Plan> {
    let mut pumps: Vec<PumpPlan> = Vec::new();
    let mut pump_names: Vec<&str> = Vec::new();
    let mut functions: Vec<CreateFunction> = Vec::new();
    for statement in statements {
        match statement {
            AppStatement::CreateStream(s) => create_stream(src, s, &mut catalog, &pumps)?,
            AppStatement::CreateFunction(f) => {
                if let Some(i) = functions.iter().position(|g| g.name == f.name) {
                    if !f.or_replace {
                        return Err(src
                            .error_at(f.at, format!("function `{}` is created twice", f.name))
                            .with_help("use CREATE OR REPLACE FUNCTION to replace it, or give it another name")
                            .into_error());
                    }
                    functions.remove(i);
                }
                functions.push((**f).clone());
            }
            AppStatement::CreatePump(p) => {
                if pump_names.contains(&p.name.as_str()) {
                    if !p.or_replace {
                        return Err(src
                            .error_at(p.at, format!("pump `{}` is created twice", p.name))
                            .with_help(
                                "use CREATE OR REPLACE PUMP to replace it, or give it another name",
                            )
                            .into_error());
                    }
                    pumps.retain(|x| x.statement != p.name);
                }
                pumps.extend(plan_pump(src, p, &catalog, &functions)?);
                pump_names.push(&p.name);
            }
        }
    }
    let plan = Plan { catalog, pumps };
    check_cycles(src, statements, &plan)?;
    Ok(plan)
}

fn create_stream(
    src: &SourceText,
    s: &CreateStream,
    catalog: &mut Catalog,
    pumps: &[PumpPlan],
) -> Result<()> {
    if s.name.eq_ignore_ascii_case(ERROR_STREAM) {
        return Err(src
            .error_at(
                s.at,
                "`error_stream` is the system error stream and cannot be created",
            )
            .with_help("choose another name")
            .into_error());
    }
    if catalog.table(&s.name).is_some() {
        return Err(src
            .error_at(s.at, format!("`{}` is already a reference table", s.name))
            .into_error());
    }
    let def = StreamDef {
        name: s.name.clone(),
        columns: s
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type))
            .collect(),
        kind: StreamKind::Created,
    };
    match catalog.stream(&s.name) {
        Some((_, existing)) if existing.kind == StreamKind::Source => Err(src
            .error_at(
                s.at,
                format!(
                    "`{}` is a source stream created by the input configuration",
                    s.name
                ),
            )
            .with_help("choose another name for the stream")
            .into_error()),
        Some((i, _)) => {
            if pumps.iter().any(|p| p.reads(i) || p.target == i) {
                return Err(src
                    .error_at(
                        s.at,
                        format!("stream `{}` is redefined after a pump uses it", s.name),
                    )
                    .with_help("define each stream once, before the pumps that use it")
                    .into_error());
            }
            catalog.streams[i] = def;
            Ok(())
        }
        None => {
            catalog.streams.push(def);
            Ok(())
        }
    }
}

fn check_cycles(src: &SourceText, statements: &[AppStatement], plan: &Plan) -> Result<()> {
    // A pump that (through other pumps) feeds its own source would never settle.
    for (i, p) in plan.pumps.iter().enumerate() {
        let mut reach = vec![p.target];
        let mut seen = vec![false; plan.catalog.streams.len()];
        while let Some(s) = reach.pop() {
            if p.reads(s) {
                let at = statements
                    .iter()
                    .find_map(|st| match st {
                        AppStatement::CreatePump(cp) if cp.name == plan.pumps[i].name => {
                            Some(cp.at)
                        }
                        _ => None,
                    })
                    .unwrap_or(Location { line: 0, column: 0 });
                return Err(src
                    .error_at(
                        at,
                        format!(
                            "pump `{}` feeds its own source stream `{}` (a cycle)",
                            p.name, plan.catalog.streams[s].name
                        ),
                    )
                    .with_help("pumps must form a chain: write into a new stream")
                    .into_error());
            }
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            reach.extend(plan.pumps.iter().filter(|q| q.reads(s)).map(|q| q.target));
        }
    }
    Ok(())
}

/// Turns a DataFusion planning error into a diagnostic at its span (or at `at`).
fn df_error(src: &SourceText, e: DataFusionError, at: Location) -> Error {
    if let Some(d) = e.diagnostic()
        && let Some(span) = d.span
    {
        let span = datafusion::sql::sqlparser::tokenizer::Span::new(
            Location {
                line: span.start.line,
                column: span.start.column,
            },
            Location {
                line: span.end.line,
                column: span.end.column,
            },
        );
        // Our resolver's messages say more than DataFusion's "table 'x' not found".
        let ours = match e.find_root() {
            DataFusionError::Plan(m) if m.starts_with(UNKNOWN_RELATION) => Some(m.clone()),
            _ => None,
        };
        let mut diag = match ours.as_deref().and_then(|m| m.split_once("; ")) {
            Some((message, help)) => src.error_span(span, message).with_help(help),
            None => src.error_span(span, d.message.clone()),
        };
        if let (None, Some(h)) = (&diag.help, d.helps.first()) {
            diag = diag.with_help(h.message.clone());
        }
        return diag.into_error();
    }
    let root = e.find_root();
    let message = match root {
        DataFusionError::Plan(m)
        | DataFusionError::NotImplemented(m)
        | DataFusionError::Execution(m) => m.clone(),
        DataFusionError::SchemaError(e, _) => e.to_string(),
        other => other.message().to_string(),
    };
    // DataFusion reports some user errors (a function given the wrong types) as internal ones.
    let message = match message.split_once("\nThis issue was likely caused by a bug in DataFusion")
    {
        Some((first, rest)) => {
            let detail = rest.split_once(". ").map(|(_, d)| d).unwrap_or("");
            format!("{first}\n{detail}")
        }
        None => message,
    };
    src.error_at(at, message.trim_end()).into_error()
}

fn plan_pump(
    src: &SourceText,
    p: &CreatePump,
    catalog: &Catalog,
    functions: &[CreateFunction],
) -> Result<Vec<PumpPlan>> {
    let (target, target_def) = match catalog.stream(&p.target) {
        Some((_, s)) if s.kind != StreamKind::Created => {
            return Err(src
                .error_at(p.target_at, format!("pump `{}` cannot write into `{}`: it is not a stream created by the application", p.name, p.target))
                .with_help("INSERT INTO a stream made with CREATE STREAM")
                .into_error());
        }
        Some(found) => found,
        None => {
            let known: Vec<String> = catalog
                .streams
                .iter()
                .filter(|s| s.kind == StreamKind::Created)
                .map(|s| s.name.clone())
                .collect();
            let help = match known.iter().find(|k| k.eq_ignore_ascii_case(&p.target)) {
                Some(k) => format!("quoted names are case-sensitive: did you mean \"{k}\"?"),
                None if known.is_empty() => "create it first with CREATE STREAM".to_string(),
                None => format!(
                    "create it first with CREATE STREAM; streams are: {}",
                    known.join(", ")
                ),
            };
            return Err(src
                .error_at(p.target_at, format!("no stream named `{}`", p.target))
                .with_help(help)
                .into_error());
        }
    };
    let mut query = p.query.clone();
    expand_functions(&mut query, functions).map_err(|e| {
        let at = if e.span == Span::empty() {
            p.query_at
        } else {
            e.span.start
        };
        src.error_at(at, e.message)
            .with_help("call it with one argument per parameter")
            .into_error()
    })?;
    let is_source = |name: &str| {
        catalog
            .stream(name)
            .is_some_and(|(_, s)| s.kind == StreamKind::Source)
    };
    let is_stream = |name: &str| catalog.stream(name).is_some();
    expose_rowtime_of_derived_tables(&mut query);
    exclude_rowtime_from_wildcards(&mut query, &is_source, &is_stream);
    let mut windows = Vec::with_capacity(p.windows.len());
    for w in &p.windows {
        let range_ms = match (w.range_ms, &w.named) {
            (Some(ms), _) => ms,
            (None, name) => {
                let name = name.as_deref().unwrap_or_default();
                let text = take_named_window(&mut query, name).ok_or_else(|| {
                    src.error_span(
                        w.at,
                        format!("no window named `{name}` in the WINDOW clause"),
                    )
                    .with_help(format!(
                        "add WINDOW {name} AS (RANGE INTERVAL 'n' unit PRECEDING)"
                    ))
                    .into_error()
                })?;
                join_window_text_ms(&text).map_err(|m| {
                    src.error_span(w.at, format!("window `{name}`: {m}"))
                        .with_help("a join window is RANGE INTERVAL 'n' unit PRECEDING")
                        .into_error()
                })?
            }
        };
        windows.push(JoinWindow {
            table: w.table.clone(),
            range_ms,
            at: w.at.start,
            used: false,
        });
    }
    unqualified_rowtime_of_join(&mut query, &is_stream);
    order_windows_by_rowtime(&mut query);
    rewrite_kda_functions(&mut query).map_err(|e| {
        src.error_span(e.span, e.message)
            .with_help(e.help)
            .into_error()
    })?;
    name_select_expressions(&mut query);
    let resolver = Resolver::new(catalog);
    let mut options = ParserOptions::new();
    options.enable_ident_normalization = false;
    options.collect_spans = true;
    options.map_string_types_to_utf8view = false;
    let planner = SqlToRel::new_with_options(&resolver, options);
    let logical = planner
        .sql_statement_to_plan(Statement::Query(query))
        .map_err(|e| df_error(src, e, p.query_at))?;
    let logical = Analyzer::new()
        .execute_and_check(logical, resolver.options(), |_, _| {})
        .map_err(|e| df_error(src, e, p.query_at))?;
    let (group_by_at, join_at) = clause_locations(&p.query);
    let mut lowering = Lowering {
        src,
        catalog,
        pump: &p.name,
        at: p.query_at,
        group_by_at: group_by_at.unwrap_or(p.query_at),
        stagger_ms: p.stagger_ms,
        count_distinct: p.table_function == Some(WindowedTableFunction::CountDistinct),
        join_at: join_at.unwrap_or(p.query_at),
        ops: Vec::new(),
        windows,
        join: None,
        props: ExecutionProps::new(),
    };
    let insert = Arc::new(plan_insert(src, p, target_def, &logical)?);
    // `… UNION ALL …`: one pump per branch, all writing the target (merged in ROWTIME order).
    let branches: Vec<&LogicalPlan> = match &logical {
        LogicalPlan::Union(u) => u.inputs.iter().map(|i| i.as_ref()).collect(),
        other => vec![other],
    };
    let mut pumps = Vec::with_capacity(branches.len());
    for (i, branch) in branches.iter().enumerate() {
        lowering.ops = Vec::new();
        let source = lowering.lower(branch)?;
        let mut ops = std::mem::take(&mut lowering.ops);
        if let Some(WindowedTableFunction::TopK(k)) = p.table_function {
            // The table function's GROUP BY is the query's outermost aggregate: the last one.
            let spec = ops.iter_mut().rev().find_map(|op| match op {
                OperatorSpec::Tumbling(spec) => Arc::get_mut(spec),
                _ => None,
            });
            match spec {
                Some(spec) => spec.top_k = Some(k),
                None => {
                    return Err(src
                        .error_at(
                            p.query_at,
                            "TOP_K_ITEMS_TUMBLING could not be planned as a tumbling window",
                        )
                        .with_help("read the stream directly: CURSOR(SELECT STREAM * FROM s)")
                        .into_error());
                }
            }
        }
        ops.push(OperatorSpec::Insert(Arc::clone(&insert)));
        let (inputs, join) = match lowering.join.take() {
            Some((join, inputs)) => (inputs, Some(join)),
            None => (
                vec![PumpInput {
                    source,
                    ops: vec![],
                }],
                None,
            ),
        };
        let name = if branches.len() > 1 {
            format!("{} (UNION ALL branch {})", p.name, i + 1)
        } else {
            p.name.clone()
        };
        pumps.push(PumpPlan {
            name,
            statement: p.name.clone(),
            inputs,
            join,
            target,
            ops,
        });
    }
    if let Some(w) = lowering.windows.iter().find(|w| !w.used) {
        return Err(src
            .error_at(w.at, format!("`{}` has a window but is not joined to another stream", w.table))
            .with_help("OVER after a stream in FROM is for stream-to-stream joins; use OVER on an aggregate for a sliding window")
            .into_error());
    }
    Ok(pumps)
}

/// KDA rounds approximate numbers cast to integers (`CAST(-1.77 AS INTEGER)` is -2); Arrow
/// truncates. Such casts get a `round` first, and so do casts of decimals with a fraction.
fn rounding_casts(e: &Expr, schema: &DFSchema) -> datafusion::error::Result<Expr> {
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
fn listed<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> String {
    exprs
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expressions as DataFusion prints them, with intervals written the SQL way for `explain`.
fn shown(text: &str) -> String {
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

/// A windowed aggregate's aggregate functions and their `FILTER (WHERE …)` clauses.
type AggregatesAndFilters = (
    Vec<Arc<datafusion::physical_expr::aggregate::AggregateFunctionExpr>>,
    Vec<Option<Arc<dyn PhysicalExpr>>>,
);

/// Where the GROUP BY's first expression and the first joined relation are.
fn clause_locations(
    query: &datafusion::sql::sqlparser::ast::Query,
) -> (Option<Location>, Option<Location>) {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SetExpr, Spanned};
    let SetExpr::Select(select) = query.body.as_ref() else {
        return (None, None);
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.first().map(|e| e.span().start),
        GroupByExpr::All(_) => None,
    };
    let join = select
        .from
        .first()
        .and_then(|t| t.joins.first())
        .map(|j| j.relation.span().start);
    (group_by.filter(|l| l.line > 0), join.filter(|l| l.line > 0))
}

/// The broad kind of a type, for INSERT type checks (KDA requires matching data types).
fn type_family(dt: &DataType) -> &'static str {
    match dt {
        DataType::Null => "null",
        d if d.is_numeric() => "numeric",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "character",
        DataType::Boolean => "boolean",
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => "datetime",
        DataType::Time32(_) | DataType::Time64(_) => "time",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary",
        _ => "other",
    }
}

fn describe_type(dt: &DataType) -> String {
    SqlType::from_arrow(dt)
        .map(|t| t.to_string())
        .unwrap_or_else(|| dt.to_string())
}

fn plan_insert(
    src: &SourceText,
    p: &CreatePump,
    target: &StreamDef,
    query: &LogicalPlan,
) -> Result<InsertSpec> {
    let all_fields = query.schema().fields();
    // A query column named ROWTIME (`… AS ROWTIME`) sets the rows' ROWTIME instead of a column.
    // The input's own ROWTIME selected as it is (`SELECT STREAM "orderid", "ROWTIME"` into a
    // two-column stream, EX-11) is a value like any other when the target has a column for it.
    let expected = p.columns.as_ref().map_or(target.columns.len(), |c| c.len());
    let rowtime_source = all_fields
        .iter()
        .position(|f| f.name() == ROWTIME)
        .filter(|i| !(all_fields.len() == expected && selects_input_rowtime(query, *i)));
    let query_columns: Vec<usize> = (0..all_fields.len())
        .filter(|i| Some(*i) != rowtime_source)
        .collect();
    let fields: Vec<&datafusion::arrow::datatypes::FieldRef> =
        query_columns.iter().map(|i| &all_fields[*i]).collect();
    if let Some(i) = rowtime_source
        && !matches!(all_fields[i].data_type(), DataType::Timestamp(_, _))
    {
        return Err(src
            .error_at(
                p.query_at,
                format!(
                    "the query's ROWTIME column is {}, not a TIMESTAMP",
                    describe_type(all_fields[i].data_type())
                ),
            )
            .with_help("`… AS ROWTIME` takes a TIMESTAMP expression")
            .into_error());
    }
    let targets: Vec<usize> = match &p.columns {
        Some(cols) => cols
            .iter()
            .map(|c| {
                target
                    .columns
                    .iter()
                    .position(|(n, _)| *n == c.value)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            target.columns.iter().map(|(n, _)| n.as_str()).collect();
                        src.error_at(
                            c.span.start,
                            format!("stream `{}` has no column `{}`", target.name, c.value),
                        )
                        .with_help(format!("its columns are {}", names.join(", ")))
                        .into_error()
                    })
            })
            .collect::<Result<_>>()?,
        None => (0..target.columns.len()).collect(),
    };
    if fields.len() != targets.len() {
        let names: Vec<String> = targets
            .iter()
            .map(|i| target.columns[*i].0.clone())
            .collect();
        return Err(src
            .error_at(p.query_at, format!(
                "the query gives {} column(s) but INSERT INTO {} expects {} ({})",
                fields.len(),
                target.name,
                targets.len(),
                names.join(", ")
            ))
            .with_help("select one expression per target column, or list the target columns: INSERT INTO stream (col, …)")
            .into_error());
    }
    let mut sources = vec![None; target.columns.len()];
    for (qi, ti) in targets.iter().enumerate() {
        let (name, ty) = &target.columns[*ti];
        let given = fields[qi].data_type();
        let (want, got) = (type_family(&ty.arrow_type()), type_family(given));
        if got != "null" && want != got {
            return Err(src
                .error_at(
                    p.query_at,
                    format!(
                        "column {} of the query ({}) is {} but column {name} of {} is {ty}",
                        qi + 1,
                        fields[qi].name(),
                        describe_type(given),
                        target.name
                    ),
                )
                .with_help(
                    "CAST the expression to the column's type, or change the stream's column type",
                )
                .into_error());
        }
        sources[*ti] = Some(query_columns[qi]);
    }
    let schema = with_rowtime(&target.table_schema());
    let display = target
        .columns
        .iter()
        .zip(&sources)
        .map(|((n, t), s)| match s {
            Some(q) => format!("{n} {t} = {}", all_fields[*q].name()),
            None => format!("{n} {t} = NULL"),
        })
        .chain(rowtime_source.map(|_| "ROWTIME = the query's ROWTIME column".to_string()))
        .collect();
    Ok(InsertSpec {
        target: target.name.clone(),
        sources,
        max_chars: target.columns.iter().map(|(_, t)| t.max_len()).collect(),
        rowtime_source,
        schema,
        display,
        visible: all_fields.len(),
        pump: p.name.clone(),
    })
}

struct Lowering<'a> {
    src: &'a SourceText,
    catalog: &'a Catalog,
    pump: &'a str,
    /// Where errors point: the query, its GROUP BY, its first JOIN.
    at: Location,
    group_by_at: Location,
    join_at: Location,
    /// `WINDOWED BY STAGGER`: the window length (its keys are the GROUP BY).
    stagger_ms: Option<i64>,
    /// `COUNT_DISTINCT_ITEMS_TUMBLING`: its subquery counts DISTINCT values.
    count_distinct: bool,
    ops: Vec<OperatorSpec>,
    /// `FROM stream OVER (…)`: the windows of a stream-to-stream join.
    windows: Vec<JoinWindow>,
    /// The stream-to-stream join of the branch being lowered, with its two inputs.
    join: Option<(Arc<StreamJoinSpec>, Vec<PumpInput>)>,
    props: ExecutionProps,
}

/// A join window found by the dialect, resolved to milliseconds.
struct JoinWindow {
    table: String,
    range_ms: i64,
    at: Location,
    used: bool,
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip(&a.expr),
        Expr::Cast(c) => strip(&c.expr),
        Expr::TryCast(c) => strip(&c.expr),
        other => other,
    }
}

/// Whether output column `i` of the query is the input's ROWTIME, unchanged.
fn selects_input_rowtime(query: &LogicalPlan, i: usize) -> bool {
    match query {
        LogicalPlan::Projection(p) => matches!(&p.expr[i], Expr::Column(c) if c.name == ROWTIME),
        LogicalPlan::Union(u) => u.inputs.iter().all(|b| selects_input_rowtime(b, i)),
        _ => false,
    }
}

fn is_rowtime_column(e: &Expr) -> bool {
    match strip(e) {
        Expr::Column(c) => c.name == ROWTIME,
        // Unqualified ROWTIME in a stream-to-stream join: the joined row's.
        Expr::ScalarFunction(f) => f.func.name() == crate::exec::stream_join::JOIN_ROWTIME,
        _ => false,
    }
}

/// The width of a ROWTIME-based tumbling window expression, if `e` is one.
/// `e` with columns that are another name for ROWTIME (`ROWTIME AS window_time` in a subquery of
/// `input`) replaced by ROWTIME itself, so that `STEP(t.window_time BY …)` is a ROWTIME window.
fn resolve_rowtime_aliases(e: &Expr, input: &LogicalPlan) -> Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    e.clone()
        .transform_up(|e| match &e {
            Expr::Column(c) if c.name != ROWTIME && column_is_rowtime(input, &c.name) => {
                let mut rowtime = c.clone();
                rowtime.name = ROWTIME.to_string();
                Ok(Transformed::yes(Expr::Column(rowtime)))
            }
            _ => Ok(Transformed::no(e)),
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| e.clone())
}

/// Whether column `name` of `plan`'s output is ROWTIME under another name.
fn column_is_rowtime(plan: &LogicalPlan, name: &str) -> bool {
    match plan {
        LogicalPlan::Projection(p) => p.expr.iter().zip(p.schema.fields()).any(|(e, f)| {
            f.name() == name
                && match strip(e) {
                    Expr::Column(c) => c.name == ROWTIME || column_is_rowtime(&p.input, &c.name),
                    _ => false,
                }
        }),
        LogicalPlan::SubqueryAlias(a) => column_is_rowtime(&a.input, name),
        LogicalPlan::Filter(f) => column_is_rowtime(&f.input, name),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            column_is_rowtime(input, name)
        }
        _ => false,
    }
}

fn rowtime_window(e: &Expr) -> Option<WindowWidth> {
    let Expr::ScalarFunction(f) = strip(e) else {
        return None;
    };
    let lit = |e: &Expr| match strip(e) {
        Expr::Literal(v, _) => Some(v.clone()),
        _ => None,
    };
    match f.name() {
        "date_bin" if f.args.len() == 2 && is_rowtime_column(&f.args[1]) => {
            match lit(&f.args[0])? {
                ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
                    let ms = v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000;
                    (ms > 0).then_some(WindowWidth::Millis(ms))
                }
                ScalarValue::IntervalDayTime(Some(v)) => {
                    let ms = v.days as i64 * 86_400_000 + v.milliseconds as i64;
                    (ms > 0).then_some(WindowWidth::Millis(ms))
                }
                _ => None,
            }
        }
        "date_trunc" if f.args.len() == 2 && is_rowtime_column(&f.args[1]) => {
            let ScalarValue::Utf8(Some(unit)) = lit(&f.args[0])? else {
                return None;
            };
            Some(match unit.to_lowercase().as_str() {
                "second" => WindowWidth::Millis(1000),
                "minute" => WindowWidth::Millis(60_000),
                "hour" => WindowWidth::Millis(3_600_000),
                "day" => WindowWidth::Millis(86_400_000),
                "week" => WindowWidth::Millis(7 * 86_400_000),
                "month" => WindowWidth::Months(1),
                "quarter" => WindowWidth::Months(3),
                "year" => WindowWidth::Months(12),
                _ => return None,
            })
        }
        _ => None,
    }
}

/// Milliseconds of a day-time interval literal.
fn interval_ms(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(v.days as i64 * 86_400_000 + v.milliseconds as i64)
        }
        _ => None,
    }
}

/// Mentions ROWTIME (directly or inside a function) — a window-like key that is not supported.
fn mentions_rowtime(e: &Expr) -> bool {
    e.column_refs().iter().any(|c| c.name == ROWTIME)
}

impl Lowering<'_> {
    fn reject(&self, message: impl Into<String>, help: impl Into<String>) -> Error {
        self.reject_at(self.at, message, help)
    }

    fn reject_at(
        &self,
        at: Location,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Error {
        self.src.error_at(at, message).with_help(help).into_error()
    }

    fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        let e = rounding_casts(e, schema).map_err(|err| df_error(self.src, err, self.at))?;
        // Some functions exist only to be rewritten by the simplifier (COALESCE becomes CASE),
        // which also folds constants. If it fails (say on `1 / 0`), the rows report it instead.
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .build();
        let e = ExprSimplifier::new(context)
            .simplify(e.clone())
            .unwrap_or(e);
        create_physical_expr(&e, schema, &self.props, &PhysicalPlanningContext::default())
            .and_then(|p| checked_division(p, schema.as_arrow()))
            .and_then(|p| resolve_join_rowtime(p, schema.fields().len()))
            .map_err(|err| df_error(self.src, err, self.at))
    }

    /// Lowers `plan`, appending its stages; returns the stream it reads.
    fn lower(&mut self, plan: &LogicalPlan) -> Result<usize> {
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
            LogicalPlan::Projection(p) => {
                let source = self.lower(&p.input)?;
                let exprs = p.expr.iter().map(|e| self.physical(e, p.input.schema())).collect::<Result<Vec<_>>>()?;
                self.ops.push(OperatorSpec::Project(Arc::new(ProjectSpec {
                    exprs,
                    schema: with_rowtime(&nullable(p.schema.as_arrow())),
                    display: p.expr.iter().map(|e| shown(&e.to_string())).collect(),
                    visible: p.input.schema().fields().len(),
                    pump: self.pump.to_string(),
                })));
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
            LogicalPlan::Union(_) => Err(self.reject("UNION ALL is supported only as the whole query of a pump", "write SELECT STREAM … FROM a UNION ALL SELECT STREAM … FROM b as the pump's query, or one pump per stream")),
            LogicalPlan::Sort(_) => Err(self.reject("ORDER BY on a stream is not supported yet", "remove ORDER BY; windows emit their rows ordered by the group keys")),
            LogicalPlan::Limit(_) => Err(self.reject("LIMIT and FETCH cannot be used on a stream", "remove LIMIT")),
            LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
                let source = self.lower(input)?;
                self.ops.push(OperatorSpec::Distinct(Arc::new(DistinctSpec {
                    schema: with_rowtime(&nullable(input.schema().as_arrow())),
                })));
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

    fn lower_aggregate(&mut self, a: &datafusion::logical_expr::Aggregate) -> Result<()> {
        if let Some(length) = self.stagger_ms {
            return self.lower_stagger(a, length);
        }
        let input_schema = a.input.schema();
        let mut window: Option<(usize, &Expr, WindowWidth)> = None;
        let mut keys: Vec<(usize, &Expr)> = Vec::new();
        for (i, g) in a.group_expr.iter().enumerate() {
            if matches!(g, Expr::GroupingSet(_)) {
                return Err(self.reject_at(
                    self.group_by_at,
                    "GROUPING SETS, CUBE and ROLLUP are not supported on streams",
                    "group by plain expressions",
                ));
            }
            match rowtime_window(&resolve_rowtime_aliases(g, &a.input)) {
                Some(width) => {
                    if window.is_some() {
                        return Err(self.reject_at(self.group_by_at,
                            "a GROUP BY clause uses multiple ROWTIME columns",
                            "group by exactly one ROWTIME window expression, e.g. STEP(s.ROWTIME BY INTERVAL '1' MINUTE)",
                        ));
                    }
                    window = Some((i, g, width));
                }
                None if mentions_rowtime(g) => {
                    return Err(self.reject_at(self.group_by_at,
                        format!("the GROUP BY expression `{g}` uses ROWTIME but is not a supported window"),
                        "use STEP(s.ROWTIME BY INTERVAL 'n' unit) or FLOOR(s.ROWTIME TO unit)",
                    ));
                }
                None => keys.push((i, g)),
            }
        }
        let Some((window_position, window_expr, width)) = window else {
            return Err(self.reject_at(self.group_by_at,
                "a streaming GROUP BY needs a ROWTIME window: without one, groups would never close",
                "add a window to GROUP BY, e.g. STEP(s.ROWTIME BY INTERVAL '1' MINUTE) or FLOOR(s.ROWTIME TO MINUTE)",
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
            width,
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
    fn aggregates(&self, a: &datafusion::logical_expr::Aggregate) -> Result<AggregatesAndFilters> {
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

    fn lower_stagger(
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
        let mut group_fields: Vec<Field> = (0..a.group_expr.len())
            .map(|i| Field::new(format!("k{i}"), schema.field(i).data_type().clone(), true))
            .collect();
        group_fields.push(Field::new("open", crate::catalog::rowtime_type(), false));
        let display = shown(&format!(
            "partition by [{}], aggregates [{}]",
            listed(&a.group_expr),
            listed(&a.aggr_expr)
        ));
        let spec = StaggerSpec {
            length,
            keys: a
                .group_expr
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

    fn lower_window(&mut self, w: &datafusion::logical_expr::Window) -> Result<()> {
        use datafusion::logical_expr::{WindowFrameBound, WindowFrameUnits};
        let input_schema = w.input.schema();
        let input_visible = input_schema.fields().len();
        let mut aggregates = Vec::new();
        for (k, e) in w.window_expr.iter().enumerate() {
            let Expr::WindowFunction(f) = strip(e) else {
                return Err(self.reject(
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
                            other => Err(self.reject(
                                format!("{}: `-{other}` must be a literal", name.to_uppercase()),
                                "write LAG(x, 1, 0) or NTH_VALUE(x, 2) with literal numbers",
                            )),
                        },
                        Some(other) => Err(self.reject(
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
                                _ => Err(self.reject(
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
                                return Err(self.reject(
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
                            // FROM LAST arrives as a negative n (see dialect.rs).
                            let n = count(lit(1)?, 1)?;
                            if n == 0 {
                                return Err(self.reject(
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
                                return Err(self.reject(
                                    "EXP_AVG needs a positive half-life: EXP_AVG(x, INTERVAL 'n' unit)",
                                    "write EXP_AVG(x, INTERVAL '10' SECOND) OVER (…)",
                                ));
                            }
                        },
                    }
                }
                other => {
                    return Err(self.reject(
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
                return Err(self.reject(
                    format!("{}(…) IGNORE NULLS is not allowed", name.to_uppercase()),
                    "IGNORE NULLS applies to FIRST_VALUE, LAST_VALUE, NTH_VALUE and LAG (aggregates skip NULLs anyway)",
                ));
            }
            if p.distinct {
                return Err(self.reject(
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
                return Err(self.reject(
                    "a sliding window is ordered by ROWTIME; ORDER BY is not allowed in a windowed aggregate",
                    "remove ORDER BY from the window",
                ));
            }
            let frame = &p.window_frame;
            if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
                return Err(self.reject(
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
                        return Err(self.reject(
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
                    return Err(self.reject(
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
                return Err(self.reject(
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
                        self.reject(
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

    /// The reference table a join input reads directly (possibly under an alias).
    fn reference_table<'p>(&self, plan: &'p LogicalPlan) -> Option<&'p str> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                self.catalog.table(name).is_some().then_some(name)
            }
            LogicalPlan::SubqueryAlias(a) => self.reference_table(&a.input),
            _ => None,
        }
    }

    fn lower_join(&mut self, j: &datafusion::logical_expr::Join) -> Result<usize> {
        let (stream_first, table, stream_plan, table_plan) = match (
            self.reference_table(&j.left),
            self.reference_table(&j.right),
        ) {
            (None, Some(t)) => (true, t, &j.left, &j.right),
            (Some(t), None) => (false, t, &j.right, &j.left),
            (Some(_), Some(_)) => {
                return Err(self.reject_at(
                    self.join_at,
                    "a join of two reference tables is not a streaming query",
                    "join a stream with a reference table",
                ));
            }
            (None, None) => return self.lower_stream_join(j),
        };
        let join_type = match (j.join_type, stream_first) {
            (JoinType::Inner, _) => LookupJoinType::Inner,
            (JoinType::Left, true) | (JoinType::Right, false) => LookupJoinType::Left,
            (other, _) => {
                return Err(self.reject_at(
                    self.join_at,
                    format!(
                        "a {other} join of a stream with reference table `{table}` is not supported"
                    ),
                    "use [INNER] JOIN, or LEFT [OUTER] JOIN with the stream on the left",
                ));
            }
        };
        let source = self.lower(stream_plan)?;
        let stream_schema = stream_plan.schema();
        let table_schema = table_plan.schema();
        let (mut pairs, residual_expr) = equi_pairs(j);
        if !stream_first {
            pairs = pairs.into_iter().map(|(l, r)| (r, l)).collect();
        }
        let stream_keys = pairs
            .iter()
            .map(|(s, _)| self.physical(s, stream_schema))
            .collect::<Result<Vec<_>>>()?;
        let table_keys = pairs
            .iter()
            .map(|(_, t)| self.physical(t, table_schema))
            .collect::<Result<Vec<_>>>()?;
        let residual = match &residual_expr {
            Some(e) => Some(self.physical(e, &j.schema)?),
            None => None,
        };
        let mut display: Vec<String> = pairs
            .iter()
            .map(|(s, t)| shown(&format!("{s} = {t}")))
            .collect();
        if let Some(e) = &residual_expr {
            display.push(shown(&format!("[{e}]")));
        }
        self.ops
            .push(OperatorSpec::LookupJoin(Arc::new(LookupJoinSpec {
                table: table.to_string(),
                join_type,
                stream_keys,
                table_keys,
                residual,
                stream_first,
                stream_visible: stream_schema.fields().len(),
                schema: with_rowtime(&nullable(j.schema.as_arrow())),
                display: display.join(" and "),
            })));
        Ok(source)
    }
}

/// Splits a join's condition into equality pairs (left expression, right expression), each side
/// reading only its input, and the rest of the condition.
fn equi_pairs(j: &datafusion::logical_expr::Join) -> (Vec<(Expr, Expr)>, Option<Expr>) {
    let (left, right) = (j.left.schema(), j.right.schema());
    let mut pairs: Vec<(Expr, Expr)> = j.on.clone();
    let mut residual: Vec<Expr> = Vec::new();
    let only = |e: &Expr, s: &DFSchema| {
        let cols = e.column_refs();
        !cols.is_empty() && cols.iter().all(|c| s.has_column(c))
    };
    if let Some(filter) = &j.filter {
        for c in datafusion::logical_expr::utils::split_conjunction(filter) {
            if let Expr::BinaryExpr(BinaryExpr {
                left: l,
                op: LogicalOp::Eq,
                right: r,
            }) = c
            {
                if only(l, left) && only(r, right) {
                    pairs.push((l.as_ref().clone(), r.as_ref().clone()));
                    continue;
                }
                if only(r, left) && only(l, right) {
                    pairs.push((r.as_ref().clone(), l.as_ref().clone()));
                    continue;
                }
            }
            residual.push(c.clone());
        }
    }
    (pairs, residual.into_iter().reduce(|a, b| a.and(b)))
}

impl Lowering<'_> {
    /// The window of a join input that reads a stream (0 if it has none).
    fn join_window(&mut self, plan: &LogicalPlan) -> i64 {
        let name = match plan {
            LogicalPlan::TableScan(scan) => scan.table_name.table(),
            LogicalPlan::SubqueryAlias(a) => return self.join_window(&a.input),
            _ => return 0,
        };
        match self.windows.iter_mut().find(|w| !w.used && w.table == name) {
            Some(w) => {
                w.used = true;
                w.range_ms
            }
            None => 0,
        }
    }

    /// `a OVER (RANGE …) [LEFT|RIGHT|FULL] JOIN b ON …`: both inputs become inputs of the pump.
    fn lower_stream_join(&mut self, j: &datafusion::logical_expr::Join) -> Result<usize> {
        if self.join.is_some() {
            return Err(self.reject_at(
                self.join_at,
                "a pump can join only two streams",
                "join two of the streams in one pump into a new stream, and join that in another pump",
            ));
        }
        let join_type = match j.join_type {
            JoinType::Inner => StreamJoinType::Inner,
            JoinType::Left => StreamJoinType::Left,
            JoinType::Right => StreamJoinType::Right,
            JoinType::Full => StreamJoinType::Full,
            other => {
                return Err(self.reject_at(
                    self.join_at,
                    format!("a {other} join of two streams is not supported"),
                    "use [INNER] JOIN, LEFT, RIGHT or FULL [OUTER] JOIN",
                ));
            }
        };
        let windows = [self.join_window(&j.left), self.join_window(&j.right)];
        if windows == [0, 0] {
            return Err(self.reject_at(
                self.join_at,
                "a join of two streams needs a window on at least one of them",
                "write FROM a OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS x JOIN b AS y ON …",
            ));
        }
        let outer = std::mem::take(&mut self.ops);
        let left = self.lower(&j.left)?;
        let left_ops = std::mem::take(&mut self.ops);
        let right = self.lower(&j.right)?;
        let right_ops = std::mem::take(&mut self.ops);
        self.ops = outer;
        let (pairs, residual_expr) = equi_pairs(j);
        let (left_schema, right_schema) = (j.left.schema(), j.right.schema());
        let mut keys: [Vec<Arc<dyn PhysicalExpr>>; 2] = [vec![], vec![]];
        for (l, r) in &pairs {
            use datafusion::logical_expr::ExprSchemable;
            let lt = l
                .get_type(left_schema)
                .map_err(|e| df_error(self.src, e, self.join_at))?;
            let rt = r
                .get_type(right_schema)
                .map_err(|e| df_error(self.src, e, self.join_at))?;
            // USING / natural keys may differ in type: compare as the left's type.
            let r = if lt == rt {
                r.clone()
            } else {
                r.clone()
                    .cast_to(&lt, right_schema)
                    .map_err(|e| df_error(self.src, e, self.join_at))?
            };
            keys[0].push(self.physical(l, left_schema)?);
            keys[1].push(self.physical(&r, right_schema)?);
        }
        let residual = match &residual_expr {
            Some(e) => Some(self.physical(e, &j.schema)?),
            None => None,
        };
        let mut display: Vec<String> = pairs
            .iter()
            .map(|(l, r)| shown(&format!("{l} = {r}")))
            .collect();
        if let Some(e) = &residual_expr {
            display.push(shown(&format!("[{e}]")));
        }
        if display.is_empty() {
            display.push("true".into());
        }
        let spec = StreamJoinSpec {
            join_type,
            windows,
            keys,
            residual,
            inputs: [
                with_rowtime(&nullable(left_schema.as_arrow())),
                with_rowtime(&nullable(right_schema.as_arrow())),
            ],
            schema: with_rowtime(&nullable(j.schema.as_arrow())),
            display: display.join(" and "),
            pump: self.pump.to_string(),
        };
        self.join = Some((
            Arc::new(spec),
            vec![
                PumpInput {
                    source: left,
                    ops: left_ops,
                },
                PumpInput {
                    source: right,
                    ops: right_ops,
                },
            ],
        ));
        Ok(left)
    }
}

/// A reference table's definition for the catalog.
pub fn table_def(name: &str, schema: SchemaRef) -> TableDef {
    TableDef {
        name: name.to_string(),
        schema,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;

    fn two_inputs(code: &str) -> TestApp {
        TestApp::new("union.sql", code)
            .input("A", "K VARCHAR(4), N INTEGER")
            .unwrap()
            .input("B", "K VARCHAR(4), N INTEGER")
            .unwrap()
    }

    #[test]
    fn explain_writes_intervals_the_sql_way() {
        assert_eq!(
            super::shown(
                "date_bin(IntervalMonthDayNano(\"IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 1800000000000 }\"), S.ROWTIME)"
            ),
            "date_bin(INTERVAL '30' MINUTE, S.ROWTIME)"
        );
        assert_eq!(
            super::shown(
                "x + IntervalMonthDayNano(\"IntervalMonthDayNano { months: 0, days: 2, nanoseconds: 0 }\")"
            ),
            "x + INTERVAL '2' DAY"
        );
        assert_eq!(super::shown("no interval"), "no interval");
    }

    #[test]
    fn union_all_merges_its_branches_in_rowtime_order() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM K, N FROM A UNION ALL SELECT STREAM K, N * 10 FROM B;",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:01 | a | 1\n2020-01-01 00:00:03 | a | 3",
        )
        .unwrap();
        // B has not moved yet: nothing can be released without risking an out-of-order row.
        assert_eq!(app.read_rows("OUT").unwrap().1.len(), 0);
        app.push_table("B", "ROWTIME | K | N\n2020-01-01 00:00:02 | b | 2")
            .unwrap();
        app.end().unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K | N\n2020-01-01 00:00:01.000 | a | 1\n2020-01-01 00:00:02.000 | b | 20\n2020-01-01 00:00:03.000 | a | 3\n"
        );
        let plan = app.plan().unwrap().to_string();
        assert!(
            plan.contains("pump P (UNION ALL branch 1): A -> OUT"),
            "{plan}"
        );
        assert!(
            plan.contains("pump P (UNION ALL branch 2): B -> OUT"),
            "{plan}"
        );
    }

    #[test]
    fn coalesce_and_other_simplified_functions_run() {
        // DataFusion plans COALESCE only after its simplifier rewrote it into CASE.
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM COALESCE(K, 'none'), NULLIF(N, 0) FROM A;",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:01 | NULL | 0\n2020-01-01 00:00:02 | a | 2",
        )
        .unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K    | N\n2020-01-01 00:00:01.000 | none | NULL\n2020-01-01 00:00:02.000 | a    | 2\n"
        );
    }

    #[test]
    fn ceil_to_unit_and_current_row_timestamp() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), UP TIMESTAMP, WEEK_UP TIMESTAMP, CLOCK TIMESTAMP);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM K, CEIL(ROWTIME TO HOUR), CEIL(ROWTIME TO WEEK), CURRENT_ROW_TIMESTAMP FROM A;",
        );
        let before = chrono::Utc::now().naive_utc();
        // 2020-01-06 is a Monday: a week starts there, so CEIL leaves it alone.
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 10:20:00 | a | 1\n2020-01-06 00:00:00 | b | 2",
        )
        .unwrap();
        let after = chrono::Utc::now().naive_utc();
        let (_, rows) = app.read_rows("OUT").unwrap();
        // Rows read back start with ROWTIME.
        assert_eq!(
            &rows[0][2..4],
            ["2020-01-01 11:00:00.000", "2020-01-06 00:00:00.000"]
        );
        assert_eq!(
            &rows[1][2..4],
            ["2020-01-06 00:00:00.000", "2020-01-06 00:00:00.000"]
        );
        for row in &rows {
            let clock =
                chrono::NaiveDateTime::parse_from_str(&row[4], "%Y-%m-%d %H:%M:%S%.3f").unwrap();
            // Millisecond precision: allow the truncation of `before`.
            assert!(
                clock >= before - chrono::Duration::milliseconds(1) && clock <= after,
                "{row:?}"
            );
        }
    }

    #[test]
    fn create_or_replace_pump_replaces_the_earlier_pump() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE OR REPLACE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A;
             CREATE OR REPLACE PUMP P AS INSERT INTO OUT SELECT STREAM K, N * 2 FROM A;",
        );
        app.push_table("A", "ROWTIME | K | N\n2020-01-01 00:00:01 | a | 1")
            .unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | K | N\n2020-01-01 00:00:01.000 | a | 2\n"
        );
    }

    #[test]
    fn a_pump_name_is_used_once_and_union_only_at_the_top() {
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A UNION ALL SELECT STREAM K, N FROM B;
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, N FROM A;",
        );
        let err = app.start().expect_err("rejected").to_string();
        assert!(
            err.contains("pump `P` is created twice") && err.contains("CREATE OR REPLACE PUMP"),
            "{err}"
        );
        let mut app = two_inputs(
            "CREATE STREAM OUT (K VARCHAR(4), N BIGINT);
             CREATE PUMP Q AS INSERT INTO OUT
             SELECT STREAM K, COUNT(*) FROM (SELECT STREAM ROWTIME, K FROM A UNION ALL SELECT STREAM ROWTIME, K FROM B) AS u
             GROUP BY K, STEP(u.ROWTIME BY INTERVAL '1' MINUTE);",
        );
        let err = app.start().expect_err("rejected").to_string();
        assert!(
            err.contains("UNION ALL is supported only as the whole query of a pump"),
            "{err}"
        );
    }
}
