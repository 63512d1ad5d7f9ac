//! Models kept by month (`partition_by`) and incremental models that read only newly landed rows
//! (`new_rows_from`): after a landing that edits, moves and deletes a few entries, a build
//! rewrites only the months those entries were and are in, and its tables equal a full rebuild's.

use std::sync::Arc;

use arrow::array::TimestampMicrosecondArray;
use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use pslake_lake::TableName;
use pslake_transform::{BuildReport, NoopReporter};

use crate::{Fixture, config_problems, opts};

/// One landed entry: id, work day, minutes, deleted.
type Entry<'a> = (&'a str, &'a str, i64, bool);

/// Appends `rows` to `raw.entries` as one landing extracted at `at` (seconds).
async fn land(f: &Fixture, at: i64, rows: &[Entry<'_>]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
        Field::new("minutes", DataType::Int64, true),
        Field::new("_deleted", DataType::Boolean, true),
        Field::new(
            "_extracted_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let day =
        |s: &str| (NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap() - epoch).num_days() as i32;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            rows.iter().map(|r| day(r.1)).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(vec![at * 1_000_000; rows.len()]).with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    f.lake
        .append(&TableName::new("raw", "entries"), vec![batch])
        .await
        .expect("landing");
}

/// raw.entries → staging.stg_e (incremental on id, new rows only, by month of day) →
/// intermediate.int_e (by month, following stg_e) → canonical.month_totals (whole).
fn project(f: &Fixture) {
    f.write(
        "sql/staging/stg_e.sql",
        "SELECT id, day, minutes, coalesce(_deleted, false) AS is_deleted FROM (\
           SELECT *, row_number() OVER (PARTITION BY id ORDER BY _extracted_at DESC) AS rn \
           FROM raw.entries) WHERE rn = 1",
    )
    .write(
        "sql/intermediate/int_e.sql",
        // the day's total: a rule over one day, so within the day's month
        "SELECT id, day, minutes, sum(minutes) OVER (PARTITION BY day) AS day_total \
         FROM staging.stg_e WHERE NOT is_deleted",
    )
    .write(
        "sql/canonical/month_totals.sql",
        "SELECT CAST(date_trunc('month', day) AS DATE) AS month, sum(minutes) AS minutes, \
         count(*) AS entries FROM intermediate.int_e GROUP BY 1",
    )
    .write("models/models.yml", &models_yml(""));
}

/// The models' YAML; `int_e_extra` is appended to `int_e`'s entry.
fn models_yml(int_e_extra: &str) -> String {
    format!(
        "version: 2\nmodels:\n\
         \x20 - name: stg_e\n\
         \x20   config:\n\
         \x20     materialized: incremental\n\
         \x20     unique_key: id\n\
         \x20     new_rows_from: raw.entries\n\
         \x20     partition_by: {{field: day, granularity: month}}\n\
         \x20 - name: int_e\n\
         \x20   config:\n\
         \x20     materialized: table\n\
         \x20     partition_by: {{field: day, granularity: month}}\n\
         \x20     partition_input: staging.stg_e\n{int_e_extra}"
    )
}

async fn build(f: &Fixture, run: &str, full_refresh: bool) -> BuildReport {
    let mut o = opts(run);
    o.full_refresh = full_refresh;
    let report = pslake_transform::build(&f.project(), &f.lake, &o, &NoopReporter)
        .await
        .expect("build runs");
    assert!(report.is_success(), "{report}");
    report
}

/// The data files of `table` in the month folder `month` (YYYY-MM).
async fn month_files(f: &Fixture, table: &str, month: &str) -> Vec<String> {
    let mut files: Vec<String> = f
        .lake
        .table_files(&TableName::parse(table).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.month.map(|m| m.to_string()).as_deref() == Some(month))
        .map(|t| t.url.to_string())
        .collect();
    files.sort();
    files
}

/// A build that must fail: its report.
async fn failing_build(f: &Fixture, run: &str) -> BuildReport {
    let report = pslake_transform::build(&f.project(), &f.lake, &opts(run), &NoopReporter)
        .await
        .expect("build runs");
    assert!(!report.is_success(), "{report}");
    report
}

fn rows_written(report: &BuildReport, model: &str) -> u64 {
    report
        .models
        .iter()
        .find(|m| m.model == model)
        .unwrap()
        .rows
}

#[tokio::test]
async fn a_landing_of_a_few_entries_rewrites_only_their_months_and_equals_a_full_rebuild() {
    let f = Fixture::new();
    project(&f);
    land(
        &f,
        1,
        &[
            ("e", "2025-12-15", 10, false),
            ("a", "2026-01-05", 60, false),
            ("b", "2026-01-20", 30, false),
            ("c", "2026-02-03", 45, false),
            ("d", "2026-03-10", 15, false),
        ],
    )
    .await;
    build(&f, "run-1", false).await;
    let december = (
        month_files(&f, "staging.stg_e", "2025-12").await,
        month_files(&f, "intermediate.int_e", "2025-12").await,
    );
    assert_eq!(december.0.len(), 1, "one December file in stg_e");
    assert_eq!(december.1.len(), 1, "one December file in int_e");
    let january = month_files(&f, "intermediate.int_e", "2026-01").await;

    // b edited, c moved from February to March, d deleted; e and a untouched.
    land(
        &f,
        2,
        &[
            ("b", "2026-01-20", 90, false),
            ("c", "2026-03-01", 45, false),
            ("d", "2026-03-10", 15, true),
        ],
    )
    .await;
    let second = build(&f, "run-2", false).await;
    // stg_e read the 3 new rows and kept the other rows of January, February and March (the
    // months of b, c, d before and after): a, and nothing else; December (e) was not touched.
    // Written: 3 new + 1 kept (a) = 4 rows.
    assert_eq!(rows_written(&second, "staging.stg_e"), 4, "{second}");
    // int_e rebuilt January to March from stg_e: a, b, c (d deleted) = 3 rows.
    assert_eq!(rows_written(&second, "intermediate.int_e"), 3, "{second}");
    assert_eq!(
        month_files(&f, "staging.stg_e", "2025-12").await,
        december.0
    );
    assert_eq!(
        month_files(&f, "intermediate.int_e", "2025-12").await,
        december.1
    );
    assert_ne!(
        month_files(&f, "intermediate.int_e", "2026-01").await,
        january
    );
    // February lost its only entry: no file left for it.
    assert!(
        month_files(&f, "intermediate.int_e", "2026-02")
            .await
            .is_empty()
    );

    // December: e 10; January: a 60 + b 90 = 150 over 2; March: c 45 (d deleted).
    let expected = vec!["2025-12-01|10|1", "2026-01-01|150|2", "2026-03-01|45|1"];
    let totals = "SELECT month, minutes, entries FROM canonical.month_totals";
    assert_eq!(f.rows(totals).await, expected);
    // The day totals of January 20th follow the edit (90), and d is gone.
    assert_eq!(
        f.rows("SELECT id, day_total FROM intermediate.int_e").await,
        vec!["a|60", "b|90", "c|45", "e|10"]
    );
    let incremental = f
        .rows("SELECT id, day, minutes, is_deleted FROM staging.stg_e")
        .await;

    // A full rebuild of the same landings gives the same tables.
    build(&f, "run-3", true).await;
    assert_eq!(f.rows(totals).await, expected);
    assert_eq!(
        f.rows("SELECT id, day, minutes, is_deleted FROM staging.stg_e")
            .await,
        incremental
    );
}

#[tokio::test]
async fn a_model_writing_outside_the_months_its_input_changed_fails_and_publishes_nothing() {
    let f = Fixture::new();
    project(&f);
    // int_e moves every entry 40 days later: its rows do not stay in their input's month, so
    // the partition_input declaration is wrong.
    f.write(
        "sql/intermediate/int_e.sql",
        "SELECT id, CAST(day + INTERVAL '40 days' AS DATE) AS day, minutes, minutes AS day_total \
         FROM staging.stg_e WHERE NOT is_deleted",
    );
    land(
        &f,
        1,
        &[
            ("a", "2026-01-05", 60, false),
            ("b", "2026-02-05", 30, false),
        ],
    )
    .await;
    build(&f, "run-1", false).await;
    let version = f.version("intermediate.int_e").await;
    land(&f, 2, &[("a", "2026-01-06", 60, false)]).await;
    let text = failing_build(&f, "run-2").await.to_string();
    assert!(
        text.contains("partition_input") && text.contains("2026-02"),
        "names the declaration and the month written outside: {text}"
    );
    assert_eq!(f.version("intermediate.int_e").await, version);
}

/// `int_e` keyed on the id's part before any `-` (so that `a-2` is `a` again), with tests.
fn project_with_tests(f: &Fixture) {
    project(f);
    f.write(
        "sql/intermediate/int_e.sql",
        "SELECT split_part(id, '-', 1) AS id, day, minutes, sum(minutes) OVER (PARTITION BY day) AS day_total \
         FROM staging.stg_e WHERE NOT is_deleted",
    )
    .write(
        "models/models.yml",
        &models_yml(
            "\x20   columns:\n\
             \x20     - name: id\n\
             \x20       tests: [unique, not_null]\n\
             \x20     - name: minutes\n\
             \x20       tests:\n\
             \x20         - accepted_range: {min_value: 1}\n",
        ),
    );
}
fn result<'a>(report: &'a BuildReport, model: &str) -> &'a pslake_transform::ModelResult {
    report.models.iter().find(|m| m.model == model).unwrap()
}

