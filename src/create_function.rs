//! `CREATE [OR REPLACE] FUNCTION name(p type, …) RETURNS type [LANGUAGE SQL] [CONTAINS SQL]
//! [RETURNS NULL ON NULL INPUT | CALLED ON NULL INPUT] [[NOT] DETERMINISTIC] RETURN expr`: KDA's
//! SQL functions (SQLREF `sql-reference-create-function.html`; FEATURES §8.3). A call is replaced,
//! before planning, by the body with each parameter replaced by its argument (in parentheses),
//! cast to the declared return type; with `RETURNS NULL ON NULL INPUT`, a NULL argument gives
//! NULL. Functions may call functions defined before them.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Query, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Span, TokenWithSpan};

use crate::dialect::{KdaDialect, SourceText, is_code, word_is};
use crate::error::Result;

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
pub fn parse(
    src: &SourceText,
    tokens: Vec<TokenWithSpan>,
    at: Location,
    or_replace: bool,
) -> Result<CreateFunction> {
    let help = "write CREATE FUNCTION name(p TYPE, …) RETURNS TYPE CONTAINS SQL RETURN expression";
    let end = crate::dialect::statement_end(&tokens, at);
    let error = |e: datafusion::sql::sqlparser::parser::ParserError, at: Location| {
        crate::dialect::parser_error(src, e, at, Some(help))
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

/// Where a call cannot be expanded.
pub struct ExpandError {
    pub span: Span,
    pub message: String,
}

/// Replaces every call of `functions` in `query` by the function's body, innermost last, up to a
/// depth that only a function calling itself would reach.
pub fn expand(
    query: &mut Query,
    functions: &[CreateFunction],
) -> std::result::Result<(), ExpandError> {
    if functions.is_empty() {
        return Ok(());
    }
    for _ in 0..16 {
        let mut expanded = false;
        let flow = visit_expressions_mut(query, |expr| {
            let Expr::Function(f) = expr else {
                return ControlFlow::Continue(());
            };
            let called = f.name.to_string();
            let Some(def) = functions.iter().rev().find(|d| d.name == called) else {
                return ControlFlow::Continue(());
            };
            let args = crate::functions::unnamed_args(f);
            if args.len() != def.params.len() {
                use datafusion::sql::sqlparser::ast::Spanned;
                return ControlFlow::Break(ExpandError {
                    span: f.name.span(),
                    message: format!(
                        "{} takes {} argument(s) ({}), not {}",
                        def.name,
                        def.params.len(),
                        def.params.join(", "),
                        args.len()
                    ),
                });
            }
            *expr = instantiate(def, &args);
            expanded = true;
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(e) = flow {
            return Err(e);
        }
        if !expanded {
            return Ok(());
        }
    }
    Err(ExpandError {
        span: Span::empty(),
        message:
            "a function calls itself (directly or through others): SQL functions cannot recurse"
                .into(),
    })
}

/// The body of `def` with its parameters replaced by `args`, cast to its type.
fn instantiate(def: &CreateFunction, args: &[Expr]) -> Expr {
    let mut body = def.body.clone();
    let _ = visit_expressions_mut(&mut body, |e| {
        if let Expr::Identifier(id) = e
            && let Some(i) = def.params.iter().position(|p| *p == id.value)
        {
            *e = Expr::Nested(Box::new(args[i].clone()));
        }
        ControlFlow::<()>::Continue(())
    });
    let mut result = Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Nested(Box::new(body))),
        data_type: def.returns.clone(),
        array: false,
        format: None,
    };
    if def.null_on_null && !args.is_empty() {
        // CASE WHEN a1 IS NULL OR a2 IS NULL … THEN NULL ELSE body END
        let any_null = args
            .iter()
            .map(|a| Expr::IsNull(Box::new(Expr::Nested(Box::new(a.clone())))))
            .reduce(|a, b| Expr::BinaryOp {
                left: Box::new(a),
                op: datafusion::sql::sqlparser::ast::BinaryOperator::Or,
                right: Box::new(b),
            })
            .expect("at least one argument");
        result = Expr::Case {
            case_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            end_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                condition: any_null,
                result: Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(Expr::value(Value::Null)),
                    data_type: def.returns.clone(),
                    array: false,
                    format: None,
                },
            }],
            else_result: Some(Box::new(result)),
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::{AppStatement, parse_application};

    fn functions(code: &str) -> Vec<CreateFunction> {
        parse_application(&SourceText::new("app.sql", code))
            .unwrap()
            .into_iter()
            .filter_map(|s| match s {
                AppStatement::CreateFunction(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    fn query(sql: &str) -> Query {
        Parser::new(&KdaDialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_query()
            .map(|q| *q)
            .unwrap()
    }

    #[test]
    fn calls_become_the_body_with_arguments_in_parentheses() {
        let fs = functions(
            "CREATE FUNCTION ADD2(x INTEGER, y INTEGER) RETURNS INTEGER LANGUAGE SQL CONTAINS SQL DETERMINISTIC RETURN x + y;",
        );
        let mut q = query("SELECT ADD2(a * 2, 1) FROM s");
        expand(&mut q, &fs).ok().unwrap();
        assert_eq!(
            q.to_string(),
            "SELECT CAST(((a * 2) + (1)) AS INTEGER) FROM s"
        );
    }

    #[test]
    fn a_function_calling_itself_is_an_error() {
        let fs =
            functions("CREATE FUNCTION F(x INTEGER) RETURNS INTEGER CONTAINS SQL RETURN F(x) + 1;");
        let mut q = query("SELECT F(1) FROM s");
        let e = expand(&mut q, &fs).err().unwrap();
        assert!(
            e.message.contains("SQL functions cannot recurse"),
            "{}",
            e.message
        );
    }

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
