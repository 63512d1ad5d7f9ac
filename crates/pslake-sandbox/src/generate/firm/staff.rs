//! Workers: who they are, where, at which level, cost and utilization target, and when they
//! joined or left. The first few are fixed so that even a tiny firm has every country and
//! practice, a leaver, a joiner, a part-timer and a contingent worker.

use chrono::{Duration, NaiveDate};
use rand::Rng;

use super::{base_fx, date_between, rng_for, weighted};
use crate::generate::calendar::{as_of, history_start, ymd};
use crate::generate::reference::{
    COUNTRIES, COUNTRY_WEIGHTS, FIRST_NAMES, LAST_NAMES, LEVELS, PRACTICES,
};

/// A worker (Workday) and Kantata user.
#[derive(Debug, Clone)]
pub(crate) struct Employee {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) first: &'static str,
    pub(crate) last: &'static str,
    pub(crate) email: String,
    pub(crate) contingent: bool,
    pub(crate) level: usize,
    pub(crate) practice: usize,
    pub(crate) country: usize,
    pub(crate) hire: NaiveDate,
    pub(crate) term: Option<NaiveDate>,
    pub(crate) weekly_hours: f64,
    /// Hourly cost in the country currency (2 decimals).
    pub(crate) cost_rate: f64,
    /// Target billable share of a standard day.
    pub(crate) util: f64,
    pub(crate) last_updated: NaiveDate,
}

impl Employee {
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    pub(crate) fn currency(&self) -> &'static str {
        COUNTRIES[self.country].currency
    }

    pub(crate) fn day_hours(&self) -> f64 {
        self.weekly_hours / 5.0
    }

    pub(crate) fn cost_usd(&self) -> f64 {
        self.cost_rate * base_fx(self.currency())
    }
}

pub(crate) fn build_employees(seed: u64, n: usize) -> Vec<Employee> {
    let mut rng = rng_for(seed, "employees", 0);
    let mut out: Vec<Employee> = Vec::with_capacity(n);
    let mut emails: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let hs = history_start();
    let level_w: Vec<u32> = LEVELS.iter().map(|l| l.weight).collect();
    let mut n_contingent = 0;
    for i in 0..n {
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let country = if i < COUNTRIES.len() {
            i
        } else {
            weighted(&mut rng, COUNTRY_WEIGHTS)
        };
        let practice = if i < PRACTICES.len() {
            i
        } else {
            rng.random_range(0..PRACTICES.len())
        };
        // Employee 0 is a senior consultant employed throughout (bad rows use them); employee 1
        // leaves, 2 joins inside the window, 3 works part time, the last one is contingent.
        let contingent = (i == n - 1) || (i > 5 && rng.random_bool(0.07));
        let level = match i {
            0 => 2,
            _ if contingent => rng.random_range(1..4),
            _ => weighted(&mut rng, &level_w),
        };
        let r: f64 = rng.random();
        let mut hire = date_between(&mut rng, ymd(2014, 1, 6), hs - Duration::days(30));
        let mut term = None;
        if i == 2 || (i > 5 && r < 0.12) {
            hire = date_between(
                &mut rng,
                hs + Duration::days(14),
                as_of() - Duration::days(45),
            );
        }
        if i == 1 || (i > 5 && (0.12..0.22).contains(&r)) {
            let t = date_between(
                &mut rng,
                hire.max(hs) + Duration::days(60),
                as_of() - Duration::days(20),
            );
            term = Some(t);
        } else if i > 5 && (0.22..0.23).contains(&r) {
            term = Some(as_of() + Duration::days(rng.random_range(10..60)));
        }
        if contingent {
            n_contingent += 1;
            if rng.random_bool(0.5) {
                hire = date_between(
                    &mut rng,
                    hs - Duration::days(120),
                    as_of() - Duration::days(90),
                );
            }
        }
        let full = COUNTRIES[country].full_time_hours;
        let weekly_hours = if i == 3 {
            24.0
        } else if rng.random_bool(0.08) {
            [20.0, 24.0, 32.0][rng.random_range(0..3)]
        } else {
            full
        };
        let cost_usd = LEVELS[level].cost_usd
            * COUNTRIES[country].cost_factor
            * rng.random_range(0.9..1.1)
            * if contingent { 1.3 } else { 1.0 };
        let cost_rate = (cost_usd / base_fx(COUNTRIES[country].currency) * 100.0).round() / 100.0;
        let util = if contingent {
            rng.random_range(0.85..0.95)
        } else {
            (LEVELS[level].util + rng.random_range(-0.06..0.06)).clamp(0.3, 0.92)
        };
        let id = if contingent {
            format!("C-{}", 900_001 + i)
        } else {
            format!("{}", 100_001 + i)
        };
        let mut email = format!(
            "{}.{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            COUNTRIES[country].domain
        );
        let mut k = 2;
        while emails.contains(&email) {
            email = format!(
                "{}.{}{k}@{}",
                first.to_lowercase(),
                last.to_lowercase(),
                COUNTRIES[country].domain
            );
            k += 1;
        }
        emails.insert(email.clone());
        let last_updated = term
            .filter(|t| *t <= as_of())
            .unwrap_or_else(|| date_between(&mut rng, hire.max(hs), as_of()));
        out.push(Employee {
            id,
            user_id: (8_812_001 + i).to_string(),
            first,
            last,
            email,
            contingent,
            level,
            practice,
            country,
            hire,
            term,
            weekly_hours,
            cost_rate,
            util,
            last_updated,
        });
    }
    debug_assert!(n_contingent > 0);
    out
}
