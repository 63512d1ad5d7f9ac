//! Raw JSON helpers for the hot path.
//!
//! Fixture lines are validated with serde_json once, at start. Afterwards the server never parses a
//! record into a `serde_json::Value`: it slices the raw line, or walks the top-level members of the
//! (already valid) object with [`members`] to project fields, so served bytes are the fixture's bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// One member of a JSON object: its key (unescaped) and the raw bytes of its value.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    pub(crate) key: Cow<'a, str>,
    pub(crate) value: &'a [u8],
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the closing quote of the string starting at `i` (which is `"`).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Index just past the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Unescape a raw JSON string (with its quotes); borrowed when it holds no escapes.
pub(crate) fn unquote(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.len() < 2 || raw[0] != b'"' || raw[raw.len() - 1] != b'"' {
        return None;
    }
    let inner = &raw[1..raw.len() - 1];
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
    } else {
        std::str::from_utf8(inner).ok().map(Cow::Borrowed)
    }
}

/// The top-level members of the JSON object `obj`, in order. Stops early on malformed input
/// (inputs are validated at load time, so that does not happen in practice).
pub(crate) fn members(obj: &[u8]) -> Vec<Member<'_>> {
    let mut out = Vec::with_capacity(24);
    let mut i = skip_ws(obj, 0);
    if obj.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    loop {
        i = skip_ws(obj, i);
        match obj.get(i) {
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(b'"') => {}
            _ => return out,
        }
        let Some(kend) = string_end(obj, i) else {
            return out;
        };
        let Some(key) = unquote(&obj[i..kend]) else {
            return out;
        };
        i = skip_ws(obj, kend);
        if obj.get(i) != Some(&b':') {
            return out;
        }
        i = skip_ws(obj, i + 1);
        let Some(vend) = value_end(obj, i) else {
            return out;
        };
        out.push(Member {
            key,
            value: &obj[i..vend],
        });
        i = vend;
    }
}

/// The raw value of member `key` of object `obj`.
pub(crate) fn member<'a>(obj: &'a [u8], key: &str) -> Option<&'a [u8]> {
    members(obj)
        .into_iter()
        .find(|m| m.key == key)
        .map(|m| m.value)
}

/// The bytes between the braces of object `obj`, trimmed (empty for `{}`).
pub(crate) fn inner(obj: &[u8]) -> &[u8] {
    let start = skip_ws(obj, 0) + 1;
    let mut end = obj.len();
    while end > start && matches!(obj[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    let end = end.saturating_sub(1).max(start);
    let body = &obj[start.min(end)..end];
    let s = skip_ws(body, 0);
    let mut e = body.len();
    while e > s && matches!(body[e - 1], b' ' | b'\t' | b'\n' | b'\r') {
        e -= 1;
    }
    &body[s..e]
}

/// Append `s` as a JSON string.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|c| c >= 0x20 && c != b'"' && c != b'\\' && c < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let quoted = serde_json::to_string(s).expect("a str always serializes");
        out.extend_from_slice(quoted.as_bytes());
    }
}

/// Append an unsigned integer.
pub(crate) fn push_u(out: &mut Vec<u8>, n: u64) {
    let mut s = String::with_capacity(20);
    let _ = write!(s, "{n}");
    out.extend_from_slice(s.as_bytes());
}

/// Milliseconds since the epoch of a datetime in any of the forms the vendors use: RFC 3339
/// (`Z` or `+00:00`), Salesforce's `2026-03-01T10:00:00.000+0000`, a naive datetime (taken as
/// UTC, `T` or space separated), or a bare date (midnight UTC).
pub(crate) fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_millis());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    parse_date(s).map(|d| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
    })
}

/// A date as `YYYY-MM-DD` or NetSuite's `M/D/YYYY`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%m/%d/%Y"))
        .ok()
}

/// A NetSuite date or datetime value (`M/D/YYYY`, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, ...) as
/// milliseconds since the epoch, UTC.
pub(crate) fn parse_ns_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(d) = parse_date(s) {
        return Some(
            d.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis(),
        );
    }
    for fmt in ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    parse_instant(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_walks_top_level_only() {
        let raw = br#" { "a" : 1, "b":{"x":[1,{"y":"}"}]}, "c\"d":"e\\"  ,"f":null } "#;
        let m = members(raw);
        let keys: Vec<&str> = m.iter().map(|m| m.key.as_ref()).collect();
        assert_eq!(keys, ["a", "b", "c\"d", "f"]);
        assert_eq!(m[1].value, br#"{"x":[1,{"y":"}"}]}"#);
        assert_eq!(m[2].value, br#""e\\""#);
        assert_eq!(m[3].value, b"null");
        assert_eq!(
            inner(raw),
            br#""a" : 1, "b":{"x":[1,{"y":"}"}]}, "c\"d":"e\\"  ,"f":null"#
        );
        assert_eq!(inner(b"{}"), b"");
        assert_eq!(member(raw, "f"), Some(&b"null"[..]));
    }

    #[test]
    fn instants_in_every_vendor_form() {
        let z = parse_instant("2026-03-01T10:00:00Z");
        assert!(z.is_some());
        assert_eq!(parse_instant("2026-03-01T10:00:00.000+0000"), z);
        assert_eq!(parse_instant("2026-03-01T05:00:00-05:00"), z);
        assert_eq!(parse_instant("2026-03-01T10:00:00"), z);
        assert_eq!(parse_instant("2026-03-01 10:00:00"), z);
        assert_eq!(parse_ns_datetime("3/1/2026"), parse_instant("2026-03-01"));
        assert_eq!(parse_ns_datetime("03/01/2026"), parse_instant("2026-03-01"));
        assert_eq!(parse_instant("nope"), None);
    }
}
