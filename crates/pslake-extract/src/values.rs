//! Vendor value parsers: JSON scalars in each vendor's format to typed values.
//!
//! Nothing vendor-specific lives here: a value's format is declared per column in the pipeline
//! (`format: "%m/%d/%Y"`, `format: "T/F"`), never guessed from its shape. Without a declared
//! format only unambiguous forms parse: ISO 8601 dates and datetimes (RFC 3339, `+0000`
//! offsets, naive = UTC), JSON booleans and `true`/`false`, numbers as JSON numbers or strings.
//! An empty string is NULL. Decimals are parsed from their exact text into scaled integers
//! (never through `f64`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::json::Scalar;
use pslake_core::pipeline::{DataType, ValueFormat};

/// A typed value ready for an Arrow builder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed<'a> {
    Null,
    Str(std::borrow::Cow<'a, str>),
    Bool(bool),
    Int(i64),
    F64(f64),
    /// Scaled integer of a decimal.
    Dec(i128),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Ts(i64),
}

/// Parses a scalar as `ty` written in `fmt`; `Err` holds the reason.
pub(crate) fn parse<'a>(
    s: &Scalar<'a>,
    ty: DataType,
    fmt: &ValueFormat,
) -> Result<Typed<'a>, String> {
    if let Scalar::Null = s {
        return Ok(Typed::Null);
    }
    if let Scalar::Str(t) = s
        && t.is_empty()
    {
        return Ok(Typed::Null);
    }
    match ty {
        DataType::String => Ok(Typed::Str(s.text().unwrap_or_default())),
        DataType::Boolean => match s {
            Scalar::Bool(b) => Ok(Typed::Bool(*b)),
            Scalar::Str(t) => parse_bool(t.trim(), fmt).map(Typed::Bool),
            Scalar::Num(n) => parse_bool(n, fmt).map(Typed::Bool),
            _ => Err("expected a boolean".into()),
        },
        DataType::Integer => text_of_number(s).and_then(parse_int).map(Typed::Int),
        DataType::Double => text_of_number(s).and_then(|t| {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Typed::F64)
                .ok_or_else(|| format!("`{t}` is not a number"))
        }),
        DataType::Decimal(p, sc) => text_of_number(s)
            .and_then(|t| parse_decimal(t, p, sc))
            .map(Typed::Dec),
        DataType::Date => match s {
            Scalar::Str(t) => match fmt {
                ValueFormat::Chrono(f) => parse_date_with(t.trim(), f).map(Typed::Date),
                _ => parse_date(t.trim()).map(Typed::Date),
            },
            _ => Err("expected a date string".into()),
        },
        DataType::Timestamp => match s {
            Scalar::Str(t) => match fmt {
                ValueFormat::Chrono(f) => parse_timestamp_with(t.trim(), f).map(Typed::Ts),
                _ => parse_timestamp(t.trim()).map(Typed::Ts),
            },
            _ => Err("expected a datetime string".into()),
        },
    }
}

fn text_of_number<'a>(s: &'a Scalar<'_>) -> Result<&'a str, String> {
    match s {
        Scalar::Num(n) => Ok(n),
        Scalar::Str(t) => Ok(t.as_ref()),
        Scalar::Bool(_) => Err("expected a number, found a boolean".into()),
        _ => Err("expected a number, found an object or array".into()),
    }
}

/// The declared spellings (exact), else `true`/`false` in any case.
pub(crate) fn parse_bool(t: &str, fmt: &ValueFormat) -> Result<bool, String> {
    if let ValueFormat::Bool {
        true_values,
        false_values,
    } = fmt
    {
        if true_values.iter().any(|v| v == t) {
            return Ok(true);
        }
        if false_values.iter().any(|v| v == t) {
            return Ok(false);
        }
        return Err(format!(
            "`{t}` is not a boolean (declared true {true_values:?}, false {false_values:?})"
        ));
    }
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!(
            "`{t}` is not a boolean (declare its spellings with `format: \"T/F\"` or `true_values`/`false_values`)"
        ))
    }
}

