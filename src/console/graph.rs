//! The plan as a graph for the page: streams and pumps are nodes; a pump has an edge from each
//! stream it reads and one to the stream it writes. The page draws it and puts each edge's
//! rows/s on it (the rate of the stream at the edge's source end).

use crate::catalog::StreamKind;
use crate::plan::{OperatorSpec, Plan};

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Node {
    /// `stream:NAME` or `pump:NAME`.
    pub id: String,
    pub name: String,
    /// `source`, `stream`, `error` or `pump`.
    pub kind: String,
    /// A pump's operators as `explain` prints them.
    pub operators: Vec<String>,
    /// Columns of layers from the left, sources first.
    pub layer: usize,
    /// A pump's index in the plan (what `/api/status`'s `held` refers to).
    pub pump: Option<usize>,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The stream whose rows travel along the edge.
    pub stream: String,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn of(plan: &Plan) -> Graph {
        let streams = &plan.catalog.streams;
        // A stream's layer: 0 for sources, else two more than the deepest stream feeding a
        // pump that writes it (the pump sits in between).
        let mut layer: Vec<usize> = vec![0; streams.len()];
        for _ in 0..streams.len() {
            let mut changed = false;
            for p in &plan.pumps {
                let from = p.inputs.iter().map(|i| layer[i.source]).max().unwrap_or(0);
                if layer[p.target] < from + 2 {
                    layer[p.target] = from + 2;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let used = |i: usize| {
            streams[i].kind != StreamKind::Created
                || plan.pumps.iter().any(|p| p.target == i || p.reads(i))
        };
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let deepest = layer.iter().copied().max().unwrap_or(0);
        for (i, s) in streams.iter().enumerate() {
            if !used(i) {
                continue;
            }
            let kind = match s.kind {
                StreamKind::Source => "source",
                StreamKind::Error => "error",
                StreamKind::Created => "stream",
            };
            nodes.push(Node {
                id: format!("stream:{}", s.name),
                name: s.name.clone(),
                kind: kind.to_string(),
                operators: vec![],
                pump: None,
                layer: if s.kind == StreamKind::Error {
                    deepest.max(2)
                } else {
                    layer[i]
                },
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (index, p) in plan.pumps.iter().enumerate() {
            // Branches of one UNION ALL pump share its name: one node per branch.
            let mut id = format!("pump:{}", p.name);
            let mut k = 2;
            while !seen.insert(id.clone()) {
                id = format!("pump:{}#{k}", p.name);
                k += 1;
            }
            let mut operators: Vec<String> = p
                .inputs
                .iter()
                .flat_map(|i| i.ops.iter().map(describe))
                .collect();
            if let Some(j) = &p.join {
                operators.push(j.to_string());
            }
            operators.extend(p.ops.iter().map(describe));
            let from = p.inputs.iter().map(|i| layer[i.source]).max().unwrap_or(0);
            nodes.push(Node {
                id: id.clone(),
                name: p.name.clone(),
                kind: "pump".to_string(),
                operators,
                pump: Some(index),
                layer: from + 1,
            });
            for i in &p.inputs {
                let name = &streams[i.source].name;
                edges.push(Edge {
                    from: format!("stream:{name}"),
                    to: id.clone(),
                    stream: name.clone(),
                });
            }
            let target = &streams[p.target].name;
            edges.push(Edge {
                from: id,
                to: format!("stream:{target}"),
                stream: target.clone(),
            });
        }
        Graph { nodes, edges }
    }
}

fn describe(op: &OperatorSpec) -> String {
    op.to_string()
}
