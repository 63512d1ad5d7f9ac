//! Maintenance (`pslake maintain`): compaction of small files and vacuum of old ones.
//!
//! For each table of the lake:
//! 1. **compaction**, of the tables no release holds (`raw.*` and `_pslake.*`, which get a commit
//!    per landing): Delta OPTIMIZE bin-packs small files into files of up to
//!    [`TARGET_FILE_SIZE`] in one commit that changes no row (`dataChange: false`);
//! 2. **vacuum**, of every table: Delta VACUUM (full mode) deletes the data files the latest
//!    version no longer uses whose removal is older than the retention, and the files no version
//!    names (a build's staged files that were never published) older than the retention. The
//!    files of the latest version and of the table's version in the last complete release
//!    (`_pslake.releases`, what pslake's readers are pinned to) are always kept.
//!
//! Model tables are not compacted: each build writes them whole (or by month) in files of the
//! target size already, a compaction would move their latest version past the release readers
//! are pinned to, and it would mix the months of a table kept by month in one file.
//!
//! Invariants: run it behind the lake's lock after [`Lake::recover`], so no writer stages files
//! meanwhile and no release intent names staged files the vacuum would take for orphans. Every
//! table reads the same rows before and after. A version stops being readable only when one of
//! its files is deleted, which needs it to be older than the retention and neither the latest
//! nor the released one; the report lists those versions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::lake::version_i64;
use crate::{Error, Lake, RAW_SCHEMA, Result, TARGET_FILE_SIZE, TableName, ops};

/// What maintenance did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMaintenance {
    /// The table.
    pub table: TableName,
    /// Data files of the latest version, and their bytes, before.
    pub files_before: usize,
    /// Bytes of those files.
    pub bytes_before: u64,
    /// Data files of the latest version after (fewer when it was compacted).
    pub files_after: usize,
    /// Bytes of those files.
    pub bytes_after: u64,
    /// `(files removed, files added)` by the compaction, when one was committed.
    pub compacted: Option<(u64, u64)>,
    /// Data files deleted from storage by the vacuum.
    pub deleted_files: usize,
    /// Bytes of those files.
    pub deleted_bytes: u64,
    /// Versions that can no longer be read (one of their files was deleted), ascending.
    pub versions_removed: Vec<i64>,
    /// The released version kept readable although the latest version no longer has all its
    /// files, if any.
    pub kept_release: Option<i64>,
}

/// Whether maintenance compacts `t`: not a table any release holds, and a landing or an
/// operational table (see the module docs).
fn compactable(t: &TableName, released: &BTreeMap<TableName, i64>) -> bool {
    (t.schema == RAW_SCHEMA || t.schema == ops::SCHEMA) && !released.contains_key(t)
}

/// The data files of `table`'s loaded version: object-store path to size.
fn live_files(
    table: &DeltaTable,
) -> std::result::Result<HashMap<Path, u64>, deltalake::DeltaTableError> {
    Ok(table
        .snapshot()?
        .log_data()
        .iter()
        .map(|f| (f.object_store_path(), u64::try_from(f.size()).unwrap_or(0)))
        .collect())
}

impl Lake {
    /// Compacts and vacuums every table of the lake (see the module docs); files whose removal
    /// is older than `retention` go. Call it behind the lake's lock, after [`Lake::recover`].
    pub async fn maintain(&self, retention: Duration) -> Result<Vec<TableMaintenance>> {
        let released = ops::released_versions(self, None)
            .await?
            .unwrap_or_default();
        let mut out = Vec::new();
        for t in self.list_tables().await? {
            let compact = compactable(&t, &released);
            let report = self
                .maintain_table(&t, retention, compact, released.get(&t).copied())
                .await?;
            out.push(report);
        }
        Ok(out)
    }

