//! SPEC 4b over the firm of `tests/data/formulas/`: effective-dated employee versions, set-up
//! cycle time, unbilled work and forecast accuracy, every expected number worked out by hand.
//!
//! Added to the firm for these tables (no number of SPEC section 4 moves):
//! - Workday Worker_History: one version for E4 (the same as its Workers record); E1..E3 have no
//!   history rows, so each gets one version from its Hire_Date built from Workers.
//! - NetSuite job datecreated: P1 2026-01-12, P2 2026-01-20, P3 2026-01-24, P5 2025-12-22, P6
//!   2026-04-01 (after as_of 2026-03-18: not reached yet).
//! - A hard allocation A3 of E1 on P2's workspace W2 from 2025-12-29 to 2025-12-31, before P2's
//!   win on 2026-01-02 (staffed before it was won); it ends before the capacity-plan window.
//! - An invoice INV-5 on P5 dated 2026-01-10 for 4000.00 USD, billed ahead of the work.
//! - EUR rates for 2025-10 (1.05) and 2025-11 (1.08), and opportunity histories (Salesforce
//!   OpportunityHistory, HubSpot propertiesWithHistory) from October 2025 on: see
//!   `forecast_accuracy_against_won_bookings`.

use super::helpers::*;

/// Employees without Worker_History rows get one version from their Hire_Date built from
/// Workers; E4's one history row is its only version. Every version is current.
#[tokio::test]
async fn an_employee_without_history_has_one_version_from_the_hire_date() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT employee_id, CAST(valid_from AS VARCHAR), coalesce(CAST(valid_to AS VARCHAR), '-'), practice, job_profile, weekly_hours, CAST(hourly_cost AS VARCHAR), cost_currency, is_current FROM canonical.dim_employee_history").await,
        vec![
            "E1|2025-01-01|-|Data|Consultant|40.0|50.00|USD|true",
            "E2|2025-06-01|-|Data|Consultant|20.0|40.00|EUR|true",
            "E3|2026-01-14|-|Cloud|Analyst|40.0|30.00|USD|true",
            "E4|2025-01-01|-|Data|Contractor|40.0|60.00|USD|true",
        ]
    );
}

/// The firm, built at as_of 2026-06-30 with E1's June entry T30 (480 min on P1, billable at
/// 150.00 USD/h), with or without the Worker_History of `tests/data/formulas_raise/history/`.
async fn june_firm(with_history: bool) -> (tempfile::TempDir, pslake_lake::Lake) {
    let (dir, lake) = landed_firm().await;
    let overlay = data_dir("formulas_raise");
    land(
        &lake,
        &overlay.join("june"),
        "land-2",
        "2026-06-30T06:00:00Z",
        Landing::Append,
    )
    .await;
    if with_history {
        land(
            &lake,
            &overlay.join("history"),
            "land-3",
            "2026-06-30T06:10:00Z",
            Landing::Append,
        )
        .await;
    }
    build(&lake, "build-1", "2026-06-30", HISTORY_START).await;
    (dir, lake)
}

const MARGIN_BEFORE_JUNE: &str = "SELECT project_id, CAST(month AS VARCHAR), CAST(revenue_usd AS VARCHAR), CAST(labor_cost_usd AS VARCHAR), CAST(expense_usd AS VARCHAR), CAST(gross_margin_usd AS VARCHAR), CAST(invoiced_usd AS VARCHAR), hours FROM canonical.margin WHERE month < DATE '2026-06-01'";
const P1_JUNE: &str = "SELECT CAST(revenue_usd AS VARCHAR), CAST(labor_cost_usd AS VARCHAR), CAST(gross_margin_usd AS VARCHAR) FROM canonical.margin WHERE project_id = 'P1' AND month = DATE '2026-06-01'";
const COSTS: &str = "SELECT time_entry_id, CAST(cost_amount_usd AS VARCHAR) FROM canonical.fct_time_entry WHERE time_entry_id IN ('T03', 'T30')";

