//! One pump: its query rewritten for KDA, planned by DataFusion, checked against the `INSERT`
//! target, and lowered into operator specs (one pump per branch of a `UNION ALL`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::analyzer::Analyzer;
use datafusion::optimizer::decorrelate_predicate_subquery::DecorrelatePredicateSubquery;
use datafusion::optimizer::{Optimizer, OptimizerContext};
use datafusion::sql::planner::SqlToRel;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::tokenizer::Location;

use super::join::JoinWindow;
use super::lower::{Lowering, selects_input_rowtime};
use super::resolver::{ERROR_STREAM_UNREADABLE, Resolver, UNKNOWN_RELATION, parser_options};
use super::rewrite::{rewrite_query, take_named_window};
use super::{OperatorSpec, PumpInput, PumpPlan};
use crate::catalog::{Catalog, ROWTIME, StreamDef, StreamKind, with_rowtime};
use crate::dialect::{CreateFunction, CreatePump, WindowedTableFunction, join_window_text_ms};
use crate::error::{Error, Result, SourceText};
use crate::exec::insert::InsertSpec;
use crate::types::SqlType;

/// Turns a DataFusion planning error into a diagnostic at its span (or at `at`).
pub(super) fn df_error(src: &SourceText, e: DataFusionError, at: Location) -> Error {
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
            DataFusionError::Plan(m)
                if m.starts_with(UNKNOWN_RELATION) || m.starts_with(ERROR_STREAM_UNREADABLE) =>
            {
                Some(m.clone())
            }
            _ => None,
        };
        let mut diag = match ours.as_deref().and_then(|m| m.split_once("; ")) {
            Some((message, help)) => src.error_span(span, message).with_help(help),
            None => match unknown_function(&d.message) {
                Some((message, help)) => src.error_span(span, message).with_help(help),
                None => src.error_span(span, sql_type_names(&d.message)),
            },
        };
        if let (None, Some(h)) = (&diag.help, d.helps.first()) {
            diag = diag.with_help(kda_help(&h.message));
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
    let (message, help, at) = match no_matching_signature(&message) {
        Some((function, message, help)) => (message, Some(help), locate_call(src, at, &function)),
        None => {
            let (message, help) = kda_message(message.trim_end());
            (sql_type_names(&message), help.map(str::to_string), at)
        }
    };
    let diag = src.error_at(at, message);
    match help {
        Some(help) => diag.with_help(help).into_error(),
        None => diag.into_error(),
    }
}

/// DataFusion's `Invalid function 'f'` (f lower-cased by DataFusion), in KDA's terms.
fn unknown_function(message: &str) -> Option<(String, &'static str)> {
    let name = message
        .strip_prefix("Invalid function '")?
        .split('\'')
        .next()?;
    Some((
        format!("unknown function `{}`", name.to_uppercase()),
        "rowtime has KDA's functions (docs/compatibility.md lists them); define your own with CREATE FUNCTION, or check the spelling",
    ))
}

