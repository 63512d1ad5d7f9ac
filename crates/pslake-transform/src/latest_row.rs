//! The "latest row per key" idiom of staging models, planned without a window partition per key.
//!
//! ```sql
//! SELECT * FROM (
//!     SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC) AS rn FROM t
//! ) WHERE rn = 1
//! ```
//!
//! DataFusion evaluates `row_number() OVER (PARTITION BY id ...)` partition by partition; with
//! a key per record (hundreds of thousands of one-row partitions) that bookkeeping, not the
//! sort, is most of the cost. The same rows are the first of each key in one sort by
//! `id, <order>`: a row is kept when the row before it has another key. So the filter over the
//! window becomes
//!
//! ```text
//! Projection(<input columns>, 1 AS rn)            -- every kept row had rn = 1
//!   Filter(prev_id IS DISTINCT FROM id OR first IS NULL, <other conjuncts>)
//!     Window(lag(id) OVER (ORDER BY id, <order>) AS prev_id,
//!            lag(true) OVER (ORDER BY id, <order>) AS first)   -- NULL on the first row only
//! ```
//!
//! which keeps exactly the rows `rn = 1` keeps (ties in the order are broken arbitrarily by
//! both). It fires only on that exact shape: one `row_number()` with a single column in
//! `PARTITION BY`, alone in its window node, under a filter with a conjunct `rn = 1` (directly
//! or through a projection that only passes columns on). Measured on 758k time entries (scale
//! 10, Python DataFusion 55, 2 threads): the window 6.9 s, the sort and lag 3.3 s.
//!
//! When the window reads a lake table whose log proves one row per key ([`UniqueKeys`],
//! `pslake_lake::unique`: a raw table landed by one run with no key repeated), every row is its
//! key's latest, and the rule plans no window at all: `1 AS rn` over the table. At scale 100
//! (7.8M time entries) that took `stg_kantata_time_entries`' build from 9.5-11.2 s to 5.8-6.5 s.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result, ScalarValue, TableReference};
use datafusion::functions_window::expr_fn::lag;
use datafusion::functions_window::row_number::RowNumber;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprFunctionExt, Filter, LogicalPlan, Operator, Projection, SortExpr, Window,
    WindowFunctionDefinition, lit,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct LatestRowPerKey {
    unique: Arc<UniqueKeys>,
}

impl LatestRowPerKey {
    /// The rule, told which tables hold one row per key by `unique`.
    pub(crate) fn new(unique: Arc<UniqueKeys>) -> Self {
        LatestRowPerKey { unique }
    }
}

/// The session's lake tables whose one-column key holds one row per key at the version the
/// session reads (kept in the session's config; set when a lake table is registered, cleared
/// when anything else is registered under its name).
#[derive(Debug, Default)]
pub(crate) struct UniqueKeys(RwLock<HashMap<TableReference, String>>);

impl UniqueKeys {
    /// `table` holds one row per value of column `key` (`None`: not known to).
    pub(crate) fn set(&self, table: TableReference, key: Option<String>) {
        let mut m = self.0.write().expect("the unique keys' lock");
        match key {
            Some(k) => m.insert(table, k),
            None => m.remove(&table),
        };
    }

    /// Whether `plan` reads, through projections of columns, filters and aliases only, a
    /// table with one row per value of the column `key` names. The table is its scan, or the
    /// alias a view registered under its name is read through (a raw table without `_deleted`
    /// is such a view, [`pslake_lake::expose_deleted`]).
    fn holds(&self, plan: &LogicalPlan, key: &Expr) -> bool {
        let Expr::Column(key) = key else {
            return false;
        };
        let claimed = |t: &TableReference| {
            let m = self.0.read().expect("the unique keys' lock");
            m.get(t) == Some(&key.name)
        };
        let mut plan = plan;
        loop {
            plan = match plan {
                LogicalPlan::SubqueryAlias(a) if claimed(&a.alias) => return true,
                LogicalPlan::SubqueryAlias(a) => a.input.as_ref(),
                LogicalPlan::Filter(f) => f.input.as_ref(),
                LogicalPlan::Projection(p)
                    if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
                {
                    p.input.as_ref()
                }
                LogicalPlan::TableScan(scan) => return claimed(&scan.table_name),
                _ => return false,
            };
        }
    }
}

const PREVIOUS_KEY: &str = "__pslake_previous_key";
const FIRST_ROW: &str = "__pslake_first_row";

