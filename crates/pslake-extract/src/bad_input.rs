//! Property tests of the extractor's decoders against bad input, in the normal test run:
//! arbitrary bytes, arbitrary and mutated JSON pages, wrong types, huge strings, non-finite and
//! out-of-range numbers, impossible dates. Each ends in a typed value, a reject row or a page
//! error naming what was wrong; never a panic, never a hang.
//!
//! Case counts are per property (the `cases(..)` of each `proptest!` block, about 20 s in all in
//! a debug build). `PROPTEST_CASES=N` runs every property N times instead, but the 1 MB-string
//! one N/1000 times (at least its 24): `PROPTEST_CASES=100000 cargo test -p pslake-extract --lib
//! bad_input` (docs/RELIABILITY.md, "Bad input"). A failure's seed is saved in
//! `proptest-regressions/bad_input.txt` and replayed first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;

use pslake_core::pipeline::load::parse_pipeline;
use pslake_core::pipeline::{DataType, ValueFormat};

use crate::batch::{RULE_MISSING, RULE_UNPARSEABLE, StreamPlan};
use crate::error::{Error, SHOWN_BYTES};
use crate::http::BodyError;
use crate::json::{PathTree, Scalar, get_path, strip_keys};
use crate::rest::{Page, decode};
use crate::values::{Typed, format_cursor, parse};

/// `n` cases; the `proptest!` macro lets `PROPTEST_CASES` override it.
fn cases(n: u32) -> Config {
    Config::with_cases(n)
}

/// Three streams with every column type, a records array, a keyed map and records at the root.
const PIPELINE: &str = r#"
name: fuzz
lake: ./lake
systems:
  - name: fz
    type: rest
    client: {base_url: "http://127.0.0.1:9"}
    resource_defaults:
      primary_key: [id]
    resources:
      - name: flat
        endpoint: {path: /flat}
        paginator: {type: next_url, path: next, done_path: done}
        records: {path: data, strip: [attributes]}
        incremental: {cursor: ts, initial_value: "2020-01-01T00:00:00Z", client_filter: true}
        columns:
          - {name: id, type: string, required: true}
          - {name: amount, type: "decimal(18,2)"}
          - {name: day, type: date, format: "%m/%d/%Y"}
          - {name: iso_day, type: date}
          - {name: flag, type: boolean, format: "T/F"}
          - {name: ok, type: boolean}
          - {name: n, type: integer}
          - {name: x, type: double}
          - {name: ts, type: timestamp}
          - {name: s, type: string}
          - {name: nested, path: p.q, type: integer}
      - name: keyed
        endpoint: {path: /keyed}
        paginator: {type: page_number, page_param: page, total_pages_path: meta.page_count}
        records: {path: data, keyed_by: {refs: results, id_field: id, type_field: key, type_value: data}}
        columns:
          - {name: id, type: string, required: true}
          - {name: n, type: integer, required: true}
          - {name: day, type: date}
      - name: root
        endpoint: {path: /root}
        paginator: {type: offset, limit: 10, total_path: total}
        records: {path: ""}
        columns:
          - {name: id, type: integer, required: true}
          - {name: amount, type: "decimal(38,10)"}
          - {name: ts, type: timestamp, format: "%d/%m/%Y %H:%M %z"}
"#;

/// The plans of [`PIPELINE`]'s streams, by name.
fn plans() -> &'static HashMap<&'static str, StreamPlan> {
    static PLANS: std::sync::OnceLock<HashMap<&'static str, StreamPlan>> =
        std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        let p = parse_pipeline(Path::new("fuzz.yml"), PIPELINE, &HashMap::new())
            .unwrap_or_else(|e| panic!("{e:#?}"));
        let sys = &p.systems[0];
        ["flat", "keyed", "root"]
            .into_iter()
            .map(|n| {
                let s = sys.streams.iter().find(|s| s.name == n).expect("declared");
                (n, StreamPlan::new(&sys.name, s, "run", false))
            })
            .collect()
    })
}

/// [`plans`] without picking records in the page's pass: each record is borrowed whole, then
/// picked on its own (see [`crate::page::Scan::page`]).
fn plain_plans() -> &'static HashMap<&'static str, StreamPlan> {
    static PLANS: std::sync::OnceLock<HashMap<&'static str, StreamPlan>> =
        std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        plans()
            .iter()
            .map(|(n, p)| {
                (
                    *n,
                    StreamPlan::new(&p.system, &p.stream, "run", false).plain(),
                )
            })
            .collect()
    })
}

