//! [`BackgroundSink`]: a sink that formats and delivers on a thread of its own, so the dataflow
//! does not wait for its output.
//!
//! At most a few batches wait between the dataflow and the writer, so memory stays bounded: a
//! slow or failing destination fills that queue and then holds back the dataflow and the reader
//! (backpressure). While no batch comes, the writer calls the sink's `idle` about every 100 ms
//! (clock-driven delivery). A write error comes back at the next `write` or at `finish`. Rows the
//! destination refused for good come back through `take_rejected`, for `error_stream`.

use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;

use super::spawn_named;
use crate::connectors::Sink;
use crate::error::{Error, Result};
use crate::error_stream::ErrorRow;
use crate::state::Snapshot;

enum ToWriter {
    Batch(RecordBatch),
    /// Deliver everything so far and say so.
    Flush(SyncSender<Result<()>>),
    /// Make everything so far durable and give the sink's state.
    Checkpoint(SyncSender<Result<Snapshot>>),
}

/// A sink on a writer thread.
pub struct BackgroundSink {
    tx: Option<SyncSender<ToWriter>>,
    writer: Option<std::thread::JoinHandle<Result<()>>>,
    rejected: Arc<Mutex<Vec<ErrorRow>>>,
}

impl BackgroundSink {
    pub fn new(mut inner: Box<dyn Sink>) -> BackgroundSink {
        let (tx, rx) = sync_channel::<ToWriter>(8);
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let handed_back = Arc::clone(&rejected);
        let writer = spawn_named("rowtime-writer", move || {
            let hand_back = |inner: &mut Box<dyn Sink>| {
                let rows = inner.take_rejected();
                if !rows.is_empty() {
                    handed_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(rows);
                }
            };
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(ToWriter::Batch(batch)) => inner.write(&batch)?,
                    Ok(ToWriter::Flush(done)) => {
                        let flushed = inner.flush();
                        hand_back(&mut inner);
                        let failed = flushed.is_err();
                        let _ = done.send(flushed);
                        if failed {
                            return Err(Error::Application(
                                "the output writer stopped after a failed flush".into(),
                            ));
                        }
                    }
                    Ok(ToWriter::Checkpoint(done)) => {
                        let state = inner.checkpoint();
                        hand_back(&mut inner);
                        let failed = state.is_err();
                        let _ = done.send(state);
                        if failed {
                            return Err(Error::Application(
                                "the output writer stopped after a failed checkpoint".into(),
                            ));
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => inner.idle()?,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                hand_back(&mut inner);
            }
            let finished = inner.finish();
            hand_back(&mut inner);
            finished
        });
        BackgroundSink {
            tx: Some(tx),
            writer: Some(writer),
            rejected,
        }
    }

    /// Waits for the writer thread and returns how it ended.
    fn join(&mut self) -> Result<()> {
        self.tx = None;
        match self.writer.take().map(|w| w.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(Error::Application(
                "the output writer thread panicked".into(),
            )),
        }
    }

    /// The writer's answer to a flush or a checkpoint; if it stopped instead, why.
    fn answer<T>(&mut self, answer: std::sync::mpsc::Receiver<Result<T>>) -> Result<T> {
        match answer.recv() {
            Ok(result) => result,
            Err(_) => {
                self.join()?;
                Err(Error::Application("the output writer has stopped".into()))
            }
        }
    }

    fn send(&mut self, message: ToWriter) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(message).is_ok());
        if sent {
            return Ok(());
        }
        // The writer stopped: report why.
        self.join()?;
        Err(Error::Application("the output writer has stopped".into()))
    }
}

impl Sink for BackgroundSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.send(ToWriter::Batch(batch.clone()))
    }

    fn flush(&mut self) -> Result<()> {
        let (done, acknowledged) = sync_channel(1);
        self.send(ToWriter::Flush(done))?;
        self.answer(acknowledged)
    }

    fn checkpoint(&mut self) -> Result<Snapshot> {
        let (done, state) = sync_channel(1);
        self.send(ToWriter::Checkpoint(done))?;
        self.answer(state)
    }

    fn take_rejected(&mut self) -> Vec<ErrorRow> {
        std::mem::take(&mut *self.rejected.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn finish(&mut self) -> Result<()> {
        self.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_stream::DELIVERY_ERROR;

    /// Records what it is given; fails on the batch numbered `fail_at`; refuses batches of one row.
    struct Recording {
        rows: Arc<Mutex<Vec<usize>>>,
        fail_at: Option<usize>,
        finished: Arc<std::sync::atomic::AtomicBool>,
        refused: Vec<ErrorRow>,
        idles: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Sink for Recording {
        fn write(&mut self, batch: &RecordBatch) -> Result<()> {
            let mut rows = self.rows.lock().unwrap();
            if Some(rows.len()) == self.fail_at {
                return Err(Error::io("out.jsonl", std::io::Error::other("disk full")));
            }
            if batch.num_rows() == 1 {
                self.refused.push(ErrorRow {
                    name: DELIVERY_ERROR,
                    message: "refused".into(),
                    data_rowtime: None,
                    data_row: vec![],
                    pump: None,
                });
            }
            rows.push(batch.num_rows());
            Ok(())
        }
        fn idle(&mut self) -> Result<()> {
            self.idles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn take_rejected(&mut self) -> Vec<ErrorRow> {
            std::mem::take(&mut self.refused)
        }
        fn finish(&mut self) -> Result<()> {
            self.finished
                .store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    fn batch(n: usize) -> RecordBatch {
        use datafusion::arrow::array::Int32Array;
        let a = Arc::new(Int32Array::from(vec![1; n]));
        RecordBatch::try_from_iter([("X", a as datafusion::arrow::array::ArrayRef)]).unwrap()
    }

    #[test]
    fn background_sink_writes_everything_in_order_and_reports_errors() {
        let rows = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let idles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let recording = |fail_at| Recording {
            rows: rows.clone(),
            fail_at,
            finished: finished.clone(),
            refused: vec![],
            idles: idles.clone(),
        };
        let mut sink = BackgroundSink::new(Box::new(recording(None)));
        for n in 1..=100 {
            sink.write(&batch(n)).unwrap();
        }
        // A flush returns once everything before it was written; the refused row comes back.
        sink.flush().unwrap();
        assert_eq!(*rows.lock().unwrap(), (1..=100).collect::<Vec<_>>());
        assert_eq!(sink.take_rejected().len(), 1);
        assert!(sink.take_rejected().is_empty());
        // Without batches, the writer idles about every 100 ms.
        std::thread::sleep(Duration::from_millis(350));
        assert!(idles.load(std::sync::atomic::Ordering::SeqCst) >= 2);
        sink.finish().unwrap();
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));

        rows.lock().unwrap().clear();
        finished.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut sink = BackgroundSink::new(Box::new(recording(Some(3))));
        // The failure comes back at a later write or at finish, never lost.
        let outcome = (0..100)
            .map(|n| sink.write(&batch(n + 1)))
            .find(|r| r.is_err())
            .unwrap_or_else(|| sink.finish());
        let err = outcome
            .expect_err("the write error is reported")
            .to_string();
        assert!(err.contains("disk full"), "{err}");
        assert_eq!(*rows.lock().unwrap(), [1, 2, 3]);
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst));
    }
}
