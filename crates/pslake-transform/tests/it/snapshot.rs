//! `materialized: snapshot`: versions open and close over several builds (check and timestamp
//! strategies, hard deletes, keys that come back), a build with no change commits nothing,
//! `--full-refresh` keeps the history, a duplicate key fails the model and leaves the published
//! history as it was, and the YAML rules are checked at load time.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use pslake_lake::TableName;
use pslake_transform::{BuildOptions, BuildReport, ModelStatus, NoopReporter};

use crate::{Fixture, config_problems};

/// One source row: `id`, `status` (NULL for `None`), `updated_on` (`YYYY-MM-DD`).
type Row<'a> = (&'a str, Option<&'a str>, &'a str);

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

/// Lands `raw.src(id, status, updated_on)` with exactly `rows` (a new Delta version).
async fn land(f: &Fixture, rows: &[Row<'_>]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("updated_on", DataType::Date32, true),
    ]));
    let epoch = date("1970-01-01");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            rows.iter()
                .map(|r| (date(r.2) - epoch).num_days() as i32)
                .collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema, columns).expect("batch");
    f.lake
        .overwrite(&TableName::new("raw", "src"), vec![batch])
        .await
        .expect("raw.src");
}

fn project(f: &Fixture, config: &str) {
    f.write(
        "sql/history/snap.sql",
        "SELECT id, status, updated_on FROM raw.src",
    )
    .write(
        "models/m.yml",
        &format!("version: 2\nmodels:\n  - name: snap\n    config: {{materialized: snapshot, {config}}}\n"),
    );
}

async fn build_as_of(f: &Fixture, run: &str, as_of: &str, full_refresh: bool) -> BuildReport {
    let mut opts = BuildOptions::new(run, date(as_of), date("2026-01-01"));
    opts.full_refresh = full_refresh;
    pslake_transform::build(&f.project(), &f.lake, &opts, &NoopReporter)
        .await
        .expect("build runs")
}

async fn ok(f: &Fixture, run: &str, as_of: &str) -> BuildReport {
    let report = build_as_of(f, run, as_of, false).await;
    assert!(report.is_success(), "{run}: {report}");
    report
}

/// The snapshot's rows, `id|status|updated_on|valid_from|valid_to|is_current`, sorted.
async fn history(f: &Fixture) -> Vec<String> {
    f.rows("SELECT id, status, updated_on, valid_from, valid_to, is_current FROM history.snap")
        .await
}

fn result(report: &BuildReport) -> &pslake_transform::ModelResult {
    report
        .models
        .iter()
        .find(|m| m.model == "history.snap")
        .unwrap_or_else(|| panic!("history.snap in {report}"))
}

