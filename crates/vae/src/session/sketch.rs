//! The answers to a sketch, and the page's other questions of its model: samples, decodes of
//! latents and of map points, walks, traversals, a data-set digit and its code, variations.

use super::{Digit, EncodedDigit, Session, SketchAnswer, TsneStage};
use crate::explore::sketch;
use crate::explore::tsne::Tsne;
use crate::model::inference::{Walk, sample_latents, traverse_latents, walk_latents};
use crate::rng::Rng;
use crate::{Error, Result, Split};

impl Session {
    // ---- a sketch and the other questions the page asks ----------------------------------------

    /// The answer to a sketch (`grey` is `width × height`, ink = 1), or None for an empty one.
    /// Reconstruction and loss come from the current model. Neighbours and the map position come
    /// from its index once that is whole; while it grows after a change of model they come from
    /// the previous model's whole index, marked `updating`; before any index is whole (start-up),
    /// from what has been indexed so far.
    pub async fn analyse(&self, grey: &[f32], width: usize, height: usize, k: usize) -> Result<Option<SketchAnswer>> {
        let Some(input) = sketch::preprocess(grey, width, height)? else {
            return Ok(None);
        };
        let now = self.current.inference.analyse(&input).await?;
        let scored = !self.current.index.test_losses.is_empty();
        let (source, updating) = self.shown();
        let (seen, percentile) = if updating {
            let then = source.inference.analyse(&input).await?;
            let percentile = if scored {
                self.current.index.percentile(now.parts.loss)
            } else {
                source.index.percentile(then.parts.loss)
            };
            (then.mu, Some(percentile))
        } else {
            (now.mu.clone(), scored.then(|| self.current.index.percentile(now.parts.loss)))
        };
        // The data set's and the person's own digits (`yours.rs`).
        let (mut neighbours, neighbour_images) = self.neighbours_with_yours(source, &seen, k).await?;
        let indices: Vec<usize> = neighbours.iter().filter(|n| !n.yours).map(|n| n.index).collect();
        if updating && !neighbours.is_empty() {
            // Their μs under the current model, so that a walk to them is in its latent space.
            let mu = self.current.inference.encode(&neighbour_images, None).await?.mu;
            for (n, z) in neighbours.iter_mut().zip(mu.chunks(self.weights.config.latent)) {
                n.mu = z.to_vec();
            }
        }
        let tsne = match &source.tsne {
            TsneStage::Made { positions, .. } => Tsne::place(positions, &indices),
            _ => None,
        };
        Ok(Some(SketchAnswer {
            map: source.index.map.project(&seen),
            tsne,
            input,
            reconstruction: now.reconstruction,
            mu: now.mu,
            logvar: now.logvar,
            loss: now.parts.loss,
            recon: now.parts.recon,
            kl: now.parts.kl,
            neighbours,
            neighbour_images,
            percentile,
            updating,
        }))
    }

    /// `n` digits from N(0, T² I), `n × 784` grey levels.
    pub async fn sample(&self, n: usize, temperature: f64, seed: u64) -> Result<Vec<f32>> {
        self.current.inference.sample(n, temperature, None, &mut Rng::new(seed)).await
    }

    /// μ of q(z|x) of one 28 × 28 image under the page's model (a redraw picked as a walk's end).
    pub async fn encode_image(&self, image: &[f32]) -> Result<Vec<f32>> {
        if image.len() != crate::IMAGE_PIXELS {
            return Err(Error::Input(format!("an image of {} grey levels, not 784", image.len())));
        }
        Ok(self.current.inference.encode(image, None).await?.mu)
    }

    /// Decodes latents (`n × latent`).
    pub async fn decode(&self, z: &[f32]) -> Result<Vec<f32>> {
        self.current.inference.decode(z, None).await
    }

    /// The `n` latents [`Session::sample`] decodes for the same arguments.
    pub fn sample_latents(&self, n: usize, temperature: f64, seed: u64) -> Result<Vec<f32>> {
        sample_latents(n, self.weights.config.latent, temperature, &mut Rng::new(seed))
    }

    /// Decodes the point (x, y) of the map on screen with the model that made it: the previous
    /// model's while the current index grows, as for [`Session::analyse`].
    pub async fn decode_map_point(&self, x: f32, y: f32) -> Result<Vec<f32>> {
        let (shown, _) = self.shown();
        shown.inference.decode(&self.map_point_latent(x, y), None).await
    }

    /// The latent under the point (x, y) of the PCA map on screen (in the plane of its axes).
    pub fn map_point_latent(&self, x: f32, y: f32) -> Vec<f32> {
        self.shown().0.index.map.unproject([x, y])
    }

    /// `steps` decodes from latent `a` to latent `b` along `walk`, ends included.
    pub async fn interpolate(&self, a: &[f32], b: &[f32], steps: usize, walk: Walk) -> Result<Vec<f32>> {
        self.current.inference.decode(&walk_latents(a, b, steps, walk)?, None).await
    }

    /// `steps` decodes of z + t·e_dim for t from −3 to 3 (see [`traverse_latents`]).
    pub async fn traverse(&self, z: &[f32], dim: usize, steps: usize) -> Result<Vec<f32>> {
        self.current.inference.decode(&traverse_latents(z, dim, steps)?, None).await
    }

    /// The data-set digit `index` with its μ under the page's model (a point of the t-SNE map: it
    /// has no decodable coordinates, so a click there shows its digit).
    pub async fn digit(&self, index: usize) -> Result<EncodedDigit> {
        let data = self.dataset("show a data-set digit")?;
        if index >= data.len() {
            return Err(Error::Input(format!("digit {index} of a data set of {}", data.len())));
        }
        let image = data.image(index);
        let mu = self.current.inference.encode(&image, None).await?.mu;
        Ok(EncodedDigit { digit: Digit { index, label: data.labels[index], image }, mu })
    }

