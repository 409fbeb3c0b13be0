//! Planning KDA's machine-learning table functions (`RANDOM_CUT_FOREST`, its explanation form,
//! `HOTSPOTS`). The dialect made each call the cursor's query, its select list ending with the
//! function's columns as calls of stand-in functions (`dialect/machine_learning.rs`); the
//! stand-ins give DataFusion the columns' types, and that select list is lowered here: its
//! other expressions as a projection (unless they are plain columns), then the function's
//! operator, which reads their numeric columns and computes the function's.
//!
//! Checked here, at planning: a DECIMAL column in the cursor (KDA: "DECIMAL is not a supported
//! type. Use DOUBLE instead"), a cursor without a numeric column. The seed of the forests is
//! `ROWTIME_RANDOM_SEED` from the environment, 0 if it is not set: runs are repeatable.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, Expr, Projection, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use super::OperatorSpec;
use super::lower::{Lowering, shown, strip};
use crate::catalog::{ROWTIME, nullable, with_rowtime};
use crate::dialect::{
    EXPLAINED_SCORE, EXPLANATION, FOREST_SCORE, HOTSPOTS_RESULT, MachineLearningCall,
};
use crate::error::Result;
use crate::exec::hotspots::HotspotsSpec;
use crate::exec::model_input::{Output, is_model_type};
use crate::exec::project::ProjectSpec;
use crate::exec::random_cut_forest::{Parameters, RandomCutForestSpec};
use crate::functions::KdaScalar;

/// The environment variable that seeds every forest of an application.
pub const SEED_VARIABLE: &str = "ROWTIME_RANDOM_SEED";

fn refuse(_: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
    datafusion::common::exec_err!(
        "this column exists only in the result of FROM TABLE(RANDOM_CUT_FOREST(…)), TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(…)) or TABLE(HOTSPOTS(…))"
    )
}

/// The stand-in functions, typed: the scores are DOUBLE, the JSON texts VARCHAR.
pub fn stand_ins() -> Vec<Arc<ScalarUDF>> {
    [
        (FOREST_SCORE, DataType::Float64),
        (EXPLAINED_SCORE, DataType::Float64),
        (EXPLANATION, DataType::Utf8),
        (HOTSPOTS_RESULT, DataType::Utf8),
    ]
    .into_iter()
    .map(|(name, returns)| {
        Arc::new(KdaScalar::udf(
            name,
            Signature::nullary(Volatility::Volatile),
            returns,
            refuse,
        ))
    })
    .collect()
}

/// The stand-in `e` calls, if it is one.
fn stand_in(e: &Expr) -> Option<&'static str> {
    match strip(e) {
        Expr::ScalarFunction(f) => [FOREST_SCORE, EXPLAINED_SCORE, EXPLANATION, HOTSPOTS_RESULT]
            .into_iter()
            .find(|n| f.func.name() == *n),
        _ => None,
    }
}

/// Whether a projection computes a table function's columns.
pub(crate) fn computes_stand_in(p: &Projection) -> bool {
    p.expr.iter().any(|e| stand_in(e).is_some())
}

/// The seed of the application's forests.
fn seed() -> std::result::Result<u64, String> {
    match std::env::var(SEED_VARIABLE) {
        Ok(text) => text.trim().parse().map_err(|_| {
            format!("{SEED_VARIABLE} must be a whole number from 0 to 18446744073709551615, not `{text}`")
        }),
        Err(_) => Ok(0),
    }
}

