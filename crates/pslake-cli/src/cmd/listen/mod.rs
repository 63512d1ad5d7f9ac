//! `pslake listen`: an HTTP receiver for the vendors' change notifications (HubSpot webhooks,
//! Salesforce change events from a Flow callout) that refreshes the affected streams and the
//! models downstream of them within seconds.
//!
//! - **Which events, which streams**: the pipeline's `triggers:` (`pipelines/README.md`), one
//!   route per trigger path; secrets resolved like the pipeline's others (`${secret:NAME}`: the
//!   secrets file, then the environment) and never logged.
//! - **Durable before acknowledged**: an accepted event is appended to `_pslake.events`
//!   ([`receive`]) before the 2xx; a delivery of an event already stored is acknowledged and
//!   adds nothing. At start, stored events without a processed row are queued again, so a
//!   crash loses none.
//! - **Debounced, incremental**: the first event opens a window (`--debounce`, default 2 s);
//!   every event that arrives in it joins one run, which extracts only the triggers' streams
//!   (incrementally, from their cursors) and builds only the models downstream of their raw
//!   tables (`--select m+ ...`; the build reuses every model whose inputs did not change) through
//!   the same write-audit-publish release as `pslake run`. Then each event gets its processed
//!   row (run id and time). Events that arrive during a run wait for the next window.
//! - **One writer**: each run takes the lake's lock (command `listen`) like `pslake run` and
//!   `pslake schedule`, waiting `--lock-wait` seconds for a run in progress; a run that fails
//!   (lock not obtained, a stream or model failed) is retried with backoff (2 s doubling, at
//!   most 5 min) with whatever arrived meanwhile.
//! - **Stopping**: SIGTERM or SIGINT stops accepting requests; a run in progress has
//!   `--stop-timeout` seconds to finish, then is dropped (never during its publish). Events not
//!   yet processed stay in `_pslake.events` for the next start.

mod receive;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use chrono::Utc;
use pslake_extract::secrets::Secrets;
use pslake_extract::{ExtractOptions, extract};
use pslake_lake::events::{self, EventRow};
use pslake_lake::{Lake, RAW_SCHEMA, TableName};
use pslake_transform::{BuildOptions, NoopReporter, Project};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use receive::{Receiver, Route};

use super::UsageError;
use super::source::Source;
use super::writer::{LockArgs, locked_until};

/// Arguments of `pslake listen`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    lock: LockArgs,
    /// Pipeline file with a `triggers:` section (default: <project>/pipelines/demo.yml, its
    /// secrets from the environment, e.g. `eval "$(pslake sandbox --print-env)"`)
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Lake location (default: the pipeline's)
    #[arg(long)]
    lake: Option<String>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Events arriving within this window of the first one are refreshed in one run (ms, s, m)
    #[arg(long, default_value = "2s", value_parser = parse_debounce)]
    debounce: Duration,
    /// The project root holding pipelines/, sql/ and models/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Seconds a run in progress may take to finish after SIGTERM or SIGINT before it is
    /// abandoned (never during its publish)
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    stop_timeout: u64,
}

fn parse_debounce(s: &str) -> Result<Duration, String> {
    pslake_core::pipeline::parse_duration(s)
}

/// Longest wait between retries of a failed refresh.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// What the refresh runs share.
struct Runner {
    project: Project,
    source: Source,
    lake: Lake,
    lock: LockArgs,
    debounce: Duration,
    stop_timeout: Duration,
    as_of: chrono::NaiveDate,
    history_start: chrono::NaiveDate,
}

