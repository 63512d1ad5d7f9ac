//! `pslake status`: is the lake fresh and trustworthy, at a glance.
//!
//! Read only, from the lake's own records: the last runs with their outcome (`_pslake.runs`), each
//! stream's freshness (the last successful extract in `_pslake.stream_state` against the stream's
//! `freshness: {warn_after, error_after}` in the pipeline), the canonical tables of the last
//! complete release (`_pslake.releases`) with their row counts, and the rejects and warnings by
//! rule with a sample key (the latest run of each source that raised them). Exit 1 when a stream
//! is past its `error_after` (or was never extracted while it declares one), 0 otherwise; a stream
//! past `warn_after` is flagged, the exit code stays 0 (dbt's `source freshness` does the same).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use pslake_core::pipeline::{Freshness as Limits, load_pipeline};
use pslake_lake::{Lake, TableName, ops};
use serde::Serialize;

use super::UsageError;

/// Arguments of `pslake status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The lake: a folder or an object-store URL
    #[arg(long, default_value = "./lake")]
    lake: String,
    /// The pipeline whose streams' `freshness` is checked (default: pipelines/demo.yml under
    /// --project, when it exists)
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// The project directory
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// How many of the last runs to list
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
}

/// What `pslake status` reports (the `--format json` document).
#[derive(Debug, Serialize)]
struct Status {
    lake: String,
    checked_at: DateTime<Utc>,
    runs: Vec<RunSummary>,
    streams: Vec<StreamFreshness>,
    tables: Vec<TableStatus>,
    rejects: Vec<RuleCount>,
    warnings: Vec<RuleCount>,
    /// Streams past `warn_after` / past `error_after`.
    stale_warn: usize,
    stale_error: usize,
}

#[derive(Debug, Serialize)]
struct RunSummary {
    run_id: String,
    pipeline: String,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    status: String,
    failed_stages: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Freshness {
    /// Younger than `warn_after` (or than `error_after` when only that is set).
    Fresh,
    /// Past `warn_after`.
    Warn,
    /// Past `error_after`, or never extracted.
    Error,
    /// No `freshness` declared.
    Unchecked,
}

#[derive(Debug, Serialize)]
struct StreamFreshness {
    system: String,
    stream: String,
    table: String,
    last_success: Option<DateTime<Utc>>,
    age_seconds: Option<i64>,
    rows_landed_last: Option<i64>,
    warn_after_seconds: Option<u64>,
    error_after_seconds: Option<u64>,
    state: Freshness,
}

#[derive(Debug, Serialize)]
struct TableStatus {
    table: String,
    version: i64,
    released_at: Option<DateTime<Utc>>,
    rows: i64,
}

#[derive(Debug, Serialize)]
struct RuleCount {
    source: String,
    rule: String,
    rows: i64,
    run_id: String,
    sample_key: Option<String>,
    sample_message: String,
}

pub(crate) async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let lake = super::build::open_existing_lake(&args.lake)?;
    let now = Utc::now();
    let tables = lake.list_tables().await?;
    let has = |schema: &str, name: &str| tables.contains(&TableName::new(schema, name));

