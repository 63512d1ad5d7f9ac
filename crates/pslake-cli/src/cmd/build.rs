//! `pslake build`, `test`, `plan`, `query`, `show`: the model engine (`pslake-transform`) from the
//! command line. Results (reports, query output) go to stdout; logs to stderr.
//!
//! `as_of` and `history_start`, each on its own, come from the first of:
//! 1. the command line: `--as-of`/`--history-start`, else the `manifest.json` of `--fixtures DIR`;
//! 2. the pipeline (`--pipeline`, else the only pipeline file in `<project>/pipelines/`), with the
//!    manifest it names (the demo's names `fixtures/manifest.json`);
//! 3. the last build recorded in the lake's `_pslake.runs` (so `build` or `test` after
//!    `pslake run --fixtures DIR` uses the run's dates);
//! 4. today, for `as_of` (for `plan`, which needs them only for types, for both).
//!
//! `test`, `plan` and `query` read an existing lake: a local lake folder that does not exist is
//! a usage error naming it (`run`, `extract` and `build` create the lake).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use pslake_lake::Lake;
use pslake_transform::{BuildOptions, ModelStatus, Project, Reporter};

use super::UsageError;

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("invalid date '{s}' (YYYY-MM-DD): {e}"))
}

/// Flags shared by `build`, `test` and `plan`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProjectArgs {
    /// The project directory holding sql/ and models/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The lake: a folder or an object-store URL
    #[arg(long, default_value = "./lake")]
    lake: String,
    /// dbt-style selection: `model`, `+model`, `2+model`, `model+`, `model+1`, `@model`, `tag:x`,
    /// `folder:x`, `path:sql/x`, globs (`stg_*`, `staging.*`); space = union, comma = intersection
    #[arg(long, short = 's')]
    select: Option<String>,
    /// Models to leave out of the selection, same grammar
    #[arg(long)]
    exclude: Option<String>,
    /// The run's as-of date (YYYY-MM-DD); default: the pipeline's, else the last build in the lake, else today
    #[arg(long, value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// The first reported date (YYYY-MM-DD); default: the pipeline's, else the last build in the lake
    #[arg(long, value_parser = parse_date)]
    history_start: Option<NaiveDate>,
    /// A fixtures directory whose manifest.json gives as_of and history_start
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The pipeline giving as_of and history_start (default: the only file in <project>/pipelines)
    #[arg(long)]
    pipeline: Option<PathBuf>,
}

/// Arguments of `pslake build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    lock: crate::cmd::writer::LockArgs,
    #[command(flatten)]
    common: ProjectArgs,
    /// Rebuild incremental models from scratch (snapshots keep their history)
    #[arg(long)]
    full_refresh: bool,
    /// How many independent models may run at once (default: the number of CPUs)
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    engine: crate::cmd::ballista::EngineArgs,
}

/// Arguments of `pslake test`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    #[command(flatten)]
    common: ProjectArgs,
}

/// Arguments of `pslake plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    common: ProjectArgs,
}

/// Output format of `pslake query` and `pslake show`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// An ASCII table
    Table,
    /// CSV with a header row
    Csv,
    /// A JSON array of objects
    Json,
}

/// Flags shared by `query` and `show`: where to read, and the run context models see.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReadArgs {
    /// The project directory holding sql/ and models/ (its views, seeds and unpublished models
    /// are visible; without a sql/ folder, only the lake)
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The lake: a folder or an object-store URL
    #[arg(long, default_value = "./lake")]
    lake: String,
    /// pslake.run_context.as_of (YYYY-MM-DD); default: the fixtures manifest
    #[arg(long, value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// pslake.run_context.history_start (YYYY-MM-DD); default: the fixtures manifest
    #[arg(long, value_parser = parse_date)]
    history_start: Option<NaiveDate>,
    /// A fixtures directory whose manifest.json gives as_of and history_start
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Arguments of `pslake query`.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// The SQL; tables are `schema.name` (canonical.bookings, staging.stg_x, seeds.x,
    /// pslake.run_context, _pslake.runs); `SHOW TABLES` and `information_schema` list them
    sql: String,
    #[command(flatten)]
    read: ReadArgs,
}

