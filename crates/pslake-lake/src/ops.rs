//! The `_pslake` operational tables: `runs`, `stream_state`, `rejects`, `warnings`, and the
//! release record `releases` (see [`crate::release`]).
//!
//! Everything BI or an auditor needs to trust a number lives in the lake itself (SPEC section 6).
//! All four tables are append-only; readers take the latest row per key where that matters
//! ([`load_stream_states`]).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::{Error, Lake, Result, TableName};

/// The schema of the operational tables.
pub const SCHEMA: &str = "_pslake";

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn timestamps(values: impl Iterator<Item = DateTime<Utc>>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(values.map(|t| t.timestamp_micros()).collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>, what: &str) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(|source| Error::Arrow {
        context: format!("building {what} rows"),
        source: Box::new(source),
    })
}

/// One rejected record: it never silently vanishes (SPEC section 5).
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRow {
    /// The run that rejected it.
    pub run_id: String,
    /// Source system, e.g. `kantata`.
    pub system: String,
    /// Stream, e.g. `time_entries`.
    pub stream: String,
    /// The record's primary key, when it has one.
    pub key: Option<String>,
    /// The rule it failed, e.g. `unparseable_value`, `unknown_project`.
    pub rule: String,
    /// The field at fault, if one.
    pub field: Option<String>,
    /// The offending value, if one.
    pub value: Option<String>,
    /// A readable message.
    pub message: String,
    /// The record's original JSON.
    pub raw: Option<String>,
    /// When it was rejected.
    pub rejected_at: DateTime<Utc>,
}

/// The Arrow schema of `_pslake.rejects`.
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("system", DataType::Utf8, false),
        Field::new("stream", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, false),
        Field::new("_raw", DataType::Utf8, true),
        Field::new("rejected_at", ts_type(), false),
    ]))
}

/// Rows as a `_pslake.rejects` batch.
pub fn rejects_batch(rows: &[RejectRow]) -> Result<RecordBatch> {
    batch(
        rejects_schema(),
        vec![
            strings(rows.iter().map(|r| Some(r.run_id.as_str()))),
            strings(rows.iter().map(|r| Some(r.system.as_str()))),
            strings(rows.iter().map(|r| Some(r.stream.as_str()))),
            strings(rows.iter().map(|r| r.key.as_deref())),
            strings(rows.iter().map(|r| Some(r.rule.as_str()))),
            strings(rows.iter().map(|r| r.field.as_deref())),
            strings(rows.iter().map(|r| r.value.as_deref())),
            strings(rows.iter().map(|r| Some(r.message.as_str()))),
            strings(rows.iter().map(|r| r.raw.as_deref())),
            timestamps(rows.iter().map(|r| r.rejected_at)),
        ],
        "rejects",
    )
}

/// `_pslake.rejects`.
pub fn rejects_table() -> TableName {
    TableName::new(SCHEMA, "rejects")
}

/// Appends rows to `_pslake.rejects` in one commit (nothing is written for no rows).
pub async fn append_rejects(lake: &Lake, rows: &[RejectRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    lake.append(&rejects_table(), vec![rejects_batch(rows)?])
        .await
        .map(|_| ())
}

/// A stream's incremental state after a landing.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    /// Source system.
    pub system: String,
    /// Stream.
    pub stream: String,
    /// The cursor value to resume from (stream specific text), `None` before the first landing.
    pub cursor: Option<String>,
    /// Files already loaded (file-drop sources), as a JSON array of names.
    pub loaded_files: Option<String>,
    /// The run that landed the rows this state covers.
    pub run_id: String,
    /// Rows landed by that run.
    pub rows_landed: i64,
    /// The raw table version that holds those rows.
    pub raw_version: Option<i64>,
    /// When the stream's last deletion reconciliation started (its keys pass listed the source
    /// from then on); `None` when the stream has never been reconciled.
    pub reconciled_at: Option<DateTime<Utc>>,
    /// When the state was committed.
    pub updated_at: DateTime<Utc>,
}

/// `_pslake.stream_state`.
pub fn stream_state_table() -> TableName {
    TableName::new(SCHEMA, "stream_state")
}

