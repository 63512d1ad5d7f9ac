//! One pass over a page body: its records (an array, or a keyed map listed by references) and
//! the scalar values the paginator reads (next URL, cursor, done flag, totals), so a page is
//! parsed once, whatever the paging needs from it. Values off the declared paths are skipped
//! without being kept ([`IgnoredAny`]).
//!
//! Invariants: every `&RawValue` handed out borrows the page text, so a record's `_raw` is its
//! JSON exactly as the API sent it. [`Scan::page`] tells a body that is not complete JSON
//! ([`ScanError::Json`]: worth fetching again) from a JSON body without the declared shape
//! ([`ScanError::Shape`]: fetching again will not help).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde_json::value::RawValue;

use pslake_core::pipeline::{JsonPath, RecordSelector};

use crate::json::{Key, Scalar};

/// Why a page could not be read.
#[derive(Debug)]
pub(crate) enum ScanError {
    /// The body is not complete JSON (cut short or garbled): a new attempt may help.
    Json(serde_json::Error),
    /// The body is JSON without the declared shape.
    Shape(String),
}

/// What one page holds for a stream.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    /// The records, in page order (for a keyed map: in the order of its references).
    pub(crate) records: Vec<&'a RawValue>,
    /// The value at each of [`Scan::values`]' paths (`None`: absent).
    pub(crate) values: Vec<Option<&'a RawValue>>,
}

/// How to read the pages of one stream: where its records sit and which values the paging
/// reads, as one tree of the paths to visit.
#[derive(Debug)]
pub(crate) struct Scan {
    selector: RecordSelector,
    values: Vec<JsonPath>,
    root: Node,
}

/// What a path of the tree ends at.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// The records container (an array, or a keyed map).
    Records,
    /// The references of a keyed map.
    Refs,
    /// A value the paging reads (index into [`Scan::values`]).
    Value(usize),
}

#[derive(Debug, Default)]
struct Node {
    roles: Vec<Role>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn insert(&mut self, path: &[String], role: Role) {
        match path {
            [] => self.roles.push(role),
            [first, rest @ ..] => {
                let i = match self.children.iter().position(|(k, _)| k == first) {
                    Some(i) => i,
                    None => {
                        self.children.push((first.clone(), Node::default()));
                        self.children.len() - 1
                    }
                };
                self.children[i].1.insert(rest, role);
            }
        }
    }
}

/// A keyed map's reference: the map key it points to and its type field, as text.
#[derive(Debug, Default)]
struct Ref<'a> {
    id: Option<Cow<'a, str>>,
    ty: Option<Cow<'a, str>>,
}

/// What the pass collected. The first occurrence of a duplicate key counts.
#[derive(Default)]
struct Found<'a> {
    /// The records container was present (`null` counts, as no records).
    container: bool,
    array: Vec<&'a RawValue>,
    keyed: HashMap<Cow<'a, str>, &'a RawValue>,
    refs: Option<Vec<Ref<'a>>>,
    values: Vec<Option<&'a RawValue>>,
    /// Shape problems of the container and of the references, reported once the whole body
    /// is known to be JSON.
    records_problem: Option<String>,
    refs_problem: Option<String>,
}

impl Scan {
    /// The scan of a stream whose records sit at `selector` and whose paging reads `values`.
    pub(crate) fn new(selector: &RecordSelector, values: Vec<JsonPath>) -> Self {
        let mut root = Node::default();
        root.insert(&selector.path.0, Role::Records);
        if let Some(k) = &selector.keyed_by {
            root.insert(&k.refs.0, Role::Refs);
        }
        for (i, p) in values.iter().enumerate() {
            root.insert(&p.0, Role::Value(i));
        }
        Scan {
            selector: selector.clone(),
            values,
            root,
        }
    }

    /// The paths whose values [`Scanned::values`] holds, in that order.
    pub(crate) fn values(&self) -> &[JsonPath] {
        &self.values
    }

