//! [`extract`]: land every selected stream of a pipeline and report per stream.
//!
//! Order of commits per stream: raw rows (one or more appends) → reject rows → tombstones of a
//! deletion reconciliation, when one is due ([`crate::reconcile`]) → stream state. A stream that
//! fails lands nothing more and leaves its cursor where it was; the others go on. A failed
//! reconciliation fails the stream but keeps what the incremental pass landed, and its cursor;
//! it is due again on the next run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Mutex;

use pslake_core::Sensitive;
use pslake_core::pipeline::{DataType, Pipeline, Stream, SystemKind, load::parse_start};
use pslake_lake::ops::{self, RunRecord, StreamState};
use pslake_lake::{Lake, TableName, fault_point};

use crate::batch::StreamPlan;
use crate::error::{Error, Result};
use crate::http::SystemClient;
use crate::redact::Scrubber;
use crate::secrets::Secrets;
use crate::sink::Accumulator;
use crate::values::format_cursor;

/// Options of one extract run.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Stream selectors: `system` or `system.stream` (case-insensitive); empty = all.
    pub select: Vec<String>,
    /// Ignore stored cursors and loaded-file lists.
    pub full_refresh: bool,
    /// The run id (a new UUID when `None`).
    pub run_id: Option<String>,
    /// Secret values that take precedence over the secrets file and the environment (for
    /// example the embedded sandbox's credentials), by name.
    pub secrets: HashMap<String, Sensitive<String>>,
    /// Streams extracted at once (default 6).
    pub max_parallel_streams: Option<usize>,
    /// Write the run record to `_pslake.runs` (stage `extract`). Default true via [`ExtractOptions::new`].
    pub write_run_record: bool,
    /// Run the deletion reconciliation of every selected stream that declares `reconcile`, due
    /// or not (`--reconcile`).
    pub reconcile: bool,
    /// Told after every page how many records a stream has received so far (a terminal's
    /// per-stream progress).
    pub progress: Option<StreamProgress>,
    /// Told when a stream has ended, once every commit of it is in the lake (a build running
    /// beside the extraction starts the models over it).
    pub on_stream_end: Option<StreamEnded>,
}

/// A callback with a stream's raw table (`raw.kantata_time_entries`) and, when the stream
/// failed, why; called once per stream, from its task, after its last commit.
#[derive(Clone)]
pub struct StreamEnded(pub Arc<StreamEndedFn>);

/// What [`StreamEnded`] calls: the raw table's name and `Err` with why when the stream failed.
pub type StreamEndedFn = dyn Fn(&str, Result<(), &str>) + Send + Sync;

impl std::fmt::Debug for StreamEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamEnded")
    }
}

/// A callback with a stream's raw table name (`kantata_time_entries`) and the records it has
/// received so far in this run; called after every page, from the stream's task.
#[derive(Clone)]
pub struct StreamProgress(pub Arc<ProgressFn>);

/// What [`StreamProgress`] calls: the raw table's name and the records received so far.
pub type ProgressFn = dyn Fn(&str, u64) + Send + Sync;

impl std::fmt::Debug for StreamProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamProgress")
    }
}

