//! Landing: accumulate decoded pages, append them to `raw.<table>` in chunks, and buffer the
//! stream's reject rows.
//!
//! A chunk's rows are encoded as they come: each decoded page goes to a writer task that
//! streams them into the chunk's Parquet data files ([`Lake::stage_raw`]), so the encoding runs
//! beside the fetching and a chunk's end costs only its last row group and the Delta commit
//! ([`Lake::append_staged`]), in a task of its own while the next chunk accumulates. At most
//! one commit of a stream is in flight, so chunks land in order and each sees the ones before
//! it. A landing that leaves out the rows already landed ([`Accumulator::skipping_unchanged`])
//! must see a chunk whole before it writes any of it: it buffers the chunk and writes it at
//! its end instead.
//!
//! Invariant: the cursor advances only after every chunk of the stream is committed; the state
//! row is written by [`crate::run`] strictly after the last raw commit.
//!
//! Duplicate keys (REST streams, [`Accumulator::counting_duplicates`]): pages overlap when the
//! source changes while it is paged (offset paging over inserts) or when it repeats itself. A
//! record whose primary key an earlier record of the same run had still lands (the raw table
//! keeps what the source sent: staging keeps the latest row per key, and two different records
//! with one key in one landing fail the stream's `duplicate_key` data test, a table rule of
//! SPEC section 5 that blocks publishing); it is counted in `duplicates` and the stream logs a
//! warning naming the first such key, so a repeat is never silent.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::MemTable;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use pslake_core::pipeline::DataType;
use pslake_lake::ops::RejectRow;
use pslake_lake::{Lake, Staged, TableName, fault_point};

use crate::batch::{PageOutcome, StreamPlan};
use crate::error::Result;
use crate::run::StreamProgress;

/// Rows buffered before a raw commit.
pub(crate) const FLUSH_ROWS: usize = 250_000;
/// Reject rows buffered before they are written.
const FLUSH_REJECTS: usize = 50_000;
/// Pages queued for a chunk's writer before the landing waits for it.
const WRITER_QUEUE: usize = 16;

/// Per-stream counters and buffers.
pub(crate) struct Accumulator {
    landing: Landing,
    /// Serializes writes to the shared `_pslake` tables.
    ops_lock: Arc<Mutex<()>>,
    /// The chunk's rows when it is buffered (see the module docs).
    pending: Vec<RecordBatch>,
    /// The chunk's writer when its rows are encoded as they come.
    writing: Option<Writing>,
    pending_rows: usize,
    /// The commit in flight (at most one; aborted if the accumulator is dropped).
    committing: JoinSet<Result<Landed>>,
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
    /// Rows not landed because they equal what is already landed (see [`Accumulator::unchanged`]).
    pub(crate) unchanged: u64,
    incremental_column: Option<String>,
    /// The fingerprint of each primary key received so far in this run, with the page that
    /// brought it first. `None`: repeats are not looked for (file drops, where a later file
    /// restating a key is an update).
    seen: Option<HashMap<u64, u64, BuildHasherDefault<Fingerprint>>>,
    /// Records whose key an earlier record of the run had (see the module docs).
    pub(crate) duplicates: u64,
    /// Records without a key value, counted with the repeats in the commits' tag (two of them
    /// are one key to staging's latest-row dedup).
    keyless: u64,
    /// Told the records received so far after every page.
    progress: Option<StreamProgress>,
    /// The first of them: its key and the pages of the first record and of it.
    pub(crate) duplicate_example: Option<(String, u64, u64)>,
}

/// Hashes a key fingerprint to itself: it is a hash already (see `StreamPlan::key_hash`), so
/// hashing it again (SipHash, the map's default) was a cost per record for nothing.
#[derive(Default)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // only `u64`s are hashed; any other input is folded in, not lost
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// What a commit needs: the raw table and how to tell the rows already landed.
#[derive(Clone)]
struct Landing {
    lake: Lake,
    table: TableName,
    /// Key columns (the stream's primary key) and whether the stream is a full snapshot.
    keys: Vec<String>,
    snapshot: bool,
    /// Whether unchanged records are left out (not on a full refresh or a file load).
    skip_unchanged: bool,
    /// An incremental stream's cursor column and the cursor stored by the previous run: only
    /// records whose cursor is not past it can have been landed before, so only they are
    /// compared with the landed rows (the others land at once).
    resent_upto: Option<(String, i64)>,
    /// Members kept in `_raw` for a child stream (`records.kept`): a landed record differing from
    /// a re-sent one only by them (the list sent them, the search cannot) is unchanged.
    kept: Vec<String>,
    /// The run whose commits are tagged with the key repeats counted so far
    /// ([`Accumulator::counting_duplicates`], [`pslake_lake::unique`]).
    run: Option<String>,
}

