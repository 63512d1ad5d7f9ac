//! The run context recorded in the lake: every build writes its `as_of` and `history_start` in
//! the `details` of its `build` row of `_pslake.runs`, so a later `build`, `test` or `plan`
//! given no dates can use those of the tables it finds published.

use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use pslake_lake::{Lake, ops};

use crate::error::{Error, Result};

/// The dates of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunDates {
    /// `pslake.run_context.as_of`.
    pub as_of: NaiveDate,
    /// `pslake.run_context.history_start`.
    pub history_start: NaiveDate,
}

pub(crate) fn strings(batch: &arrow::array::RecordBatch, column: usize) -> Result<StringArray> {
    let array = arrow::compute::cast(batch.column(column), &DataType::Utf8).map_err(|source| {
        Error::Arrow {
            context: "reading _pslake.runs".into(),
            source,
        }
    })?;
    Ok(array
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8 gives a StringArray")
        .clone())
}

/// The dates of the last build recorded in the lake: the latest successful one, else the
/// latest one; `None` when the lake has no build with dates (or no `_pslake.runs`).
pub async fn last_run_dates(lake: &Lake) -> Result<Option<RunDates>> {
    if lake.open(&ops::runs_table()).await?.is_none() {
        return Ok(None);
    }
    let batches = lake
        .query(
            "SELECT details FROM _pslake.runs WHERE stage = 'build' AND details IS NOT NULL \
             ORDER BY CASE WHEN status = 'ok' THEN 0 ELSE 1 END, ended_at DESC",
        )
        .await?;
    for b in &batches {
        let details = strings(b, 0)?;
        for i in 0..details.len() {
            if details.is_null(i) {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(details.value(i)) else {
                continue;
            };
            let date = |key: &str| {
                v.get(key)
                    .and_then(|d| d.as_str())
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            };
            if let (Some(as_of), Some(history_start)) = (date("as_of"), date("history_start")) {
                return Ok(Some(RunDates {
                    as_of,
                    history_start,
                }));
            }
        }
    }
    Ok(None)
}
