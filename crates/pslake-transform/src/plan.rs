//! `pslake plan`: what a build would do, without writing. Models in order with their
//! materialization, and how each published table's schema would change.

use std::collections::BTreeSet;
use std::fmt;

use arrow::datatypes::Schema;
use chrono::Utc;
use datafusion::common::TableReference;
use pslake_lake::{Lake, TableName};

use crate::error::{Problem, Result};
use crate::planning::{BuildOptions, plan_models, with_unmaterialized_ancestors};
use crate::project::Project;
use crate::{dag, session};

/// How a model's published table would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// The model is not written to its own table (view, rejects, warnings).
    NotPublished,
    /// The table does not exist yet.
    New,
    /// Same columns and types.
    Unchanged,
    /// Columns added, removed or retyped.
    Changed {
        /// `(column, type)` added.
        added: Vec<(String, String)>,
        /// Columns removed.
        removed: Vec<String>,
        /// `(column, published type, new type)`.
        retyped: Vec<(String, String, String)>,
    },
    /// Not planned (a raw input is missing, or a problem).
    Unknown,
}

/// One model in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// `schema.name`.
    pub model: String,
    /// The SQL file.
    pub file: String,
    /// The materialization.
    pub materialized: String,
    /// The models, seeds and lake tables it reads.
    pub reads: Vec<String>,
    /// Number of data tests.
    pub tests: usize,
    /// Schema change of the published table.
    pub change: SchemaChange,
    /// Why it was not planned, if it was not.
    pub note: Option<String>,
    /// Not selected, but computed because a selected model reads it and it is not in the lake
    /// (a view, a rejects or warnings model, a table never published).
    pub unpublished_parent: bool,
}

/// The result of `plan`.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Models in build order.
    pub steps: Vec<PlanStep>,
    /// Problems found (a build would stop on them).
    pub problems: Vec<Problem>,
}

impl Plan {
    /// True when the build would plan.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn diff(published: &Schema, planned: &Schema) -> SchemaChange {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut retyped = Vec::new();
    for f in planned.fields() {
        match published.field_with_name(f.name()) {
            Err(_) => added.push((f.name().clone(), f.data_type().to_string())),
            Ok(old)
                if session::normalized_type(old.data_type())
                    != session::normalized_type(f.data_type()) =>
            {
                retyped.push((
                    f.name().clone(),
                    old.data_type().to_string(),
                    f.data_type().to_string(),
                ))
            }
            Ok(_) => {}
        }
    }
    for f in published.fields() {
        if planned.field_with_name(f.name()).is_err() {
            removed.push(f.name().clone());
        }
    }
    if added.is_empty() && removed.is_empty() && retyped.is_empty() {
        SchemaChange::Unchanged
    } else {
        SchemaChange::Changed {
            added,
            removed,
            retyped,
        }
    }
}

/// Plans the selected models against the lake without writing: every model a build with the same
/// selection computes, in order, unpublished parents included. Models whose raw inputs are not
/// in the lake are listed with a note instead of failing.
pub async fn plan(project: &Project, lake: &Lake, opts: &BuildOptions) -> Result<Plan> {
    let selected = crate::select::select(project, opts.select.as_deref(), opts.exclude.as_deref())?;
    let all: BTreeSet<usize> = (0..project.models().len()).collect();
    let order = dag::order(project, &all);
    // The lake's tables opened once, for the planning context and the published one.
    let opened = session::OpenedLake::open(lake).await?;
    let ctx = session::new_context();
    session::register_opened(&ctx, lake, &opened).await?;
    let tables: BTreeSet<TableName> = opened.names().iter().cloned().collect();
    // What `build` computes: the selection and its parents that are not in the lake.
    let run = with_unmaterialized_ancestors(project, &selected, &tables);
    let published = session::new_context();
    session::register_opened(&published, lake, &opened).await?;
    session::register_run_context(
        &ctx,
        &opts.run_id,
        opts.as_of,
        opts.history_start,
        Utc::now(),
    )
    .map_err(|source| crate::Error::DataFusion {
        context: "registering pslake.run_context".into(),
        source: Box::new(source),
    })?;
    let mut problems = session::register_seeds(&ctx, project);
    let planned = plan_models(project, &ctx, &order, true).await;
    problems.extend(planned.problems);
    let mut steps = Vec::new();
    for i in order.into_iter().filter(|i| run.contains(i)) {
        let m = &project.models()[i];
        let note = planned.skipped.get(&i).cloned();
        let change = match planned.schemas.get(&i) {
            None => SchemaChange::Unknown,
            Some(_) if !m.materialized.publishes() => SchemaChange::NotPublished,
            Some(_) if !tables.contains(&m.name) => SchemaChange::New,
            Some(schema) => {
                let reference =
                    TableReference::partial(m.name.schema.as_str(), m.name.name.as_str());
                match published.table(reference).await {
                    Ok(df) => diff(df.schema().as_arrow(), schema),
                    Err(_) => SchemaChange::New,
                }
            }
        };
        steps.push(PlanStep {
            model: m.name.to_string(),
            file: m.file.display().to_string(),
            materialized: m.materialized.as_str().into(),
            reads: m.refs.iter().map(|r| r.table.to_string()).collect(),
            tests: m.tests.len(),
            change,
            note,
            unpublished_parent: !selected.contains(&i),
        });
    }
    Ok(Plan { steps, problems })
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .steps
            .iter()
            .map(|s| s.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        for (n, s) in self.steps.iter().enumerate() {
            let change = match &s.change {
                SchemaChange::NotPublished => "not published".to_string(),
                SchemaChange::New => "new table".to_string(),
                SchemaChange::Unchanged => "schema unchanged".to_string(),
                SchemaChange::Unknown => "not planned".to_string(),
                SchemaChange::Changed {
                    added,
                    removed,
                    retyped,
                } => {
                    let mut parts = Vec::new();
                    parts.extend(added.iter().map(|(c, t)| format!("+{c} {t}")));
                    parts.extend(removed.iter().map(|c| format!("-{c}")));
                    parts.extend(retyped.iter().map(|(c, a, b)| format!("~{c} {a} -> {b}")));
                    format!("schema change: {}", parts.join(", "))
                }
            };
            write!(
                f,
                "{:>3}. {:<width$}  {:<11}  {} test(s)  {change}",
                n + 1,
                s.model,
                s.materialized,
                s.tests
            )?;
            if s.unpublished_parent {
                write!(f, "  (unpublished parent of the selection)")?;
            }
            if let Some(note) = &s.note {
                write!(f, "  ({note})")?;
            }
            writeln!(f)?;
        }
        for p in &self.problems {
            writeln!(f, "error: {p}")?;
        }
        write!(
            f,
            "{} model(s), {} problem(s)",
            self.steps.len(),
            self.problems.len()
        )
    }
}
