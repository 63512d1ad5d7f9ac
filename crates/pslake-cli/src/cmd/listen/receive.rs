//! The receiving half of `pslake listen`: one route per trigger, signature and age checks, the
//! body read into events, each new event stored in `_pslake.events` before the answer.
//!
//! Answers: 200 with `{"accepted": n, "duplicates": d, "ignored": i}` once every new event is
//! stored (duplicates, events already stored, are acknowledged and nothing is added); 401 for
//! a missing or bad signature or a request older than the trigger's `max_age` (recorded in
//! `_pslake.refused`); 400 for a body that is not events of the trigger's format; 503 when the
//! events cannot be stored (the vendor retries).

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use pslake_core::Sensitive;
use pslake_core::pipeline::{EventFormat, SignatureScheme, Trigger};
use pslake_lake::Lake;
use pslake_lake::events::{self, EventRow, RefusedRow};
use ring::hmac;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

/// HubSpot's v3 signature header.
pub(crate) const HUBSPOT_SIGNATURE: &str = "x-hubspot-signature-v3";
/// HubSpot's request timestamp header (milliseconds since the epoch).
pub(crate) const HUBSPOT_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// pslake's signature header: `sha256=<hex>`.
pub(crate) const PSLAKE_SIGNATURE: &str = "x-pslake-signature";
/// pslake's timestamp header (seconds since the epoch).
pub(crate) const PSLAKE_TIMESTAMP: &str = "x-pslake-timestamp";

/// One trigger as served: its declaration and its resolved secret.
pub(crate) struct Route {
    pub(crate) trigger: Trigger,
    pub(crate) secret: Sensitive<String>,
}

/// What the handlers share.
pub(crate) struct Receiver {
    pub(crate) lake: Lake,
    /// Event keys `(source, event_id)` already stored; the lock also serializes the writes of
    /// `_pslake.events`, so two deliveries of one event never both store it.
    pub(crate) seen: Mutex<HashSet<(String, String)>>,
    /// Stored events to process, to the runner.
    pub(crate) queue: mpsc::UnboundedSender<EventRow>,
}

/// One event read from a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) object_id: Option<String>,
    pub(crate) json: String,
}

/// Why a request was refused (a 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    MissingHeader(&'static str),
    BadTimestamp,
    TooOld { age_s: i64 },
    BadSignature,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::MissingHeader(h) => write!(f, "missing header {h}"),
            Refusal::BadTimestamp => f.write_str("unreadable timestamp"),
            Refusal::TooOld { age_s } => {
                write!(f, "timestamp {age_s}s away from now, past max_age")
            }
            Refusal::BadSignature => f.write_str("signature does not match"),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Refusal> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::MissingHeader(name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The URI HubSpot signed: the trigger's `public_url` (with the request's query), else
/// `<scheme>://<Host><path?query>`, the scheme from `X-Forwarded-Proto` (default http).
fn request_uri(trigger: &Trigger, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    if let Some(u) = &trigger.public_url {
        let mut u = u.clone();
        u.set_query(None);
        return format!("{u}{query}");
    }
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("{proto}://{host}{}{query}", uri.path())
}