impl ExtractOptions {
    /// Default options: all streams, incremental, a new run id, run record written.
    pub fn new() -> Self {
        ExtractOptions {
            write_run_record: true,
            ..Default::default()
        }
    }
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StreamStatus {
    /// Landed (possibly nothing new).
    Succeeded,
    /// Failed; nothing after the failure landed and the cursor did not move (except after a
    /// failed reconciliation: the incremental pass's rows and cursor are kept).
    Failed {
        /// The redacted URL of the failing request, when an HTTP request failed.
        url: Option<String>,
        /// The last error, secret-free.
        error: String,
    },
}

/// One stream's result.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// System.
    pub system: String,
    /// Stream.
    pub stream: String,
    /// Raw table, `raw.<system>_<stream>`.
    pub table: String,
    /// Outcome.
    #[serde(flatten)]
    pub status: StreamStatus,
    /// Records received from the source (after the client-side incremental filter).
    pub received: u64,
    /// Records landed in the raw table.
    pub landed: u64,
    /// Records sent to `_pslake.rejects`.
    pub rejected: u64,
    /// Records not landed because they equal what is already landed (an incremental overlap
    /// re-sent, an unchanged snapshot): `received = landed + unchanged + rejected`.
    pub unchanged: u64,
    /// Records dropped by the client-side incremental filter (older than the cursor).
    pub filtered: u64,
    /// Pages (or files) read.
    pub pages: u64,
    /// HTTP retries made by this stream's system during the run (shared by its streams).
    pub retries: u64,
    /// Undeclared fields seen (kept in `_raw`): schema drift to review.
    pub new_fields: Vec<String>,
    /// Records whose primary key an earlier record of this run had (REST streams: overlapping
    /// or repeated pages). They land like the others; staging keeps the latest row per key, and
    /// two different records with one key fail the stream's `duplicate_key` data test.
    pub duplicates: u64,
    /// Bytes of the records landed (their Arrow size before Parquet encoding).
    pub bytes: u64,
    /// Cursor before the run.
    pub cursor_before: Option<String>,
    /// Cursor after the run.
    pub cursor_after: Option<String>,
    /// Files loaded in this run (file drops).
    pub files: Vec<String>,
    /// Whether a deletion reconciliation (keys pass) ran in this run.
    pub reconciled: bool,
    /// Keys the reconciliation's keys pass listed.
    pub source_keys: u64,
    /// Tombstones written: landed records whose key the source no longer lists.
    pub deleted: u64,
    /// Records landed again because the source lists their key again after a tombstone.
    pub revived: u64,
    /// Raw table version of the last commit.
    pub raw_version: Option<i64>,
    /// Wall time in milliseconds.
    pub millis: u64,
}

/// The result of [`extract`].
#[derive(Debug, Clone, Serialize)]
pub struct ExtractReport {
    /// The run id stamped on every row.
    pub run_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// One entry per selected stream, in pipeline order.
    pub streams: Vec<StreamReport>,
}

impl ExtractReport {
    /// Whether every stream succeeded.
    pub fn is_success(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.status == StreamStatus::Succeeded)
    }

    /// The failed streams.
    pub fn failed(&self) -> impl Iterator<Item = &StreamReport> {
        self.streams
            .iter()
            .filter(|s| s.status != StreamStatus::Succeeded)
    }

    /// Totals: (received, landed, rejected).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.streams.iter().fold((0, 0, 0), |a, s| {
            (a.0 + s.received, a.1 + s.landed, a.2 + s.rejected)
        })
    }
}

fn selected(select: &[String], system: &str, stream: &str) -> bool {
    select.is_empty()
        || select.iter().any(|s| {
            let s = s.to_ascii_lowercase();
            s == system.to_ascii_lowercase()
                || s == format!("{system}.{stream}").to_ascii_lowercase()
                || s == format!("{system}_{stream}").to_ascii_lowercase()
        })
}

/// The selectors that match no stream (for the CLI to report as a usage error).
pub fn unknown_selectors(pipeline: &Pipeline, select: &[String]) -> Vec<String> {
    select
        .iter()
        .filter(|s| {
            !pipeline.systems.iter().any(|sys| {
                sys.streams
                    .iter()
                    .any(|st| selected(std::slice::from_ref(*s), &sys.name, &st.name))
            })
        })
        .cloned()
        .collect()
}

