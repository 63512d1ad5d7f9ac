//! `pslake sandbox --print-env`: the sandbox and `pslake run --pipeline pipelines/demo.yml` as
//! two processes, one `eval` apart.

use std::process::Command;

use crate::support::{repo_root, show};

#[test]
fn print_env_sets_up_a_shell_for_the_demo_pipeline_against_a_separate_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let script = r#"
eval "$("$PSLAKE" sandbox --print-env --listen 127.0.0.1:0 --fixtures "$FIX")"
[ -n "$PSLAKE_SANDBOX_PID" ] || { echo "no environment printed" >&2; exit 97; }
trap 'kill "$PSLAKE_SANDBOX_PID"' EXIT
echo "URL=$PSLAKE_SANDBOX_URL"
echo "KEYHEAD=$(printf '%s\n' "$NETSUITE_PRIVATE_KEY" | head -n 1)"
echo "KEYTAIL=$(printf '%s' "$NETSUITE_PRIVATE_KEY" | tail -n 1)"
echo "KEYLINES=$(printf '%s\n' "$NETSUITE_PRIVATE_KEY" | wc -l)"
"$PSLAKE" run --pipeline pipelines/demo.yml --lake "$LAKE"
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo_root())
        .env("PSLAKE", env!("CARGO_BIN_EXE_pslake"))
        .env("FIX", repo_root().join("fixtures"))
        .env("LAKE", &lake)
        .env("NO_COLOR", "1")
        .env_remove("PSLAKE_SANDBOX_URL")
        .env_remove("PSLAKE_FIXTURES")
        .output()
        .expect("bash runs");
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("URL=http://127.0.0.1:"), "{text}");
    assert!(
        stdout.contains("KEYHEAD=-----BEGIN PRIVATE KEY-----"),
        "{text}"
    );
    assert!(
        stdout.contains("KEYTAIL=-----END PRIVATE KEY-----"),
        "{text}"
    );
    assert!(
        stdout.contains("raw.netsuite_") && stdout.contains("canonical.bookings"),
        "the run landed NetSuite and built the models:\n{text}"
    );
}
