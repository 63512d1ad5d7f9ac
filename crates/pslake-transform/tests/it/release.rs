//! Issue 10: one release per build. A build's published tables are recorded in
//! `_pslake.releases` in one commit; `pslake query` reads the versions of the last complete
//! release, not a table's commit a publish in progress (or a crashed one) made after it.

use pslake_lake::{Lake, TableName, ops};

use crate::{Fixture, lines, opts};

async fn released(lake: &Lake, run: &str) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = ops::load_releases(lake, None)
        .await
        .expect("releases")
        .into_iter()
        .filter(|r| r.run_id == run)
        .map(|r| (r.table.to_string(), r.version))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_build_is_one_release_and_query_reads_the_last_complete_one() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    f.write("sql/canonical/x.sql", "SELECT id, amount FROM raw.a")
        .write(
            "sql/canonical/y.sql",
            "SELECT id, amount * 10 AS amount FROM canonical.x",
        );
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    let version_of = |m: &str| {
        report
            .models
            .iter()
            .find(|r| r.model == m)
            .and_then(|r| r.version)
            .unwrap_or_else(|| panic!("{m} published: {report}"))
    };
    let expected = vec![
        ("canonical.x".to_string(), version_of("canonical.x")),
        ("canonical.y".to_string(), version_of("canonical.y")),
    ];
    assert_eq!(released(&f.lake, "run-1").await, expected);
    assert_eq!(f.version("canonical.x").await, Some(expected[0].1));
    assert!(
        f.lake.pending_intents().await.expect("intents").is_empty(),
        "the intent is deleted once the release is complete"
    );

    // A second build with changed input is a second release.
    f.raw("a", &[("1", 11), ("2", 20), ("3", 30)]).await;
    let mut o = opts("run-2");
    o.full_refresh = true;
    let report =
        pslake_transform::build(&f.project(), &f.lake, &o, &pslake_transform::NoopReporter)
            .await
            .expect("build 2");
    assert!(report.is_success(), "{report}");
    let second = released(&f.lake, "run-2").await;
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second[0].1 > expected[0].1, "{second:?}");

    // A commit to canonical.y outside a release (a publish half done): `pslake query` still
    // reads the released version, a plain Delta reader the latest.
    let extra = f
        .lake
        .query("SELECT id, amount FROM canonical.y WHERE id = '1'")
        .await
        .expect("row");
    f.lake
        .append(&TableName::new("canonical", "y"), extra)
        .await
        .expect("unreleased commit");
    let q = |sql: &'static str| {
        let project = f.project();
        let lake = f.lake.clone();
        async move {
            lines(
                &pslake_transform::query(Some(&project), &lake, &opts("q"), sql)
                    .await
                    .expect("query"),
            )
        }
    };
    assert_eq!(
        q("SELECT id, amount FROM canonical.y").await,
        vec!["1|110", "2|200", "3|300"]
    );
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.y").await,
        vec!["1|110", "1|110", "2|200", "3|300"],
        "the latest version has the unreleased commit"
    );
    // raw tables are in no release: read at their latest version
    assert_eq!(q("SELECT count(*) FROM raw.a").await, vec!["3"]);
}
