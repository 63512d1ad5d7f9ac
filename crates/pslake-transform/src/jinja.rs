//! A hint for dbt habits: models here are plain SQL, so `{{ ref('margin') }}` is a parse error.
//! [`hint`] finds the first Jinja tag and says what to write instead (`canonical.margin`).

use pslake_lake::TableName;

/// The 1-based line of the first Jinja tag in `sql` and a message naming the plain-SQL
/// replacement of each `ref()`, `source()` and `this` found; `None` when there is no Jinja.
/// `models` are the project's model names, used to resolve `ref('name')` to `schema.name`.
pub(crate) fn hint(sql: &str, this: &TableName, models: &[TableName]) -> Option<(usize, String)> {
    let start = ["{{", "{%", "{#"]
        .iter()
        .filter_map(|t| sql.find(t))
        .min()?;
    let line = sql[..start].matches('\n').count() + 1;
    let mut fixes: Vec<String> = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let expr = after[..close].trim();
        let replacement = if expr == "this" {
            Some(this.to_string())
        } else if let Some(args) = call_args(expr, "ref") {
            // ref('name') or ref('package', 'name')
            args.last().map(|name| {
                let found: Vec<&TableName> = models
                    .iter()
                    .filter(|m| m.name == name.to_lowercase() || m.to_string() == *name)
                    .collect();
                match found.as_slice() {
                    [one] => one.to_string(),
                    _ => format!("<folder>.{name}"),
                }
            })
        } else if let Some(args) = call_args(expr, "source") {
            match args.as_slice() {
                [system, stream] => Some(format!("raw.{system}_{stream}")),
                _ => None,
            }
        } else {
            None
        };
        if let Some(r) = replacement {
            let fix = format!("{r} for {{{{ {expr} }}}}");
            if !fixes.contains(&fix) {
                fixes.push(fix);
            }
        }
        rest = &after[close + 2..];
    }
    let message = if fixes.is_empty() {
        "no Jinja: models are plain SQL; write tables as schema.name and read the run's dates from pslake.run_context".to_string()
    } else {
        format!(
            "no Jinja: write {} (models are plain SQL; tables are schema.name)",
            fixes.join(", ")
        )
    };
    Some((line, message))
}

/// `name('a', "b")` → `["a", "b"]`.
fn call_args(expr: &str, name: &str) -> Option<Vec<String>> {
    let inner = expr
        .strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let args: Vec<String> = inner
        .split(',')
        .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|a| !a.is_empty())
        .collect();
    (!args.is_empty()).then_some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_sources_and_this_become_schema_names() {
        let models = vec![
            TableName::new("canonical", "margin"),
            TableName::new("staging", "stg_a"),
        ];
        let this = TableName::new("canonical", "x");
        let (line, msg) = hint(
            "SELECT *\nFROM {{ ref('margin') }} m\nJOIN {{ source('kantata', 'time_entries') }} t ON true\nUNION ALL SELECT * FROM {{this}}",
            &this,
            &models,
        )
        .expect("jinja");
        assert_eq!(line, 2);
        assert!(
            msg.starts_with("no Jinja: write canonical.margin for {{ ref('margin') }}"),
            "{msg}"
        );
        assert!(msg.contains("raw.kantata_time_entries for"), "{msg}");
        assert!(msg.contains("canonical.x for {{ this }}"), "{msg}");
        assert!(hint("SELECT 1", &this, &models).is_none());
        let (_, msg) = hint("{% if true %}SELECT 1{% endif %}", &this, &models).expect("jinja");
        assert!(msg.starts_with("no Jinja: models are plain SQL"), "{msg}");
    }
}
