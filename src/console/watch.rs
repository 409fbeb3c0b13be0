//! Watching a run: every in-app stream's rows (the last few kept, and sent live to whoever
//! listens), the counters behind `/metrics`, and the per-second rates the page charts.
//!
//! A [`Generation`] is the [`Observer`] of one dataflow (one version of the application code):
//! it maps the dataflow's stream numbers to [`StreamTap`]s, which are kept by name across
//! versions so that a page watching `DESTINATION_SQL_STREAM` goes on receiving its rows after
//! Save and run. On the engine thread a batch costs a few atomic adds and a short lock to keep
//! it (Arrow batches are shared, not copied); rows are formatted only when someone listens.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::broadcast;

use crate::catalog::StreamKind;
use crate::connectors::deliver::DeliveryStats;
use crate::connectors::preprocess::PreprocessStats;
use crate::exec::Held;
use crate::format::{JsonRowFormatter, format_options};
use crate::plan::Plan;
use crate::runtime::{Dataflow, Decoded, Delivery, Observer};

/// Rows kept per stream for a page that starts watching.
pub const RECENT_ROWS: usize = 200;
/// At most this many rows of one batch go into one live event (the newest).
const EVENT_ROWS: usize = 500;
/// Raw input records kept for the source data view.
pub const RAW_RECORDS: usize = 50;
/// Per-second samples kept for the charts (10 minutes).
const HISTORY: usize = 600;

/// One in-app stream, by name, across versions of the code.
pub struct StreamTap {
    pub name: String,
    kind: RwLock<StreamKind>,
    /// Rows that reached the stream since the console started.
    rows: AtomicU64,
    /// Rows per second over the last second (an f64's bits).
    rate: AtomicU64,
    last_count: AtomicU64,
    /// The newest batches, holding at least [`RECENT_ROWS`] rows when the stream had that many.
    recent: Mutex<VecDeque<RecordBatch>>,
    live: broadcast::Sender<Arc<String>>,
}

impl StreamTap {
    fn new(name: &str, kind: StreamKind) -> StreamTap {
        StreamTap {
            name: name.to_string(),
            kind: RwLock::new(kind),
            rows: AtomicU64::new(0),
            rate: AtomicU64::new(0f64.to_bits()),
            last_count: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
            live: broadcast::channel(256).0,
        }
    }

    pub fn kind(&self) -> StreamKind {
        self.kind
            .read()
            .expect("the kind lock is never poisoned")
            .clone()
    }

    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Live events: each a JSON `{"columns": […], "rows": [{…}, …]}`, oldest row first.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<String>> {
        self.live.subscribe()
    }

    /// The kept rows as one such event (oldest first), at most [`RECENT_ROWS`].
    pub fn recent_event(&self) -> String {
        let kept: Vec<RecordBatch> = self
            .recent
            .lock()
            .expect("the recent lock is never poisoned")
            .iter()
            .cloned()
            .collect();
        let total: usize = kept.iter().map(RecordBatch::num_rows).sum();
        let mut skip = total.saturating_sub(RECENT_ROWS);
        let mut rows = Vec::new();
        let mut columns = None;
        for b in &kept {
            let from = skip.min(b.num_rows());
            skip -= from;
            let part = b.slice(from, b.num_rows() - from);
            columns = Some(column_names(&part));
            rows.extend(format_rows(&part));
        }
        event_json(&columns.unwrap_or_default(), &rows)
    }

    /// The kept rows, newest last, at most `n`, as JSON objects.
    pub fn recent_rows(&self, n: usize) -> Vec<String> {
        let kept = self
            .recent
            .lock()
            .expect("the recent lock is never poisoned")
            .clone();
        let mut rows: Vec<String> = kept.iter().flat_map(format_rows).collect();
        let cut = rows.len().saturating_sub(n);
        rows.drain(..cut);
        rows
    }

