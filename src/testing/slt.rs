//! Test files: SQL behaviour as data, in the sqllogictest format (records `statement ok`,
//! `statement error <regex>`, `query <types> [rowsort]` with `----` and expected rows), run with
//! the `sqllogictest` crate against a [`StreamDb`]. The statements a test file may use:
//!
//! | statement | meaning |
//! |---|---|
//! | `CREATE INPUT STREAM "S" (col type, …)` | a source stream (what KDA's input configuration creates) |
//! | `CREATE [OR REPLACE] STREAM …; CREATE [OR REPLACE] PUMP …` | application code (several statements allowed) |
//! | `LOAD APPLICATION 'path.sql'` | application code from a file (relative to the test file) |
//! | `CREATE REFERENCE TABLE "T" (col type, …)` | a reference table; fill it with `INSERT INTO "T" VALUES …` |
//! | `INSERT INTO "S" (ROWTIME, col, …) VALUES ('2018-11-01 01:00:00', 'x', 1), …` | push rows into an input stream |
//! | `INSERT RECORDS INTO "S" VALUES ('2018-11-01 01:00:00', '{"col": …}'), …` | push JSON records through KDA's input decoding |
//! | `ADVANCE "S" TO '2018-11-04 00:00:00'` | raise the ROWTIME bound of an input stream |
//! | `END INPUT` | end every input: all open windows emit |
//! | `DISCOVER 'file'` / `DISCOVER '<records>'` | the schema KDA's discovery infers from sample records (a row per column: name, type) |
//! | `SELECT * FROM "D"` / `SELECT ROWTIME, * FROM "D"` | the rows stream D emitted since the last read |
//!
//! The application is planned at the first INSERT into a stream, ADVANCE, END or SELECT.
//! A file whose first lines say `# not yet supported: FEATURE` is skipped and counted as such.
//! `tests/README.md` is the cookbook.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use sqllogictest::{DBOutput, DefaultColumnType};

use super::{TestApp, parse_columns, parse_rowtime, text_rows};
use crate::catalog::columns_schema;
use crate::dialect::KdaDialect;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// A test file's connection: one application under test.
pub struct StreamDb {
    app: TestApp,
    dir: PathBuf,
    tables: Vec<(String, Vec<(String, SqlType)>)>,
    recording: Option<Arc<Mutex<Recording>>>,
}

/// A reference table's name, columns and rows (cells as written, NULL as `None`).
pub type RecordedTable = (String, Vec<(String, SqlType)>, Vec<Vec<Option<String>>>);
/// A row pushed into an input stream: stream, columns named, ROWTIME, cells.
pub type RecordedRow = (String, Vec<String>, i64, Vec<Option<String>>);

/// What a test file gave the application and what rowtime emitted, to replay the same rows on
/// another engine (the differential test with Apache Flink).
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// `CREATE INPUT STREAM`s: name and columns.
    pub inputs: Vec<(String, Vec<(String, SqlType)>)>,
    /// The application code, statements separated by `;`.
    pub code: String,
    /// Reference tables: name, columns, rows (cells as written, NULL as `None`).
    pub tables: Vec<RecordedTable>,
    /// Rows pushed into input streams: stream, columns named, ROWTIME, cells.
    pub rows: Vec<RecordedRow>,
    /// `INSERT RECORDS` was used (records through KDA's decoding, not rows).
    pub records: bool,
    /// Every row each stream that the file reads emitted (ROWTIME first, cells as text, NULL
    /// as `NULL`), the rows after the file's last read included.
    pub emitted: Vec<(String, Vec<Vec<String>>)>,
}

impl Recording {
    fn emitted_mut(&mut self, stream: &str) -> &mut Vec<Vec<String>> {
        if let Some(i) = self.emitted.iter().position(|(s, _)| s == stream) {
            return &mut self.emitted[i].1;
        }
        self.emitted.push((stream.to_string(), Vec::new()));
        &mut self.emitted.last_mut().expect("just pushed").1
    }
}

