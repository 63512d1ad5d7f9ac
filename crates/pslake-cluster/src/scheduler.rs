//! The scheduler process (`pslake ballista scheduler`).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::utils::default_session_builder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use ballista_scheduler::scheduler_server::SessionBuilder;
use pslake_lake::Lake;

use crate::{Error, Result};

/// How to run a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens (gRPC for clients and executors; `GET /readyz` on the same port).
    pub bind: SocketAddr,
    /// The host executors and clients reach it at.
    pub external_host: String,
    /// `/readyz` answers 200 once this many executors have registered.
    pub min_executors: usize,
    /// The lake (an object-store URL) whose store the scheduler opens plans against,
    /// configured from this process's environment.
    pub lake: Option<Lake>,
}

/// Runs a scheduler until the process is stopped. Tasks are spread round-robin over the
/// executors, so every executor takes part in every stage wide enough.
pub async fn run(options: SchedulerOptions) -> Result<()> {
    // Decoding a plan resolves the object store of every file it scans, so the scheduler's
    // sessions know the lake's bucket too (credentials from this process's environment).
    let bucket = crate::lake_bucket(options.lake.as_ref())?;
    let sessions: SessionBuilder = Arc::new(move |config| {
        let state = default_session_builder(config)?;
        if let Some((url, store)) = &bucket {
            state
                .runtime_env()
                .register_object_store(url, store.clone());
        }
        Ok(state)
    });
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.external_host.clone(),
        task_distribution: TaskDistributionPolicy::RoundRobin,
        min_ready_executors: options.min_executors,
        override_session_builder: Some(sessions),
        ..SchedulerConfig::default()
    };
    let process = |source| Error::Process {
        role: "scheduler",
        source: Box::new(source),
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(process)?;
    tracing::info!(bind = %options.bind, min_executors = options.min_executors, "ballista scheduler starting");
    start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(process)
}
