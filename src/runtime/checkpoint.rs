//! Checkpoints in the state directory (`--state-dir DIR`): what a run needs to go on after a
//! stop or a crash exactly where it was.
//!
//! A [`Checkpoint`] is taken between two batches, when every input stands at a point it can be
//! read again from (a byte offset of a file, every shard's sequence number after a whole round
//! of polling), and once every sink has made durable what it was given (files flushed and
//! synced, destinations' acknowledgements received). It holds every operator's state, every
//! stream's ROWTIME bound and merge queue, each input's position and the largest ROWTIME its
//! decoders assigned, and each sink's position (a file's length, the records buffered for an
//! object). The run that resumes from it builds the same dataflow, puts the state back, cuts
//! files back to their lengths and reads on from the positions.
//!
//! The file: `rowtime checkpoint\n`, the format version, a CRC-32 and the length of the body,
//! then the body (a [`Snapshot`]: JSON metadata and Arrow IPC batches). It is written to a
//! temporary file, synced, renamed to `checkpoint-<sequence>` and the directory synced, so a
//! crash leaves either the old checkpoint or the new one. The newest two are kept: one that is
//! torn or damaged (its checksum says so) is passed over for the one before it.
//!
//! A checkpoint names the application it belongs to ([`Identity`]); a run of another
//! application, another version of its code or another input refuses it and says what differs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::connectors::kinesis::Positions;
use crate::error::{Error, Result};
use crate::state::Snapshot;

/// The checkpoint format this rowtime writes and reads.
pub const FORMAT: u32 = 1;
const MAGIC: &[u8] = b"rowtime checkpoint\n";
const PREFIX: &str = "checkpoint-";

/// What makes a checkpoint this run's: compared field by field before resuming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The application's name.
    pub application: String,
    /// The rowtime version that wrote it (operators keep their state its way).
    pub rowtime: String,
    /// The application's SQL code.
    pub code: String,
    /// The input schema, as KDA's `InputSchema` JSON.
    pub input_schema: String,
    /// `--rowtime-from`.
    pub rowtime_from: Option<String>,
    /// Where the input comes from.
    pub input: String,
}

impl Identity {
    /// Why a checkpoint with identity `saved` cannot be resumed by this run, if it cannot.
    pub fn refuses(&self, saved: &Identity) -> Option<String> {
        if saved.application != self.application {
            return Some(format!(
                "it is a checkpoint of application `{}`, and this is `{}`",
                saved.application, self.application
            ));
        }
        if saved.rowtime != self.rowtime {
            return Some(format!(
                "it was written by rowtime {}, and this is rowtime {}, whose operators may keep their state differently",
                saved.rowtime, self.rowtime
            ));
        }
        if saved.code != self.code {
            let line = saved
                .code
                .lines()
                .zip(self.code.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| saved.code.lines().count().min(self.code.lines().count()));
            let at = |code: &str| {
                code.lines()
                    .nth(line)
                    .unwrap_or("(the end)")
                    .trim()
                    .to_string()
            };
            return Some(format!(
                "the application's code changed since: line {} was `{}` and is now `{}`; the state belongs to the operators of the old code",
                line + 1,
                at(&saved.code),
                at(&self.code)
            ));
        }
        if saved.input_schema != self.input_schema {
            return Some(
                "the input schema changed since (the decoders and the state depend on it)".into(),
            );
        }
        if saved.rowtime_from != self.rowtime_from {
            let shown = |r: &Option<String>| match r {
                Some(c) => format!("--rowtime-from {c}"),
                None => "live ROWTIMEs (no --rowtime-from)".to_string(),
            };
            return Some(format!(
                "the checkpoint's run used {}, and this run uses {}",
                shown(&saved.rowtime_from),
                shown(&self.rowtime_from)
            ));
        }
        if saved.input != self.input {
            return Some(format!(
                "the checkpoint's run read {}, and this run reads {}",
                saved.input, self.input
            ));
        }
        None
    }
}

