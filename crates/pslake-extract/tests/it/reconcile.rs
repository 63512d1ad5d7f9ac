//! Deletion reconciliation: records deleted in the source get one tombstone each in raw, on the
//! keys pass that `every` or `--reconcile` triggers; records listed again are live again.

use std::path::Path;

use pslake_extract::{ExtractOptions, ExtractReport, StreamReport};
use pslake_lake::Lake;
use pslake_lake::ops::{append_stream_state, load_stream_states};
use pslake_sandbox::server::RunningSandbox;

use crate::common::*;

/// The streams under test: (system, stream, fixture key, raw table).
const STREAMS: &[(&str, &str, &str, &str)] = &[
    ("kantata", "time_entries", "id", "kantata_time_entries"),
    ("netsuite", "transaction", "id", "netsuite_transaction"),
    ("netsuite", "customer", "id", "netsuite_customer"),
    ("salesforce", "Opportunity", "Id", "salesforce_opportunity"),
];

/// The incremental cursor of a raw table.
fn cursor(table: &str) -> &'static str {
    match table {
        "kantata_time_entries" => "updated_at",
        "salesforce_opportunity" => "system_modstamp",
        _ => "lastmodifieddate",
    }
}

fn selected(reconcile: bool) -> ExtractOptions {
    let mut o = options(false);
    o.select = STREAMS
        .iter()
        .map(|(sys, st, _, _)| format!("{sys}.{st}"))
        .collect();
    o.reconcile = reconcile;
    o
}

fn stream<'a>(r: &'a ExtractReport, system: &str, name: &str) -> &'a StreamReport {
    r.streams
        .iter()
        .find(|s| s.system == system && s.stream == name)
        .unwrap_or_else(|| panic!("{system}.{name} in the report"))
}

