//! A Firehose delivery stream as a destination (KDA's `KinesisFirehoseOutput`): PutRecordBatch
//! with at most 500 records and 4 MB of data per request, at most 1,000 KiB per record. The
//! records are KDA's bytes as they are (JSON objects without a delimiter, so Firehose writes
//! `{…}{…}` into S3, as it did behind KDA). Entries that fail (`FailedPutCount`, per-entry
//! `ErrorCode`) are sent again, and only they.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_firehose::Client;
use aws_smithy_types::Blob;
use tokio::runtime::Handle;

use super::{
    CallFailure, Destination, LINGER, Limits, Outbox, Record, StatsHandle, call_failure,
    client_settings, sink_through_outbox,
};
use crate::connectors::records::{RecordEncoder, RecordFormat};
use crate::connectors::retry::RetryLimit;
use crate::connectors::sink::Columns;
use crate::error::{Error, Result};

/// Most records in one PutRecordBatch request.
pub const MAX_RECORDS: usize = 500;
/// Most bytes of data in one PutRecordBatch request (4 MB, the smaller reading of Firehose's
/// quota).
pub const MAX_REQUEST_BYTES: usize = 4_000_000;
/// Most bytes in one record (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;

/// What [`KinesisFirehoseOutput::new`] needs.
#[derive(Debug, Clone)]
pub struct FirehoseOutputOptions {
    /// The delivery stream's name.
    pub delivery_stream: String,
    /// The stream's columns written into each record.
    pub columns: Columns,
    pub format: RecordFormat,
    /// `RetryLimit(None)`: retry until delivered (KDA).
    pub retry_limit: RetryLimit,
    /// Longest wait for one PutRecordBatch answer before it counts as failed.
    pub call_timeout: Duration,
    /// A multi-thread tokio runtime's handle (the sink calls `block_on` from its writer thread).
    pub handle: Handle,
    pub sdk_config: SdkConfig,
}

impl FirehoseOutputOptions {
    /// Options with the defaults: retry forever, 30 s per call.
    pub fn new(
        delivery_stream: impl Into<String>,
        columns: Columns,
        format: RecordFormat,
        handle: Handle,
        sdk_config: SdkConfig,
    ) -> FirehoseOutputOptions {
        FirehoseOutputOptions {
            delivery_stream: delivery_stream.into(),
            columns,
            format,
            retry_limit: RetryLimit::default(),
            call_timeout: Duration::from_secs(30),
            handle,
            sdk_config,
        }
    }
}

/// A stream's rows written to a Firehose delivery stream, a record per row.
pub struct KinesisFirehoseOutput {
    outbox: Outbox<PutRecordBatch>,
}

impl KinesisFirehoseOutput {
    pub fn new(options: FirehoseOutputOptions) -> Result<KinesisFirehoseOutput> {
        let stream = options.delivery_stream.trim().to_string();
        if stream.is_empty() || stream.contains('/') {
            return Err(Error::Application(format!(
                "Firehose output: `{stream}` is not a delivery stream name; name the delivery stream (PutRecordBatch takes a name, not an ARN)"
            )));
        }
        let (retry, timeout) = client_settings(&options.sdk_config, options.call_timeout);
        let config = aws_sdk_firehose::config::Builder::from(&options.sdk_config)
            .retry_config(retry)
            .timeout_config(timeout)
            .build();
        let dest = PutRecordBatch {
            client: Client::from_conf(config),
            name: format!("firehose://{stream}"),
            stream,
        };
        Ok(KinesisFirehoseOutput {
            outbox: Outbox::new(
                dest,
                RecordEncoder::new(options.columns, options.format),
                options.handle,
                options.retry_limit,
                LINGER,
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

sink_through_outbox!(KinesisFirehoseOutput);

struct PutRecordBatch {
    client: Client,
    stream: String,
    name: String,
}

impl Destination for PutRecordBatch {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Limits {
        Limits {
            records: MAX_RECORDS,
            bytes: MAX_REQUEST_BYTES,
        }
    }

    fn record_bytes(&self, record: &Record) -> usize {
        record.data.len()
    }

    fn refuse(&self, data: &[u8]) -> Option<String> {
        (data.len() > MAX_RECORD_BYTES).then(|| {
            format!(
                "the record is {} bytes; Firehose takes at most {MAX_RECORD_BYTES} bytes (1,000 KiB) per record: make the row smaller (fewer or shorter columns)",
                data.len()
            )
        })
    }

    async fn send(&mut self, records: &[Record]) -> Result<Vec<Option<String>>, CallFailure> {
        let entries = records
            .iter()
            .map(|r| {
                aws_sdk_firehose::types::Record::builder()
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .map_err(|e| {
                        CallFailure::Fatal(format!("{}: a PutRecordBatch entry: {e}", self.name))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| call_failure(&self.name, "PutRecordBatch", &e))?;
        let results = out.request_responses();
        if out.failed_put_count() > 0
            && !results
                .iter()
                .any(|r| r.error_code().is_some_and(|c| !c.is_empty()))
        {
            // The count says some failed but no entry says which: all of them may have.
            return Err(CallFailure::Retry(format!(
                "PutRecordBatch answered FailedPutCount {} without saying which records failed",
                out.failed_put_count()
            )));
        }
        Ok((0..records.len())
            .map(|i| match results.get(i) {
                None => Some("PutRecordBatch answered no result for this record".to_string()),
                Some(r) => r.error_code().filter(|c| !c.is_empty()).map(|code| {
                    format!(
                        "PutRecordBatch: {code}: {}",
                        r.error_message().unwrap_or_default()
                    )
                }),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{offline_config, requests, runtime};
    use super::*;

    fn dest() -> PutRecordBatch {
        PutRecordBatch {
            client: Client::new(&offline_config()),
            stream: "D".into(),
            name: "firehose://D".into(),
        }
    }

    #[test]
    fn a_request_holds_at_most_500_records_and_4_mb() {
        assert_eq!(requests(&dest(), &[100; 600]), [500, 100]);
        assert_eq!(requests(&dest(), &[900_000; 6]), [4, 2]);
        assert_eq!(requests(&dest(), &[1_000_000; 9]), [4, 4, 1]);
        assert_eq!(requests(&dest(), &[MAX_RECORD_BYTES; 5]), [3, 2]);
    }

    #[test]
    fn a_record_over_1000_kib_is_refused_with_its_size() {
        assert_eq!(dest().refuse(&vec![0; 1_024_000]), None);
        let why = dest().refuse(&vec![0; 1_024_001]).unwrap();
        assert_eq!(
            why,
            "the record is 1024001 bytes; Firehose takes at most 1024000 bytes (1,000 KiB) per record: make the row smaller (fewer or shorter columns)"
        );
    }

    #[test]
    fn a_delivery_stream_is_named_not_given_as_an_arn_or_empty() {
        let rt = runtime();
        for name in [
            "",
            "arn:aws:firehose:us-east-1:000000000000:deliverystream/D",
        ] {
            let columns = Columns {
                indices: vec![0],
                names: vec!["A".into()],
            };
            let options = FirehoseOutputOptions::new(
                name,
                columns,
                RecordFormat::Json,
                rt.handle().clone(),
                offline_config(),
            );
            let e = KinesisFirehoseOutput::new(options)
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "Firehose output: `{name}` is not a delivery stream name"
                )),
                "{e}"
            );
        }
    }
}
