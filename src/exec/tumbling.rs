//! Tumbling windows: a streaming `GROUP BY` with one monotonic expression (`STEP(ROWTIME BY
//! INTERVAL …)`, `FLOOR(ROWTIME TO unit)`, `CEIL`, ROWTIME plus an interval, `MONOTONIC(x)`; see
//! `monotonic.rs`) plus any other keys.
//!
//! State is one DataFusion group table for all open windows, keyed by the monotonic key's value
//! and the other keys, and one `GroupsAccumulator` per aggregate (vectorized: one `intern` and one
//! `update_batch` per input batch). A window of ROWTIMEs emits once, when the ROWTIME bound has
//! passed it: one row per group, ordered by the other keys, with ROWTIME = the window's end (for
//! `[start, end)`, the key column holds `start`). The windows that close at one bound are emitted
//! as one batch. A declared key (`MONOTONIC(orderId)`) closes its group when a row with another
//! value arrives, or at the end of the input, with the ROWTIME of the group's last row.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{LexicographicalComparator, SortColumn, cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::monotonic::{MonotonicKey, Span};
use super::{Emit, Operator, evaluate, evaluate_filter, groups_accumulators};
use crate::catalog::rowtime;
use crate::error::{Error, Result};
use crate::state::Snapshot;

/// Plan node: a tumbling-window aggregate.
#[derive(Debug)]
pub struct TumblingSpec {
    /// Evaluates each row's value of the monotonic key (a window start, for STEP and FLOOR).
    pub window: Arc<dyn PhysicalExpr>,
    /// How rows fall into windows.
    pub key: MonotonicKey,
    /// Output position of the window column among the group columns.
    pub window_position: usize,
    /// The other group keys and their output positions.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    pub key_positions: Vec<usize>,
    /// Schema of the other keys (for the group table).
    pub key_schema: SchemaRef,
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// `FILTER (WHERE …)` of each aggregate.
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// Output: group columns, aggregate columns, then ROWTIME.
    pub schema: SchemaRef,
    pub display: String,
    /// `TOP_K_ITEMS_TUMBLING`: each window keeps only its `k` groups with the largest first
    /// aggregate (the count), largest first.
    pub top_k: Option<usize>,
}

impl fmt::Display for TumblingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            MonotonicKey::Rowtime(steps) => write!(f, "tumbling window of {steps}: ")?,
            MonotonicKey::Declared => write!(f, "a group per run of equal MONOTONIC values: ")?,
        }
        write!(f, "{}", self.display)?;
        if let Some(k) = self.top_k {
            write!(f, ", the top {k} groups of each window")?;
        }
        Ok(())
    }
}

/// An open window, whose groups are numbered below `groups_end`.
struct OpenWindow {
    /// Its ROWTIMEs (for a declared key: the ROWTIMEs of its rows so far).
    span: Span,
    /// The ROWTIME of its output rows.
    stamp: i64,
    groups_end: usize,
    /// A declared key's value (in the row format of `Tumbling::declared`).
    value: Option<OwnedRow>,
}

/// Running tumbling window.
///
/// All open windows share one group table whose first key is the monotonic key's value, and one
/// set of accumulators. Rows arrive in ROWTIME order and the windows do not overlap, so every
/// group of a window is numbered after the groups of earlier windows: the windows that close
/// are always the table's first groups, emitted together with `EmitTo::First`.
pub struct Tumbling {
    spec: Arc<TumblingSpec>,
    /// The window column's type in the output.
    window_type: DataType,
    groups: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Open windows, oldest first (for a declared key, at most one).
    open: VecDeque<OpenWindow>,
    group_indices: Vec<usize>,
    /// A declared key's values as comparable rows.
    declared: Option<RowConverter>,
}

impl Tumbling {
    pub fn new(spec: Arc<TumblingSpec>) -> Result<Tumbling> {
        let window_type = spec.schema.field(spec.window_position).data_type().clone();
        let mut fields = vec![Arc::new(Field::new("window", window_type.clone(), true))];
        fields.extend(spec.key_schema.fields().iter().cloned());
        let groups = new_group_values(Arc::new(Schema::new(fields)), &GroupOrdering::None)?;
        let declared = match spec.key {
            MonotonicKey::Declared => Some(RowConverter::new(vec![SortField::new(
                window_type.clone(),
            )])?),
            MonotonicKey::Rowtime(_) => None,
        };
        Ok(Tumbling {
            accumulators: groups_accumulators(&spec.aggregates)?,
            spec,
            window_type,
            groups,
            open: VecDeque::new(),
            group_indices: Vec::new(),
            declared,
        })
    }

