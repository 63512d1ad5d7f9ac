//! HubSpot CRM v3 deals: the list endpoint and the search endpoint.
//!
//! - `GET /crm/v3/objects/deals?limit=N&after=C&properties=a,b&archived=true|false`: `limit`
//!   defaults to 10 and is capped at 100; records in id order; `archived=true` lists only
//!   archived deals, otherwise only live ones. `after` is an opaque cursor (a position).
//!   Archived deals carry `archivedAt` (a fixture record without one is served with its
//!   `updatedAt` as `archivedAt`); archiving does not change `hs_lastmodifieddate`. Deals
//!   archived more than [`PURGE_DAYS`] days before the sandbox's "now" (the manifest's `as_of`
//!   at 00:00 UTC; no purge without a manifest) are purged: listed nowhere.
//! - `POST /crm/v3/objects/deals/search` with `{filterGroups, sorts, properties, limit, after}`:
//!   live deals only; filters on `hs_lastmodifieddate` (epoch milliseconds or ISO 8601) and
//!   `hs_object_id`, operators `EQ NEQ GT GTE LT LTE`; groups are ORed, filters in a group ANDed;
//!   sorts on those two properties (default: id); `limit` up to 200 (default 10). As on HubSpot,
//!   a query pages through at most 10,000 results: an `after` at or past it is a 400 (`total` is
//!   the whole count).
//! - `POST /crm/v3/objects/deals/batch/read?archived=true|false` with `{inputs: [{id}],
//!   properties, propertiesWithHistory}`: the deals asked for, as the list serves them (at most
//!   100 inputs, 50 with histories); ids not found make a 207 with an `OBJECT_NOT_FOUND` error.
//!
//! Properties are opt-in: only the requested ones come back inside `properties` (in fixture
//! order); without `properties`, the defaults `amount, closedate, createdate, dealname,
//! dealstage, hs_lastmodifieddate, hs_object_id, pipeline` present on the record. When nothing
//! is dropped, the record is served byte for byte.
//!
//! Property histories (SPEC section 4b): a fixture deal may carry `propertiesWithHistory`
//! (`{name: [{value, timestamp, sourceType}, ...]}`, newest first). The list endpoint serves it
//! only to a request with `propertiesWithHistory=a,b` (repeatable), right after `properties`,
//! with exactly the asked properties in the order asked (`[]` for one the fixture has no history
//! of), and then serves at most [`HISTORY_LIMIT`] deals a page, as HubSpot does. Otherwise, and
//! on the search endpoint, it is left out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::faults::{correlation_id, json_response};
use super::json;
use super::store::{Id, SortKey, Table};
use super::{AppState, bearer};

const DEFAULT_PROPERTIES: &[&str] = &[
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "hs_lastmodifieddate",
    "hs_object_id",
    "pipeline",
];

/// HubSpot purges a deal this many days after archiving it.
pub(crate) const PURGE_DAYS: i64 = 90;

/// The raw `archivedAt` value of an archived deal: its own, else its `updatedAt`.
fn archived_at(raw: &[u8]) -> Option<&[u8]> {
    json::member(raw, "archivedAt")
        .filter(|v| *v != b"null")
        .or_else(|| json::member(raw, "updatedAt"))
}

/// Whether an archived deal is purged at `now_ms` (milliseconds since the epoch).
fn purged(raw: &[u8], now_ms: Option<i64>) -> bool {
    let Some(now) = now_ms else { return false };
    archived_at(raw)
        .and_then(json::unquote)
        .and_then(|s| json::parse_instant(&s))
        .is_some_and(|at| at < now - PURGE_DAYS * 86_400_000)
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"status\":\"error\",\"message\":");
    json::push_str(&mut out, message);
    out.extend_from_slice(b",\"correlationId\":");
    json::push_str(&mut out, &correlation_id(message.len() as u64));
    out.extend_from_slice(b",\"category\":");
    json::push_str(&mut out, category);
    out.push(b'}');
    json_response(status, out)
}

