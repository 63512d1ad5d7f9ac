//! Deletion reconciliation on the lake side: compare the primary keys a source lists now with
//! the keys that are live in a raw table.
//!
//! A key is *live* when its latest row (greatest `_extracted_at`) is not a tombstone
//! (`_deleted` true). On a tie the tombstone wins, as in the staging models, whose
//! `ORDER BY _extracted_at DESC, <cursor> DESC` puts a tombstone's NULL cursor first.
//! [`compare_keys`] returns the live keys the source no longer lists (to be tombstoned) and,
//! for the tombstoned keys the source lists again, their latest landed row (to be landed again).
//! Nothing here writes: the extractor appends the rows it builds from the result.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use datafusion::catalog::MemTable;
use datafusion::prelude::SessionContext;

use crate::lake::{DELETED, ensure_schema};
use crate::{Error, Lake, Result, TableName};

/// What the source's keys say about a raw table.
#[derive(Debug, Default)]
pub struct KeyComparison {
    /// Live keys that the source no longer lists: the key columns only.
    pub gone: Vec<RecordBatch>,
    /// Keys whose latest row is a tombstone but that the source lists again: the latest landed
    /// (non-tombstone) row of each, every column of the table.
    pub back: Vec<RecordBatch>,
}

impl KeyComparison {
    /// Rows in [`KeyComparison::gone`].
    pub fn gone_rows(&self) -> usize {
        self.gone.iter().map(RecordBatch::num_rows).sum()
    }

