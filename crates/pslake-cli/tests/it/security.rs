//! Issue 10, security: planted secrets reach no output, log, lake file or run record; names
//! cannot leave the lake root; SQL through `pslake query` reads and writes nothing outside it.

use std::path::Path;
use std::process::Command;

use pslake_lake::{Lake, TableName};

use crate::support::{copy_project, pslake, pslake_in, repo_root, rows, show};

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn planted_secrets_appear_in_no_output_log_lake_file_or_run_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    // The sandbox in its own process; the run reads the credentials from the environment, logs
    // at trace level, and Workday fails for good (its errors name URLs and requests).
    let script = r#"
eval "$("$PSLAKE" sandbox --print-env --listen 127.0.0.1:0 --fixtures "$FIX" --faults error500@workday=1.0)"
trap 'kill "$PSLAKE_SANDBOX_PID"' EXIT
env | grep -E '^(SALESFORCE|HUBSPOT|NETSUITE|KANTATA|WORKDAY)_' | sed 's/^/SECRET /' > "$SECRETS"
printf 'SECRET NETSUITE_PRIVATE_KEY=%s\n' "$(printf '%s\n' "$NETSUITE_PRIVATE_KEY" | sed -n 2p)" >> "$SECRETS"
RUST_LOG=trace "$PSLAKE" run --pipeline pipelines/demo.yml --lake "$LAKE"
"#;
    let secrets_file = dir.path().join("secrets.txt");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo_root())
        .env("PSLAKE", env!("CARGO_BIN_EXE_pslake"))
        .env("FIX", repo_root().join("fixtures"))
        .env("LAKE", &lake_dir)
        .env("SECRETS", &secrets_file)
        .env("NO_COLOR", "1")
        .env_remove("PSLAKE_SANDBOX_URL")
        .env_remove("PSLAKE_FIXTURES")
        .output()
        .expect("bash runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "Workday is down:\n{}",
        show(&out)
    );
    let planted: Vec<(String, String)> = fs_err::read_to_string(&secrets_file)
        .expect("secrets written")
        .lines()
        .filter_map(|l| l.strip_prefix("SECRET "))
        .filter_map(|l| l.split_once('='))
        .filter(|(name, v)| {
            // ids are not secrets; the secrets are these (each at least 12 characters)
            (name.ends_with("SECRET")
                || name.ends_with("TOKEN")
                || name.ends_with("PASSWORD")
                || name.ends_with("PRIVATE_KEY"))
                && v.len() >= 12
        })
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert!(
        planted.len() >= 4,
        "the demo's secrets were planted: {planted:?}"
    );

    let mut places: Vec<(String, String)> = vec![
        ("stdout".into(), String::from_utf8_lossy(&out.stdout).into()),
        ("stderr".into(), String::from_utf8_lossy(&out.stderr).into()),
    ];
    assert!(
        places[1].1.contains("TRACE") || places[1].1.contains("DEBUG"),
        "the run logged at trace level"
    );
    // Every file of the lake as bytes (Delta logs, intents, the lock, Parquet)...
    for f in files(&lake_dir) {
        let bytes = fs_err::read(&f).expect("read");
        places.push((
            f.display().to_string(),
            String::from_utf8_lossy(&bytes).into(),
        ));
    }
    // ...and every table's rows, decoded (Parquet pages are compressed), the run records too.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let tables = rt.block_on(lake.list_tables()).expect("tables");
    assert!(tables.contains(&TableName::new("_pslake", "runs")));
    for t in tables {
        let text = rows(&rt, &lake, &format!("SELECT * FROM {t}")).join("\n");
        places.push((t.to_string(), text));
    }
    for (name, value) in &planted {
        for (place, text) in &places {
            assert!(!text.contains(value.as_str()), "{name} leaked into {place}");
        }
    }
}

