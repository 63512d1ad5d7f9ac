//! `pslake sandbox`: one HTTP server that speaks each vendor's own protocol over a fixture
//! directory, with injectable faults.
//!
//! Start it with [`Sandbox::start`]; it reads and indexes every fixture file once (a malformed
//! line stops it, naming file and line), binds [`SandboxConfig::listen`] and serves until
//! [`RunningSandbox::shutdown`] or ctrl-c ([`RunningSandbox::wait`]).
//!
//! # Routes
//!
//! | system | route | auth |
//! |---|---|---|
//! | salesforce | `POST /services/oauth2/token` (`grant_type=client_credentials` or `refresh_token`) | client id and secret |
//! | salesforce | `GET /services/data/{v}/query?q=SOQL`, `/queryAll?q=SOQL`, `/query/{locator}-{offset}` over `Account`, `Opportunity`, `OpportunityHistory` | bearer from the token endpoint |
//! | hubspot | `GET /crm/v3/objects/deals?limit&after&properties&propertiesWithHistory&archived`, `POST /crm/v3/objects/deals/search`, `POST /crm/v3/objects/deals/batch/read?archived` | bearer |
//! | netsuite | `POST /services/rest/auth/oauth2/v1/token` (`client_credentials` with a PS256 JWT `client_assertion`, see [`netsuite_auth`]) | signed assertion |
//! | netsuite | `POST /services/rest/query/v1/suiteql?limit&offset` with `Prefer: transient`, body `{"q": SuiteQL}` over `customer`, `job`, `currency`, `transaction`, `transactionline` | bearer from the token endpoint (or the fixed `netsuite_token`) |
//! | kantata | `GET /api/v1/{workspaces,users,time_entries,workspace_resources,workspace_allocations,stories}.json?page&per_page&updated_after&include_archived&from_archived_workspaces&show_archived&show_deleted` | bearer |
//! | workday | `GET /ccx/service/customreport2/{tenant}/{owner}/{Workers,Time_Off,Holidays,Worker_History}?format=json` | HTTP Basic |
//! | treasury | `GET /treasury/` (JSON list), `GET /treasury/{fx_rates_YYYY-MM.csv}` | none |
//! | - | `GET /health` | none |
//! | - | `POST /_sandbox/hubspot/deals/{id}/close-won`, `POST /_sandbox/salesforce/opportunities/{id}/close-won`: change the record, then send the vendor's signed notification ([`webhooks`]) | none |
//!
//! Each vendor module documents its query subset and paging; [`Credentials::default`] lists the
//! demo credentials.
//!
//! # Invariants
//!
//! - Every served record is the fixture line's bytes, except Salesforce's added `attributes` and
//!   field projection (Salesforce `SELECT`, HubSpot `properties` and `propertiesWithHistory`);
//!   projections keep raw values. A fixture file that is missing is an empty stream.
//!   NetSuite items are SuiteQL results over the fixture tables (see `netsuite_sql`): the
//!   selected values as strings after `"links":[]`, NULLs left out, dates the query does not
//!   format in the account's date-format preference.
//! - Paging is deterministic: id order (numeric-aware) unless the query orders otherwise.
//!
//! # Faults
//!
//! `--faults` is parsed by [`FaultSpec::parse`]; its grammar is [`FAULTS_HELP`]. Every request
//! except the token endpoint and `/health` gets a sequence number and at most one fault drawn
//! from a deterministic RNG (seed, sequence number). [`RunningSandbox::stats`] reports request
//! counts per route and the faults injected.

mod error;
mod faults;
mod hubspot;
mod json;
mod kantata;
mod netsuite;
pub mod netsuite_auth;
mod netsuite_sql;
mod salesforce;
mod store;
pub mod webhooks;
mod workday;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::{Error, Result};
pub use faults::{FAULTS_HELP, FaultKind, FaultRule, FaultSpec};
pub use netsuite_sql::DateFormat as NetSuiteDateFormat;

use store::{IndexCache, Store};

