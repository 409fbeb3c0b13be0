//! The outbox against a scripted destination: requests within limits, what is sent again, when,
//! and what is given up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, StringArray, TimestampMillisecondArray};
use datafusion::arrow::record_batch::RecordBatch;

use super::*;
use crate::connectors::records::RecordFormat;
use crate::connectors::sink::Columns;

/// One answer of the scripted destination.
#[derive(Debug, Clone)]
enum Answer {
    /// These positions of the request failed (the others were delivered).
    Fail(Vec<usize>),
    /// The whole call failed.
    Call(CallFailure),
    /// Results for only the first N records.
    Short(usize),
}

/// What one request held: each record's (id, data, failures so far).
type Sent = Vec<(String, String, u32)>;

struct Scripted {
    limits: Limits,
    max_record: usize,
    /// Answers for the first calls; after them every record is delivered.
    script: VecDeque<Answer>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Destination for Scripted {
    fn name(&self) -> &str {
        "test://dest"
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn record_bytes(&self, record: &Record) -> usize {
        record.data.len()
    }

    fn refuse(&self, data: &[u8]) -> Option<String> {
        (data.len() > self.max_record).then(|| format!("the record is {} bytes", data.len()))
    }

    async fn send(&mut self, records: &[Record]) -> Result<Vec<Option<String>>, CallFailure> {
        self.sent.lock().unwrap().push(
            records
                .iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        String::from_utf8(r.data.clone()).unwrap(),
                        r.failures,
                    )
                })
                .collect(),
        );
        match self.script.pop_front() {
            None => Ok(vec![None; records.len()]),
            Some(Answer::Fail(at)) => Ok((0..records.len())
                .map(|i| at.contains(&i).then(|| format!("entry {i} throttled")))
                .collect()),
            Some(Answer::Call(f)) => Err(f),
            Some(Answer::Short(n)) => Ok(vec![None; n]),
        }
    }
}

