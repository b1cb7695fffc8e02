//! Every type the session serialises to the page (or reads from it), in one file so that the
//! names the page reads are in one place. Their JSON names are camelCase, as is all JSON the page
//! and the wasm face exchange (one exception: [`EvalReport`]'s `loss_mu`, in `TrainProgress::test`,
//! is also the CLI's `vae eval --json`, which the benchmark scripts read; the page does not).

use serde::{Deserialize, Serialize};

use crate::ModelKind;
use crate::explore::neighbours::Neighbour;
use crate::model::inference::EvalReport;
use crate::model::train::StepReport;

/// The shape of the page's model (or the conditional one), for the page's labels and file names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// "vae" (the page's model) or "cvae" (the conditional model).
    pub kind: ModelKind,
    pub hidden: usize,
    pub latent: usize,
    pub beta: f64,
    pub parameters: usize,
    /// Changes of model so far (load, import, training's epoch ends, Stop).
    pub generation: u64,
}

/// How far the neighbour index of the current model is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexProgress {
    /// Digits in the index so far.
    pub indexed: usize,
    pub total: usize,
    /// Whether the test set's losses (the score's percentiles) are ready.
    pub scored: bool,
    pub done: bool,
}

/// Everything the page shows for a sketch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SketchAnswer {
    /// The 28×28 MNIST-style input. (The images are not in the JSON form: 10 × 784 floats as
    /// text cost the page more than the analysis itself; [`SketchAnswer::images`] gives them.)
    #[serde(skip)]
    pub input: Vec<f32>,
    #[serde(skip)]
    pub reconstruction: Vec<f32>,
    pub mu: Vec<f32>,
    pub logvar: Vec<f32>,
    /// Negative ELBO with z = μ, and its parts, in nats.
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
    /// Nearest digits first; each `mu` is under the current model, so a walk to it is one decode.
    pub neighbours: Vec<Neighbour>,
    /// The neighbours' own grey levels, 784 each, in the same order.
    #[serde(skip)]
    pub neighbour_images: Vec<f32>,
    /// Share of test digits less digit-like than this one, in percent; None until the test set
    /// is scored.
    pub percentile: Option<f64>,
    /// Position on the latent map.
    pub map: [f32; 2],
    /// Position on the t-SNE map, once it is made: placed among the neighbours' positions (t-SNE
    /// has no out-of-sample transform; see [`crate::explore::tsne::Tsne::place`]).
    pub tsne: Option<[f32; 2]>,
    /// The neighbours, percentile and map position come from the previous model's whole index,
    /// because the index of the current one is still being built.
    pub updating: bool,
}

/// The data set on the latent map.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapPoints {
    /// x0, y0, x1, y1, …
    pub points: Vec<f32>,
    pub labels: Vec<u8>,
    /// Data-set index of each point.
    pub indices: Vec<usize>,
    pub latent: usize,
    /// How often a point's [`super::AGREEMENT_NEIGHBOURS`] nearest points on the map share its label.
    pub label_agreement: f64,
}

/// How far the t-SNE map of the page's model is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TsneStatus {
    /// "none" (not begun for this model), "making" or "made".
    pub state: &'static str,
    /// The share of the work done, 0 to 1.
    pub fraction: f64,
    /// The model it is for ([`ModelInfo::generation`]).
    pub generation: u64,
}

/// A data-set digit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Digit {
    pub index: usize,
    pub label: u8,
    pub image: Vec<f32>,
}

/// A data-set digit with its latent code under the page's model (a walk can start or end there).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedDigit {
    #[serde(flatten)]
    pub digit: Digit,
    pub mu: Vec<f32>,
}

/// What the page asks for to start training.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainRequest {
    pub hidden: usize,
    pub latent: usize,
    pub beta: f64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    /// Start from fresh random weights (also implied when the shape differs from the model's).
    pub from_scratch: bool,
    /// The model to train: the page's ("vae", when not given) or the conditional one ("cvae").
    #[serde(default)]
    pub kind: ModelKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainStarted {
    pub steps_per_epoch: usize,
    /// True when the run starts from random weights (the page's model changed to them).
    pub from_scratch: bool,
    pub model: ModelInfo,
}

/// A training run that goes on, as the page shows it (after [`super::Session::restore_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    pub steps_per_epoch: usize,
    /// The run's target, and the epochs and steps it has done.
    pub epochs: usize,
    pub epoch: usize,
    /// Steps over the model's life ([`TrainRecord::step`]) and in this run.
    pub step: u64,
    pub run_step: u64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub model: ModelInfo,
}

/// What one training step (or Stop) gives the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainProgress {
    pub report: Option<StepReport>,
    /// Test figures, at the end of an epoch (the page's model is then the new weights).
    pub test: Option<EvalReport>,
    /// The run is over (all its epochs, Stop, or divergence).
    pub finished: bool,
    /// Why training stopped on a non-finite loss or weights; the checkpoint is the model again.
    pub diverged: Option<String>,
    /// The step's record and, at an epoch's end, the test's, as the model's history keeps them.
    pub record: Option<TrainRecord>,
    pub test_record: Option<TrainRecord>,
}

