//! Helpers: fixture copies, the sandbox, the demo pipeline pointed at it, in-test servers and
//! pipelines, lake queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch, StringArray};
use pslake_core::Sensitive;
use pslake_core::pipeline::{Pipeline, load_pipeline_with};
use pslake_extract::{ExtractOptions, ExtractReport, extract};
use pslake_lake::Lake;
use pslake_sandbox::server::{Credentials, FaultSpec, RunningSandbox, Sandbox, SandboxConfig};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A private copy of the committed fixtures (tests may edit it).
/// A copy of the committed fixtures. Their archived HubSpot deal was archived long before
/// `as_of` (the sandbox would purge it): the copy archives it 2026-09-01, so it is listed and
/// every fixture record is served.
pub(crate) fn copy_fixtures(to: &Path) -> PathBuf {
    let src = repo().join("fixtures");
    let dst = to.join("fixtures");
    copy_dir(&src, &dst);
    let deals: Vec<String> = fixture_records(&dst, "hubspot", "deals")
        .into_iter()
        .map(|mut d| {
            if d["archived"] == serde_json::json!(true) {
                d["archivedAt"] = serde_json::json!("2026-09-01T00:00:00.000Z");
            }
            d.to_string()
        })
        .collect();
    std::fs::write(dst.join("hubspot/deals.jsonl"), deals.join("\n") + "\n").unwrap();
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &dst.join(e.file_name()));
        } else {
            std::fs::copy(&p, dst.join(e.file_name())).unwrap();
        }
    }
}

pub(crate) async fn sandbox(fixtures: &Path, faults: Option<&str>) -> RunningSandbox {
    let mut cfg = SandboxConfig::new(fixtures);
    cfg.faults = faults.map(|f| FaultSpec::parse(f).expect("fault spec"));
    Sandbox::start(cfg).await.expect("sandbox starts")
}

/// The demo pipeline's secrets, from the sandbox's credentials.
pub(crate) fn sandbox_secrets(c: &Credentials) -> HashMap<String, Sensitive<String>> {
    c.demo_secrets()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string())))
        .collect()
}

/// `pipelines/demo.yml` pointed at a sandbox, fixtures and lake.
pub(crate) fn demo(base_url: &str, fixtures: &Path, lake: &Path) -> Pipeline {
    let vars: HashMap<String, String> = [
        ("PSLAKE_SANDBOX_URL", base_url.to_string()),
        ("PSLAKE_FIXTURES", fixtures.display().to_string()),
        ("PSLAKE_LAKE", lake.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    load_pipeline_with(&repo().join("pipelines/demo.yml"), &vars)
        .unwrap_or_else(|e| panic!("{e:#?}"))
}

pub(crate) fn options(full_refresh: bool) -> ExtractOptions {
    let mut o = ExtractOptions::new();
    o.secrets = sandbox_secrets(&Credentials::default());
    o.full_refresh = full_refresh;
    o
}

pub(crate) async fn run(p: &Pipeline, lake: &Lake, o: &ExtractOptions) -> ExtractReport {
    extract(p, lake, o).await.expect("extract runs")
}

/// One string column of a query result, nulls as "".
pub(crate) fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(col), &arrow::datatypes::DataType::Utf8).unwrap();
        let a = c.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                String::new()
            } else {
                a.value(i).to_string()
            });
        }
    }
    out
}

pub(crate) async fn query_strings(lake: &Lake, sql: &str) -> Vec<String> {
    strings(
        &lake
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
        0,
    )
}

/// The fixture file's records.
pub(crate) fn fixture_records(
    fixtures: &Path,
    system: &str,
    stream: &str,
) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(fixtures.join(system).join(format!("{stream}.jsonl"))).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Serves `router` on a free loopback port: its base URL and the server's task.
pub(crate) async fn serve(
    router: axum::Router,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (
        base,
        tokio::spawn(async move { axum::serve(listener, router).await }),
    )
}

/// Loads the pipeline `yaml`, written to `dir/p.yml`, and opens its lake.
pub(crate) fn load_yaml(dir: &Path, yaml: &str) -> (Pipeline, Lake) {
    let path = dir.join("p.yml");
    std::fs::write(&path, yaml).unwrap();
    let p = pslake_core::pipeline::load_pipeline(&path).unwrap_or_else(|e| panic!("{e:#?}"));
    let lake = Lake::parse(&p.lake).unwrap();
    (p, lake)
}

/// A pipeline of one REST system, `crm` on `base`, with one stream, `things` (one page, the ids
/// at `records[].Id`), loaded from `dir`; `client` is YAML added under the system's `client:`
/// (its first line indented there, the next ones indented in full).
pub(crate) fn one_stream(dir: &Path, base: &str, client: &str) -> (Pipeline, Lake) {
    let yaml = format!(
        r#"
name: one_stream
lake: {lake}
systems:
  - name: crm
    type: rest
    client:
      base_url: "{base}"
      {client}
    resources:
      - name: things
        endpoint: {{path: /q}}
        paginator: {{type: none}}
        records: {{path: records}}
        primary_key: [id]
        columns:
          - {{name: id, path: Id, type: string, required: true}}
"#,
        lake = dir.join("lake").display()
    );
    load_yaml(dir, &yaml)
}

/// Whether the first stream of `r` succeeded, the rows it landed, and its error (empty when it
/// succeeded).
pub(crate) fn first_stream(r: &ExtractReport) -> (bool, u64, String) {
    let s = &r.streams[0];
    match &s.status {
        pslake_extract::StreamStatus::Succeeded => (true, s.landed, String::new()),
        pslake_extract::StreamStatus::Failed { error, .. } => (false, s.landed, error.clone()),
    }
}
