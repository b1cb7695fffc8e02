use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::{CLASSES, ModelKind};
use crate::model::weights::{LayerWeights, VaeWeights};
use crate::tensor::{matrix, read};
use crate::{Error, IMAGE_PIXELS, Result, VaeConfig};

/// The seed design's VAE: encoder 784→hidden (ReLU) → μ and log σ² (latent each); decoder
/// latent→hidden (ReLU) → 784 (sigmoid). Layer names match the PyTorch module's.
///
/// The same module is the conditional VAE when fc1 and fc3 are 10 inputs wider: the digit's
/// one-hot label `y` is then concatenated after the pixels and after z (so PyTorch's
/// `fc1(torch.cat([x, y], 1))` and `fc3(torch.cat([z, y], 1))`). Which one a module is follows
/// from fc1's width ([`Vae::kind`]); every pass takes `y` as an `Option`, given exactly for the
/// conditional model ([`label_rows`] builds and checks it).
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
        let config = VaeConfig { hidden, latent, beta, kind: self.kind() };
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

    /// The conditional model when fc1 reads the label beside the pixels.
    pub fn kind(&self) -> ModelKind {
        if self.fc1.weight.dims()[0] > IMAGE_PIXELS { ModelKind::Cvae } else { ModelKind::Vae }
    }

    /// μ and log σ² of q(z | x) (or q(z | x, y)).
    pub fn encode(&self, x: Tensor<2>, y: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let h = relu(self.fc1.forward(conditioned(x, y)));
        (self.fc21.forward(h.clone()), self.fc22.forward(h))
    }

    /// Decoder logits of p(x | z) (or p(x | z, y)); `sigmoid` of them is the image.
    pub fn decode_logits(&self, z: Tensor<2>, y: Option<Tensor<2>>) -> Tensor<2> {
        self.fc4.forward(relu(self.fc3.forward(conditioned(z, y))))
    }

    pub fn decode(&self, z: Tensor<2>, y: Option<Tensor<2>>) -> Tensor<2> {
        sigmoid(self.decode_logits(z, y))
    }

    /// z = μ + exp(½ log σ²) · ε, with ε given so that the caller controls the randomness.
    pub fn reparameterize(mu: Tensor<2>, logvar: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
        mu + (logvar * 0.5).exp() * eps
    }

    /// Full pass; `eps` = None decodes z = μ (the deterministic reconstruction).
    pub fn forward(&self, x: Tensor<2>, y: Option<Tensor<2>>, eps: Option<Tensor<2>>) -> Forward {
        let (mu, logvar) = self.encode(x, y.clone());
        let z = match eps {
            Some(eps) => Self::reparameterize(mu.clone(), logvar.clone(), eps),
            None => mu.clone(),
        };
        Forward { logits: self.decode_logits(z, y), mu, logvar }
    }
}

/// `[x | y]`, or `x` for the unconditional model.
fn conditioned(x: Tensor<2>, y: Option<Tensor<2>>) -> Tensor<2> {
    match y {
        Some(y) => Tensor::cat(vec![x, y], 1),
        None => x,
    }
}

/// The labels a pass over `n` rows needs, checked against the model's kind: none for the seed's
/// model; one digit 0–9 per row for the conditional one (as one-hot rows). The one place a label
/// becomes a tensor, so every caller (training, inference, the checks) gets the same errors.
pub fn label_rows(kind: ModelKind, labels: Option<&[u8]>, n: usize, device: &Device) -> Result<Option<Tensor<2>>> {
    match (kind, labels) {
        (ModelKind::Vae, None) => Ok(None),
        (ModelKind::Vae, Some(_)) => {
            Err(Error::Input("the unconditional model takes no digit labels (it is not a conditional model)".into()))
        }
        (ModelKind::Cvae, None) => {
            Err(Error::Input("the conditional model needs the digit (0–9) of every image it reads or draws".into()))
        }
        (ModelKind::Cvae, Some(labels)) => {
            if labels.len() != n {
                return Err(Error::Input(format!("{} labels for {n} images", labels.len())));
            }
            if let Some(bad) = labels.iter().find(|&&d| d as usize >= CLASSES) {
                return Err(Error::Input(format!(
                    "label {bad} is not a digit 0–9 (an unlabelled digit cannot train or feed the conditional model)"
                )));
            }
            let mut rows = vec![0.0f32; n * CLASSES];
            for (row, &d) in labels.iter().enumerate() {
                rows[row * CLASSES + d as usize] = 1.0;
            }
            Ok(Some(matrix(rows, n, CLASSES, device)))
        }
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
