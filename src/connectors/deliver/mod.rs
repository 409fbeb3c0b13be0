//! Delivery to KDA's destinations: a stream's rows, encoded as KDA encoded them
//! (`records.rs`), written to a Kinesis data stream, a Firehose delivery stream or a Lambda
//! function, each a [`Sink`](super::Sink).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the outbox the three share: buffering, requests within a destination's limits, resending only what failed with capped backoff, giving up after a retry limit, [`DeliveryStats`] |
//! | `kinesis.rs` | [`KinesisStreamsOutput`]: PutRecords |
//! | `firehose.rs` | [`KinesisFirehoseOutput`]: PutRecordBatch |
//! | `lambda.rs` | [`LambdaOutput`]: KDA's Lambda output contract (`invocationId`, `recordId`, `retryHint`, `Ok` / `DeliveryFailed`) |
//! | `tests.rs` | the outbox's unit tests against a scripted destination |
//!
//! How every destination delivers:
//! - `write` encodes the rows and buffers them; requests that are full (the destination's record
//!   count or byte limit reached) go at once, the rest when about a second has passed since the
//!   first of them was buffered (checked at `write` and `idle`), or at `flush` / `finish`. A sink
//!   built to deliver every write (Lambda's `per_batch`) sends everything at each `write`.
//! - Requests are sent one at a time, in order, and a call returns once the destination has
//!   answered, so `flush` returns once everything written has been acknowledged.
//! - Only the records that failed are sent again (per-entry errors, `DeliveryFailed`); a call
//!   that failed as a whole (throttling, a 5xx, a timeout, an unreachable endpoint, a function
//!   error, a response that is not KDA's) sends all its records again. Between failed attempts
//!   the outbox waits ([`Backoff::delivery`]: 100 ms doubling up to 10 s). The SDK's own
//!   retries are off, so that every attempt is counted here.
//! - By default a record is retried until it is delivered, as KDA did (the destination's
//!   backpressure stalls the application; nothing is lost). With [`RetryLimit`]`(Some(n))` a
//!   record that failed `n + 1` times is given up: it comes back from `take_rejected` as an
//!   `error_stream` row named `DELIVERY_ERROR` (the destination and the last error, the
//!   record's bytes, the row's ROWTIME). A record larger than the destination takes is given up
//!   at once, the same way.
//! - An error that retrying cannot mend (the destination does not exist, access is denied, the
//!   request is invalid) stops delivery: `write` / `flush` return it, with what to do.

pub mod firehose;
pub mod kinesis;
pub mod lambda;

pub use firehose::{FirehoseOutputOptions, KinesisFirehoseOutput};
pub use kinesis::{KinesisOutputOptions, KinesisStreamsOutput};
pub use lambda::{LambdaOutput, LambdaOutputOptions, application_arn};

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use datafusion::arrow::array::{Array, TimestampMillisecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use tokio::runtime::Handle;

use super::aws::{describe, error_code};
use super::records::RecordEncoder;
use super::retry::{Backoff, RetryLimit};
use crate::error::{Error, Result};
use crate::error_stream::{DELIVERY_ERROR, ErrorRow};

/// How long records wait for more to join them before they are sent (KDA delivered about once a
/// second).
pub const LINGER: Duration = Duration::from_secs(1);

/// What a sink has delivered so far, for the progress line and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Records the destination acknowledged.
    pub records_ok: u64,
    /// Records given up (after the retry limit, or too large to send): in `take_rejected`.
    pub records_failed: u64,
    /// Requests sent (PutRecords, PutRecordBatch, Invoke), failed ones included.
    pub calls: u64,
    /// Records sent again after a failed attempt (a record sent three times counts two).
    pub retries: u64,
}

/// A sink's live [`DeliveryStats`], readable from any thread while the sink runs on its writer.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    /// Bytes of the records acknowledged (their data, as sent).
    bytes_ok: AtomicU64,
    /// Time spent in calls, in nanoseconds.
    call_nanos: AtomicU64,
    records_ok: AtomicU64,
    records_failed: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
}