    fn note(&self, batch: &RecordBatch) {
        let n = batch.num_rows();
        {
            let mut recent = self
                .recent
                .lock()
                .expect("the recent lock is never poisoned");
            let keep = if n > RECENT_ROWS {
                batch.slice(n - RECENT_ROWS, RECENT_ROWS)
            } else {
                batch.clone()
            };
            recent.push_back(keep);
            let mut total: usize = recent.iter().map(RecordBatch::num_rows).sum();
            while let Some(front) = recent.front() {
                if total - front.num_rows() < RECENT_ROWS {
                    break;
                }
                total -= front.num_rows();
                recent.pop_front();
            }
        }
        if self.live.receiver_count() > 0 {
            let part = if n > EVENT_ROWS {
                batch.slice(n - EVENT_ROWS, EVENT_ROWS)
            } else {
                batch.clone()
            };
            let event = event_json(&column_names(&part), &format_rows(&part));
            let _ = self.live.send(Arc::new(event));
        }
    }

    fn sample(&self, seconds: f64) {
        let now = self.rows();
        let before = self.last_count.swap(now, Ordering::Relaxed);
        let rate = now.saturating_sub(before) as f64 / seconds;
        self.rate.store(rate.to_bits(), Ordering::Relaxed);
    }
}

/// A stream batch's columns as the page shows them: ROWTIME (the trailing column) first, then
/// the others but the copies of ROWTIME some batches carry.
fn order(batch: &RecordBatch) -> Vec<usize> {
    let n = batch.num_columns();
    if n == 0 {
        return vec![];
    }
    let schema = batch.schema();
    std::iter::once(n - 1)
        .chain((0..n - 1).filter(|i| schema.field(*i).name() != crate::catalog::ROWTIME))
        .collect()
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    order(batch)
        .into_iter()
        .map(|i| schema.field(i).name().clone())
        .collect()
}

/// Each row of a stream batch as a JSON object, ROWTIME first.
fn format_rows(batch: &RecordBatch) -> Vec<String> {
    let options = format_options();
    let names = column_names(batch);
    let indices = order(batch);
    match JsonRowFormatter::new(batch, &indices, &names, &options) {
        Ok(f) => (0..batch.num_rows())
            .map(|row| {
                let mut out = String::new();
                f.write_row(row, &mut out);
                out
            })
            .collect(),
        Err(e) => vec![format!(
            "{{\"unprintable rows\":{}}}",
            serde_json::to_string(&e.to_string()).unwrap_or_default()
        )],
    }
}

fn event_json(columns: &[String], rows: &[String]) -> String {
    format!(
        "{{\"columns\":{},\"rows\":[{}]}}",
        serde_json::to_string(columns).expect("names serialize"),
        rows.join(",")
    )
}

/// A delivery's counters at a sample.
#[derive(Debug, Default, Clone, Copy)]
struct Delivered {
    counts: DeliveryStats,
    bytes: u64,
    time: Duration,
}

/// The labels of KDA's per-stream metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Flow {
    pub application: String,
    pub stream: String,
    /// `input` or `output`.
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    pub application: String,
    pub stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    pub application: String,
    pub stream: String,
    pub destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PumpLabel {
    pub application: String,
    pub pump: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub application: String,
    pub error_name: String,
}

/// The metrics `/metrics` serves (names and their KDA counterparts in docs/console.md).
pub struct Metrics {
    pub registry: Registry,
    records: Family<Flow, Counter>,
    bytes: Family<Flow, Counter>,
    behind: Family<StreamLabel, Gauge>,
    stream_rows: Family<StreamLabel, Counter>,
    error_rows: Family<ErrorLabel, Counter>,
    checkpoints: Histogram,
    code_updates: Counter,
    open_windows: Family<PumpLabel, Gauge>,
    state_rows: Family<PumpLabel, Gauge>,
    success: Family<DeliveryLabel, Gauge>,
    lambda_ok: Family<DeliveryLabel, Counter>,
    lambda_failed: Family<DeliveryLabel, Counter>,
    lambda_duration: Family<DeliveryLabel, Counter<f64, std::sync::atomic::AtomicU64>>,
    preprocessing: Preprocessing,
}

