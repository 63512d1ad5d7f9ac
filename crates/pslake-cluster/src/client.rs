//! The client side: table models' physical plans sent to a Ballista scheduler.

use std::sync::Arc;

use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::Result as DfResult;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::FutureExt;
use futures::future::BoxFuture;
use pslake_transform::Cluster;

use crate::{Error, Result};

/// The URL scheme of `--engine` for a Ballista cluster.
pub const ENGINE_SCHEME: &str = "ballista";

/// A Ballista scheduler at `host:port`.
#[derive(Debug, Clone)]
pub struct Ballista {
    host: String,
    port: u16,
    /// One session per build, so the scheduler keeps one set of settings for its jobs.
    session_id: String,
}

impl Ballista {
    /// The scheduler at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            session_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn scheduler_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl Cluster for Ballista {
    fn address(&self) -> String {
        format!("{ENGINE_SCHEME}://{}:{}", self.host, self.port)
    }

    fn configure(&self, config: SessionConfig) -> SessionConfig {
        // Ballista's settings for plans it splits into stages: no round-robin repartition, no
        // dynamic filters (a filter filled in one stage never reaches a scan in another,
        // apache/datafusion-ballista#1375), no physical scalar subqueries (#1909). pslake's own
        // settings (plain strings) are kept. Ballista's one more, sort-merge joins instead of
        // hash joins (they spill), is turned back: DataFusion 55.2's sort-merge join with a
        // join filter panics on the demo's `canonical.backlog` (index out of bounds in
        // sort_merge_join/filter.rs), and hash joins are what the single-node build runs.
        config
            .upgrade_for_ballista()
            .set_bool("datafusion.optimizer.prefer_hash_join", true)
    }

    fn unsupported(&self, plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
        let codec = BallistaPhysicalExtensionCodec::default();
        let err = PhysicalPlanNode::try_from_physical_plan(plan.clone(), &codec).err()?;
        let text = err.to_string();
        // "... Unsupported plan node, name: [RecursiveQueryExec] ...": the operator's name.
        let name = text
            .split_once("name: [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(name, _)| name.to_string());
        Some(match name {
            Some(name) => format!("{name} has no wire format"),
            None => text.lines().next().unwrap_or_default().to_string(),
        })
    }

    fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: SessionConfig,
    ) -> BoxFuture<'static, DfResult<SendableRecordBatchStream>> {
        let url = self.scheduler_url();
        let session_id = self.session_id.clone();
        async move {
            let ballista = config.ballista_config();
            let codec = BallistaPhysicalExtensionCodec::default();
            execute_physical_plan::<PhysicalPlanNode>(
                url, &ballista, plan, &codec, session_id, config,
            )
            .await
        }
        .boxed()
    }
}

/// The cluster of `--engine`: `None` for `local`, a [`Ballista`] for `ballista://HOST:PORT`.
pub fn parse_engine(engine: &str) -> Result<Option<Arc<dyn Cluster>>> {
    if engine == "local" {
        return Ok(None);
    }
    let parsed = url::Url::parse(engine);
    // Shown in errors without a password, should one have been put in the URL.
    let shown = match &parsed {
        Ok(u) if u.password().is_some() => {
            let mut u = u.clone();
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => engine.to_string(),
    };
    let refuse = |reason: &str| Error::Engine {
        engine: shown.clone(),
        reason: reason.to_string(),
    };
    let url = parsed.map_err(|e| refuse(&e.to_string()))?;
    if url.scheme() != ENGINE_SCHEME {
        return Err(refuse(&format!("unknown scheme '{}'", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("credentials do not belong in the engine URL"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(refuse("only a host and a port"));
    }
    let host = url.host_str().ok_or_else(|| refuse("no host"))?;
    let port = url.port().ok_or_else(|| refuse("no port"))?;
    Ok(Some(Arc::new(Ballista::new(host, port))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_or_are_refused_with_the_reason() {
        assert!(parse_engine("local").expect("local").is_none());
        let cluster = parse_engine("ballista://127.0.0.1:50050")
            .expect("ballista")
            .expect("a cluster");
        assert_eq!(cluster.address(), "ballista://127.0.0.1:50050");
        for (bad, reason) in [
            ("spark://h:1", "unknown scheme 'spark'"),
            ("ballista://h", "no port"),
            ("ballista://u:secret@h:1", "credentials"),
            ("ballista://h:1/x", "only a host and a port"),
            ("nonsense", "relative URL"),
        ] {
            let err = parse_engine(bad).expect_err(bad).to_string();
            assert!(
                err.contains(reason) && err.contains("ballista://HOST:PORT"),
                "{err}"
            );
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn the_session_gets_ballista_settings_and_keeps_pslake_ones() {
        let cluster = Ballista::new("127.0.0.1", 1);
        let config = SessionConfig::new()
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            .with_target_partitions(3);
        let config = cluster.configure(config);
        let options = config.options();
        assert!(!options.optimizer.enable_dynamic_filter_pushdown);
        assert!(!options.optimizer.enable_round_robin_repartition);
        assert!(!options.execution.parquet.schema_force_view_types);
        assert!(options.optimizer.prefer_hash_join);
        assert_eq!(config.target_partitions(), 3);
    }
}
