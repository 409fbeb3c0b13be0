//! The input threads: each reads one input, decodes its records into source-stream batches and
//! sends them to the dataflow. At most a few chunks wait in the channel, so memory stays bounded
//! and a slow dataflow holds the readers back.
//!
//! - [`Input::Lines`]: a file, stdin or a followed file, read in blocks of 1 MB; a chunk of whole
//!   lines is decoded and sent as soon as a read returns, so a slow pipe is not held back.
//! - [`Input::Kinesis`]: a Kinesis stream polled on the shared service runtime; what each round
//!   of polling read is decoded per in-application stream.

use std::io::Read;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;

use super::checkpoint::{InputPosition, LinesPosition};
use super::{services, spawn_named};
use crate::connectors::kinesis::{KinesisOptions, KinesisSource, Polled};
use crate::connectors::preprocess::{InputRecord, Preprocessor, RecordResult};
use crate::connectors::reference::{LoadedTable, ReferenceSource};
use crate::connectors::source::split_delimited;
use crate::connectors::{ChunkDecoder, SourceRecord};
use crate::error::{Error, Result};
use crate::error_stream::ErrorRow;
use crate::time::now_ms;

/// How much input is read at a time.
const CHUNK: usize = 1 << 20;

/// Where a run's records come from.
// One value per input of a run, moved once into its thread: the Kinesis variant's size (the SDK
// configuration) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Input {
    /// Whole lines from a reader (a file, stdin, a followed file). `decoders[i]` decodes for
    /// in-application stream `i` (its catalog index first): with several (`InputParallelism`),
    /// record `n` (counting the non-blank lines from the start of the input) goes to stream
    /// `n mod N`, as a Kinesis stream's shards are spread over them.
    Lines {
        reader: Box<dyn Read + Send>,
        /// What ends a record: a newline, or a CSV schema's `RecordRowDelimiter`.
        delimiter: Vec<u8>,
        decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
        /// Where the reader starts (past the start when resuming from a checkpoint).
        start: LinesPosition,
    },
    /// A Kinesis data stream; `decoders[i]` decodes for in-application stream `i` (its index in
    /// the catalog is the first element).
    Kinesis {
        config: Box<aws_config::SdkConfig>,
        options: KinesisOptions,
        decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
        /// `InputProcessingConfiguration`: records go through this Lambda before decoding.
        preprocess: Option<PreprocessSpec>,
    },
}

/// An input-preprocessing Lambda.
#[derive(Debug, Clone)]
pub struct PreprocessSpec {
    /// The function's name or ARN.
    pub function: String,
    /// The application's ARN (the request's `applicationArn`).
    pub application_arn: String,
}

impl Input {
    /// True in replay mode (ROWTIME from a column).
    pub fn is_replay(&self) -> bool {
        match self {
            Input::Lines { decoders, .. } => decoders.iter().any(|(_, d)| d.is_replay()),
            Input::Kinesis { decoders, .. } => decoders.iter().any(|(_, d)| d.is_replay()),
        }
    }

    /// The catalog indexes of the source streams it feeds.
    pub fn streams(&self) -> Vec<usize> {
        match self {
            Input::Lines { decoders, .. } => decoders.iter().map(|(s, _)| *s).collect(),
            Input::Kinesis { decoders, .. } => decoders.iter().map(|(s, _)| *s).collect(),
        }
    }
}

