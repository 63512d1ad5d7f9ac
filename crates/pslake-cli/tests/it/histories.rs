//! SPEC section 4b's source data through `pslake run` and the embedded sandbox: Salesforce
//! `OpportunityHistory`, the deals' `propertiesWithHistory` (one raw row per entry), the Workday
//! `Worker_History` report and NetSuite `job.datecreated` land from the committed fixtures; a
//! fixture directory written before them (SPEC section 6: any directory in the layout runs)
//! still runs, its history tables empty.

use std::path::Path;

use pslake_lake::Lake;
use serde_json::Value;

use crate::e2e::{copy_dir, count};
use crate::support::{repo_root, run_demo, show};

fn records(dir: &Path, system: &str, stream: &str) -> Vec<Value> {
    let path = dir.join(system).join(format!("{stream}.jsonl"));
    fs_err::read_to_string(&path)
        .expect("fixture file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn write_records(dir: &Path, system: &str, stream: &str, recs: &[Value]) {
    let text: String = recs.iter().map(|r| format!("{r}\n")).collect();
    fs_err::write(dir.join(system).join(format!("{stream}.jsonl")), text).expect("write");
}

/// The history entries the sandbox serves: those of every deal it lists (HubSpot purges a deal
/// archived more than 90 days before `as_of`, the manifest's date).
fn listed_history_entries(fixtures: &Path) -> i64 {
    let manifest: Value = serde_json::from_str(
        &fs_err::read_to_string(fixtures.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest json");
    let as_of =
        chrono::NaiveDate::parse_from_str(manifest["as_of"].as_str().expect("as_of"), "%Y-%m-%d")
            .expect("date");
    let purge_before =
        as_of.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - chrono::Duration::days(90);
    records(fixtures, "hubspot", "deals")
        .iter()
        .filter(|d| {
            d["archived"] != true || {
                let at = d.get("archivedAt").unwrap_or(&d["updatedAt"]);
                chrono::DateTime::parse_from_rfc3339(at.as_str().expect("a datetime"))
                    .expect("datetime")
                    >= purge_before
            }
        })
        .flat_map(|d| {
            d["propertiesWithHistory"]
                .as_object()
                .expect("histories")
                .values()
        })
        .map(|list| list.as_array().expect("a list").len() as i64)
        .sum()
}

#[test]
fn history_streams_land_from_the_fixtures_and_a_directory_without_them_still_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = repo_root().join("fixtures");
    let (lake_dir, out) = run_demo(&tmp.path().join("full"), &fixtures, &[]);
    assert!(out.status.success(), "run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let n = |sql: &str| count(&rt, &lake, sql);

    let history = records(&fixtures, "salesforce", "OpportunityHistory").len() as i64;
    let entries = listed_history_entries(&fixtures);
    let versions = records(&fixtures, "workday", "Worker_History").len() as i64;
    let jobs = records(&fixtures, "netsuite", "job").len() as i64;
    assert!(
        history > 100 && entries > 100 && versions > 10,
        "{history} {entries} {versions}"
    );
    assert_eq!(
        n("SELECT count(*) FROM raw.salesforce_opportunityhistory"),
        history
    );
    assert_eq!(n("SELECT count(*) FROM raw.hubspot_deal_history"), entries);
    assert_eq!(
        n(
            "SELECT count(DISTINCT deal_id || property || CAST(timestamp AS VARCHAR)) FROM raw.hubspot_deal_history"
        ),
        entries,
        "the primary key (deal_id, property, timestamp) is unique"
    );
    assert_eq!(
        n("SELECT count(*) FROM raw.workday_worker_history"),
        versions
    );
    assert_eq!(
        n("SELECT count(*) FROM raw.netsuite_job WHERE datecreated IS NOT NULL"),
        jobs
    );
    // the raw contract's types
    let types = |sql: &str| {
        let batches = rt.block_on(lake.query(sql)).expect(sql);
        arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string()
    };
    let t = types(
        "SELECT arrow_typeof(amount) AS a, arrow_typeof(probability) AS p, arrow_typeof(close_date) AS c, \
         arrow_typeof(created_date) AS d, arrow_typeof(is_deleted) AS x FROM raw.salesforce_opportunityhistory LIMIT 1",
    );
    for ty in [
        "Decimal128(18, 2)",
        "Float64",
        "Date32",
        "Timestamp",
        "Boolean",
    ] {
        assert!(t.contains(ty), "{ty}: {t}");
    }
    let t = types(
        "SELECT arrow_typeof(hourly_cost_rate) AS r, arrow_typeof(effective_date) AS e, \
         arrow_typeof(scheduled_weekly_hours) AS h FROM raw.workday_worker_history LIMIT 1",
    );
    assert!(
        t.contains("Decimal128(18, 6)") && t.contains("Date32") && t.contains("Float64"),
        "{t}"
    );
    // the latest history row of every opportunity is the opportunity as it stands, and no
    // job was set up before its opportunity was won
    assert_eq!(
        n("SELECT count(*) FROM raw.salesforce_opportunity o JOIN ( \
             SELECT opportunity_id, stage_name, amount, close_date, \
                    row_number() OVER (PARTITION BY opportunity_id ORDER BY created_date DESC) AS rn \
             FROM raw.salesforce_opportunityhistory) h \
           ON h.opportunity_id = o.id AND h.rn = 1 \
           WHERE h.stage_name = o.stage_name AND h.amount = o.amount AND h.close_date = o.close_date"),
        n("SELECT count(*) FROM raw.salesforce_opportunity")
    );
    assert_eq!(
        n(
            "SELECT count(*) FROM raw.netsuite_job j JOIN raw.salesforce_opportunity o \
           ON o.id = j.custentity_crm_opportunity_id WHERE j.datecreated <= o.close_date"
        ),
        0
    );

    // A directory in the layout before SPEC 4b: no history files, deals without histories,
    // jobs without datecreated. It runs; the history tables are empty.
    let old = tmp.path().join("old");
    copy_dir(&fixtures, &old);
    fs_err::remove_file(old.join("salesforce/OpportunityHistory.jsonl")).expect("rm");
    fs_err::remove_file(old.join("workday/Worker_History.jsonl")).expect("rm");
    for (system, stream, field) in [
        ("hubspot", "deals", "propertiesWithHistory"),
        ("netsuite", "job", "datecreated"),
    ] {
        let recs: Vec<Value> = records(&old, system, stream)
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().expect("a record").shift_remove(field);
                r
            })
            .collect();
        write_records(&old, system, stream, &recs);
    }
    let (lake_dir, out) = run_demo(&tmp.path().join("old-run"), &old, &[]);
    assert!(
        out.status.success(),
        "an old fixture directory runs:\n{}",
        show(&out)
    );
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let n = |sql: &str| count(&rt, &lake, sql);
    for table in [
        "salesforce_opportunityhistory",
        "hubspot_deal_history",
        "workday_worker_history",
    ] {
        // the table is there, empty, so models reading it build
        assert_eq!(
            n(&format!("SELECT count(*) FROM raw.{table}")),
            0,
            "raw.{table}"
        );
    }
    assert_eq!(
        n("SELECT count(*) FROM raw.netsuite_job WHERE datecreated IS NULL"),
        jobs
    );
}
