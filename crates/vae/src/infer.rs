//! Inference on a trained model: encode, decode, reconstruct, sample, interpolate, variations,
//! per-image losses, the test-set evaluation, the IWAE bound, nearest neighbours in latent space,
//! the 2-D latent map and the digit score.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::loss::{LossParts, LossTotals, kl_per_image, part_sums, recon_per_image};
use crate::model::{Vae, matrix, read};
use crate::rng::Rng;
use crate::{Dataset, Error, IMAGE_PIXELS, Result, VaeConfig, VaeWeights};

/// Rows per forward pass when a whole data set goes through the model.
pub const EVAL_BATCH: usize = 500;

/// A model ready for inference on one device.
#[derive(Debug, Clone)]
pub struct Inference {
    pub model: Vae,
    pub config: VaeConfig,
    pub device: Device,
}

/// μ and log σ² of q(z|x), `n × latent` each, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoded {
    pub mu: Vec<f32>,
    pub logvar: Vec<f32>,
}

/// The test-set figures `vae eval` prints, in nats per image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub n: usize,
    /// Negative ELBO with z sampled from q(z|x).
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
    /// Negative ELBO with z = μ.
    pub loss_mu: f64,
}

impl Inference {
    pub fn new(weights: &VaeWeights, device: &Device) -> Result<Self> {
        let device = device.clone().without_autodiff();
        Ok(Self { model: Vae::from_weights(weights, &device)?, config: weights.config, device })
    }

    pub fn latent(&self) -> usize {
        self.config.latent
    }

