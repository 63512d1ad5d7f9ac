//! Planning every model before any data exists (`pslake validate`), the way dbt's newer engine
//! checks SQL without a warehouse.
//!
//! The session holds an empty table for every raw table a pipeline declares (the types of its
//! YAML columns), the `_pslake` operational tables, the seeds and `pslake.run_context`; every
//! model is then planned in dependency order against its upstream models' planned (contract)
//! schemas, exactly as `build` plans against the lake. So an unknown column, a type error, a
//! date compared with a number and a contract mismatch fail here with file, line and column.

use std::collections::BTreeSet;

use arrow::datatypes::SchemaRef;
use chrono::Utc;
use datafusion::prelude::SessionContext;
use pslake_lake::TableName;

use crate::error::Problem;
use crate::planning::plan_models;
use crate::project::Project;
use crate::{dag, session};

/// Plans every model of `project` against empty tables: `raw_tables` (each raw table the
/// pipelines declare, with its schema), the `_pslake` tables, the seeds and
/// `pslake.run_context`. Returns every problem, each with its file and, when known, line and
/// column; a model reading a raw table no pipeline declares is one of them.
pub async fn validate_plans(
    project: &Project,
    raw_tables: &[(TableName, SchemaRef)],
) -> Vec<Problem> {
    let (ctx, mut problems) = offline_context(project, raw_tables);
    let declared: BTreeSet<&TableName> = raw_tables.iter().map(|(t, _)| t).collect();
    for m in project.models() {
        for r in &m.refs {
            if r.table.schema == "raw" && !declared.contains(&r.table) {
                problems.push(Problem::new(
                    &m.file,
                    (r.line > 0).then_some(r.line),
                    format!(
                        "model {}: table {} is not declared by any pipeline (pipelines/*.yml)",
                        m.name, r.table
                    ),
                ));
            }
        }
    }
    // Models reading an undeclared raw table are reported above and skipped, with their
    // downstream models.
    let all: BTreeSet<usize> = (0..project.models().len()).collect();
    let order = dag::order(project, &all);
    let planned = plan_models(project, &ctx, &order, true).await;
    problems.extend(planned.problems);
    problems
}

/// The session models are planned in without a lake: an empty table for each of `raw_tables` and
/// the `_pslake` tables, `pslake.run_context` (dated today) and the seeds; with the problems met
/// registering them.
pub(crate) fn offline_context(
    project: &Project,
    raw_tables: &[(TableName, SchemaRef)],
) -> (SessionContext, Vec<Problem>) {
    let ctx = session::new_context();
    let mut problems = Vec::new();
    for (t, schema) in raw_tables
        .iter()
        .cloned()
        .chain(session::operational_tables())
    {
        if let Err(e) = session::register_batches(&ctx, &t, schema, Vec::new()) {
            problems.push(Problem::new(
                project.root(),
                None,
                format!("registering {t}: {e}"),
            ));
        }
    }
    let today = Utc::now().date_naive();
    if let Err(e) = session::register_run_context(&ctx, "validate", today, today, Utc::now()) {
        problems.push(Problem::new(
            project.root(),
            None,
            format!("registering pslake.run_context: {e}"),
        ));
    }
    problems.extend(session::register_seeds(&ctx, project));
    (ctx, problems)
}
