//! Testing KDA applications: push rows with explicit ROWTIMEs through an application and read
//! what each in-application stream emitted.
//!
//! ```
//! use rowtime::testing::TestApp;
//!
//! let mut app = TestApp::new("app.sql", r#"
//!     CREATE STREAM "DESTINATION_SQL_STREAM" (CITY VARCHAR(16), N BIGINT);
//!     CREATE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
//!     SELECT STREAM CITY, COUNT(*) FROM "SOURCE_SQL_STREAM_001" AS s
//!     GROUP BY CITY, STEP(s.ROWTIME BY INTERVAL '1' MINUTE);"#)
//!     .input("SOURCE_SQL_STREAM_001", "CITY VARCHAR(16), TEMP INTEGER")?;
//! app.push_table("SOURCE_SQL_STREAM_001", "
//!     ROWTIME             | CITY   | TEMP
//!     2018-11-01 01:00:00 | Denver | 29
//!     2018-11-01 01:00:30 | Denver | 31")?;
//! app.advance("SOURCE_SQL_STREAM_001", "2018-11-01 01:01:00")?;
//! assert_eq!(app.read_table("DESTINATION_SQL_STREAM")?, "\
//! ROWTIME                 | CITY   | N
//! 2018-11-01 01:01:00.000 | Denver | 2
//! ");
//! # Ok::<(), rowtime::Error>(())
//! ```
//!
//! Everything is deterministic: ROWTIMEs come from the test, never from the clock, and a
//! window's rows are ordered by their group keys.

pub mod fuzz;
pub mod slt;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, StringArray, TimestampMillisecondArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::ArrayFormatter;

use crate::catalog::{
    APPROXIMATE_ARRIVAL_TIME, Catalog, StreamDef, StreamKind, TableDef, with_rowtime,
};
use crate::connectors::Sink;
use crate::connectors::decode::RecordDecoder;
use crate::connectors::schema::{ColumnSpec, RecordFormat, RecordSchema};
use crate::dialect::parse_application;
use crate::error::{Error, Result, SourceText};
use crate::error_stream::{ErrorRow, PARSE_ERROR};
use crate::format::format_options;
use crate::plan::{Plan, plan};
use crate::runtime::Dataflow;
use crate::types::SqlType;

/// Collects a stream's batches for reading back.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<RecordBatch>>>);

impl Sink for Collected {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.lock().expect("collector lock").push(batch.clone());
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Running {
    plan: Plan,
    dataflow: Dataflow,
    collected: HashMap<String, Collected>,
    last_rowtime: HashMap<usize, i64>,
}

/// An application under test.
pub struct TestApp {
    code: SourceText,
    inputs: Vec<StreamDef>,
    tables: Vec<(String, RecordBatch)>,
    running: Option<Running>,
}

/// Parses `TIMESTAMP` text (`YYYY-MM-DD HH:MM:SS[.fff]`) into milliseconds.
pub fn parse_rowtime(text: &str) -> Result<i64> {
    let t = text.trim().trim_matches('\'');
    crate::time::parse_timestamp(t).ok_or_else(|| {
        Error::Usage(format!(
            "`{t}` is not a ROWTIME: write YYYY-MM-DD HH:MM:SS[.fff]"
        ))
    })
}

/// Parses a column list such as `CITY VARCHAR(16), TEMP INTEGER`.
pub fn parse_columns(text: &str) -> Result<Vec<(String, SqlType)>> {
    let src = SourceText::new("columns", format!("CREATE STREAM x ({text})"));
    let statements = parse_application(&src)?;
    match &statements[0] {
        crate::dialect::AppStatement::CreateStream(s) => Ok(s
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type))
            .collect()),
        _ => unreachable!("a CREATE STREAM was parsed"),
    }
}

impl TestApp {
    /// An application from its code; `name` is shown in messages.
    pub fn new(name: &str, code: &str) -> TestApp {
        TestApp {
            code: SourceText::new(name, code),
            inputs: vec![],
            tables: vec![],
            running: None,
        }
    }

    /// Adds application code (before the first row is pushed).
    pub fn add_code(&mut self, code: &str) -> Result<()> {
        self.not_started("application code")?;
        self.code.text.push_str(";\n");
        self.code.text.push_str(code);
        Ok(())
    }

