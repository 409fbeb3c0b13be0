//! Sliding windows: `agg(x) OVER (PARTITION BY … RANGE INTERVAL … PRECEDING | ROWS n PRECEDING)`,
//! inline or named (`WINDOW w AS (…)`).
//!
//! Exactly one output row per input row, at that row's ROWTIME, aggregating the rows of its
//! partition that have already arrived and fall in the frame: for RANGE, ROWTIME in
//! `[rowtime - interval, rowtime]` (lower bound inclusive); for ROWS, the row and the n before it,
//! in arrival order. Rows with the same ROWTIME that arrive later are not in the window. Expiry
//! emits nothing.
//!
//! Aggregates are maintained incrementally, so the cost per row does not grow with the window:
//! SUM, COUNT and AVG add the new value and retract expired ones (the variances and standard
//! deviations also keep a sum of squares); MIN and MAX keep a monotonic deque; FIRST_VALUE and
//! LAST_VALUE read the window's ends. Values are computed as f64 and cast to the result's type.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;

use super::{Emit, Operator, evaluate};
use crate::catalog::rowtime;
use crate::error::Result;
use crate::state::Snapshot;

#[derive(Debug, Clone, PartialEq)]
pub enum SlidingFunction {
    Sum,
    /// `COUNT(*)` when the argument is never NULL; `COUNT(x)` counts non-NULL values.
    Count,
    Avg,
    Min,
    Max,
    FirstValue,
    LastValue,
    VarPop,
    VarSamp,
    StddevPop,
    StddevSamp,
    /// `LAG(x, offset, default)`: the value `offset` rows back in the window, else the default.
    Lag {
        offset: usize,
        default: Option<ScalarValue>,
    },
    /// `NTH_VALUE(x, n) [FROM LAST]`: the n-th row of the window from the oldest (from the newest
    /// with FROM LAST), else NULL.
    NthValue {
        n: usize,
        from_last: bool,
    },
    /// `EXP_AVG(x, INTERVAL …)`: the average of the window's values weighted by
    /// `2^(-age / half_life)`, the age being measured from the current row.
    ExpAvg {
        half_life_ms: i64,
    },
}

impl SlidingFunction {
    /// Functions computed from running sums (numbers only).
    pub fn sums(&self) -> bool {
        matches!(
            self,
            SlidingFunction::Sum
                | SlidingFunction::Avg
                | SlidingFunction::VarPop
                | SlidingFunction::VarSamp
                | SlidingFunction::StddevPop
                | SlidingFunction::StddevSamp
        )
    }
}

/// Which rows of the partition are in a row's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// ROWTIME within this many milliseconds before the row's (inclusive).
    Range(i64),
    /// The row and this many rows before it.
    Rows(u64),
}

/// One windowed aggregate of the select list.
#[derive(Debug)]
pub struct SlidingAggregate {
    pub function: SlidingFunction,
    /// `IGNORE NULLS`: FIRST_VALUE, LAST_VALUE, NTH_VALUE and LAG skip NULL values.
    pub ignore_nulls: bool,
    pub argument: Arc<dyn PhysicalExpr>,
    /// Whether the argument is a number (kept as f64); other values (strings, timestamps, …)
    /// are kept as they are, for MIN, MAX, COUNT and the value functions.
    pub numeric: bool,
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    pub frame: Frame,
    /// The SQL type of the result.
    pub output_type: DataType,
    pub display: String,
}

/// Plan node: the input's columns, then one column per windowed aggregate.
#[derive(Debug)]
pub struct SlidingSpec {
    pub aggregates: Vec<SlidingAggregate>,
    pub input_visible: usize,
    /// Output: input columns, aggregate columns, then ROWTIME.
    pub schema: SchemaRef,
}

impl fmt::Display for SlidingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&str> = self.aggregates.iter().map(|a| a.display.as_str()).collect();
        write!(f, "sliding window {}", shown.join(", "))
    }
}

/// A value held in a window: f64 for numbers, ScalarValue for anything else.
trait Value: Clone + PartialOrd {
    fn number(&self) -> f64;
    fn from_number(x: f64) -> Self;
    fn from_scalar(s: &ScalarValue) -> Option<Self>;
    /// Values as a column (for a checkpoint).
    fn to_array(values: Vec<Option<Self>>) -> Result<ArrayRef>;
    fn from_array(array: &ArrayRef, i: usize) -> Result<Option<Self>>;
}

impl Value for f64 {
    fn number(&self) -> f64 {
        *self
    }
    fn from_number(x: f64) -> f64 {
        x
    }
    fn from_scalar(s: &ScalarValue) -> Option<f64> {
        match s.cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(v)) => v,
            _ => None,
        }
    }
    fn to_array(values: Vec<Option<f64>>) -> Result<ArrayRef> {
        Ok(Arc::new(Float64Array::from(values)))
    }
    fn from_array(array: &ArrayRef, i: usize) -> Result<Option<f64>> {
        let a = array.as_primitive::<Float64Type>();
        Ok(a.is_valid(i).then(|| a.value(i)))
    }
}

