//! `pslake schedule`: runs pipelines on their `schedule:` until stopped.
//!
//! Each pipeline's cron expression is read in its `timezone:` (default UTC). A scheduled run is
//! `pslake run` (the same code, [`run::run_locked`]) behind the lake's lock, taken as the
//! command `schedule`: never two writing runs on one lake at once, whoever started them, and a
//! lock a killed run left on this host is taken over. With several `--pipeline`s the runs take
//! turns, one at a time, in slot order.
//!
//! - **Missed runs.** At start, a pipeline whose last run (the start of its last extraction in
//!   `_pslake.runs`) is older than its most recent slot, or that never ran, runs at once: once,
//!   however many slots were missed. After a run the next slot is the first one after its end:
//!   slots that passed during a run are not made up either.
//! - **Retries.** A failed run (exit 1, or an error other than a configuration one) is run
//!   again after the pipeline's `retry.backoff`, doubling, up to `retry.attempts` runs per
//!   slot; not when the retry would start after the next slot, which runs instead.
//! - **Stopping.** SIGTERM or SIGINT stops the scheduling. A run in progress has
//!   `--stop-timeout` seconds to finish (a second signal cuts that short); then it is dropped,
//!   but never during its publish ([`Lake::is_publishing`]): a run dropped before its publish
//!   leaves every table at its last complete release (its landed rows are kept and its cursors
//!   are consistent, as after a crash). The lock is released and the process exits 0.
//!
//! The scheduler reads the pipeline files at start; restart it after changing a schedule.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pslake_core::pipeline::RunRetry;
use pslake_lake::{Lake, ops};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::UsageError;
use super::run::{self, RunArgs};
use super::writer::{LockArgs, locked_until};

/// Arguments of `pslake schedule`.
#[derive(Debug, clap::Args)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    lock: LockArgs,
    /// A pipeline file to schedule (repeat for several); without it, the demo pipeline against
    /// the embedded sandbox
    #[arg(long)]
    pipeline: Vec<PathBuf>,
    /// Lake location for every pipeline (default: each pipeline's, demo `./lake`)
    #[arg(long)]
    lake: Option<String>,
    /// Demo only: the fixture directory the embedded sandbox serves
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The project root holding pipelines/, sql/ and models/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Seconds a run in progress may take to finish after SIGTERM or SIGINT before it is
    /// abandoned (never during its publish)
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    stop_timeout: u64,
    /// Stop after this many scheduled runs (a run and its retries count once); exit 1 if one
    /// of them failed
    #[arg(long, value_name = "N")]
    max_runs: Option<NonZeroUsize>,
}

/// One pipeline on its schedule.
struct Scheduled {
    /// The pipeline file, `None` for the demo.
    file: Option<PathBuf>,
    name: String,
    schedule: cron::Schedule,
    timezone: chrono_tz::Tz,
    retry: RunRetry,
    /// When it runs next; `None`: no slot left.
    next: Option<DateTime<Utc>>,
}

impl Scheduled {
    fn next_slot(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_slot(&self.schedule, self.timezone, after)
    }

    fn run_args(&self, args: &ScheduleArgs) -> RunArgs {
        RunArgs::scheduled(
            self.file.clone(),
            args.lake.clone(),
            args.fixtures.clone(),
            args.project.clone(),
            args.lock.clone(),
        )
    }
}

/// The first slot of `schedule` (read in `tz`) strictly after `after`.
fn next_slot(
    schedule: &cron::Schedule,
    tz: chrono_tz::Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .after(&after.with_timezone(&tz))
        .next()
        .map(|d| d.with_timezone(&Utc))
}

/// When a pipeline first runs after the scheduler starts at `now`: at once when its most
/// recent slot is later than its last run (or it never ran and a slot has passed), else at its
/// next slot.
fn first_run(
    schedule: &cron::Schedule,
    tz: chrono_tz::Tz,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let previous = schedule
        .after(&now.with_timezone(&tz))
        .next_back()
        .map(|d| d.with_timezone(&Utc));
    match (previous, last_run) {
        (Some(_), None) => Some(now),
        (Some(slot), Some(last)) if last < slot => Some(now),
        _ => next_slot(schedule, tz, now),
    }
}

/// SIGTERM and SIGINT.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// How one scheduled run ended.
enum Ended {
    /// It succeeded.
    Ok,
    /// It failed (every attempt).
    Failed,
    /// A stop was requested: the scheduler exits.
    Stopped,
}