/// KDA's `InputProcessing.*`, for the input's preprocessing Lambda function.
struct Preprocessing {
    ok_records: Family<StreamLabel, Counter>,
    ok_bytes: Family<StreamLabel, Counter>,
    dropped_records: Family<StreamLabel, Counter>,
    failed_records: Family<StreamLabel, Counter>,
    success: Family<StreamLabel, Counter>,
    duration: Family<StreamLabel, Counter<f64, std::sync::atomic::AtomicU64>>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let records = Family::<Flow, Counter>::default();
        let bytes = Family::<Flow, Counter>::default();
        let behind = Family::<StreamLabel, Gauge>::default();
        let stream_rows = Family::<StreamLabel, Counter>::default();
        let error_rows = Family::<ErrorLabel, Counter>::default();
        let checkpoints = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let code_updates = Counter::default();
        let open_windows = Family::<PumpLabel, Gauge>::default();
        let state_rows = Family::<PumpLabel, Gauge>::default();
        registry.register(
            "rowtime_open_windows",
            "Windows a pump holds open (tumbling windows, stagger and sliding windows per key)",
            open_windows.clone(),
        );
        registry.register(
            "rowtime_state_rows",
            "Groups and rows a pump keeps between batches (open windows' groups, sliding windows' rows, rows a join waits on)",
            state_rows.clone(),
        );
        registry.register(
            "kda_records",
            "KDA Records: records read from an input (direction=input, good and bad) or delivered to an output (direction=output)",
            records.clone(),
        );
        registry.register(
            "kda_bytes",
            "KDA Bytes: bytes read from an input, or delivered to an output that is a Kinesis stream, a Firehose delivery stream or a Lambda function",
            bytes.clone(),
        );
        registry.register(
            "kda_millis_behind_latest",
            "KDA MillisBehindLatest: how far the slowest shard of a Kinesis input is behind the stream's tip, in milliseconds",
            behind.clone(),
        );
        registry.register(
            "rowtime_stream_rows",
            "Rows that reached an in-application stream (error_stream included)",
            stream_rows.clone(),
        );
        registry.register(
            "rowtime_error_rows",
            "Rows written to error_stream, by ERROR_NAME",
            error_rows.clone(),
        );
        registry.register(
            "rowtime_checkpoint_duration_seconds",
            "How long taking a checkpoint took (--state-dir)",
            checkpoints.clone(),
        );
        registry.register(
            "rowtime_code_updates",
            "Times the application code was replaced from the console (Save and run)",
            code_updates.clone(),
        );
        let success = Family::<DeliveryLabel, Gauge>::default();
        let lambda_ok = Family::<DeliveryLabel, Counter>::default();
        let lambda_failed = Family::<DeliveryLabel, Counter>::default();
        registry.register(
            "kda_success",
            "KDA Success: 1 when the output's deliveries in the last second all succeeded, 0 when one failed (was retried or given up)",
            success.clone(),
        );
        registry.register(
            "kda_lambda_delivery_ok_records",
            "KDA LambdaDelivery.OkRecords: records the output's Lambda function answered Ok",
            lambda_ok.clone(),
        );
        registry.register(
            "kda_lambda_delivery_delivery_failed_records",
            "KDA LambdaDelivery.DeliveryFailedRecords: records given up after the retries (reported in error_stream)",
            lambda_failed.clone(),
        );
        let lambda_duration =
            Family::<DeliveryLabel, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "kda_lambda_delivery_duration_seconds",
            "KDA LambdaDelivery.Duration: time spent invoking the output's Lambda function",
            lambda_duration.clone(),
        );
        let preprocessing = Preprocessing {
            ok_records: Family::default(),
            ok_bytes: Family::default(),
            dropped_records: Family::default(),
            failed_records: Family::default(),
            success: Family::default(),
            duration: Family::default(),
        };
        registry.register(
            "kda_input_processing_ok_records",
            "KDA InputProcessing.OkRecords: records the preprocessing function answered Ok",
            preprocessing.ok_records.clone(),
        );
        registry.register(
            "kda_input_processing_ok_bytes",
            "KDA InputProcessing.OkBytes: bytes of the records the preprocessing function answered Ok",
            preprocessing.ok_bytes.clone(),
        );
        registry.register(
            "kda_input_processing_dropped_records",
            "KDA InputProcessing.DroppedRecords: records the preprocessing function dropped",
            preprocessing.dropped_records.clone(),
        );
        registry.register(
            "kda_input_processing_processing_failed_records",
            "KDA InputProcessing.ProcessingFailedRecords: records the preprocessing function failed (reported in error_stream)",
            preprocessing.failed_records.clone(),
        );
        registry.register(
            "kda_input_processing_success",
            "KDA InputProcessing.Success: invocations of the preprocessing function that succeeded",
            preprocessing.success.clone(),
        );
        registry.register(
            "kda_input_processing_duration_seconds",
            "KDA InputProcessing.Duration: time spent invoking the preprocessing function",
            preprocessing.duration.clone(),
        );
        Metrics {
            registry,
            success,
            lambda_ok,
            lambda_failed,
            lambda_duration,
            preprocessing,
            records,
            bytes,
            behind,
            stream_rows,
            error_rows,
            checkpoints,
            code_updates,
            open_windows,
            state_rows,
        }
    }

    /// The metrics in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}

