//! Data tests: each test is a query returning the offending rows; it passes when the query is
//! empty. The message names the YAML file and line of the test, the model, the test and the
//! first offending rows.

use arrow::array::RecordBatch;
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use crate::project::{Model, Severity, TestKind, TestSpec};
use crate::report::{TestOutcome, TestResult};

/// How many offending rows a message shows.
const SHOWN_ROWS: usize = 5;

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The query returning a test's offending rows.
pub(crate) fn test_sql(model: &Model, test: &TestSpec) -> String {
    let table = format!("{}.{}", ident(&model.name.schema), ident(&model.name.name));
    match &test.kind {
        TestKind::NotNull { column } => {
            format!("SELECT * FROM {table} WHERE {} IS NULL", ident(column))
        }
        TestKind::Unique { column } => {
            let c = ident(column);
            format!(
                "SELECT {c}, count(*) AS __pslake_rows FROM {table} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1 ORDER BY __pslake_rows DESC, {c}"
            )
        }
        TestKind::AcceptedValues { column, values } => {
            let c = ident(column);
            let list = if values.is_empty() {
                "NULL".to_string()
            } else {
                values
                    .iter()
                    .map(|v| literal(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "SELECT CAST({c} AS VARCHAR) AS {c}, count(*) AS __pslake_rows FROM {table} WHERE {c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({list}) GROUP BY CAST({c} AS VARCHAR) ORDER BY __pslake_rows DESC, 1"
            )
        }
        TestKind::Relationships { column, to, field } => {
            let (c, f) = (ident(column), ident(field));
            let parent = format!("{}.{}", ident(&to.schema), ident(&to.name));
            format!(
                "SELECT child.{c}, count(*) AS __pslake_rows FROM {table} AS child WHERE child.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} AS parent WHERE parent.{f} = child.{c}) GROUP BY child.{c} ORDER BY __pslake_rows DESC, 1"
            )
        }
        TestKind::UniqueCombination { columns } => {
            let cols = columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {cols}, count(*) AS __pslake_rows FROM {table} GROUP BY {cols} HAVING count(*) > 1 ORDER BY __pslake_rows DESC, {cols}"
            )
        }
        TestKind::ExpressionIsTrue { column, expression } => {
            let condition = match column {
                Some(c) => format!("{} {expression}", ident(c)),
                None => expression.clone(),
            };
            format!("SELECT * FROM {table} WHERE NOT ({condition})")
        }
        TestKind::AcceptedRange {
            column,
            min_value,
            max_value,
            inclusive,
        } => {
            let c = ident(column);
            let (lo, hi) = if *inclusive { (">=", "<=") } else { (">", "<") };
            let bounds: Vec<String> = min_value
                .iter()
                .map(|v| format!("{c} {lo} {v}"))
                .chain(max_value.iter().map(|v| format!("{c} {hi} {v}")))
                .collect();
            format!(
                "SELECT {c}, count(*) AS __pslake_rows FROM {table} WHERE {c} IS NOT NULL AND NOT ({}) GROUP BY {c} ORDER BY __pslake_rows DESC, 1",
                bounds.join(" AND ")
            )
        }
        TestKind::Custom { sql } => sql.trim().trim_end_matches(';').to_string(),
    }
}

/// Where a test is declared: `models/x.yml:12`.
pub(crate) fn location(test: &TestSpec) -> String {
    match test.line {
        Some(line) => format!("{}:{line}", test.file.display()),
        None => test.file.display().to_string(),
    }
}

/// One offending row, readable: a `message` column wins; `system`, `field`, `value` read as
/// `system.field = 'value'`; otherwise `col=value` pairs.
fn format_row(batch: &RecordBatch, row: usize) -> String {
    let schema = batch.schema();
    let get = |name: &str| -> Option<String> {
        let i = schema.index_of(name).ok()?;
        let col = batch.column(i);
        Some(if col.is_null(row) {
            "NULL".to_string()
        } else {
            array_value_to_string(col, row).unwrap_or_default()
        })
    };
    let count = get("__pslake_rows")
        .filter(|n| n != "1")
        .map(|n| format!(" ({n} rows)"))
        .unwrap_or_default();
    if let Some(m) = get("message") {
        return m;
    }
    if let (Some(s), Some(f), Some(v)) = (get("system"), get("field"), get("value")) {
        return format!("{s}.{f} = '{v}'{count}");
    }
    let pairs: Vec<String> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name() != "__pslake_rows")
        .take(8)
        .map(|(i, f)| {
            let col = batch.column(i);
            let mut v = if col.is_null(row) {
                "NULL".to_string()
            } else {
                array_value_to_string(col, row).unwrap_or_default()
            };
            if v.chars().count() > 60 {
                v = v.chars().take(57).collect::<String>() + "...";
            }
            format!("{} = '{v}'", f.name())
        })
        .collect();
    format!("{}{count}", pairs.join(", "))
}

/// The first offending rows, formatted, with a count of the rest.
pub(crate) fn describe_rows(batches: &[RecordBatch], total: u64) -> String {
    let mut shown = Vec::new();
    'outer: for b in batches {
        for r in 0..b.num_rows() {
            if shown.len() == SHOWN_ROWS {
                break 'outer;
            }
            shown.push(format_row(b, r));
        }
    }
    let mut s = shown.join("; ");
    if total > shown.len() as u64 {
        s.push_str(&format!("; ... and {} more", total - shown.len() as u64));
    }
    s
}

/// Runs one test in `ctx` (where the model's new output is registered under its name).
pub(crate) async fn run_test(ctx: &SessionContext, model: &Model, test: &TestSpec) -> TestResult {
    let sql = test_sql(model, test);
    let result = async { ctx.sql(&sql).await?.collect().await }.await;
    let base = TestResult {
        model: model.name.to_string(),
        name: test.name.clone(),
        severity: test.severity,
        outcome: TestOutcome::Pass,
        failures: 0,
        message: None,
    };
    match result {
        Err(e) => TestResult {
            outcome: TestOutcome::Error,
            message: Some(format!(
                "{}: model {}: test {} could not run: {}",
                location(test),
                model.name,
                test.name,
                e.strip_backtrace()
            )),
            ..base
        },
        Ok(batches) => {
            let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
            if total == 0 {
                return base;
            }
            let outcome = if test.severity == Severity::Error {
                TestOutcome::Fail
            } else {
                TestOutcome::Warn
            };
            let rows = describe_rows(&batches, total);
            TestResult {
                outcome,
                failures: total,
                message: Some(format!(
                    "{}: model {}: test {} failed: {rows}",
                    location(test),
                    model.name,
                    test.name
                )),
                ..base
            }
        }
    }
}
