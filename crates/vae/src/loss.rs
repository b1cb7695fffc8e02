//! The VAE's loss: binary cross-entropy summed over pixels (grey levels in [0, 1], not
//! binarised) plus β · KL(q(z|x) ‖ N(0, I)), per image.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::{Forward, Vae};
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
    /// scoring, the cross-backend check). z = μ when `eps` is None, else μ + σ·ε.
    pub fn of(model: &Vae, x: Tensor<2>, eps: Option<Tensor<2>>) -> Self {
        let forward = model.forward(x.clone(), eps);
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
