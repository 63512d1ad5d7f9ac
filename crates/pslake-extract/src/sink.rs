//! Landing: accumulate decoded pages, append them to `raw.<table>` in chunks, and buffer the
//! stream's reject rows.
//!
//! Invariant: the cursor advances only after every chunk of the stream is committed; the state
//! row is written by [`crate::run`] strictly after the last raw commit.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use tokio::sync::Mutex;

use pslake_lake::ops::RejectRow;
use pslake_lake::{Lake, TableName};

use crate::batch::{PageOutcome, StreamPlan};
use crate::error::Result;

/// Rows buffered before a raw commit.
pub(crate) const FLUSH_ROWS: usize = 250_000;
/// Reject rows buffered before they are written.
const FLUSH_REJECTS: usize = 50_000;

/// Per-stream counters and buffers.
pub(crate) struct Accumulator {
    lake: Lake,
    table: TableName,
    /// Serializes writes to the shared `_pslake` tables.
    ops_lock: Arc<Mutex<()>>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pub(crate) rejects: Vec<RejectRow>,
    pub(crate) rejects_written: u64,
    pub(crate) received: u64,
    pub(crate) landed: u64,
    pub(crate) rejected: u64,
    pub(crate) filtered: u64,
    pub(crate) pages: u64,
    pub(crate) unknown: BTreeSet<String>,
    pub(crate) cursor_max: Option<i64>,
    pub(crate) failing: Vec<u64>,
    pub(crate) example_key: Option<String>,
    pub(crate) raw_version: Option<i64>,
    pub(crate) bytes: u64,
}

impl Accumulator {
    pub(crate) fn new(lake: Lake, plan: &StreamPlan, ops_lock: Arc<Mutex<()>>) -> Self {
        Accumulator {
            lake,
            table: TableName::new("raw", &plan.stream.table),
            ops_lock,
            pending: Vec::new(),
            pending_rows: 0,
            rejects: Vec::new(),
            rejects_written: 0,
            received: 0,
            landed: 0,
            rejected: 0,
            filtered: 0,
            pages: 0,
            unknown: BTreeSet::new(),
            cursor_max: None,
            failing: vec![0; plan.stream.columns.len()],
            example_key: None,
            raw_version: None,
            bytes: 0,
        }
    }

    /// Takes a decoded page's rows and counters; flushes when enough rows are buffered.
    pub(crate) async fn absorb(&mut self, plan: &StreamPlan, out: &mut PageOutcome) -> Result<()> {
        self.received += out.received;
        self.rejected += out.rejected;
        self.filtered += out.filtered;
        self.rejects.append(&mut out.rejects);
        for k in std::mem::take(&mut out.unknown) {
            if self.unknown.len() < 200 {
                self.unknown.insert(k);
            }
        }
        if let Some(c) = out.cursor_max {
            self.cursor_max = Some(self.cursor_max.map_or(c, |m| m.max(c)));
        }
        for (a, b) in self.failing.iter_mut().zip(&out.failing) {
            *a += b;
        }
        if self.example_key.is_none() {
            self.example_key = out.example_key.take();
        }
        if let Some(b) = plan.finish(out)? {
            self.pending_rows += b.num_rows();
            self.bytes += b.get_array_memory_size() as u64;
            self.pending.push(b);
        }
        if self.pending_rows >= FLUSH_ROWS {
            self.flush().await?;
        }
        if self.rejects.len() >= FLUSH_REJECTS {
            self.flush_rejects().await?;
        }
        Ok(())
    }

    /// Commits the buffered rows to the raw table (one Delta commit).
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.pending);
        let rows = self.pending_rows;
        self.pending_rows = 0;
        let v = self.lake.append(&self.table, batches).await?;
        tracing::debug!(table = %self.table, rows, version = v, "raw rows committed");
        self.landed += rows as u64;
        self.raw_version = Some(v);
        Ok(())
    }

    /// Writes the buffered reject rows to `_pslake.rejects`.
    pub(crate) async fn flush_rejects(&mut self) -> Result<()> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rejects);
        let _g = self.ops_lock.lock().await;
        pslake_lake::ops::append_rejects(&self.lake, &rows).await?;
        self.rejects_written += rows.len() as u64;
        Ok(())
    }
}