struct Fixture {
    _runtime: tokio::runtime::Runtime,
    outbox: Outbox<Scripted>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Fixture {
    fn new(limits: Limits, script: Vec<Answer>, limit: RetryLimit, linger: Duration) -> Fixture {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let dest = Scripted {
            limits,
            max_record: 1000,
            script: script.into(),
            sent: Arc::clone(&sent),
        };
        let columns = Columns {
            indices: vec![0],
            names: vec!["S".into()],
        };
        let mut outbox = Outbox::new(
            dest,
            RecordEncoder::new(columns, RecordFormat::Csv),
            runtime.handle().clone(),
            limit,
            linger,
        );
        outbox.backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        Fixture {
            _runtime: runtime,
            outbox,
            sent,
        }
    }

    fn calls(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// The data of every record sent, call by call.
    fn data(&self) -> Vec<Vec<String>> {
        self.calls()
            .iter()
            .map(|c| c.iter().map(|(_, d, _)| d.clone()).collect())
            .collect()
    }
}

fn limits(records: usize, bytes: usize) -> Limits {
    Limits { records, bytes }
}

/// A stream batch: one VARCHAR column `S`, then ROWTIME (1000 + row).
fn batch(texts: &[String]) -> RecordBatch {
    let rowtimes: Vec<i64> = (0..texts.len() as i64).map(|i| 1000 + i).collect();
    RecordBatch::try_from_iter([
        ("S", Arc::new(StringArray::from(texts.to_vec())) as ArrayRef),
        (
            "ROWTIME",
            Arc::new(TimestampMillisecondArray::from(rowtimes)) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn rows(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The CSV records of `rows`.
fn records(texts: &[String]) -> Vec<String> {
    texts.iter().map(|t| format!("{t}\n")).collect()
}

#[test]
fn full_requests_go_at_once_and_the_rest_waits_for_the_linger_or_a_flush() {
    let mut f = Fixture::new(limits(500, 1 << 20), vec![], RetryLimit(None), LINGER);
    let texts = rows("r", 1200);
    f.outbox.write(&batch(&texts)).unwrap();
    let sizes: Vec<usize> = f.calls().iter().map(Vec::len).collect();
    assert_eq!(sizes, [500, 500]);
    assert_eq!(f.outbox.pending(), 200);
    f.outbox.idle().unwrap();
    assert_eq!(f.calls().len(), 2, "the linger has not passed");
    f.outbox.flush().unwrap();
    let sizes: Vec<usize> = f.calls().iter().map(Vec::len).collect();
    assert_eq!(sizes, [500, 500, 200]);
    assert_eq!(f.data().concat(), records(&texts));
    assert_eq!(f.outbox.pending(), 0);
    let stats = f.outbox.stats().get();
    assert_eq!(
        stats,
        DeliveryStats {
            records_ok: 1200,
            records_failed: 0,
            calls: 3,
            retries: 0
        }
    );
}

#[test]
fn a_request_holds_no_more_bytes_than_the_limit() {
    // Records "r0\n".."r9\n" are 3 bytes, "r10\n".. 4 bytes.
    let mut f = Fixture::new(limits(500, 10), vec![], RetryLimit(None), LINGER);
    let texts = rows("r", 14);
    f.outbox.write(&batch(&texts)).unwrap();
    f.outbox.flush().unwrap();
    let sizes: Vec<usize> = f.calls().iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 3, 2, 2, 1]);
    for call in f.data() {
        assert!(
            call.iter().map(String::len).sum::<usize>() <= 10,
            "{call:?}"
        );
    }
    assert_eq!(f.data().concat(), records(&texts));
}

#[test]
fn request_len_takes_at_least_one_record_and_stops_at_either_limit() {
    let l = limits(3, 10);
    assert_eq!(request_len([4, 4, 4].into_iter(), 0, l), 2);
    assert_eq!(request_len([1, 1, 1, 1].into_iter(), 0, l), 3);
    assert_eq!(request_len([20, 1].into_iter(), 0, l), 1);
    assert_eq!(request_len([5, 5].into_iter(), 0, l), 2);
    assert_eq!(request_len([5, 5].into_iter(), 1, l), 1);
    assert_eq!(request_len(std::iter::empty(), 0, l), 0);
}

#[test]
fn rows_wait_about_a_second_and_go_together_at_idle_or_the_next_write() {
    let linger = Duration::from_millis(150);
    let mut f = Fixture::new(limits(500, 1 << 20), vec![], RetryLimit(None), linger);
    f.outbox.write(&batch(&rows("a", 2))).unwrap();
    f.outbox.write(&batch(&rows("b", 2))).unwrap();
    f.outbox.idle().unwrap();
    assert!(f.calls().is_empty());
    std::thread::sleep(linger);
    f.outbox.idle().unwrap();
    assert_eq!(
        f.data(),
        [records(&["a0", "a1", "b0", "b1"].map(String::from))]
    );
    // The next write after the linger takes what waited with it.
    f.outbox.write(&batch(&rows("c", 1))).unwrap();
    assert_eq!(f.calls().len(), 1);
    std::thread::sleep(linger);
    f.outbox.write(&batch(&rows("d", 1))).unwrap();
    assert_eq!(f.data()[1], ["c0\n", "d0\n"]);
    f.outbox.idle().unwrap();
    assert_eq!(f.calls().len(), 2, "nothing left to send");
}

#[test]
fn without_a_linger_every_write_is_delivered_at_once() {
    let mut f = Fixture::new(
        limits(usize::MAX, 1 << 20),
        vec![],
        RetryLimit(None),
        Duration::ZERO,
    );
    for i in 0..3 {
        f.outbox.write(&batch(&rows(&format!("w{i}-"), 2))).unwrap();
    }
    f.outbox.write(&batch(&[])).unwrap();
    assert_eq!(
        f.data(),
        [
            vec!["w0-0\n", "w0-1\n"],
            vec!["w1-0\n", "w1-1\n"],
            vec!["w2-0\n", "w2-1\n"]
        ]
    );
}

#[test]
fn only_the_failed_entries_are_sent_again_with_the_same_id() {
    let mut f = Fixture::new(
        limits(500, 1 << 20),
        vec![Answer::Fail(vec![1, 3])],
        RetryLimit(None),
        LINGER,
    );
    f.outbox.write(&batch(&rows("r", 5))).unwrap();
    f.outbox.flush().unwrap();
    let calls = f.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].len(), 2);
    assert_eq!(
        (calls[1][0].0.as_str(), calls[1][0].2),
        (calls[0][1].0.as_str(), 1)
    );
    assert_eq!(
        (calls[1][1].0.as_str(), calls[1][1].2),
        (calls[0][3].0.as_str(), 1)
    );
    assert_eq!(f.data()[1], ["r1\n", "r3\n"]);
    assert_eq!(
        f.outbox.stats().get(),
        DeliveryStats {
            records_ok: 5,
            records_failed: 0,
            calls: 2,
            retries: 2
        }
    );
    assert!(f.outbox.take_rejected().is_empty());
}

#[test]
fn failed_entries_go_before_the_records_that_waited_behind_them() {
    let mut f = Fixture::new(
        limits(3, 1 << 20),
        vec![Answer::Fail(vec![0])],
        RetryLimit(None),
        LINGER,
    );
    f.outbox.write(&batch(&rows("r", 5))).unwrap();
    f.outbox.flush().unwrap();
    assert_eq!(
        f.data(),
        [vec!["r0\n", "r1\n", "r2\n"], vec!["r0\n", "r3\n", "r4\n"]]
    );
}

#[test]
fn a_call_that_failed_as_a_whole_sends_every_record_again() {
    let mut f = Fixture::new(
        limits(500, 1 << 20),
        vec![
            Answer::Call(CallFailure::Retry("throttled".into())),
            Answer::Call(CallFailure::Retry("timed out".into())),
        ],
        RetryLimit(None),
        LINGER,
    );
    f.outbox.write(&batch(&rows("r", 3))).unwrap();
    f.outbox.flush().unwrap();
    let calls = f.calls();
    assert_eq!(calls.len(), 3);
    let ids = |c: &Sent| c.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&calls[0]), ids(&calls[2]));
    let failures: Vec<u32> = calls.iter().map(|c| c[0].2).collect();
    assert_eq!(failures, [0, 1, 2]);
    let s = f.outbox.stats().get();
    assert_eq!((s.records_ok, s.calls, s.retries), (3, 3, 6));
}

#[test]
fn an_answer_without_every_result_fails_the_records_left_out() {
    let mut f = Fixture::new(
        limits(500, 1 << 20),
        vec![Answer::Short(2)],
        RetryLimit(None),
        LINGER,
    );
    f.outbox.write(&batch(&rows("r", 4))).unwrap();
    f.outbox.flush().unwrap();
    assert_eq!(f.data()[1], ["r2\n", "r3\n"]);
}

#[test]
fn by_default_a_record_is_retried_until_it_is_delivered() {
    let script = vec![Answer::Call(CallFailure::Retry("down".into())); 6];
    let mut f = Fixture::new(limits(500, 1 << 20), script, RetryLimit(None), LINGER);
    f.outbox.write(&batch(&rows("r", 2))).unwrap();
    f.outbox.flush().unwrap();
    assert_eq!(f.calls().len(), 7);
    assert_eq!(f.calls()[6][0].2, 6);
    assert_eq!(f.outbox.stats().get().records_ok, 2);
    assert!(f.outbox.take_rejected().is_empty());
}

#[test]
fn after_the_retry_limit_a_record_comes_back_as_a_delivery_error() {
    let script = vec![
        Answer::Fail(vec![1]),
        Answer::Call(CallFailure::Retry(
            "PutRecords failed: InternalFailure: boom".into(),
        )),
    ];
    let mut f = Fixture::new(limits(500, 1 << 20), script, RetryLimit(Some(1)), LINGER);
    f.outbox.write(&batch(&rows("r", 3))).unwrap();
    f.outbox.flush().unwrap();
    // Call 1: r1 fails; call 2 (r1 alone) fails as a whole: r1 has failed twice.
    assert_eq!(f.data(), [vec!["r0\n", "r1\n", "r2\n"], vec!["r1\n"]]);
    let rejected = f.outbox.take_rejected();
    assert_eq!(
        rejected,
        [ErrorRow {
            name: DELIVERY_ERROR,
            message: "test://dest: gave up after 2 failed attempts: PutRecords failed: InternalFailure: boom".into(),
            data_rowtime: Some(1001),
            data_row: b"r1\n".to_vec(),
            pump: None,
        }]
    );
    assert!(f.outbox.take_rejected().is_empty(), "handed back once");
    assert_eq!(
        f.outbox.stats().get(),
        DeliveryStats {
            records_ok: 2,
            records_failed: 1,
            calls: 2,
            retries: 1
        }
    );
    assert_eq!(f.outbox.pending(), 0);
}

#[test]
fn a_limit_of_zero_gives_up_at_the_first_failure() {
    let script = vec![Answer::Fail(vec![0])];
    let mut f = Fixture::new(limits(500, 1 << 20), script, RetryLimit(Some(0)), LINGER);
    f.outbox.write(&batch(&rows("r", 2))).unwrap();
    f.outbox.flush().unwrap();
    assert_eq!(f.calls().len(), 1);
    let rejected = f.outbox.take_rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].data_row, b"r0\n");
    assert!(
        rejected[0].message.ends_with("entry 0 throttled"),
        "{rejected:?}"
    );
}

