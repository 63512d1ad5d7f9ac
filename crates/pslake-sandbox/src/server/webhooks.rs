//! The vendors' change notifications: control endpoints that change a record in memory the way
//! a salesperson closing a deal would, and the signed webhook (HubSpot) or Flow callout
//! (Salesforce) each vendor then sends to [`super::SandboxConfig::webhook_target`].
//!
//! | route | does |
//! |---|---|
//! | `POST /_sandbox/hubspot/deals/{id}/close-won` | `dealstage` `closedwon`, `hs_is_closed_won` `true`, `hs_deal_stage_probability` `1.0`, `closedate` the sandbox's today; then a webhook to `<target>/hubspot` |
//! | `POST /_sandbox/salesforce/opportunities/{id}/close-won` | `StageName` `Closed Won`, `IsClosed` and `IsWon` true, `Probability` 100, `CloseDate` today; then a change event to `<target>/salesforce` |
//!
//! "Today" is the manifest's `as_of` (the system date of the sandbox's firm); the modification
//! time (`hs_lastmodifieddate`/`updatedAt`, `SystemModstamp`) is today at the current wall-clock
//! time of day, and always later than every cursor the table already serves, so an incremental
//! extract sees the change. A deal whose fixture carries `propertiesWithHistory` gets the new
//! values at the head of each changed property's history. The answer is
//! `{"id", "modified_at", "webhook": "queued" | "no target"}`; 404 for an unknown id.
//!
//! Deliveries: HubSpot posts a JSON array of events (`eventId`, `subscriptionType`
//! `deal.propertyChange`, `objectId`, `propertyName`, `propertyValue`, `occurredAt`,
//! `attemptNumber`, ...; one per changed property) signed `X-HubSpot-Signature-v3` =
//! base64(HMAC-SHA256(client secret, `POST` + URL + body + `X-HubSpot-Request-Timestamp`)).
//! Salesforce posts a JSON array of one Opportunity change event (`eventId`,
//! `ChangeEventHeader{entityName, changeType UPDATE, recordIds, changedFields, commitTimestamp,
//! transactionKey, sequenceNumber}` and the changed fields), signed `X-Pslake-Signature:
//! sha256=<hex HMAC-SHA256(callout secret, X-Pslake-Timestamp + "." + body)>`. A delivery that
//! cannot connect, times out (5 s, HubSpot's limit) or gets a 429 or 5xx is retried: 10
//! attempts in all, waiting 1 s, then doubling (about 8.5 minutes in all; HubSpot spreads its 10
//! attempts over 24 hours). Any other answer ends it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use ring::hmac;
use serde_json::{Value, json};

use super::AppState;
use super::faults::json_response;
use super::store::{Id, Table};

/// Attempts of one delivery, the first included (HubSpot: 10).
pub const DELIVERY_ATTEMPTS: u32 = 10;
/// The wait before the second attempt; it doubles before each further one.
pub const FIRST_RETRY_WAIT: Duration = Duration::from_secs(1);
/// How long one attempt may take (HubSpot: 5 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how the sandbox delivers notifications.
#[derive(Debug)]
pub(crate) struct Webhooks {
    /// The listener's base URL, without a trailing `/`.
    target: Option<String>,
    client: reqwest::Client,
    /// HubSpot event ids: unique across sandbox restarts (a millisecond base).
    next_event: AtomicU64,
    /// Deliveries in flight; aborted when the sandbox stops.
    tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
    /// Deliveries that got a 2xx, and attempts made, for tests and diagnostics.
    pub(crate) delivered: Arc<AtomicU64>,
    pub(crate) attempts: Arc<AtomicU64>,
}

impl Webhooks {
    pub(crate) fn new(target: Option<String>) -> Self {
        Self {
            target: target.map(|t| t.trim_end_matches('/').to_string()),
            client: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .build()
                .unwrap_or_default(),
            next_event: AtomicU64::new(Utc::now().timestamp_millis().unsigned_abs() * 100),
            tasks: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            delivered: Arc::default(),
            attempts: Arc::default(),
        }
    }
}

/// The sandbox's today: the manifest's `as_of`, else the wall clock's date.
fn today(state: &AppState) -> NaiveDate {
    state.store.as_of.unwrap_or_else(|| Utc::now().date_naive())
}

