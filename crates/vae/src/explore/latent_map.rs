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
        let [first, second] = orthonormal(first, second);
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

/// Two orthonormal axes from the two power iterations, whatever the latents were. Power iteration
/// alone does not give them: with no spread at all it returns 0 (no latents, one, all the same);
/// with spread along one line only, the deflated matrix holds rounding alone and its "eigenvector"
/// points anywhere, along the first axis too; with two nearly equal spreads the first has not converged
/// in 500 steps and the deflation leaves the second off perpendicular (by 1e-4 where the spreads
/// differ by 1e-4). So: a zero first axis becomes e₀; the second is made perpendicular to the
/// first (Gram–Schmidt) and, if almost nothing of it is left, replaced by the unit vector most
/// perpendicular to the first, made perpendicular. Each axis keeps its largest entry positive.
fn orthonormal(first: Vec<f64>, second: Vec<f64>) -> [Vec<f64>; 2] {
    let d = first.len();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let unit = |i: usize| (0..d).map(|j| if j == i { 1.0 } else { 0.0 }).collect::<Vec<f64>>();
    let first = if norm(&first) > 0.5 { first } else { unit(0) };
    let perpendicular = |v: Vec<f64>| -> Vec<f64> {
        let along: f64 = v.iter().zip(&first).map(|(a, b)| a * b).sum();
        v.iter().zip(&first).map(|(a, b)| a - along * b).collect()
    };
    let mut second = perpendicular(second);
    if norm(&second) < 1e-3 {
        let least = (0..d).min_by(|&a, &b| first[a].abs().total_cmp(&first[b].abs())).unwrap_or(0);
        second = perpendicular(unit(least));
    }
    let n = norm(&second);
    second.iter_mut().for_each(|x| *x /= n);
    [first, largest_positive(second)]
}

/// `v` or −`v`, whichever has its largest entry positive.
fn largest_positive(mut v: Vec<f64>) -> Vec<f64> {
    let big = v.iter().cloned().fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
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
    largest_positive(v)
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

/// The map's axes over any set of latents.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::rng::Rng;
    use crate::test_util::proptest_config;

    /// `n` latents of size `latent`: `rank` random directions (0: every point the same) with
    /// coefficients of size `spread`, plus noise of size `noise`, around an offset; or points
    /// ±e_i (every direction spreads the same: no principal component stands out).
    fn latents() -> impl Strategy<Value = (Vec<f32>, usize)> {
        let cloud = (
            2usize..=24,
            0usize..60,
            0usize..4,
            -3i32..=12,
            prop_oneof![Just(0.0), Just(1e-6), Just(1e-2), Just(1.0)],
            any::<u64>(),
        )
            .prop_map(|(latent, n, rank, spread, noise, seed)| {
                let mut rng = Rng::new(seed);
                let spread = 10f64.powi(spread);
                let dirs: Vec<Vec<f64>> = (0..rank).map(|_| (0..latent).map(|_| rng.normal()).collect()).collect();
                let offset: Vec<f64> = (0..latent).map(|_| rng.normal() * spread).collect();
                let mut mu = Vec::with_capacity(n * latent);
                for _ in 0..n {
                    let c: Vec<f64> = dirs.iter().map(|_| rng.normal() * spread).collect();
                    for j in 0..latent {
                        let along: f64 = dirs.iter().zip(&c).map(|(d, c)| d[j] * c).sum();
                        mu.push((offset[j] + along + rng.normal() * noise * spread) as f32);
                    }
                }
                (mu, latent)
            });
        let star = (2usize..=24, 1usize..4).prop_map(|(latent, copies)| {
            let mut mu = Vec::new();
            for _ in 0..copies {
                for i in 0..latent {
                    for sign in [1.0, -1.0] {
                        mu.extend((0..latent).map(|j| if i == j { sign } else { 0.0 }));
                    }
                }
            }
            (mu, latent)
        });
        prop_oneof![4 => cloud, 1 => star]
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    proptest! {
        #![proptest_config(proptest_config(128))]

        /// For every latent size from 2 up and any finite latents (none, one, all the same, on a
        /// line, spread evenly in every direction, from 1e-3 to 1e12 in size), the two axes are
        /// orthonormal: unit length and perpendicular, to 1e-5 (the axes are f32: each of their
        /// up to 24 values is rounded to 6e-8 relative). A 1-D latent is mapped to (z, 0) by
        /// design: its second axis is 0 (see the unit test above).
        #[test]
        fn the_axes_are_orthonormal((mu, latent) in latents()) {
            let p = Projection::fit(&mu, latent);
            let [a, b] = &p.axes;
            prop_assert_eq!((a.len(), b.len(), p.mean.len()), (latent, latent, latent));
            prop_assert!((dot(a, a) - 1.0).abs() <= 1e-5, "|first|² = {}: {:?}", dot(a, a), a);
            prop_assert!((dot(b, b) - 1.0).abs() <= 1e-5, "|second|² = {}: {:?}", dot(b, b), b);
            prop_assert!(dot(a, b).abs() <= 1e-5, "first · second = {}: {:?} {:?}", dot(a, b), a, b);
        }
    }
}

/// Cases the property found or that its generator makes, kept as plain tests.
#[cfg(test)]
mod regressions {
    use super::*;

    fn assert_orthonormal(p: &Projection) {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>();
        let [a, b] = &p.axes;
        assert!((dot(a, a) - 1.0).abs() <= 1e-5 && (dot(b, b) - 1.0).abs() <= 1e-5, "not unit: {a:?} {b:?}");
        assert!(dot(a, b).abs() <= 1e-5, "not perpendicular ({}): {a:?} {b:?}", dot(a, b));
    }

    /// Spreads along e₀ and e₁ that differ by 1e-4 (±1, ±1.0001, and ±0.5 along e₂): the first
    /// power iteration had not converged and the second axis came out 1e-4 off perpendicular.
    #[test]
    fn nearly_equal_spreads_give_perpendicular_axes() {
        let mut mu = Vec::new();
        for (i, a) in [1.0f32, 1.0001, 0.5].into_iter().enumerate() {
            for sign in [1.0, -1.0] {
                mu.extend((0..3).map(|j| if i == j { sign * a } else { 0.0 }));
            }
        }
        assert_orthonormal(&Projection::fit(&mu, 3));
    }

    /// No spread, or spread along one line: power iteration gave a zero axis, or a second axis
    /// along the first. A 1-D latent maps to (z, 0) by design.
    #[test]
    fn latents_without_two_directions_of_spread_still_get_two_axes() {
        assert_orthonormal(&Projection::fit(&[], 5));
        assert_orthonormal(&Projection::fit(&[1.0, 2.0, 3.0], 3));
        assert_orthonormal(&Projection::fit(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], 3));
        assert_orthonormal(&Projection::fit(&[0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0], 4));
        let star: Vec<f32> =
            (0..8).flat_map(|i| (0..4).map(move |j| if i / 2 == j { [1.0, -1.0][i % 2] } else { 0.0 })).collect();
        assert_orthonormal(&Projection::fit(&star, 4));
        assert_eq!(Projection::fit(&[1.0, 2.0], 1).axes, [vec![1.0], vec![0.0]]);
    }
}
