//! KDA's log-parsing functions (KDA SQL reference, "Log Parsing Functions"). Each returns a
//! row (an Arrow struct) whose fields are read as `t.r.COLUMN1`, `t.r."COL_1"`, … after the call
//! is named in a subquery (`… AS r FROM s) AS t`, or `AS t(r)`):
//!
//! - `REGEX_LOG_PARSE(text, 'regex' [, columns])`: one `COLUMNn` per capture group when the whole text matches
//!   (greedy, with backtracking, as Java's `matches`); else every field is NULL.
//! - `W3C_LOG_PARSE(text, format)`: `format` is `COMMON` (`%h %l %u %t "%r" %>s %b`),
//!   `COMMON WITH VHOST`, `NCSA EXTENDED` (COMMON plus `"%{Referer}i" "%{User-agent}i"`),
//!   `REFERER`, `AGENT`, or an Apache `LogFormat` string. One `COLUMNn` per `%` directive:
//!   `%t` keeps its brackets, a quoted directive loses its quotes. A line that does not fit gives
//!   NULL fields.
//! - `VARIABLE_COLUMN_LOG_PARSE(text, columns, delimiter [, escape [, quote]])`: `columns` is a
//!   count (fields `COLUMN1..n`) or `'NAME TYPE type, …'`; `escape` before the delimiter keeps it
//!   in the field; `quote` (one character, or two: opening and closing) encloses fields that hold
//!   delimiters. Missing fields are NULL; a value that does not convert to its type is an error
//!   of the row, which goes to `error_stream`.
//!
//! - `FAST_REGEX_LOG_PARSE(text, 'pattern')` (or `FAST_REGEX_LOG_PARSER`): KDA's own pattern
//!   language, matched without backtracking (`fast_regex.rs`); a text the pattern does not
//!   account for is an error of the row.
//! - `SYS_LOG_PARSE(text)`: a syslog line, `Mon DD HH:MM:SS rest`: `COLUMN1` the TIMESTAMP (year
//!   1970, as Java's `SimpleDateFormat` leaves a date without one; a day may be padded with a
//!   blank), `COLUMN2` the rest after the blank; another line gives NULL fields.
//! - `FIXED_COLUMN_LOG_PARSE(text, 'name [TYPE type [\'format\']] [NOT NULL] START n [FOR m], …')`:
//!   fixed-width fields from character `n` (counting from 0) for `m` characters (to the end
//!   without `FOR`); a field that starts past the end is NULL. Values convert as CAST does, after
//!   trimming blanks (not for CHAR and VARCHAR); DATE, TIME and TIMESTAMP fields may give a
//!   `SimpleDateFormat` pattern. A value that does not convert is an error of the row.
//!
//! `REGEX_LOG_PARSE`'s patterns are Java's as far as `fancy-regex` goes: look-around,
//! back-references, atomic groups and possessive quantifiers work; its optional column list
//! (`'NAME [TYPE] type, …'`, one per group) names and types the fields.
//!
//! Fields are VARCHAR unless the column list says otherwise; the format arguments must be
//! literals, since they decide the fields.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use regex::Regex;

use super::date_format::Pattern;
use super::fast_regex::FastRegex;
use crate::types::SqlType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Regex,
    W3c,
    VariableColumn,
    FastRegex,
    SysLog,
    FixedColumn,
}

