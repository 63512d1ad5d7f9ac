//! Nested rows (`records.unnest`): one record of a page becomes several rows, in the spirit of
//! dlt's child tables. The rows are the elements of the array at the unnest path, or of every
//! array of the object there (HubSpot `propertiesWithHistory: {dealstage: [...], amount: [...]}`),
//! each written as a JSON object of its own:
//!
//! ```text
//! {"deal_id":"42","property":"dealstage","value":"closedwon","timestamp":"...","sourceType":"CRM_UI"}
//!  ^ parent fields (from the record)  ^ key_as   ^ the element's own members, byte for byte
//! ```
//!
//! That object is the row's record from then on: its columns, primary key, cursor and `_raw`.
//! An element that is not an object is put under `value`; an element member named like a
//! parent field or `key_as` is left out (the added field wins). A parent path the record lacks
//! adds nothing.
//!
//! Only streams that declare `unnest` come here; the others hand their borrowed records to the
//! decoder untouched (no copy).

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use pslake_core::pipeline::{UNNEST_VALUE_FIELD, Unnest};

use crate::json::{Key, get_path};

/// The rows of `records`, in order: each record's rows in the order they appear in it. A record
/// that is not a JSON object is passed on as it is (the decoder rejects it). `Err`: the value
/// at the unnest path of some record is neither an array, an object nor null (a shape the
/// stream cannot read; the message names the record's position and the path).
pub(crate) fn rows(unnest: &Unnest, records: &[&RawValue]) -> Result<Vec<Box<RawValue>>, String> {
    let mut out = Vec::with_capacity(records.len() * 4);
    let mut buf = String::new();
    for (n, rec) in records.iter().enumerate() {
        if !rec.get().trim_start().starts_with('{') {
            out.push((*rec).to_owned());
            continue;
        }
        let bad = |e: serde_json::Error| format!("record {} of the page: {e}", n + 1);
        let mut head = String::from("{");
        for (name, path) in &unnest.parent {
            if let Some(v) = get_path(rec, path).map_err(bad)? {
                push_member(&mut head, name, v.get());
            }
        }
        let Some(nested) = get_path(rec, &unnest.path).map_err(bad)? else {
            continue;
        };
        let mut emit = |key: Option<&str>, index: Option<usize>, elem: &RawValue| {
            buf.clear();
            buf.push_str(&head);
            if let Some(k) = &unnest.key_as {
                match (key, index) {
                    (Some(key), _) => push_member(&mut buf, k, &json_string(key)),
                    (None, Some(i)) => push_member(&mut buf, k, &i.to_string()),
                    (None, None) => {}
                }
            }
            element_members(&mut buf, elem, unnest)?;
            buf.push('}');
            let row = RawValue::from_string(std::mem::take(&mut buf))
                .expect("a row is built from JSON values");
            out.push(row);
            Ok::<(), serde_json::Error>(())
        };
        match nested.get().trim_start().as_bytes().first() {
            Some(b'[') => {
                for (i, elem) in elements(nested).map_err(bad)?.into_iter().enumerate() {
                    emit(None, Some(i), elem).map_err(bad)?;
                }
            }
            Some(b'{') => {
                for (key, value) in entries(nested).map_err(bad)? {
                    match value.get().trim_start().as_bytes().first() {
                        Some(b'[') => {
                            for elem in elements(value).map_err(bad)? {
                                emit(Some(&key), None, elem).map_err(bad)?;
                            }
                        }
                        Some(b'n') => {}
                        _ => emit(Some(&key), None, value).map_err(bad)?,
                    }
                }
            }
            Some(b'n') => {}
            _ => {
                return Err(format!(
                    "record {} of the page: `{}` is {}, expected an array or an object of arrays",
                    n + 1,
                    unnest.path,
                    crate::error::clip(nested.get().to_string())
                ));
            }
        }
    }
    Ok(out)
}

/// A JSON string literal of `s`.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Appends `"name":value` (with a comma unless `out` is just the opening brace).
fn push_member(out: &mut String, name: &str, value: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&json_string(name));
    out.push(':');
    out.push_str(value);
}

/// Appends the members of element `elem` (an object), or `"value":elem` for any other value.
fn element_members(
    out: &mut String,
    elem: &RawValue,
    unnest: &Unnest,
) -> Result<(), serde_json::Error> {
    let text = elem.get();
    if !text.trim_start().starts_with('{') {
        push_member(out, UNNEST_VALUE_FIELD, text);
        return Ok(());
    }
    for (k, v) in entries(elem)? {
        let taken = unnest.parent.iter().any(|(n, _)| *n == k)
            || unnest.key_as.as_deref() == Some(k.as_str());
        if !taken {
            push_member(out, &k, v.get());
        }
    }
    Ok(())
}

