//! Window clauses sqlparser cannot parse, cut out of a pump's tokens: `WINDOWED BY STAGGER
//! (PARTITION BY keys RANGE INTERVAL …)` becomes `GROUP BY keys` with the length kept aside, and
//! `FROM s OVER (RANGE INTERVAL … PRECEDING)` (a stream-to-stream join's window) is removed and
//! returned as a [`TableWindow`]; a T-sort's `WITHIN INTERVAL …` is cut out of its ORDER BY. The
//! N-second window idiom `FLOOR((ts - origin) SECOND / n TO
//! SECOND)` becomes one function call.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use super::KdaDialect;
use super::tokens::{is_code, word_is};
use crate::error::{Result, SourceText};
use crate::time::unit_ms;

/// A join window's range: `RANGE INTERVAL 'n' unit PRECEDING` or `… FOLLOWING`, or
/// `ROWS n PRECEDING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRange {
    pub ms: i64,
    /// FOLLOWING: the stream's rows match rows of the other stream up to `ms` before them.
    pub following: bool,
    /// `ROWS n PRECEDING`: the stream's last `n + 1` rows match (then `ms` is 0).
    pub rows: Option<u64>,
}

/// A window on one stream of a stream-to-stream join.
#[derive(Debug, Clone)]
pub struct TableWindow {
    /// The stream's name as written (folded to upper case unless quoted).
    pub table: String,
    /// `OVER (RANGE INTERVAL …)`: the range.
    pub range: Option<JoinRange>,
    /// `OVER w`: the name of a window of the query's WINDOW clause.
    pub named: Option<String>,
    pub at: Span,
}

/// Rewrites `WINDOWED BY STAGGER (PARTITION BY k1, k2 RANGE INTERVAL 'n' unit)` (which
/// sqlparser cannot parse) into `GROUP BY k1, k2`, returning the window length in milliseconds.
pub(crate) fn stagger_to_group_by(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Option<i64>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let Some(k) = (0..code.len().saturating_sub(2)).find(|k| {
        word_is(&tokens[code[*k]], "WINDOWED")
            && word_is(&tokens[code[*k + 1]], "BY")
            && word_is(&tokens[code[*k + 2]], "STAGGER")
    }) else {
        return Ok((tokens, None));
    };
    let at = tokens[code[k]].span;
    let help = "write WINDOWED BY STAGGER (PARTITION BY key, … RANGE INTERVAL 'n' unit)";
    let err = |message: &str| src.error_span(at, message).with_help(help).into_error();
    if tokens
        .get(code.get(k + 3).copied().unwrap_or(usize::MAX))
        .map(|t| &t.token)
        != Some(&Token::LParen)
        || !code
            .get(k + 4)
            .is_some_and(|i| word_is(&tokens[*i], "PARTITION"))
        || !code.get(k + 5).is_some_and(|i| word_is(&tokens[*i], "BY"))
    {
        return Err(err("STAGGER needs (PARTITION BY … RANGE INTERVAL …)"));
    }
    // The partition keys run up to RANGE at depth 0; the clause ends at the matching `)`.
    let mut depth = 0;
    let mut range_at = None;
    let mut close_at = None;
    for (j, &i) in code.iter().enumerate().skip(k + 6) {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                close_at = Some(j);
                break;
            }
            Token::RParen => depth -= 1,
            _ if depth == 0 && word_is(&tokens[i], "RANGE") && range_at.is_none() => {
                range_at = Some(j)
            }
            _ => {}
        }
    }
    let (Some(range_at), Some(close_at)) = (range_at, close_at) else {
        return Err(err(
            "STAGGER needs a RANGE INTERVAL after its PARTITION BY keys",
        ));
    };
    let interval: Vec<&Token> = code[range_at + 1..close_at]
        .iter()
        .map(|i| &tokens[*i].token)
        .collect();
    let ms = interval_ms(&interval).map_err(|m| err(&format!("the STAGGER range {m}")))?;
    // WINDOWED BY STAGGER ( PARTITION BY keys RANGE … )  →  GROUP BY keys
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.into_iter().enumerate() {
        let pos = code.iter().position(|c| *c == i);
        match pos {
            Some(j) if j == k => out.push(TokenWithSpan {
                token: Token::make_keyword("GROUP"),
                span: t.span,
            }),
            Some(j) if j == k + 1 => out.push(t),
            Some(j) if (k + 2..=k + 5).contains(&j) || (range_at..=close_at).contains(&j) => {}
            _ => out.push(t),
        }
    }
    Ok((out, Some(ms)))
}

