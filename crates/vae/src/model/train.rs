//! The training loop, written by hand (burn-train blocks on wasm): Adam, one call = one step, so a
//! page can drive it step by step and stay responsive; epoch helpers on top. Its whole state can be
//! taken out ([`Trainer::state`]) and a trainer made from it ([`Trainer::resume`]) that goes on
//! exactly as the first would have.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::limits::LIMITS;
use crate::model::adam::Adam;
use crate::model::inference::{EvalReport, Inference};
use crate::model::loss::{LossParts, LossTerms, LossTotals};
use crate::model::mixing::MixingState;
use crate::model::network::{Vae, label_rows};
use crate::model::weights::LayerWeights;
use crate::rng::Rng;
use crate::tensor::{matrix, read};
use crate::{Dataset, Error, IMAGE_PIXELS, Result, VaeConfig, VaeWeights};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainerOptions {
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Seeds the shuffling and ε (and nothing else: initial weights come with the weights).
    pub seed: u64,
}

impl Default for TrainerOptions {
    fn default() -> Self {
        Self { learning_rate: 1e-3, batch_size: 128, seed: 0 }
    }
}

impl TrainerOptions {
    pub fn validate(&self) -> Result<()> {
        LIMITS.learning_rate.check("learning rate", self.learning_rate)?;
        LIMITS.batch_size.check("batch size", self.batch_size)
    }
}

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// Steps taken so far, this one included.
    pub step: u64,
    /// The epoch this step belongs to (0-based).
    pub epoch: usize,
    /// Images in this step's batch.
    pub batch: usize,
    /// True when this step finished its epoch.
    pub epoch_done: bool,
    pub parts: LossParts,
}

/// Adam's moments, laid out as the model's weights (PyTorch's layout), after `time` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamMoments {
    pub time: u64,
    pub first: [LayerWeights; 5],
    pub second: [LayerWeights; 5],
}

/// A trainer's whole state on the host (see [`Trainer::state`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerState {
    pub weights: VaeWeights,
    /// None before the first step.
    pub moments: Option<AdamMoments>,
    pub options: TrainerOptions,
    /// The training stream (shuffles and ε) and the evaluation's (ε of the test loss).
    pub rng: [u64; 4],
    pub eval_rng: [u64; 4],
    /// This epoch's order of the training digits, and the next batch's start in it.
    pub order: Vec<usize>,
    pub cursor: usize,
    pub epoch: usize,
    pub step: u64,
    pub epoch_totals: LossTotals,
    /// The extra digits mixed into each batch, if any ([`Trainer::with_mixing`]).
    pub mixing: Option<MixingState>,
}

pub struct Trainer {
    model: Vae,
    /// The weights whose loss was last found finite (before their update): what divergence
    /// restores, since the update that made the loss non-finite was the one after them.
    last_good: Vae,
    optim: Adam,
    config: VaeConfig,
    options: TrainerOptions,
    device: Device,
    rng: Rng,
    /// ε for [`Trainer::evaluate`], apart from training's so evaluating does not change training.
    eval_rng: Rng,
    train: Vec<usize>,
    order: Vec<usize>,
    cursor: usize,
    epoch: usize,
    step: u64,
    epoch_totals: LossTotals,
    mixing: Option<MixingState>,
}

impl Trainer {
    /// `train` are the data set indices to learn from.
    pub fn new(weights: &VaeWeights, train: Vec<usize>, options: TrainerOptions, device: &Device) -> Result<Self> {
        options.validate()?;
        if train.is_empty() {
            return Err(Error::Data("no training digits".into()));
        }
        let device = device.clone().autodiff();
        let mut rng = Rng::new(options.seed);
        let mut order = train.clone();
        rng.shuffle(&mut order);
        let model = Vae::from_weights(weights, &device)?;
        Ok(Self {
            last_good: model.clone(),
            model,
            optim: Adam::default(),
            config: weights.config,
            options,
            device,
            rng,
            eval_rng: Rng::new(options.seed ^ 0x7E57),
            train,
            order,
            cursor: 0,
            epoch: 0,
            step: 0,
            epoch_totals: LossTotals::default(),
            mixing: None,
        })
    }

