use std::path::Path;

use pslake_extract::ExtractReport;
use pslake_lake::Lake;

use crate::common::*;

fn landed(r: &ExtractReport, system: &str, stream: &str) -> u64 {
    r.streams
        .iter()
        .find(|s| s.system == system && s.stream == stream)
        .map(|s| s.landed)
        .unwrap()
}

/// Records received and not rejected: landed, or left out as equal to what is landed.
fn accepted(r: &ExtractReport, system: &str, stream: &str) -> u64 {
    r.streams
        .iter()
        .find(|s| s.system == system && s.stream == stream)
        .map(|s| s.landed + s.unchanged)
        .unwrap()
}

/// Rewrites one record (matched by key) of a fixture file.
fn edit(
    fixtures: &Path,
    system: &str,
    stream: &str,
    key: &str,
    id: &str,
    f: impl Fn(&mut serde_json::Value),
) {
    let path = fixtures.join(system).join(format!("{stream}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut hit = false;
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v[key].as_str() == Some(id) {
            f(&mut v);
            hit = true;
            out.push_str(&serde_json::to_string(&v).unwrap());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(hit, "{id} not in {}", path.display());
    std::fs::write(&path, out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_lands_only_the_overlap_then_changes_then_full_refresh() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();

    let sb = sandbox(&fixtures, None).await;
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r1 = run(&p, &lake, &options(false)).await;
    assert!(r1.is_success(), "{:#?}", r1.failed().collect::<Vec<_>>());

    // 2: nothing changed: only the overlap is received again, and none of it lands (every
    // record equals its landed row), so no raw table gets a new version.
    let r2 = run(&p, &lake, &options(false)).await;
    assert!(r2.is_success());
    let overlap_sql = |table: &str, col: &str, lag: &str| {
        format!(
            "SELECT CAST(count(*) AS VARCHAR) FROM raw.{table} WHERE _run_id = '{}' AND {col} >= (SELECT max({col}) FROM raw.{table}) - INTERVAL '{lag}'",
            r1.run_id
        )
    };
    for (system, stream, table, col, lag, strict) in [
        (
            "salesforce",
            "Opportunity",
            "salesforce_opportunity",
            "system_modstamp",
            "1 minute",
            false,
        ),
        (
            "salesforce",
            "Account",
            "salesforce_account",
            "system_modstamp",
            "1 minute",
            false,
        ),
        (
            "kantata",
            "time_entries",
            "kantata_time_entries",
            "updated_at",
            "5 minutes",
            true,
        ),
        (
            "netsuite",
            "transactionline",
            "netsuite_transactionline",
            "linelastmodifieddate",
            "1 day",
            false,
        ),
        (
            "hubspot",
            "deals",
            "hubspot_deals",
            "hs_lastmodifieddate",
            "5 minutes",
            false,
        ),
    ] {
        let expected: u64 = query_strings(&lake, &overlap_sql(table, col, lag)).await[0]
            .parse()
            .unwrap();
        let got = accepted(&r2, system, stream);
        assert!(
            got < landed(&r1, system, stream),
            "{table}: second run receives less ({got})"
        );
        assert_eq!(
            landed(&r2, system, stream),
            0,
            "{table}: an unchanged overlap lands nothing"
        );
        if strict {
            // Kantata's updated_after is strictly later than the start value
            assert!(got <= expected, "{table}: {got} > overlap {expected}");
        } else {
            assert_eq!(
                got, expected,
                "{table}: second run receives exactly the overlap"
            );
        }
    }
    for s in r2.streams.iter().chain(&r1.streams) {
        assert_eq!(
            s.received,
            s.landed + s.unchanged + s.rejected,
            "{}.{}: received = landed + unchanged + rejected",
            s.system,
            s.stream
        );
    }
    assert!(
        r2.streams
            .iter()
            .find(|s| s.system == "hubspot")
            .unwrap()
            .filtered
            > 0
    );
    // HubSpot's property histories are a child of the deals: read in batches for the deals in
    // the overlap only (their whole histories), not by listing every deal again
    let history_in_overlap = query_strings(
        &lake,
        &format!(
            "SELECT CAST(count(*) AS VARCHAR) FROM raw.hubspot_deal_history WHERE _run_id = '{}' AND deal_id IN \
             (SELECT id FROM raw.hubspot_deals WHERE hs_lastmodifieddate >= {f} OR archived_at >= {f})",
            r1.run_id,
            f = "(SELECT max(greatest(hs_lastmodifieddate, archived_at)) FROM raw.hubspot_deal_history) - INTERVAL '5 minutes'"
        ),
    )
    .await[0]
        .parse::<u64>()
        .unwrap();
    assert!(history_in_overlap > 0);
    assert!(history_in_overlap < landed(&r1, "hubspot", "deal_history"));
    assert_eq!(accepted(&r2, "hubspot", "deal_history"), history_in_overlap);
    assert_eq!(landed(&r2, "hubspot", "deal_history"), 0);
    let history2 = r2
        .streams
        .iter()
        .find(|s| s.stream == "deal_history")
        .unwrap();
    assert_eq!(
        history2.filtered, 0,
        "no history of an unchanged deal was fetched (a listing filters them client side)"
    );
    // an unchanged snapshot lands nothing (the landed one stays the latest), files never twice
    assert_eq!(landed(&r2, "workday", "Workers"), 0);
    assert_eq!(
        accepted(&r2, "workday", "Workers"),
        landed(&r1, "workday", "Workers")
    );
    assert_eq!(landed(&r2, "treasury", "fx_rates"), 0);
    sb.shutdown().await;

    // 3: edit the source, restart the sandbox
    let te = fixture_records(&fixtures, "kantata", "time_entries");
    let te_id = te[0]["id"].as_str().unwrap().to_string();
    edit(&fixtures, "kantata", "time_entries", "id", &te_id, |v| {
        v["time_in_minutes"] = serde_json::json!(123);
        v["updated_at"] = serde_json::json!("2027-01-02T09:00:00-05:00");
    });
    // one worker changes: the snapshot differs, so it lands whole
    edit(
        &fixtures,
        "workday",
        "Workers",
        "Employee_ID",
        "100001",
        |v| {
            v["Practice"] = serde_json::json!("Strategy");
        },
    );
    let opp = fixture_records(&fixtures, "salesforce", "Opportunity");
    let opp_id = opp[0]["Id"].as_str().unwrap().to_string();
    edit(&fixtures, "salesforce", "Opportunity", "Id", &opp_id, |v| {
        v["Amount"] = serde_json::json!(4242.5);
        v["SystemModstamp"] = serde_json::json!("2027-01-02T14:00:00.000+0000");
    });
    let inv = fixture_records(&fixtures, "netsuite", "transaction");
    let inv_id = inv.iter().find(|t| t["type"] == "CustInvc").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    edit(&fixtures, "netsuite", "transaction", "id", &inv_id, |v| {
        v["status"] = serde_json::json!("V");
        v["lastmodifieddate"] = serde_json::json!("1/3/2027");
    });
    // a HubSpot deal's amount changes: a new history entry, hs_lastmodifieddate moves
    let deal_id = fixture_records(&fixtures, "hubspot", "deals")
        .into_iter()
        .find(|d| d["archived"] == false && d["propertiesWithHistory"]["amount"].is_array())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    edit(&fixtures, "hubspot", "deals", "id", &deal_id, |v| {
        let at = serde_json::json!("2027-01-02T10:00:00.000Z");
        v["properties"]["amount"] = serde_json::json!("777.00");
        v["properties"]["hs_lastmodifieddate"] = at.clone();
        v["updatedAt"] = at.clone();
        let amounts = v["propertiesWithHistory"]["amount"].as_array_mut().unwrap();
        amounts.insert(
            0,
            serde_json::json!({"value": "777.00", "timestamp": at, "sourceType": "CRM_UI"}),
        );
    });
    std::fs::write(
        fixtures.join("treasury/fx_rates_2099-01.csv"),
        "currency,month,usd_per_unit\nEUR,2099-01,1.10000001\n",
    )
    .unwrap();

    let sb = sandbox(&fixtures, None).await;
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r3 = run(&p, &lake, &options(false)).await;
    assert!(r3.is_success(), "{:#?}", r3.failed().collect::<Vec<_>>());
    assert_eq!(
        landed(&r3, "workday", "Workers"),
        landed(&r1, "workday", "Workers")
    );
    // the edited time entry lands; the re-sent unchanged overlap does not
    assert_eq!(landed(&r3, "kantata", "time_entries"), 1);
    let q = |sql: String| {
        let lake = lake.clone();
        async move { query_strings(&lake, &sql).await }
    };
    assert_eq!(
        q(format!("SELECT CAST(time_in_minutes AS VARCHAR) FROM raw.kantata_time_entries WHERE id = '{te_id}' AND _run_id = '{}'", r3.run_id)).await,
        vec!["123"]
    );
    // the changed entry plus the same overlap as run 2
    assert_eq!(
        landed(&r3, "kantata", "time_entries"),
        landed(&r2, "kantata", "time_entries") + 1
    );
    assert_eq!(
        q(format!("SELECT CAST(amount AS VARCHAR) FROM raw.salesforce_opportunity WHERE id = '{opp_id}' AND _run_id = '{}'", r3.run_id)).await,
        vec!["4242.50"]
    );
    assert_eq!(
        landed(&r3, "salesforce", "Opportunity"),
        landed(&r2, "salesforce", "Opportunity") + 1
    );
    assert_eq!(
        q(format!(
            "SELECT status FROM raw.netsuite_transaction WHERE id = '{inv_id}' AND _run_id = '{}'",
            r3.run_id
        ))
        .await,
        vec!["V"]
    );
    // the changed deal lands (found by the search endpoint) with its new history entry
    assert_eq!(
        q(format!("SELECT CAST(amount AS VARCHAR) FROM raw.hubspot_deals WHERE id = '{deal_id}' AND _run_id = '{}'", r3.run_id)).await,
        vec!["777.00"]
    );
    assert_eq!(
        q(format!("SELECT value FROM raw.hubspot_deal_history WHERE deal_id = '{deal_id}' AND property = 'amount' AND _run_id = '{}' AND timestamp = TIMESTAMP '2027-01-02T10:00:00Z'", r3.run_id)).await,
        vec!["777.00"]
    );
    let fx = r3.streams.iter().find(|s| s.system == "treasury").unwrap();
    assert_eq!(fx.files, vec!["fx_rates_2099-01.csv".to_string()]);
    assert_eq!(fx.landed, 1);
    assert_eq!(
        q("SELECT CAST(usd_per_unit AS VARCHAR) FROM raw.treasury_fx_rates WHERE month = '2099-01'".into()).await,
        vec!["1.10000001"]
    );
    // the cursor moved to the changed record
    let states = pslake_lake::ops::load_stream_states(&lake).await.unwrap();
    let st = states
        .iter()
        .find(|s| s.system == "kantata" && s.stream == "time_entries")
        .unwrap();
    assert_eq!(st.cursor.as_deref(), Some("2027-01-02T14:00:00.000000Z"));
    assert_eq!(st.run_id, r3.run_id);

    // 4: full refresh ignores cursors and the loaded-file list
    let r4 = run(&p, &lake, &options(true)).await;
    assert!(r4.is_success());
    assert_eq!(
        landed(&r4, "kantata", "time_entries")
            + r4.streams
                .iter()
                .find(|s| s.stream == "time_entries")
                .unwrap()
                .rejected,
        te.len() as u64
    );
    let files = std::fs::read_dir(fixtures.join("treasury"))
        .unwrap()
        .count();
    assert_eq!(
        r4.streams
            .iter()
            .find(|s| s.system == "treasury")
            .unwrap()
            .files
            .len(),
        files
    );
    sb.shutdown().await;
}

/// A stream whose raw table is gone while its cursor is kept (a table dropped by hand) has
/// nothing landed to compare with: the re-sent records and the ones modified since all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_raw_table_gone_every_received_record_lands_again() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let sb = sandbox(&fixtures, None).await;
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r1 = run(&p, &lake, &options(false)).await;
    assert!(r1.is_success(), "{:#?}", r1.failed().collect::<Vec<_>>());
    sb.shutdown().await;

    // one entry modified after the cursor, then the raw table dropped
    let te = fixture_records(&fixtures, "kantata", "time_entries");
    let te_id = te[0]["id"].as_str().unwrap().to_string();
    edit(&fixtures, "kantata", "time_entries", "id", &te_id, |v| {
        v["time_in_minutes"] = serde_json::json!(123);
        v["updated_at"] = serde_json::json!("2027-01-02T09:00:00-05:00");
    });
    std::fs::remove_dir_all(lake_dir.join("raw/kantata_time_entries")).unwrap();

    let sb = sandbox(&fixtures, None).await;
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r2 = run(&p, &lake, &options(false)).await;
    assert!(r2.is_success(), "{:#?}", r2.failed().collect::<Vec<_>>());
    let s = r2
        .streams
        .iter()
        .find(|s| s.system == "kantata" && s.stream == "time_entries")
        .unwrap();
    assert!(
        s.received > 1,
        "the overlap and the edited entry are received"
    );
    assert_eq!((s.landed, s.unchanged), (s.received - s.rejected, 0));
    assert_eq!(
        query_strings(
            &lake,
            &format!("SELECT CAST(time_in_minutes AS VARCHAR) FROM raw.kantata_time_entries WHERE id = '{te_id}'")
        )
        .await,
        vec!["123"]
    );
    sb.shutdown().await;
}

/// A HubSpot search pages through at most 10,000 results (the sandbox answers a page past them
/// with a 400, as HubSpot does). When more live deals than that changed since the cursor, the
/// search restarts from the last `hs_lastmodifieddate` seen, and every changed deal lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_past_10000_changed_deals_restarts_from_the_last_modification_time() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    // 10,050 live deals, from the first fixture deal, each modified a second apart
    let template = fixture_records(&fixtures, "hubspot", "deals")
        .into_iter()
        .find(|d| d["archived"] == false)
        .unwrap();
    let n = 10_050usize;
    let at = |base: &str, i: usize| {
        let t = chrono::DateTime::parse_from_rfc3339(base).unwrap()
            + chrono::Duration::seconds(i as i64);
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    };
    let write = |base: &str| {
        let mut out = String::new();
        for i in 0..n {
            let mut d = template.clone();
            d["id"] = serde_json::json!(format!("{}", 50_000_000 + i));
            d["properties"]["hs_lastmodifieddate"] = serde_json::json!(at(base, i));
            d["updatedAt"] = serde_json::json!(at(base, i));
            out.push_str(&serde_json::to_string(&d).unwrap());
            out.push('\n');
        }
        std::fs::write(fixtures.join("hubspot/deals.jsonl"), out).unwrap();
    };
    write("2026-08-01T00:00:00Z");
    // the deals stream alone, without the declared rate limit (10 requests a second)
    let only_deals = |url: &str| {
        let mut p = demo(url, &fixtures, &lake_dir);
        p.systems.retain(|s| s.name == "hubspot");
        for s in &mut p.systems {
            s.streams.retain(|st| st.name == "deals");
            if let pslake_core::pipeline::SystemKind::Rest(c) = &mut s.kind {
                c.rate_limit = None;
            }
        }
        p
    };
    let sb = sandbox(&fixtures, None).await;
    let r1 = run(&only_deals(&sb.base_url()), &lake, &options(false)).await;
    assert!(r1.is_success(), "{:#?}", r1.failed().collect::<Vec<_>>());
    assert_eq!(landed(&r1, "hubspot", "deals"), n as u64);
    sb.shutdown().await;

    // every deal modified again, after the cursor
    write("2026-10-01T00:00:00Z");
    let sb = sandbox(&fixtures, None).await;
    let r2 = run(&only_deals(&sb.base_url()), &lake, &options(false)).await;
    assert!(r2.is_success(), "{:#?}", r2.failed().collect::<Vec<_>>());
    let s = r2.streams.iter().find(|s| s.stream == "deals").unwrap();
    // 50 pages of 200 up to the cap, then a second query from the last time seen: its first
    // page re-reads the deal at that instant (landed twice, deduped by the primary key
    // downstream)
    assert_eq!(s.duplicates, 1, "{s:#?}");
    assert_eq!(s.landed, n as u64 + 1, "{s:#?}");
    let latest = query_strings(
        &lake,
        &format!(
            "SELECT CAST(count(DISTINCT id) AS VARCHAR) FROM raw.hubspot_deals WHERE _run_id = '{}'",
            r2.run_id
        ),
    )
    .await;
    assert_eq!(latest, vec![n.to_string()]);
    sb.shutdown().await;
}

/// The demo lists HubSpot deals with `propertiesWithHistory` and its `deal_history` reads them
/// from those landed deals (`parent.embedded`): on a first run it lands exactly the rows the
/// batch reads of every deal land, with no batch read (a few decoded pages of 500 deals instead
/// of one request per 50 deals), and the deals' history member is not reported as a new field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_reads_the_histories_from_the_listed_deals_as_the_batch_reads_would() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let sb = sandbox(&fixtures, None).await;
    let mut o = options(false);
    o.select = vec!["hubspot".into()];
    let rows = "SELECT deal_id || '|' || property || '|' || coalesce(value, '') || '|' || \
                CAST(timestamp AS VARCHAR) || '|' || coalesce(CAST(archived_at AS VARCHAR), '') \
                FROM raw.hubspot_deal_history ORDER BY 1";

    // The demo pipeline: histories from the listed deals.
    let lake_dir = tmp.path().join("embedded");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let r = run(&p, &lake, &o).await;
    assert!(r.is_success(), "{:#?}", r.failed().collect::<Vec<_>>());
    let embedded = query_strings(&lake, rows).await;
    let deals = r.streams.iter().find(|s| s.stream == "deals").unwrap();
    let history = r
        .streams
        .iter()
        .find(|s| s.stream == "deal_history")
        .unwrap();
    assert!(
        deals.new_fields.is_empty(),
        "the embedded member is not schema drift: {:?}",
        deals.new_fields
    );

    // The same pipeline without it: every deal's histories batch-read, 50 deals a request.
    let lake_dir = tmp.path().join("batch_read");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let mut p = demo(&sb.base_url(), &fixtures, &lake_dir);
    let hubspot = p.systems.iter_mut().find(|s| s.name == "hubspot").unwrap();
    for s in hubspot.streams.iter_mut() {
        s.endpoint.params.remove("propertiesWithHistory");
        if let Some(parent) = s.parent.as_mut() {
            parent.embedded = None;
        }
    }
    let r = run(&p, &lake, &o).await;
    assert!(r.is_success(), "{:#?}", r.failed().collect::<Vec<_>>());
    let batch_read = query_strings(&lake, rows).await;
    let batch_history = r
        .streams
        .iter()
        .find(|s| s.stream == "deal_history")
        .unwrap();
    sb.shutdown().await;

    assert!(embedded.len() > 100, "{} history rows", embedded.len());
    assert_eq!(embedded, batch_read, "the same history rows either way");
    // deals (live and archived) / 50 batch reads, against deals / 500 decoded pages.
    let batches = deals.received.div_ceil(50);
    assert!(
        batch_history.pages >= batches,
        "batch reads: {} pages for {} deals",
        batch_history.pages,
        deals.received
    );
    assert!(
        history.pages <= deals.received.div_ceil(500) + 1,
        "from the listed deals: {} pages for {} deals",
        history.pages,
        deals.received
    );
}
