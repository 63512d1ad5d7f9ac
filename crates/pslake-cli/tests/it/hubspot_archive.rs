//! HubSpot deletions land: a won deal archived between two runs keeps its
//! `hs_lastmodifieddate` (HubSpot does not touch it when archiving), so only the archived
//! listing's own cursor (`archivedAt`, declared with `param_set_cursors`) brings it in; the
//! second run publishes its `debook`, dated the archivedAt date.

use pslake_lake::Lake;

use crate::e2e::{copy_dir, count};
use crate::support::{repo_root, rows, run_demo, show};

/// A won deal of the demo fixtures (closed 2026-06-15, last modified 2026-06-17).
const DEAL: &str = "18234400585";

#[test]
fn a_won_hubspot_deal_archived_between_runs_is_debooked_on_its_archived_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let fixtures = repo_root().join("fixtures");
    for d in [
        "hubspot",
        "kantata",
        "netsuite",
        "salesforce",
        "treasury",
        "workday",
    ] {
        copy_dir(&fixtures.join(d), &src.join(d));
    }
    fs_err::copy(fixtures.join("manifest.json"), src.join("manifest.json")).expect("manifest");
    let (lake_dir, out) = run_demo(dir.path(), &src, &[]);
    assert!(out.status.success(), "run 1:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let bookings = format!(
        "SELECT event_type, CAST(booking_date AS VARCHAR), CAST(amount_local AS VARCHAR) \
         FROM canonical.bookings WHERE opportunity_id = '{DEAL}'"
    );
    assert_eq!(
        rows(&rt, &lake, &bookings),
        vec!["won|2026-06-15|167600.00".to_string()],
        "run 1 books the won deal"
    );

    // Archive it after run 1's cursor (the latest hs_lastmodifieddate is 2026-09-20) and before
    // as_of (2026-09-30); hs_lastmodifieddate and updatedAt stay as they were.
    let path = src.join("hubspot/deals.jsonl");
    let text = fs_err::read_to_string(&path).expect("deals");
    let mut edited = String::new();
    let mut found = false;
    for line in text.lines() {
        if line.starts_with(&format!("{{\"id\":\"{DEAL}\"")) {
            found = true;
            let l = line.replace("\"archived\":false", "\"archived\":true");
            let l = l.strip_suffix('}').expect("a JSON object").to_string()
                + ",\"archivedAt\":\"2026-09-25T08:00:00.000Z\"}";
            edited.push_str(&l);
        } else {
            edited.push_str(line);
        }
        edited.push('\n');
    }
    assert!(found, "deal {DEAL} is in the fixtures");
    fs_err::write(&path, edited).expect("write deals");

    let (_, out) = run_demo(dir.path(), &src, &[]);
    assert!(out.status.success(), "run 2:\n{}", show(&out));
    assert_eq!(
        count(
            &rt,
            &lake,
            &format!(
                "SELECT count(*) FROM raw.hubspot_deals WHERE id = '{DEAL}' AND archived \
                 AND archived_at = TIMESTAMP '2026-09-25T08:00:00'"
            )
        ),
        1,
        "the archived deal lands with its archivedAt"
    );
    assert_eq!(
        rows(&rt, &lake, &bookings),
        vec![
            "debook|2026-09-25|-167600.00".to_string(),
            "won|2026-06-15|167600.00".to_string(),
        ],
        "run 2 debooks the archived deal on its archivedAt date"
    );
}
