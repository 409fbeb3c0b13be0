//! Reference tables from S3: rowtime's `S3Table` in-process against ministack's S3, through
//! `faulty_proxy.py`, whose log shows every GET and its status (200 with the object, 304 when
//! it is unchanged). Objects are uploaded with boto3 straight to ministack.

use std::path::PathBuf;

use rowtime::Error;
use rowtime::connectors::reference::{LoadedTable, S3Table, load_reference};
use rowtime::connectors::schema::RecordSchema;
use rowtime::error_stream::REFERENCE_DATA_ERROR;
use serde_json::{Value, json};

use crate::support::{self, Server};

const BUCKET: &str = "toll-reference";

struct Setup {
    runtime: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
    dir: PathBuf,
    proxy_log: PathBuf,
    ministack_endpoint: String,
    _proxy: Server,
    _ministack: Server,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Setup {
    fn new(name: &str, plan: Value) -> Setup {
        let lock = support::serial();
        let ministack = Server::ministack();
        let dir = support::temp_dir(&format!("reference-{name}"));
        let plan_file = dir.join("plan.json");
        std::fs::write(&plan_file, plan.to_string()).unwrap();
        let proxy_log = dir.join("proxy.jsonl");
        let proxy = Server::proxy(&ministack, &plan_file, &proxy_log);
        support::aws(&ministack.endpoint(), &["create-bucket", BUCKET]);
        support::set_test_env(&proxy.endpoint());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(rowtime::connectors::aws::sdk_config());
        Setup {
            runtime,
            config,
            dir,
            proxy_log,
            ministack_endpoint: ministack.endpoint(),
            _proxy: proxy,
            _ministack: ministack,
            _lock: lock,
        }
    }

    /// Uploads `bytes` to `key` (straight to ministack: the proxy log holds rowtime's calls only);
    /// returns the new ETag.
    fn put(&self, key: &str, bytes: &[u8]) -> String {
        let file = self.dir.join("upload");
        std::fs::write(&file, bytes).unwrap();
        let out = support::aws(
            &self.ministack_endpoint,
            &["put-object", BUCKET, key, file.to_str().unwrap()],
        );
        out["etag"].as_str().unwrap().to_string()
    }

    /// The same bytes loaded from a file, the way `--reference NAME=PATH` loads them.
    fn load_file(&self, name: &str, schema: &RecordSchema, bytes: &[u8]) -> (LoadedTable, String) {
        let path = self.dir.join(format!("{name}.data"));
        std::fs::write(&path, bytes).unwrap();
        let t = load_reference(name, schema, &path).unwrap();
        (t, path.display().to_string())
    }

    fn table(&self, name: &str, schema: &RecordSchema, location: &str) -> S3Table {
        S3Table::from_location(&self.config, name, schema, location).unwrap()
    }

    /// (method, status) of every call the proxy saw for `key`.
    fn calls(&self, key: &str) -> Vec<(String, u64)> {
        let text = std::fs::read_to_string(&self.proxy_log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|c| c["path"] == format!("/{BUCKET}/{key}"))
            .map(|c| {
                (
                    c["method"].as_str().unwrap().to_string(),
                    c["status"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn schema(format: &str, columns: &[(&str, &str, &str)]) -> RecordSchema {
    let columns: Vec<Value> = columns
        .iter()
        .map(|(n, t, m)| json!({"Name": n, "SqlType": t, "Mapping": m}))
        .collect();
    let json = json!({"RecordColumns": columns, "RecordFormat": {"RecordFormatType": format}});
    RecordSchema::parse_json_text(&json.to_string(), "reference schema").unwrap()
}

fn thresholds_schema() -> RecordSchema {
    schema(
        "CSV",
        &[
            ("BOOTH_ID", "VARCHAR(4)", ""),
            ("SLOT", "INTEGER", ""),
            ("MIN_VEHICLES", "INTEGER", ""),
        ],
    )
}

/// The repository's booth thresholds, plus a row that does not fit.
fn thresholds_csv() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reference-data/toll-reference/booth_thresholds.csv"
    );
    let mut bytes = std::fs::read(path).unwrap();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"B99,not a slot,3\n");
    bytes
}

/// The error rows with the origin (path or location) taken out of their messages.
fn without_origin(t: &LoadedTable, origin: &str) -> Vec<(String, Vec<u8>)> {
    t.errors
        .iter()
        .map(|e| {
            assert_eq!(e.name, REFERENCE_DATA_ERROR);
            assert!(e.message.contains(origin), "{} names {origin}", e.message);
            (e.message.replace(origin, "ORIGIN"), e.data_row.clone())
        })
        .collect()
}

#[test]
fn r1_csv_and_json_objects_load_as_the_same_bytes_from_a_file() {
    let s = Setup::new("r1", json!([]));
    let csv = thresholds_csv();
    s.put("booth_thresholds.csv", &csv);
    let json_bytes = concat!(
        r#"{"booth": "B01", "road": "Harbour Bridge", "lanes": 4}"#,
        "\n",
        r#"{"booth": "B02", "road": "Harbour Bridge", "lanes": "four"}"#,
        "\n",
        r#"{"booth": "B03", "road": "Ring Road East"}"#,
        "\n",
    )
    .as_bytes();
    s.put("booths.json", json_bytes);
    let booths = schema(
        "JSON",
        &[
            ("BOOTH_ID", "VARCHAR(4)", "$.booth"),
            ("ROAD", "VARCHAR(32)", "$.road"),
            ("LANES", "INTEGER", "$.lanes"),
        ],
    );
    // The CSV: every line of the file but the header and the bad row.
    let lines = csv.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    for (name, schema, key, bytes, rows, bad) in [
        (
            "BOOTH_THRESHOLDS",
            thresholds_schema(),
            "booth_thresholds.csv",
            csv.as_slice(),
            lines - 2,
            1,
        ),
        ("BOOTHS", booths, "booths.json", json_bytes, 2, 1),
    ] {
        let location = format!("s3://{BUCKET}/{key}");
        let mut table = s.table(name, &schema, &location);
        let loaded = s.runtime.block_on(table.load()).unwrap();
        let (file, path) = s.load_file(name, &schema, bytes);
        assert_eq!(loaded.batch, file.batch, "{name}");
        assert_eq!(
            without_origin(&loaded, &location),
            without_origin(&file, &path),
            "{name}"
        );
        assert_eq!(loaded.batch.num_rows(), rows, "{name}");
        assert_eq!(loaded.errors.len(), bad, "{name}");
        assert!(table.etag().is_some(), "{name}: the ETag is remembered");
        if name == "BOOTH_THRESHOLDS" {
            assert_eq!(loaded.errors[0].data_row, b"B99,not a slot,3");
            let at = format!("reference table BOOTH_THRESHOLDS, {location}:{lines}: ");
            assert!(
                loaded.errors[0].message.starts_with(&at),
                "{}",
                loaded.errors[0].message
            );
        } else {
            let line = r#"{"booth": "B02", "road": "Harbour Bridge", "lanes": "four"}"#;
            assert_eq!(loaded.errors[0].data_row, line.as_bytes());
        }
    }
}

#[test]
fn r2_refresh_is_a_304_while_unchanged_and_the_new_rows_after_an_overwrite() {
    let s = Setup::new("r2", json!([]));
    let key = "booths.csv";
    let schema = schema(
        "CSV",
        &[("BOOTH_ID", "VARCHAR(4)", ""), ("ROAD", "VARCHAR(32)", "")],
    );
    let first = s.put(
        key,
        b"BOOTH_ID,ROAD\nB01,Harbour Bridge\nB02,Harbour Bridge\n",
    );
    let mut table = s.table("BOOTHS", &schema, &format!("s3://{BUCKET}/{key}"));
    let loaded = s.runtime.block_on(table.load()).unwrap();
    assert_eq!(loaded.batch.num_rows(), 2);
    assert_eq!(table.etag(), Some(first.as_str()));
    for _ in 0..2 {
        assert_eq!(s.runtime.block_on(table.refresh()).unwrap(), None);
    }
    // The same bytes again: the same ETag, still unchanged.
    assert_eq!(
        s.put(
            key,
            b"BOOTH_ID,ROAD\nB01,Harbour Bridge\nB02,Harbour Bridge\n"
        ),
        first
    );
    assert_eq!(s.runtime.block_on(table.refresh()).unwrap(), None);
    let second = s.put(
        key,
        b"BOOTH_ID,ROAD\nB03,Ring Road East\nB04,Ring Road East\nB05,Airport Link\n",
    );
    assert_ne!(second, first);
    let (expected, _) = s.load_file(
        "BOOTHS",
        &schema,
        b"BOOTH_ID,ROAD\nB03,Ring Road East\nB04,Ring Road East\nB05,Airport Link\n",
    );
    let fresh = s
        .runtime
        .block_on(table.refresh())
        .unwrap()
        .expect("the object changed");
    assert_eq!(fresh.batch, expected.batch);
    assert_eq!(fresh.batch.num_rows(), 3);
    assert_eq!(table.etag(), Some(second.as_str()));
    assert_eq!(s.runtime.block_on(table.refresh()).unwrap(), None);
    let get = |status| ("GET".to_string(), status);
    assert_eq!(
        s.calls(key),
        [get(200), get(304), get(304), get(304), get(200), get(304)],
        "one download per version of the object"
    );
}

fn io_error(e: Error) -> (String, std::io::ErrorKind) {
    match &e {
        Error::Io { source, .. } => (e.to_string(), source.kind()),
        other => panic!("not an I/O error: {other}"),
    }
}

#[test]
fn a_missing_key_a_missing_bucket_and_access_denied_say_which_table_and_where() {
    let plan = json!([
        {"match": {"method": "GET", "path": "^/toll-reference/private"},
         "fault": "error", "error": "AccessDenied", "status": 403, "message": "Access Denied"},
        {"match": {"method": "GET", "path": "^/toll-reference/archived"},
         "fault": "error", "error": "InvalidObjectState", "status": 400,
         "message": "The operation is not valid for the object's storage class"},
    ]);
    let s = Setup::new("errors", plan);
    s.put("private.csv", b"B01,0,14\n");
    let schema = thresholds_schema();
    let load = |location: &str| {
        let mut t = s.table("BOOTH_THRESHOLDS", &schema, location);
        io_error(s.runtime.block_on(t.load()).unwrap_err())
    };

    let (message, kind) = load("s3://toll-reference/missing.csv");
    assert_eq!(kind, std::io::ErrorKind::NotFound);
    assert!(
        message.starts_with("reference table BOOTH_THRESHOLDS: s3://toll-reference/missing.csv: there is no object with this key; check the reference data source's file key (NoSuchKey: "),
        "{message}"
    );

    let (message, kind) = load("s3://no-such-bucket/thresholds.csv");
    assert_eq!(kind, std::io::ErrorKind::NotFound);
    assert!(
        message.starts_with("reference table BOOTH_THRESHOLDS: s3://no-such-bucket/thresholds.csv: the bucket no-such-bucket does not exist; check the reference data source's bucket (NoSuchBucket: "),
        "{message}"
    );

    let (message, kind) = load("s3://toll-reference/private.csv");
    assert_eq!(kind, std::io::ErrorKind::PermissionDenied);
    assert_eq!(
        message,
        "reference table BOOTH_THRESHOLDS: s3://toll-reference/private.csv: access denied; the credentials rowtime runs with need s3:GetObject on this object (AccessDenied: Access Denied)"
    );

    // Any other refusal: S3's code and message.
    let (message, kind) = load("s3://toll-reference/archived.csv");
    assert_eq!(kind, std::io::ErrorKind::Other);
    assert_eq!(
        message,
        "reference table BOOTH_THRESHOLDS: s3://toll-reference/archived.csv: the object could not be read (InvalidObjectState: The operation is not valid for the object's storage class)"
    );

    // A refresh that fails says the same, and keeps the table's ETag for the next try.
    let mut t = s.table(
        "BOOTH_THRESHOLDS",
        &schema,
        "s3://toll-reference/missing.csv",
    );
    let (message, _) = io_error(s.runtime.block_on(t.refresh()).unwrap_err());
    assert!(
        message.contains("s3://toll-reference/missing.csv: there is no object"),
        "{message}"
    );
    assert_eq!(t.etag(), None);
}
