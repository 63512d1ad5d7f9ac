//! The in-memory fixture index.
//!
//! Each `<system>/<stream>.jsonl` is read once, at start, line by line. Every line is validated
//! with serde_json (errors name file and line) and indexed in columns: id, cursor instant and a
//! flag (Salesforce `IsDeleted`, HubSpot `archived`). The lines themselves are kept in
//! blocks of whole records (about `BLOCK_BYTES` each). A large file's blocks are zstd-compressed
//! (fixture JSON shrinks about 13 to 1), so a scale-100 firm (7.8 million time entries, 2 GB of
//! JSON) is held in a few hundred MB instead of the file's size; a file of at most
//! `PLAIN_FILE_BYTES` is kept as it is, as its records are often served out of file order
//! (Salesforce by `SystemModstamp`, HubSpot by last modification), where each record read would
//! cost a block's decompression. A `Reader` decompresses the block of the record asked for, once
//! per block while records are read in order, and hands out the record's exact bytes. Nothing is
//! re-read from disk or re-parsed per request.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock};

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

/// The records of a table are kept in zstd-compressed blocks of whole records, each block about
/// this many bytes before compression (a block is sealed before a record would take it past
/// this; one record larger than this is a block of its own). A Kantata page of 200 time entries
/// is about 60 KiB, two blocks; a record read out of order costs one block's decompression.
const BLOCK_BYTES: usize = 32 * 1024;

/// zstd's fastest standard level: fixture JSON lines still shrink about 13 to 1 at 32 KiB.
const ZSTD_LEVEL: i32 = 1;

/// Fixture files up to this size are held uncompressed. At scale 100 every file but the time
/// entries' (2 GB) is under it: about 640 MB held plain. Their pages are often read out of file
/// order, where zstd blocks cost a 32 KiB decompression per record: that was 60 % of the
/// sandbox's CPU in a scale-100 extraction.
const PLAIN_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One block of records: a zstd frame and its decompressed length, or the records as they are.
enum Block {
    Zstd { data: Box<[u8]>, len: u32 },
    Plain(Box<[u8]>),
}

impl Block {
    /// The length of the block's records, decompressed.
    fn len(&self) -> usize {
        match self {
            Block::Zstd { len, .. } => *len as usize,
            Block::Plain(data) => data.len(),
        }
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::Zstd { data, len } => write!(f, "Block({} -> {len} bytes)", data.len()),
            Block::Plain(data) => write!(f, "Block(plain, {} bytes)", data.len()),
        }
    }
}

/// Record ids in file order: plain numbers while every id is one (Kantata, NetSuite), else
/// [`Id`]s (Salesforce's string ids).
#[derive(Debug)]
enum Ids {
    Num(Vec<u64>),
    Any(Vec<Id>),
}

impl Ids {
    fn push(&mut self, id: Id) {
        match self {
            Ids::Num(v) => match id {
                Id::Num(n) => v.push(n),
                id => {
                    let mut all: Vec<Id> = v.iter().map(|&n| Id::Num(n)).collect();
                    all.push(id);
                    *self = Ids::Any(all);
                }
            },
            Ids::Any(v) => v.push(id),
        }
    }

    fn get(&self, i: usize) -> Id {
        match self {
            Ids::Num(v) => Id::Num(v[i]),
            Ids::Any(v) => v[i].clone(),
        }
    }

    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Ids::Num(v) => v[a].cmp(&v[b]),
            Ids::Any(v) => v[a].cmp(&v[b]),
        }
    }
}

/// What a vendor query can order by: the record id or its cursor (last-modified) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    Id,
    Cursor,
}

/// One stream's records, in file order, with a by-id order. Record `i` (file order) has its
/// indexed values in column `i` ([`Table::id`], [`Table::cursor`], [`Table::flag`]) and its JSON
/// in a compressed block ([`Table::reader`]).
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) stream: StreamId,
    blocks: Vec<Block>,
    /// The first record of each block, ascending.
    block_first: Vec<u32>,
    /// Where each record starts in its block's decompressed bytes; it ends where the block's
    /// next record starts, or at the block's end.
    starts: Vec<u32>,
    /// Milliseconds since the epoch; `i64::MIN` when the record has no cursor value.
    cursors: Vec<i64>,
    /// Empty when the stream has no flag member.
    flags: Vec<bool>,
    ids: Ids,
    /// Record indexes in id order (numeric-aware, stable).
    pub(crate) by_id: Arc<Vec<u32>>,
    /// Top-level keys seen (Salesforce and NetSuite, for field validation), first-seen order.
    pub(crate) keys: Vec<String>,
    /// Whether any record was changed in memory ([`Table::edit`]): readers look in `edits`
    /// only then, so an unchanged table costs one atomic load per read.
    edited: AtomicBool,
    /// Records changed in memory (the control endpoints' close-won), by record index.
    edits: RwLock<HashMap<u32, Edit>>,
}

