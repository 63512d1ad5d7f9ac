//! Each paginator shape against a small in-test server, plus rejects and schema drift.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pslake_extract::{ExtractOptions, StreamStatus, extract};
use serde_json::{Value, json};

use crate::common::*;

const N: usize = 23;

fn rec(i: usize) -> Value {
    json!({"id": format!("{i}"), "amount": format!("{}.25", i), "day": "3/1/2026", "flag": if i.is_multiple_of(2) {"T"} else {"F"}})
}

/// offset + has_more only, limit and offset in the JSON body
async fn offset_body(body: String) -> Response {
    let b: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(b["q"], "SELECT *");
    let (limit, offset) = (
        b["limit"].as_u64().unwrap() as usize,
        b["offset"].as_u64().unwrap() as usize,
    );
    let items: Vec<Value> = (offset..(offset + limit).min(N)).map(rec).collect();
    axum::Json(json!({"items": items, "hasMore": offset + limit < N})).into_response()
}

/// page numbers without a page count: stop at the empty page
async fn pages(Query(q): Query<HashMap<String, String>>) -> Response {
    let p: usize = q["p"].parse().unwrap();
    let items: Vec<Value> = ((p * 10)..((p + 1) * 10).min(N)).map(rec).collect();
    axum::Json(json!({"data": {"rows": items}})).into_response()
}

/// cursor in the query, the page being a bare array wrapped in an object with `next`
async fn cursor(Query(q): Query<HashMap<String, String>>) -> Response {
    let from: usize = q.get("after").map(|a| a.parse().unwrap()).unwrap_or(0);
    let items: Vec<Value> = (from..(from + 5).min(N)).map(rec).collect();
    let next = (from + 5 < N).then(|| (from + 5).to_string());
    axum::Json(json!({"results": items, "paging": {"next": {"after": next}}})).into_response()
}

/// one page; record 3 has a bad date, record 4 lacks the required id
async fn single() -> Response {
    let mut items: Vec<Value> = (0..6).map(rec).collect();
    items[3]["day"] = json!("31/31/2026");
    items[4].as_object_mut().unwrap().remove("id");
    axum::Json(json!(items)).into_response()
}

/// every record lacks the required field: schema drift
async fn drift() -> Response {
    axum::Json(json!({"rows": [{"ident": "1"}, {"ident": "2"}]})).into_response()
}

const COLUMNS: &str = r#"
        columns:
          - {name: id, type: string, required: true}
          - {name: amount, type: "decimal(18,2)"}
          - {name: day, type: date, format: "%m/%d/%Y"}
          - {name: flag, type: boolean, format: "T/F"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_paginator_shape_rejects_and_drift() {
    let router = Router::new()
        .route("/offset", post(offset_body))
        .route("/pages", get(pages))
        .route("/cursor", get(cursor))
        .route("/single", get(single))
        .route("/drift", get(drift));
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
name: shapes
lake: {lake}
systems:
  - name: shapes
    type: rest
    client: {{base_url: "{base}", concurrency: 3}}
    resource_defaults:
      primary_key: [id]
    resources:
      - name: offset
        endpoint: {{method: POST, path: /offset, json: {{q: "SELECT *"}}}}
        paginator: {{type: offset, limit: 4, has_more_path: hasMore, in: body}}
        records: {{path: items}}{COLUMNS}
      - name: pages
        endpoint: {{path: /pages}}
        paginator: {{type: page_number, page_param: p, start: 0}}
        records: {{path: data.rows}}{COLUMNS}
      - name: cursor
        endpoint: {{path: /cursor}}
        paginator: {{type: cursor, path: paging.next.after, param: after}}
        records: {{path: results}}{COLUMNS}
      - name: single
        endpoint: {{path: /single}}
        paginator: {{type: none}}{COLUMNS}
      - name: drift
        endpoint: {{path: /drift}}
        records: {{path: rows}}{COLUMNS}
"#,
        lake = tmp.path().join("lake").display()
    );
    let (p, lake) = load_yaml(tmp.path(), &yaml);
    let r = extract(&p, &lake, &ExtractOptions::new()).await.unwrap();
    let by = |n: &str| r.streams.iter().find(|s| s.stream == n).unwrap();
    for (name, pages) in [("offset", 6), ("pages", 4), ("cursor", 5)] {
        let s = by(name);
        assert_eq!(s.status, StreamStatus::Succeeded, "{name}");
        assert_eq!(
            (s.received, s.landed, s.pages),
            (N as u64, N as u64, pages),
            "{name}"
        );
        let ids = query_strings(
            &lake,
            &format!("SELECT id FROM raw.shapes_{name} ORDER BY CAST(id AS INT)"),
        )
        .await;
        assert_eq!(
            ids,
            (0..N).map(|i| i.to_string()).collect::<Vec<_>>(),
            "{name}"
        );
    }
    let got = query_strings(&lake, "SELECT CAST(amount AS VARCHAR) || '|' || CAST(day AS VARCHAR) || '|' || CAST(flag AS VARCHAR) FROM raw.shapes_offset WHERE id = '22'").await;
    assert_eq!(got, vec!["22.25|2026-03-01|true"]);

    let s = by("single");
    assert_eq!((s.received, s.landed, s.rejected), (6, 4, 2));
    let rejects = query_strings(&lake, "SELECT rule || '|' || coalesce(field, '') || '|' || coalesce(key, '') FROM _pslake.rejects ORDER BY rule").await;
    assert_eq!(
        rejects,
        vec!["missing_required_field|id|", "unparseable_value|day|3"]
    );

    let s = by("drift");
    let StreamStatus::Failed { error, .. } = &s.status else {
        panic!("drift must fail: {s:?}")
    };
    assert!(
        error.contains("shapes.drift") && error.contains("`id`") && error.contains("all 2 records"),
        "{error}"
    );
    assert_eq!(s.new_fields, vec!["ident".to_string()]);
    assert_eq!(s.landed, 0);
    server.abort();
}

