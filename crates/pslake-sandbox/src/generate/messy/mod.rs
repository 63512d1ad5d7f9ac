//! `pslake fixtures generate --messy`: the firm of [`super::generate`] plus the situations the
//! clean fixtures do not have, over three runs (`fixtures/messy/`, see its README).
//!
//! Run 1 is the fixture directory itself: the generated firm with, planted in it,
//! - no treasury file for the `as_of` month (it arrives in run 2);
//! - Kantata entries, NetSuite lines and CRM opportunities in another currency than their project's;
//! - invoice and expense lines on an unknown and on an empty job, a story on an unknown workspace;
//! - a time entry, lines, a milestone and a won opportunity dated after `as_of`;
//! - records that later runs change or delete.
//!
//! Runs 2 and 3 are cumulative overlays, `run2/` and `run3/`: each holds full copies of the files
//! that changed since the previous state, to be copied over it (base, then `run2/`, then
//! `run3/`), and its own `manifest.json` with the same `as_of`. A record absent from an overlaid
//! stream file was deleted in the source. An edited record's cursor field moves past every cursor
//! of the state before it (NetSuite's date-only cursor to the `as_of` date, which its one-day lag
//! re-reads), yet stays on the `as_of` date, so the booking events it causes fall inside the window.
//!
//! Every planted record has a fixed id, independent of the seed and the scale; [`Planted`] lists
//! them with what SPEC sections 4 and 5 say each run must do with them.

mod crm;
mod plant;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use self::plant::{Cast, Change};
use super::calendar::as_of;
use super::firm::Firm;
use super::writer::{io, write_file};
use super::{Error, GenerateOptions, GenerateSummary, Result, generate};
use crate::layout::{MANIFEST_FILE, Manifest, TREASURY_DIR};

pub use self::plant::UNKNOWN_JOB;

/// The overlay directories of the later runs, in order (run 1 is the directory itself).
pub const MESSY_RUNS: [&str; 2] = ["run2", "run3"];

/// One planted record of the messy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// The system, e.g. `kantata` (`treasury` for the FX file).
    pub system: String,
    /// The stream, e.g. `time_entries`.
    pub stream: String,
    /// The record's primary key (the file name for the FX file).
    pub id: String,
    /// What it is, naming the records it hangs on.
    pub what: String,
    /// What SPEC sections 4 and 5 say runs 1, 2 and 3 do with it.
    pub runs: [String; 3],
}

/// What [`generate_messy`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct MessySummary {
    /// Run 1: the files of the fixture directory itself (the held-back FX file left out).
    pub base: GenerateSummary,
    /// Every planted record.
    pub planted: Vec<Planted>,
    /// Each later run's overlay directory and the files in it (relative to it).
    pub overlays: Vec<(PathBuf, Vec<PathBuf>)>,
}

/// The treasury file of `month`'s month, relative to a fixture directory.
pub fn fx_file(month: NaiveDate) -> PathBuf {
    Path::new(TREASURY_DIR).join(format!(
        "fx_rates_{}-{:02}.csv",
        month.year(),
        month.month()
    ))
}

