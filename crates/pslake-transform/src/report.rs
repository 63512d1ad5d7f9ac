//! What a build, test or plan reports: per-model status, rows, timings and test outcomes.

use std::fmt;
use std::time::Duration;

use crate::project::Severity;

/// How a model ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Built (and published, when its materialization publishes).
    Ok,
    /// Failed; nothing of it was published. The message names the model, test and values.
    Failed(String),
    /// Not run because an upstream model failed or was skipped.
    Skipped(String),
}

impl ModelStatus {
    /// `ok`, `failed` or `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// Progress callbacks; the CLI draws progress with them. Called from the build's task.
pub trait Reporter: Send + Sync {
    /// A model started.
    fn on_model_start(&self, model: &str) {
        let _ = model;
    }
    /// A model ended (ok, failed or skipped).
    fn on_model_done(&self, model: &str, rows: u64, elapsed: Duration, status: &ModelStatus) {
        let _ = (model, rows, elapsed, status);
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopReporter;

impl Reporter for NoopReporter {}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// No offending rows.
    Pass,
    /// Offending rows, severity error.
    Fail,
    /// Offending rows, severity warn.
    Warn,
    /// The test itself could not run (bad SQL, missing table): counts as a failure.
    Error,
}

impl TestOutcome {
    /// `pass`, `fail`, `warn` or `error`, as `_pslake.runs` records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// `schema.name` of the model.
    pub model: String,
    /// The test's display name.
    pub name: String,
    /// Declared severity.
    pub severity: Severity,
    /// What happened.
    pub outcome: TestOutcome,
    /// Offending rows.
    pub failures: u64,
    /// The message (with the first offending rows) when it did not pass.
    pub message: Option<String>,
}

/// One model's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelResult {
    /// `schema.name`.
    pub model: String,
    /// The materialization.
    pub materialized: String,
    /// How it ended.
    pub status: ModelStatus,
    /// Rows the model produced (for incremental: the rows merged in; 0 for a view, which is
    /// planned into the models that read it and never computed on its own).
    pub rows: u64,
    /// The published table was reused: every input and the model itself are as they were when
    /// it was built (its fingerprint is unchanged), so nothing ran.
    pub reused: bool,
    /// Wall time.
    pub duration: Duration,
    /// The published Delta version, when written.
    pub version: Option<i64>,
    /// Its tests.
    pub tests: Vec<TestResult>,
    /// Its tests read only the months this build rewrote (a table kept by month whose published
    /// version passed the same tests: see `checks::Scope`), not the whole table.
    pub tests_rewritten_only: bool,
}

/// The result of `build`.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// The run.
    pub run_id: String,
    /// Per model, in the order they finished.
    pub models: Vec<ModelResult>,
    /// Rows appended to `_pslake.rejects`.
    pub rejects: u64,
    /// Rows appended to `_pslake.warnings` (warnings models and warn tests).
    pub warnings: u64,
    /// Whether the audited tables were committed: only when every model passed, so a failed
    /// build leaves every published table at its previous version.
    pub published: bool,
}

impl BuildReport {
    /// True when no model failed or was skipped.
    pub fn is_success(&self) -> bool {
        self.models.iter().all(|m| m.status == ModelStatus::Ok)
    }

    /// Every test result.
    pub fn tests(&self) -> impl Iterator<Item = &TestResult> {
        self.models.iter().flat_map(|m| m.tests.iter())
    }
}

fn tests_summary(tests: &[TestResult]) -> String {
    let count = |o| tests.iter().filter(|t| t.outcome == o).count();
    let (p, f, w, e) = (
        count(TestOutcome::Pass),
        count(TestOutcome::Fail),
        count(TestOutcome::Warn),
        count(TestOutcome::Error),
    );
    let mut s = format!("{p} passed");
    if f + e > 0 {
        s.push_str(&format!(", {} failed", f + e));
    }
    if w > 0 {
        s.push_str(&format!(", {w} warned"));
    }
    s
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .models
            .iter()
            .map(|m| m.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<width$}  {:<11}  {:<7}  {:>10}  {:>8}  tests",
            "model", "materialized", "status", "rows", "time"
        )?;
        for m in &self.models {
            writeln!(
                f,
                "{:<width$}  {:<11}  {:<7}  {:>10}  {:>7.2}s  {}",
                m.model,
                m.materialized,
                if m.reused {
                    "unchanged"
                } else {
                    m.status.as_str()
                },
                // A view is not computed on its own, a reused table not at all: no row count.
                if m.materialized == "view" || m.reused {
                    "-".to_string()
                } else {
                    m.rows.to_string()
                },
                m.duration.as_secs_f64(),
                if m.tests.is_empty() {
                    "-".to_string()
                } else if m.tests_rewritten_only {
                    format!("{} (rewritten months)", tests_summary(&m.tests))
                } else {
                    tests_summary(&m.tests)
                }
            )?;
        }
        let messages: Vec<String> = self
            .models
            .iter()
            .flat_map(|m| {
                let status = match &m.status {
                    ModelStatus::Failed(msg) => Some(format!("error: {msg}")),
                    ModelStatus::Skipped(why) => Some(format!("skipped {}: {why}", m.model)),
                    ModelStatus::Ok => None,
                };
                let warns = m
                    .tests
                    .iter()
                    .filter(|t| t.outcome == TestOutcome::Warn)
                    .filter_map(|t| t.message.as_ref().map(|msg| format!("warning: {msg}")));
                status.into_iter().chain(warns).collect::<Vec<_>>()
            })
            .collect();
        for msg in messages {
            writeln!(f, "{msg}")?;
        }
        let ok = self
            .models
            .iter()
            .filter(|m| m.status == ModelStatus::Ok)
            .count();
        write!(
            f,
            "{} of {} models ok, {} rejects, {} warnings: {}",
            ok,
            self.models.len(),
            self.rejects,
            self.warnings,
            if self.is_success() {
                "success"
            } else {
                "FAILED"
            }
        )?;
        if !self.published && self.models.iter().any(|m| m.materialized != "view") {
            write!(
                f,
                "\nnothing published: every table keeps its previous version"
            )?;
        }
        Ok(())
    }
}

/// The result of `test` (tests against the published tables).
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    /// Every test run.
    pub tests: Vec<TestResult>,
    /// Models whose tests could not run, with why.
    pub errors: Vec<String>,
}

impl TestReport {
    /// True when no error-severity test failed and every model could be tested.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
            && self
                .tests
                .iter()
                .all(|t| matches!(t.outcome, TestOutcome::Pass | TestOutcome::Warn))
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tests {
            let tag = match t.outcome {
                TestOutcome::Pass => "PASS",
                TestOutcome::Fail => "FAIL",
                TestOutcome::Warn => "WARN",
                TestOutcome::Error => "ERROR",
            };
            writeln!(f, "{tag:<5}  {}  {}", t.model, t.name)?;
            if let Some(msg) = &t.message {
                writeln!(f, "       {msg}")?;
            }
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        write!(
            f,
            "{}: {}",
            tests_summary(&self.tests),
            if self.is_success() {
                "success"
            } else {
                "FAILED"
            }
        )
    }
}
