//! `group_rank(rankBy, sortOrder, outputOrder, maxIdle, outputMax)`: the mark the dialect puts
//! on the rank column of `TABLE(GROUP_RANK(…))` (`dialect/group_rank.rs`). It is typed like the
//! rank (INTEGER) and volatile, so that it is never folded; the planner replaces it with the rank
//! `exec/group_rank.rs` computes, so it is never called.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::internal_err;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, Signature, Volatility};

use super::scalar::KdaScalar;

/// The function's name in plans.
pub const NAME: &str = crate::dialect::GROUP_RANK;

pub struct GroupRank;

impl GroupRank {
    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        KdaScalar::udf(
            NAME,
            Signature::any(5, Volatility::Volatile),
            DataType::Int32,
            GroupRank::resolved_by_the_planner,
        )
    }

    fn resolved_by_the_planner(_: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        internal_err!("{NAME}() is resolved by the planner")
    }
}