#[tokio::test]
async fn tests_of_a_table_rewritten_by_month_read_those_months_and_still_see_a_duplicate_in_a_kept_one()
 {
    let f = Fixture::new();
    project_with_tests(&f);
    land(
        &f,
        1,
        &[
            ("a", "2026-01-05", 60, false),
            ("b", "2026-02-05", 30, false),
        ],
    )
    .await;
    let first = build(&f, "run-1", false).await;
    let int_e = result(&first, "intermediate.int_e");
    assert_eq!(int_e.tests.len(), 3, "{first}");
    assert!(
        !int_e.tests_rewritten_only,
        "a first build tests the whole table"
    );

    // c lands in March: only March is rewritten, and the tests read only its row (the published
    // table passed them, with the same parents).
    land(&f, 2, &[("c", "2026-03-02", 45, false)]).await;
    let second = build(&f, "run-2", false).await;
    let int_e = result(&second, "intermediate.int_e");
    assert_eq!(int_e.rows, 1, "{second}");
    assert!(int_e.tests_rewritten_only, "{second}");
    assert_eq!(int_e.tests.len(), 3, "{second}");
    assert!(
        second.to_string().contains("3 passed (rewritten months)"),
        "{second}"
    );
    let version = f.version("intermediate.int_e").await;

    // a-2 lands in March and becomes id a, which January (a kept month) already holds: the
    // scoped unique test still counts January's row, so the build fails and publishes nothing.
    land(&f, 3, &[("a-2", "2026-03-09", 15, false)]).await;
    let text = failing_build(&f, "run-3").await.to_string();
    assert!(
        text.contains("unique(id)") && text.contains("id = 'a' (2 rows)"),
        "names the test and the duplicated key: {text}"
    );
    assert_eq!(f.version("intermediate.int_e").await, version);

    // Row-wise tests read the rewritten rows: a March entry of 0 minutes fails accepted_range.
    land(
        &f,
        4,
        &[
            ("a-2", "2026-03-09", 0, true),
            ("d", "2026-03-10", 0, false),
        ],
    )
    .await;
    let fourth = failing_build(&f, "run-4").await;
    assert!(
        fourth.to_string().contains("accepted_range(minutes)"),
        "{fourth}"
    );
}

