//! The site's one HTML page: the table-level lineage graph, then a section per model
//! (description, columns with types and tests, tests with their last results, upstream and
//! downstream, column lineage for the canonical tables, the SQL) and per table the models read
//! (raw tables with the vendor field of each column, seeds, the run context).
//!
//! The page is static and self-contained apart from `site.css` and `site.js` beside it; nothing
//! is fetched from the network. A small inline script, first in `<head>`, records any script
//! error, failed resource load or `console.error` in `#console-errors`, so a headless browser's
//! dump of the DOM shows whether the page ran cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use pslake_lake::TableName;
use pslake_transform::{ColumnRef, Flow, LastResults, LineageTree, Model, TestKind, TestSpec};

use super::graph::{self, Edge, Node};
use crate::cmd::lineage::{Loaded, origin, sql_type, table_edges};

/// Everything the page shows.
pub(crate) struct Site<'a> {
    pub(crate) loaded: &'a Loaded,
    /// Each model's last build from the lake; `None` when no lake was given.
    pub(crate) results: Option<&'a BTreeMap<String, LastResults>>,
    /// The lake the results come from, as given.
    pub(crate) lake: Option<&'a str>,
}

/// `s` with the five HTML-special characters escaped (text and attribute values).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The anchor of a table's section.
pub(crate) fn anchor(t: &TableName) -> String {
    format!("t-{}.{}", t.schema, t.name)
}

/// Records script errors, failed loads and `console.error` calls in `#console-errors` (kept
/// in a list until the element exists). First in `<head>`, so it sees everything after it.
const ERROR_HOOKS: &str = r#"<script>
(function () {
  var pending = [];
  function record(message) {
    var el = document.getElementById("console-errors");
    if (!el) { pending.push(message); return; }
    el.hidden = false;
    el.textContent += message + "\n";
  }
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { record("failed to load " + (t.src || t.href)); }
    else { record("error: " + e.message + " (" + e.filename + ":" + e.lineno + ")"); }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", function () {
    var list = pending; pending = [];
    list.forEach(record);
  });
})();
</script>"#;

fn schema_order(schema: &str) -> usize {
    [
        "canonical",
        "intermediate",
        "staging",
        "quality",
        "raw",
        "seeds",
        "pslake",
        "_pslake",
    ]
    .iter()
    .position(|s| *s == schema)
    .unwrap_or(3)
}

