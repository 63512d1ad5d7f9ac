//! NetSuite's date-format preference is an account setting: the demo pipeline reads every date
//! with `TO_CHAR` and declares each column's format, so a run against an account that writes
//! `D/M/YYYY` gives the same canonical tables as one against the default `M/D/YYYY`.

use std::process::Command;

use pslake_lake::Lake;

use crate::support::{CANONICAL, repo_root, rows, run_demo, show};

#[test]
fn a_day_month_year_account_gives_the_same_canonical_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = repo_root().join("fixtures");
    // the default account (M/D/YYYY), through the embedded sandbox
    let (mdy, out) = run_demo(dir.path(), &fixtures, &[]);
    assert!(out.status.success(), "M/D/YYYY run:\n{}", show(&out));
    // a D/M/YYYY account: a separate sandbox, the demo pipeline pointed at it
    let dmy = dir.path().join("lake-dmy");
    let script = r#"
eval "$("$PSLAKE" sandbox --print-env --listen 127.0.0.1:0 --fixtures "$FIX" --netsuite-date-format D/M/YYYY)"
[ -n "$PSLAKE_SANDBOX_PID" ] || { echo "no environment printed" >&2; exit 97; }
trap 'kill "$PSLAKE_SANDBOX_PID"' EXIT
"$PSLAKE" run --pipeline pipelines/demo.yml --lake "$LAKE"
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo_root())
        .env("PSLAKE", env!("CARGO_BIN_EXE_pslake"))
        .env("FIX", &fixtures)
        .env("LAKE", &dmy)
        .env("NO_COLOR", "1")
        .env_remove("PSLAKE_SANDBOX_URL")
        .env_remove("PSLAKE_FIXTURES")
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "D/M/YYYY run:\n{}", show(&out));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let a = Lake::parse(mdy.to_str().expect("utf8")).expect("lake");
    let b = Lake::parse(dmy.to_str().expect("utf8")).expect("lake");
    // the raw dates are the same dates (not day and month swapped)
    let dates = "SELECT id, CAST(trandate AS VARCHAR), CAST(lastmodifieddate AS VARCHAR) \
                 FROM raw.netsuite_transaction";
    let raw_a = rows(&rt, &a, dates);
    assert!(raw_a.len() > 10);
    assert_eq!(raw_a, rows(&rt, &b, dates));
    for t in CANONICAL {
        let sql = format!("SELECT * FROM canonical.{t}");
        let (x, y) = (rows(&rt, &a, &sql), rows(&rt, &b, &sql));
        assert!(!x.is_empty(), "canonical.{t} has rows");
        assert_eq!(x, y, "canonical.{t}");
    }
}
