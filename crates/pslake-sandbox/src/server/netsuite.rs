//! NetSuite SuiteQL over REST: `POST /services/rest/query/v1/suiteql?limit=N&offset=M`.
//!
//! Needs `Prefer: transient` and a bearer token. `limit` is 1 to 1000 (default 1000). The query
//! is real SuiteQL run by DataFusion over the fixture tables (`customer`, `job`, `currency`,
//! `transaction`, `transactionline`; see [`super::netsuite_sql`]): joins, `IN`, `COALESCE`,
//! `TO_CHAR`, `TO_DATE`, `TO_TIMESTAMP` and `BUILTIN.DF` work; a query that does not plan or run
//! is a NetSuite-shaped 400. One query yields at most 100,000 results
//! (`SandboxConfig::netsuite_max_results`): an `offset` at or past the cap is a 400, and the pages
//! stop there (`totalResults` and `hasMore` still tell the whole result; `WHERE id > <last id>
//! ORDER BY id` reaches the rest). Without `ORDER BY` rows come in the tables' order. A query's
//! result is computed once and its pages served from a small cache keyed by the query text.
//! Items carry `"links":[]` first, then the selected columns as strings (NULLs omitted; dates
//! not formatted by `TO_CHAR` in the account's date-format preference,
//! `SandboxConfig::netsuite_date_format`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::faults::json_response;
use super::json;
use super::netsuite_sql::{DateFormat, Engine, QueryResult};
use super::{AppState, bearer, query_pairs};

/// At most this many results per SuiteQL query (SPEC section 2).
pub(crate) const MAX_RESULTS: usize = 100_000;

/// How many query results the sandbox keeps for paging.
const CACHED_RESULTS: usize = 4;

/// The SuiteQL engine (built on the first query) and the results being paged through.
#[derive(Debug)]
pub(crate) struct NsQueries {
    format: DateFormat,
    engine: OnceCell<Result<Arc<Engine>, String>>,
    cache: Mutex<VecDeque<(String, Arc<QueryResult>)>>,
}

impl NsQueries {
    pub(crate) fn new(format: DateFormat) -> Self {
        NsQueries {
            format,
            engine: OnceCell::new(),
            cache: Mutex::new(VecDeque::new()),
        }
    }

    async fn engine(&self, state: &Arc<AppState>) -> Result<Arc<Engine>, String> {
        let format = self.format;
        let st = state.clone();
        self.engine
            .get_or_init(|| async move {
                match tokio::task::spawn_blocking(move || Engine::new(&st.store, format)).await {
                    Ok(r) => r.map(Arc::new),
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
            })
            .await
            .clone()
    }

    /// The result of `q` (its first `keep` items written), from the cache or run now.
    async fn result(
        &self,
        state: &Arc<AppState>,
        q: &str,
        keep: usize,
    ) -> Result<Arc<QueryResult>, String> {
        {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pos) = c.iter().position(|(k, _)| k == q) {
                let hit = c.remove(pos).expect("position is in range");
                let v = hit.1.clone();
                c.push_front(hit);
                return Ok(v);
            }
        }
        let engine = self.engine(state).await?;
        let r = Arc::new(engine.run(q, keep).await?);
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.push_front((q.to_owned(), r.clone()));
        c.truncate(CACHED_RESULTS);
        Ok(r)
    }
}

fn ns_error(status: StatusCode, title: &str, code: &str, detail: &str) -> Response {
    let section = match status.as_u16() {
        400 => "15.5.1",
        401 => "15.5.2",
        404 => "15.5.5",
        _ => "15.6.1",
    };
    let body = serde_json::json!({
        "type": format!("https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"),
        "title": title,
        "status": status.as_u16(),
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    });
    json_response(status, body.to_string())
}

fn bad_request(code: &str, detail: &str) -> Response {
    ns_error(StatusCode::BAD_REQUEST, "Bad Request", code, detail)
}

