//! Putting an application together: the definition and its input opened, the catalog from its
//! inputs and reference tables, the plan from its code, the reference data loaded, and the
//! dataflow ready to run.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;

use super::{Application, DeclaredSource, ReferenceConfig};
use crate::catalog::{Catalog, StreamDef, StreamKind, TableDef};
use crate::connectors::discover::{csv_header, discover_schema};
use crate::connectors::follow::FollowReader;
use crate::connectors::location::Location;
use crate::connectors::reference::{ReferenceSource, S3Table};
use crate::connectors::schema::RecordSchema;
use crate::dialect::parse_application;
use crate::error::{Error, Result};
use crate::error_stream::ErrorRow;
use crate::plan::{Plan, plan};
use crate::runtime::Dataflow;
use crate::runtime::services;

/// What to assemble: the application (a `.sql` file or a KDA definition) and the flags that bind
/// its input and reference tables (the command line's `APP.sql|--app`, `--input-schema`,
/// `--input`, `--reference`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub sql: Option<PathBuf>,
    pub definition: Option<PathBuf>,
    pub input_schema: Option<PathBuf>,
    /// `--input LOCATION`: a file, `-`, or `kinesis://STREAM` (or its ARN).
    pub input: Option<String>,
    /// `TABLE=PATH` overrides.
    pub references: Vec<String>,
    /// `--connect`: the definition's declared input, outputs and reference sources.
    pub connect: bool,
    /// `--follow`: tail the input file.
    pub follow: bool,
}

/// A reference table: its schema and where its rows are (a file, or with `--connect` or an
/// `s3://` location, an S3 object).
#[derive(Debug, Clone)]
pub struct Reference {
    pub table: String,
    pub schema: RecordSchema,
    /// `Location::File` or `Location::S3Object`.
    pub location: Location,
}

/// Resolves every reference table's location and schema: `overrides` (`--reference
/// TABLE=LOCATION`) win; else with `connect` the definition's S3 object; else its local mirror
/// `reference-data/<bucket>/<key>`. A table without a schema gets one discovered from its rows.
pub fn reference_files(
    app: &Application,
    overrides: &[(String, Location)],
    connect: bool,
) -> Result<Vec<Reference>> {
    let mut out = Vec::new();
    for r in &app.references {
        let location = match overrides.iter().find(|(t, _)| *t == r.table) {
            Some((_, l)) => l.clone(),
            None if connect => Location::S3Object {
                bucket: r.bucket.clone(),
                key: r.key.clone(),
            },
            None => Location::File(app.reference_path(r)),
        };
        out.push(resolve_schema(r, location)?);
    }
    for (table, location) in overrides {
        if !app.references.iter().any(|r| r.table == *table) {
            let r = ReferenceConfig {
                table: table.clone(),
                schema: None,
                bucket: String::new(),
                key: String::new(),
            };
            out.push(resolve_schema(&r, location.clone())?);
        }
    }
    Ok(out)
}

/// The bytes of a reference table's source.
fn reference_bytes(table: &str, location: &Location) -> Result<Vec<u8>> {
    match location {
        Location::File(path) => std::fs::read(path)
            .map_err(|e| Error::io(format!("reference table {table}: {}", path.display()), e)),
        Location::S3Object { bucket, key } => {
            let config = services().block_on(crate::connectors::aws::sdk_config());
            let store = crate::connectors::aws::s3_store(&config, bucket)?;
            let path = object_store::path::Path::from(key.as_str());
            services()
                .block_on(async {
                    store
                        .get_opts(&path, object_store::GetOptions::default())
                        .await?
                        .bytes()
                        .await
                })
                .map(|b| b.to_vec())
                .map_err(|e| {
                    Error::Application(format!("reference table {table}: s3://{bucket}/{key}: {e}"))
                })
        }
        other => Err(Error::Usage(format!(
            "reference table {table}: {other} is not a file or an S3 object (s3://BUCKET/KEY)"
        ))),
    }
}

fn resolve_schema(r: &ReferenceConfig, location: Location) -> Result<Reference> {
    let schema = match &r.schema {
        Some(s) => s.clone(),
        None => {
            let bytes = reference_bytes(&r.table, &location)?;
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .take(100)
                .collect();
            let json = !location.to_string().to_ascii_lowercase().ends_with(".csv");
            discover_schema(&lines, json)
                .map_err(|e| Error::Application(format!("reference table {}: {e}", r.table)))?
        }
    };
    Ok(Reference {
        table: r.table.clone(),
        schema,
        location,
    })
}

