//! Tables kept by month, without a Delta partition column: every data file of such a table holds
//! the rows of one month of a DATE field, under the folder `pslake_month-YYYY-MM/` of the table
//! (`pslake_month-none/` for a NULL date). The schema stays the model's own (no extra column, no
//! Hive directory any reader would turn into one); any Delta reader sees an ordinary table, and
//! min/max statistics of the field prune by month. A build that knows which months changed
//! replaces only their files ([`Staged::replacing`]).
//!
//! Also here: the files a table gained since an earlier version, when it only gained files (an
//! append-only raw landing), for the models that read only the new rows of their input.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::num::NonZeroU64;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Date32Type, SchemaRef};
use chrono::{Datelike, NaiveDate};
use datafusion::execution::SendableRecordBatchStream;
use delta_kernel::table_properties::DataSkippingNumIndexedCols;
use deltalake::DeltaTable;
use deltalake::kernel::{Add, Remove};
use deltalake::operations::write::writer::{PartitionWriter, PartitionWriterConfig};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use url::Url;

use crate::staged::{STATS_COLUMNS, on_tasks};
use crate::{Error, Lake, Result, Staged, TARGET_FILE_SIZE, TableName};

/// The folder name before the month of a month file.
const MONTH_DIR: &str = "pslake_month-";

/// Arrow bytes a month writer takes before its file is closed (its encoded file is several
/// times smaller), and what all the open month writers of one stream may hold together before
/// the largest is closed: a stream whose rows are in no month order still writes in bounded
/// memory. 128 MiB: with the build running beside the extraction, the largest month-kept
/// model now builds beside another heavy one (256 MiB took the scale-100 run past 2 GiB).
const WRITER_INPUT_BYTES: usize = 128 * 1024 * 1024;
const OPEN_INPUT_BYTES: usize = 128 * 1024 * 1024;

/// A calendar month of a DATE field, or the rows where it is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(Option<i32>);

impl Month {
    /// The rows whose date is NULL.
    pub const NONE: Month = Month(None);

    /// The month of `d`.
    pub fn of(d: NaiveDate) -> Self {
        Month(Some(d.year() * 12 + d.month0() as i32))
    }

    /// The month of an Arrow `Date32` value (days since 1970-01-01).
    pub fn of_days(days: i32) -> Self {
        let d = NaiveDate::from_num_days_from_ce_opt(days + 719_163).unwrap_or(NaiveDate::MIN);
        Self::of(d)
    }

    /// The first day of the month and of the next one (`None` for [`Month::NONE`]).
    pub fn range(self) -> Option<(NaiveDate, NaiveDate)> {
        let m = self.0?;
        let first =
            |m: i32| NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1);
        Some((first(m)?, first(m + 1)?))
    }

    fn folder(self) -> String {
        match self.range() {
            Some((first, _)) => format!("{MONTH_DIR}{}", first.format("%Y-%m")),
            None => format!("{MONTH_DIR}none"),
        }
    }

    /// The month of a data file written by [`Lake::stage_by_month`], from its path relative to
    /// the table root; `None` for any other file.
    pub fn of_file(path: &str) -> Option<Month> {
        let folder = path.split('/').next()?.strip_prefix(MONTH_DIR)?;
        if folder == "none" {
            return Some(Month::NONE);
        }
        NaiveDate::parse_from_str(&format!("{folder}-01"), "%Y-%m-%d")
            .ok()
            .map(Month::of)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.range() {
            Some((first, _)) => write!(f, "{}", first.format("%Y-%m")),
            None => f.write_str("no date"),
        }
    }
}

/// A data file of a published table, with its month when it is a month file.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// Where it is.
    pub url: Url,
    /// Its month, when the table is kept by month.
    pub month: Option<Month>,
    /// The action that removes it from the table.
    pub remove: Remove,
    /// Whether a deletion vector hides some of its rows (never in a table pslake wrote).
    pub deletion_vector: bool,
}

impl Lake {
    /// The data files of `t`'s latest version (empty when the table does not exist).
    pub async fn table_files(&self, t: &TableName) -> Result<Vec<TableFile>> {
        let Some(table) = self.open(t).await? else {
            return Ok(Vec::new());
        };
        self.files_of(t, &table)
    }

