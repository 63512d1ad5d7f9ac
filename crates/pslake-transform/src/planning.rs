//! Planning models: the build's session (lake tables, seeds, `pslake.run_context`), which
//! models a selection needs, and planning every model (and its tests) with DataFusion before
//! anything runs, so a build that would fail to plan writes nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, Month, TableName};

use crate::changes;
use crate::checks;
use crate::cluster::Cluster;
use crate::contract;
use crate::dag;
use crate::error::{Error, Problem, ProjectErrors, Result};
use crate::project::{Materialization, Model, Project};
use crate::session::{self, OpenedLake};
use crate::snapshot;
use crate::typecheck;

/// What to build and with which run context.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// dbt-style selection (`model`, `+model`, `model+`, `n+model`, `@model`, `tag:x`, globs;
    /// space = union, comma = intersection).
    pub select: Option<String>,
    /// Models to leave out, same grammar (dbt's `--exclude`).
    pub exclude: Option<String>,
    /// The run's `as_of` date (`pslake.run_context.as_of`).
    pub as_of: NaiveDate,
    /// The first reported date (`pslake.run_context.history_start`).
    pub history_start: NaiveDate,
    /// The run id, recorded in every commit and operational row.
    pub run_id: String,
    /// Rebuild incremental models from scratch.
    pub full_refresh: bool,
    /// The pipeline name written in `_pslake.runs` (default `pslake`).
    pub pipeline: String,
    /// How many models may run at once (default: the number of CPUs).
    pub concurrency: usize,
    /// The cluster table models run on (`None`: in this process).
    pub cluster: Option<Arc<dyn Cluster>>,
    /// The extraction running beside the build, landing the raw tables it reads (`None`:
    /// everything is landed): each model starts once its lake tables have landed, and nothing
    /// is published unless the whole extraction succeeded (see [`crate::Landing`]).
    pub landing: Option<crate::Landing>,
}

impl BuildOptions {
    /// Options for one run, selecting every model.
    pub fn new(run_id: impl Into<String>, as_of: NaiveDate, history_start: NaiveDate) -> Self {
        Self {
            select: None,
            exclude: None,
            as_of,
            history_start,
            run_id: run_id.into(),
            full_refresh: false,
            pipeline: "pslake".into(),
            concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            cluster: None,
            landing: None,
        }
    }
}

fn df_err(context: impl Into<String>) -> impl FnOnce(DataFusionError) -> Error {
    let context = context.into();
    move |source| Error::DataFusion {
        context,
        source: Box::new(source),
    }
}

/// A session with the lake's tables, the seeds and `pslake.run_context`.
pub(crate) async fn base_context(
    project: &Project,
    lake: &Lake,
    opened: &OpenedLake,
    opts: &BuildOptions,
    started: DateTime<Utc>,
) -> Result<SessionContext> {
    let ctx = session::new_build_context(project.settings(), opts.cluster.as_ref());
    session::register_opened(&ctx, lake, opened).await?;
    session::register_run_context(&ctx, &opts.run_id, opts.as_of, opts.history_start, started)
        .map_err(df_err("registering pslake.run_context"))?;
    let problems = session::register_seeds(&ctx, project);
    if !problems.is_empty() {
        return Err(Error::Project(ProjectErrors(problems)));
    }
    Ok(ctx)
}

/// The selection plus every ancestor whose result is not in the lake (views, rejects, warnings
/// models, never-published tables): they must be computed for the selection to run.
pub(crate) fn with_unmaterialized_ancestors(
    project: &Project,
    selected: &BTreeSet<usize>,
    lake_tables: &BTreeSet<TableName>,
) -> BTreeSet<usize> {
    let parents = dag::parents(project);
    let mut out = selected.clone();
    let mut stack: Vec<usize> = selected.iter().copied().collect();
    while let Some(v) = stack.pop() {
        for &p in &parents[v] {
            let m = &project.models()[p];
            let in_lake = m.materialized.publishes() && lake_tables.contains(&m.name);
            if !in_lake && out.insert(p) {
                stack.push(p);
            }
        }
    }
    out
}

