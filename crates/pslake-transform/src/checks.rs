//! Data tests: each test is a query returning the offending rows; it passes when the query is
//! empty. The message names the YAML file and line of the test, the model, the test and the
//! first offending rows.

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use pslake_lake::TableName;

use crate::project::{Model, Severity, TestKind, TestSpec};
use crate::report::{TestOutcome, TestResult};

/// How many offending rows a message shows.
const SHOWN_ROWS: usize = 5;

/// `name` as a quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The condition an offending row of a row-wise test meets (`not_null`, `accepted_values`,
/// `accepted_range`, `expression_is_true`): the `WHERE` of its query in [`test_sql`]. `None`
/// for the tests that group or join (`unique`, `relationships`, ...) and custom SQL.
fn offending_row(test: &TestSpec) -> Option<String> {
    match &test.kind {
        TestKind::NotNull { column } => Some(format!("{} IS NULL", ident(column))),
        TestKind::AcceptedValues { column, values } => {
            let c = ident(column);
            Some(format!(
                "{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({})",
                values_list(values)
            ))
        }
        TestKind::ExpressionIsTrue { column, expression } => Some(format!(
            "NOT ({})",
            match column {
                Some(c) => format!("{} {expression}", ident(c)),
                None => expression.clone(),
            }
        )),
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
            Some(format!(
                "{c} IS NOT NULL AND NOT ({})",
                bounds.join(" AND ")
            ))
        }
        _ => None,
    }
}

fn values_list(values: &[String]) -> String {
    if values.is_empty() {
        "NULL".to_string()
    } else {
        values
            .iter()
            .map(|v| literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A table as a quoted SQL name: `"schema"."name"`.
pub(crate) fn table_sql(t: &TableName) -> String {
    format!("{}.{}", ident(&t.schema), ident(&t.name))
}

/// The model's table as a quoted SQL name.
fn model_table(model: &Model) -> String {
    table_sql(&model.name)
}

/// The rows a model's tests read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// The whole table, under the model's name.
    Whole,
    /// Only some months of the table were rewritten in this build, and the published table
    /// passed these same tests against the same parents: its kept rows need no test again.
    /// `new` is the quoted SQL name of the rows this build wrote, `changed` the inputs that may
    /// have changed (a relationship to one of them is checked over the whole table).
    Rewritten {
        new: &'a str,
        changed: &'a [&'a TableName],
    },
}

impl Scope<'_> {
    /// What a row-wise test reads: the rewritten rows, or the model's whole table.
    fn rows(&self, model: &Model) -> String {
        match self {
            Scope::Whole => model_table(model),
            Scope::Rewritten { new, .. } => new.to_string(),
        }
    }
}

/// The query returning a test's offending rows.
pub(crate) fn test_sql(model: &Model, test: &TestSpec) -> String {
    test_sql_in(model, test, Scope::Whole)
}

