//! The HTTP client of one REST system: authentication (bearer, basic, API key, OAuth 2 client
//! credentials with a client secret or a PS256-signed JWT client assertion; tokens are renewed
//! before their `expires_in` runs out and again on a 401, up to `max_attempts` times a
//! request), a per-system rate limit and concurrency cap, and retries with exponential backoff
//! and jitter.
//!
//! Retried: connection errors, timeouts, resets, bodies cut short (a 200 whose JSON does not
//! parse), 408, 429 and 5xx; `Retry-After` is honoured. Any other 4xx fails at once. A vendor's
//! own answers (Salesforce's `403 REQUEST_LIMIT_EXCEEDED`) are the pipeline's `retry.rules`,
//! checked first: this file knows no vendor. Secrets are only ever in request headers or bodies,
//! never in URLs that get logged, and every message passes through the [`Scrubber`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use pslake_core::Sensitive;
use pslake_core::pipeline::{Auth, Client, Method, RetryAction};

use crate::error::{Error, Result};
use crate::jwt::AssertionSigner;
use crate::redact::{Scrubber, redact_url};
use crate::secrets::Secrets;

/// Pages of a stream in the pipeline per request slot (see [`SystemClient::pages_in_flight`]).
const PAGES_PER_REQUEST: usize = 4;

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(String, Sensitive<String>)>),
}

/// One request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Body,
    pub(crate) headers: Vec<(String, String)>,
}

enum ResolvedAuth {
    None,
    Header(Sensitive<String>),
    Query(String, Sensitive<String>),
    OAuth {
        token_url: String,
        grant: Box<Grant>,
        instance_field: Option<String>,
        /// Renew a token this long before it expires (capped at a quarter of its life).
        refresh_before: Duration,
    },
}

/// How the client proves itself to the token endpoint.
enum Grant {
    Secret {
        client_id: Sensitive<String>,
        client_secret: Sensitive<String>,
        scope: Option<String>,
    },
    Assertion {
        client_id: Sensitive<String>,
        certificate_id: Sensitive<String>,
        signer: Box<AssertionSigner>,
        scope: Vec<String>,
        lifetime: Duration,
    },
}

#[derive(Clone)]
struct Token {
    access: Sensitive<String>,
    base: Option<Url>,
    generation: u64,
    /// When to fetch the next token (None: only on a 401).
    renew_at: Option<Instant>,
}

