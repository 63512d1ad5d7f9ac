//! The dependency graph between models, from the tables their SQL (and their tests) read.
//!
//! Edges go from a model to the models it reads. A model reading its own name reads its previously
//! published version, so self-edges are not edges. [`check`] reports unknown tables and cycles;
//! [`order`] gives a deterministic topological order (selection is in `select.rs`);
//! [`by_downstream`] rearranges it so that a build starts first the models more others wait for.

use std::collections::{BTreeMap, BTreeSet};

use pslake_lake::TableName;

use crate::error::Problem;
use crate::project::{Project, TestKind};

/// The built-in one-row table.
pub(crate) fn run_context_table() -> TableName {
    TableName::new("pslake", "run_context")
}

/// Whether `t` lives in the lake rather than in the project (`raw.*`, `_pslake.*`).
pub(crate) fn is_lake_table(t: &TableName) -> bool {
    t.schema == "raw" || t.schema == pslake_lake::ops::SCHEMA
}

/// Unknown tables and cycles, each with file and line.
pub(crate) fn check(project: &Project) -> Vec<Problem> {
    let mut problems = Vec::new();
    for m in project.models() {
        for r in &m.refs {
            if let Some(name) = &r.unqualified {
                problems.push(Problem::new(
                    &m.file,
                    Some(r.line),
                    format!("table '{name}' must be written schema.name (e.g. raw.x, staging.x, seeds.x)"),
                ));
            } else if !known(project, &r.table) {
                problems.push(Problem::new(
                    &m.file,
                    Some(r.line),
                    format!(
                        "unknown table {}: not a model, a seed, a raw or _pslake table",
                        r.table
                    ),
                ));
            }
        }
        for t in &m.test_refs {
            if !known(project, t) {
                // The test that reads it, else the model's first.
                let test = m
                    .tests
                    .iter()
                    .find(|test| match &test.kind {
                        TestKind::Relationships { to, .. } => to == t,
                        TestKind::Custom { sql } => crate::deps::table_refs(sql)
                            .is_ok_and(|refs| refs.iter().any(|r| r.table == *t)),
                        _ => false,
                    })
                    .or(m.tests.first());
                let line = test.and_then(|t| t.line);
                let file = test
                    .map(|t| t.file.clone())
                    .unwrap_or_else(|| m.file.clone());
                problems.push(Problem::new(
                    file,
                    line,
                    format!("model {}: a test reads unknown table {t}", m.name),
                ));
            }
        }
    }
    problems.extend(cycles(project));
    problems
}

fn known(project: &Project, t: &TableName) -> bool {
    project.model(t).is_some()
        || project.is_seed(t)
        || *t == run_context_table()
        || is_lake_table(t)
}

/// The models (indexes into `project.models()`) each model reads, self excluded.
pub(crate) fn parents(project: &Project) -> Vec<Vec<usize>> {
    let index: BTreeMap<&TableName, usize> = project
        .models()
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.name, i))
        .collect();
    project
        .models()
        .iter()
        .map(|m| {
            let mut p: Vec<usize> = m.inputs().filter_map(|t| index.get(t).copied()).collect();
            p.sort_unstable();
            p.dedup();
            p
        })
        .collect()
}

fn cycles(project: &Project) -> Vec<Problem> {
    let parents = parents(project);
    let n = parents.len();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut state = vec![0u8; n];
    let mut problems = Vec::new();
    let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
    fn dfs(
        v: usize,
        parents: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        state[v] = 1;
        stack.push(v);
        for &p in &parents[v] {
            if state[p] == 1 {
                let start = stack.iter().position(|&x| x == p).expect("on stack");
                found.push(stack[start..].to_vec());
            } else if state[p] == 0 {
                dfs(p, parents, state, stack, found);
            }
        }
        stack.pop();
        state[v] = 2;
    }
    let mut found = Vec::new();
    for v in 0..n {
        if state[v] == 0 {
            dfs(v, &parents, &mut state, &mut Vec::new(), &mut found);
        }
    }
    for cycle in found {
        let mut key = cycle.clone();
        key.sort_unstable();
        if !reported.insert(key) {
            continue;
        }
        let models = project.models();
        let mut path: Vec<String> = cycle
            .iter()
            .rev()
            .map(|&i| models[i].name.to_string())
            .collect();
        path.push(models[cycle[cycle.len() - 1]].name.to_string());
        let first = &models[cycle[cycle.len() - 1]];
        let line = first
            .refs
            .iter()
            .find(|r| cycle.iter().any(|&i| models[i].name == r.table))
            .map(|r| r.line);
        problems.push(Problem::new(
            &first.file,
            line,
            format!("dependency cycle: {}", path.join(" -> ")),
        ));
    }
    problems
}

