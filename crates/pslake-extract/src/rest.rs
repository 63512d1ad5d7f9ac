//! One REST stream: page through the API, decode pages into Arrow off the async threads, and
//! land the rows (see [`crate::sink`]).
//!
//! Pages flow through a bounded channel from the pager to the decoder, so memory stays flat in
//! the number of records: at most `concurrency + 2` pages are in flight, and rows are flushed to
//! the lake in chunks. Offset and page-number paging fetch the remaining pages concurrently once
//! the first page tells the total.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, stream};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use url::Url;

use pslake_core::pipeline::{JsonPath, Method, Paginator, ParamLocation};

use crate::batch::{PageOutcome, StreamPlan};
use crate::error::{Error, Result};
use crate::http::{Body, Request, SystemClient};
use crate::json::{Scalar, get_path, records};
use crate::redact::redact_url;
use crate::sink::Accumulator;

const START: &str = "{incremental.start_value}";
const CURSOR: &str = "{cursor}";
const KEYSET: &str = pslake_core::pipeline::KEYSET_PLACEHOLDER;
const KEYSET_ENCODED: &str = "%7Bkeyset.last%7D";

/// A fetched page.
pub(crate) struct Page {
    pub(crate) body: Bytes,
    pub(crate) url: String,
    pub(crate) extracted_at: i64,
    /// The cursor column of the page's parameter set (`None`: the stream's).
    pub(crate) cursor_column: Option<usize>,
}

