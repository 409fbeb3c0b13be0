//! `CREATE [OR REPLACE] PUMP name AS INSERT INTO stream [(columns)] SELECT STREAM …`: the token
//! passes run in order (windowed table functions, `GROUP_RANK`, `SELECT STREAM`, stagger windows, join windows,
//! the N-second window idiom, T-sort's `WITHIN`, `NTH_VALUE`, `TRIM`, `SUBSTRING … SIMILAR`), then sqlparser reads
//! the query.

use datafusion::sql::sqlparser::ast::{Ident, Query};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::KdaDialect;
use super::machine_learning::{MachineLearningCall, machine_learning_functions};
use super::tokens::{
    is_code, nth_value_from, parser_error, statement_end, strip_select_stream, substring_similar,
    trim_default_character, word_is,
};
use super::windows::{TableWindow, stagger_to_group_by, table_windows, tsort_within};
use crate::error::{Result, SourceText};

#[derive(Debug, Clone)]
pub struct CreatePump {
    pub name: String,
    /// `CREATE OR REPLACE PUMP`: replaces an earlier pump of the same name.
    pub or_replace: bool,
    pub target: String,
    pub target_at: Location,
    /// The `INSERT INTO stream (cols)` column list, if any.
    pub columns: Option<Vec<Ident>>,
    /// The query, with `STREAM` removed from its `SELECT`.
    pub query: Box<Query>,
    pub at: Location,
    /// Where the query starts (`SELECT`).
    pub query_at: Location,
    /// `WINDOWED BY STAGGER (PARTITION BY … RANGE INTERVAL …)`: the window length in
    /// milliseconds (the partition keys became the query's GROUP BY).
    pub stagger_ms: Option<i64>,
    /// `FROM stream OVER (RANGE INTERVAL … PRECEDING)`: the windows of a stream-to-stream join
    /// (removed from the query), in the order they appear.
    pub windows: Vec<TableWindow>,
    /// `ORDER BY ts WITHIN INTERVAL …` (a T-sort): the interval in milliseconds and where
    /// `WITHIN` is (removed from the query, whose ORDER BY stays).
    pub tsort: Option<super::windows::TSortWithin>,
    /// `FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(…), …))` or `COUNT_DISTINCT_ITEMS_TUMBLING`: the
    /// call became a windowed GROUP BY subquery; what the planner must add to it.
    pub table_function: Option<WindowedTableFunction>,
    /// `FROM TABLE(RANDOM_CUT_FOREST(CURSOR(…), …))`, its explanation form or `HOTSPOTS`: the
    /// call became a subquery over the cursor whose added columns the planner computes.
    pub machine_learning: Option<MachineLearningCall>,
}

/// A KDA windowed table function, rewritten into a tumbling-window subquery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowedTableFunction {
    /// Keep the `k` groups with the highest count in each window.
    TopK(usize),
    /// The subquery counts DISTINCT values, which a windowed aggregate otherwise may not.
    CountDistinct,
}

pub(crate) fn parse_create_pump(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
    at: Location,
) -> Result<CreatePump> {
    let dialect = KdaDialect;
    let (tokens, table_function) = windowed_table_functions(src, tokens)?;
    let tokens = super::group_rank::group_rank_table_function(src, tokens)?;
    let (tokens, machine_learning) = machine_learning_functions(src, tokens)?;
    let (tokens, had_stream) = strip_select_stream(tokens);
    let (tokens, stagger_ms) = stagger_to_group_by(src, tokens)?;
    let (tokens, windows) = table_windows(src, tokens)?;
    let (tokens, tsort) = tsort_within(src, tokens)?;
    let tokens = nth_value_from(tokens);
    let tokens = trim_default_character(tokens);
    let tokens = substring_similar(tokens);
    let end = statement_end(&tokens, at);
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let help = Some("write CREATE PUMP name AS INSERT INTO stream [(column, …)] SELECT STREAM …");
    let name = p
        .parse_identifier()
        .map_err(|e| parser_error(src, e, at, help))?
        .value;
    p.expect_keyword(Keyword::AS)
        .map_err(|e| parser_error(src, e, at, help))?;
    p.expect_keyword(Keyword::INSERT)
        .map_err(|e| parser_error(src, e, at, help))?;
    p.expect_keyword(Keyword::INTO)
        .map_err(|e| parser_error(src, e, at, help))?;
    let target_tok = p.peek_token();
    let target = p
        .parse_identifier()
        .map_err(|e| parser_error(src, e, at, help))?
        .value;
    let columns = if p.peek_token().token == Token::LParen
        && !matches!(&p.peek_nth_token(1).token, Token::Word(w) if w.keyword == Keyword::SELECT)
    {
        p.expect_token(&Token::LParen)
            .map_err(|e| parser_error(src, e, at, help))?;
        let cols = p
            .parse_comma_separated(|p| p.parse_identifier())
            .map_err(|e| parser_error(src, e, at, help))?;
        p.expect_token(&Token::RParen)
            .map_err(|e| parser_error(src, e, at, help))?;
        Some(cols)
    } else {
        None
    };
    let query_tok = p.peek_token();
    let query = p
        .parse_query()
        .map_err(|e| parser_error(src, e, end, help))?;
    let rest = p.peek_token();
    if rest.token != Token::EOF {
        return Err(src
            .error_span(
                rest.span,
                format!("unexpected `{}` after the query", rest.token),
            )
            .with_help("end each statement with `;`")
            .into_error());
    }
    // The Developer Guide's HOTSPOTS application reads its table function with a plain SELECT;
    // the function's CURSOR(SELECT STREAM …) makes the query a streaming one.
    if !had_stream && machine_learning.is_none() {
        return Err(src
            .error_span(
                query_tok.span,
                "a pump's query must be a streaming query: `SELECT STREAM …`",
            )
            .with_help("write SELECT STREAM instead of SELECT")
            .into_error());
    }
    Ok(CreatePump {
        name,
        or_replace: false,
        target,
        target_at: target_tok.span.start,
        columns,
        query,
        at,
        query_at: query_tok.span.start,
        stagger_ms,
        windows,
        tsort,
        table_function,
        machine_learning,
    })
}

