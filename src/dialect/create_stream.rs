//! `CREATE [OR REPLACE] STREAM name (column type [NOT NULL], …) [DESCRIPTION '…']`, read token by
//! token: every column's name, type and location. ROWTIME cannot be declared (every stream has it).

use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};

use super::tokens::word_is;
use crate::error::{Result, SourceText};
use crate::types::{ALLOWED_TYPES, SqlType};

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

pub(crate) fn parse_create_stream(
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
