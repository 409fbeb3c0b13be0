//! Firehose-style objects: a stream's rows written to a folder (`--output STREAM=DIR/`) or under
//! an S3 prefix (`--output STREAM=s3://BUCKET/PREFIX/`) as Amazon Kinesis Data Firehose writes
//! them to S3, so that readers of a KDA → Firehose → S3 pipeline find the same layout.
//!
//! - **Records**: a JSON object and `\n` per row (JSON lines: rowtime's choice for its own
//!   objects, where KDA → Firehose wrote objects back to back), or CSV lines (`records.rs`).
//! - **Buffering**: an object is closed before a record would take it past `size` bytes, when
//!   it reaches `size`, or once `interval` has passed (wall clock) since its first record,
//!   checked at every batch and at every `idle` call; and always at `flush` and `finish`. An
//!   object is larger than `size` only when one record alone is. `size` counts the bytes before
//!   compression, as Firehose's buffering hints do. Firehose's defaults: 5 MiB, 300 s.
//! - **Keys**: `<prefix>yyyy/MM/dd/HH/<stream>-1-yyyy-MM-dd-HH-mm-ss-<id>`, in UTC, from the
//!   first record's ROWTIME (Firehose: the oldest record's arrival time; in replay mode this
//!   makes keys repeatable). `<stream>-1` stands for Firehose's delivery stream name and version.
//!   A prefix with `!{timestamp:PATTERN}` (Java `DateTimeFormatter` letters `y u M d H m s S`,
//!   `'quoted text'`) is evaluated instead and gets no `yyyy/MM/dd/HH/`;
//!   `!{firehose:random-string}` is 11 random letters and digits; any other `!{…}` is refused
//!   when the sink is made. `.gz` ends the key of a GZIP object. `<id>` is a random UUID; in
//!   replay mode it is derived from the stream name, the first ROWTIME and the object's number
//!   in this sink (formatted as a version 8 UUID), and so is the random string: replaying the
//!   same input writes the same keys and bytes (objects closed by `interval` excepted, since
//!   the wall clock decides where they end).
//! - **Atomic**: a folder gets `.<name>.tmp` beside the final file, written, synced and renamed
//!   (then the folder is synced); on S3 one PUT is the whole object. No partial object is ever
//!   visible under its key.
//! - **Failures**: a failed write is retried with `retry::Backoff::delivery()` while the sink
//!   holds its writer thread (backpressure). With `--max-delivery-retries N` an object still
//!   failing after N retries gives its rows back through [`Sink::take_rejected`] as
//!   `DELIVERY_ERROR` rows; nothing is dropped silently.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, BinaryArray, Int64Array};
use datafusion::arrow::record_batch::RecordBatch;
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Handle;

use super::Sink;
use super::location::Location;
use super::records::{RecordEncoder, RecordFormat};
use super::retry::{Backoff, RetryLimit};
use super::sink::Columns;
use crate::catalog::rowtime;
use crate::error::{Error, Result};
use crate::error_stream::{DELIVERY_ERROR, ErrorRow};
use crate::state::Snapshot;
use crate::time::{MS_PER_DAY, civil_from_days};

/// Firehose's default buffer size: 5 MiB.
pub const DEFAULT_SIZE: usize = 5 * 1024 * 1024;
/// Firehose's default buffer interval: 300 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// What an [`ObjectSink`] writes, where, and when it closes an object.
#[derive(Debug, Clone)]
pub struct ObjectSinkOptions {
    /// [`Location::Dir`] or [`Location::S3Prefix`]. The prefix (and, for a folder, the path from
    /// its first `!{`) may hold `!{timestamp:…}` and `!{firehose:random-string}`.
    pub location: Location,
    /// The stream's name: keys name objects `<stream>-1-…`.
    pub stream: String,
    pub columns: Columns,
    pub format: RecordFormat,
    /// Bytes (before compression) at which an object is closed.
    pub size: usize,
    /// Wall-clock time after an object's first record at which it is closed.
    pub interval: Duration,
    /// GZIP each object (keys end in `.gz`).
    pub gzip: bool,
    /// Replay mode: object ids derived from the input, so that replays write the same keys.
    pub replay: bool,
    /// `--max-delivery-retries`: retries of a failed object before its rows are rejected.
    pub retry: RetryLimit,
}

impl ObjectSinkOptions {
    /// Options with Firehose's defaults: 5 MiB, 300 s, no compression, live ids, retry forever.
    pub fn new(
        location: Location,
        stream: impl Into<String>,
        columns: Columns,
        format: RecordFormat,
    ) -> ObjectSinkOptions {
        ObjectSinkOptions {
            location,
            stream: stream.into(),
            columns,
            format,
            size: DEFAULT_SIZE,
            interval: DEFAULT_INTERVAL,
            gzip: false,
            replay: false,
            retry: RetryLimit(None),
        }
    }
}

/// How an S3 prefix is reached: the bucket's store (see `aws::s3_delivery_store`, which leaves
/// retrying to the sink) and the tokio runtime its requests run on.
#[derive(Debug, Clone)]
pub struct S3Client {
    pub store: Arc<dyn ObjectStore>,
    pub handle: Handle,
}

