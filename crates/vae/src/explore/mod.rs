//! Exploring the latent space with a trained model: the neighbour index and a sketch's score, the
//! 2-D latent map (PCA, t-SNE), and a free-hand sketch made into the model's input.

pub mod latent_map;
pub mod neighbours;
mod quadtree;
pub mod sketch;
pub mod tsne;
