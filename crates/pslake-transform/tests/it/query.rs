//! `pslake query` sees what a model sees; `pslake show` previews a model without publishing it.

use crate::{Fixture, lines};

async fn project() -> Fixture {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    f.write(
        "sql/staging/stg_a.sql",
        "SELECT id, amount * 2 AS amount FROM raw.a",
    )
    .write("models/seeds/names.csv", "id,label\n1,one\n2,two\n")
    .write(
        "sql/canonical/named.sql",
        "SELECT s.id, n.label, s.amount FROM staging.stg_a s JOIN seeds.names n ON n.id = s.id",
    )
    .write(
        "sql/canonical/top.sql",
        "SELECT id, label FROM canonical.named WHERE amount > 20",
    );
    f
}

#[tokio::test]
async fn query_sees_views_seeds_run_context_and_lists_tables() {
    let f = project().await;
    let p = f.project();
    let o = crate::opts("q");
    let q = |sql: &'static str| {
        let (p, lake, o) = (&p, &f.lake, &o);
        async move {
            lines(
                &pslake_transform::query(Some(p), lake, o, sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}")),
            )
        }
    };
    assert_eq!(
        q("SELECT id, amount FROM staging.stg_a").await,
        vec!["1|20", "2|40"]
    );
    assert_eq!(q("SELECT label FROM seeds.names").await, vec!["one", "two"]);
    assert_eq!(
        q("SELECT as_of, history_start FROM pslake.run_context").await,
        vec!["2026-03-31|2026-01-01"]
    );
    // Never-built tables read as views over their unpublished parents.
    assert_eq!(q("SELECT * FROM canonical.top").await, vec!["2|two"]);
    let tables = q("SHOW TABLES").await;
    for t in [
        "datafusion|staging|stg_a|VIEW",
        "datafusion|canonical|named|VIEW",
        "datafusion|seeds|names|BASE TABLE",
        "datafusion|pslake|run_context|BASE TABLE",
    ] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    // A raw table landed without `_deleted` (before tombstones) is read through a view that adds
    // it (false), so it may list as a view.
    assert!(
        tables.iter().any(|t| t.starts_with("datafusion|raw|a|")),
        "raw.a in {tables:?}"
    );
    assert_eq!(
        q("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'VIEW' AND table_schema NOT IN ('information_schema', 'raw')")
            .await,
        vec!["canonical|named", "canonical|top", "staging|stg_a"]
    );
    // Read-only, and an empty result still has its columns.
    for sql in [
        "DROP TABLE raw.a",
        "INSERT INTO raw.a VALUES ('3', 3, false)",
    ] {
        let err = pslake_transform::query(Some(&p), &f.lake, &o, sql)
            .await
            .expect_err(sql);
        assert!(err.to_string().contains("not supported"), "{sql}: {err}");
    }
    let empty = pslake_transform::query(Some(&p), &f.lake, &o, "SELECT id FROM raw.a WHERE false")
        .await
        .expect("query");
    assert_eq!(empty[0].schema().field(0).name(), "id");
    // Published, the table is read from the lake.
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert!(
        q("SHOW TABLES")
            .await
            .contains(&"datafusion|canonical|named|BASE TABLE".to_string())
    );
    // Without a project: the lake and pslake.run_context.
    let rows = pslake_transform::query(None, &f.lake, &o, "SELECT count(*) FROM canonical.named")
        .await
        .expect("query");
    assert_eq!(lines(&rows), vec!["2"]);
}

#[tokio::test]
async fn show_computes_a_model_with_its_unpublished_parents_without_writing() {
    let f = project().await;
    let p = f.project();
    let o = crate::opts("s");
    let preview = pslake_transform::show(&p, &f.lake, &o, "top", 5)
        .await
        .expect("show");
    assert_eq!(preview.model, "canonical.top");
    assert_eq!(lines(&preview.batches), vec!["2|two"]);
    assert!(preview.problems.is_empty());
    let two = pslake_transform::show(&p, &f.lake, &o, "canonical.named", 1)
        .await
        .expect("show");
    assert_eq!(two.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(f.version("canonical.named").await, None, "nothing written");
    assert_eq!(f.version("canonical.top").await, None, "nothing written");
    assert_eq!(f.version("_pslake.runs").await, None, "nothing written");
    let err = pslake_transform::show(&p, &f.lake, &o, "nope", 5)
        .await
        .expect_err("unknown model");
    assert!(err.to_string().contains("'nope' is not a model"), "{err}");
}

/// A raw table `t` (id, amount) appended as one landing commit of `run`, tagged with the repeats
/// it counted (`pslake_lake::unique`, what the extractor writes).
async fn land(f: &Fixture, run: &str, repeats: u64, rows: &[(&str, i64)]) {
    let tag = pslake_lake::unique::LandingTag {
        run: run.into(),
        key: vec!["id".into()],
        repeats,
    };
    f.lake
        .append_with_metadata(
            &pslake_lake::TableName::new("raw", "t"),
            vec![crate::id_amount(rows)],
            pslake_lake::unique::landing_metadata(&tag),
        )
        .await
        .expect("landing commit");
}

#[tokio::test]
async fn a_raw_table_landed_once_without_a_repeated_key_is_not_deduplicated_again() {
    let f = Fixture::new();
    let o = crate::opts("q");
    let latest = "SELECT id, amount FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY amount DESC) AS rn FROM raw.t t) WHERE rn = 1";
    let q = |sql: String| {
        let (lake, o) = (&f.lake, &o);
        async move {
            lines(
                &pslake_transform::query(None, lake, o, &sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}")),
            )
            .join("\n")
        }
    };
    // Run r1 lands keys 1 and 2 in two commits, no repeat: each row is its key's latest, and
    // the plan sorts nothing (no lag window, no row number).
    land(&f, "r1", 0, &[("1", 10)]).await;
    land(&f, "r1", 0, &[("2", 20)]).await;
    assert_eq!(q(latest.into()).await, "1|10\n2|20");
    let plan = q(format!("EXPLAIN {latest}")).await;
    assert!(
        !plan.contains("lag") && !plan.contains("row_number"),
        "{plan}"
    );
    assert!(!plan.contains("SortExec"), "{plan}");
    // Run r2 lands key 1 again (amount 15): the table no longer holds one row per key, the
    // latest-row rule sorts again, and key 1 keeps one row (the greatest amount, 15).
    land(&f, "r2", 0, &[("1", 15)]).await;
    assert_eq!(q(latest.into()).await, "1|15\n2|20");
    let plan = q(format!("EXPLAIN {latest}")).await;
    assert!(plan.contains("lag"), "{plan}");
    // A landing whose own last commit counted a repeat claims nothing either.
    let g = Fixture::new();
    land(&g, "r1", 0, &[("1", 10)]).await;
    land(&g, "r1", 1, &[("1", 12)]).await;
    let rows = pslake_transform::query(None, &g.lake, &o, latest)
        .await
        .expect("query");
    assert_eq!(lines(&rows), vec!["1|12"]);
}
