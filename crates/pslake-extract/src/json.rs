//! Zero-copy navigation of JSON pages: dotted-path lookups, record splitting and per-record field
//! picking over borrowed [`RawValue`] slices, so no `serde_json::Value` tree is built per row.
//!
//! Invariant: every `&RawValue` handed out borrows the page text, so `_raw` is the record's JSON
//! exactly as the API sent it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use pslake_core::pipeline::{JsonPath, RecordSelector};

/// A JSON object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

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

/// Splits a page into its records (an array, or a keyed map listed by references).
pub(crate) fn records<'a>(
    page: &'a RawValue,
    sel: &RecordSelector,
) -> Result<Vec<&'a RawValue>, String> {
    let container = get_path(page, &sel.path).map_err(|e| e.to_string())?;
    let Some(container) = container else {
        return Ok(Vec::new());
    };
    match &sel.keyed_by {
        None => {
            if container.get().starts_with("null") {
                return Ok(Vec::new());
            }
            serde_json::from_str::<Vec<&RawValue>>(container.get())
                .map_err(|e| format!("records at `{}` are not an array: {e}", sel.path))
        }
        Some(k) => {
            let map: HashMap<Key<'a>, &'a RawValue> = if container.get().starts_with('{') {
                deserialize_keyed(container.get())
                    .map_err(|e| format!("records at `{}` are not an object map: {e}", sel.path))?
            } else {
                HashMap::new()
            };
            let refs_path = &k.refs;
            let Some(refs) = get_path(page, refs_path).map_err(|e| e.to_string())? else {
                return Ok(Vec::new());
            };
            let items: Vec<&RawValue> = serde_json::from_str(refs.get())
                .map_err(|e| format!("`{refs_path}` is not an array: {e}"))?;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                if let Some((field, want)) = &k.type_filter {
                    let ty = lookup(it, field)
                        .map_err(|e| e.to_string())?
                        .and_then(|v| Scalar::of(v).ok())
                        .and_then(|s| s.text().map(|t| t.into_owned()));
                    if ty.as_deref() != Some(want.as_str()) {
                        continue;
                    }
                }
                let id = lookup(it, &k.id_field)
                    .map_err(|e| e.to_string())?
                    .and_then(|v| Scalar::of(v).ok())
                    .and_then(|s| s.text().map(|t| t.into_owned()));
                let Some(id) = id else { continue };
                match map.get(&Key(Cow::Owned(id.clone()))) {
                    Some(r) => out.push(*r),
                    None => {
                        return Err(format!(
                            "`{refs_path}` lists id {id} that `{}` lacks",
                            sel.path
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Key<'_> {}
impl std::hash::Hash for Key<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}

fn deserialize_keyed(text: &str) -> Result<HashMap<Key<'_>, &RawValue>, serde_json::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = HashMap<Key<'de>, &'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = HashMap::with_capacity(m.size_hint().unwrap_or(64));
            while let Some(k) = m.next_key::<Key<'de>>()? {
                let v = m.next_value::<&'de RawValue>()?;
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(V)
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
    /// `unknown` with the dotted path of every key that no column declares.
    pub(crate) fn pick<'a>(
        &self,
        raw: &'a RawValue,
        out: &mut [Option<&'a RawValue>],
        prefix: &str,
        unknown: &mut dyn FnMut(&str, &str),
    ) -> Result<(), serde_json::Error> {
        struct Seed<'t, 'o, 'u, 'a> {
            tree: &'t PathTree,
            out: &'o mut [Option<&'a RawValue>],
            prefix: &'t str,
            unknown: &'u mut dyn FnMut(&str, &str),
        }
        impl<'de> DeserializeSeed<'de> for Seed<'_, '_, '_, 'de> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }
        impl<'de> Visitor<'de> for Seed<'_, '_, '_, 'de> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object record")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
                while let Some(k) = m.next_key::<Key<'de>>()? {
                    let v = m.next_value::<&'de RawValue>()?;
                    let mut known = false;
                    if let Some((_, cols)) = self.tree.leaves.iter().find(|(key, _)| *key == k.0) {
                        for c in cols {
                            self.out[*c] = Some(v);
                        }
                        known = true;
                    }
                    if let Some((_, sub)) = self.tree.nodes.iter().find(|(key, _)| *key == k.0) {
                        known = true;
                        if v.get().starts_with('{') {
                            let prefix = format!("{}{}.", self.prefix, k.0);
                            sub.pick(v, self.out, &prefix, self.unknown)
                                .map_err(de::Error::custom)?;
                        }
                    }
                    if !known {
                        (self.unknown)(self.prefix, &k.0);
                    }
                }
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _s: A) -> Result<(), A::Error> {
                Err(de::Error::custom(
                    "a record must be a JSON object, found an array",
                ))
            }
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        Seed {
            tree: self,
            out,
            prefix,
            unknown,
        }
        .deserialize(&mut de)
    }
}

