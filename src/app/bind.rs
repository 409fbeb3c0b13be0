//! Binding a planned application to the world: where its source records come from and where
//! each output stream goes.
//!
//! - The input: `--input LOCATION` (a file, `-` for stdin, `kinesis://STREAM` or its ARN), else
//!   with `--connect` the definition's `KinesisStreamsInput`, else stdin. `--follow` tails a file.
//! - The outputs: with `--connect` the definition's `OutputDescriptions` (Kinesis, Firehose,
//!   Lambda), and `--output STREAM=LOCATION` (repeatable), which overrides the declared
//!   destination of its stream or adds one; with neither, the terminal. A location is a file
//!   (JSON lines, `.csv` for CSV), `-` (stdout), `DIR/` or `s3://BUCKET/PREFIX/` (Firehose-style
//!   objects), `kinesis://`, `firehose://` or `lambda://`.
//!
//! Every connection uses the AWS SDK's standard configuration (`connectors::aws`).

use std::time::Duration;

use super::Application;
use super::assemble::{OpenedInput, Prepared};
use crate::catalog::{ERROR_STREAM, StreamDef, with_rowtime};
use crate::connectors::deliver::StatsHandle;
use crate::connectors::deliver::firehose::{FirehoseOutputOptions, KinesisFirehoseOutput};
use crate::connectors::deliver::kinesis::{KinesisOutputOptions, KinesisStreamsOutput};
use crate::connectors::deliver::lambda::{LambdaOutput, LambdaOutputOptions, application_arn};
use crate::connectors::kinesis::{KinesisOptions, StartPosition};
use crate::connectors::location::Location;
use crate::connectors::objects::{ObjectSink, ObjectSinkOptions, S3Client};
use crate::connectors::records::RecordFormat;
use crate::connectors::retry::RetryLimit;
use crate::connectors::sink::{Columns, CsvSink, JsonLinesSink, Out, TableSink};
use crate::connectors::source::{SourceDecoder, is_newline};
use crate::connectors::{ChunkDecoder, Sink};
use crate::error::{Error, Result};
use crate::runtime::{
    BackgroundSink, Checkpoint, Dataflow, Delivery, Input, InputPosition, LinesPosition,
    PreprocessSpec, services,
};
use crate::state::Snapshot;

/// How `rowtime run` binds an application (its command-line flags beyond the application).
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    /// `--output STREAM=LOCATION`, as written.
    pub outputs: Vec<String>,
    pub connect: bool,
    pub rowtime_from: Option<String>,
    pub with_rowtime: bool,
    /// `--start-position`, as written.
    pub start_position: Option<String>,
    pub until_latest: bool,
    pub max_delivery_retries: Option<u32>,
    /// Firehose-style objects: `--buffer-size` bytes, `--buffer-interval`, `--gzip`.
    pub buffer_size: Option<usize>,
    pub buffer_interval: Option<Duration>,
    pub gzip: bool,
    /// `--state-dir`: the input must be one that can be read again from a position.
    pub checkpoints: bool,
    /// Output files are appended to instead of emptied (the console binding new code to a run
    /// that has already written them).
    pub append_outputs: bool,
}

/// One output of the run, ready to deliver.
struct Output {
    stream: String,
    location: Location,
    /// The definition's `RecordFormatType` for this stream (CSV or JSON), when it declares it.
    format: Option<RecordFormat>,
}

impl RunFlags {
    fn retry(&self) -> RetryLimit {
        RetryLimit(self.max_delivery_retries)
    }

    /// Checks the flags that need no application (`--output` syntax and locations), so that a
    /// mistake is reported before anything is read.
    pub fn check(&self) -> Result<()> {
        let app = Application::empty();
        outputs(&app, self).map(|_| ())
    }
}

/// What `run` should tell the user before it starts.
pub struct Bound {
    pub inputs: Vec<Input>,
    /// The streams shown on the terminal (no `--output` and no declared destination).
    pub shown: Vec<String>,
}

