//! The model engine: plain SQL models on DataFusion, published to the Delta lake with
//! write-audit-publish.
//!
//! - [`Project::load`] reads `sql/<folder>/<name>.sql` (model `folder.name`), `models/*.yml`
//!   (dbt `version: 2`: materialization, contract, tests) and `models/seeds/*.csv`; the
//!   dependency graph comes from the table names in the SQL (no `ref()`), checked for cycles and
//!   unknown tables. [`validate`] does the same for `pslake validate`, and [`validate_plans`]
//!   plans every model against the raw tables the pipelines declare, before any data exists.
//! - [`build`] plans every selected model with DataFusion before running any, then computes,
//!   checks (contract, tests) and publishes each in one Delta commit; a failing model leaves its
//!   previous version readable and its downstream models are skipped.
//! - [`test()`] runs the tests against the published tables; [`plan()`] shows order and schema
//!   changes without writing.
//! - [`query()`] runs SQL in a session that sees what a model sees (lake tables, seeds,
//!   `pslake.run_context`, unpublished models as views); [`show`] previews a model's rows
//!   without publishing it.
//!
//! The conventions are documented in the repository's `sql/README.md` and `models/README.md`.
#![warn(missing_docs)]

pub mod artifacts;
mod build;
mod changes;
mod checks;
mod cluster;
mod contract;
mod dag;
mod datatests;
pub mod deps;
mod error;
mod execute;
mod fingerprint;
mod jinja;
mod landing;
mod last_results;
mod latest_row;
mod lineage;
mod merge;
mod offline;
mod outputs;
mod plan;
mod planning;
mod project;
mod query;
mod report;
mod run_dates;
mod select;
mod session;
mod settings;
mod small_side;
mod snapshot;
mod stream;
mod testing;
mod typecheck;
mod unique_hashes;
mod yaml_lines;

pub use build::build;
pub use cluster::Cluster;
pub use error::{Error, Problem, ProjectErrors, Result};
pub use landing::{Landing, LandingSender, landing};
pub use last_results::{LastResults, RecordedTest, last_results};
pub use lineage::{ColumnLineage, ColumnRef, Flow, Lineage, LineageTree, ModelLineage, lineage};
pub use offline::validate_plans;
pub use plan::{Plan, PlanStep, SchemaChange, plan};
pub use planning::BuildOptions;
pub use project::{
    ColumnSpec, Materialization, Model, Project, Seed, Severity, SnapshotConfig, SnapshotStrategy,
    TestKind, TestSpec, parse_type, validate,
};
pub use query::{Preview, query, query_context, show};
pub use report::{
    BuildReport, ModelResult, ModelStatus, NoopReporter, Reporter, TestOutcome, TestReport,
    TestResult,
};
pub use run_dates::{RunDates, last_run_dates};
pub use settings::{DEFAULT_RETENTION, MaintainSettings, SETTINGS_FILE, Settings, parse_size};
pub use testing::test;
