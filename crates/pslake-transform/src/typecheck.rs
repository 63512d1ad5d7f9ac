//! What DataFusion's planner lets through, and where in a model's SQL a problem is.
//!
//! - [`temporal_comparisons`]: DataFusion's type coercion accepts comparing a date or timestamp
//!   with a number (`comparison_coercion` → `temporal_coercion` turns `Int64` into `Date32`, so
//!   `month >= 1` means "after 1970-01-02") and with any string (`string_temporal_coercion` casts
//!   it, and a string that is not a date fails only when the query runs). Both are almost always
//!   mistakes in a model, so they are problems here, found by walking the logical plan.
//! - [`error_position`]: line and column of a DataFusion error, from its diagnostics (spans are
//!   collected by the session), else from the first quoted name of the message found in the SQL.
//! - [`output_column_position`]: where the top-level `SELECT` produces an output column, for
//!   contract errors.

use arrow::array::{Array, StringArray};
use arrow::compute::CastOptions;
use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Select, SelectItem, SetExpr, Spanned, Statement,
};
use datafusion::sql::unparser::expr_to_sql;

/// A 1-based `(line, column)` in a SQL text.
pub(crate) type Position = (usize, usize);

/// A comparison the planner accepted but a model should not contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Where the first column of the comparison is, when the plan has its span.
    pub(crate) position: Option<Position>,
    /// What is wrong.
    pub(crate) message: String,
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
    )
}

fn kind(t: &DataType) -> &'static str {
    match t {
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        _ => "time",
    }
}

fn is_comparison(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

/// Whether `s` reads as a value of `t` (the cast DataFusion would do at run time).
fn parses_as(s: &str, t: &DataType) -> bool {
    let array = StringArray::from(vec![s]);
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow::compute::cast_with_options(&array, t, &opts).is_ok_and(|a| a.null_count() == 0)
}

/// The position of the first column under `e` whose span the planner kept.
fn first_span(e: &Expr) -> Option<Position> {
    let mut found = None;
    let _ = e.apply(|x| {
        if let Expr::Column(c) = x
            && let Some(s) = c.spans().first()
            && s.start.line > 0
        {
            found = Some((s.start.line as usize, s.start.column as usize));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// `"month"` → `month`: the unparser quotes names that are keywords; a message reads better
/// without the quotes around plain names.
fn unquote(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut parts = sql.split('"');
    out.push_str(parts.next().unwrap_or_default());
    let rest: Vec<&str> = parts.collect();
    let mut i = 0;
    while i < rest.len() {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if i + 1 < rest.len() && plain(rest[i]) {
            out.push_str(rest[i]);
            out.push_str(rest[i + 1]);
            i += 2;
        } else {
            out.push('"');
            out.push_str(rest[i]);
            i += 1;
        }
    }
    out
}

/// `e` as SQL for a message: columns unqualified (`month >= 1`), as a model author wrote it.
fn sql_text(e: &Expr) -> String {
    let plain = e
        .clone()
        .transform(|x| {
            Ok(match x {
                Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| e.clone());
    let text = match expr_to_sql(&plain) {
        Ok(sql) => unquote(&sql.to_string()),
        Err(_) => plain.to_string(),
    };
    match text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        Some(inner) if !inner.contains(['(', ')']) => inner.to_string(),
        _ => text,
    }
}

/// The problem with comparing `a` and `b` (in `whole`), if any.
fn check_pair(a: &Expr, b: &Expr, whole: &Expr, schema: &DFSchema) -> Option<Finding> {
    let (ta, tb) = (a.get_type(schema).ok()?, b.get_type(schema).ok()?);
    let (temporal, t, other, to) = if is_temporal(&ta) && !is_temporal(&tb) {
        (a, ta, b, tb)
    } else if is_temporal(&tb) && !is_temporal(&ta) {
        (b, tb, a, ta)
    } else {
        return None;
    };
    let what = kind(&t);
    let (whole_sql, temporal_sql, other_sql) =
        (sql_text(whole), sql_text(temporal), sql_text(other));
    let message = if to.is_numeric() {
        format!(
            "`{whole_sql}` compares a {what} ({temporal_sql}) with a number ({other_sql}, {to}); compare it with a {what} (e.g. DATE '2026-01-31') or compare a part of it (e.g. date_part('month', {temporal_sql}))"
        )
    } else if let Some(s) = string_literal(other) {
        if parses_as(s, &t) {
            return None;
        }
        format!(
            "`{whole_sql}` compares a {what} ({temporal_sql}) with '{s}', which is not a {what}"
        )
    } else {
        return None;
    };
    Some(Finding {
        position: first_span(whole).or_else(|| first_span(temporal)),
        message,
    })
}

fn check_expr(e: &Expr, schema: &DFSchema, out: &mut Vec<Finding>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            out.extend(check_pair(left, right, e, schema));
        }
        Expr::Between(Between {
            expr, low, high, ..
        }) => {
            out.extend(
                check_pair(expr, low, e, schema).or_else(|| check_pair(expr, high, e, schema)),
            );
        }
        Expr::InList(list) => {
            out.extend(
                list.list
                    .iter()
                    .find_map(|item| check_pair(&list.expr, item, e, schema)),
            );
        }
        _ => {}
    }
}

/// Comparisons of a date, timestamp or time with a number, or with a string literal that is not
/// one, anywhere in `plan` (subqueries included). Each is reported once.
pub(crate) fn temporal_comparisons(plan: &LogicalPlan) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        // A node's expressions refer to the columns of its inputs.
        let mut schema = DFSchema::empty();
        for input in node.inputs() {
            schema.merge(input.schema());
        }
        let _ = node.apply_expressions(|e| {
            e.apply(|sub| {
                check_expr(sub, &schema, &mut out);
                Ok(TreeNodeRecursion::Continue)
            })
        });
        Ok(TreeNodeRecursion::Continue)
    });
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|f| seen.insert((f.position, f.message.clone())));
    out
}

/// The position of a DataFusion error: its diagnostic's span, else the first name quoted in
/// the message that occurs in `sql`.
pub(crate) fn error_position(e: &DataFusionError, sql: &str) -> Option<Position> {
    e.iter()
        .filter_map(|e| e.diagnostic())
        .filter_map(|d| d.span)
        .find(|s| s.start.line > 0)
        .map(|s| (s.start.line as usize, s.start.column as usize))
        .or_else(|| quoted_name_position(&e.strip_backtrace(), sql))
}

/// The first `'name'` or `"name"` of `message` (a plain or qualified identifier; the last part
/// is searched) that occurs in `sql` as a whole word, outside `--` comments.
fn quoted_name_position(message: &str, sql: &str) -> Option<Position> {
    let candidates = message
        .split(['\'', '"'])
        .skip(1)
        .step_by(2)
        .filter_map(|q| q.rsplit('.').next())
        .filter(|q| {
            !q.is_empty()
                && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !q.chars().next().is_some_and(|c| c.is_ascii_digit())
        });
    for name in candidates {
        if let Some(p) = find_word(sql, name) {
            return Some(p);
        }
    }
    None
}

/// The first whole-word, case-insensitive occurrence of `word` in `sql`, outside `--` comments.
fn find_word(sql: &str, word: &str) -> Option<Position> {
    let word = word.to_ascii_lowercase();
    for (n, line) in sql.lines().enumerate() {
        let code = line.split("--").next().unwrap_or_default();
        let lower = code.to_ascii_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find(&word) {
            let start = from + i;
            let end = start + word.len();
            let boundary =
                |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if boundary(lower[..start].chars().next_back()) && boundary(lower[end..].chars().next())
            {
                return Some((n + 1, code[..start].chars().count() + 1));
            }
            from = end;
        }
    }
    None
}

fn first_select(body: &SetExpr) -> Option<&Select> {
    match body {
        SetExpr::Select(s) => Some(s),
        SetExpr::SetOperation { left, .. } => first_select(left),
        SetExpr::Query(q) => first_select(&q.body),
        _ => None,
    }
}

fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
        SelectItem::UnnamedExpr(SqlExpr::Identifier(id)) => Some(id.value.to_lowercase()),
        SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(ids)) => {
            ids.last().map(|id| id.value.to_lowercase())
        }
        _ => None,
    }
}