/// Adds the run's sinks to `dataflow` and makes its inputs; resuming from a checkpoint, the
/// sinks take back their states (files cut back to their lengths) and the inputs are read on
/// from its positions.
pub fn bind(
    prepared: &mut Prepared,
    dataflow: &mut Dataflow,
    flags: &RunFlags,
    resume: Option<&Checkpoint>,
) -> Result<Bound> {
    let shown = bind_outputs(prepared, dataflow, flags, resume)?;
    let inputs = bind_inputs(prepared, flags, resume)?;
    Ok(Bound { inputs, shown })
}

/// Adds the run's sinks to `dataflow`; returns the streams shown on the terminal.
pub fn bind_outputs(
    prepared: &Prepared,
    dataflow: &mut Dataflow,
    flags: &RunFlags,
    resume: Option<&Checkpoint>,
) -> Result<Vec<String>> {
    let outputs = outputs(&prepared.app, flags)?;
    let terminal = outputs.is_empty();
    let shown: Vec<String> = if terminal {
        if prepared.app.outputs.is_empty() {
            vec!["DESTINATION_SQL_STREAM".to_string()]
        } else {
            prepared
                .app
                .outputs
                .iter()
                .map(|o| o.stream.clone())
                .collect()
        }
    } else {
        Vec::new()
    };
    let replay = flags.rowtime_from.is_some();
    let mut aws = Aws::default();
    for o in &outputs {
        let (index, def) = stream_named(prepared, &o.stream)?;
        let per_window = prepared.plan.fed_by_window(index);
        let key = format!("{}={}", o.stream, o.location);
        let target = Target {
            output: o,
            def,
            per_window,
            application: &prepared.app,
            resume: resume.and_then(|c| c.sink(&key)),
        };
        let (sink, stats) = sink_for(&target, flags, replay, &mut aws)?;
        if let Some((stats, lambda)) = stats {
            dataflow.deliveries.push(Delivery {
                stream: o.stream.clone(),
                destination: o.location.to_string(),
                lambda,
                stats,
            });
        }
        dataflow.add_sink(index, key, sink);
    }
    for name in &shown {
        let (index, def) = stream_named(prepared, name)?;
        let columns = columns_of(def, flags.with_rowtime);
        let sink = TableSink::new(Box::new(std::io::stdout()), name.clone(), columns);
        dataflow.add_sink(index, format!("{name}=terminal"), Box::new(sink));
    }
    Ok(shown)
}

/// The outputs: with `--connect` the definition's destinations, each overridden by an
/// `--output` flag for the same stream; then the other `--output` flags.
fn outputs(app: &Application, flags: &RunFlags) -> Result<Vec<Output>> {
    let flagged = flagged_outputs(app, flags)?;
    if !flags.connect {
        return Ok(flagged);
    }
    let mut out = declared_outputs(app)?;
    out.retain(|d| !flagged.iter().any(|f| f.stream == d.stream));
    out.extend(flagged);
    Ok(out)
}

/// The `--output` flags.
fn flagged_outputs(app: &Application, flags: &RunFlags) -> Result<Vec<Output>> {
    let declared_format = |stream: &str| {
        app.outputs.iter().find(|o| o.stream == stream).map(|o| {
            if o.csv {
                RecordFormat::Csv
            } else {
                RecordFormat::Json
            }
        })
    };
    flags
        .outputs
        .iter()
        .map(|o| {
            let (stream, location) = o
                .split_once('=')
                .filter(|(s, l)| !s.is_empty() && !l.is_empty())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--output {o}: write STREAM=PATH, STREAM=- or STREAM=LOCATION (kinesis://, firehose://, lambda://, s3://BUCKET/PREFIX/, DIR/)"
                    ))
                })?;
            let location = Location::parse(location)
                .map_err(|e| Error::Usage(format!("--output {o}: {e}")))?;
            Ok(Output {
                stream: stream.to_string(),
                format: declared_format(stream),
                location,
            })
        })
        .collect()
}

