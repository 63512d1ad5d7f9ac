//! `pslake extract` and `pslake validate` (owned by the extract work).
//!
//! `extract` lands the selected streams of a pipeline in the lake's raw tables and prints one
//! line per stream (received = landed + rejected); it exits 1 when any stream failed.
//! `validate` checks pipeline files, the SQL models and their YAML without network access or a
//! lake (every model is planned against the raw tables the pipelines declare) and lists every
//! problem with its file, line and column; it exits 2 when there are problems.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pslake_extract::{ExtractOptions, ExtractReport, StreamStatus, extract, unknown_selectors};

use super::UsageError;
use super::source::Source;

/// Arguments of `pslake extract`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExtractArgs {
    #[command(flatten)]
    lock: crate::cmd::writer::LockArgs,
    /// Pipeline file; without it, the demo pipeline runs against the embedded sandbox
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Lake location: a folder or an object-store URL (default: the pipeline's, demo `./lake`)
    #[arg(long)]
    lake: Option<String>,
    /// Streams to extract: `system` or `system.stream`, comma-separated (default: all)
    #[arg(long, value_delimiter = ',')]
    select: Vec<String>,
    /// Ignore stored cursors and the list of loaded files
    #[arg(long)]
    full_refresh: bool,
    /// Look for records deleted in the source now: the keys pass of every stream that declares
    /// `reconcile` runs, due or not
    #[arg(long)]
    reconcile: bool,
    /// Demo only: the fixture directory the embedded sandbox serves
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The project root holding pipelines/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Print the report as JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Arguments of `pslake validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// A pipeline file or a folder of them (default: <project>/pipelines)
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// The project root
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub(crate) async fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let mut source = Source::open(
        args.pipeline.as_deref(),
        args.fixtures.as_deref(),
        &args.project,
    )
    .await?;
    let mut options = ExtractOptions::new();
    options.full_refresh = args.full_refresh;
    options.reconcile = args.reconcile;
    options.select = args.select.clone();
    options.secrets = source.secrets.clone();
    let unknown = unknown_selectors(&source.pipeline, &options.select);
    if !unknown.is_empty() {
        return Err(UsageError(format!(
            "--select {} matches no stream of {}",
            unknown.join(","),
            source.pipeline.path.display()
        ))
        .into());
    }
    let lake = source.lake(args.lake.as_deref())?;
    let lines = crate::progress::Progress::new().streams(format!(
        "extracting {} systems",
        source.pipeline.systems.len()
    ));
    options.progress = Some(lines.callback());
    crate::cmd::writer::locked(&lake, "extract", &args.lock, async {
        let report = extract(&source.pipeline, &lake, &options).await;
        lines.finish();
        let report = report?;
        source.close().await;
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            writeln!(
                out,
                "run {} ({} → {})",
                report.run_id,
                source.pipeline.name,
                lake.root()
            )?;
            write_extract_summary(&mut out, &report)?;
        }
        if report.is_success() {
            Ok(ExitCode::SUCCESS)
        } else {
            let failed: Vec<String> = report
                .failed()
                .map(|s| format!("{}.{}", s.system, s.stream))
                .collect();
            tracing::error!(streams = %failed.join(", "), "extract failed");
            Ok(ExitCode::from(1))
        }
    })
    .await
}

/// One line per stream (received = landed + unchanged + rejected), failures with their URL and error, and
/// the totals.
pub(crate) fn write_extract_summary(
    out: &mut impl Write,
    report: &ExtractReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<34} {:>9} {:>9} {:>9} {:>9}  status",
        "stream", "received", "landed", "unchanged", "rejected"
    )?;
    for s in &report.streams {
        let status = match &s.status {
            StreamStatus::Succeeded => "ok".to_string(),
            StreamStatus::Failed {
                url: Some(url),
                error,
            } => format!("FAILED: {error} ({url})"),
            StreamStatus::Failed { url: None, error } => format!("FAILED: {error}"),
        };
        writeln!(
            out,
            "{:<34} {:>9} {:>9} {:>9} {:>9}  {status}",
            s.table, s.received, s.landed, s.unchanged, s.rejected
        )?;
        if s.reconciled {
            writeln!(
                out,
                "{:<34} reconciled: {} keys in the source, {} marked deleted, {} live again",
                "", s.source_keys, s.deleted, s.revived
            )?;
        }
        if !s.new_fields.is_empty() {
            writeln!(
                out,
                "{:<34} new fields kept in _raw: {}",
                "",
                s.new_fields.join(", ")
            )?;
        }
    }
    let (r, l, u, j) = report.streams.iter().fold((0, 0, 0, 0), |(r, l, u, j), s| {
        (
            r + s.received,
            l + s.landed,
            u + s.unchanged,
            j + s.rejected,
        )
    });
    writeln!(
        out,
        "{} streams: {r} received = {l} landed + {u} unchanged + {j} rejected",
        report.streams.len()
    )
}

pub(crate) async fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = args
        .pipeline
        .clone()
        .unwrap_or_else(|| args.project.join("pipelines"));
    if !path.exists() {
        return Err(UsageError(format!("{} does not exist", path.display())).into());
    }
    let mut problems: Vec<String> = pslake_core::pipeline::validate_path(&path)
        .iter()
        .map(ToString::to_string)
        .collect();
    // The SQL models and their metadata: parse, dependency graph, YAML (no lake, no network),
    // then every model planned against the raw tables the pipelines declare.
    match pslake_transform::Project::load(&args.project) {
        Err(errors) => problems.extend(errors.0.iter().map(ToString::to_string)),
        Ok(project) => {
            let raw: Vec<_> = pipeline_files(&path)
                .iter()
                .filter_map(|f| pslake_core::pipeline::load_pipeline(f).ok())
                .flat_map(|p| pslake_extract::raw_schemas(&p))
                .collect();
            problems.extend(
                pslake_transform::validate_plans(&project, &raw)
                    .await
                    .iter()
                    .map(ToString::to_string),
            );
        }
    }
    let mut out = std::io::stdout().lock();
    if problems.is_empty() {
        writeln!(out, "{}, sql/ and models/: ok", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Configuration is invalid!")?;
    for p in &problems {
        writeln!(out, "  • {p}")?;
    }
    Ok(ExitCode::from(2))
}

/// `path` itself, or the `*.yml`/`*.yaml` files of the folder `path`, sorted.
pub(crate) fn pipeline_files(path: &std::path::Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = fs_err::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
