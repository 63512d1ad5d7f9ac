//! A cross join with a one-row in-memory table, planned as constants.
//!
//! Models read the run's dates by joining the one-row `pslake.run_context`
//! (`FROM entries t CROSS JOIN pslake.run_context rc WHERE t.work_date <= rc.as_of`). DataFusion
//! plans that as a nested-loop join whose filter is evaluated on every joined batch, after every
//! column of the large side has been copied into it: at scale 100, 4.7-5.5 s of CPU for each
//! pass over the 7.8M time entries in `int_time_entries_checked`, about half of the model's
//! query. The row's values are known when the plan is optimized, so the join becomes a
//! projection of the large side with the row's columns as literals, under the join's filter:
//!
//! ```text
//! Filter(work_date <= rc.as_of)                       -- the join's filter, if it had one
//!   Projection(t.*, DATE '2026-06-30' AS rc.as_of, ...) -- the join's columns, in its order
//!     <the other side>
//! ```
//!
//! and DataFusion's filter pushdown (the next optimizer pass) moves the filter down to the
//! scan with the literal in place of the column. It fires only on an inner join without join
//! keys whose one side is, under aliases, a scan without filters or limit of a `MemTable`
//! holding exactly one row; the joined rows are then exactly the other side's rows with that
//! row's values appended, kept where the filter holds.

use std::sync::Arc;

use datafusion::catalog::MemTable;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::DefaultTableSource;
use datafusion::logical_expr::{Expr, Filter, JoinType, LogicalPlan, Projection, TableScan, lit};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct ConstantRow;

impl OptimizerRule for ConstantRow {
    fn name(&self) -> &str {
        "pslake_constant_row"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if join.join_type != JoinType::Inner || !join.on.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let (other, row, row_first) = if let Some(row) = one_row(&join.right)? {
            (&join.left, row, false)
        } else if let Some(row) = one_row(&join.left)? {
            (&join.right, row, true)
        } else {
            return Ok(Transformed::no(plan));
        };
        // The join's columns in its order: the other side's as they are, the row's as literals
        // under the row side's qualified names.
        let other_width = other.schema().fields().len();
        let mut exprs = Vec::with_capacity(join.schema.fields().len());
        for (i, (qualifier, field)) in join.schema.iter().enumerate() {
            let from_row = if row_first {
                i < row.len()
            } else {
                i >= other_width
            };
            if from_row {
                let at = if row_first { i } else { i - other_width };
                exprs.push(
                    lit(row[at].clone()).alias_qualified(qualifier.cloned(), field.name().clone()),
                );
            } else {
                exprs.push(Expr::Column((qualifier, field).into()));
            }
        }
        let projection = LogicalPlan::Projection(Projection::try_new_with_schema(
            exprs,
            Arc::clone(other),
            Arc::clone(&join.schema),
        )?);
        Ok(Transformed::yes(match &join.filter {
            None => projection,
            Some(predicate) => {
                LogicalPlan::Filter(Filter::try_new(predicate.clone(), Arc::new(projection))?)
            }
        }))
    }
}