/// A raise in month 6 leaves months 1-5 of margin unchanged.
///
/// E1 (50.00 USD/h since 2025-01-01) gets 60.00 USD/h from 2026-06-01 (Worker_History).
/// - June, P1: T30 is 480 min = 8 h. Revenue 8 x 150.00 = 1200.00. Labour without the history
///   8 x 50.00 = 400.00 (margin 800.00); with it 8 x 60.00 = 480.00 (margin 1200 - 480 = 720.00).
/// - January to May: every margin row is the same with and without the history. P1's January
///   labour stays (T03 10 h + T05 2 h) x 50.00 = 600.00, and T03's cost 10 x 50.00 = 500.00.
#[tokio::test]
async fn a_raise_in_month_six_leaves_months_one_to_five_of_margin_unchanged() {
    let (_a, without) = june_firm(false).await;
    let (_b, with) = june_firm(true).await;
    let before = rows(&without, MARGIN_BEFORE_JUNE).await;
    assert!(before.len() >= 5, "margin rows before June: {before:?}");
    assert!(
        before
            .iter()
            .any(|r| r.starts_with("P1|2026-01-01|1500.00|600.00|"))
    );
    assert_eq!(rows(&with, MARGIN_BEFORE_JUNE).await, before);
    assert_eq!(rows(&without, P1_JUNE).await, vec!["1200.00|400.00|800.00"]);
    assert_eq!(rows(&with, P1_JUNE).await, vec!["1200.00|480.00|720.00"]);
    assert_eq!(
        rows(&without, COSTS).await,
        vec!["T03|500.00", "T30|400.00"]
    );
    assert_eq!(rows(&with, COSTS).await, vec!["T03|500.00", "T30|480.00"]);
}

/// Versions, and a change that takes effect mid-week.
///
/// E2 moves from Data at 20 h/week to Cloud at 30 h/week on Wednesday 2026-01-07. A utilization
/// week takes the version valid on its Monday (SPEC 4b): the week of 2026-01-05 is Data at
/// 20 / 5 = 4 h a day, capacity 5 x 4 = 20; T10 (600 min billable) gives 10 / 20 = 0.5. The week
/// of 2026-01-12 is Cloud at 30 / 5 = 6 h a day: capacity 30, no hours.
/// E4's only landed history row was in the first landing; the latest Worker_History report does
/// not list it, so it falls back to Workers (the same values).
#[tokio::test]
async fn versions_close_when_the_next_opens_and_a_week_takes_its_mondays_version() {
    let (_dir, lake) = june_firm(true).await;
    assert_eq!(
        rows(&lake, "SELECT employee_id, CAST(valid_from AS VARCHAR), coalesce(CAST(valid_to AS VARCHAR), '-'), practice, job_profile, weekly_hours, CAST(hourly_cost AS VARCHAR), is_current FROM canonical.dim_employee_history WHERE employee_id IN ('E1', 'E2', 'E4')").await,
        vec![
            "E1|2025-01-01|2026-06-01|Data|Consultant|40.0|50.00|false",
            "E1|2026-06-01|-|Data|Senior Consultant|40.0|60.00|true",
            "E2|2025-06-01|2026-01-07|Data|Consultant|20.0|40.00|false",
            "E2|2026-01-07|-|Cloud|Consultant|30.0|40.00|true",
            "E4|2025-01-01|-|Data|Contractor|40.0|60.00|true",
        ]
    );
    assert_eq!(
        rows(&lake, "SELECT CAST(week_start AS VARCHAR), practice, capacity_hours, billable_hours, round(billable_utilization, 6) FROM canonical.utilization WHERE employee_id = 'E2' AND week_start IN (DATE '2026-01-05', DATE '2026-01-12')").await,
        vec!["2026-01-05|Data|20.0|10.0|0.5", "2026-01-12|Cloud|30.0|0.0|0.0"]
    );
}

