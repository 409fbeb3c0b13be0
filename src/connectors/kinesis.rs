//! Reading a Kinesis data stream, as KDA did: polling GetRecords on every shard.
//!
//! # Shards and in-application streams
//! An input with `InputParallelism` N feeds `<prefix>_001 … <prefix>_00N`. The shards whose
//! parents are gone (the roots: at first, every shard) are sorted by their starting hash key and
//! shard *i* of *R* goes to stream `floor(i·N/R) + 1`. A child shard (after a split or a merge)
//! takes its parent's stream, so a partition key stays in one in-application stream across a
//! split; after a merge the keys of the adjacent parent move to the parent's stream. With a state
//! directory the assignment of a shard read before is kept.
//!
//! # Order
//! A child is read only after its parents have been read to their end, so records of one
//! partition key keep their order across a split or a merge. Within a shard, records keep their
//! order.
//!
//! # The end of a closed shard
//! The service answers the last page of a closed shard with a null next iterator and its child
//! shards. Some servers never do (moto): there a shard ends when a record at or past its
//! `EndingSequenceNumber` (from ListShards) has been read, or when a closed shard gives an empty
//! page with nothing behind. A shard that closes while it is read gets its ending number only
//! from a new listing, so the shards are listed again whenever one has closed, and at most every
//! 5 seconds while a shard of unknown end is caught up.
//!
//! # Limits
//! GetRecords takes up to 10,000 records a call. A shard that is caught up
//! (`MillisBehindLatest` 0, no records) is polled again after a second, as the Kinesis
//! documentation advises; throttling (`ProvisionedThroughputExceededException`) and service errors
//! back off per shard (100 ms doubling to 10 s, reset by the next answer); an expired iterator
//! (after 5 minutes) is fetched again after the last record read, so nothing is skipped or read
//! twice.
//!
//! # Where to start
//! `NOW` reads each open shard from the moment the run started (`AT_TIMESTAMP`: one consistent
//! cut), `TRIM_HORIZON` from the oldest record kept, `LAST_STOPPED_POINT` after the last record
//! whose results every destination had acknowledged (the positions the state directory keeps).
//! With `until_latest` a shard ends when it is caught up, and the source ends when every shard
//! has: the run then flushes its windows and exits.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;
use serde::{Deserialize, Serialize};

use super::SourceRecord;
use super::aws::{describe, error_code};
use super::retry::Backoff;
use crate::error::{Error, Result};

/// `--start-position`, KDA's `InputStartingPosition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    Now,
    TrimHorizon,
    LastStoppedPoint,
}

impl StartPosition {
    pub fn parse(text: &str) -> Result<StartPosition, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "NOW" => Ok(StartPosition::Now),
            "TRIM_HORIZON" => Ok(StartPosition::TrimHorizon),
            "LAST_STOPPED_POINT" => Ok(StartPosition::LastStoppedPoint),
            other => Err(format!(
                "`{other}` is not a start position: write NOW, TRIM_HORIZON or LAST_STOPPED_POINT"
            )),
        }
    }
}

/// Where reading of a shard stands, as the state directory keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPosition {
    /// The sequence number of the last record read (and acknowledged, once checkpointed).
    pub after: Option<String>,
    /// Where the shard was started when nothing has been read from it yet: `AT_TIMESTAMP` of
    /// this time (ms since the epoch); `None` means `TRIM_HORIZON`.
    #[serde(default)]
    pub from_ms: Option<i64>,
    /// Read to its end.
    pub closed: bool,
    /// The in-application stream it feeds (0 = `<prefix>_001`).
    pub stream: usize,
    #[serde(default)]
    pub parents: Vec<String>,
}

/// Every shard's position, by shard id.
pub type Positions = BTreeMap<String, ShardPosition>;

/// What one round of polling read from one shard.
#[derive(Debug)]
pub struct Polled {
    /// The in-application stream (0-based).
    pub stream: usize,
    pub shard: String,
    pub records: Vec<KinesisRecord>,
}

/// A record as Kinesis gave it.
#[derive(Debug, Clone)]
pub struct KinesisRecord {
    pub data: Vec<u8>,
    pub arrival_ms: i64,
    pub sequence_number: String,
    pub partition_key: String,
}

