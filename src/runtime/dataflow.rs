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
use crate::exec::{Emit, Held, Operator, advance_with_bound, push_through};
use crate::plan::{OperatorSpec, Plan};
use crate::state::Snapshot;

/// Watches a running dataflow (the console, the metrics endpoint). Called on the engine thread
/// once per batch, never per row: an observer keeps its own work cheap when nobody looks.
pub trait Observer: Send + Sync {
    /// `batch` reached stream `stream` (a catalog index; error_stream's rows too).
    fn rows(&self, stream: usize, batch: &RecordBatch);
    /// An input read a chunk (`read`: its records, bytes, last records as read, and for
    /// Kinesis MillisBehindLatest) into source stream `stream`.
    fn input(&self, _stream: usize, _read: &crate::runtime::Decoded) {}
    /// A checkpoint was taken and took `took`.
    fn checkpoint(&self, _took: std::time::Duration) {}
    /// Reference table `name` was reloaded with `rows` rows.
    fn table(&self, _name: &str, _rows: usize) {}
    /// What each pump's operators hold (by the pump's index in the plan), about once a second.
    fn held(&self, _pumps: &[(usize, Vec<Held>)]) {}
}

struct StreamState {
    /// (pump, which of its inputs) for every pump input reading this stream.
    readers: Vec<(usize, usize)>,
    writers: Vec<usize>,
    bound: i64,
    /// Each sink with its key in a checkpoint (`STREAM=LOCATION`).
    sinks: Vec<(String, Box<dyn Sink>)>,
    /// For streams with several writers: rows waiting until every writer has passed them.
    queues: Vec<Vec<RecordBatch>>,
    writer_bounds: Vec<i64>,
}

struct PumpState {
    /// The pump's index in the plan.
    plan_index: usize,
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
    /// The run ended on Ctrl-C or SIGTERM, not at the end of its input.
    pub interrupted: bool,
}

/// The running application.
pub struct Dataflow {
    streams: Vec<StreamState>,
    /// The source streams (catalog indexes), fed by inputs or by nothing.
    sources: Vec<usize>,
    pumps: Vec<PumpState>,
    error_stream: usize,
    pending_errors: Vec<ErrorRow>,
    /// ERROR_TIME for errors raised now (the bound in replay, the wall clock in live mode).
    pub error_time: i64,
    /// Replay mode: errors are dated by their DATA_ROWTIME.
    pub replay: bool,
    pub stats: Stats,
    /// Told of every batch that reaches a stream, when set.
    pub observer: Option<Arc<dyn Observer>>,
    /// The outputs delivered to a service (Kinesis, Firehose, Lambda), with their counters.
    pub deliveries: Vec<Delivery>,
}

