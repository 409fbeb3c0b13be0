//! The harness of the connector tests: real protocol-compatible servers on 127.0.0.1 (installed
//! by `tests/servers/install.sh` on first use, started per test, stopped when the test ends),
//! a boto3 tool to produce and check data with a real AWS SDK, and the `rowtime` binary run with
//! the servers' endpoints and fixed test credentials.
//!
//! A server that cannot be installed or started fails the test with the reason; nothing is
//! skipped quietly.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository's `tests/servers/`.
pub fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

/// Where the servers are installed.
pub fn install_root() -> PathBuf {
    std::env::var_os("ROWTIME_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/rowtime-servers")
        })
}

/// Installs the servers once per test process (install.sh is idempotent and locks).
pub fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(servers_dir().join("install.sh"))
            .output()
            .expect("bash runs install.sh");
        assert!(
            out.status.success(),
            "tests/servers/install.sh failed: the connector tests need their servers\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The fixed test environment: credentials, region, no metadata probes.
pub const TEST_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// A free port on 127.0.0.1 (the OS picks it; a server started right after takes it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("a local address").port()
}

/// A server started by `tests/servers/start.sh`, stopped (with its children) when dropped.
pub struct Server {
    pub name: String,
    pub port: u16,
    pid: u32,
}

impl Server {
    /// `ministack`, `kinesis-local` or `faulty-proxy` (with its arguments).
    pub fn start(name: &str, args: &[&str]) -> Server {
        install();
        let mut last = String::new();
        // A port picked free can be taken between the pick and the start: try a few.
        for _ in 0..3 {
            let port = free_port();
            let out = Command::new("bash")
                .arg(servers_dir().join("start.sh"))
                .arg(name)
                .arg(port.to_string())
                .args(args)
                .envs(TEST_ENV.iter().copied())
                .stdin(Stdio::null())
                .output()
                .expect("bash runs start.sh");
            if out.status.success() {
                let pid = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("start.sh prints the PID");
                return Server {
                    name: name.to_string(),
                    port,
                    pid,
                };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("could not start {name} on 127.0.0.1: {last}");
    }

    pub fn ministack() -> Server {
        Server::start("ministack", &[])
    }

    pub fn kinesis_local() -> Server {
        Server::start("kinesis-local", &[])
    }

    /// A fault-injecting proxy in front of `upstream`, with a plan file and a call log.
    pub fn proxy(upstream: &Server, plan: &Path, log: &Path) -> Server {
        let up = upstream.endpoint();
        Server::start(
            "faulty-proxy",
            &[
                "--upstream",
                &up,
                "--plan",
                plan.to_str().expect("a UTF-8 path"),
                "--log",
                log.to_str().expect("a UTF-8 path"),
            ],
        )
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(servers_dir().join("stop.sh"))
            .arg(self.pid.to_string())
            .status();
    }
}

/// Runs `tests/servers/aws_tool.py` (boto3) against `endpoint`; returns its JSON answer.
pub fn aws(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = aws_raw(endpoint, args);
    assert!(
        out.status.success(),
        "aws_tool.py {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "aws_tool.py {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The same, returning the raw output (for `get-object`, and for expected failures).
pub fn aws_raw(endpoint: &str, args: &[&str]) -> Output {
    install();
    Command::new(install_root().join("ministack/bin/python"))
        .arg(servers_dir().join("aws_tool.py"))
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .envs(TEST_ENV.iter().copied())
        .output()
        .expect("python runs aws_tool.py")
}

/// The `rowtime` binary of this build.
pub fn rowtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rowtime"))
}

/// A `rowtime` command with the test environment and every service pointed at `endpoint`.
pub fn rowtime(endpoint: &str) -> Command {
    let mut c = Command::new(rowtime_bin());
    c.envs(TEST_ENV.iter().copied())
        .env("AWS_ENDPOINT_URL", endpoint)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// A fresh folder for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rowtime-connectors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp folder");
    dir
}

/// Waits until `f` returns Some, up to `limit`; panics with `what` otherwise.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets the test environment in this process, for tests that build connectors in-process (the
/// AWS SDK and object_store read it). Every connector test sets the same values.
pub fn set_test_env(endpoint: &str) {
    for (k, v) in TEST_ENV {
        // SAFETY: the tests that call this set the same values; the endpoint differs per
        // server, so in-process tests that use it run one at a time (`serial()`).
        unsafe { std::env::set_var(k, v) };
    }
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", endpoint) };
}

/// Serialises in-process tests that depend on the process environment (`set_test_env`).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON lines of a file (none if it does not exist yet).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path:?}: {e}: {l}")))
        .collect()
}

/// Replaces a fault proxy's plan file atomically (the proxy re-reads it on every request, and a
/// new content restarts its counters).
pub fn write_plan(path: &Path, plan: &serde_json::Value) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, plan.to_string()).expect("the plan is written");
    std::fs::rename(&tmp, path).expect("the plan is replaced");
}

/// Writes `lines` to `dir/NAME.records` and puts them into Kinesis stream `stream` with boto3,
/// one record per line (partition key: the line index, unless `extra` says otherwise); returns
/// aws_tool's answer (every record's shard and sequence number).
pub fn put_lines(
    endpoint: &str,
    dir: &Path,
    stream: &str,
    lines: &[String],
    extra: &[&str],
) -> serde_json::Value {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!("{stream}-{n}.records"));
    std::fs::write(&file, lines.join("\n")).expect("the records are written");
    let mut args = vec!["put-records", stream, file.to_str().expect("a UTF-8 path")];
    args.extend_from_slice(extra);
    aws(endpoint, &args)
}