/// DataFusion's "No function matches the given name and argument types 'f(Binary, Int64)' …
/// Candidate functions: …" (sometimes called an internal error to report as a bug): the function
/// (as KDA names it), a message with SQL type names, and the forms it takes.
fn no_matching_signature(message: &str) -> Option<(String, String, String)> {
    if !message.contains("No function matches the given name and argument types '") {
        return None;
    }
    let (_, rest) =
        message.split_once("No function matches the given name and argument types '")?;
    let (call, rest) = rest.split_once("'.")?;
    let (name, args) = call.split_once('(')?;
    let args = args.trim_end_matches(')');
    let function = match name {
        "substr" => "SUBSTRING".to_string(),
        other => other.to_uppercase(),
    };
    let forms: Vec<String> = rest
        .split_once("Candidate functions:")
        .map(|(_, c)| {
            c.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    // `substr(str: String, start_pos: Int64)` as `SUBSTRING(VARCHAR, BIGINT)`
                    let args = l
                        .split_once('(')
                        .map_or("", |(_, a)| a.trim_end_matches(')'));
                    let types: Vec<String> = args
                        .split(", ")
                        .filter(|a| !a.is_empty())
                        .map(|a| a.split_once(": ").map_or(a, |(_, t)| t))
                        .map(|t| match t {
                            "String" => "VARCHAR".to_string(),
                            "Decimal" => "DECIMAL".to_string(),
                            "Interval" => "INTERVAL".to_string(),
                            t if t.starts_with("Numeric(") => "a number".to_string(),
                            other => sql_type_names(other),
                        })
                        .collect();
                    format!("{function}({})", types.join(", "))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut forms = forms;
    forms.dedup();
    // Arities: of the call, and of each form (`F()` has none).
    let arity = |list: &str| match list.trim() {
        "" => 0,
        l => l.split(", ").count(),
    };
    let given = arity(args);
    let mut arities: Vec<usize> = forms
        .iter()
        .map(|f| {
            arity(
                f.split_once('(')
                    .map_or("", |(_, a)| a.trim_end_matches(')')),
            )
        })
        .collect();
    arities.sort_unstable();
    arities.dedup();
    let message = if !arities.is_empty() && !arities.contains(&given) {
        let counts: Vec<String> = arities.iter().map(usize::to_string).collect();
        format!(
            "{function} takes {} argument{}, not {given}",
            counts.join(" or "),
            if arities == [1] { "" } else { "s" }
        )
    } else {
        format!(
            "{function} cannot take arguments of types ({})",
            sql_type_names(args)
        )
    };
    // Arrow's durations have no KDA type.
    forms.retain(|f| !f.ends_with("()") && !f.contains("Duration"));
    let help = if forms.is_empty() {
        "CAST the arguments to the types the function takes".to_string()
    } else if !arities.contains(&given) {
        format!("it takes {}", forms.join(" or "))
    } else {
        format!(
            "it takes {}; CAST the arguments to those types",
            forms.join(" or ")
        )
    };
    Some((function, message, help))
}

/// Where `function(` is called in the query that starts at `at` (the query itself if not found).
pub(super) fn locate_call(src: &SourceText, at: Location, function: &str) -> Location {
    let lines: Vec<&str> = src.text.lines().collect();
    let first = (at.line as usize).saturating_sub(1);
    for (i, line) in lines.iter().enumerate().skip(first) {
        let upper = line.to_uppercase();
        let from = if i == first {
            (at.column as usize).saturating_sub(1)
        } else {
            0
        };
        let mut search = from.min(upper.len());
        while let Some(found) = upper.get(search..).and_then(|t| t.find(function)) {
            let start = search + found;
            let before = upper[..start].chars().next_back();
            let after = upper[start + function.len()..].trim_start();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after.starts_with('(') {
                return Location {
                    line: i as u64 + 1,
                    column: upper[..start].chars().count() as u64 + 1,
                };
            }
            search = start + function.len();
        }
    }
    at
}

/// Arrow's type names in a DataFusion message as the SQL types a KDA user wrote.
fn sql_type_names(message: &str) -> String {
    use std::sync::LazyLock;
    static TYPES: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"\b(?:LargeUtf8|Utf8View|Utf8|Int64|Int32|Int16|Int8|UInt64|UInt32|UInt16|UInt8|Float64|Float32|Boolean|LargeBinary|BinaryView|Binary|Date32|Timestamp\([^)]*\)|Time64\([^)]*\)|Interval\([^)]*\)|Decimal128\((\d+), *(\d+)\))",
        )
        .expect("a valid pattern")
    });
    TYPES
        .replace_all(message, |c: &regex::Captures| {
            let t = &c[0];
            match t {
                "LargeUtf8" | "Utf8View" | "Utf8" => "VARCHAR".to_string(),
                "Int64" | "UInt64" | "UInt32" => "BIGINT".to_string(),
                "Int32" | "UInt16" => "INTEGER".to_string(),
                "Int16" | "UInt8" => "SMALLINT".to_string(),
                "Int8" => "TINYINT".to_string(),
                "Float64" => "DOUBLE".to_string(),
                "Float32" => "REAL".to_string(),
                "Boolean" => "BOOLEAN".to_string(),
                "LargeBinary" | "BinaryView" | "Binary" => "VARBINARY".to_string(),
                "Date32" => "DATE".to_string(),
                _ if t.starts_with("Timestamp") => "TIMESTAMP".to_string(),
                _ if t.starts_with("Time64") => "TIME".to_string(),
                _ if t.starts_with("Interval") => "INTERVAL".to_string(),
                _ => format!("DECIMAL({}, {})", &c[1], &c[2]),
            }
        })
        .into_owned()
}

/// DataFusion's advice in KDA's terms: KDA has no `ANY_VALUE`.
fn kda_help(help: &str) -> String {
    if help.contains("ANY_VALUE") {
        "add the column to GROUP BY, or use it inside an aggregate such as MIN(…) or MAX(…)"
            .to_string()
    } else {
        help.to_string()
    }
}

