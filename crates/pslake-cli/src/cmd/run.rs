//! `pslake run`: extract, land, build, test, publish.
//!
//! With no `--pipeline` it is the demo: the embedded sandbox serves `--fixtures` (default
//! `fixtures/`) on a free loopback port, `pipelines/demo.yml` points at it with the sandbox's
//! credentials, and the lake is `./lake`. A run whose extraction fails builds nothing, so every
//! published table stays at its previous version.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use pslake_core::Sensitive;
use pslake_core::pipeline::{Pipeline, load_pipeline_with};
use pslake_extract::{ExtractOptions, ExtractReport, StreamStatus, extract};
use pslake_lake::Lake;
use pslake_sandbox::layout::{MANIFEST_FILE, Manifest};
use pslake_sandbox::server::{Credentials, RunningSandbox, Sandbox, SandboxConfig};
use pslake_transform::{BuildOptions, BuildReport, ModelStatus, Project, Reporter};

use super::UsageError;
use crate::progress::Progress;

/// Arguments of `pslake run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Pipeline file; without it, the demo pipeline runs against the embedded sandbox
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Lake location: a folder or an object-store URL (default: the pipeline's, demo `./lake`)
    #[arg(long)]
    lake: Option<String>,
    /// The run's as-of date, YYYY-MM-DD (default: the pipeline's, else the fixtures' manifest)
    #[arg(long, value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// Models to build, dbt selection grammar: `model`, `+model`, `model+`, `tag:x`
    #[arg(long)]
    select: Option<String>,
    /// Ignore stored cursors and rebuild incremental models from scratch
    #[arg(long)]
    full_refresh: bool,
    /// Demo only: the fixture directory the embedded sandbox serves
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The project root holding pipelines/, sql/ and models/
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("invalid date '{s}': expected YYYY-MM-DD"))
}

/// The sandbox's credentials as the secrets `pipelines/demo.yml` reads.
pub(crate) fn demo_secrets(c: &Credentials) -> HashMap<String, Sensitive<String>> {
    c.demo_secrets()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string())))
        .collect()
}

fn read_manifest(fixtures: &Path) -> anyhow::Result<Manifest> {
    let path = fixtures.join(MANIFEST_FILE);
    let text = fs_err::read_to_string(&path)
        .map_err(|e| UsageError(format!("cannot read the fixtures' manifest: {e}")))?;
    serde_json::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// Loads a pipeline, turning its problems into one usage error (exit 2) listing them all.
pub(crate) fn load(path: &Path, vars: &HashMap<String, String>) -> anyhow::Result<Pipeline> {
    load_pipeline_with(path, vars).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  • {p}")).collect();
        UsageError(format!(
            "pipeline {} is invalid:\n{}",
            path.display(),
            list.join("\n")
        ))
        .into()
    })
}

/// Where the run's dates and sources come from.
struct Setup {
    pipeline: Pipeline,
    lake: Lake,
    as_of: NaiveDate,
    history_start: NaiveDate,
    secrets: HashMap<String, Sensitive<String>>,
    sandbox: Option<RunningSandbox>,
}

