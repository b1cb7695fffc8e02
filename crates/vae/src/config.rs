use serde::{Deserialize, Serialize};

use crate::limits::LIMITS;
use crate::{Error, IMAGE_PIXELS, Result};

/// Digits a conditional model knows: its one-hot label has this many entries.
pub const CLASSES: usize = 10;

/// Which model: the seed's VAE, or the label-conditioned VAE (Sohn et al. 2015), which reads the
/// digit's one-hot label beside the pixels and beside z, so that its latent holds how a digit is
/// written and the label which digit it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The seed's VAE: p(x | z).
    #[default]
    Vae,
    /// The conditional VAE: p(x | z, y), q(z | x, y); fc1 and fc3 take the label after their inputs.
    Cvae,
}

impl ModelKind {
    /// Entries of the label the model reads (0: none).
    pub fn label_inputs(self) -> usize {
        match self {
            ModelKind::Vae => 0,
            ModelKind::Cvae => CLASSES,
        }
    }

    /// The name in files, on the command line and in the page: `vae` or `cvae`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Vae => "vae",
            ModelKind::Cvae => "cvae",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "vae" => Ok(ModelKind::Vae),
            "cvae" => Ok(ModelKind::Cvae),
            other => Err(Error::Config(format!("model kind {other:?} is neither \"vae\" nor \"cvae\""))),
        }
    }

    /// The kind whose fc1 takes `inputs` values (784 pixels, plus 10 labels for the conditional
    /// model); None for any other width.
    pub fn from_encoder_inputs(inputs: usize) -> Option<Self> {
        [ModelKind::Vae, ModelKind::Cvae].into_iter().find(|k| IMAGE_PIXELS + k.label_inputs() == inputs)
    }
}

/// The shape of the model and the weight of its KL term. Defaults are the seed design's:
/// 784 → 400 → 20 → 400 → 784, β = 1, unconditional.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub hidden: usize,
    pub latent: usize,
    pub beta: f64,
    #[serde(default)]
    pub kind: ModelKind,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self { hidden: 400, latent: 20, beta: 1.0, kind: ModelKind::Vae }
    }
}

impl VaeConfig {
    /// The seed's model at these sizes.
    pub fn vae(hidden: usize, latent: usize, beta: f64) -> Self {
        Self { hidden, latent, beta, kind: ModelKind::Vae }
    }

    /// The conditional model at these sizes.
    pub fn cvae(hidden: usize, latent: usize, beta: f64) -> Self {
        Self { hidden, latent, beta, kind: ModelKind::Cvae }
    }

    pub fn validate(&self) -> Result<()> {
        LIMITS.hidden.check("hidden width", self.hidden)?;
        LIMITS.latent.check("latent size", self.latent)?;
        LIMITS.beta.check("beta", self.beta)
    }

    /// The five layers as (PyTorch name, inputs, outputs), in forward order. A conditional
    /// model's fc1 and fc3 take the one-hot label after the pixels and after z.
    pub fn layers(&self) -> [(&'static str, usize, usize); 5] {
        let labels = self.kind.label_inputs();
        [
            ("fc1", IMAGE_PIXELS + labels, self.hidden),
            ("fc21", self.hidden, self.latent),
            ("fc22", self.hidden, self.latent),
            ("fc3", self.latent + labels, self.hidden),
            ("fc4", self.hidden, IMAGE_PIXELS),
        ]
    }

    /// "of kind vae with hidden width 400, latent size 20 and β 1", for messages.
    pub fn describe(&self) -> String {
        format!(
            "of kind {} with hidden width {}, latent size {} and β {}",
            self.kind.name(),
            self.hidden,
            self.latent,
            self.beta
        )
    }

    pub fn num_params(&self) -> usize {
        self.layers().iter().map(|(_, i, o)| i * o + o).sum()
    }
}