/// Where an input stands: what has been read from it and is accounted for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputPosition {
    /// A file: what was read of it.
    Lines(LinesPosition),
    /// A Kinesis stream: every shard's position.
    Kinesis(Positions),
}

/// What was read of a file: the bytes before `offset` (whole lines), holding `records`
/// non-blank lines (which decide the in-application stream of the next one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinesPosition {
    pub offset: u64,
    pub records: u64,
}

/// One checkpoint of a run.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub identity: Identity,
    /// Counts the checkpoints in the state directory.
    pub sequence: u64,
    /// Taken after the end of the input, once every window had emitted: a run that resumes
    /// from it reads on from the positions with operators of its own.
    pub finished: bool,
    /// Each input's position (`None`: nothing read from it yet).
    pub inputs: Vec<Option<InputPosition>>,
    /// Each source stream's (catalog index) largest ROWTIME assigned so far.
    pub last_rowtimes: Vec<(usize, i64)>,
    /// The dataflow's state (none when `finished`).
    pub dataflow: Option<Snapshot>,
    /// Each sink's state, by its key (`STREAM=LOCATION`).
    pub sinks: Vec<(String, Snapshot)>,
}

impl Checkpoint {
    /// The checkpoint's file contents.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Snapshot::empty();
        let dataflow = match &self.dataflow {
            Some(d) => body.nest(d.clone()),
            None => serde_json::Value::Null,
        };
        let sinks: Vec<serde_json::Value> = self
            .sinks
            .iter()
            .map(|(key, s)| serde_json::json!([key, body.nest(s.clone())]))
            .collect();
        body.meta = serde_json::json!({
            "identity": self.identity,
            "sequence": self.sequence,
            "finished": self.finished,
            "inputs": self.inputs,
            "last_rowtimes": self.last_rowtimes,
            "dataflow": dataflow,
            "sinks": sinks,
        });
        let mut encoded = Vec::new();
        body.encode(&mut encoded)?;
        let mut out = Vec::with_capacity(encoded.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&encoded).to_le_bytes());
        out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Reads a checkpoint file's contents; `Err` says why they are not a usable checkpoint.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or("it is not a rowtime checkpoint (it does not start as one)")?;
        if rest.len() < 16 {
            return Err("it ends before its header does (a torn write)".into());
        }
        let word = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
        let format = word(0);
        if format != FORMAT {
            return Err(format!(
                "it is in checkpoint format {format}, and this rowtime reads format {FORMAT}"
            ));
        }
        let crc = word(4);
        let len = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
        let body = &rest[16..];
        if body.len() as u64 != len {
            return Err(format!(
                "it holds {} bytes of its {len} (a torn write)",
                body.len()
            ));
        }
        if crc32fast::hash(body) != crc {
            return Err("its checksum does not match its contents (damaged)".into());
        }
        let body = Snapshot::decode(&mut &body[..]).map_err(|e| e.to_string())?;
        let read = || -> Result<Checkpoint> {
            let dataflow: serde_json::Value = body.field("dataflow")?;
            let sinks: Vec<(String, serde_json::Value)> = body.field("sinks")?;
            Ok(Checkpoint {
                identity: body.field("identity")?,
                sequence: body.field("sequence")?,
                finished: body.field("finished")?,
                inputs: body.field("inputs")?,
                last_rowtimes: body.field("last_rowtimes")?,
                dataflow: if dataflow.is_null() {
                    None
                } else {
                    Some(body.nested(&dataflow)?)
                },
                sinks: sinks
                    .iter()
                    .map(|(key, at)| Ok((key.clone(), body.nested(at)?)))
                    .collect::<Result<_>>()?,
            })
        };
        read().map_err(|e| e.to_string())
    }

    /// The state of the sink with `key`, if the checkpoint has one.
    pub fn sink(&self, key: &str) -> Option<&Snapshot> {
        self.sinks.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
}

/// The state directory of a run: its checkpoints, and a lock so that one run uses it at a time.
pub struct StateDir {
    dir: PathBuf,
    /// Held for the whole run.
    _lock: File,
}

