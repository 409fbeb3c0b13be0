//! Reference tables (CSV or JSON lines, as the KDA `ReferenceSchema` says), from a file or from
//! an S3 object. Rows that do not fit the schema are reported (REFERENCE_DATA_ERROR rows) and
//! skipped; a first CSV line equal to the column names is a header and skipped. Both sources
//! share [`parse_reference`].
//!
//! An S3 table ([`S3Table`], `s3://BUCKET/KEY`, KDA's `S3ReferenceDataSource`) is read with
//! object_store: the first [`S3Table::load`] remembers the object's ETag; [`S3Table::refresh`]
//! asks again with `If-None-Match: ETAG`, so an unchanged object answers 304 Not Modified with
//! no body (nothing downloaded, nothing parsed) and a changed one comes back with its new ETag.
//! A store that gives no ETag is read whole on every refresh. [`ReferenceSource`] is either
//! kind, for the runtime's reloads (`--reference-refresh`, SIGHUP).

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use object_store::{GetOptions, ObjectStore};

use super::decode::RecordDecoder;
use crate::connectors::aws::s3_store;
use crate::connectors::location::Location;
use crate::connectors::schema::RecordSchema;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, REFERENCE_DATA_ERROR};

/// A loaded reference table and the rows that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTable {
    pub batch: RecordBatch,
    pub errors: Vec<ErrorRow>,
}

/// Loads table `name` from the file at `path`.
pub fn load_reference(name: &str, schema: &RecordSchema, path: &Path) -> Result<LoadedTable> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format!("reference table {name}: {}", path.display()), e))?;
    parse_reference(name, schema, &path.display().to_string(), &bytes)
}

/// Parses table `name` from `bytes`, which came from `origin` (a path, an `s3://` location: it
/// names the rows skipped, with their line numbers).
pub fn parse_reference(
    name: &str,
    schema: &RecordSchema,
    origin: &str,
    bytes: &[u8],
) -> Result<LoadedTable> {
    let mut decoder = RecordDecoder::new(schema)
        .map_err(|e| Error::Application(format!("reference table {name}: {e}")))?;
    let mut errors = Vec::new();
    let mut batches = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if i == 0 && schema.is_header_line(line) {
            continue;
        }
        if let Err(message) = decoder.push(line) {
            errors.push(ErrorRow {
                name: REFERENCE_DATA_ERROR,
                message: format!("reference table {name}, {origin}:{}: {message}", i + 1),
                data_rowtime: None,
                data_row: line.to_vec(),
                pump: None,
            });
        }
        if decoder.len() >= 8192 {
            batches.push(decoder.flush());
        }
    }
    batches.push(decoder.flush());
    let batch = concat_batches(&schema.arrow_schema(), &batches)?;
    Ok(LoadedTable { batch, errors })
}

/// Where a reference table's rows come from, and how to see whether they changed.
pub enum ReferenceSource {
    /// A file; changed when its modification time or length changed.
    File {
        name: String,
        schema: RecordSchema,
        path: std::path::PathBuf,
        seen: Option<(std::time::SystemTime, u64)>,
    },
    /// An S3 object; changed when its ETag changed.
    S3(S3Table),
}

