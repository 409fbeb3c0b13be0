//! Connectors: bytes ↔ batches (no operators, no threads). Sources decode records into Arrow
//! batches with a ROWTIME; reference-data loaders read tables; sinks write a stream's rows.
//! They see only `RecordBatch`es and error rows; the runtime owns the threads that drive them.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the [`Sink`] and [`ChunkDecoder`] traits |
//! | `schema.rs` | KDA's `InputSchema` / `ReferenceSchema` JSON and the checked [`schema::RecordSchema`] |
//! | `decode/` | records (JSON, CSV) straight into Arrow columns with KDA's coercion rules |
//! | `discover.rs` | schema discovery from sample records |
//! | `source.rs` | a source stream's decoder: ROWTIME (live or replayed), error rows |
//! | `reference.rs` | loading a reference table |
//! | `sink.rs` | JSON lines, CSV, the terminal table |
//!
//! Shape to imitate: `source.rs`. Tests: `cargo test --lib connectors`.

pub mod decode;
pub mod discover;
pub mod reference;
pub mod schema;
pub mod sink;
pub mod source;

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::error_stream::ErrorRow;

/// Where a stream's rows go outside the application.
pub trait Sink: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

/// Decodes a chunk into a source batch plus error rows. Implemented by the source connector.
pub trait ChunkDecoder: Send {
    /// Returns the stream batch (may be empty), the error rows and the number of records seen.
    fn decode(
        &mut self,
        chunk: &[u8],
        now: i64,
    ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)>;
    /// True in replay mode (ROWTIME from a column), false in live mode.
    fn is_replay(&self) -> bool;
    /// The largest ROWTIME assigned so far.
    fn last_rowtime(&self) -> i64;
}