fn check_auth(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    match bearer(headers) {
        Some(t) if t == state.creds.hubspot_token => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )),
    }
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

fn table(state: &AppState) -> &Table {
    state
        .store
        .table("hubspot", "deals")
        .expect("every stream of STREAMS is loaded")
}

/// The member holding a deal's property histories (SPEC section 4b).
const HISTORY: &str = "propertiesWithHistory";

/// HubSpot's page size cap when a list request asks for `propertiesWithHistory`.
pub(crate) const HISTORY_LIMIT: usize = 50;

/// Append deal `raw` keeping only `props` inside `properties`, and `propertiesWithHistory` only
/// when `history` asks for it: then with exactly the asked properties, in the order asked, each
/// the fixture's list (newest first) or `[]` when the fixture has none. A deal needing no change
/// is served byte for byte.
fn push_deal(out: &mut Vec<u8>, raw: &[u8], props: &[String], history: Option<&[String]>) {
    let top = json::members(raw);
    let pm = top.iter().find(|m| m.key == "properties");
    let hm = top.iter().find(|m| m.key == HISTORY);
    let inner = pm.map(|m| json::members(m.value)).unwrap_or_default();
    let props_as_is = inner.iter().all(|m| props.iter().any(|p| *p == m.key));
    if props_as_is && hm.is_none() && history.is_none() {
        out.extend_from_slice(raw);
        return;
    }
    let push_history = |out: &mut Vec<u8>, asked: &[String]| {
        let lists = hm.map(|m| json::members(m.value)).unwrap_or_default();
        json::push_str(out, HISTORY);
        out.extend_from_slice(b":{");
        for (n, p) in asked.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            json::push_str(out, p);
            out.push(b':');
            match lists.iter().find(|l| l.key == p.as_str()) {
                Some(l) if l.value.first() == Some(&b'[') => out.extend_from_slice(l.value),
                _ => out.extend_from_slice(b"[]"),
            }
        }
        out.push(b'}');
    };
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for m in &top {
        if m.key == HISTORY {
            continue;
        }
        sep(out);
        json::push_str(out, &m.key);
        out.push(b':');
        if m.key == "properties" && !props_as_is {
            out.push(b'{');
            let mut first = true;
            for p in inner.iter().filter(|p| props.iter().any(|q| *q == p.key)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                json::push_str(out, &p.key);
                out.push(b':');
                out.extend_from_slice(p.value);
            }
            out.push(b'}');
        } else {
            out.extend_from_slice(m.value);
        }
        if m.key == "properties"
            && let Some(asked) = history
        {
            sep(out);
            push_history(out, asked);
        }
    }
    if pm.is_none()
        && let Some(asked) = history
    {
        sep(out);
        push_history(out, asked);
    }
    out.push(b'}');
}

/// [`push_deal`] for the list and batch-read endpoints: an archived deal without its own
/// `archivedAt` gets the fallback one (its `updatedAt`) as its last member.
fn push_listed_deal(
    out: &mut Vec<u8>,
    raw: &[u8],
    props: &[String],
    history: Option<&[String]>,
    archived: bool,
) {
    push_deal(out, raw, props, history);
    if archived
        && json::member(raw, "archivedAt").is_none()
        && let Some(at) = archived_at(raw)
        && out.last() == Some(&b'}')
    {
        out.pop();
        out.extend_from_slice(b",\"archivedAt\":");
        out.extend_from_slice(at);
        out.push(b'}');
    }
}