impl Value for ScalarValue {
    fn number(&self) -> f64 {
        // Only numbers are summed; the planner keeps them on the f64 path.
        0.0
    }
    fn from_number(x: f64) -> ScalarValue {
        ScalarValue::Float64(Some(x))
    }
    fn from_scalar(s: &ScalarValue) -> Option<ScalarValue> {
        (!s.is_null()).then(|| s.clone())
    }
    fn to_array(values: Vec<Option<ScalarValue>>) -> Result<ArrayRef> {
        let Some(kind) = values.iter().flatten().next().map(|v| v.data_type()) else {
            return Ok(Arc::new(datafusion::arrow::array::NullArray::new(
                values.len(),
            )));
        };
        let null = ScalarValue::try_from(&kind)?;
        Ok(ScalarValue::iter_to_array(
            values
                .into_iter()
                .map(|v| v.unwrap_or_else(|| null.clone())),
        )?)
    }
    fn from_array(array: &ArrayRef, i: usize) -> Result<Option<ScalarValue>> {
        Ok(Some(ScalarValue::try_from_array(array, i)?).filter(|v| !v.is_null()))
    }
}

/// The rows of one partition inside the window, and the running aggregate.
struct Partition<V> {
    /// (ROWTIME, arrival number, value) of the rows in the window, oldest first.
    rows: VecDeque<(i64, u64, Option<V>)>,
    sum: f64,
    /// Sum of squares, for the variances.
    sum_sq: f64,
    non_null: u64,
    /// Monotonic deques of (arrival number, value): the front is the MIN (resp. MAX).
    mins: VecDeque<(u64, V)>,
    maxs: VecDeque<(u64, V)>,
    /// IGNORE NULLS: the window's non-NULL values, oldest first.
    present: VecDeque<(u64, V)>,
    /// EXP_AVG: at ROWTIME `.0`, the sums of weight × value and of weights of non-NULL rows.
    decayed: (i64, f64, f64),
    arrivals: u64,
}

impl<V> Default for Partition<V> {
    fn default() -> Self {
        Partition {
            rows: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            non_null: 0,
            mins: VecDeque::new(),
            maxs: VecDeque::new(),
            present: VecDeque::new(),
            decayed: (i64::MIN, 0.0, 0.0),
            arrivals: 0,
        }
    }
}

/// `2^(-age / half_life)`.
fn weight(age_ms: i64, half_life_ms: i64) -> f64 {
    (-(age_ms as f64) / half_life_ms as f64).exp2()
}

impl<V: Value> Partition<V> {
    fn add(&mut self, t: i64, v: Option<V>, agg: &SlidingAggregate) {
        let n = self.arrivals;
        self.arrivals += 1;
        self.rows.push_back((t, n, v.clone()));
        let Some(v) = v else {
            return;
        };
        self.non_null += 1;
        match &agg.function {
            f if f.sums() => {
                let x = v.number();
                self.sum += x;
                self.sum_sq += x * x;
            }
            SlidingFunction::Min => {
                while self.mins.back().is_some_and(|(_, m)| *m >= v) {
                    self.mins.pop_back();
                }
                self.mins.push_back((n, v.clone()));
            }
            SlidingFunction::Max => {
                while self.maxs.back().is_some_and(|(_, m)| *m <= v) {
                    self.maxs.pop_back();
                }
                self.maxs.push_back((n, v.clone()));
            }
            SlidingFunction::ExpAvg { half_life_ms } => {
                let (at, s, w) = self.decayed;
                let decay = if at == i64::MIN {
                    0.0
                } else {
                    weight(t - at, *half_life_ms)
                };
                self.decayed = (t, s * decay + v.number(), w * decay + 1.0);
            }
            _ => {}
        }
        if agg.ignore_nulls {
            self.present.push_back((n, v));
        }
    }

    fn expire(&mut self, agg: &SlidingAggregate, now: i64) {
        let mut last_out = None;
        while let Some((t, n, _)) = self.rows.front() {
            let out = match agg.frame {
                Frame::Range(ms) => *t < now.saturating_sub(ms),
                Frame::Rows(k) => self.rows.len() as u64 > k + 1,
            };
            if !out {
                break;
            }
            last_out = Some(*n);
            let (t, _, v) = self.rows.pop_front().expect("front exists");
            let Some(v) = v else {
                continue;
            };
            self.non_null -= 1;
            match &agg.function {
                f if f.sums() => {
                    let x = v.number();
                    self.sum -= x;
                    self.sum_sq -= x * x;
                }
                SlidingFunction::ExpAvg { half_life_ms } => {
                    let (at, s, w) = self.decayed;
                    let weight = weight(at - t, *half_life_ms);
                    self.decayed = (at, s - v.number() * weight, w - weight);
                }
                _ => {}
            }
        }
        let Some(n) = last_out else {
            return;
        };
        if self.non_null == 0 {
            // Start the running sums afresh rather than carry rounding errors.
            (self.sum, self.sum_sq) = (0.0, 0.0);
            self.decayed = (i64::MIN, 0.0, 0.0);
        }
        for deque in [&mut self.mins, &mut self.maxs, &mut self.present] {
            while deque.front().is_some_and(|(m, _)| *m <= n) {
                deque.pop_front();
            }
        }
    }