/// Runs the stream's requests and feeds every page into `acc`.
pub(crate) async fn run(
    client: &SystemClient,
    plan: Arc<StreamPlan>,
    start_value: Option<String>,
    min_cursor: Option<i64>,
    acc: &mut Accumulator,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Page>(client_concurrency(client) + 1);
    let producer = async {
        let r = produce(client, &plan, start_value.as_deref(), &tx).await;
        drop(tx);
        r
    };
    let consumer = async {
        let pages = stream::poll_fn(|cx| rx.poll_recv(cx));
        let plan2 = plan.clone();
        let mut decoded = pages
            .map(move |page| {
                let plan = plan2.clone();
                tokio::task::spawn_blocking(move || decode(&plan, page, min_cursor))
            })
            .buffered(2);
        while let Some(r) = decoded.next().await {
            let (mut out, url) = r.map_err(|e| Error::Task(e.to_string()))??;
            acc.pages += 1;
            acc.absorb(&plan, &mut out).await.map_err(|e| match e {
                Error::Page { message, .. } => Error::Page {
                    url: url.clone(),
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

fn client_concurrency(c: &SystemClient) -> usize {
    c.concurrency()
}

pub(crate) fn decode(
    plan: &StreamPlan,
    page: Page,
    min_cursor: Option<i64>,
) -> Result<(PageOutcome, String)> {
    let text = std::str::from_utf8(&page.body).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: format!("body is not UTF-8: {e}"),
    })?;
    let root: &RawValue = serde_json::from_str(text).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: format!("body is not JSON: {e}"),
    })?;
    let recs = records(root, &plan.stream.records).map_err(|message| Error::Page {
        url: page.url.clone(),
        message,
    })?;
    let mut out = plan.outcome();
    for r in recs {
        plan.push(
            &mut out,
            r,
            page.extracted_at,
            None,
            min_cursor,
            page.cursor_column,
        );
    }
    Ok((out, page.url))
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
struct Template {
    method: Method,
    url: Url,
    params: Vec<(String, String)>,
    json: Option<serde_json::Value>,
    headers: Vec<(String, String)>,
    /// The parameter set's cursor column (declared `param_set_cursors`).
    cursor_column: Option<usize>,
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
            cursor_column: self.cursor_column,
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

/// The key of the last record of a page.
fn last_key(plan: &StreamPlan, page: &Page, key: &JsonPath) -> Result<String> {
    let root: &RawValue = serde_json::from_slice(&page.body).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: e.to_string(),
    })?;
    let recs = records(root, &plan.stream.records).map_err(|message| Error::Page {
        url: page.url.clone(),
        message,
    })?;
    let v = match recs.last() {
        Some(r) => get_path(r, key).map_err(|e| Error::Page {
            url: page.url.clone(),
            message: e.to_string(),
        })?,
        None => None,
    };
    v.and_then(|r| Scalar::of(r).ok())
        .and_then(|s| s.text().map(|t| t.into_owned()))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Page {
            url: page.url.clone(),
            message: format!(
                "keyset paging: the last record of the page has no key at `{}`",
                key.0.join(".")
            ),
        })
}

/// Pages one query by offset. With a cap (`max_offset`, key path), stops before an offset at
/// or past the cap and, when the query has more results than that, returns the last key seen.
async fn offset_query(
    client: &SystemClient,
    plan: &StreamPlan,
    t: &Template,
    o: &OffsetPaging<'_>,
    cap: Option<(u64, &JsonPath)>,
    tx: &mpsc::Sender<Page>,
) -> Result<Option<String>> {
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
    let first = fetch(client, &req_at(0)).await?;
    let total = match o.total_path {
        Some(p) => number(&first, "total", scalar_at(&first, p)?)?,
        None => None,
    };
    if let Some(total) = total {
        let offsets: Vec<u64> = (1..)
            .map(|i| i * limit)
            .take_while(|o| *o < total && *o < max)
            .collect();
        // A total at the cap may itself be capped: one more window tells (it comes back empty
        // when the table held exactly that many).
        let capped = total >= max;
        // The last page is held back until its key is read.
        let mut held = first;
        let mut pages = stream::iter(offsets)
            .map(|o| {
                let r = req_at(o);
                async move { fetch(client, &r).await }
            })
            .buffered(client.concurrency());
        while let Some(p) = pages.next().await {
            send(tx, t, std::mem::replace(&mut held, p?)).await?;
        }
        let key = match cap {
            Some((_, k)) if capped => Some(last_key(plan, &held, k)?),
            _ => None,
        };
        send(tx, t, held).await?;
        return Ok(key);
    }
    let mut page = first;
    let mut offset = 0;
    loop {
        let more = match o.has_more_path {
            Some(h) => scalar_at(&page, h)?.is_some_and(|v| v == "true"),
            None => record_count(plan, &page)? as u64 >= limit,
        };
        // At the cap, a full page may hide more even when the API says none (a capped
        // has-more): with a keyset, the next window tells.
        let at_cap = offset + limit >= max;
        let full = at_cap && cap.is_some() && record_count(plan, &page)? as u64 >= limit;
        if (more || full) && at_cap {
            let key = match cap {
                Some((_, k)) => Some(last_key(plan, &page, k)?),
                None => None,
            };
            send(tx, t, page).await?;
            return Ok(key);
        }
        send(tx, t, page).await?;
        if !more {
            return Ok(None);
        }
        offset += limit;
        page = fetch(client, &req_at(offset)).await?;
    }
}

/// Sends every page of the stream's requests (each parameter set, all pages) into `tx`.
pub(crate) async fn produce(
    client: &SystemClient,
    plan: &StreamPlan,
    start: Option<&str>,
    tx: &mpsc::Sender<Page>,
) -> Result<()> {
    let ep = &plan.stream.endpoint;
    let base = client.base_url().await?;
    let url = client.resolve(&base, &fill(&ep.path, start))?;
    let sets: Vec<BTreeMap<String, String>> = if ep.param_sets.is_empty() {
        vec![BTreeMap::new()]
    } else {
        ep.param_sets.clone()
    };
    for set in sets {
        let cursor_column = plan
            .stream
            .incremental
            .as_ref()
            .map(|inc| inc.column_for(&set));
        let mut params: BTreeMap<String, String> = ep.params.clone();
        params.extend(set);
        let t = Template {
            method: ep.method,
            url: url.clone(),
            params: params
                .iter()
                .map(|(k, v)| (k.clone(), fill(v, start)))
                .collect(),
            json: ep.json.as_ref().map(|j| fill_json(j, start)),
            headers: ep
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cursor_column,
        };
        page_through(client, plan, &base, &t, tx).await?;
    }
    Ok(())
}

async fn fetch(client: &SystemClient, req: &Request) -> Result<Page> {
    let body = client.fetch_json(req).await?;
    Ok(Page {
        body,
        url: redact_url(&req.url),
        extracted_at: chrono::Utc::now().timestamp_micros(),
        cursor_column: None,
    })
}

async fn send(tx: &mpsc::Sender<Page>, t: &Template, mut page: Page) -> Result<()> {
    page.cursor_column = t.cursor_column;
    // The receiver only goes away when the consumer failed; its error is reported instead.
    tx.send(page)
        .await
        .map_err(|_| Error::Task("page consumer stopped".into()))
}

/// Reads a scalar at `path` of a page.
fn scalar_at(page: &Page, path: &pslake_core::pipeline::JsonPath) -> Result<Option<String>> {
    let root: &RawValue = serde_json::from_slice(&page.body).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: e.to_string(),
    })?;
    let v = get_path(root, path).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: e.to_string(),
    })?;
    Ok(v.and_then(|r| Scalar::of(r).ok())
        .and_then(|s| s.text().map(|t| t.into_owned())))
}

