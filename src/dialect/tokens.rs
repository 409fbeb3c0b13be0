//! Token passes over a statement before sqlparser sees it, and the helpers every statement reader
//! uses (splitting on `;`, word tests, parser errors as diagnostics).
//!
//! KDA identifiers fold to upper case unless quoted; `STREAM` after `SELECT` marks a streaming
//! query and is removed; `NTH_VALUE(x, n) FROM LAST`, `TRIM(BOTH FROM s)` and
//! `SUBSTRING(s SIMILAR p ESCAPE e)` are spelled the way sqlparser reads them.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};

use crate::error::{Error, SourceText};

/// Upper-cases unquoted words (identifiers fold to upper case in KDA; keywords are case-blind anyway).
pub(crate) fn fold_case(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    tokens
        .into_iter()
        .map(|mut t| {
            if let Token::Word(w) = &mut t.token
                && w.quote_style.is_none()
            {
                w.value = w.value.to_uppercase();
            }
            t
        })
        .collect()
}

pub(crate) fn is_code(t: &TokenWithSpan) -> bool {
    !matches!(t.token, Token::Whitespace(_) | Token::EOF)
}

/// Splits on `;` and drops statements made only of whitespace and comments.
pub(crate) fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for t in tokens {
        match t.token {
            Token::SemiColon => out.push(std::mem::take(&mut current)),
            Token::EOF => {}
            _ => current.push(t),
        }
    }
    out.push(current);
    out.retain(|s| s.iter().any(is_code));
    out
}

/// Where errors at the end of a statement ("found: EOF") point: just after its last token.
pub(crate) fn statement_end(tokens: &[TokenWithSpan], otherwise: Location) -> Location {
    tokens
        .iter()
        .rev()
        .find(|t| is_code(t))
        .map(|t| t.span.end)
        .unwrap_or(otherwise)
}

pub(crate) fn word_is(t: &TokenWithSpan, text: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value == text)
}

/// Converts a sqlparser error into a diagnostic, using the location in its message if present.
pub(crate) fn parser_error(
    src: &SourceText,
    e: ParserError,
    fallback: Location,
    help: Option<&str>,
) -> Error {
    let msg = match &e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
    };
    // sqlparser appends " at Line: L, Column: C".
    let (message, at) = match msg.rfind(" at Line: ") {
        Some(pos) => {
            let rest = &msg[pos + " at Line: ".len()..];
            let mut parts = rest.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            match (line, column) {
                (Some(line), Some(column)) => (msg[..pos].to_string(), Location { line, column }),
                _ => (msg.clone(), fallback),
            }
        }
        None => (msg.clone(), fallback),
    };
    let mut d = src.error_at(at, message);
    if d.line == 0 {
        d = src.error_at(fallback, d.message);
    }
    if let Some(h) = help {
        d = d.with_help(h);
    }
    d.into_error()
}

/// `NTH_VALUE(x, n) FROM LAST` (which sqlparser cannot parse) becomes `NTH_VALUE(x, -(n))`,
/// DataFusion's spelling; `FROM FIRST`, the default, is dropped.
pub(crate) fn nth_value_from(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let mut remove = vec![false; tokens.len()];
    // (token index, tokens to insert before it)
    let mut insert: Vec<(usize, Vec<Token>)> = Vec::new();
    for k in 0..code.len() {
        if !word_is(&tokens[code[k]], "NTH_VALUE")
            || code.get(k + 1).map(|i| &tokens[*i].token) != Some(&Token::LParen)
        {
            continue;
        }
        let (mut depth, mut last_comma, mut close) = (0, None, None);
        for (j, &i) in code.iter().enumerate().skip(k + 1) {
            match &tokens[i].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                Token::Comma if depth == 1 => last_comma = Some(j),
                _ => {}
            }
        }
        let (Some(close), Some(comma)) = (close, last_comma) else {
            continue;
        };
        let (Some(&from), Some(&which)) = (code.get(close + 1), code.get(close + 2)) else {
            continue;
        };
        if !word_is(&tokens[from], "FROM") {
            continue;
        }
        if word_is(&tokens[which], "LAST") {
            insert.push((code[comma + 1], vec![Token::Minus, Token::LParen]));
            insert.push((code[close], vec![Token::RParen]));
        } else if !word_is(&tokens[which], "FIRST") {
            continue;
        }
        remove[from] = true;
        remove[which] = true;
    }
    let mut out = Vec::with_capacity(tokens.len() + 3 * insert.len());
    for (i, t) in tokens.into_iter().enumerate() {
        for (_, added) in insert.iter().filter(|(at, _)| *at == i) {
            out.extend(added.iter().map(|a| TokenWithSpan {
                token: a.clone(),
                span: t.span,
            }));
        }
        if !remove[i] {
            out.push(t);
        }
    }
    out
}

