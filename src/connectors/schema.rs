//! KDA record schemas: the `InputSchema` of a streaming source and the `ReferenceSchema` of a
//! reference table (both are a KDA `SourceSchema`), as JSON and as the checked form the engine uses.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::Deserialize;

use crate::types::SqlType;

/// `SourceSchema` exactly as KDA writes it (`RecordColumns`, `RecordFormat`, `RecordEncoding`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SourceSchemaJson {
    pub record_columns: Vec<RecordColumnJson>,
    pub record_format: RecordFormatJson,
    #[serde(default)]
    pub record_encoding: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RecordColumnJson {
    pub name: String,
    pub sql_type: String,
    #[serde(default)]
    pub mapping: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RecordFormatJson {
    pub record_format_type: String,
    #[serde(default)]
    pub mapping_parameters: Option<MappingParametersJson>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MappingParametersJson {
    #[serde(rename = "JSONMappingParameters")]
    pub json_mapping_parameters: Option<JsonMappingJson>,
    #[serde(rename = "CSVMappingParameters")]
    pub csv_mapping_parameters: Option<CsvMappingJson>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct JsonMappingJson {
    pub record_row_path: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CsvMappingJson {
    pub record_row_delimiter: String,
    pub record_column_delimiter: String,
}

/// The keys of a `RecordRowPath` such as `$.records` or `$.data.items` (a trailing `[0:]` is
/// allowed: the records are the array's elements either way).
pub fn row_path_keys(path: &str) -> Result<Vec<String>, String> {
    let rest = path.strip_prefix('$').ok_or("does not start with `$`")?;
    let rest = rest.strip_suffix("[0:]").unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = rest
        .strip_prefix('.')
        .ok_or("is not supported: write $.key or $.a.b (object keys)")?
        .split('.')
        .map(str::to_string)
        .collect();
    if keys
        .iter()
        .any(|k| k.is_empty() || k.contains(['[', ']', '*', '"', '\'']))
    {
        return Err("is not supported: write $.key or $.a.b (object keys)".into());
    }
    Ok(keys)
}

/// One column of a record schema: its exact name, SQL type and (JSON only) JSONPath mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub sql_type: SqlType,
    /// JSONPath such as `$.a.b` for JSON records; `None` for CSV (columns are positional).
    pub mapping: Option<String>,
}

/// How records are framed and split into columns.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordFormat {
    Json,
    Csv {
        row_delimiter: String,
        column_delimiter: String,
    },
}

impl RecordFormat {
    /// Both CSV delimiters "\n": each line is one field, taken whole (what schema discovery
    /// gives for plain text).
    pub fn whole_lines(column_delimiter: &str, row_delimiter: &str) -> bool {
        column_delimiter == "\n" && row_delimiter == "\n"
    }
}

/// A checked record schema.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSchema {
    pub columns: Vec<ColumnSpec>,
    pub format: RecordFormat,
    /// JSON's `RecordRowPath` when it is not `$`: where in each document its records are (an
    /// array of them, or one object); the columns' mappings are read within each record.
    pub row_path: Option<String>,
}

impl RecordSchema {
    /// Checks a KDA `SourceSchema`; `what` names it in messages (e.g. "input schema").
    pub fn from_json(json: &SourceSchemaJson, what: &str) -> Result<RecordSchema, String> {
        if json.record_columns.is_empty() {
            return Err(format!(
                "{what}: RecordColumns is empty; list at least one column"
            ));
        }
        if let Some(enc) = &json.record_encoding
            && !enc.eq_ignore_ascii_case("UTF-8")
        {
            return Err(format!(
                "{what}: RecordEncoding `{enc}` is not supported; use UTF-8"
            ));
        }
        let params = json
            .record_format
            .mapping_parameters
            .clone()
            .unwrap_or_default();
        let format = match json
            .record_format
            .record_format_type
            .to_ascii_uppercase()
            .as_str()
        {
            "JSON" => RecordFormat::Json,
            "CSV" => {
                let p = params
                    .csv_mapping_parameters
                    .clone()
                    .unwrap_or(CsvMappingJson {
                        record_row_delimiter: "\n".into(),
                        record_column_delimiter: ",".into(),
                    });
                if p.record_column_delimiter.is_empty() {
                    return Err(format!("{what}: RecordColumnDelimiter is empty"));
                }
                if p.record_row_delimiter.is_empty() {
                    return Err(format!("{what}: RecordRowDelimiter is empty"));
                }
                if !RecordFormat::whole_lines(&p.record_column_delimiter, &p.record_row_delimiter)
                    && p.record_column_delimiter.contains(&p.record_row_delimiter)
                {
                    return Err(format!(
                        "{what}: RecordColumnDelimiter {:?} holds the RecordRowDelimiter {:?} (only \"\\n\" for both, one field a line, may)",
                        p.record_column_delimiter, p.record_row_delimiter
                    ));
                }
                RecordFormat::Csv {
                    row_delimiter: p.record_row_delimiter,
                    column_delimiter: p.record_column_delimiter,
                }
            }
            other => {
                return Err(format!(
                    "{what}: RecordFormatType `{other}` is not JSON or CSV"
                ));
            }
        };
        let mut columns = Vec::with_capacity(json.record_columns.len());
        for c in &json.record_columns {
            if columns.iter().any(|x: &ColumnSpec| x.name == c.name) {
                return Err(format!("{what}: column `{}` is listed twice", c.name));
            }
            let sql_type = SqlType::parse(&c.sql_type)
                .map_err(|e| format!("{what}: column `{}`: {e}", c.name))?;
            let mapping = match (&format, &c.mapping) {
                (RecordFormat::Json, None) => {
                    return Err(format!(
                        "{what}: column `{}` has no Mapping; JSON columns need a JSONPath such as \"$.{}\"",
                        c.name, c.name
                    ));
                }
                (RecordFormat::Json, Some(m)) => Some(m.clone()),
                (RecordFormat::Csv { .. }, _) => None,
            };
            columns.push(ColumnSpec {
                name: c.name.clone(),
                sql_type,
                mapping,
            });
        }
        let row_path = params
            .json_mapping_parameters
            .as_ref()
            .map(|p| p.record_row_path.trim().to_string())
            .filter(|p| p != "$" && format == RecordFormat::Json);
        if let Some(p) = &row_path {
            row_path_keys(p).map_err(|why| format!("{what}: RecordRowPath `{p}` {why}"))?;
        }
        Ok(RecordSchema {
            columns,
            format,
            row_path,
        })
    }

    /// The object keys of the `RecordRowPath` (empty for `$`).
    pub fn row_path_keys(&self) -> Vec<String> {
        self.row_path
            .as_deref()
            .map(|p| row_path_keys(p).unwrap_or_default())
            .unwrap_or_default()
    }

    /// A CSV schema's `RecordRowDelimiter` (`None` for JSON: documents follow one another).
    pub fn row_delimiter(&self) -> Option<&str> {
        match &self.format {
            RecordFormat::Csv { row_delimiter, .. } => Some(row_delimiter),
            RecordFormat::Json => None,
        }
    }

    /// Parses a KDA `SourceSchema` JSON text.
    pub fn parse_json_text(text: &str, what: &str) -> Result<RecordSchema, String> {
        let json: SourceSchemaJson =
            serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))?;
        RecordSchema::from_json(&json, what)
    }

    /// Whether `line` is a CSV header: its fields are the column names (case-insensitive).
    pub fn is_header_line(&self, line: &[u8]) -> bool {
        let RecordFormat::Csv {
            column_delimiter, ..
        } = &self.format
        else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        let fields: Vec<&str> = text
            .split(column_delimiter.as_str())
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        fields.len() == self.columns.len()
            && fields
                .iter()
                .zip(&self.columns)
                .all(|(f, c)| f.eq_ignore_ascii_case(&c.name))
    }

    /// The schema as KDA writes an `InputSchema` (what `DiscoverInputSchema` returned), pretty
    /// printed, ready to paste into a definition or pass as `--input-schema`.
    pub fn to_input_schema_json(&self) -> String {
        let columns: Vec<serde_json::Value> = self
            .columns
            .iter()
            .map(|c| {
                let mut col = serde_json::Map::new();
                col.insert("Name".into(), c.name.clone().into());
                if let Some(m) = &c.mapping {
                    col.insert("Mapping".into(), m.clone().into());
                }
                col.insert("SqlType".into(), c.sql_type.to_string().into());
                serde_json::Value::Object(col)
            })
            .collect();
        let format = match &self.format {
            RecordFormat::Json => serde_json::json!({
                "RecordFormatType": "JSON",
                "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}
            }),
            RecordFormat::Csv {
                row_delimiter,
                column_delimiter,
            } => serde_json::json!({
                "RecordFormatType": "CSV",
                "MappingParameters": {"CSVMappingParameters": {
                    "RecordRowDelimiter": row_delimiter,
                    "RecordColumnDelimiter": column_delimiter
                }}
            }),
        };
        let doc = serde_json::json!({
            "RecordFormat": format,
            "RecordEncoding": "UTF-8",
            "RecordColumns": columns
        });
        serde_json::to_string_pretty(&doc).expect("JSON values serialize")
    }

    /// The columns as an input stream declares them: name and KDA type.
    pub fn stream_columns(&self) -> Vec<(String, SqlType)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type))
            .collect()
    }

    /// The Arrow schema of decoded records (all columns nullable, exact names).
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.sql_type.arrow_type(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_kda_input_schema() {
        let s = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"JSON","MappingParameters":{"JSONMappingParameters":{"RecordRowPath":"$"}}},
               "RecordEncoding":"UTF-8",
               "RecordColumns":[{"Name":"TICKER_SYMBOL","Mapping":"$.TICKER_SYMBOL","SqlType":"VARCHAR(4)"},
                                {"Name":"price","Mapping":"$.p.v","SqlType":"REAL"}]}"#,
            "input schema",
        )
        .unwrap();
        assert_eq!(s.format, RecordFormat::Json);
        assert_eq!(s.columns[1].name, "price");
        assert_eq!(s.columns[1].mapping.as_deref(), Some("$.p.v"));
        assert_eq!(s.columns[0].sql_type, SqlType::Varchar(Some(4)));
    }

    #[test]
    fn writes_a_kda_input_schema_that_reads_back() {
        let text = r#"{"RecordFormat":{"RecordFormatType":"JSON"},"RecordColumns":[
            {"Name":"TICKER","Mapping":"$.ticker","SqlType":"VARCHAR(4)"},
            {"Name":"price","Mapping":"$.p.v","SqlType":"DECIMAL(8,2)"}]}"#;
        let s = RecordSchema::parse_json_text(text, "input schema").unwrap();
        let written = s.to_input_schema_json();
        assert!(written.contains(r#""RecordRowPath": "$""#), "{written}");
        assert_eq!(RecordSchema::parse_json_text(&written, "again").unwrap(), s);
        let csv = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"CSV"},"RecordColumns":[{"Name":"A","SqlType":"INTEGER"}]}"#,
            "csv",
        )
        .unwrap();
        let written = csv.to_input_schema_json();
        assert!(!written.contains("Mapping\""), "{written}");
        assert_eq!(
            RecordSchema::parse_json_text(&written, "again").unwrap(),
            csv
        );
    }

    #[test]
    fn recognises_a_csv_header_line() {
        let s = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"CSV"},"RecordColumns":[{"Name":"Ticker","SqlType":"VARCHAR(4)"},{"Name":"Company","SqlType":"VARCHAR(16)"}]}"#,
            "reference schema",
        )
        .unwrap();
        assert!(s.is_header_line(b"Ticker, Company"));
        assert!(s.is_header_line(b"\"TICKER\",\"company\""));
        assert!(!s.is_header_line(b"AMZN,Amazon"));
        assert!(!s.is_header_line(b"Ticker"));
    }

    #[test]
    fn explains_what_is_wrong_with_a_schema() {
        let err = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"JSON"},"RecordColumns":[{"Name":"A","SqlType":"INTEGER"}]}"#,
            "input schema",
        )
        .unwrap_err();
        assert!(err.contains("column `A` has no Mapping"), "{err}");
        let err = RecordSchema::parse_json_text(
            r#"{"RecordFormat":{"RecordFormatType":"XML"},"RecordColumns":[{"Name":"A","SqlType":"INTEGER"}]}"#,
            "input schema",
        )
        .unwrap_err();
        assert!(err.contains("`XML` is not JSON or CSV"), "{err}");
    }
}
