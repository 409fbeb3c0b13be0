//! Stream-to-reference-table joins (`FROM stream [LEFT] JOIN table ON …`), and the semi and
//! anti joins that `x IN (SELECT … FROM table)` and `[NOT] EXISTS (…)` become.
//!
//! The reference table is loaded before the first row, put through the subquery's filters and
//! projections if the join reads one, and indexed by its equality keys (Arrow row format,
//! hashed). Each stream row looks up its matches; extra ON conditions are evaluated on the
//! candidate pairs, vectorized. INNER drops unmatched stream rows; LEFT OUTER emits them once
//! with NULL table columns; SEMI keeps the stream rows with a match, ANTI those without (for
//! `NOT IN`, none when the table has a NULL key, and not a row whose own key is NULL). Output
//! keeps the stream's row order and ROWTIME.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array, UInt32Builder};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::{Emit, Operator, evaluate};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupJoinType {
    Inner,
    Left,
    /// The stream rows with a match (`IN`, `EXISTS`); only their columns.
    Semi,
    /// The stream rows without one (`NOT EXISTS`; with `null_aware`, `NOT IN`).
    Anti {
        null_aware: bool,
    },
}

/// A step from the loaded reference table to the rows the join reads (a subquery's `WHERE`
/// and select list).
#[derive(Debug)]
pub enum TableStage {
    Filter(Arc<dyn PhysicalExpr>),
    Project(Vec<Arc<dyn PhysicalExpr>>, SchemaRef),
}

/// Plan node: a join of a stream with a reference table.
#[derive(Debug)]
pub struct LookupJoinSpec {
    pub table: String,
    /// Constant rows (`(VALUES …) AS v(…)`), joined instead of a loaded reference table.
    pub rows: Option<RecordBatch>,
    /// Applied to the table's rows, in order, before joining.
    pub table_stages: Vec<TableStage>,
    /// A stream row with a table row, then ROWTIME: what the rest of the ON condition reads
    /// (the output schema, but for semi and anti joins, whose output has the stream's columns).
    pub pair_schema: SchemaRef,
    pub join_type: LookupJoinType,
    /// Equality keys: evaluated on the stream batch and on the table, pairwise equal.
    pub stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    pub table_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The rest of the ON condition, over a joined row (columns in `schema` order).
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// Whether the stream's columns come first in the output (`stream JOIN table`).
    pub stream_first: bool,
    pub stream_visible: usize,
    /// Output: joined columns, then ROWTIME.
    pub schema: SchemaRef,
    pub display: String,
}

impl fmt::Display for LookupJoinSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.join_type {
            LookupJoinType::Inner => "inner",
            LookupJoinType::Left => "left outer",
            LookupJoinType::Semi => "semi",
            LookupJoinType::Anti { null_aware: false } => "anti",
            LookupJoinType::Anti { null_aware: true } => "null-aware anti",
        };
        let with = match self.rows {
            Some(_) => "constant rows",
            None => "reference table",
        };
        write!(
            f,
            "{kind} lookup join with {with} {} on {}",
            self.table, self.display
        )
    }
}

/// Running lookup join: the table, its key index.
pub struct LookupJoin {
    spec: Arc<LookupJoinSpec>,
    table: RecordBatch,
    converter: RowConverter,
    key_types: Vec<DataType>,
    index: HashMap<Box<[u8]>, Vec<u32>>,
    /// Some table row has a NULL key.
    null_key: bool,
}

