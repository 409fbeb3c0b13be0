//! A stream's rows as destination records, one record per row, as KDA wrote them to Kinesis,
//! Firehose and Lambda (`DestinationSchema.RecordFormatType`):
//!
//! - `JSON`: one object, keys = the stream's column names, values formatted as everywhere else
//!   (`format.rs`), **without a delimiter** after it: KDA's exact bytes. (Firehose therefore
//!   writes `{…}{…}` into S3, as it did behind KDA.)
//! - `CSV`: the row's fields, comma-separated and quoted where needed, ending in `\n`.
//!
//! Local files and Firehose-style objects written by rowtime itself use JSON lines instead
//! (`sink.rs`): a `\n` after every object.

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::ArrayFormatter;

use super::sink::Columns;
use crate::error::{Error, Result};
use crate::format::{JsonRowFormatter, format_options};

/// `DestinationSchema.RecordFormatType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Csv,
}

/// Encodes the chosen columns of a stream's batches, a record per row.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    columns: Columns,
    format: RecordFormat,
}

impl RecordEncoder {
    pub fn new(columns: Columns, format: RecordFormat) -> RecordEncoder {
        RecordEncoder { columns, format }
    }

    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// Appends one record per row of `batch` to `out`.
    pub fn encode(&self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let options = format_options();
        match self.format {
            RecordFormat::Json => {
                let f = JsonRowFormatter::new(
                    batch,
                    &self.columns.indices,
                    &self.columns.names,
                    &options,
                )?;
                let mut text = String::new();
                for row in 0..batch.num_rows() {
                    text.clear();
                    f.write_row(row, &mut text);
                    out.push(text.as_bytes().to_vec());
                }
            }
            RecordFormat::Csv => {
                let formatters = self
                    .columns
                    .indices
                    .iter()
                    .map(|i| {
                        let a = batch.column(*i);
                        Ok((ArrayFormatter::try_new(a.as_ref(), &options)?, a.as_ref()))
                    })
                    .collect::<Result<Vec<(ArrayFormatter, &dyn Array)>>>()?;
                let mut writer = csv::Writer::from_writer(Vec::new());
                let mut fields: Vec<String> = Vec::with_capacity(formatters.len());
                // Where each record ends in the writer's buffer.
                let mut ends = Vec::with_capacity(batch.num_rows());
                for row in 0..batch.num_rows() {
                    fields.clear();
                    for (f, a) in &formatters {
                        fields.push(if a.is_null(row) {
                            String::new()
                        } else {
                            f.value(row).to_string()
                        });
                    }
                    writer
                        .write_record(&fields)
                        .and_then(|()| writer.flush().map_err(csv::Error::from))
                        .map_err(|e| Error::Application(format!("encoding a CSV record: {e}")))?;
                    ends.push(writer.get_ref().len());
                }
                let bytes = writer
                    .into_inner()
                    .map_err(|e| Error::Application(format!("encoding a CSV record: {e}")))?;
                let mut start = 0;
                for end in ends {
                    out.push(bytes[start..end].to_vec());
                    start = end;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "ACCOUNT_ID",
                Arc::new(StringArray::from(vec![Some("A1"), Some("a, \"b\""), None])) as ArrayRef,
            ),
            (
                "TRIPS",
                Arc::new(Int64Array::from(vec![2, 1, 3])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn columns() -> Columns {
        Columns {
            indices: vec![0, 1],
            names: vec!["ACCOUNT_ID".into(), "TRIPS".into()],
        }
    }

    #[test]
    fn json_records_are_objects_without_a_delimiter() {
        let mut out = Vec::new();
        RecordEncoder::new(columns(), RecordFormat::Json)
            .encode(&batch(), &mut out)
            .unwrap();
        let texts: Vec<String> = out
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                r#"{"ACCOUNT_ID":"A1","TRIPS":2}"#,
                r#"{"ACCOUNT_ID":"a, \"b\"","TRIPS":1}"#,
                r#"{"ACCOUNT_ID":null,"TRIPS":3}"#
            ]
        );
    }

    #[test]
    fn csv_records_are_quoted_lines() {
        let mut out = Vec::new();
        RecordEncoder::new(columns(), RecordFormat::Csv)
            .encode(&batch(), &mut out)
            .unwrap();
        let texts: Vec<String> = out
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        assert_eq!(texts, ["A1,2\n", "\"a, \"\"b\"\"\",1\n", ",3\n"]);
    }
}
