//! Records to Arrow: one pass per record picks the declared fields from the raw JSON, parses
//! them with [`crate::values`], and appends to column builders. A record with a value that does
//! not parse, or without a required value, becomes a reject row instead of a table row.
//!
//! A landed row's columns: the declared ones, `_file` (file drops), `_run_id`, `_extracted_at`,
//! `_raw`, and `_deleted` (false; true only on the tombstones of [`crate::reconcile`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::value::RawValue;

use pslake_core::pipeline::{DataType, Paginator, Pipeline, Stream, SystemKind};
use pslake_lake::ops::RejectRow;
use pslake_lake::{DELETED, TableName};

use crate::error::clip;
use crate::json::{PathTree, Scalar, note_unknown, strip_keys};
use crate::page::{Picked, Scan};
use crate::values::{Typed, parse};

/// Reject rule for a value that does not parse.
pub const RULE_UNPARSEABLE: &str = "unparseable_value";
/// Reject rule for a missing required value.
pub const RULE_MISSING: &str = "missing_required_field";

/// Everything needed to turn records of one stream into batches.
#[derive(Debug)]
pub(crate) struct StreamPlan {
    pub(crate) system: String,
    pub(crate) stream: Stream,
    pub(crate) run_id: String,
    pub(crate) schema: SchemaRef,
    /// How a page of the stream is read: its records and the values its paging needs.
    pub(crate) scan: Scan,
    tree: PathTree,
    pk: Vec<usize>,
    with_file: bool,
}

impl StreamPlan {
    pub(crate) fn new(system: &str, stream: &Stream, run_id: &str, with_file: bool) -> Self {
        let paths: Vec<_> = stream.columns.iter().map(|c| &c.path).collect();
        let pk = stream
            .primary_key
            .iter()
            .filter_map(|k| stream.columns.iter().position(|c| &c.name == k))
            .collect();
        let mut scan = plain_scan(stream);
        // The records are picked in the page's pass, unless a record is wanted whole: nested
        // rows are cut from it, and keyset paging reads its last record's key.
        let keyset = matches!(
            stream.paginator,
            Paginator::Offset {
                keyset: Some(_),
                ..
            }
        );
        if stream.records.unnest.is_none() && !keyset {
            scan = scan.picking(&paths);
        }
        StreamPlan {
            system: system.to_string(),
            stream: stream.clone(),
            run_id: run_id.to_string(),
            schema: stream_schema(stream, with_file),
            scan,
            tree: PathTree::new(&paths),
            pk,
            with_file,
        }
    }

    /// The same stream paged by `paginator` (an `incremental.since_cursor` request): the same
    /// columns and schema, and the page values that paginator reads.
    pub(crate) fn with_paginator(&self, paginator: Paginator) -> StreamPlan {
        let mut stream = self.stream.clone();
        stream.paginator = paginator;
        StreamPlan::new(&self.system, &stream, &self.run_id, self.with_file)
    }

    /// The same plan reading each page's records whole, then picking them one by one (as
    /// pages of nested rows and of keyset paging are read), to compare with.
    #[cfg(test)]
    pub(crate) fn plain(mut self) -> Self {
        self.scan = plain_scan(&self.stream);
        self
    }

    /// A fresh accumulator.
    pub(crate) fn outcome(&self) -> PageOutcome {
        self.outcome_for(1024, 1024)
    }

    /// A fresh accumulator sized for `rows` records of `raw_bytes` bytes of JSON in all.
    fn outcome_for(&self, rows: usize, raw_bytes: usize) -> PageOutcome {
        PageOutcome {
            builders: self
                .stream
                .columns
                .iter()
                .map(|c| ColBuilder::new(c.data_type, rows))
                .collect(),
            file: StringBuilder::new(),
            run_id: StringBuilder::with_capacity(rows, rows * self.run_id.len()),
            extracted: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            raw: StringBuilder::with_capacity(rows, raw_bytes),
            rows: 0,
            rejects: Vec::new(),
            received: 0,
            rejected: 0,
            filtered: 0,
            unknown: BTreeSet::new(),
            cursor_max: None,
            failing: vec![0; self.stream.columns.len()],
            example_key: None,
            row_keys: Vec::new(),
        }
    }