    /// Reads a page body in one pass.
    pub(crate) fn page<'a>(&self, text: &'a str) -> Result<Scanned<'a>, ScanError> {
        let mut found = Found {
            values: vec![None; self.values.len()],
            ..Found::default()
        };
        let mut de = serde_json::Deserializer::from_str(text);
        NodeSeed {
            scan: self,
            node: &self.root,
            found: &mut found,
            with_roles: true,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(ScanError::Json)?;
        if let Some(p) = found.records_problem {
            return Err(ScanError::Shape(p));
        }
        let records = match &self.selector.keyed_by {
            None => found.array,
            // a keyed map without its references (or references without a map) is no records
            Some(_) if !found.container => Vec::new(),
            Some(_) if found.refs_problem.is_some() => {
                return Err(ScanError::Shape(found.refs_problem.unwrap_or_default()));
            }
            Some(k) => {
                let refs = found.refs.unwrap_or_default();
                let mut out = Vec::with_capacity(refs.len());
                for r in refs {
                    if let Some((_, want)) = &k.type_filter
                        && r.ty.as_deref() != Some(want.as_str())
                    {
                        continue;
                    }
                    let Some(id) = r.id else { continue };
                    match found.keyed.get(id.as_ref()) {
                        Some(rec) => out.push(*rec),
                        None => {
                            return Err(ScanError::Shape(format!(
                                "`{}` lists id {id} that `{}` lacks",
                                k.refs, self.selector.path
                            )));
                        }
                    }
                }
                out
            }
        };
        Ok(Scanned {
            records,
            values: found.values,
        })
    }
}

/// Implements the visits of the scalar kinds with `$body` (given the value as
/// [`Unexpected`]).
macro_rules! scalars {
    ($ret:ty, |$s:ident, $u:ident| $body:expr) => {
        fn visit_bool<E: de::Error>($s, v: bool) -> Result<$ret, E> {
            let $u = Unexpected::Bool(v);
            Ok($body)
        }
        fn visit_i64<E: de::Error>($s, v: i64) -> Result<$ret, E> {
            let $u = Unexpected::Signed(v);
            Ok($body)
        }
        fn visit_u64<E: de::Error>($s, v: u64) -> Result<$ret, E> {
            let $u = Unexpected::Unsigned(v);
            Ok($body)
        }
        fn visit_f64<E: de::Error>($s, v: f64) -> Result<$ret, E> {
            let $u = Unexpected::Float(v);
            Ok($body)
        }
        fn visit_str<E: de::Error>($s, v: &str) -> Result<$ret, E> {
            let $u = Unexpected::Str(v);
            Ok($body)
        }
        fn visit_unit<E: de::Error>($s) -> Result<$ret, E> {
            let $u = Unexpected::Unit;
            Ok($body)
        }
    };
}

/// Visits one value of the page at `node`: reads what its roles ask for and descends into
/// its children.
struct NodeSeed<'s, 'f, 'a> {
    scan: &'s Scan,
    node: &'s Node,
    found: &'f mut Found<'a>,
    /// `false`: the roles were read already, descend only.
    with_roles: bool,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let roles: &[Role] = if self.with_roles {
            &self.node.roles
        } else {
            &[]
        };
        match (roles, self.node.children.is_empty()) {
            ([], true) => IgnoredAny::deserialize(d).map(|_| ()),
            ([], false) => d.deserialize_any(self),
            ([role], true) => RoleSeed {
                scan: self.scan,
                role: *role,
                found: self.found,
            }
            .deserialize(d),
            _ => {
                // Several paths end here, or go on from here (e.g. a value inside the records
                // container): the value is kept whole and read once for each. Never so in the
                // pipelines we have.
                let raw = <&'de RawValue as de::Deserialize>::deserialize(d)?;
                for role in roles {
                    let mut de = serde_json::Deserializer::from_str(raw.get());
                    RoleSeed {
                        scan: self.scan,
                        role: *role,
                        found: self.found,
                    }
                    .deserialize(&mut de)
                    .map_err(de::Error::custom)?;
                }
                let mut de = serde_json::Deserializer::from_str(raw.get());
                NodeSeed {
                    with_roles: false,
                    ..self
                }
                .deserialize(&mut de)
                .map_err(de::Error::custom)
            }
        }
    }
}