/// Decodes `body` with every plan and checks what each result promises, and that a page whose
/// records are picked in its pass decodes as the plain pass decodes it.
fn decode_all(body: &[u8]) -> Result<(), TestCaseError> {
    for (name, plan) in plans() {
        let fail = |e: TestCaseError| TestCaseError::fail(format!("stream {name}: {e}"));
        let picked = decode(plan, body, "http://t/page", None, None);
        let plain = decode(&plain_plans()[name], body, "http://t/page", None, None);
        same_decoding(plan, picked, plain).map_err(fail)?;
        check_decoded(plan, body, decode(plan, body, "http://t/page", None, None)).map_err(fail)?;
    }
    Ok(())
}

/// The two decodings of one page agree: the same rows (but for `_extracted_at`, the time of
/// each decoding), rejects, counters, paging values, or the same error.
fn same_decoding(
    plan: &StreamPlan,
    a: Result<Page, BodyError>,
    b: Result<Page, BodyError>,
) -> Result<(), TestCaseError> {
    let error = |e: BodyError| match e {
        BodyError::Invalid(m) => format!("invalid: {m}"),
        BodyError::Fatal(e) => format!("fatal: {e}"),
    };
    let (mut a, mut b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let (a, b) = (a.map(|_| ()).map_err(error), b.map(|_| ()).map_err(error));
            prop_assert_eq!(a, b);
            return Ok(());
        }
    };
    // everything but the builders and the reject times, as text
    let shown = |p: &Page| {
        let o = &p.out;
        let rejects: Vec<_> = o
            .rejects
            .iter()
            .map(|r| (&r.key, &r.rule, &r.field, &r.value, &r.message, &r.raw))
            .collect();
        format!(
            "{:?}",
            (
                (p.records, p.values(), p.fingerprint()),
                (o.rows, o.received, o.rejected, o.filtered, &o.unknown),
                (o.cursor_max, &o.failing, &o.example_key, &o.row_keys),
                rejects
            )
        )
    };
    prop_assert_eq!(shown(&a), shown(&b));
    let batch = |p: &mut Page| {
        plan.finish(&mut p.out).map(|b| {
            b.map(|b| {
                let keep: Vec<usize> = (0..b.num_columns())
                    .filter(|i| b.schema().field(*i).name() != "_extracted_at")
                    .collect();
                b.project(&keep).expect("columns in range")
            })
        })
    };
    let (x, y) = (batch(&mut a), batch(&mut b));
    prop_assert_eq!(x.is_ok(), y.is_ok());
    if let (Ok(x), Ok(y)) = (x, y) {
        prop_assert_eq!(x, y);
    }
    Ok(())
}

