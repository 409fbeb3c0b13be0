//! The select list: one output column per expression; ROWTIME carried through.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{Emit, Operator, concat, evaluate, evaluate_or_isolate};
use crate::error::Result;

/// Plan node: a projection.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// Output columns (one per expression) followed by ROWTIME.
    pub schema: SchemaRef,
    pub display: Vec<String>,
    /// Number of visible input columns.
    pub visible: usize,
    pub pump: String,
}

impl fmt::Display for ProjectSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "project {}", self.display.join(", "))
    }
}

/// Running projection (stateless).
pub struct Project {
    spec: Arc<ProjectSpec>,
}

impl Project {
    pub fn new(spec: Arc<ProjectSpec>) -> Project {
        Project { spec }
    }
}

fn project(spec: &ProjectSpec, batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = evaluate(&spec.exprs, batch)?;
    columns.push(Arc::clone(batch.column(batch.num_columns() - 1)));
    Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
}

impl Operator for Project {
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let spec = &self.spec;
        let projected = evaluate_or_isolate(
            &batch,
            spec.visible,
            &spec.pump,
            out,
            |b| project(spec, b),
            |parts| concat(&spec.schema, &parts),
        )?;
        if let Some((result, _)) = projected {
            out.batches.push(result);
        }
        Ok(())
    }

    fn advance(&mut self, _bound: i64, _out: &mut Emit) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::Operator as Op;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
    use datafusion::scalar::ScalarValue;

    use super::*;
    use crate::catalog::with_rowtime;
    use crate::exec::test_util::{batch, table};

    #[test]
    fn computes_columns_and_keeps_rowtime_and_isolates_bad_rows() {
        // A * 2 and 7 / A (integer division truncates; A = 0 fails).
        let a = || Arc::new(Column::new("A", 0)) as Arc<dyn PhysicalExpr>;
        let lit = |v| Arc::new(Literal::new(ScalarValue::Int64(Some(v)))) as Arc<dyn PhysicalExpr>;
        let schema = with_rowtime(&Arc::new(Schema::new(vec![
            Field::new("DOUBLED", DataType::Int64, true),
            Field::new("Q", DataType::Int64, true),
        ])));
        let spec = Arc::new(ProjectSpec {
            exprs: vec![
                Arc::new(BinaryExpr::new(a(), Op::Multiply, lit(2))),
                Arc::new(BinaryExpr::new(lit(7), Op::Divide, a())),
            ],
            schema,
            display: vec![],
            visible: 1,
            pump: "P".into(),
        });
        let mut p = Project::new(spec);
        let mut out = Emit::default();
        let input: ArrayRef = Arc::new(Int64Array::from(vec![2, 0, 3]));
        p.push(batch(vec![("A", input)], &[5, 6, 7]), &mut out)
            .unwrap();
        let expected = "\
+---------+---+-------------------------+
| DOUBLED | Q | ROWTIME                 |
+---------+---+-------------------------+
| 4       | 3 | 1970-01-01T00:00:00.005 |
| 6       | 2 | 1970-01-01T00:00:00.007 |
+---------+---+-------------------------+";
        assert_eq!(table(&out.batches), expected);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].data_rowtime, Some(6));
    }
}

#[cfg(test)]
mod sql_tests {
    use datafusion::arrow::array::{Int32Array, StringArray};

    use super::*;
    use crate::exec::test_util::{batch, pump, run, table, ts};
    use crate::types::SqlType;

    #[test]
    fn scalar_sql_case_cast_concat_extract_step_and_integer_division() {
        let mut ops = pump(
            "CREATE STREAM OUT (LABEL VARCHAR(16), N_TEXT VARCHAR(8), HOUR_OF_DAY BIGINT, BUCKET INTEGER, HALF INTEGER, SHORT VARCHAR(3));
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM
                 CASE WHEN N > 10 THEN 'big' ELSE 'small' END || '-' || NAME,
                 CAST(N AS VARCHAR(8)),
                 EXTRACT(HOUR FROM S.ROWTIME),
                 STEP(N BY 10),
                 N / 2,
                 NAME
             FROM S WHERE NAME <> 'skip';",
            &[("NAME", SqlType::Varchar(Some(8))), ("N", SqlType::Integer)],
            &[],
        )
        .unwrap();
        let input = batch(
            vec![
                (
                    "NAME",
                    Arc::new(StringArray::from(vec!["alpha", "skip", "beta"])) as ArrayRef,
                ),
                ("N", Arc::new(Int32Array::from(vec![7, 1, 25])) as ArrayRef),
            ],
            &[
                ts("2020-01-01 13:05:00"),
                ts("2020-01-01 13:06:00"),
                ts("2020-01-01 14:00:00"),
            ],
        );
        let (out, errors) = run(&mut ops, input, i64::MAX);
        assert!(errors.is_empty());
        // 7 / 2 = 3 and 25 / 2 = 12 (integer division truncates); STEP(25 BY 10) = 20;
        // SHORT is VARCHAR(3): longer strings are cut on INSERT.
        let expected = "\
+-------------+--------+-------------+--------+------+-------+---------------------+
| LABEL       | N_TEXT | HOUR_OF_DAY | BUCKET | HALF | SHORT | ROWTIME             |
+-------------+--------+-------------+--------+------+-------+---------------------+
| small-alpha | 7      | 13          | 0      | 3    | alp   | 2020-01-01T13:05:00 |
| big-beta    | 25     | 14          | 20     | 12   | bet   | 2020-01-01T14:00:00 |
+-------------+--------+-------------+--------+------+-------+---------------------+";
        assert_eq!(table(&out), expected);
    }

