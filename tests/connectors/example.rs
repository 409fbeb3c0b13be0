//! `examples/toll-architecture.sh`, run as a user runs it (with this build's binary and a free
//! port): it must end with exit 0 having shown the billing rows in S3 and the alerts the Lambda
//! received (the numbers a file run and the test's own reading of the sample give), and leave
//! no server behind, also when a step fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support;
use crate::toll::{accepted, canonical, file_run, sample_lines};

fn script(dir: &Path, rowtime: &Path) -> std::process::Output {
    support::install();
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/toll-architecture.sh"))
        .env("ROWTIME", rowtime)
        .env("PORT", support::free_port().to_string())
        .env("WORK", dir)
        .env("ROWTIME_SERVERS", support::install_root())
        .output()
        .expect("bash runs the example")
}

/// The server's PID as the script printed it.
fn server_pid(stdout: &str) -> u32 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("ministack started (pid "))
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no `ministack started (pid N)` line:\n{stdout}"))
}

/// Nothing of the server's process group is left (ministack and its Lambda workers).
fn assert_stopped(pid: u32) {
    support::eventually(
        Duration::from_secs(10),
        "the server's processes end",
        || {
            let alive = Command::new("kill")
                .args(["-0", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status()
                .expect("kill runs")
                .success();
            (!alive).then_some(())
        },
    );
}

/// The number after `prefix` on the line that starts with it.
fn number_after(stdout: &str, prefix: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line starting `{prefix}N`:\n{stdout}"))
}

fn without_rowtime(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("ROWTIME");
            r
        })
        .collect()
}

#[test]
fn the_toll_architecture_example_shows_billing_in_s3_and_alerts_at_the_lambda() {
    let dir = support::temp_dir("example");
    let out = script(&dir, &support::rowtime_bin());
    let stdout = support::text(&out.stdout);
    let stderr = support::text(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_stopped(server_pid(&stdout));
    assert!(
        stdout.contains(&format!("ministack (pid {}) stopped", server_pid(&stdout))),
        "{stdout}"
    );

    let lines = sample_lines();
    let good = lines.iter().filter(|l| accepted(l).is_some()).count();
    let expected = file_run(&dir, "sql/toll_billing.json", &["DESTINATION_SQL_STREAM"]);
    let alerts = file_run(
        &dir,
        "sql/toll_booth_alerts.json",
        &["DESTINATION_SQL_STREAM"],
    );
    assert_eq!(
        number_after(&stdout, "s3://toll-billing/billing/: "),
        expected["DESTINATION_SQL_STREAM"].len()
    );
    assert!(
        stdout.contains(&format!("one billing row each ({good} trips,")),
        "{stdout}"
    );
    let bad = lines.len() - good;
    assert_eq!(number_after(&stdout, "s3://toll-errors/billing/: "), bad);
    assert_eq!(number_after(&stdout, "s3://toll-errors/alerts/: "), bad);
    let expected_alerts = &alerts["DESTINATION_SQL_STREAM"];
    assert_eq!(
        number_after(&stdout, "Lambda toll-booth-alerts received "),
        expected_alerts.len()
    );
    let received = support::json_lines(&dir.join("alerts-received.jsonl"));
    assert_eq!(
        canonical(&received),
        canonical(&without_rowtime(expected_alerts))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_stops_its_server_when_a_step_fails() {
    let dir = support::temp_dir("example-fails");
    // A rowtime that fails at once: the script stops there, and stops the server.
    let out = script(&dir, Path::new("/bin/false"));
    let stdout = support::text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert_stopped(server_pid(&stdout));
    assert!(stdout.contains("stopped"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
