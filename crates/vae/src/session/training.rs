//! The training run: its start (from the trained model or random weights), its steps (taken out of
//! the session to run on the training device), its epochs' ends (the trained model moves), Stop,
//! divergence (the checkpoint is back), and its snapshot to resume it exactly. A run trains the
//! page's model or the conditional one ([`super::reading`]), by the same rules; its kind says which.

use std::sync::Arc;

use super::history::{Counted, ModelHistory};
use super::{ModelInfo, RunInfo, Session, TrainProgress, TrainRequest, TrainStarted};
use crate::limits::LIMITS;
use crate::model::inference::{EvalReport, Inference, sample_latents};
use crate::model::snapshot::RunSnapshot;
use crate::model::train::{StepReport, TrainerState};
use crate::rng::Rng;
use crate::{CLASSES, Dataset, Error, ModelKind, Result, Split, Trainer, TrainerOptions, VaeConfig, VaeWeights};

/// A training run. The model it trains (the page's, or the conditional one: `kind`) is its
/// checkpoint: it becomes the trainer's weights at the end of every epoch (and on Stop), and is
/// what divergence falls back to.
pub(super) struct Run {
    pub(super) kind: ModelKind,
    trainer: Trainer,
    epochs: usize,
    /// "the end of epoch N" or "before training": what the checkpoint is, for messages.
    checkpoint: String,
    /// The model's steps and epochs before the run: its records count on from them.
    pub(super) counted: Counted,
}

/// A training step taken out of its session by [`Session::begin_step`]: [`TrainingStep::advance`]
/// runs it on the training device, borrowing nothing of the session, and
/// [`Session::end_step`] applies what it reached.
pub struct TrainingStep {
    run: Run,
    data: Arc<Dataset>,
    reads: StepReads,
    reached: Option<Result<Reached>>,
    /// The run's state after the step, if asked for and the run goes on.
    state: Option<Result<TrainerState>>,
    /// Digits from the weights after the step, if asked for.
    samples: Option<Result<Vec<f32>>>,
}

/// What a training step also reads from the training device after it, while the page's calls are
/// still answered, so that nothing waits for that device afterwards (on a GPU a read waits for the
/// step's work to finish).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepReads {
    /// The run as it is after the step ([`Session::take_step_snapshot`]).
    pub snapshot: bool,
    /// `(n, seed)`: `n` digits from the weights after the step ([`Session::take_step_samples`]).
    pub samples: Option<(usize, u64)>,
}

/// What a step reached: its report, and at an epoch's end the epoch's weights and their test
/// figures; or divergence.
enum Reached {
    Step(StepReport),
    EpochEnd { report: StepReport, weights: Box<VaeWeights>, test: EvalReport },
    Diverged(Error),
}

impl TrainingStep {
    /// One Adam step; at an epoch's end it also reads the weights and evaluates the test set.
    /// Running it again does nothing.
    pub async fn advance(&mut self) {
        if self.reached.is_none() {
            let reached = self.run_once().await;
            // The snapshot is read here, out of the session, so that the page's calls are not
            // kept waiting by the read of weights and Adam's moments from the training device.
            // At an epoch's end always: the page stores the run with each epoch's model.
            let wanted = match &reached {
                Ok(Reached::Step(_)) => self.reads.snapshot,
                Ok(Reached::EpochEnd { .. }) => self.run.trainer.epoch() < self.run.epochs,
                _ => false,
            };
            if wanted {
                self.state = Some(self.run.trainer.state().await);
            }
            if let (Ok(Reached::Step(_) | Reached::EpochEnd { .. }), Some((n, seed))) = (&reached, self.reads.samples) {
                self.samples = Some(samples_of(&self.run.trainer.inference(), n, seed).await);
            }
            self.reached = Some(reached);
        }
    }

    async fn run_once(&mut self) -> Result<Reached> {
        let diverged_or = |e: Error| match e {
            e @ Error::Diverged { .. } => Ok(Reached::Diverged(e)),
            e => Err(e),
        };
        let report = match self.run.trainer.step(&self.data).await {
            Ok(report) => report,
            Err(e) => return diverged_or(e),
        };
        if !report.epoch_done {
            return Ok(Reached::Step(report));
        }
        let weights = match self.run.trainer.weights().await {
            Ok(weights) => weights,
            Err(e) => return diverged_or(e),
        };
        let test = self.run.trainer.evaluate(&self.data, &self.data.indices(Split::Test)).await?;
        Ok(Reached::EpochEnd { report, weights: Box::new(weights), test })
    }
}

