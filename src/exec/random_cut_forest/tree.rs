//! One random cut tree (Guha et al., ICML 2016, as AWS's RCF 1.0 builds it) over the points of
//! one sample, and the two walks that score a point against it.
//!
//! Every internal node has a bounding box (of the points below it), a cut `(dimension, value)`
//! and a mass (the number of points below it); points with `x[dimension] <= value` are on the
//! left. A leaf is one distinct point; equal points share a leaf whose mass counts them.
//!
//! - **Insert** p: at a node whose box B does not contain p, draw a cut of B ∪ {p}: a dimension
//!   with probability proportional to its range, a value uniform in that range. If the cut
//!   separates p from B, p's new leaf and the node become the children of a new node there;
//!   otherwise go down by the node's own cut. Boxes and masses on the way grow by p.
//! - **Delete** p: go down by the cuts to p's leaf; a leaf of mass 1 goes and its sibling takes
//!   its parent's place; boxes and masses above are recomputed.
//! - **Score** q (the anomaly score of RCF 1.0): go down to the leaf q falls into (depth d), then
//!   fold upwards. At the leaf, `s = (1 - m/2M) / (d + log2(m + 1))` if its point is q (mass m,
//!   tree mass M), and the walk stops; otherwise `s = 1/(d + 1)`. At each ancestor at depth k,
//!   with p the probability that a random cut of box ∪ {q} separates q (the box's growth over
//!   the merged range sum), `s = p/(k + 1) + (1 - p)·s`; once p is 0 every box above contains
//!   q too and the walk stops. The tree's score is `s·log2(M + 1)`.
//! - **Attribution** splits the same fold by dimension and side: each term's p is the sum over
//!   dimensions of how far q lies above (high) or below (low) the box, over the merged range
//!   sum. The parts add up to the score.

use super::codec::{Reader, Writer};
use super::rng::Rng;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    parent: u32,
    /// `NONE` for a leaf.
    left: u32,
    right: u32,
    cut_dim: u32,
    cut: f64,
    mass: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    dim: usize,
    nodes: Vec<Node>,
    /// The bounding box of node n: `lo[n·dim..]`, `hi[n·dim..]` (a leaf's box is its point).
    lo: Vec<f64>,
    hi: Vec<f64>,
    free: Vec<u32>,
    root: u32,
}

/// How far `q` lies outside the box `lo..hi` in each dimension (above, below), and the range
/// sum of the box grown to hold `q`. Returns the sum of the gaps and that range sum.
fn gaps(lo: &[f64], hi: &[f64], q: &[f64], high: &mut [f64], low: &mut [f64]) -> (f64, f64) {
    let (mut outside, mut merged) = (0.0, 0.0);
    for i in 0..q.len() {
        let (above, below) = ((q[i] - hi[i]).max(0.0), (lo[i] - q[i]).max(0.0));
        high[i] = above;
        low[i] = below;
        outside += above + below;
        merged += hi[i].max(q[i]) - lo[i].min(q[i]);
    }
    (outside, merged)
}

/// The probability that a random cut of the box grown to hold `q` separates `q` from the box.
fn separation(lo: &[f64], hi: &[f64], q: &[f64]) -> f64 {
    let (mut outside, mut merged) = (0.0, 0.0);
    for i in 0..q.len() {
        outside += (q[i] - hi[i]).max(0.0) + (lo[i] - q[i]).max(0.0);
        merged += hi[i].max(q[i]) - lo[i].min(q[i]);
    }
    if outside <= 0.0 || merged <= 0.0 {
        0.0
    } else {
        outside / merged
    }
}

/// RCF 1.0's score of a point seen at depth `depth` in a leaf of mass `mass`.
fn score_seen(depth: usize, mass: u32) -> f64 {
    1.0 / (depth as f64 + (mass as f64 + 1.0).log2())
}

/// RCF 1.0's score of a point separated at depth `depth`.
fn score_unseen(depth: usize) -> f64 {
    1.0 / (depth as f64 + 1.0)
}

