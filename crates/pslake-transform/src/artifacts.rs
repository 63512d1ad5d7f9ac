//! dbt-shaped run artifacts: `manifest.json` and `run_results.json` under
//! `<lake>/_pslake/artifacts/`, written at the end of every build, for the tools that parse dbt's
//! (orchestrators, lineage catalogs, CI bots). Not Cargo's `target/`, and not the repository.
//!
//! The shapes follow dbt's manifest v12 and run-results v6 where pslake has the same thing:
//! `nodes` keyed by `unique_id` (`model.<project>.<name>`, `test.<project>.<test>.<model>`,
//! `seed.<project>.<name>`), `sources` for the raw tables the models read
//! (`source.<project>.raw.<table>`), `parent_map` and `child_map`; results with `status`
//! (`success`, `error`, `skipped` for models; `pass`, `fail`, `warn`, `error` for tests),
//! `timing`, `execution_time`, `adapter_response.rows_affected` and `failures`. Fields dbt has and
//! pslake does not (macros, exposures, semantic models) are present and empty.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use pslake_lake::{Lake, TableName};
use serde_json::{Value, json};

use crate::error::Result;
use crate::planning::BuildOptions;
use crate::project::{Project, Severity};
use crate::report::{ModelResult, ModelStatus, TestOutcome};

/// Where the artifacts go, relative to the lake root.
pub const ARTIFACTS_DIR: &str = "_pslake/artifacts";

const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// The names `unique_id`s are made of.
struct Ids {
    project: String,
    /// Model names that occur in more than one schema get the schema in their id.
    ambiguous: BTreeSet<String>,
}

impl Ids {
    fn new(project: &Project) -> Self {
        let mut seen = BTreeSet::new();
        let mut ambiguous = BTreeSet::new();
        for m in project.models() {
            if !seen.insert(m.name.name.clone()) {
                ambiguous.insert(m.name.name.clone());
            }
        }
        Self {
            project: project
                .settings()
                .name
                .clone()
                .unwrap_or_else(|| "pslake".into()),
            ambiguous,
        }
    }

    fn model(&self, t: &TableName) -> String {
        if self.ambiguous.contains(&t.name) {
            format!("model.{}.{}_{}", self.project, t.schema, t.name)
        } else {
            format!("model.{}.{}", self.project, t.name)
        }
    }

    fn node(&self, project: &Project, t: &TableName) -> String {
        if project.models().iter().any(|m| &m.name == t) {
            self.model(t)
        } else if t.schema == "seeds" {
            format!("seed.{}.{}", self.project, t.name)
        } else {
            format!("source.{}.{}.{}", self.project, t.schema, t.name)
        }
    }

    fn test(&self, name: &str, model: &TableName) -> String {
        let mut clean = String::new();
        for c in name.chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '_' };
            if !(c == '_' && clean.ends_with('_')) {
                clean.push(c);
            }
        }
        format!(
            "test.{}.{}.{}",
            self.project,
            clean.trim_matches('_'),
            model.name
        )
    }
}

fn relation(t: &TableName) -> String {
    format!("\"pslake\".\"{}\".\"{}\"", t.schema, t.name)
}

/// `manifest.json`: every model, its tests, the seeds and the raw tables read, and the DAG.
pub fn manifest(project: &Project, opts: &BuildOptions, generated_at: DateTime<Utc>) -> Value {
    let ids = Ids::new(project);
    let mut nodes = serde_json::Map::new();
    let mut sources = serde_json::Map::new();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in project.models() {
        let id = ids.model(&m.name);
        let inputs: BTreeSet<String> = m
            .inputs()
            .filter(|t| *t != &m.name)
            .map(|t| ids.node(project, t))
            .collect();
        for t in m.inputs().filter(|t| *t != &m.name) {
            let sid = ids.node(project, t);
            if sid.starts_with("source.") {
                sources.entry(sid.clone()).or_insert_with(|| {
                    json!({
                        "unique_id": sid,
                        "resource_type": "source",
                        "package_name": ids.project,
                        "source_name": t.schema,
                        "name": t.name,
                        "identifier": t.name,
                        "schema": t.schema,
                        "database": "pslake",
                        "fqn": [ids.project, t.schema, t.name],
                        "relation_name": relation(t),
                        "description": "",
                        "columns": {},
                    })
                });
                parents.entry(sid.clone()).or_default();
            }
        }
        let columns: serde_json::Map<String, Value> = m
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    json!({
                        "name": c.name,
                        "description": c.description.clone().unwrap_or_default(),
                        "data_type": c.data_type.as_ref().map(|t| t.to_string()),
                        "constraints": if c.not_null { json!([{"type": "not_null"}]) } else { json!([]) },
                        "meta": {},
                        "tags": [],
                    }),
                )
            })
            .collect();
        nodes.insert(
            id.clone(),
            json!({
                "unique_id": id,
                "resource_type": "model",
                "package_name": ids.project,
                "name": m.name.name,
                "alias": m.name.name,
                "schema": m.name.schema,
                "database": "pslake",
                "fqn": [ids.project, m.name.schema, m.name.name],
                "path": m.file.strip_prefix("sql").unwrap_or(&m.file).display().to_string(),
                "original_file_path": m.file.display().to_string(),
                "language": "sql",
                "raw_code": m.sql,
                "description": m.description.clone().unwrap_or_default(),
                "columns": columns,
                "tags": m.tags,
                "config": {
                    "enabled": true,
                    "materialized": m.materialized.as_str(),
                    "unique_key": m.unique_key,
                },
                "depends_on": {"nodes": inputs, "macros": []},
                "relation_name": relation(&m.name),
            }),
        );
        parents.insert(id.clone(), inputs);
        for t in &m.tests {
            let tid = ids.test(&t.name, &m.name);
            let mut depends: BTreeSet<String> = BTreeSet::from([id.clone()]);
            depends.extend(m.test_refs.iter().map(|r| ids.node(project, r)));
            nodes.insert(
                tid.clone(),
                json!({
                    "unique_id": tid,
                    "resource_type": "test",
                    "package_name": ids.project,
                    "name": t.name,
                    "attached_node": id,
                    "original_file_path": t.file.display().to_string(),
                    "config": {
                        "enabled": true,
                        "severity": match t.severity { Severity::Error => "ERROR", Severity::Warn => "WARN" },
                    },
                    "depends_on": {"nodes": depends, "macros": []},
                }),
            );
            parents.insert(tid, depends);
        }
    }
    for s in project.seeds() {
        let id = ids.node(project, &s.name);
        nodes.insert(
            id.clone(),
            json!({
                "unique_id": id,
                "resource_type": "seed",
                "package_name": ids.project,
                "name": s.name.name,
                "schema": "seeds",
                "database": "pslake",
                "fqn": [ids.project, "seeds", s.name.name],
                "original_file_path": s.file.display().to_string(),
                "depends_on": {"nodes": [], "macros": []},
            }),
        );
        parents.entry(id).or_default();
    }
    let mut children: BTreeMap<String, BTreeSet<String>> = parents
        .keys()
        .map(|k| (k.clone(), BTreeSet::new()))
        .collect();
    for (child, ps) in &parents {
        for p in ps {
            children.entry(p.clone()).or_default().insert(child.clone());
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": MANIFEST_SCHEMA,
            "dbt_version": concat!("pslake-", env!("CARGO_PKG_VERSION")),
            "generated_at": generated_at.to_rfc3339(),
            "invocation_id": opts.run_id,
            "project_name": ids.project,
            "adapter_type": "pslake",
            "env": {},
        },
        "nodes": nodes,
        "sources": sources,
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": parents,
        "child_map": children,
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
    })
}

