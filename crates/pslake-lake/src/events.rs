//! `_pslake.events`: the log of vendor change notifications `pslake listen` accepted.
//!
//! Append-only, like the other operational tables: an event gets a row when it is received
//! (written before the HTTP answer, so an acknowledged event is never lost), and a second row,
//! the same event with `processed_run_id` and `processed_at` set, once the run that refreshed
//! its streams has published. An event's state is its latest row ([`load_events`]); an event
//! with no processed row is processed at the listener's next start.
//!
//! The listener is the table's only writer; it writes outside the lake's lock (a notification
//! must be stored while a scheduled run holds the lock), which Delta's optimistic commits allow.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::{Error, Lake, Result, TableName, ops};

/// One accepted notification, in the state of its latest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The vendor's event id (HubSpot `eventId`; a Salesforce change event's `eventId` or
    /// `transactionKey:sequenceNumber`). Unique per `source`.
    pub event_id: String,
    /// The trigger's system, e.g. `hubspot`.
    pub source: String,
    /// The trigger's path, e.g. `/hubspot`.
    pub path: String,
    /// The event type, e.g. `deal.propertyChange`, `Opportunity.UPDATE`.
    pub event_type: String,
    /// The record the event is about, when it names one.
    pub object_id: Option<String>,
    /// The streams it refreshes, `system.stream`, comma-separated (empty: an event type the
    /// trigger does not list, kept for the record and never processed).
    pub streams: String,
    /// When the listener received it.
    pub received_at: DateTime<Utc>,
    /// Hex SHA-256 of the event's JSON as received.
    pub payload_sha256: String,
    /// The event's JSON as received.
    pub payload: String,
    /// The run that refreshed its streams, once processed.
    pub processed_run_id: Option<String>,
    /// When that run published, once processed.
    pub processed_at: Option<DateTime<Utc>>,
}

/// A request `pslake listen` refused (bad or missing signature, too old): kept in
/// `_pslake.refused` for the record, without its body (only its size and hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRow {
    /// The trigger's path.
    pub path: String,
    /// The trigger's system.
    pub source: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Why it was refused, e.g. `signature does not match`.
    pub reason: String,
    /// The body's size in bytes.
    pub body_bytes: i64,
    /// Hex SHA-256 of the body.
    pub body_sha256: String,
}

/// `_pslake.refused`.
pub fn refused_table() -> TableName {
    TableName::new(ops::SCHEMA, "refused")
}

/// Appends refused requests to `_pslake.refused` in one commit.
pub async fn append_refused(lake: &Lake, rows: &[RefusedRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("received_at", ts_type(), false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("body_bytes", DataType::Int64, false),
        Field::new("body_sha256", DataType::Utf8, false),
    ]));
    let s = |f: &dyn Fn(&RefusedRow) -> &str| -> ArrayRef {
        Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        schema,
        vec![
            s(&|r| &r.path),
            s(&|r| &r.source),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.received_at.timestamp_micros()))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            s(&|r| &r.reason),
            Arc::new(arrow::array::Int64Array::from_iter_values(
                rows.iter().map(|r| r.body_bytes),
            )),
            s(&|r| &r.body_sha256),
        ],
    )
    .map_err(|source| Error::Arrow {
        context: "building refused rows".into(),
        source: Box::new(source),
    })?;
    lake.append(&refused_table(), vec![batch]).await.map(|_| ())
}

/// `_pslake.events`.
pub fn events_table() -> TableName {
    TableName::new(ops::SCHEMA, "events")
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of `_pslake.events`.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("object_id", DataType::Utf8, true),
        Field::new("streams", DataType::Utf8, false),
        Field::new("received_at", ts_type(), false),
        Field::new("payload_sha256", DataType::Utf8, false),
        Field::new("payload", DataType::Utf8, false),
        Field::new("processed_run_id", DataType::Utf8, true),
        Field::new("processed_at", ts_type(), true),
    ]))
}

fn batch(rows: &[EventRow]) -> Result<RecordBatch> {
    let s = |f: &dyn Fn(&EventRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let t = |f: &dyn Fn(&EventRow) -> Option<DateTime<Utc>>| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|r| f(r).map(|t| t.timestamp_micros()))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    RecordBatch::try_new(
        events_schema(),
        vec![
            s(&|r| Some(&r.event_id)),
            s(&|r| Some(&r.source)),
            s(&|r| Some(&r.path)),
            s(&|r| Some(&r.event_type)),
            s(&|r| r.object_id.as_deref()),
            s(&|r| Some(&r.streams)),
            t(&|r| Some(r.received_at)),
            s(&|r| Some(&r.payload_sha256)),
            s(&|r| Some(&r.payload)),
            s(&|r| r.processed_run_id.as_deref()),
            t(&|r| r.processed_at),
        ],
    )
    .map_err(|source| Error::Arrow {
        context: "building events rows".into(),
        source: Box::new(source),
    })
}

