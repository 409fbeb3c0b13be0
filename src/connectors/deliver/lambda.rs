//! A Lambda function as a destination (KDA's `LambdaOutput`), with KDA's contract.
//!
//! Request (synchronous Invoke), a record per row, its bytes in base64:
//!
//! ```json
//! {"invocationId": "<uuid>", "applicationArn": "arn:aws:kinesisanalytics:REGION:ACCOUNT:application/NAME",
//!  "records": [{"recordId": "<uuid>", "lambdaDeliveryRecordMetadata": {"retryHint": 0}, "data": "<base64>"}]}
//! ```
//!
//! Response: `{"records": [{"recordId": "...", "result": "Ok" | "DeliveryFailed"}]}`, a result
//! for every record sent.
//!
//! - A record answered `DeliveryFailed`, left out of the answer, or answered without a known
//!   `result` is sent again, and only it, with the same `recordId` and `retryHint` one higher
//!   (`retryHint` = the record's failed attempts, 0 on the first). Answers for record ids that
//!   were not sent are ignored.
//! - A function error (`FunctionError` `Unhandled` or `Handled`, a function timeout among them),
//!   an answer that is not that JSON, a timeout or a service error fail the whole invocation:
//!   every record is sent again, a new `invocationId`, `retryHint` one higher.
//! - KDA invoked the function once per emission when the stream was fed by a windowed
//!   aggregate, else about once a second: `per_batch` delivers each `write` at once, otherwise
//!   records wait up to a second (delivered at `idle`, or at the next `write` after it).
//! - A synchronous invocation takes at most 6 MB: a batch whose request (the JSON, data in
//!   base64) would be larger is split over several invocations of at most
//!   [`MAX_REQUEST_BYTES`] each. A record that alone would not fit is given up at once.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_lambda::Client;
use aws_smithy_types::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tokio::runtime::Handle;

use super::{
    CallFailure, Destination, LINGER, Limits, Outbox, Record, StatsHandle, call_failure,
    client_settings, sink_through_outbox,
};
use crate::connectors::records::{RecordEncoder, RecordFormat};
use crate::connectors::retry::RetryLimit;
use crate::connectors::sink::Columns;
use crate::error::{Error, Result};

/// Lambda's limit on a synchronous invocation's request: 6 MB.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Most bytes in one request rowtime sends: a margin under [`LAMBDA_PAYLOAD_LIMIT`].
pub const MAX_REQUEST_BYTES: usize = 5_500_000;

/// KDA's application ARN, for `applicationArn` when the application has no ARN of its own.
pub fn application_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesisanalytics:{region}:{account}:application/{name}")
}

/// What [`LambdaOutput::new`] needs.
#[derive(Debug, Clone)]
pub struct LambdaOutputOptions {
    /// The function: name, `name:qualifier`, or ARN, as Invoke takes it.
    pub function: String,
    /// `applicationArn` in every request: the application's ARN, or [`application_arn`].
    pub application_arn: String,
    /// The stream's columns written into each record.
    pub columns: Columns,
    pub format: RecordFormat,
    /// Each `write` is one emission (the stream is fed by a windowed aggregate): invoke at once.
    /// Otherwise records are gathered for about a second.
    pub per_batch: bool,
    /// `RetryLimit(None)`: retry until delivered (KDA).
    pub retry_limit: RetryLimit,
    /// Longest wait for one invocation's answer before it counts as failed (the function's own
    /// timeout, at most 15 minutes, normally answers first).
    pub call_timeout: Duration,
    /// A multi-thread tokio runtime's handle (the sink calls `block_on` from its writer thread).
    pub handle: Handle,
    pub sdk_config: SdkConfig,
}

impl LambdaOutputOptions {
    /// Options with the defaults: gathered for a second, retry forever, 15 min 10 s per call.
    pub fn new(
        function: impl Into<String>,
        application_arn: impl Into<String>,
        columns: Columns,
        format: RecordFormat,
        handle: Handle,
        sdk_config: SdkConfig,
    ) -> LambdaOutputOptions {
        LambdaOutputOptions {
            function: function.into(),
            application_arn: application_arn.into(),
            columns,
            format,
            per_batch: false,
            retry_limit: RetryLimit::default(),
            call_timeout: Duration::from_secs(15 * 60 + 10),
            handle,
            sdk_config,
        }
    }
}

