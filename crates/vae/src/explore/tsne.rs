//! A t-SNE map of latent points (van der Maaten 2014, "Accelerating t-SNE using tree-based
//! algorithms"): input affinities from each point's 3·perplexity nearest neighbours, a
//! Barnes–Hut quadtree for the repulsive forces, gradient descent with momentum and per-coordinate
//! gains, early exaggeration. It is built in steps ([`Tsne::step`]) so that the page's worker can
//! interleave it with a person's sketches, as it does the neighbour index.
//!
//! t-SNE has no out-of-sample map: [`Tsne::place`] puts a new point among the positions of its
//! nearest latent neighbours.

use crate::explore::quadtree::QuadTree;
use crate::{Error, Result};

/// How a map is made. The defaults are the usual ones (openTSNE, scikit-learn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneOptions {
    pub perplexity: f64,
    pub iterations: usize,
    /// Barnes–Hut accuracy: a cell of width w at distance d stands for its points when w/d < θ.
    pub theta: f64,
    pub exaggeration: f64,
    pub exaggeration_iterations: usize,
    /// Rows of the affinity matrix per step (each costs a scan of every point).
    pub affinity_rows_per_step: usize,
}

impl Default for TsneOptions {
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            iterations: 750,
            theta: 0.5,
            exaggeration: 12.0,
            exaggeration_iterations: 250,
            affinity_rows_per_step: 500,
        }
    }
}

/// What a step did, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TsneProgress {
    /// Affinity rows computed, out of the number of points.
    pub affinity_rows: usize,
    pub iteration: usize,
    pub iterations: usize,
    pub points: usize,
    pub done: bool,
}

impl TsneProgress {
    /// The share of the work done, 0 to 1 (the affinities counted as a tenth).
    pub fn fraction(&self) -> f64 {
        let affinities = self.affinity_rows as f64 / self.points.max(1) as f64;
        0.1 * affinities + 0.9 * self.iteration as f64 / self.iterations.max(1) as f64
    }
}

/// A t-SNE map being made, then made.
pub struct Tsne {
    options: TsneOptions,
    points: Vec<f32>,
    dims: usize,
    n: usize,
    /// Each point's nearest neighbours and conditional affinities p(j|i), filled row by row.
    neighbours: Vec<Vec<(u32, f64)>>,
    /// The symmetric affinities P as compressed rows, once every row is known.
    rows: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
    y: Vec<f64>,
    update: Vec<f64>,
    gains: Vec<f64>,
    iteration: usize,
}

impl Tsne {
    /// Starts a map of `points` (`n × dims`, row-major) from the 2-D positions `init` (`n × 2`,
    /// e.g. the PCA map: t-SNE keeps more of the global layout from a PCA start than from a random
    /// one, and the result is deterministic). `init` is rescaled to a standard deviation of 1e-4.
    pub fn new(points: &[f32], dims: usize, init: &[f32], options: TsneOptions) -> Result<Self> {
        if dims == 0 || !points.len().is_multiple_of(dims) {
            return Err(Error::Input(format!("{} values are not rows of {dims}", points.len())));
        }
        let n = points.len() / dims;
        let k = (3.0 * options.perplexity).ceil() as usize;
        if n < 2 * k.max(2) {
            return Err(Error::Input(format!(
                "t-SNE at perplexity {} needs at least {} points, got {n}",
                options.perplexity,
                2 * k.max(2)
            )));
        }
        if init.len() != 2 * n {
            return Err(Error::Input(format!("the start has {} values, expected {}", init.len(), 2 * n)));
        }
        if let Some(i) = points.iter().chain(init).position(|v| !v.is_finite()) {
            return Err(Error::Input(format!("value {i} of the points or the start is not finite")));
        }
        if options.perplexity < 1.0 || !(0.0..=1.0).contains(&options.theta) || options.affinity_rows_per_step == 0 {
            return Err(Error::Input(format!("invalid t-SNE options {options:?}")));
        }
        let mut y: Vec<f64> = init.iter().map(|&v| v as f64).collect();
        let (mx, my) = mean2(&y);
        let var = y.chunks_exact(2).map(|p| (p[0] - mx).powi(2)).sum::<f64>() / n as f64;
        let scale = if var > 0.0 { 1e-4 / var.sqrt() } else { 1.0 };
        for p in y.chunks_exact_mut(2) {
            p[0] = (p[0] - mx) * scale;
            p[1] = (p[1] - my) * scale;
        }
        Ok(Tsne {
            options,
            points: points.to_vec(),
            dims,
            n,
            neighbours: Vec::with_capacity(n),
            rows: Vec::new(),
            cols: Vec::new(),
            vals: Vec::new(),
            y,
            update: vec![0.0; 2 * n],
            gains: vec![1.0; 2 * n],
            iteration: 0,
        })
    }

