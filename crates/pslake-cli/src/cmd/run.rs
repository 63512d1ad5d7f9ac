//! `pslake run`: extract, build, test, publish (the lead's).

use std::process::ExitCode;

/// Arguments of `pslake run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {}

pub(crate) async fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake run is not available yet")
}
