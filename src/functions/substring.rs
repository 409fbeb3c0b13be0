//! KDA's `SUBSTRING` forms that differ from DataFusion's (KDA SQL reference `sql-reference-substring.html`;
//! EX-33). `SUBSTRING(s FROM p [FOR n])` with a number is DataFusion's own; the planner rewrites
//! the others into these functions:
//!
//! - `SUBSTRING(s, p [, n])` (the comma form) → `kda_substring_comma`: as the `FROM` form, but a
//!   start past the end gives NULL instead of `''`;
//! - `SUBSTRING(s FROM 'regex')` → `kda_substring_regex`: the first match, or NULL;
//! - `SUBSTRING(s SIMILAR 'a<e>"b<e>"c' ESCAPE '<e>')` → `kda_substring_similar`: at the first
//!   place in `s` where the SQL pattern `abc` matches, the part that `b` matched; else NULL. (KDA
//!   searches: the documented `SUBSTRING('123456789' SIMILAR '23#"456#"78' ESCAPE '#')` is `456`.)
//!
//! On `BINARY` and `VARBINARY` values (SQLREF data types: "SUBSTRING works on BINARY") the
//! `FROM … FOR` and comma forms count bytes and return bytes: [`SubstrBytes`] takes DataFusion's
//! `substr` over and handles binary values itself.
//!
//! Positions count characters. A pattern the regex engine does not take, or a SIMILAR pattern
//! without its two `<e>"` markers, is an error of the row, which goes to `error_stream`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BinaryBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Form {
    Comma,
    Regex,
    Similar,
}

/// One of the three forms.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Substring {
    name: &'static str,
    form: Form,
    signature: Signature,
}

pub const COMMA: &str = "kda_substring_comma";
pub const REGEX: &str = "kda_substring_regex";
pub const SIMILAR: &str = "kda_substring_similar";

impl Substring {
    pub fn all() -> Vec<ScalarUDF> {
        let any = |counts: &[usize]| {
            Signature::one_of(
                counts.iter().map(|n| TypeSignature::Any(*n)).collect(),
                Volatility::Immutable,
            )
        };
        [
            (COMMA, Form::Comma, any(&[2, 3])),
            (REGEX, Form::Regex, any(&[2])),
            (SIMILAR, Form::Similar, any(&[3])),
        ]
        .into_iter()
        .map(|(name, form, signature)| {
            ScalarUDF::new_from_impl(Substring {
                name,
                form,
                signature,
            })
        })
        .collect()
    }
}

/// DataFusion's `substr` (the `SUBSTRING(s FROM p [FOR n])` form), with binary values too.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SubstrBytes {
    inner: Arc<ScalarUDF>,
    /// Its own coercion (`coerce_types`): DataFusion's takes text only.
    signature: Signature,
}