    fn images_tensor(&self, images: &[f32]) -> Result<(Tensor<2>, usize)> {
        if images.is_empty() || !images.len().is_multiple_of(IMAGE_PIXELS) {
            return Err(Error::Input(format!("{} grey levels is not a whole number of 28×28 images", images.len())));
        }
        if images.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input("an image holds a non-finite value".into()));
        }
        let n = images.len() / IMAGE_PIXELS;
        Ok((matrix(images.to_vec(), n, IMAGE_PIXELS, &self.device), n))
    }

    fn latents_tensor(&self, z: &[f32]) -> Result<(Tensor<2>, usize)> {
        let l = self.latent();
        if z.is_empty() || !z.len().is_multiple_of(l) {
            return Err(Error::Input(format!("{} values is not a whole number of {l}-D latents", z.len())));
        }
        if z.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input("a latent holds a non-finite value".into()));
        }
        let n = z.len() / l;
        Ok((matrix(z.to_vec(), n, l, &self.device), n))
    }

    pub async fn encode(&self, images: &[f32]) -> Result<Encoded> {
        let (x, _) = self.images_tensor(images)?;
        let (mu, logvar) = self.model.encode(x);
        Ok(Encoded { mu: read(mu).await?, logvar: read(logvar).await? })
    }

    /// Decodes latents (`n × latent`) to `n × 784` grey levels.
    pub async fn decode(&self, z: &[f32]) -> Result<Vec<f32>> {
        let (z, _) = self.latents_tensor(z)?;
        read(self.model.decode(z)).await
    }

    /// Decodes z = μ of each image.
    pub async fn reconstruct(&self, images: &[f32]) -> Result<Vec<f32>> {
        let (x, _) = self.images_tensor(images)?;
        let (mu, _) = self.model.encode(x);
        read(self.model.decode(mu)).await
    }

    /// `n` digits from z ~ N(0, temperature² I).
    pub async fn sample(&self, n: usize, temperature: f64, rng: &mut Rng) -> Result<Vec<f32>> {
        if n == 0 || !temperature.is_finite() || temperature < 0.0 {
            return Err(Error::Input(format!("cannot sample {n} digits at temperature {temperature}")));
        }
        self.decode(&rng.normals(n * self.latent(), temperature)).await
    }

    /// Decodes `n` draws from q(z|x) of one image.
    pub async fn variations(&self, image: &[f32], n: usize, rng: &mut Rng) -> Result<Vec<f32>> {
        let e = self.encode(image).await?;
        if e.mu.len() != self.latent() {
            return Err(Error::Input("variations take exactly one image".into()));
        }
        let z: Vec<f32> = (0..n * self.latent())
            .map(|i| {
                let j = i % self.latent();
                e.mu[j] + (0.5 * e.logvar[j]).exp() * rng.normal() as f32
            })
            .collect();
        self.decode(&z).await
    }

    /// Decodes `steps` evenly spaced points from latent `a` to latent `b`, ends included.
    pub async fn interpolate(&self, a: &[f32], b: &[f32], steps: usize) -> Result<Vec<f32>> {
        self.decode(&interpolate_latents(a, b, steps)?).await
    }

    /// Per-image loss parts; z = μ when `eps` is None, else μ + σ·ε with ε given (`n × latent`).
    pub async fn losses(&self, images: &[f32], eps: Option<&[f32]>) -> Result<Vec<LossParts>> {
        let (x, n) = self.images_tensor(images)?;
        let eps = eps.map(|e| matrix(e.to_vec(), n, self.latent(), &self.device));
        let f = self.model.forward(x.clone(), eps);
        let recon = read(recon_per_image(f.logits, x)).await?;
        let kl = read(kl_per_image(f.mu, f.logvar)).await?;
        Ok(recon
            .iter()
            .zip(&kl)
            .map(|(&r, &k)| LossParts { loss: r as f64 + self.config.beta * k as f64, recon: r as f64, kl: k as f64 })
            .collect())
    }

    /// Mean test figures over `indices` of `data` (sampled z from `rng`, and z = μ).
    pub async fn evaluate(&self, data: &Dataset, indices: &[usize], rng: &mut Rng) -> Result<EvalReport> {
        let (mut sampled, mut at_mu) = (LossTotals::default(), LossTotals::default());
        for chunk in indices.chunks(EVAL_BATCH) {
            let n = chunk.len();
            let x = matrix(data.images(chunk), n, IMAGE_PIXELS, &self.device);
            let eps = matrix(rng.normals(n * self.latent(), 1.0), n, self.latent(), &self.device);
            let f = self.model.forward(x.clone(), Some(eps));
            sampled
                .add(part_sums(recon_per_image(f.logits, x.clone()), kl_per_image(f.mu.clone(), f.logvar.clone())), n)
                .await?;
            let logits = self.model.decode_logits(f.mu.clone());
            at_mu.add(part_sums(recon_per_image(logits, x), kl_per_image(f.mu, f.logvar)), n).await?;
        }
        let s = sampled.mean(self.config.beta);
        Ok(EvalReport {
            n: indices.len(),
            loss: s.loss,
            recon: s.recon,
            kl: s.kl,
            loss_mu: at_mu.mean(self.config.beta).loss,
        })
    }

    /// Importance-weighted bound on −log p(x) per image with `k` samples (Burda et al., 2016):
    /// −log (1/K Σ p(x|z_k) p(z_k) / q(z_k|x)), z_k ~ q(z|x). Tighter than the ELBO as K grows.
    pub async fn iwae_nll(&self, images: &[f32], k: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        if k == 0 {
            return Err(Error::Input("the IWAE bound needs at least one sample".into()));
        }
        let (x, n) = self.images_tensor(images)?;
        let l = self.latent();
        let (mu, logvar) = self.model.encode(x.clone());
        let ln_2pi = (std::f64::consts::TAU).ln() as f32;
        let mut log_w = vec![Vec::with_capacity(k); n];
        for _ in 0..k {
            let eps = matrix(rng.normals(n * l, 1.0), n, l, &self.device);
            let z = Vae::reparameterize(mu.clone(), logvar.clone(), eps.clone());
            let log_px = recon_per_image(self.model.decode_logits(z.clone()), x.clone()).neg();
            let log_pz = (z.powi_scalar(2) + ln_2pi).sum_dim(1).squeeze_dim::<1>(1) * -0.5;
            let log_qz = (eps.powi_scalar(2) + logvar.clone() + ln_2pi).sum_dim(1).squeeze_dim::<1>(1) * -0.5;
            for (i, w) in read(log_px + log_pz - log_qz).await?.into_iter().enumerate() {
                log_w[i].push(w as f64);
            }
        }
        Ok(log_w
            .iter()
            .map(|w| {
                let m = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                -(m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln())
            })
            .collect())
    }
}

