//! Releases: a build's tables are published as one unit (issue 10).
//!
//! A publish runs in four steps:
//! 1. every member's data files are already written ([`Lake::stage`]) when
//!    [`Lake::publish_release`] is called;
//! 2. the *intent* is written: one JSON object, `_pslake/release_intents/<run_id>.json`, with one
//!    put (atomic on a local disk and on object stores), listing for each table the Delta actions
//!    the build will commit (its schema, Add actions, the published files it removes, append or
//!    replace, the commit metadata with `pslake.run_id`, its documentation);
//! 3. each table is committed, one Delta commit each, several tables at once (each is its own
//!    Delta log);
//! 4. the release rows (`_pslake.releases`: run id, table, version, released at) are appended in
//!    one commit, which marks the release complete; then the intent is deleted.
//!
//! Invariants:
//! - a crash before step 2 completes leaves the previous release (the staged files are
//!   invisible, `VACUUM` removes them); a crash after it is rolled forward by [`Lake::recover`],
//!   which every writing command runs behind the lake's lock before writing anything: it commits
//!   the tables whose latest commit does not carry the run id, exactly as recorded, then the
//!   release rows, then deletes the intent;
//! - readers going through pslake read each table at the version of the last complete release
//!   that holds it ([`crate::ops::released_versions`]), so a publish in progress, or one that
//!   crashed and is not rolled forward yet, is never seen half done;
//! - a plain Delta reader sees each table's latest commit: between two table commits of a
//!   publish it may see new and old tables side by side (see the README).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::{Add, Remove, StructType};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::fault::fault_point;
use crate::ops::{self, ReleaseRow};
use crate::{Error, Lake, Result, Staged, TableDocs, TableName};

/// How many tables of a release are committed at once.
const COMMIT_CONCURRENCY: usize = 8;

/// The folder (under the lake root) holding the intents of releases in progress.
pub const INTENTS_DIR: &str = "_pslake/release_intents";

/// The commit-metadata key every published table's commit carries the run id under.
pub const RUN_ID_KEY: &str = "pslake.run_id";

/// One table of a release: its staged files and how to commit them.
#[derive(Debug)]
pub struct ReleaseMember {
    /// The written, not yet committed, data files.
    pub staged: Staged,
    /// Append to the table (`true`) or replace it (or the files [`Staged::replacing`] names).
    pub append: bool,
    /// The commit metadata; [`RUN_ID_KEY`] is set to the release's run id.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The table's description and column comments.
    pub docs: TableDocs,
}

/// What a build will commit, written before its first table commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    /// The build.
    pub run_id: String,
    /// When the intent was written.
    pub created_at: DateTime<Utc>,
    /// The tables, in commit order.
    pub tables: Vec<IntentTable>,
}

/// One table's commit, as recorded in an [`Intent`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentTable {
    /// `schema.name`.
    pub table: String,
    /// The schema the files were written with.
    pub schema: StructType,
    /// The staged files.
    pub adds: Vec<Add>,
    /// The published files the commit removes (a month-kept table), `None` for a whole replace
    /// or an append.
    pub replaces: Option<Vec<Remove>>,
    /// Append instead of replace.
    pub append: bool,
    /// The commit metadata (holds [`RUN_ID_KEY`]).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The table's documentation.
    pub docs: TableDocs,
    /// The table's version when the intent was written (`None`: it did not exist); a later
    /// version whose commit carries the run id is this release's commit.
    #[serde(default)]
    pub base_version: Option<i64>,
}

