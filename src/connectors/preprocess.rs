//! Input preprocessing with Lambda (KDA's `InputProcessingConfiguration.InputLambdaProcessor`):
//! a source's records go through a Lambda function before they are decoded, with KDA's contract.
//!
//! **Request** (one synchronous `Invoke` per batch):
//! `{"invocationId": UUID, "applicationArn": ..., "streamArn": ..., "records": [{"recordId":
//! SEQUENCE_NUMBER, "data": BASE64, "kinesisStreamRecordMetadata": {"shardId", "partitionKey",
//! "sequenceNumber", "approximateArrivalTimestamp"}}]}`. `approximateArrivalTimestamp` is sent in
//! **milliseconds** since the epoch as a JSON integer: KDA's event classes declare it a long and
//! Firehose's preprocessing uses milliseconds (one KDA documentation example shows seconds).
//!
//! **Response**: `{"records": [{"recordId", "result": "Ok" | "Dropped" | "ProcessingFailed",
//! "data": BASE64}]}`; `data` may be absent for `Dropped` and `ProcessingFailed`. An `Ok` record's
//! data may hold several records (JSON documents, CSV lines): it is returned as it came and the
//! caller splits it.
//!
//! **Failure of the invocation**: a function error (`FunctionError` set: the handler raised, or
//! ran past its timeout), a service or network error, the call timing out, a response that is
//! not that JSON, a record id left out, unknown or given twice, a record without `result`, an
//! unknown `result`, `Ok` without `data`, `data` that is not base64. KDA retried such a batch
//! until it succeeded, so does [`Preprocessor::process`]: the same batch (the same request
//! body, so the same `invocationId` and record ids) with [`Backoff`], forever; the source stalls
//! meanwhile. Each failure is counted and described ([`PreprocessStats::last_error`],
//! [`ProcessResult::failures`]); a partial answer is never used.
//!
//! **Size**: Lambda takes at most 6 MB in a synchronous request. A batch is split into requests
//! of at most [`REQUEST_BUDGET`] bytes, counted on the exact request body (base64 and JSON
//! included). A record too large for any request alone is not sent: it is `ProcessingFailed`
//! ([`FailedBecause::TooLarge`]), not retried.
//!
//! Record ids are the Kinesis sequence numbers; a batch holding one sequence number twice is split
//! so that every request's ids are unique and every answer maps to one record.
//!
//! Statistics follow KDA's `InputProcessing.*` metrics (Duration, OkRecords, OkBytes,
//! DroppedRecords, ProcessingFailedRecords, Success) plus invocations and retries.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::Value;

use super::aws::describe;
use super::retry::Backoff;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, PROCESSING_FAILED};

/// Lambda's limit for a synchronous request's payload: 6 MB (6 × 2^20 bytes).
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// The most bytes one request body may have: 5.5 MB, below [`LAMBDA_PAYLOAD_LIMIT`] with room for
/// the headers Lambda counts.
pub const REQUEST_BUDGET: usize = 5 * 1024 * 1024 + 512 * 1024;

/// How long one `Invoke` may take before it counts as failed (and is retried): Lambda runs a
/// function for at most 15 minutes, plus a minute for the way there and back.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(16 * 60);

/// One record of a source, as the preprocessing function receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub data: Vec<u8>,
    /// The Kinesis sequence number; the request's `recordId`.
    pub sequence_number: String,
    pub shard_id: String,
    pub partition_key: String,
    /// When Kinesis received the record, milliseconds since the epoch.
    pub approximate_arrival_ms: i64,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordResult {
    /// The function's data: zero, one or several records for the caller to split.
    Ok(Vec<u8>),
    /// The function dropped the record: it goes nowhere.
    Dropped,
    /// The record goes to `error_stream` ([`processing_failed_row`]).
    ProcessingFailed(FailedBecause),
}

/// Why a record is `ProcessingFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedBecause {
    /// The function answered `ProcessingFailed`.
    Function,
    /// The record alone makes a request of `request_bytes`, over [`REQUEST_BUDGET`]: never sent.
    TooLarge { request_bytes: usize },
}

/// A record with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub input: InputRecord,
    pub result: RecordResult,
}

/// The answer to [`Preprocessor::process`]: every record, in input order, with its result.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessResult {
    pub records: Vec<Processed>,
    /// This call's statistics.
    pub stats: PreprocessStats,
    /// Each failed invocation of this call, described, in order (each was retried).
    pub failures: Vec<String>,
}

/// Counters in the manner of KDA's `InputProcessing.*` metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreprocessStats {
    /// `Invoke` calls made, failed ones included.
    pub invocations: u64,
    /// Invocations that succeeded (`InputProcessing.Success`).
    pub successes: u64,
    /// Invocations that failed and were retried.
    pub retries: u64,
    /// Records the function answered `Ok` (`InputProcessing.OkRecords`) and their data's bytes
    /// (`InputProcessing.OkBytes`).
    pub ok_records: u64,
    pub ok_bytes: u64,
    /// `InputProcessing.DroppedRecords`.
    pub dropped_records: u64,
    /// `InputProcessing.ProcessingFailedRecords`, records too large to send included.
    pub processing_failed_records: u64,
    /// Time spent in `Invoke` calls, in total and the longest (`InputProcessing.Duration`).
    pub duration: Duration,
    pub max_duration: Duration,
    /// Invocations failed in a row, now: more than 0 while a batch is being retried.
    pub consecutive_failures: u64,
    /// The most recent failure, described.
    pub last_error: Option<String>,
}