#[tokio::test]
async fn check_strategy_versions_open_and_close_over_four_builds() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");

    // 1. three keys, one with a NULL status: each opens at the snapshot time.
    land(
        &f,
        &[
            ("A", Some("open"), "2026-01-05"),
            ("B", Some("open"), "2026-01-06"),
            ("C", None, "2026-01-07"),
        ],
    )
    .await;
    let r = ok(&f, "r1", "2026-01-31").await;
    assert_eq!(result(&r).rows, 3, "three versions opened");
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z||true",
            "B|open|2026-01-06|2026-01-31T00:00:00Z||true",
            "C||2026-01-07|2026-01-31T00:00:00Z||true",
        ]
    );

    // 2. A's status changes; B only changes a column that is not checked (no version: it keeps
    //    its values); C stays NULL (two NULLs are not a change); D is new.
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-10"),
            ("B", Some("open"), "2026-02-11"),
            ("C", None, "2026-01-07"),
            ("D", Some("open"), "2026-02-12"),
        ],
    )
    .await;
    let r = ok(&f, "r2", "2026-02-28").await;
    assert_eq!(result(&r).rows, 3, "A closed and reopened, D opened");
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "A|won|2026-02-10|2026-02-28T00:00:00Z||true",
            "B|open|2026-01-06|2026-01-31T00:00:00Z||true",
            "C||2026-01-07|2026-01-31T00:00:00Z||true",
            "D|open|2026-02-12|2026-02-28T00:00:00Z||true",
        ]
    );
    let closed_after_2 = closed_files(&f).await;
    assert_eq!(closed_after_2.len(), 1, "one file of closed versions");

    // 3. with --full-refresh (which keeps the history): B is gone (closed at the snapshot
    //    time), C's NULL becomes a value (a change), A and D are unchanged.
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-10"),
            ("C", Some("lost"), "2026-03-02"),
            ("D", Some("open"), "2026-02-12"),
        ],
    )
    .await;
    let r = build_as_of(&f, "r3", "2026-03-31", true).await;
    assert!(r.is_success(), "{r}");
    assert_eq!(result(&r).rows, 3, "B closed, C closed and reopened");
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "A|won|2026-02-10|2026-02-28T00:00:00Z||true",
            "B|open|2026-01-06|2026-01-31T00:00:00Z|2026-03-31T00:00:00Z|false",
            "C|lost|2026-03-02|2026-03-31T00:00:00Z||true",
            "C||2026-01-07|2026-01-31T00:00:00Z|2026-03-31T00:00:00Z|false",
            "D|open|2026-02-12|2026-02-28T00:00:00Z||true",
        ]
    );
    let closed_after_3 = closed_files(&f).await;
    assert!(
        closed_after_2.iter().all(|p| closed_after_3.contains(p)),
        "closed history is added to, never rewritten: {closed_after_2:?} in {closed_after_3:?}"
    );

    // 4. B comes back (a new version; its old one stays closed), C's value becomes NULL.
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-10"),
            ("B", Some("open"), "2026-04-01"),
            ("C", None, "2026-04-02"),
            ("D", Some("open"), "2026-02-12"),
        ],
    )
    .await;
    ok(&f, "r4", "2026-04-30").await;
    let expected = [
        "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
        "A|won|2026-02-10|2026-02-28T00:00:00Z||true",
        "B|open|2026-01-06|2026-01-31T00:00:00Z|2026-03-31T00:00:00Z|false",
        "B|open|2026-04-01|2026-04-30T00:00:00Z||true",
        "C|lost|2026-03-02|2026-03-31T00:00:00Z|2026-04-30T00:00:00Z|false",
        "C||2026-01-07|2026-01-31T00:00:00Z|2026-03-31T00:00:00Z|false",
        "C||2026-04-02|2026-04-30T00:00:00Z||true",
        "D|open|2026-02-12|2026-02-28T00:00:00Z||true",
    ];
    assert_eq!(history(&f).await, expected);
    // Point in time: what was current on 2026-03-15.
    assert_eq!(
        f.rows(
            "SELECT id, status FROM history.snap WHERE valid_from <= TIMESTAMP '2026-03-15T00:00:00Z' \
             AND (valid_to IS NULL OR TIMESTAMP '2026-03-15T00:00:00Z' < valid_to)"
        )
        .await,
        ["A|won", "B|open", "C|", "D|open"]
    );
    // The published types: timestamps in UTC, a boolean.
    let schema = f
        .lake
        .arrow_schema(&TableName::new("history", "snap"))
        .await
        .expect("schema")
        .expect("published");
    let types: Vec<String> = schema
        .fields()
        .iter()
        .skip(3)
        .map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(
        types,
        [
            "valid_from Timestamp(µs, \"UTC\") false",
            "valid_to Timestamp(µs, \"UTC\") true",
            "is_current Boolean false",
        ]
    );

    // 5. the same build again: reused (its input did not change), no commit.
    let version = f.version("history.snap").await;
    let r = ok(&f, "r5", "2026-04-30").await;
    assert!(result(&r).reused, "unchanged input, nothing to do: {r}");
    assert_eq!(f.version("history.snap").await, version);

    // 6. the same rows landed again (a new raw version, so the model runs), a later as_of, and
    //    --full-refresh: nothing opens or closes, so nothing is committed and the history stays.
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-10"),
            ("B", Some("open"), "2026-04-01"),
            ("C", None, "2026-04-02"),
            ("D", Some("open"), "2026-02-12"),
        ],
    )
    .await;
    let r = build_as_of(&f, "r6", "2026-05-31", true).await;
    assert!(r.is_success(), "{r}");
    assert!(!result(&r).reused, "the input changed: the model ran");
    assert_eq!(result(&r).rows, 0, "no version opened or closed");
    assert_eq!(result(&r).version, None, "nothing published");
    assert_eq!(f.version("history.snap").await, version, "no commit");
    assert_eq!(history(&f).await, expected);

    // 7. a build with an earlier as_of than the last change fails, and publishes nothing.
    land(&f, &[("A", Some("lost"), "2026-02-10")]).await;
    let r = build_as_of(&f, "r7", "2026-04-15", false).await;
    let ModelStatus::Failed(msg) = &result(&r).status else {
        panic!("an as_of before the last change fails: {r}");
    };
    assert!(
        msg.contains("before 2026-04-30T00:00:00+00:00, the time of the snapshot's last change"),
        "{msg}"
    );
    assert_eq!(history(&f).await, expected);
}

