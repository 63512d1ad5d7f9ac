//! Issue 10, faults: `pslake run --pipeline pipelines/demo.yml` against `pslake sandbox --faults`
//! in its own process (as `pslake sandbox --print-env` sets up a shell).
//!
//! - With faults at high rates (20 % rate limits, 10 % 5xx, truncated bodies, connection resets,
//!   slow pages, expired Salesforce tokens) the run publishes the same canonical tables as a clean
//!   run, value for value.
//! - With one system down for good, the other systems' streams still land in raw, no release is
//!   published (every canonical table keeps its version) and the run exits 1 naming the system.

use std::path::Path;
use std::process::{Command, Output};

use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, repo_root, rows, show};

/// `pslake sandbox --faults <faults>` in the background, then `pslake run --pipeline
/// pipelines/demo.yml --lake <lake> <extra>`; the sandbox is killed when the script ends.
fn run_against_sandbox(faults: &str, lake: &Path, extra: &[&str]) -> Output {
    let script = r#"
eval "$("$PSLAKE" sandbox --print-env --listen 127.0.0.1:0 --fixtures "$FIX" --faults "$FAULTS")"
[ -n "$PSLAKE_SANDBOX_PID" ] || { echo "no environment printed" >&2; exit 97; }
trap 'kill "$PSLAKE_SANDBOX_PID"' EXIT
"$PSLAKE" run --pipeline pipelines/demo.yml --lake "$LAKE" "$@"
"#;
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .args(extra)
        .current_dir(repo_root())
        .env("PSLAKE", env!("CARGO_BIN_EXE_pslake"))
        .env("FIX", repo_root().join("fixtures"))
        .env("FAULTS", faults)
        .env("LAKE", lake)
        .env("NO_COLOR", "1")
        .env_remove("PSLAKE_SANDBOX_URL")
        .env_remove("PSLAKE_FIXTURES")
        .env_remove("PSLAKE_FAULT")
        .output()
        .expect("bash runs")
}

fn canonical(rt: &tokio::runtime::Runtime, lake: &Lake) -> Vec<(String, Vec<String>)> {
    CANONICAL
        .iter()
        .map(|t| {
            (
                t.to_string(),
                rows(rt, lake, &format!("SELECT * FROM canonical.{t}")),
            )
        })
        .collect()
}

fn lake_at(path: &Path) -> Lake {
    Lake::parse(path.to_str().expect("utf8")).expect("lake")
}

/// The retries the run's extraction made, summed over its streams' systems (`_pslake.runs`).
fn retries(rt: &tokio::runtime::Runtime, lake: &Lake) -> u64 {
    let details = rows(
        rt,
        lake,
        "SELECT details FROM _pslake.runs WHERE stage = 'extract'",
    );
    let mut by_system = std::collections::BTreeMap::new();
    for d in details {
        let streams: Vec<serde_json::Value> = serde_json::from_str(&d).expect("details json");
        for s in streams {
            let sys = s["system"].as_str().unwrap_or_default().to_string();
            let r = s["retries"].as_u64().unwrap_or(0);
            let e = by_system.entry(sys).or_insert(0);
            *e = r.max(*e);
        }
    }
    by_system.values().sum()
}

#[test]
fn a_run_through_heavy_faults_publishes_what_a_clean_run_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let clean_dir = dir.path().join("clean");
    let out = run_against_sandbox("seed=1", &clean_dir, &[]);
    assert!(out.status.success(), "clean run:\n{}", show(&out));
    let clean = lake_at(&clean_dir);
    assert_eq!(retries(&rt, &clean), 0, "no fault, no retry");
    let reference = canonical(&rt, &clean);

    let faulted_dir = dir.path().join("faulted");
    let out = run_against_sandbox(
        "rate_limit=0.2,error500=0.05,error503=0.05,truncate=0.04,reset=0.04,slow=0.03:300ms,\
         expire_token@salesforce=0.05,seed=7",
        &faulted_dir,
        &[],
    );
    assert!(out.status.success(), "faulted run:\n{}", show(&out));
    let faulted = lake_at(&faulted_dir);
    let retried = retries(&rt, &faulted);
    eprintln!("faulted run: {retried} retries");
    assert!(retried >= 10, "faults were injected and retried: {retried}");
    for ((table, want), (_, got)) in reference.iter().zip(canonical(&rt, &faulted)) {
        assert_eq!(
            &got, want,
            "canonical.{table} after {retried} retries differs from the clean run's"
        );
    }
}

#[test]
fn with_one_system_down_the_others_land_and_nothing_is_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake_dir = dir.path().join("lake");
    let out = run_against_sandbox("seed=1", &lake_dir, &[]);
    assert!(out.status.success(), "first run:\n{}", show(&out));
    let lake = lake_at(&lake_dir);
    let version = |t: &TableName| rt.block_on(lake.version(t)).expect("version");
    let released = || {
        rt.block_on(ops::released_versions(&lake, None))
            .expect("releases")
            .expect("a release")
    };
    let released_before = released();
    let tables = |schema: &str| -> Vec<TableName> {
        std::fs::read_dir(lake_dir.join(schema))
            .expect("schema dir")
            .map(|e| {
                TableName::new(
                    schema,
                    e.expect("entry").file_name().to_str().expect("utf8"),
                )
            })
            .collect()
    };
    let before: Vec<(TableName, Option<i64>)> = tables("raw")
        .into_iter()
        .chain(tables("canonical"))
        .map(|t| {
            let v = version(&t);
            (t, v)
        })
        .collect();

    // NetSuite answers every request with a 500 (its retries run out); a full refresh re-lands
    // every other stream.
    let out = run_against_sandbox(
        "error500@netsuite=1.0,seed=3",
        &lake_dir,
        &["--full-refresh"],
    );
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed: Vec<&str> = stdout.lines().filter(|l| l.contains("FAILED")).collect();
    assert!(!failed.is_empty(), "{text}");
    assert!(
        failed.iter().all(|l| l.starts_with("raw.netsuite_")),
        "only NetSuite's streams fail: {failed:?}"
    );
    assert!(
        stdout.contains("extraction failed; nothing was published"),
        "the run says why nothing was published:\n{text}"
    );
    for (t, v) in &before {
        let now = version(t);
        if t.schema == "raw" && !t.name.starts_with("netsuite_") {
            assert!(
                now > *v,
                "{t}: the other systems' streams landed ({v:?} -> {now:?})"
            );
        } else {
            assert_eq!(now, *v, "{t}: unchanged while NetSuite is down");
        }
    }
    assert_eq!(released(), released_before, "no new release");
}
