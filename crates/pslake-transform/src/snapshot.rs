//! `materialized: snapshot`: dbt's snapshots on Delta. The model's SQL gives the rows as they are
//! now, one per `unique_key`; the model's table keeps every version of each key, with three
//! columns after the model's own: `valid_from`, `valid_to` (NULL for the current version) and
//! `is_current`.
//!
//! Each build compares the model's rows with the current versions:
//! - a key not current in the table (new, or back after it was gone) opens a version;
//! - a key whose row changed (`strategy: check`: a checked column differs, NULL-safe;
//!   `strategy: timestamp`: `updated_at` is later than the current version's) closes its current
//!   version and opens a new one at the same instant;
//! - a key gone from the rows closes its current version (`invalidate_hard_deletes`, the
//!   default), or stays current (`false`);
//! - anything else is left as it is: a build in which nothing changed commits nothing.
//!
//! Times: the snapshot time is the run's `as_of` at 00:00 UTC, not the clock, so a build gives
//! the same table whenever it runs (a retry, a rebuild of the lake from the same landings) and
//! tests can name exact values. A check version is valid from the snapshot time; a timestamp
//! version from its `updated_at` (a DATE read as 00:00 UTC); a key that disappears is closed at
//! the snapshot time. No version ends before it starts: a boundary earlier than the version's
//! own `valid_from` is moved to it, and a key that comes back with an `updated_at` not after the
//! end of its last version opens at the snapshot time instead. A version that would end at the
//! instant it starts (a second change seen with the same `as_of`) is not kept: the history is
//! as of each `as_of`, one version per key and `valid_from`. The snapshot time is recorded in
//! the commit (`pslake.snapshot_time`); a build whose snapshot time is earlier than the one of
//! the last change fails: history only moves forward.
//!
//! Layout: the table's current versions are data files under `pslake_snapshot-current/`, closed
//! versions under `pslake_snapshot-closed/` (a plain Delta table to any reader: no extra column,
//! no partition). A build reads the model's rows (staged once, read a few times) and the current
//! versions; the closed history is never read, except the key and `valid_to` of the keys that
//! come back under the timestamp strategy. A change rewrites the current files (one row per key)
//! and adds the newly closed versions as new files, in one commit that goes through the build's
//! release like every other table. Small closed files are folded into one once there are
//! [`COMPACT_AT`] of them.
//!
//! A snapshot is never rebuilt: `--full-refresh` runs it as any other build (its history stays).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::{Column, JoinType, ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DfResult;
use datafusion::functions_aggregate::expr_fn::{count, max};
use datafusion::logical_expr::{Expr, Operator, binary_expr, cast, lit, when};
use datafusion::prelude::ident;
use pslake_lake::{Staged, TableFile};

use crate::checks;
use crate::execute::{PendingWrite, Runner, table_docs};
use crate::project::{Model, SnapshotConfig, SnapshotStrategy};
use crate::session;
use crate::stream;

/// When the version became current.
pub(crate) const VALID_FROM: &str = "valid_from";
/// When it stopped being current (exclusive); NULL for the current version.
pub(crate) const VALID_TO: &str = "valid_to";
/// Whether it is the current version.
pub(crate) const IS_CURRENT: &str = "is_current";
/// The columns a snapshot adds after the model's, in their order.
pub(crate) const SNAPSHOT_COLUMNS: [&str; 3] = [VALID_FROM, VALID_TO, IS_CURRENT];

/// The folder of a snapshot's current versions.
pub(crate) const CURRENT_DIR: &str = "pslake_snapshot-current";
/// The folder of its closed versions.
pub(crate) const CLOSED_DIR: &str = "pslake_snapshot-closed";

/// The commit metadata key of the snapshot time of a snapshot's last change.
pub(crate) const SNAPSHOT_TIME_KEY: &str = "pslake.snapshot_time";

