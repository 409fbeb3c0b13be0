//! Flink tables: the input (filesystem or Kinesis, json or csv, ROWTIME as an event-time or
//! processing-time attribute), the reference tables (filesystem or S3) and the outputs (Kinesis,
//! Firehose, filesystem, print).

use std::path::Path;

use super::quote;
use crate::connectors::schema::{RecordFormat, RecordSchema, row_path_keys};
use crate::error::{Error, Result};
use crate::types::SqlType;

/// A KDA SQL type in Flink SQL.
pub fn flink_type(t: SqlType) -> String {
    match t {
        SqlType::TinyInt => "TINYINT".into(),
        SqlType::SmallInt => "SMALLINT".into(),
        SqlType::Integer => "INT".into(),
        SqlType::BigInt => "BIGINT".into(),
        SqlType::Real => "FLOAT".into(),
        SqlType::Double => "DOUBLE".into(),
        SqlType::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
        SqlType::Char(n) => format!("CHAR({})", n.unwrap_or(1)),
        SqlType::Varchar(Some(n)) => format!("VARCHAR({n})"),
        SqlType::Varchar(None) => "STRING".into(),
        SqlType::Boolean => "BOOLEAN".into(),
        SqlType::Timestamp => "TIMESTAMP(3)".into(),
        SqlType::Date => "DATE".into(),
        SqlType::Time => "TIME(0)".into(),
        SqlType::Binary(n) => format!("BINARY({})", n.unwrap_or(1)),
        SqlType::Varbinary(Some(n)) => format!("VARBINARY({n})"),
        SqlType::Varbinary(None) => "BYTES".into(),
    }
}

/// A SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    if s.chars().all(|c| !c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("U&'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Where a table's rows are.
#[derive(Debug, Clone)]
pub enum Place {
    /// A local file or folder (`file://` path) or an `s3://` location.
    Files(String),
    /// A Kinesis data stream by ARN.
    Kinesis { arn: String, start: Option<String> },
    /// A Firehose delivery stream (outputs only).
    Firehose { name: String, region: String },
    /// Flink's print connector.
    Print,
}

/// The path of a local file as Flink's filesystem connector takes it.
pub fn file_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

/// The region of an ARN (`arn:aws:SERVICE:REGION:…`).
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

fn format_options(format: &RecordFormat, what: &str) -> Result<Vec<(String, String)>> {
    Ok(match format {
        RecordFormat::Json => vec![
            ("format".into(), "json".into()),
            ("json.fail-on-missing-field".into(), "false".into()),
            ("json.ignore-parse-errors".into(), "true".into()),
            ("json.timestamp-format.standard".into(), "SQL".into()),
        ],
        RecordFormat::Csv {
            row_delimiter,
            column_delimiter,
        } => {
            if row_delimiter != "\n" && row_delimiter != "\r\n" {
                return Err(Error::Application(format!(
                    "not translatable to Flink: {what}: RecordRowDelimiter {row_delimiter:?}; Flink's csv format reads one record per line: use \"\\n\""
                )));
            }
            if column_delimiter.chars().count() != 1 {
                return Err(Error::Application(format!(
                    "not translatable to Flink: {what}: RecordColumnDelimiter {column_delimiter:?}; Flink's csv format takes a one-character delimiter"
                )));
            }
            vec![
                ("format".into(), "csv".into()),
                ("csv.field-delimiter".into(), column_delimiter.clone()),
                ("csv.ignore-parse-errors".into(), "true".into()),
            ]
        }
    })
}

