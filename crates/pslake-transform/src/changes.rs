//! Rebuilding only what changed. A table model kept by month (`partition_by`) whose one changed
//! input is its `partition_input` rebuilds only the months that input changed in this build; an
//! incremental model whose one changed input is its `new_rows_from` landing reads only the files
//! landed since its last build and merges them on its `unique_key` (rewriting only the months
//! holding those keys when it is kept by month). Everything else rebuilds whole.
//!
//! What "changed" means comes from the published table's commit: it records each input's
//! identity when it was built ([`fingerprint::INPUTS_KEY`]); the build compares them with the
//! inputs of now. A partial rebuild is only taken when the published table is known to be the
//! result of the inputs as they were (same identities, its input's months known), and it is
//! checked: a model that writes a row outside the months it rebuilds fails.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, JoinType, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use pslake_lake::{Month, TableFile, TableName};
use url::Url;

use crate::execute::Runner;
use crate::fingerprint;
use crate::project::Model;
use crate::stream;

/// How a model is rebuilt in this build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// From all of its inputs.
    Full,
    /// Only these months, from the rows of its `partition_input` they reach (the same months,
    /// or with a [`crate::project::PartitionReach`] their windows of the input).
    Months(BTreeSet<Month>),
    /// Only the rows of these files of its `new_rows_from` table, merged on the unique key.
    NewRows(Vec<Url>),
}

impl Runner<'_> {
    /// How model `i` is rebuilt: partially only when the published table is what the recorded
    /// inputs gave and exactly one input changed, the one its configuration names. `files` are
    /// the published data files of a model kept by month (empty otherwise).
    pub(crate) async fn mode(
        &self,
        i: usize,
        m: &Model,
        files: &[TableFile],
    ) -> Result<Mode, String> {
        if self.opts.full_refresh || !self.lake_tables.contains(&m.name) {
            return Ok(Mode::Full);
        }
        let Some(recorded) = self.published.get(&i).filter(|r| !r.inputs.is_empty()) else {
            return Ok(Mode::Full);
        };
        let now = self.inputs(i).unwrap_or_default();
        let changed: BTreeSet<&String> = now
            .keys()
            .chain(recorded.inputs.keys())
            .filter(|k| now.get(*k) != recorded.inputs.get(*k))
            .collect();
        // `t` is the one input that changed
        let only = |t: &TableName| changed.len() == 1 && changed.contains(&t.to_string());
        if m.partition_by.is_some() && (files.is_empty() || files.iter().any(|f| f.month.is_none()))
        {
            // Not kept by month yet (built before partition_by): rebuilt whole once.
            return Ok(Mode::Full);
        }
        if let Some(t) = &m.new_rows_from
            && only(t)
        {
            let since = recorded
                .inputs
                .get(&t.to_string())
                .and_then(|v| fingerprint::identity_version(v));
            if let Some(since) = since {
                let added = self
                    .lake
                    .files_added_since(t, since)
                    .await
                    .map_err(|e| format!("reading what {t} gained: {e}"))?;
                if let Some(files) = added {
                    return Ok(Mode::NewRows(files));
                }
            }
        }
        if let Some(input) = &m.partition_input
            && only(&input.table)
        {
            let t = &input.table;
            let Some(p) = self.project.models().iter().position(|x| &x.name == t) else {
                return Ok(Mode::Full);
            };
            // The published table was built from the input's published version, whose
            // changed months this build knows.
            let built_from = recorded.inputs.get(&t.to_string());
            let input_published = self.published.get(&p).and_then(|r| r.fingerprint.as_ref());
            let months = self.months.lock().expect("months").get(&p).cloned();
            if built_from.is_some()
                && built_from == input_published
                && let Some(Some(months)) = months
            {
                return Ok(Mode::Months(match &input.reach {
                    Some(r) => months_reaching(&months, r.span_days),
                    None => months,
                }));
            }
        }
        Ok(Mode::Full)
    }

    /// The published data files of `m`'s table.
    pub(crate) async fn published_files(&self, m: &Model) -> Result<Vec<TableFile>, String> {
        self.lake
            .table_files(&m.name)
            .await
            .map_err(|e| format!("listing the published files: {e}"))
    }
}