/// What a decoded page promises: every record is a row or a reject (with a message naming the
/// stream, and the field when there is one), the rows make a valid batch whose `_raw` is JSON;
/// a failure says why.
fn check_decoded(
    plan: &StreamPlan,
    body: &[u8],
    r: Result<Page, BodyError>,
) -> Result<(), TestCaseError> {
    let stream = format!("{}.{}", plan.system, plan.stream.name);
    match r {
        Ok(mut page) => {
            let out = &mut page.out;
            prop_assert_eq!(out.received + out.filtered, page.records as u64);
            prop_assert_eq!(out.received, out.rows as u64 + out.rejected);
            prop_assert_eq!(out.rejected, out.rejects.len() as u64);
            prop_assert_eq!(out.row_keys.len(), out.rows);
            for r in &out.rejects {
                prop_assert!(
                    r.rule == RULE_UNPARSEABLE || r.rule == RULE_MISSING,
                    "{}",
                    r.rule
                );
                prop_assert!(
                    r.message.starts_with(&format!("{stream}: ")),
                    "{}",
                    r.message
                );
                prop_assert!(r.message.len() <= SHOWN_BYTES + 40, "{}", r.message.len());
                if let Some(f) = &r.field {
                    prop_assert!(r.message.contains(&format!("`{f}`")), "{}", r.message);
                    prop_assert!(plan.stream.columns.iter().any(|c| &c.name == f));
                }
                prop_assert!(r.raw.is_some());
            }
            let rows = out.rows;
            let batch = plan
                .finish(out)
                .map_err(|e| TestCaseError::fail(format!("rows do not make a batch: {e}")))?;
            if let Some(b) = batch {
                prop_assert_eq!(b.num_rows(), rows);
                let raw = b
                    .column_by_name("_raw")
                    .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
                    .expect("text `_raw`");
                for v in raw.iter() {
                    let v = v.expect("every landed row keeps its record");
                    prop_assert!(serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok());
                }
            }
        }
        Err(BodyError::Invalid(m)) => {
            prop_assert!(!m.is_empty());
            prop_assert!(serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err());
        }
        Err(BodyError::Fatal(Error::Page { url, message })) => {
            prop_assert_eq!(url, "http://t/page");
            prop_assert!(!message.is_empty());
            prop_assert!(message.len() <= SHOWN_BYTES + 40, "{}", message.len());
            if std::str::from_utf8(body).is_err() {
                prop_assert!(message.contains("not UTF-8"), "{}", message);
            } else {
                // JSON with the wrong shape (naming the path), or JSON the decoder cannot read
                prop_assert!(
                    message.contains("` are not an array")
                        || message.contains("` is not an array")
                        || message.contains("` lacks")
                        || message.starts_with("the page is JSON but cannot be read"),
                    "{}",
                    message
                );
            }
        }
        Err(BodyError::Fatal(e)) => prop_assert!(false, "unexpected error {e}"),
    }
    Ok(())
}

// --- JSON pages built from parts, with number texts JSON values cannot hold

/// A JSON value as text parts: numbers are their text as sent (`1e400`, `-0`).
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    /// Pairs, so a key may come twice.
    Obj(Vec<(String, J)>),
}

impl J {
    fn render(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string serializes")),
            J::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.render(out);
                }
                out.push(']');
            }
            J::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    J::Str(k.clone()).render(out);
                    out.push(':');
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

/// Number texts, valid JSON all: huge, tiny, negative zero, long, exponents past any type.
fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,11})?",
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "1e-400",
            "-0",
            "-0.0",
            "0e999999999",
            "1e2147483647",
            "1e-2147483648",
            "1E+308",
            "123456789012345678901234567890123456789012",
            "0.000000000000000000000000000000000000001",
            "12.0",
            "12.5",
        ])
        .prop_map(str::to_string),
    ]
    .boxed()
}

/// Strings a vendor may send where a typed value is expected.
fn value_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", " ", "NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "1e400", "-0", "T",
            "F", "true", "FALSE", "yes", "1", "0", "2026-02-30", "2026-02-28", "31/31/2026",
            "02/30/2026", "3/1/2026", "13/45/2026", "0000-01-01", "0000-00-00", "99999-01-01",
            "9999-12-31", "-0001-01-01", "2026-13-01", "2026-1-1", "2026-03-01T10:00:00Z",
            "2026-03-01T24:00:00Z", "2026-03-01T23:59:60Z", "2026-03-01T10:00:00.000+0000",
            "2026-03-01 10:00:00", "2026-03-01T10:00:00+99:99", "31/12/2025 22:30 -0200",
            "12/31/2025", "1,000.00", "1.005", "١٢٣", "𝟙𝟚𝟛", "\u{0}", "\u{feff}2026-03-01",
        ])
        .prop_map(str::to_string),
        2 => number_text(),
        2 => "[0-9/:. TZ+-]{0,30}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number_text().prop_map(J::Num),
        value_text().prop_map(J::Str),
    ]
    .boxed()
}

/// Keys of the declared paths, often, and others.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "id", "amount", "day", "iso_day", "flag", "ok", "n", "x", "ts", "s", "p", "q",
            "data", "next", "done", "results", "key", "meta", "page_count", "total",
            "attributes",
        ])
        .prop_map(str::to_string),
        1 => "[a-z_@.]{1,8}",
        1 => any::<String>(),
    ]
    .boxed()
}

/// Any JSON value, its keys often the declared ones.
fn any_json() -> BoxedStrategy<J> {
    leaf()
        .prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(J::Arr),
                prop::collection::vec((key(), inner), 0..8).prop_map(J::Obj),
            ]
        })
        .boxed()
}

