//! `pslake listen` with `pslake sandbox --webhook-target`, as separate processes over real HTTP:
//! a deal closed in the sandbox reaches `canonical.bookings`; a request with a bad signature is
//! refused with 401 and recorded in `_pslake.refused`; a delivery repeated adds nothing; an
//! event stored by a listener that then crashed is processed when the listener starts again.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pslake_lake::Lake;
use pslake_sandbox::server::Credentials;
use pslake_sandbox::server::webhooks::hubspot_v3_signature;

use crate::support::{pslake, repo_root, rows, show};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped; its stderr in a file.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn start(name: &str, dir: &Path, args: &[String], envs: &[(String, String)]) -> Proc {
        let stderr = dir.join(format!("{name}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_pslake"))
            .args(args)
            .current_dir(repo_root())
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("pslake starts");
        Proc { child, stderr }
    }

    fn log(&self) -> String {
        fs_err::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGKILL: a crash.
    fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(
    what: &str,
    timeout: Duration,
    mut ok: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}\n{}", log());
}

/// An open (not closed, not archived) HubSpot deal of the fixtures.
fn open_deal(fixtures: &Path) -> String {
    let text = fs_err::read_to_string(fixtures.join("hubspot/deals.jsonl")).expect("deals");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|d| {
            let p = &d["properties"];
            d["archived"] == false
                && p["hs_is_closed_won"] == "false"
                && !matches!(p["dealstage"].as_str(), Some("closedwon" | "closedlost"))
                && p["amount"].as_str().is_some_and(|a| !a.is_empty())
        })
        .and_then(|d| d["id"].as_str().map(str::to_string))
        .expect("an open deal in the fixtures")
}