/// Extracts the selected streams of `pipeline` into `lake`. Fails only when the lake's state
/// cannot be read; stream failures are in the report.
#[tracing::instrument(name = "extract", skip_all, fields(pipeline = %pipeline.name))]
pub async fn extract(
    pipeline: &Pipeline,
    lake: &Lake,
    options: &ExtractOptions,
) -> Result<ExtractReport> {
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let started_at = Utc::now();
    let states: HashMap<(String, String), StreamState> = ops::load_stream_states(lake)
        .await?
        .into_iter()
        .map(|s| ((s.system.clone(), s.stream.clone()), s))
        .collect();
    let secrets = Secrets::new(options.secrets.clone(), pipeline.secrets_file.as_deref());
    let scrub = Scrubber::default();
    for v in options.secrets.values() {
        scrub.add(v.expose());
    }
    let ops_lock = Arc::new(Mutex::new(()));

    enum Src {
        Rest(Arc<SystemClient>),
        Files(String),
        Broken(String),
    }
    let mut by_system = Vec::new();
    for sys in &pipeline.systems {
        let streams: Vec<&Stream> = sys
            .streams
            .iter()
            .filter(|s| selected(&options.select, &sys.name, &s.name))
            .collect();
        if streams.is_empty() {
            continue;
        }
        let src = match (&sys.kind, &secrets) {
            (_, Err(e)) => Src::Broken(e.to_string()),
            (SystemKind::Rest(c), Ok(sec)) => {
                match SystemClient::new(&sys.name, c, sec, scrub.clone()) {
                    Ok(c) => Src::Rest(Arc::new(c)),
                    Err(e) => Src::Broken(scrub.scrub(&e.to_string())),
                }
            }
            (SystemKind::Files { location }, _) => Src::Files(location.clone()),
        };
        let src = Arc::new(src);
        let jobs: Vec<_> = streams
            .into_iter()
            .map(|st| (sys.name.clone(), st.clone(), src.clone()))
            .collect();
        by_system.push(jobs);
    }
    let order: Vec<(String, String)> = by_system
        .iter()
        .flatten()
        .map(|(s, st, _)| (s.clone(), st.name.clone()))
        .collect();
    // Streams start one system at a time in turn (each system's in its declared order), so the
    // streams of a rate-limited system, which share its limit anyway, do not hold every slot
    // while another system's wait.
    let jobs = round_robin(by_system);
    let par = options.max_parallel_streams.unwrap_or(6).max(1);
    // A child stream in the same run as its parent waits for it (declared before it, so started
    // before it) and reads the keys it landed; `Some(true)` once the parent succeeded.
    let mut done: HashMap<(String, String), tokio::sync::watch::Sender<Option<bool>>> =
        HashMap::new();
    for (system, stream, _) in &jobs {
        if let Some(p) = &stream.parent
            && order.contains(&(system.clone(), p.stream.clone()))
        {
            done.entry((system.clone(), p.stream.clone()))
                .or_insert_with(|| tokio::sync::watch::channel(None).0);
        }
    }
    let reports: Vec<StreamReport> = futures::stream::iter(jobs.into_iter().map(|(system, stream, src)| {
        let finished = done.get(&(system.clone(), stream.name.clone())).cloned();
        let parent_done = stream.parent.as_ref().and_then(|p| {
            done.get(&(system.clone(), p.stream.clone()))
                .map(|tx| (p.stream.clone(), tx.subscribe()))
        });
        let state = states.get(&(system.clone(), stream.name.clone())).cloned();
        let lake = lake.clone();
        let run_id = run_id.clone();
        let ops_lock = ops_lock.clone();
        let scrub = scrub.clone();
        let full = options.full_refresh;
        let force_reconcile = options.reconcile;
        let progress = options.progress.clone();
        let ended = options.on_stream_end.clone();
        let span = tracing::info_span!("stream", system = %system, stream = %stream.name, run_id = %run_id);
        tracing::Instrument::instrument(async move {
            let t0 = Instant::now();
            let cursor_before = state.as_ref().and_then(|s| s.cursor.clone());
            let mut rep = StreamReport {
                system: system.clone(),
                stream: stream.name.clone(),
                table: format!("raw.{}", stream.table),
                status: StreamStatus::Succeeded,
                received: 0,
                landed: 0,
                rejected: 0,
                filtered: 0,
                unchanged: 0,
                pages: 0,
                retries: 0,
                new_fields: Vec::new(),
                duplicates: 0,
                bytes: 0,
                cursor_before: cursor_before.clone(),
                cursor_after: cursor_before,
                files: Vec::new(),
                reconciled: false,
                source_keys: 0,
                deleted: 0,
                revived: 0,
                raw_version: None,
                millis: 0,
            };
            let parent_failed = match parent_done {
                Some((parent, mut rx)) => match rx.wait_for(Option::is_some).await.map(|v| *v) {
                    Ok(Some(true)) => None,
                    _ => Some(parent),
                },
                None => None,
            };
            let r = match (src.as_ref(), parent_failed) {
                (_, Some(parent)) => Err(Error::Config(format!(
                    "parent stream `{system}.{parent}` failed in this run: the keys to read are not known"
                ))),
                (Src::Broken(msg), None) => Err(Error::Config(msg.clone())),
                (Src::Rest(client), None) => {
                    let r = run_rest(client, &system, &stream, &run_id, &lake, state.as_ref(), full, force_reconcile, ops_lock, progress.as_ref(), &mut rep).await;
                    rep.retries = client.retries.load(std::sync::atomic::Ordering::Relaxed);
                    r
                }
                (Src::Files(loc), None) => run_files(loc, &system, &stream, &run_id, &lake, state.as_ref(), full, ops_lock, progress.as_ref(), &mut rep).await,
            };
            if let Err(e) = r {
                let error = scrub.scrub(&e.to_string());
                tracing::error!(system = %system, stream = %stream.name, error = %error, "stream failed");
                rep.status = StreamStatus::Failed { url: e.url().map(|u| scrub.scrub(u)), error };
            } else {
                tracing::info!(system = %system, stream = %stream.name, received = rep.received, landed = rep.landed, rejected = rep.rejected, "stream landed");
            }
            rep.millis = t0.elapsed().as_millis() as u64;
            if let Some(ended) = &ended {
                match &rep.status {
                    StreamStatus::Succeeded => (ended.0)(&rep.table, Ok(())),
                    StreamStatus::Failed { error, .. } => (ended.0)(&rep.table, Err(error)),
                }
            }
            if let Some(tx) = finished {
                tx.send_replace(Some(rep.status == StreamStatus::Succeeded));
            }
            rep
        }, span)
    }))
    .buffer_unordered(par)
    .collect()
    .await;
    let mut by_key: HashMap<(String, String), StreamReport> = reports
        .into_iter()
        .map(|r| ((r.system.clone(), r.stream.clone()), r))
        .collect();
    let streams: Vec<StreamReport> = order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect();
    let report = ExtractReport {
        run_id: run_id.clone(),
        pipeline: pipeline.name.clone(),
        started_at,
        ended_at: Utc::now(),
        streams,
    };
    if options.write_run_record {
        let (received, landed, rejected) = report.totals();
        let failed: Vec<String> = report
            .failed()
            .map(|s| match &s.status {
                StreamStatus::Failed { error, .. } => format!("{}.{}: {error}", s.system, s.stream),
                StreamStatus::Succeeded => String::new(),
            })
            .collect();
        let rec = RunRecord {
            run_id: run_id.clone(),
            pipeline: pipeline.name.clone(),
            stage: "extract".into(),
            status: if report.is_success() {
                "ok".into()
            } else {
                "failed".into()
            },
            started_at,
            ended_at: report.ended_at,
            rows: Some(received as i64),
            rows_landed: Some(landed as i64),
            rows_rejected: Some(rejected as i64),
            bytes: Some(report.streams.iter().map(|s| s.bytes as i64).sum()),
            error: (!failed.is_empty()).then(|| scrub.scrub(&failed.join("; "))),
            details: serde_json::to_string(&report.streams)
                .ok()
                .map(|s| scrub.scrub(&s)),
        };
        let _g = ops_lock.lock().await;
        ops::append_runs(lake, &[rec]).await?;
    }
    Ok(report)
}

