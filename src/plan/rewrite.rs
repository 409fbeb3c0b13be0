//! Passes over a pump's syntax tree before DataFusion plans it, in the order [`rewrite_query`]
//! runs them:
//! 1. [`expand_functions`]: calls of the application's `CREATE FUNCTION`s become their bodies
//!    (arguments in parentheses, cast to the declared type, NULL on NULL input if asked);
//! 2. [`expose_rowtime_of_derived_tables`]: a subquery in FROM has a ROWTIME like any stream;
//! 3. [`exclude_rowtime_from_wildcards`]: `*` and `s.*` leave ROWTIME (and
//!    APPROXIMATE_ARRIVAL_TIME) out, as in KDA;
//! 4. (the planner resolves join windows named in the WINDOW clause: [`take_named_window`])
//! 5. [`unqualified_rowtime_of_join`]: unqualified ROWTIME in a stream join is the joined row's;
//! 6. [`unqualified_rowtime_of_aggregate`]: unqualified ROWTIME selected with GROUP BY is the
//!    window's end;
//! 7. [`unqualified_rowtime_of_distinct`]: an unqualified ROWTIME column of a DISTINCT is the
//!    row's, not compared;
//! 8. [`order_windows_by_rowtime`]: a window without ORDER BY is ordered by ROWTIME;
//! 9. `functions::rewrite_calls`: KDA's call forms become DataFusion's functions;
//! 10. [`name_select_expressions`]: unnamed select expressions are `EXPR$n`, and so are
//!     names used twice.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{CastKind, Expr, Query, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

use crate::catalog::{APPROXIMATE_ARRIVAL_TIME, Catalog, ROWTIME, StreamKind};
use crate::dialect::{CreateFunction, function_call, unnamed_args};
use crate::error::{Result, SourceText};
use crate::functions::{JOIN_ROWTIME, rewrite_calls};

/// Runs every pass over a pump's query, in order.
pub fn rewrite_query(
    src: &SourceText,
    query: &mut Query,
    query_at: Location,
    functions: &[CreateFunction],
    catalog: &Catalog,
) -> Result<()> {
    expand_functions(query, functions).map_err(|e| {
        let at = if e.span == Span::empty() {
            query_at
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
    expose_rowtime_of_derived_tables(query);
    exclude_rowtime_from_wildcards(query, &is_source, &is_stream);
    unqualified_rowtime_of_join(query, &is_stream);
    unqualified_rowtime_of_aggregate(query).map_err(|e| {
        src.error_span(e.span, e.message)
            .with_help("select ROWTIME (unqualified) for the window's end, or the window's expression, such as STEP(s.ROWTIME BY …), for its start")
            .into_error()
    })?;
    unqualified_rowtime_of_distinct(query);
    order_windows_by_rowtime(query);
    rewrite_calls(query).map_err(|e| {
        src.error_span(e.span, e.message)
            .with_help(e.help)
            .into_error()
    })?;
    name_select_expressions(query);
    Ok(())
}

/// Calls `f` on every SELECT of the query: set operations and subqueries in FROM included.
fn for_each_select(
    query: &mut Query,
    f: &mut impl FnMut(&mut datafusion::sql::sqlparser::ast::Select),
) {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableFactor};
    fn in_set_expr(
        body: &mut SetExpr,
        f: &mut impl FnMut(&mut datafusion::sql::sqlparser::ast::Select),
    ) {
        match body {
            SetExpr::Select(select) => {
                f(select);
                for table in &mut select.from {
                    let factors = std::iter::once(&mut table.relation)
                        .chain(table.joins.iter_mut().map(|j| &mut j.relation));
                    for factor in factors {
                        if let TableFactor::Derived { subquery, .. } = factor {
                            in_set_expr(&mut subquery.body, f);
                        }
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                in_set_expr(left, f);
                in_set_expr(right, f);
            }
            SetExpr::Query(q) => in_set_expr(&mut q.body, f),
            _ => {}
        }
    }
    in_set_expr(&mut query.body, f);
}

/// Names the unnamed expressions of the pump's own SELECT (each branch of a UNION ALL) `EXPR$n`
/// by position, and a column whose name an earlier column has too (the Developer Guide's own
/// `MIN(Price) AS Price, MAX(Price) AS Price`). The pump inserts by position, so names do not
/// matter there, but DataFusion requires them unique and names `CAST(x AS INTEGER)` like `x`:
/// `SELECT STREAM CAST(x AS INTEGER), x` would be rejected. ROWTIME keeps its name (it may set
/// the rows' ROWTIME).
pub fn name_select_expressions(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{Ident, SelectItem, SetExpr};
    fn in_body(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                let mut names: Vec<String> = Vec::new();
                for (i, item) in select.projection.iter_mut().enumerate() {
                    let name = match item {
                        SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.clone()),
                        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                            parts.last().map(|id| id.value.clone())
                        }
                        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => None,
                    };
                    let repeated = name
                        .as_ref()
                        .is_some_and(|n| n != ROWTIME && names.contains(n));
                    names.extend(name);
                    let expr = match item {
                        SelectItem::UnnamedExpr(e) if repeated => e,
                        SelectItem::ExprWithAlias { expr, .. } if repeated => expr,
                        SelectItem::UnnamedExpr(e)
                            if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) =>
                        {
                            e
                        }
                        _ => continue,
                    };
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::new(format!("EXPR${i}")),
                    };
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                in_body(left);
                in_body(right);
            }
            SetExpr::Query(q) => in_body(&mut q.body),
            _ => {}
        }
    }
    in_body(&mut query.body);
}

