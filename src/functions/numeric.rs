//! KDA's numeric functions that DataFusion spells differently (KDA SQL reference
//! `sql-reference-numeric-functions.html`):
//!
//! - `MOD(a, b)` is `a % b`: the remainder, with the sign of `a` (`MOD(-4, 3)` = -1); a divisor
//!   of zero is an error of the row (the row goes to `error_stream`), NULL gives NULL.
//! - `CEILING(…)` is `CEIL(…)`, numbers and `CEILING(ts TO unit)` alike: the dialect reads the
//!   word as `CEIL` (`dialect/tokens.rs`).

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Function};

use crate::dialect::unnamed_args;

/// `MOD(a, b)` as `(a) % (b)`; None when `f` is not a call of MOD. An error names what MOD takes.
pub fn rewrite_mod(f: &Function) -> Option<Result<Expr, String>> {
    if f.name.0.len() != 1 || f.name.to_string() != "MOD" {
        return None;
    }
    Some(match unnamed_args(f).as_slice() {
        [a, b] => Ok(Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(a.clone()))),
            op: BinaryOperator::Modulo,
            right: Box::new(Expr::Nested(Box::new(b.clone()))),
        }))),
        args => Err(format!("MOD takes two arguments, not {}", args.len())),
    })
}