#[test]
fn a_record_too_large_for_the_destination_is_given_up_at_once() {
    let mut f = Fixture::new(limits(500, 1 << 20), vec![], RetryLimit(None), LINGER);
    let texts = vec!["small".to_string(), "x".repeat(1000), "last".to_string()];
    f.outbox.write(&batch(&texts)).unwrap();
    f.outbox.flush().unwrap();
    assert_eq!(f.data(), [vec!["small\n", "last\n"]]);
    let rejected = f.outbox.take_rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].name, DELIVERY_ERROR);
    assert_eq!(rejected[0].message, "test://dest: the record is 1001 bytes");
    assert_eq!(rejected[0].data_row.len(), 1001);
    assert_eq!(rejected[0].data_rowtime, Some(1001));
    assert_eq!(f.outbox.stats().get().records_failed, 1);
}

#[test]
fn a_fatal_error_stops_delivery_and_keeps_the_records() {
    let script = vec![Answer::Call(CallFailure::Fatal(
        "test://dest: PutRecords failed: ResourceNotFoundException: no stream; create it".into(),
    ))];
    let mut f = Fixture::new(limits(500, 1 << 20), script, RetryLimit(None), LINGER);
    f.outbox.write(&batch(&rows("r", 3))).unwrap();
    let e = f.outbox.flush().unwrap_err().to_string();
    assert_eq!(
        e,
        "test://dest: PutRecords failed: ResourceNotFoundException: no stream; create it"
    );
    assert_eq!(f.outbox.pending(), 3);
    // Once the destination answers again, the records go, once each.
    f.outbox.flush().unwrap();
    assert_eq!(f.data()[1], records(&rows("r", 3)));
    assert_eq!(f.outbox.stats().get().records_ok, 3);
}

