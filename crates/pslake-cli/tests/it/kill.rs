//! Issue 10, crash safety: `pslake run` killed at 24 points (extraction, between a stream's landing
//! and its cursor, model builds, every step of a publish, and SIGKILLs from outside at moments
//! nobody chose), then run again. After each recovery:
//!
//! - every canonical table equals, value for value, what an uninterrupted run published;
//! - no source record is counted twice: each canonical table's key is unique;
//! - every canonical table is released at its latest version, no release intent is left, the lock
//!   is gone;
//! - every Delta table of the lake is readable by Python `deltalake` and by DuckDB
//!   (`tests/python/read_lake.py`), with the same row counts.
//!
//! A crash before the release also leaves what pslake's readers see at the previous release.
//!
//! The points are named by `PSLAKE_FAULT` (`pslake_lake::fault_point`, compiled in, a no-op when
//! unset): the process aborts there as a SIGKILL would. The killed runs are `--full-refresh`, so
//! every stream re-lands and every model is rebuilt and re-published (an incremental run of
//! unchanged sources lands and publishes nothing, and would never reach most points). The three
//! groups run as three tests, each on a lake of its own, so the harness runs them side by side.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, read_with_python, repo_root, rows, show};

/// Each canonical table's key: a source record counted twice shows as a repeated key.
const KEYS: &[(&str, &str)] = &[
    ("dim_customer", "customer_id"),
    ("dim_project", "project_id"),
    ("dim_employee", "employee_id"),
    ("fct_time_entry", "time_entry_id"),
    ("bookings", "booking_id"),
    ("revenue", "project_id, month"),
    ("backlog", "project_id, snapshot_date"),
    ("utilization", "employee_id, week_start"),
    ("capacity_plan", "practice, week_start"),
    ("margin", "project_id, month"),
];

/// The signal `abort()` raises.
const SIGABRT: i32 = 6;

/// How a run is ended.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// `PSLAKE_FAULT=<point>`: the process aborts when it reaches the point.
    At(&'static str),
    /// SIGKILL from outside after this long, wherever the run is.
    After(Duration),
}

/// `pslake run` of the demo fixtures into `lake` (quiet, no fault armed).
pub(crate) fn run_cmd(lake: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pslake"));
    c.args(["run", "--quiet", "--fixtures"])
        .arg(repo_root().join("fixtures"))
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env_remove("PSLAKE_FAULT");
    c
}

/// A lake, what an uninterrupted run published in it, and a runtime to read it.
struct Bench {
    rt: tokio::runtime::Runtime,
    dir: std::path::PathBuf,
    lake: Lake,
    reference: BTreeMap<String, Vec<String>>,
}

impl Bench {
    /// A clean `pslake run` into a new lake under `dir`.
    fn new(dir: &Path) -> Bench {
        let lake_dir = dir.join("lake");
        let out = run_cmd(&lake_dir, &[]).output().expect("run");
        assert!(out.status.success(), "clean run:\n{}", show(&out));
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
        let mut b = Bench {
            rt,
            dir: lake_dir,
            lake,
            reference: BTreeMap::new(),
        };
        b.reference = b.canonical();
        assert!(
            b.reference.values().all(|r| !r.is_empty()),
            "{:?}",
            b.reference
        );
        b.check_keys("clean run");
        b
    }

