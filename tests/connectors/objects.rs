//! The Firehose-style object sink (`connectors::objects`) in-process, writing to a folder and to
//! ministack's S3 (directly, or through the fault proxy), checked with the file system and with
//! boto3 (`aws_tool.py list-objects` / `get-object`).

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use rowtime::connectors::Sink;
use rowtime::connectors::aws;
use rowtime::connectors::location::Location;
use rowtime::connectors::objects::{ObjectSink, ObjectSinkOptions, S3Client};
use rowtime::connectors::records::RecordFormat;
use rowtime::connectors::retry::RetryLimit;
use rowtime::connectors::sink::Columns;
use rowtime::error_stream::DELIVERY_ERROR;
use rowtime::time::parse_timestamp;

use crate::support::{self, Server};

const STREAM: &str = "DESTINATION_SQL_STREAM";

fn ts(text: &str) -> i64 {
    parse_timestamp(text).expect("a timestamp")
}

/// Rows `(SEQ, TEXT)` for `seqs`, TEXT from `text(SEQ)`, each with ROWTIME `rowtime`.
fn rows(seqs: Range<i64>, text: impl Fn(i64) -> String, rowtime: i64) -> RecordBatch {
    let n = (seqs.end - seqs.start) as usize;
    let texts: Vec<String> = seqs.clone().map(text).collect();
    RecordBatch::try_from_iter([
        (
            "SEQ",
            Arc::new(Int64Array::from_iter_values(seqs)) as ArrayRef,
        ),
        ("TEXT", Arc::new(StringArray::from(texts)) as ArrayRef),
        (
            "ROWTIME",
            Arc::new(TimestampMillisecondArray::from(vec![rowtime; n])) as ArrayRef,
        ),
    ])
    .expect("a batch")
}

fn batch(seqs: Range<i64>, text: &str, rowtime: i64) -> RecordBatch {
    rows(seqs, |_| text.to_string(), rowtime)
}

/// The JSON line the sink writes for a row.
fn line(seq: i64, text: &str) -> String {
    format!("{{\"SEQ\":{seq},\"TEXT\":\"{text}\"}}\n")
}

/// TEXT that makes a row's JSON line exactly `record` bytes.
fn padded(record: usize) -> impl Fn(i64) -> String {
    move |seq| "x".repeat(record - line(seq, "").len())
}

fn options(location: &str) -> ObjectSinkOptions {
    ObjectSinkOptions::new(
        Location::parse(location).expect("a location"),
        STREAM,
        Columns {
            indices: vec![0, 1],
            names: vec!["SEQ".into(), "TEXT".into()],
        },
        RecordFormat::Json,
    )
}

/// A folder location: `dir`, then `rest` (ending in `/`).
fn folder(dir: &Path, rest: &str) -> String {
    format!("{}/{rest}", dir.display())
}

fn folder_sink(options: ObjectSinkOptions) -> ObjectSink {
    ObjectSink::new(options, None).expect("a folder sink")
}