#[test]
fn a_deal_closed_in_the_sandbox_reaches_bookings_and_bad_or_repeated_deliveries_add_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = repo_root().join("fixtures");
    let lake_dir = dir.path().join("lake");
    let lake_arg = lake_dir.to_str().expect("utf8").to_string();
    let out = pslake(&[
        "run",
        "--fixtures",
        fixtures.to_str().expect("utf8"),
        "--lake",
        &lake_arg,
    ]);
    assert!(out.status.success(), "first run:\n{}", show(&out));

    let creds = Credentials::default();
    let (sandbox_port, listen_port) = (free_port(), free_port());
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let listen_url = format!("http://127.0.0.1:{listen_port}");
    let sandbox = Proc::start(
        "sandbox",
        dir.path(),
        &[
            "sandbox".into(),
            "--fixtures".into(),
            fixtures.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{sandbox_port}"),
            "--webhook-target".into(),
            listen_url.clone(),
        ],
        &[],
    );
    let mut envs: Vec<(String, String)> = creds
        .demo_secrets()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    envs.push(("PSLAKE_SANDBOX_URL".into(), sandbox_url.clone()));
    envs.push(("PSLAKE_FIXTURES".into(), fixtures.display().to_string()));
    let start_listener = |name: &str, debounce: &str| {
        Proc::start(
            name,
            dir.path(),
            &[
                "listen".into(),
                "--pipeline".into(),
                "pipelines/demo.yml".into(),
                "--lake".into(),
                lake_arg.clone(),
                "--listen".into(),
                format!("127.0.0.1:{listen_port}"),
                "--debounce".into(),
                debounce.into(),
            ],
            &envs,
        )
    };
    let listener = start_listener("listen", "500ms");
    let logs = || {
        format!(
            "--- sandbox\n{}\n--- listen\n{}",
            sandbox.log(),
            listener.log()
        )
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let up = |url: String| {
        rt.block_on(async {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
    };
    wait_until(
        "the sandbox and the listener to answer",
        Duration::from_secs(120),
        || up(format!("{sandbox_url}/health")) && up(format!("{listen_url}/_pslake/health")),
        logs,
    );
    let lake = Lake::parse(&lake_arg).expect("lake");
    let deal = open_deal(&fixtures);
    let won = format!(
        "SELECT count(*) FROM canonical.bookings WHERE opportunity_id = '{deal}' AND event_type = 'won'"
    );
    assert_eq!(rows(&rt, &lake, &won), vec!["0"], "the deal is open before");

    // the salesperson closes the deal: the sandbox sends the signed webhook
    let resp = rt
        .block_on(
            http.post(format!(
                "{sandbox_url}/_sandbox/hubspot/deals/{deal}/close-won"
            ))
            .send(),
        )
        .expect("close-won");
    assert!(resp.status().is_success(), "close-won: {}", resp.status());
    wait_until(
        "the won booking in canonical.bookings",
        Duration::from_secs(180),
        || rows(&rt, &lake, &won) == vec!["1"],
        logs,
    );
    let processed = "SELECT count(*) FROM _pslake.events WHERE processed_run_id IS NOT NULL";
    assert_ne!(rows(&rt, &lake, processed), vec!["0"], "{}", logs());

    // a bad signature: 401, recorded, nothing stored
    let body = format!(
        r#"[{{"eventId":990001,"subscriptionType":"deal.propertyChange","objectId":{deal},"propertyName":"amount","propertyValue":"1","occurredAt":1}}]"#
    );
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let send = |signature: &str| {
        rt.block_on(
            http.post(format!("{listen_url}/hubspot"))
                .header("Content-Type", "application/json")
                .header("X-HubSpot-Signature-v3", signature)
                .header("X-HubSpot-Request-Timestamp", &ts)
                .body(body.clone())
                .send(),
        )
        .expect("POST /hubspot")
    };
    let bad = send(&hubspot_v3_signature(
        "not-the-secret",
        "POST",
        &format!("{listen_url}/hubspot"),
        body.as_bytes(),
        &ts,
    ));
    assert_eq!(bad.status(), 401);
    assert_eq!(
        rows(&rt, &lake, "SELECT reason FROM _pslake.refused"),
        vec!["signature does not match"]
    );
    let stored = "SELECT count(*) FROM _pslake.events WHERE event_id = '990001'";
    assert_eq!(rows(&rt, &lake, stored), vec!["0"]);

    // the same delivery twice: stored once, processed once, the booking once
    let good = hubspot_v3_signature(
        &creds.hubspot_client_secret,
        "POST",
        &format!("{listen_url}/hubspot"),
        body.as_bytes(),
        &ts,
    );
    let first = send(&good);
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = rt.block_on(first.json()).expect("json");
    assert_eq!(first["accepted"], 1, "{first}");
    let again = send(&good);
    assert_eq!(again.status(), 200, "a duplicate is acknowledged");
    let again: serde_json::Value = rt.block_on(again.json()).expect("json");
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (0.into(), 1.into())
    );
    wait_until(
        "the repeated event to be processed",
        Duration::from_secs(180),
        || {
            rows(
                &rt,
                &lake,
                "SELECT count(*) FROM _pslake.events WHERE event_id = '990001' AND processed_run_id IS NOT NULL",
            ) == vec!["1"]
        },
        logs,
    );
    assert_eq!(
        rows(&rt, &lake, stored),
        vec!["2"],
        "one received row and one processed row"
    );
    assert_eq!(rows(&rt, &lake, &won), vec!["1"], "still one won booking");
    drop(listener);

    // a crash between storing an event and its refresh: the next start processes it
    let crashing = start_listener("listen-crash", "10m");
    wait_until(
        "the listener to answer again",
        Duration::from_secs(120),
        || up(format!("{listen_url}/_pslake/health")),
        || crashing.log(),
    );
    let body = body.replace("990001", "990002");
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let signature = hubspot_v3_signature(
        &creds.hubspot_client_secret,
        "POST",
        &format!("{listen_url}/hubspot"),
        body.as_bytes(),
        &ts,
    );
    let resp = rt
        .block_on(
            http.post(format!("{listen_url}/hubspot"))
                .header("X-HubSpot-Signature-v3", &signature)
                .header("X-HubSpot-Request-Timestamp", &ts)
                .body(body.clone())
                .send(),
        )
        .expect("POST /hubspot");
    assert_eq!(resp.status(), 200, "{}", crashing.log());
    crashing.crash();
    let state =
        "SELECT count(*), count(processed_run_id) FROM _pslake.events WHERE event_id = '990002'";
    assert_eq!(
        rows(&rt, &lake, state),
        vec!["1|0"],
        "stored, not processed"
    );
    let restarted = start_listener("listen-restarted", "500ms");
    wait_until(
        "the stored event to be processed after the restart",
        Duration::from_secs(180),
        || rows(&rt, &lake, state) == vec!["2|1"],
        || restarted.log(),
    );
    drop(restarted);
    drop(sandbox);
}