fn item_position(item: &SelectItem) -> Position {
    let span = match item {
        SelectItem::ExprWithAlias { alias, .. } => alias.span,
        other => other.span(),
    };
    (span.start.line as usize, span.start.column as usize)
}

/// Where the top-level `SELECT` of `sql` (the first branch of a set operation) produces output
/// column `index` named `name`: its alias, else its expression. `None` when the SQL does not
/// parse or the column comes from a wildcard.
pub(crate) fn output_column_position(sql: &str, index: usize, name: &str) -> Option<Position> {
    let statements = DFParser::parse_sql(sql).ok()?;
    let DFStatement::Statement(statement) = statements.front()? else {
        return None;
    };
    let Statement::Query(query) = statement.as_ref() else {
        return None;
    };
    let select = first_select(&query.body)?;
    let items = &select.projection;
    let wildcard = |i: &SelectItem| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    };
    let name = name.to_lowercase();
    let item = if index < items.len() && !items[..=index].iter().any(wildcard) {
        Some(&items[index])
    } else {
        items
            .iter()
            .find(|i| item_name(i).as_deref() == Some(name.as_str()))
    }?;
    Some(item_position(item)).filter(|p| p.0 > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_columns_are_found_by_position_or_alias() {
        let sql = "WITH x AS (SELECT 1 AS a)\nSELECT a,\n       a + 1 AS b\nFROM x";
        assert_eq!(output_column_position(sql, 0, "a"), Some((2, 8)));
        assert_eq!(output_column_position(sql, 1, "b"), Some((3, 17)));
        let sql = "SELECT *, 2 AS c FROM t";
        assert_eq!(output_column_position(sql, 3, "c"), Some((1, 16)));
        assert_eq!(output_column_position(sql, 0, "z"), None);
    }

    #[test]
    fn names_in_messages_are_found_as_words_outside_comments() {
        let sql = "-- amount_usd is here\nSELECT amount_usdx,\n  amount_usd FROM t";
        assert_eq!(
            quoted_name_position("column 'x.amount_usd' is wrong", sql),
            Some((3, 3))
        );
        assert_eq!(quoted_name_position("no quotes", sql), None);
    }

    #[test]
    fn plain_names_lose_their_quotes() {
        assert_eq!(unquote(r#""month" >= 1"#), "month >= 1");
        assert_eq!(
            unquote(r#""Mixed Case" = 'a"b'"#),
            r#""Mixed Case" = 'a"b'"#
        );
    }

    #[test]
    fn strings_parse_as_dates_only_when_they_are() {
        assert!(parses_as("2026-03-31", &DataType::Date32));
        assert!(!parses_as("March", &DataType::Date32));
    }
}
