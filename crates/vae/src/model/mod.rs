//! The model: the network, its weights and their files, its loss, training (Adam, the loop, a
//! run's snapshot), inference on a trained model, what only the conditional model does (read,
//! restyle), and the measures that judge it.

pub mod adam;
pub mod conditional;
pub mod inference;
pub mod loss;
pub mod network;
pub mod quality;
pub mod snapshot;
pub mod train;
pub mod weights;
