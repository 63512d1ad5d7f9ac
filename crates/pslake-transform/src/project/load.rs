//! Reading a project directory: the SQL files, the schema YAML files and the seeds, then the
//! tables each model's tests read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use pslake_lake::TableName;

use super::yaml::{RawFile, YamlCtx, apply_model};
use super::{Materialization, Model, Project, RESERVED_SCHEMAS, Seed, TestKind, parse_type};
use crate::deps;
use crate::error::Problem;
use crate::jinja;
use crate::settings::Settings;
use crate::yaml_lines::YamlLines;

fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match fs_err::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

pub(super) fn load_unchecked(root: &Path, problems: &mut Vec<Problem>) -> Project {
    let mut models = Vec::new();
    let mut unparsed: Vec<(PathBuf, TableName, deps::SqlError)> = Vec::new();
    let sql_dir = root.join("sql");
    if !sql_dir.is_dir() {
        problems.push(Problem::new(rel(root, &sql_dir), None, "no sql/ directory"));
    }
    for folder in sorted_entries(&sql_dir).into_iter().filter(|p| p.is_dir()) {
        let schema = folder
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        for file in sorted_entries(&folder) {
            if file.extension().and_then(|e| e.to_str()) != Some("sql") {
                continue;
            }
            let relfile = rel(root, &file);
            if RESERVED_SCHEMAS.contains(&schema.as_str()) {
                problems.push(Problem::new(
                    &relfile,
                    None,
                    format!("'{schema}' is reserved and cannot be a model folder"),
                ));
                continue;
            }
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let sql = match fs_err::read_to_string(&file) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(Problem::new(&relfile, None, e.to_string()));
                    continue;
                }
            };
            let name = TableName::new(&schema, stem.to_lowercase());
            if !TableName::is_plain(&name.schema) || !TableName::is_plain(&name.name) {
                problems.push(Problem::new(
                    &relfile,
                    None,
                    format!(
                        "model `{name}`: a folder and file name must be letters, digits and `_` (each names a folder of the lake)"
                    ),
                ));
                continue;
            }
            let refs = match deps::table_refs(&sql) {
                Ok(r) => r,
                Err(e) => {
                    // Reported once every model is known, so a Jinja hint can name them.
                    unparsed.push((relfile.clone(), name.clone(), e));
                    Vec::new()
                }
            };
            let materialized = if schema == "staging" {
                Materialization::View
            } else {
                Materialization::Table
            };
            models.push(Model {
                name,
                file: relfile,
                sql,
                refs,
                materialized,
                unique_key: Vec::new(),
                snapshot: None,
                partition_by: None,
                partition_input: None,
                new_rows_from: None,
                engine_settings: Vec::new(),
                tags: vec![schema.clone()],
                description: None,
                columns: Vec::new(),
                tests: Vec::new(),
                test_refs: Vec::new(),
            });
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<TableName> = models.iter().map(|m| m.name.clone()).collect();
    for (file, name, e) in unparsed {
        let sql = models
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.sql.as_str())
            .unwrap_or_default();
        match jinja::hint(sql, &name, &names) {
            Some((line, hint)) => problems.push(Problem::new(&file, Some(line), hint)),
            None => problems.push(Problem::new(&file, e.line, e.message)),
        }
    }

    let models_dir = root.join("models");
    let mut seeds: Vec<Seed> = Vec::new();
    for file in sorted_entries(&models_dir.join("seeds")) {
        if file.extension().and_then(|e| e.to_str()) == Some("csv") {
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if !TableName::is_plain(stem) {
                problems.push(Problem::new(
                    rel(root, &file),
                    None,
                    format!("seed `{stem}`: a seed's file name must be letters, digits and `_`"),
                ));
                continue;
            }
            seeds.push(Seed {
                name: TableName::new("seeds", stem.to_lowercase()),
                file: rel(root, &file),
                types: HashMap::new(),
            });
        }
    }
    let mut described: BTreeMap<TableName, PathBuf> = BTreeMap::new();
    for file in sorted_entries(&models_dir) {
        let ext = file.extension().and_then(|e| e.to_str());
        if !matches!(ext, Some("yml" | "yaml")) {
            continue;
        }
        let relfile = rel(root, &file);
        let text = match fs_err::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::new(&relfile, None, e.to_string()));
                continue;
            }
        };
        let raw: RawFile = match serde_yaml_ng::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem::new(
                    &relfile,
                    e.location().map(|l| l.line()),
                    e.to_string(),
                ));
                continue;
            }
        };
        let ctx = YamlCtx {
            file: relfile.clone(),
            text: &text,
            lines: YamlLines::new(&text),
        };
        for rm in raw.models {
            apply_model(&ctx, rm, &mut models, &mut described, problems);
        }
        for rs in raw.seeds {
            let line = ctx.line_of(&rs.name);
            let Some(seed) = seeds
                .iter_mut()
                .find(|s| s.name.name == rs.name.to_lowercase() || s.name.to_string() == rs.name)
            else {
                problems.push(Problem::new(
                    &relfile,
                    line,
                    format!(
                        "seed '{}' has no file models/seeds/{}.csv",
                        rs.name, rs.name
                    ),
                ));
                continue;
            };
            for c in rs.columns {
                if let Some(t) = c.data_type {
                    match parse_type(&t) {
                        Some(dt) => {
                            seed.types.insert(c.name, dt);
                        }
                        None => problems.push(Problem::new(
                            &relfile,
                            ctx.line_of(&t),
                            format!("seed {}: unknown data_type '{t}'", seed.name),
                        )),
                    }
                }
            }
        }
    }
    let settings = Settings::load(root).unwrap_or_else(|p| {
        problems.push(p);
        Settings::default()
    });
    let mut project = Project {
        root: root.to_path_buf(),
        models,
        seeds,
        settings,
    };
    resolve_test_refs(&mut project, problems);
    project
}

/// Resolves `ref('x')` in relationship tests and collects the tables tests read.
fn resolve_test_refs(project: &mut Project, problems: &mut Vec<Problem>) {
    let names: Vec<TableName> = project.models.iter().map(|m| m.name.clone()).collect();
    for model in &mut project.models {
        let mut refs = Vec::new();
        for test in &mut model.tests {
            match &mut test.kind {
                TestKind::Relationships { to, .. } => {
                    if to.schema.is_empty() {
                        let found: Vec<&TableName> =
                            names.iter().filter(|n| n.name == to.name).collect();
                        match found.as_slice() {
                            [one] => *to = (*one).clone(),
                            _ => problems.push(Problem::new(
                                &test.file,
                                test.line,
                                format!(
                                    "model {}: test {}: cannot resolve ref('{}') to one model",
                                    model.name, test.name, to.name
                                ),
                            )),
                        }
                    }
                    refs.push(to.clone());
                }
                TestKind::Custom { sql } => match deps::table_refs(sql) {
                    Ok(r) => refs.extend(r.into_iter().map(|r| r.table)),
                    Err(e) => {
                        let message = jinja::hint(sql, &model.name, &names)
                            .map(|(_, hint)| hint)
                            .unwrap_or(e.message);
                        problems.push(Problem::new(
                            &test.file,
                            test.line,
                            format!("model {}: test {}: {message}", model.name, test.name),
                        ))
                    }
                },
                _ => {}
            }
        }
        refs.retain(|t| *t != model.name);
        refs.sort();
        refs.dedup();
        model.test_refs = refs;
    }
}
