//! KDA's coercion rules: a value found in a record (a JSON number, string, boolean, array or
//! object, or a CSV field) converted to its column's type, or an error naming the column. The
//! vectors of the KDA documentation's type-conversion table are tests at the bottom.

use super::columns::Column;
use super::{Kind, Val};
use crate::time::{MS_PER_DAY, parse_time, parse_timestamp};

/// Converts `val` to the column's type and appends it to `column`; appends nothing on error.
/// `bytes` is scratch space for a binary literal.
#[inline]
pub(crate) fn convert(
    kind: Kind,
    val: Val<'_>,
    column: &mut Column,
    bytes: &mut Vec<u8>,
) -> Result<(), String> {
    if let Val::Null = val {
        column.push_null();
        return Ok(());
    }
    let cannot = || format!("{val} cannot be converted to this type");
    match kind {
        Kind::Text { max_chars } => {
            let s = match val {
                Val::Bool(true) => "true",
                Val::Bool(false) => "false",
                Val::Number(s) | Val::Str(s) | Val::Composite(s) => s,
                Val::Null => unreachable!(),
            };
            column.push_bytes(truncate_chars(s, max_chars).as_bytes());
        }
        Kind::Int { min, max } => {
            let v = match val {
                Val::Bool(b) => b as i64,
                Val::Number(s) | Val::Str(s) => {
                    let n =
                        parse_number(trim(s)).ok_or_else(|| format!("{val} is not a number"))?;
                    let v = n
                        .to_integer()
                        .ok_or_else(|| format!("{val} is not an integer"))?;
                    if v < min as i128 || v > max as i128 {
                        return Err(format!("{val} is out of range"));
                    }
                    v as i64
                }
                _ => return Err(cannot()),
            };
            column.push_int(v);
        }
        Kind::Real | Kind::Double => {
            let v = match val {
                Val::Bool(b) => b as u8 as f64,
                Val::Number(s) | Val::Str(s) => {
                    let t = trim(s);
                    if parse_number(t).is_none() && !is_special_float(t) {
                        return Err(format!("{val} is not a number"));
                    }
                    let v: f64 = t.parse().map_err(|_| format!("{val} is not a number"))?;
                    if kind == Kind::Real && v.is_finite() && !(v as f32).is_finite() {
                        return Err(format!("{val} is out of range"));
                    }
                    v
                }
                _ => return Err(cannot()),
            };
            column.push_float(v);
        }
        Kind::Decimal { precision, scale } => {
            let n = match val {
                Val::Bool(b) => Number {
                    neg: false,
                    mant: b as u128,
                    exp: 0,
                },
                Val::Number(s) | Val::Str(s) => {
                    parse_number(trim(s)).ok_or_else(|| format!("{val} is not a number"))?
                }
                _ => return Err(cannot()),
            };
            let v = n
                .to_decimal(precision, scale)
                .ok_or_else(|| format!("{val} does not fit"))?;
            column.push_decimal(v);
        }
        Kind::Bool => {
            let v = match val {
                Val::Bool(b) => b,
                Val::Number(s) => {
                    parse_number(s)
                        .ok_or_else(|| format!("{val} is not a number"))?
                        .mant
                        != 0
                }
                Val::Str(s) => trim(s).eq_ignore_ascii_case("true"),
                _ => return Err(cannot()),
            };
            column.push_bool(v);
        }
        Kind::Timestamp => {
            match val {
                Val::Str(s) => column.push_int(parse_timestamp(trim(s)).ok_or_else(|| {
                    format!("{val} is not a timestamp (YYYY-MM-DD HH:MM:SS[.fff])")
                })?),
                _ => return Err(cannot()),
            }
        }
        Kind::Date => match val {
            Val::Str(s) => column.push_int(
                parse_timestamp(trim(s))
                    .ok_or_else(|| format!("{val} is not a date (YYYY-MM-DD)"))?
                    .div_euclid(MS_PER_DAY),
            ),
            _ => return Err(cannot()),
        },
        Kind::Time => match val {
            Val::Str(s) => column.push_int(
                parse_time(trim(s).as_bytes())
                    .filter(|&(_, used)| used == trim(s).len())
                    .map(|(ms, _)| ms)
                    .ok_or_else(|| format!("{val} is not a time (HH:MM:SS[.fff])"))?,
            ),
            _ => return Err(cannot()),
        },
        Kind::Binary { max_bytes } => {
            bytes.clear();
            match val {
                Val::Bool(b) => bytes.push(b as u8),
                Val::Str(s) => {
                    if !parse_binary_literal(trim(s), bytes) {
                        return Err(format!("{val} is not a binary literal such as X'3F67A23A'"));
                    }
                }
                _ => return Err(cannot()),
            }
            if let Some(max) = max_bytes {
                bytes.truncate(max);
            }
            column.push_bytes(bytes);
        }
    }
    Ok(())
}

