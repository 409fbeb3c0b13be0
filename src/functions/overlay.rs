//! `OVERLAY(s PLACING r FROM p [FOR n])` by KDA's documented table (KDA SQL reference
//! `sql-reference-overlay.html`; EX-34), for every start position: the planner's syntax rewrite
//! (`functions/mod.rs`) turns it into [`Overlay`].

/// `kda_overlay(s, r, p [, n])`: `OVERLAY(s PLACING r FROM p [FOR n])` by KDA's documented table
/// (EX-34): the characters of `s` before position `p`, then `r`, then those of `s` from position
/// `p + n` on (`n` defaults to the length of `r`); positions below 1 take nothing from the left
/// (`FROM 0` of '12345' with 'foo' gives 'foo345', `FROM -2` gives 'foo12345'). NULL gives NULL.
pub struct Overlay;

impl Overlay {
    pub const NAME: &str = "kda_overlay";

    pub fn udf() -> datafusion::logical_expr::ScalarUDF {
        crate::functions::KdaScalar::udf(
            Overlay::NAME,
            datafusion::logical_expr::Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Any(3),
                    datafusion::logical_expr::TypeSignature::Any(4),
                ],
                datafusion::logical_expr::Volatility::Immutable,
            ),
            datafusion::arrow::datatypes::DataType::Utf8,
            Overlay::invoke,
        )
    }

    fn invoke(
        args: &datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::compute::cast;
        use datafusion::arrow::datatypes::{DataType, Int64Type};
        let n = args.number_rows;
        let text = |i: usize| -> datafusion::error::Result<_> {
            Ok(cast(&args.args[i].to_array(n)?, &DataType::Utf8)?)
        };
        let number = |i: usize| -> datafusion::error::Result<_> {
            Ok(cast(&args.args[i].to_array(n)?, &DataType::Int64)?)
        };
        let (s, r, from) = (text(0)?, text(1)?, number(2)?);
        let (s, r, from) = (
            s.as_string::<i32>(),
            r.as_string::<i32>(),
            from.as_primitive::<Int64Type>(),
        );
        let length = match args.args.len() {
            4 => Some(number(3)?),
            _ => None,
        };
        let length = length.as_ref().map(|l| l.as_primitive::<Int64Type>());
        let mut out = datafusion::arrow::array::StringBuilder::with_capacity(n, n * 16);
        for row in 0..n {
            if s.is_null(row)
                || r.is_null(row)
                || from.is_null(row)
                || length.is_some_and(|l| l.is_null(row))
            {
                out.append_null();
                continue;
            }
            let (s, r, p) = (s.value(row), r.value(row), from.value(row));
            let len = length.map_or(r.chars().count() as i64, |l| l.value(row));
            let left = (p - 1).max(0) as usize;
            let right = (p.saturating_add(len) - 1).max(0) as usize;
            let mut value: String = s.chars().take(left).collect();
            value.push_str(r);
            value.extend(s.chars().skip(right));
            out.append_value(value);
        }
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(out.finish()),
        ))
    }
}