impl KinesisRecord {
    pub fn source_record(&self) -> SourceRecord {
        SourceRecord {
            data: self.data.clone(),
            arrival_ms: self.arrival_ms,
        }
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct KinesisOptions {
    pub stream: String,
    pub arn: Option<String>,
    /// `InputParallelism.Count`: how many in-application streams the shards feed.
    pub in_app_streams: usize,
    pub start: StartPosition,
    /// End when every shard is caught up (`--until-latest`).
    pub until_latest: bool,
    /// For `LAST_STOPPED_POINT`: the positions saved by an earlier run.
    pub saved: Option<Positions>,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// A parent has not been read to its end yet.
    Waiting,
    Reading,
    Done,
}

#[derive(Debug)]
struct Shard {
    parents: Vec<String>,
    stream: usize,
    /// `SequenceNumberRange.EndingSequenceNumber`: the shard is closed and ends there.
    ending: Option<String>,
    phase: Phase,
    iterator: Option<String>,
    after: Option<String>,
    from_ms: Option<i64>,
    next_poll: Instant,
    backoff: Backoff,
    behind_ms: i64,
}

/// A Kinesis stream being read.
pub struct KinesisSource {
    client: Client,
    opts: KinesisOptions,
    /// When the run started: `NOW`'s timestamp.
    started_ms: i64,
    shards: BTreeMap<String, Shard>,
    /// When the shards were last listed.
    listed_at: Instant,
}

/// How many records a GetRecords call may return (the service's maximum).
const RECORDS_PER_CALL: i32 = 10_000;
/// How long one call may take before it is abandoned and tried again.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a caught-up shard waits before it is polled again.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often the shards are listed again while a shard of unknown end is caught up (to learn
/// that it has closed where the server gives no null iterator).
const RELIST_IDLE: Duration = Duration::from_secs(5);

impl KinesisSource {
    /// Lists the stream's shards and decides where each is read from.
    pub async fn open(
        config: &aws_config::SdkConfig,
        opts: KinesisOptions,
    ) -> Result<KinesisSource> {
        // The SDK's own retries are off: a throttled or failed call waits for the shard's
        // backoff, and each attempt has a time limit (a call that hangs is tried again).
        let (retry, timeout) = super::deliver::client_settings(config, CALL_TIMEOUT);
        let client = Client::from_conf(
            aws_sdk_kinesis::config::Builder::from(config)
                .retry_config(retry)
                .timeout_config(timeout)
                .build(),
        );
        let started_ms = crate::time::now_ms();
        let mut source = KinesisSource {
            client,
            opts,
            started_ms,
            shards: BTreeMap::new(),
            listed_at: Instant::now(),
        };
        let listed = source.list_shards().await?;
        if listed.is_empty() {
            return Err(source.error("the stream has no shards"));
        }
        source.add_shards(listed, true);
        Ok(source)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Application(format!("kinesis://{}: {message}", self.opts.stream))
    }

    /// Every shard of the stream: (id, parents, starting hash key, ending sequence number).
    async fn list_shards(&mut self) -> Result<Vec<(String, Vec<String>, u128, Option<String>)>> {
        self.listed_at = Instant::now();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = self.client.list_shards();
            call = match &token {
                Some(t) => call.next_token(t),
                None => match &self.opts.arn {
                    Some(arn) => call.stream_arn(arn),
                    None => call.stream_name(&self.opts.stream),
                },
            };
            let page = call.send().await.map_err(|e| {
                let hint = match error_code(&e) {
                    Some("ResourceNotFoundException") => {
                        "; check the stream name and the region (AWS_REGION)"
                    }
                    Some("AccessDeniedException") => {
                        "; the credentials need kinesis:ListShards, GetShardIterator and GetRecords"
                    }
                    _ => "",
                };
                self.error(format!("listing the shards failed: {}{hint}", describe(&e)))
            })?;
            for s in page.shards() {
                let parents: Vec<String> = s
                    .parent_shard_id()
                    .into_iter()
                    .chain(s.adjacent_parent_shard_id())
                    .map(str::to_string)
                    .collect();
                let hash = s
                    .hash_key_range()
                    .and_then(|r| r.starting_hash_key().parse::<u128>().ok())
                    .unwrap_or(0);
                let ending = s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .map(str::to_string);
                out.push((s.shard_id().to_string(), parents, hash, ending));
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Adds shards not known yet: assigns their in-application stream and where to start
    /// (`initial`: the shards listed when the run started).
    fn add_shards(
        &mut self,
        listed: Vec<(String, Vec<String>, u128, Option<String>)>,
        initial: bool,
    ) {
        // A shard being read may have closed since it was listed: it ends at its ending number.
        for (id, _, _, ending) in &listed {
            if let (Some(s), Some(ending)) = (self.shards.get_mut(id), ending)
                && s.ending.is_none()
            {
                s.ending = Some(ending.clone());
                if s.phase == Phase::Reading && s.ending_passed() {
                    s.phase = Phase::Done;
                    s.iterator = None;
                }
            }
        }
        let known_ids: Vec<String> = listed.iter().map(|l| l.0.clone()).collect();
        let mut roots: Vec<(u128, String)> = listed
            .iter()
            .filter(|(id, parents, _, _)| {
                !self.shards.contains_key(id)
                    && parents
                        .iter()
                        .all(|p| !known_ids.contains(p) && !self.shards.contains_key(p))
            })
            .map(|(id, _, hash, _)| (*hash, id.clone()))
            .collect();
        roots.sort();
        let n = self.opts.in_app_streams.max(1);
        let root_stream: BTreeMap<String, usize> = roots
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (id.clone(), i * n / roots.len().max(1)))
            .collect();
        // Parents before children, so that a child finds its parent's stream.
        let mut pending: Vec<_> = listed
            .into_iter()
            .filter(|l| !self.shards.contains_key(&l.0))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for (id, parents, _, ending) in pending {
                let ready = parents.iter().all(|p| {
                    self.shards.contains_key(p)
                        || !known_ids.contains(p)
                        || root_stream.contains_key(&id)
                });
                if !ready {
                    rest.push((id, parents, 0, ending));
                    continue;
                }
                let saved = self.opts.saved.as_ref().and_then(|s| s.get(&id)).cloned();
                let stream = saved.as_ref().map(|s| s.stream).unwrap_or_else(|| {
                    root_stream.get(&id).copied().unwrap_or_else(|| {
                        parents
                            .iter()
                            .find_map(|p| self.shards.get(p).map(|s| s.stream))
                            .unwrap_or(0)
                    })
                });
                let shard = self.new_shard(parents, stream.min(n - 1), ending, saved, initial);
                self.shards.insert(id, shard);
            }
            if rest.len() == before {
                // A parent cycle cannot happen in Kinesis; stop rather than loop.
                break;
            }
            pending = rest;
        }
        self.promote_waiting();
    }

    fn new_shard(
        &self,
        parents: Vec<String>,
        stream: usize,
        ending: Option<String>,
        saved: Option<ShardPosition>,
        initial: bool,
    ) -> Shard {
        let parent_pending = parents
            .iter()
            .any(|p| self.shards.get(p).is_some_and(|s| s.phase != Phase::Done));
        let (phase, after, from_ms) = match (self.opts.start, saved) {
            (_, Some(saved)) if saved.closed => (Phase::Done, saved.after, saved.from_ms),
            (_, Some(saved)) => (Phase::Reading, saved.after, saved.from_ms),
            // NOW: only what arrives from now on, so shards closed at the start hold nothing.
            (StartPosition::Now, None) if initial && ending.is_some() => (Phase::Done, None, None),
            (StartPosition::Now, None) if initial => (Phase::Reading, None, Some(self.started_ms)),
            // TRIM_HORIZON, and a shard that appeared after the start (or after the saved run):
            // from the oldest record it keeps.
            _ => (Phase::Reading, None, None),
        };
        let phase = if phase == Phase::Reading && parent_pending {
            Phase::Waiting
        } else {
            phase
        };
        Shard {
            parents,
            stream,
            ending,
            phase,
            iterator: None,
            after,
            from_ms,
            next_poll: Instant::now(),
            backoff: Backoff::delivery(),
            behind_ms: 0,
        }
    }

    /// Shards whose parents have all been read to their end (or are gone) start reading.
    fn promote_waiting(&mut self) {
        let pending: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| s.phase != Phase::Done)
            .map(|(id, _)| id.clone())
            .collect();
        for s in self.shards.values_mut() {
            if s.phase == Phase::Waiting && s.parents.iter().all(|p| !pending.contains(p)) {
                s.phase = Phase::Reading;
                s.next_poll = Instant::now();
            }
        }
    }

    /// Where every shard stands after the records returned so far.
    pub fn positions(&self) -> Positions {
        self.shards
            .iter()
            .map(|(id, s)| {
                (
                    id.clone(),
                    ShardPosition {
                        after: s.after.clone(),
                        from_ms: s.from_ms,
                        closed: s.phase == Phase::Done && s.ending_reached(),
                        stream: s.stream,
                        parents: s.parents.clone(),
                    },
                )
            })
            .collect()
    }

    /// How far the slowest shard is behind the stream's tip (KDA's `MillisBehindLatest`).
    pub fn millis_behind_latest(&self) -> i64 {
        self.shards
            .values()
            .filter(|s| s.phase == Phase::Reading)
            .map(|s| s.behind_ms)
            .max()
            .unwrap_or(0)
    }

    /// The stream's ARN (for an input-preprocessing Lambda's `streamArn`).
    pub async fn stream_arn(&self) -> String {
        if let Some(arn) = &self.opts.arn {
            return arn.clone();
        }
        match self
            .client
            .describe_stream_summary()
            .stream_name(&self.opts.stream)
            .send()
            .await
        {
            Ok(s) => s
                .stream_description_summary()
                .map(|d| d.stream_arn().to_string())
                .unwrap_or_else(|| self.opts.stream.clone()),
            Err(_) => self.opts.stream.clone(),
        }
    }

    /// The next records: polls every shard that is due (at once) and returns what they gave.
    /// `None` when the source has ended (every shard read to its end, or caught up with
    /// `until_latest`).
    pub async fn next(&mut self) -> Result<Option<Vec<Polled>>> {
        loop {
            let live: Vec<&Shard> = self
                .shards
                .values()
                .filter(|s| s.phase != Phase::Done)
                .collect();
            if live.is_empty() {
                return Ok(None);
            }
            let now = Instant::now();
            let due: Vec<String> = self
                .shards
                .iter()
                .filter(|(_, s)| s.phase == Phase::Reading && s.next_poll <= now)
                .map(|(id, _)| id.clone())
                .collect();
            if due.is_empty() {
                let wake = self
                    .shards
                    .values()
                    .filter(|s| s.phase == Phase::Reading)
                    .map(|s| s.next_poll)
                    .min()
                    .unwrap_or(now + Duration::from_millis(50));
                tokio::time::sleep_until(wake.into()).await;
                continue;
            }
            let calls = due.iter().map(|id| self.poll(id));
            let results = futures::future::join_all(calls).await;
            let mut out = Vec::new();
            let mut closed_any = false;
            let mut idle_of_unknown_end = false;
            for (id, result) in due.into_iter().zip(results) {
                match result? {
                    PollOutcome::Records(got) => {
                        let idle = got.records.is_empty() && got.behind_ms == Some(0);
                        let closed = self.apply(&id, got, &mut out);
                        closed_any |= closed;
                        idle_of_unknown_end |= idle && !closed && self.shards[&id].ending.is_none();
                    }
                    PollOutcome::Expired => {
                        // A new iterator after the last record read, at once.
                        let s = self.shards.get_mut(&id).expect("a known shard");
                        s.iterator = None;
                    }
                    PollOutcome::Retry { fresh } => {
                        // Each failure in a row waits longer, until an answer resets it. An
                        // iterator fetched for the failed call stays good for the next one.
                        let s = self.shards.get_mut(&id).expect("a known shard");
                        s.next_poll = Instant::now() + s.backoff.next_delay();
                        if fresh.is_some() {
                            s.iterator = fresh;
                        }
                    }
                    PollOutcome::Gone => {
                        // The shard was removed (some servers delete a parent on resharding).
                        let s = self.shards.get_mut(&id).expect("a known shard");
                        s.phase = Phase::Done;
                        closed_any = true;
                    }
                }
            }
            if closed_any || (idle_of_unknown_end && self.listed_at.elapsed() >= RELIST_IDLE) {
                let listed = self.list_shards().await?;
                self.add_shards(listed, false);
                self.promote_waiting();
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// Applies a GetRecords answer to its shard; returns whether the shard closed.
    fn apply(&mut self, id: &str, got: Got, out: &mut Vec<Polled>) -> bool {
        let until_latest = self.opts.until_latest;
        let s = self.shards.get_mut(id).expect("a known shard");
        s.backoff.reset();
        s.behind_ms = got.behind_ms.unwrap_or(0);
        s.iterator = got.next_iterator;
        if let Some(last) = got.records.last() {
            s.after = Some(last.sequence_number.clone());
        }
        let caught_up = got.behind_ms == Some(0);
        // A closed shard with nothing behind its last page has been read to its end.
        let drained = s.ending.is_some() && got.records.is_empty() && caught_up;
        let closed = s.iterator.is_none() || s.ending_passed() || drained;
        if closed || (until_latest && caught_up) {
            s.phase = Phase::Done;
            if closed {
                // Read to its end: nothing to go on with, whatever iterator the server gave.
                s.iterator = None;
                if s.ending.is_none() {
                    // Null iterator: the shard is closed, whatever ListShards said before.
                    s.ending = s.after.clone().or(Some(String::new()));
                }
            }
        } else if got.records.is_empty() && caught_up {
            s.next_poll = Instant::now() + IDLE_POLL;
        } else {
            // At most 5 calls a second per shard.
            s.next_poll = Instant::now() + Duration::from_millis(200);
        }
        if !got.records.is_empty() {
            out.push(Polled {
                stream: s.stream,
                shard: id.to_string(),
                records: got.records,
            });
        }
        closed
    }

    /// One GetRecords call on a shard (fetching an iterator first if it has none).
    async fn poll(&self, id: &str) -> Result<PollOutcome> {
        let s = &self.shards[id];
        let (iterator, fresh) = match &s.iterator {
            Some(it) => (it.clone(), None),
            None => match self.iterator(id, s).await {
                Ok(it) => (it.clone(), Some(it)),
                Err(Failure::Gone) => return Ok(PollOutcome::Gone),
                Err(Failure::Transient(why)) => {
                    eprintln!(
                        "rowtime: kinesis://{} {id}: {why}; retrying",
                        self.opts.stream
                    );
                    return Ok(PollOutcome::Retry { fresh: None });
                }
                Err(Failure::Fatal(e)) => return Err(e),
            },
        };
        let answer = self
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(RECORDS_PER_CALL)
            .send()
            .await;
        let page = match answer {
            Ok(p) => p,
            Err(e) => {
                return match error_code(&e) {
                    // Get a new iterator after the last record read.
                    Some("ExpiredIteratorException") => Ok(PollOutcome::Expired),
                    Some("ResourceNotFoundException") => Ok(PollOutcome::Gone),
                    Some("AccessDeniedException") | Some("InvalidArgumentException") => {
                        Err(self.error(format!("GetRecords on {id}: {}", describe(&e))))
                    }
                    _ => {
                        if error_code(&e) != Some("ProvisionedThroughputExceededException") {
                            eprintln!(
                                "rowtime: kinesis://{} {id}: GetRecords: {}; retrying",
                                self.opts.stream,
                                describe(&e)
                            );
                        }
                        Ok(PollOutcome::Retry { fresh })
                    }
                };
            }
        };
        let records = page
            .records()
            .iter()
            .map(|r| KinesisRecord {
                data: r.data().as_ref().to_vec(),
                arrival_ms: r
                    .approximate_arrival_timestamp()
                    .map(nearest_ms)
                    .unwrap_or_else(crate::time::now_ms),
                sequence_number: r.sequence_number().to_string(),
                partition_key: r.partition_key().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(PollOutcome::Records(Got {
            records,
            next_iterator: page.next_shard_iterator().map(str::to_string),
            behind_ms: page.millis_behind_latest(),
        }))
    }

    /// A shard iterator for where `s` stands.
    async fn iterator(&self, id: &str, s: &Shard) -> std::result::Result<String, Failure> {
        let mut call = self.client.get_shard_iterator().shard_id(id);
        call = match &self.opts.arn {
            Some(arn) => call.stream_arn(arn),
            None => call.stream_name(&self.opts.stream),
        };
        call = match (&s.after, s.from_ms) {
            (Some(after), _) => call
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(after),
            (None, Some(ms)) => call
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from_millis(ms)),
            (None, None) => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        match call.send().await {
            Ok(out) => out
                .shard_iterator()
                .map(str::to_string)
                .ok_or_else(|| Failure::Transient("GetShardIterator gave no iterator".to_string())),
            Err(e) => match error_code(&e) {
                Some("ResourceNotFoundException") => Err(Failure::Gone),
                Some("AccessDeniedException") | Some("InvalidArgumentException") => Err(
                    Failure::Fatal(
                        self.error(format!("GetShardIterator on {id}: {}", describe(&e))),
                    ),
                ),
                _ => Err(Failure::Transient(format!(
                    "GetShardIterator: {}",
                    describe(&e)
                ))),
            },
        }
    }
}

impl Shard {
    /// Whether the shard has been read to its end (not merely stopped: `until_latest`).
    fn ending_reached(&self) -> bool {
        self.ending.is_some() && (self.iterator.is_none() || self.ending_passed())
    }

    /// Whether a record at or after the shard's ending sequence number has been read.
    fn ending_passed(&self) -> bool {
        match (&self.after, &self.ending) {
            (Some(after), Some(ending)) => sequence_order(after, ending) != Ordering::Less,
            _ => false,
        }
    }
}

/// An arrival time in milliseconds, rounded to the nearest: the service sends seconds with three
/// decimals as a JSON number (`1796146524.642`), and the nearest binary fraction can fall a hair
/// below the millisecond it names.
fn nearest_ms(t: &aws_smithy_types::DateTime) -> i64 {
    (t.as_nanos() + 500_000).div_euclid(1_000_000) as i64
}

/// Orders two sequence numbers (decimal digits, up to 128 of them, with or without leading zeros).
fn sequence_order(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

enum PollOutcome {
    Records(Got),
    /// The iterator expired (5 minutes unused): get a new one.
    Expired,
    /// Throttled or failed: poll again after the shard's next backoff delay, with the iterator
    /// fetched for the call if there was one.
    Retry {
        fresh: Option<String>,
    },
    Gone,
}

enum Failure {
    Gone,
    Transient(String),
    Fatal(Error),
}

struct Got {
    records: Vec<KinesisRecord>,
    next_iterator: Option<String>,
    behind_ms: Option<i64>,
}

/// Up to `n` records from the oldest the stream keeps (each payload split into its JSON
/// documents or CSV lines), for schema discovery: KDA's console sampled the stream the same way.
pub async fn sample(
    config: &aws_config::SdkConfig,
    stream: &str,
    arn: Option<&str>,
    json: bool,
    n: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut source = KinesisSource::open(
        config,
        KinesisOptions {
            stream: stream.to_string(),
            arn: arn.map(str::to_string),
            in_app_streams: 1,
            start: StartPosition::TrimHorizon,
            until_latest: true,
            saved: None,
        },
    )
    .await?;
    let mut out = Vec::new();
    while out.len() < n {
        let Some(polled) = source.next().await? else {
            break;
        };
        for p in polled {
            for r in &p.records {
                let mut parts = Vec::new();
                let lines = (!json).then_some(&b"\n"[..]);
                super::source::split_payload(&r.data, lines, &mut parts);
                out.extend(parts.into_iter().map(<[u8]>::to_vec));
            }
        }
    }
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_times_are_the_milliseconds_the_service_wrote() {
        // What `1796150655.317` parses to.
        let t = aws_smithy_types::DateTime::from_secs_f64(1_796_150_655.317);
        assert_eq!(
            t.to_millis().unwrap(),
            1_796_150_655_316,
            "truncation loses one"
        );
        assert_eq!(nearest_ms(&t), 1_796_150_655_317);
        let before_1970 = aws_smithy_types::DateTime::from_millis(-1_500);
        assert_eq!(nearest_ms(&before_1970), -1_500);
    }

    #[test]
    fn sequence_numbers_order_by_value_with_or_without_leading_zeros() {
        // ministack: 30 digits with leading zeros; the service and kinesis-local: 56 digits.
        assert_eq!(
            sequence_order("000000017961503989730000000003", "17961503989730000000003"),
            Ordering::Equal
        );
        assert_eq!(
            sequence_order(
                "000000017961503989730000000009",
                "000000017961503989730000000010"
            ),
            Ordering::Less
        );
        let long = "49680742415069395733463546487913837393391573457451925506";
        assert_eq!(sequence_order(long, "9"), Ordering::Greater);
        assert_eq!(
            sequence_order(
                long,
                "49680742415069395733463546487913837393391573457451925507"
            ),
            Ordering::Less
        );
    }
}