/// The default listen address of `pslake sandbox`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The credentials the sandbox accepts. [`Credentials::default`] holds fixed demo values, so a
/// pipeline pointed at the sandbox works out of the box:
///
/// | field | default |
/// |---|---|
/// | `salesforce_client_id` | `pslake-sandbox-client` |
/// | `salesforce_client_secret` | `pslake-sandbox-secret` |
/// | `hubspot_token` | `pat-sandbox-hubspot` |
/// | `netsuite_token` | `sandbox-netsuite-token` (a fixed, never-expiring bearer token) |
/// | `netsuite_client_id` | `pslake-sandbox-netsuite-client` |
/// | `netsuite_certificate_id` | `pslake-sandbox-certificate` |
/// | `netsuite_private_key` | [`netsuite_auth::DEV_PRIVATE_KEY`] (a public development key) |
/// | `kantata_token` | `sandbox-kantata-token` |
/// | `workday_user` | `ISU_pslake` |
/// | `workday_password` | `sandbox-workday-password` |
/// | `hubspot_client_secret` | `sandbox-hubspot-client-secret` (signs webhooks) |
/// | `salesforce_callout_secret` | `sandbox-salesforce-callout-secret` (signs Flow callouts) |
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Salesforce connected-app client id (OAuth2 client credentials).
    pub salesforce_client_id: String,
    /// Salesforce connected-app client secret.
    pub salesforce_client_secret: String,
    /// HubSpot private-app bearer token.
    pub hubspot_token: String,
    /// A fixed NetSuite bearer token that never expires (tests; real NetSuite has none).
    pub netsuite_token: String,
    /// NetSuite integration client id (the assertion's `iss`).
    pub netsuite_client_id: String,
    /// NetSuite certificate id (the assertion header's `kid`).
    pub netsuite_certificate_id: String,
    /// The certificate's private key (PEM): the sandbox verifies with its public half and hands
    /// the PEM to the demo as `NETSUITE_PRIVATE_KEY`.
    pub netsuite_private_key: String,
    /// Kantata OAuth2 bearer token.
    pub kantata_token: String,
    /// Workday integration system user (HTTP Basic user name).
    pub workday_user: String,
    /// Workday integration system user's password.
    pub workday_password: String,
    /// The HubSpot app's client secret, which signs its webhooks (`X-HubSpot-Signature-v3`).
    pub hubspot_client_secret: String,
    /// The shared secret the Salesforce Flow callout signs with (`X-Pslake-Signature`).
    pub salesforce_callout_secret: String,
}

impl Credentials {
    /// The credentials under the secret names `pipelines/demo.yml` reads (`${secret:NAME}`), so a
    /// caller that embeds the sandbox can hand them to the extractor without writing them anywhere.
    pub fn demo_secrets(&self) -> [(&'static str, &str); 11] {
        [
            ("SALESFORCE_CLIENT_ID", &self.salesforce_client_id),
            ("SALESFORCE_CLIENT_SECRET", &self.salesforce_client_secret),
            ("HUBSPOT_TOKEN", &self.hubspot_token),
            ("NETSUITE_CLIENT_ID", &self.netsuite_client_id),
            ("NETSUITE_CERTIFICATE_ID", &self.netsuite_certificate_id),
            ("NETSUITE_PRIVATE_KEY", &self.netsuite_private_key),
            ("KANTATA_TOKEN", &self.kantata_token),
            ("WORKDAY_USER", &self.workday_user),
            ("WORKDAY_PASSWORD", &self.workday_password),
            ("HUBSPOT_CLIENT_SECRET", &self.hubspot_client_secret),
            ("SALESFORCE_CALLOUT_SECRET", &self.salesforce_callout_secret),
        ]
    }
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            salesforce_client_id: "pslake-sandbox-client".into(),
            salesforce_client_secret: "pslake-sandbox-secret".into(),
            hubspot_token: "pat-sandbox-hubspot".into(),
            netsuite_token: "sandbox-netsuite-token".into(),
            netsuite_client_id: "pslake-sandbox-netsuite-client".into(),
            netsuite_certificate_id: "pslake-sandbox-certificate".into(),
            netsuite_private_key: netsuite_auth::DEV_PRIVATE_KEY.into(),
            kantata_token: "sandbox-kantata-token".into(),
            workday_user: "ISU_pslake".into(),
            workday_password: "sandbox-workday-password".into(),
            hubspot_client_secret: "sandbox-hubspot-client-secret".into(),
            salesforce_callout_secret: "sandbox-salesforce-callout-secret".into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("salesforce_client_id", &self.salesforce_client_id)
            .field("salesforce_client_secret", &"*********")
            .field("hubspot_token", &"*********")
            .field("netsuite_token", &"*********")
            .field("netsuite_client_id", &self.netsuite_client_id)
            .field("netsuite_certificate_id", &self.netsuite_certificate_id)
            .field("netsuite_private_key", &"*********")
            .field("kantata_token", &"*********")
            .field("workday_user", &self.workday_user)
            .field("workday_password", &"*********")
            .field("hubspot_client_secret", &"*********")
            .field("salesforce_callout_secret", &"*********")
            .finish()
    }
}

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The fixture directory (SPEC section 6 layout).
    pub fixtures: PathBuf,
    /// Where to listen; port 0 picks a free port (see [`RunningSandbox::addr`]).
    pub listen: SocketAddr,
    /// Faults to inject, if any.
    pub faults: Option<FaultSpec>,
    /// The credentials to accept.
    pub credentials: Credentials,
    /// NetSuite's cap on the results of one SuiteQL query (SPEC: 100,000): an `offset` at or
    /// past it is a 400 error. Tests lower it to exercise keyset paging on small tables.
    pub netsuite_max_results: usize,
    /// How long a NetSuite access token lives (NetSuite: 60 minutes); tests shorten it.
    pub netsuite_token_lifetime: Duration,
    /// The NetSuite account's date-format preference: how SuiteQL writes a date that the query
    /// does not format with `TO_CHAR` (default `M/D/YYYY`, the fixtures' own format).
    pub netsuite_date_format: NetSuiteDateFormat,
    /// Where the control endpoints' change notifications go (`<target>/hubspot`,
    /// `<target>/salesforce`, the paths `pslake listen` serves); none: not sent.
    pub webhook_target: Option<String>,
}

