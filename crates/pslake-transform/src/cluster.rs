//! Where a build's table models run: in this process, or on a cluster ([`Cluster`]).
//!
//! pslake plans every model itself (its own optimizer rules included). On a cluster, the
//! physical plan of each table model is sent to the cluster, which splits it into stages and
//! runs them on its executors; the rows come back as one stream into the same staging writer,
//! audits and release as a local build. A plan the cluster cannot take (an operator with no
//! wire format) runs in this process instead, with a warning naming the operator. The engine
//! crate knows only this trait; the Ballista client implementing it lives in `pslake-cluster`.
//!
//! A session on a cluster reads the lake's tables as plain Parquet listings of their files
//! ([`pslake_lake::Lake::plain_files`]): a cluster runs serialized plans, and delta-rs has no
//! wire format for its Delta scan.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::error::Result as DfResult;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::future::BoxFuture;

/// A cluster that runs physical plans (a Ballista scheduler and its executors).
pub trait Cluster: Send + Sync + Debug {
    /// Where it is, for logs and reports (never a credential).
    fn address(&self) -> String;
    /// `config` with what plans need to run there (settings the cluster requires, partitions
    /// for its executors).
    fn configure(&self, config: SessionConfig) -> SessionConfig;
    /// Why `plan` cannot be sent there (an operator with no wire format, e.g. the recursive
    /// query of a `WITH RECURSIVE`), or `None` when it can.
    fn unsupported(&self, plan: &Arc<dyn ExecutionPlan>) -> Option<String>;
    /// Runs `plan` there, with the session settings of `config`; its rows come back as one
    /// stream.
    fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: SessionConfig,
    ) -> BoxFuture<'static, DfResult<SendableRecordBatchStream>>;
}

/// The cluster a session's table models run on, kept in its config.
#[derive(Debug)]
struct OnCluster(Arc<dyn Cluster>);

/// `config` configured for `cluster` and remembering it.
pub(crate) fn attach(config: SessionConfig, cluster: &Arc<dyn Cluster>) -> SessionConfig {
    cluster
        .configure(config)
        .with_extension(Arc::new(OnCluster(cluster.clone())))
}

/// The cluster the session of `config` runs on, if any.
pub(crate) fn of_config(config: &SessionConfig) -> Option<Arc<dyn Cluster>> {
    config.get_extension::<OnCluster>().map(|c| c.0.clone())
}

/// The cluster `ctx` runs on, if any.
pub(crate) fn of(ctx: &SessionContext) -> Option<Arc<dyn Cluster>> {
    of_config(ctx.state().config())
}