/// The paths of the closed-version files of `history.snap`.
async fn closed_files(f: &Fixture) -> Vec<String> {
    let files = f
        .lake
        .table_files(&TableName::new("history", "snap"))
        .await
        .expect("files");
    let paths: Vec<String> = files.into_iter().map(|t| t.remove.path).collect();
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("pslake_snapshot-current/")
                || p.starts_with("pslake_snapshot-closed/")),
        "every file in one of the two folders: {paths:?}"
    );
    paths
        .into_iter()
        .filter(|p| p.starts_with("pslake_snapshot-closed/"))
        .collect()
}

#[tokio::test]
async fn timestamp_strategy_versions_start_at_updated_at() {
    let f = Fixture::new();
    project(
        &f,
        "unique_key: [id], strategy: timestamp, updated_at: updated_on",
    );

    land(
        &f,
        &[
            ("A", Some("open"), "2026-01-10"),
            ("B", Some("open"), "2026-01-15"),
            ("C", Some("open"), "2026-01-20"),
        ],
    )
    .await;
    ok(&f, "r1", "2026-01-31").await;
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-10|2026-01-10T00:00:00Z||true",
            "B|open|2026-01-15|2026-01-15T00:00:00Z||true",
            "C|open|2026-01-20|2026-01-20T00:00:00Z||true",
        ]
    );

    // 2. A changes with a later updated_on (closed then, reopened then); B changes without
    //    moving updated_on (not a new version); C is gone (closed at the snapshot time); D is new.
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-05"),
            ("B", Some("paused"), "2026-01-15"),
            ("D", Some("open"), "2026-02-20"),
        ],
    )
    .await;
    ok(&f, "r2", "2026-02-28").await;
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-10|2026-01-10T00:00:00Z|2026-02-05T00:00:00Z|false",
            "A|won|2026-02-05|2026-02-05T00:00:00Z||true",
            "B|open|2026-01-15|2026-01-15T00:00:00Z||true",
            "C|open|2026-01-20|2026-01-20T00:00:00Z|2026-02-28T00:00:00Z|false",
            "D|open|2026-02-20|2026-02-20T00:00:00Z||true",
        ]
    );

    // 3. C comes back unchanged (its updated_on is before its version ended: it opens at the
    //    snapshot time, not over its closed version); B moves updated_on; A's updated_on goes
    //    back (not later: no version); D is gone.
    land(
        &f,
        &[
            ("A", Some("lost"), "2026-02-01"),
            ("B", Some("paused"), "2026-03-10"),
            ("C", Some("open"), "2026-01-20"),
        ],
    )
    .await;
    ok(&f, "r3", "2026-03-31").await;

    // 4. D comes back changed, with an updated_on after its version ended: it opens then.
    land(
        &f,
        &[
            ("A", Some("lost"), "2026-02-01"),
            ("B", Some("paused"), "2026-03-10"),
            ("C", Some("open"), "2026-01-20"),
            ("D", Some("won"), "2026-04-15"),
        ],
    )
    .await;
    let r = ok(&f, "r4", "2026-04-30").await;
    assert_eq!(result(&r).rows, 1, "D opened");
    let expected = [
        "A|open|2026-01-10|2026-01-10T00:00:00Z|2026-02-05T00:00:00Z|false",
        "A|won|2026-02-05|2026-02-05T00:00:00Z||true",
        "B|open|2026-01-15|2026-01-15T00:00:00Z|2026-03-10T00:00:00Z|false",
        "B|paused|2026-03-10|2026-03-10T00:00:00Z||true",
        "C|open|2026-01-20|2026-01-20T00:00:00Z|2026-02-28T00:00:00Z|false",
        "C|open|2026-01-20|2026-03-31T00:00:00Z||true",
        "D|open|2026-02-20|2026-02-20T00:00:00Z|2026-03-31T00:00:00Z|false",
        "D|won|2026-04-15|2026-04-15T00:00:00Z||true",
    ];
    assert_eq!(history(&f).await, expected);

    // The same rows again, from a new landing: nothing to add, no commit.
    let version = f.version("history.snap").await;
    land(
        &f,
        &[
            ("A", Some("lost"), "2026-02-01"),
            ("B", Some("paused"), "2026-03-10"),
            ("C", Some("open"), "2026-01-20"),
            ("D", Some("won"), "2026-04-15"),
        ],
    )
    .await;
    let r = ok(&f, "r5", "2026-04-30").await;
    assert_eq!(result(&r).rows, 0);
    assert_eq!(f.version("history.snap").await, version, "no commit");
    assert_eq!(history(&f).await, expected);
}