/// Every file under `dir`: relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("a folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).expect("under the root");
                let bytes = std::fs::read(&path).expect("a file");
                out.insert(name.display().to_string(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// A bucket's objects, key → bytes, as boto3 lists and reads them.
fn s3_objects(endpoint: &str, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let listed = support::aws(endpoint, &["list-objects", bucket]);
    let objects = listed["objects"].as_array().expect("a list of objects");
    objects
        .iter()
        .map(|o| {
            let key = o["key"].as_str().expect("a key").to_string();
            let got = support::aws_raw(endpoint, &["get-object", bucket, &key]);
            assert!(
                got.status.success(),
                "get-object {key}: {}",
                support::text(&got.stderr)
            );
            assert_eq!(o["size"].as_u64(), Some(got.stdout.len() as u64), "{key}");
            (key, got.stdout)
        })
        .collect()
}

/// What an in-process S3 sink needs: the environment (held for the whole test), a tokio
/// runtime, the SDK configuration.
struct S3 {
    config: aws_config::SdkConfig,
    runtime: tokio::runtime::Runtime,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl S3 {
    /// The test environment with every service at `endpoint` (ministack, or a proxy).
    fn at(endpoint: &str) -> S3 {
        let serial = support::serial();
        support::set_test_env(endpoint);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let config = runtime.block_on(aws::sdk_config());
        S3 {
            config,
            runtime,
            _serial: serial,
        }
    }

    fn sink(&self, options: ObjectSinkOptions) -> ObjectSink {
        let Location::S3Prefix { bucket, .. } = &options.location else {
            panic!("not an S3 prefix: {}", options.location);
        };
        let client = S3Client {
            store: aws::s3_delivery_store(&self.config, bucket).expect("an S3 store"),
            handle: self.runtime.handle().clone(),
        };
        ObjectSink::new(options, Some(client)).expect("an S3 sink")
    }
}

/// A ministack with a bucket.
fn ministack_with(bucket: &str) -> Server {
    let server = Server::ministack();
    support::aws(&server.endpoint(), &["create-bucket", bucket]);
    server
}

/// One object: its key, the SEQs of its lines, its size.
#[derive(Debug)]
struct Object {
    key: String,
    seqs: Vec<i64>,
    len: usize,
}

/// The objects in the order of their rows. Each must be whole JSON lines, and together they
/// must hold the SEQs `0..n` once each, in order.
fn whole_objects(objects: &BTreeMap<String, Vec<u8>>, n: i64) -> Vec<Object> {
    let mut out: Vec<Object> = objects
        .iter()
        .map(|(key, bytes)| {
            let text = std::str::from_utf8(bytes).expect("UTF-8");
            assert!(text.ends_with('\n'), "{key} ends with a whole line");
            let seqs = text
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{key}: `{l}` is not JSON: {e}"));
                    v["SEQ"].as_i64().expect("SEQ")
                })
                .collect();
            Object {
                key: key.clone(),
                seqs,
                len: bytes.len(),
            }
        })
        .collect();
    out.sort_by_key(|o| o.seqs.first().copied());
    let all: Vec<i64> = out.iter().flat_map(|o| o.seqs.clone()).collect();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "every row once, in order");
    out
}

/// F1's check: objects of at most 1 KiB, each closed only when the next 100-byte record would
/// not fit, none temporary.
fn check_size_rolling(objects: &BTreeMap<String, Vec<u8>>, n: i64) {
    let objects = whole_objects(objects, n);
    assert!(objects.len() >= 3, "{objects:?}");
    for (i, o) in objects.iter().enumerate() {
        assert!(o.len <= 1024, "{o:?}");
        if i + 1 < objects.len() {
            assert!(o.len + 100 > 1024, "closed early: {o:?}");
        }
        let name = o.key.rsplit('/').next().unwrap_or_default();
        assert!(!name.starts_with('.'), "a temporary file is left: {o:?}");
    }
}

/// F1's input: 31 rows of 100 bytes (3100 bytes, over 3 KiB) in batches of 7.
fn write_3_kib(sink: &mut ObjectSink) -> i64 {
    let n = 31;
    for start in (0..n).step_by(7) {
        let batch = rows(
            start..(start + 7).min(n),
            padded(100),
            ts("2024-03-05 14:07:09"),
        );
        sink.write(&batch).unwrap();
    }
    sink.finish().unwrap();
    n
}

#[test]
fn f1_a_folder_gets_objects_of_the_size_each_whole() {
    let dir = support::temp_dir("objects-f1");
    let mut sink = folder_sink(ObjectSinkOptions {
        size: 1024,
        interval: Duration::from_secs(60),
        ..options(&folder(&dir, "out/"))
    });
    let n = write_3_kib(&mut sink);
    check_size_rolling(&files(&dir.join("out")), n);
}

#[test]
fn f1_s3_gets_objects_of_the_size_each_whole() {
    let server = ministack_with("objects-f1");
    let s3 = S3::at(&server.endpoint());
    let mut sink = s3.sink(ObjectSinkOptions {
        size: 1024,
        interval: Duration::from_secs(60),
        ..options("s3://objects-f1/out/")
    });
    let n = write_3_kib(&mut sink);
    check_size_rolling(&s3_objects(&server.endpoint(), "objects-f1"), n);
}

