//! Translation of a KDA application into one Flink SQL job (`rowtime translate --to flink`).
//!
//! The input becomes a table (filesystem or Kinesis) and a view with the KDA columns and
//! ROWTIME; each reference table a table and a view; each pump a view of its query; each
//! in-application stream a view, the UNION ALL of its pumps (for the pumps that read it); each
//! delivered stream a sink table, with an INSERT of the job's STATEMENT SET for each pump into
//! it. Flink cannot read back a table it writes in the same job, so in-application streams are
//! views, and a stream that is not delivered has no INSERT.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`to_flink`]: the script, its order, the warnings |
//! | `ddl.rs` | input, reference and output tables; types; connector options |
//! | `query.rs` | a pump's query: FROM, windows, expressions |
//! | `check.rs` | the differential check: PyFlink's venv, the driver (`flink_driver.py`), rows compared |
//! | `catalog.rs` | what each construct and function becomes, for the translator and `docs/flink.md` |
//!
//! Tests: `cargo test --lib translate` (the script's text) and `cargo test --test flink` (the
//! script run by Apache Flink, rows compared with rowtime's).

pub mod catalog;
pub mod check;
mod ddl;
mod query;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::visit_relations;

use crate::app::DeclaredSource;
use crate::app::assemble::Prepared;
use crate::catalog::ERROR_STREAM;
use crate::connectors::location::Location;
use crate::dialect::{AppStatement, CreatePump, CreateStream, parse_application};
use crate::error::{Error, Result};
use crate::types::SqlType;
use ddl::{Place, RowtimeMode, comment, file_uri, flink_type};
use query::{Env, StreamRel, TimeAttr};

pub use catalog::markdown_table;

/// What the translation needs beyond the application: the run flags that bind it.
#[derive(Debug, Clone, Default)]
pub struct FlinkOptions {
    /// `--rowtime-from COLUMN`: ROWTIME is an event-time attribute; else processing time.
    pub rowtime_from: Option<String>,
    /// ROWTIME from this JSON key of each record, which is not one of the input's columns
    /// (replaying rows recorded with their ROWTIMEs: the differential tests). Wins over
    /// `rowtime_from`.
    pub rowtime_key: Option<String>,
    /// APPROXIMATE_ARRIVAL_TIME from this JSON key of each record of a file input (replaying
    /// rows recorded with their arrival times: the differential tests); else a file's rows
    /// arrive at their ROWTIME.
    pub arrival_key: Option<String>,
    /// `--with-rowtime`: the outputs' first column is ROWTIME.
    pub with_rowtime: bool,
    /// `--output STREAM=LOCATION`, as written.
    pub outputs: Vec<String>,
    /// `--input LOCATION`, as written.
    pub input: Option<String>,
    /// `--reference TABLE=LOCATION`, as written: those tables are read from there, the others
    /// from the definition's S3 objects.
    pub references: Vec<String>,
}

/// A translated job.
#[derive(Debug, Clone)]
pub struct FlinkJob {
    pub sql: String,
    /// Where Flink's results can differ from KDA's, or what was left out.
    pub warnings: Vec<String>,
    /// The delivered streams: name, where, whether CSV, columns.
    pub sinks: Vec<FlinkSink>,
}

#[derive(Debug, Clone)]
pub struct FlinkSink {
    pub stream: String,
    pub location: Location,
    pub csv: bool,
    /// Column names and KDA types (ROWTIME first with `with_rowtime`).
    pub columns: Vec<(String, SqlType)>,
    /// The region of the destination's ARN, when it was given as one.
    pub region: Option<String>,
}

/// An identifier in Flink SQL: in backticks, exactly as KDA names it.
pub(crate) fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An interval of `ms` milliseconds in Flink SQL.
pub(crate) fn rowtime_value(ms: i64) -> String {
    format!("INTERVAL '{}.{:03}' SECOND", ms / 1000, ms % 1000)
}

