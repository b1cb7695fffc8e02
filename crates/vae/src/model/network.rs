use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::weights::{LayerWeights, VaeWeights};
use crate::tensor::read;
use crate::{Result, VaeConfig};

/// The seed design's VAE: encoder 784→hidden (ReLU) → μ and log σ² (latent each); decoder
/// latent→hidden (ReLU) → 784 (sigmoid). Layer names match the PyTorch module's.
#[derive(Module, Debug)]
pub struct Vae {
    pub fc1: Linear,
    pub fc21: Linear,
    pub fc22: Linear,
    pub fc3: Linear,
    pub fc4: Linear,
}

/// What one forward pass produces: the decoder's logits (sigmoid gives the grey levels) and the
/// posterior's parameters.
pub struct Forward {
    pub logits: Tensor<2>,
    pub mu: Tensor<2>,
    pub logvar: Tensor<2>,
}

impl Vae {
    /// Puts host weights on `device` (which may be an autodiff device, for training).
    pub fn from_weights(weights: &VaeWeights, device: &Device) -> Result<Self> {
        weights.validate()?;
        let config = &weights.config;
        let [fc1, fc21, fc22, fc3, fc4] = std::array::from_fn(|i| {
            let (_, inputs, outputs) = config.layers()[i];
            linear(&weights.layers[i], inputs, outputs, device)
        });
        Ok(Self { fc1, fc21, fc22, fc3, fc4 })
    }

    /// Reads the weights back to the host (PyTorch layout). Async: on WebGPU reads must be.
    pub async fn to_weights(&self, beta: f64) -> Result<VaeWeights> {
        let hidden = self.fc1.weight.dims()[1];
        let latent = self.fc21.weight.dims()[1];
        let config = VaeConfig { hidden, latent, beta };
        let mut layers = Vec::with_capacity(5);
        for layer in [&self.fc1, &self.fc21, &self.fc22, &self.fc3, &self.fc4] {
            let [inputs, outputs] = layer.weight.dims();
            let w = read(layer.weight.val()).await?;
            let bias = match &layer.bias {
                Some(b) => read(b.val()).await?,
                None => vec![0.0; outputs],
            };
            // Burn stores [inputs, outputs]; PyTorch stores [outputs, inputs].
            let mut weight = vec![0.0; inputs * outputs];
            for i in 0..inputs {
                for o in 0..outputs {
                    weight[o * inputs + i] = w[i * outputs + o];
                }
            }
            layers.push(LayerWeights { weight, bias });
        }
        let weights = VaeWeights { config, layers: layers.try_into().expect("five layers") };
        weights.validate()?;
        Ok(weights)
    }

    /// fc1, fc21, fc22, fc3, fc4.
    pub fn into_layers(self) -> [Linear; 5] {
        [self.fc1, self.fc21, self.fc22, self.fc3, self.fc4]
    }

    pub fn from_layers([fc1, fc21, fc22, fc3, fc4]: [Linear; 5]) -> Self {
        Self { fc1, fc21, fc22, fc3, fc4 }
    }

    pub fn latent(&self) -> usize {
        self.fc21.weight.dims()[1]
    }

    pub fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = relu(self.fc1.forward(x));
        (self.fc21.forward(h.clone()), self.fc22.forward(h))
    }

    /// Decoder logits; `sigmoid` of them is the image.
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<2> {
        self.fc4.forward(relu(self.fc3.forward(z)))
    }

    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode_logits(z))
    }

    /// z = μ + exp(½ log σ²) · ε, with ε given so that the caller controls the randomness.
    pub fn reparameterize(mu: Tensor<2>, logvar: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
        mu + (logvar * 0.5).exp() * eps
    }

    /// Full pass; `eps` = None decodes z = μ (the deterministic reconstruction).
    pub fn forward(&self, x: Tensor<2>, eps: Option<Tensor<2>>) -> Forward {
        let (mu, logvar) = self.encode(x);
        let z = match eps {
            Some(eps) => Self::reparameterize(mu.clone(), logvar.clone(), eps),
            None => mu.clone(),
        };
        Forward { logits: self.decode_logits(z), mu, logvar }
    }
}

fn linear(layer: &LayerWeights, inputs: usize, outputs: usize, device: &Device) -> Linear {
    let mut w = vec![0.0f32; inputs * outputs];
    for o in 0..outputs {
        for i in 0..inputs {
            w[i * outputs + o] = layer.weight[o * inputs + i];
        }
    }
    let weight = Tensor::<2>::from_data(TensorData::new(w, [inputs, outputs]), device);
    let bias = Tensor::<1>::from_data(TensorData::new(layer.bias.clone(), [outputs]), device);
    Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) }
}