    /// The trainer mixes `mixing`'s digits into every batch: [`MixingState::per_batch`] of each
    /// batch of the options' size, the rest from the training digits (so an epoch, a pass over
    /// those, takes more steps). Their order is shuffled by the trainer's random stream, so a seed
    /// gives the same batches. Before the first step only.
    pub fn with_mixing(mut self, mut mixing: MixingState) -> Result<Self> {
        if self.step > 0 {
            return Err(Error::Input("digits are mixed into a run from its first step".into()));
        }
        mixing.validate()?;
        mixing.check_batch(self.options.batch_size)?;
        self.rng.shuffle(&mut mixing.order);
        mixing.cursor = 0;
        self.mixing = Some(mixing);
        Ok(self)
    }

    /// Everything the trainer is, on the host: the weights, Adam's moments and step count, both
    /// random streams, the epoch's order and where it is in it. Refused (as divergence) if the
    /// weights are not finite, as [`Trainer::weights`].
    pub async fn state(&mut self) -> Result<TrainerState> {
        let weights = self.weights().await?;
        let moments = match &self.optim.moments {
            None => None,
            Some((m1, m2)) => {
                let read = async |m: &Vae, which: &str| {
                    m.to_weights(self.config.beta)
                        .await
                        .map(|w| w.layers)
                        .map_err(|e| Error::Diverged { step: self.step, what: format!("Adam's {which} moments: {e}") })
                };
                Some(AdamMoments {
                    time: self.optim.time,
                    first: read(m1, "first").await?,
                    second: read(m2, "second").await?,
                })
            }
        };
        Ok(TrainerState {
            weights,
            moments,
            options: self.options,
            rng: self.rng.state(),
            eval_rng: self.eval_rng.state(),
            order: self.order.clone(),
            cursor: self.cursor,
            epoch: self.epoch,
            step: self.step,
            epoch_totals: self.epoch_totals,
            mixing: self.mixing.clone(),
        })
    }

    /// A trainer that goes on from `state` as the one it was taken from would have (the same
    /// batches, ε and updates), training on `train` (the same digits, or it is refused). Every part
    /// of the state is checked; an error says what is wrong. The last good weights (divergence's
    /// fallback) start as the state's weights.
    pub fn resume(state: TrainerState, train: Vec<usize>, device: &Device) -> Result<Self> {
        let bad = |what: String| Err(Error::Input(format!("the training run's state {what}")));
        state.options.validate()?;
        state.weights.validate()?;
        let config = state.weights.config;
        let mut sorted = state.order.clone();
        sorted.sort_unstable();
        let mut expected = train.clone();
        expected.sort_unstable();
        if sorted != expected {
            return bad(format!(
                "orders {} digits that are not this data set's {} training digits",
                state.order.len(),
                train.len()
            ));
        }
        if let Some(mixing) = &state.mixing {
            mixing.validate()?;
            mixing.check_batch(state.options.batch_size)?;
        }
        let batch = training_part(state.options.batch_size, state.mixing.as_ref());
        let steps_per_epoch = train.len().div_ceil(batch) as u64;
        if state.cursor >= train.len() || !state.cursor.is_multiple_of(batch) {
            return bad(format!("is at digit {} of an epoch of {} in batches of {batch}", state.cursor, train.len()));
        }
        if state.step != state.epoch as u64 * steps_per_epoch + (state.cursor / batch) as u64 {
            return bad(format!("counts {} steps at epoch {}, digit {}", state.step, state.epoch, state.cursor));
        }
        let (Some(rng), Some(eval_rng)) = (Rng::from_state(state.rng), Rng::from_state(state.eval_rng)) else {
            return bad("has an empty random generator".into());
        };
        let totals = state.epoch_totals;
        if !(totals.recon.is_finite() && totals.kl.is_finite()) {
            return bad("has non-finite loss totals".into());
        }
        let device = device.clone().autodiff();
        let optim = match state.moments {
            None if state.step == 0 => Adam::default(),
            None => return bad(format!("has no Adam moments after {} steps", state.step)),
            Some(m) => {
                if m.time != state.step {
                    return bad(format!("has Adam at step {} and training at step {}", m.time, state.step));
                }
                let moments = |layers, which: &str| {
                    let w = VaeWeights { config, layers };
                    w.validate().map_err(|e| Error::Input(format!("the training run's Adam {which} moments: {e}")))?;
                    Vae::from_weights(&w, &device.clone().without_autodiff())
                };
                let (first, second) = (moments(m.first, "first")?, moments(m.second, "second")?);
                Adam { time: m.time, moments: Some((first, second)) }
            }
        };
        let model = Vae::from_weights(&state.weights, &device)?;
        Ok(Self {
            last_good: model.clone(),
            model,
            optim,
            config,
            options: state.options,
            device,
            rng,
            eval_rng,
            train,
            order: state.order,
            cursor: state.cursor,
            epoch: state.epoch,
            step: state.step,
            epoch_totals: totals,
            mixing: state.mixing,
        })
    }

