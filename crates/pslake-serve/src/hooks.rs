//! Statement hooks in front of `datafusion-postgres`'s own (cursors, `SET`/`SHOW`,
//! transactions), through its [`QueryHook`] seam:
//!
//! - [`ReadOnlyHook`]: only reading statements pass. `INSERT`, `UPDATE`, `DELETE`, `MERGE`,
//!   DDL, `COPY` and anything not on the allow list are refused with SQLSTATE 25006 before
//!   they are planned, so they change nothing; so are functions that read local files, and
//!   tables of a schema the user may not read (42501).
//! - [`DiscardHook`]: `DISCARD ALL` (sent by connection pools, e.g. pgbouncer and the JDBC
//!   pool of Tableau Server) resets the session's settings and answers `DISCARD ALL`; the crate
//!   does not parse it. `SAVEPOINT`, `RELEASE` and `ROLLBACK TO` (psycopg, SQLAlchemy) are
//!   answered too: with nothing written there is nothing to keep.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Statement, TableFactor, Visit, Visitor, visit_relations,
};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// Schemas every user may read: the catalog itself.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Functions that read (or write) the server's files: refused whatever they are called with.
const FILE_FUNCTIONS: &[&str] = &[
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_file_write",
    "lo_import",
    "lo_export",
    "read_parquet",
    "read_csv",
    "read_json",
    "read_ndjson",
    "read_avro",
    "read_arrow",
    "parquet_metadata",
    "metadata_cache",
];

/// User name → the schemas they may read (`None`: all).
pub(crate) type Access = Arc<HashMap<String, Option<BTreeSet<String>>>>;

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

/// The first words of a statement, for messages: `INSERT`, `CREATE TABLE`, `COPY`.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "TRUNCATE"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => String::new(),
    }
}

/// Refuses everything that is not a read (see the module docs).
#[derive(Debug)]
pub(crate) struct ReadOnlyHook {
    access: Access,
}

impl ReadOnlyHook {
    pub(crate) fn new(access: Access) -> Self {
        Self { access }
    }