impl StateDir {
    /// Opens (and creates) `dir` and locks it for this run.
    pub fn open(dir: &Path) -> Result<StateDir> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("--state-dir {shown}"), e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("--state-dir {shown}"), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Usage(format!(
                    "--state-dir {shown}: another rowtime run is using it (it holds {}); a state directory serves one run at a time",
                    lock_path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("--state-dir {shown}: locking"), e));
            }
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint files, newest first.
    fn files(&self) -> Result<Vec<(u64, PathBuf)>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(self.dir.display().to_string(), e))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(self.dir.display().to_string(), e))?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            files.push((n, entry.path()));
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(files)
    }

    /// The newest checkpoint that reads back whole. One that does not is passed over with a
    /// warning naming the file and why; if none does, the error says so.
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        let files = self.files()?;
        let mut damaged: Vec<(PathBuf, String)> = Vec::new();
        for (_, path) in &files {
            let bytes =
                std::fs::read(path).map_err(|e| Error::io(path.display().to_string(), e))?;
            match Checkpoint::decode(&bytes) {
                Ok(c) => {
                    for (p, why) in &damaged {
                        eprintln!(
                            "rowtime: warning: {}: not usable, {why}; resuming from the checkpoint before it, {}",
                            p.display(),
                            path.display()
                        );
                    }
                    return Ok(Some(c));
                }
                Err(why) => damaged.push((path.clone(), why)),
            }
        }
        if damaged.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = damaged
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect();
        Err(Error::Application(format!(
            "--state-dir {}: no checkpoint there can be used ({}); start afresh with --force (the state there is dropped)",
            self.dir.display(),
            list.join("; ")
        )))
    }

    /// Writes `checkpoint` atomically, then removes all but it and the one before it.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<()> {
        let bytes = checkpoint.encode()?;
        let tmp = self.dir.join(".checkpoint.tmp");
        let name = self
            .dir
            .join(format!("{PREFIX}{:010}", checkpoint.sequence));
        let io = |what: &Path| {
            let shown = what.display().to_string();
            move |e| Error::io(format!("writing a checkpoint: {shown}"), e)
        };
        {
            let mut file = File::create(&tmp).map_err(io(&tmp))?;
            file.write_all(&bytes).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &name).map_err(io(&name))?;
        sync_dir(&self.dir).map_err(io(&self.dir))?;
        for (n, path) in self.files()?.into_iter().skip(2) {
            if n < checkpoint.sequence {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    /// Removes every checkpoint (`--force`: the run starts afresh).
    pub fn clear(&self) -> Result<()> {
        for (_, path) in self.files()? {
            std::fs::remove_file(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        }
        sync_dir(&self.dir).map_err(|e| Error::io(self.dir.display().to_string(), e))
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    fn identity() -> Identity {
        Identity {
            application: "toll_billing".into(),
            rowtime: "0.1.0".into(),
            code:
                "CREATE STREAM S (A INT);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM A FROM I;"
                    .into(),
            input_schema: "{}".into(),
            rowtime_from: Some("TS".into()),
            input: "data.jsonl".into(),
        }
    }

    fn checkpoint(sequence: u64) -> Checkpoint {
        let batch = RecordBatch::try_from_iter([(
            "X",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        )])
        .unwrap();
        Checkpoint {
            identity: identity(),
            sequence,
            finished: false,
            inputs: vec![Some(InputPosition::Lines(LinesPosition {
                offset: 1234,
                records: 17,
            }))],
            last_rowtimes: vec![(0, 99)],
            dataflow: Some(Snapshot {
                meta: serde_json::json!({"n": sequence}),
                batches: vec![batch.clone()],
            }),
            sinks: vec![
                (
                    "OUT=out.jsonl".into(),
                    Snapshot::of(serde_json::json!({"len": 10})),
                ),
                ("error_stream=errors.jsonl".into(), Snapshot::empty()),
            ],
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rowtime-checkpoint-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_checkpoint_reads_back_as_written() {
        let c = checkpoint(7);
        let back = Checkpoint::decode(&c.encode().unwrap()).unwrap();
        assert_eq!(back.identity, c.identity);
        assert_eq!(back.sequence, 7);
        assert_eq!(back.inputs, c.inputs);
        assert_eq!(back.last_rowtimes, c.last_rowtimes);
        assert_eq!(back.dataflow, c.dataflow);
        assert_eq!(back.sinks, c.sinks);
        assert_eq!(
            back.sink("OUT=out.jsonl")
                .unwrap()
                .field::<u64>("len")
                .unwrap(),
            10
        );
        assert!(back.sink("OUT=elsewhere.jsonl").is_none());
    }

    #[test]
    fn damage_anywhere_is_detected() {
        let bytes = checkpoint(1).encode().unwrap();
        for at in [
            0,
            MAGIC.len(),
            MAGIC.len() + 5,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(Checkpoint::decode(&bad).is_err(), "flipped byte {at}");
        }
        for cut in [3, MAGIC.len() + 10, bytes.len() - 1] {
            let why = Checkpoint::decode(&bytes[..cut]).unwrap_err();
            assert!(
                why.contains("torn") || why.contains("not a rowtime"),
                "{why}"
            );
        }
        let mut other_format = bytes.clone();
        other_format[MAGIC.len()] = 9;
        let why = Checkpoint::decode(&other_format).unwrap_err();
        assert!(why.contains("format 9"), "{why}");
    }

    #[test]
    fn the_directory_keeps_two_and_falls_back_past_a_damaged_one() {
        let dir = temp("dir");
        let state = StateDir::open(&dir).unwrap();
        assert!(state.latest().unwrap().is_none());
        for n in 1..=4 {
            state.write(&checkpoint(n)).unwrap();
        }
        let names: Vec<u64> = state.files().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [4, 3]);
        assert_eq!(state.latest().unwrap().unwrap().sequence, 4);
        // Tear the newest: the one before it is used.
        let newest = dir.join(format!("{PREFIX}{:010}", 4));
        let len = std::fs::metadata(&newest).unwrap().len();
        let f = OpenOptions::new().write(true).open(&newest).unwrap();
        f.set_len(len / 2).unwrap();
        assert_eq!(state.latest().unwrap().unwrap().sequence, 3);
        // Both damaged: an error naming the files and --force.
        std::fs::write(dir.join(format!("{PREFIX}{:010}", 3)), b"garbage").unwrap();
        let e = state.latest().unwrap_err().to_string();
        assert!(
            e.contains("no checkpoint there can be used") && e.contains("--force"),
            "{e}"
        );
        assert!(
            e.contains("checkpoint-0000000003: it is not a rowtime checkpoint"),
            "{e}"
        );
        state.clear().unwrap();
        assert!(state.latest().unwrap().is_none());
        // A second run on the same directory is refused while the first holds it.
        let e = StateDir::open(&dir).err().unwrap().to_string();
        assert!(e.contains("another rowtime run is using it"), "{e}");
        drop(state);
        StateDir::open(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_application_is_refused_with_what_differs() {
        let mine = identity();
        assert_eq!(mine.refuses(&identity()), None);
        let other = Identity {
            application: "toll_booth_alerts".into(),
            ..identity()
        };
        assert!(
            mine.refuses(&other)
                .unwrap()
                .contains("`toll_booth_alerts`")
        );
        let edited = Identity {
            code: mine.code.replace("SELECT STREAM A", "SELECT STREAM A + 1"),
            ..identity()
        };
        let why = mine.refuses(&edited).unwrap();
        assert!(why.contains("line 2") && why.contains("A + 1"), "{why}");
        let live = Identity {
            rowtime_from: None,
            ..identity()
        };
        let why = mine.refuses(&live).unwrap();
        assert!(
            why.contains("live ROWTIMEs") && why.contains("--rowtime-from TS"),
            "{why}"
        );
        let moved = Identity {
            input: "other.jsonl".into(),
            ..identity()
        };
        assert!(mine.refuses(&moved).unwrap().contains("other.jsonl"));
    }
}
