//! Delivery to KDA's destinations against ministack (Kinesis, Firehose → S3, Lambda), with the
//! fault-injecting proxy in front where a test counts calls or needs failures. The sinks are
//! built in-process; boto3 reads back what arrived, the proxy's log counts the calls, and the
//! Lambda fixture logs every record it was given and how it answered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use rowtime::connectors::Sink;
use rowtime::connectors::deliver::{
    DeliveryStats, FirehoseOutputOptions, KinesisFirehoseOutput, KinesisOutputOptions,
    KinesisStreamsOutput, LambdaOutput, LambdaOutputOptions,
};
use rowtime::connectors::records::RecordFormat;
use rowtime::connectors::retry::RetryLimit;
use rowtime::connectors::sink::Columns;
use rowtime::error_stream::DELIVERY_ERROR;
use serde_json::Value;

use crate::support::{self, Server};

const ARN: &str = "arn:aws:kinesisanalytics:us-east-1:000000000000:application/DELIVER_TEST";
/// ROWTIME of row `i` in the test batches.
const T0: i64 = 1_600_000_000_000;

/// What every in-process test holds: the environment lock, a tokio runtime, the SDK config.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
    _lock: std::sync::MutexGuard<'static, ()>,
}

/// The SDK configuration for sinks that talk to `endpoint`.
fn in_process(endpoint: &str) -> InProcess {
    let lock = support::serial();
    support::set_test_env(endpoint);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let config = runtime.block_on(rowtime::connectors::aws::sdk_config());
    InProcess {
        runtime,
        config,
        _lock: lock,
    }
}

fn columns() -> Columns {
    Columns {
        indices: vec![0, 1],
        names: vec!["ID".into(), "NAME".into()],
    }
}

/// Rows `ids` of the stream (ID BIGINT, NAME VARCHAR, ROWTIME), NAME from `name`.
fn batch_with(ids: std::ops::Range<i64>, name: impl Fn(i64) -> String) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(&name).collect();
    RecordBatch::try_from_iter([
        (
            "ID",
            Arc::new(Int64Array::from_iter_values(ids.clone())) as ArrayRef,
        ),
        ("NAME", Arc::new(StringArray::from(names)) as ArrayRef),
        (
            "ROWTIME",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                ids.map(|i| T0 + i),
            )) as ArrayRef,
        ),
    ])
    .expect("a batch")
}

fn name(i: i64) -> String {
    format!("row-{i}")
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    batch_with(ids, name)
}

/// KDA's JSON record of row `i`: an object, no delimiter.
fn json(i: i64) -> String {
    format!(r#"{{"ID":{i},"NAME":"row-{i}"}}"#)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The lines of a JSON-lines file (none when it does not exist).
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The proxy's log lines for requests with this X-Amz-Target (or, for Lambda, this path end).
fn calls(log: &Path, target: &str) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|c| {
            c["target"].as_str() == Some(target)
                || c["path"].as_str().is_some_and(|p| p.ends_with(target))
        })
        .collect()
}

fn entries(calls: &[Value]) -> Vec<u64> {
    calls
        .iter()
        .map(|c| c["entries"].as_u64().unwrap())
        .collect()
}

/// A proxy in front of `upstream` with `plan`; returns it and its log's path.
fn proxy(
    upstream: &Server,
    dir: &Path,
    plan: &str,
    log_data: bool,
) -> (Server, std::path::PathBuf) {
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, plan).unwrap();
    let log = dir.join("calls.jsonl");
    let up = upstream.endpoint();
    let mut args = vec![
        "--upstream",
        &up,
        "--plan",
        plan_file.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    if log_data {
        args.push("--log-data");
    }
    (Server::start("faulty-proxy", &args), log)
}

fn kinesis_sink(p: &InProcess, stream: &str, format: RecordFormat) -> KinesisOutputOptions {
    KinesisOutputOptions::new(
        stream,
        columns(),
        format,
        p.runtime.handle().clone(),
        p.config.clone(),
    )
}

/// Every record in the stream, as text.
fn read_stream(endpoint: &str, stream: &str) -> Vec<Value> {
    support::aws(endpoint, &["read-stream", stream])["records"]
        .as_array()
        .unwrap()
        .clone()
}

