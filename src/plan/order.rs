//! Ordering a stream: a streaming `ORDER BY` on a monotonic leading expression (sorted within
//! its groups, `exec/order_by.rs`), a T-sort, `ORDER BY ts WITHIN interval` (`exec/tsort.rs`),
//! and `GROUP_RANK`'s rank column (`exec/group_rank.rs`). Any other `ORDER BY` is rejected with
//! what to write.

use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::OperatorSpec;
use super::lower::{Lowering, shown};
use super::monotonic::{column_key, groups_rows_by_rowtime, monotonic_key};
use crate::catalog::{Catalog, ROWTIME, StreamDef, StreamKind, nullable, with_rowtime};
use crate::dialect::{CreateFunction, CreatePump};
use crate::error::{Result, SourceText};
use crate::exec::group_rank::GroupRankSpec;
use crate::exec::monotonic::{MonotonicKey, Steps};
use crate::exec::order_by::OrderBySpec;
use crate::exec::tsort::TSortSpec;

impl Lowering<'_> {
    /// `ORDER BY` over `s.input` (already lowered).
    pub(crate) fn lower_sort(&mut self, s: &datafusion::logical_expr::Sort) -> Result<()> {
        if s.fetch.is_some() {
            return Err(self.reject("LIMIT and FETCH cannot be used on a stream", "remove LIMIT"));
        }
        match self.tsort {
            Some((within, _)) => self.lower_tsort(s, within),
            None => self.lower_order_by(s),
        }
    }

    fn lower_order_by(&mut self, s: &datafusion::logical_expr::Sort) -> Result<()> {
        let input = s.input.schema();
        let leading = &s.expr[0];
        let grouped = self.stagger_ms.is_none() && below_aggregate(&s.input);
        let group = match monotonic_key(&leading.expr, &s.input) {
            Some(key) => key,
            // The window column of a GROUP BY below: its rows share one ROWTIME per window.
            None if grouped && groups_rows_by_rowtime(&leading.expr, &s.input) => {
                MonotonicKey::Rowtime(Steps::POINT)
            }
            None => {
                return Err(self.reject_at(
                    self.order_by_at,
                    format!(
                        "ORDER BY on a stream needs a monotonic leading expression, and `{}` is not one",
                        shown(&leading.expr.to_string())
                    ),
                    "put the time first, as in ORDER BY FLOOR(s.ROWTIME TO SECOND), … or ORDER BY ROWTIME, …; or declare a key with MONOTONIC(expr)",
                ));
            }
        };
        let declared = match group {
            MonotonicKey::Declared => Some(self.physical(&leading.expr, input)?),
            MonotonicKey::Rowtime(_) => None,
        };
        let keys = s.expr[1..]
            .iter()
            .map(|e| {
                Ok((
                    self.physical(&e.expr, input)?,
                    SortOptions {
                        descending: !e.asc,
                        nulls_first: e.nulls_first,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        let display = s
            .expr
            .iter()
            .map(|e| shown(&e.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        self.ops.push(OperatorSpec::OrderBy(Arc::new(OrderBySpec {
            group,
            declared,
            keys,
            whole_batches: grouped && group == MonotonicKey::Rowtime(Steps::POINT),
            schema: with_rowtime(&nullable(input.as_arrow())),
            display,
        })));
        Ok(())
    }

    /// `ORDER BY ts WITHIN interval`: one ascending timestamp, the query's ROWTIME column (KDA:
    /// "must be present in the select list of the query aliased as ROWTIME"), not ROWTIME itself.
    fn lower_tsort(&mut self, s: &datafusion::logical_expr::Sort, within: i64) -> Result<()> {
        let at = self.tsort.map_or(self.at, |(_, at)| at);
        let input = s.input.schema();
        let help = "write SELECT STREAM ts AS ROWTIME, … ORDER BY ts WITHIN INTERVAL 'n' unit";
        if s.expr.len() != 1 {
            return Err(self.reject_at(
                at,
                "a T-sort (ORDER BY … WITHIN) sorts by one timestamp",
                help,
            ));
        }
        let e = &s.expr[0];
        if !e.asc {
            return Err(self.reject_at(at, "a T-sort (ORDER BY … WITHIN) cannot be DESC", help));
        }
        let key = match &e.expr {
            Expr::Column(c) => input.maybe_index_of_column(c),
            _ => None,
        }
        .filter(|i| input.field(*i).name() == ROWTIME);
        let Some(key) = key else {
            return Err(self.reject_at(
                at,
                format!(
                    "the T-sort's `{}` must be in the select list as ROWTIME",
                    shown(&e.expr.to_string())
                ),
                help,
            ));
        };
        if column_key(&s.input, key) == Some(MonotonicKey::Rowtime(Steps::POINT)) {
            return Err(self.reject_at(
                at,
                "a T-sort sorts by another timestamp than ROWTIME, which is in order already",
                help,
            ));
        }
        if !matches!(input.field(key).data_type(), DataType::Timestamp(_, _)) {
            return Err(self.reject_at(
                at,
                format!(
                    "a T-sort sorts by a TIMESTAMP, not {}",
                    super::pump::describe_type(input.field(key).data_type())
                ),
                help,
            ));
        }
        if contains_aggregate(&s.input) {
            return Err(self.reject_at(
                at,
                "a T-sort after GROUP BY is not supported",
                "T-sort the rows in one pump, and aggregate them in a pump that reads its stream",
            ));
        }
        self.ops.push(OperatorSpec::TSort(Arc::new(TSortSpec {
            key,
            within,
            schema: with_rowtime(&nullable(input.as_arrow())),
            visible: input.fields().len(),
            pump: self.pump.to_string(),
        })));
        Ok(())
    }
}

/// `… UNION ALL … ORDER BY …`, split: rowtime runs each branch of a UNION ALL as a pump of its
/// own, merged in ROWTIME order in the stream they write, so the rows meet only there. The union
/// writes a stream of its own, `<pump>$UNION` (its columns named and typed as the union's), and
/// a second pump reads that stream, sorts it and writes the target.
pub(crate) struct SortedUnion {
    pub(crate) stream: StreamDef,
    pub(crate) union: CreatePump,
    pub(crate) sort: CreatePump,
}

/// The split of a pump whose query is a sorted UNION ALL, or None for any other pump.
pub(crate) fn split_sorted_union(
    src: &SourceText,
    p: &CreatePump,
    catalog: &Catalog,
    functions: &[CreateFunction],
) -> Result<Option<SortedUnion>> {
    use datafusion::sql::sqlparser::ast::{SetExpr, SetOperator, SetQuantifier};
    let Some(order_by) = &p.query.order_by else {
        return Ok(None);
    };
    let union_all = matches!(
        p.query.body.as_ref(),
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            ..
        }
    );
    if !union_all || p.tsort.is_some() || p.query.limit_clause.is_some() {
        return Ok(None);
    }
    let mut union_query = p.query.clone();
    union_query.order_by = None;
    let logical =
        super::pump::logical_plan(src, union_query.clone(), p.query_at, catalog, functions)?;
    let mut columns = Vec::new();
    for f in logical.schema().fields() {
        if f.name() == ROWTIME {
            continue;
        }
        let ty = crate::types::SqlType::from_arrow(f.data_type()).ok_or_else(|| {
            src.error_at(
                p.query_at,
                format!(
                    "column {} of the UNION ALL is {}, which a stream cannot hold",
                    f.name(),
                    super::pump::describe_type(f.data_type())
                ),
            )
            .with_help("CAST it to a stream type")
            .into_error()
        })?;
        columns.push((f.name().clone(), ty));
    }
    let name = format!("{}$UNION", p.name);
    let read = format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""));
    let mut sort_query =
        datafusion::sql::sqlparser::parser::Parser::new(&crate::dialect::KdaDialect)
            .try_with_sql(&read)
            .and_then(|mut parser| parser.parse_query())
            .map_err(|e| crate::error::Error::Application(format!("internal error: {e}")))?;
    sort_query.order_by = Some(order_by.clone());
    Ok(Some(SortedUnion {
        stream: StreamDef {
            name: name.clone(),
            columns,
            kind: StreamKind::Created,
        },
        union: CreatePump {
            target: name,
            columns: None,
            query: union_query,
            ..p.clone()
        },
        sort: CreatePump {
            query: sort_query,
            windows: Vec::new(),
            stagger_ms: None,
            table_function: None,
            ..p.clone()
        },
    }))
}

/// The rank column of `TABLE(GROUP_RANK(…))` in a projection (`dialect/group_rank.rs`): its
/// position and its marker's arguments.
pub(crate) fn group_rank_call(
    p: &datafusion::logical_expr::Projection,
) -> Option<(usize, Vec<Expr>)> {
    p.expr.iter().enumerate().find_map(|(i, e)| {
        let e = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        match e {
            Expr::ScalarFunction(f) if f.name() == crate::functions::group_rank::NAME => {
                Some((i, f.args.clone()))
            }
            _ => None,
        }
    })
}

impl Lowering<'_> {
    /// GROUP_RANK over projection `p`'s rows, its rank in column `at`: the arguments the
    /// dialect checked, and the column to rank by, found by name among the cursor's columns.
    pub(crate) fn lower_group_rank(
        &mut self,
        p: &datafusion::logical_expr::Projection,
        at: usize,
        args: &[Expr],
    ) -> Result<()> {
        use datafusion::common::ScalarValue;
        let text = |i: usize| match args.get(i) {
            Some(Expr::Literal(ScalarValue::Utf8(Some(s)), _)) => s.clone(),
            _ => String::new(),
        };
        let number = |i: usize| match args.get(i) {
            Some(Expr::Literal(v, _)) => v
                .cast_to(&DataType::UInt64)
                .ok()
                .and_then(|v| match v {
                    ScalarValue::UInt64(Some(n)) => Some(n),
                    _ => None,
                })
                .unwrap_or_default(),
            _ => 0,
        };
        let rank_by = text(0);
        let fields = p.schema.fields();
        let named = |exact: bool| {
            fields
                .iter()
                .enumerate()
                .filter(|(i, f)| {
                    *i != at
                        && if exact {
                            f.name() == &rank_by
                        } else {
                            f.name().eq_ignore_ascii_case(&rank_by)
                        }
                })
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let found = match named(true).as_slice() {
            [i] => Some(*i),
            _ => match named(false).as_slice() {
                [i] => Some(*i),
                _ => None,
            },
        };
        let Some(rank_by) = found else {
            let names: Vec<&str> = fields
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, f)| f.name().as_str())
                .collect();
            return Err(self.reject(
                format!("GROUP_RANK: the cursor's query has no column named '{rank_by}'"),
                format!("rank by one of its columns: {}", names.join(", ")),
            ));
        };
        self.ops
            .push(OperatorSpec::GroupRank(Arc::new(GroupRankSpec {
                rank_by,
                rank_out: at,
                sort_desc: text(1) == "desc",
                output_desc: text(2) == "desc",
                max_idle: number(3),
                output_max: number(4) as usize,
                whole_batches: self.stagger_ms.is_none() && below_aggregate(&p.input),
                schema: with_rowtime(&nullable(p.schema.as_arrow())),
            })));
        Ok(())
    }
}

/// Whether `plan` is a tumbling `GROUP BY`'s output, maybe projected, filtered (HAVING) or aliased.
fn below_aggregate(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Projection(p) => below_aggregate(&p.input),
        LogicalPlan::Filter(f) => below_aggregate(&f.input),
        LogicalPlan::SubqueryAlias(a) => below_aggregate(&a.input),
        _ => false,
    }
}

