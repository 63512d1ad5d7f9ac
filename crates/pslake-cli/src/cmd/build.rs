//! `pslake build`, `test`, `plan`, `query` (owned by the transform work).

use std::process::ExitCode;

/// Arguments of `pslake build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {}
/// Arguments of `pslake test`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {}
/// Arguments of `pslake plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {}
/// Arguments of `pslake query`.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {}

pub(crate) async fn build(_args: BuildArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake build is not available yet")
}
pub(crate) async fn test(_args: TestArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake test is not available yet")
}
pub(crate) async fn plan(_args: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake plan is not available yet")
}
pub(crate) async fn query(_args: QueryArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pslake query is not available yet")
}