/// A record changed in memory: its new JSON and indexed values.
#[derive(Debug, Clone)]
struct Edit {
    raw: Arc<[u8]>,
    cursor: i64,
    flag: bool,
}

impl Table {
    /// The record with id `id`, if any.
    pub(crate) fn find(&self, id: &Id) -> Option<u32> {
        let by_id = &self.by_id;
        let pos = by_id.partition_point(|&i| self.id(i) < *id);
        by_id.get(pos).copied().filter(|&i| self.id(i) == *id)
    }

    /// Replaces record `i` in memory (its JSON, cursor and flag); every later read sees it.
    pub(crate) fn edit(&self, i: u32, raw: Vec<u8>, cursor: i64, flag: bool) {
        let mut edits = self.edits.write().unwrap_or_else(|p| p.into_inner());
        edits.insert(
            i,
            Edit {
                raw: raw.into(),
                cursor,
                flag,
            },
        );
        self.edited.store(true, AtomicOrdering::Release);
    }

    fn edit_of(&self, i: u32) -> Option<Edit> {
        if !self.edited.load(AtomicOrdering::Acquire) {
            return None;
        }
        let edits = self.edits.read().unwrap_or_else(|p| p.into_inner());
        edits.get(&i).cloned()
    }

    /// The largest cursor of the table (milliseconds since the epoch; `i64::MIN` for none).
    pub(crate) fn max_cursor(&self) -> i64 {
        (0..self.len() as u32)
            .map(|i| self.cursor(i))
            .max()
            .unwrap_or(i64::MIN)
    }