    pub fn options(&self) -> TrainerOptions {
        self.options
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(training_part(self.options.batch_size, self.mixing.as_ref()))
    }

    /// The digits mixed into each batch, if any.
    pub fn mixing(&self) -> Option<&MixingState> {
        self.mixing.as_ref()
    }

    pub fn epoch(&self) -> usize {
        self.epoch
    }

    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One Adam step on the next batch. The loss is read once, after the update (no wait between
    /// forward and backward); if it is not finite the update is undone, the weights go back to the
    /// last good ones (see `last_good`), and the error says what happened.
    pub async fn step(&mut self, data: &Dataset) -> Result<StepReport> {
        let part = training_part(self.options.batch_size, self.mixing.as_ref());
        let end = (self.cursor + part).min(self.order.len());
        let batch = &self.order[self.cursor..end];
        let mut images = data.images(batch);
        let mut labels = data.model_labels(self.config.kind, batch);
        if let Some(mixing) = &mut self.mixing {
            let extra = mixing.draw(self.options.batch_size - part, &mut self.rng);
            images.extend(mixing.images(&extra));
            if let Some(labels) = &mut labels {
                labels.extend(extra.iter().map(|&i| mixing.labels[i]));
            }
        }
        let n = images.len() / IMAGE_PIXELS;
        let latent = self.config.latent;
        let x = matrix(images, n, IMAGE_PIXELS, &self.device);
        let y = label_rows(self.config.kind, labels.as_deref(), n, &self.device)?;
        let eps = matrix(self.rng.normals(n * latent, 1.0), n, latent, &self.device);
        let terms = LossTerms::of(&self.model, x, y, Some(eps));
        let loss = terms.total(self.config.beta).mean();
        let sums = terms.sums().detach();

        let before = self.model.clone();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.options.learning_rate, self.model.clone(), grads);
        let sums = read(sums).await?;
        let mut batch_totals = LossTotals::default();
        batch_totals.add(&sums, n)?;
        let parts = batch_totals.mean(self.config.beta);
        if !parts.is_finite() {
            self.model = self.last_good.clone();
            return Err(Error::Diverged {
                step: self.step + 1,
                what: format!("the loss became {} (reconstruction {}, KL {})", parts.loss, parts.recon, parts.kl),
            });
        }
        self.last_good = before;

        self.step += 1;
        self.epoch_totals.add(&sums, n)?;
        let report =
            StepReport { step: self.step, epoch: self.epoch, batch: n, epoch_done: end == self.order.len(), parts };
        self.cursor = end;
        if report.epoch_done {
            self.cursor = 0;
            self.epoch += 1;
            self.rng.shuffle(&mut self.order);
        }
        Ok(report)
    }

