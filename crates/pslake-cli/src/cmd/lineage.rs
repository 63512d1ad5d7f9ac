//! `pslake lineage`: where a column's values come from, or what a table reads and feeds.
//!
//! `pslake lineage schema.model.column` prints the column's upstream tree (the columns whose
//! values flow into it, model by model, down to the raw tables), then the source fields it is
//! computed from (raw columns with the vendor field each one lands, seeds, the run context), the
//! columns that only decide which value it takes (CASE conditions, window partitions), and the
//! model columns computed from it. `pslake lineage schema.model` (or a raw table, or a model's
//! bare name) prints the table-level upstream tree and the tables downstream.
//!
//! Lineage needs no lake: every model is planned against the raw tables the pipelines declare, as
//! `pslake validate` plans them ([`pslake_transform::lineage`]). An unknown table or column exits
//! 1 with a message naming it; a project that does not load exits 2.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use arrow::datatypes::DataType;
use pslake_lake::TableName;
use pslake_transform::{ColumnRef, Flow, Lineage, LineageTree, Project};

use super::UsageError;

/// Arguments of `pslake lineage`.
#[derive(Debug, clap::Args)]
pub(crate) struct LineageArgs {
    /// A column (`canonical.margin.gross_margin_usd`) or a table (`canonical.margin`,
    /// `raw.kantata_time_entries`, or a model's name)
    target: String,
    /// The project directory holding sql/, models/ and pipelines/
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The pipeline file (or folder) declaring the raw tables (default: the project's pipelines/)
    #[arg(long)]
    pipeline: Option<PathBuf>,
}

/// A raw column's origin: the vendor system, stream and field its values land from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VendorField {
    /// The system (`kantata`).
    pub(crate) system: String,
    /// The stream as the vendor names it (`time_entries`, `Workers`).
    pub(crate) stream: String,
    /// The field's path in the vendor's record (`time_in_minutes`, `properties.amount`).
    pub(crate) path: String,
}

impl std::fmt::Display for VendorField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.system, self.stream, self.path)
    }
}

/// What `lineage` and `docs` work from: the project, its lineage and where raw columns come from.
pub(crate) struct Loaded {
    pub(crate) project: Project,
    pub(crate) lineage: Lineage,
    pub(crate) vendor: BTreeMap<ColumnRef, VendorField>,
}

/// Loads the project and its pipelines (`pipeline`, else every file in `<project>/pipelines`)
/// and computes the lineage of every model.
pub(crate) async fn load(project_dir: &Path, pipeline: Option<&Path>) -> anyhow::Result<Loaded> {
    let project = Project::load(project_dir).map_err(|e| UsageError(e.to_string()))?;
    // The pipeline given, else those of the project (none: no raw table is declared, and the
    // models reading raw tables have no lineage).
    let files = match pipeline {
        Some(p) => super::extract::pipeline_files(p),
        None if project_dir.join("pipelines").is_dir() => {
            super::extract::pipeline_files(&project_dir.join("pipelines"))
        }
        None => Vec::new(),
    };
    let mut raw = Vec::new();
    let mut vendor = BTreeMap::new();
    for file in files {
        let pipeline = pslake_core::pipeline::load_pipeline(&file).map_err(|problems| {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            UsageError(format!(
                "pipeline {} does not load: {}",
                file.display(),
                text.join("; ")
            ))
        })?;
        for system in &pipeline.systems {
            for stream in &system.streams {
                let table = TableName::new("raw", stream.table.as_str());
                for c in &stream.columns {
                    vendor.insert(
                        ColumnRef::new(table.clone(), &c.name),
                        VendorField {
                            system: system.name.clone(),
                            stream: stream.name.clone(),
                            path: c.path.to_string(),
                        },
                    );
                }
            }
        }
        raw.extend(pslake_extract::raw_schemas(&pipeline));
    }
    let lineage = pslake_transform::lineage(&project, &raw).await;
    for p in lineage.problems() {
        tracing::warn!("no lineage: {p}");
    }
    Ok(Loaded {
        project,
        lineage,
        vendor,
    })
}

/// A type as SQL writes it (`decimal(18,2)`, `varchar`, `date`).
pub(crate) fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "varchar".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        other => other.to_string().to_lowercase(),
    }
}

/// What the command line names.
enum Target {
    Column(ColumnRef),
    Table(TableName),
}

/// Every table the project knows: its models and the tables they read.
fn known_tables(loaded: &Loaded) -> BTreeSet<TableName> {
    let mut out: BTreeSet<TableName> = BTreeSet::new();
    for m in loaded.project.models() {
        out.insert(m.name.clone());
        out.extend(m.refs.iter().map(|r| r.table.clone()));
    }
    out
}

