//! The big streams, written employee by employee and day by day: Workday `Time_Off` and Kantata
//! `time_entries`. Nothing per entry is kept in memory; only per project and month totals of
//! approved hours and billable value survive, for invoicing.
//!
//! Rules of the day loop (inside the employment and `[history_start, as_of]`):
//! - weekdays that are not public holidays of the employee's country, minus approved or submitted
//!   time off, give the available hours; billable hours are `available × utilization target ×
//!   min(1, staffed share)` with some noise, split over the active assignments;
//! - a bench day (no assignment) goes to the internal project, non-billable;
//! - a few entries fall on weekends and holidays; recent entries are mostly not yet approved.

use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Result;
use super::bad_rows::{self, Deliberate};
use super::calendar::{HolidaySet, as_of, history_start, is_weekday, kantata_dt, month_diff};
use super::emit::{KtTimeEntry, WdTimeOff, holiday_years, num};
use super::firm::{Employee, Firm, rng_for};
use super::reference::{COUNTRIES, PRACTICES};
use super::writer::JsonlWriter;

/// Per project and month totals of the approved time written, and the files.
pub(crate) struct Activity {
    pub(crate) files: Vec<(PathBuf, u64)>,
    /// Months from `history_start`'s month to `as_of`'s month.
    pub(crate) months: usize,
    /// Approved hours (billable or not), `[project * months + month]`.
    pub(crate) hours: Vec<f64>,
    /// Approved billable hours × bill rate, in the project currency.
    pub(crate) billable_value: Vec<f64>,
}

impl Activity {
    pub(crate) fn hours(&self, project: usize, month: usize) -> f64 {
        self.hours[project * self.months + month]
    }

    pub(crate) fn value(&self, project: usize, month: usize) -> f64 {
        self.billable_value[project * self.months + month]
    }
}

/// One day (or part of a day) of time off.
#[derive(Debug, Clone)]
pub(crate) struct TimeOff {
    pub(crate) date: NaiveDate,
    pub(crate) hours: f64,
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
}

/// Writes `workday/Time_Off.jsonl` and `kantata/time_entries.jsonl`.
pub(crate) fn write(
    firm: &Firm,
    dir: &Path,
    bad_rows: bool,
    deliberate: &mut Vec<Deliberate>,
) -> Result<Activity> {
    let months = (month_diff(history_start(), as_of()) + 1) as usize;
    let mut act = Activity {
        files: Vec::new(),
        months,
        hours: vec![0.0; firm.projects.len() * months],
        billable_value: vec![0.0; firm.projects.len() * months],
    };
    let country_codes: Vec<&str> = COUNTRIES.iter().map(|c| c.code).collect();
    let holidays = HolidaySet::new(&country_codes, holiday_years());

    // Assignments per employee: (project, member) pairs of projects that record time.
    let mut assignments: Vec<Vec<(usize, usize)>> = vec![Vec::new(); firm.employees.len()];
    for (pi, p) in firm.projects.iter().enumerate() {
        if !p.logs_time {
            continue;
        }
        for (mi, m) in p.team.iter().enumerate() {
            assignments[m.emp].push((pi, mi));
        }
    }

    let mut time_off_w = JsonlWriter::create(dir, "workday", "Time_Off")?;
    let mut entries_w = JsonlWriter::create(dir, "kantata", "time_entries")?;
    let mut next_entry = 500_000_001u64;
    let mut next_time_off = 1u64;
    for (ei, e) in firm.employees.iter().enumerate() {
        let mut rng = rng_for(firm.seed, "time", ei as u64);
        let offs = time_off_for(e, ei, &holidays, &mut rng);
        for t in &offs {
            time_off_w.write(&WdTimeOff {
                time_off_entry_id: format!("TOE-{next_time_off:07}"),
                employee_id: e.id.clone(),
                date: super::calendar::iso(t.date),
                hours: num(t.hours),
                time_off_type: t.kind.to_owned(),
                status: t.status.to_owned(),
            })?;
            next_time_off += 1;
        }
        let mut day = DayWriter {
            firm,
            e,
            rng: &mut rng,
            w: &mut entries_w,
            next_id: &mut next_entry,
            act: &mut act,
        };
        let from = e.hire.max(history_start());
        let to = e.term.map_or(as_of(), |t| t.min(as_of()));
        let mut off_i = 0;
        let mut d = from;
        while d <= to {
            while off_i < offs.len() && offs[off_i].date < d {
                off_i += 1;
            }
            let off_hours: f64 = offs[off_i..]
                .iter()
                .take_while(|t| t.date == d)
                .filter(|t| t.status != "Cancelled")
                .map(|t| t.hours)
                .sum();
            let active: Vec<(usize, usize)> = assignments[ei]
                .iter()
                .copied()
                .filter(|&(pi, mi)| {
                    let p = &firm.projects[pi];
                    let m = &p.team[mi];
                    m.start <= d && d <= m.end && p.hold_from.is_none_or(|h| d < h)
                })
                .collect();
            day.day(d, &active, off_hours, &holidays, bad_rows && ei == 0)?;
            d += Duration::days(1);
        }
    }
    if bad_rows {
        bad_rows::write_bad_time_entries(firm, &mut entries_w, deliberate)?;
    }
    act.files.push(time_off_w.finish()?);
    act.files.push(entries_w.finish()?);
    Ok(act)
}

