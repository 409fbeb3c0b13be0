//! Helpers for operator unit tests: small batches with a trailing ROWTIME.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, advance_through, push_through};
use crate::catalog::{ROWTIME, rowtime_type};
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

/// A stream batch from a text table: a header `ROWTIME | COL | …` naming every column of
/// `columns` in order, then a row per line; cells are trimmed, `NULL` is NULL, and every cell is
/// cast from text to its column's type (as `TestApp::push_table` reads tables).
pub fn rows(columns: &[(&str, crate::types::SqlType)], text: &str) -> RecordBatch {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::compute::cast;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let header: Vec<&str> = lines
        .next()
        .expect("a header line")
        .split('|')
        .map(str::trim)
        .collect();
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    assert_eq!(header[0], ROWTIME, "the first column is ROWTIME");
    assert_eq!(
        header[1..],
        names[..],
        "the header names the columns in order"
    );
    let cells: Vec<Vec<&str>> = lines
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .inspect(|r| assert_eq!(r.len(), header.len(), "{r:?}"))
        .collect();
    let times: Vec<i64> = cells.iter().map(|r| ts(r[0])).collect();
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            let text: StringArray = cells
                .iter()
                .map(|r| (r[i + 1] != "NULL").then_some(r[i + 1]))
                .collect();
            let array = cast(&text, &ty.arrow_type()).expect("cells of the column's type");
            (*name, array)
        })
        .collect();
    batch(arrays, &times)
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
    let stream = crate::catalog::StreamDef {
        name: "S".into(),
        columns: columns.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        // Created, not Source: test batches carry no APPROXIMATE_ARRIVAL_TIME column.
        kind: crate::catalog::StreamKind::Created,
    };
    let definitions = tables
        .iter()
        .map(|(name, batch)| crate::catalog::TableDef::new(name, batch.schema()))
        .collect();
    let catalog = crate::catalog::Catalog::new(vec![stream], definitions);
    let src = crate::error::SourceText::new("test.sql", code);
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
    crate::time::parse_timestamp(text).expect("YYYY-MM-DD HH:MM:SS")
}

/// Runs `input` through the first pump of `code` twice, as two pushes cut at row `cut` (the
/// bound raised to the last ROWTIME of the first part in between): once straight through, and
/// once with a checkpoint at the cut, every operator's state taken and given to operators built
/// afresh, which run the rest. Returns both outputs as tables: they must be equal.
pub fn straight_and_resumed(
    code: &str,
    columns: &[(&str, crate::types::SqlType)],
    tables: &[(&str, RecordBatch)],
    input: &RecordBatch,
    cut: usize,
) -> (String, String) {
    let first = input.slice(0, cut);
    let rest = input.slice(cut, input.num_rows() - cut);
    let bound = crate::catalog::rowtime(&first)
        .values()
        .last()
        .copied()
        .unwrap_or(i64::MIN);
    let part = |ops: &mut Vec<Box<dyn Operator>>, batch: &RecordBatch, to: i64| {
        let mut errors = Vec::new();
        let mut out = push_through(ops, batch.clone(), &mut errors).unwrap();
        out.extend(advance_through(ops, to, &mut errors).unwrap());
        (out, errors)
    };
    let mut ops = pump(code, columns, tables).unwrap();
    let (mut straight, mut straight_errors) = part(&mut ops, &first, bound);
    let (more, more_errors) = part(&mut ops, &rest, i64::MAX);
    straight.extend(more);
    straight_errors.extend(more_errors);

    let mut ops = pump(code, columns, tables).unwrap();
    let (mut resumed, mut resumed_errors) = part(&mut ops, &first, bound);
    let snapshots: Vec<crate::state::Snapshot> = ops
        .iter_mut()
        .map(|op| {
            // Through bytes, as a checkpoint file holds them.
            let mut bytes = Vec::new();
            op.snapshot().unwrap().encode(&mut bytes).unwrap();
            crate::state::Snapshot::decode(&mut bytes.as_slice()).unwrap()
        })
        .collect();
    drop(ops);
    let mut fresh = pump(code, columns, tables).unwrap();
    for (op, state) in fresh.iter_mut().zip(&snapshots) {
        op.restore(state).unwrap();
    }
    let (more, more_errors) = part(&mut fresh, &rest, i64::MAX);
    resumed.extend(more);
    resumed_errors.extend(more_errors);
    let shown = |batches: &[RecordBatch], errors: &[crate::error_stream::ErrorRow]| {
        let nonempty: Vec<RecordBatch> = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .cloned()
            .collect();
        format!("{}\n{errors:?}", table(&nonempty))
    };
    (
        shown(&straight, &straight_errors),
        shown(&resumed, &resumed_errors),
    )
}