/// Interval rate limiter: requests are spaced `1/rate` seconds apart across all callers.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    async fn wait(&self) {
        let slot = {
            let mut n = self.next.lock().await;
            let now = Instant::now();
            let slot = (*n).max(now);
            *n = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The client of one system.
pub(crate) struct SystemClient {
    pub(crate) system: String,
    cfg: Client,
    http: reqwest::Client,
    auth: ResolvedAuth,
    token: Mutex<Option<Token>>,
    generation: AtomicU64,
    limiter: Option<RateLimiter>,
    sem: Arc<Semaphore>,
    pub(crate) scrub: Scrubber,
    /// Retries made (for the report).
    pub(crate) retries: AtomicU64,
}

impl std::fmt::Debug for SystemClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemClient")
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl SystemClient {
    /// Resolves the system's secrets and builds its client.
    pub(crate) fn new(
        system: &str,
        cfg: &Client,
        secrets: &Secrets,
        scrub: Scrubber,
    ) -> Result<Self> {
        let res = |v: &pslake_core::pipeline::ValueRef| -> Result<Sensitive<String>> {
            let s = secrets.resolve(v)?;
            if v.is_reference() {
                scrub.add(s.expose());
            }
            Ok(s)
        };
        let auth = match &cfg.auth {
            Auth::None => ResolvedAuth::None,
            Auth::Bearer { token } => {
                ResolvedAuth::Header(Sensitive::new(format!("Bearer {}", res(token)?.expose())))
            }
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let u = res(username)?;
                let p = res(password)?;
                let enc = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    u.expose(),
                    p.expose()
                ));
                scrub.add(&enc);
                ResolvedAuth::Header(Sensitive::new(format!("Basic {enc}")))
            }
            Auth::ApiKey {
                name,
                value,
                in_query,
            } => {
                let v = res(value)?;
                if *in_query {
                    ResolvedAuth::Query(name.clone(), v)
                } else {
                    ResolvedAuth::Header(v)
                }
            }
            Auth::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
                instance_url_field,
            } => ResolvedAuth::OAuth {
                token_url: token_url.clone(),
                grant: Box::new(Grant::Secret {
                    client_id: res(client_id)?,
                    client_secret: res(client_secret)?,
                    scope: scope.clone(),
                }),
                instance_field: instance_url_field.clone(),
                refresh_before: Duration::ZERO,
            },
            Auth::OAuth2JwtAssertion {
                token_url,
                client_id,
                certificate_id,
                private_key,
                scope,
                refresh_before,
                assertion_lifetime,
            } => {
                let key = res(private_key)?;
                let signer = AssertionSigner::from_pem(key.expose()).map_err(|e| {
                    Error::Config(format!("system {system}: auth private_key: {e}"))
                })?;
                ResolvedAuth::OAuth {
                    token_url: token_url.clone(),
                    grant: Box::new(Grant::Assertion {
                        client_id: res(client_id)?,
                        certificate_id: res(certificate_id)?,
                        signer: Box::new(signer),
                        scope: scope.clone(),
                        lifetime: *assertion_lifetime,
                    }),
                    instance_field: None,
                    refresh_before: *refresh_before,
                }
            }
        };
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.concurrency.max(1) * 2)
            .build()
            .map_err(|e| {
                Error::Config(format!("system {system}: cannot build HTTP client: {e}"))
            })?;
        let limiter = cfg.rate_limit.map(|r| RateLimiter {
            interval: Duration::from_secs_f64(1.0 / r),
            next: Mutex::new(Instant::now()),
        });
        Ok(SystemClient {
            system: system.to_string(),
            cfg: cfg.clone(),
            http,
            auth,
            token: Mutex::new(None),
            generation: AtomicU64::new(0),
            limiter,
            sem: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            scrub,
            retries: AtomicU64::new(0),
        })
    }

    /// Requests in flight at once to this system.
    pub(crate) fn concurrency(&self) -> usize {
        self.cfg.concurrency.max(1)
    }

    /// Pages of one stream requested or being decoded at once: [`PAGES_PER_REQUEST`] per
    /// request slot. A page frees its slot once its body is read (decoding is CPU work), so
    /// the next requests go out while the pages before are decoded; requests in flight stay at
    /// [`SystemClient::concurrency`], the vendor's limit.
    pub(crate) fn pages_in_flight(&self) -> usize {
        self.concurrency() * PAGES_PER_REQUEST
    }

    /// The base URL requests resolve against (the token's `instance_url` when configured).
    pub(crate) async fn base_url(&self) -> Result<Url> {
        if let ResolvedAuth::OAuth {
            instance_field: Some(_),
            ..
        } = &self.auth
            && let Some(b) = self.current_token().await?.base
        {
            return Ok(b);
        }
        Ok(self.cfg.base_url.clone())
    }

    /// `path` (absolute URL, or a path relative to `base`) as a URL. A path starting with `/`
    /// is appended to the base's path, so a base with a path prefix keeps it.
    pub(crate) fn resolve(&self, base: &Url, path: &str) -> Result<Url> {
        let r = if path.starts_with("http://") || path.starts_with("https://") {
            Url::parse(path)
        } else {
            let b = base.as_str().trim_end_matches('/');
            let p = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            Url::parse(&format!("{b}{p}"))
        };
        r.map_err(|e| Error::Page {
            url: redact_url(base),
            message: format!(
                "cannot resolve `{}` against the base URL: {e}",
                self.scrub.scrub(path)
            ),
        })
    }

    async fn current_token(&self) -> Result<Token> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            match t.renew_at {
                Some(at) if Instant::now() >= at => {
                    tracing::info!(system = %self.system, generation = t.generation, "access token about to expire, renewing it");
                }
                _ => return Ok(t.clone()),
            }
        }
        let t = self.fetch_token().await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    async fn invalidate(&self, generation: u64) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|t| t.generation == generation) {
            *guard = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token> {
        let ResolvedAuth::OAuth {
            token_url,
            grant,
            instance_field,
            refresh_before,
        } = &self.auth
        else {
            return Err(Error::Task(
                "token requested for a system without OAuth".into(),
            ));
        };
        let url = self.resolve(&self.cfg.base_url, token_url)?;
        let mut form = vec![(
            "grant_type".to_string(),
            Sensitive::new("client_credentials".to_string()),
        )];
        match grant.as_ref() {
            Grant::Secret {
                client_id,
                client_secret,
                scope,
            } => {
                form.push(("client_id".to_string(), client_id.clone()));
                form.push(("client_secret".to_string(), client_secret.clone()));
                if let Some(s) = scope {
                    form.push(("scope".into(), Sensitive::new(s.clone())));
                }
            }
            Grant::Assertion {
                client_id,
                certificate_id,
                signer,
                scope,
                lifetime,
            } => {
                let iat = chrono::Utc::now().timestamp();
                let exp = iat + (lifetime.as_secs() as i64).clamp(1, 3600);
                let assertion = signer
                    .sign(
                        certificate_id.expose(),
                        client_id.expose(),
                        url.as_str(),
                        scope,
                        iat,
                        exp,
                    )
                    .map_err(|e| Error::Config(format!("system {}: {e}", self.system)))?;
                self.scrub.add(assertion.expose());
                form.push((
                    "client_assertion_type".to_string(),
                    Sensitive::new(
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                    ),
                ));
                form.push(("client_assertion".to_string(), assertion));
            }
        }
        let requested = Instant::now();
        let req = Request {
            method: Method::Post,
            url,
            body: Body::Form(form),
            headers: Vec::new(),
        };
        let body = Box::pin(self.execute(&req, false, json_body))
            .await
            .map_err(|e| match e {
                Error::Status {
                    method,
                    url,
                    status,
                    message,
                } => Error::Status {
                    method,
                    url,
                    status,
                    message: format!(
                        "the token endpoint of system {} refused the client credentials: {message}",
                        self.system
                    ),
                },
                e => e,
            })?;
        #[derive(serde::Deserialize)]
        struct Resp {
            access_token: String,
            #[serde(flatten)]
            rest: serde_json::Map<String, serde_json::Value>,
        }
        let resp: Resp = serde_json::from_slice(&body).map_err(|e| Error::Page {
            url: redact_url(&req.url),
            message: format!("token response has no access_token: {e}"),
        })?;
        self.scrub.add(&resp.access_token);
        let base = match instance_field {
            Some(f) => match resp.rest.get(f).and_then(|v| v.as_str()) {
                Some(u) => Some(Url::parse(u).map_err(|e| Error::Page {
                    url: redact_url(&req.url),
                    message: format!("token response `{f}` is not a URL: {e}"),
                })?),
                None => None,
            },
            None => None,
        };
        // `expires_in` is seconds (a number, or a numeric string from some servers); the token
        // is renewed `refresh_before` ahead, but never later than three quarters into its life
        let expires_in = resp.rest.get("expires_in").and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        });
        let renew_at = expires_in.filter(|s| *s > 0.0).map(|secs| {
            let life = Duration::from_secs_f64(secs.min(1e9));
            let margin = (*refresh_before).min(life / 4);
            requested + life - margin
        });
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(system = %self.system, generation, expires_in, "obtained an access token");
        Ok(Token {
            access: Sensitive::new(resp.access_token),
            base,
            generation,
            renew_at,
        })
    }

    /// Sends `req` with retries and returns its body as `read` makes it, off the async threads
    /// (`read` is where a page is parsed, once). A body `read` finds incomplete or invalid
    /// ([`BodyError::Invalid`]) is fetched again, like a transient HTTP failure.
    pub(crate) async fn fetch_with<T, F>(&self, req: &Request, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Bytes) -> std::result::Result<T, BodyError> + Clone + Send + 'static,
    {
        self.execute(req, true, read).await
    }

    async fn execute<T, F>(&self, req: &Request, authed: bool, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Bytes) -> std::result::Result<T, BodyError> + Clone + Send + 'static,
    {
        let method = match req.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let shown = redact_url(&req.url);
        let max = self.cfg.max_attempts.max(1);
        // 401s answered by renewing the token; bounded like the attempts, but apart from them
        let mut renewals = 0;
        let mut last: Option<Error> = None;
        let mut attempt = 0;
        while attempt < max {
            attempt += 1;
            let outcome = self
                .attempt(req, authed, method, &shown, read.clone())
                .await;
            let (err, retry_after) = match outcome {
                Ok(b) => return Ok(b),
                // A revoked token is refused for every request that holds it, so with requests
                // in flight one revocation can cost a request its first renewal before its own
                // token is refused: each 401 renews the token (one fetch however many requests
                // saw it), up to `max_attempts` times a request, without using up an attempt.
                Err(Attempt::Unauthorized(generation, e)) => {
                    if authed && renewals < max && matches!(self.auth, ResolvedAuth::OAuth { .. }) {
                        renewals += 1;
                        tracing::info!(system = %self.system, url = %shown, renewals, "401 from the API, refreshing the access token");
                        self.invalidate(generation).await;
                        attempt -= 1;
                        continue;
                    }
                    return Err(e);
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(e, ra)) => (e, ra),
            };
            if attempt >= max {
                last = Some(err);
                break;
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let base = self.cfg.initial_backoff.as_secs_f64() * 2f64.powi(attempt as i32 - 1);
            let capped = base.min(self.cfg.max_backoff.as_secs_f64());
            let jitter: f64 = rand::rng().random_range(0.5..1.0);
            let mut wait = capped * jitter;
            if let Some(ra) = retry_after {
                wait = wait.max(ra.min(self.cfg.max_backoff.as_secs_f64().max(1.0) * 4.0));
            }
            tracing::warn!(system = %self.system, attempt, url = %shown, error = %err, wait_ms = (wait * 1000.0) as u64, "request failed, retrying");
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            last = Some(err);
        }
        let last = last.map(|e| e.to_string()).unwrap_or_default();
        Err(Error::RetriesExhausted {
            method: method.into(),
            url: shown,
            attempts: max,
            last,
        })
    }

    async fn attempt<T, F>(
        &self,
        req: &Request,
        authed: bool,
        method: &str,
        shown: &str,
        read: F,
    ) -> Result<T, Attempt>
    where
        T: Send + 'static,
        F: Fn(Bytes) -> std::result::Result<T, BodyError> + Send + 'static,
    {
        let transient = |message: String, retry_after: Option<f64>| {
            Attempt::Retry(
                Error::Transient {
                    method: method.into(),
                    url: shown.to_string(),
                    message,
                    retry_after,
                },
                retry_after,
            )
        };
        let mut url = req.url.clone();
        let mut headers = HeaderMap::new();
        for (k, v) in self
            .cfg
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(n, v);
            }
        }
        // the rate-limit slot comes before the token, so a token renewed just before its expiry
        // is not then held back past it
        if let Some(l) = &self.limiter {
            l.wait().await;
        }
        let mut generation = 0;
        if authed {
            let auth_value: Option<Sensitive<String>> = match &self.auth {
                ResolvedAuth::None => None,
                ResolvedAuth::Header(v) => Some(v.clone()),
                ResolvedAuth::Query(name, v) => {
                    url.query_pairs_mut().append_pair(name, v.expose());
                    None
                }
                ResolvedAuth::OAuth { .. } => {
                    let t = self
                        .current_token()
                        .await
                        .map_err(|e| match e.retry_hint() {
                            crate::error::RetryHint::WithBackoff => Attempt::Retry(e, None),
                            _ => Attempt::Fatal(e),
                        })?;
                    generation = t.generation;
                    Some(Sensitive::new(format!("Bearer {}", t.access.expose())))
                }
            };
            if let Some(v) = auth_value {
                let name = match &self.auth {
                    ResolvedAuth::Header(_) if matches!(self.cfg.auth, Auth::ApiKey { .. }) => {
                        match &self.cfg.auth {
                            Auth::ApiKey { name, .. } => HeaderName::from_bytes(name.as_bytes())
                                .unwrap_or(reqwest::header::AUTHORIZATION),
                            _ => reqwest::header::AUTHORIZATION,
                        }
                    }
                    _ => reqwest::header::AUTHORIZATION,
                };
                let mut hv = HeaderValue::from_str(v.expose()).map_err(|_| {
                    Attempt::Fatal(Error::Config(format!(
                        "system {}: the credential is not a valid header value",
                        self.system
                    )))
                })?;
                hv.set_sensitive(true);
                headers.insert(name, hv);
            }
        }
        // the permit is taken after the token: a token fetch needs a permit of its own
        let permit = self
            .sem
            .acquire()
            .await
            .map_err(|e| Attempt::Fatal(Error::Task(e.to_string())))?;
        let mut rb = match req.method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        }
        .headers(headers);
        rb = match &req.body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Form(f) => {
                let pairs: Vec<(&str, &str)> = f
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.expose().as_str()))
                    .collect();
                rb.form(&pairs)
            }
        };
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Err(transient(self.scrub.scrub(&describe(&e)), None)),
        };
        let status = resp.status();
        // named when a body is not JSON: an HTML error page from a proxy says so at once
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.contains("json"))
            .map(|t| format!(", content-type {t}"))
            .unwrap_or_default();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok());
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err(transient(
                    format!("reading the body: {}", self.scrub.scrub(&describe(&e))),
                    retry_after,
                ));
            }
        };
        // the connection slot is free again: reading the body is CPU work
        drop(permit);
        if status.is_success() {
            let len = body.len();
            let span = tracing::Span::current();
            let read = tokio::task::spawn_blocking(move || span.in_scope(|| read(body)))
                .await
                .map_err(|e| Attempt::Fatal(Error::Task(e.to_string())))?;
            return match read {
                Ok(t) => Ok(t),
                Err(BodyError::Invalid(e)) => Err(transient(
                    format!(
                        "{status} with an incomplete or invalid JSON body ({len} bytes{content_type}): {e}"
                    ),
                    None,
                )),
                Err(BodyError::Fatal(e)) => Err(Attempt::Fatal(e)),
            };
        }
        let excerpt = self
            .scrub
            .scrub(&String::from_utf8_lossy(&body[..body.len().min(400)]));
        let code = status.as_u16();
        let rule = self.cfg.retry_rules.iter().find(|r| {
            r.status == code
                && r.body_contains
                    .as_deref()
                    .is_none_or(|needle| body.windows(needle.len()).any(|w| w == needle.as_bytes()))
        });
        match rule.map(|r| r.action) {
            Some(RetryAction::RateLimited) => {
                return Err(transient(
                    format!("{status} (rate limit): {excerpt}"),
                    retry_after,
                ));
            }
            Some(RetryAction::Retry) => {
                return Err(transient(
                    format!("{status} (retry rule): {excerpt}"),
                    retry_after,
                ));
            }
            Some(RetryAction::Fail) => {
                return Err(Attempt::Fatal(Error::Status {
                    method: method.into(),
                    url: shown.to_string(),
                    status: code,
                    message: excerpt,
                }));
            }
            None => {}
        }
        if code == 429 || code == 408 || status.is_server_error() {
            return Err(transient(format!("{status}: {excerpt}"), retry_after));
        }
        let e = Error::Status {
            method: method.into(),
            url: shown.to_string(),
            status: code,
            message: excerpt,
        };
        if code == 401 {
            return Err(Attempt::Unauthorized(generation, e));
        }
        Err(Attempt::Fatal(e))
    }
}

/// Why [`SystemClient::fetch_with`]'s reader could not use a successful response's body.
pub(crate) enum BodyError {
    /// The body is not complete JSON (cut short, garbled): the request is tried again.
    Invalid(String),
    /// The body is JSON but cannot be used: the request fails.
    Fatal(Error),
}

/// The body, checked to be complete JSON.
fn json_body(body: Bytes) -> std::result::Result<Bytes, BodyError> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        Ok(_) => Ok(body),
        Err(e) => Err(BodyError::Invalid(e.to_string())),
    }
}

enum Attempt {
    Retry(Error, Option<f64>),
    Unauthorized(u64, Error),
    Fatal(Error),
}

/// A transport error with its cause chain, without the URL (reqwest's Display includes it
/// with the query string).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body cut short"
    } else {
        "transport error"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