/// Writes a stream's rows as Firehose-style objects (see the module documentation).
pub struct ObjectSink {
    destination: Destination,
    prefix: Prefix,
    stream: String,
    encoder: RecordEncoder,
    size: usize,
    interval: Duration,
    gzip: bool,
    replay: bool,
    retry: RetryLimit,
    /// The object being filled.
    open: Option<Buffer>,
    /// Objects closed so far (the replay id's counter).
    closed: u64,
    records: Vec<Vec<u8>>,
    rejected: Vec<ErrorRow>,
}

/// The records of one object, with where each ends and its ROWTIME.
struct Buffer {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    rowtimes: Vec<i64>,
    opened: Instant,
}

enum Destination {
    Folder { root: PathBuf },
    S3 { bucket: String, client: S3Client },
}

impl ObjectSink {
    /// A sink for `options.location`: a folder (`client` is `None`; the folder is created) or
    /// an S3 prefix (`client` reaches its bucket). A prefix with an expression rowtime does not
    /// evaluate is refused here, with a message naming it.
    pub fn new(options: ObjectSinkOptions, client: Option<S3Client>) -> Result<ObjectSink> {
        let ObjectSinkOptions {
            location,
            stream,
            columns,
            format,
            size,
            interval,
            gzip,
            replay,
            retry,
        } = options;
        let flag = format!("--output {stream}={location}");
        let usage = |why: String| Error::Usage(format!("{flag}: {why}"));
        if size == 0 {
            return Err(usage("the buffer size must be at least 1 byte".into()));
        }
        if interval.is_zero() {
            return Err(usage("the buffer interval must be longer than 0 s".into()));
        }
        let (destination, prefix) = match (location, client) {
            (Location::Dir(dir), None) => {
                let text = dir
                    .to_str()
                    .ok_or_else(|| usage("the folder's name is not UTF-8; keys are text".into()))?;
                let (root, prefix) = split_folder(text);
                std::fs::create_dir_all(&root)
                    .map_err(|e| Error::io(format!("{flag}: creating {}", root.display()), e))?;
                (Destination::Folder { root }, prefix.to_string())
            }
            (Location::S3Prefix { bucket, prefix }, Some(client)) => {
                (Destination::S3 { bucket, client }, prefix)
            }
            (Location::S3Prefix { .. }, None) => {
                return Err(Error::Application(format!(
                    "{flag}: an S3 prefix needs an S3 client (the bucket's object store)"
                )));
            }
            (Location::Dir(_), Some(_)) => {
                return Err(Error::Application(format!(
                    "{flag}: a folder is written directly; it takes no S3 client"
                )));
            }
            (other, _) => {
                return Err(usage(format!(
                    "`{other}` is not a place for objects; write DIR/ or s3://BUCKET/PREFIX/ (ending in /)"
                )));
            }
        };
        let prefix = Prefix::parse(&prefix).map_err(usage)?;
        let sink = ObjectSink {
            destination,
            prefix,
            stream,
            encoder: RecordEncoder::new(columns, format),
            size,
            interval,
            gzip,
            replay,
            retry,
            open: None,
            closed: 0,
            records: Vec::new(),
            rejected: Vec::new(),
        };
        if let Destination::S3 { .. } = sink.destination {
            // Every key has the same shape: one made now shows whether S3 keys can be made.
            let sample = sink.key(0, uuid::Uuid::nil(), "0");
            object_store::path::Path::parse(&sample)
                .map_err(|e| usage(format!("the prefix does not make valid S3 keys: {e}")))?;
        }
        Ok(sink)
    }

