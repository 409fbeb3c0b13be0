//! The runtime: the only place with threads and channels. It drives a [`Dataflow`] (the planned
//! pumps as one synchronous graph, `dataflow.rs`) over the application's inputs.
//!
//! [`run`]: an input thread per input reads and decodes records into Arrow batches (`input.rs`),
//! a thread waits for Ctrl-C and SIGTERM, sinks deliver on threads of their own
//! ([`BackgroundSink`]), connectors' network calls run on one shared tokio runtime
//! ([`services`]), and the calling thread runs the dataflow (every operator) and, in live mode,
//! raises the bound from the wall clock when no data arrives. Decoding the next chunk while the
//! dataflow works on the current one is the only parallelism: the query itself runs on one
//! thread.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`run`], [`services`], signals, [`Progress`], [`spawn_named`] |
//! | `input.rs` | the input threads: lines of a file or stdin, a Kinesis stream |
//! | `background.rs` | [`BackgroundSink`]: a sink on a writer thread, with backpressure |
//! | `dataflow.rs` | [`Dataflow`]: streams, pumps, merging several writers of a stream by ROWTIME |
//! | `checkpoint.rs` | [`Checkpoint`]s in the state directory: written atomically, checked on resume |
//!
//! Tests: `cargo test --lib runtime`, and every test that runs the binary.

mod background;
pub mod checkpoint;
mod dataflow;
mod input;

pub use background::BackgroundSink;
pub use checkpoint::{Checkpoint, Identity, InputPosition, LinesPosition, StateDir};
pub use dataflow::{Dataflow, Delivery, Observer, Stats};
pub use input::{Decoded, Input, InputMessage, PreprocessSpec};

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use crate::catalog::rowtime;
use crate::connectors::reference::{LoadedTable, ReferenceSource};
use crate::error::Result;
use crate::error_stream::{ErrorRow, REFERENCE_DATA_ERROR};
use crate::time::now_ms;

/// The tokio runtime the connectors' network calls run on (AWS SDK, S3): two worker threads,
/// started the first time a connector needs them.
pub fn services() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rowtime-io")
            .enable_all()
            .build()
            .expect("the operating system starts the service threads")
    })
}

/// Runs `service` (an HTTP server: the console, the metrics endpoint) on a thread of its own
/// with a single-threaded tokio runtime, apart from the connectors' [`services`], so that a
/// request may wait on them.
pub fn serve(name: &str, service: impl std::future::Future<Output = ()> + Send + 'static) {
    spawn_named(name, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the operating system gives the server its runtime");
        rt.block_on(service);
    });
}

/// Starts a thread with a name (shown by `top -H`, `perf` and debuggers).
pub fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("the operating system starts a thread")
}

/// The next delivery of a signal; never without its handler.
#[cfg(unix)]
async fn delivered(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Set by a SIGTERM or SIGINT that came before [`watch_signals`] watched for them.
static EARLY_STOP: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

/// Called first by a command that will stop cleanly on SIGTERM and Ctrl-C: a signal that comes
/// while it is still starting (planning, connecting) is kept, and the run stops cleanly as soon
/// as it watches for signals, instead of the process dying at once. A second one (during the
/// start, or while the run finishes) ends the process with the shell's code for the signal
/// (143 for SIGTERM, 130 for SIGINT), so a start or a flush that hangs can still be stopped.
pub fn catch_stop_signals_early() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let flag = EARLY_STOP.get_or_init(Default::default);
        for s in [SIGTERM, SIGINT] {
            // The order matters: a signal with the flag already set ends the process, then
            // the flag is set.
            let _ = signal_hook::flag::register_conditional_shutdown(s, 128 + s, flag.clone());
            let _ = signal_hook::flag::register(s, flag.clone());
        }
    }
}