/// Set-up cycle time: one row per live won new-business opportunity dated on or before as_of
/// (006C is a change order, 006E open, 006F deleted, 9003 lost). Days count from the close date.
/// - 006A -> P1, won 2026-01-05: created 2026-01-12 (7 days); first hard allocation A1 starts
///   2026-03-16 (26 days to the end of January + 28 + 16 = 70); first approved time T03 on
///   2026-01-20 (15; R04, R05 and R08/R09 on W1 are rejects, T04 is submitted).
/// - 006B -> P2, won 2026-01-02: created 2026-01-20 (18); A3 starts 2025-12-29, before the win:
///   -4 (staffed before it was won, reported, not hidden); T01 on 2026-01-05 (3).
/// - 006D -> P5, won 2025-12-15: created 2025-12-22 (7); no hard allocation; T16 (E4, a contingent
///   worker's approved time counts) on 2026-01-05: 16 days to the end of December + 5 = 21.
/// - 9001 -> P3, won 2026-01-10: created 2026-01-24 (14); T15 on 2026-01-15 (5).
/// - 9002 -> P6, won 2026-01-03: created 2026-04-01, after as_of: not reached (NULL); A2 is soft:
///   no hard allocation; T10 on 2026-01-06 (3).
/// - 9004 has no ERP project: every step NULL.
#[tokio::test]
async fn set_up_cycle_time_from_the_win() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT opportunity_id, coalesce(project_id, '-'), practice, CAST(won_date AS VARCHAR), coalesce(CAST(project_created_date AS VARCHAR), '-'), coalesce(CAST(first_hard_allocation_date AS VARCHAR), '-'), coalesce(CAST(first_approved_time_date AS VARCHAR), '-'), coalesce(CAST(days_to_project AS VARCHAR), '-'), coalesce(CAST(days_to_staffed AS VARCHAR), '-'), coalesce(CAST(days_to_first_time AS VARCHAR), '-') FROM canonical.project_setup").await,
        vec![
            "006A|P1|Data|2026-01-05|2026-01-12|2026-03-16|2026-01-20|7|70|15",
            "006B|P2|Data|2026-01-02|2026-01-20|2025-12-29|2026-01-05|18|-4|3",
            "006D|P5|Data|2025-12-15|2025-12-22|-|2026-01-05|7|-|21",
            "9001|P3|Cloud|2026-01-10|2026-01-24|-|2026-01-15|14|-|5",
            "9002|P6|Data|2026-01-03|-|-|2026-01-06|-|-|3",
            "9004|-|Data|2026-01-15|-|-|-|-|-|-",
        ]
    );
}

/// Unbilled and overbilled work, per project and month with activity.
/// - P1 (USD, T&M), January only (its February lines are rejected): revenue 1500.00, invoiced
///   IL1 1500.00 (IL2 is voided): nothing unbilled; wip_days 0 / (1500 / 92) = 0.
/// - P5 (USD, fixed fee) was invoiced ahead of its work: INV-5 4000.00 on 2026-01-10. January
///   revenue 4000 x 50/100 = 2000.00: overbilled 4000 - 2000 = 2000.00, unbilled 0, wip_days 0.
///   February (completed): revenue to date 4000.00 = invoiced: 0 and 0.
/// - P6 (EUR, T&M). January at 1.10: revenue 1200 EUR = 1320.00, nothing invoiced: unbilled
///   1320.00; wip_days = 1200 / (1200 EUR over Nov+Dec+Jan = 30 + 31 + 31 = 92 days) = 92.
///   February at 1.20: revenue to date 1200 + 185.175 = 1385.175 EUR = 1662.21; invoiced IL3 100
///   EUR = 120.00; unbilled 1285.175 x 1.20 = 1542.21; wip_days = 1285.175 / (1385.175 / (31 + 31
///   + 28 = 90)) = 115665.75 / 1385.175 = 83.50262.. -> 83.502626 (the exact revenue, not the
///   rounded 185.18).
#[tokio::test]
async fn unbilled_work_and_a_project_invoiced_ahead_of_its_work() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(month AS VARCHAR), CAST(revenue_to_date_usd AS VARCHAR), CAST(invoiced_to_date_usd AS VARCHAR), CAST(unbilled_usd AS VARCHAR), CAST(overbilled_usd AS VARCHAR), coalesce(CAST(wip_days AS VARCHAR), '-') FROM canonical.billing WHERE project_id IN ('P1', 'P5', 'P6')").await,
        vec![
            "P1|2026-01-01|1500.00|1500.00|0.00|0.00|0.0",
            "P5|2026-01-01|2000.00|4000.00|0.00|2000.00|0.0",
            "P5|2026-02-01|4000.00|4000.00|0.00|0.00|0.0",
            "P6|2026-01-01|1320.00|0.00|1320.00|0.00|92.0",
            "P6|2026-02-01|1662.21|120.00|1542.21|0.00|83.502626",
        ]
    );
}

