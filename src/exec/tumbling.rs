//! Tumbling windows: a streaming `GROUP BY` with one ROWTIME-based window expression
//! (`STEP(ROWTIME BY INTERVAL …)` or `FLOOR(ROWTIME TO unit)`) plus any other keys.
//!
//! State is one entry per open window, keyed by the window start, each with its own group table
//! and DataFusion `GroupsAccumulator`s (vectorized: one `update_batch` per run of rows in the
//! same window). Window `[start, end)` emits once, when the ROWTIME bound reaches `end`: one row
//! per group, ordered by the other keys, with ROWTIME = `end`; the window column holds `start`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Months};
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampMillisecondArray};
use datafusion::arrow::compute::{SortColumn, cast, lexsort_to_indices, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::scalar::ScalarValue;

use super::{Emit, Operator, evaluate, evaluate_filter, groups_accumulators, timestamp_ms};
use crate::error::Result;

/// The length of a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowWidth {
    Millis(i64),
    /// Calendar months (FLOOR … TO MONTH / YEAR).
    Months(u32),
}

impl WindowWidth {
    /// The end of the window that starts at `start` (ms since epoch).
    pub fn end(&self, start: i64) -> i64 {
        match self {
            WindowWidth::Millis(ms) => start.saturating_add(*ms),
            WindowWidth::Months(m) => DateTime::from_timestamp_millis(start)
                .and_then(|t| t.checked_add_months(Months::new(*m)))
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MAX),
        }
    }
}

impl fmt::Display for WindowWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowWidth::Millis(ms) if ms % 86_400_000 == 0 => {
                write!(f, "{} day(s)", ms / 86_400_000)
            }
            WindowWidth::Millis(ms) if ms % 3_600_000 == 0 => {
                write!(f, "{} hour(s)", ms / 3_600_000)
            }
            WindowWidth::Millis(ms) if ms % 60_000 == 0 => write!(f, "{} minute(s)", ms / 60_000),
            WindowWidth::Millis(ms) if ms % 1000 == 0 => write!(f, "{} second(s)", ms / 1000),
            WindowWidth::Millis(ms) => write!(f, "{ms} ms"),
            WindowWidth::Months(m) => write!(f, "{m} month(s)"),
        }
    }
}

/// Plan node: a tumbling-window aggregate.
#[derive(Debug)]
pub struct TumblingSpec {
    /// Evaluates each row's window start (a timestamp).
    pub window: Arc<dyn PhysicalExpr>,
    pub width: WindowWidth,
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
}

impl fmt::Display for TumblingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tumbling window of {}: {}", self.width, self.display)
    }
}

struct OpenWindow {
    end: i64,
    groups: Option<Box<dyn GroupValues>>,
    group_count: usize,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

/// Running tumbling window.
pub struct Tumbling {
    spec: Arc<TumblingSpec>,
    windows: BTreeMap<i64, OpenWindow>,
    group_indices: Vec<usize>,
}

impl Tumbling {
    pub fn new(spec: Arc<TumblingSpec>) -> Tumbling {
        Tumbling {
            spec,
            windows: BTreeMap::new(),
            group_indices: Vec::new(),
        }
    }

    fn open(&self, start: i64) -> Result<OpenWindow> {
        let spec = &self.spec;
        let groups = if spec.keys.is_empty() {
            None
        } else {
            Some(new_group_values(
                Arc::clone(&spec.key_schema),
                &GroupOrdering::None,
            )?)
        };
        let accumulators = groups_accumulators(&spec.aggregates)?;
        Ok(OpenWindow {
            end: spec.width.end(start),
            groups,
            group_count: 0,
            accumulators,
        })
    }

    fn emit(&self, start: i64, mut w: OpenWindow) -> Result<RecordBatch> {
        let spec = &self.spec;
        let n = w.group_count;
        let keys = match &mut w.groups {
            Some(g) => g.emit(EmitTo::All)?,
            None => vec![],
        };
        let mut values: Vec<ArrayRef> = Vec::with_capacity(w.accumulators.len());
        for acc in &mut w.accumulators {
            values.push(acc.evaluate(EmitTo::All)?);
        }
        let group_columns = 1 + spec.keys.len();
        let mut columns: Vec<Option<ArrayRef>> = vec![None; group_columns];
        let window_type = spec.schema.field(spec.window_position).data_type();
        let start_value = cast(
            &ScalarValue::TimestampMillisecond(Some(start), None).to_array()?,
            window_type,
        )?;
        columns[spec.window_position] =
            Some(ScalarValue::try_from_array(&start_value, 0)?.to_array_of_size(n)?);
        for (pos, key) in spec.key_positions.iter().zip(keys) {
            columns[*pos] = Some(key);
        }
        let mut columns: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| c.expect("every group column is set"))
            .collect();
        columns.extend(values);
        // Order the window's rows by the other keys, so output does not depend on arrival order.
        if !spec.keys.is_empty() && n > 1 {
            let sort: Vec<SortColumn> = spec
                .key_positions
                .iter()
                .map(|p| SortColumn {
                    values: Arc::clone(&columns[*p]),
                    options: None,
                })
                .collect();
            let indices = lexsort_to_indices(&sort, None)?;
            columns = columns
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<_, _>>()?;
        }
        columns.push(Arc::new(TimestampMillisecondArray::from(vec![w.end; n])));
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }
}