    /// A reader of the records' raw JSON.
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader {
            table: self,
            block: usize::MAX,
            buf: Vec::new(),
            edit: None,
        }
    }

    /// The id of record `i`.
    pub(crate) fn id(&self, i: u32) -> Id {
        self.ids.get(i as usize)
    }

    /// The cursor of record `i` (milliseconds since the epoch; `i64::MIN` when it has none).
    pub(crate) fn cursor(&self, i: u32) -> i64 {
        match self.edit_of(i) {
            Some(e) => e.cursor,
            None => self.cursors[i as usize],
        }
    }

    /// The flag of record `i` (Salesforce `IsDeleted`, HubSpot `archived`).
    pub(crate) fn flag(&self, i: u32) -> bool {
        match self.edit_of(i) {
            Some(e) => e.flag,
            None => self.flags.get(i as usize).copied().unwrap_or(false),
        }
    }

    /// Record `i`'s block and byte range in that block.
    fn span(&self, i: u32) -> (usize, usize, usize) {
        let b = self.block_first.partition_point(|&f| f <= i) - 1;
        let next = i as usize + 1;
        let end = match self.block_first.get(b + 1) {
            Some(&f) if next < f as usize => self.starts[next] as usize,
            None if next < self.starts.len() => self.starts[next] as usize,
            _ => self.blocks[b].len(),
        };
        (b, self.starts[i as usize] as usize, end)
    }

    /// Sorts record indexes by `order` (key, descending), stable for ties.
    pub(crate) fn sort(&self, rows: &mut [u32], order: &[(SortKey, bool)]) {
        rows.sort_by(|&a, &b| {
            for &(key, desc) in order {
                let o = match key {
                    SortKey::Id => self.ids.cmp(a as usize, b as usize),
                    SortKey::Cursor => self.cursor(a).cmp(&self.cursor(b)),
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
        self.starts.len()
    }

    fn empty(stream: StreamId) -> Table {
        Table {
            stream,
            blocks: Vec::new(),
            block_first: Vec::new(),
            starts: Vec::new(),
            cursors: Vec::new(),
            flags: Vec::new(),
            ids: Ids::Num(Vec::new()),
            by_id: Arc::new(Vec::new()),
            keys: Vec::new(),
            edited: AtomicBool::new(false),
            edits: RwLock::default(),
        }
    }
}

thread_local! {
    /// One zstd decompression context per server thread, kept from request to request: a
    /// context per reader (that is, per request) was 6 % of the sandbox's CPU serving a scale-100
    /// run (`ZSTD_createDCtx` allocating and clearing its tables).
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Reads records of one [`Table`], keeping the last block it decompressed: reading records in
/// file (or id) order decompresses each block once.
pub(crate) struct Reader<'a> {
    table: &'a Table,
    /// The block held in `buf`; `usize::MAX` for none.
    block: usize,
    buf: Vec<u8>,
    /// The last edited record read.
    edit: Option<Arc<[u8]>>,
}

impl Reader<'_> {
    /// The raw JSON of record `i`: the fixture line's bytes, without surrounding whitespace
    /// (or its in-memory replacement, [`Table::edit`]).
    pub(crate) fn raw(&mut self, i: u32) -> &[u8] {
        if let Some(e) = self.table.edit_of(i) {
            return self.edit.insert(e.raw);
        }
        let (b, start, end) = self.table.span(i);
        let (data, len) = match &self.table.blocks[b] {
            Block::Plain(data) => return &data[start..end],
            Block::Zstd { data, len } => (data, *len as usize),
        };
        if self.block != b {
            self.buf.clear();
            self.buf.reserve(len);
            let n = DECOMPRESSOR.with_borrow_mut(|dec| {
                dec.get_or_insert_with(|| {
                    zstd::bulk::Decompressor::new().expect("zstd allocates a decompression context")
                })
                .decompress_to_buffer(data, &mut self.buf)
                .expect("a block compressed at load decompresses into its length")
            });
            debug_assert_eq!(n, len);
            self.block = b;
        }
        &self.buf[start..end]
    }
}

/// Builds a [`Table`]'s blocks from records in file order.
struct Blocks {
    /// `None`: the blocks are kept plain.
    comp: Option<zstd::bulk::Compressor<'static>>,
    pending: Vec<u8>,
    blocks: Vec<Block>,
    block_first: Vec<u32>,
    starts: Vec<u32>,
}

impl Blocks {
    /// Blocks compressed with zstd, or kept `plain`.
    fn new(plain: bool) -> std::io::Result<Blocks> {
        Ok(Blocks {
            comp: if plain {
                None
            } else {
                Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?)
            },
            pending: Vec::with_capacity(2 * BLOCK_BYTES),
            blocks: Vec::new(),
            block_first: Vec::new(),
            starts: Vec::new(),
        })
    }

    /// Appends the next record (its index is the number pushed so far).
    fn push(&mut self, rec: &[u8]) -> std::io::Result<()> {
        if !self.pending.is_empty() && self.pending.len() + rec.len() > BLOCK_BYTES {
            self.seal()?;
        }
        let i = self.starts.len() as u32;
        if self.pending.is_empty() {
            self.block_first.push(i);
        }
        self.starts
            .push(u32::try_from(self.pending.len()).map_err(std::io::Error::other)?);
        self.pending.extend_from_slice(rec);
        Ok(())
    }

    /// Compresses the pending records into a block.
    fn seal(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = match &mut self.comp {
            None => Block::Plain(self.pending.as_slice().into()),
            Some(comp) => Block::Zstd {
                len: u32::try_from(self.pending.len()).map_err(std::io::Error::other)?,
                data: comp.compress(&self.pending)?.into_boxed_slice(),
            },
        };
        self.blocks.push(block);
        self.pending.clear();
        Ok(())
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
    load_table_plain_up_to(stream, path, PLAIN_FILE_BYTES)
}

/// [`load_table`], holding the file's records uncompressed when it has at most `plain_bytes`.
fn load_table_plain_up_to(stream: StreamId, path: &Path, plain_bytes: u64) -> Result<Table> {
    if !path.exists() {
        tracing::warn!(path = %path.display(), "fixture file missing, serving the stream empty");
        return Ok(Table::empty(stream));
    }
    let file = fs_err::File::open(path)?;
    let plain = file.metadata()?.len() <= plain_bytes;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let schema = schema(stream);
    let file_err = |message: String| Error::FixtureFile {
        path: path.to_path_buf(),
        message,
    };
    let mut blocks = Blocks::new(plain).map_err(|e| file_err(format!("cannot compress: {e}")))?;
    let mut cursors = Vec::new();
    let mut flags = Vec::new();
    let mut ids = Ids::Num(Vec::new());
    let mut keys: Vec<String> = Vec::new();
    let line_err = |line: usize, message: String| Error::FixtureLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let mut end = buf.len();
        if buf.last() == Some(&b'\n') {
            end -= 1;
        }
        while end > 0 && matches!(buf[end - 1], b'\r' | b' ' | b'\t') {
            end -= 1;
        }
        let line = &buf[..end];
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
            None => Id::Num(cursors.len() as u64),
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
        if cursors.len() >= u32::MAX as usize {
            return Err(file_err("more than 4294967295 records".into()));
        }
        if let Some(f) = schema.flag {
            flags.push(find(f).is_some_and(|raw| raw == b"true"));
        }
        ids.push(id);
        cursors.push(cursor);
        blocks
            .push(&line[lead..])
            .map_err(|e| file_err(format!("cannot compress: {e}")))?;
    }
    blocks
        .seal()
        .map_err(|e| file_err(format!("cannot compress: {e}")))?;
    let mut by_id: Vec<u32> = (0..cursors.len() as u32).collect();
    if schema.id.is_some() {
        by_id.sort_by(|&a, &b| ids.cmp(a as usize, b as usize));
    }
    let Blocks {
        blocks,
        block_first,
        starts,
        ..
    } = blocks;
    cursors.shrink_to_fit();
    flags.shrink_to_fit();
    Ok(Table {
        stream,
        blocks,
        block_first,
        starts,
        cursors,
        flags,
        ids,
        by_id: Arc::new(by_id),
        keys,
        edited: AtomicBool::new(false),
        edits: RwLock::default(),
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
    /// Forgets every list (after a record changed in memory).
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    const TIME_ENTRIES: StreamId = StreamId {
        system: "kantata",
        stream: "time_entries",
    };

    /// `n` Kantata-like records, ids 1..=n in file order.
    fn records(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":"{}","workspace_id":"{}","notes":"note {} é","updated_at":"2026-03-{:02}T09:00:00+00:00"}}"#,
                    i + 1,
                    31_000 + i % 97,
                    i % 13,
                    1 + i % 28
                )
            })
            .collect()
    }

    /// Writes `recs` as a fixture file with untidy whitespace, loads it with `plain_bytes`, checks
    /// every record reads back byte for byte in file order, backwards and scattered, and returns
    /// the table and the file's length.
    fn load_and_read_back(recs: &[String], plain_bytes: u64) -> (Table, usize) {
        let dir = tempfile::tempdir().expect("tempdir");
        // leading and trailing whitespace, CRLF line ends and blank lines are not record bytes
        let mut text = String::new();
        for (i, r) in recs.iter().enumerate() {
            match i % 3 {
                0 => text.push_str(&format!("{r}\n")),
                1 => text.push_str(&format!("  {r} \r\n")),
                _ => text.push_str(&format!("{r}\n\n")),
            }
        }
        text.pop(); // the last line without a line end
        let path = dir.path().join("time_entries.jsonl");
        fs_err::write(&path, &text).expect("write");
        let t = load_table_plain_up_to(TIME_ENTRIES, &path, plain_bytes).expect("loads");
        assert_eq!(t.len(), recs.len());
        assert!(t.blocks.len() > 10, "{} blocks", t.blocks.len());
        let mut rows = t.reader();
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(rows.raw(i as u32), r.as_bytes(), "record {i}");
        }
        for (i, r) in recs.iter().enumerate().rev() {
            assert_eq!(rows.raw(i as u32), r.as_bytes(), "record {i}");
        }
        for k in 0..recs.len() {
            let i = (k * 7919) % recs.len();
            assert_eq!(rows.raw(i as u32), recs[i].as_bytes(), "record {i}");
        }
        assert_eq!(t.id(4999), Id::Num(5000));
        assert_eq!(t.cursor(0), 1_772_355_600_000); // 2026-03-01T09:00:00Z
        assert_eq!(*t.by_id, (0..5000).collect::<Vec<u32>>());
        (t, text.len())
    }

    #[test]
    fn records_read_back_byte_for_byte_from_compressed_blocks() {
        let recs = records(5000);
        // a limit of 0 bytes: every file is compressed
        let (t, file_len) = load_and_read_back(&recs, 0);
        let held: usize = t
            .blocks
            .iter()
            .map(|b| match b {
                Block::Zstd { data, .. } => data.len(),
                Block::Plain(_) => panic!("a plain block in a compressed table: {b:?}"),
            })
            .sum();
        assert!(
            held * 4 < file_len,
            "{held} bytes held for {file_len} bytes of JSON"
        );
    }

    #[test]
    fn records_of_a_small_file_are_held_plain_and_read_back_byte_for_byte() {
        let recs = records(5000);
        let (t, file_len) = load_and_read_back(&recs, PLAIN_FILE_BYTES);
        // plain blocks hold exactly the records' bytes: the file minus its whitespace
        let held: usize = t
            .blocks
            .iter()
            .map(|b| match b {
                Block::Plain(data) => data.len(),
                Block::Zstd { .. } => panic!("a compressed block in a small file: {b:?}"),
            })
            .sum();
        assert_eq!(held, recs.iter().map(String::len).sum::<usize>());
        assert!(held < file_len);
    }

    #[test]
    fn a_string_id_after_numbers_keeps_numeric_aware_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("time_entries.jsonl");
        fs_err::write(
            &path,
            "{\"id\":\"10\"}\n{\"id\":\"9\"}\n{\"id\":\"abc\"}\n{\"id\":2}\n{\"id\":\"007\"}\n",
        )
        .expect("write");
        let t = load_table(TIME_ENTRIES, &path).expect("loads");
        assert_eq!(t.id(2), Id::Str("abc".into()));
        assert_eq!(t.id(3), Id::Num(2));
        assert_eq!(*t.by_id, vec![3, 1, 0, 4, 2]);
        let mut rows = t.reader();
        assert_eq!(rows.raw(4), b"{\"id\":\"007\"}");
    }
}
