//! Issue 14: the lake on S3. A real S3 API on loopback (moto's server mode, from the test
//! virtualenv that `scripts/test` makes), started and stopped by the test: the demo run with its
//! treasury file drop read from an S3 prefix, every command over the S3 lake, concurrent writers,
//! and Python `deltalake` reading the same bucket.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pslake_lake::{Lake, TableName, ops};

use crate::support::{CANONICAL, copy_project, repo_root, run_demo, show};

pub(crate) const BUCKET: &str = "pslake-test";

/// moto's S3 server on a free loopback port; killed when dropped.
pub(crate) struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test installs moto[server])");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto's server listens on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The environment that points object_store, delta-rs and boto3 at this server.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Runs a Python snippet with this server's environment; its stdout.
    pub(crate) fn python(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .envs(self.env())
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "python:\n{}", show(&out));
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// A lake handle on `url` with this server's options (the test process's own environment is
    /// left alone: other tests run beside it).
    pub(crate) fn lake(&self, url: &str) -> Lake {
        let options: HashMap<String, String> = self
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Lake::parse(url)
            .expect("lake")
            .with_storage_options(options)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bucket, and the treasury fixture files uploaded under `drop/treasury/`.
pub(crate) const SETUP: &str = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
s3.create_bucket(Bucket=sys.argv[1])
folder = sys.argv[2]
for name in sorted(os.listdir(folder)):
    s3.upload_file(os.path.join(folder, name), sys.argv[1], "drop/treasury/" + name)
    print(name)
"#;

/// `pslake` with `args`, run from `dir` with the server's environment.
pub(crate) fn pslake_s3(moto: &Moto, dir: &Path, args: &[&str]) -> Output {
    pslake_s3_cmd(moto, dir, args)
        .output()
        .expect("the pslake binary runs")
}

pub(crate) fn pslake_s3_cmd(moto: &Moto, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pslake"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Every row of `canonical.<t>` as `pslake query --format csv` prints it, sorted.
fn canonical_rows(out: Output, what: &str) -> Vec<String> {
    assert!(out.status.success(), "{what}:\n{}", show(&out));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    assert!(lines.len() > 1, "{what}: rows: {text}");
    lines
}

/// The demo on an S3 lake, its treasury files read from an S3 prefix, gives the same canonical
/// tables as the demo on a local lake, and every command that reads or writes a lake works on it.
#[test]
fn the_demo_on_s3_matches_the_local_lake_for_every_command() {
    let moto = Moto::start();
    let treasury = repo_root().join("fixtures/treasury");
    let uploaded = moto.python(SETUP, &[BUCKET, treasury.to_str().expect("utf8")]);
    assert!(
        uploaded.contains(".csv"),
        "treasury files uploaded: {uploaded}"
    );

    // The project, its treasury drop moved to the bucket.
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    copy_project(&project);
    let pipeline = project.join("pipelines/demo.yml");
    let text = fs_err::read_to_string(&pipeline).expect("demo.yml");
    let local_drop = "location: ${PSLAKE_FIXTURES:-fixtures}/treasury";
    assert!(text.contains(local_drop), "demo.yml names its drop");
    let s3_drop = format!("location: s3://{BUCKET}/drop/treasury");
    fs_err::write(&pipeline, text.replace(local_drop, &s3_drop)).expect("write demo.yml");

    let fixtures = repo_root().join("fixtures");
    let fixtures = fixtures.to_str().expect("utf8");
    let lake = format!("s3://{BUCKET}/lake");
    let run = pslake_s3(
        &moto,
        &project,
        &["run", "--fixtures", fixtures, "--lake", &lake],
    );
    assert!(run.status.success(), "run on S3:\n{}", show(&run));
    let (local, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &[]);
    assert!(out.status.success(), "local run:\n{}", show(&out));
    let local = local.to_str().expect("utf8").to_string();

    // The raw treasury table came from the S3 prefix: same rows as the local folder's.
    let fx_cols = "SELECT currency, month, usd_per_unit, _file FROM raw.treasury_fx_rates";
    let query = |lake: &str, sql: &str| {
        pslake_s3(
            &moto,
            &project,
            &["query", "--lake", lake, "--format", "csv", sql],
        )
    };
    assert_eq!(
        canonical_rows(query(&lake, fx_cols), "fx on S3"),
        canonical_rows(query(&local, fx_cols), "fx local")
    );

    // Every canonical table, read in one DataFusion session per lake (a `pslake query` each would
    // load the whole lake's Delta logs over HTTP 28 times).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = moto.lake(&lake);
    let on_disk = Lake::parse(&local).expect("local lake");
    let compare = |when: &str| {
        let ours = crate::support::canonical_tables(&rt, &s3);
        for ((t, rows), (_, theirs)) in ours
            .iter()
            .zip(crate::support::canonical_tables(&rt, &on_disk))
        {
            assert!(!rows.is_empty(), "{when}: canonical.{t} has rows");
            assert_eq!(
                *rows, theirs,
                "{when}: canonical.{t} differs between the S3 and the local lake"
            );
        }
    };
    compare("after run");

    // Read-only commands.
    for args in [
        vec!["status", "--lake", &lake, "--format", "json"],
        vec!["plan", "--lake", &lake],
        vec!["test", "--lake", &lake],
        vec!["show", "--lake", &lake, "canonical.bookings"],
        vec!["docs", "--lake", &lake, "--out", "site"],
    ] {
        let out = pslake_s3(&moto, &project, &args);
        assert!(out.status.success(), "{args:?}:\n{}", show(&out));
    }
    let status = pslake_s3(
        &moto,
        &project,
        &["status", "--lake", &lake, "--format", "json"],
    );
    let status: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status --format json");
    assert!(
        status["runs"].as_array().is_some_and(|r| !r.is_empty()),
        "status lists the run: {status}"
    );

    // Two writers at once: `pslake build` twice, concurrently. The lake lock (a conditional put of
    // `_pslake/lock`) makes the second wait; both succeed and no table version is lost.
    let bookings = TableName::new("canonical", "bookings");
    let before = rt
        .block_on(s3.version(&bookings))
        .expect("version")
        .expect("bookings exists");
    let build = || {
        pslake_s3_cmd(
            &moto,
            &project,
            &[
                "build",
                "--full-refresh",
                "--lake",
                &lake,
                "--lock-wait",
                "600",
            ],
        )
        .spawn()
        .expect("build starts")
    };
    let (first, second) = (build(), build());
    let first = first.wait_with_output().expect("first build");
    let second = second.wait_with_output().expect("second build");
    assert!(first.status.success(), "first build:\n{}", show(&first));
    assert!(second.status.success(), "second build:\n{}", show(&second));
    let waited = [&first, &second]
        .iter()
        .any(|o| String::from_utf8_lossy(&o.stderr).contains("locked by another writer"));
    assert!(
        waited,
        "one build waited for the other:\n{}\n{}",
        show(&first),
        show(&second)
    );
    let after = rt
        .block_on(s3.version(&bookings))
        .expect("version")
        .expect("bookings exists");
    assert_eq!(after, before + 2, "each full-refresh build committed once");
    let released = rt
        .block_on(ops::released_versions(&s3, None))
        .expect("releases")
        .expect("a release");
    assert_eq!(
        released.get(&bookings),
        Some(&after),
        "the last build is released"
    );

    // extract alone, then maintain with no retention: same rows.
    let out = pslake_s3(
        &moto,
        &project,
        &["extract", "--fixtures", fixtures, "--lake", &lake],
    );
    assert!(out.status.success(), "extract on S3:\n{}", show(&out));
    let out = pslake_s3(
        &moto,
        &project,
        &["maintain", "--lake", &lake, "--retention", "0s"],
    );
    assert!(out.status.success(), "maintain on S3:\n{}", show(&out));
    compare("after maintain");

    // serve over the S3 lake: psql reads what `pslake query` reads.
    let count = "SELECT count(*), sum(amount_usd) FROM canonical.bookings";
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let serve = crate::serve::Serve::start(&lake, &project, &[], &env);
    let served = serve.psql(&["-c", count]).trim().to_string();
    drop(serve);
    let queried = canonical_rows(query(&local, count), "count local");
    assert!(
        queried.contains(&served),
        "psql on the S3 lake printed {served:?}, the local lake {queried:?}"
    );

    // Python deltalake reads the same bucket: every canonical table, row for row.
    let script = repo_root().join("tests/python/read_table.py");
    for t in CANONICAL {
        let read = |lake: &str| {
            let out = Command::new("python3")
                .arg(&script)
                .args([lake, &format!("canonical.{t}"), "deltalake"])
                .envs(moto.env())
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "deltalake reads {t} at {lake}:\n{}",
                show(&out)
            );
            String::from_utf8(out.stdout).expect("utf8")
        };
        assert_eq!(read(&lake), read(&local), "canonical.{t}: Python deltalake");
    }
}

/// Concurrent Delta commits to one table on S3, from two lake handles (two writers that do not
/// share a process's memory): every commit lands once, at its own version, through the
/// conditional put (`If-None-Match: *`) that delta-rs uses on S3 when no locking provider is
/// configured; no row is lost or doubled.
#[test]
fn concurrent_appends_on_s3_each_land_once() {
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let moto = Moto::start();
    moto.python(
        "import os, sys, boto3\nboto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL']).create_bucket(Bucket=sys.argv[1])",
        &[BUCKET],
    );
    let url = format!("s3://{BUCKET}/appends");
    let (a, b) = (moto.lake(&url), moto.lake(&url));
    let table = TableName::new("raw", "numbers");
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch = |from: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(from..from + 100))],
        )
        .expect("batch")
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The table exists first (version 0), so the writers race on commits, not on creation.
    rt.block_on(a.append(&table, vec![batch(0)]))
        .expect("create");
    let versions = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 1..=12i64 {
            let lake = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (t, rows) = (table.clone(), batch(i * 100));
            tasks.push(tokio::spawn(
                async move { lake.append(&t, vec![rows]).await },
            ));
        }
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.expect("task").expect("append commits"));
        }
        versions
    });
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=12).collect::<Vec<i64>>(), "{versions:?}");
    let out = rt
        .block_on(a.query(
            "SELECT count(*) AS rows, count(DISTINCT n) AS distinct_n, sum(n) AS total FROM raw.numbers",
        ))
        .expect("query");
    // 13 appends of 100 consecutive numbers from 0: 0..1300, 1,300 rows, sum 1299 * 1300 / 2.
    assert_eq!(
        crate::support::lines(&out),
        vec![format!("1300|1300|{}", 1299 * 1300 / 2)]
    );
}