#[tokio::test]
async fn hard_deletes_ignored_keep_the_version_current() {
    let f = Fixture::new();
    project(
        &f,
        "unique_key: id, strategy: check, check_cols: all, hard_deletes: ignore",
    );
    land(
        &f,
        &[
            ("A", Some("open"), "2026-01-05"),
            ("B", Some("open"), "2026-01-06"),
        ],
    )
    .await;
    ok(&f, "r1", "2026-01-31").await;
    // B is gone (kept current); A's updated_on changes (check_cols: all compares it).
    land(&f, &[("A", Some("open"), "2026-02-01")]).await;
    ok(&f, "r2", "2026-02-28").await;
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "A|open|2026-02-01|2026-02-28T00:00:00Z||true",
            "B|open|2026-01-06|2026-01-31T00:00:00Z||true",
        ]
    );
}

#[tokio::test]
async fn a_duplicate_key_fails_the_model_and_the_history_stays() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");
    land(&f, &[("A", Some("open"), "2026-01-05")]).await;
    ok(&f, "r1", "2026-01-31").await;
    let version = f.version("history.snap").await;
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-01"),
            ("A", Some("lost"), "2026-02-02"),
            ("B", Some("open"), "2026-02-03"),
        ],
    )
    .await;
    let r = build_as_of(&f, "r2", "2026-02-28", false).await;
    assert!(!r.is_success());
    let ModelStatus::Failed(msg) = &result(&r).status else {
        panic!("a duplicate key fails the model: {r}");
    };
    assert!(
        msg.starts_with(
            "model history.snap (sql/history/snap.sql): snapshot: duplicate unique_key (id) in the model's output: id = 'A' (2 rows)"
        ),
        "{msg}"
    );
    assert_eq!(f.version("history.snap").await, version);
    assert_eq!(
        history(&f).await,
        ["A|open|2026-01-05|2026-01-31T00:00:00Z||true"]
    );
}

