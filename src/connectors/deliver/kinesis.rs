//! A Kinesis data stream as a destination (KDA's `KinesisStreamsOutput`): PutRecords with at most
//! 500 records and 5 MiB per request (data and partition keys), at most 1 MiB per record, a
//! random UUID partition key per record (KDA did not document its partitioning; spreading
//! records evenly over the shards is what a random key does). Entries that fail (per-entry
//! `ErrorCode`) are sent again, and only they.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
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

/// Most records in one PutRecords request.
pub const MAX_RECORDS: usize = 500;
/// Most bytes in one PutRecords request, data and partition keys.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes in one record, data and partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The partition key's length: a hyphenated UUID.
const KEY_BYTES: usize = 36;

/// What [`KinesisStreamsOutput::new`] needs.
#[derive(Debug, Clone)]
pub struct KinesisOutputOptions {
    /// The stream's name, or its ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
    pub stream: String,
    /// The stream's columns written into each record.
    pub columns: Columns,
    pub format: RecordFormat,
    /// `RetryLimit(None)`: retry until delivered (KDA).
    pub retry_limit: RetryLimit,
    /// Longest wait for one PutRecords answer before it counts as failed.
    pub call_timeout: Duration,
    /// A multi-thread tokio runtime's handle (the sink calls `block_on` from its writer thread).
    pub handle: Handle,
    pub sdk_config: SdkConfig,
}

impl KinesisOutputOptions {
    /// Options with the defaults: retry forever, 30 s per call.
    pub fn new(
        stream: impl Into<String>,
        columns: Columns,
        format: RecordFormat,
        handle: Handle,
        sdk_config: SdkConfig,
    ) -> KinesisOutputOptions {
        KinesisOutputOptions {
            stream: stream.into(),
            columns,
            format,
            retry_limit: RetryLimit::default(),
            call_timeout: Duration::from_secs(30),
            handle,
            sdk_config,
        }
    }
}

/// A stream's rows written to a Kinesis data stream, a record per row.
pub struct KinesisStreamsOutput {
    outbox: Outbox<PutRecords>,
}

impl KinesisStreamsOutput {
    pub fn new(options: KinesisOutputOptions) -> Result<KinesisStreamsOutput> {
        let stream = options.stream.trim().to_string();
        if stream.is_empty() {
            return Err(Error::Application(
                "Kinesis output: the stream name is empty; name the destination stream".into(),
            ));
        }
        let (retry, timeout) = client_settings(&options.sdk_config, options.call_timeout);
        let config = aws_sdk_kinesis::config::Builder::from(&options.sdk_config)
            .retry_config(retry)
            .timeout_config(timeout)
            .build();
        let name = if stream.starts_with("arn:") {
            stream.clone()
        } else {
            format!("kinesis://{stream}")
        };
        let dest = PutRecords {
            client: Client::from_conf(config),
            stream,
            name,
        };
        Ok(KinesisStreamsOutput {
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

sink_through_outbox!(KinesisStreamsOutput);

struct PutRecords {
    client: Client,
    /// Name or ARN.
    stream: String,
    name: String,
}

impl Destination for PutRecords {
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
        record.data.len() + record.id.len()
    }

    fn refuse(&self, data: &[u8]) -> Option<String> {
        (data.len() + KEY_BYTES > MAX_RECORD_BYTES).then(|| {
            format!(
                "the record is {} bytes; Kinesis takes at most {MAX_RECORD_BYTES} bytes (1 MiB) per record, its {KEY_BYTES}-byte partition key included: make the row smaller (fewer or shorter columns)",
                data.len()
            )
        })
    }

    async fn send(&mut self, records: &[Record]) -> Result<Vec<Option<String>>, CallFailure> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.clone()))
                    .partition_key(&r.id)
                    .build()
                    .map_err(|e| {
                        CallFailure::Fatal(format!("{}: a PutRecords entry: {e}", self.name))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = self.client.put_records().set_records(Some(entries));
        let request = if self.stream.starts_with("arn:") {
            request.stream_arn(&self.stream)
        } else {
            request.stream_name(&self.stream)
        };
        let out = request
            .send()
            .await
            .map_err(|e| call_failure(&self.name, "PutRecords", &e))?;
        let results = out.records();
        Ok((0..records.len())
            .map(|i| match results.get(i) {
                None => Some("PutRecords answered no result for this record".to_string()),
                Some(r) => r.error_code().filter(|c| !c.is_empty()).map(|code| {
                    format!(
                        "PutRecords: {code}: {}",
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

    fn dest() -> PutRecords {
        PutRecords {
            client: Client::new(&offline_config()),
            stream: "S".into(),
            name: "kinesis://S".into(),
        }
    }

    #[test]
    fn a_request_holds_at_most_500_records_and_5_mib_with_the_partition_keys() {
        assert_eq!(requests(&dest(), &[100; 1200]), [500, 500, 200]);
        // 100,000 bytes + a 36-byte key: 52 fit in 5,242,880 bytes, 53 do not.
        assert_eq!(requests(&dest(), &[100_000; 60]), [52, 8]);
        assert_eq!(
            requests(&dest(), &[MAX_RECORD_BYTES - KEY_BYTES; 6]),
            [5, 1]
        );
    }

    #[test]
    fn a_record_over_1_mib_with_its_key_is_refused_with_its_size() {
        assert_eq!(dest().refuse(&vec![0; MAX_RECORD_BYTES - KEY_BYTES]), None);
        let why = dest()
            .refuse(&vec![0; MAX_RECORD_BYTES - KEY_BYTES + 1])
            .unwrap();
        assert_eq!(
            why,
            "the record is 1048541 bytes; Kinesis takes at most 1048576 bytes (1 MiB) per record, its 36-byte partition key included: make the row smaller (fewer or shorter columns)"
        );
    }

    #[test]
    fn an_empty_stream_name_is_refused() {
        let rt = runtime();
        let columns = Columns {
            indices: vec![0],
            names: vec!["A".into()],
        };
        let options = KinesisOutputOptions::new(
            " ",
            columns,
            RecordFormat::Json,
            rt.handle().clone(),
            offline_config(),
        );
        let e = KinesisStreamsOutput::new(options)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "Kinesis output: the stream name is empty; name the destination stream"
        );
    }
}
