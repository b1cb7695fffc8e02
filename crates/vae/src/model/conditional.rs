//! What only the conditional model does: read a digit (which of the ten labels explains the image
//! best: a generative classifier, no classifier trained), redraw a digit as every digit in the same
//! hand (z = μ(x, y) decoded with each label), and draw a chosen digit ([`Inference::sample`] with
//! a digit). Each runs on any backend, as one batched pass where it can.

use serde::{Deserialize, Serialize};

use crate::config::{CLASSES, ModelKind};
use crate::model::inference::Inference;
use crate::model::loss::LossParts;
use crate::rng::Rng;
use crate::{Error, IMAGE_PIXELS, Result};

/// The model's reading of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The label whose loss is lowest.
    pub digit: u8,
    /// The softmax of the ten labels' negative losses: the model's confidence in each digit
    /// (a posterior p(y | x) under a uniform prior on y, with each label's ELBO for log p(x | y)).
    pub confidence: [f64; CLASSES],
    /// Each label's loss in nats: the negative ELBO of log p(x | y) at z = μ(x, y) (recon + KL,
    /// whatever β the model trained with: the bound itself), or the IWAE bound.
    pub losses: [f64; CLASSES],
}

impl Reading {
    fn of(losses: [f64; CLASSES]) -> Self {
        let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
        let weights = losses.map(|l| (best - l).exp());
        let total: f64 = weights.iter().sum();
        let digit = losses.iter().position(|&l| l == best).unwrap_or(0) as u8;
        Reading { digit, confidence: weights.map(|w| w / total), losses }
    }

    /// The confidence in the digit read.
    pub fn certainty(&self) -> f64 {
        self.confidence[self.digit as usize]
    }

    /// A bound on −log p(x) with the digit unknown, p(x) = Σ_y p(y) p(x | y) for a uniform p(y):
    /// −log Σ_y ⅒ exp(−loss_y) ≥ −log p(x), since each exp(−loss_y) ≤ p(x | y). The conditional
    /// model's score of an image, comparable to the seed's model's loss.
    pub fn marginal_loss(&self) -> f64 {
        let best = self.losses.iter().cloned().fold(f64::INFINITY, f64::min);
        let sum: f64 = self.losses.iter().map(|l| (best - l).exp()).sum();
        best - (sum / CLASSES as f64).ln()
    }
}

/// Every label 0–9 for each of `n` images, image by image.
fn every_label(n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| 0..CLASSES as u8).collect()
}

/// Each image repeated once per label.
fn ten_each(images: &[f32]) -> Vec<f32> {
    images.chunks_exact(IMAGE_PIXELS).flat_map(|image| std::iter::repeat_n(image, CLASSES).flatten()).copied().collect()
}

fn readings(losses: &[f64]) -> Vec<Reading> {
    losses.chunks_exact(CLASSES).map(|l| Reading::of(l.try_into().expect("ten losses"))).collect()
}

impl Inference {
    fn require_conditional(&self, what: &str) -> Result<()> {
        match self.kind() {
            ModelKind::Cvae => Ok(()),
            ModelKind::Vae => Err(Error::Input(format!(
                "{what} needs the conditional model (kind cvae); this model is the seed's unconditional VAE"
            ))),
        }
    }

    /// Each image's reading: its loss (negative ELBO at z = μ(x, y), recon + KL) under each of the
    /// ten labels, all in one batched pass, and their softmax. An error for the seed's model.
    pub async fn read(&self, images: &[f32]) -> Result<Vec<Reading>> {
        self.require_conditional("reading a digit")?;
        let n = images.len() / IMAGE_PIXELS;
        let parts = self.losses(&ten_each(images), Some(&every_label(n)), None).await?;
        Ok(readings(&parts.iter().map(|p: &LossParts| p.recon + p.kl).collect::<Vec<_>>()))
    }

