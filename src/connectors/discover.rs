//! KDA schema discovery (`DiscoverInputSchema`): infers a record schema from
//! sample records when the user gives none.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::connectors::schema::{ColumnSpec, RecordFormat, RecordSchema};
use crate::time::parse_timestamp;
use crate::types::SqlType;

/// VARCHAR lengths discovery picks from: the smallest that holds the longest sample value.
const VARCHAR_BUCKETS: [u32; 8] = [4, 16, 64, 256, 1024, 4096, 16384, 65534];

/// The type of a column whose sample values were all null or missing.
const UNKNOWN_TYPE: SqlType = SqlType::Varchar(Some(256));

/// Reserved words a discovered column may not be named (compared case-insensitively).
const RESERVED: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "AT",
    "AVG",
    "BETWEEN",
    "BIGINT",
    "BINARY",
    "BOOLEAN",
    "BOTH",
    "BY",
    "CASE",
    "CAST",
    "CHAR",
    "CHARACTER",
    "CHECK",
    "COLUMN",
    "CONSTRAINT",
    "COUNT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_ROW",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURSOR",
    "DATE",
    "DAY",
    "DEC",
    "DECIMAL",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXISTS",
    "EXTRACT",
    "FALSE",
    "FETCH",
    "FLOAT",
    "FLOOR",
    "FOLLOWING",
    "FOR",
    "FROM",
    "FULL",
    "FUNCTION",
    "GROUP",
    "HAVING",
    "HOUR",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LEADING",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "MAX",
    "MIN",
    "MINUTE",
    "MONTH",
    "NATURAL",
    "NOT",
    "NULL",
    "NUMERIC",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRECEDING",
    "PUMP",
    "RANGE",
    "REAL",
    "RIGHT",
    "ROW",
    "ROWS",
    "ROWTIME",
    "SECOND",
    "SELECT",
    "SESSION_USER",
    "SET",
    "SMALLINT",
    "SOME",
    "STREAM",
    "SUM",
    "SYSTEM_USER",
    "TABLE",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TINYINT",
    "TO",
    "TRAILING",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UNKNOWN",
    "UPDATE",
    "USER",
    "USING",
    "VALUES",
    "VARBINARY",
    "VARCHAR",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "YEAR",
];

/// Infers a schema from sample records (the first up to 100 records of the input), as KDA's
/// DiscoverInputSchema does. `json` selects JSON (else CSV with ',' and "\n").
pub fn discover_schema(sample: &[&[u8]], json: bool) -> Result<RecordSchema, String> {
    let sample = &sample[..sample.len().min(100)];
    if sample.is_empty() {
        return Err("no sample records to discover a schema from".into());
    }
    if json {
        discover_json(sample).or_else(|e| plain_text(sample).ok_or(e))
    } else {
        discover_csv(sample)
    }
}

/// Records of which none is a JSON object but all are text (log lines, say): nothing to infer, so
/// one `VARCHAR(N)` column `COL_1` holds each whole record, for the SQL to parse, as KDA's
/// discovery does. The record is read as CSV whose column delimiter is its row delimiter, so it
/// is never split (and never unquoted). None when a record is not UTF-8 or looks like JSON.
fn plain_text(sample: &[&[u8]]) -> Option<RecordSchema> {
    let mut seen = Seen::default();
    let mut any = false;
    for record in sample {
        let line = std::str::from_utf8(record).ok()?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if matches!(line.trim_start().as_bytes()[0], b'{' | b'[') {
            return None;
        }
        seen.text = true;
        seen.max_len = seen.max_len.max(line.chars().count());
        any = true;
    }
    any.then(|| RecordSchema {
        columns: vec![ColumnSpec {
            name: "COL_1".into(),
            sql_type: seen.sql_type(),
            mapping: None,
        }],
        format: RecordFormat::Csv {
            row_delimiter: "\n".into(),
            column_delimiter: "\n".into(),
        },
        row_path: None,
    })
}

