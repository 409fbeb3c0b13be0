//! Joins: a stream with a reference table or with constant rows (`(VALUES …) AS v(a, b)`) (a
//! lookup join: inner or left outer, equality keys hashed, any other condition checked per
//! pair), and two streams over windows (both inputs become inputs of the pump and meet in the
//! join).

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::logical_expr::{BinaryExpr, Expr, JoinType, LogicalPlan, Operator as LogicalOp};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::tokenizer::Location;

use super::lower::{Lowering, shown};
use super::pump::df_error;
use super::{OperatorSpec, PumpInput};
use crate::catalog::{ROWTIME, nullable, with_rowtime};
use crate::dialect::JoinRange;
use crate::error::Result;
use crate::exec::evaluate;
use crate::exec::lookup_join::{LookupJoinSpec, LookupJoinType, TableStage};
use crate::exec::stream_join::{StreamJoinSpec, StreamJoinType};
use crate::functions::JOIN_ROWTIME;

/// A join window found by the dialect, resolved to milliseconds.
pub(crate) struct JoinWindow {
    pub(crate) table: String,
    pub(crate) range: JoinRange,
    pub(crate) at: Location,
    pub(crate) used: bool,
}

impl Lowering<'_> {
    /// The reference table a join input reads directly (possibly under an alias).
    pub(crate) fn reference_table<'p>(&self, plan: &'p LogicalPlan) -> Option<&'p str> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                self.catalog.table(name).is_some().then_some(name)
            }
            LogicalPlan::SubqueryAlias(a) => self.reference_table(&a.input),
            _ => None,
        }
    }

    /// The rows of a join input made of constants (`(VALUES …) AS v(a, b)`), if it is one.
    pub(crate) fn constant_rows(&self, plan: &LogicalPlan) -> Option<Result<RecordBatch>> {
        let arrow = |r: datafusion::common::Result<RecordBatch>| {
            r.map_err(|e| df_error(self.src, e, self.join_at))
        };
        match plan {
            LogicalPlan::Values(v) => {
                // Each row's expressions, evaluated on a batch of one row and no columns.
                let one = RecordBatch::try_new_with_options(
                    Arc::new(datafusion::arrow::datatypes::Schema::empty()),
                    vec![],
                    &datafusion::arrow::record_batch::RecordBatchOptions::new()
                        .with_row_count(Some(1)),
                );
                let one = match one {
                    Ok(b) => b,
                    Err(e) => return Some(Err(e.into())),
                };
                let schema = Arc::new(v.schema.as_arrow().clone());
                let empty = DFSchema::empty();
                let columns = (0..schema.fields().len())
                    .map(|c| {
                        let cells = v
                            .values
                            .iter()
                            .map(|row| {
                                let e = self.physical(&row[c], &empty)?;
                                let cell = evaluate(&[e], &one)?.remove(0);
                                Ok(datafusion::arrow::compute::cast(
                                    &cell,
                                    schema.field(c).data_type(),
                                )?)
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let refs: Vec<&dyn datafusion::arrow::array::Array> =
                            cells.iter().map(|a| a.as_ref()).collect();
                        Ok(datafusion::arrow::compute::concat(&refs)?)
                    })
                    .collect::<Result<Vec<_>>>();
                Some(columns.and_then(|c| arrow(Ok(RecordBatch::try_new(schema, c)?))))
            }
            LogicalPlan::SubqueryAlias(a) => self.constant_rows(&a.input).map(|rows| {
                let rows = rows?;
                let schema = Arc::new(a.schema.as_arrow().clone());
                Ok(RecordBatch::try_new(schema, rows.columns().to_vec())?)
            }),
            LogicalPlan::Projection(p) => self.constant_rows(&p.input).map(|rows| {
                let rows = rows?;
                let exprs = p
                    .expr
                    .iter()
                    .map(|e| self.physical(e, p.input.schema()))
                    .collect::<Result<Vec<_>>>()?;
                let schema = Arc::new(p.schema.as_arrow().clone());
                Ok(RecordBatch::try_new(schema, evaluate(&exprs, &rows)?)?)
            }),
            _ => None,
        }
    }

    /// A reference table under filters and projections (a subquery `SELECT … FROM table WHERE
    /// …`, as `IN (…)` and `EXISTS (…)` become): the table's name and the steps from its rows.
    pub(crate) fn derived_table<'p>(
        &self,
        plan: &'p LogicalPlan,
    ) -> Option<(&'p str, Vec<&'p LogicalPlan>)> {
        if let Some(name) = self.reference_table(plan) {
            return Some((name, Vec::new()));
        }
        let input = match plan {
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::Projection(p) => &p.input,
            LogicalPlan::Filter(f) => &f.input,
            _ => return None,
        };
        let (name, mut steps) = self.derived_table(input)?;
        if !matches!(plan, LogicalPlan::SubqueryAlias(_)) {
            steps.push(plan);
        }
        Some((name, steps))
    }

    /// The stages that turn the loaded rows into `steps`' output.
    fn table_stages(&self, steps: &[&LogicalPlan]) -> Result<Vec<TableStage>> {
        steps
            .iter()
            .map(|step| match step {
                LogicalPlan::Filter(f) => Ok(TableStage::Filter(
                    self.physical(&f.predicate, f.input.schema())?,
                )),
                LogicalPlan::Projection(p) => Ok(TableStage::Project(
                    p.expr
                        .iter()
                        .map(|e| self.physical(e, p.input.schema()))
                        .collect::<Result<_>>()?,
                    Arc::new(p.schema.as_arrow().clone()),
                )),
                _ => unreachable!("derived_table keeps filters and projections"),
            })
            .collect()
    }

    /// The reference table or constant rows a join input reads, by the name shown for it.
    fn table_side(&self, plan: &LogicalPlan) -> Option<String> {
        self.derived_table(plan)
            .map(|(name, _)| name.to_string())
            .or_else(|| self.constant_rows(plan).map(|_| "(VALUES …)".to_string()))
    }

    pub(crate) fn lower_join(&mut self, j: &datafusion::logical_expr::Join) -> Result<usize> {
        let (left_table, right_table) = (self.table_side(&j.left), self.table_side(&j.right));
        let (stream_first, table, stream_plan, table_plan) =
            match (left_table.as_deref(), right_table.as_deref()) {
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
            (JoinType::LeftSemi, true) => LookupJoinType::Semi,
            (JoinType::LeftAnti, true) => LookupJoinType::Anti {
                null_aware: j.null_aware,
            },
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
        // A semi or anti join's output is the stream's columns; its condition reads both sides.
        let pair_df_schema = match j.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => Arc::new(
                j.left
                    .schema()
                    .join(j.right.schema())
                    .map_err(|e| df_error(self.src, e, self.join_at))?,
            ),
            _ => Arc::clone(&j.schema),
        };
        let residual = match &residual_expr {
            Some(e) => Some(self.physical(e, &pair_df_schema)?),
            None => None,
        };
        let mut display: Vec<String> = pairs
            .iter()
            .map(|(s, t)| shown(&format!("{s} = {t}")))
            .collect();
        if let Some(e) = &residual_expr {
            display.push(shown(&format!("[{e}]")));
        }
        let rows = self.constant_rows(table_plan).transpose()?;
        let table_stages = match self.derived_table(table_plan) {
            Some((_, steps)) if rows.is_none() => self.table_stages(&steps)?,
            _ => Vec::new(),
        };
        let output = with_rowtime(&nullable(j.schema.as_arrow()));
        let pair_schema = match join_type {
            LookupJoinType::Semi | LookupJoinType::Anti { .. } => {
                let fields: Vec<datafusion::arrow::datatypes::FieldRef> = stream_schema
                    .fields()
                    .iter()
                    .chain(table_schema.fields().iter())
                    .cloned()
                    .collect();
                with_rowtime(&nullable(&datafusion::arrow::datatypes::Schema::new(
                    fields,
                )))
            }
            _ => Arc::clone(&output),
        };
        self.ops
            .push(OperatorSpec::LookupJoin(Arc::new(LookupJoinSpec {
                table: table.to_string(),
                rows,
                table_stages,
                pair_schema,
                join_type,
                stream_keys,
                table_keys,
                residual,
                stream_first,
                stream_visible: stream_schema.fields().len(),
                schema: output,
                display: display.join(" and "),
            })));
        Ok(source)
    }
}

