//! Streaming sources: records decoded into the source stream's batches, with ROWTIME assigned:
//! the wall clock in live mode, `max(previous ROWTIME, COLUMN)` in replay mode
//! (`--rowtime-from COLUMN`; `APPROXIMATE_ARRIVAL_TIME` may be the column). A record that cannot
//! be decoded, or has no ROWTIME in replay mode, goes to error_stream with its original bytes.
//!
//! Records come as whole lines of a file or stdin ([`ChunkDecoder::decode`]), or as Kinesis
//! records with their arrival times ([`ChunkDecoder::decode_records`]). A Kinesis record's
//! payload may hold several records, as an input-preprocessing Lambda may return: JSON
//! documents one after another, or CSV lines. `APPROXIMATE_ARRIVAL_TIME` is the record's arrival
//! at its Kinesis stream; a file or stdin has no earlier arrival than ingestion, so there it is
//! the ROWTIME.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampMillisecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::decode::RecordDecoder;
use super::{ChunkDecoder, SourceRecord};
use crate::catalog::{APPROXIMATE_ARRIVAL_TIME, timestamp_ms};
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
    /// Taken from the record's arrival time (`--rowtime-from APPROXIMATE_ARRIVAL_TIME`).
    Arrival,
}

/// Decodes records for one source stream.
pub struct SourceDecoder {
    decoder: RecordDecoder,
    schema: RecordSchema,
    /// The source stream's batch schema (columns, APPROXIMATE_ARRIVAL_TIME, ROWTIME, trailing ROWTIME).
    stream_schema: SchemaRef,
    mode: RowtimeMode,
    last_rowtime: i64,
    first_line: bool,
    /// The first line is a header whatever it holds (its names made a discovered schema).
    header_given: bool,
}

/// One record to decode: its bytes and, from Kinesis, its arrival time.
struct Unit<'a> {
    bytes: &'a [u8],
    arrival: Option<i64>,
}

