//! Workday RaaS reports and the treasury drop folder.
//!
//! - `GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json`, HTTP Basic, for
//!   reports `Workers`, `Time_Off`, `Holidays` and `Worker_History` (SPEC section 4b; any tenant
//!   and owner): `{"Report_Entry":[...]}`, the whole report, entries in file order (a report
//!   whose fixture file is missing is empty). Another `format` (or none, which is XML at
//!   Workday) gets 400; an unknown report 404.
//! - `GET /treasury/`: a JSON array of `{name, size, last_modified}` of the `fx_rates_*.csv` files
//!   now in `<fixtures>/treasury/` (listed on each request, so files dropped later appear);
//!   `GET /treasury/{name}` returns one file as `text/csv`.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;

use super::error::{Error, Result};
use super::faults::json_response;
use super::json;
use super::{AppState, query_pairs};
use crate::layout::TREASURY_DIR;

const REPORTS: &[&str] = &["Workers", "Time_Off", "Holidays", "Worker_History"];

fn error(status: StatusCode, message: &str) -> Response {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"error\":");
    json::push_str(&mut out, message);
    out.push(b'}');
    json_response(status, out)
}

fn basic_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, b64)) = v.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    decoded
        .split_once(':')
        .is_some_and(|(u, p)| u == state.creds.workday_user && p == state.creds.workday_password)
}

/// `GET /ccx/service/customreport2/{tenant}/{owner}/{report}`.
pub(crate) async fn report(
    State(state): State<Arc<AppState>>,
    Path((_tenant, _owner, report)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !basic_ok(&state, &headers) {
        let mut r = error(StatusCode::UNAUTHORIZED, "invalid username or password");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Workday\""),
        );
        return r;
    }
    let Some(&name) = REPORTS.iter().find(|r| **r == report) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("report '{report}' not found"),
        );
    };
    let params = query_pairs(raw.as_deref().unwrap_or(""));
    if !params
        .get("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("json"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "the sandbox serves format=json only",
        );
    }
    let Some(table) = state.store.table("workday", name) else {
        return error(StatusCode::NOT_FOUND, "report not found");
    };
    let mut out = Vec::with_capacity(32 + table.len() * 300);
    out.extend_from_slice(b"{\"Report_Entry\":[");
    let mut records = table.reader();
    for (n, &i) in table.by_id.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(records.raw(i));
    }
    out.extend_from_slice(b"]}");
    json_response(StatusCode::OK, out)
}

fn is_fx_file(name: &str) -> bool {
    let Some(mid) = name
        .strip_prefix("fx_rates_")
        .and_then(|r| r.strip_suffix(".csv"))
    else {
        return false;
    };
    let b = mid.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
}

/// At start: every `fx_rates_*.csv` present must begin with the header `currency,month,usd_per_unit`.
pub(crate) fn check_treasury(dir: &FsPath) -> Result<()> {
    let tdir = dir.join(TREASURY_DIR);
    if !tdir.is_dir() {
        return Ok(());
    }
    for entry in fs_err::read_dir(&tdir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !is_fx_file(name) {
            continue;
        }
        let text = fs_err::read(&path)?;
        let header = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let header = String::from_utf8_lossy(header);
        if header.trim().trim_start_matches('\u{feff}') != "currency,month,usd_per_unit" {
            return Err(Error::FixtureFile {
                path,
                message: format!(
                    "expected the header 'currency,month,usd_per_unit', found '{}'",
                    header.trim()
                ),
            });
        }
    }
    Ok(())
}

/// `GET /treasury/`.
pub(crate) async fn treasury_list(State(state): State<Arc<AppState>>) -> Response {
    let tdir = state.store.dir.join(TREASURY_DIR);
    let mut files = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(&tdir).await {
        while let Ok(Some(entry)) = rd.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_fx_file(&name) {
                continue;
            }
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            let modified = meta.modified().ok().map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            });
            files.push(serde_json::json!({
                "name": name,
                "size": meta.len(),
                "last_modified": modified,
            }));
        }
    }
    files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json_response(StatusCode::OK, serde_json::Value::Array(files).to_string())
}

/// `GET /treasury/{file}`.
pub(crate) async fn treasury_file(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
) -> Response {
    if !is_fx_file(&file) {
        return error(StatusCode::NOT_FOUND, "no such file");
    }
    match tokio::fs::read(state.store.dir.join(TREASURY_DIR).join(&file)).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            r
        }
        Err(_) => error(StatusCode::NOT_FOUND, "no such file"),
    }
}