/// How a `rowtime` process ended.
#[derive(Debug)]
pub struct Finished {
    pub status: std::process::ExitStatus,
    /// Its stdout, line by line.
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Finished {
    /// Panics with the output unless the process exited 0.
    pub fn assert_ok(&self) -> &Finished {
        assert!(
            self.status.success(),
            "rowtime exited with {}\nstderr:\n{}",
            self.status,
            self.stderr
        );
        self
    }
}

/// A `rowtime` process a test started: its stdout read line by line as it comes, its stderr kept
/// in a file. Killed (by its PID) if still running when dropped.
pub struct Running {
    child: Option<std::process::Child>,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    stderr: PathBuf,
}

impl Running {
    /// Starts `cmd`; its stderr goes to `stderr`.
    pub fn start(mut cmd: Command, stderr: &Path) -> Running {
        let err = std::fs::File::create(stderr).expect("a stderr file");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("rowtime starts");
        let out = child.stdout.take().expect("a stdout pipe");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                collected.lock().unwrap().push(line);
            }
        });
        Running {
            child: Some(child),
            lines,
            reader: Some(reader),
            stderr: stderr.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The stdout lines so far, each parsed as JSON.
    pub fn rows(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `done` holds for what the process wrote (stdout lines, stderr), up to `limit`;
    /// fails at once with its stderr if the process ends first.
    pub fn wait_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&[String], &str) -> bool,
    ) {
        let start = Instant::now();
        loop {
            if done(&self.lines(), &self.stderr()) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                // The last lines may still be in the pipe.
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                if done(&self.lines(), &self.stderr()) {
                    return;
                }
                panic!(
                    "rowtime exited ({status}) before {what}\nstdout: {} lines\nstderr:\n{}",
                    self.lines().len(),
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?}: {what}\nstdout: {} lines\nstderr:\n{}",
                self.lines().len(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until stdout holds at least `n` lines.
    pub fn wait_for_lines(&mut self, n: usize, limit: Duration) {
        self.wait_until(limit, &format!("{n} output lines"), |lines, _| {
            lines.len() >= n
        });
    }

    /// Sends a signal (`TERM`, `HUP`, …) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {}", self.pid());
    }

    /// SIGTERM (rowtime stops as at the end of its input), then waits for the exit.
    pub fn stop(self, limit: Duration) -> Finished {
        self.signal("TERM");
        self.wait(limit)
    }

    /// Waits for the process to exit on its own (killing it after `limit`).
    pub fn wait(mut self, limit: Duration) -> Finished {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rowtime still running after {limit:?}; killed\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        Finished {
            status,
            stdout: self.lines(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd` to its end (killed after `limit`).
pub fn run_to_end(cmd: Command, stderr: &Path, limit: Duration) -> Finished {
    Running::start(cmd, stderr).wait(limit)
}
