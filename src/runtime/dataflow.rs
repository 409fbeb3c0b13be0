//! [`Dataflow`]: the planned pumps wired into one synchronous graph.
//!
//! A source batch is pushed into its stream, flows through every pump reading that stream (in
//! pump order), and what a pump emits is delivered to its target stream, recursively. A stream
//! written by several pumps merges their rows in ROWTIME order, releasing rows only up to the
//! smallest bound of its writers. Progress (the ROWTIME bound) follows the same paths, which is
//! what closes windows.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::{StreamKind, rowtime};
use crate::connectors::Sink;
use crate::error::Result;
use crate::error_stream::{ErrorRow, error_batch};
use crate::exec::stream_join::StreamJoin;
use crate::exec::{Emit, Operator, advance_with_bound, push_through};
use crate::plan::{OperatorSpec, Plan};

struct StreamState {
    /// (pump, which of its inputs) for every pump input reading this stream.
    readers: Vec<(usize, usize)>,
    writers: Vec<usize>,
    bound: i64,
    sinks: Vec<Box<dyn Sink>>,
    /// For streams with several writers: rows waiting until every writer has passed them.
    queues: Vec<Vec<RecordBatch>>,
    writer_bounds: Vec<i64>,
}

struct PumpState {
    target: usize,
    /// The stages of each input before the join (empty for a one-input pump).
    inputs: Vec<Vec<Box<dyn Operator>>>,
    join: Option<StreamJoin>,
    /// The stages after the join (or the whole pump for one input).
    ops: Vec<Box<dyn Operator>>,
}

/// Counters shown in the progress line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rows_in: u64,
    pub rows_out: u64,
    pub errors: u64,
}

/// The running application.
pub struct Dataflow {
    streams: Vec<StreamState>,
    pumps: Vec<PumpState>,
    error_stream: usize,
    pending_errors: Vec<ErrorRow>,
    /// ERROR_TIME for errors raised now (the bound in replay, the wall clock in live mode).
    pub error_time: i64,
    /// Replay mode: errors are dated by their DATA_ROWTIME.
    pub replay: bool,
    pub stats: Stats,
}

impl Dataflow {
    /// Builds the operators of every pump; `tables` holds the loaded reference tables.
    pub fn new(plan: &Plan, tables: &HashMap<String, RecordBatch>) -> Result<Dataflow> {
        let mut streams: Vec<StreamState> = plan
            .catalog
            .streams
            .iter()
            .map(|_| StreamState {
                readers: vec![],
                writers: vec![],
                bound: i64::MIN,
                sinks: vec![],
                queues: vec![],
                writer_bounds: vec![],
            })
            .collect();
        let mut pumps = Vec::new();
        for i in plan.pump_order() {
            let p = &plan.pumps[i];
            let build = |ops: &[OperatorSpec]| {
                ops.iter()
                    .map(|o| o.build(tables))
                    .collect::<Result<Vec<_>>>()
            };
            let id = pumps.len();
            for (k, input) in p.inputs.iter().enumerate() {
                streams[input.source].readers.push((id, k));
            }
            streams[p.target].writers.push(id);
            pumps.push(PumpState {
                target: p.target,
                inputs: p
                    .inputs
                    .iter()
                    .map(|i| build(&i.ops))
                    .collect::<Result<_>>()?,
                join: p
                    .join
                    .as_ref()
                    .map(|j| StreamJoin::new(Arc::clone(j)))
                    .transpose()?,
                ops: build(&p.ops)?,
            });
        }
        for s in &mut streams {
            s.queues = vec![Vec::new(); s.writers.len()];
            s.writer_bounds = vec![i64::MIN; s.writers.len()];
        }
        let error_stream = plan
            .catalog
            .streams
            .iter()
            .position(|s| s.kind == StreamKind::Error)
            .expect("the catalog has error_stream");
        Ok(Dataflow {
            streams,
            pumps,
            error_stream,
            pending_errors: vec![],
            error_time: 0,
            replay: false,
            stats: Stats::default(),
        })
    }