fn with_clause(place: &Place, format: Vec<(String, String)>, sink: bool) -> Result<String> {
    let mut options: Vec<(String, String)> = Vec::new();
    match place {
        Place::Files(path) => {
            options.push(("connector".into(), "filesystem".into()));
            options.push(("path".into(), path.clone()));
            options.extend(format);
            if sink {
                // One file per writer until the job ends or an hour passes.
                options.push(("sink.rolling-policy.rollover-interval".into(), "1 h".into()));
            }
        }
        Place::Kinesis { arn, start } => {
            let region = arn_region(arn).ok_or_else(|| {
                Error::Application(format!("the Kinesis ARN {arn} names no region"))
            })?;
            options.push(("connector".into(), "kinesis".into()));
            options.push(("stream.arn".into(), arn.clone()));
            options.push(("aws.region".into(), region.into()));
            if !sink {
                let position = match start.as_deref().map(str::to_ascii_uppercase).as_deref() {
                    Some("TRIM_HORIZON") => "TRIM_HORIZON",
                    _ => "LATEST",
                };
                options.push(("source.init.position".into(), position.into()));
            }
            options.extend(format);
        }
        Place::Firehose { name, region } => {
            options.push(("connector".into(), "firehose".into()));
            options.push(("delivery-stream".into(), name.clone()));
            options.push(("aws.region".into(), region.clone()));
            options.extend(format);
        }
        Place::Print => options.push(("connector".into(), "print".into())),
    }
    let lines: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("  {} = {}", literal(k), literal(v)))
        .collect();
    Ok(format!("WITH (\n{}\n)", lines.join(",\n")))
}

/// A JSON column tree: the physical columns Flink reads (nested keys as ROWs).
#[derive(Debug)]
enum Node {
    Leaf(SqlType),
    Row(Vec<(String, Node)>),
}

fn insert(tree: &mut Vec<(String, Node)>, keys: &[String], t: SqlType) -> Result<(), String> {
    let (first, rest) = keys.split_first().ok_or("an empty mapping")?;
    let pos = tree.iter().position(|(k, _)| k == first);
    if rest.is_empty() {
        match pos {
            None => tree.push((first.clone(), Node::Leaf(t))),
            Some(i) => match &tree[i].1 {
                Node::Leaf(existing) if *existing == t => {}
                _ => {
                    return Err(format!(
                        "the key {first} is mapped twice with different types"
                    ));
                }
            },
        }
        return Ok(());
    }
    let i = match pos {
        Some(i) => i,
        None => {
            tree.push((first.clone(), Node::Row(Vec::new())));
            tree.len() - 1
        }
    };
    match &mut tree[i].1 {
        Node::Row(children) => insert(children, rest, t),
        Node::Leaf(_) => Err(format!(
            "{first} is mapped both as a value and as an object"
        )),
    }
}

fn node_type(n: &Node) -> String {
    match n {
        Node::Leaf(t) => flink_type(*t),
        Node::Row(children) => {
            let fields: Vec<String> = children
                .iter()
                .map(|(k, c)| format!("{} {}", quote(k), node_type(c)))
                .collect();
            format!("ROW<{}>", fields.join(", "))
        }
    }
}

