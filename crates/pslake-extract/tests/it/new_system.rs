//! Two systems the product has no Rust for, served by a small axum app, declared in YAML only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pslake_extract::{ExtractOptions, extract};
use serde_json::json;

use crate::common::*;

const TIME_ENTRIES: usize = 7;
const OPPORTUNITIES: usize = 5;

#[derive(Clone)]
struct App {
    base: String,
    calls: Arc<AtomicU64>,
}

async fn harvest(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer harvest-pat-123")
        || headers
            .get("harvest-account-id")
            .and_then(|v| v.to_str().ok())
            != Some("42")
    {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    // the first call is rate limited, with Retry-After
    if app.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            "{\"message\":\"slow down\"}",
        )
            .into_response();
    }
    let since = q.get("updated_since").cloned().unwrap_or_default();
    assert_eq!(
        since, "2026-01-01T00:00:00Z",
        "the start value reaches the API"
    );
    let from: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let per_page = 3;
    let entries: Vec<_> = (from..(from + per_page).min(TIME_ENTRIES))
        .map(|i| {
            json!({"id": 1000 + i, "spent_date": format!("2026-03-{:02}", i + 1), "hours": 1.5 + i as f64,
                   "billable": i % 2 == 0, "project": {"id": 7, "name": "Apollo"},
                   "updated_at": format!("2026-03-{:02}T10:00:00Z", i + 1)})
        })
        .collect();
    let next = (from + per_page < TIME_ENTRIES).then(|| {
        format!(
            "{}/v2/time_entries?cursor={}&per_page=3&updated_since={since}",
            app.base,
            from + per_page
        )
    });
    axum::Json(json!({"time_entries": entries, "per_page": per_page, "links": {"next": next}}))
        .into_response()
}

async fn token(body: String) -> Response {
    if body.contains("client_secret=dyn-secret") && body.contains("grant_type=client_credentials") {
        axum::Json(
            json!({"access_token": "dyn-access", "token_type": "Bearer", "expires_in": 3599}),
        )
        .into_response()
    } else {
        (StatusCode::BAD_REQUEST, "{\"error\":\"invalid_client\"}").into_response()
    }
}

async fn dynamics(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer dyn-access") {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let rows: Vec<_> = (skip..(skip + 2).min(OPPORTUNITIES))
        .map(|i| {
            json!({"@odata.etag": "W/\"1\"", "opportunityid": format!("6f1a3c2e-0000-0000-0000-00000000000{i}"),
                   "name": format!("Deal {i}"), "estimatedvalue": 1000.25 * (i as f64 + 1.0), "statecode": 1,
                   "modifiedon": format!("2026-03-0{}T05:31:56Z", i + 1)})
        })
        .collect();
    let mut body = json!({"@odata.context": "ctx", "value": rows});
    if skip + 2 < OPPORTUNITIES {
        body["@odata.nextLink"] = json!(format!(
            "{}/api/data/v9.2/opportunities?$select=name&$skiptoken={}",
            app.base,
            skip + 2
        ));
    }
    axum::Json(body).into_response()
}

