//! `pslake serve` with the clients BI tools use: psql, psycopg, SQLAlchemy's inspector and the
//! PostgreSQL JDBC driver, against a demo lake built once. Answers are compared with
//! `pslake query` over the same lake, never with constants.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::support::{CANONICAL, pslake, repo_root, show};

const PASSWORD: &str = "serve-test-pw-7f3a";

/// The demo lake, built once for every test of this module (kept until the process ends).
fn demo_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &LAKE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let lake = dir.path().join("lake");
            let out = pslake(&["run", "--lake", lake.to_str().expect("utf8"), "--quiet"]);
            assert!(out.status.success(), "{}", show(&out));
            (dir, lake)
        })
        .1
}

/// A running `pslake serve`, stopped when dropped.
pub(crate) struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    /// `pslake serve` on `lake` (a folder or an object-store URL) with `env` added.
    pub(crate) fn start(
        lake: impl AsRef<std::ffi::OsStr>,
        project: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pslake"));
        cmd.args(["serve", "--lake"])
            .arg(lake)
            .args(["--listen", "127.0.0.1:0", "--project"])
            .arg(project)
            .args(extra)
            .env("PSLAKE_SERVE_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("pslake serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reads the address");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Serve { child, port }
    }

    fn demo() -> Serve {
        Serve::start(demo_lake(), &repo_root(), &[], &[])
    }

    /// psql with `args`, unaligned, tuples only; (success, stdout, stderr).
    fn psql_as(&self, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user={user} dbname=anything sslmode=disable",
                self.port
            ))
            .args(["-X", "-A", "-t", "-F", ","])
            .args(args)
            .env("PGPASSWORD", password)
            .output()
            .expect("psql runs (apt-get install postgresql-client)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn psql(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.psql_as("pslake", PASSWORD, args);
        assert!(ok, "psql {args:?} failed: {err}");
        out
    }

    /// The server's stderr so far (after stopping it).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        err
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pslake query --format csv` over `lake`, without the header.
fn query_csv(lake: &Path, sql: &str) -> String {
    let out = pslake(&[
        "query",
        "--lake",
        lake.to_str().expect("utf8"),
        "--format",
        "csv",
        sql,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().skip(1).map(|l| format!("{l}\n")).collect()
}

fn python_client(mode: &str, port: u16, user: &str) -> serde_json::Value {
    let script = repo_root().join("tests/python/serve_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args([mode, "127.0.0.1", &port.to_string(), user, "pslake"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .expect("python3 runs (scripts/test installs psycopg and sqlalchemy)");
    assert!(
        out.status.success(),
        "serve_client.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

const GROUP_BY: &str = "SELECT practice, count(*) AS n, sum(amount_usd) AS usd FROM canonical.bookings \
     WHERE practice IS NOT NULL GROUP BY practice ORDER BY practice";

#[test]
fn psql_browses_and_queries_like_pslake_query() {
    let serve = Serve::demo();
    let schemas = serve.psql(&["-c", "\\dn"]);
    for s in ["canonical", "raw", "_pslake"] {
        assert!(
            schemas.lines().any(|l| l.starts_with(&format!("{s},"))),
            "\\dn: {schemas}"
        );
    }
    let tables = serve.psql(&["-c", "\\dt canonical.*"]);
    for t in CANONICAL {
        assert!(
            tables.contains(&format!("canonical,{t},table")),
            "\\dt: {tables}"
        );
    }
    let columns = serve.psql(&["-c", "\\d canonical.bookings"]);
    // precision and scale from pg_attribute.atttypmod, as PostgreSQL prints them
    assert!(
        columns.contains("amount_usd,numeric(18,2)"),
        "\\d: {columns}"
    );
    assert!(columns.contains("booking_date,date"), "\\d: {columns}");
    // \d+: every column of the Delta schema, in order, with its description from the model.
    let verbose = serve.psql(&["-c", "\\d+ canonical.bookings"]);
    let described: Vec<&str> = verbose
        .lines()
        .filter_map(|l| l.split(',').next())
        .filter(|c| !c.is_empty())
        .collect();
    let delta = query_csv(
        demo_lake(),
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = 'canonical' AND table_name = 'bookings' ORDER BY ordinal_position",
    );
    assert_eq!(
        described,
        delta.lines().collect::<Vec<_>>(),
        "\\d+: {verbose}"
    );
    let models =
        fs_err::read_to_string(repo_root().join("models/canonical.yml")).expect("models yml");
    let amount_usd = verbose
        .lines()
        .find(|l| l.starts_with("amount_usd,numeric(18,2),"))
        .unwrap_or_else(|| panic!("\\d+: {verbose}"));
    // the type's own comma is not a field separator
    let amount_usd = amount_usd.replacen("numeric(18,2)", "numeric", 1);
    let description = amount_usd.splitn(9, ',').nth(8).unwrap_or_default();
    assert!(
        !description.is_empty() && models.contains(description),
        "{description:?} not in models/canonical.yml"
    );
    let through_psql = serve.psql(&["-c", GROUP_BY]);
    assert_eq!(through_psql, query_csv(demo_lake(), GROUP_BY));
    assert!(!through_psql.is_empty());
    // What BI tools send on connect.
    let info = serve.psql(&[
        "-c",
        "SELECT version(), current_database(), current_schema()",
        "-c",
        "SHOW server_version",
        "-c",
        "SET application_name = 'bi'",
        "-c",
        "DISCARD ALL",
        "-c",
        "SELECT count(*) FROM pg_catalog.pg_range",
    ]);
    assert!(info.starts_with("PostgreSQL 16"), "{info}");
    assert!(info.contains(",pslake,public"), "{info}");
    // Table and column comments from the lake's metadata (models/*.yml).
    let comments = serve.psql(&[
        "-c",
        "SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'canonical' AND c.relname = 'bookings'",
        "-c",
        "SELECT col_description(a.attrelid, a.attnum) FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'canonical' AND c.relname = 'bookings' AND a.attname = 'booking_id'",
    ]);
    let mut lines = comments.lines().filter(|l| !l.is_empty());
    let table_doc = lines.next().unwrap_or_default();
    let column_doc = lines.next().unwrap_or_default();
    assert!(
        !table_doc.is_empty() && !column_doc.is_empty(),
        "{comments}"
    );
    assert!(
        models.contains(column_doc.trim()),
        "{column_doc} not in models/canonical.yml"
    );
}

#[test]
fn read_only_statements_are_refused_and_change_nothing() {
    let serve = Serve::demo();
    let count = "SELECT count(*) FROM canonical.bookings";
    let before = serve.psql(&["-c", count]);
    for sql in [
        "INSERT INTO canonical.bookings SELECT * FROM canonical.bookings",
        "DELETE FROM canonical.bookings",
        "UPDATE canonical.bookings SET practice = 'x'",
        "CREATE TABLE canonical.evil AS SELECT 1",
        "DROP TABLE canonical.bookings",
        "COPY canonical.bookings FROM '/tmp/x.csv'",
        "SELECT pg_read_file('/etc/passwd')",
    ] {
        let (ok, _, err) = serve.psql_as("pslake", PASSWORD, &["-c", sql]);
        assert!(!ok, "{sql} was accepted");
        assert!(
            err.contains("read only") || err.contains("not allowed"),
            "{sql}: {err}"
        );
    }
    assert_eq!(serve.psql(&["-c", count]), before);
    assert_eq!(query_csv(demo_lake(), count), before);
}

#[test]
fn passwords_are_checked_and_never_logged() {
    let serve = Serve::demo();
    let (ok, _, err) = serve.psql_as("pslake", "wrong-password", &["-c", "SELECT 1"]);
    assert!(!ok, "a wrong password was accepted");
    assert!(err.to_lowercase().contains("password"), "{err}");
    let (ok, _, _) = serve.psql_as("nobody", PASSWORD, &["-c", "SELECT 1"]);
    assert!(!ok, "an unknown user was accepted");
    let log = serve.stop();
    assert!(!log.contains(PASSWORD), "the password is in the log");
    // No users and no PSLAKE_SERVE_PASSWORD: serve refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_pslake"))
        .args(["serve", "--lake", demo_lake().to_str().expect("utf8")])
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("PSLAKE_SERVE_PASSWORD")
        .current_dir(repo_root())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        show(&out).contains("PSLAKE_SERVE_PASSWORD"),
        "{}",
        show(&out)
    );
}

#[test]
fn an_analyst_reads_canonical_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs_err::write(
        dir.path().join("pslake.yml"),
        "serve:\n  users:\n    - name: analyst\n      password: ${env:TEST_ANALYST_PW}\n      schemas: [canonical]\n    - name: admin\n      password: ${env:TEST_ADMIN_PW}\n",
    )
    .expect("write pslake.yml");
    let serve = Serve::start(
        demo_lake(),
        dir.path(),
        &[],
        &[("TEST_ANALYST_PW", "an-pw"), ("TEST_ADMIN_PW", "ad-pw")],
    );
    let (ok, out, err) = serve.psql_as("analyst", "an-pw", &["-c", "\\dn"]);
    assert!(ok, "{err}");
    assert!(out.contains("canonical,") && !out.contains("raw,"), "{out}");
    let (ok, _, err) = serve.psql_as(
        "analyst",
        "an-pw",
        &["-c", "SELECT count(*) FROM raw.salesforce_opportunity"],
    );
    assert!(
        !ok && err.contains("permission denied for schema raw"),
        "{err}"
    );
    let (ok, out, err) = serve.psql_as(
        "analyst",
        "an-pw",
        &["-c", "SELECT count(*) FROM canonical.margin"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        query_csv(demo_lake(), "SELECT count(*) FROM canonical.margin")
    );
    let (ok, out, err) = serve.psql_as("admin", "ad-pw", &["-c", "\\dn"]);
    assert!(ok && out.contains("raw,"), "{out}{err}");
    // With users configured, the default user is not there.
    let (ok, _, _) = serve.psql_as("pslake", PASSWORD, &["-c", "SELECT 1"]);
    assert!(!ok);
}

#[test]
fn psycopg_parameters_cursors_and_types() {
    let serve = Serve::demo();
    let v = python_client("psycopg", serve.port, "pslake");
    let expected = query_csv(
        demo_lake(),
        "SELECT practice, count(*), sum(amount_usd) FROM canonical.bookings \
         WHERE booking_date >= DATE '2000-01-01' AND amount_usd > 0 GROUP BY practice ORDER BY practice",
    );
    let got: String = v["by_practice"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            format!(
                "{},{},{}\n",
                r[0].as_str().unwrap_or(""),
                r[1],
                r[2].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(got, expected);
    let types = &v["types"];
    assert_eq!(types[0]["type"], "Decimal");
    assert_eq!(
        types[0]["exponent"], -2,
        "DECIMAL(18,2) keeps its scale: {types}"
    );
    assert_eq!(types[1]["type"], "date");
    assert_eq!(types[2]["type"], "datetime");
    assert_eq!(types[2]["tz"], true, "timestamps with time zone: {types}");
    assert_eq!(types[3]["type"], "bool");
    assert_eq!(types[4]["type"], "None");
    let rows = query_csv(demo_lake(), "SELECT count(*) FROM canonical.bookings");
    assert_eq!(v["cursor_rows"].to_string(), rows.trim());
}

#[test]
fn sqlalchemy_inspector_lists_schemas_and_tables() {
    let serve = Serve::demo();
    let v = python_client("inspect", serve.port, "pslake");
    let schemas: Vec<&str> = v["schemas"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for s in ["canonical", "raw", "_pslake"] {
        assert!(schemas.contains(&s), "{schemas:?}");
    }
    let tables: Vec<&str> = v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for t in CANONICAL {
        assert!(tables.contains(t), "{tables:?}");
    }
    // get_columns: the Delta schema as `pslake query` reads it, in order, with the type
    // SQLAlchemy reflects for each Arrow type.
    let expected: Vec<(String, String)> = query_csv(
        demo_lake(),
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'canonical' AND table_name = 'bookings' ORDER BY ordinal_position",
    )
    .lines()
    .map(|l| {
        let (name, arrow) = l.split_once(',').expect("name,type");
        (name.to_string(), sqlalchemy_type(arrow.trim_matches('"')))
    })
    .collect();
    let got: Vec<(String, String)> = v["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns: {v}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(expected.len() > 3, "{expected:?}");
    assert_eq!(got, expected);
    // The column comments are the model's documentation.
    let models =
        fs_err::read_to_string(repo_root().join("models/canonical.yml")).expect("models yml");
    let comment = v["columns"][0]["comment"].as_str().unwrap_or_default();
    assert!(
        !comment.is_empty() && models.contains(comment),
        "{comment:?} not in models/canonical.yml"
    );
}

/// The type SQLAlchemy's PostgreSQL dialect reflects for a column of `arrow` type (as
/// `information_schema.columns.data_type` spells it).
fn sqlalchemy_type(arrow: &str) -> String {
    let t = match arrow {
        "Utf8" | "LargeUtf8" | "Utf8View" => "TEXT",
        "Date32" | "Date64" => "DATE",
        "Boolean" => "BOOLEAN",
        "Int16" => "SMALLINT",
        "Int32" => "INTEGER",
        "Int64" => "BIGINT",
        "Float32" => "REAL",
        "Float64" => "DOUBLE PRECISION",
        a if a.starts_with("Decimal") => {
            // Decimal128(18, 2) -> NUMERIC(18, 2), as SQLAlchemy reflects numeric(18,2)
            let args = a
                .split_once('(')
                .map(|(_, r)| r.trim_end_matches(')'))
                .unwrap_or_default();
            return format!("NUMERIC({args})");
        }
        a if a.starts_with("Timestamp") => "TIMESTAMP",
        other => panic!("no SQLAlchemy type known for {other}"),
    };
    t.to_string()
}

#[test]
fn jdbc_metadata_and_query() {
    let jar = Path::new("/usr/share/java/postgresql.jar");
    assert!(
        jar.exists(),
        "the PostgreSQL JDBC driver is missing: scripts/test installs libpostgresql-jdbc-java"
    );
    let classes = tempfile::tempdir().expect("temp dir");
    let out = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .arg(repo_root().join("tests/jdbc/ServeJdbc.java"))
        .output()
        .expect("javac runs");
    assert!(out.status.success(), "{}", show(&out));
    let serve = Serve::demo();
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{}", jar.display(), classes.path().display()))
        .args(["ServeJdbc", &serve.port.to_string(), "pslake"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .expect("java runs");
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("schemas=").contains("canonical,"), "{text}");
    for t in CANONICAL {
        assert!(line("tables=").contains(&format!("{t},")), "{text}");
    }
    // getColumns: COLUMN_SIZE and DECIMAL_DIGITS are the precision and scale
    assert!(
        line("columns=").contains("amount_usd:numeric(18,2)"),
        "{text}"
    );
    assert!(line("columns=").contains("booking_date:date"), "{text}");
    assert_eq!(line("usd_type="), "numeric");
    let rows: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("row="))
        .map(|l| format!("{}\n", l.replace('|', ",").replace(",null", ",")))
        .collect();
    let expected = query_csv(
        demo_lake(),
        "SELECT practice, count(*), sum(amount_usd) FROM canonical.bookings GROUP BY practice ORDER BY practice",
    );
    assert_eq!(rows, expected);
}

#[test]
fn limits_fail_one_query_and_the_server_keeps_answering() {
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &[
            "--statement-timeout",
            "2s",
            "--memory-limit-per-query",
            "16KiB",
            "--max-connections",
            "2",
        ],
        &[],
    );
    // A cross join of every time entry with itself twice: more than the 16 KiB pool.
    let (ok, _, err) = serve.psql_as(
        "pslake",
        PASSWORD,
        &["-c", "SELECT count(*) FROM canonical.fct_time_entry a, canonical.fct_time_entry b, canonical.fct_time_entry c WHERE a.employee_id || b.employee_id || c.employee_id = 'x'"],
    );
    assert!(!ok && err.contains("Resources exhausted"), "{err}");
    let count = "SELECT count(*) FROM canonical.bookings";
    assert_eq!(serve.psql(&["-c", count]), query_csv(demo_lake(), count));
    // Two connections held: the third is refused with "too many clients".
    let hold = |_: ()| {
        let script = repo_root().join("tests/python/serve_client.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "hold",
                "127.0.0.1",
                &serve.port.to_string(),
                "pslake",
                "pslake",
            ])
            .env("PGPASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert_eq!(line.trim(), "ready");
        child
    };
    let mut held = vec![hold(()), hold(())];
    let (ok, _, err) = serve.psql_as("pslake", PASSWORD, &["-c", "SELECT 1"]);
    assert!(!ok && err.contains("too many clients"), "{err}");
    for c in &mut held {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(serve.psql(&["-c", "SELECT 1"]).trim(), "1");
}

/// A query that streams 10^10 rows through an aggregate: minutes of work in a few bytes of
/// memory. (Not a cross join: DataFusion's cross join makes its batches without yielding to
/// the runtime, so the timeout cannot fire until it ends; see docs/serve.md.)
const LONG_QUERY: &str = "SELECT sum(value % 7) FROM range(0, 10000000000)";

/// psql's (success, stderr) for `args` and how long it took.
fn timed_psql(serve: &Serve, args: &[&str]) -> (bool, String, std::time::Duration) {
    let started = std::time::Instant::now();
    let (ok, _, err) = serve.psql_as("pslake", PASSWORD, args);
    (ok, err, started.elapsed())
}

#[test]
fn the_statement_timeout_ends_a_long_query_and_the_server_keeps_answering() {
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &["--statement-timeout", "1s"],
        &[],
    );
    let (ok, err, took) = timed_psql(&serve, &["-c", LONG_QUERY]);
    assert!(!ok, "the long query finished within the timeout");
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    let count = "SELECT count(*) FROM canonical.bookings";
    assert_eq!(serve.psql(&["-c", count]), query_csv(demo_lake(), count));
    let log = serve.stop();
    assert!(!log.contains(PASSWORD), "the password is in the log");

    // A client's SET statement_timeout lowers the server's (30s here) for its session.
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &["--statement-timeout", "30s"],
        &[],
    );
    let (ok, err, took) = timed_psql(
        &serve,
        &["-c", "SET statement_timeout = '500ms'", "-c", LONG_QUERY],
    );
    assert!(!ok && err.contains("statement timeout"), "{err}");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    assert_eq!(serve.psql(&["-c", count]), query_csv(demo_lake(), count));
}

/// Billions of rows out of two small inputs: a join makes them without reading anything more.
const CROSS_JOIN: &str =
    "SELECT sum((a.value * b.value) % 7) FROM range(0, 100000) a, range(0, 100000) b";

#[test]
fn a_runaway_cross_join_is_ended_by_the_timeout_while_others_are_answered() {
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &["--statement-timeout", "2s"],
        &[],
    );
    let (ok, err, took) = timed_psql(&serve, &["-c", CROSS_JOIN]);
    assert!(!ok, "10^10 rows within 2 s?");
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{err}"
    );
    // Before the joins yielded (crate::coop in pslake-serve) this took 77 s.
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");

    // Two runaway joins under a longer timeout hold both cores; a third client is still answered.
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &["--statement-timeout", "20s"],
        &[],
    );
    let spawn = || {
        let port = serve.port.to_string();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let out = Command::new("psql")
                .arg(format!(
                    "host=127.0.0.1 port={port} user=pslake dbname=pslake sslmode=disable"
                ))
                .args(["-X", "-A", "-t", "-c", CROSS_JOIN])
                .env("PGPASSWORD", PASSWORD)
                .output()
                .expect("psql");
            (out, started.elapsed())
        })
    };
    let runaways = [spawn(), spawn()];
    std::thread::sleep(std::time::Duration::from_secs(2));
    let count = "SELECT count(*) FROM canonical.bookings";
    let started = std::time::Instant::now();
    assert_eq!(serve.psql(&["-c", count]), query_csv(demo_lake(), count));
    let answered = started.elapsed() + std::time::Duration::from_secs(2);
    let mut runaways_ended = Vec::new();
    for r in runaways {
        let (out, took) = r.join().expect("thread");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("statement timeout"),
            "{}",
            show(&out)
        );
        assert!(took < std::time::Duration::from_secs(40), "took {took:?}");
        runaways_ended.push(took);
    }
    // Answered while both runaways still held the cores, not once their timeout freed them (a
    // comparison, not a wall-clock limit, so a loaded machine does not make it flaky).
    let first_end = runaways_ended.into_iter().min().expect("two runaways");
    assert!(
        answered < first_end,
        "answered after {answered:?}, but the first runaway join ended at {first_end:?}"
    );
}

#[test]
fn tls_when_a_certificate_is_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", show(&out));
    let serve = Serve::start(
        demo_lake(),
        &repo_root(),
        &[
            "--tls-cert",
            cert.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
        ],
        &[],
    );
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=pslake dbname=pslake sslmode=require",
            serve.port
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM canonical.margin",
            "-c",
            "\\conninfo",
        ])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SSL connection"), "{text}");
}

#[test]
fn a_new_build_is_served_without_a_restart_and_a_half_published_one_is_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = dir.path().join("lake");
    let out = pslake(&["run", "--lake", lake.to_str().expect("utf8"), "--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let serve = Serve::start(&lake, &repo_root(), &[], &[]);
    let runs = "SELECT count(DISTINCT _run_id) FROM _pslake.runs";
    assert_eq!(serve.psql(&["-c", runs]).trim(), "1");

    // A commit to a canonical table that no run recorded (a build publishing, or one that
    // died half-way): not served.
    let count = "SELECT count(*) FROM canonical.bookings";
    let before = serve.psql(&["-c", count]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let l = pslake_lake::Lake::parse(lake.to_str().expect("utf8")).expect("lake");
        let t = pslake_lake::TableName::new("canonical", "bookings");
        let rows = l
            .query("SELECT * FROM canonical.bookings LIMIT 3")
            .await
            .expect("read");
        l.append(&t, rows).await.expect("append");
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        serve.psql(&["-c", count]),
        before,
        "a half-published table was served"
    );

    // A complete build: served without a restart.
    let out = pslake(&["run", "--lake", lake.to_str().expect("utf8"), "--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let mut seen = String::new();
    for _ in 0..20 {
        seen = serve.psql(&["-c", runs]);
        if seen.trim() == "2" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(seen.trim(), "2");
    assert_eq!(serve.psql(&["-c", count]), query_csv(&lake, count));
}

/// mimalloc asks for transparent huge pages on its arenas, and zeroing them cost a no-change
/// run a third of its CPU; pslake turns them off for its own process first thing in `main`.
/// The long-running server is the process to look at; the kernel reports the flag in
/// `/proc/PID/status` (`THP_enabled: 0` when the process has disabled them).
#[cfg(target_os = "linux")]
#[test]
fn the_process_runs_without_transparent_huge_pages() {
    let serve = Serve::demo();
    let path = format!("/proc/{}/status", serve.child.id());
    let status = fs_err::read_to_string(&path).expect("the server's status");
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .unwrap_or_else(|| panic!("no THP_enabled line in {path}:\n{status}"));
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{path}: {line}");
}
