//! Operators: synchronous, push-based, over Arrow `RecordBatch`es.
//!
//! Every batch that moves between operators holds the visible columns of the plan node that made
//! it, followed by one trailing ROWTIME column (`Timestamp(Millisecond)`, never null,
//! non-decreasing). Operators receive batches and progress marks (a ROWTIME bound: the smallest
//! ROWTIME any future row can have) and push batches and `error_stream` rows into an [`Emit`].
//! Each operator is built from an immutable, printable spec made by the planner.

pub mod distinct;
pub mod division;
pub mod filter;
pub mod insert;
pub mod lookup_join;
pub mod project;
pub mod sliding;
pub mod stagger;
pub mod stream_join;
pub mod tumbling;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampMillisecondArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use crate::catalog::{ROWTIME, rowtime_type};
use crate::error::Result;
use crate::error_stream::{EVALUATION_ERROR, ErrorRow};
use crate::format::row_as_json;

/// What an operator produced for one input: batches for the next stage and error rows.
#[derive(Debug, Default)]
pub struct Emit {
    pub batches: Vec<RecordBatch>,
    pub errors: Vec<ErrorRow>,
}

/// A running operator: owns its state; built from a spec.
pub trait Operator: Send {
    /// Processes a batch (visible columns + trailing ROWTIME).
    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()>;
    /// No future input row will have a ROWTIME below `bound`.
    fn advance(&mut self, bound: i64, out: &mut Emit) -> Result<()>;

    /// The bound of this operator's output once its input has reached `input_bound`: no row it
    /// emits later has a smaller ROWTIME. Operators that keep ROWTIME pass the bound through.
    fn output_bound(&self, input_bound: i64) -> i64 {
        input_bound
    }
}

/// `visible` plus the trailing ROWTIME field.
pub fn with_rowtime(visible: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = visible.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ROWTIME, rowtime_type(), false)));
    Arc::new(Schema::new(fields))
}

/// The same schema with every field nullable (operators' batches never rely on non-null flags).
pub fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// The trailing ROWTIME column of a batch.
pub fn rowtime(batch: &RecordBatch) -> &TimestampMillisecondArray {
    batch
        .column(batch.num_columns() - 1)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("the last column of a stream batch is ROWTIME")
}

/// A timestamp (or BIGINT milliseconds) column as milliseconds since the epoch.
pub fn timestamp_ms(array: &ArrayRef) -> Result<TimestampMillisecondArray> {
    let ms = datafusion::arrow::compute::cast(array, &rowtime_type())?;
    Ok(ms
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("cast to Timestamp(ms)")
        .clone())
}

/// One vectorized accumulator per aggregate; aggregates without a `GroupsAccumulator` are adapted.
pub fn groups_accumulators(
    aggregates: &[Arc<datafusion::physical_expr::aggregate::AggregateFunctionExpr>],
) -> Result<Vec<Box<dyn datafusion::logical_expr::GroupsAccumulator>>> {
    aggregates
        .iter()
        .map(|a| {
            if a.groups_accumulator_supported() {
                Ok(a.create_groups_accumulator()?)
            } else {
                let a = Arc::clone(a);
                Ok(
                    Box::new(datafusion::physical_expr::GroupsAccumulatorAdapter::new(
                        move || a.create_accumulator(),
                    )) as Box<dyn datafusion::logical_expr::GroupsAccumulator>,
                )
            }
        })
        .collect()
}

/// Evaluates an aggregate's `FILTER (WHERE …)`, if it has one.
pub fn evaluate_filter(
    filter: &Option<Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<Option<BooleanArray>> {
    use datafusion::arrow::array::AsArray;
    Ok(match filter {
        Some(f) => Some(
            f.evaluate(batch)?
                .into_array(batch.num_rows())?
                .as_boolean()
                .clone(),
        ),
        None => None,
    })
}

/// Evaluates expressions over a batch, one array per expression.
pub fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    let n = batch.num_rows();
    exprs
        .iter()
        .map(|e| Ok(e.evaluate(batch)?.into_array(n)?))
        .collect()
}

/// Evaluates `f` over a whole batch; if that fails (division by zero, a bad cast, …), evaluates
/// it row by row so that only the failing rows go to error_stream and the others go on.
/// Returns the result over the good rows and those rows (the batch filtered to them).
pub fn evaluate_or_isolate<T>(
    batch: &RecordBatch,
    visible: usize,
    pump: &str,
    out: &mut Emit,
    f: impl Fn(&RecordBatch) -> Result<T>,
    combine: impl Fn(Vec<T>) -> Result<T>,
) -> Result<Option<(T, RecordBatch)>> {
    match f(batch) {
        Ok(v) => return Ok(Some((v, batch.clone()))),
        Err(first) if batch.num_rows() <= 1 => {
            if batch.num_rows() == 1 {
                out.errors.push(error_row(batch, visible, 0, &first, pump));
            }
            return Ok(None);
        }
        Err(_) => {}
    }
    let mut good = Vec::new();
    let mut keep = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let row = batch.slice(i, 1);
        match f(&row) {
            Ok(v) => {
                good.push(v);
                keep.push(true);
            }
            Err(e) => {
                out.errors.push(error_row(batch, visible, i, &e, pump));
                keep.push(false);
            }
        }
    }
    if good.is_empty() {
        return Ok(None);
    }
    let rows = filter_record_batch(batch, &BooleanArray::from(keep))?;
    Ok(Some((combine(good)?, rows)))
}