impl Intent {
    async fn new(lake: &Lake, run_id: &str, members: Vec<ReleaseMember>) -> Result<Self> {
        let base: Vec<Option<i64>> =
            futures::stream::iter(members.iter().map(|m| lake.version(&m.staged.table)))
                .buffered(COMMIT_CONCURRENCY)
                .try_collect()
                .await?;
        let tables = members
            .into_iter()
            .zip(base)
            .map(|(m, base_version)| {
                let t = m.staged.table.clone();
                let schema: StructType =
                    m.staged
                        .schema
                        .as_ref()
                        .try_into_kernel()
                        .map_err(|e| Error::Arrow {
                            context: format!("the schema of {t}"),
                            source: Box::new(e),
                        })?;
                let mut metadata = m.metadata;
                metadata.insert(RUN_ID_KEY.into(), run_id.into());
                Ok(IntentTable {
                    table: t.to_string(),
                    schema,
                    adds: m.staged.adds,
                    replaces: m.staged.replaces,
                    append: m.append,
                    metadata,
                    docs: m.docs,
                    base_version,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            run_id: run_id.to_string(),
            created_at: Utc::now(),
            tables,
        })
    }
}

impl Lake {
    fn intent_path(
        &self,
        base: &object_store::path::Path,
        run_id: &str,
    ) -> object_store::path::Path {
        let mut parts: Vec<String> = base.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(INTENTS_DIR.split('/').map(str::to_string));
        parts.push(format!("{run_id}.json"));
        object_store::path::Path::from_iter(parts)
    }

    /// Writes `body` at `rel` under the lake root (segments split on `/`), replacing what was
    /// there: run artifacts such as `_pslake/artifacts/run_results.json`.
    pub async fn put_object(&self, rel: &str, body: Vec<u8>) -> Result<()> {
        let (store, base) = self.root_store()?;
        let mut parts: Vec<String> = base.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(rel.split('/').filter(|p| !p.is_empty()).map(str::to_string));
        let path = object_store::path::Path::from_iter(parts);
        store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(self.object_err("writing", &path))?;
        Ok(())
    }

    fn object_err(
        &self,
        action: &str,
        path: &object_store::path::Path,
    ) -> impl Fn(object_store::Error) -> Error {
        let action = action.to_string();
        let url = format!("{}{}", self.root(), path);
        move |source| Error::Object {
            action: action.clone(),
            url: url.clone(),
            source: Box::new(source),
        }
    }

    /// Publishes `members` as one release of build `run_id`: writes the intent, commits each
    /// table, appends the release rows in one commit, deletes the intent (see the module docs).
    /// Returns each table's new version. Nothing is written for no members.
    pub async fn publish_release(
        &self,
        run_id: &str,
        members: Vec<ReleaseMember>,
    ) -> Result<BTreeMap<TableName, i64>> {
        if members.is_empty() {
            return Ok(BTreeMap::new());
        }
        let _publishing = self.publishing_guard();
        let intent = Intent::new(self, run_id, members).await?;
        self.write_intent(&intent).await?;
        fault_point("publish:after_intent");
        self.complete(&intent, false).await
    }

    /// Writes `intent` with one put.
    pub async fn write_intent(&self, intent: &Intent) -> Result<()> {
        let (store, base) = self.root_store()?;
        let path = self.intent_path(&base, &intent.run_id);
        let body = serde_json::to_vec(intent).map_err(|e| Error::Intent {
            url: path.to_string(),
            reason: e.to_string(),
        })?;
        store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(self.object_err("writing the release intent", &path))?;
        Ok(())
    }

    /// The intents of releases not marked complete or not cleaned up, oldest first.
    pub async fn pending_intents(&self) -> Result<Vec<Intent>> {
        let (store, base) = self.root_store()?;
        let dir = object_store::path::Path::from_iter(
            base.parts()
                .map(|p| p.as_ref().to_string())
                .chain(INTENTS_DIR.split('/').map(str::to_string)),
        );
        let listed: Vec<_> = match store.list(Some(&dir)).try_collect().await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.object_err("listing release intents", &dir)(e)),
        };
        let mut intents = Vec::new();
        for meta in listed {
            if meta.location.extension() != Some("json") {
                continue;
            }
            let bytes = store
                .get(&meta.location)
                .await
                .map_err(self.object_err("reading the release intent", &meta.location))?
                .bytes()
                .await
                .map_err(self.object_err("reading the release intent", &meta.location))?;
            let intent: Intent = serde_json::from_slice(&bytes).map_err(|e| Error::Intent {
                url: format!("{}{}", self.root(), meta.location),
                reason: e.to_string(),
            })?;
            intents.push(intent);
        }
        intents.sort_by_key(|i| i.created_at);
        Ok(intents)
    }