fn data(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["data"].as_str().unwrap().to_string())
        .collect()
}

// ── Kinesis ──

#[test]
fn s1_kinesis_1200_rows_arrive_once_each_in_requests_of_at_most_500() {
    let ms = Server::ministack();
    let dir = support::temp_dir("deliver-s1");
    let (px, log) = proxy(&ms, &dir, "[]", false);
    support::aws(&ms.endpoint(), &["create-stream", "out", "--shards", "2"]);
    let p = in_process(&px.endpoint());
    let mut sink = KinesisStreamsOutput::new(kinesis_sink(&p, "out", RecordFormat::Json)).unwrap();
    let stats = sink.stats();

    sink.write(&batch(0..1200)).unwrap();
    // Two full requests went at once; 200 records wait for the second to pass.
    assert_eq!(
        entries(&calls(&log, "Kinesis_20131202.PutRecords")),
        [500, 500]
    );
    assert_eq!(sink.pending(), 200);
    sink.idle().unwrap();
    assert_eq!(calls(&log, "Kinesis_20131202.PutRecords").len(), 2);
    std::thread::sleep(Duration::from_millis(1050));
    sink.idle().unwrap();
    sink.finish().unwrap();

    let puts = calls(&log, "Kinesis_20131202.PutRecords");
    assert_eq!(entries(&puts), [500, 500, 200]);
    assert!(puts.iter().all(|c| c["status"] == 200), "{puts:?}");
    let records = read_stream(&ms.endpoint(), "out");
    assert_eq!(
        sorted(data(&records)),
        sorted((0..1200).map(json).collect())
    );
    let keys: BTreeSet<&str> = records
        .iter()
        .map(|r| r["partition_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 1200, "a random partition key per record");
    assert!(keys.iter().all(|k| uuid::Uuid::parse_str(k).is_ok()));
    let shards: BTreeSet<&str> = records
        .iter()
        .map(|r| r["shard_id"].as_str().unwrap())
        .collect();
    assert_eq!(shards.len(), 2, "random keys spread over both shards");
    assert_eq!(
        stats.get(),
        DeliveryStats {
            records_ok: 1200,
            records_failed: 0,
            calls: 3,
            retries: 0
        }
    );
}

#[test]
fn s2_kinesis_resends_only_the_entries_that_failed() {
    let ms = Server::ministack();
    let dir = support::temp_dir("deliver-s2");
    let plan = r#"[{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 1, "fault": "fail_entries", "indices": [3, 7]}]"#;
    let (px, log) = proxy(&ms, &dir, plan, true);
    support::aws(&ms.endpoint(), &["create-stream", "out", "--shards", "1"]);
    let p = in_process(&px.endpoint());
    let mut sink = KinesisStreamsOutput::new(kinesis_sink(&p, "out", RecordFormat::Json)).unwrap();
    sink.write(&batch(0..10)).unwrap();
    sink.flush().unwrap();

    let puts = calls(&log, "Kinesis_20131202.PutRecords");
    assert_eq!(entries(&puts), [10, 2]);
    assert_eq!(puts[0]["forwarded_entries"], 8);
    assert_eq!(puts[1]["data"], serde_json::json!([json(3), json(7)]));
    let records = read_stream(&ms.endpoint(), "out");
    assert_eq!(sorted(data(&records)), sorted((0..10).map(json).collect()));
    let s = sink.stats().get();
    assert_eq!((s.records_ok, s.calls, s.retries), (10, 2, 2));
    assert!(sink.take_rejected().is_empty());
}

#[test]
fn s2_kinesis_throttled_calls_are_sent_again_and_arrive_once() {
    let ms = Server::ministack();
    let dir = support::temp_dir("deliver-s2-throttle");
    let plan = r#"[{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 2, "fault": "throttle"}]"#;
    let (px, log) = proxy(&ms, &dir, plan, false);
    support::aws(&ms.endpoint(), &["create-stream", "out", "--shards", "1"]);
    let p = in_process(&px.endpoint());
    let mut sink = KinesisStreamsOutput::new(kinesis_sink(&p, "out", RecordFormat::Json)).unwrap();
    sink.write(&batch(0..10)).unwrap();
    sink.flush().unwrap();

    let puts = calls(&log, "Kinesis_20131202.PutRecords");
    let statuses: Vec<u64> = puts.iter().map(|c| c["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [400, 400, 200]);
    assert_eq!(entries(&puts), [10, 10, 10]);
    let records = read_stream(&ms.endpoint(), "out");
    assert_eq!(sorted(data(&records)), sorted((0..10).map(json).collect()));
    let s = sink.stats().get();
    assert_eq!((s.records_ok, s.calls, s.retries), (10, 3, 20));
}

#[test]
fn kinesis_a_call_that_times_out_is_sent_again() {
    let ms = Server::ministack();
    let dir = support::temp_dir("deliver-timeout");
    // The first call is held 3 s and then answered 500, never forwarded: the sink gave up
    // waiting after 1 s.
    let plan = r#"[{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 1, "fault": "delay", "seconds": 3, "forward": false}]"#;
    let (px, log) = proxy(&ms, &dir, plan, false);
    support::aws(&ms.endpoint(), &["create-stream", "out", "--shards", "1"]);
    let p = in_process(&px.endpoint());
    let mut options = kinesis_sink(&p, "out", RecordFormat::Json);
    options.call_timeout = Duration::from_secs(1);
    options.retry_limit = RetryLimit(Some(0));
    let mut sink = KinesisStreamsOutput::new(options).unwrap();
    sink.write(&batch(0..4)).unwrap();
    sink.flush().unwrap();
    // With no retries allowed, the timeout itself is what comes back.
    let rejected = sink.take_rejected();
    assert_eq!(rejected.len(), 4);
    assert!(
        rejected[0].message.contains("the request timed out"),
        "{}",
        rejected[0].message
    );

    // With retries, the same rows are delivered once the destination answers.
    std::fs::write(
        dir.join("plan.json"),
        plan.replace("\"first\": 1", "\"first\": 2"),
    )
    .unwrap();
    let mut options = kinesis_sink(&p, "out", RecordFormat::Json);
    options.call_timeout = Duration::from_secs(1);
    let mut sink = KinesisStreamsOutput::new(options).unwrap();
    sink.write(&batch(10..14)).unwrap();
    sink.flush().unwrap();
    // 1 + 3 calls, once the held ones have ended and been logged: 3 of them held and answered
    // 500, the last one forwarded.
    let statuses = support::eventually(Duration::from_secs(10), "the held calls end", || {
        let puts = calls(&log, "Kinesis_20131202.PutRecords");
        (puts.len() >= 4).then(|| {
            let mut s: Vec<u64> = puts.iter().map(|c| c["status"].as_u64().unwrap()).collect();
            s.sort();
            s
        })
    });
    assert_eq!(statuses, [200, 500, 500, 500]);
    let records = read_stream(&ms.endpoint(), "out");
    assert_eq!(sorted(data(&records)), sorted((10..14).map(json).collect()));
    assert_eq!(sink.stats().get().calls, 3);
}

#[test]
fn s5_kinesis_csv_records_are_quoted_lines() {
    let ms = Server::ministack();
    support::aws(&ms.endpoint(), &["create-stream", "csv", "--shards", "1"]);
    let p = in_process(&ms.endpoint());
    let mut sink = KinesisStreamsOutput::new(kinesis_sink(&p, "csv", RecordFormat::Csv)).unwrap();
    let names = ["plain", "a, \"b\"", "line\nbreak"];
    sink.write(&batch_with(0..3, |i| names[i as usize].to_string()))
        .unwrap();
    sink.finish().unwrap();
    let records = read_stream(&ms.endpoint(), "csv");
    assert_eq!(
        sorted(data(&records)),
        sorted(vec![
            "0,plain\n".to_string(),
            "1,\"a, \"\"b\"\"\"\n".to_string(),
            "2,\"line\nbreak\"\n".to_string(),
        ])
    );
}

#[test]
fn kinesis_a_stream_that_does_not_exist_stops_delivery_with_its_name() {
    let ms = Server::ministack();
    let p = in_process(&ms.endpoint());
    let mut sink =
        KinesisStreamsOutput::new(kinesis_sink(&p, "missing", RecordFormat::Json)).unwrap();
    sink.write(&batch(0..3)).unwrap();
    let e = sink.flush().unwrap_err().to_string();
    assert!(
        e.starts_with("kinesis://missing: PutRecords failed: ResourceNotFoundException")
            && e.ends_with(
                "the destination does not exist: create it, or name an existing one in the output"
            ),
        "{e}"
    );
    assert_eq!(sink.pending(), 3, "the rows are kept, not dropped");
    // Created later, the stream gets them once.
    support::aws(
        &ms.endpoint(),
        &["create-stream", "missing", "--shards", "1"],
    );
    sink.finish().unwrap();
    let records = read_stream(&ms.endpoint(), "missing");
    assert_eq!(sorted(data(&records)), sorted((0..3).map(json).collect()));
}

#[test]
fn kinesis_an_unreachable_endpoint_is_retried_then_reported() {
    // Nothing listens on this port.
    let port = support::free_port();
    let p = in_process(&format!("http://127.0.0.1:{port}"));
    let mut options = kinesis_sink(&p, "out", RecordFormat::Json);
    options.retry_limit = RetryLimit(Some(2));
    let mut sink = KinesisStreamsOutput::new(options).unwrap();
    sink.write(&batch(0..2)).unwrap();
    sink.flush().unwrap();
    let rejected = sink.take_rejected();
    assert_eq!(rejected.len(), 2);
    assert!(
        rejected[0].message.starts_with(
            "kinesis://out: gave up after 3 failed attempts: PutRecords failed: could not reach the endpoint"
        ),
        "{}",
        rejected[0].message
    );
    assert_eq!(sink.stats().get().calls, 3);
}

// ── Firehose ──

fn firehose_sink(p: &InProcess, stream: &str) -> FirehoseOutputOptions {
    FirehoseOutputOptions::new(
        stream,
        columns(),
        RecordFormat::Json,
        p.runtime.handle().clone(),
        p.config.clone(),
    )
}

/// The bodies of the objects under the bucket once there are `n` of them.
fn object_bodies(endpoint: &str, bucket: &str, n: usize) -> Vec<String> {
    let keys = support::eventually(Duration::from_secs(20), "Firehose's objects in S3", || {
        let listed = support::aws(endpoint, &["list-objects", bucket]);
        let keys: Vec<String> = listed["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_string())
            .collect();
        (keys.len() >= n).then_some(keys)
    });
    assert_eq!(keys.len(), n, "{keys:?}");
    keys.iter()
        .map(|k| {
            let out = support::aws_raw(endpoint, &["get-object", bucket, k]);
            assert!(out.status.success(), "{}", support::text(&out.stderr));
            support::text(&out.stdout)
        })
        .collect()
}

#[test]
fn s3_firehose_records_land_in_s3_as_kdas_bytes() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    support::aws(&ep, &["create-bucket", "landing"]);
    support::aws(
        &ep,
        &[
            "create-delivery-stream",
            "fh",
            "--bucket",
            "landing",
            "--prefix",
            "out/",
        ],
    );
    let p = in_process(&ep);
    let mut sink = KinesisFirehoseOutput::new(firehose_sink(&p, "fh")).unwrap();
    sink.write(&batch(0..8)).unwrap();
    sink.finish().unwrap();
    // ministack writes one object per record, as sent: together they are the records, with no
    // delimiter added.
    let bodies = object_bodies(&ep, "landing", 8);
    assert_eq!(sorted(bodies.clone()), sorted((0..8).map(json).collect()));
    assert_eq!(
        bodies.concat().len(),
        (0..8).map(|i| json(i).len()).sum::<usize>()
    );
    assert_eq!(sink.stats().get().records_ok, 8);
}

#[test]
fn s4_firehose_requests_hold_at_most_500_records_and_4_mb() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = support::temp_dir("deliver-s4");
    let (px, log) = proxy(&ms, &dir, "[]", true);
    support::aws(&ep, &["create-bucket", "landing"]);
    support::aws(
        &ep,
        &["create-delivery-stream", "fh", "--bucket", "landing"],
    );
    let p = in_process(&px.endpoint());
    let mut sink = KinesisFirehoseOutput::new(firehose_sink(&p, "fh")).unwrap();
    sink.write(&batch(0..600)).unwrap();
    sink.flush().unwrap();
    // 6 rows of ~900 KB: 5.4 MB in one batch.
    let big = |i: i64| format!("{i}-{}", "x".repeat(900_000));
    sink.write(&batch_with(1000..1006, big)).unwrap();
    sink.finish().unwrap();

    let puts = calls(&log, "Firehose_20150804.PutRecordBatch");
    assert_eq!(entries(&puts), [500, 100, 4, 2]);
    let mut sent = Vec::new();
    for call in &puts {
        let texts: Vec<String> = call["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        assert!(bytes <= 4_000_000, "{bytes} bytes in one PutRecordBatch");
        sent.extend(texts);
    }
    let mut expected: Vec<String> = (0..600).map(json).collect();
    expected.extend((1000..1006).map(|i| format!(r#"{{"ID":{i},"NAME":"{}"}}"#, big(i))));
    assert_eq!(sorted(sent), sorted(expected));
    assert_eq!(sink.stats().get().records_ok, 606);
}

#[test]
fn firehose_resends_only_the_entries_that_failed() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = support::temp_dir("deliver-fh-partial");
    let plan = r#"[{"match": {"target": "Firehose_20150804.PutRecordBatch"}, "first": 1, "fault": "fail_entries", "marker": "row-2\""}]"#;
    let (px, log) = proxy(&ms, &dir, plan, true);
    support::aws(&ep, &["create-bucket", "landing"]);
    support::aws(
        &ep,
        &["create-delivery-stream", "fh", "--bucket", "landing"],
    );
    let p = in_process(&px.endpoint());
    let mut sink = KinesisFirehoseOutput::new(firehose_sink(&p, "fh")).unwrap();
    sink.write(&batch(0..5)).unwrap();
    sink.flush().unwrap();
    let puts = calls(&log, "Firehose_20150804.PutRecordBatch");
    assert_eq!(entries(&puts), [5, 1]);
    assert_eq!(puts[1]["data"], serde_json::json!([json(2)]));
    let bodies = object_bodies(&ep, "landing", 5);
    assert_eq!(sorted(bodies), sorted((0..5).map(json).collect()));
}

// ── Lambda ──

/// A function running `output_sink.py` with this fault plan; its state folder, named after the
/// test (`label`).
fn output_function(
    endpoint: &str,
    label: &str,
    name: &str,
    timeout: &str,
    env: &[&str],
) -> std::path::PathBuf {
    let state = support::temp_dir(&format!("deliver-lambda-{label}"));
    let handler = support::servers_dir().join("lambdas/output_sink.py");
    let state_env = format!("STATE_DIR={}", state.display());
    let mut args = vec![
        "create-function",
        name,
        handler.to_str().unwrap(),
        "--timeout",
        timeout,
        "--env",
        &state_env,
    ];
    for e in env {
        args.extend(["--env", e]);
    }
    support::aws(endpoint, &args);
    state
}

fn lambda_sink(p: &InProcess, function: &str, per_batch: bool) -> LambdaOutputOptions {
    let mut o = LambdaOutputOptions::new(
        function,
        ARN,
        columns(),
        RecordFormat::Json,
        p.runtime.handle().clone(),
        p.config.clone(),
    );
    o.per_batch = per_batch;
    o
}

/// The records the function answered Ok, by data, with how many times.
fn answered_ok(state: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in json_lines(&state.join("received.jsonl")) {
        if r["result"] == "Ok" {
            *out.entry(r["data"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

fn once_each(ids: std::ops::Range<i64>) -> BTreeMap<String, usize> {
    ids.map(|i| (json(i), 1)).collect()
}

#[test]
fn l1_lambda_per_batch_invokes_once_per_write_with_kdas_request() {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), "l1", "sink", "3", &[]);
    let p = in_process(&ms.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, "sink", true)).unwrap();
    sink.write(&batch(0..2)).unwrap();
    sink.write(&batch(2..5)).unwrap();
    sink.write(&batch(0..0)).unwrap();
    sink.write(&batch(5..6)).unwrap();
    sink.finish().unwrap();

    let requests = json_lines(&state.join("requests.jsonl"));
    assert_eq!(requests.len(), 3, "one invocation per write with rows");
    let mut invocation_ids = BTreeSet::new();
    let mut record_ids = BTreeSet::new();
    let mut data = Vec::new();
    for (request, rows) in requests.iter().zip([0..2, 2..5, 5..6]) {
        let event = request["event"].as_object().unwrap();
        let keys: BTreeSet<&str> = event.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["applicationArn", "invocationId", "records"])
        );
        assert_eq!(event["applicationArn"], ARN);
        let id = event["invocationId"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        invocation_ids.insert(id.to_string());
        let records = event["records"].as_array().unwrap();
        assert_eq!(records.len(), rows.clone().count());
        for (record, i) in records.iter().zip(rows) {
            let keys: BTreeSet<&str> = record
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from(["data", "lambdaDeliveryRecordMetadata", "recordId"])
            );
            assert_eq!(
                record["lambdaDeliveryRecordMetadata"],
                serde_json::json!({"retryHint": 0})
            );
            let rid = record["recordId"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(rid).is_ok(), "{rid}");
            record_ids.insert(rid.to_string());
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(record["data"].as_str().unwrap())
                .unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), json(i));
            data.push(i);
        }
    }
    assert_eq!(invocation_ids.len(), 3);
    assert_eq!(record_ids.len(), 6);
    assert_eq!(data, (0..6).collect::<Vec<_>>());
    assert_eq!(answered_ok(&state), once_each(0..6));
    assert_eq!(
        sink.stats().get(),
        DeliveryStats {
            records_ok: 6,
            records_failed: 0,
            calls: 3,
            retries: 0
        }
    );
}

#[test]
fn lambda_without_per_batch_gathers_rows_for_about_a_second() {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), "gather", "sink", "3", &[]);
    let p = in_process(&ms.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, "sink", false)).unwrap();
    sink.write(&batch(0..2)).unwrap();
    sink.write(&batch(2..3)).unwrap();
    sink.idle().unwrap();
    sink.write(&batch(3..5)).unwrap();
    assert!(json_lines(&state.join("requests.jsonl")).is_empty());
    assert_eq!(sink.pending(), 5);
    std::thread::sleep(Duration::from_millis(1050));
    sink.idle().unwrap();
    let requests = json_lines(&state.join("requests.jsonl"));
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["event"]["records"].as_array().unwrap().len(), 5);
    sink.finish().unwrap();
    assert_eq!(json_lines(&state.join("requests.jsonl")).len(), 1);
    assert_eq!(answered_ok(&state), once_each(0..5));
}