fn bad_query(detail: &str) -> Response {
    bad_request(
        "INVALID_PARAMETER",
        &format!("Invalid search query. Detailed unprocessed description follows. {detail}"),
    )
}

/// `POST /services/rest/query/v1/suiteql`.
pub(crate) async fn suiteql(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let authorized =
        bearer(&headers).is_some_and(|t| t == state.creds.netsuite_token || state.ns_auth.valid(t));
    if !authorized {
        let mut r = ns_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer error="invalid_token", error_description="Invalid login attempt.""#,
            ),
        );
        return r;
    }
    let transient = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("transient"))
        });
    if !transient {
        return bad_request(
            "INVALID_HEADER",
            "Invalid 'Prefer' header. SuiteQL queries require the header 'Prefer: transient'.",
        );
    }
    let params = query_pairs(raw.as_deref().unwrap_or(""));
    let limit = match params.get("limit").map(|s| s.trim().parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return bad_request(
                "INVALID_PARAMETER",
                "Invalid value for the query parameter 'limit'. Provide a value between 1 and 1000.",
            );
        }
    };
    let offset = match params.get("offset").map(|s| s.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return bad_request(
                "INVALID_PARAMETER",
                "Invalid value for the query parameter 'offset'. Provide a non-negative integer.",
            );
        }
    };
    let cap = state.netsuite_max_results;
    if offset >= cap {
        return bad_request(
            "INVALID_PARAMETER",
            &format!(
                "Invalid value for the query parameter 'offset'. A SuiteQL query returns at most {cap} results: provide an offset below {cap}, or narrow the query (e.g. WHERE id > <last id> ORDER BY id)."
            ),
        );
    }
    let q = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("q").and_then(Value::as_str) {
            Some(q) => q.to_string(),
            None => {
                return bad_request(
                    "INVALID_CONTENT",
                    "The request body must be {\"q\": \"<SuiteQL>\"}.",
                );
            }
        },
        Err(e) => return bad_request("INVALID_CONTENT", &format!("Invalid JSON body: {e}")),
    };
    let result = match state.ns_queries.result(&state, &q, cap).await {
        Ok(r) => r,
        Err(m) => return bad_query(&m),
    };
    // `totalResults` and `hasMore` tell the whole result; pages stop at the cap (an offset at
    // or past it is refused above), so one query never yields more than `cap` rows.
    let total = result.total;
    let start = offset.min(total);
    let end = (start + limit).min(total).min(cap);
    let has_more = end < total;
    let last_page_cap = cap.saturating_sub(1) / limit * limit;
    let href = |o: usize| {
        format!(
            "{}/services/rest/query/v1/suiteql?limit={limit}&offset={o}",
            state.base_url
        )
    };
    let mut out = Vec::with_capacity(256 + (end - start) * 300);
    out.extend_from_slice(b"{\"links\":[");
    let mut links: Vec<(&str, String)> = Vec::new();
    if start > 0 {
        links.push(("previous", href(start.saturating_sub(limit))));
        links.push(("first", href(0)));
    }
    if has_more && end < cap {
        links.push(("next", href(end)));
    }
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / limit * limit).min(last_page_cap)
    };
    links.push(("last", href(last)));
    links.push(("self", href(offset)));
    for (n, (rel, h)) in links.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"rel\":");
        json::push_str(&mut out, rel);
        out.extend_from_slice(b",\"href\":");
        json::push_str(&mut out, h);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"count\":");
    json::push_u(&mut out, (end - start) as u64);
    out.extend_from_slice(if has_more {
        b",\"hasMore\":true"
    } else {
        b",\"hasMore\":false"
    });
    out.extend_from_slice(b",\"items\":[");
    let items = result.items.get(start..end).unwrap_or_default();
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"links\":[]");
        out.extend_from_slice(item);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"offset\":");
    json::push_u(&mut out, offset as u64);
    out.extend_from_slice(b",\"totalResults\":");
    json::push_u(&mut out, total as u64);
    out.push(b'}');
    json_response(StatusCode::OK, out)
}
