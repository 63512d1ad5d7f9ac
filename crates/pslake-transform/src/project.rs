//! Loading a project: `sql/<folder>/<name>.sql` models, `models/*.yml` metadata (dbt `version: 2`
//! schema files) and `models/seeds/*.csv` seeds, checked together.
//!
//! [`Project::load`] gathers every problem (bad YAML, unknown keys, unknown tables, cycles, a YAML
//! entry without a SQL file) and returns them all, each with its file and line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, TimeUnit};
use pslake_lake::TableName;
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::dag;
use crate::datatests::parse_test;
use crate::deps::{self, TableRef};
use crate::error::{Problem, ProjectErrors};
use crate::jinja;
use crate::settings::Settings;
use crate::yaml_lines::YamlLines;

/// Schemas that are not model folders.
pub(crate) const RESERVED_SCHEMAS: [&str; 4] = ["raw", "seeds", "_pslake", "pslake"];

/// How a model's result is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialization {
    /// Computed in the run's session only.
    View,
    /// Replaced in one commit.
    Table,
    /// Merged into the published table on the unique key.
    Incremental,
    /// Appended.
    Append,
    /// Rows appended to `_pslake.rejects`.
    Rejects,
    /// Rows appended to `_pslake.warnings`.
    Warnings,
}

impl Materialization {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "view" | "ephemeral" => Self::View,
            "table" => Self::Table,
            "incremental" => Self::Incremental,
            "append" => Self::Append,
            "rejects" => Self::Rejects,
            "warnings" => Self::Warnings,
            _ => return None,
        })
    }

    /// Whether the model's own Delta table is written.
    pub fn publishes(self) -> bool {
        matches!(self, Self::Table | Self::Incremental | Self::Append)
    }

    /// The lowercase name used in `models/*.yml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Table => "table",
            Self::Incremental => "incremental",
            Self::Append => "append",
            Self::Rejects => "rejects",
            Self::Warnings => "warnings",
        }
    }
}

/// Whether a failing test blocks publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Blocks publishing and fails the run.
    Error,
    /// Reported and stored in `_pslake.warnings`.
    Warn,
}

/// One column of a model's contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// The declared type, when given.
    pub data_type: Option<DataType>,
    /// Description.
    pub description: Option<String>,
    /// `constraints: [{type: not_null}]` (or `primary_key`).
    pub not_null: bool,
}

/// What a data test checks.
#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    /// No NULL in the column.
    NotNull {
        /// Column.
        column: String,
    },
    /// No duplicate non-null value in the column.
    Unique {
        /// Column.
        column: String,
    },
    /// Every non-null value is one of `values`.
    AcceptedValues {
        /// Column.
        column: String,
        /// The accepted values, compared as text.
        values: Vec<String>,
    },
    /// Every non-null value exists in `to.field`.
    Relationships {
        /// Column.
        column: String,
        /// The parent table.
        to: TableName,
        /// The parent column.
        field: String,
    },
    /// No two rows share the same combination of values (NULLs compare equal, as in dbt_utils'
    /// `unique_combination_of_columns`).
    UniqueCombination {
        /// The columns, in order.
        columns: Vec<String>,
    },
    /// Every row satisfies a SQL condition; rows where it is false are offending (NULL is not).
    ExpressionIsTrue {
        /// On a column test, the column the expression follows (`amount` + `>= 0`).
        column: Option<String>,
        /// The condition (or its rest, after the column).
        expression: String,
    },
    /// Every non-null value lies between the bounds.
    AcceptedRange {
        /// Column.
        column: String,
        /// Lower bound, a number or SQL.
        min_value: Option<String>,
        /// Upper bound, a number or SQL.
        max_value: Option<String>,
        /// Whether the bounds themselves are accepted (default true).
        inclusive: bool,
    },
    /// A query returning offending rows; passes when empty.
    Custom {
        /// The query.
        sql: String,
    },
}

/// A data test declared in `models/*.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    /// Display name, e.g. `unique(booking_id)` or the custom test's name.
    pub name: String,
    /// What it checks.
    pub kind: TestKind,
    /// Error or warn.
    pub severity: Severity,
    /// The YAML file.
    pub file: PathBuf,
    /// The line of the test's entry (of its column or model when the test is in a flow list or
    /// comes from a constraint), when found.
    pub line: Option<usize>,
}

/// A SQL model with its metadata.
#[derive(Debug, Clone)]
pub struct Model {
    /// `folder.name`.
    pub name: TableName,
    /// `sql/<folder>/<name>.sql`, relative to the project root.
    pub file: PathBuf,
    /// The SQL text.
    pub sql: String,
    /// Tables the SQL reads (CTEs excluded), with lines.
    pub refs: Vec<TableRef>,
    /// How the result is kept.
    pub materialized: Materialization,
    /// Merge key for `incremental`.
    pub unique_key: Vec<String>,
    /// Tags for `--select tag:x`.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// The contract; empty when the model has none.
    pub columns: Vec<ColumnSpec>,
    /// Data tests.
    pub tests: Vec<TestSpec>,
    /// Tables read by the tests (relationship parents, custom SQL), excluding the model itself.
    pub test_refs: Vec<TableName>,
}