#[test]
fn f2_one_object_per_interval_when_rows_come_slowly() {
    let dir = support::temp_dir("objects-f2");
    let interval = Duration::from_secs(1);
    let mut sink = folder_sink(ObjectSinkOptions {
        interval,
        ..options(&folder(&dir, ""))
    });
    // 12 rows, one every 250 ms, with idle() every 50 ms in between as the runtime calls it.
    // For each row: the instants just before and just after its write.
    let mut written: Vec<(Instant, Instant)> = Vec::new();
    for seq in 0..12 {
        let before = Instant::now();
        sink.write(&batch(seq..seq + 1, "slow", rowtime::time::now_ms()))
            .unwrap();
        written.push((before, Instant::now()));
        while before.elapsed() < Duration::from_millis(250) {
            std::thread::sleep(Duration::from_millis(50));
            sink.idle().unwrap();
        }
    }
    // The last object is closed by idle() once its interval is over, before finish.
    let last_write = Instant::now();
    support::eventually(
        Duration::from_secs(5),
        "the last object closed by idle()",
        || {
            sink.idle().unwrap();
            let objects = files(&dir);
            let rows: usize = objects
                .values()
                .map(|b| b.split(|c| *c == b'\n').count() - 1)
                .sum();
            (rows == 12).then_some(())
        },
    );
    assert!(
        last_write.elapsed() < Duration::from_secs(2),
        "closed by the interval"
    );
    let before_finish = files(&dir);
    sink.finish().unwrap();
    assert_eq!(
        files(&dir),
        before_finish,
        "finish had nothing left to write"
    );

    let objects = whole_objects(&before_finish, 12);
    // 12 rows over 3 s cannot fit in fewer than 3 one-second objects.
    assert!(objects.len() >= 3, "{objects:?}");
    for pair in objects.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let a_first = written[a.seqs[0] as usize];
        let a_last = written[*a.seqs.last().unwrap() as usize];
        let b_first = written[b.seqs[0] as usize];
        // An object holds only rows written within one interval of its first...
        assert!(
            a_last.0.saturating_duration_since(a_first.1) < interval,
            "{a:?} spans more than the interval"
        );
        // ...and is closed only after a whole interval.
        assert!(
            b_first.1.duration_since(a_first.0) >= interval,
            "{a:?} was closed before its interval ended"
        );
    }
}

/// Rows either side of a midnight, one object each (`flush` between): two days, two hours.
fn write_two_days(sink: &mut ObjectSink) {
    sink.write(&batch(0..2, "late", ts("2024-03-05 23:59:59.900")))
        .unwrap();
    sink.flush().unwrap();
    sink.write(&batch(2..3, "early", ts("2024-03-06 00:00:00.100")))
        .unwrap();
    sink.finish().unwrap();
}

/// Checks the two objects of `write_two_days` under `prefix` (evaluated per day by `day`).
fn check_two_days(objects: &BTreeMap<String, Vec<u8>>, day: impl Fn(&str, &str) -> String) {
    assert_eq!(objects.len(), 2, "{:?}", objects.keys());
    let expected = [
        (
            day("2024-03-05", "2024/03/05/23/"),
            "2024-03-05-23-59-59",
            line(0, "late") + &line(1, "late"),
        ),
        (
            day("2024-03-06", "2024/03/06/00/"),
            "2024-03-06-00-00-00",
            line(2, "early"),
        ),
    ];
    for ((key, bytes), (prefix, stamp, text)) in objects.iter().zip(&expected) {
        let stem = format!("{prefix}{STREAM}-1-{stamp}-");
        let id = key
            .strip_prefix(&stem)
            .unwrap_or_else(|| panic!("{key} does not start with {stem}"));
        uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{key}: `{id}` is not a UUID: {e}"));
        assert_eq!(support::text(bytes), *text, "{key}");
    }
}