pub(crate) async fn schedule(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let mut pipelines = load(&args).await?;
    let mut runs = 0usize;
    let mut failed = 0usize;
    loop {
        if args.max_runs.is_some_and(|m| runs >= m.get()) {
            tracing::info!(runs, failed, "ran --max-runs scheduled runs, stopping");
            break;
        }
        let Some(p) = pipelines
            .iter_mut()
            .filter(|p| p.next.is_some())
            .min_by_key(|p| p.next)
        else {
            tracing::warn!("no pipeline has a slot left, stopping");
            break;
        };
        let slot = p.next.expect("filtered on a next slot");
        if let Some(signal) = sleep_until(slot, &mut signals).await {
            tracing::info!(signal, "stopped: no run was in progress");
            return Ok(ExitCode::SUCCESS);
        }
        runs += 1;
        match Box::pin(run_slot(p, slot, &args, &mut signals)).await? {
            Ended::Ok => {}
            Ended::Failed => failed += 1,
            Ended::Stopped => return Ok(ExitCode::SUCCESS),
        }
        p.next = p.next_slot(Utc::now());
        if let Some(next) = p.next {
            tracing::info!(pipeline = %p.name, next = %next.with_timezone(&p.timezone), "next run");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every pipeline to schedule, each checked (it loads, it has a schedule) and given its first
/// run (missed runs at once).
async fn load(args: &ScheduleArgs) -> anyhow::Result<Vec<Scheduled>> {
    let files: Vec<Option<PathBuf>> = if args.pipeline.is_empty() {
        vec![None]
    } else {
        args.pipeline.iter().cloned().map(Some).collect()
    };
    run::load_project(&args.project)?;
    let now = Utc::now();
    let mut out = Vec::new();
    for file in files {
        let run_args = RunArgs::scheduled(
            file.clone(),
            args.lake.clone(),
            args.fixtures.clone(),
            args.project.clone(),
            args.lock.clone(),
        );
        let mut source = run_args.source().await?;
        source.close().await;
        let lake = run_args.lake(&source)?;
        let p = &source.pipeline;
        let Some(schedule) = p.schedule.clone() else {
            return Err(UsageError(format!(
                "pipeline {} has no `schedule:` (a cron expression, e.g. \"0 0 6 * * *\")",
                p.path.display()
            ))
            .into());
        };
        let last_run = ops::last_run_started(&lake, &p.name).await?;
        let next = first_run(&schedule, p.timezone, last_run, now);
        let missed = next == Some(now);
        let show = |t: Option<DateTime<Utc>>| match t {
            Some(t) => t.with_timezone(&p.timezone).to_rfc3339(),
            None => "never".to_string(),
        };
        tracing::info!(
            pipeline = %p.name,
            lake = %lake.root(),
            schedule = schedule.source(),
            timezone = %p.timezone,
            last_run = %show(last_run),
            next = %if missed { "now".to_string() } else { show(next) },
            "scheduled{}",
            if missed { ": no run since its last slot, it runs now" } else { "" }
        );
        out.push(Scheduled {
            file,
            name: p.name.clone(),
            schedule,
            timezone: p.timezone,
            retry: p.retry,
            next,
        });
    }
    Ok(out)
}

/// Sleeps until `at` (on the wall clock: a machine that slept is caught up within a minute);
/// returns the signal that came first, if one did.
async fn sleep_until(at: DateTime<Utc>, signals: &mut Signals) -> Option<&'static str> {
    loop {
        let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return None;
        }
        tokio::select! {
            () = tokio::time::sleep(left.min(Duration::from_secs(60))) => {}
            signal = signals.recv() => return Some(signal),
        }
    }
}

/// One slot of pipeline `p`: the run, and its retries when it fails.
async fn run_slot(
    p: &Scheduled,
    slot: DateTime<Utc>,
    args: &ScheduleArgs,
    signals: &mut Signals,
) -> anyhow::Result<Ended> {
    let attempts = p.retry.attempts.max(1);
    for attempt in 1..=attempts {
        let started = Instant::now();
        tracing::info!(pipeline = %p.name, slot = %slot.with_timezone(&p.timezone), attempt, "run started");
        let mut stop_requested = false;
        let outcome = Box::pin(run_once(p, args, signals, &mut stop_requested)).await;
        let elapsed_s = started.elapsed().as_secs_f64();
        let retriable = match outcome {
            Ok(None) => {
                tracing::warn!(pipeline = %p.name, attempt, elapsed_s,
                    "stopped: the run in progress was abandoned before its publish; every table keeps its last complete release");
                return Ok(Ended::Stopped);
            }
            Ok(Some(code)) if code == ExitCode::SUCCESS => {
                tracing::info!(pipeline = %p.name, attempt, elapsed_s, "run ended: ok");
                if stop_requested {
                    tracing::info!("stopped after the run in progress finished");
                    return Ok(Ended::Stopped);
                }
                return Ok(Ended::Ok);
            }
            Ok(Some(_)) => {
                tracing::warn!(pipeline = %p.name, attempt, elapsed_s, "run ended: failed");
                true
            }
            Err(err) => {
                let usage = super::exit_code_for(&err) == 2;
                tracing::error!(pipeline = %p.name, attempt, elapsed_s, error = %crate::render(&err), "run ended: error");
                !usage
            }
        };
        if stop_requested {
            tracing::info!("stopped after the run in progress ended");
            return Ok(Ended::Stopped);
        }
        if !retriable {
            tracing::error!(pipeline = %p.name, "not retried: a configuration error");
            return Ok(Ended::Failed);
        }
        if attempt == attempts {
            if attempts > 1 {
                tracing::error!(pipeline = %p.name, attempts, "every attempt failed");
            }
            return Ok(Ended::Failed);
        }
        let wait = p.retry.wait_after(attempt);
        let now = Utc::now();
        let retry_at = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|w| now.checked_add_signed(w));
        let next = p.next_slot(now);
        let Some(retry_at) = retry_at.filter(|r| next.is_none_or(|n| *r < n)) else {
            tracing::warn!(pipeline = %p.name, "not retried: the next slot comes first");
            return Ok(Ended::Failed);
        };
        tracing::warn!(pipeline = %p.name, attempt = attempt + 1, wait_s = wait.as_secs_f64(), "retrying");
        if let Some(signal) = sleep_until(retry_at, signals).await {
            tracing::info!(signal, "stopped while waiting to retry");
            return Ok(Ended::Stopped);
        }
    }
    Ok(Ended::Failed)
}

