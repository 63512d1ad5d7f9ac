//! Histories (SPEC section 4b): how each opportunity got to where it stands, and each worker's
//! effective-dated versions, with the writers of `salesforce/OpportunityHistory.jsonl`,
//! `workday/Worker_History.jsonl` and the deals' `propertiesWithHistory`.
//!
//! Invariants:
//! - a history ends where the record stands: an opportunity's last version has its stage,
//!   amount, probability and close date, at its last-modified time (a deleted or archived one a
//!   few days before its removal); a worker's last version is the `Workers` record and takes
//!   effect on or before `Last_Updated`;
//! - nothing happens before the record exists (an opportunity's creation, a worker's hire date)
//!   or after `as_of`;
//! - every draw comes from a random stream of its own per record ([`rng_for`] with the labels
//!   `opp-history` and `worker-history`), so the firm's other records do not move.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use rand::Rng;
use rand::seq::SliceRandom;

use super::Result;
use super::calendar::{add_months, history_start, hubspot_dt, iso, month_start, salesforce_dt};
use super::emit::{HsDealHistory, HsHistoryEntry, SfOpportunityHistory, WdWorkerHistory, num};
use super::firm::{
    Crm, Firm, Kind, Outcome, hs_probability, rng_for, sf_id, sf_probability, weighted,
};
use super::reference::{COUNTRIES, LEVELS, PRACTICES};
use super::writer::JsonlWriter;

/// An opportunity as it stood from `at` on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OppVersion {
    pub(crate) at: NaiveDateTime,
    pub(crate) stage: Outcome,
    pub(crate) amount: f64,
    pub(crate) close: NaiveDate,
}

/// `d` at `secs` seconds into the day.
pub(crate) fn at(d: NaiveDate, secs: u32) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::seconds(i64::from(secs))
}

fn secs_of_day(t: NaiveDateTime) -> u32 {
    t.num_seconds_from_midnight()
}

/// Salesforce datetime of `t`.
pub(crate) fn sf_time(t: NaiveDateTime) -> String {
    salesforce_dt(t.date(), secs_of_day(t))
}

/// HubSpot datetime of `t`, with the milliseconds the generator uses for a time of day (so a
/// deal's last history entry is exactly its `hs_lastmodifieddate`).
pub(crate) fn hs_time(t: NaiveDateTime) -> String {
    let s = secs_of_day(t);
    hubspot_dt(t.date(), s, s % 1000)
}

/// A round amount (hundreds, at least 100), as the firm prices.
fn round_amount(x: f64) -> f64 {
    ((x / 100.0).round() * 100.0).max(100.0)
}

/// What one change after the creation does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Stage,
    Amount,
    Close,
}