/// KDA's column naming rule (EX-43): a name is kept unless it is a reserved word (see
/// `RESERVED`), contains characters other than letters, digits and `_`, starts with a digit, or
/// is longer than 100 characters; such names get the prefix `COL_` with the invalid characters
/// removed, and a name with nothing usable left becomes `COL_<ordinal>`.
pub fn discovered_column_name(raw: &str, ordinal: usize) -> String {
    let ok_char = |c: char| c.is_alphanumeric() || c == '_';
    let reserved = RESERVED.iter().any(|w| w.eq_ignore_ascii_case(raw));
    let keep = !raw.is_empty()
        && raw.chars().all(ok_char)
        && !raw.starts_with(|c: char| c.is_ascii_digit())
        && !reserved
        && raw.chars().count() <= 100;
    if keep {
        return raw.to_string();
    }
    let cleaned: String = raw.chars().filter(|&c| ok_char(c)).take(96).collect();
    if cleaned.is_empty() {
        format!("COL_{ordinal}")
    } else {
        format!("COL_{cleaned}")
    }
}

/// What the sample values of one column looked like.
#[derive(Default, Debug)]
struct Seen {
    int32: bool,
    int64: bool,
    float: bool,
    boolean: bool,
    timestamp: bool,
    /// Strings (other than timestamps), arrays or objects.
    text: bool,
    /// The longest value as text, in characters.
    max_len: usize,
}

impl Seen {
    fn note_number(&mut self, text: &str) {
        self.max_len = self.max_len.max(text.len());
        let integral = !text.contains(['.', 'e', 'E']);
        match text.parse::<i64>() {
            Ok(v) if integral && i32::try_from(v).is_ok() => self.int32 = true,
            Ok(_) if integral => self.int64 = true,
            _ => self.float = true,
        }
    }

    fn note_string(&mut self, s: &str) {
        self.max_len = self.max_len.max(s.chars().count());
        if parse_timestamp(s.trim()).is_some() {
            self.timestamp = true;
        } else {
            self.text = true;
        }
    }

    /// A CSV field: every field is a string, typed by what it parses as.
    fn note_field(&mut self, f: &str) {
        let t = f.trim();
        if t.is_empty() {
            return;
        }
        if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
            self.max_len = self.max_len.max(f.chars().count());
            self.boolean = true;
        } else if is_number(t) {
            self.note_number(t.strip_prefix('+').unwrap_or(t));
            self.max_len = self.max_len.max(f.chars().count());
        } else {
            self.note_string(f);
        }
    }

    fn sql_type(&self) -> SqlType {
        let numeric = self.int32 || self.int64 || self.float;
        let others = [numeric, self.boolean, self.timestamp, self.text]
            .iter()
            .filter(|b| **b)
            .count();
        if others == 0 {
            UNKNOWN_TYPE
        } else if others > 1 || self.text {
            let len = self.max_len.min(u32::MAX as usize) as u32;
            let n = VARCHAR_BUCKETS
                .iter()
                .copied()
                .find(|b| *b >= len)
                .unwrap_or(65534);
            SqlType::Varchar(Some(n))
        } else if self.float {
            SqlType::Double
        } else if self.int64 {
            SqlType::BigInt
        } else if self.int32 {
            SqlType::Integer
        } else if self.boolean {
            SqlType::Boolean
        } else {
            SqlType::Timestamp
        }
    }
}

/// `[+-]digits[.digits][e[+-]digits]`: a plain decimal number (not `inf` or `NaN`).
fn is_number(t: &str) -> bool {
    let b = t.strip_prefix(['+', '-']).unwrap_or(t).as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Names columns, making renamed names unique.
fn name_columns(raw: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let mut name = discovered_column_name(r, i);
        if names.contains(&name) {
            name = format!("{name}_{i}");
        }
        names.push(name);
    }
    names
}