/// The `error_stream` row of a `ProcessingFailed` record: DATA_ROW is the original record.
pub fn processing_failed_row(function: &str, input: &InputRecord, why: &FailedBecause) -> ErrorRow {
    let record = format!(
        "record {} (shard {}, partition key {:?})",
        input.sequence_number, input.shard_id, input.partition_key
    );
    let message = match why {
        FailedBecause::Function => format!(
            "input preprocessing: Lambda function {function} answered ProcessingFailed for {record}"
        ),
        FailedBecause::TooLarge { request_bytes } => format!(
            "input preprocessing: {record} was not sent to Lambda function {function}: its {} bytes make a {request_bytes}-byte request, over the {REQUEST_BUDGET}-byte limit kept below Lambda's 6 MB for a synchronous call",
            input.data.len()
        ),
    };
    ErrorRow {
        name: PROCESSING_FAILED,
        message,
        data_rowtime: None,
        data_row: input.data.clone(),
        pump: None,
    }
}

/// What an `Invoke` call answered.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    /// `FunctionError` (`Unhandled`, `Handled`): the function failed.
    function_error: Option<String>,
    payload: Vec<u8>,
}

/// One `Invoke` with a request body; `Err` says what went wrong on the way.
#[async_trait::async_trait]
trait Invoke: Send + Sync {
    async fn invoke(&self, body: Vec<u8>) -> std::result::Result<Answer, String>;
}

/// The AWS SDK's Lambda client.
struct SdkInvoke {
    client: aws_sdk_lambda::Client,
    function: String,
}

#[async_trait::async_trait]
impl Invoke for SdkInvoke {
    async fn invoke(&self, body: Vec<u8>) -> std::result::Result<Answer, String> {
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
            .payload(aws_smithy_types::Blob::new(body))
            .send()
            .await
            .map_err(|e| format!("the Invoke call failed: {}", describe(&e)))?;
        Ok(Answer {
            function_error: out.function_error().map(str::to_string),
            payload: out
                .payload()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default(),
        })
    }
}

/// Sends a source's records through the preprocessing function.
pub struct Preprocessor {
    function: String,
    application_arn: String,
    stream_arn: String,
    invoker: Box<dyn Invoke>,
    backoff: Backoff,
    call_timeout: Duration,
    budget: usize,
    stats: Mutex<PreprocessStats>,
}

impl Preprocessor {
    /// A preprocessor calling `function` (a name, `NAME:QUALIFIER` or an ARN, as `Invoke` takes
    /// it) with `config`'s region and credentials, for the source `stream_arn` of the
    /// application `application_arn`. The SDK's own retries are off: every failed attempt is
    /// seen, counted and retried here.
    pub fn new(
        config: &SdkConfig,
        function: &str,
        application_arn: &str,
        stream_arn: &str,
    ) -> Result<Preprocessor> {
        if function.trim().is_empty() {
            return Err(Error::Application(
                "input preprocessing: the Lambda function is empty; give its name or ARN (InputLambdaProcessor.ResourceARN)".into(),
            ));
        }
        let lambda = aws_sdk_lambda::config::Builder::from(config)
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        let invoker = SdkInvoke {
            client: aws_sdk_lambda::Client::from_conf(lambda),
            function: function.to_string(),
        };
        Ok(Preprocessor::with_invoker(
            function,
            application_arn,
            stream_arn,
            Box::new(invoker),
        ))
    }

    fn with_invoker(
        function: &str,
        application_arn: &str,
        stream_arn: &str,
        invoker: Box<dyn Invoke>,
    ) -> Preprocessor {
        Preprocessor {
            function: function.to_string(),
            application_arn: application_arn.to_string(),
            stream_arn: stream_arn.to_string(),
            invoker,
            backoff: Backoff::delivery(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            budget: REQUEST_BUDGET,
            stats: Mutex::new(PreprocessStats::default()),
        }
    }

    /// The delays between retries of a failed batch (default [`Backoff::delivery`]).
    pub fn with_backoff(mut self, backoff: Backoff) -> Preprocessor {
        self.backoff = backoff;
        self
    }

    /// How long one `Invoke` may take before it counts as failed and is retried (default
    /// [`DEFAULT_CALL_TIMEOUT`]).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Preprocessor {
        self.call_timeout = timeout;
        self
    }

    /// The function, as given.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The statistics since the preprocessor was made, readable while a call is under way (a
    /// batch being retried shows in `consecutive_failures` and `last_error`).
    pub fn stats(&self) -> PreprocessStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `error_stream` rows of this result's `ProcessingFailed` records.
    pub fn error_rows(&self, result: &ProcessResult) -> Vec<ErrorRow> {
        result
            .records
            .iter()
            .filter_map(|p| match &p.result {
                RecordResult::ProcessingFailed(why) => {
                    Some(processing_failed_row(&self.function, &p.input, why))
                }
                _ => None,
            })
            .collect()
    }

