//! `INITCAP(s)` (SQLREF sql-reference-initcap.html): "the first character of each
//! space-delimited word is upper-cased, and all other characters are lower-cased". Only a space
//! starts a word: `INITCAP('o''neil-smith x.y')` is `O'neil-smith X.y` (DataFusion's own
//! `initcap` starts one after any character that is not a letter or digit).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Initcap {
    signature: Signature,
}

impl Initcap {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Initcap {
            signature: Signature::string(1, Volatility::Immutable),
        })
    }
}

/// One value in KDA's INITCAP.
pub fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c == ' ';
    }
    out
}

impl ScalarUDFImpl for Initcap {
    fn name(&self) -> &str {
        "initcap"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let array = cast(&array, &DataType::Utf8)?;
        let out: StringArray = array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(initcap))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::initcap;

    #[test]
    fn only_a_space_starts_a_word() {
        assert_eq!(initcap("o'neil-smith x.y"), "O'neil-smith X.y");
        assert_eq!(initcap("SAN_FRANCISCO 3d"), "San_francisco 3d");
        assert_eq!(initcap("  two  spaces"), "  Two  Spaces");
        assert_eq!(initcap(""), "");
    }
}
