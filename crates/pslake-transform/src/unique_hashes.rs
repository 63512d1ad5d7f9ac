//! A `unique` test over a whole table, settled by its values' hashes when it passes.
//!
//! The test's query (`GROUP BY column HAVING count(*) > 1`) holds every distinct value in a hash
//! table: for the 7.8M time-entry ids of `--scale 100` some 600-700 MB, which in the build's
//! shared memory pool spills and sorts the ids to disk (2-3 CPU-seconds per such test). Equal
//! values have equal hashes, so a column whose non-NULL values' 64-bit hashes are all distinct
//! holds no duplicate: that check keeps 8 bytes per row (62 MB for 7.8M) and sorts them. Two
//! equal hashes (a duplicate, or a collision) prove nothing, and the test then runs its query,
//! which finds and names the duplicates as before.

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::hash_utils::{QualityRandomState, create_hashes};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

/// The hashes of a column are kept in this many buckets by their top bits, each sorted on its
/// own: no vector of a whole column's hashes (doubling as it grows, 128 MB for 7.8M rows) is
/// ever allocated in one piece.
const BUCKETS: usize = 64;

/// A column's hashes, by bucket.
type Buckets = Vec<Vec<u64>>;

fn bucket(hash: u64) -> usize {
    (hash >> (u64::BITS - BUCKETS.trailing_zeros())) as usize
}

/// Whether equal hashes of a column of this type are all it takes to be `GROUP BY`'s equal
/// values: not for floats (`GROUP BY` takes -0.0 and 0.0, and every NaN, as one value), nor for
/// nested or dictionary types, whose tests run their query.
fn hash_decides(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | Date32
            | Date64
            | Timestamp(_, _)
            | Decimal128(_, _)
            | Decimal256(_, _)
    )
}

/// For each of `columns` (names in `table`, a quoted SQL name in `ctx`): true when no two of its
/// non-NULL values are equal, proven by their hashes. False when two hashes are equal, when the
/// column's type is not one [`hash_decides`], or when the hashes could not be read (an error, or
/// no room for them in the session's memory pool): its test then runs its query.
pub(crate) async fn without_duplicates(
    ctx: &SessionContext,
    table: &str,
    columns: &[&str],
) -> Vec<bool> {
    let Ok((hashes, reservation)) = hashes_of(ctx, table, columns).await else {
        return vec![false; columns.len()];
    };
    // the sort runs off the async threads, which run the other models' plans meanwhile
    let sorted = tokio::task::spawn_blocking(move || {
        let distinct = hashes
            .into_iter()
            .map(|h| {
                h.is_some_and(|buckets| {
                    buckets.into_iter().all(|mut b| {
                        b.sort_unstable();
                        b.windows(2).all(|w| w[0] != w[1])
                    })
                })
            })
            .collect::<Vec<bool>>();
        drop(reservation);
        distinct
    })
    .await;
    sorted.unwrap_or_else(|_| vec![false; columns.len()])
}

