//! T-sort: `ORDER BY ts WITHIN INTERVAL '10' SECOND` (SQLREF sqlrf_T-sorting_Stream_Input.html)
//! reorders rows whose timestamp `ts` (an event time, selected `AS ROWTIME`) arrives out of order:
//! "a sliding time-based window of incoming rows" in which rows are sorted by `ts`.
//!
//! A row waits until a row whose `ts` is `within` later has arrived (the newest `ts` seen, less
//! `within`, has reached it), then leaves in `ts` order, with `ts` as its ROWTIME; rows of one
//! `ts` keep their arrival order. The input's ROWTIME bounds are not used ("you cannot use
//! incoming rowtime bounds. These are ignored by the system"): only rows move the sort on, and
//! the end of the input releases every row still waiting. A row whose `ts` is more than `within`
//! older than the newest seen cannot be put in order any more, and one whose `ts` is NULL has no
//! place (KDA discards it): both go to `error_stream` (`ROWTIME_ERROR`), so nothing is dropped
//! without a trace.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Emit, Operator};
use crate::catalog::timestamp_ms;
use crate::error::Result;
use crate::error_stream::{ErrorRow, ROWTIME_ERROR};
use crate::format::row_as_json;
use crate::state::Snapshot;

/// Plan node: a T-sort.
#[derive(Debug)]
pub struct TSortSpec {
    /// The column sorted by (the query's ROWTIME column).
    pub key: usize,
    /// How late a row may come, in milliseconds.
    pub within: i64,
    /// Input and output: the visible columns, then ROWTIME.
    pub schema: SchemaRef,
    pub visible: usize,
    pub pump: String,
}

impl fmt::Display for TSortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "T-sort by {} within {}",
            self.schema.field(self.key).name(),
            crate::time::WindowWidth::Millis(self.within)
        )
    }
}

pub struct TSort {
    spec: Arc<TSortSpec>,
    /// Rows waiting, in `ts` order.
    held: Option<RecordBatch>,
    /// The newest `ts` seen.
    newest: i64,
}

impl TSort {
    pub fn new(spec: Arc<TSortSpec>) -> TSort {
        TSort {
            spec,
            held: None,
            newest: i64::MIN,
        }
    }

    /// No row with an earlier `ts` can still be put in order.
    fn watermark(&self) -> i64 {
        self.newest.saturating_sub(self.spec.within)
    }

    /// Sorts `rows` by `ts` (stable) and releases those at or before `upto`; the rest wait.
    fn release(&mut self, rows: RecordBatch, upto: i64, out: &mut Emit) -> Result<()> {
        let ts = timestamp_ms(rows.column(self.spec.key))?;
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        order.sort_by_key(|i| ts.value(*i as usize));
        let ready = order.partition_point(|i| ts.value(*i as usize) <= upto);
        let part = |indices: &[u32]| -> Result<RecordBatch> {
            let indices = UInt32Array::from(indices.to_vec());
            let columns = rows
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(rows.schema(), columns)?)
        };
        if ready > 0 {
            let released = part(&order[..ready])?;
            // The sorted-by timestamp becomes the ROWTIME.
            let mut columns = released.columns().to_vec();
            let times = timestamp_ms(released.column(self.spec.key))?;
            *columns.last_mut().expect("a ROWTIME column") =
                Arc::new(TimestampMillisecondArray::from(times.values().to_vec()));
            out.batches
                .push(RecordBatch::try_new(released.schema(), columns)?);
        }
        self.held = (ready < order.len())
            .then(|| part(&order[ready..]))
            .transpose()?;
        Ok(())
    }
}