/// Checks the request's signature and age; `now` is the listener's clock.
pub(crate) fn verify(
    route: &Route,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let t = &route.trigger;
    let secret = route.secret.expose().as_bytes();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let max_age = i64::try_from(t.max_age.as_millis()).unwrap_or(i64::MAX);
    match t.signature {
        SignatureScheme::HubSpotV3 => {
            let ts = header(headers, HUBSPOT_TIMESTAMP)?;
            let sig = header(headers, HUBSPOT_SIGNATURE)?;
            let ms: i64 = ts.parse().map_err(|_| Refusal::BadTimestamp)?;
            let age = now.timestamp_millis() - ms;
            if age.abs() > max_age {
                return Err(Refusal::TooOld { age_s: age / 1000 });
            }
            let tag = base64::engine::general_purpose::STANDARD
                .decode(sig)
                .map_err(|_| Refusal::BadSignature)?;
            let mut msg = Vec::with_capacity(body.len() + 128);
            msg.extend_from_slice(method.as_str().as_bytes());
            msg.extend_from_slice(request_uri(t, headers, uri).as_bytes());
            msg.extend_from_slice(body);
            msg.extend_from_slice(ts.as_bytes());
            hmac::verify(&key, &msg, &tag).map_err(|_| Refusal::BadSignature)
        }
        SignatureScheme::PslakeHmacSha256 => {
            let ts = header(headers, PSLAKE_TIMESTAMP)?;
            let sig = header(headers, PSLAKE_SIGNATURE)?;
            let secs: i64 = ts.parse().map_err(|_| Refusal::BadTimestamp)?;
            let age = now.timestamp_millis() - secs.saturating_mul(1000);
            if age.abs() > max_age {
                return Err(Refusal::TooOld { age_s: age / 1000 });
            }
            let tag = sig
                .strip_prefix("sha256=")
                .and_then(unhex)
                .ok_or(Refusal::BadSignature)?;
            let mut msg = Vec::with_capacity(body.len() + 16);
            msg.extend_from_slice(ts.as_bytes());
            msg.push(b'.');
            msg.extend_from_slice(body);
            hmac::verify(&key, &msg, &tag).map_err(|_| Refusal::BadSignature)
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The events of a body in the trigger's format.
pub(crate) fn parse_events(format: EventFormat, body: &[u8]) -> Result<Vec<Incoming>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = match v {
        Value::Array(a) => a,
        Value::Object(_) if format == EventFormat::SalesforceChangeEvent => vec![v],
        _ => return Err("expected a JSON array of events".into()),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let json = e.to_string();
        let incoming = match format {
            EventFormat::HubSpotWebhook => {
                let id = e.get("eventId").and_then(text);
                let ty = e.get("subscriptionType").and_then(text);
                match (id, ty) {
                    (Some(id), Some(event_type)) => Incoming {
                        id,
                        event_type,
                        object_id: e.get("objectId").and_then(text),
                        json,
                    },
                    _ => return Err(format!("event {i}: needs eventId and subscriptionType")),
                }
            }
            EventFormat::SalesforceChangeEvent => {
                let h = e.get("ChangeEventHeader");
                let field = |k: &str| h.and_then(|h| h.get(k)).and_then(text);
                let id = e.get("eventId").and_then(text).or_else(|| {
                    Some(format!(
                        "{}:{}",
                        field("transactionKey")?,
                        field("sequenceNumber")?
                    ))
                });
                let ty = field("entityName")
                    .zip(field("changeType"))
                    .map(|(e, c)| format!("{e}.{c}"));
                let ids: Vec<String> = h
                    .and_then(|h| h.get("recordIds"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(text).collect())
                    .unwrap_or_default();
                match (id, ty) {
                    (Some(id), Some(event_type)) => Incoming {
                        id,
                        event_type,
                        object_id: (!ids.is_empty()).then(|| ids.join(",")),
                        json,
                    },
                    _ => {
                        return Err(format!(
                            "event {i}: needs ChangeEventHeader.entityName and changeType, and \
                             eventId or ChangeEventHeader.transactionKey and sequenceNumber"
                        ));
                    }
                }
            }
        };
        out.push(incoming);
    }
    Ok(out)
}

fn sha256_hex(s: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The handler of one trigger's path.
pub(crate) async fn receive(
    State((receiver, route)): State<(Arc<Receiver>, Arc<Route>)>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = &route.trigger;
    let now = Utc::now();
    if let Err(refusal) = verify(&route, &method, &uri, &headers, &body, now) {
        tracing::warn!(path = %t.path, source = %t.source, reason = %refusal, "request refused");
        let row = RefusedRow {
            path: t.path.clone(),
            source: t.source.clone(),
            received_at: now,
            reason: refusal.to_string(),
            body_bytes: body.len() as i64,
            body_sha256: hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref()),
        };
        if let Err(err) = events::append_refused(&receiver.lake, &[row]).await {
            tracing::error!(error = %err, "cannot record a refused request in _pslake.refused");
        }
        return json_answer(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "unauthorized", "reason": refusal.to_string()}),
        );
    }
    let incoming = match parse_events(t.format, &body) {
        Ok(v) => v,
        Err(why) => {
            tracing::warn!(path = %t.path, reason = %why, "signed request with an unreadable body");
            return json_answer(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "bad request", "reason": why}),
            );
        }
    };
    let streams: Vec<String> = t.streams.iter().map(|(s, n)| format!("{s}.{n}")).collect();
    let mut seen = receiver.seen.lock().await;
    let mut fresh: Vec<EventRow> = Vec::new();
    let mut duplicates = 0usize;
    let mut ignored = 0usize;
    for e in incoming {
        let key = (t.source.clone(), e.id.clone());
        if seen.contains(&key) || fresh.iter().any(|r| r.event_id == e.id) {
            duplicates += 1;
            continue;
        }
        let listed = t.events.contains(&e.event_type);
        if !listed {
            ignored += 1;
        }
        fresh.push(EventRow {
            event_id: e.id,
            source: t.source.clone(),
            path: t.path.clone(),
            event_type: e.event_type,
            object_id: e.object_id,
            streams: if listed {
                streams.join(",")
            } else {
                String::new()
            },
            received_at: now,
            payload_sha256: sha256_hex(&e.json),
            payload: e.json,
            processed_run_id: None,
            processed_at: None,
        });
    }
    if let Err(err) = events::append_events(&receiver.lake, &fresh).await {
        tracing::error!(path = %t.path, error = %err, "cannot store events; answering 503 so the vendor retries");
        return json_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "events could not be stored, retry later"}),
        );
    }
    for r in &fresh {
        seen.insert((r.source.clone(), r.event_id.clone()));
    }
    drop(seen);
    let accepted = fresh.len() - ignored;
    for r in fresh.into_iter().filter(|r| !r.streams.is_empty()) {
        // the runner lives as long as the server; a send fails only while stopping, and the
        // stored event is processed at the next start
        let _ = receiver.queue.send(r);
    }
    tracing::info!(path = %t.path, accepted, duplicates, ignored, "events stored");
    json_answer(
        StatusCode::OK,
        serde_json::json!({"accepted": accepted, "duplicates": duplicates, "ignored": ignored}),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pslake_core::pipeline::ValueRef;
    // The senders' side: the sandbox signs its webhooks and callouts with these.
    use pslake_sandbox::server::webhooks::{hubspot_v3_signature, pslake_signature};

    use super::*;

    fn route(signature: SignatureScheme) -> Route {
        Route {
            trigger: Trigger {
                source: "hubspot".into(),
                path: "/hubspot".into(),
                secret: ValueRef::Secret("S".into()),
                signature,
                format: EventFormat::HubSpotWebhook,
                events: vec!["deal.creation".into()],
                streams: vec![("hubspot".into(), "deals".into())],
                max_age: Duration::from_secs(300),
                public_url: None,
            },
            secret: Sensitive::new("client-secret".into()),
        }
    }

    #[test]
    fn hubspot_v3_signatures_are_checked_with_the_uri_and_timestamp() {
        let r = route(SignatureScheme::HubSpotV3);
        let now = Utc::now();
        let ts = now.timestamp_millis().to_string();
        let body = br#"[{"eventId":1,"subscriptionType":"deal.creation","objectId":7}]"#;
        let uri: axum::http::Uri = "/hubspot".parse().expect("uri");
        let sig = hubspot_v3_signature(
            "client-secret",
            "POST",
            "http://127.0.0.1:8787/hubspot",
            body,
            &ts,
        );
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8787".parse().expect("header"));
        h.insert(HUBSPOT_TIMESTAMP, ts.parse().expect("header"));
        h.insert(HUBSPOT_SIGNATURE, sig.parse().expect("header"));
        assert_eq!(verify(&r, &Method::POST, &uri, &h, body, now), Ok(()));
        // another body, another host, an old request
        assert_eq!(
            verify(&r, &Method::POST, &uri, &h, b"[]", now),
            Err(Refusal::BadSignature)
        );
        let mut other = h.clone();
        other.insert("host", "evil:1".parse().expect("header"));
        assert_eq!(
            verify(&r, &Method::POST, &uri, &other, body, now),
            Err(Refusal::BadSignature)
        );
        let later = now + chrono::Duration::minutes(6);
        assert!(matches!(
            verify(&r, &Method::POST, &uri, &h, body, later),
            Err(Refusal::TooOld { .. })
        ));
        h.remove(HUBSPOT_SIGNATURE);
        assert_eq!(
            verify(&r, &Method::POST, &uri, &h, body, now),
            Err(Refusal::MissingHeader(HUBSPOT_SIGNATURE))
        );
    }

    #[test]
    fn pslake_signatures_are_checked() {
        let r = route(SignatureScheme::PslakeHmacSha256);
        let now = Utc::now();
        let ts = now.timestamp().to_string();
        let body = br#"{"x":1}"#;
        let uri: axum::http::Uri = "/salesforce".parse().expect("uri");
        let mut h = HeaderMap::new();
        h.insert(PSLAKE_TIMESTAMP, ts.parse().expect("header"));
        h.insert(
            PSLAKE_SIGNATURE,
            pslake_signature("client-secret", &ts, body)
                .parse()
                .expect("header"),
        );
        assert_eq!(verify(&r, &Method::POST, &uri, &h, body, now), Ok(()));
        h.insert(
            PSLAKE_SIGNATURE,
            pslake_signature("other", &ts, body)
                .parse()
                .expect("header"),
        );
        assert_eq!(
            verify(&r, &Method::POST, &uri, &h, body, now),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn events_are_read_in_each_format() {
        let hs = parse_events(
            EventFormat::HubSpotWebhook,
            br#"[{"eventId":17,"subscriptionType":"deal.propertyChange","objectId":42,"propertyName":"dealstage","propertyValue":"closedwon"}]"#,
        )
        .expect("hubspot");
        assert_eq!(hs[0].id, "17");
        assert_eq!(hs[0].event_type, "deal.propertyChange");
        assert_eq!(hs[0].object_id.as_deref(), Some("42"));
        let sf = parse_events(
            EventFormat::SalesforceChangeEvent,
            br#"{"ChangeEventHeader":{"entityName":"Opportunity","changeType":"UPDATE","recordIds":["006A"],"transactionKey":"tk","sequenceNumber":1},"StageName":"Closed Won"}"#,
        )
        .expect("salesforce");
        assert_eq!(sf[0].id, "tk:1");
        assert_eq!(sf[0].event_type, "Opportunity.UPDATE");
        assert_eq!(sf[0].object_id.as_deref(), Some("006A"));
        assert!(parse_events(EventFormat::HubSpotWebhook, br#"[{"eventId":1}]"#).is_err());
        assert!(parse_events(EventFormat::HubSpotWebhook, b"{}").is_err());
    }
}
