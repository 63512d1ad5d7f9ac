//! Planning before running, contracts, write-audit-publish, rejects/warnings, concurrency.

use pslake_transform::{Error, ModelStatus, NoopReporter};

use crate::{Fixture, opts, status_of};

#[tokio::test]
async fn a_misspelt_column_fails_at_plan_time_before_anything_is_written() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/first.sql", "SELECT id FROM raw.a")
        .write(
            "sql/canonical/second.sql",
            "SELECT id,\n  amout\nFROM raw.a",
        );
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("r"), &NoopReporter)
        .await
        .expect_err("plan fails");
    let text = err.to_string();
    assert!(matches!(err, Error::Plan(_)), "{text}");
    assert!(text.contains("sql/canonical/second.sql:2"), "{text}");
    assert!(text.contains("amout"), "{text}");
    assert_eq!(f.version("canonical.first").await, None, "nothing written");
    assert_eq!(f.version("_pslake.runs").await, None, "nothing written");
}

#[tokio::test]
async fn missing_raw_tables_fail_the_plan_naming_the_file() {
    let f = Fixture::new();
    f.write("sql/canonical/x.sql", "SELECT id FROM raw.not_landed");
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("r"), &NoopReporter)
        .await
        .expect_err("plan fails");
    assert!(
        err.to_string()
            .contains("sql/canonical/x.sql:1: table raw.not_landed is not in the lake"),
        "{err}"
    );
    let plan = pslake_transform::plan(&f.project(), &f.lake, &opts("r"))
        .await
        .expect("plan");
    assert!(plan.is_ok(), "{plan}");
    assert!(
        plan.to_string()
            .contains("raw.not_landed not in the lake yet"),
        "{plan}"
    );
}

#[tokio::test]
async fn views_tables_seeds_and_run_context_build() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    f.write("sql/staging/stg_a.sql", "SELECT id, amount * 2 AS amount FROM raw.a")
        .write("models/seeds/names.csv", "id,label\n1,one\n2,two\n")
        .write(
            "sql/canonical/named.sql",
            "SELECT s.id, n.label, s.amount, r.as_of FROM staging.stg_a s JOIN seeds.names n ON n.id = s.id CROSS JOIN pslake.run_context r",
        );
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        f.version("staging.stg_a").await,
        None,
        "views are not written"
    );
    assert_eq!(
        f.rows("SELECT id, label, amount, as_of FROM canonical.named")
            .await,
        vec!["1|one|20|2026-03-31", "2|two|40|2026-03-31"]
    );
    // A view is planned into the models that read it, never computed on its own: no row count.
    let runs = f
        .rows("SELECT stage, status, coalesce(CAST(rows AS VARCHAR), 'none') FROM _pslake.runs")
        .await;
    assert_eq!(
        runs,
        vec![
            "build|ok|2",
            "model:canonical.named|ok|2",
            "model:staging.stg_a|ok|none"
        ]
    );
    assert!(report.to_string().contains("2 of 2 models ok"), "{report}");
}

#[tokio::test]
async fn contract_mismatches_name_model_column_expected_and_actual() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/money.sql", "SELECT id, amount FROM raw.a").write(
        "models/money.yml",
        "version: 2\nmodels:\n  - name: money\n    columns:\n      - name: id\n        data_type: varchar\n      - name: amount\n        data_type: decimal(18,2)\n",
    );
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("r"), &NoopReporter)
        .await
        .expect_err("contract");
    let text = err.to_string();
    assert!(
        text.contains(
            "model canonical.money: contract: column amount: expected decimal(18,2), got bigint"
        ),
        "{text}"
    );
    assert!(text.contains("CAST(amount AS DECIMAL(18,2))"), "{text}");

    f.write("sql/canonical/money.sql", "SELECT amount, id FROM raw.a");
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("r"), &NoopReporter)
        .await
        .expect_err("contract");
    assert!(err.to_string().contains("the order differs"), "{err}");

    f.write(
        "sql/canonical/money.sql",
        "SELECT id, CAST(amount AS DECIMAL(18,2)) AS amount FROM raw.a",
    );
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.money").await,
        vec!["1|10.00"]
    );
}

#[tokio::test]
async fn not_null_constraint_is_checked_on_the_data() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/t.sql", "SELECT id, CASE WHEN amount > 5 THEN NULL ELSE id END AS maybe FROM raw.a").write(
        "models/t.yml",
        "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: id\n      - name: maybe\n        constraints: [{type: not_null}]\n",
    );
    let report = f.build(None).await;
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.t") else {
        panic!("{report}")
    };
    assert!(
        msg.contains("column maybe: 1 NULL value(s) break the not_null constraint"),
        "{msg}"
    );
    assert_eq!(f.version("canonical.t").await, None);
}

