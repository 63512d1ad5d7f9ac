//! Helpers: the repository root, the built binary, running it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The canonical tables of SPEC sections 4 and 4b.
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
    "dim_employee_history",
    "project_setup",
    "billing",
    "forecast_accuracy",
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

/// `pslake fixtures generate --scale <scale> --seed <seed>` into `<dir>/firm`; returns it.
pub(crate) fn generate_firm(dir: &Path, scale: &str, seed: &str) -> PathBuf {
    let firm = dir.join("firm");
    let out = pslake(&[
        "fixtures",
        "generate",
        "--out",
        firm.to_str().expect("utf8"),
        "--scale",
        scale,
        "--seed",
        seed,
    ]);
    assert!(out.status.success(), "generate:\n{}", show(&out));
    firm
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

/// Runs the built `pslake` binary with `args` from `dir` (a project other than the repository).
pub(crate) fn pslake_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pslake"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the pslake binary runs")
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("mkdir");
    for entry in fs_err::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of the repository's project (`pipelines/`, `sql/`, `models/`, no `fixtures/`) in `to`.
pub(crate) fn copy_project(to: &Path) {
    for d in ["pipelines", "sql", "models"] {
        copy_tree(&repo_root().join(d), &to.join(d));
    }
}

/// The 1-based line and column of the first `needle` in `text`.
pub(crate) fn line_col(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in the text"));
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Every row of a query on the lake as `a|b|c` lines, sorted.
pub(crate) fn rows(
    rt: &tokio::runtime::Runtime,
    lake: &pslake_lake::Lake,
    sql: &str,
) -> Vec<String> {
    let batches = rt
        .block_on(lake.query(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    lines(&batches)
}

/// The rows of `batches` as `a|b|c` lines, sorted.
pub(crate) fn lines(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, r).expect("display"))
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

/// Every Delta table of the lake read by Python `deltalake` and DuckDB (`read_lake.py`); its
/// `schema.table<TAB>rows` lines.
pub(crate) fn read_with_python(lake: &Path, what: &str) -> String {
    let script = repo_root().join("tests/python/read_lake.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(lake)
        .output()
        .expect("python3 runs (scripts/test installs deltalake and duckdb)");
    assert!(
        out.status.success(),
        "{what}: a Delta table of the lake is unreadable\n{}",
        show(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for t in CANONICAL {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("canonical.{t}\t"))),
            "{what}: canonical.{t} read by both: {text}"
        );
    }
    text.into_owned()
}

/// Every canonical table's rows, sorted, read in one session.
pub(crate) fn canonical_tables(
    rt: &tokio::runtime::Runtime,
    lake: &pslake_lake::Lake,
) -> Vec<(&'static str, Vec<String>)> {
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        lake.register_all(&ctx).await.expect("register the lake");
        let mut tables = Vec::new();
        for t in CANONICAL {
            let sql = format!("SELECT * FROM canonical.{t}");
            let df = ctx.sql(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut lines = crate::support::lines(&batches);
            lines.sort();
            tables.push((*t, lines));
        }
        tables
    })
}
