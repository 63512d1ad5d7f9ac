//! A build: plan every selected model, run them (independent ones concurrently, each after its
//! parents passed), then publish every staged table only when the whole build passed, and
//! append the rejects, warnings and run records.
//!
//! Invariants:
//! - nothing is written before every model in the run has planned (`Error::Plan` otherwise);
//! - a model's output is audited (contract, error-severity tests) before anything is committed;
//!   a failing model's downstream models are skipped;
//! - publishing is all or nothing per build: the staged tables are published as one release
//!   (`pslake_lake::release`: intent, one Delta commit per table tagged with the run id, release
//!   rows) only once every model of the build passed, so a failed build leaves every published
//!   table at its previous version (and its staged files are deleted), and a crash mid-publish is
//!   rolled forward by the next writing command;
//! - beside an extraction (`BuildOptions::landing`, `pslake run`), a model starts once the lake
//!   tables it reads have landed, and the release waits for the extraction's end: a failed
//!   stream publishes nothing (see [`crate::landing`]);
//! - rejects, warnings and run records are appended at the end, one commit per table.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use pslake_lake::ops::{self, RejectRow, RunRecord, WarningRow};
use pslake_lake::{Lake, ReleaseMember, TableName, fault_point};

use crate::dag;
use crate::error::{Error, Problem, ProjectErrors, Result};
use crate::execute::{Outcome, Runner, ended};
use crate::fingerprint;
use crate::landing::Gate;
use crate::planning::{
    BuildOptions, base_context, plan_models, register_empty_self, with_unmaterialized_ancestors,
};
use crate::project::Project;
use crate::report::{BuildReport, ModelResult, ModelStatus, Reporter, TestOutcome};
use crate::select;
use crate::session::OpenedLake;

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
    // Every lake table opened once, for both contexts and the recorded fingerprints.
    let opened = OpenedLake::open(lake).await?;
    let lake_tables: BTreeSet<TableName> = opened.names().iter().cloned().collect();
    let run = with_unmaterialized_ancestors(project, &selected, &lake_tables);
    let order = dag::order(project, &run);

    let plan_ctx = base_context(project, lake, &opened, opts, started).await?;
    if let Some(landing) = &opts.landing {
        landing.register_for_planning(&plan_ctx).await?;
    }
    let planned = plan_models(project, &plan_ctx, &order, false).await;
    if !planned.problems.is_empty() {
        return Err(Error::Plan(ProjectErrors(planned.problems)));
    }

    let ctx = base_context(project, lake, &opened, opts, started).await?;
    if let Some(landing) = &opts.landing {
        landing.register_missing(&ctx)?;
    }
    for &i in &order {
        register_empty_self(&ctx, &project.models()[i]).map_err(|m| {
            Error::Plan(ProjectErrors(vec![Problem::new(
                &project.models()[i].file,
                None,
                m,
            )]))
        })?;
    }
    // What each published table recorded when it was built: a table model whose fingerprint
    // (computed when it is about to run, its inputs landed) equals it is reused, not rebuilt.
    let mut published = HashMap::new();
    for &i in &order {
        let m = &project.models()[i];
        if m.materialized.publishes()
            && let Some(table) = opened.get(&m.name)
        {
            published.insert(i, fingerprint::recorded(lake, &m.name, table).await?);
        }
    }
    let clean_tests = if opts.full_refresh {
        HashMap::new()
    } else {
        fingerprint::last_clean_tests(&ctx).await
    };
    let runner = Runner {
        project,
        opts,
        lake,
        ctx,
        lake_tables,
        fingerprinter: fingerprint::Fingerprinter::new(project, opts),
        published,
        clean_tests,
        prepared: Default::default(),
        months: Default::default(),
        refreshed: Default::default(),
    };
    let parents = dag::parents(project);
    let max = opts.concurrency.max(1);
    let mut landing = opts.landing.clone();
    // When more models are ready than there are slots, those that hold up more others go first.
    let mut pending: Vec<usize> = dag::by_downstream(&parents, &order);
    let mut done: HashMap<usize, bool> = HashMap::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        let mut idx = 0;
        // Whether a model waits for a lake table still landing (and for nothing else).
        let mut landing_awaited = false;
        while idx < pending.len() {
            let i = pending[idx];
            let m = &project.models()[i];
            let ps: Vec<usize> = parents[i]
                .iter()
                .copied()
                .filter(|p| run.contains(p))
                .collect();
            let gate = landing.as_ref().map_or(Gate::Open, |l| l.gate(m.inputs()));
            let skip = if let Some(&bad) = ps.iter().find(|p| done.get(p) == Some(&false)) {
                let upstream = &project.models()[bad];
                Some(
                    match outcomes
                        .iter()
                        .find(|o| o.result.model == upstream.name.to_string())
                        .map(|o| &o.result.status)
                    {
                        Some(ModelStatus::Skipped(_)) => {
                            format!("upstream {} was skipped", upstream.name)
                        }
                        _ => format!("upstream {} failed", upstream.name),
                    },
                )
            } else if let Gate::Closed(why) = &gate {
                Some(why.clone())
            } else {
                None
            };
            if let Some(why) = skip {
                pending.remove(idx);
                done.insert(i, false);
                let status = ModelStatus::Skipped(why);
                reporter.on_model_done(&m.name.to_string(), 0, Duration::ZERO, &status);
                outcomes.push(Outcome::not_run(m, status));
                continue;
            }
            if ps.iter().all(|p| done.get(p) == Some(&true)) {
                if gate == Gate::Wait {
                    landing_awaited = true;
                } else if running.len() < max {
                    pending.remove(idx);
                    running.push(Box::pin(runner.run_model(i, reporter)));
                    continue;
                }
            }
            idx += 1;
        }
        let finished = tokio::select! {
            next = running.next(), if !running.is_empty() => next,
            () = async {
                match landing.as_mut() {
                    Some(l) => l.changed().await,
                    None => std::future::pending().await,
                }
            }, if landing_awaited => continue,
            else => None,
        };
        match finished {
            Some((i, outcome)) => {
                fault_point(format_args!("build:after_model:{}", outcome.result.model));
                done.insert(i, outcome.result.status == ModelStatus::Ok);
                outcomes.push(outcome);
            }
            None => break,
        }
    }
    // Nothing is published, and the build's own appends to the `_pslake` tables wait, until
    // the extraction beside it is over; a failed one publishes nothing.
    let extraction_failed = match &opts.landing {
        Some(l) => l.finished().await.err(),
        None => None,
    };
    let model_fingerprints: HashMap<String, String> = runner
        .prepared
        .lock()
        .expect("prepared")
        .fingerprints
        .of
        .iter()
        .map(|(&i, f)| (project.models()[i].name.to_string(), f.clone()))
        .collect();

    // The build's rejects and warnings are logs of this run: written before the publish, so a
    // crash after the release (whose models the next run reuses, not rebuilds) loses none.
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

    // Bytes each model wrote (its staged files), for the run records.
    let bytes: HashMap<String, u64> = outcomes
        .iter()
        .filter_map(|o| {
            o.publish
                .as_ref()
                .map(|w| (o.result.model.clone(), w.staged.bytes()))
        })
        .collect();

    // Publish: all audited tables, in dependency order, only when the whole build passed.
    let passed =
        extraction_failed.is_none() && outcomes.iter().all(|o| o.result.status == ModelStatus::Ok);
    if passed {
        fault_point("build:before_publish");
    }
    if passed {
        let position: HashMap<String, usize> = order
            .iter()
            .enumerate()
            .map(|(pos, &i)| (project.models()[i].name.to_string(), pos))
            .collect();
        outcomes.sort_by_key(|o| position.get(&o.result.model).copied().unwrap_or(usize::MAX));
        // One release: intent, table commits, release rows (see `pslake_lake::release`).
        let mut members = Vec::new();
        for o in outcomes.iter_mut() {
            let Some(w) = o.publish.take() else { continue };
            members.push(ReleaseMember {
                staged: w.staged,
                append: w.append,
                metadata: w.metadata,
                docs: w.docs,
            });
        }
        let versions = lake.publish_release(&opts.run_id, members).await?;
        for o in outcomes.iter_mut() {
            if let Some(t) = TableName::parse(&o.result.model)
                && let Some(&v) = versions.get(&t)
            {
                o.result.version = Some(v);
            }
        }
    } else {
        // Nothing of a failed build is published: its staged files go.
        for o in outcomes.iter_mut() {
            if let Some(w) = o.publish.take() {
                lake.discard_staged(w.staged).await;
            }
        }
    }

    fault_point("build:after_release");
    let mut records: Vec<RunRecord> = outcomes
        .iter()
        .map(|o| {
            let r = &o.result;
            let count = |x| r.tests.iter().filter(|t| t.outcome == x).count();
            let details = serde_json::json!({
                "materialized": r.materialized,
                "unchanged": r.reused,
                "fingerprint": model_fingerprints.get(&r.model),
                "version": r.version,
                "tests": { "passed": count(TestOutcome::Pass), "failed": count(TestOutcome::Fail) + count(TestOutcome::Error), "warned": count(TestOutcome::Warn) },
                // what the tests read: the rows of the months rewritten, or the whole table
                "tests_scope": if r.tests_rewritten_only { "rewritten months" } else { "table" },
                "warnings": r.tests.iter().filter(|t| t.outcome == TestOutcome::Warn).filter_map(|t| t.message.clone()).collect::<Vec<_>>(),
                // Each test's result, for `pslake docs` (empty when the tests did not run again).
                "test_results": r.tests.iter().map(|t| serde_json::json!({
                    "test": t.name,
                    "outcome": t.outcome.as_str(),
                    "failures": t.failures,
                    "message": t.message.as_deref().map(|m| m.chars().take(500).collect::<String>()),
                })).collect::<Vec<_>>(),
            });
            RunRecord {
                run_id: opts.run_id.clone(),
                pipeline: opts.pipeline.clone(),
                stage: format!("model:{}", r.model),
                status: r.status.as_str().into(),
                started_at: o.started,
                ended_at: ended(o.started, r.duration),
                rows: (r.materialized != "view" && !r.reused).then(|| i64::try_from(r.rows).unwrap_or(i64::MAX)),
                rows_landed: None,
                rows_rejected: (r.materialized == "rejects").then(|| i64::try_from(r.rows).unwrap_or(i64::MAX)),
                bytes: bytes.get(&r.model).map(|b| i64::try_from(*b).unwrap_or(i64::MAX)),
                error: match &r.status {
                    ModelStatus::Ok => None,
                    ModelStatus::Failed(m) | ModelStatus::Skipped(m) => Some(m.clone()),
                },
                details: Some(details.to_string()),
            }
        })
        .collect();
    // One row for the build stage as a whole, beside the per-model rows.
    let failed: Vec<String> = extraction_failed
        .iter()
        .cloned()
        .chain(
            outcomes
                .iter()
                .filter(|o| o.result.status != ModelStatus::Ok)
                .map(|o| format!("{}: {}", o.result.model, o.result.status.as_str())),
        )
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
        bytes: Some(i64::try_from(bytes.values().sum::<u64>()).unwrap_or(i64::MAX)),
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
    let results: Vec<(ModelResult, DateTime<Utc>)> = outcomes
        .iter()
        .map(|o| (o.result.clone(), o.started))
        .collect();
    crate::artifacts::write(lake, project, opts, &results, started).await?;
    Ok(BuildReport {
        run_id: opts.run_id.clone(),
        models: outcomes.into_iter().map(|o| o.result).collect(),
        rejects: rejects.len() as u64,
        warnings: warnings.len() as u64,
        published: passed,
    })
}
