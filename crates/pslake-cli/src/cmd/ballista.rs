//! `--engine` (where model builds run) and `pslake ballista scheduler|executor`, the processes of
//! a Ballista cluster, from the same binary as the client (docs/SCALING.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use pslake_cluster::executor::ExecutorOptions;
use pslake_cluster::scheduler::SchedulerOptions;
use pslake_lake::Lake;
use pslake_transform::Cluster;

use super::UsageError;

/// Where the model builds run.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EngineArgs {
    /// `local` (this process), or `ballista://HOST:PORT`: a Ballista scheduler whose executors
    /// run each table model's plan, reading the lake from its object store
    #[arg(long, env = "PSLAKE_ENGINE", default_value = "local")]
    engine: String,
}

impl Default for EngineArgs {
    fn default() -> Self {
        Self {
            engine: "local".into(),
        }
    }
}

impl EngineArgs {
    /// The cluster, or `None` to build in this process.
    pub(crate) fn cluster(&self) -> anyhow::Result<Option<Arc<dyn Cluster>>> {
        pslake_cluster::parse_engine(&self.engine)
            .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
    }
}

/// The processes of a Ballista cluster.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BallistaCommand {
    /// A scheduler: takes plans from `pslake build --engine ballista://HOST:PORT` and hands their
    /// stages to the executors (`GET /readyz` on the same port says when enough have joined)
    Scheduler(SchedulerArgs),
    /// An executor: runs the scheduler's tasks, reading the lake with this process's credentials
    Executor(ExecutorArgs),
}

/// Arguments of `pslake ballista scheduler`.
#[derive(Debug, clap::Args)]
pub(crate) struct SchedulerArgs {
    /// Where to listen
    #[arg(long, default_value = "127.0.0.1:50050")]
    bind: SocketAddr,
    /// The host executors and clients reach this scheduler at (default: the bind address)
    #[arg(long)]
    external_host: Option<String>,
    /// How many executors must have joined before `/readyz` says ready
    #[arg(long, default_value_t = 1)]
    min_executors: usize,
    /// The lake (an object-store URL) the plans read, its store configured from this process's
    /// environment (AWS_*, AZURE_*, GOOGLE_*); not needed for a lake on a shared local folder
    #[arg(long)]
    lake: Option<String>,
}

/// Arguments of `pslake ballista executor`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExecutorArgs {
    /// The scheduler, HOST:PORT
    #[arg(long, default_value = "127.0.0.1:50050")]
    scheduler: String,
    /// The address to bind
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The host the scheduler and the other executors reach this one at (default: --bind-host)
    #[arg(long)]
    external_host: Option<String>,
    /// The Arrow Flight port (shuffle and result reads)
    #[arg(long, default_value_t = 50051)]
    flight_port: u16,
    /// The gRPC port (tasks from the scheduler)
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Where shuffle files go (default: a temporary folder)
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// How many tasks run at once (default: the number of CPUs)
    #[arg(long)]
    task_slots: Option<usize>,
    /// The lake (an object-store URL) whose store this executor reads, configured from its own
    /// environment (AWS_*, AZURE_*, GOOGLE_*); not needed for a lake on a shared local folder
    #[arg(long)]
    lake: Option<String>,
}

pub(crate) async fn ballista(command: BallistaCommand) -> anyhow::Result<ExitCode> {
    match command {
        BallistaCommand::Scheduler(args) => {
            let lake = parse_lake(args.lake.as_deref())?;
            pslake_cluster::scheduler::run(SchedulerOptions {
                bind: args.bind,
                external_host: args
                    .external_host
                    .unwrap_or_else(|| args.bind.ip().to_string()),
                min_executors: args.min_executors,
                lake,
            })
            .await?;
        }
        BallistaCommand::Executor(args) => {
            let (host, port) = args
                .scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    UsageError(format!(
                        "--scheduler {}: expected HOST:PORT",
                        args.scheduler
                    ))
                })?;
            let lake = parse_lake(args.lake.as_deref())?;
            pslake_cluster::executor::run(ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                external_host: args.external_host.unwrap_or_else(|| args.bind_host.clone()),
                bind_host: args.bind_host,
                flight_port: args.flight_port,
                grpc_port: args.grpc_port,
                work_dir: args.work_dir,
                task_slots: args.task_slots,
                lake,
            })
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--lake` of a cluster process, when given.
fn parse_lake(lake: Option<&str>) -> anyhow::Result<Option<Lake>> {
    lake.map(Lake::parse)
        .transpose()
        .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
}