    /// Maintains one table: compacts it when `compact`, then vacuums it with `retention`,
    /// keeping the files of version `keep` (its released version) and of the latest.
    pub async fn maintain_table(
        &self,
        t: &TableName,
        retention: Duration,
        compact: bool,
        keep: Option<i64>,
    ) -> Result<TableMaintenance> {
        let delta_err = self.delta_err(t);
        let Some(mut table) = self.open(t).await? else {
            return Err(Error::Location {
                location: self.table_url(t).to_string(),
                reason: "no Delta table there".into(),
            });
        };
        let before = live_files(&table).map_err(&delta_err)?;
        let (stored, log_versions) = self.stored_files(t, &table).await?;

        let mut compacted = None;
        if compact && before.len() > 1 {
            let target = NonZeroU64::new(TARGET_FILE_SIZE).expect("a non-zero target size");
            let (optimized, metrics) = table
                .clone()
                .optimize()
                .with_type(OptimizeType::Compact)
                .with_target_size(target)
                .await
                .map_err(&delta_err)?;
            if metrics.num_files_removed > 0 {
                compacted = Some((metrics.num_files_removed, metrics.num_files_added));
            }
            table = optimized;
        }
        // The version the vacuum keeps as the latest (the compaction's, if any).
        let latest = table.version().map(version_i64).unwrap_or(0);
        // The released version needs keeping only when its files are not all the latest's (a
        // later commit changed data, not only a maintenance commit).
        let kept_release = match keep.filter(|&k| k < latest) {
            Some(k) => {
                let current = live_files(&table).map_err(&delta_err)?;
                let released = live_files(&self.open_at(t, k).await?).map_err(&delta_err)?;
                (!released.keys().all(|p| current.contains_key(p))).then_some(k)
            }
            None => None,
        };

        let retention = chrono::Duration::from_std(retention).map_err(|e| Error::Location {
            location: self.table_url(t).to_string(),
            reason: format!("retention out of range: {e}"),
        })?;
        let vacuum = |dry_run: bool| {
            let mut vacuum = table
                .clone()
                .vacuum()
                .with_mode(VacuumMode::Full)
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .with_dry_run(dry_run);
            if let Some(k) = kept_release {
                let k = u64::try_from(k).expect("a released version is not negative");
                vacuum = vacuum.with_keep_versions(&[k]);
            }
            vacuum
        };
        // The files still stored among those the vacuum would delete: a tombstone stays in the
        // log after its file is gone, and a vacuum with nothing left to delete would still
        // commit (VACUUM START/END), moving every table's version at each maintenance.
        let stored_among = |files: &[String]| -> HashSet<Path> {
            files
                .iter()
                .map(|p| Path::parse(p).unwrap_or_else(|_| Path::from(p.as_str())))
                .filter(|p| stored.contains_key(p))
                .collect()
        };
        let (_, plan) = vacuum(true).await.map_err(&delta_err)?;
        let (table, deleted) = if stored_among(&plan.files_deleted).is_empty() {
            (table, HashSet::new())
        } else {
            let (table, metrics) = vacuum(false).await.map_err(&delta_err)?;
            let deleted = stored_among(&metrics.files_deleted);
            (table, deleted)
        };
        let deleted_bytes = deleted.iter().filter_map(|p| stored.get(p)).sum();
        let versions_removed = if deleted.is_empty() {
            Vec::new()
        } else {
            let candidates: Vec<i64> = log_versions
                .into_iter()
                .filter(|&v| v < latest && Some(v) != kept_release)
                .collect();
            self.versions_using(t, &candidates, &deleted).await?
        };
        let after = live_files(&table).map_err(&delta_err)?;
        Ok(TableMaintenance {
            table: t.clone(),
            files_before: before.len(),
            bytes_before: before.values().sum(),
            files_after: after.len(),
            bytes_after: after.values().sum(),
            compacted,
            deleted_files: deleted.len(),
            deleted_bytes,
            versions_removed,
            kept_release,
        })
    }