#[tokio::test]
async fn a_failing_test_on_the_new_history_publishes_nothing() {
    let f = Fixture::new();
    f.write(
        "sql/history/snap.sql",
        "SELECT id, status, updated_on FROM raw.src",
    )
    .write(
        "models/m.yml",
        "version: 2
models:
  - name: snap
    config: {materialized: snapshot, unique_key: id, strategy: check, check_cols: [status]}
    data_tests:
      - unique: {columns: [id, valid_from]}
      - dbt_utils.expression_is_true: {expression: \"NOT (is_current AND status = 'broken')\"}
    columns:
      - name: id
        data_type: varchar
      - name: status
        data_type: varchar
      - name: updated_on
        data_type: date
      - name: valid_from
        data_type: timestamp
        description: When the version became current.
      - name: valid_to
        data_type: timestamp
      - name: is_current
        data_type: boolean
        data_tests: [not_null]
",
    );
    land(&f, &[("A", Some("open"), "2026-01-05")]).await;
    ok(&f, "r1", "2026-01-31").await;
    let version = f.version("history.snap").await;
    land(&f, &[("A", Some("broken"), "2026-02-05")]).await;
    let r = build_as_of(&f, "r2", "2026-02-28", false).await;
    let ModelStatus::Failed(msg) = &result(&r).status else {
        panic!("the test fails on the new history: {r}");
    };
    assert!(msg.contains("expression_is_true"), "{msg}");
    assert_eq!(
        f.version("history.snap").await,
        version,
        "nothing published"
    );
    assert_eq!(
        history(&f).await,
        ["A|open|2026-01-05|2026-01-31T00:00:00Z||true"]
    );
    // Fixed at the source: the next build opens the version.
    land(&f, &[("A", Some("won"), "2026-02-05")]).await;
    ok(&f, "r3", "2026-02-28").await;
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "A|won|2026-02-05|2026-02-28T00:00:00Z||true",
        ]
    );
}

#[tokio::test]
async fn models_downstream_read_the_history() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");
    f.write(
        "sql/canonical/changes.sql",
        "SELECT id, count(*) AS versions, max(CASE WHEN is_current THEN status END) AS status \
         FROM history.snap GROUP BY id",
    );
    land(&f, &[("A", Some("open"), "2026-01-05")]).await;
    ok(&f, "r1", "2026-01-31").await;
    land(&f, &[("A", Some("won"), "2026-02-05")]).await;
    ok(&f, "r2", "2026-02-28").await;
    assert_eq!(f.rows("SELECT * FROM canonical.changes").await, ["A|2|won"]);
}