    let runs = if has("_pslake", "runs") {
        last_runs(&lake, args.runs).await?
    } else {
        Vec::new()
    };
    let pipeline = match &args.pipeline {
        Some(p) => Some(p.clone()),
        None => Some(args.project.join("pipelines/demo.yml")).filter(|p| p.is_file()),
    };
    let streams = freshness(&lake, pipeline, has("_pslake", "stream_state"), now).await?;
    let tables = canonical(&lake, &tables).await?;
    let rejects = if has("_pslake", "rejects") {
        by_rule(
            &lake,
            "_pslake.rejects",
            "system || '.' || stream",
            "rejected_at",
        )
        .await?
    } else {
        Vec::new()
    };
    let warnings = if has("_pslake", "warnings") {
        by_rule(&lake, "_pslake.warnings", "source", "raised_at").await?
    } else {
        Vec::new()
    };
    let stale_warn = streams
        .iter()
        .filter(|s| s.state == Freshness::Warn)
        .count();
    let stale_error = streams
        .iter()
        .filter(|s| s.state == Freshness::Error)
        .count();
    let status = Status {
        lake: lake.root().to_string(),
        checked_at: now,
        runs,
        streams,
        tables,
        rejects,
        warnings,
        stale_warn,
        stale_error,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        }
        StatusFormat::Text => write_text(&mut out, &status)?,
    }
    Ok(if stale_error > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn query(lake: &Lake, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    lake.query(sql)
        .await
        .with_context(|| format!("reading {sql}"))
}

/// The text of column `c` of row `r` (NULL: `None`); one cell formatted, not the column cast.
fn text(b: &RecordBatch, c: usize, r: usize) -> Option<String> {
    let col = b.column(c);
    if col.is_null(r) {
        return None;
    }
    arrow::util::display::array_value_to_string(col, r).ok()
}

fn int(b: &RecordBatch, c: usize, r: usize) -> Option<i64> {
    let col = arrow::compute::cast(b.column(c), &DataType::Int64).ok()?;
    let col = col.as_primitive::<Int64Type>();
    (!col.is_null(r)).then(|| col.value(r))
}

fn time(b: &RecordBatch, c: usize, r: usize) -> Option<DateTime<Utc>> {
    let col = arrow::compute::cast(
        b.column(c),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
    )
    .ok()?;
    let col = col.as_primitive::<TimestampMicrosecondType>();
    (!col.is_null(r))
        .then(|| DateTime::from_timestamp_micros(col.value(r)))
        .flatten()
}

async fn last_runs(lake: &Lake, n: usize) -> anyhow::Result<Vec<RunSummary>> {
    let sql = format!(
        "SELECT _run_id, max(pipeline), min(started_at) AS started, max(ended_at), \
           CASE WHEN bool_or(status = 'failed') THEN 'failed' ELSE 'ok' END, \
           string_agg(CASE WHEN status = 'failed' THEN stage END, ', ' ORDER BY stage), \
           max(error) \
         FROM _pslake.runs GROUP BY _run_id ORDER BY started DESC LIMIT {n}"
    );
    let mut out = Vec::new();
    for b in query(lake, &sql).await? {
        for r in 0..b.num_rows() {
            out.push(RunSummary {
                run_id: text(&b, 0, r).unwrap_or_default(),
                pipeline: text(&b, 1, r).unwrap_or_default(),
                started_at: time(&b, 2, r).unwrap_or_default(),
                ended_at: time(&b, 3, r).unwrap_or_default(),
                status: text(&b, 4, r).unwrap_or_default(),
                failed_stages: text(&b, 5, r)
                    .map(|s| s.split(", ").map(str::to_string).collect())
                    .unwrap_or_default(),
                error: text(&b, 6, r),
            });
        }
    }
    Ok(out)
}

/// When a stream last extracted successfully and the rows it landed then.
type LastExtract = (Option<DateTime<Utc>>, Option<i64>);

async fn freshness(
    lake: &Lake,
    pipeline: Option<PathBuf>,
    has_state: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<StreamFreshness>> {
    // (system, stream) -> (last successful extract, rows landed then)
    let mut last: BTreeMap<(String, String), LastExtract> = BTreeMap::new();
    if has_state {
        let sql = "SELECT system, stream, updated_at, rows_landed FROM ( \
                     SELECT *, row_number() OVER (PARTITION BY system, stream ORDER BY updated_at DESC) AS n \
                     FROM _pslake.stream_state) WHERE n = 1";
        for b in query(lake, sql).await? {
            for r in 0..b.num_rows() {
                last.insert(
                    (
                        text(&b, 0, r).unwrap_or_default(),
                        text(&b, 1, r).unwrap_or_default(),
                    ),
                    (time(&b, 2, r), int(&b, 3, r)),
                );
            }
        }
    }
    // Declared streams first (with their freshness), then any other stream the lake knows.
    let mut declared: Vec<(String, String, String, Limits)> = Vec::new();
    if let Some(path) = pipeline {
        let p = load_pipeline(&path).map_err(|e| {
            UsageError(format!(
                "pipeline {}: {}",
                path.display(),
                e.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        for s in &p.systems {
            for st in &s.streams {
                declared.push((
                    s.name.clone(),
                    st.name.clone(),
                    format!("raw.{}", st.table),
                    st.freshness,
                ));
            }
        }
    }
    for (system, stream) in last.keys() {
        if !declared
            .iter()
            .any(|(s, n, _, _)| s == system && n == stream)
        {
            declared.push((
                system.clone(),
                stream.clone(),
                String::new(),
                Limits::default(),
            ));
        }
    }
    let mut out = Vec::new();
    for (system, stream, table, f) in declared {
        let (last_success, rows) = last
            .get(&(system.clone(), stream.clone()))
            .cloned()
            .unwrap_or((None, None));
        let age = last_success.map(|t| (now - t).num_seconds());
        let past = |limit: Option<std::time::Duration>| match (limit, age) {
            (Some(l), Some(a)) => a > i64::try_from(l.as_secs()).unwrap_or(i64::MAX),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let state = if f.warn_after.is_none() && f.error_after.is_none() {
            Freshness::Unchecked
        } else if past(f.error_after) || (last_success.is_none()) {
            Freshness::Error
        } else if past(f.warn_after) {
            Freshness::Warn
        } else {
            Freshness::Fresh
        };
        out.push(StreamFreshness {
            system,
            stream,
            table,
            last_success,
            age_seconds: age,
            rows_landed_last: rows,
            warn_after_seconds: f.warn_after.map(|d| d.as_secs()),
            error_after_seconds: f.error_after.map(|d| d.as_secs()),
            state,
        });
    }
    Ok(out)
}

/// The canonical tables at the last complete release: version, release time, rows.
async fn canonical(lake: &Lake, tables: &[TableName]) -> anyhow::Result<Vec<TableStatus>> {
    let releases = ops::load_releases(lake, None).await?;
    let mut released: BTreeMap<TableName, (i64, DateTime<Utc>)> = BTreeMap::new();
    for r in releases {
        let e = released
            .entry(r.table.clone())
            .or_insert((r.version, r.released_at));
        if r.version > e.0 {
            *e = (r.version, r.released_at);
        }
    }
    let mut out = Vec::new();
    for t in tables.iter().filter(|t| t.schema == "canonical") {
        let (version, released_at) = match released.get(t) {
            Some((v, at)) => (*v, Some(*at)),
            None => (lake.version(t).await?.unwrap_or_default(), None),
        };
        let table = lake.open_at(t, version).await?;
        let ctx = datafusion::prelude::SessionContext::new();
        let provider = table
            .table_provider()
            .await
            .with_context(|| format!("reading {t}"))?;
        ctx.register_table("t", provider)?;
        let batches = ctx.sql("SELECT count(*) FROM t").await?.collect().await?;
        let rows = batches
            .first()
            .and_then(|b| int(b, 0, 0))
            .unwrap_or_default();
        out.push(TableStatus {
            table: t.to_string(),
            version,
            released_at,
            rows,
        });
    }
    Ok(out)
}

/// Rows by source and rule in the latest run of each source that raised any, with a sample.
async fn by_rule(
    lake: &Lake,
    table: &str,
    source: &str,
    at: &str,
) -> anyhow::Result<Vec<RuleCount>> {
    let sql = format!(
        "WITH t AS (SELECT {source} AS source, rule, key, message, _run_id, {at} AS at FROM {table}), \
         latest AS (SELECT source, _run_id FROM ( \
           SELECT source, _run_id, row_number() OVER (PARTITION BY source ORDER BY at DESC) AS n FROM t) \
           WHERE n = 1) \
         SELECT t.source, t.rule, count(*), max(t._run_id), min(t.key), min(t.message) \
         FROM t JOIN latest l ON t.source = l.source AND t._run_id = l._run_id \
         GROUP BY t.source, t.rule ORDER BY t.source, t.rule"
    );
    let mut out = Vec::new();
    for b in query(lake, &sql).await? {
        for r in 0..b.num_rows() {
            out.push(RuleCount {
                source: text(&b, 0, r).unwrap_or_default(),
                rule: text(&b, 1, r).unwrap_or_default(),
                rows: int(&b, 2, r).unwrap_or_default(),
                run_id: text(&b, 3, r).unwrap_or_default(),
                sample_key: text(&b, 4, r),
                sample_message: text(&b, 5, r).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "never".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 259_200 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

fn write_text(out: &mut impl Write, s: &Status) -> std::io::Result<()> {
    writeln!(out, "lake {}", s.lake)?;
    writeln!(out, "\nlast runs")?;
    if s.runs.is_empty() {
        writeln!(out, "  none")?;
    }
    for r in &s.runs {
        let secs = (r.ended_at - r.started_at).num_milliseconds() as f64 / 1000.0;
        write!(
            out,
            "  {}  {:<12} {}  {:>7.1}s  {}",
            r.run_id,
            r.pipeline,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            secs,
            r.status
        )?;
        if !r.failed_stages.is_empty() {
            write!(out, "  ({})", r.failed_stages.join(", "))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "\nfreshness (last successful extract)")?;
    for f in &s.streams {
        let limits = match (f.warn_after_seconds, f.error_after_seconds) {
            (None, None) => "-".to_string(),
            (w, e) => format!(
                "warn {} / error {}",
                w.map_or("-".into(), |w| age(Some(w as i64))),
                e.map_or("-".into(), |e| age(Some(e as i64)))
            ),
        };
        let flag = match f.state {
            Freshness::Fresh => "fresh",
            Freshness::Warn => "STALE (warn)",
            Freshness::Error => "STALE (error)",
            Freshness::Unchecked => "unchecked",
        };
        writeln!(
            out,
            "  {:<40} {:>7} ago  {:<26} {}",
            format!("{}.{}", f.system, f.stream),
            age(f.age_seconds),
            limits,
            flag
        )?;
    }
    writeln!(out, "\ncanonical tables (last complete release)")?;
    for t in &s.tables {
        writeln!(
            out,
            "  {:<28} v{:<5} {:>9} rows  released {}",
            t.table,
            t.version,
            t.rows,
            t.released_at
                .map_or("-".into(), |a| a.format("%Y-%m-%d %H:%M:%S").to_string())
        )?;
    }
    for (title, rows) in [("rejects", &s.rejects), ("warnings", &s.warnings)] {
        writeln!(out, "\n{title} by rule (latest run of each source)")?;
        if rows.is_empty() {
            writeln!(out, "  none")?;
        }
        for r in rows {
            writeln!(
                out,
                "  {:<40} {:<28} {:>6}  e.g. {}",
                r.source,
                r.rule,
                r.rows,
                r.sample_key.as_deref().unwrap_or("(no key)")
            )?;
        }
    }
    writeln!(
        out,
        "\n{} stale (warn), {} stale (error)",
        s.stale_warn, s.stale_error
    )?;
    Ok(())
}
