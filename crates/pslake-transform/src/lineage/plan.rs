//! Column lineage inside one logical plan: for each output column of a model's plan, the columns
//! of the tables it scans that the column is computed from.
//!
//! The plan is DataFusion's *unoptimized* logical plan, as the SQL planner builds it from the
//! model's text. It is the one that still says what the SQL says: every CTE and subquery alias is
//! there as a `SubqueryAlias`, every scalar subquery as an expression, nothing has been merged,
//! pushed down, decorrelated into joins or rewritten by an optimizer rule (pslake's own
//! [`crate::latest_row`] rule included); and it needs no analyzer or optimizer pass that could
//! fail on its own. The optimizer changes how rows are computed, never which input columns a
//! value is computed from, so nothing is lost by reading the plan before it.
//!
//! The walk is bottom-up. A `TableScan` gives each of its columns itself; every other node maps
//! its output columns to its inputs' by position (`Filter`, `Sort`, `Limit`, `SubqueryAlias`,
//! `Union`, ...), by qualified name (`Join`) or through its expressions (`Projection`,
//! `Aggregate`, `Window`), whose column references are resolved in the input schema as DataFusion
//! resolves them (so columns qualified by a CTE or alias name resolve to that alias's input).
//!
//! Each dependency has a [`Flow`]: [`Flow::Direct`] when the input's value flows into the output
//! value (arithmetic, casts, function arguments, aggregate and window arguments, a `CASE`'s
//! results), [`Flow::Indirect`] when the input only decides which value is taken (a `CASE`
//! condition, an aggregate's `FILTER`, a window's `PARTITION BY`/`ORDER BY`). Columns that only
//! filter, join, group or sort rows (`WHERE`, `ON`, `GROUP BY` of another column, `ORDER BY`)
//! shape which rows exist, not any value, and are not dependencies of a column.

use std::collections::BTreeMap;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::logical_expr::utils::grouping_set_to_exprlist;
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan};

/// How an input column takes part in an output column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    /// The input's value flows into the output's (arithmetic, casts, function and aggregate
    /// arguments, a `CASE`'s results).
    Direct,
    /// The input decides which value is taken, without flowing into it (a `CASE` condition, an
    /// aggregate `FILTER`, a window's `PARTITION BY` and `ORDER BY`).
    Indirect,
}

impl Flow {
    /// The flow along two steps: direct only when both are.
    pub fn then(self, next: Flow) -> Flow {
        self.max(next)
    }
}

/// A scanned table's column: `(table as DataFusion names it, column)`.
pub(crate) type Source = (TableReference, String);

/// One output column's dependencies, each with its strongest flow.
pub(crate) type Deps = BTreeMap<Source, Flow>;

fn merge(into: &mut Deps, from: &Deps, flow: Flow) {
    for (source, f) in from {
        let f = flow.then(*f);
        into.entry(source.clone())
            .and_modify(|old| *old = (*old).min(f))
            .or_insert(f);
    }
}

