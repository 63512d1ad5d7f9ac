//! Integration tests of the model engine: small projects in temp dirs over a temp lake.

mod build;
mod checks;
mod docs;
mod formulas;
mod incremental;
mod landing;
mod months;
mod project;
mod query;
mod rebuild;
mod release;
mod select;
mod snapshot;
mod streaming;
mod typecheck;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use pslake_lake::{Lake, TableName};
use pslake_transform::{BuildOptions, BuildReport, NoopReporter, Project};

/// What `pslake validate` says of a project holding one model, `name`, whose SQL `sql` is in
/// `file` and whose `config:` is `config` (YAML flow style).
pub(crate) fn config_problems(file: &str, sql: &str, name: &str, config: &str) -> Vec<String> {
    let f = Fixture::new();
    f.write(file, sql).write(
        "models/m.yml",
        &format!("version: 2\nmodels:\n  - name: {name}\n    config: {config}\n"),
    );
    pslake_transform::validate(f.root())
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A batch of columns `id` (string) and `amount` (bigint).
pub(crate) fn id_amount(rows: &[(&str, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
    ]));
    let ids: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
    ));
    let amounts: ArrayRef = Arc::new(Int64Array::from(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, vec![ids, amounts]).expect("batch")
}

/// A project directory and a lake, both temporary.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) lake: Lake,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::parse(dir.path().join("lake").to_str().expect("utf8")).expect("lake");
        Self { dir, lake }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    /// `raw.<name>` with columns `id` (string) and `amount` (bigint).
    pub(crate) async fn raw(&self, name: &str, rows: &[(&str, i64)]) {
        self.lake
            .overwrite(&TableName::new("raw", name), vec![id_amount(rows)])
            .await
            .expect("raw table");
    }

    pub(crate) fn project(&self) -> Project {
        Project::load(self.root()).unwrap_or_else(|e| panic!("project loads: {e}"))
    }

    pub(crate) async fn build(&self, select: Option<&str>) -> BuildReport {
        let mut opts = opts("run-1");
        opts.select = select.map(str::to_string);
        pslake_transform::build(&self.project(), &self.lake, &opts, &NoopReporter)
            .await
            .expect("build runs")
    }

    /// The result of a query, formatted as sorted lines `a|b|c`.
    pub(crate) async fn rows(&self, sql: &str) -> Vec<String> {
        let batches = self.lake.query(sql).await.expect("query");
        lines(&batches)
    }

    pub(crate) async fn version(&self, table: &str) -> Option<i64> {
        self.lake
            .version(&TableName::parse(table).expect("name"))
            .await
            .expect("version")
    }
}

/// Record batches as sorted `a|b|c` lines, the form every test here compares.
pub(crate) fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, r).expect("display"))
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

pub(crate) fn opts(run_id: &str) -> BuildOptions {
    BuildOptions::new(
        run_id,
        NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"),
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
    )
}

pub(crate) fn status_of<'a>(
    report: &'a BuildReport,
    model: &str,
) -> &'a pslake_transform::ModelStatus {
    &report
        .models
        .iter()
        .find(|m| m.model == model)
        .unwrap_or_else(|| panic!("{model} in report: {report}"))
        .status
}
