//! Issue 14, part 2: model builds on an Apache Ballista cluster. A real scheduler and two
//! executors, each its own `pslake ballista` process on loopback, run the demo's model builds
//! over a lake on S3 (moto's server); every canonical table must equal the single-node build's,
//! and a build whose cluster is unreachable publishes nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pslake_lake::{Lake, TableName, ops};

use crate::object_store::{BUCKET, Moto, pslake_s3, pslake_s3_cmd};
use crate::support::{copy_project, repo_root, show};

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// The status line of `GET path` on `127.0.0.1:port`, if anything answers.
fn http_status(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().map(str::to_string)
}

/// `child`'s output, or a panic with `logs()` when it runs longer than `limit` (a job stuck on
/// the cluster must fail the test, not hang it).
fn within(child: Child, limit: Duration, logs: impl Fn() -> String) -> std::process::Output {
    let pid = child.id();
    // Read its output on another thread (a full pipe would stop the child), wait here.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("still running after {limit:?}:\n{}", logs());
        }
    }
}

/// A scheduler and two executors, separate `pslake ballista` processes; killed when dropped.
struct Cluster {
    children: Vec<(String, Child)>,
    port: u16,
    work_dirs: Vec<PathBuf>,
}

impl Cluster {
    fn start(moto: &Moto, dir: &Path, lake: &str) -> Cluster {
        let port = free_port();
        let log = |name: &str| {
            Stdio::from(std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file"))
        };
        let spawn = |name: &str, args: &[&str]| {
            let child = Command::new(env!("CARGO_BIN_EXE_pslake"))
                .arg("ballista")
                .args(args)
                .current_dir(dir)
                .envs(moto.env())
                .env("RUST_LOG", "info")
                .stdout(log(name))
                .stderr(log(&format!("{name}.err")))
                .spawn()
                .unwrap_or_else(|e| panic!("{name} starts: {e}"));
            (name.to_string(), child)
        };
        let mut cluster = Cluster {
            children: Vec::new(),
            port,
            work_dirs: Vec::new(),
        };
        let bind = format!("127.0.0.1:{port}");
        cluster.children.push(spawn(
            "scheduler",
            &[
                "scheduler",
                "--bind",
                &bind,
                "--min-executors",
                "2",
                "--lake",
                lake,
            ],
        ));
        for name in ["executor-1", "executor-2"] {
            let work = dir.join(name);
            fs_err::create_dir_all(&work).expect("work dir");
            let (flight, grpc) = (free_port().to_string(), free_port().to_string());
            cluster.children.push(spawn(
                name,
                &[
                    "executor",
                    "--scheduler",
                    &bind,
                    "--flight-port",
                    &flight,
                    "--grpc-port",
                    &grpc,
                    "--task-slots",
                    "1",
                    "--work-dir",
                    work.to_str().expect("utf8"),
                    "--lake",
                    lake,
                ],
            ));
            cluster.work_dirs.push(work);
        }
        // Ready once both executors have registered with the scheduler.
        let start = Instant::now();
        loop {
            let status = http_status(port, "/readyz");
            if status.as_deref().is_some_and(|s| s.contains(" 200")) {
                break;
            }
            for (name, child) in &mut cluster.children {
                if let Ok(Some(exit)) = child.try_wait() {
                    let err = fs_err::read_to_string(dir.join(format!("{name}.err.log")));
                    panic!("{name} exited with {exit}:\n{}", err.unwrap_or_default());
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the scheduler's /readyz says {status:?} after 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
    }

    /// The last lines of each process's log, for a failure's message.
    fn logs(&self, dir: &Path) -> String {
        let mut out = String::new();
        for (name, _) in &self.children {
            let text =
                fs_err::read_to_string(dir.join(format!("{name}.err.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            out.push_str(&format!("--- {name}:\n{tail}\n"));
        }
        out
    }

    /// The job folders an executor wrote shuffle files into.
    fn jobs(&self, executor: usize) -> usize {
        fs_err::read_dir(&self.work_dirs[executor])
            .map(|d| {
                d.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The released version of every canonical table.
fn released(rt: &tokio::runtime::Runtime, lake: &Lake) -> BTreeMap<TableName, i64> {
    rt.block_on(ops::released_versions(lake, None))
        .expect("releases")
        .expect("a release")
        .into_iter()
        .filter(|(t, _)| t.schema == "canonical")
        .collect()
}

#[test]
fn the_demo_built_on_a_ballista_cluster_equals_the_single_node_build() {
    let moto = Moto::start();
    moto.python(
        "import os, sys, boto3\nboto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL']).create_bucket(Bucket=sys.argv[1])",
        &[BUCKET],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    copy_project(&project);
    let fixtures = repo_root().join("fixtures");
    let fixtures = fixtures.to_str().expect("utf8");
    let lake_url = format!("s3://{BUCKET}/lake");
    let lake = moto.lake(&lake_url);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // The single-node run: extraction and every model in this process, on the S3 lake.
    let run = pslake_s3(
        &moto,
        &project,
        &["run", "--fixtures", fixtures, "--lake", &lake_url],
    );
    assert!(run.status.success(), "single-node run:\n{}", show(&run));
    let single_node = crate::support::canonical_tables(&rt, &lake);
    let before = released(&rt, &lake);

    // Unreachable cluster: the build fails, and every table stays at its released version.
    let nobody = format!("ballista://127.0.0.1:{}", free_port());
    let build = |engine: &str| {
        pslake_s3_cmd(
            &moto,
            &project,
            &[
                "build",
                "--full-refresh",
                "--lake",
                &lake_url,
                "--engine",
                engine,
            ],
        )
    };
    let failed = build(&nobody).output().expect("build runs");
    assert_eq!(failed.status.code(), Some(1), "{}", show(&failed));
    assert!(
        show(&failed).contains(&nobody),
        "the error names the engine:\n{}",
        show(&failed)
    );
    assert_eq!(
        released(&rt, &lake),
        before,
        "a failed build releases nothing"
    );

    // The same models on the cluster: a full refresh, so every table model's plan runs there.
    let cluster = Cluster::start(&moto, dir.path(), &lake_url);
    let engine = cluster.engine();
    let child = build(&engine).spawn().expect("build starts");
    let built = within(child, Duration::from_secs(600), || cluster.logs(dir.path()));
    assert!(
        built.status.success(),
        "build on the cluster:\n{}\n{}",
        show(&built),
        cluster.logs(dir.path())
    );
    // The one plan Ballista cannot take (a recursive CTE) ran in the client, and said so.
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(
        stderr.contains("runs in this process") && stderr.contains("RecursiveQueryExec"),
        "the fallback is reported:\n{stderr}"
    );
    let after = released(&rt, &lake);
    for (t, v) in &before {
        assert!(
            after.get(t).is_some_and(|a| a > v),
            "{t} was rebuilt and released on the cluster (before {v}, after {:?})",
            after.get(t)
        );
    }
    // Both executors ran tasks: each wrote shuffle files under its work dir for some job.
    for e in 0..2 {
        assert!(cluster.jobs(e) > 0, "executor {} ran no job", e + 1);
    }
    drop(cluster);

    for ((t, rows), (_, expected)) in crate::support::canonical_tables(&rt, &lake)
        .iter()
        .zip(&single_node)
    {
        assert!(!rows.is_empty(), "canonical.{t} has rows");
        assert_eq!(
            rows, expected,
            "canonical.{t} built on the cluster differs from the single-node build"
        );
    }
}