#[test]
fn f3_prefixes_in_a_folder() {
    let dir = support::temp_dir("objects-f3");
    let mut sink = folder_sink(options(&folder(&dir, "out/dt=!{timestamp:yyyy-MM-dd}/")));
    write_two_days(&mut sink);
    check_two_days(&files(&dir), |day, _| format!("out/dt={day}/"));

    let mut sink = folder_sink(options(&folder(&dir, "plain/")));
    write_two_days(&mut sink);
    check_two_days(&files(&dir.join("plain")), |_, hour| hour.to_string());
}

#[test]
fn f3_prefixes_on_s3() {
    let server = ministack_with("objects-f3");
    let other = "objects-f3-default";
    support::aws(&server.endpoint(), &["create-bucket", other]);
    let s3 = S3::at(&server.endpoint());
    let mut sink = s3.sink(options("s3://objects-f3/out/dt=!{timestamp:yyyy-MM-dd}/"));
    write_two_days(&mut sink);
    check_two_days(&s3_objects(&server.endpoint(), "objects-f3"), |day, _| {
        format!("out/dt={day}/")
    });

    let mut sink = s3.sink(options(&format!("s3://{other}/")));
    write_two_days(&mut sink);
    check_two_days(&s3_objects(&server.endpoint(), other), |_, hour| {
        hour.to_string()
    });
}

#[test]
fn f4_gzip_objects_on_s3() {
    let server = ministack_with("objects-f4");
    let s3 = S3::at(&server.endpoint());
    let mut sink = s3.sink(ObjectSinkOptions {
        gzip: true,
        ..options("s3://objects-f4/gz/")
    });
    sink.write(&batch(0..50, "zip me", ts("2024-03-05 14:07:09")))
        .unwrap();
    sink.finish().unwrap();
    let objects = s3_objects(&server.endpoint(), "objects-f4");
    assert_eq!(objects.len(), 1, "{:?}", objects.keys());
    let (key, bytes) = objects.iter().next().unwrap();
    assert!(
        key.starts_with(&format!("gz/2024/03/05/14/{STREAM}-1-2024-03-05-14-07-09-"))
            && key.ends_with(".gz"),
        "{key}"
    );
    assert_eq!(bytes[..2], [0x1f, 0x8b], "a gzip member");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gunzips");
    let expected: String = (0..50).map(|seq| line(seq, "zip me")).collect();
    assert_eq!(text, expected);
}

/// F5's input: objects closed by size, by flush and by finish, over several ROWTIMEs.
fn replay_input(sink: &mut ObjectSink) {
    for (i, start) in (0..40).step_by(8).enumerate() {
        let at = ts("2024-03-05 14:07:09") + i as i64 * 1500;
        sink.write(&rows(start..start + 8, padded(100), at))
            .unwrap();
        if i == 2 {
            sink.flush().unwrap();
        }
    }
    sink.finish().unwrap();
}

fn replay_options(location: &str) -> ObjectSinkOptions {
    ObjectSinkOptions {
        size: 1024,
        gzip: true,
        replay: true,
        ..options(location)
    }
}

#[test]
fn f5_replays_write_the_same_keys_and_bytes() {
    let dir = support::temp_dir("objects-f5");
    let mut first = folder_sink(replay_options(&folder(
        &dir,
        "a/r=!{firehose:random-string}/",
    )));
    replay_input(&mut first);
    let mut second = folder_sink(replay_options(&folder(
        &dir,
        "b/r=!{firehose:random-string}/",
    )));
    replay_input(&mut second);
    let a = files(&dir.join("a"));
    let b = files(&dir.join("b"));
    // 40 rows of 100 bytes: objects of 10 rows by size, one cut short by the flush.
    assert!(a.len() >= 5, "{:?}", a.keys());
    assert_eq!(a, b, "the same keys and bytes");

    // On S3, a replay to the same prefix writes the same keys again: nothing new appears.
    let server = ministack_with("objects-f5");
    let s3 = S3::at(&server.endpoint());
    let location = "s3://objects-f5/replay/";
    replay_input(&mut s3.sink(replay_options(location)));
    let once = s3_objects(&server.endpoint(), "objects-f5");
    replay_input(&mut s3.sink(replay_options(location)));
    let twice = s3_objects(&server.endpoint(), "objects-f5");
    assert_eq!(once.len(), a.len());
    assert_eq!(once, twice);
}

