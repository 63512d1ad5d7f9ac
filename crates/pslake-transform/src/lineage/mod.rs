//! Column lineage across the project: which columns each model column is computed from, down to
//! the columns of the raw tables, seeds and run context that no model computes.
//!
//! Every model is planned offline, as `pslake validate` plans it (empty raw tables with the
//! schemas the pipelines declare, the seeds, `pslake.run_context`, each upstream model as an
//! empty table of its planned schema), so lineage needs no lake and no data. Each model's
//! unoptimized logical plan gives, per output column, the columns of the tables it reads
//! ([`plan`]); a table it reads that is a model (a view included) has the same for its columns,
//! and following those edges table by table ends at the leaves.
//!
//! Edges carry a [`Flow`]: a path is direct only when every step is; [`Lineage::sources`] gives a
//! leaf its strongest path. A model that reads its own previous version (an incremental merge)
//! has edges to itself; they are followed once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use pslake_lake::TableName;

use crate::error::Problem;
use crate::offline::offline_context;
use crate::planning::plan_models;
use crate::project::Project;
use crate::{dag, session};

mod plan;

pub use plan::Flow;

/// A column of a table: `schema.table.column`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnRef {
    /// The table (a model, a raw table, a seed, `pslake.run_context`, ...).
    pub table: TableName,
    /// The column.
    pub column: String,
}

impl ColumnRef {
    /// The column `column` of `table`.
    pub fn new(table: TableName, column: impl Into<String>) -> Self {
        Self {
            table,
            column: column.into(),
        }
    }

    /// Parses `schema.table.column`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '.');
        let (schema, table, column) = (parts.next()?, parts.next()?, parts.next()?);
        (!schema.is_empty() && !table.is_empty() && !column.is_empty())
            .then(|| Self::new(TableName::new(schema, table), column))
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

/// One output column of a model and the columns of its inputs it is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnLineage {
    /// The column name.
    pub name: String,
    /// Its type, as the model publishes it.
    pub data_type: DataType,
    /// The columns of the tables the model reads, each with its strongest flow.
    pub inputs: BTreeMap<ColumnRef, Flow>,
}

/// A model's columns with their lineage.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLineage {
    /// `schema.name`.
    pub model: TableName,
    /// The output columns, in order.
    pub columns: Vec<ColumnLineage>,
}

/// An upstream tree of one column: the column, and the trees of the columns it is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageTree {
    /// The column.
    pub column: ColumnRef,
    /// How this column takes part in its parent's value (the root's is [`Flow::Direct`]).
    pub flow: Flow,
    /// Its inputs' trees; empty for a leaf, and for a column already expanded earlier in the
    /// tree ([`LineageTree::repeated`]).
    pub children: Vec<LineageTree>,
    /// The column appears earlier in the tree, where its inputs are shown.
    pub repeated: bool,
}

/// The column lineage of every model that plans.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    models: BTreeMap<TableName, ModelLineage>,
    tables: BTreeMap<TableName, Vec<(String, DataType)>>,
    problems: Vec<Problem>,
}

/// Plans every model of `project` against empty `raw_tables` (each raw table the pipelines
/// declare, with its schema) and returns the lineage of each one that plans. A model that does not
/// plan (see [`Lineage::problems`]) has no lineage, nor have the models downstream of it.
pub async fn lineage(project: &Project, raw_tables: &[(TableName, SchemaRef)]) -> Lineage {
    let (ctx, mut problems) = offline_context(project, raw_tables);
    let all: BTreeSet<usize> = (0..project.models().len()).collect();
    let order = dag::order(project, &all);
    let planned = plan_models(project, &ctx, &order, true).await;
    problems.extend(planned.problems);
    let mut out = Lineage::default();
    for &i in &order {
        let m = &project.models()[i];
        let (Some(plan), Some(schema)) = (planned.plans.get(&i), planned.schemas.get(&i)) else {
            continue;
        };
        let deps = match plan::plan_columns(plan) {
            Ok(d) => d,
            Err(e) => {
                problems.push(Problem::new(
                    &m.file,
                    None,
                    format!("model {}: lineage: {e}", m.name),
                ));
                continue;
            }
        };
        let columns = schema
            .fields()
            .iter()
            // A snapshot's table has three columns its SQL does not return: the build
            // computes them (no input column flows into them).
            .zip(
                deps.into_iter()
                    .chain(std::iter::repeat_with(Default::default)),
            )
            .map(|(f, deps)| ColumnLineage {
                name: f.name().clone(),
                data_type: f.data_type().clone(),
                inputs: deps
                    .into_iter()
                    .map(|((t, c), flow)| (ColumnRef::new(table_name(&t), c), flow))
                    .collect(),
            })
            .collect();
        out.models.insert(
            m.name.clone(),
            ModelLineage {
                model: m.name.clone(),
                columns,
            },
        );
    }
    // The leaves' columns (raw tables, seeds, the run context, ...) as the session holds them.
    let leaves: BTreeSet<TableName> = out
        .models
        .values()
        .flat_map(|m| m.columns.iter().flat_map(|c| c.inputs.keys()))
        .map(|c| c.table.clone())
        .filter(|t| !out.models.contains_key(t))
        .collect();
    for t in leaves {
        if let Some(cols) = table_columns(&ctx, &t).await {
            out.tables.insert(t, cols);
        }
    }
    out.problems = problems;
    out
}