    fn not_started(&self, what: &str) -> Result<()> {
        if self.running.is_some() {
            return Err(Error::Usage(format!(
                "{what} must be given before the first row is pushed"
            )));
        }
        Ok(())
    }

    /// Declares a source stream (as KDA's input configuration creates `SOURCE_SQL_STREAM_001`).
    pub fn input(mut self, stream: &str, columns: &str) -> Result<TestApp> {
        self.add_input(stream, parse_columns(columns)?)?;
        Ok(self)
    }

    pub fn add_input(&mut self, stream: &str, columns: Vec<(String, SqlType)>) -> Result<()> {
        self.not_started("input streams")?;
        self.inputs.push(StreamDef {
            name: stream.to_string(),
            columns,
            kind: StreamKind::Source,
        });
        Ok(())
    }

    /// Adds a reference table with its rows.
    pub fn table(mut self, name: &str, rows: RecordBatch) -> Result<TestApp> {
        self.add_table(name, rows)?;
        Ok(self)
    }

    pub fn add_table(&mut self, name: &str, rows: RecordBatch) -> Result<()> {
        self.not_started("reference tables")?;
        match self.tables.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => {
                *existing = concat_batches(&existing.schema(), &[existing.clone(), rows])?
            }
            None => self.tables.push((name.to_string(), rows)),
        }
        Ok(())
    }

    /// Plans the application now (it is done by the first push otherwise).
    pub fn start(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let tables = self
            .tables
            .iter()
            .map(|(name, batch)| TableDef::new(name, batch.schema()))
            .collect();
        let catalog = Catalog::new(self.inputs.clone(), tables);
        let statements = parse_application(&self.code)?;
        let plan = plan(&self.code, &statements, catalog)?;
        let tables: HashMap<String, RecordBatch> = self.tables.iter().cloned().collect();
        let mut dataflow = Dataflow::new(&plan, &tables)?;
        dataflow.replay = true;
        let mut collected = HashMap::new();
        for (i, s) in plan.catalog.streams.iter().enumerate() {
            let c = Collected::default();
            dataflow.add_sink(i, s.name.clone(), Box::new(c.clone()));
            collected.insert(s.name.clone(), c);
        }
        self.running = Some(Running {
            plan,
            dataflow,
            collected,
            last_rowtime: HashMap::new(),
        });
        Ok(())
    }

    /// The planned dataflow (for `explain`-style assertions).
    pub fn plan(&mut self) -> Result<&Plan> {
        self.start()?;
        Ok(&self.running.as_ref().expect("started").plan)
    }

    fn source(&mut self, stream: &str) -> Result<(usize, StreamDef)> {
        self.start()?;
        let r = self.running.as_ref().expect("started");
        match r.plan.catalog.stream(stream) {
            Some((i, s)) if s.kind == StreamKind::Source => Ok((i, s.clone())),
            Some(_) => Err(Error::Usage(format!(
                "`{stream}` is not an input stream: rows can only be pushed into input streams"
            ))),
            None => Err(Error::Usage(format!("no input stream named `{stream}`"))),
        }
    }

    /// Pushes rows given as text cells (`None` = NULL) for `columns` of `stream`, with their
    /// ROWTIMEs (non-decreasing). Cells are cast to the columns' types.
    pub fn push_text(
        &mut self,
        stream: &str,
        columns: &[String],
        rows: &[(i64, Vec<Option<String>>)],
    ) -> Result<()> {
        let (index, def) = self.source(stream)?;
        let mut positions = Vec::with_capacity(columns.len());
        // (cell index, column index) of every given column but APPROXIMATE_ARRIVAL_TIME.
        for (k, c) in columns
            .iter()
            .enumerate()
            .filter(|(_, c)| *c != APPROXIMATE_ARRIVAL_TIME)
        {
            let p = def
                .columns
                .iter()
                .position(|(n, _)| n == c)
                .ok_or_else(|| {
                    let names: Vec<&str> = def.columns.iter().map(|(n, _)| n.as_str()).collect();
                    Error::Usage(format!(
                        "stream `{stream}` has no column `{c}`; its columns are {}",
                        names.join(", ")
                    ))
                })?;
            positions.push((k, p));
        }
        let running = self.running.as_mut().expect("started");
        let last = running
            .last_rowtime
            .get(&index)
            .copied()
            .unwrap_or(i64::MIN);
        let mut previous = last;
        for (t, _) in rows {
            if *t < previous {
                return Err(Error::Usage(format!(
                    "ROWTIME goes back in `{stream}`: rows must be pushed in ROWTIME order"
                )));
            }
            previous = *t;
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(def.columns.len() + 2);
        for (ci, (name, ty)) in def.columns.iter().enumerate() {
            let texts: StringArray = rows
                .iter()
                .map(|(_, cells)| {
                    positions
                        .iter()
                        .find(|(_, p)| *p == ci)
                        .and_then(|(k, _)| cells.get(*k).cloned().flatten())
                })
                .collect();
            let array = cast(&(Arc::new(texts.clone()) as ArrayRef), &ty.arrow_type())?;
            for i in 0..texts.len() {
                if !texts.is_null(i) && array.is_null(i) {
                    return Err(Error::Usage(format!(
                        "`{}` is not a value of column {name} ({ty})",
                        texts.value(i)
                    )));
                }
            }
            arrays.push(array);
        }
        let rowtimes: ArrayRef = Arc::new(TimestampMillisecondArray::from(
            rows.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        ));
        // APPROXIMATE_ARRIVAL_TIME: given by the test, else the ROWTIME.
        let arrival = match columns.iter().position(|c| c == APPROXIMATE_ARRIVAL_TIME) {
            Some(k) => {
                let texts: StringArray = rows
                    .iter()
                    .map(|(_, cells)| cells.get(k).cloned().flatten())
                    .collect();
                let given = cast(
                    &(Arc::new(texts) as ArrayRef),
                    &crate::catalog::rowtime_type(),
                )?;
                let given = given
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .expect("a timestamp array")
                    .clone();
                let filled: TimestampMillisecondArray = given
                    .iter()
                    .zip(rows)
                    .map(|(g, (t, _))| Some(g.unwrap_or(*t)))
                    .collect();
                Arc::new(filled) as ArrayRef
            }
            None => Arc::clone(&rowtimes),
        };
        arrays.push(arrival);
        arrays.push(Arc::clone(&rowtimes));
        arrays.push(rowtimes);
        let schema: SchemaRef = with_rowtime(&def.table_schema());
        let batch = RecordBatch::try_new(schema, arrays)?;
        running.last_rowtime.insert(index, previous);
        running.dataflow.error_time = previous;
        running.dataflow.push(index, batch)?;
        running.dataflow.advance(index, previous)
    }

    /// Pushes JSON records, each with its ROWTIME, through KDA's input decoding: each column is
    /// read from the key of its name (`$.NAME`) with KDA's coercion rules; a record that does not
    /// fit goes to error_stream (DATA_ROW = its bytes) and the others go on.
    pub fn push_json(&mut self, stream: &str, records: &[(i64, &str)]) -> Result<()> {
        let (index, def) = self.source(stream)?;
        let schema = RecordSchema {
            columns: def
                .columns
                .iter()
                .map(|(name, ty)| ColumnSpec {
                    name: name.clone(),
                    sql_type: *ty,
                    mapping: Some(format!("$[\"{}\"]", name.replace('"', "\\\""))),
                })
                .collect(),
            format: RecordFormat::Json,
            row_path: None,
        };
        let mut decoder = RecordDecoder::new(&schema).map_err(Error::Application)?;
        let running = self.running.as_mut().expect("started");
        let mut previous = running
            .last_rowtime
            .get(&index)
            .copied()
            .unwrap_or(i64::MIN);
        let mut rowtimes = Vec::with_capacity(records.len());
        let mut errors = Vec::new();
        for (t, record) in records {
            if *t < previous {
                return Err(Error::Usage(format!(
                    "ROWTIME goes back in `{stream}`: rows must be pushed in ROWTIME order"
                )));
            }
            previous = *t;
            match decoder.push(record.as_bytes()) {
                Ok(()) => rowtimes.push(*t),
                Err(message) => errors.push(ErrorRow {
                    name: PARSE_ERROR,
                    message,
                    data_rowtime: Some(*t),
                    data_row: record.as_bytes().to_vec(),
                    pump: None,
                }),
            }
        }
        running.last_rowtime.insert(index, previous);
        running.dataflow.error_time = previous;
        running.dataflow.report(errors);
        let decoded = decoder.flush();
        if decoded.num_rows() > 0 {
            let rowtimes: ArrayRef = Arc::new(TimestampMillisecondArray::from(rowtimes));
            let mut columns = decoded.columns().to_vec();
            columns.push(Arc::clone(&rowtimes)); // APPROXIMATE_ARRIVAL_TIME
            columns.push(Arc::clone(&rowtimes));
            columns.push(rowtimes);
            let batch = RecordBatch::try_new(with_rowtime(&def.table_schema()), columns)?;
            running.dataflow.push(index, batch)?;
        }
        running.dataflow.advance(index, previous)?;
        running.dataflow.flush_errors()
    }

    /// Pushes rows written as a text table: a header line `ROWTIME | COL | …`, then one line per
    /// row; cells are trimmed; `NULL` is NULL.
    pub fn push_table(&mut self, stream: &str, table: &str) -> Result<()> {
        let mut lines = table
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.chars().all(|c| "-+| ".contains(c)));
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| Error::Usage("the table has no header line".into()))?
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if header.first().map(String::as_str) != Some("ROWTIME") {
            return Err(Error::Usage(
                "the table's first column must be ROWTIME".into(),
            ));
        }
        let mut rows = Vec::new();
        for line in lines {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() != header.len() {
                return Err(Error::Usage(format!(
                    "row `{line}` has {} cells; the header has {}",
                    cells.len(),
                    header.len()
                )));
            }
            let cells_out = cells[1..]
                .iter()
                .map(|c| {
                    if *c == "NULL" {
                        None
                    } else {
                        Some(c.to_string())
                    }
                })
                .collect();
            rows.push((parse_rowtime(cells[0])?, cells_out));
        }
        self.push_text(stream, &header[1..], &rows)
    }

    /// Raises the ROWTIME bound of an input stream: windows that end at or before it emit.
    pub fn advance(&mut self, stream: &str, rowtime: &str) -> Result<()> {
        let bound = parse_rowtime(rowtime)?;
        self.advance_to(stream, bound)
    }

    pub fn advance_to(&mut self, stream: &str, bound: i64) -> Result<()> {
        let (index, _) = self.source(stream)?;
        let running = self.running.as_mut().expect("started");
        running.dataflow.error_time = bound;
        running.dataflow.advance(index, bound)
    }

    /// Checkpoints the running application and goes on in a dataflow built afresh and
    /// restored from the checkpoint's bytes, as a run resumed after a crash does: what it emits
    /// from here on must be what it would have emitted without the checkpoint.
    pub fn resume_from_checkpoint(&mut self) -> Result<()> {
        self.start()?;
        let running = self.running.as_mut().expect("started");
        let mut bytes = Vec::new();
        running.dataflow.snapshot()?.encode(&mut bytes)?;
        let state = crate::state::Snapshot::decode(&mut bytes.as_slice())?;
        let tables: HashMap<String, RecordBatch> = self.tables.iter().cloned().collect();
        let mut fresh = Dataflow::new(&running.plan, &tables)?;
        fresh.replay = true;
        for (i, s) in running.plan.catalog.streams.iter().enumerate() {
            let c = running.collected[&s.name].clone();
            fresh.add_sink(i, s.name.clone(), Box::new(c));
        }
        fresh.restore(&state)?;
        running.dataflow = fresh;
        Ok(())
    }

    /// Ends every input: all open windows emit.
    pub fn end(&mut self) -> Result<()> {
        self.start()?;
        let running = self.running.as_mut().expect("started");
        let sources: Vec<usize> = running
            .plan
            .catalog
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StreamKind::Source)
            .map(|(i, _)| i)
            .collect();
        for s in sources {
            running.dataflow.advance(s, i64::MAX)?;
        }
        running.dataflow.finish()
    }

    /// The rows `stream` emitted since the last read: ROWTIME, then the stream's columns.
    pub fn read(&mut self, stream: &str) -> Result<RecordBatch> {
        self.start()?;
        let running = self.running.as_mut().expect("started");
        let (_, def) = running
            .plan
            .catalog
            .stream(stream)
            .ok_or_else(|| Error::Usage(format!("no stream named `{stream}`")))?;
        let n = def.columns.len();
        let schema = with_rowtime(&def.table_schema());
        let batches =
            std::mem::take(&mut *running.collected[stream].0.lock().expect("collector lock"));
        let all = concat_batches(&schema, &batches)?;
        let mut order = vec![def.rowtime_index()];
        order.extend(0..n);
        Ok(all.project(&order)?)
    }

    /// Rows since the last read as text cells (TIMESTAMP as `YYYY-MM-DD HH:MM:SS.fff`, NULL as `NULL`).
    pub fn read_rows(&mut self, stream: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let batch = self.read(stream)?;
        let names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        Ok((names, text_rows(&batch)?))
    }

    /// Rows since the last read as an aligned text table (the format `push_table` reads), so
    /// a failing assertion's output can be pasted back into the test.
    pub fn read_table(&mut self, stream: &str) -> Result<String> {
        let (names, rows) = self.read_rows(stream)?;
        Ok(aligned(&names, &rows))
    }
}

