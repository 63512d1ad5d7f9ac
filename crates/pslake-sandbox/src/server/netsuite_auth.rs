//! NetSuite's OAuth 2.0 machine-to-machine flow: `POST /services/rest/auth/oauth2/v1/token`
//! with `grant_type=client_credentials`,
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a JWT
//! `client_assertion` signed PS256 by the integration's certificate key.
//!
//! The sandbox holds the certificate's key pair ([`Credentials::netsuite_private_key`], a fixed
//! development key by default: the sandbox listens on loopback and serves synthetic data only)
//! and checks the assertion like NetSuite: header `alg` PS256 and `kid` = the certificate id,
//! claims `iss` = the client id, `aud` = the token URL, `scope` naming `rest_webservices`,
//! `exp` in the future and at most an hour after `iat`, and the RSASSA-PSS signature against the
//! public key. A malformed request or assertion is a 400 (`invalid_request`/`invalid_grant`), an
//! unknown client or certificate a 401 (`invalid_client`). Issued tokens live
//! [`SandboxConfig::netsuite_token_lifetime`](super::SandboxConfig::netsuite_token_lifetime)
//! (NetSuite: 60 minutes); an expired one is a 401 on the API.
//!
//! [`Credentials::netsuite_private_key`]: super::Credentials::netsuite_private_key

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use ring::signature::{KeyPair, RSA_PSS_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use super::AppState;
use super::error::{Error, Result};
use super::faults::json_response;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";

/// The fixed development key of the sandbox's NetSuite certificate (PKCS#8 PEM). Loopback
/// demo use only: it is public in this repository.
pub const DEV_PRIVATE_KEY: &str = include_str!("../../keys/netsuite_dev_key.pem");

/// Issued tokens and the certificate's public key.
pub(crate) struct NsAuth {
    public_key: Vec<u8>,
    lifetime: Duration,
    tokens: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for NsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsAuth")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl NsAuth {
    pub(crate) fn new(private_key_pem: &str, lifetime: Duration) -> Result<NsAuth> {
        let key = match PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .map_err(|e| Error::Key(e.to_string()))?,
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map_err(|e| Error::Key(e.to_string()))?,
            _ => return Err(Error::Key("not a PEM private key".into())),
        };
        Ok(NsAuth {
            public_key: key.public_key().as_ref().to_vec(),
            lifetime: lifetime.max(Duration::from_millis(1)),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn issue(&self) -> String {
        let mut b = [0u8; 24];
        rand::rng().fill(&mut b);
        let token = format!("ns-sandbox.{}", URL_SAFE_NO_PAD.encode(b));
        let now = Instant::now();
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|_, exp| *exp > now);
        t.insert(token.clone(), now + self.lifetime);
        token
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn valid(&self, token: &str) -> bool {
        let t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.get(token).is_some_and(|exp| Instant::now() < *exp)
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    json_response(status, body.to_string())
}

fn decode_json(part: &str) -> Option<serde_json::Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// NetSuite writes `expires_in` as a string of whole seconds; a test's sub-second life is
/// written with its fraction.
fn expires_in(life: Duration) -> String {
    if life.subsec_nanos() == 0 {
        life.as_secs().to_string()
    } else {
        format!("{:.3}", life.as_secs_f64())
    }
}

/// `POST /services/rest/auth/oauth2/v1/token`.
pub(crate) async fn token(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let bad = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    if get("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return bad(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        );
    }
    let assertion = get("client_assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return bad("client_assertion is not a JWT");
    };
    let (Some(header), Some(claims), Ok(sig)) =
        (decode_json(h), decode_json(c), URL_SAFE_NO_PAD.decode(sig))
    else {
        return bad("client_assertion is not a JWT");
    };
    if header.get("alg").and_then(|v| v.as_str()) != Some("PS256") {
        return grant("the assertion must be signed PS256");
    }
    let creds = &state.creds;
    if header.get("kid").and_then(|v| v.as_str()) != Some(creds.netsuite_certificate_id.as_str())
        || claims.get("iss").and_then(|v| v.as_str()) != Some(creds.netsuite_client_id.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client id or certificate id",
        );
    }
    let verifier = UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &state.ns_auth.public_key);
    let signed = &assertion[..h.len() + 1 + c.len()];
    if verifier.verify(signed.as_bytes(), &sig).is_err() {
        return grant("the assertion's signature does not match the certificate");
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a.ends_with(TOKEN_PATH),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.ends_with(TOKEN_PATH))),
        _ => false,
    };
    if !aud_ok {
        return grant("aud must be the token endpoint URL");
    }
    let scope_ok = match claims.get("scope") {
        Some(serde_json::Value::String(s)) => s.split([' ', ',']).any(|x| x == "rest_webservices"),
        Some(serde_json::Value::Array(a)) => {
            a.iter().any(|v| v.as_str() == Some("rest_webservices"))
        }
        _ => false,
    };
    if !scope_ok {
        return grant("scope must include rest_webservices");
    }
    let now = chrono::Utc::now().timestamp();
    let (Some(iat), Some(exp)) = (
        claims.get("iat").and_then(|v| v.as_i64()),
        claims.get("exp").and_then(|v| v.as_i64()),
    ) else {
        return grant("iat and exp are required");
    };
    if exp <= now {
        return grant("the assertion has expired");
    }
    if exp - iat > 3600 || iat > now + 60 {
        return grant("exp must be at most 3600 seconds after iat, and iat not in the future");
    }
    let token = state.ns_auth.issue();
    let body = serde_json::json!({
        "access_token": token,
        "expires_in": expires_in(state.ns_auth.lifetime),
        "token_type": "bearer",
    });
    json_response(StatusCode::OK, body.to_string())
}
