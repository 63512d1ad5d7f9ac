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
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde_json::value::RawValue;

use pslake_core::pipeline::{JsonPath, KeyedBy, RecordSelector};

use crate::json::{Key, PathTree, Scalar, note_unknown};

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
    /// The records, in page order (for a keyed map: in the order of its references); none
    /// when they were [`Picked`].
    pub(crate) records: Vec<&'a RawValue>,
    /// The records with their fields, when they were picked in the page's pass (see
    /// [`Scan::picking`]).
    pub(crate) picked: Option<Picked<'a>>,
    /// The value at each of [`Scan::values`]' paths (`None`: absent).
    pub(crate) values: Vec<Option<&'a RawValue>>,
}

impl Scanned<'_> {
    /// How many records the page holds.
    pub(crate) fn len(&self) -> usize {
        self.picked
            .as_ref()
            .map_or(self.records.len(), |p| p.records.len())
    }

    /// The text of the page's first and last records.
    pub(crate) fn ends(&self) -> Option<(&str, &str)> {
        match &self.picked {
            Some(p) => Some((p.records.first()?, p.records.last()?)),
            None => Some((self.records.first()?.get(), self.records.last()?.get())),
        }
    }
}

/// A page's records read together with their declared fields, so each record is parsed once:
/// a record is not first skipped whole (to borrow it) and then parsed again (to pick it).
#[derive(Debug, Default)]
pub(crate) struct Picked<'a> {
    /// Each record's text, exactly as the API sent it (from its `{` to its `}`).
    pub(crate) records: Vec<&'a str>,
    /// The value of each declared column, one record after the other (`columns` a record).
    pub(crate) fields: Vec<Option<&'a RawValue>>,
    /// The undeclared keys seen (see [`note_unknown`]).
    pub(crate) unknown: BTreeSet<String>,
}

