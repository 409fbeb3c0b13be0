//! Stream-to-stream join: `FROM a OVER (RANGE INTERVAL 'n' unit PRECEDING) [LEFT|RIGHT|FULL] JOIN b …`.
//!
//! Each side has a window length `d` (0 for a side without `OVER`: only rows at the same ROWTIME
//! take part). A row `r` of a side stays joinable until `r.ROWTIME + d(r's side)`, so a left row
//! `l` and a right row `r` are joined when they satisfy the ON condition and
//! `r.ROWTIME - d(left) <= l.ROWTIME <= r.ROWTIME + d(right)`. The joined row's ROWTIME is the
//! later of the two. A preserved row of an outer join that found no partner is emitted, padded
//! with NULLs, when it stops being joinable: at `ROWTIME + d(its side)` (EX-15: an order in a
//! 1-minute window is emitted 1 minute later; EX-13: a shipment without a window is emitted at
//! once). This is symmetric, so FULL joins work the same way.
//!
//! A side with a `ROWS n PRECEDING` window instead keeps its last `n + 1` rows: a row of the
//! other side matches only those (with the ON condition), whatever their ROWTIME; a row pushed out
//! by a newer one stops being joinable at that row's ROWTIME (an outer join emits it then, if it
//! found no partner), and the rows still held at the end of the input are emitted at the latest
//! ROWTIME either side reached.
//!
//! Determinism: rows are joined in ROWTIME order across both inputs, left before right at equal
//! ROWTIMEs, and only once both inputs have passed that ROWTIME. The output therefore depends only
//! on the input rows, not on how they were split into batches, and it is in ROWTIME order.
//!
//! State: the rows still joinable on each side, indexed by their equality-key values (Arrow's row
//! format); rows are dropped as soon as the other input's bound makes them unjoinable, so state is
//! bounded by the window length times the input rate.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, TimestampMillisecondArray, new_null_array,
};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::eval::error_row;
use super::{Emit, evaluate, evaluate_or_isolate};
use crate::catalog::rowtime;
use crate::error::Result;
use crate::state::Snapshot;

/// Which rows of an outer join are kept without a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamJoinType {
    Inner,
    Left,
    Right,
    Full,
}

impl StreamJoinType {
    /// Whether the join keeps the rows of `side` (0 left, 1 right) that found no partner.
    pub fn preserves(self, side: usize) -> bool {
        matches!(
            (self, side),
            (StreamJoinType::Full, _) | (StreamJoinType::Left, 0) | (StreamJoinType::Right, 1)
        )
    }
}

/// A planned stream-to-stream join. Side 0 is the left input, side 1 the right.
#[derive(Debug)]
pub struct StreamJoinSpec {
    pub join_type: StreamJoinType,
    /// Window length of each side in milliseconds (0: no window).
    pub windows: [i64; 2],
    /// `ROWS n PRECEDING` on a side: it keeps its last `n + 1` rows (its `windows` entry is 0).
    pub rows: [Option<u64>; 2],
    /// How far each side's rows are moved back in time for joining (a FOLLOWING window's
    /// length; 0 for PRECEDING): its rows and bound count as that much earlier.
    pub shifts: [i64; 2],
    /// Equality keys of each side (the same number, pairwise of one type).
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The rest of the ON condition, over the joined row.
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// Each input's batch schema (visible columns + trailing ROWTIME).
    pub inputs: [SchemaRef; 2],
    /// Output: the left's visible columns, the right's, then ROWTIME.
    pub schema: SchemaRef,
    pub display: String,
    pub pump: String,
}

impl fmt::Display for StreamJoinSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = |side: usize| match (self.windows[side], self.shifts[side]) {
            _ if self.rows[side].is_some() => {
                format!(
                    "window {} rows preceding",
                    self.rows[side].unwrap_or_default()
                )
            }
            (0, _) => "no window".to_string(),
            (ms, 0) => format!("window {}", crate::time::WindowWidth::Millis(ms)),
            (ms, _) => format!("window {} following", crate::time::WindowWidth::Millis(ms)),
        };
        write!(
            f,
            "stream join {:?} (left {}, right {}) on {}",
            self.join_type,
            window(0),
            window(1),
            self.display
        )
    }
}

/// One input row held by the join.
struct Entry {
    batch: u64,
    row: u32,
    rowtime: i64,
    /// The equality keys in row format; None when a key is NULL (such rows never match).
    key: Option<Box<[u8]>>,
    matched: bool,
}

