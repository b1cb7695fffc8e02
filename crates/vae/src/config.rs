use serde::{Deserialize, Serialize};

use crate::limits::LIMITS;
use crate::{IMAGE_PIXELS, Result};

/// The shape of the model and the weight of its KL term. Defaults are the seed design's:
/// 784 → 400 → 20 → 400 → 784, β = 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub hidden: usize,
    pub latent: usize,
    pub beta: f64,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self { hidden: 400, latent: 20, beta: 1.0 }
    }
}

impl VaeConfig {
    pub fn validate(&self) -> Result<()> {
        LIMITS.hidden.check("hidden width", self.hidden)?;
        LIMITS.latent.check("latent size", self.latent)?;
        LIMITS.beta.check("beta", self.beta)
    }

    /// The five layers as (PyTorch name, inputs, outputs), in forward order.
    pub fn layers(&self) -> [(&'static str, usize, usize); 5] {
        [
            ("fc1", IMAGE_PIXELS, self.hidden),
            ("fc21", self.hidden, self.latent),
            ("fc22", self.hidden, self.latent),
            ("fc3", self.latent, self.hidden),
            ("fc4", self.hidden, IMAGE_PIXELS),
        ]
    }

    pub fn num_params(&self) -> usize {
        self.layers().iter().map(|(_, i, o)| i * o + o).sum()
    }
}
