//! Stagger windows: `WINDOWED BY STAGGER (PARTITION BY keys RANGE INTERVAL …)`.
//!
//! A window per partition key opens at the ROWTIME of that key's first row and closes at
//! open + length (half-open: a row at exactly the close opens the key's next window). At the close
//! it emits one row, with ROWTIME = open + length (EX-05).
//!
//! Groups are (key, open) pairs in one DataFusion group table with `GroupsAccumulator`s. Windows
//! open in ROWTIME order, so they close in the order their groups were created: emitting the
//! closed ones is `EmitTo::First(n)`, and output comes out in ROWTIME order.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::{Emit, Operator, evaluate, evaluate_filter, groups_accumulators};
use crate::catalog::rowtime;
use crate::error::Result;
use crate::state::Snapshot;

/// Plan node: a stagger-window aggregate.
#[derive(Debug)]
pub struct StaggerSpec {
    /// The window length in milliseconds.
    pub length: i64,
    /// The PARTITION BY keys (the aggregate's group expressions, in output order).
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the keys followed by the window's open time (for the group table).
    pub group_schema: SchemaRef,
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// Output: keys, aggregates, then ROWTIME.
    pub schema: SchemaRef,
    pub display: String,
}

impl fmt::Display for StaggerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let length = crate::time::WindowWidth::Millis(self.length);
        write!(f, "stagger window of {length}: {}", self.display)
    }
}

/// Running stagger windows.
pub struct Stagger {
    spec: Arc<StaggerSpec>,
    converter: RowConverter,
    /// The open window of each key: its open time.
    open: HashMap<Box<[u8]>, i64>,
    groups: Box<dyn GroupValues>,
    /// Open time of each group, in group order (non-decreasing).
    group_open: Vec<i64>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    indices: Vec<usize>,
}

impl Stagger {
    pub fn new(spec: Arc<StaggerSpec>) -> Result<Stagger> {
        let key_fields = &spec.group_schema.fields()[..spec.keys.len()];
        let converter = RowConverter::new(
            key_fields
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let groups = new_group_values(Arc::clone(&spec.group_schema), &GroupOrdering::None)?;
        let accumulators = groups_accumulators(&spec.aggregates)?;
        Ok(Stagger {
            spec,
            converter,
            open: HashMap::new(),
            groups,
            group_open: vec![],
            accumulators,
            indices: vec![],
        })
    }
}

impl Operator for Stagger {
    fn held(&self) -> crate::exec::Held {
        crate::exec::Held {
            windows: self.open.len(),
            rows: self.groups.len(),
        }
    }