    pub fn progress(&self) -> TsneProgress {
        TsneProgress {
            affinity_rows: self.neighbours.len(),
            iteration: self.iteration,
            iterations: self.options.iterations,
            points: self.n,
            done: self.iteration >= self.options.iterations,
        }
    }

    /// Does up to `iterations` gradient iterations, or a block of affinity rows while those are
    /// not all known.
    pub fn step(&mut self, iterations: usize) -> TsneProgress {
        if self.neighbours.len() < self.n {
            let end = (self.neighbours.len() + self.options.affinity_rows_per_step).min(self.n);
            for i in self.neighbours.len()..end {
                let row = self.affinity_row(i);
                self.neighbours.push(row);
            }
            if self.neighbours.len() == self.n {
                self.symmetrise();
            }
        } else {
            for _ in 0..iterations {
                if self.iteration >= self.options.iterations {
                    break;
                }
                self.iterate();
            }
        }
        self.progress()
    }

    /// Runs to the end.
    pub fn run(&mut self) -> &[f64] {
        while !self.step(50).done {}
        &self.y
    }

    /// The map: `n × 2` positions, row-major.
    pub fn positions(&self) -> Vec<f32> {
        self.y.iter().map(|&v| v as f32).collect()
    }

    /// Where a point whose nearest latent neighbours are `neighbours` (indices into the mapped
    /// points) goes on the map. t-SNE has no out-of-sample transform, so the point goes where its
    /// neighbours are: at the mean of the half of them that lie closest together on the map (the
    /// nearest to their medoid). A plain mean would put a point whose neighbours fall in two
    /// clusters in the empty space between them, among no digits at all. None without neighbours.
    pub fn place(positions: &[f32], neighbours: &[usize]) -> Option<[f32; 2]> {
        let at = |j: usize| (positions[2 * j] as f64, positions[2 * j + 1] as f64);
        let distance = |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let points: Vec<(f64, f64)> = neighbours.iter().map(|&j| at(j)).collect();
        let spread = |p: (f64, f64)| points.iter().map(|&q| distance(p, q)).sum::<f64>();
        // The first of equals: the nearest neighbour in latent space wins a tie.
        let medoid = points.iter().copied().min_by(|&a, &b| spread(a).total_cmp(&spread(b)))?;
        let mut near = points.clone();
        near.sort_by(|&a, &b| distance(a, medoid).total_cmp(&distance(b, medoid)));
        near.truncate(points.len().div_ceil(2));
        let k = near.len() as f64;
        let (x, y) = near.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
        Some([(x / k) as f32, (y / k) as f32])
    }

