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
    use crate::exec::test_util::{batch, table};
    use crate::exec::with_rowtime;

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
