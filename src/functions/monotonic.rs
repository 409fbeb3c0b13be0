//! `MONOTONIC(expr)` (SQLREF sql-reference-monotonic.html): "evaluates its argument and returns
//! the result (as the same type as its argument)", and asserts that the values never change
//! direction, so that a streaming `GROUP BY`, `DISTINCT` or `ORDER BY` may use it as its
//! monotonic key. As a function it is the identity; the planner reads the call to know which key
//! was declared (`plan/monotonic.rs`).

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The function's name in plans.
pub const NAME: &str = "monotonic";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Monotonic {
    signature: Signature,
}

impl Monotonic {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Monotonic {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Monotonic {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args.into_iter().next().expect("one argument"))
    }
}
