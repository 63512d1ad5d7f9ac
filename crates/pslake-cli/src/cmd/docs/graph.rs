//! A directed acyclic graph drawn as inline SVG with a simple layered layout, computed here so
//! the site needs no JavaScript library and no network: layers left to right by longest path
//! (a node without inputs sits just before its first reader), nodes ordered within a layer by a
//! few barycenter sweeps (fewer crossings), edges as curves from a node's right side to its
//! reader's left side.
//!
//! The markup carries what the page script needs to highlight a node's neighbourhood:
//! `data-id` on each node, `data-from`/`data-to` on each edge.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::page::escape;

/// A node to draw.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Unique id, written as `data-id`.
    pub(crate) id: String,
    /// The text in the box.
    pub(crate) label: String,
    /// A CSS class (e.g. the schema) for its colour.
    pub(crate) class: String,
    /// Where a click leads, if anywhere.
    pub(crate) href: Option<String>,
    /// The tooltip.
    pub(crate) title: String,
}

/// An edge `from -> to` (indices into the nodes), with a CSS class.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) class: &'static str,
}

const NODE_H: f64 = 22.0;
const GAP_Y: f64 = 8.0;
const GAP_X: f64 = 70.0;
const CHAR_W: f64 = 6.8;
const PAD: f64 = 10.0;

/// Each node's layer: the longest path from a node without inputs; such a node is moved right to
/// just before its first reader.
fn layers(n: usize, edges: &[Edge]) -> Vec<usize> {
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges.iter().filter(|e| e.from != e.to) {
        parents[e.to].push(e.from);
        children[e.from].push(e.to);
    }
    let mut layer: Vec<Option<usize>> = vec![None; n];
    fn depth(
        v: usize,
        parents: &[Vec<usize>],
        layer: &mut [Option<usize>],
        stack: &mut BTreeSet<usize>,
    ) -> usize {
        if let Some(l) = layer[v] {
            return l;
        }
        // A cycle (never in a project: the DAG is checked when it loads) is cut here.
        if !stack.insert(v) {
            return 0;
        }
        let l = parents[v]
            .iter()
            .map(|&p| depth(p, parents, layer, stack) + 1)
            .max()
            .unwrap_or(0);
        stack.remove(&v);
        layer[v] = Some(l);
        l
    }
    let mut stack = BTreeSet::new();
    for v in 0..n {
        depth(v, &parents, &mut layer, &mut stack);
    }
    let mut layer: Vec<usize> = layer.into_iter().map(|l| l.unwrap_or(0)).collect();
    for v in 0..n {
        if parents[v].is_empty()
            && let Some(first) = children[v].iter().map(|&c| layer[c]).min()
        {
            layer[v] = first.saturating_sub(1);
        }
    }
    layer
}