/// A comma-separated list parameter's names.
fn names(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn parse_after(s: &str) -> Option<usize> {
    s.trim().parse().ok()
}

/// `GET /crm/v3/objects/deals`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let mut limit = 10usize;
    let mut after = 0usize;
    let mut archived = false;
    let mut props: Option<Vec<String>> = None;
    let mut history: Option<Vec<String>> = None;
    for (k, v) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => limit = n.min(100),
                _ => return validation(&format!("limit must be a positive integer, got '{v}'")),
            },
            "after" => match parse_after(&v) {
                Some(n) => after = n,
                None => return validation(&format!("invalid paging cursor '{v}'")),
            },
            "archived" => archived = v.eq_ignore_ascii_case("true"),
            "properties" => props.get_or_insert_with(Vec::new).extend(names(&v)),
            HISTORY => {
                let h = history.get_or_insert_with(Vec::new);
                for n in names(&v) {
                    if !h.contains(&n) {
                        h.push(n);
                    }
                }
            }
            _ => {}
        }
    }
    // HubSpot returns at most 50 records a page when property histories are asked for.
    let history = history.filter(|h| !h.is_empty());
    if history.is_some() {
        limit = limit.min(HISTORY_LIMIT);
    }
    let st = state.clone();
    let rows = state
        .cache
        .get_or_compute(format!("hubspot|archived={archived}"), false, move || {
            let t = table(&st);
            let now = st.store.as_of.and_then(|d| {
                d.and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc().timestamp_millis())
            });
            let mut rows = t.reader();
            t.by_id
                .iter()
                .copied()
                .filter(|&i| t.flag(i) == archived)
                .filter(|&i| !archived || !purged(rows.raw(i), now))
                .collect()
        })
        .await;
    let props = props.unwrap_or_else(|| DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect());
    let t = table(&state);
    let mut records = t.reader();
    let start = after.min(rows.len());
    let end = (start + limit).min(rows.len());
    let mut out = Vec::with_capacity(64 + (end - start) * 700);
    out.extend_from_slice(b"{\"results\":[");
    for (n, &i) in rows[start..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_listed_deal(
            &mut out,
            records.raw(i),
            &props,
            history.as_deref(),
            archived,
        );
    }
    out.push(b']');
    if end < rows.len() {
        let mut link = format!(
            "{}/crm/v3/objects/deals?limit={limit}&after={end}",
            state.base_url
        );
        if !props.is_empty() {
            let encoded: String =
                url::form_urlencoded::byte_serialize(props.join(",").as_bytes()).collect();
            link.push_str(&format!("&properties={encoded}"));
        }
        if let Some(h) = &history {
            let encoded: String =
                url::form_urlencoded::byte_serialize(h.join(",").as_bytes()).collect();
            link.push_str(&format!("&{HISTORY}={encoded}"));
        }
        if archived {
            link.push_str("&archived=true");
        }
        out.extend_from_slice(b",\"paging\":{\"next\":{\"after\":");
        json::push_str(&mut out, &end.to_string());
        out.extend_from_slice(b",\"link\":");
        json::push_str(&mut out, &link);
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    json_response(StatusCode::OK, out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prop {
    Modified,
    ObjectId,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Millis(i64),
    Id(Id),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    op: Op,
    operand: Operand,
}

fn prop_of(name: &str) -> Option<Prop> {
    match name {
        "hs_lastmodifieddate" | "lastmodifieddate" => Some(Prop::Modified),
        "hs_object_id" | "id" => Some(Prop::ObjectId),
        _ => None,
    }
}

fn value_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_filter(f: &Value) -> Result<Filter, String> {
    let name = f
        .get("propertyName")
        .and_then(Value::as_str)
        .ok_or("a filter needs propertyName")?;
    let prop = prop_of(name).ok_or_else(|| {
        format!("the sandbox filters on hs_lastmodifieddate and hs_object_id only, not '{name}'")
    })?;
    let op = match f.get("operator").and_then(Value::as_str).unwrap_or("") {
        "EQ" => Op::Eq,
        "NEQ" => Op::Neq,
        "GT" => Op::Gt,
        "GTE" => Op::Gte,
        "LT" => Op::Lt,
        "LTE" => Op::Lte,
        other => return Err(format!("unsupported operator '{other}'")),
    };
    let value = f
        .get("value")
        .and_then(value_str)
        .ok_or("a filter needs a value")?;
    let operand = match prop {
        Prop::Modified => {
            let ms = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
                value.parse::<i64>().ok()
            } else {
                json::parse_instant(&value)
            };
            Operand::Millis(ms.ok_or_else(|| format!("cannot read '{value}' as a datetime"))?)
        }
        Prop::ObjectId => Operand::Id(Id::from_str(value.trim())),
    };
    Ok(Filter { op, operand })
}

fn test<T: PartialOrd>(op: Op, a: T, b: T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Neq => a != b,
        Op::Gt => a > b,
        Op::Gte => a >= b,
        Op::Lt => a < b,
        Op::Lte => a <= b,
    }
}

