//! Cluster benchmark (issue 14, part 3): the same model build on one node and on a 2-executor
//! Apache Ballista cluster on loopback.
//!
//! For each scale: generate a synthetic firm, serve it with the sandbox in its own process, land
//! it and build it once with `pslake run` (a local lake folder, which every process on this
//! machine reads), then time `pslake build --full-refresh` twice on the same landed lake: in one
//! process (`--engine local`), then with `--engine ballista://` against a scheduler and two
//! executors started as `pslake ballista scheduler|executor` processes (`--task-slots`, default
//! 1 each). Each build's canonical figures are checked equal (row counts and sums of every
//! canonical table's numeric columns) before any time is reported.
//!
//! ```text
//! cargo build --release -p pslake-cli --example bench_cluster
//! target/release/examples/bench_cluster --scales 10,100 --write docs/SCALING.md [--task-slots 1]
//! ```
//!
//! `--write` replaces the section between the file's `bench_cluster` markers (appended when
//! absent). Peak memory is each process's VmHWM: the client's, and each executor's at the end.
#![allow(clippy::print_stdout, reason = "an example that prints its results")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Proc, Res, Sandbox, Timed, free_port, timed, vm_hwm_kib};

const START: &str = "<!-- bench_cluster: start -->";
const END: &str = "<!-- bench_cluster: end -->";

/// The demo's canonical tables, with one numeric column each whose sum is compared.
const CHECKS: &[(&str, &str)] = &[
    ("bookings", "amount_usd"),
    ("backlog", "backlog_usd"),
    ("utilization", "billable_hours"),
    ("margin", "gross_margin_usd"),
];

/// `count(*)` and the sum of each check, one line, from the lake as published.
fn figures(pslake: &Path, root: &Path, lake: &Path) -> Res<String> {
    let sql = CHECKS
        .iter()
        .map(|(t, c)| format!("SELECT '{t}' AS t, count(*) AS n, sum({c}) AS s FROM canonical.{t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let out = Command::new(pslake)
        .current_dir(root)
        .args(["query", "--format", "csv", "--lake"])
        .arg(lake)
        .arg(format!("{sql} ORDER BY t"))
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "pslake query failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().replace('\n', "; "))
}

/// The `/readyz` status line of the scheduler on `port`, if it answers.
fn readyz(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.lines().next().map(str::to_string)
}

/// A scheduler and two executors; stopped on drop.
struct Cluster {
    port: u16,
    executors: Vec<Proc>,
    _scheduler: Proc,
}

impl Cluster {
    fn start(pslake: &Path, dir: &Path, slots: usize) -> Res<Cluster> {
        let port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let log = |name: &str| -> Res<Stdio> {
            Ok(Stdio::from(std::fs::File::create(
                dir.join(format!("{name}.log")),
            )?))
        };
        let scheduler = Proc(
            Command::new(pslake)
                .args([
                    "ballista",
                    "scheduler",
                    "--min-executors",
                    "2",
                    "--bind",
                    &bind,
                ])
                .stdout(log("scheduler")?)
                .stderr(log("scheduler.err")?)
                .spawn()?,
        );
        let mut executors = Vec::new();
        for name in ["executor-1", "executor-2"] {
            let work = dir.join(name);
            std::fs::create_dir_all(&work)?;
            executors.push(Proc(
                Command::new(pslake)
                    .args(["ballista", "executor", "--scheduler", &bind])
                    .args(["--flight-port", &free_port()?.to_string()])
                    .args(["--grpc-port", &free_port()?.to_string()])
                    .args(["--task-slots", &slots.to_string()])
                    .arg("--work-dir")
                    .arg(&work)
                    .stdout(log(name)?)
                    .stderr(log(&format!("{name}.err"))?)
                    .spawn()?,
            ));
        }
        let t = Instant::now();
        while !readyz(port).is_some_and(|s| s.contains(" 200")) {
            if t.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "the scheduler is not ready after 60 s (logs in {})",
                    dir.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Cluster {
            port,
            executors,
            _scheduler: scheduler,
        })
    }

    fn executor_peaks_mib(&self) -> Vec<f64> {
        self.executors
            .iter()
            .map(|p| vm_hwm_kib(p.0.id()).unwrap_or(0) as f64 / 1024.0)
            .collect()
    }
}

/// The bytes of the Parquet files under `dir` (every version's files; one run writes one).
fn parquet_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                parquet_bytes(&path)
            } else if path.extension().is_some_and(|x| x == "parquet") {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}

fn lines(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count() as u64)
        .unwrap_or(0)
}

struct ScaleResult {
    scale: f64,
    people: u64,
    time_entries: u64,
    history_months: u32,
    /// Parquet bytes: raw time entries, `canonical.fct_time_entry`, the whole lake.
    raw_time_bytes: u64,
    fct_time_bytes: u64,
    lake_bytes: u64,
    landed: Timed,
    single: Timed,
    cluster: Timed,
    executor_peaks: Vec<f64>,
}