/// What one commit did.
struct Landed {
    /// Rows committed.
    rows: usize,
    /// Rows left out as already landed.
    unchanged: usize,
    /// The raw table's new version (`None`: nothing was committed).
    version: Option<i64>,
}

impl Accumulator {
    pub(crate) fn new(lake: Lake, plan: &StreamPlan, ops_lock: Arc<Mutex<()>>) -> Self {
        Accumulator {
            landing: Landing {
                lake,
                table: TableName::new("raw", &plan.stream.table),
                keys: plan.stream.primary_key.clone(),
                snapshot: plan.stream.incremental.is_none(),
                skip_unchanged: false,
                resent_upto: None,
                kept: plan.stream.records.kept.clone(),
                run: None,
            },
            ops_lock,
            pending: Vec::new(),
            writing: None,
            pending_rows: 0,
            committing: JoinSet::new(),
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
            unchanged: 0,
            incremental_column: plan
                .stream
                .incremental
                .as_ref()
                .map(|i| plan.stream.columns[i.column].name.clone()),
            seen: None,
            duplicates: 0,
            keyless: 0,
            progress: None,
            duplicate_example: None,
        }
    }

    /// Counts the records whose key an earlier record of the run had (see the module docs), and
    /// tags each raw commit with the count so far and `run`, so that a table landed by one run
    /// without a repeat is known to hold one row per key ([`pslake_lake::unique`]). Only a key
    /// of text columns is tagged: its fingerprint is of the text that lands, where two texts of
    /// one number (`5`, `05`) would be one typed key with two fingerprints.
    pub(crate) fn counting_duplicates(mut self, plan: &StreamPlan, run: &str) -> Self {
        self.seen = Some(HashMap::default());
        let columns = &plan.stream.columns;
        let text_key = !self.landing.keys.is_empty()
            && self.landing.keys.iter().all(|k| {
                columns
                    .iter()
                    .any(|c| &c.name == k && c.data_type == DataType::String)
            });
        if text_key {
            self.landing.run = Some(run.to_string());
        }
        self
    }

    /// Leaves out records equal to what is already landed: an incremental stream's records that
    /// equal their key's latest landed row, a snapshot stream's whole snapshot when it equals the
    /// latest landed one. So a source that re-sends what it sent before (an incremental overlap,
    /// an unchanged full report) lands nothing, and the raw table keeps its version, which is
    /// what lets the models built from it be reused. Not for a full refresh or a file stream.
    ///
    /// `previous` is an incremental stream's stored cursor (days for a date cursor, microseconds
    /// otherwise); without one (a first load) nothing can have been landed, so nothing is compared.
    pub(crate) fn skipping_unchanged(mut self, yes: bool, previous: Option<i64>) -> Self {
        let l = &mut self.landing;
        l.skip_unchanged = yes && (l.snapshot || previous.is_some());
        l.resent_upto = self
            .incremental_column
            .take()
            .zip(previous)
            .filter(|_| !l.snapshot);
        self
    }

    /// Reports the records received after every page to `progress`.
    pub(crate) fn reporting(mut self, progress: Option<StreamProgress>) -> Self {
        self.progress = progress;
        self
    }

    /// Takes a decoded page's rows and counters; flushes when enough rows are buffered.
    pub(crate) async fn absorb(&mut self, plan: &StreamPlan, out: &mut PageOutcome) -> Result<()> {
        fault_point(format_args!(
            "extract:page:{}:{}",
            self.landing.table.name, self.pages
        ));
        self.received += out.received;
        if let Some(p) = &self.progress {
            (p.0)(&self.landing.table.name, self.received);
        }
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
        let keys = std::mem::take(&mut out.row_keys);
        if let Some(b) = plan.finish(out)? {
            self.note_duplicates(plan, &b, &keys);
            self.pending_rows += b.num_rows();
            self.bytes += b.get_array_memory_size() as u64;
            if self.landing.skip_unchanged {
                self.pending.push(b);
            } else {
                self.write(b).await?;
            }
        }
        // A snapshot is compared whole, so it is committed whole at the end.
        if self.pending_rows >= FLUSH_ROWS
            && !(self.landing.snapshot && self.landing.skip_unchanged)
        {
            self.start_commit().await?;
        }
        if self.rejects.len() >= FLUSH_REJECTS {
            self.flush_rejects().await?;
        }
        Ok(())
    }

