//! The commands: each takes its parsed flags and does its work with the library.

use std::io::Write;
use std::time::Duration;

use rowtime::app::assemble::{Options, Prepared, dataflow, discover_input, load_tables, prepare};
use rowtime::app::bind::{RunFlags, bind};
use rowtime::catalog::{ERROR_STREAM, StreamKind};
use rowtime::error::{Error, Result};
use rowtime::generate::{BidOptions, TollOptions, generate_bids, generate_toll};
use rowtime::runtime::{Checkpoint, Checkpoints, Identity, InputPosition, RunOptions, StateDir};

use rowtime::app::bind::bind_inputs;
use rowtime::connectors::location::Location;
use rowtime::console::server::{bind as listen_on, serve_console, serve_metrics};
use rowtime::console::watch::Watch;
use rowtime::console::{AppFile, Console, Running};
use rowtime::runtime::{Control, InputMessage};

use crate::{Cli, Command, DiscoverArgs, Generate, RunArgs, TestArgs, TranslateArgs};

/// `--start` of `rowtime generate`: milliseconds since the epoch.
fn start_ms(start: &str) -> Result<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| Error::Usage(format!("--start {start:?}: {e}; write YYYY-MM-DD HH:MM:SS")))?;
    Ok(t.and_utc().timestamp_millis())
}

/// Runs a command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => {
            rowtime::runtime::catch_stop_signals_early();
            cmd_run(*args, None)
        }
        Command::Console(args) => {
            let args = *args;
            cmd_run(args.run, Some(args.listen))
        }
        Command::Check(args) => {
            let Prepared { app, plan, .. } = prepare(&Options::from(&args), false)?;
            let pumps = plan.pumps.len();
            let streams = plan
                .catalog
                .streams
                .iter()
                .filter(|s| s.kind == StreamKind::Created)
                .count();
            println!(
                "{}: ok ({streams} stream(s), {pumps} pump(s), {} reference table(s))",
                app.code.name,
                plan.catalog.tables.len()
            );
            Ok(())
        }
        Command::Explain(args) => {
            let plan = prepare(&Options::from(&args), false)?.plan;
            print!("{plan}");
            Ok(())
        }
        Command::Test(args) => cmd_test(args),
        Command::Translate(args) => cmd_translate(*args),
        Command::Discover(args) => cmd_discover(args),
        Command::Generate(Generate::Toll {
            count,
            seed,
            bad_share,
            start,
            format,
        }) => {
            if !(0.0..=1.0).contains(&bad_share) {
                return Err(Error::Usage(format!(
                    "--bad-share {bad_share}: must be between 0 and 1"
                )));
            }
            let mut opts = TollOptions {
                count,
                seed,
                bad_share,
                format,
                ..TollOptions::default()
            };
            if let Some(start) = start {
                opts.start_ms = start_ms(&start)?;
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            generate_toll(&opts, &mut out).map_err(|e| Error::io("stdout", e))?;
            out.flush().map_err(|e| Error::io("stdout", e))
        }
        Command::Generate(Generate::Bids {
            count,
            seed,
            start,
            format,
        }) => {
            let mut opts = BidOptions {
                count,
                seed,
                format,
                ..BidOptions::default()
            };
            if let Some(start) = start {
                opts.start_ms = start_ms(&start)?;
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            generate_bids(&opts, &mut out).map_err(|e| Error::io("stdout", e))?;
            out.flush().map_err(|e| Error::io("stdout", e))
        }
    }
}

