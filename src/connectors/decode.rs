//! Input record decoders: KDA records (JSON documents or CSV lines) decoded straight into Arrow
//! columns, following KDA's input-schema rules (FEATURES §2.2, §2.3).
//!
//! Values go straight into per-column buffers that can be cut back: a record that fails
//! half-way (KDA sends it to `error_stream`) is undone, so no partial row stays behind.
//!
//! JSON records are walked with serde over a small trie built from the column mappings: keys no
//! column asks for are skipped with `IgnoredAny`, mapped values are taken as borrowed
//! [`RawValue`]s (their exact source text) and converted by the column's type. No
//! `serde_json::Value` is built and nothing is allocated per record in the common case. A schema
//! that flattens an array (`$.arr[0:].field`) parses each record whole instead and appends a row
//! per element.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, StringArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::schema::{ColumnSpec, RecordFormat, RecordSchema};
use crate::types::SqlType;

/// Decodes records of one schema into Arrow batches.
pub struct RecordDecoder {
    schema: SchemaRef,
    cols: Vec<ColPlan>,
    /// The batch being decoded, one buffer per column.
    columns: Vec<Column>,
    format: Format,
    /// Scratch space for unescaping one JSON string or one quoted CSV field.
    unescaped: String,
    /// Scratch space for one binary literal.
    bytes: Vec<u8>,
    /// The first conversion error of the record being decoded.
    error: Option<String>,
    rows: usize,
    /// Rows the last record added: 1, or with a flattened array one per element.
    last_record_rows: usize,
    /// Whether flat JSON objects take the fast path (tests turn it off to compare).
    fast_json: bool,
}

enum Format {
    Json {
        trie: Vec<Node>,
    },
    /// JSON with one array flattened: a row per element of the array at `array`.
    JsonFlatten {
        array: Vec<String>,
        columns: Vec<FlatPath>,
    },
    Csv {
        delimiter: u8,
    },
}

/// Where a column's value is in a record whose array is flattened.
enum FlatPath {
    /// Keys from the document's root: the same on every row of the record.
    Root(Vec<String>),
    /// Keys inside each element of the array.
    Element(Vec<String>),
}

/// A trie node: an object level of the JSON document.
#[derive(Default)]
struct Node {
    /// Keys of this object that some column path goes through or ends at.
    children: Vec<(Box<str>, usize)>,
    /// Columns whose path ends here.
    leaves: Vec<usize>,
}

/// A column and how its values are converted.
struct ColPlan {
    name: String,
    sql_type: SqlType,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int { min: i64, max: i64 },
    Real,
    Double,
    Decimal { precision: u8, scale: i8 },
    Text { max_chars: Option<usize> },
    Bool,
    Timestamp,
    Date,
    Time,
    Binary { max_bytes: Option<usize> },
}

/// A value as found in a record, before conversion to the column's type.
#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Null,
    Bool(bool),
    /// A JSON number's source text.
    Number(&'a str),
    /// A JSON string (unescaped) or a CSV field.
    Str(&'a str),
    /// A JSON array or object's source text.
    Composite(&'a str),
}

impl fmt::Display for Val<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => write!(f, "null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Number(n) => write!(f, "{}", clip(n)),
            Val::Str(s) => write!(f, "{:?}", clip(s)),
            Val::Composite(c) if c.starts_with('[') => write!(f, "a JSON array"),
            Val::Composite(_) => write!(f, "a JSON object"),
        }
    }
}

/// Shortens a value quoted in an error message.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl RecordDecoder {
    /// Checks the schema's mappings; errors name the column and say what is supported.
    pub fn new(schema: &RecordSchema) -> Result<RecordDecoder, String> {
        if schema.columns.is_empty() {
            return Err("the record schema has no columns".into());
        }
        let cols: Vec<ColPlan> = schema
            .columns
            .iter()
            .map(|c| ColPlan {
                name: c.name.clone(),
                sql_type: c.sql_type,
                kind: kind_of(c.sql_type),
            })
            .collect();
        let format = match &schema.format {
            RecordFormat::Json => {
                let paths = schema
                    .columns
                    .iter()
                    .map(parse_path)
                    .collect::<Result<Vec<_>, _>>()?;
                let flattened: Vec<(usize, &JsonPath)> = paths
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.flatten_at.is_some())
                    .collect();
                if let Some(&(first, path)) = flattened.first() {
                    let array = path.keys[..path.flatten_at.expect("flattened")].to_vec();
                    if let Some(&(other, _)) = flattened
                        .iter()
                        .find(|(_, p)| p.keys[..p.flatten_at.expect("flattened")] != array[..])
                    {
                        return Err(format!(
                            "columns {} and {} flatten different arrays; only one array can be flattened \
                             (another can be read whole as $.other[0:])",
                            schema.columns[first].name, schema.columns[other].name
                        ));
                    }
                    let columns = paths
                        .into_iter()
                        .map(|p| match p.flatten_at {
                            Some(at) => FlatPath::Element(p.keys[at..].to_vec()),
                            None => FlatPath::Root(p.keys),
                        })
                        .collect();
                    Format::JsonFlatten { array, columns }
                } else {
                    let mut trie = vec![Node::default()];
                    for (i, path) in paths.into_iter().enumerate() {
                        let mut node = 0;
                        for key in path.keys {
                            node = match trie[node].children.iter().find(|(k, _)| **k == *key) {
                                Some(&(_, n)) => n,
                                None => {
                                    trie.push(Node::default());
                                    let n = trie.len() - 1;
                                    trie[node].children.push((key.into_boxed_str(), n));
                                    n
                                }
                            };
                        }
                        trie[node].leaves.push(i);
                    }
                    Format::Json { trie }
                }
            }
            RecordFormat::Csv {
                column_delimiter, ..
            } => match column_delimiter.as_bytes() {
                [d] if *d != b'"' && *d != b'\r' && *d != b'\n' => Format::Csv { delimiter: *d },
                _ => {
                    return Err(format!(
                        "CSV column delimiter {column_delimiter:?} is not supported; use one single-byte character \
                         other than a quote or a line break"
                    ));
                }
            },
        };
        let columns = cols.iter().map(|c| Column::new(c.kind, 1024)).collect();
        Ok(RecordDecoder {
            schema: schema.arrow_schema(),
            columns,
            cols,
            format,
            unescaped: String::new(),
            bytes: Vec::new(),
            error: None,
            rows: 0,
            last_record_rows: 0,
            fast_json: true,
        })
    }

    /// Decodes one record: a JSON document, or one CSV line, without its row delimiter
    /// (a trailing '\r' is tolerated). On success appends exactly one row. On failure appends
    /// nothing (all columns stay aligned) and returns a one-line reason naming the column,
    /// e.g. "column AMOUNT (DECIMAL(8,2)): \"abc\" is not a number" or "not valid JSON: …".
    pub fn push(&mut self, record: &[u8]) -> Result<(), String> {
        self.last_record_rows = 0;
        if let Format::JsonFlatten { .. } = self.format {
            return self.push_flattened(record);
        }
        let rows = self.rows;
        self.error = None;
        let mut stage = Stage {
            cols: &self.cols,
            columns: &mut self.columns,
            rows,
            unescaped: &mut self.unescaped,
            bytes: &mut self.bytes,
            error: &mut self.error,
        };
        let decoded = match &self.format {
            Format::Json { trie } => decode_json(trie, &mut stage, record, self.fast_json),
            Format::Csv { delimiter } => decode_csv(*delimiter, &mut stage, record),
            Format::JsonFlatten { .. } => unreachable!("decoded by push_flattened"),
        };
        if let Err(why) = decoded {
            stage.undo();
            return Err(why);
        }
        // Columns the record did not give are NULL.
        for column in &mut self.columns {
            if column.len() == rows {
                column.push_null();
            }
        }
        self.rows += 1;
        self.last_record_rows = 1;
        Ok(())
    }

    /// Rows the last successful `push` appended: 1, or with a flattened array one per element
    /// (one row of NULLs for an empty or missing array).
    pub fn last_record_rows(&self) -> usize {
        self.last_record_rows
    }

    /// A record with a flattened array: parsed whole, a row per element of the array.
    fn push_flattened(&mut self, record: &[u8]) -> Result<(), String> {
        let Format::JsonFlatten { array, columns } = &self.format else {
            unreachable!("called for flattened arrays only")
        };
        let doc: serde_json::Value =
            serde_json::from_slice(record).map_err(|e| format!("not valid JSON: {e}"))?;
        if !doc.is_object() {
            return Err("not a JSON object: the record is not an object".into());
        }
        fn lookup<'v>(
            mut v: &'v serde_json::Value,
            keys: &[String],
        ) -> Option<&'v serde_json::Value> {
            for k in keys {
                v = v.get(k)?;
            }
            Some(v)
        }
        let elements: Vec<&serde_json::Value> = match lookup(&doc, array) {
            Some(serde_json::Value::Array(items)) => items.iter().collect(),
            _ => Vec::new(),
        };
        let start = self.rows;
        if elements.is_empty() {
            // An empty or missing array: one row of NULLs.
            for column in &mut self.columns {
                column.push_null();
            }
            self.rows += 1;
            self.last_record_rows = 1;
            return Ok(());
        }
        for (i, element) in elements.iter().enumerate() {
            let mut stage = Stage {
                cols: &self.cols,
                columns: &mut self.columns,
                rows: start + i,
                unescaped: &mut self.unescaped,
                bytes: &mut self.bytes,
                error: &mut self.error,
            };
            for (c, path) in columns.iter().enumerate() {
                let value = match path {
                    FlatPath::Root(keys) => lookup(&doc, keys),
                    FlatPath::Element(keys) => lookup(element, keys),
                };
                let text;
                let val = match value {
                    None | Some(serde_json::Value::Null) => Val::Null,
                    Some(serde_json::Value::Bool(b)) => Val::Bool(*b),
                    Some(serde_json::Value::String(s)) => Val::Str(s),
                    Some(v @ serde_json::Value::Number(_)) => {
                        text = v.to_string();
                        Val::Number(&text)
                    }
                    Some(v) => {
                        text = v.to_string();
                        Val::Composite(&text)
                    }
                };
                if stage.put(c, val).is_err() {
                    let why = stage.error.take().unwrap_or_default();
                    for column in &mut self.columns {
                        column.truncate(start);
                    }
                    return Err(why);
                }
            }
        }
        self.rows += elements.len();
        self.last_record_rows = elements.len();
        Ok(())
    }

    /// Rows appended since the last `flush`.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Returns the rows appended so far as a batch with schema `schema.arrow_schema()` and resets.
    pub fn flush(&mut self) -> RecordBatch {
        // Fresh buffers sized for a batch like this one, so the next batch does not regrow them.
        let rows = self.rows.clamp(1024, 1 << 16);
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .zip(&self.cols)
            .map(|(c, plan)| std::mem::replace(c, Column::new(plan.kind, rows)).finish(plan.kind))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .expect("decoded columns match the schema")
    }
}

