//! KDA functions that DataFusion spells differently, rewritten in the SQL syntax tree before
//! DataFusion plans it:
//! - `STEP(ts BY INTERVAL 'n' unit)` → `date_bin(INTERVAL 'n' unit, ts)` (epoch-aligned);
//!   `STEP(x BY n)` on numbers → `(x / n) * n`;
//! - `FLOOR(ts TO unit)` → `date_trunc('unit', ts)`;
//! - function names fold to lower case (DataFusion's registry is lower case);
//! - `SELECT *` leaves ROWTIME out, as in KDA (select it by name to get it);
//! - `x SIMILAR TO 'pattern'`: the SQL pattern (`%`, `_`, literal `.`) becomes an anchored regex;
//! - `TO_TIMESTAMP(ms)` and `UNIX_TIMESTAMP(ts)` work in BIGINT milliseconds, as in KDA;
//! - `TSDIFF(start, end)` is `end - start` in milliseconds (BIGINT milliseconds or timestamps);
//! - `CAST(x AS CHAR(n))` pads the text with blanks to n characters and `CAST(x AS VARCHAR(n))`
//!   checks its length: text longer than n is an error of the row (KDA rejects it rather than
//!   truncating), through `cast.rs`;
//! - `OVERLAY(s PLACING r FROM p [FOR n])` follows KDA's table for every `p`, below 1 and past
//!   the end included (`overlay.rs`);
//! - `SUBSTRING(s, p, n)` and `SUBSTRING(s FROM 'regex')` become KDA's forms (`substring.rs`);
//! - interval ranges (`INTERVAL '3 4' DAY TO HOUR`) and literal interval arithmetic become
//!   literals DataFusion reads (`interval.rs`);
//! - `EXTRACT(SECOND FROM ts)` keeps the milliseconds, as a DECIMAL(5,3) (`extract.rs`);
//! - `MONOTONIC(x)` is `x` (an assertion KDA uses for GROUP BY keys: a ROWTIME window inside
//!   it is recognised as usual);
//! - a window (`OVER (…)`, `WINDOW w AS (…)`) without ORDER BY is ordered by ROWTIME, as KDA's
//!   sliding windows are (DataFusion needs the ORDER BY for RANGE frames).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, ObjectNamePart, Query, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::dialect::function_call;

/// `CURRENT_ROW_TIMESTAMP`'s function: the wall clock (UTC) when a row is computed.
pub const CURRENT_ROW_TIMESTAMP: &str = "current_row_timestamp";

/// Functions of no arguments typed like ROWTIME, volatile so that they are never folded:
/// `current_row_timestamp()` reads the wall clock for every batch; `join_rowtime()` (unqualified
/// ROWTIME in a stream-to-stream join) is replaced by the planner with the batch's ROWTIME
/// column (`exec::stream_join::resolve_join_rowtime`), so it is never called.
pub struct RowtimeTyped;

impl RowtimeTyped {
    pub fn udf(name: &'static str) -> datafusion::logical_expr::ScalarUDF {
        let body: ScalarBody = if name == CURRENT_ROW_TIMESTAMP {
            RowtimeTyped::wall_clock
        } else {
            RowtimeTyped::resolved_by_the_planner
        };
        KdaScalar::udf(
            name,
            datafusion::logical_expr::Signature::nullary(
                datafusion::logical_expr::Volatility::Volatile,
            ),
            crate::catalog::rowtime_type(),
            body,
        )
    }

    fn wall_clock(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        let now = chrono::Utc::now().timestamp_millis();
        let values =
            datafusion::arrow::array::TimestampMillisecondArray::from_value(now, args.number_rows);
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(values),
        ))
    }

    fn resolved_by_the_planner(
        _: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        datafusion::common::internal_err!(
            "{}() is resolved by the planner",
            crate::exec::stream_join::JOIN_ROWTIME
        )
    }
}

/// A scalar function of rowtime's own given by its name, signature, result type and body (the
/// KDA functions DataFusion has no form of: `cast.rs`, `extract.rs`, `overlay.rs`, …).
#[derive(Debug)]
pub struct KdaScalar {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
    returns: datafusion::arrow::datatypes::DataType,
    body: ScalarBody,
}

