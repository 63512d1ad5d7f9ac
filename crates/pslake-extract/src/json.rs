//! Zero-copy navigation of JSON records: dotted-path lookups and per-record field picking over
//! borrowed [`RawValue`] slices, so no `serde_json::Value` tree is built per row (a page is split
//! into its records by [`crate::page`]).
//!
//! Invariant: every `&RawValue` handed out borrows the page text, so `_raw` is the record's JSON
//! exactly as the API sent it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use pslake_core::pipeline::JsonPath;

/// A JSON object key, borrowed when it has no escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The value of `key` in the object `raw` (`None` when absent or when `raw` is not an object).
pub(crate) fn lookup<'a>(
    raw: &'a RawValue,
    key: &str,
) -> Result<Option<&'a RawValue>, serde_json::Error> {
    let text = raw.get();
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    struct Seed<'k>(&'k str);
    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Option<&'de RawValue>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = m.next_key::<Key<'de>>()? {
                if found.is_none() && k.0 == self.0 {
                    found = Some(m.next_value::<&'de RawValue>()?);
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    Seed(key).deserialize(&mut de)
}

/// The value at a dotted path (`None` when any step is missing).
pub(crate) fn get_path<'a>(
    raw: &'a RawValue,
    path: &JsonPath,
) -> Result<Option<&'a RawValue>, serde_json::Error> {
    let mut cur = raw;
    for seg in &path.0 {
        match lookup(cur, seg)? {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// A scalar read from a raw JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// `null` or absent.
    Null,
    /// A string (unescaped).
    Str(Cow<'a, str>),
    /// `true` / `false`.
    Bool(bool),
    /// A number's exact text.
    Num(&'a str),
    /// An object or array's raw text.
    Composite(&'a str),
}

impl<'a> Scalar<'a> {
    /// Reads a raw value.
    pub(crate) fn of(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        let t = raw.get();
        Ok(match t.as_bytes().first() {
            Some(b'"') => {
                let inner = &t[1..t.len() - 1];
                if inner.contains('\\') {
                    Scalar::Str(Cow::Owned(serde_json::from_str::<String>(t)?))
                } else {
                    Scalar::Str(Cow::Borrowed(inner))
                }
            }
            Some(b'n') => Scalar::Null,
            Some(b't') => Scalar::Bool(true),
            Some(b'f') => Scalar::Bool(false),
            Some(b'{' | b'[') => Scalar::Composite(t),
            _ => Scalar::Num(t),
        })
    }

    /// The value as text (for keys and reject rows); `None` for null.
    pub(crate) fn text(&self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Null => None,
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Scalar::Num(n) | Scalar::Composite(n) => Some(Cow::Borrowed(n)),
        }
    }
}

/// The declared paths of a stream as a tree, for one-pass field picking.
#[derive(Debug, Default)]
pub(crate) struct PathTree {
    /// `(key, column index)` leaves at this level.
    leaves: Vec<(String, Vec<usize>)>,
    /// `(key, subtree)` at this level.
    nodes: Vec<(String, PathTree)>,
}

impl PathTree {
    /// Builds the tree of column paths.
    pub(crate) fn new(paths: &[&JsonPath]) -> Self {
        let mut t = PathTree::default();
        for (i, p) in paths.iter().enumerate() {
            t.insert(&p.0, i);
        }
        t
    }

    fn insert(&mut self, segs: &[String], col: usize) {
        match segs {
            [] => {}
            [last] => match self.leaves.iter_mut().find(|(k, _)| k == last) {
                Some((_, v)) => v.push(col),
                None => self.leaves.push((last.clone(), vec![col])),
            },
            [first, rest @ ..] => {
                let i = match self.nodes.iter().position(|(k, _)| k == first) {
                    Some(i) => i,
                    None => {
                        self.nodes.push((first.clone(), PathTree::default()));
                        self.nodes.len() - 1
                    }
                };
                self.nodes[i].1.insert(rest, col);
            }
        }
    }

    /// Fills `out[col]` with the raw value of each column found in record `raw`, and calls
    /// `unknown` with the prefix (dotted, `""` at the top) and key of every key that no column
    /// declares. Undeclared values are skipped, not kept; a declared object is descended into
    /// in the same pass.
    pub(crate) fn pick<'a>(
        &self,
        raw: &'a RawValue,
        out: &mut [Option<&'a RawValue>],
        unknown: &mut dyn FnMut(&str, &str),
    ) -> Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        self.seed(out, &mut String::new(), unknown, false)
            .deserialize(&mut de)
            .map(|_| ())
    }

    /// The seed that picks the fields of one record from a deserializer (see
    /// [`PathTree::pick`]). With `bounds`, it also returns where the record's first key and its
    /// last value sit in the text read (see [`Bounds`]), for a caller that reads the record in
    /// its page and so never holds it as a [`RawValue`] of its own.
    pub(crate) fn seed<'a>(
        &self,
        out: &mut [Option<&'a RawValue>],
        prefix: &mut String,
        unknown: &mut dyn FnMut(&str, &str),
        bounds: bool,
    ) -> impl DeserializeSeed<'a, Value = Option<Bounds>> {
        Pick {
            tree: self,
            out,
            prefix,
            unknown,
            top: true,
            bounds,
        }
    }
}

/// Notes the undeclared key `key` (under `prefix`, dotted, `""` at the top) in `unknown`: at
/// most 200 of them, none of the top-level keys stripped from `_raw` or kept in it on purpose.
/// Once a key is known, noting it again is a lookup, with no allocation (`path` is scratch).
pub(crate) fn note_unknown(
    unknown: &mut BTreeSet<String>,
    path: &mut String,
    strip: &[String],
    kept: &[String],
    prefix: &str,
    key: &str,
) {
    if unknown.len() >= 200
        || (prefix.is_empty() && (strip.iter().any(|s| s == key) || kept.iter().any(|s| s == key)))
    {
        return;
    }
    let full = if prefix.is_empty() {
        key
    } else {
        path.clear();
        path.push_str(prefix);
        path.push_str(key);
        path.as_str()
    };
    if !unknown.contains(full) {
        unknown.insert(full.to_string());
    }
}

/// Where a record's text starts and ends, as addresses in the text it was read from: its first
/// key (just after the key's opening quote) and the end of its last value. Known when the first
/// key has no escapes (so it is borrowed from the text); the caller finds the braces around
/// them, across whitespace only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) first_key: usize,
    pub(crate) last_value_end: usize,
}

/// The address just past `v` in the text it borrows.
fn end_of(v: &RawValue) -> usize {
    v.get().as_ptr() as usize + v.get().len()
}

/// Picks the declared fields of one object of a record.
struct Pick<'t, 'o, 'u, 'p, 'a> {
    tree: &'t PathTree,
    out: &'o mut [Option<&'a RawValue>],
    prefix: &'p mut String,
    unknown: &'u mut dyn FnMut(&str, &str),
    /// The record itself (which must be an object), not a nested value.
    top: bool,
    /// Return the record's [`Bounds`]: every value of the record is read as a [`RawValue`]
    /// (its end is known) and a declared object is picked from it.
    bounds: bool,
}