    fn value(&self, agg: &SlidingAggregate, default: &Option<V>) -> Option<V> {
        let n = self.non_null as f64;
        // Population variance from the running sums (clamped: retraction can leave -0.0000001).
        let var_pop = || ((self.sum_sq - self.sum * self.sum / n) / n).max(0.0);
        let number = |x: f64| Some(V::from_number(x));
        let ignore_nulls = agg.ignore_nulls;
        match &agg.function {
            SlidingFunction::Count => number(self.non_null as f64),
            // NULLs are respected by default (KDA's): the oldest and newest rows.
            SlidingFunction::FirstValue if ignore_nulls => {
                self.present.front().map(|p| p.1.clone())
            }
            SlidingFunction::LastValue if ignore_nulls => self.present.back().map(|p| p.1.clone()),
            SlidingFunction::FirstValue => self.rows.front().and_then(|r| r.2.clone()),
            SlidingFunction::LastValue => self.rows.back().and_then(|r| r.2.clone()),
            SlidingFunction::Lag { offset, .. } if ignore_nulls => {
                // Count back over the non-NULL values before the current row.
                let current = self.rows.back().is_some_and(|r| r.2.is_some()) as usize;
                let before = self.present.len() - current;
                match before.checked_sub(*offset) {
                    Some(i) if i < before || *offset == 0 => {
                        self.present.get(i).map(|p| p.1.clone())
                    }
                    _ => default.clone(),
                }
            }
            SlidingFunction::Lag { offset, .. } => match self.rows.len().checked_sub(offset + 1) {
                Some(i) => self.rows[i].2.clone(),
                None => default.clone(),
            },
            SlidingFunction::NthValue { n, from_last } => {
                let len = if ignore_nulls {
                    self.present.len()
                } else {
                    self.rows.len()
                };
                let i = match from_last {
                    false => n.checked_sub(1).filter(|i| *i < len),
                    true => len.checked_sub(*n).filter(|_| *n >= 1),
                }?;
                if ignore_nulls {
                    Some(self.present[i].1.clone())
                } else {
                    self.rows[i].2.clone()
                }
            }
            SlidingFunction::VarSamp | SlidingFunction::StddevSamp if self.non_null < 2 => None,
            _ if self.non_null == 0 => None,
            SlidingFunction::Sum => number(self.sum),
            SlidingFunction::Avg => number(self.sum / n),
            SlidingFunction::Min => self.mins.front().map(|m| m.1.clone()),
            SlidingFunction::Max => self.maxs.front().map(|m| m.1.clone()),
            SlidingFunction::VarPop => number(var_pop()),
            SlidingFunction::StddevPop => number(var_pop().sqrt()),
            SlidingFunction::VarSamp => number(var_pop() * n / (n - 1.0)),
            SlidingFunction::StddevSamp => number((var_pop() * n / (n - 1.0)).sqrt()),
            SlidingFunction::ExpAvg { .. } => {
                let (_, s, w) = self.decayed;
                if w > 1e-300 {
                    number(s / w)
                } else {
                    // Every weight underflowed: the newest value is all that counts.
                    self.rows.iter().rev().find_map(|r| r.2.clone())
                }
            }
        }
    }
}

/// A checkpoint's batches for one aggregate's partitions: the running aggregates (one row per
/// partition), the held rows, and the MIN/MAX/IGNORE NULLS deques.
fn snapshot_partitions<V: Value>(
    partitions: &HashMap<Box<[u8]>, Partition<V>>,
) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::array::{BinaryArray, Int64Array, UInt8Array, UInt64Array};
    let mut keys: Vec<&[u8]> = Vec::new();
    let (mut sum, mut sum_sq, mut non_null, mut arrivals) = (vec![], vec![], vec![], vec![]);
    let (mut decayed_at, mut decayed_s, mut decayed_w) = (vec![], vec![], vec![]);
    let (mut row_key, mut row_t, mut row_n, mut row_v): (Vec<&[u8]>, Vec<i64>, Vec<u64>, _) =
        (vec![], vec![], vec![], vec![]);
    let (mut kept_key, mut kept_which, mut kept_n, mut kept_v): (Vec<&[u8]>, Vec<u8>, Vec<u64>, _) =
        (vec![], vec![], vec![], vec![]);
    for (key, p) in partitions {
        keys.push(key);
        sum.push(p.sum);
        sum_sq.push(p.sum_sq);
        non_null.push(p.non_null);
        arrivals.push(p.arrivals);
        decayed_at.push(p.decayed.0);
        decayed_s.push(p.decayed.1);
        decayed_w.push(p.decayed.2);
        for (t, n, v) in &p.rows {
            row_key.push(key);
            row_t.push(*t);
            row_n.push(*n);
            row_v.push(v.clone());
        }
        for (which, deque) in [&p.mins, &p.maxs, &p.present].into_iter().enumerate() {
            for (n, v) in deque {
                kept_key.push(key);
                kept_which.push(which as u8);
                kept_n.push(*n);
                kept_v.push(Some(v.clone()));
            }
        }
    }
    let f64s = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let sums = RecordBatch::try_from_iter([
        ("key", Arc::new(BinaryArray::from(keys)) as ArrayRef),
        ("sum", f64s(sum)),
        ("sum_sq", f64s(sum_sq)),
        (
            "non_null",
            Arc::new(UInt64Array::from(non_null)) as ArrayRef,
        ),
        (
            "arrivals",
            Arc::new(UInt64Array::from(arrivals)) as ArrayRef,
        ),
        (
            "decayed_at",
            Arc::new(Int64Array::from(decayed_at)) as ArrayRef,
        ),
        ("decayed_s", f64s(decayed_s)),
        ("decayed_w", f64s(decayed_w)),
    ])?;
    let rows = RecordBatch::try_from_iter([
        ("key", Arc::new(BinaryArray::from(row_key)) as ArrayRef),
        ("t", Arc::new(Int64Array::from(row_t)) as ArrayRef),
        ("n", Arc::new(UInt64Array::from(row_n)) as ArrayRef),
        ("v", V::to_array(row_v)?),
    ])?;
    let kept = RecordBatch::try_from_iter([
        ("key", Arc::new(BinaryArray::from(kept_key)) as ArrayRef),
        ("which", Arc::new(UInt8Array::from(kept_which)) as ArrayRef),
        ("n", Arc::new(UInt64Array::from(kept_n)) as ArrayRef),
        ("v", V::to_array(kept_v)?),
    ])?;
    Ok(vec![sums, rows, kept])
}