// ---------------------------------------------------------------------------------------------
// Column plans and buffers

fn kind_of(t: SqlType) -> Kind {
    match t {
        SqlType::TinyInt => Kind::Int {
            min: i8::MIN as i64,
            max: i8::MAX as i64,
        },
        SqlType::SmallInt => Kind::Int {
            min: i16::MIN as i64,
            max: i16::MAX as i64,
        },
        SqlType::Integer => Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        SqlType::BigInt => Kind::Int {
            min: i64::MIN,
            max: i64::MAX,
        },
        SqlType::Real => Kind::Real,
        SqlType::Double => Kind::Double,
        SqlType::Decimal { precision, scale } => Kind::Decimal { precision, scale },
        SqlType::Char(n) | SqlType::Varchar(n) => Kind::Text {
            max_chars: n.map(|n| n as usize),
        },
        SqlType::Boolean => Kind::Bool,
        SqlType::Timestamp => Kind::Timestamp,
        SqlType::Date => Kind::Date,
        SqlType::Time => Kind::Time,
        SqlType::Binary(n) | SqlType::Varbinary(n) => Kind::Binary {
            max_bytes: n.map(|n| n as usize),
        },
    }
}

/// One column of the batch being decoded. Unlike Arrow's builders it can be cut back to a row
/// count, so a record's values go straight in and a record that fails half-way is undone
/// (KDA sends the whole record to `error_stream`; no partial row may stay behind).
struct Column {
    values: Values,
    /// Per row: false for NULL.
    valid: Vec<bool>,
}

