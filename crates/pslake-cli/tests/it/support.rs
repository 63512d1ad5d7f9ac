//! Helpers: the repository root, the built binary, running it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ten canonical tables of SPEC section 4.
pub(crate) const CANONICAL: &[&str] = &[
    "dim_customer",
    "dim_project",
    "dim_employee",
    "fct_time_entry",
    "bookings",
    "revenue",
    "backlog",
    "utilization",
    "capacity_plan",
    "margin",
];

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root exists")
}

/// Runs the built `pslake` binary with `args` from the repository root.
pub(crate) fn pslake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pslake"))
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the pslake binary runs")
}

/// The process's stdout and stderr, for assertion messages.
pub(crate) fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the demo (`pslake run`) on `fixtures` into a new lake under `dir`; returns the lake path.
pub(crate) fn run_demo(dir: &Path, fixtures: &Path, extra: &[&str]) -> (PathBuf, Output) {
    let lake = dir.join("lake");
    let mut args = vec![
        "run",
        "--fixtures",
        fixtures.to_str().expect("utf8"),
        "--lake",
        lake.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let out = pslake(&args);
    (lake, out)
}
