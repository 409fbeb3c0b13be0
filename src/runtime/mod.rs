//! The runtime: the only place with threads and channels. It drives a [`Dataflow`] (the planned
//! pumps as one synchronous graph, `dataflow.rs`) over the application's input.
//!
//! [`run`]: an input thread reads the input in chunks of whole records and decodes them into
//! Arrow batches, a thread waits for Ctrl-C, file and terminal sinks write on a thread of their
//! own ([`BackgroundSink`]), and the calling thread runs the dataflow (every operator) and, in
//! live mode, raises the bound from the wall clock when no data arrives. Decoding the next chunk
//! while the dataflow works on the current one is the only parallelism: the query itself runs
//! on one thread.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`run`], the input thread, Ctrl-C, [`Progress`], [`BackgroundSink`], [`spawn_named`] |
//! | `dataflow.rs` | [`Dataflow`]: streams, pumps, merging several writers of a stream by ROWTIME |
//!
//! Tests: `cargo test --lib runtime`, and every test that runs the binary.

mod dataflow;

pub use dataflow::{Dataflow, Stats};

use std::io::{IsTerminal, Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::rowtime;
use crate::connectors::{ChunkDecoder, Sink};
use crate::error::{Error, Result};
use crate::error_stream::ErrorRow;
use crate::time::now_ms;

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

/// Formats and writes on a thread of its own, so the dataflow does not wait for its output. At
/// most a few batches wait in between (memory stays bounded); a write error comes back at the
/// next `write` or at `finish`.
pub struct BackgroundSink {
    tx: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    writer: Option<std::thread::JoinHandle<Result<()>>>,
}

impl BackgroundSink {
    pub fn new(mut inner: Box<dyn Sink>) -> BackgroundSink {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(8);
        let writer = spawn_named("rowtime-writer", move || {
            for batch in rx {
                inner.write(&batch)?;
            }
            inner.finish()
        });
        BackgroundSink {
            tx: Some(tx),
            writer: Some(writer),
        }
    }

    /// Waits for the writer thread and returns how it ended.
    fn join(&mut self) -> Result<()> {
        self.tx = None;
        match self.writer.take().map(|w| w.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(Error::Application(
                "the output writer thread panicked".into(),
            )),
        }
    }
}

impl Sink for BackgroundSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(batch.clone()).is_ok());
        if sent {
            return Ok(());
        }
        // The writer stopped: report why.
        self.join()?;
        Err(Error::Application("the output writer has stopped".into()))
    }

    fn finish(&mut self) -> Result<()> {
        self.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is given; fails on the batch numbered `fail_at`.
    struct Recording {
        rows: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
        fail_at: Option<usize>,
        finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl Sink for Recording {
        fn write(&mut self, batch: &RecordBatch) -> Result<()> {
            let mut rows = self.rows.lock().unwrap();
            if Some(rows.len()) == self.fail_at {
                return Err(Error::io("out.jsonl", std::io::Error::other("disk full")));
            }
            rows.push(batch.num_rows());
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.finished
                .store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    fn batch(n: usize) -> RecordBatch {
        use datafusion::arrow::array::Int32Array;
        let a = std::sync::Arc::new(Int32Array::from(vec![1; n]));
        RecordBatch::try_from_iter([("X", a as datafusion::arrow::array::ArrayRef)]).unwrap()
    }

    #[test]
    fn background_sink_writes_everything_in_order_and_reports_errors() {
        let rows = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let recording = |fail_at| Recording {
            rows: rows.clone(),
            fail_at,
            finished: finished.clone(),
        };
        let mut sink = BackgroundSink::new(Box::new(recording(None)));
        for n in 1..=100 {
            sink.write(&batch(n)).unwrap();
        }
        sink.finish().unwrap();
        assert_eq!(*rows.lock().unwrap(), (1..=100).collect::<Vec<_>>());
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));

        rows.lock().unwrap().clear();
        finished.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut sink = BackgroundSink::new(Box::new(recording(Some(3))));
        // The failure comes back at a later write or at finish, never lost.
        let outcome = (0..100)
            .map(|n| sink.write(&batch(n + 1)))
            .find(|r| r.is_err())
            .unwrap_or_else(|| sink.finish());
        let err = outcome
            .expect_err("the write error is reported")
            .to_string();
        assert!(err.contains("disk full"), "{err}");
        assert_eq!(*rows.lock().unwrap(), [1, 2, 3]);
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst));
    }

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
        fn decode_records(
            &mut self,
            _: &[crate::connectors::SourceRecord],
            _: i64,
        ) -> Result<(Option<RecordBatch>, Vec<ErrorRow>, u64)> {
            unreachable!("the input thread reads lines")
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
