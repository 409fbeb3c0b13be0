//! How values are written out: JSON lines, CSV fields and terminal cells share these rules
//! (`docs/semantics.md`, "Output"): TIMESTAMP as `YYYY-MM-DD HH:MM:SS.fff`,
//! numbers as numbers, NULL as null.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::time::push_timestamp_ms;

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

/// Columns written without Arrow's display machinery (the output writer's hot path): the text
/// is the same as [`format_options`] gives.
enum Fast<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    Int(Box<dyn Fn(usize) -> i64 + 'a>),
    /// Decimal128 with a scale of 0 to 38.
    Decimal(&'a datafusion::arrow::array::Decimal128Array, u32),
    /// With the last value written and its quoted text: a window's rows share their timestamps.
    Timestamp(
        &'a datafusion::arrow::array::TimestampMillisecondArray,
        std::cell::Cell<Option<(i64, [u8; 25])>>,
    ),
    Boolean(&'a datafusion::arrow::array::BooleanArray),
}

impl<'a> Fast<'a> {
    fn of(array: &'a ArrayRef) -> Option<Fast<'a>> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{
            Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, UInt8Type, UInt16Type, UInt32Type,
        };
        Some(match array.data_type() {
            DataType::Utf8 => Fast::Utf8(array.as_string::<i32>()),
            DataType::Int8 => {
                let a = array.as_primitive::<Int8Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::Int16 => {
                let a = array.as_primitive::<Int16Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::Int32 => {
                let a = array.as_primitive::<Int32Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::Int64 => {
                let a = array.as_primitive::<Int64Type>();
                Fast::Int(Box::new(move |i| a.value(i)))
            }
            DataType::UInt8 => {
                let a = array.as_primitive::<UInt8Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::UInt16 => {
                let a = array.as_primitive::<UInt16Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::UInt32 => {
                let a = array.as_primitive::<UInt32Type>();
                Fast::Int(Box::new(move |i| i64::from(a.value(i))))
            }
            DataType::Decimal128(_, scale) if (0..=38).contains(scale) => {
                Fast::Decimal(array.as_primitive(), *scale as u32)
            }
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Fast::Timestamp(array.as_primitive(), std::cell::Cell::new(None))
            }
            DataType::Boolean => Fast::Boolean(array.as_boolean()),
            _ => return None,
        })
    }

    /// Appends the JSON of the non-NULL value at `row`; false if the generic path must do it.
    fn write(&self, row: usize, out: &mut String) -> bool {
        match self {
            Fast::Utf8(a) => push_json_string(a.value(row), out),
            Fast::Int(value) => out.push_str(itoa::Buffer::new().format(value(row))),
            Fast::Decimal(a, scale) => push_decimal(a.value(row), *scale, out),
            Fast::Timestamp(a, last) => {
                let ms = a.value(row);
                if let Some((m, text)) = last.get()
                    && m == ms
                {
                    out.push_str(std::str::from_utf8(&text).expect("ASCII"));
                    return true;
                }
                let start = out.len();
                if !push_timestamp_ms(ms, out, true) {
                    return false;
                }
                if let Ok(text) = out.as_bytes()[start..].try_into() {
                    last.set(Some((ms, text)));
                }
            }
            Fast::Boolean(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
        }
        true
    }
}

/// Appends `s` as a JSON string.
fn push_json_string(s: &str, out: &mut String) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(s).expect("a string serializes"));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Appends a Decimal128 value with `scale` digits after the point (`-0.05`, `12.50`, `7`).
fn push_decimal(v: i128, scale: u32, out: &mut String) {
    if v < 0 {
        out.push('-');
    }
    let v = v.unsigned_abs();
    let unit = 10u128.pow(scale);
    let mut digits = itoa::Buffer::new();
    // u64 formatting is much cheaper than u128's, and almost every value fits.
    let (whole, fraction) = (v / unit, v % unit);
    match u64::try_from(whole) {
        Ok(w) => out.push_str(digits.format(w)),
        Err(_) => out.push_str(digits.format(whole)),
    }
    if scale > 0 {
        let fraction = match u64::try_from(fraction) {
            Ok(f) => digits.format(f),
            Err(_) => digits.format(fraction),
        };
        out.push('.');
        for _ in fraction.len()..scale as usize {
            out.push('0');
        }
        out.push_str(fraction);
    }
}

/// Formats the columns of a batch for JSON, one formatter per column.
pub struct JsonRowFormatter<'a> {
    names: Vec<String>,
    columns: Vec<(ArrayFormatter<'a>, JsonKind, &'a ArrayRef, Option<Fast<'a>>)>,
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
            cols.push((f, json_kind(array.data_type()), array, Fast::of(array)));
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
        for (i, ((f, kind, array, fast), name)) in self.columns.iter().zip(&self.names).enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push(':');
            if array.is_null(row) {
                out.push_str("null");
                continue;
            }
            if fast.as_ref().is_some_and(|fast| fast.write(row, out)) {
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

/// The bytes of a lower-case hex text written by [`hex`].
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
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
    fn fast_paths_write_what_arrow_displays() {
        use datafusion::arrow::array::{BooleanArray, Int8Array, Int64Array};
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                "plain",
                "quote \" and \\",
                "tab\tnew\nline",
                "ünï",
                "",
            ])),
            Arc::new(Int64Array::from(vec![0, -1, i64::MAX, i64::MIN, 42])),
            Arc::new(Int8Array::from(vec![0, -128, 127, 5, -5])),
            Arc::new(
                Decimal128Array::from(vec![250, -5, 0, -123456, 7])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![250, -5, 0, 1, 10])
                    .with_precision_and_scale(10, 0)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![1, -1, 100000, 5, 0])
                    .with_precision_and_scale(20, 5)
                    .unwrap(),
            ),
            // Repeats: the formatter reuses the last value's text.
            Arc::new(TimestampMillisecondArray::from(vec![
                0,
                0,
                -1,
                1_772_409_627_062,
                1_772_409_627_062,
                951_782_400_000,     // 2000-02-29
                253_402_300_799_999, // 9999-12-31 23:59:59.999
            ])),
            Arc::new(BooleanArray::from(vec![true, false, true, false, true])),
        ];
        let options = format_options();
        for array in &columns {
            let fast = Fast::of(array).expect("a fast type");
            let generic = ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
            for row in 0..array.len() {
                let mut ours = String::new();
                assert!(fast.write(row, &mut ours));
                let text = generic.value(row).to_string();
                let expected = match json_kind(array.data_type()) {
                    JsonKind::Bare => text,
                    JsonKind::Text => serde_json::to_string(&text).unwrap(),
                };
                assert_eq!(ours, expected, "{:?} row {row}", array.data_type());
            }
        }
        // Years past 9999 are left to the generic path.
        assert!(!push_timestamp_ms(
            253_402_300_800_000,
            &mut String::new(),
            true
        ));
    }

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
