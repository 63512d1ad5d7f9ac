//! SQL that BI clients send and DataFusion does not take as it is, rewritten before
//! `datafusion-postgres` parses it.
//!
//! - `x LIKE p ESCAPE '/'` (SQLAlchemy's inspector: `nspname NOT LIKE 'pg/_%' ESCAPE '/'`):
//!   DataFusion only knows the backslash escape, so the pattern is rewritten to use it
//!   (`replace(replace(p, '\', '\\'), '/', '\')`).

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql` with every `LIKE`/`ILIKE ... ESCAPE 'c'` (c not a backslash) using the backslash;
/// `sql` itself when there is none or it does not parse (the real parser reports the error).
pub(crate) fn rewrite(sql: &str) -> Cow<'_, str> {
    if !sql.to_ascii_uppercase().contains("ESCAPE") {
        return Cow::Borrowed(sql);
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Cow::Borrowed(sql);
    };
    let mut changed = false;
    let _ = visit_expressions_mut(&mut statements, |e: &mut Expr| {
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
}
