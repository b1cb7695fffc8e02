use serde::{Deserialize, Serialize};

use crate::{Error, IMAGE_PIXELS, Result};

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

/// Upper bounds that keep a model to a size a browser tab can hold.
pub const MAX_HIDDEN: usize = 4096;
pub const MAX_LATENT: usize = 512;

impl VaeConfig {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_HIDDEN).contains(&self.hidden) {
            return Err(Error::Config(format!("hidden width {} is outside 1..={MAX_HIDDEN}", self.hidden)));
        }
        if !(1..=MAX_LATENT).contains(&self.latent) {
            return Err(Error::Config(format!("latent size {} is outside 1..={MAX_LATENT}", self.latent)));
        }
        if !self.beta.is_finite() || self.beta < 0.0 {
            return Err(Error::Config(format!("beta {} must be finite and ≥ 0", self.beta)));
        }
        Ok(())
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