/// The Arrow schema of `_pslake.stream_state`.
pub fn stream_state_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("system", DataType::Utf8, false),
        Field::new("stream", DataType::Utf8, false),
        Field::new("cursor", DataType::Utf8, true),
        Field::new("loaded_files", DataType::Utf8, true),
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("rows_landed", DataType::Int64, false),
        Field::new("raw_version", DataType::Int64, true),
        Field::new("updated_at", ts_type(), false),
        Field::new("reconciled_at", ts_type(), true),
    ]))
}

/// Appends one state row. Call it only after the stream's rows are committed, so the cursor
/// never runs ahead of the data (SPEC section 3).
pub async fn append_stream_state(lake: &Lake, s: &StreamState) -> Result<()> {
    let b = batch(
        stream_state_schema(),
        vec![
            strings(std::iter::once(Some(s.system.as_str()))),
            strings(std::iter::once(Some(s.stream.as_str()))),
            strings(std::iter::once(s.cursor.as_deref())),
            strings(std::iter::once(s.loaded_files.as_deref())),
            strings(std::iter::once(Some(s.run_id.as_str()))),
            Arc::new(Int64Array::from(vec![s.rows_landed])),
            Arc::new(Int64Array::from(vec![s.raw_version])),
            timestamps(std::iter::once(s.updated_at)),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    s.reconciled_at.map(|t| t.timestamp_micros()),
                ])
                .with_timezone("UTC"),
            ),
        ],
        "stream_state",
    )?;
    lake.append(&stream_state_table(), vec![b])
        .await
        .map(|_| ())
}

fn col<T: Clone + 'static>(b: &RecordBatch, name: &str, ty: &DataType) -> Result<T> {
    let err = |reason: String| Error::Arrow {
        context: format!("reading _pslake column {name}"),
        source: Box::new(arrow::error::ArrowError::SchemaError(reason)),
    };
    let c = b
        .column_by_name(name)
        .ok_or_else(|| err(format!("missing column {name}")))?;
    // Readers may hand back view types (Utf8View); normalise to the plain type first.
    let c = arrow::compute::cast(c, ty).map_err(|e| err(e.to_string()))?;
    c.as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| err(format!("column {name} is not {ty}")))
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

/// The latest state of every stream (one per `(system, stream)`), in name order.
pub async fn load_stream_states(lake: &Lake) -> Result<Vec<StreamState>> {
    let Some(schema) = lake.arrow_schema(&stream_state_table()).await? else {
        return Ok(Vec::new());
    };
    // `reconciled_at` came later: a lake written before it reads as never reconciled
    let reconciled = if schema.index_of("reconciled_at").is_ok() {
        "reconciled_at"
    } else {
        "CAST(NULL AS TIMESTAMP) AS reconciled_at"
    };
    let rows = lake
        .query(&format!(
            "SELECT system, stream, cursor, loaded_files, _run_id, rows_landed, raw_version, updated_at, {reconciled} FROM (\
               SELECT *, row_number() OVER (PARTITION BY system, stream ORDER BY updated_at DESC) AS rn \
               FROM _pslake.stream_state) WHERE rn = 1 ORDER BY system, stream",
        ))
        .await?;
    let mut out = Vec::new();
    for b in &rows {
        let system = col::<StringArray>(b, "system", &DataType::Utf8)?;
        let stream = col::<StringArray>(b, "stream", &DataType::Utf8)?;
        let cursor = col::<StringArray>(b, "cursor", &DataType::Utf8)?;
        let files = col::<StringArray>(b, "loaded_files", &DataType::Utf8)?;
        let run = col::<StringArray>(b, "_run_id", &DataType::Utf8)?;
        let landed = col::<Int64Array>(b, "rows_landed", &DataType::Int64)?;
        let version = col::<Int64Array>(b, "raw_version", &DataType::Int64)?;
        let updated = col::<TimestampMicrosecondArray>(b, "updated_at", &ts_type())?;
        let reconciled = col::<TimestampMicrosecondArray>(b, "reconciled_at", &ts_type())?;
        for i in 0..b.num_rows() {
            out.push(StreamState {
                system: system.value(i).to_string(),
                stream: stream.value(i).to_string(),
                cursor: opt_str(&cursor, i),
                loaded_files: opt_str(&files, i),
                run_id: run.value(i).to_string(),
                rows_landed: landed.value(i),
                raw_version: version.is_valid(i).then(|| version.value(i)),
                updated_at: DateTime::from_timestamp_micros(updated.value(i)).unwrap_or_default(),
                reconciled_at: reconciled
                    .is_valid(i)
                    .then(|| DateTime::from_timestamp_micros(reconciled.value(i)))
                    .flatten(),
            });
        }
    }
    Ok(out)
}