/// `n` digits from `inference`'s weights, z from N(0, I) seeded by `seed`: the page's grid of
/// digits during training. The conditional model draws them as 0, 1, …, 9, 0, … in turn.
async fn samples_of(inference: &Inference, n: usize, seed: u64) -> Result<Vec<f32>> {
    match inference.kind() {
        ModelKind::Vae => inference.sample(n, 1.0, None, &mut Rng::new(seed)).await,
        ModelKind::Cvae => {
            let z = sample_latents(n, inference.latent(), 1.0, &mut Rng::new(seed))?;
            let labels: Vec<u8> = (0..n).map(|i| (i % CLASSES) as u8).collect();
            inference.decode(&z, Some(&labels)).await
        }
    }
}

impl Session {
    /// The model of `kind` (the page's, or the conditional one), or an error saying that `what`
    /// needs it.
    pub(super) fn model_of(&self, kind: ModelKind, what: &str) -> Result<&VaeWeights> {
        match kind {
            ModelKind::Vae => Ok(&self.weights),
            ModelKind::Cvae => Ok(&self.conditional(what)?.weights),
        }
    }

    /// The shape of the model of `kind`, if the page has it.
    pub fn info_of(&self, kind: ModelKind) -> Option<ModelInfo> {
        match kind {
            ModelKind::Vae => Some(self.model_info()),
            ModelKind::Cvae => self.conditional_info(),
        }
    }

    /// The history of the model of `kind`, which a run of that kind keeps.
    pub(super) fn history_mut(&mut self, kind: ModelKind) -> &mut ModelHistory {
        match kind {
            ModelKind::Vae => &mut self.history,
            ModelKind::Cvae => &mut self.conditional.as_mut().expect("a run of the conditional model has one").history,
        }
    }

    /// A run's weights become the model of `kind`: the page's (its index grows again) or the
    /// conditional one, which is the session's own from then on.
    pub(super) fn set_trained(&mut self, kind: ModelKind, weights: VaeWeights) -> Result<()> {
        match kind {
            ModelKind::Vae => self.set_model(weights),
            ModelKind::Cvae => {
                let history = self.conditional.as_mut().map(|c| std::mem::take(&mut c.history)).unwrap_or_default();
                self.replace_conditional(weights, history, true)
            }
        }
    }

    /// Starts a run of the model of `r.kind` (the page's, or the conditional one). It continues
    /// from that model unless asked for random weights or given another shape (or, for the
    /// conditional model, the page has none yet); β may change either way. The model becomes the
    /// run's start.
    pub fn train_start(&mut self, r: TrainRequest) -> Result<TrainStarted> {
        if self.is_training() {
            return Err(Error::Input("a training run is going on already: stop it first".into()));
        }
        let config = VaeConfig { kind: r.kind, ..VaeConfig::vae(r.hidden, r.latent, r.beta) };
        config.validate()?;
        let options = TrainerOptions { learning_rate: r.learning_rate, batch_size: r.batch_size, seed: r.seed };
        options.validate()?;
        LIMITS.epochs.check("epochs", r.epochs)?;
        let shape = |c: VaeConfig| (c.hidden, c.latent);
        let current = self.model_of(r.kind, "train it").ok();
        let from_scratch = r.from_scratch || current.is_none_or(|w| shape(w.config) != shape(config));
        let weights = match current {
            Some(current) if !from_scratch => VaeWeights { config, ..current.clone() },
            _ => VaeWeights::init(config, r.seed)?,
        };
        let train = self.training_digits("train")?;
        let trainer = Trainer::new(&weights, train, options, &self.devices.training)?;
        let steps_per_epoch = trainer.steps_per_epoch();
        // Random weights or a new β make a new model (a new β changes every score); the same
        // weights keep their index.
        if current != Some(&weights) {
            self.set_trained(r.kind, weights)?;
        }
        if from_scratch {
            *self.history_mut(r.kind) = ModelHistory::default();
        }
        self.held_run = None;
        let checkpoint = if from_scratch { "the random start" } else { "before training" };
        let counted = self.history_mut(r.kind).counted();
        self.training = Some(Run::new(r.kind, trainer, r.epochs, checkpoint, counted));
        let model = self.info_of(r.kind).expect("just trained");
        Ok(TrainStarted { steps_per_epoch, from_scratch, model })
    }

    /// One Adam step of the run. At the end of an epoch the test set is evaluated and the page's
    /// model becomes the new weights. A non-finite loss or weight ends the run; the checkpoint
    /// (the model at the last epoch's end) stays the page's model.
    pub async fn train_step(&mut self) -> Result<TrainProgress> {
        let mut step = self.begin_step(StepReads::default())?;
        step.advance().await;
        self.end_step(step)
    }

