//! `pslake run` on the messy fixture set (`fixtures/messy/`, see its README): run 1 succeeds
//! although the `as_of` month has no treasury file, the planted rows are rejected under their
//! rule (or wait outside the window), and run 2, which brings the rate, takes the FX rejects back.
//! Run 2 runs with `--reconcile`, so the records deleted from the sources leave the canonical
//! tables; run 3 re-wins the debooked deal and loses the HubSpot one.

use pslake_lake::Lake;

use crate::e2e::{copy_dir, count};
use crate::support::{repo_root, run_demo, show};

/// The planted rejects of run 1: `(stream, key, rule)`.
const RUN1_REJECTS: &[(&str, &str, &str)] = &[
    ("time_entries", "598000002", "no_fx_rate"),
    ("invoice_line", "3999105", "no_fx_rate"),
    ("expense_line", "4999105", "no_fx_rate"),
    ("invoice_line", "3999101", "unknown_project"),
    ("expense_line", "4999101", "unknown_project"),
    ("invoice_line", "3999102", "unknown_project"),
    ("expense_line", "4999102", "unknown_project"),
    ("stories", "702399001", "unknown_workspace"),
];

/// Rejects of the latest run only (`_pslake.rejects` is a log of every run).
fn latest_rejects(key: &str, rule: &str) -> String {
    format!(
        "SELECT count(*) FROM _pslake.rejects WHERE key = '{key}' AND rule = '{rule}' \
         AND _run_id IN (SELECT _run_id FROM _pslake.runs \
                         WHERE started_at = (SELECT max(started_at) FROM _pslake.runs))"
    )
}

#[test]
fn messy_firm_over_three_runs_rejects_waits_deletes_and_rebooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    copy_dir(&repo_root().join("fixtures/messy"), &src);
    let (lake_dir, out) = run_demo(dir.path(), &src, &[]);
    assert!(
        out.status.success(),
        "run 1 of fixtures/messy:\n{}",
        show(&out)
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let n = |sql: &str| count(&rt, &lake, sql);
    for (stream, key, rule) in RUN1_REJECTS {
        assert_eq!(
            n(&format!(
                "SELECT count(*) FROM _pslake.rejects \
                 WHERE stream = '{stream}' AND key = '{key}' AND rule = '{rule}'"
            )),
            1,
            "run 1 rejects {stream} {key} as {rule}"
        );
    }
    // The cross-currency entry conforms; the one after as_of is neither conformed nor rejected.
    let entry = |id: &str| {
        format!("SELECT count(*) FROM canonical.fct_time_entry WHERE time_entry_id = '{id}'")
    };
    assert_eq!(n(&entry("598000001")), 1);
    assert_eq!(n(&entry("598000003")), 0);
    assert_eq!(
        n(
            "SELECT count(*) FROM _pslake.rejects WHERE key IN ('598000003', '3999103', '4999103', '702399002')"
        ),
        0,
        "records after as_of wait outside the window, not rejected"
    );
    // A booking in the rate-less month is published with its local amount and a NULL amount_usd;
    // the one won after as_of is not in bookings.
    let booking = |id: &str, cond: &str| {
        format!("SELECT count(*) FROM canonical.bookings WHERE opportunity_id = '{id}' {cond}")
    };
    assert_eq!(
        n(&booking(
            "0065e00000kBmVSAA0",
            "AND amount_usd IS NULL AND amount_local IS NOT NULL"
        )),
        1
    );
    assert_eq!(n(&booking("0065e00000kFyeXAAS", "")), 0);

    // Run 2: the as_of month's rates arrive, so its FX rejects come back by themselves; the
    // invoice line that got its job conforms too.
    copy_dir(&repo_root().join("fixtures/messy/run2"), &src);
    let (_, out) = run_demo(dir.path(), &src, &["--reconcile"]);
    assert!(
        out.status.success(),
        "run 2 of fixtures/messy:\n{}",
        show(&out)
    );
    for (_, key, rule) in RUN1_REJECTS {
        let expected = match *rule {
            "no_fx_rate" => 0,
            _ if *key == "3999102" => 0,
            _ => 1,
        };
        assert_eq!(
            n(&latest_rejects(key, rule)),
            expected,
            "run 2 rejects of {key} as {rule}"
        );
    }
    assert_eq!(n(&entry("598000002")), 1, "598000002 conforms in run 2");
    assert_eq!(
        n(&booking("0065e00000kBmVSAA0", "AND amount_usd IS NOT NULL")),
        1
    );
    assert_eq!(
        n(&booking(
            "0065e00000k3ODIAA2",
            "AND event_type = 'amount_change'"
        )),
        1
    );
    assert_eq!(
        n(&booking("0065e00000k7aMNAAY", "AND event_type = 'debook'")),
        1
    );
    // The unparseable rows of run 1 are still bad in their sources: still current rejects,
    // although run 2's incremental extract did not re-read them.
    assert_eq!(n(&latest_rejects("599000011", "unparseable_value")), 1);
    // (the bad invoice's header, transaction 13999001, has an unparseable trandate)
    assert_eq!(n(&latest_rejects("13999001", "unparseable_value")), 1);
    // Deleted from their sources between run 1 and run 2: the reconciliation pass writes one
    // tombstone each (nothing removed from raw), and they leave the canonical tables.
    for id in ["598000004", "598000005"] {
        assert_eq!(n(&entry(id)), 0, "{id} was deleted in Kantata");
        assert_eq!(
            n(&format!(
                "SELECT count(*) FROM raw.kantata_time_entries WHERE id = '{id}' AND _deleted"
            )),
            1
        );
        assert!(
            n(&format!(
                "SELECT count(*) FROM raw.kantata_time_entries WHERE id = '{id}' AND NOT _deleted"
            )) >= 1,
            "raw keeps the landed row of {id}"
        );
    }
    // the invoice and the expense report go whole: their headers and their lines
    for (table, key, id) in [
        ("netsuite_transactionline", "uniquekey", "3999104"),
        ("netsuite_transactionline", "uniquekey", "4999104"),
        ("netsuite_transactionline", "uniquekey", "53999104"),
        ("netsuite_transaction", "id", "13999104"),
        ("netsuite_transaction", "id", "14999104"),
    ] {
        assert_eq!(
            n(&format!(
                "SELECT count(*) FROM raw.{table} WHERE {key} = '{id}' AND _deleted"
            )),
            1,
            "{id} was deleted in NetSuite"
        );
    }

    // Run 3: the debooked change order is won again; the HubSpot deal is lost and debooked.
    copy_dir(&repo_root().join("fixtures/messy/run3"), &src);
    let (_, out) = run_demo(dir.path(), &src, &["--reconcile"]);
    assert!(
        out.status.success(),
        "run 3 of fixtures/messy:\n{}",
        show(&out)
    );
    assert_eq!(
        n(&booking("0065e00000k7aMNAAY", "AND event_type = 'won'")),
        2,
        "won, debooked, won again"
    );
    assert_eq!(n(&booking("18234499001", "AND event_type = 'debook'")), 1);
    // A rerun on the same sources adds no booking event.
    let events = n("SELECT count(*) FROM canonical.bookings");
    let (_, out) = run_demo(dir.path(), &src, &["--reconcile"]);
    assert!(out.status.success(), "rerun of run 3:\n{}", show(&out));
    assert_eq!(n("SELECT count(*) FROM canonical.bookings"), events);
}
