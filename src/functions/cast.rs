//! `CAST` to a text type of a given length, as KDA does it: `CAST(x AS CHAR(n))` pads with
//! blanks to n characters, and text longer than `n` (CHAR or VARCHAR) is an error of the row,
//! which goes to `error_stream`, where DataFusion would keep it whole. A TIMESTAMP becomes text
//! the way rowtime writes it (`2024-01-01 10:00:00.000`, [`AsText`]), not in Arrow's ISO form.
//! The planner's syntax rewrite (`functions/mod.rs`) turns such casts into [`CastText`] and
//! [`AsText`].

/// `kda_cast_text(text, n, pad)`: `CAST(… AS CHAR(n))` (pad = true: blanks up to n characters)
/// and `CAST(… AS VARCHAR(n))`; text longer than n characters is an error of the row.
pub struct CastText;

impl CastText {
    pub const NAME: &str = "kda_cast_text";

    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        crate::functions::KdaScalar::udf(
            CastText::NAME,
            datafusion::logical_expr::Signature::any(
                3,
                datafusion::logical_expr::Volatility::Immutable,
            ),
            datafusion::arrow::datatypes::DataType::Utf8,
            CastText::invoke,
        )
    }

    fn invoke(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::{DataType, Int64Type};
        let n = args.number_rows;
        let [text, length, pad] = args.args.as_slice() else {
            return datafusion::common::internal_err!("{} takes three arguments", CastText::NAME);
        };
        let text = datafusion::arrow::compute::cast(&text.to_array(n)?, &DataType::Utf8)?;
        let length = datafusion::arrow::compute::cast(&length.to_array(n)?, &DataType::Int64)?;
        let pad = pad.to_array(n)?;
        let (text, length, pad) = (
            text.as_string::<i32>(),
            length.as_primitive::<Int64Type>(),
            pad.as_boolean(),
        );
        let mut out = datafusion::arrow::array::StringBuilder::with_capacity(n, n * 16);
        for row in 0..n {
            if text.is_null(row) {
                out.append_null();
                continue;
            }
            let (value, max, pad) = (text.value(row), length.value(row) as usize, pad.value(row));
            let chars = value.chars().count();
            if chars > max {
                return datafusion::common::exec_err!(
                    "CAST to {}({max}): {value:?} has {chars} characters",
                    if pad { "CHAR" } else { "VARCHAR" }
                );
            }
            if pad && chars < max {
                out.append_value(format!("{value}{}", " ".repeat(max - chars)));
            } else {
                out.append_value(value);
            }
        }
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(out.finish()),
        ))
    }
}

/// The longest `CHAR(n)` or `VARCHAR(n)` of a `CAST`, as of a column's type (`types.rs`): a
/// `CHAR(n)` cast pads every value to `n` characters, so a huge `n` would be a huge allocation.
pub const MAX_LENGTH: u64 = 65_534;

/// The length of a `CHAR(n)` or `VARCHAR(n)` type, and whether it pads (CHAR).
pub fn text_length(t: &datafusion::sql::sqlparser::ast::DataType) -> Option<(u64, bool)> {
    use datafusion::sql::sqlparser::ast::{CharacterLength, DataType};
    let (length, pad) = match t {
        DataType::Char(l) | DataType::Character(l) => (l, true),
        DataType::Varchar(l) | DataType::CharacterVarying(l) | DataType::CharVarying(l) => {
            (l, false)
        }
        _ => return None,
    };
    match length {
        Some(CharacterLength::IntegerLength { length, .. }) => Some((*length, pad)),
        _ => None,
    }
}

/// `kda_as_text(x)`: `x` as text, a TIMESTAMP as rowtime writes one (`YYYY-MM-DD HH:MM:SS.fff`,
/// the literal form of a TIMESTAMP with KDA's millisecond precision); anything else as Arrow
/// casts it.
pub struct AsText;

impl AsText {
    pub const NAME: &str = "kda_as_text";

    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        crate::functions::KdaScalar::udf(
            AsText::NAME,
            datafusion::logical_expr::Signature::any(
                1,
                datafusion::logical_expr::Volatility::Immutable,
            ),
            datafusion::arrow::datatypes::DataType::Utf8,
            AsText::invoke,
        )
    }

    fn invoke(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
        let value = args.args[0].to_array(args.number_rows)?;
        let text = match value.data_type() {
            DataType::Timestamp(_, _) => {
                let ms = datafusion::arrow::compute::cast(
                    &value,
                    &DataType::Timestamp(TimeUnit::Millisecond, None),
                )?;
                let strings: datafusion::arrow::array::StringArray = ms
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .map(|v| v.map(crate::time::timestamp_text))
                    .collect();
                std::sync::Arc::new(strings) as datafusion::arrow::array::ArrayRef
            }
            _ => datafusion::arrow::compute::cast(&value, &DataType::Utf8)?,
        };
        Ok(datafusion::logical_expr::ColumnarValue::Array(text))
    }
}

/// `VARCHAR` without a length.
pub fn is_unbounded_varchar(t: &datafusion::sql::sqlparser::ast::DataType) -> bool {
    use datafusion::sql::sqlparser::ast::DataType;
    matches!(
        t,
        DataType::Varchar(None)
            | DataType::CharacterVarying(None)
            | DataType::CharVarying(None)
            | DataType::String(None)
            | DataType::Text
    )
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;

    fn plan(ty: &str) -> Result<(), String> {
        let code = format!(
            "CREATE STREAM OUT (V VARCHAR(8));
             CREATE PUMP P AS INSERT INTO OUT SELECT STREAM CAST(K AS {ty}) FROM S;"
        );
        let mut app = TestApp::new("cast.sql", &code)
            .input("S", "K VARCHAR(4)")
            .unwrap();
        app.plan().map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_cast_length_past_the_limit_is_an_error_not_a_huge_allocation() {
        // `CAST(… AS CHAR(111111111111112))` once padded each value to that many blanks, and the
        // allocation aborted the process (found by the sql fuzzer: tests/fuzz/sql/).
        assert_eq!(plan("CHAR(65534)"), Ok(()));
        assert_eq!(plan("VARCHAR(1)"), Ok(()));
        for ty in ["CHAR(111111111111112)", "VARCHAR(65535)", "CHAR(0)"] {
            let err = plan(ty).unwrap_err();
            assert!(
                err.contains(&format!("CAST to {ty}: the length must be 1 to 65534")),
                "{err}"
            );
        }
    }
}