/// Time off of one employee from `max(hire, history_start)` to 16 weeks after `as_of`:
/// vacation blocks, sick days, a personal day now and then. Contingent workers have none.
fn time_off_for(
    e: &Employee,
    ei: usize,
    holidays: &HolidaySet,
    rng: &mut ChaCha8Rng,
) -> Vec<TimeOff> {
    let mut out = Vec::new();
    if e.contingent {
        return out;
    }
    let from = e.hire.max(history_start());
    let to = e.term.map_or(as_of() + Duration::weeks(16), |t| {
        t.min(as_of() + Duration::weeks(16))
    });
    let mut d = from;
    while d <= to {
        if !is_weekday(d) || holidays.contains(e.country, d) {
            d += Duration::days(1);
            continue;
        }
        let r: f64 = rng.random();
        let future = d > as_of();
        let status = |rng: &mut ChaCha8Rng| {
            let s: f64 = rng.random();
            match (future, s) {
                (false, s) if s < 0.93 => "Approved",
                (false, s) if s < 0.97 => "Cancelled",
                (false, _) => "Submitted",
                (true, s) if s < 0.6 => "Approved",
                (true, s) if s < 0.95 => "Submitted",
                (true, _) => "Cancelled",
            }
        };
        if r < 6.0 / 250.0 {
            // A vacation block of 1 to 5 working days, one status for the whole request.
            let len = rng.random_range(1..=5);
            let st = status(rng);
            let mut k = 0;
            while k < len && d <= to {
                if is_weekday(d) && !holidays.contains(e.country, d) {
                    out.push(TimeOff {
                        date: d,
                        hours: e.day_hours(),
                        kind: "Vacation",
                        status: st,
                    });
                    k += 1;
                }
                d += Duration::days(1);
            }
            continue;
        } else if r < 9.0 / 250.0 {
            let half = rng.random_bool(0.25);
            let st = if future { "Submitted" } else { status(rng) };
            out.push(TimeOff {
                date: d,
                hours: if half {
                    e.day_hours() / 2.0
                } else {
                    e.day_hours()
                },
                kind: "Sick Leave",
                status: st,
            });
        } else if r < 10.0 / 250.0 {
            let st = status(rng);
            out.push(TimeOff {
                date: d,
                hours: e.day_hours() / 2.0,
                kind: "Personal Leave",
                status: st,
            });
        }
        d += Duration::days(1);
    }
    // Every status at least once in a firm: employee 0 has one of each in the past.
    if ei == 0 {
        for (k, st) in ["Approved", "Cancelled", "Submitted"]
            .into_iter()
            .enumerate()
        {
            if !out.iter().any(|t| t.status == st && t.date <= as_of()) {
                let mut day = as_of() - Duration::days(100 + 7 * k as i64);
                while !is_weekday(day) || holidays.contains(e.country, day) {
                    day -= Duration::days(1);
                }
                if !out.iter().any(|t| t.date == day) {
                    out.push(TimeOff {
                        date: day,
                        hours: e.day_hours(),
                        kind: "Vacation",
                        status: st,
                    });
                }
            }
        }
        out.sort_by_key(|t| t.date);
    }
    out
}

