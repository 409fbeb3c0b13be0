//! The state directory with a Kinesis input (ministack): `LAST_STOPPED_POINT` after a clean
//! stop reads only what came after it (K3), and after SIGKILLs every record reaches the Kinesis
//! output at least once, the records sent again being only those read after the last
//! checkpoint before each kill (K4).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{self, Server};

const APP: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (N INTEGER, K VARCHAR(8));
CREATE OR REPLACE PUMP \"COPY_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM N, K FROM \"SOURCE_SQL_STREAM_001\";";

const SCHEMA: &str = r#"{"RecordFormat": {"RecordFormatType": "JSON",
  "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
 "RecordEncoding": "UTF-8",
 "RecordColumns": [{"Name": "N", "Mapping": "$.n", "SqlType": "INTEGER"},
                   {"Name": "K", "Mapping": "$.k", "SqlType": "VARCHAR(8)"}]}"#;

/// The app and schema files in `dir`; returns the arguments naming them.
fn app_args(dir: &Path) -> Vec<String> {
    std::fs::write(dir.join("copy.sql"), APP).unwrap();
    std::fs::write(dir.join("schema.json"), SCHEMA).unwrap();
    vec![
        "run".into(),
        dir.join("copy.sql").display().to_string(),
        "--input-schema".into(),
        dir.join("schema.json").display().to_string(),
        "--input".into(),
        "kinesis://in".into(),
    ]
}

/// Puts records `{"n": i, "k": "k<i % 7>"}` for `range` into stream `in`.
fn put(endpoint: &str, dir: &Path, range: std::ops::Range<u32>) {
    let file = dir.join(format!("records-{}.jsonl", range.start));
    let lines: Vec<String> = range
        .map(|i| format!("{{\"n\":{i},\"k\":\"k{}\"}}", i % 7))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    support::aws(
        endpoint,
        &[
            "put-records",
            "in",
            file.to_str().unwrap(),
            "--key-field",
            "k",
        ],
    );
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn checkpoints_in(state: &Path) -> usize {
    std::fs::read_dir(state).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
        })
        .count()
    })
}

fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

#[test]
fn k3_last_stopped_point_reads_on_after_a_stop() {
    let server = Server::ministack();
    let endpoint = server.endpoint();
    let dir = support::temp_dir("k3");
    support::aws(&endpoint, &["create-stream", "in", "--shards", "2"]);
    put(&endpoint, &dir, 0..50);
    let state = dir.join("state");
    let out = dir.join("out.jsonl");
    let mut args = app_args(&dir);
    args.extend([
        "--output".into(),
        format!("DESTINATION_SQL_STREAM={}", out.display()),
        "--state-dir".into(),
        state.display().to_string(),
        "--checkpoint-interval".into(),
        "200ms".into(),
    ]);
    let first = support::rowtime(&endpoint)
        .args(&args)
        .args(["--start-position", "TRIM_HORIZON"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once all 50 rows are out, stop it as a service manager would.
    support::eventually(Duration::from_secs(30), "50 rows in out.jsonl", || {
        (lines(&out).len() == 50).then_some(())
    });
    let term = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped = finish(first);
    assert!(
        stopped.status.success(),
        "SIGTERM stops cleanly: {}",
        support::text(&stopped.stderr)
    );
    put(&endpoint, &dir, 50..70);
    let second = support::rowtime(&endpoint)
        .args(&args)
        .args(["--start-position", "LAST_STOPPED_POINT", "--until-latest"])
        .output()
        .unwrap();
    let err = support::text(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("resuming from checkpoint"), "{err}");
    // The file was cut back to the checkpoint and continued: every record exactly once.
    let mut seen: Vec<i64> = lines(&out)
        .iter()
        .map(|v| v["N"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..70).collect::<Vec<i64>>(), "{err}");
}

#[test]
fn k4_after_kills_every_record_reaches_the_kinesis_output_at_least_once() {
    let server = Server::ministack();
    let endpoint = server.endpoint();
    let dir = support::temp_dir("k4");
    support::aws(&endpoint, &["create-stream", "in", "--shards", "2"]);
    support::aws(&endpoint, &["create-stream", "out", "--shards", "1"]);
    // A producer keeps putting records while rowtime runs, is killed and resumes.
    let (parts, per_part) = (30u32, 200u32);
    let records = parts * per_part;
    let producer = {
        let (endpoint, dir) = (endpoint.clone(), dir.clone());
        std::thread::spawn(move || {
            for part in 0..parts {
                put(&endpoint, &dir, part * per_part..(part + 1) * per_part);
            }
        })
    };
    let state = dir.join("state");
    let mut args = app_args(&dir);
    args.extend([
        "--output".into(),
        "DESTINATION_SQL_STREAM=kinesis://out".into(),
        "--state-dir".into(),
        state.display().to_string(),
        "--checkpoint-interval".into(),
        "100ms".into(),
    ]);
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("k4: seed {seed}");
    let mut kills = 0;
    while kills < 4 || !producer.is_finished() {
        assert!(kills < 60, "the producer never finished");
        let start = if kills == 0 {
            "TRIM_HORIZON"
        } else {
            "LAST_STOPPED_POINT"
        };
        let mut child = support::rowtime(&endpoint)
            .args(&args)
            .args(["--start-position", start])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Kill at a random moment once the starting point is kept.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(300 + seed % 1200);
        let started = Instant::now();
        while checkpoints_in(&state) == 0 || started.elapsed() < wait {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{status}: {}", support::text(&finish(child).stderr));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    producer.join().unwrap();
    let done = support::rowtime(&endpoint)
        .args(&args)
        .args(["--start-position", "LAST_STOPPED_POINT", "--until-latest"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", support::text(&done.stderr));
    // What reached the output, by N.
    let read = support::aws(&endpoint, &["read-stream", "out"]);
    let mut delivered: HashMap<i64, u32> = HashMap::new();
    for r in read["records"].as_array().unwrap() {
        let row: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
        *delivered.entry(row["N"].as_i64().unwrap()).or_default() += 1;
    }
    for n in 0..i64::from(records) {
        assert!(
            delivered.contains_key(&n),
            "record {n} was lost ({kills} kills)"
        );
    }
    assert_eq!(
        delivered.len(),
        records as usize,
        "nothing but the input's records"
    );
    // Duplicates come only from re-reading after the last checkpoint before a kill: in each
    // shard's order they form at most one run per kill, and far fewer than all the records.
    let input = support::aws(&endpoint, &["read-stream", "in"]);
    let mut by_shard: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in input["records"].as_array().unwrap() {
        let row: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
        by_shard
            .entry(r["shard_id"].as_str().unwrap().to_string())
            .or_default()
            .push(row["n"].as_i64().unwrap());
    }
    let duplicates: u32 = delivered.values().map(|c| c - 1).sum();
    for (shard, ns) in &by_shard {
        let repeated: Vec<bool> = ns.iter().map(|n| delivered[n] > 1).collect();
        let runs = repeated
            .iter()
            .enumerate()
            .filter(|(i, r)| **r && (*i == 0 || !repeated[i - 1]))
            .count();
        assert!(
            runs <= kills,
            "{shard}: {runs} runs of records sent again after {kills} kills"
        );
    }
    assert!(
        duplicates < records / 2,
        "{duplicates} duplicates after {kills} kills: a resumed run started over"
    );
    eprintln!("k4: {kills} kills, {duplicates} rows sent twice, none lost");
}
