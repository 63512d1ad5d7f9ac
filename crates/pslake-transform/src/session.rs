//! The DataFusion session a build runs in: lake tables, seeds, `pslake.run_context`, and
//! in-memory model results registered under their `schema.name`.
//!
//! Invariant: every table enters a session through [`register_provider`], which gives it the
//! session's one representation of each type ([`normalized_type`]: `Utf8`, never `Utf8View` or
//! `LargeUtf8`; `Binary`, never `BinaryView` or `LargeBinary`). A table read back from Delta and
//! the same model computed in the run therefore have identical schemas, so a build of one model
//! on a published lake plans exactly like the full build. The session is also configured not to
//! produce view types itself (`CAST(x AS VARCHAR)` is `Utf8`, Parquet strings are read as `Utf8`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::catalog::{MemTable, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::{Column, TableReference};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;
use pslake_lake::{Lake, TableName};

use crate::cluster::Cluster;
use crate::error::{Error, Problem};
use crate::latest_row::{LatestRowPerKey, UniqueKeys};
use crate::project::{Project, Seed};
use crate::settings::Settings;

/// A session with spans collected (so plan errors carry lines and columns), configured to
/// produce plain string types: Parquet strings are read as `Utf8` and `VARCHAR` means `Utf8`.
pub(crate) fn new_context() -> SessionContext {
    with_rules(SessionContext::new_with_config(session_config()))
}

/// `ctx` with pslake's own optimizer rule (the latest row per key without a window partition
/// per key, [`crate::latest_row`], told by the session's [`UniqueKeys`] which tables need none).
fn with_rules(ctx: SessionContext) -> SessionContext {
    let unique = Arc::new(UniqueKeys::default());
    let state = ctx.state();
    let config = state.config().clone().with_extension(Arc::clone(&unique));
    // The small side of a cross join held, not the large one ([`crate::small_side`]), decided
    // right after DataFusion's own join selection.
    let mut rules = state.physical_optimizers().to_vec();
    let at = rules
        .iter()
        .position(|r| r.name() == crate::small_side::AFTER)
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, Arc::new(crate::small_side::SmallSideFirst));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .with_optimizer_rule(Arc::new(LatestRowPerKey::new(unique)))
        .with_physical_optimizer_rules(rules)
        .build();
    SessionContext::new_with_state(state)
}

/// Tells `ctx`'s latest-row rule whether `t` holds one row per value of `key`.
fn set_unique_key(ctx: &SessionContext, t: &TableReference, key: Option<String>) {
    let unique = ctx
        .state_ref()
        .read()
        .config()
        .get_extension::<UniqueKeys>();
    if let Some(unique) = unique {
        unique.set(t.clone(), key);
    }
}

/// A session for building models: like [`new_context`], in a memory pool of the project's
/// `memory_limit` shared fairly by the operators that can spill (sorts, aggregations, which
/// then spill to the OS temporary directory).
///
/// With a `cluster`, the session is configured for it and its table models run there
/// ([`crate::cluster`]).
pub(crate) fn new_build_context(
    settings: &Settings,
    cluster: Option<&Arc<dyn Cluster>>,
) -> SessionContext {
    let limit = usize::try_from(settings.memory_limit).unwrap_or(usize::MAX);
    match RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .build_arc()
    {
        Ok(runtime) => {
            let mut config = session_config();
            if let Some(n) = settings.threads {
                config = config.with_target_partitions(n);
            }
            if let Some(cluster) = cluster {
                config = crate::cluster::attach(config, cluster);
            }
            with_rules(SessionContext::new_with_config_rt(config, runtime))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no memory pool; building without a memory limit");
            new_context()
        }
    }
}

/// Model `m`'s query planned in `ctx`, or, when the model has its own `datafusion:` settings,
/// in a session sharing `ctx`'s tables, functions and memory pool with those settings on top
/// (the query runs with them too).
pub(crate) async fn model_query(
    ctx: &SessionContext,
    m: &crate::project::Model,
) -> Result<datafusion::dataframe::DataFrame, DataFusionError> {
    for_model(ctx, m)?.sql(&m.sql).await
}