const PIPELINE: &str = r#"
name: new-systems
lake: ${NEW_SYSTEM_LAKE}
secrets_file: ${NEW_SYSTEM_SECRETS}
systems:
  - name: harvest
    type: rest
    client:
      base_url: ${NEW_SYSTEM_URL}
      auth: {type: bearer, token: "${secret:HARVEST_TOKEN}"}
      headers: {Harvest-Account-Id: "42", User-Agent: "pslake test"}
      rate_limit: 100
      retry: {max_attempts: 3, initial_backoff: 10ms}
    resources:
      - name: time_entries
        endpoint:
          path: /v2/time_entries
          params: {per_page: "3", updated_since: "{incremental.start_value}"}
        paginator: {type: next_url, path: links.next}
        records: {path: time_entries}
        incremental: {cursor: updated_at, initial_value: "2026-01-01T00:00:00Z"}
        primary_key: [id]
        columns:
          - {name: id, type: string, required: true}
          - {name: spent_date, type: date}
          - {name: hours, type: "decimal(10,2)"}
          - {name: billable, type: boolean}
          - {name: project_name, path: project.name, type: string}
          - {name: updated_at, type: timestamp}
  - name: dynamics
    type: rest
    client:
      base_url: ${NEW_SYSTEM_URL}
      auth:
        type: oauth2_client_credentials
        token_url: /tenant/oauth2/v2.0/token
        client_id: dyn-client
        client_secret: ${secret:DYNAMICS_SECRET}
        scope: https://org.crm.dynamics.com/.default
      concurrency: 1                      # the token fetch must not wait for the request's own permit
    resources:
      - name: opportunities
        endpoint:
          path: /api/data/v9.2/opportunities
          params: {$select: "name,estimatedvalue,statecode,modifiedon"}
          headers: {Prefer: "odata.maxpagesize=2"}
        paginator: {type: next_url, path: "['@odata.nextLink']"}
        records: {path: value, strip: ["@odata.etag"]}
        primary_key: [opportunityid]
        columns:
          - {name: opportunityid, type: string, required: true}
          - {name: name, type: string}
          - {name: estimatedvalue, type: "decimal(18,4)"}
          - {name: statecode, type: integer}
          - {name: modifiedon, type: timestamp}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harvest_and_dynamics_from_yaml_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = App {
        base: base.clone(),
        calls: Arc::new(AtomicU64::new(0)),
    };
    let router = Router::new()
        .route("/v2/time_entries", get(harvest))
        .route("/tenant/oauth2/v2.0/token", post(token))
        .route("/api/data/v9.2/opportunities", get(dynamics))
        .with_state(app.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let tmp = tempfile::tempdir().unwrap();
    let secrets = tmp.path().join("secrets.env");
    std::fs::write(
        &secrets,
        "HARVEST_TOKEN=harvest-pat-123\nDYNAMICS_SECRET=dyn-secret\n",
    )
    .unwrap();
    let lake_dir = tmp.path().join("lake");
    let text = PIPELINE
        .replace("${NEW_SYSTEM_LAKE}", lake_dir.to_str().unwrap())
        .replace("${NEW_SYSTEM_SECRETS}", secrets.to_str().unwrap())
        .replace("${NEW_SYSTEM_URL}", &base);
    let (p, lake) = load_yaml(tmp.path(), &text);
    let r = extract(&p, &lake, &ExtractOptions::new()).await.unwrap();
    assert!(r.is_success(), "{:#?}", r.failed().collect::<Vec<_>>());

    let h = &r.streams[0];
    assert_eq!(
        (h.received, h.landed, h.pages),
        (TIME_ENTRIES as u64, TIME_ENTRIES as u64, 3)
    );
    assert!(h.retries >= 1, "the 429 was retried");
    assert_eq!(
        h.cursor_after.as_deref(),
        Some("2026-03-07T10:00:00.000000Z")
    );
    let got = query_strings(&lake, "SELECT id || '|' || CAST(hours AS VARCHAR) || '|' || project_name FROM raw.harvest_time_entries ORDER BY id").await;
    assert_eq!(got[0], "1000|1.50|Apollo");
    assert_eq!(got.len(), TIME_ENTRIES);

    let d = &r.streams[1];
    assert_eq!(
        (d.received, d.landed, d.pages),
        (OPPORTUNITIES as u64, OPPORTUNITIES as u64, 3)
    );
    let got = query_strings(&lake, "SELECT CAST(estimatedvalue AS VARCHAR) || '|' || _raw FROM raw.dynamics_opportunities ORDER BY opportunityid LIMIT 1").await;
    assert!(
        got[0].starts_with("1000.2500|{\"opportunityid\""),
        "{}",
        got[0]
    );
    assert!(!got[0].contains("@odata.etag"));
    server.abort();
}