impl OptimizerRule for LatestRowPerKey {
    fn name(&self) -> &str {
        "pslake_latest_row_per_key"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // The window, directly under the filter or under a projection that only passes columns
        // through (which then stays on top).
        let (window, passing) = match filter.input.as_ref() {
            LogicalPlan::Window(w) => (w, None),
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                match p.input.as_ref() {
                    LogicalPlan::Window(w) => (w, Some(p)),
                    _ => return Ok(Transformed::no(plan)),
                }
            }
            _ => return Ok(Transformed::no(plan)),
        };
        let Some(shape) = matched(window) else {
            return Ok(Transformed::no(plan));
        };
        let conjuncts = split_conjunction_owned(filter.predicate.clone());
        let Some(at) = conjuncts
            .iter()
            .position(|c| is_equal_one(c, &shape.output))
        else {
            return Ok(Transformed::no(plan));
        };
        if self.unique.holds(&window.input, &shape.key) {
            return every_row(conjuncts, at, window, &shape.output.name, passing)
                .map(Transformed::yes);
        }
        let mut order = vec![SortExpr::new(shape.key.clone(), true, false)];
        order.extend(shape.order);
        let previous = lag(shape.key.clone(), Some(1), None)
            .order_by(order.clone())
            .build()?
            .alias(PREVIOUS_KEY);
        let first = lag(lit(true), Some(1), None)
            .order_by(order)
            .build()?
            .alias(FIRST_ROW);
        let new_window = Window::try_new(vec![previous, first], Arc::clone(&window.input))?;
        let kept = Expr::BinaryExpr(BinaryExpr::new(
            Box::new(Expr::Column(Column::from_name(PREVIOUS_KEY))),
            Operator::IsDistinctFrom,
            Box::new(shape.key),
        ))
        .or(Expr::Column(Column::from_name(FIRST_ROW)).is_null());
        let mut rest = conjuncts;
        rest[at] = kept;
        let predicate = conjunction(rest).expect("at least one conjunct");
        let new_filter = Filter::try_new(predicate, Arc::new(LogicalPlan::Window(new_window)))?;
        let rewritten = numbered(
            Arc::new(LogicalPlan::Filter(new_filter)),
            window,
            &shape.output.name,
            passing,
        )?;
        Ok(Transformed::yes(rewritten))
    }
}

/// `rows` (of the window's input columns) as the window's output: those columns, then the row
/// number (output column `rn`), 1 on every row; under `passing`, the projection above the
/// window, if any.
fn numbered(
    rows: Arc<LogicalPlan>,
    window: &Window,
    rn: &str,
    passing: Option<&Projection>,
) -> Result<LogicalPlan> {
    let mut columns: Vec<Expr> = window
        .input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    columns.push(lit(ScalarValue::UInt64(Some(1))).alias(rn));
    let numbered = LogicalPlan::Projection(Projection::try_new_with_schema(
        columns,
        rows,
        Arc::clone(&window.schema),
    )?);
    Ok(match passing {
        None => numbered,
        Some(p) => LogicalPlan::Projection(Projection::try_new_with_schema(
            p.expr.clone(),
            Arc::new(numbered),
            Arc::clone(&p.schema),
        )?),
    })
}

/// The filter over the window when every row is its key's only one: the window's input with
/// `1 AS <rn>`, under the filter's other conjuncts (and under `passing`, the projection above the
/// window, if any).
fn every_row(
    mut conjuncts: Vec<Expr>,
    at: usize,
    window: &Window,
    rn: &str,
    passing: Option<&Projection>,
) -> Result<LogicalPlan> {
    conjuncts.remove(at);
    let passed = numbered(Arc::clone(&window.input), window, rn, passing)?;
    Ok(match conjunction(conjuncts) {
        None => passed,
        Some(rest) => LogicalPlan::Filter(Filter::try_new(rest, Arc::new(passed))?),
    })
}

/// A window node holding one `row_number()` partitioned by one column.
struct Shape {
    /// The row number's output column.
    output: Column,
    /// The partition key.
    key: Expr,
    /// The window's ORDER BY.
    order: Vec<SortExpr>,
}

