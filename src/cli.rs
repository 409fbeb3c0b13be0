//! The command line: `run`, `check`, `explain`, `generate` (DESIGN.md §3 fixes the spellings).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::app::Application;
use crate::catalog::{ERROR_STREAM, StreamKind};
use crate::connectors::sink::{BackgroundSink, Columns, CsvSink, JsonLinesSink, TableSink};
use crate::connectors::source::SourceDecoder;
use crate::engine;
use crate::error::{Error, Result};
use crate::exec::with_rowtime;
use crate::generate::{BidOptions, Format, TollOptions, generate_bids, generate_toll};
use crate::plan::Plan;
use crate::runtime::{Sink, run};
use crate::schema::RecordSchema;

#[derive(Debug, Parser)]
#[command(
    name = "rowtime",
    version,
    about = "Run Amazon Kinesis Data Analytics (KDA) for SQL applications anywhere"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an application over an input (a file or stdin) and write or show its output streams.
    Run(RunArgs),
    /// Parse and plan an application; print diagnostics.
    Check(AppArgs),
    /// Print an application's dataflow: streams, reference tables, and each pump's operators.
    Explain(AppArgs),
    /// Run test files (sqllogictest format, see tests/README.md): a line per file, a diff for failures.
    Test(TestArgs),
    /// Write generated demo data.
    #[command(subcommand)]
    Generate(Generate),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files (.slt) or folders of them.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Rewrite each file's expected results with what rowtime gives (review the diff!).
    #[arg(long)]
    pub complete: bool,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    /// The application code (.sql).
    #[arg(
        value_name = "APP.sql",
        required_unless_present = "app",
        conflicts_with = "app"
    )]
    pub sql: Option<PathBuf>,
    /// A KDA application definition: the JSON of `aws kinesisanalytics describe-application`.
    #[arg(long = "app", value_name = "APP.json")]
    pub app: Option<PathBuf>,
    /// KDA InputSchema (JSON) of the streaming source, for a .sql application.
    #[arg(long = "input-schema", value_name = "SCHEMA.json")]
    pub input_schema: Option<PathBuf>,
    /// The streaming source: a JSON-lines or CSV file (by extension), or '-' for stdin.
    #[arg(long = "input", value_name = "PATH|-")]
    pub input: Option<String>,
    /// A reference table from a file (overrides the application's S3 location).
    #[arg(long = "reference", value_name = "TABLE=PATH")]
    pub reference: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Replay mode: ROWTIME = max(previous ROWTIME, this column), so runs are repeatable.
    #[arg(long = "rowtime-from", value_name = "COLUMN")]
    pub rowtime_from: Option<String>,
    /// Write a stream as JSON lines (a .csv path writes CSV); '-' writes to stdout.
    #[arg(long = "output", value_name = "STREAM=PATH|-")]
    pub output: Vec<String>,
    /// Include ROWTIME (first) in the output rows.
    #[arg(long = "with-rowtime")]
    pub with_rowtime: bool,
}

#[derive(Debug, Subcommand)]
pub enum Generate {
    /// Toll-road transactions as JSON lines (deterministic for a seed).
    Toll {
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of malformed records, 0.0 to 1.0.
        #[arg(long = "bad-share", default_value_t = 0.0)]
        bad_share: f64,
        /// First event time, `YYYY-MM-DD HH:MM:SS` (UTC).
        #[arg(long)]
        start: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Nexmark-style auction bids (deterministic for a seed; event times strictly increase).
    Bids {
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First event time, `YYYY-MM-DD HH:MM:SS` (UTC).
        #[arg(long)]
        start: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
}

/// `--start` of `rowtime generate`: milliseconds since the epoch.
fn start_ms(start: &str) -> Result<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| Error::Usage(format!("--start {start:?}: {e}; write YYYY-MM-DD HH:MM:SS")))?;
    Ok(t.and_utc().timestamp_millis())
}