/// KDA's `TRIM([[LEADING|TRAILING|BOTH] [char] FROM] s)` may leave out the character, which
/// is then a space; sqlparser needs it written. Inserts `' '` before `FROM` in `TRIM(BOTH FROM s)`,
/// `TRIM(LEADING FROM s)`, `TRIM(TRAILING FROM s)` and `TRIM(FROM s)`.
pub(crate) fn trim_default_character(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let mut before: Vec<usize> = Vec::new();
    for k in 0..code.len() {
        if !word_is(&tokens[code[k]], "TRIM")
            || code.get(k + 1).map(|i| &tokens[*i].token) != Some(&Token::LParen)
        {
            continue;
        }
        let mut from = k + 2;
        if code.get(from).is_some_and(|&i| {
            ["BOTH", "LEADING", "TRAILING"]
                .iter()
                .any(|w| word_is(&tokens[i], w))
        }) {
            from += 1;
        }
        if let Some(&i) = code.get(from)
            && word_is(&tokens[i], "FROM")
        {
            before.push(i);
        }
    }
    let mut out = Vec::with_capacity(tokens.len() + before.len());
    for (i, t) in tokens.into_iter().enumerate() {
        if before.contains(&i) {
            out.push(TokenWithSpan {
                token: Token::SingleQuotedString(" ".into()),
                span: t.span,
            });
        }
        out.push(t);
    }
    out
}

/// `SUBSTRING(s SIMILAR pattern ESCAPE e)` (which sqlparser cannot parse) becomes
/// `KDA_SUBSTRING_SIMILAR(s, pattern, e)` (see `substring.rs`).
pub(crate) fn substring_similar(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    for k in 0..code.len() {
        if !word_is(&tokens[code[k]], "SUBSTRING")
            || code.get(k + 1).map(|i| &tokens[*i].token) != Some(&Token::LParen)
        {
            continue;
        }
        let (mut depth, mut similar, mut escape) = (0, None, None);
        for &i in &code[k + 1..] {
            match &tokens[i].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ if depth == 1 && word_is(&tokens[i], "SIMILAR") => similar = Some(i),
                _ if depth == 1 && word_is(&tokens[i], "ESCAPE") => escape = Some(i),
                _ => {}
            }
        }
        if let (Some(similar), Some(escape)) = (similar, escape) {
            tokens[similar].token = Token::Comma;
            tokens[escape].token = Token::Comma;
            tokens[code[k]].token = Token::make_word("KDA_SUBSTRING_SIMILAR", None);
        }
    }
    tokens
}

/// Removes `STREAM` right after every `SELECT`; reports whether the first `SELECT` had it.
pub(crate) fn strip_select_stream(tokens: Vec<TokenWithSpan>) -> (Vec<TokenWithSpan>, bool) {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut first_select: Option<bool> = None;
    let mut after_select = false;
    for t in tokens {
        if is_code(&t) {
            if after_select {
                after_select = false;
                let is_stream = word_is(&t, "STREAM");
                if first_select.is_none() {
                    first_select = Some(is_stream);
                }
                if is_stream {
                    continue;
                }
            }
            if matches!(&t.token, Token::Word(w) if w.keyword == Keyword::SELECT) {
                after_select = true;
            }
        }
        out.push(t);
    }
    (out, first_select.unwrap_or(false))
}

