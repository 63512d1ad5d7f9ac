//! Hand-worked formula tests: the repository's own `sql/` and `models/` built over a tiny firm
//! (`tests/data/formulas/`), every expected number worked out by hand in the comments.
//!
//! The firm (as_of 2026-03-18, a Wednesday; history_start 2026-01-01, a Thursday):
//!
//! - FX (USD per unit): EUR 2026-01 1.10, 2026-02 1.20, 2026-03 1.25; GBP 2026-01 1.30 only.
//! - Employees: E1 full time 40 h/week, US, cost 50 USD/h; E2 part time 20 h/week, DE, cost 40
//!   EUR/h; E3 40 h/week, US, hired Wed 2026-01-14 and terminated Fri 2026-01-16; E4 a contingent
//!   worker (never in utilization or capacity), cost 60 USD/h. Kantata users U1..U4 map to them,
//!   U9 to an unknown employee E99.
//! - US holidays 2026-01-01, 2026-01-19, 2026-05-25; DE holiday 2026-04-03.
//! - Projects: P1 T&M USD (opp 006A, 1000 USD); P2 fixed fee USD, budget 120 h (opp 006B 10000 USD
//!   won 2026-01-02, change order 006C 2000 USD won 2026-02-15); P3 milestone EUR (HubSpot deal 9001,
//!   5000 EUR won 2026-01-10); P5 fixed fee USD, completed, end 2026-02-20, budget 100 h (opp 006D
//!   4000 USD won 2025-12-15); P6 T&M EUR (deal 9002, 20000 EUR won 2026-01-03). Deal 9004 (3000
//!   USD, won 2026-01-15) has no ERP project.

mod day24;
mod fx;
mod helpers;
mod history;

use helpers::*;

/// FX conversion and T&M revenue.
///
/// P6 (EUR, T&M), E2's approved billable entries:
/// - T10 2026-01-06: 600 min at 12000 cents = 600 x 12000 / 6000 = 1200.00 EUR; x 1.10 = 1320.00 USD.
/// - T11 2026-02-03: 90 min at 12345 cents = 90 x 12345 / 6000 = 185.175 EUR (local rounds half-up
///   to 185.18); x 1.20 = 222.21 USD exactly. Revenue hours: 1.5.
/// - T12..T14 (non-billable) add no revenue.
///
/// P1 (USD, T&M), January: T03 600 min at 15000 cents = 1500.00 USD; T04 (submitted) and T05
/// (non-billable) add nothing; hours 10.
#[tokio::test]
async fn fx_conversion_and_time_and_materials_revenue() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(month AS VARCHAR), billing_type, CAST(revenue_local AS VARCHAR), currency, CAST(revenue_usd AS VARCHAR), hours FROM canonical.revenue WHERE project_id IN ('P1', 'P6')").await,
        vec![
            "P1|2026-01-01|time_and_materials|1500.00|USD|1500.00|10.0",
            "P6|2026-01-01|time_and_materials|1200.00|EUR|1320.00|10.0",
            "P6|2026-02-01|time_and_materials|185.18|EUR|222.21|1.5",
        ]
    );
    // fct_time_entry: bill 185.175 x 1.20 = 222.21; cost 1.5 h x 40 EUR x 1.20 = 72.00 USD.
    // Amounts are computed for every conformed entry: T12 is non-billable, its bill amount is still
    // 10 h x 120 EUR x 1.20 = 1440.00 (revenue leaves it out); cost 10 h x 40 x 1.20 = 480.00.
    // T04 is submitted: 1 h x 150 = 150.00, cost 1 h x 50 = 50.00.
    assert_eq!(
        rows(&firm.lake, "SELECT time_entry_id, CAST(bill_rate AS VARCHAR), CAST(bill_amount_usd AS VARCHAR), CAST(cost_amount_usd AS VARCHAR), time_state FROM canonical.fct_time_entry WHERE time_entry_id IN ('T10', 'T11', 'T12', 'T04')").await,
        vec![
            "T04|150.00|150.00|50.00|submitted",
            "T10|120.00|1320.00|440.00|approved",
            "T11|123.45|222.21|72.00|approved",
            "T12|120.00|1440.00|480.00|approved",
        ]
    );
}

