//! The model: the network, its weights and their files, its loss, training (Adam, the loop, a
//! run's snapshot) and inference on a trained model.

pub mod adam;
pub mod inference;
pub mod loss;
pub mod network;
pub mod snapshot;
pub mod train;
pub mod weights;
