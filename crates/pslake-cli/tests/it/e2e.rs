//! `pslake run` end to end on the committed fixtures: the embedded sandbox, extraction into the
//! lake, the SQL models, tests and publishing, through the real binary.

use std::path::Path;

use pslake_lake::{Lake, TableName};

use crate::support::{CANONICAL, pslake, repo_root, run_demo, show};

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("mkdir");
    for entry in fs_err::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub(crate) fn count(rt: &tokio::runtime::Runtime, lake: &Lake, sql: &str) -> i64 {
    let batches = rt
        .block_on(lake.query(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let col = arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Int64)
        .expect("count as i64");
    col.as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("i64")
        .value(0)
}

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    for cmd in [
        "run", "extract", "build", "test", "plan", "query", "show", "validate", "sandbox",
    ] {
        let out = pslake(&[cmd, "--help"]);
        assert!(out.status.success(), "pslake {cmd} --help:\n{}", show(&out));
    }
    let out = pslake(&["fixtures", "generate", "--help"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = pslake(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = pslake(&["sandbox", "--faults", "rate_limit=abc"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// `pslake validate` checks pipelines, SQL models and their YAML without a lake or network, and
/// names the file and line of every problem.
#[test]
fn validate_reports_every_problem_with_file_and_line() {
    let out = pslake(&["validate"]);
    assert!(
        out.status.success(),
        "the repository validates:\n{}",
        show(&out)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["pipelines", "sql", "models"] {
        copy_dir(&repo_root().join(d), &dir.path().join(d));
    }
    // A model reading a table nobody provides, and a pipeline key that does not exist.
    fs_err::write(
        dir.path().join("sql/canonical/broken.sql"),
        "SELECT 1 AS x\nFROM canonical.no_such_table",
    )
    .expect("write");
    let demo = dir.path().join("pipelines/demo.yml");
    let text = fs_err::read_to_string(&demo).expect("read");
    fs_err::write(&demo, text.replacen("schedule:", "schedul:", 1)).expect("write");
    let out = pslake(&["validate", "--project", dir.path().to_str().expect("utf8")]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("broken.sql:2") && text.contains("canonical.no_such_table"),
        "{text}"
    );
    assert!(
        text.contains("demo.yml:") && text.contains("schedul"),
        "{text}"
    );
}

#[test]
fn demo_run_publishes_canonical_tables_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "first run:\n{}", show(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("raw.kantata_time_entries"),
        "summary names the streams:\n{summary}"
    );
    assert!(
        summary.contains("canonical.bookings"),
        "summary names the models:\n{summary}"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for t in CANONICAL {
        assert!(
            count(&rt, &lake, &format!("SELECT count(*) FROM canonical.{t}")) > 0,
            "canonical.{t} has rows"
        );
    }
    // The fixtures' deliberate bad rows are rejected, not lost: received = landed + rejected.
    assert!(count(&rt, &lake, "SELECT count(*) FROM _pslake.rejects") > 0);
    let bookings_v1 = rt
        .block_on(lake.version(&TableName::new("canonical", "bookings")))
        .expect("version");
    let events_1 = count(&rt, &lake, "SELECT count(*) FROM canonical.bookings");

    // Second run on unchanged sources: nothing new is booked, the tables read the same.
    let (_, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "second run:\n{}", show(&out));
    assert_eq!(
        count(&rt, &lake, "SELECT count(*) FROM canonical.bookings"),
        events_1
    );
    assert!(
        rt.block_on(lake.version(&TableName::new("canonical", "bookings")))
            .expect("version")
            >= bookings_v1
    );
}

/// Every table-rule edge case of `fixtures/edge/` (SPEC section 5) fails the run with a message
/// naming the offending value, and leaves every canonical table at its previous version.
#[test]
fn table_rule_edge_cases_block_publishing_and_previous_versions_stay_readable() {
    let cases = [
        ("unmapped_stage", "salesforce.StageName = 'Verbal Commit'"),
        ("unmapped_dealstage", "hubspot.dealstage = 'verbalcommit'"),
        ("unmapped_project_status", "netsuite.entitystatus = '7'"),
        (
            "duplicate_job_id",
            "test duplicate_key_netsuite_job failed: netsuite.job.id = ",
        ),
        (
            "duplicate_project_code",
            "test unique(project_code) failed: project_code = ",
        ),
        (
            "fixed_fee_no_budget",
            "test fixed_fee_project_without_budget_hours failed",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base");
    let (base_lake, out) = run_demo(&base, &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "clean run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let versions = |lake: &Lake| -> Vec<Option<i64>> {
        CANONICAL
            .iter()
            .map(|t| {
                rt.block_on(lake.version(&TableName::new("canonical", *t)))
                    .expect("version")
            })
            .collect()
    };
    let before = versions(&Lake::parse(base_lake.to_str().expect("utf8")).expect("lake"));
    assert!(
        before.iter().all(Option::is_some),
        "the clean run published every table"
    );

    for (case, expected) in cases {
        // Each case starts from a copy of the clean lake and of the fixtures, with the overlay.
        let case_dir = dir.path().join(case);
        copy_dir(&base_lake, &case_dir.join("lake"));
        let fixtures = case_dir.join("fixtures");
        copy_dir(&repo_root().join("fixtures"), &fixtures);
        copy_dir(&repo_root().join("fixtures/edge").join(case), &fixtures);
        // The overlays edit records in place without moving their cursors, so re-extract all
        // (`--full-refresh`), as a data engineer would after a source was fixed by hand.
        let (lake_dir, out) = run_demo(&case_dir, &fixtures, &["--full-refresh"]);
        let text = show(&out);
        assert_eq!(out.status.code(), Some(1), "{case}: the run fails:\n{text}");
        assert!(
            text.contains(expected),
            "{case}: the message names the offending value `{expected}`:\n{text}"
        );
        let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
        assert_eq!(
            versions(&lake),
            before,
            "{case}: canonical tables keep their previous version"
        );
        assert!(
            count(&rt, &lake, "SELECT count(*) FROM canonical.bookings") > 0,
            "{case}: still readable"
        );
    }
}

/// `pslake fixtures generate` writes a firm in the SPEC layout that `pslake run --fixtures` takes
/// through the whole pipeline: any directory in that layout works, not just the committed one.
#[test]
fn a_freshly_generated_firm_runs_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let firm = dir.path().join("firm");
    let out = pslake(&[
        "fixtures",
        "generate",
        "--out",
        firm.to_str().expect("utf8"),
        "--scale",
        "0.03",
        "--seed",
        "11",
    ]);
    assert!(out.status.success(), "generate:\n{}", show(&out));
    assert!(
        firm.join("manifest.json").is_file() && firm.join("kantata/time_entries.jsonl").is_file()
    );
    let (lake_dir, out) = run_demo(dir.path(), &firm, &["--as-of", "2026-08-31"]);
    assert!(
        out.status.success(),
        "run on the generated firm:\n{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("as of 2026-08-31"),
        "{}",
        show(&out)
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for t in CANONICAL {
        assert!(
            count(&rt, &lake, &format!("SELECT count(*) FROM canonical.{t}")) > 0,
            "canonical.{t} has rows"
        );
    }
    // --as-of bounds every series: no utilization week and no backlog snapshot after it.
    assert_eq!(
        count(
            &rt,
            &lake,
            "SELECT count(*) FROM canonical.utilization WHERE week_start > DATE '2026-08-31'"
        ),
        0
    );
    assert_eq!(
        count(
            &rt,
            &lake,
            "SELECT count(*) FROM canonical.backlog WHERE snapshot_date > DATE '2026-08-31'"
        ),
        0
    );
}
