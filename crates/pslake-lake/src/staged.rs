//! Two-phase writes: a model's output is streamed to Parquet data files under its table's folder
//! ([`Lake::stage`]), where no Delta reader sees them (only the log names a table's files), read
//! back by the build for its audit, then made the table's new version in one Delta commit
//! ([`Lake::commit_staged`]) or deleted ([`Lake::discard_staged`]). A raw landing's chunk is
//! streamed the same way as its pages arrive ([`Lake::stage_raw`]) and appended
//! ([`Lake::append_staged`]).
//!
//! Memory does not grow with the data: each input stream feeds its own writer, which flushes a
//! file at [`TARGET_FILE_SIZE`].

use std::num::NonZeroU64;

use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use delta_kernel::table_properties::DataSkippingNumIndexedCols;
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructField, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::write::writer::{
    DeltaWriter, PartitionWriter, PartitionWriterConfig, WriterConfig,
};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use url::Url;

use crate::docs::{TableDocs, documented_fields, metadata_with};
use crate::lake::version_i64;
use crate::{Error, Lake, Result, TableName};

/// A data file is closed and a new one started past this size (delta-rs's default is 100 MiB;
/// smaller files let a build's partitions write in parallel and readers prune by statistics).
pub const TARGET_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Columns with min/max statistics in each file's Add action (Delta's default is 32).
pub(crate) const STATS_COLUMNS: u64 = 32;

/// Rows per Parquet row group of a model's data files (Parquet's default is 1 Mi rows; DuckDB
/// writes 122,880). A writer holds its row group in memory, encoded, until it is full: with
/// every partition of every model building at once writing 1 Mi-row groups, those buffers
/// were a large part of a build's memory outside the pool.
pub(crate) const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The largest dictionary a column of a row group (a model's or a raw landing's) keeps before
/// its values are written plainly (Parquet's default is 1 MiB). The writer hashes every value into
/// the dictionary until it reaches this size, so a column of ids, distinct in every row, was
/// hashed for most of each row group before the writer gave up on it: that hashing was 9 % of
/// `int_time_entries_checked`'s build at scale 100. At 128 KiB it gives up after some 7,000
/// ids, while currencies, states and the employees and projects of a row group keep their
/// dictionaries; that table's files and `fct_time_entry`'s came out smaller (268 to 258 MiB, 117
/// to 110 MiB).
pub(crate) const DICTIONARY_PAGE_BYTES: usize = 128 * 1024;

/// The Parquet properties of a model's data files: [`pslake_properties`], row groups of
/// [`ROW_GROUP_ROWS`].
pub(crate) fn writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    pslake_properties()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// What every data file pslake writes has: its name as the writer, Snappy, and dictionaries up
/// to [`DICTIONARY_PAGE_BYTES`].
fn pslake_properties() -> deltalake::parquet::file::properties::WriterPropertiesBuilder {
    use deltalake::parquet::basic::Compression;
    deltalake::parquet::file::properties::WriterProperties::builder()
        .set_created_by(format!("pslake {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
}

/// The Parquet properties of a raw table's data files: [`pslake_properties`] (a landing's ids and
/// `updated_at` are as distinct as a model's ids), and no dictionary or statistics for `_raw`,
/// each record's JSON as sent: its values are all distinct, so a dictionary only costs a hash of
/// every value until it overflows, and min/max of JSON text cost a comparison per value that no
/// reader prunes by.
pub(crate) fn raw_writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    use deltalake::parquet::file::properties::EnabledStatistics;
    use deltalake::parquet::schema::types::ColumnPath;
    let raw = ColumnPath::from("_raw");
    pslake_properties()
        .set_column_dictionary_enabled(raw.clone(), false)
        .set_column_statistics_enabled(raw, EnabledStatistics::None)
        .build()
}

/// Runs each writer on a task of its own and returns their results (in completion order).
///
/// A writer polls its input stream, so the last operators of that partition of the plan and the
/// Parquet encoding run wherever the writer is polled. Awaited together in the caller's task (a
/// `FuturesUnordered`), every partition's writer ran on the one thread polling that task, and
/// every concurrently built model's too; on tasks of their own they use all the runtime's
/// worker threads. Dropping the returned future aborts the writers; a writer's panic is resumed
/// here.
pub(crate) async fn on_tasks<T, F>(writers: Vec<F>) -> Vec<Result<T>>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for w in writers {
        set.spawn(w);
    }
    let mut results = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => results.push(Err(Error::Location {
                location: "a staging writer".into(),
                reason: e.to_string(),
            })),
        }
    }
    results
}

