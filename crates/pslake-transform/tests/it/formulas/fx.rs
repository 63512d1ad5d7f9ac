//! Missing FX rates, work in another currency than its project's, unknown keys and the as_of
//! window (SPEC 4 exact rules, SPEC 5): the firm of `tests/data/formulas/` plus
//! `tests/data/formulas_fx/run1/`, built with as_of 2026-03-18; then `run2/` brings the missing
//! March rates and a second build fills in what waited for them.
//!
//! Added to the firm (USD per unit): CAD 2026-01 0.75, 2026-02 0.80, no CAD rate for 2026-03 in
//! run 1 (0.85 in run 2); GBP has only 2026-01 in run 1 (2026-03 1.40 in run 2); EUR 2026-02 1.20,
//! 2026-03 1.25 as before.
//! - P7: T&M in CAD (workspace W70). E1 logs T70 (USD 100/h, 120 min), T71 (CAD 90/h, 60 min) in
//!   February, T72 (CAD, 60 min) and T73 (USD, 60 min) in March, T74 after as_of.
//! - P8: fixed fee in EUR, budget 100 h, sold by Salesforce opportunity 006H for 11000.00 USD (won
//!   2026-02-05) and its change order 006I for 1000.00 GBP (won 2026-03-05). E2 logs 5 x 600 min in
//!   February (T80..T84) and 600 min in March (T85).
//! - 006J (500 USD) is won with a close date after as_of.
//! - Invoice line IL9 is on job P99 (unknown), expense line EX9 has no job, EX10 is 40.00 CAD in
//!   March, EX11 is 25.00 USD on P7 in March, IL10 is dated after as_of; story S9 is on workspace
//!   W99 (unknown).

use super::helpers::*;

async fn fx_firm() -> (tempfile::TempDir, pslake_lake::Lake) {
    built_firm_with(&data_dir("formulas_fx").join("run1"), "land-fx-1").await
}

const REVENUE: &str = "SELECT project_id, CAST(month AS VARCHAR), coalesce(CAST(revenue_local AS VARCHAR), 'NULL'), currency, coalesce(CAST(revenue_usd AS VARCHAR), 'NULL'), hours FROM canonical.revenue WHERE project_id IN ('P7', 'P8')";
const BACKLOG: &str = "SELECT CAST(snapshot_date AS VARCHAR), coalesce(CAST(contract_usd AS VARCHAR), 'NULL'), coalesce(CAST(revenue_to_date_usd AS VARCHAR), 'NULL'), coalesce(CAST(backlog_usd AS VARCHAR), 'NULL') FROM canonical.backlog WHERE project_id = 'P8'";
const BOOKINGS: &str = "SELECT booking_id, event_type, coalesce(project_id, '-'), CAST(amount_local AS VARCHAR), currency, coalesce(CAST(amount_usd AS VARCHAR), 'NULL') FROM canonical.bookings WHERE opportunity_id IN ('006H', '006I', '006J')";

