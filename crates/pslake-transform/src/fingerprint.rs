//! What a model is built from, as one hash: its definition (SQL, configuration, contract, tests,
//! docs), the identity of every input (a lake table's Delta version; a model's own fingerprint,
//! so a chain of unchanged models stays unchanged; a seed's file contents) and the run context
//! dates when it reads them. A published table records the fingerprint it was built with in its
//! commit (`pslake.fingerprint`); a build whose fingerprint for a table model equals the
//! recorded one reuses the published table instead of rebuilding it.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use arrow::array::{Array, StringArray};
use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName, ops};

use crate::dag;
use crate::planning::BuildOptions;
use crate::project::{Materialization, Project};
use crate::session;

/// The commit metadata key a published table's fingerprint is recorded under.
pub(crate) const FINGERPRINT_KEY: &str = "pslake.fingerprint";

/// Whether a model of this materialization may be reused when its fingerprint is unchanged. An
/// append model adds rows on every run, so it always runs; a reused rejects or warnings model
/// records its published rows for the run again.
pub(crate) fn reusable(m: Materialization) -> bool {
    !matches!(m, Materialization::View | Materialization::Append)
}

/// The fingerprint of every model in `order` (a topological order that includes every model
/// the others read from the project).
pub(crate) async fn fingerprints(
    project: &Project,
    lake: &Lake,
    order: &[usize],
    opts: &BuildOptions,
) -> crate::Result<HashMap<usize, String>> {
    let index: HashMap<&TableName, usize> = project
        .models()
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.name, i))
        .collect();
    let seeds: HashMap<&TableName, u64> = project
        .seeds()
        .iter()
        .map(|s| {
            let mut h = DefaultHasher::new();
            fs_err::read(project.root().join(&s.file))
                .unwrap_or_default()
                .hash(&mut h);
            format!(
                "{:?}",
                s.types.iter().collect::<std::collections::BTreeMap<_, _>>()
            )
            .hash(&mut h);
            (&s.name, h.finish())
        })
        .collect();
    let run_context = dag::run_context_table();
    let mut versions: HashMap<TableName, Option<i64>> = HashMap::new();
    let mut out: HashMap<usize, String> = HashMap::new();
    for &i in order {
        let m = &project.models()[i];
        let mut h = DefaultHasher::new();
        format!("{m:?}").hash(&mut h);
        let mut inputs: Vec<&TableName> = m.inputs().chain(m.test_refs.iter()).collect();
        inputs.sort();
        inputs.dedup();
        for t in inputs {
            t.to_string().hash(&mut h);
            if let Some(p) = index.get(t) {
                match out.get(p) {
                    Some(f) => f.hash(&mut h),
                    // Not in this run: the published version stands for it.
                    None => version(lake, t, &mut versions).await?.hash(&mut h),
                }
            } else if let Some(s) = seeds.get(t) {
                s.hash(&mut h);
            } else if *t == run_context {
                (opts.as_of, opts.history_start).hash(&mut h);
            } else {
                version(lake, t, &mut versions).await?.hash(&mut h);
            }
        }
        out.insert(i, format!("{:016x}", h.finish()));
    }
    Ok(out)
}

async fn version(
    lake: &Lake,
    t: &TableName,
    cache: &mut HashMap<TableName, Option<i64>>,
) -> crate::Result<Option<i64>> {
    if let Some(v) = cache.get(t) {
        return Ok(*v);
    }
    let v = lake.version(t).await?;
    cache.insert(t.clone(), v);
    Ok(v)
}

/// The fingerprint `t`'s latest commit recorded, if any.
pub(crate) async fn recorded(lake: &Lake, t: &TableName) -> crate::Result<Option<String>> {
    Ok(lake
        .last_commit_info(t)
        .await?
        .and_then(|info| info.get(FINGERPRINT_KEY).cloned())
        .and_then(|v| v.as_str().map(str::to_string)))
}

/// The models of `order` whose tests need not run again: the latest run record of each (in
/// `_pslake.runs`, read through `ctx`) is a passed build of the same fingerprint whose tests all
/// passed (none warned). With the same definition and the same input versions they give the
/// same results; a view holds no data, so its tests are all a build spends on it. When the
/// records cannot be read, every test runs.
pub(crate) async fn tested_models(
    ctx: &SessionContext,
    project: &Project,
    order: &[usize],
    fingerprints: &HashMap<usize, String>,
) -> HashSet<usize> {
    let tested: HashMap<String, usize> = order
        .iter()
        .map(|&i| (i, &project.models()[i]))
        .filter(|(_, m)| !m.tests.is_empty())
        .map(|(i, m)| (format!("model:{}", m.name), i))
        .collect();
    let runs = ops::runs_table();
    if tested.is_empty() || !session::has_table(ctx, &runs) {
        return HashSet::new();
    }
    let sql = format!(
        "SELECT stage, details FROM (SELECT stage, status, details, \
         row_number() OVER (PARTITION BY stage ORDER BY started_at DESC) AS rn \
         FROM {runs} WHERE starts_with(stage, 'model:')) WHERE rn = 1 AND status = 'ok'"
    );
    let batches = match ctx.sql(&sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let batches = match batches {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "reading {runs} for the models' last test results: {e}; their tests run"
            );
            return HashSet::new();
        }
    };
    let mut out = HashSet::new();
    for b in &batches {
        let (Some(stage), Some(details)) = (
            b.column(0).as_any().downcast_ref::<StringArray>(),
            b.column(1).as_any().downcast_ref::<StringArray>(),
        ) else {
            continue;
        };
        for r in 0..b.num_rows() {
            let Some(&i) = tested.get(stage.value(r)) else {
                continue;
            };
            let Ok(d) = serde_json::from_str::<serde_json::Value>(details.value(r)) else {
                continue;
            };
            let same = d.get("fingerprint").and_then(|f| f.as_str())
                == fingerprints.get(&i).map(String::as_str);
            let clean = ["failed", "warned"]
                .iter()
                .all(|k| d.pointer(&format!("/tests/{k}")).and_then(|v| v.as_u64()) == Some(0));
            if same && clean {
                out.insert(i);
            }
        }
    }
    out
}