/// `POST /crm/v3/objects/deals/search`.
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return validation(&format!("invalid JSON body: {e}")),
    };
    let mut groups: Vec<Vec<Filter>> = Vec::new();
    for g in req
        .get("filterGroups")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let mut fs = Vec::new();
        for f in g
            .get("filters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match parse_filter(f) {
                Ok(f) => fs.push(f),
                Err(m) => return validation(&m),
            }
        }
        groups.push(fs);
    }
    let mut sorts: Vec<(Prop, bool)> = Vec::new();
    for s in req
        .get("sorts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (name, desc) = match s {
            Value::String(s) => match s.strip_prefix('-') {
                Some(n) => (n.to_string(), true),
                None => (s.clone(), false),
            },
            Value::Object(_) => (
                s.get("propertyName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                s.get("direction").and_then(Value::as_str) == Some("DESCENDING"),
            ),
            _ => return validation("a sort is a property name or {propertyName, direction}"),
        };
        match prop_of(&name) {
            Some(p) => sorts.push((p, desc)),
            None => {
                return validation(&format!(
                    "the sandbox sorts on hs_lastmodifieddate and hs_object_id only, not '{name}'"
                ));
            }
        }
    }
    let limit = match req.get("limit") {
        None | Some(Value::Null) => 10,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=200).contains(&n) => n as usize,
            _ => return validation("limit must be between 1 and 200"),
        },
    };
    let after = match req.get("after") {
        None | Some(Value::Null) => 0,
        Some(v) => match value_str(v).as_deref().and_then(parse_after) {
            Some(n) => n,
            None => return validation("invalid paging cursor"),
        },
    };
    if after >= SEARCH_CAP {
        return validation(&format!(
            "The search endpoints are limited to {SEARCH_CAP} total results for any given query; the page after {after} is past it"
        ));
    }
    let props: Vec<String> = match req.get("properties").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect(),
    };
    let key = format!("hubspot-search|{groups:?}|{sorts:?}");
    let st = state.clone();
    let rows = state
        .cache
        .get_or_compute(key, false, move || {
            let t = table(&st);
            let matches = |i: u32| {
                let cursor = t.cursor(i);
                groups.is_empty()
                    || groups.iter().any(|g| {
                        g.iter().all(|f| match &f.operand {
                            Operand::Millis(ms) => cursor != i64::MIN && test(f.op, cursor, *ms),
                            Operand::Id(id) => test(f.op, &t.id(i), id),
                        })
                    })
            };
            let mut rows: Vec<u32> = t
                .by_id
                .iter()
                .copied()
                .filter(|&i| !t.flag(i) && matches(i))
                .collect();
            let order: Vec<(SortKey, bool)> = sorts
                .iter()
                .map(|&(p, desc)| {
                    let key = match p {
                        Prop::Modified => SortKey::Cursor,
                        Prop::ObjectId => SortKey::Id,
                    };
                    (key, desc)
                })
                .collect();
            t.sort(&mut rows, &order);
            rows
        })
        .await;
    let t = table(&state);
    let mut records = t.reader();
    let start = after.min(rows.len());
    let end = (start + limit).min(rows.len());
    let mut out = Vec::with_capacity(64 + (end - start) * 700);
    out.extend_from_slice(b"{\"total\":");
    json::push_u(&mut out, rows.len() as u64);
    out.extend_from_slice(b",\"results\":[");
    for (n, &i) in rows[start..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        // the search endpoint has no property histories
        push_deal(&mut out, records.raw(i), &props, None);
    }
    out.push(b']');
    if end < rows.len() {
        out.extend_from_slice(b",\"paging\":{\"next\":{\"after\":");
        json::push_str(&mut out, &end.to_string());
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    json_response(StatusCode::OK, out)
}