/// The elements of a JSON array.
fn elements(raw: &RawValue) -> Result<Vec<&RawValue>, serde_json::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = s.next_element::<&'de RawValue>()? {
                out.push(v);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_seq(V)
}

/// The members of a JSON object, in order (keys unescaped; a repeated key is kept once, first).
fn entries(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, &'de RawValue)> = Vec::new();
            while let Some(k) = m.next_key::<Key<'de>>()? {
                if out.iter().any(|(seen, _)| *seen == k.0) {
                    m.next_value::<IgnoredAny>()?;
                    continue;
                }
                let v = m.next_value::<&'de RawValue>()?;
                out.push((k.0.into_owned(), v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pslake_core::pipeline::JsonPath;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    fn unnest(path: &str, key_as: Option<&str>, parent: &[(&str, &str)]) -> Unnest {
        Unnest {
            path: JsonPath::parse(path),
            key_as: key_as.map(str::to_owned),
            parent: parent
                .iter()
                .map(|(n, p)| ((*n).to_owned(), JsonPath::parse(p)))
                .collect(),
        }
    }

    fn texts(rows: &[Box<RawValue>]) -> Vec<&str> {
        rows.iter().map(|r| r.get()).collect()
    }

    #[test]
    fn an_object_of_arrays_gives_a_row_per_element_with_its_key_and_parent_fields() {
        let u = unnest(
            "propertiesWithHistory",
            Some("property"),
            &[
                ("deal_id", "id"),
                ("modified", "properties.hs_lastmodifieddate"),
            ],
        );
        let a = raw(
            r#"{"id":"7","properties":{"hs_lastmodifieddate":"2026-03-02T00:00:00Z"},
            "propertiesWithHistory":{"dealstage":[{"value":"b","timestamp":"t2"},{"value":"a","timestamp":"t1"}],
            "amount":[],"closedate":null,"note":{"value":"x"}}}"#,
        );
        let b = raw(r#"{"id":"8"}"#);
        let c =
            raw(r#"{"id":"9","propertiesWithHistory":{"amount":[{"value":"5","property":"no"}]}}"#);
        let rows = rows(&u, &[a, b, c]).unwrap();
        assert_eq!(
            texts(&rows),
            vec![
                r#"{"deal_id":"7","modified":"2026-03-02T00:00:00Z","property":"dealstage","value":"b","timestamp":"t2"}"#,
                r#"{"deal_id":"7","modified":"2026-03-02T00:00:00Z","property":"dealstage","value":"a","timestamp":"t1"}"#,
                r#"{"deal_id":"7","modified":"2026-03-02T00:00:00Z","property":"note","value":"x"}"#,
                // a parent path the record lacks adds nothing; a clashing member is left out
                r#"{"deal_id":"9","property":"amount","value":"5"}"#,
            ]
        );
    }

    #[test]
    fn an_array_gives_indexes_and_scalars_go_under_value() {
        let u = unnest("lines", Some("line_no"), &[("order", "id")]);
        let rows = rows(&u, &[raw(r#"{"id":1,"lines":[{"sku":"a"},"plain",3]}"#)]).unwrap();
        assert_eq!(
            texts(&rows),
            vec![
                r#"{"order":1,"line_no":0,"sku":"a"}"#,
                r#"{"order":1,"line_no":1,"value":"plain"}"#,
                r#"{"order":1,"line_no":2,"value":3}"#,
            ]
        );
        // without key_as and parent fields, the element itself
        let bare = unnest("lines", None, &[]);
        let rows = super::rows(&bare, &[raw(r#"{"lines":[{"sku":"a"}]}"#)]).unwrap();
        assert_eq!(texts(&rows), vec![r#"{"sku":"a"}"#]);
    }

    #[test]
    fn records_that_are_not_objects_pass_and_scalars_at_the_path_fail() {
        let u = unnest("h", Some("k"), &[]);
        let rows = rows(&u, &[raw("[1]")]).unwrap();
        assert_eq!(texts(&rows), vec!["[1]"]);
        let e = super::rows(&u, &[raw(r#"{"h":[]}"#), raw(r#"{"h":"oops"}"#)]).unwrap_err();
        assert!(
            e.contains("record 2") && e.contains("`h` is \"oops\""),
            "{e}"
        );
    }
}