/// DataFusion's words for what a pump cannot do, as a KDA user's message and what to write instead.
fn kda_message(message: &str) -> (String, Option<&'static str>) {
    if message.contains("InSubquery") {
        return (
            "`IN (SELECT …)` is not supported here: a subquery can filter a stream in WHERE, over a reference table".into(),
            Some(
                "write WHERE s.key IN (SELECT key FROM \"TABLE\"), or join the stream with the table: … JOIN \"TABLE\" AS t ON s.key = t.key",
            ),
        );
    }
    if message.starts_with("Cannot coerce arithmetic expression") {
        return (
            message.to_string(),
            Some(
                "arithmetic takes numbers, datetimes and intervals: CAST text to a number first, or join text with ||",
            ),
        );
    }
    if message.contains("Exists") && message.contains("does not support") {
        return (
            "`EXISTS (SELECT …)` is not supported here: a subquery can filter a stream in WHERE, over a reference table".into(),
            Some(
                "write WHERE EXISTS (SELECT * FROM \"TABLE\" AS t WHERE t.key = s.key), or join the stream with the table",
            ),
        );
    }
    (message.to_string(), None)
}

pub(super) fn plan_pump(
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
    // Join windows named in the WINDOW clause leave it before the other passes run.
    let mut windows = Vec::with_capacity(p.windows.len());
    for w in &p.windows {
        let range = match (w.range, &w.named) {
            (Some(range), _) => range,
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
            range,
            at: w.at.start,
            used: false,
        });
    }
    let logical = logical_plan(src, query, p.query_at, catalog, functions)?;
    let clauses = clause_locations(&p.query);
    let mut lowering = Lowering {
        src,
        catalog,
        pump: &p.name,
        at: p.query_at,
        group_by_at: clauses.group_by.unwrap_or(p.query_at),
        order_by_at: clauses.order_by.unwrap_or(p.query_at),
        window_at: clauses.window.unwrap_or(p.query_at),
        stagger_ms: p.stagger_ms,
        count_distinct: p.table_function == Some(WindowedTableFunction::CountDistinct),
        tsort: p.tsort.map(|(ms, at)| (ms, at.start)),
        machine_learning: p.machine_learning,
        join_at: clauses.join.unwrap_or(p.query_at),
        ops: Vec::new(),
        windows,
        join: None,
        // CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_TIME and LOCALTIME(STAMP) are the time the
        // query started (KDA: "when the query first executes"), folded into constants.
        props: ExecutionProps::new().with_query_execution_start_time(chrono::Utc::now()),
    };
    let not_null = catalog.not_null.get(&p.target).cloned();
    let insert = Arc::new(plan_insert(src, p, target_def, not_null, &logical)?);
    // `… UNION ALL …`: one pump per branch, all writing the target (merged in ROWTIME order);
    // also under projections, filters and aliases, which work row by row on each branch.
    let distributed = union_branches(&logical).map_err(|e| df_error(src, e, p.query_at))?;
    let branches: Vec<&LogicalPlan> = match &distributed {
        Some(branches) => branches.iter().collect(),
        None => vec![&logical],
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

/// A pump's query (join windows already taken out), rewritten for KDA and planned by DataFusion.
pub(super) fn logical_plan(
    src: &SourceText,
    mut query: Box<datafusion::sql::sqlparser::ast::Query>,
    query_at: Location,
    catalog: &Catalog,
    functions: &[CreateFunction],
) -> Result<LogicalPlan> {
    rewrite_query(src, &mut query, query_at, functions, catalog)?;
    let resolver = Resolver::new(catalog);
    let planner = SqlToRel::new_with_options(&resolver, parser_options());
    let logical = planner
        .sql_statement_to_plan(Statement::Query(query))
        .map_err(|e| df_error(src, e, query_at))?;
    let logical = Analyzer::new()
        .execute_and_check(logical, resolver.options(), |_, _| {})
        .map_err(|e| df_error(src, e, query_at))?;
    // `x IN (SELECT … FROM table)` and `[NOT] EXISTS (…)` become semi and anti joins.
    Optimizer::with_rules(vec![Arc::new(DecorrelatePredicateSubquery::new())])
        .optimize(logical, &OptimizerContext::new(), |_, _| {})
        .map_err(|e| df_error(src, e, query_at))
}

/// The branches of a UNION ALL that is the query, or that is under nothing but projections,
/// filters and aliases (`SELECT … FROM (a UNION ALL b) AS u WHERE …`): those work row by row,
/// so each branch takes them on its own, its columns renamed to the union's. None for any
/// other query (a UNION ALL under an aggregate or a window stays an error of the lowering).
fn union_branches(plan: &LogicalPlan) -> datafusion::error::Result<Option<Vec<LogicalPlan>>> {
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
    match plan {
        LogicalPlan::Union(u) => Ok(Some(u.inputs.iter().map(|i| (**i).clone()).collect())),
        LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            let input = plan.inputs()[0];
            let Some(branches) = union_branches(input)? else {
                return Ok(None);
            };
            let union_schema = input.schema();
            let mut out = Vec::with_capacity(branches.len());
            for branch in branches {
                let branch = if matches!(input, LogicalPlan::Union(_)) {
                    // The union's column names (its first branch's) over this branch's columns.
                    let renamed: Vec<Expr> = branch
                        .schema()
                        .columns()
                        .into_iter()
                        .zip(union_schema.iter())
                        .map(|(c, (qualifier, field))| {
                            Expr::Column(c).alias_qualified(qualifier.cloned(), field.name())
                        })
                        .collect();
                    LogicalPlanBuilder::from(branch).project(renamed)?.build()?
                } else {
                    branch
                };
                out.push(plan.with_new_exprs(plan.expressions(), vec![branch])?);
            }
            Ok(Some(out))
        }
        _ => Ok(None),
    }
}

