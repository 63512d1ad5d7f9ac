//! `pslake sandbox` and `pslake fixtures generate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pslake_sandbox::generate::{GenerateOptions, generate, generate_messy};
use pslake_sandbox::server::{DEFAULT_LISTEN, FAULTS_HELP, FaultSpec, Sandbox, SandboxConfig};

use super::UsageError;

/// Arguments of `pslake sandbox`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FAULTS_HELP)]
pub(crate) struct SandboxArgs {
    /// Fixture directory in the SPEC layout (`<system>/<stream>.jsonl`, `treasury/`, `manifest.json`)
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Address to listen on (loopback)
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Faults to inject, e.g. `rate_limit=0.05,error503=0.02,seed=7` (see --help)
    #[arg(long, value_parser = parse_faults)]
    faults: Option<FaultSpec>,
}

fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    FaultSpec::parse(s).map_err(|e| e.to_string())
}

/// `pslake fixtures ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FixturesCommand {
    /// Write a deterministic synthetic consultancy in the sandbox's wire formats
    Generate(GenerateArgs),
}

/// Arguments of `pslake fixtures generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Output directory (created; existing stream files are replaced)
    #[arg(long)]
    out: PathBuf,
    /// Size of the firm: 1 is about 80k time entries, 100 about 8M; fractions allowed
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    scale: f64,
    /// Random seed: the same seed and scale give byte-identical files
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Leave out the deliberate bad rows that exercise the data-quality rules
    #[arg(long)]
    no_bad_rows: bool,
    /// Plant the messy situations (no treasury file for the as_of month, cross-currency records,
    /// lines on unknown or empty jobs, records dated after as_of) and write two later runs as
    /// overlays OUT/run2 and OUT/run3 that change and delete records (see fixtures/messy/README.md)
    #[arg(long)]
    messy: bool,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "invalid scale '{s}': a positive number such as 1 or 0.05"
        )),
    }
}

pub(crate) async fn sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let mut config = SandboxConfig::new(&args.fixtures);
    config.listen = args.listen;
    config.faults = args.faults;
    let running = Sandbox::start(config)
        .await
        .map_err(|e| UsageError(format!("cannot start the sandbox: {e}")))?;
    tracing::warn!(url = %running.base_url(), fixtures = %args.fixtures.display(), "sandbox listening; ctrl-c stops it");
    eprintln!(
        "sandbox listening on {} (fixtures {})",
        running.base_url(),
        args.fixtures.display()
    );
    running.wait().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn fixtures(command: FixturesCommand) -> anyhow::Result<ExitCode> {
    match command {
        FixturesCommand::Generate(args) => {
            let opts = GenerateOptions {
                out: args.out.clone(),
                scale: args.scale,
                seed: args.seed,
                bad_rows: !args.no_bad_rows,
            };
            let messy = args.messy;
            let (summary, overlays) = tokio::task::spawn_blocking(move || {
                if messy {
                    generate_messy(&opts).map(|m| (m.base, m.overlays))
                } else {
                    generate(&opts).map(|s| (s, Vec::new()))
                }
            })
            .await
            .context("the generator task panicked")?
            .with_context(|| format!("generating fixtures into {}", args.out.display()))?;
            let total: u64 = summary.files.iter().map(|(_, n)| n).sum();
            eprintln!(
                "wrote {} files, {} records, into {}",
                summary.files.len(),
                total,
                args.out.display()
            );
            for (dir, files) in overlays {
                eprintln!(
                    "wrote the overlay {} ({} files)",
                    dir.display(),
                    files.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