    /// `n` digits from the weights being trained (when no run is on, the model of `kind`; the
    /// conditional model draws 0, 1, …, 9, 0, … in turn).
    pub async fn training_sample(&self, n: usize, seed: u64, kind: ModelKind) -> Result<Vec<f32>> {
        self.refuse_during_step("sample the weights being trained")?;
        if let Some(run) = &self.training {
            return samples_of(&run.trainer.inference(), n, seed).await;
        }
        let inference = match kind {
            ModelKind::Vae => &self.current.inference,
            ModelKind::Cvae => &self.conditional("draw its digits")?.inference,
        };
        samples_of(inference, n, seed).await
    }

    /// Takes the run out for one step, which runs without the session (see [`TrainingStep`]).
    /// Until [`Session::end_step`] the page's calls are answered with the page's model (the
    /// checkpoint), on the sketch's device, and whatever would change the model is refused.
    /// `reads`: what the step also reads after it, while the page's calls are still answered —
    /// the run as [`Session::run_snapshot`] would give it then (a step that ends an epoch always
    /// does, if the run goes on), and digits as [`Session::training_sample`] would draw them then.
    pub fn begin_step(&mut self, reads: StepReads) -> Result<TrainingStep> {
        self.refuse_during_step("start another step")?;
        let data = self.dataset("train")?.clone();
        let run = self.training.take().ok_or_else(|| Error::Input("no training run is going on".into()))?;
        self.step_under_way = true;
        self.step_snapshot = None;
        self.step_samples = None;
        Ok(TrainingStep { run, data, reads, reached: None, state: None, samples: None })
    }

    /// Applies what a step reached: the run goes on, or it ends (its epochs done, divergence, or
    /// an error, which is returned); at an epoch's end the page's model becomes the new weights.
    pub fn end_step(&mut self, step: TrainingStep) -> Result<TrainProgress> {
        if !self.step_under_way {
            return Err(Error::Input("no training step is under way".into()));
        }
        let TrainingStep { mut run, reached, state, samples, .. } = step;
        self.step_samples = samples;
        let Some(reached) = reached else {
            // Not run: the run goes back as it was.
            self.training = Some(run);
            self.step_under_way = false;
            return Err(Error::Input("the training step was ended before it ran".into()));
        };
        self.step_under_way = false;
        let mut progress = match reached? {
            Reached::Diverged(e) => {
                self.history_mut(run.kind).run_dropped();
                self.held_run = None;
                return Ok(run.diverged(e, "Training stopped; "));
            }
            Reached::Step(report) => TrainProgress { report: Some(report), ..TrainProgress::default() },
            Reached::EpochEnd { report, weights, test } => {
                self.set_trained(run.kind, *weights)?;
                run.checkpoint = format!("the end of epoch {}", run.trainer.epoch());
                let finished = run.trainer.epoch() >= run.epochs;
                TrainProgress { report: Some(report), test: Some(test), finished, ..TrainProgress::default() }
            }
        };
        self.history_mut(run.kind).step_done(run.counted, &mut progress);
        if progress.finished {
            self.held_run = None;
        }
        if !progress.finished {
            // Taken after the checkpoint moved, so it names the right one.
            self.step_snapshot = state.map(|state| {
                RunSnapshot { trainer: state?, epochs: run.epochs, checkpoint: run.checkpoint.clone() }.to_bytes()
            });
            self.training = Some(run);
        }
        Ok(progress)
    }

    /// The run as bytes after the last step, if that step read it ([`Session::begin_step`]: when
    /// asked to, or at an epoch's end) and the run went on; taken once. An error if the read failed.
    pub fn take_step_snapshot(&mut self) -> Result<Option<Vec<u8>>> {
        let taken = self.step_snapshot.take().transpose()?;
        // Not after the run ended (Stop, a new model).
        Ok(taken.filter(|_| self.training.is_some()))
    }

    /// The digits drawn after the last step, if it was asked to ([`Session::begin_step`]); taken
    /// once. An error if drawing them failed.
    pub fn take_step_samples(&mut self) -> Result<Option<Vec<f32>>> {
        self.step_samples.take().transpose()
    }

    /// Ends the run; the page's model becomes its latest weights (or stays the checkpoint, with
    /// the reason, if they are not finite). Without a run, nothing changes.
    pub async fn train_stop(&mut self) -> Result<TrainProgress> {
        self.refuse_during_step("stop the run")?;
        let Some(mut run) = self.training.take() else {
            return Ok(TrainProgress::ended());
        };
        self.held_run = None;
        match run.trainer.weights().await {
            Ok(weights) => {
                if Some(&weights) != self.model_of(run.kind, "keep a run's weights").ok() {
                    self.set_trained(run.kind, weights)?;
                }
                self.history_mut(run.kind).model_reached();
                Ok(TrainProgress::ended())
            }
            Err(e @ Error::Diverged { .. }) => {
                self.history_mut(run.kind).run_dropped();
                Ok(run.diverged(e, ""))
            }
            Err(e) => Err(e),
        }
    }