/// One stage of one run (`extract`, `build`, `test`, a stream, a model).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// `extract`, `build`, `test`, `run`, or `stream:<system>.<stream>` / `model:<schema.name>`.
    pub stage: String,
    /// `ok`, `failed`, `skipped`, `warned`.
    pub status: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Rows received (streams) or produced (models).
    pub rows: Option<i64>,
    /// Rows landed (streams).
    pub rows_landed: Option<i64>,
    /// Rows rejected.
    pub rows_rejected: Option<i64>,
    /// Bytes received or written.
    pub bytes: Option<i64>,
    /// The error, with its cause chain, when it failed. Never holds a secret.
    pub error: Option<String>,
    /// Anything else, as JSON (e.g. schema drift, warnings counts).
    pub details: Option<String>,
}

/// `_pslake.runs`.
pub fn runs_table() -> TableName {
    TableName::new(SCHEMA, "runs")
}

/// The Arrow schema of `_pslake.runs`.
pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("stage", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("started_at", ts_type(), false),
        Field::new("ended_at", ts_type(), false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("rows_landed", DataType::Int64, true),
        Field::new("rows_rejected", DataType::Int64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("details", DataType::Utf8, true),
    ]))
}

/// Appends run records in one commit.
pub async fn append_runs(lake: &Lake, rows: &[RunRecord]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let b = batch(
        runs_schema(),
        vec![
            strings(rows.iter().map(|r| Some(r.run_id.as_str()))),
            strings(rows.iter().map(|r| Some(r.pipeline.as_str()))),
            strings(rows.iter().map(|r| Some(r.stage.as_str()))),
            strings(rows.iter().map(|r| Some(r.status.as_str()))),
            timestamps(rows.iter().map(|r| r.started_at)),
            timestamps(rows.iter().map(|r| r.ended_at)),
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| (r.ended_at - r.started_at).num_milliseconds())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.rows).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.rows_landed).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.rows_rejected).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.bytes).collect::<Vec<_>>(),
            )),
            strings(rows.iter().map(|r| r.error.as_deref())),
            strings(rows.iter().map(|r| r.details.as_deref())),
        ],
        "runs",
    )?;
    lake.append(&runs_table(), vec![b]).await.map(|_| ())
}

/// When the last extraction of `pipeline` started (the start of its last `pslake run` or
/// `extract`, whatever its outcome), from `_pslake.runs`; `None` when the lake has no such run.
/// A run killed before its extraction was recorded does not count.
pub async fn last_run_started(lake: &Lake, pipeline: &str) -> Result<Option<DateTime<Utc>>> {
    use datafusion::functions_aggregate::expr_fn::max;
    use datafusion::prelude::{col as column, lit};
    let t = runs_table();
    let Some(table) = lake.open(&t).await? else {
        return Ok(None);
    };
    let df_err = |source| Error::DataFusion {
        context: format!("reading {t}"),
        source: Box::new(source),
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let provider = table.table_provider().await.map_err(df_err)?;
    let batches = ctx
        .read_table(provider)
        .and_then(|df| {
            df.filter(
                column("pipeline")
                    .eq(lit(pipeline))
                    .and(column("stage").eq(lit("extract"))),
            )?
            .aggregate(vec![], vec![max(column("started_at")).alias("last")])
        })
        .map_err(df_err)?
        .collect()
        .await
        .map_err(df_err)?;
    let Some(b) = batches.first().filter(|b| b.num_rows() == 1) else {
        return Ok(None);
    };
    let last = col::<TimestampMicrosecondArray>(b, "last", &ts_type())?;
    Ok(last
        .is_valid(0)
        .then(|| DateTime::from_timestamp_micros(last.value(0)))
        .flatten())
}

/// A data-quality warning (SPEC section 5): reported and stored, never blocking.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningRow {
    /// The run.
    pub run_id: String,
    /// The rule, e.g. `won_booking_without_project`.
    pub rule: String,
    /// The model or stream it comes from.
    pub source: String,
    /// The key of the offending entity.
    pub key: Option<String>,
    /// A readable message.
    pub message: String,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
}

/// `_pslake.warnings`.
pub fn warnings_table() -> TableName {
    TableName::new(SCHEMA, "warnings")
}

