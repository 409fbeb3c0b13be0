//! A pump's query in Flink SQL: FROM (streams, reference tables, joins, subqueries), tumbling
//! GROUP BY windows as window TVFs, sliding OVER windows with Flink's explicit frame, UNION ALL;
//! every expression checked against what Flink can say the same way, identifiers in backticks.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, CeilFloorKind, Expr, Function, FunctionArguments, GroupByExpr, Ident, JoinConstraint,
    JoinOperator, NamedWindowExpr, ObjectName, ObjectNamePart, OrderByExpr, OrderByOptions, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier,
    Spanned, TableFactor, WindowFrameBound, WindowType, visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::catalog::{FlinkForm, function};
use super::{quote, rowtime_value};
use crate::dialect::{CreatePump, DATETIME_MINUS_CALL, unnamed_args};
use crate::error::{Error, Result, SourceText};

/// The kind of time attribute a relation's ROWTIME is in Flink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeAttr {
    /// An event-time attribute with a watermark.
    Event,
    /// `PROCTIME()`.
    Processing,
    /// A plain TIMESTAMP(3): no window can follow (it came out of a regular join).
    Plain,
}

/// A stream (input or in-application) as later queries see it in Flink.
#[derive(Debug, Clone)]
pub struct StreamRel {
    pub columns: Vec<String>,
    pub time: TimeAttr,
    /// KDA's ROWTIME is Flink's ROWTIME plus this many milliseconds (a window's rows carry
    /// Flink's `window_time`, one millisecond before the window's end, which is KDA's ROWTIME).
    pub offset_ms: i64,
    /// Why the ROWTIME became a plain timestamp, for the message of a window that needs it.
    pub plain_because: Option<String>,
}

/// What the translator knows: the streams and reference tables by name.
pub struct Env<'a> {
    pub src: &'a SourceText,
    pub streams: HashMap<String, StreamRel>,
    pub tables: HashMap<String, Vec<String>>,
    pub functions: Vec<String>,
    /// The `FROM s OVER (RANGE …)` windows of the pump being translated.
    pub join_windows: std::cell::RefCell<Vec<crate::dialect::TableWindow>>,
    /// The versioned views (reference table, key columns) the translated pumps' LEFT JOINs
    /// read, for the script to define before the pump.
    pub versioned: std::cell::RefCell<Vec<(String, Vec<String>)>>,
    /// Why the input has no APPROXIMATE_ARRIVAL_TIME column in Flink, if it has none.
    pub no_arrival_time: Option<&'static str>,
}

/// A translated query: its SQL, its columns' names (ROWTIME last, always present) and time.
pub struct Part {
    pub sql: String,
    pub columns: Vec<String>,
    pub time: TimeAttr,
    pub offset_ms: i64,
    /// Comments to put at the statement (where Flink's result can differ from KDA's).
    pub notes: Vec<String>,
    pub plain_because: Option<String>,
}

fn not_translatable(src: &SourceText, span: Span, what: &str, why: &str) -> Error {
    src.error_span(span, format!("not translatable to Flink: {what}"))
        .with_help(why.to_string())
        .into_error()
}

/// Translates a pump's query; its select items are named `$1`, `$2`, … (the pump's view maps
/// them to the stream's columns) and ROWTIME comes last.
pub fn pump(env: &Env, p: &CreatePump) -> Result<Part> {
    let at = Span::new(p.query_at, p.query_at);
    if p.stagger_ms.is_some() {
        return Err(not_translatable(
            env.src,
            at,
            "WINDOWED BY STAGGER",
            "Flink has no window that opens at each key's first row and closes a range later; write the pump with a tumbling GROUP BY STEP(ROWTIME BY …) if that is what you need",
        ));
    }
    if let Some(f) = p.table_function {
        let name = match f {
            crate::dialect::WindowedTableFunction::TopK(_) => "TOP_K_ITEMS_TUMBLING",
            crate::dialect::WindowedTableFunction::CountDistinct => "COUNT_DISTINCT_ITEMS_TUMBLING",
        };
        let why = match function(name) {
            Some(FlinkForm::None(why)) => why,
            _ => "no Flink form",
        };
        return Err(not_translatable(env.src, at, name, why));
    }
    *env.join_windows.borrow_mut() = p.windows.clone();
    let part = query(env, &p.query, true);
    env.join_windows.borrow_mut().clear();
    part
}

fn query(env: &Env, q: &Query, positional: bool) -> Result<Part> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(not_translatable(
            env.src,
            q.span(),
            "WITH, ORDER BY, LIMIT or FETCH in a streaming query",
            "remove it: a KDA pump's query has none of them",
        ));
    }
    set_expr(env, &q.body, positional)
}

fn set_expr(env: &Env, body: &SetExpr, positional: bool) -> Result<Part> {
    match body {
        SetExpr::Select(s) => select(env, s, positional),
        SetExpr::Query(q) => {
            let mut part = query(env, q, positional)?;
            part.sql = format!("({})", part.sql);
            Ok(part)
        }
        SetExpr::SetOperation {
            left,
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            right,
        } => {
            let l = set_expr(env, left, positional)?;
            let r = set_expr(env, right, positional)?;
            if l.columns.len() != r.columns.len() {
                return Err(not_translatable(
                    env.src,
                    body.span(),
                    "UNION ALL of queries with different column counts",
                    "give both sides the same columns",
                ));
            }
            let time = if l.time == r.time {
                l.time
            } else {
                TimeAttr::Plain
            };
            if l.offset_ms != r.offset_ms {
                return Err(not_translatable(
                    env.src,
                    body.span(),
                    "UNION ALL of a windowed result and rows of another kind",
                    "their ROWTIMEs differ in Flink by the window's millisecond; write the two into one stream with two pumps",
                ));
            }
            let mut notes = l.notes;
            notes.extend(r.notes);
            Ok(Part {
                sql: format!("{}\nUNION ALL\n{}", l.sql, r.sql),
                columns: l.columns,
                time,
                offset_ms: l.offset_ms,
                notes,
                plain_because: l.plain_because.or(r.plain_because),
            })
        }
        other => Err(not_translatable(
            env.src,
            other.span(),
            "a set operation other than UNION ALL",
            "KDA streams combine with UNION ALL only",
        )),
    }
}