async fn setup(args: &RunArgs) -> anyhow::Result<Setup> {
    let (pipeline, manifest, sandbox, secrets) = match &args.pipeline {
        Some(path) => {
            let pipeline = load(path, &HashMap::new())?;
            let manifest = match &pipeline.manifest {
                Some(m) => Some(read_manifest(m.parent().unwrap_or(Path::new(".")))?),
                None => None,
            };
            (pipeline, manifest, None, HashMap::new())
        }
        None => {
            let fixtures = args
                .fixtures
                .clone()
                .unwrap_or_else(|| args.project.join("fixtures"));
            let fixtures = fixtures.canonicalize().map_err(|e| {
                UsageError(format!("fixtures directory {}: {e}", fixtures.display()))
            })?;
            let manifest = read_manifest(&fixtures)?;
            let config = SandboxConfig::new(&fixtures);
            let secrets = demo_secrets(&config.credentials);
            let sandbox = Sandbox::start(config)
                .await
                .map_err(|e| UsageError(format!("cannot start the embedded sandbox: {e}")))?;
            let vars = HashMap::from([
                ("PSLAKE_SANDBOX_URL".to_string(), sandbox.base_url()),
                (
                    "PSLAKE_FIXTURES".to_string(),
                    fixtures.display().to_string(),
                ),
            ]);
            let pipeline = load(&args.project.join("pipelines/demo.yml"), &vars)?;
            (pipeline, Some(manifest), Some(sandbox), secrets)
        }
    };
    let location = match (&args.lake, &args.pipeline) {
        (Some(l), _) => l.clone(),
        (None, Some(_)) => pipeline.lake.clone(),
        (None, None) => "lake".to_string(),
    };
    let lake = Lake::parse(&location).map_err(|e| UsageError(e.to_string()))?;
    let missing = |what: &str| {
        UsageError(format!(
            "no {what}: set it in the pipeline, pass --as-of, or name a manifest"
        ))
    };
    let as_of = args
        .as_of
        .or(pipeline.as_of)
        .or(manifest.as_ref().map(|m| m.as_of))
        .ok_or_else(|| missing("as_of"))?;
    let history_start = pipeline
        .history_start
        .or(manifest.as_ref().map(|m| m.history_start))
        .ok_or_else(|| missing("history_start"))?;
    Ok(Setup {
        pipeline,
        lake,
        as_of,
        history_start,
        secrets,
        sandbox,
    })
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&args.project).map_err(|e| UsageError(format!("{e}")))?;
    let setup = setup(&args).await?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let progress = Progress::new();

    let mut options = ExtractOptions::new();
    options.full_refresh = args.full_refresh;
    options.run_id = Some(run_id.clone());
    options.secrets = setup.secrets.clone();
    let spinner = progress.spinner(format!(
        "extracting {} systems",
        setup.pipeline.systems.len()
    ));
    let report = extract(&setup.pipeline, &setup.lake, &options)
        .await
        .context("extract failed")?;
    spinner.finish_and_clear();
    if let Some(sandbox) = setup.sandbox {
        sandbox.shutdown().await;
    }
    let mut out = std::io::stdout().lock();
    write_extract_summary(&mut out, &report)?;
    if !report.is_success() {
        writeln!(
            out,
            "\nextraction failed; nothing was built, every published table keeps its previous version"
        )?;
        for s in report.failed() {
            if let StreamStatus::Failed { url, error } = &s.status {
                writeln!(
                    out,
                    "error: stream {}.{} failed: {error}{}",
                    s.system,
                    s.stream,
                    url.as_ref().map(|u| format!(" ({u})")).unwrap_or_default()
                )?;
            }
        }
        return Ok(ExitCode::from(1));
    }
    drop(out);

    let mut opts = BuildOptions::new(run_id.clone(), setup.as_of, setup.history_start);
    opts.select = args.select.clone();
    opts.full_refresh = args.full_refresh;
    opts.pipeline = setup.pipeline.name.clone();
    let reporter = progress.model_reporter(project.models().len());
    let build = pslake_transform::build(&project, &setup.lake, &opts, &reporter)
        .await
        .context("build failed")?;
    reporter.finish();
    let mut out = std::io::stdout().lock();
    write_build_summary(&mut out, &build)?;
    writeln!(
        out,
        "\nrun {run_id}: as of {}, lake {}",
        setup.as_of,
        setup.lake.root()
    )?;
    Ok(if build.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn write_extract_summary(
    out: &mut impl Write,
    report: &ExtractReport,
) -> std::io::Result<()> {
    let width = report
        .streams
        .iter()
        .map(|s| s.system.len() + s.stream.len() + 1)
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}  {:>9}  status",
        "stream", "received", "landed", "rejected"
    )?;
    for s in &report.streams {
        let status = match &s.status {
            StreamStatus::Succeeded => "ok",
            StreamStatus::Failed { .. } => "FAILED",
        };
        writeln!(
            out,
            "{:<width$}  {:>9}  {:>9}  {:>9}  {status}",
            format!("{}.{}", s.system, s.stream),
            s.received,
            s.landed,
            s.rejected
        )?;
    }
    let (r, l, j) = report.streams.iter().fold((0, 0, 0), |(r, l, j), s| {
        (r + s.received, l + s.landed, j + s.rejected)
    });
    writeln!(
        out,
        "{} streams: {r} received = {l} landed + {j} rejected",
        report.streams.len()
    )
}

pub(crate) fn write_build_summary(
    out: &mut impl Write,
    report: &BuildReport,
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{report}")
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
