//! `REGEX_REPLACE(original, regex, replacement, startPosition, occurrence)`, KDA's regular
//! expression replacement (KDA SQL reference `sql-reference-regex-replace.html`):
//!
//! - the search starts at character `startPosition` (1 is the first); text before it is kept,
//!   and a start past the end gives the original text;
//! - `occurrence` 0 replaces every match, `n` replaces only the n-th match from the start;
//! - the replacement is written as in Java's `String.replaceAll`: `$1` or `${name}` insert a
//!   group, `\$` and `\\` are a literal `$` and `\`;
//! - any NULL argument gives NULL; a `startPosition` below 1, a negative `occurrence`, a pattern
//!   the regex engine does not take (look-around and back-references, which Java has) or a
//!   replacement naming a missing group is an error of the row, which goes to `error_stream`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};
use regex::Regex;

/// The SQL function.
pub struct RegexReplace;

impl RegexReplace {
    pub const NAME: &str = "regex_replace";

    pub fn udf() -> ScalarUDF {
        crate::functions::KdaScalar::udf(
            RegexReplace::NAME,
            Signature::any(5, Volatility::Immutable),
            DataType::Utf8,
            RegexReplace::invoke,
        )
    }

    fn invoke(args: &ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let n = args.number_rows;
        if args.args.len() != 5 {
            return exec_err!(
                "REGEX_REPLACE takes five arguments: original, regex, replacement, startPosition, occurrence"
            );
        }
        let text = |i: usize| -> datafusion::error::Result<_> {
            Ok(cast(&args.args[i].to_array(n)?, &DataType::Utf8)?)
        };
        let number = |i: usize| -> datafusion::error::Result<_> {
            Ok(cast(&args.args[i].to_array(n)?, &DataType::Int64)?)
        };
        let (original, pattern, replacement) = (text(0)?, text(1)?, text(2)?);
        let (original, pattern, replacement) = (
            original.as_string::<i32>(),
            pattern.as_string::<i32>(),
            replacement.as_string::<i32>(),
        );
        let (start, occurrence) = (number(3)?, number(4)?);
        let (start, occurrence) = (
            start.as_primitive::<Int64Type>(),
            occurrence.as_primitive::<Int64Type>(),
        );
        let mut out = StringBuilder::with_capacity(n, n * 32);
        let mut compiled: Option<Compiled> = None;
        for row in 0..n {
            if original.is_null(row)
                || pattern.is_null(row)
                || replacement.is_null(row)
                || start.is_null(row)
                || occurrence.is_null(row)
            {
                out.append_null();
                continue;
            }
            let (p, r) = (pattern.value(row), replacement.value(row));
            if compiled
                .as_ref()
                .is_none_or(|c| c.pattern != p || c.replacement != r)
            {
                compiled = Some(Compiled::new(p, r).map_err(error)?);
            }
            let c = compiled.as_ref().expect("compiled above");
            let replaced = replace(
                c,
                original.value(row),
                start.value(row),
                occurrence.value(row),
            )
            .map_err(error)?;
            out.append_value(replaced);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn error(why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("REGEX_REPLACE: {why}"))
}

/// A compiled pattern and a replacement in the regex crate's syntax.
struct Compiled {
    pattern: String,
    replacement: String,
    regex: Regex,
    expansion: String,
}

impl Compiled {
    fn new(pattern: &str, replacement: &str) -> Result<Compiled, String> {
        let regex = Regex::new(pattern).map_err(|e| {
            format!(
                "the pattern {pattern:?} is not supported: {}",
                e.to_string().lines().last().unwrap_or_default()
            )
        })?;
        let expansion = java_replacement(replacement, &regex)?;
        Ok(Compiled {
            pattern: pattern.to_string(),
            replacement: replacement.to_string(),
            regex,
            expansion,
        })
    }
}

/// Java's replacement syntax (`$1`, `${name}`, `\x`) in the regex crate's (`${1}`, `${name}`,
/// `$$`). Like Java, `$12` is group 12 only when the pattern has 12 groups, else group 1 then `2`.
fn java_replacement(replacement: &str, regex: &Regex) -> Result<String, String> {
    let groups = regex.captures_len() - 1;
    let mut out = String::with_capacity(replacement.len() + 8);
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {
                    return Err(format!(
                        "the replacement {replacement:?} ends with a lone \\; write \\\\ for a backslash"
                    ));
                }
            },
            '$' => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    if !regex.capture_names().any(|n| n == Some(name.as_str())) {
                        return Err(format!(
                            "the replacement {replacement:?} names the group {name:?}, which the pattern does not have"
                        ));
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d.to_digit(10).expect("a digit") as usize;
                    chars.next();
                    while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let longer = group * 10 + next as usize;
                        if longer > groups {
                            break;
                        }
                        group = longer;
                        chars.next();
                    }
                    if group > groups {
                        return Err(format!(
                            "the replacement {replacement:?} uses group {group}; the pattern has {groups}"
                        ));
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                _ => {
                    return Err(format!(
                        "the replacement {replacement:?} has a $ without a group; write \\$ for a dollar sign"
                    ));
                }
            },
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Replaces in `original` from character `start` (1-based) the `occurrence`-th match (0: all).
fn replace(c: &Compiled, original: &str, start: i64, occurrence: i64) -> Result<String, String> {
    if start < 1 {
        return Err(format!("startPosition is {start}; it must be 1 or more"));
    }
    if occurrence < 0 {
        return Err(format!(
            "occurrence is {occurrence}; it must be 0 (all) or more"
        ));
    }
    let Some((from, _)) = original.char_indices().nth(start as usize - 1) else {
        return Ok(original.to_string());
    };
    let (head, tail) = original.split_at(from);
    let mut out = String::with_capacity(original.len());
    out.push_str(head);
    if occurrence == 0 {
        out.push_str(&c.regex.replace_all(tail, c.expansion.as_str()));
    } else {
        match c.regex.captures_iter(tail).nth(occurrence as usize - 1) {
            Some(caps) => {
                let m = caps.get(0).expect("group 0 is the match");
                out.push_str(&tail[..m.start()]);
                caps.expand(&c.expansion, &mut out);
                out.push_str(&tail[m.end()..]);
            }
            None => out.push_str(tail),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        original: &str,
        pattern: &str,
        replacement: &str,
        start: i64,
        occurrence: i64,
    ) -> Result<String, String> {
        replace(
            &Compiled::new(pattern, replacement)?,
            original,
            start,
            occurrence,
        )
    }

    #[test]
    fn occurrence_zero_replaces_all_and_n_only_the_nth() {
        assert_eq!(
            run("http://a http://b", "http://", "https://", 1, 0).unwrap(),
            "https://a https://b"
        );
        assert_eq!(run("aXbXcX", "X", "-", 1, 2).unwrap(), "aXb-cX");
        assert_eq!(run("aXbXcX", "X", "-", 1, 4).unwrap(), "aXbXcX");
    }

    #[test]
    fn the_search_starts_at_the_start_position() {
        assert_eq!(run("XaXbX", "X", "-", 2, 0).unwrap(), "Xa-b-");
        assert_eq!(run("XaXbX", "X", "-", 3, 1).unwrap(), "Xa-bX");
        // Positions count characters, not bytes.
        assert_eq!(run("éXéX", "X", "-", 3, 0).unwrap(), "éXé-");
        // Past the end: the original.
        assert_eq!(run("abc", "a", "-", 4, 0).unwrap(), "abc");
    }

    #[test]
    fn java_replacements_groups_and_escapes() {
        assert_eq!(
            run("2024-01-31", r"(\d+)-(\d+)-(\d+)", "$3/$2/$1", 1, 0).unwrap(),
            "31/01/2024"
        );
        assert_eq!(
            run("ab", "(?<first>a)", "[${first}]", 1, 0).unwrap(),
            "[a]b"
        );
        assert_eq!(run("a", "(a)", "$10", 1, 0).unwrap(), "a0");
        assert_eq!(run("a", "a", r"\$1 \\", 1, 0).unwrap(), r"$1 \");
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert_eq!(
            run("a", "a", "b", 0, 0).unwrap_err(),
            "startPosition is 0; it must be 1 or more"
        );
        assert_eq!(
            run("a", "a", "b", 1, -1).unwrap_err(),
            "occurrence is -1; it must be 0 (all) or more"
        );
        assert!(
            run("a", "(a)", "$2", 1, 0)
                .unwrap_err()
                .contains("uses group 2; the pattern has 1")
        );
        assert!(
            run("a", "a", "$x", 1, 0)
                .unwrap_err()
                .contains("write \\$ for a dollar sign")
        );
        assert!(
            run("a", "(?=a)", "b", 1, 0)
                .unwrap_err()
                .contains("is not supported")
        );
    }
}
