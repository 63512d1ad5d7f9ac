//! Planning and running models: plan everything first, then compute, check, test and publish
//! each model (write-audit-publish), independent models concurrently.
//!
//! Invariants:
//! - nothing is written before every model in the run has planned (`Error::Plan` otherwise);
//! - a model's output is audited (contract, error-severity tests) in the session before anything
//!   is written; a failing model's downstream models are skipped;
//! - publishing is all or nothing per build: the audited tables are committed (one Delta commit
//!   each, tagged with the run id) only once every model of the build passed, so a failed build
//!   leaves every published table at its previous version;
//! - rejects, warnings and run records are appended at the end, one commit per table.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::TableReference;
use datafusion::common::{Column, JoinType};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use pslake_lake::ops::{self, RejectRow, RunRecord, WarningRow};
use pslake_lake::{Lake, TableDocs, TableName};

use crate::checks;
use crate::contract;
use crate::dag;
use crate::error::{Error, Problem, ProjectErrors, Result};
use crate::project::{Materialization, Model, Project};
use crate::report::{
    BuildReport, ModelResult, ModelStatus, Reporter, TestOutcome, TestReport, TestResult,
};
use crate::select;
use crate::session;
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
    opts: &BuildOptions,
    started: DateTime<Utc>,
) -> Result<SessionContext> {
    let ctx = session::new_context();
    session::register_lake(&ctx, lake).await?;
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

fn check_required(model: &Model, schema: &Schema) -> Option<String> {
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
        let df = match ctx.sql(&m.sql).await {
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
    }
    out
}

fn strings(
    batches: &[RecordBatch],
    column: &str,
) -> std::result::Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    for b in batches {
        let i = b.schema().index_of(column).map_err(|e| e.to_string())?;
        let array = arrow::compute::cast(b.column(i), &DataType::Utf8)
            .map_err(|e| format!("column {column}: {e}"))?;
        let array = array
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8 gives a StringArray");
        out.extend(
            (0..array.len()).map(|r| (!array.is_null(r)).then(|| array.value(r).to_string())),
        );
    }
    Ok(out)
}

fn required(values: Vec<Option<String>>, column: &str) -> std::result::Result<Vec<String>, String> {
    let nulls = values.iter().filter(|v| v.is_none()).count();
    if nulls > 0 {
        return Err(format!(
            "column {column} has {nulls} NULL value(s); it is required"
        ));
    }
    Ok(values.into_iter().map(Option::unwrap_or_default).collect())
}