#[test]
fn bad_snapshot_settings_are_load_errors() {
    let cases = [
        (
            "{materialized: snapshot, strategy: check, check_cols: all}",
            "model snap: materialized: snapshot needs a unique_key",
        ),
        (
            "{materialized: snapshot, unique_key: id}",
            "model snap: materialized: snapshot needs a strategy: check (with check_cols) or timestamp (with updated_at)",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: hourly}",
            "model snap: unknown snapshot strategy 'hourly' (expected check or timestamp)",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: check}",
            "model snap: strategy: check needs check_cols: a list of columns, or all",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: timestamp}",
            "model snap: strategy: timestamp needs updated_at",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: timestamp, updated_at: updated_on, check_cols: all}",
            "model snap: check_cols is a setting of strategy: check",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: check, check_cols: all, hard_deletes: new_record}",
            "model snap: hard_deletes: new_record is not supported",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: check, check_cols: all, invalidate_hard_deletes: true, hard_deletes: ignore}",
            "model snap: invalidate_hard_deletes: true and hard_deletes: ignore disagree",
        ),
        (
            "{materialized: table, strategy: check, check_cols: all}",
            "model snap: strategy is a snapshot setting: it needs materialized: snapshot",
        ),
        (
            "{materialized: incremental, unique_key: id, updated_at: updated_on}",
            "model snap: updated_at is a snapshot setting: it needs materialized: snapshot",
        ),
        (
            "{materialized: snapshot, unique_key: id, strategy: check, check_cols: all, partition_by: {field: updated_on}}",
            "model snap: partition_by needs materialized: table or incremental",
        ),
    ];
    for (config, expected) in cases {
        let text = config_problems(
            "sql/history/snap.sql",
            "SELECT id FROM raw.src",
            "snap",
            config,
        );
        assert!(
            text.iter().any(|p| p.contains(expected)),
            "{config}: expected {expected:?} in {text:#?}"
        );
    }
    // The added columns listed out of place in the contract.
    let f = Fixture::new();
    f.write("sql/history/snap.sql", "SELECT id FROM raw.src").write(
        "models/m.yml",
        "version: 2\nmodels:\n  - name: snap\n    config: {materialized: snapshot, unique_key: id, strategy: check, check_cols: all}\n    columns:\n      - name: valid_from\n      - name: id\n",
    );
    let text: Vec<String> = pslake_transform::validate(f.root())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        text.iter().any(|p| p.contains(
            "contract: a snapshot's columns valid_from, valid_to, is_current are listed last"
        )),
        "{text:#?}"
    );
}

#[tokio::test]
async fn columns_the_snapshot_needs_are_checked_when_it_plans() {
    let f = Fixture::new();
    land(&f, &[("A", Some("open"), "2026-01-05")]).await;
    f.write(
        "sql/history/snap.sql",
        "SELECT id, status, CAST(updated_on AS VARCHAR) AS updated_on, true AS is_current FROM raw.src",
    )
    .write(
        "models/m.yml",
        "version: 2\nmodels:\n  - name: snap\n    config: {materialized: snapshot, unique_key: [id, region], strategy: timestamp, updated_at: updated_on}\n",
    );
    let opts = BuildOptions::new("r1", date("2026-01-31"), date("2026-01-01"));
    let err = pslake_transform::build(&f.project(), &f.lake, &opts, &NoopReporter)
        .await
        .expect_err("does not plan");
    let text = err.to_string();
    for expected in [
        "model history.snap: snapshot: the model returns a column is_current, which the snapshot adds itself",
        "model history.snap: snapshot: unique_key region is not a column of the model's output",
        "model history.snap: snapshot: updated_at updated_on is Utf8, not a DATE or TIMESTAMP",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
}

#[tokio::test]
async fn small_closed_files_are_folded_into_one() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");
    let day = |n: u32| format!("2026-01-{n:02}");
    // 18 builds, A's status toggling: each build after the first closes one version.
    for n in 1..=18u32 {
        let status = if n % 2 == 1 { "open" } else { "closed" };
        land(&f, &[("A", Some(status), "2026-01-01")]).await;
        ok(&f, &format!("r{n}"), &day(n)).await;
        let closed = closed_files(&f).await.len();
        // Each change adds a file; the change that finds 16 small ones folds them into one
        // (beside its own).
        let expected = match n - 1 {
            0..=16 => (n - 1) as usize,
            _ => 2,
        };
        assert_eq!(closed, expected, "after build {n}");
    }
    let rows = history(&f).await;
    assert_eq!(rows.len(), 18, "{rows:#?}");
    assert_eq!(
        f.rows(
            "SELECT count(*), min(valid_from), max(valid_to) FROM history.snap WHERE NOT is_current"
        )
        .await,
        ["17|2026-01-01T00:00:00Z|2026-01-18T00:00:00Z"]
    );
    assert_eq!(
        f.rows("SELECT status, valid_from FROM history.snap WHERE is_current")
            .await,
        ["closed|2026-01-18T00:00:00Z"]
    );
}