#[test]
fn l2_lambda_resends_only_the_record_answered_delivery_failed() {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), "l2", "sink", "3", &["FAIL_MARKER=BAD"]);
    let p = in_process(&ms.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, "sink", true)).unwrap();
    let names = |i: i64| if i == 2 { "BAD".to_string() } else { name(i) };
    sink.write(&batch_with(0..5, names)).unwrap();
    sink.finish().unwrap();

    let received = json_lines(&state.join("received.jsonl"));
    let first: Vec<&Value> = received.iter().filter(|r| r["call"] == 1).collect();
    let second: Vec<&Value> = received.iter().filter(|r| r["call"] == 2).collect();
    assert_eq!(first.len(), 5);
    assert_eq!(second.len(), 1, "{received:?}");
    let failed = first
        .iter()
        .find(|r| r["result"] == "DeliveryFailed")
        .unwrap();
    assert_eq!(failed["data"], r#"{"ID":2,"NAME":"BAD"}"#);
    assert_eq!(second[0]["recordId"], failed["recordId"]);
    assert_eq!(second[0]["retryHint"], 1);
    assert_eq!(second[0]["result"], "Ok");
    assert_ne!(second[0]["invocationId"], failed["invocationId"]);
    let ok = answered_ok(&state);
    assert_eq!(ok.len(), 5);
    assert!(ok.values().all(|n| *n == 1), "{ok:?}");
    let s = sink.stats().get();
    assert_eq!((s.records_ok, s.calls, s.retries), (5, 2, 1));
}

