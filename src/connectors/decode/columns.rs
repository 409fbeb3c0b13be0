//! The batch being decoded: one buffer per column that, unlike Arrow's builders, can be cut back
//! to a row count, so a record's values go straight in and a record that fails half-way is undone
//! (KDA sends the whole record to `error_stream`; no partial row may stay behind).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, StringArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};

use super::coerce::convert;
use super::json::unescape_json;
use super::{ColPlan, Kind, Val};
use crate::types::SqlType;

// Column plans and buffers

pub(crate) fn kind_of(t: SqlType) -> Kind {
    match t {
        SqlType::TinyInt => Kind::Int {
            min: i8::MIN as i64,
            max: i8::MAX as i64,
        },
        SqlType::SmallInt => Kind::Int {
            min: i16::MIN as i64,
            max: i16::MAX as i64,
        },
        SqlType::Integer => Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        SqlType::BigInt => Kind::Int {
            min: i64::MIN,
            max: i64::MAX,
        },
        SqlType::Real => Kind::Real,
        SqlType::Double => Kind::Double,
        SqlType::Decimal { precision, scale } => Kind::Decimal { precision, scale },
        SqlType::Char(n) | SqlType::Varchar(n) => Kind::Text {
            max_chars: n.map(|n| n as usize),
        },
        SqlType::Boolean => Kind::Bool,
        SqlType::Timestamp => Kind::Timestamp,
        SqlType::Date => Kind::Date,
        SqlType::Time => Kind::Time,
        SqlType::Binary(n) | SqlType::Varbinary(n) => Kind::Binary {
            max_bytes: n.map(|n| n as usize),
        },
    }
}

/// One column of the batch being decoded. Unlike Arrow's builders it can be cut back to a row
/// count, so a record's values go straight in and a record that fails half-way is undone
/// (KDA sends the whole record to `error_stream`; no partial row may stay behind).
pub(crate) struct Column {
    pub(crate) values: Values,
    /// Per row: false for NULL.
    pub(crate) valid: Vec<bool>,
}