/// A stream's rows delivered to a Lambda function, as KDA delivered them.
pub struct LambdaOutput {
    outbox: Outbox<Invoke>,
}

impl LambdaOutput {
    pub fn new(options: LambdaOutputOptions) -> Result<LambdaOutput> {
        let function = options.function.trim().to_string();
        if function.is_empty() {
            return Err(Error::Application(
                "Lambda output: the function name is empty; name the destination function".into(),
            ));
        }
        let arn = options.application_arn.trim().to_string();
        if !arn.starts_with("arn:") {
            return Err(Error::Application(format!(
                "Lambda output to {function}: `{arn}` is not an application ARN; give the application's ARN (arn:aws:kinesisanalytics:REGION:ACCOUNT:application/NAME)"
            )));
        }
        let (retry, timeout) = client_settings(&options.sdk_config, options.call_timeout);
        let config = aws_sdk_lambda::config::Builder::from(&options.sdk_config)
            .retry_config(retry)
            .timeout_config(timeout)
            .build();
        let dest = Invoke {
            client: Client::from_conf(config),
            name: format!("lambda://{function}"),
            function,
            arn_json: serde_json::to_string(&arn).expect("a string serialises"),
        };
        let linger = if options.per_batch {
            Duration::ZERO
        } else {
            LINGER
        };
        Ok(LambdaOutput {
            outbox: Outbox::new(
                dest,
                RecordEncoder::new(options.columns, options.format),
                options.handle,
                options.retry_limit,
                linger,
            ),
        })
    }

    /// What has been delivered so far (live: the handle keeps counting).
    pub fn stats(&self) -> StatsHandle {
        self.outbox.stats()
    }

    /// Records written but not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.outbox.pending()
    }
}

sink_through_outbox!(LambdaOutput);

struct Invoke {
    client: Client,
    function: String,
    name: String,
    /// The application ARN as a JSON string.
    arn_json: String,
}

/// A request's JSON around its records.
const ENVELOPE: [&str; 3] = [
    r#"{"invocationId":""#,
    r#"","applicationArn":"#,
    r#","records":["#,
];
const ENVELOPE_END: &str = "]}";
/// A record's JSON around its id, retry hint and data.
const ENTRY: [&str; 4] = [
    r#"{"recordId":""#,
    r#"","lambdaDeliveryRecordMetadata":{"retryHint":"#,
    r#"},"data":""#,
    r#""}"#,
];
const UUID_BYTES: usize = 36;

/// The bytes of a request's JSON without records, for an ARN of `arn_json_bytes` (quoted).
fn envelope_bytes(arn_json_bytes: usize) -> usize {
    ENVELOPE.iter().map(|s| s.len()).sum::<usize>()
        + UUID_BYTES
        + arn_json_bytes
        + ENVELOPE_END.len()
}

/// The bytes a record adds to a request: its JSON object and a comma.
fn entry_bytes(data_bytes: usize, retry_hint: u32) -> usize {
    ENTRY.iter().map(|s| s.len()).sum::<usize>()
        + UUID_BYTES
        + decimal_digits(retry_hint)
        + data_bytes.div_ceil(3) * 4
        + 1
}

fn decimal_digits(n: u32) -> usize {
    n.checked_ilog10().unwrap_or(0) as usize + 1
}

/// The request JSON for `records`.
fn request_json(invocation_id: &str, arn_json: &str, records: &[Record]) -> String {
    let size = envelope_bytes(arn_json.len())
        + records
            .iter()
            .map(|r| entry_bytes(r.data.len(), r.failures))
            .sum::<usize>();
    let mut out = String::with_capacity(size);
    out.push_str(ENVELOPE[0]);
    out.push_str(invocation_id);
    out.push_str(ENVELOPE[1]);
    out.push_str(arn_json);
    out.push_str(ENVELOPE[2]);
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(ENTRY[0]);
        out.push_str(&r.id);
        out.push_str(ENTRY[1]);
        out.push_str(&r.failures.to_string());
        out.push_str(ENTRY[2]);
        STANDARD.encode_string(&r.data, &mut out);
        out.push_str(ENTRY[3]);
    }
    out.push_str(ENVELOPE_END);
    out
}

