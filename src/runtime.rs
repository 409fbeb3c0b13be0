//! The runtime: wires the planned pumps into a dataflow and drives it.
//!
//! [`Dataflow`] is synchronous: a source batch is pushed into its stream, flows through every
//! pump reading that stream (in pump order), and what a pump emits is delivered to its target
//! stream, recursively. A stream written by several pumps merges their rows in ROWTIME order,
//! releasing rows only up to the smallest bound of its writers. Progress (the ROWTIME bound)
//! follows the same paths, which is what closes windows.
//!
//! [`run`] is the only place with threads and channels: an input thread reads the input in
//! chunks of whole records and decodes them into Arrow batches, a tokio task waits for Ctrl-C,
//! and the calling thread runs the dataflow (every operator and sink) and, in live mode, raises
//! the bound from the wall clock when no data arrives. Decoding the next chunk while the dataflow
//! works on the current one is the only parallelism: the query itself runs on one thread.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::StreamKind;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, error_batch};
use crate::exec::stream_join::StreamJoin;
use crate::exec::{Emit, Operator, advance_with_bound, push_through, rowtime};
use crate::plan::Plan;

/// Where a stream's rows go outside the application.
pub trait Sink: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

struct StreamState {
    /// (pump, which of its inputs) for every pump input reading this stream.
    readers: Vec<(usize, usize)>,
    writers: Vec<usize>,
    bound: i64,
    sinks: Vec<Box<dyn Sink>>,
    /// For streams with several writers: rows waiting until every writer has passed them.
    queues: Vec<Vec<RecordBatch>>,
    writer_bounds: Vec<i64>,
}

struct PumpState {
    target: usize,
    /// The stages of each input before the join (empty for a one-input pump).
    inputs: Vec<Vec<Box<dyn Operator>>>,
    join: Option<StreamJoin>,
    /// The stages after the join (or the whole pump for one input).
    ops: Vec<Box<dyn Operator>>,
}

/// Counters shown in the progress line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rows_in: u64,
    pub rows_out: u64,
    pub errors: u64,
}

/// The running application.
pub struct Dataflow {
    streams: Vec<StreamState>,
    pumps: Vec<PumpState>,
    error_stream: usize,
    pending_errors: Vec<ErrorRow>,
    /// ERROR_TIME for errors raised now (the bound in replay, the wall clock in live mode).
    pub error_time: i64,
    /// Replay mode: errors are dated by their DATA_ROWTIME.
    pub replay: bool,
    pub stats: Stats,
}

impl Dataflow {
    /// Builds the operators of every pump; `tables` holds the loaded reference tables.
    pub fn new(plan: &Plan, tables: &HashMap<String, RecordBatch>) -> Result<Dataflow> {
        let mut streams: Vec<StreamState> = plan
            .catalog
            .streams
            .iter()
            .map(|_| StreamState {
                readers: vec![],
                writers: vec![],
                bound: i64::MIN,
                sinks: vec![],
                queues: vec![],
                writer_bounds: vec![],
            })
            .collect();
        let mut pumps = Vec::new();
        for i in plan.pump_order() {
            let p = &plan.pumps[i];
            let build = |ops: &[crate::plan::OperatorSpec]| {
                ops.iter()
                    .map(|o| o.build(tables))
                    .collect::<Result<Vec<_>>>()
            };
            let id = pumps.len();
            for (k, input) in p.inputs.iter().enumerate() {
                streams[input.source].readers.push((id, k));
            }
            streams[p.target].writers.push(id);
            pumps.push(PumpState {
                target: p.target,
                inputs: p
                    .inputs
                    .iter()
                    .map(|i| build(&i.ops))
                    .collect::<Result<_>>()?,
                join: p
                    .join
                    .as_ref()
                    .map(|j| StreamJoin::new(Arc::clone(j)))
                    .transpose()?,
                ops: build(&p.ops)?,
            });
        }
        for s in &mut streams {
            s.queues = vec![Vec::new(); s.writers.len()];
            s.writer_bounds = vec![i64::MIN; s.writers.len()];
        }
        let error_stream = plan
            .catalog
            .streams
            .iter()
            .position(|s| s.kind == StreamKind::Error)
            .expect("the catalog has error_stream");
        Ok(Dataflow {
            streams,
            pumps,
            error_stream,
            pending_errors: vec![],
            error_time: 0,
            replay: false,
            stats: Stats::default(),
        })
    }

