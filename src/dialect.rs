//! The KDA SQL dialect: application code in, a list of [`AppStatement`]s out.
//!
//! KDA application code is a sequence of `CREATE [OR REPLACE] STREAM` and
//! `CREATE [OR REPLACE] PUMP … AS INSERT INTO … SELECT STREAM …` statements separated by `;`.
//! sqlparser parses the queries; this module adds what it lacks:
//! - [`KdaDialect`] parses `STEP(x BY interval)` (as a call `STEP(x, interval)`);
//! - `WINDOWED BY STAGGER (PARTITION BY keys RANGE INTERVAL …)` becomes `GROUP BY keys`, with the
//!   window length kept on the pump;
//! - a token pre-pass folds unquoted identifiers to upper case (KDA's rule; quoted names keep
//!   their case) and removes the `STREAM` keyword after `SELECT`, remembering that it was there;
//! - `CREATE STREAM` and `CREATE PUMP` are read here, token by token, with their locations.
//!
//! Every error carries `file:line:column`, the offending line and a caret.

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Query,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use crate::error::{Diagnostic, Error, Result};
use crate::types::{ALLOWED_TYPES, SqlType};

/// A source text and the name to show in messages (a path, or `<name>.ApplicationCode`).
#[derive(Debug, Clone)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceText {
        SourceText {
            name: name.into(),
            text: text.into(),
        }
    }

    /// An error at a location of this text.
    pub fn error_at(&self, at: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.name, &self.text, at.line, at.column, message)
    }

    /// An error underlining a span of this text.
    pub fn error_span(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let width = if span.end.line == span.start.line && span.end.column > span.start.column {
            (span.end.column - span.start.column) as usize
        } else {
            1
        };
        self.error_at(span.start, message).with_width(width)
    }
}

/// One statement of application code.
#[derive(Debug, Clone)]
pub enum AppStatement {
    CreateStream(CreateStream),
    CreatePump(CreatePump),
    CreateFunction(Box<crate::create_function::CreateFunction>),
}

#[derive(Debug, Clone)]
pub struct CreateStream {
    pub name: String,
    pub columns: Vec<StreamColumn>,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub struct StreamColumn {
    pub name: String,
    pub sql_type: SqlType,
    pub not_null: bool,
    pub at: Location,
}

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
    /// `FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(…), …))` or `COUNT_DISTINCT_ITEMS_TUMBLING`: the
    /// call became a windowed GROUP BY subquery; what the planner must add to it.
    pub table_function: Option<WindowedTableFunction>,
}

/// A KDA windowed table function, rewritten into a tumbling-window subquery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowedTableFunction {
    /// Keep the `k` groups with the highest count in each window.
    TopK(usize),
    /// The subquery counts DISTINCT values, which a windowed aggregate otherwise may not.
    CountDistinct,
}

/// A window on one stream of a stream-to-stream join.
#[derive(Debug, Clone)]
pub struct TableWindow {
    /// The stream's name as written (folded to upper case unless quoted).
    pub table: String,
    /// `OVER (RANGE INTERVAL …)`: the range in milliseconds.
    pub range_ms: Option<i64>,
    /// `OVER w`: the name of a window of the query's WINDOW clause.
    pub named: Option<String>,
    pub at: Span,
}

/// sqlparser dialect for KDA: generic identifier rules, `"quoted"` identifiers, and `STEP(x BY y)`.
#[derive(Debug, Default)]
pub struct KdaDialect;

impl Dialect for KdaDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_unicode_string_literal(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let is_step = matches!(&parser.peek_token().token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("STEP"))
            && parser.peek_nth_token(1).token == Token::LParen;
        if !is_step {
            return None;
        }
        Some((|| {
            parser.next_token();
            parser.expect_token(&Token::LParen)?;
            let value = parser.parse_expr()?;
            parser.expect_keyword(Keyword::BY)?;
            let width = parser.parse_expr()?;
            parser.expect_token(&Token::RParen)?;
            Ok(function_call("STEP", vec![value, width]))
        })())
    }
}

