//! Kantata (Mavenlink) API v1: `GET /api/v1/{resource}.json?page=N&per_page=M&updated_after=T`.
//!
//! Resources `workspaces, users, time_entries, workspace_resources, workspace_allocations,
//! stories` (SPEC section 2), ordered by id (numeric-aware, stable). `page` is 1-based (default
//! 1); `per_page` defaults to 20, and one above 200 is silently clamped to 200 (SPEC section 2;
//! `meta.page_size` says what was served). `updated_after` (ISO 8601, any offset) keeps records
//! whose `updated_at` is strictly later, compared as instants. The envelope is `{count,
//! results:[{key,id}], <resource>:{id: record}, meta:{count, page_count, page_number,
//! page_size}}`, records spliced raw.
//!
//! Archived and deleted records are left out unless the request asks for them, as the real API
//! does (source_apis.md 5A: taps pass `include_archived=true` on `workspaces`,
//! `from_archived_workspaces=true` on `time_entries`, `show_archived` and `show_deleted` on
//! `stories`, whose records carry `archived` and `deleted_at`):
//! - `workspaces`: an `archived: true` workspace only with `include_archived=true`;
//! - `time_entries`: an entry on an archived workspace only with `from_archived_workspaces=true`;
//! - `stories`: an `archived: true` story only with `show_archived=true`, a story with a
//!   `deleted_at` only with `show_deleted=true`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::faults::json_response;
use super::json;
use super::store::Store;
use super::{AppState, bearer, query_pairs};

const RESOURCES: &[&str] = &[
    "workspaces",
    "users",
    "time_entries",
    "workspace_resources",
    "workspace_allocations",
    "stories",
];

/// The largest `per_page` served; a larger one is clamped to it without an error.
const MAX_PER_PAGE: usize = 200;

/// Whether query parameter `key` is `true` (or `1`).
fn asks(params: &HashMap<String, String>, key: &str) -> bool {
    params
        .get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

/// What a request leaves out of `name` (each `true` hides those records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hide {
    archived: bool,
    deleted: bool,
    on_archived_workspace: bool,
}

impl Hide {
    fn of(name: &str, params: &HashMap<String, String>) -> Hide {
        Hide {
            archived: match name {
                "workspaces" => !asks(params, "include_archived"),
                "stories" => !asks(params, "show_archived"),
                _ => false,
            },
            deleted: name == "stories" && !asks(params, "show_deleted"),
            on_archived_workspace: name == "time_entries"
                && !asks(params, "from_archived_workspaces"),
        }
    }

    fn any(self) -> bool {
        self.archived || self.deleted || self.on_archived_workspace
    }
}

/// Whether a raw JSON value is set: neither absent, `null`, `false` nor `""`.
fn set(raw: Option<&[u8]>) -> bool {
    raw.is_some_and(|v| !matches!(v, b"null" | b"false" | b"\"\""))
}

/// The ids of the archived workspaces.
fn archived_workspaces(store: &Store) -> HashSet<String> {
    let Some(t) = store.table("kantata", "workspaces") else {
        return HashSet::new();
    };
    let mut rows = t.reader();
    t.by_id
        .iter()
        .filter(|&&i| json::member(rows.raw(i), "archived") == Some(b"true".as_slice()))
        .map(|&i| t.id(i).to_string())
        .collect()
}

/// The records of `name` a request sees: updated after `after` (when given), minus what `hide`
/// leaves out, in id order.
fn visible(store: &Store, name: &str, after: Option<i64>, hide: Hide) -> Vec<u32> {
    let Some(t) = store.table("kantata", name) else {
        return Vec::new();
    };
    let archived_ws = if hide.on_archived_workspace {
        archived_workspaces(store)
    } else {
        HashSet::new()
    };
    let mut rows = t.reader();
    t.by_id
        .iter()
        .copied()
        .filter(|&i| {
            if let Some(after) = after {
                let c = t.cursor(i);
                if c == i64::MIN || c <= after {
                    return false;
                }
            }
            if !hide.any() {
                return true;
            }
            let raw = rows.raw(i);
            let members = json::members(raw);
            let get = |k: &str| members.iter().find(|m| m.key == k).map(|m| m.value);
            if hide.archived && get("archived") == Some(b"true".as_slice()) {
                return false;
            }
            if hide.deleted && set(get("deleted_at")) {
                return false;
            }
            if hide.on_archived_workspace
                && let Some(ws) = get("workspace_id").and_then(json::unquote)
                && archived_ws.contains(ws.as_ref())
            {
                return false;
            }
            true
        })
        .collect()
}

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
    let after = match params.get("updated_after").filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(v) => {
            let Some(after) = json::parse_instant(v) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "validation",
                    &format!("updated_after '{v}' is not an ISO 8601 datetime"),
                );
            };
            Some(after)
        }
    };
    let hide = Hide::of(name, &params);
    let rows = if after.is_none() && !hide.any() {
        table.by_id.clone()
    } else {
        let st = state.clone();
        state
            .cache
            .get_or_compute(
                format!("kantata|{name}|{after:?}|{hide:?}"),
                table.len() > 50_000,
                move || visible(&st.store, name, after, hide),
            )
            .await
    };
    let total = rows.len();
    let page_count = total.div_ceil(per_page);
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = (start + per_page).min(total);
    let slice = &rows[start..end];
    let mut records = table.reader();
    let mut results = Vec::with_capacity(slice.len() * 40);
    let mut objects = Vec::with_capacity(slice.len() * 300);
    for (n, &i) in slice.iter().enumerate() {
        if n > 0 {
            results.push(b',');
            objects.push(b',');
        }
        let id = table.id(i);
        results.extend_from_slice(b"{\"key\":\"");
        results.extend_from_slice(name.as_bytes());
        results.extend_from_slice(b"\",\"id\":");
        id.push_json(&mut results);
        results.push(b'}');
        id.push_json(&mut objects);
        objects.push(b':');
        objects.extend_from_slice(records.raw(i));
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