    /// The text of a record's primary key (its parts joined by `|`; `None` when every part is
    /// missing or empty), as reject rows show it.
    fn key_text(&self, picked: &[Option<&RawValue>]) -> Option<String> {
        let parts: Vec<String> = self
            .pk
            .iter()
            .map(|i| {
                picked[*i]
                    .and_then(|r| Scalar::of(r).ok())
                    .and_then(|s| s.text().map(|t| t.into_owned()))
                    .unwrap_or_default()
            })
            .collect();
        (!parts.iter().all(String::is_empty)).then(|| parts.join("|"))
    }

    /// A 64-bit fingerprint of the same text as [`StreamPlan::key_text`] (`None` when that is
    /// `None`), without allocating: what a run remembers of each key to count repeats (a
    /// collision, about 1 in 10^7 at a million keys, only miscounts).
    fn key_hash(&self, picked: &[Option<&RawValue>]) -> Option<u64> {
        use std::hash::Hasher;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut any = false;
        for i in &self.pk {
            if let Some(t) = picked[*i]
                .and_then(|r| Scalar::of(r).ok())
                .and_then(|s| s.text())
            {
                any |= !t.is_empty();
                h.write(t.as_bytes());
            }
            // 0xff is never in UTF-8 text: the parts cannot run into each other
            h.write_u8(0xff);
        }
        any.then(|| h.finish())
    }

    /// The primary key text of a landed row's `_raw` (see [`StreamPlan::key_text`]).
    pub(crate) fn key_of_raw(&self, raw: &str) -> Option<String> {
        let rec: &RawValue = serde_json::from_str(raw).ok()?;
        let mut picked = vec![None; self.stream.columns.len()];
        self.tree.pick(rec, &mut picked, &mut |_, _| {}).ok()?;
        self.key_text(&picked)
    }

    /// The rows of one page's records (see [`StreamPlan::push`]), in builders sized for them
    /// (their count and JSON bytes are known once the page is scanned), so the builders do not
    /// grow, and copy, record by record.
    pub(crate) fn page_rows(
        &self,
        records: &[&RawValue],
        extracted_at: i64,
        min_cursor: Option<i64>,
        cursor_column: Option<usize>,
    ) -> PageOutcome {
        let bytes = records.iter().map(|r| r.get().len()).sum();
        let mut out = self.outcome_for(records.len(), bytes);
        let mut scratch = Scratch::default();
        for rec in records {
            self.push_with(
                &mut out,
                rec,
                extracted_at,
                None,
                min_cursor,
                cursor_column,
                &mut scratch,
            );
        }
        out
    }

    /// The rows of a page whose records were picked in the page's pass ([`Picked`]), as
    /// [`StreamPlan::page_rows`] makes them.
    pub(crate) fn picked_rows(
        &self,
        picked: Picked<'_>,
        extracted_at: i64,
        min_cursor: Option<i64>,
        cursor_column: Option<usize>,
    ) -> PageOutcome {
        let bytes = picked.records.iter().map(|r| r.len()).sum();
        let mut out = self.outcome_for(picked.records.len(), bytes);
        out.unknown = picked.unknown;
        let n = self.stream.columns.len();
        let mut typed = Vec::with_capacity(n);
        for (i, rec) in picked.records.iter().enumerate() {
            let record = Record {
                text: rec,
                fields: &picked.fields[i * n..(i + 1) * n],
                not_an_object: None,
            };
            let at = (extracted_at, None);
            self.push_record(&mut out, record, at, min_cursor, cursor_column, &mut typed);
        }
        out
    }

    /// Adds one record. `min_cursor`: records whose cursor is below it are filtered out
    /// (client-side incremental filter). `cursor_column`: the parameter set's cursor column
    /// (`None`: the stream's).
    pub(crate) fn push(
        &self,
        out: &mut PageOutcome,
        rec: &RawValue,
        extracted_at: i64,
        file: Option<&str>,
        min_cursor: Option<i64>,
        cursor_column: Option<usize>,
    ) {
        self.push_with(
            out,
            rec,
            extracted_at,
            file,
            min_cursor,
            cursor_column,
            &mut Scratch::default(),
        );
    }

