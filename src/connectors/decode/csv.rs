//! CSV records: one line, fields by position, `"…"` quoting with `""` for a quote. The column
//! delimiter is one character or several (`||`).

use super::columns::Stage;
use super::{Kind, Val};

/// Where `delimiter` first occurs in `hay`.
#[inline]
fn find(hay: &[u8], delimiter: &[u8]) -> Option<usize> {
    match delimiter {
        [d] => memchr::memchr(*d, hay),
        _ => memchr::memmem::find(hay, delimiter),
    }
}

#[inline]
pub(crate) fn decode_csv(
    delimiter: &[u8],
    stage: &mut Stage<'_>,
    record: &[u8],
) -> Result<(), String> {
    let line = std::str::from_utf8(record).map_err(|e| format!("not valid UTF-8: {e}"))?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let ncols = stage.cols.len();
    let b = line.as_bytes();
    let mut pos = 0;
    let mut col = 0;
    let mut buf = std::mem::take(stage.unescaped);
    let mut result = Ok(());
    while col < ncols {
        // One field starting at `pos`.
        let field: &str;
        let next: Option<usize>;
        // A column delimiter of "\n" never occurs inside a record: the record is one field,
        // taken as written (discovery's schema for plain text).
        if b.get(pos) == Some(&b'"') && delimiter != b"\n" {
            buf.clear();
            let mut i = pos + 1;
            let mut start = i;
            loop {
                match b[i..].iter().position(|&c| c == b'"') {
                    None => {
                        *stage.unescaped = buf;
                        return Err(format!(
                            "column {}: unterminated quoted CSV field",
                            stage.cols[col].name
                        ));
                    }
                    Some(q) => {
                        buf.push_str(&line[start..i + q]);
                        i += q + 1;
                        if b.get(i) == Some(&b'"') {
                            buf.push('"');
                            i += 1;
                            start = i;
                        } else {
                            break;
                        }
                    }
                }
            }
            // Anything between the closing quote and the delimiter is kept as written.
            let end = find(&b[i..], delimiter).map(|p| i + p);
            buf.push_str(&line[i..end.unwrap_or(b.len())]);
            field = &buf;
            next = end.map(|e| e + delimiter.len());
        } else {
            let end = find(&b[pos..], delimiter).map(|p| pos + p);
            field = &line[pos..end.unwrap_or(b.len())];
            next = end.map(|e| e + delimiter.len());
        }
        let val = if field.is_empty() && !matches!(stage.cols[col].kind, Kind::Text { .. }) {
            Val::Null
        } else {
            Val::Str(field)
        };
        if stage.put(col, val).is_err() {
            result = Err(stage.error.take().unwrap_or_default());
            break;
        }
        col += 1;
        match next {
            Some(n) => pos = n,
            None => break, // fewer fields than columns: the rest stay NULL
        }
    }
    *stage.unescaped = buf;
    result
}

#[cfg(test)]
mod tests {

    use crate::connectors::decode::RecordDecoder;
    use crate::connectors::decode::test_util::*;
    use arrow::array::{Array, AsArray};

    // ----- CSV

    #[test]
    fn csv_prefix_extra_empty_and_quoted_fields() {
        let schema = csv_schema(
            &[
                ("ID", "VARCHAR(8)"),
                ("N", "INTEGER"),
                ("NAME", "VARCHAR(16)"),
                ("OK", "BOOLEAN"),
            ],
            ",",
        );
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(b"a,1,Alice,true").unwrap();
        d.push(b"b,2").unwrap(); // fewer fields: trailing columns NULL
        d.push(b"c,3,Carol,false,extra,fields\r").unwrap(); // extra fields ignored
        d.push(b",,,").unwrap(); // empty: NULL for non-strings, "" for strings
        d.push(b"\"e,1\",\"4\",\"say \"\"hi\"\"\",TRUE").unwrap();
        d.push(b"f").unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 6);
        let id = b.column(0).as_string::<i32>();
        let n = b.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        let name = b.column(2).as_string::<i32>();
        let ok = b.column(3).as_boolean();
        assert_eq!(
            (id.value(0), n.value(0), name.value(0), ok.value(0)),
            ("a", 1, "Alice", true)
        );
        assert_eq!(
            (id.value(1), n.value(1), name.is_null(1), ok.is_null(1)),
            ("b", 2, true, true)
        );
        assert_eq!(
            (id.value(2), n.value(2), name.value(2), ok.value(2)),
            ("c", 3, "Carol", false)
        );
        assert_eq!(
            (id.value(3), n.is_null(3), name.value(3), ok.is_null(3)),
            ("", true, "", true)
        );
        assert_eq!(
            (id.value(4), n.value(4), name.value(4), ok.value(4)),
            ("e,1", 4, "say \"hi\"", true)
        );
        assert_eq!(
            (id.value(5), n.is_null(5), name.is_null(5)),
            ("f", true, true)
        );
    }

    #[test]
    fn csv_errors_name_the_column_and_keep_alignment() {
        let schema = csv_schema(
            &[
                ("SYM", "VARCHAR(4)"),
                ("PRICE", "DECIMAL(6,2)"),
                ("T", "TIMESTAMP"),
            ],
            "|",
        );
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(b"AMZN|815.43|2026-03-02 08:15:04.120").unwrap();
        assert_eq!(
            d.push(b"AMZN|abc|").unwrap_err(),
            r#"column PRICE (DECIMAL(6,2)): "abc" is not a number"#
        );
        assert!(
            d.push(b"AMZN|1|noon")
                .unwrap_err()
                .starts_with("column T (TIMESTAMP): \"noon\" is not a timestamp")
        );
        assert!(
            d.push(b"\"AMZN|1")
                .unwrap_err()
                .contains("column SYM: unterminated quoted")
        );
        d.push(b"GOOGLE|1.005|2026-03-02T08:15:04Z").unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_string::<i32>().value(1), "GOOG");
        assert_eq!(
            b.column(1)
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(1),
            101
        );
        let t = b
            .column(2)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(t.value(0) - t.value(1), 120);
    }

    #[test]
    fn ex44_varchar_in_an_integer_column_is_an_error() {
        let schema = json_schema(&[
            ("TICKER_SYMBOL", "INTEGER", "$.TICKER_SYMBOL"),
            ("SECTOR", "VARCHAR(16)", "$.SECTOR"),
            ("CHANGE", "REAL", "$.CHANGE"),
            ("PRICE", "REAL", "$.PRICE"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        let err = d.push(
            br#"{"TICKER_SYMBOL":"AMZN","SECTOR":"TECHNOLOGY","CHANGE":-0.95,"PRICE":815.43}"#,
        );
        assert_eq!(
            err.unwrap_err(),
            r#"column TICKER_SYMBOL (INTEGER): "AMZN" is not a number"#
        );
        assert!(d.is_empty());
    }
}