/// Sends `Interrupted` on Ctrl-C (SIGINT) or SIGTERM: both stop the run as the end of input
/// does (windows flush, sinks finish, exit 0); also at once when one came before (see
/// [`catch_stop_signals_early`]). Sends `Hangup` on each SIGHUP.
pub fn watch_signals(tx: SyncSender<InputMessage>) {
    spawn_named("rowtime-signals", move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            if let Ok(mut hangups) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        if tx.send(InputMessage::Hangup).is_err() {
                            return;
                        }
                    }
                });
            }
            // Both handlers are registered before the early flag is read, so a signal comes
            // through one or the other.
            #[cfg(unix)]
            let stops = {
                use tokio::signal::unix::{SignalKind, signal};
                (
                    signal(SignalKind::terminate()).ok(),
                    signal(SignalKind::interrupt()).ok(),
                )
            };
            let early = EARLY_STOP
                .get()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst));
            if !early {
                #[cfg(unix)]
                {
                    let (mut terminate, mut interrupt) = stops;
                    tokio::select! {
                        _ = delivered(terminate.as_mut()) => {}
                        _ = delivered(interrupt.as_mut()) => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            }
            let _ = tx.send(InputMessage::Interrupted);
        });
    });
}

/// Progress line on stderr (rows in, rows out, errors, rows/s).
pub struct Progress {
    started: Instant,
    last_draw: Instant,
    live: bool,
    /// Records counted before this run (resumed from a checkpoint): not in the rate.
    pub earlier: u64,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last_draw: Instant::now(),
            earlier: 0,
            live: std::io::stderr().is_terminal(),
        }
    }

    fn line(&self, stats: &Stats, records: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "rows in {records}, rows out {}, errors {}, {:.0} rows/s",
            stats.rows_out,
            stats.errors,
            records.saturating_sub(self.earlier) as f64 / secs
        )
    }

    pub fn tick(&mut self, stats: &Stats, records: u64) {
        if self.live && self.last_draw.elapsed() >= Duration::from_millis(250) {
            self.last_draw = Instant::now();
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K{}", self.line(stats, records));
            let _ = err.flush();
        }
    }

    pub fn done(&self, stats: &Stats, records: u64) {
        let mut err = std::io::stderr();
        if self.live {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "rowtime: {}", self.line(stats, records));
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// Swaps in a reference table's new rows, or reports why a reload failed (the old rows stay).
fn reload_table(
    dataflow: &mut Dataflow,
    name: &str,
    location: &str,
    reloaded: Result<Option<LoadedTable>>,
    replay: bool,
) -> Result<()> {
    match reloaded {
        Ok(None) => Ok(()),
        Ok(Some(table)) => {
            dataflow.replace_table(name, &table.batch)?;
            if let Some(o) = &dataflow.observer {
                o.table(name, table.batch.num_rows());
            }
            eprintln!(
                "rowtime: reference table {name} reloaded from {location} ({} rows)",
                table.batch.num_rows()
            );
            dataflow.report(table.errors);
            dataflow.flush_errors()
        }
        Err(e) => {
            eprintln!(
                "rowtime: reference table {name}: the reload failed, keeping the rows it had: {e}"
            );
            if !replay {
                dataflow.error_time = now_ms();
            }
            dataflow.report(vec![ErrorRow {
                name: REFERENCE_DATA_ERROR,
                message: format!(
                    "reference table {name}: reloading {location} failed; the table keeps its earlier rows: {e}"
                ),
                data_rowtime: None,
                data_row: Vec::new(),
                pump: None,
            }]);
            dataflow.flush_errors()
        }
    }
}

/// How a run reports itself, and what it reloads.
#[derive(Default)]
pub struct RunOptions {
    /// Draw the progress line on stderr (when it is a terminal) and print a summary at the end.
    pub show_progress: bool,
    /// The reference tables' sources, reloaded on SIGHUP and every `reference_refresh`.
    pub references: Vec<ReferenceSource>,
    /// `--reference-refresh`: how often the reference tables are looked at again.
    pub reference_refresh: Option<Duration>,
    /// `--state-dir`: take checkpoints.
    pub checkpoints: Option<Checkpoints>,
    /// Orders from outside the run (the console's Save and run), looked at between batches.
    pub control: Option<Receiver<Control>>,
}

/// An order to a running [`run`].
pub enum Control {
    /// Go on with this dataflow (new application code, sinks bound, observer set) instead: the
    /// inputs keep flowing into it, the old one's sinks are finished and its state is dropped.
    /// `done` is told once the new one runs.
    Replace {
        dataflow: Box<Dataflow>,
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// How a run takes checkpoints, and where it started from.
pub struct Checkpoints {
    pub dir: StateDir,
    pub identity: Identity,
    /// `--checkpoint-interval`.
    pub interval: Duration,
    /// The checkpoint the run resumed from, if it did.
    pub resumed: Option<Checkpoint>,
}

/// What the next checkpoint needs to know of the inputs, kept as their chunks are processed.
struct Tracker {
    settings: Checkpoints,
    positions: Vec<Option<InputPosition>>,
    /// Every chunk of the input's current read has been processed (a Kinesis round's positions
    /// come with its last chunk: in between, the state is ahead of them).
    consistent: Vec<bool>,
    last_rowtimes: BTreeMap<usize, i64>,
    sequence: u64,
    last: Instant,
    /// A checkpoint was taken in this run.
    taken: bool,
}

impl Tracker {
    fn new(settings: Checkpoints, inputs: usize) -> Tracker {
        let (positions, last_rowtimes, sequence) = match &settings.resumed {
            Some(c) => (
                c.inputs.clone(),
                c.last_rowtimes.iter().copied().collect(),
                c.sequence,
            ),
            None => (vec![None; inputs], BTreeMap::new(), 0),
        };
        Tracker {
            settings,
            positions,
            consistent: vec![true; inputs],
            last_rowtimes,
            sequence,
            last: Instant::now(),
            taken: false,
        }
    }

    fn note(&mut self, input: usize, stream: usize, decoded: &Decoded) {
        self.last_rowtimes.insert(stream, decoded.last_rowtime);
        match &decoded.position {
            Some(p) => {
                self.positions[input] = Some(p.clone());
                self.consistent[input] = true;
            }
            None => self.consistent[input] = false,
        }
    }

    fn consistent(&self) -> bool {
        self.consistent.iter().all(|c| *c)
    }

    /// Every interval; and once as soon as every input has said where it starts, so that the
    /// starting point itself is kept.
    fn due(&self) -> bool {
        let started = self.positions.iter().all(Option::is_some);
        self.consistent()
            && (self.last.elapsed() >= self.settings.interval || (!self.taken && started))
    }

    /// Takes a checkpoint. `finished`: after the end of the input (windows emitted, operators
    /// not kept). `deliver`: a stop, so sinks deliver what they buffer first.
    fn take(
        &mut self,
        dataflow: &mut Dataflow,
        records: u64,
        finished: bool,
        deliver: bool,
    ) -> Result<()> {
        let started = Instant::now();
        let sinks = dataflow.checkpoint_sinks(deliver)?;
        // The records read so far, for the resumed run's progress line.
        dataflow.stats.rows_in = records;
        let state = if finished {
            None
        } else {
            Some(dataflow.snapshot()?)
        };
        self.sequence += 1;
        self.settings.dir.write(&Checkpoint {
            identity: self.settings.identity.clone(),
            sequence: self.sequence,
            finished,
            inputs: self.positions.clone(),
            last_rowtimes: self.last_rowtimes.iter().map(|(s, t)| (*s, *t)).collect(),
            dataflow: state,
            sinks,
        })?;
        self.last = Instant::now();
        self.taken = true;
        if let Some(o) = &dataflow.observer {
            o.checkpoint(started.elapsed());
        }
        Ok(())
    }
}

/// Runs the dataflow over its inputs until every input ends (or Ctrl-C / SIGTERM), then
/// flushes every window and finishes the sinks. With checkpoints, one is taken every interval
/// and at the end; Ctrl-C and SIGTERM then keep the open windows in a last checkpoint instead of
/// flushing them, so that the resumed run goes on as if never stopped.
pub fn run(dataflow: &mut Dataflow, inputs: Vec<Input>, options: RunOptions) -> Result<Stats> {
    let replay = inputs.iter().any(Input::is_replay);
    // Every source stream advances with the clock in live mode and to the end at the end, fed
    // or not: a stream that receives nothing must not hold back the streams merged with it.
    let sources: Vec<usize> = dataflow.sources().to_vec();
    let (tx, rx) = sync_channel::<InputMessage>(4);
    let mut open_inputs = inputs.len();
    let mut tracker = options.checkpoints.map(|c| Tracker::new(c, inputs.len()));
    for (id, input) in inputs.into_iter().enumerate() {
        input::spawn(id, input, tx.clone());
    }
    let (reload, reloads) = sync_channel::<()>(1);
    if !options.references.is_empty() {
        input::spawn_reference_reloads(
            options.references,
            options.reference_refresh,
            reloads,
            tx.clone(),
        );
    }
    watch_signals(tx);
    let mut progress = Progress::new();
    // Resumed from a checkpoint: counted on from the records read before it.
    let mut records = dataflow.stats.rows_in;
    progress.earlier = records;
    dataflow.replay = replay;
    let tick = Duration::from_millis(100);
    // Ctrl-C or SIGTERM came: with checkpoints, the run stops once its inputs stand at a point
    // a checkpoint can hold.
    let mut stopping = false;
    let mut last_held = Instant::now();
    while open_inputs > 0 {
        let message = rx.recv_timeout(tick);
        match message {
            Ok(InputMessage::Chunk {
                input,
                stream,
                decoded,
            }) => {
                if let Some(t) = &mut tracker {
                    t.note(input, stream, &decoded);
                }
                records += decoded.seen;
                if let Some(o) = &dataflow.observer {
                    o.input(stream, &decoded);
                }
                dataflow.error_time = if replay {
                    decoded.last_rowtime.max(0)
                } else {
                    decoded.now
                };
                dataflow.report(decoded.errors);
                if let Some(batch) = decoded.batch {
                    let last = rowtime(&batch).values().last().copied();
                    dataflow.push(stream, batch)?;
                    if let Some(last) = last {
                        dataflow.advance(stream, last)?;
                    }
                } else {
                    dataflow.flush_errors()?;
                }
            }
            Ok(InputMessage::End) => open_inputs -= 1,
            Ok(InputMessage::Hangup) => {
                // A reload already asked for is as good as a new one.
                let _ = reload.try_send(());
            }
            Ok(InputMessage::Table {
                name,
                location,
                reloaded,
            }) => reload_table(dataflow, &name, &location, reloaded, replay)?,
            Ok(InputMessage::Interrupted) | Err(RecvTimeoutError::Disconnected) => {
                dataflow.stats.interrupted = true;
                if tracker.is_none() {
                    break;
                }
                stopping = true;
            }
            Ok(InputMessage::Failed(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => {
                if !replay {
                    let now = now_ms();
                    dataflow.error_time = now;
                    for s in &sources {
                        dataflow.advance(*s, now)?;
                    }
                }
            }
        }
        dataflow.collect_rejected()?;
        if let Some(control) = &options.control {
            while let Ok(order) = control.try_recv() {
                match order {
                    Control::Replace {
                        dataflow: new,
                        done,
                    } => {
                        replace(dataflow, *new, replay)?;
                        let _ = done.send(());
                    }
                }
            }
        }
        if options.show_progress {
            progress.tick(&dataflow.stats, records);
        }
        if let Some(o) = &dataflow.observer
            && last_held.elapsed() >= Duration::from_secs(1)
        {
            o.held(&dataflow.held());
            last_held = Instant::now();
        }
        if let Some(t) = &mut tracker {
            if stopping && t.consistent() {
                // Stopped: the open windows wait in the checkpoint for the resumed run.
                t.take(dataflow, records, false, true)?;
                return stop(dataflow, &progress, options.show_progress, records);
            }
            if t.due() {
                t.take(dataflow, records, false, false)?;
            }
        }
    }
    // End of input: every open window emits.
    for s in &sources {
        dataflow.advance(*s, i64::MAX)?;
    }
    if let Some(t) = &mut tracker {
        t.take(dataflow, records, true, true)?;
    }
    if let Some(o) = &dataflow.observer {
        o.held(&dataflow.held());
    }
    stop(dataflow, &progress, options.show_progress, records)
}

/// Swaps in a new dataflow between two batches: the old one's sinks deliver what they hold and
/// finish, its open windows are dropped (as KDA's UpdateApplication starts state afresh), and
/// the new one starts at the bounds the sources had reached.
fn replace(dataflow: &mut Dataflow, mut new: Dataflow, replay: bool) -> Result<()> {
    dataflow.finish()?;
    new.replay = replay;
    new.error_time = dataflow.error_time;
    new.stats = dataflow.stats;
    *dataflow = new;
    dataflow.flush_errors()
}

/// Finishes the sinks and reports the run.
fn stop(
    dataflow: &mut Dataflow,
    progress: &Progress,
    show_progress: bool,
    records: u64,
) -> Result<Stats> {
    dataflow.finish()?;
    let mut stats = dataflow.stats;
    stats.rows_in = records;
    if show_progress {
        progress.done(&stats, records);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;
    use crate::connectors::ChunkDecoder;
    use crate::error_stream::ErrorRow;

    /// Returns its bytes a few at a time, as a slow pipe does.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.step = self.step % 7 + 1;
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Keeps the records of each chunk it is given, split at `delimiter` ("\n": lines), and
    /// checks that chunks hold whole records (each chunk is valid UTF-8 on its own).
    struct Records {
        delimiter: &'static str,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl ChunkDecoder for Records {
        fn decode(
            &mut self,
            chunk: &[u8],
            _now: i64,
        ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
            let text = std::str::from_utf8(chunk).expect("chunks end between records");
            let records: Vec<String> = match self.delimiter {
                "\n" => text.lines().map(str::to_string).collect(),
                d => text
                    .split(d)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect(),
            };
            let n = records.len() as u64;
            self.seen.lock().unwrap().extend(records);
            Ok((None, vec![], n))
        }
        fn decode_records(
            &mut self,
            _: &[crate::connectors::SourceRecord],
            _: i64,
        ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
            unreachable!("the input thread reads a file")
        }
        fn is_replay(&self) -> bool {
            true
        }
        fn last_rowtime(&self) -> i64 {
            0
        }
        fn resume(&mut self, _: i64) {}
    }

    #[test]
    fn records_with_a_two_byte_delimiter_arrive_whole_however_the_reads_cut_them() {
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("r{i},é<>"));
        }
        text.push_str("last");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = sync_channel(4);
        input::spawn(
            0,
            Input::Lines {
                reader: Box::new(Trickle {
                    data: text.clone().into_bytes(),
                    at: 0,
                    step: 0,
                }),
                delimiter: b"<>".to_vec(),
                decoders: vec![(
                    0,
                    Box::new(Records {
                        delimiter: "<>",
                        seen: seen.clone(),
                    }),
                )],
                start: LinesPosition::default(),
            },
            tx,
        );
        loop {
            match rx.recv().unwrap() {
                InputMessage::Chunk { .. } => {}
                InputMessage::End => break,
                InputMessage::Failed(e) => panic!("{e}"),
                _ => panic!("the reader sends chunks and the end only"),
            }
        }
        let expected: Vec<String> = text.split("<>").map(str::to_string).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
    }

    #[test]
    fn the_input_thread_hands_over_whole_lines_and_the_last_unterminated_one() {
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!("{{\"n\":{i},\"é\":\"ü\"}}\r\n"));
        }
        text.push_str("last line without newline");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let input = Trickle {
            data: text.clone().into_bytes(),
            at: 0,
            step: 0,
        };
        let (tx, rx) = sync_channel(4);
        input::spawn(
            0,
            Input::Lines {
                reader: Box::new(input),
                delimiter: b"\n".to_vec(),
                decoders: vec![(
                    0,
                    Box::new(Records {
                        delimiter: "\n",
                        seen: seen.clone(),
                    }),
                )],
                start: LinesPosition::default(),
            },
            tx,
        );
        let mut records = 0;
        loop {
            match rx.recv().unwrap() {
                InputMessage::Chunk { decoded, .. } => records += decoded.seen,
                InputMessage::End => break,
                InputMessage::Failed(e) => panic!("{e}"),
                _ => panic!("the line reader sends chunks and the end only"),
            }
        }
        assert_eq!(records, 2001);
        let expected: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
    }
}
