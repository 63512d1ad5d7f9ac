//! NetSuite's OAuth 2.0 client credentials with a PS256 JWT client assertion: the sandbox checks
//! the signature against its certificate and expires tokens; the extractor renews tokens before
//! they run out, so a run longer than a token's life completes; a wrong key fails the stream
//! with an error naming the system and not the key.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pslake_core::Sensitive;
use pslake_core::pipeline::{Pipeline, SystemKind};
use pslake_extract::{ExtractOptions, StreamStatus};
use pslake_lake::Lake;
use pslake_sandbox::server::{Sandbox, SandboxConfig};

use crate::common::*;

const WRONG_KEY: &str = include_str!("../../../pslake-sandbox/keys/wrong_key_for_tests.pem");
const TOKEN_ROUTE: &str = "POST /services/rest/auth/oauth2/v1/token";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

/// The NetSuite streams of the demo pipeline, selected; the system's rate limit set to `rate`.
fn netsuite_only(mut p: Pipeline, rate: Option<f64>) -> (Pipeline, Vec<String>) {
    let mut select = Vec::new();
    for sys in p.systems.iter_mut().filter(|s| s.name == "netsuite") {
        if let SystemKind::Rest(c) = &mut sys.kind
            && rate.is_some()
        {
            c.rate_limit = rate;
        }
        for st in &sys.streams {
            select.push(format!("netsuite.{}", st.name));
        }
    }
    assert!(!select.is_empty());
    (p, select)
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_longer_than_a_token_life_renews_the_token_before_it_expires() {
    let logs = Buf::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let mut cfg = SandboxConfig::new(&fixtures);
    cfg.netsuite_token_lifetime = Duration::from_secs(1);
    let sb = Sandbox::start(cfg).await.unwrap();
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    // 1 request a second: the run takes several token lives
    let (p, select) = netsuite_only(demo(&sb.base_url(), &fixtures, &lake_dir), Some(1.0));
    let mut o = options(true);
    o.select = select;
    let started = std::time::Instant::now();
    let r = run(&p, &lake, &o).await;
    let took = started.elapsed();
    for s in &r.streams {
        assert!(
            matches!(s.status, StreamStatus::Succeeded),
            "{}.{}: {:?}",
            s.system,
            s.stream,
            s.status
        );
    }
    let stats = sb.stats();
    let tokens = stats.requests.get(TOKEN_ROUTE).copied().unwrap_or(0);
    let api = stats
        .requests
        .get("POST /services/rest/query/v1/suiteql")
        .copied()
        .unwrap_or(0);
    assert!(
        took > Duration::from_secs(3),
        "the run outlives a token several times ({took:?}, {api} requests)"
    );
    assert!(tokens >= 3, "tokens were renewed: {tokens} in {took:?}");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("access token about to expire, renewing it"),
        "renewed proactively"
    );
    assert!(
        !text.contains("401 from the API"),
        "no request went out with an expired token"
    );
    // the key and the tokens stay out of the logs
    assert!(!text.contains("ns-sandbox."), "a token leaked");
    assert!(!text.contains("eyJhbGciOiJQUzI1NiI"), "an assertion leaked");
    sb.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_assertion_signed_by_another_key_is_refused_with_an_error_that_names_the_system() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let sb = Sandbox::start(SandboxConfig::new(&fixtures)).await.unwrap();
    let lake_dir = tmp.path().join("lake");
    let lake = Lake::parse(lake_dir.to_str().unwrap()).unwrap();
    let (p, select) = netsuite_only(demo(&sb.base_url(), &fixtures, &lake_dir), None);
    let mut o: ExtractOptions = options(true);
    o.select = select;
    o.secrets.insert(
        "NETSUITE_PRIVATE_KEY".into(),
        Sensitive::new(WRONG_KEY.to_string()),
    );
    let r = run(&p, &lake, &o).await;
    let key_line = WRONG_KEY.lines().nth(1).unwrap();
    for s in &r.streams {
        let StreamStatus::Failed { .. } = &s.status else {
            panic!("{}: a wrong key must fail, got {:?}", s.stream, s.status);
        };
        let shown = format!("{:?}", s.status);
        assert!(
            shown.contains("token endpoint of system netsuite refused"),
            "{shown}"
        );
        assert!(
            shown.contains("400") && shown.contains("signature"),
            "the error says the signature was refused: {shown}"
        );
        assert!(!shown.contains(key_line), "the key leaked: {shown}");
        assert!(
            !shown.contains("eyJhbGciOiJQUzI1NiI"),
            "the assertion leaked"
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_endpoint_checks_the_assertion_and_expires_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let mut cfg = SandboxConfig::new(&fixtures);
    cfg.netsuite_token_lifetime = Duration::from_millis(500);
    let sb = Sandbox::start(cfg).await.unwrap();
    let http = reqwest::Client::new();
    let token_url = format!("{}/services/rest/auth/oauth2/v1/token", sb.base_url());
    let post = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = token_url.clone();
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    // missing assertion: 400 invalid_request
    let (st, body) = post(vec![
        ("grant_type", "client_credentials".into()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        ("client_assertion", "not-a-jwt".into()),
    ])
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")));
    // an expired assertion is refused even though its signature is good
    let creds = pslake_sandbox::server::Credentials::default();
    let (st, body) = post(vec![
        ("grant_type", "client_credentials".into()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        (
            "client_assertion",
            sign_with_openssl(&creds, &token_url, -7200, -3700),
        ),
    ])
    .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // a good one gets a token, which works until it expires
    let (st, body) = post(vec![
        ("grant_type", "client_credentials".into()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        (
            "client_assertion",
            sign_with_openssl(&creds, &token_url, 0, 3600),
        ),
    ])
    .await;
    assert_eq!(st, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let query = |token: String| {
        // (status, body)
        let http = http.clone();
        let url = format!("{}/services/rest/query/v1/suiteql?limit=1", sb.base_url());
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Prefer", "transient")
                .json(&serde_json::json!({"q": "SELECT * FROM customer"}))
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            (st, r.text().await.unwrap())
        }
    };
    let (st, body) = query(token.clone()).await;
    assert_eq!(st, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (st, body) = query(token).await;
    assert_eq!(st, 401, "an expired token is refused: {body}");
    sb.shutdown().await;
}

/// An assertion for the sandbox's default credentials, signed PS256 by the openssl CLI (an
/// implementation independent of the extractor's), `iat`/`exp` relative to now.
fn sign_with_openssl(
    creds: &pslake_sandbox::server::Credentials,
    aud: &str,
    iat_off: i64,
    exp_off: i64,
) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = chrono::Utc::now().timestamp();
    let header =
        serde_json::json!({"alg": "PS256", "typ": "JWT", "kid": creds.netsuite_certificate_id});
    let claims = serde_json::json!({
        "iss": creds.netsuite_client_id, "scope": ["restlets", "rest_webservices"], "aud": aud,
        "iat": now + iat_off, "exp": now + exp_off,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, &creds.netsuite_private_key).unwrap();
    let data = dir.path().join("in");
    std::fs::write(&data, &input).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
        ])
        .arg(&data)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{input}.{}", b64(&out.stdout))
}