/// Part-time staff, and a hire and a termination inside one week.
///
/// E2 works 20 h/week: 20 / 5 = 4 h a working day. Week of 2026-01-05: 5 x 4 = 20 h capacity;
/// T10 600 min billable = 10 h, so billable = productive = 10 / 20 = 0.5.
///
/// E3 is hired Wed 2026-01-14 and terminated Fri 2026-01-16: only Wed, Thu, Fri of the week of
/// 2026-01-12 count, 3 x 8 = 24 h; T15 480 min billable = 8 h, 8 / 24 = 0.333.. . E3 has no other
/// week (R06 on 2026-01-19 is rejected as outside the employment).
#[tokio::test]
async fn part_time_staff_and_hire_and_termination_in_one_week() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT employee_id, CAST(week_start AS VARCHAR), practice, capacity_hours, billable_hours, nonbillable_hours, round(billable_utilization, 6), round(productive_utilization, 6) FROM canonical.utilization WHERE (employee_id = 'E2' AND week_start = DATE '2026-01-05') OR employee_id = 'E3'").await,
        vec![
            "E2|2026-01-05|Data|20.0|10.0|0.0|0.5|0.5",
            "E3|2026-01-12|Cloud|24.0|8.0|0.0|0.333333|0.333333",
        ]
    );
    // E4 is a contingent worker: never in utilization.
    assert!(
        rows(
            &firm.lake,
            "SELECT employee_id FROM canonical.utilization WHERE employee_id = 'E4'"
        )
        .await
        .is_empty()
    );
}

/// A holiday and time off on the same day; history_start cutting a week.
///
/// E1, week of 2026-01-19: Mon 19 is a US holiday (8 h removed) and also has 8 h of approved time
/// off, which removes nothing more; Tue 20 has 4 h approved time off; Wed 21 has 8 h SUBMITTED time
/// off (ignored). Capacity = 0 + 4 + 8 + 8 + 8 = 28; holiday 8; time off 4.
/// Approved hours: T03 10 h billable (Tue), T05 2 h non-billable on Saturday 24th (weekend hours
/// count); T04 is submitted. billable = 10 / 28 = 0.357143, productive = 12 / 28 = 0.428571.
///
/// Week of 2025-12-29 overlaps history_start (Thu 2026-01-01): only Thu 1 (US holiday) and Fri 2
/// count: capacity 8, holiday 8.
#[tokio::test]
async fn holiday_and_time_off_on_the_same_day() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT CAST(week_start AS VARCHAR), capacity_hours, holiday_hours, time_off_hours, billable_hours, nonbillable_hours, round(billable_utilization, 6), round(productive_utilization, 6) FROM canonical.utilization WHERE employee_id = 'E1' AND week_start IN (DATE '2025-12-29', DATE '2026-01-19', DATE '2026-03-16')").await,
        vec![
            // as_of is Wed 2026-03-18: 3 working days of 8 h
            "2025-12-29|8.0|8.0|0.0|0.0|0.0|0.0|0.0",
            "2026-01-19|28.0|8.0|4.0|10.0|2.0|0.357143|0.428571",
            "2026-03-16|24.0|0.0|0.0|0.0|0.0|0.0|0.0",
        ]
    );
}

