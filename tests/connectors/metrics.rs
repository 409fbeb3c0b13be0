//! `rowtime run --metrics` against real services (ministack): KDA's `InputProcessing.*` for the
//! input's preprocessing function, `Success` and `LambdaDelivery.*` for a Lambda output, and
//! `MillisBehindLatest` for the Kinesis input, read from the metrics endpoint while it runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use super::support::{self, Server};

const APP: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (N INTEGER, K VARCHAR(8));
CREATE OR REPLACE PUMP \"COPY_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM N, K FROM \"SOURCE_SQL_STREAM_001\";";

/// The metrics text served at `address` (`127.0.0.1:PORT`).
fn metrics(address: &str) -> String {
    let mut s = TcpStream::connect(address).expect("the metrics endpoint accepts connections");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw
}

/// The value of the sample line that starts with `name{labels}`, if there is one.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metrics_count_the_preprocessing_and_the_lambda_delivery_under_kdas_names() {
    let server = Server::ministack();
    let endpoint = server.endpoint();
    let dir = support::temp_dir("metrics");
    support::aws(&endpoint, &["create-stream", "in", "--shards", "1"]);
    let lambdas = support::servers_dir().join("lambdas");
    let pre_state = format!("STATE_DIR={}", dir.join("pre").display());
    support::aws(
        &endpoint,
        &[
            "create-function",
            "pre",
            lambdas.join("preprocess_upper.py").to_str().unwrap(),
            "--timeout",
            "10",
            "--env",
            &pre_state,
            "--env",
            "UPPER=0",
            "--env",
            "DROP_MARKER=DROP",
            "--env",
            "FAIL_MARKER=FAIL",
        ],
    );
    let out_state = format!("STATE_DIR={}", dir.join("out").display());
    support::aws(
        &endpoint,
        &[
            "create-function",
            "sink",
            lambdas.join("output_sink.py").to_str().unwrap(),
            "--timeout",
            "10",
            "--env",
            &out_state,
        ],
    );
    // Ten records: two the function drops, two it fails, six it passes on.
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let k = match i {
                2 | 5 => "DROP".to_string(),
                3 | 7 => "FAIL".to_string(),
                _ => format!("k{i}"),
            };
            format!("{{\"n\":{i},\"k\":\"{k}\"}}")
        })
        .collect();
    let ok_bytes: usize = lines
        .iter()
        .filter(|l| !l.contains("DROP") && !l.contains("FAIL"))
        .map(String::len)
        .sum();
    let file = dir.join("records.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    support::aws(
        &endpoint,
        &[
            "put-records",
            "in",
            file.to_str().unwrap(),
            "--key-field",
            "k",
        ],
    );
    let definition = serde_json::json!({"ApplicationDetail": {
        "ApplicationName": "metrics",
        "ApplicationCode": APP,
        "InputDescriptions": [{
            "NamePrefix": "SOURCE_SQL_STREAM",
            "InputSchema": {
                "RecordFormat": {"RecordFormatType": "JSON",
                    "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                "RecordEncoding": "UTF-8",
                "RecordColumns": [{"Name": "N", "Mapping": "$.n", "SqlType": "INTEGER"},
                                  {"Name": "K", "Mapping": "$.k", "SqlType": "VARCHAR(8)"}]},
            "KinesisStreamsInputDescription": {"ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/in"},
            "InputProcessingConfigurationDescription": {"InputLambdaProcessorDescription":
                {"ResourceARN": "arn:aws:lambda:us-east-1:000000000000:function:pre"}},
            "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}
        }],
        "OutputDescriptions": [{
            "Name": "DESTINATION_SQL_STREAM",
            "LambdaOutputDescription": {"ResourceARN": "arn:aws:lambda:us-east-1:000000000000:function:sink"},
            "DestinationSchema": {"RecordFormatType": "JSON"}
        }]
    }});
    let app = dir.join("metrics.json");
    std::fs::write(&app, definition.to_string()).unwrap();
    let port = support::free_port();
    let address = format!("127.0.0.1:{port}");
    let mut child = support::rowtime(&endpoint)
        .args([
            "run",
            "--app",
            app.to_str().unwrap(),
            "--connect",
            "--metrics",
            &address,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lambda_ok = "kda_lambda_delivery_ok_records_total{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",destination=\"lambda://sink\"}";
    let text = std::panic::catch_unwind(|| {
        support::eventually(
            Duration::from_secs(60),
            "six records delivered to sink",
            || {
                let text = std::net::TcpStream::connect(&address)
                    .ok()
                    .map(|_| metrics(&address))?;
                // The bytes are counted apart from the records: wait for both.
                let out_bytes = value(
                    &text,
                    "kda_bytes_total{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",direction=\"output\"}",
                );
                (value(&text, lambda_ok) == Some(6.0) && out_bytes.unwrap_or(0.0) > 0.0)
                    .then_some(text)
            },
        )
    });
    let _ = child.kill();
    let stopped = child.wait_with_output().unwrap();
    let text = text.unwrap_or_else(|_| {
        panic!(
            "rowtime said:\n{}\nmetrics:\n{}",
            support::text(&stopped.stderr),
            std::net::TcpStream::connect(&address).map_or(String::new(), |_| metrics(&address))
        )
    });
    let series =
        |name: &str| format!("{name}{{application=\"metrics\",stream=\"SOURCE_SQL_STREAM_001\"}}");
    let pre = |name: &str| value(&text, &series(name));
    assert_eq!(
        pre("kda_input_processing_ok_records_total"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        pre("kda_input_processing_ok_bytes_total"),
        Some(ok_bytes as f64),
        "{text}"
    );
    assert_eq!(
        pre("kda_input_processing_dropped_records_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        pre("kda_input_processing_processing_failed_records_total"),
        Some(2.0),
        "{text}"
    );
    assert!(
        pre("kda_input_processing_success_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        pre("kda_input_processing_duration_seconds_total").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(pre("kda_millis_behind_latest").is_some(), "{text}");
    assert_eq!(
        value(
            &text,
            "kda_success{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",destination=\"lambda://sink\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // Output bytes: the data the function received and answered Ok, byte for byte.
    let received = std::fs::read_to_string(dir.join("out/received.jsonl")).unwrap();
    let delivered: usize = received
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["result"] == "Ok")
        .map(|r| r["data"].as_str().unwrap().len())
        .sum();
    assert!(delivered > 0, "{received}");
    assert_eq!(
        value(
            &text,
            "kda_bytes_total{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",direction=\"output\"}"
        ),
        Some(delivered as f64),
        "{text}"
    );
    assert!(
        value(
            &text,
            "kda_lambda_delivery_duration_seconds_total{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",destination=\"lambda://sink\"}"
        )
        .unwrap_or(0.0)
            > 0.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "kda_lambda_delivery_delivery_failed_records_total{application=\"metrics\",stream=\"DESTINATION_SQL_STREAM\",destination=\"lambda://sink\"}"
        ),
        Some(0.0),
        "{text}"
    );
}
