//! The differential check: run translated jobs on Apache Flink (PyFlink in a virtual
//! environment under `~/.cache`, many jobs in one JVM) and compare their rows with rowtime's
//! after one normalisation (row order, number and timestamp spelling).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::types::SqlType;

/// The pinned PyFlink release.
pub const PYFLINK_VERSION: &str = "2.3.0";

/// The Python program that runs the jobs.
pub const DRIVER: &str = include_str!("flink_driver.py");

/// The virtual environment: `$ROWTIME_FLINK_VENV`, else `~/.cache/rowtime-bench/venv` (the one
/// the benchmarks use, so PyFlink is installed once per machine).
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROWTIME_FLINK_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/rowtime-bench/venv")
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().map_err(|e| {
        Error::Application(format!("{what}: cannot start {:?}: {e}", cmd.get_program()))
    })?;
    if !out.status.success() {
        return Err(Error::Application(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The venv's python with PyFlink importable, installing it (about 840 MB, once) when missing.
/// Needs python3 (3.9 to 3.12) and Java 17 (`java` on PATH or JAVA_HOME).
pub fn python() -> Result<PathBuf> {
    // One install at a time within a process (tests run in parallel threads).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv_dir();
    let py = venv.join("bin/python");
    let probe = |py: &Path| {
        Command::new(py)
            .args([
                "-c",
                "import pyflink.table; from importlib.metadata import version; print(version('apache-flink'))",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if probe(&py).as_deref() == Some(PYFLINK_VERSION) {
        return Ok(py);
    }
    if Command::new("java").arg("-version").output().is_err()
        && std::env::var_os("JAVA_HOME").is_none()
    {
        return Err(Error::Application(
            "Apache Flink needs Java 17: install it (`java` on PATH) or set JAVA_HOME".into(),
        ));
    }
    eprintln!(
        "rowtime: installing apache-flink=={PYFLINK_VERSION} into {} (once; about 840 MB)",
        venv.display()
    );
    if !py.exists() {
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "creating the PyFlink virtual environment (python3 -m venv)",
        )?;
    }
    run(
        Command::new(&py).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("apache-flink=={PYFLINK_VERSION}"),
        ]),
        "installing PyFlink (pip install apache-flink)",
    )?;
    match probe(&py) {
        Some(v) if v == PYFLINK_VERSION => Ok(py),
        other => Err(Error::Application(format!(
            "PyFlink in {} does not import after installing it (version {other:?})",
            venv.display()
        ))),
    }
}

/// One job for the driver: its script and the sink folders to merge.
#[derive(Debug, Clone)]
pub struct FlinkRun {
    pub name: String,
    pub script: PathBuf,
    /// (the folder Flink writes, the file the part files are merged into)
    pub sinks: Vec<(PathBuf, PathBuf)>,
    /// Only the CREATE TABLE statements: Flink parses them and registers the tables, and nothing
    /// else runs (for connectors whose jars PyFlink lacks, such as Kinesis: a view over such a
    /// table already needs the connector).
    pub ddl_only: bool,
}

/// Runs the jobs in one Flink JVM; for each, `Ok` or Flink's error.
pub fn run_flink(runs: &[FlinkRun], work: &Path) -> Result<Vec<(String, Result<(), String>)>> {
    let py = python()?;
    std::fs::create_dir_all(work).map_err(|e| Error::io(work.display(), e))?;
    let driver = work.join("flink_driver.py");
    std::fs::write(&driver, DRIVER).map_err(|e| Error::io(driver.display(), e))?;
    let jobs: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "script": r.script,
                "sinks": r.sinks.iter().map(|(d, m)| serde_json::json!({"dir": d, "merged": m})).collect::<Vec<_>>(),
                "ddl_only": r.ddl_only,
            })
        })
        .collect();
    let jobs_file = work.join("jobs.json");
    std::fs::write(
        &jobs_file,
        serde_json::to_string_pretty(&jobs).expect("json"),
    )
    .map_err(|e| Error::io(jobs_file.display(), e))?;
    let stdout = run(
        Command::new(&py).arg(&driver).arg(&jobs_file),
        "running Apache Flink",
    )?;
    let mut results = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Application(format!("the Flink driver printed {line:?}: {e}")))?;
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let r = if v["ok"].as_bool() == Some(true) {
            Ok(())
        } else {
            Err(v["error"].as_str().unwrap_or("unknown error").to_string())
        };
        results.push((name, r));
    }
    if results.len() != runs.len() {
        return Err(Error::Application(format!(
            "the Flink driver reported {} of {} jobs:\n{stdout}",
            results.len(),
            runs.len()
        )));
    }
    Ok(results)
}

