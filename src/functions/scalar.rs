//! [`KdaScalar`]: a scalar function of rowtime's own, given by its name, signature, result type
//! and body. Every KDA function DataFusion has no form of is one (`cast.rs`, `extract.rs`,
//! `overlay.rs`, …), so none of them repeats `ScalarUDFImpl`'s boilerplate.

/// A scalar function of rowtime's own given by its name, signature, result type and body (the
/// KDA functions DataFusion has no form of: `cast.rs`, `extract.rs`, `overlay.rs`, …).
#[derive(Debug)]
pub struct KdaScalar {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
    returns: datafusion::arrow::datatypes::DataType,
    body: ScalarBody,
}

/// The body of a [`KdaScalar`].
pub type ScalarBody = fn(
    &datafusion::logical_expr::ScalarFunctionArgs,
) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue>;

/// Functions are told apart by name (each name is registered once).
impl PartialEq for KdaScalar {
    fn eq(&self, other: &KdaScalar) -> bool {
        self.name == other.name
    }
}

impl Eq for KdaScalar {}

impl std::hash::Hash for KdaScalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl KdaScalar {
    pub fn udf(
        name: &'static str,
        signature: datafusion::logical_expr::Signature,
        returns: datafusion::arrow::datatypes::DataType,
        body: ScalarBody,
    ) -> datafusion::logical_expr::ScalarUDF {
        datafusion::logical_expr::ScalarUDF::new_from_impl(KdaScalar {
            name,
            signature,
            returns,
            body,
        })
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for KdaScalar {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(
        &self,
        _: &[datafusion::arrow::datatypes::DataType],
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::DataType> {
        Ok(self.returns.clone())
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        (self.body)(&args)
    }
}
