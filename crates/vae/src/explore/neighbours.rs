//! The neighbour index: the data set encoded (μ per digit), searched for the nearest digits to a
//! sketch's latent, plus the test digits' losses that rank a sketch's score.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::explore::latent_map::Projection;
use crate::model::inference::{EVAL_BATCH, Inference};
use crate::tensor::{matrix, read};
use crate::{Dataset, Error, Result};

/// One nearest neighbour of a latent in the encoded data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Index into the data set.
    pub index: usize,
    pub label: u8,
    /// Euclidean distance between the μs.
    pub distance: f32,
    /// The digit's μ, so a walk to it needs no second look-up.
    pub mu: Vec<f32>,
    /// A digit the person kept (their own hand), not the data set's: then `index` is its place
    /// among their digits.
    #[serde(default)]
    pub yours: bool,
}

/// The data set encoded (μ per digit), kept on the device for distances and on the host for the
/// map; plus the test set's sorted losses for the score's percentile. It can be built in steps
/// ([`LatentIndex::add`]) so that a page answers while it grows.
#[derive(Debug, Clone)]
pub struct LatentIndex {
    pub indices: Vec<usize>,
    pub labels: Vec<u8>,
    pub latent: usize,
    /// `n × latent`, host copy.
    pub mu: Vec<f32>,
    /// Where the distances are computed: the sketch's device, which may differ from the device
    /// that encodes the digits (see [`crate::device::placement`]).
    search_device: Device,
    device_mu: Option<Tensor<2>>,
    pub map: Projection,
    /// Test digits' losses (z = μ), ascending; empty until every test digit is scored.
    pub test_losses: Vec<f64>,
    /// The losses of the test digits scored so far, in the test split's order (scoring goes in
    /// parts, [`LatentIndex::score_test_part`]).
    unranked_losses: Vec<f64>,
}

impl LatentIndex {
    /// An empty index whose distances are computed on `search_device`.
    pub fn new(latent: usize, search_device: &Device) -> Self {
        Self {
            indices: Vec::new(),
            labels: Vec::new(),
            latent,
            mu: Vec::new(),
            search_device: search_device.clone(),
            device_mu: None,
            map: Projection::fit(&[], latent),
            test_losses: Vec::new(),
            unranked_losses: Vec::new(),
        }
    }

    /// The whole index at once: the test set's losses, then every digit of `indices`.
    pub async fn build(inference: &Inference, data: &Dataset, indices: &[usize]) -> Result<Self> {
        if indices.is_empty() {
            return Err(Error::Data("cannot index an empty set of digits".into()));
        }
        let mut index = Self::new(inference.latent(), &inference.device);
        index.score_test_set(inference, data).await?;
        for chunk in indices.chunks(EVAL_BATCH) {
            index.add(inference, data, chunk).await?;
        }
        Ok(index)
    }

    /// Computes the test digits' losses that [`LatentIndex::percentile`] ranks against.
    pub async fn score_test_set(&mut self, inference: &Inference, data: &Dataset) -> Result<()> {
        while !self.score_test_part(inference, data, EVAL_BATCH).await? {}
        Ok(())
    }

    /// Scores the next `n` test digits (at least one); once all are scored they are ranked into
    /// [`LatentIndex::test_losses`] and this returns true.
    pub async fn score_test_part(&mut self, inference: &Inference, data: &Dataset, n: usize) -> Result<bool> {
        let test = data.indices(crate::Split::Test);
        if test.is_empty() {
            return Err(Error::Data("the data set has no test digits to rank a score against".into()));
        }
        if !self.test_losses.is_empty() {
            return Ok(true);
        }
        let from = self.unranked_losses.len();
        let part = &test[from..(from + n.max(1)).min(test.len())];
        let losses = inference.losses(&data.images(part), None, None).await?;
        self.unranked_losses.extend(losses.iter().map(|p| p.loss));
        if self.unranked_losses.len() < test.len() {
            return Ok(false);
        }
        let mut ranked = std::mem::take(&mut self.unranked_losses);
        ranked.sort_by(f64::total_cmp);
        self.test_losses = ranked;
        Ok(true)
    }