/// An integer; `12.0` is accepted, `12.5` is not.
pub(crate) fn parse_int(t: &str) -> Result<i64, String> {
    let t = t.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    let out_of_range = || format!("`{t}` is out of the integer range");
    match parse_decimal(t, 38, 0) {
        Ok(v) => i64::try_from(v).map_err(|_| out_of_range()),
        // a whole number past even a decimal(38): `1e300`
        Err(_)
            if t.parse::<f64>()
                .is_ok_and(|f| f.is_finite() && f.abs() >= 9.2e18) =>
        {
            Err(out_of_range())
        }
        Err(_) => Err(format!("`{t}` is not an integer")),
    }
}

/// Parses decimal text (`-12.50`, `1.5E+3`, `+3`) into an integer scaled by `10^scale`, exactly.
/// Digits beyond the scale must be zeros; more than `precision` digits is an error.
pub(crate) fn parse_decimal(t: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let err = || format!("`{t}` is not a decimal({precision},{scale})");
    let s = t.trim();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| err())?),
        None => (s, 0),
    };
    let (int_part, frac_part) = match mant.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mant, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    // digits as one integer, with the decimal point `frac_len - exp` places from the right
    // (in i64: an exponent near i32::MIN or MAX must not overflow)
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        // zero, whatever its exponent (`0e999999999` must not scale a zero that many times)
        return Ok(0);
    }
    let point = frac_part.len() as i64 - i64::from(exp); // number of digits after the point
    let shift = i64::from(scale) - point; // multiply by 10^shift
    let mut value: i128 = 0;
    let kept: &str = if shift >= 0 {
        digits
    } else {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        if drop >= digits.len() {
            if digits.bytes().any(|b| b != b'0') {
                return Err(format!("`{t}` has more than {scale} decimal places"));
            }
            ""
        } else {
            let (k, d) = digits.split_at(digits.len() - drop);
            if d.bytes().any(|b| b != b'0') {
                return Err(format!("`{t}` has more than {scale} decimal places"));
            }
            k
        }
    };
    for b in kept.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as i128))
            .ok_or_else(err)?;
    }
    if shift > 0 {
        // a nonzero value times more than 10^38 overflows long before the loop ends
        for _ in 0..shift.min(40) {
            value = value.checked_mul(10).ok_or_else(err)?;
        }
    }
    let max = 10i128.checked_pow(precision as u32).ok_or_else(err)?;
    if value >= max {
        return Err(format!("`{t}` does not fit decimal({precision},{scale})"));
    }
    Ok(if neg { -value } else { value })
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

fn days(d: NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

/// The number written by the ASCII digits `b[r]` (`None`: out of range, or not all digits).
fn digits(b: &[u8], r: std::ops::Range<usize>) -> Option<i64> {
    b.get(r)?.iter().try_fold(0i64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

/// `YYYY-MM-DD`, or the date as written at the start of an ISO 8601 datetime.
pub(crate) fn parse_date(t: &str) -> Result<i32, String> {
    let b = t.as_bytes();
    if b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && (b.len() == 10 || matches!(b[10], b'T' | b' '))
    {
        // all digits: read them directly (what the format below reads, without its cost)
        let date = match (digits(b, 0..4), digits(b, 5..7), digits(b, 8..10)) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32),
            _ => NaiveDate::parse_from_str(&t[..10], "%Y-%m-%d").ok(),
        };
        return date.map(days).ok_or_else(|| format!("`{t}` is not a date"));
    }
    Err(format!(
        "`{t}` is not an ISO date (YYYY-MM-DD); declare the column's `format` (e.g. \"%m/%d/%Y\")"
    ))
}

/// A date in the declared chrono format (a datetime format keeps the date as written).
pub(crate) fn parse_date_with(t: &str, f: &str) -> Result<i32, String> {
    NaiveDate::parse_from_str(t, f)
        .or_else(|_| NaiveDateTime::parse_from_str(t, f).map(|d| d.date()))
        .or_else(|_| DateTime::parse_from_str(t, f).map(|d| d.date_naive()))
        .map(days)
        .map_err(|_| format!("`{t}` is not a date in the declared format `{f}`"))
}

/// RFC 3339 (`Z` or `±HH:MM`), ISO with a `±HHMM` offset (Salesforce), naive
/// `YYYY-MM-DD[ T]HH:MM:SS[.f]` (UTC) and `YYYY-MM-DD` (midnight UTC). Returns UTC microseconds.
pub(crate) fn parse_timestamp(t: &str) -> Result<i64, String> {
    if let Some(v) = rfc3339_micros(t) {
        return Ok(v);
    }
    let micros = |d: DateTime<Utc>| d.timestamp_micros();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(micros(d.to_utc()));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(micros(d.to_utc()));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(micros(d.and_utc()));
        }
    }
    if t.len() == 10
        && let Ok(d) = parse_date(t)
    {
        return Ok(d as i64 * 86_400_000_000);
    }
    Err(format!(
        "`{t}` is not an ISO 8601 datetime; declare the column's `format`"
    ))
}