/// The partitions a [`snapshot_partitions`] kept.
fn restore_partitions<V: Value>(
    batches: &[RecordBatch],
) -> Result<HashMap<Box<[u8]>, Partition<V>>> {
    use datafusion::arrow::datatypes::{Int64Type, UInt8Type, UInt64Type};
    let [sums, rows, kept] = batches else {
        return Err(crate::error::Error::Application(
            "checkpoint: a sliding window's state is not three batches".into(),
        ));
    };
    let mut partitions: HashMap<Box<[u8]>, Partition<V>> = HashMap::new();
    let f64_at =
        |b: &RecordBatch, c: usize, i: usize| b.column(c).as_primitive::<Float64Type>().value(i);
    let key = sums.column(0).as_binary::<i32>();
    for i in 0..sums.num_rows() {
        let p = Partition {
            sum: f64_at(sums, 1, i),
            sum_sq: f64_at(sums, 2, i),
            non_null: sums.column(3).as_primitive::<UInt64Type>().value(i),
            arrivals: sums.column(4).as_primitive::<UInt64Type>().value(i),
            decayed: (
                sums.column(5).as_primitive::<Int64Type>().value(i),
                f64_at(sums, 6, i),
                f64_at(sums, 7, i),
            ),
            ..Partition::default()
        };
        partitions.insert(Box::from(key.value(i)), p);
    }
    let key = rows.column(0).as_binary::<i32>();
    let (t, n) = (
        rows.column(1).as_primitive::<Int64Type>(),
        rows.column(2).as_primitive::<UInt64Type>(),
    );
    for i in 0..rows.num_rows() {
        let p = partitions.entry(Box::from(key.value(i))).or_default();
        p.rows
            .push_back((t.value(i), n.value(i), V::from_array(rows.column(3), i)?));
    }
    let key = kept.column(0).as_binary::<i32>();
    let (which, n) = (
        kept.column(1).as_primitive::<UInt8Type>(),
        kept.column(2).as_primitive::<UInt64Type>(),
    );
    for i in 0..kept.num_rows() {
        let p = partitions.entry(Box::from(key.value(i))).or_default();
        let v = V::from_array(kept.column(3), i)?.ok_or_else(|| {
            crate::error::Error::Application("checkpoint: a kept window value is NULL".into())
        })?;
        let deque = match which.value(i) {
            0 => &mut p.mins,
            1 => &mut p.maxs,
            _ => &mut p.present,
        };
        deque.push_back((n.value(i), v));
    }
    Ok(partitions)
}

/// The partitions of one aggregate, by partition key (Arrow row format).
enum Partitions {
    Numbers(HashMap<Box<[u8]>, Partition<f64>>),
    Values(HashMap<Box<[u8]>, Partition<ScalarValue>>),
}

struct State {
    converter: Option<RowConverter>,
    partitions: Partitions,
}

/// Running sliding windows: per aggregate, the partitions' states.
pub struct Sliding {
    spec: Arc<SlidingSpec>,
    states: Vec<State>,
}

impl Sliding {
    pub fn new(spec: Arc<SlidingSpec>) -> Sliding {
        let states = spec
            .aggregates
            .iter()
            .map(|a| State {
                converter: None,
                partitions: if a.numeric {
                    Partitions::Numbers(HashMap::new())
                } else {
                    Partitions::Values(HashMap::new())
                },
            })
            .collect();
        Sliding { spec, states }
    }
}

/// Adds each row to its partition's window and returns the aggregate over it.
fn slide<V: Value>(
    partitions: &mut HashMap<Box<[u8]>, Partition<V>>,
    agg: &SlidingAggregate,
    keys: Option<&Rows>,
    times: &[i64],
    value: impl Fn(usize) -> Option<V>,
) -> Vec<Option<V>> {
    let default = match &agg.function {
        SlidingFunction::Lag {
            default: Some(d), ..
        } => V::from_scalar(d),
        _ => None,
    };
    (0..times.len())
        .map(|i| {
            let key: &[u8] = keys.map(|r| r.row(i).data()).unwrap_or(&[]);
            let partition = match partitions.get_mut(key) {
                Some(p) => p,
                None => partitions.entry(Box::from(key)).or_default(),
            };
            partition.add(times[i], value(i), agg);
            partition.expire(agg, times[i]);
            partition.value(agg, &default)
        })
        .collect()
}

/// Drops the rows no future row can see, and the partitions left empty.
fn prune<V: Value>(
    partitions: &mut HashMap<Box<[u8]>, Partition<V>>,
    agg: &SlidingAggregate,
    bound: i64,
) {
    partitions.retain(|_, p| {
        p.expire(agg, bound);
        !p.rows.is_empty()
    });
}