/// One relation of a FROM clause.
struct Rel {
    alias: String,
    columns: Vec<String>,
    /// For a stream: its time attribute and ROWTIME offset.
    stream: Option<(TimeAttr, i64, Option<String>)>,
    /// The FROM text, before any window or join wrapping.
    name_sql: String,
    /// A named relation (a stream or table), which a window TVF can take.
    named: bool,
    /// Its name as written (for a stream's join window).
    table_name: String,
}

fn ident_text(i: &Ident) -> String {
    i.value.clone()
}

fn object_name(n: &ObjectName) -> String {
    n.0.iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn relation(env: &Env, f: &TableFactor) -> Result<Rel> {
    match f {
        TableFactor::Table {
            name, alias, args, ..
        } => {
            if args.is_some() {
                return Err(not_translatable(
                    env.src,
                    f.span(),
                    &format!("the table function {name}"),
                    "rowtime translates streams and reference tables in FROM",
                ));
            }
            let n = object_name(name);
            let alias = alias.as_ref().map_or(n.clone(), |a| ident_text(&a.name));
            if let Some(s) = env.streams.get(&n) {
                return Ok(Rel {
                    alias,
                    columns: s.columns.clone(),
                    stream: Some((s.time, s.offset_ms, s.plain_because.clone())),
                    name_sql: quote(&n),
                    named: true,
                    table_name: n.clone(),
                });
            }
            if let Some(cols) = env.tables.get(&n) {
                return Ok(Rel {
                    alias,
                    columns: cols.clone(),
                    stream: None,
                    name_sql: quote(&n),
                    named: true,
                    table_name: n.clone(),
                });
            }
            Err(env
                .src
                .error_span(f.span(), format!("unknown stream or table {n}"))
                .into_error())
        }
        TableFactor::Derived {
            lateral: false,
            subquery,
            alias,
            ..
        } => {
            let part = query(env, subquery, false)?;
            let alias = alias
                .as_ref()
                .map_or_else(|| "subquery".to_string(), |a| ident_text(&a.name));
            let mut columns = part.columns.clone();
            columns.pop(); // ROWTIME
            Ok(Rel {
                alias,
                columns,
                stream: Some((part.time, part.offset_ms, part.plain_because.clone())),
                name_sql: format!("({})", part.sql),
                named: false,
                table_name: String::new(),
            })
        }
        other => Err(not_translatable(
            env.src,
            other.span(),
            "this FROM item",
            "rowtime translates streams, reference tables and subqueries in FROM",
        )),
    }
}

fn is_rowtime_ref(e: &Expr) -> Option<Option<String>> {
    match e {
        // A ROWTIME already translated with its offset: `(s.ROWTIME + INTERVAL …)`.
        Expr::Nested(inner) => match inner.as_ref() {
            Expr::BinaryOp { left, .. } => is_rowtime_ref(left),
            _ => None,
        },
        Expr::Identifier(i) if i.value.eq_ignore_ascii_case("ROWTIME") => Some(None),
        Expr::CompoundIdentifier(parts)
            if parts.len() == 2 && parts[1].value.eq_ignore_ascii_case("ROWTIME") =>
        {
            Some(Some(parts[0].value.clone()))
        }
        _ => None,
    }
}

/// A tumbling window of a GROUP BY: `STEP(ROWTIME BY width)` or `FLOOR(ROWTIME TO unit)`.
fn window_of(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Function(f) if fname(f) == "STEP" => {
            let args = unnamed_args(f);
            if args.len() == 2 {
                let r = is_rowtime_ref(&args[0])?;
                let mut width = args[1].clone();
                if let Expr::Interval(iv) = &mut width {
                    interval_precision(iv);
                }
                return Some((r, width.to_string()));
            }
            None
        }
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } => {
            let r = is_rowtime_ref(expr)?;
            Some((r, format!("INTERVAL '1' {unit}")))
        }
        _ => None,
    }
}

