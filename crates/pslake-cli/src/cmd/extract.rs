//! `pslake extract` and `pslake validate` (owned by the extract work).
//!
//! `extract` lands the selected streams of a pipeline in the lake's raw tables and prints one
//! line per stream (received = landed + rejected); it exits 1 when any stream failed.
//! `validate` checks pipeline files without network access and lists every problem with its
//! file and line; it exits 2 when there are problems.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pslake_core::Sensitive;
use pslake_extract::{ExtractOptions, StreamStatus, extract, unknown_selectors};
use pslake_lake::Lake;
use pslake_sandbox::server::{Credentials, Sandbox, SandboxConfig};

use super::UsageError;

/// Arguments of `pslake extract`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExtractArgs {
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

fn demo_secrets(c: &Credentials) -> HashMap<String, Sensitive<String>> {
    [
        ("SALESFORCE_CLIENT_ID", &c.salesforce_client_id),
        ("SALESFORCE_CLIENT_SECRET", &c.salesforce_client_secret),
        ("HUBSPOT_TOKEN", &c.hubspot_token),
        ("NETSUITE_TOKEN", &c.netsuite_token),
        ("KANTATA_TOKEN", &c.kantata_token),
        ("WORKDAY_USER", &c.workday_user),
        ("WORKDAY_PASSWORD", &c.workday_password),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Sensitive::new(v.clone())))
    .collect()
}

pub(crate) async fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let mut options = ExtractOptions::new();
    options.full_refresh = args.full_refresh;
    options.select = args.select.clone();
    let (pipeline, sandbox) = match &args.pipeline {
        Some(path) => (super::run::load(path, &HashMap::new())?, None),
        None => {
            let fixtures = args
                .fixtures
                .clone()
                .unwrap_or_else(|| args.project.join("fixtures"));
            let fixtures = fixtures.canonicalize().map_err(|e| {
                UsageError(format!("fixtures directory {}: {e}", fixtures.display()))
            })?;
            let config = SandboxConfig::new(&fixtures);
            options.secrets = demo_secrets(&config.credentials);
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
            (
                super::run::load(&args.project.join("pipelines/demo.yml"), &vars)?,
                Some(sandbox),
            )
        }
    };
    let unknown = unknown_selectors(&pipeline, &options.select);
    if !unknown.is_empty() {
        return Err(UsageError(format!(
            "--select {} matches no stream of {}",
            unknown.join(","),
            pipeline.path.display()
        ))
        .into());
    }
    let location = match (&args.lake, &args.pipeline) {
        (Some(l), _) => l.clone(),
        (None, Some(_)) => pipeline.lake.clone(),
        (None, None) => "lake".to_string(),
    };
    let lake = Lake::parse(&location).map_err(|e| UsageError(e.to_string()))?;
    let report = extract(&pipeline, &lake, &options).await?;
    if let Some(s) = sandbox {
        s.shutdown().await;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "run {} ({} → {})",
            report.run_id,
            pipeline.name,
            lake.root()
        )?;
        writeln!(
            out,
            "{:<34} {:>9} {:>9} {:>9}  status",
            "stream", "received", "landed", "rejected"
        )?;
        for s in &report.streams {
            let status = match &s.status {
                StreamStatus::Succeeded => "ok".to_string(),
                StreamStatus::Failed { error, .. } => format!("FAILED: {error}"),
            };
            writeln!(
                out,
                "{:<34} {:>9} {:>9} {:>9}  {status}",
                s.table, s.received, s.landed, s.rejected
            )?;
            if !s.new_fields.is_empty() {
                writeln!(
                    out,
                    "{:<34} new fields kept in _raw: {}",
                    "",
                    s.new_fields.join(", ")
                )?;
            }
        }
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
}

pub(crate) async fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = args
        .pipeline
        .clone()
        .unwrap_or_else(|| args.project.join("pipelines"));
    if !path.exists() {
        return Err(UsageError(format!("{} does not exist", path.display())).into());
    }
    let problems = pslake_core::pipeline::validate_path(&path);
    let mut out = std::io::stdout().lock();
    if problems.is_empty() {
        writeln!(out, "{}: ok", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Configuration is invalid!")?;
    for p in &problems {
        writeln!(out, "  • {p}")?;
    }
    Ok(ExitCode::from(2))
}