    /// Sends `records` through the function and returns every one with its result, in input
    /// order. Returns only when every request has succeeded: a failed invocation is retried
    /// with the same records, forever.
    pub async fn process(&self, records: Vec<InputRecord>) -> ProcessResult {
        let mut stats = PreprocessStats::default();
        let mut failures = Vec::new();
        let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];
        let plan = plan_requests(
            &records,
            &self.application_arn,
            &self.stream_arn,
            self.budget,
        );
        for (index, request_bytes) in plan.too_large {
            results[index] = Some(RecordResult::ProcessingFailed(FailedBecause::TooLarge {
                request_bytes,
            }));
            self.count(&mut stats, |s| s.processing_failed_records += 1);
        }
        let requests = plan.requests.len();
        for (n, request) in plan.requests.into_iter().enumerate() {
            let ids: Vec<&str> = request
                .indices
                .iter()
                .map(|&i| records[i].sequence_number.as_str())
                .collect();
            let answered = self
                .invoke_until_ok(&request, &ids, (n + 1, requests), &mut stats, &mut failures)
                .await;
            for (&index, result) in request.indices.iter().zip(answered) {
                results[index] = Some(result);
            }
        }
        let records = records
            .into_iter()
            .zip(results)
            .map(|(input, result)| Processed {
                input,
                result: result.expect("every record is planned into a request or too large"),
            })
            .collect();
        ProcessResult {
            records,
            stats,
            failures,
        }
    }

    /// One request, sent until it succeeds.
    async fn invoke_until_ok(
        &self,
        request: &Request,
        ids: &[&str],
        (n, of): (usize, usize),
        stats: &mut PreprocessStats,
        failures: &mut Vec<String>,
    ) -> Vec<RecordResult> {
        let mut backoff = self.backoff.clone();
        loop {
            let started = Instant::now();
            let answer =
                tokio::time::timeout(self.call_timeout, self.invoker.invoke(request.body.clone()))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no answer within {:.1} s (the call timeout)",
                            self.call_timeout.as_secs_f64()
                        ))
                    });
            let took = started.elapsed();
            let outcome = answer.and_then(|a| read_answer(&a, ids));
            self.count(stats, |s| {
                s.invocations += 1;
                s.duration += took;
                s.max_duration = s.max_duration.max(took);
            });
            match outcome {
                Ok(results) => {
                    self.count(stats, |s| {
                        s.successes += 1;
                        s.consecutive_failures = 0;
                        for r in &results {
                            match r {
                                RecordResult::Ok(data) => {
                                    s.ok_records += 1;
                                    s.ok_bytes += data.len() as u64;
                                }
                                RecordResult::Dropped => s.dropped_records += 1,
                                RecordResult::ProcessingFailed(_) => {
                                    s.processing_failed_records += 1
                                }
                            }
                        }
                    });
                    return results;
                }
                Err(reason) => {
                    let delay = backoff.next_delay();
                    let message = format!(
                        "input preprocessing with Lambda function {}: request {n} of {of} ({} records, {} bytes) failed: {reason}; retrying the same records in {:.1} s (attempt {})",
                        self.function,
                        ids.len(),
                        request.body.len(),
                        delay.as_secs_f64(),
                        backoff.attempts() + 1
                    );
                    self.count(stats, |s| {
                        s.retries += 1;
                        s.consecutive_failures += 1;
                        s.last_error = Some(message.clone());
                    });
                    failures.push(message);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Applies `f` to this call's statistics and to the running totals.
    fn count(&self, call: &mut PreprocessStats, f: impl Fn(&mut PreprocessStats)) {
        f(call);
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A request body and the records (indices into the batch) it carries, in order.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    indices: Vec<usize>,
    body: Vec<u8>,
}

/// A batch cut into requests, and the records too large to send (index, request bytes).
#[derive(Debug, Default)]
struct Plan {
    requests: Vec<Request>,
    too_large: Vec<(usize, usize)>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    invocation_id: String,
    application_arn: &'a str,
    stream_arn: &'a str,
    records: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestRecord<'a> {
    record_id: &'a str,
    data: String,
    kinesis_stream_record_metadata: Metadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    shard_id: &'a str,
    partition_key: &'a str,
    sequence_number: &'a str,
    approximate_arrival_timestamp: i64,
}

/// One record as the request's JSON.
fn record_json(r: &InputRecord) -> Vec<u8> {
    serde_json::to_vec(&RequestRecord {
        record_id: &r.sequence_number,
        data: BASE64.encode(&r.data),
        kinesis_stream_record_metadata: Metadata {
            shard_id: &r.shard_id,
            partition_key: &r.partition_key,
            sequence_number: &r.sequence_number,
            approximate_arrival_timestamp: r.approximate_arrival_ms,
        },
    })
    .expect("a request record serialises")
}

/// The request's JSON up to the records (`…"records":[`), with a new invocation id.
fn envelope_head(application_arn: &str, stream_arn: &str) -> Vec<u8> {
    let mut head = serde_json::to_vec(&Envelope {
        invocation_id: uuid::Uuid::new_v4().to_string(),
        application_arn,
        stream_arn,
        records: [],
    })
    .expect("a request envelope serialises");
    debug_assert!(head.ends_with(b"[]}"));
    head.truncate(head.len() - 2);
    head
}

/// Cuts `records` into requests of at most `budget` bytes each, in order, with unique record ids
/// in each request. Each request has its own invocation id.
fn plan_requests(
    records: &[InputRecord],
    application_arn: &str,
    stream_arn: &str,
    budget: usize,
) -> Plan {
    const TAIL: &[u8] = b"]}";
    let head_len = envelope_head(application_arn, stream_arn).len();
    let mut plan = Plan::default();
    // The request being filled, and its record ids.
    let mut open: Option<(Request, HashSet<&str>)> = None;
    let close = |open: &mut Option<(Request, HashSet<&str>)>, plan: &mut Plan| {
        if let Some((mut request, _)) = open.take() {
            request.body.extend_from_slice(TAIL);
            plan.requests.push(request);
        }
    };
    for (index, record) in records.iter().enumerate() {
        let entry = record_json(record);
        let alone = head_len + entry.len() + TAIL.len();
        if alone > budget {
            plan.too_large.push((index, alone));
            continue;
        }
        if let Some((request, ids)) = &open {
            let grown = request.body.len() + 1 + entry.len() + TAIL.len();
            if grown > budget || ids.contains(record.sequence_number.as_str()) {
                close(&mut open, &mut plan);
            }
        }
        let (request, ids) = open.get_or_insert_with(|| {
            let body = envelope_head(application_arn, stream_arn);
            (
                Request {
                    indices: Vec::new(),
                    body,
                },
                HashSet::new(),
            )
        });
        if !request.indices.is_empty() {
            request.body.push(b',');
        }
        request.body.extend_from_slice(&entry);
        request.indices.push(index);
        ids.insert(&record.sequence_number);
    }
    close(&mut open, &mut plan);
    plan
}

/// An invocation's answer as one result per id (in the order of `ids`), or why it failed.
fn read_answer(answer: &Answer, ids: &[&str]) -> std::result::Result<Vec<RecordResult>, String> {
    if let Some(kind) = &answer.function_error {
        return Err(format!(
            "the function failed ({kind}): {}",
            function_error_text(&answer.payload)
        ));
    }
    parse_response(&answer.payload, ids)
}

/// `{"errorType": T, "errorMessage": M}` as `T: M`, else the payload's start.
fn function_error_text(payload: &[u8]) -> String {
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(payload) {
        let field = |k: &str| o.get(k).and_then(Value::as_str);
        match (field("errorType"), field("errorMessage")) {
            (Some(t), Some(m)) => return format!("{t}: {m}"),
            (None, Some(m)) => return m.to_string(),
            _ => {}
        }
    }
    excerpt(payload)
}

/// The start of a payload, for a message.
fn excerpt(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    if out.is_empty() {
        "(an empty payload)".into()
    } else {
        out
    }
}

/// Reads the function's response for a request with `ids`.
fn parse_response(payload: &[u8], ids: &[&str]) -> std::result::Result<Vec<RecordResult>, String> {
    let expected = "expected {\"records\": [{\"recordId\", \"result\", \"data\"}]}";
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the response is not JSON ({e}): {}", excerpt(payload)))?;
    let Some(list) = value.get("records").and_then(Value::as_array) else {
        return Err(format!(
            "the response has no `records` list ({expected}): {}",
            excerpt(payload)
        ));
    };
    let position: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut results: Vec<Option<RecordResult>> = vec![None; ids.len()];
    for (n, item) in list.iter().enumerate() {
        let at = format!("response record {}", n + 1);
        let Some(id) = item.get("recordId").and_then(Value::as_str) else {
            return Err(format!("{at} has no `recordId` string ({expected})"));
        };
        let Some(&slot) = position.get(id) else {
            return Err(format!(
                "{at} has recordId {id}, which is not in the request"
            ));
        };
        if results[slot].is_some() {
            return Err(format!("record {id} is answered twice"));
        }
        let data = match item.get("data") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(format!("record {id}: `data` is not a base64 string")),
        };
        let result = match item.get("result").and_then(Value::as_str) {
            Some("Ok") => {
                let Some(data) = data else {
                    return Err(format!("record {id} is Ok but has no `data`"));
                };
                let bytes = BASE64
                    .decode(data)
                    .map_err(|e| format!("record {id}: `data` is not base64 ({e})"))?;
                RecordResult::Ok(bytes)
            }
            Some("Dropped") => RecordResult::Dropped,
            Some("ProcessingFailed") => RecordResult::ProcessingFailed(FailedBecause::Function),
            Some(other) => {
                return Err(format!(
                    "record {id} has result {other:?}; expected Ok, Dropped or ProcessingFailed"
                ));
            }
            None => return Err(format!("record {id} has no `result` string")),
        };
        results[slot] = Some(result);
    }
    let missing: Vec<&str> = ids
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_none())
        .map(|(id, _)| *id)
        .collect();
    if let Some(first) = missing.first() {
        return Err(format!(
            "the response leaves out {} of the {} records (the first: {first})",
            missing.len(),
            ids.len()
        ));
    }
    Ok(results.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn record(n: usize, data: &str) -> InputRecord {
        InputRecord {
            data: data.as_bytes().to_vec(),
            sequence_number: format!("4959{n:04}"),
            shard_id: "shardId-000000000001".into(),
            partition_key: format!("key-{n}"),
            approximate_arrival_ms: 1_700_000_000_123 + n as i64,
        }
    }

    fn body_json(r: &Request) -> Value {
        serde_json::from_slice(&r.body).expect("a request body is JSON")
    }

    #[test]
    fn the_request_is_kdas_json_with_millisecond_arrival_times() {
        let mut weird = record(2, "ü \"q\"\n");
        weird.partition_key = "a \"key\" \\ é".into();
        let records = vec![record(1, "{\"a\":1}"), weird];
        let plan = plan_requests(&records, "arn:app", "arn:stream", REQUEST_BUDGET);
        assert!(plan.too_large.is_empty());
        assert_eq!(plan.requests.len(), 1);
        let mut body = body_json(&plan.requests[0]);
        let id = body["invocationId"].as_str().unwrap().to_string();
        let parsed = uuid::Uuid::parse_str(&id).expect("invocationId is a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        body.as_object_mut().unwrap().remove("invocationId");
        assert_eq!(
            body,
            json!({
                "applicationArn": "arn:app",
                "streamArn": "arn:stream",
                "records": [
                    {"recordId": "49590001", "data": "eyJhIjoxfQ==",
                     "kinesisStreamRecordMetadata": {"shardId": "shardId-000000000001",
                        "partitionKey": "key-1", "sequenceNumber": "49590001",
                        "approximateArrivalTimestamp": 1_700_000_000_124i64}},
                    {"recordId": "49590002", "data": BASE64.encode("ü \"q\"\n"),
                     "kinesisStreamRecordMetadata": {"shardId": "shardId-000000000001",
                        "partitionKey": "a \"key\" \\ é", "sequenceNumber": "49590002",
                        "approximateArrivalTimestamp": 1_700_000_000_125i64}}
                ]
            })
        );
        assert!(
            body["records"][0]["kinesisStreamRecordMetadata"]["approximateArrivalTimestamp"]
                .is_i64()
        );
        assert_eq!(plan.requests[0].indices, [0, 1]);
    }

    #[test]
    fn an_empty_batch_makes_no_request() {
        let plan = plan_requests(&[], "a", "s", REQUEST_BUDGET);
        assert!(plan.requests.is_empty() && plan.too_large.is_empty());
    }

    /// Each record's share of a request: its JSON and the comma before it.
    fn entry_len(r: &InputRecord) -> usize {
        record_json(r).len()
    }

    #[test]
    fn a_request_may_be_exactly_the_budget_and_not_a_byte_more() {
        let records: Vec<InputRecord> = (0..5).map(|n| record(n, &"x".repeat(300))).collect();
        let head = envelope_head("a", "s").len();
        let each = entry_len(&records[0]);
        // Three records fit exactly: head + 3 entries + 2 commas + "]}".
        let exact = head + 3 * each + 2 + 2;
        let plan = plan_requests(&records, "a", "s", exact);
        let sizes: Vec<usize> = plan.requests.iter().map(|r| r.body.len()).collect();
        assert_eq!(sizes, [exact, head + 2 * each + 1 + 2]);
        assert_eq!(plan.requests[0].indices, [0, 1, 2]);
        assert_eq!(plan.requests[1].indices, [3, 4]);
        let plan = plan_requests(&records, "a", "s", exact - 1);
        let counts: Vec<usize> = plan.requests.iter().map(|r| r.indices.len()).collect();
        assert_eq!(counts, [2, 2, 1]);
        for r in &plan.requests {
            assert!(r.body.len() < exact);
            assert_eq!(
                body_json(r)["records"].as_array().unwrap().len(),
                r.indices.len()
            );
        }
    }

    #[test]
    fn a_batch_over_6_mb_is_split_under_the_budget_in_order() {
        // 70 records of 100 000 bytes: 7 MB of data, 9.3 MB in base64.
        let records: Vec<InputRecord> = (0..70)
            .map(|n| record(n, &"abcdefghij".repeat(10_000)))
            .collect();
        let plan = plan_requests(&records, "arn:app", "arn:stream", REQUEST_BUDGET);
        assert!(plan.too_large.is_empty());
        assert_eq!(plan.requests.len(), 2);
        let mut ids = Vec::new();
        for r in &plan.requests {
            assert!(r.body.len() <= REQUEST_BUDGET, "{}", r.body.len());
            assert!(r.body.len() < LAMBDA_PAYLOAD_LIMIT);
            for rec in body_json(r)["records"].as_array().unwrap() {
                ids.push(rec["recordId"].as_str().unwrap().to_string());
            }
        }
        let expected: Vec<String> = records.iter().map(|r| r.sequence_number.clone()).collect();
        assert_eq!(ids, expected);
        // An entry is 133 336 bytes of base64 plus 193 of JSON (194 from key-10 on), the
        // envelope 118 + 2: 43 entries and their commas make 5 741 942 bytes, a 44th would make
        // 5 875 473, over 5 767 168; 27 are left.
        assert_eq!(entry_len(&records[0]), 133_529);
        assert_eq!(entry_len(&records[10]), 133_530);
        assert_eq!(envelope_head("arn:app", "arn:stream").len(), 118);
        assert_eq!(plan.requests[0].body.len(), 5_741_942);
        assert_eq!(plan.requests[0].indices.len(), 43);
        assert_eq!(plan.requests[1].indices.len(), 27);
        // Each request has its own invocation id.
        let a = body_json(&plan.requests[0])["invocationId"].clone();
        let b = body_json(&plan.requests[1])["invocationId"].clone();
        assert_ne!(a, b);
    }

    #[test]
    fn a_record_too_large_alone_is_not_sent() {
        let big = "z".repeat(4_400_000); // 5 866 668 bytes of base64: over 5.5 MB
        let records = vec![record(0, "a"), record(1, &big), record(2, "c")];
        let plan = plan_requests(&records, "a", "s", REQUEST_BUDGET);
        assert_eq!(plan.requests.len(), 1);
        assert_eq!(plan.requests[0].indices, [0, 2]);
        assert_eq!(plan.too_large.len(), 1);
        let (index, bytes) = plan.too_large[0];
        assert_eq!(index, 1);
        assert_eq!(
            bytes,
            envelope_head("a", "s").len() + entry_len(&records[1]) + 2
        );
        assert!(bytes > REQUEST_BUDGET);
    }

    #[test]
    fn a_sequence_number_given_twice_goes_to_another_request() {
        let mut records = vec![record(0, "a"), record(1, "b"), record(2, "c")];
        records[2].sequence_number = records[0].sequence_number.clone();
        let plan = plan_requests(&records, "a", "s", REQUEST_BUDGET);
        let groups: Vec<&[usize]> = plan.requests.iter().map(|r| r.indices.as_slice()).collect();
        assert_eq!(groups, [&[0, 1][..], &[2][..]]);
    }

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    #[test]
    fn responses_map_to_the_request_order() {
        let ids = ["1", "2", "3", "4"];
        let payload = json!({"records": [
            {"recordId": "3", "result": "Dropped"},
            {"recordId": "1", "result": "Ok", "data": b64("{\"A\":1}\n{\"A\":2}\n")},
            {"recordId": "4", "result": "Ok", "data": ""},
            {"recordId": "2", "result": "ProcessingFailed", "data": null},
        ]});
        let got = parse_response(payload.to_string().as_bytes(), &ids).unwrap();
        assert_eq!(
            got,
            [
                RecordResult::Ok(b"{\"A\":1}\n{\"A\":2}\n".to_vec()),
                RecordResult::ProcessingFailed(FailedBecause::Function),
                RecordResult::Dropped,
                RecordResult::Ok(Vec::new()),
            ]
        );
    }

    #[test]
    fn every_malformed_response_is_a_failed_invocation() {
        let ids = ["1", "2"];
        let ok = |id: &str| json!({"recordId": id, "result": "Ok", "data": b64("x")});
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "the response is not JSON"),
            (b"{\"records\": [".to_vec(), "the response is not JSON"),
            (b"null".to_vec(), "has no `records` list"),
            (b"[]".to_vec(), "has no `records` list"),
            (b"{\"Records\": []}".to_vec(), "has no `records` list"),
            (b"{\"records\": {}}".to_vec(), "has no `records` list"),
            (json!({"records": [ok("1")]}).to_string().into_bytes(), "leaves out 1 of the 2 records (the first: 2)"),
            (json!({"records": []}).to_string().into_bytes(), "leaves out 2 of the 2 records (the first: 1)"),
            (json!({"records": [ok("1"), ok("2"), ok("9")]}).to_string().into_bytes(), "response record 3 has recordId 9, which is not in the request"),
            (json!({"records": [ok("1"), ok("1")]}).to_string().into_bytes(), "record 1 is answered twice"),
            (json!({"records": [ok("1"), {"result": "Ok", "data": ""}]}).to_string().into_bytes(), "response record 2 has no `recordId`"),
            (json!({"records": [ok("1"), {"recordId": 2, "result": "Ok", "data": ""}]}).to_string().into_bytes(), "response record 2 has no `recordId`"),
            (json!({"records": ["1", ok("2")]}).to_string().into_bytes(), "response record 1 has no `recordId`"),
            (json!({"records": [ok("1"), {"recordId": "2", "data": b64("x")}]}).to_string().into_bytes(), "record 2 has no `result`"),
            (json!({"records": [ok("1"), {"recordId": "2", "result": "OK", "data": b64("x")}]}).to_string().into_bytes(), "record 2 has result \"OK\"; expected Ok, Dropped or ProcessingFailed"),
            (json!({"records": [ok("1"), {"recordId": "2", "result": "Ok"}]}).to_string().into_bytes(), "record 2 is Ok but has no `data`"),
            (json!({"records": [ok("1"), {"recordId": "2", "result": "Ok", "data": null}]}).to_string().into_bytes(), "record 2 is Ok but has no `data`"),
            (json!({"records": [ok("1"), {"recordId": "2", "result": "Ok", "data": 5}]}).to_string().into_bytes(), "record 2: `data` is not a base64 string"),
            (json!({"records": [ok("1"), {"recordId": "2", "result": "Ok", "data": "not base64!"}]}).to_string().into_bytes(), "record 2: `data` is not base64"),
        ];
        for (payload, expected) in cases {
            let err = parse_response(&payload, &ids).unwrap_err();
            assert!(
                err.contains(expected),
                "{}: {err:?} should say {expected:?}",
                String::from_utf8_lossy(&payload)
            );
        }
    }

    #[test]
    fn a_function_error_fails_the_invocation_with_its_type_and_message() {
        let answer = Answer {
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorMessage": "Task timed out after 2.00 seconds", "errorType": "Sandbox.Timedout"}"#.to_vec(),
        };
        assert_eq!(
            read_answer(&answer, &["1"]).unwrap_err(),
            "the function failed (Unhandled): Sandbox.Timedout: Task timed out after 2.00 seconds"
        );
        // Even when the payload looks like a good answer.
        let answer = Answer {
            function_error: Some("Handled".into()),
            payload: json!({"records": [{"recordId": "1", "result": "Ok", "data": ""}]})
                .to_string()
                .into_bytes(),
        };
        let err = read_answer(&answer, &["1"]).unwrap_err();
        assert!(
            err.starts_with("the function failed (Handled): {\"records\""),
            "{err}"
        );
        let answer = Answer {
            function_error: Some("Unhandled".into()),
            payload: Vec::new(),
        };
        assert_eq!(
            read_answer(&answer, &["1"]).unwrap_err(),
            "the function failed (Unhandled): (an empty payload)"
        );
    }

    /// A function that answers from a script: each call takes the next answer (the last repeats).
    struct Scripted {
        answers: Vec<Step>,
        bodies: Mutex<Vec<Vec<u8>>>,
        calls: AtomicUsize,
    }

    #[derive(Clone)]
    enum Step {
        /// Echo every record, upper-cased; "DROP" and "FAIL" records as such.
        Upper,
        /// Echo but leave the last record out.
        Omit,
        Raise,
        Service,
        Sleep(Duration),
    }

    impl Scripted {
        fn new(answers: Vec<Step>) -> Arc<Scripted> {
            Arc::new(Scripted {
                answers,
                bodies: Mutex::new(Vec::new()),
                calls: AtomicUsize::new(0),
            })
        }

        fn bodies(&self) -> Vec<Vec<u8>> {
            self.bodies.lock().unwrap().clone()
        }
    }

    fn upper(body: &[u8], omit_last: bool) -> Vec<u8> {
        let req: Value = serde_json::from_slice(body).unwrap();
        let mut out: Vec<Value> = req["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let data = BASE64.decode(r["data"].as_str().unwrap()).unwrap();
                let text = String::from_utf8(data).unwrap();
                let result = if text.contains("DROP") {
                    "Dropped"
                } else if text.contains("FAIL") {
                    "ProcessingFailed"
                } else {
                    "Ok"
                };
                json!({"recordId": r["recordId"], "result": result, "data": b64(&text.to_uppercase())})
            })
            .collect();
        if omit_last {
            out.pop();
        }
        json!({ "records": out }).to_string().into_bytes()
    }

    #[async_trait::async_trait]
    impl Invoke for Arc<Scripted> {
        async fn invoke(&self, body: Vec<u8>) -> std::result::Result<Answer, String> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            self.bodies.lock().unwrap().push(body.clone());
            let step = self.answers[n.min(self.answers.len() - 1)].clone();
            let ok = |payload| {
                Ok(Answer {
                    function_error: None,
                    payload,
                })
            };
            match step {
                Step::Upper => ok(upper(&body, false)),
                Step::Omit => ok(upper(&body, true)),
                Step::Raise => Ok(Answer {
                    function_error: Some("Unhandled".into()),
                    payload: br#"{"errorMessage": "injected", "errorType": "RuntimeError"}"#
                        .to_vec(),
                }),
                Step::Service => Err("the Invoke call failed: ServiceException: boom".into()),
                Step::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    ok(upper(&body, false))
                }
            }
        }
    }

    fn preprocessor(script: &Arc<Scripted>) -> Preprocessor {
        Preprocessor::with_invoker(
            "upper",
            "arn:app",
            "arn:stream",
            Box::new(Arc::clone(script)),
        )
        .with_backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn results_come_back_in_input_order_with_kdas_counts() {
        let script = Scripted::new(vec![Step::Upper]);
        let p = preprocessor(&script);
        let records = vec![
            record(0, "a"),
            record(1, "DROP b"),
            record(2, "FAIL c"),
            record(3, "dd"),
        ];
        let out = rt().block_on(p.process(records.clone()));
        let results: Vec<RecordResult> = out.records.iter().map(|r| r.result.clone()).collect();
        assert_eq!(
            results,
            [
                RecordResult::Ok(b"A".to_vec()),
                RecordResult::Dropped,
                RecordResult::ProcessingFailed(FailedBecause::Function),
                RecordResult::Ok(b"DD".to_vec()),
            ]
        );
        let inputs: Vec<InputRecord> = out.records.iter().map(|r| r.input.clone()).collect();
        assert_eq!(inputs, records);
        let s = &out.stats;
        assert_eq!(
            (
                s.invocations,
                s.successes,
                s.retries,
                s.ok_records,
                s.ok_bytes,
                s.dropped_records,
                s.processing_failed_records
            ),
            (1, 1, 0, 2, 3, 1, 1)
        );
        assert!(out.failures.is_empty() && s.last_error.is_none());
        assert!(s.max_duration <= s.duration);
        assert_eq!(p.stats(), out.stats);
    }

    #[test]
    fn a_failed_invocation_is_retried_with_the_same_body_until_it_succeeds() {
        let script = Scripted::new(vec![Step::Raise, Step::Omit, Step::Service, Step::Upper]);
        let p = preprocessor(&script);
        let records = vec![record(0, "a"), record(1, "b"), record(2, "c")];
        let out = rt().block_on(p.process(records));
        let results: Vec<RecordResult> = out.records.iter().map(|r| r.result.clone()).collect();
        assert_eq!(
            results,
            [b"A", b"B", b"C"].map(|d| RecordResult::Ok(d.to_vec()))
        );
        let bodies = script.bodies();
        assert_eq!(bodies.len(), 4);
        assert!(
            bodies.iter().all(|b| *b == bodies[0]),
            "a retry resends the same request"
        );
        let s = &out.stats;
        assert_eq!(
            (s.invocations, s.successes, s.retries, s.ok_records),
            (4, 1, 3, 3)
        );
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(out.failures.len(), 3);
        let why = [
            "the function failed (Unhandled): RuntimeError: injected",
            "the response leaves out 1 of the 3 records (the first: 49590002)",
            "ServiceException: boom",
        ];
        for (i, (failure, why)) in out.failures.iter().zip(why).enumerate() {
            assert!(failure.contains(why), "{failure}");
            assert!(
                failure.contains("Lambda function upper: request 1 of 1 (3 records"),
                "{failure}"
            );
            assert!(
                failure.contains(&format!("(attempt {})", i + 2)),
                "{failure}"
            );
        }
        assert_eq!(s.last_error.as_deref(), Some(out.failures[2].as_str()));
        assert_eq!(p.stats().retries, 3);
    }

    #[test]
    fn a_call_past_the_timeout_is_retried() {
        let script = Scripted::new(vec![Step::Sleep(Duration::from_secs(5)), Step::Upper]);
        let p = preprocessor(&script).with_call_timeout(Duration::from_millis(50));
        let started = Instant::now();
        let out = rt().block_on(p.process(vec![record(0, "a")]));
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(out.records[0].result, RecordResult::Ok(b"A".to_vec()));
        assert_eq!(out.stats.retries, 1);
        assert!(
            out.failures[0].contains("no answer within 0.1 s (the call timeout)"),
            "{}",
            out.failures[0]
        );
    }

    #[test]
    fn a_stalled_batch_shows_in_the_running_stats() {
        let script = Scripted::new(vec![Step::Service; 1000]);
        let p = Arc::new(preprocessor(&script));
        let runtime = rt();
        let watched = Arc::clone(&p);
        let seen = runtime.block_on(async move {
            let work = p.process(vec![record(0, "a")]);
            let watch = async {
                loop {
                    let s = watched.stats();
                    if s.consecutive_failures >= 3 {
                        return s;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            tokio::select! {
                _ = work => panic!("the batch cannot succeed"),
                s = watch => s,
            }
        });
        assert!(seen.retries >= 3 && seen.successes == 0);
        assert!(seen.last_error.unwrap().contains("ServiceException: boom"));
    }

    #[test]
    fn split_batches_are_sent_one_after_the_other_and_joined_in_order() {
        let script = Scripted::new(vec![Step::Upper]);
        let mut p = preprocessor(&script);
        let records: Vec<InputRecord> = (0..10).map(|n| record(n, &format!("r{n}"))).collect();
        let head = envelope_head("arn:app", "arn:stream").len();
        p.budget = head + 3 * entry_len(&records[0]) + 2 + 2;
        let out = rt().block_on(p.process(records));
        assert_eq!(script.bodies().len(), 4);
        let results: Vec<RecordResult> = out.records.iter().map(|r| r.result.clone()).collect();
        let expected: Vec<RecordResult> = (0..10)
            .map(|n| RecordResult::Ok(format!("R{n}").into_bytes()))
            .collect();
        assert_eq!(results, expected);
        assert_eq!((out.stats.invocations, out.stats.successes), (4, 4));
    }

    #[test]
    fn processing_failed_records_become_error_rows_naming_the_function() {
        let script = Scripted::new(vec![Step::Upper]);
        let p = preprocessor(&script);
        let big = "z".repeat(4_400_000);
        let out =
            rt().block_on(p.process(vec![record(0, "FAIL x"), record(1, "ok"), record(2, &big)]));
        assert_eq!(script.bodies().len(), 1, "the large record is never sent");
        let rows = p.error_rows(&out);
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.name == PROCESSING_FAILED && r.pump.is_none())
        );
        assert_eq!(rows[0].data_row, b"FAIL x");
        assert_eq!(
            rows[0].message,
            "input preprocessing: Lambda function upper answered ProcessingFailed for record 49590000 (shard shardId-000000000001, partition key \"key-0\")"
        );
        assert_eq!(rows[1].data_row, big.as_bytes());
        assert!(rows[1].message.contains("record 49590002 (shard shardId-000000000001, partition key \"key-2\") was not sent to Lambda function upper: its 4400000 bytes make a"), "{}", rows[1].message);
        assert!(
            rows[1].message.contains("over the 5767168-byte limit"),
            "{}",
            rows[1].message
        );
        assert_eq!(out.stats.processing_failed_records, 2);
        assert_eq!(out.stats.ok_records, 1);
    }

    #[test]
    fn an_empty_function_name_is_rejected() {
        let config = SdkConfig::builder().build();
        let err = Preprocessor::new(&config, " ", "arn:app", "arn:stream")
            .err()
            .expect("rejected");
        assert!(
            err.to_string().contains("the Lambda function is empty"),
            "{err}"
        );
    }
}
