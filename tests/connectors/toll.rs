//! The toll-road architecture end to end, as `examples/toll-architecture.sh` sets it up on
//! ministack: transactions in the Kinesis stream `toll-transactions` (put by boto3), billing out
//! through the Firehose delivery stream `toll-billing` into S3, alerts out to the Lambda
//! function `toll-booth-alerts` (`examples/toll_alert_handler.py`), thresholds from
//! `s3://toll-reference/booth_thresholds.csv`, error_stream through Firehose into S3. The
//! applications are the shipped `sql/toll_billing_cloud.json` and
//! `sql/toll_booth_alerts_cloud.json`, run with `--connect --start-position TRIM_HORIZON
//! --until-latest --rowtime-from EVENT_TIME`.
//!
//! - One shard: the records come in the file's order, so the rows are exactly those of a
//!   `rowtime run` of the file-based definitions over the file.
//! - Four shards: the records interleave, so a replayed ROWTIME is clamped differently and the
//!   windows change; every record must still be counted exactly once, which the test checks
//!   against its own reading of the records it put.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{self, Finished, Server};

const SAMPLE: &str = "sql/data/toll_transactions.jsonl";
const THRESHOLDS: &str = "reference-data/toll-reference/booth_thresholds.csv";
const BILLING: &str = "sql/toll_billing_cloud.json";
const ALERTS: &str = "sql/toll_booth_alerts_cloud.json";
const LIMIT: Duration = Duration::from_secs(120);

/// ministack with the architecture's resources, and a folder for the test's files.
struct Architecture {
    endpoint: String,
    dir: PathBuf,
    /// What the alert handler received, one JSON line per alert.
    alerts: PathBuf,
    _ministack: Server,
}

impl Architecture {
    fn new(name: &str, shards: usize) -> Architecture {
        let ms = Server::ministack();
        let ep = ms.endpoint();
        let dir = support::temp_dir(&format!("toll-{name}"));
        let alerts = dir.join("alerts-received.jsonl");
        let aws = |args: &[&str]| support::aws(&ep, args);
        aws(&[
            "create-stream",
            "toll-transactions",
            "--shards",
            &shards.to_string(),
        ]);
        for bucket in ["toll-billing", "toll-errors", "toll-reference"] {
            aws(&["create-bucket", bucket]);
        }
        for (stream, bucket, prefix) in [
            ("toll-billing", "toll-billing", "billing/"),
            ("toll-billing-errors", "toll-errors", "billing/"),
            ("toll-booth-alerts-errors", "toll-errors", "alerts/"),
        ] {
            aws(&[
                "create-delivery-stream",
                stream,
                "--bucket",
                bucket,
                "--prefix",
                prefix,
            ]);
        }
        aws(&[
            "put-object",
            "toll-reference",
            "booth_thresholds.csv",
            THRESHOLDS,
        ]);
        let handler = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/toll_alert_handler.py");
        aws(&[
            "create-function",
            "toll-booth-alerts",
            handler.to_str().unwrap(),
            "--env",
            &format!("ALERTS_FILE={}", alerts.display()),
        ]);
        Architecture {
            endpoint: ep,
            dir,
            alerts,
            _ministack: ms,
        }
    }

    fn produce(&self, lines: &[String]) {
        let put = support::put_lines(&self.endpoint, &self.dir, "toll-transactions", lines, &[]);
        assert_eq!(put["records"].as_array().unwrap().len(), lines.len());
    }

    /// `rowtime run --app APP --connect …` with ROWTIME in every row delivered.
    fn run(&self, app: &str, extra: &[&str]) -> Finished {
        let mut cmd = support::rowtime(&self.endpoint);
        cmd.args(["run", "--app", app, "--connect"])
            .args(["--start-position", "TRIM_HORIZON", "--until-latest"])
            .args(["--rowtime-from", "EVENT_TIME", "--with-rowtime"])
            .args(extra);
        let tag = app.rsplit('/').next().unwrap();
        let done = support::run_to_end(cmd, &self.dir.join(format!("{tag}.stderr")), LIMIT);
        done.assert_ok();
        done
    }

    /// The records under `s3://bucket/prefix` once there are `n` (ministack's Firehose writes
    /// one object per record, just after the call returns), each parsed.
    fn objects(&self, bucket: &str, prefix: &str, n: usize) -> Vec<Value> {
        let objects =
            support::eventually(LIMIT, &format!("{n} objects in {bucket}/{prefix}"), || {
                let got =
                    support::aws(&self.endpoint, &["get-objects", bucket, "--prefix", prefix]);
                let objects = got["objects"].as_array().unwrap().clone();
                (objects.len() >= n).then_some(objects)
            });
        assert_eq!(objects.len(), n, "{bucket}/{prefix}");
        objects
            .iter()
            .map(|o| {
                let body = o["data"].as_str().unwrap();
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{}: {e}: {body}", o["key"]))
            })
            .collect()
    }

