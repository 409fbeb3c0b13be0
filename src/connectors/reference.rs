//! Reference tables: a file (CSV or JSON lines, as the KDA `ReferenceSchema` says) loaded once,
//! before the first row is processed. Rows that do not fit the schema are reported and skipped;
//! a first CSV line equal to the column names is a header and skipped.

use std::path::Path;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;

use super::decode::RecordDecoder;
use crate::connectors::schema::RecordSchema;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, REFERENCE_DATA_ERROR};

/// A loaded reference table and the rows that were skipped.
pub struct LoadedTable {
    pub batch: RecordBatch,
    pub errors: Vec<ErrorRow>,
}

/// Loads table `name` from `path`.
pub fn load_reference(name: &str, schema: &RecordSchema, path: &Path) -> Result<LoadedTable> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format!("reference table {name}: {}", path.display()), e))?;
    let mut decoder = RecordDecoder::new(schema)
        .map_err(|e| Error::Application(format!("reference table {name}: {e}")))?;
    let mut errors = Vec::new();
    let mut batches = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if i == 0 && schema.is_header_line(line) {
            continue;
        }
        if let Err(message) = decoder.push(line) {
            errors.push(ErrorRow {
                name: REFERENCE_DATA_ERROR,
                message: format!(
                    "reference table {name}, {}:{}: {message}",
                    path.display(),
                    i + 1
                ),
                data_rowtime: None,
                data_row: line.to_vec(),
                pump: None,
            });
        }
        if decoder.len() >= 8192 {
            batches.push(decoder.flush());
        }
    }
    batches.push(decoder.flush());
    let batch = concat_batches(&schema.arrow_schema(), &batches)?;
    Ok(LoadedTable { batch, errors })
}