/// How many closed files smaller than [`SMALL_FILE`] a snapshot keeps before it folds them
/// into one (each change adds one, usually small).
pub(crate) const COMPACT_AT: usize = 16;
const SMALL_FILE: i64 = 16 * 1024 * 1024;

/// The qualifiers of the relations the comparison joins.
const NEW: &str = "__pslake_new";
const CUR: &str = "__pslake_current";
const ENDED: &str = "__pslake_ended";
const LAST_END: &str = "__pslake_last_end";

/// The type of `valid_from` and `valid_to`: timestamp (µs, UTC), whatever the strategy.
pub(crate) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The snapshot's table schema: the model's columns, then `valid_from`, `valid_to`,
/// `is_current`.
pub(crate) fn table_schema(source: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = source.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(VALID_FROM, timestamp(), false));
    fields.push(Field::new(VALID_TO, timestamp(), true));
    fields.push(Field::new(IS_CURRENT, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// The snapshot time of a run: its `as_of` at 00:00 UTC.
pub(crate) fn snapshot_time(as_of: NaiveDate) -> DateTime<Utc> {
    as_of.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn time_literal(t: DateTime<Utc>) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(t.timestamp_micros()),
        Some("UTC".into()),
    ))
}

fn null_time() -> Expr {
    lit(ScalarValue::TimestampMicrosecond(None, Some("UTC".into())))
}

/// What is wrong with the columns a snapshot model's SQL returns (`source`): its key, checked
/// columns and `updated_at` must be among them, the snapshot's own columns must not.
pub(crate) fn check_output(m: &Model, source: &Schema) -> Vec<String> {
    let Some(cfg) = &m.snapshot else {
        return vec!["materialized: snapshot without its settings".into()];
    };
    let has = |c: &str| source.field_with_name(c).is_ok();
    let mut problems = Vec::new();
    for c in SNAPSHOT_COLUMNS {
        if has(c) {
            problems.push(format!(
                "snapshot: the model returns a column {c}, which the snapshot adds itself (rename it)"
            ));
        }
    }
    for k in m.unique_key.iter().filter(|k| !has(k)) {
        problems.push(format!(
            "snapshot: unique_key {k} is not a column of the model's output"
        ));
    }
    match &cfg.strategy {
        SnapshotStrategy::Check { columns } => {
            for c in columns.iter().flatten().filter(|c| !has(c)) {
                problems.push(format!(
                    "snapshot: check_cols: {c} is not a column of the model's output"
                ));
            }
        }
        SnapshotStrategy::Timestamp { updated_at } => match source.field_with_name(updated_at) {
            Err(_) => problems.push(format!(
                "snapshot: updated_at {updated_at} is not a column of the model's output"
            )),
            Ok(f) if !is_time(f.data_type()) => problems.push(format!(
                "snapshot: updated_at {updated_at} is {}, not a DATE or TIMESTAMP (cast it in the SQL)",
                f.data_type()
            )),
            Ok(_) => {}
        },
    }
    problems
}

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A column of the relation `rel`.
fn q(rel: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(TableReference::bare(rel)), name))
}

/// The later of `a` and `b` (`a` when `b` is NULL).
fn later(a: Expr, b: Expr) -> Expr {
    when(b.clone().gt(a.clone()), b)
        .otherwise(a)
        .expect("a CASE with an ELSE")
}

/// The `updated_at` of relation `rel`, as a timestamp.
fn updated(rel: &str, updated_at: &str) -> Expr {
    cast(q(rel, updated_at), timestamp())
}

/// `key = key` between two relations, one equality per key column.
fn on(m: &Model, left: &str, right: &str) -> Vec<Expr> {
    m.unique_key
        .iter()
        .map(|k| q(left, k).eq(q(right, k)))
        .collect()
}

