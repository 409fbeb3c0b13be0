//! Fuzz targets: the entry points the fuzzers in `fuzz/` drive, and the inputs under
//! `tests/fuzz/<target>/` (every crash a fuzzer found) replayed by `cargo test --lib`.
//!
//! Each target takes any bytes. Input that does not fit is fine (it gets an `Err`, which the
//! target drops); a panic, an abort, a hang or a huge allocation is a bug. Inputs are text, so a
//! crash found by the fuzzer can be read and kept as a regression test as it is:
//!
//! | target | input | drives |
//! |---|---|---|
//! | [`sql`] | application code, optionally after `--! input NAME (col type, …)` and `--! table NAME (col type, …)` lines (without them: the toll input stream `SOURCE_SQL_STREAM_001`) | the dialect parser, the planner, then the dataflow with two rows, a NULL row and the end of input |
//! | [`decode`] | a KDA `SourceSchema` JSON on the first line (optionally after a `--rowtime-from COLUMN` line), then records | the schema checks, [`RecordDecoder`], [`SourceDecoder`] for file lines and for a Kinesis payload, and schema discovery from the same records |
//! | [`log_parse`] | a function name (`REGEX_LOG_PARSE`, `W3C_LOG_PARSE`, `VARIABLE_COLUMN_LOG_PARSE`), its literal arguments one a line, a `---` line, then the log lines | the log-parsing UDFs as DataFusion calls them: the return type from the literals, then the call |
//! | [`date_format`] | a pattern on the first line, then texts | `Pattern::parse`, `read` of each text, `format` of what was read and of boundary instants |
//!
//! Besides "no panic", the targets check what the decoders promise: a record that fails adds
//! no row, and rows accepted plus error rows add up to the records seen.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs};

use crate::catalog::{StreamDef, StreamKind, columns_schema, with_rowtime};
use crate::connectors::decode::RecordDecoder;
use crate::connectors::discover::discover_schema;
use crate::connectors::schema::RecordSchema;
use crate::connectors::source::{SourceDecoder, split_payload};
use crate::connectors::{ChunkDecoder, SourceRecord};
use crate::functions::date_format::Pattern;
use crate::functions::log_parse::LogParse;
use crate::testing::{TestApp, parse_columns};
use crate::types::SqlType;

/// A fuzz target: takes any bytes, and must not panic, abort, hang or allocate hugely.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/` and the regression test know them.
pub const TARGETS: [(&str, Target); 4] = [
    ("sql", sql),
    ("decode", decode),
    ("log_parse", log_parse),
    ("date_format", date_format),
];

/// Caps what one input may make the targets do, so that the fuzzer spends its time on
/// shapes rather than sizes.
const MAX_INPUT: usize = 64 * 1024;