fn bench_scale(
    pslake: &Path,
    root: &Path,
    work: &Path,
    scale: f64,
    slots: usize,
) -> Res<ScaleResult> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("bench-cluster-{scale}-"))
        .tempdir_in(work)?;
    let fixtures = dir.path().join("fixtures");
    let lake = dir.path().join("lake");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    common::generate_firm(pslake, scale, &fixtures)?;
    let time_entries = lines(&fixtures.join("kantata/time_entries.jsonl"));
    let people = lines(&fixtures.join("workday/Workers.jsonl"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json"))?)?;
    let month = |k: &str| -> Res<u32> {
        let d = chrono::NaiveDate::parse_from_str(
            manifest[k].as_str().ok_or("manifest dates")?,
            "%Y-%m-%d",
        )?;
        Ok(chrono::Datelike::year(&d) as u32 * 12 + chrono::Datelike::month0(&d))
    };
    let history_months = month("as_of")? - month("history_start")? + 1;
    // Rows per stream file, for the sizing arithmetic of docs/SCALING.md.
    let mut streams = Vec::new();
    for system in std::fs::read_dir(&fixtures)?.filter_map(Result::ok) {
        for file in std::fs::read_dir(system.path())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let path = file.path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                let name = path
                    .strip_prefix(&fixtures)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                streams.push((name, lines(&path)));
            }
        }
    }
    streams.sort();
    let rows: Vec<String> = streams.iter().map(|(n, r)| format!("{n} {r}")).collect();
    println!("scale {scale}: rows per stream: {}", rows.join(", "));
    let sb = Sandbox::start(pslake, &fixtures)?;
    let mut run = Command::new(pslake);
    run.current_dir(root)
        .args(["run", "--pipeline", "pipelines/demo.yml", "--lake"])
        .arg(&lake)
        .envs(sb.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let landed = timed(run, &logs.join("run.log"))?;
    drop(sb);
    println!(
        "scale {scale}: landed and built by pslake run in {:.1}s",
        landed.seconds
    );
    let build = |engine: &str, name: &str| -> Res<Timed> {
        let mut cmd = Command::new(pslake);
        cmd.current_dir(root)
            .args(["build", "--full-refresh", "--engine", engine, "--lake"])
            .arg(&lake);
        let t = timed(cmd, &logs.join(format!("{name}.log")))?;
        println!(
            "scale {scale}: build on {engine}: {:.2}s, client peak {:.0} MiB",
            t.seconds, t.peak_mib
        );
        Ok(t)
    };
    let single = build("local", "single")?;
    let expected = figures(pslake, root, &lake)?;
    let cluster = Cluster::start(pslake, &logs, slots)?;
    let on_cluster = build(&format!("ballista://127.0.0.1:{}", cluster.port), "cluster")?;
    let executor_peaks = cluster.executor_peaks_mib();
    drop(cluster);
    let got = figures(pslake, root, &lake)?;
    if got != expected {
        return Err(format!("scale {scale}: the cluster build differs:\n single node: {expected}\n cluster:     {got}").into());
    }
    println!("scale {scale}: same canonical figures: {got}");
    Ok(ScaleResult {
        scale,
        people,
        time_entries,
        history_months,
        raw_time_bytes: parquet_bytes(&lake.join("raw/kantata_time_entries")),
        fct_time_bytes: parquet_bytes(&lake.join("canonical/fct_time_entry")),
        lake_bytes: parquet_bytes(&lake),
        landed,
        single,
        cluster: on_cluster,
        executor_peaks,
    })
}

fn section(results: &[ScaleResult], cpus: usize, slots: usize) -> String {
    let mut s = format!(
        "{START}\n## Measured: one node against a 2-executor Ballista cluster\n\n\
`target/release/examples/bench_cluster --scales {} --task-slots {slots} --write docs/SCALING.md`: \
release build, this {cpus}-CPU machine, a local lake folder read by every process, the \
scheduler and both executors on loopback ({slots} task slot(s) each). `pslake build \
--full-refresh` of the demo's models on a lake landed by `pslake run`; the canonical figures of \
both builds are checked equal first. Parquet MB count every file on disk: the raw table has \
one version, the model tables three (the run's and the two builds'), the lake all of them.\n\n\
| scale | people | time entries (months) | Parquet MB: raw time entries / fct_time_entry / lake | `pslake run` s | single-node build s / peak MiB | cluster build s / client peak MiB | executors' peak MiB | cluster ÷ single node |\n\
|---|---|---|---|---|---|---|---|---|\n",
        results
            .iter()
            .map(|r| r.scale.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {} ({}) | {:.1} / {:.1} / {:.1} | {:.1} | {:.1} / {:.0} | {:.1} / {:.0} | {} | {:.2} |\n",
            r.scale,
            r.people,
            r.time_entries,
            r.history_months,
            r.raw_time_bytes as f64 / 1e6,
            r.fct_time_bytes as f64 / 1e6,
            r.lake_bytes as f64 / 1e6,
            r.landed.seconds,
            r.single.seconds,
            r.single.peak_mib,
            r.cluster.seconds,
            r.cluster.peak_mib,
            r.executor_peaks.iter().map(|p| format!("{p:.0}")).collect::<Vec<_>>().join(" + "),
            r.cluster.seconds / r.single.seconds
        ));
    }
    s.push_str(&format!("{END}\n"));
    s
}

fn main() -> Res<()> {
    let mut scales_arg = "10,100".to_string();
    let mut write: Option<PathBuf> = None;
    let mut work = std::env::temp_dir();
    let mut pslake: Option<PathBuf> = None;
    let mut slots = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scales" => scales_arg = args.next().ok_or("--scales N[,N...]")?,
            "--write" => write = Some(args.next().ok_or("--write FILE")?.into()),
            "--work" => work = args.next().ok_or("--work DIR")?.into(),
            "--pslake" => pslake = Some(args.next().ok_or("--pslake PATH")?.into()),
            "--task-slots" => slots = args.next().ok_or("--task-slots N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scales: Vec<f64> = scales_arg
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()?;
    let root = common::repo_root()?;
    let pslake = common::pslake_binary(pslake)?;
    std::fs::create_dir_all(&work)?;
    let mut results = Vec::new();
    for &scale in &scales {
        results.push(bench_scale(&pslake, &root, &work, scale, slots)?);
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let text = section(&results, cpus, slots);
    println!("\n{text}");
    if let Some(path) = write {
        common::write_section(&path, START, END, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
