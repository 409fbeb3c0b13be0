//! Input preprocessing with Lambda: rowtime's `Preprocessor` in-process against ministack running
//! the real fixture `tests/servers/lambdas/preprocess_upper.py` (fault plan in its environment,
//! every request it got in `$STATE_DIR/requests.jsonl`), through `faulty_proxy.py`, whose log
//! shows every `Invoke` that went out, its size and its answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rowtime::connectors::preprocess::{
    FailedBecause, InputRecord, LAMBDA_PAYLOAD_LIMIT, Preprocessor, ProcessResult, REQUEST_BUDGET,
    RecordResult,
};
use rowtime::connectors::retry::Backoff;
use rowtime::error_stream::{PROCESSING_FAILED, error_batch};
use serde_json::{Value, json};

use crate::support::{self, Server};

const APP_ARN: &str = "arn:aws:kinesisanalytics:us-east-1:000000000000:application/tolls";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/tolls";
const FUNCTION: &str = "preprocess_upper";

/// ministack with the fixture deployed, a proxy in front of it, and a tokio runtime.
struct Setup {
    runtime: tokio::runtime::Runtime,
    dir: PathBuf,
    state: PathBuf,
    proxy_log: PathBuf,
    ministack_endpoint: String,
    // Dropped last: the servers, then the lock that keeps other in-process tests out.
    _proxy: Server,
    _ministack: Server,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Setup {
    /// Deploys the fixture with `env` (besides STATE_DIR) and function timeout `timeout_s`;
    /// `plan` is the proxy's fault plan.
    fn new(name: &str, env: &[&str], timeout_s: u32, plan: Value) -> Setup {
        let lock = support::serial();
        let ministack = Server::ministack();
        let dir = support::temp_dir(&format!("preprocess-{name}"));
        let state = dir.join("state");
        let plan_file = dir.join("plan.json");
        std::fs::write(&plan_file, plan.to_string()).unwrap();
        let proxy_log = dir.join("proxy.jsonl");
        let proxy = Server::proxy(&ministack, &plan_file, &proxy_log);
        let handler = support::servers_dir().join("lambdas/preprocess_upper.py");
        let state_env = format!("STATE_DIR={}", state.display());
        let timeout = timeout_s.to_string();
        let mut args = vec![
            "create-function",
            FUNCTION,
            handler.to_str().unwrap(),
            "--timeout",
            &timeout,
            "--env",
            &state_env,
        ];
        for e in env {
            args.extend(["--env", e]);
        }
        support::aws(&ministack.endpoint(), &args);
        support::set_test_env(&proxy.endpoint());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Setup {
            runtime,
            dir,
            state,
            proxy_log,
            ministack_endpoint: ministack.endpoint(),
            _proxy: proxy,
            _ministack: ministack,
            _lock: lock,
        }
    }

    fn preprocessor(&self) -> Preprocessor {
        let config = self
            .runtime
            .block_on(rowtime::connectors::aws::sdk_config());
        Preprocessor::new(&config, FUNCTION, APP_ARN, STREAM_ARN)
            .unwrap()
            .with_backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(200),
            ))
    }

    fn process(&self, p: &Preprocessor, records: Vec<InputRecord>) -> ProcessResult {
        self.runtime.block_on(p.process(records))
    }

    /// What the function received: `{"call", "fault", "event"}` per call.
    fn requests(&self) -> Vec<Value> {
        json_lines(&self.state.join("requests.jsonl"))
    }

    /// The `Invoke` calls the proxy saw.
    fn invokes(&self) -> Vec<Value> {
        json_lines(&self.proxy_log)
            .into_iter()
            .filter(|l| l["path"].as_str().unwrap_or("").ends_with("/invocations"))
            .collect()
    }
}

impl Drop for Setup {
    /// A passed test leaves nothing behind (P6 logs 15 MB of requests); a failed one keeps its
    /// folder to look at.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path:?}: {e}: {l}")))
        .collect()
}

fn record(n: usize, data: &str) -> InputRecord {
    InputRecord {
        data: data.as_bytes().to_vec(),
        sequence_number: format!("4963000000000000000000000{n:05}"),
        shard_id: format!("shardId-00000000000{}", n % 2),
        partition_key: format!("pk-{n}"),
        approximate_arrival_ms: 1_796_146_524_642 + n as i64,
    }
}

fn results(out: &ProcessResult) -> Vec<RecordResult> {
    out.records.iter().map(|r| r.result.clone()).collect()
}

fn ok(text: &str) -> RecordResult {
    RecordResult::Ok(text.as_bytes().to_vec())
}

fn record_ids(event: &Value) -> Vec<String> {
    event["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recordId"].as_str().unwrap().to_string())
        .collect()
}