/// Fixed-fee percent complete with a change order, and the completed rule.
///
/// P2: budget 120 h. Approved hours (billable or not): Jan 20 h (T01, T02), Feb 30 h (T06..T08),
/// Mar 10 h (T09, by E2). Contract: 10000 from 2026-01-02, + 2000 (change order 006C, through its
/// parent 006B) from 2026-02-15.
/// - Jan: 10000 x 20/120 - 0 = 1666.666.. -> 1666.67
/// - Feb: 12000 x 50/120 - 1666.666.. = 5000 - 1666.666.. = 3333.333.. -> 3333.33
/// - Mar: 12000 x 60/120 - 5000 = 1000.00
/// (the three rounded cells add up to 6000.00 = 12000 x 0.5: the catch-up is exact).
///
/// P5: budget 100 h, 50 h in January by the contingent worker E4 (non-billable: still progress;
/// its workspace W5 is archived, a closed project, and its time counts all the same),
/// contract 4000 (won 2025-12-15). Jan: 4000 x 0.5 = 2000.00. Feb: no hours, but the project is
/// completed and 2026-02-28 >= its end date 2026-02-20, so pct = 1: 4000 - 2000 = 2000.00.
#[tokio::test]
async fn fixed_fee_percent_complete_with_a_change_order() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(month AS VARCHAR), billing_type, CAST(revenue_usd AS VARCHAR), hours FROM canonical.revenue WHERE project_id IN ('P2', 'P5')").await,
        vec![
            "P2|2026-01-01|fixed_fee|1666.67|20.0",
            "P2|2026-02-01|fixed_fee|3333.33|30.0",
            "P2|2026-03-01|fixed_fee|1000.00|10.0",
            "P5|2026-01-01|fixed_fee|2000.00|0.0",
            "P5|2026-02-01|fixed_fee|2000.00|0.0",
        ]
    );
}

/// Milestone acceptance.
///
/// P3 (EUR, milestone): S1 accepted, `accepted_at` 2026-02-28T23:30Z, 300000 cents = 3000.00 EUR
/// in February (the date written), x 1.20 = 3600.00 USD. S2 is completed, not accepted; S3 is a
/// task; S4 is a milestone on a T&M project: none counts. S5 is S1 entered twice (accepted
/// 2026-02-27, 250000 cents) and deleted in Kantata (`deleted_at` 2026-02-28T09:00Z): a deleted
/// story is no revenue (SPEC section 2); counted, February would be 3000 + 2500 = 5500.00 EUR =
/// 6600.00 USD. January has a row (8 h of cost) with 0.
#[tokio::test]
async fn milestone_acceptance() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(month AS VARCHAR), CAST(revenue_local AS VARCHAR), currency, CAST(revenue_usd AS VARCHAR) FROM canonical.revenue WHERE project_id = 'P3'").await,
        vec!["P3|2026-01-01|0.00|EUR|0.00", "P3|2026-02-01|3000.00|EUR|3600.00"]
    );
}

/// Backlog: an overrun, a fixed fee, FX at the snapshot month, a completed project.
///
/// Snapshots: 2026-01-31, 2026-02-28, then as_of 2026-03-18.
/// - P1 (T&M): contract 1000, revenue 1500 -> backlog 0, overrun 500, `estimated`.
/// - P2: Jan 31: 10000 - 1666.666.. = 8333.33; Feb 28: 12000 - 5000 = 7000; Mar 18: 12000 - 6000.
/// - P3 (EUR): contract 5000 EUR; revenue to date 0, then 3000 EUR. Jan 31 at 1.10: 5500.00, 0,
///   5500.00; Feb 28 at 1.20: 6000.00, 3600.00, 2400.00; Mar 18 at 1.25: 6250.00, 3750.00, 2500.00.
/// - P5: completed; Feb 28 >= end date: contract 4000, revenue 4000, backlog 0.
/// - Deal 9004 has no ERP project: no backlog row.
#[tokio::test]
async fn backlog_with_an_overrun() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(snapshot_date AS VARCHAR), CAST(contract_usd AS VARCHAR), CAST(revenue_to_date_usd AS VARCHAR), CAST(backlog_usd AS VARCHAR), CAST(overrun_usd AS VARCHAR), backlog_quality FROM canonical.backlog WHERE project_id IN ('P1', 'P2', 'P3', 'P5')").await,
        vec![
            "P1|2026-01-31|1000.00|1500.00|0.00|500.00|estimated",
            "P1|2026-02-28|1000.00|1500.00|0.00|500.00|estimated",
            "P1|2026-03-18|1000.00|1500.00|0.00|500.00|estimated",
            "P2|2026-01-31|10000.00|1666.67|8333.33|0.00|contracted",
            "P2|2026-02-28|12000.00|5000.00|7000.00|0.00|contracted",
            "P2|2026-03-18|12000.00|6000.00|6000.00|0.00|contracted",
            "P3|2026-01-31|5500.00|0.00|5500.00|0.00|contracted",
            "P3|2026-02-28|6000.00|3600.00|2400.00|0.00|contracted",
            "P3|2026-03-18|6250.00|3750.00|2500.00|0.00|contracted",
            "P5|2026-01-31|4000.00|2000.00|2000.00|0.00|contracted",
            "P5|2026-02-28|4000.00|4000.00|0.00|0.00|contracted",
            "P5|2026-03-18|4000.00|4000.00|0.00|0.00|contracted",
        ]
    );
}