/// Whether a select item gives a column named ROWTIME.
fn gives_rowtime(item: &datafusion::sql::sqlparser::ast::SelectItem) -> bool {
    use datafusion::sql::sqlparser::ast::SelectItem;
    let rowtime = ROWTIME;
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value == rowtime,
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().is_some_and(|i| i.value == rowtime)
        }
        SelectItem::ExprWithAlias { alias, .. } => alias.value == rowtime,
        _ => false,
    }
}

/// Whether a subquery's result has a ROWTIME column.
fn body_gives_rowtime(body: &datafusion::sql::sqlparser::ast::SetExpr) -> bool {
    use datafusion::sql::sqlparser::ast::SetExpr;
    match body {
        SetExpr::Select(select) => select.projection.iter().any(gives_rowtime),
        SetExpr::SetOperation { left, .. } => body_gives_rowtime(left),
        SetExpr::Query(q) => body_gives_rowtime(&q.body),
        _ => false,
    }
}

/// Makes every unqualified `*` of the query leave out ROWTIME, and APPROXIMATE_ARRIVAL_TIME when
/// it reads a source stream (`is_source` tells which names are): `* EXCLUDE (…)`. So does `s.*`
/// when `s` names a stream (`is_stream`) in the SELECT's FROM clause.
pub fn exclude_rowtime_from_wildcards(
    query: &mut Query,
    is_source: &dyn Fn(&str) -> bool,
    is_stream: &dyn Fn(&str) -> bool,
) {
    use datafusion::sql::sqlparser::ast::{
        ExcludeSelectItem, Ident, ObjectName, SelectItem, SelectItemQualifiedWildcardKind,
        TableFactor,
    };
    for_each_select(query, &mut |select| {
        // Streams read by name: (the name or alias a qualified `*` uses, is a source stream).
        let mut streams: Vec<(String, bool)> = Vec::new();
        for factor in select
            .from
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        {
            if let TableFactor::Table { name, alias, .. } = factor
                && let Some(table) = name.0.last().and_then(|p| p.as_ident())
                && is_stream(&table.value)
            {
                let called = alias.as_ref().map_or(&table.value, |a| &a.name.value);
                streams.push((called.clone(), is_source(&table.value)));
            }
        }
        for item in &mut select.projection {
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(q),
                options,
            ) = item
                && q.0.len() == 1
                && options.opt_exclude.is_none()
                && options.opt_except.is_none()
                && let Some(name) = q.0[0].as_ident()
                && let Some((_, source)) = streams.iter().find(|(n, _)| *n == name.value)
            {
                let mut hidden = vec![ObjectName::from(vec![Ident::new(ROWTIME)])];
                if *source {
                    hidden.push(ObjectName::from(vec![Ident::new(APPROXIMATE_ARRIVAL_TIME)]));
                }
                options.opt_exclude = Some(ExcludeSelectItem::Multiple(hidden));
            }
        }
        let reads_source = select.from.iter().any(|t| {
            std::iter::once(&t.relation)
                .chain(t.joins.iter().map(|j| &j.relation))
                .any(|r| match r {
                    TableFactor::Table { name, .. } => name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| is_source(&i.value)),
                    _ => false,
                })
        });
        // Derived tables got a ROWTIME (`expose_rowtime_of_derived_tables`, which runs first).
        let has_rowtime = select.from.iter().any(|t| {
            std::iter::once(&t.relation)
                .chain(t.joins.iter().map(|j| &j.relation))
                .any(|r| match r {
                    TableFactor::Table { name, .. } => name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| is_stream(&i.value)),
                    TableFactor::Derived { subquery, .. } => body_gives_rowtime(&subquery.body),
                    _ => false,
                })
        });
        let mut hidden = Vec::new();
        if has_rowtime {
            hidden.push(ObjectName::from(vec![Ident::new(ROWTIME)]));
        }
        if reads_source {
            hidden.push(ObjectName::from(vec![Ident::new(APPROXIMATE_ARRIVAL_TIME)]));
        }
        for item in &mut select.projection {
            if let SelectItem::Wildcard(options) = item
                && !hidden.is_empty()
                && options.opt_exclude.is_none()
                && options.opt_except.is_none()
            {
                options.opt_exclude = Some(ExcludeSelectItem::Multiple(hidden.clone()));
            }
        }
    });
}

