//! The AWS configuration every connector shares: endpoints, region and credentials from the AWS
//! SDK's standard chain, nothing rowtime-specific.
//!
//! - Endpoints: `AWS_ENDPOINT_URL`, or per service `AWS_ENDPOINT_URL_KINESIS`,
//!   `AWS_ENDPOINT_URL_FIREHOSE`, `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_S3` (an `http://`
//!   endpoint, such as a local test server, is allowed because it was asked for).
//! - Region: `AWS_REGION` (or `AWS_DEFAULT_REGION`, or the profile's).
//! - Credentials: the environment, the shared profile files, web identity (EKS), the container
//!   (ECS) and instance (EC2) credential endpoints, in the SDK's order. S3 requests sign with the
//!   same credentials. Credentials are never printed.
//!
//! Everything here is async; the runtime owns the tokio runtime that runs it.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};

use crate::error::{Error, Result};

/// Loads the SDK configuration from the standard chain, with rustls (ring) for HTTPS.
pub async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// The S3 endpoint asked for in the environment, if any.
fn s3_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// An object store for `bucket`: region and credentials from `config`, endpoint and the other
/// `AWS_*` settings from the environment (object_store reads them as the SDK does). Failed
/// requests are retried by object_store itself (for reading reference data).
pub fn s3_store(config: &SdkConfig, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    build(s3_builder(config, bucket), bucket)
}

/// The same store without object_store's own retries, for a sink that retries a failed PUT
/// itself (with `retry::Backoff` and `--max-delivery-retries`, counting every attempt).
pub fn s3_delivery_store(config: &SdkConfig, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let no_retries = object_store::RetryConfig {
        max_retries: 0,
        ..Default::default()
    };
    build(s3_builder(config, bucket).with_retry(no_retries), bucket)
}

fn s3_builder(config: &SdkConfig, bucket: &str) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(region) = config.region() {
        builder = builder.with_region(region.as_ref());
    }
    if let Some(endpoint) = s3_endpoint() {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    if let Some(provider) = config.credentials_provider() {
        builder = builder.with_credentials(Arc::new(SdkCredentials(provider)));
    }
    builder
}

fn build(builder: AmazonS3Builder, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let store = builder
        .build()
        .map_err(|e| Error::Application(format!("s3://{bucket}: {e}")))?;
    Ok(Arc::new(store))
}

/// The SDK's credential chain, for object_store's S3 client.
#[derive(Debug)]
struct SdkCredentials(aws_credential_types::provider::SharedCredentialsProvider);

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }))
    }
}

/// An AWS SDK error as one line: the service's error code and message when it sent one, else
/// what went wrong on the way (timeout, connection refused, …).
pub fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => err.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            if d.is_io() {
                format!("could not reach the endpoint ({why})")
            } else {
                format!("the request could not be sent ({why})")
            }
        }
        other => other.to_string(),
    }
}

/// The error code of an AWS SDK error (`ProvisionedThroughputExceededException`, …).
pub fn error_code<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<&str>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match e {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}