/// Where the clauses of a pump's query are, for errors that DataFusion reports without a
/// position: each points at the construct it is about instead of the query's first word.
#[derive(Default)]
struct ClauseLocations {
    group_by: Option<Location>,
    join: Option<Location>,
    order_by: Option<Location>,
    /// The first windowed aggregate (`AVG(x) OVER (…)`).
    window: Option<Location>,
    /// Each select-list item, when the list has no `*` (else empty).
    items: Vec<Location>,
}

fn clause_locations(query: &datafusion::sql::sqlparser::ast::Query) -> ClauseLocations {
    use std::ops::ControlFlow;

    use datafusion::sql::sqlparser::ast::{
        GroupByExpr, OrderByKind, SelectItem, SetExpr, Spanned, visit_expressions,
    };
    let known = |l: Location| Some(l).filter(|l| l.line > 0);
    let order_by = query.order_by.as_ref().and_then(|o| match &o.kind {
        OrderByKind::Expressions(exprs) => exprs.first().and_then(|e| known(e.expr.span().start)),
        OrderByKind::All(_) => None,
    });
    let SetExpr::Select(select) = query.body.as_ref() else {
        return ClauseLocations {
            order_by,
            ..ClauseLocations::default()
        };
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.first().and_then(|e| known(e.span().start)),
        GroupByExpr::All(_) => None,
    };
    let join = select
        .from
        .first()
        .and_then(|t| t.joins.first())
        .and_then(|j| known(j.relation.span().start));
    let mut window = None;
    let _ = visit_expressions(&select.projection, |e| {
        if let datafusion::sql::sqlparser::ast::Expr::Function(f) = e
            && f.over.is_some()
        {
            window = known(e.span().start);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    let items = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                known(e.span().start)
            }
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    ClauseLocations {
        group_by,
        join,
        order_by,
        window,
        items,
    }
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

pub(super) fn describe_type(dt: &DataType) -> String {
    SqlType::from_arrow(dt)
        .map(|t| t.to_string())
        .unwrap_or_else(|| dt.to_string())
}

fn plan_insert(
    src: &SourceText,
    p: &CreatePump,
    target: &StreamDef,
    not_null: Option<Vec<bool>>,
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
            // Point at the select-list item when the list maps one to one onto the columns.
            let items = clause_locations(&p.query).items;
            let at = match items.get(qi) {
                Some(at) if items.len() == fields.len() => *at,
                _ => p.query_at,
            };
            return Err(src
                .error_at(
                    at,
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
        padded: target
            .columns
            .iter()
            .map(|(_, t)| matches!(t, SqlType::Char(_)))
            .collect(),
        not_null: not_null.unwrap_or_else(|| vec![false; target.columns.len()]),
        rowtime_source,
        schema,
        display,
        visible: all_fields.len(),
        pump: p.name.clone(),
    })
}
