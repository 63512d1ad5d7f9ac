//! The dbt-style schema files (`models/*.yml`, `version: 2`): their serde shapes and how each
//! model and seed entry applies to the project, every problem with its file and line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::Value;

use pslake_lake::TableName;

use super::{
    ColumnSpec, Materialization, Model, PartitionInput, PartitionReach, Severity, SnapshotConfig,
    SnapshotStrategy, TestKind, TestSpec, parse_type,
};
use crate::datatests::parse_test;
use crate::error::Problem;
use crate::snapshot::{IS_CURRENT, SNAPSHOT_COLUMNS, VALID_FROM, VALID_TO};
use crate::yaml_lines::YamlLines;

pub(super) struct YamlCtx<'a> {
    pub(super) file: PathBuf,
    pub(super) text: &'a str,
    pub(super) lines: YamlLines<'a>,
}

impl YamlCtx<'_> {
    /// The first line mentioning `needle` as a YAML value (best effort; serde gives no spans).
    pub(super) fn line_of(&self, needle: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let l = l.trim();
                l.ends_with(needle)
                    && (l.contains("name:") || l.contains(": ") || l.starts_with("- "))
            })
            .map(|i| i + 1)
    }
}

pub(super) fn apply_model(
    ctx: &YamlCtx<'_>,
    rm: RawModel,
    models: &mut [Model],
    described: &mut BTreeMap<TableName, PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let entry = ctx.lines.model(&rm.name);
    let line = entry
        .as_ref()
        .map(YamlLines::line_no)
        .or_else(|| ctx.line_of(&rm.name));
    let wanted = rm.name.to_lowercase();
    let matches: Vec<usize> = models
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            if wanted.contains('.') {
                m.name.to_string() == wanted
            } else {
                m.name.name == wanted
            }
        })
        .map(|(i, _)| i)
        .collect();
    let idx = match matches.as_slice() {
        [i] => *i,
        [] => {
            problems.push(Problem::new(
                &ctx.file,
                line,
                format!(
                    "model '{}' has no SQL file sql/<folder>/{}.sql",
                    rm.name, rm.name
                ),
            ));
            return;
        }
        _ => {
            problems.push(Problem::new(
                &ctx.file,
                line,
                format!("model name '{}' is ambiguous (several folders have it): write it as folder.name", rm.name),
            ));
            return;
        }
    };
    let model = &mut models[idx];
    if let Some(prev) = described.insert(model.name.clone(), ctx.file.clone()) {
        problems.push(Problem::new(
            &ctx.file,
            line,
            format!(
                "model {} is already described in {}",
                model.name,
                prev.display()
            ),
        ));
        return;
    }
    let problem = |problems: &mut Vec<Problem>, msg: String| {
        problems.push(Problem::new(
            &ctx.file,
            line,
            format!("model {}: {msg}", rm.name),
        ))
    };
    model.description = rm.description;
    let mut materialized_ok = true;
    if let Some(m) = rm.config.materialized.as_deref() {
        match Materialization::parse(m) {
            Some(m) => model.materialized = m,
            None => {
                materialized_ok = false;
                problem(
                    problems,
                    format!(
                        "unknown materialized '{m}' (expected view, table, incremental, append, rejects, warnings or snapshot)"
                    ),
                )
            }
        }
    }
    model.unique_key = rm
        .config
        .unique_key
        .map(OneOrMany::into_vec)
        .unwrap_or_default();
    if model.materialized == Materialization::Incremental && model.unique_key.is_empty() {
        problem(
            problems,
            "materialized: incremental needs a unique_key".into(),
        );
    }
    let snapshot = SnapshotKeys {
        strategy: rm.config.strategy,
        check_cols: rm.config.check_cols,
        updated_at: rm.config.updated_at,
        invalidate_hard_deletes: rm.config.invalidate_hard_deletes,
        hard_deletes: rm.config.hard_deletes,
    };
    if model.materialized == Materialization::Snapshot {
        match snapshot_config(model, snapshot) {
            Ok(c) => model.snapshot = Some(c),
            Err(msgs) => {
                for msg in msgs {
                    problem(problems, msg);
                }
            }
        }
    } else if materialized_ok {
        for key in snapshot.given() {
            problem(
                problems,
                format!("{key} is a snapshot setting: it needs materialized: snapshot"),
            );
        }
    }
    for msg in partitioning(
        model,
        rm.config.partition_by,
        rm.config.partition_input,
        rm.config.new_rows_from,
    ) {
        problem(problems, msg);
    }
    for msg in engine_settings(model, rm.config.datafusion.unwrap_or_default()) {
        problem(problems, msg);
    }
    for t in rm.config.tags.map(OneOrMany::into_vec).unwrap_or_default() {
        if !model.tags.contains(&t) {
            model.tags.push(t);
        }
    }
    for col in rm.columns {
        let col_entry = entry.as_ref().and_then(|e| ctx.lines.column(e, &col.name));
        let col_line = col_entry.as_ref().map(YamlLines::line_no).or(line);
        let data_type = match col.data_type.as_deref() {
            None => None,
            Some(t) => match parse_type(t) {
                Some(dt) => Some(dt),
                None => {
                    problem(
                        problems,
                        format!("column {}: unknown data_type '{t}'", col.name),
                    );
                    None
                }
            },
        };
        let mut not_null = false;
        for c in &col.constraints {
            match c.kind.as_str() {
                "not_null" => not_null = true,
                "primary_key" => {
                    not_null = true;
                    model.tests.push(TestSpec {
                        name: format!("unique({})", col.name),
                        kind: TestKind::Unique {
                            column: col.name.clone(),
                        },
                        severity: Severity::Error,
                        file: ctx.file.clone(),
                        line: col_line,
                    });
                }
                "unique" => model.tests.push(TestSpec {
                    name: format!("unique({})", col.name),
                    kind: TestKind::Unique {
                        column: col.name.clone(),
                    },
                    severity: Severity::Error,
                    file: ctx.file.clone(),
                    line: col_line,
                }),
                other => problem(
                    problems,
                    format!("column {}: unsupported constraint type '{other}'", col.name),
                ),
            }
        }
        let tests = [("data_tests", &col.data_tests), ("tests", &col.tests)];
        for (key, list) in tests {
            for (n, t) in list.iter().enumerate() {
                let test_line = col_entry
                    .as_ref()
                    .and_then(|c| ctx.lines.test_line(c, key, n))
                    .or(col_line);
                match parse_test(t, Some(&col.name)) {
                    Ok(mut spec) => {
                        spec.file = ctx.file.clone();
                        spec.line = test_line;
                        model.tests.push(spec);
                    }
                    Err(msg) => problems.push(Problem::new(
                        &ctx.file,
                        test_line,
                        format!("model {}: column {}: {msg}", rm.name, col.name),
                    )),
                }
            }
        }
        model.columns.push(ColumnSpec {
            name: col.name,
            data_type,
            description: col.description,
            not_null,
        });
    }
    if model.materialized == Materialization::Snapshot {
        for msg in snapshot_contract(&model.columns) {
            problem(problems, msg);
        }
    }
    for (key, list) in [("data_tests", &rm.data_tests), ("tests", &rm.tests)] {
        for (n, t) in list.iter().enumerate() {
            let test_line = entry
                .as_ref()
                .and_then(|e| ctx.lines.test_line(e, key, n))
                .or(line);
            match parse_test(t, None) {
                Ok(mut spec) => {
                    spec.file = ctx.file.clone();
                    spec.line = test_line;
                    model.tests.push(spec);
                }
                Err(msg) => problems.push(Problem::new(
                    &ctx.file,
                    test_line,
                    format!("model {}: {msg}", rm.name),
                )),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            Self::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(rename = "version")]
    pub(super) _version: Option<u32>,
    #[serde(default)]
    pub(super) models: Vec<RawModel>,
    #[serde(default)]
    pub(super) seeds: Vec<RawSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    name: String,
    description: Option<String>,
    #[serde(default)]
    config: RawConfig,
    #[serde(default)]
    columns: Vec<RawColumn>,
    #[serde(default)]
    data_tests: Vec<Value>,
    #[serde(default)]
    tests: Vec<Value>,
    #[serde(rename = "meta")]
    _meta: Option<Value>,
    #[serde(rename = "docs")]
    _docs: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    materialized: Option<String>,
    unique_key: Option<OneOrMany>,
    partition_by: Option<RawPartitionBy>,
    partition_input: Option<Value>,
    new_rows_from: Option<String>,
    tags: Option<OneOrMany>,
    strategy: Option<String>,
    check_cols: Option<OneOrMany>,
    updated_at: Option<String>,
    invalidate_hard_deletes: Option<bool>,
    hard_deletes: Option<String>,
    datafusion: Option<BTreeMap<String, Value>>,
    #[serde(rename = "meta")]
    _meta: Option<Value>,
    #[serde(rename = "contract")]
    _contract: Option<Value>,
    #[serde(rename = "on_schema_change")]
    _on_schema_change: Option<String>,
}

/// `partition_by: {field: work_date, granularity: month}` (dbt-bigquery's spelling).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartitionBy {
    field: String,
    data_type: Option<String>,
    granularity: Option<String>,
}