/// One of the log parsers.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LogParse {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl LogParse {
    pub fn all() -> Vec<ScalarUDF> {
        let any = |counts: &[usize]| {
            Signature::one_of(
                counts.iter().map(|n| TypeSignature::Any(*n)).collect(),
                Volatility::Immutable,
            )
        };
        [
            ("regex_log_parse", Kind::Regex, any(&[2, 3])),
            ("w3c_log_parse", Kind::W3c, any(&[2])),
            ("fast_regex_log_parse", Kind::FastRegex, any(&[2])),
            ("fast_regex_log_parser", Kind::FastRegex, any(&[2])),
            ("sys_log_parse", Kind::SysLog, any(&[1])),
            ("fixed_column_log_parse", Kind::FixedColumn, any(&[2])),
            (
                "variable_column_log_parse",
                Kind::VariableColumn,
                any(&[3, 4, 5]),
            ),
        ]
        .into_iter()
        .map(|(name, kind, signature)| {
            ScalarUDF::new_from_impl(LogParse {
                name,
                kind,
                signature,
            })
        })
        .collect()
    }

    fn upper(&self) -> String {
        self.name.to_uppercase()
    }

    /// The parser and its fields, from the literal arguments after the text.
    fn layout(&self, literals: &[Option<&ScalarValue>]) -> Result<Layout, String> {
        let text = |i: usize, what: &str| -> Result<Option<String>, String> {
            match literals.get(i) {
                None => Ok(None),
                Some(Some(v)) if v.is_null() => Ok(None),
                Some(Some(v)) => match v.cast_to(&DataType::Utf8) {
                    Ok(ScalarValue::Utf8(Some(s))) => Ok(Some(s)),
                    _ => Err(format!("the {what} must be text")),
                },
                Some(None) => Err(format!(
                    "the {what} must be a literal (it decides the fields)"
                )),
            }
        };
        match self.kind {
            Kind::Regex => {
                let pattern = text(1, "pattern")?.ok_or("the pattern must not be NULL")?;
                let regex = fancy_regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    format!(
                        "the pattern {pattern:?} is not a regular expression rowtime reads: {e}"
                    )
                })?;
                let groups = regex.captures_len() - 1;
                let fields = match text(2, "column list")? {
                    None => varchar_columns(groups),
                    Some(spec) => {
                        let fields = regex_columns(&spec)?;
                        if fields.len() != groups {
                            return Err(format!(
                                "the pattern has {groups} group(s) but the column list names {} column(s)",
                                fields.len()
                            ));
                        }
                        fields
                    }
                };
                Ok(Layout {
                    fields,
                    parser: Parser::Java(regex),
                })
            }
            Kind::FastRegex => {
                let pattern = text(1, "pattern")?.ok_or("the pattern must not be NULL")?;
                let regex = FastRegex::new(&pattern)?;
                Ok(Layout {
                    fields: varchar_columns(regex.columns()),
                    parser: Parser::Fast(regex),
                })
            }
            Kind::SysLog => Ok(Layout {
                fields: vec![
                    Field::new("COLUMN1", crate::catalog::rowtime_type(), true),
                    Field::new("COLUMN2", DataType::Utf8, true),
                ]
                .into(),
                parser: Parser::SysLog(Pattern::parse("MMM dd HH:mm:ss").expect("a valid pattern")),
            }),
            Kind::FixedColumn => {
                let spec = text(1, "column list")?.ok_or("the column list must not be NULL")?;
                let (fields, columns) = fixed_columns(&spec)?;
                Ok(Layout {
                    fields,
                    parser: Parser::Fixed(columns),
                })
            }
            Kind::W3c => {
                let format = text(1, "format")?.ok_or("the format must not be NULL")?;
                let regex = w3c_regex(&format)?;
                let fields = varchar_columns(regex.captures_len() - 1);
                Ok(Layout {
                    fields,
                    parser: Parser::Groups(regex),
                })
            }
            Kind::VariableColumn => {
                let columns = match literals.get(1) {
                    Some(Some(v)) if v.data_type().is_integer() => {
                        let n = v.cast_to(&DataType::Int64).ok();
                        match n {
                            Some(ScalarValue::Int64(Some(n)))
                                if (1..=MAX_COLUMNS as i64).contains(&n) =>
                            {
                                varchar_columns(n as usize)
                            }
                            _ => {
                                return Err(format!(
                                    "the number of columns must be 1 to {MAX_COLUMNS}"
                                ));
                            }
                        }
                    }
                    _ => {
                        let spec =
                            text(1, "column list")?.ok_or("the column list must not be NULL")?;
                        column_list(&spec)?
                    }
                };
                let delimiter = text(2, "delimiter")?.ok_or("the delimiter must not be NULL")?;
                if delimiter.is_empty() {
                    return Err("the delimiter must not be empty".into());
                }
                let escape = match text(3, "escape")? {
                    None => None,
                    Some(e) if e.is_empty() => None,
                    Some(e) if e.chars().count() == 1 => e.chars().next(),
                    Some(e) => return Err(format!("the escape {e:?} must be one character")),
                };
                let quote = match text(4, "quote")? {
                    None => None,
                    Some(q) => {
                        let q: Vec<char> = q.chars().collect();
                        match q.as_slice() {
                            [] => None,
                            [both] => Some((*both, *both)),
                            [open, close] => Some((*open, *close)),
                            _ => return Err("the quote must be one or two characters".into()),
                        }
                    }
                };
                Ok(Layout {
                    fields: columns,
                    parser: Parser::Split {
                        delimiter,
                        escape,
                        quote,
                    },
                })
            }
        }
    }
}