#[tokio::test]
async fn a_failing_error_test_keeps_every_previous_version_and_skips_downstream() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", 20)]).await;
    f.write("sql/canonical/parent.sql", "SELECT id, amount FROM raw.a")
        .write("sql/canonical/child.sql", "SELECT id FROM canonical.parent")
        .write("sql/canonical/grandchild.sql", "SELECT id FROM canonical.child")
        .write("sql/canonical/other.sql", "SELECT count(*) AS n FROM raw.a")
        .write("models/m.yml", "version: 2\nmodels:\n  - name: parent\n    columns:\n      - name: id\n        data_tests: [unique]\n      - name: amount\n");
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    let v = f.version("canonical.parent").await.expect("published");
    let child_v = f.version("canonical.child").await.expect("published");
    let other_v = f.version("canonical.other").await.expect("published");

    f.raw("a", &[("1", 10), ("1", 11), ("2", 20)]).await;
    let report = pslake_transform::build(&f.project(), &f.lake, &opts("run-2"), &NoopReporter)
        .await
        .expect("build");
    assert!(!report.is_success());
    let ModelStatus::Failed(msg) = status_of(&report, "canonical.parent") else {
        panic!("{report}")
    };
    assert!(
        msg.contains("model canonical.parent: test unique(id) failed: id = '1' (2 rows)"),
        "{msg}"
    );
    assert_eq!(
        status_of(&report, "canonical.child"),
        &ModelStatus::Skipped("upstream canonical.parent failed".into())
    );
    assert_eq!(
        status_of(&report, "canonical.grandchild"),
        &ModelStatus::Skipped("upstream canonical.child was skipped".into())
    );
    assert_eq!(
        status_of(&report, "canonical.other"),
        &ModelStatus::Ok,
        "independent models still run"
    );
    assert_eq!(
        f.version("canonical.parent").await,
        Some(v),
        "previous version kept"
    );
    assert_eq!(f.version("canonical.child").await, Some(child_v));
    // Publishing is all or nothing: the independent model computed fine but the failed build
    // commits nothing, so every table stays at its previous version.
    assert_eq!(f.version("canonical.other").await, Some(other_v));
    assert!(!report.published && report.to_string().contains("nothing published"));
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.parent").await,
        vec!["1|10", "2|20"]
    );
    let runs = f
        .rows("SELECT stage, status FROM _pslake.runs WHERE _run_id = 'run-2'")
        .await;
    assert!(
        runs.contains(&"model:canonical.parent|failed".to_string()),
        "{runs:?}"
    );
    assert!(
        runs.contains(&"model:canonical.child|skipped".to_string()),
        "{runs:?}"
    );
}

#[tokio::test]
async fn rejects_and_warnings_models_append_to_the_operational_tables() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10), ("2", -5)]).await;
    f.write(
        "sql/quality/q_rejects.sql",
        "SELECT 'src' AS system, 'a' AS stream, id AS key, 'negative_amount' AS rule, 'amount' AS field, CAST(amount AS VARCHAR) AS value, 'amount below zero' AS message, CAST(NULL AS VARCHAR) AS _raw FROM raw.a WHERE amount < 0",
    )
    .write("sql/quality/q_warnings.sql", "SELECT 'big' AS rule, 'raw.a' AS source, id AS key, 'large amount' AS message FROM raw.a WHERE amount > 5")
    .write("sql/canonical/clean.sql", "SELECT a.id FROM raw.a a WHERE a.id NOT IN (SELECT key FROM quality.q_rejects)")
    .write("models/q.yml", "version: 2\nmodels:\n  - name: q_rejects\n    config: {materialized: rejects}\n  - name: q_warnings\n    config: {materialized: warnings}\n");
    let report = f.build(None).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.rejects, 1);
    assert_eq!(
        f.rows("SELECT _run_id, system, stream, key, rule, value FROM _pslake.rejects")
            .await,
        vec!["run-1|src|a|2|negative_amount|-5"]
    );
    assert_eq!(
        f.rows("SELECT rule, source, key FROM _pslake.warnings")
            .await,
        vec!["big|raw.a|1"]
    );
    assert_eq!(f.rows("SELECT id FROM canonical.clean").await, vec!["1"]);
    // Each also has its own table: the current rejects (warnings) of that rule.
    assert_eq!(
        f.rows("SELECT key, rule FROM quality.q_rejects").await,
        vec!["2|negative_amount"]
    );
    assert_eq!(
        f.rows("SELECT key, rule FROM quality.q_warnings").await,
        vec!["1|big"]
    );
}

/// Counts models in flight.
#[derive(Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

