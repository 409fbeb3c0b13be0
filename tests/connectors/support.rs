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