pub(crate) fn error_row(
    batch: &RecordBatch,
    visible: usize,
    row: usize,
    e: &crate::error::Error,
    pump: &str,
) -> ErrorRow {
    let message = match e {
        crate::error::Error::DataFusion(d) => d.message().to_string(),
        other => other.to_string(),
    };
    ErrorRow {
        name: EVALUATION_ERROR,
        message,
        data_rowtime: Some(rowtime(batch).value(row)),
        data_row: row_as_json(batch, visible, row).into_bytes(),
        pump: Some(pump.to_string()),
    }
}

/// Concatenates batches of one schema (used to combine row-by-row results).
pub fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    Ok(concat_batches(schema, batches)?)
}

/// Runs `ops` in order over one input batch: the output of each is the input of the next.
pub fn push_through(
    ops: &mut [Box<dyn Operator>],
    batch: RecordBatch,
    errors: &mut Vec<crate::error_stream::ErrorRow>,
) -> Result<Vec<RecordBatch>> {
    let mut current = vec![batch];
    for op in ops.iter_mut() {
        let mut out = Emit::default();
        for b in current {
            if b.num_rows() > 0 {
                op.push(b, &mut out)?;
            }
        }
        errors.append(&mut out.errors);
        current = out.batches;
        if current.is_empty() {
            break;
        }
    }
    Ok(current)
}

/// Raises the ROWTIME bound of `ops`: each stage first advances, and what it emits flows on.
pub fn advance_through(
    ops: &mut [Box<dyn Operator>],
    bound: i64,
    errors: &mut Vec<ErrorRow>,
) -> Result<Vec<RecordBatch>> {
    Ok(advance_with_bound(ops, vec![], bound, errors)?.0)
}

/// [`advance_through`] after pushing `carried` into the first stage, also returning the bound
/// of the last stage's output.
pub fn advance_with_bound(
    ops: &mut [Box<dyn Operator>],
    mut carried: Vec<RecordBatch>,
    mut bound: i64,
    errors: &mut Vec<ErrorRow>,
) -> Result<(Vec<RecordBatch>, i64)> {
    for op in ops.iter_mut() {
        let mut out = Emit::default();
        for b in carried {
            if b.num_rows() > 0 {
                op.push(b, &mut out)?;
            }
        }
        op.advance(bound, &mut out)?;
        errors.append(&mut out.errors);
        carried = out.batches;
        bound = op.output_bound(bound);
    }
    Ok((carried, bound))
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for operator unit tests: small batches with a trailing ROWTIME.

    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    /// Builds a batch from named columns plus ROWTIME values.
    pub fn batch(columns: Vec<(&str, ArrayRef)>, rowtimes: &[i64]) -> RecordBatch {
        let mut fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        fields.push(Field::new(ROWTIME, rowtime_type(), false));
        let mut arrays: Vec<ArrayRef> = columns.into_iter().map(|(_, a)| a).collect();
        arrays.push(Arc::new(TimestampMillisecondArray::from(rowtimes.to_vec())));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    /// Pretty table of batches, ROWTIME included.
    pub fn table(batches: &[RecordBatch]) -> String {
        pretty_format_batches(batches).unwrap().to_string()
    }

    /// Plans `code` (which reads stream `S` with `columns`, and may join `tables`) and returns
    /// its first pump's operators.
    pub fn pump(
        code: &str,
        columns: &[(&str, crate::types::SqlType)],
        tables: &[(&str, RecordBatch)],
    ) -> crate::error::Result<Vec<Box<dyn Operator>>> {
        let mut catalog = crate::catalog::Catalog::default();
        catalog.streams.push(crate::catalog::StreamDef {
            name: "S".into(),
            columns: columns.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            // Created, not Source: test batches carry no APPROXIMATE_ARRIVAL_TIME column.
            kind: crate::catalog::StreamKind::Created,
        });
        catalog
            .streams
            .push(crate::error_stream::error_stream_def());
        for (name, batch) in tables {
            catalog
                .tables
                .push(crate::plan::table_def(name, batch.schema()));
        }
        let src = crate::dialect::SourceText::new("test.sql", code);
        let statements = crate::dialect::parse_application(&src)?;
        let plan = crate::plan::plan(&src, &statements, catalog)?;
        let loaded: std::collections::HashMap<String, RecordBatch> = tables
            .iter()
            .map(|(n, b)| (n.to_string(), b.clone()))
            .collect();
        plan.pumps[0].ops.iter().map(|o| o.build(&loaded)).collect()
    }

    /// Pushes `input` through `ops`, then raises the bound to `bound`; returns the visible output
    /// rows (ROWTIME as the last column) and the error rows.
    pub fn run(
        ops: &mut [Box<dyn Operator>],
        input: RecordBatch,
        bound: i64,
    ) -> (Vec<RecordBatch>, Vec<crate::error_stream::ErrorRow>) {
        let mut errors = Vec::new();
        let mut out = push_through(ops, input.clone(), &mut errors).unwrap();
        out.extend(advance_through(ops, bound, &mut errors).unwrap());
        // Stream batches carry ROWTIME twice (visible and trailing): show it once.
        let out = out
            .into_iter()
            .map(|b| {
                b.project(&(0..b.num_columns() - 1).collect::<Vec<_>>())
                    .unwrap()
            })
            .collect();
        (out, errors)
    }

    /// Timestamp literal helper: "2018-11-01 01:00:00" → ms.
    pub fn ts(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }
}
