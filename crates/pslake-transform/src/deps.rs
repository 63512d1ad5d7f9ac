//! Table references in a model's SQL, read with DataFusion's SQL parser.
//!
//! Every relation named in the statement (FROM, JOIN, subqueries, set operations) is collected
//! with its line; names introduced by `WITH` (CTEs) are local and excluded. References are
//! `schema.name`; a one-part name that is not a CTE is returned with an empty schema so the
//! caller can report it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    ObjectName, ObjectNamePart, Query, Spanned, Statement, Visit, Visitor,
};
use pslake_lake::TableName;

/// A table named in the SQL, with the 1-based line of its first mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// `schema.name` (lowercased, as DataFusion normalizes unquoted identifiers).
    pub table: TableName,
    /// The line of the first mention (1-based), 0 when unknown.
    pub line: usize,
    /// The name as written, when it is not a two-part name (e.g. `bookings`, `a.b.c`).
    pub unqualified: Option<String>,
}

/// Why a SQL text is not a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// 1-based line, when the parser gives one.
    pub line: Option<usize>,
    /// The message.
    pub message: String,
}

/// Parses `sql` (exactly one `SELECT`/`WITH` query) and returns the tables it reads, in order of
/// first mention, without duplicates and without CTE names.
pub fn table_refs(sql: &str) -> Result<Vec<TableRef>, SqlError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| SqlError {
        line: parse_error_line(&e.to_string()),
        message: e.to_string(),
    })?;
    let mut iter = statements.into_iter();
    let (Some(first), None) = (iter.next(), iter.next()) else {
        return Err(SqlError {
            line: None,
            message: "a model file must hold exactly one SELECT statement".into(),
        });
    };
    let DFStatement::Statement(statement) = first else {
        return Err(SqlError {
            line: None,
            message: "a model must be a SELECT query".into(),
        });
    };
    let Statement::Query(query) = statement.as_ref() else {
        return Err(SqlError {
            line: None,
            message: "a model must be a SELECT query".into(),
        });
    };
    let mut collector = Collector::default();
    let _ = query.visit(&mut collector);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (name, line) in collector.relations {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(id) if id.quote_style.is_some() => id.value.clone(),
                ObjectNamePart::Identifier(id) => id.value.to_lowercase(),
                ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
            })
            .collect();
        if parts.len() == 1 && collector.ctes.contains(&parts[0]) {
            continue;
        }
        let key = parts.join(".");
        if !seen.insert(key.clone()) {
            continue;
        }
        let r = match parts.as_slice() {
            [schema, table] => TableRef {
                table: TableName::new(schema, table),
                line,
                unqualified: None,
            },
            _ => TableRef {
                table: TableName::new("", key.clone()),
                line,
                unqualified: Some(key),
            },
        };
        out.push(r);
    }
    Ok(out)
}

fn parse_error_line(message: &str) -> Option<usize> {
    // sqlparser: "... at Line: 3, Column: 7"
    let rest = &message[message.find("Line: ")? + 6..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[derive(Default)]
struct Collector {
    relations: Vec<(ObjectName, usize)>,
    ctes: BTreeSet<String>,
}

impl Visitor for Collector {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let id = &cte.alias.name;
                self.ctes.insert(if id.quote_style.is_some() {
                    id.value.clone()
                } else {
                    id.value.to_lowercase()
                });
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let line = relation.span().start.line as usize;
        self.relations.push((relation.clone(), line));
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        table_refs(sql)
            .expect("parses")
            .into_iter()
            .map(|r| r.table.to_string())
            .collect()
    }

    #[test]
    fn joins_subqueries_and_ctes() {
        let sql = "WITH x AS (SELECT * FROM raw.a)\nSELECT * FROM x\nJOIN staging.b ON x.id = b.id\nWHERE b.k IN (SELECT k FROM seeds.m) UNION ALL SELECT * FROM Canonical.C";
        assert_eq!(
            names(sql),
            vec!["raw.a", "staging.b", "seeds.m", "canonical.c"]
        );
        let refs = table_refs(sql).expect("parses");
        assert_eq!(refs[1].line, 3);
    }

    #[test]
    fn unqualified_names_are_flagged() {
        let refs = table_refs("SELECT * FROM bookings").expect("parses");
        assert_eq!(refs[0].unqualified.as_deref(), Some("bookings"));
    }

    #[test]
    fn rejects_non_queries_and_reports_parse_lines() {
        assert!(table_refs("DELETE FROM raw.a").is_err());
        assert!(table_refs("SELECT 1; SELECT 2").is_err());
        let e = table_refs("SELECT *\nFROM raw.a\nWHERE )").expect_err("bad sql");
        assert_eq!(e.line, Some(3), "{}", e.message);
    }
}
