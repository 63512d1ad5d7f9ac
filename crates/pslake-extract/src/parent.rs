//! Child streams (`parent:` of a stream): the keys a child asks for in a run are those of its
//! parent's landed rows that changed since the child's own cursor, read back from the parent's
//! raw table. Reading them from the lake, not from the parent's pages in memory, means a child
//! that failed (or was not selected) in an earlier run catches up: its cursor did not move, so
//! the keys the parent landed meanwhile are still at or after it.
//!
//! A child whose records the parent's own records already hold (`parent.embedded`: HubSpot's
//! deals listed with `propertiesWithHistory`) decodes them from the parent rows landed in the
//! same run instead of requesting them; only the keys whose rows lack the member (deals the
//! search endpoint returned, which cannot send histories) are requested.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType as ArrowType, Int64Type};
use datafusion::prelude::SessionContext;

use pslake_core::pipeline::{Parent, Stream};
use pslake_lake::{Lake, TableName};

use crate::error::{Error, Result};
use crate::rest::param_sets;

/// The parent keys of child stream `stream` for this run, one sorted list per parameter set of
/// its endpoint: the parent rows whose `since` columns (any of them) are at or after `floor`
/// (the child's stored cursor minus its lag, in the cursor column's encoding: days for dates,
/// microseconds for timestamps); every parent row when `floor` is `None` (a first or full run).
/// A set gets only the rows whose `match` columns equal its parameters. A parent not landed yet
/// has no keys.
///
/// With `parent.embedded`, a parent row landed in run `run_id` whose record holds that member
/// is returned as its record (`_raw`, one such row per key) instead of its key.
pub(crate) async fn parent_keys(
    lake: &Lake,
    system: &str,
    stream: &Stream,
    parent: &Parent,
    floor: Option<i64>,
    run_id: &str,
) -> Result<ParentKeys> {
    let sets = param_sets(&stream.endpoint);
    let table = TableName::new("raw", &parent.table);
    let ctx = SessionContext::new();
    let mut out = ParentKeys {
        keys: vec![Vec::new(); sets.len()],
        embedded: vec![Vec::new(); sets.len()],
    };
    if !lake.register(&ctx, &table).await? {
        return Ok(out);
    }
    let matches: Vec<(&String, &String)> = parent.matches.iter().collect();
    let mut select = vec![format!("CAST(\"{}\" AS VARCHAR)", parent.key)];
    select.extend(parent.since.iter().map(|c| format!("\"{c}\"")));
    select.extend(
        matches
            .iter()
            .map(|(_, c)| format!("CAST(\"{c}\" AS VARCHAR)")),
    );
    if parent.embedded.is_some() {
        // This run's records only: an older landing may predate a change of the member.
        select.push(format!(
            "CASE WHEN _run_id = '{}' THEN _raw END",
            run_id.replace('\'', "''")
        ));
    }
    let sql = format!("SELECT {} FROM {table}", select.join(", "));
    let what = || {
        format!(
            "stream `{system}.{}`: reading its parent's keys",
            stream.name
        )
    };
    let df_err = |e: datafusion::error::DataFusionError| Error::Config(format!("{}: {e}", what()));
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(df_err)?
        .collect()
        .await
        .map_err(df_err)?;
    let mut keys: Vec<BTreeSet<String>> = vec![BTreeSet::new(); sets.len()];
    let mut embedded: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); sets.len()];
    for b in &batches {
        collect(b, parent, &matches, &sets, floor, &mut keys, &mut embedded)
            .map_err(|e| Error::Config(format!("{}: {e}", what())))?;
    }
    for (n, (keys, embedded)) in keys.into_iter().zip(embedded).enumerate() {
        out.keys[n] = keys
            .into_iter()
            .filter(|k| !embedded.contains_key(k))
            .collect();
        out.embedded[n] = embedded.into_values().collect();
    }
    Ok(out)
}

