//! Inference on a trained model: encode, decode, reconstruct, analyse one sketch, sample,
//! interpolate, variations, per-image losses, the test-set evaluation and the IWAE bound.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::ModelKind;
use crate::model::loss::{LossParts, LossTerms, LossTotals, recon_per_image};
use crate::model::network::{Vae, label_rows};
use crate::rng::Rng;
use crate::tensor::{checked_rows, matrix, read};
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

/// Everything one forward pass at z = μ says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysed {
    pub mu: Vec<f32>,
    pub logvar: Vec<f32>,
    /// The decoded μ, 784 grey levels.
    pub reconstruction: Vec<f32>,
    /// Negative ELBO with z = μ and its parts, in nats.
    pub parts: LossParts,
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

    pub fn kind(&self) -> ModelKind {
        self.config.kind
    }

    /// The one-hot rows of `labels` for `n` images, checked against the model's kind: the
    /// conditional model needs one digit per image, the seed's model none.
    pub(crate) fn labels(&self, labels: Option<&[u8]>, n: usize) -> Result<Option<Tensor<2>>> {
        label_rows(self.kind(), labels, n, &self.device)
    }

    fn images(&self, images: &[f32]) -> Result<(Tensor<2>, usize)> {
        checked_rows(images, IMAGE_PIXELS, "28×28 images", &self.device)
    }

    fn latents(&self, z: &[f32]) -> Result<(Tensor<2>, usize)> {
        checked_rows(z, self.latent(), &format!("{}-D latents", self.latent()), &self.device)
    }

    /// μ and log σ² of each image (given its digit, for the conditional model).
    pub async fn encode(&self, images: &[f32], labels: Option<&[u8]>) -> Result<Encoded> {
        let (x, n) = self.images(images)?;
        let (mu, logvar) = self.model.encode(x, self.labels(labels, n)?);
        let both = read(Tensor::cat(vec![mu, logvar], 1)).await?;
        let l = self.latent();
        let (mut mu, mut logvar) = (Vec::with_capacity(n * l), Vec::with_capacity(n * l));
        for row in both.chunks_exact(2 * l) {
            mu.extend_from_slice(&row[..l]);
            logvar.extend_from_slice(&row[l..]);
        }
        Ok(Encoded { mu, logvar })
    }

    /// Decodes latents (`n × latent`) to `n × 784` grey levels (each as its digit, for the
    /// conditional model).
    pub async fn decode(&self, z: &[f32], labels: Option<&[u8]>) -> Result<Vec<f32>> {
        let (z, n) = self.latents(z)?;
        read(self.model.decode(z, self.labels(labels, n)?)).await
    }

    /// Decodes z = μ of each image (with its digit, for the conditional model).
    pub async fn reconstruct(&self, images: &[f32], labels: Option<&[u8]>) -> Result<Vec<f32>> {
        let (x, n) = self.images(images)?;
        let y = self.labels(labels, n)?;
        let (mu, _) = self.model.encode(x, y.clone());
        read(self.model.decode(mu, y)).await
    }

    /// One image's μ, log σ², reconstruction and loss: one forward pass and one read-back (the
    /// page does this for every stroke). An error if the loss is not finite.
    pub async fn analyse(&self, image: &[f32]) -> Result<Analysed> {
        let (x, n) = self.images(image)?;
        if n != 1 {
            return Err(Error::Input(format!("analysis takes one image, got {n}")));
        }
        let t = LossTerms::of(&self.model, x, self.labels(None, n)?, None);
        let row = Tensor::cat(
            vec![
                sigmoid(t.forward.logits),
                t.forward.mu,
                t.forward.logvar,
                t.recon.reshape([1, 1]),
                t.kl.reshape([1, 1]),
            ],
            1,
        );
        let v = read(row).await?;
        let l = self.latent();
        let (reconstruction, rest) = v.split_at(IMAGE_PIXELS);
        let (mu, rest) = rest.split_at(l);
        let (logvar, terms) = rest.split_at(l);
        Ok(Analysed {
            mu: mu.to_vec(),
            logvar: logvar.to_vec(),
            reconstruction: reconstruction.to_vec(),
            parts: LossParts::of_image(terms[0], terms[1], self.config.beta, 0)?,
        })
    }

    /// `n` digits from z ~ N(0, temperature² I): the decodes of [`sample_latents`]; for the
    /// conditional model, each drawn as `digit` (which the seed's model must not be given).
    pub async fn sample(&self, n: usize, temperature: f64, digit: Option<u8>, rng: &mut Rng) -> Result<Vec<f32>> {
        let labels = digit.map(|d| vec![d; n]);
        self.decode(&sample_latents(n, self.latent(), temperature, rng)?, labels.as_deref()).await
    }

    /// Decodes `n` draws from q(z|x) of one image.
    pub async fn variations(&self, image: &[f32], n: usize, rng: &mut Rng) -> Result<Vec<f32>> {
        let e = self.encode(image, None).await?;
        if e.mu.len() != self.latent() {
            return Err(Error::Input("variations take exactly one image".into()));
        }
        let z: Vec<f32> = (0..n * self.latent())
            .map(|i| {
                let j = i % self.latent();
                e.mu[j] + (0.5 * e.logvar[j]).exp() * rng.normal() as f32
            })
            .collect();
        self.decode(&z, None).await
    }

    /// Decodes `steps` evenly spaced points from latent `a` to latent `b`, ends included.
    pub async fn interpolate(&self, a: &[f32], b: &[f32], steps: usize) -> Result<Vec<f32>> {
        self.decode(&interpolate_latents(a, b, steps)?, None).await
    }

    /// Per-image loss parts; z = μ when `eps` is None, else μ + σ·ε with ε given (`n × latent`).
    /// An error if a loss is not finite (see [`LossParts::of_image`]).
    pub async fn losses(&self, images: &[f32], labels: Option<&[u8]>, eps: Option<&[f32]>) -> Result<Vec<LossParts>> {
        let (x, n) = self.images(images)?;
        let y = self.labels(labels, n)?;
        let eps = eps.map(|e| self.latents(e)).transpose()?.map(|(e, _)| e);
        let t = LossTerms::of(&self.model, x, y, eps);
        let pairs = read(Tensor::stack::<2>(vec![t.recon, t.kl], 1)).await?;
        debug_assert_eq!(pairs.len(), 2 * n);
        pairs.chunks_exact(2).enumerate().map(|(i, p)| LossParts::of_image(p[0], p[1], self.config.beta, i)).collect()
    }

    /// Mean test figures over `indices` of `data` (sampled z from `rng`, and z = μ); the
    /// conditional model reads each digit with its label from `data`.
    pub async fn evaluate(&self, data: &Dataset, indices: &[usize], rng: &mut Rng) -> Result<EvalReport> {
        let (mut sampled, mut at_mu) = (LossTotals::default(), LossTotals::default());
        for chunk in indices.chunks(EVAL_BATCH) {
            let n = chunk.len();
            let x = matrix(data.images(chunk), n, IMAGE_PIXELS, &self.device);
            let y = self.labels(data.model_labels(self.kind(), chunk).as_deref(), n)?;
            let eps = matrix(rng.normals(n * self.latent(), 1.0), n, self.latent(), &self.device);
            let with_eps = LossTerms::of(&self.model, x.clone(), y.clone(), Some(eps)).sums();
            let with_mu = LossTerms::of(&self.model, x, y, None).sums();
            let sums = read(Tensor::cat(vec![with_eps, with_mu], 0)).await?;
            sampled.add(&sums[..2], n)?;
            at_mu.add(&sums[2..], n)?;
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
    /// For the conditional model, −log p(x | y) with each image's digit given.
    pub async fn iwae_nll(&self, images: &[f32], labels: Option<&[u8]>, k: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        if k == 0 {
            return Err(Error::Input("the IWAE bound needs at least one sample".into()));
        }
        let (x, n) = self.images(images)?;
        let y = self.labels(labels, n)?;
        let l = self.latent();
        let (mu, logvar) = self.model.encode(x.clone(), y.clone());
        let ln_2pi = (std::f64::consts::TAU).ln() as f32;
        let mut log_w = vec![Vec::with_capacity(k); n];
        for _ in 0..k {
            let eps = matrix(rng.normals(n * l, 1.0), n, l, &self.device);
            let z = Vae::reparameterize(mu.clone(), logvar.clone(), eps.clone());
            let log_px = recon_per_image(self.model.decode_logits(z.clone(), y.clone()), x.clone()).neg();
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

/// How a walk between two latents goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Walk {
    /// A straight line: its middle passes nearer the origin than its ends, where the prior has
    /// few codes of real digits when the ends are far apart (a 20-D draw lies near the shell of
    /// radius √20, not at the centre).
    Linear,
    /// Spherical interpolation (slerp): the direction turns along the great circle from one end's
    /// to the other's while the length goes linearly from one end's to the other's, so a walk
    /// between two codes of the prior's shell stays on it.
    Spherical,
}

/// `steps` latents from `a` to `b` along `walk`, ends included and exact.
pub fn walk_latents(a: &[f32], b: &[f32], steps: usize, walk: Walk) -> Result<Vec<f32>> {
    let line = interpolate_latents(a, b, steps)?;
    if walk == Walk::Linear {
        return Ok(line);
    }
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    let cos = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() / (na * nb);
    let angle = cos.clamp(-1.0, 1.0).acos();
    // No great circle is defined from or to the origin, nor between opposite directions (every
    // one joins them), and none is needed between equal ones: the straight line then.
    if !(na > 0.0 && nb > 0.0 && angle.sin() > 1e-6) {
        return Ok(line);
    }
    let mut z = Vec::with_capacity(steps * a.len());
    for s in 0..steps {
        if s == 0 || s == steps - 1 {
            z.extend_from_slice(if s == 0 { a } else { b });
            continue;
        }
        let t = s as f64 / (steps - 1) as f64;
        let (wa, wb) = (((1.0 - t) * angle).sin() / angle.sin(), (t * angle).sin() / angle.sin());
        let length = (1.0 - t) * na + t * nb;
        z.extend(a.iter().zip(b).map(|(&x, &y)| (length * (wa * x as f64 / na + wb * y as f64 / nb)) as f32));
    }
    Ok(z)
}

/// How far a traverse goes each way along one latent axis, in units of the prior's σ.
pub const TRAVERSE_RANGE: f32 = 3.0;

/// `steps` latents z + t·e_dim for t evenly from −[`TRAVERSE_RANGE`] to +[`TRAVERSE_RANGE`]: what
/// one latent dimension does, the others held where z has them.
pub fn traverse_latents(z: &[f32], dim: usize, steps: usize) -> Result<Vec<f32>> {
    if dim >= z.len() {
        return Err(Error::Input(format!("latent dimension {} of a {}-D latent", dim + 1, z.len())));
    }
    if steps < 2 {
        return Err(Error::Input("a traverse needs at least 2 steps".into()));
    }
    Ok((0..steps)
        .flat_map(|s| {
            let t = -TRAVERSE_RANGE + 2.0 * TRAVERSE_RANGE * s as f32 / (steps - 1) as f32;
            z.iter().enumerate().map(move |(i, &v)| if i == dim { v + t } else { v })
        })
        .collect())
}

/// `n` latents drawn from N(0, temperature² I): the codes [`Inference::sample`] decodes, so that a
/// sample picked in the page can be walked from or to.
pub fn sample_latents(n: usize, latent: usize, temperature: f64, rng: &mut Rng) -> Result<Vec<f32>> {
    if n == 0 || !temperature.is_finite() || temperature < 0.0 {
        return Err(Error::Input(format!("cannot sample {n} digits at temperature {temperature}")));
    }
    Ok(rng.normals(n * latent, temperature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_fixtures::pytorch_fixture;
    use crate::test_util::{assert_close, backends, block_on, dataset, numbers};

    #[test]
    fn a_spherical_walk_has_exact_ends_and_keeps_to_the_shell() {
        let mut rng = Rng::new(5);
        let (a, b) = (rng.normals(20, 1.0), rng.normals(20, 1.0));
        let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let z = walk_latents(&a, &b, 10, Walk::Spherical).unwrap();
        assert_eq!(&z[..20], &a[..], "starts exactly at a");
        assert_eq!(&z[180..], &b[..], "ends exactly at b");
        let line = walk_latents(&a, &b, 10, Walk::Linear).unwrap();
        assert_eq!(line, interpolate_latents(&a, &b, 10).unwrap());
        for s in 1..9 {
            let t = s as f64 / 9.0;
            let expected = (1.0 - t) * norm(&a) + t * norm(&b);
            let step = &z[s * 20..(s + 1) * 20];
            assert!((norm(step) - expected).abs() < 1e-4, "step {s}: length {} not {expected}", norm(step));
            assert!(
                norm(&line[s * 20..(s + 1) * 20]) < norm(step),
                "the straight line cuts inside the shell at step {s}"
            );
        }
        // The direction turns evenly: equal angles between successive steps.
        let angle = |u: &[f32], v: &[f32]| {
            (u.iter().zip(v).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() / (norm(u) * norm(v)))
                .clamp(-1.0, 1.0)
                .acos()
        };
        let first = angle(&z[..20], &z[20..40]);
        for s in 1..9 {
            assert!((angle(&z[s * 20..(s + 1) * 20], &z[(s + 1) * 20..(s + 2) * 20]) - first).abs() < 1e-4);
        }
        // Where no great circle is defined: the straight line.
        let minus_a: Vec<f32> = a.iter().map(|x| -x).collect();
        assert_eq!(
            walk_latents(&a, &minus_a, 5, Walk::Spherical).unwrap(),
            interpolate_latents(&a, &minus_a, 5).unwrap()
        );
        assert_eq!(
            walk_latents(&[0.0; 20], &b, 5, Walk::Spherical).unwrap(),
            interpolate_latents(&[0.0; 20], &b, 5).unwrap()
        );
        assert!(walk_latents(&a, &b[..3], 5, Walk::Spherical).is_err());
        assert!(walk_latents(&a, &b, 1, Walk::Spherical).is_err());
    }

    #[test]
    fn a_traverse_moves_one_dimension_from_minus_to_plus_three() {
        let z = [0.5, -1.0, 2.0];
        let grid = traverse_latents(&z, 1, 7).unwrap();
        assert_eq!(grid.len(), 21);
        for (s, row) in grid.chunks(3).enumerate() {
            assert_eq!((row[0], row[2]), (0.5, 2.0), "the other dimensions stay");
            assert!((row[1] - (-1.0 + (s as f32 - 3.0))).abs() < 1e-6, "step {s}: {}", row[1]);
        }
        assert!(traverse_latents(&z, 3, 7).is_err());
        assert!(traverse_latents(&z, 0, 1).is_err());
    }

    #[test]
    fn samples_are_the_decodes_of_their_latents() {
        let weights = VaeWeights::init(VaeConfig::vae(8, 3, 1.0), 0).unwrap();
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let z = sample_latents(5, 3, 0.7, &mut Rng::new(42)).unwrap();
            let sampled = block_on(inf.sample(5, 0.7, None, &mut Rng::new(42))).unwrap();
            assert_eq!(sampled, block_on(inf.decode(&z, None)).unwrap());
        }
        assert!(sample_latents(0, 3, 1.0, &mut Rng::new(0)).is_err());
        assert!(sample_latents(2, 3, f64::NAN, &mut Rng::new(0)).is_err());
    }

    #[test]
    fn interpolation_has_its_ends_and_bad_inputs_are_refused() {
        let z = interpolate_latents(&[0.0, 2.0], &[1.0, 0.0], 3).unwrap();
        assert_eq!(z, vec![0.0, 2.0, 0.5, 1.0, 1.0, 0.0]);
        assert!(interpolate_latents(&[0.0], &[1.0, 2.0], 3).is_err());
        let weights = VaeWeights::init(VaeConfig::vae(8, 2, 1.0), 0).unwrap();
        let inf = Inference::new(&weights, &backends()[0]).unwrap();
        assert!(block_on(inf.decode(&[0.0, 1.0, 2.0], None)).is_err());
        assert!(block_on(inf.encode(&[0.5; 100], None)).is_err());
        assert!(block_on(inf.decode(&[f32::NAN, 0.0], None)).is_err());
        assert!(block_on(inf.analyse(&[0.5; 2 * IMAGE_PIXELS])).is_err());
        let samples = block_on(inf.sample(4, 1.0, None, &mut Rng::new(1))).unwrap();
        assert_eq!(samples.len(), 4 * 784);
        assert!(samples.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    /// A model trained and saved elsewhere, by PyTorch (`tests/fixtures/pytorch-vae-h16-z2.*`, made
    /// by `scripts/make-pytorch-fixture.py`: the seed's module, `save_model`, no metadata), reads
    /// with its sizes taken from the shapes, and scores digits as PyTorch does: the loss `vae score`
    /// prints and the page shows (z = μ), and μ, against PyTorch's float64 computation. Tolerance:
    /// 2e-6 relative on the loss (≈ 4e-4 nats at 200): f32 sums of 784 terms round to about 1e-7
    /// of their size, in whatever order a backend adds them (PyTorch's own f32 is within 1.4e-7);
    /// 1e-5 on μ (values of size 1–4).
    #[test]
    fn a_model_saved_by_pytorch_scores_as_pytorch_does() {
        let (weights, torch) = pytorch_fixture("pytorch-vae-h16-z2");
        assert_eq!(weights.config, VaeConfig::vae(16, 2, 1.0));
        let list = |key: &str| numbers(&torch[key]);
        let digits: Vec<usize> = list("digits").into_iter().map(|d| d as usize).collect();
        let (loss, mu) = (list("loss_f64"), torch["mu_f64"].as_array().unwrap());
        let images = dataset().images(&digits);
        let mut worst = (0f64, 0f64);
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let scores = block_on(inf.losses(&images, None, None)).unwrap();
            let encoded = block_on(inf.encode(&images, None)).unwrap();
            for (i, expected) in loss.iter().enumerate() {
                let page = block_on(inf.analyse(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])).unwrap();
                for got in [scores[i].loss, page.parts.loss] {
                    let err = (got - expected).abs() / expected.abs();
                    worst.0 = worst.0.max(err);
                    assert!(
                        err <= 2e-6,
                        "digit {}: loss {got}, PyTorch {expected} (relative error {err:e})",
                        digits[i]
                    );
                }
                for (j, m) in mu[i].as_array().unwrap().iter().enumerate() {
                    let err = (encoded.mu[i * 2 + j] as f64 - m.as_f64().unwrap()).abs();
                    worst.1 = worst.1.max(err);
                    assert!(err <= 1e-5, "digit {}: μ{j} {} against PyTorch {m}", digits[i], encoded.mu[i * 2 + j]);
                }
            }
        }
        eprintln!(
            "PyTorch's model: largest relative error of the loss {:.1e}, of μ {:.1e} (absolute)",
            worst.0, worst.1
        );
    }

    #[test]
    fn one_pass_analysis_agrees_with_the_separate_calls() {
        let data = dataset();
        let weights = VaeWeights::init(VaeConfig::vae(32, 3, 2.0), 4).unwrap();
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let image = data.image(123);
            let a = block_on(inf.analyse(&image)).unwrap();
            let e = block_on(inf.encode(&image, None)).unwrap();
            assert_close(&a.mu, &e.mu, 1e-5);
            assert_close(&a.logvar, &e.logvar, 1e-5);
            assert_close(&a.reconstruction, &block_on(inf.reconstruct(&image, None)).unwrap(), 1e-5);
            let p = block_on(inf.losses(&image, None, None)).unwrap()[0];
            assert_close(
                &[a.parts.loss as f32, a.parts.recon as f32, a.parts.kl as f32],
                &[p.loss as f32, p.recon as f32, p.kl as f32],
                1e-5,
            );
            assert!((a.parts.loss - (a.parts.recon + 2.0 * a.parts.kl)).abs() < 1e-9);
        }
    }
}