/// Writes `plan` as the proxy's plan file, atomically (the proxy re-reads it on each request).
fn set_plan(path: &Path, plan: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, plan).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The proxy's log of PUT requests: (fault, status) each.
fn puts(log: &Path) -> Vec<(Option<String>, Option<u64>)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .filter(|v| v["method"] == "PUT")
        .map(|v| (v["fault"].as_str().map(String::from), v["status"].as_u64()))
        .collect()
}

fn proxy_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = support::temp_dir(name);
    let plan = dir.join("plan.json");
    set_plan(&plan, "[]");
    (plan, dir.join("calls.jsonl"))
}

#[test]
fn f6_s3_down_for_3_s_is_waited_out_and_nothing_is_lost() {
    let server = ministack_with("objects-f6");
    let (plan, log) = proxy_files("objects-f6");
    let proxy = Server::proxy(&server, &plan, &log);
    let s3 = S3::at(&proxy.endpoint());
    let mut sink = s3.sink(ObjectSinkOptions {
        size: 1024,
        ..options("s3://objects-f6/out/")
    });
    // The window starts at the first request after the plan changes: the first PUT.
    set_plan(&plan, r#"[{"fault": "down", "for_s": 3}]"#);
    let started = Instant::now();
    // 25 rows of 100 bytes: two objects closed by size while writing, one at finish.
    sink.write(&rows(0..25, padded(100), ts("2024-03-05 14:07:09")))
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the write waited for S3 (backpressure)"
    );
    sink.finish().unwrap();
    assert!(sink.take_rejected().is_empty());
    let objects = whole_objects(&s3_objects(&server.endpoint(), "objects-f6"), 25);
    assert_eq!(
        objects.iter().map(|o| o.seqs.len()).collect::<Vec<_>>(),
        [10, 10, 5],
        "one object per buffer"
    );
    let puts = puts(&log);
    let down = puts
        .iter()
        .filter(|(f, _)| f.as_deref() == Some("down"))
        .count();
    let ok: Vec<_> = puts.iter().filter(|(f, _)| f.is_none()).collect();
    assert!(down >= 2, "the PUT was retried while S3 was down: {puts:?}");
    assert_eq!(ok.len(), 3, "each object written once: {puts:?}");
    assert!(ok.iter().all(|(_, s)| *s == Some(200)), "{puts:?}");
}

#[test]
fn f6_at_the_retry_limit_rows_come_back_as_delivery_errors() {
    let server = ministack_with("objects-f6b");
    let (plan, log) = proxy_files("objects-f6b");
    set_plan(
        &plan,
        r#"[{"match": {"method": "PUT"}, "fault": "http_500"}]"#,
    );
    let proxy = Server::proxy(&server, &plan, &log);
    let s3 = S3::at(&proxy.endpoint());
    let rowtime = ts("2024-03-05 14:07:09.5");
    let mut sink = s3.sink(ObjectSinkOptions {
        retry: RetryLimit(Some(1)),
        ..options("s3://objects-f6b/out/")
    });
    sink.write(&batch(0..3, "lost?", rowtime)).unwrap();
    sink.flush().unwrap();
    let rejected = sink.take_rejected();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    for (seq, row) in rejected.iter().enumerate() {
        assert_eq!(row.name, DELIVERY_ERROR);
        assert_eq!(row.data_rowtime, Some(rowtime));
        assert_eq!(
            support::text(&row.data_row),
            line(seq as i64, "lost?").trim_end()
        );
        let place = format!("s3://objects-f6b/out/2024/03/05/14/{STREAM}-1-2024-03-05-14-07-09-");
        assert!(
            row.message.contains(&place)
                && row.message.contains("2 failed attempts")
                && row.message.contains("500"),
            "{}",
            row.message
        );
    }
    sink.finish().unwrap();
    assert!(sink.take_rejected().is_empty(), "handed back once");
    // --max-delivery-retries 1: the first attempt and one retry.
    assert_eq!(puts(&log).len(), 2, "{:?}", puts(&log));
    assert!(s3_objects(&server.endpoint(), "objects-f6b").is_empty());
}