/// Every version of opportunity `oi`, oldest first: created as an early open stage, it moves up
/// through some of the open stages (then to won or lost when closed), its amount is revised up
/// to twice and its close date slips up to three times, at random times between its creation and
/// its last modification. The last version is the opportunity as it stands.
pub(crate) fn opp_history(firm: &Firm, oi: usize) -> Vec<OppVersion> {
    let o = &firm.opps[oi];
    let mut rng = rng_for(firm.seed, "opp-history", oi as u64);
    let open_stages = o.crm.open_stages();
    let modified = at(o.modified, o.mod_secs);
    // A sales cycle: months for new business, weeks for a change order or renewal; an open
    // opportunity has been in the pipeline that long before its last change.
    let cycle = match o.kind {
        Kind::NewBusiness => rng.random_range(21..=160),
        _ => rng.random_range(7..=45),
    };
    let room = if o.removed { 12 } else { 2 };
    let from = match o.outcome {
        Outcome::Open(_) => o.modified,
        _ => o.close,
    };
    let created_day = (from - Duration::days(cycle)).min(o.modified - Duration::days(room));
    let created = at(created_day, rng.random_range(8 * 3600..18 * 3600));
    // The last change: the last modification, or a few days before a deletion or archiving.
    let last = if o.removed {
        (modified - Duration::days(rng.random_range(1..=10))).max(created + Duration::hours(1))
    } else {
        modified
    };

    // The stages it went through.
    let top = match o.outcome {
        Outcome::Open(s) => s,
        Outcome::Won => rng.random_range(open_stages * 2 / 3..open_stages),
        Outcome::Lost => rng.random_range(0..open_stages),
    };
    let start = if top == 0 || rng.random_bool(0.7) {
        0
    } else {
        rng.random_range(0..=top.min(2))
    };
    let mut stages = vec![Outcome::Open(start)];
    for s in start + 1..top {
        if rng.random_bool(0.55) {
            stages.push(Outcome::Open(s));
        }
    }
    if top > start {
        stages.push(Outcome::Open(top));
    }
    if !matches!(o.outcome, Outcome::Open(_)) {
        stages.push(o.outcome);
    }

    // Amount revisions: the first guess, maybe a second one, then the amount as it stands.
    let revisions = weighted(&mut rng, &[45, 35, 20]);
    let mut amounts = vec![o.amount];
    for _ in 0..revisions {
        let guess = round_amount(amounts[0] * rng.random_range(0.7..1.3));
        if amounts.iter().all(|a| (a - guess).abs() > 0.5) {
            amounts.insert(0, guess);
        }
    }

    // Close-date slips: each moves the expected close later; the last reaches the close date.
    let slips = weighted(&mut rng, &[40, 30, 20, 10]);
    let mut gaps: Vec<i64> = (0..slips).map(|_| rng.random_range(7..=45)).collect();
    let max_total = ((o.close - created_day).num_days() - 7).max(0);
    while gaps.iter().sum::<i64>() > max_total && !gaps.is_empty() {
        gaps.pop();
    }
    let mut closes = vec![o.close - Duration::days(gaps.iter().sum())];
    for g in &gaps {
        let prev = *closes.last().expect("starts with one");
        closes.push(prev + Duration::days(*g));
    }

    // The changes in time order: a closed opportunity closes last; the rest are shuffled.
    let mut steps: Vec<Step> = std::iter::repeat_n(Step::Stage, stages.len() - 1)
        .chain(std::iter::repeat_n(Step::Amount, amounts.len() - 1))
        .chain(std::iter::repeat_n(Step::Close, closes.len() - 1))
        .collect();
    let closing = !matches!(o.outcome, Outcome::Open(_));
    let fixed_last = if closing {
        // the stage steps come first in `steps`: take one off for the closing change
        steps.remove(0);
        Some(Step::Stage)
    } else {
        None
    };
    steps.shuffle(&mut rng);
    steps.extend(fixed_last);

    // Their times: distinct, after the creation, the last at `last`.
    let span = (last - created).num_seconds().max(1);
    let mut offsets: Vec<i64> = Vec::with_capacity(steps.len());
    if !steps.is_empty() {
        while offsets.len() < steps.len() - 1 {
            let x = rng.random_range(1..span.max(2));
            if !offsets.contains(&x) && x < span {
                offsets.push(x);
            }
            if span <= steps.len() as i64 {
                // no room for distinct seconds: one second apart, before the last
                offsets = (1..steps.len() as i64).collect();
                break;
            }
        }
        offsets.sort_unstable();
        offsets.push(span);
    }

    let mut v = OppVersion {
        at: created,
        stage: stages[0],
        amount: amounts[0],
        close: closes[0],
    };
    let mut out = vec![v.clone()];
    let (mut si, mut ai, mut ci) = (0, 0, 0);
    for (step, off) in steps.into_iter().zip(offsets) {
        match step {
            Step::Stage => {
                si += 1;
                v.stage = stages[si];
            }
            Step::Amount => {
                ai += 1;
                v.amount = amounts[ai];
            }
            Step::Close => {
                ci += 1;
                v.close = closes[ci];
            }
        }
        v.at = created + Duration::seconds(off);
        out.push(v.clone());
    }
    debug_assert!(
        v.stage == o.outcome && v.amount == o.amount && v.close == o.close,
        "opportunity {} ends as it stands",
        o.id
    );
    out
}

/// Salesforce `OpportunityHistory` rows of `versions` of an opportunity. `next` numbers the
/// rows' ids (`008...`); `removed_at`: when the opportunity was deleted (its rows then carry
/// `IsDeleted` and that `SystemModstamp`).
pub(crate) fn sf_history_rows(
    opportunity_id: &str,
    versions: &[OppVersion],
    next: &mut u64,
    removed_at: Option<NaiveDateTime>,
) -> Vec<SfOpportunityHistory> {
    versions
        .iter()
        .map(|v| {
            *next += 1;
            SfOpportunityHistory {
                id: sf_id("008", *next),
                opportunity_id: opportunity_id.to_owned(),
                stage_name: super::firm::stage_label(Crm::Salesforce, v.stage).to_owned(),
                amount: v.amount,
                probability: sf_probability(v.stage),
                close_date: iso(v.close),
                created_date: sf_time(v.at),
                is_deleted: removed_at.is_some(),
                system_modstamp: sf_time(removed_at.unwrap_or(v.at)),
            }
        })
        .collect()
}