/// `project` plus a fixed calendar of Mondays (`intermediate.weeks`, 2025-12-15 to 2026-03-16)
/// and `canonical.week_totals`: each week's minutes from the entries of its seven days, kept by
/// month of `week_start` and reaching seven days into `int_e` (`partition_input`'s map form).
fn weekly_project(f: &Fixture) {
    project(f);
    let mondays: Vec<String> = (0..14)
        .map(|w| {
            let d = NaiveDate::from_ymd_opt(2025, 12, 15).unwrap() + chrono::Days::new(7 * w);
            format!("(DATE '{d}')")
        })
        .collect();
    f.write(
        "sql/intermediate/weeks.sql",
        &format!(
            "SELECT column1 AS week_start FROM (VALUES {})",
            mondays.join(", ")
        ),
    )
    .write(
        "sql/canonical/week_totals.sql",
        "SELECT w.week_start, coalesce(sum(e.minutes), 0) AS minutes \
         FROM intermediate.weeks w \
         LEFT JOIN intermediate.int_e e ON CAST(date_trunc('week', e.day) AS DATE) = w.week_start \
         GROUP BY w.week_start",
    )
    .write(
        "models/models.yml",
        &format!(
            "{}\
             \x20 - name: week_totals\n\
             \x20   config:\n\
             \x20     materialized: table\n\
             \x20     partition_by: {{field: week_start, granularity: month}}\n\
             \x20     partition_input: {{table: intermediate.int_e, field: day, span_days: 7}}\n",
            models_yml("")
        ),
    );
}