/// `CEILING(…)` is KDA's other name for `CEIL(…)`, in both the numeric and the `TO unit` form;
/// sqlparser reads only `CEIL`, so the word becomes that keyword.
pub(crate) fn ceiling_is_ceil(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    for k in 0..code.len() {
        if word_is(&tokens[code[k]], "CEILING")
            && code.get(k + 1).map(|i| &tokens[*i].token) == Some(&Token::LParen)
        {
            tokens[code[k]].token = Token::make_word("CEIL", None);
        }
    }
    tokens
}

/// A binary literal spells whole bytes, two hex digits each (SQL:2008; KDA's `X'3F67A23A'`):
/// `X'3F6'` is rejected at its position, where sqlparser would read it as `X'03F6'`.
pub(crate) fn binary_literals(src: &SourceText, tokens: &[TokenWithSpan]) -> Result<(), Error> {
    for t in tokens {
        if let Token::HexStringLiteral(digits) = &t.token
            && digits.len() % 2 == 1
        {
            return Err(src
                .error_span(
                    t.span,
                    format!(
                        "the binary literal X'{digits}' has an odd number of hex digits: each byte takes two"
                    ),
                )
                .with_help(format!("write X'0{digits}' or X'{digits}0'"))
                .into_error());
        }
    }
    Ok(())
}

/// Unicode string literals, `u&'\0009'` (a tab) or `u&'!0009' UESCAPE '!'`, become plain string
/// literals holding the characters they spell (sqlparser reads the `\` form; the `UESCAPE` form
/// is decoded here from the source text).
pub(crate) fn unicode_literals(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<Vec<TokenWithSpan>, Error> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let Token::UnicodeStringLiteral(text) = &tokens[i].token else {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        };
        let mut value = text.clone();
        let span = tokens[i].span;
        let next = |from: usize| (from..tokens.len()).find(|j| is_code(&tokens[*j]));
        if let Some(u) = next(i + 1)
            && word_is(&tokens[u], "UESCAPE")
        {
            let escape = next(u + 1).and_then(|e| match &tokens[e].token {
                Token::SingleQuotedString(s) if s.chars().count() == 1 => {
                    Some((e, s.chars().next().expect("one character")))
                }
                _ => None,
            });
            let Some((e, escape)) = escape else {
                return Err(src
                    .error_span(tokens[u].span, "UESCAPE takes one character in quotes")
                    .with_help("write u&'!0009' UESCAPE '!'")
                    .into_error());
            };
            let raw = src.slice(span).unwrap_or_default();
            let body = raw
                .get(3..raw.len().saturating_sub(1))
                .unwrap_or_default()
                .replace("''", "'");
            value = decode_unicode_escapes(&body, escape).map_err(|m| {
                src.error_span(span, m)
                    .with_help(format!(
                        "write {escape} and four hex digits ({escape}0009 is a tab), \
                         {escape}+ and six, or {escape}{escape} for {escape} itself"
                    ))
                    .into_error()
            })?;
            i = e + 1;
        } else {
            i += 1;
        }
        out.push(TokenWithSpan {
            token: Token::SingleQuotedString(value),
            span,
        });
    }
    Ok(out)
}

/// The characters a Unicode literal's body spells with escape character `escape`.
fn decode_unicode_escapes(body: &str, escape: char) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&escape) {
            chars.next();
            out.push(escape);
            continue;
        }
        let digits = if chars.peek() == Some(&'+') {
            chars.next();
            6
        } else {
            4
        };
        let hex: String = chars.by_ref().take(digits).collect();
        let code = u32::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == digits)
            .ok_or_else(|| format!("`{escape}{hex}` is not a Unicode escape"))?;
        out.push(char::from_u32(code).ok_or_else(|| format!("U+{code:X} is not a character"))?);
    }
    Ok(out)
}

/// Words after which a parenthesis opens an expression, not a function's arguments.
const EXPRESSION_STARTERS: [&str; 17] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "BY", "ON", "HAVING",
    "RETURN", "CASE", "BETWEEN", "DISTINCT", "IS",
];