/// The cells of a text table (`a | b` lines; lines of only `-`, `+`, `|` are rules), trimmed.
fn table_cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| "-+| ".contains(c)))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

impl TestApp {
    /// Asserts that `stream` emitted exactly `expected` since the last read: a text table with a
    /// header line (`ROWTIME | COL | …`), compared cell by cell after trimming. On failure it
    /// panics with both tables, the actual one in a form to paste back into the test.
    #[track_caller]
    pub fn assert_emitted(&mut self, stream: &str, expected: &str) {
        let (names, rows) = match self.read_rows(stream) {
            Ok(r) => r,
            Err(e) => panic!("reading {stream}: {e}"),
        };
        let mut actual = vec![names.clone()];
        actual.extend(rows.iter().cloned());
        if table_cells(expected) != actual {
            panic!(
                "{stream} emitted other rows than expected.\n\nexpected:\n{}\nactual (paste this into the test if it is right):\n{}",
                aligned(
                    &table_cells(expected).first().cloned().unwrap_or_default(),
                    table_cells(expected).get(1..).unwrap_or_default()
                ),
                aligned(&names, &rows)
            );
        }
    }
}

/// Text cells of a batch.
pub fn text_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>> {
    let options = format_options().with_null("NULL");
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<_, _>>()?;
    Ok((0..batch.num_rows())
        .map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect())
        .collect())
}