/// The map form of `partition_input`, `{table: schema.name, field: d, span_days: 7}`, for a
/// model whose rows reach into the input through another column or over several days.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartitionReach {
    table: String,
    field: Option<String>,
    span_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    description: Option<String>,
    data_type: Option<String>,
    #[serde(default)]
    constraints: Vec<RawConstraint>,
    #[serde(default)]
    data_tests: Vec<Value>,
    #[serde(default)]
    tests: Vec<Value>,
    #[serde(rename = "meta")]
    _meta: Option<Value>,
    #[serde(rename = "quote")]
    _quote: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConstraint {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "name")]
    _name: Option<String>,
    #[serde(rename = "expression")]
    _expression: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeed {
    pub(super) name: String,
    #[serde(rename = "description")]
    pub(super) _description: Option<String>,
    #[serde(default)]
    pub(super) columns: Vec<RawSeedColumn>,
    #[serde(rename = "config")]
    pub(super) _config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeedColumn {
    pub(super) name: String,
    pub(super) data_type: Option<String>,
    #[serde(rename = "description")]
    pub(super) _description: Option<String>,
}

/// Reads `partition_by`, `partition_input` and `new_rows_from` into `model`; the problems found.
fn partitioning(
    model: &mut Model,
    partition_by: Option<RawPartitionBy>,
    partition_input: Option<Value>,
    new_rows_from: Option<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let kept = matches!(
        model.materialized,
        Materialization::Table | Materialization::Incremental
    );
    if let Some(p) = partition_by {
        if let Some(g) = p
            .granularity
            .as_deref()
            .filter(|g| !g.eq_ignore_ascii_case("month"))
        {
            problems.push(format!(
                "partition_by: granularity '{g}' is not supported (month is)"
            ));
        }
        if let Some(t) = p
            .data_type
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("date"))
        {
            problems.push(format!(
                "partition_by: data_type '{t}' is not supported (date is)"
            ));
        }
        if !kept {
            problems.push("partition_by needs materialized: table or incremental".into());
        }
        model.partition_by = Some(p.field);
    }
    let input = |what: &str, name: Option<String>, problems: &mut Vec<String>| {
        let name = name?;
        let t = TableName::parse(&name);
        match t {
            Some(t) if model.refs.iter().any(|r| r.table == t) => Some(t),
            _ => {
                problems.push(format!("{what}: {name} is not a table the model reads"));
                None
            }
        }
    };
    // A table name, or the map form (its own errors name its keys).
    let (partition_input, reach) = match partition_input {
        None => (None, None),
        Some(Value::String(t)) => (Some(t), None),
        Some(v @ Value::Mapping(_)) => match serde_yaml_ng::from_value::<RawPartitionReach>(v) {
            Ok(r) => (Some(r.table), Some((r.field, r.span_days))),
            Err(e) => {
                problems.push(format!("partition_input: {e}"));
                (None, None)
            }
        },
        Some(_) => {
            problems
                .push("partition_input: expected a table name or {table, field, span_days}".into());
            (None, None)
        }
    };
    let table = input("partition_input", partition_input, &mut problems);
    let reach = reach.and_then(|(field, span_days)| {
        let span_days = span_days.unwrap_or(1);
        if !(1..=366).contains(&span_days) {
            problems.push(format!(
                "partition_input: span_days {span_days} is not between 1 and 366"
            ));
        }
        // Without partition_by, the check below says so.
        let field = field.or_else(|| model.partition_by.clone())?;
        Some(PartitionReach { field, span_days })
    });
    model.partition_input = table.map(|table| PartitionInput { table, reach });
    model.new_rows_from = input("new_rows_from", new_rows_from, &mut problems);
    if model.partition_input.is_some() && model.partition_by.is_none() {
        problems.push("partition_input needs partition_by".into());
    }
    if model.new_rows_from.is_some() && model.materialized != Materialization::Incremental {
        problems.push("new_rows_from needs materialized: incremental (the new rows are merged on the unique_key)".into());
    }
    problems
}