/// Runs a command; returns the process exit code.
pub fn main_with(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Check(args) => {
            let Prepared { app, plan, .. } = prepare(&args, false)?;
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
            let plan = prepare(&args, false)?.plan;
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

fn load_app(args: &AppArgs) -> Result<Application> {
    match (&args.sql, &args.app) {
        (_, Some(json)) => Application::from_definition_file(json),
        (Some(sql), None) => {
            if sql.extension().is_some_and(|e| e == "json") {
                return Err(Error::Usage(format!(
                    "{}: this looks like an application definition; pass it with --app {}",
                    sql.display(),
                    sql.display()
                )));
            }
            Application::from_sql_file(sql)
        }
        (None, None) => Err(Error::Usage(
            "give an application: APP.sql or --app APP.json".into(),
        )),
    }
}

fn reference_overrides(args: &AppArgs) -> Result<Vec<(String, PathBuf)>> {
    args.reference
        .iter()
        .map(|r| {
            let (t, p) = r
                .split_once('=')
                .filter(|(t, p)| !t.is_empty() && !p.is_empty())
                .ok_or_else(|| Error::Usage(format!("--reference {r}: write TABLE=PATH")))?;
            Ok((t.to_string(), PathBuf::from(p)))
        })
        .collect()
}

fn read_input_schema(args: &AppArgs) -> Result<Option<RecordSchema>> {
    let Some(path) = &args.input_schema else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    // Accept a bare InputSchema or one wrapped as {"InputSchema": {...}}.
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not JSON: {e}", path.display())))?;
    let inner = value.get("InputSchema").cloned().unwrap_or(value);
    let json = serde_json::from_value(inner)
        .map_err(|e| Error::Usage(format!("{}: not a KDA InputSchema: {e}", path.display())))?;
    RecordSchema::from_json(&json, &path.display().to_string())
        .map(Some)
        .map_err(Error::Usage)
}

/// The input, opened; with the first bytes kept aside for schema discovery when needed.
struct Input {
    reader: Box<dyn Read + Send>,
    sample: Option<Vec<u8>>,
    json: bool,
}

fn open_input(spec: &str, want_sample: bool) -> Result<Input> {
    let json = !spec.to_ascii_lowercase().ends_with(".csv");
    let reader: Box<dyn Read + Send> = if spec == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(spec).map_err(|e| Error::io(spec, e))?)
    };
    if !want_sample {
        return Ok(Input {
            reader,
            sample: None,
            json,
        });
    }
    // Read up to 100 lines for discovery, then replay them before the rest.
    let mut buffered = BufReader::new(reader);
    let mut sample = Vec::new();
    for _ in 0..100 {
        if buffered
            .read_until(b'\n', &mut sample)
            .map_err(|e| Error::io(spec, e))?
            == 0
        {
            break;
        }
    }
    let reader: Box<dyn Read + Send> = Box::new(Cursor::new(sample.clone()).chain(buffered));
    Ok(Input {
        reader,
        sample: Some(sample),
        json,
    })
}

/// An application with its input schema, reference files and plan; for `run`, its input too.
struct Prepared {
    app: Application,
    schema: RecordSchema,
    references: Vec<engine::ReferenceFile>,
    plan: Plan,
    input: Option<Input>,
    /// The input schema was discovered from the input's first records.
    discovered: bool,
}

/// Loads and plans the application. `for_run` opens the input (stdin by default); otherwise the
/// input is read only when its schema must be discovered from it.
fn prepare(args: &AppArgs, for_run: bool) -> Result<Prepared> {
    let overrides = reference_overrides(args)?;
    let app = load_app(args)?;
    let given = read_input_schema(args)?;
    let discovered = given.is_none() && app.inputs.first().is_none_or(|i| i.schema.is_none());
    let input = if for_run {
        let spec = args.input.clone().unwrap_or_else(|| "-".to_string());
        if spec == "-" && std::io::stdin().is_terminal() {
            eprintln!(
                "rowtime: reading records from the terminal; end with Ctrl-D (or pass --input PATH)"
            );
        }
        Some(open_input(&spec, discovered)?)
    } else {
        match (&args.input, discovered) {
            (Some(spec), true) if spec != "-" => Some(open_input(spec, true)?),
            _ => None,
        }
    };
    let sample = input
        .as_ref()
        .and_then(|i| i.sample.as_deref().map(|s| (s, i.json)));
    let schema = engine::input_schema(&app, given, sample)?;
    let references = engine::reference_files(&app, &overrides)?;
    let plan = engine::plan_application(&app, &schema, &references)?;
    Ok(Prepared {
        app,
        schema,
        references,
        plan,
        input,
        discovered,
    })
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
    } = prepare(&args.app, true)?;
    let input = input.expect("run opens its input");
    let (tables, table_errors) = engine::load_tables(&references)?;
    let mut dataflow = engine::dataflow(&plan, &tables, table_errors)?;

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
    run(&mut dataflow, source, Box::new(decoder), input.reader, true)?;
    Ok(())
}

fn cmd_test(args: TestArgs) -> Result<()> {
    use crate::testing::slt::{Outcome, complete_file, run_file, test_files};
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
