//! Running one model: a view is registered as a DataFusion view (planned into the models that
//! read it, never materialized); a table model streams to staged data files of its table, which
//! its tests and the models downstream read; a rejects or warnings model yields operational rows.
//! Nothing is committed here: the build publishes the staged tables once every model passed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use pslake_lake::ops::{RejectRow, WarningRow};
use pslake_lake::{Lake, Month, Staged, TableDocs, TableName};

use crate::changes::{self, Mode};
use crate::checks;
use crate::contract;
use crate::fingerprint::{
    self, FINGERPRINT_KEY, Fingerprinter, Fingerprints, INPUTS_KEY, Recorded,
};
use crate::merge;
use crate::outputs;
use crate::planning::{BuildOptions, check_required};
use crate::project::{Materialization, Model, Project};
use crate::report::{ModelResult, ModelStatus, Reporter, TestOutcome};
use crate::session;
use crate::stream;

/// The schema under which a build registers the rows it rewrote in a table kept by month, for
/// its tests ([`checks::Scope::Rewritten`]).
const REWRITTEN_SCHEMA: &str = "__pslake_rewritten";

/// Everything one model produced.
pub(crate) struct Outcome {
    pub(crate) result: ModelResult,
    pub(crate) rejects: Vec<RejectRow>,
    pub(crate) warnings: Vec<WarningRow>,
    pub(crate) started: DateTime<Utc>,
    /// The audited output, committed only if the whole build passes.
    pub(crate) publish: Option<PendingWrite>,
    /// Where the rows this build wrote are registered when only they need testing
    /// ([`checks::Scope::Rewritten`]).
    pub(crate) rewritten: Option<TableName>,
}

impl Outcome {
    /// A model that did not run, with why.
    pub(crate) fn not_run(m: &Model, status: ModelStatus) -> Self {
        Self {
            result: ModelResult {
                model: m.name.to_string(),
                materialized: m.materialized.as_str().into(),
                status,
                rows: 0,
                reused: false,
                duration: Duration::ZERO,
                version: None,
                tests: Vec::new(),
                tests_rewritten_only: false,
            },
            rejects: Vec::new(),
            warnings: Vec::new(),
            started: Utc::now(),
            publish: None,
            rewritten: None,
        }
    }
}

/// An audited model output waiting for the build to pass: its staged data files.
pub(crate) struct PendingWrite {
    pub(crate) staged: Staged,
    pub(crate) metadata: serde_json::Map<String, serde_json::Value>,
    pub(crate) append: bool,
    /// The model's description and column descriptions, written into the Delta metadata.
    pub(crate) docs: TableDocs,
}

pub(crate) struct Runner<'a> {
    pub(crate) project: &'a Project,
    pub(crate) opts: &'a BuildOptions,
    pub(crate) lake: &'a Lake,
    pub(crate) ctx: SessionContext,
    pub(crate) lake_tables: BTreeSet<TableName>,
    /// Computes each model's fingerprint when it is about to run.
    pub(crate) fingerprinter: Fingerprinter,
    /// What each model's published table recorded when it was built (read before this build).
    pub(crate) published: HashMap<usize, Recorded>,
    /// The fingerprint each model's tests last all passed at, by model name.
    pub(crate) clean_tests: HashMap<String, String>,
    /// What [`Runner::prepare`] found for each model that started.
    pub(crate) prepared: Mutex<Prepared>,
    /// The months each model kept by month rewrote in this build (`None`: all of them).
    pub(crate) months: Mutex<HashMap<usize, Option<BTreeSet<Month>>>>,
    /// The lake tables registered again in this build's session once landed (a build beside
    /// its extraction, [`BuildOptions::landing`]).
    pub(crate) refreshed: tokio::sync::Mutex<BTreeSet<TableName>>,
}