impl<'t, 'a> Pick<'t, '_, '_, '_, 'a> {
    /// The seed of a declared object inside this one, whose columns `tree` holds.
    fn nested<'s>(&'s mut self, tree: &'t PathTree) -> Pick<'t, 's, 's, 's, 'a> {
        Pick {
            tree,
            out: &mut *self.out,
            prefix: &mut *self.prefix,
            unknown: &mut *self.unknown,
            top: false,
            bounds: false,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Pick<'_, '_, '_, '_, 'de> {
    type Value = Option<Bounds>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Bounds>, D::Error> {
        if self.top {
            d.deserialize_map(self)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Pick<'_, '_, '_, '_, 'de> {
    type Value = Option<Bounds>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object record")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut m: A) -> Result<Option<Bounds>, A::Error> {
        let leaves = &self.tree.leaves;
        // Records of one API list their keys in one order: the leaf after the last one found
        // is tried first.
        let mut next = 0;
        // the first key's address (0: escaped, so not borrowed) and the last value's end
        let mut first_key = None;
        let mut last_value_end = 0;
        while let Some(k) = m.next_key::<Key<'de>>()? {
            if self.bounds && first_key.is_none() {
                first_key = Some(match &k.0 {
                    Cow::Borrowed(s) => s.as_ptr() as usize,
                    Cow::Owned(_) => 0,
                });
            }
            let leaf = match leaves.get(next) {
                Some(l) if l.0 == k.0 => {
                    next += 1;
                    Some(l)
                }
                _ => leaves.iter().position(|(key, _)| *key == k.0).map(|i| {
                    next = i + 1;
                    &leaves[i]
                }),
            };
            let node = self.tree.nodes.iter().find(|(key, _)| *key == k.0);
            match (leaf, node) {
                (None, None) => {
                    let v = m.next_value::<&'de RawValue>()?;
                    last_value_end = end_of(v);
                    (self.unknown)(self.prefix, &k.0);
                }
                (Some((_, cols)), None) => {
                    let v = m.next_value::<&'de RawValue>()?;
                    last_value_end = end_of(v);
                    for c in cols {
                        self.out[*c] = Some(v);
                    }
                }
                (leaf, Some((_, sub))) => {
                    let len = self.prefix.len();
                    self.prefix.push_str(&k.0);
                    self.prefix.push('.');
                    // a column at an object and columns inside it (or a record whose end is
                    // wanted): keep it, then descend
                    let r = if leaf.is_some() || self.bounds {
                        let v = m.next_value::<&'de RawValue>()?;
                        last_value_end = end_of(v);
                        for c in leaf.map_or(&[][..], |(_, cols)| &cols[..]) {
                            self.out[*c] = Some(v);
                        }
                        let mut de = serde_json::Deserializer::from_str(v.get());
                        self.nested(sub)
                            .deserialize(&mut de)
                            .map_err(de::Error::custom)
                    } else {
                        m.next_value_seed(self.nested(sub))
                    };
                    self.prefix.truncate(len);
                    r?;
                }
            }
        }
        Ok(match first_key {
            Some(first_key) if first_key != 0 => Some(Bounds {
                first_key,
                last_value_end,
            }),
            _ => None,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Option<Bounds>, A::Error> {
        if self.top {
            return Err(de::Error::custom(
                "a record must be a JSON object, found an array",
            ));
        }
        // a declared object that is an array here holds none of its columns
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Bounds>, E> {
        Ok(None)
    }
}

/// The record's JSON without the top-level keys in `strip`, otherwise byte for byte.
pub(crate) fn strip_keys(raw: &str, strip: &[String]) -> Result<String, serde_json::Error> {
    struct V<'s>(&'s [String]);
    impl<'de> Visitor<'de> for V<'_> {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<String, A::Error> {
            let mut out = String::from("{");
            while let Some(k) = m.next_key::<Key<'de>>()? {
                let v = m.next_value::<&'de RawValue>()?;
                if self.0.iter().any(|s| *s == k.0) {
                    continue;
                }
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k.0.as_ref()).map_err(de::Error::custom)?);
                out.push(':');
                out.push_str(v.get());
            }
            out.push('}');
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(V(strip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn paths_and_scalars() {
        let r = raw(r#"{"paging":{"next":{"after":"abc"}},"done":false,"n":1.50}"#);
        let v = get_path(r, &JsonPath::parse("paging.next.after"))
            .unwrap()
            .unwrap();
        assert_eq!(Scalar::of(v).unwrap(), Scalar::Str("abc".into()));
        assert_eq!(
            Scalar::of(get_path(r, &JsonPath::parse("n")).unwrap().unwrap()).unwrap(),
            Scalar::Num("1.50")
        );
        assert!(
            get_path(r, &JsonPath::parse("paging.prev"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn pick_nested_and_unknown() {
        let tree = PathTree::new(&[
            &JsonPath::parse("id"),
            &JsonPath::parse("properties.amount"),
        ]);
        let r = raw(r#"{"id":"1","properties":{"amount":"5.00","new_prop":"x"},"extra":1}"#);
        let mut out = vec![None; 2];
        let mut unknown = Vec::new();
        tree.pick(r, &mut out, &mut |p, k| unknown.push(format!("{p}{k}")))
            .unwrap();
        assert_eq!(out[1].unwrap().get(), r#""5.00""#);
        assert_eq!(unknown, vec!["properties.new_prop", "extra"]);
    }

    #[test]
    fn strip_attributes() {
        let r = raw(r#"{"attributes":{"type":"Account"},"Id":"001","Name":"A \"q\""}"#);
        assert_eq!(
            strip_keys(r.get(), &["attributes".into()]).unwrap(),
            r#"{"Id":"001","Name":"A \"q\""}"#
        );
    }
}