    fn canonical(&self) -> BTreeMap<String, Vec<String>> {
        CANONICAL
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    rows(
                        &self.rt,
                        &self.lake,
                        &format!("SELECT * FROM canonical.{t}"),
                    ),
                )
            })
            .collect()
    }

    /// The released version (last complete release) of every canonical table.
    fn released(&self) -> BTreeMap<String, i64> {
        let released = self
            .rt
            .block_on(ops::released_versions(&self.lake, None))
            .expect("releases")
            .unwrap_or_default();
        CANONICAL
            .iter()
            .filter_map(|t| {
                released
                    .get(&TableName::new("canonical", *t))
                    .map(|v| (t.to_string(), *v))
            })
            .collect()
    }

    fn latest(&self) -> BTreeMap<String, i64> {
        CANONICAL
            .iter()
            .map(|t| {
                let v = self
                    .rt
                    .block_on(self.lake.version(&TableName::new("canonical", *t)))
                    .expect("version")
                    .expect("exists");
                (t.to_string(), v)
            })
            .collect()
    }

    fn check_keys(&self, what: &str) {
        for (table, key) in KEYS {
            let repeated = rows(
                &self.rt,
                &self.lake,
                &format!(
                    "SELECT {key}, count(*) FROM canonical.{table} GROUP BY {key} HAVING count(*) > 1"
                ),
            );
            assert!(
                repeated.is_empty(),
                "{what}: canonical.{table} repeats keys ({key}): {repeated:?}"
            );
        }
    }

    /// Ends a `--full-refresh` run as `kill` says, runs `pslake run` again and checks the lake.
    fn kill_then_rerun(&self, kill: Kill) {
        let what = format!("{kill:?}");
        let released_before = self.released();
        let mut cmd = run_cmd(&self.dir, &["--full-refresh"]);
        let reached_release = match kill {
            Kill::At(point) => {
                let out = cmd.env("PSLAKE_FAULT", point).output().expect("run");
                assert_eq!(
                    out.status.signal(),
                    Some(SIGABRT),
                    "{what}: the run reaches the point and aborts\n{}",
                    show(&out)
                );
                if point.starts_with("publish:") {
                    let pending = self
                        .rt
                        .block_on(self.lake.pending_intents())
                        .expect("intents");
                    assert_eq!(pending.len(), 1, "{what}: the release intent stays");
                }
                matches!(point, "publish:after_release" | "build:after_release")
            }
            Kill::After(wait) => {
                let mut child = cmd
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn");
                std::thread::sleep(wait);
                // SIGKILL (a no-op error when the run already ended)
                let _ = child.kill();
                let status = child.wait().expect("wait");
                eprintln!("{what}: ended {status:?}");
                // wherever it died, the release may or may not be complete
                true
            }
        };
        if !reached_release {
            assert_eq!(
                self.released(),
                released_before,
                "{what}: pslake's readers still see the previous release"
            );
        }

        let out = run_cmd(&self.dir, &[]).output().expect("rerun");
        assert!(out.status.success(), "{what}: rerun\n{}", show(&out));
        assert!(
            self.rt
                .block_on(self.lake.pending_intents())
                .expect("intents")
                .is_empty(),
            "{what}: no release intent left"
        );
        assert!(!self.dir.join("_pslake/lock").exists(), "{what}: lock gone");
        assert_eq!(
            self.released(),
            self.latest(),
            "{what}: every canonical table released at its latest version"
        );
        let now = self.canonical();
        for (table, reference) in &self.reference {
            assert_eq!(
                &now[table], reference,
                "{what}: canonical.{table} differs from an uninterrupted run's"
            );
        }
        self.check_keys(&what);
        read_with_python(&self.dir, &what);
    }
}

#[test]
fn a_run_killed_during_extraction_is_recovered_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = Bench::new(dir.path());

    // The very first landing of a lake killed between a raw commit and its cursor.
    let fresh = dir.path().join("fresh");
    let out = run_cmd(&fresh, &[])
        .env("PSLAKE_FAULT", "extract:after_commit:kantata_time_entries")
        .output()
        .expect("run");
    assert_eq!(out.status.signal(), Some(SIGABRT), "{}", show(&out));
    let out = run_cmd(&fresh, &[]).output().expect("rerun");
    assert!(out.status.success(), "fresh rerun\n{}", show(&out));
    let fresh_lake = Lake::parse(fresh.to_str().expect("utf8")).expect("lake");
    for t in CANONICAL {
        assert_eq!(
            rows(
                &bench.rt,
                &fresh_lake,
                &format!("SELECT * FROM canonical.{t}")
            ),
            bench.reference[*t],
            "a first landing killed mid-extraction: canonical.{t}"
        );
    }

    for kill in [
        // a page decoded, nothing of it landed
        Kill::At("extract:page:kantata_time_entries:1"),
        Kill::At("extract:page:salesforce_opportunity:1"),
        // rows landed in raw, the stream's cursor not stored
        Kill::At("extract:after_commit:hubspot_deals"),
        Kill::At("extract:after_commit:kantata_time_entries"),
        Kill::At("extract:after_commit:netsuite_transactionline"),
        Kill::At("extract:after_commit:treasury_fx_rates"),
        Kill::At("extract:before_cursor:salesforce_opportunity"),
        Kill::At("extract:before_cursor:workday_workers"),
        // the cursor stored, the other streams still running
        Kill::At("extract:after_cursor:kantata_time_entries"),
        // everything landed, nothing built
        Kill::At("run:after_extract"),
        Kill::After(Duration::from_millis(1500)),
    ] {
        bench.kill_then_rerun(kill);
    }
}

#[test]
fn a_run_killed_during_the_model_build_is_recovered_by_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = Bench::new(dir.path());
    for kill in [
        Kill::At("build:after_model:staging.stg_kantata_time_entries"),
        Kill::At("build:after_model:canonical.fct_time_entry"),
        Kill::At("build:after_model:canonical.bookings"),
        Kill::At("build:before_publish"),
        Kill::After(Duration::from_secs(7)),
    ] {
        bench.kill_then_rerun(kill);
    }
}

#[test]
fn a_run_killed_mid_publish_is_rolled_forward_to_what_an_uninterrupted_run_publishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = Bench::new(dir.path());
    for kill in [
        Kill::At("publish:after_intent"),
        Kill::At("publish:after_table:1"),
        Kill::At("publish:after_table:2"),
        Kill::At("publish:after_table:20"),
        Kill::At("publish:before_release"),
        Kill::At("publish:after_release"),
        Kill::At("build:after_release"),
    ] {
        bench.kill_then_rerun(kill);
    }
}