impl Operator for TSort {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: 0,
            rows: self.held.as_ref().map_or(0, RecordBatch::num_rows),
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let ts = timestamp_ms(batch.column(self.spec.key))?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let problem = if ts.is_null(i) {
                Some("T-sort: the timestamp to sort by (the query's ROWTIME) is NULL".to_string())
            } else if ts.value(i) < self.watermark() {
                Some(format!(
                    "T-sort: the row's timestamp {} is more than {} before {}, the latest seen, and can no longer be put in order",
                    crate::time::timestamp_text(ts.value(i)),
                    crate::time::WindowWidth::Millis(self.spec.within),
                    crate::time::timestamp_text(self.newest)
                ))
            } else {
                None
            };
            match problem {
                Some(message) => {
                    keep.push(false);
                    out.errors.push(ErrorRow {
                        name: ROWTIME_ERROR,
                        message,
                        data_rowtime: Some(crate::catalog::rowtime(&batch).value(i)),
                        data_row: row_as_json(&batch, self.spec.visible, i).into_bytes(),
                        pump: Some(self.spec.pump.clone()),
                    });
                }
                None => {
                    keep.push(true);
                    self.newest = self.newest.max(ts.value(i));
                }
            }
        }
        let accepted = datafusion::arrow::compute::filter_record_batch(
            &batch,
            &datafusion::arrow::array::BooleanArray::from(keep),
        )?;
        let rows = match self.held.take() {
            Some(held) => concat_batches(&self.spec.schema, [&held, &accepted])?,
            None => accepted,
        };
        self.release(rows, self.watermark(), out)
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        // Bounds do not move a T-sort; the end of the input releases what waits.
        if bound == i64::MAX
            && let Some(held) = self.held.take()
        {
            self.release(held, i64::MAX, out)?;
        }
        Ok(())
    }

    fn output_bound(&self, input_bound: i64) -> i64 {
        if input_bound == i64::MAX && self.held.is_none() {
            return i64::MAX;
        }
        // Rows still to come have a timestamp at or after the watermark (or are errors), and so
        // do the rows waiting.
        let waiting = self
            .held
            .as_ref()
            .and_then(|h| timestamp_ms(h.column(self.spec.key)).ok())
            .map_or(i64::MAX, |ts| ts.value(0));
        self.watermark().min(waiting)
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot {
            meta: serde_json::json!({ "newest": self.newest }),
            batches: self.held.iter().cloned().collect(),
        })
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.newest = state.field("newest")?;
        self.held = state.batches.first().cloned();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::exec::test_util::{rows, straight_and_resumed};
    use crate::types::SqlType;

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        let columns = [("ET", SqlType::Timestamp), ("N", SqlType::Integer)];
        let input = rows(
            &columns,
            "ROWTIME             | ET                  | N
             2020-01-01 01:00:00 | 2020-01-01 00:00:05 | 1
             2020-01-01 01:00:01 | 2020-01-01 00:00:01 | 2
             2020-01-01 01:00:02 | 2020-01-01 00:00:09 | 3
             2020-01-01 01:00:03 | NULL                | 4
             2020-01-01 01:00:04 | 2020-01-01 00:00:12 | 5
             2020-01-01 01:00:05 | 2020-01-01 00:00:01 | 6
             2020-01-01 01:00:06 | 2020-01-01 00:00:30 | 7",
        );
        let code = "CREATE STREAM OUT (ET TIMESTAMP, N INTEGER);
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM ET AS ROWTIME, ET, N FROM S ORDER BY ET WITHIN INTERVAL '5' SECOND;";
        for cut in 0..=input.num_rows() {
            let (straight, resumed) = straight_and_resumed(code, &columns, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
        let (straight, _) = straight_and_resumed(code, &columns, &[], &input, 0);
        // In ET order; the NULL and the row 11 s late went to error_stream.
        let order: Vec<&str> = straight
            .lines()
            .filter_map(|l| l.split('|').nth(2).map(str::trim))
            .filter(|n| n.parse::<i32>().is_ok())
            .collect();
        assert_eq!(order, ["2", "1", "3", "5", "7"], "{straight}");
        assert_eq!(straight.matches("ROWTIME_ERROR").count(), 2, "{straight}");
    }
}
