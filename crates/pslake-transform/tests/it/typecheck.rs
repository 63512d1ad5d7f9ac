//! Checks before any data is read (issue 8, item 2): what DataFusion's coercion accepts but a
//! model should not say, errors only the optimizer finds, contract mismatches, each with file,
//! line and column; and `validate_plans`, which plans every model against the raw tables the
//! pipelines declare, without a lake.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pslake_lake::TableName;
use pslake_transform::{Error, NoopReporter, Problem, Project};

use crate::{Fixture, opts};

const STAGING: &str = "SELECT id, amount, DATE '2026-01-31' AS month FROM raw.a";

async fn plan_problems(f: &Fixture) -> Vec<String> {
    let plan = pslake_transform::plan(&f.project(), &f.lake, &opts("p"))
        .await
        .expect("plan runs");
    plan.problems.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_date_compared_with_a_number_or_a_non_date_string_fails_the_plan_with_line_and_column() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/staging/stg_a.sql", STAGING).write(
        "sql/canonical/c.sql",
        "SELECT id, month\nFROM staging.stg_a\nWHERE month >= 1\n   OR month = 'last week'\n   OR month BETWEEN 3 AND 4\n   OR month >= '2026-01-01'",
    );
    let problems = plan_problems(&f).await;
    let text = problems.join("\n");
    assert!(
        text.contains("sql/canonical/c.sql:3:7: model canonical.c: `month >= 1` compares a date (month) with a number"),
        "{text}"
    );
    assert!(
        text.contains("sql/canonical/c.sql:4:7:")
            && text.contains("with 'last week', which is not a date"),
        "{text}"
    );
    assert!(text.contains("sql/canonical/c.sql:5:7:"), "{text}");
    assert!(
        !text.contains("2026-01-01"),
        "a date string is a date: {text}"
    );
    assert_eq!(problems.len(), 3, "{text}");
    // The build stops at the plan: nothing is written.
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("r"), &NoopReporter)
        .await
        .expect_err("plan fails");
    assert!(matches!(err, Error::Plan(_)), "{err}");
    assert_eq!(f.version("_pslake.runs").await, None, "nothing written");
}

#[tokio::test]
async fn the_plan_runs_the_optimizer_so_a_green_plan_gets_past_planning() {
    // `CAST('x' AS INT)` is a valid logical plan; constant folding in the optimizer fails it.
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write(
        "sql/canonical/c.sql",
        "SELECT id,\n       CAST('x' AS INT) AS n\nFROM raw.a",
    );
    let problems = plan_problems(&f).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("sql/canonical/c.sql")
            && problems[0].contains("Cannot cast string 'x'"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn a_contract_mismatch_names_the_line_and_column_of_the_output_column() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write(
        "sql/canonical/c.sql",
        "SELECT id,\n       CAST(amount AS VARCHAR) AS amount\nFROM raw.a",
    )
    .write(
        "models/m.yml",
        "version: 2\nmodels:\n  - name: c\n    columns:\n      - {name: id, data_type: varchar}\n      - {name: amount, data_type: bigint}\n",
    );
    let problems = plan_problems(&f).await;
    assert_eq!(
        problems,
        vec![
            "sql/canonical/c.sql:2:35: model canonical.c: contract: column amount: expected bigint, got varchar"
        ]
    );
}

fn raw_a() -> (TableName, SchemaRef) {
    (
        TableName::new("raw", "a"),
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("booked_on", DataType::Date32, true),
            Field::new(
                "_extracted_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ])),
    )
}

async fn validate(f: &Fixture) -> Vec<Problem> {
    let project = Project::load(f.root()).unwrap_or_else(|e| panic!("loads: {e}"));
    pslake_transform::validate_plans(&project, &[raw_a()]).await
}

#[tokio::test]
async fn validate_plans_every_model_against_the_declared_raw_schemas_without_a_lake() {
    let f = Fixture::new();
    f.write(
        "sql/staging/stg_a.sql",
        "SELECT id, booked_on, _extracted_at FROM raw.a",
    )
    .write(
        "sql/canonical/ok.sql",
        "SELECT s.id, s.booked_on, r.as_of, (SELECT count(*) FROM _pslake.rejects) AS rejects\nFROM staging.stg_a s CROSS JOIN pslake.run_context r\nWHERE s.booked_on <= r.as_of",
    );
    assert_eq!(validate(&f).await, Vec::new());
    assert_eq!(
        f.lake.list_tables().await.expect("list"),
        Vec::new(),
        "no lake"
    );

    f.write(
        "sql/canonical/typo.sql",
        "SELECT id,\n       bookd_on\nFROM staging.stg_a",
    )
    .write(
        "sql/canonical/number.sql",
        "SELECT id FROM staging.stg_a\nWHERE  booked_on > 2026",
    )
    .write("sql/canonical/undeclared.sql", "SELECT id FROM raw.b");
    let problems: Vec<String> = validate(&f).await.iter().map(ToString::to_string).collect();
    let text = problems.join("\n");
    assert!(
        text.contains("sql/canonical/typo.sql:2:8: model canonical.typo: Schema error: No field named bookd_on"),
        "{text}"
    );
    assert!(
        text.contains("sql/canonical/number.sql:2:8: model canonical.number: `booked_on > 2026` compares a date"),
        "{text}"
    );
    assert!(
        text.contains("sql/canonical/undeclared.sql:1: model canonical.undeclared: table raw.b is not declared by any pipeline"),
        "{text}"
    );
    assert_eq!(problems.len(), 3, "{text}");
}