pub fn interpolate_latents(a: &[f32], b: &[f32], steps: usize) -> Result<Vec<f32>> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Error::Input(format!("cannot interpolate between latents of sizes {} and {}", a.len(), b.len())));
    }
    if steps < 2 {
        return Err(Error::Input("interpolation needs at least 2 steps".into()));
    }
    Ok((0..steps)
        .flat_map(|s| {
            let t = s as f32 / (steps - 1) as f32;
            a.iter().zip(b).map(move |(&x, &y)| x + (y - x) * t)
        })
        .collect())
}

/// One nearest neighbour of a latent in the encoded data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Index into the data set.
    pub index: usize,
    pub label: u8,
    /// Euclidean distance between the μs.
    pub distance: f32,
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
    device_mu: Option<Tensor<2>>,
    pub map: Projection,
    /// Test digits' losses (z = μ), ascending; empty until [`LatentIndex::score_test_set`].
    pub test_losses: Vec<f64>,
}

impl LatentIndex {
    pub fn new(latent: usize) -> Self {
        Self {
            indices: Vec::new(),
            labels: Vec::new(),
            latent,
            mu: Vec::new(),
            device_mu: None,
            map: Projection::fit(&[], latent),
            test_losses: Vec::new(),
        }
    }

    /// The whole index at once: the test set's losses, then every digit of `indices`.
    pub async fn build(inference: &Inference, data: &Dataset, indices: &[usize]) -> Result<Self> {
        if indices.is_empty() {
            return Err(Error::Data("cannot index an empty set of digits".into()));
        }
        let mut index = Self::new(inference.latent());
        index.score_test_set(inference, data).await?;
        for chunk in indices.chunks(EVAL_BATCH) {
            index.add(inference, data, chunk).await?;
        }
        Ok(index)
    }

    /// Computes the test digits' losses that [`LatentIndex::percentile`] ranks against.
    pub async fn score_test_set(&mut self, inference: &Inference, data: &Dataset) -> Result<()> {
        let mut losses = Vec::new();
        for chunk in data.indices(crate::Split::Test).chunks(EVAL_BATCH) {
            losses.extend(inference.losses(&data.images(chunk), None).await?.iter().map(|p| p.loss));
        }
        losses.sort_by(f64::total_cmp);
        self.test_losses = losses;
        Ok(())
    }