/// Whether rows of a reference table file repeat a key of an earlier row: then Flink's temporal
/// join (one row per key) and KDA's join (every row with the key) give different rows.
fn repeated_keys(
    table: &str,
    schema: &crate::connectors::schema::RecordSchema,
    path: &std::path::Path,
    keys: &[String],
) -> Result<Option<String>> {
    use datafusion::arrow::util::display::array_value_to_string;
    let loaded = crate::connectors::reference::load_reference(table, schema, path)?;
    let batch = &loaded.batch;
    let mut columns = Vec::new();
    for k in keys {
        let Some((i, _)) = batch.schema().column_with_name(k) else {
            return Ok(None);
        };
        columns.push(batch.column(i).clone());
    }
    let mut seen = HashSet::new();
    let mut repeats = 0;
    let mut first = None;
    for row in 0..batch.num_rows() {
        if columns.iter().any(|c| c.is_null(row)) {
            continue; // a NULL key joins nothing, in KDA and in Flink
        }
        let key = columns
            .iter()
            .map(|c| array_value_to_string(c, row))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Application(format!("reference table {table}: {e}")))?;
        if !seen.insert(key.clone()) {
            repeats += 1;
            first.get_or_insert(key.join(", "));
        }
    }
    Ok(first.map(|first| {
        format!(
            "reference table {table} ({}): {repeats} row(s) repeat the {} of an earlier row (the first: {first}); Flink's temporal join finds one row per key where KDA joins each, so the rows for these keys will differ",
            path.display(),
            keys.join(", ")
        )
    }))
}

