//! `pslake schedule`: the demo on a cron runs one run at a time and stops cleanly on SIGTERM
//! (letting the run in progress finish, or abandoning it before its publish); a stale lock of a
//! killed run is taken over; a missed slot runs once at start, then the scheduler waits.
//!
//! Each demo run takes about 13 s with a debug build, so each test makes a few runs only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, copy_project, pslake_in, repo_root, rows, show};

/// A copy of the project whose demo pipeline has `schedule` (the whole line, or lines) instead
/// of its own.
fn project_with_schedule(dir: &Path, schedule: &str) -> PathBuf {
    let project = dir.join("project");
    if !project.exists() {
        copy_project(&project);
    }
    let demo = project.join("pipelines/demo.yml");
    let text = fs_err::read_to_string(&demo).expect("demo.yml");
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        if !replaced && line.starts_with("schedule:") {
            out.push_str(schedule);
            replaced = true;
        } else if line.starts_with("timezone:") {
            continue;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(replaced, "demo.yml has a schedule line");
    fs_err::write(&demo, out).expect("write demo.yml");
    project
}

/// A running `pslake schedule`, its output going to files.
struct Scheduler {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Scheduler {
    fn start(project: &Path, lake: &Path, name: &str, extra: &[&str]) -> Scheduler {
        let stdout = project.join(format!("{name}.out"));
        let stderr = project.join(format!("{name}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_pslake"))
            .arg("schedule")
            .arg("--fixtures")
            .arg(repo_root().join("fixtures"))
            .arg("--lake")
            .arg(lake)
            .args(extra)
            .current_dir(project)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("PSLAKE_FAULT")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("pslake schedule starts");
        Scheduler {
            child,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        fs_err::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until stderr holds `text` `times` times; panics after `limit`.
    fn wait_for_log(&mut self, text: &str, times: usize, limit: Duration) {
        let start = Instant::now();
        while self.stderr().matches(text).count() < times {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the scheduler ended ({status}) before logging {text:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {text:?} x{times} within {limit:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to end (killing it after `limit`): its status, stdout, stderr.
    fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the scheduler did not end within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let out = fs_err::read_to_string(&self.stdout).unwrap_or_default();
        (status, out, self.stderr())
    }
}

/// One run of `_pslake.runs`: its id, first start and last end (microseconds), the status of
/// its build stage (`None` before its build is recorded).
#[derive(Debug)]
struct RunSpan {
    id: String,
    start: i64,
    end: i64,
    build: Option<String>,
}

/// The runs recorded so far, in start order (none while the table cannot be read yet).
fn runs(rt: &tokio::runtime::Runtime, lake: &Lake) -> Vec<RunSpan> {
    let sql = "SELECT _run_id, CAST(min(started_at) AS BIGINT), CAST(max(ended_at) AS BIGINT), \
               max(CASE WHEN stage = 'build' THEN status END) FROM _pslake.runs GROUP BY _run_id";
    let Ok(batches) = rt.block_on(lake.query(sql)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let cell = |c: usize| {
                arrow::util::display::array_value_to_string(b.column(c), r).expect("display")
            };
            let build = cell(3);
            out.push(RunSpan {
                id: cell(0),
                start: cell(1).parse().expect("micros"),
                end: cell(2).parse().expect("micros"),
                build: (!build.is_empty()).then_some(build),
            });
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

/// Waits until `n` runs have recorded their build.
fn wait_for_builds(rt: &tokio::runtime::Runtime, lake: &Lake, n: usize, limit: Duration) {
    let start = Instant::now();
    while runs(rt, lake).iter().filter(|r| r.build.is_some()).count() < n {
        assert!(
            start.elapsed() < limit,
            "{n} built runs within {limit:?}: {:?}",
            runs(rt, lake)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// No two runs overlap: each starts after the previous one ended.
fn assert_one_at_a_time(runs: &[RunSpan]) {
    for pair in runs.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "runs {} and {} overlap: {pair:?}",
            pair[0].id,
            pair[1].id
        );
    }
}

/// The lock is gone, no release is pending, every canonical table is at its latest version in
/// the last complete release.
fn assert_clean(rt: &tokio::runtime::Runtime, lake: &Lake, lake_dir: &Path, what: &str) {
    assert!(
        !lake_dir.join("_pslake/lock").exists(),
        "{what}: the lock is released"
    );
    assert!(
        rt.block_on(lake.pending_intents())
            .expect("intents")
            .is_empty(),
        "{what}: no release left pending"
    );
    let released = rt
        .block_on(ops::released_versions(lake, None))
        .expect("releases")
        .expect("a release record");
    for t in CANONICAL {
        let t = TableName::new("canonical", *t);
        let latest = rt.block_on(lake.version(&t)).expect("version");
        assert_eq!(
            released.get(&t).copied(),
            latest,
            "{what}: {t} is at a complete release"
        );
    }
}

fn canonical_rows(rt: &tokio::runtime::Runtime, lake: &Lake) -> BTreeMap<String, Vec<String>> {
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

#[test]
fn a_one_second_cron_runs_one_run_at_a_time_and_sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = project_with_schedule(dir.path(), r#"schedule: "* * * * * *""#);
    let lake_dir = dir.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // Runs back to back until SIGTERM; the run in progress then finishes (--stop-timeout 60).
    let started = Instant::now();
    let mut s = Scheduler::start(&project, &lake_dir, "first", &[]);
    s.wait_for_log("run started", 1, Duration::from_secs(60));
    wait_for_builds(&rt, &lake, 2, Duration::from_secs(240));
    s.signal("TERM");
    let (status, stdout, stderr) = s.wait(Duration::from_secs(120));
    eprintln!("runs until SIGTERM and the stop: {:?}", started.elapsed());
    assert!(status.success(), "exit 0 on SIGTERM: {status}\n{stderr}");
    assert!(
        stderr.contains("stop requested") || stderr.contains("no run was in progress"),
        "{stderr}"
    );
    assert!(!stderr.contains("abandoning"), "the run finished: {stderr}");
    let recorded = runs(&rt, &lake);
    assert!(recorded.len() >= 2, "{recorded:?}");
    assert_eq!(
        recorded.len(),
        stderr.matches("run started").count(),
        "every run started was recorded whole: {recorded:?}\n{stderr}"
    );
    assert!(
        recorded.iter().all(|r| r.build.as_deref() == Some("ok")),
        "{recorded:?}\n{stdout}"
    );
    assert_one_at_a_time(&recorded);
    assert_clean(&rt, &lake, &lake_dir, "after SIGTERM");
    let reference = canonical_rows(&rt, &lake);

    // --stop-timeout 0: SIGTERM during a run abandons it (before its publish) at once.
    let mut s = Scheduler::start(&project, &lake_dir, "second", &["--stop-timeout", "0"]);
    s.wait_for_log("run started", 1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    s.signal("TERM");
    let stopped = Instant::now();
    let (status, _, stderr) = s.wait(Duration::from_secs(60));
    eprintln!("abandoned in {:?}", stopped.elapsed());
    assert!(status.success(), "exit 0 on SIGTERM: {status}\n{stderr}");
    assert!(
        stderr.contains("abandoning the run in progress")
            && stderr.contains("every table keeps its last complete release"),
        "{stderr}"
    );
    assert_clean(&rt, &lake, &lake_dir, "after an abandoned run");
    assert_eq!(
        canonical_rows(&rt, &lake),
        reference,
        "nothing half published"
    );

    // The next writer finds the lake as a crash before the publish leaves it.
    let out = pslake_in(
        &project,
        &[
            "run",
            "--fixtures",
            repo_root().join("fixtures").to_str().expect("utf8"),
            "--lake",
            lake_dir.to_str().expect("utf8"),
        ],
    );
    assert!(
        out.status.success(),
        "a run after the abandoned one\n{}",
        show(&out)
    );
    assert_clean(&rt, &lake, &lake_dir, "the run after");
    assert_eq!(canonical_rows(&rt, &lake), reference);
    assert_one_at_a_time(&runs(&rt, &lake));
}

#[test]
fn a_stale_lock_left_by_a_killed_run_is_taken_over_by_the_scheduler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = project_with_schedule(dir.path(), r#"schedule: "* * * * * *""#);
    let lake_dir = dir.path().join("lake");
    // the lock of a `pslake run` killed on this host: its pid is gone
    let mut child = Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let lock = lake_dir.join("_pslake/lock");
    fs_err::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    let holder = serde_json::json!({
        "pid": dead,
        "host": host.trim(),
        "command": "run",
        "started_at": "2026-01-01T00:00:00Z",
    });
    fs_err::write(&lock, holder.to_string()).expect("write lock");

    let s = Scheduler::start(
        &project,
        &lake_dir,
        "stale",
        &["--max-runs", "1", "--lock-wait", "5"],
    );
    let (status, stdout, stderr) = s.wait(Duration::from_secs(180));
    assert!(status.success(), "{status}\n{stderr}\n{stdout}");
    assert!(stderr.contains("taking over a stale lake lock"), "{stderr}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let recorded = runs(&rt, &lake);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].build.as_deref(), Some("ok"), "{stdout}");
    assert_clean(&rt, &lake, &lake_dir, "after the run");
}

#[test]
fn a_missed_daily_slot_runs_once_at_start_then_the_scheduler_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = project_with_schedule(dir.path(), r#"schedule: "0 0 6 * * *""#);
    let lake_dir = dir.path().join("lake");
    let fixtures = repo_root().join("fixtures");
    let out = pslake_in(
        &project,
        &[
            "run",
            "--fixtures",
            fixtures.to_str().expect("utf8"),
            "--lake",
            lake_dir.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    // A daily slot, in Paris time, between that run and now: the scheduler was "off" for it.
    let slot = (Utc::now() - chrono::Duration::seconds(2)).with_timezone(&chrono_tz::Europe::Paris);
    let cron = format!(
        "schedule: \"{} {} {} * * *\"\ntimezone: Europe/Paris",
        slot.second(),
        slot.minute(),
        slot.hour()
    );
    project_with_schedule(dir.path(), &cron);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");

    let mut s = Scheduler::start(&project, &lake_dir, "missed", &[]);
    s.wait_for_log(
        "no run since its last slot, it runs now",
        1,
        Duration::from_secs(60),
    );
    wait_for_builds(&rt, &lake, 2, Duration::from_secs(180));
    s.wait_for_log("next run", 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    s.signal("TERM");
    let (status, _, stderr) = s.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}\n{stderr}");
    assert_eq!(
        stderr.matches("run started").count(),
        1,
        "one run, not one per slot: {stderr}"
    );
    assert!(
        stderr.contains("stopped: no run was in progress"),
        "{stderr}"
    );
    let recorded = runs(&rt, &lake);
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_one_at_a_time(&recorded);

    // Started again: the last run is newer than the last slot, so it only waits.
    let mut s = Scheduler::start(&project, &lake_dir, "again", &[]);
    s.wait_for_log("scheduled", 1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    s.signal("INT");
    let (status, _, stderr) = s.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}\n{stderr}");
    assert!(!stderr.contains("run started"), "{stderr}");
    assert!(!stderr.contains("no run since its last slot"), "{stderr}");
    assert_eq!(runs(&rt, &lake).len(), 2);
    assert_clean(&rt, &lake, &lake_dir, "after the stop");
}

/// A pipeline whose one system is down (a closed loopback port), on a daily schedule it never
/// ran: `lines` are added at the top level.
fn broken_pipeline(dir: &Path, lines: &str) -> PathBuf {
    let file = dir.join("broken.yml");
    let text = format!(
        r#"name: broken
lake: ./lake
schedule: "0 0 6 * * *"
{lines}
systems:
  - name: acme
    type: rest
    client:
      base_url: http://127.0.0.1:9
      retry: {{max_attempts: 1}}
    resources:
      - name: things
        endpoint: {{path: /things}}
        paginator: {{type: none}}
        records: {{path: things}}
        primary_key: [id]
        columns:
          - {{name: id, type: integer, required: true}}
"#
    );
    fs_err::write(&file, text).expect("write pipeline");
    file
}

#[test]
fn a_failed_run_is_retried_after_its_backoff_and_a_configuration_error_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let lake_arg = lake_dir.to_str().expect("utf8");
    // each on a lake of its own, where it never ran: it runs at once
    let schedule = |pipeline: &Path, lake_arg: &str| {
        let start = Instant::now();
        let out = pslake_in(
            &repo_root(),
            &[
                "schedule",
                "--pipeline",
                pipeline.to_str().expect("utf8"),
                "--lake",
                lake_arg,
                "--max-runs",
                "1",
            ],
        );
        (out, start.elapsed())
    };

    let failing = broken_pipeline(
        dir.path(),
        "retry: {attempts: 3, backoff: 1s}\nas_of: 2026-03-31\nhistory_start: 2025-01-01",
    );
    let (out, took) = schedule(&failing, lake_arg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(stderr.matches("run started").count(), 3, "{stderr}");
    assert_eq!(stderr.matches("retrying").count(), 2, "{stderr}");
    assert!(stderr.contains("every attempt failed"), "{stderr}");
    assert!(
        took >= Duration::from_secs(3),
        "waits 1 s, then 2 s: {took:?}"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_arg).expect("lake");
    let recorded = rows(
        &rt,
        &lake,
        "SELECT pipeline, stage, status FROM _pslake.runs",
    );
    assert_eq!(recorded, vec!["broken|extract|failed"; 3]);
    assert!(!lake_dir.join("_pslake/lock").exists());

    // no as_of: a configuration error, not retried
    let misconfigured = broken_pipeline(dir.path(), "retry: {attempts: 3, backoff: 1s}");
    let other = dir.path().join("other");
    let (out, _) = schedule(&misconfigured, other.to_str().expect("utf8"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(stderr.matches("run started").count(), 1, "{stderr}");
    assert!(
        stderr.contains("not retried: a configuration error"),
        "{stderr}"
    );
    assert!(stderr.contains("no as_of"), "{stderr}");
}
