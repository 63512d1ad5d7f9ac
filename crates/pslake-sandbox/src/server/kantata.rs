//! Kantata (Mavenlink) API v1: `GET /api/v1/{resource}.json?page=N&per_page=M&updated_after=T`.
//!
//! Resources `workspaces, users, time_entries, allocations, stories`, ordered by id
//! (numeric-aware, stable). `page` is 1-based (default 1); `per_page` defaults to 20 and is capped
//! at 2000. `updated_after` (ISO 8601, any offset) keeps records whose `updated_at` is strictly
//! later, compared as instants. The envelope is `{count, results:[{key,id}], <resource>:{id:
//! record}, meta:{count, page_count, page_number, page_size}}`, records spliced raw.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::faults::json_response;
use super::json;
use super::{AppState, bearer, query_pairs};

const RESOURCES: &[&str] = &[
    "workspaces",
    "users",
    "time_entries",
    "allocations",
    "stories",
];

/// The largest `per_page` served.
const MAX_PER_PAGE: usize = 2000;

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"errors\":[{\"type\":");
    json::push_str(&mut out, kind);
    out.extend_from_slice(b",\"message\":");
    json::push_str(&mut out, message);
    out.extend_from_slice(b"}]}");
    json_response(status, out)
}

/// `GET /api/v1/{resource}.json`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if bearer(&headers) != Some(state.creds.kantata_token.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication",
            "Authentication failed: the access token is missing, invalid or expired.",
        );
    }
    let name = resource.strip_suffix(".json").unwrap_or(&resource);
    let Some(&name) = RESOURCES.iter().find(|r| **r == name) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no route matches /api/v1/{resource}"),
        );
    };
    let Some(table) = state.store.table("kantata", name) else {
        return error(StatusCode::NOT_FOUND, "not_found", "unknown resource");
    };
    let params = query_pairs(raw.as_deref().unwrap_or(""));
    let num = |k: &str, default: usize| -> Option<usize> {
        match params.get(k).map(|v| v.trim().parse::<usize>()) {
            None => Some(default),
            Some(Ok(n)) if n >= 1 => Some(n),
            Some(_) => None,
        }
    };
    let (Some(page), Some(per_page)) = (num("page", 1), num("per_page", 20)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "validation",
            "page and per_page must be positive integers",
        );
    };
    let per_page = per_page.min(MAX_PER_PAGE);
    let rows = match params.get("updated_after").filter(|v| !v.trim().is_empty()) {
        None => table.by_id.clone(),
        Some(v) => {
            let Some(after) = json::parse_instant(v) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "validation",
                    &format!("updated_after '{v}' is not an ISO 8601 datetime"),
                );
            };
            let st = state.clone();
            state
                .cache
                .get_or_compute(
                    format!("kantata|{name}|{after}"),
                    table.len() > 50_000,
                    move || {
                        let Some(t) = st.store.table("kantata", name) else {
                            return Vec::new();
                        };
                        t.by_id
                            .iter()
                            .copied()
                            .filter(|&i| {
                                let c = t.rec(i).cursor;
                                c != i64::MIN && c > after
                            })
                            .collect()
                    },
                )
                .await
        }
    };
    let total = rows.len();
    let page_count = total.div_ceil(per_page);
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = (start + per_page).min(total);
    let slice = &rows[start..end];
    let mut results = Vec::with_capacity(slice.len() * 40);
    let mut objects = Vec::with_capacity(slice.len() * 300);
    for (n, &i) in slice.iter().enumerate() {
        if n > 0 {
            results.push(b',');
            objects.push(b',');
        }
        let id = &table.rec(i).id;
        results.extend_from_slice(b"{\"key\":\"");
        results.extend_from_slice(name.as_bytes());
        results.extend_from_slice(b"\",\"id\":");
        id.push_json(&mut results);
        results.push(b'}');
        id.push_json(&mut objects);
        objects.push(b':');
        objects.extend_from_slice(table.raw(i));
    }
    let mut out = Vec::with_capacity(results.len() + objects.len() + 160);
    out.extend_from_slice(b"{\"count\":");
    json::push_u(&mut out, total as u64);
    out.extend_from_slice(b",\"results\":[");
    out.extend_from_slice(&results);
    out.extend_from_slice(b"],\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":{");
    out.extend_from_slice(&objects);
    out.extend_from_slice(b"},\"meta\":{\"count\":");
    json::push_u(&mut out, total as u64);
    out.extend_from_slice(b",\"page_count\":");
    json::push_u(&mut out, page_count as u64);
    out.extend_from_slice(b",\"page_number\":");
    json::push_u(&mut out, page as u64);
    out.extend_from_slice(b",\"page_size\":");
    json::push_u(&mut out, per_page as u64);
    out.extend_from_slice(b"}}");
    json_response(StatusCode::OK, out)
}