    /// Encodes the digits at `indices` and adds them (the map is refitted to everything so far).
    pub async fn add(&mut self, inference: &Inference, data: &Dataset, indices: &[usize]) -> Result<()> {
        if indices.is_empty() {
            return Ok(());
        }
        let mu = inference.encode(&data.images(indices)).await?.mu;
        // Only the new rows go to the device: re-uploading everything so far made building the
        // index in steps quadratic.
        let chunk = matrix(mu.clone(), indices.len(), self.latent, &inference.device);
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

    /// The same index with its μs on `device` (a host-to-device copy: nothing is re-encoded).
    pub fn on_device(&self, device: &Device) -> Self {
        let device_mu = (!self.is_empty()).then(|| matrix(self.mu.clone(), self.len(), self.latent, device));
        Self { device_mu, ..self.clone() }
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Squared distances from `z` to every indexed μ, computed on the device.
    pub async fn squared_distances(&self, z: &[f32]) -> Result<Vec<f32>> {
        if z.len() != self.latent {
            return Err(Error::Input(format!("latent has {} values, expected {}", z.len(), self.latent)));
        }
        let Some(mu) = &self.device_mu else {
            return Ok(Vec::new());
        };
        let n = self.len();
        let q = matrix(z.to_vec(), 1, self.latent, &mu.device()).expand([n, self.latent]);
        read((mu.clone() - q).powi_scalar(2).sum_dim(1)).await
    }

    /// The `k` nearest digits to `z` among those indexed so far: distances on the device, top-k
    /// on the host (WebGPU has no sort in wasm).
    pub async fn nearest(&self, z: &[f32], k: usize) -> Result<Vec<Neighbour>> {
        let d2 = self.squared_distances(z).await?;
        Ok(top_k_smallest(&d2, k)
            .into_iter()
            .map(|i| Neighbour { index: self.indices[i], label: self.labels[i], distance: d2[i].max(0.0).sqrt() })
            .collect())
    }

    /// Share of test digits whose loss is higher (worse) than `loss`, in percent: 100 means more
    /// digit-like than every test digit.
    pub fn percentile(&self, loss: f64) -> f64 {
        let worse = self.test_losses.len() - self.test_losses.partition_point(|&t| t <= loss);
        100.0 * worse as f64 / self.test_losses.len().max(1) as f64
    }
}

/// Positions of the `k` smallest values (ties by position), nearest first.
pub fn top_k_smallest(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let cmp = |a: &usize, b: &usize| values[*a].total_cmp(&values[*b]).then(a.cmp(b));
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
        let mut mean = vec![0f64; latent];
        for row in mu.chunks_exact(latent) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n as f64;
            }
        }
        let mut cov = vec![0f64; latent * latent];
        for row in mu.chunks_exact(latent) {
            for i in 0..latent {
                let di = row[i] as f64 - mean[i];
                for j in 0..latent {
                    cov[i * latent + j] += di * (row[j] as f64 - mean[j]) / n as f64;
                }
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
    use crate::test_util::{assert_close, backends, block_on};

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

    #[test]
    fn neighbours_of_a_data_digit_start_with_itself() {
        let data = crate::test_util::dataset();
        let weights = VaeWeights::init(VaeConfig { hidden: 32, latent: 4, beta: 1.0 }, 0).unwrap();
        let indices: Vec<usize> = (0..300).map(|i| i * 31).collect();
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let index = block_on(LatentIndex::build(&inf, &data, &indices)).unwrap();
            let z = block_on(inf.encode(&data.image(indices[17]))).unwrap().mu;
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
            let mut steps = LatentIndex::new(4);
            assert!(block_on(steps.nearest(&z, 8)).unwrap().is_empty());
            block_on(steps.add(&inf, &data, &indices[..20])).unwrap();
            assert_eq!(block_on(steps.nearest(&z, 8)).unwrap()[0].index, indices[17]);
            block_on(steps.add(&inf, &data, &indices[20..])).unwrap();
            assert_eq!(steps.mu, index.mu);
            assert_eq!(block_on(steps.nearest(&z, 8)).unwrap(), near);
        }
    }

    #[test]
    fn interpolation_has_its_ends_and_bad_inputs_are_refused() {
        let z = interpolate_latents(&[0.0, 2.0], &[1.0, 0.0], 3).unwrap();
        assert_eq!(z, vec![0.0, 2.0, 0.5, 1.0, 1.0, 0.0]);
        assert!(interpolate_latents(&[0.0], &[1.0, 2.0], 3).is_err());
        let weights = VaeWeights::init(VaeConfig { hidden: 8, latent: 2, beta: 1.0 }, 0).unwrap();
        let inf = Inference::new(&weights, &backends()[0]).unwrap();
        assert!(block_on(inf.decode(&[0.0, 1.0, 2.0])).is_err());
        assert!(block_on(inf.encode(&[0.5; 100])).is_err());
        assert!(block_on(inf.decode(&[f32::NAN, 0.0])).is_err());
        let samples = block_on(inf.sample(4, 1.0, &mut Rng::new(1))).unwrap();
        assert_eq!(samples.len(), 4 * 784);
        assert!(samples.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
