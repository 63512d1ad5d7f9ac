//! `pslake run`: extract, land, build, test, publish.
//!
//! With no `--pipeline` it is the demo: the embedded sandbox serves `--fixtures` (default
//! `fixtures/`) on a free loopback port, `pipelines/demo.yml` points at it with the sandbox's
//! credentials, and the lake is `./lake`. A run whose extraction fails builds nothing, so every
//! published table stays at its previous version.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use pslake_extract::{ExtractOptions, StreamEnded, extract};
use pslake_lake::{Lake, TableName};
use pslake_transform::{BuildOptions, ModelStatus, Project, Reporter};

use super::UsageError;
use super::extract::write_extract_summary;
use super::source::Source;
use crate::progress::Progress;

/// Arguments of `pslake run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    lock: crate::cmd::writer::LockArgs,
    /// Pipeline file; without it, the demo pipeline runs against the embedded sandbox
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Lake location: a folder or an object-store URL (default: the pipeline's, demo `./lake`)
    #[arg(long)]
    lake: Option<String>,
    /// The run's as-of date, YYYY-MM-DD (default: the pipeline's, else the fixtures' manifest)
    #[arg(long, value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// Models to build, dbt selection grammar: `model`, `+model`, `2+model`, `model+`, `@model`,
    /// `tag:x`, globs (`stg_*`)
    #[arg(long)]
    select: Option<String>,
    /// Models to leave out, same grammar
    #[arg(long)]
    exclude: Option<String>,
    /// Ignore stored cursors and rebuild incremental models from scratch (snapshots keep their
    /// history)
    #[arg(long)]
    full_refresh: bool,
    /// Look for records deleted in the source now: the keys pass of every stream that declares
    /// `reconcile` runs, due or not
    #[arg(long)]
    reconcile: bool,
    /// Demo only: the fixture directory the embedded sandbox serves
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The project root holding pipelines/, sql/ and models/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    engine: crate::cmd::ballista::EngineArgs,
}

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("invalid date '{s}': expected YYYY-MM-DD"))
}

impl RunArgs {
    /// The arguments of one run of `pslake schedule`: the pipeline (`None`: the demo) as
    /// `pslake run` would take them, everything else at its default.
    pub(crate) fn scheduled(
        pipeline: Option<PathBuf>,
        lake: Option<String>,
        fixtures: Option<PathBuf>,
        project: PathBuf,
        lock: crate::cmd::writer::LockArgs,
    ) -> Self {
        Self {
            lock,
            pipeline,
            lake,
            as_of: None,
            select: None,
            exclude: None,
            full_refresh: false,
            reconcile: false,
            fixtures,
            project,
            engine: Default::default(),
        }
    }

    /// The project root.
    pub(crate) fn project(&self) -> &Path {
        &self.project
    }

    /// Opens the run's source: its pipeline, or the demo with its embedded sandbox.
    pub(crate) async fn source(&self) -> anyhow::Result<Source> {
        Source::open(
            self.pipeline.as_deref(),
            self.fixtures.as_deref(),
            &self.project,
        )
        .await
    }

    /// The run's lake.
    pub(crate) fn lake(&self, source: &Source) -> anyhow::Result<Lake> {
        source.lake(self.lake.as_deref())
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.project)?;
    let mut source = args.source().await?;
    let lake = args.lake(&source)?;
    crate::cmd::writer::locked(
        &lake,
        "run",
        &args.lock,
        run_locked(&args, &project, &mut source, &lake),
    )
    .await
}

/// The project (`sql/`, `models/`, `pslake.yml`) at `root`; its problems, or no project there,
/// are a usage error (see [`super::build::load_project`]).
pub(crate) fn load_project(root: &Path) -> anyhow::Result<Project> {
    super::build::load_project(root)
}

