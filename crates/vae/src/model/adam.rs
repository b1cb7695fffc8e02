//! Adam, written out so that its state is ours to read and restore: a training run's snapshot
//! ([`crate::model::snapshot`]) holds the moments, and reading them must be asynchronous (WebGPU),
//! which Burn's optimiser record (synchronous reads, state keyed by random parameter ids) is not.
//! The arithmetic is Burn 0.22.1's `Adam` operation for operation (PyTorch's defaults, ε = 1e-8),
//! so the numbers are the same: a test checks that against Burn's own optimiser, bit for bit.

use burn::module::Param;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::model::network::Vae;

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// A parameter's first and second moments.
type Moments<const D: usize> = Option<(Tensor<D>, Tensor<D>)>;

/// Adam's state: the steps taken and, once one is, the first and second moments, each laid out as
/// the model's parameters (a `Vae` of moments, on the training device without autodiff).
#[derive(Clone, Default)]
pub struct Adam {
    pub(crate) time: u64,
    pub(crate) moments: Option<(Vae, Vae)>,
}

impl Adam {
    /// One update of every parameter that has a gradient (all of them here: every parameter is in
    /// the loss, so every parameter's step count is `time`).
    pub fn step(&mut self, lr: f64, model: Vae, mut grads: GradientsParams) -> Vae {
        self.time += 1;
        let time = i32::try_from(self.time).unwrap_or(i32::MAX);
        let (mut m1, mut m2) = match self.moments.take() {
            Some((a, b)) => (a.into_layers().map(Some), b.into_layers().map(Some)),
            None => (Default::default(), Default::default()),
        };
        let mut layers = model.into_layers();
        for i in 0..layers.len() {
            let Linear { weight, bias } = layers[i].clone();
            let (a, b) = (m1[i].take(), m2[i].take());
            let weight_moments = a.as_ref().zip(b.as_ref()).map(|(a, b)| (a.weight.val(), b.weight.val()));
            let (weight, (w1, w2)) = update(lr, time, weight, &mut grads, weight_moments);
            let bias_moments = a.as_ref().zip(b.as_ref()).and_then(|(a, b)| a.bias.as_ref().zip(b.bias.as_ref()));
            let bias_moments = bias_moments.map(|(a, b)| (a.val(), b.val()));
            let (bias, bias_m) = match bias {
                Some(bias) => {
                    let (bias, m) = update(lr, time, bias, &mut grads, bias_moments);
                    (Some(bias), Some(m))
                }
                None => (None, None),
            };
            let moment = |w: Tensor<2>, b: Option<Tensor<1>>| Linear {
                weight: Param::from_tensor(w),
                bias: b.map(Param::from_tensor),
            };
            m1[i] = Some(moment(w1, bias_m.clone().map(|m| m.0)));
            m2[i] = Some(moment(w2, bias_m.map(|m| m.1)));
            layers[i] = Linear { weight, bias };
        }
        let [m1, m2] = [m1, m2].map(|m| Vae::from_layers(m.map(|l| l.expect("every layer was updated"))));
        self.moments = Some((m1, m2));
        Vae::from_layers(layers)
    }
}

/// Burn's `AdaptiveMomentum::transform` and `Adam::step` for one parameter: the moments updated
/// with its gradient (created from it on the first step), then the bias-corrected step. A
/// parameter without a gradient is left as it is, with its moments.
fn update<const D: usize>(
    lr: f64,
    time: i32,
    param: Param<Tensor<D>>,
    grads: &mut GradientsParams,
    moments: Moments<D>,
) -> (Param<Tensor<D>>, (Tensor<D>, Tensor<D>)) {
    let (id, tensor, mapper) = param.consume();
    let Some(grad) = grads.remove::<D>(id) else {
        let zeros = || tensor.clone().inner().zeros_like();
        let kept = moments.unwrap_or_else(|| (zeros(), zeros()));
        return (Param::from_mapped_value(id, tensor, mapper), kept);
    };
    let require_grad = tensor.is_require_grad();
    let checkpointing = tensor.gradient_checkpointing_strategy();
    let (factor_1, factor_2) = (1.0 - BETA_1, 1.0 - BETA_2);
    let (m1, m2) = match moments {
        Some((m1, m2)) => (
            m1.mul_scalar(BETA_1).add(grad.clone().mul_scalar(factor_1)),
            m2.mul_scalar(BETA_2).add(grad.square().mul_scalar(factor_2)),
        ),
        None => (grad.clone().mul_scalar(factor_1), grad.square().mul_scalar(factor_2)),
    };
    let bias_correction2_sqrt = (1.0 - BETA_2.powi(time)).sqrt();
    let combined_factor = bias_correction2_sqrt / (1.0 - BETA_1.powi(time));
    let step =
        m1.clone().mul_scalar(combined_factor).div(m2.clone().sqrt().add_scalar(EPSILON * bias_correction2_sqrt));
    let updated = tensor.inner() - step.mul_scalar(lr);
    let mut value = Tensor::from_inner(updated);
    if let Some(strategy) = checkpointing {
        value = value.with_gradient_checkpointing_strategy(strategy);
    }
    if require_grad {
        value = value.require_grad();
    }
    (Param::from_mapped_value(id, value, mapper), (m1, m2))
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::optim::AdamConfig;

    use super::*;
    use crate::model::loss::LossTerms;
    use crate::tensor::matrix;
    use crate::test_util::{backends, block_on, small_dataset};
    use crate::{IMAGE_PIXELS, Split, VaeConfig, VaeWeights};

    #[test]
    fn the_same_numbers_as_burns_adam() {
        let device = backends()[0].clone().autodiff();
        let data = small_dataset();
        let weights = VaeWeights::init(VaeConfig::vae(16, 3, 1.0), 3).unwrap();
        let (mut ours, mut burns) = (Adam::default(), AdamConfig::new().with_epsilon(1e-8).init());
        let (mut a, mut b) =
            (Vae::from_weights(&weights, &device).unwrap(), Vae::from_weights(&weights, &device).unwrap());
        let train = data.indices(Split::Train);
        for batch in train.chunks(64).take(6) {
            let x = || matrix(data.images(batch), batch.len(), IMAGE_PIXELS, &device);
            let grads = |m: &Vae| {
                let loss = LossTerms::of(m, x(), None, None).total(1.0).mean();
                GradientsParams::from_grads(loss.backward(), m)
            };
            let (ga, gb) = (grads(&a), grads(&b));
            a = ours.step(1e-2, a.clone(), ga);
            b = burns.step(1e-2, b.clone(), gb);
        }
        assert_eq!(block_on(a.valid().to_weights(1.0)).unwrap(), block_on(b.valid().to_weights(1.0)).unwrap());
        assert_eq!(ours.time, 6);
    }
}