fn matched(window: &Window) -> Option<Shape> {
    let [expr] = window.window_expr.as_slice() else {
        return None;
    };
    let inner = match expr {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::WindowFunction(f) = inner else {
        return None;
    };
    let WindowFunction {
        fun: WindowFunctionDefinition::WindowUDF(udwf),
        params:
            WindowFunctionParams {
                args,
                partition_by,
                order_by,
                filter: None,
                ..
            },
    } = f.as_ref()
    else {
        return None;
    };
    let inner: &dyn Any = udwf.inner().as_ref();
    if inner.downcast_ref::<RowNumber>().is_none() || !args.is_empty() {
        return None;
    }
    let [key @ Expr::Column(_)] = partition_by.as_slice() else {
        return None;
    };
    // The window's own output column: the last field of its schema.
    let (qualifier, field) = window
        .schema
        .qualified_field(window.schema.fields().len() - 1);
    Some(Shape {
        output: Column::new(qualifier.cloned(), field.name()),
        key: key.clone(),
        order: order_by.clone(),
    })
}

/// `c = 1` (either side), `c` the row number's output column.
fn is_equal_one(e: &Expr, c: &Column) -> bool {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = e
    else {
        return false;
    };
    let one = |e: &Expr| match e {
        Expr::Literal(v, _) => matches!(
            v,
            ScalarValue::UInt64(Some(1))
                | ScalarValue::Int64(Some(1))
                | ScalarValue::Int32(Some(1))
        ),
        _ => false,
    };
    let is_c = |e: &Expr| matches!(e, Expr::Column(x) if x.name == c.name);
    (is_c(left) && one(right)) || (one(left) && is_c(right))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::array_value_to_string;
    use datafusion::prelude::SessionContext;

    use datafusion::common::TableReference;

    use super::{LatestRowPerKey, UniqueKeys};

    /// id, v, ts: key `a` twice (ts 1, 2), `b` once, NULL twice (ts 1, 2), `c` once.
    fn context(with_rule: bool) -> SessionContext {
        let ctx = SessionContext::new();
        if with_rule {
            ctx.add_optimizer_rule(Arc::new(LatestRowPerKey::default()));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
            Field::new("ts", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("a"),
                    Some("b"),
                    None,
                    None,
                    Some("c"),
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])),
                Arc::new(Int64Array::from(vec![1, 2, 1, 1, 2, 1])),
            ],
        )
        .expect("batch");
        ctx.register_batch("t", batch).expect("register");
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
    async fn the_latest_row_per_key_is_kept_without_a_window_partition_per_key() {
        // Latest per id: a -> v 2 (ts 2), b -> 3, NULL -> 5 (NULL keys are one partition), c -> 6.
        // `v <> 2` applies after the dedup, so `a` is gone (its latest row has v 2), not `a|1`;
        // the row number is selected too and reads 1.
        let sql = "SELECT id, v, rn FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY ts DESC) AS rn FROM t) WHERE v <> 2 AND rn = 1";
        let (rows, plan) = run(&context(true), sql).await;
        assert_eq!(rows, vec!["b|3|1", "c|6|1", "|5|1"], "{plan}");
        assert!(plan.contains("lag"), "{plan}");
        assert!(!plan.contains("row_number"), "{plan}");
        let (plain, plain_plan) = run(&context(false), sql).await;
        assert_eq!(rows, plain);
        assert!(plain_plan.contains("row_number"), "{plain_plan}");
    }

    #[tokio::test]
    async fn the_staging_models_shape_is_rewritten_too() {
        // A CTE read under an alias, the filter pushed down to it by DataFusion: as above,
        // a -> gone (its latest has v 2), b, NULL -> 5, c.
        let sql = "WITH ranked AS (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY ts DESC) AS rn FROM t) \
                   SELECT r.id, r.v FROM ranked r LEFT JOIN t u ON u.v = r.v WHERE r.rn = 1 AND NOT coalesce(r.v = 2, false)";
        let (rows, plan) = run(&context(true), sql).await;
        assert_eq!(rows, vec!["b|3", "c|6", "|5"], "{plan}");
        assert!(!plan.contains("row_number"), "{plan}");
    }

    #[tokio::test]
    async fn a_table_with_one_row_per_key_is_read_without_a_window() {
        // `u`: ids a, b, c once each (v 1, 2, 3), claimed unique on `id`. Every row is its key's
        // latest: `v <> 2` leaves a and c, and rn reads 1. A claim on `v` says nothing of `id`.
        let u = |claim: &str| {
            let unique = Arc::new(UniqueKeys::default());
            unique.set(TableReference::bare("u"), Some(claim.to_string()));
            let ctx = SessionContext::new();
            ctx.add_optimizer_rule(Arc::new(LatestRowPerKey::new(unique)));
            let schema = Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, true),
                Field::new("v", DataType::Int64, false),
            ]));
            let batch = RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(vec!["a", "b", "c"])),
                    Arc::new(Int64Array::from(vec![1, 2, 3])),
                ],
            )
            .expect("batch");
            ctx.register_batch("u", batch).expect("register");
            ctx
        };
        let sql = "SELECT id, v, rn FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM u) WHERE v <> 2 AND rn = 1";
        let (rows, plan) = run(&u("id"), sql).await;
        assert_eq!(rows, vec!["a|1|1", "c|3|1"], "{plan}");
        assert!(
            !plan.contains("lag") && !plan.contains("row_number"),
            "{plan}"
        );
        let (rows, plan) = run(&u("v"), sql).await;
        assert_eq!(rows, vec!["a|1|1", "c|3|1"], "{plan}");
        assert!(plan.contains("lag"), "{plan}");
    }

    #[tokio::test]
    async fn other_shapes_are_left_to_datafusion() {
        // rn <= 2 and a two-column PARTITION BY are not the idiom: planned as written.
        for sql in [
            "SELECT id, v FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY ts DESC) AS rn FROM t) WHERE rn <= 2",
            "SELECT id, v FROM (SELECT *, row_number() OVER (PARTITION BY id, v ORDER BY ts DESC) AS rn FROM t) WHERE rn = 1",
        ] {
            let (rows, plan) = run(&context(true), sql).await;
            assert!(plan.contains("row_number"), "{plan}");
            assert_eq!(rows, run(&context(false), sql).await.0);
        }
    }
}