/// Every stream has a ROWTIME, a subquery in FROM too (`FROM (SELECT STREAM * FROM s) AS t` can
/// group by `STEP(t.ROWTIME …)`): a derived table that does not already give a column named
/// ROWTIME gets `ROWTIME` added to its select list (with GROUP BY, the window's end), and `t.*`
/// leaves it out again.
pub fn expose_rowtime_of_derived_tables(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{
        ExcludeSelectItem, Ident, ObjectName, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
        TableAliasColumnDef, TableFactor,
    };
    /// Adds ROWTIME where it is missing; true if it was added.
    fn add_rowtime(body: &mut SetExpr) -> bool {
        match body {
            SetExpr::Select(select) => {
                // With GROUP BY, it is the window's end (`unqualified_rowtime_of_aggregate`).
                let add = !select.projection.iter().any(gives_rowtime);
                if add {
                    select
                        .projection
                        .push(SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(
                            ROWTIME,
                        ))));
                }
                add
            }
            SetExpr::SetOperation { left, right, .. } => {
                let left = add_rowtime(left);
                add_rowtime(right) && left
            }
            SetExpr::Query(q) => add_rowtime(&mut q.body),
            _ => false,
        }
    }
    for_each_select(query, &mut |select| {
        let mut derived: Vec<String> = Vec::new();
        for table in &mut select.from {
            let factors = std::iter::once(&mut table.relation)
                .chain(table.joins.iter_mut().map(|j| &mut j.relation));
            for factor in factors {
                if let TableFactor::Derived {
                    subquery, alias, ..
                } = factor
                {
                    let added = add_rowtime(&mut subquery.body);
                    if let Some(alias) = alias {
                        // `AS t(r)` names the columns: name the added one too.
                        if added && !alias.columns.is_empty() {
                            alias.columns.push(TableAliasColumnDef {
                                name: Ident::new(ROWTIME),
                                data_type: None,
                            });
                        }
                        derived.push(alias.name.value.clone());
                    }
                }
            }
        }
        for item in &mut select.projection {
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(name),
                options,
            ) = item
                && name.0.len() == 1
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| derived.contains(&i.value))
                && options.opt_exclude.is_none()
                && options.opt_except.is_none()
            {
                options.opt_exclude =
                    Some(ExcludeSelectItem::Multiple(vec![ObjectName::from(vec![
                        Ident::new(ROWTIME),
                    ])]));
            }
        }
    });
}

