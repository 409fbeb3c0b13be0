//! CLI tests: run the real `rowtime` binary and check exit codes, messages and output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rowtime(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args(args)
        .output()
        .expect("rowtime runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rowtime-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const SCHEMA: &str = "sql/toll_input_schema.json";
const REFERENCE: &str = "BOOTH_THRESHOLDS=reference-data/toll-reference/booth_thresholds.csv";

#[test]
fn check_and_explain_accept_every_shipped_application() {
    let runs: Vec<Vec<&str>> = vec![
        vec!["--app", "sql/toll_billing.json"],
        vec!["--app", "sql/toll_booth_alerts.json"],
        vec!["--app", "sql/toll_billing_cloud.json"],
        vec!["--app", "sql/toll_booth_alerts_cloud.json"],
        vec!["sql/toll_billing.sql", "--input-schema", SCHEMA],
        vec![
            "sql/toll_booth_alerts.sql",
            "--input-schema",
            SCHEMA,
            "--reference",
            REFERENCE,
        ],
    ];
    for args in runs {
        let o = rowtime(&[&["check"], args.as_slice()].concat());
        assert!(o.status.success(), "check {args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(": ok ("), "{}", stdout(&o));
        let o = rowtime(&[&["explain"], args.as_slice()].concat());
        assert!(o.status.success(), "explain {args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("pump "), "{}", stdout(&o));
    }
    let o = rowtime(&["explain", "--app", "sql/toll_booth_alerts.json"]);
    let text = stdout(&o);
    assert!(
        text.contains("pump COUNT_PUMP: SOURCE_SQL_STREAM_001 -> BOOTH_COUNTS"),
        "{text}"
    );
    assert!(text.contains("tumbling window of 30 minute(s)"), "{text}");
    assert!(
        text.contains("inner lookup join with reference table BOOTH_THRESHOLDS"),
        "{text}"
    );
}

#[test]
fn bad_sql_is_rejected_with_its_location_and_a_caret() {
    let dir = temp_dir("bad-sql");
    let app = write(
        &dir,
        "bad.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (A VARCHAR(8));\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM NO_SUCH_COLUMN FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let o = rowtime(&["check", &app, "--input-schema", SCHEMA]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("{app}:3:15: error:")), "{err}");
    assert!(err.contains("NO_SUCH_COLUMN"), "{err}");
    assert!(
        err.contains("3 | SELECT STREAM NO_SUCH_COLUMN FROM"),
        "{err}"
    );
    assert!(err.contains("^"), "{err}");

    let app = write(
        &dir,
        "syntax.sql",
        "CREATE STREAM d (a INTEGER);\nCREATE PUMP p AS INSERT INTO d SELECT STREAM a FROM;\n",
    );
    let o = rowtime(&["check", &app, "--input-schema", SCHEMA]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("{app}:2:")), "{}", stderr(&o));
}

/// Planner errors point at the construct they are about, in KDA's words: no DataFusion type
/// names (`Utf8`), no "internal error … file a bug report", no lower-cased function names.
#[test]
fn planner_errors_point_at_the_construct_and_say_what_to_write() {
    let dir = temp_dir("planner-errors");
    // (select list, line 3 column of the caret, words of the message, words of the help)
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "SELECT STREAM \"VEHICLE_CLASS\", SUM(\"AMOUNT\") OVER (ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM \"SOURCE_SQL_STREAM_001\"",
            "3:32",
            "a sliding window must end at the current row",
            "ROWS n PRECEDING",
        ),
        (
            "SELECT STREAM \"VEHICLE_CLASS\", \"VEHICLE_CLASS\" || 'x' FROM \"SOURCE_SQL_STREAM_001\"",
            "3:32",
            "column 2 of the query",
            "CAST the expression",
        ),
        (
            "SELECT STREAM \"VEHICLE_CLASS\", 1 FROM \"SOURCE_SQL_STREAM_001\" ORDER BY \"VEHICLE_CLASS\"",
            "3:72",
            "ORDER BY on a stream needs a monotonic leading expression",
            "FLOOR(s.ROWTIME TO SECOND)",
        ),
        (
            "SELECT STREAM \"VEHICLE_CLASS\", NO_SUCH_FN(1) FROM \"SOURCE_SQL_STREAM_001\"",
            "3:32",
            "unknown function `NO_SUCH_FN`",
            "CREATE FUNCTION",
        ),
        (
            "SELECT STREAM \"VEHICLE_CLASS\", CHAR_LENGTH(LOWER(X'0102')) FROM \"SOURCE_SQL_STREAM_001\"",
            "3:44",
            "LOWER cannot take arguments of types (VARBINARY)",
            "it takes LOWER(VARCHAR)",
        ),
        (
            "SELECT STREAM \"VEHICLE_CLASS\", 1 FROM \"SOURCE_SQL_STREAM_001\" WHERE \"AMOUNT\" = 'a' + 1",
            // DataFusion gives this one no position: the line of the query, no column.
            "3:1",
            "Cannot coerce arithmetic expression VARCHAR + BIGINT",
            "CAST text to a number",
        ),
        (
            "SELECT STREAM ERROR_NAME, 1 FROM \"error_stream\"",
            "3:34",
            "error_stream cannot be read by application code",
            "--output error_stream=PATH",
        ),
    ];
    for (i, (select, at, message, help)) in cases.iter().enumerate() {
        let app = write(
            &dir,
            &format!("e{i}.sql"),
            &format!(
                "CREATE STREAM \"DESTINATION_SQL_STREAM\" (T VARCHAR(8), N BIGINT);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n{select};\n"
            ),
        );
        let o = rowtime(&["check", &app, "--input-schema", SCHEMA]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{select}: {err}");
        assert!(
            err.contains(&format!("{app}:{at}: error: ")),
            "{select}: want {at}: {err}"
        );
        assert!(err.contains(message), "{select}: {err}");
        assert!(
            err.contains("= help: ") && err.contains(help),
            "{select}: {err}"
        );
        for internal in [
            "Utf8",
            "Int64",
            "DataFusion",
            "bug report",
            "Internal error",
        ] {
            assert!(!err.contains(internal), "{select}: `{internal}` in {err}");
        }
    }
}

#[test]
fn a_group_by_without_a_window_is_rejected_with_what_to_do() {
    let dir = temp_dir("no-window");
    let app = write(
        &dir,
        "nowindow.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(8), N BIGINT);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" GROUP BY BOOTH_ID;\n",
    );
    let o = rowtime(&["check", &app, "--input-schema", SCHEMA]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("a streaming GROUP BY needs a ROWTIME window"),
        "{err}"
    );
    assert!(
        err.contains("STEP(s.ROWTIME BY INTERVAL '1' MINUTE)"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let o = rowtime(&["run", "sql/toll_billing.sql", "--output", "nowhere"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--output nowhere: write STREAM=PATH"),
        "{}",
        stderr(&o)
    );

    let o = rowtime(&[
        "run",
        "--app",
        "sql/toll_billing.json",
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--rowtime-from",
        "NOPE",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--rowtime-from NOPE: the input has no column `NOPE`"),
        "{}",
        stderr(&o)
    );

    let o = rowtime(&["run", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--no-such-flag"), "{}", stderr(&o));

    let o = rowtime(&[
        "run",
        "--app",
        "sql/toll_billing.json",
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--output",
        "NO_STREAM=-",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no stream named `NO_STREAM`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_files_are_reported_by_name() {
    let o = rowtime(&["run", "no/such/app.sql"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("rowtime: no/such/app.sql: "),
        "{}",
        stderr(&o)
    );

    let o = rowtime(&[
        "run",
        "--app",
        "sql/toll_billing.json",
        "--input",
        "no-such-input.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-input.jsonl"), "{}", stderr(&o));

    let o = rowtime(&[
        "check",
        "sql/toll_booth_alerts.sql",
        "--input-schema",
        SCHEMA,
        "--reference",
        "BOOTH_THRESHOLDS=missing.csv",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("reference table BOOTH_THRESHOLDS: missing.csv"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_malformed_reference_row_is_reported_skipped_and_counted() {
    let dir = temp_dir("bad-reference");
    let reference = write(
        &dir,
        "thresholds.csv",
        "BOOTH_ID,SLOT,MIN_VEHICLES\nB01,0,1000\nB01,zero,5\nB02,0,1000\n",
    );
    let errors = dir.join("errors.jsonl").display().to_string();
    let alerts = dir.join("alerts.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        "--app",
        "sql/toll_booth_alerts.json",
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--rowtime-from",
        "EVENT_TIME",
        "--reference",
        &format!("BOOTH_THRESHOLDS={reference}"),
        "--output",
        &format!("DESTINATION_SQL_STREAM={alerts}"),
        "--output",
        &format!("error_stream={errors}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "warning: skipped a row: reference table BOOTH_THRESHOLDS, {reference}:3: column SLOT"
        )),
        "{err}"
    );
    let error_rows = std::fs::read_to_string(&errors).unwrap();
    let reference_errors: Vec<&str> = error_rows
        .lines()
        .filter(|l| l.contains("REFERENCE_DATA_ERROR"))
        .collect();
    assert_eq!(reference_errors.len(), 1, "{error_rows}");
    // DATA_ROW is the hex of the bad line.
    assert!(
        reference_errors[0].contains(&hex(b"B01,zero,5")),
        "{}",
        reference_errors[0]
    );
    // The good rows were loaded: slot 0 thresholds of 1000 make every slot-0 window of B01 and B02 an alert.
    let alerts = std::fs::read_to_string(&alerts).unwrap();
    assert!(
        alerts
            .lines()
            .any(|l| l.contains("\"BOOTH_ID\":\"B01\"") && l.contains("\"MIN_VEHICLES\":1000")),
        "{alerts}"
    );
    assert!(
        alerts.lines().any(|l| l.contains("\"BOOTH_ID\":\"B02\"")),
        "{alerts}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_terminal_view_shows_the_output_stream_and_a_summary() {
    let o = rowtime(&[
        "run",
        "--app",
        "sql/toll_booth_alerts.json",
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--rowtime-from",
        "EVENT_TIME",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("-- DESTINATION_SQL_STREAM\nBOOTH_ID | WINDOW_START"),
        "{out}"
    );
    // The definition lists error_stream as an output too.
    assert!(out.contains("-- error_stream\nERROR_TIME"), "{out}");
    // The shipped sample has 2,000 records, 25 of them malformed on purpose.
    assert!(stderr(&o).contains("rows in 2000,"), "{}", stderr(&o));
    assert!(stderr(&o).contains("errors 25,"), "{}", stderr(&o));
}

#[test]
fn a_sql_app_discovers_its_input_schema_from_the_input() {
    let dir = temp_dir("discover");
    let input = write(
        &dir,
        "in.jsonl",
        "{\"booth\":\"B1\",\"n\":1,\"t\":\"2026-01-01 00:00:01.000\"}\n{\"booth\":\"B1\",\"n\":2,\"t\":\"2026-01-01 00:00:02.000\"}\n{\"booth\":\"B2\",\"n\":5,\"t\":\"2026-01-01 00:01:00.000\"}\n",
    );
    let app = write(
        &dir,
        "sum.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (\"booth\" VARCHAR(8), TOTAL INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM \"booth\", SUM(\"n\") FROM \"SOURCE_SQL_STREAM_001\" AS s GROUP BY \"booth\", STEP(s.ROWTIME BY INTERVAL '1' MINUTE);\n",
    );
    let o = rowtime(&[
        "run",
        &app,
        "--input",
        &input,
        "--rowtime-from",
        "t",
        "--output",
        "DESTINATION_SQL_STREAM=-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"booth\":\"B1\",\"TOTAL\":3}\n{\"booth\":\"B2\",\"TOTAL\":5}\n"
    );
}

#[test]
fn csv_input_and_csv_output() {
    let dir = temp_dir("csv");
    let input = write(&dir, "in.csv", "booth,n\nB1,1\nB2,x\nB1,2\n");
    let app = write(
        &dir,
        "pass.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(4), TWICE INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM \"booth\", \"n\" * 2 FROM \"SOURCE_SQL_STREAM_001\" WHERE \"n\" > 0;\n",
    );
    // The discovered schema types `n` as INTEGER from its data rows (EX-42's rule); "x" does not fit.
    let schema = write(
        &dir,
        "schema.json",
        r#"{"RecordFormat":{"RecordFormatType":"CSV","MappingParameters":{"CSVMappingParameters":{"RecordRowDelimiter":"\n","RecordColumnDelimiter":","}}},
            "RecordColumns":[{"Name":"booth","SqlType":"VARCHAR(4)"},{"Name":"n","SqlType":"INTEGER"}]}"#,
    );
    let out = dir.join("out.csv").display().to_string();
    let errors = dir.join("errors.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input-schema",
        &schema,
        "--input",
        &input,
        "--output",
        &format!("DESTINATION_SQL_STREAM={out}"),
        "--output",
        &format!("error_stream={errors}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "B1,2\nB1,4\n");
    let errors = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(
        errors.contains("\"ERROR_NAME\":\"PARSE_ERROR\"") && errors.contains(&hex(b"B2,x")),
        "{errors}"
    );
}

#[test]
fn stdin_input_in_live_mode() {
    use std::io::Write;
    let dir = temp_dir("stdin");
    let app = write(
        &dir,
        "pass.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(8));\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args([
            "run",
            &app,
            "--input-schema",
            SCHEMA,
            "--input",
            "-",
            "--output",
            "DESTINATION_SQL_STREAM=-",
            "--with-rowtime",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"booth_id\":\"B01\"}\n{\"booth_id\":\"B02\"}\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["B"], "B02");
    // Live mode: ROWTIME is the arrival time.
    let rowtime = chrono::NaiveDateTime::parse_from_str(
        lines[0]["ROWTIME"].as_str().unwrap(),
        "%Y-%m-%d %H:%M:%S%.3f",
    )
    .unwrap()
    .and_utc()
    .timestamp_millis();
    assert!(
        before <= rowtime && rowtime <= after,
        "{before} <= {rowtime} <= {after}"
    );
}

#[test]
fn two_pumps_writing_one_stream_are_merged_in_rowtime_order() {
    let dir = temp_dir("merge");
    // Every row passes through at once; the 30-minute counts arrive at each window's end.
    let app = write(
        &dir,
        "merge.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (WHAT VARCHAR(8), BOOTH VARCHAR(8), N BIGINT);
CREATE PUMP \"EACH\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
SELECT STREAM 'row', BOOTH_ID, CAST(1 AS BIGINT) FROM \"SOURCE_SQL_STREAM_001\";
CREATE PUMP \"COUNTS\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
SELECT STREAM 'count', BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" AS s
GROUP BY BOOTH_ID, STEP(s.ROWTIME BY INTERVAL '30' MINUTE);
",
    );
    let o = rowtime(&[
        "run",
        &app,
        "--input-schema",
        SCHEMA,
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--rowtime-from",
        "EVENT_TIME",
        "--output",
        "DESTINATION_SQL_STREAM=-",
        "--with-rowtime",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rowtimes: Vec<&str> = rows
        .iter()
        .map(|r| r["ROWTIME"].as_str().unwrap())
        .collect();
    assert!(
        rowtimes.windows(2).all(|w| w[0] <= w[1]),
        "ROWTIME goes back in the merged stream"
    );
    let passed = rows.iter().filter(|r| r["WHAT"] == "row").count();
    let counted: i64 = rows
        .iter()
        .filter(|r| r["WHAT"] == "count")
        .map(|r| r["N"].as_i64().unwrap())
        .sum();
    // 2,000 records, 25 malformed: every good row passes through once and is counted once.
    assert_eq!(passed, 1975);
    assert_eq!(counted, 1975);
    // A count row comes right at its window's end: before the first row of the next window.
    let first_count = rows.iter().position(|r| r["WHAT"] == "count").unwrap();
    assert_eq!(rows[first_count]["ROWTIME"], "2026-03-02 00:30:00.000");
    assert!(rows[first_count - 1]["ROWTIME"].as_str().unwrap() < "2026-03-02 00:30:00.000");
}

#[test]
fn ctrl_c_flushes_open_windows_and_exits_cleanly() {
    use std::io::Write;
    let dir = temp_dir("ctrl-c");
    let app = write(
        &dir,
        "count.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH VARCHAR(8), N BIGINT);
CREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
SELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" AS s GROUP BY BOOTH_ID, STEP(s.ROWTIME BY INTERVAL '1' HOUR);
",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args([
            "run",
            &app,
            "--input-schema",
            SCHEMA,
            "--input",
            "-",
            "--output",
            "DESTINATION_SQL_STREAM=-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"booth_id\":\"B01\"}\n{\"booth_id\":\"B01\"}\n")
        .unwrap();
    stdin.flush().unwrap();
    // The input stays open (an unbounded source); the hour-long window cannot close by itself.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\"BOOTH\":\"B01\",\"N\":2}\n");
}

/// `rowtime run` of the booth-alerts definition held in its start: its reference table (whose
/// schema the definition gives) is a FIFO, and reading it blocks until something writes it.
/// The input is stdin, kept open by the returned handle.
fn run_held_in_its_start(dir: &Path) -> (std::process::Child, std::process::ChildStdin, PathBuf) {
    let fifo = dir.join("thresholds.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args(["run", "--app", "sql/toll_booth_alerts.json", "--input", "-"])
        .arg("--reference")
        .arg(format!("BOOTH_THRESHOLDS={}", fifo.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin, fifo)
}

/// The FIFO's write end, opened once the run is blocked reading it: a non-blocking open for
/// writing fails (ENXIO) until a reader has the FIFO open.
fn writer_once_read(fifo: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000; // Linux
    let started = std::time::Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(fifo)
        {
            Ok(f) => return f,
            Err(e) => assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "rowtime never opened {}: {e}",
                fifo.display()
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn term(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_sigterm_during_the_start_stops_the_run_once_it_has_started() {
    let dir = temp_dir("term-at-start");
    let (child, stdin, fifo) = run_held_in_its_start(&dir);
    let mut table = writer_once_read(&fifo);
    term(&child);
    // The start goes on; the run then stops at once (stdin stays open: nothing else ends it).
    // (Had the signal killed the process, the write fails: no reader.)
    use std::io::Write;
    let _ = table.write_all(b"BOOTH_ID,SLOT,MIN_VEHICLES\nB01,0,14\n");
    drop(table);
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_second_sigterm_during_the_start_ends_the_process() {
    let dir = temp_dir("term-twice-at-start");
    let (child, stdin, fifo) = run_held_in_its_start(&dir);
    let table = writer_once_read(&fifo);
    term(&child);
    std::thread::sleep(std::time::Duration::from_millis(200));
    term(&child);
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    drop(table);
    // 128 + SIGTERM (15), as a shell reports a process a signal ended; not 1 (a rejection).
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
}

#[test]
fn rowtime_test_runs_test_files_and_shows_a_diff_for_failures() {
    let o = rowtime(&["test", "tests/apps"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PASS tests/apps/toll_billing.slt"), "{out}");
    assert!(out.contains("2 passed, 0 failed, 0 skipped"), "{out}");

    let dir = temp_dir("slt");
    let broken = write(
        &dir,
        "broken.slt",
        "statement ok\nCREATE INPUT STREAM S (K VARCHAR(4))\n\nstatement ok\nCREATE STREAM D (K VARCHAR(4));\nCREATE PUMP P AS INSERT INTO D SELECT STREAM K FROM S;\n\nstatement ok\nINSERT INTO S (ROWTIME, K) VALUES ('2020-01-01 00:00:00', 'a')\n\nquery T\nSELECT * FROM D\n----\nb\n",
    );
    let skipped = write(
        &dir,
        "later.slt",
        "# not yet supported: sliding windows\nstatement ok\nEND INPUT\n",
    );
    let o = rowtime(&["test", &broken, &skipped]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains(&format!("FAIL {broken}")), "{out}");
    assert!(
        out.contains("-b") || out.contains("- b") || out.contains("b\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "SKIP {skipped} (not yet supported: sliding windows)"
        )),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed, 1 skipped"), "{out}");
}

#[test]
fn a_discovered_csv_schema_takes_its_names_from_the_header_line() {
    let dir = temp_dir("discover-csv");
    // EX-42's naming: `year` and `month` are reserved words and become COL_year and COL_month.
    let input = write(
        &dir,
        "in.csv",
        "year,month,state,consumption\n2001,1,AK,47615\n2001,1,AL,3020601\n",
    );
    let app = write(
        &dir,
        "csv.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (Y INTEGER, STATE VARCHAR(4), C INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM \"COL_year\", \"state\", \"consumption\" FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let errors = dir.join("errors.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input",
        &input,
        "--output",
        "DESTINATION_SQL_STREAM=-",
        "--output",
        &format!("error_stream={errors}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"Y\":2001,\"STATE\":\"AK\",\"C\":47615}\n{\"Y\":2001,\"STATE\":\"AL\",\"C\":3020601}\n"
    );
    assert_eq!(
        std::fs::read_to_string(&errors).unwrap(),
        "",
        "the header line is not a bad record"
    );
}

#[test]
fn rowtime_test_complete_rewrites_expected_results() {
    let dir = temp_dir("complete");
    let file = write(
        &dir,
        "c.slt",
        "statement ok\nCREATE INPUT STREAM S (K VARCHAR(4))\n\nstatement ok\nCREATE STREAM D (K VARCHAR(4));\nCREATE PUMP P AS INSERT INTO D SELECT STREAM K FROM S;\n\nstatement ok\nINSERT INTO S (ROWTIME, K) VALUES ('2020-01-01 00:00:00', 'a')\n\nquery TT\nSELECT ROWTIME, * FROM D\n----\nwrong\n",
    );
    let o = rowtime(&["test", "--complete", &file]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with("----\n2020-01-01 00:00:00.000 a\n"),
        "{text}"
    );
    let o = rowtime(&["test", &file]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_flattened_json_array_gives_a_row_per_element_with_the_record_rowtime() {
    let dir = temp_dir("flatten");
    // Replay mode takes ROWTIME from the record's own column, repeated on each element's row; the
    // second record has no orders (one row of NULLs, which has no ROWTIME and goes to error_stream).
    let input = write(
        &dir,
        "in.jsonl",
        concat!(
            r#"{"at":"2024-01-01 10:00:00","customer":"John","orders":[{"id":1,"price":"2.50"},{"id":2,"price":"4.00"}]}"#,
            "\n",
            r#"{"at":"2024-01-01 10:00:01","customer":"Jane","orders":[]}"#,
            "\n",
            r#"{"at":"2024-01-01 10:00:02","customer":"Kim","orders":[{"id":3,"price":"1.25"}]}"#,
            "\n"
        ),
    );
    let schema = write(
        &dir,
        "schema.json",
        r#"{"RecordFormat":{"RecordFormatType":"JSON","MappingParameters":{"JSONMappingParameters":{"RecordRowPath":"$"}}},
            "RecordColumns":[{"Name":"AT","SqlType":"TIMESTAMP","Mapping":"$.at"},
                             {"Name":"CUSTOMER","SqlType":"VARCHAR(8)","Mapping":"$.customer"},
                             {"Name":"ORDER_ID","SqlType":"INTEGER","Mapping":"$.orders[0:].id"},
                             {"Name":"PRICE","SqlType":"DECIMAL(6,2)","Mapping":"$.orders[0:].price"}]}"#,
    );
    let app = write(
        &dir,
        "app.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (CUSTOMER VARCHAR(8), ORDER_ID INTEGER, PRICE DECIMAL(6,2));\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM CUSTOMER, ORDER_ID, PRICE FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let out = dir.join("out.jsonl").display().to_string();
    let errors = dir.join("errors.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input-schema",
        &schema,
        "--input",
        &input,
        "--rowtime-from",
        "AT",
        "--output",
        &format!("DESTINATION_SQL_STREAM={out}"),
        "--output",
        &format!("error_stream={errors}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        concat!(
            r#"{"CUSTOMER":"John","ORDER_ID":1,"PRICE":2.50}"#,
            "\n",
            r#"{"CUSTOMER":"John","ORDER_ID":2,"PRICE":4.00}"#,
            "\n",
            r#"{"CUSTOMER":"Kim","ORDER_ID":3,"PRICE":1.25}"#,
            "\n"
        )
    );
    let errors = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(
        errors.contains("\"ERROR_NAME\":\"ROWTIME_ERROR\""),
        "{errors}"
    );
}

#[test]
fn current_timestamp_is_the_time_the_query_started_for_every_row() {
    use std::io::Write;
    let dir = temp_dir("current-timestamp");
    let app = write(
        &dir,
        "now.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(8), T TIMESTAMP, D DATE, LT TIMESTAMP);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIMESTAMP FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let before = chrono::Utc::now().timestamp_millis();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args(["run", &app, "--input-schema", SCHEMA, "--input", "-"])
        .args(["--output", "DESTINATION_SQL_STREAM=-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"{\"booth_id\":\"B01\"}\n").unwrap();
    input.flush().unwrap();
    // The second row comes more than a second later: it still gets the query's start time.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    input.write_all(b"{\"booth_id\":\"B02\"}\n").unwrap();
    drop(input);
    let o = child.wait_with_output().unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", stdout(&o));
    assert_eq!(rows[0]["T"], rows[1]["T"], "one value for the whole query");
    assert_eq!(
        rows[0]["T"], rows[0]["LT"],
        "LOCALTIMESTAMP is CURRENT_TIMESTAMP (UTC)"
    );
    let text = rows[0]["T"].as_str().unwrap();
    let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.3f")
        .unwrap()
        .and_utc();
    let ms = t.timestamp_millis();
    assert!(
        before <= ms && ms + 1000 < after,
        "{before} <= {ms}, well before {after}"
    );
    assert_eq!(rows[0]["D"], t.format("%Y-%m-%d").to_string());
}

/// The toll billing definition with `InputParallelism` 2 and `code` as its application code.
fn parallel_definition(dir: &Path, code: &str) -> String {
    let text = std::fs::read_to_string("sql/toll_billing.json").unwrap();
    let mut d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let detail = &mut d["ApplicationDetail"];
    detail["ApplicationCode"] = serde_json::Value::String(code.to_string());
    detail["InputDescriptions"][0]["InputParallelism"] = serde_json::json!({"Count": 2});
    detail["InputDescriptions"][0]["InAppStreamNames"] =
        serde_json::json!(["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"]);
    write(dir, "parallel.json", &d.to_string())
}

#[test]
fn input_parallelism_spreads_records_over_the_source_streams_and_merges_their_pumps() {
    let dir = temp_dir("parallelism");
    // Which stream each record went to, and per-stream counts merged into one stream (the
    // documented pattern: one pump per source stream, all writing one stream).
    let code = r#"
CREATE OR REPLACE STREAM "WHICH" (ACCOUNT_ID VARCHAR(16), SOURCE INTEGER);
CREATE OR REPLACE PUMP "W1" AS INSERT INTO "WHICH" SELECT STREAM ACCOUNT_ID, 1 FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE PUMP "W2" AS INSERT INTO "WHICH" SELECT STREAM ACCOUNT_ID, 2 FROM "SOURCE_SQL_STREAM_002";
CREATE OR REPLACE STREAM "COUNTS" (BOOTH_ID VARCHAR(8), N BIGINT);
CREATE OR REPLACE PUMP "C1" AS INSERT INTO "COUNTS" SELECT STREAM BOOTH_ID, COUNT(*) FROM "SOURCE_SQL_STREAM_001"
    GROUP BY BOOTH_ID, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' HOUR);
CREATE OR REPLACE PUMP "C2" AS INSERT INTO "COUNTS" SELECT STREAM BOOTH_ID, COUNT(*) FROM "SOURCE_SQL_STREAM_002"
    GROUP BY BOOTH_ID, STEP("SOURCE_SQL_STREAM_002".ROWTIME BY INTERVAL '1' HOUR);
"#;
    let app = parallel_definition(&dir, code);
    // Nine records, a blank line among them (it is not a record).
    let mut lines = Vec::new();
    for i in 0..9 {
        lines.push(format!(
            "{{\"booth_id\":\"B0{}\",\"account_id\":\"A{i}\",\"vehicle_class\":\"car\",\"amount\":2.00,\"event_time\":\"2026-03-02 08:0{i}:00.000\"}}",
            i % 2
        ));
        if i == 4 {
            lines.push(String::new());
        }
    }
    let input = write(&dir, "in.jsonl", &(lines.join("\n") + "\n"));
    let which = dir.join("which.jsonl").display().to_string();
    let counts = dir.join("counts.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        "--app",
        &app,
        "--input",
        &input,
        "--rowtime-from",
        "EVENT_TIME",
        "--output",
        &format!("WHICH={which}"),
        "--output",
        &format!("COUNTS={counts}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |path: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // Record n goes to stream n mod 2 + 1; the merged stream is in ROWTIME order.
    let which: Vec<(String, i64)> = rows(&which)
        .iter()
        .map(|r| {
            (
                r["ACCOUNT_ID"].as_str().unwrap().to_string(),
                r["SOURCE"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = (0..9).map(|i| (format!("A{i}"), i % 2 + 1)).collect();
    assert_eq!(which, expected);
    // Each pump counts its stream's share of a booth's hour; together, every record.
    let mut total: std::collections::BTreeMap<String, i64> = Default::default();
    for r in rows(&counts) {
        *total
            .entry(r["BOOTH_ID"].as_str().unwrap().to_string())
            .or_default() += r["N"].as_i64().unwrap();
    }
    assert_eq!(
        total,
        [("B00".to_string(), 5), ("B01".to_string(), 4)].into()
    );
}

#[test]
fn csv_with_other_row_and_column_delimiters() {
    let dir = temp_dir("delimiters");
    let schema = write(
        &dir,
        "schema.json",
        r#"{"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters":
             {"RecordRowDelimiter": ";", "RecordColumnDelimiter": "||"}}},
            "RecordEncoding": "UTF-8",
            "RecordColumns": [{"Name": "NAME", "SqlType": "VARCHAR(8)"}, {"Name": "N", "SqlType": "INTEGER"}]}"#,
    );
    let app = write(
        &dir,
        "copy.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (NAME VARCHAR(8), N INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM NAME, N FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    // Records end with `;` (the line breaks are not part of them); fields are split at `||`, a
    // single `|` is text. The third record is bad (N is not a number); the last has no `;`.
    let input = write(&dir, "in.csv", "a||1;b|x||2;\nc||three;;d||4\n");
    let out = dir.join("out.jsonl").display().to_string();
    let errors = dir.join("errors.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input-schema",
        &schema,
        "--input",
        &input,
        "--output",
        &format!("DESTINATION_SQL_STREAM={out}"),
        "--output",
        &format!("error_stream={errors}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"NAME\":\"a\",\"N\":1}\n{\"NAME\":\"b|x\",\"N\":2}\n{\"NAME\":\"d\",\"N\":4}\n"
    );
    let errors = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains(&hex(b"c||three")), "{errors}");
}

#[test]
fn a_record_row_path_reads_the_records_inside_each_document() {
    let dir = temp_dir("row-path");
    let schema = write(
        &dir,
        "schema.json",
        r#"{"RecordFormat": {"RecordFormatType": "JSON",
             "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$.batch.records"}}},
            "RecordEncoding": "UTF-8",
            "RecordColumns": [{"Name": "ID", "Mapping": "$.id", "SqlType": "INTEGER"},
                              {"Name": "T", "Mapping": "$.t", "SqlType": "TIMESTAMP"}]}"#,
    );
    let app = write(
        &dir,
        "copy.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (ID INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM ID FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let input = write(
        &dir,
        "in.jsonl",
        concat!(
            r#"{"batch":{"records":[{"id":1,"t":"2024-01-01 10:00:00"},{"id":2,"t":"2024-01-01 10:00:01"}]}}"#,
            "\n",
            r#"{"batch":{"other":[]}}"#,
            "\n",
            r#"{"batch":{"records":{"id":3,"t":"2024-01-01 10:00:02"}}}"#,
            "\n"
        ),
    );
    let errors = dir.join("errors.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input-schema",
        &schema,
        "--input",
        &input,
        "--rowtime-from",
        "T",
        "--output",
        "DESTINATION_SQL_STREAM=-",
        "--output",
        &format!("error_stream={errors}"),
        "--with-rowtime",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"ROWTIME\":\"2024-01-01 10:00:00.000\",\"ID\":1}\n{\"ROWTIME\":\"2024-01-01 10:00:01.000\",\"ID\":2}\n{\"ROWTIME\":\"2024-01-01 10:00:02.000\",\"ID\":3}\n"
    );
    let errors = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("RecordRowPath $.batch.records"), "{errors}");
}

#[test]
fn a_discovered_csv_without_a_header_keeps_its_first_record() {
    let dir = temp_dir("discover-headerless");
    // A log of numbers and words: no line names the columns, so every line is a record and
    // the columns are COL_1, COL_2, COL_3.
    let input = write(&dir, "log.csv", "10,GET,200\n11,POST,500\n12,GET,404\n");
    let app = write(
        &dir,
        "log.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (T INTEGER, M VARCHAR(4), S INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM \"COL_1\", \"COL_2\", \"COL_3\" FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let o = rowtime(&[
        "run",
        &app,
        "--input",
        &input,
        "--output",
        "DESTINATION_SQL_STREAM=-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"T\":10,\"M\":\"GET\",\"S\":200}\n{\"T\":11,\"M\":\"POST\",\"S\":500}\n{\"T\":12,\"M\":\"GET\",\"S\":404}\n"
    );
}

/// Log lines without a schema: nothing to infer, so discovery gives one VARCHAR column `COL_1`
/// holding each whole line (quotes and commas included), which the SQL parses; `discover` prints
/// the same schema, and it reads back as the run's `--input-schema`.
#[test]
fn plain_text_without_a_schema_is_one_varchar_column_per_line() {
    let dir = temp_dir("plain-text");
    let lines = [
        r#"10.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 512"#,
        r#""quoted", and, commas"#,
        r#"10.0.0.2 - - [01/Dec/2026:10:00:01 +0000] "GET /b HTTP/1.1" 404 0"#,
    ];
    let input = write(&dir, "access.log", &(lines.join("\n") + "\n"));
    let app = write(
        &dir,
        "logs.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (LINE VARCHAR(256), HOST VARCHAR(16));\n\
         CREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n\
         SELECT STREAM COL_1, SUBSTRING(COL_1 FROM 1 FOR POSITION(' ' IN COL_1) - 1) FROM \"SOURCE_SQL_STREAM_001\";\n",
    );
    let out = dir.join("out.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input",
        &input,
        "--output",
        &format!("DESTINATION_SQL_STREAM={out}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    for (row, line) in rows.iter().zip(lines) {
        assert_eq!(row["LINE"], line);
    }
    assert_eq!(rows[0]["HOST"], "10.0.0.1");
    assert_eq!(rows[1]["HOST"], "\"quoted\",");
    assert_eq!(rows[2]["HOST"], "10.0.0.2");

    let o = rowtime(&["discover", "--input", &input]);
    assert!(o.status.success(), "{}", stderr(&o));
    let schema: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let schema = schema.get("InputSchema").unwrap_or(&schema);
    assert_eq!(schema["RecordColumns"][0]["Name"], "COL_1");
    assert_eq!(schema["RecordColumns"][0]["SqlType"], "VARCHAR(256)");
    assert_eq!(schema["RecordColumns"].as_array().unwrap().len(), 1);
    let schema_file = write(&dir, "schema.json", &stdout(&o));
    let out2 = dir.join("out2.jsonl").display().to_string();
    let o = rowtime(&[
        "run",
        &app,
        "--input",
        &input,
        "--input-schema",
        &schema_file,
        "--output",
        &format!("DESTINATION_SQL_STREAM={out2}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out2).unwrap(),
        std::fs::read_to_string(&out).unwrap()
    );
}

#[test]
fn translate_writes_a_flink_job_and_names_what_it_cannot_translate() {
    let dir = temp_dir("translate");
    let job = dir.join("job.sql").display().to_string();
    let o = rowtime(&[
        "translate",
        "--to",
        "flink",
        "--app",
        "sql/toll_booth_alerts.json",
        "--rowtime-from",
        "EVENT_TIME",
        "-o",
        &job,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sql = std::fs::read_to_string(&job).unwrap();
    assert!(sql.contains("CREATE VIEW `COUNT_PUMP` AS"), "{sql}");
    assert!(sql.contains("EXECUTE STATEMENT SET"), "{sql}");
    // Warnings on stderr: replay mode's late rows, the regular join, error_stream left out.
    let err = stderr(&o);
    assert!(
        err.contains(
            "rowtime: warning: input SOURCE_SQL_STREAM_001: ROWTIME is the event time EVENT_TIME"
        ),
        "{err}"
    );
    assert!(err.contains("error_stream"), "{err}");

    let app = write(
        &dir,
        "stagger.sql",
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (B VARCHAR(8), N BIGINT);\nCREATE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWINDOWED BY STAGGER (PARTITION BY BOOTH_ID RANGE INTERVAL '1' MINUTE);\n",
    );
    let o = rowtime(&[
        "translate",
        "--to",
        "flink",
        &app,
        "--input-schema",
        SCHEMA,
        "--input",
        "sql/data/toll_transactions.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("stagger.sql:3:1: error: not translatable to Flink: WINDOWED BY STAGGER"),
        "{err}"
    );
    assert!(
        err.contains("help: Flink has no window that opens at each key's first row"),
        "{err}"
    );

    // --check needs a file and replay mode; said before anything runs.
    let o = rowtime(&[
        "translate",
        "--to",
        "flink",
        "--app",
        "sql/toll_billing.json",
        "--check",
        "-o",
        &job,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--check runs both engines over a file: give --input FILE"),
        "{}",
        stderr(&o)
    );
    let o = rowtime(&[
        "translate",
        "--to",
        "flink",
        "--app",
        "sql/toll_billing.json",
        "--input",
        "sql/data/toll_transactions.jsonl",
        "--check",
        "-o",
        &job,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("give --rowtime-from COLUMN"),
        "{}",
        stderr(&o)
    );
    // A Kinesis stream by name only: the connector needs its ARN.
    let o = rowtime(&[
        "translate",
        "--to",
        "flink",
        "sql/toll_billing.sql",
        "--input-schema",
        SCHEMA,
        "--input",
        "kinesis://tolls",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs the stream's ARN"),
        "{}",
        stderr(&o)
    );
}