    /// Completes every interrupted release: an intent whose release rows exist is deleted; any
    /// other is rolled forward (its missing table commits, its release rows, then the intent is
    /// deleted). Call it behind the lake's lock before writing. Returns the run ids rolled
    /// forward.
    pub async fn recover(&self) -> Result<Vec<String>> {
        let intents = self.pending_intents().await?;
        if intents.is_empty() {
            return Ok(Vec::new());
        }
        let _publishing = self.publishing_guard();
        let releases = ops::load_releases(self, None).await?;
        let mut rolled = Vec::new();
        for intent in intents {
            if releases
                .iter()
                .any(|r| r.run_id == intent.run_id && r.released_at >= intent.created_at)
            {
                tracing::info!(run_id = %intent.run_id, "release already complete, deleting its intent");
                self.delete_intent(&intent.run_id).await?;
                continue;
            }
            tracing::warn!(run_id = %intent.run_id, tables = intent.tables.len(), "rolling forward an interrupted release");
            self.complete(&intent, true).await?;
            rolled.push(intent.run_id);
        }
        Ok(rolled)
    }

    /// Steps 3 and 4: commits each table (when `recovering`, only those not yet committed by
    /// this release), the release rows, and deletes the intent.
    async fn complete(
        &self,
        intent: &Intent,
        recovering: bool,
    ) -> Result<BTreeMap<TableName, i64>> {
        let commits = intent.tables.iter().map(|it| async move {
            let t = TableName::parse(&it.table).ok_or_else(|| Error::Intent {
                url: format!("{}{INTENTS_DIR}/{}.json", self.root(), intent.run_id),
                reason: format!("'{}' is not a table name", it.table),
            })?;
            let done = if recovering {
                self.committed_by(&t, &intent.run_id, it.base_version)
                    .await?
            } else {
                None
            };
            let version = match done {
                Some(v) => v,
                None => {
                    self.commit_actions(
                        &t,
                        &it.schema,
                        it.adds.clone(),
                        it.replaces.clone(),
                        it.append,
                        it.metadata.clone(),
                        &it.docs,
                    )
                    .await?
                }
            };
            Ok::<_, Error>((t, version))
        });
        // The tables are independent Delta logs: committed COMMIT_CONCURRENCY at a time.
        let mut committed = futures::stream::iter(commits).buffer_unordered(COMMIT_CONCURRENCY);
        let mut versions = BTreeMap::new();
        while let Some((t, version)) = committed.try_next().await? {
            versions.insert(t, version);
            fault_point(format_args!("publish:after_table:{}", versions.len()));
        }
        fault_point("publish:before_release");
        let released_at = Utc::now();
        let rows: Vec<ReleaseRow> = versions
            .iter()
            .map(|(t, &version)| ReleaseRow {
                run_id: intent.run_id.clone(),
                table: t.clone(),
                version,
                released_at,
            })
            .collect();
        ops::append_releases(self, &rows).await?;
        fault_point("publish:after_release");
        self.delete_intent(&intent.run_id).await?;
        Ok(versions)
    }

    /// `t`'s latest version when it is past `base` and its latest commit was made by build
    /// `run_id` (the lock keeps other writers out, so that commit is this release's).
    async fn committed_by(
        &self,
        t: &TableName,
        run_id: &str,
        base: Option<i64>,
    ) -> Result<Option<i64>> {
        let Some(latest) = self.version(t).await? else {
            return Ok(None);
        };
        if base.is_some_and(|b| latest <= b) {
            return Ok(None);
        }
        let Some(info) = self.last_commit_info(t).await? else {
            return Ok(None);
        };
        if info.get(RUN_ID_KEY).and_then(|v| v.as_str()) != Some(run_id) {
            return Ok(None);
        }
        Ok(Some(latest))
    }

