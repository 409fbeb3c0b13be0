//! Large inputs through the real `rowtime` binary: memory stays bounded under a slow consumer
//! (backpressure from the output back to the reader), and every one of 10 M records is either
//! an output row or an error_stream row holding its bytes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rowtime");

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rowtime-volume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A field of /proc/PID/status, in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The memory bound: a run's peak resident set under a slow consumer must stay below it,
/// whatever the size of the input waiting (today about 50 MB in a debug build).
const PEAK_RSS_BOUND_KB: u64 = 160 * 1024;

#[test]
fn a_slow_consumer_holds_the_reader_back_and_memory_stays_bounded() {
    // 10 M transactions offered as fast as the generator writes them, billed, and the output
    // read at 1,000 rows/s. Without backpressure the input would pile up in memory at tens of
    // MB/s; with it, the reader waits for the dataflow, which waits for the writer.
    let mut generator = Command::new(BIN)
        .args(["generate", "toll", "--count", "10000000", "--seed", "11"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = Command::new(BIN)
        .args([
            "run",
            "--app",
            &repo("sql/toll_billing.json"),
            "--input",
            "-",
        ])
        .args(["--rowtime-from", "EVENT_TIME"])
        .args(["--output", "DESTINATION_SQL_STREAM=-"])
        .stdin(generator.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = run.id();
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let started = Instant::now();
    let mut rows = 0u64;
    let mut line = Vec::new();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(12) {
        line.clear();
        assert!(
            out.read_until(b'\n', &mut line).unwrap() > 0,
            "the output ended early"
        );
        rows += 1;
        // 1,000 rows/s.
        let due = Duration::from_millis(rows);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        if rows.is_multiple_of(500) {
            peak = peak.max(status_kb(pid, "VmHWM:").expect("the run is alive"));
        }
    }
    peak = peak.max(status_kb(pid, "VmHWM:").expect("the run is alive"));
    let _ = run.kill();
    let _ = generator.kill();
    let _ = run.wait();
    let _ = generator.wait();
    eprintln!(
        "backpressure: {rows} rows read in 12 s, peak RSS {} MB",
        peak / 1024
    );
    assert!(rows > 5_000, "the output came at {rows} rows in 12 s");
    assert!(
        peak < PEAK_RSS_BOUND_KB,
        "peak RSS {peak} kB under a slow consumer: over the bound of {PEAK_RSS_BOUND_KB} kB"
    );
}

/// Whether a generated toll line is a good record for `sql/toll_input_schema.json`: the five
/// fields in order, VARCHARs within their lengths, AMOUNT a number with two decimals that fits
/// DECIMAL(8,2), EVENT_TIME `YYYY-MM-DD HH:MM:SS.mmm`.
fn well_formed(line: &str) -> bool {
    let Some(body) = line.strip_prefix('{').and_then(|l| l.strip_suffix('}')) else {
        return false;
    };
    let fields: Vec<&str> = body.split(',').collect();
    let names = [
        "booth_id",
        "account_id",
        "vehicle_class",
        "amount",
        "event_time",
    ];
    if fields.len() != names.len() {
        return false;
    }
    let mut values = Vec::new();
    for (field, name) in fields.iter().zip(names) {
        let Some(value) = field.strip_prefix(&format!("\"{name}\":")) else {
            return false;
        };
        values.push(value);
    }
    let text = |v: &str, max: usize| {
        v.len() >= 2
            && v.starts_with('"')
            && v.ends_with('"')
            && v.len() - 2 <= max
            && !v[1..v.len() - 1].contains(['"', '\\'])
    };
    let amount = values[3].split_once('.').is_some_and(|(whole, cents)| {
        !whole.is_empty()
            && whole.len() <= 6
            && whole.bytes().all(|b| b.is_ascii_digit())
            && cents.len() == 2
            && cents.bytes().all(|b| b.is_ascii_digit())
    });
    let time = text(values[4], 23)
        && chrono::NaiveDateTime::parse_from_str(
            &values[4][1..values[4].len() - 1],
            "%Y-%m-%d %H:%M:%S%.3f",
        )
        .is_ok();
    text(values[0], 8) && text(values[1], 16) && text(values[2], 16) && amount && time
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("DATA_ROW is hex"))
        .collect()
}

#[test]
fn ten_million_records_are_each_accounted_for_once() {
    let dir = temp_dir("accounting");
    let app = dir.join("all.sql");
    std::fs::write(
        &app,
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (
            BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16), VEHICLE_CLASS VARCHAR(16),
            AMOUNT DECIMAL(8,2), EVENT_TIME TIMESTAMP);
         CREATE OR REPLACE PUMP \"ALL_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
            SELECT STREAM BOOTH_ID, ACCOUNT_ID, VEHICLE_CLASS, AMOUNT, EVENT_TIME
            FROM \"SOURCE_SQL_STREAM_001\";",
    )
    .unwrap();
    let errors = dir.join("errors.jsonl");
    let records: u64 = 10_000_000;
    let mut generator = Command::new(BIN)
        .args(["generate", "toll", "--count", &records.to_string()])
        .args(["--seed", "21", "--bad-share", "0.01"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = Command::new(BIN)
        .arg("run")
        .arg(&app)
        .args(["--input-schema", &repo("sql/toll_input_schema.json")])
        .args(["--input", "-", "--rowtime-from", "EVENT_TIME"])
        .args(["--output", "DESTINATION_SQL_STREAM=-"])
        .arg("--output")
        .arg(format!("error_stream={}", errors.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The records pass through this test on their way in: it keeps the malformed ones.
    let source = generator.stdout.take().unwrap();
    let sink = run.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut malformed: HashMap<Vec<u8>, u32> = HashMap::new();
        let (mut seen, mut good) = (0u64, 0u64);
        let mut to_run = BufWriter::with_capacity(1 << 20, sink);
        let mut from = BufReader::with_capacity(1 << 20, source);
        let mut line = String::new();
        while from.read_line(&mut line).unwrap() > 0 {
            seen += 1;
            to_run.write_all(line.as_bytes()).unwrap();
            let record = line.trim_end_matches('\n');
            if well_formed(record) {
                good += 1;
            } else {
                *malformed.entry(record.as_bytes().to_vec()).or_default() += 1;
            }
            line.clear();
        }
        to_run.flush().unwrap();
        (seen, good, malformed)
    });
    let mut rows = 0u64;
    let mut out = BufReader::with_capacity(1 << 20, run.stdout.take().unwrap());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        rows += memchr_count(&buf[..n]);
    }
    let status = run.wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(generator.wait().unwrap().success());
    let (seen, good, mut malformed) = feeder.join().unwrap();
    assert_eq!(seen, records);
    let error_rows: Vec<serde_json::Value> = std::fs::read_to_string(&errors)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bad = records - good;
    assert!(bad > records / 200, "{bad} malformed records");
    assert_eq!(rows, good, "every good record is an output row");
    assert_eq!(
        rows + error_rows.len() as u64,
        records,
        "accepted + error_stream = records in"
    );
    for e in &error_rows {
        let bytes = unhex(e["DATA_ROW"].as_str().expect("DATA_ROW"));
        let left = malformed.get_mut(&bytes).unwrap_or_else(|| {
            panic!(
                "an error row for a record that is not malformed, or reported twice: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            *left > 0,
            "reported twice: {}",
            String::from_utf8_lossy(&bytes)
        );
        *left -= 1;
    }
    assert!(
        malformed.values().all(|n| *n == 0),
        "every malformed record is in error_stream"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}
