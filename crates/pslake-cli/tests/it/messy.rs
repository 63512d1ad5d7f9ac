//! `pslake run` on the messy fixture set (`fixtures/messy/`, see its README): run 1 succeeds
//! although the `as_of` month has no treasury file, the planted rows are rejected under their
//! rule (or wait outside the window), and run 2, which brings the rate, takes the FX rejects back.
//! The deletions of run 2 need `--reconcile` and are tested with it.

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
fn messy_run_one_rejects_the_planted_rows_and_run_two_takes_the_fx_rejects_back() {
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
    let (_, out) = run_demo(dir.path(), &src, &[]);
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
}
