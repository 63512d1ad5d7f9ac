//! `pslake`: land a professional-services firm's CRM, ERP, PSA and HCM data in a Delta Lake,
//! conform it with SQL models on DataFusion, and serve canonical tables to BI tools.
//!
//! Exit codes: 0 success, 1 a run (or a stage of it) failed, 2 bad usage or configuration.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod logging;
mod progress;

/// mimalloc for every allocation of the process: model builds are allocation-bound (a `perf`
/// profile of the largest model spent more time in malloc, free and fresh pages than in joins).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Land CRM, ERP, PSA and HCM data in a Delta Lake and build trusted canonical tables.
#[derive(Debug, Parser)]
#[command(name = "pslake", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
    #[command(flatten)]
    log: logging::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Extract, land, build, test and publish; with no pipeline, the demo on the embedded sandbox
    Run(cmd::run::RunArgs),
    /// Run pipelines on their `schedule:` until SIGTERM/SIGINT; missed runs once at start
    Schedule(cmd::schedule::ScheduleArgs),
    /// Receive vendor change notifications (HubSpot webhooks, Salesforce change events) and
    /// refresh the affected streams and models within seconds, until SIGTERM/SIGINT
    Listen(cmd::listen::ListenArgs),
    /// Compact small files and delete files older than the retention (never the released versions')
    Maintain(cmd::maintain::MaintainArgs),
    /// Extract every stream of a pipeline into the lake's raw tables
    Extract(cmd::extract::ExtractArgs),
    /// Build the SQL models into the lake (dbt-style selection with --select)
    Build(cmd::build::BuildArgs),
    /// Run the models' data tests against the published tables
    Test(cmd::build::TestArgs),
    /// Show what a run would do, without writing anything
    Plan(cmd::build::PlanArgs),
    /// Query the lake with SQL: lake tables, seeds, views and unpublished models, pslake.run_context
    Query(cmd::build::QueryArgs),
    /// Compute a model (with its unpublished parents) and print its first rows, without publishing
    Show(cmd::build::ShowArgs),
    /// The PostgreSQL wire protocol over the lake, for BI tools (read only, password login)
    Serve(cmd::serve::ServeArgs),
    /// The last runs, each stream's freshness, the released canonical tables, rejects and warnings
    Status(cmd::status::StatusArgs),
    /// A static HTML site: models, columns, tests and their last results, SQL, lineage graphs
    Docs(cmd::docs::DocsArgs),
    /// Where a column's values come from (down to the vendor fields), or a table's upstream and downstream
    Lineage(cmd::lineage::LineageArgs),
    /// Check pipelines, SQL models and model metadata without network access
    Validate(cmd::extract::ValidateArgs),
    /// The processes of an Apache Ballista cluster that runs model builds (`--engine ballista://HOST:PORT`)
    Ballista {
        #[command(subcommand)]
        command: cmd::ballista::BallistaCommand,
    },
    /// The vendor-API emulator on loopback, with injectable faults
    Sandbox(cmd::sandbox::SandboxArgs),
    /// Synthetic fixture data
    Fixtures {
        #[command(subcommand)]
        command: cmd::sandbox::FixturesCommand,
    },
}

fn main() -> ExitCode {
    let huge_pages = no_huge_pages();
    let cli = Cli::parse();
    logging::init(
        &cli.log,
        matches!(cli.command, Commands::Schedule(_) | Commands::Listen(_)),
    );
    if let Err(err) = huge_pages {
        tracing::debug!("transparent huge pages stay as the system sets them: {err}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", render(&err));
            ExitCode::from(cmd::exit_code_for(&err))
        }
    }
}

/// Transparent huge pages off for this process, before the first allocation. mimalloc asks for
/// huge pages on its 1 GiB arenas (`MADV_HUGEPAGE`), and a fault in one zeroes 2 MiB at once:
/// `perf` of a no-change run at scale 100 put a third of its samples in the kernel's page
/// zeroing under `do_huge_pmd_anonymous_page`. With THP off that run takes a third less CPU and
/// a fifth less peak memory (docs/BENCHMARKS.md, thirteenth session). Best effort: a kernel
/// without `PR_SET_THP_DISABLE` (before Linux 3.15) keeps the system's setting.
fn no_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true)?;
    Ok(())
}

async fn dispatch(command: Commands) -> anyhow::Result<ExitCode> {
    match command {
        Commands::Run(args) => Box::pin(cmd::run::run(args)).await,
        Commands::Schedule(args) => Box::pin(cmd::schedule::schedule(args)).await,
        Commands::Listen(args) => Box::pin(cmd::listen::listen(args)).await,
        Commands::Maintain(args) => cmd::maintain::maintain(args).await,
        Commands::Extract(args) => cmd::extract::run(args).await,
        Commands::Build(args) => cmd::build::build(args).await,
        Commands::Test(args) => cmd::build::test(args).await,
        Commands::Plan(args) => cmd::build::plan(args).await,
        Commands::Query(args) => cmd::build::query(args).await,
        Commands::Show(args) => cmd::build::show(args).await,
        Commands::Serve(args) => cmd::serve::serve(args).await,
        Commands::Status(args) => cmd::status::status(args).await,
        Commands::Docs(args) => cmd::docs::docs(args).await,
        Commands::Lineage(args) => cmd::lineage::lineage(args).await,
        Commands::Validate(args) => cmd::extract::validate(args).await,
        Commands::Ballista { command } => cmd::ballista::ballista(command).await,
        Commands::Sandbox(args) => cmd::sandbox::sandbox(args).await,
        Commands::Fixtures { command } => cmd::sandbox::fixtures(command).await,
    }
}

/// The error and its causes, each said once: libraries often print their source inside their
/// own message too, so a cause whose text is already there is not repeated.
fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_are_rendered_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("planning: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("no table x")]
        struct Inner;
        let err = anyhow::Error::new(Outer(Inner)).context("query failed");
        assert_eq!(render(&err), "query failed: planning: no table x");
    }
}
