//! Oracle test for the toll-road demo: both applications (`sql/toll_billing.json` and
//! `sql/toll_booth_alerts.json`), run by the real binary in replay mode on generated input, must
//! give exactly what a plain, independent computation over the same lines gives.
//!
//! The oracle below knows nothing of the engine: it parses each input line with serde_json,
//! decides by KDA's rules whether the line reaches `SOURCE_SQL_STREAM_001` or `error_stream`
//! (invalid JSON; AMOUNT not a number; EVENT_TIME missing, null or not a timestamp), keeps
//! ROWTIME = max(previous ROWTIME, EVENT_TIME), and aggregates in integer cents and
//! milliseconds:
//! - billing: per (ACCOUNT_ID, 10-minute window of ROWTIME) the trip count and amount;
//! - alerts: per (BOOTH_ID, 30-minute window) the vehicle count, joined with
//!   `reference-data/toll-reference/booth_thresholds.csv` on booth and slot
//!   (hour * 2 + minute / 30 of the window start, UTC), kept when below MIN_VEHICLES.
//!
//! All windows close at the end of the bounded input. Rows are compared as sorted multisets;
//! the output order is checked separately (window starts never decrease).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rowtime");
const CRATE_ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BILLING_APP: &str = "sql/toll_billing.json";
const ALERTS_APP: &str = "sql/toll_booth_alerts.json";
const THRESHOLDS: &str = "reference-data/toll-reference/booth_thresholds.csv";
const SAMPLE: &str = "sql/data/toll_transactions.jsonl";

const MS_PER_DAY: i64 = 86_400_000;
const BILLING_WINDOW_MS: i64 = 10 * 60_000;
const ALERT_WINDOW_MS: i64 = 30 * 60_000;

const BILLING_KEYS: [&str; 4] = ["ACCOUNT_ID", "WINDOW_START", "TRIPS", "TOTAL_AMOUNT"];
const COUNT_KEYS: [&str; 3] = ["BOOTH_ID", "WINDOW_START", "VEHICLES"];
const ALERT_KEYS: [&str; 4] = ["BOOTH_ID", "WINDOW_START", "VEHICLES", "MIN_VEHICLES"];
const ERROR_KEYS: [&str; 7] = [
    "ERROR_TIME",
    "ERROR_LEVEL",
    "ERROR_NAME",
    "MESSAGE",
    "DATA_ROWTIME",
    "DATA_ROW",
    "PUMP_NAME",
];

/// (ACCOUNT_ID, WINDOW_START, TRIPS, TOTAL_AMOUNT in cents)
type BillingRow = (String, Ts, i64, i64);
/// (BOOTH_ID, WINDOW_START, VEHICLES, MIN_VEHICLES)
type AlertRow = (String, Ts, i64, i64);

/// A timestamp in UTC milliseconds that prints as `YYYY-MM-DD HH:MM:SS.fff` in messages.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ts(i64);

impl Debug for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", format_timestamp(self.0))
    }
}

#[test]
fn clean_input_matches_oracle() {
    check_case("clean", 20_000, 7, 0.0);
}

#[test]
fn input_with_malformed_lines_matches_oracle() {
    check_case("dirty", 20_000, 11, 0.03);
}