    /// Encodes the digits at `indices` with `encoder` (on any device) and adds them (the map is
    /// refitted to everything so far).
    pub async fn add(&mut self, inference: &Inference, data: &Dataset, indices: &[usize]) -> Result<()> {
        if indices.is_empty() {
            return Ok(());
        }
        let mu = inference.encode(&data.images(indices), None).await?.mu;
        // Only the new rows go to the device: re-uploading everything so far made building the
        // index in steps quadratic.
        let chunk = matrix(mu.clone(), indices.len(), self.latent, &self.search_device);
        self.device_mu = Some(match self.device_mu.take() {
            Some(so_far) => Tensor::cat(vec![so_far, chunk], 0),
            None => chunk,
        });
        self.mu.extend(mu);
        self.indices.extend_from_slice(indices);
        self.labels.extend(indices.iter().map(|&i| data.labels[i]));
        // Host-side and O(n · latent²): a few ms for the whole data set.
        self.map = Projection::fit(&self.mu, self.latent);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// The same index searched on `device` (a host-to-device copy: nothing is re-encoded).
    pub fn on_device(&self, device: &Device) -> Self {
        let device_mu = (!self.is_empty()).then(|| matrix(self.mu.clone(), self.len(), self.latent, device));
        Self { device_mu, search_device: device.clone(), ..self.clone() }
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Every indexed μ on the latent map (x and y per digit, in the index's order): the PCA map,
    /// and the start of a t-SNE map.
    pub fn map_positions(&self) -> Vec<f32> {
        self.mu.chunks(self.latent).flat_map(|z| self.map.project(z)).collect()
    }

    /// Squared distances from `z` to every indexed μ, computed on the device.
    pub async fn squared_distances(&self, z: &[f32]) -> Result<Vec<f32>> {
        if z.len() != self.latent {
            return Err(Error::Input(format!("latent has {} values, expected {}", z.len(), self.latent)));
        }
        let Some(mu) = &self.device_mu else {
            return Ok(Vec::new());
        };
        // [1, latent] broadcasts against [n, latent]: no n × latent copy of the query.
        let q = matrix(z.to_vec(), 1, self.latent, &mu.device());
        read((mu.clone() - q).powi_scalar(2).sum_dim(1)).await
    }

    /// The `k` nearest digits to `z` among those indexed so far: distances on the device, top-k
    /// on the host (WebGPU has no sort in wasm).
    pub async fn nearest(&self, z: &[f32], k: usize) -> Result<Vec<Neighbour>> {
        let d2 = self.squared_distances(z).await?;
        Ok(top_k_smallest(&d2, k)
            .into_iter()
            .map(|i| Neighbour {
                index: self.indices[i],
                label: self.labels[i],
                distance: d2[i].max(0.0).sqrt(),
                mu: self.mu[i * self.latent..(i + 1) * self.latent].to_vec(),
                yours: false,
            })
            .collect())
    }

    /// Share of test digits whose loss is higher (worse) than `loss`, in percent: 100 means more
    /// digit-like than every test digit.
    pub fn percentile(&self, loss: f64) -> f64 {
        let worse = self.test_losses.len() - self.test_losses.partition_point(|&t| t <= loss);
        100.0 * worse as f64 / self.test_losses.len().max(1) as f64
    }
}

/// Positions of the `k` smallest values (ties by position), nearest first. NaN (from a latent that
/// overflowed) is no distance: it comes after every number, whatever its sign bit.
pub fn top_k_smallest(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let cmp = |a: &usize, b: &usize| {
        let (x, y) = (values[*a], values[*b]);
        match (x.is_nan(), y.is_nan()) {
            (false, false) => x.total_cmp(&y),
            nan => nan.0.cmp(&nan.1),
        }
        .then(a.cmp(b))
    };
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, cmp);
        order.truncate(k);
    }
    order.sort_by(cmp);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::test_util::{assert_close, backends, block_on};
    use crate::{VaeConfig, VaeWeights};

    #[test]
    fn top_k_matches_a_brute_force_sort() {
        let mut rng = Rng::new(11);
        for n in [1, 5, 100, 1000] {
            // Few distinct values, so ties are common.
            let values: Vec<f32> = (0..n).map(|_| (rng.below(20) as f32) * 0.5).collect();
            for k in [0, 1, 3, 8, n, n + 5] {
                let mut brute: Vec<usize> = (0..n).collect();
                brute.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
                brute.truncate(k);
                assert_eq!(top_k_smallest(&values, k), brute, "n={n} k={k}");
            }
        }
    }

    #[test]
    fn neighbours_of_a_data_digit_start_with_itself() {
        let data = crate::test_util::dataset();
        let weights = VaeWeights::init(VaeConfig::vae(32, 4, 1.0), 0).unwrap();
        let indices: Vec<usize> = (0..300).map(|i| i * 31).collect();
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let index = block_on(LatentIndex::build(&inf, &data, &indices)).unwrap();
            let z = block_on(inf.encode(&data.image(indices[17]), None)).unwrap().mu;
            let near = block_on(index.nearest(&z, 8)).unwrap();
            assert_eq!(near.len(), 8);
            assert_eq!(near[0].index, indices[17]);
            assert!(near[0].distance < 1e-3);
            assert!(near.windows(2).all(|w| w[0].distance <= w[1].distance));
            // Against a brute force on the host copy.
            let brute: Vec<f32> =
                index.mu.chunks(4).map(|m| m.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()).collect();
            assert_close(&block_on(index.squared_distances(&z)).unwrap(), &brute, 1e-4);
            assert_eq!(index.test_losses.len(), 997);
            assert_eq!(index.percentile(f64::INFINITY), 0.0);
            assert_eq!(index.percentile(f64::NEG_INFINITY), 100.0);
            // Built in steps, the index is the same, and it answers (from what it has) before it is whole.
            let mut steps = LatentIndex::new(4, &device);
            assert!(block_on(steps.nearest(&z, 8)).unwrap().is_empty());
            block_on(steps.add(&inf, &data, &indices[..20])).unwrap();
            assert_eq!(block_on(steps.nearest(&z, 8)).unwrap()[0].index, indices[17]);
            block_on(steps.add(&inf, &data, &indices[20..])).unwrap();
            assert_eq!(steps.mu, index.mu);
            assert_eq!(block_on(steps.nearest(&z, 8)).unwrap(), near);
            // The test set scored in parts ranks the same losses as scored at once.
            let mut parts = 0;
            while !block_on(steps.score_test_part(&inf, &data, 300)).unwrap() {
                assert!(steps.test_losses.is_empty(), "no ranking from a part of the test set");
                parts += 1;
            }
            assert_eq!(parts, 3, "997 test digits, 300 a part");
            assert_close(
                &steps.test_losses.iter().map(|&l| l as f32).collect::<Vec<_>>(),
                &index.test_losses.iter().map(|&l| l as f32).collect::<Vec<_>>(),
                1e-5,
            );
        }
    }
}

