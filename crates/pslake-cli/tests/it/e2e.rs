//! `pslake run` end to end on the committed fixtures: the embedded sandbox, extraction into the
//! lake, the SQL models, tests and publishing, through the real binary.

use std::path::Path;

use pslake_lake::{Lake, TableName};

use crate::support::{pslake, repo_root, run_demo, show};

fn copy_dir(from: &Path, to: &Path) {
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

fn count(rt: &tokio::runtime::Runtime, lake: &Lake, sql: &str) -> i64 {
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
        "run", "extract", "build", "test", "plan", "query", "validate", "sandbox",
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

#[test]
fn demo_run_publishes_canonical_tables_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "first run:\n{}", show(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("kantata.time_entries"),
        "summary names the streams:\n{summary}"
    );
    assert!(
        summary.contains("canonical.bookings"),
        "summary names the models:\n{summary}"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for t in [
        "dim_customer",
        "dim_project",
        "dim_employee",
        "fct_time_entry",
        "bookings",
        "revenue",
        "backlog",
        "utilization",
        "capacity_plan",
        "margin",
    ] {
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

#[test]
fn unmapped_stage_blocks_publishing_and_the_previous_version_stays_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = dir.path().join("fixtures");
    copy_dir(&repo_root().join("fixtures"), &fixtures);
    let (lake_dir, out) = run_demo(dir.path(), &fixtures, &[]);
    assert!(out.status.success(), "clean run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let before = rt
        .block_on(lake.version(&TableName::new("canonical", "bookings")))
        .expect("version");
    let rows_before = count(&rt, &lake, "SELECT count(*) FROM canonical.bookings");

    // Overlay the edge case: a Salesforce StageName no seed maps.
    // The overlay edits the record in place without moving its SystemModstamp, so re-extract it
    // all (`--full-refresh`) as a data engineer would after fixing a source by hand.
    copy_dir(&repo_root().join("fixtures/edge/unmapped_stage"), &fixtures);
    let (_, out) = run_demo(dir.path(), &fixtures, &["--full-refresh"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unmapped stage fails the run:\n{}",
        show(&out)
    );
    let text = show(&out);
    assert!(
        text.contains("salesforce") && text.contains("StageName") && text.contains("Verbal Commit"),
        "the message names system, field and value:\n{text}"
    );
    assert_eq!(
        rt.block_on(lake.version(&TableName::new("canonical", "bookings")))
            .expect("version"),
        before
    );
    assert_eq!(
        count(&rt, &lake, "SELECT count(*) FROM canonical.bookings"),
        rows_before
    );
}
