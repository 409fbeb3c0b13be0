//! Sinks: JSON lines, CSV, and the terminal table. A sink writes a stream's declared columns
//! (and ROWTIME first when asked), formatted as `format.rs` says.
//!
//! A file sink's checkpoint is its length, flushed and synced; the resumed run cuts the file
//! back to that length and appends, so the file ends exactly as an uninterrupted run's would.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::ArrayFormatter;

use super::Sink;
use crate::error::{Error, Result};
use crate::format::{JsonRowFormatter, format_options};
use crate::state::Snapshot;

/// Which columns of a stream batch a sink writes, and under which names.
#[derive(Debug, Clone)]
pub struct Columns {
    pub indices: Vec<usize>,
    pub names: Vec<String>,
}

impl Columns {
    /// The stream's declared columns (`names`); with `rowtime` (the ROWTIME column's index),
    /// ROWTIME first.
    pub fn of_stream(names: &[String], rowtime: Option<usize>) -> Columns {
        let mut indices: Vec<usize> = (0..names.len()).collect();
        let mut names = names.to_vec();
        if let Some(r) = rowtime {
            indices.insert(0, r);
            names.insert(0, "ROWTIME".to_string());
        }
        Columns { indices, names }
    }
}

fn io_err(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Where a JSON-lines or CSV sink writes: stdout (or any stream), or a file whose length a
/// checkpoint records.
pub enum Out {
    Stream(Box<dyn Write + Send>),
    File { writer: BufWriter<File>, len: u64 },
}

impl Out {
    /// A new file (an existing one is emptied). A path that is not a regular file (`/dev/null`,
    /// a named pipe) is written as a stream: it has no length to keep.
    pub fn create(path: &Path) -> std::io::Result<Out> {
        let file = File::create(path)?;
        if !file.metadata()?.is_file() {
            return Ok(Out::Stream(Box::new(BufWriter::with_capacity(
                1 << 16,
                file,
            ))));
        }
        Ok(Out::File {
            writer: BufWriter::with_capacity(1 << 16, file),
            len: 0,
        })
    }

    /// A file written by the run that took a checkpoint, cut back to the `len` bytes it had
    /// then; what follows is written again by the resumed run.
    pub fn resume(path: &Path, len: u64) -> Result<Out> {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Out::create(path).map_err(io_err(&path.display().to_string()));
        }
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("{shown} (resuming from a checkpoint)"), e))?;
        let has = file.metadata().map_err(io_err(&shown))?.len();
        if has < len {
            return Err(Error::Application(format!(
                "{shown}: the file has {has} bytes, fewer than the {len} it had at the checkpoint: it was changed or replaced since; put back the file the run wrote, or start afresh with --force"
            )));
        }
        file.set_len(len).map_err(io_err(&shown))?;
        file.seek(SeekFrom::End(0)).map_err(io_err(&shown))?;
        Ok(Out::File {
            writer: BufWriter::with_capacity(1 << 16, file),
            len,
        })
    }

    /// After a flush: a file is synced to disk, and its length is the snapshot.
    fn sync(&self, path: &str) -> Result<Snapshot> {
        match self {
            Out::Stream(_) => Ok(Snapshot::empty()),
            Out::File { writer, len } => {
                writer.get_ref().sync_data().map_err(io_err(path))?;
                Ok(Snapshot::of(serde_json::json!({ "len": *len })))
            }
        }
    }

    /// The length a file sink's snapshot records.
    pub fn checkpointed_len(state: &Snapshot) -> Result<u64> {
        state.field("len")
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Stream(w) => w.write(buf),
            Out::File { writer, len } => {
                let n = writer.write(buf)?;
                *len += n as u64;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stream(w) => w.flush(),
            Out::File { writer, .. } => writer.flush(),
        }
    }
}

/// One JSON object per line.
pub struct JsonLinesSink {
    out: Out,
    path: String,
    columns: Columns,
    line: String,
}

impl JsonLinesSink {
    pub fn new(out: Out, path: impl Into<String>, columns: Columns) -> JsonLinesSink {
        JsonLinesSink {
            out,
            path: path.into(),
            columns,
            line: String::new(),
        }
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let options = format_options();
        let f = JsonRowFormatter::new(batch, &self.columns.indices, &self.columns.names, &options)?;
        self.line.clear();
        for row in 0..batch.num_rows() {
            f.write_row(row, &mut self.line);
            self.line.push('\n');
        }
        self.out
            .write_all(self.line.as_bytes())
            .map_err(io_err(&self.path))
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(io_err(&self.path))
    }

    fn checkpoint(&mut self) -> Result<Snapshot> {
        self.out.flush().map_err(io_err(&self.path))?;
        self.out.sync(&self.path)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(io_err(&self.path))
    }
}

/// CSV without a header (as KDA writes CSV destinations); NULL is an empty field.
pub struct CsvSink {
    out: csv::Writer<Out>,
    path: String,
    columns: Columns,
}

impl CsvSink {
    pub fn new(out: Out, path: impl Into<String>, columns: Columns) -> CsvSink {
        CsvSink {
            out: csv::Writer::from_writer(out),
            path: path.into(),
            columns,
        }
    }
}

impl Sink for CsvSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let options = format_options();
        let formatters: Vec<(ArrayFormatter, &dyn Array)> = self
            .columns
            .indices
            .iter()
            .map(|i| {
                Ok((
                    ArrayFormatter::try_new(batch.column(*i).as_ref(), &options)?,
                    batch.column(*i).as_ref(),
                ))
            })
            .collect::<Result<_>>()?;
        let mut record: Vec<String> = Vec::with_capacity(formatters.len());
        for row in 0..batch.num_rows() {
            record.clear();
            for (f, a) in &formatters {
                record.push(if a.is_null(row) {
                    String::new()
                } else {
                    f.value(row).to_string()
                });
            }
            self.out
                .write_record(&record)
                .map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(io_err(&self.path))
    }

    fn checkpoint(&mut self) -> Result<Snapshot> {
        self.out.flush().map_err(io_err(&self.path))?;
        self.out.get_ref().sync(&self.path)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(io_err(&self.path))
    }
}

