//! A Barnes–Hut quadtree over 2-D points, for t-SNE's repulsive forces ([`super::tsne`]): each cell
//! knows its points' count and centre of mass, and a cell far enough away stands for its points.

/// A Barnes–Hut quadtree over 2-D points: each cell knows its points' count and centre of mass.
pub(super) struct QuadTree {
    nodes: Vec<Node>,
}

struct Node {
    /// Centre and half-width of the cell.
    cx: f64,
    cy: f64,
    half: f64,
    count: usize,
    /// Sum of the positions (the centre of mass times count).
    sx: f64,
    sy: f64,
    /// First of four children, or 0 for a leaf.
    children: usize,
    /// A leaf's point (its position), if it holds one; points at one position share a leaf.
    point: Option<(f64, f64)>,
}

/// Cells below this width hold their points together, so coincident points cannot recurse forever.
const MIN_HALF: f64 = 1e-12;

impl QuadTree {
    pub(super) fn build(y: &[f64]) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for p in y.chunks_exact(2) {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        let half = ((x1 - x0).max(y1 - y0) / 2.0).max(MIN_HALF) * (1.0 + 1e-9) + 1e-12;
        let root = Node::empty((x0 + x1) / 2.0, (y0 + y1) / 2.0, half);
        let mut tree = QuadTree { nodes: Vec::with_capacity(y.len() * 2) };
        tree.nodes.push(root);
        for p in y.chunks_exact(2) {
            tree.insert(0, p[0], p[1]);
        }
        tree
    }

    fn insert(&mut self, mut at: usize, x: f64, y: f64) {
        loop {
            let node = &mut self.nodes[at];
            node.count += 1;
            node.sx += x;
            node.sy += y;
            if node.children == 0 {
                match node.point {
                    None if node.count == 1 => {
                        node.point = Some((x, y));
                        return;
                    }
                    Some((px, py)) if (px == x && py == y) || node.half < MIN_HALF => return,
                    Some((px, py)) => {
                        // Split: the resident point moves down a level.
                        node.point = None;
                        let (cx, cy, h) = (node.cx, node.cy, node.half / 2.0);
                        let first = self.nodes.len();
                        self.nodes[at].children = first;
                        for (dx, dy) in [(-h, -h), (h, -h), (-h, h), (h, h)] {
                            self.nodes.push(Node::empty(cx + dx, cy + dy, h));
                        }
                        // The resident points (all at one position) go to their child whole.
                        let residents = self.nodes[at].count - 1;
                        let resident = self.child_of(at, px, py);
                        let child = &mut self.nodes[resident];
                        child.count = residents;
                        child.sx = px * residents as f64;
                        child.sy = py * residents as f64;
                        child.point = Some((px, py));
                    }
                    None => unreachable!("an inner leaf always holds its points"),
                }
            }
            at = self.child_of(at, x, y);
        }
    }

    fn child_of(&self, at: usize, x: f64, y: f64) -> usize {
        let node = &self.nodes[at];
        node.children + usize::from(x >= node.cx) + 2 * usize::from(y >= node.cy)
    }

    /// Σ_j q_ijZ² (y_i − y_j) and Σ_j q_ijZ over every other point, with far cells summarised.
    /// `stack` is scratch space, kept by the caller across points (one allocation an iteration, not
    /// one a point).
    pub(super) fn repulsion(&self, x: f64, y: f64, theta: f64, stack: &mut Vec<usize>) -> (f64, f64, f64) {
        let (mut fx, mut fy, mut sum_q) = (0.0, 0.0, 0.0);
        stack.clear();
        stack.push(0);
        while let Some(at) = stack.pop() {
            let node = &self.nodes[at];
            if node.count == 0 {
                continue;
            }
            let n = node.count as f64;
            let (mx, my) = (node.sx / n, node.sy / n);
            let (dx, dy) = (x - mx, y - my);
            let d2 = dx * dx + dy * dy;
            let leaf = node.children == 0;
            if leaf || (2.0 * node.half) * (2.0 * node.half) < theta * theta * d2 {
                // The point itself (and any at the same position) adds nothing to the force; its
                // own q = 1 is left out of the sum.
                let own = if leaf && d2 == 0.0 { 1.0 } else { 0.0 };
                let q = 1.0 / (1.0 + d2);
                sum_q += (n - own) * q;
                fx += n * q * q * dx;
                fy += n * q * q * dy;
            } else {
                stack.extend(node.children..node.children + 4);
            }
        }
        (fx, fy, sum_q)
    }
}

impl Node {
    fn empty(cx: f64, cy: f64, half: f64) -> Self {
        Node { cx, cy, half, count: 0, sx: 0.0, sy: 0.0, children: 0, point: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn barnes_hut_at_theta_zero_is_the_exact_sum() {
        let y: Vec<f64> = Rng::new(4).normals(2 * 200, 3.0).into_iter().map(f64::from).collect();
        let tree = QuadTree::build(&y);
        for i in [0, 50, 199] {
            let (x, yy) = (y[2 * i], y[2 * i + 1]);
            let (mut fx, mut fy, mut sq) = (0.0, 0.0, 0.0);
            for j in (0..200).filter(|&j| j != i) {
                let (dx, dy) = (x - y[2 * j], yy - y[2 * j + 1]);
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                sq += q;
                fx += q * q * dx;
                fy += q * q * dy;
            }
            let (bx, by, bq) = tree.repulsion(x, yy, 0.0, &mut Vec::new());
            assert!((bx - fx).abs() < 1e-9 && (by - fy).abs() < 1e-9 && (bq - sq).abs() < 1e-9);
            let (ax, ay, aq) = tree.repulsion(x, yy, 0.5, &mut Vec::new());
            assert!((aq - sq).abs() / sq < 0.05, "θ = 0.5 stays close: {aq} vs {sq}");
            assert!(((ax - fx).powi(2) + (ay - fy).powi(2)).sqrt() < 0.1 * (fx * fx + fy * fy).sqrt() + 1e-6);
        }
    }
}
