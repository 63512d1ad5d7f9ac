//! Issue 10: one writer at a time holds a lake (the crash tests are in `kill.rs`).

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, pslake, repo_root, show};

/// Released version (last complete release) and latest version of every canonical table.
fn versions(
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
) -> (BTreeMap<TableName, i64>, BTreeMap<TableName, i64>) {
    let released = rt
        .block_on(ops::released_versions(lake, None))
        .expect("releases")
        .unwrap_or_default();
    let mut r = BTreeMap::new();
    let mut latest = BTreeMap::new();
    for t in CANONICAL {
        let t = TableName::new("canonical", *t);
        if let Some(v) = released.get(&t) {
            r.insert(t.clone(), *v);
        }
        let v = rt
            .block_on(lake.version(&t))
            .expect("version")
            .expect("exists");
        latest.insert(t, v);
    }
    (r, latest)
}

#[test]
fn two_writers_on_one_lake_wait_for_each_other_or_the_second_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let out = crate::kill::run_cmd(&lake_dir, &[]).output().expect("run");
    assert!(out.status.success(), "run:\n{}", show(&out));
    let lake_arg = lake_dir.to_str().expect("utf8");
    let build = |wait: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pslake"));
        c.args([
            "build",
            "--full-refresh",
            "--lake",
            lake_arg,
            "--lock-wait",
            wait,
        ])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c
    };
    let first = build("600").spawn().expect("first build");
    let lock = lake_dir.join("_pslake/lock");
    let start = Instant::now();
    while !lock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "first build locks the lake"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = build("600").spawn().expect("second build");
    let first: Output = first.wait_with_output().expect("first ends");
    let second: Output = second.wait_with_output().expect("second ends");
    assert!(first.status.success(), "first:\n{}", show(&first));
    assert!(second.status.success(), "second:\n{}", show(&second));
    let waited = String::from_utf8_lossy(&second.stderr);
    assert!(
        waited.contains("locked by another writer"),
        "second waited:\n{}",
        show(&second)
    );
    assert!(!lock.exists(), "both released the lock");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_arg).expect("lake");
    let releases = rt
        .block_on(ops::load_releases(&lake, None))
        .expect("releases");
    let runs: std::collections::BTreeSet<&str> =
        releases.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(runs.len(), 3, "the run and both builds released: {runs:?}");
    let (released, latest) = versions(&rt, &lake);
    assert_eq!(released, latest);
    // Each table went up by exactly one version per build: no commit lost or doubled.
    let bookings = TableName::new("canonical", "bookings");
    let by_run: Vec<i64> = {
        let mut v: Vec<i64> = releases
            .iter()
            .filter(|r| r.table == bookings)
            .map(|r| r.version)
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_run.len(), 3, "{by_run:?}");
    assert_eq!(by_run[2] - by_run[1], 1, "{by_run:?}");
    assert_eq!(by_run[1] - by_run[0], 1, "{by_run:?}");

    // A lock held by a live process (this test) refuses a writer that does not wait.
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "command": "run",
        "started_at": "2026-01-01T00:00:00Z",
    });
    std::fs::write(&lock, holder.to_string()).expect("write lock");
    let out = pslake(&["build", "--lake", lake_arg, "--lock-wait", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("locked by pslake run (pid {}", std::process::id())),
        "{}",
        show(&out)
    );
    assert_eq!(
        rt.block_on(ops::load_releases(&lake, None))
            .expect("releases")
            .len(),
        releases.len(),
        "the refused build wrote nothing"
    );
    std::fs::remove_file(&lock).expect("unlock");
}