/// A T-sort's `WITHIN` interval in milliseconds, and where `WITHIN` is.
pub type TSortWithin = (i64, Span);

/// `ORDER BY ts WITHIN INTERVAL 'n' unit` (a T-sort, SQLREF sqlrf_T-sorting_Stream_Input.html),
/// which sqlparser cannot parse: `WITHIN` and its interval are cut out, and the interval is
/// returned in milliseconds with where `WITHIN` was. The ORDER BY stays for the planner.
pub(crate) fn tsort_within(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Option<TSortWithin>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let mut depth = 0;
    let mut order_by = false;
    let mut found = None;
    for (j, &i) in code.iter().enumerate() {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && word_is(&tokens[i], "ORDER") => {
                order_by = code.get(j + 1).is_some_and(|n| word_is(&tokens[*n], "BY"))
            }
            _ if depth == 0 && order_by && word_is(&tokens[i], "WITHIN") => {
                found = Some(j);
                break;
            }
            _ => {}
        }
    }
    let Some(k) = found else {
        return Ok((tokens, None));
    };
    let at = tokens[code[k]].span;
    let interval: Vec<&Token> = code[k + 1..(k + 4).min(code.len())]
        .iter()
        .map(|i| &tokens[*i].token)
        .collect();
    let ms = interval_ms(&interval).map_err(|m| {
        src.error_span(at, format!("the WITHIN interval of a T-sort {m}"))
            .with_help("write ORDER BY ts WITHIN INTERVAL 'n' unit")
            .into_error()
    })?;
    let cut: Vec<usize> = code[k..k + 4].to_vec();
    let out = tokens
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !cut.contains(i))
        .map(|(_, t)| t)
        .collect();
    Ok((out, Some((ms, at))))
}

/// `INTERVAL 'n' unit` as tokens → milliseconds; the error completes "the … range …".
fn interval_ms(tokens: &[&Token]) -> std::result::Result<i64, String> {
    let [
        Token::Word(w),
        Token::SingleQuotedString(n),
        Token::Word(unit),
    ] = tokens
    else {
        return Err("must be INTERVAL 'n' unit".into());
    };
    if w.value != "INTERVAL" {
        return Err("must be INTERVAL 'n' unit".into());
    }
    let n: i64 = n
        .trim()
        .parse()
        .map_err(|_| "must be a whole number of units".to_string())?;
    let unit_ms = match unit.value.as_str() {
        u @ ("SECOND" | "MINUTE" | "HOUR" | "DAY") => unit_ms(u).expect("a day-time unit"),
        _ => return Err("unit must be SECOND, MINUTE, HOUR or DAY".into()),
    };
    if n <= 0 {
        return Err("must be positive".into());
    }
    Ok(n * unit_ms)
}

