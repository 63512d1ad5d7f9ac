//! Model-build benchmark: for each scale, generate a synthetic firm, serve it with the sandbox in
//! its own process, and time the release `pslake` binary as its own process: a full `pslake run`
//! (extract + build), a second run with no change, a run after 1% of the time entries changed
//! (edits dated in the two months before `as_of`, `updated_at` moved past the last extraction,
//! sandbox restarted on the changed fixtures), then `pslake build --full-refresh` alone on the
//! landed lake against DuckDB running the same models (`benches/duckdb_models/run.py`, a
//! straight translation of every file in `sql/`) on the same lake. Peak memory is the pslake
//! process's own high-water mark (VmHWM, polled from `/proc/<pid>/status`).
//!
//! ```text
//! cargo build --release -p pslake-cli
//! python3 -m pip install duckdb deltalake
//! cargo run --release -p pslake-cli --example bench_models -- \
//!     --scales 10,100 --write docs/BENCHMARKS.md [--python python3] [--work DIR]
//! ```
//!
//! `--write` replaces the "Model build" section of the file (between its markers; appended when
//! absent) and keeps everything else. `--work DIR` is where each scale's fixtures and lake go
//! (default: the system's temporary folder); they are deleted after each scale unless `--keep`.
#![allow(clippy::print_stdout, reason = "an example that prints its results")]

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

use common::{Res, Sandbox, Timed, timed};

const START: &str = "<!-- bench_models: start -->";
const END: &str = "<!-- bench_models: end -->";

/// The value of `"key":"..."` in a JSON line written by the generator (no escapes in it).
fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let i = line.find(&pat)? + pat.len();
    let j = line[i..].find('"')?;
    Some(&line[i..i + j])
}

/// Changes 1% of all time entries (as many as there are entries / 100), picked evenly among
/// those performed in the two months up to `as_of`: `time_in_minutes` moves by 15 and
/// `updated_at` becomes the day after `as_of`, later than every landed cursor. Returns
/// (entries, changed).
fn change_time_entries(fixtures: &Path, as_of: chrono::NaiveDate) -> Res<(u64, u64)> {
    let path = fixtures.join("kantata/time_entries.jsonl");
    let from = (as_of - chrono::Duration::days(61)).to_string();
    let to = as_of.to_string();
    let recent = |l: &str| {
        json_str(l, "date_performed").is_some_and(|d| d > from.as_str() && d <= to.as_str())
    };
    let (mut total, mut candidates) = (0u64, 0u64);
    for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
        let line = line?;
        total += 1;
        candidates += u64::from(recent(&line));
    }
    let want = (total / 100).max(1);
    if candidates < want {
        return Err(format!("only {candidates} recent time entries, {want} to change").into());
    }
    let stamp = format!(
        "\"updated_at\":\"{}T06:00:00+00:00\"",
        as_of + chrono::Duration::days(1)
    );
    let tmp = path.with_extension("jsonl.new");
    let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
    let (mut seen, mut changed) = (0u64, 0u64);
    for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
        let mut line = line?;
        if recent(&line) {
            // evenly spread: the k-th candidate changes when it crosses a multiple of the step
            let pick = (seen + 1) * want / candidates > seen * want / candidates;
            seen += 1;
            if pick && changed < want {
                line = edit_entry(&line, &stamp).ok_or("a time entry without minutes")?;
                changed += 1;
            }
        }
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &path)?;
    Ok((total, changed))
}

fn edit_entry(line: &str, stamp: &str) -> Option<String> {
    let pat = "\"time_in_minutes\":";
    let i = line.find(pat)? + pat.len();
    let len = line[i..].find(|c: char| !c.is_ascii_digit())?;
    let minutes: u64 = line[i..i + len].parse().ok()?;
    let new = if minutes > 30 {
        minutes - 15
    } else {
        minutes + 15
    };
    let mut s = format!("{}{new}{}", &line[..i], &line[i + len..]);
    let u = s.find("\"updated_at\":\"")?;
    let end = u + "\"updated_at\":\"".len() + s[u + "\"updated_at\":\"".len()..].find('"')? + 1;
    s.replace_range(u..end, stamp);
    Some(s)
}

/// What `run.py` printed last.
struct Duck {
    seconds: f64,
    peak_mib: f64,
    version: String,
    differences: Vec<String>,
    slowest: String,
}

