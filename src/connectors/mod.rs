//! Connectors: sources that decode records into Arrow batches with a ROWTIME, reference-data
//! loaders, and sinks. They see only `RecordBatch`es and error rows.

pub mod decode;
pub mod discover;
pub mod reference;
pub mod sink;
pub mod source;
