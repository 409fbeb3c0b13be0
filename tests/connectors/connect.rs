//! `rowtime run --app APP.json --connect` against ministack: every connection a KDA definition
//! declares is made from the definition alone (`KinesisStreamsInput` with its starting position,
//! `InputProcessingConfiguration`'s Lambda, `S3ReferenceDataSource`, and `KinesisStreamsOutput`,
//! `KinesisFirehoseOutput`, `LambdaOutput` destinations), and a reference table from S3 is kept
//! until SIGHUP asks for it again. Expected rows come from the records the test put and the
//! table it uploaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, Running, Server};

const LIMIT: Duration = Duration::from_secs(90);
const ACCOUNT: &str = "000000000000";

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:us-east-1:{ACCOUNT}:{resource}")
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        Dir(support::temp_dir(&format!("connect-{name}")))
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn schema(format: &str, columns: &[(&str, &str, &str)]) -> Value {
    let columns: Vec<Value> = columns
        .iter()
        .map(|(n, t, m)| json!({"Name": n, "SqlType": t, "Mapping": m}))
        .collect();
    let mapping = if format == "CSV" {
        json!({"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}})
    } else {
        json!({"JSONMappingParameters": {"RecordRowPath": "$"}})
    };
    json!({"RecordFormat": {"RecordFormatType": format, "MappingParameters": mapping},
        "RecordEncoding": "UTF-8", "RecordColumns": columns})
}

/// The text of a hex `DATA_ROW`.
fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_definition_connects_its_input_preprocessing_reference_and_three_destinations() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("all");
    let aws = |args: &[&str]| support::aws(&ep, args);
    let input = aws(&["create-stream", "weather", "--shards", "2"]);
    aws(&["create-stream", "weather-out", "--shards", "1"]);
    for bucket in ["weather-ref", "weather-errors"] {
        aws(&["create-bucket", bucket]);
    }
    aws(&[
        "create-delivery-stream",
        "weather-errors",
        "--bucket",
        "weather-errors",
        "--prefix",
        "errors/",
    ]);
    let cities = dir.write("cities.csv", "DENVER,CO\nBOSTON,MA\nAUSTIN,TX\n");
    aws(&[
        "put-object",
        "weather-ref",
        "cities.csv",
        cities.to_str().unwrap(),
    ]);
    let servers = support::servers_dir();
    let pre_state = dir.0.join("preprocess");
    aws(&[
        "create-function",
        "weather-upper",
        servers
            .join("lambdas/preprocess_upper.py")
            .to_str()
            .unwrap(),
        "--env",
        &format!("STATE_DIR={}", pre_state.display()),
    ]);
    let sink_state = dir.0.join("sink");
    aws(&[
        "create-function",
        "weather-hot",
        servers.join("lambdas/output_sink.py").to_str().unwrap(),
        "--env",
        &format!("STATE_DIR={}", sink_state.display()),
    ]);

    // The preprocessing Lambda upper-cases each record (so the schema maps $.CITY), drops the
    // one marked DROP and fails the one marked FAIL.
    let records = [
        (r#"{"city":"denver","temp":29}"#, true),
        (r#"{"city":"boston","temp":31}"#, true),
        (r#"{"city":"austin","temp":38}"#, true),
        (r#"{"city":"paris","temp":33}"#, true),
        (r#"{"city":"DROP me","temp":40}"#, false),
        (r#"{"city":"FAIL me","temp":41}"#, false),
        (r#"{"city":"denver","temp":35}"#, true),
        (r#"{"city":"boston","temp":12}"#, true),
    ];
    let lines: Vec<String> = records.iter().map(|(r, _)| r.to_string()).collect();
    support::put_lines(&ep, &dir.0, "weather", &lines, &[]);
    let state = |city: &str| match city {
        "DENVER" => json!("CO"),
        "BOSTON" => json!("MA"),
        "AUSTIN" => json!("TX"),
        _ => Value::Null,
    };
    let kept: Vec<(String, i64)> = records
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(r, _)| {
            let v: Value = serde_json::from_str(r).unwrap();
            (
                v["city"].as_str().unwrap().to_uppercase(),
                v["temp"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected_out = sorted(
        kept.iter()
            .map(|(c, t)| json!({"CITY": c, "TEMP": t, "STATE": state(c)}).to_string())
            .collect(),
    );
    let expected_hot = sorted(
        kept.iter()
            .filter(|(_, t)| *t > 30)
            .map(|(c, t)| json!({"CITY": c, "TEMP": t}).to_string())
            .collect(),
    );

    let code = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (CITY VARCHAR(16), TEMP INTEGER, STATE VARCHAR(4));
CREATE OR REPLACE PUMP "OUT" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM s.CITY, s.TEMP, c.STATE
    FROM "WEATHER_001" AS s LEFT JOIN "CITIES" AS c ON s.CITY = c.CITY;
CREATE OR REPLACE STREAM "HOT" (CITY VARCHAR(16), TEMP INTEGER);
CREATE OR REPLACE PUMP "HOT_PUMP" AS INSERT INTO "HOT"
    SELECT STREAM CITY, TEMP FROM "WEATHER_001" WHERE TEMP > 30;
"#;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/kda");
    let definition = json!({"ApplicationDetail": {
        "ApplicationName": "weather",
        "ApplicationARN": arn("kinesisanalytics", "application/weather"),
        "ApplicationCode": code,
        "InputDescriptions": [{
            "InputId": "1.1",
            "NamePrefix": "WEATHER",
            "KinesisStreamsInputDescription": {"ResourceARN": arn("kinesis", "stream/weather"),
                "RoleARN": role},
            "InputProcessingConfigurationDescription": {"InputLambdaProcessorDescription": {
                "ResourceARN": arn("lambda", "function:weather-upper"), "RoleARN": role}},
            "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"},
            "InputSchema": schema("JSON", &[("CITY", "VARCHAR(16)", "$.CITY"),
                ("TEMP", "INTEGER", "$.TEMP")]),
            "InputParallelism": {"Count": 1},
        }],
        "ReferenceDataSourceDescriptions": [{
            "TableName": "CITIES",
            "S3ReferenceDataSourceDescription": {"BucketARN": "arn:aws:s3:::weather-ref",
                "FileKey": "cities.csv", "ReferenceRoleARN": role},
            "ReferenceSchema": schema("CSV", &[("CITY", "VARCHAR(16)", ""),
                ("STATE", "VARCHAR(4)", "")]),
        }],
        "OutputDescriptions": [
            {"Name": "DESTINATION_SQL_STREAM",
             "KinesisStreamsOutputDescription": {"ResourceARN": arn("kinesis", "stream/weather-out"),
                "RoleARN": role},
             "DestinationSchema": {"RecordFormatType": "JSON"}},
            {"Name": "HOT",
             "LambdaOutputDescription": {"ResourceARN": arn("lambda", "function:weather-hot"),
                "RoleARN": role},
             "DestinationSchema": {"RecordFormatType": "JSON"}},
            {"Name": "error_stream",
             "KinesisFirehoseOutputDescription": {
                "ResourceARN": arn("firehose", "deliverystream/weather-errors"), "RoleARN": role},
             "DestinationSchema": {"RecordFormatType": "JSON"}},
        ],
    }});
    let app = dir.write("weather.json", &definition.to_string());
    // No --start-position and no --output: all of it comes from the definition.
    let mut cmd = support::rowtime(&ep);
    cmd.args([
        "run",
        "--app",
        app.to_str().unwrap(),
        "--connect",
        "--until-latest",
    ]);
    let done = support::run_to_end(cmd, &dir.0.join("stderr"), LIMIT);
    done.assert_ok();
    assert!(
        done.stdout.is_empty(),
        "nothing on the terminal: {:?}",
        done.stdout
    );

    // DESTINATION_SQL_STREAM → Kinesis.
    let out = support::aws(&ep, &["read-stream", "weather-out"]);
    let got: Vec<String> = out["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
            v.to_string()
        })
        .collect();
    assert_eq!(sorted(got), expected_out);

    // HOT → Lambda, KDA's output contract, each row answered Ok once.
    let received = support::json_lines(&sink_state.join("received.jsonl"));
    let ok: Vec<String> = received
        .iter()
        .filter(|r| r["result"] == "Ok")
        .map(|r| {
            let v: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
            v.to_string()
        })
        .collect();
    assert_eq!(sorted(ok), expected_hot);
    assert!(received.iter().all(|r| r["retryHint"] == 0), "{received:?}");

    // error_stream → Firehose → S3: the record the function failed, with its original bytes.
    let errors = support::eventually(LIMIT, "the error row in S3", || {
        let got = support::aws(
            &ep,
            &["get-objects", "weather-errors", "--prefix", "errors/"],
        );
        let objects = got["objects"].as_array().unwrap().clone();
        (!objects.is_empty()).then_some(objects)
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error: Value = serde_json::from_str(errors[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(error["ERROR_NAME"], "PROCESSING_FAILED", "{error}");
    assert_eq!(unhex(error["DATA_ROW"].as_str().unwrap()), records[5].0);

    // The preprocessing requests were KDA's, from the definition's stream.
    let requests = support::json_lines(&pre_state.join("requests.jsonl"));
    assert!(!requests.is_empty());
    let mut seen = 0;
    for r in &requests {
        let event = &r["event"];
        assert_eq!(event["streamArn"], input["arn"], "{event}");
        assert_eq!(
            event["applicationArn"],
            arn("kinesisanalytics", "application/weather").as_str()
        );
        for rec in event["records"].as_array().unwrap() {
            let meta = &rec["kinesisStreamRecordMetadata"];
            for field in [
                "shardId",
                "partitionKey",
                "sequenceNumber",
                "approximateArrivalTimestamp",
            ] {
                assert!(!meta[field].is_null(), "{field} missing: {rec}");
            }
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        records.len(),
        "each record went through the function once"
    );
    assert!(done.stderr.contains("errors 1,"), "{}", done.stderr);
}

/// The rows of `run` so far, by the N each record carried.
fn states_by_n(run: &Running) -> BTreeMap<u64, Value> {
    run.rows()
        .into_iter()
        .map(|r| (r["N"].as_u64().unwrap(), r["STATE"].clone()))
        .collect()
}

fn put_cities(ep: &str, dir: &Path, ids: std::ops::Range<u64>) {
    let lines: Vec<String> = ids
        .map(|n| {
            format!(
                r#"{{"n":{n},"city":"{}"}}"#,
                ["DENVER", "BOSTON"][n as usize % 2]
            )
        })
        .collect();
    support::put_lines(ep, dir, "cities-in", &lines, &[]);
}

#[test]
fn r3_an_s3_table_is_kept_until_sighup_reloads_it() {
    let ms = Server::ministack();
    let ep = ms.endpoint();
    let dir = Dir::new("r3");
    support::aws(&ep, &["create-stream", "cities-in", "--shards", "1"]);
    support::aws(&ep, &["create-bucket", "cities-ref"]);
    let upload = |text: &str| {
        let f = dir.write("upload.csv", text);
        support::aws(
            &ep,
            &[
                "put-object",
                "cities-ref",
                "cities.csv",
                f.to_str().unwrap(),
            ],
        );
    };
    upload("DENVER,CO\nBOSTON,MA\n");
    let code = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (N INTEGER, CITY VARCHAR(16), STATE VARCHAR(16));
CREATE OR REPLACE PUMP "OUT" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM s.N, s.CITY, c.STATE
    FROM "SOURCE_SQL_STREAM_001" AS s LEFT JOIN "CITIES" AS c ON s.CITY = c.CITY;
"#;
    let definition = json!({"ApplicationDetail": {
        "ApplicationName": "cities",
        "ApplicationCode": code,
        "InputDescriptions": [{
            "NamePrefix": "SOURCE_SQL_STREAM",
            "KinesisStreamsInputDescription": {"ResourceARN": arn("kinesis", "stream/cities-in")},
            "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"},
            "InputSchema": schema("JSON", &[("N", "INTEGER", "$.n"),
                ("CITY", "VARCHAR(16)", "$.city")]),
        }],
        "ReferenceDataSourceDescriptions": [{
            "TableName": "CITIES",
            "S3ReferenceDataSourceDescription": {"BucketARN": "arn:aws:s3:::cities-ref",
                "FileKey": "cities.csv"},
            "ReferenceSchema": schema("CSV", &[("CITY", "VARCHAR(16)", ""),
                ("STATE", "VARCHAR(16)", "")]),
        }],
    }});
    let app = dir.write("cities.json", &definition.to_string());
    let mut cmd = support::rowtime(&ep);
    cmd.args(["run", "--app", app.to_str().unwrap(), "--connect"])
        .args(["--output", "DESTINATION_SQL_STREAM=-"]);
    let mut run = Running::start(cmd, &dir.0.join("stderr"));
    put_cities(&ep, &dir.0, 0..4);
    run.wait_for_lines(4, LIMIT);
    // A new object: without --reference-refresh the table keeps its rows (as KDA did).
    upload("DENVER,Colorado\nBOSTON,Massachusetts\n");
    put_cities(&ep, &dir.0, 4..8);
    run.wait_for_lines(8, LIMIT);
    run.signal("HUP");
    run.wait_until(LIMIT, "the table is reloaded", |_, stderr| {
        stderr.contains("reference table CITIES reloaded from s3://cities-ref/cities.csv (2 rows)")
    });
    put_cities(&ep, &dir.0, 8..12);
    run.wait_for_lines(12, LIMIT);
    let states = states_by_n(&run);
    let done = run.stop(LIMIT);
    done.assert_ok();
    let expected: BTreeMap<u64, Value> = (0..12)
        .map(|n| {
            let state = match (n < 8, n % 2) {
                (true, 0) => "CO",
                (true, _) => "MA",
                (false, 0) => "Colorado",
                (false, _) => "Massachusetts",
            };
            (n, json!(state))
        })
        .collect();
    assert_eq!(states, expected);
    assert_eq!(done.stdout.len(), 12, "{:?}", done.stdout);
}