/// Arguments of `pslake show`.
#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The model (`name` or `schema.name`), computed with its unpublished parents, not published
    model: String,
    /// How many rows to print
    #[arg(long, short = 'n', default_value_t = 10)]
    limit: usize,
    #[command(flatten)]
    read: ReadArgs,
}

fn read_manifest_dates(dir: &Path) -> anyhow::Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let path = dir.join("manifest.json");
    let text = fs_err::read_to_string(&path).map_err(|e| UsageError(e.to_string()))?;
    let m: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let date = |key: &str| -> anyhow::Result<Option<NaiveDate>> {
        match m.get(key).and_then(|v| v.as_str()) {
            None => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .map_err(|e| UsageError(format!("{}: {key}: {e}", path.display())).into()),
        }
    };
    Ok((date("as_of")?, date("history_start")?))
}

/// `--pipeline`, else the only pipeline file in `<project>/pipelines/` (none when there are
/// several or none).
fn pipeline_file(args: &ProjectArgs) -> anyhow::Result<Option<PathBuf>> {
    if let Some(p) = &args.pipeline {
        if !p.is_file() {
            return Err(UsageError(format!("pipeline {} does not exist", p.display())).into());
        }
        return Ok(Some(p.clone()));
    }
    let dir = args.project.join("pipelines");
    let files: Vec<PathBuf> = match fs_err::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(match files.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// The run's `(as_of, history_start)`, each from the first source that has it (module docs).
/// `planning`: default both to today rather than fail.
async fn run_dates(
    args: &ProjectArgs,
    lake: &Lake,
    planning: bool,
) -> anyhow::Result<(NaiveDate, NaiveDate)> {
    let (mut as_of, mut history_start) = (args.as_of, args.history_start);
    let complete = |a: &Option<NaiveDate>, h: &Option<NaiveDate>| a.is_some() && h.is_some();
    if let Some(dir) = &args.fixtures
        && !complete(&as_of, &history_start)
    {
        let (a, h) = read_manifest_dates(dir)?;
        as_of = as_of.or(a);
        history_start = history_start.or(h);
    }
    let mut from_pipeline = None;
    if !complete(&as_of, &history_start)
        && let Some(path) = pipeline_file(args)?
    {
        let pipeline = super::source::load(&path, &HashMap::new())?;
        if (as_of.is_none() && pipeline.as_of.is_some())
            || (history_start.is_none() && pipeline.history_start.is_some())
        {
            from_pipeline = Some(path);
        }
        as_of = as_of.or(pipeline.as_of);
        history_start = history_start.or(pipeline.history_start);
    }
    let last = if complete(&as_of, &history_start) && from_pipeline.is_none() {
        None
    } else {
        pslake_transform::last_run_dates(lake)
            .await
            .context("reading the last run's dates from _pslake.runs")?
    };
    if let Some(last) = last {
        // The pipeline wins, but a lake published with other dates (e.g. `pslake run --fixtures
        // DIR` on another firm) is worth a warning: pass --as-of to choose.
        if let Some(path) = &from_pipeline
            && (as_of.is_some_and(|a| a != last.as_of)
                || history_start.is_some_and(|h| h != last.history_start))
        {
            tracing::warn!(
                pipeline = %path.display(),
                as_of = %as_of.map(|d| d.to_string()).unwrap_or_default(),
                history_start = %history_start.map(|d| d.to_string()).unwrap_or_default(),
                last_as_of = %last.as_of,
                last_history_start = %last.history_start,
                "the pipeline's dates differ from those of the last build in the lake; pass --as-of and --history-start to choose"
            );
        }
        as_of = as_of.or(Some(last.as_of));
        history_start = history_start.or(Some(last.history_start));
    }
    let today = chrono::Utc::now().date_naive();
    let as_of = as_of.unwrap_or(today);
    match history_start {
        Some(h) => Ok((as_of, h)),
        None if planning => Ok((as_of, today)),
        None => Err(UsageError(
            "no history_start: pass --history-start, set history_start (or a manifest) in the pipeline, or build once with it so the lake records it"
                .into(),
        )
        .into()),
    }
}

pub(crate) fn load_project(dir: &Path) -> anyhow::Result<Project> {
    if !dir.join("sql").is_dir() {
        let shown = if dir.as_os_str().is_empty() || dir == Path::new(".") {
            std::env::current_dir().unwrap_or_else(|_| dir.to_path_buf())
        } else {
            dir.to_path_buf()
        };
        return Err(UsageError(format!(
            "{} is not a pslake project (no sql/ folder): run from the project folder (the repository root for the demo) or pass --project DIR",
            shown.display()
        ))
        .into());
    }
    Project::load(dir).map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
}

fn open_lake(location: &str) -> anyhow::Result<Lake> {
    Lake::parse(location).map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
}

/// A lake that must exist already (commands that only read it): a local folder that does not
/// exist is a usage error naming it. Object-store lakes are not checked here.
pub(crate) fn open_existing_lake(location: &str) -> anyhow::Result<Lake> {
    let lake = open_lake(location)?;
    if let Some(path) = lake.local_path()
        && !path.is_dir()
    {
        return Err(UsageError(format!(
            "lake {location} does not exist ({}); `pslake run`, `extract` or `build` create it",
            path.display()
        ))
        .into());
    }
    Ok(lake)
}

async fn options(
    args: &ProjectArgs,
    lake: &Lake,
    run_prefix: &str,
    planning: bool,
) -> anyhow::Result<BuildOptions> {
    let (as_of, history_start) = run_dates(args, lake, planning).await?;
    let run_id = format!(
        "{run_prefix}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    let mut opts = BuildOptions::new(run_id, as_of, history_start);
    opts.select = args.select.clone();
    opts.exclude = args.exclude.clone();
    Ok(opts)
}

/// Maps engine errors: project and selection problems are the user's (exit 2).
fn engine_error(e: pslake_transform::Error) -> anyhow::Error {
    match e {
        pslake_transform::Error::Project(_) | pslake_transform::Error::Select { .. } => {
            anyhow::Error::new(UsageError(e.to_string()))
        }
        other => anyhow::Error::new(other),
    }
}

fn write_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("writing to stdout")
}

/// Logs each model as it finishes.
struct LogReporter;

impl Reporter for LogReporter {
    fn on_model_start(&self, model: &str) {
        tracing::debug!(model, "model started");
    }
    fn on_model_done(&self, model: &str, rows: u64, elapsed: Duration, status: &ModelStatus) {
        let ms = elapsed.as_millis() as u64;
        match status {
            ModelStatus::Ok => tracing::info!(model, rows, ms, "model ok"),
            ModelStatus::Failed(error) => tracing::error!(model, ms, %error, "model failed"),
            ModelStatus::Skipped(reason) => tracing::warn!(model, %reason, "model skipped"),
        }
    }
}

pub(crate) async fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.common.project)?;
    let lake = open_lake(&args.common.lake)?;
    crate::cmd::writer::locked(&lake, "build", &args.lock, async {
        let mut opts = options(&args.common, &lake, "build", false).await?;
        opts.full_refresh = args.full_refresh;
        opts.cluster = args.engine.cluster()?;
        if let Some(n) = args.threads {
            opts.concurrency = n.max(1);
        }
        let report = pslake_transform::build(&project, &lake, &opts, &LogReporter)
            .await
            .map_err(engine_error)?;
        write_out(&report.to_string())?;
        Ok(if report.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
    .await
}

pub(crate) async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.common.project)?;
    let lake = open_existing_lake(&args.common.lake)?;
    let opts = options(&args.common, &lake, "test", false).await?;
    let report = pslake_transform::test(&project, &lake, &opts, &LogReporter)
        .await
        .map_err(engine_error)?;
    write_out(&report.to_string())?;
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.common.project)?;
    let lake = open_existing_lake(&args.common.lake)?;
    // Planning needs dates only for pslake.run_context's types; today will do when none is given.
    let opts = options(&args.common, &lake, "plan", true).await?;
    let plan = pslake_transform::plan(&project, &lake, &opts)
        .await
        .map_err(engine_error)?;
    write_out(&plan.to_string())?;
    Ok(if plan.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

impl ReadArgs {
    fn project_args(&self) -> ProjectArgs {
        ProjectArgs {
            project: self.project.clone(),
            lake: self.lake.clone(),
            select: None,
            exclude: None,
            as_of: self.as_of,
            history_start: self.history_start,
            fixtures: self.fixtures.clone(),
            pipeline: None,
        }
    }
}

fn print_batches(batches: &[arrow::array::RecordBatch], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)
                .context("formatting the result")?;
            writeln!(out, "{table}").context("writing to stdout")?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b).context("writing CSV")?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&arrow::array::RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).context("writing JSON")?;
            w.finish().context("writing JSON")?;
            writeln!(out).context("writing to stdout")?;
        }
    }
    Ok(())
}