fn reject_rows(
    batches: &[RecordBatch],
    run_id: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Vec<RejectRow>, String> {
    let col = |c| strings(batches, c);
    let (system, stream, rule, message) = (
        required(col("system")?, "system")?,
        required(col("stream")?, "stream")?,
        required(col("rule")?, "rule")?,
        required(col("message")?, "message")?,
    );
    let (key, field, value, raw) = (col("key")?, col("field")?, col("value")?, col("_raw")?);
    Ok((0..system.len())
        .map(|i| RejectRow {
            run_id: run_id.to_string(),
            system: system[i].clone(),
            stream: stream[i].clone(),
            key: key[i].clone(),
            rule: rule[i].clone(),
            field: field[i].clone(),
            value: value[i].clone(),
            message: message[i].clone(),
            raw: raw[i].clone(),
            rejected_at: now,
        })
        .collect())
}

fn warning_rows(
    batches: &[RecordBatch],
    run_id: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Vec<WarningRow>, String> {
    let col = |c| strings(batches, c);
    let (rule, source, message) = (
        required(col("rule")?, "rule")?,
        required(col("source")?, "source")?,
        required(col("message")?, "message")?,
    );
    let key = col("key")?;
    Ok((0..rule.len())
        .map(|i| WarningRow {
            run_id: run_id.to_string(),
            rule: rule[i].clone(),
            source: source[i].clone(),
            key: key[i].clone(),
            message: message[i].clone(),
            raised_at: now,
        })
        .collect())
}

/// Incremental: the published rows whose key is not in `new`, followed by `new`.
async fn merge(
    ctx: &SessionContext,
    model: &Model,
    schema: &SchemaRef,
    new: &[RecordBatch],
) -> std::result::Result<Vec<RecordBatch>, String> {
    let reference = TableReference::partial(model.name.schema.as_str(), model.name.name.as_str());
    let old = ctx
        .table(reference)
        .await
        .map_err(|e| format!("reading the published table: {e}"))?;
    let old_schema = old.schema().as_arrow().clone();
    let old_names: Vec<&str> = old_schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let new_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if old_names != new_names {
        return Err(format!(
            "incremental: the published columns [{}] differ from the model's [{}]; run with --full-refresh",
            old_names.join(", "),
            new_names.join(", ")
        ));
    }
    let kept = if new.iter().all(|b| b.num_rows() == 0) {
        old
    } else {
        let aliases: Vec<String> = (0..model.unique_key.len())
            .map(|i| format!("__pslake_key_{i}"))
            .collect();
        let key_exprs: Vec<Expr> = model
            .unique_key
            .iter()
            .zip(&aliases)
            .map(|(k, a)| Expr::Column(Column::from_name(k.as_str())).alias(a))
            .collect();
        let new_keys = ctx
            .read_batches(new.iter().cloned())
            .and_then(|df| df.select(key_exprs))
            .and_then(|df| df.distinct())
            .map_err(|e| format!("incremental: unique_key: {e}"))?;
        let left: Vec<&str> = model.unique_key.iter().map(String::as_str).collect();
        let right: Vec<&str> = aliases.iter().map(String::as_str).collect();
        old.join(new_keys, JoinType::LeftAnti, &left, &right, None)
            .map_err(|e| format!("incremental: merge: {e}"))?
    };
    let kept = kept
        .collect()
        .await
        .map_err(|e| format!("incremental: merge: {e}"))?;
    let mut out = Vec::with_capacity(kept.len() + new.len());
    for b in kept {
        out.push(
            session::cast_batch(&b, schema)
                .map_err(|e| format!("incremental: published rows: {e}"))?,
        );
    }
    out.extend(new.iter().cloned());
    Ok(out)
}

/// Everything one model produced.
struct Outcome {
    result: ModelResult,
    rejects: Vec<RejectRow>,
    warnings: Vec<WarningRow>,
    started: DateTime<Utc>,
    /// The audited output, committed only if the whole build passes.
    publish: Option<PendingWrite>,
}

/// An audited model output waiting for the build to pass.
struct PendingWrite {
    table: TableName,
    batches: Vec<RecordBatch>,
    metadata: serde_json::Map<String, serde_json::Value>,
    append: bool,
    /// The model's description and column descriptions, written into the Delta metadata.
    docs: TableDocs,
}

struct Runner<'a> {
    project: &'a Project,
    opts: &'a BuildOptions,
    ctx: SessionContext,
    lake_tables: BTreeSet<TableName>,
}

impl Runner<'_> {
    async fn run_model(&self, i: usize, reporter: &dyn Reporter) -> (usize, Outcome) {
        let m = &self.project.models()[i];
        let name = m.name.to_string();
        reporter.on_model_start(&name);
        let started = Utc::now();
        let t0 = Instant::now();
        let mut outcome = Outcome {
            result: ModelResult {
                model: name.clone(),
                materialized: m.materialized.as_str().into(),
                status: ModelStatus::Ok,
                rows: 0,
                duration: Duration::ZERO,
                version: None,
                tests: Vec::new(),
            },
            rejects: Vec::new(),
            warnings: Vec::new(),
            started,
            publish: None,
        };
        if let Err(msg) = self.compute(m, &mut outcome).await {
            outcome.result.status = ModelStatus::Failed(msg);
        }
        outcome.result.duration = t0.elapsed();
        reporter.on_model_done(
            &name,
            outcome.result.rows,
            outcome.result.duration,
            &outcome.result.status,
        );
        (i, outcome)
    }

    async fn compute(&self, m: &Model, outcome: &mut Outcome) -> std::result::Result<(), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("model {} ({}): {what}: {e}", m.name, m.file.display())
        };
        let df = self
            .ctx
            .sql(&m.sql)
            .await
            .map_err(|e| fail("planning", &e.strip_backtrace()))?;
        let planned = df.schema().as_arrow().clone();
        let batches = df
            .collect()
            .await
            .map_err(|e| fail("running", &e.strip_backtrace()))?;
        let actual = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(planned));
        if let Some(msg) = check_required(m, &actual) {
            return Err(format!("model {}: {msg}", m.name));
        }
        let (schema, batches) = contract::conform(m, &actual, batches)
            .map_err(|errs| format!("model {}: contract: {}", m.name, errs.join("; ")))?;
        outcome.result.rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let batches = if m.materialized == Materialization::Incremental
            && !self.opts.full_refresh
            && self.lake_tables.contains(&m.name)
        {
            merge(&self.ctx, m, &schema, &batches)
                .await
                .map_err(|e| format!("model {}: {e}", m.name))?
        } else {
            batches
        };
        // Audit: the new data is visible under the model's name to its tests (and, later, to the
        // models downstream), but nothing is committed yet. An append model shows its published
        // rows plus the new ones, as the table will read once committed.
        let visible = if m.materialized == Materialization::Append {
            let mut all = match self
                .ctx
                .table(TableReference::partial(
                    m.name.schema.as_str(),
                    m.name.name.as_str(),
                ))
                .await
            {
                Ok(df) => df.collect().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            // The published rows come back in the reader's types (e.g. Utf8View): conform them.
            all = all
                .iter()
                .map(|b| session::cast_batch(b, &schema))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| fail("reading the published rows", &e))?;
            all.extend(batches.iter().cloned());
            all
        } else {
            batches.clone()
        };
        session::register_batches(&self.ctx, &m.name, schema.clone(), visible)
            .map_err(|e| fail("registering the result", &e))?;
        let mut failures = Vec::new();
        for t in &m.tests {
            let r = checks::run_test(&self.ctx, m, t).await;
            match r.outcome {
                TestOutcome::Fail | TestOutcome::Error => {
                    failures.push(r.message.clone().unwrap_or_default())
                }
                TestOutcome::Warn => outcome.warnings.push(WarningRow {
                    run_id: self.opts.run_id.clone(),
                    rule: format!("test:{}", t.name),
                    source: m.name.to_string(),
                    key: None,
                    message: r.message.clone().unwrap_or_default(),
                    raised_at: Utc::now(),
                }),
                TestOutcome::Pass => {}
            }
            outcome.result.tests.push(r);
        }
        if !failures.is_empty() {
            return Err(failures.join("\n"));
        }
        // Publish.
        let mut metadata = serde_json::Map::new();
        metadata.insert("pslake.run_id".into(), self.opts.run_id.clone().into());
        metadata.insert("pslake.model".into(), m.name.to_string().into());
        let mut to_write = batches;
        if to_write.is_empty() {
            to_write.push(RecordBatch::new_empty(schema.clone()));
        }
        let now = Utc::now();
        match m.materialized {
            Materialization::View => {}
            Materialization::Table | Materialization::Incremental | Materialization::Append => {
                outcome.publish = Some(PendingWrite {
                    table: m.name.clone(),
                    batches: to_write,
                    metadata,
                    append: m.materialized == Materialization::Append,
                    docs: table_docs(m),
                });
            }
            Materialization::Rejects => {
                outcome.rejects = reject_rows(&to_write, &self.opts.run_id, now)
                    .map_err(|e| format!("model {}: {e}", m.name))?;
            }
            Materialization::Warnings => {
                let rows = warning_rows(&to_write, &self.opts.run_id, now)
                    .map_err(|e| format!("model {}: {e}", m.name))?;
                outcome.warnings.extend(rows);
            }
        }
        Ok(())
    }
}