/// Splits one CSV line into fields (`"` quotes, `""` inside them).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// A value in the one spelling both engines are compared in: TIMESTAMP with 3 fraction digits,
/// DECIMAL with its scale, floating point to 12 significant digits, NULL as `NULL`.
pub fn canonical_value(text: &str, t: SqlType) -> String {
    if text.is_empty() {
        return if matches!(t, SqlType::Varchar(_) | SqlType::Char(_)) {
            "NULL-or-empty".into()
        } else {
            "NULL".into()
        };
    }
    match t {
        SqlType::Timestamp => {
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            let whole = if whole.len() == 16 {
                format!("{whole}:00")
            } else {
                whole.to_string()
            };
            let mut frac: String = frac.chars().take(3).collect();
            while frac.len() < 3 {
                frac.push('0');
            }
            format!("{whole}.{frac}")
        }
        SqlType::Decimal { scale, .. } => decimal(text, scale.max(0) as usize),
        SqlType::Double | SqlType::Real => match text.parse::<f64>() {
            Ok(0.0) => "0".into(),
            Ok(v) => format!("{v:.11e}"),
            Err(_) => text.to_string(),
        },
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Integer | SqlType::BigInt => text
            .parse::<i64>()
            .map_or(text.to_string(), |v| v.to_string()),
        SqlType::Boolean => text.to_ascii_lowercase(),
        _ => text.to_string(),
    }
}

/// A decimal written plainly (`6.2`, `-0.5`) or as Java's BigDecimal writes it (`2E+1`), with
/// `scale` fraction digits (rounding is not needed: both engines keep the type's scale).
fn decimal(text: &str, scale: usize) -> String {
    let (neg, body) = text.strip_prefix('-').map_or((false, text), |d| (true, d));
    let (mantissa, exp) = match body.split_once(['E', 'e']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // digits with the decimal point after `point` of them
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let (int, frac) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let mut frac: String = frac.chars().take(scale).collect();
    while frac.len() < scale {
        frac.push('0');
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.chars().all(|c| c == '0');
    let sign = if neg && !zero { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The rows of a CSV output (no header) in canonical form, sorted.
pub fn canonical_rows(text: &str, columns: &[(String, SqlType)]) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let fields = csv_fields(l);
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    columns
                        .get(i)
                        .map_or_else(|| format!("?{f}"), |(_, t)| canonical_value(f, *t))
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    rows
}

/// Compares two engines' rows; the error lists the rows only one of them has (at most 10 each).
pub fn compare(what: &str, rowtime: &[String], flink: &[String]) -> Result<(), String> {
    if rowtime == flink {
        return Ok(());
    }
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        let mut b: Vec<&String> = b.iter().collect();
        let mut out = Vec::new();
        for r in a {
            match b.iter().position(|x| *x == r) {
                Some(i) => {
                    b.remove(i);
                }
                None => out.push(r.clone()),
            }
        }
        out
    };
    let r_only = only(rowtime, flink);
    let f_only = only(flink, rowtime);
    Err(format!(
        "{what}: rowtime gave {} rows, Flink {}; only rowtime ({}):\n  {}\nonly Flink ({}):\n  {}",
        rowtime.len(),
        flink.len(),
        r_only.len(),
        r_only
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  "),
        f_only.len(),
        f_only
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_and_rowtime_spellings_meet() {
        // Flink's CSV writer drops trailing zeros; rowtime writes the type's scale.
        let t = SqlType::Timestamp;
        assert_eq!(
            canonical_value("2026-03-02 00:00:16.72", t),
            "2026-03-02 00:00:16.720"
        );
        assert_eq!(
            canonical_value("2026-03-02 00:10:00", t),
            "2026-03-02 00:10:00.000"
        );
        assert_eq!(
            canonical_value("2026-03-02 00:10:00.000", t),
            "2026-03-02 00:10:00.000"
        );
        let d = SqlType::Decimal {
            precision: 12,
            scale: 2,
        };
        assert_eq!(canonical_value("2", d), "2.00");
        assert_eq!(canonical_value("6.2", d), "6.20");
        assert_eq!(canonical_value("-0.00", d), "0.00");
        assert_eq!(canonical_value("2E+1", d), "20.00");
        assert_eq!(canonical_value("1.5E+2", d), "150.00");
        assert_eq!(canonical_value("-1.25", d), "-1.25");
        assert_eq!(canonical_value("5E-2", d), "0.05");
        assert_eq!(
            canonical_value("1.0E7", SqlType::Double),
            canonical_value("10000000", SqlType::Double)
        );
        assert_ne!(
            canonical_value("0.5", SqlType::Double),
            canonical_value("0.50001", SqlType::Double)
        );
        assert_eq!(
            csv_fields("a,\"b,c\",\"d\"\"e\","),
            ["a", "b,c", "d\"e", ""]
        );
    }

    #[test]
    fn a_difference_names_the_rows() {
        let a = vec!["x".to_string(), "y".to_string()];
        let b = vec!["x".to_string(), "z".to_string()];
        let err = compare("DEST", &a, &b).unwrap_err();
        assert!(err.contains("only rowtime (1):\n  y"), "{err}");
        assert!(err.contains("only Flink (1):\n  z"), "{err}");
        assert!(compare("DEST", &a, &a).is_ok());
    }
}
