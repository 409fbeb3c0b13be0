//! `INSERT INTO stream [(columns)]`: the pump's result becomes rows of the target stream.
//! Each query column is cast to its target column's type (approximate and decimal numbers round to
//! integers, as KDA's CAST does; strings longer than VARCHAR(n) are truncated, as KDA does on
//! input); a `CHAR(n)` column pads shorter text with blanks to n characters; target columns the
//! query does not give are NULL. A NULL into a `NOT NULL` column is an error of the row, which
//! goes to `error_stream`. ROWTIME passes through.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray, TimestampMillisecondArray,
    new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::{Emit, Operator, concat, evaluate_or_isolate};
use crate::error::Result;
use crate::error_stream::{ErrorRow, ROWTIME_ERROR};
use crate::format::row_as_json;
use crate::state::Snapshot;

/// Plan node: writing into a stream.
#[derive(Debug)]
pub struct InsertSpec {
    pub target: String,
    /// For each target column: the query column that fills it, if any.
    pub sources: Vec<Option<usize>>,
    /// For each target column: its maximum length in characters (VARCHAR(n), CHAR(n)).
    pub max_chars: Vec<Option<usize>>,
    /// For each target column: CHAR(n), padded with blanks to n characters.
    pub padded: Vec<bool>,
    /// For each target column: declared NOT NULL.
    pub not_null: Vec<bool>,
    /// The query column that sets ROWTIME (`… AS ROWTIME`), if any.
    pub rowtime_source: Option<usize>,
    /// The target stream's batch schema: its columns, ROWTIME, then the trailing ROWTIME.
    pub schema: SchemaRef,
    pub display: Vec<String>,
    /// Number of visible input columns.
    pub visible: usize,
    pub pump: String,
}

impl fmt::Display for InsertSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "insert into {} ({})",
            self.target,
            self.display.join(", ")
        )
    }
}

pub struct Insert {
    spec: Arc<InsertSpec>,
    /// With `… AS ROWTIME`: the last ROWTIME written (they must not go back).
    last_rowtime: i64,
}

impl Insert {
    pub fn new(spec: Arc<InsertSpec>) -> Insert {
        Insert {
            spec,
            last_rowtime: i64::MIN,
        }
    }

    /// Replaces the trailing ROWTIME with the query's ROWTIME column; rows whose new ROWTIME is
    /// NULL or earlier than the previous one go to error_stream.
    fn override_rowtime(
        &mut self,
        batch: RecordBatch,
        column: usize,
        out: &mut Emit,
    ) -> Result<Option<RecordBatch>> {
        let values = crate::catalog::timestamp_ms(batch.column(column))?;
        let old = crate::catalog::rowtime(&batch).clone();
        let mut keep = Vec::with_capacity(batch.num_rows());
        let mut rowtimes = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let problem = if values.is_null(i) {
                Some("the ROWTIME the query gives is NULL".to_string())
            } else if values.value(i) < self.last_rowtime {
                Some(format!(
                    "ROWTIME out of order: the query gives {} after {} (… AS ROWTIME must not go back)",
                    fmt_ms(values.value(i)),
                    fmt_ms(self.last_rowtime)
                ))
            } else {
                None
            };
            match problem {
                Some(message) => {
                    keep.push(false);
                    out.errors.push(ErrorRow {
                        name: ROWTIME_ERROR,
                        message,
                        data_rowtime: Some(old.value(i)),
                        data_row: row_as_json(&batch, self.spec.visible, i).into_bytes(),
                        pump: Some(self.spec.pump.clone()),
                    });
                }
                None => {
                    keep.push(true);
                    self.last_rowtime = values.value(i);
                    rowtimes.push(values.value(i));
                }
            }
        }
        let batch = if rowtimes.len() == batch.num_rows() {
            batch
        } else {
            filter_record_batch(&batch, &BooleanArray::from(keep))?
        };
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let mut columns = batch.columns().to_vec();
        *columns.last_mut().expect("ROWTIME column") =
            Arc::new(TimestampMillisecondArray::from(rowtimes));
        Ok(Some(RecordBatch::try_new(batch.schema(), columns)?))
    }
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Casts with KDA's rules: errors (overflow) instead of NULLs, rounding approximate → exact integers.
pub fn kda_cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    if matches!(array.data_type(), DataType::Float32 | DataType::Float64) && to.is_integer() {
        let f = cast(array, &DataType::Float64)?;
        let rounded: Float64Array = f.as_primitive::<Float64Type>().unary(|v| v.round());
        return Ok(cast_with_options(&rounded, to, &options)?);
    }
    // Exact numbers with a fraction round the same way (half away from zero).
    if let DataType::Decimal128(_, scale) = array.data_type()
        && *scale > 0
        && to.is_integer()
    {
        let unit = 10i128.pow(*scale as u32);
        let rounded = array
            .as_primitive::<Decimal128Type>()
            .unary::<_, Decimal128Type>(|v| {
                let up = if (v % unit).abs() * 2 >= unit {
                    v.signum()
                } else {
                    0
                };
                (v / unit + up) * unit
            })
            .with_precision_and_scale(38, *scale)?;
        return Ok(cast_with_options(&rounded, to, &options)?);
    }
    Ok(cast_with_options(array, to, &options)?)
}

fn truncate_chars(array: &ArrayRef, n: usize) -> ArrayRef {
    let strings = array.as_string::<i32>();
    if strings
        .iter()
        .flatten()
        .all(|s| s.len() <= n || s.chars().count() <= n)
    {
        return Arc::clone(array);
    }
    let truncated: StringArray = strings
        .iter()
        .map(|s| {
            s.map(|s| match s.char_indices().nth(n) {
                Some((cut, _)) => &s[..cut],
                None => s,
            })
        })
        .collect();
    Arc::new(truncated)
}

