//! `rowtime`: the command line. `main` parses the flags into the types below and hands them to
//! `commands`, which does the work with the library; errors are one message with the program
//! prefix. Exit codes: 0 ok, 1 the application was rejected, 2 usage or I/O error. A broken pipe
//! (`rowtime run … | head`) ends quietly.
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | the flags (clap), dispatch, exit codes |
//! | `commands.rs` | `run`, `console`, `check`, `explain`, `test`, `generate` |

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use rowtime::app::assemble::Options;
use rowtime::generate::Format;

fn main() -> ExitCode {
    match commands::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(rowtime::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rowtime: {e}");
            ExitCode::from(if e.is_rejection() { 1 } else { 2 })
        }
    }
}

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
    /// Run an application over its input (a file, stdin or a Kinesis stream) and deliver or show its output streams.
    Run(Box<RunArgs>),
    /// Run an application as `run` does and serve the console, a web page to watch its streams and change its code.
    Console(Box<ConsoleArgs>),
    /// Print the KDA InputSchema discovered from a sample of an input (a file or a Kinesis stream).
    Discover(DiscoverArgs),
    /// Parse and plan an application; print diagnostics.
    Check(AppArgs),
    /// Print an application's dataflow: streams, reference tables, and each pump's operators.
    Explain(AppArgs),
    /// Translate an application into one Flink SQL job (for any Flink cluster or Managed Service for Apache Flink).
    Translate(Box<TranslateArgs>),
    /// Run test files (sqllogictest format, see tests/README.md): a line per file, a diff for failures.
    Test(TestArgs),
    /// Write generated demo data.
    #[command(subcommand)]
    Generate(Generate),
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the console listens (loopback only unless told otherwise: another address prints a warning).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
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
    /// The streaming source: a JSON-lines or CSV file (by extension), '-' for stdin, or kinesis://STREAM (or its ARN).
    #[arg(long = "input", value_name = "LOCATION")]
    pub input: Option<String>,
    /// A reference table from a file or s3://BUCKET/KEY (overrides the application's S3 location).
    #[arg(long = "reference", value_name = "TABLE=LOCATION")]
    pub reference: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TranslateTarget {
    /// Apache Flink SQL (Flink 1.19 and later, 2.x included).
    Flink,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// The language to translate to.
    #[arg(long = "to", value_enum)]
    pub to: TranslateTarget,
    #[command(flatten)]
    pub app: AppArgs,
    /// Replay mode: ROWTIME is an event-time attribute from this column (with a watermark); without it, processing time.
    #[arg(long = "rowtime-from", value_name = "COLUMN")]
    pub rowtime_from: Option<String>,
    /// Deliver a stream: a file (JSON lines; .csv for CSV; Flink writes a folder of part files there), '-' (print), s3://BUCKET/PREFIX/, or a Kinesis or Firehose ARN. Default: the definition's outputs.
    #[arg(long = "output", value_name = "STREAM=LOCATION")]
    pub output: Vec<String>,
    /// Include ROWTIME (first) in the output rows.
    #[arg(long = "with-rowtime")]
    pub with_rowtime: bool,
    /// Write the Flink SQL script here instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "JOB.sql")]
    pub out: Option<PathBuf>,
    /// Run the translated job on Apache Flink locally (PyFlink) and on rowtime over the same input, and compare their rows.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The input to sample: a JSON-lines or CSV file, or kinesis://STREAM (its oldest records).
    #[arg(long = "input", value_name = "LOCATION")]
    pub input: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Replay mode: ROWTIME = max(previous ROWTIME, this column), so runs are repeatable.
    #[arg(long = "rowtime-from", value_name = "COLUMN")]
    pub rowtime_from: Option<String>,
    /// Deliver a stream: a file (JSON lines; .csv for CSV), '-' (stdout), DIR/ or s3://BUCKET/PREFIX/ (Firehose-style objects), kinesis://, firehose:// or lambda:// (or an ARN).
    #[arg(long = "output", value_name = "STREAM=LOCATION")]
    pub output: Vec<String>,
    /// Include ROWTIME (first) in the output rows.
    #[arg(long = "with-rowtime")]
    pub with_rowtime: bool,
    /// Connect every input, output and reference source the definition declares (Kinesis, Firehose, Lambda, S3).
    #[arg(long)]
    pub connect: bool,
    /// Where a Kinesis input starts: NOW, TRIM_HORIZON or LAST_STOPPED_POINT (default: the definition's InputStartingPosition, else NOW).
    #[arg(long = "start-position", value_name = "POSITION")]
    pub start_position: Option<String>,
    /// Read a Kinesis input up to where it stood when the run started, flush every window and exit.
    #[arg(long = "until-latest")]
    pub until_latest: bool,
    /// Tail the input file as it grows (through rotation and truncation).
    #[arg(long)]
    pub follow: bool,
    /// Give up on a record a destination keeps refusing after N retries and report it in error_stream (default: retry forever, as KDA).
    #[arg(long = "max-delivery-retries", value_name = "N")]
    pub max_delivery_retries: Option<u32>,
    /// Firehose-style objects: close an object at this size (e.g. 5MiB, 1KiB; default 5MiB).
    #[arg(long = "buffer-size", value_name = "SIZE")]
    pub buffer_size: Option<String>,
    /// Firehose-style objects: close an object this long after its first record (e.g. 300s, 1m; default 300s).
    #[arg(long = "buffer-interval", value_name = "DURATION")]
    pub buffer_interval: Option<String>,
    /// Firehose-style objects: compress each object with GZIP (keys end in .gz).
    #[arg(long)]
    pub gzip: bool,
    /// Look at the reference tables again this often (S3: a conditional GET by ETag; a file: its
    /// time and length) and use new rows from the next batch on. SIGHUP reloads at once.
    #[arg(long = "reference-refresh", value_name = "DURATION")]
    pub reference_refresh: Option<String>,
    /// Keep checkpoints in DIR (operator state, input positions, output lengths) and resume from
    /// the newest one there: a stop or a crash loses and repeats nothing (see the README).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// With --state-dir: how often to take a checkpoint (e.g. 10s, 1m; default 10s).
    #[arg(long = "checkpoint-interval", value_name = "DURATION")]
    pub checkpoint_interval: Option<String>,
    /// With --state-dir: drop the checkpoints there and start afresh.
    #[arg(long)]
    pub force: bool,
    /// Serve Prometheus metrics at http://IP:PORT/metrics (KDA's Records, Bytes, MillisBehindLatest and rowtime's own; see docs/console.md).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<String>,
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

impl From<&AppArgs> for Options {
    fn from(args: &AppArgs) -> Options {
        Options {
            sql: args.sql.clone(),
            definition: args.app.clone(),
            input_schema: args.input_schema.clone(),
            input: args.input.clone(),
            references: args.reference.clone(),
            connect: false,
            follow: false,
        }
    }
}

impl From<&RunArgs> for Options {
    fn from(args: &RunArgs) -> Options {
        Options {
            connect: args.connect,
            follow: args.follow,
            ..Options::from(&args.app)
        }
    }
}
