//! KDA SQL data types and their Arrow representation.
//!
//! | KDA type            | Arrow type                      |
//! |---------------------|---------------------------------|
//! | TINYINT … BIGINT    | Int8 … Int64                    |
//! | REAL / DOUBLE       | Float32 / Float64               |
//! | DECIMAL(p,s)        | Decimal128(p,s)                 |
//! | CHAR(n)/VARCHAR(n)  | Utf8 (the length is kept here)  |
//! | BOOLEAN             | Boolean                         |
//! | TIMESTAMP           | Timestamp(Millisecond, None)    |
//! | DATE / TIME         | Date32 / Time32(Millisecond)    |
//! | BINARY/VARBINARY(n) | Binary                          |

use std::fmt;

use arrow::datatypes::{DataType, TimeUnit};

/// A column type as written in KDA SQL or in an input schema's `SqlType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Decimal { precision: u8, scale: i8 },
    Char(Option<u32>),
    Varchar(Option<u32>),
    Boolean,
    Timestamp,
    Date,
    Time,
    Binary(Option<u32>),
    Varbinary(Option<u32>),
}

/// The type names accepted, for error messages.
pub const ALLOWED_TYPES: &str = "TINYINT, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, DECIMAL(p,s), \
CHAR(n), VARCHAR(n), BOOLEAN, TIMESTAMP, DATE, TIME, BINARY(n), VARBINARY(n)";

