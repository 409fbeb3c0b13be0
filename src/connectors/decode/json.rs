//! JSON records: JSONPath mappings, walked with serde over a small trie built from the column
//! mappings. Keys no column asks for are skipped with `IgnoredAny`; mapped values are taken as
//! borrowed [`RawValue`]s (their exact source text) and converted by the column's type. No
//! `serde_json::Value` is built and nothing is allocated per record in the common case, and flat
//! objects take a faster path still. A schema that flattens an array (`$.arr[0:].field`)
//! parses each record whole instead and appends a row per element.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::columns::Stage;
use super::{Format, RecordDecoder, Val};
use crate::connectors::schema::ColumnSpec;

/// Where a column's value is in a record whose array is flattened.
pub(crate) enum FlatPath {
    /// Keys from the document's root: the same on every row of the record.
    Root(Vec<String>),
    /// Keys inside each element of the array.
    Element(Vec<String>),
}

/// A trie node: an object level of the JSON document.
#[derive(Default)]
pub(crate) struct Node {
    /// Keys of this object that some column path goes through or ends at.
    pub(crate) children: Vec<(Box<str>, usize)>,
    /// Columns whose path ends here.
    pub(crate) leaves: Vec<usize>,
}

impl RecordDecoder {
    /// A record with a flattened array: parsed whole, a row per element of the array.
    pub(crate) fn push_flattened(&mut self, record: &[u8]) -> Result<(), String> {
        let Format::JsonFlatten {
            array,
            columns,
            records,
        } = &self.format
        else {
            unreachable!("called for flattened arrays only")
        };
        let doc: serde_json::Value =
            serde_json::from_slice(record).map_err(|e| format!("not valid JSON: {e}"))?;
        if !(doc.is_object() || *records && doc.is_array()) {
            return Err("not a JSON object: the record is not an object".into());
        }
        fn lookup<'v>(
            mut v: &'v serde_json::Value,
            keys: &[String],
        ) -> Option<&'v serde_json::Value> {
            for k in keys {
                v = v.get(k)?;
            }
            Some(v)
        }
        let elements: Vec<&serde_json::Value> = match (lookup(&doc, array), records) {
            (Some(serde_json::Value::Array(items)), _) => items.iter().collect(),
            (Some(one @ serde_json::Value::Object(_)), true) => vec![one],
            (_, true) => {
                return Err(format!(
                    "RecordRowPath $.{}: the document has no array or object there",
                    array.join(".")
                ));
            }
            (_, false) => Vec::new(),
        };
        let start = self.rows;
        if elements.is_empty() && *records {
            // No records in this document.
            return Ok(());
        }
        if elements.is_empty() {
            // An empty or missing array: one row of NULLs.
            for column in &mut self.columns {
                column.push_null();
            }
            self.rows += 1;
            self.last_record_rows = 1;
            return Ok(());
        }
        for (i, element) in elements.iter().enumerate() {
            let mut stage = Stage {
                cols: &self.cols,
                columns: &mut self.columns,
                rows: start + i,
                unescaped: &mut self.unescaped,
                bytes: &mut self.bytes,
                error: &mut self.error,
            };
            for (c, path) in columns.iter().enumerate() {
                let value = match path {
                    FlatPath::Root(keys) => lookup(&doc, keys),
                    FlatPath::Element(keys) => lookup(element, keys),
                };
                let text;
                let val = match value {
                    None | Some(serde_json::Value::Null) => Val::Null,
                    Some(serde_json::Value::Bool(b)) => Val::Bool(*b),
                    Some(serde_json::Value::String(s)) => Val::Str(s),
                    Some(v @ serde_json::Value::Number(_)) => {
                        text = v.to_string();
                        Val::Number(&text)
                    }
                    Some(v) => {
                        text = v.to_string();
                        Val::Composite(&text)
                    }
                };
                if stage.put(c, val).is_err() {
                    let why = stage.error.take().unwrap_or_default();
                    for column in &mut self.columns {
                        column.truncate(start);
                    }
                    return Err(why);
                }
            }
        }
        self.rows += elements.len();
        self.last_record_rows = elements.len();
        Ok(())
    }
}