    fn write_at(&mut self, batch: &RecordBatch, now: Instant) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.idle_at(now)?;
        let mut records = std::mem::take(&mut self.records);
        records.clear();
        self.encoder.encode(batch, &mut records)?;
        let times = rowtime(batch);
        let newline = self.encoder.format() == RecordFormat::Json;
        for (row, record) in records.iter().enumerate() {
            let len = record.len() + usize::from(newline);
            if self
                .open
                .as_ref()
                .is_some_and(|b| !b.bytes.is_empty() && b.bytes.len() + len > self.size)
            {
                self.close()?;
            }
            let buffer = self.open.get_or_insert_with(|| Buffer {
                bytes: Vec::new(),
                ends: Vec::new(),
                rowtimes: Vec::new(),
                opened: now,
            });
            buffer.bytes.extend_from_slice(record);
            if newline {
                buffer.bytes.push(b'\n');
            }
            buffer.ends.push(buffer.bytes.len());
            buffer.rowtimes.push(times.value(row));
            if buffer.bytes.len() >= self.size {
                self.close()?;
            }
        }
        self.records = records;
        Ok(())
    }

    fn idle_at(&mut self, now: Instant) -> Result<()> {
        let due = self
            .open
            .as_ref()
            .is_some_and(|b| now.saturating_duration_since(b.opened) >= self.interval);
        if due {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the open object: names it, compresses it, writes it (retrying), or rejects its
    /// rows once the retry limit is reached.
    fn close(&mut self) -> Result<()> {
        let Some(buffer) = self.open.take() else {
            return Ok(());
        };
        let Some(&first) = buffer.rowtimes.first() else {
            return Ok(());
        };
        let (id, random) = self.ids(first);
        let key = self.key(first, id, &random);
        let place = self.destination.place(&key);
        let body = if self.gzip {
            gzip(&buffer.bytes).map_err(|e| Error::io(&place, e))?
        } else {
            buffer.bytes.clone()
        };
        let payload = PutPayload::from(body);
        let mut backoff = Backoff::delivery();
        let mut failures = 0u32;
        loop {
            let why = match self.destination.put(&key, &payload) {
                Ok(()) => {
                    if failures > 0 {
                        eprintln!("rowtime: {place}: written after {} attempts", failures + 1);
                    }
                    return Ok(());
                }
                Err(why) => why,
            };
            failures += 1;
            if self.retry.exhausted(failures) {
                self.reject(&buffer, &place, failures, &why);
                return Ok(());
            }
            if failures == 1 {
                eprintln!(
                    "rowtime: warning: {place}: {why}; retrying (the output waits until it is written)"
                );
            }
            std::thread::sleep(backoff.next_delay());
        }
    }

    fn reject(&mut self, buffer: &Buffer, place: &str, attempts: u32, why: &str) {
        let limit = self.retry.0.unwrap_or_default();
        let message = format!(
            "could not write {place} (gave up after {attempts} failed attempt{}, --max-delivery-retries {limit}): {}",
            if attempts == 1 { "" } else { "s" },
            shorten(why, 2000)
        );
        let mut start = 0;
        for (end, rowtime) in buffer.ends.iter().zip(&buffer.rowtimes) {
            let record = &buffer.bytes[start..*end];
            start = *end;
            self.rejected.push(ErrorRow {
                name: DELIVERY_ERROR,
                message: message.clone(),
                data_rowtime: Some(*rowtime),
                data_row: record.strip_suffix(b"\n").unwrap_or(record).to_vec(),
                pump: None,
            });
        }
    }

    /// The next object's id and random string: random, or in replay mode derived from the
    /// stream, the first ROWTIME and the object's number.
    fn ids(&mut self, first: i64) -> (uuid::Uuid, String) {
        let number = self.closed;
        self.closed += 1;
        if self.replay {
            let seed = |tag: u8| {
                let mut bytes = self.stream.as_bytes().to_vec();
                bytes.push(0);
                bytes.extend_from_slice(&first.to_le_bytes());
                bytes.extend_from_slice(&number.to_le_bytes());
                bytes.push(tag);
                stable_hash(&bytes)
            };
            let id = uuid::Builder::from_custom_bytes(seed(b'i').to_be_bytes()).into_uuid();
            (id, random_string(seed(b'r')))
        } else {
            (
                uuid::Uuid::new_v4(),
                random_string(uuid::Uuid::new_v4().as_u128()),
            )
        }
    }

    /// `<evaluated prefix><stream>-1-yyyy-MM-dd-HH-mm-ss-<id>[.gz]`.
    fn key(&self, first: i64, id: uuid::Uuid, random: &str) -> String {
        let mut key = String::new();
        self.prefix.evaluate(first, random, &mut key);
        let t = Civil::of(first);
        let _ = write!(
            key,
            "{}-1-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{id}",
            self.stream, t.year, t.month, t.day, t.hour, t.minute, t.second
        );
        if self.gzip {
            key.push_str(".gz");
        }
        key
    }
}

impl Sink for ObjectSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_at(batch, Instant::now())
    }

    fn idle(&mut self) -> Result<()> {
        self.idle_at(Instant::now())
    }

    fn flush(&mut self) -> Result<()> {
        self.close()
    }

    /// The open object's records stay buffered: the snapshot holds them (and the number of
    /// objects closed), so a resumed run closes the same objects under the same keys.
    fn checkpoint(&mut self) -> Result<Snapshot> {
        let (records, rowtimes): (Vec<&[u8]>, Vec<i64>) = match &self.open {
            None => (Vec::new(), Vec::new()),
            Some(b) => {
                let starts = std::iter::once(0).chain(b.ends.iter().copied());
                (
                    starts
                        .zip(&b.ends)
                        .map(|(start, end)| &b.bytes[start..*end])
                        .collect(),
                    b.rowtimes.clone(),
                )
            }
        };
        let batch = RecordBatch::try_from_iter([
            (
                "record",
                Arc::new(BinaryArray::from(records)) as datafusion::arrow::array::ArrayRef,
            ),
            ("rowtime", Arc::new(Int64Array::from(rowtimes)) as _),
        ])?;
        Ok(Snapshot {
            meta: serde_json::json!({ "closed": self.closed }),
            batches: vec![batch],
        })
    }

    fn take_rejected(&mut self) -> Vec<ErrorRow> {
        std::mem::take(&mut self.rejected)
    }

    fn finish(&mut self) -> Result<()> {
        self.close()
    }
}