/// How the input's ROWTIME is made.
pub enum RowtimeMode<'a> {
    /// `--rowtime-from COLUMN`.
    Replay(&'a str),
    /// From a JSON key of each record that is not one of the input's columns.
    Key(&'a str),
    Ingest,
    /// The time a row arrives as an event-time attribute: a processing-time application whose
    /// LEFT JOIN with a reference table runs as Flink's event-time temporal join.
    IngestEvent,
}

/// The value of a column read as text, converted to its KDA type, and the condition that the
/// conversion worked (KDA sends a record whose field does not convert to error_stream: the
/// view drops it; Flink's json and csv formats would make the field NULL instead).
fn typed(path: &str, t: SqlType, csv: bool) -> (String, Option<String>) {
    if matches!(t, SqlType::Varchar(_) | SqlType::Char(_)) {
        return (format!("CAST({path} AS {})", flink_type(t)), None);
    }
    let text = if csv {
        format!("NULLIF({path}, '')")
    } else {
        path.to_string()
    };
    match t {
        // KDA reads `YYYY-MM-DD[( |T)HH:MM[:SS[.f…]]][Z]`; Flink's CAST wants a space, seconds and
        // no Z, and
        // moves an impossible day (02-30) to the month's last, where KDA rejects the record: the
        // date must come back as written.
        SqlType::Timestamp | SqlType::Date => {
            let value = match t {
                SqlType::Timestamp => {
                    let t = format!("REPLACE(REPLACE(UPPER({text}), 'T', ' '), 'Z', '')");
                    format!(
                        "TRY_CAST(CASE WHEN CHAR_LENGTH({t}) = 16 THEN {t} || ':00' ELSE {t} END AS TIMESTAMP(3))"
                    )
                }
                _ => format!("TRY_CAST({text} AS DATE)"),
            };
            let ok = format!(
                "({text} IS NULL OR CAST(CAST({value} AS DATE) AS STRING) = SUBSTRING({text} FROM 1 FOR 10))"
            );
            (value, Some(ok))
        }
        _ => {
            let value = format!("TRY_CAST({text} AS {})", flink_type(t));
            let ok = format!("({text} IS NULL OR {value} IS NOT NULL)");
            (value, Some(ok))
        }
    }
}

/// The input: a table of the records (every field as text) and a view of the KDA columns with
/// ROWTIME.
pub fn source(
    stream: &str,
    schema: &RecordSchema,
    place: &Place,
    rowtime: &RowtimeMode,
    arrival_key: Option<&str>,
    notes: &[String],
) -> Result<String> {
    let what = format!("input {stream}");
    let records = format!("{stream}__records");
    let csv = matches!(schema.format, RecordFormat::Csv { .. });
    let mut physical = Vec::new();
    let mut select = Vec::new();
    let mut checks = Vec::new();
    let mut rowtime_source = None;
    let mut paths = Vec::new();
    match &schema.format {
        RecordFormat::Json => {
            if let Some(p) = &schema.row_path {
                return Err(Error::Application(format!(
                    "not translatable to Flink: {what}: RecordRowPath {p}; Flink's json format reads one record per line, with the columns at its top level"
                )));
            }
            let mut tree = Vec::new();
            for c in &schema.columns {
                let mapping = c.mapping.as_deref().unwrap_or("$");
                let keys = row_path_keys(mapping).map_err(|why| {
                    Error::Application(format!(
                        "not translatable to Flink: {what}: column {} has the mapping {mapping}, which {why}",
                        c.name
                    ))
                })?;
                if keys.is_empty() {
                    return Err(Error::Application(format!(
                        "not translatable to Flink: {what}: column {} maps the whole record ($)",
                        c.name
                    )));
                }
                insert(&mut tree, &keys, SqlType::Varchar(None)).map_err(|why| {
                    Error::Application(format!("not translatable to Flink: {what}: {why}"))
                })?;
                let path: Vec<String> = keys.iter().map(|k| quote(k)).collect();
                paths.push(path.join("."));
            }
            if let RowtimeMode::Key(k) = rowtime {
                if tree.iter().any(|(n, _)| n == k) {
                    return Err(Error::Usage(format!(
                        "the ROWTIME key {k} is also a column's key"
                    )));
                }
                tree.push((k.to_string(), Node::Leaf(SqlType::Varchar(None))));
                rowtime_source = Some(format!("TRY_CAST({} AS TIMESTAMP(3))", quote(k)));
            }
            if let Some(k) = arrival_key {
                if tree.iter().any(|(n, _)| n == k) {
                    return Err(Error::Usage(format!(
                        "the arrival time key {k} is also a column's key"
                    )));
                }
                tree.push((k.to_string(), Node::Leaf(SqlType::Varchar(None))));
            }
            for (k, n) in &tree {
                physical.push(format!("{} {}", quote(k), node_type(n)));
            }
        }
        RecordFormat::Csv { .. } => {
            for c in &schema.columns {
                physical.push(format!("{} STRING", quote(&c.name)));
                paths.push(quote(&c.name));
            }
        }
    }
    for (c, path) in schema.columns.iter().zip(&paths) {
        let (value, ok) = typed(path, c.sql_type, csv);
        if let RowtimeMode::Replay(col) = rowtime
            && col.eq_ignore_ascii_case(&c.name)
        {
            rowtime_source = Some(value.clone());
        }
        select.push(format!("{value} AS {}", quote(&c.name)));
        checks.extend(ok);
    }
    match rowtime {
        RowtimeMode::Replay(_) | RowtimeMode::Key(_) => {
            let Some(from) = rowtime_source else {
                let (RowtimeMode::Replay(col) | RowtimeMode::Key(col)) = rowtime else {
                    unreachable!("a replay mode")
                };
                return Err(Error::Usage(format!(
                    "--rowtime-from {col}: the input {stream} has no column {col}"
                )));
            };
            // A row without a time cannot carry a watermark attribute: it gets the epoch here
            // (below every watermark, so it moves none) and the view drops it, as rowtime
            // drops such a row (to error_stream).
            physical.push(format!(
                "`ROWTIME` AS COALESCE(CAST({from} AS TIMESTAMP(3)), TIMESTAMP '1970-01-01 00:00:00')"
            ));
            physical.push("WATERMARK FOR `ROWTIME` AS `ROWTIME` - INTERVAL '0.001' SECOND".into());
            checks.push(format!("{from} IS NOT NULL"));
        }
        RowtimeMode::Ingest => physical.push("`ROWTIME` AS PROCTIME()".into()),
        RowtimeMode::IngestEvent => {
            // Evaluated for each record as the source reads it; the clock only moves forward,
            // so the watermark is the latest time.
            physical.push("`ROWTIME` AS CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3))".into());
            physical.push("WATERMARK FOR `ROWTIME` AS `ROWTIME`".into());
        }
    }
    // KDA's APPROXIMATE_ARRIVAL_TIME. A file has no arrival time: rowtime gives ROWTIME then.
    // (Kinesis's would be the connector's `timestamp` metadata, which its table source lists but
    // does not fill in: a query that reads it there is refused, see `query.rs`.)
    match (place, arrival_key) {
        (Place::Files(_), Some(k)) if matches!(schema.format, RecordFormat::Json) => {
            select.push(format!(
                "TRY_CAST({} AS TIMESTAMP(3)) AS `APPROXIMATE_ARRIVAL_TIME`",
                quote(k)
            ))
        }
        (_, Some(k)) => {
            return Err(Error::Usage(format!(
                "the arrival time key {k} needs a JSON file input"
            )));
        }
        (Place::Files(_), None) => {
            select.push("CAST(`ROWTIME` AS TIMESTAMP(3)) AS `APPROXIMATE_ARRIVAL_TIME`".into())
        }
        _ => {}
    }
    select.push("`ROWTIME`".into());
    let mut out = String::new();
    for n in notes {
        out.push_str(&comment(n));
    }
    out.push_str(&format!(
        "CREATE TABLE {} (\n  {}\n) {};\n\n",
        quote(&records),
        physical.join(",\n  "),
        with_clause(place, format_options(&schema.format, &what)?, false)?
    ));
    out.push_str(&comment(
        "A record whose field does not convert to its column's type is dropped, as KDA sends it to error_stream.",
    ));
    let filter = if checks.is_empty() {
        String::new()
    } else {
        format!("\nWHERE {}", checks.join("\n  AND "))
    };
    out.push_str(&format!(
        "CREATE VIEW {} AS\nSELECT {}\nFROM {}{filter};\n",
        quote(stream),
        select.join(",\n       "),
        quote(&records),
    ));
    Ok(out)
}

/// A reference table as Flink reads it: the physical columns of its file, the view's typed
/// columns and the condition that drops a CSV header line.
struct ReferenceParts {
    physical: Vec<String>,
    typed: Vec<String>,
    filter: Option<String>,
    with: String,
}

fn reference_parts(table: &str, schema: &RecordSchema, place: &Place) -> Result<ReferenceParts> {
    let what = format!("reference table {table}");
    let with = with_clause(place, format_options(&schema.format, &what)?, false)?;
    match &schema.format {
        RecordFormat::Csv { .. } => {
            // Flink's csv format cannot skip a header line: read text, drop the line that
            // holds the column names (as rowtime does), cast in the view.
            let physical = schema
                .columns
                .iter()
                .map(|c| format!("{} STRING", quote(&c.name)))
                .collect();
            let typed = schema
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "CAST({} AS {}) AS {}",
                        quote(&c.name),
                        flink_type(c.sql_type),
                        quote(&c.name)
                    )
                })
                .collect();
            let header: Vec<String> = schema
                .columns
                .iter()
                .map(|c| format!("{} = {}", quote(&c.name), literal(&c.name)))
                .collect();
            Ok(ReferenceParts {
                physical,
                typed,
                filter: Some(format!("NOT ({})", header.join(" AND "))),
                with,
            })
        }
        RecordFormat::Json => {
            let mut physical = Vec::new();
            let mut typed = Vec::new();
            for c in &schema.columns {
                let mapping = c.mapping.clone().unwrap_or_else(|| format!("$.{}", c.name));
                let keys = row_path_keys(&mapping).map_err(|why| {
                    Error::Application(format!(
                        "not translatable to Flink: {what}: column {} has the mapping {mapping}, which {why}",
                        c.name
                    ))
                })?;
                if keys.len() != 1 {
                    return Err(Error::Application(format!(
                        "not translatable to Flink: {what}: column {}: nested mappings in reference tables are not translated",
                        c.name
                    )));
                }
                physical.push(format!("{} STRING", quote(&keys[0])));
                typed.push(format!(
                    "CAST({} AS {}) AS {}",
                    quote(&keys[0]),
                    flink_type(c.sql_type),
                    quote(&c.name)
                ));
            }
            Ok(ReferenceParts {
                physical,
                typed,
                filter: None,
                with,
            })
        }
    }
}