/// Flink (Calcite) takes at most two digits in an interval's leading field unless its precision
/// says more: `INTERVAL '100' DAY` is written `INTERVAL '100' DAY(3)`.
fn interval_precision(iv: &mut datafusion::sql::sqlparser::ast::Interval) {
    if iv.leading_precision.is_some() || iv.leading_field.is_none() {
        return;
    }
    if let Expr::Value(v) = iv.value.as_ref()
        && let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text) = &v.value
    {
        let digits = text
            .trim_start_matches(['-', '+', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .count() as u64;
        if digits > 2 {
            iv.leading_precision = Some(digits);
        }
    }
}

fn fname(f: &Function) -> String {
    object_name(&f.name).to_ascii_uppercase()
}

struct Window {
    width: String,
}

fn select(env: &Env, s: &Select, positional: bool) -> Result<Part> {
    let mut notes = Vec::new();
    if s.distinct.is_some() {
        return Err(not_translatable(
            env.src,
            s.span(),
            "SELECT DISTINCT",
            "a streaming DISTINCT in Flink keeps every value seen and is not append-only",
        ));
    }
    if s.from.len() != 1 {
        return Err(not_translatable(
            env.src,
            s.span(),
            "a FROM clause without exactly one relation (or comma joins)",
            "write FROM stream [JOIN table ON …]",
        ));
    }
    let from = &s.from[0];
    let mut rels = vec![relation(env, &from.relation)?];
    let mut join_ops = Vec::new();
    for j in &from.joins {
        let rel = relation(env, &j.relation)?;
        let (kind, constraint) = match &j.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("LEFT JOIN", c),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT JOIN", c),
            JoinOperator::FullOuter(c) => ("FULL JOIN", c),
            _ => {
                return Err(not_translatable(
                    env.src,
                    j.relation.span(),
                    "this kind of join",
                    "rowtime translates JOIN … ON between a stream and a reference table",
                ));
            }
        };
        let JoinConstraint::On(on) = constraint else {
            return Err(not_translatable(
                env.src,
                j.relation.span(),
                "a join without ON",
                "write JOIN t ON condition",
            ));
        };
        join_ops.push((kind, on.clone(), j.relation.span()));
        rels.push(rel);
    }
    let streams: Vec<usize> = (0..rels.len())
        .filter(|i| rels[*i].stream.is_some())
        .collect();
    // A windowed join of two streams: Flink's interval join.
    let stream_join = if streams.len() == 2 && rels.len() == 2 {
        Some(interval_join(env, &rels, &join_ops[0])?)
    } else {
        None
    };
    // Joins with reference tables: JOIN is Flink's regular join; stream LEFT JOIN table is an
    // event-time temporal join with the table's rows, which is append-only (a regular outer
    // join would retract each row it padded with NULLs when the table's row arrived).
    let mut lookup_keys: Vec<Option<Vec<String>>> = vec![None; rels.len()];
    if stream_join.is_none() {
        for (i, (kind, on, span)) in join_ops.iter().enumerate() {
            let rel = &rels[i + 1];
            match *kind {
                "JOIN" => {}
                "LEFT JOIN" if rels[0].stream.is_some() && rel.stream.is_none() => {
                    lookup_keys[i + 1] = Some(lookup_key(env, on, rel, *span)?);
                }
                other => {
                    return Err(not_translatable(
                        env.src,
                        *span,
                        other,
                        "Flink can pad a stream's rows that find no reference row (an event-time temporal join) but not a reference table's rows that no stream row finds: write stream LEFT JOIN table ON …",
                    ));
                }
            }
        }
    }
    let temporal = lookup_keys.iter().any(Option::is_some);
    if temporal && join_ops.iter().any(|(k, _, _)| *k == "JOIN") {
        let span = join_ops.iter().find(|(k, _, _)| *k == "JOIN").unwrap().2;
        return Err(not_translatable(
            env.src,
            span,
            "a JOIN and a LEFT JOIN with reference tables in one FROM",
            "Flink's regular join (JOIN) drops the time attribute that its temporal join (LEFT JOIN) needs: join in one pump and LEFT JOIN in the next",
        ));
    }
    if stream_join.is_none() && streams.len() != 1 {
        return Err(not_translatable(
            env.src,
            s.span(),
            if streams.is_empty() {
                "a query without a stream"
            } else {
                "a join of two streams without windows"
            },
            "a KDA pump reads one stream (joined with reference tables)",
        ));
    }
    let si = streams[0];
    let (time, offset_ms, plain_because) = rels[si].stream.clone().expect("a stream");
    let joined = rels.len() > 1 && stream_join.is_none();
    // A regular join (JOIN with reference tables), which keeps no time attribute.
    let regular = joined && !temporal;
    if temporal && time != TimeAttr::Event {
        return Err(not_translatable(
            env.src,
            s.span(),
            "a LEFT JOIN with a reference table on a stream without an event time",
            plain_because.as_deref().unwrap_or(
                "Flink's temporal join needs the stream's ROWTIME as an event-time attribute",
            ),
        ));
    }

    // The window of a GROUP BY.
    let mut window = None;
    let mut keys = Vec::new();
    match &s.group_by {
        GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => {
            for e in exprs {
                if let Some((_, width)) = window_of(e) {
                    if window.is_some() {
                        return Err(not_translatable(
                            env.src,
                            e.span(),
                            "two windows in one GROUP BY",
                            "a Flink window groups by one time attribute; keep one STEP(ROWTIME BY …)",
                        ));
                    }
                    window = Some(Window { width });
                } else {
                    keys.push(e.clone());
                }
            }
        }
        other => {
            return Err(not_translatable(
                env.src,
                other.span(),
                "this GROUP BY",
                "write GROUP BY keys, STEP(ROWTIME BY …)",
            ));
        }
    }
    if window.is_some() {
        if joined {
            return Err(not_translatable(
                env.src,
                s.span(),
                "a tumbling window over a join",
                "Flink's window TVF takes one table: join in one pump and aggregate in the next",
            ));
        }
        if !rels[si].named {
            return Err(not_translatable(
                env.src,
                s.span(),
                "a tumbling window over a subquery",
                "put the subquery into a stream of its own with a pump and window that stream",
            ));
        }
        if time == TimeAttr::Plain {
            return Err(not_translatable(
                env.src,
                s.span(),
                "a tumbling window over a stream without a time attribute",
                plain_because
                    .as_deref()
                    .unwrap_or("its ROWTIME is a plain timestamp in Flink"),
            ));
        }
        if offset_ms != 0 {
            notes.push(format!(
                "this window reads a windowed stream, whose rows Flink stamps {offset_ms} ms before KDA's ROWTIME (the window's end): a row that KDA stamps exactly on a boundary of this window falls into the window before it in Flink"
            ));
        }
    }

    let ctx = ExprCtx {
        notes: std::cell::RefCell::new(Vec::new()),
        windows_used: std::cell::RefCell::new(Vec::new()),
        env,
        rels: &rels,
        stream: si,
        window: window.is_some(),
        offset_ms,
        named_windows: named_windows(env, s)?,
        time,
        plain_because: plain_because.clone(),
        joined_rowtime: stream_join.as_ref().map(|j| j.rowtime.clone()),
    };

    // FROM.
    let mut from_sql = String::new();
    for (i, rel) in rels.iter().enumerate() {
        let text = if let (true, Some(w)) = (i == si, &window) {
            format!(
                "TABLE(TUMBLE(TABLE {}, DESCRIPTOR(`ROWTIME`), {})) AS {}",
                rel.name_sql,
                w.width,
                quote(&rel.alias)
            )
        } else if i == si && regular && time != TimeAttr::Plain {
            let cols: Vec<String> = rel.columns.iter().map(|c| quote(c)).collect();
            format!(
                "(SELECT {}, CAST(`ROWTIME` AS TIMESTAMP(3)) AS `ROWTIME` FROM {}) AS {}",
                cols.join(", "),
                rel.name_sql,
                quote(&rel.alias)
            )
        } else if let Some(keys) = &lookup_keys[i] {
            env.versioned
                .borrow_mut()
                .push((rel.table_name.clone(), keys.clone()));
            format!(
                "{} FOR SYSTEM_TIME AS OF {}.`ROWTIME` AS {}",
                quote(&super::ddl::versioned_name(&rel.table_name, keys)),
                quote(&rels[si].alias),
                quote(&rel.alias)
            )
        } else {
            format!("{} AS {}", rel.name_sql, quote(&rel.alias))
        };
        if i == 0 {
            from_sql.push_str(&text);
        } else {
            let (kind, on, _) = &join_ops[i - 1];
            let on = ctx.expr(on)?;
            match &stream_join {
                Some(j) => {
                    from_sql.push_str(&format!("\n{kind} {text} ON ({on})\n  AND {}", j.bounds))
                }
                None => from_sql.push_str(&format!("\n{kind} {text} ON {on}")),
            }
        }
    }

    // SELECT items.
    let mut items = Vec::new();
    let mut names = Vec::new();
    let push = |items: &mut Vec<String>, names: &mut Vec<String>, sql: String, name: String| {
        let n = names.len() + 1;
        let alias = if positional { format!("${n}") } else { name };
        items.push(format!("{sql} AS {}", quote(&alias)));
        names.push(alias);
    };
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let name = derived_name(e, names.len() + 1);
                push(&mut items, &mut names, ctx.expr(e)?, name);
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                push(&mut items, &mut names, ctx.expr(expr)?, alias.value.clone())
            }
            SelectItem::Wildcard(_) => {
                for rel in &rels {
                    for c in &rel.columns {
                        push(
                            &mut items,
                            &mut names,
                            format!("{}.{}", quote(&rel.alias), quote(c)),
                            c.clone(),
                        );
                    }
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                let a = object_name(n);
                let Some(rel) = rels.iter().find(|r| r.alias.eq_ignore_ascii_case(&a)) else {
                    return Err(env
                        .src
                        .error_span(item.span(), format!("no relation {a} in FROM"))
                        .into_error());
                };
                for c in &rel.columns {
                    push(
                        &mut items,
                        &mut names,
                        format!("{}.{}", quote(&rel.alias), quote(c)),
                        c.clone(),
                    );
                }
            }
            other => {
                return Err(not_translatable(
                    env.src,
                    other.span(),
                    "this select item",
                    "write expressions, * or alias.*",
                ));
            }
        }
    }
    let stream_alias = quote(&rels[si].alias);
    let rowtime = if let Some(j) = &stream_join {
        j.rowtime.clone()
    } else if window.is_some() {
        format!("{stream_alias}.`window_time`")
    } else {
        format!("{stream_alias}.`ROWTIME`")
    };
    items.push(format!("{rowtime} AS `ROWTIME`"));
    names.push("ROWTIME".to_string());

    // KDA sends a row that divides by zero to error_stream; Flink would give Infinity (or fail
    // the job for exact numbers): the row is dropped where its divisor is zero.
    let mut where_guards = Vec::new();
    let mut having_guards = Vec::new();
    let mut divisors = Vec::new();
    for item in &s.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            divisors_of(e, &mut divisors);
        }
    }
    if let Some(w) = &s.selection {
        divisors_of(w, &mut divisors);
    }
    if let Some(h) = &s.having {
        divisors_of(h, &mut divisors);
    }
    // KDA rejects a value too long for CAST(… AS VARCHAR(n)) (the row goes to error_stream);
    // Flink cuts it: the row is dropped where it is too long.
    let mut casts = Vec::new();
    for item in &s.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            short_casts(e, &mut casts);
        }
    }
    if let Some(w) = &s.selection {
        short_casts(w, &mut casts);
    }
    for (inner, n) in &casts {
        let (has_over, has_agg) = calls_in(inner);
        if has_over || has_agg {
            continue;
        }
        let text = ctx.expr(inner)?;
        where_guards.push(format!(
            "({text} IS NULL OR CHAR_LENGTH(CAST({text} AS STRING)) <= {n})"
        ));
    }
    for d in &divisors {
        if matches!(d, Expr::Value(_)) && d.to_string() != "0" {
            continue;
        }
        let (has_over, has_agg) = calls_in(d);
        let text = ctx.expr(d)?;
        let guard = format!("({text} IS NULL OR {text} <> 0)");
        if has_over {
            notes.push(format!("KDA sends a row whose divisor {d} is zero to error_stream; Flink gives Infinity, NaN or fails the job"));
        } else if has_agg {
            having_guards.push(guard);
        } else {
            where_guards.push(guard);
        }
    }
    if !where_guards.is_empty() || !having_guards.is_empty() {
        notes.push(
            "a row that divides by zero is dropped, as KDA sends it to error_stream".to_string(),
        );
    }
    let mut sql = format!("SELECT {}\nFROM {from_sql}", items.join(",\n       "));
    let mut conditions = Vec::new();
    if let Some(w) = &s.selection {
        conditions.push(format!("({})", ctx.expr(w)?));
    }
    conditions.extend(where_guards);
    if !conditions.is_empty() {
        sql.push_str(&format!("\nWHERE {}", conditions.join("\n  AND ")));
    }
    if window.is_some() {
        let mut group: Vec<String> = Vec::new();
        for k in &keys {
            group.push(ctx.expr(k)?);
        }
        for c in ["window_start", "window_end", "window_time"] {
            group.push(format!("{stream_alias}.`{c}`"));
        }
        sql.push_str(&format!("\nGROUP BY {}", group.join(", ")));
    } else if !keys.is_empty() {
        return Err(not_translatable(
            env.src,
            s.group_by.span(),
            "GROUP BY without a ROWTIME window",
            "a streaming GROUP BY needs STEP(ROWTIME BY …)",
        ));
    }
    let mut having = Vec::new();
    if let Some(h) = &s.having {
        having.push(format!("({})", ctx.expr(h)?));
    }
    having.extend(having_guards);
    if !having.is_empty() {
        sql.push_str(&format!("\nHAVING {}", having.join("\n   AND ")));
    }
    for n in ctx.notes.borrow().iter() {
        if !notes.contains(n) {
            notes.push(n.clone());
        }
    }
    if ctx
        .windows_used
        .borrow()
        .iter()
        .any(|w| w.contains("RANGE BETWEEN"))
    {
        notes.push("rows with equal ROWTIMEs: Flink's RANGE frame holds all of them (SQL's peers), where KDA's holds those before the current row and the row itself, so an aggregate over such rows can differ".to_string());
    }
    let (out_time, out_offset, out_plain) = if stream_join.is_some() {
        notes.push("Flink's interval join: each pair of rows within the join windows, outer rows padded when the watermark passes their window's end".to_string());
        (
            TimeAttr::Plain,
            0,
            Some("its rows come out of a join of two streams, whose ROWTIME (the later of the two rows') is a plain TIMESTAMP in Flink".to_string()),
        )
    } else if window.is_some() {
        (time, offset_ms + 1, None)
    } else if regular {
        (
            TimeAttr::Plain,
            offset_ms,
            Some(format!(
                "its rows come out of a join of {} with a reference table, where Flink makes ROWTIME a plain TIMESTAMP (a regular join keeps no time attribute)",
                rels[si].alias
            )),
        )
    } else {
        (time, offset_ms, plain_because)
    };
    for (rel, keys) in rels.iter().zip(&lookup_keys) {
        if let Some(keys) = keys {
            notes.push(format!(
                "Flink runs this LEFT JOIN as an event-time temporal join with one row of {} per {}: KDA joins every row with the key, so the rows agree when {} is unique in {}. Each row is joined when the watermark passes its ROWTIME",
                rel.table_name,
                keys.join(", "),
                keys.join(", "),
                rel.table_name
            ));
        }
    }
    if regular && time != TimeAttr::Plain {
        notes.push("Flink runs this as a regular join: it keeps the reference table's rows in state, and the stream's ROWTIME becomes a plain TIMESTAMP(3) (a regular join cannot carry a time attribute)".to_string());
    }
    Ok(Part {
        sql,
        columns: names,
        time: out_time,
        offset_ms: out_offset,
        notes,
        plain_because: out_plain,
    })
}