/// Whether the row of [`NEW`] is a new version of the row of [`CUR`] (NULL-safe; only
/// meaningful when both exist).
fn changed(m: &Model, cfg: &SnapshotConfig, source: &Schema) -> Expr {
    match &cfg.strategy {
        SnapshotStrategy::Check { columns } => {
            let all: Vec<String>;
            let columns = match columns {
                Some(c) => c,
                None => {
                    all = source
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .filter(|c| !m.unique_key.contains(c))
                        .collect();
                    &all
                }
            };
            columns
                .iter()
                .map(|c| binary_expr(q(NEW, c), Operator::IsDistinctFrom, q(CUR, c)))
                .reduce(Expr::or)
                .unwrap_or(lit(false))
        }
        SnapshotStrategy::Timestamp { updated_at } => q(NEW, updated_at).gt(q(CUR, updated_at)),
    }
}

/// The published files of a snapshot by folder.
#[derive(Default)]
struct Files {
    current: Vec<TableFile>,
    closed: Vec<TableFile>,
    /// Files in neither folder (none unless the table was written some other way): read
    /// whole, rewritten into the two folders, removed.
    other: Vec<TableFile>,
}

impl Files {
    fn of(files: Vec<TableFile>) -> Self {
        let mut out = Self::default();
        for f in files {
            let folder = f.remove.path.split('/').next().unwrap_or_default();
            match folder {
                CURRENT_DIR => out.current.push(f),
                CLOSED_DIR => out.closed.push(f),
                _ => out.other.push(f),
            }
        }
        out
    }
}

fn urls<'a>(files: impl IntoIterator<Item = &'a TableFile>) -> Vec<url::Url> {
    files.into_iter().map(|f| f.url.clone()).collect()
}

/// What a first build publishes for the model's rows `df` (every row a current version): for
/// sessions that show an unpublished snapshot as a view.
pub(crate) fn first_versions(df: DataFrame, m: &Model, as_of: NaiveDate) -> DfResult<DataFrame> {
    let at = snapshot_time(as_of);
    let valid_from = match m.snapshot.as_ref().map(|c| &c.strategy) {
        Some(SnapshotStrategy::Timestamp { updated_at }) => cast(ident(updated_at), timestamp()),
        _ => time_literal(at),
    };
    let mut exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect();
    exprs.push(valid_from.alias(VALID_FROM));
    exprs.push(null_time().alias(VALID_TO));
    exprs.push(lit(true).alias(IS_CURRENT));
    df.select(exprs)
}

fn df_err(what: &str) -> impl Fn(datafusion::error::DataFusionError) -> String + '_ {
    move |e| format!("snapshot: {what}: {}", e.strip_backtrace())
}