impl SourceDecoder {
    pub fn new(
        schema: &RecordSchema,
        stream_schema: SchemaRef,
        rowtime_from: Option<&str>,
    ) -> Result<SourceDecoder> {
        let mode = match rowtime_from {
            None => RowtimeMode::Live,
            Some(name)
                if name.eq_ignore_ascii_case(APPROXIMATE_ARRIVAL_TIME)
                    && !schema.columns.iter().any(|c| c.name == name) =>
            {
                RowtimeMode::Arrival
            }
            Some(name) => {
                let column = schema
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .or_else(|| schema.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
                    .ok_or_else(|| {
                        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                        Error::Usage(format!(
                            "--rowtime-from {name}: the input has no column `{name}`; its columns are {} (or APPROXIMATE_ARRIVAL_TIME)",
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
        })
    }

    /// The input's first line is a header: its column names made the (discovered) schema.
    pub fn with_header_line(mut self) -> SourceDecoder {
        self.header_given = true;
        self
    }

    /// The ROWTIME a record that fails now is dated with (none before the first row in replay).
    fn rowtime_for(&self, now: i64) -> Option<i64> {
        match self.mode {
            RowtimeMode::Live => Some(now),
            _ => Some(self.last_rowtime).filter(|t| *t != i64::MIN),
        }
    }

    /// Decodes `units` into the stream's batch, the error rows and the number of records seen.
    fn decode_units(
        &mut self,
        units: &[Unit<'_>],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
        let mut errors = Vec::new();
        // For each parse error: how many rows were accepted before it (to date it in replay).
        let mut accepted_before: Vec<usize> = Vec::new();
        // The unit of every accepted row (a flattened array gives several rows per record).
        let mut accepted: Vec<usize> = Vec::new();
        let rowtime_before = self.last_rowtime;
        for (u, unit) in units.iter().enumerate() {
            match self.decoder.push(unit.bytes) {
                Ok(()) => {
                    for _ in 0..self.decoder.last_record_rows() {
                        accepted.push(u);
                    }
                }
                Err(message) => {
                    accepted_before.push(accepted.len());
                    errors.push(ErrorRow {
                        name: PARSE_ERROR,
                        message,
                        data_rowtime: self.rowtime_for(now),
                        data_row: unit.bytes.to_vec(),
                        pump: None,
                    });
                }
            }
        }
        let seen = units.len() as u64;
        if self.decoder.is_empty() {
            return Ok((None, errors, seen));
        }
        let batch = self.decoder.flush();
        let n = batch.num_rows();
        // Records from a file have no arrival time: APPROXIMATE_ARRIVAL_TIME is then ROWTIME.
        let has_arrivals = units.iter().any(|u| u.arrival.is_some());
        let arrival = |i: usize| units[accepted[i]].arrival;
        let replay_column = match self.mode {
            RowtimeMode::Replay { column } => Some(timestamp_ms(batch.column(column))?),
            _ => None,
        };
        let (batch, rowtimes, arrivals) = match self.mode {
            RowtimeMode::Live => {
                self.last_rowtime = self.last_rowtime.max(now);
                let rowtimes = vec![self.last_rowtime; n];
                let arrivals = has_arrivals.then(|| {
                    (0..n)
                        .map(|i| arrival(i).unwrap_or(self.last_rowtime))
                        .collect::<Vec<i64>>()
                });
                (batch, rowtimes, arrivals)
            }
            RowtimeMode::Arrival | RowtimeMode::Replay { .. } => {
                let mut keep = Vec::with_capacity(n);
                let mut rowtimes = Vec::with_capacity(n);
                let mut kept_arrivals = Vec::with_capacity(if has_arrivals { n } else { 0 });
                // The ROWTIME reached after each accepted row, to date the parse errors.
                let mut reached = Vec::with_capacity(n);
                for i in 0..n {
                    let value = match &replay_column {
                        Some(values) => values.is_valid(i).then(|| values.value(i)),
                        None => arrival(i),
                    };
                    match value {
                        None => {
                            keep.push(false);
                            let column = match self.mode {
                                RowtimeMode::Replay { column } => {
                                    self.schema.columns[column].name.as_str()
                                }
                                _ => APPROXIMATE_ARRIVAL_TIME,
                            };
                            errors.push(ErrorRow {
                                name: ROWTIME_ERROR,
                                message: format!(
                                    "column {column} is NULL: replay mode (--rowtime-from) takes ROWTIME from it"
                                ),
                                data_rowtime: Some(self.last_rowtime).filter(|t| *t != i64::MIN),
                                data_row: units[accepted[i]].bytes.to_vec(),
                                pump: None,
                            });
                        }
                        Some(v) => {
                            keep.push(true);
                            self.last_rowtime = self.last_rowtime.max(v);
                            rowtimes.push(self.last_rowtime);
                            if has_arrivals {
                                kept_arrivals.push(arrival(i).unwrap_or(self.last_rowtime));
                            }
                        }
                    }
                    reached.push(self.last_rowtime);
                }
                // A record that failed to parse is dated by the ROWTIME reached just before it.
                let parse_errors = errors.iter_mut().filter(|e| e.name == PARSE_ERROR);
                for (e, k) in parse_errors.zip(&accepted_before) {
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
                (batch, rowtimes, has_arrivals.then_some(kept_arrivals))
            }
        };
        if batch.num_rows() == 0 {
            return Ok((None, errors, seen));
        }
        let rowtimes: ArrayRef = Arc::new(TimestampMillisecondArray::from(rowtimes));
        let mut columns = batch.columns().to_vec();
        columns.push(match arrivals {
            Some(a) => Arc::new(TimestampMillisecondArray::from(a)),
            None => Arc::clone(&rowtimes),
        });
        columns.push(Arc::clone(&rowtimes));
        columns.push(rowtimes);
        let batch = RecordBatch::try_new(Arc::clone(&self.stream_schema), columns)?;
        Ok((Some(batch), errors, seen))
    }
}

/// Whether a row delimiter is a line break (records are then lines).
pub fn is_newline(delimiter: &str) -> bool {
    matches!(delimiter, "\n" | "\r\n")
}

/// The records of CSV text ended by `delimiter` (KDA's `RecordRowDelimiter`): a newline (`\r\n`
/// too), or any other text such as `;` or `|`, around which line breaks are not part of a
/// record. Blank records are skipped.
pub fn split_delimited<'a>(text: &'a [u8], delimiter: &[u8], out: &mut Vec<&'a [u8]>) {
    let newline = matches!(delimiter, b"\n" | b"\r\n");
    let mut push = |record: &'a [u8]| {
        let record = if newline {
            record.strip_suffix(b"\r").unwrap_or(record)
        } else {
            trim_line_breaks(record)
        };
        if !record.iter().all(|b| b.is_ascii_whitespace()) {
            out.push(record);
        }
    };
    if newline {
        text.split(|b| *b == b'\n').for_each(push);
        return;
    }
    let mut rest = text;
    while let Some(at) = memchr::memmem::find(rest, delimiter) {
        push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    push(rest);
}

fn trim_line_breaks(record: &[u8]) -> &[u8] {
    let start = record
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(record.len());
    let end = record
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(start, |e| e + 1);
    &record[start..end.max(start)]
}

/// The records in a payload: JSON documents one after another (`{…}{…}`, or one per line), or
/// CSV records ended by `row_delimiter`. Blank records are not records. A payload that stops
/// being valid JSON part-way gives its rest as one (bad) record, so that it reaches
/// error_stream with its bytes.
pub fn split_payload<'a>(payload: &'a [u8], row_delimiter: Option<&[u8]>, out: &mut Vec<&'a [u8]>) {
    if let Some(delimiter) = row_delimiter {
        split_delimited(payload, delimiter, out);
        return;
    }
    let mut rest = payload;
    loop {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = start else { return };
        rest = &rest[start..];
        let mut docs =
            serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
        match docs.next() {
            Some(Ok(_)) => {
                let end = docs.byte_offset();
                out.push(&rest[..end]);
                rest = &rest[end..];
            }
            _ => {
                let end = rest
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |e| e + 1);
                out.push(&rest[..end]);
                return;
            }
        }
    }
}

impl ChunkDecoder for SourceDecoder {
    fn decode(
        &mut self,
        chunk: &[u8],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
        let mut units = Vec::new();
        if let Some(delimiter) = self.schema.row_delimiter().filter(|d| !is_newline(d)) {
            let mut records = Vec::new();
            split_delimited(chunk, delimiter.as_bytes(), &mut records);
            for record in records {
                if std::mem::replace(&mut self.first_line, false)
                    && (self.header_given || self.schema.is_header_line(record))
                {
                    continue;
                }
                units.push(Unit {
                    bytes: record,
                    arrival: None,
                });
            }
            return self.decode_units(&units, now);
        }
        let mut start = 0;
        while start < chunk.len() {
            let end = memchr::memchr(b'\n', &chunk[start..])
                .map(|p| start + p)
                .unwrap_or(chunk.len());
            let mut line = &chunk[start..end];
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
            units.push(Unit {
                bytes: line,
                arrival: None,
            });
        }
        self.decode_units(&units, now)
    }

    fn decode_records(
        &mut self,
        records: &[SourceRecord],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
        let delimiter = self.schema.row_delimiter().map(str::as_bytes);
        let mut units = Vec::with_capacity(records.len());
        let mut parts = Vec::new();
        for r in records {
            parts.clear();
            split_payload(&r.data, delimiter, &mut parts);
            units.extend(parts.iter().map(|bytes| Unit {
                bytes,
                arrival: Some(r.arrival_ms),
            }));
        }
        self.decode_units(&units, now)
    }

    fn is_replay(&self) -> bool {
        !matches!(self.mode, RowtimeMode::Live)
    }

    fn last_rowtime(&self) -> i64 {
        self.last_rowtime
    }

    fn resume(&mut self, last_rowtime: i64) {
        self.last_rowtime = last_rowtime;
        // The header line, if any, was read before the checkpoint.
        self.first_line = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{StreamDef, StreamKind, with_rowtime};

    fn decoder(rowtime_from: Option<&str>) -> SourceDecoder {
        let schema = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"JSON"},"RecordColumns":[
                {"Name":"K","Mapping":"$.k","SqlType":"VARCHAR(4)"},
                {"Name":"T","Mapping":"$.t","SqlType":"TIMESTAMP"}]}"#,
            "input schema",
        )
        .unwrap();
        let def = StreamDef {
            name: "S".into(),
            columns: schema.stream_columns(),
            kind: StreamKind::Source,
        };
        SourceDecoder::new(&schema, with_rowtime(&def.table_schema()), rowtime_from).unwrap()
    }

    fn column_ms(batch: &RecordBatch, name: &str) -> Vec<i64> {
        let i = batch.schema().index_of(name).unwrap();
        timestamp_ms(batch.column(i)).unwrap().values().to_vec()
    }

    #[test]
    fn payloads_split_into_json_documents_and_csv_lines() {
        let mut out = Vec::new();
        split_payload(b" {\"a\":1}{\"a\":2}\n{\"a\":\n3}\n\n", None, &mut out);
        assert_eq!(out, [&b"{\"a\":1}"[..], b"{\"a\":2}", b"{\"a\":\n3}"]);
        out.clear();
        split_payload(b"{\"a\":1} {\"a\": oops", None, &mut out);
        assert_eq!(out, [&b"{\"a\":1}"[..], b"{\"a\": oops"]);
        out.clear();
        split_payload(b"a,1\r\nb,2\n\n", Some(b"\n"), &mut out);
        assert_eq!(out, [&b"a,1"[..], b"b,2"]);
        // Another row delimiter: line breaks around records are not theirs, blanks are skipped.
        out.clear();
        split_payload(b"a|1;b|2;\n;c|3\n", Some(b";"), &mut out);
        assert_eq!(out, [&b"a|1"[..], b"b|2", b"c|3"]);
        out.clear();
        split_delimited(b"x,1<>y,2<><>", b"<>", &mut out);
        assert_eq!(out, [&b"x,1"[..], b"y,2"]);
    }

    #[test]
    fn kinesis_records_carry_their_arrival_time() {
        let mut d = decoder(Some("T"));
        let records = [
            SourceRecord {
                data: br#"{"k":"a","t":"2020-01-01 00:00:05"}{"k":"b","t":"2020-01-01 00:00:01"}"#
                    .to_vec(),
                arrival_ms: 1_000,
            },
            SourceRecord {
                data: b"not json".to_vec(),
                arrival_ms: 2_000,
            },
        ];
        let (batch, errors, seen) = d.decode_records(&records, 99).unwrap();
        let batch = batch.unwrap();
        assert_eq!(seen, 3);
        assert_eq!(column_ms(&batch, APPROXIMATE_ARRIVAL_TIME), [1_000, 1_000]);
        // Replay clamps: the second document's earlier time becomes the first's.
        let five = crate::time::parse_timestamp("2020-01-01 00:00:05").unwrap();
        assert_eq!(column_ms(&batch, "ROWTIME"), [five, five]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].data_row, b"not json");
        assert_eq!(errors[0].data_rowtime, Some(five));
    }

    #[test]
    fn replay_from_the_arrival_time() {
        let mut d = decoder(Some("approximate_arrival_time"));
        assert!(d.is_replay());
        let records = [
            SourceRecord {
                data: br#"{"k":"a"}"#.to_vec(),
                arrival_ms: 5_000,
            },
            SourceRecord {
                data: br#"{"k":"b"}"#.to_vec(),
                arrival_ms: 4_000,
            },
        ];
        let (batch, errors, _) = d.decode_records(&records, 99).unwrap();
        let batch = batch.unwrap();
        assert!(errors.is_empty());
        assert_eq!(column_ms(&batch, "ROWTIME"), [5_000, 5_000]);
        assert_eq!(column_ms(&batch, APPROXIMATE_ARRIVAL_TIME), [5_000, 4_000]);
        // A file has no arrival time: replaying from it is an error of each row.
        let (batch, errors, _) = d.decode(b"{\"k\":\"c\"}\n", 99).unwrap();
        assert!(batch.is_none());
        assert!(
            errors[0]
                .message
                .contains("APPROXIMATE_ARRIVAL_TIME is NULL"),
            "{}",
            errors[0].message
        );
    }
}
