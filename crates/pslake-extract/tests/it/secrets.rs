//! Plant unique secrets, run with a failing 401 stream and a failing 500 stream, and look for
//! the secrets everywhere they could leak: captured logs, errors, the report, every table.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pslake_lake::Lake;
use pslake_sandbox::server::{Credentials, FaultSpec, Sandbox, SandboxConfig};

use crate::common::*;

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

#[tokio::test(flavor = "current_thread")]
async fn planted_secrets_never_leak() {
    let logs = Buf::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let tag = uuid::Uuid::new_v4().simple().to_string();
    let creds = Credentials {
        salesforce_client_id: format!("sfid-{tag}"),
        salesforce_client_secret: format!("sfsecret-{tag}"),
        hubspot_token: format!("hubtok-{tag}"),
        netsuite_token: format!("nstok-{tag}"),
        netsuite_client_id: format!("nsid-{tag}"),
        netsuite_certificate_id: format!("nscert-{tag}"),
        netsuite_private_key: pslake_sandbox::server::netsuite_auth::DEV_PRIVATE_KEY.to_string(),
        kantata_token: format!("kantok-{tag}"),
        workday_user: format!("wduser-{tag}"),
        workday_password: format!("wdpass-{tag}"),
        hubspot_client_secret: format!("hubclient-{tag}"),
        salesforce_callout_secret: format!("sfcallout-{tag}"),
    };
    let wrong_kantata = format!("kanwrong-{tag}");
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = copy_fixtures(tmp.path());
    let mut cfg = SandboxConfig::new(&fixtures);
    cfg.credentials = creds.clone();
    // NetSuite always fails with 500 (retries exhaust); Salesforce tokens expire now and then
    cfg.faults = Some(
        FaultSpec::parse("error500@netsuite=1.0,expire_token@salesforce=0.25,seed=5").unwrap(),
    );
    let sb = Sandbox::start(cfg).await.unwrap();

    // the secrets come from a secrets file named in the pipeline
    let secrets_file = tmp.path().join("secrets.env");
    let mut f = std::fs::File::create(&secrets_file).unwrap();
    for (k, v) in [
        ("SALESFORCE_CLIENT_ID", &creds.salesforce_client_id),
        ("SALESFORCE_CLIENT_SECRET", &creds.salesforce_client_secret),
        ("HUBSPOT_TOKEN", &creds.hubspot_token),
        ("NETSUITE_CLIENT_ID", &creds.netsuite_client_id),
        ("NETSUITE_CERTIFICATE_ID", &creds.netsuite_certificate_id),
        // a one-line secrets file holds the PEM with `\n` escapes
        (
            "NETSUITE_PRIVATE_KEY",
            &creds.netsuite_private_key.trim().replace('\n', "\\n"),
        ),
        ("KANTATA_TOKEN", &wrong_kantata),
        ("WORKDAY_USER", &creds.workday_user),
        ("WORKDAY_PASSWORD", &creds.workday_password),
    ] {
        writeln!(f, "{k}={v}").unwrap();
    }
    drop(f);
    let demo_text = std::fs::read_to_string(repo().join("pipelines/demo.yml")).unwrap();
    let text = demo_text
        .replace(
            "${PSLAKE_SANDBOX_URL:-http://127.0.0.1:7070}",
            &sb.base_url(),
        )
        .replace("${PSLAKE_FIXTURES:-fixtures}", fixtures.to_str().unwrap())
        .replace(
            "${PSLAKE_LAKE:-./lake}",
            tmp.path().join("lake").to_str().unwrap(),
        )
        .replace(
            "name: demo\n",
            &format!("name: demo\nsecrets_file: {}\n", secrets_file.display()),
        );
    let path = tmp.path().join("demo.yml");
    std::fs::write(&path, text).unwrap();
    let p = pslake_core::pipeline::load_pipeline(&path).unwrap_or_else(|e| panic!("{e:#?}"));
    let lake = Lake::parse(&p.lake).unwrap();
    let mut o = pslake_extract::ExtractOptions::new();
    o.max_parallel_streams = Some(16);
    let r = pslake_extract::extract(&p, &lake, &o).await.unwrap();
    let failed: Vec<String> = r
        .failed()
        .map(|s| format!("{}.{}: {:?}", s.system, s.stream, s.status))
        .collect();
    let expected: usize = p
        .systems
        .iter()
        .filter(|s| s.name == "kantata" || s.name == "netsuite")
        .map(|s| s.streams.len())
        .sum();
    assert_eq!(
        failed.len(),
        expected,
        "every kantata (401) and netsuite (500) stream fails: {failed:?}"
    );
    assert!(
        r.streams
            .iter()
            .any(|s| s.system == "salesforce" && s.landed > 0)
    );

    let mut haystack = String::new();
    haystack.push_str(&String::from_utf8_lossy(&logs.0.lock().unwrap()));
    haystack.push_str(&format!("{r:?}"));
    haystack.push_str(&serde_json::to_string(&r).unwrap());
    for t in lake.list_tables().await.unwrap() {
        let batches = lake.query(&format!("SELECT * FROM {t}")).await.unwrap();
        haystack.push_str(
            &arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string(),
        );
    }
    assert!(haystack.contains("returned 401"), "the failure is reported");
    let expired = sb
        .stats()
        .faults
        .iter()
        .filter(|(k, _)| format!("{k:?}").contains("Expire"))
        .map(|(_, n)| *n)
        .sum::<u64>();
    if expired > 0 {
        assert!(
            haystack.contains("refreshing the access token"),
            "token expiry was handled"
        );
    }
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.workday_user, creds.workday_password));
    for secret in [
        &creds.salesforce_client_secret,
        &creds.hubspot_token,
        &creds.netsuite_token,
        &creds.kantata_token,
        &wrong_kantata,
        &creds.workday_password,
        &basic,
        &"00DSANDBOX!".to_string(), // Salesforce access tokens issued by the sandbox
        &"ns-sandbox.".to_string(), // NetSuite access tokens issued by the sandbox
        &creds
            .netsuite_private_key
            .lines()
            .nth(1)
            .unwrap()
            .to_string(), // the PEM's first line
        &"eyJhbGciOiJQUzI1NiI".to_string(), // a NetSuite client assertion's header
    ] {
        assert!(
            !haystack.contains(secret.as_str()),
            "secret {secret} leaked"
        );
    }
    sb.shutdown().await;
}
