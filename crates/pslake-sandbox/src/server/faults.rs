//! Injected faults: the `--faults` grammar, the deterministic draw, and the vendor-shaped responses.
//!
//! See [`FAULTS_HELP`] for the grammar. Every faultable request (all routes except the Salesforce
//! token endpoint and `/health`) takes the next sequence number `n` (0, 1, 2, ... in arrival order)
//! and draws one number `u` in `[0, 1)` from ChaCha8 seeded with `seed`, stream `n`. The rules
//! that apply to the request's system are walked in the order written, summing their
//! probabilities; the first rule whose running sum exceeds `u` fires. So a request gets at most
//! one fault, and the same seed and request order give the same faults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::Error;

/// The help text of `pslake sandbox --faults`.
pub const FAULTS_HELP: &str = "\
Inject faults into the sandbox's responses. SPEC is a comma-separated list of tokens:

  KIND[@SYSTEM]=P[:DELAY]  fire fault KIND with probability P (0..1) on each request
                           (on SYSTEM's routes only when @SYSTEM is given)
  system=S1[+S2...]        only fault requests to these systems
  seed=N                   seed of the fault draw (default 0)

KIND is one of
  rate_limit    the vendor's own rate-limit answer: Salesforce 403 REQUEST_LIMIT_EXCEEDED
                (no Retry-After), HubSpot 429 RATE_LIMIT, NetSuite 429 CONCURRENCY_LIMIT_EXCEEDED,
                Kantata and Workday 429; all 429s carry Retry-After: 1
  error500      500 with a vendor-shaped error body
  error503      503 with a vendor-shaped error body and Retry-After: 1
  slow          answer normally after DELAY (e.g. 1500ms, 2s; default 1000ms)
  truncate      declare the full Content-Length, send part of the body, close the connection
  reset         close the connection without any response
  expire_token  Salesforce only: 401 INVALID_SESSION_ID for a valid token, which is revoked,
                so the client must fetch a new one
SYSTEM is one of salesforce, hubspot, netsuite, kantata, workday, treasury.

Each request gets at most one fault: the probabilities that apply to one system must add up
to at most 1. Requests are numbered in arrival order; the draw for request n depends only on
the seed and n, so the same seed and the same request order give the same faults. The OAuth
token endpoint and /health are never faulted.

Example: rate_limit=0.05,error500=0.02,error503=0.02,slow=0.01:1500ms,truncate=0.01,reset=0.01,expire_token=0.01,seed=42
";

/// The systems the sandbox serves, as named in fault rules.
pub(crate) const SYSTEMS: &[&str] = &[
    "salesforce",
    "hubspot",
    "netsuite",
    "kantata",
    "workday",
    "treasury",
];

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The vendor's rate-limit response.
    RateLimit,
    /// HTTP 500 with a vendor-shaped body.
    Error500,
    /// HTTP 503 with a vendor-shaped body.
    Error503,
    /// A delay before the normal response.
    Slow,
    /// A body cut short after its full `Content-Length` was declared.
    Truncate,
    /// The connection closed without a response.
    Reset,
    /// Salesforce: a valid access token is revoked and answered with 401.
    ExpireToken,
}