/// One second of the run, for the charts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub t: i64,
    pub input: f64,
    pub output: f64,
    pub errors: f64,
}

/// Everything watched, shared by the run and the servers.
pub struct Watch {
    pub application: String,
    /// Rows are kept for a page.
    rows: bool,
    taps: RwLock<HashMap<String, Arc<StreamTap>>>,
    pub metrics: Metrics,
    /// Input records, output rows and error rows so far, for the charts.
    totals: [AtomicU64; 3],
    last_totals: Mutex<([u64; 3], Instant)>,
    history: Mutex<VecDeque<Sample>>,
    /// The reference tables: rows and when they were last loaded (ms since the epoch).
    tables: Mutex<Vec<(String, usize, i64)>>,
    /// MillisBehindLatest of the Kinesis input, -1 when there is none.
    pub behind_ms: AtomicI64,
    /// The last input records as read, oldest first.
    raw: Mutex<VecDeque<String>>,
    /// What each pump's operators held at the last look, by the pump's index in the plan.
    held: Mutex<Vec<(usize, Vec<Held>)>>,
    /// The outputs delivered to services, with their counters at the last sample.
    deliveries: Mutex<Vec<(Delivery, Delivered)>>,
    /// The preprocessing function's counters at the last chunk.
    preprocessed: Mutex<PreprocessStats>,
}

impl Watch {
    /// `rows`: keep each stream's newest rows and the raw input records for a page (the
    /// console); without it, only the counters are kept (`run --metrics`).
    pub fn new(application: &str, rows: bool) -> Arc<Watch> {
        Arc::new(Watch {
            application: application.to_string(),
            rows,
            taps: RwLock::new(HashMap::new()),
            metrics: Metrics::new(),
            totals: Default::default(),
            last_totals: Mutex::new(([0; 3], Instant::now())),
            history: Mutex::new(VecDeque::new()),
            tables: Mutex::new(Vec::new()),
            behind_ms: AtomicI64::new(-1),
            raw: Mutex::new(VecDeque::new()),
            held: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            preprocessed: Mutex::new(PreprocessStats::default()),
        })
    }