/// Reads `datafusion:` (DataFusion settings for the model's query, their `datafusion.` prefix
/// optional) into `model`; each key and value is checked against DataFusion's own settings.
fn engine_settings(model: &mut Model, given: BTreeMap<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = datafusion::config::ConfigOptions::default();
    for (key, value) in given {
        let key = if key.starts_with("datafusion.") {
            key
        } else {
            format!("datafusion.{key}")
        };
        let value = match value {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            _ => {
                problems.push(format!(
                    "datafusion: {key} takes a string, number or boolean"
                ));
                continue;
            }
        };
        match check.set(&key, &value) {
            Ok(()) => model.engine_settings.push((key, value)),
            Err(e) => problems.push(format!(
                "datafusion: {key} = {value}: {}",
                e.strip_backtrace()
            )),
        }
    }
    problems
}

/// The snapshot settings of a model's `config:`, as written.
struct SnapshotKeys {
    strategy: Option<String>,
    check_cols: Option<OneOrMany>,
    updated_at: Option<String>,
    invalidate_hard_deletes: Option<bool>,
    hard_deletes: Option<String>,
}

impl SnapshotKeys {
    /// The names of the settings given.
    fn given(&self) -> Vec<&'static str> {
        [
            ("strategy", self.strategy.is_some()),
            ("check_cols", self.check_cols.is_some()),
            ("updated_at", self.updated_at.is_some()),
            (
                "invalidate_hard_deletes",
                self.invalidate_hard_deletes.is_some(),
            ),
            ("hard_deletes", self.hard_deletes.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(k, _)| k)
        .collect()
    }
}

