//! One REST stream: page through the API, decode each page into Arrow as it arrives, and land
//! the rows (see [`crate::sink`]).
//!
//! A page is parsed once ([`crate::page`]), off the async threads, when it is fetched: the one
//! pass yields its records, decoded straight into the column builders, and the values the
//! paginator reads (next URL, cursor, totals, the last record's key). Decoded pages flow through
//! a bounded channel to the landing, so memory stays flat in the number of records: at most
//! `concurrency + 1` pages wait there, and rows are flushed to the lake in chunks while the
//! next pages are fetched. Offset and page-number paging fetch the remaining pages concurrently
//! once the first page tells the total: several pages per request slot are requested or
//! decoded at once ([`SystemClient::pages_in_flight`]), while the requests in flight stay at the
//! system's `concurrency`, so a page being decoded, or a slow one, does not hold up the next
//! requests.
//!
//! An API that misbehaves ends the stream with an error naming it, never a hang: a page whose
//! records repeat an earlier page's of the same parameter set (a server that ignores the
//! offset or page number, or loops back), a next URL or cursor seen before, and more requests
//! than the stream's `max_pages` (a server that always has more).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, stream};
use tokio::sync::mpsc;
use url::Url;

use pslake_core::pipeline::{
    Endpoint, JsonPath, Method, PARENT_KEY_PLACEHOLDER, Paginator, ParamLocation,
};

use crate::batch::{PageOutcome, StreamPlan};
use crate::error::{Error, Result, clip};
use crate::http::{Body, BodyError, Request, SystemClient};
use crate::json::{Scalar, get_path};
use crate::page::ScanError;
use crate::redact::redact_url;
use crate::sink::Accumulator;

const START: &str = "{incremental.start_value}";
const CURSOR: &str = "{cursor}";
const KEYSET: &str = pslake_core::pipeline::KEYSET_PLACEHOLDER;
const KEYSET_ENCODED: &str = "%7Bkeyset.last%7D";

/// A fetched page, decoded.
pub(crate) struct Page {
    /// The request's URL, redacted.
    pub(crate) url: String,
    /// The page's rows, rejects and counters.
    pub(crate) out: PageOutcome,
    /// Records on the page (before rejects and the client-side filter).
    pub(crate) records: usize,
    /// The values at the paging paths ([`paging_paths`]) as text.
    values: Vec<Option<String>>,
    /// The text of the last record's keyset key (keyset paging only).
    last_key: Option<String>,
    /// A fingerprint of the page's records (their count, the first and the last record's
    /// JSON); `None` without records. Two pages with the same one hold the same records.
    fingerprint: Option<u64>,
}

impl Page {
    /// The text at a paging path of the page (`None`: absent or null).
    fn value(&self, plan: &StreamPlan, path: &JsonPath) -> Option<String> {
        let i = plan.scan.values().iter().position(|p| p == path)?;
        self.values[i].clone()
    }
}

/// The page values a paginator reads; [`crate::page::Scan`] finds them in the same pass as the
/// records.
pub(crate) fn paging_paths(p: &Paginator) -> Vec<JsonPath> {
    let paths: Vec<Option<&JsonPath>> = match p {
        Paginator::NextUrl { path, done_path } => vec![Some(path), done_path.as_ref()],
        Paginator::Cursor { path, .. } => vec![Some(path)],
        Paginator::Offset {
            has_more_path,
            total_path,
            ..
        } => vec![has_more_path.as_ref(), total_path.as_ref()],
        Paginator::PageNumber {
            total_pages_path, ..
        } => vec![total_pages_path.as_ref()],
        Paginator::None => Vec::new(),
    };
    paths.into_iter().flatten().cloned().collect()
}

