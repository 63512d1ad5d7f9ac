//! Dates: the fixed window of the synthetic firm, public holidays per country, and the vendor
//! date/datetime formats.
//!
//! Holidays are rule-based (fixed dates with weekend substitution where the country observes it,
//! n-th weekday rules, Easter via the anonymous Gregorian computus) plus a short hard-coded table
//! for the lunar holidays of India, so the list is the same on every run.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// The firm's `as_of` date (a Wednesday, the last day of a quarter).
pub(crate) fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 30).expect("valid date")
}

/// The first reported date, fifteen months before `as_of`.
pub(crate) fn history_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 1).expect("valid date")
}

/// `y-m-d`, for constants known to be valid.
pub(crate) fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid constant date")
}

/// Monday to Friday.
pub(crate) fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The Mondays-to-Fridays in `[from, to]`.
pub(crate) fn weekdays_between(from: NaiveDate, to: NaiveDate) -> i64 {
    if to < from {
        return 0;
    }
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| is_weekday(*d))
        .count() as i64
}

/// The first day of `d`'s month.
pub(crate) fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

/// The last day of `d`'s month.
pub(crate) fn month_end(d: NaiveDate) -> NaiveDate {
    add_months(month_start(d), 1) - Duration::days(1)
}

/// `d` moved by `n` months, clamped to the end of the target month.
pub(crate) fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + n;
    let (y, m0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    let mut day = d.day();
    loop {
        if let Some(v) = NaiveDate::from_ymd_opt(y, m0 + 1, day) {
            return v;
        }
        day -= 1;
    }
}

/// Months between the months of `a` and `b` (`b` - `a`).
pub(crate) fn month_diff(a: NaiveDate, b: NaiveDate) -> i32 {
    (b.year() * 12 + b.month0() as i32) - (a.year() * 12 + a.month0() as i32)
}

/// The next weekday on or after `d`.
pub(crate) fn next_weekday(mut d: NaiveDate) -> NaiveDate {
    while !is_weekday(d) {
        d += Duration::days(1);
    }
    d
}

/// ISO `YYYY-MM-DD` (Salesforce, Kantata, Workday dates).
pub(crate) fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// NetSuite's `M/D/YYYY`.
pub(crate) fn netsuite(d: NaiveDate) -> String {
    format!("{}/{}/{}", d.month(), d.day(), d.year())
}

/// Salesforce datetime: `2026-03-01T10:00:00.000+0000`.
pub(crate) fn salesforce_dt(d: NaiveDate, secs_of_day: u32) -> String {
    let (h, m, s) = hms(secs_of_day);
    format!("{}T{h:02}:{m:02}:{s:02}.000+0000", iso(d))
}

/// HubSpot datetime: `2026-03-23T00:00:00.000Z`.
pub(crate) fn hubspot_dt(d: NaiveDate, secs_of_day: u32, millis: u32) -> String {
    let (h, m, s) = hms(secs_of_day);
    format!("{}T{h:02}:{m:02}:{s:02}.{millis:03}Z", iso(d))
}

/// Kantata datetime with offset: `2026-03-03T10:00:00-05:00`.
pub(crate) fn kantata_dt(d: NaiveDate, secs_of_day: u32, offset: &str) -> String {
    let (h, m, s) = hms(secs_of_day);
    format!("{}T{h:02}:{m:02}:{s:02}{offset}", iso(d))
}

/// Workday datetime (tenant in US Pacific): `2026-03-01T10:00:00.000-07:00`.
pub(crate) fn workday_dt(d: NaiveDate, secs_of_day: u32) -> String {
    let (h, m, s) = hms(secs_of_day);
    format!("{}T{h:02}:{m:02}:{s:02}.000-07:00", iso(d))
}

