//! `x [NOT] LIKE pattern [ESCAPE 'c']` as SQL:2008 and KDA define it (SQLREF
//! sql-reference-string-operators.html): `_` is any one character and `%` any text. There is no
//! escape character unless `ESCAPE` names one (DataFusion's LIKE takes a backslash by default,
//! so `'a\b' LIKE 'a\b'` was false); with one, it must be followed by `_`, `%` or itself, and
//! anything else, or the escape character at the end of the pattern, is an "invalid escape
//! sequence": an error of the row, which goes to `error_stream`. The planner rewrites every
//! `LIKE` into [`NAME`] (`functions/mod.rs`); a literal pattern is compiled once a batch, a
//! column of patterns once for each run of equal values.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use regex::Regex;

/// The function `x LIKE p [ESCAPE e]` becomes: `kda_like(x, p [, e])`.
pub const NAME: &str = "kda_like";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Like {
    signature: Signature,
}

impl Like {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Like {
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Immutable,
            ),
        })
    }
}

/// A LIKE pattern as an anchored regex; an error for an invalid escape sequence.
pub fn like_regex(pattern: &str, escape: Option<char>) -> std::result::Result<Regex, String> {
    let mut out = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            _ if Some(c) == escape => match chars.next() {
                Some(n) if n == '_' || n == '%' || Some(n) == escape => {
                    out.push_str(&regex::escape(&n.to_string()));
                }
                Some(n) => {
                    return Err(format!(
                        "invalid escape sequence in LIKE pattern {pattern:?}: {c}{n} (the escape character may precede only _, % or itself)"
                    ));
                }
                None => {
                    return Err(format!(
                        "invalid escape sequence in LIKE pattern {pattern:?}: it ends with the escape character {c}"
                    ));
                }
            },
            '_' => out.push('.'),
            '%' => out.push_str(".*"),
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    Regex::new(&out).map_err(|e| e.to_string())
}

impl ScalarUDFImpl for Like {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        // Each argument as text; a literal (the usual pattern and escape) as one value for every
        // row, so its regex is compiled once for the batch.
        let text = |i: usize| -> Result<(ArrayRef, bool)> {
            Ok(match &args.args[i] {
                ColumnarValue::Scalar(v) => (cast(&v.to_array_of_size(1)?, &DataType::Utf8)?, true),
                ColumnarValue::Array(a) => (cast(a, &DataType::Utf8)?, false),
            })
        };
        let at = |literal: bool, row: usize| if literal { 0 } else { row };
        let (values, values_literal) = text(0)?;
        let values = values.as_string::<i32>();
        let (patterns, pattern_literal) = text(1)?;
        let patterns = patterns.as_string::<i32>();
        let escapes = match args.args.len() {
            3 => Some(text(2)?),
            _ => None,
        };
        let escape_literal = escapes.as_ref().is_none_or(|(_, literal)| *literal);
        let escapes = escapes.as_ref().map(|(e, _)| e.as_string::<i32>());
        let mut out = BooleanBuilder::with_capacity(n);
        let mut compiled: Option<(String, Option<String>, Regex)> = None;
        for row in 0..n {
            let (v, p, e) = (
                at(values_literal, row),
                at(pattern_literal, row),
                at(escape_literal, row),
            );
            if values.is_null(v) || patterns.is_null(p) || escapes.is_some_and(|x| x.is_null(e)) {
                out.append_null();
                continue;
            }
            let stale = match &compiled {
                None => true,
                Some(_) if pattern_literal && escape_literal => false,
                Some((pattern, escape, _)) => {
                    pattern != patterns.value(p) || escape.as_deref() != escapes.map(|x| x.value(e))
                }
            };
            if stale {
                let escape = match escapes.map(|x| x.value(e)) {
                    None => None,
                    Some(text) => {
                        let mut chars = text.chars();
                        match (chars.next(), chars.next()) {
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(DataFusionError::Execution(format!(
                                    "LIKE … ESCAPE {text:?}: the escape is one character"
                                )));
                            }
                        }
                    }
                };
                let pattern = patterns.value(p);
                let regex = like_regex(pattern, escape).map_err(DataFusionError::Execution)?;
                compiled = Some((
                    pattern.to_string(),
                    escapes.map(|x| x.value(e).to_string()),
                    regex,
                ));
            }
            let (_, _, regex) = compiled.as_ref().expect("compiled");
            out.append_value(regex.is_match(values.value(v)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::like_regex;

    #[test]
    fn no_escape_unless_named_and_bad_sequences_fail() {
        let m = |p: &str, e: Option<char>, s: &str| like_regex(p, e).unwrap().is_match(s);
        assert!(m("a\\b", None, "a\\b"));
        assert!(!m("a\\_", None, "a_") && m("a\\_", None, "a\\x"));
        assert!(m("a\\_", Some('\\'), "a_") && !m("a\\_", Some('\\'), "ab"));
        assert!(m("a\\\\", Some('\\'), "a\\"));
        assert!(m("100#%", Some('#'), "100%") && !m("100#%", Some('#'), "1000"));
        assert!(m("a.c%", None, "a.cd") && !m("a.c", None, "abc"));
        assert!(m("a%", None, "a\nb"));
        assert!(
            like_regex("a\\b", Some('\\'))
                .unwrap_err()
                .contains("invalid escape sequence")
        );
        assert!(
            like_regex("a\\", Some('\\'))
                .unwrap_err()
                .contains("ends with the escape")
        );
    }
}