impl Runner<'_> {
    /// A snapshot model: its rows (`df`, of the contract's schema `source`) compared with the
    /// current versions; when anything changed, the new current versions and the newly closed
    /// ones are staged for the release and made visible under the model's name. When nothing
    /// changed, nothing is staged and the published table stays what the build reads.
    pub(crate) async fn snapshot(
        &self,
        i: usize,
        m: &Model,
        df: DataFrame,
        source: &SchemaRef,
        outcome: &mut crate::execute::Outcome,
    ) -> Result<(), String> {
        let problems = check_output(m, source);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let at = snapshot_time(self.opts.as_of);
        let exists = self.lake_tables.contains(&m.name);
        let last_change = if exists {
            self.check_forward(m, at).await?
        } else {
            None
        };
        // The model's rows, staged once (the comparison reads them several times); never
        // committed.
        let new = stream::stage(self.lake, &m.name, df, source).await?;
        let mut pieces = Vec::new();
        let result = self
            .compare(i, m, &new, source, at, last_change, &mut pieces, outcome)
            .await;
        self.lake.discard_staged(new).await;
        if result.is_err() {
            for p in pieces {
                self.lake.discard_staged(p).await;
            }
        }
        result
    }

    /// The snapshot time of the last change; fails when the run's is before it.
    async fn check_forward(
        &self,
        m: &Model,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let info = self
            .lake
            .last_commit_info(&m.name)
            .await
            .map_err(|e| format!("snapshot: reading its last commit: {e}"))?;
        let last = info
            .as_ref()
            .and_then(|i| i.get(SNAPSHOT_TIME_KEY))
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        match last {
            Some(last) if at < last => Err(format!(
                "snapshot: this run's snapshot time {} (its as_of) is before {}, the time of the snapshot's last change: a snapshot's history only moves forward (build it with an as_of on or after {}, or leave it out with --exclude {})",
                at.to_rfc3339(),
                last.to_rfc3339(),
                last.date_naive(),
                m.name
            )),
            _ => Ok(last),
        }
    }

    /// No NULL and no duplicate key among the model's rows, no NULL `updated_at`.
    async fn check_rows(
        &self,
        m: &Model,
        cfg: &SnapshotConfig,
        new: &Staged,
    ) -> Result<(), String> {
        let rows = || stream::read_staged(&self.ctx, new).map_err(df_err("reading the rows"));
        let keys: Vec<Expr> = m.unique_key.iter().map(ident).collect();
        let key_list = m.unique_key.join(", ");
        let null_key = keys
            .iter()
            .cloned()
            .map(Expr::is_null)
            .reduce(Expr::or)
            .unwrap_or(lit(false));
        let nulls = rows()?
            .filter(null_key)
            .map_err(df_err("unique_key"))?
            .count()
            .await
            .map_err(df_err("unique_key"))?;
        if nulls > 0 {
            return Err(format!(
                "snapshot: unique_key ({key_list}) is NULL in {nulls} row(s) of the model's output"
            ));
        }
        let sort = keys
            .iter()
            .cloned()
            .map(|k| k.sort(true, true))
            .collect::<Vec<_>>();
        let duplicates = rows()?
            .aggregate(keys, vec![count(lit(1)).alias("__pslake_rows")])
            .and_then(|d| d.filter(ident("__pslake_rows").gt(lit(1i64))))
            .and_then(|d| {
                let mut by = vec![ident("__pslake_rows").sort(false, true)];
                by.extend(sort);
                d.sort(by)
            })
            .map_err(df_err("unique_key"))?
            .collect()
            .await
            .map_err(df_err("unique_key"))?;
        let total: u64 = duplicates.iter().map(|b| b.num_rows() as u64).sum();
        if total > 0 {
            return Err(format!(
                "snapshot: duplicate unique_key ({key_list}) in the model's output: {}",
                checks::describe_rows(&duplicates, total)
            ));
        }
        if let SnapshotStrategy::Timestamp { updated_at } = &cfg.strategy {
            let nulls = rows()?
                .filter(ident(updated_at).is_null())
                .map_err(df_err("updated_at"))?
                .count()
                .await
                .map_err(df_err("updated_at"))?;
            if nulls > 0 {
                return Err(format!(
                    "snapshot: updated_at {updated_at} is NULL in {nulls} row(s) of the model's output (a version starts at its updated_at)"
                ));
            }
        }
        Ok(())
    }

    /// The published columns are the model's plus the snapshot's (a snapshot is never rebuilt,
    /// so its columns cannot change under its history).
    async fn check_columns(&self, m: &Model, table: &Schema) -> Result<(), String> {
        let published = self
            .ctx
            .table(Self::reference(m))
            .await
            .map_err(df_err("reading the published table"))?;
        let have: Vec<&str> = published
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let want: Vec<&str> = table.fields().iter().map(|f| f.name().as_str()).collect();
        if have != want {
            return Err(format!(
                "snapshot: the published columns [{}] differ from the model's [{}]: a snapshot keeps its history and is never rebuilt (not by --full-refresh either), so its columns stay as they were; give the new columns to a new snapshot model",
                have.join(", "),
                want.join(", ")
            ));
        }
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the one comparison of a snapshot build, its parts named"
    )]
    async fn compare(
        &self,
        i: usize,
        m: &Model,
        new: &Staged,
        source: &SchemaRef,
        at: DateTime<Utc>,
        last_change: Option<DateTime<Utc>>,
        pieces: &mut Vec<Staged>,
        outcome: &mut crate::execute::Outcome,
    ) -> Result<(), String> {
        let exists = self.lake_tables.contains(&m.name);
        let cfg = m
            .snapshot
            .as_ref()
            .ok_or("snapshot: materialized: snapshot without its settings")?;
        self.check_rows(m, cfg, new).await?;
        let table = table_schema(source);
        let files = if exists {
            self.check_columns(m, &table).await?;
            Files::of(self.published_files(m).await?)
        } else {
            Files::default()
        };
        let read = |files: Vec<url::Url>| {
            stream::files_provider(&files, table.clone())
                .and_then(|p| self.ctx.read_table(p))
                .map_err(df_err("reading the published versions"))
        };
        let current = read(urls(files.current.iter().chain(&files.other)))?
            .filter(ident(IS_CURRENT).eq(lit(true)))
            .map_err(df_err("reading the current versions"))?;
        let closed = read(urls(files.closed.iter().chain(&files.other)))?
            .filter(ident(IS_CURRENT).eq(lit(false)))
            .map_err(df_err("reading the closed versions"))?;
        let rows = || stream::read_staged(&self.ctx, new).map_err(df_err("reading the rows"));

        let opening = opening(m, cfg, source, rows()?, current.clone(), closed, at)?;
        let opened = stream::stage_in(self.lake, &m.name, opening, &table, CURRENT_DIR).await?;
        pieces.push(opened.clone());
        let closing = closing_and_kept(m, cfg, source, current, rows()?, at)?;
        let closed_now =
            stream::stage_in(self.lake, &m.name, closing.written, &table, CLOSED_DIR).await?;
        pieces.push(closed_now.clone());
        let mut changes = opened.rows() + closed_now.rows();
        outcome.result.rows = changes;
        // Nothing written: a version may still go without a trace (it would end where it
        // starts), only when it started at this snapshot time or later (a build with the same
        // as_of as the last change, or a timestamp version).
        let may_drop = matches!(cfg.strategy, SnapshotStrategy::Timestamp { .. })
            || last_change.is_some_and(|t| t >= at);
        if exists && changes == 0 && may_drop {
            changes += closing
                .dropped
                .count()
                .await
                .map_err(df_err("comparing the current versions with the rows"))?
                as u64;
        }
        if exists && changes == 0 && files.other.is_empty() {
            // Nothing changed: no commit; the published table is this build's result.
            for p in pieces.drain(..) {
                self.lake.discard_staged(p).await;
            }
            return Ok(());
        }
        let kept = stream::stage_in(self.lake, &m.name, closing.kept, &table, CURRENT_DIR).await?;
        pieces.push(kept.clone());
        let mut removed: Vec<_> = files
            .current
            .iter()
            .chain(&files.other)
            .map(|f| f.remove.clone())
            .collect();
        let mut staged = opened;
        staged.extend(closed_now);
        staged.extend(kept);
        // Closed versions in files of neither folder move to the closed folder; small closed
        // files are folded into one.
        let (small, mut kept_closed): (Vec<TableFile>, Vec<TableFile>) = files
            .closed
            .into_iter()
            .partition(|f| f.remove.size.is_some_and(|s| s < SMALL_FILE));
        let mut fold: Vec<&TableFile> = files.other.iter().collect();
        if small.len() >= COMPACT_AT {
            fold.extend(&small);
            removed.extend(small.iter().map(|f| f.remove.clone()));
        } else {
            kept_closed.extend(small.iter().cloned());
        }
        if !fold.is_empty() {
            let rows = read(urls(fold))?
                .filter(ident(IS_CURRENT).eq(lit(false)))
                .map_err(df_err("reading the closed versions"))?;
            let moved = stream::stage_in(self.lake, &m.name, rows, &table, CLOSED_DIR).await?;
            pieces.push(moved.clone());
            staged.extend(moved);
        }
        let staged = if exists {
            staged.replacing(removed)
        } else {
            staged
        };
        let mut metadata = self.commit_metadata(i, m);
        metadata.insert(SNAPSHOT_TIME_KEY.into(), at.to_rfc3339().into());
        let mut visible = urls(&kept_closed);
        visible.extend(staged.file_urls());
        outcome.publish = Some(PendingWrite {
            staged,
            metadata,
            append: false,
            docs: table_docs(m),
        });
        pieces.clear();
        // Audit: the new history is visible under the model's name, nothing committed yet.
        let visible = stream::files_provider(&visible, table.clone())
            .and_then(|p| self.ctx.read_table(p))
            .map_err(df_err("reading the staged files"))?;
        session::register_provider(&self.ctx, &m.name, visible.into_view())
            .map_err(|e| format!("registering the result: {e}"))
    }
}

