//! `pslake maintain` on a demo lake after three full-refresh runs: the raw tables' small files
//! are compacted and the old ones deleted, every table reads the same rows, the released
//! versions stay readable (time travel), Python `deltalake` and DuckDB still read every table,
//! and the models rebuilt from the compacted raw tables publish the same canonical rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, lines, pslake, read_with_python, repo_root, run_demo, show};

/// Every row of every table of the lake at its latest version, registered once.
fn every_table(rt: &tokio::runtime::Runtime, lake: &Lake) -> BTreeMap<TableName, Vec<String>> {
    rt.block_on(async {
        let ctx = SessionContext::new();
        let tables = lake.register_all(&ctx).await.expect("register");
        let mut out = BTreeMap::new();
        for t in tables {
            let batches = ctx
                .sql(&format!("SELECT * FROM \"{}\".\"{}\"", t.schema, t.name))
                .await
                .expect("plan")
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{t}: {e}"));
            out.insert(t, lines(&batches));
        }
        out
    })
}

/// Every row of `t` at `version` (time travel).
fn rows_at(rt: &tokio::runtime::Runtime, lake: &Lake, t: &TableName, version: i64) -> Vec<String> {
    rt.block_on(async {
        let table = lake
            .open_at(t, version)
            .await
            .unwrap_or_else(|e| panic!("{t} at version {version}: {e}"));
        let ctx = SessionContext::new();
        ctx.register_table("t", table.table_provider().await.expect("provider"))
            .expect("register");
        let batches = ctx
            .sql("SELECT * FROM t")
            .await
            .expect("plan")
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{t} at version {version}: {e}"));
        lines(&batches)
    })
}

/// Live data files of each raw table.
fn raw_files(rt: &tokio::runtime::Runtime, lake: &Lake) -> BTreeMap<TableName, usize> {
    rt.block_on(async {
        let mut out = BTreeMap::new();
        for t in lake.list_tables().await.expect("list") {
            if t.schema == pslake_lake::RAW_SCHEMA {
                out.insert(t.clone(), lake.table_files(&t).await.expect("files").len());
            }
        }
        out
    })
}

/// Parquet files stored under `dir`.
fn stored_parquet(dir: &Path) -> usize {
    walkdir(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count()
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn maintain_compacts_and_vacuums_without_changing_a_row_or_a_released_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = repo_root().join("fixtures");
    let started = Instant::now();
    let mut lake_dir = None;
    for _ in 0..3 {
        let (l, out) = run_demo(dir.path(), &fixtures, &["--full-refresh"]);
        assert!(out.status.success(), "{}", show(&out));
        lake_dir = Some(l);
    }
    eprintln!("three full-refresh runs: {:?}", started.elapsed());
    let lake_dir = lake_dir.expect("a lake");
    let lake_arg = lake_dir.to_str().expect("utf8");
    let lake = Lake::parse(lake_arg).expect("lake");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let before = every_table(&rt, &lake);
    let files_before = raw_files(&rt, &lake);
    let stored_before = stored_parquet(&lake_dir.join("raw"));
    let released = rt
        .block_on(ops::released_versions(&lake, None))
        .expect("releases")
        .expect("a release record");
    assert!(
        files_before.values().any(|&n| n > 1),
        "raw tables have several small files: {files_before:?}"
    );

    let started = Instant::now();
    let out = pslake(&["maintain", "--lake", lake_arg, "--retention", "0s"]);
    eprintln!("maintain: {:?}", started.elapsed());
    assert!(out.status.success(), "{}", show(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(!lake_dir.join("_pslake/lock").exists(), "lock released");

    // raw tables compacted, their old files deleted
    let files_after = raw_files(&rt, &lake);
    for (t, &n) in &files_before {
        let after = files_after[t];
        assert!(after <= 1.max(n), "{t}: {n} → {after} files");
        if n > 1 {
            assert!(after < n, "{t}: {n} → {after} files");
        }
    }
    let stored_after = stored_parquet(&lake_dir.join("raw"));
    assert!(
        stored_after < stored_before,
        "raw parquet files on disk: {stored_before} → {stored_after}"
    );
    assert!(report.contains("compacted"), "{report}");

    // the same rows everywhere, at the latest version
    let after = every_table(&rt, &lake);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (t, rows) in &before {
        assert_eq!(&after[t], rows, "{t} reads the same rows after maintain");
    }
    // the released versions are unchanged and readable by time travel
    let released_after = rt
        .block_on(ops::released_versions(&lake, None))
        .expect("releases")
        .expect("a release record");
    assert_eq!(released_after, released);
    for (t, &v) in &released {
        assert_eq!(
            &rows_at(&rt, &lake, t, v),
            &before[t],
            "{t} at its released version {v}"
        );
    }
    // readers nobody here wrote read every table
    let python = read_with_python(&lake_dir, "after maintain");
    for t in before.keys() {
        assert!(
            python.lines().any(|l| l.starts_with(&format!("{t}\t"))),
            "{t} read by Python: {python}"
        );
    }

    // maintained again at once: nothing left to delete, no table gets a new version
    let versions = || -> BTreeMap<TableName, Option<i64>> {
        rt.block_on(async {
            let mut out = BTreeMap::new();
            for t in lake.list_tables().await.expect("list") {
                let v = lake.version(&t).await.expect("version");
                out.insert(t, v);
            }
            out
        })
    };
    let versions_before = versions();
    let out = pslake(&["maintain", "--lake", lake_arg, "--retention", "0s"]);
    assert!(out.status.success(), "{}", show(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(" 0 compacted, 0 files deleted"), "{report}");
    assert_eq!(versions(), versions_before);

    // a build after maintenance reuses every model: compaction and vacuum changed no row, so no
    // model table gets a new version (before, their commits read as new input versions and every
    // model was rebuilt)
    let out = pslake(&["build", "--lake", lake_arg]);
    assert!(out.status.success(), "{}", show(&out));
    let models = |v: &BTreeMap<TableName, Option<i64>>| -> BTreeMap<TableName, Option<i64>> {
        v.iter()
            .filter(|(t, _)| ["intermediate", "canonical"].contains(&t.schema.as_str()))
            .map(|(t, v)| (t.clone(), *v))
            .collect()
    };
    let after_build = versions();
    assert!(!models(&versions_before).is_empty());
    assert_eq!(
        models(&after_build),
        models(&versions_before),
        "{}",
        show(&out)
    );

    // the models rebuilt from the compacted raw tables publish the same rows
    let out = pslake(&["build", "--lake", lake_arg, "--full-refresh"]);
    assert!(out.status.success(), "{}", show(&out));
    let rebuilt = every_table(&rt, &lake);
    for t in CANONICAL {
        let t = TableName::new("canonical", *t);
        assert_eq!(
            rebuilt[&t], before[&t],
            "{t} rebuilt from compacted raw tables"
        );
    }

    // with the default retention (7 days) nothing more is deleted
    let out = pslake(&["maintain", "--lake", lake_arg]);
    assert!(out.status.success(), "{}", show(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(" 0 files deleted"), "{report}");
}
