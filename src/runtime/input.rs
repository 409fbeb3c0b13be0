//! The input threads: each reads one input, decodes its records into source-stream batches and
//! sends them to the dataflow. At most a few chunks wait in the channel, so memory stays bounded
//! and a slow dataflow holds the readers back.
//!
//! - [`Input::Lines`]: a file, stdin or a followed file, read in blocks of 1 MB; a chunk of whole
//!   lines is decoded and sent as soon as a read returns, so a slow pipe is not held back.
//! - [`Input::Kinesis`]: a Kinesis stream polled on the shared service runtime; what each round
//!   of polling read is decoded per in-application stream.

use std::io::Read;
use std::sync::mpsc::SyncSender;

use datafusion::arrow::record_batch::RecordBatch;

use super::{services, spawn_named};
use crate::connectors::ChunkDecoder;
use crate::connectors::kinesis::{KinesisOptions, KinesisSource, Positions};
use crate::error::{Error, Result};
use crate::error_stream::ErrorRow;
use crate::time::now_ms;

/// How much input is read at a time.
const CHUNK: usize = 1 << 20;

/// Where a run's records come from.
pub enum Input {
    /// Whole lines from a reader (a file, stdin, a followed file), into one source stream.
    Lines {
        stream: usize,
        reader: Box<dyn Read + Send>,
        decoder: Box<dyn ChunkDecoder>,
    },
    /// A Kinesis data stream; `decoders[i]` decodes for in-application stream `i` (its index in
    /// the catalog is the first element).
    Kinesis {
        config: aws_config::SdkConfig,
        options: KinesisOptions,
        decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
    },
}

impl Input {
    /// True in replay mode (ROWTIME from a column).
    pub fn is_replay(&self) -> bool {
        match self {
            Input::Lines { decoder, .. } => decoder.is_replay(),
            Input::Kinesis { decoders, .. } => decoders.iter().any(|(_, d)| d.is_replay()),
        }
    }

    /// The catalog indexes of the source streams it feeds.
    pub fn streams(&self) -> Vec<usize> {
        match self {
            Input::Lines { stream, .. } => vec![*stream],
            Input::Kinesis { decoders, .. } => decoders.iter().map(|(s, _)| *s).collect(),
        }
    }
}

/// What an input thread sends.
pub enum InputMessage {
    /// Decoded records for source stream `stream` (its catalog index).
    Chunk {
        stream: usize,
        decoded: Decoded,
    },
    /// One input has ended.
    End,
    Failed(Error),
    /// Ctrl-C or SIGTERM: stop as at the end of input.
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
    /// For a Kinesis input: where every shard stands after this chunk.
    pub positions: Option<Positions>,
    /// For a Kinesis input: how far behind the stream's tip the slowest shard is.
    pub behind_ms: Option<i64>,
}

/// Starts the thread that reads `input` and sends what it decodes to `tx`.
pub fn spawn(input: Input, tx: SyncSender<InputMessage>) {
    match input {
        Input::Lines {
            stream,
            reader,
            decoder,
        } => spawn_lines(stream, reader, decoder, tx),
        Input::Kinesis {
            config,
            options,
            decoders,
        } => {
            spawn_named("rowtime-kinesis", move || {
                let failed = tx.clone();
                if let Err(e) = services().block_on(read_kinesis(config, options, decoders, tx)) {
                    let _ = failed.send(InputMessage::Failed(e));
                }
            });
        }
    }
}

fn spawn_lines(
    stream: usize,
    mut input: Box<dyn Read + Send>,
    mut decoder: Box<dyn ChunkDecoder>,
    tx: SyncSender<InputMessage>,
) {
    spawn_named("rowtime-input", move || {
        let mut send = |chunk: &[u8]| {
            let now = now_ms();
            let message = match decoder.decode(chunk, now) {
                Ok((batch, errors, seen)) => InputMessage::Chunk {
                    stream,
                    decoded: Decoded {
                        batch,
                        errors,
                        seen,
                        now,
                        last_rowtime: decoder.last_rowtime(),
                        positions: None,
                        behind_ms: None,
                    },
                },
                Err(e) => InputMessage::Failed(e),
            };
            let failed = matches!(message, InputMessage::Failed(_));
            tx.send(message).is_ok() && !failed
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
}

/// Polls a Kinesis stream until it ends (with `until_latest`) or the run stops.
async fn read_kinesis(
    config: aws_config::SdkConfig,
    options: KinesisOptions,
    mut decoders: Vec<(usize, Box<dyn ChunkDecoder>)>,
    tx: SyncSender<InputMessage>,
) -> Result<()> {
    let mut source = KinesisSource::open(&config, options).await?;
    while let Some(polled) = source.next().await? {
        let positions = source.positions();
        let behind = source.millis_behind_latest();
        let last = polled.len();
        for (i, p) in polled.into_iter().enumerate() {
            let now = now_ms();
            let at = p.stream.min(decoders.len() - 1);
            let (stream, decoder) = &mut decoders[at];
            let records: Vec<_> = p.records.iter().map(|r| r.source_record()).collect();
            let (batch, errors, seen) = decoder.decode_records(&records, now)?;
            let message = InputMessage::Chunk {
                stream: *stream,
                decoded: Decoded {
                    batch,
                    errors,
                    seen,
                    now,
                    last_rowtime: decoder.last_rowtime(),
                    // The positions cover this whole round: they travel with its last chunk.
                    positions: (i + 1 == last).then(|| positions.clone()),
                    behind_ms: Some(behind),
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