/// How to read the pages of one stream: where its records sit and which values the paging
/// reads, as one tree of the paths to visit.
#[derive(Debug)]
pub(crate) struct Scan {
    selector: RecordSelector,
    values: Vec<JsonPath>,
    root: Node,
    /// The declared columns, when records are picked in the page's pass ([`Scan::picking`]).
    tree: Option<(PathTree, usize)>,
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
struct Found<'a> {
    /// The records container was present (`null` counts, as no records).
    container: bool,
    array: Vec<&'a RawValue>,
    keyed: HashMap<Cow<'a, str>, &'a RawValue>,
    /// A picked keyed map: each key's record in [`Found::picked`].
    keyed_at: HashMap<Cow<'a, str>, usize>,
    refs: Option<Vec<Ref<'a>>>,
    values: Vec<Option<&'a RawValue>>,
    /// Shape problems of the container and of the references, reported once the whole body
    /// is known to be JSON.
    records_problem: Option<String>,
    refs_problem: Option<String>,
    /// Whether the records are picked in this pass, those picked, and the page text they
    /// borrow.
    pick: bool,
    picked: Picked<'a>,
    text: &'a str,
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
            tree: None,
        }
    }

    /// The same scan, picking the values of the declared `columns` (their paths) in the page's
    /// pass (see [`Scan::page`]); a keyed map's records are then put in the order of its
    /// references.
    pub(crate) fn picking(mut self, columns: &[&JsonPath]) -> Self {
        self.tree = Some((PathTree::new(columns), columns.len()));
        self
    }

    /// The paths whose values [`Scanned::values`] holds, in that order.
    pub(crate) fn values(&self) -> &[JsonPath] {
        &self.values
    }

    /// Reads a page body in one pass, its records picked in the same pass when the scan picks
    /// ([`Scan::picking`]). Whatever a picking pass cannot read as it expects (a truncated
    /// body, a record that is not an object, a record whose first key has escapes) is read
    /// again by the plain pass, whose records are then picked one by one: what comes out is the
    /// same either way (the property tests of `bad_input.rs` decode every page both ways).
    pub(crate) fn page<'a>(&self, text: &'a str) -> Result<Scanned<'a>, ScanError> {
        if self.tree.is_some()
            && let Ok(s) = self.pass(text, true)
        {
            return Ok(s);
        }
        self.pass(text, false)
    }

    /// One pass over the page (`pick`: with the records picked).
    fn pass<'a>(&self, text: &'a str, pick: bool) -> Result<Scanned<'a>, ScanError> {
        let mut found = Found {
            container: false,
            array: Vec::new(),
            keyed: HashMap::new(),
            keyed_at: HashMap::new(),
            refs: None,
            values: vec![None; self.values.len()],
            records_problem: None,
            refs_problem: None,
            picked: Picked::default(),
            text,
            pick,
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
        let keyed = match &self.selector.keyed_by {
            None => None,
            // a keyed map without its references (or references without a map) is no records
            Some(_) if !found.container => None,
            Some(_) if found.refs_problem.is_some() => {
                return Err(ScanError::Shape(found.refs_problem.unwrap_or_default()));
            }
            Some(k) => Some((k, found.refs.unwrap_or_default())),
        };
        if pick {
            let picked = match keyed {
                // a keyed stream whose map is absent: no records
                None if self.selector.keyed_by.is_some() => Picked::default(),
                None => found.picked,
                Some((k, refs)) => {
                    let order = self.listed(k, refs, &found.keyed_at)?;
                    in_order(found.picked, &order, self.tree.as_ref().map_or(0, |t| t.1))?
                }
            };
            return Ok(Scanned {
                records: Vec::new(),
                picked: Some(picked),
                values: found.values,
            });
        }
        let records = match keyed {
            // a keyed stream whose map is absent: no records
            None if self.selector.keyed_by.is_some() => Vec::new(),
            None => found.array,
            Some((k, refs)) => self.listed(k, refs, &found.keyed)?,
        };
        Ok(Scanned {
            records,
            picked: None,
            values: found.values,
        })
    }

    /// The keyed map's entries (`keyed`) that the references list, in their order: those of
    /// the type the pipeline filters on; a listed id the map lacks fails the page.
    fn listed<'a, T: Copy>(
        &self,
        k: &KeyedBy,
        refs: Vec<Ref<'a>>,
        keyed: &HashMap<Cow<'a, str>, T>,
    ) -> Result<Vec<T>, ScanError> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if let Some((_, want)) = &k.type_filter
                && r.ty.as_deref() != Some(want.as_str())
            {
                continue;
            }
            let Some(id) = r.id else { continue };
            match keyed.get(id.as_ref()) {
                Some(rec) => out.push(*rec),
                None => {
                    return Err(ScanError::Shape(format!(
                        "`{}` lists id {id} that `{}` lacks",
                        k.refs, self.selector.path
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// The records of a picked keyed map in the order of its references (`order`: each listed
/// record's place in `picked`). When some record was picked but is not listed once at least
/// (unlisted, or a duplicate key's earlier record), its undeclared keys were noted though the
/// plain pass never reads it: an error, so the page is read by the plain pass.
fn in_order<'a>(
    picked: Picked<'a>,
    order: &[usize],
    columns: usize,
) -> Result<Picked<'a>, ScanError> {
    let mut listed = vec![false; picked.records.len()];
    for i in order {
        listed[*i] = true;
    }
    if listed.contains(&false) {
        return Err(ScanError::Shape("a keyed record not listed once".into()));
    }
    let mut fields = Vec::with_capacity(order.len() * columns);
    for i in order {
        fields.extend_from_slice(&picked.fields[i * columns..(i + 1) * columns]);
    }
    Ok(Picked {
        records: order.iter().map(|i| picked.records[*i]).collect(),
        fields,
        unknown: picked.unknown,
    })
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
                        scan: self.scan,
                        found,
                    }),
                    Some(_) => d.deserialize_any(KeyedMap {
                        scan: self.scan,
                        found,
                    }),
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
    scan: &'s Scan,
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
        let found = self.found;
        let picking = match &self.scan.tree {
            Some((tree, columns)) if found.pick => Some((tree, *columns)),
            _ => None,
        };
        let Some((tree, columns)) = picking else {
            while let Some(r) = s.next_element::<&'de RawValue>()? {
                found.array.push(r);
            }
            return Ok(());
        };
        let mut scratch = Default::default();
        while let Some(()) = s.next_element_seed(PickRecord {
            tree,
            columns,
            selector: &self.scan.selector,
            text: found.text,
            picked: &mut found.picked,
            scratch: &mut scratch,
        })? {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.problem(Unexpected::Map);
        Ok(())
    }
    scalars!((), |self, u| self.problem(u));
}

