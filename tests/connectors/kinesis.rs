//! The Kinesis source, end to end: the `rowtime` binary reading streams on ministack (and on
//! kinesis-local, which reshards as the service does), with records put by boto3 and the
//! expected rows derived from what boto3 put and read back. The fault proxy stands in front
//! where a test needs a readiness signal, a count of calls or an injected failure.
//! Scenario ids (K1…) are those of the connector test plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, Running, Server};

/// How long a run may take to show what a test waits for (generous: the machine is shared).
const LIMIT: Duration = Duration::from_secs(90);

/// A test's folder, removed when the test passes.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        Dir(support::temp_dir(&format!("kinesis-{name}")))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A KDA InputSchema for JSON records: (name, SQL type, JSONPath) per column.
fn json_schema(columns: &[(&str, &str, &str)]) -> Value {
    let columns: Vec<Value> = columns
        .iter()
        .map(|(n, t, m)| json!({"Name": n, "SqlType": t, "Mapping": m}))
        .collect();
    json!({
        "RecordFormat": {"RecordFormatType": "JSON",
            "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
        "RecordEncoding": "UTF-8",
        "RecordColumns": columns,
    })
}

/// Records `{"n": i, "k": "key<i % keys>"}` for `ids`.
fn records(ids: std::ops::Range<usize>, keys: usize) -> Vec<String> {
    ids.map(|i| format!(r#"{{"n":{i},"k":"key{}"}}"#, i % keys))
        .collect()
}

/// The `(N, K)` application: every record as a row, with the stream's arrival time.
const PASS_THROUGH: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (N INTEGER, K VARCHAR(16), ARRIVED TIMESTAMP);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM *, APPROXIMATE_ARRIVAL_TIME FROM "SOURCE_SQL_STREAM_001";
"#;

/// A `rowtime run` of [`PASS_THROUGH`] over `kinesis://stream` through `endpoint`, output rows
/// (with ROWTIME) on stdout.
fn pass_through(dir: &Dir, endpoint: &str, stream: &str, flags: &[&str]) -> Command {
    let app = dir.write("app.sql", PASS_THROUGH);
    let schema = json_schema(&[("N", "INTEGER", "$.n"), ("K", "VARCHAR(16)", "$.k")]);
    let schema = dir.write("schema.json", &schema.to_string());
    let mut c = support::rowtime(endpoint);
    c.args(["run", s(&app), "--input-schema", s(&schema)])
        .args(["--input", &format!("kinesis://{stream}")])
        .args(["--with-rowtime", "--output", "DESTINATION_SQL_STREAM=-"])
        .args(flags);
    c
}

fn rows_of(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `N` of every row, in output order.
fn ns(rows: &[Value]) -> Vec<u64> {
    rows.iter()
        .map(|r| r["N"].as_u64().unwrap_or_else(|| panic!("no N in {r}")))
        .collect()
}

/// Every record of `ids` exactly once.
fn assert_once_each(rows: &[Value], ids: std::ops::Range<usize>) {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for n in ns(rows) {
        *counts.entry(n).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        twice.is_empty(),
        "read more than once (N, times): {twice:?}"
    );
    let missing: Vec<usize> = ids
        .clone()
        .filter(|i| !counts.contains_key(&(*i as u64)))
        .collect();
    assert!(missing.is_empty(), "never read: {missing:?}");
    let extra: Vec<&u64> = counts
        .keys()
        .filter(|n| !ids.contains(&(**n as usize)))
        .collect();
    assert!(extra.is_empty(), "rows that were not expected: {extra:?}");
}

/// For each key, its records came out in the order they were put (N increases).
fn assert_order_per_key(rows: &[Value]) {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows {
        let k = r["K"].as_str().unwrap().to_string();
        let n = r["N"].as_u64().unwrap();
        if let Some(prev) = last.get(&k) {
            assert!(
                n > *prev,
                "key {k}: record {n} came after record {prev}, which was put after it"
            );
        }
        last.insert(k, n);
    }
}

/// `ms` as rowtime writes a TIMESTAMP (UTC, milliseconds).
fn timestamp_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// The proxy's log lines for one Kinesis operation (`GetRecords`, …).
fn calls(log: &Path, operation: &str) -> Vec<Value> {
    let target = format!("Kinesis_20131202.{operation}");
    support::json_lines(log)
        .into_iter()
        .filter(|c| c["target"] == target.as_str())
        .collect()
}

/// A proxy with an empty plan in front of `upstream`: (proxy, plan file, log file).
fn proxy(upstream: &Server, dir: &Dir, plan: Value) -> (Server, PathBuf, PathBuf) {
    let plan_file = dir.path("plan.json");
    support::write_plan(&plan_file, &plan);
    let log = dir.path("proxy.jsonl");
    let p = Server::proxy(upstream, &plan_file, &log);
    (p, plan_file, log)
}

#[test]
fn k1_trim_horizon_reads_every_record_of_both_shards_with_its_arrival_time() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("k1");
    support::aws(&ep, &["create-stream", "k1", "--shards", "2"]);
    // Four puts, so that the records have several arrival times.
    for part in 0..4 {
        support::put_lines(
            &ep,
            &dir.0,
            "k1",
            &records(part * 25..part * 25 + 25, 7),
            &[],
        );
    }
    let read = support::aws(&ep, &["read-stream", "k1"]);
    let arrival: BTreeMap<u64, i64> = read["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let record: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
            (
                record["n"].as_u64().unwrap(),
                r["arrival_ms"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(arrival.len(), 100);
    let shards: BTreeSet<&str> = read["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shard_id"].as_str().unwrap())
        .collect();
    assert_eq!(shards.len(), 2, "the records are spread over both shards");

    let cmd = pass_through(
        &dir,
        &ep,
        "k1",
        &["--start-position", "TRIM_HORIZON", "--until-latest"],
    );
    let done = support::run_to_end(cmd, &dir.path("stderr"), LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..100);
    let mut previous = String::new();
    for r in &rows {
        let n = r["N"].as_u64().unwrap();
        assert_eq!(r["K"], format!("key{}", n % 7).as_str(), "{r}");
        let arrived = timestamp_text(arrival[&n]);
        assert_eq!(r["ARRIVED"], arrived.as_str(), "record {n}: {r}");
        let rowtime = r["ROWTIME"].as_str().unwrap().to_string();
        assert!(
            rowtime >= previous,
            "ROWTIME went back: {previous} then {r}"
        );
        assert!(rowtime >= arrived, "ROWTIME before the arrival: {r}");
        previous = rowtime;
    }
    assert!(
        done.stderr.contains("rows in 100, rows out 100, errors 0"),
        "{}",
        done.stderr
    );
}

#[test]
fn k2_now_reads_only_the_records_put_after_the_start() {
    let ms = Server::ministack();
    let dir = Dir::new("k2");
    support::aws(&ms.endpoint(), &["create-stream", "k2", "--shards", "2"]);
    support::put_lines(&ms.endpoint(), &dir.0, "k2", &records(0..10, 3), &[]);
    // The proxy's log is the readiness signal: rowtime has an iterator on each shard once it
    // polls both (NOW is the moment it started, before it listed the shards).
    let (px, _, log) = proxy(&ms, &dir, json!([]));
    // No --start-position: NOW is the default.
    let cmd = pass_through(&dir, &px.endpoint(), "k2", &[]);
    let mut run = Running::start(cmd, &dir.path("stderr"));
    run.wait_until(LIMIT, "rowtime polls both shards", |_, _| {
        calls(&log, "GetRecords").len() >= 2
    });
    let iterators = calls(&log, "GetShardIterator");
    assert_eq!(iterators.len(), 2);
    assert!(
        iterators
            .iter()
            .all(|c| c["iterator_type"] == "AT_TIMESTAMP"),
        "{iterators:?}"
    );
    support::put_lines(&ms.endpoint(), &dir.0, "k2", &records(10..20, 3), &[]);
    run.wait_until(LIMIT, "the 10 new records", |lines, _| {
        let seen: BTreeSet<u64> = ns(&rows_of(lines)).into_iter().collect();
        (10..20).all(|n| seen.contains(&n))
    });
    let done = run.stop(LIMIT);
    done.assert_ok();
    assert_once_each(&rows_of(&done.stdout), 10..20);
}

#[test]
fn k5_input_parallelism_2_gives_each_in_app_stream_two_of_four_shards() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("k5");
    support::aws(&ep, &["create-stream", "k5", "--shards", "4"]);
    let put = support::put_lines(&ep, &dir.0, "k5", &records(0..200, 10), &[]);
    // The documented rule: shards sorted by starting hash key, shard i of 4 feeds stream
    // floor(i * 2 / 4) + 1, so the lower half of the key space goes to _001.
    let listed = support::aws(&ep, &["list-shards", "k5"]);
    let mut shards: Vec<(u128, String)> = listed["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["starting_hash_key"].as_str().unwrap().parse().unwrap(),
                s["shard_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    shards.sort();
    let stream_of: BTreeMap<String, &str> = shards
        .iter()
        .enumerate()
        .map(|(i, (_, id))| (id.clone(), if i * 2 / 4 == 0 { "S001" } else { "S002" }))
        .collect();
    let expected: BTreeMap<u64, &str> = put["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = r["line"].as_u64().unwrap() - 1;
            (n, stream_of[r["shard_id"].as_str().unwrap()])
        })
        .collect();
    let per_shard: BTreeSet<&str> = put["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shard_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        per_shard.len(),
        4,
        "the records are spread over the 4 shards"
    );

    // One pump per source stream into one output, as the KDA guide does it.
    let code = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (SRC VARCHAR(8), N INTEGER, K VARCHAR(16));
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM 'S001', N, K FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM 'S002', N, K FROM "SOURCE_SQL_STREAM_002";
"#;
    let definition = json!({"ApplicationDetail": {
        "ApplicationName": "k5",
        "ApplicationCode": code,
        "InputDescriptions": [{
            "NamePrefix": "SOURCE_SQL_STREAM",
            "InputParallelism": {"Count": 2},
            "KinesisStreamsInputDescription": {
                "ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/k5"},
            "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"},
            "InputSchema": json_schema(&[("N", "INTEGER", "$.n"), ("K", "VARCHAR(16)", "$.k")]),
        }],
    }});
    let app = dir.write("k5.json", &definition.to_string());
    let mut cmd = support::rowtime(&ep);
    cmd.args(["run", "--app", s(&app), "--connect", "--until-latest"])
        .args(["--output", "DESTINATION_SQL_STREAM=-"]);
    let done = support::run_to_end(cmd, &dir.path("stderr"), LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..200);
    for r in &rows {
        let n = r["N"].as_u64().unwrap();
        assert_eq!(
            r["SRC"], expected[&n],
            "record {n} went to the wrong stream: {r}"
        );
    }
    for stream in ["S001", "S002"] {
        assert!(
            rows.iter().any(|r| r["SRC"] == stream),
            "{stream} got nothing"
        );
    }
}

#[test]
fn k11_malformed_records_go_to_error_stream_and_the_rest_goes_on() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("k11");
    support::aws(&ep, &["create-stream", "k11", "--shards", "2"]);
    let mut lines = records(0..20, 4);
    // Bad JSON, not JSON at all, a text where the schema has an INTEGER.
    let bad = [
        (5, r#"{"n":5,"k":"key1""#.to_string()),
        (11, "eleven, as plain text".to_string()),
        (17, r#"{"n":"seventeen","k":"key1"}"#.to_string()),
    ];
    for (i, text) in &bad {
        lines[*i] = text.clone();
    }
    support::put_lines(&ep, &dir.0, "k11", &lines, &[]);
    let errors = dir.path("errors.jsonl");
    let mut cmd = pass_through(
        &dir,
        &ep,
        "k11",
        &["--start-position", "TRIM_HORIZON", "--until-latest"],
    );
    cmd.args(["--output", &format!("error_stream={}", s(&errors))]);
    let done = support::run_to_end(cmd, &dir.path("stderr"), LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    let good: Vec<u64> = (0..20u64).filter(|n| ![5, 11, 17].contains(n)).collect();
    let mut got = ns(&rows);
    got.sort();
    assert_eq!(got, good);
    let error_rows = support::json_lines(&errors);
    let mut data: Vec<String> = error_rows
        .iter()
        .map(|e| {
            assert_eq!(e["ERROR_NAME"], "PARSE_ERROR", "{e}");
            let hex = e["DATA_ROW"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    data.sort();
    let mut expected: Vec<String> = bad.iter().map(|(_, t)| t.clone()).collect();
    expected.sort();
    assert_eq!(
        data, expected,
        "one error row per malformed record, with its bytes"
    );
    assert!(
        done.stderr.contains("rows in 20, rows out 17, errors 3"),
        "{}",
        done.stderr
    );
}

#[test]
fn k10_throttled_get_records_back_off_and_read_every_record_once() {
    let ms = Server::ministack();
    let dir = Dir::new("k10");
    support::aws(&ms.endpoint(), &["create-stream", "k10", "--shards", "1"]);
    support::put_lines(&ms.endpoint(), &dir.0, "k10", &records(0..30, 3), &[]);
    let plan = json!([{"match": {"target": "Kinesis_20131202.GetRecords"}, "first": 4,
        "fault": "throttle"}]);
    let (px, _, log) = proxy(&ms, &dir, plan);
    let cmd = pass_through(
        &dir,
        &px.endpoint(),
        "k10",
        &["--start-position", "TRIM_HORIZON", "--until-latest"],
    );
    let done = support::run_to_end(cmd, &dir.path("stderr"), LIMIT);
    done.assert_ok();
    assert_once_each(&rows_of(&done.stdout), 0..30);
    let polls = calls(&log, "GetRecords");
    let statuses: Vec<u64> = polls
        .iter()
        .map(|c| c["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses[..5], [400, 400, 400, 400, 200], "{polls:?}");
    // The iterator stays good while throttled: it is fetched once.
    assert_eq!(calls(&log, "GetShardIterator").len(), 1);
    // Backoff: 100 ms doubling (with up to a quarter of jitter), so each wait is longer than
    // the one before and at least its base.
    let t: Vec<f64> = polls.iter().map(|c| c["t"].as_f64().unwrap()).collect();
    let gaps: Vec<f64> = t.windows(2).take(4).map(|w| w[1] - w[0]).collect();
    for (i, gap) in gaps.iter().enumerate() {
        let base = 0.1 * f64::from(1u32 << i);
        assert!(
            *gap >= base * 0.95,
            "wait {i} after a throttle was {gap:.3} s, less than {base} s: {gaps:?}"
        );
    }
}

#[test]
fn k9_an_expired_iterator_is_fetched_again_after_the_last_record_read() {
    let ms = Server::ministack();
    let dir = Dir::new("k9");
    support::aws(&ms.endpoint(), &["create-stream", "k9", "--shards", "1"]);
    let first = support::put_lines(&ms.endpoint(), &dir.0, "k9", &records(0..30, 3), &[]);
    let last_read = first["records"][29]["sequence_number"]
        .as_str()
        .unwrap()
        .to_string();
    let (px, plan, log) = proxy(&ms, &dir, json!([]));
    let cmd = pass_through(
        &dir,
        &px.endpoint(),
        "k9",
        &["--start-position", "TRIM_HORIZON"],
    );
    let mut run = Running::start(cmd, &dir.path("stderr"));
    run.wait_for_lines(30, LIMIT);
    // From now on the next GetRecords finds its iterator expired (as after 5 idle minutes).
    support::write_plan(
        &plan,
        &json!([{"match": {"target": "Kinesis_20131202.GetRecords"}, "first": 1,
            "fault": "expire_iterator"}]),
    );
    run.wait_until(LIMIT, "the expired iterator is fetched again", |_, _| {
        calls(&log, "GetShardIterator").len() >= 2
    });
    support::put_lines(&ms.endpoint(), &dir.0, "k9", &records(30..60, 3), &[]);
    run.wait_for_lines(60, LIMIT);
    let done = run.stop(LIMIT);
    done.assert_ok();
    assert_once_each(&rows_of(&done.stdout), 0..60);
    let expired: Vec<Value> = calls(&log, "GetRecords")
        .into_iter()
        .filter(|c| c["fault"] == "expire_iterator")
        .collect();
    assert_eq!(expired.len(), 1);
    let iterators = calls(&log, "GetShardIterator");
    assert_eq!(iterators.len(), 2, "{iterators:?}");
    assert_eq!(iterators[0]["iterator_type"], "TRIM_HORIZON");
    assert_eq!(iterators[1]["iterator_type"], "AFTER_SEQUENCE_NUMBER");
    assert_eq!(
        iterators[1]["starting_sequence_number"],
        last_read.as_str(),
        "the new iterator starts after the last record read"
    );
    assert!(iterators[1]["n"].as_u64() > expired[0]["n"].as_u64());
}

/// Records `ids` with partition key = their key, so a key stays in one shard until a reshard.
fn put_keyed(endpoint: &str, dir: &Dir, stream: &str, ids: std::ops::Range<usize>) -> Value {
    support::put_lines(
        endpoint,
        &dir.0,
        stream,
        &records(ids, 10),
        &["--key-field", "k"],
    )
}

/// The shard ids of a stream that are closed, and those that are open.
fn shard_states(endpoint: &str, stream: &str) -> (Vec<String>, Vec<String>) {
    let listed = support::aws(endpoint, &["list-shards", stream]);
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    for s in listed["shards"].as_array().unwrap() {
        let id = s["shard_id"].as_str().unwrap().to_string();
        if s["closed"].as_bool().unwrap() {
            closed.push(id);
        } else {
            open.push(id);
        }
    }
    (closed, open)
}

#[test]
fn k6_a_shard_split_mid_run_keeps_every_record_once_and_each_key_in_order() {
    let kl = Server::kinesis_local();
    let ep = kl.endpoint();
    let dir = Dir::new("k6");
    support::aws(&ep, &["create-stream", "k6", "--shards", "2"]);
    let cmd = pass_through(&dir, &ep, "k6", &["--start-position", "TRIM_HORIZON"]);
    let mut run = Running::start(cmd, &dir.path("stderr"));
    put_keyed(&ep, &dir, "k6", 0..50);
    run.wait_for_lines(50, LIMIT);
    support::aws(&ep, &["split-shard", "k6", "shardId-000000000000"]);
    put_keyed(&ep, &dir, "k6", 50..100);
    run.wait_for_lines(100, LIMIT);
    // The children of the split, then the other shard split too.
    support::aws(&ep, &["split-shard", "k6", "shardId-000000000001"]);
    put_keyed(&ep, &dir, "k6", 100..150);
    run.wait_for_lines(150, LIMIT);
    let (closed, open) = shard_states(&ep, "k6");
    assert_eq!(closed.len(), 2, "both shards were split: {closed:?}");
    assert_eq!(open.len(), 4, "{open:?}");
    let done = run.stop(LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..150);
    assert_order_per_key(&rows);
}

#[test]
fn k7_a_merge_then_update_shard_count_keeps_every_record_once_and_each_key_in_order() {
    let kl = Server::kinesis_local();
    let ep = kl.endpoint();
    let dir = Dir::new("k7");
    support::aws(&ep, &["create-stream", "k7", "--shards", "3"]);
    let cmd = pass_through(&dir, &ep, "k7", &["--start-position", "TRIM_HORIZON"]);
    let mut run = Running::start(cmd, &dir.path("stderr"));
    put_keyed(&ep, &dir, "k7", 0..50);
    run.wait_for_lines(50, LIMIT);
    support::aws(
        &ep,
        &[
            "merge-shards",
            "k7",
            "shardId-000000000000",
            "shardId-000000000001",
        ],
    );
    put_keyed(&ep, &dir, "k7", 50..100);
    run.wait_for_lines(100, LIMIT);
    // Two open shards now; 2 → 4.
    support::aws(&ep, &["update-shard-count", "k7", "4"]);
    put_keyed(&ep, &dir, "k7", 100..150);
    run.wait_for_lines(150, LIMIT);
    let (closed, open) = shard_states(&ep, "k7");
    assert!(closed.len() >= 4, "merged and rescaled: {closed:?}");
    assert_eq!(open.len(), 4, "{open:?}");
    let done = run.stop(LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..150);
    assert_order_per_key(&rows);
}

/// GetRecords calls the proxy answered past a closed shard's end (positions in the log).
fn past_end(log: &Path) -> Vec<u64> {
    calls(log, "GetRecords")
        .iter()
        .filter(|c| c["past_end"] == true)
        .map(|c| c["n"].as_u64().unwrap())
        .collect()
}

/// Where in the proxy's log the first iterator of a shard other than `parent` was asked for.
fn first_child_iterator(log: &Path, parent: &str) -> u64 {
    calls(log, "GetShardIterator")
        .iter()
        .find(|c| c["shard_id"] != parent)
        .map(|c| c["n"].as_u64().unwrap())
        .expect("a child shard was read")
}

/// The parent was done with before its children were read, and was not polled afterwards
/// (a child is read only once its parent has ended).
fn assert_parent_ended_first(log: &Path, parent: &str, limit_past_end: usize) {
    let past = past_end(log);
    let child = first_child_iterator(log, parent);
    assert!(
        past.iter().all(|n| *n < child),
        "the closed parent was polled after its children started: {past:?}, first child at {child}"
    );
    assert!(
        past.len() <= limit_past_end,
        "the closed parent was polled past its end {} times",
        past.len()
    );
}

#[test]
fn k8_a_closed_shard_ends_at_its_ending_sequence_number_without_a_null_iterator() {
    // kinesis-local closes shards as the service does; the proxy hides the null iterator and
    // the child shards at a closed shard's end, as moto serves them, so rowtime must see the
    // end from ListShards' EndingSequenceNumber.
    let kl = Server::kinesis_local();
    let ep = kl.endpoint();
    let dir = Dir::new("k8");
    support::aws(&ep, &["create-stream", "k8", "--shards", "1"]);
    put_keyed(&ep, &dir, "k8", 0..40);
    support::aws(&ep, &["split-shard", "k8", "shardId-000000000000"]);
    put_keyed(&ep, &dir, "k8", 40..80);
    let (px, _, log) = proxy(
        &kl,
        &dir,
        json!([{"match": {"target": "Kinesis_20131202.GetRecords"}, "fault": "hide_shard_end"}]),
    );
    let cmd = pass_through(
        &dir,
        &px.endpoint(),
        "k8",
        &["--start-position", "TRIM_HORIZON"],
    );
    let mut run = Running::start(cmd, &dir.path("stderr"));
    run.wait_for_lines(80, LIMIT);
    put_keyed(&ep, &dir, "k8", 80..120);
    run.wait_for_lines(120, LIMIT);
    let done = run.stop(LIMIT);
    done.assert_ok();
    let hidden = calls(&log, "GetRecords")
        .iter()
        .filter(|c| c["hid_end"] == true)
        .count();
    assert_eq!(hidden, 1, "the parent's end was hidden once");
    // At most one look past the end: an empty page with nothing behind on a closed shard.
    assert_parent_ended_first(&log, "shardId-000000000000", 1);
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..120);
    assert_order_per_key(&rows);
}

#[test]
fn k8_a_shard_split_mid_run_is_found_without_a_null_iterator() {
    // As above, but the split happens while rowtime reads: only listing the shards again tells
    // it that the shard it polls has closed (at most every 5 s while that shard is caught up).
    let kl = Server::kinesis_local();
    let ep = kl.endpoint();
    let dir = Dir::new("k8-mid-run");
    support::aws(&ep, &["create-stream", "k8m", "--shards", "1"]);
    let (px, _, log) = proxy(
        &kl,
        &dir,
        json!([{"match": {"target": "Kinesis_20131202.GetRecords"}, "fault": "hide_shard_end"}]),
    );
    let cmd = pass_through(
        &dir,
        &px.endpoint(),
        "k8m",
        &["--start-position", "TRIM_HORIZON"],
    );
    let mut run = Running::start(cmd, &dir.path("stderr"));
    put_keyed(&ep, &dir, "k8m", 0..40);
    run.wait_for_lines(40, LIMIT);
    support::aws(&ep, &["split-shard", "k8m", "shardId-000000000000"]);
    put_keyed(&ep, &dir, "k8m", 40..80);
    run.wait_for_lines(80, LIMIT);
    let done = run.stop(LIMIT);
    done.assert_ok();
    let rows = rows_of(&done.stdout);
    assert_once_each(&rows, 0..80);
    assert_order_per_key(&rows);
    assert!(
        calls(&log, "ListShards").len() >= 2,
        "the shards were listed again"
    );
    // Polled once a second past its end until the next listing (5 s), then never again.
    assert_parent_ended_first(&log, "shardId-000000000000", 8);
}

#[test]
fn discover_prints_the_schema_of_a_streams_oldest_records() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("discover");
    support::aws(&ep, &["create-stream", "tolls", "--shards", "2"]);
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/data/toll_transactions.jsonl"),
    )
    .unwrap();
    let lines: Vec<String> = sample.lines().take(60).map(str::to_string).collect();
    support::put_lines(&ep, &dir.0, "tolls", &lines, &[]);
    let file = dir.write("sample.jsonl", &lines.join("\n"));
    let discover = |input: &str| {
        let mut cmd = support::rowtime(&ep);
        cmd.args(["discover", "--input", input]);
        let done = support::run_to_end(cmd, &dir.path("stderr"), LIMIT);
        done.assert_ok();
        let schema: Value = serde_json::from_str(&done.stdout.join("\n")).unwrap();
        schema
    };
    let schema = discover("kinesis://tolls");
    let columns: Vec<(String, String, String)> = schema["RecordColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap().to_string();
            (text("Name"), text("Mapping"), text("SqlType"))
        })
        .collect();
    let keys = [
        "booth_id",
        "account_id",
        "vehicle_class",
        "amount",
        "event_time",
    ];
    let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, keys, "the records' keys, in their order");
    for (name, mapping, _) in &columns {
        assert_eq!(*mapping, format!("$.{name}"));
    }
    assert_eq!(columns[3].2, "DOUBLE");
    assert_eq!(columns[4].2, "TIMESTAMP");
    assert_eq!(schema["RecordFormat"]["RecordFormatType"], "JSON");
    // The same records in a file give the same schema.
    assert_eq!(discover(s(&file)), schema);
}