    /// The observer for `dataflow`, built from `catalog`'s streams; set it on the dataflow.
    pub fn generation(self: &Arc<Watch>, plan: &Plan, dataflow: &Dataflow) -> Arc<Generation> {
        let catalog = &plan.catalog;
        let pumps = plan
            .pumps
            .iter()
            .map(|p| {
                let label = PumpLabel {
                    application: self.application.clone(),
                    pump: p.name.clone(),
                };
                (
                    self.metrics.open_windows.get_or_create(&label).clone(),
                    self.metrics.state_rows.get_or_create(&label).clone(),
                )
            })
            .collect();
        self.held
            .lock()
            .expect("the held lock is never poisoned")
            .clear();
        *self
            .deliveries
            .lock()
            .expect("the deliveries lock is never poisoned") = dataflow
            .deliveries
            .iter()
            .map(|d| (d.clone(), Delivered::default()))
            .collect();
        let mut taps = self.taps.write().expect("the taps lock is never poisoned");
        let mut streams = Vec::new();
        for (i, s) in catalog.streams.iter().enumerate() {
            let tap = taps
                .entry(s.name.clone())
                .or_insert_with(|| Arc::new(StreamTap::new(&s.name, s.kind.clone())))
                .clone();
            *tap.kind.write().expect("the kind lock is never poisoned") = s.kind.clone();
            let label = StreamLabel {
                application: self.application.clone(),
                stream: s.name.clone(),
            };
            let flow = |direction: &str| Flow {
                application: self.application.clone(),
                stream: s.name.clone(),
                direction: direction.to_string(),
            };
            let source = s.kind == StreamKind::Source;
            let output = dataflow.has_sinks(i) && s.kind != StreamKind::Error;
            streams.push(Tapped {
                tap,
                rows: self.metrics.stream_rows.get_or_create(&label).clone(),
                records_in: source
                    .then(|| self.metrics.records.get_or_create(&flow("input")).clone()),
                bytes_in: source.then(|| self.metrics.bytes.get_or_create(&flow("input")).clone()),
                behind: source.then(|| label.clone()),
                records_out: output
                    .then(|| self.metrics.records.get_or_create(&flow("output")).clone()),
                error: s.kind == StreamKind::Error,
            });
        }
        Arc::new(Generation {
            watch: Arc::clone(self),
            streams,
            pumps,
        })
    }