/// `df`'s plan with every read of `table` replaced by `f` of it: a scan of a Delta or file
/// table, or the plan of a view or registered result, which the planner inlines under an alias
/// of the table's name. `f` must keep the read's schema (its columns, qualified by the name).
fn rewrite_reads(
    df: DataFrame,
    table: &TableName,
    f: impl Fn(LogicalPlan, TableReference) -> datafusion::error::Result<LogicalPlan>,
) -> Result<DataFrame, String> {
    let (state, plan) = df.into_parts();
    let mut found = false;
    let plan = plan
        .transform_down(|node| {
            let name = match &node {
                LogicalPlan::TableScan(scan) => Some(scan.table_name.clone()),
                LogicalPlan::SubqueryAlias(alias) => Some(alias.alias.clone()),
                _ => None,
            };
            match name.filter(|n| is_table(n, table)) {
                Some(name) => {
                    found = true;
                    Ok(Transformed::new(
                        f(node, name)?,
                        true,
                        TreeNodeRecursion::Jump,
                    ))
                }
                None => Ok(Transformed::no(node)),
            }
        })
        .map_err(|e| e.strip_backtrace())?
        .data;
    if !found {
        return Err(format!("the model's plan does not read {table}"));
    }
    Ok(DataFrame::new(state, plan))
}

fn is_table(r: &TableReference, t: &TableName) -> bool {
    r.table() == t.name && r.schema() == Some(t.schema.as_str())
}

/// The months a model rebuilds when its `partition_input`, which its rows reach `span_days`
/// days into, changed in `changed`: those months and every earlier one whose last rows reach
/// into one of them (with a span of one day, only `changed`).
pub(crate) fn months_reaching(changed: &BTreeSet<Month>, span_days: u32) -> BTreeSet<Month> {
    let beyond = chrono::Days::new(u64::from(span_days.saturating_sub(1)));
    let mut months = changed.clone();
    for m in changed {
        let Some((first, _)) = m.range() else {
            continue;
        };
        // The earlier months, latest first, while the rows of their last day reach `first`.
        let mut after = first;
        while let Some(last_day) = after.pred_opt() {
            if last_day
                .checked_add_days(beyond)
                .is_none_or(|reach| reach < first)
            {
                break;
            }
            let before = Month::of(last_day);
            months.insert(before);
            after = before.range().map_or(last_day, |(f, _)| f);
        }
    }
    months
}

/// `df`, the query of `m` (kept by month), rebuilding only `months`: it reads its
/// `partition_input` only in them, or over the days their rows reach
/// ([`crate::project::PartitionReach`]); then its rows outside them, made from only part of what
/// they reach, are left out (their published files stay).
pub(crate) fn rebuilding_months(
    df: DataFrame,
    m: &Model,
    months: &BTreeSet<Month>,
) -> Result<DataFrame, String> {
    let partition_input = m
        .partition_input
        .as_ref()
        .ok_or("a rebuild of some months needs a partition_input")?;
    let input = &partition_input.table;
    let field = m
        .partition_by
        .as_deref()
        .ok_or("a rebuild of some months needs partition_by")?;
    let Some(reach) = &partition_input.reach else {
        return only_months(df, input, field, months, 1);
    };
    let column = Expr::Column(Column::from_name(field));
    only_months(df, input, &reach.field, months, reach.span_days)?
        .filter(in_months(column, months, 1))
        .map_err(|e| format!("keeping the rebuilt months: {}", e.strip_backtrace()))
}

/// `df` reading only the rows of `input` whose `field` falls in `months`, or, when the model's
/// rows reach `span_days` days into the input, in the days those months' rows reach (a month
/// and the `span_days - 1` days after it).
fn only_months(
    df: DataFrame,
    input: &TableName,
    field: &str,
    months: &BTreeSet<Month>,
    span_days: u32,
) -> Result<DataFrame, String> {
    rewrite_reads(df, input, |read, name| {
        if read.schema().field_with_unqualified_name(field).is_err() {
            return Err(DataFusionError::Plan(format!(
                "{input} has no column {field}"
            )));
        }
        let column = Expr::Column(Column::new(Some(name), field));
        LogicalPlanBuilder::from(read)
            .filter(in_months(column, months, span_days))?
            .build()
    })
}

