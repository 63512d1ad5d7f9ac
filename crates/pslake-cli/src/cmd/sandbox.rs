//! `pslake sandbox` and `pslake fixtures generate`.

use std::process::ExitCode;

/// Arguments of `pslake sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {}

/// `pslake fixtures ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FixturesCommand {}

pub(crate) async fn sandbox(_args: SandboxArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake sandbox is not available yet")
}
pub(crate) async fn fixtures(command: FixturesCommand) -> anyhow::Result<ExitCode> {
    match command {}
}
