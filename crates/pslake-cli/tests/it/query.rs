//! `pslake query` and `pslake show` through the binary: a small project in a temp dir, the
//! session a model sees, each error printed once, a preview that writes nothing.

use std::path::Path;

use crate::support::{pslake, show};

fn project(root: &Path) {
    let files = [
        (
            "sql/staging/stg_things.sql",
            "SELECT CAST(id AS BIGINT) AS id, label FROM seeds.things",
        ),
        (
            "models/seeds/things.csv",
            "id,label\n1,one\n2,two\n3,three\n",
        ),
        (
            "sql/canonical/things.sql",
            "SELECT s.id, s.label, r.as_of FROM staging.stg_things s CROSS JOIN pslake.run_context r",
        ),
    ];
    for (rel, text) in files {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs_err::write(path, text).expect("write");
    }
    // An empty lake: `query` and `show` read a lake that exists (a missing one is an error).
    fs_err::create_dir_all(root.join("lake")).expect("mkdir lake");
}

fn run(root: &Path, args: &[&str]) -> std::process::Output {
    let (p, lake) = (root.to_str().expect("utf8"), root.join("lake"));
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--project",
        p,
        "--lake",
        lake.to_str().expect("utf8"),
        "--as-of",
        "2026-03-31",
        "--history-start",
        "2026-01-01",
    ]);
    pslake(&all)
}

#[test]
fn query_sees_views_seeds_and_run_context_and_says_each_error_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(dir.path());
    let out = run(
        dir.path(),
        &[
            "query",
            "--format",
            "csv",
            "SELECT s.id, t.label, r.as_of FROM staging.stg_things s JOIN seeds.things t ON CAST(t.id AS BIGINT) = s.id CROSS JOIN pslake.run_context r ORDER BY s.id",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "id,label,as_of\n1,one,2026-03-31\n2,two,2026-03-31\n3,three,2026-03-31\n"
    );
    let out = run(dir.path(), &["query", "--format", "csv", "SHOW TABLES"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    for t in [
        "staging,stg_things,VIEW",
        "canonical,things,VIEW",
        "seeds,things,BASE TABLE",
        "pslake,run_context,BASE TABLE",
    ] {
        assert!(text.contains(t), "{t} in SHOW TABLES:\n{text}");
    }
    let out = run(
        dir.path(),
        &["query", "SELECT nope FROM staging.stg_things"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        err.matches("No field named nope").count(),
        1,
        "the error once:\n{err}"
    );
    assert!(err.starts_with("error: query failed: "), "{err}");
}

#[test]
fn show_previews_a_model_without_publishing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(dir.path());
    let out = run(
        dir.path(),
        &[
            "show",
            "canonical.things",
            "--limit",
            "2",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows:\n{text}");
    assert_eq!(lines[0], "id,label,as_of");
    assert!(
        !dir.path().join("lake/canonical/things").exists(),
        "show publishes nothing"
    );
    let out = run(dir.path(), &["show", "no_such_model"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'no_such_model' is not a model"),
        "{}",
        show(&out)
    );
}
