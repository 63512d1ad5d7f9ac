//! Parsing one `data_tests:` entry of `models/*.yml` into a [`TestSpec`].
//!
//! Spellings, as dbt and dbt_utils write them:
//! - `not_null`, `unique` (a column's), `accepted_values: {values: [...]}`,
//!   `relationships: {to: schema.name | ref('name'), field: col}`;
//! - `unique: {columns: [a, b]}` and `dbt_utils.unique_combination_of_columns:
//!   {combination_of_columns: [a, b]}`: no two rows share the combination;
//! - `dbt_utils.expression_is_true: {expression: "amount >= 0"}` (on a column, the expression
//!   follows the column: `expression: ">= 0"`);
//! - `dbt_utils.accepted_range: {min_value: 0, max_value: 100, inclusive: true}`;
//! - a custom test `{name, sql}` returning offending rows.
//!
//! The `dbt_utils.` prefix is optional. Arguments may also sit under `arguments:` (dbt 1.10).
//! Severity: `severity: warn` or `config: {severity: warn}`. The test's name is checked before
//! its arguments, so an unknown test is reported as such.

use std::path::PathBuf;

use pslake_lake::TableName;
use serde_yaml_ng::{Mapping, Value};

use crate::project::{Severity, TestKind, TestSpec};

/// The tests this engine runs, for messages.
const KNOWN: &str = "not_null, unique, accepted_values, relationships, expression_is_true, \
accepted_range, unique_combination_of_columns (dbt_utils. prefix optional), or a custom test with name and sql";

/// Arguments every generic test accepts.
const COMMON_ARGS: [&str; 5] = ["config", "severity", "name", "description", "column_name"];

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