/// The dependencies of each output column of `plan`, in the order of its schema.
pub(crate) fn plan_columns(plan: &LogicalPlan) -> Result<Vec<Deps>, String> {
    let width = plan.schema().fields().len();
    let out = match plan {
        LogicalPlan::TableScan(scan) => scan
            .projected_schema
            .fields()
            .iter()
            .map(|f| Deps::from([((scan.table_name.clone(), f.name().clone()), Flow::Direct)]))
            .collect(),
        LogicalPlan::Projection(p) => {
            let input = plan_columns(&p.input)?;
            exprs_columns(&p.expr, p.input.schema(), &input)?
        }
        LogicalPlan::Filter(f) => plan_columns(&f.input)?,
        LogicalPlan::Sort(s) => plan_columns(&s.input)?,
        LogicalPlan::Limit(l) => plan_columns(&l.input)?,
        LogicalPlan::Repartition(r) => plan_columns(&r.input)?,
        LogicalPlan::SubqueryAlias(a) => plan_columns(&a.input)?,
        LogicalPlan::Subquery(s) => plan_columns(&s.subquery)?,
        LogicalPlan::Distinct(Distinct::All(input)) => plan_columns(input)?,
        LogicalPlan::Distinct(Distinct::On(d)) => {
            let input = plan_columns(&d.input)?;
            exprs_columns(&d.select_expr, d.input.schema(), &input)?
        }
        LogicalPlan::Window(w) => {
            let mut out = plan_columns(&w.input)?;
            out.extend(exprs_columns(
                &w.window_expr,
                w.input.schema(),
                &out.clone(),
            )?);
            out
        }
        LogicalPlan::Aggregate(a) => {
            let input = plan_columns(&a.input)?;
            let group: Vec<Expr> = grouping_set_to_exprlist(&a.group_expr)
                .map_err(|e| e.strip_backtrace())?
                .into_iter()
                .cloned()
                .collect();
            let mut out = exprs_columns(&group, a.input.schema(), &input)?;
            let aggregates = exprs_columns(&a.aggr_expr, a.input.schema(), &input)?;
            // Grouping sets add an internal grouping id between the two: it depends on nothing.
            while out.len() + aggregates.len() < width {
                out.push(Deps::new());
            }
            out.extend(aggregates);
            out
        }
        LogicalPlan::Join(j) => {
            let left = plan_columns(&j.left)?;
            let right = plan_columns(&j.right)?;
            (0..width)
                .map(|i| {
                    let (qualifier, field) = j.schema.qualified_field(i);
                    let column = Column::new(qualifier.cloned(), field.name());
                    if let Some(k) = j.left.schema().maybe_index_of_column(&column) {
                        left[k].clone()
                    } else if let Some(k) = j.right.schema().maybe_index_of_column(&column) {
                        right[k].clone()
                    } else {
                        // A mark join's boolean: which rows matched, not a value.
                        Deps::new()
                    }
                })
                .collect()
        }
        LogicalPlan::Union(u) => {
            let mut out = vec![Deps::new(); width];
            for input in &u.inputs {
                for (i, deps) in plan_columns(input)?.iter().enumerate().take(width) {
                    merge(&mut out[i], deps, Flow::Direct);
                }
            }
            out
        }
        LogicalPlan::Unnest(u) => {
            let input = plan_columns(&u.input)?;
            u.dependency_indices
                .iter()
                .map(|&k| input.get(k).cloned().unwrap_or_default())
                .collect()
        }
        LogicalPlan::RecursiveQuery(r) => {
            let mut out = vec![Deps::new(); width];
            for term in [&r.static_term, &r.recursive_term] {
                for (i, deps) in plan_columns(term)?.iter().enumerate().take(width) {
                    // The work table (the CTE's own name) is the query itself, not an input.
                    let own = |s: &Source| s.0.table() == r.name && s.0.schema().is_none();
                    let deps: Deps = deps
                        .iter()
                        .filter(|(s, _)| !own(s))
                        .map(|(s, f)| (s.clone(), *f))
                        .collect();
                    merge(&mut out[i], &deps, Flow::Direct);
                }
            }
            out
        }
        LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => vec![Deps::new(); width],
        other => {
            // Anything else (an extension node, ...): a column an input has under the same
            // qualified name is passed through; the rest depends on every column the node's
            // expressions read.
            let inputs: Vec<(&LogicalPlan, Vec<Deps>)> = other
                .inputs()
                .into_iter()
                .map(|p| plan_columns(p).map(|d| (p, d)))
                .collect::<Result<_, _>>()?;
            let mut used = Deps::new();
            for e in other.expressions() {
                for (p, deps) in &inputs {
                    if let Ok(d) = expr_columns(&e, p.schema(), deps) {
                        merge(&mut used, &d, Flow::Direct);
                    }
                }
            }
            (0..width)
                .map(|i| {
                    let (qualifier, field) = other.schema().qualified_field(i);
                    let column = Column::new(qualifier.cloned(), field.name());
                    inputs
                        .iter()
                        .find_map(|(p, deps)| {
                            p.schema()
                                .maybe_index_of_column(&column)
                                .map(|k| deps[k].clone())
                        })
                        .unwrap_or_else(|| used.clone())
                })
                .collect()
        }
    };
    if out.len() != width {
        return Err(format!(
            "lineage of a {} node: {} columns for a schema of {width}",
            plan.display(),
            out.len()
        ));
    }
    Ok(out)
}

