//! Incremental (merge on unique_key) and append materializations.

use crate::Fixture;

const YML: &str =
    "version: 2\nmodels:\n  - name: inc\n    config: {materialized: incremental, unique_key: id}\n";
const LOG_YML: &str = "version: 2\nmodels:\n  - name: log\n    config: {materialized: append}\n";

#[tokio::test]
async fn incremental_merges_on_the_key_and_is_idempotent() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    f.write("sql/canonical/inc.sql", "SELECT id, amount FROM raw.a")
        .write("models/m.yml", YML);
    assert!(f.build(Some("canonical.inc")).await.is_success());
    f.raw("a", &[("2", 21), ("3", 30)]).await;
    assert!(f.build(Some("canonical.inc")).await.is_success());
    let first = f.rows("SELECT id, amount FROM canonical.inc").await;
    assert_eq!(first, vec!["1|10", "2|21", "3|30"]);
    assert!(f.build(Some("canonical.inc")).await.is_success());
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.inc").await,
        first,
        "same landed data, same table"
    );

    let mut o = crate::opts("r");
    o.full_refresh = true;
    let report =
        pslake_transform::build(&f.project(), &f.lake, &o, &pslake_transform::NoopReporter)
            .await
            .expect("build");
    assert!(report.is_success());
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.inc").await,
        vec!["2|21", "3|30"]
    );
}

#[tokio::test]
async fn append_adds_rows() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/log.sql", "SELECT id, amount FROM raw.a")
        .write("models/l.yml", LOG_YML);
    let r = f.build(Some("canonical.log")).await;
    assert!(r.is_success(), "{r}");
    let r = f.build(Some("canonical.log")).await;
    assert!(r.is_success(), "{r}");
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.log").await,
        vec!["1|10", "1|10"]
    );
}
