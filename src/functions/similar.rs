//! SQL `SIMILAR` patterns as regular expressions: `x SIMILAR TO 'pattern'` and KDA's
//! `SUBSTRING(s SIMILAR 'a#"b#"c' ESCAPE '#')` share the translation.

/// Translates a SQL `SIMILAR TO` pattern into an anchored regular expression: `%` is any text,
/// `_` any character; `|`, `*`, `+`, `?`, `{…}`, `(…)` and `[…]` keep their meaning; every other
/// character (`.` included) stands for itself.
pub fn similar_to_regex(pattern: &str) -> String {
    format!("^(?:{})$", similar_body(pattern, None))
}

/// A SQL `SIMILAR` pattern as the body of a regex (unanchored): `%` is `.*`, `_` is `.`, `[…]`,
/// `|`, `*`, `+`, `?`, `{…}` and `(…)` keep their meaning, anything else is literal, and so is the
/// character after `escape`.
pub fn similar_body(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::new();
    let mut in_class = false;
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.push_str(&regex::escape(&c.to_string()));
            }
            _ if Some(c) == escape => escaped = true,
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ if in_class => out.push(c),
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            c if c.is_alphanumeric() || c == ' ' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::similar_to_regex;

    #[test]
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("%TECH%"), "^(?:.*TECH.*)$");
        assert_eq!(similar_to_regex("a_c|d.e"), "^(?:a.c|d\\.e)$");
        assert_eq!(similar_to_regex("[A-Z]+%"), "^(?:[A-Z]+.*)$");
    }
}
