//! The page's second model: a conditional VAE (kind cvae) beside the sketchpad's own. A sketch has
//! no label, so the conditional model cannot answer the reconstruction, neighbours, score or map
//! (those stay the page's model's); it answers what needs a label: which digit a sketch reads as
//! and how sure it is, the sketch redrawn as every digit in the same hand, and samples of a chosen
//! digit ([`crate::model::conditional`]). It is a model like the page's own: trained from scratch
//! or fine-tuned on the person's digits ([`super::training`], [`super::yours`]: a run names the
//! kind it trains), kept in the session's record ([`super::record`]), exported and imported.

use super::Session;
use super::history::ModelHistory;
use super::wire::{History, ModelInfo, SketchReading};
use crate::explore::sketch;
use crate::model::inference::Inference;
use crate::rng::Rng;
use crate::{CLASSES, Error, ModelKind, Result, VaeWeights};

/// The conditional model on the sketch's device, with its training history.
pub(super) struct Conditional {
    pub(super) weights: VaeWeights,
    pub(super) inference: Inference,
    pub(super) history: ModelHistory,
    /// Trained, imported or restored in this session: the session's own, which its record keeps.
    /// The shipped model ([`Session::set_conditional`]) is not: the page fetches it again.
    pub(super) own: bool,
    /// Changes of this model so far (as [`ModelInfo::generation`] counts the page's).
    pub(super) generation: u64,
}

/// Refused, with nothing changed, for the seed's kind: the labels' panels need labels.
fn check_conditional(weights: &VaeWeights) -> Result<()> {
    if weights.config.kind != ModelKind::Cvae {
        return Err(Error::Input(format!(
            "the reading, the redraws and the chosen-digit samples need a conditional model (kind cvae); this is a \
             model {}",
            weights.config.describe()
        )));
    }
    Ok(())
}

impl Session {
    /// Makes the shipped conditional model `weights` the page's second model, on the sketch's
    /// device, unless the session holds one of its own (trained, imported or restored from a
    /// record): that one stays, as the person left it. Its shape either way.
    pub fn set_conditional(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        check_conditional(&weights)?;
        if !self.conditional.as_ref().is_some_and(|c| c.own) {
            self.replace_conditional(weights, ModelHistory::default(), false)?;
        }
        Ok(self.conditional_info().expect("just set"))
    }

    /// Makes `weights` (a conditional model, imported) the session's own conditional model, with
    /// no training history. Refused during a training run (stop it first), and for the seed's kind,
    /// with nothing changed.
    pub fn load_conditional(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        check_conditional(&weights)?;
        if self.is_training() {
            return Err(Error::Input("cannot import a conditional model during a training run: stop it first".into()));
        }
        self.replace_conditional(weights, ModelHistory::default(), true)?;
        Ok(self.conditional_info().expect("just set"))
    }

    /// `weights` become the conditional model (on the sketch's device) with `history`.
    pub(super) fn replace_conditional(&mut self, weights: VaeWeights, history: ModelHistory, own: bool) -> Result<()> {
        let inference = Inference::new(&weights, &self.devices.sketch)?;
        let generation = self.conditional.as_ref().map_or(0, |c| c.generation + 1);
        self.conditional = Some(Conditional { weights, inference, history, own, generation });
        Ok(())
    }

    /// The conditional model's shape, if the page has one.
    pub fn conditional_info(&self) -> Option<ModelInfo> {
        self.conditional.as_ref().map(|c| ModelInfo::of(&c.weights, c.generation))
    }

    /// The conditional model's weights, if the page has one (its export).
    pub fn conditional_weights(&self) -> Option<&VaeWeights> {
        self.conditional.as_ref().map(|c| &c.weights)
    }

    /// Whether the conditional model is the session's own (see [`Conditional::own`]).
    pub fn has_own_conditional(&self) -> bool {
        self.conditional.as_ref().is_some_and(|c| c.own)
    }

    /// The training history of the model of `kind`: the page's, or the conditional model's (None
    /// when the page has none).
    pub fn history_of(&self, kind: ModelKind) -> Option<&History> {
        match kind {
            ModelKind::Vae => Some(self.history()),
            ModelKind::Cvae => self.conditional.as_ref().map(|c| &c.history.history),
        }
    }

    /// A model file the page imports: the seed's kind becomes the page's model
    /// ([`Session::load_model`]), a conditional one the conditional model
    /// ([`Session::load_conditional`]). Its shape, with its kind.
    pub fn import_model(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        match weights.config.kind {
            ModelKind::Vae => self.load_model(weights),
            ModelKind::Cvae => self.load_conditional(weights),
        }
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

    pub(super) fn conditional(&self, what: &str) -> Result<&Conditional> {
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