impl FaultKind {
    /// The name used in `--faults`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Error500 => "error500",
            FaultKind::Error503 => "error503",
            FaultKind::Slow => "slow",
            FaultKind::Truncate => "truncate",
            FaultKind::Reset => "reset",
            FaultKind::ExpireToken => "expire_token",
        }
    }

    fn from_name(s: &str) -> Option<FaultKind> {
        Some(match s {
            "rate_limit" => FaultKind::RateLimit,
            "error500" => FaultKind::Error500,
            "error503" => FaultKind::Error503,
            "slow" => FaultKind::Slow,
            "truncate" => FaultKind::Truncate,
            "reset" => FaultKind::Reset,
            "expire_token" => FaultKind::ExpireToken,
            _ => return None,
        })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule of a [`FaultSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What to inject.
    pub kind: FaultKind,
    /// Only on this system's routes, when set.
    pub system: Option<&'static str>,
    /// Probability per request, in `[0, 1]`.
    pub probability: f64,
    /// The delay of a `slow` fault.
    pub delay: Duration,
}

impl FaultRule {
    fn applies_to(&self, system: &str) -> bool {
        match self.kind {
            FaultKind::ExpireToken => system == "salesforce",
            _ => self.system.is_none_or(|s| s == system),
        }
    }
}

/// A parsed `--faults` specification (grammar in [`FAULTS_HELP`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    /// The rules, in the order written.
    pub rules: Vec<FaultRule>,
    /// The seed of the draw.
    pub seed: u64,
    /// When set, only these systems are faulted.
    pub systems: Option<Vec<&'static str>>,
}

fn system_name(s: &str) -> Option<&'static str> {
    SYSTEMS.iter().copied().find(|n| *n == s)
}

fn parse_delay(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.trim().parse::<u64>().ok().map(Duration::from_millis);
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 3600.0)
            .map(Duration::from_secs_f64);
    }
    None
}

impl FaultSpec {
    /// Parse `--faults` (see [`FAULTS_HELP`]). An empty string means no faults.
    pub fn parse(s: &str) -> Result<FaultSpec, Error> {
        let mut spec = FaultSpec::default();
        for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let bad = |reason: String| Error::Fault {
                token: token.to_string(),
                reason,
            };
            let (name, value) = token
                .split_once('=')
                .ok_or_else(|| bad("expected KIND=PROBABILITY, seed=N or system=NAME".into()))?;
            let (name, value) = (name.trim(), value.trim());
            match name {
                "seed" => {
                    spec.seed = value
                        .parse()
                        .map_err(|e| bad(format!("seed must be an unsigned integer ({e})")))?;
                }
                "system" => {
                    let mut list = spec.systems.take().unwrap_or_default();
                    for s in value.split('+') {
                        let s = system_name(s.trim()).ok_or_else(|| {
                            bad(format!(
                                "unknown system '{s}', expected one of {}",
                                SYSTEMS.join(", ")
                            ))
                        })?;
                        if !list.contains(&s) {
                            list.push(s);
                        }
                    }
                    spec.systems = Some(list);
                }
                _ => {
                    let (kind, system) = match name.split_once('@') {
                        Some((k, s)) => (k, Some(s)),
                        None => (name, None),
                    };
                    let kind = FaultKind::from_name(kind).ok_or_else(|| {
                        bad(format!(
                            "unknown fault kind '{kind}', expected rate_limit, error500, error503, slow, truncate, reset or expire_token"
                        ))
                    })?;
                    let system = match system {
                        None => None,
                        Some(s) => Some(system_name(s).ok_or_else(|| {
                            bad(format!(
                                "unknown system '{s}', expected one of {}",
                                SYSTEMS.join(", ")
                            ))
                        })?),
                    };
                    if kind == FaultKind::ExpireToken && system.is_some_and(|s| s != "salesforce") {
                        return Err(bad("expire_token applies to salesforce only".into()));
                    }
                    let (p, delay) = match value.split_once(':') {
                        Some((p, d)) => {
                            if kind != FaultKind::Slow {
                                return Err(bad("only slow takes a delay (slow=P:DELAY)".into()));
                            }
                            let d = parse_delay(d.trim()).ok_or_else(|| {
                                bad(format!("delay '{d}' is not a duration like 1500ms or 2s"))
                            })?;
                            (p.trim(), d)
                        }
                        None => (value, Duration::from_millis(1000)),
                    };
                    let probability: f64 = p
                        .parse()
                        .ok()
                        .filter(|v: &f64| (0.0..=1.0).contains(v))
                        .ok_or_else(|| {
                            bad(format!("probability '{p}' is not a number between 0 and 1"))
                        })?;
                    if spec
                        .rules
                        .iter()
                        .any(|r| r.kind == kind && r.system == system)
                    {
                        return Err(bad("given twice".into()));
                    }
                    spec.rules.push(FaultRule {
                        kind,
                        system,
                        probability,
                        delay,
                    });
                    for sys in SYSTEMS {
                        let sum: f64 = spec
                            .rules
                            .iter()
                            .filter(|r| r.applies_to(sys))
                            .map(|r| r.probability)
                            .sum();
                        if sum > 1.0 + 1e-9 {
                            return Err(bad(format!(
                                "the probabilities for {sys} add up to {sum}, more than 1"
                            )));
                        }
                    }
                }
            }
        }
        Ok(spec)
    }

    /// The fault, if any, for request number `seq` to `system`.
    pub(crate) fn draw(&self, seq: u64, system: &str) -> Option<&FaultRule> {
        if self
            .systems
            .as_ref()
            .is_some_and(|list| !list.contains(&system))
        {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(seq);
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for rule in self.rules.iter().filter(|r| r.applies_to(system)) {
            acc += rule.probability;
            if u < acc {
                return Some(rule);
            }
        }
        None
    }
}

impl FromStr for FaultSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultSpec::parse(s)
    }
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

fn with_retry_after(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// A correlation id for error bodies, derived from the request number.
pub(crate) fn correlation_id(seq: u64) -> String {
    let x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (x >> 32) as u32,
        (x >> 16) as u16,
        (x & 0xfff) as u16,
        ((x >> 20) & 0xfff) as u16,
        x & 0xffff_ffff_ffff
    )
}

/// The vendor's rate-limit response.
pub(crate) fn rate_limited(system: &str, seq: u64) -> Response {
    match system {
        "salesforce" => json_response(
            StatusCode::FORBIDDEN,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        ),
        "hubspot" => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                r#"{{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"{}","policyName":"TEN_SECONDLY_ROLLING","groupName":"publicapi:hapikey-api-calls-ten-secondly:6748263"}}"#,
                correlation_id(seq)
            ),
        )),
        "netsuite" => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"type":"https://www.rfc-editor.org/rfc/rfc6585#section-4","title":"Too Many Requests","status":429,"o:errorDetails":[{"detail":"Concurrent request limit exceeded. Request blocked.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}"#,
        )),
        "kantata" => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"errors":[{"type":"rate_limit","message":"Rate limit exceeded. Please retry later."}]}"#,
        )),
        _ => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":"rate limit exceeded, retry later"}"#,
        )),
    }
}

/// The vendor's 500 or 503 response.
pub(crate) fn server_error(system: &str, seq: u64, unavailable: bool) -> Response {
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = match (system, unavailable) {
        ("salesforce", false) => format!(
            r#"[{{"message":"An unexpected error occurred. Please include this ErrorId if you contact support: {}","errorCode":"UNKNOWN_EXCEPTION"}}]"#,
            correlation_id(seq)
        ),
        ("salesforce", true) => {
            r#"[{"message":"Server temporarily unavailable, please retry","errorCode":"SERVER_UNAVAILABLE"}]"#.to_string()
        }
        ("hubspot", _) => format!(
            r#"{{"status":"error","message":"{}","correlationId":"{}","category":"{}"}}"#,
            if unavailable { "Service temporarily unavailable" } else { "internal error" },
            correlation_id(seq),
            if unavailable { "SERVICE_UNAVAILABLE" } else { "INTERNAL_ERROR" }
        ),
        ("netsuite", _) => format!(
            r#"{{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.{}","title":"{}","status":{},"o:errorDetails":[{{"detail":"{}","o:errorCode":"{}"}}]}}"#,
            if unavailable { 4 } else { 1 },
            if unavailable { "Service Unavailable" } else { "Internal Server Error" },
            status.as_u16(),
            if unavailable {
                "The service is temporarily unavailable. Try again later."
            } else {
                "An unexpected error occurred. Error ID: sandbox"
            },
            if unavailable { "SERVICE_UNAVAILABLE" } else { "UNEXPECTED_ERROR" }
        ),
        ("kantata", _) => format!(
            r#"{{"errors":[{{"type":"system","message":"{}"}}]}}"#,
            if unavailable { "Service Unavailable" } else { "Internal Server Error" }
        ),
        _ => format!(
            r#"{{"error":"{}"}}"#,
            if unavailable { "service unavailable" } else { "internal server error" }
        ),
    };
    let r = json_response(status, body);
    if unavailable { with_retry_after(r) } else { r }
}

fn fault_io_error(what: &str) -> std::io::Error {
    std::io::Error::other(format!("sandbox fault: {what}"))
}

/// A response whose body fails before any byte is written: hyper drops the connection without
/// sending the head.
pub(crate) fn reset() -> Response {
    let stream =
        futures::stream::once(async { Err::<Bytes, _>(fault_io_error("connection reset")) });
    Response::new(Body::from_stream(stream))
}

/// `resp` with its full `Content-Length` declared but only part of its body sent, then the
/// connection closed.
pub(crate) async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return reset(),
    };
    let full = bytes.len();
    let cut = (full / 2).min(full.saturating_sub(1));
    let first = bytes.slice(..cut);
    let stream = futures::stream::iter([Ok::<Bytes, std::io::Error>(first)]).chain(
        futures::stream::once(async {
            // Let hyper flush the head and the first part before the body fails.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(fault_io_error("truncated body"))
        }),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    Response::from_parts(parts, Body::from_stream(stream))
}

use futures::StreamExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s = FaultSpec::parse("rate_limit=0.05,error500=0.02,error503=0.02,slow=0.01:1500ms,truncate=0.01,reset=0.01,expire_token=0.01,seed=42").expect("valid");
        assert_eq!(s.seed, 42);
        assert_eq!(s.rules.len(), 7);
        assert_eq!(s.rules[3].delay, Duration::from_millis(1500));
        let s: FaultSpec = "rate_limit@hubspot=0.5,system=hubspot+kantata,slow=0.1:2s"
            .parse()
            .expect("valid");
        assert_eq!(s.rules[0].system, Some("hubspot"));
        assert_eq!(s.systems, Some(vec!["hubspot", "kantata"]));
        assert_eq!(s.rules[1].delay, Duration::from_secs(2));
    }

    #[test]
    fn rejects_bad_tokens() {
        let err = |s: &str| FaultSpec::parse(s).expect_err(s).to_string();
        assert!(err("rate_limit=abc").starts_with("bad fault 'rate_limit=abc': "));
        assert!(err("rate_limit=1.5").contains("between 0 and 1"));
        assert!(err("boom=0.1").contains("unknown fault kind"));
        assert!(err("rate_limit@sap=0.1").contains("unknown system"));
        assert!(err("rate_limit=0.6,error500=0.6").contains("more than 1"));
        assert!(err("slow=0.1:fast").contains("duration"));
        assert!(err("expire_token@kantata=0.1").contains("salesforce only"));
        assert!(err("seed=x").contains("seed"));
        assert!(err("rate_limit").contains("expected"));
    }

    #[test]
    fn draw_is_deterministic_and_respects_systems() {
        let s =
            FaultSpec::parse("rate_limit=0.3,error500=0.3,expire_token=0.2,seed=7").expect("valid");
        let a: Vec<_> = (0..200)
            .map(|n| s.draw(n, "kantata").map(|r| r.kind))
            .collect();
        let b: Vec<_> = (0..200)
            .map(|n| s.draw(n, "kantata").map(|r| r.kind))
            .collect();
        assert_eq!(a, b);
        assert!(!a.contains(&Some(FaultKind::ExpireToken)));
        assert!(a.contains(&Some(FaultKind::RateLimit)));
        assert!(a.contains(&None));
        let only = FaultSpec::parse("reset=1,system=hubspot").expect("valid");
        assert!(only.draw(0, "kantata").is_none());
        assert_eq!(
            only.draw(0, "hubspot").map(|r| r.kind),
            Some(FaultKind::Reset)
        );
    }
}