/// The fields a call returns and how it finds them.
struct Layout {
    fields: Fields,
    parser: Parser,
}

enum Parser {
    /// One field per capture group; no match gives NULL fields.
    Groups(Regex),
    /// REGEX_LOG_PARSE: the same with Java's constructs.
    Java(fancy_regex::Regex),
    /// FAST_REGEX_LOG_PARSE: no match is an error of the row.
    Fast(FastRegex),
    /// SYS_LOG_PARSE: the timestamp's pattern.
    SysLog(Pattern),
    Fixed(Vec<FixedColumn>),
    Split {
        delimiter: String,
        escape: Option<char>,
        quote: Option<(char, char)>,
    },
}

/// The most columns a call may ask for by number: each is a field of every row's struct, and a
/// huge count is a typo (or an attack), not a log format.
const MAX_COLUMNS: usize = 10_000;

fn varchar_columns(n: usize) -> Fields {
    (1..=n)
        .map(|i| Field::new(format!("COLUMN{i}"), DataType::Utf8, true))
        .collect()
}

/// `'NAME TYPE type [NOT NULL], …'`: names fold to upper case unless quoted.
fn column_list(spec: &str) -> Result<Fields, String> {
    let mut fields = Vec::new();
    for part in split_top_level(spec) {
        let part = part.trim();
        let bad = || format!("the column {part:?} is not written NAME TYPE type");
        let (name, rest) = if let Some(r) = part.strip_prefix('"') {
            let end = r.find('"').ok_or_else(bad)?;
            (r[..end].to_string(), &r[end + 1..])
        } else {
            let end = part.find(char::is_whitespace).ok_or_else(bad)?;
            (part[..end].to_uppercase(), &part[end..])
        };
        let rest = rest.trim_start();
        let type_text = rest
            .get(..4)
            .filter(|t| t.eq_ignore_ascii_case("TYPE"))
            .map(|_| rest[4..].trim())
            .ok_or_else(bad)?;
        let type_text = type_text
            .strip_suffix("NOT NULL")
            .or_else(|| type_text.strip_suffix("not null"))
            .unwrap_or(type_text)
            .trim();
        let sql_type = SqlType::parse(type_text).map_err(|e| format!("the column {name}: {e}"))?;
        fields.push(Field::new(name, sql_type.arrow_type(), true));
    }
    if fields.is_empty() {
        return Err("the column list is empty".into());
    }
    Ok(fields.into())
}