impl ReferenceSource {
    pub fn file(name: &str, schema: &RecordSchema, path: &Path) -> ReferenceSource {
        ReferenceSource::File {
            name: name.to_string(),
            schema: schema.clone(),
            path: path.to_path_buf(),
            seen: None,
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        match self {
            ReferenceSource::File { name, .. } => name,
            ReferenceSource::S3(t) => &t.name,
        }
    }

    /// The file's path or the `s3://` location.
    pub fn location(&self) -> String {
        match self {
            ReferenceSource::File { path, .. } => path.display().to_string(),
            ReferenceSource::S3(t) => t.location(),
        }
    }

    fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Reads the table.
    pub async fn load(&mut self) -> Result<LoadedTable> {
        match self {
            ReferenceSource::File {
                name,
                schema,
                path,
                seen,
            } => {
                *seen = ReferenceSource::file_stamp(path);
                load_reference(name, schema, path)
            }
            ReferenceSource::S3(t) => t.load().await,
        }
    }

    /// The table's new rows if its source changed since the last load, else `None`.
    pub async fn refresh(&mut self) -> Result<Option<LoadedTable>> {
        match self {
            ReferenceSource::File { path, seen, .. } => {
                let now = ReferenceSource::file_stamp(path);
                if now.is_some() && now == *seen {
                    return Ok(None);
                }
                self.load().await.map(Some)
            }
            ReferenceSource::S3(t) => t.refresh().await,
        }
    }
}

/// A reference table in an S3 object, reloaded only when the object changes.
pub struct S3Table {
    name: String,
    schema: RecordSchema,
    bucket: String,
    key: String,
    path: object_store::path::Path,
    store: Arc<dyn ObjectStore>,
    /// The ETag of the object last loaded.
    etag: Option<String>,
}

impl S3Table {
    /// Table `name` in object `key` of `bucket`, read with `config`'s region and credentials.
    pub fn new(
        config: &SdkConfig,
        name: &str,
        schema: &RecordSchema,
        bucket: &str,
        key: &str,
    ) -> Result<S3Table> {
        let location = format!("s3://{bucket}/{key}");
        let path = object_store::path::Path::parse(key).map_err(|e| {
            Error::Application(format!(
                "reference table {name}: {location}: the key cannot be read as an object path ({e})"
            ))
        })?;
        let store = s3_store(config, bucket)
            .map_err(|e| Error::Application(format!("reference table {name}: {e}")))?;
        Ok(S3Table {
            name: name.to_string(),
            schema: schema.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            path,
            store,
            etag: None,
        })
    }

    /// The same from a location: `s3://BUCKET/KEY` or `arn:aws:s3:::BUCKET/KEY`.
    pub fn from_location(
        config: &SdkConfig,
        name: &str,
        schema: &RecordSchema,
        location: &str,
    ) -> Result<S3Table> {
        match Location::parse(location) {
            Ok(Location::S3Object { bucket, key }) => {
                S3Table::new(config, name, schema, &bucket, &key)
            }
            Ok(_) => Err(Error::Application(format!(
                "reference table {name}: `{location}` is not an S3 object; write s3://BUCKET/KEY"
            ))),
            Err(e) => Err(Error::Application(format!("reference table {name}: {e}"))),
        }
    }

    /// `s3://BUCKET/KEY`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The ETag of the object last loaded.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Reads the object and parses the table; remembers its ETag.
    pub async fn load(&mut self) -> Result<LoadedTable> {
        self.get(GetOptions::default()).await?.ok_or_else(|| {
            self.failed(
                std::io::ErrorKind::InvalidData,
                "S3 answered 304 Not Modified to a GET without a condition",
            )
        })
    }

    /// Asks for the object again unless it is unchanged: `None` when S3 answers 304 Not
    /// Modified to `If-None-Match` with the last ETag, else the new table (and its ETag is
    /// remembered). Before any load, or without an ETag, it loads.
    pub async fn refresh(&mut self) -> Result<Option<LoadedTable>> {
        let options = GetOptions {
            if_none_match: self.etag.clone(),
            ..GetOptions::default()
        };
        self.get(options).await
    }

    async fn get(&mut self, options: GetOptions) -> Result<Option<LoadedTable>> {
        let result = match self.store.get_opts(&self.path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) => return Ok(None),
            Err(e) => return Err(self.describe(&e)),
        };
        let etag = result.meta.e_tag.clone();
        let bytes = result.bytes().await.map_err(|e| self.describe(&e))?;
        let table = parse_reference(&self.name, &self.schema, &self.location(), &bytes)?;
        self.etag = etag;
        Ok(Some(table))
    }

