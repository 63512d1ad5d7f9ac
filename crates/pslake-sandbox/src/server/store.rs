//! The in-memory fixture index.
//!
//! Each `<system>/<stream>.jsonl` is read once, at start, into one [`Bytes`] buffer. Every line is
//! validated with serde_json (errors name file and line) and indexed: byte range, id, cursor
//! instant and a flag (Salesforce `IsDeleted`, HubSpot `archived`). Pages are then slices of that
//! buffer; nothing is re-read or re-parsed per request.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use super::error::{Error, Result};
use super::json;
use crate::layout::{MANIFEST_FILE, STREAMS, StreamId};

/// A record id: canonical decimal strings (and JSON integers) sort numerically, before any other
/// string; other strings sort lexicographically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Id {
    Num(u64),
    Str(Box<str>),
}

impl Ord for Id {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Id::Num(a), Id::Num(b)) => a.cmp(b),
            (Id::Num(_), Id::Str(_)) => Ordering::Less,
            (Id::Str(_), Id::Num(_)) => Ordering::Greater,
            (Id::Str(a), Id::Str(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

impl Id {
    pub(crate) fn from_str(s: &str) -> Id {
        let canonical = !s.is_empty()
            && s.len() <= 19
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        match s.parse::<u64>() {
            Ok(n) if canonical => Id::Num(n),
            _ => Id::Str(s.into()),
        }
    }

    /// Append as a JSON string.
    pub(crate) fn push_json(&self, out: &mut Vec<u8>) {
        match self {
            Id::Num(n) => {
                out.push(b'"');
                json::push_u(out, *n);
                out.push(b'"');
            }
            Id::Str(s) => json::push_str(out, s),
        }
    }
}

/// Where a stream keeps its incremental cursor.
#[derive(Debug, Clone, Copy)]
enum CursorField {
    None,
    /// A top-level datetime member.
    Instant(&'static str),
    /// A datetime inside a nested object, with a top-level fallback member.
    Nested(&'static str, &'static str, &'static str),
    /// A NetSuite date (`M/D/YYYY`) or datetime.
    NsDate(&'static str),
}

/// What the server needs to know about the records of one stream.
#[derive(Debug, Clone, Copy)]
struct Schema {
    id: Option<&'static str>,
    cursor: CursorField,
    flag: Option<&'static str>,
    collect_keys: bool,
}

fn schema(stream: StreamId) -> Schema {
    match stream.system {
        "salesforce" => Schema {
            id: Some("Id"),
            cursor: CursorField::Instant("SystemModstamp"),
            flag: Some("IsDeleted"),
            collect_keys: true,
        },
        "hubspot" => Schema {
            id: Some("id"),
            cursor: CursorField::Nested("properties", "hs_lastmodifieddate", "updatedAt"),
            flag: Some("archived"),
            collect_keys: false,
        },
        "netsuite" if stream.stream == "transactionline" => Schema {
            id: Some("uniquekey"),
            cursor: CursorField::NsDate("linelastmodifieddate"),
            flag: None,
            collect_keys: true,
        },
        "netsuite" => Schema {
            id: Some("id"),
            cursor: CursorField::NsDate("lastmodifieddate"),
            flag: None,
            collect_keys: true,
        },
        "kantata" => Schema {
            id: Some("id"),
            cursor: CursorField::Instant("updated_at"),
            flag: None,
            collect_keys: false,
        },
        _ => Schema {
            id: None,
            cursor: CursorField::None,
            flag: None,
            collect_keys: false,
        },
    }
}

/// One record: its byte range in the table buffer and its indexed values.
#[derive(Debug)]
pub(crate) struct Rec {
    start: usize,
    end: usize,
    /// Milliseconds since the epoch; `i64::MIN` when the record has no cursor value.
    pub(crate) cursor: i64,
    pub(crate) flag: bool,
    pub(crate) id: Id,
}

/// What a vendor query can order by: the record id or its cursor (last-modified) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    Id,
    Cursor,
}

/// One stream's records, in file order, with a by-id order.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) stream: StreamId,
    buf: Bytes,
    pub(crate) recs: Vec<Rec>,
    /// Record indexes in id order (numeric-aware, stable).
    pub(crate) by_id: Arc<Vec<u32>>,
    /// Top-level keys seen (Salesforce and NetSuite, for field validation), first-seen order.
    pub(crate) keys: Vec<String>,
}

impl Table {
    /// The raw JSON of record `i`.
    pub(crate) fn raw(&self, i: u32) -> &[u8] {
        let r = &self.recs[i as usize];
        &self.buf[r.start..r.end]
    }

    pub(crate) fn rec(&self, i: u32) -> &Rec {
        &self.recs[i as usize]
    }

    /// Sorts record indexes by `order` (key, descending), stable for ties.
    pub(crate) fn sort(&self, rows: &mut [u32], order: &[(SortKey, bool)]) {
        rows.sort_by(|&a, &b| {
            let (ra, rb) = (self.rec(a), self.rec(b));
            for &(key, desc) in order {
                let o = match key {
                    SortKey::Id => ra.id.cmp(&rb.id),
                    SortKey::Cursor => ra.cursor.cmp(&rb.cursor),
                };
                let o = if desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    fn empty(stream: StreamId) -> Table {
        Table {
            stream,
            buf: Bytes::new(),
            recs: Vec::new(),
            by_id: Arc::new(Vec::new()),
            keys: Vec::new(),
        }
    }
}

fn serde_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(head) => format!("{head} at column {}", err.column()),
        None => full,
    }
}

fn load_table(stream: StreamId, path: &Path) -> Result<Table> {
    if !path.exists() {
        tracing::warn!(path = %path.display(), "fixture file missing, serving the stream empty");
        return Ok(Table::empty(stream));
    }
    let buf = Bytes::from(fs_err::read(path)?);
    let schema = schema(stream);
    let mut recs = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let line_err = |line: usize, message: String| Error::FixtureLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut pos = 0usize;
    let mut line_no = 0usize;
    while pos < buf.len() {
        line_no += 1;
        let nl = buf[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |p| pos + p);
        let (start, mut end) = (pos, nl);
        pos = nl + 1;
        while end > start && matches!(buf[end - 1], b'\r' | b' ' | b'\t') {
            end -= 1;
        }
        let line = &buf[start..end];
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            return Err(line_err(line_no, serde_message(&e)));
        }
        let lead = line
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        if line[lead] != b'{' {
            return Err(line_err(line_no, "expected a JSON object".into()));
        }
        let members = json::members(line);
        if schema.collect_keys {
            for m in &members {
                if !keys.iter().any(|k| *k == m.key) {
                    keys.push(m.key.to_string());
                }
            }
        }
        let find = |k: &str| members.iter().find(|m| m.key == k).map(|m| m.value);
        let id = match schema.id {
            None => Id::Num(recs.len() as u64),
            Some(field) => {
                let raw = find(field)
                    .ok_or_else(|| line_err(line_no, format!("missing id field '{field}'")))?;
                match json::unquote(raw) {
                    Some(s) => Id::from_str(&s),
                    None => match std::str::from_utf8(raw).ok().and_then(|s| s.parse().ok()) {
                        Some(n) => Id::Num(n),
                        None => {
                            return Err(line_err(
                                line_no,
                                format!("id field '{field}' must be a string or an integer"),
                            ));
                        }
                    },
                }
            }
        };
        let bad_cursor = |field: &str, raw: &[u8]| {
            line_err(
                line_no,
                format!(
                    "cannot read '{field}' value {} as a datetime",
                    String::from_utf8_lossy(raw)
                ),
            )
        };
        let instant = |field: &'static str, raw: &[u8], ns: bool| -> Result<i64> {
            if raw == b"null" || raw == b"\"\"" {
                return Ok(i64::MIN);
            }
            let s = json::unquote(raw).ok_or_else(|| bad_cursor(field, raw))?;
            let v = if ns {
                json::parse_ns_datetime(&s)
            } else {
                json::parse_instant(&s)
            };
            v.ok_or_else(|| bad_cursor(field, raw))
        };
        let cursor = match schema.cursor {
            CursorField::None => i64::MIN,
            CursorField::Instant(f) => {
                find(f).map_or(Ok(i64::MIN), |raw| instant(f, raw, false))?
            }
            CursorField::NsDate(f) => find(f).map_or(Ok(i64::MIN), |raw| instant(f, raw, true))?,
            CursorField::Nested(outer, f, fallback) => {
                match find(outer).and_then(|o| json::member(o, f)) {
                    Some(raw) => instant(f, raw, false)?,
                    None => {
                        find(fallback).map_or(Ok(i64::MIN), |raw| instant(fallback, raw, false))?
                    }
                }
            }
        };
        let flag = schema.flag.and_then(find).is_some_and(|raw| raw == b"true");
        recs.push(Rec {
            start: start + lead,
            end,
            cursor,
            flag,
            id,
        });
    }
    if recs.len() > u32::MAX as usize {
        return Err(Error::FixtureFile {
            path: path.to_path_buf(),
            message: "more than 4294967295 records".into(),
        });
    }
    let mut by_id: Vec<u32> = (0..recs.len() as u32).collect();
    if schema.id.is_some() {
        by_id.sort_by(|&a, &b| recs[a as usize].id.cmp(&recs[b as usize].id));
    }
    Ok(Table {
        stream,
        buf,
        recs,
        by_id: Arc::new(by_id),
        keys,
    })
}

/// Every stream of a fixture directory.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    /// The manifest's `as_of`: the sandbox's "now" (HubSpot purges archived deals 90 days
    /// before it). `None` without a manifest.
    pub(crate) as_of: Option<chrono::NaiveDate>,
    tables: HashMap<(&'static str, &'static str), Table>,
}

impl Store {
    /// Read and index every stream of `dir` (in parallel, on blocking threads).
    pub(crate) fn load(dir: &Path) -> Result<Store> {
        if !dir.is_dir() {
            return Err(Error::NoFixtureDir {
                path: dir.to_path_buf(),
            });
        }
        // The shape before SPEC section 2 named Kantata's real resources: one `allocations`
        // stream with the person and workspace on each record. Serving the rest of such a
        // directory would quietly leave capacity without allocations.
        let old = dir.join("kantata").join("allocations.jsonl");
        if old.exists() {
            return Err(Error::FixtureFile {
                path: old,
                message: "an old fixture shape: Kantata allocations are now \
                          kantata/workspace_resources.jsonl and kantata/workspace_allocations.jsonl \
                          (regenerate with `pslake fixtures generate`, see fixtures/README.md)"
                    .into(),
            });
        }
        let manifest = dir.join(MANIFEST_FILE);
        let mut as_of = None;
        if manifest.exists() {
            let text = fs_err::read(&manifest)?;
            let m = serde_json::from_slice::<crate::layout::Manifest>(&text).map_err(|e| {
                Error::FixtureFile {
                    path: manifest.clone(),
                    message: e.to_string(),
                }
            })?;
            as_of = Some(m.as_of);
        }
        let results: Vec<Result<Table>> = std::thread::scope(|scope| {
            let handles: Vec<_> = STREAMS
                .iter()
                .map(|&s| scope.spawn(move || load_table(s, &s.path_in(dir))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut tables = HashMap::new();
        for r in results {
            let t = r?;
            tables.insert((t.stream.system, t.stream.stream), t);
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            as_of,
            tables,
        })
    }

    /// The table of `system`/`stream` (exact names), if it is one of [`STREAMS`].
    pub(crate) fn table(&self, system: &str, stream: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|((sy, st), _)| *sy == system && *st == stream)
            .map(|(_, t)| t)
    }
}

/// A small cache of filtered and sorted index lists, so that every page of one query does not
/// re-filter millions of records. Keyed by a string naming the table, filter and order.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    entries: Mutex<VecDeque<(String, Arc<Vec<u32>>)>>,
}

const INDEX_CACHE_ENTRIES: usize = 16;

impl IndexCache {
    /// The cached list for `key`, or compute it (outside the lock, on a blocking thread when the
    /// table is large) and remember it.
    pub(crate) async fn get_or_compute<F>(&self, key: String, big: bool, f: F) -> Arc<Vec<u32>>
    where
        F: FnOnce() -> Vec<u32> + Send + 'static,
    {
        {
            let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pos) = e.iter().position(|(k, _)| *k == key) {
                let hit = e.remove(pos).expect("position is in range");
                let v = hit.1.clone();
                e.push_front(hit);
                return v;
            }
        }
        let v = if big {
            match tokio::task::spawn_blocking(f).await {
                Ok(v) => Arc::new(v),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        } else {
            Arc::new(f())
        };
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.push_front((key, v.clone()));
        e.truncate(INDEX_CACHE_ENTRIES);
        v
    }
}