/// Translates a prepared (parsed and planned) application into a Flink SQL script.
pub fn to_flink(prepared: &Prepared, options: &FlinkOptions) -> Result<FlinkJob> {
    let app = &prepared.app;
    let src = &app.code;
    let statements = parse_application(src)?;
    let mut warnings = Vec::new();
    let mut out = String::new();
    out.push_str(&format!(
        "-- Flink SQL job for the KDA application {}, translated by rowtime {}.\n",
        app.name,
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("-- Run it with Flink's SQL client (sql-client.sh -f JOB.sql) or in Managed Service for Apache Flink;\n-- Kinesis and Firehose tables need the flink-connector-aws jars (flink-sql-connector-aws-kinesis-streams,\n-- flink-sql-connector-aws-kinesis-firehose) on the job's class path.\n");
    out.push_str("-- Checkpoints commit the files a filesystem sink writes and keep the Kinesis positions.\n");
    out.push_str("SET 'execution.checkpointing.interval' = '10s';\n");
    out.push_str("-- KDA's times are UTC: so are the times Flink takes from its clock.\n");
    out.push_str("SET 'table.local-time-zone' = 'UTC';\n\n");
    let reference_names: HashSet<String> = prepared
        .references
        .iter()
        .map(|r| r.table.clone())
        .collect();
    let left_joins = statements.iter().any(|s| match s {
        AppStatement::CreatePump(p) => query::left_joins_a_table(&p.query, &reference_names),
        _ => false,
    });

    // The input.
    if app.inputs.len() > 1 {
        return Err(Error::Application(format!(
            "not translatable to Flink: {}: the application has {} inputs; rowtime translates one",
            src.name,
            app.inputs.len()
        )));
    }
    let mut env = Env {
        src,
        join_windows: std::cell::RefCell::new(Vec::new()),
        versioned: std::cell::RefCell::new(Vec::new()),
        no_arrival_time: None,
        streams: HashMap::new(),
        tables: HashMap::new(),
        functions: statements
            .iter()
            .filter_map(|s| match s {
                AppStatement::CreateFunction(f) => Some(f.name.clone()),
                _ => None,
            })
            .collect(),
    };
    if let Some(input) = app.inputs.first() {
        if input.count != 1 {
            return Err(Error::Application(format!(
                "not translatable to Flink: {}: InputParallelism {} creates {} in-application streams; translate with a count of 1, Flink's own parallelism spreads the work",
                src.name, input.count, input.count
            )));
        }
        // The planned source stream (its name as the catalog has it).
        let stream = prepared
            .plan
            .catalog
            .streams
            .iter()
            .find(|s| s.kind == crate::catalog::StreamKind::Source)
            .map_or_else(|| input.stream_names().remove(0), |s| s.name.clone());
        let place = match &options.input {
            Some(spec) => match Location::parse(spec)
                .map_err(|e| Error::Usage(format!("--input {spec}: {e}")))?
            {
                Location::File(p) => Place::Files(file_uri(&p)),
                Location::Kinesis { arn: Some(arn), .. } => Place::Kinesis {
                    arn,
                    start: input.start_position.clone(),
                },
                Location::Kinesis { stream, arn: None } => {
                    return Err(Error::Usage(format!(
                        "--input kinesis://{stream}: Flink's Kinesis connector needs the stream's ARN; pass --input arn:aws:kinesis:REGION:ACCOUNT:stream/{stream}"
                    )));
                }
                other => {
                    return Err(Error::Usage(format!(
                        "--input {other}: a Flink job reads a file or a Kinesis stream (by ARN)"
                    )));
                }
            },
            None => match &input.source {
                Some(DeclaredSource::Kinesis(arn)) => Place::Kinesis {
                    arn: arn.clone(),
                    start: input.start_position.clone(),
                },
                Some(DeclaredSource::Firehose(arn)) => {
                    return Err(Error::Application(format!(
                        "not translatable to Flink: {}: the input is the Firehose delivery stream {arn}, which Flink cannot read; point the producers at a Kinesis data stream and pass --input with its ARN",
                        src.name
                    )));
                }
                None => {
                    return Err(Error::Usage(format!(
                        "{}: say where the job reads its input: --input FILE or --input arn:aws:kinesis:…",
                        src.name
                    )));
                }
            },
        };
        let (mode, time, notes) = match (&options.rowtime_key, &options.rowtime_from) {
            (Some(key), _) => (
                RowtimeMode::Key(key),
                TimeAttr::Event,
                vec![format!("ROWTIME is the time in each record's key {key}.")],
            ),
            (None, Some(col)) => {
                let note = format!(
                    "ROWTIME is the event time {col} (replay mode). KDA clamps a row whose {col} is older than the latest ROWTIME to that ROWTIME; Flink keeps the row's own time, and a window whose end the watermark has passed drops it as late. The results agree when the input is in {col} order."
                );
                warnings.push(format!("input {stream}: {note}"));
                (RowtimeMode::Replay(col), TimeAttr::Event, vec![note])
            }
            (None, None) if left_joins => {
                let note = "ROWTIME is the time a row arrives, as KDA's ingest time, and an event-time attribute: a LEFT JOIN with a reference table runs as Flink's event-time temporal join, which needs one. A window over this input closes when a later row arrives, not on the clock.".to_string();
                warnings.push(format!("input {stream}: {note}"));
                (RowtimeMode::IngestEvent, TimeAttr::Event, vec![note])
            }
            (None, None) => (
                RowtimeMode::Ingest,
                TimeAttr::Processing,
                vec![
                    "ROWTIME is the time a row arrives (processing time), as KDA's ingest time."
                        .to_string(),
                ],
            ),
        };
        if let Place::Kinesis { .. } = place {
            env.no_arrival_time = Some(
                "Flink's Kinesis table source (flink-connector-aws-kinesis-streams) lists the record's `timestamp` metadata but does not fill it in: a job that reads it fails. Use ROWTIME, or a time the producer puts in the record",
            );
        }
        out.push_str(&comment(&format!("Input {stream}")));
        out.push_str(&ddl::source(
            &stream,
            &prepared.schema,
            &place,
            &mode,
            options.arrival_key.as_deref(),
            &notes,
        )?);
        out.push('\n');
        env.streams.insert(
            stream,
            StreamRel {
                columns: prepared
                    .schema
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
                time,
                offset_ms: 0,
                plain_because: None,
            },
        );
    }

    // Reference tables.
    let overridden: HashSet<String> = options
        .references
        .iter()
        .filter_map(|r| r.split_once('=').map(|(t, _)| t.to_string()))
        .collect();
    let mut reference_places = HashMap::new();
    for r in &prepared.references {
        let declared = app.references.iter().find(|d| d.table == r.table);
        let place = match (&r.location, declared) {
            (Location::S3Object { bucket, key }, _) => Place::Files(format!("s3://{bucket}/{key}")),
            (_, Some(d)) if !overridden.contains(&r.table) => {
                Place::Files(format!("s3://{}/{}", d.bucket, d.key))
            }
            (Location::File(p), _) => Place::Files(file_uri(p)),
            (other, _) => {
                return Err(Error::Usage(format!(
                    "reference table {}: {other} is not a file or an S3 object",
                    r.table
                )));
            }
        };
        out.push_str(&comment(&format!("Reference table {}", r.table)));
        out.push_str(&ddl::reference(&r.table, &r.schema, &place)?);
        // The file the job reads, when it is here to look at (not the definition's S3 object).
        let local = match (&r.location, &place) {
            (Location::File(p), Place::Files(uri)) if *uri == file_uri(p) => Some(p.clone()),
            _ => None,
        };
        reference_places.insert(r.table.clone(), (&r.schema, place, local));
        out.push('\n');
        env.tables.insert(
            r.table.clone(),
            r.schema.columns.iter().map(|c| c.name.clone()).collect(),
        );
    }

    // Streams and pumps, the last definition of a name winning (CREATE OR REPLACE).
    let mut streams: Vec<&CreateStream> = Vec::new();
    let mut pumps: Vec<&CreatePump> = Vec::new();
    for s in &statements {
        match s {
            AppStatement::CreateStream(c) => {
                streams.retain(|x| x.name != c.name);
                streams.push(c);
            }
            AppStatement::CreatePump(p) => {
                pumps.retain(|x| x.name != p.name);
                pumps.push(p);
            }
            AppStatement::CreateFunction(_) => {}
        }
    }
    let reads: Vec<HashSet<String>> = pumps
        .iter()
        .map(|p| {
            let mut names = HashSet::new();
            let _ = visit_relations(&p.query, |r| {
                names.insert(
                    r.0.iter()
                        .map(|x| x.to_string().trim_matches('"').to_string())
                        .collect::<Vec<_>>()
                        .join("."),
                );
                ControlFlow::<()>::Continue(())
            });
            names
        })
        .collect();
    let mut done = vec![false; pumps.len()];
    let mut versioned = HashSet::new();
    let mut defined: HashSet<String> = env.streams.keys().cloned().collect();
    loop {
        // A stream is ready when every pump into it is translated.
        let mut progress = false;
        for (i, p) in pumps.iter().enumerate() {
            if done[i] {
                continue;
            }
            let ready = reads[i].iter().all(|n| {
                defined.contains(n)
                    || env.tables.contains_key(n)
                    || !streams.iter().any(|s| &s.name == n)
            });
            if !ready {
                continue;
            }
            let Some(target) = streams.iter().find(|s| s.name == p.target) else {
                return Err(src
                    .error_at(
                        p.target_at,
                        format!(
                            "pump {} inserts into {}, which no CREATE STREAM creates",
                            p.name, p.target
                        ),
                    )
                    .into_error());
            };
            let part = query::pump(&env, p)?;
            for (table, keys) in env.versioned.take() {
                if versioned.insert(ddl::versioned_name(&table, &keys)) {
                    let (schema, place, local) = &reference_places[&table];
                    out.push_str(&comment(&format!(
                        "Reference table {table}, one row per {} for LEFT JOIN",
                        keys.join(", ")
                    )));
                    if let Some(path) = local
                        && let Some(repeated) = repeated_keys(&table, schema, path, &keys)?
                    {
                        out.push_str(&comment(&repeated));
                        warnings.push(repeated);
                    }
                    out.push_str(&ddl::versioned_reference(&table, &keys, schema, place)?);
                    out.push('\n');
                }
            }
            let columns: Vec<String> = match &p.columns {
                Some(cols) => cols.iter().map(|c| c.value.clone()).collect(),
                None => target.columns.iter().map(|c| c.name.clone()).collect(),
            };
            if columns.len() != part.columns.len() - 1 {
                return Err(src
                    .error_at(
                        p.query_at,
                        format!(
                            "pump {}: the query has {} columns for {} stream columns",
                            p.name,
                            part.columns.len() - 1,
                            columns.len()
                        ),
                    )
                    .into_error());
            }
            let mut items = Vec::new();
            for c in &target.columns {
                let value = match columns.iter().position(|x| x.eq_ignore_ascii_case(&c.name)) {
                    Some(k) => quote(&part.columns[k]),
                    None => "NULL".to_string(),
                };
                // KDA rounds a fraction it stores into an integer column; Flink's CAST cuts it.
                let integer = matches!(
                    c.sql_type,
                    SqlType::TinyInt | SqlType::SmallInt | SqlType::Integer | SqlType::BigInt
                );
                let value = if integer && value != "NULL" {
                    format!("ROUND({value})")
                } else {
                    value
                };
                items.push(format!(
                    "CAST({value} AS {}) AS {}",
                    flink_type(c.sql_type),
                    quote(&c.name)
                ));
            }
            items.push("`ROWTIME`".to_string());
            out.push_str(&comment(&format!(
                "Pump {} ({}:{}:{}) into {}",
                p.name, src.name, p.at.line, p.at.column, p.target
            )));
            for n in &part.notes {
                out.push_str(&comment(n));
                warnings.push(format!("pump {}: {n}", p.name));
            }
            out.push_str(&format!(
                "CREATE VIEW {} AS\nSELECT {}\nFROM (\n{}\n) AS `q`;\n\n",
                quote(&p.name),
                items.join(", "),
                part.sql
            ));
            done[i] = true;
            progress = true;
            // The stream is complete when its last pump is in.
            let all_in = pumps
                .iter()
                .enumerate()
                .all(|(k, q)| q.target != p.target || done[k]);
            let entry = env.streams.entry(p.target.clone()).or_insert(StreamRel {
                columns: target.columns.iter().map(|c| c.name.clone()).collect(),
                time: part.time,
                offset_ms: part.offset_ms,
                plain_because: part.plain_because.clone(),
            });
            if entry.time != part.time || entry.offset_ms != part.offset_ms {
                return Err(src
                    .error_at(p.at, format!("not translatable to Flink: the pumps into {} give rows of different kinds (windowed and not, or joined and not)", p.target))
                    .with_help("Flink's UNION ALL of the pumps needs one kind of ROWTIME; write the kinds into two streams")
                    .into_error());
            }
            if all_in {
                let into: Vec<String> = pumps
                    .iter()
                    .filter(|q| q.target == p.target)
                    .map(|q| format!("SELECT * FROM {}", quote(&q.name)))
                    .collect();
                out.push_str(&comment(&format!("In-application stream {}", p.target)));
                out.push_str(&format!(
                    "CREATE VIEW {} AS\n{};\n\n",
                    quote(&p.target),
                    into.join("\nUNION ALL\n")
                ));
                defined.insert(p.target.clone());
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
        if !progress {
            let stuck: Vec<&str> = pumps
                .iter()
                .enumerate()
                .filter(|(i, _)| !done[*i])
                .map(|(_, p)| p.name.as_str())
                .collect();
            return Err(Error::Application(format!(
                "not translatable to Flink: the pumps {} read streams in a cycle; Flink views cannot refer to themselves",
                stuck.join(", ")
            )));
        }
    }

    // Outputs.
    let sinks = sinks(prepared, options, &mut warnings)?;
    let mut inserts = Vec::new();
    for s in &sinks {
        let Some(def) = streams.iter().find(|d| d.name == s.stream) else {
            if env.streams.contains_key(&s.stream) {
                return Err(Error::Application(format!(
                    "not translatable to Flink: output {}: delivering an input stream as it is; add a pump into a stream of its own",
                    s.stream
                )));
            }
            return Err(Error::Application(format!(
                "output {}: the application creates no such stream",
                s.stream
            )));
        };
        let Some(rel) = env.streams.get(&s.stream) else {
            return Err(Error::Application(format!(
                "output {}: no pump inserts into it, so Flink would have nothing to deliver",
                s.stream
            )));
        };
        let sink_name = format!("{}__sink", s.stream);
        let mut cols = Vec::new();
        let mut values = Vec::new();
        if options.with_rowtime {
            cols.push(("ROWTIME".to_string(), "TIMESTAMP(3)".to_string()));
            let v = "CAST(`ROWTIME` AS TIMESTAMP(3))".to_string();
            values.push(if rel.offset_ms == 0 {
                v
            } else {
                format!("{v} + {}", rowtime_value(rel.offset_ms))
            });
        }
        for c in &def.columns {
            cols.push((c.name.clone(), flink_type(c.sql_type)));
            values.push(quote(&c.name));
        }
        let place = match &s.location {
            Location::File(p) | Location::Dir(p) => Place::Files(file_uri(p)),
            Location::S3Prefix { bucket, prefix } => {
                Place::Files(format!("s3://{bucket}/{prefix}"))
            }
            Location::S3Object { bucket, key } => Place::Files(format!("s3://{bucket}/{key}")),
            Location::Standard => Place::Print,
            Location::Kinesis { arn: Some(arn), .. } => Place::Kinesis {
                arn: arn.clone(),
                start: None,
            },
            Location::Kinesis { stream, arn: None } => {
                return Err(Error::Usage(format!(
                    "--output {}=kinesis://{stream}: Flink's Kinesis connector needs the stream's ARN; write --output {}=arn:aws:kinesis:REGION:ACCOUNT:stream/{stream}",
                    s.stream, s.stream
                )));
            }
            Location::Firehose { name } => {
                let Some(region) = s.region.clone() else {
                    return Err(Error::Usage(format!(
                        "--output {}=firehose://{name}: Flink's Firehose connector needs the region; write the delivery stream's ARN, arn:aws:firehose:REGION:ACCOUNT:deliverystream/{name}",
                        s.stream
                    )));
                };
                Place::Firehose {
                    name: name.clone(),
                    region,
                }
            }
            Location::Lambda { function, .. } => {
                return Err(Error::Application(format!(
                    "not translatable to Flink: output {} goes to the Lambda function {function}; Flink has no Lambda sink: deliver to a Kinesis stream and let it trigger the function",
                    s.stream
                )));
            }
        };
        out.push_str(&comment(&format!("Output {} to {}", s.stream, s.location)));
        out.push_str(&ddl::sink(&sink_name, &cols, &place, s.csv)?);
        out.push('\n');
        // One INSERT per pump into the stream (each pump's view has the stream's columns).
        for p in pumps.iter().filter(|p| p.target == s.stream) {
            inserts.push(format!(
                "INSERT INTO {} SELECT {} FROM {};",
                quote(&sink_name),
                values.join(", "),
                quote(&p.name)
            ));
        }
    }
    if inserts.is_empty() {
        return Err(Error::Application(format!(
            "{}: nothing to deliver: give --output STREAM=LOCATION",
            src.name
        )));
    }
    out.push_str("EXECUTE STATEMENT SET\nBEGIN\n");
    for i in &inserts {
        out.push_str(i);
        out.push('\n');
    }
    out.push_str("END;\n");
    Ok(FlinkJob {
        sql: out,
        warnings,
        sinks,
    })
}

/// The delivered streams: `--output` flags, else the definition's destinations, else
/// DESTINATION_SQL_STREAM printed. error_stream is left out with a warning.
fn sinks(
    prepared: &Prepared,
    options: &FlinkOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<FlinkSink>> {
    let app = &prepared.app;
    let mut wanted: Vec<(String, Location, bool, Option<String>)> = Vec::new();
    for o in &options.outputs {
        let (stream, spec) = o
            .split_once('=')
            .filter(|(s, l)| !s.is_empty() && !l.is_empty())
            .ok_or_else(|| Error::Usage(format!("--output {o}: write STREAM=LOCATION")))?;
        let location =
            Location::parse(spec).map_err(|e| Error::Usage(format!("--output {o}: {e}")))?;
        let csv = matches!(&location, Location::File(p) if p.extension().is_some_and(|e| e == "csv"))
            || app
                .outputs
                .iter()
                .any(|d| d.stream == stream && d.csv && !matches!(location, Location::File(_)));
        wanted.push((stream.to_string(), location, csv, Some(spec.to_string())));
    }
    if wanted.is_empty() {
        for d in &app.outputs {
            let location = match &d.destination {
                Some(arn) => Location::parse(arn)
                    .map_err(|e| Error::Application(format!("output {}: {e}", d.stream)))?,
                None => Location::Standard,
            };
            wanted.push((d.stream.clone(), location, d.csv, d.destination.clone()));
        }
    }
    if wanted.is_empty() {
        wanted.push((
            "DESTINATION_SQL_STREAM".into(),
            Location::Standard,
            false,
            None,
        ));
    }
    let mut out = Vec::new();
    for (stream, location, csv, spec) in wanted {
        if stream.eq_ignore_ascii_case(ERROR_STREAM) {
            warnings.push(format!(
                "output {stream} ({location}) is left out: Flink skips a record that does not decode and has no stream of them"
            ));
            continue;
        }
        let mut columns = Vec::new();
        if options.with_rowtime {
            columns.push(("ROWTIME".to_string(), SqlType::Timestamp));
        }
        if let Some((_, def)) = prepared.plan.catalog.stream(&stream) {
            columns.extend(def.columns.iter().cloned());
        }
        out.push(FlinkSink {
            stream,
            location,
            csv,
            columns,
            region: spec
                .as_deref()
                .and_then(ddl::arn_region)
                .map(str::to_string),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