/// A snapshot model's settings, or every problem with them.
fn snapshot_config(model: &Model, keys: SnapshotKeys) -> Result<SnapshotConfig, Vec<String>> {
    let mut problems = Vec::new();
    if model.unique_key.is_empty() {
        problems.push(
            "materialized: snapshot needs a unique_key (the column, or list of columns, naming one row of its output)"
                .to_string(),
        );
    }
    if model.reads_itself() {
        problems.push(format!(
            "a snapshot cannot read its own table {} (the build compares the model's output with it)",
            model.name
        ));
    }
    let reserved = |what: &str, c: &str, problems: &mut Vec<String>| {
        if SNAPSHOT_COLUMNS.contains(&c) {
            problems.push(format!(
                "{what}: {c} is a column the snapshot adds, not one of the model's"
            ));
        }
    };
    for k in &model.unique_key {
        reserved("unique_key", k, &mut problems);
    }
    let strategy = match keys.strategy.as_deref().map(str::to_ascii_lowercase) {
        None => {
            problems.push(
                "materialized: snapshot needs a strategy: check (with check_cols) or timestamp (with updated_at)"
                    .into(),
            );
            None
        }
        Some(s) if s == "check" => {
            if keys.updated_at.is_some() {
                problems.push(
                    "updated_at is a setting of strategy: timestamp (strategy: check compares check_cols)"
                        .into(),
                );
            }
            match keys.check_cols {
                None => {
                    problems
                        .push("strategy: check needs check_cols: a list of columns, or all".into());
                    None
                }
                Some(OneOrMany::One(s)) if s.trim().eq_ignore_ascii_case("all") => {
                    Some(SnapshotStrategy::Check { columns: None })
                }
                Some(cols) => {
                    let cols = cols.into_vec();
                    if cols.is_empty() {
                        problems.push(
                            "check_cols is empty: list the columns to compare, or write all".into(),
                        );
                    }
                    for c in &cols {
                        reserved("check_cols", c, &mut problems);
                    }
                    Some(SnapshotStrategy::Check {
                        columns: Some(cols),
                    })
                }
            }
        }
        Some(s) if s == "timestamp" => {
            if keys.check_cols.is_some() {
                problems.push(
                    "check_cols is a setting of strategy: check (strategy: timestamp compares updated_at)"
                        .into(),
                );
            }
            match keys.updated_at {
                None => {
                    problems.push(
                        "strategy: timestamp needs updated_at: the DATE or TIMESTAMP column that says when a row last changed"
                            .into(),
                    );
                    None
                }
                Some(u) => {
                    reserved("updated_at", &u, &mut problems);
                    Some(SnapshotStrategy::Timestamp { updated_at: u })
                }
            }
        }
        Some(_) => {
            problems.push(format!(
                "unknown snapshot strategy '{}' (expected check or timestamp)",
                keys.strategy.unwrap_or_default()
            ));
            None
        }
    };
    let from_hard_deletes = match keys.hard_deletes.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(h) if h == "invalidate" => Some(true),
        Some(h) if h == "ignore" => Some(false),
        Some(h) if h == "new_record" => {
            problems.push(
                "hard_deletes: new_record is not supported (invalidate closes the version of a key that is gone; ignore keeps it current)"
                    .into(),
            );
            None
        }
        Some(_) => {
            problems.push(format!(
                "unknown hard_deletes '{}' (expected invalidate or ignore)",
                keys.hard_deletes.unwrap_or_default()
            ));
            None
        }
    };
    let invalidate_hard_deletes = match (keys.invalidate_hard_deletes, from_hard_deletes) {
        (Some(a), Some(b)) if a != b => {
            problems.push(format!(
                "invalidate_hard_deletes: {a} and hard_deletes: {} disagree (give one)",
                if b { "invalidate" } else { "ignore" }
            ));
            a
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        // SPEC 4b: a version closes when its key disappears.
        (None, None) => true,
    };
    match strategy {
        Some(strategy) if problems.is_empty() => Ok(SnapshotConfig {
            strategy,
            invalidate_hard_deletes,
        }),
        _ => Err(problems),
    }
}