struct DayWriter<'a, 'b> {
    firm: &'a Firm,
    e: &'a Employee,
    rng: &'b mut ChaCha8Rng,
    w: &'b mut JsonlWriter,
    next_id: &'b mut u64,
    act: &'b mut Activity,
}

fn quarter_hours(h: f64) -> f64 {
    (h * 4.0).round() / 4.0
}

impl DayWriter<'_, '_> {
    fn day(
        &mut self,
        d: NaiveDate,
        active: &[(usize, usize)],
        off_hours: f64,
        holidays: &HolidaySet,
        no_weekend_work: bool,
    ) -> Result<()> {
        let e = self.e;
        let holiday = holidays.contains(e.country, d);
        if !is_weekday(d) || holiday {
            let p = if holiday { 0.03 } else { 0.012 };
            if let Some(&(pi, mi)) = active.first()
                && !no_weekend_work
                && self.rng.random_bool(p)
            {
                let h = quarter_hours(self.rng.random_range(2.0..5.0));
                self.entry(d, pi, Some(mi), h, true)?;
            }
            return Ok(());
        }
        let avail = e.day_hours() - off_hours;
        if avail < 0.25 {
            return Ok(());
        }
        let shares: f64 = active
            .iter()
            .map(|&(pi, mi)| self.firm.projects[pi].team[mi].share)
            .sum();
        let billable_total =
            avail * e.util * (0.3 + shares).min(1.0) * self.rng.random_range(0.85..1.15);
        let mut logged = 0.0;
        for &(pi, mi) in active {
            let share = self.firm.projects[pi].team[mi].share;
            let h = quarter_hours(billable_total * share / shares);
            if h >= 0.25 {
                let billable = !self.rng.random_bool(0.04);
                self.entry(d, pi, Some(mi), h, billable)?;
                logged += h;
            }
        }
        let internal = self.firm.internal_project;
        if active.is_empty() {
            let h = quarter_hours(avail * self.rng.random_range(0.3..0.8));
            if h >= 0.25 {
                self.entry(d, internal, None, h, false)?;
            }
        } else if self.rng.random_bool(0.18) && logged < avail {
            let h = quarter_hours(self.rng.random_range(0.5..2.0));
            self.entry(d, internal, None, h, false)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        d: NaiveDate,
        pi: usize,
        mi: Option<usize>,
        hours: f64,
        billable: bool,
    ) -> Result<()> {
        let p = &self.firm.projects[pi];
        let rate = match mi {
            Some(mi) if billable => p.team[mi].rate,
            _ => 0.0,
        };
        let age = (as_of() - d).num_days();
        let approved = if age > 10 {
            !self.rng.random_bool(0.004)
        } else {
            self.rng.random_bool(0.3)
        };
        let offset = COUNTRIES[self.e.country].offset;
        let updated = if approved {
            let day = (d + Duration::days(self.rng.random_range(2..8))).min(as_of());
            kantata_dt(day, 9 * 3600 + self.rng.random_range(0..3600), offset)
        } else {
            kantata_dt(d, 17 * 3600 + self.rng.random_range(0..7200), offset)
        };
        let notes = if p.internal {
            [
                "Practice development",
                "Training",
                "Pre-sales support",
                "Internal meeting",
            ][self.rng.random_range(0..4)]
        } else {
            let n = PRACTICES[p.practice].notes;
            n[self.rng.random_range(0..n.len())]
        };
        self.w.write(&KtTimeEntry {
            id: self.next_id.to_string(),
            workspace_id: &p.workspace_id,
            user_id: &self.e.user_id,
            date_performed: super::calendar::iso(d),
            time_in_minutes: (hours * 60.0).round() as i64,
            billable,
            approved,
            rate_in_cents: (rate * 100.0).round() as i64,
            currency: p.currency,
            notes,
            updated_at: updated,
        })?;
        *self.next_id += 1;
        if approved {
            let m = month_diff(history_start(), d) as usize;
            let i = pi * self.act.months + m;
            self.act.hours[i] += hours;
            if billable {
                self.act.billable_value[i] += hours * rate;
            }
        }
        Ok(())
    }
}