    /// Sends a stream's rows to `sink` as well.
    pub fn add_sink(&mut self, stream: usize, sink: Box<dyn Sink>) {
        self.streams[stream].sinks.push(sink);
    }

    /// Records rows that could not be processed (written at the next flush).
    pub fn report(&mut self, errors: Vec<ErrorRow>) {
        self.pending_errors.extend(errors);
    }

    /// Pushes a source batch (columns + ROWTIME + trailing ROWTIME) into `stream`.
    pub fn push(&mut self, stream: usize, batch: RecordBatch) -> Result<()> {
        self.stats.rows_in += batch.num_rows() as u64;
        self.deliver(stream, batch)?;
        self.flush_errors()
    }

    /// Raises the ROWTIME bound of a source stream (`i64::MAX` at end of input).
    pub fn advance(&mut self, stream: usize, bound: i64) -> Result<()> {
        self.advance_stream(stream, bound)?;
        self.flush_errors()
    }

    /// Finishes every sink at the end of the run: the streams' first, then error_stream's, so
    /// that rows a destination refused while finishing still reach error_stream.
    pub fn finish(&mut self) -> Result<()> {
        self.flush_errors()?;
        let error_stream = self.error_stream;
        for (i, s) in self.streams.iter_mut().enumerate() {
            if i != error_stream {
                for sink in &mut s.sinks {
                    sink.finish()?;
                }
            }
        }
        self.collect_rejected()?;
        for sink in &mut self.streams[error_stream].sinks {
            sink.finish()?;
        }
        Ok(())
    }

    /// Gives reference table `name` new rows: every lookup join that reads it uses them from the
    /// next batch on (between two batches, so no batch sees two versions). Returns how many
    /// operators read the table.
    pub fn replace_table(&mut self, name: &str, rows: &RecordBatch) -> Result<usize> {
        let mut replaced = 0;
        for pump in &mut self.pumps {
            let ops = pump.inputs.iter_mut().flatten().chain(pump.ops.iter_mut());
            for op in ops {
                replaced += usize::from(op.replace_table(name, rows)?);
            }
        }
        Ok(replaced)
    }

    /// Reports in error_stream the rows destinations refused for good.
    pub fn collect_rejected(&mut self) -> Result<()> {
        let rejected: Vec<ErrorRow> = self
            .streams
            .iter_mut()
            .flat_map(|s| s.sinks.iter_mut())
            .flat_map(|sink| sink.take_rejected())
            .collect();
        if rejected.is_empty() {
            return Ok(());
        }
        self.report(rejected);
        self.flush_errors()
    }