/// Runs the stream's requests and feeds every page into `acc`.
pub(crate) async fn run(
    client: &SystemClient,
    plan: Arc<StreamPlan>,
    start_value: Option<String>,
    min_cursor: Option<i64>,
    shape: &RunShape,
    acc: &mut Accumulator,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Page>(client.concurrency() + 1);
    let producer = async {
        let r = produce(
            client,
            &plan,
            start_value.as_deref(),
            min_cursor,
            shape,
            &tx,
        )
        .await;
        drop(tx);
        r
    };
    let consumer = async {
        while let Some(mut page) = rx.recv().await {
            acc.pages += 1;
            acc.absorb(&plan, &mut page.out)
                .await
                .map_err(|e| match e {
                    Error::Page { message, .. } => Error::Page {
                        url: page.url.clone(),
                        message,
                    },
                    other => other,
                })?;
        }
        Ok::<(), Error>(())
    };
    let (p, c) = tokio::join!(producer, consumer);
    // A consumer error (e.g. the lake) is the cause when both fail.
    c?;
    p
}

/// Decodes a page body: one pass for its records and paging values, then each record into the
/// builders. `Invalid` for a body that is not complete JSON (the fetch tries again).
pub(crate) fn decode(
    plan: &StreamPlan,
    body: &[u8],
    url: &str,
    min_cursor: Option<i64>,
    cursor_column: Option<usize>,
) -> std::result::Result<Page, BodyError> {
    let page_error = |message: String| {
        BodyError::Fatal(Error::Page {
            url: url.to_string(),
            message: clip(message),
        })
    };
    let text =
        std::str::from_utf8(body).map_err(|e| page_error(format!("body is not UTF-8: {e}")))?;
    let scanned = plan.scan.page(text).map_err(|e| match e {
        // Complete JSON the decoder cannot read (a number past `f64` where the paging looks,
        // `{"meta": 1e400}`) would fail the same way on every attempt: not worth a retry.
        ScanError::Json(e)
            if !e.is_eof() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() =>
        {
            page_error(format!("the page is JSON but cannot be read: {e}"))
        }
        ScanError::Json(e) => BodyError::Invalid(e.to_string()),
        ScanError::Shape(message) => page_error(message),
    })?;
    let values = scanned
        .values
        .iter()
        .map(|v| {
            v.and_then(|r| Scalar::of(r).ok())
                .and_then(|s| s.text().map(|t| t.into_owned()))
        })
        .collect();
    let last_key = match (&plan.stream.paginator, scanned.records.last()) {
        (
            Paginator::Offset {
                keyset: Some(ks), ..
            },
            Some(last),
        ) => get_path(last, &ks.key)
            .map_err(|e| page_error(e.to_string()))?
            .and_then(|r| Scalar::of(r).ok())
            .and_then(|s| s.text().map(|t| t.into_owned()))
            .filter(|s| !s.is_empty()),
        _ => None,
    };
    let records = scanned.len();
    let fingerprint = scanned.ends().map(|(first, last)| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_usize(records);
        h.write(first.as_bytes());
        h.write_u8(0xff);
        h.write(last.as_bytes());
        h.finish()
    });
    let extracted_at = chrono::Utc::now().timestamp_micros();
    let out = match (&plan.stream.records.unnest, scanned.picked) {
        // the common case: the page's records, picked in its pass, are the rows
        (None, Some(picked)) => plan.picked_rows(picked, extracted_at, min_cursor, cursor_column),
        (None, None) => plan.page_rows(&scanned.records, extracted_at, min_cursor, cursor_column),
        (Some(u), _) => {
            let rows = crate::unnest::rows(u, &scanned.records).map_err(page_error)?;
            let rows: Vec<&serde_json::value::RawValue> = rows.iter().map(AsRef::as_ref).collect();
            plan.page_rows(&rows, extracted_at, min_cursor, cursor_column)
        }
    };
    Ok(Page {
        url: url.to_string(),
        out,
        records,
        values,
        last_key,
        fingerprint,
    })
}

#[cfg(test)]
impl Page {
    /// The values at the paging paths, as text.
    pub(crate) fn values(&self) -> &[Option<String>] {
        &self.values
    }

    /// The fingerprint of the page's records.
    pub(crate) fn fingerprint(&self) -> Option<u64> {
        self.fingerprint
    }
}