/// The function's answer for each record sent (`None` = Ok, else why it failed), or why the
/// answer as a whole is not KDA's.
fn parse_response(payload: &[u8], ids: &[&str]) -> Result<Vec<Option<String>>, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        format!(
            "the function's answer is not JSON ({e}): {}",
            preview(payload)
        )
    })?;
    let Some(answers) = value.get("records").and_then(Value::as_array) else {
        return Err(format!(
            "the function's answer has no \"records\" array (KDA's contract: {{\"records\": [{{\"recordId\", \"result\"}}]}}): {}",
            preview(payload)
        ));
    };
    let mut results: Vec<Option<Option<String>>> = vec![None; ids.len()];
    for answer in answers {
        let Some(id) = answer.get("recordId").and_then(Value::as_str) else {
            continue;
        };
        let Some(i) = ids.iter().position(|x| *x == id) else {
            continue;
        };
        let outcome = match answer.get("result") {
            Some(Value::String(r)) if r == "Ok" => None,
            Some(Value::String(r)) if r == "DeliveryFailed" => {
                Some("the function answered DeliveryFailed".to_string())
            }
            Some(other) => Some(format!(
                "the function answered result {other} for this record; KDA's results are \"Ok\" and \"DeliveryFailed\""
            )),
            None => Some("the function answered this record without a \"result\"".to_string()),
        };
        // Answered twice: a failure in either answer wins (sending again loses nothing).
        results[i] = match (results[i].take(), outcome) {
            (Some(Some(first)), _) => Some(Some(first)),
            (_, outcome) => Some(outcome),
        };
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Some("the function's answer has no result for this recordId".to_string())
            })
        })
        .collect())
}

/// The start of an answer, for messages.
fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

impl Destination for Invoke {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Limits {
        Limits {
            records: usize::MAX,
            bytes: MAX_REQUEST_BYTES,
        }
    }

    fn request_bytes(&self) -> usize {
        envelope_bytes(self.arn_json.len())
    }

    fn record_bytes(&self, record: &Record) -> usize {
        entry_bytes(record.data.len(), record.failures)
    }

    fn refuse(&self, data: &[u8]) -> Option<String> {
        let alone = self.request_bytes() + entry_bytes(data.len(), 0);
        (alone > MAX_REQUEST_BYTES).then(|| {
            format!(
                "the record is {} bytes, a {alone}-byte request with base64 and KDA's JSON; a synchronous Lambda invocation takes at most {LAMBDA_PAYLOAD_LIMIT} bytes (rowtime sends at most {MAX_REQUEST_BYTES}): make the row smaller (fewer or shorter columns)",
                data.len()
            )
        })
    }

