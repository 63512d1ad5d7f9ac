//! The streaming engine (issue 9): table models are written as data files before they are
//! committed, views are never materialized, unchanged models are reused, and every build runs
//! in the memory pool `pslake.yml` sets.

use pslake_transform::{BuildOptions, NoopReporter};

use crate::{Fixture, opts};

fn reused(report: &pslake_transform::BuildReport, model: &str) -> bool {
    report
        .models
        .iter()
        .find(|m| m.model == model)
        .unwrap_or_else(|| panic!("{model} in {report}"))
        .reused
}

/// a → stg (view) → t1 (table) → t2 (table); b → u (table).
fn chain(f: &Fixture) {
    f.write("sql/staging/stg_a.sql", "SELECT id, amount FROM raw.a")
        .write(
            "sql/canonical/t1.sql",
            "SELECT id, amount * 10 AS amount FROM staging.stg_a",
        )
        .write(
            "sql/canonical/t2.sql",
            "SELECT count(*) AS n, sum(amount) AS total FROM canonical.t1",
        )
        .write("sql/canonical/u.sql", "SELECT id, amount FROM raw.b");
}

#[tokio::test]
async fn unchanged_models_are_reused_and_a_changed_input_rebuilds_its_descendants_only() {
    let f = Fixture::new();
    f.raw("a", &[("1", 1), ("2", 2)]).await;
    f.raw("b", &[("x", 5)]).await;
    chain(&f);
    let first = f.build(None).await;
    assert!(first.is_success(), "{first}");
    assert!(!reused(&first, "canonical.t1"));
    let versions = (
        f.version("canonical.t1").await,
        f.version("canonical.t2").await,
        f.version("canonical.u").await,
    );

    // Nothing changed: no table model runs, no table gets a commit.
    let second = f.build(None).await;
    assert!(second.is_success(), "{second}");
    for m in ["canonical.t1", "canonical.t2", "canonical.u"] {
        assert!(reused(&second, m), "{m} reused: {second}");
    }
    assert!(second.to_string().contains("unchanged"), "{second}");
    assert_eq!(
        (
            f.version("canonical.t1").await,
            f.version("canonical.t2").await,
            f.version("canonical.u").await,
        ),
        versions
    );

    // raw.a changed: t1 and t2 (through the view) rebuild, u does not.
    f.raw("a", &[("1", 1), ("2", 2), ("3", 3)]).await;
    let third = f.build(None).await;
    assert!(third.is_success(), "{third}");
    assert!(!reused(&third, "canonical.t1"), "{third}");
    assert!(!reused(&third, "canonical.t2"), "{third}");
    assert!(reused(&third, "canonical.u"), "{third}");
    // 10 + 20 + 30 = 60 over 3 rows.
    assert_eq!(
        f.rows("SELECT n, total FROM canonical.t2").await,
        vec!["3|60"]
    );

    // A changed model definition rebuilds it (and what reads it).
    f.write(
        "sql/canonical/t1.sql",
        "SELECT id, amount * 100 AS amount FROM staging.stg_a",
    );
    let fourth = f.build(None).await;
    assert!(!reused(&fourth, "canonical.t1") && !reused(&fourth, "canonical.t2"));
    // 100 + 200 + 300 = 600.
    assert_eq!(
        f.rows("SELECT n, total FROM canonical.t2").await,
        vec!["3|600"]
    );

    // --full-refresh rebuilds everything.
    let mut o = opts("run-full");
    o.full_refresh = true;
    let full = pslake_transform::build(&f.project(), &f.lake, &o, &NoopReporter)
        .await
        .expect("build");
    assert!(full.models.iter().all(|m| !m.reused), "{full}");
}

async fn build_as(f: &Fixture, run_id: &str) -> pslake_transform::BuildReport {
    let report = pslake_transform::build(&f.project(), &f.lake, &opts(run_id), &NoopReporter)
        .await
        .expect("build runs");
    assert!(report.is_success(), "{report}");
    report
}

