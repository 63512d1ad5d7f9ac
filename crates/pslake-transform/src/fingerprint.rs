//! What a model is built from, as one hash: its definition (SQL, configuration, contract, tests,
//! docs), the identity of every input (a lake table's Delta version; a model's own fingerprint,
//! so a chain of unchanged models stays unchanged; a seed's file contents) and the run context
//! dates when it reads them. A published table records the fingerprint it was built with in its
//! commit (`pslake.fingerprint`); a build whose fingerprint for a table model equals the
//! recorded one reuses the published table instead of rebuilding it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use arrow::array::{Array, StringArray};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
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

/// The commit metadata key a published table's input identities are recorded under (a JSON
/// object: input name to its Delta version, fingerprint or content hash), so a later build can
/// tell which input changed.
pub(crate) const INPUTS_KEY: &str = "pslake.inputs";

/// Each model's fingerprint, and what each of its inputs was (by name: a lake table's version
/// `v12`, a model's fingerprint, a seed's content hash, the run context's dates).
#[derive(Debug, Default)]
pub(crate) struct Fingerprints {
    pub(crate) of: HashMap<usize, String>,
    pub(crate) inputs: HashMap<usize, BTreeMap<String, String>>,
}

/// Computes each model's fingerprint when the model is about to run: after its parents' (a
/// model's own fingerprint stands for it downstream) and after the lake tables it reads have
/// landed (their version is part of it).
pub(crate) struct Fingerprinter {
    index: HashMap<TableName, usize>,
    seeds: HashMap<TableName, u64>,
    run_context: TableName,
    dates: String,
    /// The lake version of each input read so far.
    versions: tokio::sync::Mutex<HashMap<TableName, Option<i64>>>,
}

impl Fingerprinter {
    pub(crate) fn new(project: &Project, opts: &BuildOptions) -> Self {
        let index = project
            .models()
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let seeds = project
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
                (s.name.clone(), h.finish())
            })
            .collect();
        Self {
            index,
            seeds,
            run_context: dag::run_context_table(),
            dates: format!("{} {}", opts.as_of, opts.history_start),
            versions: Default::default(),
        }
    }

    /// Model `i`'s fingerprint and the identity of each of its inputs. `model_fingerprint`
    /// gives the fingerprint of a model computed in this build (`None`: not in this build, its
    /// published version stands for it).
    pub(crate) async fn model(
        &self,
        project: &Project,
        lake: &Lake,
        i: usize,
        model_fingerprint: impl Fn(usize) -> Option<String>,
    ) -> crate::Result<(String, BTreeMap<String, String>)> {
        let m = &project.models()[i];
        let mut h = DefaultHasher::new();
        format!("{m:?}").hash(&mut h);
        let mut inputs: Vec<&TableName> = m.inputs().chain(m.test_refs.iter()).collect();
        inputs.sort();
        inputs.dedup();
        let mut identities = BTreeMap::new();
        for t in inputs {
            t.to_string().hash(&mut h);
            let identity = if let Some(&p) = self.index.get(t) {
                match model_fingerprint(p) {
                    Some(f) => f,
                    None => format!("{:?}", self.version(lake, t).await?),
                }
            } else if let Some(s) = self.seeds.get(t) {
                format!("{s:016x}")
            } else if *t == self.run_context {
                self.dates.clone()
            } else {
                format!("{:?}", self.version(lake, t).await?)
            };
            identity.hash(&mut h);
            identities.insert(t.to_string(), identity);
        }
        Ok((format!("{:016x}", h.finish()), identities))
    }

    async fn version(&self, lake: &Lake, t: &TableName) -> crate::Result<Option<i64>> {
        let mut cache = self.versions.lock().await;
        if let Some(v) = cache.get(t) {
            return Ok(*v);
        }
        // Maintenance (compaction, vacuum) changes no row: it does not make the readers stale.
        let v = lake.content_version(t).await?;
        cache.insert(t.clone(), v);
        Ok(v)
    }
}

/// The lake version an input identity of [`Fingerprints::inputs`] names (`Some(12)`).
pub(crate) fn identity_version(identity: &str) -> Option<i64> {
    identity
        .strip_prefix("Some(")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// What `t`'s latest commit recorded: the fingerprint it was built with and its inputs'
/// identities (empty when not recorded).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Recorded {
    pub(crate) fingerprint: Option<String>,
    pub(crate) inputs: BTreeMap<String, String>,
}

/// What `t`'s latest commit recorded, if anything.
pub(crate) async fn recorded(
    lake: &Lake,
    t: &TableName,
    table: &DeltaTable,
) -> crate::Result<Recorded> {
    let Some(info) = lake.last_commit_info_of(t, table).await? else {
        return Ok(Recorded::default());
    };
    Ok(Recorded {
        fingerprint: info
            .get(FINGERPRINT_KEY)
            .and_then(|v| v.as_str().map(str::to_string)),
        inputs: info
            .get(INPUTS_KEY)
            .and_then(|v| v.as_object())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The fingerprint each model's tests last passed at, by model name: the latest run record of
/// each (in `_pslake.runs`, read through `ctx`) is a passed build whose tests all passed (none
/// warned). A model whose fingerprint is that one need not run its tests again: with the same
/// definition and the same input versions they give the same results; a view holds no data, so
/// its tests are all a build spends on it. When the records cannot be read, every test runs.
pub(crate) async fn last_clean_tests(ctx: &SessionContext) -> HashMap<String, String> {
    let runs = ops::runs_table();
    if !session::has_table(ctx, &runs) {
        return HashMap::new();
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
            return HashMap::new();
        }
    };
    let mut out = HashMap::new();
    for b in &batches {
        let (Some(stage), Some(details)) = (
            b.column(0).as_any().downcast_ref::<StringArray>(),
            b.column(1).as_any().downcast_ref::<StringArray>(),
        ) else {
            continue;
        };
        for r in 0..b.num_rows() {
            let Some(model) = stage.value(r).strip_prefix("model:") else {
                continue;
            };
            let Ok(d) = serde_json::from_str::<serde_json::Value>(details.value(r)) else {
                continue;
            };
            let clean = ["failed", "warned"]
                .iter()
                .all(|k| d.pointer(&format!("/tests/{k}")).and_then(|v| v.as_u64()) == Some(0));
            if let Some(f) = d.get("fingerprint").and_then(|f| f.as_str())
                && clean
            {
                out.insert(model.to_string(), f.to_string());
            }
        }
    }
    out
}