/// In a SELECT that joins two streams, unqualified `ROWTIME` is the joined row's ROWTIME (the
/// sides' own are `alias.ROWTIME`): it becomes `join_rowtime()`, which the planner resolves.
/// `is_stream` tells which names are streams.
pub fn unqualified_rowtime_of_join(query: &mut Query, is_stream: &dyn Fn(&str) -> bool) {
    use datafusion::sql::sqlparser::ast::TableFactor;
    for_each_select(query, &mut |select| {
        let streams = select
            .from
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
            .filter(|r| match r {
                TableFactor::Table { name, .. } => name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| is_stream(&i.value)),
                // A subquery in FROM reads a stream (pumps cannot read tables alone).
                TableFactor::Derived { .. } => true,
                _ => false,
            })
            .count();
        if streams < 2 {
            return;
        }
        // Not inside the FROM clause: its subqueries have their own ROWTIME.
        let from = std::mem::take(&mut select.from);
        let _ = visit_expressions_mut(select, |expr| {
            if let Expr::Identifier(id) = expr
                && id.value == ROWTIME
            {
                *expr = function_call(JOIN_ROWTIME, vec![]);
            }
            ControlFlow::<()>::Continue(())
        });
        select.from = from;
    });
}

/// In a SELECT with `GROUP BY` (a tumbling window, or a stagger window's keys), unqualified
/// `ROWTIME` in the select list is the ROWTIME of the row being written, the window's end (as
/// KDA's "ROWTIME operator … evaluates to the timestamp of the row that is just about to be
/// generated", SQLREF sql-reference-rowtime.html): it becomes `join_rowtime()`, which the planner
/// resolves to the output's ROWTIME. Not inside an aggregate (`MAX(ROWTIME)` is over the input
/// rows), nor inside an expression that is one of the GROUP BY's (`FLOOR(ROWTIME TO MINUTE)`
/// stays the group key). A bare `ROWTIME` keeps its name. A qualified `s.ROWTIME` there is one
/// input row's, which a group does not have: an error, with where it is.
pub fn unqualified_rowtime_of_aggregate(query: &mut Query) -> std::result::Result<(), ExpandError> {
    use datafusion::sql::sqlparser::ast::Spanned;
    use datafusion::sql::sqlparser::ast::{GroupByExpr, Ident, SelectItem};
    let aggregates: Vec<String> = crate::functions::aggregate_udfs()
        .iter()
        .flat_map(|f| std::iter::once(f.name().to_string()).chain(f.aliases().iter().cloned()))
        .map(|n| n.to_uppercase())
        .collect();
    let mut failed = None;
    for_each_select(query, &mut |select| {
        let group_by: Vec<String> = match &select.group_by {
            GroupByExpr::Expressions(exprs, _) if !exprs.is_empty() => {
                exprs.iter().map(unquoted_text).collect()
            }
            _ => return,
        };
        for item in &mut select.projection {
            let expr = match item {
                SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == ROWTIME => {
                    *item = SelectItem::ExprWithAlias {
                        expr: function_call(JOIN_ROWTIME, vec![]),
                        alias: Ident::new(ROWTIME),
                    };
                    continue;
                }
                SelectItem::UnnamedExpr(e) => e,
                SelectItem::ExprWithAlias { expr, .. } => expr,
                _ => continue,
            };
            // Set aside what keeps the input's ROWTIME, replace the rest, put them back.
            let mut kept: Vec<Expr> = Vec::new();
            let _ = visit_expressions_mut(expr, |e| {
                let aggregate = matches!(e, Expr::Function(f)
                    if f.over.is_none() && aggregates.contains(&f.name.to_string().to_uppercase()));
                if aggregate || group_by.contains(&unquoted_text(e)) {
                    let placeholder =
                        Expr::Identifier(Ident::new(format!("\u{0}kept{}", kept.len())));
                    kept.push(std::mem::replace(e, placeholder));
                }
                ControlFlow::<()>::Continue(())
            });
            let _ = visit_expressions_mut(expr, |e| {
                if let Expr::Identifier(id) = e
                    && id.value == ROWTIME
                {
                    *e = function_call(JOIN_ROWTIME, vec![]);
                }
                ControlFlow::<()>::Continue(())
            });
            let mut qualified = None;
            let _ = visit_expressions_mut(expr, |e| {
                if let Expr::CompoundIdentifier(parts) = e
                    && parts.last().is_some_and(|id| id.value == ROWTIME)
                    && qualified.is_none()
                {
                    qualified = Some(ExpandError {
                        span: e.span(),
                        message: format!(
                            "`{e}` is the ROWTIME of one input row, which a GROUP BY query cannot select"
                        ),
                    });
                }
                ControlFlow::<()>::Continue(())
            });
            if let Some(e) = qualified {
                failed.get_or_insert(e);
            }
            // Later placeholders hold earlier ones: put them back from the last.
            while let Some(original) = kept.pop() {
                let name = format!("\u{0}kept{}", kept.len());
                let mut original = Some(original);
                let _ = visit_expressions_mut(expr, |e| {
                    if matches!(e, Expr::Identifier(id) if id.value == name) {
                        *e = original.take().expect("each placeholder once");
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
    });
    failed.map_or(Ok(()), Err)
}

/// In a `SELECT STREAM DISTINCT`, an unqualified `ROWTIME` column (named or not) is the ROWTIME
/// of the row being written, which DISTINCT "ignores for the purposes of duplicate-elimination"
/// (SQLREF sql-reference-select-all-distinct.html): it becomes `join_rowtime()`, which the
/// planner leaves out of the comparison. `s.ROWTIME` is a column like any other.
pub fn unqualified_rowtime_of_distinct(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{Distinct, Ident, SelectItem};
    for_each_select(query, &mut |select| {
        if !matches!(select.distinct, Some(Distinct::Distinct)) {
            return;
        }
        for item in &mut select.projection {
            match item {
                SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == ROWTIME => {
                    *item = SelectItem::ExprWithAlias {
                        expr: function_call(JOIN_ROWTIME, vec![]),
                        alias: Ident::new(ROWTIME),
                    };
                }
                SelectItem::ExprWithAlias { expr, .. } if matches!(&*expr, Expr::Identifier(id) if id.value == ROWTIME) =>
                {
                    *expr = function_call(JOIN_ROWTIME, vec![]);
                }
                _ => {}
            }
        }
    });
}

/// An expression's text with its names unquoted: `"S".ROWTIME` and `S.ROWTIME` (names are
/// folded to upper case already) name the same column.
fn unquoted_text(e: &Expr) -> String {
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |e| {
        match e {
            Expr::Identifier(id) => id.quote_style = None,
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(|p| p.quote_style = None),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    e.to_string()
}

/// Removes window `name` from the WINDOW clause of the query's SELECTs; returns its definition
/// as text (`RANGE INTERVAL '1' MINUTE PRECEDING`), for a stream join's `OVER name`.
pub fn take_named_window(query: &mut Query, name: &str) -> Option<String> {
    use datafusion::sql::sqlparser::ast::NamedWindowExpr;
    let mut found = None;
    for_each_select(query, &mut |select| {
        if let Some(i) = select.named_window.iter().position(|w| w.0.value == name) {
            let w = select.named_window.remove(i);
            if let NamedWindowExpr::WindowSpec(spec) = w.1 {
                found = Some(spec.to_string());
            }
        }
    });
    found
}

/// Orders every window specification without ORDER BY by ROWTIME.
pub fn order_windows_by_rowtime(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{
        Ident, NamedWindowExpr, OrderByExpr, OrderByOptions, WindowSpec, WindowType,
    };
    fn order(spec: &mut WindowSpec) {
        if spec.order_by.is_empty() {
            spec.order_by.push(OrderByExpr {
                expr: Expr::Identifier(Ident::new(ROWTIME)),
                options: OrderByOptions {
                    asc: None,
                    nulls_first: None,
                },
                with_fill: None,
            });
        }
    }
    for_each_select(query, &mut |select| {
        for w in &mut select.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &mut w.1 {
                order(spec);
            }
        }
    });
    let _ = visit_expressions_mut(query, |expr| {
        if let Expr::Function(f) = expr
            && let Some(WindowType::WindowSpec(spec)) = &mut f.over
        {
            order(spec);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Where a call cannot be expanded.
pub struct ExpandError {
    pub span: Span,
    pub message: String,
}

/// Replaces every call of `functions` in `query` by the function's body, innermost last, up to a
/// depth that only a function calling itself would reach.
pub fn expand_functions(
    query: &mut Query,
    functions: &[CreateFunction],
) -> std::result::Result<(), ExpandError> {
    if functions.is_empty() {
        return Ok(());
    }
    for _ in 0..16 {
        let mut expanded = false;
        let flow = visit_expressions_mut(query, |expr| {
            let Expr::Function(f) = expr else {
                return ControlFlow::Continue(());
            };
            let called = f.name.to_string();
            let Some(def) = functions.iter().rev().find(|d| d.name == called) else {
                return ControlFlow::Continue(());
            };
            let args = unnamed_args(f);
            if args.len() != def.params.len() {
                use datafusion::sql::sqlparser::ast::Spanned;
                return ControlFlow::Break(ExpandError {
                    span: f.name.span(),
                    message: format!(
                        "{} takes {} argument(s) ({}), not {}",
                        def.name,
                        def.params.len(),
                        def.params.join(", "),
                        args.len()
                    ),
                });
            }
            *expr = instantiate(def, &args);
            expanded = true;
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(e) = flow {
            return Err(e);
        }
        if !expanded {
            return Ok(());
        }
    }
    Err(ExpandError {
        span: Span::empty(),
        message:
            "a function calls itself (directly or through others): SQL functions cannot recurse"
                .into(),
    })
}

/// The body of `def` with its parameters replaced by `args`, cast to its type.
fn instantiate(def: &CreateFunction, args: &[Expr]) -> Expr {
    let mut body = def.body.clone();
    let _ = visit_expressions_mut(&mut body, |e| {
        if let Expr::Identifier(id) = e
            && let Some(i) = def.params.iter().position(|p| *p == id.value)
        {
            *e = Expr::Nested(Box::new(args[i].clone()));
        }
        ControlFlow::<()>::Continue(())
    });
    let mut result = Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Nested(Box::new(body))),
        data_type: def.returns.clone(),
        array: false,
        format: None,
    };
    if def.null_on_null && !args.is_empty() {
        // CASE WHEN a1 IS NULL OR a2 IS NULL … THEN NULL ELSE body END
        let any_null = args
            .iter()
            .map(|a| Expr::IsNull(Box::new(Expr::Nested(Box::new(a.clone())))))
            .reduce(|a, b| Expr::BinaryOp {
                left: Box::new(a),
                op: datafusion::sql::sqlparser::ast::BinaryOperator::Or,
                right: Box::new(b),
            })
            .expect("at least one argument");
        result = Expr::Case {
            case_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            end_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                condition: any_null,
                result: Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(Expr::value(Value::Null)),
                    data_type: def.returns.clone(),
                    array: false,
                    format: None,
                },
            }],
            else_result: Some(Box::new(result)),
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::{AppStatement, KdaDialect, parse_application};
    use datafusion::sql::sqlparser::parser::Parser;

    fn functions(code: &str) -> Vec<CreateFunction> {
        parse_application(&SourceText::new("app.sql", code))
            .unwrap()
            .into_iter()
            .filter_map(|s| match s {
                AppStatement::CreateFunction(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    fn query(sql: &str) -> Query {
        Parser::new(&KdaDialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_query()
            .map(|q| *q)
            .unwrap()
    }

    #[test]
    fn calls_become_the_body_with_arguments_in_parentheses() {
        let fs = functions(
            "CREATE FUNCTION ADD2(x INTEGER, y INTEGER) RETURNS INTEGER LANGUAGE SQL CONTAINS SQL DETERMINISTIC RETURN x + y;",
        );
        let mut q = query("SELECT ADD2(a * 2, 1) FROM s");
        expand_functions(&mut q, &fs).ok().unwrap();
        assert_eq!(
            q.to_string(),
            "SELECT CAST(((a * 2) + (1)) AS INTEGER) FROM s"
        );
    }

    #[test]
    fn a_function_calling_itself_is_an_error() {
        let fs =
            functions("CREATE FUNCTION F(x INTEGER) RETURNS INTEGER CONTAINS SQL RETURN F(x) + 1;");
        let mut q = query("SELECT F(1) FROM s");
        let e = expand_functions(&mut q, &fs).err().unwrap();
        assert!(
            e.message.contains("SQL functions cannot recurse"),
            "{}",
            e.message
        );
    }
}
