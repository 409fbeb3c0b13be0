//! Connectors: bytes ↔ batches (no operators, no threads). Sources decode records into Arrow
//! batches with a ROWTIME; reference-data loaders read tables; sinks write a stream's rows.
//! They see only `RecordBatch`es and error rows; the runtime owns the threads that drive them.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the [`Sink`] and [`ChunkDecoder`] traits |
//! | `follow.rs` | following a growing file (`--follow`), through rotation and truncation |
//! | `kinesis.rs` | reading a Kinesis data stream: every shard polled, resharding, start positions |
//! | `location.rs` | `kinesis://`, `firehose://`, `lambda://`, `s3://`, ARNs, paths |
//! | `aws.rs` | the AWS SDK's configuration (endpoints, region, credentials), S3 object stores |
//! | `records.rs` | a stream's rows as destination records (KDA's JSON or CSV) |
//! | `retry.rs` | capped exponential backoff for destinations and services |
//! | `schema.rs` | KDA's `InputSchema` / `ReferenceSchema` JSON and the checked [`schema::RecordSchema`] |
//! | `decode/` | records (JSON, CSV) straight into Arrow columns with KDA's coercion rules |
//! | `discover.rs` | schema discovery from sample records |
//! | `preprocess.rs` | input preprocessing with Lambda: KDA's request and response, batch splitting, retries |
//! | `source.rs` | a source stream's decoder: ROWTIME (live or replayed), error rows |
//! | `reference.rs` | reference tables from a file or an S3 object (read again only when its ETag changes) |
//! | `sink.rs` | JSON lines, CSV, the terminal table |
//! | `objects.rs` | Firehose-style objects in a folder or under an S3 prefix: buffering, keys, GZIP |
//! | `deliver/` | KDA's destinations: Kinesis streams, Firehose, Lambda (batching, retries, rejected rows) |
//!
//! Shape to imitate: `source.rs`. Tests: `cargo test --lib connectors`.

pub mod aws;
pub mod decode;
pub mod deliver;
pub mod discover;
pub mod follow;
pub mod kinesis;
pub mod location;
pub mod objects;
pub mod preprocess;
pub mod records;
pub mod reference;
pub mod retry;
pub mod schema;
pub mod sink;
pub mod source;

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::error_stream::ErrorRow;
use crate::state::Snapshot;

/// Where a stream's rows go outside the application.
///
/// A sink runs on a writer thread of its own (`runtime::BackgroundSink`), so it may block: a
/// destination that is slow or failing holds the writer, the writer's queue fills, and the
/// dataflow and then the reader wait (backpressure; nothing is dropped).
pub trait Sink: Send {
    /// Takes a batch of the stream's rows (its columns, then the trailing ROWTIME). May buffer.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Called about every 100 ms while no batch arrives, for sinks that deliver on a clock
    /// (Lambda about once a second, Firehose-style objects by interval).
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }

    /// Delivers everything written so far and returns once the destination has acknowledged
    /// it: a checkpoint may then count those rows as delivered.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// For a checkpoint: makes everything written so far durable (a file flushed and synced, a
    /// destination's acknowledgement awaited) and returns where the sink stands (a file's
    /// length, the records buffered for an object), which a sink made for the resumed run takes
    /// back. Buffers that can be kept in the snapshot are not delivered early.
    fn checkpoint(&mut self) -> Result<Snapshot> {
        self.flush()?;
        Ok(Snapshot::empty())
    }

    /// Rows the destination refused for good (after `--max-delivery-retries` attempts), to be
    /// reported in `error_stream`. Never rows that may still be delivered.
    fn take_rejected(&mut self) -> Vec<ErrorRow> {
        Vec::new()
    }

    /// The end of the stream: deliver what is left and close.
    fn finish(&mut self) -> Result<()>;
}

/// A record read from a service (a Kinesis record, or what a preprocessing Lambda returned for
/// it): its payload and when it arrived at the service (ms since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub data: Vec<u8>,
    pub arrival_ms: i64,
}

/// Decodes input into a source batch plus error rows. Implemented by the source connector.
pub trait ChunkDecoder: Send {
    /// Decodes a chunk of whole lines (a file, stdin). Returns the stream batch (may be empty),
    /// the error rows and the number of records seen.
    fn decode(
        &mut self,
        chunk: &[u8],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)>;
    /// Decodes records read from a service, each with its arrival time.
    fn decode_records(
        &mut self,
        records: &[SourceRecord],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)>;
    /// True in replay mode (ROWTIME from a column), false in live mode.
    fn is_replay(&self) -> bool;
    /// The largest ROWTIME assigned so far.
    fn last_rowtime(&self) -> i64;
    /// Resumes after a checkpoint: the input is read on from a position past its start, where
    /// the largest ROWTIME assigned so far was `last_rowtime`.
    fn resume(&mut self, last_rowtime: i64);
}
