//! The VAE's loss: binary cross-entropy summed over pixels (grey levels in [0, 1], not
//! binarised) plus β · KL(q(z|x) ‖ N(0, I)), per image.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::network::{Forward, Vae};
use crate::{Error, Result};

/// The two terms of the loss, per image, and the forward pass they came from.
pub struct LossTerms {
    /// Reconstruction term (BCE summed over pixels), per image.
    pub recon: Tensor<1>,
    /// KL(q(z|x) ‖ N(0, I)), per image.
    pub kl: Tensor<1>,
    pub forward: Forward,
}

impl LossTerms {
    /// Forward → reconstruction → KL: the one place the loss is computed (training, evaluation,
    /// scoring, the cross-backend check). z = μ when `eps` is None, else μ + σ·ε; `y` the one-hot
    /// labels for the conditional model (see [`crate::model::label_rows`]).
    pub fn of(model: &Vae, x: Tensor<2>, y: Option<Tensor<2>>, eps: Option<Tensor<2>>) -> Self {
        let forward = model.forward(x.clone(), y, eps);
        let recon = recon_per_image(forward.logits.clone(), x);
        let kl = kl_per_image(forward.mu.clone(), forward.logvar.clone());
        LossTerms { recon, kl, forward }
    }

    /// recon + β · KL, per image.
    pub fn total(&self, beta: f64) -> Tensor<1> {
        self.recon.clone() + self.kl.clone() * beta
    }

    /// Σ recon and Σ KL over the batch, as one [2] tensor, so one read fetches both.
    pub fn sums(&self) -> Tensor<1> {
        Tensor::cat(vec![self.recon.clone().sum(), self.kl.clone().sum()], 0)
    }
}

/// Reconstruction term per image, from the decoder's logits: Σ softplus(l) − x·l, which is
/// BCE(sigmoid(l), x) written so that it cannot overflow or take log 0.
pub fn recon_per_image(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().log1p();
    (softplus - x * logits).sum_dim(1).squeeze_dim(1)
}

/// KL(N(μ, σ²) ‖ N(0, I)) per image = −½ Σ (1 + log σ² − μ² − σ²).
pub fn kl_per_image(mu: Tensor<2>, logvar: Tensor<2>) -> Tensor<1> {
    ((logvar.clone() + 1.0 - mu.powi_scalar(2) - logvar.exp()).sum_dim(1) * -0.5).squeeze_dim(1)
}

/// Mean loss over a batch and its parts, in nats per image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
}

impl LossParts {
    pub fn is_finite(&self) -> bool {
        self.loss.is_finite() && self.recon.is_finite() && self.kl.is_finite()
    }

    /// Image `image`'s parts from its two terms as read from the device, β applied; an error if
    /// the model overflowed f32 on it (weights so large that a sum passes 3.4e38, or ∞ − ∞ inside):
    /// such a number is no score, and must be neither shown nor ranked (NaN sorts as "better than
    /// every test digit").
    pub fn of_image(recon: f32, kl: f32, beta: f64, image: usize) -> Result<Self> {
        let (recon, kl) = (recon as f64, kl as f64);
        let parts = LossParts { loss: recon + beta * kl, recon, kl };
        if parts.is_finite() {
            Ok(parts)
        } else {
            Err(Error::Weights(format!(
                "the loss of image {image} is not finite (reconstruction {recon}, KL {kl}): these weights overflow f32 on it"
            )))
        }
    }
}

/// Running totals over many batches.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LossTotals {
    pub n: usize,
    pub recon: f64,
    pub kl: f64,
}

impl LossTotals {
    /// Adds a batch of `n` images whose [Σ recon, Σ KL] ([`LossTerms::sums`]) were read as `sums`.
    pub fn add(&mut self, sums: &[f32], n: usize) -> Result<()> {
        if sums.len() != 2 {
            return Err(Error::backend(format!("expected 2 loss sums, read {}", sums.len())));
        }
        self.n += n;
        self.recon += sums[0] as f64;
        self.kl += sums[1] as f64;
        Ok(())
    }

