//! The query handlers: every statement runs in a session of its own, made from the current
//! [`Snapshot`]'s session for the user's schemas, with a memory pool of its own
//! (`memory_limit_per_query`) and under the statement timeout. Planning, execution and
//! encoding are `datafusion-postgres`'s [`DfSessionService`]; this module only chooses the
//! session and bounds the query.
//!
//! Dropping to `pgwire` here: `DfSessionService` serves one fixed `SessionContext`, so
//! [`LakeService`] implements pgwire's `SimpleQueryHandler` / `ExtendedQueryHandler` itself and
//! delegates each statement to a `DfSessionService` over that statement's session. The crate's
//! statement timeout covers planning only (rows are produced after the handler returns); the
//! timeout here also covers the rows ([`bounded`]).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::StreamExt;
use pslake_lake::Lake;
use tokio::time::Instant;

use crate::hooks::{Access, CursorSchemaHook, DiscardHook, QuerySchemas, ReadOnlyHook};
use crate::snapshot::Snapshot;
use crate::versions::VersionSource;

/// The client-metadata key where `datafusion-postgres` keeps `SET statement_timeout`.
const CLIENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// The parsed statement `datafusion-postgres` carries from Parse to Execute.
type DfStatement = (
    String,
    Option<(
        datafusion::sql::sqlparser::ast::Statement,
        datafusion::logical_expr::LogicalPlan,
    )>,
);

/// Limits of one query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) memory_per_query: usize,
    pub(crate) statement_timeout: Option<Duration>,
}

/// What every connection shares: the lake, the current snapshot, the users' schemas.
pub(crate) struct Shared {
    lake: Lake,
    source: Arc<dyn VersionSource>,
    current: RwLock<Arc<Snapshot>>,
    last_check: tokio::sync::Mutex<Instant>,
    refresh_interval: Duration,
    access: Access,
    hooks: Vec<Arc<dyn QueryHook>>,
    cursor_schemas: QuerySchemas,
    limits: Limits,
}

impl Shared {
    pub(crate) fn new(
        lake: Lake,
        source: Arc<dyn VersionSource>,
        snapshot: Snapshot,
        refresh_interval: Duration,
        access: Access,
        limits: Limits,
    ) -> Self {
        let cursors = CursorSchemaHook::default();
        let cursor_schemas = cursors.by_query.clone();
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnlyHook::new(access.clone())),
            Arc::new(DiscardHook),
            Arc::new(cursors),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        Self {
            lake,
            source,
            current: RwLock::new(Arc::new(snapshot)),
            last_check: tokio::sync::Mutex::new(Instant::now()),
            refresh_interval,
            access,
            hooks,
            cursor_schemas,
            limits,
        }
    }

    /// The snapshot to run a query on: the current one, replaced first when the lake has a
    /// newly published build (checked at most every `refresh_interval`, by one query at a
    /// time; the others keep using the current snapshot meanwhile).
    pub(crate) async fn snapshot(&self) -> Arc<Snapshot> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Ok(mut last) = self.last_check.try_lock() else {
            return current;
        };
        if last.elapsed() < self.refresh_interval {
            return current;
        }
        *last = Instant::now();
        match self.source.marker(&self.lake).await {
            Ok(marker) if marker == current.marker() => current,
            Ok(_) => match Snapshot::load(&self.lake, self.source.as_ref()).await {
                Ok(next) => {
                    let next = Arc::new(next);
                    *self.current.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
                    next
                }
                Err(error) => {
                    tracing::warn!(%error, "the lake changed but cannot be read; serving the previous build");
                    current
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot check the lake for a new build");
                current
            }
        }
    }

    fn schemas_of<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
    ) -> PgWireResult<Option<BTreeSet<String>>> {
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        self.access.get(&user).cloned().ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                format!("role \"{user}\" does not exist"),
            )))
        })
    }

    /// A session for one statement of `client`'s user (see the module docs).
    async fn context<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<SessionContext> {
        let schemas = self.schemas_of(client)?;
        let snapshot = self.snapshot().await;
        let base = snapshot
            .session(schemas.as_ref())
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(self.limits.memory_per_query),
            std::num::NonZeroUsize::new(3).expect("3 is not zero"),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let state = SessionStateBuilder::new_from_existing(base.as_ref().clone())
            .with_runtime_env(runtime)
            .with_physical_optimizer_rule(Arc::new(crate::coop::CooperativeJoins))
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    async fn service<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<DfSessionService> {
        let ctx = self.context(client).await?;
        Ok(DfSessionService::new_with_hooks(
            Arc::new(ctx),
            self.hooks.clone(),
        ))
    }

    /// When the statement must end: the server's timeout, or the client's
    /// `SET statement_timeout` when shorter.
    fn deadline<C: ClientInfo + ?Sized>(&self, client: &C) -> Option<Instant> {
        let own = client
            .metadata()
            .get(CLIENT_TIMEOUT_KEY)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let timeout = match (self.limits.statement_timeout, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        timeout.map(|t| Instant::now() + t)
    }
}

fn timeout_error() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "57014".into(),
        "canceling statement due to statement timeout".into(),
    )))
}