/// An output delivered to a service, and its live counters.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub stream: String,
    /// The location, as `--output` writes it.
    pub destination: String,
    /// A Lambda function (KDA's `LambdaDelivery.*` metrics).
    pub lambda: bool,
    pub stats: crate::connectors::deliver::StatsHandle,
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
                plan_index: i,
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
        let sources = plan
            .catalog
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StreamKind::Source)
            .map(|(i, _)| i)
            .collect();
        Ok(Dataflow {
            streams,
            sources,
            pumps,
            error_stream,
            pending_errors: vec![],
            error_time: 0,
            replay: false,
            stats: Stats::default(),
            observer: None,
            deliveries: Vec::new(),
        })
    }

    /// The source streams, whether an input feeds them or not.
    pub fn sources(&self) -> &[usize] {
        &self.sources
    }

    /// What each pump's operators hold, by the pump's index in the plan: each input's stages,
    /// the join, then the stages after it (as `explain` lists them).
    pub fn held(&self) -> Vec<(usize, Vec<Held>)> {
        self.pumps
            .iter()
            .map(|p| {
                let mut held: Vec<Held> = p.inputs.iter().flatten().map(|op| op.held()).collect();
                held.extend(p.join.as_ref().map(StreamJoin::held));
                held.extend(p.ops.iter().map(|op| op.held()));
                (p.plan_index, held)
            })
            .collect()
    }

    /// Whether anything delivers stream `stream` (an output of the run).
    pub fn has_sinks(&self, stream: usize) -> bool {
        !self.streams[stream].sinks.is_empty()
    }

    /// Sends a stream's rows to `sink` as well; `key` names it in checkpoints.
    pub fn add_sink(&mut self, stream: usize, key: impl Into<String>, sink: Box<dyn Sink>) {
        self.streams[stream].sinks.push((key.into(), sink));
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
                for (_, sink) in &mut s.sinks {
                    sink.finish()?;
                }
            }
        }
        self.collect_rejected()?;
        for (_, sink) in &mut self.streams[error_stream].sinks {
            sink.finish()?;
        }
        Ok(())
    }

    /// Every sink's state for a checkpoint, by key, once what it was given is durable: the
    /// streams' sinks first, then error_stream's, which by then hold the rows the others
    /// refused. With `deliver`, buffered rows are delivered first (a clean stop leaves nothing
    /// that only the checkpoint holds).
    pub fn checkpoint_sinks(&mut self, deliver: bool) -> Result<Vec<(String, Snapshot)>> {
        self.flush_errors()?;
        let error_stream = self.error_stream;
        let mut states = Vec::new();
        let mut take = |sinks: &mut Vec<(String, Box<dyn Sink>)>| -> Result<()> {
            for (key, sink) in sinks {
                if deliver {
                    sink.flush()?;
                }
                states.push((key.clone(), sink.checkpoint()?));
            }
            Ok(())
        };
        for (i, s) in self.streams.iter_mut().enumerate() {
            if i != error_stream {
                take(&mut s.sinks)?;
            }
        }
        self.collect_rejected()?;
        take(&mut self.streams[error_stream].sinks)?;
        Ok(states)
    }

    /// The state of every operator, stream bound and merge queue, for a checkpoint (taken
    /// between two batches, after [`Dataflow::checkpoint_sinks`]).
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let mut all = Snapshot::empty();
        let ops_state = |all: &mut Snapshot, ops: &mut [Box<dyn Operator>]| {
            ops.iter_mut()
                .map(|op| Ok(all.nest(op.snapshot()?)))
                .collect::<Result<Vec<_>>>()
        };
        let mut pumps = Vec::with_capacity(self.pumps.len());
        for p in &mut self.pumps {
            let inputs = p
                .inputs
                .iter_mut()
                .map(|ops| ops_state(&mut all, ops))
                .collect::<Result<Vec<_>>>()?;
            let join = match &p.join {
                Some(j) => all.nest(j.snapshot()?),
                None => serde_json::Value::Null,
            };
            let ops = ops_state(&mut all, &mut p.ops)?;
            pumps.push(serde_json::json!({ "inputs": inputs, "join": join, "ops": ops }));
        }
        let streams: Vec<serde_json::Value> = self
            .streams
            .iter()
            .map(|s| {
                let queues: Vec<serde_json::Value> = s
                    .queues
                    .iter()
                    .map(|q| {
                        all.nest(Snapshot {
                            meta: serde_json::Value::Null,
                            batches: q.clone(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "bound": s.bound,
                    "writer_bounds": s.writer_bounds,
                    "queues": queues,
                })
            })
            .collect();
        all.meta = serde_json::json!({
            "pumps": pumps,
            "streams": streams,
            "error_time": self.error_time,
            "stats": [self.stats.rows_in, self.stats.rows_out, self.stats.errors],
        });
        Ok(all)
    }

    /// Puts back a [`Dataflow::snapshot`] into a dataflow just built from the same plan.
    pub fn restore(&mut self, state: &Snapshot) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct PumpState {
            inputs: Vec<Vec<serde_json::Value>>,
            join: serde_json::Value,
            ops: Vec<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct StreamSaved {
            bound: i64,
            writer_bounds: Vec<i64>,
            queues: Vec<serde_json::Value>,
        }
        let differs = |what: &str| {
            crate::error::Error::Application(format!(
                "checkpoint: its {what} do not match this application's; it was taken by another version of the application"
            ))
        };
        let pumps: Vec<PumpState> = state.field("pumps")?;
        let streams: Vec<StreamSaved> = state.field("streams")?;
        if pumps.len() != self.pumps.len() || streams.len() != self.streams.len() {
            return Err(differs("pumps or streams"));
        }
        let restore_ops = |ops: &mut [Box<dyn Operator>], saved: &[serde_json::Value]| {
            if ops.len() != saved.len() {
                return Err(differs("operators"));
            }
            for (op, at) in ops.iter_mut().zip(saved) {
                op.restore(&state.nested(at)?)?;
            }
            Ok(())
        };
        for (p, saved) in self.pumps.iter_mut().zip(&pumps) {
            if p.inputs.len() != saved.inputs.len() {
                return Err(differs("pump inputs"));
            }
            for (ops, at) in p.inputs.iter_mut().zip(&saved.inputs) {
                restore_ops(ops, at)?;
            }
            match (&mut p.join, saved.join.is_null()) {
                (Some(j), false) => j.restore(&state.nested(&saved.join)?)?,
                (None, true) => {}
                _ => return Err(differs("joins")),
            }
            restore_ops(&mut p.ops, &saved.ops)?;
        }
        for (s, saved) in self.streams.iter_mut().zip(streams) {
            if s.queues.len() != saved.queues.len() {
                return Err(differs("stream writers"));
            }
            s.bound = saved.bound;
            s.writer_bounds = saved.writer_bounds;
            for (q, at) in s.queues.iter_mut().zip(&saved.queues) {
                *q = state.nested(at)?.batches;
            }
        }
        self.error_time = state.field("error_time")?;
        let [rows_in, rows_out, errors]: [u64; 3] = state.field("stats")?;
        self.stats = Stats {
            rows_in,
            rows_out,
            errors,
            interrupted: false,
        };
        // Errors reported before the checkpoint were written then.
        self.pending_errors.clear();
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
            .flat_map(|(_, sink)| sink.take_rejected())
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
        if let Some(o) = &self.observer {
            o.rows(self.error_stream, &batch);
        }
        for (_, sink) in &mut self.streams[self.error_stream].sinks {
            sink.write(&batch)?;
        }
        Ok(())
    }

    fn deliver(&mut self, stream: usize, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(o) = &self.observer {
            o.rows(stream, &batch);
        }
        let is_output = !self.streams[stream].sinks.is_empty();
        for (_, sink) in &mut self.streams[stream].sinks {
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