/// Cells wider than this are cut in the terminal view (files get every character).
const MAX_CELL: usize = 40;

fn cell(text: String) -> String {
    match text.char_indices().nth(MAX_CELL - 1) {
        Some((cut, _)) if text.chars().count() > MAX_CELL => format!("{}…", &text[..cut]),
        _ => text,
    }
}

/// The terminal view: an aligned table per stream, printed as rows arrive.
pub struct TableSink {
    out: Box<dyn Write + Send>,
    stream: String,
    columns: Columns,
    widths: Vec<usize>,
    printed_header: bool,
}

impl TableSink {
    pub fn new(
        out: Box<dyn Write + Send>,
        stream: impl Into<String>,
        columns: Columns,
    ) -> TableSink {
        let widths = columns.names.iter().map(|n| n.chars().count()).collect();
        TableSink {
            out,
            stream: stream.into(),
            columns,
            widths,
            printed_header: false,
        }
    }
}

impl Sink for TableSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let options = format_options().with_null("NULL");
        let formatters: Vec<ArrayFormatter> = self
            .columns
            .indices
            .iter()
            .map(|i| ArrayFormatter::try_new(batch.column(*i).as_ref(), &options))
            .collect::<std::result::Result<_, _>>()?;
        let rows: Vec<Vec<String>> = (0..batch.num_rows())
            .map(|r| {
                formatters
                    .iter()
                    .map(|f| cell(f.value(r).to_string()))
                    .collect()
            })
            .collect();
        let mut text = String::new();
        if !self.printed_header {
            // Widths are fixed by the header and the first batch, so columns stay aligned as rows stream.
            for row in &rows {
                for (w, cell) in self.widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            text.push_str(&format!("-- {}\n", self.stream));
            let header: Vec<String> = self
                .columns
                .names
                .iter()
                .zip(&self.widths)
                .map(|(n, w)| format!("{n:<w$}"))
                .collect();
            text.push_str(header.join(" | ").trim_end());
            text.push('\n');
            let rule: Vec<String> = self.widths.iter().map(|w| "-".repeat(*w)).collect();
            text.push_str(&rule.join("-+-"));
            text.push('\n');
            self.printed_header = true;
        }
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&self.widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            text.push_str(cells.join(" | ").trim_end());
            text.push('\n');
        }
        self.out
            .write_all(text.as_bytes())
            .map_err(io_err(&self.stream))?;
        self.out.flush().map_err(io_err(&self.stream))
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(io_err(&self.stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_column(values: &[&str]) -> (RecordBatch, Columns) {
        let batch = RecordBatch::try_from_iter([(
            "A",
            std::sync::Arc::new(datafusion::arrow::array::StringArray::from(values.to_vec()))
                as datafusion::arrow::array::ArrayRef,
        )])
        .unwrap();
        let columns = Columns {
            indices: vec![0],
            names: vec!["A".into()],
        };
        (batch, columns)
    }

    #[test]
    fn a_resumed_file_is_cut_back_to_its_checkpointed_length() {
        let path = std::env::temp_dir().join(format!("rowtime-sink-{}.jsonl", std::process::id()));
        let (batch, columns) = one_column(&["x", "y"]);
        let mut sink = JsonLinesSink::new(Out::create(&path).unwrap(), "out", columns.clone());
        sink.write(&batch).unwrap();
        let state = sink.checkpoint().unwrap();
        let len = Out::checkpointed_len(&state).unwrap();
        assert_eq!(
            len,
            std::fs::metadata(&path).unwrap().len(),
            "flushed at the checkpoint"
        );
        // Written after the checkpoint, then lost with the process: cut back and written again.
        sink.write(&one_column(&["lost"]).0).unwrap();
        sink.finish().unwrap();
        let mut sink = JsonLinesSink::new(Out::resume(&path, len).unwrap(), "out", columns);
        sink.write(&one_column(&["z"]).0).unwrap();
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"A\":\"x\"}\n{\"A\":\"y\"}\n{\"A\":\"z\"}\n");
        // A file shorter than the checkpoint says is not written over.
        std::fs::write(&path, b"").unwrap();
        let e = Out::resume(&path, len).err().unwrap().to_string();
        assert!(e.contains("fewer than the"), "{e}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_device_is_written_as_a_stream_with_nothing_to_cut_back() {
        let (batch, columns) = one_column(&["x"]);
        let out = Out::create(Path::new("/dev/null")).unwrap();
        assert!(matches!(out, Out::Stream(_)));
        let mut sink = JsonLinesSink::new(out, "/dev/null", columns);
        sink.write(&batch).unwrap();
        assert!(sink.checkpoint().unwrap().is_empty());
        assert!(matches!(
            Out::resume(Path::new("/dev/null"), 10).unwrap(),
            Out::Stream(_)
        ));
    }

    #[test]
    fn terminal_cells_are_cut_at_a_readable_width() {
        assert_eq!(cell("short".into()), "short");
        let long = "x".repeat(50);
        let cut = cell(long);
        assert_eq!(cut.chars().count(), MAX_CELL);
        assert!(cut.ends_with('…'));
        assert_eq!(cell("é".repeat(MAX_CELL)), "é".repeat(MAX_CELL));
    }
}