    pub fn mean(&self, beta: f64) -> LossParts {
        let n = self.n.max(1) as f64;
        let (recon, kl) = (self.recon / n, self.kl / n);
        LossParts { loss: recon + beta * kl, recon, kl }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{matrix, read};
    use crate::test_util::{assert_close, backends, block_on};

    #[test]
    fn bce_and_kl_match_hand_computed_values() {
        for device in backends() {
            // x = [1, 0, 0.25], logits = [0, 0, ln 3] → sigmoid = [½, ½, ¾]:
            // −ln ½ − ln ½ − (0.25 ln ¾ + 0.75 ln ¼) = 2 ln 2 + 1.11164…
            let x = matrix(vec![1.0, 0.0, 0.25], 1, 3, &device);
            let logits = matrix(vec![0.0, 0.0, 3f32.ln()], 1, 3, &device);
            let expected = 2.0 * 2f64.ln() - (0.25 * 0.75f64.ln() + 0.75 * 0.25f64.ln());
            let got = block_on(read(recon_per_image(logits, x))).unwrap();
            assert_close(&got, &[expected as f32], 1e-5);

            // μ = [1, 0], log σ² = [0, ln 2]: −½[(1+0−1−1) + (1+ln2−0−2)] = ½ + ½(1 − ln 2)
            let mu = matrix(vec![1.0, 0.0, 0.0, 0.0], 2, 2, &device);
            let logvar = matrix(vec![0.0, 2f32.ln(), 0.0, 0.0], 2, 2, &device);
            let got = block_on(read(kl_per_image(mu, logvar))).unwrap();
            assert_close(&got, &[(0.5 + 0.5 * (1.0 - 2f64.ln())) as f32, 0.0], 1e-6);
        }
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_bce_is_finite_at_extremes() {
        for device in backends() {
            let zeros = matrix(vec![0.0; 20], 1, 20, &device);
            let kl = block_on(read(kl_per_image(zeros.clone(), zeros))).unwrap();
            assert_eq!(kl, vec![0.0]);
            // Saturated logits must not produce inf or NaN (the sigmoid form would take log 0).
            let x = matrix(vec![1.0, 0.0], 1, 2, &device);
            let logits = matrix(vec![-200.0, 200.0], 1, 2, &device);
            let bce = block_on(read(recon_per_image(logits, x))).unwrap();
            assert_close(&bce, &[400.0], 1e-6);
        }
    }
}

/// The loss over any finite weights and any image.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::model::weights::LayerWeights;
    use crate::rng::Rng;
    use crate::test_util::{block_on, dataset, ndarray, proptest_config};
    use crate::{IMAGE_PIXELS, Inference, VaeConfig, VaeWeights};

    /// The loss at z = μ computed in f64 on the host, and whether f32 can hold every value the
    /// device forms on the way to it.
    struct Reference {
        loss: f64,
        /// Every sum in the f32 pass is bounded well inside f32 (see `reference`): its loss must
        /// come out finite.
        representable: bool,
        tolerance: f64,
    }

    /// One linear layer in f64, and a bound on the size of every partial sum it forms from
    /// inputs bounded by `bound` (Σ |w|·bound + |b|): that bounds the f32 pass too, up to rounding.
    fn layer(l: &LayerWeights, input: &[f64], bound: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = input.len();
        (0..l.bias.len())
            .map(|o| {
                let w = &l.weight[o * n..(o + 1) * n];
                let b = l.bias[o] as f64;
                let value = b + w.iter().zip(input).map(|(w, x)| *w as f64 * x).sum::<f64>();
                let size = b.abs() + w.iter().zip(bound).map(|(w, x)| (*w as f64).abs() * x).sum::<f64>();
                (value, size)
            })
            .unzip()
    }

    fn reference(w: &VaeWeights, x: &[f32]) -> Reference {
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let relu = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|v| v.max(0.0)).collect() };
        let (h, h_size) = layer(&w.layers[0], &x, &x);
        let h = relu(h);
        let (mu, mu_size) = layer(&w.layers[1], &h, &h_size);
        let (logvar, logvar_size) = layer(&w.layers[2], &h, &h_size);
        let (h3, h3_size) = layer(&w.layers[3], &mu, &mu_size);
        let (logits, logits_size) = layer(&w.layers[4], &relu(h3), &h3_size);
        let recon: f64 = logits.iter().zip(&x).map(|(l, x)| l.max(0.0) + (-l.abs()).exp().ln_1p() - x * l).sum();
        let kl = -0.5 * mu.iter().zip(&logvar).map(|(m, v)| 1.0 + v - m * m - v.exp()).sum::<f64>();
        // f32 holds 3.4e38: sums up to 1e30, μ² up to 1e30 and exp(log σ²) up to e^80 = 5.5e34
        // leave room for every sum over 784 pixels and for rounding.
        let representable = h_size.iter().chain(&h3_size).chain(&logits_size).all(|&s| s <= 1e30)
            && mu_size.iter().all(|&s| s <= 1e15)
            && logvar_size.iter().all(|&s| s <= 80.0);
        // Each f32 sum errs by about (its terms) × 6e-8 of its bound, and the loss moves by at
        // most 1 per unit of logit and by μ, exp(log σ²) per unit of those: 1e-3 of the bounds'
        // contributions covers it with room.
        let size = 1.0
            + logits_size.iter().sum::<f64>()
            + mu_size.iter().zip(&logvar_size).map(|(m, v)| m * m + v.exp() + v).sum::<f64>() * (1.0 + w.config.beta);
        Reference { loss: recon + w.config.beta * kl, representable, tolerance: 1e-3 * size }
    }

    /// Any finite weights: PyTorch's initial weights of a small model (hidden ≤ 8, latent ≤ 3)
    /// scaled by 1e-4 to 1e4, with up to three weights set to any finite f32 (±3.4e38 too);
    /// β anywhere in its range.
    fn weights() -> impl Strategy<Value = VaeWeights> {
        let finite = prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO;
        let beta = prop_oneof![Just(0.0), Just(1.0), Just(100.0), 0.0f64..=100.0];
        let extremes = prop::collection::vec((0usize..5, any::<prop::sample::Index>(), finite), 0..3);
        (1usize..=8, 1usize..=3, beta, any::<u64>(), -4.0f32..=4.0, extremes).prop_map(
            |(hidden, latent, beta, seed, log_scale, extremes)| {
                let mut w = VaeWeights::init(VaeConfig::vae(hidden, latent, beta), seed).unwrap();
                let scale = 10f32.powf(log_scale);
                for l in &mut w.layers {
                    l.weight.iter_mut().chain(l.bias.iter_mut()).for_each(|v| *v *= scale);
                }
                for (layer, at, value) in extremes {
                    let weight = &mut w.layers[layer].weight;
                    let i = at.index(weight.len());
                    weight[i] = value;
                }
                w
            },
        )
    }

    /// Any image: blank, all ink, a digit of the data set, random grey levels, random black and white.
    fn image() -> impl Strategy<Value = Vec<f32>> {
        let random = |binary: bool| {
            any::<u64>().prop_map(move |seed| {
                let mut rng = Rng::new(seed);
                let mut level = || rng.uniform() as f32;
                (0..IMAGE_PIXELS).map(|_| if binary { level().round() } else { level() }).collect::<Vec<f32>>()
            })
        };
        prop_oneof![
            Just(vec![0.0; IMAGE_PIXELS]),
            Just(vec![1.0; IMAGE_PIXELS]),
            (0usize..10_000).prop_map(|i| dataset().image(i)),
            random(false),
            random(true),
        ]
    }

    /// What every loss must be: finite, and the reference's when f32 can hold it; when it
    /// cannot, a refusal that says so is allowed instead (never NaN or ∞ handed on as a score).
    fn check(got: &Result<LossParts>, r: &Reference) -> Result<(), TestCaseError> {
        match got {
            Ok(p) => {
                prop_assert!(p.is_finite(), "a non-finite loss {:?} (f64 reference {})", p, r.loss);
                if r.representable {
                    prop_assert!(
                        (p.loss - r.loss).abs() <= r.tolerance,
                        "loss {} against {} ± {}",
                        p.loss,
                        r.loss,
                        r.tolerance
                    );
                }
            }
            Err(e) => {
                prop_assert!(
                    matches!(e, Error::Weights(m) if m.contains("is not finite")),
                    "not the refusal expected: {}",
                    e
                );
                prop_assert!(!r.representable, "refused a loss that f32 holds ({}): {}", r.loss, e);
            }
        }
        Ok(())
    }

    /// Found by the property above: weights large enough to overflow f32 gave a loss of ∞ or
    /// NaN, which the page showed as a score ("more digit-like than 100% of test digits", since
    /// NaN ranks above every test digit) and `vae score` printed.
    #[test]
    fn a_loss_beyond_f32_is_refused_not_scored() {
        let blank = vec![0.0; IMAGE_PIXELS];
        // Two logits at f32::MAX: each pixel's term fits in f32, their sum does not (∞).
        let mut huge = VaeWeights::init(VaeConfig::vae(4, 2, 1.0), 1).unwrap();
        huge.layers[4].bias[..2].fill(f32::MAX);
        // log σ² = 1000: exp(log σ²) overflows, so KL is ∞.
        let mut wide = VaeWeights::init(VaeConfig::vae(4, 2, 1.0), 1).unwrap();
        wide.layers[2].bias[0] = 1000.0;
        for (w, what) in [(huge, "reconstruction inf"), (wide, "KL inf")] {
            let inference = Inference::new(&w, &ndarray()).unwrap();
            for result in [
                block_on(inference.losses(&blank, None, None)).map(|p| p[0]),
                block_on(inference.analyse(&blank)).map(|a| a.parts),
            ] {
                let e = result.unwrap_err().to_string();
                assert!(e.contains("the loss of image 0 is not finite") && e.contains(what), "{e}");
            }
        }
    }

    proptest! {
        #![proptest_config(proptest_config(64))]

        /// For any finite weights and any image, the loss (z = μ) that scores a sketch (the
        /// page's one-pass analysis) and a batch of images (`vae score`, the index's percentiles)
        /// is finite — or, where the weights are so large that f32 overflows on the way (a loss
        /// beyond 3.4e38, or ∞ − ∞ inside), a clear error. On ndarray: `check.rs` proves the
        /// backends agree.
        #[test]
        fn the_loss_is_finite_or_refused(weights in weights(), images in prop::collection::vec(image(), 1..3)) {
            let inference = Inference::new(&weights, &ndarray()).unwrap();
            let references: Vec<Reference> = images.iter().map(|x| reference(&weights, x)).collect();
            match block_on(inference.losses(&images.concat(), None, None)) {
                Ok(parts) => {
                    prop_assert_eq!(parts.len(), images.len());
                    for (p, r) in parts.into_iter().zip(&references) {
                        check(&Ok(p), r)?;
                    }
                }
                Err(e) => {
                    let refusal = Err(e);
                    let worst = references.iter().find(|r| !r.representable).unwrap_or(&references[0]);
                    check(&refusal, worst)?;
                }
            }
            for (x, r) in images.iter().zip(&references) {
                check(&block_on(inference.analyse(x)).map(|a| a.parts), r)?;
            }
        }
    }
}