/// The catalog: the input streams (with `input_schema` for the first input), error_stream and
/// the reference tables.
pub fn catalog(
    app: &Application,
    input_schema: &RecordSchema,
    references: &[Reference],
) -> Catalog {
    let mut sources = Vec::new();
    for (i, input) in app.inputs.iter().enumerate() {
        let schema = if i == 0 {
            Some(input_schema)
        } else {
            input.schema.as_ref()
        };
        let Some(schema) = schema else { continue };
        for name in input.stream_names() {
            sources.push(StreamDef {
                name,
                columns: schema.stream_columns(),
                kind: StreamKind::Source,
            });
        }
    }
    let tables = references
        .iter()
        .map(|r| TableDef::new(&r.table, r.schema.arrow_schema()))
        .collect();
    Catalog::new(sources, tables)
}

/// Parses and plans the application.
pub fn plan_application(
    app: &Application,
    input_schema: &RecordSchema,
    references: &[Reference],
) -> Result<Plan> {
    let statements = parse_application(&app.code)?;
    plan(
        &app.code,
        &statements,
        catalog(app, input_schema, references),
    )
}

/// Loads every reference table; returns them by name and the rows that were skipped.
pub fn load_tables(references: &[Reference]) -> Result<LoadedTables> {
    let mut tables = HashMap::new();
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    let mut config = None;
    for r in references {
        let mut source = match &r.location {
            Location::S3Object { bucket, key } => {
                let config = config.get_or_insert_with(|| {
                    services().block_on(crate::connectors::aws::sdk_config())
                });
                ReferenceSource::S3(S3Table::new(config, &r.table, &r.schema, bucket, key)?)
            }
            Location::File(path) => ReferenceSource::file(&r.table, &r.schema, path),
            other => {
                return Err(Error::Usage(format!(
                    "reference table {}: {other} is not a file or an S3 object",
                    r.table
                )));
            }
        };
        let loaded = services().block_on(source.load())?;
        for e in &loaded.errors {
            eprintln!("rowtime: warning: skipped a row: {}", e.message);
        }
        errors.extend(loaded.errors);
        tables.insert(r.table.clone(), loaded.batch);
        sources.push(source);
    }
    Ok(LoadedTables {
        tables,
        errors,
        sources,
    })
}

/// The reference tables, loaded: their rows by name, the rows skipped, and their sources (for
/// reloads).
pub struct LoadedTables {
    pub tables: HashMap<String, RecordBatch>,
    pub errors: Vec<ErrorRow>,
    pub sources: Vec<ReferenceSource>,
}

/// The schema of the first input: given, or discovered from sample records.
pub fn input_schema(
    app: &Application,
    given: Option<RecordSchema>,
    sample: Option<(&[u8], bool)>,
) -> Result<RecordSchema> {
    if let Some(s) = given.or_else(|| app.inputs.first().and_then(|i| i.schema.clone())) {
        return Ok(s);
    }
    let Some((bytes, json)) = sample else {
        return Err(Error::Usage(format!(
            "{}: the input schema of {}_001 is unknown; pass --input-schema SCHEMA.json (a KDA InputSchema) or --input PATH to discover it",
            app.code.name,
            app.inputs
                .first()
                .map(|i| i.name_prefix.as_str())
                .unwrap_or("SOURCE_SQL_STREAM")
        )));
    };
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .take(100)
        .collect();
    if lines.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the input is empty, so its schema cannot be discovered; pass --input-schema SCHEMA.json",
            app.code.name
        )));
    }
    let schema = discover_schema(&lines, json)
        .map_err(|e| Error::Application(format!("discovering the input schema: {e}")))?;
    Ok(schema)
}

/// Builds the dataflow and reports the reference rows that were skipped into error_stream.
pub fn dataflow(
    plan: &Plan,
    tables: &HashMap<String, RecordBatch>,
    table_errors: Vec<ErrorRow>,
) -> Result<Dataflow> {
    let mut d = Dataflow::new(plan, tables)?;
    d.report(table_errors);
    Ok(d)
}

fn load_app(args: &Options) -> Result<Application> {
    match (&args.sql, &args.definition) {
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

fn reference_overrides(args: &Options) -> Result<Vec<(String, Location)>> {
    args.references
        .iter()
        .map(|r| {
            let (t, p) = r
                .split_once('=')
                .filter(|(t, p)| !t.is_empty() && !p.is_empty())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--reference {r}: write TABLE=PATH or TABLE=s3://BUCKET/KEY"
                    ))
                })?;
            let location =
                Location::parse(p).map_err(|e| Error::Usage(format!("--reference {r}: {e}")))?;
            match location {
                Location::File(_) | Location::S3Object { .. } => Ok((t.to_string(), location)),
                other => Err(Error::Usage(format!(
                    "--reference {r}: {other} is not a file or an S3 object (s3://BUCKET/KEY)"
                ))),
            }
        })
        .collect()
}