/// A deal's `propertiesWithHistory` from its versions: for each property, an entry at the
/// creation and at every version that changed it, newest first. A stage change also changes
/// `hs_deal_stage_probability`, which HubSpot calculates.
pub(crate) fn hs_history(versions: &[OppVersion]) -> HsDealHistory {
    let mut h = HsDealHistory::default();
    let mut prev: Option<&OppVersion> = None;
    for v in versions {
        let ts = hs_time(v.at);
        let entry = |value: String, source: &str| HsHistoryEntry {
            value,
            timestamp: ts.clone(),
            source_type: source.to_owned(),
        };
        let stage = super::firm::stage_label(Crm::HubSpot, v.stage);
        if prev.is_none_or(|p| super::firm::stage_label(Crm::HubSpot, p.stage) != stage) {
            h.dealstage.push(entry(stage.to_owned(), "CRM_UI"));
        }
        let prob = hs_probability(v.stage);
        if prev.is_none_or(|p| hs_probability(p.stage) != prob) {
            h.hs_deal_stage_probability
                .push(entry(prob.to_owned(), "CALCULATED"));
        }
        if prev.is_none_or(|p| p.amount != v.amount) {
            h.amount.push(entry(format!("{:.2}", v.amount), "CRM_UI"));
        }
        if prev.is_none_or(|p| p.close != v.close) {
            h.closedate.push(entry(hubspot_dt(v.close, 0, 0), "CRM_UI"));
        }
        prev = Some(v);
    }
    for list in [
        &mut h.dealstage,
        &mut h.amount,
        &mut h.closedate,
        &mut h.hs_deal_stage_probability,
    ] {
        list.reverse();
    }
    h
}

/// `salesforce/OpportunityHistory.jsonl`: every Salesforce opportunity's versions, in the
/// order of `Opportunity.jsonl`, each opportunity's oldest first.
pub(crate) fn write_opportunity_history(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "salesforce", "OpportunityHistory")?;
    let mut next = 0u64;
    for (oi, o) in firm.opps.iter().enumerate() {
        if o.crm != Crm::Salesforce {
            continue;
        }
        let versions = opp_history(firm, oi);
        let removed = o.removed.then(|| at(o.modified, o.mod_secs));
        for row in sf_history_rows(&o.id, &versions, &mut next, removed) {
            w.write(&row)?;
        }
    }
    w.finish()
}

/// A worker as they stood from `from` on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorkerVersion {
    pub(crate) from: NaiveDate,
    pub(crate) practice: usize,
    pub(crate) level: usize,
    pub(crate) weekly_hours: f64,
    pub(crate) cost_rate: f64,
}

/// A change to a worker, as it is undone going back in time.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// The rate went up by this fraction.
    Raise(f64),
    /// One level up, the rate up by this fraction.
    Promotion(f64),
    /// From another practice (index).
    Moved(usize),
    /// From full time to the current hours.
    Hours,
}

/// The first day of each month in `(after, until]`.
fn month_firsts(after: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = add_months(month_start(after), 1);
    while d <= until {
        out.push(d);
        d = add_months(d, 1);
    }
    out
}