impl Lowering<'_> {
    /// Lowers the projection that adds a table function's columns to its cursor's rows.
    pub(crate) fn lower_machine_learning(&mut self, p: &Projection) -> Result<usize> {
        let source = self.lower(&p.input)?;
        let Some(call) = self.machine_learning else {
            return Err(self.reject(
                "this function can only be called by KDA's table function syntax",
                "write FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM … FROM s)))",
            ));
        };
        let name = call.name();
        let input = p.input.schema();
        // The cursor's own columns: every item of the select list but the stand-ins.
        let selected: Vec<usize> = (0..p.expr.len())
            .filter(|i| stand_in(&p.expr[*i]).is_none())
            .collect();
        let unaliased = |e: &Expr| match e {
            Expr::Alias(a) => a.expr.as_ref().clone(),
            other => other.clone(),
        };
        let columns_only = selected
            .iter()
            .all(|i| matches!(unaliased(&p.expr[*i]), Expr::Column(_)));
        // Where each selected item is in the batches the function's operator reads.
        let (positions, visible): (Vec<usize>, usize) = if columns_only {
            let positions = selected
                .iter()
                .map(|i| match unaliased(&p.expr[*i]) {
                    Expr::Column(c) => input.index_of_column(&c).map_err(|_| {
                        self.reject(
                            format!("{name}: the column `{c}` of its CURSOR was not found"),
                            "select the columns of the CURSOR's query by name",
                        )
                    }),
                    _ => unreachable!("only columns"),
                })
                .collect::<Result<Vec<_>>>()?;
            (positions, input.fields().len())
        } else {
            let exprs = selected
                .iter()
                .map(|i| self.physical(&p.expr[*i], input))
                .collect::<Result<Vec<_>>>()?;
            let fields: Vec<datafusion::arrow::datatypes::FieldRef> = selected
                .iter()
                .map(|i| std::sync::Arc::clone(&p.schema.as_arrow().fields()[*i]))
                .collect();
            let schema = datafusion::arrow::datatypes::Schema::new(fields);
            self.ops.push(OperatorSpec::Project(Arc::new(ProjectSpec {
                exprs,
                schema: with_rowtime(&nullable(&schema)),
                display: selected
                    .iter()
                    .map(|i| shown(&p.expr[*i].to_string()))
                    .collect(),
                visible: input.fields().len(),
                pump: self.pump.to_string(),
            })));
            ((0..selected.len()).collect(), selected.len())
        };
        let mut outputs = Vec::with_capacity(p.expr.len());
        let mut next = 0;
        for e in &p.expr {
            outputs.push(match stand_in(e) {
                Some(EXPLANATION) => Output::Computed(1),
                Some(_) => Output::Computed(0),
                None => {
                    next += 1;
                    Output::Input(positions[next - 1])
                }
            });
        }
        let mut columns = Vec::new();
        for (j, i) in selected.iter().enumerate() {
            let f = &p.schema.as_arrow().fields()[*i];
            if f.name() == ROWTIME {
                continue;
            }
            match f.data_type() {
                DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..) => {
                    return Err(self.reject(
                        format!(
                            "{name} cannot read the column \"{}\" of its CURSOR: DECIMAL is not a supported type",
                            f.name()
                        ),
                        format!(
                            "use DOUBLE instead: CAST(\"{0}\" AS DOUBLE) AS \"{0}\" in the CURSOR's query",
                            f.name()
                        ),
                    ));
                }
                t if is_model_type(t) => columns.push((positions[j], f.name().clone())),
                _ => {}
            }
        }
        if columns.is_empty() {
            let names: Vec<&str> = selected
                .iter()
                .map(|i| p.schema.as_arrow().fields()[*i].name().as_str())
                .filter(|n| *n != ROWTIME)
                .collect();
            return Err(self.reject(
                format!(
                    "{name} needs a numeric column (DOUBLE, INTEGER, BIGINT, SMALLINT, TINYINT, REAL or FLOAT) in its CURSOR; it has {}",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                ),
                "select at least one numeric column in CURSOR(SELECT STREAM … FROM s)",
            ));
        }
        let seed = seed().map_err(|m| {
            self.reject(
                m,
                format!("unset {SEED_VARIABLE}, or give it a whole number"),
            )
        })?;
        let schema = with_rowtime(&nullable(p.schema.as_arrow()));
        let pump = self.pump.to_string();
        let forest = |f: crate::dialect::ForestArguments| Parameters {
            trees: f.number_of_trees,
            sample_size: f.sub_sample_size,
            time_decay: f.time_decay,
            shingle_size: f.shingle_size,
        };
        let spec = match call {
            MachineLearningCall::RandomCutForest(f) => {
                OperatorSpec::RandomCutForest(Arc::new(RandomCutForestSpec {
                    explanation: None,
                    parameters: forest(f),
                    seed,
                    columns,
                    outputs,
                    schema,
                    visible,
                    pump,
                }))
            }
            MachineLearningCall::RandomCutForestWithExplanation {
                forest: f,
                with_directionality,
            } => OperatorSpec::RandomCutForest(Arc::new(RandomCutForestSpec {
                explanation: Some(with_directionality),
                parameters: forest(f),
                seed,
                columns,
                outputs,
                schema,
                visible,
                pump,
            })),
            MachineLearningCall::Hotspots {
                window_size,
                scan_radius,
                minimum_points,
            } => OperatorSpec::Hotspots(Arc::new(HotspotsSpec {
                window_size,
                scan_radius,
                minimum_points,
                columns,
                outputs,
                schema,
                visible,
                pump,
            })),
        };
        self.ops.push(spec);
        Ok(source)
    }
}