impl Drop for StreamDb {
    /// Recording: the input ends, and the rows emitted after the last read are kept too.
    fn drop(&mut self) {
        let Some(rec) = self.recording.take() else {
            return;
        };
        let _ = self.app.end();
        let mut rec = rec.lock().expect("recording lock");
        let streams: Vec<String> = rec.emitted.iter().map(|(s, _)| s.clone()).collect();
        for s in streams {
            if let Ok(batch) = self.app.read(&s)
                && let Ok(rows) = text_rows(&batch)
            {
                rec.emitted_mut(&s).extend(rows);
            }
        }
    }
}

/// Runs a test file that must pass, recording its inputs and every row it reads.
pub fn record_file(path: &Path) -> Result<Recording> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    if let Some(reason) = skip_reason(&text) {
        return Err(Error::Usage(format!("skipped: {reason}")));
    }
    let recording = Arc::new(Mutex::new(Recording::default()));
    let name = path.display().to_string();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let shared = recording.clone();
    let mut runner = sqllogictest::Runner::new(move || {
        let mut db = StreamDb::new(&name, &dir);
        db.recording = Some(shared.clone());
        async move { Ok(db) }
    });
    let result = runner.run_file(path);
    drop(runner);
    result.map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.display(false))))?;
    let rec = recording.lock().expect("recording lock").clone();
    Ok(rec)
}

impl StreamDb {
    /// A new application; `dir` is where `LOAD APPLICATION` paths are relative to.
    pub fn new(name: &str, dir: &Path) -> StreamDb {
        StreamDb {
            app: TestApp::new(name, ""),
            dir: dir.to_path_buf(),
            tables: vec![],
            recording: None,
        }
    }
}

/// The words and literals of a statement (comments and whitespace dropped; unquoted words upper-cased).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Text(String),
    Number(String),
    Punct(char),
}

fn tokens(sql: &str) -> Result<Vec<Tok>> {
    let dialect = KdaDialect;
    let raw = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| Error::Usage(format!("test statement: {e}")))?;
    let mut out = Vec::new();
    for t in raw {
        out.push(match t {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::Word(w) if w.quote_style.is_some() => Tok::Quoted(w.value),
            Token::Word(w) => Tok::Word(w.value.to_uppercase()),
            Token::SingleQuotedString(s) => Tok::Text(s),
            Token::Number(n, _) => Tok::Number(n),
            Token::LParen => Tok::Punct('('),
            Token::RParen => Tok::Punct(')'),
            Token::Comma => Tok::Punct(','),
            Token::Minus => Tok::Punct('-'),
            Token::Mul => Tok::Punct('*'),
            Token::SemiColon => Tok::Punct(';'),
            other => Tok::Text(other.to_string()),
        });
    }
    while out.last() == Some(&Tok::Punct(';')) {
        out.pop();
    }
    Ok(out)
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x == w)
}

fn name(t: Option<&Tok>) -> Result<String> {
    match t {
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(w.clone()),
        other => Err(Error::Usage(format!("expected a name, found {other:?}"))),
    }
}

/// `( a, "b", … )` starting at `i`; returns the names and the index after `)`.
fn name_list(t: &[Tok], mut i: usize) -> Result<(Vec<String>, usize)> {
    if t.get(i) != Some(&Tok::Punct('(')) {
        return Err(Error::Usage("expected `(`".into()));
    }
    i += 1;
    let mut names = Vec::new();
    loop {
        names.push(name(t.get(i))?);
        i += 1;
        match t.get(i) {
            Some(Tok::Punct(',')) => i += 1,
            Some(Tok::Punct(')')) => return Ok((names, i + 1)),
            other => {
                return Err(Error::Usage(format!(
                    "expected `,` or `)`, found {other:?}"
                )));
            }
        }
    }
}