    /// Sends a stream's rows to `sink` as well.
    pub fn add_sink(&mut self, stream: usize, sink: Box<dyn Sink>) {
        self.streams[stream].sinks.push(sink);
    }

    /// Records rows that could not be processed (written at the next flush).
    pub fn report(&mut self, errors: Vec<ErrorRow>) {
        self.pending_errors.extend(errors);
    }

    /// Pushes a source batch (columns + ROWTIME + trailing ROWTIME) into `stream`.
    pub fn push(&mut self, stream: usize, batch: RecordBatch) -> Result<()> {
        self.stats.rows_in += batch.num_rows() as u64;
        self.deliver(stream, batch)?;
        self.flush_errors()
    }

    /// Raises the ROWTIME bound of a source stream (`i64::MAX` at end of input).
    pub fn advance(&mut self, stream: usize, bound: i64) -> Result<()> {
        self.advance_stream(stream, bound)?;
        self.flush_errors()
    }

    /// Flushes sinks at the end of the run.
    pub fn finish(&mut self) -> Result<()> {
        self.flush_errors()?;
        for s in &mut self.streams {
            for sink in &mut s.sinks {
                sink.finish()?;
            }
        }
        Ok(())
    }

    /// Writes the error rows reported so far to error_stream's sinks.
    pub fn flush_errors(&mut self) -> Result<()> {
        if self.pending_errors.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.pending_errors);
        if self.replay {
            // Errors are dated by their rows' ROWTIME: keep error_stream in ROWTIME order.
            rows.sort_by_key(|r| r.data_rowtime.unwrap_or(self.error_time));
        }
        self.stats.errors += rows.len() as u64;
        let batch = error_batch(&rows, self.error_time, self.replay);
        for sink in &mut self.streams[self.error_stream].sinks {
            sink.write(&batch)?;
        }
        Ok(())
    }

    fn deliver(&mut self, stream: usize, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let is_output = !self.streams[stream].sinks.is_empty();
        for sink in &mut self.streams[stream].sinks {
            sink.write(&batch)?;
        }
        if is_output {
            self.stats.rows_out += batch.num_rows() as u64;
        }
        for (r, input) in self.streams[stream].readers.clone() {
            let pump = &mut self.pumps[r];
            let errors = &mut self.pending_errors;
            let result = match &mut pump.join {
                None => push_through(&mut pump.ops, batch.clone(), errors),
                Some(join) => {
                    let mut out = Emit::default();
                    for b in push_through(&mut pump.inputs[input], batch.clone(), errors)? {
                        join.push(input, b, &mut out)?;
                    }
                    errors.append(&mut out.errors);
                    Ok(vec![])
                }
            };
            for out in result? {
                self.emit(r, out)?;
            }
        }
        Ok(())
    }

    /// A pump produced `batch` for its target stream.
    fn emit(&mut self, pump: usize, batch: RecordBatch) -> Result<()> {
        let target = self.pumps[pump].target;
        let s = &mut self.streams[target];
        if s.writers.len() == 1 {
            return self.deliver(target, batch);
        }
        let w = s
            .writers
            .iter()
            .position(|x| *x == pump)
            .expect("pump writes this stream");
        s.queues[w].push(batch);
        Ok(())
    }

    fn advance_stream(&mut self, stream: usize, bound: i64) -> Result<()> {
        if bound <= self.streams[stream].bound {
            return Ok(());
        }
        self.streams[stream].bound = bound;
        for (r, input) in self.streams[stream].readers.clone() {
            let pump = &mut self.pumps[r];
            let errors = &mut self.pending_errors;
            let result = match &mut pump.join {
                None => advance_with_bound(&mut pump.ops, vec![], bound, errors),
                Some(join) => {
                    // The input's own stages, then the join, then the stages after it.
                    let (batches, input_bound) =
                        advance_with_bound(&mut pump.inputs[input], vec![], bound, errors)?;
                    let mut out = Emit::default();
                    for b in batches {
                        join.push(input, b, &mut out)?;
                    }
                    join.advance(input, input_bound, &mut out)?;
                    errors.append(&mut out.errors);
                    advance_with_bound(&mut pump.ops, out.batches, join.output_bound(), errors)
                }
            };
            let (batches, pump_bound) = result?;
            for out in batches {
                self.emit(r, out)?;
            }
            self.pump_progress(r, pump_bound)?;
        }
        Ok(())
    }

    /// A pump will emit nothing below `bound`: release merged rows and advance its target.
    fn pump_progress(&mut self, pump: usize, bound: i64) -> Result<()> {
        let target = self.pumps[pump].target;
        if self.streams[target].writers.len() == 1 {
            return self.advance_stream(target, bound);
        }
        let s = &mut self.streams[target];
        let w = s
            .writers
            .iter()
            .position(|x| *x == pump)
            .expect("pump writes this stream");
        s.writer_bounds[w] = bound;
        let release = *s.writer_bounds.iter().min().expect("at least one writer");
        if let Some(batch) = release_merged(&mut s.queues, release)? {
            self.deliver(target, batch)?;
        }
        self.advance_stream(target, release)
    }
}