/// An object is descended into; any other value holds none of the paths.
impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(k) = m.next_key::<Key<'de>>()? {
            match self.node.children.iter().find(|(name, _)| *name == k.0) {
                Some((_, child)) => m.next_value_seed(NodeSeed {
                    scan: self.scan,
                    node: child,
                    found: self.found,
                    with_roles: true,
                })?,
                None => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    scalars!((), |self, _u| ());
}

/// Reads the value of one role.
struct RoleSeed<'s, 'f, 'a> {
    scan: &'s Scan,
    role: Role,
    found: &'f mut Found<'a>,
}

impl<'de> DeserializeSeed<'de> for RoleSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let sel = &self.scan.selector;
        let found = self.found;
        match self.role {
            Role::Value(i) => {
                let v = <&'de RawValue as de::Deserialize>::deserialize(d)?;
                found.values[i].get_or_insert(v);
                Ok(())
            }
            Role::Records if found.container => IgnoredAny::deserialize(d).map(|_| ()),
            Role::Records => {
                found.container = true;
                match &sel.keyed_by {
                    None => d.deserialize_any(Records {
                        path: &sel.path,
                        found,
                    }),
                    Some(_) => d.deserialize_any(KeyedMap(found)),
                }
            }
            Role::Refs if found.refs.is_some() || found.refs_problem.is_some() => {
                IgnoredAny::deserialize(d).map(|_| ())
            }
            Role::Refs => {
                let k = sel
                    .keyed_by
                    .as_ref()
                    .expect("references are only read for keyed records");
                d.deserialize_any(Refs {
                    path: &k.refs,
                    id_field: &k.id_field,
                    type_field: k.type_filter.as_ref().map(|(f, _)| f.as_str()),
                    found,
                })
            }
        }
    }
}

fn not_a_sequence(what: &str, u: Unexpected<'_>) -> String {
    format!("{what} are not an array: invalid type: {u}, expected a sequence")
}

/// The records array (`null`: no records).
struct Records<'s, 'f, 'a> {
    path: &'s JsonPath,
    found: &'f mut Found<'a>,
}

impl Records<'_, '_, '_> {
    fn problem(self, u: Unexpected<'_>) {
        if !matches!(u, Unexpected::Unit) {
            let what = format!("records at `{}`", self.path);
            self.found
                .records_problem
                .get_or_insert(not_a_sequence(&what, u));
        }
    }
}

impl<'de> Visitor<'de> for Records<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while let Some(r) = s.next_element::<&'de RawValue>()? {
            self.found.array.push(r);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.problem(Unexpected::Map);
        Ok(())
    }
    scalars!((), |self, u| self.problem(u));
}

/// A keyed map of records; any other value is an empty map.
struct KeyedMap<'f, 'a>(&'f mut Found<'a>);

impl<'de> Visitor<'de> for KeyedMap<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object map of records")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        self.0.keyed.reserve(m.size_hint().unwrap_or(64));
        while let Some(k) = m.next_key::<Key<'de>>()? {
            let v = m.next_value::<&'de RawValue>()?;
            self.0.keyed.insert(k.0, v);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    scalars!((), |self, _u| ());
}

/// A keyed map's references: an array of objects with an id field and maybe a type field.
struct Refs<'s, 'f, 'a> {
    path: &'s JsonPath,
    id_field: &'s str,
    type_field: Option<&'s str>,
    found: &'f mut Found<'a>,
}

impl Refs<'_, '_, '_> {
    fn problem(self, u: Unexpected<'_>) {
        let what = format!("`{}`", self.path);
        let m = not_a_sequence(&what, u).replacen(" are not ", " is not ", 1);
        self.found.refs_problem.get_or_insert(m);
    }
}

