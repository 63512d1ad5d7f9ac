//! Each paginator shape against a small in-test server, plus rejects and schema drift.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pslake_core::pipeline::load_pipeline;
use pslake_extract::{ExtractOptions, StreamStatus, extract};
use pslake_lake::Lake;
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/offset", post(offset_body))
        .route("/pages", get(pages))
        .route("/cursor", get(cursor))
        .route("/single", get(single))
        .route("/drift", get(drift));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
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
    let path = tmp.path().join("p.yml");
    std::fs::write(&path, yaml).unwrap();
    let p = load_pipeline(&path).unwrap_or_else(|e| panic!("{e:#?}"));
    let lake = Lake::parse(&p.lake).unwrap();
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
