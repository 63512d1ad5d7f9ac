//! A build beside the extraction that lands its inputs (`pslake run`): the build plans every
//! model against the raw tables the extraction will land (their declared schema when they are
//! not in the lake yet), then starts each model as soon as the lake tables it reads have landed,
//! so the models over the fast sources run while a rate-limited one is still paging. Nothing is
//! published before the whole extraction succeeded: the release waits for it, and a failed
//! extraction discards every staged table (see [`crate::build`]).
//!
//! The extraction side holds a [`LandingSender`] and says when each raw table has landed, when
//! one failed, and when the extraction is over; the build holds the [`Landing`] (in
//! [`crate::BuildOptions::landing`]). The `_pslake` tables (rejects, stream state, runs) are
//! written by every stream, so a model reading one waits for the whole extraction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use pslake_lake::TableName;
use tokio::sync::watch;

use crate::session;

/// The schema of the operational tables every stream writes to.
const OPERATIONAL_SCHEMA: &str = "_pslake";

#[derive(Debug, Clone, Default)]
struct State {
    landed: BTreeSet<TableName>,
    /// The first stream that failed, with why.
    failed: Option<String>,
    finished: bool,
}

/// What the build sees of an extraction running beside it. Cheap to clone.
#[derive(Clone)]
pub struct Landing {
    /// Each raw table the extraction lands, with the schema its landing writes.
    tables: Arc<BTreeMap<TableName, SchemaRef>>,
    rx: watch::Receiver<State>,
}

impl std::fmt::Debug for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Landing")
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .field("state", &*self.rx.borrow())
            .finish()
    }
}

/// The extraction's side of a [`Landing`].
#[derive(Debug)]
pub struct LandingSender {
    tx: watch::Sender<State>,
}

/// A landing of `tables` (each raw table the extraction lands, with the schema its landing
/// writes): the sender for the extraction, the receiver for the build.
pub fn landing(
    tables: impl IntoIterator<Item = (TableName, SchemaRef)>,
) -> (LandingSender, Landing) {
    let (tx, rx) = watch::channel(State::default());
    let landing = Landing {
        tables: Arc::new(tables.into_iter().collect()),
        rx,
    };
    (LandingSender { tx }, landing)
}

impl LandingSender {
    /// Raw table `t` has landed: every commit of its stream in this run is in the lake.
    pub fn landed(&self, t: TableName) {
        self.tx.send_modify(|s| {
            s.landed.insert(t);
        });
    }

    /// A stream failed (`why` names it), or the extraction did: nothing of this run will be
    /// published.
    pub fn failed(&self, why: impl Into<String>) {
        self.tx.send_modify(|s| {
            s.failed.get_or_insert_with(|| why.into());
        });
    }

    /// The extraction is over (every stream has landed or failed, and its records are written).
    pub fn finished(&self) {
        self.tx.send_modify(|s| s.finished = true);
    }
}

impl Drop for LandingSender {
    /// An extraction that ends without saying so (an error, a panic) failed.
    fn drop(&mut self) {
        self.tx.send_if_modified(|s| {
            if s.finished {
                return false;
            }
            s.failed
                .get_or_insert_with(|| "the extraction stopped".into());
            s.finished = true;
            true
        });
    }
}

/// Whether a model may start, as far as the landing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Every lake table it reads is in the lake as this run leaves it.
    Open,
    /// One of them is still landing.
    Wait,
    /// The extraction failed: nothing of this build will be published.
    Closed(String),
}

impl Landing {
    /// Whether `t` is written by the extraction: one of its raw tables, or a `_pslake` table.
    pub(crate) fn lands(&self, t: &TableName) -> bool {
        self.tables.contains_key(t) || t.schema == OPERATIONAL_SCHEMA
    }

    /// Whether a model reading `inputs` may start.
    pub(crate) fn gate<'a>(&self, inputs: impl IntoIterator<Item = &'a TableName>) -> Gate {
        let s = self.rx.borrow();
        if let Some(why) = &s.failed {
            return Gate::Closed(format!("the extraction failed ({why})"));
        }
        let waits = inputs.into_iter().any(|t| {
            if t.schema == OPERATIONAL_SCHEMA {
                !s.finished
            } else {
                self.tables.contains_key(t) && !s.landed.contains(t) && !s.finished
            }
        });
        if waits { Gate::Wait } else { Gate::Open }
    }

    /// Waits for the next change of the landing (a table landed, a stream failed, the end).
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender is gone (it marks the landing finished first): nothing will change.
            std::future::pending::<()>().await;
        }
    }

    /// Waits for the whole extraction (its last commit: the build's own appends to the `_pslake`
    /// tables come after); `Err` with why when it failed.
    pub(crate) async fn finished(&self) -> Result<(), String> {
        let mut rx = self.rx.clone();
        let s = rx
            .wait_for(|s| s.finished)
            .await
            .map(|s| s.clone())
            .unwrap_or_else(|_| State {
                failed: Some("the extraction stopped".into()),
                ..State::default()
            });
        match s.failed {
            Some(why) => Err(format!("the extraction failed ({why})")),
            None => Ok(()),
        }
    }

    /// Registers, in a session models are planned in, an empty table for each raw table the
    /// extraction lands: with its declared schema when the lake does not have it yet, else with
    /// the lake's schema plus the declared columns it lacks (a landing adds them).
    pub(crate) async fn register_for_planning(&self, ctx: &SessionContext) -> crate::Result<()> {
        for (t, declared) in self.tables.iter() {
            let schema = match session::table_schema(ctx, t).await {
                Some(existing) => merged(&existing, declared),
                None => declared.clone(),
            };
            register_empty(ctx, t, schema)?;
        }
        Ok(())
    }

    /// Registers an empty table with its declared schema for each raw table the extraction
    /// lands that the lake does not have yet: a model reads the landed table once it is there
    /// (see `Runner::refresh`), this one when its stream landed nothing.
    pub(crate) fn register_missing(&self, ctx: &SessionContext) -> crate::Result<()> {
        for (t, declared) in self.tables.iter() {
            if !session::has_table(ctx, t) {
                register_empty(ctx, t, declared.clone())?;
            }
        }
        Ok(())
    }
}