#[test]
fn shipped_sample_matches_oracle_and_shows_alerts() {
    let sample = fs::read(Path::new(CRATE_ROOT).join(SAMPLE)).expect("read the shipped sample");
    let regenerated = generate_with_library(2_000, 42, 0.01).0;
    assert!(
        sample == regenerated,
        "{SAMPLE} is not what the generator gives for --count 2000 --seed 42 --bad-share 0.01; \
         regenerate it with `rowtime generate toll --count 2000 --seed 42 --bad-share 0.01`"
    );
    let oracle = Oracle::compute(&sample, &load_thresholds());
    assert!(
        !oracle.bad_lines.is_empty(),
        "the sample should show error_stream too"
    );

    let dir = TempDir::new("sample");
    let input = Path::new(CRATE_ROOT).join(SAMPLE);
    let alerts = run_app(&dir, ALERTS_APP, &input, "alerts", &[]);
    check_errors(ALERTS_APP, &alerts.errors, &oracle.bad_lines);
    let actual = alert_rows(&alerts.output);
    check_window_order(ALERTS_APP, &actual, |r| r.1);
    assert_same_rows(ALERTS_APP, &oracle.alerts, &actual);
    assert!(
        !actual.is_empty(),
        "the shipped sample should raise at least one booth alert"
    );

    let billing = run_app(&dir, BILLING_APP, &input, "billing", &[]);
    check_errors(BILLING_APP, &billing.errors, &oracle.bad_lines);
    let actual = billing_rows(&billing.output);
    check_window_order(BILLING_APP, &actual, |r| r.1);
    assert_same_rows(BILLING_APP, &oracle.billing, &actual);
}

/// The alerts application's intermediate stream BOOTH_COUNTS, written with an extra `--output`:
/// every good row is counted once, in its booth and half hour.
#[test]
fn sample_booth_counts_match_oracle() {
    let sample = fs::read(Path::new(CRATE_ROOT).join(SAMPLE)).expect("read the shipped sample");
    let oracle = Oracle::compute(&sample, &load_thresholds());
    let dir = TempDir::new("counts");
    let counts_path = dir.path().join("counts.jsonl");
    let extra = format!("BOOTH_COUNTS={}", counts_path.display());
    let input = Path::new(CRATE_ROOT).join(SAMPLE);
    run_app(&dir, ALERTS_APP, &input, "counts", &["--output", &extra]);
    let text = fs::read_to_string(&counts_path).expect("read BOOTH_COUNTS output");
    let what = "BOOTH_COUNTS output";
    let actual: Vec<(String, Ts, i64)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let obj = parse_object(line, what, i);
            check_keys(&obj, &COUNT_KEYS, what, i);
            (
                string_field(&obj, "BOOTH_ID", what, i),
                time_field(&obj, "WINDOW_START", what, i),
                int_field(&obj, "VEHICLES", what, i),
            )
        })
        .collect();
    let expected: Vec<(String, Ts, i64)> = oracle
        .counts
        .iter()
        .map(|((booth, window), &n)| (booth.clone(), *window, n))
        .collect();
    check_window_order("BOOTH_COUNTS", &actual, |r| r.1);
    assert_same_rows("BOOTH_COUNTS", &expected, &actual);
    let vehicles: i64 = actual.iter().map(|r| r.2).sum();
    assert_eq!(
        vehicles, oracle.good as i64,
        "BOOTH_COUNTS lost or invented rows"
    );
}