/// The body of a [`KdaScalar`].
pub type ScalarBody = fn(
    &datafusion::logical_expr::ScalarFunctionArgs,
) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue>;

/// Functions are told apart by name (each name is registered once).
impl PartialEq for KdaScalar {
    fn eq(&self, other: &KdaScalar) -> bool {
        self.name == other.name
    }
}

impl Eq for KdaScalar {}

impl std::hash::Hash for KdaScalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl KdaScalar {
    pub fn udf(
        name: &'static str,
        signature: datafusion::logical_expr::Signature,
        returns: datafusion::arrow::datatypes::DataType,
        body: ScalarBody,
    ) -> datafusion::logical_expr::ScalarUDF {
        datafusion::logical_expr::ScalarUDF::new_from_impl(KdaScalar {
            name,
            signature,
            returns,
            body,
        })
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for KdaScalar {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(
        &self,
        _: &[datafusion::arrow::datatypes::DataType],
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::DataType> {
        Ok(self.returns.clone())
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        (self.body)(&args)
    }
}

/// `EXP_AVG(x, INTERVAL …)` for DataFusion's planner: a DOUBLE aggregate of two arguments. It is
/// computed only by sliding windows (`exec/sliding.rs`); the planner rejects it elsewhere.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExpAvg {
    signature: datafusion::logical_expr::Signature,
}

impl ExpAvg {
    pub const NAME: &str = "exp_avg";

    pub fn udaf() -> datafusion::logical_expr::AggregateUDF {
        datafusion::logical_expr::AggregateUDF::new_from_impl(ExpAvg {
            signature: datafusion::logical_expr::Signature::any(
                2,
                datafusion::logical_expr::Volatility::Immutable,
            ),
        })
    }
}

impl datafusion::logical_expr::AggregateUDFImpl for ExpAvg {
    fn name(&self) -> &str {
        ExpAvg::NAME
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(
        &self,
        _: &[datafusion::arrow::datatypes::DataType],
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::DataType> {
        Ok(datafusion::arrow::datatypes::DataType::Float64)
    }
    fn accumulator(
        &self,
        _: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> datafusion::error::Result<Box<dyn datafusion::logical_expr::Accumulator>> {
        datafusion::common::plan_err!("EXP_AVG is computed only over a sliding window")
    }
}

/// A rewrite that cannot be done: the message and where.
pub struct RewriteError {
    pub span: Span,
    pub message: String,
    pub help: String,
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
/// by position. The pump inserts by position, so names do not matter there, but DataFusion
/// requires them unique and names `CAST(x AS INTEGER)` like `x`: `SELECT STREAM CAST(x AS
/// INTEGER), x` would be rejected.
pub fn name_select_expressions(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{Ident, SelectItem, SetExpr};
    fn in_body(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                for (i, item) in select.projection.iter_mut().enumerate() {
                    if let SelectItem::UnnamedExpr(e) = item
                        && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                    {
                        *item = SelectItem::ExprWithAlias {
                            expr: e.clone(),
                            alias: Ident::new(format!("EXPR${i}")),
                        };
                    }
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
    let rowtime = crate::catalog::ROWTIME;
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
                let mut hidden = vec![ObjectName::from(vec![Ident::new(crate::catalog::ROWTIME)])];
                if *source {
                    hidden.push(ObjectName::from(vec![Ident::new(
                        crate::catalog::APPROXIMATE_ARRIVAL_TIME,
                    )]));
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
        // Derived tables without GROUP BY got a ROWTIME (`expose_rowtime_of_derived_tables`,
        // which runs first); a grouped one has none to leave out.
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
            hidden.push(ObjectName::from(vec![Ident::new(crate::catalog::ROWTIME)]));
        }
        if reads_source {
            hidden.push(ObjectName::from(vec![Ident::new(
                crate::catalog::APPROXIMATE_ARRIVAL_TIME,
            )]));
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
/// group by `STEP(t.ROWTIME …)`): a derived table without GROUP BY that does not already give a
/// column named ROWTIME gets `ROWTIME` added to its select list, and `t.*` leaves it out again.
pub fn expose_rowtime_of_derived_tables(query: &mut Query) {
    use datafusion::sql::sqlparser::ast::{
        ExcludeSelectItem, GroupByExpr, Ident, ObjectName, SelectItem,
        SelectItemQualifiedWildcardKind, SetExpr, TableAliasColumnDef, TableFactor,
    };
    /// Adds ROWTIME where it is missing; true if it was added.
    fn add_rowtime(body: &mut SetExpr) -> bool {
        match body {
            SetExpr::Select(select) => {
                let grouped =
                    !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
                let add = !grouped && !select.projection.iter().any(gives_rowtime);
                if add {
                    select
                        .projection
                        .push(SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(
                            crate::catalog::ROWTIME,
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
                                name: Ident::new(crate::catalog::ROWTIME),
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
                        Ident::new(crate::catalog::ROWTIME),
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
                && id.value == crate::catalog::ROWTIME
            {
                *expr = function_call(crate::exec::stream_join::JOIN_ROWTIME, vec![]);
            }
            ControlFlow::<()>::Continue(())
        });
        select.from = from;
    });
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
                expr: Expr::Identifier(Ident::new(crate::catalog::ROWTIME)),
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

pub fn rewrite_kda_functions(query: &mut Query) -> Result<(), RewriteError> {
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

/// A call's positional arguments.
pub(crate) fn unnamed_args(f: &datafusion::sql::sqlparser::ast::Function) -> Vec<Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn rewrite(expr: &mut Expr) -> Result<(), RewriteError> {
    use datafusion::sql::sqlparser::ast::Spanned;
    // Interval ranges (`'3 4' DAY TO HOUR`) and literal interval arithmetic (`interval.rs`).
    if crate::interval::rewrite(expr) {
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
        } if crate::cast::text_length(data_type).is_some() => {
            let (length, pad) = crate::cast::text_length(data_type).expect("checked by the guard");
            let arg = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = function_call(
                crate::cast::CastText::NAME,
                vec![
                    Expr::Cast {
                        kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
                        expr: Box::new(arg),
                        data_type: datafusion::sql::sqlparser::ast::DataType::Varchar(None),
                        array: false,
                        format: None,
                    },
                    Expr::value(Value::Number(length.to_string(), false)),
                    Expr::value(Value::Boolean(pad)),
                ],
            );
        }
        Expr::Extract {
            field: DateTimeField::Second | DateTimeField::Seconds,
            expr: inner,
            ..
        } => {
            *expr = function_call(crate::extract::ExtractSecond::NAME, vec![(**inner).clone()]);
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
            *expr = function_call(crate::overlay::Overlay::NAME, args);
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
            if *special || regex_form {
                let mut args = vec![(**text).clone(), (**from).clone()];
                args.extend(substring_for.as_deref().cloned());
                let name = if regex_form {
                    crate::substring::REGEX
                } else {
                    crate::substring::COMMA
                };
                *expr = function_call(name, args);
            }
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
                ("MONOTONIC", [x]) => x.clone(),
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
                ident.value = ident.value.to_lowercase();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Translates a SQL `SIMILAR TO` pattern into an anchored regular expression: `%` is any text,
/// `_` any character; `|`, `*`, `+`, `?`, `{…}`, `(…)` and `[…]` keep their meaning; every other
/// character (`.` included) stands for itself.
pub fn similar_to_regex(pattern: &str) -> String {
    format!("^(?:{})$", similar_body(pattern, None))
}

/// A SQL `SIMILAR` pattern as the body of a regex (unanchored): `%` is `.*`, `_` is `.`, `[…]`,
/// `|`, `*`, `+`, `?`, `{…}` and `(…)` keep their meaning, anything else is literal, and so is the
/// character after `escape`.
pub fn similar_body(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::new();
    let mut in_class = false;
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.push_str(&regex::escape(&c.to_string()));
            }
            _ if Some(c) == escape => escaped = true,
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ if in_class => out.push(c),
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            c if c.is_alphanumeric() || c == ' ' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::similar_to_regex;

    #[test]
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("%TECH%"), "^(?:.*TECH.*)$");
        assert_eq!(similar_to_regex("a_c|d.e"), "^(?:a.c|d\\.e)$");
        assert_eq!(similar_to_regex("[A-Z]+%"), "^(?:[A-Z]+.*)$");
    }
}