impl SqlType {
    /// Parses a type name such as `VARCHAR(4)`, `DECIMAL(5,2)`, `double precision` (case-insensitive).
    pub fn parse(text: &str) -> Result<SqlType, String> {
        let t = text.trim();
        let (name, args) = match t.find('(') {
            Some(open) => {
                let close = t
                    .rfind(')')
                    .filter(|c| *c > open && t[*c + 1..].trim().is_empty())
                    .ok_or_else(|| format!("type `{t}` has an unclosed `(`"))?;
                (t[..open].trim(), Some(&t[open + 1..close]))
            }
            None => (t, None),
        };
        let name = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        let nums: Vec<u32> = match args {
            None => vec![],
            Some(a) => a
                .split(',')
                .map(|n| {
                    n.trim().parse::<u32>().map_err(|_| {
                        format!("type `{t}`: `{}` is not a length or precision", n.trim())
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let len = |max: u32| -> Result<Option<u32>, String> {
            match nums.as_slice() {
                [] => Ok(None),
                [n] if *n > 0 && *n < max => Ok(Some(*n)),
                [n] => Err(format!("type `{t}`: length {n} is outside 1..{}", max - 1)),
                _ => Err(format!("type `{t}` takes one length")),
            }
        };
        let no_args = |ty: SqlType| -> Result<SqlType, String> {
            if nums.is_empty() {
                Ok(ty)
            } else {
                Err(format!("type `{t}` takes no arguments"))
            }
        };
        match name.as_str() {
            "TINYINT" => no_args(SqlType::TinyInt),
            "SMALLINT" => no_args(SqlType::SmallInt),
            "INT" | "INTEGER" => no_args(SqlType::Integer),
            "BIGINT" => no_args(SqlType::BigInt),
            "REAL" => no_args(SqlType::Real),
            // SQLstream's dialect, which KDA runs: FLOAT is a synonym of DOUBLE (64 bits).
            "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" => no_args(SqlType::Double),
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let (p, s) = match nums.as_slice() {
                    [] => (19, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(format!("type `{t}` takes (precision, scale)")),
                };
                if p == 0 || p > 38 || s > p {
                    return Err(format!(
                        "type `{t}`: precision must be 1..38 and scale at most the precision"
                    ));
                }
                Ok(SqlType::Decimal {
                    precision: p as u8,
                    scale: s as i8,
                })
            }
            "CHAR" | "CHARACTER" => Ok(SqlType::Char(len(65535)?)),
            "VARCHAR" | "CHARACTER VARYING" | "CHAR VARYING" => Ok(SqlType::Varchar(len(65535)?)),
            "BOOLEAN" => no_args(SqlType::Boolean),
            "TIMESTAMP" => no_args(SqlType::Timestamp),
            "DATE" => no_args(SqlType::Date),
            "TIME" => no_args(SqlType::Time),
            "BINARY" => Ok(SqlType::Binary(len(65535)?)),
            "VARBINARY" => Ok(SqlType::Varbinary(len(65535)?)),
            _ => Err(format!("unknown type `{t}`; allowed: {ALLOWED_TYPES}")),
        }
    }

    /// The Arrow type that holds values of this SQL type.
    pub fn arrow_type(&self) -> DataType {
        match self {
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Char(_) | SqlType::Varchar(_) => DataType::Utf8,
            SqlType::Boolean => DataType::Boolean,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
            SqlType::Binary(_) | SqlType::Varbinary(_) => DataType::Binary,
        }
    }

    /// Maximum length in characters (strings) or bytes (binary), if the type has one.
    pub fn max_len(&self) -> Option<usize> {
        match self {
            SqlType::Char(n) | SqlType::Varchar(n) | SqlType::Binary(n) | SqlType::Varbinary(n) => {
                n.map(|n| n as usize)
            }
            _ => None,
        }
    }

    /// The SQL type that best describes an Arrow type (for explain output and derived columns).
    pub fn from_arrow(dt: &DataType) -> Option<SqlType> {
        Some(match dt {
            DataType::Int8 => SqlType::TinyInt,
            DataType::Int16 => SqlType::SmallInt,
            DataType::Int32 => SqlType::Integer,
            DataType::Int64 => SqlType::BigInt,
            DataType::Float32 => SqlType::Real,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal128(p, s) => SqlType::Decimal {
                precision: *p,
                scale: *s,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Varchar(None),
            DataType::Boolean => SqlType::Boolean,
            DataType::Timestamp(_, _) => SqlType::Timestamp,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                SqlType::Varbinary(None)
            }
            _ => return None,
        })
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_len = |f: &mut fmt::Formatter<'_>, name: &str, n: &Option<u32>| match n {
            Some(n) => write!(f, "{name}({n})"),
            None => write!(f, "{name}"),
        };
        match self {
            SqlType::TinyInt => write!(f, "TINYINT"),
            SqlType::SmallInt => write!(f, "SMALLINT"),
            SqlType::Integer => write!(f, "INTEGER"),
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Real => write!(f, "REAL"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
            SqlType::Char(n) => with_len(f, "CHAR", n),
            SqlType::Varchar(n) => with_len(f, "VARCHAR", n),
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::Timestamp => write!(f, "TIMESTAMP"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Time => write!(f, "TIME"),
            SqlType::Binary(n) => with_len(f, "BINARY", n),
            SqlType::Varbinary(n) => with_len(f, "VARBINARY", n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kda_type_names() {
        assert_eq!(
            SqlType::parse("VARCHAR(4)").unwrap(),
            SqlType::Varchar(Some(4))
        );
        assert_eq!(
            SqlType::parse("decimal(5, 2)").unwrap(),
            SqlType::Decimal {
                precision: 5,
                scale: 2
            }
        );
        assert_eq!(SqlType::parse("double precision").unwrap(), SqlType::Double);
        assert_eq!(SqlType::parse("INT").unwrap(), SqlType::Integer);
        assert_eq!(SqlType::parse("Timestamp").unwrap(), SqlType::Timestamp);
        assert_eq!(
            SqlType::parse("VARCHAR(4)").unwrap().to_string(),
            "VARCHAR(4)"
        );
    }

    #[test]
    fn rejects_bad_type_names_with_the_allowed_list() {
        let err = SqlType::parse("STRING").unwrap_err();
        assert!(
            err.contains("unknown type `STRING`") && err.contains("VARCHAR(n)"),
            "{err}"
        );
        assert!(
            SqlType::parse("VARCHAR(0)")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            SqlType::parse("INTEGER(3)")
                .unwrap_err()
                .contains("no arguments")
        );
        assert!(
            SqlType::parse("VARCHAR(4")
                .unwrap_err()
                .contains("unclosed")
        );
    }
}