    /// The monotonic key's values and the other keys of a batch's rows.
    fn group_keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let mut window = self
            .spec
            .window
            .evaluate(batch)?
            .into_array(batch.num_rows())?;
        if window.data_type() != &self.window_type {
            window = cast(&window, &self.window_type)?;
        }
        let mut group_keys = vec![window];
        group_keys.extend(evaluate(&self.spec.keys, batch)?);
        Ok(group_keys)
    }

    /// Interns rows `from..to` of `batch` (with their group keys) and feeds their aggregates.
    fn aggregate(
        &mut self,
        batch: &RecordBatch,
        group_keys: &[ArrayRef],
        from: usize,
        to: usize,
    ) -> Result<()> {
        let whole = from == 0 && to == batch.num_rows();
        let slice = |a: &ArrayRef| {
            if whole {
                Arc::clone(a)
            } else {
                a.slice(from, to - from)
            }
        };
        let keys: Vec<ArrayRef> = group_keys.iter().map(slice).collect();
        let part = if whole {
            batch.clone()
        } else {
            batch.slice(from, to - from)
        };
        self.group_indices.clear();
        self.groups.intern(&keys, &mut self.group_indices)?;
        let total_groups = self.groups.len();
        for (i, acc) in self.accumulators.iter_mut().enumerate() {
            let a = &self.spec.aggregates[i];
            let values = evaluate(&a.expressions(), &part)?;
            let filter = evaluate_filter(&self.spec.filters[i], &part)?;
            acc.update_batch(&values, &self.group_indices, filter.as_ref(), total_groups)?;
        }
        Ok(())
    }

    /// A batch for a key that is a step function of ROWTIME: all rows interned at once, then
    /// each run of rows in one window extends that window.
    fn push_rowtime(&mut self, batch: &RecordBatch, steps: super::monotonic::Steps) -> Result<()> {
        let n = batch.num_rows();
        let group_keys = self.group_keys(batch)?;
        self.aggregate(batch, &group_keys, 0, n)?;
        let times = rowtime(batch);
        // Rows arrive in ROWTIME order, so each window is a run of consecutive rows; its groups
        // end after the largest group number its rows were given.
        let mut run_start = 0;
        while run_start < n {
            let t = times.value(run_start);
            let span = match self.open.back() {
                Some(w) if w.span.contains(t) => w.span,
                _ => steps.span(t),
            };
            let mut run_end = run_start + 1;
            let mut groups_end = self.group_indices[run_start] + 1;
            while run_end < n && times.value(run_end) <= span.last {
                groups_end = groups_end.max(self.group_indices[run_end] + 1);
                run_end += 1;
            }
            match self.open.back_mut() {
                Some(w) if w.span == span => w.groups_end = w.groups_end.max(groups_end),
                Some(w) if w.span.first > span.first => {
                    return Err(Error::Application(format!(
                        "internal error: a row at {t} ms arrived after the window starting at {} ms",
                        w.span.first
                    )));
                }
                _ => self.open.push_back(OpenWindow {
                    span,
                    stamp: steps.stamp(&span),
                    groups_end,
                    value: None,
                }),
            }
            run_start = run_end;
        }
        Ok(())
    }

    /// A batch for a declared key: run by run, so that a group never spans two runs of the
    /// same value; a run with a new value first closes the open window.
    fn push_declared(&mut self, batch: &RecordBatch, out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let group_keys = self.group_keys(batch)?;
        let values = self
            .declared
            .as_ref()
            .expect("a declared key has a converter")
            .convert_columns(&group_keys[..1])?;
        let times = rowtime(batch);
        let mut run_start = 0;
        while run_start < n {
            let value = values.row(run_start);
            let mut run_end = run_start + 1;
            while run_end < n && values.row(run_end) == value {
                run_end += 1;
            }
            if self
                .open
                .back()
                .is_some_and(|w| w.value.as_ref().map(|v| v.row()) != Some(value))
            {
                self.close(1, out)?;
            }
            self.aggregate(batch, &group_keys, run_start, run_end)?;
            let groups_end = self.groups.len();
            let (first, last) = (times.value(run_start), times.value(run_end - 1));
            match self.open.back_mut() {
                Some(w) => {
                    w.groups_end = groups_end;
                    w.span.last = last;
                    w.stamp = last;
                }
                None => self.open.push_back(OpenWindow {
                    span: Span { first, last },
                    stamp: last,
                    groups_end,
                    value: Some(value.owned()),
                }),
            }
            run_start = run_end;
        }
        Ok(())
    }

    /// Emits the oldest `closing` open windows.
    fn close(&mut self, closing: usize, out: &mut Emit) -> Result<()> {
        let closed: Vec<OpenWindow> = self.open.drain(..closing).collect();
        let n = closed.last().expect("a window closes").groups_end;
        out.batches.push(self.emit(n, &closed)?);
        for w in &mut self.open {
            w.groups_end -= n;
        }
        Ok(())
    }

    /// Emits the first `n` groups: the windows just closed, `closed` of them, oldest first.
    fn emit(&mut self, n: usize, closed: &[OpenWindow]) -> Result<RecordBatch> {
        let spec = &self.spec;
        let emit_to = if n == self.groups.len() {
            EmitTo::All
        } else {
            EmitTo::First(n)
        };
        let mut keys = self.groups.emit(emit_to)?.into_iter();
        let window = keys.next().expect("the window is the first group column");
        let keys: Vec<ArrayRef> = keys.collect();
        let mut values: Vec<ArrayRef> = Vec::with_capacity(self.accumulators.len());
        for acc in &mut self.accumulators {
            values.push(acc.evaluate(emit_to)?);
        }
        let mut columns: Vec<Option<ArrayRef>> = vec![None; 1 + keys.len()];
        columns[spec.window_position] = Some(window);
        for (pos, key) in spec.key_positions.iter().zip(&keys) {
            columns[*pos] = Some(Arc::clone(key));
        }
        let mut columns: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| c.expect("every group column is set"))
            .collect();
        columns.extend(values);
        // Each window's rows are ordered by the other keys, so output does not depend on
        // arrival order.
        let mut indices: Vec<u32> = (0..n as u32).collect();
        let mut ends: Vec<usize> = closed.iter().map(|w| w.groups_end).collect();
        if !keys.is_empty() {
            let sort: Vec<SortColumn> = keys
                .iter()
                .map(|k| SortColumn {
                    values: Arc::clone(k),
                    options: None,
                })
                .collect();
            match keys.as_slice() {
                // The common case, one text key without NULLs: compare the strings directly.
                [key] if key.data_type() == &DataType::Utf8 && key.null_count() == 0 => {
                    let text = key.as_string::<i32>();
                    sort_each_window(&mut indices, &ends, |a, b| text.value(a).cmp(text.value(b)));
                }
                _ => {
                    let compare = LexicographicalComparator::try_new(&sort)?;
                    sort_each_window(&mut indices, &ends, |a, b| compare.compare(a, b));
                }
            }
        }
        if let Some(k) = spec.top_k {
            let counts = cast(&columns[1 + keys.len()], &DataType::Int64)?;
            let counts = counts.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let (kept, kept_ends) = top_k_of_each_window(&indices, &ends, k, |i| counts.value(i));
            indices = kept;
            ends = kept_ends;
        }
        if indices.len() < n || !keys.is_empty() {
            let indices = UInt32Array::from(indices);
            columns = columns
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<_, _>>()?;
        }
        // ROWTIME: each row's window end.
        let mut rowtimes = Vec::with_capacity(n);
        let mut from = 0;
        for (w, end) in closed.iter().zip(&ends) {
            rowtimes.resize(rowtimes.len() + (end - from), w.stamp);
            from = *end;
        }
        columns.push(Arc::new(TimestampMillisecondArray::from(rowtimes)));
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }
}

