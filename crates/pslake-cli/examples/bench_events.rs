//! Event-driven refresh benchmark: how long from a deal closed in the vendor's UI (the
//! sandbox's close-won control endpoint) to its `won` row being readable in
//! `canonical.bookings`.
//!
//! Generates a firm (`--scale`, default 1), serves it with `pslake sandbox --webhook-target`,
//! builds the lake once with `pslake run --pipeline pipelines/demo.yml`, starts `pslake listen`
//! (`--debounce`, default 2s), then closes `--events` (default 20) open deals one after another,
//! alternating HubSpot deals and Salesforce opportunities, and polls `canonical.bookings` with
//! the lake reader (every 100 ms) until each one's `won` row is there. Reports p50, p95 and max.
//!
//! ```text
//! cargo build --release -p pslake-cli --example bench_events
//! target/release/examples/bench_events --write docs/BENCHMARKS.md [--scale 1] [--events 20]
//! ```
//!
//! `--write` replaces the "Event-driven refresh" section of the file (between its markers;
//! appended when absent).
#![allow(clippy::print_stdout, reason = "an example that prints its results")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName};
use pslake_sandbox::server::Credentials;

mod common;

use common::{Proc, Res, free_port};

const START: &str = "<!-- bench_events: start -->";
const END: &str = "<!-- bench_events: end -->";

