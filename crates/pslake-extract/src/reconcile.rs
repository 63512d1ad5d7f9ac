//! Deletion reconciliation of one REST stream: a keys-only pass over the source, then
//! tombstones for the landed records whose key the source no longer lists.
//!
//! The pass sends the stream's `reconcile.endpoint` request (the stream's request with the
//! declared changes, e.g. a SOQL `SELECT Id` or a SuiteQL `SELECT id`) with no incremental
//! filter: a `{incremental.start_value}` left in it is the stream's `initial_value`. It pages
//! like the stream and reads only the primary key of each record.
//!
//! Then, against the raw table ([`pslake_lake::reconcile::compare_keys`]):
//! - each live key the source did not list gets one tombstone row: the key columns set,
//!   `_deleted = true`, `_run_id` and `_extracted_at` of this run, every other column NULL;
//! - each tombstoned key the source lists again (undeleted without a newer cursor value, so the
//!   incremental pass did not bring it) gets its latest landed row again, with this run's
//!   `_run_id` and `_extracted_at`, so it is live again.
//!
//! Both go in one append. Nothing is ever removed from the raw table. Tombstones and rows landed
//! again are not records received from the source: they are counted apart (`deleted`,
//! `revived`), so received = landed + rejected still holds per stream.
//!
//! Safety: a pass whose records carry no readable key fails (a keys endpoint that returns the
//! wrong field must not delete everything), and so does a pass that lists no record at all while
//! the table holds live keys.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, new_null_array,
};
use arrow::datatypes::{Field, Schema, SchemaRef};
use tokio::sync::mpsc;

use pslake_core::pipeline::{Reconcile, Stream};
use pslake_lake::reconcile::compare_keys;
use pslake_lake::{DELETED, Lake, TableName};

use crate::batch::StreamPlan;
use crate::error::{Error, Result};
use crate::http::SystemClient;
use crate::rest::{Page, RunShape, produce};

/// What a keys pass found and wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Records the keys pass listed with a readable key.
    pub(crate) keys: u64,
    /// Tombstones written.
    pub(crate) deleted: u64,
    /// Records landed again (undeleted in the source).
    pub(crate) revived: u64,
    /// The raw table version of the append, when one was made.
    pub(crate) raw_version: Option<i64>,
}

/// The stream the keys pass reads: the keys-pass request, the key columns only (required), no
/// cursor.
fn keys_stream(stream: &Stream, rc: &Reconcile) -> Stream {
    let mut s = stream.clone();
    s.endpoint = rc.endpoint.clone();
    s.columns = stream
        .primary_key
        .iter()
        .filter_map(|k| stream.columns.iter().find(|c| &c.name == k))
        .cloned()
        .map(|mut c| {
            c.required = true;
            c
        })
        .collect();
    s.incremental = None;
    s.reconcile = None;
    s
}

/// The `{incremental.start_value}` of the keys pass: the stream's `initial_value`.
fn whole_history(stream: &Stream) -> Option<String> {
    let inc = stream.incremental.as_ref()?;
    let start = pslake_core::pipeline::load::parse_start(&inc.initial_value).unwrap_or_default();
    Some(start.format(&inc.format).to_string())
}