/// Lambda against a fault on its first call: every record ends answered Ok exactly once, and
/// the records sent again are `resent` (by row), with retryHint 1.
fn lambda_recovers(name: &str, timeout: &str, env: &[&str], resent: &[i64]) {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), name, name, timeout, env);
    let p = in_process(&ms.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, name, true)).unwrap();
    sink.write(&batch(0..4)).unwrap();
    sink.finish().unwrap();

    let received = json_lines(&state.join("received.jsonl"));
    let first: Vec<&Value> = received.iter().filter(|r| r["call"] == 1).collect();
    assert_eq!(first.len(), 4);
    let again: Vec<&Value> = received.iter().filter(|r| r["call"] == 2).collect();
    let again_rows: Vec<String> = again
        .iter()
        .map(|r| r["data"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        again_rows,
        resent.iter().map(|i| json(*i)).collect::<Vec<_>>()
    );
    for r in &again {
        assert_eq!(r["retryHint"], 1);
        let before = first.iter().find(|f| f["data"] == r["data"]).unwrap();
        assert_eq!(before["recordId"], r["recordId"], "the same recordId");
    }
    assert!(
        received.iter().all(|r| r["call"].as_u64().unwrap() <= 2),
        "{received:?}"
    );
    assert_eq!(answered_ok(&state), once_each(0..4));
    let s = sink.stats().get();
    assert_eq!(
        (s.records_ok, s.calls, s.retries),
        (4, 2, resent.len() as u64)
    );
}

