//! Each kind of data test, passing and failing; severity warn vs error.

use pslake_transform::{ModelStatus, TestOutcome};

use crate::{Fixture, status_of};

async fn setup(yml: &str) -> Fixture {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20), ("3", 30)]).await;
    f.raw("parents", &[("1", 0), ("2", 0)]).await;
    f.write(
        "sql/canonical/t.sql",
        "SELECT id, amount, CASE WHEN amount > 25 THEN 'big' ELSE 'small' END AS size FROM raw.a",
    )
    .write("models/t.yml", yml);
    f
}

/// `tests` go under column `size`; `id_tests` under `id`.
fn yml(tests: &str) -> String {
    yml2("", tests)
}

fn yml2(id_tests: &str, tests: &str) -> String {
    format!(
        "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: id\n{id_tests}      - name: amount\n      - name: size\n{tests}"
    )
}

#[tokio::test]
async fn not_null_unique_accepted_values_relationships_pass() {
    let f = setup(&yml2(
        "        data_tests:\n          - not_null\n          - unique:\n              config: {severity: warn}\n",
        "        data_tests:\n          - accepted_values: {values: [big, small]}\n          - relationships: {to: raw.a, field: id, column_name: id}\n",
    ))
    .await;
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report
            .tests()
            .filter(|t| t.outcome == TestOutcome::Pass)
            .count(),
        4,
        "{report}"
    );
}

#[tokio::test]
async fn accepted_values_failure_lists_the_values() {
    let f = setup(&yml(
        "        data_tests:\n          - accepted_values: {values: [small]}\n",
    ))
    .await;
    let report = f.build(None).await;
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    assert_eq!(
        msg,
        "models/t.yml:9: model canonical.t: test accepted_values(size) failed: size = 'big'"
    );
}

#[tokio::test]
async fn relationships_failure_names_the_orphans() {
    let f = setup("version: 2\nmodels:\n  - name: t\n    columns:\n      - name: id\n        data_tests:\n          - relationships: {to: raw.parents, field: id}\n").await;
    let report = f.build(None).await;
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    assert!(
        msg.contains("relationships(id -> raw.parents.id) failed: id = '3'"),
        "{msg}"
    );
}

#[tokio::test]
async fn not_null_failure_and_custom_sql_with_system_field_value() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/staging/stg_opp.sql", "SELECT 'salesforce' AS system, 'StageName' AS field, 'Verbal Commit' AS value, CAST(NULL AS VARCHAR) AS stage FROM raw.a")
        .write(
            "models/s.yml",
            "version: 2\nmodels:\n  - name: stg_opp\n    columns:\n      - name: stage\n        data_tests: [not_null]\n    data_tests:\n      - name: accepted_values(stage)\n        sql: \"SELECT system, field, value FROM staging.stg_opp WHERE stage IS NULL\"\n",
        );
    let report = f.build(None).await;
    let ModelStatus::Failed(msg) = status_of(&report, "staging.stg_opp") else {
        panic!("{report}")
    };
    assert!(
        msg.contains("test not_null(stage) failed: salesforce.StageName = 'Verbal Commit'"),
        "{msg}"
    );
    assert!(
        msg.contains("test accepted_values(stage) failed: salesforce.StageName = 'Verbal Commit'"),
        "{msg}"
    );
}

#[tokio::test]
async fn warn_severity_reports_and_stores_but_publishes() {
    let f = setup(&yml(
        "        data_tests:\n          - accepted_values: {values: [small], severity: warn}\n    data_tests:\n      - name: no_big\n        sql: \"SELECT id FROM canonical.t WHERE amount > 100\"\n",
    ))
    .await;
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report
            .tests()
            .filter(|t| t.outcome == TestOutcome::Warn)
            .count(),
        1
    );
    assert!(f.version("canonical.t").await.is_some());
    assert_eq!(
        f.rows("SELECT rule, source FROM _pslake.warnings").await,
        vec!["test:accepted_values(size)|canonical.t"]
    );
    assert!(
        report.to_string().contains(
            "warning: models/t.yml:9: model canonical.t: test accepted_values(size) failed: size = 'big'"
        ),
        "{report}"
    );

    // `pslake test` runs the same tests against the published table.
    let tr = pslake_transform::test(
        &f.project(),
        &f.lake,
        &crate::opts("r2"),
        &pslake_transform::NoopReporter,
    )
    .await
    .expect("test");
    assert!(tr.is_success(), "{tr}");
    assert_eq!(tr.tests.len(), 2);
}