/// Margin.
///
/// P1, January: revenue 1500.00; labour = approved hours (T03 10 h + T05 2 h, billable or not;
/// T04 submitted excluded) x 50 = 600.00; expense EX1 200.00; margin 1500 - 600 - 200 = 700.00,
/// 700 / 1500 = 0.466667; invoiced IL1 1500.00 (IL2 is voided); hours 12.
///
/// P6, February (EUR at 1.20): revenue 222.21; labour (1.5 + 3 x 10) h x 40 EUR = 1260 EUR =
/// 1512.00 USD; expense 50 EUR = 60.00; margin 222.21 - 1512 - 60 = -1349.79; invoiced 100 EUR =
/// 120.00; hours 31.5.
///
/// P3, January: no revenue, labour 8 h x 30 (E3) = 240.00: margin -240.00, pct NULL.
#[tokio::test]
async fn margin() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(month AS VARCHAR), CAST(revenue_usd AS VARCHAR), CAST(labor_cost_usd AS VARCHAR), CAST(expense_usd AS VARCHAR), CAST(gross_margin_usd AS VARCHAR), CAST(round(gross_margin_pct, 6) AS VARCHAR), CAST(invoiced_usd AS VARCHAR), hours FROM canonical.margin WHERE concat(project_id, ' ', CAST(month AS VARCHAR)) IN ('P1 2026-01-01', 'P6 2026-02-01', 'P3 2026-01-01')").await,
        vec![
            "P1|2026-01-01|1500.00|600.00|200.00|700.00|0.466667|1500.00|12.0",
            "P3|2026-01-01|0.00|240.00|0.00|-240.00||0.00|8.0",
            "P6|2026-02-01|222.21|1512.00|60.00|-1349.79|-6.074389|120.00|31.5",
        ]
    );
}

/// Kantata as it is (SPEC section 2): the deleted story S5 (`deleted_at` set) lands but earns
/// nothing (P3's revenue over all months is S1's 3000.00 EUR; with S5 it would be 5500.00), and
/// the archived workspace W5 stays linked to P5 with its time (T16..T20, 5 x 600 min = 50 h).
/// (Allocations through workspace resources, `hard` false tentative: `capacity_plan_spread`.)
#[tokio::test]
async fn deleted_stories_earn_nothing_and_archived_workspaces_keep_their_time() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT id, CAST(deleted_at AS VARCHAR) FROM raw.kantata_stories WHERE deleted_at IS NOT NULL").await,
        vec!["S5|2026-02-28T09:00:00Z"]
    );
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, CAST(sum(revenue_local) AS VARCHAR) FROM canonical.revenue WHERE project_id = 'P3' GROUP BY project_id").await,
        vec!["P3|3000.00"]
    );
    assert_eq!(
        rows(
            &firm.lake,
            "SELECT project_id, psa_workspace_id FROM canonical.dim_project WHERE project_id = 'P5'"
        )
        .await,
        vec!["P5|W5"]
    );
    assert_eq!(
        rows(&firm.lake, "SELECT project_id, count(*), sum(hours) FROM canonical.fct_time_entry WHERE project_id = 'P5' GROUP BY project_id").await,
        vec!["P5|5|50.0"]
    );
}

