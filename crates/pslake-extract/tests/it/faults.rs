use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pslake_extract::{ExtractOptions, StreamStatus, extract};
use pslake_lake::Lake;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_ride_out_rate_limits_errors_truncation_resets_and_expired_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let sb = sandbox(
        &fixtures,
        Some("rate_limit=0.04,error500=0.03,error503=0.03,truncate=0.03,reset=0.03,expire_token@salesforce=0.15,seed=11"),
    )
    .await;
    let lake_dir = tmp.path().join("lake");
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let r = run(&p, &lake, &options(false)).await;
    assert!(r.is_success(), "{:#?}", r.failed().collect::<Vec<_>>());
    let faults = sb.stats().faults.values().sum::<u64>();
    assert!(faults > 0, "faults were injected");
    assert!(r.streams.iter().map(|s| s.retries).max().unwrap_or(0) > 0);
    for s in &r.streams {
        if s.system == "treasury" {
            continue;
        }
        let n = if s.stream == "deal_history" {
            // one row per entry of the deals' property histories
            fixture_records(&fixtures, "hubspot", "deals")
                .iter()
                .flat_map(|d| d["propertiesWithHistory"].as_object().unwrap().values())
                .map(|list| list.as_array().unwrap().len() as u64)
                .sum()
        } else {
            fixture_records(&fixtures, &s.system, &s.stream).len() as u64
        };
        assert_eq!(
            s.received, n,
            "{}.{} received every record despite faults",
            s.system, s.stream
        );
        let rows: u64 = query_strings(
            &lake,
            &format!("SELECT CAST(count(*) AS VARCHAR) FROM {}", s.table),
        )
        .await[0]
            .parse()
            .unwrap();
        assert_eq!(rows, s.landed, "{}: no duplicate pages", s.table);
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stream_fails_alone_and_keeps_its_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    // every Workday request answers 500: its streams exhaust their retries
    let sb = sandbox(&fixtures, Some("error500@workday=1.0")).await;
    let lake_dir = tmp.path().join("lake");
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let mut o = options(false);
    // and Kantata refuses our token: a 401 without OAuth fails at once
    o.secrets.insert(
        "KANTATA_TOKEN".into(),
        pslake_core::Sensitive::new("not-the-kantata-token".into()),
    );
    let r = run(&p, &lake, &o).await;
    assert!(!r.is_success());
    let failed: Vec<_> = r
        .failed()
        .map(|s| format!("{}.{}", s.system, s.stream))
        .collect();
    assert_eq!(failed.len(), 10, "{failed:?}");
    for s in r.failed() {
        let StreamStatus::Failed { url, error } = &s.status else {
            unreachable!()
        };
        let url = url.as_deref().expect("the failing URL is reported");
        assert!(url.starts_with(&sb.base_url()), "{url}");
        match s.system.as_str() {
            "workday" => {
                assert!(
                    error.contains("failed after 6 attempts") && error.contains("500"),
                    "{error}"
                );
                assert!(url.contains("/ccx/service/customreport2/"), "{url}");
            }
            "kantata" => assert!(error.contains("returned 401"), "{error}"),
            other => panic!("{other} should not fail"),
        }
        assert!(
            !error.contains("not-the-kantata-token") && !error.contains("sandbox-workday-password"),
            "{error}"
        );
        assert_eq!(s.landed, 0);
    }
    // the others landed; failed streams wrote no state
    assert!(
        r.streams
            .iter()
            .filter(|s| s.status == StreamStatus::Succeeded)
            .all(|s| s.landed > 0 || s.system == "treasury")
    );
    let states = pslake_lake::ops::load_stream_states(&lake).await.unwrap();
    assert!(
        states
            .iter()
            .all(|s| s.system != "kantata" && s.system != "workday")
    );
    let runs = query_strings(&lake, "SELECT status FROM _pslake.runs").await;
    assert_eq!(runs, vec!["failed"]);
    sb.shutdown().await;
}

/// An OAuth API whose first `refused` tokens are each revoked by their first use (a 401, as
/// Salesforce answers a revoked session), so the request that holds one must renew it.
#[derive(Default)]
struct Revoking {
    refused: usize,
    issued: AtomicUsize,
    api_calls: AtomicUsize,
}

async fn issue_token(State(s): State<Arc<Revoking>>) -> Response {
    let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(json!({"access_token": format!("token-{n}"), "token_type": "Bearer"}))
        .into_response()
}

async fn records(State(s): State<Arc<Revoking>>, headers: HeaderMap) -> Response {
    s.api_calls.fetch_add(1, Ordering::SeqCst);
    let n: usize = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer token-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if n == 0 || n <= s.refused {
        return (
            StatusCode::UNAUTHORIZED,
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        )
            .into_response();
    }
    axum::Json(json!({"records": [{"Id": "a"}, {"Id": "b"}]})).into_response()
}

/// (succeeded, landed, tokens issued, API calls, failure message) of one stream against a
/// [`Revoking`] API that refuses its first `refused` tokens; the system allows 4 attempts.
async fn run_revoking(refused: usize) -> (bool, u64, usize, usize, String) {
    let state = Arc::new(Revoking {
        refused,
        ..Default::default()
    });
    let router = Router::new()
        .route("/token", post(issue_token))
        .route("/q", get(records))
        .with_state(state.clone());
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();
    // a client secret the run must never show
    let auth = "auth: {type: oauth2_client_credentials, token_url: /token, client_id: the-client, client_secret: \"${secret:CRM_SECRET}\"}\n      retry: {max_attempts: 4, initial_backoff: 10ms, max_backoff: 20ms}";
    let (p, lake) = one_stream(tmp.path(), &base, auth);
    let mut o = ExtractOptions::new();
    o.secrets.insert(
        "CRM_SECRET".into(),
        pslake_core::Sensitive::new("the-secret".into()),
    );
    let r = extract(&p, &lake, &o).await.unwrap();
    server.abort();
    let (ok, landed, err) = first_stream(&r);
    (
        ok,
        landed,
        state.issued.load(Ordering::SeqCst),
        state.api_calls.load(Ordering::SeqCst),
        err,
    )
}

/// With requests in flight, a revoked token is refused for each request that holds it, and the
/// token a request renews to can be revoked in turn (the sandbox's `expire_token` fault does
/// both): a request renews its token on each 401, within its `max_attempts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_renews_its_token_on_each_401_within_its_attempts() {
    // tokens 1 and 2 are refused, token 3 is taken: one request, three tokens, three calls
    // (a single renewal per request, the old rule, failed here on token 2's 401)
    let (ok, landed, issued, calls, err) = run_revoking(2).await;
    assert!(ok, "{err}");
    assert_eq!((landed, issued, calls), (2, 3, 3));

    // every token refused: the request gives up after 4 renewals (5 tokens, 5 calls) with the
    // API's 401, and no secret in the message
    let (ok, landed, issued, calls, err) = run_revoking(usize::MAX).await;
    assert!(!ok);
    assert_eq!((landed, issued, calls), (0, 5, 5));
    assert!(
        err.contains("401") && err.contains("INVALID_SESSION_ID"),
        "{err}"
    );
    assert!(
        !err.contains("the-secret") && !err.contains("token-"),
        "{err}"
    );
}