/// `s` without surrounding whitespace; cheap when there is none (the usual case).
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b))
            if !a.is_ascii_whitespace() && !b.is_ascii_whitespace() && *a < 0x80 && *b < 0x80 =>
        {
            s
        }
        _ => s.trim(),
    }
}

#[inline]
pub(crate) fn truncate_chars(s: &str, max_chars: Option<usize>) -> &str {
    match max_chars {
        Some(n) if s.len() > n => match s.char_indices().nth(n) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        _ => s,
    }
}

pub(crate) fn is_special_float(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    ["nan", "inf", "infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
}

/// `X'3F67A23A'` (an even number of hex digits) appended to `out`.
pub(crate) fn parse_binary_literal(s: &str, out: &mut Vec<u8>) -> bool {
    let Some(hex) = s
        .strip_prefix(['X', 'x'])
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.strip_suffix('\''))
    else {
        return false;
    };
    if !hex.len().is_multiple_of(2) {
        return false;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    for pair in hex.as_bytes().chunks_exact(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return false,
        }
    }
    true
}

/// An exact decimal number: `(-1)^neg * mant * 10^exp`, at most 38 significant digits kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Number {
    pub(crate) neg: bool,
    pub(crate) mant: u128,
    pub(crate) exp: i32,
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (also `.5` and `5.`) exactly.
#[inline]
pub(crate) fn parse_number(s: &str) -> Option<Number> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: u128 = 0;
    let mut sig = 0u32; // significant digits kept in `mant`
    let mut exp: i32 = 0;
    let mut digits = 0;
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        digits += 1;
        if sig < 38 {
            mant = mant * 10 + (c - b'0') as u128;
            if mant != 0 {
                sig += 1;
            }
        } else {
            exp = exp.saturating_add(1);
        }
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            digits += 1;
            if sig < 38 {
                mant = mant * 10 + (c - b'0') as u128;
                exp -= 1;
                if mant != 0 {
                    sig += 1;
                }
            }
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            e = (e * 10 + (c - b'0') as i32).min(100_000);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp = exp.saturating_add(if eneg { -e } else { e });
    }
    if i != b.len() {
        return None;
    }
    Some(Number { neg, mant, exp })
}

impl Number {
    /// The value if it is a whole number that fits an i128 comfortably.
    pub(crate) fn to_integer(self) -> Option<i128> {
        if self.mant == 0 {
            return Some(0);
        }
        let v = if self.exp >= 0 {
            if self.exp > 38 {
                return Some(if self.neg { i128::MIN } else { i128::MAX }); // out of every range
            }
            self.mant
                .checked_mul(10u128.pow(self.exp as u32))
                .unwrap_or(u128::MAX / 2)
        } else {
            let k = -self.exp;
            if k > 38 {
                return None;
            }
            let d = 10u128.pow(k as u32);
            if !self.mant.is_multiple_of(d) {
                return None;
            }
            self.mant / d
        };
        let v = v.min(u128::MAX / 2) as i128;
        Some(if self.neg { -v } else { v })
    }