    /// [`StreamPlan::push`] with buffers reused from record to record: picks the record's
    /// fields, then [`StreamPlan::push_record`].
    #[allow(clippy::too_many_arguments)]
    fn push_with<'a>(
        &self,
        out: &mut PageOutcome,
        rec: &'a RawValue,
        extracted_at: i64,
        file: Option<&str>,
        min_cursor: Option<i64>,
        cursor_column: Option<usize>,
        scratch: &mut Scratch<'a>,
    ) {
        let picked = &mut scratch.picked;
        picked.clear();
        picked.resize(self.stream.columns.len(), None);
        let records = &self.stream.records;
        let (unknown, path) = (&mut out.unknown, &mut scratch.path);
        // An undeclared key is skipped unread; noting it costs a lookup, no allocation, once
        // it is known.
        let picked_ok = self.tree.pick(rec, picked, &mut |prefix, key| {
            note_unknown(unknown, path, &records.strip, &records.kept, prefix, key);
        });
        let record = Record {
            text: rec.get(),
            fields: &scratch.picked,
            not_an_object: picked_ok.err(),
        };
        let at = (extracted_at, file);
        self.push_record(
            out,
            record,
            at,
            min_cursor,
            cursor_column,
            &mut scratch.typed,
        );
    }

    /// Adds one record whose fields are picked: a row, a reject, or filtered out (see
    /// [`StreamPlan::push`]). `at`: the extraction time and the file it came from.
    fn push_record<'a>(
        &self,
        out: &mut PageOutcome,
        record: Record<'a, '_>,
        at: (i64, Option<&str>),
        min_cursor: Option<i64>,
        cursor_column: Option<usize>,
        typed: &mut Vec<Typed<'a>>,
    ) {
        let (extracted_at, file) = at;
        out.received += 1;
        let strip = &self.stream.records.strip;
        let rec = record.text;
        let picked = record.fields;
        let raw_text = || -> String {
            if strip.is_empty() {
                rec.to_string()
            } else {
                strip_keys(rec, strip).unwrap_or_else(|_| rec.to_string())
            }
        };
        let key_of = |picked: &[Option<&RawValue>]| self.key_text(picked);
        if let Some(e) = record.not_an_object {
            out.rejected += 1;
            out.rejects.push(self.reject(
                key_of(picked),
                RULE_UNPARSEABLE,
                None,
                None,
                format!("record is not a JSON object: {e}"),
                raw_text(),
            ));
            return;
        }
        if out.example_key.is_none() {
            out.example_key = key_of(picked);
        }
        typed.clear();
        let mut failure: Option<(usize, &'static str, Option<String>, String)> = None;
        for (i, col) in self.stream.columns.iter().enumerate() {
            let scalar = match picked[i].map(Scalar::of) {
                None => Scalar::Null,
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    failure.get_or_insert((
                        i,
                        RULE_UNPARSEABLE,
                        picked[i].map(|r| r.get().to_string()),
                        e.to_string(),
                    ));
                    out.failing[i] += 1;
                    typed.push(Typed::Null);
                    continue;
                }
            };
            match parse(&scalar, col.data_type, &col.format) {
                Ok(Typed::Null) if col.required => {
                    out.failing[i] += 1;
                    failure.get_or_insert((
                        i,
                        RULE_MISSING,
                        None,
                        format!(
                            "required field `{}` (path `{}`) is missing or empty",
                            col.name, col.path
                        ),
                    ));
                    typed.push(Typed::Null);
                }
                Ok(v) => typed.push(v),
                Err(reason) => {
                    out.failing[i] += 1;
                    failure.get_or_insert((
                        i,
                        RULE_UNPARSEABLE,
                        scalar.text().map(|t| t.into_owned()),
                        format!("field `{}` (path `{}`): {reason}", col.name, col.path),
                    ));
                    typed.push(Typed::Null);
                }
            }
        }
        if let Some((i, rule, value, message)) = failure {
            out.rejected += 1;
            let field = Some(self.stream.columns[i].name.clone());
            out.rejects
                .push(self.reject(key_of(picked), rule, field, value, message, raw_text()));
            return;
        }
        let cursor = self.stream.incremental.as_ref().and_then(|inc| {
            match typed[cursor_column.unwrap_or(inc.column)] {
                Typed::Ts(v) => Some(v),
                Typed::Date(d) => Some(d as i64),
                _ => None,
            }
        });
        if let (Some(min), Some(c)) = (min_cursor, cursor)
            && c < min
        {
            // older than the cursor: not part of this run (received counts only the rest)
            out.received -= 1;
            out.filtered += 1;
            return;
        }
        if let Some(c) = cursor {
            out.cursor_max = Some(out.cursor_max.map_or(c, |m: i64| m.max(c)));
        }
        out.row_keys.push(self.key_hash(picked));
        for (b, v) in out.builders.iter_mut().zip(typed.iter()) {
            b.append(v);
        }
        if self.with_file {
            out.file.append_option(file);
        }
        out.run_id.append_value(&self.run_id);
        out.extracted.append_value(extracted_at);
        if strip.is_empty() {
            out.raw.append_value(rec);
        } else {
            out.raw.append_value(raw_text());
        }
        out.rows += 1;
    }

    fn reject(
        &self,
        key: Option<String>,
        rule: &str,
        field: Option<String>,
        value: Option<String>,
        message: String,
        raw: String,
    ) -> RejectRow {
        RejectRow {
            run_id: self.run_id.clone(),
            system: self.system.clone(),
            stream: self.stream.name.clone(),
            key,
            rule: rule.to_string(),
            field,
            value: value.map(clip),
            message: clip(format!("{}.{}: {message}", self.system, self.stream.name)),
            raw: Some(raw),
            rejected_at: chrono::Utc::now(),
        }
    }

    /// Finishes the accumulated rows into a batch (`None` when there are none).
    pub(crate) fn finish(
        &self,
        out: &mut PageOutcome,
    ) -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        if out.rows == 0 {
            return Ok(None);
        }
        let mut cols: Vec<ArrayRef> = out
            .builders
            .iter_mut()
            .map(ColBuilder::finish)
            .collect::<Result<_, _>>()?;
        if self.with_file {
            cols.push(Arc::new(out.file.finish()));
        }
        cols.push(Arc::new(out.run_id.finish()));
        cols.push(Arc::new(out.extracted.finish()));
        cols.push(Arc::new(out.raw.finish()));
        cols.push(Arc::new(BooleanArray::from(vec![false; out.rows])));
        out.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).map(Some)
    }
}

