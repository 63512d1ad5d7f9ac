//! `pslake test`: the selected models' tests against the published tables (rejects and
//! warnings models included: each has its table). Views are registered as views; nothing is
//! written.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;
use pslake_lake::{Lake, TableName};

use crate::checks;
use crate::contract;
use crate::dag;
use crate::error::Result;
use crate::execute::register_view;
use crate::planning::{
    BuildOptions, base_context, register_empty_self, with_unmaterialized_ancestors,
};
use crate::project::Project;
use crate::report::{ModelStatus, Reporter, TestReport};
use crate::select;
use crate::session::OpenedLake;

/// Runs the selected models' tests against the published tables (views are registered as
/// views, nothing is written).
pub async fn test(
    project: &Project,
    lake: &Lake,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<TestReport> {
    let started = Utc::now();
    let selected = select::select(project, opts.select.as_deref(), opts.exclude.as_deref())?;
    let opened = OpenedLake::open(lake).await?;
    let lake_tables: BTreeSet<TableName> = opened.names().iter().cloned().collect();
    let run = with_unmaterialized_ancestors(project, &selected, &lake_tables);
    let order = dag::order(project, &run);
    let ctx = base_context(project, lake, &opened, opts, started).await?;
    let mut report = TestReport::default();
    let mut broken: BTreeSet<usize> = BTreeSet::new();
    let parents = dag::parents(project);
    for i in order {
        let m = &project.models()[i];
        let name = m.name.to_string();
        let t0 = Instant::now();
        if let Some(p) = parents[i].iter().find(|p| broken.contains(p)) {
            broken.insert(i);
            if selected.contains(&i) {
                report.errors.push(format!(
                    "model {name}: not tested, upstream {} could not be computed",
                    project.models()[*p].name
                ));
            }
            continue;
        }
        if m.materialized.publishes() {
            if !lake_tables.contains(&m.name) {
                broken.insert(i);
                report.errors.push(format!(
                    "model {name} is not published yet (run `pslake build`)"
                ));
                continue;
            }
        } else {
            reporter.on_model_start(&name);
            let computed = async {
                register_empty_self(&ctx, m)?;
                let df = crate::session::model_query(&ctx, m)
                    .await
                    .map_err(|e| e.strip_backtrace())?;
                let planned = df.schema().as_arrow().clone();
                let schema = contract::check_schema(m, &planned).map_err(|e| {
                    let e: Vec<String> = e.iter().map(ToString::to_string).collect();
                    format!("contract: {}", e.join("; "))
                })?;
                register_view(&ctx, m, df, &schema).await?;
                Ok::<u64, String>(0)
            }
            .await;
            let (rows, status) = match computed {
                Ok(rows) => (rows, ModelStatus::Ok),
                Err(e) => {
                    broken.insert(i);
                    report
                        .errors
                        .push(format!("model {name} ({}): {e}", m.file.display()));
                    (0, ModelStatus::Failed(e))
                }
            };
            reporter.on_model_done(&name, rows, t0.elapsed(), &status);
            if status != ModelStatus::Ok {
                continue;
            }
        }
        if selected.contains(&i) {
            report
                .tests
                .extend(checks::run_tests(&ctx, m, checks::Scope::Whole).await);
        }
    }
    Ok(report)
}
