//! Differential tests with Apache Flink: each application is translated to Flink SQL
//! (`rowtime::translate`), run by Flink (PyFlink in a virtual environment under ~/.cache, which
//! the test installs when it is missing; all jobs in one JVM) and by rowtime (`rowtime run`)
//! over the same input file, and the rows of every output must be equal after one normalisation
//! (row order; TIMESTAMP with 3 fraction digits, DECIMAL with its scale, DOUBLE to 12
//! significant digits: `rowtime::translate::check::canonical_value`). If Flink cannot start the
//! test fails with the reason.
//!
//! Cases: the two toll applications, the benchmark queries (bench/apps) over generated toll and
//! bid streams in JSON and CSV, LEFT JOINs with a reference table and windowed stream-to-stream
//! joins over generated trips, and generated workloads of other sizes and seeds.

use std::path::{Path, PathBuf};
use std::process::Command;

use rowtime::app::assemble::{Options, prepare};
use rowtime::translate::check::{FlinkRun, canonical_rows, compare, run_flink};
use rowtime::translate::{FlinkOptions, FlinkSink, to_flink};

fn rowtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rowtime"))
}

/// One application over one input.
struct Case {
    name: String,
    sql: Option<&'static str>,
    app: Option<&'static str>,
    input_schema: Option<&'static str>,
    input: PathBuf,
    references: Vec<String>,
    /// Replay mode's column; empty for processing time (then ROWTIME is not compared).
    rowtime_from: &'static str,
    /// Streams to deliver (default: DESTINATION_SQL_STREAM).
    outputs: Vec<&'static str>,
}

impl Case {
    fn new(name: &str, input: PathBuf) -> Case {
        Case {
            name: name.to_string(),
            sql: None,
            app: None,
            input_schema: None,
            input,
            references: Vec::new(),
            rowtime_from: "EVENT_TIME",
            outputs: vec!["DESTINATION_SQL_STREAM"],
        }
    }
}