    /// An object_store error as: which table, which location, what S3 said, what to do.
    fn describe(&self, e: &object_store::Error) -> Error {
        let text = error_chain(e);
        let said = s3_error(&text);
        let code = said.as_ref().map(|(c, _)| c.as_str());
        use std::io::ErrorKind;
        let (kind, why) = match (e, code) {
            (_, Some("NoSuchBucket")) => (
                ErrorKind::NotFound,
                format!(
                    "the bucket {} does not exist; check the reference data source's bucket",
                    self.bucket
                ),
            ),
            (object_store::Error::NotFound { .. }, _) => (
                ErrorKind::NotFound,
                "there is no object with this key; check the reference data source's file key"
                    .to_string(),
            ),
            (
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. },
                _,
            ) => (
                ErrorKind::PermissionDenied,
                "access denied; the credentials rowtime runs with need s3:GetObject on this object"
                    .to_string(),
            ),
            _ => (ErrorKind::Other, "the object could not be read".to_string()),
        };
        let detail = match said {
            Some((code, message)) if !message.is_empty() => format!("{code}: {message}"),
            Some((code, _)) => code,
            None => text,
        };
        self.failed(kind, &format!("{why} ({detail})"))
    }

    /// `reference table NAME: s3://BUCKET/KEY: why`.
    fn failed(&self, kind: std::io::ErrorKind, why: &str) -> Error {
        Error::io(
            format!("reference table {}: {}", self.name, self.location()),
            std::io::Error::new(kind, why),
        )
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The `<Code>` and `<Message>` of an S3 error body quoted in `text`.
fn s3_error(text: &str) -> Option<(String, String)> {
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    Some((field("Code")?, field("Message").unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KDA `ReferenceSchema`: CSV with `,` or JSON with `$.lower-case name` mappings.
    fn schema(format: &str, columns: &[(&str, &str)]) -> RecordSchema {
        let columns: Vec<serde_json::Value> = columns
            .iter()
            .map(|(n, t)| {
                serde_json::json!({"Name": n, "SqlType": t, "Mapping": format!("$.{}", n.to_lowercase())})
            })
            .collect();
        let json = serde_json::json!({
            "RecordColumns": columns,
            "RecordFormat": {"RecordFormatType": format},
        });
        RecordSchema::parse_json_text(&json.to_string(), "reference schema").unwrap()
    }

    #[test]
    fn rows_that_do_not_fit_are_reported_with_their_origin_and_line() {
        let schema = schema("CSV", &[("ID", "INTEGER"), ("NAME", "VARCHAR(8)")]);
        let bytes = b"ID,NAME\n1,one\r\n\nx,two\n3,three\n";
        let t = parse_reference("T", &schema, "s3://b/k.csv", bytes).unwrap();
        assert_eq!(t.batch.num_rows(), 2);
        assert_eq!(t.errors.len(), 1);
        assert_eq!(t.errors[0].name, REFERENCE_DATA_ERROR);
        assert_eq!(t.errors[0].data_row, b"x,two");
        assert!(
            t.errors[0]
                .message
                .starts_with("reference table T, s3://b/k.csv:4: "),
            "{}",
            t.errors[0].message
        );
    }

    #[test]
    fn a_json_table_parses_from_bytes_as_from_a_file() {
        let schema = schema("JSON", &[("ID", "INTEGER"), ("NAME", "VARCHAR(8)")]);
        let bytes = b"{\"id\": 1, \"name\": \"one\"}\n{\"id\": 2, \"name\": \"two\"}\n";
        let path = std::env::temp_dir().join(format!("rowtime-ref-{}.json", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let from_file = load_reference("T", &schema, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let from_bytes = parse_reference("T", &schema, "s3://b/k", bytes).unwrap();
        assert_eq!(from_file, from_bytes);
        assert_eq!(from_bytes.batch.num_rows(), 2);
    }

    #[test]
    fn a_missing_file_names_the_table_and_the_path() {
        let schema = schema("CSV", &[("ID", "INTEGER")]);
        let e = load_reference("T", &schema, Path::new("no/such.csv")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("reference table T: no/such.csv: "),
            "{e}"
        );
    }

    #[test]
    fn s3_error_bodies_give_their_code_and_message() {
        let text = "Object at location k not found: Error performing GET http://x/b/k in 2ms - Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(
            s3_error(text),
            Some((
                "NoSuchBucket".into(),
                "The specified bucket does not exist".into()
            ))
        );
        assert_eq!(
            s3_error("<Error><Code>AccessDenied</Code></Error>"),
            Some(("AccessDenied".into(), String::new()))
        );
        assert_eq!(s3_error("connection refused"), None);
    }

    #[test]
    fn only_an_s3_object_location_makes_an_s3_table() {
        let config = SdkConfig::builder().build();
        let schema = schema("CSV", &[("ID", "INTEGER")]);
        let e = |l: &str| {
            S3Table::from_location(&config, "T", &schema, l)
                .err()
                .expect("rejected")
                .to_string()
        };
        assert!(e("s3://bucket/prefix/").contains("is not an S3 object; write s3://BUCKET/KEY"));
        assert!(e("kinesis://s").contains("is not an S3 object"));
        assert!(e("s3:///k").starts_with("reference table T: "));
        let t = S3Table::from_location(&config, "T", &schema, "arn:aws:s3:::refs/a/b.csv").unwrap();
        assert_eq!(t.location(), "s3://refs/a/b.csv");
        assert_eq!(t.etag(), None);
    }
}