fn fill(s: &str, start: Option<&str>) -> String {
    match start {
        Some(v) if s.contains(START) => s.replace(START, v),
        _ => s.to_string(),
    }
}

fn replace_json(v: &serde_json::Value, from: &str, to: &str) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(a) => Value::Array(a.iter().map(|x| replace_json(x, from, to)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), replace_json(x, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill_json(v: &serde_json::Value, start: Option<&str>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(fill(s, start)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_json(x, start)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_json(x, start)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The first request of one parameter set.
#[derive(Clone)]
struct Template {
    method: Method,
    url: Url,
    params: Vec<(String, String)>,
    json: Option<serde_json::Value>,
    headers: Vec<(String, String)>,
}

impl Template {
    /// This template with `{keyset.last}` replaced by `v` (parameters, JSON body, URL path).
    fn with_keyset(&self, v: &str) -> Template {
        let json = self.json.as_ref().map(|j| replace_json(j, KEYSET, v));
        let mut url = self.url.clone();
        let path = url.path().replace(KEYSET, v).replace(KEYSET_ENCODED, v);
        url.set_path(&path);
        Template {
            method: self.method,
            url,
            params: self
                .params
                .iter()
                .map(|(k, x)| (k.clone(), x.replace(KEYSET, v)))
                .collect(),
            json,
            headers: self.headers.clone(),
        }
    }

    fn request(
        &self,
        extra: &[(String, String)],
        body_extra: &[(String, serde_json::Value)],
    ) -> Request {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in self.params.iter().chain(extra.iter()) {
                q.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let body = match (&self.json, body_extra.is_empty()) {
            (None, true) => Body::None,
            (Some(j), true) => Body::Json(j.clone()),
            (j, false) => {
                let mut obj = match j {
                    Some(serde_json::Value::Object(o)) => o.clone(),
                    _ => serde_json::Map::new(),
                };
                for (k, v) in body_extra {
                    obj.insert(k.clone(), v.clone());
                }
                Body::Json(serde_json::Value::Object(obj))
            }
        };
        Request {
            method: self.method,
            url,
            body,
            headers: self.headers.clone(),
        }
    }
}

/// The offset paginator's settings.
struct OffsetPaging<'a> {
    limit: u64,
    limit_param: &'a str,
    offset_param: &'a str,
    has_more_path: Option<&'a JsonPath>,
    total_path: Option<&'a JsonPath>,
    location: ParamLocation,
}

/// Whether `key` sorts after `last`: numerically when both are numbers (NetSuite ids are digit
/// strings), else as text.
fn key_after(key: &str, last: &str) -> bool {
    match (key.trim().parse::<f64>(), last.trim().parse::<f64>()) {
        (Ok(k), Ok(l)) => k > l,
        _ => key > last,
    }
}

/// The key of the last record of a page (keyset paging), read when the page was decoded.
fn last_key(page: &Page, key: &JsonPath) -> Result<String> {
    page.last_key.clone().ok_or_else(|| Error::Page {
        url: page.url.clone(),
        message: format!(
            "keyset paging: the last record of the page has no key at `{}`",
            key.0.join(".")
        ),
    })
}

/// Fetches and decodes the pages of one parameter set.
struct Fetcher<'c> {
    client: &'c SystemClient,
    plan: Arc<StreamPlan>,
    min_cursor: Option<i64>,
    /// The parameter set's cursor column (`None`: the stream's).
    cursor_column: Option<usize>,
    /// `system.stream`, for messages.
    label: &'c str,
    /// Requests made for the stream so far, every parameter set together.
    requests: &'c AtomicU64,
    /// The fingerprint of each page with records this parameter set fetched, with its URL.
    seen: Mutex<HashMap<u64, String>>,
}

impl Fetcher<'_> {
    /// Fails at once when the API announces more pages than the stream may read (`pages`
    /// including the first, which `first` is), rather than after reading `max_pages` of them.
    fn check_total(&self, first: &Page, pages: u64, what: impl Fn() -> String) -> Result<()> {
        let max = self.plan.stream.max_pages;
        let before = self.requests.load(Ordering::Relaxed).saturating_sub(1);
        if before.saturating_add(pages) > max {
            return Err(Error::Page {
                url: first.url.clone(),
                message: format!(
                    "stream {}: the API announces {} ({pages} requests), more than `max_pages: {max}`: a wrong total, or the stream needs a higher `max_pages`",
                    self.label,
                    what()
                ),
            });
        }
        Ok(())
    }

    /// Fetches one page and decodes it (in one pass, off the async threads). Fails instead of
    /// fetching past the stream's `max_pages`, and on a page that repeats an earlier one.
    async fn page(&self, req: &Request) -> Result<Page> {
        let url = redact_url(&req.url);
        let max = self.plan.stream.max_pages;
        if self.requests.fetch_add(1, Ordering::Relaxed) >= max {
            return Err(Error::Page {
                url,
                message: format!(
                    "stream {}: {max} pages read and the API still has more (`max_pages: {max}`): it pages forever, or the stream needs a higher `max_pages`",
                    self.label
                ),
            });
        }
        let (plan, min_cursor, cursor_column) =
            (self.plan.clone(), self.min_cursor, self.cursor_column);
        let page = self
            .client
            .fetch_with(req, move |body: Bytes| {
                decode(&plan, &body, &url, min_cursor, cursor_column)
            })
            .await?;
        if let Some(f) = page.fingerprint {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(first) = seen.get(&f) {
                return Err(Error::Page {
                    url: page.url.clone(),
                    message: format!(
                        "stream {}: the page repeats the records of {first}: the API is looping (does it ignore the paging parameter?)",
                        self.label
                    ),
                });
            }
            seen.insert(f, page.url.clone());
        }
        Ok(page)
    }
}

/// Pages one query by offset. With a cap (`max_offset`, key path), stops before an offset at
/// or past the cap and, when the query has more results than that, returns the last key seen.
async fn offset_query(
    f: &Fetcher<'_>,
    t: &Template,
    o: &OffsetPaging<'_>,
    cap: Option<(u64, &JsonPath)>,
    tx: &mpsc::Sender<Page>,
) -> Result<Option<String>> {
    let plan = &*f.plan;
    let limit = o.limit;
    let req_at = |offset: u64| match o.location {
        ParamLocation::Query => t.request(
            &[
                (o.limit_param.to_string(), limit.to_string()),
                (o.offset_param.to_string(), offset.to_string()),
            ],
            &[],
        ),
        ParamLocation::Body => t.request(
            &[],
            &[
                (o.limit_param.to_string(), limit.into()),
                (o.offset_param.to_string(), offset.into()),
            ],
        ),
    };
    let max = cap.map(|(m, _)| m).unwrap_or(u64::MAX);
    let first = f.page(&req_at(0)).await?;
    let total = match o.total_path {
        Some(p) => number(&first, "total", first.value(plan, p))?,
        None => None,
    };
    if let Some(total) = total {
        let end = total.min(max);
        f.check_total(&first, end.div_ceil(limit), || {
            format!("{total} records, {limit} a page")
        })?;
        // lazy: `end` comes from the page, it may be absurd
        let offsets = (1..)
            .map_while(|i: u64| i.checked_mul(limit))
            .take_while(move |o| *o < end);
        // A total at the cap may itself be capped: one more window tells (it comes back empty
        // when the table held exactly that many).
        let capped = total >= max;
        // The last page is held back until its key is read.
        let mut held = first;
        let mut pages = stream::iter(offsets)
            .map(|o| {
                let r = req_at(o);
                async move { f.page(&r).await }
            })
            .buffered(f.client.pages_in_flight());
        while let Some(p) = pages.next().await {
            send(tx, std::mem::replace(&mut held, p?)).await?;
        }
        let key = match cap {
            Some((_, k)) if capped => Some(last_key(&held, k)?),
            _ => None,
        };
        send(tx, held).await?;
        return Ok(key);
    }
    let mut page = first;
    let mut offset: u64 = 0;
    loop {
        let more = match o.has_more_path {
            Some(h) => page.value(plan, h).is_some_and(|v| v == "true"),
            None => page.records as u64 >= limit,
        };
        // At the cap, a full page may hide more even when the API says none (a capped
        // has-more): with a keyset, the next window tells.
        let at_cap = offset.saturating_add(limit) >= max;
        let full = at_cap && cap.is_some() && page.records as u64 >= limit;
        if (more || full) && at_cap {
            let key = match cap {
                Some((_, k)) => Some(last_key(&page, k)?),
                None => None,
            };
            send(tx, page).await?;
            return Ok(key);
        }
        send(tx, page).await?;
        if !more {
            return Ok(None);
        }
        offset = offset.saturating_add(limit);
        page = f.page(&req_at(offset)).await?;
    }
}

/// What one run of a stream asks for beyond its endpoint.
#[derive(Debug, Default)]
pub(crate) struct RunShape {
    /// The run starts from a stored cursor: `incremental.since_cursor` requests apply.
    pub(crate) from_cursor: bool,
    /// A child stream's parent keys and embedded parent records, one list per parameter set (in
    /// the endpoint's order); `None` for a stream without `parent`.
    pub(crate) parent_keys: Option<crate::parent::ParentKeys>,
}

/// The parameter sets of an endpoint (one empty set when it declares none).
pub(crate) fn param_sets(ep: &Endpoint) -> Vec<BTreeMap<String, String>> {
    if ep.param_sets.is_empty() {
        vec![BTreeMap::new()]
    } else {
        ep.param_sets.clone()
    }
}

/// `item` with every string `{parent.key}` replaced by `key` (a whole-string placeholder keeps
/// the key a string).
fn parent_item(item: &serde_json::Value, key: &str) -> serde_json::Value {
    replace_json(item, PARENT_KEY_PLACEHOLDER, key)
}

/// Sends every page of the stream's requests (each parameter set, all pages; for a child stream
/// one request per batch of its parent's keys), decoded, into `tx`. `min_cursor`: records whose
/// cursor is below it are filtered out as they are decoded.
pub(crate) async fn produce(
    client: &SystemClient,
    plan: &Arc<StreamPlan>,
    start: Option<&str>,
    min_cursor: Option<i64>,
    shape: &RunShape,
    tx: &mpsc::Sender<Page>,
) -> Result<()> {
    let stream = &plan.stream;
    let base = client.base_url().await?;
    let label = format!("{}.{}", plan.system, stream.name);
    let requests = AtomicU64::new(0);
    let since = stream
        .incremental
        .as_ref()
        .and_then(|inc| inc.since_cursor.as_ref())
        .filter(|_| shape.from_cursor);
    for (n, set) in param_sets(&stream.endpoint).into_iter().enumerate() {
        let cursor_column = stream.incremental.as_ref().map(|inc| inc.column_for(&set));
        let (ep, set_plan) = match since {
            Some(sc) if sc.applies_to(&set) => {
                let set_plan = match &sc.paginator {
                    None => plan.clone(),
                    Some(p) => {
                        let mut p = p.clone();
                        if let Paginator::Offset {
                            keyset: Some(ks), ..
                        } = &mut p
                        {
                            ks.start = fill(&ks.start, start);
                        }
                        Arc::new(plan.with_paginator(p))
                    }
                };
                (sc.changes.apply(&stream.endpoint, &set), set_plan)
            }
            _ => {
                let mut ep = stream.endpoint.clone();
                ep.params.extend(set);
                (ep, plan.clone())
            }
        };
        let t = Template {
            method: ep.method,
            url: client.resolve(&base, &fill(&ep.path, start))?,
            params: ep
                .params
                .iter()
                .map(|(k, v)| (k.clone(), fill(v, start)))
                .collect(),
            json: ep.json.as_ref().map(|j| fill_json(j, start)),
            headers: ep
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let f = Fetcher {
            client,
            plan: set_plan,
            min_cursor,
            cursor_column,
            label: &label,
            requests: &requests,
            seen: Mutex::new(HashMap::new()),
        };
        match (&stream.parent, &shape.parent_keys) {
            (Some(parent), Some(pk)) => {
                // The records the parent's own landed records hold: decoded as pages, no request.
                if let Some(records) = pk.embedded.get(n).filter(|r| !r.is_empty()) {
                    let what = format!("raw.{} (landed in this run)", parent.table);
                    for chunk in records.chunks(EMBEDDED_PER_PAGE) {
                        let body = embedded_page(&f.plan.stream.records.path, chunk);
                        let page =
                            decode(&f.plan, body.as_bytes(), &what, min_cursor, cursor_column)
                                .map_err(|e| match e {
                                    BodyError::Fatal(e) => e,
                                    BodyError::Invalid(m) => Error::Page {
                                        url: what.clone(),
                                        message: m,
                                    },
                                })?;
                        send(tx, page).await?;
                    }
                }
                let keys = pk.keys.get(n).map(Vec::as_slice).unwrap_or_default();
                for batch in keys.chunks(parent.batch.max(1)) {
                    let items: Vec<serde_json::Value> =
                        batch.iter().map(|k| parent_item(&parent.item, k)).collect();
                    let mut json = t.json.clone().unwrap_or_else(|| serde_json::json!({}));
                    if let Some(o) = json.as_object_mut() {
                        o.insert(parent.into.clone(), serde_json::Value::Array(items));
                    }
                    let bt = Template {
                        json: Some(json),
                        ..t.clone()
                    };
                    page_through(&f, &base, &bt, tx).await?;
                }
            }
            _ => page_through(&f, &base, &t, tx).await?,
        }
    }
    Ok(())
}

/// Parent records decoded per page when a child reads them from the parent's landing.
const EMBEDDED_PER_PAGE: usize = 500;

/// A page body holding `records` (JSON objects) at `path`, as the endpoint would send them.
fn embedded_page(path: &JsonPath, records: &[String]) -> String {
    let mut body = String::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 64);
    for seg in &path.0 {
        body.push('{');
        body.push_str(&serde_json::to_string(seg).expect("a string serializes"));
        body.push(':');
    }
    body.push('[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r);
    }
    body.push(']');
    for _ in &path.0 {
        body.push('}');
    }
    body
}

async fn send(tx: &mpsc::Sender<Page>, page: Page) -> Result<()> {
    // The receiver only goes away when the consumer failed; its error is reported instead.
    tx.send(page)
        .await
        .map_err(|_| Error::Task("page consumer stopped".into()))
}

fn number(page: &Page, what: &str, v: Option<String>) -> Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .map(|f| Some(f.max(0.0) as u64))
            .map_err(|_| Error::Page {
                url: page.url.clone(),
                message: format!("{what} `{s}` is not a number"),
            }),
    }
}