impl Operator for Tumbling {
    fn push(&mut self, batch: RecordBatch, _out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let starts = timestamp_ms(&self.spec.window.evaluate(&batch)?.into_array(n)?)?;
        let keys = evaluate(&self.spec.keys, &batch)?;
        let mut args: Vec<Vec<ArrayRef>> = Vec::with_capacity(self.spec.aggregates.len());
        for a in &self.spec.aggregates {
            args.push(evaluate(&a.expressions(), &batch)?);
        }
        let filters: Vec<Option<BooleanArray>> = self
            .spec
            .filters
            .iter()
            .map(|f| evaluate_filter(f, &batch))
            .collect::<Result<_>>()?;
        // Rows arrive in ROWTIME order, so each window is a run of consecutive rows.
        let mut run_start = 0;
        while run_start < n {
            let start = starts.value(run_start);
            let mut run_end = run_start + 1;
            while run_end < n && starts.value(run_end) == start {
                run_end += 1;
            }
            let len = run_end - run_start;
            if !self.windows.contains_key(&start) {
                let w = self.open(start)?;
                self.windows.insert(start, w);
            }
            let w = self.windows.get_mut(&start).expect("window just opened");
            self.group_indices.clear();
            match &mut w.groups {
                Some(g) => {
                    let slices: Vec<ArrayRef> =
                        keys.iter().map(|k| k.slice(run_start, len)).collect();
                    g.intern(&slices, &mut self.group_indices)?;
                    w.group_count = g.len();
                }
                None => {
                    self.group_indices.resize(len, 0);
                    w.group_count = 1;
                }
            }
            for (i, acc) in w.accumulators.iter_mut().enumerate() {
                let values: Vec<ArrayRef> =
                    args[i].iter().map(|a| a.slice(run_start, len)).collect();
                let filter = filters[i].as_ref().map(|f| f.slice(run_start, len));
                acc.update_batch(&values, &self.group_indices, filter.as_ref(), w.group_count)?;
            }
            run_start = run_end;
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        while let Some((&start, w)) = self.windows.first_key_value() {
            if w.end > bound {
                break;
            }
            let w = self.windows.remove(&start).expect("first window exists");
            out.batches.push(self.emit(start, w)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int32Array, StringArray};

    use super::*;
    use crate::exec::advance_through;
    use crate::exec::test_util::{batch, pump, run, table, ts};
    use crate::types::SqlType;

    /// EX-01/EX-02's WEATHERSTREAM rows.
    fn weather() -> RecordBatch {
        let rows = [
            ("2018-11-01 01:00:00", "Denver", 29),
            ("2018-11-01 01:00:00", "Anchorage", 2),
            ("2018-11-01 06:00:00", "Miami", 65),
            ("2018-11-01 07:00:00", "Denver", 32),
            ("2018-11-01 09:00:00", "Anchorage", 9),
            ("2018-11-01 13:00:00", "Denver", 50),
            ("2018-11-01 17:00:00", "Anchorage", 10),
            ("2018-11-01 18:00:00", "Miami", 71),
            ("2018-11-01 19:00:00", "Denver", 43),
            ("2018-11-02 01:00:00", "Anchorage", 4),
            ("2018-11-02 01:00:00", "Denver", 39),
            ("2018-11-02 07:00:00", "Denver", 46),
            ("2018-11-02 09:00:00", "Anchorage", 3),
            ("2018-11-02 13:00:00", "Denver", 56),
            ("2018-11-02 17:00:00", "Anchorage", 2),
            ("2018-11-02 19:00:00", "Denver", 50),
            ("2018-11-03 01:00:00", "Denver", 36),
            ("2018-11-03 01:00:00", "Anchorage", 1),
        ];
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
    fn windows_width_ends() {
        assert_eq!(WindowWidth::Millis(600_000).end(0), 600_000);
        assert_eq!(
            WindowWidth::Months(1).end(ts("2020-01-01 00:00:00")),
            ts("2020-02-01 00:00:00")
        );
        assert_eq!(WindowWidth::Millis(10).end(i64::MAX - 1), i64::MAX);
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
}