/// `VALUES (…), (…)` rows of literal cells starting at `i`.
fn value_rows(t: &[Tok], mut i: usize) -> Result<Vec<Vec<Option<String>>>> {
    if !is_word(t.get(i), "VALUES") {
        return Err(Error::Usage("expected VALUES".into()));
    }
    i += 1;
    let mut rows = Vec::new();
    loop {
        if t.get(i) != Some(&Tok::Punct('(')) {
            return Err(Error::Usage("expected `(` starting a row of VALUES".into()));
        }
        i += 1;
        let mut row = Vec::new();
        loop {
            let negative = t.get(i) == Some(&Tok::Punct('-'));
            if negative {
                i += 1;
            }
            // TIMESTAMP '…', DATE '…', TIME '…' literals: the text is the value.
            if matches!(t.get(i), Some(Tok::Word(w)) if w == "TIMESTAMP" || w == "DATE" || w == "TIME")
                && matches!(t.get(i + 1), Some(Tok::Text(_)))
            {
                i += 1;
            }
            let cell = match t.get(i) {
                Some(Tok::Text(s)) => Some(s.clone()),
                Some(Tok::Number(n)) => Some(if negative { format!("-{n}") } else { n.clone() }),
                Some(Tok::Word(w)) if w == "NULL" => None,
                Some(Tok::Word(w)) if w == "TRUE" || w == "FALSE" => Some(w.to_lowercase()),
                other => {
                    return Err(Error::Usage(format!(
                        "VALUES takes literals ('text', numbers, NULL, TRUE, FALSE); found {other:?}"
                    )));
                }
            };
            row.push(cell);
            i += 1;
            match t.get(i) {
                Some(Tok::Punct(',')) => i += 1,
                Some(Tok::Punct(')')) => {
                    i += 1;
                    break;
                }
                other => {
                    return Err(Error::Usage(format!(
                        "expected `,` or `)` in VALUES, found {other:?}"
                    )));
                }
            }
        }
        rows.push(row);
        match t.get(i) {
            Some(Tok::Punct(',')) => i += 1,
            None => return Ok(rows),
            other => {
                return Err(Error::Usage(format!(
                    "unexpected {other:?} after a row of VALUES"
                )));
            }
        }
    }
}

/// The text between the outermost parentheses of `sql` (a column list).
fn paren_text(sql: &str) -> Result<&str> {
    let open = sql
        .find('(')
        .ok_or_else(|| Error::Usage("expected a column list in parentheses".into()))?;
    let close = sql
        .rfind(')')
        .ok_or_else(|| Error::Usage("unclosed column list".into()))?;
    Ok(&sql[open + 1..close])
}

impl StreamDb {
    fn record_code(&self, code: &str) {
        if let Some(r) = &self.recording {
            let mut r = r.lock().expect("recording lock");
            r.code.push_str(code);
            r.code.push_str(";\n");
        }
    }

