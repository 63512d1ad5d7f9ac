use pslake_extract::StreamStatus;
use pslake_lake::Lake;

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