/// What the slow-page server saw.
#[derive(Default)]
struct Seen {
    /// Requests being answered now, and the most at once.
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    /// The pages requested so far, and how many had been when the slow page was answered.
    requested: std::sync::Mutex<Vec<usize>>,
    before_slow_answered: std::sync::atomic::AtomicUsize,
}

const SLOW_PAGES: usize = 30;

/// Page numbers with a page count, 2 records a page; page 2 takes a second to answer.
async fn slow_page(
    axum::extract::State(seen): axum::extract::State<std::sync::Arc<Seen>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    let p: usize = q["page"].parse().unwrap();
    let now = seen.now.fetch_add(1, SeqCst) + 1;
    seen.most.fetch_max(now, SeqCst);
    seen.requested.lock().unwrap().push(p);
    if p == 2 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let n = seen.requested.lock().unwrap().len();
        seen.before_slow_answered.store(n, SeqCst);
    } else {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    seen.now.fetch_sub(1, SeqCst);
    let items: Vec<Value> = ((p - 1) * 2..p * 2).map(rec).collect();
    axum::Json(json!({"rows": items, "meta": {"page_count": SLOW_PAGES}})).into_response()
}

/// A slow page does not hold up the requests after it: while it is answered, the next pages
/// are requested (and decoded) in its place, up to several pages per request slot, yet no more
/// requests than the system's `concurrency` are ever in flight, and the rows land in page
/// order. Before, the pages in the pipeline were the requests in flight: with concurrency 2,
/// one slow page left one slot, and no page after the next was requested until it came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_page_does_not_hold_up_the_next_requests_within_the_concurrency() {
    use std::sync::atomic::Ordering::SeqCst;
    let seen = std::sync::Arc::new(Seen::default());
    let router = Router::new()
        .route("/slow", get(slow_page))
        .with_state(seen.clone());
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
name: slow
lake: {lake}
systems:
  - name: slow
    type: rest
    client: {{base_url: "{base}", concurrency: 2}}
    resource_defaults:
      primary_key: [id]
    resources:
      - name: pages
        endpoint: {{path: /slow}}
        paginator: {{type: page_number, page_param: page, start: 1, total_pages_path: meta.page_count}}
        records: {{path: rows}}{COLUMNS}
"#,
        lake = tmp.path().join("lake").display()
    );
    let (p, lake) = load_yaml(tmp.path(), &yaml);
    let r = extract(&p, &lake, &ExtractOptions::new()).await.unwrap();
    let s = &r.streams[0];
    assert_eq!(s.status, StreamStatus::Succeeded);
    assert_eq!(
        (s.received, s.landed, s.pages),
        (
            2 * SLOW_PAGES as u64,
            2 * SLOW_PAGES as u64,
            SLOW_PAGES as u64
        )
    );
    // the cap: never more than `concurrency: 2` requests at once
    assert_eq!(seen.most.load(SeqCst), 2);
    // pages 1 and 2, then page 3 and beyond in the other slot while page 2 is slow: with 4
    // pages a slot (8 in the pipeline), pages up to 9 are requested before it is answered;
    // with the pipeline as deep as the slots (2), only page 3 was
    let before = seen.before_slow_answered.load(SeqCst);
    assert!(
        before >= 8,
        "only {before} pages were requested while page 2 was slow: {:?}",
        seen.requested.lock().unwrap()
    );
    // rows land in page order: the landing's row order is the pages' order
    let ids = query_strings(&lake, "SELECT id FROM raw.slow_pages").await;
    assert_eq!(
        ids,
        (0..2 * SLOW_PAGES)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    );
    server.abort();
}