/// What a build knows of each model once its inputs are known: its fingerprint and inputs,
/// whether its published table is reused, whether its tests need not run again.
#[derive(Default)]
pub(crate) struct Prepared {
    /// Each model's fingerprint and inputs (recorded in the commit of a published table).
    pub(crate) fingerprints: Fingerprints,
    /// Table models whose published table is reused (fingerprint unchanged).
    pub(crate) reuse: HashSet<usize>,
    /// Models whose tests all passed in the last build of the same fingerprint: not tested
    /// again (a view is registered, a reused table read as published).
    pub(crate) tested: HashSet<usize>,
}

impl Runner<'_> {
    pub(crate) async fn run_model(&self, i: usize, reporter: &dyn Reporter) -> (usize, Outcome) {
        let m = &self.project.models()[i];
        let name = m.name.to_string();
        reporter.on_model_start(&name);
        tracing::debug!(model = %name, "model starting");
        let t0 = Instant::now();
        let mut outcome = Outcome::not_run(m, ModelStatus::Ok);
        if let Err(msg) = self.prepare(i, m).await {
            outcome.result.status = ModelStatus::Failed(msg);
        } else if self.reused(i) {
            // The published table, registered from the lake, is what this build would write; a
            // rejects or warnings model's rows are this run's rows again.
            outcome.result.reused = true;
            let reused = async {
                self.reuse_operational(m, &mut outcome).await?;
                if self.tested(i) {
                    return Ok(());
                }
                // Its last tests warned (or were not recorded): they run again, on the
                // published table, so this run reports what they say.
                self.test(m, &mut outcome).await
            };
            if let Err(msg) = reused.await {
                outcome.result.status = ModelStatus::Failed(msg);
            }
        } else if let Err(msg) = self.compute(i, m, &mut outcome).await {
            outcome.result.status = ModelStatus::Failed(msg);
            if let Some(w) = outcome.publish.take() {
                self.lake.discard_staged(w.staged).await;
            }
        }
        outcome.result.duration = t0.elapsed();
        tracing::debug!(
            model = %name,
            seconds = outcome.result.duration.as_secs_f64(),
            rows = outcome.result.rows,
            "model done"
        );
        reporter.on_model_done(
            &name,
            outcome.result.rows,
            outcome.result.duration,
            &outcome.result.status,
        );
        (i, outcome)
    }

    /// Before model `i` runs (its parents done, the lake tables it reads landed): the lake
    /// tables an extraction beside the build landed are registered again at their new version,
    /// then its fingerprint decides whether its published table and its last test results
    /// still stand.
    async fn prepare(&self, i: usize, m: &Model) -> Result<(), String> {
        if let Some(landing) = &self.opts.landing {
            for t in m.inputs().filter(|t| landing.lands(t)) {
                self.refresh(t).await?;
            }
        }
        let (fingerprint, inputs) = self
            .fingerprinter
            .model(self.project, self.lake, i, |p| self.fingerprint(p))
            .await
            .map_err(|e| format!("model {}: reading its inputs' versions: {e}", m.name))?;
        let reuse = !self.opts.full_refresh
            && fingerprint::reusable(m.materialized)
            && self
                .published
                .get(&i)
                .is_some_and(|r| r.fingerprint.as_ref() == Some(&fingerprint));
        let tested = !self.opts.full_refresh
            && !m.tests.is_empty()
            && self.clean_tests.get(&m.name.to_string()) == Some(&fingerprint);
        let mut prepared = self.prepared.lock().expect("prepared");
        prepared.fingerprints.of.insert(i, fingerprint);
        prepared.fingerprints.inputs.insert(i, inputs);
        if reuse {
            prepared.reuse.insert(i);
        }
        if tested {
            prepared.tested.insert(i);
        }
        Ok(())
    }

    /// Registers lake table `t` again, once per build, now that it has landed.
    async fn refresh(&self, t: &TableName) -> Result<(), String> {
        let mut refreshed = self.refreshed.lock().await;
        if refreshed.contains(t) {
            return Ok(());
        }
        session::register_lake_table(&self.ctx, self.lake, t, None)
            .await
            .map_err(|e| format!("reading {t} once landed: {e}"))?;
        refreshed.insert(t.clone());
        Ok(())
    }

    /// Model `p`'s fingerprint in this build, once it has started.
    pub(crate) fn fingerprint(&self, p: usize) -> Option<String> {
        let prepared = self.prepared.lock().expect("prepared");
        prepared.fingerprints.of.get(&p).cloned()
    }

    /// The identity of each of model `i`'s inputs in this build.
    pub(crate) fn inputs(&self, i: usize) -> Option<std::collections::BTreeMap<String, String>> {
        let prepared = self.prepared.lock().expect("prepared");
        prepared.fingerprints.inputs.get(&i).cloned()
    }

    fn reused(&self, i: usize) -> bool {
        self.prepared.lock().expect("prepared").reuse.contains(&i)
    }

    fn tested(&self, i: usize) -> bool {
        self.prepared.lock().expect("prepared").tested.contains(&i)
    }

    pub(crate) fn reference(m: &Model) -> TableReference {
        TableReference::partial(m.name.schema.as_str(), m.name.name.as_str())
    }

    async fn compute(&self, i: usize, m: &Model, outcome: &mut Outcome) -> Result<(), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| failed(m, format_args!("{what}: {e}"));
        let df = session::model_query(&self.ctx, m)
            .await
            .map_err(|e| fail("planning", &e.strip_backtrace()))?;
        let planned = df.schema().as_arrow().clone();
        if let Some(msg) = check_required(m, &planned) {
            return Err(format!("model {}: {msg}", m.name));
        }
        let schema = contract::check_schema(m, &planned).map_err(|errs| {
            let errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!("model {}: contract: {}", m.name, errs.join("; "))
        })?;
        match m.materialized {
            Materialization::View => {
                register_view(&self.ctx, m, df, &schema)
                    .await
                    .map_err(|e| fail("registering the view", &e))?;
            }
            Materialization::Rejects | Materialization::Warnings => {
                self.operational(i, m, df, &planned, outcome).await?;
            }
            Materialization::Table | Materialization::Incremental | Materialization::Append => {
                self.table(i, m, df, &schema, outcome)
                    .await
                    .map_err(|e| failed(m, e))?;
            }
            Materialization::Snapshot => {
                self.snapshot(i, m, df, &schema, outcome)
                    .await
                    .map_err(|e| failed(m, e))?;
            }
        }
        let tested = if self.tested(i) {
            outcome.result.reused = true;
            Ok(())
        } else {
            self.test(m, outcome).await
        };
        if let Some(t) = outcome.rewritten.take() {
            let _ = self
                .ctx
                .deregister_table(TableReference::partial(t.schema.as_str(), t.name.as_str()));
        }
        tested
    }

    /// The model's tests against what the build shows under its name (only the rows it
    /// rewrote, when [`Outcome::rewritten`] names them); error-severity failures fail the
    /// model, warn-severity ones become warnings.
    async fn test(&self, m: &Model, outcome: &mut Outcome) -> Result<(), String> {
        let mut failures = Vec::new();
        let new = outcome.rewritten.as_ref().map(checks::table_sql);
        outcome.result.tests_rewritten_only = new.is_some();
        // the inputs a partial rebuild allows to change (every other input is as it was)
        let changed: Vec<&TableName> = [
            m.partition_input.as_ref().map(|p| &p.table),
            m.new_rows_from.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let scope = match &new {
            Some(new) => checks::Scope::Rewritten {
                new,
                changed: &changed,
            },
            None => checks::Scope::Whole,
        };
        for (t, r) in m
            .tests
            .iter()
            .zip(checks::run_tests(&self.ctx, m, scope).await)
        {
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
        Ok(())
    }

    /// A table model: streamed to staged files (an incremental model's kept rows after its new
    /// ones; a model kept by month only its changed months, when [`Runner::mode`] says so), made
    /// visible under the model's name to its tests and the models downstream.
    async fn table(
        &self,
        i: usize,
        m: &Model,
        df: DataFrame,
        schema: &SchemaRef,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let mut pieces: Vec<Staged> = Vec::new();
        let written = self.write_table(i, m, df, schema, &mut pieces).await;
        let (staged, kept_files) = match written {
            Ok(w) => w,
            Err(e) => {
                for p in pieces {
                    self.lake.discard_staged(p).await;
                }
                return Err(e);
            }
        };
        outcome.result.rows = staged.rows();
        let published = self.lake_tables.contains(&m.name);
        let metadata = self.commit_metadata(i, m);
        let append = m.materialized == Materialization::Append;
        let visible = match &kept_files {
            None => stream::read_staged(&self.ctx, &staged),
            Some(kept) => {
                let mut files = kept.clone();
                files.extend(staged.file_urls());
                stream::files_provider(&files, schema.clone()).and_then(|p| self.ctx.read_table(p))
            }
        };
        let rewritten_rows = kept_files
            .as_ref()
            .map(|_| stream::read_staged(&self.ctx, &staged));
        outcome.publish = Some(PendingWrite {
            staged,
            metadata,
            append,
            docs: table_docs(m),
        });
        // Audit: the new data is visible under the model's name, nothing is committed yet. An
        // append model shows its published rows plus the new ones, as the table will read.
        let mut visible = visible.map_err(|e| format!("reading the staged files: {e}"))?;
        if append && published {
            let old = self
                .ctx
                .table(Self::reference(m))
                .await
                .and_then(|old| stream::cast_to(old, schema))
                .map_err(|e| format!("reading the published rows: {e}"))?;
            visible = old
                .union(visible)
                .map_err(|e| format!("reading the published rows: {e}"))?;
        }
        session::register_provider(&self.ctx, &m.name, visible.into_view())
            .map_err(|e| format!("registering the result: {e}"))?;
        // Only some months rewritten, into a table whose published version passed the same
        // tests (same definition, same parents): the tests need only read the rewritten rows.
        let clean = self.clean_tests.get(&m.name.to_string()).is_some_and(|f| {
            self.published.get(&i).and_then(|r| r.fingerprint.as_ref()) == Some(f)
        });
        if let Some(rows) = rewritten_rows.filter(|_| clean && !m.tests.is_empty()) {
            let new = TableName {
                schema: REWRITTEN_SCHEMA.to_string(),
                name: format!("{}__{}", m.name.schema, m.name.name),
            };
            let rows = rows.map_err(|e| format!("reading the staged files: {e}"))?;
            session::register_provider(&self.ctx, &new, rows.into_view())
                .map_err(|e| format!("registering the rewritten rows: {e}"))?;
            outcome.rewritten = Some(new);
        }
        Ok(())
    }

    /// Writes what model `i` publishes (every file written is pushed to `pieces`, which the
    /// caller deletes on error): the staged files, and the published files kept beside them
    /// when only some months were rewritten (`None`: the staged files are the whole table).
    async fn write_table(
        &self,
        i: usize,
        m: &Model,
        df: DataFrame,
        schema: &SchemaRef,
        pieces: &mut Vec<Staged>,
    ) -> Result<(Staged, Option<Vec<url::Url>>), String> {
        let field = m.partition_by.as_deref();
        let incremental = m.materialized == Materialization::Incremental
            && !self.opts.full_refresh
            && self.lake_tables.contains(&m.name);
        // A table kept by month: its published files, listed once (nothing commits to it before
        // the publish).
        let published_files =
            if field.is_some() && !self.opts.full_refresh && self.lake_tables.contains(&m.name) {
                self.published_files(m).await?
            } else {
                Vec::new()
            };
        let mode = self.mode(i, m, &published_files).await?;
        let df = match &mode {
            Mode::Full => df,
            Mode::Months(months) => changes::rebuilding_months(df, m, months)?,
            Mode::NewRows(files) => {
                let input = m
                    .new_rows_from
                    .as_ref()
                    .expect("NewRows needs new_rows_from");
                changes::only_files(&self.ctx, df, input, files)?
            }
        };
        let (staged, written) = stream::stage_kept(self.lake, &m.name, df, schema, field).await?;
        pieces.push(staged.clone());
        let mut staged = staged;
        // The months this build rewrites (`None`: all of them), and the published rows of
        // those months that the merge keeps (incremental models).
        let (months, old) = match (&mode, field) {
            (Mode::Months(months), _) => {
                if !written.is_subset(months) {
                    let outside: Vec<String> = written
                        .difference(months)
                        .map(ToString::to_string)
                        .collect();
                    return Err(format!(
                        "partition_input: rows of {} were written, outside the months {} changed in; its rows must fall in the month of the same {} as the model's",
                        outside.join(", "),
                        m.partition_input
                            .as_ref()
                            .map(|p| p.table.to_string())
                            .unwrap_or_default(),
                        field.unwrap_or_default()
                    ));
                }
                (Some(months.clone()), None)
            }
            (Mode::NewRows(_), Some(field)) => {
                let published = self
                    .ctx
                    .table(Self::reference(m))
                    .await
                    .map_err(|e| format!("reading the published table: {e}"))?;
                let new = stream::read_staged(&self.ctx, &staged)
                    .map_err(|e| format!("reading the new rows: {e}"))?;
                let mut months = changes::months_of_keys(published, new, m, field).await?;
                months.extend(written);
                let files: Vec<url::Url> = published_files
                    .iter()
                    .filter(|f| f.month.is_some_and(|mo| months.contains(&mo)))
                    .map(|f| f.url.clone())
                    .collect();
                let old = stream::files_provider(&files, schema.clone())
                    .and_then(|p| self.ctx.read_table(p))
                    .map_err(|e| format!("reading the published rows: {e}"))?;
                (Some(months), Some(old))
            }
            (Mode::NewRows(_), None) | (Mode::Full, _) if incremental => {
                let old = self
                    .ctx
                    .table(Self::reference(m))
                    .await
                    .map_err(|e| format!("reading the published table: {e}"))?;
                (None, Some(old))
            }
            _ => (None, None),
        };
        if let Some(old) = old {
            let kept = merge::kept_rows(&self.ctx, m, old, &staged)?;
            let (kept, _) = stream::stage_kept(self.lake, &m.name, kept, schema, field)
                .await
                .map_err(|e| format!("incremental: {e}"))?;
            pieces.push(kept.clone());
            staged.extend(kept);
        }
        if field.is_some() {
            self.months
                .lock()
                .expect("months")
                .insert(i, months.clone());
        }
        let Some(months) = months else {
            return Ok((staged, None));
        };
        let (replaced, kept): (Vec<_>, Vec<_>) = published_files
            .into_iter()
            .partition(|f| f.month.is_some_and(|mo| months.contains(&mo)));
        let staged = staged.replacing(replaced.into_iter().map(|f| f.remove).collect());
        Ok((staged, Some(kept.into_iter().map(|f| f.url).collect())))
    }

    /// What a model's commit records: the run, the model and its fingerprint.
    pub(crate) fn commit_metadata(
        &self,
        i: usize,
        m: &Model,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut metadata = serde_json::Map::new();
        metadata.insert("pslake.run_id".into(), self.opts.run_id.clone().into());
        metadata.insert("pslake.model".into(), m.name.to_string().into());
        if let Some(f) = self.fingerprint(i) {
            metadata.insert(FINGERPRINT_KEY.into(), f.into());
        }
        if let Some(inputs) = self.inputs(i) {
            let inputs: serde_json::Map<String, serde_json::Value> = inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            metadata.insert(INPUTS_KEY.into(), inputs.into());
        }
        metadata
    }

    /// A reused rejects or warnings model: its published table (the rows of the build that
    /// last computed it, from the same inputs) yields this run's rejects or warnings.
    async fn reuse_operational(&self, m: &Model, outcome: &mut Outcome) -> Result<(), String> {
        if !matches!(
            m.materialized,
            Materialization::Rejects | Materialization::Warnings
        ) {
            return Ok(());
        }
        let batches = self
            .ctx
            .table(Self::reference(m))
            .await
            .map_err(|e| failed(m, format_args!("reading its published rows: {e}")))?
            .collect()
            .await
            .map_err(|e| failed(m, format_args!("reading its published rows: {e}")))?;
        self.operational_rows(m, &batches, outcome)
    }

    /// `batches` (a rejects or warnings model's output) as this run's rejects or warnings.
    fn operational_rows(
        &self,
        m: &Model,
        batches: &[arrow::array::RecordBatch],
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        outcome.result.rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let now = Utc::now();
        if m.materialized == Materialization::Rejects {
            outcome.rejects = outputs::reject_rows(batches, &self.opts.run_id, now)
                .map_err(|e| format!("model {}: {e}", m.name))?;
        } else {
            let rows = outputs::warning_rows(batches, &self.opts.run_id, now)
                .map_err(|e| format!("model {}: {e}", m.name))?;
            outcome.warnings.extend(rows);
        }
        Ok(())
    }

    /// A rejects or warnings model: its (small) output collected into operational rows, and
    /// staged as its own table (the current rejects or warnings of that rule, which a later
    /// build with the same inputs reuses instead of recomputing).
    async fn operational(
        &self,
        i: usize,
        m: &Model,
        df: DataFrame,
        planned: &arrow::datatypes::Schema,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| failed(m, format_args!("{what}: {e}"));
        let batches = df
            .collect()
            .await
            .map_err(|e| fail("running", &e.strip_backtrace()))?;
        let actual = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(planned.clone()));
        let (schema, batches) = contract::conform(m, &actual, batches)
            .map_err(|errs| format!("model {}: contract: {}", m.name, errs.join("; ")))?;
        self.operational_rows(m, &batches, outcome)?;
        let rows = self
            .ctx
            .read_batches(batches.clone())
            .map_err(|e| fail("staging the result", &e))?;
        let staged = stream::stage(self.lake, &m.name, rows, &schema)
            .await
            .map_err(|e| fail("staging the result", &e))?;
        outcome.publish = Some(PendingWrite {
            staged,
            metadata: self.commit_metadata(i, m),
            append: false,
            docs: table_docs(m),
        });
        session::register_batches(&self.ctx, &m.name, schema, batches)
            .map_err(|e| fail("registering the result", &e))
    }
}

