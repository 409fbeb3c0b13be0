//! `error_stream`: rows that could not be processed, with KDA's columns (ERROR_TIME, ERROR_LEVEL,
//! ERROR_NAME, MESSAGE, DATA_ROWTIME, DATA_ROW, PUMP_NAME). Nothing is dropped silently:
//! rows in = rows accepted + rows in `error_stream`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder, TimestampMillisecondBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::{error_stream_def, with_rowtime};
use crate::format::hex;

/// ERROR_NAME values.
pub const PARSE_ERROR: &str = "PARSE_ERROR";
pub const ROWTIME_ERROR: &str = "ROWTIME_ERROR";
pub const EVALUATION_ERROR: &str = "EVALUATION_ERROR";
pub const REFERENCE_DATA_ERROR: &str = "REFERENCE_DATA_ERROR";
/// A row a destination refused for good (after `--max-delivery-retries` attempts).
pub const DELIVERY_ERROR: &str = "DELIVERY_ERROR";
/// A record the input preprocessing Lambda answered `ProcessingFailed` for.
pub const PROCESSING_FAILED: &str = "PROCESSING_FAILED";

/// One row of error_stream, before the runtime stamps its ERROR_TIME.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    pub name: &'static str,
    pub message: String,
    /// The ROWTIME the row had, or would have had.
    pub data_rowtime: Option<i64>,
    /// The original record's bytes (hex-encoded on output).
    pub data_row: Vec<u8>,
    pub pump: Option<String>,
}

/// Builds an error_stream batch (its columns, ROWTIME, and the trailing ROWTIME every stream
/// batch carries). Each row's ROWTIME and ERROR_TIME are `error_time`, except in replay mode,
/// where a row with a DATA_ROWTIME is dated by it (so that replays give the same rows).
pub fn error_batch(rows: &[ErrorRow], error_time: i64, replay: bool) -> RecordBatch {
    let def = error_stream_def();
    let mut time = TimestampMillisecondBuilder::with_capacity(rows.len());
    let mut level = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut message = StringBuilder::new();
    let mut data_rowtime = TimestampMillisecondBuilder::with_capacity(rows.len());
    let mut data_row = StringBuilder::new();
    let mut pump = StringBuilder::new();
    for r in rows {
        time.append_value(if replay {
            r.data_rowtime.unwrap_or(error_time)
        } else {
            error_time
        });
        level.append_value("ERROR");
        name.append_value(r.name);
        message.append_value(&r.message);
        data_rowtime.append_option(r.data_rowtime);
        data_row.append_value(hex(&r.data_row));
        pump.append_option(r.pump.as_deref());
    }
    let time: ArrayRef = Arc::new(time.finish());
    let columns: Vec<ArrayRef> = vec![
        Arc::clone(&time),
        Arc::new(level.finish()),
        Arc::new(name.finish()),
        Arc::new(message.finish()),
        Arc::new(data_rowtime.finish()),
        Arc::new(data_row.finish()),
        Arc::new(pump.finish()),
        Arc::clone(&time),
        time,
    ];
    RecordBatch::try_new(with_rowtime(&def.table_schema()), columns)
        .expect("error_stream columns match")
}
