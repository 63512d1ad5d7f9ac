//! The lake: table locations, appends, overwrites and DataFusion registration.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use url::Url;

use crate::docs::TableDocs;
use crate::{Error, Result};

/// The schema of the landed source tables (`raw.<system>_<stream>`).
pub const RAW_SCHEMA: &str = "raw";

/// The raw-table column that marks a tombstone: `true` on the row that records a source
/// record's deletion (primary key set, other columns NULL), false or NULL on landed records. A
/// raw table without the column (landed before tombstones existed) reads as all false.
pub const DELETED: &str = "_deleted";

/// `schema.name`, the address of a table in the lake.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema (first path segment), e.g. `raw`, `canonical`, `_pslake`.
    pub schema: String,
    /// The table (second path segment), e.g. `kantata_time_entries`.
    pub name: String,
}

impl TableName {
    /// A table name from its two parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Parses `schema.name`; `None` unless both parts are [`TableName::is_plain`].
    pub fn parse(s: &str) -> Option<Self> {
        let (schema, name) = s.split_once('.')?;
        (Self::is_plain(schema) && Self::is_plain(name)).then(|| Self::new(schema, name))
    }

    /// Whether `part` can be a schema or table name: ASCII letters, digits and `_`, nothing else.
    /// Each part is a folder of the lake (`<root>/<schema>/<name>/`), so this is what keeps a name
    /// from leaving the lake root: no `/`, no `..`, no `%2F` that a URL would decode.
    pub fn is_plain(part: &str) -> bool {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A lake root: a local folder or an object-store URL (`s3://bucket/prefix`, `az://container/
/// prefix`, `gs://bucket/prefix`), configured the object_store way from the environment
/// ([`env_storage_options`]).
#[derive(Clone)]
pub struct Lake {
    root: Url,
    storage_options: HashMap<String, String>,
    /// Publishes in progress through this handle and its clones ([`Lake::is_publishing`]).
    publishing: Arc<AtomicUsize>,
}

/// Counts one publish in progress while it lives.
pub(crate) struct PublishingGuard(Arc<AtomicUsize>);

impl Drop for PublishingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The storage options (credentials among them) are never shown: only their names.
impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.storage_options.keys().collect();
        keys.sort();
        f.debug_struct("Lake")
            .field("root", &self.root.as_str())
            .field("storage_options", &keys)
            .finish_non_exhaustive()
    }
}

/// The environment variables that configure the object store of `url`'s scheme, as object_store's
/// `from_env` builders read them: `AWS_*` for `s3://` and `s3a://`, `AZURE_*` for `az://`,
/// `azure://`, `abfs://` and `abfss://`, `GOOGLE_*` for `gs://`; none for other schemes. Passed to
/// object_store and delta-rs as storage options (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, `AWS_CONDITIONAL_PUT`, ...).
pub fn env_storage_options(url: &Url) -> HashMap<String, String> {
    let prefix = match url.scheme() {
        "s3" | "s3a" => "AWS_",
        "az" | "azure" | "abfs" | "abfss" => "AZURE_",
        "gs" => "GOOGLE_",
        _ => return HashMap::new(),
    };
    std::env::vars()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect()
}