fn contract_schema(model: &Model) -> Option<SchemaRef> {
    if model.columns.is_empty() || model.columns.iter().any(|c| c.data_type.is_none()) {
        return None;
    }
    let fields: Vec<Field> = model
        .columns
        .iter()
        .map(|c| {
            Field::new(
                &c.name,
                c.data_type.clone().expect("checked above"),
                !c.not_null,
            )
        })
        .collect();
    Some(Arc::new(Schema::new(fields)))
}

/// For a model reading itself before its first publication: an empty table with its contract.
pub(crate) fn register_empty_self(
    ctx: &SessionContext,
    model: &Model,
) -> std::result::Result<(), String> {
    if !model.reads_itself() || session::has_table(ctx, &model.name) {
        return Ok(());
    }
    let schema = contract_schema(model).ok_or_else(|| {
        format!("model {} reads its own previous version, so it needs a contract with a data_type for every column", model.name)
    })?;
    session::register_batches(ctx, &model.name, schema, Vec::new()).map_err(|e| e.to_string())
}

const REJECT_COLUMNS: [&str; 8] = [
    "system", "stream", "key", "rule", "field", "value", "message", "_raw",
];
const WARNING_COLUMNS: [&str; 4] = ["rule", "source", "key", "message"];

fn required_columns(model: &Model) -> &'static [&'static str] {
    match model.materialized {
        Materialization::Rejects => &REJECT_COLUMNS,
        Materialization::Warnings => &WARNING_COLUMNS,
        _ => &[],
    }
}

pub(crate) fn check_required(model: &Model, schema: &Schema) -> Option<String> {
    let missing: Vec<&str> = required_columns(model)
        .iter()
        .copied()
        .filter(|c| schema.field_with_name(c).is_err())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "a {} model must return the columns {}; missing: {}",
            model.materialized.as_str(),
            required_columns(model).join(", "),
            missing.join(", ")
        )
    })
}

/// The result of planning models in order.
pub(crate) struct Planned {
    /// Output schema per model index.
    pub(crate) schemas: HashMap<usize, SchemaRef>,
    /// Problems, each with file and line.
    pub(crate) problems: Vec<Problem>,
    /// Models not planned, with why (only when missing lake tables are skipped).
    pub(crate) skipped: HashMap<usize, String>,
    /// The unoptimized logical plan of each model that planned (for lineage).
    pub(crate) plans: HashMap<usize, LogicalPlan>,
}

