//! Graphviz output of a pipeline (the task's `dot` field) and Kapacitor's node names.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::catalog::spec_for_kind;
use crate::pipeline::{Pipeline, TaskType};

/// `<desc><id>`: `stream0`, `from1`, `window2`, `http_out5`, `influxdb_out6`, and the UDF
/// name for `@name()` nodes.
pub(crate) fn node_name(kind: &str, id: usize) -> String {
    let desc = match kind.strip_prefix("udf:") {
        Some(udf) => udf,
        None => spec_for_kind(kind).map_or(kind, |s| s.desc),
    };
    format!("{desc}{id}")
}

/// Runtime statistics shown in the attributes view of a running task's DOT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DotStats {
    /// Task throughput, points/s (stream) or batches/s (batch).
    pub throughput: f64,
    /// Stats per node name (`from1`), each key → its display value (`avg_exec_time_ns` →
    /// `"1.2µs"`, `emitted` → `"12"`). Printed sorted by key, as Kapacitor does.
    pub nodes: BTreeMap<String, NodeDotStats>,
    /// `?dot-view=labels`: graphviz labels instead of attributes.
    pub labels: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeDotStats {
    pub stats: BTreeMap<String, String>,
    /// Points/batches sent to each child, by child node name.
    pub processed: BTreeMap<String, u64>,
}

impl Pipeline {
    /// The node's name in DOT and stats: `window2`.
    pub fn node_name(&self, id: usize) -> String {
        self.nodes
            .get(id)
            .map_or_else(|| format!("node{id}"), |n| node_name(&n.kind, id))
    }

    /// Children of every node, in creation order. `stats` nodes are left out: Kapacitor makes
    /// them sources of their own rather than children of the node they observe.
    fn children(&self) -> Vec<Vec<usize>> {
        let mut children = vec![Vec::new(); self.nodes.len()];
        for n in &self.nodes {
            if n.kind == "stats" {
                continue;
            }
            for &p in &n.parents {
                if p < children.len() && !children[p].contains(&n.id) {
                    children[p].push(n.id);
                }
            }
        }
        children
    }

    /// Nodes in Kapacitor's walk order: reverse post-order of a depth-first search from the
    /// sources (the task source and `stats` nodes), visited last source first.
    fn walk_order(&self) -> Vec<usize> {
        let children = self.children();
        let sources: Vec<usize> = self
            .nodes
            .iter()
            .filter(|n| n.id == 0 || n.kind == "stats")
            .map(|n| n.id)
            .collect();
        let mut visited = vec![false; self.nodes.len()];
        let mut post = Vec::with_capacity(self.nodes.len());
        for &s in sources.iter().rev() {
            // Iterative DFS so deep pipelines cannot overflow the stack.
            let mut stack = vec![(s, 0usize)];
            if visited[s] {
                continue;
            }
            visited[s] = true;
            while let Some((n, i)) = stack.pop() {
                if let Some(&c) = children[n].get(i) {
                    stack.push((n, i + 1));
                    if !visited[c] {
                        visited[c] = true;
                        stack.push((c, 0));
                    }
                } else {
                    post.push(n);
                }
            }
        }
        post.reverse();
        post
    }

    /// `digraph <task> {\nstream0 -> from1;\n...}`
    pub fn dot(&self, task_id: &str) -> String {
        let children = self.children();
        let mut out = format!("digraph {task_id} {{\n");
        for n in self.walk_order() {
            for &c in &children[n] {
                let _ = writeln!(out, "{} -> {};", self.node_name(n), self.node_name(c));
            }
        }
        out.push('}');
        out
    }

    /// The DOT of a running task with its stats, as in the task's `dot` field.
    pub fn dot_with_stats(&self, task_id: &str, stats: &DotStats) -> String {
        let unit = match self.task_type {
            TaskType::Stream => "points",
            TaskType::Batch => "batches",
        };
        let children = self.children();
        let mut out = format!("digraph {task_id} {{\n");
        if stats.labels {
            let _ = writeln!(
                out,
                "graph [label=\"Throughput: {:.2} {unit}/s\" forcelabels=true pad=\"0.8,0.5\"];",
                stats.throughput
            );
        } else {
            let _ = writeln!(
                out,
                "graph [throughput=\"{:.2} {unit}/s\"];",
                stats.throughput
            );
        }
        let empty = NodeDotStats::default();
        for n in self.walk_order() {
            let name = self.node_name(n);
            let ns = stats.nodes.get(&name).unwrap_or(&empty);
            if stats.labels {
                let joined: Vec<String> =
                    ns.stats.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let _ = writeln!(out, "\n{name} [xlabel=\"{}\"];", joined.join("\\r"));
            } else {
                let _ = write!(out, "\n{name} [");
                for (k, v) in &ns.stats {
                    let _ = write!(out, "{k}=\"{v}\" ");
                }
                out.push_str("];\n");
            }
            for &c in &children[n] {
                let child = self.node_name(c);
                let processed = ns.processed.get(&child).copied().unwrap_or(0);
                if stats.labels {
                    let _ = writeln!(out, "{name} -> {child} [label=\"processed={processed}\"];");
                } else {
                    let _ = writeln!(out, "{name} -> {child} [processed=\"{processed}\"];");
                }
            }
        }
        out.push('}');
        out
    }

    /// The measurement of every `from()` node (`""` when it takes any measurement), in node
    /// order, for routing points to the task.
    pub fn measurements(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.kind == "from")
            .map(|n| {
                n.props
                    .iter()
                    .rev()
                    .find(|p| p.name == "measurement")
                    .and_then(|p| match p.args.first() {
                        Some(crate::pipeline::Arg::Str(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}