fn run_duckdb(python: &str, root: &Path, lake: &Path, as_of: &str, hs: &str) -> Res<Duck> {
    let o = Command::new(python)
        .arg(root.join("benches/duckdb_models/run.py"))
        .arg("--lake")
        .arg(lake)
        .args(["--as-of", as_of, "--history-start", hs, "--quiet"])
        .output()?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(format!(
            "benches/duckdb_models/run.py failed ({}):\n{stdout}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )
        .into());
    }
    print!("{stdout}");
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or("run.py printed no JSON line")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let f = |k: &str| v[k].as_f64().ok_or(format!("run.py's JSON lacks {k}"));
    let slowest = v["slowest"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(3)
                .map(|m| {
                    format!(
                        "{} {:.2}s",
                        m[0].as_str().unwrap_or("?"),
                        m[1].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(Duck {
        seconds: f("seconds")?,
        peak_mib: f("peak_rss_mib")?,
        version: v["duckdb"].as_str().unwrap_or("?").to_string(),
        differences: v["differences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        slowest,
    })
}

/// The slowest models of a `pslake build` log (its per-model table: name, kind, status, rows,
/// seconds).
fn slowest_models(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut rows: Vec<(f64, String)> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let secs = w.get(4)?.strip_suffix('s')?.parse::<f64>().ok()?;
            (w.first()?.contains('.') && w.get(2) == Some(&"ok")).then(|| (secs, w[0].to_string()))
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.iter()
        .take(3)
        .map(|(s, n)| format!("{n} {s:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct ScaleResult {
    scale: f64,
    entries: u64,
    changed: u64,
    full: Timed,
    nochange: Timed,
    one_pct: Timed,
    build: Timed,
    duck: Duck,
    pslake_slowest: String,
    /// The 1%-changed run's published sums that differ from a full rebuild's (empty: none).
    incremental_diffs: Vec<String>,
    /// How many sums were compared.
    incremental_sums: usize,
}

/// Row counts and sums of pslake's published canonical tables (`run.py --pslake-sums`).
fn pslake_sums(
    python: &str,
    root: &Path,
    lake: &Path,
) -> Res<serde_json::Map<String, serde_json::Value>> {
    let o = Command::new(python)
        .arg(root.join("benches/duckdb_models/run.py"))
        .arg("--lake")
        .arg(lake)
        .arg("--pslake-sums")
        .output()?;
    if !o.status.success() {
        return Err(format!(
            "run.py --pslake-sums failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )
        .into());
    }
    match serde_json::from_slice(&o.stdout)? {
        serde_json::Value::Object(m) => Ok(m),
        other => Err(format!("run.py --pslake-sums printed {other}").into()),
    }
}

/// The sums of `a` and `b` that differ (DOUBLE sums within 1e-9 relative: their order of
/// addition is not fixed).
fn sum_diffs(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (k, x) in a {
        let y = b.get(k).unwrap_or(&serde_json::Value::Null);
        let same = match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if x.is_f64() || y.is_f64() => {
                (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0)
            }
            _ => x == y,
        };
        if !same {
            diffs.push(format!("{k}: after the 1% run {x}, full rebuild {y}"));
        }
    }
    diffs
}

fn bench_scale(
    pslake: &Path,
    root: &Path,
    python: &str,
    work: &Path,
    scale: f64,
    keep: bool,
) -> Res<ScaleResult> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("bench-models-{scale}-"))
        .tempdir_in(work)?;
    let fixtures = dir.path().join("fixtures");
    let lake = dir.path().join("lake");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let t = Instant::now();
    common::generate_firm(pslake, scale, &fixtures)?;
    println!(
        "scale {scale}: generated in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json"))?)?;
    let as_of = manifest["as_of"]
        .as_str()
        .ok_or("manifest without as_of")?
        .to_string();
    let hs = manifest["history_start"]
        .as_str()
        .ok_or("manifest without history_start")?
        .to_string();

    let run = |sb: &Sandbox, name: &str| -> Res<Timed> {
        let mut cmd = Command::new(pslake);
        cmd.current_dir(root)
            .args(["run", "--pipeline", "pipelines/demo.yml", "--lake"])
            .arg(&lake)
            .envs(sb.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PSLAKE_LAKE", &lake);
        let r = timed(cmd, &logs.join(format!("{name}.log")))?;
        println!(
            "scale {scale}: pslake run ({name}) {:.2}s, peak {:.0} MiB",
            r.seconds, r.peak_mib
        );
        Ok(r)
    };
    let sb = Sandbox::start(pslake, &fixtures)?;
    let full = run(&sb, "full")?;
    let nochange = run(&sb, "no change")?;
    drop(sb);
    let (entries, changed) = change_time_entries(
        &fixtures,
        chrono::NaiveDate::parse_from_str(&as_of, "%Y-%m-%d")?,
    )?;
    println!("scale {scale}: changed {changed} of {entries} time entries");
    let sb = Sandbox::start(pslake, &fixtures)?;
    let one_pct = run(&sb, "1% changed")?;
    let after_incremental = pslake_sums(python, root, &lake)?;
    // what the incremental extraction of the changed entries received (its summary lines)
    let text = std::fs::read_to_string(logs.join("1% changed.log")).unwrap_or_default();
    for l in text.lines().filter(|l| l.contains("time_entries")).take(4) {
        println!("scale {scale}:   {}", l.trim());
    }
    drop(sb);

    let mut cmd = Command::new(pslake);
    cmd.current_dir(root)
        .args(["build", "--full-refresh", "--lake"])
        .arg(&lake)
        .args(["--as-of", &as_of, "--history-start", &hs]);
    let build_log = logs.join("build.log");
    let build = timed(cmd, &build_log)?;
    let pslake_slowest = slowest_models(&build_log);
    // The tables the 1%-changed run published (partly rebuilt) against the full rebuild's.
    let after_full = pslake_sums(python, root, &lake)?;
    let incremental_diffs = sum_diffs(&after_incremental, &after_full);
    println!(
        "scale {scale}: 1%-changed run against a full rebuild: {} of {} sums differ",
        incremental_diffs.len(),
        after_incremental.len()
    );
    println!(
        "scale {scale}: pslake build --full-refresh {:.2}s, peak {:.0} MiB (slowest: {pslake_slowest})",
        build.seconds, build.peak_mib
    );
    let duck = run_duckdb(python, root, &lake, &as_of, &hs)?;
    println!(
        "scale {scale}: duckdb {:.2}s, peak {:.0} MiB; pslake / duckdb = {:.2}",
        duck.seconds,
        duck.peak_mib,
        build.seconds / duck.seconds
    );
    if keep {
        let kept = dir.keep();
        println!(
            "scale {scale}: fixtures, lake and the runs' logs kept in {}",
            kept.display()
        );
    }
    Ok(ScaleResult {
        scale,
        entries,
        changed,
        full,
        nochange,
        one_pct,
        build,
        duck,
        pslake_slowest,
        incremental_sums: after_incremental.len(),
        incremental_diffs,
    })
}

fn section(results: &[ScaleResult], cpus: usize, scales_arg: &str) -> String {
    let mut s = format!(
        "{START}\n# Model build benchmark\n\n\
         `cargo build --release -p pslake-cli && cargo run --release -p pslake-cli --example bench_models -- --scales {scales_arg} --write docs/BENCHMARKS.md`\n\n\
         For each scale: a synthetic firm (seed 1) served by `pslake sandbox` in its own process; the\n\
         release `pslake` binary runs as its own process (wall time; peak = that process's VmHWM,\n\
         polled from `/proc`). **full run**: `pslake run --pipeline pipelines/demo.yml` on an empty lake\n\
         (extract, land, build, test, publish). **no change**: the same command again. **1% changed**:\n\
         1% of all time entries edited (minutes moved by 15, `updated_at` after the last extraction),\n\
         picked among those performed in the two months before `as_of`, the sandbox restarted on the\n\
         changed fixtures, then the same command. **build**: `pslake build --full-refresh` alone on the\n\
         landed lake. **DuckDB**: `benches/duckdb_models/run.py` on the same lake: every model of `sql/`\n\
         translated by hand into DuckDB SQL (`benches/duckdb_models/README.md`), the whole DAG built\n\
         over the Parquet files of the lake's current Delta versions, `SET threads = 2`, in a DuckDB\n\
         database file, timed from opening it to the final checkpoint; its peak is the Python\n\
         process's VmHWM. {cpus} CPUs, shared with other jobs: the figures are noisy (a few tens of\n\
         percent from one run to the next).\n\n\
         | scale | time entries | full run s | peak MiB | no change s (% of full) | 1% changed s (% of full) | build s | build peak MiB | DuckDB s | DuckDB peak MiB | pslake ÷ DuckDB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in results {
        s += &format!(
            "| {} | {} | {:.1} | {:.0} | {:.1} ({:.0}%) | {:.1} ({:.0}%) | {:.1} | {:.0} | {:.1} | {:.0} | **{:.2}** |\n",
            r.scale,
            r.entries,
            r.full.seconds,
            r.full.peak_mib,
            r.nochange.seconds,
            100.0 * r.nochange.seconds / r.full.seconds,
            r.one_pct.seconds,
            100.0 * r.one_pct.seconds / r.full.seconds,
            r.build.seconds,
            r.build.peak_mib,
            r.duck.seconds,
            r.duck.peak_mib,
            r.build.seconds / r.duck.seconds,
        );
    }
    s += "\nTargets (issue 9): full run at scale 100 under 60 s with peak under 2 GiB; no change under 10%\n\
          of the full run, 1% changed under 25%; pslake ÷ DuckDB at most 1.0; cost linear in scale.\n\n";
    if results.len() >= 2 {
        let (a, b) = (&results[0], &results[results.len() - 1]);
        let k = b.scale / a.scale;
        s += &format!(
            "Cost from scale {} to {} ({k}× the data): full run {:.1} s → {:.1} s = {:.2}× ({:.2} of linear); \
             build {:.1} s → {:.1} s = {:.2}×; DuckDB {:.1} s → {:.1} s = {:.2}×.\n\n",
            a.scale,
            b.scale,
            a.full.seconds,
            b.full.seconds,
            b.full.seconds / a.full.seconds,
            b.full.seconds / a.full.seconds / k,
            a.build.seconds,
            b.build.seconds,
            b.build.seconds / a.build.seconds,
            a.duck.seconds,
            b.duck.seconds,
            b.duck.seconds / a.duck.seconds,
        );
    }
    for r in results {
        s += &format!(
            "Scale {}: {} of {} time entries changed. Slowest models: pslake {}; DuckDB {}.\n",
            r.scale, r.changed, r.entries, r.pslake_slowest, r.duck.slowest
        );
        if r.incremental_diffs.is_empty() {
            s += &format!(
                "The tables the 1%-changed run published (the time-entry chain rebuilt only in the changed months) equal a full rebuild's: {} row counts and sums compared, none differs.\n",
                r.incremental_sums
            );
        } else {
            s += &format!(
                "The tables the 1%-changed run published differ from a full rebuild's:\n\n{}\n\n",
                r.incremental_diffs
                    .iter()
                    .map(|d| format!("- {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        if r.duck.differences.is_empty() {
            s += "Sanity check (row counts and money/hours sums of the canonical tables): no difference.\n\n";
        } else {
            s += &format!(
                "Sanity check (row counts and money/hours sums of the canonical tables), DuckDB {} against pslake:\n\n{}\n\n",
                r.duck.version,
                r.duck
                    .differences
                    .iter()
                    .map(|d| format!("- {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    s += "Decimal division is the expected source of the cent differences: DuckDB divides DECIMALs in\n\
          DOUBLE, DataFusion exactly, so an exact half cent (165 min × 59.46 / 60 = 163.515) is 163.52 in\n\
          pslake and 163.51 in DuckDB (`benches/duckdb_models/README.md`). pslake's build time also covers\n\
          its contract checks, data tests and Delta commits, which DuckDB does not do.\n";
    s += END;
    s += "\n";
    s
}

/// Replaces this benchmark's section of `path` (between the markers), or appends it.
fn main() -> Res<()> {
    let mut scales_arg = "10,100".to_string();
    let mut write: Option<PathBuf> = None;
    let mut python = "python3".to_string();
    let mut work = std::env::temp_dir();
    let mut pslake: Option<PathBuf> = None;
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scales" => scales_arg = args.next().ok_or("--scales N[,N...]")?,
            "--write" => write = Some(args.next().ok_or("--write FILE")?.into()),
            "--python" => python = args.next().ok_or("--python PATH")?,
            "--work" => work = args.next().ok_or("--work DIR")?.into(),
            "--pslake" => pslake = Some(args.next().ok_or("--pslake PATH")?.into()),
            // keep each scale's fixtures, lake and run logs (for profiling) instead of deleting them
            "--keep" => keep = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scales: Vec<f64> = scales_arg
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()?;
    let root = common::repo_root()?;
    let pslake = common::pslake_binary(pslake)?;
    let check = Command::new(&python)
        .args(["-c", "import duckdb, deltalake"])
        .status()?;
    if !check.success() {
        return Err(format!(
            "the DuckDB peer needs duckdb and deltalake for {python}: python3 -m pip install duckdb deltalake"
        )
        .into());
    }
    std::fs::create_dir_all(&work)?;
    let mut results = Vec::new();
    for &scale in &scales {
        results.push(bench_scale(&pslake, &root, &python, &work, scale, keep)?);
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let text = section(&results, cpus, &scales_arg);
    println!("\n{text}");
    if let Some(path) = write {
        common::write_section(&path, START, END, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