fn ids_of(records: &[InputRecord]) -> Vec<String> {
    records.iter().map(|r| r.sequence_number.clone()).collect()
}

/// Records put into a real Kinesis stream on ministack and read back: real sequence numbers,
/// shard ids, partition keys and arrival times.
fn kinesis_records(s: &Setup, lines: &[&str]) -> Vec<InputRecord> {
    let endpoint = &s.ministack_endpoint;
    let file = s.dir.join("records.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    support::aws(endpoint, &["create-stream", "tolls", "--shards", "2"]);
    support::aws(endpoint, &["put-records", "tolls", file.to_str().unwrap()]);
    let read = support::aws(endpoint, &["read-stream", "tolls"]);
    let mut records: Vec<InputRecord> = read["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| InputRecord {
            data: r["data"].as_str().unwrap().as_bytes().to_vec(),
            sequence_number: r["sequence_number"].as_str().unwrap().into(),
            shard_id: r["shard_id"].as_str().unwrap().into(),
            partition_key: r["partition_key"].as_str().unwrap().into(),
            approximate_arrival_ms: r["arrival_ms"].as_i64().unwrap(),
        })
        .collect();
    // In the order they were written (the default partition key is the line index).
    records.sort_by_key(|r| r.partition_key.parse::<usize>().unwrap());
    assert_eq!(records.len(), lines.len());
    records
}

