//! `CREATE [OR REPLACE] FUNCTION name(p type, …) RETURNS type [LANGUAGE SQL] [CONTAINS SQL]
//! [RETURNS NULL ON NULL INPUT | CALLED ON NULL INPUT] [[NOT] DETERMINISTIC] RETURN expr`: KDA's
//! SQL functions, read here; the planner expands their calls (`plan/rewrite.rs`).

use datafusion::sql::sqlparser::ast::{DataType, Expr};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, TokenWithSpan};

use super::KdaDialect;
use super::tokens::{is_code, parser_error, statement_end, word_is};
use crate::error::{Result, SourceText};

/// A `CREATE FUNCTION` statement.
#[derive(Debug, Clone)]
pub struct CreateFunction {
    pub name: String,
    pub or_replace: bool,
    pub params: Vec<String>,
    pub returns: DataType,
    pub null_on_null: bool,
    pub body: Expr,
    pub at: Location,
}

/// Parses the tokens after `FUNCTION`.
pub(crate) fn parse(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
    at: Location,
    or_replace: bool,
) -> Result<CreateFunction> {
    let help = "write CREATE FUNCTION name(p TYPE, …) RETURNS TYPE CONTAINS SQL RETURN expression";
    let end = statement_end(&tokens, at);
    let error = |e: datafusion::sql::sqlparser::parser::ParserError, at: Location| {
        parser_error(src, e, at, Some(help))
    };
    let mut p = Parser::new(&KdaDialect).with_tokens_with_locations(tokens);
    let name = p.parse_identifier().map_err(|e| error(e, at))?.value;
    p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::LParen)
        .map_err(|e| error(e, at))?;
    let mut params = Vec::new();
    if !p.consume_token(&datafusion::sql::sqlparser::tokenizer::Token::RParen) {
        loop {
            let param = p.parse_identifier().map_err(|e| error(e, at))?.value;
            p.parse_data_type().map_err(|e| error(e, at))?;
            params.push(param);
            if p.consume_token(&datafusion::sql::sqlparser::tokenizer::Token::RParen) {
                break;
            }
            p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::Comma)
                .map_err(|e| error(e, at))?;
        }
    }
    let word = |p: &Parser, w: &str| word_is(&p.peek_token(), w);
    if !word(&p, "RETURNS") {
        return Err(src
            .error_span(
                p.peek_token().span,
                "expected RETURNS and the function's type",
            )
            .with_help(help)
            .into_error());
    }
    p.next_token();
    let returns = p.parse_data_type().map_err(|e| error(e, at))?;
    // The clauses before RETURN.
    let mut null_on_null = false;
    loop {
        if word(&p, "RETURN") {
            p.next_token();
            break;
        }
        let t = p.next_token();
        if !is_code(&t) || t.token == datafusion::sql::sqlparser::tokenizer::Token::EOF {
            return Err(src
                .error_at(end, "expected RETURN and the function's expression")
                .with_help(help)
                .into_error());
        }
        if word_is(&t, "NULL") && word(&p, "ON") {
            null_on_null = true; // RETURNS NULL ON NULL INPUT
        }
    }
    let body = p.parse_expr().map_err(|e| error(e, end))?;
    let rest = p.peek_token();
    if rest.token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(src
            .error_span(
                rest.span,
                format!(
                    "unexpected `{}` after the function's expression",
                    rest.token
                ),
            )
            .with_help("end each statement with `;`")
            .into_error());
    }
    Ok(CreateFunction {
        name,
        or_replace,
        params,
        returns,
        null_on_null,
        body,
        at,
    })
}

#[cfg(test)]
mod tests {
    use crate::dialect::parse_application;
    use crate::error::SourceText;

    #[test]
    fn a_statement_without_return_says_what_is_missing() {
        let e = parse_application(&SourceText::new(
            "app.sql",
            "CREATE FUNCTION F(x INTEGER) RETURNS INTEGER CONTAINS SQL;",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("expected RETURN and the function's expression"),
            "{e}"
        );
    }
}