    fn check(
        &self,
        statement: &Statement,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<()> {
        let reads = match statement {
            Statement::Query(_) => true,
            Statement::Explain { statement, .. } => {
                return self.check(statement, client);
            }
            Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ExplainTable { .. } => false,
            Statement::Copy { to: false, .. } => {
                return Err(error(
                    "25006",
                    "pslake serve is read only: COPY FROM is not allowed".into(),
                ));
            }
            other => {
                return Err(error(
                    "25006",
                    format!(
                        "pslake serve is read only: {} is not allowed (only queries, SET, SHOW and cursors)",
                        kind(other)
                    ),
                ));
            }
        };
        if let Statement::Declare { stmts } = statement {
            for d in stmts {
                if let Some(q) = &d.for_query {
                    self.check(&Statement::Query(q.clone()), client)?;
                }
            }
        }
        if !reads {
            return Ok(());
        }
        let mut files = FileFunctions::default();
        let _ = statement.visit(&mut files);
        if let Some(f) = files.found {
            return Err(error(
                "42501",
                format!(
                    "pslake serve is read only: {f}() reads the server's files and is not allowed"
                ),
            ));
        }
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        let Some(Some(allowed)) = self.access.get(&user) else {
            return Ok(());
        };
        let mut denied = None;
        let _ = visit_relations(statement, |name: &ObjectName| {
            let parts: Vec<String> = name
                .0
                .iter()
                .map(|p| p.to_string().trim_matches('"').to_string())
                .collect();
            if parts.len() >= 2 {
                let schema = &parts[parts.len() - 2];
                if !allowed.contains(schema) && !SYSTEM_SCHEMAS.contains(&schema.as_str()) {
                    denied = Some(schema.clone());
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        match denied {
            Some(schema) => Err(error(
                "42501",
                format!("permission denied for schema {schema}"),
            )),
            None => Ok(()),
        }
    }
}

/// Finds a call of a [`FILE_FUNCTIONS`] function, as an expression or a table function.
#[derive(Default)]
struct FileFunctions {
    found: Option<String>,
}

impl FileFunctions {
    fn note(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let last = name
            .0
            .last()
            .map(|p| p.to_string().trim_matches('"').to_ascii_lowercase())
            .unwrap_or_default();
        if FILE_FUNCTIONS.contains(&last.as_str()) {
            self.found = Some(last);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for FileFunctions {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            return self.note(&f.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.note(name),
            _ => ControlFlow::Continue(()),
        }
    }
}

#[async_trait]
impl QueryHook for ReadOnlyHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check(statement, &*client).err().map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.check(statement, client).err().map(Err)
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

/// `DISCARD ALL` (see the module docs).
#[derive(Debug)]
pub(crate) struct DiscardHook;

impl DiscardHook {
    fn respond(
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let tag = match statement {
            Statement::Discard { object_type } => {
                // The session settings `SET` keeps in the connection's metadata.
                for key in ["statement_timeout_ms", "timezone"] {
                    client.metadata_mut().remove(key);
                }
                format!("DISCARD {}", object_type.to_string().to_ascii_uppercase())
            }
            // Nothing is ever written, so a savepoint has nothing to keep: psycopg and
            // SQLAlchemy open one around their metadata queries.
            Statement::Savepoint { .. } => "SAVEPOINT".into(),
            Statement::ReleaseSavepoint { .. } => "RELEASE".into(),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => "ROLLBACK".into(),
            _ => return None,
        };
        Some(Ok(Response::Execution(Tag::new(&tag))))
    }

    fn handles(statement: &Statement) -> bool {
        matches!(
            statement,
            Statement::Discard { .. }
                | Statement::Savepoint { .. }
                | Statement::ReleaseSavepoint { .. }
                | Statement::Rollback {
                    savepoint: Some(_),
                    ..
                }
        )
    }
}

#[async_trait]
impl QueryHook for DiscardHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, client)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if !Self::handles(statement) {
            return None;
        }
        Some(Ok(LogicalPlan::EmptyRelation(
            datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            },
        )))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, client)
    }
}

/// Connection (peer address) and cursor name → the columns the cursor returns.
type CursorSchemas =
    std::sync::Mutex<HashMap<(std::net::SocketAddr, String), datafusion::common::DFSchemaRef>>;

/// Describes `FETCH` over the extended protocol with the cursor's columns. The crate describes
/// it as returning no columns and then sends rows, which crashes psycopg's server-side cursors
/// (`psycopg_binary` reads fields the description did not announce). This hook plans a
/// `DECLARE`d query once more to learn its columns, and answers a `FETCH`'s Parse with them;
/// the crate's cursor hook still runs the cursor.
#[derive(Debug, Default)]
pub(crate) struct CursorSchemaHook {
    schemas: CursorSchemas,
    /// A cursor's query text → its columns, for Describe of the cursor's portal (the crate
    /// stores a cursor as its query text with no plan).
    pub(crate) by_query: QuerySchemas,
}

/// Query text → columns.
pub(crate) type QuerySchemas =
    Arc<std::sync::Mutex<HashMap<String, datafusion::common::DFSchemaRef>>>;

/// Entries kept per map before it is emptied (cursors are short-lived; a map never grows
/// without bound).
const MAX_CURSORS: usize = 4096;

impl CursorSchemaHook {
    async fn note_declare(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        peer: std::net::SocketAddr,
    ) {
        let Statement::Declare { stmts } = statement else {
            return;
        };
        for d in stmts {
            let Some(q) = &d.for_query else { continue };
            let planned = ctx
                .state()
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    Statement::Query(q.clone()),
                )))
                .await;
            if let Ok(plan) = planned {
                let name = d.names.first().map(|n| n.value.clone()).unwrap_or_default();
                let mut schemas = self.schemas.lock().unwrap_or_else(|p| p.into_inner());
                if schemas.len() >= MAX_CURSORS {
                    schemas.clear();
                }
                schemas.insert((peer, name), plan.schema().clone());
                let mut by_query = self.by_query.lock().unwrap_or_else(|p| p.into_inner());
                if by_query.len() >= MAX_CURSORS {
                    by_query.clear();
                }
                by_query.insert(q.to_string(), plan.schema().clone());
            }
        }
    }

    fn fetch_plan(&self, statement: &Statement, client: &dyn ClientInfo) -> Option<LogicalPlan> {
        let Statement::Fetch { name, .. } = statement else {
            return None;
        };
        let schema = self
            .schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(client.socket_addr(), name.value.clone()))
            .cloned()?;
        Some(LogicalPlan::EmptyRelation(
            datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema,
            },
        ))
    }
}

#[async_trait]
impl QueryHook for CursorSchemaHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let peer = client.socket_addr();
        self.note_declare(statement, session_context, peer).await;
        None
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.note_declare(statement, session_context, client.socket_addr())
            .await;
        self.fetch_plan(statement, client).map(Ok)
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    fn parse(sql: &str) -> Statement {
        PostgresCompatibilityParser::new()
            .parse(sql)
            .expect("test SQL parses")
            .remove(0)
    }

    #[test]
    fn statement_kinds_name_the_command() {
        assert_eq!(kind(&parse("INSERT INTO a.b VALUES (1)")), "INSERT");
        assert_eq!(kind(&parse("CREATE TABLE x (a INT)")), "CREATE TABLE");
        assert_eq!(kind(&parse("drop view v")), "DROP VIEW");
    }

    #[test]
    fn file_functions_are_found() {
        let mut f = FileFunctions::default();
        let _ = parse("SELECT pg_read_file('/etc/passwd')").visit(&mut f);
        assert_eq!(f.found.as_deref(), Some("pg_read_file"));
        let mut f = FileFunctions::default();
        let _ = parse("SELECT * FROM canonical.bookings").visit(&mut f);
        assert_eq!(f.found, None);
    }
}