impl Model {
    /// Whether the SQL reads the model's own (previously published) table.
    pub fn reads_itself(&self) -> bool {
        self.refs.iter().any(|r| r.table == self.name)
    }

    /// The models, seeds and lake tables this model needs, without itself.
    pub fn inputs(&self) -> impl Iterator<Item = &TableName> {
        self.refs
            .iter()
            .map(|r| &r.table)
            .chain(self.test_refs.iter())
            .filter(move |t| **t != self.name)
    }
}

/// A CSV reference table.
#[derive(Debug, Clone)]
pub struct Seed {
    /// `seeds.<name>`.
    pub name: TableName,
    /// The CSV file, relative to the project root.
    pub file: PathBuf,
    /// Declared column types (others are varchar).
    pub types: HashMap<String, DataType>,
}

/// The models and seeds of a project directory.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
    models: Vec<Model>,
    seeds: Vec<Seed>,
    settings: Settings,
}

impl Project {
    /// Loads and checks `root/sql` and `root/models`: all problems are returned together.
    pub fn load(root: &Path) -> Result<Project, ProjectErrors> {
        let mut problems = Vec::new();
        let project = load_unchecked(root, &mut problems);
        problems.extend(dag::check(&project));
        if problems.is_empty() {
            Ok(project)
        } else {
            Err(ProjectErrors(problems))
        }
    }

    /// The project directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The project-wide settings (`pslake.yml`).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The models, sorted by name.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The seeds, sorted by name.
    pub fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    /// The model named `t`.
    pub fn model(&self, t: &TableName) -> Option<&Model> {
        self.models.iter().find(|m| &m.name == t)
    }

    /// Whether `t` is a seed.
    pub fn is_seed(&self, t: &TableName) -> bool {
        self.seeds.iter().any(|s| &s.name == t)
    }
}

/// `pslake validate` for `sql/` and `models/`: every problem, without touching a lake or network.
pub fn validate(root: &Path) -> Vec<Problem> {
    match Project::load(root) {
        Ok(_) => Vec::new(),
        Err(ProjectErrors(problems)) => problems,
    }
}

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

fn load_unchecked(root: &Path, problems: &mut Vec<Problem>) -> Project {
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

struct YamlCtx<'a> {
    file: PathBuf,
    text: &'a str,
    lines: YamlLines<'a>,
}

impl YamlCtx<'_> {
    /// The first line mentioning `needle` as a YAML value (best effort; serde gives no spans).
    fn line_of(&self, needle: &str) -> Option<usize> {
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

fn apply_model(
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
    if let Some(m) = rm.config.materialized.as_deref() {
        match Materialization::parse(m) {
            Some(m) => model.materialized = m,
            None => problem(
                problems,
                format!(
                    "unknown materialized '{m}' (expected view, table, incremental, append, rejects or warnings)"
                ),
            ),
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

/// Parses a contract type (`varchar`, `decimal(18,2)`, ...).
pub fn parse_type(s: &str) -> Option<DataType> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.as_str();
    Some(match t {
        "varchar" | "text" | "string" | "utf8" => DataType::Utf8,
        "boolean" | "bool" => DataType::Boolean,
        "bigint" | "int" | "integer" | "int64" | "long" => DataType::Int64,
        "double" | "float" | "float64" | "double precision" => DataType::Float64,
        "date" => DataType::Date32,
        "timestamp" | "timestamptz" | "timestamp with time zone" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        _ => {
            let inner = t
                .strip_prefix("decimal(")
                .or_else(|| t.strip_prefix("numeric("))?
                .strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            DataType::Decimal128(p.trim().parse().ok()?, s.trim().parse().ok()?)
        }
    })
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
struct RawFile {
    #[serde(rename = "version")]
    _version: Option<u32>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    seeds: Vec<RawSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
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
    tags: Option<OneOrMany>,
    #[serde(rename = "meta")]
    _meta: Option<Value>,
    #[serde(rename = "contract")]
    _contract: Option<Value>,
    #[serde(rename = "on_schema_change")]
    _on_schema_change: Option<String>,
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
struct RawSeed {
    name: String,
    #[serde(rename = "description")]
    _description: Option<String>,
    #[serde(default)]
    columns: Vec<RawSeedColumn>,
    #[serde(rename = "config")]
    _config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeedColumn {
    name: String,
    data_type: Option<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse() {
        assert_eq!(
            parse_type("DECIMAL(18, 2)"),
            Some(DataType::Decimal128(18, 2))
        );
        assert_eq!(parse_type("text"), Some(DataType::Utf8));
        assert_eq!(parse_type("blob"), None);
    }
}
