//! A project: `sql/<folder>/<name>.sql` models, `models/*.yml` metadata (dbt `version: 2`
//! schema files), `models/seeds/*.csv` seeds and `pslake.yml`, checked together. This file holds
//! the types; [`load`] reads the directory and [`yaml`] the schema files.
//!
//! [`Project::load`] gathers every problem (bad YAML, unknown keys, unknown tables, cycles, a YAML
//! entry without a SQL file) and returns them all, each with its file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, TimeUnit};
use pslake_lake::TableName;

use crate::dag;
use crate::deps::TableRef;
use crate::error::{Problem, ProjectErrors};
use crate::settings::Settings;

mod load;
mod yaml;

use load::load_unchecked;

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
    /// Every version of each key kept, with `valid_from`, `valid_to` and `is_current` (dbt's
    /// snapshots): see [`SnapshotConfig`].
    Snapshot,
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
            "snapshot" => Self::Snapshot,
            _ => return None,
        })
    }

    /// Whether the model's own Delta table is written (every materialization but a view: a
    /// rejects or warnings model's table holds the rows of the build that last computed it).
    pub fn publishes(self) -> bool {
        self != Self::View
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
            Self::Snapshot => "snapshot",
        }
    }
}

/// How a snapshot tells that a key has a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStrategy {
    /// `strategy: check`: a new version when one of the checked columns differs from the
    /// current version's (NULL-safe: NULL and a value differ, two NULLs do not); it is valid
    /// from the snapshot time.
    Check {
        /// `check_cols: [..]`; `None` for `check_cols: all` (every column but the key).
        columns: Option<Vec<String>>,
    },
    /// `strategy: timestamp`: a new version when `updated_at` is later than the current
    /// version's; it is valid from that `updated_at`.
    Timestamp {
        /// The DATE or TIMESTAMP column.
        updated_at: String,
    },
}

/// The settings of a `materialized: snapshot` model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// How a new version is told.
    pub strategy: SnapshotStrategy,
    /// Whether a key gone from the model's output closes its current version
    /// (`invalidate_hard_deletes: true`, `hard_deletes: invalidate`; the default).
    pub invalidate_hard_deletes: bool,
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

/// How the rows of a model kept by month reach into its `partition_input` (its map form,
/// `partition_input: {table, field, span_days}`): the model's row dated `d` (its `partition_by`
/// column) is made from the input rows whose `field` falls in `d .. d + span_days` (a weekly row
/// from the seven days of its week), and from other inputs that did not change. When only the
/// input changed, a build rebuilds every month whose rows reach a changed month, reads the
/// input over those months' reach and keeps only the rows in them.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionReach {
    /// The input's DATE column.
    pub field: String,
    /// How many days from a row's own date its input rows fall in (1: the same day).
    pub span_days: u32,
}

/// A model's `partition_input`: the input whose changed months are the only ones the model
/// rebuilds when nothing else it reads changed.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionInput {
    /// The input (a table the model reads).
    pub table: TableName,
    /// How the model's rows reach into it (the map form, `{table, field, span_days}`); `None`
    /// (the string form): a row's input rows fall in its own month, in a column of the same
    /// name as the model's `partition_by`.
    pub reach: Option<PartitionReach>,
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
    /// Merge key for `incremental`, the key of a `snapshot`.
    pub unique_key: Vec<String>,
    /// The settings of a `snapshot` model (`None` for every other materialization).
    pub snapshot: Option<SnapshotConfig>,
    /// `partition_by`: the DATE column whose month each data file holds; a build that knows
    /// which months changed rewrites only theirs.
    pub partition_by: Option<String>,
    /// `partition_input`: an input whose rows fall in the model's partitions (of the same month,
    /// or over their [`PartitionReach`]): when only it changed, only the months it changed in
    /// are rebuilt.
    pub partition_input: Option<PartitionInput>,
    /// `new_rows_from`: a lake table (an append-only landing) of which an incremental model
    /// reads only the files landed since its last build, when nothing else it reads changed.
    pub new_rows_from: Option<TableName>,
    /// `datafusion:` settings its query is planned and run with (full DataFusion keys and
    /// their values), on top of the build's: e.g. Parquet filter pushdown for a model that
    /// joins a few keys to a wide landed table, which reads the wide column only for them.
    pub engine_settings: Vec<(String, String)>,
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

    /// The contract columns the model's SQL returns: all of them, except for a snapshot the
    /// columns the snapshot adds (`valid_from`, `valid_to`, `is_current`, listed last if at all).
    pub(crate) fn output_columns(&self) -> &[ColumnSpec] {
        let n = self.columns.len();
        if self.materialized == Materialization::Snapshot
            && n >= 3
            && self.columns[n - 3..]
                .iter()
                .map(|c| c.name.as_str())
                .eq(crate::snapshot::SNAPSHOT_COLUMNS)
        {
            &self.columns[..n - 3]
        } else {
            &self.columns
        }
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
