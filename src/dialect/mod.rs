//! The KDA SQL dialect: application code in, a list of [`AppStatement`]s out (sqlparser only).
//!
//! KDA application code is a sequence of `CREATE [OR REPLACE] STREAM`, `CREATE [OR REPLACE]
//! FUNCTION` and `CREATE [OR REPLACE] PUMP … AS INSERT INTO … SELECT STREAM …` statements
//! separated by `;`. sqlparser parses the queries; this stage adds what it lacks. Every error
//! carries `file:line:column`, the offending line and a caret.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`AppStatement`], [`KdaDialect`] (`STEP(x BY y)`), [`parse_application`] |
//! | `tokens.rs` | token passes: case folding, `u&'…'` literals, `CEILING`, `(a - b) qualifier`, `SELECT STREAM`, `NTH_VALUE … FROM LAST`, `TRIM(FROM s)`, `SUBSTRING … SIMILAR`; statement splitting, parser errors |
//! | `ast.rs` | building and reading sqlparser ASTs: `function_call`, `unnamed_args` |
//! | `create_stream.rs` | `CREATE STREAM name (column type [NOT NULL], …)` |
//! | `create_pump.rs` | `CREATE PUMP … AS INSERT INTO … SELECT STREAM …`, KDA's windowed table functions |
//! | `group_rank.rs` | `TABLE(GROUP_RANK(CURSOR(…), …))` as a subquery with a marked rank column |
//! | `machine_learning.rs` | `TABLE(RANDOM_CUT_FOREST(CURSOR(…), …))`, `RANDOM_CUT_FOREST_WITH_EXPLANATION`, `HOTSPOTS`: arguments checked, the call made a subquery |
//! | `windows.rs` | `WINDOWED BY STAGGER (…)` and `FROM s OVER (…)` join windows, cut out of the tokens; T-sort's `WITHIN`; the N-second window idiom |
//! | `create_function.rs` | `CREATE FUNCTION name(p type, …) RETURNS type … RETURN expr` |
//!
//! Shape to imitate: `create_stream.rs` (a statement read token by token, each error at its
//! token). Tests: `cargo test --lib dialect`.

mod ast;
mod create_function;
mod create_pump;
mod create_stream;
mod group_rank;
mod machine_learning;
mod tokens;
mod windows;

pub use ast::{function_call, unnamed_args};
pub use create_function::CreateFunction;
pub use create_pump::{CreatePump, WindowedTableFunction};
pub use create_stream::{CreateStream, StreamColumn};
pub use group_rank::GROUP_RANK;
pub use machine_learning::{
    EXPLAINED_SCORE, EXPLANATION, FOREST_SCORE, ForestArguments, HOTSPOTS_RESULT,
    MachineLearningCall,
};
pub use windows::{FLOOR_ELAPSED, JoinRange, TableWindow, join_window_ms, join_window_text_ms};

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Diagnostic, Result, SourceText};
pub use tokens::DATETIME_MINUS_CALL;
use tokens::{
    ceiling_is_ceil, datetime_difference, fold_case, is_code, split_statements, unicode_literals,
    word_is,
};

/// One statement of application code.
#[derive(Debug, Clone)]
pub enum AppStatement {
    CreateStream(CreateStream),
    CreatePump(Box<CreatePump>),
    CreateFunction(Box<CreateFunction>),
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
    let tokens = unicode_literals(src, tokens)?;
    let tokens = ceiling_is_ceil(tokens);
    // The N-second window idiom `FLOOR((ts - origin) SECOND / n TO SECOND)` first: it holds a
    // `(a - b) qualifier` that the general rewrite would otherwise take.
    let tokens = windows::elapsed_window_idiom(tokens);
    let tokens = datetime_difference(tokens);
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
            create_stream::parse_create_stream(src, &code[i + 1..], start)
                .map(AppStatement::CreateStream)
        }
        Some(t) if word_is(t, "FUNCTION") => {
            let pos = tokens
                .iter()
                .position(|x| std::ptr::eq(x, t))
                .expect("token from this list");
            create_function::parse(src, tokens[pos + 1..].to_vec(), start, or_replace)
                .map(|f| AppStatement::CreateFunction(Box::new(f)))
        }
        Some(t) if word_is(t, "PUMP") => {
            // Hand the parser everything after `PUMP`, with `SELECT STREAM` turned into `SELECT`.
            let pos = tokens
                .iter()
                .position(|x| std::ptr::eq(x, t))
                .expect("token from this list");
            create_pump::parse_create_pump(src, tokens[pos + 1..].to_vec(), start)
                .map(|p| AppStatement::CreatePump(Box::new(CreatePump { or_replace, ..p })))
        }
        Some(t) => Err(src
            .error_span(t.span, format!("`CREATE {}` is not supported", t.token))
            .with_help(
                "KDA application code has CREATE STREAM, CREATE PUMP and CREATE FUNCTION; a reference \
                 table comes from the application's reference data source (--reference TABLE=PATH)",
            )
            .into_error()),
        None => Err(src
            .error_span(first.span, "incomplete CREATE statement")
            .with_help(STATEMENT_HELP)
            .into_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SqlType;

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