/// The definition's destinations (`KinesisStreamsOutput`, `KinesisFirehoseOutput`,
/// `LambdaOutput`).
fn declared_outputs(app: &Application) -> Result<Vec<Output>> {
    app.outputs
        .iter()
        .filter_map(|o| o.destination.as_ref().map(|d| (o, d)))
        .map(|(o, destination)| {
            let location = Location::parse(destination)
                .map_err(|e| Error::Application(format!("output {}: {e}", o.stream)))?;
            Ok(Output {
                stream: o.stream.clone(),
                format: Some(if o.csv {
                    RecordFormat::Csv
                } else {
                    RecordFormat::Json
                }),
                location,
            })
        })
        .collect()
}

fn stream_named<'p>(prepared: &'p Prepared, name: &str) -> Result<(usize, &'p StreamDef)> {
    prepared.plan.catalog.stream(name).ok_or_else(|| {
        let mut names: Vec<String> = prepared
            .plan
            .catalog
            .streams
            .iter()
            .map(|s| s.name.clone())
            .collect();
        names.sort();
        Error::Usage(format!(
            "--output {name}: no stream named `{name}`; streams are {}",
            names.join(", ")
        ))
    })
}

/// The stream's declared columns, with ROWTIME first when asked.
fn columns_of(def: &StreamDef, with_rowtime: bool) -> Columns {
    let names: Vec<String> = def.columns.iter().map(|(n, _)| n.clone()).collect();
    Columns::of_stream(&names, with_rowtime.then(|| def.rowtime_index()))
}

/// The AWS configuration, loaded the first time a destination needs it.
#[derive(Default)]
struct Aws(Option<aws_config::SdkConfig>);

impl Aws {
    fn config(&mut self) -> aws_config::SdkConfig {
        self.0
            .get_or_insert_with(|| services().block_on(crate::connectors::aws::sdk_config()))
            .clone()
    }
}

/// An output and what its sink needs to know of the application.
struct Target<'a> {
    output: &'a Output,
    def: &'a StreamDef,
    /// The stream is written by a windowed aggregate (a Lambda is then invoked per emission).
    per_window: bool,
    application: &'a Application,
    /// The sink's state in the checkpoint the run resumes from.
    resume: Option<&'a Snapshot>,
}

/// A destination's delivery counters, and whether it is a Lambda function.
type Counted = Option<(StatsHandle, bool)>;