    /// Every object of `t`'s folder outside its log (path relative to the table, size), and the
    /// versions whose commit file is in the log, ascending.
    async fn stored_files(
        &self,
        t: &TableName,
        table: &DeltaTable,
    ) -> Result<(HashMap<Path, u64>, Vec<i64>)> {
        let store = table.log_store().object_store(None);
        let listed: Vec<_> =
            store
                .list(None)
                .try_collect()
                .await
                .map_err(|source| Error::Store {
                    url: self.table_url(t).to_string(),
                    source: Box::new(source),
                })?;
        let mut files = HashMap::new();
        let mut versions = Vec::new();
        for meta in listed {
            let mut parts = meta.location.parts();
            let first = parts.next();
            if first.as_ref().map(|p| p.as_ref()) == Some("_delta_log") {
                let name = parts.next();
                let version = name
                    .as_ref()
                    .and_then(|n| n.as_ref().strip_suffix(".json"))
                    .filter(|n| n.len() == 20)
                    .and_then(|n| n.parse::<i64>().ok());
                if let (Some(v), None) = (version, parts.next()) {
                    versions.push(v);
                }
                continue;
            }
            files.insert(meta.location, meta.size);
        }
        versions.sort_unstable();
        Ok((files, versions))
    }

    /// The versions of `candidates` (ascending) whose data files include one of `deleted`.
    async fn versions_using(
        &self,
        t: &TableName,
        candidates: &[i64],
        deleted: &HashSet<Path>,
    ) -> Result<Vec<i64>> {
        let mut table = self.handle(t).await?;
        let mut out = Vec::new();
        let mut loaded = false;
        for &v in candidates {
            let version = u64::try_from(v).expect("log versions are not negative");
            // The first loads from the nearest checkpoint; the next ones apply one commit each.
            let step = if loaded {
                table.update_incremental(Some(version)).await
            } else {
                table.load_version(version).await
            };
            if let Err(error) = step {
                tracing::debug!(table = %t, version = v, %error, "version not loadable");
                loaded = false;
                continue;
            }
            loaded = true;
            let files = live_files(&table).map_err(self.delta_err(t))?;
            if files.keys().any(|p| deleted.contains(p)) {
                out.push(v);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;
    use crate::{ReleaseMember, TableDocs};

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("batch")
    }

    /// The first column of `rows`, an Int64 column, as values.
    fn ints(rows: &[RecordBatch]) -> Vec<i64> {
        rows.iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("int64")
                    .values()
                    .to_vec()
            })
            .collect()
    }

    async fn xs(lake: &Lake, t: &TableName) -> Vec<i64> {
        let rows = lake
            .query(&format!("SELECT x FROM {t} ORDER BY x"))
            .await
            .expect("query");
        ints(&rows)
    }

    async fn xs_at(lake: &Lake, t: &TableName, version: i64) -> Vec<i64> {
        let table = lake.open_at(t, version).await.expect("open at");
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("t", table.table_provider().await.expect("provider"))
            .expect("register");
        let rows = ctx
            .sql("SELECT x FROM t ORDER BY x")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("read at version");
        ints(&rows)
    }