#[tokio::test]
async fn unchanged_rejects_are_recorded_again_and_passed_tests_do_not_rerun() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", -5)]).await;
    f.write(
        "sql/quality/q_rejects.sql",
        "SELECT 'src' AS system, 'a' AS stream, id AS key, 'negative_amount' AS rule, 'amount' AS field, CAST(amount AS VARCHAR) AS value, 'amount below zero' AS message, CAST(NULL AS VARCHAR) AS _raw FROM raw.a WHERE amount < 0",
    )
    .write("sql/staging/stg_a.sql", "SELECT id, amount FROM raw.a")
    .write("models/q.yml", "version: 2\nmodels:\n  - name: q_rejects\n    config: {materialized: rejects}\n  - name: stg_a\n    columns:\n      - name: id\n        data_tests: [unique]\n");
    let first = build_as(&f, "run-1").await;
    assert!(!reused(&first, "quality.q_rejects"));
    let tests_of = |r: &pslake_transform::BuildReport, m: &str| {
        r.models
            .iter()
            .find(|x| x.model == m)
            .map(|x| x.tests.len())
    };
    assert_eq!(tests_of(&first, "staging.stg_a"), Some(1));
    let version = f.version("quality.q_rejects").await;

    // Same inputs: the rejects model is not recomputed, yet run-2 records its reject again (the
    // current rejects are those of the latest run), and the view's passed test is not rerun.
    let second = build_as(&f, "run-2").await;
    assert!(reused(&second, "quality.q_rejects"), "{second}");
    assert_eq!(second.rejects, 1);
    assert_eq!(f.version("quality.q_rejects").await, version);
    assert_eq!(
        f.rows("SELECT _run_id, key, rule FROM _pslake.rejects")
            .await,
        vec!["run-1|2|negative_amount", "run-2|2|negative_amount"]
    );
    assert!(reused(&second, "staging.stg_a"), "{second}");
    assert_eq!(tests_of(&second, "staging.stg_a"), Some(0));

    // raw.a changed (a duplicate id): the view's test runs again and fails the build; the
    // rejects model is recomputed (2 and 3 are negative now).
    f.raw("a", &[("1", 10), ("2", -5), ("2", 7), ("3", -1)])
        .await;
    let third = pslake_transform::build(&f.project(), &f.lake, &opts("run-3"), &NoopReporter)
        .await
        .expect("build runs");
    assert!(!third.is_success(), "{third}");
    assert_eq!(tests_of(&third, "staging.stg_a"), Some(1));
    assert!(!reused(&third, "quality.q_rejects"), "{third}");
    assert_eq!(third.rejects, 2);
}

#[tokio::test]
async fn a_failed_build_commits_nothing_and_leaves_no_staged_file_behind() {
    let f = Fixture::new();
    f.raw("a", &[("1", 1)]).await;
    f.raw("b", &[("x", 5)]).await;
    chain(&f);
    assert!(f.build(None).await.is_success());
    let before = f.version("canonical.t1").await;
    let files =
        |f: &Fixture| -> usize { walk(&f.lake.local_path().expect("local").join("canonical/t1")) };
    let files_before = files(&f);

    // t1 builds (its files are written) but t2's test fails: nothing is published, t1's
    // staged files are deleted.
    f.raw("a", &[("1", 1), ("2", 2)]).await;
    f.write(
        "models/t2.yml",
        "version: 2\nmodels:\n  - name: t2\n    columns:\n      - name: n\n        data_tests:\n          - accepted_values: {values: ['1']}\n",
    );
    let report = f.build(None).await;
    assert!(!report.is_success(), "{report}");
    assert_eq!(f.version("canonical.t1").await, before);
    assert_eq!(files(&f), files_before, "staged files were removed");
    assert_eq!(f.rows("SELECT id FROM canonical.t1").await, vec!["1"]);
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "parquet"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn the_memory_limit_of_pslake_yml_bounds_every_build() {
    // 200,000 distinct keys joined to themselves: the hash table alone needs megabytes.
    let f = Fixture::new();
    let rows: Vec<(String, i64)> = (0..200_000).map(|i| (format!("k{i}"), i)).collect();
    let borrowed: Vec<(&str, i64)> = rows.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    f.raw("big", &borrowed).await;
    f.write(
        "sql/canonical/joined.sql",
        "SELECT a.id, a.amount + b.amount AS amount FROM raw.big a JOIN raw.big b ON a.id = b.id",
    );

    f.write("pslake.yml", "memory_limit: 256KiB\n");
    let starved = pslake_transform::build(&f.project(), &f.lake, &opts("r1"), &NoopReporter)
        .await
        .expect("build runs");
    assert!(!starved.is_success(), "{starved}");
    let text = starved.to_string();
    assert!(
        text.to_lowercase().contains("resources exhausted"),
        "{text}"
    );
    assert_eq!(f.version("canonical.joined").await, None);

    f.write("pslake.yml", "memory_limit: 1GiB\n");
    let o: BuildOptions = opts("r2");
    let fed = pslake_transform::build(&f.project(), &f.lake, &o, &NoopReporter)
        .await
        .expect("build runs");
    assert!(fed.is_success(), "{fed}");
    // k7 joined to itself: 7 + 7.
    assert_eq!(
        f.rows("SELECT amount FROM canonical.joined WHERE id = 'k7'")
            .await,
        vec!["14"]
    );
}