pub(crate) async fn listen(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let project = super::run::load_project(&args.project)?;
    let file = args
        .pipeline
        .clone()
        .unwrap_or_else(|| args.project.join("pipelines/demo.yml"));
    let source = Source::open(Some(&file), None, &args.project).await?;
    let lake = source.lake(args.lake.as_deref())?;
    let p = &source.pipeline;
    if p.triggers.is_empty() {
        return Err(UsageError(format!(
            "pipeline {} declares no `triggers:` (see pipelines/README.md)",
            p.path.display()
        ))
        .into());
    }
    let missing =
        |what: &str| UsageError(format!("no {what}: set it in the pipeline or its manifest"));
    let as_of = p
        .as_of
        .or(source.manifest.as_ref().map(|m| m.as_of))
        .ok_or_else(|| missing("as_of"))?;
    let history_start = p
        .history_start
        .or(source.manifest.as_ref().map(|m| m.history_start))
        .ok_or_else(|| missing("history_start"))?;
    let secrets = Secrets::new(HashMap::new(), p.secrets_file.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    let mut routes = Vec::new();
    for t in &p.triggers {
        let secret = secrets
            .resolve(&t.secret)
            .map_err(|e| UsageError(format!("trigger {} of {}: {e}", t.path, p.path.display())))?;
        routes.push(Arc::new(Route {
            trigger: t.clone(),
            secret,
        }));
    }

    // Events stored but not processed (a crash, a stop) are processed first.
    let stored = events::load_events(&lake)
        .await
        .context("reading _pslake.events")?;
    let seen: HashSet<(String, String)> = stored
        .iter()
        .map(|e| (e.source.clone(), e.event_id.clone()))
        .collect();
    let backlog: Vec<EventRow> = stored
        .into_iter()
        .filter(|e| e.processed_run_id.is_none() && !e.streams.is_empty())
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    if !backlog.is_empty() {
        tracing::warn!(
            events = backlog.len(),
            "stored events not yet processed: refreshing them first"
        );
    }
    for e in backlog {
        tx.send(e).expect("the receiver is alive");
    }
    let receiver = Arc::new(Receiver {
        lake: lake.clone(),
        seen: Mutex::new(seen),
        queue: tx,
    });
    let mut app = Router::new().route("/_pslake/health", get(|| async { "ok" }));
    for r in &routes {
        let t = &r.trigger;
        tracing::info!(
            path = %t.path,
            source = %t.source,
            signature = t.signature.as_str(),
            events = %t.events.join(","),
            streams = %t.streams.iter().map(|(s, n)| format!("{s}.{n}")).collect::<Vec<_>>().join(","),
            "trigger"
        );
        app = app.route(
            &t.path,
            post(receive::receive).with_state((receiver.clone(), r.clone())),
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, lake = %lake.root(), pipeline = %p.name, "listening for change notifications");
    eprintln!(
        "pslake listen: http://{addr} ({} triggers), lake {}",
        routes.len(),
        lake.root()
    );

    let stop = CancellationToken::new();
    let runner = Runner {
        project,
        source,
        lake,
        lock: args.lock.clone(),
        debounce: args.debounce,
        stop_timeout: Duration::from_secs(args.stop_timeout),
        as_of,
        history_start,
    };
    let signals = {
        let stop = stop.clone();
        async move {
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(
                signal = name,
                "stopping: no new requests; unprocessed events stay stored"
            );
            stop.cancel();
            // a second signal cuts the grace of a run in progress short
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            Ok::<&'static str, std::io::Error>(name)
        }
    };
    let server = {
        let stop = stop.clone();
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await })
    };
    let run_loop = Box::pin(runner.run(rx, stop.clone()));
    let (served, ()) = tokio::select! {
        r = async { tokio::join!(server, run_loop) } => r,
        s = signals => {
            // a second signal: stop at once (never during a publish: the runner's abandon
            // waits for it)
            s?;
            tracing::warn!("second signal: exiting");
            return Ok(ExitCode::SUCCESS);
        }
    };
    served.context("serving HTTP")?;
    Ok(ExitCode::SUCCESS)
}