/// Interval units, from YEAR down to SECOND.
const INTERVAL_UNITS: [&str; 6] = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];

/// `(a - b) <interval qualifier>`, the interval between two datetimes (`(t1 - t2) MINUTE TO
/// SECOND`, `(ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND`), which sqlparser cannot read,
/// becomes `KDA_DATETIME_MINUS((a - b), 'MINUTE TO SECOND')`; the planner's rewrite takes the
/// difference apart (`functions/interval_qualifier.rs`). Only a parenthesised expression that is not
/// a function's argument list and holds a `-` qualifies.
pub(crate) fn datetime_difference(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let unit_at = |k: usize| {
        code.get(k).and_then(|&i| {
            INTERVAL_UNITS
                .iter()
                .find(|u| word_is(&tokens[i], u))
                .copied()
        })
    };
    // (index of `(`, index of `)`, qualifier text, last code position of the qualifier)
    let mut found: Vec<(usize, usize, String, usize)> = Vec::new();
    let mut open: Vec<(usize, bool)> = Vec::new(); // (code position, holds a top-level minus)
    for k in 0..code.len() {
        match &tokens[code[k]].token {
            Token::LParen => open.push((k, false)),
            Token::Minus => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
            }
            Token::RParen => {
                let Some((start, minus)) = open.pop() else {
                    continue;
                };
                // `f(a - b) HOUR` is a call, not a difference; words before an expression
                // (`FROM`, `AND`, `WHEN`, …) are no function names.
                let called = start > 0
                    && match &tokens[code[start - 1]].token {
                        Token::Word(w) => !EXPRESSION_STARTERS.contains(&w.value.as_str()),
                        Token::RParen => true,
                        _ => false,
                    };
                let Some(first) = unit_at(k + 1) else {
                    continue;
                };
                if !minus || called {
                    continue;
                }
                // UNIT [(p)] [TO UNIT [(p)]]
                let mut text = first.to_string();
                let mut last = k + 1;
                let precision = |at: usize| {
                    matches!(code.get(at).map(|&i| &tokens[i].token), Some(Token::LParen))
                        && matches!(
                            code.get(at + 1).map(|&i| &tokens[i].token),
                            Some(Token::Number(_, _))
                        )
                        && matches!(
                            code.get(at + 2).map(|&i| &tokens[i].token),
                            Some(Token::RParen)
                        )
                };
                if precision(last + 1) {
                    last += 3;
                }
                if code
                    .get(last + 1)
                    .is_some_and(|&i| word_is(&tokens[i], "TO"))
                    && let Some(second) = unit_at(last + 2)
                {
                    text = format!("{first} TO {second}");
                    last += 2;
                    if precision(last + 1) {
                        last += 3;
                    }
                }
                found.push((code[start], code[k], text, last));
            }
            _ => {}
        }
    }
    if found.is_empty() {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 4 * found.len());
    let mut skip_until: Option<usize> = None;
    for (i, t) in tokens.into_iter().enumerate() {
        if let Some(end) = skip_until {
            if i <= end {
                continue;
            }
            skip_until = None;
        }
        for _ in found.iter().filter(|f| f.0 == i) {
            out.push(TokenWithSpan {
                token: Token::make_word(DATETIME_MINUS_CALL, None),
                span: t.span,
            });
            out.push(TokenWithSpan {
                token: Token::LParen,
                span: t.span,
            });
        }
        let closing: Vec<&(usize, usize, String, usize)> =
            found.iter().filter(|f| f.1 == i).collect();
        out.push(t.clone());
        if let Some((_, _, text, last)) = closing.first() {
            out.push(TokenWithSpan {
                token: Token::Comma,
                span: t.span,
            });
            out.push(TokenWithSpan {
                token: Token::SingleQuotedString(text.clone()),
                span: t.span,
            });
            out.push(TokenWithSpan {
                token: Token::RParen,
                span: t.span,
            });
            skip_until = Some(code[*last]);
        }
    }
    out
}

/// The call [`datetime_difference`] writes.
pub const DATETIME_MINUS_CALL: &str = "KDA_DATETIME_MINUS";
