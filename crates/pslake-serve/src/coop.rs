//! Yield points after every join, so that the statement timeout can end any query.
//!
//! A join can make many output batches from one input batch (a cross join of two small tables
//! makes billions of rows without reading anything more); an aggregate above it then polls it in
//! a loop that never returns to the runtime, and a timer, however short, never fires until the
//! whole join is done. DataFusion's sources yield (they consume tokio's task budget per batch);
//! joins do not. This rule wraps each join in DataFusion's [`CooperativeExec`], which consumes a
//! unit of budget per batch the join makes: the task yields every so many batches, the timeout
//! fires, and dropping the stream cancels the query. Other connections get their turn too.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// Wraps every join (and unnest, the other operator that multiplies rows) in [`CooperativeExec`].
#[derive(Debug, Default)]
pub(crate) struct CooperativeJoins;

fn multiplies_rows(plan: &dyn ExecutionPlan) -> bool {
    let name = plan.name();
    name.contains("Join") || name == "UnnestExec"
}

impl PhysicalOptimizerRule for CooperativeJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            Ok(if multiplies_rows(p.as_ref()) {
                Transformed::yes(Arc::new(CooperativeExec::new(p)) as Arc<dyn ExecutionPlan>)
            } else {
                Transformed::no(p)
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "pslake_cooperative_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn every_join_is_wrapped_and_the_result_is_unchanged() {
        let ctx = SessionContext::new();
        let sql = "SELECT count(*) FROM range(0, 300) a CROSS JOIN range(0, 200) b \
                   JOIN range(0, 50) c ON a.value = c.value";
        let plain = ctx.sql(sql).await.expect("plan");
        // two plans: an executed plan's repartitions are used up
        let plan = plain
            .clone()
            .create_physical_plan()
            .await
            .expect("physical");
        let wrapped = CooperativeJoins
            .optimize(
                plain.create_physical_plan().await.expect("physical"),
                &ConfigOptions::default(),
            )
            .expect("optimize");
        let text = datafusion::physical_plan::displayable(wrapped.as_ref())
            .indent(false)
            .to_string();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let joins = lines.iter().filter(|l| l.contains("Join")).count();
        assert_eq!(joins, 2, "{text}");
        for (n, l) in lines.iter().enumerate() {
            if l.contains("Join") {
                assert!(
                    n > 0 && lines[n - 1].starts_with("CooperativeExec"),
                    "{l} is wrapped:\n{text}"
                );
            }
        }
        let task = ctx.task_ctx();
        let a = datafusion::physical_plan::collect(plan, task.clone())
            .await
            .expect("plain");
        let b = datafusion::physical_plan::collect(wrapped, task)
            .await
            .expect("wrapped");
        let show = |x: &[arrow::array::RecordBatch]| {
            arrow::util::pretty::pretty_format_batches(x)
                .expect("format")
                .to_string()
        };
        assert_eq!(show(&a), show(&b));
        // 50 matching a values x 200 b values
        assert!(show(&b).contains("10000"), "{}", show(&b));
    }
}
