//! What the benchmark examples share: the repository root and the release `pslake` binary they
//! run (a folder, not an example of its own).

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> std::io::Result<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
}

/// The `pslake` binary: `given` (`--pslake PATH`), else the release binary next to this example's
/// directory (`target/release/examples/..`); an error says how to build it when it is missing.
pub(crate) fn pslake_binary(given: Option<PathBuf>) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let pslake = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("pslake"))
            .ok_or("cannot locate the pslake binary; pass --pslake PATH")?,
    };
    if !pslake.is_file() {
        return Err(format!(
            "no pslake binary at {}: run `cargo build --release -p pslake-cli` first (or pass --pslake PATH)",
            pslake.display()
        )
        .into());
    }
    Ok(pslake)
}