    fn run_statement(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>> {
        let t = tokens(sql)?;
        let w = |i: usize| match t.get(i) {
            Some(Tok::Word(w)) => w.as_str(),
            _ => "",
        };
        let ok = Ok(DBOutput::StatementComplete(0));
        match (w(0), w(1), w(2)) {
            ("CREATE", "INPUT", "STREAM") => {
                let stream = name(t.get(3))?;
                let columns = parse_columns(paren_text(sql)?)?;
                if let Some(r) = &self.recording {
                    r.lock()
                        .expect("recording lock")
                        .inputs
                        .push((stream.clone(), columns.clone()));
                }
                self.app.add_input(&stream, columns)?;
                ok
            }
            ("CREATE", "REFERENCE", "TABLE") => {
                let table = name(t.get(3))?;
                let columns = parse_columns(paren_text(sql)?)?;
                let schema = columns_schema(&columns);
                self.app.add_table(&table, RecordBatch::new_empty(schema))?;
                self.tables.push((table, columns));
                ok
            }
            ("LOAD", "APPLICATION", _) => {
                let Some(Tok::Text(path)) = t.get(2) else {
                    return Err(Error::Usage("write LOAD APPLICATION 'path.sql'".into()));
                };
                let path = self.dir.join(path);
                let code =
                    std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
                self.app.add_code(&code)?;
                self.record_code(&code);
                ok
            }
            ("CREATE", _, _) => {
                self.app.add_code(sql)?;
                self.record_code(sql);
                ok
            }
            ("INSERT", "INTO", _) => {
                let target = name(t.get(2))?;
                if let Some((_, columns)) = self.tables.iter().find(|(n, _)| *n == target).cloned()
                {
                    let rows = value_rows(&t, 3)?;
                    let mut arrays: Vec<ArrayRef> = Vec::new();
                    for (ci, (cname, ty)) in columns.iter().enumerate() {
                        let texts: StringArray =
                            rows.iter().map(|r| r.get(ci).cloned().flatten()).collect();
                        let a = cast(&(std::sync::Arc::new(texts) as ArrayRef), &ty.arrow_type())
                            .map_err(|e| Error::Usage(format!("column {cname} ({ty}): {e}")))?;
                        arrays.push(a);
                    }
                    let schema = columns_schema(&columns);
                    self.app
                        .add_table(&target, RecordBatch::try_new(schema, arrays)?)?;
                    if let Some(r) = &self.recording {
                        let mut r = r.lock().expect("recording lock");
                        match r.tables.iter_mut().find(|(n, _, _)| *n == target) {
                            Some(t) => t.2.extend(rows),
                            None => r.tables.push((target.clone(), columns.clone(), rows)),
                        }
                    }
                    return ok;
                }
                let (columns, next) = name_list(&t, 3)?;
                if columns.first().map(String::as_str) != Some("ROWTIME") {
                    return Err(Error::Usage("INSERT INTO a stream lists ROWTIME first: INSERT INTO \"S\" (ROWTIME, col, …) VALUES …".into()));
                }
                let rows = value_rows(&t, next)?;
                let mut pushed = Vec::with_capacity(rows.len());
                for mut r in rows {
                    if r.len() != columns.len() {
                        return Err(Error::Usage(format!(
                            "a row of VALUES has {} cells for {} columns",
                            r.len(),
                            columns.len()
                        )));
                    }
                    let rowtime = r
                        .remove(0)
                        .ok_or_else(|| Error::Usage("ROWTIME cannot be NULL".into()))?;
                    pushed.push((parse_rowtime(&rowtime)?, r));
                }
                let n = pushed.len() as u64;
                self.app.push_text(&target, &columns[1..], &pushed)?;
                if let Some(r) = &self.recording {
                    let mut r = r.lock().expect("recording lock");
                    for (rowtime, cells) in &pushed {
                        r.rows.push((
                            target.clone(),
                            columns[1..].to_vec(),
                            *rowtime,
                            cells.clone(),
                        ));
                    }
                }
                Ok(DBOutput::StatementComplete(n))
            }
            ("INSERT", "RECORDS", "INTO") => {
                let target = name(t.get(3))?;
                let rows = value_rows(&t, 4)?;
                let mut records = Vec::with_capacity(rows.len());
                for r in &rows {
                    match r.as_slice() {
                        [Some(rowtime), Some(record)] => {
                            records.push((parse_rowtime(rowtime)?, record.as_str()))
                        }
                        _ => {
                            return Err(Error::Usage(
                                "INSERT RECORDS INTO \"S\" VALUES ('ROWTIME', '{json record}'), …"
                                    .into(),
                            ));
                        }
                    }
                }
                let n = records.len() as u64;
                self.app.push_json(&target, &records)?;
                if let Some(r) = &self.recording {
                    r.lock().expect("recording lock").records = true;
                }
                Ok(DBOutput::StatementComplete(n))
            }
            ("ADVANCE", _, _) => {
                let stream = name(t.get(1))?;
                match (t.get(2), t.get(3)) {
                    (Some(Tok::Word(to)), Some(Tok::Text(ts))) if to == "TO" => {
                        self.app.advance(&stream, ts)?
                    }
                    _ => {
                        return Err(Error::Usage(
                            "write ADVANCE \"STREAM\" TO 'YYYY-MM-DD HH:MM:SS'".into(),
                        ));
                    }
                }
                ok
            }
            ("DISCOVER", _, _) => {
                let Some(Tok::Text(arg)) = t.get(1) else {
                    return Err(Error::Usage(
                        "write DISCOVER 'file' (relative to the test file) or DISCOVER '<records>'"
                            .into(),
                    ));
                };
                // A file next to the test, else the text itself is the sample records.
                let path = self.dir.join(arg);
                let data = if path.is_file() {
                    std::fs::read(&path).map_err(|e| Error::io(path.display(), e))?
                } else {
                    arg.clone().into_bytes()
                };
                let records: Vec<&[u8]> = data
                    .split(|b| *b == b'\n')
                    .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
                    .filter(|r| !r.iter().all(u8::is_ascii_whitespace))
                    .collect();
                let json = data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
                let schema = crate::connectors::discover::discover_schema(&records, json)
                    .map_err(|e| Error::Usage(format!("DISCOVER: {e}")))?;
                let rows = schema
                    .columns
                    .iter()
                    .map(|c| vec![c.name.clone(), c.sql_type.to_string()])
                    .collect();
                Ok(DBOutput::Rows {
                    types: vec![DefaultColumnType::Any; 2],
                    rows,
                })
            }
            ("END", "INPUT", _) => {
                self.app.end()?;
                ok
            }
            ("SELECT", _, _) => {
                // SELECT * FROM s | SELECT ROWTIME, * FROM s
                let with_rowtime = is_word(t.get(1), "ROWTIME");
                let from = if with_rowtime { 4 } else { 2 };
                let star = if with_rowtime { 3 } else { 1 };
                if t.get(star) != Some(&Tok::Punct('*'))
                    || !is_word(t.get(from), "FROM")
                    || t.len() != from + 2
                {
                    return Err(Error::Usage("test files read streams with SELECT * FROM \"STREAM\" or SELECT ROWTIME, * FROM \"STREAM\"".into()));
                }
                let stream = name(t.get(from + 1))?;
                let batch = self.app.read(&stream)?;
                if let Some(r) = &self.recording {
                    r.lock()
                        .expect("recording lock")
                        .emitted_mut(&stream)
                        .extend(text_rows(&batch)?);
                }
                let batch = if with_rowtime {
                    batch
                } else {
                    batch.project(&(1..batch.num_columns()).collect::<Vec<_>>())?
                };
                let rows = text_rows(&batch)?;
                Ok(DBOutput::Rows {
                    types: vec![DefaultColumnType::Any; batch.num_columns()],
                    rows,
                })
            }
            _ => Err(Error::Usage(format!(
                "unknown test statement `{}`: see tests/README.md for the statements test files use",
                sql.lines().next().unwrap_or("").trim()
            ))),
        }
    }
}

impl sqllogictest::DB for StreamDb {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        self.run_statement(sql)
    }

