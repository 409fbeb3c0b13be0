//! `TABLE(GROUP_RANK(CURSOR(query), 'rankByColumn', 'rankOutColumn', 'sortOrder', 'outputOrder',
//! maxIdle, outputMax))` (SQLREF sql-reference-group-rank-udx.html), which sqlparser cannot parse:
//! it becomes a subquery that selects the cursor's columns and the rank,
//!
//! ```sql
//! (SELECT STREAM GROUP_RANK_INPUT.*, group_rank('rankBy', 'sortOrder', 'outputOrder', maxIdle,
//!         outputMax) AS "rankOut" FROM (query) AS GROUP_RANK_INPUT) AS TABLE_FUNCTION
//! ```
//!
//! where `group_rank(…)` marks the rank column for the planner (`plan/order.rs`), which ranks each
//! ROWTIME's rows (`exec/group_rank.rs`). The function's "returns table(c.*, "groupRank"
//! INTEGER)": the cursor's columns, then the rank under the name given.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::KdaDialect;
use super::tokens::{is_code, word_is};
use crate::error::{Result, SourceText};

/// The function that marks the rank column (`functions/group_rank.rs`).
pub const GROUP_RANK: &str = "group_rank";

pub(crate) fn group_rank_table_function(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<Vec<TokenWithSpan>> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let tok = |j: usize| code.get(j).map(|i| &tokens[*i]);
    let Some(k) = (0..code.len()).find(|&k| {
        tok(k).is_some_and(|t| word_is(t, "TABLE"))
            && tok(k + 1).map(|t| &t.token) == Some(&Token::LParen)
            && tok(k + 2).is_some_and(|t| word_is(t, "GROUP_RANK"))
    }) else {
        return Ok(tokens);
    };
    let at = tokens[code[k + 2]].span;
    let usage = "write TABLE(GROUP_RANK(CURSOR(SELECT STREAM * FROM s), 'rankByColumn', 'groupRank', 'asc' or 'desc', 'asc' or 'desc', maxIdle, outputMax))";
    let err = |message: &str| src.error_span(at, message).with_help(usage).into_error();
    if tok(k + 3).map(|t| &t.token) != Some(&Token::LParen)
        || !tok(k + 4).is_some_and(|t| word_is(t, "CURSOR"))
        || tok(k + 5).map(|t| &t.token) != Some(&Token::LParen)
    {
        return Err(err("GROUP_RANK's first argument must be CURSOR(query)"));
    }
    let mut depth = 0;
    let mut cursor_end = None;
    for j in k + 5..code.len() {
        match tokens[code[j]].token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    cursor_end = Some(j);
                    break;
                }
            }
            _ => {}
        }
    }
    let cursor_end = cursor_end.ok_or_else(|| err("CURSOR( has no closing parenthesis"))?;
    // , 'rankBy' , 'rankOut' , 'sortOrder' , 'outputOrder' , maxIdle , outputMax ) )
    let rest: Vec<&Token> = code[cursor_end + 1..]
        .iter()
        .map(|i| &tokens[*i].token)
        .collect();
    let text = |t: &Token| match t {
        Token::SingleQuotedString(s) => Some(s.clone()),
        _ => None,
    };
    let number = |t: &Token| match t {
        Token::Number(n, _) => n.parse::<u64>().ok(),
        _ => None,
    };
    let args: Vec<&Token> = rest.iter().take(14).copied().collect();
    let shape_ok = args.len() == 14
        && [0, 2, 4, 6, 8, 10]
            .iter()
            .all(|i| *args[*i] == Token::Comma)
        && *args[12] == Token::RParen
        && *args[13] == Token::RParen;
    if !shape_ok {
        return Err(err(
            "GROUP_RANK takes CURSOR(query) and six arguments: two column names, two orders and two numbers",
        ));
    }
    let (Some(rank_by), Some(rank_out), Some(sort_order), Some(output_order)) =
        (text(args[1]), text(args[3]), text(args[5]), text(args[7]))
    else {
        return Err(err(
            "GROUP_RANK's column names and orders are strings in single quotes",
        ));
    };
    for order in [&sort_order, &output_order] {
        if !matches!(order.to_ascii_lowercase().as_str(), "asc" | "desc") {
            return Err(err(&format!(
                "GROUP_RANK's order '{order}' must be 'asc' or 'desc'"
            )));
        }
    }
    let (Some(max_idle), Some(output_max)) = (number(args[9]), number(args[11])) else {
        return Err(err(
            "GROUP_RANK's maxIdle and outputMax are whole numbers, 0 or more",
        ));
    };
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let head = format!(
        "(SELECT STREAM GROUP_RANK_INPUT.*, {GROUP_RANK}({}, {}, {}, {max_idle}, {output_max}) AS \"{}\" FROM (",
        quote(&rank_by),
        quote(&sort_order.to_ascii_lowercase()),
        quote(&output_order.to_ascii_lowercase()),
        rank_out.replace('"', "\"\"")
    );
    let close = cursor_end + 14; // the last `)` of TABLE(…)
    let aliased = tok(close + 1).is_some_and(|t| {
        word_is(t, "AS")
            || matches!(&t.token, Token::Word(w) if w.keyword == datafusion::sql::sqlparser::keywords::Keyword::NoKeyword)
    });
    let tail = if aliased {
        ") AS GROUP_RANK_INPUT)".to_string()
    } else {
        ") AS GROUP_RANK_INPUT) AS TABLE_FUNCTION".to_string()
    };
    let lex = |text: &str| -> Vec<TokenWithSpan> {
        Tokenizer::new(&KdaDialect, text)
            .tokenize()
            .expect("generated SQL tokenizes")
            .into_iter()
            .map(|token| TokenWithSpan { token, span: at })
            .collect()
    };
    let mut out = Vec::with_capacity(tokens.len() + 32);
    for (i, t) in tokens.into_iter().enumerate() {
        match code.iter().position(|c| *c == i) {
            Some(j) if j == k => out.extend(lex(&head)),
            Some(j) if j == close => out.extend(lex(&tail)),
            // The cursor's query stays; TABLE ( GROUP_RANK ( CURSOR ( and the arguments go.
            Some(j) if (k + 6..cursor_end).contains(&j) => out.push(t),
            Some(j) if (k..=close).contains(&j) => {}
            _ => out.push(t),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::dialect::{AppStatement, parse_application};
    use crate::error::SourceText;

    fn parse(call: &str) -> Result<String, String> {
        let code = format!(
            "CREATE PUMP P AS INSERT INTO OUT SELECT STREAM * FROM TABLE(GROUP_RANK(CURSOR(SELECT STREAM * FROM S), {call}));"
        );
        match parse_application(&SourceText::new("app.sql", &code)) {
            Ok(statements) => match &statements[0] {
                AppStatement::CreatePump(p) => Ok(p.query.to_string()),
                _ => Err("not a pump".into()),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn becomes_a_subquery_with_a_marked_rank_column() {
        assert_eq!(
            parse("'price', 'groupRank', 'DESC', 'asc', 5, 0").unwrap(),
            "SELECT * FROM (SELECT GROUP_RANK_INPUT.*, group_rank('price', 'desc', 'asc', 5, 0) AS \"groupRank\" FROM (SELECT * FROM S) AS GROUP_RANK_INPUT) AS TABLE_FUNCTION"
        );
    }

    #[test]
    fn rejects_what_the_page_does_not_allow() {
        for (call, message) in [
            (
                "'price', 'groupRank', 'up', 'asc', 5, 0",
                "GROUP_RANK's order 'up' must be 'asc' or 'desc'",
            ),
            (
                "'price', 'groupRank', 'asc', 'asc', 5",
                "GROUP_RANK takes CURSOR(query) and six arguments",
            ),
            (
                "price, 'groupRank', 'asc', 'asc', 5, 0",
                "GROUP_RANK's column names and orders are strings in single quotes",
            ),
            (
                "'price', 'groupRank', 'asc', 'asc', -1, 0",
                "GROUP_RANK takes CURSOR(query) and six arguments",
            ),
        ] {
            let err = parse(call).unwrap_err();
            assert!(
                err.contains(message) && err.contains("help: write TABLE(GROUP_RANK("),
                "{call}: {err}"
            );
        }
    }
}