    /// What the alert handler was given, once it holds `n` alerts.
    fn received_alerts(&self, n: usize) -> Vec<Value> {
        support::eventually(LIMIT, &format!("{n} alerts at the Lambda"), || {
            let got = support::json_lines(&self.alerts);
            (got.len() >= n).then_some(got)
        })
    }
}

impl Drop for Architecture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn sample_lines() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE))
        .expect("the shipped sample");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Rows as sorted canonical JSON texts (keys sorted), to compare as multisets.
pub(crate) fn canonical(rows: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().map(Value::to_string).collect();
    out.sort();
    out
}

/// A `rowtime run` of a file-based definition over the sample file: its rows (with ROWTIME) per
/// stream.
pub(crate) fn file_run(dir: &Path, app: &str, streams: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let mut cmd = support::rowtime("http://127.0.0.1:9");
    cmd.args(["run", "--app", app, "--input", SAMPLE]).args([
        "--rowtime-from",
        "EVENT_TIME",
        "--with-rowtime",
    ]);
    let files: Vec<(String, PathBuf)> = streams
        .iter()
        .map(|s| (s.to_string(), dir.join(format!("file-run-{s}.jsonl"))))
        .collect();
    for (stream, file) in &files {
        cmd.args(["--output", &format!("{stream}={}", file.display())]);
    }
    support::run_to_end(cmd, &dir.join("file-run.stderr"), LIMIT).assert_ok();
    files
        .into_iter()
        .map(|(s, f)| (s, support::json_lines(&f)))
        .collect()
}

/// The bytes an error row carries (`DATA_ROW` is their hex).
fn data_row(error: &Value) -> String {
    let hex = error["DATA_ROW"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn one_shard_gives_exactly_the_rows_of_the_file_run() {
    let arch = Architecture::new("one-shard", 1);
    arch.produce(&sample_lines());
    let billing = arch.run(BILLING, &[]);
    let alerts = arch.run(ALERTS, &[]);

    let file_billing = file_run(
        &arch.dir,
        "sql/toll_billing.json",
        &["DESTINATION_SQL_STREAM", "error_stream"],
    );
    let expected_rows = &file_billing["DESTINATION_SQL_STREAM"];
    let expected_errors = &file_billing["error_stream"];
    assert!(expected_rows.len() > 1000, "{}", expected_rows.len());
    assert_eq!(expected_errors.len(), 25, "the sample's malformed records");
    let delivered = arch.objects("toll-billing", "billing/", expected_rows.len());
    assert_eq!(canonical(&delivered), canonical(expected_rows));
    let errors = arch.objects("toll-errors", "billing/", expected_errors.len());
    assert_eq!(canonical(&errors), canonical(expected_errors));
    assert!(
        billing.stderr.contains(&format!(
            "rows in 2000, rows out {}, errors 25",
            expected_rows.len()
        )),
        "{}",
        billing.stderr
    );

    let file_alerts = file_run(
        &arch.dir,
        "sql/toll_booth_alerts.json",
        &["DESTINATION_SQL_STREAM", "error_stream"],
    );
    let expected_alerts = &file_alerts["DESTINATION_SQL_STREAM"];
    assert!(!expected_alerts.is_empty());
    let received = arch.received_alerts(expected_alerts.len());
    assert_eq!(canonical(&received), canonical(expected_alerts));
    let errors = arch.objects("toll-errors", "alerts/", 25);
    assert_eq!(canonical(&errors), canonical(&file_alerts["error_stream"]));
    assert!(alerts.stderr.contains("rows in 2000,"), "{}", alerts.stderr);
}

/// The test's own reading of a record under the toll input schema: `(BOOTH_ID, ACCOUNT_ID,
/// AMOUNT in cents)` when it is a row, `None` when it belongs in error_stream (not JSON, AMOUNT
/// not a number, EVENT_TIME missing or not a timestamp: replay needs it).
pub(crate) fn accepted(line: &str) -> Option<(String, String, i64)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let amount = v.get("amount")?.as_f64()?;
    let time = v.get("event_time")?.as_str()?;
    chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some((
        v["booth_id"].as_str()?.to_string(),
        v["account_id"].as_str()?.to_string(),
        (amount * 100.0).round() as i64,
    ))
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) * 100.0).round() as i64
}