/// Picks one record of a page (see [`Picked`]): its declared fields into `picked.fields`, its
/// text into `picked.records`. A record it cannot bound (see [`record_text`]) is an error, so
/// that the page is read again by the plain pass.
struct PickRecord<'s, 'p, 'a> {
    tree: &'s PathTree,
    columns: usize,
    selector: &'s RecordSelector,
    text: &'a str,
    picked: &'p mut Picked<'a>,
    /// The dotted prefix of nested keys and the path of an undeclared one.
    scratch: &'p mut (String, String),
}

impl<'de> DeserializeSeed<'de> for PickRecord<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let Picked {
            records,
            fields,
            unknown,
        } = self.picked;
        let (prefix, path) = self.scratch;
        let sel = self.selector;
        let mut note = |pre: &str, key: &str| {
            note_unknown(unknown, path, &sel.strip, &sel.kept, pre, key);
        };
        let at = fields.len();
        fields.resize(at + self.columns, None);
        let bounds = self
            .tree
            .seed(&mut fields[at..], prefix, &mut note, true)
            .deserialize(d)?;
        // the record's text: from the `{` before its first key to the `}` after its last
        // value, across whitespace only
        let record = bounds
            .and_then(|b| record_text(self.text, b.first_key, b.last_value_end))
            .ok_or_else(|| de::Error::custom("a record to read by the plain pass"))?;
        records.push(record);
        Ok(())
    }
}

/// The object around `first_key` (the address of its first key's text, just after the
/// opening quote) and `last_value_end` (the address just past its last value) in `text`: from
/// the `{` before to the `}` after, with only whitespace between them and the key and value
/// (`None` otherwise, or when an address is not in `text`).
fn record_text(text: &str, first_key: usize, last_value_end: usize) -> Option<&str> {
    let base = text.as_ptr() as usize;
    let key = first_key.checked_sub(base)?;
    let end = last_value_end.checked_sub(base)?;
    let bytes = text.as_bytes();
    if key == 0 || end > bytes.len() || bytes[key - 1] != b'"' {
        return None;
    }
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let open = key - 1 - bytes[..key - 1].iter().rev().take_while(|b| ws(b)).count();
    let close = end + bytes[end..].iter().take_while(|b| ws(b)).count();
    (open > 0 && bytes[open - 1] == b'{' && bytes.get(close) == Some(&b'}'))
        .then(|| &text[open - 1..=close])
}

/// A keyed map of records; any other value is an empty map.
struct KeyedMap<'s, 'f, 'a> {
    scan: &'s Scan,
    found: &'f mut Found<'a>,
}