/// A record: declared fields (any type, sometimes twice, sometimes absent) and others.
fn record() -> BoxedStrategy<J> {
    prop_oneof![
        8 => prop::collection::vec((key(), prop_oneof![4 => leaf(), 1 => any_json()]), 0..12)
            .prop_map(J::Obj),
        1 => any_json(),
    ]
    .boxed()
}

/// A page of the `flat` stream's shape (records at `data`, `next`, `done`), or the `keyed`
/// stream's (references and a map), or a bare array, with any value where one is expected.
fn page() -> impl Strategy<Value = J> {
    let records = prop_oneof![
        6 => prop::collection::vec(record(), 0..12).prop_map(J::Arr),
        1 => any_json(),
    ];
    let flat = (records.clone(), leaf(), leaf(), any_json()).prop_map(|(r, next, done, other)| {
        J::Obj(vec![
            ("next".into(), next),
            ("data".into(), r),
            ("done".into(), done),
            ("extra".into(), other),
        ])
    });
    let keyed = (
        prop::collection::vec(("[0-9]{1,2}", record()), 0..10),
        prop::collection::vec(
            (
                prop_oneof![Just("data".to_string()), key()],
                prop_oneof![
                    "[0-9]{1,2}".prop_map(J::Str),
                    number_text().prop_map(J::Num),
                    leaf()
                ],
            ),
            0..10,
        ),
        leaf(),
    )
        .prop_map(|(map, refs, count)| {
            J::Obj(vec![
                (
                    "results".into(),
                    J::Arr(
                        refs.into_iter()
                            .map(|(k, id)| {
                                J::Obj(vec![("key".into(), J::Str(k)), ("id".into(), id)])
                            })
                            .collect(),
                    ),
                ),
                ("data".into(), J::Obj(map)),
                ("meta".into(), J::Obj(vec![("page_count".into(), count)])),
            ])
        });
    // a keyed map whose references list each of its records once, in any order
    let listed = prop::collection::btree_map("[0-9]{1,2}", record(), 0..10)
        .prop_flat_map(|map| {
            let ids: Vec<String> = map.keys().cloned().collect();
            (Just(map), Just(ids).prop_shuffle())
        })
        .prop_map(|(map, ids)| {
            let refs = ids
                .into_iter()
                .map(|id| {
                    J::Obj(vec![
                        ("key".into(), J::Str("data".into())),
                        ("id".into(), J::Str(id)),
                    ])
                })
                .collect();
            J::Obj(vec![
                ("data".into(), J::Obj(map.into_iter().collect())),
                ("results".into(), J::Arr(refs)),
            ])
        });
    prop_oneof![
        3 => flat,
        2 => keyed,
        2 => listed,
        1 => prop::collection::vec(record(), 0..12).prop_map(J::Arr),
        1 => records,
    ]
}

