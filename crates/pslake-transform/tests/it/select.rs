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

/// stg (view) → mid → top; side; both reads mid and side.
fn graph() -> Fixture {
    let f = Fixture::new();
    f.write("sql/staging/stg.sql", "SELECT id FROM raw.a")
        .write("sql/intermediate/mid.sql", "SELECT id FROM staging.stg")
        .write("sql/canonical/top.sql", "SELECT id FROM intermediate.mid")
        .write("sql/canonical/side.sql", "SELECT id FROM raw.a")
        .write(
            "sql/canonical/both.sql",
            "SELECT m.id FROM intermediate.mid m JOIN canonical.side s ON s.id = m.id",
        );
    f
}

/// The models `plan` lists for a selection: (selected, unpublished parents), sorted.
async fn planned(f: &Fixture, select: &str, exclude: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut o = crate::opts("r");
    o.select = Some(select.into());
    o.exclude = exclude.map(str::to_string);
    let plan = pslake_transform::plan(&f.project(), &f.lake, &o)
        .await
        .unwrap_or_else(|e| panic!("{select}: {e}"));
    let mut sel: Vec<String> = Vec::new();
    let mut parents: Vec<String> = Vec::new();
    for s in plan.steps {
        if s.unpublished_parent {
            parents.push(s.model);
        } else {
            sel.push(s.model);
        }
    }
    sel.sort();
    parents.sort();
    (sel, parents)
}

async fn sel(f: &Fixture, select: &str) -> Vec<String> {
    planned(f, select, None).await.0
}

#[tokio::test]
async fn depths_at_globs_and_exclude() {
    let f = graph();
    f.raw("a", &[("1", 10)]).await;
    assert_eq!(
        sel(&f, "1+canonical.both").await,
        vec!["canonical.both", "canonical.side", "intermediate.mid"]
    );
    assert_eq!(
        sel(&f, "2+both").await,
        vec![
            "canonical.both",
            "canonical.side",
            "intermediate.mid",
            "staging.stg"
        ]
    );
    assert_eq!(
        sel(&f, "stg+1").await,
        vec!["intermediate.mid", "staging.stg"]
    );
    // @mid: mid, its descendants (top, both), and every ancestor of those (stg, side).
    assert_eq!(
        sel(&f, "@mid").await,
        vec![
            "canonical.both",
            "canonical.side",
            "canonical.top",
            "intermediate.mid",
            "staging.stg"
        ]
    );
    assert_eq!(
        sel(&f, "canonical.*").await,
        vec!["canonical.both", "canonical.side", "canonical.top"]
    );
    assert_eq!(sel(&f, "s*").await, vec!["canonical.side", "staging.stg"]);
    assert_eq!(
        sel(&f, "path:sql/intermediate").await,
        vec!["intermediate.mid"]
    );
    assert_eq!(
        planned(&f, "mid+", Some("canonical.top staging.*")).await.0,
        vec!["canonical.both", "intermediate.mid"]
    );
    for bad in ["source:raw.a", "state:modified+", "@+mid", "mid!"] {
        let mut o = crate::opts("r");
        o.select = Some(bad.into());
        let err = pslake_transform::plan(&f.project(), &f.lake, &o)
            .await
            .expect_err(bad);
        assert!(
            err.to_string().contains("unsupported selector"),
            "{bad}: {err}"
        );
    }
}

/// `plan --select` lists what `build --select` computes, unpublished parents included.
#[tokio::test]
async fn plan_lists_the_parents_build_computes() {
    let f = graph();
    f.raw("a", &[("1", 10)]).await;
    let (selected, parents) = planned(&f, "canonical.top", None).await;
    assert_eq!(selected, vec!["canonical.top"]);
    assert_eq!(parents, vec!["intermediate.mid", "staging.stg"]);
    let mut all = [selected, parents].concat();
    all.sort();
    assert_eq!(built(&f, "canonical.top").await, all);
    // mid is published now: top alone is computed.
    assert_eq!(
        planned(&f, "canonical.top", None).await,
        (vec!["canonical.top".to_string()], Vec::new())
    );
    assert_eq!(built(&f, "canonical.top").await, vec!["canonical.top"]);
}
