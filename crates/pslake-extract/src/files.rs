//! File-drop streams (treasury `fx_rates_YYYY-MM.csv`): list a local folder or object-store
//! prefix, load each matching file not loaded before, one JSON object per CSV row in `_raw`.
//!
//! Invariant: a file's name joins the stream state's `loaded_files` only in the state commit
//! made after its rows are committed, so each file lands exactly once.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::value::RawValue;

use crate::batch::StreamPlan;
use crate::error::{Error, Result};
use crate::sink::Accumulator;

/// Whether `name` matches a pattern with `*` wildcards.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name.ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn open_store(location: &str) -> Result<(Arc<dyn ObjectStore>, ObjPath)> {
    let err = |message: String| Error::Files {
        location: location.to_string(),
        message,
    };
    if location.contains("://") {
        let url = url::Url::parse(location).map_err(|e| err(e.to_string()))?;
        let options = pslake_lake::env_storage_options(&url);
        let (store, path) =
            object_store::parse_url_opts(&url, options.iter()).map_err(|e| err(e.to_string()))?;
        Ok((Arc::from(store), path))
    } else {
        let p = std::path::Path::new(location);
        if !p.is_dir() {
            return Err(err("is not a folder".into()));
        }
        let store = object_store::local::LocalFileSystem::new_with_prefix(p)
            .map_err(|e| err(e.to_string()))?;
        Ok((Arc::new(store), ObjPath::from("")))
    }
}

/// Loads the new files; returns the names loaded in this run.
pub(crate) async fn run(
    location: &str,
    plan: Arc<StreamPlan>,
    already: &[String],
    acc: &mut Accumulator,
) -> Result<Vec<String>> {
    let err = |message: String| Error::Files {
        location: location.to_string(),
        message,
    };
    let (store, prefix) = open_store(location)?;
    let pattern = plan.stream.pattern.clone().unwrap_or_else(|| "*".into());
    let listed: Vec<object_store::ObjectMeta> = store
        .list(if prefix.as_ref().is_empty() {
            None
        } else {
            Some(&prefix)
        })
        .try_collect()
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut names: Vec<(String, ObjPath)> = listed
        .into_iter()
        .filter_map(|m| {
            let name = m.location.filename()?.to_string();
            (matches(&pattern, &name) && !already.contains(&name)).then_some((name, m.location))
        })
        .collect();
    names.sort();
    let mut loaded = Vec::new();
    for (name, path) in names {
        let bytes = store
            .get(&path)
            .await
            .map_err(|e| err(format!("{name}: {e}")))?
            .bytes()
            .await
            .map_err(|e| err(format!("{name}: {e}")))?;
        let plan2 = plan.clone();
        let name2 = name.clone();
        let mut out = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut out = plan2.outcome();
            let now = chrono::Utc::now().timestamp_micros();
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(bytes.as_ref());
            let headers = rdr
                .headers()
                .map_err(|e| Error::Files {
                    location: name2.clone(),
                    message: e.to_string(),
                })?
                .clone();
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|e| Error::Files {
                    location: name2.clone(),
                    message: format!("line {}: {e}", i + 2),
                })?;
                let mut obj = serde_json::Map::new();
                for (h, v) in headers.iter().zip(row.iter()) {
                    obj.insert(h.to_string(), serde_json::Value::String(v.to_string()));
                }
                let text = serde_json::to_string(&obj).map_err(|e| Error::Task(e.to_string()))?;
                let raw = RawValue::from_string(text).map_err(|e| Error::Task(e.to_string()))?;
                plan2.push(&mut out, &raw, now, Some(&name2), None, None);
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        acc.pages += 1;
        acc.absorb(&plan, &mut out).await?;
        tracing::debug!(file = %name, "file read");
        loaded.push(name);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("fx_rates_*.csv", "fx_rates_2026-03.csv"));
        assert!(!matches("fx_rates_*.csv", "fx_rates_2026-03.csv.tmp"));
        assert!(!matches("fx_rates_*.csv", "other.csv"));
        assert!(matches("*", "x"));
    }
}