    async fn send(&mut self, records: &[Record]) -> Result<Vec<Option<String>>, CallFailure> {
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let body = request_json(&invocation_id, &self.arn_json, records);
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|e| call_failure(&self.name, "Invoke", &e))?;
        let payload = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            let detail = serde_json::from_slice::<Value>(payload)
                .ok()
                .and_then(|v| {
                    let message = v.get("errorMessage")?.as_str()?.to_string();
                    Some(match v.get("errorType").and_then(Value::as_str) {
                        Some(t) => format!("{t}: {message}"),
                        None => message,
                    })
                })
                .unwrap_or_else(|| preview(payload));
            return Err(CallFailure::Retry(format!(
                "the function failed ({kind}): {detail}"
            )));
        }
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        parse_response(payload, &ids).map_err(CallFailure::Retry)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{offline_config, requests, runtime};
    use super::*;

    fn record(data: &[u8], failures: u32) -> Record {
        let mut r = Record::new(data.to_vec(), Some(1));
        r.failures = failures;
        r
    }

    #[test]
    fn the_request_is_kdas_json_and_its_size_is_counted_exactly() {
        let records = vec![record(b"{\"A\":1}", 0), record(b"xy", 12), record(b"", 0)];
        let arn_json = serde_json::to_string(
            "arn:aws:kinesisanalytics:us-east-1:000000000000:application/APP",
        )
        .unwrap();
        let id = "00000000-0000-4000-8000-000000000000";
        let text = request_json(id, &arn_json, &records);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["invocationId"], id);
        assert_eq!(
            v["applicationArn"],
            "arn:aws:kinesisanalytics:us-east-1:000000000000:application/APP"
        );
        let sent = v["records"].as_array().unwrap();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0]["recordId"], records[0].id.as_str());
        assert_eq!(sent[0]["lambdaDeliveryRecordMetadata"]["retryHint"], 0);
        assert_eq!(sent[0]["data"], "eyJBIjoxfQ==");
        assert_eq!(sent[1]["lambdaDeliveryRecordMetadata"]["retryHint"], 12);
        assert_eq!(sent[1]["data"], "eHk=");
        assert_eq!(sent[2]["data"], "");
        assert_eq!(sent[0].as_object().unwrap().len(), 3);
        assert_eq!(v.as_object().unwrap().len(), 3);
        // The size the packer counts: the envelope plus each entry and a comma (one too many).
        let counted = envelope_bytes(arn_json.len())
            + records
                .iter()
                .map(|r| entry_bytes(r.data.len(), r.failures))
                .sum::<usize>();
        assert_eq!(counted, text.len() + 1);
    }

    #[test]
    fn retry_hints_of_any_width_are_counted() {
        for (n, digits) in [(0, 1), (9, 1), (10, 2), (99, 2), (100, 3), (u32::MAX, 10)] {
            assert_eq!(decimal_digits(n), digits, "{n}");
        }
    }

    fn ids() -> Vec<&'static str> {
        vec!["a", "b", "c"]
    }

    #[test]
    fn every_record_answered_ok_is_delivered() {
        let answer = br#"{"records":[{"recordId":"c","result":"Ok"},{"recordId":"a","result":"Ok"},{"recordId":"b","result":"Ok"}]}"#;
        assert_eq!(parse_response(answer, &ids()).unwrap(), [None, None, None]);
    }

    #[test]
    fn delivery_failed_fails_only_that_record() {
        let answer = br#"{"records":[{"recordId":"a","result":"Ok"},{"recordId":"b","result":"DeliveryFailed"},{"recordId":"c","result":"Ok"}]}"#;
        let r = parse_response(answer, &ids()).unwrap();
        assert_eq!(r[0], None);
        assert_eq!(
            r[1].as_deref(),
            Some("the function answered DeliveryFailed")
        );
        assert_eq!(r[2], None);
    }

    #[test]
    fn a_missing_or_unknown_record_id_fails_the_records_not_answered() {
        // "c" left out; "zz" was never sent; one answer has no recordId at all.
        let answer = br#"{"records":[{"recordId":"a","result":"Ok"},{"recordId":"zz","result":"Ok"},{"result":"Ok"},{"recordId":"b","result":"Ok"}]}"#;
        let r = parse_response(answer, &ids()).unwrap();
        assert_eq!(r[..2], [None, None]);
        assert_eq!(
            r[2].as_deref(),
            Some("the function's answer has no result for this recordId")
        );
    }

    #[test]
    fn a_missing_or_unknown_result_fails_that_record() {
        let answer = br#"{"records":[{"recordId":"a"},{"recordId":"b","result":"Dropped"},{"recordId":"c","result":null}]}"#;
        let r = parse_response(answer, &ids()).unwrap();
        assert_eq!(
            r[0].as_deref(),
            Some("the function answered this record without a \"result\"")
        );
        assert!(r[1].as_deref().unwrap().contains("\"Dropped\""), "{r:?}");
        assert!(r[2].as_deref().unwrap().contains("null"), "{r:?}");
    }

    #[test]
    fn a_record_answered_twice_fails_if_either_answer_failed() {
        let answer = br#"{"records":[{"recordId":"a","result":"DeliveryFailed"},{"recordId":"a","result":"Ok"},{"recordId":"b","result":"Ok"},{"recordId":"c","result":"Ok"}]}"#;
        let r = parse_response(answer, &ids()).unwrap();
        assert!(r[0].is_some());
        assert_eq!(r[1..], [None, None]);
    }

    #[test]
    fn an_answer_that_is_not_kdas_json_fails_the_whole_invocation() {
        let e = parse_response(b"garbage <html>", &ids()).unwrap_err();
        assert!(e.starts_with("the function's answer is not JSON"), "{e}");
        assert!(e.ends_with("garbage <html>"), "{e}");
        for answer in [
            &b"null"[..],
            b"{}",
            b"[1,2]",
            br#"{"records":{"a":"Ok"}}"#,
            b"",
        ] {
            let e = parse_response(answer, &ids()).unwrap_err();
            assert!(e.starts_with("the function's answer"), "{e}");
        }
        let long = vec![b'x'; 1000];
        let e = parse_response(&long, &ids()).unwrap_err();
        assert!(e.ends_with('…') && e.len() < 400, "{e}");
    }

    fn dest() -> Invoke {
        Invoke {
            client: Client::new(&offline_config()),
            function: "f".into(),
            name: "lambda://f".into(),
            arn_json: serde_json::to_string(&application_arn("us-east-1", "000000000000", "APP"))
                .unwrap(),
        }
    }

    #[test]
    fn a_batch_over_6_mb_is_split_into_invocations_of_at_most_5_5_mb() {
        // 7 records of 1,000,000 bytes: 1,333,336 each in base64, 9.3 MB together.
        let split = requests(&dest(), &[1_000_000; 7]);
        assert_eq!(split, [4, 3]);
        // The requests themselves, as sent.
        let mut start = 0;
        for n in split {
            let group: Vec<Record> = (0..n).map(|_| record(&[b'x'; 1_000_000], 0)).collect();
            let body = request_json(
                "00000000-0000-4000-8000-000000000000",
                &dest().arn_json,
                &group,
            );
            assert!(body.len() <= MAX_REQUEST_BYTES, "{}", body.len());
            assert!(body.len() > 4 * 1_000_000, "{}", body.len());
            start += n;
        }
        assert_eq!(start, 7);
        // No count limit: 20,000 small records are one invocation.
        assert_eq!(requests(&dest(), &[10; 20_000]), [20_000]);
        // A batch just under the limit is one invocation.
        assert_eq!(requests(&dest(), &[100_000; 41]), [41]);
        assert_eq!(requests(&dest(), &[100_000; 42]), [41, 1]);
    }

    #[test]
    fn a_record_that_alone_would_not_fit_in_an_invocation_is_refused() {
        let d = dest();
        let room = MAX_REQUEST_BYTES - d.request_bytes() - entry_bytes(0, 0);
        // Base64 turns 3 bytes into 4.
        let largest = room / 4 * 3;
        assert_eq!(d.refuse(&vec![0; largest]), None);
        let why = d.refuse(&vec![0; largest + 1]).unwrap();
        assert!(
            why.starts_with(&format!("the record is {} bytes, a ", largest + 1))
                && why.contains("a synchronous Lambda invocation takes at most 6291456 bytes"),
            "{why}"
        );
    }

    #[test]
    fn options_name_a_function_and_an_application_arn() {
        let rt = runtime();
        let columns = Columns {
            indices: vec![0],
            names: vec!["A".into()],
        };
        let options = |function: &str, arn: &str| {
            LambdaOutputOptions::new(
                function,
                arn,
                columns.clone(),
                RecordFormat::Json,
                rt.handle().clone(),
                offline_config(),
            )
        };
        let e = LambdaOutput::new(options("", "arn:x"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "Lambda output: the function name is empty; name the destination function"
        );
        let e = LambdaOutput::new(options("f", "APP"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("Lambda output to f: `APP` is not an application ARN"),
            "{e}"
        );
        assert!(
            LambdaOutput::new(options(
                "f",
                "arn:aws:kinesisanalytics:us-east-1:000000000000:application/APP"
            ))
            .is_ok()
        );
    }

    #[test]
    fn kdas_application_arn() {
        assert_eq!(
            application_arn("eu-west-1", "123456789012", "tolls"),
            "arn:aws:kinesisanalytics:eu-west-1:123456789012:application/tolls"
        );
    }
}