/// Generates one input, runs both applications on it and compares with the oracle.
fn check_case(tag: &str, count: u64, seed: u64, bad_share: f64) {
    let case = format!("case {tag} (count {count}, seed {seed}, bad share {bad_share})");
    let dir = TempDir::new(tag);
    let input = dir.path().join("input.jsonl");
    let generated = run_ok(&[
        "generate",
        "toll",
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
        "--bad-share",
        &bad_share.to_string(),
    ])
    .stdout;
    fs::write(&input, &generated).expect("write the input file");
    let (library_bytes, reported_bad) = generate_with_library(count, seed, bad_share);
    assert!(
        generated == library_bytes,
        "{case}: `rowtime generate toll` wrote other bytes than generate::generate_toll"
    );
    assert_eq!(
        generated.iter().filter(|&&b| b == b'\n').count() as u64,
        count,
        "{case}: generated line count"
    );

    let oracle = Oracle::compute(&generated, &load_thresholds());
    assert_eq!(
        oracle.bad_lines.len() as u64,
        reported_bad,
        "{case}: the oracle and the generator disagree on the number of malformed lines"
    );
    assert_eq!(oracle.good + reported_bad, count, "{case}: rows in");
    assert!(
        !oracle.billing.is_empty(),
        "{case}: the oracle found no billing rows"
    );
    assert!(
        !oracle.alerts.is_empty(),
        "{case}: the oracle found no alerts"
    );

    let billing = run_app(&dir, BILLING_APP, &input, "billing", &[]);
    let what = format!("{case}, {BILLING_APP}");
    check_errors(&what, &billing.errors, &oracle.bad_lines);
    let actual = billing_rows(&billing.output);
    check_window_order(&what, &actual, |r| r.1);
    let trips: i64 = actual.iter().map(|r| r.2).sum();
    assert_eq!(
        trips, oracle.good as i64,
        "{what}: the sum of TRIPS is not the number of good input rows (rows lost or invented)"
    );
    assert_same_rows(&what, &oracle.billing, &actual);

    let alerts = run_app(&dir, ALERTS_APP, &input, "alerts", &[]);
    let what = format!("{case}, {ALERTS_APP}");
    check_errors(&what, &alerts.errors, &oracle.bad_lines);
    let actual = alert_rows(&alerts.output);
    check_window_order(&what, &actual, |r| r.1);
    assert_same_rows(&what, &oracle.alerts, &actual);
}

fn generate_with_library(count: u64, seed: u64, bad_share: f64) -> (Vec<u8>, u64) {
    let opts = rowtime::generate::TollOptions {
        count,
        seed,
        bad_share,
        ..Default::default()
    };
    let mut bytes = Vec::new();
    let bad = rowtime::generate::generate_toll(&opts, &mut bytes).expect("generate_toll");
    (bytes, bad)
}

// ---------------------------------------------------------------------------------------------
// The oracle

struct Oracle {
    /// Rows that reach SOURCE_SQL_STREAM_001.
    good: u64,
    /// Lines that must go to error_stream, without their line end.
    bad_lines: Vec<Vec<u8>>,
    billing: Vec<BillingRow>,
    /// Vehicles per (BOOTH_ID, window start).
    counts: BTreeMap<(String, Ts), i64>,
    alerts: Vec<AlertRow>,
}

impl Oracle {
    fn compute(input: &[u8], thresholds: &HashMap<(String, i64), i64>) -> Oracle {
        let mut good = 0;
        let mut bad_lines = Vec::new();
        let mut rowtime = i64::MIN;
        let mut billing: BTreeMap<(String, Ts), (i64, i64)> = BTreeMap::new();
        let mut counts: BTreeMap<(String, Ts), i64> = BTreeMap::new();
        for line in split_lines(input) {
            let Some((booth, account, cents, event_time)) = accept(line) else {
                bad_lines.push(line.to_vec());
                continue;
            };
            good += 1;
            rowtime = rowtime.max(event_time);
            let entry = billing
                .entry((account, Ts(window_start(rowtime, BILLING_WINDOW_MS))))
                .or_default();
            entry.0 += 1;
            entry.1 += cents;
            *counts
                .entry((booth, Ts(window_start(rowtime, ALERT_WINDOW_MS))))
                .or_default() += 1;
        }
        let billing = billing
            .into_iter()
            .map(|((account, window), (trips, cents))| (account, window, trips, cents))
            .collect();
        let mut alerts = Vec::new();
        for ((booth, window), &vehicles) in &counts {
            let slot = window.0.rem_euclid(MS_PER_DAY) / ALERT_WINDOW_MS;
            if let Some(&min) = thresholds.get(&(booth.clone(), slot))
                && vehicles < min
            {
                alerts.push((booth.clone(), *window, vehicles, min));
            }
        }
        Oracle {
            good,
            bad_lines,
            billing,
            counts,
            alerts,
        }
    }
}