#[tokio::test]
async fn a_weekly_table_rebuilds_the_months_whose_weeks_reach_a_changed_month_and_equals_a_full_rebuild()
 {
    let f = Fixture::new();
    weekly_project(&f);
    land(
        &f,
        1,
        &[
            ("e", "2025-12-15", 10, false),
            ("a", "2026-01-05", 60, false),
            // a Sunday: in February's files of int_e, in the week of Monday 2026-01-26
            ("x", "2026-02-01", 20, false),
            ("c", "2026-02-03", 45, false),
            // a Sunday: in March's files, in the week of Monday 2026-02-23
            ("g", "2026-03-01", 30, false),
            ("d", "2026-03-10", 15, false),
        ],
    )
    .await;
    build(&f, "run-1", false).await;
    let december = month_files(&f, "canonical.week_totals", "2025-12").await;
    let january = month_files(&f, "canonical.week_totals", "2026-01").await;
    let march = month_files(&f, "canonical.week_totals", "2026-03").await;
    assert_eq!(december.len(), 1, "one December file");

    // x edited (20 → 50), in February: int_e rebuilds February alone.
    land(&f, 2, &[("x", "2026-02-01", 50, false)]).await;
    let second = build(&f, "run-2", false).await;
    // int_e's February: x and c = 2 rows.
    assert_eq!(rows_written(&second, "intermediate.int_e"), 2, "{second}");
    // week_totals rebuilds February and January (January 31st's week reaches February; December
    // 31st's reaches January 6th at most, not February): the Mondays of January (5, 12, 19, 26)
    // and of February (2, 9, 16, 23) = 8 rows.
    assert_eq!(
        rows_written(&second, "canonical.week_totals"),
        8,
        "{second}"
    );
    assert_eq!(
        month_files(&f, "canonical.week_totals", "2025-12").await,
        december
    );
    assert_eq!(
        month_files(&f, "canonical.week_totals", "2026-03").await,
        march
    );
    assert_ne!(
        month_files(&f, "canonical.week_totals", "2026-01").await,
        january
    );

    // Dec 15: e 10; Jan 5: a 60; Jan 26: x 50 (the edit, from February's entries); Feb 2: c 45;
    // Feb 23: g 30 (read from March's entries, the seven days' reach); Mar 9: d 15; the other
    // eight weeks 0.
    let expected = vec![
        "2025-12-15|10",
        "2025-12-22|0",
        "2025-12-29|0",
        "2026-01-05|60",
        "2026-01-12|0",
        "2026-01-19|0",
        "2026-01-26|50",
        "2026-02-02|45",
        "2026-02-09|0",
        "2026-02-16|0",
        "2026-02-23|30",
        "2026-03-02|0",
        "2026-03-09|15",
        "2026-03-16|0",
    ];
    let weeks = "SELECT week_start, minutes FROM canonical.week_totals";
    assert_eq!(f.rows(weeks).await, expected);

    // g edited (30 → 35), in March: March and February are rebuilt (the week of February 23rd
    // reaches March 1st), and the week reads its seven days across both months.
    land(&f, 3, &[("g", "2026-03-01", 35, false)]).await;
    let third = build(&f, "run-3", false).await;
    // February's Mondays (2, 9, 16, 23) and March's (2, 9, 16) = 7 rows.
    assert_eq!(rows_written(&third, "canonical.week_totals"), 7, "{third}");
    let mut expected: Vec<String> = expected.into_iter().map(str::to_string).collect();
    expected[10] = "2026-02-23|35".into();
    assert_eq!(f.rows(weeks).await, expected);

    // A full rebuild of the same landings gives the same table.
    build(&f, "run-4", true).await;
    assert_eq!(f.rows(weeks).await, expected);
}

