//! The commands: each takes its parsed flags and does its work with the library.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use rowtime::app::assemble::{Options, Prepared, dataflow, load_tables, prepare};
use rowtime::catalog::{ERROR_STREAM, StreamKind, with_rowtime};
use rowtime::connectors::Sink;
use rowtime::connectors::sink::{Columns, CsvSink, JsonLinesSink, TableSink};
use rowtime::connectors::source::SourceDecoder;
use rowtime::error::{Error, Result};
use rowtime::generate::{BidOptions, TollOptions, generate_bids, generate_toll};
use rowtime::runtime::{BackgroundSink, Input, RunOptions};

use crate::{Cli, Command, Generate, RunArgs, TestArgs};

/// `--start` of `rowtime generate`: milliseconds since the epoch.
fn start_ms(start: &str) -> Result<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| Error::Usage(format!("--start {start:?}: {e}; write YYYY-MM-DD HH:MM:SS")))?;
    Ok(t.and_utc().timestamp_millis())
}

/// Runs a command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(args),
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

fn output_writer(path: &str) -> Result<Box<dyn Write + Send>> {
    if path == "-" {
        // Line-buffered: each batch reaches a pipe when it is written (live latency).
        return Ok(Box::new(std::io::stdout()));
    }
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 16, file)))
}

fn cmd_run(args: RunArgs) -> Result<()> {
    // Check every flag before reading anything.
    let mut outputs: Vec<(String, String)> = Vec::new();
    for o in &args.output {
        let (stream, path) = o
            .split_once('=')
            .filter(|(s, p)| !s.is_empty() && !p.is_empty())
            .ok_or_else(|| Error::Usage(format!("--output {o}: write STREAM=PATH or STREAM=-")))?;
        outputs.push((stream.to_string(), path.to_string()));
    }
    let Prepared {
        app,
        schema,
        references,
        plan,
        input,
        discovered,
    } = prepare(&Options::from(&args.app), true)?;
    let input = input.expect("run opens its input");
    let (tables, table_errors) = load_tables(&references)?;
    let mut dataflow = dataflow(&plan, &tables, table_errors)?;

    // Outputs: --output flags, else the definition's outputs, else DESTINATION_SQL_STREAM.
    let terminal = outputs.is_empty();
    if terminal {
        let names: Vec<String> = if app.outputs.is_empty() {
            vec!["DESTINATION_SQL_STREAM".to_string()]
        } else {
            app.outputs.iter().map(|o| o.stream.clone()).collect()
        };
        outputs = names.into_iter().map(|n| (n, "-".to_string())).collect();
    }
    for (stream, path) in &outputs {
        let Some((index, def)) = plan.catalog.stream(stream) else {
            let mut names: Vec<String> = plan
                .catalog
                .streams
                .iter()
                .map(|s| s.name.clone())
                .collect();
            names.sort();
            return Err(Error::Usage(format!(
                "--output {stream}: no stream named `{stream}`; streams are {}",
                names.join(", ")
            )));
        };
        let names: Vec<String> = def.columns.iter().map(|(n, _)| n.clone()).collect();
        let columns = Columns::of_stream(&names, args.with_rowtime.then(|| def.rowtime_index()));
        let sink: Box<dyn Sink> = if terminal {
            Box::new(TableSink::new(
                Box::new(std::io::stdout()),
                stream.clone(),
                columns,
            ))
        } else if Path::new(path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Box::new(BackgroundSink::new(Box::new(CsvSink::new(
                output_writer(path)?,
                path.clone(),
                columns,
            ))))
        } else {
            Box::new(BackgroundSink::new(Box::new(JsonLinesSink::new(
                output_writer(path)?,
                path.clone(),
                columns,
            ))))
        };
        dataflow.add_sink(index, sink);
    }
    if terminal && !outputs.iter().any(|(s, _)| s == ERROR_STREAM) {
        eprintln!(
            "rowtime: showing {}; rows that fail go to error_stream (add --output error_stream=- to see them)",
            outputs
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let first_input = app
        .inputs
        .first()
        .map(|i| format!("{}_001", i.name_prefix))
        .unwrap_or_default();
    let (source, source_def) = plan
        .catalog
        .stream(&first_input)
        .ok_or_else(|| Error::Application(format!("no source stream {first_input}")))?;
    let mut decoder = SourceDecoder::new(
        &schema,
        with_rowtime(&source_def.table_schema()),
        args.rowtime_from.as_deref(),
    )?;
    // A discovered CSV schema took its names from the first line: that line is not a record.
    if discovered && !input.json {
        decoder = decoder.with_header_line();
    }
    let input = Input::Lines {
        stream: source,
        reader: input.reader,
        decoder: Box::new(decoder),
    };
    let options = RunOptions {
        show_progress: true,
    };
    rowtime::runtime::run(&mut dataflow, vec![input], options)?;
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