/// Splits at commas outside parentheses (`DECIMAL(8,2)` stays whole).
fn split_top_level(spec: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    let mut quoted = false;
    for (i, c) in spec.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// A column name at the start of `part` (quoted: as written; else upper case) and the rest.
fn column_name(part: &str) -> Option<(String, &str)> {
    if let Some(r) = part.strip_prefix('"') {
        let end = r.find('"')?;
        return Some((r[..end].to_string(), &r[end + 1..]));
    }
    let end = part.find(char::is_whitespace).unwrap_or(part.len());
    (end > 0).then(|| (part[..end].to_uppercase(), &part[end..]))
}

/// REGEX_LOG_PARSE's column list: `'NAME [[TYPE] type], …'`; a column without a type is
/// VARCHAR.
fn regex_columns(spec: &str) -> Result<Fields, String> {
    let mut fields = Vec::new();
    for part in split_top_level(spec) {
        let part = part.trim();
        let (name, rest) =
            column_name(part).ok_or_else(|| format!("the column {part:?} has no name"))?;
        let rest = rest.trim();
        let rest = match rest.get(..5) {
            Some(t) if t.eq_ignore_ascii_case("TYPE ") => rest[5..].trim(),
            _ => rest,
        };
        let data_type = if rest.is_empty() {
            DataType::Utf8
        } else {
            SqlType::parse(rest)
                .map_err(|e| format!("the column {name}: {e}"))?
                .arrow_type()
        };
        fields.push(Field::new(name, data_type, true));
    }
    if fields.is_empty() {
        return Err("the column list is empty".into());
    }
    Ok(fields.into())
}

/// A field of FIXED_COLUMN_LOG_PARSE.
struct FixedColumn {
    start: usize,
    len: Option<usize>,
    /// Text columns keep their blanks; other values are trimmed before they convert.
    text: bool,
    /// The DATE, TIME or TIMESTAMP pattern, and which of the three.
    format: Option<(Pattern, SqlType)>,
}

/// `'name [TYPE type ['format']] [NOT NULL] START n [FOR m], …'`.
fn fixed_columns(spec: &str) -> Result<(Fields, Vec<FixedColumn>), String> {
    let shape = Regex::new(
        r"(?is)^(?:TYPE\s+(?P<type>.+?))?\s*(?:'(?P<format>(?:[^']|'')*)')?\s*(?P<not_null>NOT\s+NULL\s+)?START\s+(?P<start>\d+)(?:\s+FOR\s+(?P<for>\d+))?$",
    )
    .expect("a valid regex");
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for part in split_top_level(spec) {
        let part = part.trim();
        let bad = || {
            format!(
                "the column {part:?} is not written NAME [TYPE type ['format']] [NOT NULL] START n [FOR m]"
            )
        };
        let (name, rest) = column_name(part).ok_or_else(bad)?;
        let caps = shape.captures(rest.trim()).ok_or_else(bad)?;
        let sql_type = match caps.name("type") {
            Some(t) => {
                SqlType::parse(t.as_str().trim()).map_err(|e| format!("the column {name}: {e}"))?
            }
            None => SqlType::Varchar(None),
        };
        let number = |g: &str| {
            caps.name(g)
                .map(|m| m.as_str().parse::<usize>().map_err(|_| bad()))
                .transpose()
        };
        let format = match caps.name("format") {
            None => None,
            Some(f) => {
                if !matches!(sql_type, SqlType::Date | SqlType::Time | SqlType::Timestamp) {
                    return Err(format!(
                        "the column {name}: a format is for DATE, TIME and TIMESTAMP, not {sql_type}"
                    ));
                }
                let pattern = Pattern::parse(&f.as_str().replace("''", "'"))
                    .map_err(|e| format!("the column {name}: {e}"))?;
                Some((pattern, sql_type))
            }
        };
        columns.push(FixedColumn {
            start: number("start")?.expect("START is required"),
            len: number("for")?,
            text: matches!(sql_type, SqlType::Char(_) | SqlType::Varchar(_)),
            format,
        });
        fields.push(Field::new(name, sql_type.arrow_type(), true));
    }
    if fields.is_empty() {
        return Err("the column list is empty".into());
    }
    Ok((fields.into(), columns))
}

/// FIXED_COLUMN_LOG_PARSE's fields of one line, as text ready to convert.
fn fixed_fields(line: &str, columns: &[FixedColumn]) -> Result<Vec<Option<String>>, String> {
    let chars: Vec<char> = line.chars().collect();
    columns
        .iter()
        .map(|c| {
            if c.start >= chars.len() {
                return Ok(None);
            }
            let end = c
                .len
                .map_or(chars.len(), |n| (c.start + n).min(chars.len()));
            let value: String = chars[c.start..end].iter().collect();
            let value = if c.text {
                value
            } else {
                value.trim().to_string()
            };
            match &c.format {
                None => Ok(Some(value)),
                Some((pattern, kind)) => {
                    let ms = pattern
                        .read(&value)
                        .map_err(|e| format!("{value:?} does not fit its format: {e}"))?;
                    let text = crate::time::timestamp_text(ms);
                    Ok(Some(match kind {
                        SqlType::Date => text[..10].to_string(),
                        SqlType::Time => text[11..].to_string(),
                        _ => text,
                    }))
                }
            }
        })
        .collect()
}

/// SYS_LOG_PARSE's two fields, or None for a line that does not start with a syslog timestamp.
fn sys_log_fields(line: &str, pattern: &Pattern) -> Option<Vec<Option<String>>> {
    let (cut, _) = line.char_indices().nth(15)?;
    let rest = line[cut..].strip_prefix(' ')?;
    let stamp = &line[..cut];
    if !stamp.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let ms = pattern.read(stamp).ok()?;
    Some(vec![
        Some(crate::time::timestamp_text(ms)),
        Some(rest.to_string()),
    ])
}

/// The regex of a W3C (Apache `LogFormat`) format: a capture group per `%` directive.
fn w3c_regex(format: &str) -> Result<Regex, String> {
    let apache = match format.trim().to_uppercase().as_str() {
        "COMMON" => r#"%h %l %u %t "%r" %>s %b"#.to_string(),
        "COMMON WITH VHOST" => r#"%v %h %l %u %t "%r" %>s %b"#.to_string(),
        "NCSA EXTENDED" | "COMBINED" => {
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#.to_string()
        }
        "REFERER" => "%{Referer}i -> %U".to_string(),
        "AGENT" => "%{User-agent}i".to_string(),
        "IIS" => {
            return Err(
                "the IIS format is not supported yet; give its Apache LogFormat string".into(),
            );
        }
        _ => format.to_string(),
    };
    let chars: Vec<char> = apache.chars().collect();
    let mut out = String::from("^");
    let mut i = 0;
    let mut directives = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push_str(&regex::escape(&c.to_string()));
            i += 1;
            continue;
        }
        // %[<>]?({…})?letter, or %% for a percent sign.
        let mut j = i + 1;
        if chars.get(j) == Some(&'%') {
            out.push('%');
            i = j + 1;
            continue;
        }
        while matches!(chars.get(j), Some('<' | '>' | '!' | ',' | '0'..='9')) {
            j += 1;
        }
        if chars.get(j) == Some(&'{') {
            while j < chars.len() && chars[j] != '}' {
                j += 1;
            }
            j += 1;
        }
        let Some(&letter) = chars.get(j) else {
            return Err(format!("the format {format:?} ends inside a % directive"));
        };
        if !letter.is_ascii_alphabetic() {
            return Err(format!(
                "the format {format:?} has a bad % directive before {letter:?}"
            ));
        }
        let quoted = i > 0 && chars[i - 1] == '"' && chars.get(j + 1) == Some(&'"');
        out.push_str(match (letter, quoted) {
            (_, true) => r#"((?:[^"\\]|\\.)*)"#,
            ('t', false) => r"(\[[^\]]*\])",
            _ => r"(\S*)",
        });
        directives += 1;
        i = j + 1;
    }
    if directives == 0 {
        return Err(format!("the format {format:?} has no % directive"));
    }
    Regex::new(&out).map_err(|e| format!("the format {format:?} cannot be read: {e}"))
}

