//! `pslake extract` and `pslake validate` (owned by the extract work).

use std::process::ExitCode;

/// Arguments of `pslake extract`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExtractArgs {}
/// Arguments of `pslake validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {}

pub(crate) async fn run(_args: ExtractArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake extract is not available yet")
}
pub(crate) async fn validate(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake validate is not available yet")
}