    /// The streams watched so far, by name.
    pub fn taps(&self) -> Vec<Arc<StreamTap>> {
        let mut all: Vec<Arc<StreamTap>> = self
            .taps
            .read()
            .expect("the taps lock is never poisoned")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn tap(&self, name: &str) -> Option<Arc<StreamTap>> {
        self.taps
            .read()
            .expect("the taps lock is never poisoned")
            .get(name)
            .cloned()
    }

    /// A reference table was loaded with `rows` rows.
    pub fn table_loaded(&self, name: &str, rows: usize) {
        let now = crate::time::now_ms();
        let mut tables = self
            .tables
            .lock()
            .expect("the tables lock is never poisoned");
        match tables.iter_mut().find(|(n, _, _)| n == name) {
            Some(t) => *t = (name.to_string(), rows, now),
            None => tables.push((name.to_string(), rows, now)),
        }
    }

    pub fn tables(&self) -> Vec<(String, usize, i64)> {
        self.tables
            .lock()
            .expect("the tables lock is never poisoned")
            .clone()
    }

    pub fn code_replaced(&self) {
        self.metrics.code_updates.inc();
    }

    /// Takes the per-second rates (call about once a second).
    pub fn sample(&self) {
        let mut last = self
            .last_totals
            .lock()
            .expect("the totals lock is never poisoned");
        let seconds = last.1.elapsed().as_secs_f64().max(1e-3);
        let now: [u64; 3] = std::array::from_fn(|i| self.totals[i].load(Ordering::Relaxed));
        let rate = |i: usize| now[i].saturating_sub(last.0[i]) as f64 / seconds;
        let sample = Sample {
            t: crate::time::now_ms(),
            input: rate(0),
            output: rate(1),
            errors: rate(2),
        };
        *last = (now, Instant::now());
        for tap in self.taps() {
            tap.sample(seconds);
        }
        self.sample_deliveries();
        let mut history = self
            .history
            .lock()
            .expect("the history lock is never poisoned");
        history.push_back(sample);
        while history.len() > HISTORY {
            history.pop_front();
        }
    }

    pub fn history(&self) -> Vec<Sample> {
        self.history
            .lock()
            .expect("the history lock is never poisoned")
            .iter()
            .copied()
            .collect()
    }

    /// KDA's `Success` and `LambdaDelivery.*` from each delivery's counters since the last
    /// sample.
    fn sample_deliveries(&self) {
        let mut deliveries = self
            .deliveries
            .lock()
            .expect("the deliveries lock is never poisoned");
        for (d, last) in deliveries.iter_mut() {
            let now = Delivered {
                counts: d.stats.get(),
                bytes: d.stats.bytes_ok(),
                time: d.stats.call_time(),
            };
            let flow = Flow {
                application: self.application.clone(),
                stream: d.stream.clone(),
                direction: "output".to_string(),
            };
            self.metrics
                .bytes
                .get_or_create(&flow)
                .inc_by(now.bytes.saturating_sub(last.bytes));
            let label = DeliveryLabel {
                application: self.application.clone(),
                stream: d.stream.clone(),
                destination: d.destination.clone(),
            };
            let (c, l) = (&now.counts, &last.counts);
            let ok = c.records_ok.saturating_sub(l.records_ok);
            let failed = c.records_failed.saturating_sub(l.records_failed);
            let retried = c.retries.saturating_sub(l.retries);
            if failed > 0 || retried > 0 {
                self.metrics.success.get_or_create(&label).set(0);
            } else if ok > 0 {
                self.metrics.success.get_or_create(&label).set(1);
            }
            if d.lambda {
                self.metrics.lambda_ok.get_or_create(&label).inc_by(ok);
                self.metrics
                    .lambda_failed
                    .get_or_create(&label)
                    .inc_by(failed);
                self.metrics
                    .lambda_duration
                    .get_or_create(&label)
                    .inc_by(now.time.saturating_sub(last.time).as_secs_f64());
            }
            *last = now;
        }
    }

    /// The preprocessing function's counters went from the last ones to `now`.
    fn preprocessed(&self, stream: &str, now: &PreprocessStats) {
        let mut last = self
            .preprocessed
            .lock()
            .expect("the preprocessed lock is never poisoned");
        let label = StreamLabel {
            application: self.application.clone(),
            stream: stream.to_string(),
        };
        let p = &self.metrics.preprocessing;
        let delta = |now: u64, then: u64| now.saturating_sub(then);
        p.ok_records
            .get_or_create(&label)
            .inc_by(delta(now.ok_records, last.ok_records));
        p.ok_bytes
            .get_or_create(&label)
            .inc_by(delta(now.ok_bytes, last.ok_bytes));
        p.dropped_records
            .get_or_create(&label)
            .inc_by(delta(now.dropped_records, last.dropped_records));
        p.failed_records.get_or_create(&label).inc_by(delta(
            now.processing_failed_records,
            last.processing_failed_records,
        ));
        p.success
            .get_or_create(&label)
            .inc_by(delta(now.successes, last.successes));
        p.duration
            .get_or_create(&label)
            .inc_by(now.duration.saturating_sub(last.duration).as_secs_f64());
        *last = now.clone();
    }

    /// What each pump's operators held at the last look, by the pump's index in the plan.
    pub fn held(&self) -> Vec<(usize, Vec<Held>)> {
        self.held
            .lock()
            .expect("the held lock is never poisoned")
            .clone()
    }

    /// The last input records as read, oldest first.
    pub fn raw_records(&self) -> Vec<String> {
        self.raw
            .lock()
            .expect("the raw lock is never poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Input records, output rows and error rows so far.
    pub fn totals(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.totals[i].load(Ordering::Relaxed))
    }
}

/// A stream of one generation, with its metric handles.
struct Tapped {
    tap: Arc<StreamTap>,
    rows: Counter,
    records_in: Option<Counter>,
    bytes_in: Option<Counter>,
    /// A source stream's label for MillisBehindLatest, made when a Kinesis input reports it.
    behind: Option<StreamLabel>,
    records_out: Option<Counter>,
    error: bool,
}

/// The observer of one dataflow.
pub struct Generation {
    watch: Arc<Watch>,
    streams: Vec<Tapped>,
    /// Each pump's gauges (open windows, rows held), by its index in the plan.
    pumps: Vec<(Gauge, Gauge)>,
}

impl Observer for Generation {
    fn rows(&self, stream: usize, batch: &RecordBatch) {
        let Some(s) = self.streams.get(stream) else {
            return;
        };
        let n = batch.num_rows() as u64;
        s.rows.inc_by(n);
        s.tap.rows.fetch_add(n, Ordering::Relaxed);
        if let Some(c) = &s.records_out {
            c.inc_by(n);
            self.watch.totals[1].fetch_add(n, Ordering::Relaxed);
        }
        if s.error {
            self.watch.totals[2].fetch_add(n, Ordering::Relaxed);
            count_error_names(&self.watch, batch);
        }
        if self.watch.rows {
            s.tap.note(batch);
        }
    }

    fn input(&self, stream: usize, read: &Decoded) {
        let Some(s) = self.streams.get(stream) else {
            return;
        };
        let (records, bytes, behind_ms) = (read.seen, read.bytes, read.behind_ms);
        if self.watch.rows && !read.tail.is_empty() {
            let mut raw = self
                .watch
                .raw
                .lock()
                .expect("the raw lock is never poisoned");
            raw.extend(
                read.tail
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned()),
            );
            while raw.len() > RAW_RECORDS {
                raw.pop_front();
            }
        }
        self.watch.totals[0].fetch_add(records, Ordering::Relaxed);
        if let Some(c) = &s.records_in {
            c.inc_by(records);
        }
        if let Some(c) = &s.bytes_in {
            c.inc_by(bytes);
        }
        if let Some(stats) = &read.preprocess {
            self.watch.preprocessed(&s.tap.name, stats);
        }
        if let (Some(label), Some(ms)) = (&s.behind, behind_ms) {
            self.watch.metrics.behind.get_or_create(label).set(ms);
            self.watch.behind_ms.store(ms, Ordering::Relaxed);
        }
    }

    fn checkpoint(&self, took: Duration) {
        self.watch.metrics.checkpoints.observe(took.as_secs_f64());
    }

    fn table(&self, name: &str, rows: usize) {
        self.watch.table_loaded(name, rows);
    }

    fn held(&self, pumps: &[(usize, Vec<Held>)]) {
        for (pump, held) in pumps {
            if let Some((windows, rows)) = self.pumps.get(*pump) {
                windows.set(held.iter().map(|h| h.windows as i64).sum());
                rows.set(held.iter().map(|h| h.rows as i64).sum());
            }
        }
        *self
            .watch
            .held
            .lock()
            .expect("the held lock is never poisoned") = pumps.to_vec();
    }
}

/// Counts error rows by their ERROR_NAME (error_stream's third column).
fn count_error_names(watch: &Watch, batch: &RecordBatch) {
    let Some(names) = batch
        .column_by_name("ERROR_NAME")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
    else {
        return;
    };
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for i in 0..names.len() {
        if names.is_valid(i) {
            *counts.entry(names.value(i)).or_default() += 1;
        }
    }
    for (name, n) in counts {
        watch
            .metrics
            .error_rows
            .get_or_create(&ErrorLabel {
                application: watch.application.clone(),
                error_name: name.to_string(),
            })
            .inc_by(n);
    }
}
