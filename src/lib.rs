//! rowtime runs Amazon Kinesis Data Analytics (KDA) for SQL applications anywhere.
//!
//! The data flow, in module order (see `../shared/DESIGN.md` §1):
//!
//! ```text
//! .sql text ─► dialect ─► AppStatements ─┐
//! input / reference schemas ─► catalog ──┴─► plan: pumps of operator specs
//!                                                     │
//! connectors::source (decode + ROWTIME) ─► runtime::Dataflow ─► exec operators ─► connectors::sink
//!                                                     └─► error_stream
//! ```
//!
//! - [`dialect`]: KDA SQL → statements (`CREATE STREAM`, `CREATE PUMP`), `STEP`, case rules.
//! - [`types`], [`schema`]: KDA types and input/reference schemas.
//! - [`catalog`]: in-application streams, reference tables, `error_stream`.
//! - [`functions`]: KDA functions mapped onto DataFusion's; [`create_function`]: the
//!   application's own SQL functions (`CREATE FUNCTION`), expanded where they are called; [`date_format`]: KDA's date and time
//!   patterns and the conversion functions that use them (`TIMESTAMP_TO_CHAR`, `CHAR_TO_TIMESTAMP`, …);
//!   [`regex_replace`]: KDA's `REGEX_REPLACE`; [`substring`]: KDA's `SUBSTRING` forms;
//!   [`log_parse`]: `REGEX_LOG_PARSE`, `W3C_LOG_PARSE`, `VARIABLE_COLUMN_LOG_PARSE`; [`interval`]:
//!   KDA's interval literals; [`cast`], [`extract`], [`overlay`]: KDA's `CAST` to text lengths,
//!   `EXTRACT(SECOND …)` and `OVERLAY`.
//! - [`plan`]: each pump's query → a chain of operator specs per input, joined when it reads two (explainable).
//! - [`exec`]: the operators — [`exec::filter`], [`exec::project`], [`exec::tumbling`],
//!   [`exec::distinct`], [`exec::sliding`], [`exec::stagger`], [`exec::lookup_join`], [`exec::stream_join`] (two input
//!   streams meet here), [`exec::insert`] ([`exec::division`] guards `/`).
//! - [`runtime`]: the dataflow, the run loop and the input thread that reads and decodes (file
//!   and stdout sinks write on a thread of their own, `connectors::sink::BackgroundSink`).
//! - [`connectors`]: record decoding, sources, reference data, sinks.
//! - [`app`]: application definitions (`.sql` + flags, or KDA `describe-application` JSON).
//! - [`engine`]: puts an application together; [`cli`]: the `rowtime` command.
//! - [`testing`]: `TestApp` and test files (`rowtime test`) for testing applications.

pub mod app;
pub mod cast;
pub mod catalog;
pub mod cli;
pub mod connectors;
pub mod create_function;
pub mod date_format;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod error_stream;
pub mod exec;
pub mod extract;
pub mod format;
pub mod functions;
pub mod generate;
pub mod interval;
pub mod log_parse;
pub mod overlay;
pub mod plan;
pub mod regex_replace;
pub mod runtime;
pub mod schema;
pub mod substring;
pub mod testing;
pub mod types;

pub use error::{Error, Result};