    /// Counts the rows of `batch` (one page's, `keys` per row) whose key an earlier row of the
    /// run had, on an earlier page or on this one.
    fn note_duplicates(&mut self, plan: &StreamPlan, batch: &RecordBatch, keys: &[Option<u64>]) {
        let Some(seen) = self.seen.as_mut() else {
            return;
        };
        let page = self.pages;
        for (row, key) in keys.iter().enumerate() {
            let Some(key) = key else {
                self.keyless += 1;
                continue;
            };
            let first = match seen.entry(*key) {
                Entry::Vacant(v) => {
                    v.insert(page);
                    continue;
                }
                Entry::Occupied(o) => *o.get(),
            };
            self.duplicates += 1;
            if self.duplicate_example.is_none() {
                let raw = batch
                    .column_by_name("_raw")
                    .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
                    .expect("a stream's batch has a text `_raw` column");
                let key = plan
                    .key_of_raw(raw.value(row))
                    .unwrap_or_else(|| "(no key)".into());
                self.duplicate_example = Some((key, first, page));
            }
        }
    }

    /// Hands a batch to the chunk's writer, starting one for a new chunk.
    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let landing = &self.landing;
        let w = self
            .writing
            .get_or_insert_with(|| landing.writer(batch.schema()));
        if w.tx.send(batch).await.is_ok() {
            return Ok(());
        }
        // The writer stopped early: its error says why.
        let w = self.writing.take().expect("the writer was just used");
        Err(w.finish().await.err().unwrap_or_else(|| {
            crate::error::Error::Task("the raw writer stopped before its rows ended".into())
        }))
    }

    /// Commits the buffered rows to the raw table (one Delta commit) and waits for every
    /// commit of the stream to be done.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        self.start_commit().await?;
        self.settle().await
    }

    /// Starts committing the buffered rows in a task of its own, once the commit before has
    /// finished (its error, if any, is returned here).
    async fn start_commit(&mut self) -> Result<()> {
        self.settle().await?;
        // every row written so far was counted when its page was absorbed
        let tag = self
            .landing
            .tag(self.duplicates + self.keyless.saturating_sub(1));
        if let Some(w) = self.writing.take() {
            let rows = std::mem::take(&mut self.pending_rows);
            let landing = self.landing.clone();
            tracing::debug!(table = %landing.table, rows, "raw commit starting");
            self.committing.spawn(
                async move {
                    let staged = w.finish().await?;
                    landing.commit_staged(staged, rows, tag).await
                }
                .in_current_span(),
            );
            return Ok(());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.pending);
        let rows = std::mem::take(&mut self.pending_rows);
        let landing = self.landing.clone();
        tracing::debug!(table = %landing.table, rows, "raw commit starting");
        self.committing
            .spawn(async move { landing.commit(batches, rows, tag).await }.in_current_span());
        Ok(())
    }

    /// Waits for the commit in flight, if any, and counts what it landed.
    async fn settle(&mut self) -> Result<()> {
        let Some(done) = self.committing.join_next().await else {
            return Ok(());
        };
        let landed = done.map_err(|e| crate::error::Error::Task(e.to_string()))??;
        self.landed += landed.rows as u64;
        self.unchanged += landed.unchanged as u64;
        if let Some(v) = landed.version {
            self.raw_version = Some(v);
        }
        Ok(())
    }

    /// Writes the buffered reject rows to `_pslake.rejects`.
    pub(crate) async fn flush_rejects(&mut self) -> Result<()> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rejects);
        let _g = self.ops_lock.lock().await;
        pslake_lake::ops::append_rejects(&self.landing.lake, &rows).await?;
        self.rejects_written += rows.len() as u64;
        Ok(())
    }
}

/// A chunk's writer: a task encoding the batches sent to it into data files of the raw table
/// (committed by [`Landing::commit_staged`]; aborted if dropped, leaving at most a file no
/// reader sees, as the Delta log does not name it).
struct Writing {
    tx: mpsc::Sender<RecordBatch>,
    task: JoinSet<pslake_lake::Result<Staged>>,
}

impl Writing {
    /// Ends the chunk's rows and waits for its files.
    async fn finish(self) -> Result<Staged> {
        let Writing { tx, mut task } = self;
        drop(tx);
        match task.join_next().await {
            Some(Ok(staged)) => Ok(staged?),
            Some(Err(e)) => Err(crate::error::Error::Task(e.to_string())),
            None => Err(crate::error::Error::Task("the raw writer is gone".into())),
        }
    }
}