    /// Rows in [`KeyComparison::back`].
    pub fn back_rows(&self) -> usize {
        self.back.iter().map(RecordBatch::num_rows).sum()
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Compares the keys a source lists (`source`: batches with exactly the `key` columns, typed
/// as in the raw table) with the live keys of raw table `table`. `tie_break` is the column that
/// orders two landings with the same `_extracted_at` (the incremental cursor), if any. A table
/// that does not exist yet has no live keys.
pub async fn compare_keys(
    lake: &Lake,
    table: &TableName,
    key: &[String],
    tie_break: Option<&str>,
    source_schema: SchemaRef,
    source: Vec<RecordBatch>,
) -> Result<KeyComparison> {
    let ctx = SessionContext::new();
    if !lake.register(&ctx, table).await? {
        return Ok(KeyComparison::default());
    }
    let df_err = |what: &'static str| {
        let table = table.to_string();
        move |source| Error::DataFusion {
            context: format!("reconciling {table}: {what}"),
            source: Box::new(source),
        }
    };
    ensure_schema(&ctx, "pslake").map_err(df_err("registering the source keys"))?;
    let keys_table = MemTable::try_new(source_schema, vec![source])
        .map_err(df_err("registering the source keys"))?;
    ctx.register_table("pslake.source_keys", Arc::new(keys_table))
        .map_err(df_err("registering the source keys"))?;

    let raw = format!("{}.{}", quote(&table.schema), quote(&table.name));
    let cols: Vec<String> = key.iter().map(|k| quote(k)).collect();
    let list = |alias: &str| -> String {
        cols.iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let on = |a: &str, b: &str| -> String {
        cols.iter()
            .map(|c| format!("{a}.{c} = {b}.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let not_null = |alias: &str| -> String {
        cols.iter()
            .map(|c| format!("{alias}.{c} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let deleted = format!("coalesce(r.{}, false)", quote(DELETED));
    let sql = format!(
        "WITH s AS (SELECT DISTINCT {s_cols}, true AS __listed FROM pslake.source_keys s WHERE {s_nn}), \
         latest AS ( \
           SELECT {r_cols}, \
                  max(CASE WHEN {deleted} THEN r._extracted_at END) AS __deleted_at, \
                  max(CASE WHEN {deleted} THEN NULL ELSE r._extracted_at END) AS __live_at \
           FROM {raw} r WHERE {r_nn} GROUP BY {r_cols}) \
         SELECT {l_cols}, s.__listed IS NOT NULL AS __back \
         FROM latest l LEFT JOIN s ON {l_s} \
         WHERE l.__live_at IS NOT NULL AND ( \
           (s.__listed IS NULL AND (l.__deleted_at IS NULL OR l.__live_at > l.__deleted_at)) \
           OR (s.__listed IS NOT NULL AND l.__deleted_at >= l.__live_at))",
        s_cols = list("s"),
        s_nn = not_null("s"),
        r_cols = list("r"),
        r_nn = not_null("r"),
        l_cols = list("l"),
        l_s = on("l", "s"),
    );
    let rows = ctx
        .sql(&sql)
        .await
        .map_err(df_err("planning the key comparison"))?
        .collect()
        .await
        .map_err(df_err("comparing keys"))?;

    let arrow_err = |source: arrow::error::ArrowError| Error::Arrow {
        context: format!("reconciling {table}"),
        source: Box::new(source),
    };
    let mut out = KeyComparison::default();
    let mut back_keys = Vec::new();
    for b in rows {
        let flag = b
            .column(b.num_columns() - 1)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| {
                arrow_err(arrow::error::ArrowError::SchemaError(
                    "__back is not boolean".into(),
                ))
            })?;
        let keys = b
            .project(&(0..key.len()).collect::<Vec<_>>())
            .map_err(arrow_err)?;
        let not_back = arrow::compute::not(&flag).map_err(arrow_err)?;
        for (mask, to) in [(&not_back, &mut out.gone), (&flag, &mut back_keys)] {
            let part = arrow::compute::filter_record_batch(&keys, mask).map_err(arrow_err)?;
            if part.num_rows() > 0 {
                to.push(part);
            }
        }
    }
    if back_keys.is_empty() {
        return Ok(out);
    }

    // The latest landed row of each key that is back, to land it again.
    let schema = back_keys[0].schema();
    let back_table =
        MemTable::try_new(schema, vec![back_keys]).map_err(df_err("registering the keys back"))?;
    ctx.register_table("pslake.back_keys", Arc::new(back_table))
        .map_err(df_err("registering the keys back"))?;
    let order = match tie_break {
        Some(c) => format!("r._extracted_at DESC, r.{} DESC", quote(c)),
        None => "r._extracted_at DESC".to_string(),
    };
    let sql = format!(
        "SELECT * FROM ( \
           SELECT r.*, row_number() OVER (PARTITION BY {r_cols} ORDER BY {order}) AS __rn \
           FROM {raw} r JOIN pslake.back_keys b ON {r_b} \
           WHERE NOT {deleted}) \
         WHERE __rn = 1",
        r_cols = list("r"),
        r_b = on("r", "b"),
    );
    let rows = ctx
        .sql(&sql)
        .await
        .map_err(df_err("planning the rows back"))?
        .collect()
        .await
        .map_err(df_err("reading the rows back"))?;
    for b in rows {
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|i| b.schema().field(*i).name() != "__rn")
            .collect();
        let b = b.project(&keep).map_err(arrow_err)?;
        if b.num_rows() > 0 {
            out.back.push(b);
        }
    }
    Ok(out)
}

/// Keys as text, `|`-joined per row (for messages and tests).
pub fn key_strings(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<StringArray> = b
            .columns()
            .iter()
            .filter_map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok())
            .filter_map(|c| c.as_any().downcast_ref::<StringArray>().cloned())
            .collect();
        for i in 0..b.num_rows() {
            let parts: Vec<&str> = cols
                .iter()
                .map(|c| if c.is_null(i) { "" } else { c.value(i) })
                .collect();
            out.push(parts.join("|"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    /// Rows `(id, amount, at, deleted)`; `deleted: None` leaves the column out (an old lake).
    fn rows(rows: &[(&str, Option<i64>, i64)], deleted: Option<bool>) -> RecordBatch {
        let mut fields = vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
            Field::new("_extracted_at", ts(), true),
        ];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
        ];
        if let Some(d) = deleted {
            fields.push(Field::new(DELETED, DataType::Boolean, true));
            cols.push(Arc::new(BooleanArray::from(vec![d; rows.len()])));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch")
    }

    fn source(ids: &[&str]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(ids.to_vec()))],
        )
        .expect("keys");
        (schema, vec![b])
    }

    async fn compare(lake: &Lake, t: &TableName, ids: &[&str]) -> KeyComparison {
        let (schema, keys) = source(ids);
        compare_keys(lake, t, &["id".to_string()], None, schema, keys)
            .await
            .expect("compare")
    }

    #[tokio::test]
    async fn gone_keys_then_tombstoned_then_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "things");
        assert_eq!(compare(&lake, &t, &["a"]).await.gone_rows(), 0, "no table");

        // an old lake: no `_deleted` column; b landed twice
        lake.append(
            &t,
            vec![rows(
                &[("a", Some(1), 10), ("b", Some(2), 10), ("c", Some(3), 10)],
                None,
            )],
        )
        .await
        .expect("land");
        lake.append(&t, vec![rows(&[("b", Some(20), 20)], None)])
            .await
            .expect("land again");
        let c = compare(&lake, &t, &["a", "c", "x"]).await;
        assert_eq!(key_strings(&c.gone), vec!["b"]);
        assert_eq!(c.back_rows(), 0);

        // the tombstone: b is no longer live, and nothing else is gone
        lake.append(&t, vec![rows(&[("b", None, 30)], Some(true))])
            .await
            .expect("tombstone");
        let c = compare(&lake, &t, &["a", "c"]).await;
        assert_eq!(c.gone_rows() + c.back_rows(), 0);
        let live = lake
            .query("SELECT count(*) FROM raw.things WHERE NOT coalesce(_deleted, false)")
            .await
            .expect("query");
        assert_eq!(live[0].num_rows(), 1);

        // b is listed again: its latest landed row comes back
        let c = compare(&lake, &t, &["a", "b", "c"]).await;
        assert_eq!(c.gone_rows(), 0);
        assert_eq!(c.back_rows(), 1);
        let amount = c.back[0]
            .column_by_name("amount")
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned())
            .expect("amount");
        assert_eq!(amount.value(0), 20, "the latest landing, not the first");

        // landed again later: live, nothing to do
        lake.append(&t, vec![rows(&[("b", Some(20), 40)], Some(false))])
            .await
            .expect("back");
        let c = compare(&lake, &t, &["a", "b", "c"]).await;
        assert_eq!(c.gone_rows() + c.back_rows(), 0);
        // a tombstone at the same instant as a landing wins (as in staging)
        lake.append(&t, vec![rows(&[("c", None, 10)], Some(true))])
            .await
            .expect("tie");
        let c = compare(&lake, &t, &["a", "b", "c"]).await;
        assert_eq!(c.back_rows(), 1, "c is back");
    }

    #[tokio::test]
    async fn raw_tables_without_deleted_read_it_as_false() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let t = TableName::new("raw", "old");
        lake.append(&t, vec![rows(&[("a", Some(1), 10)], None)])
            .await
            .expect("land");
        let b = lake
            .query("SELECT CAST(_deleted AS VARCHAR) FROM raw.old")
            .await
            .expect("_deleted reads");
        assert_eq!(key_strings(&b), vec!["false"]);
        // other schemas are left as they are
        lake.append(
            &TableName::new("canonical", "x"),
            vec![rows(&[("a", Some(1), 10)], None)],
        )
        .await
        .expect("land");
        assert!(
            lake.query("SELECT _deleted FROM canonical.x")
                .await
                .is_err()
        );
    }
}