/// What `models/*.yml` says about a model, for its Delta metadata (blank text is no text).
fn table_docs(m: &Model) -> TableDocs {
    let text = |d: &Option<String>| {
        d.as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    };
    TableDocs {
        description: text(&m.description),
        columns: m
            .columns
            .iter()
            .filter_map(|c| Some((c.name.clone(), text(&c.description)?)))
            .collect(),
    }
}

/// Builds the selected models: plan all, then compute, check, test and publish each
/// (write-audit-publish), independent models concurrently. Appends rejects, warnings and one
/// `_pslake.runs` row per model at the end.
///
/// Returns `Err(Error::Plan)` (nothing written) when a model does not plan; model and test
/// failures are in the report (`is_success() == false`).
pub async fn build(
    project: &Project,
    lake: &Lake,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport> {
    let started = Utc::now();
    let selected = select::select(project, opts.select.as_deref(), opts.exclude.as_deref())?;
    let lake_tables: BTreeSet<TableName> = lake.list_tables().await?.into_iter().collect();
    let run = with_unmaterialized_ancestors(project, &selected, &lake_tables);
    let order = dag::order(project, &run);

    let plan_ctx = base_context(project, lake, opts, started).await?;
    let planned = plan_models(project, &plan_ctx, &order, false).await;
    if !planned.problems.is_empty() {
        return Err(Error::Plan(ProjectErrors(planned.problems)));
    }

    let ctx = base_context(project, lake, opts, started).await?;
    for &i in &order {
        register_empty_self(&ctx, &project.models()[i]).map_err(|m| {
            Error::Plan(ProjectErrors(vec![Problem::new(
                &project.models()[i].file,
                None,
                m,
            )]))
        })?;
    }
    let runner = Runner {
        project,
        opts,
        ctx,
        lake_tables,
    };
    let parents = dag::parents(project);
    let max = opts.concurrency.max(1);
    let mut pending: Vec<usize> = order.clone();
    let mut done: HashMap<usize, bool> = HashMap::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        let mut idx = 0;
        while idx < pending.len() {
            let i = pending[idx];
            let ps: Vec<usize> = parents[i]
                .iter()
                .copied()
                .filter(|p| run.contains(p))
                .collect();
            if let Some(&bad) = ps.iter().find(|p| done.get(p) == Some(&false)) {
                pending.remove(idx);
                done.insert(i, false);
                let upstream = &project.models()[bad];
                let why = match outcomes
                    .iter()
                    .find(|o| o.result.model == upstream.name.to_string())
                    .map(|o| &o.result.status)
                {
                    Some(ModelStatus::Skipped(_)) => {
                        format!("upstream {} was skipped", upstream.name)
                    }
                    _ => format!("upstream {} failed", upstream.name),
                };
                let m = &project.models()[i];
                let status = ModelStatus::Skipped(why);
                reporter.on_model_done(&m.name.to_string(), 0, Duration::ZERO, &status);
                outcomes.push(Outcome {
                    result: ModelResult {
                        model: m.name.to_string(),
                        materialized: m.materialized.as_str().into(),
                        status,
                        rows: 0,
                        duration: Duration::ZERO,
                        version: None,
                        tests: Vec::new(),
                    },
                    rejects: Vec::new(),
                    warnings: Vec::new(),
                    started: Utc::now(),
                    publish: None,
                });
                continue;
            }
            if running.len() < max && ps.iter().all(|p| done.get(p) == Some(&true)) {
                pending.remove(idx);
                running.push(Box::pin(runner.run_model(i, reporter)));
                continue;
            }
            idx += 1;
        }
        match running.next().await {
            Some((i, outcome)) => {
                done.insert(i, outcome.result.status == ModelStatus::Ok);
                outcomes.push(outcome);
            }
            None => break,
        }
    }

    // Publish: all audited tables, in dependency order, only when the whole build passed.
    let passed = outcomes.iter().all(|o| o.result.status == ModelStatus::Ok);
    if passed {
        let position: HashMap<String, usize> = order
            .iter()
            .enumerate()
            .map(|(pos, &i)| (project.models()[i].name.to_string(), pos))
            .collect();
        outcomes.sort_by_key(|o| position.get(&o.result.model).copied().unwrap_or(usize::MAX));
        for o in outcomes.iter_mut() {
            let Some(w) = o.publish.take() else { continue };
            let v = lake
                .publish(&w.table, w.batches, w.append, w.metadata, &w.docs)
                .await?;
            o.result.version = Some(v);
        }
    }

    let rejects: Vec<RejectRow> = outcomes
        .iter_mut()
        .flat_map(|o| std::mem::take(&mut o.rejects))
        .collect();
    let warnings: Vec<WarningRow> = outcomes
        .iter_mut()
        .flat_map(|o| std::mem::take(&mut o.warnings))
        .collect();
    ops::append_rejects(lake, &rejects).await?;
    ops::append_warnings(lake, &warnings).await?;
    let mut records: Vec<RunRecord> = outcomes
        .iter()
        .map(|o| {
            let r = &o.result;
            let count = |x| r.tests.iter().filter(|t| t.outcome == x).count();
            let details = serde_json::json!({
                "materialized": r.materialized,
                "version": r.version,
                "tests": { "passed": count(TestOutcome::Pass), "failed": count(TestOutcome::Fail) + count(TestOutcome::Error), "warned": count(TestOutcome::Warn) },
                "warnings": r.tests.iter().filter(|t| t.outcome == TestOutcome::Warn).filter_map(|t| t.message.clone()).collect::<Vec<_>>(),
            });
            RunRecord {
                run_id: opts.run_id.clone(),
                pipeline: opts.pipeline.clone(),
                stage: format!("model:{}", r.model),
                status: r.status.as_str().into(),
                started_at: o.started,
                ended_at: o.started + chrono::Duration::from_std(r.duration).unwrap_or_default(),
                rows: Some(i64::try_from(r.rows).unwrap_or(i64::MAX)),
                rows_landed: None,
                rows_rejected: (r.materialized == "rejects").then(|| i64::try_from(r.rows).unwrap_or(i64::MAX)),
                bytes: None,
                error: match &r.status {
                    ModelStatus::Ok => None,
                    ModelStatus::Failed(m) | ModelStatus::Skipped(m) => Some(m.clone()),
                },
                details: Some(details.to_string()),
            }
        })
        .collect();
    // One row for the build stage as a whole, beside the per-model rows.
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result.status != ModelStatus::Ok)
        .map(|o| format!("{}: {}", o.result.model, o.result.status.as_str()))
        .collect();
    records.push(RunRecord {
        run_id: opts.run_id.clone(),
        pipeline: opts.pipeline.clone(),
        stage: "build".into(),
        status: if passed { "ok" } else { "failed" }.into(),
        started_at: started,
        ended_at: Utc::now(),
        rows: Some(
            outcomes
                .iter()
                .map(|o| i64::try_from(o.result.rows).unwrap_or(i64::MAX))
                .sum(),
        ),
        rows_landed: None,
        rows_rejected: Some(i64::try_from(rejects.len()).unwrap_or(i64::MAX)),
        bytes: None,
        error: (!failed.is_empty()).then(|| failed.join("; ")),
        details: Some(
            serde_json::json!({
                "models": outcomes.len(),
                "published": passed,
                "warnings": warnings.len(),
                // The run context, so a later build or test without dates uses the same ones.
                "as_of": opts.as_of.to_string(),
                "history_start": opts.history_start.to_string(),
            })
            .to_string(),
        ),
    });
    ops::append_runs(lake, &records).await?;
    Ok(BuildReport {
        run_id: opts.run_id.clone(),
        models: outcomes.into_iter().map(|o| o.result).collect(),
        rejects: rejects.len() as u64,
        warnings: warnings.len() as u64,
        published: passed,
    })
}