#[derive(Default)]
struct Side {
    /// Batches that rows in `waiting` or `joinable` point into, with how many rows still do.
    batches: HashMap<u64, (RecordBatch, usize)>,
    next_batch: u64,
    /// Rows not yet joined (the other input has not passed their ROWTIME), in ROWTIME order.
    waiting: VecDeque<Entry>,
    /// Joined rows that later rows of the other side can still match, in ROWTIME order; the
    /// front has sequence number `first_seq`.
    joinable: VecDeque<Entry>,
    first_seq: u64,
    by_key: HashMap<Box<[u8]>, VecDeque<u64>>,
    bound: i64,
}

impl Side {
    fn release(&mut self, batch: u64) {
        if let Some(b) = self.batches.get_mut(&batch) {
            b.1 -= 1;
            if b.1 == 0 {
                self.batches.remove(&batch);
            }
        }
    }
}

/// A reference to a row of one side, or NULLs.
type RowRef = Option<(u64, u32)>;

/// The running join.
pub struct StreamJoin {
    spec: Arc<StreamJoinSpec>,
    sides: [Side; 2],
    converters: [Option<RowConverter>; 2],
    /// Batches of rows dropped from state, to release once the output is built.
    expired: Vec<(usize, u64)>,
    /// Both inputs have ended (a bound of `i64::MAX`): a ROWS window's rows leave then.
    ended: [bool; 2],
}