/// The page.
pub(crate) fn render(site: &Site<'_>) -> String {
    let loaded = site.loaded;
    let project = &loaded.project;
    let parents = table_edges(project);
    // Every table: the models and what they read.
    let mut tables: BTreeSet<TableName> = BTreeSet::new();
    for (t, ps) in &parents {
        tables.insert(t.clone());
        tables.extend(ps.iter().cloned());
    }
    let mut children: BTreeMap<TableName, BTreeSet<TableName>> = BTreeMap::new();
    for (t, ps) in &parents {
        for p in ps {
            children.entry(p.clone()).or_default().insert(t.clone());
        }
    }
    let mut ordered: Vec<&TableName> = tables.iter().collect();
    ordered.sort_by_key(|t| (schema_order(&t.schema), t.schema.clone(), t.name.clone()));

    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>pslake docs</title>\n<link rel=\"icon\" href=\"data:,\">\n");
    out.push_str(ERROR_HOOKS);
    out.push_str("\n<link rel=\"stylesheet\" href=\"site.css\">\n</head>\n<body>\n");
    out.push_str("<pre id=\"console-errors\" hidden></pre>\n");

    // Header.
    let models = project.models().len();
    let _ = write!(
        out,
        "<header><h1>pslake docs</h1><p class=\"summary\">{models} models, {} tables they read. ",
        tables.len() - parents.len()
    );
    match (site.lake, site.results) {
        (Some(lake), Some(r)) if !r.is_empty() => {
            let last = r.values().map(|x| x.ended_at.as_str()).max().unwrap_or("");
            let _ = write!(
                out,
                "Last results from the lake <code>{}</code> (latest build ended {}).",
                escape(lake),
                escape(last)
            );
        }
        (Some(lake), _) => {
            let _ = write!(
                out,
                "The lake <code>{}</code> records no build yet: tests are not run.",
                escape(lake)
            );
        }
        (None, _) => out.push_str("No lake given: test results are shown as not run."),
    }
    out.push_str("</p><input id=\"filter\" type=\"search\" placeholder=\"Filter tables…\" aria-label=\"filter tables\"></header>\n");

    // Navigation.
    out.push_str("<nav id=\"toc\">");
    let mut current = String::new();
    for t in &ordered {
        if t.schema != current {
            if !current.is_empty() {
                out.push_str("</ul>");
            }
            current = t.schema.clone();
            let _ = write!(out, "<h2>{}</h2><ul>", escape(&current));
        }
        let status = model_status(site, t);
        let _ = write!(
            out,
            "<li data-table=\"{0}\"><a href=\"#{1}\">{2}</a>{3}</li>",
            escape(&t.to_string()),
            escape(&anchor(t)),
            escape(&t.name),
            status
                .map(|s| format!(" <span class=\"dot {s}\" title=\"{s}\"></span>"))
                .unwrap_or_default()
        );
    }
    if !current.is_empty() {
        out.push_str("</ul>");
    }
    out.push_str("</nav>\n<main>\n");

    // The table-level graph.
    out.push_str("<section id=\"graph\"><h2>Lineage graph</h2>");
    out.push_str("<p class=\"hint\">Every model and the tables it reads, inputs on the left. Click a table to highlight what it reads and what reads it; click it again to open its section.</p>");
    out.push_str(&legend());
    out.push_str("<p><button id=\"fit-graph\" type=\"button\">Fit to width</button></p>");
    let index: BTreeMap<&TableName, usize> =
        ordered.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let nodes: Vec<Node> = ordered
        .iter()
        .map(|t| Node {
            id: t.to_string(),
            label: t.name.clone(),
            class: format!("s-{}", t.schema),
            href: Some(format!("#{}", anchor(t))),
            title: t.to_string(),
        })
        .collect();
    let mut edges = Vec::new();
    for (t, ps) in &parents {
        for p in ps {
            edges.push(Edge {
                from: index[p],
                to: index[t],
                class: "reads",
            });
        }
    }
    out.push_str("<div class=\"scroll\">");
    out.push_str(&graph::svg("table-graph", &nodes, &edges));
    out.push_str("</div><p id=\"graph-status\" class=\"hint\"></p></section>\n");

    for t in &ordered {
        match project.model(t) {
            Some(m) => model_section(site, m, &parents, &children, &mut out),
            None => table_section(site, t, &children, &mut out),
        }
    }
    out.push_str("</main>\n<script src=\"site.js\"></script>\n</body>\n</html>\n");
    out
}

fn legend() -> String {
    let mut out = String::from("<p class=\"legend\">");
    for s in [
        "raw",
        "seeds",
        "pslake",
        "staging",
        "intermediate",
        "canonical",
        "quality",
    ] {
        let _ = write!(
            out,
            "<span class=\"swatch s-{s}\"></span>{s} ",
            s = escape(s)
        );
    }
    out.push_str("</p>");
    out
}

/// `ok`, `failed`, `skipped` or `not-run` for a model, when results are known.
fn model_status(site: &Site<'_>, t: &TableName) -> Option<String> {
    let m = site.loaded.project.model(t)?;
    let results = site.results?;
    Some(match results.get(&m.name.to_string()) {
        Some(r) => r.status.clone(),
        None => "not-run".into(),
    })
}