impl StatsHandle {
    /// The counts now.
    pub fn get(&self) -> DeliveryStats {
        let c = &self.0;
        DeliveryStats {
            records_ok: c.records_ok.load(Ordering::Relaxed),
            records_failed: c.records_failed.load(Ordering::Relaxed),
            calls: c.calls.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// Bytes of the records the destination acknowledged (KDA's `Bytes` of an output).
    pub fn bytes_ok(&self) -> u64 {
        self.0.bytes_ok.load(Ordering::Relaxed)
    }

    /// Time spent in calls to the destination (KDA's `LambdaDelivery.Duration`, summed).
    pub fn call_time(&self) -> Duration {
        Duration::from_nanos(self.0.call_nanos.load(Ordering::Relaxed))
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One record on its way: its bytes, the row's ROWTIME, and how it fared so far.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// A random UUID: Kinesis's partition key, Lambda's `recordId` (kept across retries).
    pub(crate) id: String,
    pub(crate) data: Vec<u8>,
    pub(crate) rowtime: Option<i64>,
    /// Failed attempts so far (Lambda's `retryHint`).
    pub(crate) failures: u32,
    pub(crate) last_error: String,
}

impl Record {
    pub(crate) fn new(data: Vec<u8>, rowtime: Option<i64>) -> Record {
        Record {
            id: uuid::Uuid::new_v4().to_string(),
            data,
            rowtime,
            failures: 0,
            last_error: String::new(),
        }
    }
}

/// How much one request to a destination may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most records in one request.
    pub(crate) records: usize,
    /// Most bytes in one request, as the destination's `request_bytes` and `record_bytes` count.
    pub(crate) bytes: usize,
}

/// A whole call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// Worth trying again (throttling, a 5xx, a timeout, a bad answer): every record failed.
    Retry(String),
    /// Trying again cannot help: delivery stops with this message (destination, what, what to do).
    Fatal(String),
}

/// One destination's requests: what fits in one, and sending one.
pub(crate) trait Destination: Send {
    /// How messages name the destination (`kinesis://NAME`).
    fn name(&self) -> &str;
    fn limits(&self) -> Limits;
    /// The bytes of a request before any record (Lambda's JSON envelope).
    fn request_bytes(&self) -> usize {
        0
    }
    /// The bytes `record` adds to a request.
    fn record_bytes(&self, record: &Record) -> usize;
    /// Why a record of these bytes can never be sent, if it cannot.
    fn refuse(&self, data: &[u8]) -> Option<String>;
    /// Sends one request; per record `None` when it was delivered, else why it failed.
    async fn send(&mut self, records: &[Record]) -> Result<Vec<Option<String>>, CallFailure>;
}

/// How many records from the front of `sizes` (each record's bytes) go into the next request:
/// at least one, at most `limits.records`, with `base` plus their sizes at most `limits.bytes`.
pub(crate) fn request_len(
    sizes: impl Iterator<Item = usize>,
    base: usize,
    limits: Limits,
) -> usize {
    let mut total = base;
    let mut n = 0;
    for size in sizes.take(limits.records) {
        if n > 0 && total + size > limits.bytes {
            break;
        }
        total += size;
        n += 1;
    }
    n
}

/// An SDK error as a [`CallFailure`]: fatal when retrying cannot mend it.
pub(crate) fn call_failure<E, R>(
    destination: &str,
    operation: &str,
    e: &SdkError<E, R>,
) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = describe(e);
    match error_code(e).and_then(fatal_hint) {
        Some(hint) => {
            CallFailure::Fatal(format!("{destination}: {operation} failed: {what}; {hint}"))
        }
        None => CallFailure::Retry(format!("{operation} failed: {what}")),
    }
}

/// What to do about an error code that retrying cannot mend; `None` for the others.
fn fatal_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "ResourceNotFoundException" => {
            "the destination does not exist: create it, or name an existing one in the output"
        }
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
            "the credentials rowtime runs with may not write to it: check them and the destination's permissions"
        }
        "InvalidArgumentException"
        | "ValidationException"
        | "InvalidParameterValueException"
        | "InvalidRequestContentException"
        | "RequestTooLargeException" => {
            "the destination refused the request as invalid: check the output's configuration"
        }
        _ => return None,
    })
}

/// The SDK client configuration for a destination: the shared configuration, the SDK's retries
/// off (the outbox retries and counts), and `timeout` for each attempt.
pub(crate) fn client_settings(
    config: &aws_config::SdkConfig,
    timeout: Duration,
) -> (RetryConfig, TimeoutConfig) {
    let timeouts = config
        .timeout_config()
        .map(|t| t.to_builder())
        .unwrap_or_default()
        .operation_attempt_timeout(timeout)
        .build();
    (RetryConfig::disabled(), timeouts)
}

/// The trailing ROWTIME column of a stream batch, if it has one.
fn trailing_rowtime(batch: &RecordBatch) -> Option<&TimestampMillisecondArray> {
    batch
        .columns()
        .last()?
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
}

/// Rows on their way to one destination.
pub(crate) struct Outbox<D> {
    dest: D,
    encoder: RecordEncoder,
    handle: Handle,
    limit: RetryLimit,
    /// Zero: every write is delivered at once.
    linger: Duration,
    queue: VecDeque<Record>,
    /// When the oldest record in `queue` was buffered.
    since: Option<Instant>,
    pub(crate) backoff: Backoff,
    stats: StatsHandle,
    rejected: Vec<ErrorRow>,
}

impl<D: Destination> Outbox<D> {
    pub(crate) fn new(
        dest: D,
        encoder: RecordEncoder,
        handle: Handle,
        limit: RetryLimit,
        linger: Duration,
    ) -> Outbox<D> {
        Outbox {
            dest,
            encoder,
            handle,
            limit,
            linger,
            queue: VecDeque::new(),
            since: None,
            backoff: Backoff::delivery(),
            stats: StatsHandle::default(),
            rejected: Vec::new(),
        }
    }