fn table_name(t: &TableReference) -> TableName {
    TableName::new(t.schema().unwrap_or_default(), t.table())
}

async fn table_columns(ctx: &SessionContext, t: &TableName) -> Option<Vec<(String, DataType)>> {
    if !session::has_table(ctx, t) {
        return None;
    }
    let reference = TableReference::partial(t.schema.as_str(), t.name.as_str());
    let provider = ctx.table_provider(reference).await.ok()?;
    Some(
        provider
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect(),
    )
}

impl Lineage {
    /// Why models have no lineage: planning problems, each with its file.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The models with lineage, by name.
    pub fn models(&self) -> impl Iterator<Item = &ModelLineage> {
        self.models.values()
    }

    /// The lineage of model `t`.
    pub fn model(&self, t: &TableName) -> Option<&ModelLineage> {
        self.models.get(t)
    }

    /// The columns (name, type) of `t`: a model with lineage, or a table a model reads.
    pub fn columns(&self, t: &TableName) -> Option<Vec<(String, DataType)>> {
        if let Some(m) = self.models.get(t) {
            return Some(
                m.columns
                    .iter()
                    .map(|c| (c.name.clone(), c.data_type.clone()))
                    .collect(),
            );
        }
        self.tables.get(t).cloned()
    }

    /// Whether `c` is a column this lineage knows (of a model or of a table a model reads).
    pub fn contains(&self, c: &ColumnRef) -> bool {
        self.columns(&c.table)
            .is_some_and(|cols| cols.iter().any(|(name, _)| *name == c.column))
    }

    /// The columns `c` is computed from directly (one model step); `None` when `c` is not a
    /// model's column.
    pub fn inputs(&self, c: &ColumnRef) -> Option<&BTreeMap<ColumnRef, Flow>> {
        self.models
            .get(&c.table)?
            .columns
            .iter()
            .find(|col| col.name == c.column)
            .map(|col| &col.inputs)
    }

    /// The leaf columns (of tables no model computes: raw tables, seeds, the run context) that
    /// `c` is computed from, each with its strongest path's flow. A leaf's own source is itself.
    pub fn sources(&self, c: &ColumnRef) -> BTreeMap<ColumnRef, Flow> {
        let mut memo = HashMap::new();
        let mut visiting = BTreeSet::new();
        self.sources_memo(c, &mut memo, &mut visiting)
    }

    fn sources_memo(
        &self,
        c: &ColumnRef,
        memo: &mut HashMap<ColumnRef, BTreeMap<ColumnRef, Flow>>,
        visiting: &mut BTreeSet<ColumnRef>,
    ) -> BTreeMap<ColumnRef, Flow> {
        if let Some(done) = memo.get(c) {
            return done.clone();
        }
        let Some(inputs) = self.inputs(c) else {
            return BTreeMap::from([(c.clone(), Flow::Direct)]);
        };
        if !visiting.insert(c.clone()) {
            // A model reading its own previous version: its sources are those of the rest.
            return BTreeMap::new();
        }
        let mut out: BTreeMap<ColumnRef, Flow> = BTreeMap::new();
        for (input, flow) in inputs {
            for (leaf, f) in self.sources_memo(input, memo, visiting) {
                let f = flow.then(f);
                out.entry(leaf)
                    .and_modify(|old| *old = (*old).min(f))
                    .or_insert(f);
            }
        }
        visiting.remove(c);
        memo.insert(c.clone(), out.clone());
        out
    }

    /// The upstream tree of `c`, following edges whose flow is at most `max_flow`
    /// ([`Flow::Direct`]: only the columns whose values flow into `c`). Each column's inputs are
    /// shown once, at its first appearance (depth first, inputs in name order).
    pub fn tree(&self, c: &ColumnRef, max_flow: Flow) -> LineageTree {
        let mut seen = BTreeSet::new();
        self.subtree(c, Flow::Direct, max_flow, &mut seen)
    }

    fn subtree(
        &self,
        c: &ColumnRef,
        flow: Flow,
        max_flow: Flow,
        seen: &mut BTreeSet<ColumnRef>,
    ) -> LineageTree {
        let mut node = LineageTree {
            column: c.clone(),
            flow,
            children: Vec::new(),
            repeated: false,
        };
        let Some(inputs) = self.inputs(c) else {
            return node;
        };
        if !seen.insert(c.clone()) {
            node.repeated = !inputs.is_empty();
            return node;
        }
        for (input, f) in inputs {
            if *f <= max_flow {
                node.children
                    .push(self.subtree(input, flow.then(*f), max_flow, seen));
            }
        }
        node
    }