/// Runs the selected models' tests against the published tables (views, rejects and warnings
/// models are computed in the session, nothing is written).
pub async fn test(
    project: &Project,
    lake: &Lake,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<TestReport> {
    let started = Utc::now();
    let selected = select::select(project, opts.select.as_deref(), opts.exclude.as_deref())?;
    let lake_tables: BTreeSet<TableName> = lake.list_tables().await?.into_iter().collect();
    let run = with_unmaterialized_ancestors(project, &selected, &lake_tables);
    let order = dag::order(project, &run);
    let ctx = base_context(project, lake, opts, started).await?;
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
                let df = ctx.sql(&m.sql).await.map_err(|e| e.strip_backtrace())?;
                let planned = df.schema().as_arrow().clone();
                let batches = df.collect().await.map_err(|e| e.strip_backtrace())?;
                let actual = batches
                    .first()
                    .map(|b| b.schema())
                    .unwrap_or_else(|| Arc::new(planned));
                let (schema, batches) = contract::conform(m, &actual, batches)
                    .map_err(|e| format!("contract: {}", e.join("; ")))?;
                let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
                session::register_batches(&ctx, &m.name, schema, batches)
                    .map_err(|e| e.to_string())?;
                Ok::<u64, String>(rows)
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
            for t in &m.tests {
                let r: TestResult = checks::run_test(&ctx, m, t).await;
                report.tests.push(r);
            }
        }
    }
    Ok(report)
}