/// An aligned `a | b` table with a header line; trailing spaces trimmed.
pub fn aligned(names: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join(" | ").trim_end())
    };
    let mut out = line(names);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> TestApp {
        TestApp::new(
            "ex02.sql",
            "CREATE STREAM \"DESTINATION_SQL_STREAM\" (FLOOR_DAY TIMESTAMP, CITY VARCHAR(16), MIN_TEMP INTEGER, MAX_TEMP INTEGER, AVG_TEMP INTEGER);
             CREATE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
             SELECT STREAM FLOOR(WEATHERSTREAM.ROWTIME TO DAY), CITY, MIN(TEMP), MAX(TEMP), SUM(TEMP)/COUNT(TEMP)
             FROM WEATHERSTREAM GROUP BY FLOOR(WEATHERSTREAM.ROWTIME TO DAY), CITY;",
        )
        .input("WEATHERSTREAM", "CITY VARCHAR(16), TEMP INTEGER")
        .unwrap()
    }

    #[test]
    fn pushes_rows_advances_and_reads_what_each_stream_emitted() {
        let mut app = weather();
        app.push_table(
            "WEATHERSTREAM",
            "ROWTIME             | CITY      | TEMP
             2018-11-01 01:00:00 | Denver    | 29
             2018-11-01 01:00:00 | Anchorage | 2
             2018-11-01 06:00:00 | Miami     | 65
             2018-11-02 01:00:00 | Denver    | 39",
        )
        .unwrap();
        assert_eq!(
            app.read_table("DESTINATION_SQL_STREAM").unwrap(),
            "\
ROWTIME                 | FLOOR_DAY               | CITY      | MIN_TEMP | MAX_TEMP | AVG_TEMP
2018-11-02 00:00:00.000 | 2018-11-01 00:00:00.000 | Anchorage | 2        | 2        | 2
2018-11-02 00:00:00.000 | 2018-11-01 00:00:00.000 | Denver    | 29       | 29       | 29
2018-11-02 00:00:00.000 | 2018-11-01 00:00:00.000 | Miami     | 65       | 65       | 65
"
        );
        // Read again: nothing new until the bound moves.
        assert_eq!(app.read_rows("DESTINATION_SQL_STREAM").unwrap().1.len(), 0);
        app.advance("WEATHERSTREAM", "2018-11-03 00:00:00").unwrap();
        let (_, rows) = app.read_rows("DESTINATION_SQL_STREAM").unwrap();
        let expected = [
            "2018-11-03 00:00:00.000",
            "2018-11-02 00:00:00.000",
            "Denver",
            "39",
            "39",
            "39",
        ];
        assert_eq!(rows, vec![expected.map(String::from).to_vec()]);
    }

    /// The example of tests/README.md, kept true.
    #[test]
    fn the_cookbook_example_holds() {
        let code =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/toll_billing.sql"))
                .unwrap();
        let mut app = TestApp::new("app.sql", code.as_str())
            .input(
                "SOURCE_SQL_STREAM_001",
                "BOOTH_ID VARCHAR(8), ACCOUNT_ID VARCHAR(16), VEHICLE_CLASS VARCHAR(16), AMOUNT DECIMAL(8,2), EVENT_TIME TIMESTAMP",
            )
            .unwrap();
        app.push_table(
            "SOURCE_SQL_STREAM_001",
            "
    ROWTIME             | ACCOUNT_ID | AMOUNT
    2026-03-02 08:00:01 | A1         | 2.50
    2026-03-02 08:03:00 | A1         | 7.75",
        )
        .unwrap();
        app.end().unwrap();
        assert_eq!(
            app.read_table("DESTINATION_SQL_STREAM").unwrap(),
            "\
ROWTIME                 | ACCOUNT_ID | WINDOW_START            | TRIPS | TOTAL_AMOUNT
2026-03-02 08:10:00.000 | A1         | 2026-03-02 08:00:00.000 | 2     | 10.25
"
        );
    }

    #[test]
    fn assert_emitted_compares_tables_and_shows_a_pasteable_table_on_failure() {
        let mut app = weather();
        app.push_table(
            "WEATHERSTREAM",
            "ROWTIME | CITY | TEMP\n2018-11-01 01:00:00 | Denver | 29",
        )
        .unwrap();
        app.end().unwrap();
        app.assert_emitted(
            "DESTINATION_SQL_STREAM",
            "
            ROWTIME                 | FLOOR_DAY               | CITY   | MIN_TEMP | MAX_TEMP | AVG_TEMP
            ------------------------+-------------------------+--------+----------+----------+---------
            2018-11-02 00:00:00.000 | 2018-11-01 00:00:00.000 | Denver | 29       | 29       | 29",
        );
        let mut app = weather();
        app.push_table(
            "WEATHERSTREAM",
            "ROWTIME | CITY | TEMP\n2018-11-01 01:00:00 | Denver | 29",
        )
        .unwrap();
        app.end().unwrap();
        let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.assert_emitted(
                "DESTINATION_SQL_STREAM",
                "ROWTIME | FLOOR_DAY | CITY | MIN_TEMP | MAX_TEMP | AVG_TEMP",
            )
        }))
        .expect_err("an empty expectation fails");
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("actual (paste this into the test if it is right):"),
            "{message}"
        );
        assert!(
            message.contains("2018-11-02 00:00:00.000 | 2018-11-01 00:00:00.000 | Denver | 29"),
            "{message}"
        );
    }

    #[test]
    fn source_streams_have_approximate_arrival_time_which_star_leaves_out() {
        let mut app = TestApp::new(
            "aat.sql",
            "CREATE STREAM ALLCOLS (K VARCHAR(4));
             CREATE STREAM LATE (K VARCHAR(4), LAG_MS BIGINT);
             CREATE PUMP P1 AS INSERT INTO ALLCOLS SELECT STREAM * FROM S;
             CREATE PUMP P2 AS INSERT INTO LATE
             SELECT STREAM K, TSDIFF(S.APPROXIMATE_ARRIVAL_TIME, S.ROWTIME) FROM S;",
        )
        .input("S", "K VARCHAR(4)")
        .unwrap();
        app.push_table(
            "S",
            "ROWTIME             | APPROXIMATE_ARRIVAL_TIME | K
             2020-01-01 00:00:05 | 2020-01-01 00:00:02      | a
             2020-01-01 00:00:06 | NULL                     | b",
        )
        .unwrap();
        assert_eq!(app.read_rows("ALLCOLS").unwrap().0, vec!["ROWTIME", "K"]);
        // Without a given arrival time, it is the ROWTIME.
        assert_eq!(
            app.read_table("LATE").unwrap(),
            "ROWTIME                 | K | LAG_MS\n2020-01-01 00:00:05.000 | a | 3000\n2020-01-01 00:00:06.000 | b | 0\n"
        );
    }

    #[test]
    fn bad_pushes_say_what_is_wrong() {
        let mut app = weather();
        let err = app
            .push_table(
                "WEATHERSTREAM",
                "ROWTIME | CITY | TEMP\n2018-11-01 01:00:00 | Denver | warm",
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`warm` is not a value of column TEMP (INTEGER)"),
            "{err}"
        );
        app.push_table(
            "WEATHERSTREAM",
            "ROWTIME | CITY\n2018-11-01 02:00:00 | Denver",
        )
        .unwrap();
        let err = app
            .push_table(
                "WEATHERSTREAM",
                "ROWTIME | CITY\n2018-11-01 01:00:00 | Denver",
            )
            .unwrap_err();
        assert!(err.to_string().contains("ROWTIME goes back"), "{err}");
        let err = app
            .push_table(
                "WEATHERSTREAM",
                "ROWTIME | TOWN\n2018-11-01 03:00:00 | Denver",
            )
            .unwrap_err();
        assert!(err.to_string().contains("has no column `TOWN`"), "{err}");
        let err = app
            .push_table(
                "DESTINATION_SQL_STREAM",
                "ROWTIME | CITY\n2018-11-01 03:00:00 | Denver",
            )
            .unwrap_err();
        assert!(err.to_string().contains("not an input stream"), "{err}");
    }

    #[test]
    fn json_records_are_decoded_with_kda_rules_and_bad_ones_go_to_error_stream() {
        let mut app = TestApp::new(
            "json.sql",
            "CREATE STREAM OUT (T VARCHAR(4), P DOUBLE); CREATE PUMP P AS INSERT INTO OUT SELECT STREAM TICKER_SYMBOL, PRICE FROM S;",
        )
        .input("S", "TICKER_SYMBOL VARCHAR(4), PRICE REAL")
        .unwrap();
        app.push_json(
            "S",
            &[
                (1000, r#"{"TICKER_SYMBOL":"AMZNX","PRICE":"815.5"}"#),
                (2000, r#"{"TICKER_SYMBOL":"QXZ","PRICE":"cheap"}"#),
                (3000, r#"{"PRICE":null}"#),
            ],
        )
        .unwrap();
        // VARCHAR(4) truncates silently; a string that parses is a number; missing keys are NULL.
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | T    | P\n1970-01-01 00:00:01.000 | AMZN | 815.5\n1970-01-01 00:00:03.000 | NULL | NULL\n"
        );
        let (_, errors) = app.read_rows("error_stream").unwrap();
        assert_eq!(errors.len(), 1);
        // ROWTIME, ERROR_TIME, ERROR_LEVEL, ERROR_NAME, MESSAGE, DATA_ROWTIME, DATA_ROW, PUMP_NAME
        assert_eq!(errors[0][3], "PARSE_ERROR");
        assert!(errors[0][4].contains("column PRICE"), "{}", errors[0][4]);
        assert_eq!(errors[0][5], "1970-01-01 00:00:02.000");
        assert_eq!(
            errors[0][6],
            crate::format::hex(br#"{"TICKER_SYMBOL":"QXZ","PRICE":"cheap"}"#)
        );
    }

    #[test]
    fn errors_are_readable_from_error_stream() {
        let mut app = TestApp::new(
            "div.sql",
            "CREATE STREAM OUT (Q INTEGER); CREATE PUMP P AS INSERT INTO OUT SELECT STREAM 10 / N FROM S;",
        )
        .input("S", "N INTEGER")
        .unwrap();
        app.push_table(
            "S",
            "ROWTIME | N\n2020-01-01 00:00:00 | 2\n2020-01-01 00:00:01 | 0",
        )
        .unwrap();
        app.end().unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | Q\n2020-01-01 00:00:00.000 | 5\n"
        );
        let (_, errors) = app.read_rows("error_stream").unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0][0], "2020-01-01 00:00:01.000");
        assert_eq!(errors[0][3], "EVALUATION_ERROR");
    }
}