/// What a child stream reads in a run, one list per parameter set of its endpoint (in order).
#[derive(Debug, Default)]
pub(crate) struct ParentKeys {
    /// The parent keys to request.
    pub(crate) keys: Vec<Vec<String>>,
    /// The parent records (JSON) holding the child's records already (`parent.embedded`).
    pub(crate) embedded: Vec<Vec<String>>,
}

impl ParentKeys {
    /// How many keys and embedded records there are in all.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.keys.iter().map(Vec::len).sum(),
            self.embedded.iter().map(Vec::len).sum(),
        )
    }
}

/// Adds the keys of batch `b` (columns: key, the `since` columns, the `match` columns, and with
/// `parent.embedded` this run's `_raw`) to the sets they belong to: a row whose record holds the
/// embedded member goes to `embedded` (by key: rows of one run with the same key are one
/// listing's record read twice).
fn collect(
    b: &RecordBatch,
    parent: &Parent,
    matches: &[(&String, &String)],
    sets: &[BTreeMap<String, String>],
    floor: Option<i64>,
    keys: &mut [BTreeSet<String>],
    embedded: &mut [BTreeMap<String, String>],
) -> std::result::Result<(), arrow::error::ArrowError> {
    let text = |i: usize| arrow::compute::cast(b.column(i), &ArrowType::Utf8);
    let key = text(0)?;
    let key = key.as_string::<i32>();
    let since: Vec<_> = (0..parent.since.len())
        .map(|i| {
            let c = b.column(1 + i);
            let c = match c.data_type() {
                ArrowType::Timestamp(_, _) => arrow::compute::cast(c, &ArrowType::Int64),
                ArrowType::Date32 => arrow::compute::cast(
                    &arrow::compute::cast(c, &ArrowType::Int32)?,
                    &ArrowType::Int64,
                ),
                other => Err(arrow::error::ArrowError::InvalidArgumentError(format!(
                    "parent column `{}` is {other}, not a date or timestamp",
                    parent.since[i]
                ))),
            }?;
            Ok(c)
        })
        .collect::<std::result::Result<_, arrow::error::ArrowError>>()?;
    let since: Vec<_> = since
        .iter()
        .map(|c| c.as_primitive::<Int64Type>())
        .collect();
    let cols = (0..matches.len())
        .map(|i| text(1 + parent.since.len() + i))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let cols: Vec<_> = cols.iter().map(|c| c.as_string::<i32>()).collect();
    let raw = match &parent.embedded {
        Some(member) => Some((member, text(1 + parent.since.len() + matches.len())?)),
        None => None,
    };
    let raw = raw.as_ref().map(|(m, c)| (*m, c.as_string::<i32>()));
    for row in 0..b.num_rows() {
        if key.is_null(row) {
            continue;
        }
        let changed = match floor {
            None => true,
            Some(f) => since.iter().any(|c| !c.is_null(row) && c.value(row) >= f),
        };
        if !changed {
            continue;
        }
        // The row's record when it holds the embedded member (parsed once, whatever the sets).
        let record = raw
            .filter(|(_, c)| !c.is_null(row))
            .map(|(member, c)| (member, c.value(row)))
            .filter(|(member, r)| holds(r, member));
        for (n, set) in sets.iter().enumerate() {
            let belongs = matches.iter().zip(&cols).all(|((param, _), col)| {
                !col.is_null(row) && set.get(*param).map(String::as_str) == Some(col.value(row))
            });
            if !belongs {
                continue;
            }
            match record {
                Some((_, r)) => {
                    embedded[n].insert(key.value(row).to_string(), r.to_string());
                }
                None => {
                    keys[n].insert(key.value(row).to_string());
                }
            }
        }
    }
    Ok(())
}

/// Whether JSON object `raw` has the top-level member `member`.
fn holds(raw: &str, member: &str) -> bool {
    serde_json::from_str::<&serde_json::value::RawValue>(raw)
        .ok()
        .and_then(|v| crate::json::lookup(v, member).ok().flatten())
        .is_some()
}