    /// Point i's 3·perplexity nearest neighbours and p(j|i), the Gaussian whose perplexity is the
    /// target (a binary search on its precision).
    fn affinity_row(&self, i: usize) -> Vec<(u32, f64)> {
        let k = ((3.0 * self.options.perplexity).ceil() as usize).min(self.n - 1);
        let d = self.dims;
        let xi = &self.points[i * d..(i + 1) * d];
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        for (j, xj) in self.points.chunks_exact(d).enumerate() {
            if j == i {
                continue;
            }
            let dist: f64 = xi.iter().zip(xj).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
            if best.len() < k || dist < best[best.len() - 1].0 {
                let at = best.partition_point(|&(b, _)| b <= dist);
                best.insert(at, (dist, j as u32));
                best.truncate(k);
            }
        }
        let target = self.options.perplexity.ln();
        let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
        let d0 = best[0].0;
        let mut p = vec![0.0; best.len()];
        for _ in 0..200 {
            // Shifted by the nearest distance: the same distribution, no underflow.
            let mut sum = 0.0;
            for (pj, &(dist, _)) in p.iter_mut().zip(&best) {
                *pj = (-beta * (dist - d0)).exp();
                sum += *pj;
            }
            let entropy: f64 =
                sum.ln() + beta * best.iter().zip(&p).map(|(&(dist, _), pj)| (dist - d0) * pj).sum::<f64>() / sum;
            p.iter_mut().for_each(|pj| *pj /= sum);
            let diff = entropy - target;
            if diff.abs() < 1e-5 {
                break;
            }
            if diff > 0.0 {
                lo = beta;
                beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        best.iter().zip(p).map(|(&(_, j), pj)| (j, pj)).collect()
    }

    /// P = (P(j|i) + P(i|j)) / 2n, as compressed rows.
    fn symmetrise(&mut self) {
        let mut sym: Vec<Vec<(u32, f64)>> = vec![Vec::new(); self.n];
        for (i, row) in self.neighbours.iter().enumerate() {
            for &(j, p) in row {
                sym[i].push((j, p));
                sym[j as usize].push((i as u32, p));
            }
        }
        let norm = 2.0 * self.n as f64;
        self.rows = Vec::with_capacity(self.n + 1);
        self.rows.push(0);
        for mut row in sym {
            row.sort_unstable_by_key(|&(j, _)| j);
            let mut merged: Vec<(u32, f64)> = Vec::with_capacity(row.len());
            for (j, p) in row {
                match merged.last_mut() {
                    Some(last) if last.0 == j => last.1 += p,
                    _ => merged.push((j, p)),
                }
            }
            for (j, p) in merged {
                self.cols.push(j);
                self.vals.push(p / norm);
            }
            self.rows.push(self.cols.len());
        }
    }

    fn iterate(&mut self) {
        let n = self.n;
        let exaggerating = self.iteration < self.options.exaggeration_iterations;
        let exaggeration = if exaggerating { self.options.exaggeration } else { 1.0 };
        let momentum = if exaggerating { 0.5 } else { 0.8 };
        let learning_rate = (n as f64 / self.options.exaggeration / 4.0).max(50.0);

        let tree = QuadTree::build(&self.y);
        let mut repulsive = vec![0.0; 2 * n];
        let mut sum_q = 0.0;
        let mut stack = Vec::new();
        for i in 0..n {
            let (fx, fy, q) = tree.repulsion(self.y[2 * i], self.y[2 * i + 1], self.options.theta, &mut stack);
            repulsive[2 * i] = fx;
            repulsive[2 * i + 1] = fy;
            sum_q += q;
        }
        let sum_q = sum_q.max(f64::MIN_POSITIVE);
        for i in 0..n {
            let (yi, yj) = (self.y[2 * i], self.y[2 * i + 1]);
            let (mut ax, mut ay) = (0.0, 0.0);
            for e in self.rows[i]..self.rows[i + 1] {
                let j = self.cols[e] as usize;
                let (dx, dy) = (yi - self.y[2 * j], yj - self.y[2 * j + 1]);
                let w = self.vals[e] / (1.0 + dx * dx + dy * dy);
                ax += w * dx;
                ay += w * dy;
            }
            for (c, attractive) in [(0, ax), (1, ay)] {
                let at = 2 * i + c;
                let grad = 4.0 * (exaggeration * attractive - repulsive[at] / sum_q);
                let same_sign = (grad > 0.0) == (self.update[at] > 0.0);
                self.gains[at] = if same_sign { (self.gains[at] * 0.8).max(0.01) } else { self.gains[at] + 0.2 };
                self.update[at] = momentum * self.update[at] - learning_rate * self.gains[at] * grad;
            }
        }
        for (y, u) in self.y.iter_mut().zip(&self.update) {
            *y += u;
        }
        let (mx, my) = mean2(&self.y);
        for p in self.y.chunks_exact_mut(2) {
            p[0] -= mx;
            p[1] -= my;
        }
        self.iteration += 1;
    }
}

fn mean2(y: &[f64]) -> (f64, f64) {
    let n = (y.len() / 2).max(1) as f64;
    let (sx, sy) = y.chunks_exact(2).fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
    (sx / n, sy / n)
}

/// How often a point's `k` nearest neighbours on the 2-D map share its label: a map's quality for
/// the page (a sketch lands among digits of its kind). Ties in distance go to the lower position.
pub fn knn_label_agreement(positions: &[f32], labels: &[u8], k: usize) -> f64 {
    let n = labels.len();
    let x = |i: usize| positions[2 * i];
    // Sorted by x, a point's nearest neighbours are found by walking out from it along x until the
    // gap in x alone is more than the k-th distance so far: about √n points a side on a 2-D map
    // instead of all n (the page computes this for 10 000 points after every new index).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x(a).total_cmp(&x(b)).then(a.cmp(&b)));
    let mut agree = 0usize;
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (rank, &i) in order.iter().enumerate() {
        best.clear();
        let (xi, yi) = (positions[2 * i], positions[2 * i + 1]);
        let (mut left, mut right) = (rank, rank + 1);
        loop {
            let gap_left = (left > 0).then(|| xi - x(order[left - 1]));
            let gap_right = (right < n).then(|| x(order[right]) - xi);
            let j = match (gap_left, gap_right) {
                (Some(l), Some(r)) if l <= r => Some((l, true)),
                (Some(l), None) => Some((l, true)),
                (_, Some(r)) => Some((r, false)),
                (None, None) => None,
            };
            let Some((gap, from_left)) = j else { break };
            if best.len() == k && gap * gap > best[k - 1].0 {
                break;
            }
            let j = if from_left {
                left -= 1;
                order[left]
            } else {
                right += 1;
                order[right - 1]
            };
            let (dx, dy) = (xi - positions[2 * j], yi - positions[2 * j + 1]);
            let d = dx * dx + dy * dy;
            let at = best.partition_point(|&(b, bj)| (b, bj) < (d, j));
            if at < k {
                best.insert(at, (d, j));
                best.truncate(k);
            }
        }
        agree += best.iter().filter(|&&(_, j)| labels[j] == labels[i]).count();
    }
    agree as f64 / (n * k).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// `clusters` Gaussian blobs in `dims` dimensions, `per` points each, labelled by blob.
    fn blobs(clusters: usize, per: usize, dims: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = Rng::new(seed);
        let centres = rng.normals(clusters * dims, 8.0);
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for i in 0..clusters * per {
            let c = i % clusters;
            let noise = rng.normals(dims, 1.0);
            points.extend(centres[c * dims..(c + 1) * dims].iter().zip(noise).map(|(m, e)| m + e));
            labels.push(c as u8);
        }
        (points, labels)
    }

    fn options() -> TsneOptions {
        TsneOptions { iterations: 400, affinity_rows_per_step: 97, ..TsneOptions::default() }
    }

    #[test]
    fn separates_clusters_a_bad_start_mixes() {
        let (points, labels) = blobs(5, 120, 10, 1);
        // A start that mixes the clusters: the first two coordinates carry little of the blobs.
        let init: Vec<f32> = Rng::new(2).normals(2 * labels.len(), 1.0);
        let before = knn_label_agreement(&init, &labels, 10);
        let mut tsne = Tsne::new(&points, 10, &init, options()).unwrap();
        let mut steps = 0;
        while !tsne.step(25).done {
            steps += 1;
        }
        assert!(steps > 600 / 97, "the affinities took steps of their own");
        let after = knn_label_agreement(&tsne.positions(), &labels, 10);
        assert!(before < 0.35, "the start mixes the clusters: {before}");
        assert!(after > 0.95, "t-SNE separates them: {after}");
        assert!(tsne.positions().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn affinity_rows_have_the_perplexity_asked_for() {
        let (points, _) = blobs(3, 100, 4, 3);
        let init = vec![0.0; 600];
        let tsne = Tsne::new(&points, 4, &init, TsneOptions { perplexity: 10.0, ..options() }).unwrap();
        for i in [0, 77, 299] {
            let row = tsne.affinity_row(i);
            assert_eq!(row.len(), 30);
            let sum: f64 = row.iter().map(|r| r.1).sum();
            assert!((sum - 1.0).abs() < 1e-9);
            let entropy: f64 = -row.iter().filter(|r| r.1 > 0.0).map(|r| r.1 * r.1.ln()).sum::<f64>();
            assert!((entropy.exp() - 10.0).abs() < 0.01, "perplexity {}", entropy.exp());
        }
    }

    #[test]
    fn coincident_points_and_bad_input_do_not_break_it() {
        let mut points = vec![1.0f32; 100 * 3];
        points[0] = 2.0;
        let init = vec![0.5f32; 200];
        let mut tsne =
            Tsne::new(&points, 3, &init, TsneOptions { perplexity: 5.0, iterations: 30, ..options() }).unwrap();
        tsne.run();
        assert!(tsne.positions().iter().all(|v| v.is_finite()));
        assert!(Tsne::new(&points[..299], 3, &init, options()).is_err(), "ragged rows");
        assert!(Tsne::new(&points[..30], 3, &init[..20], options()).is_err(), "too few points");
        let mut nan = points.clone();
        nan[5] = f32::NAN;
        assert!(Tsne::new(&nan, 3, &init, TsneOptions { perplexity: 5.0, ..options() }).is_err());
        assert_eq!(Tsne::place(&[0.0, 0.0], &[]), None);
    }

    #[test]
    fn a_point_is_placed_among_the_larger_group_of_its_neighbours() {
        // Five neighbours in a cluster at the origin, three in another at (10, 0): the plain mean,
        // (3.75, 0), is in neither.
        let mut positions = Vec::new();
        for (x, y) in
            [(10.0, 0.0), (0.0, 0.0), (0.3, 0.1), (-0.2, 0.2), (10.2, 0.1), (0.1, -0.3), (9.9, -0.2), (-0.1, 0.0)]
        {
            positions.extend([x, y]);
        }
        let all: Vec<usize> = (0..8).collect();
        let [x, y] = Tsne::place(&positions, &all).unwrap();
        assert!(x.abs() < 0.5 && y.abs() < 0.5, "placed at ({x}, {y}), not in the larger cluster");
        // One neighbour: its position; two: the first of equals (the nearer in latent space).
        assert_eq!(Tsne::place(&positions, &[4]), Some([10.2, 0.1]));
        assert_eq!(Tsne::place(&[0.0, 0.0, 2.0, 4.0], &[1, 0]), Some([2.0, 4.0]));
    }

    #[test]
    fn label_agreement_is_the_brute_force_count() {
        let brute = |positions: &[f32], labels: &[u8], k: usize| {
            let n = labels.len();
            let mut agree = 0;
            for i in 0..n {
                let mut others: Vec<(f32, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let (dx, dy) =
                            (positions[2 * i] - positions[2 * j], positions[2 * i + 1] - positions[2 * j + 1]);
                        (dx * dx + dy * dy, j)
                    })
                    .collect();
                others.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                agree += others.iter().take(k).filter(|&&(_, j)| labels[j] == labels[i]).count();
            }
            agree as f64 / (n * k).max(1) as f64
        };
        let mut rng = Rng::new(9);
        for (n, k, grid) in [(1, 10, false), (5, 10, false), (300, 10, false), (300, 3, true), (1000, 10, false)] {
            // On a grid, many distances tie.
            let positions: Vec<f32> =
                if grid { (0..2 * n).map(|_| rng.below(6) as f32).collect() } else { rng.normals(2 * n, 2.0) };
            let labels: Vec<u8> = (0..n).map(|_| rng.below(3) as u8).collect();
            assert_eq!(knn_label_agreement(&positions, &labels, k), brute(&positions, &labels, k), "n={n} k={k}");
        }
        let (points, labels) = blobs(4, 50, 2, 3);
        assert!(knn_label_agreement(&points, &labels, 10) > 0.95, "well separated blobs agree");
    }
}