impl pslake_transform::Reporter for InFlight {
    fn on_model_start(&self, _model: &str) {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
    }
    fn on_model_done(
        &self,
        _model: &str,
        _rows: u64,
        elapsed: std::time::Duration,
        _status: &ModelStatus,
    ) {
        if !elapsed.is_zero() {
            self.now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn independent_models_all_build_concurrently() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    for i in 0..8 {
        f.write(
            &format!("sql/canonical/m{i}.sql"),
            &format!("SELECT id, amount + {i} AS amount FROM raw.a"),
        );
    }
    f.write(
        "sql/canonical/total.sql",
        &(0..8)
            .map(|i| format!("SELECT amount FROM canonical.m{i}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
    );
    let mut o = opts("r");
    o.concurrency = 4;
    let inflight = InFlight::default();
    let report = pslake_transform::build(&f.project(), &f.lake, &o, &inflight)
        .await
        .expect("build");
    assert!(report.is_success(), "{report}");
    let max = inflight.max.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=4).contains(&max),
        "at most 4 and more than one at once, got {max}"
    );
    assert_eq!(
        report.models.last().map(|m| m.model.as_str()),
        Some("canonical.total")
    );
    assert_eq!(
        f.rows("SELECT sum(amount) FROM canonical.total").await,
        vec!["108"]
    );
}

/// The order models start in.
#[derive(Default)]
struct Starts(std::sync::Mutex<Vec<String>>);

impl pslake_transform::Reporter for Starts {
    fn on_model_start(&self, model: &str) {
        self.0.lock().unwrap().push(model.to_string());
    }
}

#[tokio::test]
async fn with_one_slot_the_model_holding_up_a_chain_starts_before_a_leaf() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    // `a_leaf` and `b_root` are both ready at the start; by name `a_leaf` would go first, but
    // `c_mid` and `d_top` wait for `b_root`, and nothing waits for `a_leaf`.
    f.write("sql/canonical/a_leaf.sql", "SELECT id, amount FROM raw.a")
        .write("sql/canonical/b_root.sql", "SELECT id, amount FROM raw.a")
        .write(
            "sql/canonical/c_mid.sql",
            "SELECT id, amount + 1 AS amount FROM canonical.b_root",
        )
        .write(
            "sql/canonical/d_top.sql",
            "SELECT id, amount + 1 AS amount FROM canonical.c_mid",
        );
    let mut o = opts("r");
    o.concurrency = 1;
    let starts = Starts::default();
    let report = pslake_transform::build(&f.project(), &f.lake, &o, &starts)
        .await
        .expect("build");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        starts.0.lock().unwrap().as_slice(),
        [
            "canonical.b_root",
            "canonical.c_mid",
            "canonical.a_leaf",
            "canonical.d_top"
        ]
    );
    assert_eq!(
        f.rows("SELECT amount FROM canonical.d_top").await,
        vec!["12"]
    );
}

#[tokio::test]
async fn a_model_reading_itself_sees_its_previous_version() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/events.sql", "SELECT id, amount FROM canonical.events UNION ALL SELECT id, amount FROM raw.a WHERE id NOT IN (SELECT id FROM canonical.events)")
        .write("models/e.yml", "version: 2\nmodels:\n  - name: events\n    columns:\n      - {name: id, data_type: varchar}\n      - {name: amount, data_type: bigint}\n");
    assert!(f.build(None).await.is_success());
    f.raw("a", &[("1", 99), ("2", 20)]).await;
    assert!(f.build(None).await.is_success());
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.events").await,
        vec!["1|10", "2|20"]
    );
}

#[tokio::test]
async fn plan_shows_order_and_schema_changes_without_writing() {
    let f = Fixture::new();
    f.raw("a", &[("1", 10)]).await;
    f.write("sql/canonical/t.sql", "SELECT id, amount FROM raw.a");
    assert!(f.build(None).await.is_success());
    let v = f.version("canonical.t").await;
    f.write(
        "sql/canonical/t.sql",
        "SELECT id, CAST(amount AS DOUBLE) AS amount, 'x' AS extra FROM raw.a",
    )
    .write("sql/canonical/u.sql", "SELECT id FROM canonical.t");
    let plan = pslake_transform::plan(&f.project(), &f.lake, &opts("p"))
        .await
        .expect("plan");
    let text = plan.to_string();
    assert!(plan.is_ok(), "{text}");
    assert!(
        text.contains("1. canonical.t") && text.contains("2. canonical.u"),
        "{text}"
    );
    assert!(
        text.contains("schema change: +extra Utf8, ~amount Int64 -> Float64"),
        "{text}"
    );
    assert!(text.contains("new table"), "{text}");
    assert_eq!(f.version("canonical.t").await, v, "plan writes nothing");
    assert_eq!(f.version("canonical.u").await, None);
}