/// dbt_utils' spellings and the built-in multi-column `unique`; a failure starts with the YAML
/// file and line of the test.
#[tokio::test]
async fn dbt_utils_tests_and_multi_column_unique() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("1", 10), ("2", -5)]).await;
    f.write("sql/canonical/t.sql", "SELECT id, amount FROM raw.a")
        .write(
            "models/t.yml",
            "version: 2
models:
  - name: t
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          combination_of_columns: [id, amount]
      - unique: {columns: [id, amount], config: {severity: warn}}
      - dbt_utils.expression_is_true: {expression: \"amount <> 0\"}
    columns:
      - name: id
      - name: amount
        data_tests:
          - dbt_utils.accepted_range: {min_value: 0, inclusive: true}
          - dbt_utils.expression_is_true: {expression: '< 100'}
",
        );
    let report = f.build(None).await;
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    assert!(
        msg.contains(
            "models/t.yml:5: model canonical.t: test unique(id, amount) failed: id = '1', amount = '10' (2 rows)"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "models/t.yml:13: model canonical.t: test accepted_range(amount) failed: amount = '-5'"
        ),
        "{msg}"
    );
    let outcome = |name: &str| {
        report
            .tests()
            .find(|t| t.name == name)
            .map(|t| t.outcome)
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    assert_eq!(
        outcome("expression_is_true(amount <> 0)"),
        TestOutcome::Pass
    );
    assert_eq!(
        outcome("expression_is_true(amount < 100)"),
        TestOutcome::Pass
    );
    assert_eq!(
        report
            .tests()
            .filter(|t| t.outcome == TestOutcome::Warn)
            .count(),
        1,
        "the warn-severity unique(id, amount): {report}"
    );
}

#[test]
fn unknown_tests_are_named_as_such_at_their_line() {
    let f = Fixture::new();
    f.write("sql/canonical/t.sql", "SELECT 1 AS id")
        .write(
            "models/t.yml",
            "version: 2\nmodels:\n  - name: t\n    data_tests:\n      - dbt_utils.not_a_test:\n          combination_of_columns: [id]\n    columns:\n      - name: id\n        data_tests:\n          - not_null\n          - uniq\n",
        );
    let err = pslake_transform::Project::load(f.root()).expect_err("unknown tests");
    let text = err.to_string();
    assert!(
        text.contains("models/t.yml:5: model t: unknown test 'dbt_utils.not_a_test'"),
        "{text}"
    );
    assert!(
        text.contains("models/t.yml:11: model t: column id: unknown test 'uniq'"),
        "{text}"
    );
    assert!(!text.contains("unknown argument"), "{text}");
}

#[test]
fn jinja_in_sql_gets_a_plain_sql_hint() {
    let f = Fixture::new();
    f.write("sql/canonical/margin.sql", "SELECT 1 AS m")
        .write("sql/canonical/x.sql", "SELECT m\nFROM {{ ref('margin') }}");
    let text = pslake_transform::Project::load(f.root())
        .expect_err("jinja")
        .to_string();
    assert!(
        text.contains(
            "sql/canonical/x.sql:2: no Jinja: write canonical.margin for {{ ref('margin') }}"
        ),
        "{text}"
    );
}

#[test]
fn a_test_reading_an_unknown_table_is_reported_at_its_line() {
    let f = Fixture::new();
    f.write("sql/canonical/t.sql", "SELECT 1 AS id").write(
        "models/t.yml",
        "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: id\n        data_tests:\n          - not_null\n          - relationships: {to: canonical.nope, field: id}\n",
    );
    let text = pslake_transform::Project::load(f.root())
        .expect_err("unknown table")
        .to_string();
    assert!(
        text.contains(
            "models/t.yml:8: model canonical.t: a test reads unknown table canonical.nope"
        ),
        "{text}"
    );
}

/// A model's row-wise tests are counted together in one scan; each still gets its own outcome:
/// the passing ones pass, a failing one names its offending rows (its own query), and when one
/// test's expression cannot run, the scan falls back to one query per test, so that error names
/// its test and the others keep their outcomes.
#[tokio::test]
async fn row_wise_tests_counted_together_keep_their_own_outcomes() {
    // rows (id, amount, size): (1, 10, small), (2, 20, small), (3, 30, big)
    let tests = "        data_tests:\n          - not_null\n          - accepted_values: {values: [small]}\n          - dbt_utils.expression_is_true: {expression: \"<> 'huge'\"}\n";
    let f = setup(&yml(tests)).await;
    let report = f.build(None).await;
    let outcomes: Vec<(String, TestOutcome)> = report
        .tests()
        .map(|t| (t.name.clone(), t.outcome))
        .collect();
    assert_eq!(outcomes.len(), 3, "{report}");
    assert_eq!(outcomes[0].1, TestOutcome::Pass, "{report}");
    assert_eq!(outcomes[1].1, TestOutcome::Fail, "{report}");
    assert_eq!(outcomes[2].1, TestOutcome::Pass, "{report}");
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    // only id 3 is 'big': one offending value, from accepted_values' own query
    assert!(
        msg.ends_with("test accepted_values(size) failed: size = 'big'"),
        "{msg}"
    );

    // one expression plans but cannot run ('small' is no integer): that test errors, the others
    // are as before
    let broken = "        data_tests:\n          - not_null\n          - accepted_values: {values: [small]}\n          - dbt_utils.expression_is_true: {expression: \"IS NOT NULL AND CAST(size AS INT) > 0\"}\n";
    let f = setup(&yml(broken)).await;
    let report = f.build(None).await;
    let outcomes: Vec<TestOutcome> = report.tests().map(|t| t.outcome).collect();
    assert_eq!(
        outcomes,
        vec![TestOutcome::Pass, TestOutcome::Fail, TestOutcome::Error],
        "{report}"
    );
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    assert!(
        msg.contains(
            "test expression_is_true(size IS NOT NULL AND CAST(size AS INT) > 0) could not run"
        ),
        "{msg}"
    );
}