/// The values of `plan`'s one row, in its columns' order, when `plan` is (under aliases) an
/// unfiltered scan of an in-memory table holding exactly one row.
fn one_row(plan: &LogicalPlan) -> Result<Option<Vec<ScalarValue>>> {
    let scan: &TableScan = match plan {
        LogicalPlan::SubqueryAlias(a) => return one_row(&a.input),
        LogicalPlan::TableScan(s) => s,
        _ => return Ok(None),
    };
    if !scan.filters.is_empty() || scan.fetch.is_some() {
        return Ok(None);
    }
    let Some(source) = scan.source.as_ref().downcast_ref::<DefaultTableSource>() else {
        return Ok(None);
    };
    let Some(table) = source.table_provider.as_ref().downcast_ref::<MemTable>() else {
        return Ok(None);
    };
    let mut rows = Vec::new();
    for partition in &table.batches {
        // Held by a writer (an INSERT under way): not known, so not rewritten.
        let Ok(batches) = partition.try_read() else {
            return Ok(None);
        };
        rows.extend(batches.iter().filter(|b| b.num_rows() > 0).cloned());
    }
    let [batch] = rows.as_slice() else {
        return Ok(None);
    };
    if batch.num_rows() != 1 {
        return Ok(None);
    }
    let columns: Vec<usize> = match &scan.projection {
        Some(p) => p.clone(),
        None => (0..batch.num_columns()).collect(),
    };
    let values = columns
        .into_iter()
        .map(|c| ScalarValue::try_from_array(batch.column(c), 0))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::array_value_to_string;
    use datafusion::prelude::SessionContext;

    use super::ConstantRow;

    /// t: (a, 1), (b, 5), (c, 9), (d, NULL); rc: one row (run-1, 5), or with `two_rows` a second
    /// (run-2, 9).
    fn context(with_rule: bool, two_rows: bool) -> SessionContext {
        let ctx = SessionContext::new();
        if with_rule {
            ctx.add_optimizer_rule(Arc::new(ConstantRow));
        }
        let t = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("d", DataType::Int64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
                Arc::new(Int64Array::from(vec![Some(1), Some(5), Some(9), None])),
            ],
        )
        .expect("t");
        ctx.register_batch("t", t).expect("register t");
        let (runs, as_of) = if two_rows {
            (vec!["run-1", "run-2"], vec![5_i64, 9])
        } else {
            (vec!["run-1"], vec![5_i64])
        };
        let rc = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("run_id", DataType::Utf8, false),
                Field::new("as_of", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(runs)),
                Arc::new(Int64Array::from(as_of)),
            ],
        )
        .expect("rc");
        ctx.register_batch("rc", rc).expect("register rc");
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (Vec<String>, String) {
        let df = ctx.sql(sql).await.expect("plans");
        let plan = df
            .clone()
            .into_optimized_plan()
            .expect("optimizes")
            .display_indent()
            .to_string();
        let mut rows = Vec::new();
        for b in df.collect().await.expect("runs") {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = (0..b.num_columns())
                    .map(|c| array_value_to_string(b.column(c), r).expect("cell"))
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        rows.sort();
        (rows, plan)
    }

    #[tokio::test]
    async fn a_cross_join_with_a_one_row_table_becomes_constants() {
        // as_of is 5: a (1) and b (5) are on or before it, c (9) after, d's NULL date passes the
        // `IS NULL` arm. Each kept row carries the run's columns, read by qualified name.
        for sql in [
            "SELECT t.id, r.run_id, r.as_of FROM t CROSS JOIN rc r WHERE t.d IS NULL OR t.d <= r.as_of",
            "SELECT t.id, r.run_id, r.as_of FROM rc r CROSS JOIN t WHERE t.d IS NULL OR t.d <= r.as_of",
            "SELECT * FROM t, rc WHERE t.d IS NULL OR t.d <= rc.as_of",
        ] {
            let (rows, plan) = run(&context(true, false), sql).await;
            let expected: Vec<&str> = if sql.starts_with("SELECT *") {
                vec!["a|1|run-1|5", "b|5|run-1|5", "d||run-1|5"]
            } else {
                vec!["a|run-1|5", "b|run-1|5", "d|run-1|5"]
            };
            assert_eq!(rows, expected, "{sql}\n{plan}");
            assert!(!plan.contains("Join"), "{sql}\n{plan}");
            // The filter reaches the scan of t with the literal in place of the column.
            assert!(plan.contains("t.d <= Int64(5)"), "{sql}\n{plan}");
            let (plain, plain_plan) = run(&context(false, false), sql).await;
            assert_eq!(rows, plain, "{sql}");
            assert!(plain_plan.contains("Join"), "{plain_plan}");
        }
    }

    #[tokio::test]
    async fn a_table_of_two_rows_is_joined_as_written() {
        // run-1 (5) keeps a, b, d; run-2 (9) keeps a, b, c, d: seven rows.
        let sql =
            "SELECT t.id, r.run_id FROM t CROSS JOIN rc r WHERE t.d IS NULL OR t.d <= r.as_of";
        let (rows, plan) = run(&context(true, true), sql).await;
        assert!(plan.contains("Join"), "{plan}");
        assert_eq!(rows.len(), 7, "{rows:?}");
        assert_eq!(rows, run(&context(false, true), sql).await.0);
    }
}