/// Removes `OVER (…)` and `OVER name` after a stream in FROM (a stream-to-stream join's window,
/// which sqlparser cannot parse) and returns the windows found, in order.
pub(crate) fn table_windows(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<TableWindow>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let mut windows = Vec::new();
    let mut removed = vec![false; tokens.len()];
    let help = "write FROM stream OVER (RANGE INTERVAL 'n' unit PRECEDING) AS alias";
    for k in 1..code.len() {
        let (prev, over) = (&tokens[code[k - 1]], &tokens[code[k]]);
        let Token::Word(table) = &prev.token else {
            continue;
        };
        if !word_is(over, "OVER")
            || (table.quote_style.is_none() && table.keyword != Keyword::NoKeyword)
        {
            continue;
        }
        let err = |message: String| {
            src.error_span(over.span, message)
                .with_help(help)
                .into_error()
        };
        let next = code.get(k + 1).map(|i| &tokens[*i]);
        match next.map(|t| &t.token) {
            Some(Token::Word(name)) => {
                windows.push(TableWindow {
                    table: table.value.clone(),
                    range: None,
                    named: Some(name.value.clone()),
                    at: over.span,
                });
                // `JOIN TradeStream OVER t ON t.x …`: the window's name is also the
                // stream's alias, unless an `AS alias` follows.
                removed[code[k]] = true;
                if code.get(k + 2).is_some_and(|i| word_is(&tokens[*i], "AS")) {
                    removed[code[k + 1]] = true;
                }
            }
            Some(Token::LParen) => {
                let Some(close) =
                    (k + 2..code.len()).find(|j| tokens[code[*j]].token == Token::RParen)
                else {
                    return Err(err("this window is not closed with `)`".into()));
                };
                let inside: Vec<&Token> = code[k + 2..close]
                    .iter()
                    .map(|i| &tokens[*i].token)
                    .collect();
                let range = join_window_ms(&inside).map_err(err)?;
                windows.push(TableWindow {
                    table: table.value.clone(),
                    range: Some(range),
                    named: None,
                    at: over.span,
                });
                for j in k..=close {
                    removed[code[j]] = true;
                }
            }
            _ => {
                return Err(err(
                    "OVER after a stream needs a window: (RANGE INTERVAL 'n' unit PRECEDING)"
                        .into(),
                ));
            }
        }
    }
    let out = tokens
        .into_iter()
        .zip(removed)
        .filter(|(_, r)| !r)
        .map(|(t, _)| t)
        .collect();
    Ok((out, windows))
}

/// [`join_window_ms`] of a window definition's text (a named window of the WINDOW clause).
pub fn join_window_text_ms(text: &str) -> std::result::Result<JoinRange, String> {
    let tokens = Tokenizer::new(&KdaDialect, text)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(mut w) if w.quote_style.is_none() => {
                w.value = w.value.to_uppercase();
                Token::Word(w)
            }
            t => t,
        })
        .collect();
    join_window_ms(&tokens.iter().collect::<Vec<_>>())
}

/// The body of a join window, `[ORDER BY ROWTIME] RANGE INTERVAL 'n' unit PRECEDING`,
/// `… FOLLOWING` or `ROWS n PRECEDING`; an error says what KDA accepts.
pub fn join_window_ms(tokens: &[&Token]) -> std::result::Result<JoinRange, String> {
    let word = |t: &Token, text: &str| matches!(t, Token::Word(w) if w.value == text);
    let mut rest = tokens;
    if rest.len() >= 3 && word(rest[0], "ORDER") && word(rest[1], "BY") {
        if !word(rest[2], "ROWTIME") {
            return Err("a join window can be ordered only by ROWTIME".into());
        }
        rest = &rest[3..];
    }
    let shape = "a join window must be RANGE INTERVAL 'n' unit PRECEDING (or FOLLOWING), or ROWS n PRECEDING";
    match rest.first() {
        Some(t) if word(t, "PARTITION") => {
            return Err("a join window cannot have PARTITION BY (KDA does not allow it)".into());
        }
        Some(t) if word(t, "ROWS") => {
            return match rest {
                [_, Token::Number(n, _), p] if word(p, "PRECEDING") => match n.parse::<u64>() {
                    Ok(n) => Ok(JoinRange {
                        ms: 0,
                        following: false,
                        rows: Some(n),
                    }),
                    Err(_) => Err(format!("the join window's `ROWS {n}` is not a row count")),
                },
                [_, Token::Number(_, _), f] if word(f, "FOLLOWING") => Err(
                    "a ROWS join window cannot be FOLLOWING: write ROWS n PRECEDING, or RANGE INTERVAL 'n' unit FOLLOWING"
                        .into(),
                ),
                _ => Err("a ROWS join window must be ROWS n PRECEDING".into()),
            };
        }
        Some(t) if word(t, "RANGE") => {}
        _ => return Err(shape.into()),
    }
    if rest.get(1).is_some_and(|t| word(t, "BETWEEN")) {
        return Err("a join window that spans the current row (BETWEEN … PRECEDING AND … FOLLOWING) is not supported, as in KDA: write RANGE INTERVAL 'n' unit PRECEDING or FOLLOWING".into());
    }
    let following = match rest.last() {
        Some(t) if word(t, "PRECEDING") && rest.len() == 5 => false,
        Some(t) if word(t, "FOLLOWING") && rest.len() == 5 => true,
        _ => return Err(shape.into()),
    };
    let ms = interval_ms(&rest[1..4]).map_err(|m| format!("the join window's range {m}"))?;
    Ok(JoinRange {
        ms,
        following,
        rows: None,
    })
}

