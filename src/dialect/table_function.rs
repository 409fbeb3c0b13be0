//! What KDA's table functions share: `TABLE(NAME(CURSOR(query), arguments…))` in the tokens of
//! a pump, the `)` that closes the cursor, and the splice that puts a subquery in the call's
//! place (TOP_K_ITEMS_TUMBLING and COUNT_DISTINCT_ITEMS_TUMBLING in `create_pump.rs`,
//! `group_rank.rs`, `machine_learning.rs`).

use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use super::KdaDialect;

/// The position in `code` of the `)` that closes the `(` at code position `open`, if any.
pub(crate) fn closing(tokens: &[TokenWithSpan], code: &[usize], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (j, i) in code.iter().enumerate().skip(open) {
        match tokens[*i].token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Generated SQL as tokens that all point at `at` (the call), for error positions.
pub(crate) fn lex_at(text: &str, at: Span) -> Vec<TokenWithSpan> {
    Tokenizer::new(&KdaDialect, text)
        .tokenize()
        .expect("generated SQL tokenizes")
        .into_iter()
        .map(|token| TokenWithSpan { token, span: at })
        .collect()
}

/// The tokens with the call `TABLE ( NAME ( CURSOR ( query ) , … )` replaced: the code tokens
/// from position `k` (`TABLE`) to `close` (its last `)`) go, except the cursor's query (from
/// `k + 6` to before `cursor_end`), which stays between `head` and `tail`.
pub(crate) fn splice(
    tokens: Vec<TokenWithSpan>,
    code: &[usize],
    (k, cursor_end, close): (usize, usize, usize),
    head: Vec<TokenWithSpan>,
    tail: Vec<TokenWithSpan>,
) -> Vec<TokenWithSpan> {
    let mut out = Vec::with_capacity(tokens.len() + head.len() + tail.len());
    let (mut head, mut tail) = (Some(head), Some(tail));
    for (i, t) in tokens.into_iter().enumerate() {
        match code.iter().position(|c| *c == i) {
            Some(j) if j == k => out.extend(head.take().unwrap_or_default()),
            Some(j) if j == close => out.extend(tail.take().unwrap_or_default()),
            Some(j) if (k + 6..cursor_end).contains(&j) => out.push(t),
            Some(j) if (k..=close).contains(&j) => {}
            _ => out.push(t),
        }
    }
    out
}