impl Runner {
    /// Collects events into windows and refreshes each, until `stop`.
    async fn run(self, mut rx: mpsc::UnboundedReceiver<EventRow>, stop: CancellationToken) {
        let mut pending: Vec<EventRow> = Vec::new();
        let mut failures = 0u32;
        loop {
            if pending.is_empty() {
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => pending.push(e),
                        None => return,
                    },
                    () = stop.cancelled() => return,
                }
            }
            // the window: the first event's debounce, or the retry wait after a failure
            let wait = if failures == 0 {
                self.debounce
            } else {
                Duration::from_secs(2)
                    .saturating_mul(1 << (failures - 1).min(10))
                    .min(MAX_RETRY_WAIT)
            };
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => pending.push(e),
                        None => break,
                    },
                    () = tokio::time::sleep_until(until) => break,
                    () = stop.cancelled() => return,
                }
            }
            let started = Instant::now();
            let events = pending.len();
            match Box::pin(self.refresh(&pending, &stop)).await {
                Ok(Some(run_id)) => {
                    tracing::info!(%run_id, events, elapsed_s = started.elapsed().as_secs_f64(), "refresh published");
                    failures = 0;
                    pending.clear();
                }
                Ok(None) => {
                    tracing::warn!(
                        events,
                        "refresh abandoned on stop; its events stay unprocessed"
                    );
                    return;
                }
                Err(err) => {
                    failures += 1;
                    tracing::error!(events, attempt = failures, error = %crate::render(&err), "refresh failed; retrying");
                }
            }
        }
    }

    /// One run over the streams of `batch` and the models downstream of them; the run id once
    /// published (and the events marked processed), `None` when abandoned on stop.
    async fn refresh(
        &self,
        batch: &[EventRow],
        stop: &CancellationToken,
    ) -> anyhow::Result<Option<String>> {
        let streams: BTreeSet<String> = batch
            .iter()
            .flat_map(|e| e.streams.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let select = downstream_selection(&self.project, &self.source, &streams);
        let run_id = uuid::Uuid::new_v4().to_string();
        tracing::info!(%run_id, events = batch.len(), streams = %streams.iter().cloned().collect::<Vec<_>>().join(","), models = %select.as_deref().unwrap_or("none"), "refresh started");
        let work = async {
            let mut options = ExtractOptions::new();
            options.run_id = Some(run_id.clone());
            options.select = streams.iter().cloned().collect();
            options.secrets = self.source.secrets.clone();
            let report = extract(&self.source.pipeline, &self.lake, &options)
                .await
                .context("extract failed")?;
            if !report.is_success() {
                let failed: Vec<String> = report
                    .failed()
                    .map(|s| format!("{}.{}", s.system, s.stream))
                    .collect();
                anyhow::bail!("extraction failed: {}", failed.join(", "));
            }
            let landed: u64 = report.streams.iter().map(|s| s.landed).sum();
            tracing::info!(%run_id, landed, "extracted");
            let Some(select) = &select else {
                return Ok(());
            };
            let mut opts = BuildOptions::new(run_id.clone(), self.as_of, self.history_start);
            opts.select = Some(select.clone());
            opts.pipeline = self.source.pipeline.name.clone();
            let build = Box::pin(pslake_transform::build(
                &self.project,
                &self.lake,
                &opts,
                &NoopReporter,
            ))
            .await
            .context("build failed")?;
            if !build.is_success() {
                anyhow::bail!("build failed:\n{build}");
            }
            let rebuilt = build.models.len();
            tracing::info!(%run_id, models = rebuilt, published = build.published, "built");
            Ok(())
        };
        let done = locked_until(
            &self.lake,
            "listen",
            &self.lock,
            work,
            abandon(stop, self.stop_timeout, &self.lake),
        )
        .await?;
        if done.is_none() {
            return Ok(None);
        }
        let now = Utc::now();
        let processed: Vec<EventRow> = batch
            .iter()
            .map(|e| EventRow {
                processed_run_id: Some(run_id.clone()),
                processed_at: Some(now),
                ..e.clone()
            })
            .collect();
        events::append_events(&self.lake, &processed)
            .await
            .context("marking events processed in _pslake.events")?;
        Ok(Some(run_id))
    }
}

/// `m+ ...` for every model that reads the raw table of one of `streams` (`system.stream`);
/// `None` when no model reads them.
fn downstream_selection(
    project: &Project,
    source: &Source,
    streams: &BTreeSet<String>,
) -> Option<String> {
    let tables: HashSet<TableName> = source
        .pipeline
        .systems
        .iter()
        .flat_map(|sys| {
            sys.streams
                .iter()
                .filter(|s| streams.contains(&format!("{}.{}", sys.name, s.name)))
                .map(|s| TableName::new(RAW_SCHEMA, s.table.clone()))
        })
        .collect();
    let roots: Vec<String> = project
        .models()
        .iter()
        .filter(|m| m.inputs().any(|t| tables.contains(t)))
        .map(|m| format!("{}+", m.name))
        .collect();
    (!roots.is_empty()).then(|| roots.join(" "))
}

/// Completes when a run in progress should be dropped: `stop`, then `grace`, then no publish
/// in progress.
async fn abandon(stop: &CancellationToken, grace: Duration, lake: &Lake) {
    stop.cancelled().await;
    tracing::warn!(
        grace_s = grace.as_secs(),
        "a refresh is in progress: it may finish first"
    );
    tokio::time::sleep(grace).await;
    while lake.is_publishing() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