fn table_links(ts: Option<&BTreeSet<TableName>>) -> String {
    let Some(ts) = ts.filter(|s| !s.is_empty()) else {
        return "<span class=\"none\">none</span>".into();
    };
    ts.iter()
        .map(|t| {
            format!(
                "<a href=\"#{}\"><code>{}</code></a>",
                escape(&anchor(t)),
                escape(&t.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column a test checks, when it checks one.
fn test_column(t: &TestSpec) -> Option<&str> {
    match &t.kind {
        TestKind::NotNull { column }
        | TestKind::Unique { column }
        | TestKind::AcceptedValues { column, .. }
        | TestKind::Relationships { column, .. }
        | TestKind::AcceptedRange { column, .. } => Some(column),
        TestKind::ExpressionIsTrue { column, .. } => column.as_deref(),
        TestKind::UniqueCombination { .. } | TestKind::Custom { .. } => None,
    }
}

/// A test's last result as a badge: `pass`, `fail`, `warn`, `error` or `not run`.
fn test_badge(site: &Site<'_>, m: &Model, t: &TestSpec) -> String {
    let recorded = site
        .results
        .and_then(|r| r.get(&m.name.to_string()))
        .and_then(|r| r.tests.iter().find(|x| x.test == t.name));
    match recorded {
        Some(r) => {
            let title = match &r.message {
                Some(msg) => format!("{} offending row(s): {msg}", r.failures),
                None => format!("{} offending row(s)", r.failures),
            };
            format!(
                "<span class=\"badge {0}\" title=\"{1}\">{0}</span>",
                escape(&r.outcome),
                escape(&title)
            )
        }
        None => "<span class=\"badge not-run\">not run</span>".into(),
    }
}

fn model_section(
    site: &Site<'_>,
    m: &Model,
    parents: &BTreeMap<TableName, BTreeSet<TableName>>,
    children: &BTreeMap<TableName, BTreeSet<TableName>>,
    out: &mut String,
) {
    let loaded = site.loaded;
    let t = &m.name;
    let _ = write!(
        out,
        "<section class=\"table model s-{}\" id=\"{}\" data-table=\"{}\"><h2>{} <span class=\"kind\">{}</span></h2>",
        escape(&t.schema),
        escape(&anchor(t)),
        escape(&t.to_string()),
        escape(&t.to_string()),
        escape(m.materialized.as_str())
    );
    match &m.description {
        Some(d) => {
            let _ = write!(out, "<p class=\"description\">{}</p>", escape(d));
        }
        None => out.push_str("<p class=\"description none\">No description.</p>"),
    }
    out.push_str("<dl class=\"facts\">");
    let _ = write!(
        out,
        "<dt>SQL</dt><dd><code>{}</code></dd>",
        escape(&m.file.display().to_string())
    );
    if !m.unique_key.is_empty() {
        let _ = write!(
            out,
            "<dt>Unique key</dt><dd><code>{}</code></dd>",
            escape(&m.unique_key.join(", "))
        );
    }
    if !m.tags.is_empty() {
        let _ = write!(out, "<dt>Tags</dt><dd>{}</dd>", escape(&m.tags.join(", ")));
    }
    let _ = write!(
        out,
        "<dt>Reads</dt><dd>{}</dd><dt>Read by</dt><dd>{}</dd>",
        table_links(parents.get(t)),
        table_links(children.get(t))
    );
    if let Some(results) = site.results {
        let text = match results.get(&t.to_string()) {
            Some(r) => {
                let mut s = format!(
                    "<span class=\"badge {0}\">{0}</span> run <code>{1}</code>, ended {2}",
                    escape(&r.status),
                    escape(&r.run_id),
                    escape(&r.ended_at)
                );
                if r.unchanged {
                    s.push_str(", unchanged (published table reused)");
                } else if let Some(rows) = r.rows {
                    let _ = write!(s, ", {rows} rows");
                }
                if let Some(e) = &r.error {
                    let _ = write!(s, "<br><span class=\"error\">{}</span>", escape(e));
                }
                s
            }
            None => "<span class=\"badge not-run\">not run</span> no build recorded".into(),
        };
        let _ = write!(out, "<dt>Last build</dt><dd>{text}</dd>");
    }
    out.push_str("</dl>");

    // Columns.
    let lineage = loaded.lineage.model(t);
    let columns: Vec<(String, String, Option<String>)> = match lineage {
        Some(l) => l
            .columns
            .iter()
            .map(|c| {
                let spec = m.columns.iter().find(|s| s.name == c.name);
                (
                    c.name.clone(),
                    sql_type(&c.data_type),
                    spec.and_then(|s| s.description.clone()),
                )
            })
            .collect(),
        None => m
            .columns
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.data_type
                        .as_ref()
                        .map(sql_type)
                        .unwrap_or_else(|| "?".into()),
                    s.description.clone(),
                )
            })
            .collect(),
    };
    out.push_str("<h3>Columns</h3>");
    if columns.is_empty() {
        out.push_str(
            "<p class=\"none\">The model did not plan, and has no contract: columns unknown.</p>",
        );
    } else {
        out.push_str("<table class=\"columns\"><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th></tr></thead><tbody>");
        for (name, ty, description) in &columns {
            let tests: Vec<String> = m
                .tests
                .iter()
                .filter(|x| test_column(x) == Some(name.as_str()))
                .map(|x| {
                    format!(
                        "<span class=\"test\"><code>{}</code> {}</span>",
                        escape(&x.name),
                        test_badge(site, m, x)
                    )
                })
                .collect();
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(name),
                escape(ty),
                escape(description.as_deref().unwrap_or("")),
                tests.join(" ")
            );
        }
        out.push_str("</tbody></table>");
    }

    // Tests.
    out.push_str("<h3>Tests</h3>");
    if m.tests.is_empty() {
        out.push_str("<p class=\"none\">No tests.</p>");
    } else {
        let last = site.results.and_then(|r| r.get(&t.to_string()));
        if let Some((run, ended)) = last.and_then(|r| r.tests_run.as_ref()) {
            let _ = write!(
                out,
                "<p class=\"hint\">Last results from run <code>{}</code>, ended {}.</p>",
                escape(run),
                escape(ended)
            );
        }
        // A build recorded before per-test results were: its counts only.
        if let Some(r) = last
            && r.tests.is_empty()
            && let Some((passed, failed, warned)) = r.counts
        {
            let _ = write!(
                out,
                "<p class=\"hint\">That build recorded counts only: {passed} passed, {failed} failed, {warned} warned.</p>"
            );
        }
        out.push_str("<table class=\"tests\"><thead><tr><th>Test</th><th>Column</th><th>Severity</th><th>Last result</th></tr></thead><tbody>");
        for x in &m.tests {
            let severity = match x.severity {
                pslake_transform::Severity::Error => "error",
                pslake_transform::Severity::Warn => "warn",
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{severity}</td><td>{}</td></tr>",
                escape(&x.name),
                test_column(x)
                    .map(|c| format!("<code>{}</code>", escape(c)))
                    .unwrap_or_default(),
                test_badge(site, m, x)
            );
        }
        out.push_str("</tbody></table>");
    }

    if t.schema == "canonical" {
        column_lineage(site, m, out);
    }

    let _ = write!(
        out,
        "<h3>SQL</h3><details class=\"sql\"><summary><code>{}</code></summary><pre><code>{}</code></pre></details>",
        escape(&m.file.display().to_string()),
        escape(&m.sql)
    );
    out.push_str("</section>\n");
}

/// A canonical table's column lineage: a graph from the source fields to its columns, then
/// per column its source fields, conditions and the path through the models.
fn column_lineage(site: &Site<'_>, m: &Model, out: &mut String) {
    let loaded = site.loaded;
    out.push_str("<h3>Column lineage</h3>");
    let Some(l) = loaded.lineage.model(&m.name) else {
        out.push_str(
            "<p class=\"none\">Not known: the model did not plan (see <code>pslake validate</code>).</p>",
        );
        return;
    };
    out.push_str("<p class=\"hint\">Which source fields each column's values are computed from (raw columns, with the vendor field each one lands), through every model in between. Hover a column to see its sources.</p>");
    // The graph: source fields on the left, the table's columns on the right.
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: BTreeMap<ColumnRef, usize> = BTreeMap::new();
    let mut edges: Vec<Edge> = Vec::new();
    let mut per_column: Vec<(ColumnRef, BTreeMap<ColumnRef, Flow>)> = Vec::new();
    for c in &l.columns {
        let col = ColumnRef::new(m.name.clone(), &c.name);
        per_column.push((col.clone(), loaded.lineage.sources(&col)));
    }
    for (_, sources) in &per_column {
        for (s, f) in sources {
            if *f != Flow::Direct || index.contains_key(s) {
                continue;
            }
            index.insert(s.clone(), usize::MAX);
        }
    }
    for s in index.keys().cloned().collect::<Vec<_>>() {
        let o = origin(loaded, &s);
        index.insert(s.clone(), nodes.len());
        nodes.push(Node {
            id: s.to_string(),
            label: format!("{}.{}", s.table.name, s.column),
            class: format!("s-{}", s.table.schema),
            href: Some(format!("#{}", anchor(&s.table))),
            title: if o.is_empty() {
                s.to_string()
            } else {
                format!("{s} ({o})")
            },
        });
    }
    for (col, sources) in &per_column {
        let v = nodes.len();
        nodes.push(Node {
            id: col.to_string(),
            label: col.column.clone(),
            class: "s-canonical".into(),
            href: None,
            title: col.to_string(),
        });
        for (s, f) in sources {
            if *f == Flow::Direct {
                edges.push(Edge {
                    from: index[s],
                    to: v,
                    class: "feeds",
                });
            }
        }
    }
    out.push_str("<div class=\"scroll\">");
    out.push_str(&graph::svg(&format!("columns-{}", m.name), &nodes, &edges));
    out.push_str("</div>");

    for (col, sources) in &per_column {
        let direct: Vec<&ColumnRef> = sources
            .iter()
            .filter(|(_, f)| **f == Flow::Direct)
            .map(|(s, _)| s)
            .collect();
        let conditions: Vec<&ColumnRef> = sources
            .iter()
            .filter(|(_, f)| **f == Flow::Indirect)
            .map(|(s, _)| s)
            .collect();
        let _ = write!(
            out,
            "<details class=\"column-lineage\" data-column=\"{}\"><summary><code>{}</code> ← {} source field(s), {} condition(s)</summary>",
            escape(&col.to_string()),
            escape(&col.column),
            direct.len(),
            conditions.len()
        );
        let list = |cols: &[&ColumnRef], out: &mut String| {
            if cols.is_empty() {
                out.push_str("<p class=\"none\">none</p>");
                return;
            }
            out.push_str("<ul class=\"sources\">");
            for s in cols {
                let o = origin(loaded, s);
                let _ = write!(
                    out,
                    "<li><a href=\"#{}\"><code>{}</code></a>{}</li>",
                    escape(&anchor(&s.table)),
                    escape(&s.to_string()),
                    if o.is_empty() {
                        String::new()
                    } else {
                        format!(" <span class=\"vendor\">{}</span>", escape(&o))
                    }
                );
            }
            out.push_str("</ul>");
        };
        out.push_str("<h4>Source fields</h4>");
        list(&direct, out);
        out.push_str("<h4>Conditions <span class=\"hint\">(decide which value, not the value: CASE conditions, window partitions and orders)</span></h4>");
        list(&conditions, out);
        out.push_str("<h4>Through</h4><ul class=\"tree\">");
        tree_items(&loaded.lineage.tree(col, Flow::Direct), loaded, out);
        out.push_str("</ul></details>");
    }
}

fn tree_items(tree: &LineageTree, loaded: &Loaded, out: &mut String) {
    let _ = write!(out, "<li><code>{}</code>", escape(&tree.column.to_string()));
    if let Some(v) = loaded.vendor.get(&tree.column) {
        let _ = write!(
            out,
            " <span class=\"vendor\">{}</span>",
            escape(&v.to_string())
        );
    }
    if tree.repeated {
        out.push_str(" <span class=\"hint\">(inputs shown above)</span>");
    }
    if !tree.children.is_empty() {
        out.push_str("<ul>");
        for c in &tree.children {
            if c.column.table == tree.column.table {
                let _ = write!(
                    out,
                    "<li><code>{}</code> <span class=\"hint\">(its previous version)</span></li>",
                    escape(&c.column.to_string())
                );
                continue;
            }
            tree_items(c, loaded, out);
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

fn table_section(
    site: &Site<'_>,
    t: &TableName,
    children: &BTreeMap<TableName, BTreeSet<TableName>>,
    out: &mut String,
) {
    let loaded = site.loaded;
    let kind = match t.schema.as_str() {
        "raw" => "raw table",
        "seeds" => "seed",
        "pslake" => "run context",
        "_pslake" => "operational table",
        _ => "table",
    };
    let _ = write!(
        out,
        "<section class=\"table source s-{}\" id=\"{}\" data-table=\"{}\"><h2>{} <span class=\"kind\">{kind}</span></h2>",
        escape(&t.schema),
        escape(&anchor(t)),
        escape(&t.to_string()),
        escape(&t.to_string())
    );
    let description = match t.schema.as_str() {
        "raw" => "Landed by the extractor as it comes from the source: one row per record and run, with _run_id, _extracted_at and the record's JSON in _raw.".to_string(),
        "seeds" => match loaded.project.seeds().iter().find(|s| &s.name == t) {
            Some(s) => format!("Reference data from {}.", s.file.display()),
            None => "Reference data (models/seeds).".into(),
        },
        "pslake" => "The run's context: as_of, history_start and the run id.".into(),
        _ => String::new(),
    };
    if !description.is_empty() {
        let _ = write!(out, "<p class=\"description\">{}</p>", escape(&description));
    }
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Read by</dt><dd>{}</dd></dl>",
        table_links(children.get(t))
    );
    if let Some(cols) = loaded.lineage.columns(t) {
        out.push_str("<table class=\"columns\"><thead><tr><th>Column</th><th>Type</th><th>Source field</th></tr></thead><tbody>");
        for (name, ty) in cols {
            let c = ColumnRef::new(t.clone(), &name);
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&name),
                escape(&sql_type(&ty)),
                loaded
                    .vendor
                    .get(&c)
                    .map(|v| escape(&v.to_string()))
                    .unwrap_or_default()
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