#[test]
fn failed_attempts_wait_with_backoff() {
    let script = vec![Answer::Call(CallFailure::Retry("throttled".into())); 3];
    let mut f = Fixture::new(limits(500, 1 << 20), script, RetryLimit(None), LINGER);
    f.outbox.backoff = Backoff::new(Duration::from_millis(40), Duration::from_millis(60));
    f.outbox.write(&batch(&rows("r", 1))).unwrap();
    let start = Instant::now();
    f.outbox.flush().unwrap();
    // 40 ms, then 60 ms (capped), then 60 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(160),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(f.calls().len(), 4);
}

#[test]
fn a_batch_without_a_trailing_rowtime_gives_rows_without_one() {
    let mut f = Fixture::new(limits(500, 1 << 20), vec![], RetryLimit(None), LINGER);
    let b = RecordBatch::try_from_iter([(
        "S",
        Arc::new(StringArray::from(vec!["x".repeat(2000)])) as ArrayRef,
    )])
    .unwrap();
    f.outbox.write(&b).unwrap();
    assert_eq!(f.outbox.take_rejected()[0].data_rowtime, None);
}

#[test]
fn fatal_hints_cover_only_errors_that_retrying_cannot_mend() {
    for code in [
        "ResourceNotFoundException",
        "AccessDeniedException",
        "InvalidArgumentException",
        "ValidationException",
        "RequestTooLargeException",
    ] {
        assert!(fatal_hint(code).is_some(), "{code}");
    }
    for code in [
        "ProvisionedThroughputExceededException",
        "ServiceUnavailableException",
        "InternalFailure",
        "TooManyRequestsException",
        "ServiceException",
        "KMSThrottlingException",
        "ResourceConflictException",
    ] {
        assert!(fatal_hint(code).is_none(), "{code}");
    }
}

/// An SDK configuration that reaches nothing: for building clients whose limits are tested.
pub(super) fn offline_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build()
}

/// A tokio runtime for building sinks.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// How many records of each size go in each request, front to back.
pub(super) fn requests<D: Destination>(dest: &D, sizes: &[usize]) -> Vec<usize> {
    let mut queue: VecDeque<Record> = sizes
        .iter()
        .map(|n| Record::new(vec![b'x'; *n], None))
        .collect();
    let mut out = Vec::new();
    while !queue.is_empty() {
        let n = request_len(
            queue.iter().map(|r| dest.record_bytes(r)),
            dest.request_bytes(),
            dest.limits(),
        );
        queue.drain(..n);
        out.push(n);
    }
    out
}