/// Starts the thread that looks at the reference tables again every `every` (if given) and on
/// each message of `reload` (SIGHUP), sending what it finds.
pub fn spawn_reference_reloads(
    mut sources: Vec<ReferenceSource>,
    every: Option<Duration>,
    reload: Receiver<()>,
    tx: SyncSender<InputMessage>,
) {
    spawn_named("rowtime-reference", move || {
        loop {
            let woke = match every {
                Some(d) => reload.recv_timeout(d),
                None => reload.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            if woke == Err(RecvTimeoutError::Disconnected) {
                return;
            }
            for source in &mut sources {
                let reloaded = services().block_on(source.refresh());
                let message = InputMessage::Table {
                    name: source.name().to_string(),
                    location: source.location(),
                    reloaded,
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
        }
    });
}

/// What an input thread sends.
pub enum InputMessage {
    /// Decoded records of input `input` for source stream `stream` (its catalog index).
    Chunk {
        input: usize,
        stream: usize,
        decoded: Decoded,
    },
    /// One input has ended.
    End,
    Failed(Error),
    /// Ctrl-C or SIGTERM: stop as at the end of input.
    Interrupted,
    /// SIGHUP: reload the reference tables now (KDA's "synchronize reference data").
    Hangup,
    /// A reference table was looked at again: its new rows (`None`: unchanged), or why not.
    Table {
        name: String,
        location: String,
        reloaded: Result<Option<LoadedTable>>,
    },
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
    /// Where the input stands after this chunk, when it can be read again from there (a
    /// Kinesis round's positions travel with its last chunk).
    pub position: Option<InputPosition>,
    /// For a Kinesis input: how far behind the stream's tip the slowest shard is.
    pub behind_ms: Option<i64>,
    /// The bytes of the records in this chunk (their delimiters included).
    pub bytes: u64,
    /// The chunk's last few records as read (at most [`TAIL_RECORDS`]), for the console.
    pub tail: Vec<Vec<u8>>,
    /// With an input-preprocessing Lambda: its counters so far (KDA's `InputProcessing.*`).
    pub preprocess: Option<crate::connectors::preprocess::PreprocessStats>,
}

/// How many of a chunk's last records travel with it as read.
pub const TAIL_RECORDS: usize = 10;

/// The last records of a chunk of delimited records, oldest first.
fn tail_of(chunk: &[u8], delimiter: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut end = chunk.len();
    if chunk.ends_with(delimiter) {
        end -= delimiter.len();
    }
    while out.len() < TAIL_RECORDS && end > 0 {
        let start =
            memchr::memmem::rfind(&chunk[..end], delimiter).map_or(0, |i| i + delimiter.len());
        let record = &chunk[start..end];
        let record = record.strip_suffix(b"\r").unwrap_or(record);
        if !record.iter().all(u8::is_ascii_whitespace) {
            out.push(record.to_vec());
        }
        end = start.saturating_sub(delimiter.len());
        if start == 0 {
            break;
        }
    }
    out.reverse();
    out
}

/// Starts the thread that reads `input` (the run's input number `id`) and sends what it decodes
/// to `tx`.
pub fn spawn(id: usize, input: Input, tx: SyncSender<InputMessage>) {
    match input {
        Input::Lines {
            reader,
            delimiter,
            decoders,
            start,
        } => spawn_lines(id, (reader, start), delimiter, decoders, tx),
        Input::Kinesis {
            config,
            options,
            decoders,
            preprocess,
        } => {
            spawn_named("rowtime-kinesis", move || {
                let failed = tx.clone();
                let read = read_kinesis(id, *config, options, decoders, preprocess, tx);
                if let Err(e) = services().block_on(read) {
                    let _ = failed.send(InputMessage::Failed(e));
                }
            });
        }
    }
}

fn spawn_lines(
    id: usize,
    (mut input, start): (Box<dyn Read + Send>, LinesPosition),
    delimiter: Vec<u8>,
    mut decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
    tx: SyncSender<InputMessage>,
) {
    spawn_named("rowtime-input", move || {
        // Where the input stands after the last chunk handed over.
        let mut at = start;
        // With several streams: each one's lines of the chunk.
        let mut parts: Vec<Vec<u8>> = vec![Vec::new(); decoders.len()];
        let mut send = |chunk: &[u8]| {
            at.offset += chunk.len() as u64;
            let n = decoders.len();
            if n > 1 {
                for part in parts.iter_mut() {
                    part.clear();
                }
                let mut records = Vec::new();
                split_delimited(chunk, &delimiter, &mut records);
                for record in records {
                    let part = &mut parts[(at.records % n as u64) as usize];
                    part.extend_from_slice(record);
                    part.extend_from_slice(&delimiter);
                    at.records += 1;
                }
            }
            for (i, (stream, decoder)) in decoders.iter_mut().enumerate() {
                let now = now_ms();
                let lines = if n > 1 { &parts[i][..] } else { chunk };
                let last = i + 1 == n;
                let message = match decoder.decode(lines, now) {
                    Ok((batch, errors, seen)) => InputMessage::Chunk {
                        input: id,
                        stream: *stream,
                        decoded: Decoded {
                            batch,
                            errors,
                            seen,
                            now,
                            last_rowtime: decoder.last_rowtime(),
                            // The position covers the whole chunk: it comes with its last part.
                            position: last.then_some(InputPosition::Lines(at)),
                            behind_ms: None,
                            bytes: lines.len() as u64,
                            tail: tail_of(lines, &delimiter),
                            preprocess: None,
                        },
                    },
                    Err(e) => InputMessage::Failed(e),
                };
                let failed = matches!(message, InputMessage::Failed(_));
                if tx.send(message).is_err() || failed {
                    return false;
                }
            }
            true
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
                    let _ = tx.send(InputMessage::Failed(Error::io("input", e)));
                    return;
                }
            };
            if read == 0 {
                // End of input: the last line may lack its '\n'.
                if filled > 0 && !send(&buffer[..filled]) {
                    return;
                }
                let _ = tx.send(InputMessage::End);
                return;
            }
            let new = filled..filled + read;
            filled += read;
            // The end of the last whole record (a delimiter may straddle two reads).
            let from = new.start.saturating_sub(delimiter.len() - 1);
            let last = match delimiter.as_slice() {
                [d] => memchr::memrchr(*d, &buffer[from..filled]),
                d => memchr::memmem::rfind(&buffer[from..filled], d),
            };
            if let Some(end) = last {
                let end = from + end + delimiter.len();
                if !send(&buffer[..end]) {
                    return;
                }
                buffer.copy_within(end..filled, 0);
                filled -= end;
            }
        }
    });
}

/// Polls a Kinesis stream until it ends (with `until_latest`) or the run stops.
async fn read_kinesis(
    id: usize,
    config: aws_config::SdkConfig,
    options: KinesisOptions,
    mut decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
    preprocess: Option<PreprocessSpec>,
    tx: SyncSender<InputMessage>,
) -> Result<()> {
    let mut source = KinesisSource::open(&config, options).await?;
    let preprocessor = match preprocess {
        Some(spec) => Some(Preprocessor::new(
            &config,
            &spec.function,
            &spec.application_arn,
            &source.stream_arn().await,
        )?),
        None => None,
    };
    // Where every shard starts, before anything is read: a checkpoint can keep the starting
    // point at once, so a run stopped before its first read resumes there (not at a new NOW).
    let (stream, decoder) = &decoders[0];
    let start = InputMessage::Chunk {
        input: id,
        stream: *stream,
        decoded: Decoded {
            batch: None,
            errors: Vec::new(),
            seen: 0,
            now: now_ms(),
            last_rowtime: decoder.last_rowtime(),
            position: Some(InputPosition::Kinesis(source.positions())),
            behind_ms: None,
            bytes: 0,
            tail: Vec::new(),
            preprocess: preprocessor.as_ref().map(Preprocessor::stats),
        },
    };
    if tx.send(start).is_err() {
        return Ok(());
    }
    while let Some(polled) = source.next().await? {
        let positions = source.positions();
        let behind = source.millis_behind_latest();
        let last = polled.len();
        for (i, p) in polled.into_iter().enumerate() {
            let at = p.stream.min(decoders.len() - 1);
            let (records, mut failed) = match &preprocessor {
                None => (
                    p.records.iter().map(|r| r.source_record()).collect(),
                    vec![],
                ),
                Some(pre) => preprocessed(pre, &p).await,
            };
            let now = now_ms();
            let (stream, decoder) = &mut decoders[at];
            let (batch, mut errors, seen) = decoder.decode_records(&records, now)?;
            let bytes = p.records.iter().map(|r| r.data.len() as u64).sum();
            // A record the function failed counts as seen, and is dated as the others now.
            let seen = seen + failed.len() as u64;
            let reached = decoder.last_rowtime();
            for e in &mut failed {
                e.data_rowtime = if decoder.is_replay() {
                    (reached != i64::MIN).then_some(reached)
                } else {
                    Some(now)
                };
            }
            errors.append(&mut failed);
            let message = InputMessage::Chunk {
                input: id,
                stream: *stream,
                decoded: Decoded {
                    batch,
                    errors,
                    seen,
                    now,
                    last_rowtime: decoder.last_rowtime(),
                    // The positions cover this whole round: they travel with its last chunk.
                    position: (i + 1 == last).then(|| InputPosition::Kinesis(positions.clone())),
                    behind_ms: Some(behind),
                    bytes,
                    tail: p.records[p.records.len().saturating_sub(TAIL_RECORDS)..]
                        .iter()
                        .map(|r| r.data.clone())
                        .collect(),
                    preprocess: preprocessor.as_ref().map(Preprocessor::stats),
                },
            };
            if tx.send(message).is_err() {
                return Ok(());
            }
        }
    }
    let _ = tx.send(InputMessage::End);
    Ok(())
}

/// `polled`'s records through the preprocessing Lambda: the records it returned (with their
/// original arrival times) and an error row for each it answered ProcessingFailed for. Dropped
/// records go nowhere, as KDA did. The call is retried until it succeeds (KDA's behaviour: the
/// input stalls meanwhile).
async fn preprocessed(pre: &Preprocessor, polled: &Polled) -> (Vec<SourceRecord>, Vec<ErrorRow>) {
    let inputs = polled
        .records
        .iter()
        .map(|r| InputRecord {
            data: r.data.clone(),
            sequence_number: r.sequence_number.clone(),
            shard_id: polled.shard.clone(),
            partition_key: r.partition_key.clone(),
            approximate_arrival_ms: r.arrival_ms,
        })
        .collect();
    let result = pre.process(inputs).await;
    for failure in &result.failures {
        eprintln!(
            "rowtime: input preprocessing with {}: {failure}; retrying the same records",
            pre.function()
        );
    }
    let errors = pre.error_rows(&result);
    let records = result
        .records
        .into_iter()
        .filter_map(|p| match p.result {
            RecordResult::Ok(data) => Some(SourceRecord {
                data,
                arrival_ms: p.input.approximate_arrival_ms,
            }),
            RecordResult::Dropped | RecordResult::ProcessingFailed(_) => None,
        })
        .collect();
    (records, errors)
}