/// The start of a long text, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Splits one line into at most `n` fields.
fn split_fields(
    line: &str,
    delimiter: &str,
    escape: Option<char>,
    quote: Option<(char, char)>,
    n: usize,
) -> Vec<String> {
    let mut fields = Vec::with_capacity(n);
    let mut field = String::new();
    let mut rest = line;
    let mut in_quote = false;
    while fields.len() < n {
        let Some(c) = rest.chars().next() else {
            fields.push(std::mem::take(&mut field));
            break;
        };
        if let Some((open, close)) = quote {
            if in_quote && c == close {
                in_quote = false;
                rest = &rest[c.len_utf8()..];
                continue;
            }
            if !in_quote && c == open && field.is_empty() {
                in_quote = true;
                rest = &rest[c.len_utf8()..];
                continue;
            }
        }
        if Some(c) == escape {
            let after = &rest[c.len_utf8()..];
            if let Some(r) = after.strip_prefix(delimiter) {
                field.push_str(delimiter);
                rest = r;
                continue;
            }
        }
        if !in_quote && let Some(r) = rest.strip_prefix(delimiter) {
            fields.push(std::mem::take(&mut field));
            rest = r;
            continue;
        }
        field.push(c);
        rest = &rest[c.len_utf8()..];
    }
    fields
}