fn sink_for(
    target: &Target<'_>,
    flags: &RunFlags,
    replay: bool,
    aws: &mut Aws,
) -> Result<(Box<dyn Sink>, Counted)> {
    let mut counted: Counted = None;
    let o = target.output;
    let columns = columns_of(target.def, flags.with_rowtime);
    let format = o.format.unwrap_or(RecordFormat::Json);
    let sink: Box<dyn Sink> = match &o.location {
        Location::Standard => Box::new(JsonLinesSink::new(
            // Line-buffered: each batch reaches a pipe when it is written (live latency).
            Out::Stream(Box::new(std::io::stdout())),
            "stdout",
            columns,
        )),
        Location::File(path) => {
            let shown = path.display().to_string();
            let out = match target.resume {
                Some(state) => Out::resume(path, Out::checkpointed_len(state)?)?,
                None if flags.append_outputs && path.is_file() => {
                    let len = std::fs::metadata(path)
                        .map_err(|e| Error::io(&shown, e))?
                        .len();
                    Out::resume(path, len)?
                }
                None => Out::create(path).map_err(|e| Error::io(&shown, e))?,
            };
            if o.location.is_csv_file() {
                Box::new(CsvSink::new(out, shown, columns))
            } else {
                Box::new(JsonLinesSink::new(out, shown, columns))
            }
        }
        Location::Dir(_) | Location::S3Prefix { .. } => {
            let mut options =
                ObjectSinkOptions::new(o.location.clone(), o.stream.clone(), columns, format);
            if let Some(size) = flags.buffer_size {
                options.size = size;
            }
            if let Some(interval) = flags.buffer_interval {
                options.interval = interval;
            }
            options.gzip = flags.gzip;
            options.replay = replay;
            options.retry = flags.retry();
            let client = match &o.location {
                Location::S3Prefix { bucket, .. } => {
                    let config = aws.config();
                    Some(S3Client {
                        store: crate::connectors::aws::s3_delivery_store(&config, bucket)?,
                        handle: services().handle().clone(),
                    })
                }
                _ => None,
            };
            let mut sink = ObjectSink::new(options, client)?;
            if let Some(state) = target.resume {
                sink.restore(state)?;
            }
            Box::new(sink)
        }
        Location::Kinesis { stream, arn } => {
            let name = arn.clone().unwrap_or_else(|| stream.clone());
            let mut options = KinesisOutputOptions::new(
                name,
                columns,
                format,
                services().handle().clone(),
                aws.config(),
            );
            options.retry_limit = flags.retry();
            let sink = KinesisStreamsOutput::new(options)?;
            counted = Some((sink.stats(), false));
            Box::new(sink)
        }
        Location::Firehose { name } => {
            let mut options = FirehoseOutputOptions::new(
                name.clone(),
                columns,
                format,
                services().handle().clone(),
                aws.config(),
            );
            options.retry_limit = flags.retry();
            let sink = KinesisFirehoseOutput::new(options)?;
            counted = Some((sink.stats(), false));
            Box::new(sink)
        }
        Location::Lambda { function, arn } => {
            let config = aws.config();
            let app = target.application;
            let application_arn = application_arn_of(app, &config);
            let mut options = LambdaOutputOptions::new(
                arn.clone().unwrap_or_else(|| function.clone()),
                application_arn,
                columns,
                format,
                services().handle().clone(),
                config,
            );
            options.per_batch = target.per_window;
            options.retry_limit = flags.retry();
            let sink = LambdaOutput::new(options)?;
            counted = Some((sink.stats(), true));
            Box::new(sink)
        }
        Location::S3Object { bucket, key } => {
            return Err(Error::Usage(format!(
                "--output {}=s3://{bucket}/{key}: an output goes under a prefix, as Firehose writes objects: end it with `/` (s3://{bucket}/{key}/)",
                o.stream
            )));
        }
    };
    Ok((Box::new(BackgroundSink::new(sink)), counted))
}