    /// The training run as bytes ([`crate::model::snapshot`]), to be resumed exactly by
    /// [`Session::restore_run`] in this or another session; None without a run. Taken between
    /// steps (refused while one is out).
    pub async fn run_snapshot(&mut self) -> Result<Option<Vec<u8>>> {
        self.refuse_during_step("take a snapshot of the run")?;
        let Some(run) = self.training.as_mut() else {
            return Ok(None);
        };
        let trainer = run.trainer.state().await?;
        RunSnapshot { trainer, epochs: run.epochs, checkpoint: run.checkpoint.clone() }.to_bytes().map(Some)
    }

    /// Makes a run taken by [`Session::run_snapshot`] this session's run, going on exactly where it
    /// was (not running: the next [`Session::train_step`] is its next step). The page's model
    /// stays: it is the run's checkpoint, and must have the run's shape and β. Everything is
    /// checked first; a damaged or foreign snapshot is refused with what is wrong and nothing
    /// changes. Its steps count on from the model's history (see [`Session::restore`] for a run
    /// stored with its own).
    /// The run's kind is its model's (a conditional model's run goes on with the conditional model).
    pub fn restore_run(&mut self, bytes: &[u8]) -> Result<RunInfo> {
        let kind = RunSnapshot::from_bytes(bytes)?.trainer.weights.config.kind;
        self.model_of(kind, "resume its run")?;
        let counted = self.history_mut(kind).counted();
        self.resume_run(bytes, counted)
    }

    /// [`Session::restore_run`], the run having begun when the model had `counted` steps and epochs.
    pub(super) fn resume_run(&mut self, bytes: &[u8], counted: Counted) -> Result<RunInfo> {
        if self.is_training() {
            return Err(Error::Input("a training run is going on already: stop it first".into()));
        }
        let snapshot = RunSnapshot::from_bytes(bytes)?;
        let run = snapshot.trainer.weights.config;
        let model = self.model_of(run.kind, "resume its run")?.config;
        if run != model {
            return Err(Error::Input(format!(
                "the training run is for a model {}, the page's is a model {}",
                run.describe(),
                model.describe()
            )));
        }
        let train = self.training_digits("resume a training run")?;
        let trainer = Trainer::resume(snapshot.trainer, train, &self.devices.training)?;
        let info = RunInfo {
            steps_per_epoch: trainer.steps_per_epoch(),
            epochs: snapshot.epochs,
            epoch: trainer.epoch(),
            step: counted.steps + trainer.steps(),
            run_step: trainer.steps(),
            learning_rate: trainer.options().learning_rate,
            batch_size: trainer.options().batch_size,
            seed: trainer.options().seed,
            model: self.info_of(run.kind).expect("checked above"),
        };
        self.training = Some(Run::new(run.kind, trainer, snapshot.epochs, &snapshot.checkpoint, counted));
        Ok(info)
    }
}

impl Run {
    /// A run of `epochs` epochs by `trainer` of the model of `kind`, begun when that model had
    /// `counted` steps and epochs; the model meanwhile is `checkpoint` ("before training").
    pub(super) fn new(kind: ModelKind, trainer: Trainer, epochs: usize, checkpoint: &str, counted: Counted) -> Self {
        Run { kind, trainer, epochs, checkpoint: checkpoint.into(), counted }
    }

    fn diverged(&self, e: Error, prefix: &str) -> TrainProgress {
        let diverged = Some(format!("{e}. {prefix}the model from {} is back.", self.checkpoint));
        TrainProgress { diverged, ..TrainProgress::ended() }
    }
}

#[cfg(test)]
mod tests {
    use super::super::History;
    use super::super::fixtures::*;
    use super::*;
    use crate::device::placement::Devices;
    use crate::test_util::{backends, block_on, small_dataset};

    #[test]
    fn divergence_restores_the_checkpoint_and_ends_the_run() {
        for device in backends() {
            let mut s = Session::new(small(), Arc::new(small_dataset()), device).unwrap();
            let before = s.weights().clone();
            s.train_start(TrainRequest { learning_rate: 100.0, batch_size: 8, ..request(5) }).unwrap();
            let mut diverged = None;
            for _ in 0..200 {
                let p = block_on(s.train_step()).unwrap();
                if let Some(message) = p.diverged {
                    assert!(p.finished);
                    diverged = Some(message);
                    break;
                }
                assert!(p.test.is_none(), "lr 100 must diverge within the first epoch");
            }
            let message = diverged.expect("lr 100 diverges");
            assert!(message.contains("the model from before training is back"), "{message}");
            assert!(!s.is_training());
            assert_eq!(s.weights(), &before, "the page's model is the checkpoint");
            assert!(block_on(s.train_step()).is_err(), "the run is over");
        }
    }