// JSONPath mappings

/// A column's JSONPath: its object keys, and for `$.arr[0:].field` (one row per element of the
/// array) where the array's keys end (`Some(1)` for `$.arr[0:].field`: `arr`, then `field` in
/// each element).
pub(crate) struct JsonPath {
    pub(crate) keys: Vec<String>,
    pub(crate) flatten_at: Option<usize>,
}

/// Parses a column's JSONPath. Supported: `$.a`, `$.a.b.c`, `$["a"]`, `$['a']`, `$.arr[0:]` (the
/// whole array as JSON text) as the last step, and `$.arr[0:].b.c` (one row per element).
pub(crate) fn parse_path(col: &ColumnSpec) -> Result<JsonPath, String> {
    let Some(path) = col.mapping.as_deref() else {
        return Err(format!(
            "column {}: no Mapping; JSON columns need a JSONPath such as \"$.{}\"",
            col.name, col.name
        ));
    };
    let supported = "supported: $.key, $.a.b.c, $[\"key\"], $.array[0:] (the whole array as text) \
                     and $.array[0:].key (a row per element)";
    let bad = |why: &str| format!("column {}: Mapping {path:?} {why}; {supported}", col.name);
    let p = path.trim();
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(bad("does not start with `$`"));
    };
    let mut keys = Vec::new();
    let mut flatten_at = None;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() || key == "*" {
                return Err(bad(
                    "has an empty or wildcard step, which is not supported yet",
                ));
            }
            keys.push(key.to_string());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[0:]") {
            if keys.is_empty() {
                return Err(bad(
                    "selects the document itself, which is not supported yet",
                ));
            }
            if !r.is_empty() {
                if flatten_at.is_some() {
                    return Err(bad(
                        "flattens arrays inside arrays; only one level of [0:] can be flattened",
                    ));
                }
                flatten_at = Some(keys.len());
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").ok_or_else(|| bad("has an unclosed ['"))?;
            keys.push(r[..end].to_string());
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            // A JSON string literal up to the closing `"]`.
            let mut i = 0;
            let b = r.as_bytes();
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() || !r[i + 1..].starts_with(']') {
                return Err(bad("has an unclosed [\""));
            }
            let key: String = serde_json::from_str(&format!("\"{}\"", &r[..i]))
                .map_err(|_| bad("has a bad key string"))?;
            keys.push(key);
            rest = &r[i + 2..];
        } else {
            return Err(bad("is not supported yet"));
        }
    }
    if keys.is_empty() {
        return Err(bad(
            "selects the whole document, which is not supported yet",
        ));
    }
    Ok(JsonPath { keys, flatten_at })
}

/// Decodes the JSON escapes of a string's inside (already validated by serde_json).
pub(crate) fn unescape_json(s: &str, out: &mut String) {
    out.clear();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let b = rest.as_bytes();
        let esc = b.get(i + 1).copied().unwrap_or(b'\\');
        rest = &rest[(i + 2).min(rest.len())..];
        match esc {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hex4 = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
                let Some(hi) = hex4(rest) else {
                    out.push('\u{fffd}');
                    continue;
                };
                rest = &rest[4..];
                let code = if (0xD800..0xDC00).contains(&hi) {
                    match rest.strip_prefix("\\u").and_then(hex4) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            rest = &rest[6..];
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => 0xFFFD,
                    }
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            other => out.push(other as char), // `"`, `\`, `/`
        }
    }
    out.push_str(rest);
}