/// Capacity plan: spread of allocations and pipeline over the 12 weeks after as_of.
///
/// The window starts Mon 2026-03-23 (the first Monday after Wed 2026-03-18). Practice Data has the
/// employees E1 (40 h) and E2 (20 h); E4 is contingent.
/// - Week 03-23: capacity 40 - 8 (E1 approved time off Tue 24) + 20 (E2's submitted time off does
///   not count) = 52. Hard A1 (`hard` true; workspace resource R1: E1 on W1): 4800 min = 80 h
///   over the 10 working days 03-16..03-27 = 8 h/day, 5 days in the window = 40. Soft A2 (`hard`
///   false: tentative; R2: E2 on W6): 1200 min = 20 h over 03-23..04-03 (10 days) = 2 h/day: 10.
///   Unallocated 52 - 40 = 12; gap 40 + 10 + 0 - 52 = -2.
/// - Week 03-30: capacity 40 + (20 - 4, DE holiday Fri 04-03) = 56; soft 10; pipeline 006E:
///   100 h x 50% = 50 h over 03-30..04-10 (10 days) = 5 h/day: 25 (the deleted 006F, the lost
///   9003 and the won deals count nothing). Gap 0 + 10 + 25 - 56 = -21.
/// - Week 04-06: capacity 60, pipeline 25, gap -35. Week 05-25: E1 US holiday: 52.
#[tokio::test]
async fn capacity_plan_spread() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT practice, CAST(week_start AS VARCHAR), capacity_hours, hard_allocated_hours, soft_allocated_hours, weighted_pipeline_hours, unallocated_hours, demand_gap_hours FROM canonical.capacity_plan WHERE week_start IN (DATE '2026-03-23', DATE '2026-03-30', DATE '2026-04-06', DATE '2026-05-25')").await,
        vec![
            "Data|2026-03-23|52.0|40.0|10.0|0.0|12.0|-2.0",
            "Data|2026-03-30|56.0|0.0|10.0|25.0|56.0|-21.0",
            "Data|2026-04-06|60.0|0.0|0.0|25.0|60.0|-35.0",
            "Data|2026-05-25|52.0|0.0|0.0|0.0|52.0|-52.0",
        ]
    );
    assert_eq!(
        rows(&firm.lake, "SELECT count(*), count(DISTINCT week_start), CAST(min(week_start) AS VARCHAR), CAST(max(week_start) AS VARCHAR) FROM canonical.capacity_plan").await,
        vec!["12|12|2026-03-23|2026-06-08"]
    );
}

