//! Latent Sketchpad's core: a variational autoencoder for 28×28 digits, written against Burn's
//! runtime-dispatched [`burn::tensor::Device`], so the same code runs on burn-ndarray, on Burn's wgpu
//! backend natively (Vulkan) and on WebGPU in a browser.
//!
//! Every function that reads a tensor back is `async` and reads with `into_data_async`, because
//! synchronous reads panic on WebGPU in a browser. Native callers block on them (see `block_on` in
//! the CLI). Random numbers (initial weights, ε, shuffling) come from [`rng::Rng`] on the host, so a
//! seed gives the same numbers on every backend and results can be compared across backends.
//!
//! # Layers
//! Bottom-up; a module uses only modules of its own layer or below (`scripts/check-layers.sh`
//! fails otherwise, and reads the folders' order from the `mod` declarations below):
//! 1. the base, at the crate's root: errors ([`error`]), the bounds on every setting ([`limits`]),
//!    random numbers ([`rng`]), host ↔ device and comparing read-backs ([`tensor`]), the model's
//!    shape ([`config`]), the data set ([`data`]), starting Burn's wgpu backend with the matmul
//!    routine for its adapter (`gpu`, feature `wgpu`), the unit tests' helpers (`test_util`);
//! 2. [`model`]: the network ([`model::network`]), weights and their files ([`model::weights`]),
//!    the loss, Adam, training, a training run as bytes ([`model::snapshot`]),
//!    encode/decode/sample/interpolate/variations/evaluation ([`model::inference`]), the
//!    conditional model's reading and redraws ([`model::conditional`]) and the measures that judge
//!    it ([`model::quality`]);
//! 3. [`explore`]: nearest neighbours and the score's percentile ([`explore::neighbours`]), the 2-D
//!    latent map ([`explore::latent_map`]: PCA; [`explore::tsne`]), sketch preprocessing
//!    ([`explore::sketch`]);
//! 4. [`device`]: the cross-backend check ([`device::check`]) and which backend each of the page's
//!    jobs runs on ([`device::placement`]);
//! 5. [`session`]: the page's session (current model, growing index, training run and its rules).
//!
//! The items callers use most are re-exported here ([`Inference`], [`VaeWeights`], [`Session`], …).

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

// The folders, one layer each, bottom-up (scripts/check-layers.sh reads this order).
pub mod model;

pub mod explore;

pub mod device;

pub mod session;

pub use burn::tensor::Device;
pub use config::{CLASSES, ModelKind, VaeConfig};
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
