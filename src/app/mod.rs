//! Application definitions: a `.sql` file plus flags, or a KDA application definition (the JSON
//! printed by `aws kinesisanalytics describe-application`, run unmodified). Fields with no local
//! meaning (ARNs, roles, timestamps, logging) are accepted and ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod assemble;
pub mod bind;

use crate::connectors::schema::{RecordSchema, SourceSchemaJson};
use crate::error::{Error, Result, SourceText};

/// A streaming input: creates `<name_prefix>_001` … `<name_prefix>_<count>`.
#[derive(Debug, Clone)]
pub struct InputConfig {
    pub name_prefix: String,
    pub count: u32,
    /// `None`: discover it from the first records.
    pub schema: Option<RecordSchema>,
    /// `KinesisStreamsInput` / `KinesisFirehoseInput`: the declared source (used with `--connect`).
    pub source: Option<DeclaredSource>,
    /// `InputProcessingConfiguration.InputLambdaProcessor`: the preprocessing function's ARN.
    pub preprocessor: Option<String>,
    /// `InputStartingPositionConfiguration.InputStartingPosition`, as written.
    pub start_position: Option<String>,
}

/// The streaming source a definition declares.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclaredSource {
    /// `KinesisStreamsInput.ResourceARN`.
    Kinesis(String),
    /// `KinesisFirehoseInput.ResourceARN`.
    Firehose(String),
}

impl InputConfig {
    pub fn stream_names(&self) -> Vec<String> {
        (1..=self.count)
            .map(|i| format!("{}_{i:03}", self.name_prefix))
            .collect()
    }
}

/// A reference table and where its data lives.
#[derive(Debug, Clone)]
pub struct ReferenceConfig {
    pub table: String,
    pub schema: Option<RecordSchema>,
    /// `s3://bucket/key` in the definition; resolved under `reference-data/`.
    pub bucket: String,
    pub key: String,
}

/// An output destination: the in-application stream it reads and its record format.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub stream: String,
    pub csv: bool,
    /// `KinesisStreamsOutput`, `KinesisFirehoseOutput` or `LambdaOutput`: the resource ARN (used
    /// with `--connect`).
    pub destination: Option<String>,
}