    fn engine_name(&self) -> &str {
        "rowtime"
    }
}

/// What happened to one test file.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    /// Not run: the feature it needs does not exist yet.
    Skipped(String),
    /// The failure, as the runner prints it (with a diff for wrong results).
    Failed(String),
}

/// The `# not yet supported: FEATURE` marker in a file's leading comments.
pub fn skip_reason(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .find_map(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim()
                .strip_prefix("not yet supported:")
                .map(|r| r.trim().to_string())
        })
}

/// Runs one test file.
pub fn run_file(path: &Path) -> Outcome {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("{}: {e}", path.display())),
    };
    if let Some(reason) = skip_reason(&text) {
        return Outcome::Skipped(reason);
    }
    let name = path.display().to_string();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut runner = sqllogictest::Runner::new(move || {
        let db = StreamDb::new(&name, &dir);
        async move { Ok(db) }
    });
    match runner.run_file(path) {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e.display(std::io::stdout().is_terminal()).to_string()),
    }
}

/// Rewrites a test file's expected results with what the engine gives (`--complete`).
pub fn complete_file(path: &Path) -> Result<()> {
    let name = path.display().to_string();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut runner = sqllogictest::Runner::new(move || {
        let db = StreamDb::new(&name, &dir);
        async move { Ok(db) }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::io("runtime", e))?;
    rt.block_on(runner.update_test_file(
        path,
        " ",
        sqllogictest::default_validator,
        sqllogictest::default_normalizer,
        sqllogictest::default_column_validator,
    ))
    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// The `.slt` files under `paths` (files or folders), sorted.
pub fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).map_err(|e| Error::io(d.display(), e))? {
                    let entry = entry.map_err(|e| Error::io(d.display(), e))?;
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "slt") {
                        out.push(path);
                    }
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::io(
                p.display(),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rowtime-slt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const APP: &str = "statement ok
CREATE INPUT STREAM S (K VARCHAR(4), N INTEGER)

statement ok
CREATE STREAM D (K VARCHAR(4), TOTAL INTEGER);
CREATE PUMP P AS INSERT INTO D SELECT STREAM K, SUM(N) FROM S GROUP BY K, STEP(S.ROWTIME BY INTERVAL '1' MINUTE);

statement ok
INSERT INTO S (ROWTIME, K, N) VALUES ('2020-01-01 00:00:01', 'a', 1), ('2020-01-01 00:00:02', 'a', 2), ('2020-01-01 00:01:00', 'b', 5)
";

    #[test]
    fn a_passing_file_passes() {
        let path = temp_file(
            "pass.slt",
            &format!("{APP}\nquery TI\nSELECT * FROM D\n----\na 3\n"),
        );
        assert!(
            matches!(run_file(&path), Outcome::Passed),
            "{:?}",
            run_file(&path)
        );
    }

    #[test]
    fn a_broken_expectation_fails_with_a_readable_diff() {
        let path = temp_file(
            "broken.slt",
            &format!("{APP}\nquery TI\nSELECT * FROM D\n----\na 4\n"),
        );
        let Outcome::Failed(message) = run_file(&path) else {
            panic!("a wrong expectation passed")
        };
        assert!(message.contains("broken.slt:"), "{message}");
        assert!(
            message.contains("a 4") && message.contains("a 3"),
            "{message}"
        );
    }

    #[test]
    fn expected_errors_match_the_message_and_unknown_statements_say_what_to_use() {
        let path = temp_file(
            "errors.slt",
            "statement ok\nCREATE INPUT STREAM S (K VARCHAR(4))\n\nstatement ok\nCREATE STREAM D (K VARCHAR(4), N BIGINT);\nCREATE PUMP P AS INSERT INTO D SELECT STREAM K, COUNT(*) FROM S GROUP BY K;\n\nstatement error a streaming GROUP BY needs a ROWTIME window\nEND INPUT\n",
        );
        assert!(
            matches!(run_file(&path), Outcome::Passed),
            "{:?}",
            run_file(&path)
        );
        let mut db = StreamDb::new("x", Path::new("."));
        let err = db
            .run_statement("DELETE FROM S")
            .err()
            .expect("rejected")
            .to_string();
        assert!(
            err.contains("unknown test statement `DELETE FROM S`")
                && err.contains("tests/README.md"),
            "{err}"
        );
        let err = db
            .run_statement("INSERT INTO S (K) VALUES ('a')")
            .err()
            .expect("rejected")
            .to_string();
        assert!(err.contains("lists ROWTIME first"), "{err}");
    }

    #[test]
    fn skip_markers_are_read_from_the_leading_comments() {
        assert_eq!(
            skip_reason("# not yet supported: sliding windows\nstatement ok\n"),
            Some("sliding windows".into())
        );
        assert_eq!(
            skip_reason("# EX-07\n# not yet supported: OVER\n"),
            Some("OVER".into())
        );
        assert_eq!(
            skip_reason("statement ok\n# not yet supported: late\n"),
            None
        );
    }
}