/// A topological order (parents first) of the models in `subset`, ties broken by name.
pub(crate) fn order(project: &Project, subset: &BTreeSet<usize>) -> Vec<usize> {
    let parents = parents(project);
    let mut remaining: BTreeSet<usize> = subset.clone();
    let mut out = Vec::with_capacity(subset.len());
    while !remaining.is_empty() {
        let ready: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| parents[i].iter().all(|p| !remaining.contains(p)))
            .collect();
        if ready.is_empty() {
            // Cycles are rejected at load; keep going deterministically anyway.
            out.extend(remaining.iter().copied());
            break;
        }
        for i in ready {
            remaining.remove(&i);
            out.push(i);
        }
    }
    out
}

/// `order` (a topological order of the models a build runs) with the models that more of the
/// others depend on, directly or not, first; ties keep their place in `order`.
///
/// A build starts the ready models in this order, so when more are ready than it has slots, the
/// one that more models wait for runs first (Airflow's `downstream` weight rule): after
/// the time entries, `int_revenue_monthly` (which `backlog`, `billing`, `margin` and `revenue`
/// wait for) before `utilization` or a warnings model that nothing reads. The result is still
/// topological: a model has more models downstream of it than any of its children has.
pub(crate) fn by_downstream(parents: &[Vec<usize>], order: &[usize]) -> Vec<usize> {
    let members: BTreeSet<usize> = order.iter().copied().collect();
    let mut children = children(parents);
    for c in &mut children {
        c.retain(|i| members.contains(i));
    }
    let downstream = |i: usize| {
        let mut below = BTreeSet::new();
        reach(i, &children, usize::MAX, &mut below);
        below.len()
    };
    let mut weighted: Vec<(usize, usize)> = order.iter().map(|&i| (downstream(i), i)).collect();
    // stable: equal weights keep their topological order
    weighted.sort_by_key(|&(w, _)| std::cmp::Reverse(w));
    weighted.into_iter().map(|(_, i)| i).collect()
}

/// Each model's children (the models that read it), from [`parents`].
pub(crate) fn children(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut children = vec![Vec::new(); parents.len()];
    for (c, ps) in parents.iter().enumerate() {
        for &p in ps {
            children[p].push(c);
        }
    }
    children
}

/// Everything reachable from `start` along `edges` within `steps` steps (start excluded).
pub(crate) fn reach(start: usize, edges: &[Vec<usize>], steps: usize, out: &mut BTreeSet<usize>) {
    let mut frontier = vec![start];
    let mut seen = BTreeSet::from([start]);
    let mut taken = 0;
    while !frontier.is_empty() && taken < steps {
        let mut next = Vec::new();
        for v in frontier {
            for &p in &edges[v] {
                if seen.insert(p) {
                    out.insert(p);
                    next.push(p);
                }
            }
        }
        frontier = next;
        taken += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_holding_up_more_others_come_first() {
        // 3 reads 1, 4 reads 3, 5 reads 0; 2 and 6 are read by nothing; 6 reads 7, which is not
        // in the build. Downstream counts: 1 → {3, 4} = 2; 0 → {5} = 1; 3 → {4} = 1; others 0.
        let parents = vec![
            vec![],
            vec![],
            vec![],
            vec![1],
            vec![3],
            vec![0],
            vec![7],
            vec![],
        ];
        let order = vec![0, 1, 2, 3, 4, 5, 6];
        let got = by_downstream(&parents, &order);
        assert_eq!(got, vec![1, 0, 3, 2, 4, 5, 6]);
        // still parents first
        for (k, &i) in got.iter().enumerate() {
            for p in &parents[i] {
                if let Some(j) = got.iter().position(|x| x == p) {
                    assert!(j < k, "{p} after its child {i} in {got:?}");
                }
            }
        }
    }

    #[test]
    fn a_model_reading_itself_does_not_count_itself() {
        let parents = vec![vec![0], vec![0]];
        assert_eq!(by_downstream(&parents, &[0, 1]), vec![0, 1]);
    }
}