#[test]
fn p1_records_are_upper_cased_and_the_request_is_kdas() {
    let s = Setup::new("p1", &[], 3, json!([]));
    let lines = [
        r#"{"city": "denver", "temp": 29}"#,
        "plain text, ünïcode",
        "a,b,c",
    ];
    let records = kinesis_records(&s, &lines);
    let p = s.preprocessor();
    let out = s.process(&p, records.clone());
    assert_eq!(
        results(&out),
        [
            ok(r#"{"CITY": "DENVER", "TEMP": 29}"#),
            ok("PLAIN TEXT, ÜNÏCODE"),
            ok("A,B,C"),
        ]
    );
    let inputs: Vec<InputRecord> = out.records.iter().map(|r| r.input.clone()).collect();
    assert_eq!(inputs, records, "every record comes back with its input");
    let requests = s.requests();
    assert_eq!(requests.len(), 1);
    let event = &requests[0]["event"];
    assert_eq!(event["applicationArn"], APP_ARN);
    assert_eq!(event["streamArn"], STREAM_ARN);
    assert!(uuid::Uuid::parse_str(event["invocationId"].as_str().unwrap()).is_ok());
    let sent = event["records"].as_array().unwrap();
    assert_eq!(sent.len(), 3);
    for (r, input) in sent.iter().zip(&records) {
        assert_eq!(r["recordId"], input.sequence_number.as_str());
        assert_eq!(
            BASE64.decode(r["data"].as_str().unwrap()).unwrap(),
            input.data
        );
        assert_eq!(
            r["kinesisStreamRecordMetadata"],
            json!({
                "shardId": input.shard_id,
                "partitionKey": input.partition_key,
                "sequenceNumber": input.sequence_number,
                "approximateArrivalTimestamp": input.approximate_arrival_ms,
            })
        );
        // Milliseconds since the epoch, as an integer: a time in 2020-2100.
        let ms = r["kinesisStreamRecordMetadata"]["approximateArrivalTimestamp"]
            .as_i64()
            .unwrap();
        assert!((1_577_836_800_000..4_102_444_800_000).contains(&ms), "{ms}");
    }
    assert_eq!(
        (
            out.stats.invocations,
            out.stats.successes,
            out.stats.retries
        ),
        (1, 1, 0)
    );
    assert_eq!(out.stats.ok_records, 3);
    let ok_bytes: usize = lines.iter().map(|l| l.to_uppercase().len()).sum();
    assert_eq!(out.stats.ok_bytes, ok_bytes as u64);
    assert_eq!(s.invokes().len(), 1);
    assert_eq!(s.invokes()[0]["status"], 200);
}

#[test]
fn p2_dropped_records_go_nowhere() {
    let s = Setup::new("p2", &[], 3, json!([]));
    let p = s.preprocessor();
    let records = vec![
        record(0, "keep 0"),
        record(1, "DROP me"),
        record(2, "keep 2"),
        record(3, "also DROP"),
    ];
    let out = s.process(&p, records);
    assert_eq!(
        results(&out),
        [
            ok("KEEP 0"),
            RecordResult::Dropped,
            ok("KEEP 2"),
            RecordResult::Dropped
        ]
    );
    assert_eq!((out.stats.ok_records, out.stats.dropped_records), (2, 2));
    assert!(p.error_rows(&out).is_empty());
}

#[test]
fn p3_a_processing_failed_record_becomes_an_error_stream_row() {
    let s = Setup::new("p3", &[], 3, json!([]));
    let p = s.preprocessor();
    let records = vec![
        record(0, "fine"),
        record(1, "FAIL here"),
        record(2, "fine too"),
    ];
    let out = s.process(&p, records.clone());
    assert_eq!(
        results(&out),
        [
            ok("FINE"),
            RecordResult::ProcessingFailed(FailedBecause::Function),
            ok("FINE TOO")
        ]
    );
    assert_eq!(out.stats.processing_failed_records, 1);
    let rows = p.error_rows(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, PROCESSING_FAILED);
    assert_eq!(rows[0].data_row, b"FAIL here");
    assert_eq!(
        rows[0].message,
        format!(
            "input preprocessing: Lambda function preprocess_upper answered ProcessingFailed for record {} (shard shardId-000000000001, partition key \"pk-1\")",
            records[1].sequence_number
        )
    );
    // In error_stream, DATA_ROW is the original record in hex.
    let batch = error_batch(&rows, 0, false);
    let data_row = batch
        .column_by_name("DATA_ROW")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    assert_eq!(data_row, "4641494c2068657265");
}

#[test]
fn p4_an_ok_record_may_hold_several_documents() {
    let s = Setup::new("p4", &[], 3, json!([]));
    let p = s.preprocessor();
    let records = vec![
        record(0, r#"{"id": 1, "tag": "SPLIT3"}"#),
        record(1, r#"{"id": 2}"#),
    ];
    let out = s.process(&p, records);
    let RecordResult::Ok(data) = &out.records[0].result else {
        panic!("{:?}", out.records[0].result)
    };
    let docs: Vec<Value> = std::str::from_utf8(data)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        docs,
        [1, 2, 3].map(|part| json!({"ID": 1, "TAG": "SPLIT3", "part": part}))
    );
    assert_eq!(out.records[1].result, ok(r#"{"ID": 2}"#));
    assert_eq!(out.stats.ok_records, 2, "one record in, one Ok record out");
}

/// The retry tests: the first call fails in the function, the same records are sent again and the
/// answer is complete.
fn retried_once(name: &str, env: &[&str], timeout_s: u32, why: &str) {
    let s = Setup::new(name, env, timeout_s, json!([]));
    let p = s.preprocessor();
    let records: Vec<InputRecord> = (0..5).map(|n| record(n, &format!("rec {n}"))).collect();
    let out = s.process(&p, records.clone());
    let expected: Vec<RecordResult> = (0..5).map(|n| ok(&format!("REC {n}"))).collect();
    assert_eq!(results(&out), expected);
    let requests = s.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0]["fault"].is_string());
    assert!(requests[1]["fault"].is_null());
    assert_eq!(record_ids(&requests[0]["event"]), ids_of(&records));
    assert_eq!(
        requests[0]["event"], requests[1]["event"],
        "the retry is the same request"
    );
    assert_eq!(s.invokes().len(), 2);
    assert_eq!(
        (
            out.stats.invocations,
            out.stats.successes,
            out.stats.retries
        ),
        (2, 1, 1)
    );
    assert_eq!(out.stats.ok_records, 5);
    assert_eq!(out.failures.len(), 1);
    assert!(out.failures[0].contains(why), "{}", out.failures[0]);
    assert!(out.failures[0].contains("retrying the same records"));
    assert_eq!(
        p.stats().last_error.as_deref(),
        Some(out.failures[0].as_str())
    );
    assert_eq!(p.stats().consecutive_failures, 0);
}

#[test]
fn p5_a_function_that_raises_is_retried_with_the_same_batch() {
    retried_once(
        "p5-raise",
        &["RAISE_FIRST=1"],
        3,
        "the function failed (Unhandled): ",
    );
}

#[test]
fn p5_a_response_without_a_record_id_is_retried_with_the_same_batch() {
    let last = record(4, "").sequence_number;
    retried_once(
        "p5-omit",
        &["OMIT_FIRST=1"],
        3,
        &format!("the response leaves out 1 of the 5 records (the first: {last})"),
    );
}

#[test]
fn p5_a_function_past_its_timeout_is_retried_with_the_same_batch() {
    retried_once(
        "p5-sleep",
        &["SLEEP_FIRST=1", "SLEEP_SECONDS=5"],
        1,
        "Task timed out after 1.00 seconds",
    );
}

#[test]
fn p5_throttling_and_a_call_past_the_call_timeout_are_retried() {
    let invocations = "^/2015-03-31/functions/[^/]+/invocations$";
    let plan = json!([
        {"match": {"path": invocations}, "first": 1, "fault": "throttle"},
        {"match": {"path": invocations}, "calls": [2], "fault": "delay", "seconds": 3, "forward": false},
    ]);
    let s = Setup::new("p5-service", &[], 3, plan);
    let p = s.preprocessor().with_call_timeout(Duration::from_secs(1));
    let records: Vec<InputRecord> = (0..3).map(|n| record(n, &format!("r{n}"))).collect();
    let out = s.process(&p, records.clone());
    assert_eq!(results(&out), [ok("R0"), ok("R1"), ok("R2")]);
    // The proxy logs the delayed call when its 3 s are over, after the retry was answered.
    let invokes = support::eventually(Duration::from_secs(10), "3 logged calls", || {
        Some(s.invokes()).filter(|l| l.len() >= 3)
    });
    let mut faults: Vec<&Value> = invokes.iter().map(|l| &l["fault"]).collect();
    faults.sort_by_key(|f| f.to_string());
    assert_eq!(faults, [&json!("delay"), &json!("throttle"), &Value::Null]);
    assert_eq!(invokes.len(), 3);
    // Only the third call reached the function.
    let requests = s.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(record_ids(&requests[0]["event"]), ids_of(&records));
    assert_eq!((out.stats.invocations, out.stats.retries), (3, 2));
    assert!(
        out.failures[0].contains("TooManyRequestsException"),
        "{}",
        out.failures[0]
    );
    assert!(
        out.failures[1].contains("no answer within 1.0 s (the call timeout)"),
        "{}",
        out.failures[1]
    );
}

#[test]
fn p6_a_batch_over_6_mb_is_split_and_a_record_too_large_is_not_sent() {
    let s = Setup::new("p6", &[], 10, json!([]));
    let p = s.preprocessor();
    // 70 records of 100 000 bytes (7 MB, 9.3 MB in base64), then one of 4.4 MB: alone, its
    // request would be 5.87 MB, over the 5.5 MB budget.
    let mut records: Vec<InputRecord> = (0..70)
        .map(|n| record(n, &format!("{n:05}").repeat(20_000)))
        .collect();
    records.push(record(70, &"z".repeat(4_400_000)));
    let out = s.process(&p, records.clone());
    for (n, r) in out.records.iter().take(70).enumerate() {
        assert_eq!(
            r.result,
            ok(&format!("{n:05}").repeat(20_000)),
            "record {n}"
        );
    }
    let RecordResult::ProcessingFailed(FailedBecause::TooLarge { request_bytes }) =
        out.records[70].result
    else {
        panic!("the 4.4 MB record: {:?}", out.records[70].result)
    };
    assert!(request_bytes > REQUEST_BUDGET, "{request_bytes}");
    let invokes = s.invokes();
    assert_eq!(invokes.len(), 2, "70 records need two requests");
    for call in &invokes {
        let bytes = call["bytes"].as_u64().unwrap() as usize;
        assert!(bytes <= REQUEST_BUDGET, "{call}");
        assert!(bytes < LAMBDA_PAYLOAD_LIMIT, "{call}");
        assert!(bytes > 3_000_000, "{call}");
        assert_eq!(call["status"], 200);
    }
    let requests = s.requests();
    let sent: Vec<String> = requests
        .iter()
        .flat_map(|r| record_ids(&r["event"]))
        .collect();
    assert_eq!(
        sent,
        ids_of(&records[..70]),
        "each record sent once, in order"
    );
    assert_eq!(
        (
            out.stats.invocations,
            out.stats.ok_records,
            out.stats.processing_failed_records
        ),
        (2, 70, 1)
    );
    let rows = p.error_rows(&out);
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]
            .message
            .contains("was not sent to Lambda function preprocess_upper")
    );
    assert_eq!(rows[0].data_row.len(), 4_400_000);
}

#[test]
fn an_unknown_function_is_retried_and_says_so() {
    let s = Setup::new("unknown", &[], 3, json!([]));
    let config = s.runtime.block_on(rowtime::connectors::aws::sdk_config());
    let p = std::sync::Arc::new(
        Preprocessor::new(&config, "no_such_function", APP_ARN, STREAM_ARN)
            .unwrap()
            .with_backoff(Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(50),
            )),
    );
    // The batch never succeeds: the stream stalls, and the running stats say why.
    let seen = s.runtime.block_on(async {
        let work = p.process(vec![record(0, "x")]);
        let watch = async {
            loop {
                let st = p.stats();
                if st.consecutive_failures >= 2 {
                    return st;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = work => panic!("a missing function cannot succeed"),
            st = tokio::time::timeout(Duration::from_secs(20), watch) => st.expect("two failures within 20 s"),
        }
    });
    let why = seen.last_error.unwrap();
    assert!(why.contains("ResourceNotFoundException"), "{why}");
    assert!(why.contains("Lambda function no_such_function"), "{why}");
    assert_eq!(seen.successes, 0);
}