fn read_input_schema(args: &Options) -> Result<Option<RecordSchema>> {
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

/// The input of a run, opened.
pub enum OpenedInput {
    /// A file or stdin: lines.
    Lines(Input),
    /// A Kinesis data stream.
    Kinesis { stream: String, arn: Option<String> },
}

/// A file or stdin, opened; with the first bytes kept aside for schema discovery when needed.
pub struct Input {
    pub reader: Box<dyn Read + Send>,
    pub sample: Option<Vec<u8>>,
    pub json: bool,
    /// The file (`None`: stdin).
    pub path: Option<PathBuf>,
    pub follow: bool,
}

impl Input {
    /// Reads the file on from byte `offset` (resuming from a checkpoint), instead of from the
    /// start.
    pub fn skip_to(&mut self, offset: u64) -> Result<()> {
        if offset == 0 {
            return Ok(());
        }
        let Some(path) = &self.path else {
            return Err(Error::Usage(
                "--state-dir: the checkpoint's run read a file, and this run reads stdin".into(),
            ));
        };
        let shown = path.display().to_string();
        if self.follow {
            let reader = FollowReader::open_at(path, offset).map_err(|e| Error::io(&shown, e))?;
            self.reader = Box::new(reader);
            return Ok(());
        }
        let mut file = File::open(path).map_err(|e| Error::io(&shown, e))?;
        let len = file.metadata().map_err(|e| Error::io(&shown, e))?.len();
        if len < offset {
            return Err(Error::Application(format!(
                "{shown}: the file has {len} bytes, fewer than the {offset} the checkpoint had read: it was replaced or cut since; give the same input, or start afresh with --force"
            )));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&shown, e))?;
        self.reader = Box::new(file);
        Ok(())
    }
}

pub fn open_input(spec: &str, want_sample: bool, follow: bool) -> Result<Input> {
    let json = !spec.to_ascii_lowercase().ends_with(".csv");
    let reader: Box<dyn Read + Send> = if spec == "-" {
        if follow {
            return Err(Error::Usage(
                "--follow tails a file: give it with --input PATH".into(),
            ));
        }
        Box::new(std::io::stdin())
    } else if follow {
        Box::new(FollowReader::open(Path::new(spec)).map_err(|e| Error::io(spec, e))?)
    } else {
        Box::new(File::open(spec).map_err(|e| Error::io(spec, e))?)
    };
    let path = (spec != "-").then(|| PathBuf::from(spec));
    if !want_sample {
        return Ok(Input {
            reader,
            sample: None,
            json,
            path,
            follow,
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
        path,
        follow,
    })
}

/// An application with its input schema, reference files and plan; for `run`, its input too.
pub struct Prepared {
    pub app: Application,
    pub schema: RecordSchema,
    pub references: Vec<Reference>,
    pub plan: Plan,
    pub input: Option<OpenedInput>,
    /// The input schema was discovered from the input's first records.
    pub discovered: bool,
    /// The discovered schema took its column names from the input's first line (a CSV header),
    /// which is then not a record.
    pub header_line: bool,
    /// Where the input comes from, as written (`-` for stdin).
    pub input_location: String,
}

/// Loads and plans the application. `for_run` opens the input (stdin by default); otherwise the
/// input is read only when its schema must be discovered from it.
pub fn prepare(args: &Options, for_run: bool) -> Result<Prepared> {
    let overrides = reference_overrides(args)?;
    let app = load_app(args)?;
    let given = read_input_schema(args)?;
    let discovered = given.is_none() && app.inputs.first().is_none_or(|i| i.schema.is_none());
    let location = input_location(&app, args)?;
    let shown_location = location
        .as_ref()
        .map_or_else(|| "-".to_string(), |l| l.to_string());
    let input = match location {
        Some(Location::Kinesis { stream, arn }) => Some(OpenedInput::Kinesis { stream, arn }),
        Some(Location::File(path)) if for_run || discovered => {
            let spec = path.display().to_string();
            Some(OpenedInput::Lines(open_input(
                &spec,
                discovered,
                args.follow,
            )?))
        }
        None | Some(Location::Standard) if for_run => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "rowtime: reading records from the terminal; end with Ctrl-D (or pass --input PATH)"
                );
            }
            Some(OpenedInput::Lines(open_input(
                "-",
                discovered,
                args.follow,
            )?))
        }
        Some(
            other @ (Location::Dir(_)
            | Location::Firehose { .. }
            | Location::Lambda { .. }
            | Location::S3Object { .. }
            | Location::S3Prefix { .. }),
        ) => {
            return Err(Error::Usage(format!(
                "--input {other}: an input is a file, `-` (stdin) or kinesis://STREAM"
            )));
        }
        _ => None,
    };
    let header_line = match &input {
        Some(OpenedInput::Lines(i)) if discovered && !i.json => {
            let sample = i.sample.as_deref().unwrap_or_default();
            let lines: Vec<&[u8]> = sample.split(|b| *b == b'\n').take(100).collect();
            csv_header(&lines)
        }
        _ => false,
    };
    let schema = match &input {
        Some(OpenedInput::Lines(i)) => {
            input_schema(&app, given, i.sample.as_deref().map(|s| (s, i.json)))?
        }
        Some(OpenedInput::Kinesis { stream, arn }) if discovered => {
            kinesis_schema(&app, given, stream, arn.as_deref())?
        }
        _ => input_schema(&app, given, None)?,
    };
    let references = reference_files(&app, &overrides, args.connect)?;
    let plan = plan_application(&app, &schema, &references)?;
    Ok(Prepared {
        app,
        schema,
        references,
        plan,
        input,
        discovered,
        header_line,
        input_location: shown_location,
    })
}