/// The function the N-second window idiom becomes (`functions/floor_elapsed.rs`).
pub const FLOOR_ELAPSED: &str = "floor_elapsed";

/// `FLOOR((ts - origin) unit / n TO unit2)`, the N-second window idiom of KDA's templates
/// (`FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)`), which
/// sqlparser cannot parse (`(…) SECOND` is no SQL it knows): each becomes
/// `floor_elapsed(ts, origin, n, 'UNIT2')` (`functions/floor_elapsed.rs`), which the planner
/// reads as a window of `n` units. Other `(… - …) unit` forms are left as they are.
pub(crate) fn elapsed_window_idiom(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    while let Some((from, to, replacement)) = find_elapsed_idiom(&tokens) {
        tokens.splice(from..=to, replacement);
    }
    tokens
}

/// The first idiom: the indices of its first and last tokens, and what replaces them.
fn find_elapsed_idiom(tokens: &[TokenWithSpan]) -> Option<(usize, usize, Vec<TokenWithSpan>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let tok = |j: usize| code.get(j).map(|i| &tokens[*i].token);
    let is_unit = |j: usize| {
        code.get(j).is_some_and(|i| {
            ["SECOND", "MINUTE", "HOUR", "DAY"]
                .iter()
                .any(|u| word_is(&tokens[*i], u))
        })
    };
    for k in 0..code.len() {
        if !(word_is(&tokens[code[k]], "FLOOR")
            && tok(k + 1) == Some(&Token::LParen)
            && tok(k + 2) == Some(&Token::LParen))
        {
            continue;
        }
        // The inner parenthesis and its last `-` at depth 0.
        let mut depth = 0;
        let mut minus = None;
        let mut close = None;
        for j in k + 3..code.len() {
            match tok(j)? {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => {
                    close = Some(j);
                    break;
                }
                Token::RParen => depth -= 1,
                Token::Minus if depth == 0 && j > k + 3 => minus = Some(j),
                _ => {}
            }
        }
        let (Some(minus), Some(close)) = (minus, close) else {
            continue;
        };
        // ) unit / n TO unit2 )
        let n = match tok(close + 3) {
            Some(Token::Number(n, _)) if n.parse::<u64>().is_ok_and(|n| n > 0) => n.clone(),
            _ => continue,
        };
        if !(is_unit(close + 1)
            && tok(close + 2) == Some(&Token::Div)
            && code
                .get(close + 4)
                .is_some_and(|i| word_is(&tokens[*i], "TO"))
            && is_unit(close + 5)
            && tok(close + 6) == Some(&Token::RParen))
        {
            continue;
        }
        let unit = match tok(close + 5) {
            Some(Token::Word(w)) => w.value.clone(),
            _ => continue,
        };
        let span = tokens[code[k]].span;
        let at = |token: Token| TokenWithSpan { token, span };
        let mut out = vec![at(Token::make_word(FLOOR_ELAPSED, None)), at(Token::LParen)];
        out.extend_from_slice(&tokens[code[k + 3]..code[minus]]);
        out.push(at(Token::Comma));
        out.extend_from_slice(&tokens[code[minus] + 1..code[close]]);
        out.push(at(Token::Comma));
        out.push(at(Token::Number(n, false)));
        out.push(at(Token::Comma));
        out.push(at(Token::SingleQuotedString(unit)));
        out.push(at(Token::RParen));
        return Some((code[k], code[close + 6], out));
    }
    None
}