/// One record whose fields are picked: its text as sent, the value of each declared column,
/// and why it could not be picked when it is not a JSON object.
struct Record<'a, 'f> {
    text: &'a str,
    fields: &'f [Option<&'a RawValue>],
    not_an_object: Option<serde_json::Error>,
}

/// Per-record buffers, kept from one record of a page to the next.
#[derive(Default)]
struct Scratch<'a> {
    picked: Vec<Option<&'a RawValue>>,
    typed: Vec<Typed<'a>>,
    /// The dotted path of an undeclared nested key.
    path: String,
}

/// Accumulated rows and counters of one or more pages.
#[derive(Debug)]
pub(crate) struct PageOutcome {
    builders: Vec<ColBuilder>,
    file: StringBuilder,
    run_id: StringBuilder,
    extracted: TimestampMicrosecondBuilder,
    raw: StringBuilder,
    /// Rows in the builders.
    pub(crate) rows: usize,
    pub(crate) rejects: Vec<RejectRow>,
    pub(crate) received: u64,
    pub(crate) rejected: u64,
    pub(crate) filtered: u64,
    pub(crate) unknown: BTreeSet<String>,
    pub(crate) cursor_max: Option<i64>,
    /// Per column: records that failed on it (missing required or unparseable).
    pub(crate) failing: Vec<u64>,
    pub(crate) example_key: Option<String>,
    /// Per row in the builders, in order: the fingerprint of its primary key (`None`: it has
    /// none), to find keys received twice in a run ([`crate::sink`]).
    pub(crate) row_keys: Vec<Option<u64>>,
}

