//! Differential tests with Apache Flink: each application is translated to Flink SQL
//! (`rowtime::translate`), run by Flink (PyFlink in a virtual environment under ~/.cache, which
//! the test installs when it is missing; all jobs in one JVM) and by rowtime (`rowtime run`)
//! over the same input file, and the rows of every output must be equal after one normalisation
//! (row order; TIMESTAMP with 3 fraction digits, DECIMAL with its scale, DOUBLE to 12
//! significant digits: `rowtime::translate::check::canonical_value`). If Flink cannot start the
//! test fails with the reason.
//!
//! Cases: the two toll applications, the benchmark queries (bench/apps) over generated toll and
//! bid streams in JSON and CSV, and generated workloads of other sizes and seeds.

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
        .args(["generate", what, "--count", &count.to_string(), "--seed", &seed.to_string()])
        .args(["--format", if csv { "csv" } else { "json" }])
        .output()
        .expect("rowtime generate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    let flink = FlinkOptions {
        rowtime_from: Some(case.rowtime_from.to_string()),
        with_rowtime: true,
        outputs: case
            .outputs
            .iter()
            .map(|s| format!("{s}={}", dir.join(format!("{}-{s}.flink.csv", case.name)).display()))
            .collect(),
        input: Some(case.input.display().to_string()),
        references: case.references.clone(),
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
    cmd.args(["--rowtime-from", case.rowtime_from, "--with-rowtime"]);
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
    out
}

#[test]
fn flink_gives_rowtimes_rows() {
    let dir = std::env::temp_dir().join(format!("rowtime-flink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cases = cases(&dir);
    let mut runs = Vec::new();
    let mut sinks = Vec::new();
    for case in &cases {
        let (script, s) = translate(case, &dir);
        run_rowtime(case, &dir);
        runs.push(FlinkRun {
            name: case.name.clone(),
            script,
            sinks: s
                .iter()
                .map(|k| {
                    let d = dir.join(format!("{}-{}.flink.csv", case.name, k.stream));
                    let merged = d.with_extension("merged");
                    (d, merged)
                })
                .collect(),
        });
        sinks.push(s);
    }
    let results = run_flink(&runs, &dir.join("flink")).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for ((case, sinks), (name, result)) in cases.iter().zip(&sinks).zip(&results) {
        assert_eq!(&case.name, name);
        if let Err(e) = result {
            failures.push(format!("{name}: Flink failed: {e}"));
            continue;
        }
        for s in sinks {
            let r = std::fs::read_to_string(dir.join(format!("{name}-{}.rowtime.csv", s.stream)))
                .unwrap();
            let f = std::fs::read_to_string(
                dir.join(format!("{name}-{}.flink.csv", s.stream))
                    .with_extension("merged"),
            )
            .unwrap();
            let r = canonical_rows(&r, &s.columns);
            let f = canonical_rows(&f, &s.columns);
            if r.is_empty() {
                failures.push(format!("{name}/{}: no rows at all: the case proves nothing", s.stream));
            }
            if let Err(e) = compare(&format!("{name}/{}", s.stream), &r, &f) {
                failures.push(e);
            } else {
                eprintln!("{name}/{}: {} rows equal", s.stream, r.len());
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n(files in {})", failures.join("\n\n"), dir.display());
    let _ = std::fs::remove_dir_all(&dir);
}
