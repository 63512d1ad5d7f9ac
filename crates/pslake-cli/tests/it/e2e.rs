//! `pslake run` end to end on the committed fixtures: the embedded sandbox, extraction into the
//! lake, the SQL models, tests and publishing, through the real binary.

use std::path::Path;

use arrow::array::Array;
use pslake_lake::{Lake, TableName};

use crate::support::{CANONICAL, pslake, repo_root, run_demo, show};

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("mkdir");
    for entry in fs_err::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub(crate) fn count(rt: &tokio::runtime::Runtime, lake: &Lake, sql: &str) -> i64 {
    let batches = rt
        .block_on(lake.query(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let col = arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Int64)
        .expect("count as i64");
    col.as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("i64")
        .value(0)
}

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    for cmd in [
        "run", "extract", "build", "test", "plan", "query", "show", "validate", "sandbox",
        "lineage", "docs",
    ] {
        let out = pslake(&[cmd, "--help"]);
        assert!(out.status.success(), "pslake {cmd} --help:\n{}", show(&out));
    }
    let out = pslake(&["fixtures", "generate", "--help"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = pslake(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = pslake(&["sandbox", "--faults", "rate_limit=abc"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// `pslake validate` checks pipelines, SQL models and their YAML without a lake or network, and
/// names the file and line of every problem.
#[test]
fn validate_reports_every_problem_with_file_and_line() {
    let out = pslake(&["validate"]);
    assert!(
        out.status.success(),
        "the repository validates:\n{}",
        show(&out)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["pipelines", "sql", "models"] {
        copy_dir(&repo_root().join(d), &dir.path().join(d));
    }
    // A model reading a table nobody provides, and a pipeline key that does not exist.
    fs_err::write(
        dir.path().join("sql/canonical/broken.sql"),
        "SELECT 1 AS x\nFROM canonical.no_such_table",
    )
    .expect("write");
    let demo = dir.path().join("pipelines/demo.yml");
    let text = fs_err::read_to_string(&demo).expect("read");
    fs_err::write(&demo, text.replacen("schedule:", "schedul:", 1)).expect("write");
    let out = pslake(&["validate", "--project", dir.path().to_str().expect("utf8")]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("broken.sql:2") && text.contains("canonical.no_such_table"),
        "{text}"
    );
    assert!(
        text.contains("demo.yml:") && text.contains("schedul"),
        "{text}"
    );
}

#[test]
fn demo_run_publishes_canonical_tables_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "first run:\n{}", show(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("raw.kantata_time_entries"),
        "summary names the streams:\n{summary}"
    );
    assert!(
        summary.contains("canonical.bookings"),
        "summary names the models:\n{summary}"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for t in CANONICAL {
        assert!(
            count(&rt, &lake, &format!("SELECT count(*) FROM canonical.{t}")) > 0,
            "canonical.{t} has rows"
        );
    }
    // The fixtures' deliberate bad rows are rejected, not lost: received = landed + rejected.
    assert!(count(&rt, &lake, "SELECT count(*) FROM _pslake.rejects") > 0);
    kantata_as_it_is(&rt, &lake);
    let bookings_v1 = rt
        .block_on(lake.version(&TableName::new("canonical", "bookings")))
        .expect("version");
    let events_1 = count(&rt, &lake, "SELECT count(*) FROM canonical.bookings");

    // Second run on unchanged sources: nothing new is booked, the tables read the same.
    let (_, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "second run:\n{}", show(&out));
    assert_eq!(
        count(&rt, &lake, "SELECT count(*) FROM canonical.bookings"),
        events_1
    );
    assert!(
        rt.block_on(lake.version(&TableName::new("canonical", "bookings")))
            .expect("version")
            >= bookings_v1
    );
}

/// SPEC section 2, Kantata as it is: the sandbox (like the API) leaves out archived workspaces,
/// their time entries and deleted stories unless asked; the demo pipeline asks. So every time
/// entry of the fixtures' archived workspaces (closed projects) lands and is published (or
/// rejected by a row rule), and counts in utilization; a deleted milestone story lands with its
/// `deleted_at` and earns no revenue.
fn kantata_as_it_is(rt: &tokio::runtime::Runtime, lake: &Lake) {
    let fixtures = repo_root().join("fixtures");
    let read = |stream: &str| -> Vec<serde_json::Value> {
        fs_err::read_to_string(fixtures.join(format!("kantata/{stream}.jsonl")))
            .expect("read")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let archived: Vec<String> = read("workspaces")
        .iter()
        .filter(|w| w["archived"] == true)
        .map(|w| format!("'{}'", w["id"].as_str().expect("id")))
        .collect();
    assert!(
        !archived.is_empty(),
        "the demo firm has archived workspaces"
    );
    let archived = archived.join(", ");
    let on_archived = read("time_entries")
        .iter()
        .filter(|t| archived.contains(&format!("'{}'", t["workspace_id"].as_str().unwrap_or(""))))
        .count() as i64;
    assert!(on_archived > 0, "time on archived workspaces");
    let published = count(
        rt,
        lake,
        &format!(
            "SELECT count(*) FROM canonical.fct_time_entry f \
             JOIN raw.kantata_time_entries t ON t.id = f.time_entry_id AND NOT coalesce(t._deleted, false) \
             WHERE t.workspace_id IN ({archived})"
        ),
    );
    let rejected = count(
        rt,
        lake,
        &format!(
            "SELECT count(DISTINCT r.key) FROM _pslake.rejects r \
             JOIN raw.kantata_time_entries t ON t.id = r.key \
             WHERE r.system = 'kantata' AND r.stream = 'time_entries' AND t.workspace_id IN ({archived})"
        ),
    );
    assert!(published > 0);
    assert_eq!(
        published + rejected,
        on_archived,
        "time on closed projects is not missing"
    );
    // ... and counts in utilization: in every employee-week with approved time on a closed
    // project, utilization's hours are the week's approved hours, that time included
    let weeks = format!(
        "SELECT f.employee_id, CAST(date_trunc('week', f.work_date) AS DATE) AS week_start, \
                sum(f.hours) AS hours, \
                sum(CASE WHEN t.workspace_id IN ({archived}) THEN f.hours ELSE 0 END) AS archived_hours \
         FROM canonical.fct_time_entry f \
         JOIN raw.kantata_time_entries t ON t.id = f.time_entry_id AND NOT coalesce(t._deleted, false) \
         JOIN canonical.dim_employee e ON e.employee_id = f.employee_id \
         WHERE f.time_state = 'approved' AND e.worker_type = 'Employee' \
         GROUP BY 1, 2"
    );
    let checked = count(
        rt,
        lake,
        &format!(
            "SELECT count(*) FROM ({weeks}) w \
             JOIN canonical.utilization u ON u.employee_id = w.employee_id AND u.week_start = w.week_start \
             WHERE w.archived_hours > 0 \
               AND abs(u.billable_hours + u.nonbillable_hours - w.hours) < 0.0001"
        ),
    );
    let with_archived = count(
        rt,
        lake,
        &format!("SELECT count(*) FROM ({weeks}) w WHERE w.archived_hours > 0"),
    );
    assert!(
        with_archived > 0,
        "employee-weeks with time on closed projects"
    );
    assert_eq!(
        checked, with_archived,
        "utilization counts time on closed projects"
    );

    // Deleted stories land, with deleted_at, and earn nothing: a milestone project's revenue
    // (local currency, all months) is the sum of its accepted milestones that are not deleted.
    let stories = read("stories");
    let deleted: Vec<&serde_json::Value> = stories
        .iter()
        .filter(|s| s["deleted_at"].is_string())
        .collect();
    assert!(!deleted.is_empty(), "the demo firm has deleted stories");
    let ids: Vec<String> = deleted
        .iter()
        .map(|s| format!("'{}'", s["id"].as_str().expect("id")))
        .collect();
    assert_eq!(
        count(
            rt,
            lake,
            &format!(
                "SELECT count(*) FROM raw.kantata_stories WHERE id IN ({}) AND deleted_at IS NOT NULL",
                ids.join(", ")
            )
        ),
        deleted.len() as i64
    );
    for d in &deleted {
        let ws = d["workspace_id"].as_str().expect("workspace");
        let earned: i64 = stories
            .iter()
            .filter(|s| {
                s["workspace_id"] == ws
                    && s["story_type"] == "milestone"
                    && s["state"] == "accepted"
                    && s["deleted_at"].is_null()
                    && s["accepted_at"]
                        .as_str()
                        .is_some_and(|a| &a[..10] <= "2026-09-30")
            })
            .map(|s| s["billing_amount_in_cents"].as_i64().unwrap_or(0))
            .sum();
        let cents = d["billing_amount_in_cents"].as_i64().expect("cents");
        assert!(cents > 0);
        assert_eq!(
            count(
                rt,
                lake,
                &format!(
                    "SELECT CAST(round(sum(r.revenue_local) * 100) AS BIGINT) FROM canonical.revenue r \
                     JOIN canonical.dim_project p ON p.project_id = r.project_id \
                     WHERE p.psa_workspace_id = '{ws}' AND p.billing_type = 'milestone'"
                )
            ),
            earned,
            "workspace {ws}: the deleted story's {cents} cents are no revenue"
        );
    }
}

/// Every table-rule edge case of `fixtures/edge/` (SPEC section 5) fails the run with a message
/// naming the offending value, and leaves every canonical table at its previous version.
#[test]
fn table_rule_edge_cases_block_publishing_and_previous_versions_stay_readable() {
    let cases = [
        ("unmapped_stage", "salesforce.StageName = 'Verbal Commit'"),
        ("unmapped_dealstage", "hubspot.dealstage = 'verbalcommit'"),
        ("unmapped_project_status", "netsuite.entitystatus = '7'"),
        (
            "duplicate_job_id",
            "test duplicate_key_netsuite_job failed: netsuite.job.id = ",
        ),
        (
            "duplicate_project_code",
            "test unique(project_code) failed: project_code = ",
        ),
        (
            "fixed_fee_no_budget",
            "test fixed_fee_project_without_budget_hours failed",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base");
    let (base_lake, out) = run_demo(&base, &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "clean run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let versions = |lake: &Lake| -> Vec<Option<i64>> {
        CANONICAL
            .iter()
            .map(|t| {
                rt.block_on(lake.version(&TableName::new("canonical", *t)))
                    .expect("version")
            })
            .collect()
    };
    let before = versions(&Lake::parse(base_lake.to_str().expect("utf8")).expect("lake"));
    assert!(
        before.iter().all(Option::is_some),
        "the clean run published every table"
    );

    for (case, expected) in cases {
        // Each case starts from a copy of the clean lake and of the fixtures, with the overlay.
        let case_dir = dir.path().join(case);
        copy_dir(&base_lake, &case_dir.join("lake"));
        let fixtures = case_dir.join("fixtures");
        copy_dir(&repo_root().join("fixtures"), &fixtures);
        copy_dir(&repo_root().join("fixtures/edge").join(case), &fixtures);
        // The overlays edit records in place without moving their cursors, so re-extract all
        // (`--full-refresh`), as a data engineer would after a source was fixed by hand.
        let (lake_dir, out) = run_demo(&case_dir, &fixtures, &["--full-refresh"]);
        let text = show(&out);
        assert_eq!(out.status.code(), Some(1), "{case}: the run fails:\n{text}");
        assert!(
            text.contains(expected),
            "{case}: the message names the offending value `{expected}`:\n{text}"
        );
        let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
        assert_eq!(
            versions(&lake),
            before,
            "{case}: canonical tables keep their previous version"
        );
        assert!(
            count(&rt, &lake, "SELECT count(*) FROM canonical.bookings") > 0,
            "{case}: still readable"
        );
    }
}

/// `pslake fixtures generate` writes a firm in the SPEC layout that `pslake run --fixtures` takes
/// through the whole pipeline: any directory in that layout works, not just the committed one.
#[test]
fn a_freshly_generated_firm_runs_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let firm = crate::support::generate_firm(dir.path(), "0.03", "11");
    assert!(
        firm.join("manifest.json").is_file() && firm.join("kantata/time_entries.jsonl").is_file()
    );
    let (lake_dir, out) = run_demo(dir.path(), &firm, &["--as-of", "2026-08-31"]);
    assert!(
        out.status.success(),
        "run on the generated firm:\n{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("as of 2026-08-31"),
        "{}",
        show(&out)
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    for t in CANONICAL {
        assert!(
            count(&rt, &lake, &format!("SELECT count(*) FROM canonical.{t}")) > 0,
            "canonical.{t} has rows"
        );
    }
    // --as-of bounds every series: no utilization week and no backlog snapshot after it.
    assert_eq!(
        count(
            &rt,
            &lake,
            "SELECT count(*) FROM canonical.utilization WHERE week_start > DATE '2026-08-31'"
        ),
        0
    );
    assert_eq!(
        count(
            &rt,
            &lake,
            "SELECT count(*) FROM canonical.backlog WHERE snapshot_date > DATE '2026-08-31'"
        ),
        0
    );
}

/// One text value per row of the first column of `sql` (NULL as "").
fn texts(rt: &tokio::runtime::Runtime, lake: &Lake, sql: &str) -> Vec<String> {
    let batches = rt
        .block_on(lake.query(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &batches {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
            .expect("cast to text");
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8");
        for i in 0..col.len() {
            out.push(if col.is_null(i) {
                String::new()
            } else {
                col.value(i).to_string()
            });
        }
    }
    out
}

/// Removes the JSON line whose `id` is `id` from a fixture file.
fn remove_record(file: &Path, key: &str, id: &str) {
    let text = fs_err::read_to_string(file).expect("read");
    let needle = format!("\"{key}\":\"{id}\"");
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(&needle)).collect();
    assert_eq!(
        kept.len() + 1,
        text.lines().count(),
        "{id} in {}",
        file.display()
    );
    fs_err::write(file, kept.join("\n") + "\n").expect("write");
}

/// A time entry and an invoice line deleted in their sources leave the canonical tables after
/// `pslake run --reconcile`: the entry's hours and revenue, the line's invoiced amount.
#[test]
fn records_deleted_in_the_source_leave_the_canonical_tables_after_reconcile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = dir.path().join("fixtures");
    copy_dir(&repo_root().join("fixtures"), &fixtures);
    let (lake_dir, out) = run_demo(dir.path(), &fixtures, &[]);
    assert!(out.status.success(), "first run:\n{}", show(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");

    // an approved billable entry on a time-and-materials project
    let entry = texts(
        &rt,
        &lake,
        "SELECT concat_ws('|', f.time_entry_id, f.project_id, \
                CAST(date_trunc('month', f.work_date) AS DATE), CAST(f.hours AS VARCHAR)) \
         FROM canonical.fct_time_entry f JOIN canonical.dim_project p USING (project_id) \
         WHERE f.billable AND f.time_state = 'approved' AND f.hours > 0 \
           AND p.billing_type = 'time_and_materials' AND f.bill_amount_usd > 0 \
         ORDER BY f.time_entry_id LIMIT 1",
    );
    let parts: Vec<&str> = entry[0].split('|').collect();
    let (te_id, project, month, hours) = (parts[0], parts[1], parts[2], parts[3]);
    let hours: f64 = hours.parse().expect("hours");
    // a USD invoice's income line (not voided) counted in margin: neither mainline nor
    // taxline, its amount the negated foreignamount, its job on the line or the header
    let line = texts(
        &rt,
        &lake,
        "SELECT concat_ws('|', l.uniquekey, coalesce(l.entity, t.entity), \
                CAST(date_trunc('month', t.trandate) AS DATE), CAST(-l.foreignamount AS VARCHAR)) \
         FROM raw.netsuite_transactionline l \
         JOIN raw.netsuite_transaction t ON t.id = l.transaction \
         JOIN raw.netsuite_currency c ON c.id = t.currency \
         JOIN canonical.margin m \
           ON m.project_id = coalesce(l.entity, t.entity) \
          AND m.month = CAST(date_trunc('month', t.trandate) AS DATE) \
         WHERE c.symbol = 'USD' AND t.type = 'CustInvc' AND t.status <> 'V' \
           AND NOT l.mainline AND NOT l.taxline ORDER BY l.uniquekey LIMIT 1",
    );
    let parts: Vec<&str> = line[0].split('|').collect();
    let (inv_id, inv_project, inv_month, amount) = (parts[0], parts[1], parts[2], parts[3]);
    let amount: f64 = amount.parse().expect("amount");

    let revenue = |what: &str| -> f64 {
        texts(
            &rt,
            &lake,
            &format!(
                "SELECT CAST(coalesce(sum({what}), 0) AS VARCHAR) FROM canonical.revenue \
                 WHERE project_id = '{project}' AND month = DATE '{month}'"
            ),
        )[0]
        .parse()
        .expect("number")
    };
    let margin = |what: &str, p: &str, m: &str| -> f64 {
        texts(
            &rt,
            &lake,
            &format!(
                "SELECT CAST(coalesce(sum({what}), 0) AS VARCHAR) FROM canonical.margin \
                 WHERE project_id = '{p}' AND month = DATE '{m}'"
            ),
        )[0]
        .parse()
        .expect("number")
    };
    let (rev_hours, rev_usd) = (revenue("hours"), revenue("revenue_usd"));
    let margin_hours = margin("hours", project, month);
    let invoiced = margin("invoiced_usd", inv_project, inv_month);
    let bill = texts(
        &rt,
        &lake,
        &format!(
            "SELECT CAST(bill_amount_usd AS VARCHAR) FROM canonical.fct_time_entry \
             WHERE time_entry_id = '{te_id}'"
        ),
    )[0]
    .parse::<f64>()
    .expect("bill amount");

    // both are deleted in their sources
    remove_record(&fixtures.join("kantata/time_entries.jsonl"), "id", te_id);
    remove_record(
        &fixtures.join("netsuite/transactionline.jsonl"),
        "uniquekey",
        inv_id,
    );
    let (_, out) = run_demo(dir.path(), &fixtures, &["--reconcile"]);
    assert!(out.status.success(), "run --reconcile:\n{}", show(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("1 marked deleted"),
        "the summary says what was reconciled:\n{summary}"
    );

    assert!(
        texts(
            &rt,
            &lake,
            &format!(
                "SELECT time_entry_id FROM canonical.fct_time_entry WHERE time_entry_id = '{te_id}'"
            )
        )
        .is_empty(),
        "the deleted entry is gone from fct_time_entry"
    );
    assert!((revenue("hours") - (rev_hours - hours)).abs() < 1e-3);
    assert!(
        (revenue("revenue_usd") - (rev_usd - bill)).abs() <= 0.011,
        "revenue loses the entry's {bill}: {rev_usd} -> {}",
        revenue("revenue_usd")
    );
    assert!((margin("hours", project, month) - (margin_hours - hours)).abs() < 1e-3);
    assert!(
        (margin("invoiced_usd", inv_project, inv_month) - (invoiced - amount)).abs() < 0.005,
        "margin loses the invoice line's {amount}"
    );
    // nothing was physically removed from raw
    assert_eq!(
        count(
            &rt,
            &lake,
            &format!(
                "SELECT count(*) FROM raw.kantata_time_entries WHERE id = '{te_id}' AND NOT _deleted"
            )
        ),
        1
    );
    assert_eq!(
        count(
            &rt,
            &lake,
            &format!(
                "SELECT count(*) FROM raw.kantata_time_entries WHERE id = '{te_id}' AND _deleted"
            )
        ),
        1
    );
}

/// Outside a project folder, `pslake run` says in one line which folder it needs.
#[test]
fn run_outside_a_project_says_in_one_line_what_it_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = crate::support::pslake_in(dir.path(), &["run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("is not a pslake project") && err.contains("--project"),
        "{err}"
    );
}

/// On a terminal the extraction shows a line per stream (records so far, records per second);
/// without one (a pipe, a scheduler's log) nothing of it is drawn.
#[test]
fn extraction_progress_per_stream_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let cmd = format!(
        "{} run --fixtures {} --lake {}",
        env!("CARGO_BIN_EXE_pslake"),
        repo_root().join("fixtures").display(),
        lake.display()
    );
    // `script` gives the run a pseudo-terminal
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    let line = text
        .split(['\r', '\n'])
        .find(|l| l.contains("kantata_time_entries") && l.contains(" records "))
        .unwrap_or_else(|| panic!("a progress line for kantata_time_entries:\n{text}"));
    assert!(line.trim_end().contains("/s"), "{line}");

    let piped = pslake(&[
        "run",
        "--fixtures",
        repo_root().join("fixtures").to_str().expect("utf8"),
        "--lake",
        dir.path().join("lake2").to_str().expect("utf8"),
    ]);
    assert!(piped.status.success(), "{}", show(&piped));
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains(" records "),
        "no progress lines without a terminal:\n{}",
        show(&piped)
    );
}