    /// Runs the rest of the current epoch; returns the mean training loss over it (as the seed's
    /// "Average loss": every image's loss under the weights of the step that saw it).
    pub async fn train_epoch(&mut self, data: &Dataset, mut on_step: impl FnMut(&StepReport)) -> Result<LossParts> {
        loop {
            let report = self.step(data).await?;
            on_step(&report);
            if report.epoch_done {
                let mean = self.epoch_totals.mean(self.config.beta);
                self.epoch_totals = LossTotals::default();
                return Ok(mean);
            }
        }
    }

    /// Test figures of the current weights on `indices` (the CLI's and the page's per-epoch test
    /// loss: same seed, same ε, same numbers).
    pub async fn evaluate(&mut self, data: &Dataset, indices: &[usize]) -> Result<EvalReport> {
        self.inference().evaluate(data, indices, &mut self.eval_rng).await
    }

    /// The current weights as an inference model on the same (non-autodiff) device.
    pub fn inference(&self) -> Inference {
        Inference { model: self.model.valid(), config: self.config, device: self.device.clone().without_autodiff() }
    }

    /// The current weights on the host. If the last update left a non-finite weight (its loss is
    /// not measured until the next step), the last good weights are restored and this is the
    /// divergence error.
    pub async fn weights(&mut self) -> Result<VaeWeights> {
        match self.model.to_weights(self.config.beta).await {
            Err(Error::Weights(what)) => {
                self.model = self.last_good.clone();
                Err(Error::Diverged { step: self.step, what })
            }
            other => other,
        }
    }
}