/// `run_results.json`: one result per model built and per test run.
pub fn run_results(
    project: &Project,
    opts: &BuildOptions,
    results: &[(ModelResult, DateTime<Utc>)],
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
) -> Value {
    let ids = Ids::new(project);
    let mut out = Vec::new();
    for (r, at) in results {
        let Some(name) = TableName::parse(&r.model) else {
            continue;
        };
        let done = *at + chrono::Duration::from_std(r.duration).unwrap_or_default();
        let timing = json!([{
            "name": "execute",
            "started_at": at.to_rfc3339(),
            "completed_at": done.to_rfc3339(),
        }]);
        let (status, message) = match &r.status {
            ModelStatus::Ok => ("success", format!("{} rows", r.rows)),
            ModelStatus::Failed(m) => ("error", m.clone()),
            ModelStatus::Skipped(m) => ("skipped", m.clone()),
        };
        out.push(json!({
            "unique_id": ids.model(&name),
            "status": status,
            "timing": timing,
            "thread_id": "pslake",
            "execution_time": r.duration.as_secs_f64(),
            "adapter_response": {
                "_message": message,
                "rows_affected": r.rows,
                "code": if r.reused { "REUSED" } else { r.materialized.as_str() },
            },
            "message": message,
            "failures": Value::Null,
            "compiled": true,
            "relation_name": relation(&name),
        }));
        for t in &r.tests {
            let status = match t.outcome {
                TestOutcome::Pass => "pass",
                TestOutcome::Fail => "fail",
                TestOutcome::Warn => "warn",
                TestOutcome::Error => "error",
            };
            out.push(json!({
                "unique_id": ids.test(&t.name, &name),
                "status": status,
                "timing": timing,
                "thread_id": "pslake",
                "execution_time": 0.0,
                "adapter_response": {},
                "message": t.message,
                "failures": t.failures,
                "compiled": true,
                "relation_name": Value::Null,
            }));
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": RUN_RESULTS_SCHEMA,
            "dbt_version": concat!("pslake-", env!("CARGO_PKG_VERSION")),
            "generated_at": ended.to_rfc3339(),
            "invocation_id": opts.run_id,
            "env": {},
        },
        "results": out,
        "elapsed_time": (ended - started).num_milliseconds() as f64 / 1000.0,
        "args": {
            "which": "build",
            "select": opts.select,
            "exclude": opts.exclude,
            "full_refresh": opts.full_refresh,
        },
    })
}

/// Writes both files under [`ARTIFACTS_DIR`], replacing the previous build's.
pub(crate) async fn write(
    lake: &Lake,
    project: &Project,
    opts: &BuildOptions,
    results: &[(ModelResult, DateTime<Utc>)],
    started: DateTime<Utc>,
) -> Result<()> {
    let ended = Utc::now();
    let manifest = manifest(project, opts, ended);
    let run_results = run_results(project, opts, results, started, ended);
    for (file, doc) in [
        ("manifest.json", manifest),
        ("run_results.json", run_results),
    ] {
        let body = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        lake.put_object(&format!("{ARTIFACTS_DIR}/{file}"), body)
            .await?;
    }
    Ok(())
}