fn resolve(loaded: &Loaded, target: &str) -> Result<Target, String> {
    let tables = known_tables(loaded);
    let by_bare_name = |name: &str| -> Vec<TableName> {
        tables.iter().filter(|t| t.name == name).cloned().collect()
    };
    let parts: Vec<&str> = target.split('.').collect();
    let table = match parts.as_slice() {
        [schema, name, column] => {
            let t = TableName::new(*schema, *name);
            if !tables.contains(&t) {
                return Err(format!(
                    "unknown table {t} (in {target}): not a model of this project nor a table one reads"
                ));
            }
            return column_target(loaded, ColumnRef::new(t, *column));
        }
        [schema, name] if tables.contains(&TableName::new(*schema, *name)) => {
            TableName::new(*schema, *name)
        }
        [model, column] => match by_bare_name(model).as_slice() {
            [t] => return column_target(loaded, ColumnRef::new(t.clone(), *column)),
            _ => return Err(format!("unknown table {target}")),
        },
        [name] => match by_bare_name(name).as_slice() {
            [t] => t.clone(),
            [] => return Err(format!("unknown table {target}")),
            several => {
                let names: Vec<String> = several.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "{target} is ambiguous: {}; name it with its schema",
                    names.join(", ")
                ));
            }
        },
        _ => {
            return Err(format!(
                "cannot read {target}: name a column `schema.table.column` or a table `schema.table`"
            ));
        }
    };
    Ok(Target::Table(table))
}

fn column_target(loaded: &Loaded, c: ColumnRef) -> Result<Target, String> {
    if loaded.lineage.contains(&c) {
        return Ok(Target::Column(c));
    }
    match loaded.lineage.columns(&c.table) {
        Some(cols) => {
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            Err(format!(
                "unknown column {c}: {} has no column {}; its columns are {}",
                c.table,
                c.column,
                names.join(", ")
            ))
        }
        None => Err(format!(
            "unknown column {c}: the lineage of {} is not known (it did not plan; see `pslake validate`)",
            c.table
        )),
    }
}

pub(crate) async fn lineage(args: LineageArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.project, args.pipeline.as_deref()).await?;
    let text = match resolve(&loaded, &args.target) {
        Ok(Target::Column(c)) => column_report(&loaded, &c),
        Ok(Target::Table(t)) => table_report(&loaded, &t),
        // Not a usage error: the name is well formed, the project has no such column (exit 1).
        Err(message) => return Err(anyhow::anyhow!(message)),
    };
    let mut out = std::io::stdout().lock();
    write!(out, "{text}").context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// One line per node: `prefix` + branch + the column, children indented.
fn render_tree(tree: &LineageTree, loaded: &Loaded, out: &mut String) {
    out.push_str(&tree.column.to_string());
    out.push('\n');
    render_children(tree, loaded, "", out);
}

fn render_children(tree: &LineageTree, loaded: &Loaded, prefix: &str, out: &mut String) {
    let n = tree.children.len();
    for (k, child) in tree.children.iter().enumerate() {
        let last = k + 1 == n;
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&child.column.to_string());
        if child.flow == Flow::Indirect {
            out.push_str("  (condition)");
        }
        if let Some(v) = loaded.vendor.get(&child.column) {
            out.push_str(&format!("  <- {v}"));
        }
        if child.column.table == tree.column.table {
            out.push_str("  (its previous version: the model reads its own table)");
        } else if child.repeated {
            out.push_str("  (inputs shown above)");
        }
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        render_children(child, loaded, &deeper, out);
    }
}

/// A leaf column's origin, for the lists: the vendor field, or what kind of table it is.
pub(crate) fn origin(loaded: &Loaded, c: &ColumnRef) -> String {
    if let Some(v) = loaded.vendor.get(c) {
        return v.to_string();
    }
    match c.table.schema.as_str() {
        "raw" => "landing metadata".into(),
        "seeds" => "seed (models/seeds)".into(),
        "pslake" => "run context".into(),
        "_pslake" => "pslake operational table".into(),
        _ => String::new(),
    }
}

fn column_type(loaded: &Loaded, c: &ColumnRef) -> Option<String> {
    loaded
        .lineage
        .columns(&c.table)?
        .into_iter()
        .find(|(n, _)| *n == c.column)
        .map(|(_, t)| sql_type(&t))
}