/// Sorts each window's part of `indices` (row numbers of the emitted groups; window `i` ends
/// before `ends[i]`) by `compare`.
fn sort_each_window(
    indices: &mut [u32],
    ends: &[usize],
    compare: impl Fn(usize, usize) -> std::cmp::Ordering,
) {
    let mut from = 0;
    for &end in ends {
        indices[from..end].sort_unstable_by(|a, b| compare(*a as usize, *b as usize));
        from = end;
    }
}

/// The `k` rows of each window with the largest `count`, largest first (ties keep their order):
/// the kept indices and where each window's part of them ends.
fn top_k_of_each_window(
    indices: &[u32],
    ends: &[usize],
    k: usize,
    count: impl Fn(usize) -> i64,
) -> (Vec<u32>, Vec<usize>) {
    let mut kept = Vec::with_capacity(indices.len().min(k.saturating_mul(ends.len())));
    let mut kept_ends = Vec::with_capacity(ends.len());
    let mut from = 0;
    for &end in ends {
        let mut window = indices[from..end].to_vec();
        window.sort_by_key(|i| std::cmp::Reverse(count(*i as usize)));
        kept.extend(window.into_iter().take(k));
        kept_ends.push(kept.len());
        from = end;
    }
    (kept, kept_ends)
}

impl Operator for Tumbling {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: self.open.len(),
            rows: self.groups.len(),
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match self.spec.key {
            MonotonicKey::Rowtime(steps) => self.push_rowtime(&batch, steps),
            MonotonicKey::Declared => self.push_declared(&batch, out),
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let open: Vec<[i64; 4]> = self
            .open
            .iter()
            .map(|w| [w.span.first, w.span.last, w.stamp, w.groups_end as i64])
            .collect();
        let value = self
            .open
            .back()
            .and_then(|w| w.value.as_ref())
            .map(|v| crate::format::hex(v.row().as_ref()));
        super::groups::snapshot(
            &mut self.groups,
            &mut self.accumulators,
            serde_json::json!({ "open": open, "value": value }),
        )
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        // [first, last, stamp, groups_end]; a checkpoint written before CEIL and MONOTONIC keys
        // holds [start, end, groups_end] of `[start, end)` windows.
        let open: Vec<Vec<i64>> = state.field("open")?;
        let open: Vec<[i64; 4]> = open
            .into_iter()
            .map(|w| match w.as_slice() {
                [first, last, stamp, groups_end] => Ok([*first, *last, *stamp, *groups_end]),
                [start, end, groups_end] => Ok([*start, end - 1, *end, *groups_end]),
                _ => Err(Error::Application(
                    "checkpoint: a tumbling window is not as written".into(),
                )),
            })
            .collect::<Result<_>>()?;
        let value: Option<String> = state.field("value").unwrap_or(None);
        let value = match (value, &self.declared) {
            (Some(text), Some(converter)) => {
                let bytes = crate::format::unhex(&text).ok_or_else(|| {
                    Error::Application("checkpoint: a MONOTONIC key is not hex".into())
                })?;
                Some(converter.parser().parse(&bytes).owned())
            }
            _ => None,
        };
        self.open = open
            .into_iter()
            .map(|[first, last, stamp, groups_end]| OpenWindow {
                span: Span { first, last },
                stamp,
                groups_end: groups_end as usize,
                value: value.clone(),
            })
            .collect();
        super::groups::restore(&mut self.groups, &mut self.accumulators, &state.batches)
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        let closing = match self.spec.key {
            MonotonicKey::Rowtime(_) => self
                .open
                .iter()
                .take_while(|w| w.span.complete_at(bound))
                .count(),
            // Only another value, or the end of the input, ends a declared key's group.
            MonotonicKey::Declared if bound == i64::MAX => self.open.len(),
            MonotonicKey::Declared => 0,
        };
        if closing > 0 {
            self.close(closing, out)?;
        }
        Ok(())
    }

