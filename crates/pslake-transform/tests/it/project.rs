//! Loading: dependencies from SQL, unknown tables, cycles, YAML errors, all with file and line.

use pslake_transform::{Materialization, Project};

use crate::Fixture;

#[test]
fn dependencies_come_from_the_sql() {
    let f = Fixture::new();
    f.write("sql/staging/stg_a.sql", "SELECT id, amount FROM raw.a")
        .write("sql/intermediate/int_b.sql", "WITH x AS (SELECT * FROM staging.stg_a)\nSELECT x.id FROM x JOIN seeds.map m ON m.k = x.id WHERE x.id IN (SELECT id FROM raw.b)")
        .write("sql/canonical/c.sql", "SELECT * FROM intermediate.int_b UNION ALL SELECT id FROM canonical.c")
        .write("models/seeds/map.csv", "k,v\n1,one\n");
    let p = f.project();
    let names = |m: &str| -> Vec<String> {
        p.models()
            .iter()
            .find(|x| x.name.to_string() == m)
            .expect("model")
            .refs
            .iter()
            .map(|r| r.table.to_string())
            .collect()
    };
    assert_eq!(
        names("intermediate.int_b"),
        vec!["staging.stg_a", "seeds.map", "raw.b"]
    );
    let c = p
        .models()
        .iter()
        .find(|x| x.name.to_string() == "canonical.c")
        .expect("model");
    assert!(
        c.reads_itself(),
        "self reference is kept and is not a cycle"
    );
    assert_eq!(
        c.inputs().map(|t| t.to_string()).collect::<Vec<_>>(),
        vec!["intermediate.int_b"]
    );
    let stg = p
        .models()
        .iter()
        .find(|x| x.name.to_string() == "staging.stg_a")
        .expect("model");
    assert_eq!(stg.materialized, Materialization::View);
    assert_eq!(c.materialized, Materialization::Table);
}

#[test]
fn unknown_tables_and_cycles_name_the_file_and_line() {
    let f = Fixture::new();
    f.write("sql/canonical/a.sql", "SELECT *\nFROM canonical.b")
        .write("sql/canonical/b.sql", "SELECT * FROM canonical.a")
        .write(
            "sql/canonical/c.sql",
            "SELECT 1 AS x\nUNION ALL\nSELECT y FROM staging.nope",
        )
        .write("sql/canonical/d.sql", "SELECT * FROM bookings");
    let err = Project::load(f.root()).expect_err("problems");
    let text = err.to_string();
    assert!(
        text.contains("sql/canonical/c.sql:3: unknown table staging.nope"),
        "{text}"
    );
    assert!(
        text.contains("dependency cycle: canonical.a -> canonical.b -> canonical.a")
            || text.contains("dependency cycle: canonical.b -> canonical.a -> canonical.b"),
        "{text}"
    );
    assert!(
        text.contains("sql/canonical/a.sql:2") || text.contains("sql/canonical/b.sql:1"),
        "{text}"
    );
    assert!(
        text.contains("sql/canonical/d.sql:1: table 'bookings' must be written schema.name"),
        "{text}"
    );
}

#[test]
fn yaml_problems_are_all_reported() {
    let f = Fixture::new();
    f.write("sql/canonical/a.sql", "SELECT 1 AS x")
        .write(
            "models/a.yml",
            "version: 2\nmodels:\n  - name: a\n    config: { materialized: tabel }\n    columns:\n      - name: x\n        data_type: blob\n        data_tests: [unique, not_nul]\n  - name: ghost\n",
        )
        .write("models/b.yml", "version: 2\nmodels:\n  - name: a\n    colour: red\n");
    let err = Project::load(f.root()).expect_err("problems");
    let text = err.to_string();
    assert!(text.contains("unknown materialized 'tabel'"), "{text}");
    assert!(text.contains("unknown data_type 'blob'"), "{text}");
    assert!(text.contains("unknown test 'not_nul'"), "{text}");
    assert!(
        text.contains("models/a.yml:9: model 'ghost' has no SQL file"),
        "{text}"
    );
    assert!(
        text.contains("models/b.yml:4") && text.contains("colour"),
        "{text}"
    );
    assert_eq!(pslake_transform::validate(f.root()).len(), err.0.len());
}

#[tokio::test]
async fn a_models_datafusion_settings_are_checked_and_apply_to_its_query_only() {
    let f = Fixture::new();
    // An unknown key and a bad value: each named with the model's file and line.
    f.write("sql/canonical/a.sql", "SELECT 1 AS MixedCase")
        .write(
            "models/a.yml",
            "version: 2\nmodels:\n  - name: a\n    config:\n      materialized: table\n      datafusion: {execution.no_such_setting: 1, execution.batch_size: lots}\n",
        );
    let text = Project::load(f.root()).expect_err("problems").to_string();
    assert!(
        text.contains("models/a.yml") && text.contains("datafusion.execution.no_such_setting"),
        "{text}"
    );
    assert!(
        text.contains("datafusion.execution.batch_size = lots"),
        "{text}"
    );

    // A setting that shows in the result: without identifier normalization the column keeps
    // its case in `a`; `b`, with no setting, reads it with the build's (quoted, so it plans).
    f.write(
        "models/a.yml",
        "version: 2\nmodels:\n  - name: a\n    config:\n      materialized: table\n      datafusion: {sql_parser.enable_ident_normalization: false}\n",
    )
    .write(
        "sql/canonical/b.sql",
        "SELECT \"MixedCase\" + 1 AS lower_case FROM canonical.a",
    );
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(f.rows("SELECT \"MixedCase\" FROM canonical.a").await, ["1"]);
    assert_eq!(f.rows("SELECT lower_case FROM canonical.b").await, ["2"]);
}
