//! What the lake records about each model's last build, for `pslake docs`: every build appends
//! a `model:<schema.name>` row to `_pslake.runs` whose `details` carry the test counts and, since
//! `test_results` was added, each test's outcome. A model whose tests all passed in the last
//! build of the same fingerprint is not tested again (its row has no results), so a model's test
//! results are those of the latest row that has them.

use std::collections::BTreeMap;

use arrow::array::Array;
use pslake_lake::{Lake, ops};

use crate::error::Result;
use crate::run_dates::strings;

/// One test's recorded result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTest {
    /// The test's display name (`unique(booking_id)`, a custom test's name).
    pub test: String,
    /// `pass`, `fail`, `warn` or `error`.
    pub outcome: String,
    /// Offending rows.
    pub failures: u64,
    /// The message (with the first offending rows) when it did not pass.
    pub message: Option<String>,
}

/// A model's last recorded build and test results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResults {
    /// The run of the latest build row.
    pub run_id: String,
    /// Its status (`ok`, `failed`, `skipped`).
    pub status: String,
    /// When it ended (UTC, as the lake writes it).
    pub ended_at: String,
    /// Rows written, when the model was computed and not a view.
    pub rows: Option<i64>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// The published table was reused (nothing changed).
    pub unchanged: bool,
    /// Each test's latest recorded result (empty when none was recorded).
    pub tests: Vec<RecordedTest>,
    /// The run and end time the test results come from.
    pub tests_run: Option<(String, String)>,
    /// `(passed, failed, warned)` of the latest row that ran tests, for builds recorded before
    /// per-test results were.
    pub counts: Option<(u64, u64, u64)>,
}

/// Each model's (`schema.name`) last build, from `_pslake.runs`; empty when the lake has none.
pub async fn last_results(lake: &Lake) -> Result<BTreeMap<String, LastResults>> {
    if lake.open(&ops::runs_table()).await?.is_none() {
        return Ok(BTreeMap::new());
    }
    let batches = lake
        .query(
            "SELECT _run_id, stage, status, CAST(ended_at AS VARCHAR) AS ended, CAST(rows AS VARCHAR) AS n, error, details \
             FROM _pslake.runs WHERE starts_with(stage, 'model:') ORDER BY ended_at DESC",
        )
        .await?;
    let mut out: BTreeMap<String, LastResults> = BTreeMap::new();
    for b in &batches {
        let cols: Vec<_> = (0..7).map(|i| strings(b, i)).collect::<Result<_>>()?;
        let get = |c: usize, r: usize| (!cols[c].is_null(r)).then(|| cols[c].value(r).to_string());
        for r in 0..b.num_rows() {
            let Some(model) = get(1, r).and_then(|s| s.strip_prefix("model:").map(str::to_string))
            else {
                continue;
            };
            let details: serde_json::Value = get(6, r)
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default();
            let run_id = get(0, r).unwrap_or_default();
            let ended_at = get(3, r).unwrap_or_default();
            let entry = out.entry(model).or_insert_with(|| LastResults {
                run_id: run_id.clone(),
                status: get(2, r).unwrap_or_default(),
                ended_at: ended_at.clone(),
                rows: get(4, r).and_then(|s| s.parse().ok()),
                error: get(5, r),
                unchanged: details
                    .get("unchanged")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                tests: Vec::new(),
                tests_run: None,
                counts: None,
            });
            if entry.tests_run.is_some() {
                continue;
            }
            let count = |k: &str| {
                details
                    .pointer(&format!("/tests/{k}"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
            };
            let counts = (count("passed"), count("failed"), count("warned"));
            let tests: Vec<RecordedTest> = details
                .get("test_results")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some(RecordedTest {
                        test: t.get("test")?.as_str()?.to_string(),
                        outcome: t.get("outcome")?.as_str()?.to_string(),
                        failures: t.get("failures").and_then(|v| v.as_u64()).unwrap_or(0),
                        message: t
                            .get("message")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                    })
                })
                .collect();
            if !tests.is_empty() || counts != (0, 0, 0) {
                entry.tests = tests;
                entry.counts = Some(counts);
                entry.tests_run = Some((run_id, ended_at));
            }
        }
    }
    Ok(out)
}