/// `TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(query), 'column', k, seconds))` and
/// `TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(query), 'column', seconds))` (KDA's windowed table
/// functions, which sqlparser cannot parse) become a subquery that groups `query` by
/// `STEP(ROWTIME BY INTERVAL 'seconds' SECOND)`: by the column too with `COUNT(*) AS
/// MOST_FREQUENT_VALUES` (the planner keeps the k largest counts of each window), or with
/// `COUNT(DISTINCT column) AS NUMBER_OF_DISTINCT_ITEMS`. KDA's counts are approximate beyond
/// 10,000 distinct items; these are exact.
fn windowed_table_functions(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Option<WindowedTableFunction>)> {
    let code: Vec<usize> = (0..tokens.len()).filter(|i| is_code(&tokens[*i])).collect();
    let tok = |j: usize| code.get(j).map(|i| &tokens[*i]);
    let Some(k) = (0..code.len()).find(|&k| {
        tok(k).is_some_and(|t| word_is(t, "TABLE"))
            && tok(k + 1).map(|t| &t.token) == Some(&Token::LParen)
            && tok(k + 2).is_some_and(|t| {
                word_is(t, "TOP_K_ITEMS_TUMBLING") || word_is(t, "COUNT_DISTINCT_ITEMS_TUMBLING")
            })
    }) else {
        return Ok((tokens, None));
    };
    let at = tokens[code[k]].span;
    let top_k = word_is(&tokens[code[k + 2]], "TOP_K_ITEMS_TUMBLING");
    let usage = if top_k {
        "write TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'column', k, seconds))"
    } else {
        "write TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'column', seconds))"
    };
    let err = |message: &str| src.error_span(at, message).with_help(usage).into_error();
    if tok(k + 3).map(|t| &t.token) != Some(&Token::LParen)
        || !tok(k + 4).is_some_and(|t| word_is(t, "CURSOR"))
        || tok(k + 5).map(|t| &t.token) != Some(&Token::LParen)
    {
        return Err(err("the first argument must be CURSOR(query)"));
    }
    // The cursor's query runs to its matching `)`.
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
    // , 'column' , [k ,] seconds ) )
    let rest: Vec<&Token> = code[cursor_end + 1..]
        .iter()
        .map(|i| &tokens[*i].token)
        .collect();
    let number = |t: &Token| match t {
        Token::Number(n, _) => n.parse::<u64>().ok().filter(|n| *n > 0),
        _ => None,
    };
    let (column, k_items, seconds, used) = match rest.as_slice() {
        [
            Token::Comma,
            Token::SingleQuotedString(c),
            Token::Comma,
            kk,
            Token::Comma,
            secs,
            Token::RParen,
            Token::RParen,
            ..,
        ] if top_k => {
            let kk = number(kk).ok_or_else(|| err("k must be a whole number above 0"))?;
            (c.clone(), Some(kk as usize), number(secs), 8)
        }
        [
            Token::Comma,
            Token::SingleQuotedString(c),
            Token::Comma,
            secs,
            Token::RParen,
            Token::RParen,
            ..,
        ] if !top_k => (c.clone(), None, number(secs), 6),
        _ => {
            return Err(err(
                "the arguments after CURSOR(…) are not as KDA documents them",
            ));
        }
    };
    let seconds =
        seconds.ok_or_else(|| err("the window size must be a whole number of seconds above 0"))?;
    let column = format!("\"{}\"", column.replace('"', "\"\""));
    let window = format!("STEP(TABLE_FUNCTION_INPUT.ROWTIME BY INTERVAL '{seconds}' SECOND)");
    let (head, tail) = if top_k {
        (
            format!("(SELECT STREAM {column}, COUNT(*) AS MOST_FREQUENT_VALUES FROM ("),
            format!(") AS TABLE_FUNCTION_INPUT GROUP BY {window}, {column})"),
        )
    } else {
        (
            format!("(SELECT STREAM COUNT(DISTINCT {column}) AS NUMBER_OF_DISTINCT_ITEMS FROM ("),
            format!(") AS TABLE_FUNCTION_INPUT GROUP BY {window})"),
        )
    };
    let close = cursor_end + used; // the last `)` of TABLE(…)
    let aliased = tok(close + 1).is_some_and(|t| {
        word_is(t, "AS") || matches!(&t.token, Token::Word(w) if w.keyword == datafusion::sql::sqlparser::keywords::Keyword::NoKeyword)
    });
    let tail = if aliased {
        tail
    } else {
        format!("{tail} AS TABLE_FUNCTION")
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
            // The cursor's query stays; TABLE ( NAME ( CURSOR ( and the arguments go.
            Some(j) if (k + 6..cursor_end).contains(&j) => out.push(t),
            Some(j) if (k..=close).contains(&j) => {}
            _ => out.push(t),
        }
    }
    let function = match k_items {
        Some(kk) => WindowedTableFunction::TopK(kk),
        None => WindowedTableFunction::CountDistinct,
    };
    Ok((out, Some(function)))
}
