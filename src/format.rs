//! How values are written out: JSON lines, CSV fields and terminal cells share these rules
//! (DESIGN.md §2 "Identifiers and output format"): TIMESTAMP as `YYYY-MM-DD HH:MM:SS.fff`,
//! numbers as numbers, NULL as null.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Display options: KDA timestamp, date and time formats; NULL as empty text.
pub fn format_options() -> FormatOptions<'static> {
    FormatOptions::new()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
        .with_date_format(Some("%Y-%m-%d"))
        .with_time_format(Some("%H:%M:%S%.3f"))
        .with_display_error(true)
}

/// How a column is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsonKind {
    /// Written as text and quoted.
    Text,
    /// Written as is: numbers and booleans.
    Bare,
}

pub fn json_kind(dt: &DataType) -> JsonKind {
    if dt.is_numeric() || matches!(dt, DataType::Boolean | DataType::Null) {
        JsonKind::Bare
    } else {
        JsonKind::Text
    }
}

/// Formats the columns of a batch for JSON, one formatter per column.
pub struct JsonRowFormatter<'a> {
    names: Vec<String>,
    columns: Vec<(ArrayFormatter<'a>, JsonKind, &'a ArrayRef)>,
}

impl<'a> JsonRowFormatter<'a> {
    /// Formats `columns` of `batch` under `names` (JSON keys).
    pub fn new(
        batch: &'a RecordBatch,
        columns: &[usize],
        names: &[String],
        options: &'a FormatOptions<'a>,
    ) -> Result<JsonRowFormatter<'a>, ArrowError> {
        let mut cols = Vec::with_capacity(columns.len());
        for &i in columns {
            let array = batch.column(i);
            let f = ArrayFormatter::try_new(array.as_ref(), options)?;
            cols.push((f, json_kind(array.data_type()), array));
        }
        let names = names
            .iter()
            .map(|n| serde_json::to_string(n).expect("a string serializes"))
            .collect();
        Ok(JsonRowFormatter {
            names,
            columns: cols,
        })
    }

    /// Appends row `row` as one JSON object (no newline).
    pub fn write_row(&self, row: usize, out: &mut String) {
        use std::fmt::Write;
        out.push('{');
        for (i, ((f, kind, array), name)) in self.columns.iter().zip(&self.names).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push(':');
            if array.is_null(row) {
                out.push_str("null");
                continue;
            }
            match kind {
                JsonKind::Bare => {
                    let start = out.len();
                    let _ = write!(out, "{}", f.value(row));
                    // NaN and infinities are not JSON numbers.
                    if matches!(&out[start..], "NaN" | "inf" | "-inf") {
                        out.truncate(start);
                        out.push_str("null");
                    }
                }
                JsonKind::Text => {
                    let text = f.value(row).to_string();
                    out.push_str(&serde_json::to_string(&text).expect("a string serializes"));
                }
            }
        }
        out.push('}');
    }
}

/// One row of a batch's first `n` columns as a JSON object, ROWTIME left out (used for
/// error_stream's DATA_ROW; DATA_ROWTIME holds the ROWTIME).
pub fn row_as_json(batch: &RecordBatch, n: usize, row: usize) -> String {
    let options = format_options();
    let schema = batch.schema();
    let columns: Vec<usize> = (0..n)
        .filter(|i| schema.field(*i).name() != "ROWTIME")
        .collect();
    let names: Vec<String> = columns
        .iter()
        .map(|i| schema.field(*i).name().clone())
        .collect();
    let mut out = String::new();
    match JsonRowFormatter::new(batch, &columns, &names, &options) {
        Ok(f) => f.write_row(row, &mut out),
        Err(e) => out = format!("{{\"unprintable row\":{:?}}}", e.to_string()),
    }
    out
}

/// Lower-case hex, as KDA's error_stream DATA_ROW.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    #[test]
    fn writes_kda_json_rows() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Name", DataType::Utf8, true),
            Field::new("T", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("D", DataType::Decimal128(8, 2), true),
            Field::new("F", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a \"q\""), None])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_541_034_000_123),
                    None,
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), None])
                        .with_precision_and_scale(8, 2)
                        .unwrap(),
                ),
                Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(-0.5)])),
            ],
        )
        .unwrap();
        assert_eq!(
            row_as_json(&batch, 4, 0),
            r#"{"Name":"a \"q\"","T":"2018-11-01 01:00:00.123","D":12.50,"F":null}"#
        );
        assert_eq!(
            row_as_json(&batch, 4, 1),
            r#"{"Name":null,"T":null,"D":null,"F":-0.5}"#
        );
    }

    #[test]
    fn hex_encodes_bytes() {
        assert_eq!(hex(b"{\"a\":1}"), "7b2261223a317d");
    }
}