#[test]
fn pslake_query_reads_and_writes_nothing_outside_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) =
        crate::support::run_demo(dir.path(), &repo_root().join("fixtures"), &["--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let lake = lake_dir.to_str().expect("utf8");
    let outside = dir.path().join("outside");
    fs_err::create_dir_all(&outside).expect("mkdir");
    let secret_file = outside.join("passwd.csv");
    fs_err::write(&secret_file, "user,hash\nroot,planted-hash-6d1f\n").expect("write");
    let target = outside.join("copied.csv");
    let (src, dst) = (
        secret_file.to_str().expect("utf8"),
        target.to_str().expect("utf8"),
    );
    let attempts = [
        format!("COPY (SELECT * FROM canonical.bookings) TO '{dst}' STORED AS CSV"),
        format!("COPY canonical.bookings TO '{dst}'"),
        format!("CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '{src}'"),
        format!("SELECT * FROM '{src}'"),
        format!("SELECT * FROM read_csv('{src}')"),
        format!("SELECT * FROM read_parquet('{src}')"),
        format!("SELECT * FROM \"file://{src}\""),
        "INSERT INTO canonical.bookings SELECT * FROM canonical.bookings".to_string(),
        "DELETE FROM canonical.bookings".to_string(),
        "DROP TABLE canonical.bookings".to_string(),
        "CREATE TABLE canonical.evil AS SELECT 1 AS x".to_string(),
        "CREATE VIEW canonical.evil AS SELECT 1 AS x".to_string(),
    ];
    let before: Vec<std::path::PathBuf> = files(&lake_dir);
    for sql in &attempts {
        let out = pslake(&["query", "--lake", lake, sql]);
        let text = show(&out);
        assert_ne!(out.status.code(), Some(0), "refused: {sql}\n{text}");
        assert!(!text.contains("planted-hash-6d1f"), "{sql} read the file");
        assert!(!target.exists(), "{sql} wrote outside the lake");
    }
    assert_eq!(
        files(&lake_dir),
        before,
        "the refused statements wrote nothing in the lake"
    );
}

#[test]
fn names_that_would_leave_the_lake_root_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A model whose file name a URL would decode into `../`.
    copy_project(dir.path());
    for (file, shown) in [
        ("sql/canonical/%2e%2e%2fescape.sql", "%2e%2e%2fescape"),
        ("sql/canonical/a.b.sql", "a.b"),
        ("sql/canonical/with space.sql", "with space"),
    ] {
        let path = dir.path().join(file);
        fs_err::write(&path, "SELECT 1 AS x\n").expect("write");
        let out = pslake_in(dir.path(), &["plan"]);
        let text = show(&out);
        assert_ne!(out.status.code(), Some(0), "{file}: refused\n{text}");
        assert!(
            text.contains(shown) && text.contains("letters, digits and `_`"),
            "{file}: the error names the file\n{text}"
        );
        fs_err::remove_file(&path).expect("rm");
    }

    // A pipeline stream whose table would be `raw.x_../../escape`.
    let pipeline = dir.path().join("pipelines/escape.yml");
    let demo = fs_err::read_to_string(repo_root().join("pipelines/demo.yml")).expect("demo");
    fs_err::write(
        &pipeline,
        demo.replacen("      - name: Account\n", "      - name: ../../escape\n", 1),
    )
    .expect("write");
    let out = pslake_in(
        dir.path(),
        &["validate", "--pipeline", pipeline.to_str().expect("utf8")],
    );
    let text = show(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("../../escape") && text.contains("lowercase letters, digits and `_`"),
        "{text}"
    );

    // A folder in the lake that is not a plain name is never read as a table.
    let lake_dir = dir.path().join("lake");
    let odd = lake_dir.join("canonical/odd%2fname/_delta_log");
    fs_err::create_dir_all(&odd).expect("mkdir");
    fs_err::write(odd.join("00000000000000000000.json"), "{}\n").expect("write");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let tables = rt.block_on(lake.list_tables()).expect("list");
    assert!(tables.is_empty(), "{tables:?}");
    assert_eq!(TableName::parse("canonical.odd%2fname"), None);
    assert_eq!(TableName::parse("../etc.passwd"), None);
    assert!(TableName::parse("canonical.bookings").is_some());
}