/// Everything needed to run an application.
#[derive(Debug, Clone)]
pub struct Application {
    pub name: String,
    /// `ApplicationARN` (sent to Lambda functions as `applicationArn`).
    pub arn: Option<String>,
    pub code: SourceText,
    pub inputs: Vec<InputConfig>,
    pub references: Vec<ReferenceConfig>,
    pub outputs: Vec<OutputConfig>,
    /// The folder of the definition file (reference data is also looked up from there).
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeApplication {
    application_detail: ApplicationDetail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApplicationDetail {
    application_name: String,
    #[serde(rename = "ApplicationARN", default)]
    application_arn: Option<String>,
    #[serde(default)]
    application_code: Option<String>,
    #[serde(default)]
    input_descriptions: Vec<InputDescription>,
    #[serde(default)]
    reference_data_source_descriptions: Vec<ReferenceDescription>,
    #[serde(default)]
    output_descriptions: Vec<OutputDescription>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InputDescription {
    name_prefix: String,
    #[serde(default)]
    input_schema: Option<SourceSchemaJson>,
    #[serde(default)]
    input_parallelism: Option<Parallelism>,
    #[serde(default)]
    kinesis_streams_input_description: Option<Resource>,
    #[serde(default)]
    kinesis_firehose_input_description: Option<Resource>,
    #[serde(default)]
    input_processing_configuration_description: Option<InputProcessing>,
    #[serde(default)]
    input_starting_position_configuration: Option<StartingPosition>,
}

/// `{"ResourceARN": …, "RoleARN": …}` (the role is for IAM in AWS; rowtime uses its own
/// credentials).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InputProcessing {
    #[serde(default)]
    input_lambda_processor_description: Option<Resource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartingPosition {
    #[serde(default)]
    input_starting_position: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Parallelism {
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReferenceDescription {
    table_name: String,
    #[serde(rename = "S3ReferenceDataSourceDescription")]
    s3: S3Reference,
    #[serde(default)]
    reference_schema: Option<SourceSchemaJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3Reference {
    #[serde(rename = "BucketARN")]
    bucket_arn: String,
    file_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OutputDescription {
    name: String,
    #[serde(default)]
    destination_schema: Option<DestinationSchema>,
    #[serde(default)]
    kinesis_streams_output_description: Option<Resource>,
    #[serde(default)]
    kinesis_firehose_output_description: Option<Resource>,
    #[serde(default)]
    lambda_output_description: Option<Resource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationSchema {
    record_format_type: String,
}

impl Application {
    /// A `.sql` file: one input `SOURCE_SQL_STREAM` (schema given later or discovered),
    /// output `DESTINATION_SQL_STREAM` unless flags say otherwise.
    pub fn from_sql_file(path: &Path) -> Result<Application> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        Ok(Application {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            arn: None,
            code: SourceText::new(path.display().to_string(), text),
            inputs: vec![InputConfig {
                name_prefix: "SOURCE_SQL_STREAM".into(),
                count: 1,
                schema: None,
                source: None,
                preprocessor: None,
                start_position: None,
            }],
            references: vec![],
            outputs: vec![],
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// An application with no code and nothing declared (for checking flags alone).
    pub fn empty() -> Application {
        Application {
            name: String::new(),
            arn: None,
            code: SourceText::new("", ""),
            inputs: vec![],
            references: vec![],
            outputs: vec![],
            dir: PathBuf::new(),
        }
    }

    /// A KDA application definition file.
    pub fn from_definition_file(path: &Path) -> Result<Application> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Application::from_definition(&text, &path.display().to_string(), dir)
    }

    /// Parses the output of `aws kinesisanalytics describe-application`.
    pub fn from_definition(text: &str, file: &str, dir: PathBuf) -> Result<Application> {
        let doc: DescribeApplication = serde_json::from_str(text).map_err(|e| {
            Error::Application(format!(
                "{file}: not a KDA application definition ({e}); expected the JSON of `aws kinesisanalytics describe-application`: {{\"ApplicationDetail\": {{…}}}}"
            ))
        })?;
        let d = doc.application_detail;
        let code = d.application_code.ok_or_else(|| {
            Error::Application(format!("{file}: ApplicationDetail has no ApplicationCode"))
        })?;
        let what = |s: String| format!("{file}: {s}");
        let mut inputs = Vec::new();
        for i in d.input_descriptions {
            let schema = match &i.input_schema {
                Some(s) => Some(
                    RecordSchema::from_json(s, &format!("input {} InputSchema", i.name_prefix))
                        .map_err(|e| Error::Application(what(e)))?,
                ),
                None => None,
            };
            let count = i.input_parallelism.and_then(|p| p.count).unwrap_or(1);
            if !(1..=64).contains(&count) {
                return Err(Error::Application(what(format!(
                    "InputParallelism.Count {count} is outside 1..64"
                ))));
            }
            let source = match (
                i.kinesis_streams_input_description,
                i.kinesis_firehose_input_description,
            ) {
                (Some(k), _) => Some(DeclaredSource::Kinesis(k.resource_arn)),
                (None, Some(f)) => Some(DeclaredSource::Firehose(f.resource_arn)),
                (None, None) => None,
            };
            inputs.push(InputConfig {
                name_prefix: i.name_prefix,
                count,
                schema,
                source,
                preprocessor: i
                    .input_processing_configuration_description
                    .and_then(|p| p.input_lambda_processor_description)
                    .map(|l| l.resource_arn),
                start_position: i
                    .input_starting_position_configuration
                    .and_then(|p| p.input_starting_position),
            });
        }
        let mut references = Vec::new();
        for r in d.reference_data_source_descriptions {
            let schema = match &r.reference_schema {
                Some(s) => Some(
                    RecordSchema::from_json(
                        s,
                        &format!("reference table {} ReferenceSchema", r.table_name),
                    )
                    .map_err(|e| Error::Application(what(e)))?,
                ),
                None => None,
            };
            let bucket =
                r.s3.bucket_arn
                    .rsplit(":::")
                    .next()
                    .unwrap_or(&r.s3.bucket_arn)
                    .to_string();
            references.push(ReferenceConfig {
                table: r.table_name,
                schema,
                bucket,
                key: r.s3.file_key,
            });
        }
        let outputs = d
            .output_descriptions
            .into_iter()
            .map(|o| OutputConfig {
                stream: o.name,
                csv: o
                    .destination_schema
                    .is_some_and(|s| s.record_format_type.eq_ignore_ascii_case("CSV")),
                destination: o
                    .kinesis_streams_output_description
                    .or(o.kinesis_firehose_output_description)
                    .or(o.lambda_output_description)
                    .map(|r| r.resource_arn),
            })
            .collect();
        Ok(Application {
            name: d.application_name.clone(),
            arn: d.application_arn,
            code: SourceText::new(format!("{file} (ApplicationCode)"), code),
            inputs,
            references,
            outputs,
            dir,
        })
    }

    /// Where `reference-data/<bucket>/<key>` is: under the current folder, else beside the
    /// definition (its folder or the folder above it).
    pub fn reference_path(&self, r: &ReferenceConfig) -> PathBuf {
        let relative = Path::new("reference-data").join(&r.bucket).join(&r.key);
        let candidates = [
            relative.clone(),
            self.dir.join(&relative),
            self.dir
                .parent()
                .map(|p| p.join(&relative))
                .unwrap_or_else(|| relative.clone()),
        ];
        candidates
            .iter()
            .find(|p| p.exists())
            .cloned()
            .unwrap_or(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_describe_application_document_and_ignores_cloud_fields() {
        let text = r#"{"ApplicationDetail": {
            "ApplicationName": "ExampleApp", "ApplicationARN": "arn:aws:kinesisanalytics:us-east-1:1:application/ExampleApp",
            "ApplicationStatus": "RUNNING", "ApplicationVersionId": 5, "CreateTimestamp": 1545992977.0,
            "InputDescriptions": [{"InputId": "1.1", "NamePrefix": "SOURCE_SQL_STREAM", "InAppStreamNames": ["SOURCE_SQL_STREAM_001"],
                "KinesisStreamsInputDescription": {"ResourceARN": "arn:x", "RoleARN": "arn:y"},
                "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                    "RecordEncoding": "UTF-8", "RecordColumns": [{"Name": "TICKER_SYMBOL", "Mapping": "$.TICKER_SYMBOL", "SqlType": "VARCHAR(4)"}]},
                "InputParallelism": {"Count": 2}, "InputStartingPositionConfiguration": {}}],
            "ReferenceDataSourceDescriptions": [{"ReferenceId": "2.1", "TableName": "CompanyName",
                "S3ReferenceDataSourceDescription": {"BucketARN": "arn:aws:s3:::example-bucket", "FileKey": "TickerReference.csv", "ReferenceRoleARN": "arn:r"},
                "ReferenceSchema": {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}},
                    "RecordEncoding": "UTF-8", "RecordColumns": [{"Name": "Ticker", "SqlType": "VARCHAR(4)"}, {"Name": "Company", "SqlType": "VARCHAR(16)"}]}}],
            "OutputDescriptions": [{"OutputId": "1.1", "Name": "DESTINATION_SQL_STREAM", "DestinationSchema": {"RecordFormatType": "CSV"}}],
            "CloudWatchLoggingOptionDescriptions": [],
            "ApplicationCode": "CREATE STREAM x (a INTEGER);"}}"#;
        let app = Application::from_definition(text, "app.json", PathBuf::from("sql")).unwrap();
        assert_eq!(app.name, "ExampleApp");
        assert_eq!(
            app.inputs[0].stream_names(),
            vec!["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"]
        );
        assert_eq!(app.references[0].bucket, "example-bucket");
        assert_eq!(app.references[0].key, "TickerReference.csv");
        assert_eq!(
            app.references[0].schema.as_ref().unwrap().columns[1].name,
            "Company"
        );
        assert!(app.outputs[0].csv);
        assert_eq!(app.code.text, "CREATE STREAM x (a INTEGER);");
        assert_eq!(
            app.inputs[0].source,
            Some(DeclaredSource::Kinesis("arn:x".into()))
        );
        assert_eq!(app.inputs[0].start_position, None);
        assert_eq!(
            app.arn.as_deref(),
            Some("arn:aws:kinesisanalytics:us-east-1:1:application/ExampleApp")
        );
    }

    #[test]
    fn says_what_a_definition_must_look_like() {
        let err = Application::from_definition("{\"Name\": 1}", "bad.json", PathBuf::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json: not a KDA application definition"),
            "{err}"
        );
        assert!(err.contains("describe-application"), "{err}");
    }
}
