//! Latent Sketchpad's core: a variational autoencoder for 28×28 digits, written against Burn's
//! runtime-dispatched [`burn::tensor::Device`], so the same code runs on burn-ndarray, on Burn's wgpu
//! backend natively (Vulkan) and on WebGPU in a browser.
//!
//! Every function that reads a tensor back is `async` and reads with `into_data_async`, because
//! synchronous reads panic on WebGPU in a browser. Native callers block on them (see `block_on` in
//! the CLI). Random numbers (initial weights, ε, shuffling) come from [`rng::Rng`] on the host, so a
//! seed gives the same numbers on every backend and results can be compared across backends.
//!
//! Where each feature lives: the model in [`model`], its loss in [`loss`], training in [`train`];
//! encode/decode/sample/interpolate/variations/evaluation in [`inference`]; nearest neighbours and
//! the score's percentile in [`neighbours`]; the 2-D latent map in [`latent_map`] (PCA) and [`tsne`]; which backend each
//! of the page's jobs runs on in [`placement`]; the page's
//! session (current model, growing index, training run and its rules) in [`session`]; sketch
//! preprocessing in [`sketch`]; the data set in [`data`]; weights files in [`weights`]; the bounds
//! on every setting in [`limits`]; host ↔ device in [`tensor`]; the cross-backend check in
//! [`check`]; the matmul routine for a wgpu adapter in `gpu` (feature `wgpu`).

pub mod config;
pub mod data;
pub mod error;
#[cfg(feature = "wgpu")]
pub mod gpu;
pub mod limits;
pub mod rng;
pub mod tensor;
#[cfg(test)]
pub(crate) mod test_util;

pub mod model;

pub mod explore;

pub mod device;

pub mod session;

pub use burn::tensor::Device;
pub use config::VaeConfig;
pub use data::{DataFormat, Dataset, Split};
pub use error::{Error, Result};
pub use explore::neighbours::{LatentIndex, Neighbour};
pub use limits::LIMITS;
pub use model::inference::Inference;
pub use model::loss::LossParts;
pub use model::network::Vae;
pub use model::train::{Trainer, TrainerOptions};
pub use model::weights::VaeWeights;
pub use session::Session;

/// Side of the square images the model reads and writes.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image (28 × 28).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