/// Where the input comes from: `--input`, else with `--connect` the definition's declared
/// Kinesis stream, else nothing said (stdin for `run`).
fn input_location(app: &Application, args: &Options) -> Result<Option<Location>> {
    if let Some(spec) = &args.input {
        return Location::parse(spec)
            .map(Some)
            .map_err(|e| Error::Usage(format!("--input {spec}: {e}")));
    }
    if !args.connect {
        return Ok(None);
    }
    match app.inputs.first().and_then(|i| i.source.as_ref()) {
        Some(DeclaredSource::Kinesis(arn)) => Location::parse(arn).map(Some).map_err(|e| {
            Error::Application(format!("{}: KinesisStreamsInput: {e}", app.code.name))
        }),
        Some(DeclaredSource::Firehose(arn)) => Err(Error::Usage(format!(
            "{}: the input is the Firehose delivery stream {arn}; Firehose has no API to read from, so rowtime cannot connect to it: point the producers at a Kinesis data stream, or give --input",
            app.code.name
        ))),
        None => Err(Error::Usage(format!(
            "{}: --connect, but the definition declares no KinesisStreamsInput; give --input",
            app.code.name
        ))),
    }
}

/// The input schema, discovered from a sample of the Kinesis stream (its oldest records).
fn kinesis_schema(
    app: &Application,
    given: Option<RecordSchema>,
    stream: &str,
    arn: Option<&str>,
) -> Result<RecordSchema> {
    if let Some(s) = given {
        return Ok(s);
    }
    let config = services().block_on(crate::connectors::aws::sdk_config());
    let records = services().block_on(crate::connectors::kinesis::sample(
        &config, stream, arn, true, 100,
    ))?;
    if records.is_empty() {
        return Err(Error::Usage(format!(
            "{}: kinesis://{stream} holds no records, so its schema cannot be discovered; pass --input-schema SCHEMA.json",
            app.code.name
        )));
    }
    let lines: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    discover_schema(&lines, true).map_err(|e| {
        Error::Application(format!("discovering the schema of kinesis://{stream}: {e}"))
    })
}

/// `rowtime discover --input LOCATION`: the schema KDA's discovery infers from a sample of the
/// input (the first 100 records of a file, or the oldest 100 of a Kinesis stream).
pub fn discover_input(spec: &str) -> Result<RecordSchema> {
    let location =
        Location::parse(spec).map_err(|e| Error::Usage(format!("--input {spec}: {e}")))?;
    match location {
        Location::Kinesis { stream, arn } => {
            let config = services().block_on(crate::connectors::aws::sdk_config());
            let records = services().block_on(crate::connectors::kinesis::sample(
                &config,
                &stream,
                arn.as_deref(),
                true,
                100,
            ))?;
            if records.is_empty() {
                return Err(Error::Usage(format!(
                    "kinesis://{stream} holds no records to discover a schema from"
                )));
            }
            let lines: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            discover_schema(&lines, true).map_err(|e| {
                Error::Application(format!("discovering the schema of kinesis://{stream}: {e}"))
            })
        }
        Location::File(_) | Location::Standard => {
            let input = open_input(spec, true, false)?;
            let sample = input.sample.unwrap_or_default();
            let lines: Vec<&[u8]> = sample
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
                .collect();
            if lines.is_empty() {
                return Err(Error::Usage(format!(
                    "{spec} is empty: there is nothing to discover a schema from"
                )));
            }
            discover_schema(&lines, input.json)
                .map_err(|e| Error::Application(format!("discovering the schema of {spec}: {e}")))
        }
        other => Err(Error::Usage(format!(
            "--input {other}: discovery samples a file or kinesis://STREAM"
        ))),
    }
}