/// `column` (a DATE) falls in one of `months`, or in the `span_days - 1` days after it (NULL
/// for [`Month::NONE`]).
fn in_months(column: Expr, months: &BTreeSet<Month>, span_days: u32) -> Expr {
    let date = |d: chrono::NaiveDate| {
        let days = (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
        lit(ScalarValue::Date32(Some(days as i32)))
    };
    let beyond = chrono::Days::new(u64::from(span_days.saturating_sub(1)));
    months
        .iter()
        .map(|m| match m.range() {
            Some((first, next)) => column.clone().gt_eq(date(first)).and(
                column
                    .clone()
                    .lt(date(next.checked_add_days(beyond).unwrap_or(next))),
            ),
            None => column.clone().is_null(),
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false))
}

/// `df` reading, of `input` (a Delta table of the lake), only the rows of `files`, its data
/// files, read with the schema the session gives the table.
pub(crate) fn only_files(
    ctx: &SessionContext,
    df: DataFrame,
    input: &TableName,
    files: &[Url],
) -> Result<DataFrame, String> {
    rewrite_reads(df, input, |read, name| {
        let columns = read.schema().as_arrow().clone();
        let provider: Arc<dyn TableProvider> =
            stream::files_provider(files, Arc::new(columns.clone()))?;
        let provider = pslake_lake::expose_deleted(ctx, input, provider)?;
        let scan = LogicalPlanBuilder::scan(name.clone(), provider_as_source(provider), None)?;
        // The read's columns, in its order, under its name.
        let exprs: Vec<Expr> = columns
            .fields()
            .iter()
            .map(|f| Expr::Column(Column::new(Some(name.clone()), f.name())))
            .collect();
        scan.project(exprs)?.alias(name)?.build()
    })
}

/// The months of `field` among the rows of `old` whose unique key is among `new`'s keys.
pub(crate) async fn months_of_keys(
    old: DataFrame,
    new: DataFrame,
    m: &Model,
    field: &str,
) -> Result<BTreeSet<Month>, String> {
    let aliases: Vec<String> = (0..m.unique_key.len())
        .map(|i| format!("__pslake_key_{i}"))
        .collect();
    let keys: Vec<Expr> = m
        .unique_key
        .iter()
        .zip(&aliases)
        .map(|(k, a)| Expr::Column(Column::from_name(k.as_str())).alias(a))
        .collect();
    let left: Vec<&str> = m.unique_key.iter().map(String::as_str).collect();
    let right: Vec<&str> = aliases.iter().map(String::as_str).collect();
    let batches = new
        .select(keys)
        .and_then(|k| k.distinct())
        .and_then(|k| old.join(k, JoinType::LeftSemi, &left, &right, None))
        .and_then(|j| j.select_columns(&[field]))
        .and_then(|j| j.distinct())
        .map_err(|e| {
            format!(
                "finding the months of the merged keys: {}",
                e.strip_backtrace()
            )
        })?
        .collect()
        .await
        .map_err(|e| {
            format!(
                "finding the months of the merged keys: {}",
                e.strip_backtrace()
            )
        })?;
    let mut months = BTreeSet::new();
    for b in &batches {
        let dates = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Date32)
            .map_err(|e| format!("{field}: {e}"))?;
        let dates = dates
            .as_any()
            .downcast_ref::<arrow::array::Date32Array>()
            .ok_or_else(|| format!("{field} is not a DATE"))?;
        for i in 0..dates.len() {
            months.insert(if arrow::array::Array::is_null(dates, i) {
                Month::NONE
            } else {
                Month::of_days(dates.value(i))
            });
        }
    }
    Ok(months)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(list: &[&str]) -> BTreeSet<Month> {
        list.iter()
            .map(|m| {
                let d = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d");
                Month::of(d.expect("a YYYY-MM month"))
            })
            .collect()
    }

    #[test]
    fn the_months_rebuilt_are_those_whose_rows_reach_a_changed_month() {
        let changed = months(&["2026-03", "2026-05"]);
        // One day: a row reaches only its own month.
        assert_eq!(months_reaching(&changed, 1), changed);
        // Seven days: February 28th reaches March 6th, April 30th reaches May 6th.
        assert_eq!(
            months_reaching(&changed, 7),
            months(&["2026-02", "2026-03", "2026-04", "2026-05"])
        );
        // 30 days: January 31st reaches March 1st (2026-01-31 + 29 days), December 31st only
        // January 29th.
        assert_eq!(
            months_reaching(&months(&["2026-03"]), 30),
            months(&["2026-01", "2026-02", "2026-03"])
        );
        // 29 days: January 31st reaches February 28th, not March.
        assert_eq!(
            months_reaching(&months(&["2026-03"]), 29),
            months(&["2026-02", "2026-03"])
        );
        // The rows with no date reach nothing else.
        let none: BTreeSet<Month> = [Month::NONE].into();
        assert_eq!(months_reaching(&none, 7), none);
    }
}