/// Each row rule, under the first rule failed, and only passing entries published.
///
/// R01 workspace W99 unknown; R02 workspace W7 whose PRJ-999 is no ERP project; R03 user U9 maps
/// to no employee (also 0 minutes, but unknown employee comes first); R04 0 minutes; R05 1500
/// minutes (> 24 h); R06 E3 after termination; R07 GBP in February (GBP has a January rate only);
/// R08 + R09 E4's 800 + 800 approved minutes on 2026-01-12 = 26.7 h > 24 h (both rejected).
/// The NetSuite expense line EX3 is in GBP in February (no rate): rejected, and P1 gets no
/// February margin row from it.
#[tokio::test]
async fn each_row_rule_rejects() {
    let firm = firm().await;
    assert_eq!(
        rows(
            &firm.lake,
            "SELECT key, system, stream, rule FROM _pslake.rejects WHERE stream = 'time_entries'"
        )
        .await,
        vec![
            "R01|kantata|time_entries|unknown_project",
            "R02|kantata|time_entries|unknown_project",
            "R03|kantata|time_entries|unknown_employee",
            "R04|kantata|time_entries|hours_out_of_range",
            "R05|kantata|time_entries|hours_out_of_range",
            "R06|kantata|time_entries|outside_employment",
            "R07|kantata|time_entries|no_fx_rate",
            "R08|kantata|time_entries|over_24_hours_per_day",
            "R09|kantata|time_entries|over_24_hours_per_day",
        ]
    );
    assert_eq!(
        rows(&firm.lake, "SELECT system, stream, key, rule, field, value, message FROM _pslake.rejects WHERE system = 'netsuite' OR key = 'R07'").await,
        vec![
            "kantata|time_entries|R07|no_fx_rate|currency|GBP|no FX rate for the currency GBP in 2026-02",
            "netsuite|expense_line|EX3|no_fx_rate|currency|GBP|no FX rate for the currency GBP in 2026-02",
        ]
    );
    assert!(
        rows(
            &firm.lake,
            "SELECT * FROM canonical.margin WHERE project_id = 'P1' AND month = DATE '2026-02-01'"
        )
        .await
        .is_empty()
    );
    // the reject carries the original record of the landing staging kept
    assert_eq!(
        rows(
            &firm.lake,
            "SELECT _raw FROM _pslake.rejects WHERE key = 'R05'"
        )
        .await,
        vec![r#"{"id":"R05"}"#]
    );
    // landed = conformed + rejected: 29 = 20 + 9
    assert_eq!(
        rows(&firm.lake, "SELECT count(*) FROM canonical.fct_time_entry").await,
        vec!["20"]
    );
    assert_eq!(
        rows(
            &firm.lake,
            "SELECT count(*) FROM canonical.fct_time_entry WHERE time_entry_id LIKE 'R%'"
        )
        .await,
        vec!["0"]
    );
}

/// Warnings: deal 9004 won 2026-01-15 with no ERP project 62 days later; E2's week of 2026-02-02
/// (1.5 + 30 = 31.5 approved hours / 20 h capacity = 157.5%); T04 submitted on 2026-01-21, 56 days
/// before as_of.
#[tokio::test]
async fn warnings() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT rule, key FROM _pslake.warnings WHERE rule IN ('won_booking_without_project', 'utilization_over_150_percent', 'stale_submitted_time')").await,
        vec![
            "stale_submitted_time|T04",
            "utilization_over_150_percent|E2:2026-02-02",
            "won_booking_without_project|9004",
        ]
    );
}

/// Bookings of the first build: one `won` event per won opportunity at its close date; the change
/// order 006C belongs to P2 through its parent 006B; 9001 converts 5000 EUR at January's 1.10 =
/// 5500.00; 9004 has no ERP project (NULL) but has its customer C2; open, lost and deleted
/// opportunities are no bookings.
#[tokio::test]
async fn bookings_first_build() {
    let firm = firm().await;
    assert_eq!(
        rows(&firm.lake, "SELECT booking_id, event_type, CAST(booking_date AS VARCHAR), booking_type, coalesce(customer_id, '-'), coalesce(project_id, '-'), CAST(amount_local AS VARCHAR), currency, CAST(amount_usd AS VARCHAR) FROM canonical.bookings").await,
        vec![
            "006A:1|won|2026-01-05|new_business|C1|P1|1000.00|USD|1000.00",
            "006B:1|won|2026-01-02|new_business|C1|P2|10000.00|USD|10000.00",
            "006C:1|won|2026-02-15|change_order|C1|P2|2000.00|USD|2000.00",
            "006D:1|won|2025-12-15|new_business|C1|P5|4000.00|USD|4000.00",
            "9001:1|won|2026-01-10|new_business|C2|P3|5000.00|EUR|5500.00",
            "9002:1|won|2026-01-03|new_business|C2|P6|20000.00|EUR|22000.00",
            "9004:1|won|2026-01-15|new_business|C2|-|3000.00|USD|3000.00",
        ]
    );
}

