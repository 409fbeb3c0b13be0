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

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::{Emit, Operator, evaluate, rowtime};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq)]
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
        default: Option<f64>,
    },
    /// `NTH_VALUE(x, n)`: the n-th row of the window (from the oldest), else NULL.
    NthValue(usize),
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
    pub argument: Arc<dyn PhysicalExpr>,
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

/// The rows of one partition inside the window, and the running aggregate.
#[derive(Default)]
struct Partition {
    /// (ROWTIME, arrival number, value) of the rows in the window, oldest first.
    rows: VecDeque<(i64, u64, Option<f64>)>,
    sum: f64,
    /// Sum of squares, for the variances.
    sum_sq: f64,
    non_null: u64,
    /// Monotonic deques of (arrival number, value): the front is the MIN (resp. MAX).
    mins: VecDeque<(u64, f64)>,
    maxs: VecDeque<(u64, f64)>,
    arrivals: u64,
}

impl Partition {
    fn add(&mut self, t: i64, v: Option<f64>) {
        let n = self.arrivals;
        self.arrivals += 1;
        self.rows.push_back((t, n, v));
        if let Some(v) = v {
            self.sum += v;
            self.sum_sq += v * v;
            self.non_null += 1;
            while self.mins.back().is_some_and(|(_, m)| *m >= v) {
                self.mins.pop_back();
            }
            self.mins.push_back((n, v));
            while self.maxs.back().is_some_and(|(_, m)| *m <= v) {
                self.maxs.pop_back();
            }
            self.maxs.push_back((n, v));
        }
    }

    fn expire(&mut self, frame: Frame, now: i64) {
        loop {
            let Some(&(t, n, v)) = self.rows.front() else {
                return;
            };
            let out = match frame {
                Frame::Range(ms) => t < now.saturating_sub(ms),
                Frame::Rows(k) => self.rows.len() as u64 > k + 1,
            };
            if !out {
                return;
            }
            self.rows.pop_front();
            if let Some(v) = v {
                self.sum -= v;
                self.sum_sq -= v * v;
                self.non_null -= 1;
            }
            while self.mins.front().is_some_and(|(m, _)| *m <= n) {
                self.mins.pop_front();
            }
            while self.maxs.front().is_some_and(|(m, _)| *m <= n) {
                self.maxs.pop_front();
            }
        }
    }

    fn value(&self, f: SlidingFunction) -> Option<f64> {
        let n = self.non_null as f64;
        // Population variance from the running sums (clamped: retraction can leave -0.0000001).
        let var_pop = || ((self.sum_sq - self.sum * self.sum / n) / n).max(0.0);
        match f {
            SlidingFunction::Count => Some(self.non_null as f64),
            // FIRST_VALUE and LAST_VALUE respect NULLs (KDA's default): the oldest and newest rows.
            SlidingFunction::FirstValue => self.rows.front().and_then(|r| r.2),
            SlidingFunction::LastValue => self.rows.back().and_then(|r| r.2),
            SlidingFunction::Lag { offset, default } => {
                match self.rows.len().checked_sub(offset + 1) {
                    Some(i) => self.rows[i].2,
                    None => default,
                }
            }
            SlidingFunction::NthValue(k) => self.rows.get(k.wrapping_sub(1)).and_then(|r| r.2),
            SlidingFunction::VarSamp | SlidingFunction::StddevSamp if self.non_null < 2 => None,
            _ if self.non_null == 0 => None,
            SlidingFunction::Sum => Some(self.sum),
            SlidingFunction::Avg => Some(self.sum / self.non_null as f64),
            SlidingFunction::Min => self.mins.front().map(|(_, v)| *v),
            SlidingFunction::Max => self.maxs.front().map(|(_, v)| *v),
            SlidingFunction::VarPop => Some(var_pop()),
            SlidingFunction::StddevPop => Some(var_pop().sqrt()),
            SlidingFunction::VarSamp => Some(var_pop() * n / (n - 1.0)),
            SlidingFunction::StddevSamp => Some((var_pop() * n / (n - 1.0)).sqrt()),
        }
    }
}

struct State {
    converter: Option<RowConverter>,
    partitions: HashMap<Box<[u8]>, Partition>,
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
            .map(|_| State {
                converter: None,
                partitions: HashMap::new(),
            })
            .collect();
        Sliding { spec, states }
    }
}

