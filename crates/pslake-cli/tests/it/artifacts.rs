//! Run records: `_pslake.runs` carries bytes, and every build leaves dbt-shaped `manifest.json`
//! and `run_results.json` under `<lake>/_pslake/artifacts/`.

use std::collections::BTreeSet;

use pslake_lake::Lake;

use crate::support::{repo_root, rows, run_demo, show};

#[test]
fn a_run_leaves_dbt_shaped_artifacts_and_run_records_with_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake_dir, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &["--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let read = |f: &str| -> serde_json::Value {
        let p = lake_dir.join("_pslake/artifacts").join(f);
        serde_json::from_slice(&fs_err::read(&p).expect("artifact written")).expect("json")
    };
    let manifest = read("manifest.json");
    let results = read("run_results.json");
    assert!(
        manifest["metadata"]["dbt_schema_version"]
            .as_str()
            .is_some_and(|s| s.contains("/manifest/")),
        "{}",
        manifest["metadata"]
    );
    assert!(
        results["metadata"]["dbt_schema_version"]
            .as_str()
            .is_some_and(|s| s.contains("/run-results/"))
    );
    assert_eq!(
        manifest["metadata"]["invocation_id"],
        results["metadata"]["invocation_id"]
    );

    // Every SQL model of the project is a model node with its SQL and materialization.
    let nodes = manifest["nodes"].as_object().expect("nodes");
    let mut sql_models = BTreeSet::new();
    for schema in fs_err::read_dir(repo_root().join("sql")).expect("sql/") {
        let schema = schema.expect("entry").path();
        if !schema.is_dir() {
            continue;
        }
        for f in fs_err::read_dir(&schema).expect("schema dir") {
            let f = f.expect("entry").path();
            if f.extension().is_some_and(|e| e == "sql") {
                sql_models.insert(format!(
                    "{}.{}",
                    schema.file_name().expect("name").to_string_lossy(),
                    f.file_stem().expect("stem").to_string_lossy()
                ));
            }
        }
    }
    let model_nodes: BTreeSet<String> = nodes
        .values()
        .filter(|n| n["resource_type"] == "model")
        .map(|n| {
            format!(
                "{}.{}",
                n["schema"].as_str().unwrap_or(""),
                n["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(model_nodes, sql_models);
    let margin = nodes
        .values()
        .find(|n| n["resource_type"] == "model" && n["name"] == "margin")
        .expect("margin node");
    assert_eq!(margin["config"]["materialized"], "table");
    let sql = fs_err::read_to_string(repo_root().join("sql/canonical/margin.sql")).expect("sql");
    assert_eq!(margin["raw_code"].as_str(), Some(sql.as_str()));
    // parent_map: the tables margin.sql reads, by their ids
    let id = margin["unique_id"].as_str().expect("id");
    let parents: Vec<&str> = manifest["parent_map"][id]
        .as_array()
        .expect("parents")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(!parents.is_empty(), "{parents:?}");
    for p in &parents {
        assert!(
            nodes.contains_key(*p) || manifest["sources"].get(p).is_some(),
            "{p} is a node or a source"
        );
        assert!(
            manifest["child_map"][p]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == id)),
            "child_map[{p}] names margin"
        );
    }

    // One result per model (all succeeded) and per test; each names a manifest node.
    let res = results["results"].as_array().expect("results");
    let model_results: Vec<&serde_json::Value> = res
        .iter()
        .filter(|r| {
            r["unique_id"]
                .as_str()
                .is_some_and(|u| u.starts_with("model."))
        })
        .collect();
    assert_eq!(model_results.len(), sql_models.len());
    assert!(
        model_results.iter().all(|r| r["status"] == "success"),
        "{model_results:?}"
    );
    let tests: Vec<&serde_json::Value> = res
        .iter()
        .filter(|r| {
            r["unique_id"]
                .as_str()
                .is_some_and(|u| u.starts_with("test."))
        })
        .collect();
    assert!(tests.len() > 20, "{}", tests.len());
    assert!(
        tests
            .iter()
            .all(|t| t["status"] == "pass" || t["status"] == "warn")
    );
    for r in res {
        let u = r["unique_id"].as_str().expect("id");
        assert!(nodes.contains_key(u), "{u} in the manifest");
    }
    let fct = model_results
        .iter()
        .find(|r| {
            r["unique_id"]
                .as_str()
                .is_some_and(|u| u.ends_with(".fct_time_entry"))
        })
        .expect("fct_time_entry result");

    // _pslake.runs: bytes written by the build and each published model, rows matching.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lake = Lake::parse(lake_dir.to_str().expect("utf8")).expect("lake");
    let build = rows(
        &rt,
        &lake,
        "SELECT bytes FROM _pslake.runs WHERE stage = 'build'",
    );
    assert!(
        build[0].parse::<i64>().is_ok_and(|b| b > 10_000),
        "{build:?}"
    );
    let fct_run = rows(
        &rt,
        &lake,
        "SELECT rows, bytes FROM _pslake.runs WHERE stage = 'model:canonical.fct_time_entry'",
    );
    let (n, b) = fct_run[0].split_once('|').expect("rows|bytes");
    assert_eq!(n, fct["adapter_response"]["rows_affected"].to_string());
    assert!(b.parse::<i64>().is_ok_and(|b| b > 1000), "{fct_run:?}");
}
