//! `pslake fixtures generate`: a deterministic synthetic consultancy in the vendors' wire formats.
//!
//! [`generate`] writes a fixture directory (SPEC section 6, see [`crate::layout`]): one JSON-lines
//! file per stream of [`crate::layout::STREAMS`], the treasury CSV files and `manifest.json`.
//! The firm is a consultancy ("Meridian Partners", Salesforce CRM) that bought a smaller one
//! (HubSpot CRM), sharing NetSuite, Kantata and Workday. `--scale 1` is about 200 people and
//! 80,000 time entries between `history_start` (2025-07-01) and `as_of` (2026-09-30).
//!
//! Invariants:
//! - The same `seed` and `scale` give byte-identical files: every random draw comes from a
//!   ChaCha8 stream derived from the seed, collections are `Vec`s, dates are fixed constants.
//! - Memory stays flat in the scale of the big streams: time entries and time off are written
//!   per employee and day through buffered writers, never collected.
//! - Every cross-system key resolves, except the deliberate bad rows listed in
//!   [`GenerateSummary::deliberate`] (only written when [`GenerateOptions::bad_rows`] is set).
//! - The histories of SPEC section 4b (Salesforce `OpportunityHistory`, the deals'
//!   `propertiesWithHistory`, Workday `Worker_History`) end where their records stand, and draw
//!   from random streams of their own, so adding them moved no other record.
//!
//! [`write_edge_overlays`] derives the table-rule edge cases (`fixtures/edge/<case>/...`) from a
//! generated directory. [`generate_messy`] writes the firm plus the messy situations (missing FX
//! month, cross-currency records, unknown jobs, records dated after `as_of`) and two later runs
//! that change and delete records (`fixtures/messy/`).

mod bad_rows;
mod calendar;
mod emit;
mod finance;
mod firm;
mod history;
mod ledger;
mod messy;
mod reference;
mod timesheets;
mod writer;

use std::path::{Path, PathBuf};

use crate::layout::{MANIFEST_FILE, Manifest};

pub use bad_rows::{Deliberate, EdgeCase, write_edge_overlays};
pub use messy::{MESSY_RUNS, MessySummary, Planted, UNKNOWN_JOB, fx_file, generate_messy};

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while generating fixtures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scale is not a positive, finite number (or absurdly large).
    #[error("invalid scale {0}: expected a positive number up to 10000")]
    InvalidScale(f64),
    /// Writing or reading a file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be serialized or a line not parsed.
    #[error("invalid JSON in {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A generated file needed for the edge cases is missing a record of the expected kind.
    #[error("{path} has no record to turn into edge case {case}")]
    EdgeSource {
        /// The file.
        path: PathBuf,
        /// The edge case.
        case: String,
    },
    /// The messy set could not be planted (no record to hang a case on, or to change).
    #[error("cannot write the messy fixture set: {0}")]
    Messy(String),
}

/// Options of [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// The fixture directory to write (created if missing; existing files are overwritten).
    pub out: PathBuf,
    /// Headcount multiplier: `1.0` is about 200 people and 80,000 time entries.
    pub scale: f64,
    /// The random seed; the same seed and scale give byte-identical output.
    pub seed: u64,
    /// Whether to add the deliberate bad rows (row rules and warnings of SPEC section 5).
    pub bad_rows: bool,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateSummary {
    /// Every file written with its number of records (CSV data rows; 1 for the manifest).
    pub files: Vec<(PathBuf, u64)>,
    /// The manifest written to `manifest.json`.
    pub manifest: Manifest,
    /// Headcount of the firm (employees and contingent workers).
    pub headcount: usize,
    /// The deliberate bad rows and warning cases (empty without `bad_rows`).
    pub deliberate: Vec<Deliberate>,
}

impl GenerateSummary {
    /// Records written to `<system>/<stream>.jsonl`, if that file was written.
    pub fn records(&self, system: &str, stream: &str) -> Option<u64> {
        let rel = Path::new(system).join(format!("{stream}.jsonl"));
        self.files
            .iter()
            .find(|(p, _)| p.ends_with(&rel))
            .map(|(_, n)| *n)
    }
}

/// Version of the generated data set, written to the manifest; bump it when output changes.
pub const GENERATOR: &str = "pslake-sandbox generate v1";

/// Writes a synthetic firm to `opts.out` (blocking).
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    if !(opts.scale.is_finite() && opts.scale > 0.0 && opts.scale <= 10_000.0) {
        return Err(Error::InvalidScale(opts.scale));
    }
    let firm = firm::Firm::build(opts.seed, opts.scale, opts.bad_rows);
    let out = &opts.out;
    let mut files = Vec::new();
    let mut deliberate = Vec::new();

    let fx = finance::FxTable::new(opts.seed);
    files.extend(fx.write(out)?);
    files.extend(emit::write_reference_streams(
        &firm,
        out,
        opts.bad_rows,
        &mut deliberate,
    )?);
    let activity = timesheets::write(&firm, out, opts.bad_rows, &mut deliberate)?;
    files.extend(activity.files.iter().cloned());
    files.extend(finance::write_ledgers(
        &firm,
        &activity,
        out,
        opts.bad_rows,
        &mut deliberate,
    )?);

    let mut extra = serde_json::Map::new();
    extra.insert("generator".into(), GENERATOR.into());
    extra.insert("seed".into(), opts.seed.into());
    extra.insert("scale".into(), opts.scale.into());
    extra.insert("bad_rows".into(), opts.bad_rows.into());
    let manifest = Manifest {
        as_of: calendar::as_of(),
        history_start: calendar::history_start(),
        extra,
    };
    let path = out.join(MANIFEST_FILE);
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    writer::write_file(&path, text.as_bytes())?;
    files.push((path, 1));
    files.sort();
    Ok(GenerateSummary {
        files,
        manifest,
        headcount: firm.employees.len(),
        deliberate,
    })
}