/// `rowtime run`, and with `listen` `rowtime console`: the same run, watched by the console.
fn cmd_run(args: RunArgs, listen: Option<String>) -> Result<()> {
    // Check every flag before reading anything.
    let flags = RunFlags {
        outputs: args.output.clone(),
        connect: args.connect,
        rowtime_from: args.rowtime_from.clone(),
        with_rowtime: args.with_rowtime,
        start_position: args.start_position.clone(),
        until_latest: args.until_latest,
        max_delivery_retries: args.max_delivery_retries,
        buffer_size: args
            .buffer_size
            .as_deref()
            .map(|s| parse_size(s).map_err(|e| Error::Usage(format!("--buffer-size {s}: {e}"))))
            .transpose()?,
        buffer_interval: args
            .buffer_interval
            .as_deref()
            .map(|s| {
                parse_duration(s).map_err(|e| Error::Usage(format!("--buffer-interval {s}: {e}")))
            })
            .transpose()?,
        gzip: args.gzip,
        checkpoints: args.state_dir.is_some(),
        append_outputs: false,
    };
    flags.check()?;
    if listen.is_some() && args.state_dir.is_some() {
        return Err(Error::Usage(
            "rowtime console does not take --state-dir: Save and run starts the application's state afresh, which a checkpoint cannot follow; keep checkpoints with rowtime run --state-dir DIR".into(),
        ));
    }
    // Listen before reading anything, so that a taken port is said at once.
    let console_listener = listen
        .as_deref()
        .map(|l| listen_on(l, "--listen"))
        .transpose()?;
    let metrics_listener = args
        .metrics
        .as_deref()
        .map(|l| listen_on(l, "--metrics"))
        .transpose()?;
    let interval = match &args.checkpoint_interval {
        None => DEFAULT_CHECKPOINT_INTERVAL,
        Some(s) => parse_duration(s)
            .map_err(|e| Error::Usage(format!("--checkpoint-interval {s}: {e}")))?,
    };
    if args.state_dir.is_none() && (args.checkpoint_interval.is_some() || args.force) {
        return Err(Error::Usage(
            "--checkpoint-interval and --force go with --state-dir DIR".into(),
        ));
    }
    let mut prepared = prepare(&Options::from(&args), true)?;
    let opened = std::time::Instant::now();
    let checkpoints = match &args.state_dir {
        None => None,
        Some(dir) => Some(open_state_dir(
            dir, &prepared, &flags, interval, args.force,
        )?),
    };
    let resume = checkpoints.as_ref().and_then(|c| c.resumed.as_ref());
    let loaded = load_tables(&prepared.references)?;
    let mut dataflow = dataflow(&prepared.plan, &loaded.tables, loaded.errors)?;
    if let Some(state) = resume.and_then(|c| c.dataflow.as_ref()) {
        dataflow.restore(state)?;
    }
    if let (Some(c), Some(dir)) = (resume, &args.state_dir) {
        say_resumed(c, dir, opened.elapsed());
    }
    let bound = bind(&mut prepared, &mut dataflow, &flags, resume)?;
    let watched = console_listener.is_some() || metrics_listener.is_some();
    let watch = watched.then(|| Watch::new(&prepared.app.name, console_listener.is_some()));
    if let Some(watch) = &watch {
        dataflow.observer = Some(watch.generation(&prepared.plan, &dataflow));
        for (name, batch) in &loaded.tables {
            watch.table_loaded(name, batch.num_rows());
        }
    }
    if let (Some(watch), Some(listener)) = (&watch, metrics_listener) {
        let at = local_address(&listener)?;
        serve_metrics(std::sync::Arc::clone(watch), listener);
        eprintln!("rowtime: Prometheus metrics at http://{at}/metrics");
    }
    let mut console = None;
    let mut control = None;
    if let (Some(watch), Some(listener)) = (&watch, console_listener) {
        let at = local_address(&listener)?;
        let file = match (&args.app.sql, &args.app.app) {
            (_, Some(json)) => Some(AppFile::Definition(json.clone())),
            (Some(sql), None) => Some(AppFile::Sql(sql.clone())),
            (None, None) => None,
        };
        let c = Console::new(
            Running::of(&prepared, &flags),
            file,
            std::sync::Arc::clone(watch),
            rereadable(&prepared.input_location),
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        c.set_control(Some(tx));
        control = Some(rx);
        serve_console(std::sync::Arc::clone(&c), listener);
        if !at.ip().is_loopback() {
            eprintln!(
                "rowtime: warning: the console listens on {at}, which other machines can reach; they can watch every stream, and change the application with the token below"
            );
        }
        eprintln!(
            "rowtime: console at http://{at}/#token={} (the token in this address lets the page change the application)",
            c.token
        );
        console = Some(c);
    }
    if !bound.shown.is_empty() && !bound.shown.iter().any(|s| s == ERROR_STREAM) {
        eprintln!(
            "rowtime: showing {}; rows that fail go to error_stream (add --output error_stream=- to see them)",
            bound.shown.join(", ")
        );
    }
    let options = RunOptions {
        show_progress: true,
        references: loaded.sources,
        reference_refresh: args
            .reference_refresh
            .as_deref()
            .map(|s| {
                parse_duration(s).map_err(|e| Error::Usage(format!("--reference-refresh {s}: {e}")))
            })
            .transpose()?,
        checkpoints,
        control,
    };
    let stats = rowtime::runtime::run(&mut dataflow, bound.inputs, options)?;
    match console {
        // Ctrl-C or SIGTERM stops the console too.
        Some(console) if !stats.interrupted => {
            after_the_end(&console, &args, &flags, &prepared.input_location)
        }
        _ => Ok(()),
    }
}

/// Whether the input can be read again from its start: a file.
fn rereadable(input_location: &str) -> bool {
    matches!(Location::parse(input_location), Ok(Location::File(_)))
}

fn local_address(listener: &std::net::TcpListener) -> Result<std::net::SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::io("the console's address", e))
}