/// Forecast accuracy, built with history_start 2025-10-01 (as_of 2026-03-18): the snapshots are
/// 2025-10-31 (horizon 2026-01-31) and 2025-11-30 (horizon 2026-02-28); 2025-12-31's horizon
/// 2026-03-31 is after as_of. Rates at the snapshot's month: EUR 1.05 (October), 1.08 (November).
///
/// Won bookings: 006A 1000 (2026-01-05), 006B 10000 (2026-01-02), 006C 2000 (2026-02-15, a change
/// order: every won event counts), 006D 4000 (2025-12-15), 9002 20000 EUR (2026-01-03), 9004 3000
/// (2026-01-15), all Data; 9001 5000 EUR (2026-01-10), Cloud.
///
/// At 2025-10-31 (each opportunity as its latest history row at or before the end of that day):
/// - 006A Prospecting 10 %, close 2026-01-05: 1000 x 0.10 = 100; 006B Negotiation 90 %, close
///   2025-12-20: 9000; 006D closes 2026-02-15 as of then, outside the window (it slipped in later
///   and was won 2025-12-15: in the actual, not the forecast); 006E Qualification 20 %, close
///   2026-01-15: 1800 (it slipped to April after the snapshot: still counted by its as-of-s date);
///   006F is deleted: nowhere; 9004 contractsent at 18:00 UTC on the snapshot day, 90 %, close
///   2025-12-31: 2700; 9002 does not exist yet; 9003 is closedlost.
///   Data forecast 100 + 9000 + 1800 + 2700 = 13600; actual 1000 + 10000 + 4000 + 20000 x 1.05
///   + 3000 = 39000; accuracy 1 - 25400 / 39000 = 0.348718.
/// - Cloud: 9001 qualifiedtobuy 50 %, 5000 EUR: 5000 x 0.5 x 1.05 = 2625 against 5000 x 1.05 =
///   5250: the forecast was half the actual, accuracy 1 - 2625 / 5250 = 0.5.
/// - Firm: 16225 against 44250: 1 - 28025 / 44250 = 11/30 = 0.366667 (a ratio of sums, not the
///   mean of the practices' accuracies).
///
/// At 2025-11-30: 006A 100; 006B 9000 (its slip to 2026-01-02 came on 2025-12-01); 006D 50 % of
/// 4000, close 2026-02-15 now inside the window: 2000; 006E 1800; 9002 presentationscheduled 60 %,
/// 20000 EUR: 20000 x 0.6 x 1.08 = 12960; 9004 2700 (close 2025-12-31 as of then). Data 28560
/// against 1000 + 10000 + 2000 + 4000 + 20000 x 1.08 + 3000 = 41600: 1 - 13040 / 41600 =
/// 0.686538. Cloud 2700 against 5400: 0.5. Firm 31260 against 47000: 1 - 15740 / 47000 = 0.665106.
#[tokio::test]
async fn forecast_accuracy_against_won_bookings() {
    let (_dir, lake) = landed_firm().await;
    build(&lake, "build-1", AS_OF, "2025-10-01").await;
    assert_eq!(
        rows(&lake, "SELECT CAST(snapshot_date AS VARCHAR), coalesce(practice, '-'), CAST(weighted_forecast_usd AS VARCHAR), CAST(actual_won_usd AS VARCHAR), coalesce(CAST(accuracy AS VARCHAR), '-') FROM canonical.forecast_accuracy").await,
        vec![
            "2025-10-31|-|16225.00|44250.00|0.366667",
            "2025-10-31|Cloud|2625.00|5250.00|0.5",
            "2025-10-31|Data|13600.00|39000.00|0.348718",
            "2025-11-30|-|31260.00|47000.00|0.665106",
            "2025-11-30|Cloud|2700.00|5400.00|0.5",
            "2025-11-30|Data|28560.00|41600.00|0.686538",
        ]
    );
}