pub(crate) enum Values {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Dec(Vec<i128>),
    Bool(Vec<bool>),
    /// Milliseconds since the epoch.
    Ts(Vec<i64>),
    /// Days since the epoch.
    Date(Vec<i32>),
    /// Milliseconds since midnight.
    Time(Vec<i32>),
    /// Text (valid UTF-8) or bytes: row `i` is `data[offsets[i]..offsets[i + 1]]`.
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Bin {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
}

/// Applies `$body` to the vector of every fixed-width variant of `Values`.
macro_rules! each_fixed {
    ($values:expr, $v:ident => $body:expr, $other:pat => $else:expr) => {
        match $values {
            Values::I8($v) => $body,
            Values::I16($v) => $body,
            Values::I32($v) => $body,
            Values::I64($v) => $body,
            Values::F32($v) => $body,
            Values::F64($v) => $body,
            Values::Dec($v) => $body,
            Values::Bool($v) => $body,
            Values::Ts($v) => $body,
            Values::Date($v) => $body,
            Values::Time($v) => $body,
            $other => $else,
        }
    };
}

impl Column {
    /// An empty column with room for `rows` rows.
    pub(crate) fn new(kind: Kind, rows: usize) -> Column {
        let text = || Vec::with_capacity(rows * 16);
        let offsets = || {
            let mut o = Vec::with_capacity(rows + 1);
            o.push(0);
            o
        };
        let values = match kind {
            Kind::Int { max, .. } if max == i8::MAX as i64 => Values::I8(Vec::with_capacity(rows)),
            Kind::Int { max, .. } if max == i16::MAX as i64 => {
                Values::I16(Vec::with_capacity(rows))
            }
            Kind::Int { max, .. } if max == i32::MAX as i64 => {
                Values::I32(Vec::with_capacity(rows))
            }
            Kind::Int { .. } => Values::I64(Vec::with_capacity(rows)),
            Kind::Real => Values::F32(Vec::with_capacity(rows)),
            Kind::Double => Values::F64(Vec::with_capacity(rows)),
            Kind::Decimal { .. } => Values::Dec(Vec::with_capacity(rows)),
            Kind::Text { .. } => Values::Str {
                offsets: offsets(),
                data: text(),
            },
            Kind::Bool => Values::Bool(Vec::with_capacity(rows)),
            Kind::Timestamp => Values::Ts(Vec::with_capacity(rows)),
            Kind::Date => Values::Date(Vec::with_capacity(rows)),
            Kind::Time => Values::Time(Vec::with_capacity(rows)),
            Kind::Binary { .. } => Values::Bin {
                offsets: offsets(),
                data: text(),
            },
        };
        Column {
            values,
            valid: Vec::with_capacity(rows),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.valid.len()
    }

    #[inline]
    /// Drops the rows from `rows` on.
    pub(crate) fn truncate(&mut self, rows: usize) {
        if self.valid.len() <= rows {
            return;
        }
        self.valid.truncate(rows);
        each_fixed!(&mut self.values, v => v.truncate(rows),
        Values::Str { offsets, data } | Values::Bin { offsets, data } => {
            offsets.truncate(rows + 1);
            data.truncate(offsets[rows] as usize);
        })
    }

    #[inline]
    pub(crate) fn push_null(&mut self) {
        self.valid.push(false);
        each_fixed!(&mut self.values, v => v.push(Default::default()),
        Values::Str { offsets, data } | Values::Bin { offsets, data } => {
            offsets.push(offsets[offsets.len() - 1]);
            let _ = data;
        })
    }

    /// An integer, timestamp (ms), date (days) or time (ms); the column's kind checked the range.
    #[inline]
    pub(crate) fn push_int(&mut self, v: i64) {
        match &mut self.values {
            Values::I8(x) => x.push(v as i8),
            Values::I16(x) => x.push(v as i16),
            Values::I32(x) | Values::Date(x) | Values::Time(x) => x.push(v as i32),
            Values::I64(x) | Values::Ts(x) => x.push(v),
            _ => unreachable!("an integer converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    pub(crate) fn push_float(&mut self, v: f64) {
        match &mut self.values {
            Values::F32(x) => x.push(v as f32),
            Values::F64(x) => x.push(v),
            _ => unreachable!("a float converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    pub(crate) fn push_decimal(&mut self, v: i128) {
        match &mut self.values {
            Values::Dec(x) => x.push(v),
            _ => unreachable!("a decimal converted for a column of another type"),
        }
        self.valid.push(true);
    }

    #[inline]
    pub(crate) fn push_bool(&mut self, v: bool) {
        match &mut self.values {
            Values::Bool(x) => x.push(v),
            _ => unreachable!("a boolean converted for a column of another type"),
        }
        self.valid.push(true);
    }

    /// Text (for a VARCHAR column, `v` is valid UTF-8) or bytes.
    #[inline]
    pub(crate) fn push_bytes(&mut self, v: &[u8]) {
        match &mut self.values {
            Values::Str { offsets, data } | Values::Bin { offsets, data } => {
                data.extend_from_slice(v);
                offsets.push(i32::try_from(data.len()).expect("a batch holds under 2 GiB of text"));
            }
            _ => unreachable!("text converted for a column of another type"),
        }
        self.valid.push(true);
    }

    pub(crate) fn finish(self, kind: Kind) -> ArrayRef {
        let nulls = if self.valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(self.valid))
        };
        match self.values {
            Values::I8(v) => Arc::new(Int8Array::new(v.into(), nulls)),
            Values::I16(v) => Arc::new(Int16Array::new(v.into(), nulls)),
            Values::I32(v) => Arc::new(Int32Array::new(v.into(), nulls)),
            Values::I64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            Values::F32(v) => Arc::new(Float32Array::new(v.into(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            Values::Dec(v) => {
                let Kind::Decimal { precision, scale } = kind else {
                    unreachable!("decimal values belong to a DECIMAL column")
                };
                Arc::new(
                    Decimal128Array::new(v.into(), nulls)
                        .with_precision_and_scale(precision, scale)
                        .expect("precision and scale were checked by SqlType::parse"),
                )
            }
            Values::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Values::Ts(v) => Arc::new(TimestampMillisecondArray::new(v.into(), nulls)),
            Values::Date(v) => Arc::new(Date32Array::new(v.into(), nulls)),
            Values::Time(v) => Arc::new(Time32MillisecondArray::new(v.into(), nulls)),
            Values::Str { offsets, data } => Arc::new(
                StringArray::try_new(OffsetBuffer::new(offsets.into()), data.into(), nulls)
                    .expect("decoded text is UTF-8 with ascending offsets"),
            ),
            Values::Bin { offsets, data } => Arc::new(BinaryArray::new(
                OffsetBuffer::new(offsets.into()),
                data.into(),
                nulls,
            )),
        }
    }
}

// Decoding one record

/// The record being decoded: row `rows` of `columns`.
pub(crate) struct Stage<'a> {
    pub(crate) cols: &'a [ColPlan],
    pub(crate) columns: &'a mut [Column],
    pub(crate) rows: usize,
    pub(crate) unescaped: &'a mut String,
    pub(crate) bytes: &'a mut Vec<u8>,
    pub(crate) error: &'a mut Option<String>,
}

impl Stage<'_> {
    /// Converts `val` for column `col` and appends it; on error remembers the reason.
    #[inline]
    pub(crate) fn put(&mut self, col: usize, val: Val<'_>) -> Result<(), ()> {
        let plan = &self.cols[col];
        let column = &mut self.columns[col];
        // A key given twice: the last value wins.
        column.truncate(self.rows);
        match convert(plan.kind, val, column, self.bytes) {
            Ok(()) => Ok(()),
            Err(why) => {
                *self.error = Some(format!("column {} ({}): {why}", plan.name, plan.sql_type));
                Err(())
            }
        }
    }

    /// Removes whatever this record appended.
    pub(crate) fn undo(&mut self) {
        for column in self.columns.iter_mut() {
            column.truncate(self.rows);
        }
    }

    /// Converts a JSON leaf given as its source text.
    #[inline]
    pub(crate) fn put_raw(&mut self, col: usize, raw: &str) -> Result<(), ()> {
        let b = raw.as_bytes();
        let val = match b.first() {
            Some(b'n') => Val::Null,
            Some(b't') => Val::Bool(true),
            Some(b'f') => Val::Bool(false),
            Some(b'"') => {
                let inner = &raw[1..raw.len() - 1];
                if inner.as_bytes().contains(&b'\\') {
                    let mut buf = std::mem::take(self.unescaped);
                    unescape_json(inner, &mut buf);
                    let r = self.put(col, Val::Str(&buf));
                    *self.unescaped = buf;
                    return r;
                }
                Val::Str(inner)
            }
            Some(b'{' | b'[') => Val::Composite(raw),
            _ => Val::Number(raw),
        };
        self.put(col, val)
    }
}
