//! KDA's log-parsing functions (KDA SQL reference, "Log Parsing Functions"). Each returns a
//! row (an Arrow struct) whose fields are read as `t.r.COLUMN1`, `t.r."COL_1"`, … after the call
//! is named in a subquery (`… AS r FROM s) AS t`, or `AS t(r)`):
//!
//! - `REGEX_LOG_PARSE(text, 'regex')`: one `COLUMNn` per capture group when the whole text matches
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
//! Fields are VARCHAR unless the column list says otherwise; the format arguments must be
//! literals, since they decide the fields. Not yet supported: `FAST_REGEX_LOG_PARSE` (its own
//! pattern language, without backtracking), `FIXED_COLUMN_LOG_PARSE`, `SYS_LOG_PARSE`.

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

use crate::types::SqlType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Regex,
    W3c,
    VariableColumn,
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
            ("regex_log_parse", Kind::Regex, any(&[2])),
            ("w3c_log_parse", Kind::W3c, any(&[2])),
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
                let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    format!(
                        "the pattern {pattern:?} is not supported: {}",
                        e.to_string().lines().last().unwrap_or_default()
                    )
                })?;
                let fields = varchar_columns(regex.captures_len() - 1);
                Ok(Layout {
                    fields,
                    parser: Parser::Groups(regex),
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
    for (i, c) in spec.char_indices() {
        match c {
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
