//! `EXP_AVG(x, INTERVAL …)`, KDA's exponentially weighted average, as DataFusion's planner sees it.

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