fn generate(dir: &Path, what: &str, count: u64, seed: u64, csv: bool) -> PathBuf {
    let path = dir.join(format!(
        "{what}-{count}-{seed}.{}",
        if csv { "csv" } else { "jsonl" }
    ));
    let out = rowtime()
        .args([
            "generate",
            what,
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--format", if csv { "csv" } else { "json" }])
        .output()
        .expect("rowtime generate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Translates a case with its outputs as CSV files under `dir`; returns the script's path, the
/// sinks and Flink's output folders.
fn translate(case: &Case, dir: &Path) -> (PathBuf, Vec<FlinkSink>) {
    let options = Options {
        sql: case.sql.map(PathBuf::from),
        definition: case.app.map(PathBuf::from),
        input_schema: case.input_schema.map(PathBuf::from),
        input: Some(case.input.display().to_string()),
        references: case.references.clone(),
        ..Options::default()
    };
    let prepared = prepare(&options, false).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let replay = !case.rowtime_from.is_empty();
    let flink = FlinkOptions {
        rowtime_from: replay.then(|| case.rowtime_from.to_string()),
        with_rowtime: replay,
        outputs: case
            .outputs
            .iter()
            .map(|s| {
                format!(
                    "{s}={}",
                    dir.join(format!("{}-{s}.flink.csv", case.name)).display()
                )
            })
            .collect(),
        input: Some(case.input.display().to_string()),
        references: case.references.clone(),
        rowtime_key: None,
        arrival_key: None,
    };
    let job = to_flink(&prepared, &flink).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let script = dir.join(format!("{}.sql", case.name));
    std::fs::write(&script, &job.sql).unwrap();
    (script, job.sinks)
}

fn run_rowtime(case: &Case, dir: &Path) {
    let mut cmd = rowtime();
    cmd.arg("run");
    if let Some(sql) = case.sql {
        cmd.arg(sql);
    }
    if let Some(app) = case.app {
        cmd.arg("--app").arg(app);
    }
    if let Some(s) = case.input_schema {
        cmd.arg("--input-schema").arg(s);
    }
    cmd.arg("--input").arg(&case.input);
    for r in &case.references {
        cmd.arg("--reference").arg(r);
    }
    if !case.rowtime_from.is_empty() {
        cmd.args(["--rowtime-from", case.rowtime_from, "--with-rowtime"]);
    }
    for s in &case.outputs {
        cmd.arg("--output").arg(format!(
            "{s}={}",
            dir.join(format!("{}-{s}.rowtime.csv", case.name)).display()
        ));
    }
    let out = cmd.output().expect("rowtime runs");
    assert!(
        out.status.success(),
        "{}: rowtime run: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

const TOLL_JSON: &str = "bench/apps/toll_json.json";
const TOLL_CSV: &str = "bench/apps/toll_csv.json";
const BIDS_JSON: &str = "bench/apps/bids_json.json";
const BIDS_CSV: &str = "bench/apps/bids_csv.json";
const THRESHOLDS: &str = "BOOTH_THRESHOLDS=reference-data/toll-reference/booth_thresholds.csv";
const BOOTHS: &str = "BOOTHS=reference-data/toll-reference/booths.csv";

fn cases(dir: &Path) -> Vec<Case> {
    let toll = PathBuf::from("sql/data/toll_transactions.jsonl");
    let gen_toll = generate(dir, "toll", 20_000, 7, false);
    let gen_toll_csv = generate(dir, "toll", 5_000, 3, true);
    let gen_bids = generate(dir, "bids", 10_000, 5, false);
    let gen_bids_csv = generate(dir, "bids", 3_000, 9, true);
    let mut out = Vec::new();

    // The toll applications, from their definitions.
    let mut c = Case::new("toll_billing", toll.clone());
    c.app = Some("sql/toll_billing.json");
    out.push(c);
    let mut c = Case::new("toll_booth_alerts", toll.clone());
    c.app = Some("sql/toll_booth_alerts.json");
    c.references = vec![THRESHOLDS.into()];
    c.outputs = vec!["DESTINATION_SQL_STREAM"];
    out.push(c);
    // Their .sql forms over a generated stream, the intermediate stream delivered too.
    let mut c = Case::new("toll_billing_generated", gen_toll.clone());
    c.sql = Some("sql/toll_billing.sql");
    c.input_schema = Some(TOLL_JSON);
    out.push(c);
    let mut c = Case::new("toll_booth_alerts_generated", gen_toll.clone());
    c.sql = Some("sql/toll_booth_alerts.sql");
    c.input_schema = Some(TOLL_JSON);
    c.references = vec![THRESHOLDS.into()];
    c.outputs = vec!["BOOTH_COUNTS", "DESTINATION_SQL_STREAM"];
    out.push(c);
    let mut c = Case::new("toll_billing_csv", gen_toll_csv.clone());
    c.sql = Some("sql/toll_billing.sql");
    c.input_schema = Some(TOLL_CSV);
    out.push(c);

    // The benchmark queries.
    for (name, input, schema) in [
        ("passthrough", &gen_toll, TOLL_JSON),
        ("latency_pass", &gen_bids, BIDS_JSON),
        ("latency_tumbling", &gen_bids, BIDS_JSON),
        ("open_groups", &gen_toll_csv, TOLL_CSV),
        ("enrich", &gen_toll, TOLL_JSON),
        ("bids_q1", &gen_bids, BIDS_JSON),
        ("bids_sliding", &gen_bids, BIDS_JSON),
        ("bids_sliding_csv", &gen_bids_csv, BIDS_CSV),
    ] {
        let file = name.trim_end_matches("_csv");
        let mut c = Case::new(&format!("bench_{name}"), input.clone());
        c.sql = Some(Box::leak(format!("bench/apps/{file}.sql").into_boxed_str()));
        c.input_schema = Some(schema);
        if name.starts_with("bids") || name.starts_with("latency") {
            c.rowtime_from = "DATE_TIME";
        }
        if name == "enrich" {
            c.references = vec![BOOTHS.into()];
        }
        out.push(c);
    }

    // LEFT JOIN with a reference table (Flink's event-time temporal join), over a booths file
    // without three of the eight booths the generator uses: their trips get a NULL road.
    let some_booths = dir.join("some_booths.csv");
    let booths = std::fs::read_to_string("reference-data/toll-reference/booths.csv").unwrap();
    let kept: Vec<&str> = booths
        .lines()
        .filter(|l| !["B03,", "B06,", "B08,"].iter().any(|b| l.starts_with(b)))
        .collect();
    assert_eq!(kept.len(), 6, "a header and five booths: {kept:?}");
    std::fs::write(&some_booths, kept.join("\n") + "\n").unwrap();
    let some_booths = format!("BOOTHS={}", some_booths.display());
    let app = |name: &str, code: &str| -> &'static str {
        let path = dir.join(format!("{name}.app.sql"));
        std::fs::write(&path, code).unwrap();
        Box::leak(path.display().to_string().into_boxed_str())
    };
    let left_join = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16), AMOUNT DECIMAL(8,2), ROAD VARCHAR(32), DIRECTION VARCHAR(16));
CREATE OR REPLACE PUMP \"ENRICH_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM s.BOOTH_ID, s.ACCOUNT_ID, s.AMOUNT, b.ROAD, b.DIRECTION
    FROM \"SOURCE_SQL_STREAM_001\" AS s
    LEFT JOIN \"BOOTHS\" AS b ON s.BOOTH_ID = b.BOOTH_ID AND s.VEHICLE_CLASS <> 'bus';";
    let mut c = Case::new("left_join_reference", gen_toll.clone());
    c.sql = Some(app("left_join_reference", left_join));
    c.input_schema = Some(TOLL_JSON);
    c.references = vec![some_booths.clone()];
    out.push(c);
    // The same without replay: ROWTIME is the arrival time (not compared).
    let mut c = Case::new("left_join_reference_ingest", gen_toll_csv.clone());
    c.sql = Some(app("left_join_reference_ingest", left_join));
    c.input_schema = Some(TOLL_CSV);
    c.references = vec![some_booths.clone()];
    c.rowtime_from = "";
    out.push(c);
    // The joined rows keep their time attribute: a tumbling window can count them per road.
    let mut c = Case::new("left_join_then_window", gen_toll.clone());
    c.sql = Some(app(
        "left_join_then_window",
        "CREATE OR REPLACE STREAM TRIPS (ROAD VARCHAR(32), AMOUNT DECIMAL(8,2));
CREATE OR REPLACE PUMP JOIN_PUMP AS INSERT INTO TRIPS
    SELECT STREAM b.ROAD, s.AMOUNT FROM \"SOURCE_SQL_STREAM_001\" AS s LEFT JOIN BOOTHS AS b ON s.BOOTH_ID = b.BOOTH_ID;
CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (ROAD VARCHAR(32), TRIPS BIGINT, TOTAL DECIMAL(12,2));
CREATE OR REPLACE PUMP WINDOW_PUMP AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM ROAD, COUNT(*), SUM(AMOUNT) FROM TRIPS
    GROUP BY ROAD, STEP(TRIPS.ROWTIME BY INTERVAL '10' MINUTE);",
    ));
    c.input_schema = Some(TOLL_JSON);
    c.references = vec![some_booths];
    out.push(c);
    // Timestamp text as KDA reads it: a space or a T, seconds or not, an optional Z; a day the
    // month lacks drops its record (rowtime: to error_stream).
    let forms = dir.join("timestamp_forms.jsonl");
    let trip = |t: &str| {
        format!(
            "{{\"booth_id\":\"B01\",\"account_id\":\"A1\",\"vehicle_class\":\"car\",\"amount\":2.5,\"event_time\":\"{t}\"}}\n"
        )
    };
    let text: String = [
        "2026-03-02 08:00:01.250",
        "2026-03-02T08:00:02.5",
        "2026-03-02t08:00:03Z",
        "2026-02-30 08:00:04",
        "2026-03-02 08:01",
        "2026-03-02T08:01:02Z",
        "2026-03-02 08:01:05.123456",
        "2026-03-03",
    ]
    .iter()
    .map(|t| trip(t))
    .collect();
    std::fs::write(&forms, text).unwrap();
    let mut c = Case::new("timestamp_forms", forms);
    c.sql = Some(app(
        "timestamp_forms",
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (EVENT_TIME TIMESTAMP, D DATE);
CREATE OR REPLACE PUMP P AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM EVENT_TIME, CAST(EVENT_TIME AS DATE) FROM \"SOURCE_SQL_STREAM_001\";",
    ));
    c.input_schema = Some(TOLL_JSON);
    out.push(c);
    // Two pumps into one delivered stream (an INSERT each) and a pump reading that stream (its
    // UNION ALL view), delivered too.
    let mut c = Case::new("two_pumps_one_stream", gen_toll_csv.clone());
    c.sql = Some(app(
        "two_pumps_one_stream",
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (KIND VARCHAR(8), BOOTH_ID VARCHAR(8), AMOUNT DECIMAL(8,2));
CREATE OR REPLACE PUMP CAR_PUMP AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM 'car', BOOTH_ID, AMOUNT FROM \"SOURCE_SQL_STREAM_001\" WHERE VEHICLE_CLASS = 'car';
CREATE OR REPLACE PUMP HEAVY_PUMP AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM 'heavy', BOOTH_ID, AMOUNT * 2 FROM \"SOURCE_SQL_STREAM_001\" WHERE VEHICLE_CLASS IN ('truck', 'bus');
CREATE OR REPLACE STREAM TOTALS (KIND VARCHAR(8), TRIPS BIGINT, TOTAL DECIMAL(12,2));
CREATE OR REPLACE PUMP TOTAL_PUMP AS INSERT INTO TOTALS
    SELECT STREAM KIND, COUNT(*), SUM(AMOUNT) FROM \"DESTINATION_SQL_STREAM\"
    GROUP BY KIND, STEP(\"DESTINATION_SQL_STREAM\".ROWTIME BY INTERVAL '30' MINUTE);",
    ));
    c.input_schema = Some(TOLL_CSV);
    c.outputs = vec!["DESTINATION_SQL_STREAM", "TOTALS"];
    out.push(c);
    // Windowed stream-to-stream joins (Flink's interval join): each truck with the cars at its
    // booth in the minute before it, inner and outer.
    for (name, kind) in [
        ("interval_join", "JOIN"),
        ("interval_left_join", "LEFT JOIN"),
    ] {
        let mut c = Case::new(name, gen_toll_csv.clone());
        c.sql = Some(app(
            name,
            &format!(
                "CREATE OR REPLACE STREAM CARS (BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16));
CREATE OR REPLACE PUMP CAR_PUMP AS INSERT INTO CARS
    SELECT STREAM BOOTH_ID, ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\" WHERE VEHICLE_CLASS = 'car';
CREATE OR REPLACE STREAM TRUCKS (BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16));
CREATE OR REPLACE PUMP TRUCK_PUMP AS INSERT INTO TRUCKS
    SELECT STREAM BOOTH_ID, ACCOUNT_ID FROM \"SOURCE_SQL_STREAM_001\" WHERE VEHICLE_CLASS = 'truck';
CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (BOOTH_ID VARCHAR(8), TRUCK VARCHAR(16), CAR VARCHAR(16));
CREATE OR REPLACE PUMP JOIN_PUMP AS INSERT INTO \"DESTINATION_SQL_STREAM\"
    SELECT STREAM t.BOOTH_ID, t.ACCOUNT_ID, c.ACCOUNT_ID
    FROM TRUCKS AS t {kind} CARS OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS c
    ON t.BOOTH_ID = c.BOOTH_ID;"
            ),
        ));
        c.input_schema = Some(TOLL_CSV);
        out.push(c);
    }
    out
}

/// A job for Flink and the rows rowtime gave for each of its sinks (canonical, sorted).
struct Job {
    name: String,
    script: PathBuf,
    sinks: Vec<FlinkSink>,
    expected: Vec<Vec<String>>,
    /// The translation warned that values can differ (rows with equal ROWTIMEs in a RANGE
    /// window, Flink's peers; a fractional value cast to an integer, which Flink truncates):
    /// then the row counts must agree and the differing values are shown, not failed.
    ties_warned: bool,
    /// Only the CREATE TABLE statements run (the Kinesis form, whose connector jar PyFlink lacks).
    ddl_only: bool,
}

fn flink_dir(dir: &Path, name: &str, stream: &str) -> PathBuf {
    dir.join(format!("{name}-{stream}.flink.csv"))
}

fn bench_jobs(dir: &Path) -> Vec<Job> {
    let mut jobs = Vec::new();
    for case in cases(dir) {
        let (script, sinks) = translate(&case, dir);
        run_rowtime(&case, dir);
        let expected = sinks
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(
                    dir.join(format!("{}-{}.rowtime.csv", case.name, s.stream)),
                )
                .unwrap();
                canonical_rows(&text, &s.columns)
            })
            .collect();
        jobs.push(Job {
            name: case.name.clone(),
            script,
            sinks,
            expected,
            ties_warned: false,
            ddl_only: false,
        });
    }
    jobs
}

/// The conformance files: each one that passes, pushes rows (not JSON records) into one input
/// named `…_001` and reads streams the application creates, replayed on Flink with the same
/// rows and ROWTIMEs; rowtime's rows are the ones the file read (and the rest after its end).
/// Returns the jobs and, for the files left out, why.
fn conformance_jobs(dir: &Path) -> (Vec<Job>, Vec<String>) {
    use rowtime::app::Application;
    use rowtime::app::assemble::{Prepared, Reference};
    use rowtime::catalog::{Catalog, StreamDef, StreamKind, TableDef};
    use rowtime::connectors::location::Location;
    use rowtime::connectors::schema::{ColumnSpec, RecordFormat, RecordSchema};
    use rowtime::dialect::parse_application;
    use rowtime::plan::plan;
    use rowtime::testing::slt::record_file;
    use rowtime::translate::check::canonical_value;

    let mut jobs = Vec::new();
    let mut left_out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/conformance")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let name = format!("conformance_{}", stem.replace('-', "_"));
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("statement error") {
            left_out.push(format!("{stem}: tests a rejected application"));
            continue;
        }
        let rec = match record_file(&file) {
            Ok(r) => r,
            Err(e) => {
                left_out.push(format!(
                    "{stem}: {}",
                    e.to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        if rec.records {
            left_out.push(format!(
                "{stem}: pushes JSON records through KDA's decoding (INSERT RECORDS)"
            ));
            continue;
        }
        if rec.inputs.len() != 1 || rec.rows.is_empty() {
            left_out.push(format!(
                "{stem}: {} inputs, {} rows: rowtime translates one input",
                rec.inputs.len(),
                rec.rows.len()
            ));
            continue;
        }
        let (input_name, input_columns) = &rec.inputs[0];
        // The input: JSON lines, every cell as text, ROWTIME and the arrival time under keys of
        // their own (a row given no arrival time arrives at its ROWTIME, as in rowtime).
        let input = dir.join(format!("{name}.jsonl"));
        let mut lines = String::new();
        for (_, cols, rowtime, cells) in &rec.rows {
            let mut o = serde_json::Map::new();
            let t = chrono::DateTime::from_timestamp_millis(*rowtime)
                .unwrap()
                .naive_utc();
            let t = t.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            o.insert("__ROWTIME".into(), t.clone().into());
            o.insert("__ARRIVAL".into(), t.into());
            for (c, v) in cols.iter().zip(cells) {
                let key = if c.eq_ignore_ascii_case("APPROXIMATE_ARRIVAL_TIME") {
                    "__ARRIVAL".to_string()
                } else {
                    c.clone()
                };
                o.insert(key, v.clone().map_or(serde_json::Value::Null, Into::into));
            }
            lines.push_str(&serde_json::Value::Object(o).to_string());
            lines.push('\n');
        }
        std::fs::write(&input, lines).unwrap();
        let json_schema = |columns: &[(String, rowtime::types::SqlType)]| RecordSchema {
            columns: columns
                .iter()
                .map(|(n, t)| ColumnSpec {
                    name: n.clone(),
                    sql_type: *t,
                    mapping: Some(format!("$.{n}")),
                })
                .collect(),
            format: RecordFormat::Json,
            row_path: None,
        };
        let schema = json_schema(input_columns);
        let mut references = Vec::new();
        let mut overrides = Vec::new();
        for (table, columns, rows) in &rec.tables {
            let path = dir.join(format!("{name}-{table}.jsonl"));
            let mut text = String::new();
            for r in rows {
                let mut o = serde_json::Map::new();
                for ((c, _), v) in columns.iter().zip(r) {
                    o.insert(
                        c.clone(),
                        v.clone().map_or(serde_json::Value::Null, Into::into),
                    );
                }
                text.push_str(&serde_json::Value::Object(o).to_string());
                text.push('\n');
            }
            std::fs::write(&path, text).unwrap();
            overrides.push(format!("{table}={}", path.display()));
            references.push(Reference {
                table: table.clone(),
                schema: json_schema(columns),
                location: Location::File(path),
            });
        }
        let code = dir.join(format!("{name}.sql"));
        std::fs::write(&code, &rec.code).unwrap();
        let app = Application::from_sql_file(&code).unwrap();
        // The catalog as the test file declares it (its input need not be named …_001).
        let catalog = Catalog::new(
            vec![StreamDef {
                name: input_name.clone(),
                columns: input_columns.clone(),
                kind: StreamKind::Source,
            }],
            references
                .iter()
                .map(|r| TableDef::new(&r.table, r.schema.arrow_schema()))
                .collect(),
        );
        let planned = parse_application(&app.code).and_then(|st| plan(&app.code, &st, catalog));
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                left_out.push(format!(
                    "{stem}: does not plan on its own: {}",
                    e.to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        let streams: Vec<String> = rec
            .emitted
            .iter()
            .map(|(s, _)| s.clone())
            .filter(|s| s != "error_stream" && s != input_name)
            .collect();
        if streams.is_empty() {
            left_out.push(format!("{stem}: reads no stream the application creates"));
            continue;
        }
        let prepared = Prepared {
            app,
            schema,
            references,
            plan,
            input: None,
            discovered: false,
            header_line: false,
            input_location: input.display().to_string(),
        };
        let options = FlinkOptions {
            rowtime_key: Some("__ROWTIME".into()),
            arrival_key: Some("__ARRIVAL".into()),
            with_rowtime: true,
            outputs: streams
                .iter()
                .map(|s| format!("{s}={}", flink_dir(dir, &name, s).display()))
                .collect(),
            input: Some(input.display().to_string()),
            references: overrides,
            rowtime_from: None,
        };
        let job = match to_flink(&prepared, &options) {
            Ok(j) => j,
            Err(e) => {
                left_out.push(format!(
                    "{stem}: not translatable: {}",
                    e.to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        let script = dir.join(format!("{name}.sql.flink"));
        std::fs::write(&script, &job.sql).unwrap();
        let expected = job
            .sinks
            .iter()
            .map(|s| {
                let rows = &rec.emitted.iter().find(|(n, _)| *n == s.stream).unwrap().1;
                let mut out: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .zip(&s.columns)
                            .map(|(cell, (_, t))| {
                                canonical_value(if cell == "NULL" { "" } else { cell }, *t)
                            })
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect();
                out.sort();
                out
            })
            .collect();
        let ties_warned = job
            .warnings
            .iter()
            .any(|w| w.contains("rows with equal ROWTIMEs") || w.contains("Flink truncates it"));
        jobs.push(Job {
            name,
            script,
            sinks: job.sinks,
            expected,
            ties_warned,
            ddl_only: false,
        });
    }
    (jobs, left_out)
}

/// The definitions' own Kinesis and Firehose form (no --input, no --output): PyFlink has no
/// Kinesis connector jar, so only the CREATE TABLE statements run: Flink's parser accepts them
/// and registers the tables (their options are checked only by the connector, which is absent).
fn kinesis_jobs(dir: &Path) -> Vec<Job> {
    let mut jobs = Vec::new();
    for app in ["sql/toll_billing.json", "sql/toll_booth_alerts.json"] {
        let prepared = prepare(
            &Options {
                definition: Some(PathBuf::from(app)),
                ..Options::default()
            },
            false,
        )
        .unwrap();
        let job = to_flink(
            &prepared,
            &FlinkOptions {
                rowtime_from: Some("EVENT_TIME".into()),
                ..FlinkOptions::default()
            },
        )
        .unwrap();
        assert!(job.sql.contains("'connector' = 'kinesis'"), "{}", job.sql);
        let name = format!(
            "kinesis_ddl_{}",
            Path::new(app).file_stem().unwrap().to_string_lossy()
        );
        let script = dir.join(format!("{name}.sql"));
        std::fs::write(&script, &job.sql).unwrap();
        jobs.push(Job {
            name,
            script,
            sinks: Vec::new(),
            expected: Vec::new(),
            ties_warned: false,
            ddl_only: true,
        });
    }
    jobs
}

#[test]
fn flink_gives_rowtimes_rows() {
    let dir = std::env::temp_dir().join(format!("rowtime-flink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut jobs = bench_jobs(&dir);
    let (conformance, left_out) = conformance_jobs(&dir);
    eprintln!(
        "conformance: {} files translated and run on Flink, {} left out:\n  {}",
        conformance.len(),
        left_out.len(),
        left_out.join("\n  ")
    );
    jobs.extend(conformance);
    jobs.extend(kinesis_jobs(&dir));
    let runs: Vec<FlinkRun> = jobs
        .iter()
        .map(|j| FlinkRun {
            ddl_only: j.ddl_only,
            name: j.name.clone(),
            script: j.script.clone(),
            sinks: j
                .sinks
                .iter()
                .map(|k| {
                    let d = flink_dir(&dir, &j.name, &k.stream);
                    let merged = d.with_extension("merged");
                    (d, merged)
                })
                .collect(),
        })
        .collect();
    let results = run_flink(&runs, &dir.join("flink")).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for (job, (name, result)) in jobs.iter().zip(&results) {
        assert_eq!(&job.name, name);
        if let Err(e) = result {
            failures.push(format!("{name}: Flink failed: {e}"));
            continue;
        }
        if job.ddl_only {
            eprintln!("{name}: Flink accepts its CREATE TABLE statements");
        }
        for (s, expected) in job.sinks.iter().zip(&job.expected) {
            let f =
                std::fs::read_to_string(flink_dir(&dir, name, &s.stream).with_extension("merged"))
                    .unwrap();
            let f = canonical_rows(&f, &s.columns);
            if expected.is_empty() && !name.starts_with("conformance") {
                failures.push(format!(
                    "{name}/{}: no rows at all: the case proves nothing",
                    s.stream
                ));
            }
            match compare(&format!("{name}/{}", s.stream), expected, &f) {
                Ok(()) => eprintln!("{name}/{}: {} rows equal", s.stream, f.len()),
                Err(e) if job.ties_warned && expected.len() == f.len() => {
                    eprintln!(
                        "{name}/{}: differs where the translation warned (see its warnings):\n{e}",
                        s.stream
                    )
                }
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "\n{}\n(files in {})",
        failures.join("\n\n"),
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn translate_check_proves_a_translation_and_catches_a_difference() {
    let dir = std::env::temp_dir().join(format!("rowtime-flink-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let check = |input: &Path| {
        rowtime()
            .args(["translate", "--to", "flink", "sql/toll_billing.sql"])
            .args(["--input-schema", "sql/toll_input_schema.json", "--input"])
            .arg(input)
            .args([
                "--rowtime-from",
                "EVENT_TIME",
                "--with-rowtime",
                "--check",
                "-o",
            ])
            .arg(dir.join("job.sql"))
            .output()
            .expect("rowtime runs")
    };
    // In EVENT_TIME order both engines bill the same.
    let ordered = generate(&dir, "toll", 2_000, 11, false);
    let o = check(&ordered);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("rowtime: check: DESTINATION_SQL_STREAM: ")
            && err.contains(" rows, the same from rowtime and Flink"),
        "{err}"
    );

    // Out of order: rowtime (as KDA) moves the 08:05 trip up to ROWTIME 08:11, into the window
    // 08:10-08:20; Flink's watermark has passed 08:10 by then and drops the trip as late. The
    // translation warned about this; --check shows it.
    let late = dir.join("late.jsonl");
    std::fs::write(
        &late,
        "{\"booth_id\":\"B01\",\"account_id\":\"A1\",\"vehicle_class\":\"car\",\"amount\":2.00,\"event_time\":\"2026-03-02 08:00:01.000\"}\n\
         {\"booth_id\":\"B01\",\"account_id\":\"A1\",\"vehicle_class\":\"car\",\"amount\":3.00,\"event_time\":\"2026-03-02 08:11:00.000\"}\n\
         {\"booth_id\":\"B01\",\"account_id\":\"A1\",\"vehicle_class\":\"car\",\"amount\":5.00,\"event_time\":\"2026-03-02 08:05:00.000\"}\n\
         {\"booth_id\":\"B01\",\"account_id\":\"A1\",\"vehicle_class\":\"car\",\"amount\":7.00,\"event_time\":\"2026-03-02 08:21:00.000\"}\n",
    )
    .unwrap();
    let o = check(&late);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("KDA clamps a row whose EVENT_TIME is older"),
        "{err}"
    );
    assert!(err.contains("the engines differ"), "{err}");
    // rowtime: 08:10-08:20 holds two trips, 3.00 + 5.00; Flink: one, 3.00.
    assert!(
        err.contains(
            "only rowtime (1):\n  2026-03-02 08:20:00.000 | A1 | 2026-03-02 08:10:00.000 | 2 | 8.00"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "only Flink (1):\n  2026-03-02 08:20:00.000 | A1 | 2026-03-02 08:10:00.000 | 1 | 3.00"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
