//! Input record decoders: KDA records (JSON documents or CSV lines) decoded straight into Arrow
//! columns, following KDA's input-schema rules (`docs/semantics.md`, "Input").
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

//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`RecordDecoder`]: `new` checks the schema, `push` one record, `flush` a batch |
//! | `columns.rs` | column buffers that can be cut back to a row count; the record being decoded |
//! | `json.rs` | JSONPath mappings, the path trie, the flat-object fast path, serde seeds, flattened arrays |
//! | `csv.rs` | CSV lines: quoting, positional columns |
//! | `coerce.rs` | KDA's coercion rules: a found value into the column's type |

mod coerce;
mod columns;
mod csv;
mod json;
#[cfg(test)]
mod test_util;

use std::fmt;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::connectors::schema::{RecordFormat, RecordSchema};
use crate::types::SqlType;
use columns::{Column, Stage, kind_of};
use csv::decode_csv;
use json::{FlatPath, JsonPath, Node, decode_json, parse_path};

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
    /// JSON with one array flattened: a row per element of the array at `array`. With
    /// `records` (a `RecordRowPath`), `array` is where the records are: an object there is one
    /// record, an empty array none, and a document without it is an error.
    JsonFlatten {
        array: Vec<String>,
        columns: Vec<FlatPath>,
        records: bool,
    },
    Csv {
        delimiter: Box<[u8]>,
    },
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
            RecordFormat::Json if schema.row_path.is_some() => {
                let parent = schema.row_path_keys();
                let row_path = schema.row_path.as_deref().unwrap_or_default();
                let columns = schema
                    .columns
                    .iter()
                    .map(|c| {
                        let path = parse_path(c)?;
                        // `$.x` is read within each record; `$.records[0:].x` (the record's
                        // place written out) too.
                        let keys = match path.flatten_at {
                            None => path.keys,
                            Some(at) if path.keys[..at] == parent[..] => path.keys[at..].to_vec(),
                            Some(_) => {
                                return Err(format!(
                                    "column {}: Mapping {:?} flattens an array inside the records of RecordRowPath {row_path}, which is not supported; map the record's own fields ($.field)",
                                    c.name,
                                    c.mapping.as_deref().unwrap_or_default()
                                ));
                            }
                        };
                        Ok(FlatPath::Element(keys))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Format::JsonFlatten {
                    array: parent,
                    columns,
                    records: true,
                }
            }
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
                    Format::JsonFlatten {
                        array,
                        columns,
                        records: false,
                    }
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
                column_delimiter,
                row_delimiter,
            } => {
                let d = column_delimiter.as_bytes();
                let whole = RecordFormat::whole_lines(column_delimiter, row_delimiter);
                if !whole && (d.is_empty() || d.iter().any(|b| matches!(b, b'"' | b'\r' | b'\n'))) {
                    return Err(format!(
                        "CSV column delimiter {column_delimiter:?} is not supported; use one or more \
                         characters other than a quote or a line break (or \"\\n\" for both the \
                         row and the column delimiter: each record is then one field)"
                    ));
                }
                Format::Csv {
                    delimiter: d.into(),
                }
            }
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
            Format::Csv { delimiter } => decode_csv(delimiter, &mut stage, record),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::decode::test_util::*;
    use arrow::array::{Array, AsArray};

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
}