/// Takes the queued rows with ROWTIME ≤ `upto` from every writer, in ROWTIME order
/// (ties keep writer order, then arrival order).
fn release_merged(queues: &mut [Vec<RecordBatch>], upto: i64) -> Result<Option<RecordBatch>> {
    let mut ready: Vec<RecordBatch> = Vec::new();
    for q in queues.iter_mut() {
        let mut keep = Vec::new();
        for b in q.drain(..) {
            let rt = rowtime(&b);
            let n = (0..b.num_rows())
                .take_while(|i| rt.value(*i) <= upto)
                .count();
            if n > 0 {
                ready.push(b.slice(0, n));
            }
            if n < b.num_rows() {
                keep.push(b.slice(n, b.num_rows() - n));
            }
        }
        *q = keep;
    }
    if ready.is_empty() {
        return Ok(None);
    }
    let merged = concat_batches(&ready[0].schema(), &ready)?;
    let order: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..merged.num_rows() as u32));
    let rt: ArrayRef = Arc::clone(merged.column(merged.num_columns() - 1));
    let indices = lexsort_to_indices(
        &[
            SortColumn {
                values: rt,
                options: None,
            },
            SortColumn {
                values: order,
                options: None,
            },
        ],
        None,
    )?;
    Ok(Some(take_record_batch(&merged, &indices)?))
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How much input is read at a time.
const CHUNK: usize = 1 << 20;

/// What the input thread sends: decoded chunks of input, the end, or why it stopped.
pub enum InputMessage {
    Chunk(Decoded),
    End,
    Failed(Error),
    Interrupted,
}

/// One chunk of whole records, decoded.
pub struct Decoded {
    pub batch: Option<RecordBatch>,
    pub errors: Vec<ErrorRow>,
    /// Records seen (good and bad).
    pub seen: u64,
    /// The wall clock when the chunk was decoded (live ROWTIMEs come from it).
    pub now: i64,
    /// The decoder's largest ROWTIME after this chunk.
    pub last_rowtime: i64,
}

/// Reads `input` on a thread and decodes it there, sending chunks of whole lines as batches: the
/// dataflow (on the calling thread) works on one chunk while the next is read and decoded. A
/// chunk is cut when it is large, or as soon as no more input is buffered (so a slow pipe is not
/// held back). At most a few chunks wait in the channel, so memory stays bounded.
pub fn spawn_reader(
    input: Box<dyn Read + Send>,
    mut decoder: Box<dyn ChunkDecoder + Send>,
) -> (Receiver<InputMessage>, SyncSender<InputMessage>) {
    let (tx, rx) = sync_channel::<InputMessage>(4);
    let reader_tx = tx.clone();
    spawn_named("rowtime-input", move || {
        let mut input = input;
        let mut send = |chunk: &[u8]| {
            let now = now_ms();
            let message = match decoder.decode(chunk, now) {
                Ok((batch, errors, seen)) => InputMessage::Chunk(Decoded {
                    batch,
                    errors,
                    seen,
                    now,
                    last_rowtime: decoder.last_rowtime(),
                }),
                Err(e) => InputMessage::Failed(e),
            };
            let failed = matches!(message, InputMessage::Failed(_));
            reader_tx.send(message).is_ok() && !failed
        };
        // Read blocks; decode the whole lines read so far and keep the partial last line for the
        // next block. A read returns what a pipe holds, so live input is not held back.
        // `buffer[..filled]` holds input not yet handed over (a partial last line). The buffer is
        // zeroed once, and grows only for a line longer than it.
        let mut buffer: Vec<u8> = vec![0; CHUNK];
        let mut filled = 0;
        loop {
            if buffer.len() - filled < CHUNK / 4 {
                buffer.resize(buffer.len() + CHUNK, 0);
            }
            let read = match input.read(&mut buffer[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = reader_tx.send(InputMessage::Failed(Error::io("input", e)));
                    return;
                }
            };
            if read == 0 {
                // End of input: the last line may lack its '\n'.
                if filled > 0 && !send(&buffer[..filled]) {
                    return;
                }
                let _ = reader_tx.send(InputMessage::End);
                return;
            }
            let new = filled..filled + read;
            filled += read;
            if let Some(end) = memchr::memrchr(b'\n', &buffer[new.clone()]) {
                let end = new.start + end + 1;
                if !send(&buffer[..end]) {
                    return;
                }
                buffer.copy_within(end..filled, 0);
                filled -= end;
            }
        }
    });
    (rx, tx)
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

/// Sends `Interrupted` on Ctrl-C (the one tokio task of the program).
pub fn watch_ctrl_c(tx: SyncSender<InputMessage>) {
    spawn_named("rowtime-ctrl-c", move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(InputMessage::Interrupted);
            }
        });
    });
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