/// A deal reopened after it was won, an amount change and a deal gone, seen by a second build
/// after the raw data changed (`tests/data/formulas_run2/`), with as_of 2026-03-20:
/// - 006A reopened (IsWon false, SystemModstamp 2026-03-20): debook -1000.00 dated 2026-03-20.
/// - 006C amount 2000 -> 2500 (modified 2026-03-19): amount_change +500.00 dated 2026-03-19.
/// - 9002 no longer in the HubSpot snapshot: debook -20000 EUR dated as_of 2026-03-20, converted
///   at March's 1.25 = -25000.00.
///
/// P2's March revenue becomes 12500 x 60/120 - 5000 = 1250.00. A third build on the same data
/// adds no event.
#[tokio::test]
async fn a_deal_reopened_after_it_was_won_is_debooked() {
    let (_dir, lake) = landed_firm().await;
    build(&lake, "build-1", "2026-03-18", HISTORY_START).await;
    let dir2 = data_dir("formulas_run2");
    land(
        &lake,
        &dir2.join("append"),
        "land-2",
        "2026-03-20T06:00:00Z",
        Landing::Append,
    )
    .await;
    land(
        &lake,
        &dir2.join("replace"),
        "land-2",
        "2026-03-20T06:00:00Z",
        Landing::Replace,
    )
    .await;
    build(&lake, "build-2", "2026-03-20", HISTORY_START).await;
    let query = "SELECT booking_id, event_type, CAST(booking_date AS VARCHAR), coalesce(project_id, '-'), CAST(amount_local AS VARCHAR), CAST(amount_usd AS VARCHAR) FROM canonical.bookings WHERE opportunity_id IN ('006A', '006C', '9002')";
    let expected = vec![
        "006A:1|won|2026-01-05|P1|1000.00|1000.00",
        "006A:2|debook|2026-03-20|P1|-1000.00|-1000.00",
        "006C:1|won|2026-02-15|P2|2000.00|2000.00",
        "006C:2|amount_change|2026-03-19|P2|500.00|500.00",
        "9002:1|won|2026-01-03|P6|20000.00|22000.00",
        "9002:2|debook|2026-03-20|P6|-20000.00|-25000.00",
    ];
    assert_eq!(rows(&lake, query).await, expected);
    assert_eq!(
        rows(&lake, "SELECT CAST(revenue_usd AS VARCHAR) FROM canonical.revenue WHERE project_id = 'P2' AND month = DATE '2026-03-01'").await,
        vec!["1250.00"]
    );
    // P1 after the debook: contract 0, revenue 1500: overrun 1500 at as_of.
    assert_eq!(
        rows(&lake, "SELECT CAST(contract_usd AS VARCHAR), CAST(backlog_usd AS VARCHAR), CAST(overrun_usd AS VARCHAR) FROM canonical.backlog WHERE project_id = 'P1' AND snapshot_date = DATE '2026-03-20'").await,
        vec!["0.00|0.00|1500.00"]
    );
    build(&lake, "build-3", "2026-03-20", HISTORY_START).await;
    assert_eq!(rows(&lake, query).await, expected);
    assert_eq!(
        rows(&lake, "SELECT count(*) FROM canonical.bookings").await,
        vec!["10"]
    );
}

/// Table rules fail the build with the offending values, and the previously published tables
/// stay readable: `tests/data/<dir>/` is landed over the built firm, the next build must fail
/// naming every needle.
async fn table_rule_fails_the_build(dir: &str, needles: &[&str]) {
    let (_dir, lake) = landed_firm().await;
    build(&lake, "build-1", AS_OF, HISTORY_START).await;
    land(
        &lake,
        &data_dir(dir),
        "land-2",
        "2026-03-19T06:00:00Z",
        Landing::Append,
    )
    .await;
    let report = try_build(&lake, "build-2", AS_OF, HISTORY_START).await;
    assert!(!report.is_success(), "the build must fail:\n{report}");
    let text = report.to_string();
    for needle in needles {
        assert!(text.contains(needle), "the report names {needle}:\n{text}");
    }
    assert_eq!(
        rows(&lake, "SELECT project_id, project_status, budget_hours FROM canonical.dim_project WHERE project_id IN ('P1', 'P2')").await,
        vec!["P1|active|100.0", "P2|active|120.0"]
    );
}

