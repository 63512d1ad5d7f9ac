//! Commands on a lake made by `pslake run` (issue 8): `test` and `build --select` of every model
//! give the full build's results; `build`, `test` and `plan` in a project without `fixtures/` use
//! the dates of the last run; commands that only read a lake name one that does not exist.

use std::collections::BTreeMap;

use pslake_lake::Lake;
use pslake_transform::{Materialization, Project};

use crate::support::{copy_project, line_col, pslake, pslake_in, repo_root, rows, run_demo, show};

fn last_build(rt: &tokio::runtime::Runtime, lake: &Lake) -> String {
    rows(
        rt,
        lake,
        "SELECT _run_id FROM _pslake.runs WHERE stage = 'build' ORDER BY ended_at DESC LIMIT 1",
    )
    .pop()
    .expect("a build row")
}

fn model_rows(rt: &tokio::runtime::Runtime, lake: &Lake, run: &str, model: &str) -> Vec<String> {
    rows(
        rt,
        lake,
        &format!(
            "SELECT status, rows FROM _pslake.runs WHERE _run_id = '{run}' AND stage = 'model:{model}'"
        ),
    )
}

/// Regression: after a clean `pslake run`, `pslake test` used to exit 1 and `build --select
/// canonical.bookings` to fail (`intermediate.int_opportunity_projects: Cannot project plan column
/// 0 ... field data type differs`), because tables read back from Delta had other string types
/// than the same models computed in the run.
#[test]
fn test_and_every_model_built_alone_after_a_run_match_the_full_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "run:\n{}", show(&out));
    let lake_arg = lake_dir.to_str().expect("utf8");
    let out = pslake(&["test", "--lake", lake_arg]);
    assert!(out.status.success(), "test after run:\n{}", show(&out));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_arg).expect("lake");
    let project = Project::load(&repo_root()).expect("the demo project loads");
    let run = last_build(&rt, &lake);
    let published: BTreeMap<String, Vec<String>> = project
        .models()
        .iter()
        .filter(|m| m.materialized.publishes())
        .map(|m| {
            let name = m.name.to_string();
            let table = rows(&rt, &lake, &format!("SELECT * FROM {name}"));
            (name, table)
        })
        .collect();
    let operational = |run: &str| {
        (
            rows(
                &rt,
                &lake,
                &format!(
                    "SELECT system, stream, key, rule, field, value, message, _raw FROM _pslake.rejects WHERE _run_id = '{run}'"
                ),
            ),
            rows(
                &rt,
                &lake,
                &format!(
                    "SELECT rule, source, key, message FROM _pslake.warnings WHERE _run_id = '{run}'"
                ),
            ),
        )
    };
    let (run_rejects, run_warnings) = operational(&run);

    // Built alone, an unchanged model would be reused: --full-refresh makes each one compute, so
    // its plan and rows are compared with the full build's.
    for m in project.models() {
        let name = m.name.to_string();
        let out = pslake(&[
            "build",
            "--lake",
            lake_arg,
            "--select",
            &name,
            "--full-refresh",
        ]);
        assert!(
            out.status.success(),
            "build --select {name}:\n{}",
            show(&out)
        );
        let build = last_build(&rt, &lake);
        assert_ne!(build, run);
        let (rejects, warnings) = operational(&build);
        if name == "quality.rejects_still_unlanded" {
            // In the run, the landing's own rejects are this run's already (0 carried); a build
            // on its own is a later run, which carries exactly those rows forward (SPEC 5: the
            // current rejects are the latest run's).
            let landing: Vec<&String> = run_rejects
                .iter()
                .filter(|r| {
                    r.contains("|unparseable_value|") || r.contains("|missing_required_field|")
                })
                .collect();
            assert!(!landing.is_empty(), "the demo has landing rejects");
            assert_eq!(
                rejects.iter().collect::<Vec<_>>(),
                landing,
                "{name}: carried"
            );
            // Its table holds the current rows of that rule: the carried ones.
            assert_eq!(
                rows(
                    &rt,
                    &lake,
                    &format!(
                        "SELECT system, stream, key, rule, field, value, message, _raw FROM {name}"
                    )
                )
                .iter()
                .collect::<Vec<_>>(),
                landing,
                "{name}: its table"
            );
        } else if m.materialized == Materialization::Snapshot {
            // A snapshot's rows are the versions a build opened or closed: the run opened every
            // one, a build on the same data opens none (its published history, compared below,
            // is the run's).
            let status = |run: &str| -> Vec<String> {
                model_rows(&rt, &lake, run, &name)
                    .iter()
                    .map(|r| r.split('|').next().unwrap_or_default().to_string())
                    .collect()
            };
            assert_eq!(
                status(&build),
                status(&run),
                "{name}: status as in the full build"
            );
            assert_eq!(
                model_rows(&rt, &lake, &build, &name),
                vec!["ok|0".to_string()],
                "{name}: nothing changed, no version written"
            );
        } else {
            assert_eq!(
                model_rows(&rt, &lake, &build, &name),
                model_rows(&rt, &lake, &run, &name),
                "{name}: status and rows as in the full build"
            );
        }
        // (rejects_still_unlanded's table is run-dependent, checked above.)
        if let Some(expected) = published
            .get(&name)
            .filter(|_| name != "quality.rejects_still_unlanded")
        {
            assert_eq!(
                &rows(&rt, &lake, &format!("SELECT * FROM {name}")),
                expected,
                "{name}: the published table is the full build's"
            );
        }
        if m.materialized == Materialization::Rejects {
            assert!(!rejects.is_empty() || model_rows(&rt, &lake, &run, &name)[0].ends_with("|0"));
        }
        for r in &rejects {
            assert!(
                run_rejects.contains(r),
                "{name}: reject {r} not in the full build's"
            );
        }
        for w in &warnings {
            assert!(
                run_warnings.contains(w),
                "{name}: warning {w} not in the full build's"
            );
        }
    }
    let out = pslake(&["test", "--lake", lake_arg]);
    assert!(
        out.status.success(),
        "test after the builds:\n{}",
        show(&out)
    );
}