/// Data files written for a table and not committed yet.
#[derive(Debug, Clone)]
pub struct Staged {
    pub(crate) table: TableName,
    root: Url,
    pub(crate) schema: SchemaRef,
    pub(crate) adds: Vec<Add>,
    rows: u64,
    /// Published files the commit removes instead of replacing the whole table (a month-kept
    /// table whose changed months were rebuilt); `None`: the whole table, or nothing on append.
    pub(crate) replaces: Option<Vec<Remove>>,
}

impl Staged {
    /// The table the files are for.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The schema every file was written with.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Bytes of the files written.
    pub fn bytes(&self) -> u64 {
        self.adds
            .iter()
            .map(|a| u64::try_from(a.size).unwrap_or(0))
            .sum()
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The files' locations, for reading them before they are committed.
    pub fn file_urls(&self) -> Vec<Url> {
        self.adds
            .iter()
            .map(|a| {
                self.root
                    .join(&a.path)
                    .expect("a data file path is relative to the table root")
            })
            .collect()
    }

    /// Adds `other`'s files (written for the same table with the same schema) to these.
    pub fn extend(&mut self, other: Staged) {
        debug_assert_eq!(self.table, other.table);
        self.adds.extend(other.adds);
        self.rows += other.rows;
    }

    /// Commits these files in place of `removed` (published files of the table) only, keeping
    /// every other published file, instead of replacing the whole table.
    pub fn replacing(mut self, removed: Vec<Remove>) -> Self {
        self.replaces = Some(removed);
        self
    }

    pub(crate) fn empty(table: TableName, root: Url, schema: SchemaRef) -> Self {
        Self {
            table,
            root,
            schema,
            adds: Vec::new(),
            rows: 0,
            replaces: None,
        }
    }

    pub(crate) fn push(&mut self, adds: Vec<Add>, rows: u64) {
        self.adds.extend(adds);
        self.rows += rows;
    }
}

impl Lake {
    /// Writes every stream's batches as Parquet data files of table `t` (each stream through its
    /// own writer, concurrently), committing nothing. The batches must have `schema`'s types.
    pub async fn stage(
        &self,
        t: &TableName,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
    ) -> Result<Staged> {
        self.stage_with(t, schema, streams, writer_properties())
            .await
    }

    /// [`Lake::stage`] for a raw table's landing (one stream, its batches encoded as they come),
    /// with a raw table's Parquet properties. [`Lake::append_staged`] commits what it wrote.
    pub async fn stage_raw(
        &self,
        t: &TableName,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    ) -> Result<Staged> {
        self.stage_with(t, schema, vec![stream], raw_writer_properties())
            .await
    }