/// `response` whose rows end with a timeout error at `deadline` (the query's execution is
/// dropped, and so cancelled, with the stream).
fn bounded(response: Response, deadline: Option<Instant>) -> Response {
    let (mut q, deadline) = match (response, deadline) {
        (Response::Query(q), Some(deadline)) => (q, deadline),
        (other, _) => return other,
    };
    let rows = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
    let stream = futures::stream::unfold(Some(rows), move |state| async move {
        let mut rows = state?;
        match tokio::time::timeout_at(deadline, rows.next()).await {
            Ok(Some(item)) => Some((item, Some(rows))),
            Ok(None) => None,
            Err(_) => Some((Err(timeout_error()), None)),
        }
    });
    q.data_rows = Box::pin(stream);
    Response::Query(q)
}

async fn within<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, work)
            .await
            .map_err(|_| timeout_error())?,
        None => work.await,
    }
}

/// The query handlers of every connection.
pub(crate) struct LakeService {
    shared: Arc<Shared>,
    parser: Arc<LakeParser>,
}

impl LakeService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let fallback = DfSessionService::new(Arc::new(SessionContext::new())).query_parser();
        Self {
            parser: Arc::new(LakeParser {
                shared: shared.clone(),
                fallback,
            }),
            shared,
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for LakeService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self.shared.deadline(client);
        let service = self.shared.service(client).await?;
        let query = crate::rewrite::rewrite(query);
        let responses = within(
            deadline,
            <DfSessionService as SimpleQueryHandler>::do_query(&service, client, &query),
        )
        .await?;
        Ok(responses
            .into_iter()
            .map(|r| bounded(r, deadline))
            .collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for LakeService {
    type Statement = DfStatement;
    type QueryParser = LakeParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self.shared.deadline(client);
        let service = self.shared.service(client).await?;
        let response = within(
            deadline,
            <DfSessionService as ExtendedQueryHandler>::do_query(
                &service, client, portal, max_rows,
            ),
        )
        .await?;
        Ok(bounded(response, deadline))
    }
}

/// Plans extended-protocol statements in the user's session (so a statement is checked by the
/// read-only hook and sees the user's schemas when it is parsed, as it will when executed).
pub(crate) struct LakeParser {
    shared: Arc<Shared>,
    /// For the two questions that do not need a session (parameter and result types of an
    /// already planned statement).
    fallback: Arc<Parser>,
}

#[async_trait]
impl QueryParser for LakeParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let service = self.shared.service(client).await?;
        let deadline = self.shared.deadline(client);
        let sql = crate::rewrite::rewrite(sql);
        within(
            deadline,
            service.query_parser().parse_sql(client, &sql, types),
        )
        .await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.fallback.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let (text, None) = stmt {
            // A cursor's portal (DECLARE stored it as its query text): psycopg describes it.
            let schema = self
                .shared
                .cursor_schemas
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(text)
                .cloned();
            if let Some(schema) = schema {
                return datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields(
                    schema.as_arrow(),
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                );
            }
        }
        self.fallback.get_result_schema(stmt, column_format)
    }
}