#[tokio::test]
async fn partition_input_in_its_map_form_is_checked() {
    let cases = [
        (
            "{materialized: table, partition_by: {field: day}, partition_input: {table: raw.src, field: day, span_days: 0}}",
            "model m: partition_input: span_days 0 is not between 1 and 366",
        ),
        (
            "{materialized: table, partition_by: {field: day}, partition_input: {table: raw.other, span_days: 7}}",
            "model m: partition_input: raw.other is not a table the model reads",
        ),
        (
            "{materialized: table, partition_input: {table: raw.src, field: day, span_days: 7}}",
            "model m: partition_input needs partition_by",
        ),
        (
            "{materialized: table, partition_by: {field: day}, partition_input: {table: raw.src, spn_days: 7}}",
            "model m: partition_input: unknown field `spn_days`, expected one of `table`, `field`, `span_days`",
        ),
        (
            "{materialized: table, partition_by: {field: day}, partition_input: [raw.src]}",
            "model m: partition_input: expected a table name or {table, field, span_days}",
        ),
    ];
    let problems = |config| {
        config_problems(
            "sql/canonical/m.sql",
            "SELECT day FROM raw.src",
            "m",
            config,
        )
    };
    for (config, expected) in cases {
        let text = problems(config);
        assert!(
            text.iter().any(|p| p.contains(expected)),
            "{config}: expected {expected:?} in {text:#?}"
        );
    }
    // The map form with a valid reach loads.
    let valid = problems(
        "{materialized: table, partition_by: {field: day}, partition_input: {table: raw.src, span_days: 7}}",
    );
    assert!(valid.is_empty(), "{valid:?}");
}

#[tokio::test]
async fn a_partition_input_field_its_input_lacks_fails_the_first_build_before_anything_is_written()
{
    let f = Fixture::new();
    weekly_project(&f);
    // `work_day` is not a column of int_e: a rebuild of some months could not read it. The
    // first build, a full one, says so and publishes nothing.
    let yml = std::fs::read_to_string(f.root().join("models/models.yml")).unwrap();
    f.write(
        "models/models.yml",
        &yml.replace("field: day, span_days: 7", "field: work_day, span_days: 7"),
    );
    land(&f, 1, &[("a", "2026-01-05", 60, false)]).await;
    let err = pslake_transform::build(&f.project(), &f.lake, &opts("run-1"), &NoopReporter)
        .await
        .expect_err("the build fails at planning");
    let text = err.to_string();
    assert!(
        text.contains("week_totals")
            && text.contains("partition_input")
            && text.contains("work_day"),
        "names the model, the setting and the column: {text}"
    );
    assert_eq!(
        f.version("canonical.week_totals").await,
        None,
        "nothing published"
    );
}