/// Pads text shorter than `n` characters with blanks (a `CHAR(n)` column).
fn pad_chars(array: &ArrayRef, n: usize) -> ArrayRef {
    let strings = array.as_string::<i32>();
    if strings.iter().flatten().all(|s| s.chars().count() >= n) {
        return Arc::clone(array);
    }
    let padded: StringArray = strings
        .iter()
        .map(|s| {
            s.map(|s| {
                let chars = s.chars().count();
                format!("{s}{}", " ".repeat(n.saturating_sub(chars)))
            })
        })
        .collect();
    Arc::new(padded)
}

fn insert(spec: &InsertSpec, batch: &RecordBatch) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(spec.schema.fields().len());
    for (i, source) in spec.sources.iter().enumerate() {
        let to = spec.schema.field(i).data_type();
        let column = match source {
            Some(s) => kda_cast(batch.column(*s), to)?,
            None => new_null_array(to, n),
        };
        let column = match spec.max_chars[i] {
            Some(len) if matches!(to, DataType::Utf8) => {
                let column = truncate_chars(&column, len);
                if spec.padded[i] {
                    pad_chars(&column, len)
                } else {
                    column
                }
            }
            _ => column,
        };
        if spec.not_null[i] && column.null_count() > 0 {
            let name = spec.schema.field(i).name();
            return Err(crate::error::Error::Application(format!(
                "column {name} of {} is NOT NULL, but the query gives NULL",
                spec.target
            )));
        }
        columns.push(column);
    }
    let rowtime = Arc::clone(batch.column(batch.num_columns() - 1));
    columns.push(Arc::clone(&rowtime));
    columns.push(rowtime);
    Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
}

impl Operator for Insert {
    fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::of(
            serde_json::json!({ "last_rowtime": self.last_rowtime }),
        ))
    }

    fn restore(&mut self, state: &Snapshot) -> Result<()> {
        self.last_rowtime = state.field("last_rowtime")?;
        Ok(())
    }

    fn push(&mut self, batch: RecordBatch, out: &mut Emit) -> Result<()> {
        let batch = match self.spec.rowtime_source {
            Some(column) => match self.override_rowtime(batch, column, out)? {
                Some(b) => b,
                None => return Ok(()),
            },
            None => batch,
        };
        let spec = &self.spec;
        let result = evaluate_or_isolate(
            &batch,
            spec.visible,
            &spec.pump,
            out,
            |b| insert(spec, b),
            |parts| concat(&spec.schema, &parts),
        )?;
        if let Some((rows, _)) = result {
            out.batches.push(rows);
        }
        Ok(())
    }

    fn advance(&mut self, _bound: i64, _out: &mut Emit) -> Result<()> {
        Ok(())
    }

    fn output_bound(&self, input_bound: i64) -> i64 {
        match self.spec.rowtime_source {
            // The query chooses ROWTIME: only what was written bounds what comes next.
            Some(_) if input_bound != i64::MAX => self.last_rowtime,
            _ => input_bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, Int64Array};

    use super::*;

    #[test]
    fn casts_round_approximate_numbers_and_fail_on_overflow() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![2.5, -1.6, 0.4]));
        let i = kda_cast(&f, &DataType::Int32).unwrap();
        assert_eq!(
            i.as_primitive::<datafusion::arrow::datatypes::Int32Type>(),
            &Int32Array::from(vec![3, -2, 0])
        );
        let big: ArrayRef = Arc::new(Int64Array::from(vec![1 << 40]));
        assert!(kda_cast(&big, &DataType::Int32).is_err());
    }

    #[test]
    fn truncates_long_strings_by_characters() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("TECHNOLOGY"),
            None,
            Some("héllo"),
        ]));
        let t = truncate_chars(&s, 4);
        let t = t.as_string::<i32>();
        assert_eq!(t.value(0), "TECH");
        assert!(t.is_null(1));
        assert_eq!(t.value(2), "héll");
    }

    #[test]
    fn pads_char_columns_with_blanks() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("AMZN"), None, Some("héllo!")]));
        let p = pad_chars(&s, 6);
        let p = p.as_string::<i32>();
        assert_eq!(p.value(0), "AMZN  ");
        assert!(p.is_null(1));
        assert_eq!(p.value(2), "héllo!");
    }

    #[test]
    fn a_checkpoint_keeps_the_last_rowtime_set_by_the_query() {
        use crate::exec::test_util::rows;
        use crate::types::SqlType;
        let columns = [("K", SqlType::Varchar(Some(4))), ("T", SqlType::Timestamp)];
        let code = "CREATE STREAM OUT (K VARCHAR(4));
                    CREATE PUMP P AS INSERT INTO OUT SELECT STREAM K, T AS ROWTIME FROM S;";
        // The third row's T goes back: an error after a resume too.
        let input = rows(
            &columns,
            "ROWTIME             | K | T
             2020-01-01 00:00:01 | a | 2020-01-01 00:00:05
             2020-01-01 00:00:02 | b | 2020-01-01 00:00:09
             2020-01-01 00:00:03 | c | 2020-01-01 00:00:07
             2020-01-01 00:00:04 | d | 2020-01-01 00:00:11",
        );
        for cut in 0..=input.num_rows() {
            let (straight, resumed) =
                crate::exec::test_util::straight_and_resumed(code, &columns, &[], &input, cut);
            assert_eq!(resumed, straight, "cut at row {cut}");
            assert!(straight.contains("ROWTIME_ERROR"), "{straight}");
        }
    }
}