/// The Arrow schema of `_pslake.warnings`.
pub fn warnings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, false),
        Field::new("raised_at", ts_type(), false),
    ]))
}

/// Appends warnings in one commit (nothing is written for no rows).
pub async fn append_warnings(lake: &Lake, rows: &[WarningRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let b = batch(
        warnings_schema(),
        vec![
            strings(rows.iter().map(|r| Some(r.run_id.as_str()))),
            strings(rows.iter().map(|r| Some(r.rule.as_str()))),
            strings(rows.iter().map(|r| Some(r.source.as_str()))),
            strings(rows.iter().map(|r| r.key.as_deref())),
            strings(rows.iter().map(|r| Some(r.message.as_str()))),
            timestamps(rows.iter().map(|r| r.raised_at)),
        ],
        "warnings",
    )?;
    lake.append(&warnings_table(), vec![b]).await.map(|_| ())
}

/// One member of a complete release: `table` was published at `version` by build `run_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// The build.
    pub run_id: String,
    /// The published table.
    pub table: TableName,
    /// Its version holding the build's output.
    pub version: i64,
    /// When the release was marked complete.
    pub released_at: DateTime<Utc>,
}

/// `_pslake.releases`: one row per table of each complete release, appended in one commit.
pub fn releases_table() -> TableName {
    TableName::new(SCHEMA, "releases")
}

/// The Arrow schema of `_pslake.releases`.
pub fn releases_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_run_id", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("released_at", ts_type(), false),
    ]))
}

/// Appends one release's rows in one commit: that commit marks the release complete. Returns
/// the commit's version of `_pslake.releases`.
pub async fn append_releases(lake: &Lake, rows: &[ReleaseRow]) -> Result<i64> {
    let names: Vec<String> = rows.iter().map(|r| r.table.to_string()).collect();
    let b = batch(
        releases_schema(),
        vec![
            strings(rows.iter().map(|r| Some(r.run_id.as_str()))),
            strings(names.iter().map(|n| Some(n.as_str()))),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.version).collect::<Vec<_>>(),
            )),
            timestamps(rows.iter().map(|r| r.released_at)),
        ],
        "releases",
    )?;
    lake.append(&releases_table(), vec![b]).await
}

