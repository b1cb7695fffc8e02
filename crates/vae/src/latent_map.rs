//! The latent map: a linear projection of latent space onto the page's 2-D map.

use serde::{Deserialize, Serialize};

/// A linear map from latent space to the 2-D latent map: exact (the identity) for a 2-D latent,
/// the first two principal components otherwise (a 1-D latent maps to (z, 0)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub mean: Vec<f32>,
    /// Two rows of `latent` values.
    pub axes: [Vec<f32>; 2],
}

impl Projection {
    pub fn fit(mu: &[f32], latent: usize) -> Self {
        let n = (mu.len() / latent.max(1)).max(1);
        let unit = |i: usize| (0..latent).map(|j| if j == i { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
        if latent <= 2 {
            return Self { mean: vec![0.0; latent], axes: [unit(0), if latent == 2 { unit(1) } else { vec![0.0] }] };
        }
        // The index refits this after every step of its growth: sums first, one division each at
        // the end, and the upper triangle only (the matrix is symmetric).
        let mut mean = vec![0f64; latent];
        for row in mu.chunks_exact(latent) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = vec![0f64; latent * latent];
        let mut centred = vec![0f64; latent];
        for row in mu.chunks_exact(latent) {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = v as f64 - m;
            }
            for i in 0..latent {
                let di = centred[i];
                for (c, dj) in cov[i * latent + i..(i + 1) * latent].iter_mut().zip(&centred[i..]) {
                    *c += di * dj;
                }
            }
        }
        for i in 0..latent {
            for j in i..latent {
                let v = cov[i * latent + j] / n as f64;
                cov[i * latent + j] = v;
                cov[j * latent + i] = v;
            }
        }
        let first = power_iteration(&cov, latent);
        let lambda: f64 =
            (0..latent).map(|i| first[i] * (0..latent).map(|j| cov[i * latent + j] * first[j]).sum::<f64>()).sum();
        for i in 0..latent {
            for j in 0..latent {
                cov[i * latent + j] -= lambda * first[i] * first[j];
            }
        }
        let second = power_iteration(&cov, latent);
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        Self { mean: f32s(mean), axes: [f32s(first), f32s(second)] }
    }

    pub fn project(&self, z: &[f32]) -> [f32; 2] {
        let centred = |axis: &Vec<f32>| z.iter().zip(&self.mean).zip(axis).map(|((v, m), a)| (v - m) * a).sum();
        [centred(&self.axes[0]), centred(&self.axes[1])]
    }

    /// The latent whose projection is `p` and which lies in the plane of the two axes.
    pub fn unproject(&self, p: [f32; 2]) -> Vec<f32> {
        (0..self.mean.len()).map(|i| self.mean[i] + p[0] * self.axes[0][i] + p[1] * self.axes[1][i]).collect()
    }
}

/// The dominant eigenvector of a symmetric matrix, sign fixed so its largest entry is positive.
fn power_iteration(m: &[f64], d: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 * 1e-3).collect();
    for _ in 0..500 {
        let mut next: Vec<f64> = (0..d).map(|i| (0..d).map(|j| m[i * d + j] * v[j]).sum()).collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return vec![0.0; d];
        }
        next.iter_mut().for_each(|x| *x /= norm);
        let delta: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if delta < 1e-12 {
            break;
        }
    }
    let big = v.iter().cloned().fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::test_util::assert_close;

    #[test]
    fn pca_finds_the_spread_directions() {
        // Points spread along (1,1,0)/√2 (σ=3) and (0,0,1) (σ=1).
        let mut rng = Rng::new(5);
        let mut mu = Vec::new();
        for _ in 0..2000 {
            let (a, b) = (rng.normal() * 3.0, rng.normal());
            mu.extend([(a / 2f64.sqrt() + 1.0) as f32, (a / 2f64.sqrt()) as f32, b as f32]);
        }
        let p = Projection::fit(&mu, 3);
        let s = 1.0 / 2f32.sqrt();
        assert_close(&p.axes[0], &[s, s, 0.0], 0.02);
        assert!((p.axes[1][2].abs() - 1.0).abs() < 0.02);
        let z = [2.0, 1.0, 0.5];
        let back = p.unproject(p.project(&z));
        assert_close(&p.project(&back), &p.project(&z), 1e-5);
        // 2-D latents are mapped exactly.
        assert_eq!(Projection::fit(&[1.0, 2.0], 2).project(&[3.0, -4.0]), [3.0, -4.0]);
    }
}
