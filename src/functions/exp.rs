//! `EXP(x)` (SQLREF sql-reference-exp.html) as KDA computes it: Java's `exp`, whose results are
//! fdlibm's, not always the double nearest to eˣ. The page gives `EXP(1)` = 2.7182818284590455,
//! one unit in the last place above the nearest (2.718281828459045, which Rust's `f64::exp` and
//! DataFusion give). The `libm` crate is a port of the same fdlibm lineage, and gives the page's
//! value.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Exp {
    signature: Signature,
}

impl Exp {
    /// Takes the name `exp` from DataFusion's.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Exp {
            signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Exp {
    fn name(&self) -> &str {
        "exp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = cast(
            &args.args[0].to_array(args.number_rows)?,
            &DataType::Float64,
        )?;
        let out: Float64Array = array.as_primitive::<Float64Type>().unary(libm::exp);
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