/// Orders each layer's nodes by the mean position of their neighbours, a few sweeps.
fn order(n: usize, edges: &[Edge], layer: &[usize]) -> Vec<Vec<usize>> {
    let depth = layer.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for v in 0..n {
        rows[layer[v]].push(v);
    }
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges.iter().filter(|e| e.from != e.to) {
        neighbours[e.from].push(e.to);
        neighbours[e.to].push(e.from);
    }
    for _ in 0..6 {
        // Positions as fractions of each layer's height, so layers of different sizes compare.
        let mut pos = vec![0.0; n];
        for row in &rows {
            for (k, &v) in row.iter().enumerate() {
                pos[v] = (k as f64 + 0.5) / row.len() as f64;
            }
        }
        for row in rows.iter_mut() {
            let key = |v: usize| -> f64 {
                let ns = &neighbours[v];
                if ns.is_empty() {
                    pos[v]
                } else {
                    ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = row.iter().map(|&v| (key(v), v)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *row = keyed.into_iter().map(|(_, v)| v).collect();
        }
    }
    rows
}

/// The SVG of `nodes` and `edges`, with `id` on the `<svg>` element.
pub(crate) fn svg(id: &str, nodes: &[Node], edges: &[Edge]) -> String {
    let n = nodes.len();
    let layer = layers(n, edges);
    let rows = order(n, edges, &layer);
    let widths: Vec<f64> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|&v| nodes[v].label.chars().count() as f64 * CHAR_W + 2.0 * PAD)
                .fold(60.0, f64::max)
        })
        .collect();
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = (tallest * (NODE_H + GAP_Y)).max(NODE_H) + GAP_Y;
    let mut x = vec![0.0; n];
    let mut y = vec![0.0; n];
    let mut left = GAP_Y;
    for (l, row) in rows.iter().enumerate() {
        let top = (height - row.len() as f64 * (NODE_H + GAP_Y)) / 2.0 + GAP_Y / 2.0;
        for (k, &v) in row.iter().enumerate() {
            x[v] = left;
            y[v] = top + k as f64 * (NODE_H + GAP_Y);
        }
        left += widths[l] + GAP_X;
    }
    let width = left - GAP_X + GAP_Y;
    let drawn = edges.iter().filter(|e| e.from != e.to).count();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="{}" class="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="lineage graph" data-nodes="{n}" data-edges="{}">"#,
        escape(id),
        drawn
    );
    out.push_str(r#"<g class="edges">"#);
    for e in edges.iter().filter(|e| e.from != e.to) {
        let (x1, y1) = (x[e.from] + widths[layer[e.from]], y[e.from] + NODE_H / 2.0);
        let (x2, y2) = (x[e.to], y[e.to] + NODE_H / 2.0);
        let mid = (x1 + x2) / 2.0;
        let _ = write!(
            out,
            r#"<path class="edge {}" data-from="{}" data-to="{}" d="M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}"/>"#,
            e.class,
            escape(&nodes[e.from].id),
            escape(&nodes[e.to].id),
        );
    }
    out.push_str("</g><g class=\"nodes\">");
    for (v, node) in nodes.iter().enumerate() {
        let w = widths[layer[v]];
        let body = format!(
            r#"<title>{}</title><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{NODE_H}" rx="4"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            escape(&node.title),
            x[v],
            y[v],
            x[v] + PAD,
            y[v] + NODE_H / 2.0 + 4.0,
            escape(&node.label)
        );
        match &node.href {
            Some(href) => {
                let _ = write!(
                    out,
                    r#"<a class="node {}" data-id="{}" href="{}">{body}</a>"#,
                    escape(&node.class),
                    escape(&node.id),
                    escape(href)
                );
            }
            None => {
                let _ = write!(
                    out,
                    r#"<g class="node {}" data-id="{}">{body}</g>"#,
                    escape(&node.class),
                    escape(&node.id)
                );
            }
        }
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> Node {
        Node {
            id: id.into(),
            label: id.into(),
            class: "x".into(),
            href: Some(format!("#{id}")),
            title: id.into(),
        }
    }

    fn edge(from: usize, to: usize) -> Edge {
        Edge {
            from,
            to,
            class: "reads",
        }
    }

    #[test]
    fn layers_follow_the_longest_path_and_sources_sit_before_their_reader() {
        // a -> b -> c, a -> c, s -> c (s only feeds the last layer)
        let edges = [edge(0, 1), edge(1, 2), edge(0, 2), edge(3, 2)];
        assert_eq!(layers(4, &edges), vec![0, 1, 2, 1]);
    }

    #[test]
    fn every_node_and_edge_is_drawn() {
        let nodes: Vec<Node> = ["a", "b", "c<"].iter().map(|s| node(s)).collect();
        let svg = svg("g", &nodes, &[edge(0, 1), edge(1, 2), edge(2, 2)]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<path").count(), 2, "self edges are not drawn");
        assert!(svg.contains(r#"data-id="c&lt;""#), "{svg}");
        assert!(svg.starts_with("<svg id=\"g\""));
    }
}
