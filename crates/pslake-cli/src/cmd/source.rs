//! Where a command's data comes from: a pipeline file, or the demo (the embedded sandbox serving
//! a fixture directory, `pipelines/demo.yml` pointed at it with the sandbox's credentials).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pslake_core::Sensitive;
use pslake_core::pipeline::{Pipeline, load_pipeline_with};
use pslake_lake::Lake;
use pslake_sandbox::layout::{MANIFEST_FILE, Manifest};
use pslake_sandbox::server::{RunningSandbox, Sandbox, SandboxConfig};

use super::UsageError;

/// A loaded pipeline with what it needs to run.
pub(crate) struct Source {
    pub(crate) pipeline: Pipeline,
    /// The fixtures' manifest (demo, or a pipeline naming one).
    pub(crate) manifest: Option<Manifest>,
    /// Secrets handed to the extractor (demo: the sandbox's credentials).
    pub(crate) secrets: HashMap<String, Sensitive<String>>,
    /// The embedded sandbox, running while the demo extracts.
    pub(crate) sandbox: Option<RunningSandbox>,
    demo: bool,
}

impl Source {
    /// `pipeline` when given; otherwise the demo on `fixtures` (default `<project>/fixtures`).
    pub(crate) async fn open(
        pipeline: Option<&Path>,
        fixtures: Option<&Path>,
        project: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(path) = pipeline {
            let pipeline = load(path, &HashMap::new())?;
            let manifest = match &pipeline.manifest {
                Some(m) => Some(read_manifest(m)?),
                None => None,
            };
            return Ok(Self {
                pipeline,
                manifest,
                secrets: HashMap::new(),
                sandbox: None,
                demo: false,
            });
        }
        let fixtures: PathBuf = fixtures
            .map(Path::to_path_buf)
            .unwrap_or_else(|| project.join("fixtures"));
        let fixtures = fixtures
            .canonicalize()
            .map_err(|e| UsageError(format!("fixtures directory {}: {e}", fixtures.display())))?;
        let manifest = read_manifest(&fixtures.join(MANIFEST_FILE))?;
        let config = SandboxConfig::new(&fixtures);
        let secrets = config
            .credentials
            .demo_secrets()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string())))
            .collect();
        let sandbox = Sandbox::start(config)
            .await
            .map_err(|e| UsageError(format!("cannot start the embedded sandbox: {e}")))?;
        let vars = HashMap::from([
            ("PSLAKE_SANDBOX_URL".to_string(), sandbox.base_url()),
            (
                "PSLAKE_FIXTURES".to_string(),
                fixtures.display().to_string(),
            ),
        ]);
        let pipeline = load(&project.join("pipelines/demo.yml"), &vars)?;
        Ok(Self {
            pipeline,
            manifest: Some(manifest),
            secrets,
            sandbox: Some(sandbox),
            demo: true,
        })
    }

    /// The lake: `--lake` when given, else the pipeline's, else (demo) `./lake`.
    pub(crate) fn lake(&self, flag: Option<&str>) -> anyhow::Result<Lake> {
        let location = match flag {
            Some(l) => l.to_string(),
            None if self.demo => "lake".to_string(),
            None => self.pipeline.lake.clone(),
        };
        Lake::parse(&location).map_err(|e| UsageError(e.to_string()).into())
    }

    /// Stops the embedded sandbox, if any.
    pub(crate) async fn close(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.shutdown().await;
        }
    }
}

fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = fs_err::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read the fixtures' manifest: {e}")))?;
    serde_json::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// Loads a pipeline, turning its problems into one usage error (exit 2) listing them all.
pub(crate) fn load(path: &Path, vars: &HashMap<String, String>) -> anyhow::Result<Pipeline> {
    load_pipeline_with(path, vars).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  • {p}")).collect();
        UsageError(format!(
            "pipeline {} is invalid:\n{}",
            path.display(),
            list.join("\n")
        ))
        .into()
    })
}