    async fn delete_intent(&self, run_id: &str) -> Result<()> {
        let (store, base) = self.root_store()?;
        let path = self.intent_path(&base, run_id);
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.object_err("deleting the release intent", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("batch")
    }

    async fn stage(lake: &Lake, t: &TableName, values: &[i64]) -> Staged {
        let b = batch(values);
        let schema = b.schema();
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(b)]));
        lake.stage(t, schema, vec![Box::pin(stream)])
            .await
            .expect("stage")
    }

    async fn xs(lake: &Lake, t: &TableName) -> Vec<i64> {
        let rows = lake
            .query(&format!("SELECT x FROM {t} ORDER BY x"))
            .await
            .expect("query");
        rows.iter()
            .flat_map(|b| {
                let c = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("int64");
                c.values().to_vec()
            })
            .collect()
    }

    fn member(staged: Staged, append: bool) -> ReleaseMember {
        ReleaseMember {
            staged,
            append,
            metadata: serde_json::Map::new(),
            docs: TableDocs::default(),
        }
    }

    /// A publish interrupted after its intent and its first table commit is rolled forward by
    /// `recover`: the second table gets exactly the staged rows (a replace and an append), the
    /// first is not committed twice, the release rows name both versions, the intent is gone.
    #[tokio::test]
    async fn an_interrupted_release_is_rolled_forward_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().to_str().expect("utf8")).expect("lake");
        let a = TableName::new("canonical", "a");
        let b = TableName::new("canonical", "b");
        lake.overwrite(&a, vec![batch(&[1, 2])])
            .await
            .expect("a v0");
        lake.overwrite(&b, vec![batch(&[10])]).await.expect("b v0");

        // a clean release first
        let versions = lake
            .publish_release(
                "r1",
                vec![
                    member(stage(&lake, &a, &[3]).await, false),
                    member(stage(&lake, &b, &[11]).await, true),
                ],
            )
            .await
            .expect("release r1");
        assert_eq!(versions.get(&a), Some(&1));
        assert_eq!(versions.get(&b), Some(&1));
        assert!(lake.pending_intents().await.expect("intents").is_empty());
        assert_eq!(xs(&lake, &a).await, vec![3]);
        assert_eq!(xs(&lake, &b).await, vec![10, 11]);

        // r2: intent written, table a committed, then the "crash"
        let intent = Intent::new(
            &lake,
            "r2",
            vec![
                member(stage(&lake, &a, &[4, 5]).await, false),
                member(stage(&lake, &b, &[12]).await, true),
            ],
        )
        .await
        .expect("intent");
        lake.write_intent(&intent).await.expect("write intent");
        let first = &intent.tables[0];
        lake.commit_actions(
            &a,
            &first.schema,
            first.adds.clone(),
            first.replaces.clone(),
            first.append,
            first.metadata.clone(),
            &first.docs,
        )
        .await
        .expect("a committed");
        // readers through the release record still see r1
        let released = ops::released_versions(&lake, None)
            .await
            .expect("released")
            .expect("a release record");
        assert_eq!(released.get(&a), Some(&1));
        assert_eq!(lake.version(&a).await.expect("v"), Some(2));

        let rolled = lake.recover().await.expect("recover");
        assert_eq!(rolled, vec!["r2".to_string()]);
        assert_eq!(xs(&lake, &a).await, vec![4, 5]);
        assert_eq!(xs(&lake, &b).await, vec![10, 11, 12]);
        assert_eq!(
            lake.version(&a).await.expect("v"),
            Some(2),
            "a not re-committed"
        );
        let rows: Vec<(String, TableName, i64)> = ops::load_releases(&lake, None)
            .await
            .expect("rows")
            .into_iter()
            .filter(|r| r.run_id == "r2")
            .map(|r| (r.run_id, r.table, r.version))
            .collect();
        assert_eq!(
            rows,
            vec![("r2".into(), a.clone(), 2), ("r2".into(), b.clone(), 2)]
        );
        assert!(lake.pending_intents().await.expect("intents").is_empty());
        // a second recovery has nothing to do
        assert!(lake.recover().await.expect("recover again").is_empty());
        assert_eq!(lake.version(&b).await.expect("v"), Some(2));

        // an intent left after its release rows (crash before the delete) is only deleted
        lake.write_intent(&intent).await.expect("stale intent");
        assert!(lake.recover().await.expect("recover").is_empty());
        assert!(lake.pending_intents().await.expect("intents").is_empty());
        assert_eq!(lake.version(&b).await.expect("v"), Some(2));
    }
}