    /// The unscaled value at `scale`, rounded half up; `None` if it needs more than `precision` digits.
    pub(crate) fn to_decimal(self, precision: u8, scale: i8) -> Option<i128> {
        if self.mant == 0 {
            return Some(0);
        }
        let shift = self.exp + scale as i32;
        let v: u128 = if shift >= 0 {
            if shift > 38 {
                return None;
            }
            self.mant.checked_mul(10u128.pow(shift as u32))?
        } else {
            let k = -shift;
            if k > 38 {
                0
            } else {
                let d = 10u128.pow(k as u32);
                let (q, r) = (self.mant / d, self.mant % d);
                if r * 2 >= d { q + 1 } else { q }
            }
        };
        if v >= 10u128.pow(precision as u32) {
            return None;
        }
        let v = v as i128;
        Some(if self.neg { -v } else { v })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::connectors::decode::test_util::*;
    use arrow::array::{
        Array, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int8Array, Int32Array, Int64Array, Time32MillisecondArray,
        TimestampMillisecondArray,
    };

    // ----- EX-41, one test per vector

    #[test]
    fn ex41_null_is_null_for_every_type() {
        for ty in [
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "REAL",
            "DOUBLE",
            "DECIMAL(5,2)",
            "CHAR(3)",
            "VARCHAR(8)",
            "BOOLEAN",
            "TIMESTAMP",
            "DATE",
            "TIME",
            "BINARY(4)",
            "VARBINARY(4)",
        ] {
            assert!(is_null(r#""City":null"#, ty), "{ty}");
        }
    }

    #[test]
    fn ex41_true_into_integer_is_1() {
        let b = one(r#""Contacted":true"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            1
        );
    }

    #[test]
    fn ex41_false_into_decimal_is_0() {
        let b = one(r#""Contacted":false"#, "DECIMAL(5,2)").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            0
        );
        let b = one(r#""Contacted":true"#, "DECIMAL(5,2)").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            100
        );
    }

    #[test]
    fn ex41_true_into_varchar3_is_truncated() {
        assert_eq!(text(r#""Contacted":true"#, "VARCHAR(3)"), "tru");
        assert_eq!(text(r#""Contacted":false"#, "VARCHAR(8)"), "false");
    }

    #[test]
    fn ex41_true_into_boolean_is_true() {
        let b = one(r#""Contacted":true"#, "BOOLEAN").unwrap();
        assert!(
            b.column(0)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        );
    }

    #[test]
    fn ex41_true_into_timestamp_is_an_error() {
        let err = one(r#""Contacted":true"#, "TIMESTAMP").unwrap_err();
        assert_eq!(
            err,
            "column C (TIMESTAMP): true cannot be converted to this type"
        );
        assert!(one(r#""Contacted":true"#, "DATE").is_err());
        assert!(one(r#""Contacted":true"#, "TIME").is_err());
    }

    #[test]
    fn ex41_integer_into_integer() {
        let b = one(r#""CustomerId":67321"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            67321
        );
        let b = one(r#""CustomerId":-9223372036854775808"#, "BIGINT").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            i64::MIN
        );
    }

    #[test]
    fn ex41_fraction_into_integer_is_an_error() {
        let err = one(r#""x":123.4"#, "INTEGER").unwrap_err();
        assert_eq!(err, "column C (INTEGER): 123.4 is not an integer");
        // A whole number written with a fraction or exponent is fine.
        let b = one(r#""x":1.20e2"#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            120
        );
    }

    #[test]
    fn ex41_zero_into_boolean_is_false() {
        let b = one(r#""x":0"#, "BOOLEAN").unwrap();
        assert!(
            !b.column(0)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        );
        let b = one(r#""x":0.0"#, "BOOLEAN").unwrap();
        assert!(!b.column(0).as_boolean().value(0));
    }

    #[test]
    fn ex41_five_into_boolean_is_true() {
        let b = one(r#""x":5"#, "BOOLEAN").unwrap();
        assert!(b.column(0).as_boolean().value(0));
        let b = one(r#""x":-0.5"#, "BOOLEAN").unwrap();
        assert!(b.column(0).as_boolean().value(0));
    }

    #[test]
    fn ex41_number_into_varchar_is_its_text() {
        assert_eq!(text(r#""x":67321"#, "VARCHAR(10)"), "67321");
        assert_eq!(text(r#""x":2.50"#, "VARCHAR(10)"), "2.50");
        assert_eq!(text(r#""x":1E+3"#, "VARCHAR(10)"), "1E+3");
    }

    #[test]
    fn ex41_number_into_varbinary_is_an_error() {
        let err = one(r#""x":67321"#, "VARBINARY(8)").unwrap_err();
        assert_eq!(
            err,
            "column C (VARBINARY(8)): 67321 cannot be converted to this type"
        );
    }

    #[test]
    fn ex41_string_into_varchar4_is_silently_truncated() {
        assert_eq!(text(r#""CustomerName":"John Doe""#, "VARCHAR(4)"), "John");
        // CHAR(n) is not blank-padded on input; truncation counts characters, not bytes.
        assert_eq!(text(r#""CustomerName":"Jo""#, "CHAR(4)"), "Jo");
        assert_eq!(text(r#""CustomerName":"éèêëa""#, "CHAR(4)"), "éèêë");
    }

    #[test]
    fn ex41_string_true_any_case_into_boolean_is_true() {
        assert!(
            one(r#""b":"TRUE""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
        assert!(
            one(r#""b":"tRuE""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
    }

    #[test]
    fn ex41_other_strings_into_boolean_are_false() {
        assert!(
            !one(r#""b":"yes""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
        assert!(
            !one(r#""b":"""#, "BOOLEAN")
                .unwrap()
                .column(0)
                .as_boolean()
                .value(0)
        );
    }

    #[test]
    fn ex41_numeric_string_into_integer() {
        let b = one(r#""n":"12""#, "INTEGER").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            12
        );
        let b = one(r#""n":"2.5""#, "DOUBLE").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0),
            2.5
        );
        let b = one(r#""n":"2.5""#, "REAL").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap()
                .value(0),
            2.5
        );
    }

    #[test]
    fn ex41_non_numeric_string_into_integer_is_an_error() {
        let err = one(r#""n":"abc""#, "INTEGER").unwrap_err();
        assert_eq!(err, r#"column C (INTEGER): "abc" is not a number"#);
        let err = one(r#""n":"abc""#, "DECIMAL(8,2)").unwrap_err();
        assert_eq!(err, r#"column C (DECIMAL(8,2)): "abc" is not a number"#);
        assert!(
            one(r#""n":"abc""#, "DOUBLE")
                .unwrap_err()
                .contains("is not a number")
        );
    }

    #[test]
    fn ex41_date_string_into_date() {
        let b = one(r#""d":"1992-02-14""#, "DATE").unwrap();
        let days = b
            .column(0)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap()
            .value(0);
        assert_eq!(days, 8079); // 1992-02-14
        let b = one(r#""d":"1992-02-14 18:35:44.0""#, "DATE").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Date32Array>()
                .unwrap()
                .value(0),
            8079
        );
        assert!(
            one(r#""d":"1992-02-30""#, "DATE")
                .unwrap_err()
                .contains("is not a date")
        );
    }

    #[test]
    fn ex41_timestamp_string_into_timestamp() {
        let b = one(r#""d":"1992-02-14 18:35:44.0""#, "TIMESTAMP").unwrap();
        let ms = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .value(0);
        assert_eq!(ms, 8079 * MS_PER_DAY + (18 * 3600 + 35 * 60 + 44) * 1000);
    }

    #[test]
    fn ex41_binary_literal_into_varbinary() {
        let b = one(r#""bin":"X'3F67A23A'""#, "VARBINARY(8)").unwrap();
        let v = b
            .column(0)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(0);
        assert_eq!(v, [0x3F, 0x67, 0xA2, 0x3A]);
        assert!(
            one(r#""bin":"X'3F6'""#, "VARBINARY(8)")
                .unwrap_err()
                .contains("binary literal")
        );
        assert!(one(r#""bin":"3F67""#, "VARBINARY(8)").is_err());
        let b = one(r#""bin":true"#, "VARBINARY(8)").unwrap();
        assert_eq!(b.column(0).as_binary::<i32>().value(0), [1]);
    }

    #[test]
    fn ex41_array_into_varchar_is_its_source_text() {
        assert_eq!(text(r#""a":[1,2]"#, "VARCHAR(10)"), "[1,2]");
        assert_eq!(text(r#""a":{"k": "v"}"#, "VARCHAR(20)"), r#"{"k": "v"}"#);
    }

    #[test]
    fn ex41_object_into_integer_is_an_error() {
        let err = one(r#""a":{"k":1}"#, "INTEGER").unwrap_err();
        assert_eq!(
            err,
            "column C (INTEGER): a JSON object cannot be converted to this type"
        );
        assert!(
            one(r#""a":[1]"#, "BOOLEAN")
                .unwrap_err()
                .contains("a JSON array cannot")
        );
    }

    #[test]
    fn ex41_180_into_tinyint_is_an_error() {
        let err = one(r#""heartRate":180"#, "TINYINT").unwrap_err();
        assert_eq!(err, "column C (TINYINT): 180 is out of range");
        let b = one(r#""heartRate":-128"#, "TINYINT").unwrap();
        assert_eq!(
            b.column(0)
                .as_any()
                .downcast_ref::<Int8Array>()
                .unwrap()
                .value(0),
            -128
        );
    }

    // ----- other conversions

    #[test]
    fn decimals_are_exact_and_rounded_half_up() {
        let dec = |v: &str| -> Result<i128, String> {
            Ok(one(&format!(r#""x":{v}"#), "DECIMAL(8,2)")?
                .column(0)
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0))
        };
        assert_eq!(dec("2.50"), Ok(250));
        assert_eq!(dec("0.1"), Ok(10));
        assert_eq!(dec("1.005"), Ok(101));
        assert_eq!(dec("-1.005"), Ok(-101));
        assert_eq!(dec("1.0049999"), Ok(100));
        assert_eq!(dec("123456.78"), Ok(12345678));
        assert_eq!(dec("\"  42 \""), Ok(4200));
        assert_eq!(dec("1e-9"), Ok(0));
        let err = dec("1234567.8").unwrap_err();
        assert_eq!(err, "column C (DECIMAL(8,2)): 1234567.8 does not fit");
        assert!(dec("1e40").is_err());
    }

    #[test]
    fn times_of_day() {
        // Timestamp text is read by `time::parse_timestamp` (tested there).
        let b = one(r#""t":"18:35:44.25""#, "TIME").unwrap();
        let ms = b
            .column(0)
            .as_any()
            .downcast_ref::<Time32MillisecondArray>()
            .unwrap()
            .value(0);
        assert_eq!(ms, (18 * 3600 + 35 * 60 + 44) * 1000 + 250);
        assert!(
            one(r#""t":"18:35:44 pm""#, "TIME")
                .unwrap_err()
                .contains("is not a time")
        );
        assert!(
            one(r#""t":1234"#, "TIMESTAMP")
                .unwrap_err()
                .contains("1234 cannot be converted")
        );
    }
}