impl ObjectSink {
    /// Takes back what [`Sink::checkpoint`] kept, into a sink just made with the same options.
    pub fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.closed = state.field("closed")?;
        let batch = state.batch(0)?;
        let records = batch
            .column(0)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| {
                Error::Application("checkpoint: an object's records are not bytes".into())
            })?;
        let rowtimes = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| {
                Error::Application("checkpoint: an object's ROWTIMEs are not numbers".into())
            })?;
        if records.is_empty() {
            self.open = None;
            return Ok(());
        }
        let mut buffer = Buffer {
            bytes: Vec::new(),
            ends: Vec::new(),
            rowtimes: rowtimes.values().to_vec(),
            opened: Instant::now(),
        };
        for record in records.iter().flatten() {
            buffer.bytes.extend_from_slice(record);
            buffer.ends.push(buffer.bytes.len());
        }
        self.open = Some(buffer);
        Ok(())
    }
}

impl Destination {
    /// Where a key is, as a user would write it.
    fn place(&self, key: &str) -> String {
        match self {
            Destination::Folder { root } => root.join(key).display().to_string(),
            Destination::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Writes one whole object; the error says why it was not written.
    fn put(&self, key: &str, payload: &PutPayload) -> std::result::Result<(), String> {
        match self {
            Destination::Folder { root } => put_file(root, key, payload).map_err(|e| describe(&e)),
            Destination::S3 { client, .. } => {
                let path = object_store::path::Path::parse(key).map_err(|e| describe(&e))?;
                client
                    .handle
                    .block_on(client.store.put(&path, payload.clone()))
                    .map(|_| ())
                    .map_err(|e| describe(&e))
            }
        }
    }
}

/// Writes `.<name>.tmp` beside the object's file, syncs it, renames it into place and syncs the
/// folder, so that the file under its name is always whole.
fn put_file(root: &Path, key: &str, payload: &PutPayload) -> std::io::Result<()> {
    let path = root.join(key);
    let dir = path.parent().unwrap_or(root).to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        for chunk in payload {
            file.write_all(chunk)?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_folder(&dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_folder(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// A folder location as the folder to create and the key prefix inside it: the path up to the
/// last `/` before its first `!{` is the folder, the rest the prefix (`out/dt=!{…}/` → `out/`,
/// `dt=!{…}/`); a path without expressions is all folder.
fn split_folder(path: &str) -> (PathBuf, &str) {
    let Some(at) = path.find("!{") else {
        return (PathBuf::from(path), "");
    };
    match path[..at].rfind('/') {
        Some(slash) => (PathBuf::from(&path[..=slash]), &path[slash + 1..]),
        None => (PathBuf::from("."), path),
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// An error and its causes on one line (object_store keeps the reason a request failed, such
/// as a refused connection, in the causes).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let message = c.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = c.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// 128 bits from bytes, the same on every platform and release: two FNV-1a passes with
/// different offsets, each finished with SplitMix64's mixer.
fn stable_hash(bytes: &[u8]) -> u128 {
    fn fnv(bytes: &[u8], offset: u64) -> u64 {
        let mut h = offset;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let high = mix(fnv(bytes, 0xcbf2_9ce4_8422_2325));
    let low = mix(fnv(bytes, 0x6c62_272e_07bb_0142) ^ high);
    (u128::from(high) << 64) | u128::from(low)
}

/// Firehose's `random-string`: 11 letters and digits.
fn random_string(mut bits: u128) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..11)
        .map(|_| {
            let c = ALPHABET[(bits % 62) as usize] as char;
            bits /= 62;
            c
        })
        .collect()
}

/// A UTC timestamp's calendar fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

impl Civil {
    fn of(ms: i64) -> Civil {
        let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
        let in_day = ms.rem_euclid(MS_PER_DAY);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1000 % 60,
            milli: in_day % 1000,
        }
    }
}

/// A key prefix: text, `!{timestamp:PATTERN}` and `!{firehose:random-string}`; without a
/// timestamp expression, `yyyy/MM/dd/HH/` follows it (Firehose's default layout).
#[derive(Debug, Clone, PartialEq)]
struct Prefix {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Time(Vec<TimePart>),
    Random,
}

/// A piece of a `DateTimeFormatter` pattern: literal text, or a letter repeated `count` times.
#[derive(Debug, Clone, PartialEq)]
enum TimePart {
    Text(String),
    Letter(char, usize),
}

/// What a prefix may contain, for the messages.
const EXPRESSIONS: &str = "a prefix may use !{timestamp:PATTERN} and !{firehose:random-string}";

impl Prefix {
    fn parse(text: &str) -> std::result::Result<Prefix, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut dated = false;
        let mut rest = text;
        while let Some(at) = rest.find("!{") {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "`{}` in the prefix has no closing `}}`",
                    &rest[at..]
                ));
            };
            let expression = &rest[at..at + 2 + end + 1];
            let inner = &after[..end];
            let Some((namespace, value)) = inner.split_once(':') else {
                return Err(format!(
                    "`{expression}`: write !{{namespace:value}}; {EXPRESSIONS}"
                ));
            };
            let piece = match namespace {
                "timestamp" => {
                    dated = true;
                    Piece::Time(parse_pattern(expression, value)?)
                }
                "firehose" => match value {
                    "random-string" => Piece::Random,
                    "error-output-type" => {
                        return Err(format!(
                            "`{expression}` belongs in Firehose's error output prefix; rowtime writes no error objects (rows it gives up on go to error_stream); {EXPRESSIONS}"
                        ));
                    }
                    other => {
                        return Err(format!(
                            "`{expression}`: the firehose namespace has no `{other}`; {EXPRESSIONS}"
                        ));
                    }
                },
                "partitionKeyFromQuery" | "partitionKeyFromLambda" => {
                    return Err(format!(
                        "`{expression}`: the namespace `{namespace}` is Firehose's dynamic partitioning, which rowtime does not do; {EXPRESSIONS}"
                    ));
                }
                other => {
                    return Err(format!(
                        "`{expression}`: the namespace `{other}` is not one rowtime evaluates; {EXPRESSIONS}"
                    ));
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if !dated {
            let layout = "!{timestamp:yyyy/MM/dd/HH/}";
            pieces.push(Piece::Time(parse_pattern(layout, "yyyy/MM/dd/HH/")?));
        }
        Ok(Prefix { pieces })
    }

    /// Appends the prefix for an object whose first record has ROWTIME `ms`.
    fn evaluate(&self, ms: i64, random: &str, out: &mut String) {
        let t = Civil::of(ms);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Random => out.push_str(random),
                Piece::Time(parts) => {
                    for part in parts {
                        match part {
                            TimePart::Text(text) => out.push_str(text),
                            TimePart::Letter(letter, count) => push_field(&t, *letter, *count, out),
                        }
                    }
                }
            }
        }
    }
}

/// A `DateTimeFormatter` pattern: letters `y u M d H m s S` (numbers), `'text'` and `''` (a
/// quote), other characters as they are.
fn parse_pattern(expression: &str, pattern: &str) -> std::result::Result<Vec<TimePart>, String> {
    if pattern.is_empty() {
        return Err(format!(
            "`{expression}`: the pattern is empty; write one such as !{{timestamp:yyyy-MM-dd}}"
        ));
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                text.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "`{expression}`: a quote `'` is not closed; quote literal text as 'text'"
                        ));
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        text.push(*other);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if c.is_ascii_alphabetic() {
            let count = chars[i..].iter().take_while(|x| **x == c).count();
            let letters: String = chars[i..i + count].iter().collect();
            let most = match c {
                'y' | 'u' => 19,
                'M' | 'd' | 'H' | 'm' | 's' => 2,
                'S' => 9,
                _ => {
                    return Err(format!(
                        "`{expression}`: the pattern letter `{c}` is not one rowtime evaluates; use y (year), M (month), d (day), H (hour), m (minute), s (second), S (fraction of a second) and 'quoted text'"
                    ));
                }
            };
            if count > most {
                let hint = if c == 'M' {
                    " (month names are not written; use MM)"
                } else {
                    ""
                };
                return Err(format!(
                    "`{expression}`: `{letters}` is too many `{c}` letters, at most {most}{hint}"
                ));
            }
            if !text.is_empty() {
                parts.push(TimePart::Text(std::mem::take(&mut text)));
            }
            parts.push(TimePart::Letter(c, count));
            i += count;
            continue;
        }
        if matches!(c, '[' | ']' | '{' | '}' | '#') {
            return Err(format!(
                "`{expression}`: `{c}` is reserved in a pattern (optional sections are not supported); quote it as '{c}'"
            ));
        }
        text.push(c);
        i += 1;
    }
    if !text.is_empty() {
        parts.push(TimePart::Text(text));
    }
    Ok(parts)
}

/// One pattern field as `DateTimeFormatter` prints it: a single letter unpadded, more letters
/// padded with zeros to their count; `yy` the last two digits of the year; `S…` the leading
/// digits of the fraction of a second.
fn push_field(t: &Civil, letter: char, count: usize, out: &mut String) {
    let number = |value: i64, out: &mut String| {
        let _ = write!(out, "{value:0count$}");
    };
    match letter {
        'y' | 'u' if count == 2 => number(t.year.rem_euclid(100), out),
        'y' | 'u' => number(t.year, out),
        'M' => number(i64::from(t.month), out),
        'd' => number(i64::from(t.day), out),
        'H' => number(t.hour, out),
        'm' => number(t.minute, out),
        's' => number(t.second, out),
        'S' => {
            let digits = format!("{:03}000000", t.milli);
            out.push_str(&digits[..count]);
        }
        _ => unreachable!("parse_pattern accepts only the letters above"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};

    use super::*;
    use crate::time::parse_timestamp;

    fn ts(text: &str) -> i64 {
        parse_timestamp(text).expect("a timestamp")
    }

    fn prefix(text: &str, ms: i64) -> String {
        let mut out = String::new();
        Prefix::parse(text)
            .unwrap()
            .evaluate(ms, "RANDOMSTR11", &mut out);
        out
    }

    fn bad(text: &str) -> String {
        Prefix::parse(text).unwrap_err()
    }

    #[test]
    fn a_plain_prefix_gets_the_hourly_layout() {
        let t = ts("2024-03-05 14:07:09.123");
        assert_eq!(prefix("", t), "2024/03/05/14/");
        assert_eq!(prefix("billing/", t), "billing/2024/03/05/14/");
        // Before 10:00 and in January the fields are zero-padded.
        assert_eq!(prefix("x/", ts("2023-01-02 03:04:05")), "x/2023/01/02/03/");
        // A random string alone does not date the prefix: the layout still follows.
        assert_eq!(
            prefix("r=!{firehose:random-string}/", t),
            "r=RANDOMSTR11/2024/03/05/14/"
        );
    }

    #[test]
    fn timestamp_expressions_replace_the_layout() {
        let t = ts("2024-03-05 14:07:09.123");
        assert_eq!(
            prefix("out/dt=!{timestamp:yyyy-MM-dd}/", t),
            "out/dt=2024-03-05/"
        );
        assert_eq!(
            prefix(
                "!{timestamp:yyyy}/!{timestamp:HH}h!{timestamp:mm}m!{timestamp:ss}s/",
                t
            ),
            "2024/14h07m09s/"
        );
        // One letter is unpadded, `yy` is the year's last two digits, S… the fraction.
        assert_eq!(
            prefix(
                "!{timestamp:yy M d H m s S SSS SSSSS}/",
                ts("2009-02-03 04:05:06.078")
            ),
            "09 2 3 4 5 6 0 078 07800/"
        );
    }

    #[test]
    fn quoted_literals_are_copied() {
        let t = ts("2024-03-05 14:07:09");
        // The form Firehose's users write to keep dashes literal.
        assert_eq!(
            prefix("dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:HH}/", t),
            "dt=2024-03-05/h=14/"
        );
        // Letters inside quotes are text; '' is a quote, inside quotes or out.
        assert_eq!(
            prefix("!{timestamp:'year='yyyy'/hour='HH}/", t),
            "year=2024/hour=14/"
        );
        assert_eq!(prefix("!{timestamp:''yyyy'''s'}/", t), "'2024's/");
    }

    #[test]
    fn bad_prefixes_name_what_is_wrong() {
        let e = bad("out/!{partitionKeyFromQuery:customer}/");
        assert!(
            e.contains("`partitionKeyFromQuery`") && e.contains("dynamic partitioning"),
            "{e}"
        );
        let e = bad("!{date:yyyy}/");
        assert!(
            e.contains("the namespace `date` is not one rowtime evaluates")
                && e.contains("!{timestamp:PATTERN}"),
            "{e}"
        );
        let e = bad("!{firehose:error-output-type}/");
        assert!(e.contains("error output prefix"), "{e}");
        let e = bad("!{firehose:uuid}/");
        assert!(e.contains("no `uuid`"), "{e}");
        let e = bad("!{timestamp:yyyy/");
        assert!(e.contains("no closing `}`"), "{e}");
        let e = bad("!{timestamp}/");
        assert!(e.contains("write !{namespace:value}"), "{e}");
        let e = bad("!{timestamp:}/");
        assert!(e.contains("the pattern is empty"), "{e}");
        let e = bad("!{timestamp:yyyy-ww}/");
        assert!(e.contains("pattern letter `w`"), "{e}");
        let e = bad("!{timestamp:MMM}/");
        assert!(
            e.contains("`MMM` is too many `M` letters") && e.contains("use MM"),
            "{e}"
        );
        let e = bad("!{timestamp:yyyy'x}/");
        assert!(e.contains("quote `'` is not closed"), "{e}");
        let e = bad("!{timestamp:yyyy[MM]}/");
        assert!(e.contains("`[` is reserved"), "{e}");
    }

    #[test]
    fn folder_locations_split_at_the_first_expression() {
        assert_eq!(split_folder("out/"), (PathBuf::from("out/"), ""));
        assert_eq!(
            split_folder("/data/out/dt=!{timestamp:yyyy}/"),
            (PathBuf::from("/data/out/"), "dt=!{timestamp:yyyy}/")
        );
        assert_eq!(
            split_folder("!{timestamp:yyyy}/"),
            (PathBuf::from("."), "!{timestamp:yyyy}/")
        );
    }

    /// A fresh folder for one test, removed when the test ends.
    struct Temp(PathBuf);

    impl std::ops::Deref for Temp {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp(name: &str) -> Temp {
        let dir =
            std::env::temp_dir().join(format!("rowtime-objects-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Temp(dir)
    }

    /// Rows `(SEQ, TEXT)` with ROWTIME `rowtime + SEQ` ms.
    fn batch(seqs: std::ops::Range<i64>, text: &str, rowtime: i64) -> RecordBatch {
        let n = seqs.end - seqs.start;
        RecordBatch::try_from_iter([
            (
                "SEQ",
                Arc::new(Int64Array::from_iter_values(seqs.clone())) as ArrayRef,
            ),
            (
                "TEXT",
                Arc::new(StringArray::from(vec![text; n as usize])) as ArrayRef,
            ),
            (
                "ROWTIME",
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    seqs.map(|s| rowtime + s),
                )) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn options(dir: &Path) -> ObjectSinkOptions {
        let mut path = dir.display().to_string();
        path.push('/');
        ObjectSinkOptions::new(
            Location::Dir(PathBuf::from(path)),
            "DESTINATION_SQL_STREAM",
            Columns {
                indices: vec![0, 1],
                names: vec!["SEQ".into(), "TEXT".into()],
            },
            RecordFormat::Json,
        )
    }

    /// Every file under `dir` (relative path, bytes), sorted by path.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    out.push((name, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    fn line(seq: i64, text: &str) -> String {
        format!("{{\"SEQ\":{seq},\"TEXT\":\"{text}\"}}\n")
    }

    #[test]
    fn keys_follow_firehose_and_objects_are_json_lines() {
        let dir = temp("keys");
        let t = ts("2024-03-05 14:07:09.123");
        let mut sink = ObjectSink::new(options(&dir), None).unwrap();
        sink.write(&batch(0..2, "a", t)).unwrap();
        sink.finish().unwrap();
        let files = files(&dir);
        assert_eq!(files.len(), 1, "{files:?}");
        let (key, bytes) = &files[0];
        let stem = "2024/03/05/14/DESTINATION_SQL_STREAM-1-2024-03-05-14-07-09-";
        let id = key.strip_prefix(stem).unwrap_or_else(|| panic!("{key}"));
        let id = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(id.get_version_num(), 4, "a random UUID outside replay");
        assert_eq!(String::from_utf8_lossy(bytes), line(0, "a") + &line(1, "a"));
    }

    #[test]
    fn replay_ids_are_derived_from_stream_rowtime_and_counter() {
        let dir = temp("ids");
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                replay: true,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        let first = sink.ids(1000);
        let second = sink.ids(1000);
        assert_ne!(first, second, "the counter tells two objects apart");
        assert_eq!(first.0.get_version_num(), 8, "formatted as a custom UUID");
        assert_eq!(first.1.len(), 11);
        assert!(first.1.chars().all(|c| c.is_ascii_alphanumeric()));
        let mut again = ObjectSink::new(
            ObjectSinkOptions {
                replay: true,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        assert_eq!(again.ids(1000), first);
        assert_eq!(again.ids(1000), second);
        assert_ne!(again.ids(1001), sink.ids(1000), "the ROWTIME counts");
        let mut other = ObjectSink::new(
            ObjectSinkOptions {
                replay: true,
                stream: "OTHER_STREAM".into(),
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        assert_ne!(other.ids(1000), first, "the stream counts");
        // Outside replay every id is new.
        let mut live = ObjectSink::new(options(&dir), None).unwrap();
        assert_ne!(live.ids(1000), live.ids(1000));
    }

    #[test]
    fn a_resumed_sink_writes_the_same_objects_as_an_uninterrupted_one() {
        // Replay mode, objects of 3 records: 10 rows make 3 full objects and a last one of 1.
        let record = line(10, "x").len();
        let replay = |dir: &Path| ObjectSinkOptions {
            replay: true,
            size: 3 * record,
            ..options(dir)
        };
        let straight = temp("straight");
        let mut sink = ObjectSink::new(replay(&straight), None).unwrap();
        sink.write(&batch(10..15, "x", 0)).unwrap();
        sink.write(&batch(15..20, "x", 0)).unwrap();
        sink.finish().unwrap();
        let expected = files(&straight);
        assert_eq!(expected.len(), 4, "{expected:?}");

        for cut in 10..20 {
            let resumed = temp(&format!("resumed-{cut}"));
            let mut sink = ObjectSink::new(replay(&resumed), None).unwrap();
            sink.write(&batch(10..cut, "x", 0)).unwrap();
            let mut bytes = Vec::new();
            sink.checkpoint().unwrap().encode(&mut bytes).unwrap();
            // The process dies here: the open object's records exist only in the checkpoint.
            drop(sink);
            let state = Snapshot::decode(&mut bytes.as_slice()).unwrap();
            let mut sink = ObjectSink::new(replay(&resumed), None).unwrap();
            sink.restore(&state).unwrap();
            sink.write(&batch(cut..20, "x", 0)).unwrap();
            sink.finish().unwrap();
            assert_eq!(files(&resumed), expected, "cut before SEQ {cut}");
        }
    }

    #[test]
    fn objects_close_at_the_size() {
        let dir = temp("size");
        let record = line(10, "x").len(); // every SEQ below has two digits
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                size: 3 * record + 1,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        sink.write(&batch(10..17, "x", 0)).unwrap();
        // Three records fit in 3 × record + 1 bytes, a fourth would not: 3 + 3 written, 1 open.
        assert_eq!(files(&dir).len(), 2);
        sink.flush().unwrap();
        let sizes: Vec<usize> = files(&dir).iter().map(|(_, b)| b.len()).collect();
        assert_eq!(
            sizes.iter().filter(|s| **s == 3 * record).count(),
            2,
            "{sizes:?}"
        );
        assert!(sizes.contains(&record), "{sizes:?}");

        // An object that reaches the size exactly is closed at once.
        let dir = temp("size-exact");
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                size: 2 * record,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        sink.write(&batch(10..14, "x", 0)).unwrap();
        assert_eq!(files(&dir).len(), 2);
        // A record bigger than the size is an object of its own.
        sink.write(&batch(20..21, &"y".repeat(3 * record), 0))
            .unwrap();
        assert_eq!(files(&dir).len(), 3);
        sink.finish().unwrap();
        assert_eq!(files(&dir).len(), 3, "nothing was left open");
    }

    #[test]
    fn objects_close_at_the_interval() {
        let dir = temp("interval");
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                interval: Duration::from_secs(60),
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        sink.write_at(&batch(0..1, "a", 0), t0).unwrap();
        sink.write_at(&batch(1..2, "a", 0), t0 + s(30)).unwrap();
        sink.idle_at(t0 + s(59)).unwrap();
        assert!(
            files(&dir).is_empty(),
            "60 s have not passed since the first record"
        );
        sink.idle_at(t0 + s(60)).unwrap();
        let objects = files(&dir);
        assert_eq!(objects.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&objects[0].1),
            line(0, "a") + &line(1, "a")
        );
        // The next object's clock starts at its own first record; a batch after the interval
        // closes the object before joining a new one.
        sink.write_at(&batch(2..3, "b", 0), t0 + s(100)).unwrap();
        sink.idle_at(t0 + s(150)).unwrap();
        assert_eq!(files(&dir).len(), 1);
        sink.write_at(&batch(3..4, "c", 0), t0 + s(160)).unwrap();
        assert_eq!(files(&dir).len(), 2);
        sink.finish().unwrap();
        let texts: Vec<String> = files(&dir)
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(texts.contains(&line(2, "b")), "{texts:?}");
        assert!(texts.contains(&line(3, "c")), "{texts:?}");
    }

    #[test]
    fn gzip_objects_round_trip() {
        let dir = temp("gzip");
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                gzip: true,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        sink.write(&batch(0..100, "compressible", 0)).unwrap();
        sink.finish().unwrap();
        let objects = files(&dir);
        assert_eq!(objects.len(), 1);
        let (key, bytes) = &objects[0];
        assert!(key.ends_with(".gz"), "{key}");
        assert_eq!(bytes[..2], [0x1f, 0x8b]);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        let expected: String = (0..100).map(|s| line(s, "compressible")).collect();
        assert_eq!(text, expected);
        assert!(bytes.len() < expected.len() / 4, "the object is compressed");
    }

    #[test]
    fn csv_objects_are_csv_lines() {
        let dir = temp("csv");
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                format: RecordFormat::Csv,
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        sink.write(&batch(0..2, "a, b", 0)).unwrap();
        sink.finish().unwrap();
        let objects = files(&dir);
        assert_eq!(
            String::from_utf8_lossy(&objects[0].1),
            "0,\"a, b\"\n1,\"a, b\"\n"
        );
    }

    #[test]
    fn a_folder_that_cannot_be_written_rejects_rows_at_the_limit() {
        // A file where the hourly folder should be: every attempt fails.
        let dir = temp("blocked");
        std::fs::create_dir_all(&*dir).unwrap();
        std::fs::write(dir.join("1970"), "not a folder").unwrap();
        let mut sink = ObjectSink::new(
            ObjectSinkOptions {
                retry: RetryLimit(Some(0)),
                ..options(&dir)
            },
            None,
        )
        .unwrap();
        sink.write(&batch(0..2, "a", 5)).unwrap();
        sink.flush().unwrap();
        let rejected = sink.take_rejected();
        assert_eq!(rejected.len(), 2);
        for (seq, row) in rejected.iter().enumerate() {
            assert_eq!(row.name, DELIVERY_ERROR);
            assert_eq!(row.data_rowtime, Some(5 + seq as i64));
            assert_eq!(row.data_row, line(seq as i64, "a").trim_end().as_bytes());
            assert!(
                row.message
                    .contains(&format!("{}", dir.join("1970/01/01/00").display()))
                    && row.message.contains("after 1 failed attempt,")
                    && row.message.contains("--max-delivery-retries 0"),
                "{}",
                row.message
            );
        }
        assert!(sink.take_rejected().is_empty(), "rows are handed back once");
        assert_eq!(files(&dir).len(), 1, "only the blocking file");
    }

    #[test]
    fn bad_options_are_refused_with_the_flag() {
        let dir = temp("bad");
        let e = ObjectSink::new(
            ObjectSinkOptions {
                location: Location::Dir(dir.join("!{date:yyyy}/")),
                ..options(&dir)
            },
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("--output DESTINATION_SQL_STREAM=") && e.contains("namespace `date`"),
            "{e}"
        );
        let e = ObjectSink::new(
            ObjectSinkOptions {
                size: 0,
                ..options(&dir)
            },
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("at least 1 byte"), "{e}");
        let e = ObjectSink::new(
            ObjectSinkOptions {
                location: Location::S3Prefix {
                    bucket: "b".into(),
                    prefix: "p/".into(),
                },
                ..options(&dir)
            },
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("needs an S3 client"), "{e}");
        let e = ObjectSink::new(
            ObjectSinkOptions {
                location: Location::Standard,
                ..options(&dir)
            },
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("write DIR/ or s3://BUCKET/PREFIX/"), "{e}");
    }
}