/// Removes the record `id` from a fixture file; returns its line.
fn remove(fixtures: &Path, system: &str, stream: &str, key: &str, id: &str) -> String {
    let path = fixtures.join(system).join(format!("{stream}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (mut kept, mut removed) = (String::new(), None);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v[key].as_str() == Some(id) {
            removed = Some(line.to_string());
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    std::fs::write(&path, kept).unwrap();
    removed.unwrap_or_else(|| panic!("{id} not in {}", path.display()))
}

/// Adds a record line back to a fixture file.
fn restore(fixtures: &Path, system: &str, stream: &str, line: &str) {
    let path = fixtures.join(system).join(format!("{stream}.jsonl"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(line);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
}

/// Requests served, the OAuth token endpoint aside.
fn api_requests(sb: &RunningSandbox) -> u64 {
    sb.stats()
        .requests
        .iter()
        .filter(|(route, _)| !route.contains("oauth2"))
        .map(|(_, n)| n)
        .sum()
}

fn pages(r: &ExtractReport) -> u64 {
    r.streams.iter().map(|s| s.pages).sum()
}

async fn count(lake: &Lake, sql: &str) -> u64 {
    query_strings(lake, &format!("SELECT CAST(({sql}) AS VARCHAR)")).await[0]
        .parse()
        .unwrap()
}

/// Whether the latest row of key `id` is a landed record (what staging keeps).
async fn live(lake: &Lake, table: &str, id: &str) -> bool {
    let v = query_strings(
        lake,
        &format!(
            "SELECT CAST(coalesce(_deleted, false) AS VARCHAR) FROM raw.{table} WHERE id = '{id}' \
             ORDER BY _extracted_at DESC LIMIT 1"
        ),
    )
    .await;
    v == vec!["false"]
}

/// A landed key of `table`, among the oldest (far from the incremental overlap).
async fn landed_key(lake: &Lake, table: &str, skip: usize) -> String {
    let c = cursor(table);
    query_strings(
        lake,
        &format!(
            "SELECT id FROM (SELECT id, min({c}) AS c FROM raw.{table} GROUP BY id) \
             ORDER BY c, id LIMIT 1 OFFSET {skip}"
        ),
    )
    .await
    .remove(0)
}

async fn restart(sb: RunningSandbox, fixtures: &Path) -> RunningSandbox {
    sb.shutdown().await;
    sandbox(fixtures, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_records_get_one_tombstone_and_come_back_when_listed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let mut sb = sandbox(&fixtures, None).await;
    let mut p = demo(&sb.base_url(), &fixtures, &lake_dir);

    // 1: the first landing lists every key: it counts as a reconciliation, no keys pass
    let r1 = run(&p, &lake, &selected(false)).await;
    assert!(r1.is_success(), "{:#?}", r1.failed().collect::<Vec<_>>());
    assert!(r1.streams.iter().all(|s| !s.reconciled));
    let states = load_stream_states(&lake).await.unwrap();
    assert!(
        states.iter().all(|s| s.reconciled_at.is_some()),
        "{states:#?}"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM raw.kantata_time_entries WHERE _deleted"
        )
        .await,
        0,
        "landed rows carry _deleted = false"
    );

    // delete a time entry, an invoice (transaction), a customer and a purged opportunity; another
    // opportunity goes to the recycle bin (IsDeleted, a newer SystemModstamp)
    let mut gone = Vec::new();
    for (system, name, key, table) in STREAMS {
        let id = landed_key(&lake, table, 3).await;
        let line = remove(&fixtures, system, name, key, &id);
        gone.push((id, line));
    }
    let binned = landed_key(&lake, "salesforce_opportunity", 5).await;
    let line = remove(&fixtures, "salesforce", "Opportunity", "Id", &binned);
    let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["IsDeleted"] = serde_json::json!(true);
    v["SystemModstamp"] = serde_json::json!("2027-01-02T14:00:00.000+0000");
    restore(
        &fixtures,
        "salesforce",
        "Opportunity",
        &serde_json::to_string(&v).unwrap(),
    );
    sb = restart(sb, &fixtures).await;
    p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let rows = |table: &str| format!("SELECT count(*) FROM raw.{table}");
    let mut before = Vec::new();
    for (_, _, _, table) in STREAMS {
        before.push(count(&lake, &rows(table)).await);
    }

    // 2: within `every` and not forced: no keys pass, the deleted records are still live
    let n0 = api_requests(&sb);
    let r2 = run(&p, &lake, &selected(false)).await;
    assert!(r2.is_success(), "{:#?}", r2.failed().collect::<Vec<_>>());
    assert!(r2.streams.iter().all(|s| !s.reconciled && s.deleted == 0));
    assert_eq!(
        api_requests(&sb) - n0,
        pages(&r2),
        "only the incremental pages were requested"
    );
    for ((_, _, _, table), (id, _)) in STREAMS.iter().zip(&gone) {
        assert!(
            live(&lake, table, id).await,
            "{table} {id} not reconciled yet"
        );
    }

    // 3: --reconcile: one tombstone per deleted record, nothing removed
    let n0 = api_requests(&sb);
    let before_3 = load_stream_states(&lake).await.unwrap();
    let r3 = run(&p, &lake, &selected(true)).await;
    assert!(r3.is_success(), "{:#?}", r3.failed().collect::<Vec<_>>());
    assert!(api_requests(&sb) - n0 > pages(&r3), "the keys pass ran");
    for (i, ((system, name, key, table), (id, _))) in STREAMS.iter().zip(&gone).enumerate() {
        let s = stream(&r3, system, name);
        assert!(s.reconciled, "{system}.{name}");
        assert_eq!(s.deleted, 1, "{system}.{name}: one record deleted");
        assert_eq!(s.revived, 0);
        let in_source = fixture_records(&fixtures, system, name)
            .iter()
            .filter(|r| r[key].as_str().is_some_and(|k| !k.is_empty()))
            .count() as u64;
        assert_eq!(s.source_keys, in_source, "{system}.{name}: keys listed");
        assert_eq!(
            s.received,
            s.landed + s.unchanged + s.rejected,
            "tombstones are not received"
        );
        assert!(!live(&lake, table, id).await, "{table} {id} is deleted");
        // landed rows of r2 and r3 plus one tombstone; nothing physically removed
        let landed_since = stream(&r2, system, name).landed + s.landed;
        assert_eq!(
            count(&lake, &rows(table)).await,
            before[i] + landed_since + 1,
            "{table}: rows"
        );
        assert!(
            count(
                &lake,
                &format!("SELECT count(*) FROM raw.{table} WHERE id = '{id}' AND NOT _deleted")
            )
            .await
                >= 1,
            "{table}: the landed rows of {id} stay"
        );
        // the tombstone: key, _deleted, run columns; the rest NULL
        let t = query_strings(
            &lake,
            &format!(
                "SELECT concat_ws('|', id, _run_id, CAST(_extracted_at IS NOT NULL AS VARCHAR), \
                 coalesce(_raw, 'NULL')) FROM raw.{table} WHERE _deleted"
            ),
        )
        .await;
        assert_eq!(t, vec![format!("{id}|{}|true|NULL", r3.run_id)], "{table}");
    }
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM raw.kantata_time_entries WHERE _deleted \
             AND (workspace_id IS NOT NULL OR time_in_minutes IS NOT NULL OR updated_at IS NOT NULL)"
        )
        .await,
        0,
        "a tombstone's other columns are NULL"
    );
    // the binned opportunity is not tombstoned: queryAll still lists it, IsDeleted says it
    assert!(live(&lake, "salesforce_opportunity", &binned).await);
    assert_eq!(
        query_strings(
            &lake,
            &format!(
                "SELECT CAST(is_deleted AS VARCHAR) FROM raw.salesforce_opportunity \
                 WHERE id = '{binned}' ORDER BY _extracted_at DESC LIMIT 1"
            )
        )
        .await,
        vec!["true"]
    );
    // the reconciliation is recorded
    let after_3 = load_stream_states(&lake).await.unwrap();
    for (system, name, _, _) in STREAMS {
        let at = |v: &[pslake_lake::ops::StreamState]| {
            v.iter()
                .find(|s| s.system == *system && s.stream == *name)
                .and_then(|s| s.reconciled_at)
                .unwrap()
        };
        assert!(at(&after_3) > at(&before_3), "{system}.{name}");
    }

    // 4: again: no second tombstone
    let r4 = run(&p, &lake, &selected(true)).await;
    assert!(r4.is_success());
    for (system, name, _, table) in STREAMS {
        assert_eq!(stream(&r4, system, name).deleted, 0, "{system}.{name}");
        assert_eq!(
            count(
                &lake,
                &format!("SELECT count(*) FROM raw.{table} WHERE _deleted")
            )
            .await,
            1,
            "{table}: still one tombstone"
        );
    }

    // 5: records reappear. The invoice is restored with a newer lastmodifieddate: the
    // incremental pass lands it again. The time entry comes back unchanged (its cursor is old):
    // the next keys pass lands its last landed row again.
    let (te_id, te_line) = &gone[0];
    let (inv_id, inv_line) = &gone[1];
    restore(&fixtures, "kantata", "time_entries", te_line);
    let mut v: serde_json::Value = serde_json::from_str(inv_line).unwrap();
    v["lastmodifieddate"] = serde_json::json!("1/3/2027");
    restore(
        &fixtures,
        "netsuite",
        "transaction",
        &serde_json::to_string(&v).unwrap(),
    );
    sb = restart(sb, &fixtures).await;
    p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r5 = run(&p, &lake, &selected(false)).await;
    assert!(r5.is_success());
    assert!(live(&lake, "netsuite_transaction", inv_id).await);
    assert!(!live(&lake, "kantata_time_entries", te_id).await);
    let r6 = run(&p, &lake, &selected(true)).await;
    assert!(r6.is_success());
    let te = stream(&r6, "kantata", "time_entries");
    assert_eq!((te.deleted, te.revived), (0, 1));
    assert_eq!(stream(&r6, "netsuite", "transaction").revived, 0);
    assert!(live(&lake, "kantata_time_entries", te_id).await);
    let minutes = |run: String| {
        let lake = lake.clone();
        let te_id = te_id.clone();
        async move {
            query_strings(
                &lake,
                &format!(
                    "SELECT concat_ws('|', CAST(time_in_minutes AS VARCHAR), _raw) \
                     FROM raw.kantata_time_entries WHERE id = '{te_id}' AND _run_id = '{run}'"
                ),
            )
            .await
        }
    };
    assert_eq!(
        minutes(r6.run_id.clone()).await,
        minutes(r1.run_id.clone()).await,
        "the landed row comes back as it was"
    );

    // 6: `every` elapsed (the last reconciliation 8 days ago): the keys pass runs unforced,
    // for that stream only
    let (ex_id, _) = &gone[2];
    let other = query_strings(
        &lake,
        &format!(
            "SELECT DISTINCT id FROM raw.netsuite_customer WHERE id <> '{ex_id}' \
             AND NOT _deleted ORDER BY id LIMIT 1"
        ),
    )
    .await
    .remove(0);
    remove(&fixtures, "netsuite", "customer", "id", &other);
    sb = restart(sb, &fixtures).await;
    p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let mut st = load_stream_states(&lake)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.system == "netsuite" && s.stream == "customer")
        .unwrap();
    st.reconciled_at = Some(chrono::Utc::now() - chrono::Duration::days(8));
    st.updated_at = chrono::Utc::now();
    append_stream_state(&lake, &st).await.unwrap();
    let r7 = run(&p, &lake, &selected(false)).await;
    assert!(r7.is_success());
    for s in &r7.streams {
        let expense = s.stream == "customer";
        assert_eq!(s.reconciled, expense, "{}.{}", s.system, s.stream);
        assert_eq!(s.deleted, u64::from(expense), "{}.{}", s.system, s.stream);
    }
    assert!(!live(&lake, "netsuite_customer", &other).await);
    sb.shutdown().await;
}

/// A keys pass that reads no key from its records (a misconfigured keys request) fails the
/// stream and marks nothing deleted; the incremental pass's rows stay landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_pass_without_keys_marks_nothing_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let sb = sandbox(&fixtures, None).await;
    let mut p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let mut o = options(false);
    o.select = vec!["netsuite.transaction".into()];
    let r1 = run(&p, &lake, &o).await;
    assert!(r1.is_success());

    // the keys request selects another column than the key
    let s = p
        .systems
        .iter_mut()
        .flat_map(|s| s.streams.iter_mut())
        .find(|s| s.table == "netsuite_transaction")
        .unwrap();
    s.reconcile.as_mut().unwrap().endpoint.json =
        Some(serde_json::json!({"q": "SELECT tranid FROM transaction ORDER BY id"}));
    o.reconcile = true;
    let r2 = run(&p, &lake, &o).await;
    let s = stream(&r2, "netsuite", "transaction");
    let pslake_extract::StreamStatus::Failed { error, .. } = &s.status else {
        panic!("the stream fails: {s:#?}");
    };
    assert!(
        error.starts_with("reconcile: ") && error.contains("has the key `id`"),
        "{error}"
    );
    assert_eq!(s.received, s.landed + s.unchanged + s.rejected);
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM raw.netsuite_transaction WHERE _deleted"
        )
        .await,
        0
    );
    // the incremental pass's cursor moved; the reconciliation is still due
    let st = load_stream_states(&lake)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.stream == "transaction")
        .unwrap();
    assert_eq!(st.run_id, r2.run_id);
    sb.shutdown().await;
}
