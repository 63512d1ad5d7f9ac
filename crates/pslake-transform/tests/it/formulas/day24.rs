//! The more-than-24-hours rule (SPEC section 5) at its edges: the firm of `tests/data/formulas/`
//! plus `tests/data/formulas_day24/run1/`, built with as_of 2026-03-18.
//!
//! Added: U5, a second Kantata login of the contingent worker E4 (U4 is the first), and E4's
//! entries on workspace W5 (project P5) unless said otherwise, all approved unless said otherwise:
//! - Tue 2026-01-13: D1 800 min through U4 and D2 700 min through U5. The day is the employee's,
//!   not the login's: 800 + 700 = 1500 min = 25 h > 24 h, so both are rejected.
//! - Wed 2026-01-14: D3 800 min, and D4 800 min on the unknown workspace W99. D4 fails an earlier
//!   rule (unknown project) and does not count: E4's day is D3's 800 min = 13.3 h. D3 passes.
//! - Thu 2026-01-15: D5 800 min approved, D6 800 min submitted (not approved). Only approved hours
//!   count: 800 min. Both pass.

use super::helpers::*;

#[tokio::test]
async fn the_day_is_the_employees_and_only_passing_approved_time_counts() {
    let (_dir, lake) =
        built_firm_with(&data_dir("formulas_day24").join("run1"), "land-day24-1").await;
    assert_eq!(
        rows(
            &lake,
            "SELECT key, rule FROM _pslake.rejects WHERE stream = 'time_entries' AND key LIKE 'D%'"
        )
        .await,
        vec![
            "D1|over_24_hours_per_day",
            "D2|over_24_hours_per_day",
            "D4|unknown_project",
        ]
    );
    // D3, D5 and D6 are conformed: 800 min each = 13.3333 h.
    assert_eq!(
        rows(
            &lake,
            "SELECT time_entry_id, employee_id, hours FROM canonical.fct_time_entry WHERE time_entry_id LIKE 'D%'"
        )
        .await,
        vec!["D3|E4|13.3333", "D5|E4|13.3333", "D6|E4|13.3333"]
    );
}
