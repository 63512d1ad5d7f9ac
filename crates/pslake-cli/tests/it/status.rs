//! `pslake status`: the last runs, each stream's freshness against its pipeline's
//! `freshness: {warn_after, error_after}`, the released canonical tables, rejects and warnings.

use pslake_lake::{Lake, TableName};

use crate::support::{CANONICAL, pslake, repo_root, run_demo, show};

fn status_json(lake: &str) -> (Option<i32>, serde_json::Value) {
    let out = pslake(&["status", "--lake", lake, "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", show(&out)));
    (out.status.code(), v)
}

fn state_of<'a>(v: &'a serde_json::Value, system: &str, stream: &str) -> &'a str {
    v["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["system"] == system && s["stream"] == stream)
        .unwrap_or_else(|| panic!("{system}.{stream} in {v}"))["state"]
        .as_str()
        .expect("state")
}

#[test]
fn status_reports_runs_freshness_tables_rejects_and_flags_stale_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &["--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let lake_arg = lake_dir.to_str().expect("utf8");

    let (code, v) = status_json(lake_arg);
    assert_eq!(code, Some(0), "{v}");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[0]["pipeline"], "demo");
    // every stream of pipelines/demo.yml, just extracted: fresh
    let demo = pslake_core::pipeline::load_pipeline(&repo_root().join("pipelines/demo.yml"))
        .expect("pipelines/demo.yml loads");
    let declared: usize = demo.systems.iter().map(|s| s.streams.len()).sum();
    let streams = v["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), declared, "{v}");
    assert!(streams.iter().all(|s| s["state"] == "fresh"), "{streams:?}");
    // every canonical table at the release, with the rows `pslake query` counts
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_arg).expect("lake");
    let tables = v["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), CANONICAL.len());
    for t in CANONICAL {
        let row = tables
            .iter()
            .find(|x| x["table"] == format!("canonical.{t}"))
            .unwrap_or_else(|| panic!("canonical.{t}: {v}"));
        let n = crate::support::rows(&rt, &lake, &format!("SELECT count(*) FROM canonical.{t}"));
        assert_eq!(row["rows"].to_string(), n[0], "canonical.{t}");
        assert!(row["released_at"].is_string(), "{row}");
    }
    // rejects by rule with a sample key: the demo firm's unknown employees among them
    let rejects = v["rejects"].as_array().expect("rejects");
    let unknown = rejects
        .iter()
        .find(|r| r["rule"] == "unknown_employee")
        .unwrap_or_else(|| panic!("{rejects:?}"));
    assert!(unknown["rows"].as_i64().unwrap_or(0) > 0 && unknown["sample_key"].is_string());
    assert!(!v["warnings"].as_array().expect("warnings").is_empty());

    // Make the last extracts old: Kantata's three days (past error_after, 50h), Workday's 30
    // hours (past warn_after, 26h).
    let state = TableName::new("_pslake", "stream_state");
    let shifted = rt
        .block_on(lake.query(
            "SELECT system, stream, cursor, loaded_files, _run_id, rows_landed, raw_version, \
               CASE WHEN system = 'kantata' THEN updated_at - INTERVAL '3 days' \
                    WHEN system = 'workday' THEN updated_at - INTERVAL '30 hours' \
                    ELSE updated_at END AS updated_at, \
               reconciled_at \
             FROM _pslake.stream_state",
        ))
        .expect("read state");
    rt.block_on(lake.overwrite(&state, shifted))
        .expect("rewrite state");

    let (code, v) = status_json(lake_arg);
    assert_eq!(code, Some(1), "a stream past error_after fails status: {v}");
    assert_eq!(state_of(&v, "kantata", "time_entries"), "error");
    assert_eq!(state_of(&v, "workday", "Workers"), "warn");
    assert_eq!(state_of(&v, "salesforce", "Account"), "fresh");
    // every stream of demo.yml declares a freshness: all of Kantata's are stale (error), all of
    // Workday's are late (warn)
    let of = |system: &str| {
        demo.systems
            .iter()
            .find(|s| s.name == system)
            .map_or(0, |s| s.streams.len())
    };
    assert_eq!(v["stale_error"], of("kantata"), "Kantata's streams: {v}");
    assert_eq!(v["stale_warn"], of("workday"), "Workday's streams: {v}");

    let out = pslake(&["status", "--lake", lake_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text.lines()
            .any(|l| l.contains("kantata.time_entries") && l.contains("STALE (error)")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("workday.Workers") && l.contains("STALE (warn)")),
        "{text}"
    );
}