fn record_count(plan: &StreamPlan, page: &Page) -> Result<usize> {
    let root: &RawValue = serde_json::from_slice(&page.body).map_err(|e| Error::Page {
        url: page.url.clone(),
        message: e.to_string(),
    })?;
    records(root, &plan.stream.records)
        .map(|r| r.len())
        .map_err(|message| Error::Page {
            url: page.url.clone(),
            message,
        })
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
    client: &SystemClient,
    plan: &StreamPlan,
    base: &Url,
    t: &Template,
    tx: &mpsc::Sender<Page>,
) -> Result<()> {
    let conc = client.concurrency();
    match &plan.stream.paginator {
        Paginator::None => send(tx, t, fetch(client, &t.request(&[], &[])).await?).await,
        Paginator::NextUrl { path, done_path } => {
            let mut req = t.request(&[], &[]);
            loop {
                let page = fetch(client, &req).await?;
                let next = scalar_at(&page, path)?;
                let done = match done_path {
                    Some(d) => scalar_at(&page, d)?.is_some_and(|v| v == "true"),
                    None => false,
                };
                send(tx, t, page).await?;
                match next {
                    Some(n) if !done && !n.is_empty() => {
                        let url = client.resolve(base, &n)?;
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
                method: t.method,
                url: t.url.clone(),
                json: t.json.clone(),
                headers: t.headers.clone(),
                cursor_column: t.cursor_column,
            };
            let mut req = first.request(&[], &[]);
            let mut seen = std::collections::HashSet::new();
            loop {
                let page = fetch(client, &req).await?;
                let next = scalar_at(&page, path)?;
                send(tx, t, page).await?;
                match next {
                    Some(c) if !c.is_empty() => {
                        if !seen.insert(c.clone()) {
                            return Err(Error::Page {
                                url: redact_url(&req.url),
                                message: format!("the cursor `{c}` repeats: the API is looping"),
                            });
                        }
                        req = if uses_placeholder {
                            let filled = Template {
                                params: t
                                    .params
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.replace(CURSOR, &c)))
                                    .collect(),
                                method: t.method,
                                url: t.url.clone(),
                                json: t.json.clone(),
                                headers: t.headers.clone(),
                                cursor_column: t.cursor_column,
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
                return offset_query(client, plan, t, &o, None, tx)
                    .await
                    .map(|_| ());
            };
            // One query per keyset window: each pages by offset up to the cap, and the next
            // starts after the last key seen (the query orders by the key).
            let mut last = ks.start.clone();
            loop {
                let q = t.with_keyset(&last);
                let Some(key) =
                    offset_query(client, plan, &q, &o, Some((ks.max_offset, &ks.key)), tx).await?
                else {
                    return Ok(());
                };
                if !key_after(&key, &last) {
                    return Err(Error::Page {
                        url: redact_url(&q.url),
                        message: format!(
                            "keyset paging made no progress: the last key `{key}` is not after `{last}` (the query must order by the key, ascending)"
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
            let first = fetch(client, &req_at(*start)).await?;
            let total = match total_pages_path {
                Some(p) => number(&first, "page count", scalar_at(&first, p)?)?,
                None => None,
            };
            if let Some(total) = total {
                send(tx, t, first).await?;
                let last = start + total.saturating_sub(1);
                let mut pages = stream::iter((start + 1)..=last)
                    .map(|n| {
                        let r = req_at(n);
                        async move { fetch(client, &r).await }
                    })
                    .buffered(conc);
                while let Some(p) = pages.next().await {
                    send(tx, t, p?).await?;
                }
                return Ok(());
            }
            let mut page = first;
            let mut n = *start;
            loop {
                let empty = record_count(plan, &page)? == 0;
                send(tx, t, page).await?;
                if empty {
                    return Ok(());
                }
                n += 1;
                page = fetch(client, &req_at(n)).await?;
            }
        }
    }
}
