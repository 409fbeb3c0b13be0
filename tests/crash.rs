//! The crash harness and the other checkpoint tests: the real `rowtime` binary, killed for real.
//!
//! `crashes_at_random_points_change_no_byte_of_the_output` replays generated toll transactions
//! (1% malformed) through four applications: toll billing (a tumbling window, also written as
//! Firehose-style objects), toll booth alerts (a window into a reference-table join), sliding
//! windows from two pumps merged into one stream, and a stream join. Each is run once straight
//! through, then again with `--state-dir`, killed with SIGKILL (some with SIGTERM) at random
//! moments and resumed each time until it finishes; every output and error_stream must equal
//! the uninterrupted run's byte for byte.
//!
//! It prints its seed; `ROWTIME_CRASH_SEED=N` repeats a run, `ROWTIME_CRASH_ROWS` sets the size
//! (default 1,000,000) and `ROWTIME_CRASH_KILLS` the kills per application (default 6):
//! `ROWTIME_CRASH_ROWS=5000000 ROWTIME_CRASH_KILLS=25 cargo test --release --test crash`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rowtime");

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rowtime-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: write a whole number")),
        Err(_) => default,
    }
}

/// xorshift64*: the harness's own random numbers, repeatable from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One application of the harness and how it is run.
struct App {
    name: &'static str,
    /// The application and its schema.
    args: Vec<String>,
    /// Also written as Firehose-style objects (then every kill is a SIGKILL: a clean stop closes
    /// the open object early, which changes where objects end though no row).
    objects: bool,
}

fn apps() -> Vec<App> {
    let sql = |file: &str| {
        vec![
            repo(file),
            "--input-schema".into(),
            repo("sql/toll_input_schema.json"),
        ]
    };
    vec![
        App {
            name: "billing",
            args: vec!["--app".into(), repo("sql/toll_billing.json")],
            objects: true,
        },
        App {
            name: "alerts",
            args: vec!["--app".into(), repo("sql/toll_booth_alerts.json")],
            objects: false,
        },
        App {
            name: "sliding",
            args: sql("tests/crash/toll_sliding.sql"),
            objects: false,
        },
        App {
            name: "join",
            args: sql("tests/crash/toll_repeat_passes.sql"),
            objects: false,
        },
    ]
}

/// The command running `app` over `input`, its outputs in `out`.
fn command(app: &App, input: &Path, out: &Path, extra: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("run")
        .args(&app.args)
        .arg("--input")
        .arg(input)
        .args(["--rowtime-from", "EVENT_TIME"])
        .arg("--output")
        .arg(format!(
            "DESTINATION_SQL_STREAM={}",
            out.join("destination.jsonl").display()
        ))
        .arg("--output")
        .arg(format!(
            "error_stream={}",
            out.join("errors.jsonl").display()
        ))
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if app.objects {
        c.arg("--output")
            .arg(format!(
                "DESTINATION_SQL_STREAM={}/",
                out.join("objects").display()
            ))
            .args(["--buffer-size", "256KiB"]);
    }
    c
}

/// Every file under `dir`, by its path below it, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Says where two runs' files first differ.
fn assert_same_files(expected: &Path, actual: &Path, what: &str) {
    let (want, got) = (files(expected), files(actual));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{what}: the files differ");
    for ((name, a), (_, b)) in want.iter().zip(&got) {
        if a != b {
            let line = a
                .split(|c| *c == b'\n')
                .zip(b.split(|c| *c == b'\n'))
                .position(|(x, y)| x != y);
            panic!(
                "{what}: {name} differs from the uninterrupted run's ({} bytes there, {} here; first at line {:?})",
                a.len(),
                b.len(),
                line.map(|l| l + 1)
            );
        }
    }
}

fn finished(child: &mut Child) -> Option<Output> {
    child.try_wait().unwrap().map(|_| child_output(child))
}

fn child_output(child: &mut Child) -> Output {
    let status = child.wait().unwrap();
    let mut stderr = Vec::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        e.read_to_end(&mut stderr).unwrap();
    }
    Output {
        status,
        stdout: Vec::new(),
        stderr,
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {}", child.id());
}

