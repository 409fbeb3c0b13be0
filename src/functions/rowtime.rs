//! Functions typed like ROWTIME: `CURRENT_ROW_TIMESTAMP` (the wall clock per batch) and
//! `join_rowtime()`, the name unqualified `ROWTIME` gets in a stream-to-stream join (the joined
//! row's ROWTIME; the planner replaces it with the batch's ROWTIME column).

use super::scalar::{KdaScalar, ScalarBody};

/// The name unqualified `ROWTIME` gets in a query that joins two streams: the joined row's
/// ROWTIME, which is neither side's (`o.ROWTIME`, `s.ROWTIME` are the sides' own).
pub const JOIN_ROWTIME: &str = "join_rowtime";

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
        let now = crate::time::now_ms();
        let values =
            datafusion::arrow::array::TimestampMillisecondArray::from_value(now, args.number_rows);
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(values),
        ))
    }

    fn resolved_by_the_planner(
        _: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        datafusion::common::internal_err!("{}() is resolved by the planner", JOIN_ROWTIME)
    }
}