impl LookupJoin {
    /// Indexes `table` (the reference table's rows) by the spec's table keys.
    pub fn new(spec: Arc<LookupJoinSpec>, table: RecordBatch) -> Result<LookupJoin> {
        let mut table = table;
        for stage in &spec.table_stages {
            table = match stage {
                TableStage::Filter(e) => {
                    let mask = e.evaluate(&table)?.into_array(table.num_rows())?;
                    datafusion::arrow::compute::filter_record_batch(&table, mask.as_boolean())?
                }
                TableStage::Project(exprs, schema) => {
                    RecordBatch::try_new(Arc::clone(schema), evaluate(exprs, &table)?)?
                }
            };
        }
        let keys = evaluate(&spec.table_keys, &table)?;
        // NOT IN over a table with a NULL key is never true.
        let null_key = keys.iter().any(|k| k.null_count() > 0);
        let key_types: Vec<DataType> = keys.iter().map(|k| k.data_type().clone()).collect();
        let converter = RowConverter::new(
            key_types
                .iter()
                .map(|t| SortField::new(t.clone()))
                .collect(),
        )?;
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        if !keys.is_empty() {
            let rows = converter.convert_columns(&keys)?;
            for i in 0..table.num_rows() {
                if keys.iter().any(|k| k.is_null(i)) {
                    continue; // NULL never equals anything
                }
                index
                    .entry(Box::from(rows.row(i).as_ref()))
                    .or_default()
                    .push(i as u32);
            }
        }
        Ok(LookupJoin {
            spec,
            table,
            converter,
            key_types,
            index,
            null_key,
        })
    }

    /// Candidate pairs (stream row, table row) in stream-row order.
    fn candidates(&self, batch: &RecordBatch) -> Result<(UInt32Array, UInt32Array)> {
        let n = batch.num_rows();
        let mut probe = UInt32Builder::with_capacity(n);
        let mut build = UInt32Builder::with_capacity(n);
        if self.spec.stream_keys.is_empty() {
            // No equality key: every table row is a candidate.
            for i in 0..n as u32 {
                for j in 0..self.table.num_rows() as u32 {
                    probe.append_value(i);
                    build.append_value(j);
                }
            }
            return Ok((probe.finish(), build.finish()));
        }
        let keys = evaluate(&self.spec.stream_keys, batch)?;
        let keys: Vec<ArrayRef> = keys
            .iter()
            .zip(&self.key_types)
            .map(|(k, t)| {
                if k.data_type() == t {
                    Ok(Arc::clone(k))
                } else {
                    cast(k, t)
                }
            })
            .collect::<Result<_, _>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        for i in 0..n {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            if let Some(matches) = self.index.get(rows.row(i).as_ref()) {
                for &j in matches {
                    probe.append_value(i as u32);
                    build.append_value(j);
                }
            }
        }
        Ok((probe.finish(), build.finish()))
    }

    /// The joined visible columns for the index pairs, in output order.
    fn joined(
        &self,
        batch: &RecordBatch,
        probe: &UInt32Array,
        build: &UInt32Array,
    ) -> Result<Vec<ArrayRef>> {
        let stream_cols =
            (0..self.spec.stream_visible).map(|c| take(batch.column(c).as_ref(), probe, None));
        let table_cols = self
            .table
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), build, None));
        let columns: Vec<ArrayRef> = if self.spec.stream_first {
            stream_cols.chain(table_cols).collect::<Result<_, _>>()?
        } else {
            table_cols.chain(stream_cols).collect::<Result<_, _>>()?
        };
        Ok(columns)
    }
}