impl SandboxConfig {
    /// A config serving `fixtures` on `127.0.0.1:0`, no faults, default credentials.
    pub fn new(fixtures: impl Into<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            fixtures: fixtures.into(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            faults: None,
            credentials: Credentials::default(),
            netsuite_max_results: netsuite::MAX_RESULTS,
            netsuite_token_lifetime: Duration::from_secs(3600),
            netsuite_date_format: NetSuiteDateFormat::default(),
            webhook_target: None,
        }
    }
}

/// One injected fault, as recorded in [`Stats::fault_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultEvent {
    /// The request's sequence number.
    pub seq: u64,
    /// The system whose route was hit.
    pub system: &'static str,
    /// The route, e.g. `GET /api/v1/{resource}`.
    pub route: String,
    /// The fault injected.
    pub kind: FaultKind,
}

/// Request and fault counts, for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests per route, keyed `METHOD /route/{param}`; unmatched paths count under `unmatched`.
    pub requests: BTreeMap<String, u64>,
    /// Faults injected per kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// The first [`FAULT_LOG_LIMIT`] faults injected, in order.
    pub fault_log: Vec<FaultEvent>,
}

/// How many fault events [`Stats::fault_log`] keeps.
pub const FAULT_LOG_LIMIT: usize = 100_000;

/// Shared state of the handlers.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) creds: Credentials,
    pub(crate) base_url: String,
    faults: Option<FaultSpec>,
    seq: AtomicU64,
    stats: Mutex<Stats>,
    pub(crate) sf: salesforce::SfState,
    pub(crate) cache: IndexCache,
    pub(crate) netsuite_max_results: usize,
    pub(crate) ns_auth: netsuite_auth::NsAuth,
    pub(crate) ns_queries: netsuite::NsQueries,
    pub(crate) webhooks: webhooks::Webhooks,
}