/// Runs the keys pass of `plan`'s stream and appends its tombstones (and rows back).
pub(crate) async fn run(
    client: &SystemClient,
    plan: &StreamPlan,
    rc: &Reconcile,
    lake: &Lake,
) -> Result<Outcome> {
    let stream = &plan.stream;
    let label = format!("{}.{}", plan.system, stream.name);
    let keys_plan = Arc::new(StreamPlan::new(
        &plan.system,
        &keys_stream(stream, rc),
        &plan.run_id,
        false,
    ));
    let key_schema: SchemaRef = Arc::new(Schema::new(
        keys_plan
            .schema
            .fields()
            .iter()
            .take(keys_plan.stream.columns.len())
            .map(|f| f.as_ref().clone())
            .collect::<Vec<Field>>(),
    ));
    let n_keys = keys_plan.stream.columns.len();
    if n_keys != stream.primary_key.len() || n_keys == 0 {
        return Err(Error::Config(format!(
            "{label}: the primary key is not among the declared columns"
        )));
    }

    // 1. list the source's keys
    let start = whole_history(stream);
    let (tx, mut rx) = mpsc::channel::<Page>(client.concurrency() + 1);
    let producer = async {
        let r = produce(
            client,
            &keys_plan,
            start.as_deref(),
            None,
            &RunShape::default(),
            &tx,
        )
        .await;
        drop(tx);
        r
    };
    let consumer = async {
        let (mut batches, mut received, mut keyless) = (Vec::new(), 0u64, 0u64);
        let mut example_url = None;
        while let Some(mut page) = rx.recv().await {
            let keys = keys_plan
                .finish(&mut page.out)?
                .map(|b| b.project(&(0..n_keys).collect::<Vec<_>>()))
                .transpose()?;
            received += page.out.received;
            keyless += page.out.rejected;
            if page.out.rejected > 0 && example_url.is_none() {
                example_url = Some(page.url);
            }
            if let Some(k) = keys {
                batches.push(k);
            }
        }
        Ok::<_, Error>((batches, received, keyless, example_url))
    };
    let listed_at = chrono::Utc::now();
    let (p, c) = tokio::join!(producer, consumer);
    let (batches, received, keyless, example_url) = c?;
    p?;
    let keys = received - keyless;
    let key_desc = || {
        keys_plan
            .stream
            .columns
            .iter()
            .map(|c| format!("`{}` (path `{}`)", c.name, c.path))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if received > 0 && keys == 0 {
        return Err(Error::Page {
            url: example_url.unwrap_or_default(),
            message: format!(
                "keys pass of {label}: none of its {received} records has the key {}; nothing was marked deleted",
                key_desc()
            ),
        });
    }
    if keyless > 0 {
        tracing::warn!(stream = %label, keyless, "records of the keys pass without a readable key are skipped");
    }

    // 2. compare with the live keys of the raw table
    let table = TableName::new(pslake_lake::RAW_SCHEMA, &stream.table);
    let tie_break = stream
        .incremental
        .as_ref()
        .map(|i| stream.columns[i.column].name.as_str());
    let cmp = compare_keys(
        lake,
        &table,
        &stream.primary_key,
        tie_break,
        key_schema,
        batches,
    )
    .await?;
    let (gone, back) = (cmp.gone_rows(), cmp.back_rows());
    if keys == 0 && gone > 0 {
        return Err(Error::KeysPass {
            stream: label,
            message: format!(
                "the keys pass listed no records while raw.{} holds {gone} live ones; refusing to mark them all deleted",
                stream.table
            ),
        });
    }

    // 3. one append: tombstones, then rows back
    let at = listed_at.timestamp_micros();
    let mut out = Vec::new();
    for b in &cmp.gone {
        out.push(tombstones(plan, b, at)?);
    }
    for b in &cmp.back {
        out.push(landed_again(plan, b, at)?);
    }
    let raw_version = if out.is_empty() {
        None
    } else {
        Some(lake.append(&table, out).await?)
    };
    tracing::info!(stream = %label, keys, deleted = gone, revived = back, "reconciled");
    Ok(Outcome {
        keys,
        deleted: gone as u64,
        revived: back as u64,
        raw_version,
    })
}

fn cast_to(a: &ArrayRef, f: &Field) -> Result<ArrayRef> {
    Ok(arrow::compute::cast(a, f.data_type())?)
}

fn run_columns(plan: &StreamPlan, name: &str, n: usize, at: i64) -> Option<ArrayRef> {
    match name {
        "_run_id" => Some(Arc::new(StringArray::from(vec![plan.run_id.as_str(); n]))),
        "_extracted_at" => Some(Arc::new(
            TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC"),
        )),
        _ => None,
    }
}

/// Tombstone rows in the stream's raw schema: the key columns of `keys` (in primary-key
/// order), `_deleted = true`, this run's `_run_id`/`_extracted_at`, the rest NULL.
fn tombstones(plan: &StreamPlan, keys: &RecordBatch, at: i64) -> Result<RecordBatch> {
    let n = keys.num_rows();
    let mut cols = Vec::with_capacity(plan.schema.fields().len());
    for f in plan.schema.fields() {
        let name = f.name().as_str();
        let col = if let Some(i) = plan.stream.primary_key.iter().position(|k| k == name) {
            cast_to(keys.column(i), f)?
        } else if name == DELETED {
            Arc::new(BooleanArray::from(vec![true; n]))
        } else if let Some(c) = run_columns(plan, name, n, at) {
            c
        } else {
            new_null_array(f.data_type(), n)
        };
        cols.push(col);
    }
    Ok(RecordBatch::try_new(plan.schema.clone(), cols)?)
}

/// Landed rows again, in the stream's raw schema, with this run's `_run_id`/`_extracted_at`
/// and `_deleted = false`; a column the old row lacks is NULL.
fn landed_again(plan: &StreamPlan, rows: &RecordBatch, at: i64) -> Result<RecordBatch> {
    let n = rows.num_rows();
    let mut cols = Vec::with_capacity(plan.schema.fields().len());
    for f in plan.schema.fields() {
        let name = f.name().as_str();
        let col = if name == DELETED {
            Arc::new(BooleanArray::from(vec![false; n]))
        } else if let Some(c) = run_columns(plan, name, n, at) {
            c
        } else if let Some(c) = rows.column_by_name(name) {
            cast_to(c, f)?
        } else {
            new_null_array(f.data_type(), n)
        };
        cols.push(col);
    }
    Ok(RecordBatch::try_new(plan.schema.clone(), cols)?)
}
