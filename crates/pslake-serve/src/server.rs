//! The listener: TLS (rustls), password authentication, the connection limit, one task per
//! connection.
//!
//! Dropping to `pgwire` here: `datafusion_postgres::serve` authenticates nobody (its
//! `HandlerFactory` is private and uses a no-op startup), binds a fixed port without telling
//! which (tests listen on port 0), and closes an over-limit connection without a word. So the
//! accept loop calls `pgwire::tokio::process_socket` itself with handlers made per connection
//! (pgwire's SASL handler keeps its state in the handler): SCRAM-SHA-256 or MD5 over
//! [`Passwords`], and over the limit a startup that answers SQLSTATE 53300.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::md5pass::{
    Md5PasswordAuthStartupHandler, hash_md5_password,
};
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    SCRAM_ITERATIONS, ScramAuth, gen_salted_password,
};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::process_socket;
use futures::Sink;
use pslake_core::Sensitive;
use pslake_lake::Lake;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthMethod, ServeConfig, TlsPaths};
use crate::error::{Error, Result};
use crate::service::{LakeService, Limits, Shared};
use crate::snapshot::Snapshot;
use crate::versions::{ReleaseVersions, VersionSource};

/// The users' passwords, for pgwire's SCRAM and MD5 handlers. `Debug` prints no password.
#[derive(Debug)]
struct Passwords {
    users: HashMap<String, Sensitive<String>>,
    method: AuthMethod,
}

impl Passwords {
    fn salt(len: usize) -> PgWireResult<Vec<u8>> {
        let mut salt = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| PgWireError::ApiError("no random numbers for a salt".into()))?;
        Ok(salt)
    }
}

#[async_trait]
impl AuthSource for Passwords {
    #[expect(
        elided_lifetimes_in_paths,
        reason = "pgwire's AuthSource declares `&LoginInfo` without a lifetime; async_trait needs the same signature"
    )]
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        // An unknown user gets a random password, so the exchange fails exactly like a wrong
        // password and does not tell which users exist.
        let random;
        let password = match self.users.get(user) {
            Some(p) => p.expose().as_str(),
            None => {
                random = format!("{:x?}", Self::salt(24)?);
                random.as_str()
            }
        };
        match self.method {
            AuthMethod::ScramSha256 => {
                let salt = Self::salt(16)?;
                let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
                Ok(Password::new(Some(salt), salted))
            }
            AuthMethod::Md5 => {
                let salt = Self::salt(4)?;
                let hashed = hash_md5_password(user, password, &salt);
                Ok(Password::new(Some(salt), hashed.into_bytes()))
            }
        }
    }
}

type Params = DefaultServerParameterProvider;

/// The startup of one connection.
enum Startup {
    Scram(SASLAuthStartupHandler<Params>),
    Md5(Md5PasswordAuthStartupHandler<Passwords, Params>),
    /// Over the connection limit.
    Refuse,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Md5(h) => h.on_startup(client, message).await,
            Startup::Refuse => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "53300".into(),
                "sorry, too many clients already".into(),
            )))),
        }
    }
}

/// The handlers of one connection.
struct Connection {
    service: Arc<LakeService>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// `pslake serve`, bound and ready to accept.
pub struct Server {
    listener: TcpListener,
    service: Arc<LakeService>,
    passwords: Arc<Passwords>,
    params: Arc<Params>,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
}

impl Server {
    /// Reads the lake's current build and binds `config.listen`.
    pub async fn bind(lake: Lake, config: ServeConfig) -> Result<Self> {
        Self::bind_with(lake, config, Arc::new(ReleaseVersions)).await
    }

    /// Like [`Server::bind`], with another rule for which table versions to serve.
    pub async fn bind_with(
        lake: Lake,
        config: ServeConfig,
        source: Arc<dyn VersionSource>,
    ) -> Result<Self> {
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let snapshot = Snapshot::load(&lake, source.as_ref()).await?;
        let access = Arc::new(
            config
                .users
                .iter()
                .map(|u| (u.name.clone(), u.schemas.clone()))
                .collect(),
        );
        let shared = Arc::new(Shared::new(
            lake,
            source,
            snapshot,
            config.refresh_interval,
            access,
            Limits {
                memory_per_query: config.memory_limit_per_query,
                statement_timeout: config.statement_timeout,
            },
        ));
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen.clone(),
                source,
            })?;
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = "16.6".into();
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        params.search_path = "public".into();
        Ok(Self {
            listener,
            service: Arc::new(LakeService::new(shared)),
            passwords: Arc::new(Passwords {
                users: config
                    .users
                    .iter()
                    .map(|u| (u.name.clone(), u.password.clone()))
                    .collect(),
                method: config.auth,
            }),
            params: Arc::new(params),
            tls,
            max_connections: config.max_connections.max(1),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn startup(&self) -> Startup {
        match self.passwords.method {
            AuthMethod::ScramSha256 => {
                let scram = ScramAuth::new(self.passwords.clone());
                Startup::Scram(SASLAuthStartupHandler::new(self.params.clone()).with_scram(scram))
            }
            AuthMethod::Md5 => Startup::Md5(Md5PasswordAuthStartupHandler::new(
                self.passwords.clone(),
                self.params.clone(),
            )),
        }
    }

    /// Accepts connections until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let live = Arc::new(Semaphore::new(self.max_connections));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            continue;
                        }
                    };
                    let permit = live.clone().try_acquire_owned().ok();
                    let startup = if permit.is_some() {
                        self.startup()
                    } else {
                        tracing::warn!(%peer, max = self.max_connections, "connection refused: too many clients");
                        Startup::Refuse
                    };
                    let handlers = Connection {
                        service: self.service.clone(),
                        startup: Arc::new(startup),
                    };
                    let tls = self.tls.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        if let Err(error) = process_socket(socket, tls, handlers).await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
            }
        }
        connections.shutdown().await;
        Ok(())
    }
}

/// A TLS acceptor from PEM files.
fn tls_acceptor(paths: &TlsPaths) -> Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    let certs = CertificateDer::pem_file_iter(&paths.cert)
        .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("certificate {}: {e}", paths.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&paths.key)
        .map_err(|e| Error::Tls(format!("key {}: {e}", paths.key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| Error::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
