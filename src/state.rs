//! What an operator, an input or a sink keeps in a checkpoint: a [`Snapshot`], a little
//! metadata (JSON) and Arrow batches, and its encoding into bytes.
//!
//! A snapshot is taken between two batches, when the whole dataflow stands at one point of its
//! input; restoring it into a freshly built operator makes that operator produce exactly what
//! the original would have produced from there on (running sums included, to the last bit).

use std::io::Cursor;

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// The state of one part of a running application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Scalars: positions, bounds, counters, flags.
    pub meta: serde_json::Value,
    /// Rows: group keys, accumulator states, held rows, buffered records.
    pub batches: Vec<RecordBatch>,
}

impl Snapshot {
    /// Nothing to keep (a stateless operator).
    pub fn empty() -> Snapshot {
        Snapshot::default()
    }

    pub fn of(meta: serde_json::Value) -> Snapshot {
        Snapshot {
            meta,
            batches: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_null() && self.batches.is_empty()
    }

    /// Appends the snapshot's bytes: the metadata's length and JSON text, the number of batches,
    /// then each batch as an Arrow IPC stream with its length.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let meta = serde_json::to_vec(&self.meta).expect("JSON values serialize");
        out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&(self.batches.len() as u64).to_le_bytes());
        for batch in &self.batches {
            let mut bytes = Vec::new();
            {
                let mut w = StreamWriter::try_new(&mut bytes, &batch.schema())?;
                w.write(batch)?;
                w.finish()?;
            }
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(())
    }

    /// Reads a snapshot written by [`Snapshot::encode`] from the front of `input`.
    pub fn decode(input: &mut &[u8]) -> Result<Snapshot> {
        let meta = take(input, "the snapshot's metadata")?;
        let meta: serde_json::Value = serde_json::from_slice(meta)
            .map_err(|e| corrupt(format!("the snapshot's metadata is not JSON: {e}")))?;
        let n = u64_at(input)?;
        let mut batches = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let bytes = take(input, "a snapshot's batch")?;
            let mut reader = StreamReader::try_new(Cursor::new(bytes), None)?;
            match reader.next() {
                Some(batch) => batches.push(batch?),
                None => return Err(corrupt("a snapshot's batch holds no rows block")),
            }
        }
        Ok(Snapshot { meta, batches })
    }

    /// Puts `part` inside this snapshot: its batches join this one's, and the returned value
    /// (its metadata and where its batches are) goes into this one's metadata.
    pub fn nest(&mut self, part: Snapshot) -> serde_json::Value {
        let first = self.batches.len();
        let count = part.batches.len();
        self.batches.extend(part.batches);
        serde_json::json!({ "meta": part.meta, "first": first, "count": count })
    }

    /// A part put in by [`Snapshot::nest`], from the value it returned.
    pub fn nested(&self, at: &serde_json::Value) -> Result<Snapshot> {
        let index = |name: &str| {
            at.get(name)
                .and_then(serde_json::Value::as_u64)
                .map(|n| n as usize)
                .ok_or_else(|| corrupt(format!("a nested snapshot has no `{name}`")))
        };
        let (first, count) = (index("first")?, index("count")?);
        let batches = self
            .batches
            .get(first..first + count)
            .ok_or_else(|| corrupt("a nested snapshot's batches are missing"))?
            .to_vec();
        Ok(Snapshot {
            meta: at.get("meta").cloned().unwrap_or_default(),
            batches,
        })
    }

    /// A field of the metadata, which the snapshot's reader expects: an error names it.
    pub fn field<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self
            .meta
            .get(name)
            .ok_or_else(|| corrupt(format!("the snapshot has no `{name}`")))?;
        serde_json::from_value(value.clone()).map_err(|e| {
            corrupt(format!(
                "the snapshot's `{name}` is not what it should be: {e}"
            ))
        })
    }

    /// Batch `i`, which the snapshot's reader expects.
    pub fn batch(&self, i: usize) -> Result<&RecordBatch> {
        self.batches
            .get(i)
            .ok_or_else(|| corrupt(format!("the snapshot lacks its batch {i}")))
    }
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Application(format!("checkpoint: {}", why.into()))
}

fn u64_at(input: &mut &[u8]) -> Result<u64> {
    if input.len() < 8 {
        return Err(corrupt("it ends in the middle of a length"));
    }
    let (n, rest) = input.split_at(8);
    *input = rest;
    Ok(u64::from_le_bytes(n.try_into().expect("8 bytes")))
}

/// A length-prefixed run of bytes from the front of `input`.
fn take<'a>(input: &mut &'a [u8], what: &str) -> Result<&'a [u8]> {
    let n = u64_at(input)? as usize;
    if input.len() < n {
        return Err(corrupt(format!("it ends in the middle of {what}")));
    }
    let (bytes, rest) = input.split_at(n);
    *input = rest;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    #[test]
    fn snapshots_round_trip_and_a_cut_one_is_refused() {
        let batch = RecordBatch::try_from_iter([
            (
                "K",
                Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
            ),
            (
                "X",
                Arc::new(Float64Array::from(vec![0.1 + 0.2, -0.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let s = Snapshot {
            meta: serde_json::json!({"open": [[1, 2, 3]], "bound": i64::MIN}),
            batches: vec![batch.clone(), batch.slice(1, 1)],
        };
        let mut bytes = Vec::new();
        s.encode(&mut bytes).unwrap();
        Snapshot::empty().encode(&mut bytes).unwrap();
        let mut input = bytes.as_slice();
        let back = Snapshot::decode(&mut input).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.field::<i64>("bound").unwrap(), i64::MIN);
        assert!(Snapshot::decode(&mut input).unwrap().is_empty());
        assert!(input.is_empty());
        let e = back.field::<i64>("missing").unwrap_err().to_string();
        assert!(e.contains("no `missing`"), "{e}");
        let cut = &bytes[..bytes.len() / 2];
        assert!(Snapshot::decode(&mut &cut[..]).is_err());

        // Parts nest with their batches, and come back out whole.
        let mut whole = Snapshot::of(serde_json::json!({"own": 1}));
        whole.batches.push(batch.slice(0, 1));
        let first = whole.nest(s.clone());
        let second = whole.nest(Snapshot::empty());
        assert_eq!(whole.batches.len(), 3);
        assert_eq!(whole.nested(&first).unwrap(), s);
        assert!(whole.nested(&second).unwrap().is_empty());
        let e = whole
            .nested(&serde_json::json!({"first": 2, "count": 5}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
