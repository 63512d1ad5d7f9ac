//! Which version of each table `pslake serve` shows: one consistent set, the last build that
//! published completely, never a mix with a build half-way through publishing.
//!
//! [`VersionSource`] is the one seam. Today [`RunsVersions`] reads `_pslake.runs`: a build
//! commits every model table first and appends its run records (each model's published
//! `version` in `details`) after, so the versions the runs table records are those of complete
//! publishes; a model table's newer commits (a build still publishing, or one that crashed) are
//! not shown. Tables no run records (raw, `_pslake`) are served at their latest version read at
//! the same moment. [`ReleaseVersions`] (the server's default) reads the release record
//! `_pslake.releases` (issue 10) instead, and falls back to [`RunsVersions`] on a lake written
//! before releases existed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use pslake_lake::{Lake, TableName};

use crate::error::{Error, Result};

/// The version of every table to serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    /// Table → version.
    pub tables: BTreeMap<TableName, i64>,
}

/// Decides which table versions to serve.
#[async_trait]
pub trait VersionSource: Send + Sync + std::fmt::Debug {
    /// A cheap token that changes whenever [`VersionSource::pins`] may answer differently.
    async fn marker(&self, lake: &Lake) -> Result<Option<i64>>;
    /// The versions to serve, read at one moment; `marker` is what [`VersionSource::marker`]
    /// returned just before.
    async fn pins(&self, lake: &Lake, marker: Option<i64>) -> Result<Pins>;
}

/// Versions from `_pslake.runs` (see the module docs).
#[derive(Debug, Default)]
pub struct RunsVersions;

#[async_trait]
impl VersionSource for RunsVersions {
    async fn marker(&self, lake: &Lake) -> Result<Option<i64>> {
        Ok(lake.version(&pslake_lake::ops::runs_table()).await?)
    }

    async fn pins(&self, lake: &Lake, marker: Option<i64>) -> Result<Pins> {
        let runs = pslake_lake::ops::runs_table();
        let recorded = match marker {
            Some(v) => recorded_versions(lake, &runs, v).await?,
            None => BTreeMap::new(),
        };
        pin_all(lake, &runs, marker, &recorded).await
    }
}

/// Versions from the release record `_pslake.releases`: each released table at the version of
/// the last complete release that holds it, every other table at its latest version. A lake
/// without a release record is served as [`RunsVersions`] serves it.
///
/// The marker is the version of `_pslake.releases`, or `-1 - v` for version `v` of
/// `_pslake.runs` on a lake without releases (so the two never collide).
#[derive(Debug, Default)]
pub struct ReleaseVersions;

#[async_trait]
impl VersionSource for ReleaseVersions {
    async fn marker(&self, lake: &Lake) -> Result<Option<i64>> {
        match lake.version(&pslake_lake::ops::releases_table()).await? {
            Some(v) => Ok(Some(v)),
            None => Ok(RunsVersions.marker(lake).await?.map(|v| -1 - v)),
        }
    }

    async fn pins(&self, lake: &Lake, marker: Option<i64>) -> Result<Pins> {
        let releases = pslake_lake::ops::releases_table();
        let released = match marker {
            Some(v) if v >= 0 => pslake_lake::ops::released_versions(lake, Some(v))
                .await?
                .unwrap_or_default(),
            Some(v) => return RunsVersions.pins(lake, Some(-1 - v)).await,
            None => return RunsVersions.pins(lake, None).await,
        };
        pin_all(lake, &releases, marker, &released).await
    }
}

/// Each model table's version as the last run that published it recorded it.
async fn recorded_versions(
    lake: &Lake,
    runs: &TableName,
    version: i64,
) -> Result<BTreeMap<TableName, i64>> {
    let table = lake.open_at(runs, version).await?;
    let ctx = SessionContext::new();
    let df_err = |source| Error::DataFusion {
        context: format!("reading {runs} version {version}"),
        source: Box::new(source),
    };
    let provider = table.table_provider().await.map_err(df_err)?;
    ctx.register_table("runs", provider).map_err(df_err)?;
    let batches = ctx
        .sql(
            "SELECT stage, details FROM runs \
             WHERE stage LIKE 'model:%' AND status = 'ok' AND details IS NOT NULL \
             ORDER BY ended_at",
        )
        .await
        .map_err(df_err)?
        .collect()
        .await
        .map_err(df_err)?;
    let mut out = BTreeMap::new();
    for b in &batches {
        let cast = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8);
        let (Ok(stage), Ok(details)) = (cast(0), cast(1)) else {
            continue;
        };
        let stage = arrow::array::AsArray::as_string::<i32>(&stage);
        let details = arrow::array::AsArray::as_string::<i32>(&details);
        for i in 0..b.num_rows() {
            let Some(name) = stage.value(i).strip_prefix("model:") else {
                continue;
            };
            let Some(t) = TableName::parse(name) else {
                continue;
            };
            let v = serde_json::from_str::<serde_json::Value>(details.value(i))
                .ok()
                .and_then(|d| d.get("version").and_then(serde_json::Value::as_i64));
            if let Some(v) = v {
                out.insert(t, v);
            }
        }
    }
    Ok(out)
}

/// Every table of the lake pinned: `record` (the table the marker is a version of) at `marker`,
/// each table of `pinned` at its version there, every other table at its latest version.
async fn pin_all(
    lake: &Lake,
    record: &TableName,
    marker: Option<i64>,
    pinned: &BTreeMap<TableName, i64>,
) -> Result<Pins> {
    let mut pins = Pins::default();
    for t in lake.list_tables().await? {
        let version = if &t == record {
            marker
        } else if let Some(v) = pinned.get(&t) {
            Some(*v)
        } else {
            lake.version(&t).await?
        };
        if let Some(v) = version {
            pins.tables.insert(t, v);
        }
    }
    Ok(pins)
}
