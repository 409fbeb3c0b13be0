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
use super::resolver::{Resolver, UNKNOWN_RELATION, parser_options};
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
            DataFusionError::Plan(m) if m.starts_with(UNKNOWN_RELATION) => Some(m.clone()),
            _ => None,
        };
        let mut diag = match ours.as_deref().and_then(|m| m.split_once("; ")) {
            Some((message, help)) => src.error_span(span, message).with_help(help),
            None => src.error_span(span, d.message.clone()),
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
    let (message, help) = kda_message(message.trim_end());
    let diag = src.error_at(at, message);
    match help {
        Some(help) => diag.with_help(help).into_error(),
        None => diag.into_error(),
    }
}

/// DataFusion's advice in KDA's terms: KDA has no `ANY_VALUE`.
fn kda_help(help: &str) -> String {
    if help.contains("ANY_VALUE") {
        "add the column to GROUP BY, or use it inside an aggregate such as MIN(…), MAX(…) or \
         FIRST_VALUE(…)"
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
    let (group_by_at, join_at) = clause_locations(&p.query);
    let mut lowering = Lowering {
        src,
        catalog,
        pump: &p.name,
        at: p.query_at,
        group_by_at: group_by_at.unwrap_or(p.query_at),
        stagger_ms: p.stagger_ms,
        count_distinct: p.table_function == Some(WindowedTableFunction::CountDistinct),
        tsort: p.tsort.map(|(ms, at)| (ms, at.start)),
        machine_learning: p.machine_learning,
        join_at: join_at.unwrap_or(p.query_at),
        ops: Vec::new(),
        windows,
        join: None,
        // CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_TIME and LOCALTIME(STAMP) are the time the
        // query started (KDA: "when the query first executes"), folded into constants.
        props: ExecutionProps::new().with_query_execution_start_time(chrono::Utc::now()),
    };
    let not_null = catalog.not_null.get(&p.target).cloned();
    let insert = Arc::new(plan_insert(src, p, target_def, not_null, &logical)?);
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