#[tokio::test]
async fn a_history_table_written_otherwise_is_taken_over() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");
    // history.snap written by another tool: the snapshot's columns, files at the table root.
    f.write(
        "sql/seed_history/old.sql",
        "SELECT id, status, updated_on, \
         CAST(valid_from AS TIMESTAMP) AT TIME ZONE 'UTC' AS valid_from, \
         CAST(valid_to AS TIMESTAMP) AT TIME ZONE 'UTC' AS valid_to, is_current FROM (VALUES \
         ('A', 'new', DATE '2025-12-01', '2025-12-01T00:00:00', '2026-01-01T00:00:00', false), \
         ('A', 'open', DATE '2026-01-01', '2026-01-01T00:00:00', NULL, true)) \
         AS t(id, status, updated_on, valid_from, valid_to, is_current)",
    );
    let report = f.build(Some("seed_history.old")).await;
    assert!(report.is_success(), "{report}");
    let old = f
        .lake
        .query("SELECT * FROM seed_history.old")
        .await
        .expect("rows");
    f.lake
        .overwrite(&TableName::new("history", "snap"), old)
        .await
        .expect("a history written otherwise");
    std::fs::remove_file(f.root().join("sql/seed_history/old.sql")).expect("rm");

    land(&f, &[("A", Some("won"), "2026-02-01")]).await;
    ok(&f, "r1", "2026-02-28").await;
    assert_eq!(
        history(&f).await,
        [
            "A|new|2025-12-01|2025-12-01T00:00:00Z|2026-01-01T00:00:00Z|false",
            "A|open|2026-01-01|2026-01-01T00:00:00Z|2026-02-28T00:00:00Z|false",
            "A|won|2026-02-01|2026-02-28T00:00:00Z||true",
        ]
    );
    // every file now in the two folders (`closed_files` checks), the old closed version moved
    assert_eq!(closed_files(&f).await.len(), 2);
}

#[tokio::test]
async fn a_second_change_at_the_same_snapshot_time_replaces_the_version_it_opened() {
    let f = Fixture::new();
    project(&f, "unique_key: id, strategy: check, check_cols: [status]");
    land(
        &f,
        &[
            ("A", Some("open"), "2026-01-05"),
            ("B", Some("open"), "2026-01-06"),
        ],
    )
    .await;
    ok(&f, "r1", "2026-01-31").await;
    land(
        &f,
        &[
            ("A", Some("won"), "2026-02-05"),
            ("B", Some("open"), "2026-01-06"),
        ],
    )
    .await;
    ok(&f, "r2", "2026-02-28").await;
    // Same as_of, A changes again: the version opened at 2026-02-28 is replaced, not closed
    // at the instant it started.
    land(
        &f,
        &[
            ("A", Some("lost"), "2026-02-06"),
            ("B", Some("open"), "2026-01-06"),
        ],
    )
    .await;
    let r = ok(&f, "r3", "2026-02-28").await;
    assert_eq!(result(&r).rows, 1, "one version opened, none closed");
    assert_eq!(
        history(&f).await,
        [
            "A|lost|2026-02-06|2026-02-28T00:00:00Z||true",
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "B|open|2026-01-06|2026-01-31T00:00:00Z||true",
        ]
    );
    // Same as_of again, A gone: its version of 2026-02-28 goes (no row is written, but the
    // build commits).
    land(&f, &[("B", Some("open"), "2026-01-06")]).await;
    let version = f.version("history.snap").await;
    let r = ok(&f, "r4", "2026-02-28").await;
    assert_eq!(result(&r).rows, 0);
    assert!(f.version("history.snap").await > version, "a commit");
    assert_eq!(
        history(&f).await,
        [
            "A|open|2026-01-05|2026-01-31T00:00:00Z|2026-02-28T00:00:00Z|false",
            "B|open|2026-01-06|2026-01-31T00:00:00Z||true",
        ]
    );
}
