//! A cross join holds its left input in memory and streams its right one. Models join the
//! one-row `pslake.run_context` to large inputs (`FROM entries t CROSS JOIN pslake.run_context
//! rc`), and DataFusion's join selection keeps the written order whenever one side's size is
//! unknown, which it is for most model inputs (views, filtered scans): the whole large input is
//! then held in memory (and, in a bounded memory pool, fails for want of it: a cross join cannot
//! spill). This rule, run right after join selection, puts a side whose row count is known
//! exactly and small on the left when the other side's is not known to be as small.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::CrossJoinExec;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

/// At most this many rows, known exactly, make a side small.
const SMALL_ROWS: usize = 1024;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct SmallSideFirst;

/// The name of the rule it must follow.
pub(crate) const AFTER: &str = "join_selection";

fn rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let stats = StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .ok()?;
    match stats.num_rows {
        Precision::Exact(n) => Some(n),
        _ => None,
    }
}

impl PhysicalOptimizerRule for SmallSideFirst {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let Some(join) = p.downcast_ref::<CrossJoinExec>() else {
                return Ok(Transformed::no(p));
            };
            let small = |n: Option<usize>| n.is_some_and(|n| n <= SMALL_ROWS);
            let (left, right) = (rows(join.left()), rows(join.right()));
            let swap = small(right) && !(small(left) && left <= right);
            if swap {
                Ok(Transformed::yes(join.swap_inputs()?))
            } else {
                Ok(Transformed::no(p))
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "pslake_small_side_first"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    /// `sql` run in `ctx`, and its physical plan as text.
    async fn run(ctx: &SessionContext, sql: &str) -> (String, Vec<String>) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        let batches = df.collect().await.unwrap();
        let rows = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .map(str::to_string)
            .collect();
        (text, rows)
    }

    #[tokio::test]
    async fn the_one_row_side_of_a_cross_join_is_the_one_held() {
        let ctx = crate::session::new_context();
        ctx.sql("CREATE TABLE one AS VALUES (7)").await.unwrap();
        // an input of unknown size (unnest): join selection alone keeps the written order
        let sql = "SELECT count(*) AS n, sum(b.v * o.column1) AS total \
                   FROM (SELECT unnest(range(1, 100001)) AS v) b CROSS JOIN one o";
        let (text, rows) = run(&ctx, sql).await;
        let below: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.contains("CrossJoinExec"))
            .skip(1)
            .collect();
        let one = below.iter().position(|l| l.contains("DataSourceExec"));
        let big = below.iter().position(|l| l.contains("UnnestExec"));
        assert!(
            one.is_some() && big.is_some() && one < big,
            "the one-row table is the left input:\n{text}"
        );
        // 1 + ... + 100000 = 5000050000, times 7 = 35000350000, over 100000 rows
        assert!(
            rows.iter()
                .any(|r| r.contains("100000") && r.contains("35000350000")),
            "{rows:?}"
        );
    }
}
