//! `records.unnest`: nested rows declared in YAML land one row per element, with the parent
//! fields, the key and the primary key, `_raw` the row as built; a scalar where rows should be
//! fails the stream naming the path.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pslake_extract::{ExtractOptions, StreamStatus, extract};
use serde_json::{Value, json};

use crate::common::*;

/// Ten deals, each with histories of two properties (deal 3 has none, deal 5 an empty list, and
/// the history of deal 7 has an entry without its timestamp). After `changed` is set, deal 2
/// has a new dealstage entry and a new last-modified stamp.
fn deal(i: usize, changed: bool) -> Value {
    let modified = if changed && i == 2 {
        "2026-03-20T09:00:00.000Z".to_owned()
    } else {
        format!("2026-03-{:02}T08:00:00.000Z", 1 + i)
    };
    let mut stage = vec![
        json!({"value": "qualifiedtobuy", "timestamp": format!("2026-02-{:02}T10:00:00.000Z", 1 + i), "sourceType": "CRM_UI"}),
        json!({"value": "appointmentscheduled", "timestamp": "2026-01-05T10:00:00.000Z", "sourceType": "CRM_UI"}),
    ];
    if changed && i == 2 {
        stage.insert(
            0,
            json!({"value": "closedwon", "timestamp": "2026-03-20T09:00:00.000Z", "sourceType": "CRM_UI"}),
        );
    }
    let mut amount = vec![
        json!({"value": format!("{}00.00", i + 1), "timestamp": "2026-01-05T10:00:00.000Z", "sourceType": "CRM_UI"}),
    ];
    if i == 7 {
        amount.push(json!({"value": "1.00", "sourceType": "IMPORT"}));
    }
    if i == 5 {
        amount.clear();
    }
    let mut d = json!({"id": format!("{}", 500 + i), "properties": {"hs_lastmodifieddate": modified},
        "propertiesWithHistory": {"dealstage": stage, "amount": amount}, "archived": false});
    if i == 3 {
        d.as_object_mut().unwrap().remove("propertiesWithHistory");
    }
    d
}

async fn deals(
    State(changed): State<Arc<AtomicBool>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let from: usize = q.get("after").map(|a| a.parse().unwrap()).unwrap_or(0);
    let changed = changed.load(Ordering::SeqCst);
    let results: Vec<Value> = (from..(from + 4).min(10))
        .map(|i| deal(i, changed))
        .collect();
    let next = (from + 4 < 10).then(|| json!({"next": {"after": (from + 4).to_string()}}));
    let mut page = json!({ "results": results });
    if let Some(n) = next {
        page["paging"] = n;
    }
    axum::Json(page).into_response()
}