/// The console stays up once the input has ended, until Ctrl-C or SIGTERM. A file input is read
/// again from its start when Save and run gives new code; other inputs cannot be, and Save and
/// run is refused.
fn after_the_end(
    console: &Console,
    args: &RunArgs,
    flags: &RunFlags,
    input_location: &str,
) -> Result<()> {
    let again = rereadable(input_location);
    loop {
        console
            .ended
            .store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "rowtime: the input has ended; the console stays up until Ctrl-C{}",
            if again {
                " (Save and run reads the input again from its start)"
            } else {
                ""
            }
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        console.set_control(Some(tx));
        let (stop_tx, stop) = std::sync::mpsc::sync_channel(4);
        rowtime::runtime::watch_signals(stop_tx);
        let (mut dataflow, done) = loop {
            if let Ok(InputMessage::Interrupted) = stop.try_recv() {
                return Ok(());
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Control::Replace { dataflow, done }) if again => break (dataflow, done),
                // Dropping `done` tells the console the run did not take the code.
                Ok(Control::Replace { .. }) => {}
                Err(_) => {}
            }
        };
        let mut prepared = prepare(&Options::from(args), true)?;
        let inputs = bind_inputs(&mut prepared, flags, None)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        console.set_control(Some(tx));
        // Said before the run starts: it may end before the console hears back.
        console
            .ended
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let _ = done.send(());
        let options = RunOptions {
            show_progress: true,
            control: Some(rx),
            ..RunOptions::default()
        };
        if rowtime::runtime::run(&mut dataflow, inputs, options)?.interrupted {
            return Ok(());
        }
    }
}

/// Says on stderr where the run goes on from, and how long reading and restoring took.
fn say_resumed(c: &Checkpoint, dir: &std::path::Path, took: Duration) {
    let at = match c.inputs.first().cloned().flatten() {
        Some(InputPosition::Lines(p)) => format!("the input read to byte {}", p.offset),
        Some(InputPosition::Kinesis(p)) => format!("{} shard positions", p.len()),
        None => "nothing read yet".to_string(),
    };
    eprintln!(
        "rowtime: resuming from checkpoint {} in {} ({at}{}; restored in {} ms)",
        c.sequence,
        dir.display(),
        if c.finished {
            "; that run had reached the end of its input"
        } else {
            ""
        },
        took.as_millis()
    );
}

