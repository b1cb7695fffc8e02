//! The bounds on every setting a person can choose: the one source for the core's validation, the
//! CLI's errors and the page's form (the wasm face hands these to the page).

use std::fmt::Display;

use serde::Serialize;

use crate::{Error, Result};

/// An inclusive range of allowed values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range<T> {
    pub min: T,
    pub max: T,
}

impl<T: PartialOrd + Display + Copy> Range<T> {
    /// `value` if it lies in the range (NaN never does), else an error naming `what`.
    pub fn check(&self, what: &str, value: T) -> Result<()> {
        if value >= self.min && value <= self.max {
            Ok(())
        } else {
            Err(Error::Config(format!("{what} {value} is outside {}..={}", self.min, self.max)))
        }
    }
}

/// Bounds that keep a model and a run to what a browser tab can hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub latent: Range<usize>,
    pub hidden: Range<usize>,
    pub beta: Range<f64>,
    pub learning_rate: Range<f64>,
    pub batch_size: Range<usize>,
    pub epochs: Range<usize>,
    /// Largest weights file read (safetensors), in bytes: refused before it is parsed.
    pub max_model_bytes: usize,
    /// The share of each batch a person's own digits make when a model learns their hand.
    pub your_share: Range<f64>,
    /// The most digits a person may keep: each change encodes all of them again.
    pub max_your_digits: usize,
}

pub const LIMITS: Limits = Limits {
    latent: Range { min: 1, max: 512 },
    hidden: Range { min: 1, max: 4096 },
    beta: Range { min: 0.0, max: 100.0 },
    learning_rate: Range { min: 1e-6, max: 100.0 },
    batch_size: Range { min: 1, max: 4096 },
    epochs: Range { min: 1, max: 1000 },
    max_model_bytes: 64 << 20,
    your_share: Range { min: 0.01, max: 0.9 },
    max_your_digits: 2_000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_refuse_nan() {
        assert!(LIMITS.latent.check("latent size", 1).is_ok());
        assert!(LIMITS.latent.check("latent size", 512).is_ok());
        let e = LIMITS.latent.check("latent size", 513).unwrap_err().to_string();
        assert_eq!(e, "invalid configuration: latent size 513 is outside 1..=512");
        assert!(LIMITS.beta.check("beta", f64::NAN).is_err());
        assert!(LIMITS.learning_rate.check("learning rate", 0.0).is_err());
        assert!(LIMITS.learning_rate.check("learning rate", f64::INFINITY).is_err());
    }
}