fn register_empty(ctx: &SessionContext, t: &TableName, schema: SchemaRef) -> crate::Result<()> {
    session::register_batches(ctx, t, schema, Vec::new()).map_err(|source| {
        crate::Error::DataFusion {
            context: format!("registering {t} before it lands"),
            source: Box::new(source),
        }
    })
}

/// `existing`'s fields, then those of `declared` it does not have.
fn merged(existing: &SchemaRef, declared: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<_> = existing.fields().iter().cloned().collect();
    for f in declared.fields() {
        if existing.field_with_name(f.name()).is_err() {
            fields.push(f.clone());
        }
    }
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    fn schema(cols: &[&str]) -> SchemaRef {
        Arc::new(Schema::new(
            cols.iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    }

    #[tokio::test]
    async fn a_model_waits_for_the_tables_it_reads_and_closes_when_a_stream_fails() {
        let a = TableName::new("raw", "a");
        let b = TableName::new("raw", "b");
        let other = TableName::new("raw", "not_landed_by_this_run");
        let rejects = TableName::new("_pslake", "rejects");
        let (tx, mut landing) = landing([(a.clone(), schema(&["x"])), (b.clone(), schema(&["y"]))]);
        assert_eq!(
            landing.gate([&other]),
            Gate::Open,
            "a table this run does not land"
        );
        assert_eq!(landing.gate([&a, &other]), Gate::Wait);
        tx.landed(a.clone());
        landing.changed().await;
        assert_eq!(landing.gate([&a, &other]), Gate::Open);
        assert_eq!(landing.gate([&a, &b]), Gate::Wait, "b has not landed");
        tx.landed(b.clone());
        assert_eq!(landing.gate([&a, &b]), Gate::Open);
        assert_eq!(
            landing.gate([&rejects]),
            Gate::Wait,
            "every stream writes the _pslake tables: they wait for the end"
        );
        tx.failed(format!("{b}: HTTP 500"));
        match landing.gate([&a]) {
            Gate::Closed(why) => assert!(why.contains("raw.b: HTTP 500"), "{why}"),
            g => panic!("expected closed, got {g:?}"),
        }
        tx.finished();
        let err = landing.finished().await.expect_err("a stream failed");
        assert!(err.contains("raw.b: HTTP 500"), "{err}");
    }

    #[tokio::test]
    async fn an_extraction_that_stops_without_finishing_failed() {
        let a = TableName::new("raw", "a");
        let (tx, landing) = landing([(a.clone(), schema(&["x"]))]);
        tx.landed(a.clone());
        drop(tx);
        assert!(landing.finished().await.is_err());
        assert!(matches!(landing.gate([&a]), Gate::Closed(_)));

        let (tx, landing) = self::landing([(a.clone(), schema(&["x"]))]);
        tx.landed(a.clone());
        tx.finished();
        drop(tx);
        assert_eq!(landing.finished().await, Ok(()));
        assert_eq!(
            landing.gate([&a, &TableName::new("_pslake", "rejects")]),
            Gate::Open
        );
    }

    #[tokio::test]
    async fn planning_sees_the_columns_a_landing_adds() {
        let ctx = SessionContext::new();
        let a = TableName::new("raw", "a");
        let b = TableName::new("raw", "b");
        session::register_batches(&ctx, &a, schema(&["x", "old"]), Vec::new()).expect("register");
        let (_tx, landing) = landing([
            (a.clone(), schema(&["x", "new"])),
            (b.clone(), schema(&["y"])),
        ]);
        landing.register_for_planning(&ctx).await.expect("register");
        for (t, want) in [(&a, vec!["x", "old", "new"]), (&b, vec!["y"])] {
            let schema = session::table_schema(&ctx, t).await.expect("registered");
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names, want, "{t}");
        }
    }
}
