//! Issue 10, determinism: two runs on the same sources publish identical tables, value for value,
//! however many threads the plans run in (SPEC's exact rules: money, hours and ratios from exact
//! decimal sums, rounded once; no floating-point sum whose order can vary).

use std::process::Command;

use pslake_lake::Lake;

use crate::support::{CANONICAL, repo_root, rows, show};

#[test]
fn two_runs_with_different_thread_counts_publish_identical_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A firm nobody tuned the models on, larger than the committed demo.
    let firm = crate::support::generate_firm(dir.path(), "0.1", "23");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut published = Vec::new();
    for threads in ["1", "7"] {
        let lake_dir = dir.path().join(format!("lake-{threads}"));
        let out = Command::new(env!("CARGO_BIN_EXE_pslake"))
            .args(["run", "--quiet", "--fixtures"])
            .arg(&firm)
            .arg("--lake")
            .arg(&lake_dir)
            .current_dir(repo_root())
            .env("NO_COLOR", "1")
            .env("PSLAKE_THREADS", threads)
            .env_remove("PSLAKE_FAULT")
            .output()
            .expect("run");
        assert!(out.status.success(), "threads {threads}:\n{}", show(&out));
        let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
        let tables: Vec<Vec<String>> = CANONICAL
            .iter()
            .map(|t| rows(&rt, &lake, &format!("SELECT * FROM canonical.{t}")))
            .collect();
        published.push(tables);
    }
    for (n, t) in CANONICAL.iter().enumerate() {
        assert!(!published[0][n].is_empty(), "canonical.{t} has rows");
        // `rows` prints a DOUBLE in its shortest exact form: one bit apart prints differently
        assert_eq!(
            published[0][n], published[1][n],
            "canonical.{t}: 1 thread and 7 threads publish the same rows"
        );
    }
}
