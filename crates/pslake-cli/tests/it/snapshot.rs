//! `materialized: snapshot` through the binary: a small project whose snapshot reads a seed,
//! built three times with edits between the builds (the last with `--full-refresh`), then read
//! with `pslake query`; and `pslake validate` refusing bad snapshot settings.

use std::path::Path;
use std::process::Output;

use crate::support::{pslake, show};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs_err::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs_err::write(path, text).expect("write");
}

const YML: &str = "version: 2
models:
  - name: project_status_history
    description: Every status a project has had.
    config:
      materialized: snapshot
      unique_key: project_id
      strategy: check
      check_cols: [status]
    data_tests:
      - unique: {columns: [project_id, valid_from]}
";

fn project(root: &Path) {
    write(
        root,
        "sql/history/project_status_history.sql",
        "SELECT project_id, status, budget FROM seeds.projects",
    );
    write(root, "models/history.yml", YML);
    fs_err::create_dir_all(root.join("pipelines")).expect("mkdir pipelines");
}

fn projects(root: &Path, csv: &str) {
    write(root, "models/seeds/projects.csv", csv);
}

fn with_project(root: &Path, args: &[&str]) -> Output {
    let (p, lake) = (root.to_str().expect("utf8"), root.join("lake"));
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--project",
        p,
        "--lake",
        lake.to_str().expect("utf8"),
        "--history-start",
        "2026-01-01",
    ]);
    pslake(&all)
}

fn build(root: &Path, as_of: &str, extra: &[&str]) {
    let mut args = vec!["build", "--as-of", as_of];
    args.extend(extra);
    let out = with_project(root, &args);
    assert!(out.status.success(), "build {as_of}: {}", show(&out));
}

fn history(root: &Path) -> String {
    let out = with_project(
        root,
        &[
            "query",
            "--as-of",
            "2026-03-31",
            "--format",
            "csv",
            "SELECT project_id, status, budget, valid_from, valid_to, is_current \
             FROM history.project_status_history ORDER BY project_id, valid_from",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_snapshot_keeps_every_status_across_builds_and_a_full_refresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    project(root);
    projects(
        root,
        "project_id,status,budget\nP1,planned,10\nP2,active,20\nP3,active,30\n",
    );
    build(root, "2026-01-31", &[]);
    // P1 becomes active (a version), P2's budget changes (not checked: no version), P3 is gone.
    projects(
        root,
        "project_id,status,budget\nP1,active,10\nP2,active,25\n",
    );
    build(root, "2026-02-28", &[]);
    // With --full-refresh: P3 comes back, P2 completes; the history stays.
    projects(
        root,
        "project_id,status,budget\nP1,active,10\nP2,completed,25\nP3,on_hold,30\n",
    );
    build(root, "2026-03-31", &["--full-refresh"]);
    let expected = "\
project_id,status,budget,valid_from,valid_to,is_current
P1,planned,10,2026-01-31T00:00:00Z,2026-02-28T00:00:00Z,false
P1,active,10,2026-02-28T00:00:00Z,,true
P2,active,20,2026-01-31T00:00:00Z,2026-03-31T00:00:00Z,false
P2,completed,25,2026-03-31T00:00:00Z,,true
P3,active,30,2026-01-31T00:00:00Z,2026-02-28T00:00:00Z,false
P3,on_hold,30,2026-03-31T00:00:00Z,,true
";
    assert_eq!(history(root), expected);

    // The same seed again, and again with --full-refresh: no new version of the table.
    let log = root.join("lake/history/project_status_history/_delta_log");
    let commits = || {
        fs_err::read_dir(&log)
            .expect("log")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
    };
    let before = commits();
    build(root, "2026-04-30", &[]);
    build(root, "2026-04-30", &["--full-refresh"]);
    assert_eq!(commits(), before, "no change, no commit");
    assert_eq!(history(root), expected);
}

#[test]
fn validate_refuses_bad_snapshot_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    project(root);
    projects(root, "project_id,status,budget\nP1,planned,10\n");
    write(
        root,
        "models/history.yml",
        "version: 2
models:
  - name: project_status_history
    config: {materialized: snapshot, strategy: timestamp}
",
    );
    let p = root.to_str().expect("utf8");
    let out = pslake(&["validate", "--project", p]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "model project_status_history: materialized: snapshot needs a unique_key",
        "model project_status_history: strategy: timestamp needs updated_at",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{}", show(&out));
    }
}