/// Orders whose `lines` are an array (objects and a scalar), and one whose `lines` is a string.
async fn orders() -> Response {
    axum::Json(json!({"orders": [
        {"no": 1, "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}, "gift"]},
        {"no": 2, "lines": null},
        {"no": 3}
    ]}))
    .into_response()
}

async fn broken() -> Response {
    axum::Json(json!({"orders": [{"no": 1, "lines": []}, {"no": 2, "lines": "oops"}]}))
        .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_rows_land_one_per_element_with_parent_fields_key_and_pk() {
    let changed = Arc::new(AtomicBool::new(false));
    let router = Router::new()
        .route("/deals", get(deals))
        .route("/orders", get(orders))
        .route("/broken", get(broken))
        .with_state(changed.clone());
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
name: nested
lake: {lake}
systems:
  - name: crm
    type: rest
    client: {{base_url: "{base}"}}
    resources:
      - name: deals
        endpoint: {{path: /deals}}
        paginator: {{type: cursor, path: paging.next.after, param: after}}
        records: {{path: results}}
        primary_key: [id]
        incremental: {{cursor: modified, lag: 1m, client_filter: true}}
        columns:
          - {{name: id, type: string, required: true}}
          - {{name: modified, path: properties.hs_lastmodifieddate, type: timestamp}}
      - name: deal_history
        endpoint: {{path: /deals}}
        paginator: {{type: cursor, path: paging.next.after, param: after}}
        records:
          path: results
          unnest:
            path: propertiesWithHistory
            key_as: property
            parent: {{deal_id: id, modified: properties.hs_lastmodifieddate}}
        primary_key: [deal_id, property, timestamp]
        incremental: {{cursor: modified, lag: 1m, client_filter: true}}
        columns:
          - {{name: deal_id, type: string, required: true}}
          - {{name: property, type: string, required: true}}
          - {{name: value, type: string}}
          - {{name: timestamp, type: timestamp, required: true}}
          - {{name: modified, type: timestamp}}
      - name: lines
        endpoint: {{path: /orders}}
        paginator: {{type: none}}
        records: {{path: orders, unnest: {{path: lines, key_as: line_no, parent: {{order_no: no}}}}}}
        primary_key: [order_no, line_no]
        columns:
          - {{name: order_no, type: integer, required: true}}
          - {{name: line_no, type: integer, required: true}}
          - {{name: sku, type: string}}
          - {{name: qty, type: integer}}
          - {{name: value, type: string}}
      - name: broken
        endpoint: {{path: /broken}}
        paginator: {{type: none}}
        records: {{path: orders, unnest: {{path: lines}}}}
        primary_key: [sku]
        columns:
          - {{name: sku, type: string}}
"#,
        lake = tmp.path().join("lake").display()
    );
    let (p, lake) = load_yaml(tmp.path(), &yaml);
    let r = extract(&p, &lake, &ExtractOptions::new()).await.unwrap();
    let by = |r: &pslake_extract::ExtractReport, n: &str| {
        r.streams.iter().find(|s| s.stream == n).unwrap().clone()
    };

    // the parent stream is untouched by its sibling's unnest
    let s = by(&r, "deals");
    assert_eq!(
        (s.status.clone(), s.received, s.landed, s.pages),
        (StreamStatus::Succeeded, 10, 10, 3)
    );

    // 10 deals: 2 stage entries each, 1 amount entry each except deal 3 (no history), deal 5
    // (an empty amount list) and deal 7 (2 amount entries, one without its timestamp: rejected)
    let s = by(&r, "deal_history");
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:?}");
    assert_eq!(
        (s.received, s.landed, s.rejected, s.pages),
        (9 * 2 + 8 + 1, 9 * 2 + 8, 1, 3)
    );
    assert_eq!(s.new_fields, vec!["sourceType".to_string()]);
    let rows = query_strings(
        &lake,
        "SELECT deal_id || '|' || property || '|' || value || '|' || CAST(timestamp AS VARCHAR) || '|' || CAST(modified AS VARCHAR) \
         FROM raw.crm_deal_history WHERE deal_id = '502' ORDER BY property, timestamp",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            "502|amount|300.00|2026-01-05T10:00:00Z|2026-03-03T08:00:00Z",
            "502|dealstage|appointmentscheduled|2026-01-05T10:00:00Z|2026-03-03T08:00:00Z",
            "502|dealstage|qualifiedtobuy|2026-02-03T10:00:00Z|2026-03-03T08:00:00Z",
        ]
    );
    // `_raw` is the row as built: the parent fields, the key, then the element as sent
    let raw = query_strings(
        &lake,
        "SELECT _raw FROM raw.crm_deal_history WHERE deal_id = '502' AND property = 'amount'",
    )
    .await;
    assert_eq!(
        raw,
        vec![
            r#"{"deal_id":"502","modified":"2026-03-03T08:00:00.000Z","property":"amount","value":"300.00","timestamp":"2026-01-05T10:00:00.000Z","sourceType":"CRM_UI"}"#
        ]
    );
    // the reject names the row's key and keeps the row
    let rejects = query_strings(
        &lake,
        "SELECT coalesce(key, '') || '|' || rule || '|' || field || '|' || _raw FROM _pslake.rejects WHERE stream = 'deal_history'",
    )
    .await;
    assert_eq!(
        rejects,
        vec![
            r#"507|amount||missing_required_field|timestamp|{"deal_id":"507","modified":"2026-03-08T08:00:00.000Z","property":"amount","value":"1.00","sourceType":"IMPORT"}"#
        ]
    );

    // an array: a row per element with its index; a scalar element goes under `value`; a null
    // or missing array is no rows
    let s = by(&r, "lines");
    assert_eq!((s.received, s.landed), (3, 3));
    let lines = query_strings(
        &lake,
        "SELECT CAST(order_no AS VARCHAR) || '|' || CAST(line_no AS VARCHAR) || '|' || coalesce(sku, '') || '|' || coalesce(CAST(qty AS VARCHAR), '') || '|' || coalesce(value, '') \
         FROM raw.crm_lines ORDER BY line_no",
    )
    .await;
    assert_eq!(lines, vec!["1|0|a|2|", "1|1|b|1|", "1|2|||gift"]);

    // a string where rows should be: the stream fails, naming the record and the path
    let s = by(&r, "broken");
    let StreamStatus::Failed { error, .. } = &s.status else {
        panic!("a scalar at the unnest path fails the stream: {s:?}")
    };
    assert!(
        error.contains("record 2") && error.contains("`lines` is \"oops\""),
        "{error}"
    );

    // incremental: the parent's cursor filters the deals; a deal modified since re-sends its
    // whole history (the primary key dedupes it downstream)
    changed.store(true, Ordering::SeqCst);
    let mut o = ExtractOptions::new();
    o.select = vec!["crm.deal_history".into()];
    let r = extract(&p, &lake, &o).await.unwrap();
    let s = by(&r, "deal_history");
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:?}");
    // deal 2 (3 stage entries, 1 amount) and deal 9 (at the cursor, inside the lag: 3 rows)
    // pass the filter; deal 7's row without a timestamp is rejected before any filter
    assert_eq!((s.received, s.rejected, s.filtered), (4 + 3 + 1, 1, 28 - 8));
    let latest = query_strings(
        &lake,
        "SELECT value FROM raw.crm_deal_history WHERE deal_id = '502' AND property = 'dealstage' ORDER BY timestamp DESC LIMIT 1",
    )
    .await;
    assert_eq!(latest, vec!["closedwon"]);
    server.abort();
}