    async fn release(lake: &Lake, run_id: &str, t: &TableName, values: &[i64]) -> i64 {
        let b = batch(values);
        let schema = b.schema();
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(b)]));
        let staged = lake
            .stage(t, schema, vec![Box::pin(stream)])
            .await
            .expect("stage");
        let versions = lake
            .publish_release(
                run_id,
                vec![ReleaseMember {
                    staged,
                    append: false,
                    metadata: serde_json::Map::new(),
                    docs: TableDocs::default(),
                }],
            )
            .await
            .expect("release");
        versions[t]
    }

    /// A raw table of one file per landing is compacted, its old versions go, its rows stay; a
    /// model table's released version stays readable although a newer version replaced it; a
    /// retention longer than the files' age deletes nothing.
    #[tokio::test]
    async fn compaction_and_vacuum_keep_rows_and_the_released_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let raw = TableName::new(RAW_SCHEMA, "acme_things");
        for i in 0..4 {
            lake.append(&raw, vec![batch(&[i, i + 10])])
                .await
                .expect("append");
        }
        let model = TableName::new("canonical", "things");
        let released = release(&lake, "r1", &model, &[1, 2, 3]).await;
        let r2 = release(&lake, "r2", &model, &[4, 5]).await;
        // a publish past the release record (as a crash in step 3 leaves it): readers stay on r2
        lake.overwrite(&model, vec![batch(&[6])])
            .await
            .expect("unreleased commit");
        assert!(!lake.is_publishing());

        // a long retention: compaction only, nothing deleted
        let long = lake
            .maintain(Duration::from_secs(7 * 86400))
            .await
            .expect("maintain");
        let raw_report = long.iter().find(|r| r.table == raw).expect("raw report");
        assert_eq!((raw_report.files_before, raw_report.files_after), (4, 1));
        assert_eq!(raw_report.compacted, Some((4, 1)));
        assert_eq!(raw_report.deleted_files, 0);
        assert!(
            long.iter().all(|r| r.versions_removed.is_empty()),
            "{long:?}"
        );
        let model_report = long
            .iter()
            .find(|r| r.table == model)
            .expect("model report");
        assert_eq!(
            model_report.compacted, None,
            "model tables are not compacted"
        );
        assert_eq!(model_report.kept_release, Some(r2));
        // a table released at its latest version needs no extra keeping
        let releases = long
            .iter()
            .find(|r| r.table == ops::releases_table())
            .expect("releases report");
        assert_eq!(releases.kept_release, None);

        // retention zero: the compacted files go, with every version that used them
        let zero = lake.maintain(Duration::ZERO).await.expect("maintain");
        let raw_report = zero.iter().find(|r| r.table == raw).expect("raw report");
        assert_eq!(raw_report.deleted_files, 4, "{raw_report:?}");
        assert_eq!(raw_report.versions_removed, vec![0, 1, 2, 3]);
        assert!(raw_report.deleted_bytes > 0);
        assert_eq!(
            xs(&lake, &raw).await,
            vec![0, 1, 2, 3, 10, 11, 12, 13],
            "same rows"
        );
        let model_report = zero
            .iter()
            .find(|r| r.table == model)
            .expect("model report");
        assert_eq!(model_report.kept_release, Some(r2));
        assert!(
            model_report.versions_removed.contains(&released),
            "{model_report:?}"
        );
        assert!(!model_report.versions_removed.contains(&r2));
        // the released version reads as released, the latest as committed
        assert_eq!(xs_at(&lake, &model, r2).await, vec![4, 5]);
        assert_eq!(xs(&lake, &model).await, vec![6]);

        // released at its latest version, then vacuumed (commits that change no file): the
        // released version reads from the latest's files, nothing to keep
        let r3 = release(&lake, "r3", &model, &[7]).await;
        lake.maintain(Duration::ZERO).await.expect("maintain");
        assert!(
            lake.version(&model).await.expect("v") > Some(r3),
            "vacuum commits"
        );
        let again = lake.maintain(Duration::ZERO).await.expect("maintain");
        let model_report = again
            .iter()
            .find(|r| r.table == model)
            .expect("model report");
        assert_eq!(model_report.kept_release, None, "{model_report:?}");
        assert_eq!(xs_at(&lake, &model, r3).await, vec![7]);
        // nothing left to delete: nothing deleted, no version committed
        let versions = |lake: &Lake| {
            let lake = lake.clone();
            async move {
                let mut out = Vec::new();
                for t in lake.list_tables().await.expect("list") {
                    out.push((t.clone(), lake.version(&t).await.expect("version")));
                }
                out
            }
        };
        let before = versions(&lake).await;
        let third = lake.maintain(Duration::ZERO).await.expect("maintain");
        assert!(third.iter().all(|r| r.deleted_files == 0), "{third:?}");
        assert_eq!(versions(&lake).await, before);
        // the first release's files are gone
        assert!(
            lake.open_at(&model, released).await.is_err() || {
                let ctx = datafusion::prelude::SessionContext::new();
                let table = lake.open_at(&model, released).await.expect("open");
                ctx.register_table("t", table.table_provider().await.expect("provider"))
                    .expect("register");
                ctx.sql("SELECT * FROM t")
                    .await
                    .expect("plan")
                    .collect()
                    .await
                    .is_err()
            },
            "version {released} is no longer readable"
        );
    }
}