/// KDA's decision for one JSON record under the toll input schema: `Some((BOOTH_ID,
/// ACCOUNT_ID, AMOUNT in cents, EVENT_TIME in ms))` when it becomes a row, `None` when it goes
/// to error_stream.
fn accept(line: &[u8]) -> Option<(String, String, i64, i64)> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| match obj.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    // A NULL AMOUNT would be a valid row; the generator never writes one, so treat it as bad
    // to keep the sums simple and notice if it ever does.
    let amount = match obj.get("amount")? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite())?,
        _ => return None,
    };
    let event_time = match obj.get("event_time")? {
        Value::String(s) => parse_timestamp(s)?,
        _ => return None,
    };
    Some((
        text("booth_id")?,
        text("account_id")?,
        (amount * 100.0).round() as i64,
        event_time,
    ))
}

/// The lines of a JSON-lines file, without their `\n`; a last line without one counts too.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n').collect()
}

fn window_start(rowtime: i64, size: i64) -> i64 {
    rowtime.div_euclid(size) * size
}

fn load_thresholds() -> HashMap<(String, i64), i64> {
    let path = Path::new(CRATE_ROOT).join(THRESHOLDS);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line == "BOOTH_ID,SLOT,MIN_VEHICLES" {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let [booth, slot, min] = fields[..] else {
            panic!("{THRESHOLDS} line {}: {line:?}", i + 1)
        };
        let number = |s: &str| {
            s.parse::<i64>()
                .unwrap_or_else(|_| panic!("{THRESHOLDS} line {}: {line:?}", i + 1))
        };
        let old = map.insert((booth.to_string(), number(slot)), number(min));
        assert!(old.is_none(), "{THRESHOLDS} line {}: duplicate key", i + 1);
    }
    assert_eq!(
        map.len(),
        8 * 48,
        "{THRESHOLDS}: one row per booth and slot"
    );
    map
}

