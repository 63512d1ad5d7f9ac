//! The DataFusion session a build runs in: lake tables, seeds, `pslake.run_context`, and
//! in-memory model results registered under their `schema.name`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::catalog::{MemTable, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use pslake_lake::TableName;

use crate::error::Problem;
use crate::project::{Project, Seed};

/// A session with spans collected (so plan errors carry lines).
pub(crate) fn new_context() -> SessionContext {
    let config = SessionConfig::new().set_bool("datafusion.sql_parser.collect_spans", true);
    SessionContext::new_with_config(config)
}

/// A session for `pslake query` and `pslake show`: like [`new_context`], with `SHOW TABLES` and
/// `information_schema`.
pub(crate) fn new_query_context() -> SessionContext {
    let config = SessionConfig::new()
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .with_information_schema(true);
    SessionContext::new_with_config(config)
}

fn ensure_schema(ctx: &SessionContext, name: &str) -> Result<(), DataFusionError> {
    let catalog_name = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let catalog = ctx
        .catalog(&catalog_name)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog_name}")))?;
    if catalog.schema(name).is_none() {
        let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog.register_schema(name, schema)?;
    }
    Ok(())
}

/// Registers (or replaces) `t` as an in-memory table.
pub(crate) fn register_batches(
    ctx: &SessionContext,
    t: &TableName,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), DataFusionError> {
    let table = MemTable::try_new(schema, vec![batches])?;
    register_provider(ctx, t, Arc::new(table))
}

/// Registers (or replaces) `t` as a provider, e.g. a view computed when read.
pub(crate) fn register_provider(
    ctx: &SessionContext,
    t: &TableName,
    provider: Arc<dyn TableProvider>,
) -> Result<(), DataFusionError> {
    ensure_schema(ctx, &t.schema)?;
    let reference = TableReference::partial(t.schema.as_str(), t.name.as_str());
    ctx.deregister_table(reference.clone())?;
    ctx.register_table(reference, provider)?;
    Ok(())
}

/// Whether `t` is registered in `ctx`.
pub(crate) fn has_table(ctx: &SessionContext, t: &TableName) -> bool {
    ctx.table_exist(TableReference::partial(t.schema.as_str(), t.name.as_str()))
        .unwrap_or(false)
}

/// The schema of `run_context`.
fn run_context_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("history_start", DataType::Date32, false),
        Field::new(
            "run_started_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

fn days(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Registers the one-row `pslake.run_context`.
pub(crate) fn register_run_context(
    ctx: &SessionContext,
    run_id: &str,
    as_of: NaiveDate,
    history_start: NaiveDate,
    started: DateTime<Utc>,
) -> Result<(), DataFusionError> {
    let schema = run_context_schema();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id])),
        Arc::new(Date32Array::from(vec![days(as_of)])),
        Arc::new(Date32Array::from(vec![days(history_start)])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![started.timestamp_micros()]).with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    register_batches(ctx, &crate::dag::run_context_table(), schema, vec![batch])
}

/// Reads a seed CSV: header row, empty cells NULL, declared types cast from text.
pub(crate) fn read_seed(
    root: &std::path::Path,
    seed: &Seed,
) -> Result<(SchemaRef, RecordBatch), Problem> {
    let problem = |line: Option<usize>, msg: String| Problem::new(&seed.file, line, msg);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(root.join(&seed.file))
        .map_err(|e| problem(None, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| problem(Some(1), e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| problem(Some(i + 2), e.to_string()))?;
        if record.len() != headers.len() {
            return Err(problem(
                Some(i + 2),
                format!("{} fields, the header has {}", record.len(), headers.len()),
            ));
        }
        for (c, v) in record.iter().enumerate() {
            columns[c].push((!v.is_empty()).then(|| v.to_string()));
        }
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, values) in headers.iter().zip(columns) {
        let text: ArrayRef = Arc::new(StringArray::from(values));
        let target = seed.types.get(name).cloned().unwrap_or(DataType::Utf8);
        let opts = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let array = arrow::compute::cast_with_options(&text, &target, &opts)
            .map_err(|e| problem(None, format!("column {name}: cannot read as {target}: {e}")))?;
        fields.push(Field::new(name, target, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| problem(None, e.to_string()))?;
    Ok((schema, batch))
}

/// Registers every seed; returns the problems of unreadable seeds.
pub(crate) fn register_seeds(ctx: &SessionContext, project: &Project) -> Vec<Problem> {
    let mut problems = Vec::new();
    for seed in project.seeds() {
        match read_seed(project.root(), seed) {
            Ok((schema, batch)) => {
                if let Err(e) = register_batches(ctx, &seed.name, schema, vec![batch]) {
                    problems.push(Problem::new(&seed.file, None, e.to_string()));
                }
            }
            Err(p) => problems.push(p),
        }
    }
    problems
}