/// Plans every model of `order` in `ctx` (which it modifies: each model's planned schema is
/// registered as an empty table for the models after it), and each model's tests.
pub(crate) async fn plan_models(
    project: &Project,
    ctx: &SessionContext,
    order: &[usize],
    skip_missing: bool,
) -> Planned {
    let parents = dag::parents(project);
    let mut out = Planned {
        schemas: HashMap::new(),
        problems: Vec::new(),
        skipped: HashMap::new(),
        plans: HashMap::new(),
    };
    for &i in order {
        let m = &project.models()[i];
        if let Some(p) = parents[i].iter().find(|p| out.skipped.contains_key(p)) {
            out.skipped.insert(
                i,
                format!("upstream {} was not planned", project.models()[*p].name),
            );
            continue;
        }
        let missing: Vec<(&TableName, usize)> = m
            .refs
            .iter()
            .map(|r| (&r.table, r.line))
            .chain(m.test_refs.iter().map(|t| (t, 0)))
            .filter(|(t, _)| dag::is_lake_table(t) && !session::has_table(ctx, t))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|(t, _)| t.to_string()).collect();
            if skip_missing {
                out.skipped.insert(
                    i,
                    format!("not planned: {} not in the lake yet", names.join(", ")),
                );
            } else {
                for (t, line) in missing {
                    out.problems.push(Problem::new(
                        &m.file,
                        (line > 0).then_some(line),
                        format!("table {t} is not in the lake (run `pslake extract` first)"),
                    ));
                }
                out.skipped.insert(i, "did not plan".into());
            }
            continue;
        }
        if let Err(msg) = register_empty_self(ctx, m) {
            out.problems.push(Problem::new(&m.file, None, msg));
            out.skipped.insert(i, "did not plan".into());
            continue;
        }
        let not_planned = |out: &mut Planned, problem: Problem| {
            out.problems.push(problem);
            out.skipped.insert(i, "did not plan".into());
        };
        let df = match session::model_query(ctx, m).await {
            Ok(df) => df,
            Err(e) => {
                let problem = Problem::at(
                    &m.file,
                    typecheck::error_position(&e, &m.sql),
                    format!("model {}: {}", m.name, e.strip_backtrace()),
                );
                not_planned(&mut out, problem);
                continue;
            }
        };
        // What DataFusion's coercion accepts but a model should not say (a date compared with a
        // number or a non-date string).
        let findings = typecheck::temporal_comparisons(df.logical_plan());
        for f in &findings {
            out.problems.push(Problem::at(
                &m.file,
                f.position,
                format!("model {}: {}", m.name, f.message),
            ));
        }
        // Optimizer and physical planner too, so a plan that passes here gets past planning
        // in the build (some type errors surface only in the analyzer or the physical planner).
        // (A comparison reported above may also fail there, e.g. casting 'last week' to a
        // date: that is the same problem, reported once, with its position.)
        if let Err(e) = ctx.state().create_physical_plan(df.logical_plan()).await {
            let problem = Problem::at(
                &m.file,
                typecheck::error_position(&e, &m.sql),
                format!("model {}: {}", m.name, e.strip_backtrace()),
            );
            if findings.is_empty() {
                not_planned(&mut out, problem);
            } else {
                out.skipped.insert(i, "did not plan".into());
            }
            continue;
        }
        // A rebuild of some months reads the partition_input's DATE column: checked now, not
        // first in the incremental run that needs it.
        if m.partition_input.is_some()
            && let Err(e) =
                changes::rebuilding_months(df.clone(), m, &BTreeSet::from([Month::NONE]))
        {
            let problem = Problem::new(
                &m.file,
                None,
                format!("model {}: partition_input: {e}", m.name),
            );
            not_planned(&mut out, problem);
            continue;
        }
        let planned = df.schema().as_arrow().clone();
        if let Some(msg) = check_required(m, &planned) {
            let problem = Problem::new(&m.file, None, format!("model {}: {msg}", m.name));
            not_planned(&mut out, problem);
            continue;
        }
        let schema = match contract::check_schema(m, &planned) {
            Ok(s) => s,
            Err(errors) => {
                for e in errors {
                    let position = e.index.and_then(|i| {
                        typecheck::output_column_position(&m.sql, i, planned.field(i).name())
                    });
                    out.problems.push(Problem::at(
                        &m.file,
                        position,
                        format!("model {}: contract: {e}", m.name),
                    ));
                }
                out.skipped.insert(i, "did not plan".into());
                continue;
            }
        };
        // A snapshot's table is its rows' columns and the three it adds.
        let schema = if m.materialized == Materialization::Snapshot {
            let problems = snapshot::check_output(m, &schema);
            if !problems.is_empty() {
                for p in problems {
                    out.problems.push(Problem::new(
                        &m.file,
                        None,
                        format!("model {}: {p}", m.name),
                    ));
                }
                out.skipped.insert(i, "did not plan".into());
                continue;
            }
            snapshot::table_schema(&schema)
        } else {
            schema
        };
        if let Err(e) = session::register_batches(ctx, &m.name, schema.clone(), Vec::new()) {
            out.problems
                .push(Problem::new(&m.file, None, e.to_string()));
            continue;
        }
        for t in &m.tests {
            let sql = checks::test_sql(m, t);
            if let Err(e) = ctx.sql(&sql).await {
                out.problems.push(Problem::new(
                    &t.file,
                    t.line,
                    format!("model {}: test {}: {}", m.name, t.name, e.strip_backtrace()),
                ));
            }
        }
        out.schemas.insert(i, schema);
        out.plans.insert(i, df.logical_plan().clone());
    }
    out
}
