//! Helpers for the formula tests: raw tables from the committed `tests/data/formulas*/` files,
//! a build of the repository's own `sql/` and `models/`, and queries on the result.
//!
//! A data file is one raw table (`docs/raw_tables.md`): its first line lists the typed columns
//! (`-- id varchar, amount decimal(18,2), ...`), the rest is a SQL `VALUES` list. The helper adds
//! the bookkeeping columns `_run_id`, `_extracted_at` and `_raw`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName};
use pslake_transform::{BuildOptions, BuildReport, NoopReporter, Project};

/// The repository root (the `sql/` and `models/` under test).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/data/<name>/`.
pub(crate) fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub(crate) fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn arrow_type(t: &str) -> DataType {
    match t {
        "varchar" => DataType::Utf8,
        "boolean" => DataType::Boolean,
        "bigint" => DataType::Int64,
        "double" => DataType::Float64,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        d if d.starts_with("decimal(") => {
            let inner = &d["decimal(".len()..d.len() - 1];
            let (p, s) = inner.split_once(',').expect("decimal(p,s)");
            DataType::Decimal128(p.trim().parse().expect("p"), s.trim().parse().expect("s"))
        }
        other => panic!("unknown column type {other}"),
    }
}

fn sql_type(t: &str) -> String {
    match t {
        "varchar" => "VARCHAR".into(),
        "boolean" => "BOOLEAN".into(),
        "bigint" => "BIGINT".into(),
        "double" => "DOUBLE".into(),
        "date" => "DATE".into(),
        "timestamp" => "TIMESTAMP".into(),
        d => d.to_uppercase(),
    }
}

/// Parses `-- a varchar, b decimal(18,2), ...` into (name, type) pairs.
fn parse_header(line: &str) -> Vec<(String, String)> {
    let body = line.trim_start_matches('-').trim();
    let mut cols = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for ch in body.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            cols.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(ch);
        }
    }
    cols.push(cur.trim().to_string());
    cols.into_iter()
        .map(|c| {
            let (n, t) = c.split_once(' ').expect("name type");
            (n.to_string(), t.trim().to_string())
        })
        .collect()
}

/// One raw table as a batch with the landing's bookkeeping columns.
async fn raw_batch(path: &Path, run_id: &str, extracted_at: DateTime<Utc>) -> RecordBatch {
    let text = fs_err::read_to_string(path).expect("data file");
    let (header, values) = text.split_once('\n').expect("header line");
    let cols = parse_header(header);
    let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
    let select: Vec<String> = cols
        .iter()
        .map(|(n, t)| format!("CAST({n} AS {}) AS {n}", sql_type(t)))
        .collect();
    let sql = format!(
        "SELECT {} FROM (VALUES {}) AS t({})",
        select.join(", "),
        values.trim(),
        names.join(", ")
    );
    let ctx = SessionContext::new();
    let batches = ctx
        .sql(&sql)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect()
        .await
        .expect("values");
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat");
    let n = batch.num_rows();
    let mut fields = vec![
        Field::new("_run_id", DataType::Utf8, true),
        Field::new(
            "_extracted_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id; n])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![extracted_at.timestamp_micros(); n])
                .with_timezone("UTC"),
        ),
    ];
    for (i, (name, t)) in cols.iter().enumerate() {
        let target = arrow_type(t);
        columns.push(cast(batch.column(i), &target).expect("cast to the raw type"));
        fields.push(Field::new(name, target, true));
    }
    let ids = cast(batch.column(0), &DataType::Utf8).expect("id as text");
    let ids = ids.as_any().downcast_ref::<StringArray>().expect("utf8");
    let raw: StringArray = (0..n)
        .map(|r| Some(format!("{{\"{}\":\"{}\"}}", names[0], ids.value(r))))
        .collect();
    fields.push(Field::new("_raw", DataType::Utf8, true));
    columns.push(Arc::new(raw));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("raw batch")
}

/// How a landing writes its raw tables.
#[derive(Clone, Copy)]
pub(crate) enum Landing {
    /// Append (incremental streams).
    Append,
    /// Replace the table.
    Replace,
}

/// Lands every file of `dir` as `raw.<file stem>`.
pub(crate) async fn land(lake: &Lake, dir: &Path, run_id: &str, at: &str, how: Landing) {
    let at: DateTime<Utc> = at.parse().expect("landing time");
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for f in files {
        let stem = f.file_stem().and_then(|s| s.to_str()).expect("stem");
        let batch = raw_batch(&f, run_id, at).await;
        let t = TableName::new("raw", stem);
        match how {
            Landing::Append => lake.append(&t, vec![batch]).await.expect("append raw"),
            Landing::Replace => lake
                .overwrite(&t, vec![batch])
                .await
                .expect("overwrite raw"),
        };
    }
}

/// Builds every model of the repository into `lake` (the report may hold failed models).
pub(crate) async fn try_build(
    lake: &Lake,
    run_id: &str,
    as_of: &str,
    history_start: &str,
) -> BuildReport {
    let project = Project::load(&repo_root())
        .unwrap_or_else(|e| panic!("the repository's project loads: {e}"));
    let opts = BuildOptions::new(run_id, date(as_of), date(history_start));
    pslake_transform::build(&project, lake, &opts, &NoopReporter)
        .await
        .unwrap_or_else(|e| panic!("build runs: {e}"))
}

/// Builds every model of the repository into `lake`, and insists that it succeeded.
pub(crate) async fn build(
    lake: &Lake,
    run_id: &str,
    as_of: &str,
    history_start: &str,
) -> BuildReport {
    let report = try_build(lake, run_id, as_of, history_start).await;
    assert!(report.is_success(), "build failed:\n{report}");
    report
}

/// Query result as sorted `a|b|c` lines.
pub(crate) async fn rows(lake: &Lake, sql: &str) -> Vec<String> {
    let batches = lake
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    crate::lines(&batches)
}

/// The firm of `tests/data/formulas/`, landed once and built once with as_of 2026-03-18 and
/// history_start 2026-01-01; shared by the tests that only read it.
pub(crate) struct Firm {
    _dir: tempfile::TempDir,
    pub(crate) lake: Lake,
}

static FIRM: tokio::sync::OnceCell<Firm> = tokio::sync::OnceCell::const_new();

pub(crate) const AS_OF: &str = "2026-03-18";
pub(crate) const HISTORY_START: &str = "2026-01-01";

/// A fresh lake holding the firm's first landing (not built).
pub(crate) async fn landed_firm() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::parse(dir.path().join("lake").to_str().expect("utf8")).expect("lake");
    land(
        &lake,
        &data_dir("formulas"),
        "land-1",
        "2026-03-18T06:00:00Z",
        Landing::Append,
    )
    .await;
    (dir, lake)
}

/// The firm with the raw tables of `extra` appended in a second landing (`run_id`, an hour after
/// the first), built once with as_of 2026-03-18.
pub(crate) async fn built_firm_with(extra: &Path, run_id: &str) -> (tempfile::TempDir, Lake) {
    let (dir, lake) = landed_firm().await;
    land(
        &lake,
        extra,
        run_id,
        "2026-03-18T07:00:00Z",
        Landing::Append,
    )
    .await;
    build(&lake, "build-1", AS_OF, HISTORY_START).await;
    (dir, lake)
}

/// The shared, built firm.
pub(crate) async fn firm() -> &'static Firm {
    FIRM.get_or_init(|| async {
        let (dir, lake) = landed_firm().await;
        build(&lake, "build-1", AS_OF, HISTORY_START).await;
        Firm { _dir: dir, lake }
    })
    .await
}
