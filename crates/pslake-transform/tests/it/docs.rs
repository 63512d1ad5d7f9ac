//! Model and column descriptions from `models/*.yml` land in the Delta metadata on publish
//! (table description; field metadata `comment`), are updated when the YAML changes, and do not
//! leak into tables that read a documented one.

use std::collections::BTreeMap;

use pslake_lake::{TableDocs, TableName};

use crate::Fixture;

fn yml(description: &str, id_comment: &str, materialized: &str) -> String {
    format!(
        "version: 2\nmodels:\n  - name: t\n    description: {description}\n    config: {{materialized: {materialized}, unique_key: id}}\n    columns:\n      - name: id\n        description: {id_comment}\n      - name: amount\n"
    )
}

fn docs(description: Option<&str>, columns: &[(&str, &str)]) -> TableDocs {
    TableDocs {
        description: description.map(str::to_string),
        columns: columns
            .iter()
            .map(|(c, d)| (c.to_string(), d.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn docs_of(f: &Fixture, t: &str) -> TableDocs {
    f.lake
        .docs(&TableName::parse(t).expect("name"))
        .await
        .expect("docs")
}

#[tokio::test]
async fn descriptions_are_written_updated_and_not_inherited() {
    for materialized in ["table", "incremental", "append"] {
        let f = Fixture::new();
        f.raw("a", &[("1", 10)]).await;
        f.write("sql/canonical/t.sql", "SELECT id, amount FROM raw.a")
            .write("sql/canonical/d.sql", "SELECT id, amount FROM canonical.t")
            .write(
                "models/t.yml",
                &yml("One row per thing.", "The key.", materialized),
            );
        let report = f.build(None).await;
        assert!(report.is_success(), "{materialized}: {report}");
        assert_eq!(
            docs_of(&f, "canonical.t").await,
            docs(Some("One row per thing."), &[("id", "The key.")]),
            "{materialized}"
        );
        assert_eq!(
            f.version("canonical.t").await,
            Some(0),
            "{materialized}: a new table is documented in its one commit"
        );
        assert_eq!(
            docs_of(&f, "canonical.d").await,
            TableDocs::default(),
            "{materialized}: undocumented columns carry no inherited comment"
        );

        // Unchanged YAML and inputs: a table or incremental model is reused (no commit at all);
        // an append model appends again, in one commit (no metadata commit after it).
        let report = f.build(None).await;
        assert!(report.is_success(), "{materialized}: {report}");
        let expected = if materialized == "append" { 1 } else { 0 };
        assert_eq!(
            f.version("canonical.t").await,
            Some(expected),
            "{materialized}"
        );

        // Changed YAML: the metadata follows; the data is intact.
        f.write(
            "models/t.yml",
            &yml("Things, one per row.", "Stable id.", materialized),
        );
        let report = f.build(None).await;
        assert!(report.is_success(), "{materialized}: {report}");
        assert_eq!(
            docs_of(&f, "canonical.t").await,
            docs(Some("Things, one per row."), &[("id", "Stable id.")]),
            "{materialized}"
        );
        let expected = if materialized == "append" {
            vec!["1|10", "1|10", "1|10"]
        } else {
            vec!["1|10"]
        };
        assert_eq!(
            f.rows("SELECT id, amount FROM canonical.t").await,
            expected,
            "{materialized}"
        );

        // Removed from the YAML: removed from the table.
        f.write(
            "models/t.yml",
            &format!("version: 2\nmodels:\n  - name: t\n    config: {{materialized: {materialized}, unique_key: id}}\n"),
        );
        let report = f.build(None).await;
        assert!(report.is_success(), "{materialized}: {report}");
        assert_eq!(
            docs_of(&f, "canonical.t").await,
            TableDocs::default(),
            "{materialized}"
        );
    }
}
