//! What KDA's machine-learning table functions (`RANDOM_CUT_FOREST`, its `WITH_EXPLANATION`
//! form, `HOTSPOTS`) share: the cursor's numeric columns read as numbers, a row that has no
//! number to give going to `error_stream`, and the output assembled from the cursor's columns
//! (unchanged, in order) and the function's own.
//!
//! KDA: "The algorithm accepts the DOUBLE, INTEGER, FLOAT, TINYINT, SMALLINT, REAL, and BIGINT
//! data types"; other columns pass through without feeding the model. A NULL (or NaN, or an
//! infinity) in a model column is undocumented; rowtime sends that row to `error_stream`, with
//! the column named, and neither scores it nor learns from it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::Emit;
use crate::catalog::rowtime;
use crate::error::Result;
use crate::error_stream::{EVALUATION_ERROR, ErrorRow};
use crate::format::row_as_json;

/// A column of the function's result: one of the cursor's, or one the function computes (its
/// position among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Input(usize),
    Computed(usize),
}

/// Whether a column of this type feeds the model (DECIMAL is rejected before it gets here).
pub fn is_model_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
    )
}

/// The rows of `batch` that have a finite number in every model column (their indexes), and
/// those numbers, row after row. The others go to `error_stream`.
pub fn numbers(
    batch: &RecordBatch,
    columns: &[(usize, String)],
    function: &str,
    visible: usize,
    pump: &str,
    out: &mut Emit,
) -> Result<(Vec<u32>, Vec<f64>)> {
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(i, _)| cast(batch.column(*i), &DataType::Float64))
        .collect::<std::result::Result<_, _>>()?;
    let arrays: Vec<&datafusion::arrow::array::PrimitiveArray<Float64Type>> = arrays
        .iter()
        .map(|a| a.as_primitive::<Float64Type>())
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut values = Vec::with_capacity(batch.num_rows() * columns.len());
    'rows: for row in 0..batch.num_rows() {
        for (c, a) in arrays.iter().enumerate() {
            let problem = if a.is_null(row) {
                "NULL"
            } else if a.value(row).is_nan() {
                "NaN"
            } else if a.value(row).is_infinite() {
                "infinite"
            } else {
                continue;
            };
            out.errors.push(ErrorRow {
                name: EVALUATION_ERROR,
                message: format!(
                    "{function}: column \"{}\" is {problem}; the model needs a finite number in every numeric column of the CURSOR, so the row is neither scored nor learnt from",
                    columns[c].1
                ),
                data_rowtime: Some(rowtime(batch).value(row)),
                data_row: row_as_json(batch, visible, row).into_bytes(),
                pump: Some(pump.to_string()),
            });
            continue 'rows;
        }
        rows.push(row as u32);
        values.extend(arrays.iter().map(|a| a.value(row)));
    }
    Ok((rows, values))
}

/// The output batch: the kept `rows` of `batch`, arranged as `outputs` says, then the trailing
/// ROWTIME.
pub fn assemble(
    schema: &SchemaRef,
    batch: &RecordBatch,
    rows: &[u32],
    outputs: &[Output],
    computed: &[ArrayRef],
) -> Result<RecordBatch> {
    let indices = UInt32Array::from(rows.to_vec());
    let all = rows.len() == batch.num_rows();
    let kept = |a: &ArrayRef| -> Result<ArrayRef> {
        Ok(if all {
            Arc::clone(a)
        } else {
            take(a.as_ref(), &indices, None)?
        })
    };
    let mut columns = Vec::with_capacity(outputs.len() + 1);
    for o in outputs {
        columns.push(match o {
            Output::Input(i) => kept(batch.column(*i))?,
            Output::Computed(k) => Arc::clone(&computed[*k]),
        });
    }
    columns.push(kept(batch.column(batch.num_columns() - 1))?);
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