/// Progress line on stderr (rows in, rows out, errors, rows/s).
pub struct Progress {
    started: Instant,
    last_draw: Instant,
    live: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last_draw: Instant::now(),
            live: std::io::stderr().is_terminal(),
        }
    }

    fn line(&self, stats: &Stats, records: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "rows in {records}, rows out {}, errors {}, {:.0} rows/s",
            stats.rows_out,
            stats.errors,
            records as f64 / secs
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

/// Runs the dataflow over one input until it ends (or Ctrl-C), then flushes every window.
pub fn run(
    dataflow: &mut Dataflow,
    source_stream: usize,
    decoder: Box<dyn ChunkDecoder + Send>,
    input: Box<dyn Read + Send>,
    show_progress: bool,
) -> Result<Stats> {
    let replay = decoder.is_replay();
    let (rx, tx) = spawn_reader(input, decoder);
    watch_ctrl_c(tx);
    let mut progress = Progress::new();
    let mut records = 0u64;
    dataflow.replay = replay;
    let tick = Duration::from_millis(100);
    loop {
        let message = rx.recv_timeout(tick);
        match message {
            Ok(InputMessage::Chunk(decoded)) => {
                records += decoded.seen;
                dataflow.error_time = if replay {
                    decoded.last_rowtime.max(0)
                } else {
                    decoded.now
                };
                dataflow.report(decoded.errors);
                if let Some(batch) = decoded.batch {
                    let last = rowtime(&batch).values().last().copied();
                    dataflow.push(source_stream, batch)?;
                    if let Some(last) = last {
                        dataflow.advance(source_stream, last)?;
                    }
                } else {
                    dataflow.flush_errors()?;
                }
            }
            Ok(InputMessage::End)
            | Ok(InputMessage::Interrupted)
            | Err(RecvTimeoutError::Disconnected) => break,
            Ok(InputMessage::Failed(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => {
                if !replay {
                    let now = now_ms();
                    dataflow.error_time = now;
                    dataflow.advance(source_stream, now)?;
                }
            }
        }
        if show_progress {
            progress.tick(&dataflow.stats, records);
        }
    }
    // End of input: every open window emits.
    dataflow.advance(source_stream, i64::MAX)?;
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
    use super::*;

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

    /// Counts the lines of each chunk it is given, and checks that chunks hold whole lines.
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl ChunkDecoder for Lines {
        fn decode(
            &mut self,
            chunk: &[u8],
            _now: i64,
        ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
            let text = std::str::from_utf8(chunk).expect("chunks end between lines");
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let seen = lines.len() as u64;
            self.0.lock().unwrap().extend(lines);
            Ok((None, vec![], seen))
        }
        fn is_replay(&self) -> bool {
            true
        }
        fn last_rowtime(&self) -> i64 {
            0
        }
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
        let (rx, _tx) = spawn_reader(Box::new(input), Box::new(Lines(seen.clone())));
        let mut records = 0;
        loop {
            match rx.recv().unwrap() {
                InputMessage::Chunk(d) => records += d.seen,
                InputMessage::End => break,
                InputMessage::Failed(e) => panic!("{e}"),
                InputMessage::Interrupted => panic!("interrupted"),
            }
        }
        assert_eq!(records, 2001);
        let expected: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
    }
}