    /// The data files of the version `table` (table `t` of this lake) has loaded.
    pub(crate) fn files_of(&self, t: &TableName, table: &DeltaTable) -> Result<Vec<TableFile>> {
        let snapshot = table.snapshot().map_err(self.delta_err(t))?;
        let root = self.table_url(t);
        let mut files = Vec::new();
        for view in snapshot.log_data().iter() {
            let path = view.path().to_string();
            let url = root.join(&path).map_err(|e| Error::Location {
                location: path.clone(),
                reason: e.to_string(),
            })?;
            files.push(TableFile {
                url,
                month: Month::of_file(&path),
                remove: view.remove_action(true),
                deletion_vector: view.deletion_vector_descriptor().is_some(),
            });
        }
        Ok(files)
    }

    /// The data files `t` gained after version `since`, when every file of that version is still
    /// in the latest one (the table only gained rows since); `None` when files were removed or
    /// replaced, or `since` is no longer readable.
    pub async fn files_added_since(&self, t: &TableName, since: i64) -> Result<Option<Vec<Url>>> {
        let Some(latest) = self.open(t).await? else {
            return Ok(None);
        };
        let Ok(since) = u64::try_from(since) else {
            return Ok(None);
        };
        let mut old = self.handle(t).await?;
        if old.load_version(since).await.is_err() {
            return Ok(None);
        }
        let paths = |table: &deltalake::DeltaTable| -> Result<HashSet<String>> {
            Ok(table
                .snapshot()
                .map_err(self.delta_err(t))?
                .log_data()
                .iter()
                .map(|v| v.path().to_string())
                .collect())
        };
        let before = paths(&old)?;
        let now = paths(&latest)?;
        if !before.is_subset(&now) {
            return Ok(None);
        }
        let root = self.table_url(t);
        let mut added: Vec<String> = now.difference(&before).cloned().collect();
        added.sort();
        added
            .iter()
            .map(|p| {
                root.join(p).map_err(|e| Error::Location {
                    location: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<Url>>>()
            .map(Some)
    }

    /// Writes every stream's batches as month files of table `t` (one file set per month of the
    /// DATE column `field`, each stream through its own writers), committing nothing. Returns the
    /// staged files and the months they hold.
    pub async fn stage_by_month(
        &self,
        t: &TableName,
        schema: SchemaRef,
        field: &str,
        streams: Vec<SendableRecordBatchStream>,
    ) -> Result<(Staged, BTreeSet<Month>)> {
        let column = schema
            .index_of(field)
            .ok()
            .filter(|&i| schema.field(i).data_type() == &DataType::Date32)
            .ok_or_else(|| Error::Location {
                location: t.to_string(),
                reason: format!("partition_by: {field} is not a DATE column of the model"),
            })?;
        let store = self.table_store(t)?;
        let writers = streams
            .into_iter()
            .map(|stream| {
                let store = store.clone();
                let schema = schema.clone();
                let name = t.clone();
                let url = self.table_url(t).to_string();
                async move { write_months(store, schema, column, stream, &name, url).await }
            })
            .collect::<Vec<_>>();
        let mut staged = Staged::empty(t.clone(), self.table_url(t), schema.clone());
        let mut months = BTreeSet::new();
        let mut first_error = None;
        for result in on_tasks(writers).await {
            match result {
                Ok((adds, rows, m)) => {
                    staged.push(adds, rows);
                    months.extend(m);
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
        Ok((staged, months))
    }
}

/// One open month writer and the Arrow bytes it took since it opened.
struct Open {
    writer: PartitionWriter,
    bytes: usize,
}

fn month_writer(
    store: Arc<dyn ObjectStore>,
    schema: &SchemaRef,
    month: Month,
) -> deltalake::DeltaResult<PartitionWriter> {
    let config = PartitionWriterConfig::try_new(
        schema.clone(),
        Default::default(),
        Some(crate::staged::writer_properties()),
        NonZeroU64::new(TARGET_FILE_SIZE),
        None,
        None,
        Some(Path::from(month.folder())),
    )?;
    PartitionWriter::try_with_config(
        store,
        config,
        DataSkippingNumIndexedCols::NumColumns(STATS_COLUMNS),
        None,
    )
}

/// The rows of `batch` grouped by the month of its Date32 `column`, in first-seen order.
fn split_by_month(batch: &RecordBatch, column: usize) -> Vec<(Month, UInt32Array)> {
    let dates = batch.column(column).as_primitive::<Date32Type>();
    let mut order: Vec<Month> = Vec::new();
    let mut rows: HashMap<Month, Vec<u32>> = HashMap::new();
    for i in 0..dates.len() {
        let m = if dates.is_null(i) {
            Month::NONE
        } else {
            Month::of_days(dates.value(i))
        };
        let entry = rows.entry(m).or_insert_with(|| {
            order.push(m);
            Vec::new()
        });
        entry.push(i as u32);
    }
    order
        .into_iter()
        .map(|m| (m, UInt32Array::from(rows.remove(&m).unwrap_or_default())))
        .collect()
}

async fn write_months(
    store: Arc<dyn ObjectStore>,
    schema: SchemaRef,
    column: usize,
    mut stream: SendableRecordBatchStream,
    table: &TableName,
    url: String,
) -> Result<(Vec<Add>, u64, BTreeSet<Month>)> {
    let delta = |e: deltalake::DeltaTableError| Error::Delta {
        table: table.to_string(),
        url: url.clone(),
        source: Box::new(e),
    };
    let mut open: HashMap<Month, Open> = HashMap::new();
    let mut adds = Vec::new();
    let mut rows = 0u64;
    let mut months = BTreeSet::new();
    let result: Result<()> = async {
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Error::DataFusion {
                context: format!("computing {table}"),
                source: Box::new(e),
            })?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            for (month, indices) in split_by_month(&batch, column) {
                let part = if indices.len() == batch.num_rows() {
                    batch.clone()
                } else {
                    arrow::compute::take_record_batch(&batch, &indices).map_err(|e| {
                        Error::Location {
                            location: table.to_string(),
                            reason: e.to_string(),
                        }
                    })?
                };
                months.insert(month);
                let o = match open.entry(month) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(Open {
                        writer: month_writer(store.clone(), &schema, month).map_err(delta)?,
                        bytes: 0,
                    }),
                };
                o.bytes += part.get_array_memory_size();
                o.writer.write(&part).await.map_err(delta)?;
                let full = o.bytes >= WRITER_INPUT_BYTES;
                let total: usize = open.values().map(|o| o.bytes).sum();
                let close = if full {
                    Some(month)
                } else if total >= OPEN_INPUT_BYTES {
                    open.iter().max_by_key(|(_, o)| o.bytes).map(|(m, _)| *m)
                } else {
                    None
                };
                if let Some(m) = close
                    && let Some(o) = open.remove(&m)
                {
                    adds.extend(o.writer.close().await.map_err(delta)?);
                }
            }
        }
        Ok(())
    }
    .await;
    // Close every writer (on error too, so what was written is listed and can be deleted).
    for (_, o) in open.drain() {
        match o.writer.close().await {
            Ok(a) => adds.extend(a),
            Err(e) if result.is_ok() => return Err(delta(e)),
            Err(_) => {}
        }
    }
    if let Err(e) = result {
        for add in &adds {
            if let Ok(p) = Path::parse(&add.path) {
                let _ = store.delete(&p).await;
            }
        }
        return Err(e);
    }
    Ok((adds, rows, months))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_round_trip_through_their_folders() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let m = Month::of(d);
        assert_eq!(
            m.range(),
            Some((
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
            ))
        );
        assert_eq!(m.folder(), "pslake_month-2026-12");
        assert_eq!(
            Month::of_file("pslake_month-2026-12/part-1.parquet"),
            Some(m)
        );
        assert_eq!(
            Month::of_file("pslake_month-none/x.parquet"),
            Some(Month::NONE)
        );
        assert_eq!(Month::of_file("part-1.parquet"), None);
        // 2026-12-31 is day 20818 since 1970-01-01
        assert_eq!(Month::of_days(20818), m);
        assert_eq!(
            Month::of_days(0),
            Month::of(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        );
    }

    fn dated(schema: &SchemaRef, ids: std::ops::Range<i64>) -> RecordBatch {
        use arrow::array::{Date32Array, Int64Array};
        // row i: day 20454 + (i * 37) % 400 (2026-01-01 and the 399 days after it: 14 months),
        // and a NULL date on every 10th row
        let dates = Date32Array::from_iter(
            ids.clone()
                .map(|i| (i % 10 != 9).then_some(20_454 + ((i * 37) % 400) as i32)),
        );
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(ids)), Arc::new(dates)],
        )
        .expect("batch")
    }

    fn dated_schema() -> SchemaRef {
        use arrow::datatypes::{Field, Schema};
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("d", DataType::Date32, true),
        ]))
    }

    #[tokio::test]
    async fn rows_in_no_month_order_land_each_in_its_months_file_and_nothing_is_lost() {
        use arrow::datatypes::Int64Type;
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("staging", "by_month");
        let schema = dated_schema();
        // 50 batches of 1,000 rows, each spread over every month (parts of ~65 rows a month),
        // in two streams as a plan's two partitions would send them
        let batches = |from: i64| -> Vec<datafusion::error::Result<RecordBatch>> {
            (0..25)
                .map(|b| Ok(dated(&schema, from + b * 1000..from + (b + 1) * 1000)))
                .collect()
        };
        let streams: Vec<SendableRecordBatchStream> = [0, 25_000]
            .into_iter()
            .map(|from| {
                Box::pin(RecordBatchStreamAdapter::new(
                    schema.clone(),
                    futures::stream::iter(batches(from)),
                )) as SendableRecordBatchStream
            })
            .collect();
        let (staged, months) = lake
            .stage_by_month(&t, schema.clone(), "d", streams)
            .await
            .expect("stage");
        assert_eq!(staged.rows(), 50_000);
        // 2026-01 .. 2027-02 (day 20454 + 399 = 2027-02-04) and the NULL dates
        assert_eq!(months.len(), 15);
        assert!(months.contains(&Month::NONE));
        let mut ids = Vec::new();
        for (add, url) in staged.adds.iter().zip(staged.file_urls()) {
            let month = Month::of_file(&add.path).expect("a month file");
            let path = url.to_file_path().expect("a local file");
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).expect("open"))
                    .expect("parquet")
                    .build()
                    .expect("reader");
            for b in reader {
                let b = b.expect("batch");
                let dates = b.column(1).as_primitive::<Date32Type>();
                for i in 0..b.num_rows() {
                    let m = if dates.is_null(i) {
                        Month::NONE
                    } else {
                        Month::of_days(dates.value(i))
                    };
                    assert_eq!(m, month, "{} holds a row of {m}", add.path);
                }
                let id = b.column(0).as_primitive::<Int64Type>();
                ids.extend(id.values().iter().copied());
            }
        }
        ids.sort();
        assert_eq!(ids, (0..50_000).collect::<Vec<i64>>());
    }

    #[tokio::test]
    async fn a_stream_that_fails_part_way_leaves_no_file_behind() {
        use datafusion::error::DataFusionError;
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("staging", "failing");
        let schema = dated_schema();
        // 20,000 rows (every month's writer has taken some), then the plan fails
        let mut items: Vec<datafusion::error::Result<RecordBatch>> = (0..20)
            .map(|b| Ok(dated(&schema, b * 1000..(b + 1) * 1000)))
            .collect();
        items.push(Err(DataFusionError::Execution("the plan broke".into())));
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(items));
        let err = lake
            .stage_by_month(&t, schema, "d", vec![Box::pin(stream)])
            .await
            .expect_err("the stream failed");
        assert!(err.to_string().contains("the plan broke"), "{err}");
        let root = lake.table_url(&t).to_file_path().expect("a local table");
        let parquet = parquet_files(&root);
        assert!(parquet.is_empty(), "left behind: {parquet:?}");
    }

    /// Every `.parquet` file under `dir` (none when it does not exist).
    fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                out.extend(parquet_files(&p));
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
        out
    }
}
