//! Whether a GPU device may take the page's jobs: its self-test against the CPU (a few
//! reconstructions and decodes of the page's own model), and its warm-up (each operation the page
//! uses run once at the page's shapes, so that its kernels are compiled before jobs move there).

use burn::tensor::Device;

use crate::device::check::max_relative_error;
use crate::explore::neighbours::LatentIndex;
use crate::model::inference::Inference;
use crate::rng::Rng;
use crate::{Dataset, Result, VaeWeights};

/// Largest relative error a device may show against the CPU in the self-test.
pub const SELF_TEST_TOLERANCE: f32 = 1e-3;

/// Reconstructs a few data digits and decodes a few prior samples with `weights` on `cpu` and on
/// `device`; returns the largest relative error of `device` against `cpu`.
pub async fn self_test(cpu: &Device, device: &Device, weights: &VaeWeights, data: &Dataset) -> Result<f32> {
    let picks: Vec<usize> = (0..8).map(|i| i * (data.len() - 1) / 7).collect();
    let images = data.images(&picks);
    let z = Rng::new(1).normals(8 * weights.config.latent, 1.0);
    let mut outputs = Vec::new();
    for d in [cpu, device] {
        let inf = Inference::new(weights, d)?;
        let mut out = inf.reconstruct(&images, None).await?;
        out.extend(inf.decode(&z, None).await?);
        outputs.push(out);
    }
    Ok(max_relative_error(&outputs[1], &outputs[0]))
}

/// The self-test's largest relative error when WebGPU (`device`) agrees with the CPU, else why
/// not, for the page (with the error when there was one).
pub async fn checked(
    cpu: &Device,
    device: &Device,
    weights: &VaeWeights,
    data: &Dataset,
) -> Result<f32, (String, Option<f32>)> {
    match self_test(cpu, device, weights, data).await {
        Ok(err) if err <= SELF_TEST_TOLERANCE => Ok(err),
        Ok(err) => Err((format!("WebGPU gave wrong results on this adapter (relative error {err:.2e})"), Some(err))),
        Err(e) => Err((format!("WebGPU failed its self-test: {e}"), None)),
    }
}

/// Runs each operation the page uses once, at the shapes it uses them, so that their kernels are
/// compiled before the page moves to `device`.
pub async fn warm_up(device: &Device, weights: &VaeWeights, data: &Dataset) -> Result<()> {
    let inference = Inference::new(weights, device)?;
    let image = data.image(0);
    let analysed = inference.analyse(&image).await?;
    inference.decode(&analysed.mu, None).await?;
    inference.sample(64, 1.0, None, &mut Rng::new(0)).await?;
    inference.variations(&image, 8, &mut Rng::new(0)).await?;
    // The kernels do not depend on the number of rows: a small index compiles what a full one uses.
    let mut index = LatentIndex::new(inference.latent(), device);
    index.add(&inference, data, &(0..64.min(data.len())).collect::<Vec<_>>()).await?;
    index.nearest(&analysed.mu, 8).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VaeConfig;
    use crate::test_util::{backends, block_on, ndarray, small_dataset};

    #[test]
    fn every_backend_passes_the_self_test_and_warms_up() {
        let data = small_dataset();
        let weights = VaeWeights::init(VaeConfig::vae(32, 4, 1.0), 3).unwrap();
        for device in backends() {
            let err = block_on(self_test(&ndarray(), &device, &weights, &data)).unwrap();
            assert!(err <= SELF_TEST_TOLERANCE, "{err} on {device:?}");
            assert_eq!(block_on(checked(&ndarray(), &device, &weights, &data)), Ok(err));
            block_on(warm_up(&device, &weights, &data)).unwrap();
        }
        // The CPU against itself: the same operations, the same numbers.
        assert_eq!(block_on(self_test(&ndarray(), &ndarray(), &weights, &data)).unwrap(), 0.0);
    }

    #[test]
    fn a_model_that_cannot_be_checked_keeps_the_page_on_the_cpu_saying_why() {
        let data = small_dataset();
        let weights = VaeWeights::init(VaeConfig::vae(32, 4, 1.0), 3).unwrap();
        let mut bad = weights.clone();
        bad.layers[0].bias[0] = f32::NAN;
        let outcome = block_on(checked(&ndarray(), &ndarray(), &bad, &data));
        let (reason, _) = outcome.unwrap_err();
        assert!(reason.starts_with("WebGPU"), "{reason}");
    }
}