/// The sandbox server.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Load the fixtures, bind the listener and start serving in the background.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox> {
        let dir = config.fixtures.clone();
        let store = match tokio::task::spawn_blocking(move || Store::load(&dir)).await {
            Ok(r) => r?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        workday::check_treasury(&store.dir)?;
        let ns_auth = netsuite_auth::NsAuth::new(
            &config.credentials.netsuite_private_key,
            config.netsuite_token_lifetime,
        )?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        let base_url = base_url_of(addr);
        let state = Arc::new(AppState {
            store,
            creds: config.credentials,
            base_url,
            faults: config.faults,
            seq: AtomicU64::new(0),
            stats: Mutex::new(Stats::default()),
            sf: salesforce::SfState::default(),
            cache: IndexCache::default(),
            netsuite_max_results: config.netsuite_max_results.max(1),
            ns_auth,
            ns_queries: netsuite::NsQueries::new(config.netsuite_date_format),
            webhooks: webhooks::Webhooks::new(config.webhook_target),
        });
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%addr, fixtures = %config.fixtures.display(), "sandbox listening");
        Ok(RunningSandbox {
            addr,
            state,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

fn base_url_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A started sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the loopback address when bound to an unspecified address).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Change notifications delivered (a 2xx) and attempts made so far.
    pub fn webhook_deliveries(&self) -> (u64, u64) {
        (
            self.state.webhooks.delivered.load(Ordering::Relaxed),
            self.state.webhooks.attempts.load(Ordering::Relaxed),
        )
    }

    /// A snapshot of the request and fault counts.
    pub fn stats(&self) -> Stats {
        self.state
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop accepting connections, let in-flight requests finish (at most 5 seconds), then stop.
    pub async fn shutdown(mut self) {
        self.stop_and_join().await;
    }

    /// Serve until ctrl-c, then shut down.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.as_mut() {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                r = task => {
                    self.task = None;
                    if let Ok(Err(e)) = r {
                        tracing::error!(error = %e, "sandbox server failed");
                    }
                }
            }
        }
        self.stop_and_join().await;
    }

    async fn stop_and_join(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let faulted = |r: Router<Arc<AppState>>, system: &'static str| {
        r.route_layer(middleware::from_fn_with_state(
            (state.clone(), system),
            fault_layer,
        ))
    };
    let salesforce = faulted(
        Router::new()
            .route("/services/data/{version}/query", get(salesforce::query))
            .route(
                "/services/data/{version}/queryAll",
                get(salesforce::query_all),
            )
            .route(
                "/services/data/{version}/query/{locator}",
                get(salesforce::next_page),
            )
            .route(
                "/services/data/{version}/queryAll/{locator}",
                get(salesforce::next_page),
            ),
        "salesforce",
    );
    let hubspot = faulted(
        Router::new()
            .route("/crm/v3/objects/deals", get(hubspot::list))
            .route("/crm/v3/objects/deals/search", post(hubspot::search))
            .route(
                "/crm/v3/objects/deals/batch/read",
                post(hubspot::batch_read),
            ),
        "hubspot",
    );
    let netsuite = faulted(
        Router::new().route("/services/rest/query/v1/suiteql", post(netsuite::suiteql)),
        "netsuite",
    );
    let kantata = faulted(
        Router::new().route("/api/v1/{resource}", get(kantata::list)),
        "kantata",
    );
    let workday = faulted(
        Router::new().route(
            "/ccx/service/customreport2/{tenant}/{owner}/{report}",
            get(workday::report),
        ),
        "workday",
    );
    let treasury = faulted(
        Router::new()
            .route("/treasury", get(workday::treasury_list))
            .route("/treasury/", get(workday::treasury_list))
            .route("/treasury/{file}", get(workday::treasury_file)),
        "treasury",
    );
    Router::new()
        .route("/services/oauth2/token", post(salesforce::token))
        .route(netsuite_auth::TOKEN_PATH, post(netsuite_auth::token))
        .route("/health", get(health))
        .route(
            "/_sandbox/hubspot/deals/{id}/close-won",
            post(webhooks::hubspot_close_won),
        )
        .route(
            "/_sandbox/salesforce/opportunities/{id}/close-won",
            post(webhooks::salesforce_close_won),
        )
        .merge(salesforce)
        .merge(hubspot)
        .merge(netsuite)
        .merge(kantata)
        .merge(workday)
        .merge(treasury)
        .layer(middleware::from_fn_with_state(state.clone(), count_layer))
        .with_state(state)
}

async fn health() -> Response {
    faults::json_response(StatusCode::OK, r#"{"status":"ok"}"#)
}

fn route_key(req: &Request) -> String {
    match req.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", req.method(), p.as_str()),
        None => "unmatched".to_string(),
    }
}

async fn count_layer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let key = route_key(&req);
    {
        let mut s = state.stats.lock().unwrap_or_else(|p| p.into_inner());
        *s.requests.entry(key).or_default() += 1;
    }
    next.run(req).await
}

async fn fault_layer(
    State((state, system)): State<(Arc<AppState>, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    let rule = state
        .faults
        .as_ref()
        .and_then(|f| f.draw(seq, system))
        .cloned();
    if let Some(rule) = &rule {
        let mut s = state.stats.lock().unwrap_or_else(|p| p.into_inner());
        *s.faults.entry(rule.kind).or_default() += 1;
        if s.fault_log.len() < FAULT_LOG_LIMIT {
            let route = route_key(&req);
            s.fault_log.push(FaultEvent {
                seq,
                system,
                route,
                kind: rule.kind,
            });
        }
        tracing::debug!(seq, system, kind = %rule.kind, "injecting fault");
    }
    let mut resp = match rule.map(|r| (r.kind, r.delay)) {
        None => next.run(req).await,
        Some((FaultKind::RateLimit, _)) => faults::rate_limited(system, seq),
        Some((FaultKind::Error500, _)) => faults::server_error(system, seq, false),
        Some((FaultKind::Error503, _)) => faults::server_error(system, seq, true),
        Some((FaultKind::Slow, delay)) => {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }
        Some((FaultKind::Truncate, _)) => faults::truncate(next.run(req).await).await,
        Some((FaultKind::Reset, _)) => return faults::reset(),
        Some((FaultKind::ExpireToken, _)) => {
            if let Some(t) = bearer(req.headers()) {
                state.sf.revoke(t);
            }
            salesforce::invalid_session()
        }
    };
    if system == "salesforce" {
        let used = state.sf.api_usage.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/100000")) {
            resp.headers_mut().insert("sforce-limit-info", v);
        }
    }
    resp
}

/// The bearer token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The decoded `key=value` pairs of a query string; the last value of a repeated key wins, except
/// that callers needing repeats parse themselves.
pub(crate) fn query_pairs(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}