impl SubstrBytes {
    /// Takes over `substr` among `functions`.
    pub fn all(functions: &[Arc<ScalarUDF>]) -> Vec<ScalarUDF> {
        super::wrapping(functions, "substr", |inner| SubstrBytes {
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        })
        .into_iter()
        .collect()
    }
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// Bytes `p` to `p + n - 1` (1-based) of `b`, as SQL's SUBSTRING: a start before 1 shortens the
/// part, a start past the end gives no bytes, or None for the comma form (`null_past_end`).
fn byte_range(
    len: usize,
    p: i64,
    n: Option<i64>,
    null_past_end: bool,
) -> Result<Option<std::ops::Range<usize>>, String> {
    if let Some(n) = n
        && n < 0
    {
        return Err(format!("the length is {n}; it must be 0 or more"));
    }
    let len = len as i64;
    if p > len {
        return Ok((!null_past_end).then_some(0..0));
    }
    let from = p.max(1);
    let to = match n {
        Some(n) => p.saturating_add(n).min(len + 1),
        None => len + 1,
    };
    let to = to.max(from);
    Ok(Some((from - 1) as usize..(to - 1) as usize))
}

/// SUBSTRING of binary values: `args` are the value, the start and maybe the length.
fn binary_substring(
    args: &ScalarFunctionArgs,
    null_past_end: bool,
) -> datafusion::error::Result<ColumnarValue> {
    let n = args.number_rows;
    let as_type = |i: usize, t: &DataType| -> datafusion::error::Result<_> {
        Ok(cast(&args.args[i].to_array(n)?, t)?)
    };
    let bytes = as_type(0, &DataType::Binary)?;
    let bytes = bytes.as_binary::<i32>();
    let start = as_type(1, &DataType::Int64)?;
    let start = start.as_primitive::<Int64Type>();
    let length = match args.args.len() {
        3 => Some(as_type(2, &DataType::Int64)?),
        _ => None,
    };
    let length = length.as_ref().map(|l| l.as_primitive::<Int64Type>());
    let mut out = BinaryBuilder::with_capacity(n, n * 8);
    for row in 0..n {
        if bytes.is_null(row) || start.is_null(row) || length.is_some_and(|l| l.is_null(row)) {
            out.append_null();
            continue;
        }
        let b = bytes.value(row);
        let len = length.map(|l| l.value(row));
        match byte_range(b.len(), start.value(row), len, null_past_end).map_err(error)? {
            Some(r) => out.append_value(&b[r]),
            None => out.append_null(),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

impl ScalarUDFImpl for SubstrBytes {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// A binary value stays binary, anything else is text; the start and length are BIGINT.
    fn coerce_types(&self, args: &[DataType]) -> datafusion::error::Result<Vec<DataType>> {
        if !(2..=3).contains(&args.len()) {
            return Err(error(format!("takes 2 or 3 arguments, not {}", args.len())));
        }
        let value = match &args[0] {
            t if is_binary(t) => DataType::Binary,
            t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => t.clone(),
            _ => DataType::Utf8,
        };
        Ok(std::iter::once(value)
            .chain(args[1..].iter().map(|_| DataType::Int64))
            .collect())
    }

    fn return_type(&self, args: &[DataType]) -> datafusion::error::Result<DataType> {
        match args.first() {
            Some(t) if is_binary(t) => Ok(DataType::Binary),
            _ => self.inner.return_type(args),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        if is_binary(&args.args[0].data_type()) {
            binary_substring(&args, false)
        } else {
            self.inner.invoke_with_args(args)
        }
    }
}

fn error(why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("SUBSTRING: {why}"))
}

/// Characters `p` to `p + n - 1` (1-based) of `s`, or to the end; NULL when `p` is past the end.
fn comma_form(s: &str, p: i64, n: Option<i64>) -> Result<Option<String>, String> {
    if let Some(n) = n
        && n < 0
    {
        return Err(format!("the length is {n}; it must be 0 or more"));
    }
    let chars = s.chars().count() as i64;
    if p > chars {
        return Ok(None);
    }
    let from = p.max(1);
    let to = match n {
        Some(n) => p.saturating_add(n).min(chars + 1),
        None => chars + 1,
    };
    Ok(Some(
        s.chars()
            .skip(from as usize - 1)
            .take((to - from).max(0) as usize)
            .collect(),
    ))
}

/// The regex of a `SIMILAR … ESCAPE` pattern: its middle part as group 1.
fn similar_regex(pattern: &str, escape: &str) -> Result<Regex, String> {
    let mut escape_chars = escape.chars();
    let (Some(e), None) = (escape_chars.next(), escape_chars.next()) else {
        return Err(format!("the ESCAPE {escape:?} must be one character"));
    };
    let marker = format!("{e}\"");
    let parts: Vec<&str> = pattern.split(marker.as_str()).collect();
    let [before, middle, after] = parts.as_slice() else {
        return Err(format!(
            "the SIMILAR pattern {pattern:?} needs two {marker:?} markers around the part to return"
        ));
    };
    let body = |p: &str| crate::functions::similar_body(p, Some(e));
    Regex::new(&format!(
        "(?:{})({})(?:{})",
        body(before),
        body(middle),
        body(after)
    ))
    .map_err(|e| format!("the SIMILAR pattern {pattern:?} is not supported: {e}"))
}

impl ScalarUDFImpl for Substring {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> datafusion::error::Result<DataType> {
        match args.first() {
            Some(t) if self.form == Form::Comma && is_binary(t) => Ok(DataType::Binary),
            _ => Ok(DataType::Utf8),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        if self.form == Form::Comma && is_binary(&args.args[0].data_type()) {
            return binary_substring(&args, true);
        }
        let n = args.number_rows;
        let as_type = |i: usize, t: &DataType| -> datafusion::error::Result<_> {
            Ok(cast(&args.args[i].to_array(n)?, t)?)
        };
        let text = as_type(0, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(n, n * 16);
        match self.form {
            Form::Comma => {
                let start = as_type(1, &DataType::Int64)?;
                let start = start.as_primitive::<Int64Type>();
                let length = match args.args.len() {
                    3 => Some(as_type(2, &DataType::Int64)?),
                    _ => None,
                };
                let length = length.as_ref().map(|l| l.as_primitive::<Int64Type>());
                for row in 0..n {
                    if text.is_null(row)
                        || start.is_null(row)
                        || length.is_some_and(|l| l.is_null(row))
                    {
                        out.append_null();
                        continue;
                    }
                    let len = length.map(|l| l.value(row));
                    match comma_form(text.value(row), start.value(row), len).map_err(error)? {
                        Some(v) => out.append_value(v),
                        None => out.append_null(),
                    }
                }
            }
            Form::Regex | Form::Similar => {
                let pattern = as_type(1, &DataType::Utf8)?;
                let pattern = pattern.as_string::<i32>();
                let escape = match self.form {
                    Form::Similar => Some(as_type(2, &DataType::Utf8)?),
                    _ => None,
                };
                let escape = escape.as_ref().map(|e| e.as_string::<i32>());
                let mut compiled: Option<(String, String, Regex)> = None;
                for row in 0..n {
                    if text.is_null(row)
                        || pattern.is_null(row)
                        || escape.is_some_and(|e| e.is_null(row))
                    {
                        out.append_null();
                        continue;
                    }
                    let (p, e) = (pattern.value(row), escape.map_or("", |e| e.value(row)));
                    if compiled
                        .as_ref()
                        .is_none_or(|(cp, ce, _)| cp != p || ce != e)
                    {
                        let regex = match self.form {
                            Form::Similar => similar_regex(p, e),
                            _ => Regex::new(p).map_err(|why| {
                                format!("the pattern {p:?} is not supported: {why}")
                            }),
                        }
                        .map_err(error)?;
                        compiled = Some((p.to_string(), e.to_string(), regex));
                    }
                    let regex = &compiled.as_ref().expect("compiled above").2;
                    let found = match self.form {
                        Form::Similar => regex
                            .captures(text.value(row))
                            .and_then(|c| c.get(1))
                            .map(|m| m.as_str()),
                        _ => regex.find(text.value(row)).map(|m| m.as_str()),
                    };
                    match found {
                        Some(v) => out.append_value(v),
                        None => out.append_null(),
                    }
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_ranges_count_bytes() {
        // X'0102030405': FROM 2 FOR 2 is bytes 2..3; FROM 0 FOR 2 is byte 1 only; past the end
        // is empty (FROM) or NULL (comma form).
        assert_eq!(byte_range(5, 2, Some(2), false), Ok(Some(1..3)));
        assert_eq!(byte_range(5, 0, Some(2), false), Ok(Some(0..1)));
        assert_eq!(byte_range(5, 4, None, true), Ok(Some(3..5)));
        assert_eq!(byte_range(5, 6, None, false), Ok(Some(0..0)));
        assert_eq!(byte_range(5, 6, None, true), Ok(None));
        assert!(byte_range(5, 1, Some(-1), false).is_err());
    }

    #[test]
    fn the_comma_form_is_null_past_the_end() {
        assert_eq!(comma_form("123456789", 3, Some(4)), Ok(Some("3456".into())));
        assert_eq!(comma_form("123456789", 7, Some(4)), Ok(Some("789".into())));
        assert_eq!(comma_form("123456789", 10, Some(4)), Ok(None));
        assert_eq!(comma_form("123456789", -1, Some(4)), Ok(Some("12".into())));
        assert_eq!(comma_form("ñandú", 2, None), Ok(Some("andú".into())));
        assert!(comma_form("abc", 1, Some(-1)).unwrap_err().contains("-1"));
    }

    #[test]
    fn similar_patterns_return_their_middle_part() {
        let r = similar_regex("23#\"456#\"78", "#").unwrap();
        assert_eq!(&r.captures("123456789").unwrap()[1], "456");
        assert!(r.captures("1234567").is_none());
        let r = similar_regex("2_#\"4_6#\"7", "#").unwrap();
        assert_eq!(&r.captures("123456789").unwrap()[1], "456");
        let r = similar_regex("a#%#\"b#\"", "#").unwrap();
        assert_eq!(&r.captures("a%b").unwrap()[1], "b");
        assert!(
            similar_regex("ab", "#")
                .unwrap_err()
                .contains("two \"#\\\"\" markers")
        );
        assert!(
            similar_regex("a#\"b#\"c", "##")
                .unwrap_err()
                .contains("one character")
        );
    }
}