    fn push(&mut self, batch: RecordBatch, _out: &mut Emit) -> Result<()> {
        let n = batch.num_rows();
        let times = rowtime(&batch).clone();
        let keys = evaluate(&self.spec.keys, &batch)?;
        let rows = self.converter.convert_columns(&keys)?;
        // Each row belongs to its key's open window, or opens a new one.
        let mut opens = Vec::with_capacity(n);
        for i in 0..n {
            let t = times.value(i);
            let key = rows.row(i);
            let open = match self.open.get(key.as_ref()) {
                Some(&o) if t < o + self.spec.length => o,
                _ => {
                    self.open.insert(Box::from(key.as_ref()), t);
                    t
                }
            };
            opens.push(open);
        }
        let mut group_columns = keys;
        group_columns.push(Arc::new(TimestampMillisecondArray::from(opens.clone())));
        self.indices.clear();
        self.groups.intern(&group_columns, &mut self.indices)?;
        // New groups get the next indices, in row order.
        for (i, &g) in self.indices.iter().enumerate() {
            if g == self.group_open.len() {
                self.group_open.push(opens[i]);
            }
        }
        let total = self.groups.len();
        for (i, acc) in self.accumulators.iter_mut().enumerate() {
            let values = evaluate(&self.spec.aggregates[i].expressions(), &batch)?;
            let filter = evaluate_filter(&self.spec.filters[i], &batch)?;
            acc.update_batch(&values, &self.indices, filter.as_ref(), total)?;
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        super::groups::snapshot(
            &mut self.groups,
            &mut self.accumulators,
            serde_json::json!({ "group_open": self.group_open }),
        )
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.group_open = state.field("group_open")?;
        super::groups::restore(&mut self.groups, &mut self.accumulators, &state.batches)?;
        // Each key's open window: its latest group's (groups are in the order they opened).
        let keys = state.batch(0)?;
        if keys.num_rows() > 0 {
            let partition = &keys.columns()[..self.spec.keys.len()];
            let rows = self.converter.convert_columns(partition)?;
            for (g, open) in self.group_open.iter().enumerate() {
                self.open.insert(Box::from(rows.row(g).as_ref()), *open);
            }
        }
        Ok(())
    }

    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()> {
        let length = self.spec.length;
        let closed = self
            .group_open
            .iter()
            .take_while(|o| o.saturating_add(length) <= bound)
            .count();
        if closed == 0 {
            return Ok(());
        }
        let mut columns = self.groups.emit(EmitTo::First(closed))?;
        columns.pop(); // the open time: only a group key
        for acc in &mut self.accumulators {
            columns.push(acc.evaluate(EmitTo::First(closed))?);
        }
        let closes: Vec<i64> = self
            .group_open
            .drain(..closed)
            .map(|o| o.saturating_add(length))
            .collect();
        // Keys whose window just closed have none open any more.
        self.open.retain(|_, o| o.saturating_add(length) > bound);
        let columns: Vec<ArrayRef> = columns
            .into_iter()
            .zip(self.spec.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    datafusion::arrow::compute::cast(&c, f.data_type())
                }
            })
            .collect::<Result<_, _>>()?;
        let mut columns = columns;
        columns.push(Arc::new(TimestampMillisecondArray::from(closes)));
        out.batches.push(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::exec::advance_through;
    use crate::exec::test_util::{pump, rows, run, table, ts};
    use crate::types::SqlType;

    const TICKS: &[(&str, SqlType)] = &[
        ("TICKER", SqlType::Varchar(Some(4))),
        ("N", SqlType::Integer),
    ];

    #[test]
    fn a_window_per_key_opens_at_its_first_row_and_emits_at_open_plus_length() {
        let mut ops = pump(
            "CREATE STREAM OUT (TICKER VARCHAR(4), TOTAL INTEGER, C BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM TICKER, SUM(N), COUNT(*) FROM S
             WINDOWED BY STAGGER (PARTITION BY TICKER RANGE INTERVAL '1' MINUTE)
             HAVING COUNT(*) > 0;",
            TICKS,
            &[],
        )
        .unwrap();
        // 00:01:10 is exactly at A's close: it opens A's next window.
        let input = rows(
            TICKS,
            "ROWTIME             | TICKER | N
             2020-01-01 00:00:10 | A      | 1
             2020-01-01 00:00:30 | B      | 10
             2020-01-01 00:01:09 | A      | 2
             2020-01-01 00:01:10 | A      | 4
             2020-01-01 00:01:20 | B      | 20",
        );
        let (out, errors) = run(&mut ops, input, ts("2020-01-01 00:01:30"));
        assert!(errors.is_empty());
        let expected = "\
+--------+-------+---+---------------------+
| TICKER | TOTAL | C | ROWTIME             |
+--------+-------+---+---------------------+
| A      | 3     | 2 | 2020-01-01T00:01:10 |
| B      | 30    | 2 | 2020-01-01T00:01:30 |
+--------+-------+---+---------------------+";
        assert_eq!(table(&out), expected);
        let mut errors = Vec::new();
        let rest = advance_through(&mut ops, i64::MAX, &mut errors).unwrap();
        let rest: Vec<RecordBatch> = rest
            .into_iter()
            .map(|b| b.project(&[0, 1, 2, 3]).unwrap())
            .collect();
        let expected = "\
+--------+-------+---+---------------------+
| TICKER | TOTAL | C | ROWTIME             |
+--------+-------+---+---------------------+
| A      | 4     | 1 | 2020-01-01T00:02:10 |
+--------+-------+---+---------------------+";
        assert_eq!(table(&rest), expected);
    }

    #[test]
    fn bad_stagger_clauses_say_what_to_write() {
        let rejection = |clause: &str| {
            pump(
                &format!("CREATE STREAM OUT (T VARCHAR(4), C BIGINT);\nCREATE PUMP P AS INSERT INTO OUT\nSELECT STREAM TICKER, COUNT(*) FROM S\nWINDOWED BY STAGGER {clause};"),
                TICKS,
                &[],
            )
            .err()
            .expect("rejected")
            .to_string()
        };
        let err = rejection("(PARTITION BY TICKER)");
        assert!(
            err.starts_with("test.sql:4:1: error: STAGGER needs a RANGE INTERVAL"),
            "{err}"
        );
        assert!(
            err.contains(
                "help: write WINDOWED BY STAGGER (PARTITION BY key, … RANGE INTERVAL 'n' unit)"
            ),
            "{err}"
        );
        let err = rejection("(PARTITION BY TICKER RANGE INTERVAL '1' MONTH)");
        assert!(
            err.contains("unit must be SECOND, MINUTE, HOUR or DAY"),
            "{err}"
        );
        let err = rejection("(TICKER RANGE INTERVAL '1' MINUTE)");
        assert!(
            err.contains("STAGGER needs (PARTITION BY … RANGE INTERVAL …)"),
            "{err}"
        );
    }

    #[test]
    fn a_checkpoint_anywhere_resumes_as_if_uninterrupted() {
        let code = "CREATE STREAM OUT (TICKER VARCHAR(4), TOTAL INTEGER, C BIGINT);
                    CREATE PUMP P AS INSERT INTO OUT
                    SELECT STREAM TICKER, SUM(N), COUNT(*) FROM S
                    WINDOWED BY STAGGER (PARTITION BY TICKER RANGE INTERVAL '1' MINUTE);";
        let input = rows(
            TICKS,
            "ROWTIME             | TICKER | N
             2020-01-01 00:00:10 | A      | 1
             2020-01-01 00:00:30 | B      | 10
             2020-01-01 00:01:09 | A      | 2
             2020-01-01 00:01:10 | A      | 4
             2020-01-01 00:01:20 | B      | 20
             2020-01-01 00:02:30 | B      | 5
             2020-01-01 00:02:31 | A      | 7",
        );
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, TICKS, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
        }
    }
}