/// Writes the messy set to `opts.out`: run 1 there, runs 2 and 3 as overlays in
/// `opts.out/run2` and `opts.out/run3` (rewritten from scratch). Blocking.
pub fn generate_messy(opts: &GenerateOptions) -> Result<MessySummary> {
    let mut base = generate(opts)?;
    let out = &opts.out;
    let firm = Firm::build(opts.seed, opts.scale, opts.bad_rows);
    let cast = Cast::pick(&firm)?;
    let mut plan = plant::plant(&firm, &cast, out)?;
    for (path, n) in plan.appended.drain(..) {
        match base.files.iter_mut().find(|(p, _)| *p == path) {
            Some(f) => f.1 += n,
            None => base.files.push((path, n)),
        }
    }

    // The treasury file of the as_of month is not there yet in run 1; it arrives in run 2.
    let fx_rel = fx_file(as_of());
    let fx_path = out.join(&fx_rel);
    let fx_bytes = fs_err::read(&fx_path).map_err(|source| io(&fx_path, source))?;
    fs_err::remove_file(&fx_path).map_err(|source| io(&fx_path, source))?;
    base.files.retain(|(p, _)| *p != fx_path);
    let fx_name = fx_rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut planted = vec![Planted {
        system: "treasury".to_owned(),
        stream: "fx_rates".to_owned(),
        id: fx_name,
        what: "the as_of month's treasury file".to_owned(),
        runs: [
            "missing: every amount of 2026-09 that needs a non-USD rate is rejected no_fx_rate (time entries, invoice and expense lines); bookings, fixed-fee and milestone revenue and backlog of 2026-09 in a non-USD currency have NULL USD figures, with a warning per currency-month".to_owned(),
            "arrives: the rejected rows come back by themselves, the NULL USD figures are filled in".to_owned(),
            "unchanged".to_owned(),
        ],
    }];
    planted.append(&mut plan.planted);

    base.manifest.extra.insert("messy".into(), true.into());
    base.manifest.extra.insert("run".into(), 1.into());
    write_manifest(&out.join(MANIFEST_FILE), &base.manifest)?;

    let mut overlays = Vec::new();
    for (k, name) in MESSY_RUNS.iter().enumerate() {
        let dir = out.join(name);
        if dir.exists() {
            fs_err::remove_dir_all(&dir).map_err(|source| io(&dir, source))?;
        }
        let mut files = Vec::new();
        // The state before this run, newest overlay first.
        let before: Vec<PathBuf> = MESSY_RUNS[..k]
            .iter()
            .rev()
            .map(|r| out.join(r))
            .chain([out.clone()])
            .collect();
        let changes = std::mem::take(&mut plan.runs[k]);
        let mut streams: Vec<(&'static str, &'static str)> =
            changes.iter().map(Change::stream).collect();
        streams.sort();
        streams.dedup();
        for (system, stream) in streams {
            let rel = Path::new(system).join(format!("{stream}.jsonl"));
            let from = before
                .iter()
                .map(|d| d.join(&rel))
                .find(|p| p.is_file())
                .ok_or_else(|| Error::Messy(format!("no {} to overlay", rel.display())))?;
            let mine: Vec<&Change> = changes
                .iter()
                .filter(|c| c.stream() == (system, stream))
                .collect();
            overlay_stream(&from, &dir.join(&rel), &mine)?;
            files.push(rel);
        }
        if k == 0 {
            write_file(&dir.join(&fx_rel), &fx_bytes)?;
            files.push(fx_rel.clone());
        }
        let mut manifest = base.manifest.clone();
        manifest.extra.insert("run".into(), (k + 2).into());
        write_manifest(&dir.join(MANIFEST_FILE), &manifest)?;
        files.push(PathBuf::from(MANIFEST_FILE));
        files.sort();
        overlays.push((dir, files));
    }
    base.files.sort();
    Ok(MessySummary {
        base,
        planted,
        overlays,
    })
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<()> {
    let mut text = serde_json::to_string_pretty(manifest).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// The primary key of a stream record: `Id` (Salesforce), `uniquekey` (NetSuite
/// `transactionline`, whose `id` numbers the line within its transaction) or `id` (everyone else).
#[derive(Deserialize)]
struct Key {
    #[serde(alias = "Id")]
    id: String,
    uniquekey: Option<String>,
}

impl Key {
    fn key(&self) -> &str {
        self.uniquekey.as_deref().unwrap_or(&self.id)
    }
}

/// Copies stream file `from` to `to` with `changes` applied: deleted records left out, edited
/// ones re-serialized, every other line copied byte for byte, new records appended. Fails when a
/// change names a record that is not there (or, for a new one, that is).
fn overlay_stream(from: &Path, to: &Path, changes: &[&Change]) -> Result<()> {
    let (appended, changes): (Vec<&Change>, Vec<&Change>) = changes
        .iter()
        .partition(|c| matches!(c, Change::Append { .. }));
    let file = fs_err::File::open(from).map_err(|source| io(from, source))?;
    let json_err = |source| Error::Json {
        path: from.to_path_buf(),
        source,
    };
    if let Some(parent) = to.parent() {
        fs_err::create_dir_all(parent).map_err(|source| io(parent, source))?;
    }
    let out = fs_err::File::create(to).map_err(|source| io(to, source))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut seen = vec![false; changes.len()];
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|source| io(from, source))?;
        let key: Key = serde_json::from_str(&line).map_err(json_err)?;
        let mut record: Option<serde_json::Value> = None;
        let mut deleted = false;
        if let Some(c) = appended.iter().find(|c| c.id() == key.key()) {
            return Err(Error::Messy(format!(
                "{} has a record {} already",
                from.display(),
                c.id()
            )));
        }
        for (i, c) in changes.iter().enumerate() {
            if c.id() != key.key() {
                continue;
            }
            seen[i] = true;
            match c {
                Change::Append { .. } => {}
                Change::Delete { .. } => deleted = true,
                Change::Set { fields, .. } => {
                    let v = match record.as_mut() {
                        Some(v) => v,
                        None => record.insert(serde_json::from_str(&line).map_err(json_err)?),
                    };
                    for (pointer, value) in fields {
                        let slot = v.pointer_mut(pointer).ok_or_else(|| {
                            Error::Messy(format!(
                                "record {} of {} has no field {pointer}",
                                key.key(),
                                from.display()
                            ))
                        })?;
                        *slot = value.clone();
                    }
                }
            }
        }
        if deleted {
            continue;
        }
        let written = match record {
            Some(v) => writeln!(out, "{v}"),
            None => writeln!(out, "{line}"),
        };
        written.map_err(|source| io(to, source))?;
    }
    for c in &appended {
        if let Change::Append { record, .. } = c {
            writeln!(out, "{record}").map_err(|source| io(to, source))?;
        }
    }
    out.flush().map_err(|source| io(to, source))?;
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(Error::Messy(format!(
            "{} has no record {} to change",
            from.display(),
            changes[i].id()
        )));
    }
    Ok(())
}
