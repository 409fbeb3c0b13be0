//! `LN`, `LOG10` and `POWER` with KDA's domain errors (SQLREF sql-reference-ln.html,
//! -log10.html: "If the argument is negative or 0, an exception is raised";
//! sql-reference-power.html: an exception if the base is negative and the exponent is not a
//! whole number). DataFusion returns -inf or NaN there; these wrap its functions, check the
//! arguments first, and fail, so the row goes to `error_stream` with the reason.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// Which domain a wrapped function checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Domain {
    /// The argument must be above 0 (`LN`, `LOG10`).
    Positive,
    /// A negative base needs a whole exponent (`POWER`).
    Power,
}

/// DataFusion's function `inner`, with its arguments checked against `domain` first.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DomainChecked {
    inner: Arc<ScalarUDF>,
    domain: Domain,
}

impl DomainChecked {
    /// The checked forms of DataFusion's `ln`, `log10` and `power` among `functions`.
    pub fn all(functions: &[Arc<ScalarUDF>]) -> Vec<ScalarUDF> {
        [
            ("ln", Domain::Positive),
            ("log10", Domain::Positive),
            ("power", Domain::Power),
        ]
        .into_iter()
        .filter_map(|(name, domain)| {
            super::wrapping(functions, name, |inner| DomainChecked { inner, domain })
        })
        .collect()
    }
}

/// The values of an argument as DOUBLEs (NULL stays NULL).
fn doubles(value: &ColumnarValue, rows: usize) -> Result<Vec<Option<f64>>> {
    let array = value.to_array(rows)?;
    let array = cast(&array, &DataType::Float64)?;
    Ok(array.as_primitive::<Float64Type>().iter().collect())
}

impl ScalarUDFImpl for DomainChecked {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let name = self.inner.name().to_uppercase();
        match self.domain {
            Domain::Positive => {
                for v in doubles(&args.args[0], rows)?.into_iter().flatten() {
                    if v <= 0.0 {
                        return Err(DataFusionError::Execution(format!(
                            "{name} of {v}: the argument must be greater than 0"
                        )));
                    }
                }
            }
            Domain::Power => {
                let bases = doubles(&args.args[0], rows)?;
                let exponents = doubles(&args.args[1], rows)?;
                for (b, e) in bases.into_iter().zip(exponents) {
                    if let (Some(b), Some(e)) = (b, e)
                        && b < 0.0
                        && e.fract() != 0.0
                    {
                        return Err(DataFusionError::Execution(format!(
                            "POWER({b}, {e}): a negative base needs a whole exponent"
                        )));
                    }
                }
            }
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::config::ConfigOptions;

    use super::*;

    fn call(name: &str, args: Vec<Vec<f64>>) -> Result<Vec<f64>> {
        let all = datafusion::execution::SessionStateDefaults::default_scalar_functions();
        let f = DomainChecked::all(&all)
            .into_iter()
            .find(|f| f.name() == name)
            .expect("wrapped");
        let rows = args[0].len();
        let arg_fields = args
            .iter()
            .map(|_| Arc::new(Field::new("x", DataType::Float64, true)))
            .collect();
        let out = f.invoke_with_args(ScalarFunctionArgs {
            args: args
                .into_iter()
                .map(|a| ColumnarValue::Array(Arc::new(Float64Array::from(a))))
                .collect(),
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", DataType::Float64, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        let out = out.to_array(rows)?;
        Ok(out.as_primitive::<Float64Type>().values().to_vec())
    }

    #[test]
    fn logs_of_zero_or_less_and_fractional_powers_of_negatives_fail() {
        assert_eq!(call("log10", vec![vec![100.0]]).unwrap(), vec![2.0]);
        assert_eq!(
            call("power", vec![vec![-8.0], vec![2.0]]).unwrap(),
            vec![64.0]
        );
        for (name, args, message) in [
            (
                "ln",
                vec![vec![0.0]],
                "LN of 0: the argument must be greater than 0",
            ),
            ("log10", vec![vec![5.0, -1.0]], "LOG10 of -1"),
            (
                "power",
                vec![vec![-8.0], vec![0.5]],
                "POWER(-8, 0.5): a negative base",
            ),
        ] {
            let err = call(name, args).unwrap_err().to_string();
            assert!(err.contains(message), "{name}: {err}");
        }
    }
}