/// Today at the current wall-clock time of day, later than every cursor `table` serves.
fn modification_time(state: &AppState, table: &Table) -> DateTime<Utc> {
    let now = Utc::now();
    let at = today(state).and_time(now.time()).and_utc();
    let floor = table.max_cursor().saturating_add(1000);
    match DateTime::from_timestamp_millis(floor) {
        Some(f) if f > at => f,
        _ => at,
    }
}

fn not_found(what: &str, id: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": format!("no {what} {id}")}).to_string(),
    )
}

/// Sets `value` at the head of `record.propertiesWithHistory[prop]`, when the record has one.
fn push_history(record: &mut Value, prop: &str, value: &str, at: &str) {
    if let Some(list) = record
        .get_mut("propertiesWithHistory")
        .and_then(|h| h.get_mut(prop))
        .and_then(Value::as_array_mut)
    {
        list.insert(
            0,
            json!({"value": value, "timestamp": at, "sourceType": "CRM_UI"}),
        );
    }
}

/// `POST /_sandbox/hubspot/deals/{id}/close-won`.
pub(crate) async fn hubspot_close_won(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let Some(table) = state.store.table("hubspot", "deals") else {
        return not_found("deal", &id);
    };
    let Some(i) = table.find(&Id::from_str(&id)) else {
        return not_found("deal", &id);
    };
    let mut record: Value = match serde_json::from_slice(table.reader().raw(i)) {
        Ok(v) => v,
        Err(e) => return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let at = modification_time(&state, table);
    let stamp = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let close = format!("{}T00:00:00.000Z", today(&state));
    let changes = [
        ("dealstage", "closedwon"),
        ("hs_is_closed_won", "true"),
        ("hs_deal_stage_probability", "1.0"),
        ("closedate", close.as_str()),
    ];
    if let Some(props) = record.get_mut("properties").and_then(Value::as_object_mut) {
        for (k, v) in changes {
            props.insert(k.into(), Value::String(v.into()));
        }
        props.insert("hs_lastmodifieddate".into(), Value::String(stamp.clone()));
    }
    record["updatedAt"] = Value::String(stamp.clone());
    for (k, v) in changes {
        push_history(&mut record, k, v, &stamp);
    }
    let archived = record.get("archived") == Some(&Value::Bool(true));
    table.edit(
        i,
        record.to_string().into_bytes(),
        at.timestamp_millis(),
        archived,
    );
    state.cache.clear();
    let occurred = at.timestamp_millis();
    let object: Value = id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or(Value::String(id.clone()));
    let events: Vec<Value> = [("dealstage", "closedwon"), ("closedate", close.as_str())]
        .iter()
        .map(|(prop, value)| {
            json!({
                "eventId": state.webhooks.next_event.fetch_add(1, Ordering::Relaxed),
                "subscriptionId": 1_000_001,
                "portalId": 62_515,
                "appId": 1_160_452,
                "occurredAt": occurred,
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": object,
                "propertyName": prop,
                "propertyValue": value,
                "changeSource": "CRM_UI",
                "sourceId": "userId:1",
            })
        })
        .collect();
    let queued = deliver(&state, Delivery::HubSpot(events));
    answer(&id, &stamp, queued)
}

/// `POST /_sandbox/salesforce/opportunities/{id}/close-won`.
pub(crate) async fn salesforce_close_won(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let Some(table) = state.store.table("salesforce", "Opportunity") else {
        return not_found("opportunity", &id);
    };
    let Some(i) = table.find(&Id::from_str(&id)) else {
        return not_found("opportunity", &id);
    };
    let mut record: Value = match serde_json::from_slice(table.reader().raw(i)) {
        Ok(v) => v,
        Err(e) => return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let at = modification_time(&state, table);
    let stamp = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let close = today(&state).to_string();
    let changed = json!({
        "StageName": "Closed Won",
        "IsClosed": true,
        "IsWon": true,
        "Probability": 100.0,
        "CloseDate": close,
    });
    if let (Some(obj), Some(ch)) = (record.as_object_mut(), changed.as_object()) {
        for (k, v) in ch {
            obj.insert(k.clone(), v.clone());
        }
        obj.insert("SystemModstamp".into(), Value::String(stamp.clone()));
    }
    let deleted = record.get("IsDeleted") == Some(&Value::Bool(true));
    table.edit(
        i,
        record.to_string().into_bytes(),
        at.timestamp_millis(),
        deleted,
    );
    state.cache.clear();
    let n = state.webhooks.next_event.fetch_add(1, Ordering::Relaxed);
    let mut event = json!({
        "eventId": format!("sandbox-{n}"),
        "ChangeEventHeader": {
            "entityName": "Opportunity",
            "changeType": "UPDATE",
            "changeOrigin": "com/salesforce/api/rest/62.0",
            "transactionKey": format!("{n:016x}"),
            "sequenceNumber": 1,
            "commitTimestamp": at.timestamp_millis(),
            "commitNumber": n,
            "commitUser": "0055e000001AbCdAAK",
            "recordIds": [id],
            "changedFields": ["StageName", "IsClosed", "IsWon", "Probability", "CloseDate", "SystemModstamp"],
        },
        "SystemModstamp": stamp,
    });
    if let (Some(obj), Some(ch)) = (event.as_object_mut(), changed.as_object()) {
        for (k, v) in ch {
            obj.insert(k.clone(), v.clone());
        }
    }
    let queued = deliver(&state, Delivery::Salesforce(vec![event]));
    answer(&id, &stamp, queued)
}

fn answer(id: &str, stamp: &str, queued: bool) -> Response {
    json_response(
        StatusCode::OK,
        json!({"id": id, "modified_at": stamp, "webhook": if queued { "queued" } else { "no target" }})
            .to_string(),
    )
}

/// One notification to send.
enum Delivery {
    HubSpot(Vec<Value>),
    Salesforce(Vec<Value>),
}

/// Starts delivering `d` (in the background, with retries); false when there is no target.
fn deliver(state: &AppState, d: Delivery) -> bool {
    let Some(target) = state.webhooks.target.clone() else {
        return false;
    };
    let client = state.webhooks.client.clone();
    let hubspot_secret = state.creds.hubspot_client_secret.clone();
    let callout_secret = state.creds.salesforce_callout_secret.clone();
    let counters = (
        Arc::clone(&state.webhooks.delivered),
        Arc::clone(&state.webhooks.attempts),
    );
    let task = async move {
        let mut wait = FIRST_RETRY_WAIT;
        for attempt in 0..DELIVERY_ATTEMPTS {
            counters.1.fetch_add(1, Ordering::Relaxed);
            let (url, body, headers) = match &d {
                Delivery::HubSpot(events) => {
                    let events: Vec<Value> = events
                        .iter()
                        .cloned()
                        .map(|mut e| {
                            e["attemptNumber"] = Value::from(attempt);
                            e
                        })
                        .collect();
                    let body = Value::Array(events).to_string();
                    let url = format!("{target}/hubspot");
                    let ts = Utc::now().timestamp_millis().to_string();
                    let sig =
                        hubspot_v3_signature(&hubspot_secret, "POST", &url, body.as_bytes(), &ts);
                    (
                        url,
                        body,
                        vec![
                            ("X-HubSpot-Signature-v3", sig),
                            ("X-HubSpot-Signature-Version", "v3".to_string()),
                            ("X-HubSpot-Request-Timestamp", ts),
                        ],
                    )
                }
                Delivery::Salesforce(events) => {
                    let body = Value::Array(events.clone()).to_string();
                    let ts = Utc::now().timestamp().to_string();
                    let sig = pslake_signature(&callout_secret, &ts, body.as_bytes());
                    (
                        format!("{target}/salesforce"),
                        body,
                        vec![("X-Pslake-Signature", sig), ("X-Pslake-Timestamp", ts)],
                    )
                }
            };
            let mut req = client
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let retry = match req.send().await {
                Ok(resp) => {
                    let s = resp.status();
                    if s.is_success() {
                        counters.0.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%url, attempt, "webhook delivered");
                        return;
                    }
                    let retry = s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error();
                    tracing::warn!(%url, attempt, status = %s, retry, "webhook answered an error");
                    retry
                }
                Err(e) => {
                    tracing::warn!(%url, attempt, error = %e, "webhook not delivered");
                    true
                }
            };
            if !retry || attempt + 1 == DELIVERY_ATTEMPTS {
                tracing::error!(%url, attempts = attempt + 1, "webhook given up");
                return;
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    };
    state
        .webhooks
        .tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .spawn(task);
    true
}

/// HubSpot v3: `base64(HMAC-SHA256(secret, method + uri + body + timestamp))`.
pub fn hubspot_v3_signature(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for part in [
        method.as_bytes(),
        uri.as_bytes(),
        body,
        timestamp.as_bytes(),
    ] {
        ctx.update(part);
    }
    base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref())
}

/// pslake's callout signature: `sha256=` + hex(HMAC-SHA256(secret, timestamp + "." + body)).
pub fn pslake_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let hex: String = ctx
        .sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}