/// Job P1 lands with entitystatus `7`, which no seed maps.
#[tokio::test]
async fn unmapped_lifecycle_value_fails_the_build() {
    table_rule_fails_the_build("formulas_unmapped", &["netsuite.entitystatus = '7'"]).await;
}

/// The fixed-fee job P2 lands without budget hours.
#[tokio::test]
async fn fixed_fee_project_without_budget_hours_fails_the_build() {
    table_rule_fails_the_build(
        "formulas_no_budget",
        &["fixed_fee_project_without_budget_hours", "P2"],
    )
    .await;
}

/// Staging keeps the latest landing per key, and only the latest Workday report snapshot.
///
/// `tests/data/formulas_relanded/` lands T03 again with 660 minutes (11 h x 150 = 1650.00) and a
/// Workers report without E3 in which E2 moved to the Cloud practice.
#[tokio::test]
async fn staging_keeps_the_latest_landing_and_the_latest_report() {
    let (_dir, lake) = landed_firm().await;
    land(
        &lake,
        &data_dir("formulas_relanded"),
        "land-2",
        "2026-03-19T06:00:00Z",
        Landing::Append,
    )
    .await;
    build(&lake, "build-1", AS_OF, HISTORY_START).await;
    assert_eq!(
        rows(&lake, "SELECT time_entry_id, hours, CAST(bill_amount_usd AS VARCHAR) FROM canonical.fct_time_entry WHERE time_entry_id = 'T03'").await,
        vec!["T03|11.0|1650.00"]
    );
    assert_eq!(
        rows(
            &lake,
            "SELECT employee_id, practice FROM canonical.dim_employee"
        )
        .await,
        vec!["E1|Data", "E2|Cloud", "E4|Data"]
    );
    // E3's entry now has no employee
    assert_eq!(
        rows(
            &lake,
            "SELECT key, rule FROM _pslake.rejects WHERE key = 'T15'"
        )
        .await,
        vec!["T15|unknown_employee"]
    );
}

/// NetSuite's ledger shape (`tests/data/formulas_ns_lines/`): an invoice INV-20 on P1 (USD,
/// 2026-02-27) with a mainline (the receivable, +1380.00), two income lines (-700.00 with P1 on
/// the line, -500.00 with no entity: the job is the header's P1) and a taxline (-180.00); an
/// expense report ER-21 (employee E1 on the header) with a mainline (-45.00) and an expense line
/// of 45.00 on P1; and a journal JE-22 with a 999.00 line on P1, neither invoice nor expense.
///
/// P1 had no February margin row (EX3, its only February line, is rejected). Now:
/// invoiced = -(-700.00) + -(-500.00) = 1200.00 (the mainline's 1380.00 and the taxline's 180.00
/// are not invoiced revenue, and the sign is NetSuite's: income lines are negative);
/// expense = 45.00 (the mainline's -45.00 is the payable, not an expense); the journal adds
/// nothing. No NetSuite line of these is rejected.
#[tokio::test]
async fn netsuite_lines_exclude_mainline_and_taxline_and_flip_the_invoice_sign() {
    let (_dir, lake) = built_firm_with(&data_dir("formulas_ns_lines"), "land-2").await;
    assert_eq!(
        rows(
            &lake,
            "SELECT CAST(invoiced_usd AS VARCHAR), CAST(expense_usd AS VARCHAR) FROM canonical.margin \
             WHERE project_id = 'P1' AND month = DATE '2026-02-01'"
        )
        .await,
        vec!["1200.00|45.00"]
    );
    assert_eq!(
        rows(
            &lake,
            "SELECT key FROM _pslake.rejects WHERE system = 'netsuite' AND _run_id = 'build-1'"
        )
        .await,
        vec!["EX3"]
    );
}