/// Run 1: March has no CAD rate and no GBP rate.
///
/// P7 (CAD, T&M), February: T70 is 120 min x 10000 cents / 6000 = 200.00 USD, in the project
/// currency 200 / 0.80 = 250.00 CAD; T71 is 60 x 9000 / 6000 = 90.00 CAD = 90 x 0.80 = 72.00 USD.
/// revenue_local 250 + 90 = 340.00 CAD, revenue_usd 200 + 72 = 272.00, hours 3.
/// March: T72 (CAD) needs the missing CAD rate for its own amount: rejected `no_fx_rate`. T73 is
/// 100.00 USD, but it counts in the project currency (CAD) through USD, which needs the missing
/// rate: rejected `no_fx_rate` too (SPEC: its own amount needs the rate), so P7 has no March row.
/// T74 is after as_of: nowhere, and not a reject.
///
/// P8 (EUR, fixed fee, budget 100 h = 6000 min): 006H's 11000 USD in EUR at February's rates is
/// 11000 x 1 / 1.20 = 9166.666.. EUR. February: 3000 of 6000 min -> 9166.666.. x 0.5 = 4583.333..
/// -> 4583.33 EUR, x 1.20 = 5500.00 USD. March: 006I (1000 GBP) has no March GBP rate, so the
/// contract at the end of March is unknown: revenue NULL (never 0), and the booking is published
/// with its local amount and a NULL amount_usd.
#[tokio::test]
async fn a_missing_rate_is_null_or_a_reject_never_zero() {
    let (_dir, lake) = fx_firm().await;
    assert_eq!(
        rows(&lake, REVENUE).await,
        vec![
            "P7|2026-02-01|340.00|CAD|272.00|3.0",
            "P8|2026-02-01|4583.33|EUR|5500.00|50.0",
            "P8|2026-03-01|NULL|EUR|NULL|10.0",
        ]
    );
    assert_eq!(
        rows(&lake, BOOKINGS).await,
        vec![
            "006H:1|won|P8|11000.00|USD|11000.00",
            "006I:1|won|P8|1000.00|GBP|NULL",
        ]
    );
    // Backlog of P8: at 2026-02-28 the contract is 9166.666.. EUR x 1.20 = 11000.00, revenue to
    // date 5500.00, backlog 5500.00; at as_of the contract includes the unconverted 006I: NULL.
    assert_eq!(
        rows(&lake, BACKLOG).await,
        vec![
            "2026-02-28|11000.00|5500.00|5500.00",
            "2026-03-18|NULL|NULL|NULL",
        ]
    );
    // Margin of P8: February labour 50 h x 40 EUR x 1.20 = 2400.00, margin 5500 - 2400 = 3100.00,
    // 3100 / 5500 = 0.5636363.. -> 0.563636. March: 10 h x 40 x 1.25 = 500.00 of labour, revenue
    // unknown, so the margin and its ratio are NULL.
    assert_eq!(
        rows(&lake, "SELECT CAST(month AS VARCHAR), coalesce(CAST(revenue_usd AS VARCHAR), 'NULL'), CAST(labor_cost_usd AS VARCHAR), coalesce(CAST(gross_margin_usd AS VARCHAR), 'NULL'), coalesce(CAST(gross_margin_pct AS VARCHAR), 'NULL') FROM canonical.margin WHERE project_id = 'P8'").await,
        vec![
            "2026-02-01|5500.00|2400.00|3100.00|0.563636",
            "2026-03-01|NULL|500.00|NULL|NULL",
        ]
    );
    // One warning per currency-month that a figure needed: March CAD (T72, P7's revenue in CAD),
    // March GBP (006I) and, from the firm itself, February GBP (R07 and EX3 rejected).
    assert_eq!(
        rows(&lake, "SELECT key FROM _pslake.warnings WHERE rule = 'missing_fx_rate' AND _run_id = 'build-1'").await,
        vec!["CAD:2026-03", "GBP:2026-02", "GBP:2026-03"]
    );
}

/// Unknown keys are rejected, never dropped; rows after as_of are neither published nor rejected.
///
/// Rejects of run 1 beyond the firm's own: IL9 (job P99 unknown) and EX9 (no job) under
/// `unknown_project`; EX10 (40.00 CAD in March), T72 (CAD) and T73 (USD on the CAD project) under
/// `no_fx_rate`, and so is EX11 (25.00 USD on P7 in March: in CAD it needs the missing rate); S9
/// (workspace W99)
/// under `unknown_workspace`. T74, IL10 (after as_of) and 006J (won 2026-03-30) are nowhere.
#[tokio::test]
async fn unknown_keys_are_rejected_and_later_rows_wait() {
    let (_dir, lake) = fx_firm().await;
    assert_eq!(
        rows(&lake, "SELECT stream, key, rule FROM _pslake.rejects WHERE _run_id = 'build-1' AND key IN ('IL9', 'EX9', 'EX10', 'EX11', 'T72', 'T73', 'T74', 'S9', 'IL10')").await,
        vec![
            "expense_line|EX10|no_fx_rate",
            "expense_line|EX11|no_fx_rate",
            "expense_line|EX9|unknown_project",
            "invoice_line|IL9|unknown_project",
            "stories|S9|unknown_workspace",
            "time_entries|T72|no_fx_rate",
            "time_entries|T73|no_fx_rate",
        ]
    );
    // EX11's reject names the currency whose rate is missing: its project's.
    assert_eq!(
        rows(
            &lake,
            "SELECT value FROM _pslake.rejects WHERE _run_id = 'build-1' AND key = 'EX11'"
        )
        .await,
        vec!["CAD"]
    );
    assert_eq!(
        rows(&lake, "SELECT time_entry_id FROM canonical.fct_time_entry WHERE time_entry_id IN ('T72', 'T73', 'T74')").await,
        Vec::<String>::new()
    );
    // P1's March margin has no invoice: IL10 (700.00, 2026-03-25) is after as_of.
    assert_eq!(
        rows(&lake, "SELECT CAST(invoiced_usd AS VARCHAR) FROM canonical.margin WHERE project_id = 'P1' AND month = DATE '2026-03-01'").await
            .into_iter().filter(|v| v != "0.00").count(),
        0
    );
    assert_eq!(
        rows(&lake, "SELECT source FROM _pslake.warnings WHERE rule = 'dated_after_as_of' AND _run_id = 'build-1'").await,
        vec!["bookings", "kantata.time_entries", "netsuite.invoice_line"]
    );
}