    async fn stage_with(
        &self,
        t: &TableName,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
        properties: deltalake::parquet::file::properties::WriterProperties,
    ) -> Result<Staged> {
        let store = self.table_store(t)?;
        let config = WriterConfig::new(
            schema.clone(),
            Vec::new(),
            Some(properties),
            NonZeroU64::new(TARGET_FILE_SIZE),
            None,
            DataSkippingNumIndexedCols::NumColumns(STATS_COLUMNS),
            None,
        );
        let writers = streams
            .into_iter()
            .map(|mut stream| {
                let mut writer = DeltaWriter::new(store.clone(), config.clone());
                let table_name = t.clone();
                let delta_err = self.delta_err(t);
                async move {
                    let mut rows = 0u64;
                    while let Some(batch) = stream.next().await {
                        let batch = match batch {
                            Ok(b) => b,
                            Err(e) => {
                                let _ = writer.abort().await;
                                return Err(Error::DataFusion {
                                    context: format!("computing {table_name}"),
                                    source: Box::new(e),
                                });
                            }
                        };
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        rows += batch.num_rows() as u64;
                        if let Err(e) = writer.write(&batch).await {
                            let _ = writer.abort().await;
                            return Err(delta_err(e));
                        }
                    }
                    let adds = writer.close().await.map_err(&delta_err)?;
                    Ok::<_, Error>((adds, rows))
                }
            })
            .collect::<Vec<_>>();
        let mut staged = Staged::empty(t.clone(), self.table_url(t), schema);
        let mut first_error = None;
        for result in on_tasks(writers).await {
            match result {
                Ok((adds, rows)) => {
                    staged.adds.extend(adds);
                    staged.rows += rows;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            self.discard_staged(staged).await;
            return Err(e);
        }
        Ok(staged)
    }

    /// [`Lake::stage`] with every file written under the folder `folder` of the table (a plain
    /// name such as `pslake_snapshot-current`), so a later build tells these files from the
    /// table's others by their path ([`crate::TableFile`]). Committing nothing.
    pub async fn stage_in(
        &self,
        t: &TableName,
        schema: SchemaRef,
        folder: &str,
        streams: Vec<SendableRecordBatchStream>,
    ) -> Result<Staged> {
        let store = self.table_store(t)?;
        let config = PartitionWriterConfig::try_new(
            schema.clone(),
            Default::default(),
            Some(writer_properties()),
            NonZeroU64::new(TARGET_FILE_SIZE),
            None,
            None,
            Some(object_store::path::Path::from(folder)),
        )
        .map_err(self.delta_err(t))?;
        let writers = streams
            .into_iter()
            .map(|mut stream| {
                let store = store.clone();
                let config = config.clone();
                let table_name = t.clone();
                let delta_err = self.delta_err(t);
                async move {
                    let mut writer = PartitionWriter::try_with_config(
                        store,
                        config,
                        DataSkippingNumIndexedCols::NumColumns(STATS_COLUMNS),
                        None,
                    )
                    .map_err(&delta_err)?;
                    let mut rows = 0u64;
                    while let Some(batch) = stream.next().await {
                        let batch = match batch {
                            Ok(b) => b,
                            Err(e) => {
                                let _ = writer.abort().await;
                                return Err(Error::DataFusion {
                                    context: format!("computing {table_name}"),
                                    source: Box::new(e),
                                });
                            }
                        };
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        rows += batch.num_rows() as u64;
                        if let Err(e) = writer.write(&batch).await {
                            let _ = writer.abort().await;
                            return Err(delta_err(e));
                        }
                    }
                    let adds = writer.close().await.map_err(&delta_err)?;
                    Ok::<_, Error>((adds, rows))
                }
            })
            .collect::<Vec<_>>();
        let mut staged = Staged::empty(t.clone(), self.table_url(t), schema);
        let mut first_error = None;
        for result in on_tasks(writers).await {
            match result {
                Ok((adds, rows)) => staged.push(adds, rows),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            self.discard_staged(staged).await;
            return Err(e);
        }
        Ok(staged)
    }

    /// Deletes staged files (best effort: a file left behind is invisible to readers, and
    /// `VACUUM` removes it).
    pub async fn discard_staged(&self, staged: Staged) {
        let Ok(store) = self.table_store(&staged.table) else {
            return;
        };
        for add in &staged.adds {
            if let Ok(path) = object_store::path::Path::parse(&add.path)
                && let Err(e) = store.delete(&path).await
            {
                tracing::debug!(table = %staged.table, file = %add.path, error = %e, "could not delete a staged file");
            }
        }
    }

    /// Makes the staged files the table's new contents (`append == false`: every current file
    /// removed, schema and description replaced) or adds them to it (`append == true`: the
    /// schema gains the staged columns it lacks), or, when the staged files are
    /// [`Staged::replacing`] some published files, puts them in those files' place; in one Delta
    /// commit tagged with `metadata`, the table's description and column comments saying `docs`.
    /// Returns the new version.
    pub async fn commit_staged(
        &self,
        staged: Staged,
        append: bool,
        metadata: serde_json::Map<String, serde_json::Value>,
        docs: &TableDocs,
    ) -> Result<i64> {
        let t = staged.table.clone();
        let kernel: StructType = staged
            .schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| self.delta_err(&t)(e.into()))?;
        self.commit_actions(
            &t,
            &kernel,
            staged.adds,
            staged.replaces,
            append,
            metadata,
            docs,
        )
        .await
    }

    /// Adds the staged files to their table in one Delta commit (creating the table on its
    /// first landing; the schema gains the staged columns it lacks), keeping the table's
    /// description and column comments, tagged with `metadata`. Returns the new version.
    pub async fn append_staged(
        &self,
        staged: Staged,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<i64> {
        let t = staged.table.clone();
        let Some(table) = self.open(&t).await? else {
            return self
                .commit_staged(staged, true, metadata, &TableDocs::default())
                .await;
        };
        let snapshot = table.snapshot().map_err(self.delta_err(&t))?;
        let current = snapshot.schema();
        // a column keeps its type: files of another type under one column are unreadable
        let kernel: StructType = staged
            .schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| self.delta_err(&t)(e.into()))?;
        for f in kernel.fields() {
            if let Some(c) = current.field(&f.name)
                && c.data_type() != f.data_type()
            {
                let e = format!(
                    "column `{}` is {} in the table and {} in the rows to append",
                    f.name,
                    c.data_type(),
                    f.data_type()
                );
                self.discard_staged(staged).await;
                return Err(self.delta_err(&t)(deltalake::DeltaTableError::Generic(e)));
            }
        }
        let docs = TableDocs::of(snapshot.metadata(), &current);
        self.commit_staged(staged, true, metadata, &docs).await
    }

    /// [`Lake::commit_staged`] from its parts (what a release intent records).
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one staged commit, as recorded"
    )]
    pub(crate) async fn commit_actions(
        &self,
        t: &TableName,
        kernel: &StructType,
        adds: Vec<Add>,
        replaces: Option<Vec<Remove>>,
        append: bool,
        metadata: serde_json::Map<String, serde_json::Value>,
        docs: &TableDocs,
    ) -> Result<i64> {
        let t = t.clone();
        let table = self.handle(&t).await?;
        let fields: Vec<StructField> = documented_fields(kernel, docs);
        let properties = CommitProperties::default().with_metadata(metadata);
        let adds = adds.into_iter().map(Action::Add);
        let replaces = replaces.filter(|_| table.version().is_some());
        if !append && replaces.is_none() || table.version().is_none() {
            // CREATE OR REPLACE: every current file removed, the new protocol, schema and
            // description, and the staged files, in one commit.
            let mut create = CreateBuilder::new()
                .with_log_store(table.log_store())
                .with_columns(fields)
                .with_table_name(t.to_string())
                .with_save_mode(SaveMode::Overwrite)
                .with_actions(adds)
                .with_commit_properties(properties);
            if let Some(d) = &docs.description {
                create = create.with_comment(d.clone());
            }
            let table: DeltaTable = create.await.map_err(self.delta_err(&t))?;
            return Ok(table.version().map(version_i64).unwrap_or(0));
        }
        let snapshot = table.snapshot().map_err(self.delta_err(&t))?;
        let mut actions: Vec<Action> = Vec::new();
        if let Some(metadata) =
            metadata_with(snapshot.metadata(), &snapshot.schema(), &fields, docs)
                .map_err(self.delta_err(&t))?
        {
            actions.push(Action::Metadata(metadata));
        }
        let mode = if replaces.is_some() {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        };
        actions.extend(replaces.into_iter().flatten().map(Action::Remove));
        actions.extend(adds);
        let commit = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::Write {
                    mode,
                    partition_by: None,
                    predicate: None,
                },
            )
            .await
            .map_err(self.delta_err(&t))?;
        Ok(version_i64(commit.version()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    #[tokio::test]
    async fn a_models_data_files_have_row_groups_of_128k_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("canonical", "many_rows");
        // 300,000 rows: 131,072 + 131,072 + 37,856 (one row group of 300,000 at Parquet's
        // default of 1 Mi rows).
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..300_000))],
        )
        .expect("batch");
        let staged = stage_model(&lake, &t, b).await;
        let mut groups = Vec::new();
        for url in staged.file_urls() {
            let path = url.to_file_path().expect("a local file");
            let reader = SerializedFileReader::new(std::fs::File::open(path).expect("open"))
                .expect("parquet");
            groups.extend(reader.metadata().row_groups().iter().map(|g| g.num_rows()));
        }
        assert_eq!(groups, [131_072, 131_072, 37_856]);
    }

    #[tokio::test]
    async fn a_column_of_distinct_ids_gives_up_its_dictionary_at_128_kib_and_a_few_values_keep_theirs()
     {
        // a model's data file and a raw landing's (whose ids and `updated_at` are as distinct)
        for raw in [false, true] {
            dictionaries_of_ids_and_currencies(raw).await;
        }
    }

    async fn dictionaries_of_ids_and_currencies(raw: bool) {
        use arrow::array::StringArray;
        use deltalake::parquet::basic::Encoding;
        use deltalake::parquet::column::page::Page;
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = if raw {
            TableName::new("raw", "entries")
        } else {
            TableName::new("intermediate", "entries")
        };
        // One row group of 131,072 rows: ids of 14 bytes, every one distinct (a dictionary of
        // them all is 131,072 x (4 + 14) = 2.3 MB, cut at Parquet's default of 1 MiB), and a
        // currency of three values.
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("currency", DataType::Utf8, false),
        ]));
        let rows = 131_072;
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("te-{i:011}")),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["USD", "EUR", "GBP"][i % 3]),
                )),
            ],
        )
        .expect("batch");
        let staged = if raw {
            stage_raw(&lake, &t, b).await
        } else {
            stage_model(&lake, &t, b).await
        };
        let urls = staged.file_urls();
        assert_eq!(urls.len(), 1);
        let path = urls[0].to_file_path().expect("a local file");
        let reader =
            SerializedFileReader::new(std::fs::File::open(path).expect("open")).expect("parquet");
        let group = reader.get_row_group(0).expect("row group");
        // (dictionary bytes, dictionary values, data pages encoded plainly) of column `i`
        let pages_of = |i: usize| {
            let mut dictionary = (0, 0);
            let mut plain = 0;
            for page in group.get_column_page_reader(i).expect("pages") {
                match page.expect("page") {
                    Page::DictionaryPage {
                        buf, num_values, ..
                    } => dictionary = (buf.len(), num_values),
                    p if p.encoding() == Encoding::PLAIN => plain += 1,
                    _ => {}
                }
            }
            (dictionary, plain)
        };
        let ((id_bytes, id_values), id_plain) = pages_of(0);
        // the writer checks the size after a value is added, so it may pass the limit by one
        assert!(
            id_bytes < DICTIONARY_PAGE_BYTES + 64,
            "raw {raw}: the ids' dictionary holds {id_bytes} bytes ({id_values} ids)"
        );
        assert!(
            id_plain > 0,
            "raw {raw}: the ids after the dictionary are written plainly"
        );
        assert_eq!(
            pages_of(1),
            ((3 * (4 + 3), 3), 0),
            "raw {raw}: the currencies keep their dictionary"
        );
    }

    fn raw_batch(schema: &Arc<Schema>, ids: std::ops::Range<i64>) -> RecordBatch {
        use arrow::array::{ArrayRef, StringArray};
        let mut columns: Vec<ArrayRef> = Vec::new();
        for f in schema.fields() {
            columns.push(match (f.name().as_str(), f.data_type()) {
                ("_raw", _) => Arc::new(StringArray::from_iter_values(
                    ids.clone().map(|i| format!(r#"{{"id":{i}}}"#)),
                )),
                (_, DataType::Int64) => Arc::new(Int64Array::from_iter_values(ids.clone())),
                _ => Arc::new(StringArray::from_iter_values(
                    ids.clone().map(|i| i.to_string()),
                )),
            });
        }
        RecordBatch::try_new(schema.clone(), columns).expect("batch")
    }

    /// `b` as a one-batch stream, with its schema.
    fn one_batch(b: RecordBatch) -> (SchemaRef, SendableRecordBatchStream) {
        let schema = b.schema();
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(b)]));
        (schema, Box::pin(stream))
    }

    async fn stage_model(lake: &Lake, t: &TableName, b: RecordBatch) -> Staged {
        let (schema, stream) = one_batch(b);
        lake.stage(t, schema, vec![stream]).await.expect("stage")
    }

    async fn stage_raw(lake: &Lake, t: &TableName, b: RecordBatch) -> Staged {
        let (schema, stream) = one_batch(b);
        lake.stage_raw(t, schema, stream).await.expect("stage")
    }

    #[tokio::test]
    async fn a_raw_landing_appends_its_files_keeps_the_docs_and_each_columns_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "things");
        let count = |lake: Lake, t: TableName| async move {
            let ctx = datafusion::prelude::SessionContext::new();
            assert!(lake.register(&ctx, &t).await.expect("register"));
            let b = ctx
                .sql("SELECT count(*) AS n FROM raw.things")
                .await
                .expect("sql")
                .collect()
                .await
                .expect("collect");
            let n = b[0]
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("i64");
            n.value(0)
        };
        let first = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("_raw", DataType::Utf8, true),
        ]));
        // the first landing creates the table (documented, as a later `pslake docs` might)
        let staged = stage_raw(&lake, &t, raw_batch(&first, 0..3)).await;
        let docs = TableDocs {
            description: Some("things as sent".into()),
            ..TableDocs::default()
        };
        assert_eq!(
            lake.commit_staged(staged.clone(), true, serde_json::Map::new(), &docs)
                .await
                .expect("create"),
            0
        );
        // `_raw` has no dictionary and no statistics in a raw table's files
        let path = staged.file_urls()[0].to_file_path().expect("a local file");
        let reader =
            SerializedFileReader::new(std::fs::File::open(path).expect("open")).expect("parquet");
        let raw = reader.metadata().row_group(0).column(1);
        assert_eq!(raw.column_path().string(), "_raw");
        assert!(raw.dictionary_page_offset().is_none());
        assert!(raw.statistics().is_none());
        // a later chunk with a new column: appended, the schema gains it, the docs stay
        let second = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("extra", DataType::Utf8, true),
            Field::new("_raw", DataType::Utf8, true),
        ]));
        let staged = stage_raw(&lake, &t, raw_batch(&second, 3..5)).await;
        assert_eq!(
            lake.append_staged(staged, serde_json::Map::new())
                .await
                .expect("append"),
            1
        );
        assert_eq!(count(lake.clone(), t.clone()).await, 5); // 3 + 2 rows
        assert_eq!(
            lake.docs(&t).await.expect("docs").description.as_deref(),
            Some("things as sent")
        );
        // a chunk whose `id` is text: refused, naming the column, and the table stays as it was
        let third = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("_raw", DataType::Utf8, true),
        ]));
        let staged = stage_raw(&lake, &t, raw_batch(&third, 5..6)).await;
        let e = lake
            .append_staged(staged, serde_json::Map::new())
            .await
            .expect_err("a type change");
        assert!(
            e.to_string().contains("column `id` is long in the table"),
            "{e}"
        );
        assert_eq!(count(lake.clone(), t.clone()).await, 5);
    }
}