/// The record's JSON without the top-level keys in `strip`, otherwise byte for byte.
pub(crate) fn strip_keys(raw: &RawValue, strip: &[String]) -> Result<String, serde_json::Error> {
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
    let mut de = serde_json::Deserializer::from_str(raw.get());
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
    fn keyed_map_in_results_order() {
        use pslake_core::pipeline::KeyedBy;
        let page = raw(
            r#"{"count":2,"results":[{"key":"time_entries","id":"9"},{"key":"users","id":"1"},{"key":"time_entries","id":"3"}],
                "time_entries":{"3":{"id":"3"},"9":{"id":"9"}},"users":{"1":{"id":"1"}}}"#,
        );
        let keyed = |type_filter: Option<(&str, &str)>| RecordSelector {
            path: JsonPath::parse("time_entries"),
            keyed_by: Some(KeyedBy {
                refs: JsonPath::parse("results"),
                id_field: "id".into(),
                type_filter: type_filter.map(|(f, v)| (f.into(), v.into())),
            }),
            strip: vec![],
        };
        let sel = keyed(Some(("key", "time_entries")));
        let recs = records(page, &sel).unwrap();
        let ids: Vec<&str> = recs.iter().map(|r| r.get()).collect();
        assert_eq!(ids, vec![r#"{"id":"9"}"#, r#"{"id":"3"}"#]);
        // without the declared type filter every reference must be in the map
        let e = records(page, &keyed(None)).unwrap_err();
        assert!(e.contains("lists id 1 that `time_entries` lacks"), "{e}");
        // another id field
        let page = raw(r#"{"refs":[{"ref":"b"},{"ref":"a"}],"m":{"a":{"x":1},"b":{"x":2}}}"#);
        let sel = RecordSelector {
            path: JsonPath::parse("m"),
            keyed_by: Some(KeyedBy {
                refs: JsonPath::parse("refs"),
                id_field: "ref".into(),
                type_filter: None,
            }),
            strip: vec![],
        };
        let ids: Vec<&str> = records(page, &sel)
            .unwrap()
            .iter()
            .map(|r| r.get())
            .collect();
        assert_eq!(ids, vec![r#"{"x":2}"#, r#"{"x":1}"#]);
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
        tree.pick(r, &mut out, "", &mut |p, k| unknown.push(format!("{p}{k}")))
            .unwrap();
        assert_eq!(out[1].unwrap().get(), r#""5.00""#);
        assert_eq!(unknown, vec!["properties.new_prop", "extra"]);
    }

    #[test]
    fn strip_attributes() {
        let r = raw(r#"{"attributes":{"type":"Account"},"Id":"001","Name":"A \"q\""}"#);
        assert_eq!(
            strip_keys(r, &["attributes".into()]).unwrap(),
            r#"{"Id":"001","Name":"A \"q\""}"#
        );
    }
}