/// The query returning a test's offending rows among those `scope` names: over the rewritten
/// rows, a row-wise test and a relationship to an unchanged parent read only those rows, a
/// `unique` counts the table's rows whose value is among theirs (a duplicate always has one of
/// its rows among them: the kept rows had none), and every other test reads the whole table.
pub(crate) fn test_sql_in(model: &Model, test: &TestSpec, scope: Scope<'_>) -> String {
    let table = model_table(model);
    let offending = offending_row(test).unwrap_or_default();
    let rows = scope.rows(model);
    match &test.kind {
        TestKind::NotNull { .. } | TestKind::ExpressionIsTrue { .. } => {
            format!("SELECT * FROM {rows} WHERE {offending}")
        }
        TestKind::Unique { column } => {
            let c = ident(column);
            let among = match scope {
                Scope::Whole => String::new(),
                Scope::Rewritten { new, .. } => format!(" AND {c} IN (SELECT {c} FROM {new})"),
            };
            format!(
                "SELECT {c}, count(*) AS __pslake_rows FROM {table} WHERE {c} IS NOT NULL{among} GROUP BY {c} HAVING count(*) > 1 ORDER BY __pslake_rows DESC, {c}"
            )
        }
        TestKind::AcceptedValues { column, .. } => {
            let c = ident(column);
            format!(
                "SELECT CAST({c} AS VARCHAR) AS {c}, count(*) AS __pslake_rows FROM {rows} WHERE {offending} GROUP BY CAST({c} AS VARCHAR) ORDER BY __pslake_rows DESC, 1"
            )
        }
        TestKind::Relationships { column, to, field } => {
            let (c, f) = (ident(column), ident(field));
            let parent = format!("{}.{}", ident(&to.schema), ident(&to.name));
            let parent_changed = match scope {
                Scope::Whole => true,
                Scope::Rewritten { changed, .. } => to.schema.is_empty() || changed.contains(&to),
            };
            let children = if parent_changed { &table } else { &rows };
            format!(
                "SELECT child.{c}, count(*) AS __pslake_rows FROM {children} AS child WHERE child.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} AS parent WHERE parent.{f} = child.{c}) GROUP BY child.{c} ORDER BY __pslake_rows DESC, 1"
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
        TestKind::AcceptedRange { column, .. } => {
            let c = ident(column);
            format!(
                "SELECT {c}, count(*) AS __pslake_rows FROM {rows} WHERE {offending} GROUP BY {c} ORDER BY __pslake_rows DESC, 1"
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

/// Runs a model's tests in `ctx` (where its new output is registered under its name), in
/// their order, over the rows `scope` names ([`test_sql_in`]).
///
/// The row-wise tests ([`offending_row`]) are first counted together in one scan of the model
/// (`count(*) FILTER (WHERE ...)` each) instead of a scan each: a view's query runs once for all
/// of them, a large table is read once. A `unique` over the whole table is settled by its
/// values' hashes ([`crate::unique_hashes`]) when they are distinct. Only a test that counts
/// offending rows (or whose hashes repeat) then runs its own query, for its message. When that
/// one scan fails (a test's expression cannot plan or run), every test runs alone, so the error
/// names its test.
pub(crate) async fn run_tests(
    ctx: &SessionContext,
    model: &Model,
    scope: Scope<'_>,
) -> Vec<TestResult> {
    let rowwise: Vec<(usize, String)> = model
        .tests
        .iter()
        .enumerate()
        .filter_map(|(i, t)| offending_row(t).map(|c| (i, c)))
        .collect();
    let mut passed = vec![false; model.tests.len()];
    if rowwise.len() > 1 {
        let counts = rowwise
            .iter()
            .enumerate()
            .map(|(n, (_, c))| format!("count(*) FILTER (WHERE {c}) AS t{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {counts} FROM {}", scope.rows(model));
        if let Ok(batches) = async { ctx.sql(&sql).await?.collect().await }.await
            && let Some(batch) = batches.first().filter(|b| b.num_rows() == 1)
        {
            for (n, (i, _)) in rowwise.iter().enumerate() {
                let none = batch
                    .column(n)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .is_some_and(|a| a.is_valid(0) && a.value(0) == 0);
                passed[*i] = none;
            }
        }
    }
    // A `unique` over the whole table passes when its values' hashes are all distinct (see
    // `unique_hashes`); one scan for all of them. Over rewritten months its query reads only
    // the values among the new rows, and it runs as it is.
    if matches!(scope, Scope::Whole) {
        let unique: Vec<(usize, &str)> = model
            .tests
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match &t.kind {
                TestKind::Unique { column } => Some((i, column.as_str())),
                _ => None,
            })
            .collect();
        if !unique.is_empty() {
            let columns: Vec<&str> = unique.iter().map(|&(_, c)| c).collect();
            let proven =
                crate::unique_hashes::without_duplicates(ctx, &model_table(model), &columns).await;
            for (&(i, _), ok) in unique.iter().zip(proven) {
                passed[i] |= ok;
            }
        }
    }
    let mut results = Vec::with_capacity(model.tests.len());
    for (t, ok) in model.tests.iter().zip(passed) {
        results.push(if ok {
            passing(model, t)
        } else {
            run_test(ctx, model, t, scope).await
        });
    }
    results
}

/// A test's result when it found no offending row.
fn passing(model: &Model, test: &TestSpec) -> TestResult {
    TestResult {
        model: model.name.to_string(),
        name: test.name.clone(),
        severity: test.severity,
        outcome: TestOutcome::Pass,
        failures: 0,
        message: None,
    }
}

/// Runs one test in `ctx` (where the model's new output is registered under its name).
async fn run_test(
    ctx: &SessionContext,
    model: &Model,
    test: &TestSpec,
    scope: Scope<'_>,
) -> TestResult {
    let sql = test_sql_in(model, test, scope);
    let result = async { ctx.sql(&sql).await?.collect().await }.await;
    let base = passing(model, test);
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