/// Properties of the nearest-neighbour search: top-k against a brute-force sort, on the host and
/// through the index on a device.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::tensor::matrix;
    use crate::test_util::{block_on, proptest_config};

    /// Distances with many ties (a few values), and any f32 at all: ±0, ±∞, subnormals, NaN of
    /// either sign (a latent that overflowed gives NaN distances).
    fn distance() -> impl Strategy<Value = f32> {
        prop_oneof![4 => (0u8..6).prop_map(|v| v as f32 * 0.5), 1 => prop::num::f32::ANY]
    }

    /// The brute force: every position, sorted by value (NaN after everything, whatever its
    /// sign: it is no distance at all), ties by position; the first k.
    fn brute_force(values: &[f32], k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..values.len()).collect();
        all.sort_by(|&a, &b| {
            let key = |i: usize| (values[i].is_nan(), if values[i].is_nan() { 0.0 } else { values[i] });
            let ((na, va), (nb, vb)) = (key(a), key(b));
            na.cmp(&nb).then(va.total_cmp(&vb)).then(a.cmp(&b))
        });
        all.truncate(k);
        all
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// Top-k is the head of the brute-force order, ties broken by position (the digit
        /// indexed first comes first), for any k (beyond the length too).
        #[test]
        fn top_k_is_the_head_of_a_brute_force_sort(values in prop::collection::vec(distance(), 0..300), k in 0usize..320) {
            prop_assert_eq!(top_k_smallest(&values, k), brute_force(&values, k));
        }
    }

    /// Found by the property above: a NaN with its sign bit set sorted before every number
    /// (`total_cmp`), so an overflowed latent would have been the nearest neighbour.
    #[test]
    fn nan_distances_come_last_whatever_their_sign() {
        let values = [1.0, -f32::NAN, 0.5, f32::NAN, f32::INFINITY];
        assert!(values[1].is_sign_negative());
        assert_eq!(top_k_smallest(&values, 5), vec![2, 0, 4, 1, 3]);
        assert_eq!(top_k_smallest(&values, 2), vec![2, 0]);
    }

    proptest! {
        #![proptest_config(proptest_config(32))]

        /// Through the index on a device (ndarray): the k nearest are the brute force's, with
        /// their index, label, distance and μ. Small integer latents, so that the distances are
        /// exact on both sides and ties are many: the tie order must match too.
        #[test]
        fn the_index_finds_what_a_brute_force_search_finds(
            (latent, mu, z) in (1usize..5, 0usize..80).prop_flat_map(|(latent, n)| {
                let v = || (-3i8..=3).prop_map(f32::from);
                (Just(latent), prop::collection::vec(v(), n * latent), prop::collection::vec(v(), latent))
            }),
            k in 0usize..12,
        ) {
            let device = crate::test_util::ndarray();
            let n = mu.len() / latent;
            let mut index = LatentIndex::new(latent, &device);
            // Data-set indices and labels unlike the positions, to check the mapping back.
            index.indices = (0..n).map(|i| 1000 + 7 * i).collect();
            index.labels = (0..n).map(|i| (i % 10) as u8).collect();
            index.device_mu = (n > 0).then(|| matrix(mu.clone(), n, latent, &device));
            index.mu = mu.clone();
            let d2: Vec<f32> =
                mu.chunks(latent).map(|m| m.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum()).collect();
            let expected: Vec<Neighbour> = brute_force(&d2, k)
                .into_iter()
                .map(|i| Neighbour {
                    index: 1000 + 7 * i,
                    label: (i % 10) as u8,
                    distance: d2[i].sqrt(),
                    mu: mu[i * latent..(i + 1) * latent].to_vec(),
                    yours: false,
                })
                .collect();
            prop_assert_eq!(block_on(index.nearest(&z, k)).unwrap(), expected);
        }
    }
}
