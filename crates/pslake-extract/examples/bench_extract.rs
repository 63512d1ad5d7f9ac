//! Extraction benchmark: generate a synthetic firm, serve it with the sandbox, extract each
//! stream on its own, then all together, and report records/s and peak memory (VmHWM).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target cargo run --release -p pslake-extract --example bench_extract -- \
//!     --scale 10 --write docs/BENCHMARKS.md
//! ```
#![allow(clippy::print_stdout, reason = "an example that prints its results")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use pslake_core::Sensitive;
use pslake_core::pipeline::load_pipeline_with;
use pslake_extract::{ExtractOptions, extract};
use pslake_lake::Lake;
use pslake_sandbox::generate::{GenerateOptions, generate};
use pslake_sandbox::server::{Credentials, Sandbox, SandboxConfig};

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut scale = 10.0;
    let mut write: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => scale = args.next().ok_or("--scale N")?.parse()?,
            "--write" => write = Some(args.next().ok_or("--write FILE")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir()?;
    let fixtures = tmp.path().join("fixtures");
    let t = Instant::now();
    generate(&GenerateOptions {
        out: fixtures.clone(),
        scale,
        seed: 1,
        bad_rows: false,
    })?;
    println!(
        "generated scale {scale} in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let sb = Sandbox::start(SandboxConfig::new(&fixtures)).await?;
    let c = Credentials::default();
    let secrets: HashMap<String, Sensitive<String>> = c
        .demo_secrets()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string())))
        .collect();
    let lake_dir = tmp.path().join("lake");
    let vars: HashMap<String, String> = [
        ("PSLAKE_SANDBOX_URL".to_string(), sb.base_url()),
        (
            "PSLAKE_FIXTURES".to_string(),
            fixtures.display().to_string(),
        ),
        ("PSLAKE_LAKE".to_string(), lake_dir.display().to_string()),
    ]
    .into_iter()
    .collect();
    let pipeline = load_pipeline_with(&root.join("pipelines/demo.yml"), &vars)
        .map_err(|e| format!("{e:?}"))?;
    let lake = Lake::parse(&pipeline.lake)?;

    let mut streams: Vec<(String, String, u64)> = Vec::new();
    for s in &pipeline.systems {
        for st in &s.streams {
            let n =
                std::fs::read_to_string(fixtures.join(&s.name).join(format!("{}.jsonl", st.name)))
                    .map(|t| t.lines().count() as u64)
                    .unwrap_or(0);
            streams.push((s.name.clone(), st.name.clone(), n));
        }
    }
    streams.sort_by_key(|s| s.2);
    let mut rows = Vec::new();
    for (system, stream, _) in &streams {
        let mut o = ExtractOptions::new();
        o.secrets = secrets.clone();
        o.select = vec![format!("{system}.{stream}")];
        o.full_refresh = true;
        let t = Instant::now();
        let r = extract(&pipeline, &lake, &o).await?;
        let secs = t.elapsed().as_secs_f64();
        let s = &r.streams[0];
        let line = format!(
            "| {system}.{stream} | {} | {} | {:.2} | {:.0} | {:.0} |",
            s.received,
            s.landed,
            secs,
            s.received as f64 / secs,
            vm_hwm_mib()
        );
        println!("{line}");
        rows.push(line);
    }
    let mut o = ExtractOptions::new();
    o.secrets = secrets.clone();
    o.full_refresh = true;
    let t = Instant::now();
    let r = extract(&pipeline, &lake, &o).await?;
    let secs = t.elapsed().as_secs_f64();
    let (received, landed, _) = r.totals();
    let all = format!(
        "| all streams together | {received} | {landed} | {secs:.2} | {:.0} | {:.0} |",
        received as f64 / secs,
        vm_hwm_mib()
    );
    println!("{all}");
    rows.push(all);
    sb.shutdown().await;

    if let Some(path) = write {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let doc = format!(
            "# Extraction benchmark\n\n\
             `cargo run --release -p pslake-extract --example bench_extract -- --scale {scale} --write docs/BENCHMARKS.md`\n\n\
             Synthetic firm at scale {scale} (seed 1) served by the sandbox on loopback, extracted with\n\
             `pipelines/demo.yml` into a local lake; {cpus} CPUs. Each stream runs alone (full refresh),\n\
             smallest first, so the peak-memory column is the process high-water mark (VmHWM) so far;\n\
             the last row runs all streams at once. Wall time includes HTTP, decoding, Parquet and the\n\
             Delta commits.\n\n\
             | stream | received | landed | seconds | records/s | peak MiB (VmHWM) |\n|---|---:|---:|---:|---:|---:|\n{}\n",
            rows.join("\n")
        );
        std::fs::write(&path, doc)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
