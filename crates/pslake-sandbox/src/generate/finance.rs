//! Money streams: the treasury FX files and the NetSuite invoice and expense lines derived from
//! the approved time of [`super::timesheets`].
//!
//! Invoicing follows the billing type: time and materials monthly in arrears (approved billable
//! hours × rate), fixed fee monthly by percent complete of the budget hours, milestone on the
//! acceptance of each billing milestone. A few invoices are voided and re-issued.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;

use super::Result;
use super::bad_rows::{self, Deliberate};
use super::calendar::{add_months, as_of, history_start, month_end, month_start, netsuite};
use super::firm::{Billing, Firm, base_fx, rng_for};
use super::ledger::{ExpenseLine, InvoiceLine, LedgerWriter, employee_entity};
use super::reference::{EXPENSE_CATEGORIES, FX_BASE};
use super::timesheets::Activity;
use super::writer::write_file;
use crate::layout::TREASURY_DIR;

/// Monthly `usd_per_unit` per non-USD currency.
pub(crate) struct FxTable {
    /// `(first day of month, [rate per FX_BASE currency])`.
    months: Vec<(NaiveDate, Vec<f64>)>,
}

impl FxTable {
    /// A random walk around the base rates, from `history_start`'s month to three months after
    /// `as_of`'s.
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = rng_for(seed, "fx", 0);
        let mut rates: Vec<f64> = FX_BASE
            .iter()
            .map(|(_, r)| r * rng.random_range(0.97..1.03))
            .collect();
        let mut months = Vec::new();
        let mut m = month_start(history_start());
        let last = add_months(month_start(as_of()), 3);
        while m <= last {
            months.push((m, rates.clone()));
            for r in &mut rates {
                *r *= 1.0 + rng.random_range(-0.02..0.02);
            }
            m = add_months(m, 1);
        }
        Self { months }
    }

    /// Writes `treasury/fx_rates_YYYY-MM.csv`, one per month.
    pub(crate) fn write(&self, dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
        let mut files = Vec::new();
        for (m, rates) in &self.months {
            let month = format!("{}-{:02}", m.year(), m.month());
            let mut text = String::from("currency,month,usd_per_unit\n");
            for ((cur, _), r) in FX_BASE.iter().zip(rates) {
                text.push_str(&format!("{cur},{month},{r:.8}\n"));
            }
            let path = dir.join(TREASURY_DIR).join(format!("fx_rates_{month}.csv"));
            write_file(&path, text.as_bytes())?;
            files.push((path, rates.len() as u64));
        }
        Ok(files)
    }
}

/// Writes `netsuite/transaction.jsonl` and `netsuite/transactionline.jsonl`: the invoices and
/// expense reports, one billable line each (see [`super::ledger`]).
pub(crate) fn write_ledgers(
    firm: &Firm,
    act: &Activity,
    dir: &Path,
    bad_rows: bool,
    deliberate: &mut Vec<Deliberate>,
) -> Result<Vec<(PathBuf, u64)>> {
    let mut ledger = LedgerWriter::create(dir)?;
    let mut next_line = 3_000_001u64;
    let mut next_tran = 10_001u64;
    let mut next_exp = 4_000_001u64;
    let mut stories_of: Vec<Vec<usize>> = vec![Vec::new(); firm.projects.len()];
    for (si, s) in firm.stories.iter().enumerate() {
        stories_of[s.project].push(si);
    }
    for (pi, p) in firm.projects.iter().enumerate() {
        if p.internal || !p.logs_time {
            continue;
        }
        let mut rng = rng_for(firm.seed, "ledger", pi as u64);
        // (date, amount) of each invoice of the project.
        let mut bills: Vec<(NaiveDate, f64)> = Vec::new();
        match p.billing {
            Billing::TimeAndMaterials => {
                for m in 0..act.months {
                    let v = act.value(pi, m);
                    if v > 0.0 {
                        bills.push((month_end(add_months(history_start(), m as i32)), v));
                    }
                }
            }
            Billing::FixedFee => {
                let budget = p.budget_hours.unwrap_or(1.0).max(1.0);
                let mut cum = 0.0;
                let mut billed = 0.0;
                for m in 0..act.months {
                    cum += act.hours(pi, m);
                    let due = p.contract * (cum / budget).min(1.0) - billed;
                    if due >= 1.0 {
                        bills.push((month_end(add_months(history_start(), m as i32)), due));
                        billed += due;
                    }
                }
            }
            Billing::Milestone => {
                for s in stories_of[pi].iter().map(|&si| &firm.stories[si]) {
                    if let (Some(acc), Some(cents)) = (s.accepted, s.billing_cents)
                        && acc >= history_start()
                    {
                        bills.push((acc, cents as f64 / 100.0));
                    }
                }
            }
        }
        for (date, amount) in bills {
            let date = date.min(as_of());
            let mut write_line = |status: &str, date: NaiveDate, modified: NaiveDate| {
                let line = InvoiceLine {
                    id: next_line.to_string(),
                    tranid: format!("INV{next_tran}"),
                    trandate: netsuite(date),
                    status: status.to_owned(),
                    job: p.job_id.clone(),
                    amount: format!("{amount:.2}"),
                    currency: p.currency.to_owned(),
                    lastmodifieddate: netsuite(modified.min(as_of())),
                };
                next_line += 1;
                next_tran += 1;
                ledger.invoice(&line).map(drop)
            };
            if rng.random_bool(0.03) {
                let voided = date + Duration::days(rng.random_range(1..10));
                write_line("V", date, voided)?;
            }
            let age = (as_of() - date).num_days();
            if age > 45 && rng.random_bool(0.95) {
                let paid = date + Duration::days(rng.random_range(20..45));
                write_line("B", date, paid)?;
            } else {
                write_line("A", date, date)?;
            }
        }
        for m in 0..act.months {
            if act.hours(pi, m) <= 0.0 || !rng.random_bool(0.35) {
                continue;
            }
            let first = add_months(history_start(), m as i32);
            let last = month_end(first).min(as_of());
            for _ in 0..rng.random_range(1..=2) {
                let date = first + Duration::days(rng.random_range(0..=(last - first).num_days()));
                let usd = rng.random_range(120.0..2500.0);
                let amount = usd / base_fx(p.currency);
                ledger.expense(&ExpenseLine {
                    id: next_exp.to_string(),
                    trandate: netsuite(date),
                    employee: employee_entity(next_exp as usize % firm.employees.len().max(1)),
                    job: p.job_id.clone(),
                    category: EXPENSE_CATEGORIES[rng.random_range(0..EXPENSE_CATEGORIES.len())]
                        .to_owned(),
                    amount: format!("{amount:.2}"),
                    currency: p.currency.to_owned(),
                    lastmodifieddate: netsuite((date + Duration::days(2)).min(as_of())),
                })?;
                next_exp += 1;
            }
        }
    }
    if bad_rows {
        bad_rows::write_bad_ledger_lines(firm, &mut ledger, deliberate)?;
    }
    ledger.finish()
}