enum Values {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Dec(Vec<i128>),
    Bool(Vec<bool>),
    /// Milliseconds since the epoch.
    Ts(Vec<i64>),
    /// Days since the epoch.
    Date(Vec<i32>),
    /// Milliseconds since midnight.
    Time(Vec<i32>),
    /// Text (valid UTF-8) or bytes: row `i` is `data[offsets[i]..offsets[i + 1]]`.
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Bin {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
}

/// Applies `$body` to the vector of every fixed-width variant of `Values`.
macro_rules! each_fixed {
    ($values:expr, $v:ident => $body:expr, $other:pat => $else:expr) => {
        match $values {
            Values::I8($v) => $body,
            Values::I16($v) => $body,
            Values::I32($v) => $body,
            Values::I64($v) => $body,
            Values::F32($v) => $body,
            Values::F64($v) => $body,
            Values::Dec($v) => $body,
            Values::Bool($v) => $body,
            Values::Ts($v) => $body,
            Values::Date($v) => $body,
            Values::Time($v) => $body,
            $other => $else,
        }
    };
}

impl Column {
    /// An empty column with room for `rows` rows.
    fn new(kind: Kind, rows: usize) -> Column {
        let text = || Vec::with_capacity(rows * 16);
        let offsets = || {
            let mut o = Vec::with_capacity(rows + 1);
            o.push(0);
            o
        };
        let values = match kind {
            Kind::Int { max, .. } if max == i8::MAX as i64 => Values::I8(Vec::with_capacity(rows)),
            Kind::Int { max, .. } if max == i16::MAX as i64 => {
                Values::I16(Vec::with_capacity(rows))
            }
            Kind::Int { max, .. } if max == i32::MAX as i64 => {
                Values::I32(Vec::with_capacity(rows))
            }
            Kind::Int { .. } => Values::I64(Vec::with_capacity(rows)),
            Kind::Real => Values::F32(Vec::with_capacity(rows)),
            Kind::Double => Values::F64(Vec::with_capacity(rows)),
            Kind::Decimal { .. } => Values::Dec(Vec::with_capacity(rows)),
            Kind::Text { .. } => Values::Str {
                offsets: offsets(),
                data: text(),
            },
            Kind::Bool => Values::Bool(Vec::with_capacity(rows)),
            Kind::Timestamp => Values::Ts(Vec::with_capacity(rows)),
            Kind::Date => Values::Date(Vec::with_capacity(rows)),
            Kind::Time => Values::Time(Vec::with_capacity(rows)),
            Kind::Binary { .. } => Values::Bin {
                offsets: offsets(),
                data: text(),
            },
        };
        Column {
            values,
            valid: Vec::with_capacity(rows),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.valid.len()
    }

    #[inline]
    /// Drops the rows from `rows` on.
    fn truncate(&mut self, rows: usize) {
        if self.valid.len() <= rows {
            return;
        }
        self.valid.truncate(rows);
        each_fixed!(&mut self.values, v => v.truncate(rows),
        Values::Str { offsets, data } | Values::Bin { offsets, data } => {
            offsets.truncate(rows + 1);
            data.truncate(offsets[rows] as usize);
        })
    }

    #[inline]
    fn push_null(&mut self) {
        self.valid.push(false);
        each_fixed!(&mut self.values, v => v.push(Default::default()),
        Values::Str { offsets, data } | Values::Bin { offsets, data } => {
            offsets.push(offsets[offsets.len() - 1]);
            let _ = data;
        })
    }

    /// An integer, timestamp (ms), date (days) or time (ms); the column's kind checked the range.
    #[inline]
    fn push_int(&mut self, v: i64) {
        match &mut self.values {
            Values::I8(x) => x.push(v as i8),
            Values::I16(x) => x.push(v as i16),
            Values::I32(x) | Values::Date(x) | Values::Time(x) => x.push(v as i32),
            Values::I64(x) | Values::Ts(x) => x.push(v),
            _ => unreachable!("an integer converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    fn push_float(&mut self, v: f64) {
        match &mut self.values {
            Values::F32(x) => x.push(v as f32),
            Values::F64(x) => x.push(v),
            _ => unreachable!("a float converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    fn push_decimal(&mut self, v: i128) {
        match &mut self.values {
            Values::Dec(x) => x.push(v),
            _ => unreachable!("a decimal converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    fn push_bool(&mut self, v: bool) {
        match &mut self.values {
            Values::Bool(x) => x.push(v),
            _ => unreachable!("a boolean converted for a column of another type"),
        }
        self.valid.push(true);
    }

    /// Text (for a VARCHAR column, `v` is valid UTF-8) or bytes.
    #[inline]
    fn push_bytes(&mut self, v: &[u8]) {
        match &mut self.values {
            Values::Str { offsets, data } | Values::Bin { offsets, data } => {
                data.extend_from_slice(v);
                offsets.push(i32::try_from(data.len()).expect("a batch holds under 2 GiB of text"));
            }
            _ => unreachable!("text converted for a column of another type"),
        }
        self.valid.push(true);
    }

    fn finish(self, kind: Kind) -> ArrayRef {
        let nulls = if self.valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(self.valid))
        };
        match self.values {
            Values::I8(v) => Arc::new(Int8Array::new(v.into(), nulls)),
            Values::I16(v) => Arc::new(Int16Array::new(v.into(), nulls)),
            Values::I32(v) => Arc::new(Int32Array::new(v.into(), nulls)),
            Values::I64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            Values::F32(v) => Arc::new(Float32Array::new(v.into(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            Values::Dec(v) => {
                let Kind::Decimal { precision, scale } = kind else {
                    unreachable!("decimal values belong to a DECIMAL column")
                };
                Arc::new(
                    Decimal128Array::new(v.into(), nulls)
                        .with_precision_and_scale(precision, scale)
                        .expect("precision and scale were checked by SqlType::parse"),
                )
            }
            Values::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Values::Ts(v) => Arc::new(TimestampMillisecondArray::new(v.into(), nulls)),
            Values::Date(v) => Arc::new(Date32Array::new(v.into(), nulls)),
            Values::Time(v) => Arc::new(Time32MillisecondArray::new(v.into(), nulls)),
            Values::Str { offsets, data } => Arc::new(
                StringArray::try_new(OffsetBuffer::new(offsets.into()), data.into(), nulls)
                    .expect("decoded text is UTF-8 with ascending offsets"),
            ),
            Values::Bin { offsets, data } => Arc::new(BinaryArray::new(
                OffsetBuffer::new(offsets.into()),
                data.into(),
                nulls,
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSONPath mappings

/// A column's JSONPath: its object keys, and for `$.arr[0:].field` (one row per element of the
/// array) where the array's keys end (`Some(1)` for `$.arr[0:].field`: `arr`, then `field` in
/// each element).
struct JsonPath {
    keys: Vec<String>,
    flatten_at: Option<usize>,
}

/// Parses a column's JSONPath. Supported: `$.a`, `$.a.b.c`, `$["a"]`, `$['a']`, `$.arr[0:]` (the
/// whole array as JSON text) as the last step, and `$.arr[0:].b.c` (one row per element).
fn parse_path(col: &ColumnSpec) -> Result<JsonPath, String> {
    let Some(path) = col.mapping.as_deref() else {
        return Err(format!(
            "column {}: no Mapping; JSON columns need a JSONPath such as \"$.{}\"",
            col.name, col.name
        ));
    };
    let supported = "supported: $.key, $.a.b.c, $[\"key\"], $.array[0:] (the whole array as text) \
                     and $.array[0:].key (a row per element)";
    let bad = |why: &str| format!("column {}: Mapping {path:?} {why}; {supported}", col.name);
    let p = path.trim();
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(bad("does not start with `$`"));
    };
    let mut keys = Vec::new();
    let mut flatten_at = None;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() || key == "*" {
                return Err(bad(
                    "has an empty or wildcard step, which is not supported yet",
                ));
            }
            keys.push(key.to_string());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[0:]") {
            if keys.is_empty() {
                return Err(bad(
                    "selects the document itself, which is not supported yet",
                ));
            }
            if !r.is_empty() {
                if flatten_at.is_some() {
                    return Err(bad(
                        "flattens arrays inside arrays; only one level of [0:] can be flattened",
                    ));
                }
                flatten_at = Some(keys.len());
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").ok_or_else(|| bad("has an unclosed ['"))?;
            keys.push(r[..end].to_string());
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            // A JSON string literal up to the closing `"]`.
            let mut i = 0;
            let b = r.as_bytes();
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() || !r[i + 1..].starts_with(']') {
                return Err(bad("has an unclosed [\""));
            }
            let key: String = serde_json::from_str(&format!("\"{}\"", &r[..i]))
                .map_err(|_| bad("has a bad key string"))?;
            keys.push(key);
            rest = &r[i + 2..];
        } else {
            return Err(bad("is not supported yet"));
        }
    }
    if keys.is_empty() {
        return Err(bad(
            "selects the whole document, which is not supported yet",
        ));
    }
    Ok(JsonPath { keys, flatten_at })
}

// ---------------------------------------------------------------------------------------------
// Decoding one record

/// The record being decoded: row `rows` of `columns`.
struct Stage<'a> {
    cols: &'a [ColPlan],
    columns: &'a mut [Column],
    rows: usize,
    unescaped: &'a mut String,
    bytes: &'a mut Vec<u8>,
    error: &'a mut Option<String>,
}

impl Stage<'_> {
    /// Converts `val` for column `col` and appends it; on error remembers the reason.
    fn put(&mut self, col: usize, val: Val<'_>) -> Result<(), ()> {
        let plan = &self.cols[col];
        let column = &mut self.columns[col];
        // A key given twice: the last value wins.
        column.truncate(self.rows);
        match convert(plan.kind, val, column, self.bytes) {
            Ok(()) => Ok(()),
            Err(why) => {
                *self.error = Some(format!("column {} ({}): {why}", plan.name, plan.sql_type));
                Err(())
            }
        }
    }

    /// Removes whatever this record appended.
    fn undo(&mut self) {
        for column in self.columns.iter_mut() {
            column.truncate(self.rows);
        }
    }

    /// Converts a JSON leaf given as its source text.
    fn put_raw(&mut self, col: usize, raw: &str) -> Result<(), ()> {
        let b = raw.as_bytes();
        let val = match b.first() {
            Some(b'n') => Val::Null,
            Some(b't') => Val::Bool(true),
            Some(b'f') => Val::Bool(false),
            Some(b'"') => {
                let inner = &raw[1..raw.len() - 1];
                if inner.as_bytes().contains(&b'\\') {
                    let mut buf = std::mem::take(self.unescaped);
                    unescape_json(inner, &mut buf);
                    let r = self.put(col, Val::Str(&buf));
                    *self.unescaped = buf;
                    return r;
                }
                Val::Str(inner)
            }
            Some(b'{' | b'[') => Val::Composite(raw),
            _ => Val::Number(raw),
        };
        self.put(col, val)
    }
}

/// Decodes the JSON escapes of a string's inside (already validated by serde_json).
fn unescape_json(s: &str, out: &mut String) {
    out.clear();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let b = rest.as_bytes();
        let esc = b.get(i + 1).copied().unwrap_or(b'\\');
        rest = &rest[(i + 2).min(rest.len())..];
        match esc {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hex4 = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
                let Some(hi) = hex4(rest) else {
                    out.push('\u{fffd}');
                    continue;
                };
                rest = &rest[4..];
                let code = if (0xD800..0xDC00).contains(&hi) {
                    match rest.strip_prefix("\\u").and_then(hex4) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            rest = &rest[6..];
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => 0xFFFD,
                    }
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            other => out.push(other as char), // `"`, `\`, `/`
        }
    }
    out.push_str(rest);
}

fn decode_json(
    trie: &[Node],
    stage: &mut Stage<'_>,
    record: &[u8],
    fast: bool,
) -> Result<(), String> {
    // Validating UTF-8 once for the whole record is cheaper than serde_json doing it for every
    // captured value (`from_slice` does; `from_str` need not).
    let record =
        std::str::from_utf8(record).map_err(|e| format!("not valid JSON: not UTF-8: {e}"))?;
    if fast {
        match flat_object(trie, stage, record) {
            Some(done) => return done,
            // Start again from an empty row.
            None => stage.undo(),
        }
    }
    let mut de = serde_json::Deserializer::from_str(record);
    let walked = ObjectSeed {
        trie,
        node: 0,
        stage: &mut *stage,
        top: true,
    }
    .deserialize(&mut de);
    match walked.and_then(|()| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => Err(match stage.error.take() {
            Some(why) => why,
            None if e.is_data() => e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            None => format!("not valid JSON: {e}"),
        }),
    }
}

/// The fast path for the common record: one flat JSON object whose mapped keys hold strings
/// without escapes, numbers, booleans or null. Returns None for anything else (escapes, nested
/// values, bad syntax); the caller then undoes what was appended and the serde_json walk decodes
/// or reports the record.
fn flat_object(trie: &[Node], stage: &mut Stage<'_>, record: &str) -> Option<Result<(), String>> {
    let b = record.as_bytes();
    let root = &trie[0];
    // Records usually list their keys in the same order: try the key after the last one found.
    let mut next_child = 0;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(Ok(()));
    }
    loop {
        // "key"
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i + 1)?;
        let key = &record[i + 1..key_end];
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        // the value
        let start = i;
        let value = match *b.get(i)? {
            b'"' => {
                let end = string_end(b, i + 1)?;
                i = end + 1;
                Val::Str(&record[start + 1..end])
            }
            b'-' | b'0'..=b'9' => {
                i += b[i..]
                    .iter()
                    .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(b.len() - i);
                let text = &record[start..i];
                if !is_json_number(text) {
                    return None;
                }
                Val::Number(text)
            }
            b't' if b[i..].starts_with(b"true") => {
                i += 4;
                Val::Bool(true)
            }
            b'f' if b[i..].starts_with(b"false") => {
                i += 5;
                Val::Bool(false)
            }
            b'n' if b[i..].starts_with(b"null") => {
                i += 4;
                Val::Null
            }
            _ => return None,
        };
        let child = match root.children.get(next_child) {
            Some((k, _)) if same_key(k.as_bytes(), key.as_bytes()) => Some(next_child),
            _ => root
                .children
                .iter()
                .position(|(k, _)| same_key(k.as_bytes(), key.as_bytes())),
        };
        if let Some(c) = child {
            next_child = c + 1;
            let node = root.children[c].1;
            let node = &trie[node];
            if !node.children.is_empty() {
                return None;
            }
            for &col in &node.leaves {
                if stage.put(col, value).is_err() {
                    return Some(Err(stage.error.take().unwrap_or_default()));
                }
            }
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(Ok(())),
            _ => return None,
        }
    }
}

/// Bytes that end the fast path's scan of a JSON string: the closing quote, an escape, or a
/// control character (not allowed in JSON strings).
const STRING_STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        stop[c] = true;
        c += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// Where the string whose text starts at `from` ends: the index of its closing quote, or None
/// when an escape, a control character or the end of the record comes first.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let end = from
        + b.get(from..)?
            .iter()
            .position(|&c| STRING_STOP[c as usize])?;
    (b[end] == b'"').then_some(end)
}

/// Equality of two short byte strings (object keys) without a call to `memcmp`.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a8).zip(&mut b8) {
        if u64::from_ne_bytes(x.try_into().expect("8 bytes"))
            != u64::from_ne_bytes(y.try_into().expect("8 bytes"))
        {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Walks one object level of the trie.
struct ObjectSeed<'t, 's, 'a> {
    trie: &'t [Node],
    node: usize,
    stage: &'s mut Stage<'a>,
    /// The record itself: anything but an object is an error.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl ObjectSeed<'_, '_, '_> {
    fn not_object<E: de::Error>(&self, what: &str) -> Result<(), E> {
        if self.top {
            Err(E::custom(format_args!(
                "not a JSON object: the record is {what}"
            )))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.trie[self.node];
        while let Some(child) = map.next_key_seed(KeySeed {
            children: &node.children,
        })? {
            match child {
                Some(n) => map.next_value_seed(ValueSeed {
                    trie: self.trie,
                    node: n,
                    stage: &mut *self.stage,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.not_object::<A::Error>("an array")?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object("null")
    }
}

/// Looks a key up among a node's children without allocating.
struct KeySeed<'t> {
    children: &'t [(Box<str>, usize)],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self
            .children
            .iter()
            .find(|(k, _)| **k == *key)
            .map(|&(_, n)| n))
    }
}

/// The value of a mapped key: converted for the columns ending here, walked for deeper paths.
struct ValueSeed<'t, 's, 'a> {
    trie: &'t [Node],
    node: usize,
    stage: &'s mut Stage<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let node = &self.trie[self.node];
        if node.leaves.is_empty() {
            // Only deeper paths: walk an object, skip anything else (the paths give NULL).
            return ObjectSeed {
                trie: self.trie,
                node: self.node,
                stage: self.stage,
                top: false,
            }
            .deserialize(d);
        }
        let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?;
        let text = raw.get();
        for &col in &node.leaves {
            self.stage
                .put_raw(col, text)
                .map_err(|()| de::Error::custom("conversion"))?;
        }
        if !node.children.is_empty() && text.starts_with('{') {
            // Rare: both `$.a` and `$.a.b` are mapped; walk the captured text again.
            let mut de = serde_json::Deserializer::from_str(text);
            ObjectSeed {
                trie: self.trie,
                node: self.node,
                stage: self.stage,
                top: false,
            }
            .deserialize(&mut de)
            .map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

fn decode_csv(delimiter: u8, stage: &mut Stage<'_>, record: &[u8]) -> Result<(), String> {
    let line = std::str::from_utf8(record).map_err(|e| format!("not valid UTF-8: {e}"))?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let ncols = stage.cols.len();
    let b = line.as_bytes();
    let mut pos = 0;
    let mut col = 0;
    let mut buf = std::mem::take(stage.unescaped);
    let mut result = Ok(());
    while col < ncols {
        // One field starting at `pos`.
        let field: &str;
        let next: Option<usize>;
        if b.get(pos) == Some(&b'"') {
            buf.clear();
            let mut i = pos + 1;
            let mut start = i;
            loop {
                match b[i..].iter().position(|&c| c == b'"') {
                    None => {
                        *stage.unescaped = buf;
                        return Err(format!(
                            "column {}: unterminated quoted CSV field",
                            stage.cols[col].name
                        ));
                    }
                    Some(q) => {
                        buf.push_str(&line[start..i + q]);
                        i += q + 1;
                        if b.get(i) == Some(&b'"') {
                            buf.push('"');
                            i += 1;
                            start = i;
                        } else {
                            break;
                        }
                    }
                }
            }
            // Anything between the closing quote and the delimiter is kept as written.
            let end = b[i..].iter().position(|&c| c == delimiter).map(|p| i + p);
            buf.push_str(&line[i..end.unwrap_or(b.len())]);
            field = &buf;
            next = end.map(|e| e + 1);
        } else {
            let end = b[pos..]
                .iter()
                .position(|&c| c == delimiter)
                .map(|p| pos + p);
            field = &line[pos..end.unwrap_or(b.len())];
            next = end.map(|e| e + 1);
        }
        let val = if field.is_empty() && !matches!(stage.cols[col].kind, Kind::Text { .. }) {
            Val::Null
        } else {
            Val::Str(field)
        };
        if stage.put(col, val).is_err() {
            result = Err(stage.error.take().unwrap_or_default());
            break;
        }
        col += 1;
        match next {
            Some(n) => pos = n,
            None => break, // fewer fields than columns: the rest stay NULL
        }
    }
    *stage.unescaped = buf;
    result
}

// ---------------------------------------------------------------------------------------------
// Conversions (FEATURES §2.3)

/// Converts `val` to the column's type and appends it to `column`; appends nothing on error.
/// `bytes` is scratch space for a binary literal.
fn convert(
    kind: Kind,
    val: Val<'_>,
    column: &mut Column,
    bytes: &mut Vec<u8>,
) -> Result<(), String> {
    if let Val::Null = val {
        column.push_null();
        return Ok(());
    }
    let cannot = || format!("{val} cannot be converted to this type");
    match kind {
        Kind::Text { max_chars } => {
            let s = match val {
                Val::Bool(true) => "true",
                Val::Bool(false) => "false",
                Val::Number(s) | Val::Str(s) | Val::Composite(s) => s,
                Val::Null => unreachable!(),
            };
            column.push_bytes(truncate_chars(s, max_chars).as_bytes());
        }
        Kind::Int { min, max } => {
            let v = match val {
                Val::Bool(b) => b as i64,
                Val::Number(s) | Val::Str(s) => {
                    let n =
                        parse_number(trim(s)).ok_or_else(|| format!("{val} is not a number"))?;
                    let v = n
                        .to_integer()
                        .ok_or_else(|| format!("{val} is not an integer"))?;
                    if v < min as i128 || v > max as i128 {
                        return Err(format!("{val} is out of range"));
                    }
                    v as i64
                }
                _ => return Err(cannot()),
            };
            column.push_int(v);
        }
        Kind::Real | Kind::Double => {
            let v = match val {
                Val::Bool(b) => b as u8 as f64,
                Val::Number(s) | Val::Str(s) => {
                    let t = trim(s);
                    if parse_number(t).is_none() && !is_special_float(t) {
                        return Err(format!("{val} is not a number"));
                    }
                    let v: f64 = t.parse().map_err(|_| format!("{val} is not a number"))?;
                    if kind == Kind::Real && v.is_finite() && !(v as f32).is_finite() {
                        return Err(format!("{val} is out of range"));
                    }
                    v
                }
                _ => return Err(cannot()),
            };
            column.push_float(v);
        }
        Kind::Decimal { precision, scale } => {
            let n = match val {
                Val::Bool(b) => Number {
                    neg: false,
                    mant: b as u128,
                    exp: 0,
                },
                Val::Number(s) | Val::Str(s) => {
                    parse_number(trim(s)).ok_or_else(|| format!("{val} is not a number"))?
                }
                _ => return Err(cannot()),
            };
            let v = n
                .to_decimal(precision, scale)
                .ok_or_else(|| format!("{val} does not fit"))?;
            column.push_decimal(v);
        }
        Kind::Bool => {
            let v = match val {
                Val::Bool(b) => b,
                Val::Number(s) => {
                    parse_number(s)
                        .ok_or_else(|| format!("{val} is not a number"))?
                        .mant
                        != 0
                }
                Val::Str(s) => trim(s).eq_ignore_ascii_case("true"),
                _ => return Err(cannot()),
            };
            column.push_bool(v);
        }
        Kind::Timestamp => {
            match val {
                Val::Str(s) => column.push_int(parse_timestamp(trim(s)).ok_or_else(|| {
                    format!("{val} is not a timestamp (YYYY-MM-DD HH:MM:SS[.fff])")
                })?),
                _ => return Err(cannot()),
            }
        }
        Kind::Date => match val {
            Val::Str(s) => column.push_int(
                parse_timestamp(trim(s))
                    .ok_or_else(|| format!("{val} is not a date (YYYY-MM-DD)"))?
                    .div_euclid(MS_PER_DAY),
            ),
            _ => return Err(cannot()),
        },
        Kind::Time => match val {
            Val::Str(s) => column.push_int(
                parse_time(trim(s).as_bytes())
                    .filter(|&(_, used)| used == trim(s).len())
                    .map(|(ms, _)| ms)
                    .ok_or_else(|| format!("{val} is not a time (HH:MM:SS[.fff])"))?,
            ),
            _ => return Err(cannot()),
        },
        Kind::Binary { max_bytes } => {
            bytes.clear();
            match val {
                Val::Bool(b) => bytes.push(b as u8),
                Val::Str(s) => {
                    if !parse_binary_literal(trim(s), bytes) {
                        return Err(format!("{val} is not a binary literal such as X'3F67A23A'"));
                    }
                }
                _ => return Err(cannot()),
            }
            if let Some(max) = max_bytes {
                bytes.truncate(max);
            }
            column.push_bytes(bytes);
        }
    }
    Ok(())
}

/// `s` without surrounding whitespace; cheap when there is none (the usual case).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b))
            if !a.is_ascii_whitespace() && !b.is_ascii_whitespace() && *a < 0x80 && *b < 0x80 =>
        {
            s
        }
        _ => s.trim(),
    }
}

fn truncate_chars(s: &str, max_chars: Option<usize>) -> &str {
    match max_chars {
        Some(n) if s.len() > n => match s.char_indices().nth(n) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        _ => s,
    }
}

fn is_special_float(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    ["nan", "inf", "infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
}

/// `X'3F67A23A'` (an even number of hex digits) appended to `out`.
fn parse_binary_literal(s: &str, out: &mut Vec<u8>) -> bool {
    let Some(hex) = s
        .strip_prefix(['X', 'x'])
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.strip_suffix('\''))
    else {
        return false;
    };
    if !hex.len().is_multiple_of(2) {
        return false;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    for pair in hex.as_bytes().chunks_exact(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return false,
        }
    }
    true
}

/// An exact decimal number: `(-1)^neg * mant * 10^exp`, at most 38 significant digits kept.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Number {
    neg: bool,
    mant: u128,
    exp: i32,
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (also `.5` and `5.`) exactly.
fn parse_number(s: &str) -> Option<Number> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: u128 = 0;
    let mut sig = 0u32; // significant digits kept in `mant`
    let mut exp: i32 = 0;
    let mut digits = 0;
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        digits += 1;
        if sig < 38 {
            mant = mant * 10 + (c - b'0') as u128;
            if mant != 0 {
                sig += 1;
            }
        } else {
            exp = exp.saturating_add(1);
        }
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            digits += 1;
            if sig < 38 {
                mant = mant * 10 + (c - b'0') as u128;
                exp -= 1;
                if mant != 0 {
                    sig += 1;
                }
            }
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            e = (e * 10 + (c - b'0') as i32).min(100_000);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp = exp.saturating_add(if eneg { -e } else { e });
    }
    if i != b.len() {
        return None;
    }
    Some(Number { neg, mant, exp })
}

impl Number {
    /// The value if it is a whole number that fits an i128 comfortably.
    fn to_integer(self) -> Option<i128> {
        if self.mant == 0 {
            return Some(0);
        }
        let v = if self.exp >= 0 {
            if self.exp > 38 {
                return Some(if self.neg { i128::MIN } else { i128::MAX }); // out of every range
            }
            self.mant
                .checked_mul(10u128.pow(self.exp as u32))
                .unwrap_or(u128::MAX / 2)
        } else {
            let k = -self.exp;
            if k > 38 {
                return None;
            }
            let d = 10u128.pow(k as u32);
            if !self.mant.is_multiple_of(d) {
                return None;
            }
            self.mant / d
        };
        let v = v.min(u128::MAX / 2) as i128;
        Some(if self.neg { -v } else { v })
    }

    /// The unscaled value at `scale`, rounded half up; `None` if it needs more than `precision` digits.
    fn to_decimal(self, precision: u8, scale: i8) -> Option<i128> {
        if self.mant == 0 {
            return Some(0);
        }
        let shift = self.exp + scale as i32;
        let v: u128 = if shift >= 0 {
            if shift > 38 {
                return None;
            }
            self.mant.checked_mul(10u128.pow(shift as u32))?
        } else {
            let k = -shift;
            if k > 38 {
                0
            } else {
                let d = 10u128.pow(k as u32);
                let (q, r) = (self.mant / d, self.mant % d);
                if r * 2 >= d { q + 1 } else { q }
            }
        };
        if v >= 10u128.pow(precision as u32) {
            return None;
        }
        let v = v as i128;
        Some(if self.neg { -v } else { v })
    }
}

// ---------------------------------------------------------------------------------------------
// Dates and times

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `HH:MM[:SS[.f…]]` at the start of `b`: milliseconds since midnight and bytes used.
fn parse_time(b: &[u8]) -> Option<(i64, usize)> {
    let h = digits(b, 0, 2)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let m = digits(b, 3, 2)?;
    let mut i = 5;
    let mut s = 0;
    let mut ms = 0;
    if b.get(i) == Some(&b':') {
        s = digits(b, 6, 2)?;
        i = 8;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                if i - start < 3 {
                    ms = ms * 10 + (c - b'0') as u32;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..3 {
                ms *= 10;
            }
        }
    }
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some((((h * 60 + m) * 60 + s) as i64 * 1000 + ms as i64, i))
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.f…]` or `YYYY-MM-DDTHH:MM:SS[.f…]` with an optional `Z` or
/// `±HH:MM` offset: milliseconds since the epoch, UTC (fractions beyond milliseconds truncated).
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let y = digits(b, 0, 4)? as i64;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let day_ms = days_from_civil(y, m, d) * MS_PER_DAY;
    if b.len() == 10 {
        return Some(day_ms);
    }
    if !matches!(b[10], b' ' | b'T' | b't') {
        return None;
    }
    let (t, used) = parse_time(&b[11..])?;
    let rest = &b[11 + used..];
    let offset_ms = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let (oh, om) = match rest.len() {
                6 if rest[3] == b':' => (digits(rest, 1, 2)?, digits(rest, 4, 2)?),
                5 => (digits(rest, 1, 2)?, digits(rest, 3, 2)?),
                3 => (digits(rest, 1, 2)?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) as i64 * 60_000;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    Some(day_ms + t - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Array, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int8Array, Int32Array, Int64Array, Time32MillisecondArray,
        TimestampMillisecondArray,
    };

    fn json_schema(cols: &[(&str, &str, &str)]) -> RecordSchema {
        RecordSchema {
            columns: cols
                .iter()
                .map(|(n, t, m)| ColumnSpec {
                    name: n.to_string(),
                    sql_type: SqlType::parse(t).unwrap(),
                    mapping: Some(m.to_string()),
                })
                .collect(),
            format: RecordFormat::Json,
        }
    }

    fn csv_schema(cols: &[(&str, &str)], delimiter: &str) -> RecordSchema {
        RecordSchema {
            columns: cols
                .iter()
                .map(|(n, t)| ColumnSpec {
                    name: n.to_string(),
                    sql_type: SqlType::parse(t).unwrap(),
                    mapping: None,
                })
                .collect(),
            format: RecordFormat::Csv {
                row_delimiter: "\n".into(),
                column_delimiter: delimiter.into(),
            },
        }
    }

    #[test]
    fn the_fast_path_decodes_exactly_as_the_full_decoder() {
        let schema = json_schema(&[
            ("S", "VARCHAR(4)", "$.s"),
            ("I", "INTEGER", "$.i"),
            ("D", "DECIMAL(8,2)", "$.d"),
            ("F", "DOUBLE", "$.f"),
            ("B", "BOOLEAN", "$.b"),
            ("T", "TIMESTAMP", "$.t"),
            ("N", "VARCHAR(8)", "$.n.x"),
        ]);
        let records = [
            r#"{"s":"abc","i":1,"d":2.5,"f":-1e3,"b":true,"t":"2020-01-01 00:00:00.123"}"#,
            r#" { "s" : "toolong" , "i" : "42" , "d" : "3" , "extra" : null } "#,
            r#"{"s":"a\"b","i":-0,"d":0.001,"f":1E+2,"b":"false"}"#,
            r#"{"s":12.50,"i":1.0,"f":true,"t":null}"#,
            r#"{"i":1.5}"#,
            r#"{"i":99999999999}"#,
            r#"{"d":"abc"}"#,
            r#"{"f":01}"#,
            r#"{"f":1.}"#,
            r#"{"f":-}"#,
            r#"{"s":"x","s":"y"}"#,
            r#"{"skip":{"deep":[1,2]},"i":3}"#,
            r#"{"n":{"x":"nested"}}"#,
            r#"{"i":1,}"#,
            r#"{"i":1} trailing"#,
            r#"{"i":1"#,
            r#"["not an object"]"#,
            r#"{}"#,
            r#"{"s":"tab	inside"}"#,
            r#"{"t":"2020-02-30 00:00:00"}"#,
            r#"{"b":tru}"#,
            // The fast path gives up after appending some columns: the full decoder starts over.
            r#"{"i":7,"s":"ab","d":1,"n":{"x":"deep"}}"#,
            r#"{"i":8,"s":"cd","f":2,"s":"e\u0041"}"#,
            r#"{"i":9,"s":"gh","t":"2020-01-01 00:00:00","b":[true]}"#,
        ];
        let decode = |fast: bool| {
            let mut d = RecordDecoder::new(&schema).unwrap();
            d.fast_json = fast;
            let results: Vec<Result<(), String>> =
                records.iter().map(|r| d.push(r.as_bytes())).collect();
            (results, d.flush())
        };
        let (fast, fast_batch) = decode(true);
        let (full, full_batch) = decode(false);
        for ((r, a), b) in records.iter().zip(&fast).zip(&full) {
            assert_eq!(a, b, "{r}");
        }
        assert_eq!(fast_batch, full_batch);
        assert!(fast_batch.num_rows() >= 8, "{}", fast_batch.num_rows());
        // The last of a key given twice wins, also after the fast path gave up half-way.
        let i = fast_batch
            .column(1)
            .as_primitive::<arrow::datatypes::Int32Type>();
        let row = (0..i.len())
            .find(|&r| i.is_valid(r) && i.value(r) == 8)
            .unwrap();
        assert_eq!(fast_batch.column(0).as_string::<i32>().value(row), "eA");
        assert_eq!(
            fast_batch
                .column(3)
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
            2.0
        );
    }

    /// Many generated records, well-formed and not, decode the same on the fast path and the
    /// full decoder: the same results, the same batch.
    #[test]
    fn generated_records_decode_the_same_on_both_paths() {
        let schema = json_schema(&[
            ("S", "VARCHAR(6)", "$.s"),
            ("I", "INTEGER", "$.i"),
            ("D", "DECIMAL(8,2)", "$.d"),
            ("B", "BOOLEAN", "$.b"),
            ("T", "TIMESTAMP", "$.t"),
            ("N", "VARCHAR(8)", "$.n.x"),
        ]);
        let keys = ["s", "i", "d", "b", "t", "n", "other"];
        let values = [
            "\"abc\"",
            "\"a\\\"b\"",
            "\"\\u00e9t\u{e9}\"",
            "12",
            "-0",
            "1.5",
            "1e2",
            "01",
            "\"42\"",
            "true",
            "false",
            "null",
            "\"2020-01-01 00:00:00\"",
            "\"2020-02-30 00:00:00\"",
            "{\"x\":\"deep\"}",
            "{\"x\":1}",
            "[1,2]",
            "\"toolongtext\"",
            "tru",
            "\"\"",
            "99999999999",
        ];
        // A small deterministic generator (xorshift), so failures reproduce.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut records = Vec::new();
        for _ in 0..3000 {
            let fields = next(6);
            let mut r = String::from(if next(20) == 0 { "[" } else { "{" });
            for f in 0..fields {
                if f > 0 {
                    r.push_str(if next(30) == 0 { " , " } else { "," });
                }
                r.push_str(&format!(
                    "\"{}\":{}",
                    keys[next(keys.len())],
                    values[next(values.len())]
                ));
            }
            r.push_str(match next(25) {
                0 => "",
                1 => "} x",
                _ => "}",
            });
            records.push(r);
        }
        let decode = |fast: bool| {
            let mut d = RecordDecoder::new(&schema).unwrap();
            d.fast_json = fast;
            let results: Vec<Result<(), String>> =
                records.iter().map(|r| d.push(r.as_bytes())).collect();
            (results, d.flush())
        };
        let (fast, fast_batch) = decode(true);
        let (full, full_batch) = decode(false);
        for ((r, a), b) in records.iter().zip(&fast).zip(&full) {
            assert_eq!(a, b, "{r}");
        }
        assert_eq!(fast_batch, full_batch);
        let good = fast.iter().filter(|r| r.is_ok()).count();
        assert_eq!(fast_batch.num_rows(), good);
        assert!(
            good > 300 && good < 2900,
            "a mix of good and bad records: {good}"
        );
    }

    /// Decodes `{"<key>": <fragment value>}` into one column of `ty`.
    fn one(fragment: &str, ty: &str) -> Result<RecordBatch, String> {
        let key = fragment.split('"').nth(1).unwrap();
        let mut d = RecordDecoder::new(&json_schema(&[("C", ty, &format!("$.{key}"))])).unwrap();
        d.push(format!("{{{fragment}}}").as_bytes())?;
        let batch = d.flush();
        assert_eq!(batch.num_rows(), 1);
        Ok(batch)
    }

    fn text(fragment: &str, ty: &str) -> String {
        one(fragment, ty)
            .unwrap()
            .column(0)
            .as_string::<i32>()
            .value(0)
            .to_string()
    }

    fn is_null(fragment: &str, ty: &str) -> bool {
        one(fragment, ty).unwrap().column(0).is_null(0)
    }

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    // ----- EX-41, one test per vector

    #[test]
    fn ex41_null_is_null_for_every_type() {
        for ty in [
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "REAL",
            "DOUBLE",
            "DECIMAL(5,2)",
            "CHAR(3)",
            "VARCHAR(8)",
            "BOOLEAN",
            "TIMESTAMP",
            "DATE",
            "TIME",
            "BINARY(4)",
            "VARBINARY(4)",
        ] {
            assert!(is_null(r#""City":null"#, ty), "{ty}");
        }
    }

    #[test]
    fn ex41_true_into_integer_is_1() {
        let b = one(r#""Contacted":true"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            1
        );
    }

    #[test]
    fn ex41_false_into_decimal_is_0() {
        let b = one(r#""Contacted":false"#, "DECIMAL(5,2)").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            0
        );
        let b = one(r#""Contacted":true"#, "DECIMAL(5,2)").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            100
        );
    }

    #[test]
    fn ex41_true_into_varchar3_is_truncated() {
        assert_eq!(text(r#""Contacted":true"#, "VARCHAR(3)"), "tru");
        assert_eq!(text(r#""Contacted":false"#, "VARCHAR(8)"), "false");
    }

    #[test]
    fn ex41_true_into_boolean_is_true() {
        let b = one(r#""Contacted":true"#, "BOOLEAN").unwrap();
        assert!(
            b.column(0)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        );
    }

    #[test]
    fn ex41_true_into_timestamp_is_an_error() {
        let err = one(r#""Contacted":true"#, "TIMESTAMP").unwrap_err();
        assert_eq!(
            err,
            "column C (TIMESTAMP): true cannot be converted to this type"
        );
        assert!(one(r#""Contacted":true"#, "DATE").is_err());
        assert!(one(r#""Contacted":true"#, "TIME").is_err());
    }

    #[test]
    fn ex41_integer_into_integer() {
        let b = one(r#""CustomerId":67321"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            67321
        );
        let b = one(r#""CustomerId":-9223372036854775808"#, "BIGINT").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            i64::MIN
        );
    }

    #[test]
    fn ex41_fraction_into_integer_is_an_error() {
        let err = one(r#""x":123.4"#, "INTEGER").unwrap_err();
        assert_eq!(err, "column C (INTEGER): 123.4 is not an integer");
        // A whole number written with a fraction or exponent is fine.
        let b = one(r#""x":1.20e2"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            120
        );
    }

    #[test]
    fn ex41_zero_into_boolean_is_false() {
        let b = one(r#""x":0"#, "BOOLEAN").unwrap();
        assert!(
            !b.column(0)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        );
        let b = one(r#""x":0.0"#, "BOOLEAN").unwrap();
        assert!(!b.column(0).as_boolean().value(0));
    }

    #[test]
    fn ex41_five_into_boolean_is_true() {
        let b = one(r#""x":5"#, "BOOLEAN").unwrap();
        assert!(b.column(0).as_boolean().value(0));
        let b = one(r#""x":-0.5"#, "BOOLEAN").unwrap();
        assert!(b.column(0).as_boolean().value(0));
    }

    #[test]
    fn ex41_number_into_varchar_is_its_text() {
        assert_eq!(text(r#""x":67321"#, "VARCHAR(10)"), "67321");
        assert_eq!(text(r#""x":2.50"#, "VARCHAR(10)"), "2.50");
        assert_eq!(text(r#""x":1E+3"#, "VARCHAR(10)"), "1E+3");
    }

    #[test]
    fn ex41_number_into_varbinary_is_an_error() {
        let err = one(r#""x":67321"#, "VARBINARY(8)").unwrap_err();
        assert_eq!(
            err,
            "column C (VARBINARY(8)): 67321 cannot be converted to this type"
        );
    }

    #[test]
    fn ex41_string_into_varchar4_is_silently_truncated() {
        assert_eq!(text(r#""CustomerName":"John Doe""#, "VARCHAR(4)"), "John");
        // CHAR(n) is not blank-padded on input; truncation counts characters, not bytes.
        assert_eq!(text(r#""CustomerName":"Jo""#, "CHAR(4)"), "Jo");
        assert_eq!(text(r#""CustomerName":"éèêëa""#, "CHAR(4)"), "éèêë");
    }

    #[test]
    fn ex41_string_true_any_case_into_boolean_is_true() {
        assert!(
            one(r#""b":"TRUE""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
        assert!(
            one(r#""b":"tRuE""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
    }

    #[test]
    fn ex41_other_strings_into_boolean_are_false() {
        assert!(
            !one(r#""b":"yes""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
        assert!(
            !one(r#""b":"""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
    }

    #[test]
    fn ex41_numeric_string_into_integer() {
        let b = one(r#""n":"12""#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            12
        );
        let b = one(r#""n":"2.5""#, "DOUBLE").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0),
            2.5
        );
        let b = one(r#""n":"2.5""#, "REAL").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap()
                .value(0),
            2.5
        );
    }

    #[test]
    fn ex41_non_numeric_string_into_integer_is_an_error() {
        let err = one(r#""n":"abc""#, "INTEGER").unwrap_err();
        assert_eq!(err, r#"column C (INTEGER): "abc" is not a number"#);
        let err = one(r#""n":"abc""#, "DECIMAL(8,2)").unwrap_err();
        assert_eq!(err, r#"column C (DECIMAL(8,2)): "abc" is not a number"#);
        assert!(
            one(r#""n":"abc""#, "DOUBLE")
                .unwrap_err()
                .contains("is not a number")
        );
    }

    #[test]
    fn ex41_date_string_into_date() {
        let b = one(r#""d":"1992-02-14""#, "DATE").unwrap();
        let days = b
            .column(0)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap()
            .value(0);
        assert_eq!(days, 8079); // 1992-02-14
        let b = one(r#""d":"1992-02-14 18:35:44.0""#, "DATE").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Date32Array>()
                .unwrap()
                .value(0),
            8079
        );
        assert!(
            one(r#""d":"1992-02-30""#, "DATE")
                .unwrap_err()
                .contains("is not a date")
        );
    }

    #[test]
    fn ex41_timestamp_string_into_timestamp() {
        let b = one(r#""d":"1992-02-14 18:35:44.0""#, "TIMESTAMP").unwrap();
        let ms = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .value(0);
        assert_eq!(ms, 8079 * MS_PER_DAY + (18 * 3600 + 35 * 60 + 44) * 1000);
    }

    #[test]
    fn ex41_binary_literal_into_varbinary() {
        let b = one(r#""bin":"X'3F67A23A'""#, "VARBINARY(8)").unwrap();
        let v = b
            .column(0)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(0);
        assert_eq!(v, [0x3F, 0x67, 0xA2, 0x3A]);
        assert!(
            one(r#""bin":"X'3F6'""#, "VARBINARY(8)")
                .unwrap_err()
                .contains("binary literal")
        );
        assert!(one(r#""bin":"3F67""#, "VARBINARY(8)").is_err());
        let b = one(r#""bin":true"#, "VARBINARY(8)").unwrap();
        assert_eq!(b.column(0).as_binary::<i32>().value(0), [1]);
    }

    #[test]
    fn ex41_array_into_varchar_is_its_source_text() {
        assert_eq!(text(r#""a":[1,2]"#, "VARCHAR(10)"), "[1,2]");
        assert_eq!(text(r#""a":{"k": "v"}"#, "VARCHAR(20)"), r#"{"k": "v"}"#);
    }

    #[test]
    fn ex41_object_into_integer_is_an_error() {
        let err = one(r#""a":{"k":1}"#, "INTEGER").unwrap_err();
        assert_eq!(
            err,
            "column C (INTEGER): a JSON object cannot be converted to this type"
        );
        assert!(
            one(r#""a":[1]"#, "BOOLEAN")
                .unwrap_err()
                .contains("a JSON array cannot")
        );
    }

    #[test]
    fn ex41_180_into_tinyint_is_an_error() {
        let err = one(r#""heartRate":180"#, "TINYINT").unwrap_err();
        assert_eq!(err, "column C (TINYINT): 180 is out of range");
        let b = one(r#""heartRate":-128"#, "TINYINT").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int8Array>()
                .unwrap()
                .value(0),
            -128
        );
    }

    // ----- other conversions

    #[test]
    fn decimals_are_exact_and_rounded_half_up() {
        let dec = |v: &str| -> Result<i128, String> {
            Ok(one(&format!(r#""x":{v}"#), "DECIMAL(8,2)")?
                .column(0)
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0))
        };
        assert_eq!(dec("2.50"), Ok(250));
        assert_eq!(dec("0.1"), Ok(10));
        assert_eq!(dec("1.005"), Ok(101));
        assert_eq!(dec("-1.005"), Ok(-101));
        assert_eq!(dec("1.0049999"), Ok(100));
        assert_eq!(dec("123456.78"), Ok(12345678));
        assert_eq!(dec("\"  42 \""), Ok(4200));
        assert_eq!(dec("1e-9"), Ok(0));
        let err = dec("1234567.8").unwrap_err();
        assert_eq!(err, "column C (DECIMAL(8,2)): 1234567.8 does not fit");
        assert!(dec("1e40").is_err());
    }

    #[test]
    fn timestamps_in_several_forms() {
        let base = 8079 * MS_PER_DAY + (18 * 3600 + 35 * 60 + 44) * 1000;
        assert_eq!(ts("1992-02-14 18:35:44"), base);
        assert_eq!(ts("1992-02-14T18:35:44.123456"), base + 123);
        assert_eq!(ts("1992-02-14T18:35:44.5Z"), base + 500);
        assert_eq!(ts("1992-02-14T19:35:44+01:00"), base);
        assert_eq!(ts("1992-02-14"), 8079 * MS_PER_DAY);
        assert_eq!(ts("1969-12-31 23:59:59.999"), -1);
        assert_eq!(ts("2000-02-29 00:00:00"), 951_782_400_000);
        for bad in [
            "1992-02-14 24:00:00",
            "1992-13-01",
            "1992-2-14",
            "1992-02-14 18:35:44.",
            "x",
            "1992-02-14 18:35:44Q",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        let b = one(r#""t":"18:35:44.25""#, "TIME").unwrap();
        let ms = b
            .column(0)
            .as_any()
            .downcast_ref::<Time32MillisecondArray>()
            .unwrap()
            .value(0);
        assert_eq!(ms, (18 * 3600 + 35 * 60 + 44) * 1000 + 250);
        assert!(
            one(r#""t":"18:35:44 pm""#, "TIME")
                .unwrap_err()
                .contains("is not a time")
        );
        assert!(
            one(r#""t":1234"#, "TIMESTAMP")
                .unwrap_err()
                .contains("1234 cannot be converted")
        );
    }

    #[test]
    fn nested_paths_missing_keys_and_non_objects() {
        let schema = json_schema(&[
            ("A", "INTEGER", "$.a"),
            ("ABC", "VARCHAR(8)", "$.a2.b.c"),
            ("AB", "VARCHAR(32)", "$.a2.b"),
            ("MISSING", "INTEGER", "$.nope"),
            ("Case", "INTEGER", "$.A"),
            ("ARR", "VARCHAR(32)", "$.arr[0:]"),
            ("Q", "VARCHAR(8)", "$[\"we.ird\"]"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"a":1,"x":{"deep":[1,{"y":2}]},"a2":{"b":{"c":"hi","d":3}},"arr":[1, "two"],"we.ird":"ok"}"#)
            .unwrap();
        d.push(br#"{"a":2,"a2":{"b":5}}"#).unwrap(); // path through a non-object ⇒ NULL
        d.push(br#"{"a2":[{"b":1}], "A": 7}"#).unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 3);
        assert_eq!(b.schema(), schema.arrow_schema());
        let a = b.column(0).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!((a.value(0), a.value(1), a.is_null(2)), (1, 2, true));
        let abc = b.column(1).as_string::<i32>();
        assert_eq!(
            (abc.value(0), abc.is_null(1), abc.is_null(2)),
            ("hi", true, true)
        );
        let ab = b.column(2).as_string::<i32>();
        assert_eq!(
            (ab.value(0), ab.value(1), ab.is_null(2)),
            (r#"{"c":"hi","d":3}"#, "5", true)
        );
        assert_eq!(b.column(3).null_count(), 3);
        let case = b.column(4).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!((case.is_null(0), case.value(2)), (true, 7));
        assert_eq!(b.column(5).as_string::<i32>().value(0), r#"[1, "two"]"#);
        assert_eq!(b.column(6).as_string::<i32>().value(0), "ok");
        assert!(d.is_empty());
    }

    #[test]
    fn escapes_are_decoded() {
        let schema = json_schema(&[
            ("S", "VARCHAR(32)", "$.s"),
            ("K", "VARCHAR(32)", "$.k\u{e9}"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"s":"a\"b\\c\/d\u00e9\n\ud83d\ude00","k\u00e9":"x"}"#)
            .unwrap();
        d.push(r#"{"s":"plain é","ké":"y"}"#.as_bytes()).unwrap();
        let b = d.flush();
        let s = b.column(0).as_string::<i32>();
        assert_eq!(s.value(0), "a\"b\\c/dé\n😀");
        assert_eq!(s.value(1), "plain é");
        assert_eq!(b.column(1).as_string::<i32>().value(0), "x");
        assert_eq!(b.column(1).as_string::<i32>().value(1), "y");
    }

    #[test]
    fn bad_escapes_and_encodings() {
        let mut d = RecordDecoder::new(&json_schema(&[("S", "VARCHAR(8)", "$.s")])).unwrap();
        let err = d.push(br#"{"s":"a\x"}"#).unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        let err = d.push(b"{\"s\":\"\xff\"}").unwrap_err();
        assert!(err.starts_with("not valid JSON: not UTF-8"), "{err}");
        // A lone surrogate escape becomes U+FFFD rather than failing the record.
        d.push(br#"{"s":"a\ud800b"}"#).unwrap();
        assert_eq!(
            d.flush().column(0).as_string::<i32>().value(0),
            "a\u{fffd}b"
        );
        let mut c = RecordDecoder::new(&csv_schema(&[("S", "VARCHAR(8)")], ",")).unwrap();
        assert!(c.push(b"\xff").unwrap_err().starts_with("not valid UTF-8"));
    }

    #[test]
    fn a_bad_record_leaves_the_batch_aligned() {
        let schema = json_schema(&[
            ("ID", "VARCHAR(8)", "$.id"),
            ("AMOUNT", "DECIMAL(8,2)", "$.amount"),
            ("N", "INTEGER", "$.n"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"id":"first","amount":1.5,"n":1}"#).unwrap();
        // The first two columns convert before the third fails: nothing may be left behind.
        let err = d.push(br#"{"id":"bad","amount":2,"n":"x"}"#).unwrap_err();
        assert_eq!(err, r#"column N (INTEGER): "x" is not a number"#);
        let err = d.push(br#"{"id":"bad","amount":"abc"}"#).unwrap_err();
        assert_eq!(
            err,
            r#"column AMOUNT (DECIMAL(8,2)): "abc" is not a number"#
        );
        assert_eq!(d.len(), 1);
        d.push(br#"{"n":3,"amount":"7.25","id":"second"}"#).unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 2);
        let id = b.column(0).as_string::<i32>();
        assert_eq!((id.value(0), id.value(1)), ("first", "second"));
        let amount = b
            .column(1)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!((amount.value(0), amount.value(1)), (150, 725));
        assert_eq!(
            b.column(1).data_type(),
            &arrow::datatypes::DataType::Decimal128(8, 2)
        );
        let n = b.column(2).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!((n.value(0), n.value(1)), (1, 3));
        // The decoder is reusable after a flush.
        d.push(br#"{"id":"third"}"#).unwrap();
        assert_eq!(d.flush().num_rows(), 1);
        assert_eq!(d.flush().num_rows(), 0);
    }

    #[test]
    fn records_that_are_not_json_objects_are_errors() {
        let mut d = RecordDecoder::new(&json_schema(&[("A", "INTEGER", "$.a")])).unwrap();
        assert_eq!(
            d.push(b"[1,2]").unwrap_err(),
            "not a JSON object: the record is an array"
        );
        assert_eq!(
            d.push(b"42").unwrap_err(),
            "not a JSON object: the record is a number"
        );
        assert_eq!(
            d.push(b"\"s\"").unwrap_err(),
            "not a JSON object: the record is a string"
        );
        let err = d.push(br#"{"a":1"#).unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        let err = d.push(br#"{"a":1} x"#).unwrap_err();
        assert!(
            err.starts_with("not valid JSON: trailing characters"),
            "{err}"
        );
        let err = d.push(b"").unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        d.push(b"{\"a\":1}\r\n").unwrap();
        assert_eq!(d.len(), 1);
    }

    /// The record of DEV about-json-path.html: `$.orders[0:].orderId` gives a row per order,
    /// `$.customerName` repeats on each, `$.address.streetAddress[0:]` is the whole array as text.
    #[test]
    fn a_flattened_array_gives_a_row_per_element() {
        let schema = json_schema(&[
            ("CUSTOMER", "VARCHAR(16)", "$.customerName"),
            ("ORDER_ID", "INTEGER", "$.orders[0:].orderId"),
            ("ITEM", "VARCHAR(16)", "$.orders[0:].itemName"),
            ("PRICE", "DECIMAL(8,2)", "$.orders[0:].itemPrice"),
            ("STREET", "VARCHAR(64)", "$.address.streetAddress[0:]"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        let record = r#"{"customerName":"John Doe","address":{"streetAddress":[{"number":"123"},{"street":"AnyStreet"}],"city":"Anytown"},"orders":[{"orderId":"23284","itemName":"Widget","itemPrice":"33.99"},{"orderId":"63122","itemName":"Gadget","itemPrice":"22.50"},{"orderId":"77284","itemName":"Sprocket","itemPrice":"12.00"}]}"#;
        d.push(record.as_bytes()).unwrap();
        assert_eq!(d.last_record_rows(), 3);
        // An empty array and a missing one: one row of NULLs each.
        d.push(br#"{"customerName":"Jane","orders":[]}"#).unwrap();
        assert_eq!(d.last_record_rows(), 1);
        d.push(br#"{"customerName":"Jim"}"#).unwrap();
        // A bad element rejects the whole record: nothing of it stays.
        let err = d
            .push(br#"{"customerName":"X","orders":[{"orderId":"1"},{"orderId":"two"}]}"#)
            .unwrap_err();
        assert_eq!(err, r#"column ORDER_ID (INTEGER): "two" is not a number"#);
        // An element without a key: NULL in that row.
        d.push(br#"{"customerName":"Kim","orders":[{"orderId":5},{"itemName":"Gizmo"}]}"#)
            .unwrap();
        let b = d.flush();
        let text = |c: usize, r: usize| {
            let a = b.column(c);
            if a.is_null(r) {
                "NULL".to_string()
            } else {
                arrow::util::display::array_value_to_string(a, r).unwrap()
            }
        };
        let rows: Vec<String> = (0..b.num_rows())
            .map(|r| (0..5).map(|c| text(c, r)).collect::<Vec<_>>().join("|"))
            .collect();
        let street = r#"[{"number":"123"},{"street":"AnyStreet"}]"#;
        assert_eq!(
            rows,
            [
                format!("John Doe|23284|Widget|33.99|{street}"),
                format!("John Doe|63122|Gadget|22.50|{street}"),
                format!("John Doe|77284|Sprocket|12.00|{street}"),
                "NULL|NULL|NULL|NULL|NULL".to_string(),
                "NULL|NULL|NULL|NULL|NULL".to_string(),
                "Kim|5|NULL|NULL|NULL".to_string(),
                "Kim|NULL|Gizmo|NULL|NULL".to_string(),
            ]
        );
    }

    #[test]
    fn mappings_are_checked() {
        let err = |m: &str| {
            RecordDecoder::new(&json_schema(&[("COL", "VARCHAR(8)", m)]))
                .err()
                .unwrap()
        };
        let e = err("$.a[0:].b[0:].c");
        assert!(
            e.starts_with("column COL: Mapping") && e.contains("only one level of [0:]"),
            "{e}"
        );
        let two = RecordDecoder::new(&json_schema(&[
            ("A", "VARCHAR(8)", "$.a[0:].x"),
            ("B", "VARCHAR(8)", "$.b[0:].y"),
        ]))
        .err()
        .unwrap();
        assert!(
            two.contains("columns A and B flatten different arrays"),
            "{two}"
        );
        assert!(err("$.a[0]").contains("not supported yet"));
        assert!(err("$.a[*]").contains("not supported yet"));
        assert!(err("a.b").contains("does not start with `$`"));
        assert!(err("$").contains("not supported yet"));
        assert!(err("$..a").contains("not supported yet"));
        let mut s = json_schema(&[("COL", "INTEGER", "$.a")]);
        s.columns[0].mapping = None;
        assert!(
            RecordDecoder::new(&s)
                .err()
                .unwrap()
                .contains("column COL: no Mapping")
        );
        let e = RecordDecoder::new(&csv_schema(&[("A", "INTEGER")], "||"))
            .err()
            .unwrap();
        assert!(e.contains("single-byte"), "{e}");
    }

    // ----- CSV

    #[test]
    fn csv_prefix_extra_empty_and_quoted_fields() {
        let schema = csv_schema(
            &[
                ("ID", "VARCHAR(8)"),
                ("N", "INTEGER"),
                ("NAME", "VARCHAR(16)"),
                ("OK", "BOOLEAN"),
            ],
            ",",
        );
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(b"a,1,Alice,true").unwrap();
        d.push(b"b,2").unwrap(); // fewer fields: trailing columns NULL
        d.push(b"c,3,Carol,false,extra,fields\r").unwrap(); // extra fields ignored
        d.push(b",,,").unwrap(); // empty: NULL for non-strings, "" for strings
        d.push(b"\"e,1\",\"4\",\"say \"\"hi\"\"\",TRUE").unwrap();
        d.push(b"f").unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 6);
        let id = b.column(0).as_string::<i32>();
        let n = b.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        let name = b.column(2).as_string::<i32>();
        let ok = b.column(3).as_boolean();
        assert_eq!(
            (id.value(0), n.value(0), name.value(0), ok.value(0)),
            ("a", 1, "Alice", true)
        );
        assert_eq!(
            (id.value(1), n.value(1), name.is_null(1), ok.is_null(1)),
            ("b", 2, true, true)
        );
        assert_eq!(
            (id.value(2), n.value(2), name.value(2), ok.value(2)),
            ("c", 3, "Carol", false)
        );
        assert_eq!(
            (id.value(3), n.is_null(3), name.value(3), ok.is_null(3)),
            ("", true, "", true)
        );
        assert_eq!(
            (id.value(4), n.value(4), name.value(4), ok.value(4)),
            ("e,1", 4, "say \"hi\"", true)
        );
        assert_eq!(
            (id.value(5), n.is_null(5), name.is_null(5)),
            ("f", true, true)
        );
    }

    #[test]
    fn csv_errors_name_the_column_and_keep_alignment() {
        let schema = csv_schema(
            &[
                ("SYM", "VARCHAR(4)"),
                ("PRICE", "DECIMAL(6,2)"),
                ("T", "TIMESTAMP"),
            ],
            "|",
        );
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(b"AMZN|815.43|2026-03-02 08:15:04.120").unwrap();
        assert_eq!(
            d.push(b"AMZN|abc|").unwrap_err(),
            r#"column PRICE (DECIMAL(6,2)): "abc" is not a number"#
        );
        assert!(
            d.push(b"AMZN|1|noon")
                .unwrap_err()
                .starts_with("column T (TIMESTAMP): \"noon\" is not a timestamp")
        );
        assert!(
            d.push(b"\"AMZN|1")
                .unwrap_err()
                .contains("column SYM: unterminated quoted")
        );
        d.push(b"GOOGLE|1.005|2026-03-02T08:15:04Z").unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_string::<i32>().value(1), "GOOG");
        assert_eq!(
            b.column(1)
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(1),
            101
        );
        let t = b
            .column(2)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(t.value(0) - t.value(1), 120);
    }

    #[test]
    fn ex44_varchar_in_an_integer_column_is_an_error() {
        let schema = json_schema(&[
            ("TICKER_SYMBOL", "INTEGER", "$.TICKER_SYMBOL"),
            ("SECTOR", "VARCHAR(16)", "$.SECTOR"),
            ("CHANGE", "REAL", "$.CHANGE"),
            ("PRICE", "REAL", "$.PRICE"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        let err = d.push(
            br#"{"TICKER_SYMBOL":"AMZN","SECTOR":"TECHNOLOGY","CHANGE":-0.95,"PRICE":815.43}"#,
        );
        assert_eq!(
            err.unwrap_err(),
            r#"column TICKER_SYMBOL (INTEGER): "AMZN" is not a number"#
        );
        assert!(d.is_empty());
    }
}