/// A list of column names: `[a, b]` or `"a, b"`.
fn names(v: &Value) -> Option<Vec<String>> {
    let out: Vec<String> = match v {
        Value::Sequence(s) => s
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()?,
        Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        _ => return None,
    };
    (!out.is_empty() && out.iter().all(|c| !c.is_empty())).then_some(out)
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

fn spec(name: String, kind: TestKind, severity: Severity) -> TestSpec {
    TestSpec {
        name,
        kind,
        severity,
        file: PathBuf::new(),
        line: None,
    }
}

/// The custom SQL test `{name, sql, config, severity, description}`.
fn custom(map: &Mapping) -> Result<TestSpec, String> {
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
    Ok(spec(name, TestKind::Custom { sql }, sev))
}

/// Parses one entry of `data_tests:`; `column` is set for column-level tests.
pub(crate) fn parse_test(v: &Value, column: Option<&str>) -> Result<TestSpec, String> {
    let empty = Mapping::new();
    let (name, args) = match v {
        Value::String(s) => (s.as_str(), &empty),
        Value::Mapping(map) if map.contains_key("sql") => return custom(map),
        Value::Mapping(map) if map.len() == 1 => {
            let (k, args) = map.iter().next().expect("one entry");
            let name = k.as_str().ok_or("a test name must be a string")?;
            let args = match args {
                Value::Null => &empty,
                Value::Mapping(m) => m,
                _ => return Err(format!("test {name}: arguments must be a mapping")),
            };
            (name, args)
        }
        Value::Mapping(_) => {
            return Err(
                "a generic test is a mapping with one key, e.g. {accepted_values: {values: [...]}}"
                    .into(),
            );
        }
        _ => return Err("a test is a name or a mapping".into()),
    };
    let short = name.strip_prefix("dbt_utils.").unwrap_or(name);
    let own: &[&str] = match short {
        "not_null" => &[],
        "unique" => &["columns", "combination_of_columns"],
        "accepted_values" => &["values", "quote"],
        "relationships" => &["to", "field"],
        "expression_is_true" => &["expression"],
        "accepted_range" => &["min_value", "max_value", "inclusive"],
        "unique_combination_of_columns" => &["combination_of_columns", "quote_columns"],
        _ => return Err(format!("unknown test '{name}' ({KNOWN})")),
    };
    if name.starts_with("dbt_utils.")
        && !matches!(
            short,
            "expression_is_true" | "accepted_range" | "unique_combination_of_columns"
        )
    {
        return Err(format!("unknown test '{name}' ({KNOWN})"));
    }
    // dbt 1.10 puts the test's own arguments under `arguments:`.
    let mut args = args.clone();
    if let Some(Value::Mapping(inner)) = args.remove("arguments") {
        for (k, v) in inner {
            args.insert(k, v);
        }
    }
    if let Some(k) = args
        .keys()
        .filter_map(Value::as_str)
        .find(|k| !COMMON_ARGS.contains(k) && !own.contains(k))
    {
        let expected = if own.is_empty() {
            "it takes only config, severity, name, description, column_name".to_string()
        } else {
            format!("expected {}", own.join(", "))
        };
        return Err(format!("test {name}: unknown argument '{k}' ({expected})"));
    }
    let sev = parse_severity(args.get("severity"))?
        .or(parse_severity(
            args.get("config").and_then(|c| c.get("severity")),
        )?)
        .unwrap_or(Severity::Error);
    let column = args.get("column_name").and_then(Value::as_str).or(column);
    let need_column = || {
        column.map(str::to_string).ok_or_else(|| {
            format!("test {name} needs a column (put it under columns: or give column_name)")
        })
    };
    let custom_name = args.get("name").and_then(Value::as_str).map(str::to_string);
    let (display, kind) = match short {
        "not_null" => {
            let col = need_column()?;
            (
                format!("not_null({col})"),
                TestKind::NotNull { column: col },
            )
        }
        "unique" | "unique_combination_of_columns" => {
            let list = ["columns", "combination_of_columns"]
                .iter()
                .find_map(|k| args.get(*k));
            match list {
                Some(v) => {
                    let columns = names(v).ok_or_else(|| {
                        format!("test {name}: the columns are a list of names, e.g. [a, b]")
                    })?;
                    (
                        format!("unique({})", columns.join(", ")),
                        TestKind::UniqueCombination { columns },
                    )
                }
                None if short == "unique" => {
                    let col = need_column()?;
                    (format!("unique({col})"), TestKind::Unique { column: col })
                }
                None => {
                    return Err(format!("test {name} needs combination_of_columns: [a, b]"));
                }
            }
        }
        "accepted_values" => {
            let col = need_column()?;
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
            let col = need_column()?;
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
        "expression_is_true" => {
            let expression = args
                .get("expression")
                .and_then(value_text)
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| format!("test {name} needs expression: \"<SQL condition>\""))?;
            let shown = match column {
                Some(c) => format!("{c} {}", expression.trim()),
                None => expression.trim().to_string(),
            };
            (
                format!("expression_is_true({shown})"),
                TestKind::ExpressionIsTrue {
                    column: column.map(str::to_string),
                    expression,
                },
            )
        }
        "accepted_range" => {
            let col = need_column()?;
            let bound = |k: &str| -> Result<Option<String>, String> {
                match args.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Number(n)) => Ok(Some(n.to_string())),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(format!("test {name}: {k} must be a number or SQL")),
                }
            };
            let (min_value, max_value) = (bound("min_value")?, bound("max_value")?);
            if min_value.is_none() && max_value.is_none() {
                return Err(format!("test {name} needs min_value or max_value"));
            }
            let inclusive = match args.get("inclusive") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(format!("test {name}: inclusive is true or false")),
            };
            (
                format!("accepted_range({col})"),
                TestKind::AcceptedRange {
                    column: col,
                    min_value,
                    max_value,
                    inclusive,
                },
            )
        }
        _ => unreachable!("checked against the known tests above"),
    };
    Ok(spec(custom_name.unwrap_or(display), kind, sev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str, column: Option<&str>) -> Result<TestSpec, String> {
        let v: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        parse_test(&v, column)
    }

    #[test]
    fn tests_parse_in_both_dbt_spellings() {
        let t = parse(
            "accepted_values: { values: [a, 1], config: { severity: warn } }",
            Some("c"),
        )
        .expect("test");
        assert_eq!(t.severity, Severity::Warn);
        assert_eq!(
            t.kind,
            TestKind::AcceptedValues {
                column: "c".into(),
                values: vec!["a".into(), "1".into()]
            }
        );
        let t = parse(
            "relationships: { to: \"ref('dim_project')\", field: project_id, severity: warn }",
            Some("project_id"),
        )
        .expect("test");
        assert_eq!(t.severity, Severity::Warn);
        assert!(
            matches!(t.kind, TestKind::Relationships { ref to, .. } if to.name == "dim_project" && to.schema.is_empty())
        );
        assert!(parse("{name: x, sql: 'SELECT 1', colour: red}", None).is_err());
        let t = parse(
            "accepted_values: {arguments: {values: [a]}, config: {severity: warn}}",
            Some("c"),
        )
        .expect("dbt 1.10 arguments");
        assert_eq!(t.severity, Severity::Warn);
    }

    #[test]
    fn dbt_utils_spellings() {
        let t = parse(
            "dbt_utils.unique_combination_of_columns: {combination_of_columns: [a, b]}",
            None,
        )
        .expect("test");
        assert_eq!(t.name, "unique(a, b)");
        assert_eq!(
            t.kind,
            TestKind::UniqueCombination {
                columns: vec!["a".into(), "b".into()]
            }
        );
        let t = parse("unique: {columns: [a, b]}", None).expect("built-in");
        assert_eq!(t.name, "unique(a, b)");
        let t = parse(
            "dbt_utils.expression_is_true: {expression: '>= 0'}",
            Some("amount"),
        )
        .expect("test");
        assert_eq!(t.name, "expression_is_true(amount >= 0)");
        let t = parse(
            "dbt_utils.accepted_range: {min_value: 0, max_value: 1, inclusive: false}",
            Some("pct"),
        )
        .expect("test");
        assert_eq!(
            t.kind,
            TestKind::AcceptedRange {
                column: "pct".into(),
                min_value: Some("0".into()),
                max_value: Some("1".into()),
                inclusive: false
            }
        );
    }

    #[test]
    fn unknown_tests_are_named_before_their_arguments() {
        let e = parse("dbt_utils.not_a_test: {combination_of_columns: [a]}", None)
            .expect_err("unknown");
        assert!(e.starts_with("unknown test 'dbt_utils.not_a_test'"), "{e}");
        let e = parse("not_nul", Some("c")).expect_err("unknown");
        assert!(e.starts_with("unknown test 'not_nul'"), "{e}");
        let e = parse("accepted_values: {values: [a], colour: red}", Some("c")).expect_err("arg");
        assert!(
            e.contains("test accepted_values: unknown argument 'colour'"),
            "{e}"
        );
    }
}
