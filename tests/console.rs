//! The console and the metrics endpoint, tested against the real binary: its HTTP endpoints
//! and event streams from Rust (a small HTTP/1.1 client below), and the page in headless
//! Chromium driven by Playwright for Python (`console/browser.py`), both installed on first use
//! into caches under `$HOME/.cache/` (Chromium from Debian's packages, Playwright from PyPI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const SCHEMA: &str = "sql/toll_input_schema.json";

/// An application whose rows show at once (no window): each record's booth and amount.
const APP: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), AMOUNT DECIMAL(8,2));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, AMOUNT FROM \"SOURCE_SQL_STREAM_001\";\n";

/// The same with ACCOUNT_ID as a third column.
const APP_WITH_ACCOUNT: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), AMOUNT DECIMAL(8,2), ACCOUNT_ID VARCHAR(16));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, AMOUNT, ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\";\n";

/// APP with a misspelt column on line 3, starting at column 25.
const APP_WITH_TYPO: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), AMOUNT DECIMAL(8,2));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, AMOUNTT FROM \"SOURCE_SQL_STREAM_001\";\n";

/// The malformed record the feeder sends every fifth line.
const BAD_RECORD: &str = "{\"booth_id\": broken";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rowtime-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Record `i` of the feed: booth `B0{i % 4}`, account `A{i:06}`, amount 2.50, every fifth one
/// malformed.
fn record(i: u64) -> String {
    if i % 5 == 4 {
        return BAD_RECORD.to_string();
    }
    format!(
        "{{\"booth_id\":\"B0{}\",\"account_id\":\"A{i:06}\",\"vehicle_class\":\"car\",\"amount\":2.50,\"event_time\":\"2026-03-02 08:00:00.000\"}}",
        i % 4
    )
}

/// A running `rowtime console` (or `run --metrics`) fed through stdin, a record every 50 ms,
/// until dropped.
struct Live {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
    stderr: Receiver<String>,
    /// What rowtime said on stderr before the server's address.
    said: Vec<String>,
}

impl Live {
    fn start(args: &[&str], server_line: &str) -> Live {
        let child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rowtime starts");
        let (tx, stderr) = channel();
        // From here on, dropping `live` (a panic too) kills and waits for the process.
        let mut live = Live {
            child,
            base: String::new(),
            token: String::new(),
            stop: Arc::new(AtomicBool::new(false)),
            stderr,
            said: Vec::new(),
        };
        let err = live.child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut stdin = live.child.stdin.take().expect("stdin is piped");
        let stopped = Arc::clone(&live.stop);
        std::thread::spawn(move || {
            let mut i = 0;
            while !stopped.load(Ordering::Relaxed) {
                if writeln!(stdin, "{}", record(i)).is_err() || stdin.flush().is_err() {
                    return;
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = live.stderr.recv_timeout(left) else {
                panic!(
                    "rowtime did not say `{server_line}` in time; it said:\n{}",
                    live.said.join("\n")
                );
            };
            if let Some(at) = line.find(server_line) {
                let rest = &line[at + server_line.len()..];
                let base: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                live.base = format!("http://{base}");
                live.token = rest
                    .split("#token=")
                    .nth(1)
                    .map(|t| t.chars().take_while(char::is_ascii_hexdigit).collect())
                    .unwrap_or_default();
                return live;
            }
            live.said.push(line);
        }
    }

    fn console(app: &Path) -> Live {
        Live::start(
            &[
                "console",
                app.to_str().unwrap(),
                "--input-schema",
                SCHEMA,
                "--listen",
                "127.0.0.1:0",
            ],
            "console at http://",
        )
    }

    fn stderr_so_far(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
fn request(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("the server accepts connections");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, rest) = split_head(&raw).expect("an HTTP response");
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest).0
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(base: &str, path: &str) -> Reply {
    request(base, "GET", path, &[], "")
}

type Head<'a> = (u16, Vec<(String, String)>, &'a [u8]);

fn split_head(raw: &[u8]) -> Option<Head<'_>> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, &raw[end + 4..]))
}

/// The complete chunks of a chunked body, and whether the last chunk came.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        if raw.len() < eol + 2 + size + 2 {
            return (out, false);
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// Reads a stream's server-sent events until `wanted` accepts one's data (`event`, `data`), or
/// panics after `limit` with what came.
fn wait_for_event(
    base: &str,
    stream: &str,
    limit: Duration,
    wanted: impl Fn(&str, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        s,
        "GET /api/streams/{stream}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + limit;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut events: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the event stream: {e}"),
        }
        let Some((status, headers, rest)) = split_head(&raw) else {
            continue;
        };
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(rest));
        let content_type = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let body = String::from_utf8_lossy(&dechunk(rest).0).into_owned();
        events = body
            .split("\n\n")
            .filter(|e| e.contains("data:"))
            .map(str::to_string)
            .collect();
        for e in &events {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .unwrap_or("")
                .trim()
                .to_string();
            let data: String = e
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n");
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&data)
                && wanted(&name, &value)
            {
                return value;
            }
        }
    }
    panic!(
        "no matching event on {stream} within {limit:?}; events were:\n{}",
        events.join("\n\n")
    );
}