/// A change to a page's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Cut the body at this fraction of its length.
    Truncate(f64),
    Delete(f64, usize),
    Insert(f64, Vec<u8>),
    Flip(f64, u8),
    /// Copy a slice to another place (duplicated keys, records, brackets).
    Splice(f64, f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        at.clone().prop_map(Mutation::Truncate),
        (at.clone(), 1..8usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (
            at.clone(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..6),
                prop::sample::select(vec![
                    b"{".to_vec(),
                    b"}".to_vec(),
                    b"[".to_vec(),
                    b"]".to_vec(),
                    b",".to_vec(),
                    b"\"".to_vec(),
                    b"\\".to_vec(),
                    b":null".to_vec(),
                    b"NaN".to_vec(),
                    b"\xff\xfe".to_vec(),
                    b"\xe2\x82".to_vec(),
                ]),
            ]
        )
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
        (at.clone(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (at.clone(), at, 1..40usize).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(body: &mut Vec<u8>, m: &Mutation) {
    let pos = |f: f64, len: usize| ((len as f64) * f) as usize;
    match m {
        Mutation::Truncate(f) => body.truncate(pos(*f, body.len())),
        Mutation::Delete(f, n) => {
            let a = pos(*f, body.len());
            let b = (a + n).min(body.len());
            body.drain(a..b);
        }
        Mutation::Insert(f, bytes) => {
            let a = pos(*f, body.len());
            body.splice(a..a, bytes.iter().copied());
        }
        Mutation::Flip(f, b) => {
            if !body.is_empty() {
                let a = pos(*f, body.len()).min(body.len() - 1);
                body[a] = *b;
            }
        }
        Mutation::Splice(from, to, n) => {
            let a = pos(*from, body.len());
            let slice: Vec<u8> = body[a..(a + n).min(body.len())].to_vec();
            let b = pos(*to, body.len());
            body.splice(b..b, slice);
        }
    }
}

proptest! {
    #![proptest_config(cases(10_000))]

    /// Any bytes: a page error (not UTF-8, not the declared shape), a retry (not JSON), or
    /// records; never a panic.
    #[test]
    fn bad_input_any_bytes(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        any::<String>().prop_map(String::into_bytes),
    ]) {
        decode_all(&body)?;
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Any JSON in the page's places: wrong types in every field and at the records path,
    /// duplicate keys, numbers past every type, impossible dates.
    #[test]
    fn bad_input_any_json_page(p in page()) {
        let text = p.text();
        decode_all(text.as_bytes())?;
    }

    /// A valid page cut short is never landed: it is fetched again.
    #[test]
    fn bad_input_cut_short_page(p in page(), at in 0.0..1.0f64) {
        let text = p.text();
        // (a number cut short can still be a number)
        prop_assume!(text.starts_with(['{', '[']));
        let mut cut = ((text.len() as f64) * at) as usize;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let body = &text.as_bytes()[..cut];
        // a bare array or object prefix is never complete JSON
        for (name, plan) in plans() {
            let r = decode(plan, body, "http://t/page", None, None);
            prop_assert!(matches!(r, Err(BodyError::Invalid(_))), "stream {name}: {}", String::from_utf8_lossy(body));
        }
    }

    /// A valid page with bytes deleted, inserted, replaced or copied elsewhere.
    #[test]
    fn bad_input_mutated_page(p in page(), ms in prop::collection::vec(mutation(), 1..4)) {
        let mut body = p.text().into_bytes();
        for m in &ms {
            apply(&mut body, m);
        }
        decode_all(&body)?;
    }
}

// --- value parsers

fn data_type() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::String),
        Just(DataType::Boolean),
        Just(DataType::Integer),
        Just(DataType::Double),
        (1u8..=38)
            .prop_flat_map(|p| (Just(p), -3i8..=(p as i8)))
            .prop_map(|(p, s)| DataType::Decimal(p, s)),
        Just(DataType::Decimal(38, 0)),
        Just(DataType::Decimal(38, 38)),
        Just(DataType::Date),
        Just(DataType::Timestamp),
    ]
}

fn value_format() -> impl Strategy<Value = ValueFormat> {
    prop_oneof![
        3 => Just(ValueFormat::Default),
        3 => prop::sample::select(vec![
            "%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S",
            "%d/%m/%Y %H:%M %z", "%m/%d/%Y %I:%M %p", "%s", "%Y-%m-%dT%H:%M:%S%.f%:z",
            "%+", "%j/%Y", "%G-W%V-%u",
        ])
        .prop_map(|f| ValueFormat::Chrono(f.to_string())),
        1 => "[%a-zA-Z/:. -]{0,12}".prop_map(ValueFormat::Chrono),
        2 => Just(ValueFormat::Bool {
            true_values: vec!["T".into(), "Y".into()],
            false_values: vec!["F".into(), "N".into(), "".into()],
        }),
    ]
}

/// A scalar as a record may hold it.
fn scalar_text() -> impl Strategy<Value = (u8, String)> {
    prop_oneof![
        4 => value_text().prop_map(|t| (0, t)),
        3 => number_text().prop_map(|t| (1, t)),
        1 => any::<bool>().prop_map(|b| (2, b.to_string())),
        1 => Just((3, String::new())),
        1 => prop::sample::select(vec!["{\"a\":1}", "[1,2]", "[]", "{}"]).prop_map(|t| (4, t.to_string())),
    ]
}

fn scalar_of(kind: u8, t: &str) -> Scalar<'_> {
    match kind {
        0 => Scalar::Str(Cow::Borrowed(t)),
        1 => Scalar::Num(t),
        2 => Scalar::Bool(t == "true"),
        3 => Scalar::Null,
        _ => Scalar::Composite(t),
    }
}

