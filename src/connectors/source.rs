//! Streaming sources: records (JSON lines or CSV lines) decoded into the source stream's batches,
//! with ROWTIME assigned: the wall clock in live mode, `max(previous ROWTIME, COLUMN)` in replay
//! mode (`--rowtime-from COLUMN`). A record that cannot be decoded, or has no ROWTIME in replay
//! mode, goes to error_stream with its original bytes.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampMillisecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::ChunkDecoder;
use super::decode::RecordDecoder;
use crate::catalog::timestamp_ms;
use crate::connectors::schema::RecordSchema;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, PARSE_ERROR, ROWTIME_ERROR};

/// How ROWTIME is assigned.
#[derive(Debug, Clone, PartialEq)]
pub enum RowtimeMode {
    /// The wall clock when the row enters the source stream (KDA's behaviour).
    Live,
    /// Taken from a column (index into the schema's columns).
    Replay { column: usize },
}

/// Decodes chunks of records for one source stream.
pub struct SourceDecoder {
    decoder: RecordDecoder,
    schema: RecordSchema,
    /// The source stream's batch schema (columns, ROWTIME, trailing ROWTIME).
    stream_schema: SchemaRef,
    mode: RowtimeMode,
    last_rowtime: i64,
    first_line: bool,
    /// The first line is a header whatever it holds (its names made a discovered schema).
    header_given: bool,
    accepted: Vec<(usize, usize)>,
}

impl SourceDecoder {
    pub fn new(
        schema: &RecordSchema,
        stream_schema: SchemaRef,
        rowtime_from: Option<&str>,
    ) -> Result<SourceDecoder> {
        let mode = match rowtime_from {
            None => RowtimeMode::Live,
            Some(name) => {
                let column = schema
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .or_else(|| schema.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
                    .ok_or_else(|| {
                        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                        Error::Usage(format!(
                            "--rowtime-from {name}: the input has no column `{name}`; its columns are {}",
                            names.join(", ")
                        ))
                    })?;
                let ty = schema.columns[column].sql_type;
                if !matches!(
                    ty.arrow_type(),
                    DataType::Timestamp(_, _) | DataType::Date32 | DataType::Int64
                ) {
                    return Err(Error::Usage(format!(
                        "--rowtime-from {name}: the column is {ty}; replay needs a TIMESTAMP (or BIGINT milliseconds) column"
                    )));
                }
                RowtimeMode::Replay { column }
            }
        };
        let decoder = RecordDecoder::new(schema)
            .map_err(|e| Error::Application(format!("input schema: {e}")))?;
        Ok(SourceDecoder {
            decoder,
            schema: schema.clone(),
            stream_schema,
            mode,
            last_rowtime: i64::MIN,
            first_line: true,
            header_given: false,
            accepted: Vec::new(),
        })
    }

    /// The input's first line is a header: its column names made the (discovered) schema.
    pub fn with_header_line(mut self) -> SourceDecoder {
        self.header_given = true;
        self
    }

    fn rowtime_for(&self, now: i64) -> i64 {
        match self.mode {
            RowtimeMode::Live => now,
            RowtimeMode::Replay { .. } => self.last_rowtime,
        }
    }
}

impl ChunkDecoder for SourceDecoder {
    fn decode(
        &mut self,
        chunk: &[u8],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
        let mut errors = Vec::new();
        // For each parse error: how many records were accepted before it (to date it in replay).
        let mut accepted_before: Vec<usize> = Vec::new();
        let mut seen = 0u64;
        let rowtime_before = self.last_rowtime;
        self.accepted.clear();
        let mut start = 0;
        while start < chunk.len() {
            let end = memchr::memchr(b'\n', &chunk[start..])
                .map(|p| start + p)
                .unwrap_or(chunk.len());
            let mut line = &chunk[start..end];
            let line_start = start;
            start = end + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if std::mem::replace(&mut self.first_line, false)
                && (self.header_given || self.schema.is_header_line(line))
            {
                continue;
            }
            seen += 1;
            match self.decoder.push(line) {
                Ok(()) => {
                    // A record with a flattened array adds a row per element.
                    for _ in 0..self.decoder.last_record_rows() {
                        self.accepted.push((line_start, line_start + line.len()));
                    }
                }
                Err(message) => {
                    accepted_before.push(self.accepted.len());
                    errors.push(ErrorRow {
                        name: PARSE_ERROR,
                        message,
                        data_rowtime: Some(self.rowtime_for(now)).filter(|t| *t != i64::MIN),
                        data_row: line.to_vec(),
                        pump: None,
                    });
                }
            }
        }
        if self.decoder.is_empty() {
            return Ok((None, errors, seen));
        }
        let batch = self.decoder.flush();
        let n = batch.num_rows();
        let (batch, rowtimes) = match self.mode {
            RowtimeMode::Live => {
                self.last_rowtime = self.last_rowtime.max(now);
                (
                    batch,
                    TimestampMillisecondArray::from(vec![self.last_rowtime; n]),
                )
            }
            RowtimeMode::Replay { column } => {
                let values = timestamp_ms(batch.column(column))?;
                let mut keep = Vec::with_capacity(n);
                let mut rowtimes = Vec::with_capacity(n);
                // The ROWTIME reached after each accepted record, to date the parse errors.
                let mut reached = Vec::with_capacity(n);
                for i in 0..n {
                    if values.is_null(i) {
                        keep.push(false);
                        let (s, e) = self.accepted[i];
                        errors.push(ErrorRow {
                            name: ROWTIME_ERROR,
                            message: format!(
                                "column {} is NULL: replay mode (--rowtime-from) takes ROWTIME from it",
                                self.schema.columns[column].name
                            ),
                            data_rowtime: Some(self.last_rowtime).filter(|t| *t != i64::MIN),
                            data_row: chunk[s..e].to_vec(),
                            pump: None,
                        });
                    } else {
                        keep.push(true);
                        self.last_rowtime = self.last_rowtime.max(values.value(i));
                        rowtimes.push(self.last_rowtime);
                    }
                    reached.push(self.last_rowtime);
                }
                // A record that failed to parse is dated by the ROWTIME reached just before it.
                for (e, k) in errors.iter_mut().zip(&accepted_before) {
                    let t = if *k == 0 {
                        rowtime_before
                    } else {
                        reached[k - 1]
                    };
                    e.data_rowtime = Some(t).filter(|t| *t != i64::MIN);
                }
                let batch = if rowtimes.len() == n {
                    batch
                } else {
                    filter_record_batch(&batch, &BooleanArray::from(keep))?
                };
                (batch, TimestampMillisecondArray::from(rowtimes))
            }
        };
        if batch.num_rows() == 0 {
            return Ok((None, errors, seen));
        }
        let rowtimes: ArrayRef = Arc::new(rowtimes);
        let mut columns = batch.columns().to_vec();
        // APPROXIMATE_ARRIVAL_TIME: a file or stdin has no earlier arrival time than ingestion.
        columns.push(Arc::clone(&rowtimes));
        columns.push(Arc::clone(&rowtimes));
        columns.push(rowtimes);
        let batch = RecordBatch::try_new(Arc::clone(&self.stream_schema), columns)?;
        Ok((Some(batch), errors, seen))
    }

    fn is_replay(&self) -> bool {
        matches!(self.mode, RowtimeMode::Replay { .. })
    }

    fn last_rowtime(&self) -> i64 {
        self.last_rowtime
    }
}