/// One record of the model's training history: a step's batch loss and its parts, or the test
/// set's figures at an epoch's end. Steps and epochs count over the model's life, across runs
/// (the first step is 1, the first epoch 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainRecord {
    pub step: u64,
    pub epoch: u64,
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
}

/// The model's training history: a record per step and one per epoch's test.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub steps: Vec<TrainRecord>,
    pub tests: Vec<TrainRecord>,
}

/// What [`super::Session::restore`] made of a record: the model it loaded, and the run it holds
/// going on (paused: the next step is its next), or why that run could not be resumed (it is
/// dropped; the model stays).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    pub model: ModelInfo,
    pub run: Option<RunInfo>,
    pub run_error: Option<String>,
    /// The record holds a run and the data set's training digits have not arrived: the run goes on
    /// (or is dropped, with why) when they do ([`super::Session::set_data`] or
    /// [`super::Session::add_training_data`] says which).
    pub run_waits_for_data: bool,
}

impl ModelInfo {
    /// The shape of `weights`, the `generation`th model of its kind.
    pub fn of(weights: &crate::VaeWeights, generation: u64) -> Self {
        let c = weights.config;
        ModelInfo {
            kind: c.kind,
            hidden: c.hidden,
            latent: c.latent,
            beta: c.beta,
            parameters: c.num_params(),
            generation,
        }
    }
}

impl TrainProgress {
    /// A run that is over, with nothing more to say (Stop, or no run to stop).
    pub fn ended() -> Self {
        TrainProgress { finished: true, ..TrainProgress::default() }
    }
}

/// The conditional model's answer to a sketch: the digit it reads, each label's confidence (the
/// softmax of minus the ten losses), and the sketch redrawn as each digit 0–9 in its hand.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SketchReading {
    pub digit: u8,
    pub confidence: [f64; crate::CLASSES],
    /// 10 × 784 grey levels, digit by digit (not in the JSON form, as a sketch's images).
    #[serde(skip)]
    pub redraws: Vec<f32>,
}

// ---- the person's own digits (`yours.rs`) ------------------------------------------------------

/// A digit the person kept, as the page lists it (its image comes apart, as bytes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct YourDigitInfo {
    /// The id the page stores it under.
    pub id: u64,
    pub label: u8,
    /// One of the last fifth, which "Learn my hand" keeps aside to judge what it learnt.
    pub held_out: bool,
}

/// A sketch as it would be kept: the 28×28 input as grey levels × 255 and its label (the one
/// given, or the one read from its nearest neighbour).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigitToKeep {
    pub label: u8,
    /// Whether the label was read (none was given).
    pub read: bool,
    pub pixels: Vec<u8>,
}

/// What the page asks for to learn the person's hand: a run from the page's model, its shape and
/// β kept, on the training set with the person's digits mixed into every batch.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LearnRequest {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// The share of each batch the person's digits make (0.25: a quarter).
    pub share: f64,
    pub seed: u64,
    /// The model to fine-tune: the page's ("vae", when not given) or the conditional one ("cvae"),
    /// which learns each digit with its label.
    #[serde(default)]
    pub kind: ModelKind,
}

/// A "Learn my hand" run begun: as [`TrainStarted`], with the digits it learns from, the digits
/// kept aside, and how the model did on those before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LearnStarted {
    #[serde(flatten)]
    pub started: TrainStarted,
    /// The person's digits mixed into the batches.
    pub learns_from: usize,
    /// Each batch's digits: from the training set, and the person's.
    pub per_batch: [usize; 2],
    pub before: HandReport,
}

/// How a model (the page's or the conditional one) does on the person's held-out digits (the last
/// fifth of them, at least one).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandReport {
    /// The model measured: "vae" (the page's) or "cvae" (the conditional one).
    pub kind: ModelKind,
    /// The model measured ([`ModelInfo::generation`]).
    pub generation: u64,
    /// The held-out digits measured.
    pub held_out: usize,
    /// Their mean negative ELBO with z = μ, in nats.
    pub loss: f64,
    /// How many of them are read as their label, and by what ([`HandReport::read_by`]); None while
    /// the neighbour index of this model is not whole.
    pub read_right: Option<usize>,
    /// "the nearest data-set digit" (the seed's model) or "the model's reading" (the conditional one).
    pub read_by: &'static str,
    /// The test split's mean negative ELBO with z = μ: the page's model's once the index has
    /// scored it; the conditional model's with each digit's label.
    pub test_loss: Option<f64>,
    /// The share of the test split the conditional model reads as its label, in percent; None for
    /// the page's model (which reads no label).
    pub test_read_percent: Option<f64>,
}

/// The person's hand as the page's model does on it now, and as the model did before the last
/// "Learn my hand", on the same held-out digits (those still kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct YourHand {
    pub before: Option<HandReport>,
    pub now: HandReport,
}
