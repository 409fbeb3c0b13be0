//! Putting an application together: the catalog from its inputs and reference tables, the plan
//! from its code, the reference data loaded, and the dataflow ready to run.

use std::collections::HashMap;
use std::path::PathBuf;

use datafusion::arrow::record_batch::RecordBatch;

use crate::app::{Application, ReferenceConfig};
use crate::catalog::{Catalog, StreamDef, StreamKind};
use crate::connectors::discover::discover_schema;
use crate::connectors::reference::load_reference;
use crate::dialect::parse_application;
use crate::error::{Error, Result};
use crate::error_stream::{ErrorRow, error_stream_def};
use crate::plan::{Plan, plan, table_def};
use crate::runtime::Dataflow;
use crate::schema::RecordSchema;

/// A reference table's file, resolved.
#[derive(Debug, Clone)]
pub struct ReferenceFile {
    pub table: String,
    pub schema: RecordSchema,
    pub path: PathBuf,
}

/// Resolves every reference table's file and schema: `overrides` (`--reference TABLE=PATH`)
/// win over the definition's S3 location; a table without a schema gets one discovered from its file.
pub fn reference_files(
    app: &Application,
    overrides: &[(String, PathBuf)],
) -> Result<Vec<ReferenceFile>> {
    let mut out = Vec::new();
    for r in &app.references {
        let path = overrides
            .iter()
            .find(|(t, _)| *t == r.table)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| app.reference_path(r));
        out.push(resolve_schema(r, path)?);
    }
    for (table, path) in overrides {
        if !app.references.iter().any(|r| r.table == *table) {
            let r = ReferenceConfig {
                table: table.clone(),
                schema: None,
                bucket: String::new(),
                key: String::new(),
            };
            out.push(resolve_schema(&r, path.clone())?);
        }
    }
    Ok(out)
}

fn resolve_schema(r: &ReferenceConfig, path: PathBuf) -> Result<ReferenceFile> {
    let schema = match &r.schema {
        Some(s) => s.clone(),
        None => {
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::io(
                    format!("reference table {}: {}", r.table, path.display()),
                    e,
                )
            })?;
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .take(100)
                .collect();
            let json = !path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            discover_schema(&lines, json)
                .map_err(|e| Error::Application(format!("reference table {}: {e}", r.table)))?
        }
    };
    Ok(ReferenceFile {
        table: r.table.clone(),
        schema,
        path,
    })
}

/// The catalog: the input streams (with `input_schema` for the first input), error_stream and
/// the reference tables.
pub fn catalog(
    app: &Application,
    input_schema: &RecordSchema,
    references: &[ReferenceFile],
) -> Catalog {
    let mut catalog = Catalog::default();
    for (i, input) in app.inputs.iter().enumerate() {
        let schema = if i == 0 {
            Some(input_schema)
        } else {
            input.schema.as_ref()
        };
        let Some(schema) = schema else { continue };
        for name in input.stream_names() {
            catalog.streams.push(StreamDef {
                name,
                columns: schema
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.sql_type))
                    .collect(),
                kind: StreamKind::Source,
            });
        }
    }
    catalog.streams.push(error_stream_def());
    for r in references {
        catalog
            .tables
            .push(table_def(&r.table, r.schema.arrow_schema()));
    }
    catalog
}

/// Parses and plans the application.
pub fn plan_application(
    app: &Application,
    input_schema: &RecordSchema,
    references: &[ReferenceFile],
) -> Result<Plan> {
    let statements = parse_application(&app.code)?;
    plan(
        &app.code,
        &statements,
        catalog(app, input_schema, references),
    )
}

/// Loads every reference table; returns them by name and the rows that were skipped.
pub fn load_tables(
    references: &[ReferenceFile],
) -> Result<(HashMap<String, RecordBatch>, Vec<ErrorRow>)> {
    let mut tables = HashMap::new();
    let mut errors = Vec::new();
    for r in references {
        let loaded = load_reference(&r.table, &r.schema, &r.path)?;
        for e in &loaded.errors {
            eprintln!("rowtime: warning: skipped a row: {}", e.message);
        }
        errors.extend(loaded.errors);
        tables.insert(r.table.clone(), loaded.batch);
    }
    Ok((tables, errors))
}

/// The schema of the first input: given, or discovered from sample records.
pub fn input_schema(
    app: &Application,
    given: Option<RecordSchema>,
    sample: Option<(&[u8], bool)>,
) -> Result<RecordSchema> {
    if let Some(s) = given.or_else(|| app.inputs.first().and_then(|i| i.schema.clone())) {
        return Ok(s);
    }
    let Some((bytes, json)) = sample else {
        return Err(Error::Usage(format!(
            "{}: the input schema of {}_001 is unknown; pass --input-schema SCHEMA.json (a KDA InputSchema) or --input PATH to discover it",
            app.code.name,
            app.inputs
                .first()
                .map(|i| i.name_prefix.as_str())
                .unwrap_or("SOURCE_SQL_STREAM")
        )));
    };
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .take(100)
        .collect();
    if lines.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the input is empty, so its schema cannot be discovered; pass --input-schema SCHEMA.json",
            app.code.name
        )));
    }
    let schema = discover_schema(&lines, json)
        .map_err(|e| Error::Application(format!("discovering the input schema: {e}")))?;
    Ok(schema)
}

/// Builds the dataflow and reports the reference rows that were skipped into error_stream.
pub fn dataflow(
    plan: &Plan,
    tables: &HashMap<String, RecordBatch>,
    table_errors: Vec<ErrorRow>,
) -> Result<Dataflow> {
    let mut d = Dataflow::new(plan, tables)?;
    d.report(table_errors);
    Ok(d)
}
