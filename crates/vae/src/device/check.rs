//! The same weights and inputs through two backends: forward pass, loss, gradients (backward),
//! Adam steps, sampling and neighbour distances. The native tests compare ndarray with wgpu on
//! Vulkan; the browser tests compare the CPU backend with WebGPU in Chromium. Never trust a
//! backend that has not been compared.

use burn::nn::Linear;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::explore::neighbours::LatentIndex;
use crate::model::loss::LossTerms;
use crate::model::network::Vae;
use crate::model::train::{Trainer, TrainerOptions};
use crate::rng::Rng;
use crate::tensor::{matrix, read, relative_error};
use crate::{Dataset, IMAGE_PIXELS, Result, VaeConfig, VaeWeights};

/// What one backend computed for the fixed problem of [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Logits, μ and log σ² of one batch with fixed ε.
    pub forward: Vec<f32>,
    /// Mean loss, reconstruction and KL of that batch.
    pub loss: Vec<f32>,
    /// d loss / d every weight and bias, layer by layer.
    pub gradients: Vec<f32>,
    /// Every weight after three Adam steps.
    pub adam: Vec<f32>,
    /// 16 decoded prior samples.
    pub samples: Vec<f32>,
    /// Squared distances from one digit's μ to 200 indexed μs.
    pub distances: Vec<f32>,
}

/// Largest relative error (against max(|reference|, 1), so values near 0 compare absolutely) of
/// each part of [`Outcome`]: f32 on two backends should agree to about 1e-5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub forward: f32,
    pub loss: f32,
    pub gradients: f32,
    pub adam: f32,
    pub samples: f32,
    pub distances: f32,
}

impl Comparison {
    pub fn worst(&self) -> f32 {
        [self.forward, self.loss, self.gradients, self.adam, self.samples, self.distances]
            .into_iter()
            .fold(0.0, f32::max)
    }
}

/// Largest [`relative_error`] of `got` against `reference`; infinite if lengths differ.
pub fn max_relative_error(got: &[f32], reference: &[f32]) -> f32 {
    if got.len() != reference.len() {
        return f32::INFINITY;
    }
    got.iter().zip(reference).map(|(&g, &r)| relative_error(g, r)).fold(0.0, f32::max)
}

/// Runs the fixed problem on `device`: the default shape with seed-42 weights, 128 training digits.
pub async fn run(device: &Device, data: &Dataset) -> Result<Outcome> {
    let config = VaeConfig::default();
    let weights = VaeWeights::init(config, 42)?;
    let train: Vec<usize> = (0..512).map(|i| (i * 17) % data.len()).collect();
    let batch = &train[..128];
    let n = batch.len();

    // Forward, loss and backward on one batch with fixed ε.
    let ad = device.clone().autodiff();
    let model = Vae::from_weights(&weights, &ad)?;
    let x = matrix(data.images(batch), n, IMAGE_PIXELS, &ad);
    let eps = matrix(Rng::new(5).normals(n * config.latent, 1.0), n, config.latent, &ad);
    let t = LossTerms::of(&model, x, None, Some(eps));
    let f = &t.forward;
    let mut forward = read(f.logits.clone().detach()).await?;
    forward.extend(read(f.mu.clone().detach()).await?);
    forward.extend(read(f.logvar.clone().detach()).await?);
    let total = t.total(config.beta).mean();
    let mut loss = read(total.clone().detach()).await?;
    loss.extend(read(t.recon.clone().mean().detach()).await?);
    loss.extend(read(t.kl.clone().mean().detach()).await?);
    let grads = total.backward();
    let mut gradients = Vec::new();
    for layer in layers(&model) {
        let missing = || crate::Error::backend("a parameter has no gradient");
        gradients.extend(read(layer.weight.val().grad(&grads).ok_or_else(missing)?).await?);
        let bias = layer.bias.as_ref().ok_or_else(missing)?;
        gradients.extend(read(bias.val().grad(&grads).ok_or_else(missing)?).await?);
    }

    // Three Adam steps, then inference with the new weights.
    let mut trainer = Trainer::new(&weights, train, TrainerOptions::default(), device)?;
    for _ in 0..3 {
        trainer.step(data).await?;
    }
    let after = trainer.weights().await?;
    let adam = after.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias).copied()).collect();
    let inference = trainer.inference();
    let samples = inference.sample(16, 1.0, None, &mut Rng::new(3)).await?;
    let some: Vec<usize> = (0..200).map(|i| (i * 50) % data.len()).collect();
    let index = LatentIndex::build(&inference, data, &some).await?;
    let z = inference.encode(&data.image(5), None).await?.mu;
    let distances = index.squared_distances(&z).await?;
    Ok(Outcome { forward, loss, gradients, adam, samples, distances })
}

/// Runs [`run`] on both devices and compares `other` against `reference`.
pub async fn compare(reference: &Device, other: &Device, data: &Dataset) -> Result<Comparison> {
    let (r, o) = (run(reference, data).await?, run(other, data).await?);
    Ok(Comparison {
        forward: max_relative_error(&o.forward, &r.forward),
        loss: max_relative_error(&o.loss, &r.loss),
        gradients: max_relative_error(&o.gradients, &r.gradients),
        adam: max_relative_error(&o.adam, &r.adam),
        samples: max_relative_error(&o.samples, &r.samples),
        distances: max_relative_error(&o.distances, &r.distances),
    })
}

fn layers(model: &Vae) -> [&Linear; 5] {
    [&model.fc1, &model.fc21, &model.fc22, &model.fc3, &model.fc4]
}

// The native cross-backend check needs Burn's wgpu backend (`scripts/test-native-gpu.sh`); the test
// command runs the same check in Chromium, WebGPU against the CPU (tests/webgpu.test.mjs).
#[cfg(all(test, feature = "wgpu-tests"))]
mod tests {
    use super::*;
    use crate::test_util::{backends, block_on, dataset};

    #[test]
    fn wgpu_matches_ndarray() {
        let devices = backends();
        if devices.len() < 2 {
            eprintln!("VAE_TEST_BACKENDS=ndarray: the cross-backend comparison is skipped");
            return;
        }
        let data = dataset();
        let c = block_on(compare(&devices[0], &devices[1], &data)).unwrap();
        assert!(c.worst() <= 1e-4, "wgpu differs from ndarray: {c:?}");
        // The comparison can fail: a different problem gives different numbers.
        let other = block_on(run(&devices[0], &data)).unwrap();
        let mut shifted = other.clone();
        shifted.samples[0] += 0.01;
        assert!(max_relative_error(&shifted.samples, &other.samples) > 1e-3);
    }
}