impl Operator for LookupJoin {
    fn replace_table(&mut self, name: &str, rows: &RecordBatch) -> Result<bool> {
        if name != self.spec.table {
            return Ok(false);
        }
        *self = LookupJoin::new(Arc::clone(&self.spec), rows.clone())?;
        Ok(true)
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let spec = &self.spec;
        let (mut probe, mut build) = self.candidates(&batch)?;
        if let Some(residual) = &spec.residual
            && !probe.is_empty()
        {
            let mut columns = self.joined(&batch, &probe, &build)?;
            columns.push(take(
                batch.column(batch.num_columns() - 1).as_ref(),
                &probe,
                None,
            )?);
            let candidates = RecordBatch::try_new(Arc::clone(&spec.pair_schema), columns)?;
            let mask = residual
                .evaluate(&candidates)?
                .into_array(candidates.num_rows())?;
            let mask = mask.as_boolean();
            let keep = |a: &UInt32Array| -> UInt32Array {
                a.iter()
                    .zip(mask.iter())
                    .filter(|(_, m)| *m == Some(true))
                    .map(|(v, _)| v)
                    .collect()
            };
            (probe, build) = (keep(&probe), keep(&build));
        }
        if let LookupJoinType::Semi | LookupJoinType::Anti { .. } = spec.join_type {
            let n = batch.num_rows();
            let mut matched = vec![false; n];
            for i in probe.values() {
                matched[*i as usize] = true;
            }
            let keep: Vec<bool> = match spec.join_type {
                LookupJoinType::Anti { null_aware: true } if self.table.num_rows() > 0 => {
                    if self.null_key {
                        vec![false; n]
                    } else {
                        let keys = evaluate(&spec.stream_keys, &batch)?;
                        (0..n)
                            .map(|i| !matched[i] && !keys.iter().any(|k| k.is_null(i)))
                            .collect()
                    }
                }
                LookupJoinType::Anti { .. } => matched.iter().map(|m| !m).collect(),
                _ => matched,
            };
            if keep.iter().any(|k| *k) {
                let kept = datafusion::arrow::compute::filter_record_batch(
                    &batch,
                    &datafusion::arrow::array::BooleanArray::from(keep),
                )?;
                let columns = kept.columns().to_vec();
                out.batches
                    .push(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?);
            }
            return Ok(());
        }
        if spec.join_type == LookupJoinType::Left {
            // Every stream row appears: its matches, or once with NULL table columns.
            let n = batch.num_rows();
            let mut p = UInt32Builder::with_capacity(n.max(probe.len()));
            let mut b = UInt32Builder::with_capacity(n.max(probe.len()));
            let mut k = 0;
            for i in 0..n as u32 {
                let before = k;
                while k < probe.len() && probe.value(k) == i {
                    p.append_value(i);
                    b.append_value(build.value(k));
                    k += 1;
                }
                if k == before {
                    p.append_value(i);
                    b.append_null();
                }
            }
            (probe, build) = (p.finish(), b.finish());
        }
        if probe.is_empty() {
            return Ok(());
        }
        let mut columns = self.joined(&batch, &probe, &build)?;
        columns.push(take(
            batch.column(batch.num_columns() - 1).as_ref(),
            &probe,
            None,
        )?);
        out.batches
            .push(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?);
        Ok(())
    }

    fn advance(&mut self, _bound: i64, _out: &mut Emit) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::exec::test_util::{pump, rows, run, table};
    use crate::types::SqlType;