fn contains_aggregate(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Aggregate(_)) || plan.inputs().into_iter().any(contains_aggregate)
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;

    fn rejection(query: &str) -> String {
        let mut app = TestApp::new(
            "app.sql",
            &format!(
                "CREATE STREAM OUT (ET TIMESTAMP, N BIGINT);
                 CREATE PUMP P AS INSERT INTO OUT {query};"
            ),
        )
        .input("S", "ET TIMESTAMP, N BIGINT, K VARCHAR(4)")
        .unwrap();
        match app.start() {
            Ok(_) => panic!("accepted: {query}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn t_sort_restrictions() {
        for (query, message) in [
            (
                "SELECT STREAM ET AS ROWTIME, ET, N FROM S ORDER BY ET DESC WITHIN INTERVAL '1' SECOND",
                "a T-sort (ORDER BY … WITHIN) cannot be DESC",
            ),
            (
                "SELECT STREAM ET AS ROWTIME, ET, N FROM S ORDER BY ET, N WITHIN INTERVAL '1' SECOND",
                "a T-sort (ORDER BY … WITHIN) sorts by one timestamp",
            ),
            (
                "SELECT STREAM ROWTIME, ET, N FROM S ORDER BY ROWTIME WITHIN INTERVAL '1' SECOND",
                "a T-sort sorts by another timestamp than ROWTIME",
            ),
            (
                "SELECT STREAM ET AS ROWTIME, ET, N FROM S ORDER BY ET WITHIN INTERVAL '1:30' MINUTE TO SECOND",
                "the WITHIN interval of a T-sort must be a whole number of units",
            ),
            (
                "SELECT STREAM MIN(ET) AS ROWTIME, MIN(ET), COUNT(*) FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '1' MINUTE) ORDER BY MIN(ET) WITHIN INTERVAL '1' SECOND",
                "a T-sort after GROUP BY is not supported",
            ),
        ] {
            let err = rejection(query);
            assert!(err.contains(message), "{query}: {err}");
        }
    }

    #[test]
    fn a_sorted_union_reads_a_stream_of_its_own_and_limit_is_rejected() {
        let mut app = TestApp::new(
            "app.sql",
            "CREATE STREAM OUT (ET TIMESTAMP, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM ET, N FROM S UNION ALL SELECT STREAM ET, N * 10 FROM S ORDER BY ROWTIME, N DESC;",
        )
        .input("S", "ET TIMESTAMP, N BIGINT")
        .unwrap();
        let plan = app.plan().unwrap().to_string();
        for line in [
            "stream P$UNION (ET TIMESTAMP, N BIGINT, ROWTIME TIMESTAMP)",
            "pump P (UNION ALL branch 1): S -> P$UNION",
            "pump P (UNION ALL branch 2): S -> P$UNION",
            "pump P: P$UNION -> OUT",
        ] {
            assert!(plan.contains(line), "{line}\n{plan}");
        }
        let err = rejection("SELECT STREAM ET, N FROM S ORDER BY ROWTIME LIMIT 3");
        assert!(
            err.contains("LIMIT and FETCH cannot be used on a stream"),
            "{err}"
        );
    }
}