const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// Locks the state directory and finds the checkpoint to resume from: the newest usable one,
/// if it is this application's (else the run is refused, saying what differs), unless `force`.
fn open_state_dir(
    dir: &std::path::Path,
    prepared: &Prepared,
    flags: &RunFlags,
    interval: std::time::Duration,
    force: bool,
) -> Result<Checkpoints> {
    let state = StateDir::open(dir)?;
    let identity = Identity {
        application: prepared.app.name.clone(),
        rowtime: env!("CARGO_PKG_VERSION").to_string(),
        code: prepared.app.code.text.clone(),
        input_schema: prepared.schema.to_input_schema_json(),
        rowtime_from: flags.rowtime_from.clone(),
        input: prepared.input_location.clone(),
    };
    let resumed = if force {
        state.clear()?;
        None
    } else {
        state.latest()?
    };
    if let Some(why) = resumed.as_ref().and_then(|c| identity.refuses(&c.identity)) {
        return Err(Error::Usage(format!(
            "--state-dir {}: the checkpoint there cannot be resumed by this run: {why}. Resume with the same application and input, or start afresh with --force (the state there is dropped)",
            dir.display()
        )));
    }
    Ok(Checkpoints {
        dir: state,
        identity,
        interval,
        resumed,
    })
}

/// `5MiB`, `1KiB`, `512KB`, `1048576`: a size in bytes (KiB/MiB are powers of 1024, KB/MB of 1000).
fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| "write a whole number with a unit, such as 5MiB or 64KiB".to_string())?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{other}` is not a size unit: use B, KiB, MiB or GiB"
            ));
        }
    };
    n.checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(|| "the size must be above 0 and fit in memory".to_string())
}

/// `200ms`, `10s`, `5m`, `1h`: a duration.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "write a whole number with a unit, such as 200ms, 10s or 5m".to_string())?;
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("`{other}` is not a unit: use ms, s, m or h")),
    })
}

fn cmd_discover(args: DiscoverArgs) -> Result<()> {
    let schema = discover_input(&args.input)?;
    println!("{}", schema.to_input_schema_json());
    Ok(())
}

fn cmd_test(args: TestArgs) -> Result<()> {
    use rowtime::testing::slt::{Outcome, complete_file, run_file, test_files};
    let files = test_files(&args.paths)?;
    if files.is_empty() {
        return Err(Error::Usage("no .slt test files found".into()));
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in &files {
        if args.complete {
            complete_file(file)?;
            println!("COMPLETED {}", file.display());
            continue;
        }
        match run_file(file) {
            Outcome::Passed => {
                passed += 1;
                println!("PASS {}", file.display());
            }
            Outcome::Skipped(reason) => {
                skipped += 1;
                println!("SKIP {} (not yet supported: {reason})", file.display());
            }
            Outcome::Failed(message) => {
                failed += 1;
                println!("FAIL {}\n{message}", file.display());
            }
        }
    }
    if args.complete {
        return Ok(());
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        return Err(Error::TestsFailed(failed));
    }
    Ok(())
}

fn cmd_translate(args: TranslateArgs) -> Result<()> {
    let crate::TranslateTarget::Flink = args.to;
    let prepared = prepare(&Options::from(&args.app), false)?;
    let options = rowtime::translate::FlinkOptions {
        rowtime_from: args.rowtime_from.clone(),
        with_rowtime: args.with_rowtime,
        outputs: args.output.clone(),
        input: args.app.input.clone(),
        references: args.app.reference.clone(),
        rowtime_key: None,
        arrival_key: None,
    };
    let job = rowtime::translate::to_flink(&prepared, &options)?;
    for w in &job.warnings {
        eprintln!("rowtime: warning: {w}");
    }
    match &args.out {
        Some(path) => std::fs::write(path, &job.sql).map_err(|e| Error::io(path.display(), e))?,
        None => print!("{}", job.sql),
    }
    if args.check {
        check_translation(&args, &prepared, &options, &job)?;
    }
    Ok(())
}

/// `translate --check`: the job and rowtime over the same input file, their rows compared.
fn check_translation(
    args: &TranslateArgs,
    prepared: &Prepared,
    options: &rowtime::translate::FlinkOptions,
    job: &rowtime::translate::FlinkJob,
) -> Result<()> {
    use rowtime::translate::check::{FlinkRun, canonical_rows, compare, run_flink};
    let input = match args.app.input.as_deref() {
        Some(spec) if !spec.contains("://") && !spec.starts_with("arn:") && spec != "-" => spec,
        _ => {
            return Err(Error::Usage(
                "--check runs both engines over a file: give --input FILE (the job you deploy can read Kinesis; translate it again without --check)".into(),
            ));
        }
    };
    if args.rowtime_from.is_none() {
        return Err(Error::Usage(
            "--check compares rows, which needs repeatable ROWTIMEs: give --rowtime-from COLUMN"
                .into(),
        ));
    }
    let work = std::env::temp_dir().join(format!("rowtime-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(work.display(), e))?;
    let mut checked = options.clone();
    checked.outputs = job
        .sinks
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s.stream,
                work.join(format!("flink-{}.csv", s.stream)).display()
            )
        })
        .collect();
    let local = rowtime::translate::to_flink(prepared, &checked)?;
    let script = work.join("job.sql");
    std::fs::write(&script, &local.sql).map_err(|e| Error::io(script.display(), e))?;

    let exe = std::env::current_exe().map_err(|e| Error::io("the rowtime executable", e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("run");
    if let Some(sql) = &args.app.sql {
        cmd.arg(sql);
    }
    if let Some(app) = &args.app.app {
        cmd.arg("--app").arg(app);
    }
    if let Some(schema) = &args.app.input_schema {
        cmd.arg("--input-schema").arg(schema);
    }
    cmd.arg("--input").arg(input);
    for r in &args.app.reference {
        cmd.arg("--reference").arg(r);
    }
    if let Some(c) = &args.rowtime_from {
        cmd.arg("--rowtime-from").arg(c);
    }
    if args.with_rowtime {
        cmd.arg("--with-rowtime");
    }
    for s in &job.sinks {
        cmd.arg("--output").arg(format!(
            "{}={}",
            s.stream,
            work.join(format!("rowtime-{}.csv", s.stream)).display()
        ));
    }
    let out = cmd.output().map_err(|e| Error::io("rowtime run", e))?;
    if !out.status.success() {
        return Err(Error::Application(format!(
            "--check: rowtime run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let run = FlinkRun {
        name: "job".into(),
        ddl_only: false,
        script,
        sinks: job
            .sinks
            .iter()
            .map(|s| {
                (
                    work.join(format!("flink-{}.csv", s.stream)),
                    work.join(format!("flink-{}.merged.csv", s.stream)),
                )
            })
            .collect(),
    };
    eprintln!("rowtime: running the job on Apache Flink (local mini-cluster; this takes a while)");
    let results = run_flink(&[run], &work)?;
    if let Some((_, Err(e))) = results.first() {
        return Err(Error::Application(format!(
            "--check: Flink rejected or failed the job: {e}"
        )));
    }
    let mut failures = Vec::new();
    for s in &job.sinks {
        let read = |p: std::path::PathBuf| {
            std::fs::read_to_string(&p).map_err(|e| Error::io(p.display(), e))
        };
        let r = canonical_rows(
            &read(work.join(format!("rowtime-{}.csv", s.stream)))?,
            &s.columns,
        );
        let f = canonical_rows(
            &read(work.join(format!("flink-{}.merged.csv", s.stream)))?,
            &s.columns,
        );
        match compare(&s.stream, &r, &f) {
            Ok(()) => eprintln!(
                "rowtime: check: {}: {} rows, the same from rowtime and Flink",
                s.stream,
                r.len()
            ),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    } else {
        Err(Error::Application(format!(
            "--check: the engines differ (files kept in {}):\n{}",
            work.display(),
            failures.join("\n")
        )))
    }
}