/// The first item of each list, then the second of each, and so on.
fn round_robin<T>(lists: Vec<Vec<T>>) -> Vec<T> {
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(iters.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

/// `at` in the unit of the stream's cursor column: days for a date, microseconds otherwise.
fn in_cursor_units(stream: &Stream, column: usize, at: DateTime<Utc>) -> i64 {
    match stream.columns[column].data_type {
        DataType::Date => at
            .date_naive()
            .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default())
            .num_days(),
        _ => at.timestamp_micros(),
    }
}

/// The cursor the previous run stored, in the unit of the cursor column; `None` on a first load
/// or a full refresh.
fn previous_cursor(stream: &Stream, state: Option<&StreamState>, full: bool) -> Option<i64> {
    let inc = stream.incremental.as_ref()?;
    if full {
        return None;
    }
    let stored = parse_start(state?.cursor.as_deref()?)?;
    Some(in_cursor_units(stream, inc.column, stored))
}

/// Where a run resumes: the stored cursor minus the lag; `None` on a first load, a full refresh
/// or a stream without `incremental` (the run then starts from the initial value, if any).
fn resume_from(stream: &Stream, state: Option<&StreamState>, full: bool) -> Option<DateTime<Utc>> {
    let inc = stream.incremental.as_ref()?;
    if full {
        return None;
    }
    Some(parse_start(state?.cursor.as_deref()?)? - inc.lag)
}

/// The `{incremental.start_value}` text and the client-side minimum cursor of a stream.
fn start_of(
    stream: &Stream,
    state: Option<&StreamState>,
    full: bool,
) -> (Option<String>, Option<i64>) {
    let Some(inc) = &stream.incremental else {
        return (None, None);
    };
    let start = resume_from(stream, state, full)
        .or_else(|| parse_start(&inc.initial_value))
        .unwrap_or_default();
    let text = start.format(&inc.format).to_string();
    let min = inc
        .client_filter
        .then(|| in_cursor_units(stream, inc.column, start));
    (Some(text), min)
}

#[allow(clippy::too_many_arguments)]
async fn run_rest(
    client: &SystemClient,
    system: &str,
    stream: &Stream,
    run_id: &str,
    lake: &Lake,
    state: Option<&StreamState>,
    full: bool,
    force_reconcile: bool,
    ops_lock: Arc<Mutex<()>>,
    progress: Option<&StreamProgress>,
    rep: &mut StreamReport,
) -> Result<()> {
    let plan = Arc::new(StreamPlan::new(system, stream, run_id, false));
    let (start, min) = start_of(stream, state, full);
    tracing::debug!(system, stream = %stream.name, start = ?start, "stream starting");
    let reconcile = reconcile_due(stream, state, force_reconcile, Utc::now()).map(|due| KeysPass {
        client,
        due,
        started: Utc::now(),
    });
    let previous = previous_cursor(stream, state, full);
    let resume = resume_from(stream, state, full);
    let parent_keys = match (&stream.parent, &stream.incremental) {
        (None, _) => None,
        (Some(parent), inc) => {
            let floor = inc
                .as_ref()
                .zip(resume)
                .map(|(inc, at)| in_cursor_units(stream, inc.column, at));
            Some(crate::parent::parent_keys(lake, system, stream, parent, floor, run_id).await?)
        }
    };
    if let Some(keys) = &parent_keys {
        let (requested, embedded) = keys.counts();
        tracing::info!(system, stream = %stream.name, keys = requested, embedded, "parent keys to read");
    }
    let shape = crate::rest::RunShape {
        from_cursor: resume.is_some(),
        parent_keys,
    };
    let mut acc = Accumulator::new(lake.clone(), &plan, ops_lock.clone())
        .skipping_unchanged(!full, previous)
        .counting_duplicates(&plan, run_id)
        .reporting(progress.cloned());
    let r = crate::rest::run(client, plan.clone(), start, min, &shape, &mut acc).await;
    finish(
        &plan,
        lake,
        state,
        full,
        ops_lock,
        acc,
        r,
        Vec::new(),
        reconcile,
        rep,
    )
    .await
}

/// Whether a stream that declares `reconcile` reconciles in this run (`None`: it declares none).
/// Due when forced, or when `every` has passed since the last reconciliation; a stream with no
/// reconciliation recorded yet is due unless this is its first landing, which lists every key.
fn reconcile_due(
    stream: &Stream,
    state: Option<&StreamState>,
    force: bool,
    now: DateTime<Utc>,
) -> Option<bool> {
    let rc = stream.reconcile.as_ref()?;
    let every = chrono::Duration::from_std(rc.every).unwrap_or(chrono::Duration::MAX);
    Some(
        force
            || match state {
                None => false,
                Some(s) => s.reconciled_at.is_none_or(|at| now - at >= every),
            },
    )
}

/// The deletion reconciliation of a REST stream that declares one.
struct KeysPass<'a> {
    client: &'a SystemClient,
    /// Whether the keys pass runs in this run.
    due: bool,
    /// When the stream started (a first landing counts as a reconciliation from then).
    started: DateTime<Utc>,
}