fn columns(event: &serde_json::Value) -> Vec<String> {
    event["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

fn has_rows(event: &serde_json::Value) -> bool {
    event["rows"].as_array().is_some_and(|r| !r.is_empty())
}

/// Lower-case hex of bytes, as KDA writes DATA_ROW for a record it cannot parse.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_console_streams_rows_live_checks_code_and_replaces_it_only_with_the_token() {
    let dir = temp_dir("live");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let live = Live::console(&app);
    assert_eq!(live.token.len(), 32, "{}", live.stderr_so_far());
    let base = &live.base;

    // The page itself, one HTML file.
    let page = get(base, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("Save and run"), "{}", page.body);

    // Addressed by another name (a page that made its own name resolve to 127.0.0.1), the
    // console does not answer; by localhost it does.
    let elsewhere = request(
        base,
        "GET",
        "/api/app",
        &[("Host", "rebind.example:80")],
        "",
    );
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
    assert!(
        elsewhere.body.contains("127.0.0.1 or localhost"),
        "{}",
        elsewhere.body
    );
    let port = base.rsplit(':').next().unwrap();
    let by_name = request(
        base,
        "GET",
        "/api/app",
        &[("Host", &format!("localhost:{port}"))],
        "",
    );
    assert_eq!(by_name.status, 200, "{}", by_name.body);

    // Rows arrive live: the fed records' booths and amounts, ROWTIME first.
    let rows = wait_for_event(
        base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |_, e| has_rows(e),
    );
    assert_eq!(columns(&rows), ["ROWTIME", "BOOTH_ID", "AMOUNT"]);
    let first = &rows["rows"][0];
    assert!(
        ["B00", "B01", "B02", "B03"].contains(&first["BOOTH_ID"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(first["AMOUNT"].as_f64(), Some(2.5), "{first}");
    // A live event (not only the kept rows) comes too.
    wait_for_event(
        base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |name, e| name == "rows" && has_rows(e),
    );

    // The malformed records reach error_stream, their bytes in DATA_ROW.
    let errors = wait_for_event(base, "error_stream", Duration::from_secs(30), |_, e| {
        has_rows(e)
    });
    let error = &errors["rows"][0];
    assert_eq!(error["ERROR_NAME"], "PARSE_ERROR", "{error}");
    assert_eq!(error["DATA_ROW"], hex(BAD_RECORD).as_str(), "{error}");

    // Status: the streams of the application and the counts.
    let status = get(base, "/api/status").json();
    let names: Vec<&str> = status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for n in [
        "DESTINATION_SQL_STREAM",
        "SOURCE_SQL_STREAM_001",
        "error_stream",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    assert!(status["records_in"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["version"], 0);

    // check: a misspelt column is reported at its line and column.
    let checked = request(base, "POST", "/api/check", &[], APP_WITH_TYPO).json();
    assert_eq!(checked["ok"], false, "{checked}");
    let d = &checked["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(25)),
        "{d}"
    );
    assert!(d["message"].as_str().unwrap().contains("AMOUNTT"), "{d}");
    let checked = request(base, "POST", "/api/check", &[], "SELECT 1;").json();
    assert!(checked["diagnostics"][0]["help"].is_string(), "{checked}");
    let checked = request(base, "POST", "/api/check", &[], APP_WITH_ACCOUNT).json();
    assert_eq!(checked["ok"], true, "{checked}");

    // Save and run without the token, or with another one, is refused and changes nothing.
    let refused = request(base, "POST", "/api/save", &[], APP_WITH_ACCOUNT);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.json()["error"].as_str().unwrap().contains("token"));
    let refused = request(
        base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", "0123456789abcdef0123456789abcdef")],
        APP_WITH_ACCOUNT,
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(std::fs::read_to_string(&app).unwrap(), APP);

    // With the token, code that does not check is refused with its diagnostics; the run goes
    // on with the code it had.
    let token = live.token.as_str();
    let refused = request(
        base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", token)],
        APP_WITH_TYPO,
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["diagnostics"][0]["line"], 3);
    assert_eq!(std::fs::read_to_string(&app).unwrap(), APP);
    assert_eq!(get(base, "/api/status").json()["version"], 0);
    let still = wait_for_event(
        base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |name, e| name == "rows" && has_rows(e),
    );
    assert_eq!(columns(&still), ["ROWTIME", "BOOTH_ID", "AMOUNT"]);

    // Valid code with the token: it runs on the same input, and is written back.
    let saved = request(
        base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", token)],
        APP_WITH_ACCOUNT,
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let note = saved.json()["note"].as_str().unwrap().to_string();
    assert!(note.contains("started empty"), "{note}");
    assert_eq!(std::fs::read_to_string(&app).unwrap(), APP_WITH_ACCOUNT);
    let new = wait_for_event(
        base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |name, e| name == "rows" && has_rows(e) && columns(e).contains(&"ACCOUNT_ID".to_string()),
    );
    assert_eq!(
        columns(&new),
        ["ROWTIME", "BOOTH_ID", "AMOUNT", "ACCOUNT_ID"]
    );
    let account = new["rows"][0]["ACCOUNT_ID"].as_str().unwrap();
    assert!(
        account.len() == 7
            && account.starts_with('A')
            && account[1..].chars().all(|c| c.is_ascii_digit()),
        "{account}"
    );
    let status = get(base, "/api/status").json();
    assert_eq!(status["version"], 1);
    assert_eq!(get(base, "/api/app").json()["code"], APP_WITH_ACCOUNT);

    // Source data: the raw records as fed, and the input schema as KDA JSON.
    let source = get(base, "/api/source").json();
    let raw: Vec<&str> = source["raw"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(raw.contains(&BAD_RECORD), "{raw:?}");
    assert!(
        raw.iter().any(|r| r.contains("\"account_id\":\"A")),
        "{raw:?}"
    );
    let columns_given: Vec<&str> = source["input_schema"]["InputSchema"]["RecordColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns_given,
        [
            "BOOTH_ID",
            "ACCOUNT_ID",
            "VEHICLE_CLASS",
            "AMOUNT",
            "EVENT_TIME"
        ]
    );
    // The decoded rows keep the stream's column order, ROWTIME first.
    let text = get(base, "/api/source").body;
    assert!(
        text.contains("\"rows\":[{\"ROWTIME\":\"") && text.contains("\"BOOTH_ID\":"),
        "{text}"
    );
    let decoded = &source["streams"][0]["rows"][0];
    assert!(decoded["APPROXIMATE_ARRIVAL_TIME"].is_string(), "{decoded}");
    assert!(decoded["ROWTIME"].is_string(), "{decoded}");

    // The charts' history: a sample a second, with the input's rate (the feed sends 20
    // records a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history = get(base, "/api/history").json();
        let samples = history["samples"].as_array().unwrap();
        assert!(!samples.is_empty(), "{history}");
        if samples.iter().any(|s| s["input"].as_f64().unwrap() >= 1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no input rate in {history}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // Metrics, with KDA's names.
    let metrics = get(base, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .contains("openmetrics-text"),
        "{:?}",
        metrics.header("content-type")
    );
    let value = |prefix: &str| -> f64 {
        metrics
            .body
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{}", metrics.body))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        value(
            "kda_records_total{application=\"app\",stream=\"SOURCE_SQL_STREAM_001\",direction=\"input\"}"
        ) > 0.0
    );
    assert!(
        value(
            "kda_bytes_total{application=\"app\",stream=\"SOURCE_SQL_STREAM_001\",direction=\"input\"}"
        ) > 0.0
    );
    assert!(
        value(
            "kda_records_total{application=\"app\",stream=\"DESTINATION_SQL_STREAM\",direction=\"output\"}"
        ) > 0.0
    );
    assert!(
        value("rowtime_error_rows_total{application=\"app\",error_name=\"PARSE_ERROR\"}") > 0.0
    );
    assert_eq!(value("rowtime_code_updates_total"), 1.0);
    assert!(metrics.body.ends_with("# EOF\n"));
}

#[test]
fn run_with_metrics_serves_only_the_metrics() {
    let dir = temp_dir("metrics");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let live = Live::start(
        &[
            "run",
            app.to_str().unwrap(),
            "--input-schema",
            SCHEMA,
            "--metrics",
            "127.0.0.1:0",
        ],
        "Prometheus metrics at http://",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    // Every fifth record is malformed: after 10 records, at least 8 rows went out.
    loop {
        let m = get(&live.base, "/metrics");
        assert_eq!(m.status, 200);
        let out = m
            .body
            .lines()
            .find(|l| l.starts_with("kda_records_total{application=\"app\",stream=\"DESTINATION_SQL_STREAM\",direction=\"output\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if out >= 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no output rows counted:\n{}",
            m.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&live.base, "/").status, 404);
    assert_eq!(get(&live.base, "/api/status").status, 404);
}

#[test]
fn the_console_binds_loopback_by_default_and_warns_about_any_other_address() {
    let dir = temp_dir("bind");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args(["console", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("[default: 127.0.0.1:8080]"));
    // Without --listen: 127.0.0.1:8080 (or, when another program holds it, an error naming it).
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowtime"))
        .args(["console", app.to_str().unwrap(), "--input-schema", SCHEMA])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.contains("console at http://127.0.0.1:8080/")
            || first.contains("--listen 127.0.0.1:8080: cannot listen there"),
        "{first}"
    );
    // Any other address works, with a warning.
    let live = Live::start(
        &[
            "console",
            app.to_str().unwrap(),
            "--input-schema",
            SCHEMA,
            "--listen",
            "0.0.0.0:0",
        ],
        "console at http://",
    );
    assert!(
        live.said.iter().any(|l| l
            .starts_with("rowtime: warning: the console listens on 0.0.0.0:")
            && l.contains("other machines")),
        "{:?}",
        live.said
    );
}

#[test]
fn the_console_refuses_a_bad_address_and_a_state_dir_with_what_to_do() {
    let dir = temp_dir("refuse");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_rowtime"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let app = app.to_str().unwrap();
    let (code, err) = run(&[
        "console",
        app,
        "--input-schema",
        SCHEMA,
        "--listen",
        "localhost",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--listen localhost: not an address; write IP:PORT"),
        "{err}"
    );
    let (code, err) = run(&[
        "console",
        app,
        "--input-schema",
        SCHEMA,
        "--state-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not take --state-dir"), "{err}");
    let (code, err) = run(&[
        "run",
        app,
        "--input-schema",
        SCHEMA,
        "--metrics",
        "127.0.0.1:99999",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--metrics 127.0.0.1:99999: not an address"),
        "{err}"
    );
}

/// Where the browser and its driver live between runs.
fn browser_cache() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/rowtime-browser")
}

const CHROMIUM: &str = "/usr/bin/chromium";
const PLAYWRIGHT: &str = "playwright==1.65.2";

/// Installs Chromium (Debian's package) and Playwright for Python (a venv under ~/.cache) when
/// they are missing; panics with the reason when that fails.
fn install_browser() -> PathBuf {
    if !Path::new(CHROMIUM).exists() {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .expect("apt-get runs")
        };
        let mut o = install();
        if !o.status.success() {
            let _ = Command::new("apt-get").arg("update").output();
            o = install();
        }
        assert!(
            o.status.success() && Path::new(CHROMIUM).exists(),
            "the browser test needs Chromium: `apt-get install -y chromium` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let venv = browser_cache().join("venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import playwright.sync_api"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let _ = std::fs::remove_dir_all(&venv);
        let o = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 runs");
        assert!(
            o.status.success(),
            "the browser test needs a Python venv: `python3 -m venv {}` failed:\n{}",
            venv.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", PLAYWRIGHT])
            .output()
            .expect("pip runs");
        assert!(
            o.status.success() && ready(&python),
            "the browser test needs Playwright: `pip install {PLAYWRIGHT}` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    python
}

#[test]
fn the_page_shows_live_rows_and_diagnostics_and_saves_new_code_in_a_real_browser() {
    let python = install_browser();
    let dir = temp_dir("browser");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let live = Live::console(&app);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(format!("{}/#token={}", live.base, live.token))
        .arg(&screenshot)
        .arg(dir.join("chromium-profile"))
        .env("ROWTIME_TYPO_APP", APP_WITH_TYPO)
        .env("ROWTIME_NEW_APP", APP_WITH_ACCOUNT)
        .output()
        .expect("python runs");
    assert!(
        o.status.success(),
        "the browser test failed:\n{}\n{}\nrowtime said:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        live.stderr_so_far()
    );
    assert_eq!(std::fs::read_to_string(&app).unwrap(), APP_WITH_ACCOUNT);
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    println!("screenshot: {}", screenshot.display());
}

#[test]
fn on_the_toll_demo_save_and_run_reads_the_ended_file_again_and_rewrites_only_the_code() {
    let dir = temp_dir("toll");
    let definition = dir.join("toll_booth_alerts.json");
    let original = std::fs::read_to_string("sql/toll_booth_alerts.json").unwrap();
    std::fs::write(&definition, &original).unwrap();
    let live = Live::start(
        &[
            "console",
            "--app",
            definition.to_str().unwrap(),
            "--input",
            "sql/data/toll_transactions.jsonl",
            "--rowtime-from",
            "EVENT_TIME",
            "--reference",
            "BOOTH_THRESHOLDS=reference-data/toll-reference/booth_thresholds.csv",
            "--listen",
            "127.0.0.1:0",
        ],
        "console at http://",
    );
    let base = &live.base;
    let ended = || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = get(base, "/api/status").json();
            if s["ended"] == true {
                return s;
            }
            assert!(Instant::now() < deadline, "the input did not end: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let rows = |s: &serde_json::Value, name: &str| {
        s["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {s}"))["rows"]
            .as_u64()
            .unwrap()
    };
    let before = ended();
    assert_eq!(before["records_in"], 2000, "{before}");
    let code = get(base, "/api/app").json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    // Without its WHERE, ALERT_PUMP passes every count: the thresholds cover every booth and
    // half-hour slot, so each BOOTH_COUNTS row joins exactly one of them.
    let where_clause = "\n    WHERE c.VEHICLES < t.MIN_VEHICLES;";
    assert!(code.contains(where_clause), "{code}");
    let new_code = code.replace(where_clause, ";");
    let saved = request(
        base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", live.token.as_str())],
        &new_code,
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(
        saved.json()["note"]
            .as_str()
            .unwrap()
            .contains("read again from its start"),
        "{}",
        saved.body
    );
    // The run starts again and ends again.
    std::thread::sleep(Duration::from_millis(300));
    let after = ended();
    assert_eq!(after["records_in"], 4000, "{after}");
    let counts = rows(&after, "BOOTH_COUNTS") - rows(&before, "BOOTH_COUNTS");
    assert_eq!(
        counts,
        rows(&before, "BOOTH_COUNTS"),
        "the same input, the same counts"
    );
    assert_eq!(
        rows(&after, "DESTINATION_SQL_STREAM") - rows(&before, "DESTINATION_SQL_STREAM"),
        counts
    );
    // The definition has the new code, and is otherwise as it was, byte for byte.
    let written = std::fs::read_to_string(&definition).unwrap();
    let value: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        value["ApplicationDetail"]["ApplicationCode"],
        new_code.as_str()
    );
    let old_literal = serde_json::to_string(&code).unwrap();
    let new_literal = serde_json::to_string(&new_code).unwrap();
    assert_eq!(written.replace(&new_literal, &old_literal), original);
}

#[test]
fn the_status_and_the_metrics_say_what_each_pump_holds_open() {
    let dir = temp_dir("held");
    let app = dir.join("app.sql");
    // Every fed record has the same event time: in replay mode the day's window stays open,
    // with one group per booth (the feed uses four).
    std::fs::write(
        &app,
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), N BIGINT);\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM BOOTH_ID, COUNT(*) AS N FROM \"SOURCE_SQL_STREAM_001\"\nGROUP BY BOOTH_ID, STEP(\"SOURCE_SQL_STREAM_001\".ROWTIME BY INTERVAL '1' DAY);\n",
    )
    .unwrap();
    let live = Live::start(
        &[
            "console",
            app.to_str().unwrap(),
            "--input-schema",
            SCHEMA,
            "--rowtime-from",
            "EVENT_TIME",
            "--listen",
            "127.0.0.1:0",
        ],
        "console at http://",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let s = get(&live.base, "/api/status").json();
        let held = s["held"].clone();
        let rows = held[0]["operators"].as_array().map_or(0, |ops| {
            ops.iter().map(|o| o["rows"].as_u64().unwrap()).sum()
        });
        if rows >= 4 && s["records_in"].as_u64().unwrap() >= 10 {
            break held;
        }
        assert!(Instant::now() < deadline, "nothing held: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(held[0]["pump"], 0, "{held}");
    let (windows, rows) =
        held[0]["operators"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0), |(w, r), o| {
                (
                    w + o["windows"].as_u64().unwrap(),
                    r + o["rows"].as_u64().unwrap(),
                )
            });
    assert_eq!((windows, rows), (1, 4), "{held}");
    let metrics = get(&live.base, "/metrics").body;
    assert!(
        metrics.contains("rowtime_open_windows{application=\"app\",pump=\"P\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rowtime_state_rows{application=\"app\",pump=\"P\"} 4\n"),
        "{metrics}"
    );
    // The graph names the pump node by the same index.
    let graph = get(&live.base, "/api/app").json()["graph"].clone();
    let pump = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "pump")
        .unwrap()
        .clone();
    assert_eq!(
        (pump["name"].as_str(), pump["pump"].as_u64()),
        (Some("P"), Some(0))
    );
    let edges: Vec<(&str, &str)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        edges,
        [
            ("stream:SOURCE_SQL_STREAM_001", "pump:P"),
            ("pump:P", "stream:DESTINATION_SQL_STREAM")
        ]
    );
}

/// Sends `signal` to the process and waits up to 20 s for it to exit; returns its exit code.
fn stop_with(live: &mut Live, signal: &str) -> Option<i32> {
    let sent = Command::new("kill")
        .args([signal, &live.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = live.child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "rowtime console did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_stops_the_console_while_it_runs_and_sigterm_once_the_input_has_ended() {
    let dir = temp_dir("stop");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let mut live = Live::console(&app);
    wait_for_event(
        &live.base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |_, e| has_rows(e),
    );
    assert_eq!(
        stop_with(&mut live, "-INT"),
        Some(0),
        "{}",
        live.stderr_so_far()
    );
    // A file input ends; the console stays up until told to stop.
    let mut live = Live::start(
        &[
            "console",
            app.to_str().unwrap(),
            "--input-schema",
            SCHEMA,
            "--input",
            "sql/data/toll_transactions.jsonl",
            "--listen",
            "127.0.0.1:0",
        ],
        "console at http://",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&live.base, "/api/status").json()["ended"] != true {
        assert!(Instant::now() < deadline, "the input did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        live.child.try_wait().unwrap().is_none(),
        "the console stopped by itself"
    );
    assert_eq!(get(&live.base, "/api/status").status, 200);
    assert_eq!(
        stop_with(&mut live, "-TERM"),
        Some(0),
        "{}",
        live.stderr_so_far()
    );
}

#[test]
fn once_standard_input_has_ended_save_and_run_is_refused_and_says_why() {
    let dir = temp_dir("stdin-ended");
    let app = dir.join("app.sql");
    std::fs::write(&app, APP).unwrap();
    let live = Live::console(&app);
    wait_for_event(
        &live.base,
        "DESTINATION_SQL_STREAM",
        Duration::from_secs(30),
        |_, e| has_rows(e),
    );
    // The feeder stops and closes rowtime's stdin.
    live.stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&live.base, "/api/status").json()["ended"] != true {
        assert!(Instant::now() < deadline, "the input did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = request(
        &live.base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", live.token.as_str())],
        APP_WITH_ACCOUNT,
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    let error = refused.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("cannot be read again"), "{error}");
    assert!(error.contains("Restart `rowtime console`"), "{error}");
    assert_eq!(std::fs::read_to_string(&app).unwrap(), APP);
    assert_eq!(get(&live.base, "/api/status").json()["version"], 0);
}

/// Reads a stream's events until `done` says the events so far are enough; returns them, each
/// as (event name, data). Panics after `limit`.
fn collect_events(
    base: &str,
    stream: &str,
    limit: Duration,
    done: impl Fn(&[(String, serde_json::Value)]) -> bool,
) -> Vec<(String, serde_json::Value)> {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        s,
        "GET /api/streams/{stream}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + limit;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut events = Vec::new();
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the event stream: {e}"),
        }
        let Some((_, _, rest)) = split_head(&raw) else {
            continue;
        };
        let body = String::from_utf8_lossy(&dechunk(rest).0).into_owned();
        // Only whole events (each ends with a blank line).
        let whole = &body[..body.rfind("\n\n").map_or(0, |i| i + 2)];
        events = whole
            .split("\n\n")
            .filter(|e| e.contains("data:"))
            .map(|e| {
                let name = e
                    .lines()
                    .find_map(|l| l.strip_prefix("event:"))
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let data: String = e
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                (name, serde_json::from_str(&data).unwrap())
            })
            .collect();
        if done(&events) {
            return events;
        }
    }
    panic!("the events did not come within {limit:?}: {events:?}");
}

#[test]
fn save_and_run_loses_and_repeats_no_record_of_the_flowing_input() {
    let dir = temp_dir("no-gap");
    let app = dir.join("app.sql");
    let old = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (ACCOUNT_ID VARCHAR(16));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\";\n";
    let new = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (ACCOUNT_ID VARCHAR(16), BOOTH_ID VARCHAR(8));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\nSELECT STREAM ACCOUNT_ID, BOOTH_ID FROM \"SOURCE_SQL_STREAM_001\";\n";
    std::fs::write(&app, old).unwrap();
    let live = Live::console(&app);
    let base = live.base.clone();
    let new_rows = |events: &[(String, serde_json::Value)]| {
        events
            .iter()
            .filter(|(name, e)| name == "rows" && columns(e).contains(&"BOOTH_ID".to_string()))
            .map(|(_, e)| e["rows"].as_array().unwrap().len())
            .sum::<usize>()
    };
    let watcher = std::thread::spawn(move || {
        collect_events(
            &base,
            "DESTINATION_SQL_STREAM",
            Duration::from_secs(60),
            |events| new_rows(events) >= 20,
        )
    });
    // Let rows of the old code come first.
    std::thread::sleep(Duration::from_millis(1500));
    let saved = request(
        &live.base,
        "POST",
        "/api/save",
        &[("X-Rowtime-Token", live.token.as_str())],
        new,
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let events = watcher.join().unwrap();
    // Every live row in order: the account numbers of the good records (every fifth record is
    // malformed), each once, old code then new, with no gap where the code changed.
    let mut accounts = Vec::new();
    let mut switched_at = None;
    for (name, e) in &events {
        if name != "rows" {
            continue;
        }
        let with_booth = columns(e).contains(&"BOOTH_ID".to_string());
        if with_booth && switched_at.is_none() {
            switched_at = Some(accounts.len());
        }
        assert!(
            switched_at.is_none() || with_booth,
            "a row of the old code came after the new code's"
        );
        for row in e["rows"].as_array().unwrap() {
            let a = row["ACCOUNT_ID"].as_str().unwrap();
            accounts.push(a[1..].parse::<u64>().unwrap());
        }
    }
    let switched_at = switched_at.unwrap();
    assert!(switched_at > 0, "no row of the old code was seen live");
    let first = accounts[0];
    let expected: Vec<u64> = (first..)
        .filter(|i| i % 5 != 4)
        .take(accounts.len())
        .collect();
    assert_eq!(accounts, expected, "switched after {switched_at} rows");
}
