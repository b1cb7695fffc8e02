//! The page's second model: a conditional VAE (kind cvae) beside the sketchpad's own. A sketch has
//! no label, so the conditional model cannot answer the reconstruction, neighbours, score or map
//! (those stay the page's model's); it answers what needs a label: which digit a sketch reads as
//! and how sure it is, the sketch redrawn as every digit in the same hand, and samples of a chosen
//! digit ([`crate::model::conditional`]).

use super::Session;
use super::wire::{ModelInfo, SketchReading};
use crate::explore::sketch;
use crate::model::inference::Inference;
use crate::rng::Rng;
use crate::{CLASSES, Error, ModelKind, Result, VaeWeights};

/// The conditional model on the sketch's device.
pub(super) struct Conditional {
    pub(super) weights: VaeWeights,
    pub(super) inference: Inference,
}

impl Session {
    /// Makes `weights` (a conditional model) the page's second model, on the sketch's device.
    /// Refused, with nothing changed, for the seed's kind: the labels' panels need labels.
    pub fn set_conditional(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        if weights.config.kind != ModelKind::Cvae {
            return Err(Error::Input(format!(
                "the reading, the redraws and the chosen-digit samples need a conditional model (kind cvae); \
                 this is a model {}",
                weights.config.describe()
            )));
        }
        let inference = Inference::new(&weights, &self.devices.sketch)?;
        self.conditional = Some(Conditional { weights, inference });
        Ok(self.conditional_info().expect("just set"))
    }

    /// The conditional model's shape, if the page has one.
    pub fn conditional_info(&self) -> Option<ModelInfo> {
        self.conditional.as_ref().map(|c| {
            let config = c.weights.config;
            ModelInfo {
                hidden: config.hidden,
                latent: config.latent,
                beta: config.beta,
                parameters: config.num_params(),
                generation: 0,
            }
        })
    }

    /// The conditional model's reading of a sketch (as [`Session::analyse`] takes it) and the sketch
    /// redrawn as each digit 0–9 in its hand (z = μ(x, y) with y the reading); None for an empty
    /// sketch.
    pub async fn read_sketch(&self, grey: &[f32], width: usize, height: usize) -> Result<Option<SketchReading>> {
        let conditional = self.conditional("read a sketch")?;
        let Some(input) = sketch::preprocess(grey, width, height)? else {
            return Ok(None);
        };
        let reading = conditional.inference.read(&input).await?.remove(0);
        let redraws = conditional.inference.restyle(&input, Some(&[reading.digit])).await?;
        Ok(Some(SketchReading { digit: reading.digit, confidence: reading.confidence, redraws }))
    }

    /// `n` samples of `digit` from the conditional model, z from N(0, T² I).
    pub async fn sample_digit(&self, n: usize, temperature: f64, seed: u64, digit: u8) -> Result<Vec<f32>> {
        if usize::from(digit) >= CLASSES {
            return Err(Error::Input(format!("digit {digit}: the digits are 0 to 9")));
        }
        let conditional = self.conditional("draw a chosen digit")?;
        conditional.inference.sample(n, temperature, Some(digit), &mut Rng::new(seed)).await
    }

    fn conditional(&self, what: &str) -> Result<&Conditional> {
        self.conditional
            .as_ref()
            .ok_or_else(|| Error::Input(format!("cannot {what}: the page has no conditional model (yet)")))
    }

    /// Puts the conditional model on the sketch's device after a move of the jobs.
    pub(super) fn place_conditional(&mut self) -> Result<()> {
        if let Some(c) = &mut self.conditional {
            c.inference = Inference::new(&c.weights, &self.devices.sketch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::*;
    use crate::VaeConfig;
    use crate::device::placement::Devices;
    use crate::test_util::{backends, block_on, small_dataset};

    #[test]
    fn the_conditional_model_reads_a_sketch_and_redraws_it_as_every_digit() {
        for device in backends() {
            let mut s = Session::without_data(small(), Devices::all(&device)).unwrap();
            let e = block_on(s.read_sketch(&bar(), 56, 56)).unwrap_err().to_string();
            assert!(e.contains("no conditional model"), "{e}");
            let refused = s.set_conditional(small()).unwrap_err().to_string();
            assert!(refused.contains("need a conditional model (kind cvae)"), "{refused}");

            let cvae = VaeWeights::init(VaeConfig::cvae(16, 3, 1.0), 5).unwrap();
            let info = s.set_conditional(cvae.clone()).unwrap();
            assert_eq!((info.hidden, info.latent), (16, 3));
            let read = block_on(s.read_sketch(&bar(), 56, 56)).unwrap().unwrap();
            // What the core's reading and restyle give for the same 28 × 28 input.
            let input = sketch::preprocess(&bar(), 56, 56).unwrap().unwrap();
            let direct = Inference::new(&cvae, &device).unwrap();
            let expected = block_on(direct.read(&input)).unwrap().remove(0);
            assert_eq!((read.digit, read.confidence), (expected.digit, expected.confidence));
            let redraws = block_on(direct.restyle(&input, Some(&[expected.digit]))).unwrap();
            assert_eq!(read.redraws, redraws);
            assert_eq!(read.redraws.len(), 10 * 784);
            assert!(block_on(s.read_sketch(&vec![0.0; 56 * 56], 56, 56)).unwrap().is_none(), "an empty pad");

            let threes = block_on(s.sample_digit(4, 1.0, 9, 3)).unwrap();
            assert_eq!(threes, block_on(direct.sample(4, 1.0, Some(3), &mut Rng::new(9))).unwrap());
            assert!(block_on(s.sample_digit(4, 1.0, 9, 10)).is_err());

            // It follows the sketch's device, and stays when the page's model changes.
            s.set_data(Arc::new(small_dataset())).unwrap();
            assert!(s.place(Devices::all(&backends()[0])).unwrap());
            s.load_model(small()).unwrap();
            let again = block_on(s.read_sketch(&bar(), 56, 56)).unwrap().unwrap();
            assert_eq!(again.digit, read.digit);
        }
    }
}