/// What `pslake run` does once it holds the lake's lock: extract, build, test, publish, report
/// on stdout. Each run of `pslake schedule` is this too.
pub(crate) async fn run_locked(
    args: &RunArgs,
    project: &Project,
    source: &mut Source,
    lake: &Lake,
) -> anyhow::Result<ExitCode> {
    let missing = |what: &str| {
        UsageError(format!(
            "no {what}: set it in the pipeline, pass --as-of, or name a manifest"
        ))
    };
    let as_of = args
        .as_of
        .or(source.pipeline.as_of)
        .or(source.manifest.as_ref().map(|m| m.as_of))
        .ok_or_else(|| missing("as_of"))?;
    let history_start = source
        .pipeline
        .history_start
        .or(source.manifest.as_ref().map(|m| m.history_start))
        .ok_or_else(|| missing("history_start"))?;
    let cluster = args.engine.cluster()?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let progress = Progress::new();

    // The build runs beside the extraction: each model starts once the raw tables it reads
    // have landed, so the models over the fast sources run while a rate-limited one still
    // pages; the release waits for the whole extraction and a failed one publishes nothing.
    let (landed, landing) =
        pslake_transform::landing(pslake_extract::raw_schemas(&source.pipeline));
    let landed = std::sync::Arc::new(landed);
    let mut options = ExtractOptions::new();
    options.full_refresh = args.full_refresh;
    options.reconcile = args.reconcile;
    options.run_id = Some(run_id.clone());
    options.secrets = source.secrets.clone();
    let lines = progress.streams(format!(
        "extracting {} systems",
        source.pipeline.systems.len()
    ));
    options.progress = Some(lines.callback());
    options.on_stream_end = Some(StreamEnded(std::sync::Arc::new({
        let landed = landed.clone();
        move |table: &str, ended: Result<(), &str>| match (TableName::parse(table), ended) {
            (Some(t), Ok(())) => landed.landed(t),
            (_, Err(e)) => landed.failed(format!("{table}: {e}")),
            (None, Ok(())) => landed.failed(format!("{table}: not a table name")),
        }
    })));

    let mut opts = BuildOptions::new(run_id.clone(), as_of, history_start);
    opts.select = args.select.clone();
    opts.exclude = args.exclude.clone();
    opts.full_refresh = args.full_refresh;
    opts.pipeline = source.pipeline.name.clone();
    opts.cluster = cluster;
    opts.landing = Some(landing);
    let reporter = lines.model_reporter(project.models().len());

    let extraction = async {
        let report = extract(&source.pipeline, lake, &options).await;
        match &report {
            Ok(r) if r.is_success() => pslake_lake::fault_point("run:after_extract"),
            Ok(_) => {}
            Err(e) => landed.failed(format!("extraction: {e}")),
        }
        landed.finished();
        source.close().await;
        report
    };
    let build = pslake_transform::build(project, lake, &opts, &reporter);
    let (report, build) = tokio::join!(extraction, build);
    reporter.finish();
    lines.finish();
    let report = report.context("extract failed")?;
    let mut out = std::io::stdout().lock();
    write_extract_summary(&mut out, &report)?;
    if !report.is_success() {
        writeln!(
            out,
            "\nextraction failed; nothing was published, every published table keeps its previous version"
        )?;
        return Ok(ExitCode::from(1));
    }
    let build = build.context("build failed")?;
    writeln!(out, "\n{build}")?;
    writeln!(out, "\nrun {run_id}: as of {as_of}, lake {}", lake.root())?;
    Ok(if build.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Progress for the transform stage: one bar over the models.
pub(crate) struct ModelProgress {
    bar: indicatif::ProgressBar,
}

impl ModelProgress {
    pub(crate) fn new(bar: indicatif::ProgressBar) -> Self {
        Self { bar }
    }
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for ModelProgress {
    fn on_model_start(&self, model: &str) {
        self.bar.set_message(model.to_string());
    }
    fn on_model_done(&self, model: &str, _rows: u64, _elapsed: Duration, status: &ModelStatus) {
        if *status != ModelStatus::Ok {
            self.bar.println(format!("{model}: {}", status.as_str()));
        }
        self.bar.inc(1);
    }
}