    #[test]
    fn select_star_leaves_rowtime_out_but_it_can_be_selected() {
        let columns = [("NAME", SqlType::Varchar(Some(8))), ("N", SqlType::Integer)];
        let mut ops = pump(
            "CREATE STREAM OUT (NAME VARCHAR(8), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM * FROM S WHERE N > 5;",
            &columns,
            &[],
        )
        .unwrap();
        let input = batch(
            vec![
                (
                    "NAME",
                    Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
                ),
                ("N", Arc::new(Int32Array::from(vec![6, 3])) as ArrayRef),
            ],
            &[1, 2],
        );
        let (out, _) = run(&mut ops, input, 2);
        assert_eq!(out[0].num_rows(), 1);
        // ROWTIME named in the select list is not a column of the target: it sets the ROWTIME.
        let mut ops = pump(
            "CREATE STREAM OUT (NAME VARCHAR(8), N INTEGER);
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM *, ROWTIME FROM S;",
            &columns,
            &[],
        )
        .unwrap();
        let input = batch(
            vec![
                ("NAME", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
                ("N", Arc::new(Int32Array::from(vec![6])) as ArrayRef),
            ],
            &[7],
        );
        let (out, _) = run(&mut ops, input, 7);
        assert_eq!(out[0].num_columns(), 3, "NAME, N, ROWTIME");
        assert_eq!(crate::catalog::rowtime(&out[0]).value(0), 7);
    }

    #[test]
    fn tsdiff_in_milliseconds_and_monotonic_as_identity() {
        let columns = [("START_MS", SqlType::BigInt), ("T", SqlType::Timestamp)];
        let mut ops = pump(
            "CREATE STREAM OUT (D1 BIGINT, D2 BIGINT);
             CREATE PUMP P AS INSERT INTO OUT
             SELECT STREAM TSDIFF(START_MS, START_MS + 1500), TSDIFF(T, S.ROWTIME) FROM S;",
            &columns,
            &[],
        )
        .unwrap();
        let input = batch(
            vec![
                (
                    "START_MS",
                    Arc::new(datafusion::arrow::array::Int64Array::from(vec![1_000_000]))
                        as ArrayRef,
                ),
                (
                    "T",
                    Arc::new(datafusion::arrow::array::TimestampMillisecondArray::from(
                        vec![ts("2020-01-01 00:00:00")],
                    )) as ArrayRef,
                ),
            ],
            &[ts("2020-01-01 00:01:00")],
        );
        let (out, errors) = run(&mut ops, input, i64::MAX);
        assert!(errors.is_empty(), "{errors:?}");
        let table = table(&out);
        assert!(table.contains("| 1500 | 60000 |"), "{table}");
        // MONOTONIC(STEP(ROWTIME …)) is a ROWTIME window like STEP(…) itself.
        assert!(
            pump(
                "CREATE STREAM OUT (N BIGINT);
                 CREATE PUMP P AS INSERT INTO OUT
                 SELECT STREAM COUNT(*) FROM S GROUP BY MONOTONIC(STEP(S.ROWTIME BY INTERVAL '1' MINUTE));",
                &columns,
                &[],
            )
            .is_ok()
        );
    }

    fn rejection(sql: &str) -> String {
        match pump(
            sql,
            &[("NAME", SqlType::Varchar(Some(8))), ("N", SqlType::Integer)],
            &[],
        ) {
            Ok(_) => panic!("accepted: {sql}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn insert_checks_column_counts_names_and_types() {
        let err = rejection(
            "CREATE STREAM OUT (A INTEGER, B INTEGER);\nCREATE PUMP P AS INSERT INTO OUT\nSELECT STREAM N FROM S;",
        );
        assert!(err.starts_with("test.sql:3:1: error: the query gives 1 column(s) but INSERT INTO OUT expects 2 (A, B)"), "{err}");
        let err = rejection(
            "CREATE STREAM OUT (A INTEGER);\nCREATE PUMP P AS INSERT INTO OUT\nSELECT STREAM NAME FROM S;",
        );
        assert!(
            err.contains("column 1 of the query (NAME) is VARCHAR but column A of OUT is INTEGER"),
            "{err}"
        );
        assert!(err.contains("help: CAST the expression"), "{err}");
        let err = rejection(
            "CREATE STREAM OUT (A INTEGER);\nCREATE PUMP P AS INSERT INTO OUT (B)\nSELECT STREAM N FROM S;",
        );
        assert!(
            err.contains("stream `OUT` has no column `B`") && err.contains("its columns are A"),
            "{err}"
        );
        let err = rejection(
            "CREATE STREAM OUT (A INTEGER);\nCREATE PUMP P AS INSERT INTO \"out\"\nSELECT STREAM N FROM S;",
        );
        assert!(
            err.contains("no stream named `out`") && err.contains("did you mean \"OUT\""),
            "{err}"
        );
        let err = rejection(
            "CREATE STREAM OUT (A INTEGER);\nCREATE PUMP P AS INSERT INTO OUT\nSELECT STREAM N FROM \"s\";",
        );
        assert!(
            err.contains("no stream or reference table named `s`")
                && err.contains("did you mean \"S\""),
            "{err}"
        );
    }
}