/// The common RFC 3339 form `YYYY-MM-DDTHH:MM:SS[.f]` with `Z` or `±HH:MM`, read directly (the
/// value chrono's `parse_from_rfc3339` gives, without its cost per value); `None` for anything
/// else (other separators, a leap second, more than nine fraction digits), which chrono reads.
fn rfc3339_micros(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits(b, r);
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let days = i64::from(parse_date(&t[..10]).ok()?);
    let mut i = 19;
    let mut frac = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        // microseconds, the nanoseconds past them truncated (as `timestamp_micros` does)
        let digits = num(start..i)?;
        frac = digits * 10i64.pow(9 - n as u32) / 1000;
    }
    let offset = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = (oh * 60 + om) * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let secs = days * 86_400 + h * 3600 + m * 60 + sec - offset;
    Some(secs * 1_000_000 + frac)
}

/// A datetime in the declared chrono format: with an offset when the format has one, else UTC;
/// a date-only format gives midnight UTC.
pub(crate) fn parse_timestamp_with(t: &str, f: &str) -> Result<i64, String> {
    DateTime::parse_from_str(t, f)
        .map(|d| d.to_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(t, f).map(|d| d.and_utc()))
        .or_else(|_| {
            NaiveDate::parse_from_str(t, f).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map(|d| d.timestamp_micros())
        .map_err(|_| format!("`{t}` is not a datetime in the declared format `{f}`"))
}

/// Formats a stored cursor: timestamps as RFC 3339 UTC with microseconds, dates as `YYYY-MM-DD`
/// (`""` for a value outside chrono's range, which no parsed value is).
pub(crate) fn format_cursor(v: i64, ty: DataType) -> String {
    match ty {
        DataType::Date => chrono::TimeDelta::try_days(v)
            .and_then(|d| EPOCH.checked_add_signed(d))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        _ => DateTime::<Utc>::from_timestamp_micros(v)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(t: &str) -> Scalar<'_> {
        Scalar::Str(Cow::Borrowed(t))
    }

    /// Parses with no declared format.
    fn parse<'a>(v: &Scalar<'a>, ty: DataType) -> Result<Typed<'a>, String> {
        super::parse(v, ty, &ValueFormat::Default)
    }

    fn chrono(f: &str) -> ValueFormat {
        ValueFormat::Chrono(f.into())
    }

    #[test]
    fn salesforce_datetimes_and_numbers() {
        let ts = parse(&s("2026-03-01T10:00:00.000+0000"), DataType::Timestamp).unwrap();
        assert_eq!(
            ts,
            Typed::Ts(parse_timestamp("2026-03-01T10:00:00Z").unwrap())
        );
        assert_eq!(
            parse(&Scalar::Num("185000.0"), DataType::Decimal(18, 2)),
            Ok(Typed::Dec(18_500_000))
        );
        assert_eq!(
            parse(&Scalar::Num("90.0"), DataType::Double),
            Ok(Typed::F64(90.0))
        );
        assert_eq!(
            parse(&Scalar::Bool(true), DataType::Boolean),
            Ok(Typed::Bool(true))
        );
    }

    #[test]
    fn netsuite_strings_need_declared_formats() {
        let tf = ValueFormat::Bool {
            true_values: vec!["T".into()],
            false_values: vec!["F".into()],
        };
        assert_eq!(
            super::parse(&s("T"), DataType::Boolean, &tf),
            Ok(Typed::Bool(true))
        );
        assert_eq!(
            super::parse(&s("F"), DataType::Boolean, &tf),
            Ok(Typed::Bool(false))
        );
        // declared spellings are exact: `true` is not one of them
        assert!(super::parse(&s("true"), DataType::Boolean, &tf).is_err());
        // JSON booleans always parse
        assert_eq!(
            super::parse(&Scalar::Bool(false), DataType::Boolean, &tf),
            Ok(Typed::Bool(false))
        );
        // undeclared `T`/`F` are not guessed
        let e = parse(&s("T"), DataType::Boolean).unwrap_err();
        assert!(e.contains("`T` is not a boolean"), "{e}");
        assert!(parse(&Scalar::Num("1"), DataType::Boolean).is_err());

        let mdy = chrono("%m/%d/%Y");
        assert_eq!(
            super::parse(&s("3/1/2026"), DataType::Date, &mdy),
            parse(&s("2026-03-01"), DataType::Date)
        );
        assert_eq!(
            super::parse(&s("12/31/2025"), DataType::Date, &mdy),
            Ok(Typed::Date(days(
                NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
            )))
        );
        assert!(super::parse(&s("13/45/2026"), DataType::Date, &mdy).is_err());
        // a declared date format does not fall back to ISO
        let e = super::parse(&s("2026-03-01"), DataType::Date, &mdy).unwrap_err();
        assert!(e.contains("declared format `%m/%d/%Y`"), "{e}");
        assert_eq!(
            parse(&s("72500.5"), DataType::Decimal(18, 2)),
            Ok(Typed::Dec(7_250_050))
        );
        assert_eq!(parse(&s(""), DataType::Decimal(18, 2)), Ok(Typed::Null));
        assert_eq!(super::parse(&s(""), DataType::Date, &mdy), Ok(Typed::Null));
    }

    #[test]
    fn undeclared_slash_dates_are_rejected_not_guessed() {
        for v in ["3/1/2026", "12/31/2025", "01/10/2026"] {
            let e = parse(&s(v), DataType::Date).unwrap_err();
            assert!(e.contains(v) && e.contains("format"), "{e}");
            assert!(parse(&s(v), DataType::Timestamp).is_err());
        }
        assert!(parse(&s("3/1/2026 10:00:00"), DataType::Timestamp).is_err());
    }

    #[test]
    fn declared_day_first_dates() {
        let dmy = chrono("%d/%m/%Y");
        assert_eq!(
            super::parse(&s("3/1/2026"), DataType::Date, &dmy),
            parse(&s("2026-01-03"), DataType::Date)
        );
        assert_eq!(
            super::parse(&s("31/12/2025"), DataType::Date, &dmy),
            parse(&s("2025-12-31"), DataType::Date)
        );
        assert!(super::parse(&s("12/31/2025"), DataType::Date, &dmy).is_err());
        // a timestamp column with a date-only format is midnight UTC
        assert_eq!(
            super::parse(&s("31/12/2025"), DataType::Timestamp, &dmy),
            parse(&s("2025-12-31T00:00:00Z"), DataType::Timestamp)
        );
        // a datetime format with an offset
        let f = chrono("%d/%m/%Y %H:%M %z");
        assert_eq!(
            super::parse(&s("31/12/2025 22:30 -0200"), DataType::Timestamp, &f),
            parse(&s("2026-01-01T00:30:00Z"), DataType::Timestamp)
        );
        // and without one: UTC
        let f = chrono("%m/%d/%Y %I:%M %p");
        assert_eq!(
            super::parse(&s("3/1/2026 1:05 PM"), DataType::Timestamp, &f),
            parse(&s("2026-03-01T13:05:00Z"), DataType::Timestamp)
        );
    }

    #[test]
    fn hubspot_strings() {
        assert_eq!(parse(&s("0.4"), DataType::Double), Ok(Typed::F64(0.4)));
        assert_eq!(parse(&s("true"), DataType::Boolean), Ok(Typed::Bool(true)));
        let d = parse(&s("2026-03-23T00:00:00.000Z"), DataType::Date).unwrap();
        assert_eq!(d, parse(&s("2026-03-23"), DataType::Date).unwrap());
        assert_eq!(
            parse(&s("2026-03-23T00:00:00.000Z"), DataType::Timestamp),
            Ok(Typed::Ts(1_774_224_000_000_000))
        );
        assert!(parse(&s("abc"), DataType::Decimal(18, 2)).is_err());
    }

    #[test]
    fn kantata_offsets_and_written_date() {
        let a = parse(&s("2026-03-03T22:00:00-05:00"), DataType::Timestamp).unwrap();
        assert_eq!(
            a,
            Typed::Ts(parse_timestamp("2026-03-04T03:00:00Z").unwrap())
        );
        // the calendar date written in the value, before any offset shift
        assert_eq!(
            parse(&s("2026-03-03T22:00:00-05:00"), DataType::Date),
            parse(&s("2026-03-03"), DataType::Date)
        );
        assert_eq!(
            parse(&Scalar::Num("450"), DataType::Integer),
            Ok(Typed::Int(450))
        );
    }

    #[test]
    fn workday_strings() {
        assert_eq!(parse(&s("40"), DataType::Double), Ok(Typed::F64(40.0)));
        assert_eq!(
            parse(&s("85.123456"), DataType::Decimal(18, 6)),
            Ok(Typed::Dec(85_123_456))
        );
        assert_eq!(parse(&s(""), DataType::Date), Ok(Typed::Null));
        assert_eq!(parse(&s(""), DataType::String), Ok(Typed::Null));
    }

    #[test]
    fn the_direct_rfc3339_reading_equals_chrono() {
        let chrono_micros = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.to_utc().timestamp_micros())
        };
        let cases = [
            "2025-07-04T09:48:22-05:00",
            "2025-07-04T09:48:22+05:30",
            "2025-07-04T09:48:22Z",
            "2025-07-04T23:59:59.999999Z",
            "2025-07-04T00:00:00.5+00:00",
            "2025-07-04T00:00:00.123456789-11:45",
            "1969-12-31T23:59:59.999Z",
            "1900-02-28T12:00:00Z",
            "2024-02-29T12:00:00Z",
            "9999-12-31T23:59:59Z",
        ];
        for t in cases {
            assert_eq!(rfc3339_micros(t), chrono_micros(t), "{t}");
            assert!(rfc3339_micros(t).is_some(), "{t} is read directly");
        }
        // not read directly: chrono (or the other formats) decide, as before
        for t in [
            "2025-07-04t09:48:22Z",
            "2025-07-04 09:48:22Z",
            "2025-07-04T09:48:60Z",
            "2025-07-04T24:00:00Z",
            "2025-02-30T09:48:22Z",
            "2025-07-04T09:48:22.Z",
            "2025-07-04T09:48:22.1234567891Z",
            "2025-07-04T09:48:22+0500",
            "2025-07-04T09:48:22+24:00",
            "2025-07-04T09:48:22",
            "2025-07-04T09:48:2xZ",
        ] {
            assert_eq!(rfc3339_micros(t), None, "{t}");
        }
        // ... and what they were before: chrono's reading, or none
        assert_eq!(
            parse_timestamp("2025-07-04t09:48:22Z").ok(),
            chrono_micros("2025-07-04T09:48:22Z")
        );
        assert!(parse_timestamp("2025-02-30T09:48:22Z").is_err());
        // every second of a day and a spread of days, both offsets
        for day in ["1970-01-01", "2001-09-09", "2026-12-06"] {
            for s in (0..86_400).step_by(7_919) {
                for off in ["Z", "-05:00", "+13:45"] {
                    let t = format!(
                        "{day}T{:02}:{:02}:{:02}.{:06}{off}",
                        s / 3600,
                        s / 60 % 60,
                        s % 60,
                        s * 37 % 1_000_000
                    );
                    assert_eq!(rfc3339_micros(&t), chrono_micros(&t), "{t}");
                }
            }
        }
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("0.1", 18, 2), Ok(10));
        assert_eq!(parse_decimal("-1.005e2", 18, 2), Ok(-10050));
        assert_eq!(parse_decimal("1.10", 18, 1), Ok(11));
        assert_eq!(parse_decimal("0.00000001", 18, 8), Ok(1));
        assert!(parse_decimal("1.005", 18, 2).is_err());
        assert!(parse_decimal("1e30", 18, 2).is_err());
        assert!(parse_decimal("1.2.3", 18, 2).is_err());
        assert!(parse_decimal("", 18, 2).is_err());
        assert_eq!(parse_int("12.0"), Ok(12));
        assert!(parse_int("12.5").is_err());
    }
}
