//! A Delta table version read as plain Parquet files, for an engine that has no Delta scan.
//!
//! A Ballista cluster runs serialized physical plans, and delta-rs 1.1's scan has no wire
//! format (delta-io/delta-rs#4171), so a build on a cluster reads each table as a plain Parquet
//! listing of the files of one version. That is exact for what pslake writes: no partition
//! columns (values kept in paths, not files), no deletion vectors (rows hidden outside the
//! files), no column mapping (physical column names that differ from the schema's). A table
//! with any of those (written by another tool) is refused with the feature named, rather than
//! read wrong.

use deltalake::DeltaTable;
use url::Url;

use crate::error::{Error, Result};
use crate::lake::{Lake, TableName};

impl Lake {
    /// The data files of the version `table` has loaded (table `t` of this lake), when those
    /// files alone hold exactly that version's rows; else [`Error::NotPlain`] naming the feature.
    pub fn plain_files(&self, t: &TableName, table: &DeltaTable) -> Result<Vec<Url>> {
        let not_plain = |reason: String| Error::NotPlain {
            table: t.to_string(),
            reason,
        };
        let snapshot = table.snapshot().map_err(self.delta_err(t))?;
        // The kernel's accessors of these fields are internal; the action's JSON is its format.
        let metadata = serde_json::to_value(snapshot.metadata())
            .map_err(|e| not_plain(format!("unreadable metadata: {e}")))?;
        if let Some(columns) = metadata["partitionColumns"].as_array()
            && !columns.is_empty()
        {
            return Err(not_plain(format!(
                "it is partitioned by {columns:?} (values kept in file paths)"
            )));
        }
        if let Some(mode) = metadata["configuration"]["delta.columnMapping.mode"].as_str()
            && mode != "none"
        {
            return Err(not_plain(format!("it uses column mapping ({mode})")));
        }
        let files = self.files_of(t, table)?;
        if let Some(f) = files.iter().find(|f| f.deletion_vector) {
            return Err(not_plain(format!("file {} has a deletion vector", f.url)));
        }
        Ok(files.into_iter().map(|f| f.url).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).expect("batch")
    }

    #[tokio::test]
    async fn a_version_is_exactly_its_active_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "t");
        lake.overwrite(&t, vec![batch(vec![1, 2])])
            .await
            .expect("v0");
        lake.overwrite(&t, vec![batch(vec![3, 4, 5])])
            .await
            .expect("v1");
        let table = lake.open(&t).await.expect("open").expect("exists");
        let files = lake.plain_files(&t, &table).expect("plain");
        // The overwrite removed v0's file: only v1's rows are listed.
        let ctx = datafusion::prelude::SessionContext::new();
        let paths: Vec<String> = files.iter().map(Url::to_string).collect();
        let rows: usize = ctx
            .read_parquet(paths, Default::default())
            .await
            .expect("read")
            .collect()
            .await
            .expect("rows")
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 3);
        let old = lake.open_at(&t, 0).await.expect("v0");
        assert_eq!(lake.plain_files(&t, &old).expect("plain").len(), 1);
        assert_ne!(lake.plain_files(&t, &old).expect("plain"), files);
    }

    #[tokio::test]
    async fn a_partitioned_table_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "p");
        let url = lake.table_url(&t);
        std::fs::create_dir_all(url.to_file_path().expect("path")).expect("dir");
        let table = deltalake::DeltaTable::try_from_url(url)
            .await
            .expect("handle")
            .create()
            .with_columns(vec![
                deltalake::kernel::StructField::new("n", deltalake::kernel::DataType::LONG, true),
                deltalake::kernel::StructField::new(
                    "month",
                    deltalake::kernel::DataType::STRING,
                    true,
                ),
            ])
            .with_partition_columns(["month"])
            .await
            .expect("create");
        let err = lake
            .plain_files(&t, &table)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("raw.p") && err.contains("month"), "{err}");
    }
}