/// `build`, `test` and `plan` in a project without `fixtures/` take `as_of` and
/// `history_start` from the last run recorded in the lake; `plan` reports a date compared with a
/// number with its line and column.
#[test]
fn a_project_without_fixtures_builds_tests_and_plans_with_the_last_runs_dates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path();
    copy_project(project);
    assert!(!project.join("fixtures").exists());

    // Nothing gives history_start yet: a usage error saying so (no lake, no manifest).
    let out = pslake_in(project, &["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("history_start"), "{}", show(&out));

    let fixtures = repo_root().join("fixtures");
    let out = pslake_in(
        project,
        &[
            "run",
            "--fixtures",
            fixtures.to_str().expect("utf8"),
            "--as-of",
            "2026-06-30",
            "--quiet",
        ],
    );
    assert!(out.status.success(), "run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(project.join("lake").to_str().expect("utf8")).expect("lake");
    let dates = |run: &str| {
        rows(
            &rt,
            &lake,
            &format!(
                "SELECT details FROM _pslake.runs WHERE _run_id = '{run}' AND stage = 'build'"
            ),
        )
    };
    let run = last_build(&rt, &lake);
    let run_dates = dates(&run);
    assert!(
        run_dates[0].contains(r#""as_of":"2026-06-30""#),
        "{run_dates:?}"
    );

    let out = pslake_in(project, &["build"]);
    assert!(out.status.success(), "build:\n{}", show(&out));
    let build = last_build(&rt, &lake);
    assert_ne!(build, run);
    let date_fields = |details: &str| {
        let v: serde_json::Value = serde_json::from_str(details).expect("json");
        (v["as_of"].clone(), v["history_start"].clone())
    };
    assert_eq!(date_fields(&dates(&build)[0]), date_fields(&run_dates[0]));
    assert!(
        rows(
            &rt,
            &lake,
            "SELECT count(*) FROM canonical.utilization WHERE week_start > DATE '2026-06-30'"
        ) == vec!["0"]
    );
    let out = pslake_in(project, &["test"]);
    assert!(out.status.success(), "test:\n{}", show(&out));
    let out = pslake_in(project, &["plan"]);
    assert!(out.status.success(), "plan:\n{}", show(&out));

    // A green plan means the build gets past planning: a date compared with a number is a
    // problem with its line and column.
    let revenue = project.join("sql/canonical/revenue.sql");
    let text = fs_err::read_to_string(&revenue).expect("read") + "WHERE month >= 1\n";
    fs_err::write(&revenue, &text).expect("write");
    let out = pslake_in(project, &["plan"]);
    let (line, col) = line_col(&text, "month >= 1");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        show(&out).contains(&format!(
            "sql/canonical/revenue.sql:{line}:{col}: model canonical.revenue: `month >= 1` compares a date"
        )),
        "{}",
        show(&out)
    );
}

#[test]
fn commands_that_read_a_lake_name_one_that_does_not_exist() {
    for args in [
        vec!["plan", "--lake", "/no/such/lake"],
        vec!["test", "--lake", "/no/such/lake"],
        vec!["query", "--lake", "/no/such/lake", "SELECT 1"],
    ] {
        let out = pslake(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("lake /no/such/lake does not exist"),
            "{args:?}: {}",
            show(&out)
        );
    }
}
