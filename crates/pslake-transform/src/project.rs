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
use crate::deps::{self, TableRef};
use crate::error::{Problem, ProjectErrors};

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
    /// The line of the model entry or test, when found.
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
            let refs = match deps::table_refs(&sql) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(Problem::new(&relfile, e.line, e.message));
                    Vec::new()
                }
            };
            let materialized = if schema == "staging" {
                Materialization::View
            } else {
                Materialization::Table
            };
            models.push(Model {
                name: TableName::new(&schema, stem.to_lowercase()),
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
    let mut project = Project {
        root: root.to_path_buf(),
        models,
        seeds,
    };
    resolve_test_refs(&mut project, problems);
    project
}

struct YamlCtx<'a> {
    file: PathBuf,
    text: &'a str,
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
    let line = ctx.line_of(&rm.name);
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
                        line,
                    });
                }
                "unique" => model.tests.push(TestSpec {
                    name: format!("unique({})", col.name),
                    kind: TestKind::Unique {
                        column: col.name.clone(),
                    },
                    severity: Severity::Error,
                    file: ctx.file.clone(),
                    line,
                }),
                other => problem(
                    problems,
                    format!("column {}: unsupported constraint type '{other}'", col.name),
                ),
            }
        }
        for t in col.data_tests.iter().chain(col.tests.iter()) {
            match parse_test(t, Some(&col.name)) {
                Ok(mut spec) => {
                    spec.file = ctx.file.clone();
                    spec.line = line;
                    model.tests.push(spec);
                }
                Err(msg) => problem(problems, format!("column {}: {msg}", col.name)),
            }
        }
        model.columns.push(ColumnSpec {
            name: col.name,
            data_type,
            description: col.description,
            not_null,
        });
    }
    for t in rm.data_tests.iter().chain(rm.tests.iter()) {
        match parse_test(t, None) {
            Ok(mut spec) => {
                spec.file = ctx.file.clone();
                spec.line = line;
                model.tests.push(spec);
            }
            Err(msg) => problem(problems, msg),
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
                    Err(e) => problems.push(Problem::new(
                        &test.file,
                        test.line,
                        format!("model {}: test {}: {}", model.name, test.name, e.message),
                    )),
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

fn parse_severity(v: Option<&Value>) -> Result<Option<Severity>, String> {
    match v
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(None),
        Some("error") => Ok(Some(Severity::Error)),
        Some("warn") | Some("warning") => Ok(Some(Severity::Warn)),
        Some(other) => Err(format!("unknown severity '{other}' (error or warn)")),
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses one entry of `data_tests:`; `column` is set for column-level tests.
fn parse_test(v: &Value, column: Option<&str>) -> Result<TestSpec, String> {
    let spec = |name: String, kind, severity| TestSpec {
        name,
        kind,
        severity,
        file: PathBuf::new(),
        line: None,
    };
    if let Some(s) = v.as_str() {
        let col = column
            .ok_or_else(|| format!("test '{s}' needs a column (put it under columns:)"))?
            .to_string();
        return match s {
            "not_null" => Ok(spec(
                format!("not_null({col})"),
                TestKind::NotNull { column: col },
                Severity::Error,
            )),
            "unique" => Ok(spec(
                format!("unique({col})"),
                TestKind::Unique { column: col },
                Severity::Error,
            )),
            other => Err(format!(
                "unknown test '{other}' (not_null, unique, accepted_values, relationships, or a custom test with name and sql)"
            )),
        };
    }
    let map = v.as_mapping().ok_or("a test is a name or a mapping")?;
    // Custom SQL test: {name, sql, config, severity, description}.
    if map.contains_key("sql") {
        const KEYS: [&str; 5] = ["name", "sql", "config", "severity", "description"];
        if let Some(k) = map
            .keys()
            .filter_map(Value::as_str)
            .find(|k| !KEYS.contains(k))
        {
            return Err(format!("custom test: unknown key '{k}'"));
        }
        let sql = map
            .get("sql")
            .and_then(Value::as_str)
            .ok_or("custom test: sql must be a string")?
            .to_string();
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .ok_or("custom test needs a name")?
            .to_string();
        let sev = parse_severity(map.get("severity"))?
            .or(parse_severity(
                map.get("config").and_then(|c| c.get("severity")),
            )?)
            .unwrap_or(Severity::Error);
        return Ok(spec(name, TestKind::Custom { sql }, sev));
    }
    if map.len() != 1 {
        return Err(
            "a generic test is a mapping with one key, e.g. {accepted_values: {values: [...]}}"
                .into(),
        );
    }
    let (k, args) = map.iter().next().expect("one entry");
    let kind = k.as_str().ok_or("test name must be a string")?;
    let empty = serde_yaml_ng::Mapping::new();
    let args = match args {
        Value::Null => &empty,
        Value::Mapping(m) => m,
        _ => return Err(format!("test {kind}: arguments must be a mapping")),
    };
    const KEYS: [&str; 8] = [
        "values",
        "to",
        "field",
        "config",
        "severity",
        "column_name",
        "name",
        "quote",
    ];
    if let Some(k) = args
        .keys()
        .filter_map(Value::as_str)
        .find(|k| !KEYS.contains(k))
    {
        return Err(format!("test {kind}: unknown argument '{k}'"));
    }
    let col = args
        .get("column_name")
        .and_then(Value::as_str)
        .or(column)
        .ok_or_else(|| {
            format!("test {kind} needs a column (put it under columns: or give column_name)")
        })?
        .to_string();
    let sev = parse_severity(args.get("severity"))?
        .or(parse_severity(
            args.get("config").and_then(|c| c.get("severity")),
        )?)
        .unwrap_or(Severity::Error);
    let custom_name = args.get("name").and_then(Value::as_str).map(str::to_string);
    let (name, kind) = match kind {
        "not_null" => (
            format!("not_null({col})"),
            TestKind::NotNull { column: col },
        ),
        "unique" => (format!("unique({col})"), TestKind::Unique { column: col }),
        "accepted_values" => {
            let values = args
                .get("values")
                .and_then(Value::as_sequence)
                .ok_or("accepted_values needs values: [...]")?
                .iter()
                .map(|v| value_text(v).ok_or("accepted_values: values must be scalars"))
                .collect::<Result<Vec<_>, _>>()?;
            (
                format!("accepted_values({col})"),
                TestKind::AcceptedValues {
                    column: col,
                    values,
                },
            )
        }
        "relationships" => {
            let to = args
                .get("to")
                .and_then(Value::as_str)
                .ok_or("relationships needs to: schema.name")?;
            let field = args
                .get("field")
                .and_then(Value::as_str)
                .ok_or("relationships needs field: column")?
                .to_string();
            let to = parse_ref(to).ok_or_else(|| {
                format!("relationships: cannot read to: '{to}' (schema.name or ref('name'))")
            })?;
            (
                format!("relationships({col} -> {to}.{field})"),
                TestKind::Relationships {
                    column: col,
                    to,
                    field,
                },
            )
        }
        other => {
            return Err(format!(
                "unknown test '{other}' (not_null, unique, accepted_values, relationships, or a custom test with name and sql)"
            ));
        }
    };
    Ok(spec(custom_name.unwrap_or(name), kind, sev))
}

/// `schema.name`, or `ref('name')` (schema left empty, resolved later).
fn parse_ref(s: &str) -> Option<TableName> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("ref(").and_then(|r| r.strip_suffix(')')) {
        let name = inner.trim().trim_matches(|c| c == '\'' || c == '"');
        return match TableName::parse(name) {
            Some(t) => Some(t),
            None => Some(TableName::new("", name.to_lowercase())),
        };
    }
    TableName::parse(&s.to_lowercase())
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

    #[test]
    fn tests_parse_in_both_dbt_spellings() {
        let v: Value = serde_yaml_ng::from_str(
            "accepted_values: { values: [a, 1], config: { severity: warn } }",
        )
        .expect("yaml");
        let t = parse_test(&v, Some("c")).expect("test");
        assert_eq!(t.severity, Severity::Warn);
        assert_eq!(
            t.kind,
            TestKind::AcceptedValues {
                column: "c".into(),
                values: vec!["a".into(), "1".into()]
            }
        );
        let v: Value = serde_yaml_ng::from_str(
            "relationships: { to: \"ref('dim_project')\", field: project_id, severity: warn }",
        )
        .expect("yaml");
        let t = parse_test(&v, Some("project_id")).expect("test");
        assert_eq!(t.severity, Severity::Warn);
        assert!(
            matches!(t.kind, TestKind::Relationships { ref to, .. } if to.name == "dim_project" && to.schema.is_empty())
        );
        let v: Value =
            serde_yaml_ng::from_str("{name: x, sql: 'SELECT 1', colour: red}").expect("yaml");
        assert!(parse_test(&v, None).is_err());
    }
}