/// The problems of a snapshot model's contract: the columns the snapshot adds are listed last,
/// all three in their order, with their types, or not at all (they are added).
fn snapshot_contract(columns: &[ColumnSpec]) -> Vec<String> {
    let listed: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| SNAPSHOT_COLUMNS.contains(&c.name.as_str()))
        .map(|(i, _)| i)
        .collect();
    if listed.is_empty() {
        return Vec::new();
    }
    let tail: Vec<&str> = columns[columns.len().saturating_sub(3)..]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    if listed.len() != 3 || tail != SNAPSHOT_COLUMNS {
        return vec![format!(
            "contract: a snapshot's columns {VALID_FROM}, {VALID_TO}, {IS_CURRENT} are listed last, in this order, or left out (the snapshot adds them)"
        )];
    }
    let timestamp = parse_type("timestamp").expect("a known type");
    let boolean = parse_type("boolean").expect("a known type");
    columns[columns.len() - 3..]
        .iter()
        .zip([
            ("timestamp", &timestamp),
            ("timestamp", &timestamp),
            ("boolean", &boolean),
        ])
        .filter(|(c, (_, t))| c.data_type.as_ref().is_some_and(|d| d != *t))
        .map(|(c, (name, _))| {
            format!(
                "contract: column {}: a snapshot's {} is a {name}",
                c.name, c.name
            )
        })
        .collect()
}