/// Runs `app` to its end through kills; returns how many it took (SIGKILL, SIGTERM).
fn run_with_crashes(
    app: &App,
    input: &Path,
    out: &Path,
    rng: &mut Rng,
    straight: Duration,
    seed: u64,
) -> (u32, u32) {
    let state = out.join("state");
    let (mut kills, mut stops) = (0u32, 0u32);
    // Kills come within the first sixth of a straight run's time, so a run takes several.
    let latest = (straight.as_millis() as u64 / 6).max(60);
    for attempt in 0.. {
        assert!(attempt < 400, "seed {seed}: {} never finished", app.name);
        let interval = ["10ms", "50ms", "200ms", "1s"][rng.between(0, 3) as usize];
        let extra = vec![
            "--state-dir".to_string(),
            state.display().to_string(),
            "--checkpoint-interval".into(),
            interval.into(),
        ];
        let mut child = command(app, input, out, &extra).spawn().unwrap();
        let wait = Duration::from_millis(rng.between(20, latest));
        let started = Instant::now();
        while started.elapsed() < wait {
            if finished(&mut child).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(output) = finished(&mut child) {
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "seed {seed}: {} failed after {kills} kills: {err}",
                app.name
            );
            return (kills, stops);
        }
        // One kill in four is a SIGTERM (a clean stop), except with objects.
        if !app.objects && rng.between(0, 3) == 0 {
            signal(&child, "TERM");
            let output = child_output(&mut child);
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "seed {seed}: {} after SIGTERM: {:?} {err}",
                app.name,
                output.status
            );
            // A clean stop says only that it resumed and how far it got.
            assert!(
                err.lines().all(
                    |l| l.starts_with("rowtime: resuming") || l.starts_with("rowtime: rows in")
                ),
                "seed {seed}: {err}"
            );
            stops += 1;
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        }
    }
    unreachable!()
}