    /// Every model column computed from `c`, directly or through other models, each with its
    /// strongest path's flow.
    pub fn downstream(&self, c: &ColumnRef) -> BTreeMap<ColumnRef, Flow> {
        let mut users: HashMap<&ColumnRef, Vec<(ColumnRef, Flow)>> = HashMap::new();
        for m in self.models.values() {
            for col in &m.columns {
                for (input, flow) in &col.inputs {
                    users
                        .entry(input)
                        .or_default()
                        .push((ColumnRef::new(m.model.clone(), &col.name), *flow));
                }
            }
        }
        let mut out: BTreeMap<ColumnRef, Flow> = BTreeMap::new();
        let mut stack = vec![(c.clone(), Flow::Direct)];
        while let Some((col, flow)) = stack.pop() {
            for (user, f) in users.get(&col).into_iter().flatten() {
                let f = flow.then(*f);
                if user == c {
                    continue;
                }
                match out.get(user) {
                    Some(old) if *old <= f => {}
                    _ => {
                        out.insert(user.clone(), f);
                        stack.push((user.clone(), f));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};

    use super::*;

    /// A project in a temporary directory: `files` are `(path, text)` under it.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in files {
            let p = dir.path().join(path);
            fs_err::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs_err::write(&p, text).expect("write");
        }
        fs_err::create_dir_all(dir.path().join("models")).expect("mkdir");
        let project = Project::load(dir.path()).expect("the project loads");
        (dir, project)
    }

    fn raw(name: &str, cols: &[(&str, DataType)]) -> (TableName, SchemaRef) {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(c, t)| Field::new(*c, t.clone(), true))
            .collect();
        (TableName::new("raw", name), Arc::new(Schema::new(fields)))
    }

    fn col(s: &str) -> ColumnRef {
        ColumnRef::parse(s).expect("schema.table.column")
    }

    fn names(m: &BTreeMap<ColumnRef, Flow>) -> Vec<String> {
        m.iter()
            .map(|(c, f)| match f {
                Flow::Direct => c.to_string(),
                Flow::Indirect => format!("~{c}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn lineage_follows_models_and_views_to_raw_columns() {
        let (_dir, project) = project(&[
            (
                "sql/staging/stg_entries.sql",
                "SELECT id, workspace, minutes, CAST(minutes AS DOUBLE) / 60.0 AS hours, rate FROM raw.entries",
            ),
            (
                "sql/staging/stg_fx.sql",
                "WITH r AS (SELECT f.*, row_number() OVER (PARTITION BY cur ORDER BY at DESC) AS rn FROM raw.fx f) SELECT cur, usd FROM r WHERE rn = 1",
            ),
            (
                "sql/canonical/amounts.sql",
                "SELECT e.workspace, sum(e.hours * e.rate * CASE WHEN f.cur = 'USD' THEN 1 ELSE f.usd END) AS amount_usd, count(*) AS n
                 FROM staging.stg_entries e LEFT JOIN staging.stg_fx f ON f.cur = 'EUR' GROUP BY e.workspace",
            ),
            (
                "models/staging.yml",
                "version: 2\nmodels:\n- name: stg_fx\n  config: {materialized: view}\n",
            ),
        ]);
        let raw_tables = [
            raw(
                "entries",
                &[
                    ("id", DataType::Utf8),
                    ("workspace", DataType::Utf8),
                    ("minutes", DataType::Int64),
                    ("rate", DataType::Int64),
                ],
            ),
            raw(
                "fx",
                &[
                    ("cur", DataType::Utf8),
                    ("usd", DataType::Float64),
                    ("at", DataType::Int64),
                ],
            ),
        ];
        let lineage = lineage(&project, &raw_tables).await;
        assert!(lineage.problems().is_empty(), "{:?}", lineage.problems());
        let amount = col("canonical.amounts.amount_usd");
        assert_eq!(
            names(lineage.inputs(&amount).expect("a model column")),
            vec![
                "staging.stg_entries.hours",
                "staging.stg_entries.rate",
                "~staging.stg_fx.cur",
                "staging.stg_fx.usd"
            ]
        );
        assert_eq!(
            names(&lineage.sources(&amount)),
            vec![
                "raw.entries.minutes",
                "raw.entries.rate",
                "~raw.fx.cur",
                "raw.fx.usd"
            ]
        );
        assert!(lineage.sources(&col("canonical.amounts.n")).is_empty());
        let tree = lineage.tree(&amount, Flow::Direct);
        let children: Vec<String> = tree.children.iter().map(|c| c.column.to_string()).collect();
        assert_eq!(
            children,
            vec![
                "staging.stg_entries.hours",
                "staging.stg_entries.rate",
                "staging.stg_fx.usd"
            ]
        );
        assert_eq!(
            tree.children[0].children[0].column,
            col("raw.entries.minutes")
        );
        assert_eq!(
            names(&lineage.downstream(&col("raw.entries.minutes"))),
            vec![
                "canonical.amounts.amount_usd",
                "staging.stg_entries.hours",
                "staging.stg_entries.minutes"
            ]
        );
        assert!(lineage.contains(&col("raw.fx.at")));
        assert!(!lineage.contains(&col("raw.fx.nope")));
    }
}