/// Hours are summed from minutes and rounded half-up to 4 places: T75 is 7 minutes on P1 in
/// February, 7 / 60 = 0.11666.. -> 0.1167; its bill amount 7 x 10000 / 6000 = 11.666.. -> 11.67.
#[tokio::test]
async fn hours_are_rounded_to_four_places() {
    let (_dir, lake) = fx_firm().await;
    assert_eq!(
        rows(&lake, "SELECT hours, CAST(bill_amount_usd AS VARCHAR) FROM canonical.fct_time_entry WHERE time_entry_id = 'T75'").await,
        vec!["0.1167|11.67"]
    );
}

/// Run 2 lands the March CAD (0.85) and GBP (1.40) rates, and the next build, with no full
/// refresh, brings back everything that waited.
///
/// - T72 and T73 conform: 90.00 CAD x 0.85 = 76.50 USD. P7 March: revenue_local = 90 + 100 / 0.85 =
///   90 + 117.647058.. = 207.647058.. -> 207.65 CAD; revenue_usd = 76.50 + 100 = 176.50; hours 2.
/// - 006I keeps its event (006I:1) and gets amount_usd 1000 x 1.40 = 1400.00.
/// - P8 contract at the end of March: 9166.666.. + 1000 x 1.40 / 1.25 = 9166.666.. + 1120 =
///   10286.666.. EUR; pct 3600 / 6000 = 0.6: 6172.00 - 4583.333.. = 1588.666.. -> 1588.67 EUR,
///   x 1.25 = 1985.8333.. -> 1985.83 USD.
/// - P8 backlog at as_of: contract 10286.666.. x 1.25 = 12858.333.. -> 12858.33; revenue to date
///   6172.00 x 1.25 = 7715.00; backlog 4114.666.. x 1.25 = 5143.333.. -> 5143.33.
#[tokio::test]
async fn the_rate_arriving_brings_everything_back() {
    let (_dir, lake) = fx_firm().await;
    land(
        &lake,
        &data_dir("formulas_fx").join("run2"),
        "land-fx-2",
        "2026-03-19T07:00:00Z",
        Landing::Append,
    )
    .await;
    build(&lake, "build-2", AS_OF, HISTORY_START).await;
    assert_eq!(
        rows(&lake, REVENUE).await,
        vec![
            "P7|2026-02-01|340.00|CAD|272.00|3.0",
            "P7|2026-03-01|207.65|CAD|176.50|2.0",
            "P8|2026-02-01|4583.33|EUR|5500.00|50.0",
            "P8|2026-03-01|1588.67|EUR|1985.83|10.0",
        ]
    );
    assert_eq!(
        rows(&lake, BOOKINGS).await,
        vec![
            "006H:1|won|P8|11000.00|USD|11000.00",
            "006I:1|won|P8|1000.00|GBP|1400.00",
        ]
    );
    assert_eq!(
        rows(&lake, BACKLOG).await,
        vec![
            "2026-02-28|11000.00|5500.00|5500.00",
            "2026-03-18|12858.33|7715.00|5143.33",
        ]
    );
    assert_eq!(
        rows(&lake, "SELECT time_entry_id, CAST(bill_amount_usd AS VARCHAR) FROM canonical.fct_time_entry WHERE time_entry_id = 'T72'").await,
        vec!["T72|76.50"]
    );
    assert!(
        rows(
            &lake,
            "SELECT key FROM _pslake.rejects WHERE _run_id = 'build-2' AND key IN ('T72', 'EX10')"
        )
        .await
        .is_empty()
    );
    // Only the firm's own February GBP gap (R07, EX3) is left.
    assert_eq!(
        rows(&lake, "SELECT key FROM _pslake.warnings WHERE rule = 'missing_fx_rate' AND _run_id = 'build-2'").await,
        vec!["GBP:2026-02"]
    );
}