fn where_clause(filter: &Option<String>) -> String {
    filter
        .as_ref()
        .map_or_else(String::new, |f| format!("\nWHERE {f}"))
}

/// A reference table: its file read as it is, a view with the KDA columns.
pub fn reference(table: &str, schema: &RecordSchema, place: &Place) -> Result<String> {
    let parts = reference_parts(table, schema, place)?;
    let records = format!("{table}__file");
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) {};\n\nCREATE VIEW {} AS\nSELECT {}\nFROM {}{};\n",
        quote(&records),
        parts.physical.join(",\n  "),
        parts.with,
        quote(table),
        parts.typed.join(", "),
        quote(&records),
        where_clause(&parts.filter),
    ))
}

/// The name of a reference table's versioned view keyed by `keys` (see [`versioned_reference`]).
pub fn versioned_name(table: &str, keys: &[String]) -> String {
    format!("{table}__by_{}", keys.join("_"))
}

/// A reference table as a versioned table for Flink's event-time temporal join: the file again,
/// every row one version valid from the epoch (`__VERSION`, a time attribute whose watermark
/// reaches the end of time when the file is read), one row per key.
pub fn versioned_reference(
    table: &str,
    keys: &[String],
    schema: &RecordSchema,
    place: &Place,
) -> Result<String> {
    let mut parts = reference_parts(table, schema, place)?;
    let records = format!("{table}__versions_file");
    parts
        .physical
        .push("`__VERSION` AS TIMESTAMP '1970-01-01 00:00:00'".into());
    parts
        .physical
        .push("WATERMARK FOR `__VERSION` AS `__VERSION`".into());
    let columns: Vec<String> = schema.columns.iter().map(|c| quote(&c.name)).collect();
    let partition: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) {};\n\nCREATE VIEW {} AS\nSELECT {}, `__VERSION`\nFROM (\n  SELECT *, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY `__VERSION` DESC) AS `__N`\n  FROM (SELECT {}, `__VERSION` FROM {}{})\n)\nWHERE `__N` = 1;\n",
        quote(&records),
        parts.physical.join(",\n  "),
        parts.with,
        quote(&versioned_name(table, keys)),
        columns.join(", "),
        partition.join(", "),
        parts.typed.join(", "),
        quote(&records),
        where_clause(&parts.filter).replace('\n', " "),
    ))
}
/// An output's table.
pub fn sink(name: &str, columns: &[(String, String)], place: &Place, csv: bool) -> Result<String> {
    let format = if csv {
        vec![("format".to_string(), "csv".to_string())]
    } else {
        vec![
            ("format".to_string(), "json".to_string()),
            (
                "json.timestamp-format.standard".to_string(),
                "SQL".to_string(),
            ),
        ]
    };
    let cols: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("{} {t}", quote(n)))
        .collect();
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) {};\n",
        quote(name),
        cols.join(",\n  "),
        with_clause(place, format, true)?
    ))
}

/// A `--` comment, wrapped at about 100 characters.
pub fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("--");
    for word in text.split_whitespace() {
        if line.len() + word.len() > 98 && line.len() > 2 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("--");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}