/// A leaf holding `mass` of the tree's `tree_mass` copies counts less: `1 - mass/(2·tree_mass)`.
fn damp(mass: u32, tree_mass: u32) -> f64 {
    1.0 - mass as f64 / (2.0 * tree_mass as f64)
}

impl Tree {
    pub fn new(dim: usize) -> Tree {
        Tree {
            dim,
            nodes: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
            free: Vec::new(),
            root: NONE,
        }
    }

    /// The number of points in the tree (copies counted).
    pub fn mass(&self) -> u32 {
        if self.root == NONE {
            0
        } else {
            self.nodes[self.root as usize].mass
        }
    }

    fn lo(&self, n: u32) -> &[f64] {
        let at = n as usize * self.dim;
        &self.lo[at..at + self.dim]
    }

    fn hi(&self, n: u32) -> &[f64] {
        let at = n as usize * self.dim;
        &self.hi[at..at + self.dim]
    }

    fn is_leaf(&self, n: u32) -> bool {
        self.nodes[n as usize].left == NONE
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                self.lo.resize(self.nodes.len() * self.dim, 0.0);
                self.hi.resize(self.nodes.len() * self.dim, 0.0);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn new_leaf(&mut self, p: &[f64]) -> u32 {
        let n = self.alloc(Node {
            parent: NONE,
            left: NONE,
            right: NONE,
            cut_dim: 0,
            cut: 0.0,
            mass: 1,
        });
        let at = n as usize * self.dim;
        self.lo[at..at + self.dim].copy_from_slice(p);
        self.hi[at..at + self.dim].copy_from_slice(p);
        n
    }

    fn child(&self, n: u32, p: &[f64]) -> u32 {
        let node = &self.nodes[n as usize];
        if p[node.cut_dim as usize] <= node.cut {
            node.left
        } else {
            node.right
        }
    }

    fn contains(&self, n: u32, p: &[f64]) -> bool {
        let (lo, hi) = (self.lo(n), self.hi(n));
        (0..self.dim).all(|i| lo[i] <= p[i] && p[i] <= hi[i])
    }

    /// Makes `new` take `old`'s place under `old`'s parent (or as the root).
    fn replace(&mut self, old: u32, new: u32) {
        let parent = self.nodes[old as usize].parent;
        self.nodes[new as usize].parent = parent;
        if parent == NONE {
            self.root = new;
        } else {
            let p = &mut self.nodes[parent as usize];
            if p.left == old {
                p.left = new;
            } else {
                p.right = new;
            }
        }
    }

    /// A random cut of the box of `n` grown to hold `p`: a dimension with probability
    /// proportional to its range, a value uniform in it, strictly below the range's top (so that
    /// the point on top, `x <= value` false, goes right).
    fn random_cut(&self, n: u32, p: &[f64], rng: &mut Rng) -> (usize, f64) {
        let (lo, hi) = (self.lo(n), self.hi(n));
        let range = |i: usize| hi[i].max(p[i]) - lo[i].min(p[i]);
        let total: f64 = (0..self.dim).map(range).sum();
        let mut r = rng.unit() * total;
        let mut chosen = None;
        for i in 0..self.dim {
            let w = range(i);
            if w <= 0.0 {
                continue;
            }
            chosen = Some(i);
            if r < w {
                break;
            }
            r -= w;
        }
        // Rounding can leave r at or past the last range: the last dimension with a range.
        let i = chosen.expect("a box grown by a point outside it has a range");
        let (min, max) = (lo[i].min(p[i]), hi[i].max(p[i]));
        let mut value = min + r.min(range(i));
        if value >= max {
            value = max.next_down();
        }
        (i, value.max(min))
    }

    /// Adds `p` (drawing cuts from `rng`).
    pub fn insert(&mut self, p: &[f64], rng: &mut Rng) {
        if self.root == NONE {
            self.root = self.new_leaf(p);
            return;
        }
        let mut n = self.root;
        loop {
            if self.is_leaf(n) && self.lo(n) == p {
                self.grow_above(n, p, false);
                return;
            }
            if !self.contains(n, p) {
                let (dim, cut) = self.random_cut(n, p, rng);
                let (lo, hi) = (self.lo(n)[dim], self.hi(n)[dim]);
                if lo > cut || hi <= cut {
                    let leaf = self.new_leaf(p);
                    let (left, right) = if lo > cut { (leaf, n) } else { (n, leaf) };
                    let mass = self.nodes[n as usize].mass + 1;
                    let joined = self.alloc(Node {
                        parent: NONE,
                        left,
                        right,
                        cut_dim: dim as u32,
                        cut,
                        mass,
                    });
                    let (at, j) = (n as usize * self.dim, joined as usize * self.dim);
                    for (i, x) in p.iter().enumerate() {
                        self.lo[j + i] = self.lo[at + i].min(*x);
                        self.hi[j + i] = self.hi[at + i].max(*x);
                    }
                    self.replace(n, joined);
                    self.nodes[n as usize].parent = joined;
                    self.nodes[leaf as usize].parent = joined;
                    let above = self.nodes[joined as usize].parent;
                    if above != NONE {
                        self.grow_above(above, p, true);
                    }
                    return;
                }
            }
            n = self.child(n, p);
        }
    }

    /// Adds one to the mass of `n` and every node above it, and with `boxes` grows their boxes
    /// to hold `p`.
    fn grow_above(&mut self, mut n: u32, p: &[f64], boxes: bool) {
        while n != NONE {
            self.nodes[n as usize].mass += 1;
            if boxes {
                let at = n as usize * self.dim;
                for (i, x) in p.iter().enumerate() {
                    self.lo[at + i] = self.lo[at + i].min(*x);
                    self.hi[at + i] = self.hi[at + i].max(*x);
                }
            }
            n = self.nodes[n as usize].parent;
        }
    }

    /// Removes one copy of `p`, which must be in the tree.
    pub fn delete(&mut self, p: &[f64]) -> Result<(), String> {
        if self.root == NONE {
            return Err("a point was deleted from an empty tree".into());
        }
        let mut n = self.root;
        while !self.is_leaf(n) {
            n = self.child(n, p);
        }
        if self.lo(n) != p {
            return Err("a deleted point is not in its tree".into());
        }
        if self.nodes[n as usize].mass > 1 {
            let mut a = n;
            while a != NONE {
                self.nodes[a as usize].mass -= 1;
                a = self.nodes[a as usize].parent;
            }
            return Ok(());
        }
        let parent = self.nodes[n as usize].parent;
        self.free.push(n);
        if parent == NONE {
            self.root = NONE;
            return Ok(());
        }
        let node = self.nodes[parent as usize];
        let sibling = if node.left == n {
            node.right
        } else {
            node.left
        };
        self.replace(parent, sibling);
        self.free.push(parent);
        let mut a = self.nodes[sibling as usize].parent;
        while a != NONE {
            let Node {
                left, right, mass, ..
            } = self.nodes[a as usize];
            let (at, l, r) = (
                a as usize * self.dim,
                left as usize * self.dim,
                right as usize * self.dim,
            );
            for i in 0..self.dim {
                self.lo[at + i] = self.lo[l + i].min(self.lo[r + i]);
                self.hi[at + i] = self.hi[l + i].max(self.hi[r + i]);
            }
            self.nodes[a as usize].mass = mass - 1;
            a = self.nodes[a as usize].parent;
        }
        Ok(())
    }

    /// The nodes from the root to the leaf `q` falls into, in `path`.
    fn path_to_leaf(&self, q: &[f64], path: &mut Vec<u32>) {
        path.clear();
        let mut n = self.root;
        path.push(n);
        while !self.is_leaf(n) {
            n = self.child(n, q);
            path.push(n);
        }
    }

    /// RCF 1.0's anomaly score of `q` in this tree (0 for an empty tree). `path` is scratch space.
    pub fn score(&self, q: &[f64], path: &mut Vec<u32>) -> f64 {
        if self.root == NONE {
            return 0.0;
        }
        self.path_to_leaf(q, path);
        let tree_mass = self.mass();
        let depth = path.len() - 1;
        let leaf = path[depth];
        let normalizer = (tree_mass as f64 + 1.0).log2();
        if self.lo(leaf) == q {
            let m = self.nodes[leaf as usize].mass;
            return damp(m, tree_mass) * score_seen(depth, m) * normalizer;
        }
        let mut s = score_unseen(depth);
        for k in (0..depth).rev() {
            let n = path[k];
            let p = separation(self.lo(n), self.hi(n), q);
            if p <= 0.0 {
                break;
            }
            s = p * score_unseen(k) + (1.0 - p) * s;
        }
        s * normalizer
    }

    /// Adds this tree's attribution of `q`'s score to `high` and `low` (per dimension): how much
    /// of the score comes from q lying above, or below, the points of the sample in that
    /// dimension. Their sum over dimensions is [`Tree::score`]. As RCF 1.0: when q is a point of
    /// the tree, its leaf's score is first split evenly, then shaped by the boxes of the rest of
    /// the tree around it (the siblings along the path), and scaled back to that score.
    pub fn add_attribution(
        &self,
        q: &[f64],
        path: &mut Vec<u32>,
        high: &mut [f64],
        low: &mut [f64],
    ) {
        if self.root == NONE {
            return;
        }
        self.path_to_leaf(q, path);
        let d = self.dim;
        let tree_mass = self.mass();
        let depth = path.len() - 1;
        let leaf = path[depth];
        let (mut h, mut l) = (vec![0.0; d], vec![0.0; d]);
        let (mut gh, mut gl) = (vec![0.0; d], vec![0.0; d]);
        let duplicate = self.lo(leaf) == q;
        let leaf_score;
        if duplicate {
            let m = self.nodes[leaf as usize].mass;
            leaf_score = damp(m, tree_mass) * score_seen(depth, m);
            h.fill(leaf_score / (2 * d) as f64);
            l.fill(leaf_score / (2 * d) as f64);
        } else {
            leaf_score = score_unseen(depth);
            let (outside, _) = gaps(self.lo(leaf), self.hi(leaf), q, &mut gh, &mut gl);
            for i in 0..d {
                h[i] = leaf_score * gh[i] / outside;
                l[i] = leaf_score * gl[i] / outside;
            }
        }
        // For a duplicate: the box of everything on the path but q's own leaf, so far.
        let mut shadow: Option<(Vec<f64>, Vec<f64>)> = None;
        for k in (0..depth).rev() {
            let n = path[k];
            let (outside, merged) = if duplicate {
                let node = self.nodes[n as usize];
                let sibling = if node.left == path[k + 1] {
                    node.right
                } else {
                    node.left
                };
                let (slo, shi) = shadow
                    .get_or_insert_with(|| (self.lo(sibling).to_vec(), self.hi(sibling).to_vec()));
                for i in 0..d {
                    slo[i] = slo[i].min(self.lo(sibling)[i]);
                    shi[i] = shi[i].max(self.hi(sibling)[i]);
                }
                gaps(slo, shi, q, &mut gh, &mut gl)
            } else {
                gaps(self.lo(n), self.hi(n), q, &mut gh, &mut gl)
            };
            let p = if merged > 0.0 { outside / merged } else { 0.0 };
            let inside = p <= 0.0;
            if !inside {
                let s = score_unseen(k);
                for i in 0..d {
                    h[i] = gh[i] / merged * s + (1.0 - p) * h[i];
                    l[i] = gl[i] / merged * s + (1.0 - p) * l[i];
                }
            }
            if duplicate && (inside || k == 0) {
                let total: f64 = h.iter().chain(&l).sum();
                if total > 0.0 {
                    let scale = leaf_score / total;
                    h.iter_mut().chain(l.iter_mut()).for_each(|x| *x *= scale);
                }
            }
            if inside {
                break;
            }
        }
        let normalizer = (tree_mass as f64 + 1.0).log2();
        for i in 0..d {
            high[i] += h[i] * normalizer;
            low[i] += l[i] * normalizer;
        }
    }

    /// The distinct points with their masses (for checks).
    pub fn leaves(&self) -> Vec<(Vec<f64>, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root];
        while let Some(n) = stack.pop() {
            if n == NONE {
                continue;
            }
            if self.is_leaf(n) {
                out.push((self.lo(n).to_vec(), self.nodes[n as usize].mass));
            } else {
                stack.push(self.nodes[n as usize].left);
                stack.push(self.nodes[n as usize].right);
            }
        }
        out
    }