#[test]
fn l3_lambda_a_function_that_raises_gets_the_whole_batch_again() {
    lambda_recovers("raises", "3", &["RAISE_FIRST=1"], &[0, 1, 2, 3]);
}

#[test]
fn l3_lambda_a_record_left_out_of_the_answer_is_sent_again() {
    lambda_recovers("omits", "3", &["OMIT_FIRST=1"], &[3]);
}

#[test]
fn l3_lambda_a_function_past_its_timeout_gets_the_whole_batch_again() {
    lambda_recovers(
        "sleeps",
        "2",
        &["SLEEP_FIRST=1", "SLEEP_SECONDS=5"],
        &[0, 1, 2, 3],
    );
}

#[test]
fn l3_lambda_an_invocation_the_client_stops_waiting_for_is_sent_again() {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), "client-timeout", "sink", "3", &[]);
    let dir = support::temp_dir("deliver-lambda-client-timeout-proxy");
    let plan = r#"[{"match": {"path": "/invocations$"}, "first": 1, "fault": "delay", "seconds": 3, "forward": false}]"#;
    let (px, log) = proxy(&ms, &dir, plan, false);
    let p = in_process(&px.endpoint());
    let mut options = lambda_sink(&p, "sink", true);
    options.call_timeout = Duration::from_secs(1);
    let mut sink = LambdaOutput::new(options).unwrap();
    sink.write(&batch(0..3)).unwrap();
    sink.finish().unwrap();
    // Only the second invocation reached the function, every record with retryHint 1.
    let received = json_lines(&state.join("received.jsonl"));
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r["retryHint"] == 1 && r["call"] == 1)
    );
    assert_eq!(answered_ok(&state), once_each(0..3));
    let statuses = support::eventually(Duration::from_secs(10), "the held call ends", || {
        let invocations = calls(&log, "/invocations");
        (invocations.len() >= 2).then(|| {
            let mut s: Vec<u64> = invocations
                .iter()
                .map(|c| c["status"].as_u64().unwrap())
                .collect();
            s.sort();
            s
        })
    });
    assert_eq!(statuses, [200, 500]);
}