/// One run under the lake's lock: the run's exit code, or `None` when it was abandoned after
/// a stop request. `stop_requested` is set when a signal came during the run.
async fn run_once(
    p: &Scheduled,
    args: &ScheduleArgs,
    signals: &mut Signals,
    stop_requested: &mut bool,
) -> anyhow::Result<Option<ExitCode>> {
    let run_args = p.run_args(args);
    let project = run::load_project(run_args.project())?;
    let mut source = run_args.source().await?;
    let lake = run_args.lake(&source)?;
    let grace = Duration::from_secs(args.stop_timeout);
    let result = locked_until(
        &lake,
        "schedule",
        &args.lock,
        Box::pin(run::run_locked(&run_args, &project, &mut source, &lake)),
        abandon(signals, stop_requested, grace, &lake),
    )
    .await;
    source.close().await;
    result
}

/// Completes when the run in progress should be dropped: a signal, then `grace` (or a second
/// signal), then no publish in progress.
async fn abandon(signals: &mut Signals, stop_requested: &mut bool, grace: Duration, lake: &Lake) {
    let signal = signals.recv().await;
    *stop_requested = true;
    tracing::warn!(
        signal,
        grace_s = grace.as_secs(),
        "stop requested: no new run starts; the run in progress may finish first"
    );
    tokio::select! {
        () = tokio::time::sleep(grace) => {
            tracing::warn!("the run in progress did not finish within --stop-timeout");
        }
        signal = signals.recv() => tracing::warn!(signal, "second signal"),
    }
    if lake.is_publishing() {
        tracing::warn!("the run is publishing: waiting for its release to complete");
        while lake.is_publishing() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tracing::warn!("abandoning the run in progress");
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_missed_slot_runs_once_at_start_in_the_pipelines_time_zone() {
        // daily 06:00 in Paris: 05:00Z in winter, 04:00Z in summer
        let daily = cron::Schedule::from_str("0 0 6 * * *").expect("cron");
        let paris = chrono_tz::Europe::Paris;
        let now = utc("2026-01-10T07:00:00Z");
        // last run two days ago: two slots missed, one run now
        assert_eq!(
            first_run(&daily, paris, Some(utc("2026-01-08T05:00:01Z")), now),
            Some(now)
        );
        // last run after today's slot: tomorrow's slot
        assert_eq!(
            first_run(&daily, paris, Some(utc("2026-01-10T05:00:02Z")), now),
            Some(utc("2026-01-11T05:00:00Z"))
        );
        // never ran: now
        assert_eq!(first_run(&daily, paris, None, now), Some(now));
        // summer time: 06:00 Paris is 04:00Z
        let summer = utc("2026-07-01T04:30:00Z");
        assert_eq!(
            first_run(&daily, paris, Some(utc("2026-07-01T03:59:00Z")), summer),
            Some(summer)
        );
        assert_eq!(
            first_run(&daily, paris, Some(utc("2026-07-01T04:00:01Z")), summer),
            Some(utc("2026-07-02T04:00:00Z"))
        );
        // in UTC the same cron is 06:00Z
        assert_eq!(
            next_slot(&daily, chrono_tz::UTC, now),
            Utc.with_ymd_and_hms(2026, 1, 11, 6, 0, 0).single()
        );
        // day-of-week numbers count from 1 = Sunday (docs/operations.md)
        let named = cron::Schedule::from_str("0 0 6 * * Mon-Fri").expect("cron");
        let numbered = cron::Schedule::from_str("0 0 6 * * 2-6").expect("cron");
        let saturday = utc("2026-01-10T12:00:00Z");
        assert_eq!(
            next_slot(&named, chrono_tz::UTC, saturday),
            Some(utc("2026-01-12T06:00:00Z")),
            "Monday"
        );
        assert_eq!(
            named.after(&saturday).take(10).collect::<Vec<_>>(),
            numbered.after(&saturday).take(10).collect::<Vec<_>>()
        );
        // a cron whose slots are all past: never
        let past = cron::Schedule::from_str("0 0 6 1 1 * 2020").expect("cron");
        assert_eq!(first_run(&past, paris, Some(now), now), None);
    }
}
