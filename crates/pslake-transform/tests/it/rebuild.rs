//! Regression (issue 8, item 1): a model built on its own against a published lake plans and
//! computes exactly as in the full build. Tables read back from Delta and tables computed in the
//! run used to arrive with different string types (`Utf8View` vs `Utf8`), and a recursive CTE
//! unioning the two failed with "Cannot project plan column 0 ... field data type differs".

use crate::Fixture;

/// The shape of `intermediate.int_opportunity_projects`: the nodes are a view computed in the
/// run unioned with a published table, then a recursive CTE walks them.
const CHAIN: &str = "\
WITH RECURSIVE all_nodes AS (
    SELECT id, kind, parent FROM intermediate.int_view
    UNION ALL
    SELECT e.id, e.kind, e.parent
    FROM intermediate.int_published e
    WHERE e.id NOT IN (SELECT id FROM intermediate.int_view)
),
nodes AS (
    SELECT id, max(kind) AS kind, max(parent) AS parent FROM all_nodes GROUP BY id
),
chain AS (
    SELECT id, id AS current_id, kind, parent, 0 AS depth FROM nodes
    UNION ALL
    SELECT c.id, n.id, n.kind, n.parent, c.depth + 1
    FROM chain c JOIN nodes n ON n.id = c.parent
    WHERE c.kind IN ('child') AND c.depth < 5
),
roots AS (
    SELECT id, current_id AS root_id,
           row_number() OVER (PARTITION BY id ORDER BY depth DESC) AS rn
    FROM chain
)
SELECT id, root_id FROM roots WHERE rn = 1";

fn project(f: &Fixture) {
    f.write(
        "sql/intermediate/int_view.sql",
        "SELECT id, 'root' AS kind, CAST(NULL AS VARCHAR) AS parent FROM raw.a",
    )
    .write(
        "sql/intermediate/int_published.sql",
        "SELECT concat(id, 'x') AS id, 'child' AS kind, id AS parent FROM raw.a",
    )
    .write("sql/canonical/chain.sql", CHAIN)
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
    assert_eq!(expected, vec!["1x|1", "1|1", "2x|2", "2|2"]);
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