/// The scan of `stream`'s pages that borrows each record whole (its paging values read in the
/// same pass); [`Scan::picking`] makes it pick the records' fields too.
fn plain_scan(stream: &Stream) -> Scan {
    Scan::new(
        &stream.records,
        crate::rest::paging_paths(&stream.paginator),
    )
}

fn ts_type() -> ArrowType {
    ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The schema of a stream's raw table: its declared columns, `_file` for file drops, then
/// `_run_id`, `_extracted_at` and `_raw`.
fn stream_schema(stream: &Stream, with_file: bool) -> SchemaRef {
    let mut fields: Vec<Field> = stream
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.data_type), true))
        .collect();
    if with_file {
        fields.push(Field::new("_file", ArrowType::Utf8, true));
    }
    fields.push(Field::new("_run_id", ArrowType::Utf8, true));
    fields.push(Field::new("_extracted_at", ts_type(), true));
    fields.push(Field::new("_raw", ArrowType::Utf8, true));
    fields.push(Field::new(DELETED, ArrowType::Boolean, true));
    Arc::new(Schema::new(fields))
}

/// The raw table of every stream of `pipeline` (`raw.<system>_<stream>`) with the schema its
/// landing writes, for planning models before any data exists.
pub fn raw_schemas(pipeline: &Pipeline) -> Vec<(TableName, SchemaRef)> {
    pipeline
        .systems
        .iter()
        .flat_map(|system| {
            let with_file = matches!(system.kind, SystemKind::Files { .. });
            system.streams.iter().map(move |stream| {
                (
                    TableName::new("raw", stream.table.as_str()),
                    stream_schema(stream, with_file),
                )
            })
        })
        .collect()
}

/// The Arrow type of a declared column type.
pub fn arrow_type(t: DataType) -> ArrowType {
    match t {
        DataType::String => ArrowType::Utf8,
        DataType::Boolean => ArrowType::Boolean,
        DataType::Integer => ArrowType::Int64,
        DataType::Double => ArrowType::Float64,
        DataType::Decimal(p, s) => ArrowType::Decimal128(p, s),
        DataType::Date => ArrowType::Date32,
        DataType::Timestamp => ts_type(),
    }
}

#[derive(Debug)]
enum ColBuilder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Int(Int64Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

impl ColBuilder {
    /// A builder for `rows` values (text columns: 16 bytes each to start with).
    fn new(t: DataType, rows: usize) -> Self {
        match t {
            DataType::String => Self::Str(StringBuilder::with_capacity(rows, rows * 16)),
            DataType::Boolean => Self::Bool(BooleanBuilder::with_capacity(rows)),
            DataType::Integer => Self::Int(Int64Builder::with_capacity(rows)),
            DataType::Double => Self::F64(Float64Builder::with_capacity(rows)),
            DataType::Decimal(p, s) => Self::Dec(Decimal128Builder::with_capacity(rows), p, s),
            DataType::Date => Self::Date(Date32Builder::with_capacity(rows)),
            DataType::Timestamp => {
                Self::Ts(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
        }
    }

    /// Appends a value already parsed for this column's type.
    fn append(&mut self, v: &Typed<'_>) {
        match (self, v) {
            (Self::Str(b), Typed::Str(s)) => b.append_value(s.as_ref()),
            (Self::Bool(b), Typed::Bool(x)) => b.append_value(*x),
            (Self::Int(b), Typed::Int(x)) => b.append_value(*x),
            (Self::F64(b), Typed::F64(x)) => b.append_value(*x),
            (Self::Dec(b, _, _), Typed::Dec(x)) => b.append_value(*x),
            (Self::Date(b), Typed::Date(x)) => b.append_value(*x),
            (Self::Ts(b), Typed::Ts(x)) => b.append_value(*x),
            (Self::Str(b), _) => b.append_null(),
            (Self::Bool(b), _) => b.append_null(),
            (Self::Int(b), _) => b.append_null(),
            (Self::F64(b), _) => b.append_null(),
            (Self::Dec(b, _, _), _) => b.append_null(),
            (Self::Date(b), _) => b.append_null(),
            (Self::Ts(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Dec(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s)?),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Ts(b) => Arc::new(b.finish().with_timezone("UTC")),
        })
    }
}