/// Each column's non-NULL hashes by [`bucket`] (`None` for a column whose type [`hash_decides`]
/// not), in one scan of `table`, held under a reservation of the session's memory pool.
async fn hashes_of(
    ctx: &SessionContext,
    table: &str,
    columns: &[&str],
) -> Result<(Vec<Option<Buckets>>, MemoryReservation)> {
    let list = columns
        .iter()
        .map(|c| crate::checks::ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let df = ctx.sql(&format!("SELECT {list} FROM {table}")).await?;
    let mut hashes: Vec<Option<Buckets>> = df
        .schema()
        .fields()
        .iter()
        .map(|f| hash_decides(f.data_type()).then(|| vec![Vec::new(); BUCKETS]))
        .collect();
    let reservation = MemoryConsumer::new(format!("unique test hashes of {table}"))
        .register(&ctx.runtime_env().memory_pool);
    if hashes.iter().all(Option::is_none) {
        return Ok((hashes, reservation));
    }
    let state = QualityRandomState::with_seed(0);
    let mut of_batch: Vec<u64> = Vec::new();
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        for (column, kept) in batch.columns().iter().zip(hashes.iter_mut()) {
            let Some(kept) = kept else { continue };
            of_batch.clear();
            of_batch.resize(column.len(), 0);
            create_hashes([column as &ArrayRef], &state, &mut of_batch)?;
            let nulls = column.logical_nulls();
            for (row, &h) in of_batch.iter().enumerate() {
                if nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                    kept[bucket(h)].push(h);
                }
            }
        }
        let held: usize = hashes
            .iter()
            .flatten()
            .flatten()
            .map(|b| b.capacity() * size_of::<u64>())
            .sum();
        reservation.try_resize(held)?;
    }
    Ok((hashes, reservation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::SessionConfig;

    /// A session whose memory pool holds `pool` bytes and that cannot spill.
    fn session(pool: usize) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(pool, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .expect("runtime");
        SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(2), runtime)
    }

    /// Registers `t` with columns `id` (`ids`), `n` (`ns`) and `x` (`xs`), in batches of 8,192.
    fn register(ctx: &SessionContext, ids: Vec<Option<String>>, ns: Vec<i64>, xs: Vec<f64>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
        ]));
        let mut batches = Vec::new();
        for start in (0..ids.len()).step_by(8192) {
            let end = (start + 8192).min(ids.len());
            batches.push(
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(ids[start..end].to_vec())),
                        Arc::new(Int64Array::from(ns[start..end].to_vec())),
                        Arc::new(Float64Array::from(xs[start..end].to_vec())),
                    ],
                )
                .expect("batch"),
            );
        }
        let table = MemTable::try_new(schema, vec![batches]).expect("table");
        ctx.register_table("t", Arc::new(table)).expect("register");
    }

    #[tokio::test]
    async fn distinct_values_pass_and_a_duplicate_or_a_float_column_runs_the_query() {
        let ctx = session(64 << 20);
        // 20,000 distinct ids and three NULLs (a NULL is no value: three of them are no
        // duplicate); `n` repeats 7 once; `x` is distinct but a float.
        let mut ids: Vec<Option<String>> =
            (0..20_000).map(|i| Some(format!("te-{i:08}"))).collect();
        ids.extend([None, None, None]);
        let rows = ids.len();
        let mut ns: Vec<i64> = (0..rows as i64).collect();
        ns[rows - 1] = 7;
        let xs: Vec<f64> = (0..rows).map(|i| i as f64 / 3.0).collect();
        register(&ctx, ids, ns, xs);
        assert_eq!(
            without_duplicates(&ctx, "t", &["id", "n", "x"]).await,
            [true, false, false]
        );
        // an unknown column: no proof, so the test's own query reports it
        assert_eq!(without_duplicates(&ctx, "t", &["nope"]).await, [false]);
    }

    #[tokio::test]
    async fn a_million_distinct_ids_are_proven_unique_where_the_grouping_query_runs_out_of_memory()
    {
        // 1,000,000 ids of 11 bytes: their hashes take 8 MB (16 MB of buckets' capacity at most);
        // the test's query groups them in a hash table of the strings, which a 40 MB pool that
        // cannot spill does not hold.
        let ctx = session(40 << 20);
        let rows = 1_000_000;
        let ids = (0..rows).map(|i| Some(format!("te-{i:08}"))).collect();
        register(&ctx, ids, vec![0; rows], vec![0.0; rows]);
        let grouped = async {
            ctx.sql(
                "SELECT id, count(*) FROM t WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1",
            )
            .await?
            .collect()
            .await
        }
        .await;
        assert!(
            grouped.is_err(),
            "the grouping query fits the pool after all: the test proves nothing"
        );
        assert_eq!(without_duplicates(&ctx, "t", &["id"]).await, [true]);
        // and a pool too small for the hashes gives up instead of failing the test
        let tiny = session(1 << 20);
        let ids = (0..rows).map(|i| Some(format!("te-{i:08}"))).collect();
        register(&tiny, ids, vec![0; rows], vec![0.0; rows]);
        assert_eq!(without_duplicates(&tiny, "t", &["id"]).await, [false]);
    }
}