    /// EX-17's reference file `TickerReference.csv` (values with their leading spaces).
    fn companies() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Ticker", DataType::Utf8, true),
            Field::new("Company", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["AMZN", "ASD", "MMB", "WAS"])),
                Arc::new(StringArray::from(vec![
                    "Amazon",
                    " SomeCompanyA",
                    " SomeCompanyB",
                    "  SomeCompanyC",
                ])),
            ],
        )
        .unwrap()
    }

    const STOCKS: &[(&str, SqlType)] = &[
        ("TICKER_SYMBOL", SqlType::Varchar(Some(4))),
        ("SECTOR", SqlType::Varchar(Some(16))),
        ("CHANGE", SqlType::Real),
        ("PRICE", SqlType::Real),
    ];

    #[test]
    fn ex17_left_join_keeps_unmatched_stream_rows_with_nulls() {
        // EX-17 verbatim, with the stream named S.
        let mut ops = pump(
            r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), "Company" varchar(20), sector VARCHAR(12), change DOUBLE, price DOUBLE);
               CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
                  SELECT STREAM ticker_symbol, "c"."Company", sector, change, price
                  FROM "S" LEFT JOIN "CompanyName" as "c"
                  ON "S".ticker_symbol = "c"."Ticker";"#,
            STOCKS,
            &[("CompanyName", companies())],
        )
        .unwrap();
        let input = rows(
            STOCKS,
            "ROWTIME                 | TICKER_SYMBOL | SECTOR     | CHANGE | PRICE
             1970-01-01 00:00:00.001 | AMZN          | TECHNOLOGY | -0.95  | 815.43
             1970-01-01 00:00:00.002 | QXZ           | RETAIL     | 1.2    | 62.5
             1970-01-01 00:00:00.003 | WAS           | ENERGY     | 0.5    | 10.0",
        );
        let (out, errors) = run(&mut ops, input, 3);
        assert!(errors.is_empty());
        // REAL -0.95 widens to DOUBLE -0.949999988079071 (EX-17's note); SECTOR is VARCHAR(12).
        let expected = "\
+---------------+----------------+------------+--------------------+-------------------+-------------------------+
| TICKER_SYMBOL | Company        | SECTOR     | CHANGE             | PRICE             | ROWTIME                 |
+---------------+----------------+------------+--------------------+-------------------+-------------------------+
| AMZN          | Amazon         | TECHNOLOGY | -0.949999988079071 | 815.4299926757812 | 1970-01-01T00:00:00.001 |
| QXZ           |                | RETAIL     | 1.2000000476837158 | 62.5              | 1970-01-01T00:00:00.002 |
| WAS           |   SomeCompanyC | ENERGY     | 0.5                | 10.0              | 1970-01-01T00:00:00.003 |
+---------------+----------------+------------+--------------------+-------------------+-------------------------+";
        assert_eq!(table(&out), expected);
        assert!(
            out[0].column(1).is_null(1),
            "QXZ has no company: NULL, not empty"
        );
    }

    #[test]
    fn inner_join_with_an_extra_condition_and_several_matches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("K", DataType::Utf8, true),
            Field::new("LIMIT_PRICE", DataType::Int32, true),
        ]));
        let limits = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("AMZN"),
                    Some("AMZN"),
                    Some("QXZ"),
                    None,
                ])),
                Arc::new(Int32Array::from(vec![100, 900, 50, 1])),
            ],
        )
        .unwrap();
        let mut ops = pump(
            "CREATE STREAM OUT (T VARCHAR(4), L INTEGER);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM s.TICKER_SYMBOL, l.LIMIT_PRICE FROM S AS s JOIN LIMITS AS l
             ON s.TICKER_SYMBOL = l.K AND s.PRICE > l.LIMIT_PRICE;",
            STOCKS,
            &[("LIMITS", limits)],
        )
        .unwrap();
        let input = rows(
            STOCKS,
            "ROWTIME                 | TICKER_SYMBOL | SECTOR | CHANGE | PRICE
             1970-01-01 00:00:00.001 | AMZN          | T      | 0.0    | 815.0
             1970-01-01 00:00:00.002 | QXZ           | R      | 0.0    | 10.0
             1970-01-01 00:00:00.003 | AMZN          | T      | 0.0    | 1000.0",
        );
        let (out, _) = run(&mut ops, input, 3);
        let expected = "\
+------+-----+-------------------------+
| T    | L   | ROWTIME                 |
+------+-----+-------------------------+
| AMZN | 100 | 1970-01-01T00:00:00.001 |
| AMZN | 100 | 1970-01-01T00:00:00.003 |
| AMZN | 900 | 1970-01-01T00:00:00.003 |
+------+-----+-------------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn rejects_joins_it_cannot_run() {
        let err = pump(
            "CREATE STREAM OUT (T VARCHAR(4));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM c.\"Ticker\" FROM \"CompanyName\" AS c LEFT JOIN S ON S.TICKER_SYMBOL = c.\"Ticker\";",
            STOCKS,
            &[("CompanyName", companies())],
        )
        .err()
        .expect("rejected")
        .to_string();
        assert!(
            err.contains("is not supported")
                && err.contains("LEFT [OUTER] JOIN with the stream on the left"),
            "{err}"
        );
    }
}