fn for_model<'a>(
    ctx: &'a SessionContext,
    m: &crate::project::Model,
) -> Result<std::borrow::Cow<'a, SessionContext>, DataFusionError> {
    if m.engine_settings.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(ctx));
    }
    let mut state = ctx.state();
    for (key, value) in &m.engine_settings {
        state.config_mut().options_mut().set(key, value)?;
    }
    Ok(std::borrow::Cow::Owned(SessionContext::new_with_state(
        state,
    )))
}

/// The one configuration of every session: spans for line numbers, plain (not view) strings.
fn session_config() -> SessionConfig {
    SessionConfig::new()
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
}

/// The session's representation of `t`: view and large string/binary types become the plain
/// ones, inside lists, structs and maps too. Everything else is unchanged.
pub(crate) fn normalized_type(t: &DataType) -> DataType {
    let field = |f: &FieldRef| -> FieldRef {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(normalized_type(f.data_type())),
        )
    };
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            DataType::List(field(f))
        }
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(field).collect()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(normalized_type(v))),
        other => other.clone(),
    }
}

/// `schema` with every field's type [`normalized_type`] (names, nullability, metadata kept).
pub(crate) fn normalized_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(normalized_type(f.data_type()))
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` cast to `schema` column by column (same column order).
pub(crate) fn cast_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// One projection expression per column of `from`: the column itself when its type is `to`'s,
/// else cast to `to`'s type (keeping its name).
pub(crate) fn cast_exprs(from: &Schema, to: &Schema) -> Vec<Expr> {
    from.fields()
        .iter()
        .zip(to.fields())
        .map(|(from, to)| {
            let column = Expr::Column(Column::new_unqualified(from.name()));
            if from.data_type() == to.data_type() {
                column
            } else {
                cast(column, to.data_type().clone()).alias(from.name())
            }
        })
        .collect()
}

/// The one place a table enters a session: registers (or replaces) `provider` as `t` with its
/// schema [`normalized_schema`]. A provider that already has normalized types is registered as
/// is; any other is wrapped in a view casting the columns that differ.
pub(crate) fn register_provider(
    ctx: &SessionContext,
    t: &TableName,
    provider: Arc<dyn TableProvider>,
) -> Result<(), DataFusionError> {
    ensure_schema(ctx, &t.schema)?;
    let reference = TableReference::partial(t.schema.as_str(), t.name.as_str());
    let schema = provider.schema();
    let target = normalized_schema(&schema);
    let provider: Arc<dyn TableProvider> = if target.fields() == schema.fields() {
        provider
    } else {
        let plan = LogicalPlanBuilder::scan(reference.clone(), provider_as_source(provider), None)?
            .project(cast_exprs(&schema, &target))?
            .build()?;
        Arc::new(ViewTable::new(plan, None))
    };
    ctx.deregister_table(reference.clone())?;
    set_unique_key(ctx, &reference, None);
    ctx.register_table(reference, provider)?;
    Ok(())
}

/// The lake's Delta tables, each opened once: a build registers the same snapshots in its
/// planning and its execution context and reads its tables' recorded fingerprints from them,
/// instead of loading every table's log three times.
pub(crate) struct OpenedLake {
    /// Every table the lake lists, in the order listed.
    names: Vec<TableName>,
    /// The opened tables among them (one without a version is not).
    tables: HashMap<TableName, DeltaTable>,
}

impl OpenedLake {
    /// Opens every table of the lake at its latest version.
    pub(crate) async fn open(lake: &Lake) -> crate::Result<Self> {
        Self::open_at(lake, None).await
    }

    /// Opens the tables of `pins` at their pinned version, the others at their latest.
    async fn open_at(lake: &Lake, pins: Option<&BTreeMap<TableName, i64>>) -> crate::Result<Self> {
        let names = lake.list_tables().await?;
        let pin = |t: &TableName| pins.and_then(|p| p.get(t)).copied();
        let latest: Vec<TableName> = names.iter().filter(|t| pin(t).is_none()).cloned().collect();
        let opened = lake.open_many(&latest).await?;
        let mut tables: HashMap<TableName, DeltaTable> = latest
            .into_iter()
            .zip(opened)
            .filter_map(|(t, table)| Some((t, table?)))
            .collect();
        for t in &names {
            if let Some(v) = pin(t) {
                tables.insert(t.clone(), lake.open_at(t, v).await?);
            }
        }
        Ok(Self { names, tables })
    }

    /// Every table the lake lists.
    pub(crate) fn names(&self) -> &[TableName] {
        &self.names
    }

    /// Table `t` as opened, if the lake has it with a version.
    pub(crate) fn get(&self, t: &TableName) -> Option<&DeltaTable> {
        self.tables.get(t)
    }
}

/// Registers every Delta table of the lake in `ctx` (through [`register_provider`]), the tables
/// of `pins` at their pinned version (the last complete release, for readers), the others at
/// their latest; returns their names.
pub(crate) async fn register_lake_at(
    ctx: &SessionContext,
    lake: &Lake,
    pins: Option<&BTreeMap<TableName, i64>>,
) -> crate::Result<Vec<TableName>> {
    let opened = OpenedLake::open_at(lake, pins).await?;
    register_opened(ctx, lake, &opened).await?;
    Ok(opened.names)
}

/// Registers the tables of `opened` in `ctx`, and an empty one for each `_pslake` table a model
/// may read that the lake does not have yet.
pub(crate) async fn register_opened(
    ctx: &SessionContext,
    lake: &Lake,
    opened: &OpenedLake,
) -> crate::Result<()> {
    lake.register_object_store(ctx)?;
    for t in &opened.names {
        if let Some(table) = opened.get(t) {
            register_table(ctx, lake, t, table).await?;
        }
    }
    // The `_pslake` tables a model may read exist in every session, empty until the lake has
    // them (a firm whose first landing rejected nothing has no `_pslake.rejects` yet).
    for (t, schema) in operational_tables() {
        if !opened.names.contains(&t) {
            register_batches(ctx, &t, schema, Vec::new()).map_err(|source| Error::DataFusion {
                context: format!("registering an empty {t}"),
                source: Box::new(source),
            })?;
        }
    }
    Ok(())
}

/// Registers lake table `t` in `ctx` (replacing what the name showed), at version `pin` or its
/// latest; `Ok(false)` when the lake has no such table (nothing registered).
pub(crate) async fn register_lake_table(
    ctx: &SessionContext,
    lake: &Lake,
    t: &TableName,
    pin: Option<i64>,
) -> crate::Result<bool> {
    let table = match pin {
        Some(v) => lake.open_at(t, v).await?,
        None => match lake.open(t).await? {
            Some(table) => table,
            None => return Ok(false),
        },
    };
    register_table(ctx, lake, t, &table).await?;
    Ok(true)
}

/// Registers the opened Delta table `t` in `ctx` (replacing what the name showed).
async fn register_table(
    ctx: &SessionContext,
    lake: &Lake,
    t: &TableName,
    table: &DeltaTable,
) -> crate::Result<()> {
    let df_err = |context: String| {
        move |source: DataFusionError| Error::DataFusion {
            context,
            source: Box::new(source),
        }
    };
    let state = Arc::new(ctx.state());
    table
        .update_datafusion_session(state.as_ref())
        .map_err(|e| Error::DataFusion {
            context: format!("reading delta table {t}"),
            source: Box::new(DataFusionError::External(Box::new(e))),
        })?;
    let provider = table
        .table_provider()
        .with_session(state.clone())
        .await
        .map_err(df_err(format!("reading delta table {t}")))?;
    // On a cluster, the same version's files as a plain Parquet listing ([`crate::cluster`]).
    let provider = if crate::cluster::of(ctx).is_some() {
        let files = lake.plain_files(t, table)?;
        crate::stream::files_provider(&files, normalized_schema(&provider.schema()))
            .map_err(df_err(format!("reading delta table {t}")))?
    } else {
        provider
    };
    let provider = pslake_lake::expose_deleted(ctx, t, provider)
        .map_err(df_err(format!("registering {t}")))?;
    register_provider(ctx, t, provider).map_err(df_err(format!("registering {t}")))?;
    // A raw table landed by one run without a repeated key needs no latest-row dedup.
    if t.schema == pslake_lake::RAW_SCHEMA
        && let Some([key]) = pslake_lake::unique::unique_key(table).await.as_deref()
    {
        let reference = TableReference::partial(t.schema.as_str(), t.name.as_str());
        set_unique_key(ctx, &reference, Some(key.clone()));
    }
    Ok(())
}

/// The schema of what `t` names in `ctx`, if anything.
pub(crate) async fn table_schema(ctx: &SessionContext, t: &TableName) -> Option<SchemaRef> {
    ctx.table_provider(TableReference::partial(t.schema.as_str(), t.name.as_str()))
        .await
        .ok()
        .map(|p| p.schema())
}

/// The `_pslake` tables a model may read, with their schemas.
pub(crate) fn operational_tables() -> Vec<(TableName, SchemaRef)> {
    use pslake_lake::ops;
    vec![
        (ops::runs_table(), ops::runs_schema()),
        (ops::rejects_table(), ops::rejects_schema()),
        (ops::warnings_table(), ops::warnings_schema()),
        (ops::stream_state_table(), ops::stream_state_schema()),
    ]
}

/// A session for `pslake query` and `pslake show`: like [`new_context`], with `SHOW TABLES` and
/// `information_schema`.
pub(crate) fn new_query_context() -> SessionContext {
    with_rules(SessionContext::new_with_config(
        session_config().with_information_schema(true),
    ))
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

/// Registers (or replaces) `t` as an in-memory table, in the session's types (the batches are
/// cast when they are not).
pub(crate) fn register_batches(
    ctx: &SessionContext,
    t: &TableName,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), DataFusionError> {
    let schema = normalized_schema(&schema);
    let batches = batches
        .iter()
        .map(|b| cast_batch(b, &schema))
        .collect::<Result<Vec<_>, _>>()?;
    let table = MemTable::try_new(schema, vec![batches])?;
    register_provider(ctx, t, Arc::new(table))
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringViewArray;

    async fn string_type(ctx: &SessionContext, sql_table: &str) -> DataType {
        let (schema, name) = sql_table.split_once('.').expect("schema.name");
        let provider = ctx
            .table_provider(TableReference::partial(schema, name))
            .await
            .expect("registered");
        provider.schema().field(0).data_type().clone()
    }

    #[tokio::test]
    async fn every_table_enters_the_session_with_plain_strings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["a"])) as ArrayRef],
        )
        .expect("batch");
        lake.overwrite(&TableName::new("raw", "t"), vec![batch])
            .await
            .expect("write");
        let ctx = new_context();
        register_lake_at(&ctx, &lake, None).await.expect("register");
        // A default session reads Delta strings as Utf8View; ours reads them as Utf8.
        assert_eq!(string_type(&ctx, "raw.t").await, DataType::Utf8);

        // A provider with view types is wrapped, and its rows arrive as Utf8.
        let view_schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8View, true)]));
        let views = RecordBatch::try_new(
            view_schema.clone(),
            vec![Arc::new(StringViewArray::from(vec!["b"])) as ArrayRef],
        )
        .expect("batch");
        let mem = MemTable::try_new(view_schema, vec![vec![views]]).expect("mem");
        register_provider(&ctx, &TableName::new("x", "v"), Arc::new(mem)).expect("register");
        assert_eq!(string_type(&ctx, "x.v").await, DataType::Utf8);
        let rows = ctx
            .sql("SELECT s FROM x.v UNION ALL SELECT s FROM raw.t UNION ALL SELECT CAST(1 AS VARCHAR)")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        assert!(
            rows.iter()
                .all(|b| b.schema().field(0).data_type() == &DataType::Utf8)
        );
        assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    }

    #[test]
    fn nested_view_types_are_normalized() {
        let t = DataType::List(Arc::new(Field::new("item", DataType::Utf8View, true)));
        assert_eq!(
            normalized_type(&t),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
        assert_eq!(normalized_type(&DataType::LargeUtf8), DataType::Utf8);
        assert_eq!(normalized_type(&DataType::Int64), DataType::Int64);
    }
}