    /// Checks the tree's invariants: links both ways, a leaf's box is its point, an internal
    /// node's mass is its children's and its box the union of theirs, every point on a node's
    /// left is at or below its cut and every point on its right above it, no node lost.
    pub fn check(&self) -> Result<(), String> {
        if self.root == NONE {
            return if self.nodes.len() == self.free.len() {
                Ok(())
            } else {
                Err("an empty tree holds nodes".into())
            };
        }
        if self.nodes[self.root as usize].parent != NONE {
            return Err("the root has a parent".into());
        }
        let mut seen = 0;
        let mut stack = vec![self.root];
        while let Some(n) = stack.pop() {
            seen += 1;
            let node = self.nodes[n as usize];
            if self.is_leaf(n) {
                if self.lo(n) != self.hi(n) || node.mass == 0 {
                    return Err(format!("leaf {n}: its box is not a point, or it is empty"));
                }
                continue;
            }
            let (l, r) = (node.left, node.right);
            for c in [l, r] {
                if c == NONE || self.nodes[c as usize].parent != n {
                    return Err(format!("node {n}: a child does not link back"));
                }
                stack.push(c);
            }
            if node.mass != self.nodes[l as usize].mass + self.nodes[r as usize].mass {
                return Err(format!("node {n}: its mass is not its children's"));
            }
            for i in 0..self.dim {
                if self.lo(n)[i] != self.lo(l)[i].min(self.lo(r)[i])
                    || self.hi(n)[i] != self.hi(l)[i].max(self.hi(r)[i])
                {
                    return Err(format!("node {n}: its box is not its children's union"));
                }
            }
            let c = node.cut_dim as usize;
            if self.hi(l)[c] > node.cut || self.lo(r)[c] <= node.cut {
                return Err(format!("node {n}: its cut does not separate its children"));
            }
        }
        if seen + self.free.len() != self.nodes.len() {
            return Err("nodes are neither in the tree nor free".into());
        }
        Ok(())
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.dim as u64);
        w.u32(self.root);
        w.u64(self.nodes.len() as u64);
        for n in &self.nodes {
            w.u32(n.parent);
            w.u32(n.left);
            w.u32(n.right);
            w.u32(n.cut_dim);
            w.f64(n.cut);
            w.u32(n.mass);
        }
        w.f64s(&self.lo);
        w.f64s(&self.hi);
        w.u32s(&self.free);
    }

    pub fn decode(r: &mut Reader) -> Result<Tree, String> {
        let dim = r.u64()? as usize;
        let root = r.u32()?;
        let count = r.u64()? as usize;
        if count.saturating_mul(28) > r.0.len() {
            return Err("the forest's state ends early".into());
        }
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            nodes.push(Node {
                parent: r.u32()?,
                left: r.u32()?,
                right: r.u32()?,
                cut_dim: r.u32()?,
                cut: r.f64()?,
                mass: r.u32()?,
            });
        }
        let tree = Tree {
            dim,
            nodes,
            lo: r.f64s()?,
            hi: r.f64s()?,
            free: r.u32s()?,
            root,
        };
        if tree.lo.len() != count * dim || tree.hi.len() != count * dim {
            return Err("a tree's boxes do not match its nodes".into());
        }
        tree.check()?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(points: &[&[f64]], seed: u64) -> Tree {
        let mut rng = Rng::seeded(seed);
        let mut t = Tree::new(points[0].len());
        for p in points {
            t.insert(p, &mut rng);
            t.check().unwrap();
        }
        t
    }

    #[test]
    fn insertions_and_deletions_keep_the_invariants_and_the_points() {
        let mut rng = Rng::seeded(11);
        let mut t = Tree::new(3);
        let mut kept: Vec<Vec<f64>> = Vec::new();
        for step in 0..3000 {
            // Coarse values: many duplicates, and ties on single coordinates.
            let p: Vec<f64> = (0..3).map(|_| (rng.unit() * 6.0).floor()).collect();
            if kept.len() > 40 || (step % 3 == 0 && !kept.is_empty()) {
                let at = (rng.unit() * kept.len() as f64) as usize;
                let gone = kept.swap_remove(at);
                t.delete(&gone).unwrap();
            } else {
                t.insert(&p, &mut rng);
                kept.push(p);
            }
            t.check().unwrap();
            assert_eq!(t.mass() as usize, kept.len());
            let mut leaves: Vec<(Vec<f64>, u32)> = t.leaves();
            leaves.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            let mut expected: Vec<(Vec<f64>, u32)> = Vec::new();
            let mut sorted = kept.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            for p in sorted {
                match expected.last_mut() {
                    Some((q, m)) if *q == p => *m += 1,
                    _ => expected.push((p, 1)),
                }
            }
            assert_eq!(leaves, expected);
        }
        for p in kept.drain(..) {
            t.delete(&p).unwrap();
            t.check().unwrap();
        }
        assert_eq!(t.mass(), 0);
        assert!(t.delete(&[0.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn a_point_not_in_the_tree_cannot_be_deleted() {
        let mut t = tree_of(&[&[1.0], &[2.0]], 1);
        assert!(t.delete(&[3.0]).is_err());
        t.check().unwrap();
    }

    // Scores worked by hand from the definitions in the module doc: one dimension, so every cut
    // falls between the two points whatever the random draws, and the walks are fixed.

    #[test]
    fn the_score_of_a_point_equal_to_every_point_is_one_half() {
        // One leaf of mass M at depth 0: (1 - M/2M) / (0 + log2(M + 1)) · log2(M + 1) = 0.5.
        let t = tree_of(&[&[5.0][..]; 7], 3);
        assert_eq!(t.score(&[5.0], &mut Vec::new()), 0.5);
    }

    #[test]
    fn a_new_point_against_one_repeated_point_scores_log2_of_the_mass_plus_one() {
        // The root is a leaf at depth 0 that is not q: 1/(0 + 1) · log2(7 + 1) = 3.
        let t = tree_of(&[&[5.0][..]; 7], 3);
        assert_eq!(t.score(&[6.0], &mut Vec::new()), 3.0);
        assert_eq!(t.score(&[-100.0], &mut Vec::new()), 3.0);
    }

    #[test]
    fn scores_of_two_clusters_follow_the_fold() {
        // Points 0 (×3) and 10 (×1): M = 4, the root cuts between them, leaves at depth 1.
        let t = tree_of(&[&[0.0], &[0.0], &[10.0], &[0.0]], 5);
        let l5 = 5f64.log2();
        // q = 0: its leaf, mass 3: (1 - 3/8) / (1 + log2 4) · log2 5.
        let seen = (1.0 - 3.0 / 8.0) / (1.0 + 2.0) * l5;
        assert!((t.score(&[0.0], &mut Vec::new()) - seen).abs() < 1e-12);
        // q = 10: mass 1: (1 - 1/8) / (1 + 1) · log2 5.
        let seen = (1.0 - 1.0 / 8.0) / 2.0 * l5;
        assert!((t.score(&[10.0], &mut Vec::new()) - seen).abs() < 1e-12);
        // q = 30 lands in the leaf 10 (depth 1, not q): s = 1/2; the root's box [0, 10]
        // grown to 30 is separated with p = 20/30: s = p·1 + (1 - p)·1/2 = 5/6.
        let unseen = (2.0 / 3.0 + (1.0 / 3.0) * 0.5) * l5;
        assert!((t.score(&[30.0], &mut Vec::new()) - unseen).abs() < 1e-12);
        // q = -10 lands in the leaf 0: p = 10/20: s = 0.5 + 0.5·0.5 = 0.75.
        let unseen = 0.75 * l5;
        assert!((t.score(&[-10.0], &mut Vec::new()) - unseen).abs() < 1e-12);
    }

    #[test]
    fn attributions_add_up_to_the_score_and_point_the_right_way() {
        let mut rng = Rng::seeded(9);
        let mut t = Tree::new(2);
        for _ in 0..200 {
            let p = [rng.unit(), rng.unit() * 2.0];
            t.insert(&p, &mut rng);
        }
        t.insert(&[0.5, 0.5], &mut rng);
        let mut path = Vec::new();
        for q in [[0.5, 0.5], [3.0, 1.0], [0.5, -4.0], [0.2, 1.1], [9.0, 9.0]] {
            let (mut h, mut l) = ([0.0; 2], [0.0; 2]);
            t.add_attribution(&q, &mut path, &mut h, &mut l);
            let total: f64 = h.iter().chain(&l).sum();
            let score = t.score(&q, &mut path);
            assert!((total - score).abs() < 1e-12, "{q:?}: {total} vs {score}");
        }
        // Far above in x only: all of it is x-high.
        let (mut h, mut l) = ([0.0; 2], [0.0; 2]);
        t.add_attribution(&[3.0, 1.0], &mut path, &mut h, &mut l);
        assert!(h[0] > 0.9 * t.score(&[3.0, 1.0], &mut path), "{h:?} {l:?}");
        // Far below in y: mostly y-low.
        let (mut h, mut l) = ([0.0; 2], [0.0; 2]);
        t.add_attribution(&[0.5, -4.0], &mut path, &mut h, &mut l);
        assert!(l[1] > 0.9 * t.score(&[0.5, -4.0], &mut path), "{h:?} {l:?}");
    }

    #[test]
    fn attribution_by_hand_in_one_dimension() {
        // The two-cluster tree again: q = 30 lies above everything, so all of it is high; q = 0
        // is a duplicate whose shadow (the sibling, 10) lies above it: its even split is moved
        // to the low side, where q is outside, and scaled back to the leaf's score.
        let t = tree_of(&[&[0.0], &[0.0], &[10.0], &[0.0]], 5);
        let mut path = Vec::new();
        let (mut h, mut l) = ([0.0], [0.0]);
        t.add_attribution(&[30.0], &mut path, &mut h, &mut l);
        assert!((h[0] - (2.0 / 3.0 + 1.0 / 6.0) * 5f64.log2()).abs() < 1e-12);
        assert_eq!(l[0], 0.0);
        let (mut h, mut l) = ([0.0], [0.0]);
        t.add_attribution(&[0.0], &mut path, &mut h, &mut l);
        // Leaf: h = l = s/2 with s = (5/8)/3. Root (depth 0), shadow [10, 10] grown to 0:
        // p = 10/10 = 1, all low: l = 1·1 + 0·l = 1, h = 0; scaled to s.
        let s = (1.0 - 3.0 / 8.0) / 3.0 * 5f64.log2();
        assert_eq!(h[0], 0.0);
        assert!((l[0] - s).abs() < 1e-12);
    }

    #[test]
    fn a_tree_survives_its_bytes() {
        let mut rng = Rng::seeded(4);
        let mut t = Tree::new(2);
        for _ in 0..50 {
            t.insert(&[rng.unit(), rng.unit()], &mut rng);
        }
        let mut w = Writer(Vec::new());
        t.encode(&mut w);
        let back = Tree::decode(&mut Reader(&w.0)).unwrap();
        assert_eq!(back, t);
        assert!(Tree::decode(&mut Reader(&w.0[..w.0.len() - 3])).is_err());
    }
}