impl Operator for Sliding {
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let times = rowtime(&batch).clone();
        let mut columns: Vec<ArrayRef> = batch.columns()[..self.spec.input_visible].to_vec();
        for (agg, state) in self.spec.aggregates.iter().zip(&mut self.states) {
            let values = cast(
                &agg.argument.evaluate(&batch)?.into_array(n)?,
                &DataType::Float64,
            )?;
            let values = values.as_primitive::<Float64Type>();
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
            let mut result = Float64Builder::with_capacity(n);
            for i in 0..n {
                let key: &[u8] = rows.as_ref().map(|r| r.row(i).data()).unwrap_or(&[]);
                let partition = match state.partitions.get_mut(key) {
                    Some(p) => p,
                    None => state.partitions.entry(Box::from(key)).or_default(),
                };
                let t = times.value(i);
                partition.add(t, (!values.is_null(i)).then(|| values.value(i)));
                partition.expire(agg.frame, t);
                result.append_option(partition.value(agg.function));
            }
            columns.push(cast(
                &(Arc::new(result.finish()) as ArrayRef),
                &agg.output_type,
            )?);
        }
        columns.push(batch.column(batch.num_columns() - 1).clone());
        out.batches.push(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?);
        Ok(())
    }

    fn advance(&mut self, bound: i64, _out: &mut Emit) -> Result<()> {
        // Rows no future row can see leave; partitions left empty are dropped.
        for (agg, state) in self.spec.aggregates.iter().zip(&mut self.states) {
            if let Frame::Range(_) = agg.frame {
                state.partitions.retain(|_, p| {
                    p.expire(agg.frame, bound);
                    !p.rows.is_empty()
                });
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
            .flat_map(|s| s.partitions.values())
            .map(|p| p.rows.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, StringArray};

    use super::*;
    use crate::exec::test_util::{batch, pump, run, table, ts};
    use crate::types::SqlType;

    const WEATHER: &[(&str, SqlType)] = &[
        ("CITY", SqlType::Varchar(Some(16))),
        ("TEMP", SqlType::Integer),
    ];

    fn weather(rows: &[(&str, &str, i32)]) -> RecordBatch {
        let times: Vec<i64> = rows.iter().map(|r| ts(r.0)).collect();
        batch(
            vec![
                (
                    "CITY",
                    Arc::new(StringArray::from(
                        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
                (
                    "TEMP",
                    Arc::new(Int32Array::from(
                        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
            ],
            &times,
        )
    }

    #[test]
    fn one_row_per_input_row_over_rows_that_already_arrived() {
        // A global 1-hour RANGE window: the second 01:00 row sees the first; the first does not see
        // the second (FEATURES §10.2: rows with the same ROWTIME that arrive later are not in it).
        let mut ops = pump(
            "CREATE STREAM OUT (CITY VARCHAR(16), LO INTEGER, HI INTEGER, N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM CITY, MIN(TEMP) OVER W, MAX(TEMP) OVER W, COUNT(*) OVER W FROM S
             WINDOW W AS (RANGE INTERVAL '1' HOUR PRECEDING);",
            WEATHER,
            &[],
        )
        .unwrap();
        let input = weather(&[
            ("2018-11-01 01:00:00", "Denver", 29),
            ("2018-11-01 01:00:00", "Anchorage", 2),
            ("2018-11-01 02:00:00", "Miami", 65),
            ("2018-11-01 02:00:01", "Denver", 32),
        ]);
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
        let mut input = weather(&[
            ("2018-11-01 01:00:00", "Denver", 10),
            ("2018-11-01 02:00:00", "Miami", 50),
            ("2018-11-01 03:00:00", "Denver", 20),
            ("2018-11-01 04:00:00", "Denver", 0),
            ("2018-11-01 05:00:00", "Denver", 40),
        ]);
        // Make the fourth TEMP NULL: aggregates ignore it, COUNT(x) does not count it.
        let temps: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(10),
            Some(50),
            Some(20),
            None,
            Some(40),
        ]));
        let mut columns = input.columns().to_vec();
        columns[1] = temps;
        input = RecordBatch::try_new(input.schema(), columns).unwrap();
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
        let rows: Vec<(&str, &str, i32)> = times
            .iter()
            .zip(temps)
            .map(|(t, v)| (t.as_str(), "x", v))
            .collect();
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
        let (out, _) = run(&mut ops, weather(&rows), i64::MAX);
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
        let err = pump(
            "CREATE STREAM OUT (F INTEGER); CREATE PUMP P AS INSERT INTO OUT SELECT STREAM FIRST_VALUE(TEMP) IGNORE NULLS OVER (ROWS 2 PRECEDING) FROM S;",
            WEATHER,
            &[],
        )
        .err()
        .expect("rejected")
        .to_string();
        assert!(
            err.contains("IGNORE NULLS over a sliding window is not supported yet"),
            "{err}"
        );
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
        let input = weather(&[
            ("2020-01-01 00:00:01", "a", 10),
            ("2020-01-01 00:00:02", "a", 20),
            ("2020-01-01 00:00:03", "b", 99),
            ("2020-01-01 00:00:04", "a", 30),
            ("2020-01-01 00:00:05", "a", 40),
        ]);
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
        let src = crate::dialect::SourceText::new(
            "t.sql",
            "CREATE STREAM OUT (N BIGINT);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM COUNT(*) OVER (PARTITION BY CITY RANGE INTERVAL '1' MINUTE PRECEDING) FROM S;",
        );
        let mut catalog = crate::catalog::Catalog::default();
        catalog.streams.push(crate::catalog::StreamDef {
            name: "S".into(),
            columns: WEATHER.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            kind: crate::catalog::StreamKind::Created,
        });
        catalog
            .streams
            .push(crate::error_stream::error_stream_def());
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
        let rows: Vec<(&str, &str, i32)> = times
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), if i % 2 == 0 { "a" } else { "b" }, i as i32))
            .collect();
        op.push(weather(&rows), &mut out).unwrap();
        assert_eq!(op.held_rows(), 60);
        // Two minutes later nothing can be in any future window: everything is dropped.
        op.advance(ts("2020-01-01 00:02:00"), &mut out).unwrap();
        assert_eq!(op.held_rows(), 0);
        assert!(op.states[0].partitions.is_empty());
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
}