    #[test]
    fn stop_keeps_the_weights_reached_and_epoch_ends_move_the_model() {
        for device in backends() {
            let mut s = Session::new(small(), Arc::new(small_dataset()), device).unwrap();
            let start = s.weights().clone();
            let started = s.train_start(TrainRequest { batch_size: 128, ..request(2) }).unwrap();
            assert!(!started.from_scratch);
            assert_eq!(started.steps_per_epoch, 5, "564 training digits in batches of 128");
            // Mid-epoch the page's model is still the start.
            block_on(s.train_step()).unwrap();
            assert_eq!(s.weights(), &start);
            let mut test = None;
            for _ in 0..4 {
                test = block_on(s.train_step()).unwrap().test;
            }
            assert!(test.is_some(), "the fifth step ends the epoch, with test figures");
            let after_epoch = s.weights().clone();
            assert_ne!(after_epoch, start, "an epoch's end makes the trained weights the model");
            // Stop mid-epoch keeps the weights reached, not the last epoch's.
            block_on(s.train_step()).unwrap();
            let stopped = block_on(s.train_stop()).unwrap();
            assert!(stopped.finished && stopped.diverged.is_none());
            assert!(!s.is_training());
            assert_ne!(s.weights(), &after_epoch);
            assert_eq!(s.weights().config, start.config);
            // Stop without a run changes nothing.
            let kept = s.weights().clone();
            block_on(s.train_stop()).unwrap();
            assert_eq!(s.weights(), &kept);
        }
    }

    #[test]
    fn a_new_shape_starts_from_random_weights_and_bad_requests_are_refused() {
        for device in backends() {
            let mut s = Session::new(small(), Arc::new(small_dataset()), device).unwrap();
            let start = s.weights().clone();
            // Continuing keeps the model and its index; β alone keeps the weights.
            let generation = s.model_info().generation;
            s.train_start(request(1)).unwrap();
            assert_eq!(s.model_info().generation, generation, "the same weights are the same model");
            block_on(s.train_stop()).unwrap();
            let same = s.train_start(TrainRequest { beta: 4.0, ..request(1) }).unwrap();
            assert!(!same.from_scratch);
            assert_eq!(s.weights().layers, start.layers);
            assert_eq!(s.weights().config.beta, 4.0);
            assert!(s.train_start(request(1)).is_err(), "one run at a time");
            block_on(s.train_stop()).unwrap();
            // Another shape: random weights, seeded.
            let other = s.train_start(TrainRequest { hidden: 24, latent: 2, seed: 7, ..request(1) }).unwrap();
            assert!(other.from_scratch);
            assert_eq!((other.model.hidden, other.model.latent), (24, 2));
            let expected = VaeWeights::init(VaeConfig::vae(24, 2, 1.0), 7).unwrap();
            assert_eq!(s.weights(), &expected);
            block_on(s.train_stop()).unwrap();
            for bad in [
                TrainRequest { latent: 0, ..request(1) },
                TrainRequest { latent: LIMITS.latent.max + 1, ..request(1) },
                TrainRequest { epochs: LIMITS.epochs.max + 1, ..request(1) },
                TrainRequest { learning_rate: f64::NAN, ..request(1) },
                TrainRequest { batch_size: 0, ..request(1) },
            ] {
                assert!(s.train_start(bad).is_err(), "{bad:?} was accepted");
                assert!(!s.is_training());
            }
        }
    }

