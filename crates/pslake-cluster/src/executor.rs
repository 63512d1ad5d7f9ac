//! The executor process (`pslake ballista executor`).

use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::JobId;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use pslake_lake::Lake;

use crate::{Error, Result};

/// How to run an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address it binds.
    pub bind_host: String,
    /// The host the scheduler and other executors reach it at.
    pub external_host: String,
    /// Its Arrow Flight port (shuffle and result reads).
    pub flight_port: u16,
    /// Its gRPC port (tasks from the scheduler).
    pub grpc_port: u16,
    /// Where it keeps shuffle files (default: a temporary folder).
    pub work_dir: Option<PathBuf>,
    /// How many tasks it runs at once (default: the number of CPUs).
    pub task_slots: Option<usize>,
    /// The lake whose object store it reads and writes, configured from this process's
    /// environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`).
    pub lake: Option<Lake>,
}

/// The functions a task may call: every function of a default DataFusion session, as the
/// client plans with. Ballista's own default registry leaves out the nested (array) functions,
/// so a plan calling `generate_series` or `make_array` would fail to decode.
fn function_registry() -> BallistaFunctionRegistry {
    let state = SessionStateBuilder::new().with_default_features().build();
    let mut registry = BallistaFunctionRegistry::default();
    registry.scalar_functions.extend(
        state
            .scalar_functions()
            .iter()
            .map(|(name, f)| (name.clone(), f.clone())),
    );
    registry.aggregate_functions.extend(
        state
            .aggregate_functions()
            .iter()
            .map(|(name, f)| (name.clone(), f.clone())),
    );
    registry.window_functions.extend(
        state
            .window_functions()
            .iter()
            .map(|(name, f)| (name.clone(), f.clone())),
    );
    registry
}

/// Ballista's execution engine, its tasks reporting no operator metrics to the scheduler.
///
/// The scheduler sums each task's per-operator metrics into its stage's, and refuses a task
/// whose list is longer or shorter than the first task's: then the task's completion is never
/// recorded and its job waits forever. The list is the operators that have metrics after the
/// task ran, which differs between tasks of one stage whenever an operator is not reached in
/// one of them (the probe side of a join whose build side is empty). A task reporting none is
/// accepted (ballista-scheduler 55 `ExecutionStage::update_task_metrics`); pslake does not read
/// Ballista's operator metrics.
struct WithoutOperatorMetrics(DefaultExecutionEngine);

impl ExecutionEngine for WithoutOperatorMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> DfResult<Arc<dyn QueryStageExecutor>> {
        let stage = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(NoMetrics(stage)))
    }
}

/// A query stage that reports no operator metrics (see [`WithoutOperatorMetrics`]).
#[derive(Debug)]
struct NoMetrics(Arc<dyn QueryStageExecutor>);

impl std::fmt::Display for NoMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for NoMetrics {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<Vec<ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> DfResult<Vec<WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.0.collect_column_stats()
    }
}

/// Runs an executor until the process is stopped or the scheduler tells it to stop.
pub async fn run(options: ExecutorOptions) -> Result<()> {
    // The lake's bucket, registered in every task's runtime: plans name `s3://bucket/...`
    // files, and credentials come from here, never from the client.
    let bucket = crate::lake_bucket(options.lake.as_ref())?;
    let work_dir = options.work_dir.clone();
    let runtime = Arc::new(move |_: &SessionConfig| {
        let mut builder = RuntimeEnvBuilder::new();
        if let Some(dir) = &work_dir {
            builder = builder.with_temp_file_path(dir.clone());
        }
        let env = builder.build()?;
        if let Some((url, store)) = &bucket {
            env.register_object_store(url, store.clone());
        }
        Ok(Arc::new(env))
    });
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(options.external_host.clone()),
        port: options.flight_port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        // The scheduler may still be starting: keep trying for a while.
        scheduler_connect_timeout_seconds: 60,
        vcores: options.task_slots.unwrap_or(0),
        work_dir: options
            .work_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        override_runtime_producer: Some(runtime),
        override_function_registry: Some(Arc::new(function_registry())),
        override_execution_engine: Some(Arc::new(WithoutOperatorMetrics(
            DefaultExecutionEngine::new(),
        ))),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        scheduler = %format!("{}:{}", options.scheduler_host, options.scheduler_port),
        flight_port = options.flight_port,
        grpc_port = options.grpc_port,
        "ballista executor starting"
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|source| Error::Process {
            role: "executor",
            source: Box::new(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_know_the_nested_functions() {
        let registry = function_registry();
        for f in [
            "generate_series",
            "make_array",
            "range",
            "array_agg",
            "row_number",
            "upper",
        ] {
            assert!(
                registry.scalar_functions.contains_key(f)
                    || registry.aggregate_functions.contains_key(f)
                    || registry.window_functions.contains_key(f),
                "{f}"
            );
        }
        // Ballista's own default lacks them (why this registry exists).
        assert!(
            !BallistaFunctionRegistry::default()
                .scalar_functions
                .contains_key("generate_series")
        );
    }
}