/// A model's failure message: its name and file, then what went wrong.
fn failed(m: &Model, e: impl std::fmt::Display) -> String {
    format!("model {} ({}): {e}", m.name, m.file.display())
}

/// Registers a view model under its name: its plan, cast to its contract, is planned into every
/// query that reads it. A contract's `not_null` columns are checked with one count query.
pub(crate) async fn register_view(
    ctx: &SessionContext,
    m: &Model,
    df: DataFrame,
    schema: &SchemaRef,
) -> Result<(), String> {
    let df = stream::cast_to(df, schema).map_err(|e| e.strip_backtrace())?;
    let required: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| !f.is_nullable())
        .map(|f| f.name().as_str())
        .collect();
    let mut violations = Vec::new();
    for c in required {
        let nulls = df
            .clone()
            .filter(datafusion::prelude::ident(c).is_null())
            .map_err(|e| e.strip_backtrace())?
            .count()
            .await
            .map_err(|e| e.strip_backtrace())?;
        if nulls > 0 {
            violations.push(format!(
                "column {c}: {nulls} NULL value(s) break the not_null constraint"
            ));
        }
    }
    if !violations.is_empty() {
        return Err(format!("contract: {}", violations.join("; ")));
    }
    session::register_provider(ctx, &m.name, df.into_view()).map_err(|e| e.strip_backtrace())
}

/// What `models/*.yml` says about a model, for its Delta metadata (blank text is no text).
pub(crate) fn table_docs(m: &Model) -> TableDocs {
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

/// When a model that started at `started` and took `duration` ended.
pub(crate) fn ended(started: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    started + chrono::Duration::from_std(duration).unwrap_or_default()
}
