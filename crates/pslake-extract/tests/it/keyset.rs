//! NetSuite's per-query cap (SPEC section 2: at most 100,000 results, an offset at or past it is a
//! 400): the demo pipeline's keyset paginator lands a table larger than the cap whole, once, and
//! without the keyset option the stream fails at the cap (its cursor stays where it was).

use std::path::Path;
use std::time::Instant;

use pslake_core::pipeline::{Paginator, Pipeline};
use pslake_extract::{ExtractOptions, StreamReport, StreamStatus};
use pslake_lake::Lake;
use pslake_sandbox::server::{RunningSandbox, Sandbox, SandboxConfig};

use crate::common::*;

/// Replaces the fixtures' NetSuite transactions with one invoice of `n` generated lines
/// (uniquekeys 1..=n, so text order differs from numeric order; modified dates spread over 2026).
fn write_invoice_lines(fixtures: &Path, n: usize) {
    std::fs::write(
        fixtures.join("netsuite/transaction.jsonl"),
        r#"{"id":"1","tranid":"INV1","type":"CustInvc","trandate":"3/1/2026","entity":"200003","status":"A","currency":"1","lastmodifieddate":"3/1/2026"}"#,
    )
    .unwrap();
    let mut out = String::with_capacity(n * 190);
    for i in 1..=n {
        out.push_str(&format!(
            r#"{{"uniquekey":"{i}","id":"{i}","transaction":"1","mainline":"F","taxline":"F","entity":"200003","foreignamount":"-{}.25","memo":"","linelastmodifieddate":"{}/{}/2026"}}"#,
            i % 1000,
            1 + i % 12,
            1 + i % 28
        ));
        out.push('\n');
    }
    std::fs::write(fixtures.join("netsuite/transactionline.jsonl"), out).unwrap();
}

async fn capped_sandbox(fixtures: &Path, cap: Option<usize>) -> RunningSandbox {
    let mut cfg = SandboxConfig::new(fixtures);
    if let Some(c) = cap {
        cfg.netsuite_max_results = c;
    }
    Sandbox::start(cfg).await.expect("sandbox starts")
}

fn select() -> ExtractOptions {
    let mut o = options(false);
    o.select = vec!["netsuite.transactionline".into()];
    o
}

fn report(r: &pslake_extract::ExtractReport) -> &StreamReport {
    r.streams
        .iter()
        .find(|s| s.system == "netsuite" && s.stream == "transactionline")
        .unwrap()
}

/// (rows, distinct keys, min key, max key) of raw.netsuite_transactionline.
async fn counts(lake: &Lake) -> Vec<String> {
    query_strings(
        lake,
        "SELECT CAST(count(*) AS VARCHAR) || '|' || CAST(count(DISTINCT uniquekey) AS VARCHAR) || '|' || CAST(min(CAST(uniquekey AS BIGINT)) AS VARCHAR) || '|' || CAST(max(CAST(uniquekey AS BIGINT)) AS VARCHAR) FROM raw.netsuite_transactionline",
    )
    .await
}

/// The demo pipeline with the NetSuite streams' keyset `max_offset` lowered to `cap`.
fn with_max_offset(mut p: Pipeline, cap: u64) -> Pipeline {
    for sys in p.systems.iter_mut().filter(|s| s.name == "netsuite") {
        for st in &mut sys.streams {
            if let Paginator::Offset {
                keyset: Some(k), ..
            } = &mut st.paginator
            {
                k.max_offset = cap;
            }
        }
    }
    p
}

