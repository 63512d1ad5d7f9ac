//! dbt-style selection: name, +ancestors, descendants+, tag:, union and intersection.

use crate::Fixture;

async fn built(f: &Fixture, select: &str) -> Vec<String> {
    let report = f.build(Some(select)).await;
    assert!(report.is_success(), "{report}");
    let mut names: Vec<String> = report.models.iter().map(|m| m.model.clone()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn selection_grammar() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/staging/stg.sql", "SELECT id FROM raw.a")
        .write("sql/intermediate/mid.sql", "SELECT id FROM staging.stg")
        .write("sql/canonical/top.sql", "SELECT id FROM intermediate.mid")
        .write("sql/canonical/side.sql", "SELECT id FROM raw.a")
        .write("models/m.yml", "version: 2\nmodels:\n  - name: side\n    config: {tags: [finance]}\n  - name: top\n    config: {tags: finance}\n");
    // A selected model's unpublished parents (views) are computed with it.
    assert_eq!(
        built(&f, "mid").await,
        vec!["intermediate.mid", "staging.stg"]
    );
    assert_eq!(
        built(&f, "+canonical.top").await,
        vec!["canonical.top", "intermediate.mid", "staging.stg"]
    );
    assert_eq!(
        built(&f, "mid+").await,
        vec!["canonical.top", "intermediate.mid", "staging.stg"]
    );
    // mid is published by now, so the view under it is not needed.
    assert_eq!(
        built(&f, "tag:finance").await,
        vec!["canonical.side", "canonical.top"]
    );
    assert_eq!(
        built(&f, "side mid").await,
        vec!["canonical.side", "intermediate.mid", "staging.stg"]
    );
    assert_eq!(
        built(&f, "tag:finance,folder:canonical,side").await,
        vec!["canonical.side"]
    );
    let err = pslake_transform::build(
        &f.project(),
        &f.lake,
        &{
            let mut o = crate::opts("r");
            o.select = Some("nope".into());
            o
        },
        &pslake_transform::NoopReporter,
    )
    .await
    .expect_err("unknown");
    assert!(err.to_string().contains("'nope' matches no model"), "{err}");
}