/// Every version of worker `ei`, oldest first: the first at the hire date; then, for a fair
/// share, a merit raise (mostly effective 1 January or 1 April), a promotion, a move from another
/// practice, a move from full time to their current hours, mostly inside the window and never
/// after `Last_Updated` or the termination. The last version is the `Workers` record.
pub(crate) fn worker_history(firm: &Firm, ei: usize) -> Vec<WorkerVersion> {
    let e = &firm.employees[ei];
    let mut rng = rng_for(firm.seed, "worker-history", ei as u64);
    let current = WorkerVersion {
        from: e.hire,
        practice: e.practice,
        level: e.level,
        weekly_hours: e.weekly_hours,
        cost_rate: e.cost_rate,
    };
    let until = e
        .term
        .map_or(e.last_updated, |t| t - Duration::days(1))
        .min(e.last_updated);
    let in_window = month_firsts((e.hire + Duration::days(60)).max(history_start()), until);
    let before = month_firsts(
        e.hire + Duration::days(180),
        history_start() - Duration::days(1),
    );
    // mid-year merit cycles: 1 January and 1 April first
    let pick = |rng: &mut rand_chacha::ChaCha8Rng, days: &[NaiveDate]| -> Option<NaiveDate> {
        if days.is_empty() {
            return None;
        }
        let weights: Vec<u32> = days
            .iter()
            .map(|d| if matches!(d.month(), 1 | 4) { 8 } else { 1 })
            .collect();
        Some(days[weighted(rng, &weights)])
    };
    let mut changes: Vec<(NaiveDate, Change)> = Vec::new();
    // Workers 4 and 5 (of every firm, as the first few are fixed) move practice and are
    // promoted, so even a tiny firm has both.
    let raise = !e.contingent && rng.random_bool(0.45);
    let promotion = !e.contingent && e.level > 0 && (rng.random_bool(0.12) || ei == 5);
    let moved = !e.contingent && (rng.random_bool(0.1) || ei == 4);
    let earlier_raise = !e.contingent && rng.random_bool(0.5);
    let full = COUNTRIES[e.country].full_time_hours;
    let hours = e.weekly_hours < full && rng.random_bool(0.4);
    let pct = rng.random_range(0.025..0.07);
    let promo_pct = rng.random_range(0.10..0.18);
    let earlier_pct = rng.random_range(0.02..0.05);
    let other = (e.practice + 1 + rng.random_range(0..PRACTICES.len() - 1)) % PRACTICES.len();
    if raise && let Some(d) = pick(&mut rng, &in_window) {
        changes.push((d, Change::Raise(pct)));
    }
    if promotion && let Some(d) = pick(&mut rng, &in_window) {
        changes.push((d, Change::Promotion(promo_pct)));
    }
    if moved && !in_window.is_empty() {
        changes.push((
            in_window[rng.random_range(0..in_window.len())],
            Change::Moved(other),
        ));
    }
    if hours && !in_window.is_empty() {
        changes.push((
            in_window[rng.random_range(0..in_window.len())],
            Change::Hours,
        ));
    }
    if earlier_raise && let Some(d) = pick(&mut rng, &before) {
        changes.push((d, Change::Raise(earlier_pct)));
    }
    // Newest first: each change's version holds the values in force from its date on; undoing
    // the change gives the values before it (several changes on one date make one version).
    changes.sort_by_key(|c| std::cmp::Reverse(c.0));
    let mut cur = current;
    let mut out: Vec<WorkerVersion> = Vec::new();
    for (d, change) in changes {
        if out.last().is_none_or(|v| v.from != d) {
            out.push(WorkerVersion {
                from: d,
                ..cur.clone()
            });
        }
        let undo = |rate: f64, p: f64| (rate / (1.0 + p) * 100.0).round() / 100.0;
        match change {
            Change::Raise(p) => cur.cost_rate = undo(cur.cost_rate, p),
            Change::Promotion(p) => {
                cur.level = cur.level.saturating_sub(1);
                cur.cost_rate = undo(cur.cost_rate, p);
            }
            Change::Moved(from) => cur.practice = from,
            Change::Hours => cur.weekly_hours = full,
        }
    }
    out.push(cur);
    out.reverse();
    out
}

/// `workday/Worker_History.jsonl`: every worker's versions, in the order of `Workers.jsonl`,
/// each worker's oldest (the hire date) first.
pub(crate) fn write_worker_history(firm: &Firm, dir: &Path) -> Result<(PathBuf, u64)> {
    let mut w = JsonlWriter::create(dir, "workday", "Worker_History")?;
    for (ei, e) in firm.employees.iter().enumerate() {
        for v in worker_history(firm, ei) {
            w.write(&WdWorkerHistory {
                employee_id: e.id.clone(),
                effective_date: iso(v.from),
                practice: PRACTICES[v.practice].name.to_owned(),
                job_profile: LEVELS[v.level].profile.to_owned(),
                scheduled_weekly_hours: num(v.weekly_hours),
                hourly_cost_rate: format!("{:.2}", v.cost_rate),
                cost_rate_currency: e.currency().to_owned(),
            })?;
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_end_where_the_records_stand() {
        let firm = Firm::build(1, 0.05, true);
        let mut slipped_twice = 0;
        for (oi, o) in firm.opps.iter().enumerate() {
            let h = opp_history(&firm, oi);
            let last = h.last().expect("a version");
            assert_eq!(
                (last.stage, last.amount, last.close),
                (o.outcome, o.amount, o.close),
                "{}",
                o.id
            );
            assert!(h.windows(2).all(|w| w[0].at < w[1].at), "{}", o.id);
            assert!(last.at <= at(o.modified, o.mod_secs));
            let closes: std::collections::BTreeSet<_> = h.iter().map(|v| v.close).collect();
            slipped_twice += usize::from(closes.len() >= 3);
        }
        assert!(slipped_twice > 0, "some close dates slip several times");
        for (ei, e) in firm.employees.iter().enumerate() {
            let h = worker_history(&firm, ei);
            assert_eq!(h[0].from, e.hire);
            let last = h.last().expect("a version");
            assert_eq!(
                (last.practice, last.level, last.weekly_hours, last.cost_rate),
                (e.practice, e.level, e.weekly_hours, e.cost_rate)
            );
            assert!(h.windows(2).all(|w| w[0].from < w[1].from));
            assert!(last.from <= e.last_updated);
        }
    }
}