#[inline]
pub(crate) fn decode_json(
    trie: &[Node],
    stage: &mut Stage<'_>,
    record: &[u8],
    fast: bool,
) -> Result<(), String> {
    // Validating UTF-8 once for the whole record is cheaper than serde_json doing it for every
    // captured value (`from_slice` does; `from_str` need not).
    let record =
        std::str::from_utf8(record).map_err(|e| format!("not valid JSON: not UTF-8: {e}"))?;
    if fast {
        match flat_object(trie, stage, record) {
            Some(done) => return done,
            // Start again from an empty row.
            None => stage.undo(),
        }
    }
    let mut de = serde_json::Deserializer::from_str(record);
    let walked = ObjectSeed {
        trie,
        node: 0,
        stage: &mut *stage,
        top: true,
    }
    .deserialize(&mut de);
    match walked.and_then(|()| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => Err(match stage.error.take() {
            Some(why) => why,
            None if e.is_data() => e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            None => format!("not valid JSON: {e}"),
        }),
    }
}

/// The fast path for the common record: one flat JSON object whose mapped keys hold strings
/// without escapes, numbers, booleans or null. Returns None for anything else (escapes, nested
/// values, bad syntax); the caller then undoes what was appended and the serde_json walk decodes
/// or reports the record.
pub(crate) fn flat_object(
    trie: &[Node],
    stage: &mut Stage<'_>,
    record: &str,
) -> Option<Result<(), String>> {
    let b = record.as_bytes();
    let root = &trie[0];
    // Records usually list their keys in the same order: try the key after the last one found.
    let mut next_child = 0;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(Ok(()));
    }
    loop {
        // "key"
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i + 1)?;
        let key = &record[i + 1..key_end];
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        // the value
        let start = i;
        let value = match *b.get(i)? {
            b'"' => {
                let end = string_end(b, i + 1)?;
                i = end + 1;
                Val::Str(&record[start + 1..end])
            }
            b'-' | b'0'..=b'9' => {
                i += b[i..]
                    .iter()
                    .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(b.len() - i);
                let text = &record[start..i];
                if !is_json_number(text) {
                    return None;
                }
                Val::Number(text)
            }
            b't' if b[i..].starts_with(b"true") => {
                i += 4;
                Val::Bool(true)
            }
            b'f' if b[i..].starts_with(b"false") => {
                i += 5;
                Val::Bool(false)
            }
            b'n' if b[i..].starts_with(b"null") => {
                i += 4;
                Val::Null
            }
            _ => return None,
        };
        let child = match root.children.get(next_child) {
            Some((k, _)) if same_key(k.as_bytes(), key.as_bytes()) => Some(next_child),
            _ => root
                .children
                .iter()
                .position(|(k, _)| same_key(k.as_bytes(), key.as_bytes())),
        };
        if let Some(c) = child {
            next_child = c + 1;
            let node = root.children[c].1;
            let node = &trie[node];
            if !node.children.is_empty() {
                return None;
            }
            for &col in &node.leaves {
                if stage.put(col, value).is_err() {
                    return Some(Err(stage.error.take().unwrap_or_default()));
                }
            }
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(Ok(())),
            _ => return None,
        }
    }
}

/// Bytes that end the fast path's scan of a JSON string: the closing quote, an escape, or a
/// control character (not allowed in JSON strings).
pub(crate) const STRING_STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        stop[c] = true;
        c += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// Where the string whose text starts at `from` ends: the index of its closing quote, or None
/// when an escape, a control character or the end of the record comes first.
pub(crate) fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let end = from
        + b.get(from..)?
            .iter()
            .position(|&c| STRING_STOP[c as usize])?;
    (b[end] == b'"').then_some(end)
}