/// How many training digits a batch of `batch` holds: all of it, or what the mixed-in digits leave.
fn training_part(batch: usize, mixing: Option<&MixingState>) -> usize {
    batch - mixing.map_or(0, |m| m.per_batch(batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Split;
    use crate::test_util::{backends, block_on, dataset};

    fn run(device: &Device, steps: usize, lr: f64) -> (Vec<LossParts>, Result<StepReport>) {
        let data = dataset();
        let weights = VaeWeights::init(VaeConfig::default(), 0).unwrap();
        let options = TrainerOptions { learning_rate: lr, ..Default::default() };
        let mut t = Trainer::new(&weights, data.indices(Split::Train), options, device).unwrap();
        let mut parts = Vec::new();
        for _ in 0..steps {
            match block_on(t.step(&data)) {
                Ok(r) => parts.push(r.parts),
                Err(e) => return (parts, Err(e)),
            }
        }
        let last = block_on(t.step(&data));
        (parts, last)
    }

    #[test]
    fn fifty_steps_make_the_loss_fall_and_runs_are_deterministic() {
        let device = &backends()[0];
        let (a, _) = run(device, 50, 1e-3);
        let first = a[..5].iter().map(|p| p.loss).sum::<f64>() / 5.0;
        let last = a[45..].iter().map(|p| p.loss).sum::<f64>() / 5.0;
        assert!(a[0].loss > 500.0, "an untrained model's loss is about 543 nats, got {}", a[0].loss);
        assert!(last < 0.5 * first, "loss fell only from {first} to {last}");
        let (b, _) = run(device, 50, 1e-3);
        assert_eq!(a, b, "same seed, same CPU backend: same losses");
    }

    /// The conditional model trains by the same loop, on both backends, with the same numbers on
    /// each (its labels come from the data set), and its state resumes as the seed's does.
    #[test]
    fn the_conditional_model_trains_by_the_same_loop_on_both_backends() {
        let data = crate::test_util::small_dataset();
        let weights = VaeWeights::init(VaeConfig::cvae(32, 2, 1.0), 0).unwrap();
        let options = TrainerOptions { batch_size: 64, learning_rate: 1e-2, ..Default::default() };
        let mut runs = Vec::new();
        for device in backends() {
            let mut t = Trainer::new(&weights, data.indices(Split::Train), options, &device).unwrap();
            let first = block_on(t.step(&data)).unwrap().parts.loss;
            let mut losses = vec![first];
            for _ in 0..29 {
                losses.push(block_on(t.step(&data)).unwrap().parts.loss);
            }
            assert!(losses[25..].iter().sum::<f64>() / 5.0 < 0.6 * first, "loss fell only from {first}: {losses:?}");
            // Paused and resumed: the next step is the same step.
            let state = block_on(t.state()).unwrap();
            assert_eq!(state.weights.config.kind, crate::ModelKind::Cvae);
            let mut resumed = Trainer::resume(state, data.indices(Split::Train), &device).unwrap();
            assert_eq!(block_on(resumed.step(&data)).unwrap(), block_on(t.step(&data)).unwrap());
            runs.push(losses);
        }
        for other in &runs[1..] {
            for (a, b) in runs[0].iter().zip(other) {
                assert!((a - b).abs() <= 1e-4 * a.abs(), "backends disagree: {a} vs {b}");
            }
        }
        // An unlabelled digit cannot train it.
        let mut unlabelled = data.clone();
        unlabelled.labels[data.indices(Split::Train)[3]] = 255;
        let mut t = Trainer::new(&weights, data.indices(Split::Train), options, &backends()[0]).unwrap();
        let e = block_on(t.train_epoch(&unlabelled, |_| {})).unwrap_err().to_string();
        assert!(e.contains("label 255 is not a digit"), "{e}");
    }

    /// A hand unlike MNIST's (slanted, thick test digits): 40 to mix in, 15 held out. Mixed into
    /// every batch (a quarter of it), they teach the model that hand: the loss on the held-out
    /// ones falls, far more than by the same steps on the training digits alone; and the run is
    /// the same for the same seed, and resumes exactly from its state.
    #[test]
    fn mixing_digits_of_a_hand_into_each_batch_teaches_that_hand() {
        let data = crate::test_util::small_dataset();
        let weights = VaeWeights::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model/default.safetensors"),
        )
        .unwrap();
        let test = data.indices(Split::Test);
        let hand: Vec<Vec<f32>> = test[..55].iter().map(|&i| crate::test_util::unusual_hand(&data.image(i))).collect();
        let to_bytes =
            |images: &[Vec<f32>]| images.iter().flatten().map(|v| (v * 255.0).round() as u8).collect::<Vec<u8>>();
        let labels: Vec<u8> = test[..40].iter().map(|&i| data.labels[i]).collect();
        let held: Vec<f32> = to_bytes(&hand[40..]).iter().map(|&p| p as f32 / 255.0).collect();
        let options = TrainerOptions { batch_size: 64, learning_rate: 1e-3, seed: 5 };
        for device in backends() {
            let held_loss = |t: &Trainer| {
                let losses = block_on(t.inference().losses(&held, None, None)).unwrap();
                losses.iter().map(|p| p.loss).sum::<f64>() / losses.len() as f64
            };
            let mixed = |steps: usize| {
                let mixing = MixingState::new(labels.clone(), to_bytes(&hand[..40]), 0.25).unwrap();
                let mut t = Trainer::new(&weights, data.indices(Split::Train), options, &device)
                    .unwrap()
                    .with_mixing(mixing)
                    .unwrap();
                let reports: Vec<StepReport> = (0..steps).map(|_| block_on(t.step(&data)).unwrap()).collect();
                (t, reports)
            };
            let (t, reports) = mixed(24);
            let before = held_loss(&Trainer::new(&weights, vec![0], options, &device).unwrap());
            let after = held_loss(&t);
            // 16 of each 64 are the hand's: an epoch of the 564 training digits is 12 steps of 48.
            assert_eq!((t.steps_per_epoch(), t.mixing().unwrap().per_batch(64)), (12, 16));
            // 564 = 11 × 48 + 36: each epoch's last batch holds 36 training digits and 16 of the hand's.
            assert!(reports.iter().all(|r| r.batch == if r.epoch_done { 52 } else { 64 }));
            assert_eq!(reports.iter().filter(|r| r.epoch_done).count(), 2);
            // The same steps on the training digits alone (48 a batch).
            let alone_options = TrainerOptions { batch_size: 48, ..options };
            let mut alone = Trainer::new(&weights, data.indices(Split::Train), alone_options, &device).unwrap();
            for _ in 0..24 {
                block_on(alone.step(&data)).unwrap();
            }
            let without = held_loss(&alone);
            eprintln!(
                "held-out hand on {device:?}: {before:.2} nats before, {after:.2} mixed in, {without:.2} without"
            );
            assert!(after < before - 10.0, "mixed in: {before} → {after} nats");
            assert!(before - without < (before - after) / 3.0, "alone: {before} → {without}, mixed in: {after}");
            // Deterministic by seed, and resumable.
            let (_, again) = mixed(24);
            assert_eq!(again, reports);
            let (mut first, _) = mixed(5);
            let state = block_on(first.state()).unwrap();
            assert_eq!(state.mixing.as_ref().unwrap().len(), 40);
            let mut resumed = Trainer::resume(state, data.indices(Split::Train), &device).unwrap();
            for r in &reports[5..9] {
                assert_eq!(&block_on(resumed.step(&data)).unwrap(), r);
            }
            // A batch of 1 cannot hold both parts; a bad share is refused.
            let mixing = || MixingState::new(labels.clone(), to_bytes(&hand[..40]), 0.25).unwrap();
            let one = TrainerOptions { batch_size: 1, ..options };
            let e = Trainer::new(&weights, vec![0, 1], one, &device).unwrap().with_mixing(mixing()).err().unwrap();
            assert!(e.to_string().contains("at least 2"), "{e}");
            let e = Trainer::new(&weights, vec![0, 1], options, &device)
                .unwrap()
                .with_mixing(MixingState { share: 0.95, ..mixing() })
                .err()
                .unwrap();
            assert!(e.to_string().contains("share of each batch 0.95 is outside"), "{e}");
        }
    }

    #[test]
    fn an_epoch_visits_every_digit_once_and_a_partial_batch_ends_it() {
        let data = dataset();
        let weights = VaeWeights::init(VaeConfig::vae(16, 2, 1.0), 0).unwrap();
        let options = TrainerOptions { batch_size: 100, ..Default::default() };
        let train: Vec<usize> = (0..250).collect();
        let mut t = Trainer::new(&weights, train, options, &backends()[0]).unwrap();
        let mut batches = Vec::new();
        let mean = block_on(t.train_epoch(&data, |r| batches.push((r.batch, r.epoch_done)))).unwrap();
        assert_eq!(batches, vec![(100, false), (100, false), (50, true)]);
        assert!(mean.is_finite());
        assert_eq!((t.epoch(), t.steps()), (1, 3));
    }

    #[test]
    fn a_diverging_step_is_refused_and_the_weights_stay() {
        let device = &backends()[0];
        let data = dataset();
        let weights = VaeWeights::init(VaeConfig::default(), 0).unwrap();
        let options = TrainerOptions { learning_rate: 100.0, ..Default::default() };
        let mut t = Trainer::new(&weights, data.indices(Split::Train), options, device).unwrap();
        // The weights each step started from. The last good ones are those of the last step whose
        // loss was finite: the last start when the weights themselves went non-finite, the one
        // before it when a step's loss did.
        let mut starts = Vec::new();
        let mut diverged = None;
        for _ in 0..50 {
            match block_on(t.weights()) {
                Ok(w) => starts.push(w),
                Err(e) => {
                    diverged = Some((e, starts.len() - 1));
                    break;
                }
            }
            if let Err(e) = block_on(t.step(&data)) {
                diverged = Some((e, starts.len() - 2));
                break;
            }
        }
        let (e, good) = diverged.expect("lr 100 must diverge within 50 steps");
        assert!(e.to_string().contains("training diverged"), "{e}");
        let restored = block_on(t.weights()).unwrap();
        assert_eq!(restored, starts[good], "divergence must bring back the last good weights");
        assert!(restored.validate().is_ok());
        assert!(TrainerOptions { learning_rate: f64::NAN, ..Default::default() }.validate().is_err());
        assert!(TrainerOptions { batch_size: 0, ..Default::default() }.validate().is_err());
    }
}