/// Open records to close: `(system, id)`, HubSpot and Salesforce alternately.
fn open_records(firm: &Path, n: usize) -> Res<Vec<(&'static str, String)>> {
    let read = |p: &str| -> Res<Vec<serde_json::Value>> {
        Ok(std::fs::read_to_string(firm.join(p))?
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    };
    let hubspot: Vec<String> = read("hubspot/deals.jsonl")?
        .into_iter()
        .filter(|d| {
            let p = &d["properties"];
            d["archived"] == false
                && p["hs_is_closed_won"] == "false"
                && !matches!(p["dealstage"].as_str(), Some("closedwon" | "closedlost"))
        })
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect();
    let salesforce: Vec<String> = read("salesforce/Opportunity.jsonl")?
        .into_iter()
        .filter(|o| o["IsClosed"] == false && o["IsDeleted"] == false)
        .filter_map(|o| o["Id"].as_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    let (mut h, mut s) = (hubspot.into_iter(), salesforce.into_iter());
    while out.len() < n {
        let next = if out.len() % 2 == 0 {
            h.next().map(|id| ("hubspot", id))
        } else {
            s.next().map(|id| ("salesforce", id))
        };
        match next {
            Some(r) => out.push(r),
            None => return Err("not enough open deals in the firm".into()),
        }
    }
    Ok(out)
}

/// Whether `canonical.bookings` has the `won` row of `id` (a fresh read of the latest version).
async fn has_won(lake: &Lake, id: &str) -> bool {
    let ctx = SessionContext::new();
    if !matches!(
        lake.register(&ctx, &TableName::new("canonical", "bookings"))
            .await,
        Ok(true)
    ) {
        return false;
    }
    let sql = format!(
        "SELECT count(*) AS n FROM canonical.bookings WHERE opportunity_id = '{id}' AND event_type = 'won'"
    );
    let Ok(df) = ctx.sql(&sql).await else {
        return false;
    };
    let Ok(batches) = df.collect().await else {
        return false;
    };
    batches.first().is_some_and(|b| {
        b.column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .is_some_and(|a| a.value(0) > 0)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

async fn wait_http(url: &str, timeout: Duration) -> Res<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{url} did not answer").into())
}

#[tokio::main]
async fn main() -> Res<()> {
    let mut scale = "1".to_string();
    let mut events = 20usize;
    let mut debounce = "2s".to_string();
    let mut write: Option<PathBuf> = None;
    let mut work = std::env::temp_dir().join("pslake-bench-events");
    let mut pslake: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => scale = args.next().ok_or("--scale N")?,
            "--events" => events = args.next().ok_or("--events N")?.parse()?,
            "--debounce" => debounce = args.next().ok_or("--debounce 2s")?,
            "--write" => write = Some(args.next().ok_or("--write FILE")?.into()),
            "--work" => work = args.next().ok_or("--work DIR")?.into(),
            "--pslake" => pslake = Some(args.next().ok_or("--pslake PATH")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let root = common::repo_root()?;
    let pslake = common::pslake_binary(pslake)?;
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let firm = work.join("firm");
    let lake_dir = work.join("lake");
    let log = |name: &str| -> Res<std::fs::File> { Ok(std::fs::File::create(work.join(name))?) };
    let status = Command::new(&pslake)
        .args([
            "fixtures", "generate", "--seed", "7", "--scale", &scale, "--out",
        ])
        .arg(&firm)
        .stdout(Stdio::null())
        .stderr(log("generate.log")?)
        .status()?;
    if !status.success() {
        return Err("fixtures generate failed".into());
    }
    let (sandbox_port, listen_port) = (free_port()?, free_port()?);
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let listen_url = format!("http://127.0.0.1:{listen_port}");
    let mut envs: Vec<(String, String)> = Credentials::default()
        .demo_secrets()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    envs.push(("PSLAKE_SANDBOX_URL".into(), sandbox_url.clone()));
    envs.push(("PSLAKE_FIXTURES".into(), firm.display().to_string()));
    let cmd = |args: &[&str]| {
        let mut c = Command::new(&pslake);
        c.args(args)
            .current_dir(&root)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    };
    let _sandbox = Proc(
        cmd(&[
            "sandbox",
            "--fixtures",
            firm.to_str().ok_or("utf8")?,
            "--listen",
            &format!("127.0.0.1:{sandbox_port}"),
            "--webhook-target",
            &listen_url,
        ])
        .stdout(Stdio::null())
        .stderr(log("sandbox.log")?)
        .spawn()?,
    );
    wait_http(&format!("{sandbox_url}/health"), Duration::from_secs(120)).await?;
    let lake_arg = lake_dir.to_str().ok_or("utf8")?.to_string();
    let t = Instant::now();
    let status = cmd(&[
        "run",
        "--pipeline",
        "pipelines/demo.yml",
        "--lake",
        &lake_arg,
    ])
    .stdout(log("run.log")?)
    .stderr(log("run.err")?)
    .status()?;
    let first_run_s = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "the first run failed: see {}",
            work.join("run.log").display()
        )
        .into());
    }
    println!("first run (full extract and build): {first_run_s:.1} s");
    let _listener = Proc(
        cmd(&[
            "listen",
            "--pipeline",
            "pipelines/demo.yml",
            "--lake",
            &lake_arg,
            "--listen",
            &format!("127.0.0.1:{listen_port}"),
            "--debounce",
            &debounce,
        ])
        .stdout(Stdio::null())
        .stderr(log("listen.log")?)
        .spawn()?,
    );
    wait_http(
        &format!("{listen_url}/_pslake/health"),
        Duration::from_secs(120),
    )
    .await?;
    let lake = Lake::parse(&lake_arg)?;
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    for (n, (system, id)) in open_records(&firm, events)?.into_iter().enumerate() {
        let path = match system {
            "hubspot" => format!("/_sandbox/hubspot/deals/{id}/close-won"),
            _ => format!("/_sandbox/salesforce/opportunities/{id}/close-won"),
        };
        let t = Instant::now();
        let resp = client.post(format!("{sandbox_url}{path}")).send().await?;
        if !resp.status().is_success() {
            return Err(format!("close-won {system} {id}: {}", resp.status()).into());
        }
        loop {
            if has_won(&lake, &id).await {
                break;
            }
            if t.elapsed() > Duration::from_secs(300) {
                return Err(format!(
                    "{system} {id} not in canonical.bookings after 300 s: see {}",
                    work.join("listen.log").display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let s = t.elapsed().as_secs_f64();
        println!("event {:>2}: {system:<10} {id}: {s:.2} s", n + 1);
        latencies.push(s);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let (p50, p95, max) = (
        percentile(&sorted, 50.0),
        percentile(&sorted, 95.0),
        sorted[sorted.len() - 1],
    );
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let release = pslake.to_string_lossy().contains("/release/");
    let text = format!(
        "{START}\n# Event-driven refresh benchmark\n\n\
`cargo run --release -p pslake-cli --example bench_events -- --write docs/BENCHMARKS.md`: a \
`--scale {scale}` firm (seed 7) served by `pslake sandbox --webhook-target`, the lake built once \
by `pslake run --pipeline pipelines/demo.yml` ({first_run_s:.1} s), then `pslake listen \
--debounce {debounce}`. {events} deals closed one after another (the next 0.5 s after the \
previous one is readable), alternating HubSpot deals (signed webhook) and Salesforce \
opportunities (signed Flow callout); each latency is from the sandbox's close-won call to the \
deal's `won` row being readable in `canonical.bookings` (the lake reader polling every 100 ms). \
{} build, {cpus} CPUs.\n\n\
| events | p50 | p95 | max | target p95 |\n|---:|---:|---:|---:|---:|\n\
| {events} | {p50:.2} s | {p95:.2} s | {max:.2} s | < 10 s |\n\n\
Each refresh is one run: the window (`--debounce`) after the first event, the incremental \
extract of the trigger's stream (the HubSpot list endpoint pages through every deal and keeps \
those changed since the cursor; Salesforce filters on `SystemModstamp` server side), the build \
of the models downstream of its raw table (the others reused), and the release.\n\
Latencies, in order: {}.\n{END}\n",
        if release { "Release" } else { "Debug" },
        latencies
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("\n{text}");
    if let Some(path) = write {
        common::write_section(&path, START, END, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