    /// `n` decodes of draws from q(z|x) of one 28×28 image.
    pub async fn variations(&self, image: &[f32], n: usize, seed: u64) -> Result<Vec<f32>> {
        self.current.inference.variations(image, n, &mut Rng::new(seed)).await
    }

    /// A uniformly random digit of the test split (the page's "Random digit").
    pub fn random_test_digit(&self, seed: u64) -> Result<Digit> {
        let data = self.dataset("draw a test digit")?;
        let test = data.indices(Split::Test);
        let index = test[Rng::new(seed).below(test.len())];
        Ok(Digit { index, label: data.labels[index], image: data.image(index) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::*;
    use crate::test_util::{backends, block_on, small_dataset};

    #[test]
    fn an_empty_sketch_is_an_answer_not_an_error() {
        let s = Session::new(small(), Arc::new(small_dataset()), backends()[0].clone()).unwrap();
        assert_eq!(block_on(s.analyse(&[0.0; 100], 10, 10, 8)).unwrap(), None);
        assert!(block_on(s.analyse(&[0.0; 99], 10, 10, 8)).is_err(), "a malformed sketch is still an error");
    }

    #[test]
    fn while_the_index_is_rebuilt_the_previous_whole_index_answers() {
        for device in backends() {
            let mut s = Session::new(small(), Arc::new(small_dataset()), device).unwrap();
            // Start-up: no whole index yet, so the partial one answers, not marked as updating.
            block_on(s.index_step()).unwrap();
            block_on(s.index_step()).unwrap();
            let partial = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(!partial.updating);
            assert_eq!(partial.neighbours.len(), 8);
            let indexed = s.index_progress().indexed;
            assert!(partial.neighbours.iter().all(|n| n.index < indexed));
            build_index(&mut s);
            let before = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(!before.updating && before.percentile.is_some());

            // A new model (one training epoch): its index starts empty, but the answer keeps the
            // previous model's whole index, marked as updating.
            s.train_start(request(1)).unwrap();
            while s.is_training() {
                block_on(s.train_step()).unwrap();
            }
            let during = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(during.updating);
            let indices = |a: &SketchAnswer| a.neighbours.iter().map(|n| n.index).collect::<Vec<_>>();
            assert_eq!(indices(&during), indices(&before), "the previous model's neighbours stay");
            assert_eq!(during.map, before.map);
            assert!(during.percentile.is_some());
            // … while reconstruction, loss and the neighbours' μs are the new model's.
            assert_ne!(during.reconstruction, before.reconstruction);
            let now =
                block_on(s.current.inference.encode(&s.data().unwrap().images(&indices(&during)), None)).unwrap().mu;
            assert_eq!(during.neighbours.iter().flat_map(|n| n.mu.clone()).collect::<Vec<_>>(), now);

            // Once the new index is whole it answers, and the previous one is gone.
            build_index(&mut s);
            let after = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(!after.updating);
            assert!(s.previous.is_none());
        }
    }

    #[test]
    fn walks_traverses_and_picked_digits_are_in_the_models_latent_space() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device).unwrap();
            build_index(&mut s);
            let digit = block_on(s.digit(40)).unwrap();
            assert_eq!((digit.digit.label, &digit.digit.image), (data.labels[40], &data.image(40)));
            crate::test_util::assert_close(&digit.mu, &s.current.index.mu[40 * 3..41 * 3], 1e-4);
            assert!(block_on(s.digit(data.len())).is_err());
            let z = s.sample_latents(4, 1.0, 9).unwrap();
            assert_eq!(block_on(s.sample(4, 1.0, 9)).unwrap(), block_on(s.decode(&z)).unwrap());
            let (a, b) = (&digit.mu, &z[..3]);
            for walk in [Walk::Linear, Walk::Spherical] {
                let strip = block_on(s.interpolate(a, b, 6, walk)).unwrap();
                let ends = block_on(s.decode(&[a.clone(), b.to_vec()].concat())).unwrap();
                // Decodes in batches of other sizes: the same to rounding.
                crate::test_util::assert_close(&strip[..784], &ends[..784], 1e-5);
                crate::test_util::assert_close(&strip[5 * 784..], &ends[784..], 1e-5);
            }
            let traverse = block_on(s.traverse(a, 2, 7)).unwrap();
            crate::test_util::assert_close(&traverse[3 * 784..4 * 784], &block_on(s.decode(a)).unwrap(), 1e-5);
            let p = s.map_points();
            let z = s.map_point_latent(p.points[80], p.points[81]);
            let [x, y] = s.current.index.map.project(&z);
            assert!((x - p.points[80]).abs() < 1e-4 && (y - p.points[81]).abs() < 1e-4);
        }
    }

    #[test]
    fn random_digits_come_from_the_test_split() {
        let s = Session::new(small(), Arc::new(small_dataset()), backends()[0].clone()).unwrap();
        let digits: Vec<Digit> = (0..200).map(|seed| s.random_test_digit(seed).unwrap()).collect();
        let data = s.data().unwrap();
        assert!(digits.iter().all(|d| data.is_test[d.index] && data.labels[d.index] == d.label));
        let labels: std::collections::BTreeSet<u8> = digits.iter().map(|d| d.label).collect();
        assert_eq!(labels.len(), 10, "200 draws cover every digit");
        assert_eq!(digits[3].image, data.image(digits[3].index));
    }
}
