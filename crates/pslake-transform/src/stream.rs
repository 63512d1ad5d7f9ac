//! Streaming a model's output to its table's data files, and reading staged files back.
//!
//! A table model's physical plan runs partition by partition (`execute_stream_partitioned`);
//! each partition's batches are conformed to the model's contract on the fly and written by
//! their own Parquet writer ([`pslake_lake::Lake::stage`]). Nothing holds the whole output.
//! On a cluster ([`crate::cluster`]) the plan runs there and its rows arrive as one stream.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::execute_stream_partitioned;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use pslake_lake::{Lake, Month, Staged, TableName};

use crate::session;

/// `df` with its columns cast to `schema`'s types where they differ (names kept).
pub(crate) fn cast_to(df: DataFrame, schema: &SchemaRef) -> DfResult<DataFrame> {
    let current = df.schema().as_arrow().clone();
    if current.fields().len() == schema.fields().len()
        && current
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.data_type() == b.data_type())
    {
        return Ok(df);
    }
    df.select(session::cast_exprs(&current, schema))
}

/// A table provider over staged files (an empty table when nothing was written).
pub(crate) fn staged_provider(staged: &Staged) -> DfResult<Arc<dyn TableProvider>> {
    files_provider(&staged.file_urls(), staged.schema().clone())
}

/// A table provider over Parquet data files read as `schema` (a column a file lacks reads as
/// NULL; an empty table when there is no file).
pub(crate) fn files_provider(
    files: &[url::Url],
    schema: SchemaRef,
) -> DfResult<Arc<dyn TableProvider>> {
    let urls = files
        .iter()
        .map(|u| ListingTableUrl::parse(u.as_str()))
        .collect::<DfResult<Vec<_>>>()?;
    if urls.is_empty() {
        return Ok(Arc::new(MemTable::try_new(schema, vec![Vec::new()])?));
    }
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The staged rows as a DataFrame of `ctx`.
pub(crate) fn read_staged(ctx: &SessionContext, staged: &Staged) -> DfResult<DataFrame> {
    ctx.read_table(staged_provider(staged)?)
}

/// NULL counts per column, shared by a model's partitions.
type NullCounts = Arc<Mutex<Vec<usize>>>;

/// `stream` with every batch cast to `schema`; a batch with a NULL in a NOT NULL column is
/// counted in `nulls` and not passed on (the model then fails with the counts).
fn conformed(
    stream: SendableRecordBatchStream,
    schema: SchemaRef,
    nulls: NullCounts,
) -> SendableRecordBatchStream {
    let target = schema.clone();
    let mapped = stream.map(move |batch| {
        let batch = batch?;
        let mut columns = Vec::with_capacity(batch.num_columns());
        let mut violates = false;
        for (i, (array, field)) in batch.columns().iter().zip(target.fields()).enumerate() {
            if !field.is_nullable() && array.null_count() > 0 {
                violates = true;
                nulls.lock().expect("null counts")[i] += array.null_count();
            }
            columns.push(if array.data_type() == field.data_type() {
                array.clone()
            } else {
                arrow::compute::cast(array, field.data_type())
                    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?
            });
        }
        if violates {
            return Ok(RecordBatch::new_empty(target.clone()));
        }
        Ok(RecordBatch::try_new(target.clone(), columns)?)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, mapped))
}

/// Runs `df` and writes its rows, conformed to `schema`, as staged data files of `table`.
/// Fails (and deletes what it wrote) when a NOT NULL column got NULLs.
pub(crate) async fn stage(
    lake: &Lake,
    table: &TableName,
    df: DataFrame,
    schema: &SchemaRef,
) -> Result<Staged, String> {
    Ok(stage_kept(lake, table, df, schema, None).await?.0)
}

/// [`stage`], writing month files of the DATE column `by_month` when it is given (the months
/// written are returned with the files).
pub(crate) async fn stage_kept(
    lake: &Lake,
    table: &TableName,
    df: DataFrame,
    schema: &SchemaRef,
    by_month: Option<&str>,
) -> Result<(Staged, BTreeSet<Month>), String> {
    let layout = match by_month {
        Some(field) => Layout::ByMonth(field),
        None => Layout::Plain,
    };
    stage_layout(lake, table, df, schema, layout).await
}

/// [`stage`], every file under the folder `folder` of the table (a snapshot's current and
/// closed versions, see [`crate::snapshot`]).
pub(crate) async fn stage_in(
    lake: &Lake,
    table: &TableName,
    df: DataFrame,
    schema: &SchemaRef,
    folder: &str,
) -> Result<Staged, String> {
    Ok(
        stage_layout(lake, table, df, schema, Layout::Folder(folder))
            .await?
            .0,
    )
}

/// Where staged files go in their table's folder.
enum Layout<'a> {
    /// At the root.
    Plain,
    /// In month folders of this DATE column.
    ByMonth(&'a str),
    /// In this folder.
    Folder(&'a str),
}

async fn stage_layout(
    lake: &Lake,
    table: &TableName,
    df: DataFrame,
    schema: &SchemaRef,
    layout: Layout<'_>,
) -> Result<(Staged, BTreeSet<Month>), String> {
    let task = Arc::new(df.task_ctx());
    let plan = df
        .create_physical_plan()
        .await
        .map_err(|e| format!("planning: {}", e.strip_backtrace()))?;
    let nulls: NullCounts = Arc::new(Mutex::new(vec![0; schema.fields().len()]));
    let running = |e: DataFusionError| format!("running: {}", e.strip_backtrace());
    let cluster = crate::cluster::of_config(task.session_config()).filter(|cluster| {
        let reason = cluster.unsupported(&plan);
        if let Some(reason) = &reason {
            tracing::warn!(
                table = %table,
                cluster = %cluster.address(),
                %reason,
                "this model runs in this process: the cluster cannot take its plan"
            );
        }
        reason.is_none()
    });
    let streams = match cluster {
        Some(cluster) => {
            let config = task.session_config().clone();
            vec![
                cluster
                    .execute(plan, config)
                    .await
                    .map_err(|e| format!("on {}: {}", cluster.address(), running(e)))?,
            ]
        }
        None => execute_stream_partitioned(plan, task).map_err(running)?,
    }
    .into_iter()
    .map(|s| conformed(s, schema.clone(), nulls.clone()))
    .collect();
    let (staged, months) = match layout {
        Layout::ByMonth(field) => {
            lake.stage_by_month(table, schema.clone(), field, streams)
                .await
        }
        Layout::Plain => lake
            .stage(table, schema.clone(), streams)
            .await
            .map(|s| (s, BTreeSet::new())),
        Layout::Folder(folder) => lake
            .stage_in(table, schema.clone(), folder, streams)
            .await
            .map(|s| (s, BTreeSet::new())),
    }
    .map_err(|e| format!("running: {e}"))?;
    let violations: Vec<String> = nulls
        .lock()
        .expect("null counts")
        .iter()
        .zip(schema.fields())
        .filter(|(n, _)| **n > 0)
        .map(|(n, f)| {
            format!(
                "column {}: {n} NULL value(s) break the not_null constraint",
                f.name()
            )
        })
        .collect();
    if !violations.is_empty() {
        lake.discard_staged(staged).await;
        return Err(format!("contract: {}", violations.join("; ")));
    }
    Ok((staged, months))
}
