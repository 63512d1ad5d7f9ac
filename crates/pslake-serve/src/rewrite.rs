//! SQL that BI clients send and DataFusion does not take as it is, rewritten before
//! `datafusion-postgres` parses it.
//!
//! - `x LIKE p ESCAPE '/'` (SQLAlchemy's inspector: `nspname NOT LIKE 'pg/_%' ESCAPE '/'`):
//!   DataFusion only knows the backslash escape, so the pattern is rewritten to use it
//!   (`replace(replace(p, '\', '\\'), '/', '\')`).
//! - Correlated scalar subqueries (SQLAlchemy's `get_columns`: `CASE WHEN a.atthasdef THEN
//!   (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE a.atthasdef AND
//!   d.adrelid = a.attrelid AND d.adnum = a.attnum) END`, and the like for identity and
//!   collation). DataFusion decorrelates a scalar subquery only when it is aggregated and its
//!   correlated predicates each involve an inner column. So a `WHERE` conjunct that names
//!   outer columns only moves out of the subquery into `CASE WHEN conjunct THEN (subquery) END`
//!   (the same answer: no row and a false condition both give NULL), and a single,
//!   non-aggregated result is wrapped in `max(...)`. The one difference: where PostgreSQL
//!   fails because the subquery returns more than one row, this answers the largest value.
//!   A subquery whose result itself names an outer column (SQLAlchemy's identity options:
//!   `json_build_object('always', a.attidentity = 'a', 'start', s.seqstart, ...) FROM
//!   pg_sequence s`) cannot be planned that way and becomes NULL, as `datafusion-postgres`
//!   does for every correlated subquery standing alone in a projection (the `CASE` built here
//!   is not one of those). The lake has no sequences, identity columns or defaults, so those
//!   subqueries have no row to answer anyway.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, ObjectNamePart, Query, Select, SelectItem, SetExpr,
    TableFactor, Value, Visit, Visitor, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql` with every `LIKE`/`ILIKE ... ESCAPE 'c'` (c not a backslash) using the backslash and
/// every correlated scalar subquery in a shape DataFusion plans (see the module docs); `sql`
/// itself when there is nothing to rewrite or it does not parse (the real parser reports the
/// error).
pub(crate) fn rewrite(sql: &str) -> Cow<'_, str> {
    let upper = sql.to_ascii_uppercase();
    if !upper.contains("ESCAPE")
        && !upper.contains("RELOPTIONS")
        && upper.matches("SELECT").count() < 2
    {
        return Cow::Borrowed(sql);
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Cow::Borrowed(sql);
    };
    let mut changed = false;
    let _ = visit_expressions_mut(&mut statements, |e: &mut Expr| {
        if is_reloptions_list(e) {
            *e = Expr::Value(Value::Null.into());
            changed = true;
            return ControlFlow::Continue(());
        }
        if let Expr::Subquery(query) = e
            && let Some(new) = decorrelatable(query)
        {
            *e = new;
            changed = true;
            return ControlFlow::Continue(());
        }
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = e
            && let Some(esc) = escape_char
            && let Value::SingleQuotedString(c) = &esc.value
            && c != "\\"
        {
            let c = c.clone();
            let new = format!(
                "replace(replace(({}), '\\', '\\\\'), '{}', '\\')",
                pattern,
                c.replace('\'', "''")
            );
            if let Ok(expr) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&new)
                .and_then(|mut p| p.parse_expr())
            {
                **pattern = expr;
                *escape_char = None;
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if !changed {
        return Cow::Borrowed(sql);
    }
    Cow::Owned(
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(";\n"),
    )
}

/// psql's `\\d+`: `array_to_string(c.reloptions || array(SELECT ... unnest(tc.reloptions)
/// ...), ', ')`, the table's storage options. A lake table has none (`pg_class` has no
/// `reloptions` column), so it is NULL, as PostgreSQL answers for a table without options.
fn is_reloptions_list(e: &Expr) -> bool {
    let Expr::Function(f) = e else {
        return false;
    };
    let Some(ObjectNamePart::Identifier(name)) = f.name.0.last() else {
        return false;
    };
    if !name.value.eq_ignore_ascii_case("array_to_string") {
        return false;
    }
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let last = match e {
                Expr::CompoundIdentifier(parts) => parts.last(),
                _ => None,
            };
            if last.is_some_and(|i| i.value.eq_ignore_ascii_case("reloptions")) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut found = Find(false);
    let _ = e.visit(&mut found);
    found.0
}

/// Aggregates a scalar subquery's result may already use (then it is left as it is).
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
];

/// A correlated scalar subquery `(SELECT e FROM ... WHERE c1 AND ...)` as DataFusion plans it
/// (see the module docs), or `None` when it is not correlated or not that simple shape.
fn decorrelatable(query: &Query) -> Option<Expr> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if query.with.is_some() || select.distinct.is_some() || select.having.is_some() {
        return None;
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()) {
        return None;
    }
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let result = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let local = local_names(select);
    if names_outer(result, &local) {
        // DataFusion cannot plan an outer column inside the aggregate; see the module docs.
        return null_keeping_placeholders(query);
    }
    let selection = select.selection.as_ref()?;
    let mut conjuncts = Vec::new();
    split_and(selection, &mut conjuncts);
    if !conjuncts.iter().any(|c| names_outer(c, &local)) {
        return None;
    }
    let (outer, inner): (Vec<&Expr>, Vec<&Expr>) =
        conjuncts.into_iter().partition(|c| outer_only(c, &local));
    if outer.is_empty() && uses_aggregate(result) {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(new_select) = query.body.as_mut() else {
        return None;
    };
    new_select.selection = join_and(&inner)?;
    if !uses_aggregate(result) {
        let wrapped = parse_expr(&format!("max({result})"))?;
        new_select.projection = vec![SelectItem::UnnamedExpr(wrapped)];
    }
    let subquery = Expr::Subquery(Box::new(query));
    match join_and(&outer)? {
        None => Some(subquery),
        Some(condition) => parse_expr(&format!("CASE WHEN {condition} THEN {subquery} END")),
    }
}

/// NULL, still naming every placeholder of `query`: `datafusion-postgres` lines the bound
/// parameters up with the placeholders the plan has, so one that disappeared would shift the
/// types of those after it.
fn null_keeping_placeholders(query: &Query) -> Option<Expr> {
    struct Collect(Vec<String>);
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Value(v) = e
                && let Value::Placeholder(p) = &v.value
            {
                self.0.push(p.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect(Vec::new());
    let _ = query.visit(&mut c);
    if c.0.is_empty() {
        return Some(Expr::Value(Value::Null.into()));
    }
    let kept =
        c.0.iter()
            .map(|p| format!(" AND {p} IS NULL"))
            .collect::<String>();
    parse_expr(&format!("CASE WHEN FALSE{kept} THEN NULL END"))
}

/// The names the subquery's own relations go by: their aliases, or their last name part.
fn local_names(select: &Select) -> HashSet<String> {
    let mut out = HashSet::new();
    for t in &select.from {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            let name = match factor {
                TableFactor::Table { alias: Some(a), .. }
                | TableFactor::Derived { alias: Some(a), .. } => Some(a.name.value.clone()),
                TableFactor::Table { name, .. } => match name.0.last() {
                    Some(ObjectNamePart::Identifier(i)) => Some(i.value.clone()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(n) = name {
                out.insert(n.to_ascii_lowercase());
            }
        }
    }
    out
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

/// `a AND b AND ...` (`Some(None)` for none; `None` when it does not parse back).
fn join_and(conjuncts: &[&Expr]) -> Option<Option<Expr>> {
    if conjuncts.is_empty() {
        return Some(None);
    }
    let text = conjuncts
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    parse_expr(&text).map(Some)
}

fn parse_expr(text: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// What the column references of `e` are: (qualified by a local name, qualified by another
/// name, unqualified or inside a nested subquery).
#[derive(Default)]
struct References {
    local: bool,
    outer: bool,
    unknown: bool,
}

fn references(e: &Expr, local: &HashSet<String>) -> References {
    struct Collect<'a>(&'a HashSet<String>, References);
    impl Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let qualifier = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if self.0.contains(&qualifier) {
                        self.1.local = true;
                    } else {
                        self.1.outer = true;
                    }
                }
                Expr::Identifier(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. } => self.1.unknown = true,
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect(local, References::default());
    let _ = e.visit(&mut c);
    c.1
}

fn names_outer(e: &Expr, local: &HashSet<String>) -> bool {
    references(e, local).outer
}

/// A conjunct naming outer columns and nothing else.
fn outer_only(e: &Expr, local: &HashSet<String>) -> bool {
    let r = references(e, local);
    r.outer && !r.local && !r.unknown
}

fn uses_aggregate(e: &Expr) -> bool {
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e
                && let Some(ObjectNamePart::Identifier(i)) = f.name.0.last()
                && AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str())
            {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = e.visit(&mut f);
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escape_uses_the_backslash() {
        let out = rewrite("SELECT 1 WHERE 'pg_toast' NOT LIKE 'pg/_%' ESCAPE '/'");
        assert!(!out.contains("ESCAPE"), "{out}");
        assert!(out.contains("replace("), "{out}");
        assert_eq!(rewrite("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn outer_only_conditions_leave_a_correlated_subquery_and_its_result_is_aggregated() {
        let out = rewrite(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_catalog.pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid) \
             ELSE NULL END FROM pg_catalog.pg_attribute a",
        );
        assert!(
            out.contains(
                "THEN CASE WHEN (a.atthasdef) THEN (SELECT max(pg_get_expr(d.adbin, d.adrelid)) \
                 FROM pg_catalog.pg_attrdef d WHERE (d.adrelid = a.attrelid)) END"
            ),
            "{out}"
        );
        // Unqualified table names are their own qualifiers.
        let out = rewrite(
            "SELECT (SELECT pg_catalog.pg_type.typcollation FROM pg_catalog.pg_type \
             WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) \
             FROM pg_catalog.pg_attribute",
        );
        assert!(
            out.contains("SELECT max(pg_catalog.pg_type.typcollation)"),
            "{out}"
        );
        // An outer column in the result: NULL.
        let out = rewrite(
            "SELECT CASE WHEN a.x THEN (SELECT json_build_object('a', a.y = 'a', 's', s.v) \
             FROM s WHERE s.k = a.k) END FROM a",
        );
        assert!(out.contains("THEN NULL END"), "{out}");
        let out = rewrite("SELECT (SELECT a.y = $2 FROM s WHERE s.k = a.k), $3 FROM a");
        assert!(
            out.contains("CASE WHEN false AND $2 IS NULL THEN NULL END, $3"),
            "{out}"
        );
        // psql's \\d+: the storage options of a table, which a lake table has none of.
        let out = rewrite(
            "SELECT c.relkind, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x \
             from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)",
        );
        assert!(out.starts_with("SELECT c.relkind, NULL FROM"), "{out}");
        // Uncorrelated and already aggregated subqueries are left alone.
        let plain = "SELECT (SELECT max(x) FROM t WHERE t.y = u.y), (SELECT 1 FROM t) FROM u";
        assert_eq!(rewrite(plain), plain);
    }
}