/// The reference table's columns that a LEFT JOIN's ON equates with a stream's values: the
/// key of the versioned view Flink's temporal join reads.
fn lookup_key(env: &Env, on: &Expr, table: &Rel, span: Span) -> Result<Vec<String>> {
    fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::BinaryOp {
                left,
                op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
                right,
            } => {
                conjuncts(left, out);
                conjuncts(right, out);
            }
            Expr::Nested(inner) => conjuncts(inner, out),
            other => out.push(other),
        }
    }
    // The table's column an expression is, if it is one.
    let column_of = |e: &Expr| -> Option<String> {
        let name = match e {
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                if !parts[0].value.eq_ignore_ascii_case(&table.alias) {
                    return None;
                }
                &parts[1].value
            }
            _ => return None,
        };
        table
            .columns
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name))
            .cloned()
    };
    let mentions_table = |e: &Expr| {
        datafusion::sql::sqlparser::ast::visit_expressions(e, |x| match x {
            Expr::CompoundIdentifier(parts)
                if parts[0].value.eq_ignore_ascii_case(&table.alias) =>
            {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    };
    let mut parts = Vec::new();
    conjuncts(on, &mut parts);
    let mut keys: Vec<String> = Vec::new();
    for c in parts {
        if let Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
            right,
        } = c
        {
            let key = match (column_of(left), column_of(right)) {
                (Some(k), None) if !mentions_table(right) => Some(k),
                (None, Some(k)) if !mentions_table(left) => Some(k),
                _ => None,
            };
            if let Some(k) = key
                && !keys.contains(&k)
            {
                keys.push(k);
            }
        }
    }
    if keys.is_empty() {
        return Err(not_translatable(
            env.src,
            span,
            "a LEFT JOIN with a reference table without an equality on its columns",
            &format!(
                "Flink's temporal join looks rows up by key: write ON stream_value = {}.column",
                table.alias
            ),
        ));
    }
    Ok(keys)
}

/// Whether a query LEFT JOINs one of these reference tables (then a processing-time input
/// carries its arrival time as an event time, which Flink's temporal join needs).
pub fn left_joins_a_table(q: &Query, tables: &std::collections::HashSet<String>) -> bool {
    fn in_set(e: &SetExpr, tables: &std::collections::HashSet<String>) -> bool {
        match e {
            SetExpr::Select(s) => s.from.iter().any(|f| {
                in_factor(&f.relation, tables)
                    || f.joins.iter().any(|j| {
                        in_factor(&j.relation, tables)
                            || (matches!(
                                j.join_operator,
                                JoinOperator::Left(_) | JoinOperator::LeftOuter(_)
                            ) && matches!(&j.relation, TableFactor::Table { name, .. }
                                if tables.contains(&object_name(name))))
                    })
            }),
            SetExpr::Query(q) => left_joins_a_table(q, tables),
            SetExpr::SetOperation { left, right, .. } => {
                in_set(left, tables) || in_set(right, tables)
            }
            _ => false,
        }
    }
    fn in_factor(f: &TableFactor, tables: &std::collections::HashSet<String>) -> bool {
        match f {
            TableFactor::Derived { subquery, .. } => left_joins_a_table(subquery, tables),
            _ => false,
        }
    }
    in_set(&q.body, tables)
}

fn named_windows(
    env: &Env,
    s: &Select,
) -> Result<HashMap<String, datafusion::sql::sqlparser::ast::WindowSpec>> {
    let mut out = HashMap::new();
    for w in &s.named_window {
        match &w.1 {
            NamedWindowExpr::WindowSpec(spec) => {
                out.insert(w.0.value.to_ascii_uppercase(), spec.clone());
            }
            NamedWindowExpr::NamedWindow(_) => {
                return Err(not_translatable(
                    env.src,
                    w.0.span,
                    "a window defined as another window",
                    "define the window in full",
                ));
            }
        }
    }
    Ok(out)
}

/// `STEP(x BY width)` outside a ROWTIME window, in Flink SQL: the start of x's step, as
/// midnight of x's day plus the whole steps since then (the same as steps from the epoch when
/// the width divides a day).
fn step_text(src: &SourceText, f: &Function, span: Span) -> Result<String> {
    let args = unnamed_args(f);
    let width = match args.get(1) {
        Some(Expr::Interval(iv)) if iv.last_field.is_none() => {
            let n = match iv.value.as_ref() {
                Expr::Value(v) => match &v.value {
                    datafusion::sql::sqlparser::ast::Value::SingleQuotedString(t) => {
                        t.trim().parse::<i64>().ok()
                    }
                    _ => None,
                },
                _ => None,
            };
            use datafusion::sql::sqlparser::ast::DateTimeField as F;
            let unit = match iv.leading_field {
                Some(F::Second | F::Seconds) => Some(1),
                Some(F::Minute | F::Minutes) => Some(60),
                Some(F::Hour | F::Hours) => Some(3600),
                Some(F::Day | F::Days) => Some(86_400),
                _ => None,
            };
            n.zip(unit).map(|(n, u)| n * u)
        }
        _ => None,
    };
    let Some(w) = width.filter(|w| *w > 0 && 86_400 % w == 0) else {
        return Err(not_translatable(
            src,
            span,
            "STEP of this width outside a tumbling GROUP BY on ROWTIME",
            "rowtime writes STEP(x BY width) in Flink for a width of whole seconds that divides a day (so that steps from the epoch are steps from midnight)",
        ));
    };
    let x = &args[0];
    Ok(format!(
        "TIMESTAMPADD(SECOND, CAST((EXTRACT(HOUR FROM {x}) * 3600 + EXTRACT(MINUTE FROM {x}) * 60 + EXTRACT(SECOND FROM {x})) / {w} * {w} AS INT), CAST(CAST({x} AS DATE) AS TIMESTAMP(3)))"
    ))
}

/// A join of two streams as Flink's interval join.
struct IntervalJoin {
    /// `l.ROWTIME BETWEEN r.ROWTIME - d(l) AND r.ROWTIME + d(r)`.
    bounds: String,
    /// The joined row's ROWTIME: the later of the two rows', or for an outer row without a
    /// partner its own plus its window.
    rowtime: String,
}

fn interval_join(env: &Env, rels: &[Rel], join: &(&str, Expr, Span)) -> Result<IntervalJoin> {
    let windows = env.join_windows.borrow();
    if windows.is_empty() {
        return Err(not_translatable(
            env.src,
            join.2,
            "a join of two streams without windows",
            "give a stream a window: FROM a OVER (RANGE INTERVAL 'n' unit PRECEDING) JOIN b",
        ));
    }
    let mut d = [0i64; 2];
    for w in windows.iter() {
        let Some(k) = rels
            .iter()
            .position(|r| r.table_name.eq_ignore_ascii_case(&w.table))
        else {
            continue;
        };
        match &w.range {
            Some(range) if !range.following => d[k] = range.ms,
            _ => {
                return Err(not_translatable(
                    env.src,
                    w.at,
                    "a join window that is FOLLOWING or named",
                    "rowtime translates OVER (RANGE INTERVAL 'n' unit PRECEDING) join windows",
                ));
            }
        }
    }
    for r in rels {
        let (time, offset, because) = r.stream.clone().expect("two streams");
        if time == TimeAttr::Plain || offset != 0 {
            return Err(not_translatable(
                env.src,
                join.2,
                "a windowed join of a stream without a time attribute or of windowed rows",
                because
                    .as_deref()
                    .unwrap_or("Flink's interval join needs both streams' time attributes"),
            ));
        }
    }
    let t = |r: &Rel| format!("{}.`ROWTIME`", quote(&r.alias));
    let (l, r) = (t(&rels[0]), t(&rels[1]));
    let bounds = format!(
        "{l} BETWEEN {r} - {} AND {r} + {}",
        rowtime_value(d[0]),
        rowtime_value(d[1])
    );
    let (lc, rc) = (
        format!("CAST({l} AS TIMESTAMP(3))"),
        format!("CAST({r} AS TIMESTAMP(3))"),
    );
    // An outer join's row without a partner has the ROWTIME at which it stopped being
    // joinable: its own plus its side's window (as rowtime emits it).
    Ok(IntervalJoin {
        bounds,
        rowtime: format!(
            "COALESCE(GREATEST({lc}, {rc}), {lc} + {}, {rc} + {})",
            rowtime_value(d[0]),
            rowtime_value(d[1])
        ),
    })
}

/// The divisors of every `/` in an expression (subqueries aside).
fn divisors_of(e: &Expr, out: &mut Vec<Expr>) {
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::BinaryOp {
            op: datafusion::sql::sqlparser::ast::BinaryOperator::Divide,
            right,
            ..
        } = x
            && !out.contains(right)
        {
            out.push((**right).clone());
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The `CAST(x AS VARCHAR(n))` / `CHAR(n)` in an expression: x and n.
fn short_casts(e: &Expr, out: &mut Vec<(Expr, u64)>) {
    use datafusion::sql::sqlparser::ast::{CharacterLength, DataType};
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Cast {
            expr, data_type, ..
        } = x
        {
            let n = match data_type {
                DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
                | DataType::Char(Some(CharacterLength::IntegerLength { length, .. }))
                | DataType::CharVarying(Some(CharacterLength::IntegerLength { length, .. }))
                | DataType::CharacterVarying(Some(CharacterLength::IntegerLength {
                    length, ..
                })) => Some(*length),
                _ => None,
            };
            if let Some(n) = n {
                out.push(((**expr).clone(), n));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Whether an expression calls a window function (OVER) or an aggregate.
fn calls_in(e: &Expr) -> (bool, bool) {
    let mut over = false;
    let mut agg = false;
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Function(f) = x {
            if f.over.is_some() {
                over = true;
            }
            let n = fname(f);
            if matches!(
                n.as_str(),
                "COUNT"
                    | "SUM"
                    | "AVG"
                    | "MIN"
                    | "MAX"
                    | "STDDEV_POP"
                    | "STDDEV_SAMP"
                    | "VAR_POP"
                    | "VAR_SAMP"
                    | "FIRST_VALUE"
                    | "LAST_VALUE"
            ) {
                agg = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    (over, agg)
}

fn derived_name(e: &Expr, n: usize) -> String {
    match e {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(p) => p.last().map_or(format!("EXPR${n}"), |i| i.value.clone()),
        _ => format!("EXPR${n}"),
    }
}

struct ExprCtx<'a> {
    /// Where the translation is inexact, found in expressions.
    notes: std::cell::RefCell<Vec<String>>,
    /// The OVER windows used, as Flink SQL (Flink computes all of a query's OVER aggregates
    /// over one window).
    windows_used: std::cell::RefCell<Vec<String>>,
    env: &'a Env<'a>,
    rels: &'a [Rel],
    stream: usize,
    window: bool,
    offset_ms: i64,
    named_windows: HashMap<String, datafusion::sql::sqlparser::ast::WindowSpec>,
    time: TimeAttr,
    plain_because: Option<String>,
    /// A join of two streams: the joined row's ROWTIME, the later of the two rows'.
    joined_rowtime: Option<String>,
}

fn bq(i: &mut Ident) {
    i.quote_style = Some('`');
}

impl ExprCtx<'_> {
    /// An expression in Flink SQL.
    fn expr(&self, e: &Expr) -> Result<String> {
        let mut e = e.clone();
        let mut failure = None;
        let _ = visit_expressions_mut(&mut e, |x| match self.rewrite(x) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                failure = Some(err);
                ControlFlow::Break(())
            }
        });
        match failure {
            Some(err) => Err(err),
            None => Ok(e.to_string()),
        }
    }

    fn stream_alias(&self) -> &str {
        &self.rels[self.stream].alias
    }

    fn rewrite(&self, x: &mut Expr) -> Result<()> {
        let src = self.env.src;
        let span = x.span();
        if self.window
            && let Some((_, _)) = window_of(x)
        {
            *x = self.offset(Expr::CompoundIdentifier(vec![
                Ident::with_quote('`', self.stream_alias()),
                Ident::with_quote('`', "window_start"),
            ]));
            return Ok(());
        }
        if let Some(qualifier) = is_rowtime_ref(x) {
            if let Some(q) = &qualifier {
                let rel = self.rels.iter().find(|r| r.alias.eq_ignore_ascii_case(q));
                if rel.is_some_and(|r| r.stream.is_none()) {
                    return Err(src
                        .error_span(span, format!("{q} is a reference table: it has no ROWTIME"))
                        .into_error());
                }
            }
            if qualifier.is_none()
                && let Some(r) = &self.joined_rowtime
            {
                *x = Expr::Identifier(Ident::new(format!("({r})")));
                return Ok(());
            }
            let alias = qualifier.unwrap_or_else(|| self.stream_alias().to_string());
            *x = self.offset(Expr::CompoundIdentifier(vec![
                Ident::with_quote('`', alias),
                Ident::with_quote('`', "ROWTIME"),
            ]));
            return Ok(());
        }
        if let Expr::Value(v) = x
            && let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text) = &v.value
            && text.contains('\'')
        {
            // sqlparser prints two quotes in a row inside a string as they are (as if already
            // escaped): print the literal ourselves, as an identifier's text is printed verbatim.
            *x = Expr::Identifier(Ident::new(super::ddl::literal(text)));
            return Ok(());
        }
        if let Expr::Extract {
            field: datafusion::sql::sqlparser::ast::DateTimeField::Second,
            expr,
            ..
        } = x
        {
            // KDA's SECOND is DECIMAL(5,3), the milliseconds included; Flink's a whole number.
            let e = expr.to_string();
            *x = Expr::Identifier(Ident::new(format!(
                "CAST(CAST(EXTRACT(SECOND FROM {e}) * 1000 + MOD(EXTRACT(MILLISECOND FROM {e}) + 1000, 1000) AS DECIMAL(5, 0)) / 1000 AS DECIMAL(5, 3))"
            )));
            return Ok(());
        }
        if let Expr::Function(f) = x
            && fname(f) == "STEP"
        {
            let text = step_text(src, f, span)?;
            *x = Expr::Identifier(Ident::new(text));
            return Ok(());
        }
        if let Some(why) = self.env.no_arrival_time {
            let name = match x {
                Expr::Identifier(i) => Some(&i.value),
                Expr::CompoundIdentifier(p) => p.last().map(|i| &i.value),
                _ => None,
            };
            if name.is_some_and(|n| n.eq_ignore_ascii_case("APPROXIMATE_ARRIVAL_TIME")) {
                return Err(not_translatable(
                    src,
                    span,
                    "APPROXIMATE_ARRIVAL_TIME of a Kinesis input",
                    why,
                ));
            }
        }
        match x {
            Expr::Identifier(i) => bq(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(bq),
            Expr::Value(_)
            | Expr::TypedString { .. }
            | Expr::UnaryOp { .. }
            | Expr::Nested(_)
            | Expr::Extract { .. }
            | Expr::Ceil { .. }
            | Expr::Floor { .. }
            | Expr::Substring { .. }
            | Expr::Trim { .. }
            | Expr::Position { .. }
            | Expr::Case { .. }
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..)
            | Expr::InList { .. }
            | Expr::Between { .. }
            | Expr::Like { any: false, .. }
            | Expr::SimilarTo { .. } => {}
            Expr::Overlay { .. } => {
                return Err(not_translatable(
                    src,
                    span,
                    "OVERLAY",
                    "KDA's OVERLAY treats a start before the string, past its end, or FOR 0 differently from Flink's (checked against Flink: FROM 0 keeps the rest of the string in KDA and drops it in Flink)",
                ));
            }
            Expr::Interval(iv) => interval_precision(iv),
            Expr::BinaryOp {
                left,
                op: datafusion::sql::sqlparser::ast::BinaryOperator::Divide,
                ..
            } if matches!(left.as_ref(), Expr::Interval(_))
                || matches!(left.as_ref(), Expr::Nested(n) if matches!(n.as_ref(), Expr::Interval(_))) =>
            {
                return Err(not_translatable(
                    src,
                    span,
                    "an interval divided by a number",
                    "Flink cannot divide an interval; write the interval already divided",
                ));
            }
            Expr::BinaryOp { .. } => {}
            Expr::Cast {
                kind: CastKind::Cast,
                format: None,
                data_type,
                ..
            } => {
                use datafusion::sql::sqlparser::ast::DataType;
                if matches!(
                    data_type,
                    DataType::Int(_)
                        | DataType::Integer(_)
                        | DataType::BigInt(_)
                        | DataType::SmallInt(_)
                        | DataType::TinyInt(_)
                ) {
                    self.notes.borrow_mut().push(format!(
                        "`{x}`: KDA rounds a fractional value cast to an integer type (CAST(-1.77 AS INTEGER) is -2), Flink truncates it (-1)"
                    ));
                }
            }
            Expr::Function(f) => {
                if let Some(text) = self.function(f, span)? {
                    *x = Expr::Identifier(Ident::new(text));
                }
            }
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
                return Err(not_translatable(
                    src,
                    span,
                    "a subquery in an expression",
                    "join the reference table instead",
                ));
            }
            other => {
                return Err(not_translatable(
                    src,
                    span,
                    &format!("the expression `{other}`"),
                    "rowtime has no checked Flink form for it",
                ));
            }
        }
        Ok(())
    }

    /// `e` plus the stream's ROWTIME offset (KDA's ROWTIME from Flink's).
    fn offset(&self, e: Expr) -> Expr {
        if self.offset_ms == 0 {
            return e;
        }
        let text = format!("({e} + {})", rowtime_value(self.offset_ms));
        // Parsing our own text back keeps one way of printing expressions.
        datafusion::sql::sqlparser::parser::Parser::new(
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
        )
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or(e)
    }

    /// Rewrites a call into Flink's form; the text that replaces the whole call, for a
    /// template form.
    fn function(&self, f: &mut Function, span: Span) -> Result<Option<String>> {
        let src = self.env.src;
        let name = match fname(f) {
            // The dialect's name for SUBSTRING(s SIMILAR p ESCAPE e).
            n if n == "KDA_SUBSTRING_SIMILAR" => "SUBSTRING SIMILAR".to_string(),
            n => n,
        };
        if name == DATETIME_MINUS_CALL.to_ascii_uppercase() {
            return Err(not_translatable(
                src,
                span,
                "the interval difference (a - b) unit",
                "Flink writes it TIMESTAMPDIFF(unit, b, a), which counts whole units: rewrite it by hand",
            ));
        }

        if self
            .env
            .functions
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&name))
        {
            return Err(not_translatable(
                src,
                span,
                &format!("{name}, a function of the application (CREATE FUNCTION)"),
                "Flink's functions are Java or Python classes: write it as one, or inline its expression",
            ));
        }
        match function(&name) {
            Some(FlinkForm::Same) => {}
            Some(FlinkForm::Renamed(n)) => f.name = ObjectName::from(vec![Ident::new(n)]),
            Some(FlinkForm::RenamedSwapped(n)) => {
                f.name = ObjectName::from(vec![Ident::new(n)]);
                if let FunctionArguments::List(list) = &mut f.args
                    && list.args.len() == 2
                {
                    list.args.swap(0, 1);
                } else {
                    return Err(not_translatable(
                        src,
                        span,
                        &name,
                        "it takes two arguments here",
                    ));
                }
            }
            Some(FlinkForm::Template(template)) => {
                let args: Vec<String> = match &f.args {
                    FunctionArguments::List(list)
                        if f.over.is_none() && f.filter.is_none() && list.clauses.is_empty() =>
                    {
                        list.args.iter().map(ToString::to_string).collect()
                    }
                    FunctionArguments::None => Vec::new(),
                    _ => {
                        return Err(not_translatable(
                            src,
                            span,
                            &format!("this form of {name}"),
                            "write it as a plain call",
                        ));
                    }
                };
                let wanted = (0..10)
                    .take_while(|i| template.contains(&format!("{{{i}}}")))
                    .count();
                if args.len() != wanted {
                    return Err(not_translatable(
                        src,
                        span,
                        &format!("{name} with {} arguments", args.len()),
                        &format!("its Flink form takes {wanted}"),
                    ));
                }
                let mut text = template.to_string();
                for (i, a) in args.iter().enumerate() {
                    text = text.replace(&format!("{{{i}}}"), &format!("({a})"));
                }
                return Ok(Some(text));
            }
            Some(FlinkForm::None(why)) => return Err(not_translatable(src, span, &name, why)),
            None => {
                return Err(not_translatable(
                    src,
                    span,
                    &name,
                    "rowtime has no checked Flink form for this function (docs/flink.md lists the ones it has)",
                ));
            }
        }
        if f.filter.is_some() || !f.within_group.is_empty() || f.null_treatment.is_some() {
            return Err(not_translatable(
                src,
                span,
                &format!("{name} with FILTER, WITHIN GROUP or IGNORE/RESPECT NULLS"),
                "write the call without it",
            ));
        }
        if let Some(over) = f.over.take() {
            let mut spec = match over {
                WindowType::WindowSpec(spec) => spec,
                WindowType::NamedWindow(w) => {
                    match self.named_windows.get(&w.value.to_ascii_uppercase()) {
                        Some(spec) => {
                            // The WINDOW clause's expressions were not visited with the call's.
                            let mut spec = spec.clone();
                            let mut failure = None;
                            for e in spec.partition_by.iter_mut() {
                                let _ = visit_expressions_mut(e, |x| match self.rewrite(x) {
                                    Ok(()) => ControlFlow::Continue(()),
                                    Err(err) => {
                                        failure = Some(err);
                                        ControlFlow::Break(())
                                    }
                                });
                            }
                            if let Some(err) = failure {
                                return Err(err);
                            }
                            spec
                        }
                        None => {
                            return Err(src
                                .error_span(
                                    w.span,
                                    format!("no window {} in the WINDOW clause", w.value),
                                )
                                .into_error());
                        }
                    }
                }
            };
            if self.time == TimeAttr::Plain {
                return Err(not_translatable(
                    src,
                    span,
                    "a sliding window over a stream without a time attribute",
                    self.plain_because
                        .as_deref()
                        .unwrap_or("its ROWTIME is a plain timestamp in Flink"),
                ));
            }
            if spec.window_name.is_some() {
                return Err(not_translatable(
                    src,
                    span,
                    "OVER (w …)",
                    "write the window in full",
                ));
            }
            let by_rowtime = match spec.order_by.as_slice() {
                [] => true,
                [one] => is_rowtime_ref(&one.expr).is_some(),
                _ => false,
            };
            if !by_rowtime {
                return Err(not_translatable(
                    src,
                    span,
                    "a window ordered by something other than ROWTIME",
                    "KDA's windows are ordered by ROWTIME; leave ORDER BY out",
                ));
            }
            spec.order_by = vec![OrderByExpr {
                expr: Expr::CompoundIdentifier(vec![
                    Ident::with_quote('`', self.stream_alias()),
                    Ident::with_quote('`', "ROWTIME"),
                ]),
                options: OrderByOptions {
                    asc: None,
                    nulls_first: None,
                },
                with_fill: None,
            }];
            let Some(frame) = spec.window_frame.as_mut() else {
                return Err(not_translatable(
                    src,
                    span,
                    "a window without RANGE or ROWS",
                    "write OVER (PARTITION BY … RANGE INTERVAL '…' unit PRECEDING) or ROWS n PRECEDING",
                ));
            };
            if !matches!(frame.start_bound, WindowFrameBound::Preceding(Some(_)))
                || !matches!(frame.end_bound, None | Some(WindowFrameBound::CurrentRow))
            {
                return Err(not_translatable(
                    src,
                    span,
                    "a window frame other than … PRECEDING up to the current row",
                    "Flink's OVER aggregates end at the current row",
                ));
            }
            frame.end_bound = Some(WindowFrameBound::CurrentRow);
            let text = spec.to_string();
            let mut used = self.windows_used.borrow_mut();
            if !used.contains(&text) {
                used.push(text);
            }
            if used.len() > 1 {
                return Err(not_translatable(
                    src,
                    span,
                    "OVER aggregates over two different windows in one query",
                    "Flink computes all the OVER aggregates of a query over the same window: write one pump per window into streams of their own",
                ));
            }
            f.over = Some(WindowType::WindowSpec(spec));
        }
        Ok(None)
    }
}
