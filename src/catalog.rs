//! The catalog: every in-application stream (source streams from the input configuration,
//! streams created by the code, `error_stream`) and every reference table, with their columns;
//! and the ROWTIME column every stream batch carries last.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::types::SqlType;

/// The extra column of source streams: when the record reached the source (here: its arrival
/// in rowtime, i.e. its ROWTIME unless a test gives it).
pub const APPROXIMATE_ARRIVAL_TIME: &str = "APPROXIMATE_ARRIVAL_TIME";
/// The name of the system column every stream has.
pub const ROWTIME: &str = "ROWTIME";
/// How an unknown relation name is reported (the planner recognises it).
pub const UNKNOWN_RELATION: &str = "no stream or reference table named";
/// The system error stream's name.
pub const ERROR_STREAM: &str = "error_stream";

/// The Arrow type of ROWTIME.
pub fn rowtime_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Where a stream comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamKind {
    /// Created by the input configuration (`<NamePrefix>_001`): fed by a source.
    Source,
    /// Created by `CREATE STREAM` in the application code: fed by pumps.
    Created,
    /// The system `error_stream`.
    Error,
}

#[derive(Debug, Clone)]
pub struct StreamDef {
    pub name: String,
    pub columns: Vec<(String, SqlType)>,
    pub kind: StreamKind,
}

impl StreamDef {
    /// The stream as a table: its columns, then ROWTIME.
    pub fn table_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(n, t)| Field::new(n, t.arrow_type(), true))
            .collect();
        if self.kind == StreamKind::Source {
            fields.push(Field::new(APPROXIMATE_ARRIVAL_TIME, rowtime_type(), true));
        }
        fields.push(Field::new(ROWTIME, rowtime_type(), false));
        Arc::new(Schema::new(fields))
    }

    /// Where ROWTIME is among the table columns.
    pub fn rowtime_index(&self) -> usize {
        self.columns.len() + usize::from(self.kind == StreamKind::Source)
    }
}

/// The Arrow schema of named, typed columns (all nullable).
pub fn columns_schema(columns: &[(String, SqlType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(n, t.arrow_type(), true))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub schema: SchemaRef,
}

impl TableDef {
    pub fn new(name: &str, schema: SchemaRef) -> TableDef {
        TableDef {
            name: name.to_string(),
            schema,
        }
    }
}

/// Streams and reference tables by exact (case-sensitive) name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub streams: Vec<StreamDef>,
    pub tables: Vec<TableDef>,
    /// For each created stream with `NOT NULL` columns: which of its columns are.
    pub not_null: std::collections::HashMap<String, Vec<bool>>,
}

impl Catalog {
    /// The source streams and reference tables of an application, and `error_stream`; the
    /// planner adds the streams the code creates.
    pub fn new(sources: Vec<StreamDef>, tables: Vec<TableDef>) -> Catalog {
        let mut streams = sources;
        streams.push(error_stream_def());
        Catalog {
            streams,
            tables,
            not_null: Default::default(),
        }
    }

    pub fn stream(&self, name: &str) -> Option<(usize, &StreamDef)> {
        self.streams
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// All relation names, for "did you mean" style help.
    pub fn relation_names(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter(|s| s.kind != StreamKind::Error)
            .map(|s| s.name.clone())
            .chain(self.tables.iter().map(|t| t.name.clone()))
            .collect()
    }
}

/// The definition of error_stream.
pub fn error_stream_def() -> StreamDef {
    StreamDef {
        name: ERROR_STREAM.to_string(),
        columns: vec![
            ("ERROR_TIME".into(), SqlType::Timestamp),
            ("ERROR_LEVEL".into(), SqlType::Varchar(Some(10))),
            ("ERROR_NAME".into(), SqlType::Varchar(Some(32))),
            ("MESSAGE".into(), SqlType::Varchar(Some(4096))),
            ("DATA_ROWTIME".into(), SqlType::Timestamp),
            ("DATA_ROW".into(), SqlType::Varchar(Some(49152))),
            ("PUMP_NAME".into(), SqlType::Varchar(Some(128))),
        ],
        kind: StreamKind::Error,
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