// ---------------------------------------------------------------------------------------------
// JSON

/// The top-level entries of one JSON object, in document order.
struct Entries<'de>(Vec<(String, &'de RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn discover_json(sample: &[&[u8]]) -> Result<RecordSchema, String> {
    let mut keys: Vec<String> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut first_error = None;
    for record in sample {
        let entries: Entries = match serde_json::from_slice(record) {
            Ok(e) => e,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        for (key, raw) in entries.0 {
            let i = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    keys.push(key);
                    seen.push(Seen::default());
                    keys.len() - 1
                }
            };
            let s = &mut seen[i];
            let text = raw.get();
            match text.as_bytes()[0] {
                b'n' => {}
                b't' | b'f' => {
                    s.boolean = true;
                    s.max_len = s.max_len.max(text.len());
                }
                b'"' => {
                    let v: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
                    s.note_string(&v);
                }
                b'{' | b'[' => {
                    s.text = true;
                    s.max_len = s.max_len.max(text.chars().count());
                }
                _ => s.note_number(text),
            }
        }
    }
    if keys.is_empty() {
        return Err(match first_error {
            Some(e) => format!("cannot discover a schema: no sample record is a JSON object ({e})"),
            None => "cannot discover a schema: the sample records have no keys".into(),
        });
    }
    let names = name_columns(&keys);
    let columns = keys
        .iter()
        .zip(names)
        .zip(&seen)
        .map(|((key, name), s)| ColumnSpec {
            name,
            sql_type: s.sql_type(),
            mapping: Some(json_path(key)),
        })
        .collect();
    Ok(RecordSchema {
        columns,
        format: RecordFormat::Json,
        row_path: None,
    })
}

/// `$.key`, or `$["key"]` when the key has characters a dotted path cannot hold.
fn json_path(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_') {
        format!("$.{key}")
    } else {
        format!(
            "$[{}]",
            serde_json::to_string(key).expect("a string serializes")
        )
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

/// Splits one CSV line at `,`, with `"`-quoted fields (`""` inside is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            }
            '"' if at_start => in_quotes = true,
            ',' if !in_quotes => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    fields.push(field);
    fields
}

/// Whether the first line of a CSV sample is a header (column names) rather than a record:
/// some column holds numbers, booleans or times in the other lines and text in the first; or
/// every column is text, and the first line's fields are distinct names (letters, digits and
/// `_`, not starting with a digit) none of which appears again in its column. A single line is
/// a record.
pub fn csv_header(sample: &[&[u8]]) -> bool {
    let rows: Vec<Vec<String>> = sample
        .iter()
        .filter_map(|r| std::str::from_utf8(r).ok())
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(split_csv)
        .collect();
    has_header(&rows)
}