/// The versions this build opens: the model's rows whose key has no current version, or whose
/// row changed, each valid from its start, current.
fn opening(
    m: &Model,
    cfg: &SnapshotConfig,
    source: &Schema,
    rows: DataFrame,
    current: DataFrame,
    closed: DataFrame,
    at: DateTime<Utc>,
) -> Result<DataFrame, String> {
    let err = df_err("comparing the rows with the current versions");
    let new = rows.clone().alias(NEW).map_err(&err)?;
    let cur = current.clone().alias(CUR).map_err(&err)?;
    let mut joined = new
        .join_on(cur, JoinType::Left, on(m, NEW, CUR))
        .map_err(&err)?;
    let no_current = q(CUR, IS_CURRENT).is_null();
    let valid_from = match &cfg.strategy {
        SnapshotStrategy::Check { .. } => later(time_literal(at), q(CUR, VALID_FROM)),
        SnapshotStrategy::Timestamp { updated_at } => {
            // A key with no current version: the end of its last version, if it had one
            // (the keys of the model's rows not current, semi-joined with the closed
            // versions: only their key and valid_to are read).
            let keys: Vec<Expr> = m.unique_key.iter().map(ident).collect();
            let without = rows
                .alias("__pslake_rows")
                .and_then(|r| {
                    r.join_on(
                        current.alias("__pslake_cur")?,
                        JoinType::LeftAnti,
                        on(m, "__pslake_rows", "__pslake_cur"),
                    )
                })
                .and_then(|r| {
                    r.select(
                        m.unique_key
                            .iter()
                            .map(|k| q("__pslake_rows", k).alias(k))
                            .collect::<Vec<_>>(),
                    )
                })
                .and_then(|r| r.alias("__pslake_without"))
                .map_err(&err)?;
            let mut projection: Vec<Expr> = m
                .unique_key
                .iter()
                .map(|k| q("__pslake_closed", k).alias(k))
                .collect();
            projection.push(q("__pslake_closed", VALID_TO).alias(VALID_TO));
            let ended = closed
                .alias("__pslake_closed")
                .and_then(|c| {
                    c.join_on(
                        without,
                        JoinType::LeftSemi,
                        on(m, "__pslake_closed", "__pslake_without"),
                    )
                })
                .and_then(|c| c.select(projection))
                .and_then(|c| c.aggregate(keys, vec![max(ident(VALID_TO)).alias(LAST_END)]))
                .and_then(|c| c.alias(ENDED))
                .map_err(&err)?;
            joined = joined
                .join_on(ended, JoinType::Left, on(m, NEW, ENDED))
                .map_err(&err)?;
            let start = updated(NEW, updated_at);
            let last_end = q(ENDED, LAST_END);
            when(
                last_end
                    .clone()
                    .is_not_null()
                    .and(last_end.clone().gt_eq(start.clone())),
                later(time_literal(at), last_end),
            )
            .otherwise(later(start, q(CUR, VALID_FROM)))
            .map_err(&err)?
        }
    };
    let opens = no_current.or(changed(m, cfg, source).is_true());
    let mut exprs: Vec<Expr> = source
        .fields()
        .iter()
        .map(|f| q(NEW, f.name()).alias(f.name()))
        .collect();
    exprs.push(valid_from.alias(VALID_FROM));
    exprs.push(null_time().alias(VALID_TO));
    exprs.push(lit(true).alias(IS_CURRENT));
    joined
        .filter(opens)
        .and_then(|j| j.select(exprs))
        .map_err(&err)
}