pub(crate) async fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let lake = open_existing_lake(&args.read.lake)?;
    // Without a sql/ folder (e.g. run outside the project), or with models that do not load,
    // the lake alone is queried.
    let project = if args.read.project.join("sql").is_dir() {
        match Project::load(&args.read.project) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(
                    problems = e.0.len(),
                    "the models do not load (see `pslake validate`): querying the lake only"
                );
                None
            }
        }
    } else {
        None
    };
    // The dates only fill pslake.run_context here: today when nothing gives them.
    let opts = options(&args.read.project_args(), &lake, "query", true).await?;
    let batches = pslake_transform::query(project.as_ref(), &lake, &opts, &args.sql)
        .await
        .map_err(engine_error)
        .context("query failed")?;
    print_batches(&batches, args.read.format)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.read.project)?;
    let lake = open_existing_lake(&args.read.lake)?;
    let opts = options(&args.read.project_args(), &lake, "show", false).await?;
    let preview = pslake_transform::show(&project, &lake, &opts, &args.model, args.limit)
        .await
        .map_err(engine_error)?;
    print_batches(&preview.batches, args.read.format)?;
    for p in &preview.problems {
        tracing::warn!("{p}");
    }
    Ok(if preview.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dates_come_from_flags_the_manifest_or_today() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"as_of":"2026-03-31","history_start":"2025-01-01","seed":1}"#,
        )
        .expect("write");
        let lake = open_lake(dir.path().join("lake").to_str().expect("utf8")).expect("lake");
        let mut args = ProjectArgs {
            project: dir.path().to_path_buf(),
            lake: "lake".into(),
            select: None,
            exclude: None,
            as_of: None,
            history_start: None,
            fixtures: Some(dir.path().to_path_buf()),
            pipeline: None,
        };
        let (a, h) = run_dates(&args, &lake, false).await.expect("dates");
        assert_eq!(
            (a.to_string(), h.to_string()),
            ("2026-03-31".into(), "2025-01-01".into())
        );
        args.as_of = Some(parse_date("2026-01-31").expect("date"));
        let (a, _) = run_dates(&args, &lake, false).await.expect("dates");
        assert_eq!(a.to_string(), "2026-01-31");
        // No manifest, no pipeline, no run in the lake: as_of is today, history_start is needed.
        args.fixtures = None;
        args.project = PathBuf::from("/nonexistent");
        args.as_of = None;
        args.history_start = Some(parse_date("2025-01-01").expect("date"));
        let (a, _) = run_dates(&args, &lake, false).await.expect("dates");
        assert_eq!(a, chrono::Utc::now().date_naive());
        args.history_start = None;
        assert!(run_dates(&args, &lake, false).await.is_err());
        assert!(
            run_dates(&args, &lake, true).await.is_ok(),
            "plan defaults both"
        );
    }

    #[test]
    fn a_missing_lake_is_named() {
        let err = open_existing_lake("/no/such/lake").expect_err("missing");
        assert!(err.to_string().contains("/no/such/lake"), "{err}");
        assert_eq!(super::super::exit_code_for(&err), 2);
    }
}
