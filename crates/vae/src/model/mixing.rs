//! Extra digits mixed into every training batch beside the training set's: a person's own digits,
//! so that a model fine-tuned on the data set learns their hand too without forgetting the rest.
//! A share of each batch comes from them, in a shuffled order of their own that is shuffled again
//! (by the trainer's random stream, so a seed gives the same batches) each time it is used up;
//! the rest of the batch is the training set's, which still makes the epoch.

use crate::limits::LIMITS;
use crate::rng::Rng;
use crate::{Error, IMAGE_PIXELS, Result};

/// The extra digits, their share of each batch and where the trainer is in their order: part of a
/// trainer's state ([`crate::model::train::TrainerState`]), so a run that mixes resumes exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct MixingState {
    /// The share of each batch drawn from the extra digits (see [`MixingState::per_batch`]).
    pub share: f64,
    /// 0–9 per digit: a conditional model learns each with its label.
    pub labels: Vec<u8>,
    /// Grey levels × 255, 784 per digit.
    pub pixels: Vec<u8>,
    /// The order the digits are drawn in, and the next one's place in it.
    pub order: Vec<usize>,
    pub cursor: usize,
}

impl MixingState {
    /// The digits `pixels` (784 grey levels × 255 each) with their `labels`, to make `share` of
    /// each batch; drawn in their own order until a trainer shuffles it
    /// ([`crate::Trainer::with_mixing`]).
    pub fn new(labels: Vec<u8>, pixels: Vec<u8>, share: f64) -> Result<Self> {
        let n = labels.len();
        let mixing = Self { share, labels, pixels, order: (0..n).collect(), cursor: 0 };
        mixing.validate()?;
        Ok(mixing)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Every part checked, with what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Input(format!("the digits mixed into training {what}")));
        LIMITS.your_share.check("share of each batch", self.share)?;
        let n = self.labels.len();
        if n == 0 {
            return bad("are none".into());
        }
        if self.pixels.len() != n * IMAGE_PIXELS {
            return bad(format!("are {} grey levels for {n} labels, not {}", self.pixels.len(), n * IMAGE_PIXELS));
        }
        if let Some(i) = self.labels.iter().position(|&l| l > 9) {
            return bad(format!("have label {} at digit {i}, not a digit 0–9", self.labels[i]));
        }
        let mut sorted = self.order.clone();
        sorted.sort_unstable();
        if sorted != (0..n).collect::<Vec<_>>() {
            return bad(format!("are drawn in an order that is not one of their {n}"));
        }
        if self.cursor > n {
            return bad(format!("are at place {} of {n}", self.cursor));
        }
        Ok(())
    }

    /// How many of a batch of `batch` are extra digits: `share` of it, rounded, at least one and
    /// at most all but one (the training set's part makes the epoch go on).
    pub fn per_batch(&self, batch: usize) -> usize {
        ((self.share * batch as f64).round() as usize).clamp(1, batch.saturating_sub(1).max(1))
    }

    /// Refused for a batch too small to hold both parts.
    pub fn check_batch(&self, batch: usize) -> Result<()> {
        if batch < 2 {
            return Err(Error::Input(format!(
                "a batch of {batch} cannot hold both training digits and the digits mixed in: at least 2"
            )));
        }
        Ok(())
    }

    /// The next `n` digits of the order (positions among the extra digits), the order shuffled
    /// again by `rng` each time it is used up.
    pub fn draw(&mut self, n: usize, rng: &mut Rng) -> Vec<usize> {
        (0..n)
            .map(|_| {
                if self.cursor == self.order.len() {
                    rng.shuffle(&mut self.order);
                    self.cursor = 0;
                }
                self.cursor += 1;
                self.order[self.cursor - 1]
            })
            .collect()
    }

    /// The digits at `picks` (positions), as grey levels in [0, 1].
    pub fn images(&self, picks: &[usize]) -> Vec<f32> {
        picks
            .iter()
            .flat_map(|&i| self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].iter().map(|&p| p as f32 / 255.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(n: usize) -> MixingState {
        let pixels = (0..n * IMAGE_PIXELS).map(|i| (i / IMAGE_PIXELS) as u8).collect();
        MixingState::new((0..n).map(|i| (i % 10) as u8).collect(), pixels, 0.25).unwrap()
    }

    #[test]
    fn each_batch_takes_its_share_and_every_digit_comes_once_per_round() {
        let mut mixing = digits(7);
        assert_eq!(
            [mixing.per_batch(128), mixing.per_batch(8), mixing.per_batch(2), mixing.per_batch(3)],
            [32, 2, 1, 1]
        );
        let almost_all = MixingState { share: 0.9, ..digits(3) };
        assert_eq!(almost_all.per_batch(4), 3, "all but one at most");
        let mut rng = Rng::new(5);
        // Two rounds of 7: each digit once per round, the second round in another order.
        let drawn = mixing.draw(14, &mut rng);
        let (first, second) = drawn.split_at(7);
        for round in [first, second] {
            let mut sorted = round.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        }
        assert_eq!(first, (0..7).collect::<Vec<_>>(), "the order as given until a trainer shuffles it");
        assert_ne!(first, second, "used up, the order is shuffled again");
        // The same stream, the same draws.
        let (mut again, mut rng_again) = (digits(7), Rng::new(5));
        assert_eq!(again.draw(14, &mut rng_again), drawn);
        assert_eq!(mixing.images(&[3])[..2], [3.0 / 255.0, 3.0 / 255.0]);
    }

    #[test]
    fn bad_mixings_are_refused_with_what_is_wrong() {
        let err = |m: MixingState| m.validate().unwrap_err().to_string();
        assert!(err(MixingState { share: 0.0, ..digits(3) }).contains("share of each batch 0 is outside"));
        assert!(err(MixingState { share: f64::NAN, ..digits(3) }).contains("share of each batch NaN"));
        assert!(MixingState::new(vec![], vec![], 0.25).unwrap_err().to_string().contains("are none"));
        assert!(err(MixingState { pixels: vec![0; 5], ..digits(3) }).contains("5 grey levels for 3 labels"));
        assert!(err(MixingState { labels: vec![1, 12, 3], ..digits(3) }).contains("label 12 at digit 1"));
        assert!(err(MixingState { order: vec![0, 0, 2], ..digits(3) }).contains("not one of their 3"));
        assert!(err(MixingState { cursor: 4, ..digits(3) }).contains("place 4 of 3"));
        assert!(digits(3).check_batch(1).unwrap_err().to_string().contains("at least 2"));
    }
}