#[test]
fn crashes_at_random_points_change_no_byte_of_the_output() {
    let seed = match std::env::var("ROWTIME_CRASH_SEED") {
        Ok(s) => s.parse().expect("ROWTIME_CRASH_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    };
    let rows = env_number("ROWTIME_CRASH_ROWS", 1_000_000);
    let kills_wanted = env_number("ROWTIME_CRASH_KILLS", 6) as u32;
    eprintln!(
        "crash harness: seed {seed}, {rows} rows (repeat with ROWTIME_CRASH_SEED={seed} ROWTIME_CRASH_ROWS={rows})"
    );
    let mut rng = Rng(seed);
    let dir = temp_dir("harness");
    let input = dir.join("transactions.jsonl");
    let generated = Command::new(BIN)
        .args(["generate", "toll", "--count", &rows.to_string()])
        .args(["--seed", &(seed % 1000).to_string(), "--bad-share", "0.01"])
        .stdout(std::fs::File::create(&input).unwrap())
        .status()
        .unwrap();
    assert!(generated.success());
    let mut total = 0;
    for app in apps() {
        let expected = dir.join(format!("{}-straight", app.name));
        std::fs::create_dir_all(&expected).unwrap();
        let started = Instant::now();
        let output = command(&app, &input, &expected, &[]).output().unwrap();
        let straight = started.elapsed();
        assert!(
            output.status.success(),
            "{}: {}",
            app.name,
            String::from_utf8_lossy(&output.stderr)
        );
        let errors = std::fs::read_to_string(expected.join("errors.jsonl")).unwrap();
        assert!(
            errors.lines().count() as u64 >= rows / 200,
            "{}: the malformed records reach error_stream",
            app.name
        );
        let (mut kills, mut stops) = (0, 0);
        let mut round = 0;
        while kills + stops < kills_wanted {
            let out = dir.join(format!("{}-crashed-{round}", app.name));
            std::fs::create_dir_all(&out).unwrap();
            let (k, s) = run_with_crashes(&app, &input, &out, &mut rng, straight, seed);
            let _ = std::fs::remove_dir_all(out.join("state"));
            assert_same_files(
                &expected,
                &out,
                &format!("seed {seed}, {} after {k} kills and {s} stops", app.name),
            );
            eprintln!(
                "crash harness: {}: {k} SIGKILLs and {s} SIGTERMs, output identical",
                app.name
            );
            kills += k;
            stops += s;
            round += 1;
        }
        total += kills + stops;
    }
    assert!(total >= 20, "seed {seed}: only {total} kills");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `rowtime run` with `args` (from the repository) to its end.
fn rowtime(args: &[String]) -> Output {
    Command::new(BIN)
        .arg("run")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The billing application over `input`, its rows to `out`/destination.jsonl.
fn billing_args(input: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--app".into(),
        repo("sql/toll_billing.json"),
        "--input".into(),
        input.display().to_string(),
        "--rowtime-from".into(),
        "EVENT_TIME".into(),
        "--output".into(),
        format!(
            "DESTINATION_SQL_STREAM={}",
            out.join("destination.jsonl").display()
        ),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn generate(path: &Path, count: u64, seed: u64, start: &str) {
    let ok = Command::new(BIN)
        .args(["generate", "toll", "--count", &count.to_string()])
        .args(["--seed", &seed.to_string(), "--start", start])
        .stdout(std::fs::File::create(path).unwrap())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Starts billing with checkpoints every 10 ms and kills it once two checkpoints exist.
fn killed_after_two_checkpoints(input: &Path, out: &Path, state: &Path) {
    let state_arg = state.display().to_string();
    let args = billing_args(
        input,
        out,
        &["--state-dir", &state_arg, "--checkpoint-interval", "10ms"],
    );
    let mut child = Command::new(BIN)
        .arg("run")
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let n = std::fs::read_dir(state)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
                })
                .count()
            })
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before two checkpoints; give it more input"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The newest checkpoint file in `state`.
fn newest_checkpoint(state: &Path) -> PathBuf {
    let mut names: Vec<PathBuf> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint-")
        })
        .collect();
    names.sort();
    names.pop().expect("a checkpoint")
}

#[test]
fn a_damaged_newest_checkpoint_is_passed_over_for_the_one_before() {
    let dir = temp_dir("damaged");
    let input = dir.join("in.jsonl");
    generate(&input, 400_000, 5, "2026-03-02 00:00:00");
    let expected = dir.join("straight");
    std::fs::create_dir_all(&expected).unwrap();
    assert!(
        rowtime(&billing_args(&input, &expected, &[]))
            .status
            .success()
    );
    for (damage, case) in [("flip", 0), ("truncate", 1)] {
        let out = dir.join(format!("out-{damage}"));
        let state = out.join("state");
        std::fs::create_dir_all(&out).unwrap();
        killed_after_two_checkpoints(&input, &out, &state);
        let newest = newest_checkpoint(&state);
        let mut bytes = std::fs::read(&newest).unwrap();
        if case == 0 {
            let at = bytes.len() / 2;
            bytes[at] ^= 0x01;
        } else {
            bytes.truncate(bytes.len() - 3);
        }
        std::fs::write(&newest, &bytes).unwrap();
        let state_arg = state.display().to_string();
        let resumed = rowtime(&billing_args(&input, &out, &["--state-dir", &state_arg]));
        let err = stderr(&resumed);
        assert!(resumed.status.success(), "{err}");
        let name = newest.file_name().unwrap().to_string_lossy().into_owned();
        let why = if case == 0 { "checksum" } else { "torn write" };
        assert!(
            err.contains(&format!("warning: {}", newest.display()))
                && err.contains(&name)
                && err.contains(why)
                && err.contains("resuming from the checkpoint before it"),
            "{err}"
        );
        std::fs::remove_dir_all(&state).unwrap();
        assert_same_files(&expected, &out, damage);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_of_another_application_or_input_is_refused_with_what_differs() {
    let dir = temp_dir("other-app");
    let input = dir.join("in.jsonl");
    generate(&input, 2_000, 1, "2026-03-02 00:00:00");
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let with_state = ["--state-dir", state_arg.as_str()];
    assert!(
        rowtime(&billing_args(&input, &dir, &with_state))
            .status
            .success()
    );
    let alerts = vec![
        "--app".to_string(),
        repo("sql/toll_booth_alerts.json"),
        "--input".into(),
        input.display().to_string(),
        "--rowtime-from".into(),
        "EVENT_TIME".into(),
        "--output".into(),
        format!(
            "DESTINATION_SQL_STREAM={}",
            dir.join("alerts.jsonl").display()
        ),
        "--state-dir".into(),
        state_arg.clone(),
    ];
    let refused = rowtime(&alerts);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot be resumed by this run")
            && err.contains("application `toll-billing`, and this is `toll-booth-alerts`")
            && err.contains("--force"),
        "{err}"
    );
    // Live ROWTIMEs instead of replayed ones: refused too.
    let mut live = billing_args(&input, &dir, &with_state);
    live.drain(4..6);
    let err = stderr(&rowtime(&live));
    assert!(err.contains("live ROWTIMEs (no --rowtime-from)"), "{err}");
    // Another input file.
    let other = dir.join("other.jsonl");
    std::fs::copy(&input, &other).unwrap();
    let err = stderr(&rowtime(&billing_args(&other, &dir, &with_state)));
    assert!(err.contains("other.jsonl"), "{err}");
    // --force starts afresh, and the output is a fresh run's.
    let forced = rowtime(&billing_args(
        &other,
        &dir,
        &["--state-dir", &state_arg, "--force"],
    ));
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(!stderr(&forced).contains("resuming"));
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    assert!(rowtime(&billing_args(&other, &fresh, &[])).status.success());
    assert_eq!(
        std::fs::read(dir.join("destination.jsonl")).unwrap(),
        std::fs::read(fresh.join("destination.jsonl")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoints_need_a_readable_input_and_the_files_they_wrote() {
    let dir = temp_dir("needs");
    let input = dir.join("in.jsonl");
    generate(&input, 300_000, 2, "2026-03-02 00:00:00");
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    // stdin cannot be read again from a position.
    let mut from_stdin = billing_args(&input, &dir, &["--state-dir", &state_arg]);
    from_stdin[3] = "-".into();
    let refused = rowtime(&from_stdin);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("not stdin"), "{err}");
    // --force without --state-dir.
    let err = stderr(&rowtime(&billing_args(&input, &dir, &["--force"])));
    assert!(err.contains("go with --state-dir"), "{err}");
    // An output file cut shorter than the checkpoint recorded is not written over.
    killed_after_two_checkpoints(&input, &dir, &state);
    let out = dir.join("destination.jsonl");
    std::fs::write(&out, b"").unwrap();
    let refused = rowtime(&billing_args(&input, &dir, &["--state-dir", &state_arg]));
    let err = stderr(&refused);
    assert!(!refused.status.success());
    assert!(
        err.contains("fewer than the")
            && err.contains("destination.jsonl")
            && err.contains("--force"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_the_end_of_its_input_a_run_goes_on_with_what_was_appended() {
    let dir = temp_dir("appended");
    let (first, second) = (dir.join("first.jsonl"), dir.join("second.jsonl"));
    generate(&first, 5_000, 3, "2026-03-02 00:00:00");
    generate(&second, 5_000, 4, "2026-03-05 00:00:00");
    // Expected: each part alone (the second starts days later, so its ROWTIMEs are its own).
    let part = |input: &Path, name: &str| {
        let out = dir.join(name);
        std::fs::create_dir_all(&out).unwrap();
        assert!(rowtime(&billing_args(input, &out, &[])).status.success());
        std::fs::read(out.join("destination.jsonl")).unwrap()
    };
    let mut expected = part(&first, "a");
    expected.extend(part(&second, "b"));

    let input = dir.join("growing.jsonl");
    std::fs::copy(&first, &input).unwrap();
    let state_arg = dir.join("state").display().to_string();
    let args = billing_args(&input, &dir, &["--state-dir", &state_arg]);
    let done = rowtime(&args);
    assert!(done.status.success(), "{}", stderr(&done));
    // Run again: nothing new, nothing repeated.
    let again = rowtime(&args);
    assert!(
        stderr(&again).contains("had reached the end of its input"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(dir.join("destination.jsonl")).unwrap(),
        part(&first, "c")
    );
    // Records appended: the next run reads only those, with windows of its own.
    let mut grown = std::fs::read(&input).unwrap();
    grown.extend(std::fs::read(&second).unwrap());
    std::fs::write(&input, grown).unwrap();
    let more = rowtime(&args);
    assert!(more.status.success(), "{}", stderr(&more));
    assert_eq!(
        std::fs::read(dir.join("destination.jsonl")).unwrap(),
        expected
    );
    let _ = std::fs::remove_dir_all(&dir);
}