/// The demo pipeline with the keyset option taken off the NetSuite streams (offset paging only).
fn without_keyset(mut p: Pipeline) -> Pipeline {
    for sys in p.systems.iter_mut().filter(|s| s.name == "netsuite") {
        for st in &mut sys.streams {
            if let Paginator::Offset { keyset, .. } = &mut st.paginator {
                *keyset = None;
            }
            // drops the `AND key > {keyset.last}` (or `WHERE key > {keyset.last}`) condition
            let strip = |j: &mut serde_json::Value| {
                let q = j["q"].as_str().unwrap().to_string();
                let Some(at) = q.find("{keyset.last}") else {
                    return;
                };
                let end = at + "{keyset.last}".len();
                let and = q[..at].rfind(" AND ");
                let wh = q[..at].rfind(" WHERE ");
                let q = match (and, wh) {
                    (Some(a), Some(w)) if a > w => format!("{}{}", &q[..a], &q[end..]),
                    (_, Some(w)) => {
                        let rest = q[end..].trim_start();
                        match rest.strip_prefix("AND ") {
                            Some(r) => format!("{} WHERE {r}", &q[..w]),
                            None => format!("{} {rest}", &q[..w]),
                        }
                    }
                    _ => q.clone(),
                };
                j["q"] = serde_json::Value::String(q);
            };
            if let Some(j) = st.endpoint.json.as_mut() {
                strip(j);
            }
            if let Some(j) = st.reconcile.as_mut().and_then(|r| r.endpoint.json.as_mut()) {
                strip(j);
            }
        }
    }
    p
}

/// A cap of 1,250 (not a multiple of the 1,000 limit) and 2,500 lines: two full windows and an
/// empty third (a total exactly at the cap may be capped itself), every line once; the keys pass
/// pages by keyset too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_across_a_lowered_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    write_invoice_lines(&fixtures, 2_500);
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let sb = capped_sandbox(&fixtures, Some(1_250)).await;
    let p = with_max_offset(demo(&sb.base_url(), &fixtures, &lake_dir), 1_250);

    let r = run(&p, &lake, &select()).await;
    let s = report(&r);
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:#?}");
    assert_eq!((s.received, s.landed), (2_500, 2_500));
    assert_eq!(counts(&lake).await, vec!["2500|2500|1|2500"]);
    assert!(s.cursor_after.is_some());
    // windows of 1,250 at limit 1,000: offsets 0 and 1000, twice, then the empty third window
    let requests: u64 = sb
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.contains("suiteql"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(requests, 5);

    // the keys pass across the cap: nothing deleted
    let mut o = select();
    o.reconcile = true;
    let r2 = run(&p, &lake, &o).await;
    let s2 = report(&r2);
    assert_eq!(s2.status, StreamStatus::Succeeded, "{s2:#?}");
    assert!(s2.reconciled);
    assert_eq!((s2.source_keys, s2.deleted), (2_500, 0), "{s2:#?}");
    sb.shutdown().await;
}

/// Without the keyset option the offset reaches the cap: the stream fails with NetSuite's 400,
/// it does not stop quietly at the cap, and its cursor does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keyset_the_cap_is_a_clear_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    write_invoice_lines(&fixtures, 2_500);
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let sb = capped_sandbox(&fixtures, Some(1_000)).await;
    let p = without_keyset(demo(&sb.base_url(), &fixtures, &lake_dir));

    let r = run(&p, &lake, &select()).await;
    let s = report(&r);
    let StreamStatus::Failed { error, .. } = &s.status else {
        panic!("must fail at the cap: {s:#?}")
    };
    assert!(
        error.contains("400") && error.contains("at most 1000 results"),
        "{error}"
    );
    assert_eq!(s.cursor_after, s.cursor_before, "{s:#?}");
    assert!(!r.is_success());
    sb.shutdown().await;
}

/// SPEC's cap as is (100,000) and a 250,000-line table: three keyset windows land every line
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lands_250k_lines_whole_across_the_100k_cap() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    write_invoice_lines(&fixtures, 250_000);
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let sb = capped_sandbox(&fixtures, None).await;
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let t1 = Instant::now();
    let r = run(&p, &lake, &select()).await;
    let s = report(&r);
    assert_eq!(s.status, StreamStatus::Succeeded, "{s:#?}");
    assert_eq!((s.received, s.landed), (250_000, 250_000));
    assert_eq!(counts(&lake).await, vec!["250000|250000|1|250000"]);
    // 100 + 100 + 50 pages of 1,000: no request at an offset the sandbox refuses, none repeated
    let requests: u64 = sb
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.contains("suiteql"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(requests, 250);
    eprintln!(
        "250k: setup {:?}, extract {:?}, total {:?}",
        t1 - t0,
        t1.elapsed(),
        t0.elapsed()
    );
    sb.shutdown().await;
}
