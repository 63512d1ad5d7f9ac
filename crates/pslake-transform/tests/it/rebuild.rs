//! Regression (issue 8, item 1): a model built on its own against a published lake plans and
//! computes exactly as in the full build. Tables read back from Delta and tables computed in the
//! run used to arrive with different string types (`Utf8View` vs `Utf8`), and a recursive CTE
//! unioning the two failed with "Cannot project plan column 0 ... field data type differs".

use crate::Fixture;

const NODES: &str = "\
WITH RECURSIVE nodes AS (
    SELECT id, parent FROM intermediate.int_published
    UNION ALL
    SELECT id, parent FROM intermediate.int_view
    WHERE id NOT IN (SELECT id FROM intermediate.int_published)
),
chain AS (
    SELECT id, id AS current_id, parent, 0 AS depth FROM nodes
    UNION ALL
    SELECT c.id, n.id, n.parent, c.depth + 1
    FROM chain c JOIN nodes n ON n.id = c.parent
    WHERE c.depth < 5
)
SELECT id, max(current_id) AS root, max(depth) AS depth FROM chain GROUP BY id";

fn project(f: &Fixture) {
    f.write(
        "sql/intermediate/int_published.sql",
        "SELECT id, CAST(NULL AS VARCHAR) AS parent FROM raw.a",
    )
    .write(
        "sql/intermediate/int_view.sql",
        "SELECT concat(id, 'x') AS id, id AS parent FROM raw.a",
    )
    .write("sql/canonical/chain.sql", NODES)
    .write(
        "models/m.yml",
        "version: 2\nmodels:\n  - name: int_view\n    config: {materialized: view}\n",
    );
}

#[tokio::test]
async fn each_model_built_alone_on_a_published_lake_matches_the_full_build() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    project(&f);
    let full = f.build(None).await;
    assert!(full.is_success(), "{full}");
    let expected = f.rows("SELECT * FROM canonical.chain").await;
    assert_eq!(expected, vec!["1x|1x|1", "1|1|0", "2x|2x|1", "2|2|0"]);
    for model in [
        "intermediate.int_published",
        "intermediate.int_view",
        "canonical.chain",
    ] {
        let report = f.build(Some(model)).await;
        assert!(report.is_success(), "build --select {model}:\n{report}");
        assert_eq!(
            f.rows("SELECT * FROM canonical.chain").await,
            expected,
            "after build --select {model}"
        );
    }
    // And the tests run against the published tables.
    let report = pslake_transform::test(
        &f.project(),
        &f.lake,
        &crate::opts("t"),
        &pslake_transform::NoopReporter,
    )
    .await
    .expect("test runs");
    assert!(report.is_success(), "{report}");
}