fn hms(secs: u32) -> (u32, u32, u32) {
    let secs = secs % 86_400;
    (secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Easter Sunday (anonymous Gregorian algorithm).
pub(crate) fn easter(y: i32) -> NaiveDate {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(y, month as u32, day as u32)
}

/// The `n`-th (1-based) `wd` of a month.
fn nth_weekday(y: i32, m: u32, wd: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, wd, n as u8).expect("nth weekday exists")
}

/// The last `wd` of a month.
fn last_weekday(y: i32, m: u32, wd: Weekday) -> NaiveDate {
    let mut d = month_end(ymd(y, m, 1));
    while d.weekday() != wd {
        d -= Duration::days(1);
    }
    d
}

/// US-style observance: Saturday to Friday, Sunday to Monday.
fn observed_us(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

/// UK/Canada substitute day: a weekend holiday moves to the next free weekday.
fn substitute(d: NaiveDate, taken: &BTreeSet<NaiveDate>) -> NaiveDate {
    let mut v = d;
    while !is_weekday(v) || (v != d && taken.contains(&v)) {
        v += Duration::days(1);
    }
    v
}

/// The public holidays of `country` (ISO alpha-2) in year `y`, sorted by date.
pub(crate) fn holidays(country: &str, y: i32) -> Vec<(NaiveDate, &'static str)> {
    use Weekday::{Mon, Thu};
    let e = easter(y);
    let mut out: Vec<(NaiveDate, &'static str)> = Vec::new();
    match country {
        "US" => {
            out.push((observed_us(ymd(y, 1, 1)), "New Year's Day"));
            out.push((nth_weekday(y, 1, Mon, 3), "Martin Luther King Jr. Day"));
            out.push((nth_weekday(y, 2, Mon, 3), "Presidents' Day"));
            out.push((last_weekday(y, 5, Mon), "Memorial Day"));
            out.push((observed_us(ymd(y, 6, 19)), "Juneteenth"));
            out.push((observed_us(ymd(y, 7, 4)), "Independence Day"));
            out.push((nth_weekday(y, 9, Mon, 1), "Labor Day"));
            out.push((nth_weekday(y, 11, Thu, 4), "Thanksgiving Day"));
            out.push((
                nth_weekday(y, 11, Thu, 4) + Duration::days(1),
                "Day after Thanksgiving",
            ));
            out.push((observed_us(ymd(y, 12, 25)), "Christmas Day"));
        }
        "GB" | "CA" => {
            let mut taken = BTreeSet::new();
            let mut fixed = |out: &mut Vec<_>, d: NaiveDate, name| {
                let v = substitute(d, &taken);
                taken.insert(v);
                out.push((v, name));
            };
            fixed(&mut out, ymd(y, 1, 1), "New Year's Day");
            out.push((e - Duration::days(2), "Good Friday"));
            if country == "GB" {
                out.push((e + Duration::days(1), "Easter Monday"));
                out.push((nth_weekday(y, 5, Mon, 1), "Early May Bank Holiday"));
                out.push((last_weekday(y, 5, Mon), "Spring Bank Holiday"));
                out.push((last_weekday(y, 8, Mon), "Summer Bank Holiday"));
            } else {
                let mut victoria = ymd(y, 5, 24);
                while victoria.weekday() != Mon {
                    victoria -= Duration::days(1);
                }
                out.push((victoria, "Victoria Day"));
                fixed(&mut out, ymd(y, 7, 1), "Canada Day");
                out.push((nth_weekday(y, 9, Mon, 1), "Labour Day"));
                out.push((nth_weekday(y, 10, Mon, 2), "Thanksgiving"));
            }
            fixed(&mut out, ymd(y, 12, 25), "Christmas Day");
            fixed(&mut out, ymd(y, 12, 26), "Boxing Day");
        }
        "DE" => {
            out.push((ymd(y, 1, 1), "Neujahr"));
            out.push((e - Duration::days(2), "Karfreitag"));
            out.push((e + Duration::days(1), "Ostermontag"));
            out.push((ymd(y, 5, 1), "Tag der Arbeit"));
            out.push((e + Duration::days(39), "Christi Himmelfahrt"));
            out.push((e + Duration::days(50), "Pfingstmontag"));
            out.push((ymd(y, 10, 3), "Tag der Deutschen Einheit"));
            out.push((ymd(y, 12, 25), "1. Weihnachtstag"));
            out.push((ymd(y, 12, 26), "2. Weihnachtstag"));
        }
        "IN" => {
            out.push((ymd(y, 1, 26), "Republic Day"));
            // Lunar-calendar holidays, from the published gazette lists.
            let lunar: &[(i32, u32, u32, &'static str)] = &[
                (2025, 3, 14, "Holi"),
                (2025, 10, 20, "Diwali"),
                (2026, 3, 4, "Holi"),
                (2026, 11, 8, "Diwali"),
                (2027, 3, 22, "Holi"),
                (2027, 10, 29, "Diwali"),
            ];
            for &(ly, m, d, name) in lunar {
                if ly == y {
                    out.push((ymd(y, m, d), name));
                }
            }
            out.push((e - Duration::days(2), "Good Friday"));
            out.push((ymd(y, 8, 15), "Independence Day"));
            out.push((ymd(y, 10, 2), "Gandhi Jayanti"));
            out.push((ymd(y, 12, 25), "Christmas Day"));
        }
        _ => {}
    }
    out.sort();
    out
}

/// Fast membership test of holidays per country over a range of years.
#[derive(Debug, Clone)]
pub(crate) struct HolidaySet {
    days: BTreeSet<(usize, NaiveDate)>,
}

impl HolidaySet {
    /// The holidays of `countries` (by index) for `years`.
    pub(crate) fn new(countries: &[&str], years: std::ops::RangeInclusive<i32>) -> Self {
        let mut days = BTreeSet::new();
        for (ci, c) in countries.iter().enumerate() {
            for y in years.clone() {
                for (d, _) in holidays(c, y) {
                    days.insert((ci, d));
                }
            }
        }
        Self { days }
    }

    /// Whether `d` is a public holiday in country `ci`.
    pub(crate) fn contains(&self, ci: usize, d: NaiveDate) -> bool {
        self.days.contains(&(ci, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2025), ymd(2025, 4, 20));
        assert_eq!(easter(2026), ymd(2026, 4, 5));
        assert_eq!(easter(2027), ymd(2027, 3, 28));
    }

    #[test]
    fn formats() {
        let d = ymd(2026, 3, 1);
        assert_eq!(netsuite(d), "3/1/2026");
        assert_eq!(salesforce_dt(d, 36_000), "2026-03-01T10:00:00.000+0000");
        assert_eq!(hubspot_dt(d, 0, 0), "2026-03-01T00:00:00.000Z");
        assert_eq!(kantata_dt(d, 36_000, "-05:00"), "2026-03-01T10:00:00-05:00");
        assert_eq!(add_months(ymd(2026, 1, 31), 1), ymd(2026, 2, 28));
        assert_eq!(month_end(ymd(2026, 2, 10)), ymd(2026, 2, 28));
    }

    #[test]
    fn holiday_rules() {
        let us = holidays("US", 2026);
        assert!(us.contains(&(ymd(2026, 7, 3), "Independence Day")));
        assert!(us.contains(&(ymd(2026, 11, 26), "Thanksgiving Day")));
        let gb = holidays("GB", 2026);
        assert!(gb.contains(&(ymd(2026, 12, 28), "Boxing Day")));
        assert!(gb.contains(&(ymd(2026, 4, 3), "Good Friday")));
        let de = holidays("DE", 2026);
        assert!(de.contains(&(ymd(2026, 5, 14), "Christi Himmelfahrt")));
        let ca = holidays("CA", 2026);
        assert!(ca.contains(&(ymd(2026, 5, 18), "Victoria Day")));
        assert_eq!(weekdays_between(ymd(2026, 9, 28), ymd(2026, 10, 4)), 5);
    }
}
