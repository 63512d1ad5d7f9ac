//! `pslake query` and `pslake show`: SQL over the lake in a session that sees what a model sees.
//!
//! The session holds the lake's tables, the seeds, `pslake.run_context`, and every model whose
//! result is not in the lake (views, rejects and warnings models, tables never published) as a
//! DataFusion view, computed only when a query reads it. `SHOW TABLES` and `information_schema`
//! list them all. Nothing is ever written: DDL and DML are refused. Published tables are read at
//! the versions of the last complete release (`_pslake.releases`), never a publish half done.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::Utc;
use datafusion::datasource::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName};

use crate::contract;
use crate::dag;
use crate::error::{Error, Problem, ProjectErrors, Result};
use crate::planning::{BuildOptions, register_empty_self};
use crate::project::{Materialization, Project};
use crate::select;
use crate::session;

/// A model's result computed without publishing it (`pslake show`).
#[derive(Debug, Clone)]
pub struct Preview {
    /// `schema.name`.
    pub model: String,
    /// Up to the requested number of rows, in the types the model would publish.
    pub batches: Vec<RecordBatch>,
    /// Why the rows would not publish as they are (contract violations), if anything.
    pub problems: Vec<String>,
}

fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
}

fn query_error(e: DataFusionError) -> Error {
    Error::Query(e.strip_backtrace())
}

/// The session `pslake query` runs in: the lake, `pslake.run_context` and, with a project, the
/// seeds and every model not in the lake as a view. Models that cannot be planned (a raw table not
/// landed yet) are left out and logged.
pub async fn query_context(
    project: Option<&Project>,
    lake: &Lake,
    opts: &BuildOptions,
) -> Result<SessionContext> {
    let ctx = session::new_query_context();
    // The tables of the last complete release at its versions (a publish in progress or
    // interrupted is not seen), the others (raw, `_pslake`) at their latest.
    let released = pslake_lake::ops::released_versions(lake, None).await?;
    let tables: BTreeSet<TableName> = session::register_lake_at(&ctx, lake, released.as_ref())
        .await?
        .into_iter()
        .collect();
    session::register_run_context(
        &ctx,
        &opts.run_id,
        opts.as_of,
        opts.history_start,
        Utc::now(),
    )
    .map_err(|source| Error::DataFusion {
        context: "registering pslake.run_context".into(),
        source: Box::new(source),
    })?;
    let Some(project) = project else {
        return Ok(ctx);
    };
    let problems = session::register_seeds(&ctx, project);
    if !problems.is_empty() {
        return Err(Error::Project(ProjectErrors(problems)));
    }
    let all: BTreeSet<usize> = (0..project.models().len()).collect();
    for i in dag::order(project, &all) {
        let m = &project.models()[i];
        if m.materialized.publishes() && tables.contains(&m.name) {
            continue;
        }
        let view = async {
            register_empty_self(&ctx, m)?;
            let mut df = session::model_query(&ctx, m)
                .await
                .map_err(|e| e.strip_backtrace())?;
            if m.materialized == Materialization::Snapshot {
                // What its first build would publish: every row a current version.
                df = crate::snapshot::first_versions(df, m, opts.as_of)
                    .map_err(|e| e.strip_backtrace())?;
            }
            let view = ViewTable::new(df.into_unoptimized_plan(), Some(m.sql.clone()));
            session::register_provider(&ctx, &m.name, Arc::new(view)).map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = view {
            tracing::debug!(model = %m.name, %error, "model not queryable");
        }
    }
    Ok(ctx)
}

/// Runs one read-only statement (a query, `SHOW TABLES`, `EXPLAIN`, ...) in
/// [`query_context`] and collects the result.
pub async fn query(
    project: Option<&Project>,
    lake: &Lake,
    opts: &BuildOptions,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    let ctx = query_context(project, lake, opts).await?;
    let df = ctx
        .sql_with_options(sql, sql_options())
        .await
        .map_err(query_error)?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut batches = df.collect().await.map_err(query_error)?;
    if batches.is_empty() {
        // No rows: still one (empty) batch, so the columns can be printed.
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// Computes model `name` (`name` or `schema.name`) and returns its first `limit` rows, without
/// writing anything: its parents are read from the lake when published and computed otherwise.
pub async fn show(
    project: &Project,
    lake: &Lake,
    opts: &BuildOptions,
    name: &str,
    limit: usize,
) -> Result<Preview> {
    let i = select::one_model(project, name)?;
    let m = &project.models()[i];
    let ctx = query_context(Some(project), lake, opts).await?;
    let plan_error = |e: DataFusionError| {
        Error::Plan(ProjectErrors(vec![Problem::new(
            &m.file,
            crate::typecheck::error_position(&e, &m.sql).map(|(line, _)| line),
            format!("model {}: {}", m.name, e.strip_backtrace()),
        )]))
    };
    if let Err(msg) = register_empty_self(&ctx, m) {
        return Err(Error::Plan(ProjectErrors(vec![Problem::new(
            &m.file, None, msg,
        )])));
    }
    let df = session::model_query(&ctx, m).await.map_err(plan_error)?;
    let planned = df.schema().as_arrow().clone();
    let batches = df
        .limit(0, Some(limit))
        .map_err(plan_error)?
        .collect()
        .await
        .map_err(|e| Error::Query(format!("model {}: {}", m.name, e.strip_backtrace())))?;
    let actual = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(planned));
    Ok(match contract::conform(m, &actual, batches.clone()) {
        Ok((schema, mut conformed)) => Preview {
            model: m.name.to_string(),
            batches: {
                if conformed.is_empty() {
                    conformed.push(RecordBatch::new_empty(schema));
                }
                conformed
            },
            problems: Vec::new(),
        },
        Err(problems) => Preview {
            model: m.name.to_string(),
            batches,
            problems: problems
                .into_iter()
                .map(|p| format!("model {}: contract: {p}", m.name))
                .collect(),
        },
    })
}