/// The current versions this build closes (their key gone, with `invalidate_hard_deletes`, or
/// their row changed), with their end; and the current versions it keeps, as they are.
fn closing_and_kept(
    m: &Model,
    cfg: &SnapshotConfig,
    source: &Schema,
    current: DataFrame,
    rows: DataFrame,
    at: DateTime<Utc>,
) -> Result<Closing, String> {
    let err = df_err("comparing the current versions with the rows");
    let cur = current.alias(CUR).map_err(&err)?;
    let new = rows.alias(NEW).map_err(&err)?;
    let joined = cur
        .join_on(new, JoinType::Left, on(m, CUR, NEW))
        .map_err(&err)?;
    // The keys of the rows are never NULL (checked), so a NULL key is a missing row.
    let gone = q(NEW, &m.unique_key[0]).is_null();
    let changed = (!gone.clone()).and(changed(m, cfg, source).is_true());
    let closes = if cfg.invalidate_hard_deletes {
        gone.clone().or(changed)
    } else {
        changed
    };
    let end_at_snapshot = later(time_literal(at), q(CUR, VALID_FROM));
    let valid_to = match &cfg.strategy {
        SnapshotStrategy::Check { .. } => end_at_snapshot,
        SnapshotStrategy::Timestamp { updated_at } => when(gone, end_at_snapshot)
            .otherwise(later(updated(NEW, updated_at), q(CUR, VALID_FROM)))
            .map_err(&err)?,
    };
    let own: Vec<Expr> = source
        .fields()
        .iter()
        .map(|f| q(CUR, f.name()).alias(f.name()))
        .collect();
    let mut closing = own.clone();
    closing.push(q(CUR, VALID_FROM).alias(VALID_FROM));
    closing.push(valid_to.clone().alias(VALID_TO));
    closing.push(lit(false).alias(IS_CURRENT));
    let mut kept = own;
    kept.extend(SNAPSHOT_COLUMNS.iter().map(|c| q(CUR, c).alias(*c)));
    // A version that would end where it starts (a second change at the same snapshot time) is
    // not kept: no instant has it, and the key keeps one version per start.
    let lasts = valid_to.clone().gt(q(CUR, VALID_FROM));
    let written = joined
        .clone()
        .filter(closes.clone().and(lasts.clone()))
        .and_then(|j| j.select(closing))
        .map_err(&err)?;
    let dropped = joined
        .clone()
        .filter(closes.clone().and(!lasts))
        .and_then(|j| j.select(vec![q(CUR, IS_CURRENT)]))
        .map_err(&err)?;
    let kept = joined
        .filter(!closes)
        .and_then(|j| j.select(kept))
        .map_err(&err)?;
    Ok(Closing {
        written,
        dropped,
        kept,
    })
}

/// What a build does to the current versions.
struct Closing {
    /// The versions it closes, with their end.
    written: DataFrame,
    /// The versions it closes at their own start: removed, not written.
    dropped: DataFrame,
    /// The versions it keeps current, as they are.
    kept: DataFrame,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_time_is_as_of_at_midnight_utc() {
        let t = snapshot_time(NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"));
        assert_eq!(t.to_rfc3339(), "2026-03-31T00:00:00+00:00");
    }

    #[test]
    fn the_table_adds_three_columns() {
        let source = Schema::new(vec![Field::new("id", DataType::Utf8, false)]);
        let t = table_schema(&source);
        let names: Vec<&str> = t.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "valid_from", "valid_to", "is_current"]);
        assert!(!t.field(1).is_nullable() && t.field(2).is_nullable());
    }
}
