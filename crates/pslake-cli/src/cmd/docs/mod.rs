//! `pslake docs --out DIR`: a static site documenting the project, readable from the file
//! system with no server and no network: `index.html` (every model's description, columns and
//! types, tests and their last results, upstream and downstream, its SQL; the table-level
//! lineage graph; the column lineage of the canonical tables), `site.css` and `site.js`.
//!
//! Lineage comes from the models' logical plans, as in `pslake lineage`, so no lake is needed;
//! with `--lake`, each model's last build and each test's last result come from the lake's
//! `_pslake.runs`, otherwise tests show as not run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::UsageError;

mod graph;
mod page;

/// The stylesheet and script written beside `index.html`.
const SITE_CSS: &str = include_str!("site.css");
const SITE_JS: &str = include_str!("site.js");

/// Arguments of `pslake docs`.
#[derive(Debug, clap::Args)]
pub(crate) struct DocsArgs {
    /// The folder to write the site to (created if missing; its index.html, site.css and site.js
    /// are replaced)
    #[arg(long)]
    out: PathBuf,
    /// The lake whose `_pslake.runs` gives each model's last build and test results (without
    /// it, tests show as not run)
    #[arg(long)]
    lake: Option<String>,
    /// The project directory holding sql/, models/ and pipelines/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The pipeline file (or folder) declaring the raw tables (default: the project's pipelines/)
    #[arg(long)]
    pipeline: Option<PathBuf>,
}

pub(crate) async fn docs(args: DocsArgs) -> anyhow::Result<ExitCode> {
    let loaded = super::lineage::load(&args.project, args.pipeline.as_deref()).await?;
    let results = match &args.lake {
        None => None,
        Some(location) => {
            let lake = pslake_lake::Lake::parse(location)
                .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
            if let Some(path) = lake.local_path()
                && !path.is_dir()
            {
                return Err(UsageError(format!(
                    "lake {location} does not exist ({})",
                    path.display()
                ))
                .into());
            }
            Some(
                pslake_transform::last_results(&lake)
                    .await
                    .context("reading the last results from _pslake.runs")?,
            )
        }
    };
    let html = page::render(&page::Site {
        loaded: &loaded,
        results: results.as_ref(),
        lake: args.lake.as_deref(),
    });
    fs_err::create_dir_all(&args.out)?;
    fs_err::write(args.out.join("index.html"), html)?;
    fs_err::write(args.out.join("site.css"), SITE_CSS)?;
    fs_err::write(args.out.join("site.js"), SITE_JS)?;
    tracing::info!(out = %args.out.display(), models = loaded.project.models().len(), "docs written");
    let index = args.out.join("index.html");
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{}\n", index.display()).as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
