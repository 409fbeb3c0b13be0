//! Helpers for the decoder's tests: schemas from short lists, one value decoded alone.

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;

use super::RecordDecoder;
use crate::connectors::schema::{ColumnSpec, RecordFormat, RecordSchema};
use crate::types::SqlType;

pub fn json_schema(cols: &[(&str, &str, &str)]) -> RecordSchema {
    RecordSchema {
        columns: cols
            .iter()
            .map(|(n, t, m)| ColumnSpec {
                name: n.to_string(),
                sql_type: SqlType::parse(t).unwrap(),
                mapping: Some(m.to_string()),
            })
            .collect(),
        format: RecordFormat::Json,
        row_path: None,
    }
}

pub fn csv_schema(cols: &[(&str, &str)], delimiter: &str) -> RecordSchema {
    RecordSchema {
        columns: cols
            .iter()
            .map(|(n, t)| ColumnSpec {
                name: n.to_string(),
                sql_type: SqlType::parse(t).unwrap(),
                mapping: None,
            })
            .collect(),
        format: RecordFormat::Csv {
            row_delimiter: "\n".into(),
            column_delimiter: delimiter.into(),
        },
        row_path: None,
    }
}

/// Decodes `{"<key>": <fragment value>}` into one column of `ty`.
pub fn one(fragment: &str, ty: &str) -> Result<RecordBatch, String> {
    let key = fragment.split('"').nth(1).unwrap();
    let mut d = RecordDecoder::new(&json_schema(&[("C", ty, &format!("$.{key}"))])).unwrap();
    d.push(format!("{{{fragment}}}").as_bytes())?;
    let batch = d.flush();
    assert_eq!(batch.num_rows(), 1);
    Ok(batch)
}

pub fn text(fragment: &str, ty: &str) -> String {
    one(fragment, ty)
        .unwrap()
        .column(0)
        .as_string::<i32>()
        .value(0)
        .to_string()
}

pub fn is_null(fragment: &str, ty: &str) -> bool {
    one(fragment, ty).unwrap().column(0).is_null(0)
}