/// (half-hour slot of the day, MIN_VEHICLES) of each booth, read from the thresholds file.
fn thresholds() -> BTreeMap<(String, i64), i64> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(THRESHOLDS)).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[0].to_string(), f[1].parse().unwrap()),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn four_shards_account_for_every_record_exactly_once() {
    let arch = Architecture::new("four-shards", 4);
    let mut lines = sample_lines();
    // A few malformed records of the test's own, besides the sample's.
    lines.insert(100, "not a toll record".to_string());
    lines.insert(
        900,
        r#"{"booth_id":"B02","account_id":"A000001","amount":"#.to_string(),
    );
    lines.push(
        r#"{"booth_id":"B01","account_id":"A000002","vehicle_class":"car","amount":2.00}"#
            .to_string(),
    );
    arch.produce(&lines);
    let produced = lines.len();
    let good: Vec<(String, String, i64)> = lines.iter().filter_map(|l| accepted(l)).collect();
    let mut rejected: Vec<String> = lines
        .iter()
        .filter(|l| accepted(l).is_none())
        .cloned()
        .collect();
    rejected.sort();
    assert_eq!(rejected.len(), 28);

    // Billing: every accepted record in exactly one account's window.
    let billing = arch.run(BILLING, &[]);
    let summary = billing
        .stderr
        .lines()
        .find(|l| l.contains("rows in"))
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains(&format!("rows in {produced}, ")) && summary.contains("errors 28"),
        "{summary}"
    );
    let rows_out: usize = summary
        .split("rows out ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    let totals = arch.objects("toll-billing", "billing/", rows_out);
    let mut trips: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &totals {
        let t = trips
            .entry(r["ACCOUNT_ID"].as_str().unwrap().to_string())
            .or_default();
        t.0 += r["TRIPS"].as_i64().unwrap();
        t.1 += cents(&r["TOTAL_AMOUNT"]);
    }
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (_, account, amount) in &good {
        let t = expected.entry(account.clone()).or_default();
        t.0 += 1;
        t.1 += amount;
    }
    assert_eq!(trips, expected, "trips and amounts per account");
    let errors = arch.objects("toll-errors", "billing/", rejected.len());
    let mut data: Vec<String> = errors.iter().map(data_row).collect();
    data.sort();
    assert_eq!(data, rejected, "one error row per malformed record");
    assert_eq!(
        good.len() + errors.len(),
        produced,
        "accepted + error_stream = produced"
    );

    // Alerts, with the intermediate counts written out too (an --output beside the
    // definition's destinations): every accepted record in exactly one booth's count, and the
    // Lambda given exactly the counts below their thresholds.
    let counts_file = arch.dir.join("booth-counts.jsonl");
    arch.run(
        ALERTS,
        &[
            "--output",
            &format!("BOOTH_COUNTS={}", counts_file.display()),
        ],
    );
    let counts = support::json_lines(&counts_file);
    let mut vehicles: BTreeMap<String, i64> = BTreeMap::new();
    for c in &counts {
        *vehicles
            .entry(c["BOOTH_ID"].as_str().unwrap().to_string())
            .or_default() += c["VEHICLES"].as_i64().unwrap();
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (booth, _, _) in &good {
        *expected.entry(booth.clone()).or_default() += 1;
    }
    assert_eq!(vehicles, expected, "vehicles per booth");
    let limits = thresholds();
    let expected_alerts: Vec<String> = counts
        .iter()
        .filter_map(|c| {
            let start = c["WINDOW_START"].as_str().unwrap();
            let t = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            let slot = i64::from(chrono::Timelike::hour(&t)) * 2
                + i64::from(chrono::Timelike::minute(&t)) / 30;
            let min = limits.get(&(c["BOOTH_ID"].as_str().unwrap().to_string(), slot))?;
            let n = c["VEHICLES"].as_i64().unwrap();
            (n < *min).then(|| {
                serde_json::json!({"ROWTIME": c["ROWTIME"], "BOOTH_ID": c["BOOTH_ID"],
                    "WINDOW_START": c["WINDOW_START"], "VEHICLES": n, "MIN_VEHICLES": min})
                .to_string()
            })
        })
        .collect();
    let mut expected_alerts = expected_alerts;
    expected_alerts.sort();
    assert!(!expected_alerts.is_empty());
    let received = arch.received_alerts(expected_alerts.len());
    assert_eq!(canonical(&received), expected_alerts);
    let errors = arch.objects("toll-errors", "alerts/", rejected.len());
    assert_eq!(errors.len() + good.len(), produced);
}