/// What a parse promises: a value of the declared type (or NULL), or a reason that shows the
/// value when the value is text.
fn check_parsed(
    s: &Scalar<'_>,
    ty: DataType,
    r: Result<Typed<'_>, String>,
) -> Result<(), TestCaseError> {
    match r {
        Ok(v) => {
            let fits = match (ty, &v) {
                (_, Typed::Null) => true,
                (DataType::String, Typed::Str(_)) | (DataType::Boolean, Typed::Bool(_)) => true,
                (DataType::Integer, Typed::Int(_)) => true,
                (DataType::Double, Typed::F64(f)) => f.is_finite(),
                (DataType::Decimal(p, _), Typed::Dec(d)) => {
                    d.unsigned_abs() < 10u128.pow(u32::from(p))
                }
                (DataType::Date, Typed::Date(d)) => {
                    !format_cursor(i64::from(*d), DataType::Date).is_empty()
                }
                (DataType::Timestamp, Typed::Ts(t)) => {
                    !format_cursor(*t, DataType::Timestamp).is_empty()
                }
                _ => false,
            };
            prop_assert!(fits, "{ty:?} gave {v:?}");
        }
        Err(m) => {
            prop_assert!(!m.is_empty());
            prop_assert!(
                ty != DataType::String,
                "a string column takes anything: {m}"
            );
            let text_like = matches!(s, Scalar::Str(_) | Scalar::Num(_));
            let typed_text = !matches!(
                (ty, s),
                (DataType::Date | DataType::Timestamp, Scalar::Num(_))
            );
            if text_like && typed_text {
                let t = s.text().unwrap_or_default();
                prop_assert!(m.contains(t.trim()), "`{m}` does not show `{t}`");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(20_000))]

    /// Every type and format against strings, numbers, booleans, null and composites.
    #[test]
    fn bad_input_values_of_every_type((kind, t) in scalar_text(), ty in data_type(), fmt in value_format()) {
        let s = scalar_of(kind, &t);
        check_parsed(&s, ty, parse(&s, ty, &fmt))?;
    }

    /// A stored cursor of any value formats without a panic.
    #[test]
    fn bad_input_any_cursor(v in any::<i64>()) {
        let _ = format_cursor(v, DataType::Date);
        let _ = format_cursor(v, DataType::Timestamp);
    }
}

proptest! {
    #![proptest_config(cases(5000))]

    /// Paths, scalars and key stripping over any JSON.
    #[test]
    fn bad_input_json_navigation(j in any_json(), path in prop::collection::vec(key(), 0..3)) {
        let text = j.text();
        let raw: &serde_json::value::RawValue = match serde_json::from_str(&text) {
            Ok(r) => r,
            // a number past f64 is valid JSON that serde_json refuses to read
            Err(_) => return Ok(()),
        };
        prop_assert!(Scalar::of(raw).is_ok());
        let jp = pslake_core::pipeline::JsonPath(path.clone());
        if let Ok(Some(v)) = get_path(raw, &jp) {
            prop_assert!(Scalar::of(v).is_ok());
        }
        let _ = strip_keys(raw.get(), &path);
        let tree = PathTree::new(&[&jp]);
        let mut out = vec![None];
        let _ = tree.pick(raw, &mut out, &mut |_, _| {});
    }
}

/// 1 MB strings into every type, and through a record: a reject's message and value are
/// clipped, its `raw` keeps the record. 24 cases, or `PROPTEST_CASES / 1000` when more (run by
/// hand, not by `proptest!`, whose `PROPTEST_CASES` would give each of those 1 MB cases the
/// count meant for the small ones).
#[test]
fn bad_input_huge_strings() {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(24, |c| (c / 1000).max(24));
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: n,
        source_file: Some(file!()),
        ..Config::default()
    });
    let strategy = ("[0-9a-zé/:. -]{1,8}", data_type(), value_format());
    let r = runner.run(&strategy, |(seg, ty, fmt)| {
        let big = seg.repeat((1 << 20) / seg.len() + 1);
        let s = Scalar::Str(Cow::Borrowed(big.as_str()));
        check_parsed(&s, ty, parse(&s, ty, &fmt))?;
        let digits = "7".repeat(1 << 20);
        let n = Scalar::Num(&digits);
        check_parsed(&n, ty, parse(&n, ty, &fmt))?;

        let plan = &plans()["flat"];
        let body = format!(r#"{{"data":[{{"id":"1","day":"{big}","s":"{big}"}}]}}"#);
        let page = decode(plan, body.as_bytes(), "http://t/page", None, None)
            .unwrap_or_else(|_| panic!("a page with a long value decodes"));
        prop_assert_eq!(page.out.rejected, 1);
        let r = &page.out.rejects[0];
        prop_assert!(r.message.len() <= SHOWN_BYTES + 40);
        prop_assert!(
            r.value
                .as_ref()
                .is_some_and(|v| v.len() <= SHOWN_BYTES + 40)
        );
        prop_assert_eq!(
            r.raw.as_ref().map(String::len),
            Some(body.len() - r#"{"data":[]}"#.len())
        );
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

// --- the cases the issue names, one by one

fn s(t: &str) -> Scalar<'_> {
    Scalar::Str(Cow::Borrowed(t))
}

#[test]
fn impossible_dates_are_rejects_naming_the_value() {
    let mdy = ValueFormat::Chrono("%m/%d/%Y".into());
    let dmy = ValueFormat::Chrono("%d/%m/%Y".into());
    for (t, fmt) in [
        ("2026-02-30", &ValueFormat::Default),
        ("2026-13-01", &ValueFormat::Default),
        ("2026-00-10", &ValueFormat::Default),
        ("0000-00-00", &ValueFormat::Default),
        ("99999-01-01", &ValueFormat::Default),
        ("2026-02-30T10:00:00Z", &ValueFormat::Default),
        ("31/31/2026", &mdy),
        ("31/31/2026", &dmy),
        ("02/30/2026", &mdy),
        ("30/02/2026", &dmy),
    ] {
        for ty in [DataType::Date, DataType::Timestamp] {
            let e = parse(&s(t), ty, fmt).expect_err(t);
            assert!(e.contains(&format!("`{t}`")), "{ty:?}: {e}");
        }
    }
    // year 0 is a year of ISO 8601 (1 BC): it parses, as the date it is
    assert_eq!(
        parse(&s("0000-01-01"), DataType::Date, &ValueFormat::Default),
        Ok(Typed::Date(-719_528))
    );
    assert_eq!(format_cursor(-719_528, DataType::Date), "0000-01-01");
    // a date without the declared format is not guessed
    let e = parse(&s("31/12/2025"), DataType::Date, &ValueFormat::Default).unwrap_err();
    assert!(e.contains("declare the column's `format`"), "{e}");
}

#[test]
fn non_finite_and_out_of_range_numbers_are_rejects() {
    let d = ValueFormat::Default;
    for t in ["NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400"] {
        for n in [s(t), Scalar::Num(t)] {
            let e = parse(&n, DataType::Double, &d).unwrap_err();
            assert!(e.contains(&format!("`{t}` is not a number")), "{e}");
            assert!(parse(&n, DataType::Integer, &d).is_err(), "{t}");
            assert!(parse(&n, DataType::Decimal(18, 2), &d).is_err(), "{t}");
        }
    }
    // -0 is zero; tiny numbers are zero for a double, too many places for a decimal
    assert_eq!(
        parse(&Scalar::Num("-0"), DataType::Integer, &d),
        Ok(Typed::Int(0))
    );
    assert_eq!(
        parse(&Scalar::Num("-0.0"), DataType::Decimal(18, 2), &d),
        Ok(Typed::Dec(0))
    );
    assert_eq!(
        parse(&Scalar::Num("1e-400"), DataType::Double, &d),
        Ok(Typed::F64(0.0))
    );
    let e = parse(&Scalar::Num("1e-400"), DataType::Decimal(18, 2), &d).unwrap_err();
    assert!(e.contains("more than 2 decimal places"), "{e}");
    let e = parse(&Scalar::Num("9223372036854775808"), DataType::Integer, &d).unwrap_err();
    assert!(e.contains("out of the integer range"), "{e}");
}

#[test]
fn decimal_exponents_at_the_ends_of_i32_neither_overflow_nor_loop() {
    use crate::values::parse_decimal;
    let t0 = std::time::Instant::now();
    // these overflowed `i32` (a panic in a debug build) or multiplied zero 2^31 times
    assert_eq!(parse_decimal("0e2147483647", 18, 2), Ok(0));
    assert_eq!(parse_decimal("-0.000e-2147483648", 18, 2), Ok(0));
    for t in [
        "1e2147483647",
        "1e-2147483648",
        "9.9e2147483647",
        "1e-2147483647",
    ] {
        let e = parse_decimal(t, 18, 2).unwrap_err();
        assert!(e.contains(&format!("`{t}`")), "{e}");
    }
    assert_eq!(parse_decimal("1e-2", 38, 2), Ok(1));
    assert_eq!(parse_decimal("1.5e+3", 18, 0), Ok(1500));
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn records_of_the_wrong_type_fail_the_page_naming_the_path() {
    let plan = &plans()["flat"];
    for (body, shown) in [
        (r#"{"data":{"id":"1"}}"#, "invalid type: map"),
        (r#"{"data":"rows"}"#, "invalid type: string \"rows\""),
        (r#"{"data":12}"#, "invalid type: integer `12`"),
        (r#"{"data":true}"#, "invalid type: boolean `true`"),
    ] {
        let Err(BodyError::Fatal(e)) = decode(plan, body.as_bytes(), "http://t/p", None, None)
        else {
            panic!("{body} fails the page");
        };
        let m = e.to_string();
        assert!(
            m.starts_with("http://t/p: records at `data` are not an array") && m.contains(shown),
            "{m}"
        );
    }
    // a record that is not an object is a reject, the others land
    let body = br#"{"data":[{"id":"1"},"2",3,[4],null,{"id":"5"}]}"#;
    let page = decode(plan, body, "http://t/p", None, None)
        .unwrap_or_else(|_| panic!("records of other types are rejects"));
    assert_eq!((page.out.rows, page.out.rejected), (2, 4));
    assert!(
        page.out
            .rejects
            .iter()
            .all(|r| r.message.contains("record is not a JSON object")),
        "{:?}",
        page.out.rejects
    );
    // a string where a number is declared: a reject naming the field and the value
    let body = br#"{"data":[{"id":"1","n":"twelve","x":"NaN"}]}"#;
    let page = decode(plan, body, "http://t/p", None, None).unwrap_or_else(|_| panic!("decodes"));
    let r = &page.out.rejects[0];
    assert_eq!(
        (r.field.as_deref(), r.value.as_deref()),
        (Some("n"), Some("twelve"))
    );
    assert!(
        r.message
            .contains("field `n` (path `n`): `twelve` is not an integer"),
        "{}",
        r.message
    );
}

#[test]
fn deep_nesting_is_neither_a_stack_overflow_nor_lost() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", r#"{"q":"#.repeat(10_000), "}".repeat(10_000));
    for (name, body) in [
        // kept whole in a string column and in `_raw`
        ("flat", format!(r#"{{"data":[{{"id":"1","s":{deep}}}]}}"#)),
        // under a declared object, and where the paging reads
        (
            "flat",
            format!(r#"{{"data":[{{"id":"1","p":{deep_obj}}}],"next":{deep}}}"#),
        ),
        (
            "keyed",
            format!(r#"{{"meta":{deep_obj},"results":{deep},"data":{{}}}}"#),
        ),
        // as the records themselves
        ("root", deep.clone()),
    ] {
        let plan = &plans()[name];
        match decode(plan, body.as_bytes(), "http://t/page", None, None) {
            Ok(mut p) => {
                let out = &mut p.out;
                assert_eq!(out.received, out.rows as u64 + out.rejected, "{name}");
                plan.finish(out).expect("a batch");
            }
            Err(BodyError::Invalid(m)) => assert!(m.contains("recursion limit"), "{m}"),
            Err(BodyError::Fatal(e)) => assert!(!e.to_string().is_empty()),
        }
    }
    // the string column holds the nested value as sent
    let plan = &plans()["flat"];
    let body = format!(r#"{{"data":[{{"id":"1","s":{deep}}}]}}"#);
    let mut p = decode(plan, body.as_bytes(), "u", None, None)
        .unwrap_or_else(|_| panic!("a deep value in a string column lands"));
    let b = plan.finish(&mut p.out).expect("batch").expect("one row");
    let s = b
        .column_by_name("s")
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
        .expect("text");
    assert_eq!(s.value(0), deep);
}