    /// Writes the error rows reported so far to error_stream's sinks.
    pub fn flush_errors(&mut self) -> Result<()> {
        if self.pending_errors.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.pending_errors);
        if self.replay {
            // Errors are dated by their rows' ROWTIME: keep error_stream in ROWTIME order.
            rows.sort_by_key(|r| r.data_rowtime.unwrap_or(self.error_time));
        }
        self.stats.errors += rows.len() as u64;
        let batch = error_batch(&rows, self.error_time, self.replay);
        for sink in &mut self.streams[self.error_stream].sinks {
            sink.write(&batch)?;
        }
        Ok(())
    }

    fn deliver(&mut self, stream: usize, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let is_output = !self.streams[stream].sinks.is_empty();
        for sink in &mut self.streams[stream].sinks {
            sink.write(&batch)?;
        }
        if is_output {
            self.stats.rows_out += batch.num_rows() as u64;
        }
        for (r, input) in self.streams[stream].readers.clone() {
            let pump = &mut self.pumps[r];
            let errors = &mut self.pending_errors;
            let result = match &mut pump.join {
                None => push_through(&mut pump.ops, batch.clone(), errors),
                Some(join) => {
                    let mut out = Emit::default();
                    for b in push_through(&mut pump.inputs[input], batch.clone(), errors)? {
                        join.push(input, b, &mut out)?;
                    }
                    errors.append(&mut out.errors);
                    Ok(vec![])
                }
            };
            for out in result? {
                self.emit(r, out)?;
            }
        }
        Ok(())
    }

    /// A pump produced `batch` for its target stream.
    fn emit(&mut self, pump: usize, batch: RecordBatch) -> Result<()> {
        let target = self.pumps[pump].target;
        let s = &mut self.streams[target];
        if s.writers.len() == 1 {
            return self.deliver(target, batch);
        }
        let w = s
            .writers
            .iter()
            .position(|x| *x == pump)
            .expect("pump writes this stream");
        s.queues[w].push(batch);
        Ok(())
    }

    fn advance_stream(&mut self, stream: usize, bound: i64) -> Result<()> {
        if bound <= self.streams[stream].bound {
            return Ok(());
        }
        self.streams[stream].bound = bound;
        for (r, input) in self.streams[stream].readers.clone() {
            let pump = &mut self.pumps[r];
            let errors = &mut self.pending_errors;
            let result = match &mut pump.join {
                None => advance_with_bound(&mut pump.ops, vec![], bound, errors),
                Some(join) => {
                    // The input's own stages, then the join, then the stages after it.
                    let (batches, input_bound) =
                        advance_with_bound(&mut pump.inputs[input], vec![], bound, errors)?;
                    let mut out = Emit::default();
                    for b in batches {
                        join.push(input, b, &mut out)?;
                    }
                    join.advance(input, input_bound, &mut out)?;
                    errors.append(&mut out.errors);
                    advance_with_bound(&mut pump.ops, out.batches, join.output_bound(), errors)
                }
            };
            let (batches, pump_bound) = result?;
            for out in batches {
                self.emit(r, out)?;
            }
            self.pump_progress(r, pump_bound)?;
        }
        Ok(())
    }

    /// A pump will emit nothing below `bound`: release merged rows and advance its target.
    fn pump_progress(&mut self, pump: usize, bound: i64) -> Result<()> {
        let target = self.pumps[pump].target;
        if self.streams[target].writers.len() == 1 {
            return self.advance_stream(target, bound);
        }
        let s = &mut self.streams[target];
        let w = s
            .writers
            .iter()
            .position(|x| *x == pump)
            .expect("pump writes this stream");
        s.writer_bounds[w] = bound;
        let release = *s.writer_bounds.iter().min().expect("at least one writer");
        if let Some(batch) = release_merged(&mut s.queues, release)? {
            self.deliver(target, batch)?;
        }
        self.advance_stream(target, release)
    }
}

/// Takes the queued rows with ROWTIME ≤ `upto` from every writer, in ROWTIME order
/// (ties keep writer order, then arrival order).
fn release_merged(queues: &mut [Vec<RecordBatch>], upto: i64) -> Result<Option<RecordBatch>> {
    let mut ready: Vec<RecordBatch> = Vec::new();
    for q in queues.iter_mut() {
        let mut keep = Vec::new();
        for b in q.drain(..) {
            let rt = rowtime(&b);
            let n = (0..b.num_rows())
                .take_while(|i| rt.value(*i) <= upto)
                .count();
            if n > 0 {
                ready.push(b.slice(0, n));
            }
            if n < b.num_rows() {
                keep.push(b.slice(n, b.num_rows() - n));
            }
        }
        *q = keep;
    }
    if ready.is_empty() {
        return Ok(None);
    }
    let merged = concat_batches(&ready[0].schema(), &ready)?;
    let order: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..merged.num_rows() as u32));
    let rt: ArrayRef = Arc::clone(merged.column(merged.num_columns() - 1));
    let indices = lexsort_to_indices(
        &[
            SortColumn {
                values: rt,
                options: None,
            },
            SortColumn {
                values: order,
                options: None,
            },
        ],
        None,
    )?;
    Ok(Some(take_record_batch(&merged, &indices)?))
}