impl<'de> Visitor<'de> for Refs<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of references")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let mut refs = Vec::new();
        while let Some(r) = s.next_element_seed(RefSeed {
            id_field: self.id_field,
            type_field: self.type_field,
        })? {
            refs.push(r);
        }
        self.found.refs = Some(refs);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.problem(Unexpected::Map);
        Ok(())
    }
    scalars!((), |self, u| self.problem(u));
}

/// One reference (`Ref::default()` when it is not an object).
struct RefSeed<'s> {
    id_field: &'s str,
    type_field: Option<&'s str>,
}

impl<'de> DeserializeSeed<'de> for RefSeed<'_> {
    type Value = Ref<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Ref<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// A scalar's text (`None` for null; objects and arrays as their JSON).
fn text_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    Scalar::of(raw).ok().and_then(|s| s.text())
}

impl<'de> Visitor<'de> for RefSeed<'_> {
    type Value = Ref<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reference")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ref<'de>, A::Error> {
        let (mut id, mut ty): (Option<&'de RawValue>, Option<&'de RawValue>) = (None, None);
        while let Some(k) = m.next_key::<Key<'de>>()? {
            let is_id = id.is_none() && k.0 == self.id_field;
            let is_ty = ty.is_none() && self.type_field == Some(k.0.as_ref());
            if is_id || is_ty {
                let v = m.next_value::<&'de RawValue>()?;
                if is_id {
                    id = Some(v);
                }
                if is_ty {
                    ty = Some(v);
                }
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Ref {
            id: id.and_then(text_of),
            ty: ty.and_then(text_of),
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ref<'de>, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Ref::default())
    }
    scalars!(Ref<'de>, |self, _u| Ref::default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use pslake_core::pipeline::KeyedBy;

    fn array_at(path: &str) -> RecordSelector {
        RecordSelector {
            path: JsonPath::parse(path),
            keyed_by: None,
            strip: vec![],
            kept: vec![],
            unnest: None,
        }
    }

    fn texts(s: &Scanned<'_>) -> (Vec<String>, Vec<Option<String>>) {
        (
            s.records.iter().map(|r| r.get().to_string()).collect(),
            s.values
                .iter()
                .map(|v| v.map(|r| r.get().to_string()))
                .collect(),
        )
    }

    #[test]
    fn records_and_paging_values_in_one_pass() {
        // the paging values before, beside and after the records, one of them absent
        let scan = Scan::new(
            &array_at("data.items"),
            vec![
                JsonPath::parse("meta.total"),
                JsonPath::parse("data.next"),
                JsonPath::parse("done"),
                JsonPath::parse("meta.missing"),
            ],
        );
        let body = r#"{"meta":{"total":3,"other":[1,{"total":9}]},
            "data":{"items":[{"id":1},{"id":2,"x":{"y":[]}}],"next":"p2","skipped":{"items":[]}},
            "done":false,"data2":{"next":"no"}}"#;
        let s = scan.page(body).unwrap();
        let (records, values) = texts(&s);
        assert_eq!(records, vec![r#"{"id":1}"#, r#"{"id":2,"x":{"y":[]}}"#]);
        assert_eq!(
            values,
            vec![
                Some("3".into()),
                Some(r#""p2""#.into()),
                Some("false".into()),
                None
            ]
        );
        // the records at the root, and no records at all
        let root = Scan::new(&array_at(""), vec![]);
        assert_eq!(root.page(r#" [{"a":1}] "#).unwrap().records.len(), 1);
        let s = scan
            .page(r#"{"meta":{"total":0},"data":{"items":null}}"#)
            .unwrap();
        assert!(s.records.is_empty());
        assert!(scan.page(r#"{"data":7}"#).unwrap().records.is_empty());
    }

    #[test]
    fn a_value_inside_another_path() {
        // `page` is read as a value and descended into for the records
        let scan = Scan::new(&array_at("page.rows"), vec![JsonPath::parse("page")]);
        let s = scan.page(r#"{"page":{"rows":[{"a":1}],"n":1}}"#).unwrap();
        let (records, values) = texts(&s);
        assert_eq!(records, vec![r#"{"a":1}"#]);
        assert_eq!(values, vec![Some(r#"{"rows":[{"a":1}],"n":1}"#.into())]);
    }

    #[test]
    fn cut_short_bodies_are_not_json_and_wrong_shapes_are_not_retried() {
        let scan = Scan::new(&array_at("data"), vec![JsonPath::parse("next")]);
        for body in [r#"{"data":[{"id":1},{"id":"#, r#"{"data":[]} x"#, ""] {
            assert!(matches!(scan.page(body), Err(ScanError::Json(_))), "{body}");
        }
        // JSON, but the records are not an array: the whole body is still checked first
        let Err(ScanError::Shape(m)) = scan.page(r#"{"data":{"id":1},"next":"x"}"#) else {
            panic!("a map of records is a shape error");
        };
        assert!(m.contains("records at `data` are not an array"), "{m}");
        assert!(matches!(
            scan.page(r#"{"data":{"id":1},"next":"#),
            Err(ScanError::Json(_))
        ));
    }

    fn keyed(type_filter: Option<(&str, &str)>) -> RecordSelector {
        RecordSelector {
            path: JsonPath::parse("time_entries"),
            keyed_by: Some(KeyedBy {
                refs: JsonPath::parse("results"),
                id_field: "id".into(),
                type_filter: type_filter.map(|(f, v)| (f.into(), v.into())),
            }),
            strip: vec![],
            kept: vec![],
            unnest: None,
        }
    }

    #[test]
    fn keyed_map_in_results_order() {
        let page = r#"{"count":2,"results":[{"key":"time_entries","id":"9"},{"key":"users","id":"1"},{"key":"time_entries","id":"3"}],
                "time_entries":{"3":{"id":"3"},"9":{"id":"9"}},"users":{"1":{"id":"1"}},
                "meta":{"page_count":4}}"#;
        let scan = Scan::new(
            &keyed(Some(("key", "time_entries"))),
            vec![JsonPath::parse("meta.page_count")],
        );
        let (records, values) = texts(&scan.page(page).unwrap());
        assert_eq!(records, vec![r#"{"id":"9"}"#, r#"{"id":"3"}"#]);
        assert_eq!(values, vec![Some("4".into())]);
        // without the declared type filter every reference must be in the map
        let Err(ScanError::Shape(e)) = Scan::new(&keyed(None), vec![]).page(page) else {
            panic!("a reference into another map is a shape error without the filter");
        };
        assert!(e.contains("lists id 1 that `time_entries` lacks"), "{e}");
        // the map before its references, numeric ids, another id field
        let sel = RecordSelector {
            path: JsonPath::parse("m"),
            keyed_by: Some(KeyedBy {
                refs: JsonPath::parse("refs"),
                id_field: "ref".into(),
                type_filter: None,
            }),
            strip: vec![],
            kept: vec![],
            unnest: None,
        };
        let scan = Scan::new(&sel, vec![]);
        let page = r#"{"m":{"a":{"x":1},"2":{"x":2}},"refs":[{"ref":2},{"other":1,"ref":"a"}]}"#;
        let (records, _) = texts(&scan.page(page).unwrap());
        assert_eq!(records, vec![r#"{"x":2}"#, r#"{"x":1}"#]);
        // a map without references, or references without a map: no records
        assert!(scan.page(r#"{"m":{"a":{}}}"#).unwrap().records.is_empty());
        assert!(
            scan.page(r#"{"refs":[{"ref":"a"}]}"#)
                .unwrap()
                .records
                .is_empty()
        );
        // references that are not an array
        let Err(ScanError::Shape(e)) = scan.page(r#"{"m":{},"refs":null}"#) else {
            panic!("null references are a shape error");
        };
        assert!(e.contains("`refs` is not an array"), "{e}");
    }
}