impl<'de> Visitor<'de> for KeyedMap<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object map of records")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let found = self.found;
        let hint = m.size_hint().unwrap_or(64);
        match &self.scan.tree {
            Some((tree, columns)) if found.pick => {
                found.keyed_at.reserve(hint);
                let mut scratch = Default::default();
                while let Some(k) = m.next_key::<Key<'de>>()? {
                    let at = found.picked.records.len();
                    m.next_value_seed(PickRecord {
                        tree,
                        columns: *columns,
                        selector: &self.scan.selector,
                        text: found.text,
                        picked: &mut found.picked,
                        scratch: &mut scratch,
                    })?;
                    found.keyed_at.insert(k.0, at);
                }
            }
            _ => {
                found.keyed.reserve(hint);
                while let Some(k) = m.next_key::<Key<'de>>()? {
                    let v = m.next_value::<&'de RawValue>()?;
                    found.keyed.insert(k.0, v);
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

    #[test]
    fn records_are_picked_in_the_page_pass_with_their_exact_text() {
        let id = JsonPath::parse("id");
        let amount = JsonPath::parse("p.amount");
        let scan =
            Scan::new(&array_at("data"), vec![JsonPath::parse("next")]).picking(&[&id, &amount]);
        // whitespace inside and between records, a nested column, an undeclared key at the
        // end, the paging value after the records
        let body = "{\"data\": [ {\"id\":\"a\", \"p\": {\"amount\":1.50,\"cur\":\"EUR\"}} ,\n\t{ \"id\" : \"b\" , \"x\": [1, {\"y\":2}]  } ], \"next\": \"p2\"}";
        let s = scan.page(body).unwrap();
        assert!(s.records.is_empty());
        let p = s.picked.as_ref().expect("picked in the page's pass");
        assert_eq!(
            p.records,
            vec![
                r#"{"id":"a", "p": {"amount":1.50,"cur":"EUR"}}"#,
                "{ \"id\" : \"b\" , \"x\": [1, {\"y\":2}]  }"
            ]
        );
        let fields: Vec<_> = p.fields.iter().map(|f| f.map(RawValue::get)).collect();
        assert_eq!(
            fields,
            vec![Some(r#""a""#), Some("1.50"), Some(r#""b""#), None]
        );
        assert_eq!(
            p.unknown.iter().collect::<Vec<_>>(),
            vec!["p.cur", "x"],
            "undeclared keys, nested ones dotted"
        );
        assert_eq!(s.values[0].map(RawValue::get), Some(r#""p2""#));
        assert_eq!(s.len(), 2);

        // what the picking pass does not read as it expects goes to the plain pass, which
        // borrows the records whole: a first key with an escape, an empty object, an array,
        // a body cut short (still an error)
        for body in [
            r#"{"data":[{"id":"a"},{"i\u0064":"b"}]}"#,
            r#"{"data":[{"id":"a"},{}]}"#,
            r#"{"data":[{"id":"a"},[1]]}"#,
        ] {
            let s = scan.page(body).unwrap();
            assert!(s.picked.is_none(), "{body}");
            assert_eq!(s.records.len(), 2, "{body}");
        }
        assert!(matches!(
            scan.page(r#"{"data":[{"id":"a"},{"id":"#),
            Err(ScanError::Json(_))
        ));
        // a keyed map's records are picked in the map's order, then put in the order of its
        // references (listed before or after the map)
        let keyed_scan = Scan::new(&keyed(None), vec![]).picking(&[&id]);
        for body in [
            r#"{"time_entries":{"1":{"id":"1"},"2":{"id":"2","new":0}},"results":[{"id":"2"},{"id":"1"}]}"#,
            r#"{"results":[{"id":"2"},{"id":"1"}],"time_entries":{"1":{"id":"1"},"2":{"id":"2","new":0}}}"#,
        ] {
            let s = keyed_scan.page(body).unwrap();
            let p = s.picked.as_ref().expect("picked in the page's pass");
            assert_eq!(p.records, vec![r#"{"id":"2","new":0}"#, r#"{"id":"1"}"#]);
            let fields: Vec<_> = p.fields.iter().map(|f| f.map(RawValue::get)).collect();
            assert_eq!(fields, vec![Some(r#""2""#), Some(r#""1""#)]);
            assert_eq!(p.unknown.iter().collect::<Vec<_>>(), vec!["new"]);
        }
        // a record the references do not list (its keys were noted, the plain pass never
        // reads it) or a listed id the map lacks: the plain pass decides
        let s = keyed_scan
            .page(r#"{"time_entries":{"1":{"id":"1"},"2":{"id":"2","new":0}},"results":[{"id":"1"}]}"#)
            .unwrap();
        assert!(s.picked.is_none());
        assert_eq!(s.records.len(), 1);
        let Err(ScanError::Shape(e)) =
            keyed_scan.page(r#"{"time_entries":{"1":{"id":"1"}},"results":[{"id":"3"}]}"#)
        else {
            panic!("a listed id the map lacks fails the page")
        };
        assert!(e.contains("lists id 3"), "{e}");
    }

    #[test]
    fn a_record_text_is_found_only_between_its_braces() {
        let text = r#"[ { "k" : 1 } ,{"k":2}]"#;
        let base = text.as_ptr() as usize;
        // the first record: key `k` at byte 5, value `1` ends at byte 11
        assert_eq!(
            record_text(text, base + 5, base + 11),
            Some(r#"{ "k" : 1 }"#)
        );
        assert_eq!(record_text(text, base + 17, base + 21), Some(r#"{"k":2}"#));
        // not after a quote, or not within braces, or outside the text
        assert_eq!(record_text(text, base + 6, base + 11), None);
        assert_eq!(record_text(text, base + 5, base + 10), None);
        assert_eq!(record_text(text, base + 5, base + 100), None);
        assert_eq!(record_text(text, base.wrapping_sub(1), base + 11), None);
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