impl Landing {
    /// The commit metadata of a commit after `repeats` repeated keys in the run: the landing's
    /// tag when it counts them, else none.
    fn tag(&self, repeats: u64) -> serde_json::Map<String, serde_json::Value> {
        match &self.run {
            Some(run) => pslake_lake::unique::landing_metadata(&pslake_lake::unique::LandingTag {
                run: run.clone(),
                key: self.keys.clone(),
                repeats,
            }),
            None => serde_json::Map::new(),
        }
    }

    /// A writer for a new chunk of rows of `schema`.
    fn writer(&self, schema: SchemaRef) -> Writing {
        let (tx, rx) = mpsc::channel::<RecordBatch>(WRITER_QUEUE);
        let rows =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
            );
        let stream = RecordBatchStreamAdapter::new(schema.clone(), rows);
        let (lake, table) = (self.lake.clone(), self.table.clone());
        let mut task = JoinSet::new();
        task.spawn(
            async move { lake.stage_raw(&table, schema, Box::pin(stream)).await }.in_current_span(),
        );
        Writing { tx, task }
    }

    /// Appends a chunk's written files (`rows` rows) to the raw table in one commit.
    async fn commit_staged(
        &self,
        staged: Staged,
        rows: usize,
        tag: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Landed> {
        let v = self.lake.append_staged(staged, tag).await?;
        fault_point(format_args!("extract:after_commit:{}", self.table.name));
        tracing::debug!(table = %self.table, rows, version = v, "raw rows committed");
        Ok(Landed {
            rows,
            unchanged: 0,
            version: Some(v),
        })
    }

    /// Appends `batches` (`rows` rows) to the raw table in one commit, leaving out the rows
    /// already landed when asked to.
    async fn commit(
        &self,
        batches: Vec<RecordBatch>,
        rows: usize,
        tag: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Landed> {
        let (batches, kept) = if self.skip_unchanged {
            let kept = self.changed(batches).await?;
            let kept_rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
            (kept, kept_rows)
        } else {
            (batches, rows)
        };
        let unchanged = rows - kept;
        if kept == 0 {
            tracing::debug!(table = %self.table, rows, "nothing new to land");
            return Ok(Landed {
                rows: 0,
                unchanged,
                version: None,
            });
        }
        let v = self
            .lake
            .append_with_metadata(&self.table, batches, tag)
            .await?;
        fault_point(format_args!("extract:after_commit:{}", self.table.name));
        tracing::debug!(table = %self.table, rows = kept, version = v, "raw rows committed");
        Ok(Landed {
            rows: kept,
            unchanged,
            version: Some(v),
        })
    }

    /// The rows of `batches` that are not already landed (see [`Accumulator::skipping_unchanged`]).
    async fn changed(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        if self.keys.is_empty() || batches.is_empty() {
            return Ok(batches);
        }
        // Records modified after the previous run's cursor are new: they land unchecked.
        let (batches, mut fresh) = match &self.resent_upto {
            Some((column, upto)) => split_resent(batches, column, *upto)?,
            None => (batches, Vec::new()),
        };
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(fresh);
        }
        let ctx = SessionContext::new();
        if !self.lake.register(&ctx, &self.table).await? {
            // Nothing landed yet: every record is new.
            fresh.extend(batches);
            return Ok(fresh);
        }
        let schema = batches[0].schema();
        let pending = MemTable::try_new(schema, vec![batches.clone()]).map_err(df_err)?;
        ctx.register_table("__pending", Arc::new(pending))
            .map_err(df_err)?;
        let raw = format!("\"{}\".\"{}\"", self.table.schema, self.table.name);
        let sql = if self.snapshot {
            // The latest landed snapshot's records, to compare with this one as multisets.
            format!(
                "SELECT _raw FROM {raw} WHERE _run_id = (SELECT _run_id FROM {raw} ORDER BY _extracted_at DESC LIMIT 1)"
            )
        } else {
            let keys: Vec<String> = self.keys.iter().map(|k| format!("\"{k}\"")).collect();
            let list = keys.join(", ");
            let on = |l: &str, r: &str| {
                keys.iter()
                    .map(|k| format!("{l}.{k} = {r}.{k}"))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            // The latest landed row of each pending key (EXISTS plans as a semi-join, for one key
            // column or several), joined back to the pending rows.
            let landed = if self.kept.is_empty() {
                ""
            } else {
                ", l._raw AS __landed_raw"
            };
            format!(
                "SELECT p.*{landed} FROM __pending p LEFT JOIN (\
                   SELECT {list}, _raw FROM (\
                     SELECT {list}, _raw, row_number() OVER (PARTITION BY {list} ORDER BY _extracted_at DESC) AS __rn \
                     FROM {raw} r WHERE EXISTS (SELECT 1 FROM __pending q WHERE {})) WHERE __rn = 1\
                 ) l ON {} \
                 WHERE l._raw IS NULL OR l._raw <> p._raw",
                on("q", "r"),
                on("l", "p")
            )
        };
        let out = ctx
            .sql(&sql)
            .await
            .map_err(df_err)?
            .collect()
            .await
            .map_err(df_err)?;
        if !self.snapshot {
            for b in out {
                fresh.push(self.without_kept_only_changes(b)?);
            }
            return Ok(fresh);
        }
        let landed = sorted_raw(&out);
        let now = sorted_raw(&batches);
        Ok(if landed == now { Vec::new() } else { batches })
    }

    /// The rows of `b` (pending rows, then `__landed_raw` when [`Landing::kept`] is not empty)
    /// whose `_raw` differs from the landed one by more than the kept members; without that
    /// column.
    fn without_kept_only_changes(&self, b: RecordBatch) -> Result<RecordBatch> {
        use arrow::array::{Array, AsArray, BooleanArray};
        let Some(at) = b.schema().index_of("__landed_raw").ok() else {
            return Ok(b);
        };
        let raw_at = b.schema().index_of("_raw")?;
        let landed = arrow::compute::cast(b.column(at), &arrow::datatypes::DataType::Utf8)?;
        let landed = landed.as_string::<i32>();
        let pending = arrow::compute::cast(b.column(raw_at), &arrow::datatypes::DataType::Utf8)?;
        let pending = pending.as_string::<i32>();
        let keep: BooleanArray = (0..b.num_rows())
            .map(|r| {
                if landed.is_null(r) || pending.is_null(r) {
                    return Some(true);
                }
                let stripped =
                    serde_json::from_str::<&serde_json::value::RawValue>(landed.value(r))
                        .ok()
                        .and_then(|v| crate::json::strip_keys(v.get(), &self.kept).ok());
                Some(stripped.as_deref() != Some(pending.value(r)))
            })
            .collect();
        let mut columns: Vec<usize> = (0..b.num_columns()).collect();
        columns.remove(at);
        let b = b.project(&columns)?;
        Ok(arrow::compute::filter_record_batch(&b, &keep)?)
    }
}

/// `batches` split into the rows whose `column` is at most `upto` (or NULL: maybe re-sent) and
/// the others (modified since: new).
fn split_resent(
    batches: Vec<RecordBatch>,
    column: &str,
    upto: i64,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    use arrow::array::{BooleanArray, Int64Array};
    let (mut resent, mut fresh) = (Vec::new(), Vec::new());
    for b in batches {
        let Some(c) = b.column_by_name(column) else {
            resent.push(b);
            continue;
        };
        let values = match c.data_type() {
            arrow::datatypes::DataType::Date32 => {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Int32)
                    .and_then(|a| arrow::compute::cast(&a, &arrow::datatypes::DataType::Int64))?
            }
            arrow::datatypes::DataType::Timestamp(_, _) => {
                let micros = arrow::compute::cast(
                    c,
                    &arrow::datatypes::DataType::Timestamp(
                        arrow::datatypes::TimeUnit::Microsecond,
                        None,
                    ),
                )?;
                arrow::compute::cast(&micros, &arrow::datatypes::DataType::Int64)?
            }
            _ => {
                resent.push(b);
                continue;
            }
        };
        let values = values
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64 gives an Int64Array");
        let old: BooleanArray = values
            .iter()
            .map(|v| Some(v.is_none_or(|v| v <= upto)))
            .collect();
        let new = arrow::compute::not(&old)?;
        resent.push(arrow::compute::filter_record_batch(&b, &old)?);
        fresh.push(arrow::compute::filter_record_batch(&b, &new)?);
    }
    Ok((resent, fresh))
}

/// Every `_raw` value of `batches`, sorted (a multiset to compare snapshots with).
fn sorted_raw(batches: &[RecordBatch]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    for b in batches {
        let Some(column) = b.column_by_name("_raw") else {
            continue;
        };
        let Ok(text) = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8) else {
            continue;
        };
        let text = text
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("cast to Utf8 gives a StringArray");
        out.extend(text.iter().map(|v| v.map(str::to_string)));
    }
    out.sort();
    out
}

fn df_err(e: datafusion::error::DataFusionError) -> crate::error::Error {
    crate::error::Error::Lake(Box::new(pslake_lake::Error::DataFusion {
        context: "comparing the records with the landed ones".into(),
        source: Box::new(e),
    }))
}
