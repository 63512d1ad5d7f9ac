//! APIs that misbehave, against an in-test server: paginators that loop back, pages that never
//! end, totals past reason, keys repeated across pages, bodies cut short or not JSON, records of
//! the wrong type, schema drift. Every stream ends in rows, rejects or an error naming it, within
//! a bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pslake_extract::{ExtractOptions, StreamReport, StreamStatus, extract};
use serde_json::{Value, json};

use crate::common::*;

type Q = Query<HashMap<String, String>>;

fn rec(i: usize) -> Value {
    json!({"id": i.to_string(), "n": i})
}

fn recs(from: usize, n: usize) -> Vec<Value> {
    (from..from + n).map(rec).collect()
}

fn json_page(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Requests served, per route, to show each misbehaving API was asked a bounded number of times.
#[derive(Default)]
struct Hits(std::sync::Mutex<HashMap<&'static str, usize>>);

impl Hits {
    fn hit(&self, route: &'static str) {
        *self.0.lock().unwrap().entry(route).or_default() += 1;
    }
    fn get(&self, route: &str) -> usize {
        self.0.lock().unwrap().get(route).copied().unwrap_or(0)
    }
}

type S = State<Arc<Hits>>;

/// a -> b -> back to a
async fn cursor_loop(State(h): S, Query(q): Q) -> Response {
    h.hit("cursor_loop");
    let (data, next) = match q.get("after").map(String::as_str) {
        None => (recs(0, 2), "a"),
        Some("a") => (recs(2, 2), "b"),
        _ => (recs(4, 2), "a"),
    };
    json_page(json!({"data": data, "next": next}))
}

/// page 3 links back to page 2
async fn next_loop(State(h): S, Query(q): Q) -> Response {
    h.hit("next_loop");
    let p: usize = q.get("p").map_or(1, |p| p.parse().unwrap());
    let next = if p < 3 { p + 1 } else { 2 };
    json_page(json!({"data": recs(p * 10, 2), "next": format!("/next_loop?p={next}")}))
}

/// page 3 links to `?p=1`, another spelling of the first page (no parameter)
async fn next_alias(State(h): S, Query(q): Q) -> Response {
    h.hit("next_alias");
    let p: usize = q.get("p").map_or(1, |p| p.parse().unwrap());
    let next = if p < 3 { p + 1 } else { 1 };
    json_page(json!({"data": recs(p * 10, 2), "next": format!("/next_alias?p={next}")}))
}

/// an empty page whose next URL is itself
async fn next_self(State(h): S) -> Response {
    h.hit("next_self");
    json_page(json!({"data": [], "next": "/next_self"}))
}

/// ignores the page number: the same page forever
async fn pages_same(State(h): S) -> Response {
    h.hit("pages_same");
    json_page(json!({"data": recs(0, 3)}))
}

/// pages 1-3, then page 1 again
async fn pages_back(State(h): S, Query(q): Q) -> Response {
    h.hit("pages_back");
    let p: usize = q["p"].parse().unwrap();
    let p = if p > 3 { 1 } else { p };
    json_page(json!({"data": recs(p * 10, 3)}))
}

/// ignores the offset, always has more
async fn offset_ignored(State(h): S) -> Response {
    h.hit("offset_ignored");
    json_page(json!({"data": recs(0, 2), "more": true}))
}

/// keyset windows that go down instead of up (a query ordered descending): the second window's
/// last key is not after the first's
async fn keyset_desc(State(h): S, Query(q): Q) -> Response {
    h.hit("keyset_desc");
    let after: usize = q["after"].parse().unwrap();
    let offset: usize = q["offset"].parse().unwrap();
    let top = if after == 0 { 100 } else { after - 1 };
    let data: Vec<Value> = (0..2).map(|i| rec(top - offset - i)).collect();
    json_page(json!({"data": data, "more": true}))
}

/// always has more, always new records
async fn endless(State(h): S, Query(q): Q) -> Response {
    h.hit("endless");
    let offset: usize = q["offset"].parse().unwrap();
    json_page(json!({"data": recs(offset, 2), "more": true}))
}

/// a new cursor every time
async fn endless_cursor(State(h): S, Query(q): Q) -> Response {
    h.hit("endless_cursor");
    let at: usize = q.get("after").map_or(0, |a| a.parse().unwrap());
    json_page(json!({"data": recs(at, 1), "next": (at + 1).to_string()}))
}

/// a total no stream could page through
async fn huge_total(State(h): S) -> Response {
    h.hit("huge_total");
    json_page(json!({"data": recs(0, 2), "total": 1e12}))
}

/// three pages of three; page 2 repeats two records of page 1 as they were, page 3 has a newer
/// version of record 1
async fn dups(State(h): S, Query(q): Q) -> Response {
    h.hit("dups");
    let r = |i: usize, day: &str| json!({"id": i.to_string(), "n": i, "updated_at": format!("2026-{day}T00:00:00Z")});
    let data = match q["p"].as_str() {
        "1" => vec![r(1, "01-01"), r(2, "01-02"), r(3, "01-03")],
        "2" => vec![r(2, "01-02"), r(3, "01-03"), r(4, "01-04")],
        _ => vec![
            r(5, "01-05"),
            json!({"id": "1", "n": 100, "updated_at": "2026-03-01T00:00:00Z"}),
            r(6, "01-06"),
        ],
    };
    json_page(json!({"data": data, "pages": 3}))
}

async fn truncated(State(h): S) -> Response {
    h.hit("truncated");
    (
        [(CONTENT_TYPE, "application/json")],
        r#"{"data":[{"id":"1"},{"id""#,
    )
        .into_response()
}

async fn html(State(h): S) -> Response {
    h.hit("html");
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body>502 Bad Gateway</body></html>",
    )
        .into_response()
}

async fn records_object() -> Response {
    json_page(json!({"data": {"id": "1", "n": 1}}))
}

async fn records_string() -> Response {
    json_page(json!({"data": "none today"}))
}

async fn total_string() -> Response {
    json_page(json!({"data": recs(0, 2), "total": "many"}))
}

/// a string where a number is declared, a number where a string is, a record that is an array
async fn wrong_types() -> Response {
    json_page(json!({"data": [
        {"id": "1", "n": "twelve"},
        {"id": 2, "n": 2},
        ["3", 3],
        {"id": "4", "n": 1e300},
        {"id": "5", "n": "NaN"},
    ]}))
}

/// fields the pipeline does not declare, at the top and nested
async fn drift_new() -> Response {
    json_page(json!({"data": [
        {"id": "1", "n": 1, "surprise": "new", "meta": {"extra": true}},
        {"id": "2", "n": 2, "surprise": "also"},
    ]}))
}

/// the declared `n` is gone, renamed `count`
async fn drift_gone() -> Response {
    json_page(json!({"data": [{"id": "1", "count": 1}, {"id": "2", "count": 2}]}))
}

fn resource(name: &str, paginator: &str, extra: &str) -> String {
    format!(
        "      - name: {name}\n        endpoint: {{path: /{name}}}\n        paginator: {paginator}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_apis_end_in_rejects_or_errors_naming_the_stream() {
    tokio::time::timeout(Duration::from_secs(60), run_all())
        .await
        .expect("every misbehaving API ends within 60 s");
}

async fn run_all() {
    let hits = Arc::new(Hits::default());
    let router = Router::new()
        .route("/cursor_loop", get(cursor_loop))
        .route("/next_loop", get(next_loop))
        .route("/next_alias", get(next_alias))
        .route("/next_self", get(next_self))
        .route("/pages_same", get(pages_same))
        .route("/pages_back", get(pages_back))
        .route("/offset_ignored", get(offset_ignored))
        .route("/keyset_desc", get(keyset_desc))
        .route("/endless", get(endless))
        .route("/endless_cursor", get(endless_cursor))
        .route("/huge_total", get(huge_total))
        .route("/dups", get(dups))
        .route("/truncated", get(truncated))
        .route("/html", get(html))
        .route("/records_object", get(records_object))
        .route("/records_string", get(records_string))
        .route("/total_string", get(total_string))
        .route("/wrong_types", get(wrong_types))
        .route("/drift_new", get(drift_new))
        .route("/drift_gone", get(drift_gone))
        .with_state(hits.clone());
    let (base, server) = serve(router).await;
    let tmp = tempfile::tempdir().unwrap();

    let cursor = "{type: cursor, path: next, param: after}";
    let next_url = "{type: next_url, path: next}";
    let pages = "{type: page_number, page_param: p}";
    let offset = "{type: offset, limit: 2, has_more_path: more}";
    let none = "{type: none}";
    let resources = [
        resource("cursor_loop", cursor, ""),
        resource("next_loop", next_url, ""),
        resource("next_alias", next_url, ""),
        resource("next_self", next_url, ""),
        resource("pages_same", pages, ""),
        resource("pages_back", pages, ""),
        resource("offset_ignored", offset, ""),
        resource(
            "keyset_desc",
            r#"{type: offset, limit: 2, has_more_path: more, keyset: {key: id, start: "0", max_offset: 4}}"#,
            "",
        )
        .replace(
            "{path: /keyset_desc}",
            r#"{path: /keyset_desc, params: {after: "{keyset.last}"}}"#,
        ),
        resource("endless", offset, "        max_pages: 50\n"),
        resource("endless_cursor", cursor, "        max_pages: 30\n"),
        resource("huge_total", "{type: offset, limit: 2, total_path: total}", ""),
        resource(
            "dups",
            "{type: page_number, page_param: p, total_pages_path: pages}",
            r#"        incremental: {cursor: updated_at, initial_value: "2020-01-01T00:00:00Z", client_filter: true}
        columns:
          - {name: id, type: string, required: true}
          - {name: n, type: integer}
          - {name: updated_at, type: timestamp}
"#,
        ),
        resource("truncated", none, ""),
        resource("html", none, ""),
        resource("records_object", none, ""),
        resource("records_string", none, ""),
        resource("total_string", "{type: offset, limit: 2, total_path: total}", ""),
        resource("wrong_types", none, ""),
        resource("drift_new", none, ""),
        resource(
            "drift_gone",
            none,
            r#"        columns:
          - {name: id, type: string, required: true}
          - {name: n, type: integer, required: true}
"#,
        ),
    ]
    .join("");
    let yaml = format!(
        r#"
name: bad
lake: {lake}
systems:
  - name: bad
    type: rest
    client:
      base_url: "{base}"
      concurrency: 2
      timeout: 10s
      retry: {{max_attempts: 2, initial_backoff: 10ms, max_backoff: 20ms}}
    resource_defaults:
      primary_key: [id]
      records: {{path: data}}
      columns:
        - {{name: id, type: string, required: true}}
        - {{name: n, type: integer}}
    resources:
{resources}"#,
        lake = tmp.path().join("lake").display()
    );
    let (p, lake) = load_yaml(tmp.path(), &yaml);
    let mut o = ExtractOptions::new();
    o.max_parallel_streams = Some(4);
    let r = extract(&p, &lake, &o).await.unwrap();
    let by = |n: &str| r.streams.iter().find(|s| s.stream == n).unwrap().clone();
    let failed = |n: &str, wants: &[&str]| -> StreamReport {
        let s = by(n);
        let StreamStatus::Failed { error, .. } = &s.status else {
            panic!("{n} must fail: {s:?}")
        };
        for w in wants {
            assert!(error.contains(w), "{n}: `{w}` not in: {error}");
        }
        s
    };

    // --- loops: an error naming the stream, before anything lands twice
    let s = failed(
        "cursor_loop",
        &["stream bad.cursor_loop: the cursor `a` repeats: the API is looping"],
    );
    assert_eq!((s.received, s.landed, hits.get("cursor_loop")), (6, 6, 3));
    let s = failed(
        "next_loop",
        &[
            "stream bad.next_loop: the next URL",
            "/next_loop?p=2 was read before: the API is looping",
        ],
    );
    assert_eq!((s.landed, hits.get("next_loop")), (6, 3));
    let s = failed(
        "next_alias",
        &[
            "/next_alias?p=1: stream bad.next_alias: the page repeats the records of",
            "/next_alias: the API is looping",
        ],
    );
    assert_eq!((s.landed, hits.get("next_alias")), (6, 4));
    let s = failed("next_self", &["stream bad.next_self: the next URL"]);
    assert_eq!((s.received, hits.get("next_self")), (0, 1));
    let s = failed(
        "pages_same",
        &["/pages_same?p=2: stream bad.pages_same: the page repeats the records of"],
    );
    assert_eq!((s.received, s.landed, hits.get("pages_same")), (3, 3, 2));
    let s = failed(
        "pages_back",
        &["/pages_back?p=4: stream bad.pages_back: the page repeats the records of"],
    );
    assert_eq!((s.landed, hits.get("pages_back")), (9, 4));
    let s = failed(
        "offset_ignored",
        &["stream bad.offset_ignored: the page repeats the records of"],
    );
    assert_eq!((s.landed, hits.get("offset_ignored")), (2, 2));

    let s = failed(
        "keyset_desc",
        &[
            "stream bad.keyset_desc: keyset paging made no progress: the last key `93` is not after `97`",
        ],
    );
    assert_eq!((s.landed, hits.get("keyset_desc")), (8, 4));

    // --- endless: bounded by max_pages; an absurd total fails before it is paged
    let s = failed(
        "endless",
        &["stream bad.endless: 50 pages read and the API still has more (`max_pages: 50`)"],
    );
    assert_eq!((s.landed, hits.get("endless")), (100, 50));
    let s = failed(
        "endless_cursor",
        &[
            "stream bad.endless_cursor: 30 pages read",
            "`max_pages: 30`",
        ],
    );
    assert_eq!((s.landed, hits.get("endless_cursor")), (30, 30));
    let s = failed(
        "huge_total",
        &[
            "stream bad.huge_total: the API announces 1000000000000 records, 2 a page (500000000000 requests), more than `max_pages: 100000`",
        ],
    );
    assert_eq!((s.landed, hits.get("huge_total")), (0, 1));

    // --- duplicate keys across pages: every record lands (raw keeps what the source sent) and
    // the repeats are counted; staging keeps the latest row per key, and the two different
    // records of key 1 are what the stream's duplicate_key data test fails the run on
    let s = by("dups");
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:?}");
    assert_eq!(
        (s.received, s.landed, s.rejected, s.duplicates),
        (9, 9, 0, 3)
    );
    assert_eq!(
        s.cursor_after.as_deref(),
        Some("2026-03-01T00:00:00.000000Z")
    );
    let ids = query_strings(
        &lake,
        "SELECT id || ':' || CAST(count(*) AS VARCHAR) || ':' || CAST(count(DISTINCT _raw) AS VARCHAR) FROM raw.bad_dups GROUP BY id ORDER BY id",
    )
    .await;
    assert_eq!(ids, ["1:2:2", "2:2:1", "3:2:1", "4:1:1", "5:1:1", "6:1:1"]);
    // other streams count none
    assert!(
        r.streams
            .iter()
            .filter(|s| s.stream != "dups")
            .all(|s| s.duplicates == 0),
        "{:?}",
        r.streams
    );

    // --- bodies that are not (complete) JSON: retried, then an error that says so
    failed(
        "truncated",
        &[
            "failed after 2 attempts",
            "200 OK with an incomplete or invalid JSON body (25 bytes): EOF while parsing",
        ],
    );
    assert_eq!(hits.get("truncated"), 2);
    failed(
        "html",
        &["invalid JSON body (41 bytes, content-type text/html; charset=utf-8)"],
    );

    // --- JSON of the wrong shape or type
    failed(
        "records_object",
        &["/records_object: records at `data` are not an array: invalid type: map"],
    );
    failed(
        "records_string",
        &["records at `data` are not an array: invalid type: string \"none today\""],
    );
    failed(
        "total_string",
        &["/total_string?limit=2&offset=0: total `many` is not a number"],
    );
    let s = by("wrong_types");
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:?}");
    assert_eq!((s.received, s.landed, s.rejected), (5, 1, 4));
    let rejects = query_strings(
        &lake,
        "SELECT coalesce(key, '') || '|' || coalesce(field, '') || '|' || message FROM _pslake.rejects WHERE stream = 'wrong_types' ORDER BY key",
    )
    .await;
    assert_eq!(rejects.len(), 4, "{rejects:?}");
    for (r, want) in rejects.iter().zip([
        "1|n|bad.wrong_types: field `n` (path `n`): `twelve` is not an integer",
        "4|n|bad.wrong_types: field `n` (path `n`): `1e+300` is out of the integer range",
        "5|n|bad.wrong_types: field `n` (path `n`): `NaN` is not an integer",
        "||bad.wrong_types: record is not a JSON object",
    ]) {
        assert!(r.starts_with(want), "{r}\nwant {want}");
    }

    // --- schema drift: a new field stays in `_raw` and is reported; a declared field gone
    // from every record fails the stream naming it
    let s = by("drift_new");
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:?}");
    assert_eq!(s.landed, 2);
    // Each landing tags its commits with the repeated keys it counted (`pslake_lake::unique`):
    // a table landed by one run without a repeat holds one row per key, and says so; `dups`
    // repeated keys 1, 2 and 3, so its table says nothing; nor does `drift_new`'s once a second
    // run has landed in it.
    let unique = |t: &'static str| {
        let lake = lake.clone();
        async move {
            let table = lake
                .open(&pslake_lake::TableName::new("raw", t))
                .await
                .unwrap()
                .unwrap();
            pslake_lake::unique::unique_key(&table).await
        }
    };
    assert_eq!(unique("bad_drift_new").await, Some(vec!["id".to_string()]));
    assert_eq!(unique("bad_dups").await, None);
    let mut full = ExtractOptions::new();
    full.full_refresh = true;
    full.select = vec!["bad.drift_new".into()];
    let again = extract(&p, &lake, &full).await.unwrap();
    assert_eq!(again.streams[0].landed, 2, "{:?}", again.streams);
    assert_eq!(unique("bad_drift_new").await, None);
    assert_eq!(s.new_fields, ["meta", "surprise"]);
    let raw = query_strings(&lake, "SELECT _raw FROM raw.bad_drift_new ORDER BY id").await;
    assert!(
        raw[0].contains(r#""surprise":"new""#) && raw[0].contains(r#""meta":{"extra":true}"#),
        "{}",
        raw[0]
    );
    let s = failed(
        "drift_gone",
        &[
            "stream bad.drift_gone: schema drift: field `n` (path `n`) is missing or unparseable in all 2 records (e.g. record 1); nothing landed",
        ],
    );
    assert_eq!(
        (s.landed, s.new_fields.as_slice()),
        (0, ["count".to_string()].as_slice())
    );
    server.abort();
}