impl StreamJoin {
    /// The rows held: waiting for the other side, or joinable with its later rows.
    pub fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: 0,
            rows: self
                .sides
                .iter()
                .map(|s| s.waiting.len() + s.joinable.len())
                .sum(),
        }
    }

    pub fn new(spec: Arc<StreamJoinSpec>) -> Result<StreamJoin> {
        let converter = |side: usize| -> Result<Option<RowConverter>> {
            if spec.keys[side].is_empty() {
                return Ok(None);
            }
            let fields = spec.keys[side]
                .iter()
                .map(|k| Ok(SortField::new(k.data_type(&spec.inputs[side])?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(RowConverter::new(fields)?))
        };
        let converters = [converter(0)?, converter(1)?];
        let mut sides = [Side::default(), Side::default()];
        for s in &mut sides {
            s.bound = i64::MIN;
        }
        Ok(StreamJoin {
            spec,
            sides,
            converters,
            expired: Vec::new(),
            ended: [false; 2],
        })
    }

    /// Takes a batch of one input; its rows are joined once both inputs have passed them.
    pub fn push(&mut self, side: usize, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let visible = batch.num_columns() - 1;
        let keys = &self.spec.keys[side];
        let Some((keys, batch)) = evaluate_or_isolate(
            &batch,
            visible,
            &self.spec.pump,
            out,
            |b| evaluate(keys, b),
            |parts| {
                (0..parts[0].len())
                    .map(|c| {
                        let arrays: Vec<&dyn Array> = parts.iter().map(|p| p[c].as_ref()).collect();
                        Ok(datafusion::arrow::compute::concat(&arrays)?)
                    })
                    .collect()
            },
        )?
        else {
            return Ok(());
        };
        let rows = match &self.converters[side] {
            Some(c) => Some(c.convert_columns(&keys)?),
            None => None,
        };
        let shift = self.spec.shifts[side];
        let s = &mut self.sides[side];
        let id = s.next_batch;
        s.next_batch += 1;
        let times = rowtime(&batch);
        for i in 0..batch.num_rows() {
            let key = match &rows {
                Some(_) if keys.iter().any(|k| k.is_null(i)) => None,
                Some(r) => Some(r.row(i).as_ref().into()),
                None => Some(Box::default()),
            };
            s.waiting.push_back(Entry {
                batch: id,
                row: i as u32,
                rowtime: times.value(i).saturating_sub(shift),
                key,
                matched: false,
            });
        }
        s.batches.insert(id, (batch.clone(), batch.num_rows()));
        Ok(())
    }

    /// Raises one input's bound; joins every row both inputs have passed.
    pub fn advance(&mut self, side: usize, bound: i64, out: &mut Emit) -> Result<()> {
        self.ended[side] |= bound == i64::MAX;
        let bound = bound.saturating_sub(self.spec.shifts[side]);
        self.sides[side].bound = self.sides[side].bound.max(bound);
        let until = self.output_bound();
        let mut rows: Vec<(RowRef, RowRef, i64)> = Vec::new();
        loop {
            let next = self
                .sides
                .iter()
                .filter_map(|s| s.waiting.front().map(|e| e.rowtime))
                .min();
            let Some(t) = next.filter(|t| *t < until) else {
                break;
            };
            self.expire(t, false, &mut rows);
            self.join_at(t, &mut rows, out)?;
        }
        // At the end of both inputs, once every row is joined, a ROWS window's rows leave too.
        let last = self.ended == [true, true] && self.sides.iter().all(|s| s.waiting.is_empty());
        self.expire(until, last, &mut rows);
        if !rows.is_empty() {
            out.batches.push(self.build(&rows)?);
        }
        for (side, batch) in std::mem::take(&mut self.expired) {
            self.sides[side].release(batch);
        }
        Ok(())
    }

    /// Both sides' held rows and positions, for a checkpoint: per side one batch of its rows
    /// (joinable ones first, then waiting ones, in order), with which were matched.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let mut batches = Vec::with_capacity(2);
        let mut sides = Vec::with_capacity(2);
        for (i, s) in self.sides.iter().enumerate() {
            let entries: Vec<&Entry> = s.joinable.iter().chain(&s.waiting).collect();
            let schema = &self.spec.inputs[i];
            let held: Vec<(usize, usize)> = {
                let ids: Vec<u64> = s.batches.keys().copied().collect();
                entries
                    .iter()
                    .map(|e| {
                        let b = ids
                            .iter()
                            .position(|id| *id == e.batch)
                            .expect("held batch");
                        (b, e.row as usize)
                    })
                    .collect()
            };
            let sources: Vec<&RecordBatch> = s.batches.values().map(|(b, _)| b).collect();
            let columns = (0..schema.fields().len())
                .map(|c| {
                    let arrays: Vec<&dyn Array> =
                        sources.iter().map(|b| b.column(c).as_ref()).collect();
                    if held.is_empty() {
                        Ok(new_null_array(schema.field(c).data_type(), 0))
                    } else {
                        Ok(interleave(&arrays, &held)?)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            batches.push(RecordBatch::try_new(Arc::clone(schema), columns)?);
            let matched: Vec<bool> = entries.iter().map(|e| e.matched).collect();
            sides.push(serde_json::json!({
                "joinable": s.joinable.len(),
                "matched": matched,
                "first_seq": s.first_seq,
                "bound": s.bound,
            }));
        }
        Ok(Snapshot {
            meta: serde_json::json!({ "sides": sides }),
            batches,
        })
    }

    /// Puts back a [`StreamJoin::snapshot`] into a join just built from the same spec.
    pub fn restore(&mut self, state: &Snapshot) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct SideState {
            joinable: usize,
            matched: Vec<bool>,
            first_seq: u64,
            bound: i64,
        }
        let sides: Vec<SideState> = state.field("sides")?;
        for (i, saved) in sides.into_iter().enumerate().take(2) {
            let batch = state.batch(i)?.clone();
            let keys = evaluate(&self.spec.keys[i], &batch)?;
            let rows = match &self.converters[i] {
                Some(c) if batch.num_rows() > 0 => Some(c.convert_columns(&keys)?),
                _ => None,
            };
            let times = rowtime(&batch).clone();
            let s = &mut self.sides[i];
            s.first_seq = saved.first_seq;
            s.bound = saved.bound;
            s.next_batch = 1;
            for row in 0..batch.num_rows() {
                let key = match &rows {
                    None if self.converters[i].is_some() => None,
                    None => Some(Box::default()),
                    Some(_) if keys.iter().any(|k| k.is_null(row)) => None,
                    Some(r) => Some(Box::from(r.row(row).as_ref())),
                };
                let entry = Entry {
                    batch: 0,
                    row: row as u32,
                    rowtime: times.value(row).saturating_sub(self.spec.shifts[i]),
                    key,
                    matched: saved.matched.get(row).copied().unwrap_or(false),
                };
                if row < saved.joinable {
                    if let Some(k) = &entry.key {
                        s.by_key
                            .entry(k.clone())
                            .or_default()
                            .push_back(saved.first_seq + row as u64);
                    }
                    s.joinable.push_back(entry);
                } else {
                    s.waiting.push_back(entry);
                }
            }
            if batch.num_rows() > 0 {
                let n = batch.num_rows();
                s.batches.insert(0, (batch, n));
            }
        }
        Ok(())
    }

    /// No row is emitted later with a ROWTIME below this.
    pub fn output_bound(&self) -> i64 {
        self.sides[0].bound.min(self.sides[1].bound)
    }

    /// Joins the waiting rows at ROWTIME `t`: left rows first, each against the right rows still
    /// joinable, then right rows against the left rows (including those just added).
    fn join_at(
        &mut self,
        t: i64,
        rows: &mut Vec<(RowRef, RowRef, i64)>,
        out: &mut Emit,
    ) -> Result<()> {
        // Candidate pairs: (left sequence number, right sequence number).
        let mut pairs: Vec<(u64, u64)> = Vec::new();
        for side in 0..2 {
            let other = 1 - side;
            while self.sides[side]
                .waiting
                .front()
                .is_some_and(|e| e.rowtime == t)
            {
                let entry = self.sides[side].waiting.pop_front().expect("front exists");
                let seq = self.sides[side].first_seq + self.sides[side].joinable.len() as u64;
                // A ROWS window on the other side: only its last n + 1 rows.
                let oldest = match self.spec.rows[other] {
                    Some(n) => {
                        let o = &self.sides[other];
                        (o.first_seq + o.joinable.len() as u64).saturating_sub(n.saturating_add(1))
                    }
                    None => 0,
                };
                if let Some(key) = &entry.key {
                    if let Some(partners) = self.sides[other].by_key.get(key) {
                        for p in partners.iter().filter(|p| **p >= oldest) {
                            pairs.push(if side == 0 { (seq, *p) } else { (*p, seq) });
                        }
                    }
                    self.sides[side]
                        .by_key
                        .entry(key.clone())
                        .or_default()
                        .push_back(seq);
                }
                self.sides[side].joinable.push_back(entry);
            }
        }
        if pairs.is_empty() {
            self.push_out(t, rows);
            return Ok(());
        }
        let refs: Vec<(RowRef, RowRef, i64)> = pairs
            .iter()
            .map(|(l, r)| (Some(self.locate(0, *l)), Some(self.locate(1, *r)), t))
            .collect();
        let keep: Vec<bool> = match &self.spec.residual {
            None => vec![true; refs.len()],
            Some(residual) => self.residual_mask(residual, &self.build(&refs)?, out),
        };
        for (((l, r), keep), row) in pairs.iter().zip(keep).zip(refs) {
            if keep {
                self.entry_mut(0, *l).matched = true;
                self.entry_mut(1, *r).matched = true;
                rows.push(row);
            }
        }
        self.push_out(t, rows);
        Ok(())
    }

    /// Which candidate rows satisfy the rest of the ON condition. A row on which it cannot be
    /// evaluated (a bad cast, a division by zero) goes to error_stream and does not match.
    fn residual_mask(
        &self,
        residual: &Arc<dyn PhysicalExpr>,
        candidates: &RecordBatch,
        out: &mut Emit,
    ) -> Vec<bool> {
        let eval = |b: &RecordBatch| -> Result<Vec<bool>> {
            let v = residual.evaluate(b)?.into_array(b.num_rows())?;
            Ok(v.as_boolean().iter().map(|x| x == Some(true)).collect())
        };
        if let Ok(mask) = eval(candidates) {
            return mask;
        }
        let visible = candidates.num_columns() - 1;
        (0..candidates.num_rows())
            .map(|i| match eval(&candidates.slice(i, 1)) {
                Ok(v) => v[0],
                Err(e) => {
                    out.errors
                        .push(error_row(candidates, visible, i, &e, &self.spec.pump));
                    false
                }
            })
            .collect()
    }

    fn locate(&self, side: usize, seq: u64) -> (u64, u32) {
        let e = self.entry(side, seq);
        (e.batch, e.row)
    }

    fn entry(&self, side: usize, seq: u64) -> &Entry {
        let s = &self.sides[side];
        &s.joinable[(seq - s.first_seq) as usize]
    }

    fn entry_mut(&mut self, side: usize, seq: u64) -> &mut Entry {
        let s = &mut self.sides[side];
        &mut s.joinable[(seq - s.first_seq) as usize]
    }

    /// Drops the rows that can no longer be joined before ROWTIME `t` (their ROWTIME plus their
    /// side's window is below `t`); an outer join emits its unmatched ones, in ROWTIME order.
    /// With `last`, the rows of ROWS windows go too.
    fn expire(&mut self, t: i64, last: bool, rows: &mut Vec<(RowRef, RowRef, i64)>) {
        // A ROWS window's rows leave when newer rows push them out (`join_at`), or `last`, when
        // both inputs have ended and every row is joined.
        let latest = self
            .sides
            .iter()
            .filter_map(|s| s.joinable.back().map(|e| e.rowtime))
            .max()
            .unwrap_or(i64::MIN);
        loop {
            let due = |side: usize| {
                let front = self.sides[side].joinable.front()?;
                match self.spec.rows[side] {
                    Some(_) => last.then_some(latest.max(front.rowtime)),
                    None => Some(front.rowtime.saturating_add(self.spec.windows[side]))
                        .filter(|end| *end < t),
                }
            };
            let side = match (due(0), due(1)) {
                (Some(a), Some(b)) if b < a => 1,
                (Some(_), _) => 0,
                (None, Some(_)) => 1,
                (None, None) => return,
            };
            let end = due(side).expect("due");
            self.drop_front(side, end, rows);
        }
    }

    /// Drops the front of `side`'s joinable rows, which stops being joinable at `end`; an outer
    /// join emits it if it found no partner.
    fn drop_front(&mut self, side: usize, end: i64, rows: &mut Vec<(RowRef, RowRef, i64)>) {
        let s = &mut self.sides[side];
        let e = s.joinable.pop_front().expect("a joinable row");
        let seq = s.first_seq;
        s.first_seq += 1;
        if let Some(key) = &e.key
            && let Some(list) = s.by_key.get_mut(key)
        {
            if list.front() == Some(&seq) {
                list.pop_front();
            }
            if list.is_empty() {
                s.by_key.remove(key);
            }
        }
        if !e.matched && self.spec.join_type.preserves(side) {
            let me = Some((e.batch, e.row));
            rows.push(if side == 0 {
                (me, None, end)
            } else {
                (None, me, end)
            });
        }
        // Released after the output rows, which may point into the batch, are built.
        self.expired.push((side, e.batch));
    }

    /// Drops the rows of `ROWS n PRECEDING` sides beyond their last `n + 1`, pushed out by rows
    /// joined at `t`.
    fn push_out(&mut self, t: i64, rows: &mut Vec<(RowRef, RowRef, i64)>) {
        for side in 0..2 {
            if let Some(n) = self.spec.rows[side] {
                while self.sides[side].joinable.len() as u64 > n.saturating_add(1) {
                    self.drop_front(side, t, rows);
                }
            }
        }
    }

    /// Builds output rows from references into both sides' batches.
    fn build(&self, rows: &[(RowRef, RowRef, i64)]) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.spec.schema.fields().len());
        for side in 0..2 {
            let refs: Vec<RowRef> = rows
                .iter()
                .map(|r| if side == 0 { r.0 } else { r.1 })
                .collect();
            columns.extend(self.gather(side, &refs)?);
        }
        columns.push(Arc::new(TimestampMillisecondArray::from_iter_values(
            rows.iter().map(|r| r.2),
        )));
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?)
    }

    /// The visible columns of `side` for each reference (NULLs for None).
    fn gather(&self, side: usize, refs: &[RowRef]) -> Result<Vec<ArrayRef>> {
        let input = &self.spec.inputs[side];
        let visible = input.fields().len() - 1;
        let mut ids: Vec<u64> = Vec::new();
        let mut indices: Vec<(usize, usize)> = Vec::with_capacity(refs.len());
        for r in refs {
            indices.push(match r {
                Some((batch, row)) => {
                    let i = ids.iter().position(|b| b == batch).unwrap_or_else(|| {
                        ids.push(*batch);
                        ids.len() - 1
                    });
                    (i, *row as usize)
                }
                None => (usize::MAX, 0),
            });
        }
        let nulls = ids.len();
        for i in &mut indices {
            if i.0 == usize::MAX {
                i.0 = nulls;
            }
        }
        let batches: Vec<&RecordBatch> = ids
            .iter()
            .map(|id| &self.sides[side].batches[id].0)
            .collect();
        (0..visible)
            .map(|c| {
                let null = new_null_array(input.field(c).data_type(), 1);
                let mut arrays: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                arrays.push(null.as_ref());
                Ok(interleave(&arrays, &indices)?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;

    const STREAMS: &str = "CREATE STREAM OUT (RT TIMESTAMP, K VARCHAR(4), N INTEGER, M INTEGER, AT TIMESTAMP, BT TIMESTAMP);";

    /// Streams A (K, N) and B (K, M) joined by `join` (the FROM … ON part of the query).
    fn app(join: &str) -> TestApp {
        let code = format!(
            "{STREAMS}
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM ROWTIME, COALESCE(a.K, b.K), a.N, b.M, a.ROWTIME, b.ROWTIME
             FROM {join};"
        );
        TestApp::new("join.sql", &code)
            .input("A", "K VARCHAR(4), N INTEGER")
            .unwrap()
            .input("B", "K VARCHAR(4), M INTEGER")
            .unwrap()
    }

    const A_ROWS: &str = "ROWTIME | K | N
        2020-01-01 00:00:00 | x | 1
        2020-01-01 00:00:30 | y | 2
        2020-01-01 00:01:00 | x | 3
        2020-01-01 00:05:00 | z | 4";
    const B_ROWS: &str = "ROWTIME | K | M
        2020-01-01 00:00:30 | x | 10
        2020-01-01 00:01:00 | x | 20
        2020-01-01 00:02:00 | y | 30
        2020-01-01 00:05:00 | z | 40";

    fn header() -> &'static str {
        "ROWTIME                 | RT                      | K | N | M  | AT                      | BT\n"
    }

    #[test]
    fn inner_join_matches_rows_in_the_window_including_equal_rowtimes() {
        let mut app =
            app("A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a JOIN B AS b ON a.K = b.K");
        app.push_table("A", A_ROWS).unwrap();
        app.push_table("B", B_ROWS).unwrap();
        app.end().unwrap();
        // B at 00:00:30 sees A x@00:00; B x@01:00 sees A x@00:00 (lower bound inclusive) and the
        // A row at the same ROWTIME; B y@02:00 is 90 s after A y: out of the window; z matches at
        // equal ROWTIMEs. The output ROWTIME is the later row's.
        assert_eq!(
            app.read_table("OUT").unwrap(),
            format!("{}{}", header(), "\
2020-01-01 00:00:30.000 | 2020-01-01 00:00:30.000 | x | 1 | 10 | 2020-01-01 00:00:00.000 | 2020-01-01 00:00:30.000
2020-01-01 00:01:00.000 | 2020-01-01 00:01:00.000 | x | 1 | 20 | 2020-01-01 00:00:00.000 | 2020-01-01 00:01:00.000
2020-01-01 00:01:00.000 | 2020-01-01 00:01:00.000 | x | 3 | 20 | 2020-01-01 00:01:00.000 | 2020-01-01 00:01:00.000
2020-01-01 00:05:00.000 | 2020-01-01 00:05:00.000 | z | 4 | 40 | 2020-01-01 00:05:00.000 | 2020-01-01 00:05:00.000
")
        );
    }

    #[test]
    fn the_output_does_not_depend_on_how_input_arrives() {
        let join = "A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a FULL JOIN B OVER (RANGE INTERVAL '30' SECOND PRECEDING) AS b ON a.K = b.K";
        let mut whole = app(join);
        whole.push_table("A", A_ROWS).unwrap();
        whole.push_table("B", B_ROWS).unwrap();
        whole.end().unwrap();
        let expected = whole.read_table("OUT").unwrap();
        // One row at a time, alternating inputs, B first.
        let mut rows = app(join);
        let a: Vec<&str> = A_ROWS.lines().skip(1).collect();
        let b: Vec<&str> = B_ROWS.lines().skip(1).collect();
        for i in 0..4 {
            rows.push_table("B", &format!("ROWTIME | K | M\n{}", b[i]))
                .unwrap();
            rows.push_table("A", &format!("ROWTIME | K | N\n{}", a[i]))
                .unwrap();
        }
        rows.end().unwrap();
        assert_eq!(rows.read_table("OUT").unwrap(), expected);
        // y@00:00:30 (A) and y@00:02:00 (B) are 90 s apart: each is emitted alone when its own
        // window ends (A: 1 minute, B: 30 seconds).
        assert!(
            expected.contains("2020-01-01 00:01:30.000 | y | 2    | NULL |")
                && expected.contains("2020-01-01 00:02:30.000 | y | NULL | 30 "),
            "{expected}"
        );
    }

    #[test]
    fn a_rows_window_checkpointed_anywhere_resumes_as_if_uninterrupted() {
        // A FULL join with a ROWS window on A: rows pushed out, matched and unmatched, and the
        // ones left at the end.
        let join = "A OVER (ROWS 1 PRECEDING) AS a FULL JOIN B AS b ON a.K = b.K";
        let expected = run_resumed(join, ["A", "B"], None);
        // By hand: B x@00:30 joins A x@00:00 (A keeps x@00:00, y@00:30); B x@01:00 comes after
        // A x@01:00, which pushed x@00:00 out: it joins x@01:00; A holds y@00:30 and x@01:00
        // when B y@02:00 comes, so that joins y@00:30; z@05:00 joins z@05:00. Every row of
        // both streams matched, so the FULL join adds none.
        let joined: Vec<Vec<&str>> = expected
            .lines()
            .skip(1)
            .map(|l| l.split(" | ").skip(2).take(3).map(str::trim).collect())
            .collect();
        assert_eq!(
            joined,
            [
                ["x", "1", "10"],
                ["x", "3", "20"],
                ["y", "2", "30"],
                ["z", "4", "40"]
            ],
            "{expected}"
        );
        for cut in 0..8 {
            assert_eq!(
                run_resumed(join, ["A", "B"], Some(cut)),
                expected,
                "checkpoint after row {cut}"
            );
        }
    }

    /// `OUT` of [`app`] after A_ROWS and B_ROWS pushed one row at a time, alternating from
    /// `order[0]`, with the app resumed from a checkpoint after row `checkpoint_after`.
    fn run_resumed(join: &str, order: [&str; 2], checkpoint_after: Option<usize>) -> String {
        let rows = |name: &str| -> Vec<String> {
            let (table, header) = match name {
                "A" => (A_ROWS, "ROWTIME | K | N"),
                _ => (B_ROWS, "ROWTIME | K | M"),
            };
            table
                .lines()
                .skip(1)
                .map(|r| format!("{header}\n{r}"))
                .collect()
        };
        let (first, second) = (rows(order[0]), rows(order[1]));
        let mut app = app(join);
        for i in 0..4 {
            app.push_table(order[0], &first[i]).unwrap();
            if checkpoint_after == Some(2 * i) {
                app.resume_from_checkpoint().unwrap();
            }
            app.push_table(order[1], &second[i]).unwrap();
            if checkpoint_after == Some(2 * i + 1) {
                app.resume_from_checkpoint().unwrap();
            }
        }
        app.end().unwrap();
        app.read_table("OUT").unwrap()
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        // A full join: rows held on both sides, some matched, some waiting for their window.
        let join = "A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a FULL JOIN B OVER (RANGE INTERVAL '30' SECOND PRECEDING) AS b ON a.K = b.K";
        let run = |checkpoint_after| run_resumed(join, ["B", "A"], checkpoint_after);
        let expected = run(None);
        assert!(expected.lines().count() > 5, "{expected}");
        for cut in 0..8 {
            assert_eq!(run(Some(cut)), expected, "checkpoint after row {cut}");
        }
    }

    #[test]
    fn outer_rows_wait_for_the_window_and_the_other_input() {
        let mut app =
            app("A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a LEFT JOIN B AS b ON a.K = b.K");
        app.push_table("A", "ROWTIME | K | N\n2020-01-01 00:00:00 | q | 1")
            .unwrap();
        app.push_table("B", "ROWTIME | K | M\n2020-01-01 00:00:59 | r | 1")
            .unwrap();
        // A B row could still match q until 00:01:00 inclusive.
        assert_eq!(app.read_rows("OUT").unwrap().1.len(), 0);
        app.advance("B", "2020-01-01 00:01:00").unwrap();
        assert_eq!(app.read_rows("OUT").unwrap().1.len(), 0);
        // Both inputs past 00:01:00: q is emitted with ROWTIME = its ROWTIME + the window.
        app.advance("B", "2020-01-01 00:01:00.001").unwrap();
        app.advance("A", "2020-01-01 00:01:00.001").unwrap();
        assert_eq!(
            app.read_table("OUT").unwrap(),
            "ROWTIME                 | RT                      | K | N | M    | AT                      | BT
2020-01-01 00:01:00.000 | 2020-01-01 00:01:00.000 | q | 1 | NULL | 2020-01-01 00:00:00.000 | NULL
"
        );
    }

    #[test]
    fn explain_shows_both_inputs_and_the_join() {
        let mut app = app(
            "A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a LEFT JOIN (SELECT STREAM ROWTIME, K, M FROM B WHERE M > 0) AS b ON a.K = b.K",
        );
        let plan = app.plan().unwrap().to_string();
        assert!(plan.contains("pump P: A + B -> OUT"), "{plan}");
        assert!(plan.contains("1. [right input B] filter"), "{plan}");
        assert!(
            plan.contains(
                "3. stream join Left (left window 1 minute(s), right no window) on A.K = B.K"
            ),
            "{plan}"
        );
    }

    #[test]
    fn a_window_still_open_at_the_end_of_input_emits_then() {
        let mut app =
            app("A AS a RIGHT JOIN B OVER (RANGE INTERVAL '1' HOUR PRECEDING) AS b ON a.K = b.K");
        app.push_table("B", "ROWTIME | K | M\n2020-01-01 00:00:00 | k | 7")
            .unwrap();
        app.push_table("A", "ROWTIME | K | N\n2020-01-01 00:10:00 | other | 1")
            .unwrap();
        assert_eq!(app.read_rows("OUT").unwrap().1.len(), 0);
        app.end().unwrap();
        let (_, rows) = app.read_rows("OUT").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "2020-01-01 01:00:00.000");
        assert_eq!(&rows[0][2..5], ["k", "NULL", "7"]);
    }

    #[test]
    fn null_keys_never_match_but_outer_rows_are_kept() {
        let mut app =
            app("A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a FULL JOIN B AS b ON a.K = b.K");
        app.push_table("A", "ROWTIME | K | N\n2020-01-01 00:00:00 | NULL | 1")
            .unwrap();
        app.push_table("B", "ROWTIME | K | M\n2020-01-01 00:00:10 | NULL | 2")
            .unwrap();
        app.end().unwrap();
        let (_, rows) = app.read_rows("OUT").unwrap();
        let cells: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r[0].as_str(), r[3].as_str(), r[4].as_str()))
            .collect();
        assert_eq!(
            cells,
            [
                ("2020-01-01 00:00:10.000", "NULL", "2"),
                ("2020-01-01 00:01:00.000", "1", "NULL")
            ]
        );
    }

    #[test]
    fn the_rest_of_the_on_condition_filters_pairs_and_bad_rows_go_to_error_stream() {
        let mut app = app(
            "A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a LEFT JOIN B AS b ON a.K = b.K AND a.N / b.M > 1",
        );
        app.push_table(
            "A",
            "ROWTIME | K | N\n2020-01-01 00:00:00 | x | 10\n2020-01-01 00:00:00 | y | 10",
        )
        .unwrap();
        app.push_table(
            "B",
            "ROWTIME | K | M\n2020-01-01 00:00:01 | x | 20\n2020-01-01 00:00:02 | x | 2\n2020-01-01 00:00:03 | y | 0",
        )
        .unwrap();
        app.end().unwrap();
        let (_, rows) = app.read_rows("OUT").unwrap();
        let cells: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r[2].as_str(), r[3].as_str(), r[4].as_str()))
            .collect();
        // x: 10/20 fails the condition, 10/2 passes; y: 10/0 is an error, so y has no partner.
        assert_eq!(cells, [("x", "10", "2"), ("y", "10", "NULL")]);
        let (_, errors) = app.read_rows("error_stream").unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].iter().any(|c| c.contains("Divide by zero")),
            "{errors:?}"
        );
    }

    #[test]
    fn state_is_pruned_by_the_bound() {
        let mut app =
            app("A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a JOIN B AS b ON a.K = b.K");
        let plan = app.plan().unwrap().clone();
        let spec = plan.pumps[0].join.clone().expect("a stream join");
        let mut join = super::StreamJoin::new(spec).unwrap();
        let batch = |k: &str, n: i32, t: i64| {
            crate::exec::test_util::batch(
                vec![
                    (
                        "K",
                        std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![k]))
                            as _,
                    ),
                    (
                        "N",
                        std::sync::Arc::new(datafusion::arrow::array::Int32Array::from(vec![n]))
                            as _,
                    ),
                    (
                        "ROWTIME",
                        std::sync::Arc::new(
                            datafusion::arrow::array::TimestampMillisecondArray::from(vec![t]),
                        ) as _,
                    ),
                ],
                &[t],
            )
        };
        let mut out = crate::exec::Emit::default();
        for i in 0..1000i64 {
            let t = i * 1000;
            join.push(0, batch("k", i as i32, t), &mut out).unwrap();
            join.push(1, batch("other", 0, t), &mut out).unwrap();
            join.advance(0, t + 1, &mut out).unwrap();
            join.advance(1, t + 1, &mut out).unwrap();
        }
        // A keeps its last minute (60 rows at one per second); B, unwindowed, only the rows at
        // the bound's ROWTIME; the batches of dropped rows are released.
        // (the row at exactly one minute before the bound can no longer meet a B row: gone).
        assert_eq!(join.sides[0].joinable.len(), 60);
        assert!(join.sides[1].joinable.len() <= 1);
        assert!(join.sides[0].batches.len() <= 61 && join.sides[1].batches.len() <= 1);
        assert!(out.batches.iter().all(|b| b.num_rows() == 0));
    }

    #[test]
    fn joins_that_cannot_stream_are_rejected() {
        for (join, message) in [
            (
                "A AS a JOIN B AS b ON a.K = b.K",
                "needs a window on at least one of them",
            ),
            (
                "A OVER (ROWS 2 FOLLOWING) AS a JOIN B AS b ON a.K = b.K",
                "a ROWS join window cannot be FOLLOWING",
            ),
            (
                "A OVER (PARTITION BY K RANGE INTERVAL '1' MINUTE PRECEDING) AS a JOIN B AS b ON a.K = b.K",
                "cannot have PARTITION BY",
            ),
            (
                "A OVER (RANGE INTERVAL '1' MINUTE FOLLOWING) AS a FULL JOIN B AS b ON a.K = b.K",
                "keeps the rows of the stream with the FOLLOWING window is not supported",
            ),
            (
                "A OVER w AS a JOIN B AS b ON a.K = b.K",
                "no window named `W`",
            ),
        ] {
            let err = app(join).start().expect_err(join).to_string();
            assert!(err.contains(message), "{join}: {err}");
        }
        let mut lone = TestApp::new(
            "lone.sql",
            "CREATE STREAM OUT (K VARCHAR(4));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K FROM A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a;",
        )
        .input("A", "K VARCHAR(4), N INTEGER")
        .unwrap();
        let err = lone
            .start()
            .expect_err("window on a lone stream")
            .to_string();
        assert!(err.contains("not joined to another stream"), "{err}");
    }
}