/// Equality of two short byte strings (object keys) without a call to `memcmp`.
#[inline]
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a8).zip(&mut b8) {
        if u64::from_ne_bytes(x.try_into().expect("8 bytes"))
            != u64::from_ne_bytes(y.try_into().expect("8 bytes"))
        {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(crate) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Walks one object level of the trie.
pub(crate) struct ObjectSeed<'t, 's, 'a> {
    pub(crate) trie: &'t [Node],
    pub(crate) node: usize,
    pub(crate) stage: &'s mut Stage<'a>,
    /// The record itself: anything but an object is an error.
    pub(crate) top: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl ObjectSeed<'_, '_, '_> {
    pub(crate) fn not_object<E: de::Error>(&self, what: &str) -> Result<(), E> {
        if self.top {
            Err(E::custom(format_args!(
                "not a JSON object: the record is {what}"
            )))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.trie[self.node];
        while let Some(child) = map.next_key_seed(KeySeed {
            children: &node.children,
        })? {
            match child {
                Some(n) => map.next_value_seed(ValueSeed {
                    trie: self.trie,
                    node: n,
                    stage: &mut *self.stage,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.not_object::<A::Error>("an array")?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object("null")
    }
}

/// Looks a key up among a node's children without allocating.
pub(crate) struct KeySeed<'t> {
    pub(crate) children: &'t [(Box<str>, usize)],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self
            .children
            .iter()
            .find(|(k, _)| **k == *key)
            .map(|&(_, n)| n))
    }
}

/// The value of a mapped key: converted for the columns ending here, walked for deeper paths.
pub(crate) struct ValueSeed<'t, 's, 'a> {
    pub(crate) trie: &'t [Node],
    pub(crate) node: usize,
    pub(crate) stage: &'s mut Stage<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let node = &self.trie[self.node];
        if node.leaves.is_empty() {
            // Only deeper paths: walk an object, skip anything else (the paths give NULL).
            return ObjectSeed {
                trie: self.trie,
                node: self.node,
                stage: self.stage,
                top: false,
            }
            .deserialize(d);
        }
        let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?;
        let text = raw.get();
        for &col in &node.leaves {
            self.stage
                .put_raw(col, text)
                .map_err(|()| de::Error::custom("conversion"))?;
        }
        if !node.children.is_empty() && text.starts_with('{') {
            // Rare: both `$.a` and `$.a.b` are mapped; walk the captured text again.
            let mut de = serde_json::Deserializer::from_str(text);
            ObjectSeed {
                trie: self.trie,
                node: self.node,
                stage: self.stage,
                top: false,
            }
            .deserialize(&mut de)
            .map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use crate::connectors::decode::RecordDecoder;
    use crate::connectors::decode::test_util::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn a_record_row_path_gives_a_row_per_record_of_each_document() {
        // RecordRowPath $.records: mappings within each record, or written out from the document.
        let mut schema = json_schema(&[
            ("ID", "INTEGER", "$.id"),
            ("NAME", "VARCHAR(8)", "$.records[0:].name"),
        ]);
        schema.row_path = Some("$.records".into());
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"records":[{"id":1,"name":"a"},{"id":2}],"other":9}"#)
            .unwrap();
        assert_eq!(d.last_record_rows(), 2);
        // One object there is one record; an empty array none.
        d.push(br#"{"records":{"id":3,"name":"c"}}"#).unwrap();
        assert_eq!(d.last_record_rows(), 1);
        d.push(br#"{"records":[]}"#).unwrap();
        assert_eq!(d.last_record_rows(), 0);
        // A document without its records, or with a bad one, is an error and adds nothing.
        let e = d.push(br#"{"rows":[{"id":4}]}"#).unwrap_err();
        assert!(
            e.contains("RecordRowPath $.records") && e.contains("no array or object"),
            "{e}"
        );
        let e = d.push(br#"{"records":[{"id":5},{"id":"x"}]}"#).unwrap_err();
        assert!(e.contains("ID"), "{e}");
        let batch = d.flush();
        let ids = batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some(1), Some(2), Some(3)]);
        let names = batch.column(1).as_string::<i32>();
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            [Some("a"), None, Some("c")]
        );

        // $[0:]: the document is an array of records.
        let mut schema = json_schema(&[("ID", "INTEGER", "$.id")]);
        schema.row_path = Some("$[0:]".into());
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"[{"id":7},{"id":8}]"#).unwrap();
        assert_eq!(d.last_record_rows(), 2);
        // A mapping that flattens another array inside the records is refused.
        let mut schema = json_schema(&[("ID", "INTEGER", "$.items[0:].id")]);
        schema.row_path = Some("$.records".into());
        let e = RecordDecoder::new(&schema).err().unwrap();
        assert!(e.contains("inside the records of RecordRowPath"), "{e}");
    }

    #[test]
    fn the_fast_path_decodes_exactly_as_the_full_decoder() {
        let schema = json_schema(&[
            ("S", "VARCHAR(4)", "$.s"),
            ("I", "INTEGER", "$.i"),
            ("D", "DECIMAL(8,2)", "$.d"),
            ("F", "DOUBLE", "$.f"),
            ("B", "BOOLEAN", "$.b"),
            ("T", "TIMESTAMP", "$.t"),
            ("N", "VARCHAR(8)", "$.n.x"),
        ]);
        let records = [
            r#"{"s":"abc","i":1,"d":2.5,"f":-1e3,"b":true,"t":"2020-01-01 00:00:00.123"}"#,
            r#" { "s" : "toolong" , "i" : "42" , "d" : "3" , "extra" : null } "#,
            r#"{"s":"a\"b","i":-0,"d":0.001,"f":1E+2,"b":"false"}"#,
            r#"{"s":12.50,"i":1.0,"f":true,"t":null}"#,
            r#"{"i":1.5}"#,
            r#"{"i":99999999999}"#,
            r#"{"d":"abc"}"#,
            r#"{"f":01}"#,
            r#"{"f":1.}"#,
            r#"{"f":-}"#,
            r#"{"s":"x","s":"y"}"#,
            r#"{"skip":{"deep":[1,2]},"i":3}"#,
            r#"{"n":{"x":"nested"}}"#,
            r#"{"i":1,}"#,
            r#"{"i":1} trailing"#,
            r#"{"i":1"#,
            r#"["not an object"]"#,
            r#"{}"#,
            r#"{"s":"tab	inside"}"#,
            r#"{"t":"2020-02-30 00:00:00"}"#,
            r#"{"b":tru}"#,
            // The fast path gives up after appending some columns: the full decoder starts over.
            r#"{"i":7,"s":"ab","d":1,"n":{"x":"deep"}}"#,
            r#"{"i":8,"s":"cd","f":2,"s":"e\u0041"}"#,
            r#"{"i":9,"s":"gh","t":"2020-01-01 00:00:00","b":[true]}"#,
        ];
        let decode = |fast: bool| {
            let mut d = RecordDecoder::new(&schema).unwrap();
            d.fast_json = fast;
            let results: Vec<Result<(), String>> =
                records.iter().map(|r| d.push(r.as_bytes())).collect();
            (results, d.flush())
        };
        let (fast, fast_batch) = decode(true);
        let (full, full_batch) = decode(false);
        for ((r, a), b) in records.iter().zip(&fast).zip(&full) {
            assert_eq!(a, b, "{r}");
        }
        assert_eq!(fast_batch, full_batch);
        assert!(fast_batch.num_rows() >= 8, "{}", fast_batch.num_rows());
        // The last of a key given twice wins, also after the fast path gave up half-way.
        let i = fast_batch
            .column(1)
            .as_primitive::<arrow::datatypes::Int32Type>();
        let row = (0..i.len())
            .find(|&r| i.is_valid(r) && i.value(r) == 8)
            .unwrap();
        assert_eq!(fast_batch.column(0).as_string::<i32>().value(row), "eA");
        assert_eq!(
            fast_batch
                .column(3)
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
            2.0
        );
    }

    /// Many generated records, well-formed and not, decode the same on the fast path and the
    /// full decoder: the same results, the same batch.
    #[test]
    fn generated_records_decode_the_same_on_both_paths() {
        let schema = json_schema(&[
            ("S", "VARCHAR(6)", "$.s"),
            ("I", "INTEGER", "$.i"),
            ("D", "DECIMAL(8,2)", "$.d"),
            ("B", "BOOLEAN", "$.b"),
            ("T", "TIMESTAMP", "$.t"),
            ("N", "VARCHAR(8)", "$.n.x"),
        ]);
        let keys = ["s", "i", "d", "b", "t", "n", "other"];
        let values = [
            "\"abc\"",
            "\"a\\\"b\"",
            "\"\\u00e9t\u{e9}\"",
            "12",
            "-0",
            "1.5",
            "1e2",
            "01",
            "\"42\"",
            "true",
            "false",
            "null",
            "\"2020-01-01 00:00:00\"",
            "\"2020-02-30 00:00:00\"",
            "{\"x\":\"deep\"}",
            "{\"x\":1}",
            "[1,2]",
            "\"toolongtext\"",
            "tru",
            "\"\"",
            "99999999999",
        ];
        // A small deterministic generator (xorshift), so failures reproduce.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut records = Vec::new();
        for _ in 0..3000 {
            let fields = next(6);
            let mut r = String::from(if next(20) == 0 { "[" } else { "{" });
            for f in 0..fields {
                if f > 0 {
                    r.push_str(if next(30) == 0 { " , " } else { "," });
                }
                r.push_str(&format!(
                    "\"{}\":{}",
                    keys[next(keys.len())],
                    values[next(values.len())]
                ));
            }
            r.push_str(match next(25) {
                0 => "",
                1 => "} x",
                _ => "}",
            });
            records.push(r);
        }
        let decode = |fast: bool| {
            let mut d = RecordDecoder::new(&schema).unwrap();
            d.fast_json = fast;
            let results: Vec<Result<(), String>> =
                records.iter().map(|r| d.push(r.as_bytes())).collect();
            (results, d.flush())
        };
        let (fast, fast_batch) = decode(true);
        let (full, full_batch) = decode(false);
        for ((r, a), b) in records.iter().zip(&fast).zip(&full) {
            assert_eq!(a, b, "{r}");
        }
        assert_eq!(fast_batch, full_batch);
        let good = fast.iter().filter(|r| r.is_ok()).count();
        assert_eq!(fast_batch.num_rows(), good);
        assert!(
            good > 300 && good < 2900,
            "a mix of good and bad records: {good}"
        );
    }

    #[test]
    fn nested_paths_missing_keys_and_non_objects() {
        let schema = json_schema(&[
            ("A", "INTEGER", "$.a"),
            ("ABC", "VARCHAR(8)", "$.a2.b.c"),
            ("AB", "VARCHAR(32)", "$.a2.b"),
            ("MISSING", "INTEGER", "$.nope"),
            ("Case", "INTEGER", "$.A"),
            ("ARR", "VARCHAR(32)", "$.arr[0:]"),
            ("Q", "VARCHAR(8)", "$[\"we.ird\"]"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"a":1,"x":{"deep":[1,{"y":2}]},"a2":{"b":{"c":"hi","d":3}},"arr":[1, "two"],"we.ird":"ok"}"#)
            .unwrap();
        d.push(br#"{"a":2,"a2":{"b":5}}"#).unwrap(); // path through a non-object ⇒ NULL
        d.push(br#"{"a2":[{"b":1}], "A": 7}"#).unwrap();
        let b = d.flush();
        assert_eq!(b.num_rows(), 3);
        assert_eq!(b.schema(), schema.arrow_schema());
        let a = b.column(0).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!((a.value(0), a.value(1), a.is_null(2)), (1, 2, true));
        let abc = b.column(1).as_string::<i32>();
        assert_eq!(
            (abc.value(0), abc.is_null(1), abc.is_null(2)),
            ("hi", true, true)
        );
        let ab = b.column(2).as_string::<i32>();
        assert_eq!(
            (ab.value(0), ab.value(1), ab.is_null(2)),
            (r#"{"c":"hi","d":3}"#, "5", true)
        );
        assert_eq!(b.column(3).null_count(), 3);
        let case = b.column(4).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!((case.is_null(0), case.value(2)), (true, 7));
        assert_eq!(b.column(5).as_string::<i32>().value(0), r#"[1, "two"]"#);
        assert_eq!(b.column(6).as_string::<i32>().value(0), "ok");
        assert!(d.is_empty());
    }

    #[test]
    fn escapes_are_decoded() {
        let schema = json_schema(&[
            ("S", "VARCHAR(32)", "$.s"),
            ("K", "VARCHAR(32)", "$.k\u{e9}"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        d.push(br#"{"s":"a\"b\\c\/d\u00e9\n\ud83d\ude00","k\u00e9":"x"}"#)
            .unwrap();
        d.push(r#"{"s":"plain é","ké":"y"}"#.as_bytes()).unwrap();
        let b = d.flush();
        let s = b.column(0).as_string::<i32>();
        assert_eq!(s.value(0), "a\"b\\c/dé\n😀");
        assert_eq!(s.value(1), "plain é");
        assert_eq!(b.column(1).as_string::<i32>().value(0), "x");
        assert_eq!(b.column(1).as_string::<i32>().value(1), "y");
    }

    #[test]
    fn bad_escapes_and_encodings() {
        let mut d = RecordDecoder::new(&json_schema(&[("S", "VARCHAR(8)", "$.s")])).unwrap();
        let err = d.push(br#"{"s":"a\x"}"#).unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        let err = d.push(b"{\"s\":\"\xff\"}").unwrap_err();
        assert!(err.starts_with("not valid JSON: not UTF-8"), "{err}");
        // A lone surrogate escape becomes U+FFFD rather than failing the record.
        d.push(br#"{"s":"a\ud800b"}"#).unwrap();
        assert_eq!(
            d.flush().column(0).as_string::<i32>().value(0),
            "a\u{fffd}b"
        );
        let mut c = RecordDecoder::new(&csv_schema(&[("S", "VARCHAR(8)")], ",")).unwrap();
        assert!(c.push(b"\xff").unwrap_err().starts_with("not valid UTF-8"));
    }

    #[test]
    fn records_that_are_not_json_objects_are_errors() {
        let mut d = RecordDecoder::new(&json_schema(&[("A", "INTEGER", "$.a")])).unwrap();
        assert_eq!(
            d.push(b"[1,2]").unwrap_err(),
            "not a JSON object: the record is an array"
        );
        assert_eq!(
            d.push(b"42").unwrap_err(),
            "not a JSON object: the record is a number"
        );
        assert_eq!(
            d.push(b"\"s\"").unwrap_err(),
            "not a JSON object: the record is a string"
        );
        let err = d.push(br#"{"a":1"#).unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        let err = d.push(br#"{"a":1} x"#).unwrap_err();
        assert!(
            err.starts_with("not valid JSON: trailing characters"),
            "{err}"
        );
        let err = d.push(b"").unwrap_err();
        assert!(err.starts_with("not valid JSON: "), "{err}");
        d.push(b"{\"a\":1}\r\n").unwrap();
        assert_eq!(d.len(), 1);
    }

    /// The record of DEV about-json-path.html: `$.orders[0:].orderId` gives a row per order,
    /// `$.customerName` repeats on each, `$.address.streetAddress[0:]` is the whole array as text.
    #[test]
    fn a_flattened_array_gives_a_row_per_element() {
        let schema = json_schema(&[
            ("CUSTOMER", "VARCHAR(16)", "$.customerName"),
            ("ORDER_ID", "INTEGER", "$.orders[0:].orderId"),
            ("ITEM", "VARCHAR(16)", "$.orders[0:].itemName"),
            ("PRICE", "DECIMAL(8,2)", "$.orders[0:].itemPrice"),
            ("STREET", "VARCHAR(64)", "$.address.streetAddress[0:]"),
        ]);
        let mut d = RecordDecoder::new(&schema).unwrap();
        let record = r#"{"customerName":"John Doe","address":{"streetAddress":[{"number":"123"},{"street":"AnyStreet"}],"city":"Anytown"},"orders":[{"orderId":"23284","itemName":"Widget","itemPrice":"33.99"},{"orderId":"63122","itemName":"Gadget","itemPrice":"22.50"},{"orderId":"77284","itemName":"Sprocket","itemPrice":"12.00"}]}"#;
        d.push(record.as_bytes()).unwrap();
        assert_eq!(d.last_record_rows(), 3);
        // An empty array and a missing one: one row of NULLs each.
        d.push(br#"{"customerName":"Jane","orders":[]}"#).unwrap();
        assert_eq!(d.last_record_rows(), 1);
        d.push(br#"{"customerName":"Jim"}"#).unwrap();
        // A bad element rejects the whole record: nothing of it stays.
        let err = d
            .push(br#"{"customerName":"X","orders":[{"orderId":"1"},{"orderId":"two"}]}"#)
            .unwrap_err();
        assert_eq!(err, r#"column ORDER_ID (INTEGER): "two" is not a number"#);
        // An element without a key: NULL in that row.
        d.push(br#"{"customerName":"Kim","orders":[{"orderId":5},{"itemName":"Gizmo"}]}"#)
            .unwrap();
        let b = d.flush();
        let text = |c: usize, r: usize| {
            let a = b.column(c);
            if a.is_null(r) {
                "NULL".to_string()
            } else {
                arrow::util::display::array_value_to_string(a, r).unwrap()
            }
        };
        let rows: Vec<String> = (0..b.num_rows())
            .map(|r| (0..5).map(|c| text(c, r)).collect::<Vec<_>>().join("|"))
            .collect();
        let street = r#"[{"number":"123"},{"street":"AnyStreet"}]"#;
        assert_eq!(
            rows,
            [
                format!("John Doe|23284|Widget|33.99|{street}"),
                format!("John Doe|63122|Gadget|22.50|{street}"),
                format!("John Doe|77284|Sprocket|12.00|{street}"),
                "NULL|NULL|NULL|NULL|NULL".to_string(),
                "NULL|NULL|NULL|NULL|NULL".to_string(),
                "Kim|5|NULL|NULL|NULL".to_string(),
                "Kim|NULL|Gizmo|NULL|NULL".to_string(),
            ]
        );
    }

    #[test]
    fn mappings_are_checked() {
        let err = |m: &str| {
            RecordDecoder::new(&json_schema(&[("COL", "VARCHAR(8)", m)]))
                .err()
                .unwrap()
        };
        let e = err("$.a[0:].b[0:].c");
        assert!(
            e.starts_with("column COL: Mapping") && e.contains("only one level of [0:]"),
            "{e}"
        );
        let two = RecordDecoder::new(&json_schema(&[
            ("A", "VARCHAR(8)", "$.a[0:].x"),
            ("B", "VARCHAR(8)", "$.b[0:].y"),
        ]))
        .err()
        .unwrap();
        assert!(
            two.contains("columns A and B flatten different arrays"),
            "{two}"
        );
        assert!(err("$.a[0]").contains("not supported yet"));
        assert!(err("$.a[*]").contains("not supported yet"));
        assert!(err("a.b").contains("does not start with `$`"));
        assert!(err("$").contains("not supported yet"));
        assert!(err("$..a").contains("not supported yet"));
        let mut s = json_schema(&[("COL", "INTEGER", "$.a")]);
        s.columns[0].mapping = None;
        assert!(
            RecordDecoder::new(&s)
                .err()
                .unwrap()
                .contains("column COL: no Mapping")
        );
        // Several characters are a delimiter too; a quote or a line break cannot be one.
        assert!(RecordDecoder::new(&csv_schema(&[("A", "INTEGER")], "||")).is_ok());
        let e = RecordDecoder::new(&csv_schema(&[("A", "INTEGER")], "\"|"))
            .err()
            .unwrap();
        assert!(e.contains("other than a quote or a line break"), "{e}");
    }
}
