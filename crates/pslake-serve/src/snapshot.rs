//! One consistent set of the lake's tables, opened at the versions a [`VersionSource`] pins,
//! and the DataFusion sessions over it: one per set of visible schemas (a user who may read
//! `canonical` only gets a session with nothing else in it), built once per snapshot and shared
//! by every query of those users.
//!
//! Invariant: a snapshot never changes after [`Snapshot::load`]; a newer build is a new
//! snapshot, so a query planned on one sees one set of versions from start to end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use pslake_lake::{Lake, TableDocs, TableName};

use crate::catalog;
use crate::error::{Error, Result};
use crate::versions::{Pins, VersionSource};

/// The database name clients see (any name a client gives reaches the same lake).
pub const DATABASE: &str = "pslake";

/// A table at its pinned version.
#[derive(Debug)]
pub(crate) struct LoadedTable {
    pub(crate) name: TableName,
    pub(crate) provider: Arc<dyn TableProvider>,
    pub(crate) docs: TableDocs,
}

/// The lake's tables at one set of versions.
#[derive(Debug)]
pub struct Snapshot {
    marker: Option<i64>,
    pins: Pins,
    tables: Vec<LoadedTable>,
    /// Sessions by visible schemas (`None`: all).
    sessions: Mutex<HashMap<Option<BTreeSet<String>>, Arc<SessionState>>>,
}

impl Snapshot {
    /// Opens every table `source` pins.
    pub async fn load(lake: &Lake, source: &dyn VersionSource) -> Result<Self> {
        let marker = source.marker(lake).await?;
        let pins = source.pins(lake, marker).await?;
        let ctx = SessionContext::new_with_config(session_config());
        let mut tables = Vec::new();
        for (t, v) in &pins.tables {
            let table = lake.open_at(t, *v).await?;
            let docs = match table.snapshot() {
                Ok(s) => TableDocs::of(s.metadata(), &s.schema()),
                Err(_) => TableDocs::default(),
            };
            let df_err = |source| Error::DataFusion {
                context: format!("reading delta table {t} version {v}"),
                source: Box::new(source),
            };
            table
                .update_datafusion_session(&ctx.state())
                .map_err(|e| df_err(datafusion::error::DataFusionError::External(Box::new(e))))?;
            let provider = table.table_provider().await.map_err(df_err)?;
            let provider = pslake_lake::expose_deleted(&ctx, t, provider).map_err(df_err)?;
            tables.push(LoadedTable {
                name: t.clone(),
                provider,
                docs,
            });
        }
        tracing::info!(tables = tables.len(), marker, "lake snapshot loaded");
        Ok(Self {
            marker,
            pins,
            tables,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The marker of the version source when this snapshot was read.
    pub fn marker(&self) -> Option<i64> {
        self.marker
    }

    /// The pinned versions.
    pub fn pins(&self) -> &Pins {
        &self.pins
    }

    /// The base session state for a user who may read `schemas` (`None`: all), built on first
    /// use and shared afterwards (its `pg_catalog` OIDs stay stable across queries).
    pub async fn session(&self, schemas: Option<&BTreeSet<String>>) -> Result<Arc<SessionState>> {
        let key = schemas.cloned();
        if let Some(s) = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(s.clone());
        }
        let state = Arc::new(self.build_session(schemas).await?);
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, state.clone());
        Ok(state)
    }

    async fn build_session(&self, schemas: Option<&BTreeSet<String>>) -> Result<SessionState> {
        let df_err = |context: &str| {
            let context = context.to_string();
            move |source| Error::DataFusion {
                context: context.clone(),
                source: Box::new(source),
            }
        };
        let ctx = SessionContext::new_with_config(session_config());
        let root = ctx
            .catalog(DATABASE)
            .expect("the default catalog is created with the session");
        let mut by_schema: BTreeMap<&str, Arc<MemorySchemaProvider>> = BTreeMap::new();
        let mut visible = Vec::new();
        for t in &self.tables {
            if schemas.is_some_and(|s| !s.contains(&t.name.schema)) {
                continue;
            }
            let schema = by_schema
                .entry(t.name.schema.as_str())
                .or_insert_with(|| Arc::new(MemorySchemaProvider::new()));
            schema
                .register_table(t.name.name.clone(), t.provider.clone())
                .map_err(df_err("registering a table"))?;
            visible.push(t);
        }
        for (name, provider) in by_schema {
            root.register_schema(name, provider)
                .map_err(df_err("registering a schema"))?;
        }
        catalog::install(&ctx, &visible).await?;
        Ok(ctx.state())
    }
}

/// The configuration of every serve session: the `pslake` database with a `public` schema,
/// `information_schema`, plain (not view) string types as in `pslake query`.
pub(crate) fn session_config() -> SessionConfig {
    SessionConfig::new()
        .with_default_catalog_and_schema(DATABASE, "public")
        .with_information_schema(true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
}
