//! Interop: every canonical table read by the Python `deltalake` package and by DuckDB gives
//! exactly the rows pslake's own reader (DataFusion over the Delta log) gives; the model
//! descriptions are in the Delta metadata where those clients read them.

use std::process::Command;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use pslake_lake::Lake;

use crate::support::{CANONICAL, repo_root, run_demo, show};

/// One value as `tests/python/read_table.py` prints it.
fn norm(col: &dyn Array, i: usize) -> String {
    if col.is_null(i) {
        return "NULL".into();
    }
    match col.data_type() {
        DataType::Float64 => format!("{:.9}", col.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let v = col.as_primitive::<TimestampMicrosecondType>().value(i);
            let t = chrono::DateTime::from_timestamp_micros(v).expect("timestamp in range");
            t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
        }
        _ => {
            let options = FormatOptions::default();
            let f = ArrayFormatter::try_new(col, &options).expect("formattable column");
            f.value(i).to_string().replace(['\t', '\n'], " ")
        }
    }
}

fn lines(batches: &[RecordBatch]) -> String {
    let Some(first) = batches.first() else {
        return String::new();
    };
    let header: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| norm(c.as_ref(), i))
                    .collect::<Vec<_>>()
                    .join("\t"),
            );
        }
    }
    rows.sort();
    let mut out = header.join("\t") + "\n";
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

/// Runs `python3` with `args` and returns its stdout; panics with its stderr when it fails.
fn python(args: &[&std::ffi::OsStr], what: &str) -> String {
    // delta-rs's Python bindings sometimes abort the interpreter from a native thread
    // ("terminate called without an active exception", SIGABRT) on this machine; a process killed
    // by a signal is run again, up to three times. A normal failure fails at once.
    let mut last = None;
    for _ in 0..3 {
        let out = Command::new("python3")
            .args(args)
            .output()
            .expect("python3 runs (scripts/test installs deltalake and duckdb)");
        if out.status.success() {
            return String::from_utf8(out.stdout).expect("utf8");
        }
        let killed = std::os::unix::process::ExitStatusExt::signal(&out.status).is_some();
        last = Some(out);
        if !killed {
            break;
        }
    }
    let out = last.expect("at least one attempt");
    panic!(
        "{what} ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_reads(lake: &std::path::Path, table: &str, engine: &str) -> String {
    let script = repo_root().join("tests/python/read_table.py");
    python(
        &[
            script.as_os_str(),
            lake.as_os_str(),
            table.as_ref(),
            engine.as_ref(),
        ],
        &format!("{engine} could not read {table}"),
    )
}

/// Model and column descriptions from `models/*.yml` are in the Delta metadata where other
/// clients look: Python `deltalake` reads `metadata().description` and the `comment` of each
/// field's metadata.
#[test]
fn descriptions_read_back_with_python_deltalake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs_err::create_dir_all(root.join("sql/canonical")).expect("mkdir");
    fs_err::create_dir_all(root.join("models")).expect("mkdir");
    fs_err::write(
        root.join("sql/canonical/t.sql"),
        "SELECT CAST(1 AS BIGINT) AS id, 'x' AS label, 2.5 AS amount",
    )
    .expect("write");
    let yml = |description: &str| {
        format!(
            "version: 2\nmodels:\n  - name: t\n    description: {description}\n    columns:\n      - name: id\n        description: Stable id.\n      - name: label\n        description: \"What it is, in words: 'x'.\"\n      - name: amount\n"
        )
    };
    let lake = root.join("lake");
    let build = || {
        let out = crate::support::pslake(&[
            "build",
            "--project",
            root.to_str().expect("utf8"),
            "--lake",
            lake.to_str().expect("utf8"),
            "--as-of",
            "2026-03-31",
            "--history-start",
            "2026-01-01",
        ]);
        assert!(out.status.success(), "pslake build:\n{}", show(&out));
    };
    let read = || {
        let code = "import json, sys\nfrom deltalake import DeltaTable\nt = DeltaTable(sys.argv[1])\nprint(json.dumps({'description': t.metadata().description, 'fields': {f.name: f.metadata for f in t.schema().fields}}, sort_keys=True))";
        let table = lake.join("canonical/t");
        let text = python(
            &["-c".as_ref(), code.as_ref(), table.as_os_str()],
            "deltalake could not read canonical.t",
        );
        serde_json::from_str::<serde_json::Value>(&text).expect("json")
    };
    fs_err::write(root.join("models/t.yml"), yml("One row per thing.")).expect("write");
    build();
    assert_eq!(
        read(),
        serde_json::json!({
            "description": "One row per thing.",
            "fields": {
                "id": {"comment": "Stable id."},
                "label": {"comment": "What it is, in words: 'x'."},
                "amount": {}
            }
        })
    );
    // An edited description reaches the existing table.
    fs_err::write(root.join("models/t.yml"), yml("Things, one per row.")).expect("write");
    build();
    assert_eq!(read()["description"], "Things, one per row.");
}

#[test]
fn canonical_tables_read_the_same_with_python_deltalake_and_duckdb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "pslake run failed:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for name in CANONICAL {
        let table = format!("canonical.{name}");
        let batches = rt
            .block_on(lake.query(&format!("SELECT * FROM {table}")))
            .expect("pslake reads its table");
        let ours = lines(&batches);
        let rows = ours.lines().count().saturating_sub(1);
        assert!(rows > 0, "{table} is empty in the demo lake");
        for engine in ["deltalake", "duckdb"] {
            let theirs = python_reads(&lake_dir, &table, engine);
            if ours != theirs {
                let first_diff = ours
                    .lines()
                    .zip(theirs.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("pslake: {a}\n{engine}: {b}"))
                    .unwrap_or_else(|| {
                        format!(
                            "row counts differ: {} vs {}",
                            ours.lines().count(),
                            theirs.lines().count()
                        )
                    });
                panic!("{table}: {engine} reads different rows than pslake\n{first_diff}");
            }
        }
    }
}