impl Lake {
    /// A lake at `location`: a path (relative paths are resolved against the current directory),
    /// a `file://` URL, or an object-store URL (`s3://`, `az://`, `gs://`) configured from the
    /// environment ([`env_storage_options`]).
    pub fn parse(location: &str) -> Result<Self> {
        let err = |reason: String| Error::Location {
            location: location.to_string(),
            reason,
        };
        let root = if location.contains("://") {
            Url::parse(location).map_err(|e| err(e.to_string()))?
        } else {
            let path = std::path::Path::new(location);
            let abs = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| err(e.to_string()))?
                    .join(path)
            };
            Url::from_directory_path(&abs).map_err(|()| err("not an absolute path".into()))?
        };
        let mut root = root;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        if !matches!(
            root.scheme(),
            "file" | "s3" | "s3a" | "az" | "azure" | "abfs" | "abfss" | "gs"
        ) {
            return Err(err(format!(
                "unsupported scheme {}: use a path, file://, s3://, az:// or gs://",
                root.scheme()
            )));
        }
        let storage_options = env_storage_options(&root);
        Ok(Self {
            root,
            storage_options,
            publishing: Arc::default(),
        })
    }

    /// Whether a release is being published or rolled forward through this handle (or a clone
    /// of it) right now: from the intent's write to the release rows. A caller that abandons a
    /// writing task (a scheduler stopping) waits for this to be false first, so no publish is
    /// left half done; anywhere else, dropping the task is like a crash the next writer recovers.
    pub fn is_publishing(&self) -> bool {
        self.publishing.load(Ordering::SeqCst) > 0
    }

    /// Marks a publish in progress until the guard is dropped.
    pub(crate) fn publishing_guard(&self) -> PublishingGuard {
        self.publishing.fetch_add(1, Ordering::SeqCst);
        PublishingGuard(self.publishing.clone())
    }

    /// Adds object-store options (credentials, endpoint) used for every table, over those read
    /// from the environment.
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.storage_options.extend(options);
        self
    }

    /// Makes the lake's object store readable by `ctx` under its own URLs (`s3://bucket/...`), for
    /// plans that read data files directly (staged files, a month's files) rather than through a
    /// Delta table provider. Nothing to do for a local lake.
    pub fn register_object_store(&self, ctx: &SessionContext) -> Result<()> {
        if let Some((bucket, store)) = self.bucket_store()? {
            ctx.register_object_store(&bucket, store);
        }
        Ok(())
    }

    /// The store of the lake's bucket and its URL (`s3://bucket/`), built from the lake's
    /// storage options; `None` for a local lake (DataFusion reads `file://` itself). A process
    /// that runs plans over the lake without a pslake session (a Ballista executor) registers it
    /// in its runtime.
    pub fn bucket_store(&self) -> Result<Option<(Url, Arc<dyn ObjectStore>)>> {
        if self.root.scheme() == "file" {
            return Ok(None);
        }
        let mut bucket = self.root.clone();
        bucket.set_path("/");
        let (store, _) = self.store_at(&bucket)?;
        Ok(Some((bucket, store)))
    }

    /// The root URL, ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The local folder of the lake, when it is on the local file system.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        (self.root.scheme() == "file")
            .then(|| self.root.to_file_path().ok())
            .flatten()
    }

    /// The URL of table `t`: `<root>/<schema>/<name>/`.
    pub fn table_url(&self, t: &TableName) -> Url {
        // Every name reaching here was checked where it came from (pipeline, project, lake).
        debug_assert!(
            TableName::is_plain(&t.schema) && TableName::is_plain(&t.name),
            "table name {t} is not plain"
        );
        self.root
            .join(&format!("{}/{}/", t.schema, t.name))
            .expect("schema and table names are plain path segments")
    }

    /// The object store holding the lake and the root's path in it.
    pub(crate) fn root_store(&self) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
        self.store_at(&self.root)
    }

    /// The object store serving `url` (configured with the lake's storage options) and the
    /// path of `url` in it.
    fn store_at(&self, url: &Url) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
        let (store, path) = object_store::parse_url_opts(url, self.storage_options.iter())
            .map_err(|source| Error::Store {
                url: url.to_string(),
                source: Box::new(source),
            })?;
        Ok((Arc::from(store), path))
    }

    pub(crate) fn delta_err(&self, t: &TableName) -> impl Fn(DeltaTableError) -> Error + use<> {
        let table = t.to_string();
        let url = self.table_url(t).to_string();
        move |source| Error::Delta {
            table: table.clone(),
            url: url.clone(),
            source: Box::new(source),
        }
    }

    pub(crate) async fn handle(&self, t: &TableName) -> Result<DeltaTable> {
        let mut table = self.unloaded(t)?;
        if table
            .verify_deltatable_existence()
            .await
            .map_err(self.delta_err(t))?
        {
            table.load().await.map_err(self.delta_err(t))?;
        }
        Ok(table)
    }

    /// Table `t`'s object store (rooted at the table), without loading the table's log: what a
    /// writer of data files needs, and a load of the snapshot costs a build once per model.
    pub(crate) fn table_store(&self, t: &TableName) -> Result<deltalake::logstore::ObjectStoreRef> {
        Ok(self.unloaded(t)?.log_store().object_store(None))
    }

    /// Table `t` built, its log not loaded (its folder made first on a local lake).
    fn unloaded(&self, t: &TableName) -> Result<DeltaTable> {
        let url = self.table_url(t);
        if let Some(path) = (url.scheme() == "file")
            .then(|| url.to_file_path().ok())
            .flatten()
        {
            fs_err::create_dir_all(&path).map_err(|e| Error::Location {
                location: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        // Build without loading ([`Lake::handle`] loads only an existing table: loading a
        // location with no log makes the kernel log an error for what is the normal case of a
        // first write).
        deltalake::DeltaTableBuilder::from_url(url)
            .and_then(|b| b.with_storage_options(self.storage_options.clone()).build())
            .map_err(self.delta_err(t))
    }

    /// Opens table `t` at its latest version, or `None` when it does not exist yet.
    pub async fn open(&self, t: &TableName) -> Result<Option<DeltaTable>> {
        if self.lacks_local_log(t) {
            return Ok(None);
        }
        let table = self.handle(t).await?;
        Ok(table.version().is_some().then_some(table))
    }

    /// Whether `t`, on a local lake, has no `_delta_log` folder: no table, known without
    /// building one (which would make its folder).
    fn lacks_local_log(&self, t: &TableName) -> bool {
        self.local_path().is_some_and(|path| {
            !path
                .join(&t.schema)
                .join(&t.name)
                .join("_delta_log")
                .is_dir()
        })
    }

    /// Opens each of `tables` as [`Lake::open`] does, [`OPEN_CONCURRENCY`] at a time, in the
    /// order given. Loading a snapshot is a few small reads and a replay of its log: one table
    /// after another, the eighty of a project kept a build's start on one CPU for a second.
    pub async fn open_many(&self, tables: &[TableName]) -> Result<Vec<Option<DeltaTable>>> {
        futures::stream::iter(tables.iter().map(|t| self.open(t)))
            .buffered(OPEN_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Opens table `t` at `version` (a reader pinning one consistent set of versions, e.g.
    /// `pslake serve`).
    pub async fn open_at(&self, t: &TableName, version: i64) -> Result<DeltaTable> {
        let mut table = deltalake::DeltaTableBuilder::from_url(self.table_url(t))
            .and_then(|b| b.with_storage_options(self.storage_options.clone()).build())
            .map_err(self.delta_err(t))?;
        let version = u64::try_from(version).map_err(|_| Error::Location {
            location: self.table_url(t).to_string(),
            reason: format!("no version {version}"),
        })?;
        table
            .load_version(version)
            .await
            .map_err(self.delta_err(t))?;
        Ok(table)
    }

    /// The latest version of table `t`, or `None` when it does not exist.
    ///
    /// Read from a listing of the table's `_delta_log` (the highest version a commit or a
    /// checkpoint file names, as the Delta protocol numbers them), without loading the
    /// table's snapshot: a release asks it of every table it commits, `pslake serve` of the
    /// runs table on each poll.
    pub async fn version(&self, t: &TableName) -> Result<Option<i64>> {
        if self.lacks_local_log(t) {
            return Ok(None);
        }
        let store = self.table_store(t)?;
        let log = object_store::path::Path::from("_delta_log");
        let mut listing = store.list(Some(&log));
        let mut latest: Option<u64> = None;
        loop {
            let meta = match listing.try_next().await {
                Ok(Some(meta)) => meta,
                Ok(None) => break,
                Err(object_store::Error::NotFound { .. }) => break,
                Err(source) => {
                    return Err(Error::Store {
                        url: format!("{}_delta_log", self.table_url(t)),
                        source: Box::new(source),
                    });
                }
            };
            if let Some(v) = meta.location.filename().and_then(log_file_version) {
                latest = latest.max(Some(v));
            }
        }
        Ok(latest.map(version_i64))
    }

    /// The version of `t`'s latest commit that wrote rows: maintenance commits on top of it
    /// (`pslake maintain`'s OPTIMIZE and VACUUM, which change no row) are not counted, so a
    /// model built from version 12 of a table that was compacted and vacuumed since still reads
    /// as built from its current content. `None` when the table does not exist.
    pub async fn content_version(&self, t: &TableName) -> Result<Option<i64>> {
        let Some(table) = self.open(t).await? else {
            return Ok(None);
        };
        let Some(latest) = table.version() else {
            return Ok(None);
        };
        let mut history = table.history(Some(MAINTENANCE_LOOKBACK));
        let mut maintenance = 0;
        while let Some(commit) = history.try_next().await.map_err(self.delta_err(t))? {
            if !is_maintenance(commit.operation.as_deref()) {
                break;
            }
            maintenance += 1;
        }
        Ok(Some(version_i64(latest) - maintenance))
    }

    /// The provenance of `t`'s latest commit that wrote rows (the commit metadata a writer
    /// recorded, e.g. the run id; maintenance commits are passed over as in
    /// [`Lake::content_version`]), or `None` when the table does not exist.
    pub async fn last_commit_info(
        &self,
        t: &TableName,
    ) -> Result<Option<HashMap<String, serde_json::Value>>> {
        let Some(table) = self.open(t).await? else {
            return Ok(None);
        };
        self.last_commit_info_of(t, &table).await
    }

    /// [`Lake::last_commit_info`] of `table`, table `t` already opened.
    pub async fn last_commit_info_of(
        &self,
        t: &TableName,
        table: &DeltaTable,
    ) -> Result<Option<HashMap<String, serde_json::Value>>> {
        let mut history = table.history(Some(MAINTENANCE_LOOKBACK));
        while let Some(commit) = history.try_next().await.map_err(self.delta_err(t))? {
            if !is_maintenance(commit.operation.as_deref()) {
                return Ok(Some(commit.info));
            }
        }
        Ok(None)
    }

    /// Appends `batches` to `t` in one commit, creating the table from the batches' schema when
    /// absent. New nullable columns are merged into the table schema. Returns the new version.
    pub async fn append(&self, t: &TableName, batches: Vec<RecordBatch>) -> Result<i64> {
        self.write(t, batches, SaveMode::Append, SchemaMode::Merge, None)
            .await
    }

    /// Like [`Lake::append`], with commit metadata (e.g. the run id) recorded in the Delta log.
    pub async fn append_with_metadata(
        &self,
        t: &TableName,
        batches: Vec<RecordBatch>,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<i64> {
        self.write(
            t,
            batches,
            SaveMode::Append,
            SchemaMode::Merge,
            Some(metadata),
        )
        .await
    }

    /// Replaces the contents (and schema) of `t` in one commit. Readers see the old version
    /// until the commit lands, then the new one. Returns the new version.
    pub async fn overwrite(&self, t: &TableName, batches: Vec<RecordBatch>) -> Result<i64> {
        self.write(t, batches, SaveMode::Overwrite, SchemaMode::Overwrite, None)
            .await
    }

    /// Like [`Lake::overwrite`], with commit metadata recorded in the Delta log.
    pub async fn overwrite_with_metadata(
        &self,
        t: &TableName,
        batches: Vec<RecordBatch>,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<i64> {
        self.write(
            t,
            batches,
            SaveMode::Overwrite,
            SchemaMode::Overwrite,
            Some(metadata),
        )
        .await
    }

    async fn write(
        &self,
        t: &TableName,
        batches: Vec<RecordBatch>,
        mode: SaveMode,
        schema_mode: SchemaMode,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<i64> {
        let table = self.handle(t).await?;
        let mut builder = table
            .write(batches)
            .with_save_mode(mode)
            .with_schema_mode(schema_mode)
            .with_table_name(t.to_string());
        if t.schema == RAW_SCHEMA {
            builder = builder.with_writer_properties(crate::staged::raw_writer_properties());
        }
        if let Some(metadata) = metadata {
            builder =
                builder.with_commit_properties(CommitProperties::default().with_metadata(metadata));
        }
        let table = builder.await.map_err(self.delta_err(t))?;
        Ok(table.version().map(version_i64).unwrap_or(0))
    }

    /// The description and column comments in `t`'s Delta metadata (empty when the table does
    /// not exist).
    pub async fn docs(&self, t: &TableName) -> Result<TableDocs> {
        let Some(table) = self.open(t).await? else {
            return Ok(TableDocs::default());
        };
        let snapshot = table.snapshot().map_err(self.delta_err(t))?;
        Ok(TableDocs::of(snapshot.metadata(), &snapshot.schema()))
    }

    /// Registers table `t` in `ctx` as `"schema"."name"`; `false` when the table does not exist.
    pub async fn register(&self, ctx: &SessionContext, t: &TableName) -> Result<bool> {
        let Some(table) = self.open(t).await? else {
            return Ok(false);
        };
        self.register_table(ctx, t, &table).await?;
        Ok(true)
    }

    /// Registers an opened Delta table in `ctx` under `t`.
    pub async fn register_table(
        &self,
        ctx: &SessionContext,
        t: &TableName,
        table: &DeltaTable,
    ) -> Result<()> {
        table
            .update_datafusion_session(&ctx.state())
            .map_err(self.delta_err(t))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|source| Error::DataFusion {
                context: format!("reading delta table {t}"),
                source: Box::new(source),
            })?;
        let df_err = |source| Error::DataFusion {
            context: format!("registering {t}"),
            source: Box::new(source),
        };
        let provider = expose_deleted(ctx, t, provider).map_err(df_err)?;
        ensure_schema(ctx, &t.schema).map_err(df_err)?;
        let reference =
            datafusion::common::TableReference::partial(t.schema.as_str(), t.name.as_str());
        ctx.deregister_table(reference.clone()).map_err(df_err)?;
        ctx.register_table(reference, provider).map_err(df_err)?;
        Ok(())
    }

    /// Every Delta table in the lake (a folder `<schema>/<name>/` with a `_delta_log`), sorted.
    pub async fn list_tables(&self) -> Result<Vec<TableName>> {
        let store_err = |source| Error::Store {
            url: self.root.to_string(),
            source: Box::new(source),
        };
        let (store, base) = self.root_store()?;
        let mut tables = Vec::new();
        let schemas = match store.list_with_delimiter(Some(&base)).await {
            Ok(listing) => listing.common_prefixes,
            Err(object_store::Error::NotFound { .. }) => return Ok(tables),
            Err(e) => return Err(store_err(e)),
        };
        for schema in schemas {
            let listing = store
                .list_with_delimiter(Some(&schema))
                .await
                .map_err(store_err)?;
            for table in listing.common_prefixes {
                let log = table.clone().join("_delta_log");
                let mut entries = store.list(Some(&log));
                if entries.try_next().await.map_err(store_err)?.is_some() {
                    let (Some(s), Some(n)) = (schema.filename(), table.filename()) else {
                        continue;
                    };
                    if !TableName::is_plain(s) || !TableName::is_plain(n) {
                        tracing::warn!(
                            schema = s,
                            table = n,
                            "a Delta table whose folder is not a plain name is not read"
                        );
                        continue;
                    }
                    tables.push(TableName::new(s, n));
                }
            }
        }
        tables.sort();
        Ok(tables)
    }

    /// Registers every table of the lake in `ctx`; returns their names.
    pub async fn register_all(&self, ctx: &SessionContext) -> Result<Vec<TableName>> {
        let tables = self.list_tables().await?;
        for t in &tables {
            self.register(ctx, t).await?;
        }
        Ok(tables)
    }

    /// The Arrow schema of table `t` as readers see it, or `None` when it does not exist.
    pub async fn arrow_schema(&self, t: &TableName) -> Result<Option<arrow::datatypes::SchemaRef>> {
        let ctx = SessionContext::new();
        if !self.register(&ctx, t).await? {
            return Ok(None);
        }
        let reference =
            datafusion::common::TableReference::partial(t.schema.as_str(), t.name.as_str());
        let provider = ctx
            .table_provider(reference)
            .await
            .map_err(|source| Error::DataFusion {
                context: format!("reading the schema of {t}"),
                source: Box::new(source),
            })?;
        Ok(Some(provider.schema()))
    }

    /// Runs `sql` against every table of the lake and collects the result (for small results:
    /// tests, `pslake query`, the operational tables).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        self.register_all(&ctx).await?;
        let df_err = |source| Error::DataFusion {
            context: format!("query {sql}"),
            source: Box::new(source),
        };
        ctx.sql(sql)
            .await
            .map_err(df_err)?
            .collect()
            .await
            .map_err(df_err)
    }
}

/// A raw table landed before tombstones existed has no `_deleted` column: it reads as false, so
/// the staging models' deletion filter works on every lake. Every reader of raw tables goes
/// through this.
pub fn expose_deleted(
    ctx: &SessionContext,
    t: &TableName,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
) -> std::result::Result<
    Arc<dyn datafusion::catalog::TableProvider>,
    datafusion::error::DataFusionError,
> {
    if t.schema == RAW_SCHEMA && provider.schema().index_of(DELETED).is_err() {
        use datafusion::prelude::lit;
        Ok(ctx
            .read_table(provider)?
            .with_column(DELETED, lit(false))?
            .into_view())
    } else {
        Ok(provider)
    }
}

/// How many commits back [`Lake::content_version`] looks past maintenance commits (a
/// `pslake maintain` makes at most three on a table: OPTIMIZE, VACUUM START, VACUUM END).
const MAINTENANCE_LOOKBACK: usize = 64;

/// The version a Delta log file names: `00000000000000000012.json` (a commit) or
/// `00000000000000000012.checkpoint.parquet` (a checkpoint, also in parts); `None` for any other
/// file of the log (`_last_checkpoint`, a commit being written, ...).
fn log_file_version(name: &str) -> Option<u64> {
    let (stem, rest) = name.split_once('.')?;
    let named = rest == "json" || rest.starts_with("checkpoint.");
    (named && stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// How many tables [`Lake::open_many`] loads at once.
const OPEN_CONCURRENCY: usize = 8;

/// A Delta operation that changes no row of the table.
pub(crate) fn is_maintenance(operation: Option<&str>) -> bool {
    matches!(operation, Some("OPTIMIZE" | "VACUUM START" | "VACUUM END"))
}

pub(crate) fn version_i64(v: u64) -> i64 {
    i64::try_from(v).expect("a Delta version fits in i64")
}

/// Makes sure schema `name` exists in the default catalog of `ctx`.
pub(crate) fn ensure_schema(ctx: &SessionContext, name: &str) -> datafusion::error::Result<()> {
    use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
    let catalog_name = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let catalog = ctx.catalog(&catalog_name).ok_or_else(|| {
        datafusion::error::DataFusionError::Plan(format!("no catalog {catalog_name}"))
    })?;
    if catalog.schema(name).is_none() {
        let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog.register_schema(name, schema)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn object_store_lakes_parse_and_never_show_their_credentials() {
        let lake = Lake::parse("s3://analytics/pslake")
            .expect("s3 lake")
            .with_storage_options(HashMap::from([
                (
                    "AWS_SECRET_ACCESS_KEY".to_string(),
                    "do-not-print-me".to_string(),
                ),
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
            ]));
        assert_eq!(lake.root().as_str(), "s3://analytics/pslake/");
        let shown = format!("{lake:?}");
        assert!(!shown.contains("do-not-print-me"), "{shown}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert_eq!(
            lake.table_url(&TableName::new("canonical", "bookings"))
                .as_str(),
            "s3://analytics/pslake/canonical/bookings/"
        );
        for ok in [
            "az://container/lake",
            "gs://bucket/lake",
            "abfss://c@acct.dfs.core.windows.net/l",
        ] {
            Lake::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err = Lake::parse("ftp://host/lake").expect_err("ftp is refused");
        assert!(err.to_string().contains("unsupported scheme ftp"), "{err}");
    }

    fn batch(ids: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names)),
            ],
        )
        .expect("valid batch")
    }

    #[tokio::test]
    async fn append_overwrite_list_and_query() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "things");
        assert!(lake.open(&t).await.expect("open").is_none());
        assert_eq!(
            lake.append(&t, vec![batch(&[1, 2])]).await.expect("append"),
            0
        );
        assert_eq!(lake.append(&t, vec![batch(&[3])]).await.expect("append"), 1);
        assert!(dir.path().join("raw/things/_delta_log").is_dir());
        let other = TableName::new("canonical", "x");
        lake.overwrite(&other, vec![batch(&[7])])
            .await
            .expect("overwrite");
        lake.overwrite(&other, vec![batch(&[8, 9])])
            .await
            .expect("overwrite");
        assert_eq!(
            lake.list_tables().await.expect("list"),
            vec![other.clone(), t.clone()]
        );
        let rows = lake
            .query("SELECT sum(id) AS s, count(*) AS c FROM raw.things")
            .await
            .expect("query");
        let s = rows[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64")
            .value(0);
        assert_eq!(s, 6);
        let rows = lake
            .query("SELECT sum(id) FROM canonical.x")
            .await
            .expect("query");
        let s = rows[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64")
            .value(0);
        assert_eq!(s, 17);
    }

    #[tokio::test]
    async fn open_many_gives_each_table_at_its_latest_version_in_the_order_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let names: Vec<TableName> = (0..12)
            .map(|i| TableName::new("raw", format!("t{i}")))
            .collect();
        // table i has i + 1 commits (versions 0..=i); t12 was never written
        for (i, t) in names.iter().enumerate() {
            for v in 0..=i {
                lake.append(t, vec![batch(&[v as i64])])
                    .await
                    .expect("append");
            }
        }
        let mut asked = names.clone();
        asked.reverse();
        asked.insert(3, TableName::new("raw", "t12"));
        let opened = lake.open_many(&asked).await.expect("open many");
        assert_eq!(opened.len(), asked.len());
        for (t, table) in asked.iter().zip(&opened) {
            match names.iter().position(|n| n == t) {
                Some(i) => assert_eq!(
                    table.as_ref().and_then(|table| table.version()),
                    Some(i as u64),
                    "{t}"
                ),
                None => assert!(table.is_none(), "{t} has no table"),
            }
            // the version read from the log's listing is the loaded table's
            assert_eq!(
                lake.version(t).await.expect("version"),
                table.as_ref().and_then(|t| t.version()).map(version_i64),
                "{t}"
            );
        }
        assert!(
            !dir.path().join("raw/t12").exists(),
            "asking made no folder"
        );
    }

    #[test]
    fn log_file_versions_are_read_from_commit_and_checkpoint_names_only() {
        assert_eq!(log_file_version("00000000000000000012.json"), Some(12));
        assert_eq!(
            log_file_version("00000000000000000010.checkpoint.parquet"),
            Some(10)
        );
        assert_eq!(
            log_file_version("00000000000000000010.checkpoint.0000000001.0000000002.parquet"),
            Some(10)
        );
        assert_eq!(log_file_version("_last_checkpoint"), None);
        assert_eq!(log_file_version("_commit_1f2e.json.tmp"), None);
        assert_eq!(log_file_version("12.json"), None);
        assert_eq!(
            log_file_version("00000000000000000003.00000000000000000007.compacted.json"),
            None
        );
    }

    #[test]
    fn table_urls_follow_the_spec_layout() {
        let lake = Lake::parse("/tmp/lk").expect("lake");
        assert_eq!(
            lake.table_url(&TableName::new("canonical", "bookings"))
                .as_str(),
            "file:///tmp/lk/canonical/bookings/"
        );
        assert_eq!(
            TableName::parse("raw.kantata_time_entries"),
            Some(TableName::new("raw", "kantata_time_entries"))
        );
        assert_eq!(TableName::parse("nodot"), None);
    }
}