    #[test]
    fn a_step_out_of_the_session_leaves_the_page_answering_with_its_model_and_refuses_changes() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            build_index(&mut s);
            let before = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            s.train_start(request(1)).unwrap();
            let mut step = s.begin_step(StepReads::default()).unwrap();
            assert!(s.is_training());
            // Changes wait for the step; a second step cannot start.
            let refused = |e: Error| e.to_string().contains("while a training step is under way");
            assert!(refused(s.begin_step(StepReads::default()).err().unwrap()));
            assert!(refused(block_on(s.train_stop()).unwrap_err()));
            assert!(refused(s.load_model(small()).unwrap_err()));
            assert!(refused(block_on(s.training_sample(4, 0, ModelKind::Vae)).unwrap_err()));
            assert!(s.train_start(request(1)).is_err());
            assert!(!s.place(Devices::all(&device)).unwrap(), "no move during a step");
            // Ended before it ran: an error, and the run is back as it was.
            assert!(s.end_step(step).is_err());
            step = s.begin_step(StepReads::default()).unwrap();
            // While the step runs, sketches are answered by the page's model (the checkpoint).
            block_on(step.advance());
            let during = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert_eq!(during, before, "the page's model answers until the epoch ends");
            let progress = s.end_step(step).unwrap();
            assert_eq!(progress.report.unwrap().step, 1);
            // The run goes on as if the step had been taken in one call.
            let mut same = Session::new(small(), data.clone(), device.clone()).unwrap();
            same.train_start(request(1)).unwrap();
            block_on(same.train_step()).unwrap();
            let (a, b) = (block_on(s.train_step()).unwrap(), block_on(same.train_step()).unwrap());
            assert_eq!(a.report.unwrap().parts, b.report.unwrap().parts);
        }
    }

    #[test]
    fn a_snapshot_and_samples_read_during_a_step_are_as_read_after_it() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            // 9 steps an epoch, 18 in all.
            let run = TrainRequest { batch_size: 64, ..request(2) };
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            s.train_start(run).unwrap();
            for step in 1..=18 {
                let asked = matches!(step, 3 | 18);
                let samples = (step == 5).then_some((4, 11));
                let mut taken = s.begin_step(StepReads { snapshot: asked, samples }).unwrap();
                block_on(taken.advance());
                let progress = s.end_step(taken).unwrap();
                let during = s.take_step_snapshot().unwrap();
                assert_eq!(s.take_step_snapshot().unwrap(), None, "taken once");
                // Digits drawn during the step are those the weights after it draw.
                let sampled = s.take_step_samples().unwrap();
                assert_eq!(sampled.is_some(), step == 5);
                if let Some(sampled) = sampled {
                    assert_eq!(sampled, block_on(s.training_sample(4, 11, ModelKind::Vae)).unwrap(), "on {device:?}");
                    assert_eq!(s.take_step_samples().unwrap(), None, "taken once");
                }
                match step {
                    // Mid-epoch, and at the first epoch's end (its checkpoint is then that epoch).
                    3 | 9 => {
                        let during = RunSnapshot::from_bytes(&during.expect("asked for")).unwrap();
                        let after = block_on(s.run_snapshot()).unwrap().unwrap();
                        assert_eq!(during, RunSnapshot::from_bytes(&after).unwrap(), "step {step} on {device:?}");
                        if step == 9 {
                            assert_eq!(during.checkpoint, "the end of epoch 1");
                        }
                    }
                    // The run is over: nothing to resume.
                    18 => assert!(progress.finished && during.is_none()),
                    _ => assert_eq!(during, None, "not asked for at step {step}"),
                }
            }
            // Not asked for, at an epoch's end: read all the same (the page stores each epoch).
            s.train_start(run).unwrap();
            for step in 1..=9 {
                let mut taken = s.begin_step(StepReads::default()).unwrap();
                block_on(taken.advance());
                s.end_step(taken).unwrap();
                assert_eq!(s.take_step_snapshot().unwrap().is_some(), step == 9);
                assert_eq!(s.take_step_samples().unwrap(), None, "not asked for");
            }
        }
    }

    /// Every step's report and test figures until the run ends, and the model it leaves.
    fn finish(s: &mut Session) -> (Vec<TrainProgress>, VaeWeights) {
        let mut all = Vec::new();
        while s.is_training() {
            all.push(block_on(s.train_step()).unwrap());
        }
        (all, s.weights().clone())
    }

    #[test]
    fn a_run_snapshot_resumes_exactly_in_a_fresh_session() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            // 564 training digits in batches of 64: 9 steps an epoch, 18 in all.
            let run = TrainRequest { batch_size: 64, ..request(2) };
            let mut whole = Session::new(small(), data.clone(), device.clone()).unwrap();
            whole.train_start(run).unwrap();
            let (expected, expected_model) = finish(&mut whole);
            assert_eq!(expected.len(), 18);
            // Snapshots before any step, mid-epoch, at an epoch's end and mid second epoch.
            for taken_at in [0, 5, 9, 13] {
                let mut first = Session::new(small(), data.clone(), device.clone()).unwrap();
                first.train_start(run).unwrap();
                for _ in 0..taken_at {
                    block_on(first.train_step()).unwrap();
                }
                let bytes = block_on(first.run_snapshot()).unwrap().expect("a run is going on");
                // The page's model is the checkpoint: stored beside the run, as the page does.
                let checkpoint = first.weights().clone();
                drop(first);
                let mut resumed = Session::new(checkpoint, data.clone(), device.clone()).unwrap();
                let info = resumed.restore_run(&bytes).unwrap();
                assert_eq!(
                    (info.step, info.epoch, info.epochs, info.steps_per_epoch),
                    (taken_at as u64, taken_at / 9, 2, 9)
                );
                // The snapshot reads back to what it was written from.
                let again = block_on(resumed.run_snapshot()).unwrap().unwrap();
                assert_eq!(RunSnapshot::from_bytes(&again).unwrap(), RunSnapshot::from_bytes(&bytes).unwrap());
                let (rest, model) = finish(&mut resumed);
                // Bit for bit: the same operations on the same inputs in the same order.
                assert_eq!(rest, expected[taken_at..], "resumed at step {taken_at} on {device:?}");
                assert_eq!(model, expected_model);
            }
        }
    }

    #[test]
    fn a_damaged_or_foreign_run_snapshot_is_refused_and_nothing_changes() {
        let device = backends()[0].clone();
        let data = Arc::new(small_dataset());
        let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
        assert_eq!(block_on(s.run_snapshot()).unwrap(), None, "no run, no snapshot");
        s.train_start(request(2)).unwrap();
        for _ in 0..3 {
            block_on(s.train_step()).unwrap();
        }
        let good = block_on(s.run_snapshot()).unwrap().unwrap();
        let parsed = RunSnapshot::from_bytes(&good).unwrap();
        let edited = |change: &dyn Fn(&mut RunSnapshot)| {
            let mut r = parsed.clone();
            change(&mut r);
            r.to_bytes().unwrap()
        };
        let mut garbage = good.clone();
        garbage[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        // The header says another width than the tensors have.
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(good[8..8 + header_len].to_vec()).unwrap();
        assert!(header.contains(r#""hidden":"16""#));
        let reshaped =
            [&good[..8], header.replace(r#""hidden":"16""#, r#""hidden":"17""#).as_bytes(), &good[8 + header_len..]]
                .concat();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not a run".to_vec(), "not a safetensors file"),
            (good[..good.len() / 2].to_vec(), "not a safetensors file"),
            (garbage, "not a safetensors file"),
            (small().to_safetensors().unwrap(), r#"its format is "pt""#),
            (edited(&|r| r.trainer.step += 1), "counts 4 steps at epoch 0, digit 192"),
            (edited(&|r| r.trainer.cursor = 100), "is at digit 100"),
            (edited(&|r| r.trainer.order[0] = 10_000), "not this data set's 564 training digits"),
            (edited(&|r| r.trainer.moments = None), "has no Adam moments after 3 steps"),
            (edited(&|r| r.trainer.moments.as_mut().unwrap().second[2].bias[0] = f32::NAN), "second moments"),
            (edited(&|r| r.trainer.rng = [0; 4]), "empty random generator"),
            (edited(&|r| r.epochs = 0), "epochs 0 is outside"),
            (edited(&|r| r.trainer.epoch = 2), "the run is over"),
            (reshaped, "weights.fc1.weight is F32 [16, 784], expected F32 [17, 784]"),
        ];
        let mut fresh = Session::new(small(), data.clone(), device.clone()).unwrap();
        for (bytes, expected) in cases {
            let e = fresh.restore_run(&bytes).unwrap_err().to_string();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
            assert!(!fresh.is_training(), "a refused run leaves none");
            assert_eq!(fresh.weights(), &small(), "the model stays");
        }
        // A run for another model (β here) is refused too; one for this model goes.
        let mut other =
            Session::new(VaeWeights { config: VaeConfig { beta: 2.0, ..small().config }, ..small() }, data, device)
                .unwrap();
        let e = other.restore_run(&good).unwrap_err().to_string();
        assert!(e.contains("the page's is a model of kind vae with hidden width 16, latent size 3 and β 2"), "{e}");
        fresh.restore_run(&good).unwrap();
        assert!(fresh.restore_run(&good).is_err(), "one run at a time");
    }

    fn small_cvae() -> VaeWeights {
        VaeWeights::init(VaeConfig::cvae(16, 3, 1.0), 5).unwrap()
    }

    fn conditional_run(epochs: usize) -> TrainRequest {
        TrainRequest { batch_size: 128, kind: ModelKind::Cvae, ..request(epochs) }
    }

    /// A run of the conditional model: by training's rules, its epochs' ends and Stop make it the
    /// session's conditional model (the reading and the redraws come from it at once), the page's
    /// model and history stay as they were, and it keeps a history of its own.
    #[test]
    fn a_conditional_run_trains_the_reading_model_and_leaves_the_pages_model_alone() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut fresh = Session::new(small(), data.clone(), device.clone()).unwrap();
            let started = fresh.train_start(conditional_run(1)).unwrap();
            assert!(started.from_scratch, "no conditional model yet: random weights");
            assert_eq!((started.model.kind, started.steps_per_epoch), (ModelKind::Cvae, 5));
            assert_eq!(
                fresh.conditional_weights().unwrap(),
                &VaeWeights::init(VaeConfig::cvae(16, 3, 1.0), 0).unwrap()
            );
            assert!(fresh.has_own_conditional(), "the run's start is the session's own");

            let mut s = Session::new(small(), data, device.clone()).unwrap();
            s.set_conditional(small_cvae()).unwrap();
            assert!(!s.has_own_conditional(), "the shipped model");
            let page = s.weights().clone();
            let started = s.train_start(conditional_run(2)).unwrap();
            assert!(!started.from_scratch);
            assert_eq!(s.conditional_weights().unwrap(), &small_cvae(), "the same weights until the epoch's end");
            let mut progress = Vec::new();
            for _ in 0..5 {
                progress.push(block_on(s.train_step()).unwrap());
            }
            let test = progress[4].test.as_ref().expect("the epoch's end");
            assert!(test.loss.is_finite());
            let tuned = s.conditional_weights().unwrap().clone();
            assert_ne!(tuned, small_cvae(), "the epoch's weights are the conditional model");
            assert!(s.has_own_conditional());
            assert_eq!(s.conditional_info().unwrap().generation, 1);
            // The reading is the new model's.
            let input = crate::explore::sketch::preprocess(&bar(), 56, 56).unwrap().unwrap();
            let expected = block_on(Inference::new(&tuned, &device).unwrap().read(&input)).unwrap().remove(0);
            let read = block_on(s.read_sketch(&bar(), 56, 56)).unwrap().unwrap();
            assert_eq!((read.digit, read.confidence), (expected.digit, expected.confidence));
            // The grid of digits from the weights being trained: 0, 1, …, 9 in turn.
            let grid = block_on(s.training_sample(12, 3, ModelKind::Vae)).unwrap();
            assert_eq!(grid.len(), 12 * 784);
            // The page's model and its history are untouched; the conditional one has its own.
            assert_eq!((s.weights(), s.history()), (&page, &History::default()));
            let own = s.history_of(ModelKind::Cvae).unwrap();
            assert_eq!((own.steps.len(), own.tests.len()), (5, 1));
            assert_eq!(progress[4].test_record.unwrap().step, 5);
            // Stop mid-epoch keeps the weights reached.
            block_on(s.train_step()).unwrap();
            block_on(s.train_stop()).unwrap();
            assert_ne!(s.conditional_weights().unwrap(), &tuned);
            assert_eq!(s.history_of(ModelKind::Cvae).unwrap().steps.len(), 6);
            assert_eq!(s.weights(), &page);
            // The shipped model does not replace the session's own.
            let own = s.conditional_weights().unwrap().clone();
            s.set_conditional(small_cvae()).unwrap();
            assert_eq!(s.conditional_weights().unwrap(), &own);

            // Divergence: the conditional model from before the run is back.
            s.train_start(TrainRequest { learning_rate: 100.0, batch_size: 8, ..conditional_run(5) }).unwrap();
            let mut diverged = None;
            for _ in 0..200 {
                if let Some(message) = block_on(s.train_step()).unwrap().diverged {
                    diverged = Some(message);
                    break;
                }
            }
            assert!(diverged.expect("lr 100 diverges").contains("the model from before training is back"));
            assert_eq!(s.conditional_weights().unwrap(), &own);
            assert_eq!(s.history_of(ModelKind::Cvae).unwrap().steps.len(), 6, "the diverged run's steps are gone");
        }
    }

    #[test]
    fn an_imported_model_goes_where_its_kind_says_and_a_conditional_run_resumes_exactly() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            let info = s.import_model(small_cvae()).unwrap();
            assert_eq!(info.kind, ModelKind::Cvae);
            assert!(s.has_own_conditional());
            assert_eq!(s.weights(), &small(), "the page's model stays");
            let other = VaeWeights::init(VaeConfig::vae(16, 3, 1.0), 9).unwrap();
            assert_eq!(s.import_model(other.clone()).unwrap().kind, ModelKind::Vae);
            assert_eq!((s.weights(), s.conditional_weights().unwrap()), (&other, &small_cvae()));

            s.train_start(conditional_run(2)).unwrap();
            let e = s.import_model(small_cvae()).unwrap_err().to_string();
            assert!(e.contains("during a training run"), "{e}");
            for _ in 0..3 {
                block_on(s.train_step()).unwrap();
            }
            let bytes = block_on(s.run_snapshot()).unwrap().unwrap();
            let next: Vec<_> = (0..4).map(|_| block_on(s.train_step()).unwrap()).collect();
            let mut resumed = Session::new(small(), data.clone(), device.clone()).unwrap();
            let e = resumed.restore_run(&bytes).unwrap_err().to_string();
            assert!(e.contains("no conditional model"), "{e}");
            resumed.set_conditional(small_cvae()).unwrap();
            let info = resumed.restore_run(&bytes).unwrap();
            assert_eq!(info.model.kind, ModelKind::Cvae);
            let again: Vec<_> = (0..4).map(|_| block_on(resumed.train_step()).unwrap()).collect();
            let parts = |p: &[TrainProgress]| p.iter().map(|p| p.report.unwrap().parts).collect::<Vec<_>>();
            assert_eq!(parts(&again), parts(&next), "on {device:?}");
            assert_eq!(resumed.conditional_weights(), s.conditional_weights(), "the epoch's end moved both alike");
        }
    }
}