/// Splits a join's condition into equality pairs (left expression, right expression), each side
/// reading only its input, and the rest of the condition.
pub(crate) fn equi_pairs(j: &datafusion::logical_expr::Join) -> (Vec<(Expr, Expr)>, Option<Expr>) {
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
    /// The window of a join input that reads a stream (none: 0 ms, preceding).
    pub(crate) fn join_window(&mut self, plan: &LogicalPlan) -> JoinRange {
        let none = JoinRange {
            ms: 0,
            following: false,
            rows: None,
        };
        let name = match plan {
            LogicalPlan::TableScan(scan) => scan.table_name.table(),
            LogicalPlan::SubqueryAlias(a) => return self.join_window(&a.input),
            _ => return none,
        };
        match self.windows.iter_mut().find(|w| !w.used && w.table == name) {
            Some(w) => {
                w.used = true;
                w.range
            }
            None => none,
        }
    }

    /// Whether `plan` holds a join of two streams (a join with a reference table does not count).
    fn has_stream_join(&self, plan: &LogicalPlan) -> bool {
        if let LogicalPlan::Join(j) = plan
            && self.table_side(&j.left).is_none()
            && self.table_side(&j.right).is_none()
        {
            return true;
        }
        plan.inputs().into_iter().any(|p| self.has_stream_join(p))
    }

    /// `a OVER (RANGE …) [LEFT|RIGHT|FULL] JOIN b ON …`: both inputs become inputs of the pump.
    pub(crate) fn lower_stream_join(
        &mut self,
        j: &datafusion::logical_expr::Join,
    ) -> Result<usize> {
        if self.join.is_some() || self.has_stream_join(&j.left) || self.has_stream_join(&j.right) {
            return Err(self.reject_at(
                self.join_at,
                "a pump can join only two streams",
                "join two of the streams in one pump into a new stream, and join that in another pump",
            ));
        }
        let join_type = match j.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => {
                return Err(self.reject_at(
                    self.join_at,
                    "IN (subquery) and EXISTS over a stream are not supported: a subquery here reads a reference table",
                    "filter with a subquery over a reference table, or join the two streams over a window",
                ));
            }
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
        let ranges = [self.join_window(&j.left), self.join_window(&j.right)];
        let windows = [ranges[0].ms, ranges[1].ms];
        // A FOLLOWING window shifts its stream back by its length: a row at t joins as if it
        // came at t − length, so it matches the other stream's rows up to that much before it.
        let shifts = ranges.map(|r| if r.following { r.ms } else { 0 });
        for (side, r) in ranges.iter().enumerate() {
            if r.following && join_type.preserves(side) {
                return Err(self.reject_at(
                    self.join_at,
                    "an outer join that keeps the rows of the stream with the FOLLOWING window is not supported",
                    "put the FOLLOWING window on the other stream of a LEFT or RIGHT join, or use an inner join",
                ));
            }
        }
        let rows = ranges.map(|r| r.rows);
        if windows == [0, 0] && rows == [None, None] {
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
            rows,
            shifts,
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

/// Replaces `join_rowtime()` in a physical expression over `visible` columns by the batch's
/// trailing ROWTIME column (at index `visible`).
pub fn resolve_join_rowtime(
    e: Arc<dyn PhysicalExpr>,
    visible: usize,
) -> datafusion::error::Result<Arc<dyn PhysicalExpr>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::physical_expr::ScalarFunctionExpr;
    use datafusion::physical_expr::expressions::Column;
    e.transform_up(|e| {
        if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>()
            && f.name() == JOIN_ROWTIME
        {
            let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(ROWTIME, visible));
            return Ok(Transformed::yes(column));
        }
        Ok(Transformed::no(e))
    })
    .map(|t| t.data)
}