/// The results one search query can page through: a request whose `after` is at or past it is
/// a 400, as on HubSpot.
pub(crate) const SEARCH_CAP: usize = 10_000;

/// HubSpot's cap on the inputs of one batch request.
pub(crate) const BATCH_LIMIT: usize = 100;

/// `POST /crm/v3/objects/deals/batch/read[?archived=true]` with `{inputs: [{id}], properties,
/// propertiesWithHistory}`: the deals asked for, live ones (or, with `archived=true`, archived
/// ones not yet purged), in the order asked, each served as the list endpoint serves it. At most
/// [`BATCH_LIMIT`] inputs, and [`HISTORY_LIMIT`] when histories are asked for (a 400 beyond).
/// Ids not found are answered with a 207 and an `OBJECT_NOT_FOUND` error naming them, as HubSpot
/// does.
pub(crate) async fn batch_read(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let archived = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "archived" && v.eq_ignore_ascii_case("true"));
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return validation(&format!("invalid JSON body: {e}")),
    };
    let strings = |key: &str| -> Option<Vec<String>> {
        req.get(key).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
    };
    let Some(inputs) = req.get("inputs").and_then(Value::as_array) else {
        return validation("inputs is required: [{\"id\": \"...\"}, ...]");
    };
    let mut ids = Vec::with_capacity(inputs.len());
    for i in inputs {
        match i.get("id").and_then(value_str) {
            Some(id) => ids.push(id),
            None => return validation("every input needs an id"),
        }
    }
    let history = strings(HISTORY).filter(|h| !h.is_empty());
    let cap = if history.is_some() {
        HISTORY_LIMIT
    } else {
        BATCH_LIMIT
    };
    if ids.len() > cap {
        return validation(&format!(
            "Batch input cannot be larger than {cap} inputs, got {}",
            ids.len()
        ));
    }
    let props = strings("properties")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect());
    let now = state.store.as_of.and_then(|d| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    });
    let t = table(&state);
    let mut records = t.reader();
    let mut out = Vec::with_capacity(64 + ids.len() * 2000);
    out.extend_from_slice(b"{\"status\":\"COMPLETE\",\"results\":[");
    let mut missing = Vec::new();
    let mut n = 0;
    for id in &ids {
        let found = t
            .find(&Id::from_str(id))
            .filter(|&i| t.flag(i) == archived && !(archived && purged(records.raw(i), now)));
        let Some(i) = found else {
            missing.push(id.clone());
            continue;
        };
        if n > 0 {
            out.push(b',');
        }
        n += 1;
        push_listed_deal(
            &mut out,
            records.raw(i),
            &props,
            history.as_deref(),
            archived,
        );
    }
    out.push(b']');
    let status = if missing.is_empty() {
        StatusCode::OK
    } else {
        out.extend_from_slice(b",\"numErrors\":1,\"errors\":[{\"status\":\"error\",\"category\":\"OBJECT_NOT_FOUND\",\"message\":\"Could not get some DEAL objects, they may be deleted or not exist. Check that ids are valid.\",\"context\":{\"ids\":[");
        for (k, id) in missing.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            json::push_str(&mut out, id);
        }
        out.extend_from_slice(b"]}}]");
        StatusCode::MULTI_STATUS
    };
    let stamp = state
        .store
        .as_of
        .map_or_else(|| "1970-01-01".to_string(), |d| d.to_string());
    out.extend_from_slice(b",\"startedAt\":");
    json::push_str(&mut out, &format!("{stamp}T00:00:00.000Z"));
    out.extend_from_slice(b",\"completedAt\":");
    json::push_str(&mut out, &format!("{stamp}T00:00:00.001Z"));
    out.push(b'}');
    json_response(status, out)
}