/// Appends rows to `_pslake.events` in one commit (nothing for no rows).
pub async fn append_events(lake: &Lake, rows: &[EventRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    lake.append(&events_table(), vec![batch(rows)?])
        .await
        .map(|_| ())
}

/// Column `name` of `b` as `T`, cast to `ty` first (readers may hand back view types).
fn cast<T: Clone + 'static>(b: &RecordBatch, name: &str, ty: &DataType) -> Result<T> {
    let err = |reason: String| Error::Arrow {
        context: format!("reading _pslake.events column {name}"),
        source: Box::new(arrow::error::ArrowError::SchemaError(reason)),
    };
    let c = b
        .column_by_name(name)
        .ok_or_else(|| err("missing".into()))?;
    let c = arrow::compute::cast(c, ty).map_err(|e| err(e.to_string()))?;
    c.as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| err(format!("not {ty}")))
}

/// Every event in the state of its latest row (a processed row wins over the received one),
/// ordered by reception.
pub async fn load_events(lake: &Lake) -> Result<Vec<EventRow>> {
    if lake.arrow_schema(&events_table()).await?.is_none() {
        return Ok(Vec::new());
    }
    let batches = lake
        .query(
            "SELECT event_id, source, path, event_type, object_id, streams, received_at, \
               payload_sha256, payload, processed_run_id, processed_at FROM (\
               SELECT *, row_number() OVER (PARTITION BY source, event_id \
                 ORDER BY processed_at DESC NULLS LAST) AS rn FROM _pslake.events) \
             WHERE rn = 1 ORDER BY received_at, event_id",
        )
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let s = |name: &str| -> Result<StringArray> { cast(b, name, &DataType::Utf8) };
        let t = |name: &str| -> Result<TimestampMicrosecondArray> { cast(b, name, &ts_type()) };
        let (id, source, path, ty, obj, streams) = (
            s("event_id")?,
            s("source")?,
            s("path")?,
            s("event_type")?,
            s("object_id")?,
            s("streams")?,
        );
        let (received, sha, payload, run, at) = (
            t("received_at")?,
            s("payload_sha256")?,
            s("payload")?,
            s("processed_run_id")?,
            t("processed_at")?,
        );
        let ts = |a: &TimestampMicrosecondArray, i: usize| {
            a.is_valid(i)
                .then(|| DateTime::from_timestamp_micros(a.value(i)))
                .flatten()
        };
        let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for i in 0..b.num_rows() {
            out.push(EventRow {
                event_id: id.value(i).to_string(),
                source: source.value(i).to_string(),
                path: path.value(i).to_string(),
                event_type: ty.value(i).to_string(),
                object_id: opt(&obj, i),
                streams: streams.value(i).to_string(),
                received_at: ts(&received, i).unwrap_or_default(),
                payload_sha256: sha.value(i).to_string(),
                payload: payload.value(i).to_string(),
                processed_run_id: opt(&run, i),
                processed_at: ts(&at, i),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> EventRow {
        EventRow {
            event_id: id.into(),
            source: "hubspot".into(),
            path: "/hubspot".into(),
            event_type: "deal.propertyChange".into(),
            object_id: Some("42".into()),
            streams: "hubspot.deals".into(),
            received_at: DateTime::from_timestamp_micros(1_000_000).expect("valid"),
            payload_sha256: "ab".into(),
            payload: "{}".into(),
            processed_run_id: None,
            processed_at: None,
        }
    }

    #[tokio::test]
    async fn the_latest_row_of_an_event_is_its_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf-8")).expect("lake");
        assert!(load_events(&lake).await.expect("empty").is_empty());
        append_events(&lake, &[row("1"), row("2")])
            .await
            .expect("append");
        let mut done = row("1");
        done.processed_run_id = Some("run-a".into());
        done.processed_at = DateTime::from_timestamp_micros(2_000_000);
        append_events(&lake, &[done.clone()]).await.expect("append");
        let all = load_events(&lake).await.expect("load");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], done);
        assert_eq!(all[1], row("2"));
    }
}