impl Operator for Sliding {
    fn held(&self) -> crate::exec::Held {
        let mut held = crate::exec::Held::default();
        for s in &self.states {
            let (windows, rows) = match &s.partitions {
                Partitions::Numbers(p) => {
                    (p.len(), p.values().map(|x| x.rows.len()).sum::<usize>())
                }
                Partitions::Values(p) => (p.len(), p.values().map(|x| x.rows.len()).sum::<usize>()),
            };
            held.windows = held.windows.max(windows);
            held.rows += rows;
        }
        held
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let times = rowtime(&batch).values().clone();
        let mut columns: Vec<ArrayRef> = batch.columns()[..self.spec.input_visible].to_vec();
        for (agg, state) in self.spec.aggregates.iter().zip(&mut self.states) {
            let argument = agg.argument.evaluate(&batch)?.into_array(n)?;
            let keys = evaluate(&agg.partition_by, &batch)?;
            let rows = if keys.is_empty() {
                None
            } else {
                let converter = match &mut state.converter {
                    Some(c) => c,
                    None => state.converter.insert(RowConverter::new(
                        keys.iter()
                            .map(|k| SortField::new(k.data_type().clone()))
                            .collect(),
                    )?),
                };
                Some(converter.convert_columns(&keys)?)
            };
            let result: ArrayRef = match &mut state.partitions {
                Partitions::Numbers(partitions) => {
                    let values = cast(&argument, &DataType::Float64)?;
                    let values = values.as_primitive::<Float64Type>();
                    let out = slide(partitions, agg, rows.as_ref(), &times, |i| {
                        (!values.is_null(i)).then(|| values.value(i))
                    });
                    Arc::new(Float64Array::from(out))
                }
                Partitions::Values(partitions) => {
                    let out = slide(partitions, agg, rows.as_ref(), &times, |i| {
                        ScalarValue::try_from_array(&argument, i)
                            .ok()
                            .filter(|v| !v.is_null())
                    });
                    // COUNT gives numbers; the other functions the argument's values.
                    let natural = match agg.function {
                        SlidingFunction::Count => DataType::Float64,
                        _ => argument.data_type().clone(),
                    };
                    let null = ScalarValue::try_from(&natural)?;
                    ScalarValue::iter_to_array(
                        out.into_iter().map(|v| v.unwrap_or_else(|| null.clone())),
                    )?
                }
            };
            columns.push(cast(&result, &agg.output_type)?);
        }
        columns.push(batch.column(batch.num_columns() - 1).clone());
        out.batches.push(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let mut batches = Vec::new();
        for state in &self.states {
            batches.extend(match &state.partitions {
                Partitions::Numbers(p) => snapshot_partitions(p)?,
                Partitions::Values(p) => snapshot_partitions(p)?,
            });
        }
        Ok(Snapshot {
            meta: serde_json::Value::Null,
            batches,
        })
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        for (i, s) in self.states.iter_mut().enumerate() {
            let mine = state.batches.get(3 * i..3 * i + 3).ok_or_else(|| {
                crate::error::Error::Application(
                    "checkpoint: a sliding window's state lacks an aggregate".into(),
                )
            })?;
            s.partitions = match s.partitions {
                Partitions::Numbers(_) => Partitions::Numbers(restore_partitions(mine)?),
                Partitions::Values(_) => Partitions::Values(restore_partitions(mine)?),
            };
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, _out: &mut Emit) -> Result<()> {
        for (agg, state) in self.spec.aggregates.iter().zip(&mut self.states) {
            if let Frame::Range(_) = agg.frame {
                match &mut state.partitions {
                    Partitions::Numbers(p) => prune(p, agg, bound),
                    Partitions::Values(p) => prune(p, agg, bound),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
impl Sliding {
    /// Rows held in all partitions (to check that state is pruned).
    fn held_rows(&self) -> usize {
        self.states
            .iter()
            .map(|s| match &s.partitions {
                Partitions::Numbers(p) => p.values().map(|p| p.rows.len()).sum::<usize>(),
                Partitions::Values(p) => p.values().map(|p| p.rows.len()).sum(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::exec::test_util::{pump, rows, run, table, ts};
    use crate::types::SqlType;

    const WEATHER: &[(&str, SqlType)] = &[
        ("CITY", SqlType::Varchar(Some(16))),
        ("TEMP", SqlType::Integer),
    ];

    /// WEATHER rows from generated `ROWTIME | CITY | TEMP` lines.
    fn generated(lines: impl Iterator<Item = String>) -> RecordBatch {
        let text: Vec<String> = std::iter::once("ROWTIME | CITY | TEMP".to_string())
            .chain(lines)
            .collect();
        rows(WEATHER, &text.join("\n"))
    }

    #[test]
    fn one_row_per_input_row_over_rows_that_already_arrived() {
        // A global 1-hour RANGE window: the second 01:00 row sees the first; the first does not see
        // the second (rows with the same ROWTIME that arrive later are not in it).
        let mut ops = pump(
            "CREATE STREAM OUT (CITY VARCHAR(16), LO INTEGER, HI INTEGER, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM CITY, MIN(TEMP) OVER W, MAX(TEMP) OVER W, COUNT(*) OVER W FROM S
             WINDOW W AS (RANGE INTERVAL '1' HOUR PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY      | TEMP
             2018-11-01 01:00:00 | Denver    | 29
             2018-11-01 01:00:00 | Anchorage | 2
             2018-11-01 02:00:00 | Miami     | 65
             2018-11-01 02:00:01 | Denver    | 32",
        );
        let (out, errors) = run(&mut ops, input, ts("2018-11-01 02:00:01"));
        assert!(errors.is_empty());
        // 02:00:00 still sees both 01:00 rows (the lower bound is inclusive); 02:00:01 does not.
        let expected = "\
+-----------+----+----+---+---------------------+
| CITY      | LO | HI | N | ROWTIME             |
+-----------+----+----+---+---------------------+
| Denver    | 29 | 29 | 1 | 2018-11-01T01:00:00 |
| Anchorage | 2  | 29 | 2 | 2018-11-01T01:00:00 |
| Miami     | 2  | 65 | 3 | 2018-11-01T02:00:00 |
| Denver    | 32 | 65 | 2 | 2018-11-01T02:00:01 |
+-----------+----+----+---+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn partitions_and_rows_frames_and_nulls() {
        let mut ops = pump(
            "CREATE STREAM OUT (CITY VARCHAR(16), LAST2 DOUBLE, TOTAL INTEGER, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM CITY, AVG(TEMP) OVER (PARTITION BY CITY ROWS 1 PRECEDING),
                    SUM(TEMP) OVER (PARTITION BY CITY RANGE INTERVAL '1' DAY PRECEDING),
                    COUNT(TEMP) OVER (PARTITION BY CITY RANGE INTERVAL '1' DAY PRECEDING)
             FROM S;",
            WEATHER,
            &[],
        )
        .unwrap();
        // The fourth TEMP is NULL: aggregates ignore it, COUNT(x) does not count it.
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY   | TEMP
             2018-11-01 01:00:00 | Denver | 10
             2018-11-01 02:00:00 | Miami  | 50
             2018-11-01 03:00:00 | Denver | 20
             2018-11-01 04:00:00 | Denver | NULL
             2018-11-01 05:00:00 | Denver | 40",
        );
        let (out, _) = run(&mut ops, input, ts("2018-11-01 05:00:00"));
        let expected = "\
+--------+-------+-------+---+---------------------+
| CITY   | LAST2 | TOTAL | N | ROWTIME             |
+--------+-------+-------+---+---------------------+
| Denver | 10.0  | 10    | 1 | 2018-11-01T01:00:00 |
| Miami  | 50.0  | 50    | 1 | 2018-11-01T02:00:00 |
| Denver | 15.0  | 30    | 2 | 2018-11-01T03:00:00 |
| Denver | 20.0  | 30    | 2 | 2018-11-01T04:00:00 |
| Denver | 40.0  | 70    | 3 | 2018-11-01T05:00:00 |
+--------+-------+-------+---+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn first_last_variance_and_standard_deviation() {
        let temps = [2, 4, 4, 4, 5, 5, 7, 9];
        let times: Vec<String> = (0..temps.len())
            .map(|i| format!("2020-01-01 00:00:{i:02}"))
            .collect();
        let input = generated(
            times
                .iter()
                .zip(temps)
                .map(|(t, v)| format!("{t} | x | {v}")),
        );
        let mut ops = pump(
            "CREATE STREAM OUT (F INTEGER, L INTEGER, VP DOUBLE, VS DOUBLE, SP DOUBLE, SS DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM FIRST_VALUE(TEMP) OVER W, LAST_VALUE(TEMP) OVER W, VAR_POP(TEMP) OVER W,
                    VAR_SAMP(TEMP) OVER W, STDDEV_POP(TEMP) OVER W, STDDEV_SAMP(TEMP) OVER W
             FROM S WINDOW W AS (ROWS 7 PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let (out, _) = run(&mut ops, input, i64::MAX);
        let all = datafusion::arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        let last = all.num_rows() - 1;
        let f = |c: usize| all.column(c).as_primitive::<Float64Type>().value(last);
        let i = |c: usize| {
            all.column(c)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .value(last)
        };
        // The textbook series: mean 5, population variance 4, standard deviation 2.
        assert_eq!((i(0), i(1)), (2, 9));
        assert!(
            (f(2) - 4.0).abs() < 1e-9 && (f(4) - 2.0).abs() < 1e-9,
            "{}",
            table(&out)
        );
        assert!((f(3) - 32.0 / 7.0).abs() < 1e-9 && (f(5) - (32.0f64 / 7.0).sqrt()).abs() < 1e-9);
        // One row: no sample variance.
        assert!(all.column(3).is_null(0));
    }

    #[test]
    fn ignore_nulls_and_nth_value_from_last() {
        let mut ops = pump(
            "CREATE STREAM OUT (F INTEGER, L INTEGER, PREV INTEGER, LAST2 INTEGER, RESPECTED INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM FIRST_VALUE(TEMP) IGNORE NULLS OVER W, LAST_VALUE(TEMP) IGNORE NULLS OVER W,
                    LAG(TEMP, 1, -1) IGNORE NULLS OVER W, NTH_VALUE(TEMP, 2) FROM LAST IGNORE NULLS OVER W,
                    NTH_VALUE(TEMP, 1) FROM LAST OVER W
             FROM S WINDOW W AS (ROWS 3 PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY | TEMP
             2020-01-01 00:00:01 | a    | NULL
             2020-01-01 00:00:02 | a    | 10
             2020-01-01 00:00:03 | a    | NULL
             2020-01-01 00:00:04 | a    | 30
             2020-01-01 00:00:05 | a    | NULL",
        );
        let (out, _) = run(&mut ops, input, i64::MAX);
        // Row 4's window: NULL, 10, NULL, 30. IGNORE NULLS: first 10, last 30, the previous
        // non-NULL before 30 is 10, 2nd from last is 10. Row 5: the window is 10, NULL, 30, NULL;
        // the last non-NULL is 30 and LAG counts back from it; NTH_VALUE(…, 1) FROM LAST
        // respecting NULLs is the row itself: NULL.
        let expected = "\
+----+----+------+-------+-----------+---------------------+
| F  | L  | PREV | LAST2 | RESPECTED | ROWTIME             |
+----+----+------+-------+-----------+---------------------+
|    |    | -1   |       |           | 2020-01-01T00:00:01 |
| 10 | 10 | -1   |       | 10        | 2020-01-01T00:00:02 |
| 10 | 10 | 10   |       |           | 2020-01-01T00:00:03 |
| 10 | 30 | 10   | 10    | 30        | 2020-01-01T00:00:04 |
| 10 | 30 | 30   | 10    |           | 2020-01-01T00:00:05 |
+----+----+------+-------+-----------+---------------------+";
        assert_eq!(table(&out), expected);
        let err = rejection("SELECT STREAM SUM(TEMP) IGNORE NULLS OVER (ROWS 2 PRECEDING) FROM S");
        assert!(err.contains("SUM(…) IGNORE NULLS is not allowed"), "{err}");
    }

    #[test]
    fn min_max_first_and_lag_of_strings_and_timestamps() {
        let mut ops = pump(
            "CREATE STREAM OUT (LO VARCHAR(16), HI VARCHAR(16), FIRST_ VARCHAR(16), PREV VARCHAR(16), N BIGINT, LATEST TIMESTAMP);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM MIN(CITY) OVER W, MAX(CITY) OVER W, FIRST_VALUE(CITY) OVER W,
                    LAG(CITY, 1, 'none') OVER W, COUNT(CITY) OVER W, MAX(ROWTIME) OVER W
             FROM S WINDOW W AS (RANGE INTERVAL '1' MINUTE PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY   | TEMP
             2020-01-01 00:00:00 | Miami  | 1
             2020-01-01 00:00:30 | Denver | 2
             2020-01-01 00:01:10 | Austin | 3",
        );
        let (out, _) = run(&mut ops, input, i64::MAX);
        // The third row's window (from 00:00:10) no longer holds Miami.
        let expected = "\
+--------+--------+--------+--------+---+---------------------+---------------------+
| LO     | HI     | FIRST_ | PREV   | N | LATEST              | ROWTIME             |
+--------+--------+--------+--------+---+---------------------+---------------------+
| Miami  | Miami  | Miami  | none   | 1 | 2020-01-01T00:00:00 | 2020-01-01T00:00:00 |
| Denver | Miami  | Miami  | Miami  | 2 | 2020-01-01T00:00:30 | 2020-01-01T00:00:30 |
| Austin | Denver | Denver | Denver | 2 | 2020-01-01T00:01:10 | 2020-01-01T00:01:10 |
+--------+--------+--------+--------+---+---------------------+---------------------+";
        assert_eq!(table(&out), expected);
        let err = rejection("SELECT STREAM SUM(CITY) OVER (ROWS 2 PRECEDING) FROM S");
        assert!(
            err.contains("SUM cannot take arguments of types (VARCHAR)")
                && !err.contains("bug in DataFusion"),
            "{err}"
        );
    }

    #[test]
    fn exp_avg_weights_values_by_their_age() {
        let mut ops = pump(
            "CREATE STREAM OUT (E DOUBLE);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM EXP_AVG(TEMP, INTERVAL '10' SECOND)
                 OVER (PARTITION BY CITY RANGE INTERVAL '30' SECOND PRECEDING)
             FROM S;",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY | TEMP
             2020-01-01 00:00:00 | a    | 10
             2020-01-01 00:00:10 | a    | 40
             2020-01-01 00:00:20 | a    | NULL
             2020-01-01 00:00:35 | a    | 0",
        );
        let (out, _) = run(&mut ops, input, i64::MAX);
        let all = datafusion::arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        let e = all.column(0).as_primitive::<Float64Type>();
        // Half-life 10 s. Row 2: weights 1/2 (10) and 1 (40): (5 + 40) / 1.5 = 30. Row 3 (NULL):
        // the same rows, both a further half older: still 30. Row 4: 10 has left the 30 s window;
        // 40 is 25 s old (weight 2^-2.5), 0 weighs 1.
        let w = (-2.5f64).exp2();
        let expected = [10.0, 30.0, 30.0, 40.0 * w / (w + 1.0)];
        for (i, x) in expected.iter().enumerate() {
            assert!(
                (e.value(i) - x).abs() < 1e-9,
                "row {i}: {} vs {x}",
                e.value(i)
            );
        }
        let err = rejection(
            "SELECT STREAM EXP_AVG(TEMP, INTERVAL '1' SECOND) FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '1' MINUTE)",
        );
        assert!(
            err.contains("EXP_AVG works only over a sliding window"),
            "{err}"
        );
        let err = rejection("SELECT STREAM EXP_AVG(TEMP, 5) OVER (ROWS 2 PRECEDING) FROM S");
        assert!(err.contains("EXP_AVG needs a positive half-life"), "{err}");
    }

    #[test]
    fn lag_and_nth_value_look_inside_the_window() {
        let mut ops = pump(
            "CREATE STREAM OUT (PREV INTEGER, PREV2 INTEGER, SECOND_ INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM LAG(TEMP) OVER W, LAG(TEMP, 2, -1) OVER W, NTH_VALUE(TEMP, 2) OVER W
             FROM S WINDOW W AS (PARTITION BY CITY ROWS 2 PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = rows(
            WEATHER,
            "ROWTIME             | CITY | TEMP
             2020-01-01 00:00:01 | a    | 10
             2020-01-01 00:00:02 | a    | 20
             2020-01-01 00:00:03 | b    | 99
             2020-01-01 00:00:04 | a    | 30
             2020-01-01 00:00:05 | a    | 40",
        );
        let (out, _) = run(&mut ops, input, i64::MAX);
        // The window of the last `a` row holds 20, 30, 40: LAG 1 = 30, LAG 2 = 20, 2nd = 30.
        let expected = "\
+------+-------+---------+---------------------+
| PREV | PREV2 | SECOND_ | ROWTIME             |
+------+-------+---------+---------------------+
|      | -1    |         | 2020-01-01T00:00:01 |
| 10   | -1    | 20      | 2020-01-01T00:00:02 |
|      | -1    |         | 2020-01-01T00:00:03 |
| 20   | 10    | 20      | 2020-01-01T00:00:04 |
| 30   | 20    | 30      | 2020-01-01T00:00:05 |
+------+-------+---------+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn state_is_pruned_as_rowtime_moves_on() {
        // Build the operator directly to look at its state.
        let src = crate::error::SourceText::new(
            "t.sql",
            "CREATE STREAM OUT (N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM COUNT(*) OVER (PARTITION BY CITY RANGE INTERVAL '1' MINUTE PRECEDING) FROM S;",
        );
        let stream = crate::catalog::StreamDef {
            name: "S".into(),
            columns: WEATHER.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            kind: crate::catalog::StreamKind::Created,
        };
        let catalog = crate::catalog::Catalog::new(vec![stream], vec![]);
        let statements = crate::dialect::parse_application(&src).unwrap();
        let plan = crate::plan::plan(&src, &statements, catalog).unwrap();
        let crate::plan::OperatorSpec::Sliding(spec) = &plan.pumps[0].ops[0] else {
            panic!("not sliding")
        };
        let mut op = Sliding::new(Arc::clone(spec));
        let mut out = Emit::default();
        let times: Vec<String> = (0..60)
            .map(|i| format!("2020-01-01 00:00:{i:02}"))
            .collect();
        let input = generated(
            times
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{t} | {} | {i}", if i % 2 == 0 { "a" } else { "b" })),
        );
        op.push(input, &mut out).unwrap();
        assert_eq!(op.held_rows(), 60);
        // Two minutes later nothing can be in any future window: everything is dropped.
        op.advance(ts("2020-01-01 00:02:00"), &mut out).unwrap();
        assert_eq!(op.held_rows(), 0);
        assert!(matches!(&op.states[0].partitions, Partitions::Numbers(p) if p.is_empty()));
    }

    fn rejection(sql: &str) -> String {
        match pump(
            &format!("CREATE STREAM OUT (N DOUBLE);\nCREATE PUMP P AS INSERT INTO OUT\n{sql};"),
            WEATHER,
            &[],
        ) {
            Ok(_) => panic!("accepted: {sql}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_what_kda_rejects_or_rowtime_lacks() {
        let err =
            rejection("SELECT STREAM SUM(TEMP) OVER (ORDER BY TEMP RANGE 5 PRECEDING) FROM S");
        assert!(
            err.contains("ORDER BY is not allowed in a windowed aggregate"),
            "{err}"
        );
        let err = rejection(
            "SELECT STREAM COUNT(DISTINCT TEMP) OVER (RANGE INTERVAL '1' MINUTE PRECEDING) FROM S",
        );
        assert!(
            err.contains("COUNT(DISTINCT …) is not allowed in a windowed aggregate"),
            "{err}"
        );
        let err = rejection("SELECT STREAM RANK() OVER (ROWS 2 PRECEDING) FROM S");
        assert!(
            err.contains("RANK over a sliding window is not supported yet"),
            "{err}"
        );
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        // Running sums with retraction (floating point: the bits must survive), MIN and MAX
        // deques, IGNORE NULLS, EXP_AVG, values of text, and a ROWS frame.
        let code = "CREATE STREAM OUT (CITY VARCHAR(16), S DOUBLE, LO INTEGER, HI VARCHAR(16), L INTEGER, E DOUBLE, R DOUBLE, SD DOUBLE);
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM CITY, SUM(TEMP / 7.0) OVER W, MIN(TEMP) OVER W, MAX(CITY) OVER W,
                           LAG(TEMP) IGNORE NULLS OVER W, EXP_AVG(TEMP, INTERVAL '10' SECOND) OVER W,
                           AVG(TEMP / 3.0) OVER (PARTITION BY CITY ROWS 2 PRECEDING), STDDEV_SAMP(TEMP) OVER W
                    FROM S WINDOW W AS (PARTITION BY CITY RANGE INTERVAL '30' SECOND PRECEDING);";
        let input = generated((0..40).map(|i| {
            let city = ["Denver", "Miami", "Anchorage"][i % 3];
            let temp = if i % 5 == 4 {
                "NULL".to_string()
            } else {
                ((i * 37) % 23).to_string()
            };
            format!(
                "2020-01-01 00:{:02}:{:02} | {city} | {temp}",
                i * 7 / 60,
                i * 7 % 60
            )
        }));
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, WEATHER, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
    }
}