/// The run's inputs: one per configured input (the first; the others are fed by nothing yet).
pub fn bind_inputs(
    prepared: &mut Prepared,
    flags: &RunFlags,
    resume: Option<&Checkpoint>,
) -> Result<Vec<Input>> {
    let input = prepared
        .input
        .take()
        .ok_or_else(|| Error::Application("the run has no input".into()))?;
    let first = prepared
        .app
        .inputs
        .first()
        .ok_or_else(|| Error::Application("the application declares no input".into()))?
        .clone();
    let resumed_rowtime = |stream: usize| {
        resume.and_then(|c| {
            c.last_rowtimes
                .iter()
                .find(|(s, _)| *s == stream)
                .map(|(_, t)| *t)
        })
    };
    let source_decoder = |stream: &str| -> Result<(usize, SourceDecoder)> {
        let (index, def) = prepared
            .plan
            .catalog
            .stream(stream)
            .ok_or_else(|| Error::Application(format!("no source stream {stream}")))?;
        let mut d = SourceDecoder::new(
            &prepared.schema,
            with_rowtime(&def.table_schema()),
            flags.rowtime_from.as_deref(),
        )?;
        if let Some(t) = resumed_rowtime(index) {
            d.resume(t);
        }
        Ok((index, d))
    };
    let decoder = |stream: &str| -> Result<(usize, Box<dyn ChunkDecoder>)> {
        let (index, d) = source_decoder(stream)?;
        Ok((index, Box::new(d)))
    };
    let names = first.stream_names();
    let position = resume.and_then(|c| c.inputs.first().cloned().flatten());
    Ok(match input {
        OpenedInput::Lines(mut lines) => {
            if flags.checkpoints && lines.path.is_none() {
                return Err(Error::Usage(
                    "--state-dir: a checkpoint holds where the input was read to, so the input must be one that can be read again from there: a file (--input PATH) or a Kinesis stream, not stdin".into(),
                ));
            }
            let start = match position {
                None => LinesPosition::default(),
                Some(InputPosition::Lines(at)) => at,
                Some(InputPosition::Kinesis(_)) => {
                    return Err(Error::Usage(
                        "--state-dir: the checkpoint's run read a Kinesis stream, and this run reads a file".into(),
                    ));
                }
            };
            lines.skip_to(start.offset)?;
            let mut decoders: Vec<(usize, Box<dyn ChunkDecoder>)> = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let (index, mut source) = source_decoder(name)?;
                // A discovered CSV schema that took its names from the first line: that line is
                // not a record. It is the first line, so the first stream's.
                if i == 0 && prepared.header_line {
                    source = source.with_header_line();
                }
                decoders.push((index, Box::new(source)));
            }
            let delimiter = match prepared.schema.row_delimiter() {
                Some(d) if !is_newline(d) => d.as_bytes().to_vec(),
                _ => b"\n".to_vec(),
            };
            vec![Input::Lines {
                reader: lines.reader,
                delimiter,
                decoders,
                start,
            }]
        }
        OpenedInput::Kinesis { stream, arn } => {
            let start = match &flags.start_position {
                Some(s) => Some(s.clone()),
                None => first.start_position.clone(),
            };
            let start = match start {
                None => StartPosition::Now,
                Some(s) => StartPosition::parse(&s)
                    .map_err(|e| Error::Usage(format!("--start-position: {e}")))?,
            };
            let saved = match position {
                None => None,
                Some(InputPosition::Kinesis(p)) => Some(p),
                Some(InputPosition::Lines(_)) => {
                    return Err(Error::Usage(
                        "--state-dir: the checkpoint's run read a file, and this run reads a Kinesis stream".into(),
                    ));
                }
            };
            let resuming = resume.is_some();
            let start = match (start, resuming) {
                (StartPosition::LastStoppedPoint, false) => {
                    eprintln!(
                        "rowtime: warning: LAST_STOPPED_POINT: {}; starting at NOW",
                        if flags.checkpoints {
                            "the state directory holds no checkpoint yet"
                        } else {
                            "positions are kept only with --state-dir DIR"
                        }
                    );
                    StartPosition::Now
                }
                (other, true)
                    if flags.start_position.is_some()
                        && other != StartPosition::LastStoppedPoint =>
                {
                    return Err(Error::Usage(format!(
                        "--start-position {}: the state directory holds a checkpoint, which the run resumes from; leave out --start-position (or give LAST_STOPPED_POINT), or start afresh with --force",
                        flags.start_position.as_deref().unwrap_or_default()
                    )));
                }
                (other, _) => other,
            };
            let decoders = names
                .iter()
                .map(|n| decoder(n))
                .collect::<Result<Vec<_>>>()?;
            let config = services().block_on(crate::connectors::aws::sdk_config());
            let preprocess = match (&first.preprocessor, flags.connect) {
                (Some(function), true) => Some(PreprocessSpec {
                    function: function.clone(),
                    application_arn: application_arn_of(&prepared.app, &config),
                }),
                _ => None,
            };
            vec![Input::Kinesis {
                preprocess,
                config: Box::new(config),
                options: KinesisOptions {
                    stream,
                    arn,
                    in_app_streams: names.len(),
                    start,
                    until_latest: flags.until_latest,
                    saved,
                },
                decoders,
            }]
        }
    })
}

/// The application's ARN: the definition's, else one made of the region and its name (a
/// `.sql` application has no AWS account: `000000000000` stands for it).
fn application_arn_of(app: &Application, config: &aws_config::SdkConfig) -> String {
    app.arn.clone().unwrap_or_else(|| {
        let region = config.region().map_or("us-east-1", |r| r.as_ref());
        application_arn(region, "000000000000", &app.name)
    })
}

/// Whether a stream is error_stream (shown on the terminal only when asked).
pub fn is_error_stream(name: &str) -> bool {
    name == ERROR_STREAM
}