async fn page_through(
    f: &Fetcher<'_>,
    base: &Url,
    t: &Template,
    tx: &mpsc::Sender<Page>,
) -> Result<()> {
    let (client, plan) = (f.client, &*f.plan);
    let depth = client.pages_in_flight();
    match &plan.stream.paginator {
        Paginator::None => send(tx, f.page(&t.request(&[], &[])).await?).await,
        Paginator::NextUrl { path, done_path } => {
            let mut req = t.request(&[], &[]);
            let mut urls = HashSet::from([req.url.to_string()]);
            loop {
                let page = f.page(&req).await?;
                let next = page.value(plan, path);
                let done = match done_path {
                    Some(d) => page.value(plan, d).is_some_and(|v| v == "true"),
                    None => false,
                };
                send(tx, page).await?;
                match next {
                    Some(n) if !done && !n.is_empty() => {
                        let url = client.resolve(base, &n)?;
                        if !urls.insert(url.to_string()) {
                            return Err(Error::Page {
                                url: redact_url(&req.url),
                                message: format!(
                                    "stream {}: the next URL {} was read before: the API is looping",
                                    f.label,
                                    redact_url(&url)
                                ),
                            });
                        }
                        req = Request {
                            method: Method::Get,
                            url,
                            body: Body::None,
                            headers: t.headers.clone(),
                        };
                    }
                    _ => return Ok(()),
                }
            }
        }
        Paginator::Cursor { path, param } => {
            let uses_placeholder = t.params.iter().any(|(_, v)| v.contains(CURSOR));
            let first = Template {
                params: t
                    .params
                    .iter()
                    .filter(|(_, v)| !v.contains(CURSOR))
                    .cloned()
                    .collect(),
                ..t.clone()
            };
            let mut req = first.request(&[], &[]);
            let mut seen = std::collections::HashSet::new();
            loop {
                let page = f.page(&req).await?;
                let next = page.value(plan, path);
                send(tx, page).await?;
                match next {
                    Some(c) if !c.is_empty() => {
                        if !seen.insert(c.clone()) {
                            return Err(Error::Page {
                                url: redact_url(&req.url),
                                message: format!(
                                    "stream {}: the cursor `{c}` repeats: the API is looping",
                                    f.label
                                ),
                            });
                        }
                        req = if uses_placeholder {
                            let filled = Template {
                                params: t
                                    .params
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.replace(CURSOR, &c)))
                                    .collect(),
                                ..t.clone()
                            };
                            filled.request(&[], &[])
                        } else if t.method == Method::Post && t.json.is_some() {
                            t.request(&[], &[(param.clone(), serde_json::Value::String(c))])
                        } else {
                            t.request(&[(param.clone(), c)], &[])
                        };
                    }
                    _ => return Ok(()),
                }
            }
        }
        Paginator::Offset {
            limit,
            limit_param,
            offset_param,
            has_more_path,
            total_path,
            location,
            keyset,
        } => {
            let o = OffsetPaging {
                limit: *limit,
                limit_param,
                offset_param,
                has_more_path: has_more_path.as_ref(),
                total_path: total_path.as_ref(),
                location: *location,
            };
            let Some(ks) = keyset else {
                return offset_query(f, t, &o, None, tx).await.map(|_| ());
            };
            // One query per keyset window: each pages by offset up to the cap, and the next
            // starts after the last key seen (the query orders by the key).
            let mut last = ks.start.clone();
            loop {
                let q = t.with_keyset(&last);
                let Some(key) = offset_query(f, &q, &o, Some((ks.max_offset, &ks.key)), tx).await?
                else {
                    return Ok(());
                };
                if !key_after(&key, &last) {
                    return Err(Error::Page {
                        url: redact_url(&q.url),
                        message: format!(
                            "stream {}: keyset paging made no progress: the last key `{key}` is not after `{last}` (the query must order by the key, ascending)",
                            f.label
                        ),
                    });
                }
                last = key;
            }
        }
        Paginator::PageNumber {
            page_param,
            start,
            total_pages_path,
        } => {
            let req_at = |n: u64| t.request(&[(page_param.clone(), n.to_string())], &[]);
            let first = f.page(&req_at(*start)).await?;
            let total = match total_pages_path {
                Some(p) => number(&first, "page count", first.value(plan, p))?,
                None => None,
            };
            if let Some(total) = total {
                f.check_total(&first, total, || format!("{total} pages"))?;
                send(tx, first).await?;
                let last = start.saturating_add(total.saturating_sub(1));
                let mut pages = stream::iter((start + 1)..=last)
                    .map(|n| {
                        let r = req_at(n);
                        async move { f.page(&r).await }
                    })
                    .buffered(depth);
                while let Some(p) = pages.next().await {
                    send(tx, p?).await?;
                }
                return Ok(());
            }
            let mut page = first;
            let mut n = *start;
            loop {
                let empty = page.records == 0;
                send(tx, page).await?;
                if empty {
                    return Ok(());
                }
                n += 1;
                page = f.page(&req_at(n)).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn kantata_time_entries() -> StreamPlan {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/demo.yml");
        let p = pslake_core::pipeline::load_pipeline_with(&path, &HashMap::new())
            .unwrap_or_else(|e| panic!("{e:#?}"));
        let stream = p
            .systems
            .iter()
            .flat_map(|s| &s.streams)
            .find(|s| s.table == "kantata_time_entries")
            .expect("the demo pipeline has Kantata time entries");
        StreamPlan::new("kantata", stream, "run", false)
    }

    fn entry(id: u32, date: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"{id}","workspace_id":"7","user_id":"8","date_performed":"{date}","time_in_minutes":60,"billable":true,"approved":false,"rate_in_cents":100,"currency":"USD","notes":"n","updated_at":"2026-03-03T22:00:00-05:00"{extra}}}"#
        )
    }

    #[test]
    fn one_decode_gives_rows_rejects_and_paging_values() {
        let plan = kantata_time_entries();
        let body = format!(
            r#"{{"count":3,"results":[{{"key":"time_entries","id":"3"}},{{"key":"users","id":"1"}},{{"key":"time_entries","id":"2"}},{{"key":"time_entries","id":"1"}}],
            "time_entries":{{"1":{},"2":{},"3":{}}},"users":{{"1":{{"id":"1"}}}},
            "meta":{{"count":3,"page_count":7,"page_number":1}}}}"#,
            entry(
                1,
                "2026-03-01",
                r#","story":{"id":"5","tags":["a"]},"cost":null"#
            ),
            entry(2, "2026-02-30", ""),
            entry(3, "2026-03-02", r#","story":{"id":"6"}"#),
        );
        let mut page = decode(&plan, body.as_bytes(), "https://k/x", None, None)
            .unwrap_or_else(|_| panic!("the page decodes"));
        // the paging value and the records count come from the same pass as the records
        let Paginator::PageNumber {
            total_pages_path: Some(total),
            ..
        } = &plan.stream.paginator
        else {
            panic!("Kantata pages by number with a page count");
        };
        assert_eq!(page.value(&plan, total).as_deref(), Some("7"));
        assert_eq!(page.records, 3);
        // undeclared fields are reported once, not landed; the bad date is a reject with its reason
        assert_eq!(
            page.out.unknown.iter().collect::<Vec<_>>(),
            vec!["cost", "story"]
        );
        assert_eq!((page.out.received, page.out.rejected), (3, 1));
        let r = &page.out.rejects[0];
        assert_eq!(r.key.as_deref(), Some("2"));
        assert_eq!(r.field.as_deref(), Some("date_performed"));
        assert!(
            r.message.contains("kantata.time_entries")
                && r.message.contains("`2026-02-30` is not a date"),
            "{}",
            r.message
        );
        let batch = plan.finish(&mut page.out).unwrap().expect("two rows");
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        // in the order of `results`
        assert_eq!(ids.iter().flatten().collect::<Vec<_>>(), vec!["3", "1"]);
        let raw = batch
            .column_by_name("_raw")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(
            raw.value(1),
            entry(
                1,
                "2026-03-01",
                r#","story":{"id":"5","tags":["a"]},"cost":null"#
            )
        );
    }

    #[test]
    fn a_cut_short_page_is_fetched_again_a_misshapen_one_fails() {
        let plan = kantata_time_entries();
        let body = format!(
            r#"{{"results":[{{"key":"time_entries","id":"1"}}],"time_entries":{{"1":{}"#,
            entry(1, "2026-03-01", "")
        );
        assert!(matches!(
            decode(&plan, body.as_bytes(), "u", None, None),
            Err(BodyError::Invalid(_))
        ));
        let body = r#"{"results":[{"key":"time_entries","id":"1"}],"time_entries":{}}"#;
        let Err(BodyError::Fatal(e)) =
            decode(&plan, body.as_bytes(), "https://k/p?page=2", None, None)
        else {
            panic!("a reference without its record fails the page");
        };
        assert_eq!(
            e.to_string(),
            "https://k/p?page=2: `results` lists id 1 that `time_entries` lacks"
        );
        let Err(BodyError::Fatal(e)) = decode(&plan, b"{\"x\":\"\xff\"}", "u", None, None) else {
            panic!("a body that is not UTF-8 fails the page");
        };
        assert!(e.to_string().contains("body is not UTF-8"), "{e}");
    }
}
