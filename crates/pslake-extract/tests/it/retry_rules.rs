//! Vendor retry rules come from the pipeline: a `403 REQUEST_LIMIT_EXCEEDED` is retried only
//! because the YAML says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pslake_extract::{ExtractOptions, extract};
use serde_json::json;

use crate::common::{first_stream, one_stream, serve};

/// The first two requests get Salesforce's rate-limit answer, then the records.
async fn limited(State(n): State<Arc<AtomicUsize>>) -> Response {
    if n.fetch_add(1, Ordering::SeqCst) < 2 {
        return (
            StatusCode::FORBIDDEN,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        )
            .into_response();
    }
    axum::Json(json!({"records": [{"Id": "a"}, {"Id": "b"}]})).into_response()
}

/// (succeeded, landed, requests served, failure message)
async fn run_with(rules: &str) -> (bool, u64, usize, String) {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/q", get(limited))
        .with_state(hits.clone());
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();
    let client = format!(
        "retry:\n        max_attempts: 4\n        initial_backoff: 10ms\n        max_backoff: 20ms{rules}"
    );
    let (p, lake) = one_stream(tmp.path(), &base, &client);
    let r = extract(&p, &lake, &ExtractOptions::new()).await.unwrap();
    server.abort();
    let (ok, landed, err) = first_stream(&r);
    (ok, landed, hits.load(Ordering::SeqCst), err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limit_exceeded_is_retried_only_when_declared() {
    let rule = "\n        rules:\n          - {status: 403, body_contains: REQUEST_LIMIT_EXCEEDED, action: rate_limited}";
    let (ok, landed, hits, err) = run_with(rule).await;
    assert!(ok, "{err}");
    assert_eq!((landed, hits), (2, 3));

    // without the rule a 403 is an ordinary client error: no retry
    let (ok, landed, hits, err) = run_with("").await;
    assert!(!ok);
    assert_eq!((landed, hits), (0, 1));
    assert!(err.contains("403"), "{err}");

    // a rule whose body text does not match changes nothing
    let other =
        "\n        rules:\n          - {status: 403, body_contains: SOMETHING_ELSE, action: retry}";
    let (ok, _, hits, _) = run_with(other).await;
    assert!(!ok);
    assert_eq!(hits, 1);
}