#[allow(clippy::too_many_arguments)]
async fn run_files(
    location: &str,
    system: &str,
    stream: &Stream,
    run_id: &str,
    lake: &Lake,
    state: Option<&StreamState>,
    full: bool,
    ops_lock: Arc<Mutex<()>>,
    progress: Option<&StreamProgress>,
    rep: &mut StreamReport,
) -> Result<()> {
    let plan = Arc::new(StreamPlan::new(system, stream, run_id, true));
    let already: Vec<String> = if full {
        Vec::new()
    } else {
        state
            .and_then(|s| s.loaded_files.as_deref())
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    };
    let mut acc =
        Accumulator::new(lake.clone(), &plan, ops_lock.clone()).reporting(progress.cloned());
    let r = crate::files::run(location, plan.clone(), &already, &mut acc).await;
    let (r, files) = match r {
        Ok(f) => (Ok(()), f),
        Err(e) => (Err(e), Vec::new()),
    };
    let mut all: Vec<String> = already;
    for f in &files {
        if !all.contains(f) {
            all.push(f.clone());
        }
    }
    rep.files = files;
    finish(&plan, lake, state, full, ops_lock, acc, r, all, None, rep).await
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    plan: &StreamPlan,
    lake: &Lake,
    state: Option<&StreamState>,
    full: bool,
    ops_lock: Arc<Mutex<()>>,
    mut acc: Accumulator,
    fetched: Result<()>,
    loaded_files: Vec<String>,
    reconcile: Option<KeysPass<'_>>,
    rep: &mut StreamReport,
) -> Result<()> {
    let stream = &plan.stream;
    // schema drift: a column that failed in every record received
    let drift = if acc.received > 0 {
        stream
            .columns
            .iter()
            .zip(&acc.failing)
            .find(|(_, n)| **n == acc.received)
            .map(|(c, _)| Error::SchemaDrift {
                stream: format!("{}.{}", plan.system, stream.name),
                field: c.name.clone(),
                detail: format!(
                    "(path `{}`) is {} in all {} records (e.g. record {})",
                    c.path,
                    if c.required {
                        "missing or unparseable"
                    } else {
                        "unparseable"
                    },
                    acc.received,
                    acc.rejects
                        .first()
                        .and_then(|r| r.key.clone())
                        .or_else(|| acc.example_key.clone())
                        .unwrap_or_else(|| "(no key)".into())
                ),
            })
    } else {
        None
    };
    let result = match (fetched, drift) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(d)) => Err(d),
        (Ok(()), None) => Ok(()),
    };
    // Rows decoded before a failure are still complete records: land them, but never move the
    // cursor past a failed stream.
    let flushed = acc.flush().await;
    let rejected = if matches!(result, Err(Error::SchemaDrift { .. })) {
        Ok(())
    } else {
        acc.flush_rejects().await
    };
    rep.received = acc.received;
    rep.landed = acc.landed;
    rep.rejected = acc.rejected;
    rep.filtered = acc.filtered;
    rep.unchanged = acc.unchanged;
    rep.pages = acc.pages;
    rep.raw_version = acc.raw_version;
    rep.new_fields = acc.unknown.iter().cloned().collect();
    rep.duplicates = acc.duplicates;
    rep.bytes = acc.bytes;
    if let Some((key, first, again)) = &acc.duplicate_example {
        tracing::warn!(
            system = %plan.system,
            stream = %stream.name,
            duplicates = acc.duplicates,
            key = %key,
            first_page = first,
            again_page = again,
            "records repeat a primary key an earlier record of this run had: they landed; staging keeps the latest row per key, and the duplicate_key data test fails the run when they differ"
        );
    }
    result?;
    flushed?;
    rejected?;
    // A stream that has landed nothing yet still gets its raw table, empty, with the declared
    // columns: models reading it build over a source without such records (SPEC section 6: a
    // fixture directory without a stream's file runs).
    let table = TableName::new("raw", &stream.table);
    if acc.raw_version.is_none() && lake.version(&table).await?.is_none() {
        let empty = RecordBatch::new_empty(plan.schema.clone());
        rep.raw_version = Some(lake.append(&table, vec![empty]).await?);
    }
    let cursor = match (&stream.incremental, acc.cursor_max) {
        (Some(inc), Some(max)) => {
            let ty = stream.columns[inc.column].data_type;
            let new = format_cursor(max, ty);
            let prev = if full {
                None
            } else {
                state.and_then(|s| s.cursor.clone())
            };
            // keep the larger of the stored and the new cursor
            match prev {
                Some(p) if parse_start(&p) >= parse_start(&new) => Some(p),
                _ => Some(new),
            }
        }
        (Some(_), None) => state.and_then(|s| s.cursor.clone()),
        (None, _) => None,
    };
    rep.cursor_after = cursor.clone();

    // Deletions: after the landing, so the keys just landed count as live.
    let mut reconciled_at = state.and_then(|s| s.reconciled_at);
    let mut reconcile_error = None;
    match (&reconcile, &stream.reconcile) {
        (Some(k), Some(rc)) if k.due => {
            let started = Utc::now();
            rep.reconciled = true;
            match crate::reconcile::run(k.client, plan, rc, lake).await {
                Ok(o) => {
                    rep.source_keys = o.keys;
                    rep.deleted = o.deleted;
                    rep.revived = o.revived;
                    if o.raw_version.is_some() {
                        rep.raw_version = o.raw_version;
                    }
                    reconciled_at = Some(started);
                }
                Err(e) => reconcile_error = Some(Error::Reconcile(Box::new(e))),
            }
        }
        (Some(k), Some(_)) if state.is_none() => reconciled_at = Some(k.started),
        _ => {}
    }

    let loaded_files = (!loaded_files.is_empty())
        .then(|| serde_json::to_string(&loaded_files).unwrap_or_default());
    let st = StreamState {
        system: plan.system.clone(),
        stream: stream.name.clone(),
        cursor,
        loaded_files,
        run_id: plan.run_id.clone(),
        rows_landed: acc.landed as i64,
        raw_version: rep.raw_version,
        reconciled_at,
        updated_at: Utc::now(),
    };
    fault_point(format_args!("extract:before_cursor:{}", stream.table));
    {
        let _g = ops_lock.lock().await;
        ops::append_stream_state(lake, &st).await?;
    }
    fault_point(format_args!("extract:after_cursor:{}", stream.table));
    match reconcile_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    #[test]
    fn streams_start_one_system_at_a_time_in_turn() {
        let lists = vec![
            vec!["sf1", "sf2", "sf3"],
            vec!["hs1"],
            vec![],
            vec!["k1", "k2"],
        ];
        assert_eq!(round_robin(lists), ["sf1", "hs1", "k1", "sf2", "k2", "sf3"]);
    }

    fn demo_stream(table: &str) -> Stream {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/demo.yml");
        let p = pslake_core::pipeline::load_pipeline_with(&path, &HashMap::new())
            .unwrap_or_else(|e| panic!("{e:#?}"));
        p.systems
            .into_iter()
            .flat_map(|s| s.streams)
            .find(|s| s.table == table)
            .expect("stream")
    }

    fn state(reconciled_at: Option<DateTime<Utc>>) -> StreamState {
        StreamState {
            system: "kantata".into(),
            stream: "time_entries".into(),
            cursor: None,
            loaded_files: None,
            run_id: "r".into(),
            rows_landed: 0,
            raw_version: None,
            reconciled_at,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn reconcile_is_due_after_every_or_when_forced() {
        let mut s = demo_stream("kantata_time_entries");
        s.reconcile.as_mut().expect("declared").every = Duration::from_secs(7 * 86400);
        let now = Utc::now();
        let days = |d: i64| Some(state(Some(now - chrono::Duration::days(d))));
        assert_eq!(
            reconcile_due(&s, None, false, now),
            Some(false),
            "first landing"
        );
        assert_eq!(reconcile_due(&s, None, true, now), Some(true));
        assert_eq!(reconcile_due(&s, days(6).as_ref(), false, now), Some(false));
        assert_eq!(reconcile_due(&s, days(6).as_ref(), true, now), Some(true));
        assert_eq!(reconcile_due(&s, days(7).as_ref(), false, now), Some(true));
        assert_eq!(
            reconcile_due(&s, Some(&state(None)), false, now),
            Some(true),
            "landed before reconcile was declared"
        );
        assert_eq!(
            reconcile_due(&demo_stream("hubspot_deals"), None, true, now),
            None
        );
    }
}