fn column_report(loaded: &Loaded, c: &ColumnRef) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{c}  {}\n",
        column_type(loaded, c).unwrap_or_default()
    ));
    if let Some(d) = loaded
        .project
        .model(&c.table)
        .and_then(|m| m.columns.iter().find(|s| s.name == c.column))
        .and_then(|s| s.description.as_deref())
    {
        out.push_str(&format!("  {d}\n"));
    }
    let sources = loaded.lineage.sources(c);
    if loaded.lineage.inputs(c).is_some() {
        out.push_str("\nComputed from (columns whose values flow into it, model by model):\n");
        render_tree(&loaded.lineage.tree(c, Flow::Direct), loaded, &mut out);
        let list = |flow: Flow, out: &mut String| {
            let rows: Vec<(String, String)> = sources
                .iter()
                .filter(|(_, f)| **f == flow)
                .map(|(s, _)| (s.to_string(), origin(loaded, s)))
                .collect();
            if rows.is_empty() {
                out.push_str("  (none)\n");
            }
            let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
            for (s, o) in rows {
                let line = format!("  {s:<width$}  {o}");
                out.push_str(line.trim_end());
                out.push('\n');
            }
        };
        out.push_str(
            "\nSource fields (raw columns, seeds and run context its value is computed from):\n",
        );
        list(Flow::Direct, &mut out);
        out.push_str(
            "\nConditions (columns that only decide which value it takes: CASE conditions, window partitions and orders):\n",
        );
        list(Flow::Indirect, &mut out);
    } else if let Some(v) = loaded.vendor.get(c) {
        out.push_str(&format!("\nLanded from {v}\n"));
    }
    let used: Vec<(ColumnRef, Flow)> = loaded.lineage.downstream(c).into_iter().collect();
    out.push_str("\nUsed by (model columns computed from it):\n");
    if used.is_empty() {
        out.push_str("  (none)\n");
    }
    for (u, f) in used {
        let mark = if f == Flow::Indirect {
            "  (condition)"
        } else {
            ""
        };
        out.push_str(&format!("  {u}{mark}\n"));
    }
    out
}

/// The tables `t` reads (a model's refs, itself excluded) and the models reading `t`.
pub(crate) fn table_edges(project: &Project) -> BTreeMap<TableName, BTreeSet<TableName>> {
    let mut parents: BTreeMap<TableName, BTreeSet<TableName>> = BTreeMap::new();
    for m in project.models() {
        let entry = parents.entry(m.name.clone()).or_default();
        for r in &m.refs {
            if r.table != m.name {
                entry.insert(r.table.clone());
            }
        }
    }
    parents
}

fn table_tree(
    t: &TableName,
    parents: &BTreeMap<TableName, BTreeSet<TableName>>,
    prefix: &str,
    seen: &mut BTreeSet<TableName>,
    out: &mut String,
) {
    let Some(ps) = parents.get(t) else { return };
    let n = ps.len();
    for (k, p) in ps.iter().enumerate() {
        let last = k + 1 == n;
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&p.to_string());
        let expandable = parents.get(p).is_some_and(|s| !s.is_empty());
        if expandable && !seen.insert(p.clone()) {
            out.push_str("  (inputs shown above)\n");
            continue;
        }
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        table_tree(p, parents, &deeper, seen, out);
    }
}

fn table_report(loaded: &Loaded, t: &TableName) -> String {
    let mut out = String::new();
    let parents = table_edges(&loaded.project);
    match loaded.project.model(t) {
        Some(m) => out.push_str(&format!(
            "{t}  ({}, {})\n",
            m.materialized.as_str(),
            m.file.display()
        )),
        None => out.push_str(&format!("{t}\n")),
    }
    if parents.contains_key(t) {
        out.push_str("\nUpstream (tables it reads, model by model):\n");
        out.push_str(&format!("{t}\n"));
        let mut seen = BTreeSet::from([t.clone()]);
        table_tree(t, &parents, "", &mut seen, &mut out);
    }
    // Downstream: every model reading t, directly or through others.
    let mut down: BTreeSet<TableName> = BTreeSet::new();
    let mut stack = vec![t.clone()];
    while let Some(x) = stack.pop() {
        for (child, ps) in &parents {
            if ps.contains(&x) && down.insert(child.clone()) {
                stack.push(child.clone());
            }
        }
    }
    down.remove(t);
    out.push_str("\nDownstream (models that read it, directly or through others):\n");
    if down.is_empty() {
        out.push_str("  (none)\n");
    }
    for d in &down {
        let direct = parents.get(d).is_some_and(|ps| ps.contains(t));
        out.push_str(&format!(
            "  {d}{}\n",
            if direct { "  (reads it)" } else { "" }
        ));
    }
    out
}