impl ScalarUDFImpl for LogParse {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        plan_err!(
            "{} decides its fields from its literal arguments",
            self.upper()
        )
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> datafusion::error::Result<FieldRef> {
        match self.layout(args.scalar_arguments) {
            Ok(layout) => Ok(Arc::new(Field::new(
                self.name,
                DataType::Struct(layout.fields),
                true,
            ))),
            Err(why) => plan_err!("{}: {why}", self.upper()),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let n = args.number_rows;
        let literals: Vec<Option<ScalarValue>> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(v) => Some(v.clone()),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let refs: Vec<Option<&ScalarValue>> = literals.iter().map(Option::as_ref).collect();
        let layout = self
            .layout(&refs)
            .map_err(|why| DataFusionError::Execution(format!("{}: {why}", self.upper())))?;
        let text = cast(&args.args[0].to_array(n)?, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let width = layout.fields.len();
        let mut columns: Vec<StringBuilder> = (0..width).map(|_| StringBuilder::new()).collect();
        let mut valid = Vec::with_capacity(n);
        let row_error =
            |why: String| DataFusionError::Execution(format!("{}: {why}", self.upper()));
        for row in 0..n {
            let parsed: Option<Vec<Option<String>>> = if text.is_null(row) {
                None
            } else {
                let line = text.value(row);
                match &layout.parser {
                    Parser::Groups(regex) => regex.captures(line).map(|caps| {
                        (1..=width)
                            .map(|g| caps.get(g).map(|m| m.as_str().to_string()))
                            .collect()
                    }),
                    Parser::Java(regex) => regex
                        .captures(line)
                        .map_err(|e| row_error(format!("the pattern could not be matched: {e}")))?
                        .map(|caps| {
                            (1..=width)
                                .map(|g| caps.get(g).map(|m| m.as_str().to_string()))
                                .collect()
                        }),
                    Parser::Fast(regex) => match regex.parse(line).map_err(&row_error)? {
                        Some(fields) => Some(fields.into_iter().map(Some).collect()),
                        None => {
                            return Err(row_error(format!(
                                "the pattern does not account for all of {:?}",
                                clip(line)
                            )));
                        }
                    },
                    Parser::SysLog(pattern) => sys_log_fields(line, pattern),
                    Parser::Fixed(columns) => {
                        Some(fixed_fields(line, columns).map_err(&row_error)?)
                    }
                    Parser::Split {
                        delimiter,
                        escape,
                        quote,
                    } => {
                        let mut fields: Vec<Option<String>> =
                            split_fields(line, delimiter, *escape, *quote, width)
                                .into_iter()
                                .map(Some)
                                .collect();
                        fields.resize(width, None);
                        Some(fields)
                    }
                }
            };
            valid.push(parsed.is_some());
            let values = parsed.unwrap_or_else(|| vec![None; width]);
            for (builder, value) in columns.iter_mut().zip(values) {
                builder.append_option(value);
            }
        }
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(width);
        for (builder, field) in columns.iter_mut().zip(layout.fields.iter()) {
            let strings: ArrayRef = Arc::new(builder.finish());
            let array = if field.data_type() == &DataType::Utf8 {
                strings
            } else {
                cast_with_options(&strings, field.data_type(), &options).map_err(|e| {
                    let sql_type = SqlType::from_arrow(field.data_type())
                        .map_or_else(|| field.data_type().to_string(), |t| t.to_string());
                    let why = e.to_string();
                    let why = why.strip_prefix("Cast error: ").unwrap_or(&why);
                    DataFusionError::Execution(format!(
                        "{}: the field {} ({sql_type}): {why}",
                        self.upper(),
                        field.name(),
                    ))
                })?
            };
            arrays.push(array);
        }
        let nulls = if valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(valid))
        };
        let result = StructArray::try_new(layout.fields.clone(), arrays, nulls)?;
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(regex: &Regex, line: &str) -> Option<Vec<String>> {
        regex.captures(line).map(|c| {
            (1..c.len())
                .map(|g| c.get(g).map_or(String::new(), |m| m.as_str().to_string()))
                .collect()
        })
    }

    #[test]
    fn w3c_common_keeps_the_brackets_and_drops_the_quotes() {
        let r = w3c_regex("COMMON").unwrap();
        let line = r#"192.168.254.30 - John [24/May/2004:22:01:02 -0700] "GET /icons/apache_pb.gif HTTP/1.1" 304 0"#;
        assert_eq!(
            groups(&r, line).unwrap(),
            [
                "192.168.254.30",
                "-",
                "John",
                "[24/May/2004:22:01:02 -0700]",
                "GET /icons/apache_pb.gif HTTP/1.1",
                "304",
                "0"
            ]
        );
        assert!(groups(&r, "not a log line").is_none());
        let combined = w3c_regex("NCSA EXTENDED").unwrap();
        let line = format!(r#"{line} "http://x/\"q\"" "Mozilla/5.0 (X11)""#);
        let g = groups(&combined, &line).unwrap();
        assert_eq!(g.len(), 9);
        assert_eq!(g[7], r#"http://x/\"q\""#);
        assert_eq!(g[8], "Mozilla/5.0 (X11)");
        assert!(
            w3c_regex("no directives")
                .unwrap_err()
                .contains("no % directive")
        );
    }

    #[test]
    fn variable_columns_split_with_escapes_and_quotes() {
        assert_eq!(split_fields("x,y,z", ",", None, None, 3), ["x", "y", "z"]);
        assert_eq!(split_fields("x,y,z,w", ",", None, None, 3), ["x", "y", "z"]);
        assert_eq!(split_fields("x", ",", None, None, 3), ["x"]);
        assert_eq!(
            split_fields(r"a\,b,c", ",", Some('\\'), None, 2),
            ["a,b", "c"]
        );
        assert_eq!(
            split_fields("'a,b',c", ",", None, Some(('\'', '\'')), 2),
            ["a,b", "c"]
        );
        assert_eq!(
            split_fields("[a|b]||c", "||", None, Some(('[', ']')), 2),
            ["a|b", "c"]
        );
        assert_eq!(split_fields("a\tb", "\t", None, None, 2), ["a", "b"]);
    }

    #[test]
    fn a_column_count_past_the_limit_is_an_error_not_a_huge_allocation() {
        let parse = LogParse {
            name: "variable_column_log_parse",
            kind: Kind::VariableColumn,
            signature: Signature::any(3, Volatility::Immutable),
        };
        let layout = |n: i64| {
            let args = [
                ScalarValue::Utf8(None),
                ScalarValue::Int64(Some(n)),
                ScalarValue::Utf8(Some(",".into())),
            ];
            let refs: Vec<_> = args.iter().map(Some).collect();
            parse.layout(&refs).map(|l| l.fields.len())
        };
        assert_eq!(layout(MAX_COLUMNS as i64), Ok(MAX_COLUMNS));
        for n in [0, -1, MAX_COLUMNS as i64 + 1, 33_333_333_333_333_333] {
            assert_eq!(
                layout(n).unwrap_err(),
                "the number of columns must be 1 to 10000"
            );
        }
    }

    #[test]
    fn column_lists_name_and_type_the_fields() {
        let f = column_list(
            r#"COL_1 TYPE VARCHAR(16), "mixed" TYPE DECIMAL(8,2) NOT NULL, n type integer"#,
        )
        .unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["COL_1", "mixed", "N"]);
        assert_eq!(f[1].data_type(), &DataType::Decimal128(8, 2));
        assert_eq!(f[2].data_type(), &DataType::Int32);
        assert!(
            column_list("COL_1 VARCHAR(16)")
                .unwrap_err()
                .contains("NAME TYPE type")
        );
    }
}