fn has_header(rows: &[Vec<String>]) -> bool {
    let Some((first, rest)) = rows.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    let text = |f: &str| {
        let mut s = Seen::default();
        s.note_field(f);
        s.text
    };
    let mut all_text = true;
    for (c, cell) in first.iter().enumerate() {
        let mut seen = Seen::default();
        for row in rest {
            if let Some(f) = row.get(c) {
                seen.note_field(f);
            }
        }
        let typed = (seen.int32 || seen.int64 || seen.float || seen.boolean || seen.timestamp)
            && !seen.text;
        if typed && !cell.trim().is_empty() && text(cell) {
            return true;
        }
        all_text &= !typed;
    }
    let name = |f: &str| {
        let f = f.trim();
        f.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && f.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let distinct = first
        .iter()
        .enumerate()
        .all(|(i, f)| !first[..i].contains(f));
    all_text
        && distinct
        && first.iter().all(|f| name(f))
        && first
            .iter()
            .enumerate()
            .all(|(c, f)| rest.iter().all(|row| row.get(c) != Some(f)))
}

fn discover_csv(sample: &[&[u8]]) -> Result<RecordSchema, String> {
    let mut lines = Vec::with_capacity(sample.len());
    for (i, r) in sample.iter().enumerate() {
        let line = std::str::from_utf8(r)
            .map_err(|e| format!("sample record {}: not valid UTF-8: {e}", i + 1))?;
        lines.push(line);
    }
    // "\r\n" when the lines end with '\r' (the last one may lack its row delimiter).
    let crlf = lines.iter().any(|l| l.ends_with('\r'))
        && lines[..lines.len() - 1].iter().all(|l| l.ends_with('\r'));
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(split_csv)
        .collect();
    if rows.is_empty() {
        return Err("no sample records to discover a schema from".into());
    }
    let header = has_header(&rows);
    let data = if header { &rows[1..] } else { &rows[..] };
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(1);
    let mut seen: Vec<Seen> = (0..ncols).map(|_| Seen::default()).collect();
    for row in data {
        for (s, f) in seen.iter_mut().zip(row) {
            s.note_field(f);
        }
    }
    // Without a header line, the columns are COL_1, COL_2, ….
    let names = if header {
        let raw_names: Vec<String> = (0..ncols)
            .map(|i| rows[0].get(i).cloned().unwrap_or_default())
            .collect();
        name_columns(&raw_names)
    } else {
        (1..=ncols).map(|i| format!("COL_{i}")).collect()
    };
    let columns = names
        .into_iter()
        .zip(&seen)
        .map(|(name, s)| ColumnSpec {
            name,
            sql_type: s.sql_type(),
            mapping: None,
        })
        .collect();
    Ok(RecordSchema {
        columns,
        format: RecordFormat::Csv {
            row_delimiter: if crlf { "\r\n" } else { "\n" }.into(),
            column_delimiter: ",".into(),
        },
        row_path: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::decode::RecordDecoder;
    use super::*;
    use arrow::array::AsArray;

    fn cols(s: &RecordSchema) -> Vec<(String, String)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.to_string()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const EX42: &str = "year,month,state,producer_type,energy_source,units,consumption\r\n\
        2001,1,AK,TotalElectricPowerIndustry,Coal,ShortTons,47615\r\n\
        2001,1,AK,ElectricGeneratorsElectricUtilities,Coal,ShortTons,16535\r\n\
        2001,1,AK,CombinedHeatandPowerElectricPower,Coal,ShortTons,22890\r\n\
        2001,1,AL,TotalElectricPowerIndustry,Coal,ShortTons,3020601\r\n\
        2001,1,AL,ElectricGeneratorsElectricUtilities,Coal,ShortTons,2987681";

    #[test]
    fn ex42_discovers_the_documented_csv_schema() {
        let lines: Vec<&[u8]> = EX42.split('\n').map(str::as_bytes).collect();
        let schema = discover_schema(&lines, false).unwrap();
        assert_eq!(
            cols(&schema),
            pairs(&[
                ("COL_year", "INTEGER"),
                ("COL_month", "INTEGER"),
                ("state", "VARCHAR(4)"),
                ("producer_type", "VARCHAR(64)"),
                ("energy_source", "VARCHAR(4)"),
                ("units", "VARCHAR(16)"),
                ("consumption", "INTEGER"),
            ])
        );
        assert!(schema.columns.iter().all(|c| c.mapping.is_none()));
        assert_eq!(
            schema.format,
            RecordFormat::Csv {
                row_delimiter: "\r\n".into(),
                column_delimiter: ",".into()
            }
        );
        // The discovered schema decodes the data rows.
        let mut d = RecordDecoder::new(&schema).unwrap();
        for l in &lines[1..] {
            d.push(l).unwrap();
        }
        let b = d.flush();
        assert_eq!(b.num_rows(), 5);
        assert_eq!(
            b.column(6)
                .as_primitive::<arrow::datatypes::Int32Type>()
                .value(3),
            3020601
        );
        // With "\n" line ends the row delimiter is "\n".
        let lf: Vec<&[u8]> = lines
            .iter()
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        let schema = discover_schema(&lf, false).unwrap();
        assert!(
            matches!(&schema.format, RecordFormat::Csv { row_delimiter, .. } if row_delimiter == "\n")
        );
    }

    #[test]
    fn ex43_column_naming() {
        assert_eq!(discovered_column_name("USER", 0), "COL_USER");
        assert_eq!(discovered_column_name("USER@DOMAIN", 1), "COL_USERDOMAIN");
        assert_eq!(discovered_column_name("@@", 0), "COL_0");
        assert_eq!(discovered_column_name("@@", 7), "COL_7");
        assert_eq!(discovered_column_name("year", 0), "COL_year");
        assert_eq!(discovered_column_name("month", 1), "COL_month");
        assert_eq!(discovered_column_name("Timestamp", 1), "COL_Timestamp");
        assert_eq!(discovered_column_name("values", 1), "COL_values");
        assert_eq!(discovered_column_name("ticker_symbol", 1), "ticker_symbol");
        assert_eq!(discovered_column_name("_x1", 1), "_x1");
        assert_eq!(discovered_column_name("1st", 2), "COL_1st");
        assert_eq!(discovered_column_name("event time", 2), "COL_eventtime");
        assert_eq!(discovered_column_name("", 3), "COL_3");
        let long = "a".repeat(101);
        let renamed = discovered_column_name(&long, 0);
        assert!(
            renamed.starts_with("COL_a") && renamed.len() <= 100,
            "{renamed}"
        );
        assert_eq!(discovered_column_name(&"a".repeat(100), 0), "a".repeat(100));
    }

    #[test]
    fn json_discovery_types_and_order() {
        let sample: Vec<&[u8]> = vec![
            br#"{"id":1,"big":1,"price":2,"ok":true,"name":"ab","ts":"2026-03-02 08:15:04.120","obj":{"k":[1,2]}}"#,
            br#"{"id":-7,"big":5000000000,"price":2.5,"ok":false,"name":"abcdefghi","ts":"2026-03-02T08:15:04Z","extra":null,"USER":"u"}"#,
            br#"{"mixed":1,"name":null,"user@domain":"x"}"#,
            br#"{"mixed":"one"}"#,
            b"not json",
        ];
        let schema = discover_schema(&sample, true).unwrap();
        assert_eq!(
            cols(&schema),
            pairs(&[
                ("id", "INTEGER"),
                ("big", "BIGINT"),
                ("price", "DOUBLE"),
                ("ok", "BOOLEAN"),
                ("name", "VARCHAR(16)"),
                ("ts", "TIMESTAMP"),
                ("obj", "VARCHAR(16)"),
                ("extra", "VARCHAR(256)"),
                ("COL_USER", "VARCHAR(4)"),
                ("mixed", "VARCHAR(4)"),
                ("COL_userdomain", "VARCHAR(4)"),
            ])
        );
        let mappings: Vec<&str> = schema
            .columns
            .iter()
            .map(|c| c.mapping.as_deref().unwrap())
            .collect();
        assert_eq!(mappings[0], "$.id");
        assert_eq!(mappings[8], "$.USER");
        assert_eq!(mappings[10], r#"$["user@domain"]"#);
        // The discovered schema decodes its own sample.
        let mut d = RecordDecoder::new(&schema).unwrap();
        for r in &sample[..4] {
            d.push(r).unwrap();
        }
        let b = d.flush();
        assert_eq!(b.column(10).as_string::<i32>().value(2), "x");
        assert_eq!(b.column(6).as_string::<i32>().value(0), r#"{"k":[1,2]}"#);
    }

    #[test]
    fn csv_discovery_edge_cases() {
        // One line is a record, not a header: nothing shows it names the columns.
        let schema = discover_schema(&[b"a,b".as_slice()], false).unwrap();
        assert_eq!(
            cols(&schema),
            pairs(&[("COL_1", "VARCHAR(4)"), ("COL_2", "VARCHAR(4)")])
        );
        // Without a header the first line is a record like the others.
        let headerless: Vec<&[u8]> = vec![b"1,x,2.5", b"2,y,3.5", b"3,z,1e3"];
        assert!(!csv_header(&headerless));
        let schema = discover_schema(&headerless, false).unwrap();
        assert_eq!(
            cols(&schema),
            pairs(&[
                ("COL_1", "INTEGER"),
                ("COL_2", "VARCHAR(4)"),
                ("COL_3", "DOUBLE")
            ])
        );
        // Text everywhere: a header of distinct names that do not recur below is a header…
        let named: Vec<&[u8]> = vec![b"host,method", b"a.example,GET", b"b.example,POST"];
        assert!(csv_header(&named));
        // … and log lines that happen to be words are not.
        let words: Vec<&[u8]> = vec![b"GET,ok", b"POST,ok", b"GET,fail"];
        assert!(!csv_header(&words));
        // Quoted fields, empty fields, booleans, doubles, timestamps, rows longer than the header.
        let sample: Vec<&[u8]> = vec![
            b"name,flag,x,seen",
            b"\"Doe, John\",true,1.5,2026-03-02 08:15:04,9",
            b"Roe,FALSE,,2026-03-02,10",
            b"",
        ];
        let schema = discover_schema(&sample, false).unwrap();
        assert_eq!(
            cols(&schema),
            pairs(&[
                ("name", "VARCHAR(16)"),
                ("flag", "BOOLEAN"),
                ("x", "DOUBLE"),
                ("seen", "TIMESTAMP"),
                ("COL_4", "INTEGER"),
            ])
        );
        assert!(discover_schema(&[], false).is_err());
        assert!(
            discover_schema(&[b"[1]".as_slice(), b"2"], true)
                .unwrap_err()
                .contains("no sample record is a JSON object")
        );
    }

    #[test]
    fn plain_text_lines_become_one_varchar_column_read_whole() {
        let lines: Vec<&[u8]> = vec![
            b"192.168.0.1 - - [01/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512",
            b"\"quoted\", with, commas",
            b"short",
        ];
        let schema = discover_schema(&lines, true).unwrap();
        // The longest line has 69 characters: the next bucket is 256.
        assert_eq!(cols(&schema), pairs(&[("COL_1", "VARCHAR(256)")]));
        assert!(matches!(
            &schema.format,
            RecordFormat::Csv { row_delimiter, column_delimiter }
                if row_delimiter == "\n" && column_delimiter == "\n"
        ));
        // Each record comes back whole, quotes and commas included.
        let mut decoder = RecordDecoder::new(&schema).unwrap();
        for line in &lines {
            decoder.push(line).unwrap();
        }
        let batch = decoder.flush();
        let col = batch.column(0).as_string::<i32>();
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(col.value(i).as_bytes(), *line);
        }
        // A JSON document that is not an object is not plain text: the JSON error stays.
        let err = discover_schema(&[b"[1, 2]".as_slice()], true).unwrap_err();
        assert!(err.contains("no sample record is a JSON object"), "{err}");
    }

    #[test]
    fn varchar_buckets() {
        let bucket = |n: usize| {
            let mut s = Seen::default();
            s.note_string(&"x".repeat(n));
            s.sql_type()
        };
        assert_eq!(bucket(0), SqlType::Varchar(Some(4)));
        assert_eq!(bucket(2), SqlType::Varchar(Some(4)));
        assert_eq!(bucket(5), SqlType::Varchar(Some(16)));
        assert_eq!(bucket(9), SqlType::Varchar(Some(16)));
        assert_eq!(bucket(35), SqlType::Varchar(Some(64)));
        assert_eq!(bucket(257), SqlType::Varchar(Some(1024)));
        assert_eq!(bucket(70000), SqlType::Varchar(Some(65534)));
    }
}