/// Every row of `_pslake.releases` at `version` (its latest when `None`); empty when the lake
/// has no release record.
pub async fn load_releases(lake: &Lake, version: Option<i64>) -> Result<Vec<ReleaseRow>> {
    let t = releases_table();
    let table = match version {
        Some(v) => lake.open_at(&t, v).await?,
        None => match lake.open(&t).await? {
            Some(table) => table,
            None => return Ok(Vec::new()),
        },
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let df_err = |source| Error::DataFusion {
        context: format!("reading {t}"),
        source: Box::new(source),
    };
    let provider = table.table_provider().await.map_err(df_err)?;
    ctx.register_table("releases", provider).map_err(df_err)?;
    let batches = ctx
        .sql("SELECT _run_id, table_name, version, released_at FROM releases")
        .await
        .map_err(df_err)?
        .collect()
        .await
        .map_err(df_err)?;
    let mut out = Vec::new();
    for b in &batches {
        let run = col::<StringArray>(b, "_run_id", &DataType::Utf8)?;
        let name = col::<StringArray>(b, "table_name", &DataType::Utf8)?;
        let version = col::<Int64Array>(b, "version", &DataType::Int64)?;
        let at = col::<TimestampMicrosecondArray>(b, "released_at", &ts_type())?;
        for i in 0..b.num_rows() {
            let Some(table) = TableName::parse(name.value(i)) else {
                continue;
            };
            out.push(ReleaseRow {
                run_id: run.value(i).to_string(),
                table,
                version: version.value(i),
                released_at: DateTime::from_timestamp_micros(at.value(i)).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The version of each released table in the last complete release that holds it (the
/// highest released version: releases are recorded in commit order), read from
/// `_pslake.releases` at `version` (latest when `None`); `None` when the lake has no release
/// record (a lake written before releases existed).
pub async fn released_versions(
    lake: &Lake,
    version: Option<i64>,
) -> Result<Option<std::collections::BTreeMap<TableName, i64>>> {
    if version.is_none() && lake.version(&releases_table()).await?.is_none() {
        return Ok(None);
    }
    let mut out = std::collections::BTreeMap::new();
    for r in load_releases(lake, version).await? {
        let v = out.entry(r.table).or_insert(r.version);
        *v = (*v).max(r.version);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stream_state_latest_wins_and_rejects_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        assert!(load_stream_states(&lake).await.expect("empty").is_empty());
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("ts");
        let mut s = StreamState {
            system: "kantata".into(),
            stream: "time_entries".into(),
            cursor: Some("2026-01-01T00:00:00Z".into()),
            loaded_files: None,
            run_id: "r1".into(),
            rows_landed: 10,
            raw_version: Some(0),
            reconciled_at: None,
            updated_at: t0,
        };
        append_stream_state(&lake, &s).await.expect("state 1");
        s.cursor = Some("2026-02-01T00:00:00Z".into());
        s.run_id = "r2".into();
        s.updated_at = t0 + chrono::Duration::seconds(5);
        s.reconciled_at = Some(t0 + chrono::Duration::seconds(3));
        append_stream_state(&lake, &s).await.expect("state 2");
        let states = load_stream_states(&lake).await.expect("load");
        assert_eq!(states, vec![s]);

        // a lake written before `reconciled_at` existed reads as never reconciled, and takes
        // the new column on the next state commit
        let old_dir = tempfile::tempdir().expect("tempdir");
        let old = Lake::parse(old_dir.path().to_str().expect("utf8")).expect("lake");
        let full = stream_state_schema();
        let fields: Vec<Field> = full
            .fields()
            .iter()
            .filter(|f| f.name() != "reconciled_at")
            .map(|f| f.as_ref().clone())
            .collect();
        let b = batch(
            Arc::new(Schema::new(fields)),
            vec![
                strings(std::iter::once(Some("kantata"))),
                strings(std::iter::once(Some("users"))),
                strings(std::iter::once(None)),
                strings(std::iter::once(None)),
                strings(std::iter::once(Some("r0"))),
                Arc::new(Int64Array::from(vec![3])),
                Arc::new(Int64Array::from(vec![Some(0)])),
                timestamps(std::iter::once(t0)),
            ],
            "old state",
        )
        .expect("batch");
        old.append(&stream_state_table(), vec![b])
            .await
            .expect("old state");
        let states = load_stream_states(&old).await.expect("old state reads");
        assert_eq!(states[0].reconciled_at, None);
        let mut next = states[0].clone();
        next.reconciled_at = Some(t0);
        next.updated_at = t0 + chrono::Duration::seconds(1);
        append_stream_state(&old, &next).await.expect("new column");
        assert_eq!(load_stream_states(&old).await.expect("load"), vec![next]);

        let reject = RejectRow {
            run_id: "r2".into(),
            system: "netsuite".into(),
            stream: "invoice_line".into(),
            key: Some("9".into()),
            rule: "unparseable_value".into(),
            field: Some("trandate".into()),
            value: Some("13/45/2026".into()),
            message: "trandate '13/45/2026' is not a M/D/YYYY date".into(),
            raw: Some("{}".into()),
            rejected_at: t0,
        };
        append_rejects(&lake, &[reject]).await.expect("rejects");
        // the start of a pipeline's last extraction, whatever became of it
        assert_eq!(last_run_started(&lake, "demo").await.expect("none"), None);
        let run = |pipeline: &str, stage: &str, at: i64| RunRecord {
            run_id: format!("r{at}"),
            pipeline: pipeline.into(),
            stage: stage.into(),
            status: "failed".into(),
            started_at: t0 + chrono::Duration::seconds(at),
            ended_at: t0 + chrono::Duration::seconds(at + 1),
            rows: None,
            rows_landed: None,
            rows_rejected: None,
            bytes: None,
            error: None,
            details: None,
        };
        append_runs(
            &lake,
            &[
                run("demo", "extract", 10),
                run("demo", "extract", 20),
                run("demo", "build", 30),
                run("other", "extract", 40),
            ],
        )
        .await
        .expect("runs");
        assert_eq!(
            last_run_started(&lake, "demo").await.expect("last"),
            Some(t0 + chrono::Duration::seconds(20))
        );
        assert_eq!(last_run_started(&lake, "x'y").await.expect("none"), None);

        let rows = lake
            .query("SELECT rule, value FROM _pslake.rejects")
            .await
            .expect("query");
        assert_eq!(rows[0].num_rows(), 1);
    }
}