    fn output_bound(&self, input_bound: i64) -> i64 {
        match (self.spec.key, self.open.back()) {
            // The open group comes out with the ROWTIME of its last row, which may be a later
            // row, but is no earlier than the rows it has.
            (MonotonicKey::Declared, Some(w)) => input_bound.min(w.stamp),
            _ => input_bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int32Array, StringArray};

    use super::*;
    use crate::catalog::timestamp_ms;
    use crate::exec::test_util::{batch, pump, rows, run, table, ts};
    use crate::exec::{advance_through, push_through};
    use crate::types::SqlType;

    /// EX-01/EX-02's WEATHERSTREAM rows.
    fn weather() -> RecordBatch {
        rows(
            WEATHER,
            "ROWTIME             | CITY      | TEMP
             2018-11-01 01:00:00 | Denver    | 29
             2018-11-01 01:00:00 | Anchorage | 2
             2018-11-01 06:00:00 | Miami     | 65
             2018-11-01 07:00:00 | Denver    | 32
             2018-11-01 09:00:00 | Anchorage | 9
             2018-11-01 13:00:00 | Denver    | 50
             2018-11-01 17:00:00 | Anchorage | 10
             2018-11-01 18:00:00 | Miami     | 71
             2018-11-01 19:00:00 | Denver    | 43
             2018-11-02 01:00:00 | Anchorage | 4
             2018-11-02 01:00:00 | Denver    | 39
             2018-11-02 07:00:00 | Denver    | 46
             2018-11-02 09:00:00 | Anchorage | 3
             2018-11-02 13:00:00 | Denver    | 56
             2018-11-02 17:00:00 | Anchorage | 2
             2018-11-02 19:00:00 | Denver    | 50
             2018-11-03 01:00:00 | Denver    | 36
             2018-11-03 01:00:00 | Anchorage | 1",
        )
    }

    const WEATHER: &[(&str, SqlType)] = &[
        ("CITY", SqlType::Varchar(Some(16))),
        ("TEMP", SqlType::Integer),
    ];

    #[test]
    fn ex02_per_city_daily_aggregates_emit_when_the_day_closes() {
        let mut ops = pump(
            "CREATE STREAM OUT (FLOOR_DAY TIMESTAMP, CITY VARCHAR(16), MIN_TEMP INTEGER, MAX_TEMP INTEGER, AVG_TEMP INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM FLOOR(S.ROWTIME TO DAY) AS FLOOR_DAY, CITY, MIN(TEMP) AS MIN_TEMP, MAX(TEMP) AS MAX_TEMP,
                    SUM(TEMP)/COUNT(TEMP) AS AVG_TEMP
             FROM S GROUP BY FLOOR(S.ROWTIME TO DAY), CITY;",
            WEATHER,
            &[],
        )
        .unwrap();
        // The bound after the input is the last row's ROWTIME: 11-01 and 11-02 have closed, 11-03 has not.
        let (out, errors) = run(&mut ops, weather(), ts("2018-11-03 01:00:00"));
        assert!(errors.is_empty());
        // Documented output (EX-02): integer division truncates (154/4 = 38), rows ordered by CITY,
        // ROWTIME = the window's end.
        let expected = "\
+---------------------+-----------+----------+----------+----------+---------------------+
| FLOOR_DAY           | CITY      | MIN_TEMP | MAX_TEMP | AVG_TEMP | ROWTIME             |
+---------------------+-----------+----------+----------+----------+---------------------+
| 2018-11-01T00:00:00 | Anchorage | 2        | 10       | 7        | 2018-11-02T00:00:00 |
| 2018-11-01T00:00:00 | Denver    | 29       | 50       | 38       | 2018-11-02T00:00:00 |
| 2018-11-01T00:00:00 | Miami     | 65       | 71       | 68       | 2018-11-02T00:00:00 |
| 2018-11-02T00:00:00 | Anchorage | 2        | 4        | 3        | 2018-11-03T00:00:00 |
| 2018-11-02T00:00:00 | Denver    | 39       | 56       | 47       | 2018-11-03T00:00:00 |
+---------------------+-----------+----------+----------+----------+---------------------+";
        assert_eq!(table(&out), expected);
        // A bound of 11-04 closes 11-03.
        let mut errors = Vec::new();
        let out = advance_through(&mut ops, ts("2018-11-04 00:00:00"), &mut errors).unwrap();
        let out: Vec<RecordBatch> = out
            .into_iter()
            .map(|b| b.project(&[0, 1, 2, 3, 4]).unwrap())
            .collect();
        let expected = "\
+---------------------+-----------+----------+----------+----------+
| FLOOR_DAY           | CITY      | MIN_TEMP | MAX_TEMP | AVG_TEMP |
+---------------------+-----------+----------+----------+----------+
| 2018-11-03T00:00:00 | Anchorage | 1        | 1        | 1        |
| 2018-11-03T00:00:00 | Denver    | 36       | 36       | 36       |
+---------------------+-----------+----------+----------+----------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn what_it_holds_is_its_open_windows_and_their_groups() {
        let mut ops = pump(
            "CREATE STREAM OUT (FLOOR_DAY TIMESTAMP, CITY VARCHAR(16), N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM FLOOR(S.ROWTIME TO DAY) AS FLOOR_DAY, CITY, COUNT(*) AS N
             FROM S GROUP BY FLOOR(S.ROWTIME TO DAY), CITY;",
            WEATHER,
            &[],
        )
        .unwrap();
        let held = |ops: &[Box<dyn Operator>]| {
            ops.iter().fold((0, 0), |(w, r), op| {
                let h = op.held();
                (w + h.windows, r + h.rows)
            })
        };
        assert_eq!(held(&ops), (0, 0));
        let mut errors = Vec::new();
        let all = weather();
        // The first nine rows are 11-01's: one window, three cities.
        push_through(&mut ops, all.slice(0, 9), &mut errors).unwrap();
        assert_eq!(held(&ops), (1, 3));
        // The rest, and a bound of 11-03 01:00: only 11-03 is open, with Denver and Anchorage.
        push_through(&mut ops, all.slice(9, 9), &mut errors).unwrap();
        advance_through(&mut ops, ts("2018-11-03 01:00:00"), &mut errors).unwrap();
        assert_eq!(held(&ops), (1, 2));
        advance_through(&mut ops, i64::MAX, &mut errors).unwrap();
        assert_eq!(held(&ops), (0, 0));
        assert!(errors.is_empty());
    }

    #[test]
    fn ex01_a_global_window_without_other_keys() {
        let mut ops = pump(
            "CREATE STREAM OUT (FLOOR_DAY TIMESTAMP, MIN_TEMP INTEGER, MAX_TEMP INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM FLOOR(S.ROWTIME TO DAY) AS FLOOR_DAY, MIN(TEMP) AS MIN_TEMP, MAX(TEMP) AS MAX_TEMP
             FROM S GROUP BY FLOOR(S.ROWTIME TO DAY);",
            WEATHER,
            &[],
        )
        .unwrap();
        let (out, _) = run(&mut ops, weather(), i64::MAX);
        let expected = "\
+---------------------+----------+----------+---------------------+
| FLOOR_DAY           | MIN_TEMP | MAX_TEMP | ROWTIME             |
+---------------------+----------+----------+---------------------+
| 2018-11-01T00:00:00 | 2        | 71       | 2018-11-02T00:00:00 |
| 2018-11-02T00:00:00 | 2        | 56       | 2018-11-03T00:00:00 |
| 2018-11-03T00:00:00 | 1        | 36       | 2018-11-04T00:00:00 |
+---------------------+----------+----------+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn a_huge_top_k_keeps_every_group() {
        // TOP_K_ITEMS_TUMBLING(…, 18446744073709551615, 1) with two windows closing together
        // once overflowed `k × windows` (tests/fuzz/sql/top-k-items-huge-k).
        let (kept, ends) = top_k_of_each_window(&[0, 1, 2], &[2, 3], usize::MAX, |i| i as i64);
        assert_eq!(kept, [1, 0, 2]);
        assert_eq!(ends, [2, 3]);
    }

    #[test]
    fn step_windows_with_equal_rowtimes_and_an_open_window() {
        let mut ops = pump(
            "CREATE STREAM OUT (W TIMESTAMP, N BIGINT, TOTAL INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM STEP(S.ROWTIME BY INTERVAL '10' SECOND), COUNT(*), SUM(TEMP)
             FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '10' SECOND);",
            WEATHER,
            &[],
        )
        .unwrap();
        let t0 = ts("2020-01-01 00:00:00");
        let input = batch(
            vec![
                (
                    "CITY",
                    Arc::new(StringArray::from(vec!["a"; 5])) as ArrayRef,
                ),
                (
                    "TEMP",
                    Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef,
                ),
            ],
            &[t0 + 1000, t0 + 1000, t0 + 9999, t0 + 10_000, t0 + 25_000],
        );
        // Bound 20 s: [0,10) and [10,20) have closed; [20,30) stays open.
        let (out, _) = run(&mut ops, input, t0 + 20_000);
        let expected = "\
+---------------------+---+-------+---------------------+
| W                   | N | TOTAL | ROWTIME             |
+---------------------+---+-------+---------------------+
| 2020-01-01T00:00:00 | 3 | 6     | 2020-01-01T00:00:10 |
| 2020-01-01T00:00:10 | 1 | 4     | 2020-01-01T00:00:20 |
+---------------------+---+-------+---------------------+";
        assert_eq!(table(&out), expected);
        // End of input flushes the open window.
        let mut errors = Vec::new();
        let rest = advance_through(&mut ops, i64::MAX, &mut errors).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].num_rows(), 1);
        assert_eq!(
            rest[0]
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0),
            1
        );
    }

    #[test]
    fn windows_spanning_batches_close_together_in_key_order() {
        use crate::exec::push_through;
        let mut ops = pump(
            "CREATE STREAM OUT (W TIMESTAMP, CITY VARCHAR(16), N BIGINT, TOTAL INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM STEP(S.ROWTIME BY INTERVAL '10' SECOND), CITY, COUNT(*), SUM(TEMP)
             FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '10' SECOND), CITY;",
            WEATHER,
            &[],
        )
        .unwrap();
        let t0 = ts("2020-01-01 00:00:00");
        // (seconds after t0, city, temp), pushed one row per batch: window [0,10) gets c, a, b,
        // a across four batches; [10,20) gets b, a, then [20,30) gets c and stays open.
        let rows = [
            (1, "c", 1),
            (2, "a", 2),
            (3, "b", 4),
            (9, "a", 8),
            (10, "b", 16),
            (15, "a", 32),
            (25, "c", 64),
        ];
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (sec, city, temp) in rows {
            let one = batch(
                vec![
                    ("CITY", Arc::new(StringArray::from(vec![city])) as ArrayRef),
                    ("TEMP", Arc::new(Int32Array::from(vec![temp])) as ArrayRef),
                ],
                &[t0 + sec * 1000],
            );
            out.extend(push_through(&mut ops, one, &mut errors).unwrap());
        }
        assert!(out.is_empty(), "no window may close before the bound moves");
        // Bound 20 s closes two windows at once: one batch, each window ordered by CITY.
        out.extend(advance_through(&mut ops, t0 + 20_000, &mut errors).unwrap());
        assert!(errors.is_empty());
        assert_eq!(out.len(), 1);
        let visible = |b: &RecordBatch| b.project(&[0, 1, 2, 3, 5]).unwrap();
        let expected = "\
+---------------------+------+---+-------+---------------------+
| W                   | CITY | N | TOTAL | ROWTIME             |
+---------------------+------+---+-------+---------------------+
| 2020-01-01T00:00:00 | a    | 2 | 10    | 2020-01-01T00:00:10 |
| 2020-01-01T00:00:00 | b    | 1 | 4     | 2020-01-01T00:00:10 |
| 2020-01-01T00:00:00 | c    | 1 | 1     | 2020-01-01T00:00:10 |
| 2020-01-01T00:00:10 | a    | 1 | 32    | 2020-01-01T00:00:20 |
| 2020-01-01T00:00:10 | b    | 1 | 16    | 2020-01-01T00:00:20 |
+---------------------+------+---+-------+---------------------+";
        assert_eq!(table(&[visible(&out[0])]), expected);
        // The open window kept its group and its sum; a new row joins it.
        let more = batch(
            vec![
                (
                    "CITY",
                    Arc::new(StringArray::from(vec!["c", "a"])) as ArrayRef,
                ),
                (
                    "TEMP",
                    Arc::new(Int32Array::from(vec![128, 256])) as ArrayRef,
                ),
            ],
            &[t0 + 29_000, t0 + 29_000],
        );
        let (rest, _) = run(&mut ops, more, t0 + 30_000);
        let expected = "\
+---------------------+------+---+-------+---------------------+
| W                   | CITY | N | TOTAL | ROWTIME             |
+---------------------+------+---+-------+---------------------+
| 2020-01-01T00:00:20 | a    | 1 | 256   | 2020-01-01T00:00:30 |
| 2020-01-01T00:00:20 | c    | 2 | 192   | 2020-01-01T00:00:30 |
+---------------------+------+---+-------+---------------------+";
        assert_eq!(table(&rest), expected);
    }

    #[test]
    fn null_keys_sort_first_and_number_keys_sort_by_value() {
        let mut ops = pump(
            "CREATE STREAM OUT (CITY VARCHAR(16), TEMP INTEGER, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM CITY, TEMP, COUNT(*)
             FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '10' SECOND), CITY, TEMP;",
            WEATHER,
            &[],
        )
        .unwrap();
        let t0 = ts("2020-01-01 00:00:00");
        let input = batch(
            vec![
                (
                    "CITY",
                    Arc::new(StringArray::from(vec![
                        Some("b"),
                        None,
                        Some("a"),
                        Some("b"),
                        None,
                    ])) as ArrayRef,
                ),
                (
                    "TEMP",
                    Arc::new(Int32Array::from(vec![5, 7, 9, 3, 7])) as ArrayRef,
                ),
            ],
            &[t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4],
        );
        let (out, _) = run(&mut ops, input, t0 + 10_000);
        let expected = "\
+------+------+---+---------------------+
| CITY | TEMP | N | ROWTIME             |
+------+------+---+---------------------+
|      | 7    | 2 | 2020-01-01T00:00:10 |
| a    | 9    | 1 | 2020-01-01T00:00:10 |
| b    | 3    | 1 | 2020-01-01T00:00:10 |
| b    | 5    | 1 | 2020-01-01T00:00:10 |
+------+------+---+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn window_only_groups_with_text_and_average_aggregates_keep_the_open_window() {
        let mut ops = pump(
            "CREATE STREAM OUT (W TIMESTAMP, FIRST_CITY VARCHAR(16), HOTTEST INTEGER, AVG_TEMP DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM STEP(S.ROWTIME BY INTERVAL '10' SECOND), MIN(CITY), MAX(TEMP), AVG(CAST(TEMP AS DOUBLE))
             FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '10' SECOND);",
            WEATHER,
            &[],
        )
        .unwrap();
        let t0 = ts("2020-01-01 00:00:00");
        let rows = |cities: Vec<&str>, temps: Vec<i32>, secs: &[i64]| {
            batch(
                vec![
                    ("CITY", Arc::new(StringArray::from(cities)) as ArrayRef),
                    ("TEMP", Arc::new(Int32Array::from(temps)) as ArrayRef),
                ],
                &secs.iter().map(|s| t0 + s * 1000).collect::<Vec<_>>(),
            )
        };
        let (out, _) = run(
            &mut ops,
            rows(
                vec!["m", "d", "x", "k", "q"],
                vec![1, 3, 8, 2, 5],
                &[0, 5, 12, 25, 26],
            ),
            t0 + 20_000,
        );
        let expected = "\
+---------------------+------------+---------+----------+---------------------+
| W                   | FIRST_CITY | HOTTEST | AVG_TEMP | ROWTIME             |
+---------------------+------------+---------+----------+---------------------+
| 2020-01-01T00:00:00 | d          | 3       | 2.0      | 2020-01-01T00:00:10 |
| 2020-01-01T00:00:10 | x          | 8       | 8.0      | 2020-01-01T00:00:20 |
+---------------------+------------+---------+----------+---------------------+";
        assert_eq!(table(&out), expected);
        // [20,30) kept k and q; a third row joins it before it closes.
        let (rest, _) = run(&mut ops, rows(vec!["a"], vec![11], &[29]), t0 + 30_000);
        let expected = "\
+---------------------+------------+---------+----------+---------------------+
| W                   | FIRST_CITY | HOTTEST | AVG_TEMP | ROWTIME             |
+---------------------+------------+---------+----------+---------------------+
| 2020-01-01T00:00:20 | a          | 11      | 6.0      | 2020-01-01T00:00:30 |
+---------------------+------------+---------+----------+---------------------+";
        assert_eq!(table(&rest), expected);
    }

    /// Generated rows pushed in batches of random sizes, with the bound raised at random points,
    /// give what a plain per-window computation gives.
    #[test]
    fn generated_rows_match_a_plain_computation() {
        use std::collections::BTreeMap;

        use crate::exec::push_through;
        let mut ops = pump(
            "CREATE STREAM OUT (W TIMESTAMP, CITY VARCHAR(16), N BIGINT, TOTAL INTEGER, LOW INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM STEP(S.ROWTIME BY INTERVAL '5' SECOND), CITY, COUNT(*), SUM(TEMP), MIN(TEMP)
             FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '5' SECOND), CITY;",
            WEATHER,
            &[],
        )
        .unwrap();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let cities = [Some("a"), Some("b"), Some("c"), None];
        let mut t = ts("2020-01-01 00:00:00");
        let rows: Vec<(i64, Option<&str>, i32)> = (0..2000)
            .map(|_| {
                t += next(2500) as i64;
                (t, cities[next(4) as usize], next(100) as i32 - 50)
            })
            .collect();
        // The plain computation: (window start, city) -> (count, sum, min).
        let mut expected: BTreeMap<(i64, Option<&str>), (i64, i32, i32)> = BTreeMap::new();
        for &(t, city, v) in &rows {
            let e = expected
                .entry((t - t.rem_euclid(5000), city))
                .or_insert((0, 0, i32::MAX));
            *e = (e.0 + 1, e.1 + v, e.2.min(v));
        }
        let mut errors = Vec::new();
        let mut out = Vec::new();
        let mut at = 0;
        while at < rows.len() {
            let len = (1 + next(40) as usize).min(rows.len() - at);
            let part = &rows[at..at + len];
            let input = batch(
                vec![
                    (
                        "CITY",
                        Arc::new(StringArray::from(
                            part.iter().map(|r| r.1).collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                    (
                        "TEMP",
                        Arc::new(Int32Array::from(
                            part.iter().map(|r| r.2).collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                ],
                &part.iter().map(|r| r.0).collect::<Vec<_>>(),
            );
            out.extend(push_through(&mut ops, input, &mut errors).unwrap());
            at += len;
            if next(3) == 0 {
                // Any bound up to the next row's ROWTIME.
                let bound = rows.get(at).map_or(i64::MAX, |r| r.0);
                out.extend(advance_through(&mut ops, bound, &mut errors).unwrap());
            }
        }
        out.extend(advance_through(&mut ops, i64::MAX, &mut errors).unwrap());
        assert!(errors.is_empty());
        let mut got = Vec::new();
        for b in &out {
            let w = timestamp_ms(b.column(0)).unwrap();
            let city = b.column(1).as_string::<i32>();
            let n = b
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let total = b
                .column(3)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let low = b
                .column(4)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let rowtime = timestamp_ms(b.column(6)).unwrap();
            for i in 0..b.num_rows() {
                assert_eq!(
                    rowtime.value(i),
                    w.value(i) + 5000,
                    "ROWTIME is the window's end"
                );
                let c = city.is_valid(i).then(|| city.value(i));
                got.push(((w.value(i), c), (n.value(i), total.value(i), low.value(i))));
            }
        }
        // Windows in order, each ordered by its city with NULL first: the BTreeMap's order.
        let expected: Vec<_> = expected.into_iter().collect();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(
                (g.0.0, g.0.1.map(str::to_string), g.1),
                (e.0.0, e.0.1.map(str::to_string), e.1)
            );
        }
    }

    fn rejection(sql: &str) -> String {
        match pump(
            &format!(
                "CREATE STREAM OUT (A VARCHAR(16), N BIGINT);\nCREATE PUMP P AS INSERT INTO OUT\n{sql};"
            ),
            WEATHER,
            &[],
        ) {
            Ok(_) => panic!("accepted: {sql}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_group_by_without_a_rowtime_window() {
        let err = rejection("SELECT STREAM CITY, COUNT(*) FROM S GROUP BY CITY");
        assert!(
            err.starts_with("test.sql:3:46: error: a streaming GROUP BY needs a ROWTIME window"),
            "{err}"
        );
        assert!(err.contains("help: add a window to GROUP BY"), "{err}");
    }

    #[test]
    fn rejects_two_rowtime_windows_and_count_distinct() {
        let err = rejection(
            "SELECT STREAM CITY, COUNT(*) FROM S GROUP BY CITY, STEP(S.ROWTIME BY INTERVAL '1' MINUTE), FLOOR(S.ROWTIME TO HOUR)",
        );
        assert!(
            err.contains("a GROUP BY clause uses multiple ROWTIME columns"),
            "{err}"
        );
        let err = rejection(
            "SELECT STREAM CITY, COUNT(DISTINCT TEMP) FROM S GROUP BY CITY, STEP(S.ROWTIME BY INTERVAL '1' MINUTE)",
        );
        assert!(
            err.contains("COUNT with DISTINCT is not allowed in a windowed aggregate"),
            "{err}"
        );
    }

    #[test]
    fn rejects_keys_that_use_rowtime_but_are_not_windows() {
        for key in [
            "FLOOR((S.ROWTIME + INTERVAL '1' MONTH) TO DAY)",
            "FLOOR(STEP(S.ROWTIME BY INTERVAL '10' SECOND) TO MINUTE)",
            "CAST(S.ROWTIME AS VARCHAR(30))",
        ] {
            let err = rejection(&format!(
                "SELECT STREAM CITY, COUNT(*) FROM S GROUP BY CITY, {key}"
            ));
            assert!(
                err.contains("uses ROWTIME but is not a supported window")
                    && err.contains("help: use STEP(s.ROWTIME BY INTERVAL 'n' unit)"),
                "{key}: {err}"
            );
        }
        let err = rejection(
            "SELECT STREAM MONOTONIC(CITY), COUNT(*) FROM S GROUP BY MONOTONIC(CITY), CEIL(S.ROWTIME TO HOUR)",
        );
        assert!(
            err.contains("a GROUP BY clause uses multiple ROWTIME columns"),
            "{err}"
        );
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_with_a_declared_key() {
        // MONOTONIC(CITY): runs of one city, the open one carried over the checkpoint.
        let code = "CREATE STREAM OUT (CITY VARCHAR(16), N BIGINT, HI INTEGER);
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM MONOTONIC(CITY), COUNT(*), MAX(TEMP)
                    FROM S GROUP BY MONOTONIC(CITY);";
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY      | TEMP
             2018-11-01 01:00:00 | Anchorage | 2
             2018-11-01 02:00:00 | Anchorage | 9
             2018-11-01 02:00:00 | Denver    | 29
             2018-11-01 03:00:00 | Denver    | 32
             2018-11-01 04:00:00 | NULL      | 1
             2018-11-01 05:00:00 | Miami     | 65",
        );
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, WEATHER, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
        let (straight, _) =
            crate::exec::test_util::straight_and_resumed(code, WEATHER, &[], &input, 0);
        assert!(
            straight.contains("| Anchorage | 2 | 9  | 2018-11-01T02:00:00 |"),
            "{straight}"
        );
    }

    #[test]
    fn a_checkpoint_of_the_earlier_format_restores() {
        use crate::exec::push_through;
        let code = "CREATE STREAM OUT (CITY VARCHAR(16), N BIGINT);
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM CITY, COUNT(*) FROM S GROUP BY CITY, FLOOR(S.ROWTIME TO DAY);";
        let input = weather();
        let (first, rest) = (input.slice(0, 10), input.slice(10, input.num_rows() - 10));
        let mut errors = Vec::new();
        let mut ops = pump(code, WEATHER, &[]).unwrap();
        push_through(&mut ops, first.clone(), &mut errors).unwrap();
        let mut state = ops[0].snapshot().unwrap();
        // Before CEIL and MONOTONIC keys, a window was [start, end, groups_end].
        let open: Vec<[i64; 4]> = state.field("open").unwrap();
        state.meta = serde_json::json!({
            "open": open.iter().map(|[first, _, stamp, groups]| [*first, *stamp, *groups]).collect::<Vec<_>>()
        });
        let mut fresh = pump(code, WEATHER, &[]).unwrap();
        fresh[0].restore(&state).unwrap();
        let (resumed, _) = run(&mut fresh, rest.clone(), i64::MAX);
        let mut straight_ops = pump(code, WEATHER, &[]).unwrap();
        push_through(&mut straight_ops, first, &mut errors).unwrap();
        let (straight, _) = run(&mut straight_ops, rest, i64::MAX);
        assert_eq!(table(&resumed), table(&straight));
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        // Open windows with group keys, an AVG (a partial sum and count) and a MIN of text.
        let code = "CREATE STREAM OUT (CITY VARCHAR(16), N BIGINT, AVG_T DOUBLE, LO VARCHAR(16));
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM CITY, COUNT(*), AVG(CAST(TEMP AS DOUBLE) / 3), MIN(CITY)
                    FROM S GROUP BY CITY, STEP(S.ROWTIME BY INTERVAL '6' HOUR);";
        let input = weather();
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, WEATHER, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
    }
}