// ---------------------------------------------------------------------------------------------
// Timestamps, written here so that the oracle shares no code with the engine

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T`) as UTC milliseconds.
fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.split_once([' ', 'T']).unwrap_or((text, "00:00:00"));
    let mut date_parts = date.split('-');
    let year: i64 = fixed_digits(date_parts.next()?, 4)?;
    let month: i64 = fixed_digits(date_parts.next()?, 2)?;
    let day: i64 = fixed_digits(date_parts.next()?, 2)?;
    if date_parts.next().is_some() || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_len[month as usize - 1] {
        return None;
    }
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let mut time_parts = hms.split(':');
    let hour: i64 = fixed_digits(time_parts.next()?, 2)?;
    let minute: i64 = fixed_digits(time_parts.next()?, 2)?;
    let second: i64 = fixed_digits(time_parts.next()?, 2)?;
    if time_parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millis = format!("{fraction:0<3}")[..3].parse::<i64>().ok()?;
    let days = days_since_epoch(year, month, day);
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis)
}

fn fixed_digits(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to a Gregorian date, by counting years and months.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let is_leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mut days = 0;
    for y in 1970..year {
        days += if is_leap(y) { 366 } else { 365 };
    }
    let month_len = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for m in 1..month {
        days += month_len[m as usize - 1] + i64::from(m == 2 && is_leap(year));
    }
    days + day - 1
}

fn format_timestamp(ms: i64) -> String {
    let mut days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let mut year = 1970;
    loop {
        let len = days_since_epoch(year + 1, 1, 1) - days_since_epoch(year, 1, 1);
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let mut month = 1;
    while days_since_epoch(year, month + 1, 1) - days_since_epoch(year, 1, 1) <= days && month < 12
    {
        month += 1;
    }
    let day = days - (days_since_epoch(year, month, 1) - days_since_epoch(year, 1, 1)) + 1;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

// ---------------------------------------------------------------------------------------------
// Running the binary and reading its output

/// A directory under the system temp dir, removed when the test passes and kept (its path
/// printed) when it fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "rowtime-toll-oracle-{}-{tag}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs the binary from the crate root and insists on exit code 0.
fn run_ok(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(CRATE_ROOT)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    assert!(
        output.status.success(),
        "`rowtime {}` failed ({}):\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

struct AppRun {
    output: String,
    errors: String,
}

/// `rowtime run --app APP --input INPUT --rowtime-from EVENT_TIME` with DESTINATION_SQL_STREAM
/// and error_stream written to files in `dir`.
fn run_app(dir: &TempDir, app: &str, input: &Path, tag: &str, extra: &[&str]) -> AppRun {
    let out = dir.path().join(format!("{tag}-out.jsonl"));
    let err = dir.path().join(format!("{tag}-err.jsonl"));
    let out_arg = format!("DESTINATION_SQL_STREAM={}", out.display());
    let err_arg = format!("error_stream={}", err.display());
    let input = input.display().to_string();
    let mut args = vec![
        "run",
        "--app",
        app,
        "--input",
        &input,
        "--rowtime-from",
        "EVENT_TIME",
        "--output",
        &out_arg,
        "--output",
        &err_arg,
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    let read =
        |p: &PathBuf| fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    AppRun {
        output: read(&out),
        errors: read(&err),
    }
}

fn parse_object(line: &str, what: &str, index: usize) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(obj)) => obj,
        _ => panic!("{what} line {}: not a JSON object: {line}", index + 1),
    }
}

fn check_keys(obj: &serde_json::Map<String, Value>, keys: &[&str], what: &str, index: usize) {
    let mut actual: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut expected = keys.to_vec();
    actual.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        actual,
        expected,
        "{what} line {}: keys of {}",
        index + 1,
        Value::Object(obj.clone())
    );
}

fn string_field(obj: &serde_json::Map<String, Value>, key: &str, what: &str, i: usize) -> String {
    match obj.get(key) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{what} line {}: {key} is not a string: {other:?}", i + 1),
    }
}

fn int_field(obj: &serde_json::Map<String, Value>, key: &str, what: &str, i: usize) -> i64 {
    match obj.get(key).and_then(Value::as_i64) {
        Some(n) => n,
        None => panic!(
            "{what} line {}: {key} is not an integer: {:?}",
            i + 1,
            obj.get(key)
        ),
    }
}

fn time_field(obj: &serde_json::Map<String, Value>, key: &str, what: &str, i: usize) -> Ts {
    let text = string_field(obj, key, what, i);
    let ms = parse_timestamp(&text)
        .unwrap_or_else(|| panic!("{what} line {}: {key} is not a timestamp: {text:?}", i + 1));
    assert_eq!(
        text,
        format_timestamp(ms),
        "{what} line {}: {key} is not written as YYYY-MM-DD HH:MM:SS.fff",
        i + 1
    );
    Ts(ms)
}

fn billing_rows(text: &str) -> Vec<BillingRow> {
    let what = "billing output";
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let obj = parse_object(line, what, i);
            check_keys(&obj, &BILLING_KEYS, what, i);
            let amount = match obj.get("TOTAL_AMOUNT") {
                Some(Value::Number(n)) => n.as_f64().unwrap(),
                other => panic!(
                    "{what} line {}: TOTAL_AMOUNT is not a number: {other:?}",
                    i + 1
                ),
            };
            (
                string_field(&obj, "ACCOUNT_ID", what, i),
                time_field(&obj, "WINDOW_START", what, i),
                int_field(&obj, "TRIPS", what, i),
                (amount * 100.0).round() as i64,
            )
        })
        .collect()
}

fn alert_rows(text: &str) -> Vec<AlertRow> {
    let what = "alerts output";
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let obj = parse_object(line, what, i);
            check_keys(&obj, &ALERT_KEYS, what, i);
            (
                string_field(&obj, "BOOTH_ID", what, i),
                time_field(&obj, "WINDOW_START", what, i),
                int_field(&obj, "VEHICLES", what, i),
                int_field(&obj, "MIN_VEHICLES", what, i),
            )
        })
        .collect()
}

/// One error_stream line per malformed input line, with KDA's columns and the original bytes
/// hex-encoded in DATA_ROW.
fn check_errors(what: &str, text: &str, bad_lines: &[Vec<u8>]) {
    let what = format!("{what}, error_stream");
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let obj = parse_object(line, &what, i);
        check_keys(&obj, &ERROR_KEYS, &what, i);
        let hex = string_field(&obj, "DATA_ROW", &what, i);
        let bytes = decode_hex(&hex)
            .unwrap_or_else(|| panic!("{what} line {}: DATA_ROW is not hex: {hex:?}", i + 1));
        rows.push(HexDump(bytes));
    }
    assert_eq!(
        rows.len(),
        bad_lines.len(),
        "{what}: one line per malformed input line"
    );
    let expected: Vec<HexDump> = bad_lines.iter().cloned().map(HexDump).collect();
    assert_same_rows(&format!("{what} DATA_ROW"), &expected, &rows);
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes that print as text in assertion messages.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct HexDump(Vec<u8>);

impl Debug for HexDump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Windows are emitted in time order: WINDOW_START never decreases along the output.
fn check_window_order<T: Debug>(what: &str, rows: &[T], window: impl Fn(&T) -> Ts) {
    if let Some(i) = rows.windows(2).position(|w| window(&w[1]) < window(&w[0])) {
        panic!(
            "{what}: WINDOW_START decreases at output line {}: {:?} then {:?}",
            i + 2,
            rows[i],
            rows[i + 1]
        );
    }
}

/// Compares two multisets of rows; on a difference, shows the first rows missing from the
/// engine's output and the first rows it should not have written.
fn assert_same_rows<T: Ord + Clone + Debug>(what: &str, expected: &[T], actual: &[T]) {
    let mut expected = expected.to_vec();
    let mut actual = actual.to_vec();
    expected.sort();
    actual.sort();
    if expected == actual {
        return;
    }
    let (mut missing, mut unexpected) = (Vec::new(), Vec::new());
    let (mut e, mut a) = (0, 0);
    while e < expected.len() || a < actual.len() {
        match (expected.get(e), actual.get(a)) {
            (Some(x), Some(y)) if x == y => {
                e += 1;
                a += 1;
            }
            (Some(x), Some(y)) if x < y => {
                missing.push(x);
                e += 1;
            }
            (Some(x), None) => {
                missing.push(x);
                e += 1;
            }
            (_, Some(y)) => {
                unexpected.push(y);
                a += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    let show = |rows: &[&T]| {
        rows.iter()
            .take(8)
            .map(|r| format!("\n    {r:?}"))
            .collect::<String>()
    };
    panic!(
        "{what}: output differs from the oracle ({} rows expected, {} written)\n  \
         {} expected rows missing, first ones:{}\n  {} unexpected rows, first ones:{}",
        expected.len(),
        actual.len(),
        missing.len(),
        show(&missing),
        unexpected.len(),
        show(&unexpected)
    );
}

#[test]
fn oracle_timestamp_helpers_agree() {
    for text in [
        "1970-01-01 00:00:00.000",
        "2024-02-29 23:59:59.999",
        "2026-03-02 08:15:04.120",
        "2026-12-31 12:00:00.001",
    ] {
        assert_eq!(format_timestamp(parse_timestamp(text).unwrap()), text);
    }
    assert_eq!(
        parse_timestamp("2026-03-02 00:00:00.000"),
        Some(1_772_409_600_000)
    );
    assert_eq!(
        parse_timestamp("2026-03-02T00:00:01.5"),
        Some(1_772_409_601_500)
    );
    assert_eq!(parse_timestamp("2026-03-02"), Some(1_772_409_600_000));
    for bad in [
        "not a time",
        "",
        "2026-02-29 00:00:00",
        "2026-03-02 24:00:00",
        "2026-03-02 1",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
}