fn exprs_columns(exprs: &[Expr], schema: &DFSchema, input: &[Deps]) -> Result<Vec<Deps>, String> {
    exprs
        .iter()
        .map(|e| expr_columns(e, schema, input))
        .collect()
}

/// The dependencies of one expression evaluated over an input with `schema`, whose columns
/// depend on `input`.
pub(crate) fn expr_columns(expr: &Expr, schema: &DFSchema, input: &[Deps]) -> Result<Deps, String> {
    let mut out = Deps::new();
    walk(expr, schema, input, Flow::Direct, &mut out)?;
    Ok(out)
}

/// The columns of a subquery, all of them, as one set (a scalar subquery has one column; an
/// `IN` subquery's column is compared with the outer expression).
fn subquery(plan: &LogicalPlan) -> Result<Deps, String> {
    let mut out = Deps::new();
    for deps in plan_columns(plan)? {
        merge(&mut out, &deps, Flow::Direct);
    }
    Ok(out)
}

fn walk(
    expr: &Expr,
    schema: &DFSchema,
    input: &[Deps],
    flow: Flow,
    out: &mut Deps,
) -> Result<(), String> {
    let each = |e: &Expr, flow: Flow, out: &mut Deps| walk(e, schema, input, flow, out);
    match expr {
        Expr::Column(c) => {
            let k = schema
                .maybe_index_of_column(c)
                .or_else(|| {
                    // A name the planner gave an unqualified expression (`sum(t.x)`), read
                    // through an alias: the one field of that name.
                    let matches: Vec<usize> = (0..schema.fields().len())
                        .filter(|&i| schema.field(i).name() == &c.name)
                        .collect();
                    (matches.len() == 1).then(|| matches[0])
                })
                .ok_or_else(|| format!("column {c} is not in its input ({schema})"))?;
            merge(out, &input[k], flow);
        }
        // An outer query's column inside a subquery: it is a condition of the subquery's rows.
        Expr::OuterReferenceColumn(..) => {}
        Expr::Case(case) => {
            if let Some(e) = &case.expr {
                each(e, Flow::Indirect, out)?;
            }
            for (when, then) in &case.when_then_expr {
                each(when, Flow::Indirect, out)?;
                each(then, flow, out)?;
            }
            if let Some(e) = &case.else_expr {
                each(e, flow, out)?;
            }
        }
        Expr::AggregateFunction(agg) => {
            for a in &agg.params.args {
                each(a, flow, out)?;
            }
            if let Some(f) = &agg.params.filter {
                each(f, Flow::Indirect, out)?;
            }
            for s in &agg.params.order_by {
                each(&s.expr, Flow::Indirect, out)?;
            }
        }
        Expr::WindowFunction(w) => {
            for a in &w.params.args {
                each(a, flow, out)?;
            }
            for e in &w.params.partition_by {
                each(e, Flow::Indirect, out)?;
            }
            for s in &w.params.order_by {
                each(&s.expr, Flow::Indirect, out)?;
            }
            if let Some(f) = &w.params.filter {
                each(f, Flow::Indirect, out)?;
            }
        }
        Expr::ScalarSubquery(sq) => merge(out, &subquery(&sq.subquery)?, flow),
        Expr::InSubquery(sq) => {
            each(&sq.expr, flow, out)?;
            merge(out, &subquery(&sq.subquery.subquery)?, flow);
        }
        Expr::SetComparison(sc) => {
            each(&sc.expr, flow, out)?;
            merge(out, &subquery(&sc.subquery.subquery)?, flow);
        }
        // Whether a row exists: a condition, not a value.
        Expr::Exists(e) => merge(out, &subquery(&e.subquery.subquery)?, Flow::Indirect),
        other => {
            let mut result = Ok(());
            let _ = other.apply_children(|child| {
                result = each(child, flow, out);
                Ok(if result.is_ok() {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            });
            result?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A session with `raw.t(id, a, b, c)` and `raw.u(id, x, d)` (strings and integers).
    async fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.sql("CREATE SCHEMA raw").await.expect("schema");
        for (name, cols) in [
            ("t", &["id", "a", "b", "c"][..]),
            ("u", &["id", "x", "d"][..]),
        ] {
            let fields: Vec<Field> = cols
                .iter()
                .map(|c| {
                    let t = if *c == "id" || *c == "d" {
                        DataType::Utf8
                    } else {
                        DataType::Int64
                    };
                    Field::new(*c, t, true)
                })
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
            ctx.register_table(format!("raw.{name}"), Arc::new(table))
                .expect("register");
        }
        ctx
    }

    /// `output column -> ["raw.t.a", "~raw.t.b"]` (`~`: indirect), for assertions.
    async fn lineage(sql: &str) -> Vec<(String, Vec<String>)> {
        let ctx = ctx().await;
        let df = ctx.sql(sql).await.expect("plans");
        let plan = df.logical_plan();
        let cols = plan_columns(plan).unwrap_or_else(|e| panic!("{e}\n{}", plan.display_indent()));
        plan.schema()
            .fields()
            .iter()
            .zip(cols)
            .map(|(f, deps)| {
                let mut names: Vec<String> = deps
                    .iter()
                    .map(|((t, c), flow)| {
                        let mark = if *flow == Flow::Indirect { "~" } else { "" };
                        format!("{mark}{t}.{c}")
                    })
                    .collect();
                names.sort();
                (f.name().clone(), names)
            })
            .collect()
    }

    fn cols(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(c, deps)| (c.to_string(), deps.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[tokio::test]
    async fn projections_ctes_and_aliases() {
        let got = lineage(
            "WITH x AS (SELECT id AS k, a + b AS ab FROM raw.t), y AS (SELECT k, ab * 2 AS ab2 FROM x)
             SELECT z.k, CAST(z.ab2 AS DOUBLE) AS v, 1 AS one FROM y AS z",
        )
        .await;
        assert_eq!(
            got,
            cols(&[
                ("k", &["raw.t.id"]),
                ("v", &["raw.t.a", "raw.t.b"]),
                ("one", &[])
            ])
        );
    }

    #[tokio::test]
    async fn joins_keep_each_side_and_filters_add_nothing() {
        let got = lineage(
            "SELECT t.id, u.x, t.a * u.x AS ax FROM raw.t t LEFT JOIN raw.u u ON u.id = t.id WHERE t.c > 0",
        )
        .await;
        assert_eq!(
            got,
            cols(&[
                ("id", &["raw.t.id"]),
                ("x", &["raw.u.x"]),
                ("ax", &["raw.t.a", "raw.u.x"])
            ])
        );
    }

    #[tokio::test]
    async fn aggregates_windows_and_case_conditions() {
        let got = lineage(
            "WITH ranked AS (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY c DESC) AS rn FROM raw.t t)
             SELECT id, sum(CASE WHEN c > 0 THEN a ELSE 0 END) AS s, count(*) AS n, max(rn) AS top
             FROM ranked WHERE rn = 1 GROUP BY id",
        )
        .await;
        assert_eq!(
            got,
            cols(&[
                ("id", &["raw.t.id"]),
                ("s", &["raw.t.a", "~raw.t.c"]),
                ("n", &[]),
                ("top", &["~raw.t.c", "~raw.t.id"]),
            ])
        );
    }

    #[tokio::test]
    async fn unions_and_subqueries() {
        let got = lineage(
            "SELECT id, a AS v FROM raw.t
             UNION ALL SELECT id, (SELECT max(x) FROM raw.u) AS v FROM raw.u
             UNION SELECT d, least((SELECT min(b) FROM raw.t), 3) FROM raw.u",
        )
        .await;
        assert_eq!(
            got,
            cols(&[
                ("id", &["raw.t.id", "raw.u.d", "raw.u.id"]),
                ("v", &["raw.t.a", "raw.t.b", "raw.u.x"])
            ])
        );
    }

    #[tokio::test]
    async fn unnest_of_a_series() {
        let got = lineage(
            "SELECT CAST(m AS DATE) AS month FROM (SELECT unnest(generate_series(min(a), max(b))) AS m FROM raw.t) g",
        )
        .await;
        assert_eq!(got, cols(&[("month", &["raw.t.a", "raw.t.b"])]));
    }
}