fn text(data: &[u8]) -> Option<&str> {
    if data.len() > MAX_INPUT {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// The toll applications' input stream, used when an input declares none.
const DEFAULT_INPUT: &str = "BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16), VEHICLE_CLASS VARCHAR(16), \
                             AMOUNT DECIMAL(8,2), EVENT_TIME TIMESTAMP";

/// Application code: parsed, planned against the declared inputs and tables, then run over
/// two rows of sample values and a row of NULLs to the end of input.
pub fn sql(data: &[u8]) {
    let Some(code) = text(data) else { return };
    let mut app = TestApp::new("fuzz.sql", code);
    let mut inputs = Vec::new();
    for line in code.lines() {
        let Some(decl) = line.strip_prefix("--! ") else {
            continue;
        };
        let (kind, rest) = decl.split_once(' ').unwrap_or((decl, ""));
        let Some((name, columns)) = rest.split_once('(') else {
            return;
        };
        let name = name.trim().trim_matches('"').to_string();
        let Some(columns) = columns.trim_end().strip_suffix(')') else {
            return;
        };
        let Ok(columns) = parse_columns(columns) else {
            return;
        };
        let added = match kind {
            "input" => {
                inputs.push((name.clone(), columns.clone()));
                app.add_input(&name, columns)
            }
            "table" => app.add_table(&name, RecordBatch::new_empty(columns_schema(&columns))),
            _ => return,
        };
        if added.is_err() {
            return;
        }
    }
    if inputs.is_empty() {
        let columns = parse_columns(DEFAULT_INPUT).expect("the toll input columns parse");
        inputs.push(("SOURCE_SQL_STREAM_001".into(), columns.clone()));
        app.add_input("SOURCE_SQL_STREAM_001", columns)
            .expect("not started");
    }
    let Ok(plan) = app.plan() else { return };
    let streams: Vec<String> = plan
        .catalog
        .streams
        .iter()
        .map(|s| s.name.clone())
        .collect();
    const MINUTE: i64 = 60_000;
    let start = 1_541_034_000_000; // 2018-11-01 01:00:00
    for (name, columns) in &inputs {
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let row = |k: i64| columns.iter().map(|(_, t)| Some(sample(*t, k))).collect();
        let rows = [
            (start, row(1)),
            (start + 30_000, row(2)),
            (start + MINUTE, vec![None; names.len()]),
        ];
        if app.push_text(name, &names, &rows).is_err() {
            return;
        }
    }
    if app.end().is_err() {
        return;
    }
    for s in &streams {
        let _ = app.read(s);
    }
}

/// A value of `ty` as text; `k` makes rows differ.
fn sample(ty: SqlType, k: i64) -> String {
    match ty {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Integer | SqlType::BigInt => k.to_string(),
        SqlType::Real | SqlType::Double | SqlType::Decimal { .. } => format!("{k}.5"),
        SqlType::Char(_) | SqlType::Varchar(_) => ["a", "b"][k as usize % 2].to_string(),
        SqlType::Boolean => (k % 2 == 0).to_string(),
        SqlType::Timestamp => format!("2018-11-01 01:0{k}:00"),
        SqlType::Date => format!("2018-11-0{k}"),
        SqlType::Time => format!("01:0{k}:00"),
        SqlType::Binary(_) | SqlType::Varbinary(_) => "ab".to_string(),
    }
}

/// A record schema and records: the schema is checked, then the records are decoded by a
/// [`RecordDecoder`], by a [`SourceDecoder`] as file lines and as one Kinesis payload, and the
/// schema discovered from them decodes them again.
pub fn decode(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let (mut first, mut rest) = split_line(data);
    let mut rowtime_from = None;
    if let Some(column) = first.strip_prefix(b"--rowtime-from ") {
        let Ok(column) = std::str::from_utf8(column) else {
            return;
        };
        rowtime_from = Some(column.trim().to_string());
        (first, rest) = split_line(rest);
    }
    let records: Vec<&[u8]> = lines(rest);
    if let Ok(schema) = std::str::from_utf8(first)
        && let Ok(schema) = RecordSchema::parse_json_text(schema, "input schema")
    {
        decode_with(&schema, rowtime_from.as_deref(), rest, &records);
    }
    // Discovery sees the same records, as the first line is one too.
    let json = first.first() == Some(&b'{');
    let mut sample: Vec<&[u8]> = vec![first];
    sample.extend(&records);
    if let Ok(schema) = discover_schema(&sample, json) {
        let decoder = RecordDecoder::new(&schema);
        assert!(
            decoder.is_ok(),
            "a discovered schema is refused by the decoder: {}",
            decoder.err().unwrap_or_default()
        );
        decode_with(&schema, None, rest, &records);
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The records of file lines as [`SourceDecoder`] splits them.
fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

fn decode_with(
    schema: &RecordSchema,
    rowtime_from: Option<&str>,
    payload: &[u8],
    records: &[&[u8]],
) {
    let Some(file_rows) = one_row_each(schema, records) else {
        return;
    };
    let mut parts = Vec::new();
    split_payload(
        payload,
        schema.row_delimiter().map(str::as_bytes),
        &mut parts,
    );
    let kinesis_rows = one_row_each(schema, &parts).unwrap_or(false);

    let def = StreamDef {
        name: "SOURCE_SQL_STREAM_001".into(),
        columns: schema.stream_columns(),
        kind: StreamKind::Source,
    };
    let stream_schema = with_rowtime(&def.table_schema());
    let check = |decoded: crate::Result<Decoded>, one_row_each: bool| {
        let Ok((batch, errors, seen)) = decoded else {
            return;
        };
        let rows = batch.as_ref().map_or(0, RecordBatch::num_rows);
        if one_row_each {
            assert_eq!(
                rows + errors.len(),
                seen as usize,
                "rows accepted plus error rows differ from the records seen"
            );
        }
        if let Some(batch) = batch {
            assert_eq!(batch.schema(), stream_schema);
        }
    };
    let source = || SourceDecoder::new(schema, stream_schema.clone(), rowtime_from).ok();
    if let Some(mut file) = source() {
        check(file.decode(payload, 1_000), file_rows);
    }
    if let Some(mut kinesis) = source() {
        let record = SourceRecord {
            data: payload.to_vec(),
            arrival_ms: 2_000,
        };
        check(kinesis.decode_records(&[record], 1_000), kinesis_rows);
    }
}

type Decoded = (Option<RecordBatch>, Vec<crate::error_stream::ErrorRow>, u64);

/// Decodes `records` with a [`RecordDecoder`], checking that a failed record adds no row and
/// that the batch holds the rows added. Whether every record gave at most one row (none
/// flattened an array into several); `None` if the decoder refuses the schema.
fn one_row_each(schema: &RecordSchema, records: &[&[u8]]) -> Option<bool> {
    let mut decoder = RecordDecoder::new(schema).ok()?;
    let mut one_each = true;
    for record in records {
        let before = decoder.len();
        match decoder.push(record) {
            Ok(()) => {
                assert!(
                    decoder.last_record_rows() >= 1,
                    "a decoded record gave no row"
                );
                assert_eq!(decoder.len(), before + decoder.last_record_rows());
                one_each &= decoder.last_record_rows() == 1;
            }
            Err(_) => assert_eq!(decoder.len(), before, "a failed record left rows behind"),
        }
    }
    let rows = decoder.len();
    let batch = decoder.flush();
    assert_eq!(batch.num_rows(), rows);
    assert_eq!(batch.schema(), schema.arrow_schema());
    Some(one_each)
}

/// A log parser: its name, its literal arguments one a line (`NULL` for a NULL, a number for
/// a column count), `---`, then the log lines.
pub fn log_parse(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let mut parts = input.splitn(2, "\n---\n");
    let head = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut head = head.lines();
    let name = head.next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some(udf) = LogParse::all().into_iter().find(|f| f.name() == name) else {
        return;
    };
    let literals: Vec<ScalarValue> = head
        .map(|a| match a {
            "NULL" => ScalarValue::Utf8(None),
            a => match a.parse::<i64>() {
                Ok(n) => ScalarValue::Int64(Some(n)),
                Err(_) => ScalarValue::Utf8(Some(a.to_string())),
            },
        })
        .collect();
    if literals.len() > 4 {
        return;
    }
    let lines: ArrayRef = Arc::new(StringArray::from_iter(
        body.lines().map(|l| (l != "NULL").then_some(l)),
    ));
    let mut arg_fields: Vec<FieldRef> = vec![Arc::new(Field::new("text", DataType::Utf8, true))];
    arg_fields.extend(
        literals
            .iter()
            .map(|v| Arc::new(Field::new("arg", v.data_type(), true))),
    );
    let mut scalars: Vec<Option<&ScalarValue>> = vec![None];
    scalars.extend(literals.iter().map(Some));
    let Ok(return_field) = udf.return_field_from_args(ReturnFieldArgs {
        arg_fields: &arg_fields,
        scalar_arguments: &scalars,
    }) else {
        return;
    };
    let mut args = vec![ColumnarValue::Array(Arc::clone(&lines))];
    args.extend(literals.iter().cloned().map(ColumnarValue::Scalar));
    let result = udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: lines.len(),
        return_field: Arc::clone(&return_field),
        config_options: Arc::new(ConfigOptions::default()),
    });
    if let Ok(ColumnarValue::Array(result)) = result {
        assert_eq!(result.len(), lines.len());
        assert_eq!(result.data_type(), return_field.data_type());
    }
}

/// A date pattern, then texts: each is read, what was read is written back, and so are some
/// boundary instants.
pub fn date_format(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let mut lines = input.lines();
    let Ok(pattern) = Pattern::parse(lines.next().unwrap_or_default()) else {
        return;
    };
    let mut out = String::new();
    for ms in [0, -1, 951_782_400_000, i64::MIN, i64::MAX] {
        out.clear();
        pattern.format(ms, &mut out);
    }
    for line in lines {
        if let Ok(ms) = pattern.read(line) {
            out.clear();
            pattern.format(ms, &mut out);
        }
        if let Ok(ms) = line.trim().parse::<i64>() {
            out.clear();
            pattern.format(ms, &mut out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input a fuzzer crashed on, kept under `tests/fuzz/<target>/`, runs without a
    /// panic now.
    #[test]
    fn crashes_found_by_fuzzing_stay_fixed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
        let mut ran = 0;
        for (name, target) in TARGETS {
            let Ok(dir) = std::fs::read_dir(root.join(name)) else {
                continue;
            };
            let mut files: Vec<_> = dir.map(|e| e.expect("a directory entry").path()).collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file).expect("a readable input");
                eprintln!("{name}: {}", file.display());
                target(&data);
                ran += 1;
            }
        }
        assert!(ran > 0, "no inputs under {}", root.display());
    }
}