    /// As [`Inference::read`] with each label's importance-weighted bound on −log p(x | y) from
    /// `k` samples (sharper than the ELBO; `k` = 1 is the ELBO with a sampled z).
    pub async fn read_iwae(&self, images: &[f32], k: usize, rng: &mut Rng) -> Result<Vec<Reading>> {
        self.require_conditional("reading a digit")?;
        let n = images.len() / IMAGE_PIXELS;
        Ok(readings(&self.iwae_nll(&ten_each(images), Some(&every_label(n)), k, rng).await?))
    }

    /// Each image redrawn as every digit in the same hand: z = μ(x, y) with y the image's digit
    /// (given, or else the model's reading of it), decoded with each label 0–9. Returns
    /// `n × 10 × 784` grey levels, image by image, digit by digit.
    pub async fn restyle(&self, images: &[f32], labels: Option<&[u8]>) -> Result<Vec<f32>> {
        self.require_conditional("redrawing a digit as every digit")?;
        let read;
        let labels = match labels {
            Some(labels) => labels,
            None => {
                read = self.read(images).await?.iter().map(|r| r.digit).collect::<Vec<u8>>();
                &read
            }
        };
        let mu = self.encode(images, Some(labels)).await?.mu;
        let l = self.latent();
        let z: Vec<f32> = mu.chunks_exact(l).flat_map(|z| std::iter::repeat_n(z, CLASSES).flatten()).copied().collect();
        self.decode(&z, Some(&every_label(labels.len()))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_fixtures::pytorch_fixture;
    use crate::test_util::{assert_close, backends, block_on, dataset, numbers};
    use crate::{Split, VaeConfig, VaeWeights};

    fn small(device: &burn::tensor::Device) -> Inference {
        Inference::new(&VaeWeights::init(VaeConfig::cvae(16, 2, 2.0), 5).unwrap(), device).unwrap()
    }

    #[test]
    fn a_reading_is_the_lowest_loss_and_its_softmax() {
        let r = Reading::of([5.0, 3.0, 4.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]);
        assert_eq!(r.digit, 1);
        assert!((r.confidence.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((r.confidence[1] / r.confidence[2] - 1f64.exp()).abs() < 1e-9);
        // −log ⅒ Σ exp(−l): below every loss but the smallest + ln 10.
        let m = r.marginal_loss();
        assert!(m > 3.0 - 1e-9 && m < 3.0 + 10f64.ln());
    }

    #[test]
    fn reading_scores_every_label_in_one_pass_as_the_single_label_losses_do() {
        let data = dataset();
        let images = data.images(&data.indices(Split::Test)[..3]);
        for device in backends() {
            let inf = small(&device);
            let readings = block_on(inf.read(&images)).unwrap();
            assert_eq!(readings.len(), 3);
            for (i, r) in readings.iter().enumerate() {
                let image = &images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS];
                for d in 0..CLASSES as u8 {
                    let alone = block_on(inf.losses(image, Some(&[d]), None)).unwrap()[0];
                    let alone = alone.recon + alone.kl;
                    assert!(
                        (alone - r.losses[d as usize]).abs() < 1e-3,
                        "label {d}: {alone} vs {}",
                        r.losses[d as usize]
                    );
                }
                assert_eq!(r.losses[r.digit as usize], r.losses.iter().cloned().fold(f64::INFINITY, f64::min));
            }
        }
    }

    #[test]
    fn restyle_decodes_the_images_latent_with_each_label() {
        let data = dataset();
        let images = data.images(&data.indices(Split::Test)[..2]);
        let labels = [3u8, 8];
        for device in backends() {
            let inf = small(&device);
            let grid = block_on(inf.restyle(&images, Some(&labels))).unwrap();
            assert_eq!(grid.len(), 2 * CLASSES * IMAGE_PIXELS);
            let mu = block_on(inf.encode(&images, Some(&labels))).unwrap().mu;
            for d in 0..CLASSES {
                let as_d = block_on(inf.decode(&mu[2..4], Some(&[d as u8]))).unwrap();
                let cell = (CLASSES + d) * IMAGE_PIXELS;
                assert_close(&grid[cell..cell + IMAGE_PIXELS], &as_d, 1e-5);
            }
            // Without labels, the reading's digit is the one encoded with.
            let read: Vec<u8> = block_on(inf.read(&images)).unwrap().iter().map(|r| r.digit).collect();
            assert_eq!(
                block_on(inf.restyle(&images, None)).unwrap(),
                block_on(inf.restyle(&images, Some(&read))).unwrap()
            );
        }
    }

    /// A conditional module trained and saved by PyTorch (`tests/fixtures/pytorch-cvae-h16-z2.*`,
    /// made by `scripts/make-pytorch-fixture.py --kind cvae`: no metadata, so fc1's width says the
    /// kind) reads, scores each digit with its label as PyTorch does, and reads it as PyTorch's
    /// per-label losses say: every one of the 100 (digit, label) losses within 2e-6 relative of
    /// PyTorch's float64 ones (the tolerance of the seed's fixture, `inference.rs`).
    #[test]
    fn a_conditional_model_saved_by_pytorch_reads_digits_as_pytorch_does() {
        let (weights, torch) = pytorch_fixture("pytorch-cvae-h16-z2");
        assert_eq!(weights.config, VaeConfig::cvae(16, 2, 1.0));
        let digits: Vec<usize> = numbers(&torch["digits"]).into_iter().map(|d| d as usize).collect();
        let labels: Vec<u8> = numbers(&torch["labels"]).into_iter().map(|d| d as u8).collect();
        let loss = numbers(&torch["loss_f64"]);
        let by_label: Vec<Vec<f64>> = torch["losses_by_label_f64"].as_array().unwrap().iter().map(numbers).collect();
        let images = dataset().images(&digits);
        let close = |got: f64, expected: f64, what: &str| {
            let err = (got - expected).abs() / expected.abs();
            assert!(err <= 2e-6, "{what}: {got}, PyTorch {expected} (relative error {err:e})");
        };
        for device in backends() {
            let inf = Inference::new(&weights, &device).unwrap();
            let scores = block_on(inf.losses(&images, Some(&labels), None)).unwrap();
            let readings = block_on(inf.read(&images)).unwrap();
            for (i, r) in readings.iter().enumerate() {
                close(scores[i].loss, loss[i], &format!("digit {} with its label", digits[i]));
                for (d, (&got, &want)) in r.losses.iter().zip(&by_label[i]).enumerate() {
                    close(got, want, &format!("digit {} as {d}", digits[i]));
                }
                let lowest = (0..CLASSES).min_by(|&a, &b| by_label[i][a].total_cmp(&by_label[i][b])).unwrap();
                assert_eq!(
                    r.digit as usize, lowest,
                    "digit {}: read as {}, PyTorch's lowest is {lowest}",
                    digits[i], r.digit
                );
            }
        }
    }

    #[test]
    fn the_seed_model_refuses_labels_and_the_conditional_one_needs_them() {
        let data = dataset();
        let image = data.image(0);
        for device in backends() {
            let vae = Inference::new(&VaeWeights::init(VaeConfig::vae(16, 2, 1.0), 5).unwrap(), &device).unwrap();
            let e = block_on(vae.read(&image)).unwrap_err().to_string();
            assert!(e.contains("needs the conditional model"), "{e}");
            assert!(
                block_on(vae.encode(&image, Some(&[1]))).unwrap_err().to_string().contains("takes no digit labels")
            );
            let cvae = small(&device);
            let e = block_on(cvae.encode(&image, None)).unwrap_err().to_string();
            assert!(e.contains("needs the digit (0–9)"), "{e}");
            let e = block_on(cvae.sample(2, 1.0, Some(10), &mut Rng::new(0))).unwrap_err().to_string();
            assert!(e.contains("label 10 is not a digit"), "{e}");
            assert!(
                block_on(cvae.encode(&image, Some(&[1, 2]))).unwrap_err().to_string().contains("2 labels for 1 images")
            );
        }
    }
}