#[test]
fn l4_lambda_a_batch_over_6_mb_is_split_into_smaller_invocations() {
    let ms = Server::ministack();
    let state = output_function(&ms.endpoint(), "l4", "sink", "10", &[]);
    let dir = support::temp_dir("deliver-l4");
    let (px, log) = proxy(&ms, &dir, "[]", false);
    let p = in_process(&px.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, "sink", true)).unwrap();
    // 7 rows of ~1 MB: ~9.3 MB of request in base64.
    let big = |i: i64| format!("{i}-{}", "y".repeat(1_000_000));
    sink.write(&batch_with(0..7, big)).unwrap();
    sink.finish().unwrap();

    let invocations = calls(&log, "/invocations");
    assert_eq!(entries(&invocations), [4, 3]);
    for call in &invocations {
        let bytes = call["bytes"].as_u64().unwrap();
        assert!(
            bytes <= 5_500_000 && bytes > 3_000_000,
            "{bytes} bytes in one invocation"
        );
        assert_eq!(call["status"], 200);
    }
    // Each record answered Ok once (compared by digest: the records are 1 MB each).
    let digest = |text: &str| (text.len(), crc32fast::hash(text.as_bytes()));
    let ok: Vec<((usize, u32), usize)> = answered_ok(&state)
        .iter()
        .map(|(text, n)| (digest(text), *n))
        .collect();
    let mut expected: Vec<((usize, u32), usize)> = (0..7)
        .map(|i| (digest(&format!(r#"{{"ID":{i},"NAME":"{}"}}"#, big(i))), 1))
        .collect();
    expected.sort();
    let mut ok = ok;
    ok.sort();
    assert_eq!(ok, expected);
}

#[test]
fn lambda_a_function_that_does_not_exist_stops_delivery_with_its_name() {
    let ms = Server::ministack();
    let p = in_process(&ms.endpoint());
    let mut sink = LambdaOutput::new(lambda_sink(&p, "nobody", true)).unwrap();
    let e = sink.write(&batch(0..2)).unwrap_err().to_string();
    assert!(
        e.starts_with("lambda://nobody: Invoke failed: ResourceNotFoundException"),
        "{e}"
    );
    assert_eq!(sink.pending(), 2);
}

// ── the retry limit ──

#[test]
fn after_the_retry_limit_rows_come_back_as_delivery_errors_with_their_bytes() {
    let ms = Server::ministack();
    let dir = support::temp_dir("deliver-limit");
    let (px, log) = proxy(
        &ms,
        &dir,
        r#"[{"first": 100000, "fault": "http_500"}]"#,
        false,
    );
    let p = in_process(&px.endpoint());
    let limited = RetryLimit(Some(1));
    let mut kinesis = kinesis_sink(&p, "out", RecordFormat::Json);
    kinesis.retry_limit = limited;
    let mut firehose = firehose_sink(&p, "fh");
    firehose.retry_limit = limited;
    let mut lambda = lambda_sink(&p, "sink", true);
    lambda.retry_limit = limited;
    let sinks: Vec<(
        Box<dyn Sink>,
        rowtime::connectors::deliver::StatsHandle,
        &str,
        &str,
    )> = vec![
        {
            let s = KinesisStreamsOutput::new(kinesis).unwrap();
            let stats = s.stats();
            (Box::new(s), stats, "kinesis://out", "InternalFailure")
        },
        {
            let s = KinesisFirehoseOutput::new(firehose).unwrap();
            let stats = s.stats();
            (Box::new(s), stats, "firehose://fh", "InternalFailure")
        },
        {
            let s = LambdaOutput::new(lambda).unwrap();
            let stats = s.stats();
            (Box::new(s), stats, "lambda://sink", "ServiceException")
        },
    ];
    for (mut sink, stats, dest, code) in sinks {
        sink.write(&batch(0..3)).unwrap();
        sink.finish().unwrap();
        let rejected = sink.take_rejected();
        assert_eq!(rejected.len(), 3, "{dest}");
        for (row, i) in rejected.iter().zip(0..) {
            assert_eq!(row.name, DELIVERY_ERROR);
            assert_eq!(row.data_row, json(i).into_bytes(), "{dest}");
            assert_eq!(row.data_rowtime, Some(T0 + i));
            assert!(
                row.message
                    .starts_with(&format!("{dest}: gave up after 2 failed attempts: "))
                    && row.message.contains(code),
                "{}",
                row.message
            );
        }
        assert_eq!(
            stats.get(),
            DeliveryStats {
                records_ok: 0,
                records_failed: 3,
                calls: 2,
                retries: 3
            },
            "{dest}"
        );
    }
    let all = json_lines(&log);
    assert_eq!(all.len(), 6, "two attempts per destination: {all:?}");
    assert!(all.iter().all(|c| c["status"] == 500));
}