    pub(crate) fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Records buffered, not yet acknowledged.
    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }

    fn give_up(&mut self, record: Record, message: String) {
        StatsHandle::add(&self.stats.0.records_failed, 1);
        self.rejected.push(ErrorRow {
            name: DELIVERY_ERROR,
            message,
            data_rowtime: record.rowtime,
            data_row: record.data,
            pump: None,
        });
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut encoded = Vec::with_capacity(batch.num_rows());
        self.encoder.encode(batch, &mut encoded)?;
        let rowtimes = trailing_rowtime(batch);
        for (row, data) in encoded.into_iter().enumerate() {
            let rowtime = rowtimes.and_then(|r| r.is_valid(row).then(|| r.value(row)));
            let record = Record::new(data, rowtime);
            if let Some(why) = self.dest.refuse(&record.data) {
                let message = format!("{}: {why}", self.dest.name());
                self.give_up(record, message);
                continue;
            }
            self.queue.push_back(record);
        }
        if self.since.is_none() && !self.queue.is_empty() {
            self.since = Some(Instant::now());
        }
        let all = self.linger_passed();
        self.deliver(all)
    }

    fn linger_passed(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= self.linger)
    }

    pub(crate) fn idle(&mut self) -> Result<()> {
        if self.linger_passed() {
            self.deliver(true)
        } else {
            Ok(())
        }
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        self.deliver(true)
    }

    pub(crate) fn take_rejected(&mut self) -> Vec<ErrorRow> {
        std::mem::take(&mut self.rejected)
    }

    /// Sends every buffered record (`all`), or only the requests that are full.
    fn deliver(&mut self, all: bool) -> Result<()> {
        if self.queue.is_empty() {
            self.since = None;
            return Ok(());
        }
        let handle = self.handle.clone();
        handle.block_on(self.send_requests(all))
    }

    async fn send_requests(&mut self, all: bool) -> Result<()> {
        let limits = self.dest.limits();
        loop {
            let n = request_len(
                self.queue.iter().map(|r| self.dest.record_bytes(r)),
                self.dest.request_bytes(),
                limits,
            );
            let full = n == limits.records || n < self.queue.len();
            if n == 0 || !(all || full) {
                break;
            }
            let batch: Vec<Record> = self.queue.drain(..n).collect();
            StatsHandle::add(&self.stats.0.calls, 1);
            let resent = batch.iter().filter(|r| r.failures > 0).count();
            StatsHandle::add(&self.stats.0.retries, resent);
            let started = std::time::Instant::now();
            let sent = self.dest.send(&batch).await;
            StatsHandle::add(
                &self.stats.0.call_nanos,
                started.elapsed().as_nanos().min(usize::MAX as u128) as usize,
            );
            let results = match sent {
                Ok(results) => results,
                Err(CallFailure::Retry(why)) => vec![Some(why); batch.len()],
                Err(CallFailure::Fatal(message)) => {
                    // Kept for a later flush: nothing is dropped on the way out.
                    for record in batch.into_iter().rev() {
                        self.queue.push_front(record);
                    }
                    return Err(Error::Application(message));
                }
            };
            let mut results = results.into_iter();
            let mut again = Vec::new();
            let mut delivered = 0;
            let mut delivered_bytes = 0;
            let mut failed = false;
            for mut record in batch {
                let result = results.next().unwrap_or_else(|| {
                    Some("the destination's answer has no result for this record".into())
                });
                let Some(why) = result else {
                    delivered += 1;
                    delivered_bytes += record.data.len();
                    continue;
                };
                failed = true;
                record.failures += 1;
                record.last_error = why;
                if self.limit.exhausted(record.failures) {
                    let message = format!(
                        "{}: gave up after {} failed attempts: {}",
                        self.dest.name(),
                        record.failures,
                        record.last_error
                    );
                    self.give_up(record, message);
                } else {
                    again.push(record);
                }
            }
            StatsHandle::add(&self.stats.0.bytes_ok, delivered_bytes);
            StatsHandle::add(&self.stats.0.records_ok, delivered);
            // Failed records go first again, in their order.
            for record in again.into_iter().rev() {
                self.queue.push_front(record);
            }
            if !failed {
                self.backoff.reset();
            } else if !self.queue.is_empty() {
                tokio::time::sleep(self.backoff.next_delay()).await;
            }
        }
        if self.queue.is_empty() {
            self.since = None;
        }
        Ok(())
    }
}

/// Implements [`Sink`](super::Sink) for a type whose field `outbox` is an [`Outbox`].
macro_rules! sink_through_outbox {
    ($sink:ty) => {
        impl $crate::connectors::Sink for $sink {
            fn write(
                &mut self,
                batch: &datafusion::arrow::record_batch::RecordBatch,
            ) -> $crate::error::Result<()> {
                self.outbox.write(batch)
            }

            fn idle(&mut self) -> $crate::error::Result<()> {
                self.outbox.idle()
            }

            fn flush(&mut self) -> $crate::error::Result<()> {
                self.outbox.flush()
            }

            fn take_rejected(&mut self) -> Vec<$crate::error_stream::ErrorRow> {
                self.outbox.take_rejected()
            }

            fn finish(&mut self) -> $crate::error::Result<()> {
                self.outbox.flush()
            }
        }
    };
}
pub(crate) use sink_through_outbox;

#[cfg(test)]
mod tests;
