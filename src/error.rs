//! The library's one error type, source texts, and diagnostics (`file:line:column` with a caret).

use std::fmt;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong before or while running an application.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The application's SQL cannot run: parse or plan error with its location.
    #[error("{0}")]
    Sql(Box<Diagnostic>),
    /// The application definition (schemas, inputs, outputs) is inconsistent.
    #[error("{0}")]
    Application(String),
    /// A command-line usage error.
    #[error("{0}")]
    Usage(String),
    /// `rowtime test`: some test files failed (each was reported).
    #[error("{0} test file(s) failed")]
    TestsFailed(usize),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Parser(#[from] ParserError),
}

impl Error {
    pub fn io(path: impl fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }

    /// True when the application itself was rejected (exit code 1); false for usage and I/O errors (2).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::Sql(_) | Error::Application(_) | Error::TestsFailed(_)
        )
    }
}

/// A message about a place in a source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based line and column; 0 when unknown.
    pub line: u64,
    pub column: u64,
    /// Number of characters to underline (at least 1).
    pub width: usize,
    /// The text of the offending line (empty when unknown).
    pub source_line: String,
    pub message: String,
    /// What to do instead.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `line:column` of `text` (the whole source file).
    pub fn at(
        file: &str,
        text: &str,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> Diagnostic {
        let source_line = if line > 0 {
            text.lines()
                .nth(line as usize - 1)
                .unwrap_or("")
                .to_string()
        } else {
            String::new()
        };
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            width: 1,
            source_line,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_width(mut self, width: usize) -> Diagnostic {
        self.width = width.max(1);
        self
    }

    pub fn into_error(self) -> Error {
        Error::Sql(Box::new(self))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)?;
        } else {
            writeln!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.line, self.column, self.message
            )?;
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let line = self.source_line.replace('\t', " ");
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {line}")?;
            let indent: String = line
                .chars()
                .take(self.column.saturating_sub(1) as usize)
                .map(|_| ' ')
                .collect();
            write!(f, "{pad} | {indent}{}", "^".repeat(self.width))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

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
    /// The text a span covers (lines and columns count from 1, columns in characters).
    pub fn slice(&self, span: Span) -> Option<&str> {
        let offset = |l: datafusion::sql::sqlparser::tokenizer::Location| {
            let line_start = if l.line <= 1 {
                0
            } else {
                self.text
                    .match_indices('\n')
                    .nth(l.line as usize - 2)
                    .map(|(i, _)| i + 1)?
            };
            let line = &self.text[line_start..];
            let column = l.column.max(1) as usize - 1;
            Some(
                line_start
                    + line
                        .char_indices()
                        .nth(column)
                        .map_or(line.len(), |(i, _)| i),
            )
        };
        self.text.get(offset(span.start)?..offset(span.end)?)
    }

    pub fn error_span(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let width = if span.end.line == span.start.line && span.end.column > span.start.column {
            (span.end.column - span.start.column) as usize
        } else {
            1
        };
        self.error_at(span.start, message).with_width(width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_caret_under_the_column() {
        let text = "SELECT STREAM a\nFROM s WHERE x > 1";
        let d = Diagnostic::at("app.sql", text, 2, 14, "column `X` not found")
            .with_width(1)
            .with_help("columns are A, B");
        assert_eq!(
            d.to_string(),
            "app.sql:2:14: error: column `X` not found\n  |\n2 | FROM s WHERE x > 1\n  |              ^\n  = help: columns are A, B"
        );
    }
}