/// Builds the AST of a plain function call `name(args…)`.
pub fn function_call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Parses application code into statements.
pub fn parse_application(src: &SourceText) -> Result<Vec<AppStatement>> {
    let dialect = KdaDialect;
    let tokens = Tokenizer::new(&dialect, &src.text)
        .tokenize_with_location()
        .map_err(|e| {
            let at = Location {
                line: e.location.line,
                column: e.location.column,
            };
            src.error_at(at, e.message.clone()).into_error()
        })?;
    let tokens = fold_case(tokens);
    let mut statements = Vec::new();
    for tokens in split_statements(tokens) {
        statements.push(parse_statement(src, tokens)?);
    }
    if statements.is_empty() {
        return Err(Diagnostic::at(
            &src.name,
            &src.text,
            0,
            0,
            "the application code has no statements",
        )
        .with_help("write CREATE STREAM and CREATE PUMP statements separated by `;`")
        .into_error());
    }
    Ok(statements)
}

/// Upper-cases unquoted words (identifiers fold to upper case in KDA; keywords are case-blind anyway).
fn fold_case(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
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
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
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

const STATEMENT_HELP: &str = "KDA application code is made of `CREATE [OR REPLACE] STREAM name (column type, …)`, \
`CREATE [OR REPLACE] PUMP name AS INSERT INTO stream SELECT STREAM …` and `CREATE [OR REPLACE] FUNCTION …` statements, separated by `;`";

fn parse_statement(src: &SourceText, tokens: Vec<TokenWithSpan>) -> Result<AppStatement> {
    let code: Vec<&TokenWithSpan> = tokens.iter().filter(|t| is_code(t)).collect();
    let first = code[0];
    let start = first.span.start;
    let mut i = 0;
    if !word_is(code[i], "CREATE") {
        return Err(src
            .error_span(
                first.span,
                format!("unexpected `{}` at the start of a statement", first.token),
            )
            .with_help(STATEMENT_HELP)
            .into_error());
    }
    i += 1;
    let or_replace =
        code.len() > i + 1 && word_is(code[i], "OR") && word_is(code[i + 1], "REPLACE");
    if or_replace {
        i += 2;
    }
    let kind = code.get(i).copied();
    match kind {
        Some(t) if word_is(t, "STREAM") => {
            parse_create_stream(src, &code[i + 1..], start).map(AppStatement::CreateStream)
        }
        Some(t) if word_is(t, "FUNCTION") => {
            let pos = tokens
                .iter()
                .position(|x| std::ptr::eq(x, t))
                .expect("token from this list");
            crate::create_function::parse(src, tokens[pos + 1..].to_vec(), start, or_replace)
                .map(|f| AppStatement::CreateFunction(Box::new(f)))
        }
        Some(t) if word_is(t, "PUMP") => {
            // Hand the parser everything after `PUMP`, with `SELECT STREAM` turned into `SELECT`.
            let pos = tokens
                .iter()
                .position(|x| std::ptr::eq(x, t))
                .expect("token from this list");
            parse_create_pump(src, tokens[pos + 1..].to_vec(), start)
                .map(|p| AppStatement::CreatePump(CreatePump { or_replace, ..p }))
        }
        Some(t) => Err(src
            .error_span(t.span, format!("`CREATE {}` is not supported", t.token))
            .with_help(
                "only CREATE STREAM and CREATE PUMP are supported (CREATE FUNCTION is not yet)",
            )
            .into_error()),
        None => Err(src
            .error_span(first.span, "incomplete CREATE statement")
            .with_help(STATEMENT_HELP)
            .into_error()),
    }
}

fn parse_create_stream(
    src: &SourceText,
    code: &[&TokenWithSpan],
    at: Location,
) -> Result<CreateStream> {
    let mut it = code.iter().copied().peekable();
    let name_tok = it
        .next()
        .ok_or_else(|| src.error_at(at, "CREATE STREAM needs a name").into_error())?;
    let name = match &name_tok.token {
        Token::Word(w) => w.value.clone(),
        other => {
            return Err(src
                .error_span(
                    name_tok.span,
                    format!("expected a stream name, found `{other}`"),
                )
                .into_error());
        }
    };
    match it.next() {
        Some(t) if t.token == Token::LParen => {}
        Some(t) => {
            return Err(src
                .error_span(
                    t.span,
                    format!("expected `(` and the column list, found `{}`", t.token),
                )
                .with_help("write CREATE STREAM name (column type, …)")
                .into_error());
        }
        None => {
            return Err(src
                .error_span(name_tok.span, "CREATE STREAM needs a column list")
                .with_help("write CREATE STREAM name (column type, …)")
                .into_error());
        }
    }
    let mut columns: Vec<StreamColumn> = Vec::new();
    loop {
        let col_tok = it.next().ok_or_else(|| {
            src.error_at(name_tok.span.start, "unclosed column list")
                .into_error()
        })?;
        let col_name = match &col_tok.token {
            Token::Word(w) => w.value.clone(),
            other => {
                return Err(src
                    .error_span(
                        col_tok.span,
                        format!("expected a column name, found `{other}`"),
                    )
                    .into_error());
            }
        };
        if col_name == "ROWTIME" {
            return Err(src
                .error_span(
                    col_tok.span,
                    "ROWTIME is a system column of every stream and cannot be declared",
                )
                .with_help("remove it from the column list; every stream has ROWTIME")
                .into_error());
        }
        if columns.iter().any(|c| c.name == col_name) {
            return Err(src
                .error_span(
                    col_tok.span,
                    format!("column `{col_name}` is declared twice"),
                )
                .into_error());
        }
        // The type: every token up to `,` or `)` at depth 0.
        let mut depth = 0;
        let mut type_tokens: Vec<&TokenWithSpan> = Vec::new();
        let closed = loop {
            let Some(t) = it.next() else { break None };
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break Some(true),
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => break Some(false),
                _ => {}
            }
            type_tokens.push(t);
        };
        let Some(closed) = closed else {
            return Err(src
                .error_span(col_tok.span, "unclosed column list: expected `)`")
                .into_error());
        };
        let mut not_null = false;
        if type_tokens.len() >= 2
            && word_is(type_tokens[type_tokens.len() - 2], "NOT")
            && word_is(type_tokens[type_tokens.len() - 1], "NULL")
        {
            not_null = true;
            type_tokens.truncate(type_tokens.len() - 2);
        }
        let Some(first_type) = type_tokens.first() else {
            return Err(src
                .error_span(col_tok.span, format!("column `{col_name}` has no type"))
                .with_help(format!("allowed types: {ALLOWED_TYPES}"))
                .into_error());
        };
        let type_text: String = type_tokens
            .iter()
            .map(|t| t.token.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let sql_type = SqlType::parse(
            &type_text
                .replace(" ( ", "(")
                .replace(" )", ")")
                .replace(" , ", ","),
        )
        .map_err(|e| {
            src.error_span(first_type.span, format!("column `{col_name}`: {e}"))
                .into_error()
        })?;
        columns.push(StreamColumn {
            name: col_name,
            sql_type,
            not_null,
            at: col_tok.span.start,
        });
        if closed {
            break;
        }
    }
    if let Some(t) = it.next() {
        if word_is(t, "DESCRIPTION") {
            it.next();
        } else {
            return Err(src
                .error_span(
                    t.span,
                    format!("unexpected `{}` after the column list", t.token),
                )
                .with_help("end the statement with `;`")
                .into_error());
        }
    }
    if let Some(t) = it.next() {
        return Err(src
            .error_span(
                t.span,
                format!("unexpected `{}` at the end of CREATE STREAM", t.token),
            )
            .into_error());
    }
    Ok(CreateStream { name, columns, at })
}

fn parse_create_pump(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
    at: Location,
) -> Result<CreatePump> {
    let dialect = KdaDialect;
    let (tokens, table_function) = windowed_table_functions(src, tokens)?;
    let (tokens, had_stream) = strip_select_stream(tokens);
    let (tokens, stagger_ms) = stagger_to_group_by(src, tokens)?;
    let (tokens, windows) = table_windows(src, tokens)?;
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
    if !had_stream {
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
        table_function,
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

/// Rewrites `WINDOWED BY STAGGER (PARTITION BY k1, k2 RANGE INTERVAL 'n' unit)` (which
/// sqlparser cannot parse) into `GROUP BY k1, k2`, returning the window length in milliseconds.
fn stagger_to_group_by(
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
        "SECOND" => 1000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return Err("unit must be SECOND, MINUTE, HOUR or DAY".into()),
    };
    if n <= 0 {
        return Err("must be positive".into());
    }
    Ok(n * unit_ms)
}

/// Removes `OVER (…)` and `OVER name` after a stream in FROM (a stream-to-stream join's window,
/// which sqlparser cannot parse) and returns the windows found, in order.
fn table_windows(
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
                    range_ms: None,
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
                let range_ms = join_window_ms(&inside).map_err(err)?;
                windows.push(TableWindow {
                    table: table.value.clone(),
                    range_ms: Some(range_ms),
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
pub fn join_window_text_ms(text: &str) -> std::result::Result<i64, String> {
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

/// The body of a join window, `[ORDER BY ROWTIME] RANGE INTERVAL 'n' unit PRECEDING`, as
/// milliseconds; an error says what KDA accepts.
pub fn join_window_ms(tokens: &[&Token]) -> std::result::Result<i64, String> {
    let word = |t: &Token, text: &str| matches!(t, Token::Word(w) if w.value == text);
    let mut rest = tokens;
    if rest.len() >= 3 && word(rest[0], "ORDER") && word(rest[1], "BY") {
        if !word(rest[2], "ROWTIME") {
            return Err("a join window can be ordered only by ROWTIME".into());
        }
        rest = &rest[3..];
    }
    match rest.first() {
        Some(t) if word(t, "PARTITION") => {
            return Err("a join window cannot have PARTITION BY (KDA does not allow it)".into());
        }
        Some(t) if word(t, "ROWS") => {
            return Err("a join window must be a time range: ROWS windows cannot be joined".into());
        }
        Some(t) if word(t, "RANGE") => {}
        _ => return Err("a join window must be RANGE INTERVAL 'n' unit PRECEDING".into()),
    }
    match rest.last() {
        Some(t) if word(t, "PRECEDING") && rest.len() == 5 => {}
        Some(t) if word(t, "FOLLOWING") => {
            return Err("FOLLOWING join windows are not supported yet: use RANGE INTERVAL 'n' unit PRECEDING on the other stream".into());
        }
        _ => return Err("a join window must be RANGE INTERVAL 'n' unit PRECEDING".into()),
    }
    interval_ms(&rest[1..4]).map_err(|m| format!("the join window's range {m}"))
}

/// `NTH_VALUE(x, n) FROM LAST` (which sqlparser cannot parse) becomes `NTH_VALUE(x, -(n))`,
/// DataFusion's spelling; `FROM FIRST`, the default, is dropped.
fn nth_value_from(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
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
fn trim_default_character(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
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
fn substring_similar(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
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
fn strip_select_stream(tokens: Vec<TokenWithSpan>) -> (Vec<TokenWithSpan>, bool) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<AppStatement>> {
        parse_application(&SourceText::new("app.sql", text))
    }

    #[test]
    fn trim_without_a_character_trims_spaces() {
        let stmts = parse(
            "CREATE PUMP P AS INSERT INTO D SELECT STREAM TRIM(BOTH FROM a), TRIM (leading from b), \
             TRIM(TRAILING FROM c), TRIM(FROM d), TRIM(BOTH 'x' FROM e), TRIM(f) FROM S;",
        )
        .unwrap();
        let AppStatement::CreatePump(p) = &stmts[0] else {
            panic!("not a pump")
        };
        assert_eq!(
            p.query.to_string(),
            "SELECT TRIM(BOTH ' ' FROM A), TRIM(LEADING ' ' FROM B), TRIM(TRAILING ' ' FROM C), \
             TRIM(' ' FROM D), TRIM(BOTH 'x' FROM E), TRIM(F) FROM S"
        );
    }

    #[test]
    fn parses_streams_and_pumps_with_comments_and_case_folding() {
        let stmts = parse(
            "-- a comment\nCREATE OR REPLACE STREAM \"DEST\" (ticker_symbol VARCHAR(4), \"Price\" DECIMAL(8, 2) NOT NULL, n integer);\n\
             /* block */ create or replace pump \"P\" as insert into \"DEST\" (ticker_symbol, \"Price\")\n\
             select stream ticker_symbol, step(s.rowtime by interval '1' minute) from \"SOURCE_SQL_STREAM_001\" as s;",
        )
        .unwrap();
        assert_eq!(stmts.len(), 2);
        let AppStatement::CreateStream(s) = &stmts[0] else {
            panic!("not a stream")
        };
        assert_eq!(s.name, "DEST");
        assert_eq!(s.columns[0].name, "TICKER_SYMBOL");
        assert_eq!(s.columns[1].name, "Price");
        assert_eq!(
            s.columns[1].sql_type,
            SqlType::Decimal {
                precision: 8,
                scale: 2
            }
        );
        assert!(s.columns[1].not_null);
        assert_eq!(s.columns[2].sql_type, SqlType::Integer);
        let AppStatement::CreatePump(p) = &stmts[1] else {
            panic!("not a pump")
        };
        assert_eq!(p.name, "P");
        assert_eq!(p.target, "DEST");
        assert_eq!(p.columns.as_ref().unwrap().len(), 2);
        let q = p.query.to_string();
        assert!(q.starts_with("SELECT TICKER_SYMBOL, STEP(S.ROWTIME, INTERVAL '1' MINUTE) FROM \"SOURCE_SQL_STREAM_001\""), "{q}");
    }

    #[test]
    fn rejects_a_pump_without_select_stream() {
        let err = parse("CREATE PUMP p AS INSERT INTO d SELECT a FROM s;")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("app.sql:1:32: error: a pump's query must be a streaming query"),
            "{err}"
        );
        assert!(err.contains("SELECT STREAM instead of SELECT"), "{err}");
    }

    #[test]
    fn reports_syntax_errors_with_line_column_and_caret() {
        let err = parse("CREATE STREAM d (a INTEGER);\nCREATE PUMP p AS INSERT INTO d\nSELECT STREAM a FROM s WHERE;")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("app.sql:3:"), "{err}");
        assert!(err.contains("3 | SELECT STREAM a FROM s WHERE"), "{err}");
        assert!(err.contains('^'), "{err}");
    }

    #[test]
    fn rejects_unknown_types_and_statements() {
        let err = parse("CREATE STREAM d (a STRING);")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("app.sql:1:20: error: column `A`: unknown type `STRING`"),
            "{err}"
        );
        let err = parse("DROP STREAM d;").unwrap_err().to_string();
        assert!(
            err.contains("unexpected `DROP` at the start of a statement"),
            "{err}"
        );
        let err = parse("CREATE TABLE t (a INTEGER);")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`CREATE TABLE` is not supported"), "{err}");
        let err = parse("CREATE STREAM d (ROWTIME TIMESTAMP);")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROWTIME is a system column"), "{err}");
    }
}
