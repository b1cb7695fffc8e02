//! The page's session: the model a person sees, its neighbour index growing step by step, and a
//! training run with its checkpoint. Every rule of the page lives here, testable natively: what a
//! sketch's answer holds, how the index grows and what answers while it does, from-scratch and
//! divergence rules, what Stop keeps.
//!
//! Each method takes the session whole (`&mut self` / `&self`) for as long as it runs, so two
//! operations never interleave; a caller that drives it from an event loop (the page's worker)
//! queues its calls, and the session needs no generation checks or locks of its own. The one
//! exception is a training step: it can be taken out ([`Session::begin_step`]) and run on the
//! training device without the session, so that while it waits on a GPU the page's sketches are
//! answered on the CPU; meanwhile the session refuses whatever would change the model.

use std::sync::Arc;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::device::placement::{Devices, index_step_digits};
use crate::explore::neighbours::{LatentIndex, Neighbour};
use crate::explore::sketch;
use crate::explore::tsne::{Tsne, TsneOptions, knn_label_agreement};
use crate::limits::LIMITS;
use crate::model::inference::{EvalReport, Inference, Walk, sample_latents, traverse_latents, walk_latents};
use crate::model::snapshot::RunSnapshot;
use crate::model::train::{StepReport, TrainerState};
use crate::rng::Rng;
use crate::{Dataset, Error, Result, Split, Trainer, TrainerOptions, VaeConfig, VaeWeights};

/// The page's t-SNE: the CLI's perplexity and PCA start, but 500 iterations (200 of early
/// exaggeration) and a coarser Barnes–Hut (θ = 1): natively 15 s instead of 27 s for 10 000
/// digits, and a label agreement of 93.0 % instead of 93.1 % on the default model; in wasm it
/// took 83 s with the CLI's options. The affinities go a hundred rows a step: a step of it is a
/// background step of the page's worker, which a sketch may wait for (one row is a scan of every
/// digit's latent; one gradient iteration is a step too).
pub const PAGE_TSNE: TsneOptions = TsneOptions {
    perplexity: 30.0,
    iterations: 500,
    theta: 1.0,
    exaggeration: 12.0,
    exaggeration_iterations: 200,
    affinity_rows_per_step: 100,
};

/// The nearest map neighbours whose labels [`MapPoints::label_agreement`] counts.
pub const AGREEMENT_NEIGHBOURS: usize = 10;

/// The shape of the page's model, for the page's labels and file names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelInfo {
    pub hidden: usize,
    pub latent: usize,
    pub beta: f64,
    pub parameters: usize,
    /// Changes of model so far (load, import, training's epoch ends, Stop).
    pub generation: u64,
}

/// How far the neighbour index of the current model is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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
    /// has no out-of-sample transform; see [`Tsne::place`]).
    pub tsne: Option<[f32; 2]>,
    /// The neighbours, percentile and map position come from the previous model's whole index,
    /// because the index of the current one is still being built.
    pub updating: bool,
}

/// The data set on the latent map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoints {
    /// x0, y0, x1, y1, …
    pub points: Vec<f32>,
    pub labels: Vec<u8>,
    /// Data-set index of each point.
    pub indices: Vec<usize>,
    pub latent: usize,
    /// How often a point's [`AGREEMENT_NEIGHBOURS`] nearest points on the map share its label.
    pub label_agreement: f64,
}

/// How far the t-SNE map of the page's model is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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
pub struct Digit {
    pub index: usize,
    pub label: u8,
    pub image: Vec<f32>,
}

/// A data-set digit with its latent code under the page's model (a walk can start or end there).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainStarted {
    pub steps_per_epoch: usize,
    /// True when the run starts from random weights (the page's model changed to them).
    pub from_scratch: bool,
    pub model: ModelInfo,
}

/// A training run that goes on, as the page shows it (after [`Session::restore_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    pub steps_per_epoch: usize,
    /// The run's target, and the epochs and steps it has done.
    pub epochs: usize,
    pub epoch: usize,
    pub step: u64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub model: ModelInfo,
}

/// What one training step (or Stop) gives the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainProgress {
    pub report: Option<StepReport>,
    /// Test figures, at the end of an epoch (the page's model is then the new weights).
    pub test: Option<EvalReport>,
    /// The run is over (all its epochs, Stop, or divergence).
    pub finished: bool,
    /// Why training stopped on a non-finite loss or weights; the checkpoint is the model again.
    pub diverged: Option<String>,
}

/// A model and the neighbour index it built: the model on the sketch's device, and on the index's
/// device to encode the digits (the same model when the two are one device); and the t-SNE map of
/// its whole index, if the page asked for one.
struct Indexed {
    inference: Inference,
    encoder: Inference,
    index: LatentIndex,
    tsne: TsneStage,
}

enum TsneStage {
    None,
    Making(Box<Tsne>),
    /// Each data-set digit's position (by data-set index, x and y) and the map's label agreement.
    Made {
        positions: Vec<f32>,
        label_agreement: f64,
    },
}

/// A training run. The page's model is its checkpoint: it becomes the trainer's weights at the
/// end of every epoch (and on Stop), and is what divergence falls back to.
struct Run {
    trainer: Trainer,
    epochs: usize,
    /// "the end of epoch N" or "before training": what the checkpoint is, for messages.
    checkpoint: String,
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
                let sample = self.run.trainer.inference().sample(n, 1.0, None, &mut Rng::new(seed)).await;
                self.samples = Some(sample);
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

pub struct Session {
    /// Shared, not copied, with whoever else needs the digits (the page's WebGPU warm-up).
    data: Arc<Dataset>,
    /// Where each job runs (see [`crate::device::placement`]).
    devices: Devices,
    weights: VaeWeights,
    /// The current model, on the sketch's and the index's devices.
    current: Indexed,
    /// The last whole index and the model that built it, kept while the current model's index
    /// grows after a change of model, so the page's neighbours stay sensible meanwhile.
    previous: Option<Indexed>,
    training: Option<Run>,
    /// The run is out of the session for a step ([`Session::begin_step`]).
    step_under_way: bool,
    /// The run after the last step, read during it ([`Session::take_step_snapshot`]).
    step_snapshot: Option<Result<Vec<u8>>>,
    /// Digits from the weights after the last step, drawn during it ([`Session::take_step_samples`]).
    step_samples: Option<Result<Vec<f32>>>,
    generation: u64,
}

impl Session {
    /// A session with every job on `device`, showing `weights`; its neighbour index starts empty
    /// (see [`Session::index_step`]).
    pub fn new(weights: VaeWeights, data: Arc<Dataset>, device: Device) -> Result<Self> {
        Self::placed(weights, data, Devices::all(&device))
    }

    /// A session with each job on its device in `devices`.
    pub fn placed(weights: VaeWeights, data: Arc<Dataset>, devices: Devices) -> Result<Self> {
        if data.indices(Split::Test).is_empty() || data.indices(Split::Train).is_empty() {
            return Err(Error::Data("the data set needs both training and test digits".into()));
        }
        let current = Indexed::empty(&weights, &devices)?;
        Ok(Session {
            data,
            devices,
            weights,
            current,
            previous: None,
            training: None,
            step_under_way: false,
            step_snapshot: None,
            step_samples: None,
            generation: 0,
        })
    }

    pub fn weights(&self) -> &VaeWeights {
        &self.weights
    }

    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    pub fn data(&self) -> &Arc<Dataset> {
        &self.data
    }

    pub fn model_info(&self) -> ModelInfo {
        let c = self.weights.config;
        ModelInfo {
            hidden: c.hidden,
            latent: c.latent,
            beta: c.beta,
            parameters: c.num_params(),
            generation: self.generation,
        }
    }

    pub fn is_training(&self) -> bool {
        self.training.is_some() || self.step_under_way
    }

    /// Makes `weights` the page's model; ends any training run.
    pub fn load_model(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        self.refuse_during_step("load a model")?;
        self.set_model(weights)?;
        self.training = None;
        Ok(self.model_info())
    }

    /// Puts each job on its device: the model and its index are copied over (nothing is
    /// re-encoded). Refused (false) during a training run, whose optimiser state lives on its
    /// device: ask again when it ends.
    pub fn place(&mut self, devices: Devices) -> Result<bool> {
        if self.is_training() {
            return Ok(false);
        }
        let moved = Indexed::empty(&self.weights, &devices)?;
        let index = self.current.index.on_device(&devices.sketch);
        let tsne = std::mem::replace(&mut self.current.tsne, TsneStage::None);
        self.current = Indexed { index, tsne, ..moved };
        self.devices = devices;
        Ok(true)
    }

    // ---- the neighbour index --------------------------------------------------------------------

    pub fn index_progress(&self) -> IndexProgress {
        let index = &self.current.index;
        let scored = !index.test_losses.is_empty();
        IndexProgress { indexed: index.len(), total: self.data.len(), scored, done: self.is_whole(index) }
    }

    /// Builds the current model's index one step further: first the test set's losses (for the
    /// score), then the digits' latents, [`index_step_digits`] a step. Once it is whole, the
    /// previous model's index is dropped. Does nothing when it is whole already.
    pub async fn index_step(&mut self) -> Result<IndexProgress> {
        let index = &mut self.current.index;
        let inference = &self.current.encoder;
        let digits = index_step_digits(&self.devices.index);
        if index.test_losses.is_empty() {
            index.score_test_part(inference, &self.data, digits).await?;
        } else if index.len() < self.data.len() {
            let next: Vec<usize> = (index.len()..(index.len() + digits).min(self.data.len())).collect();
            index.add(inference, &self.data, &next).await?;
        }
        let progress = self.index_progress();
        if progress.done {
            self.previous = None;
        }
        Ok(progress)
    }

    /// The digits indexed so far for the current model, placed on its map.
    pub fn map_points(&self) -> MapPoints {
        let index = &self.current.index;
        let points = index.map_positions();
        MapPoints {
            label_agreement: knn_label_agreement(&points, &index.labels, AGREEMENT_NEIGHBOURS),
            points,
            labels: index.labels.clone(),
            indices: index.indices.clone(),
            latent: index.latent,
        }
    }

    // ---- the t-SNE map -------------------------------------------------------------------------

    /// Where the current model's t-SNE map is.
    pub fn tsne_status(&self) -> TsneStatus {
        let (state, fraction) = match &self.current.tsne {
            TsneStage::None => ("none", 0.0),
            TsneStage::Making(tsne) => ("making", tsne.progress().fraction()),
            TsneStage::Made { .. } => ("made", 1.0),
        };
        TsneStatus { state, fraction, generation: self.generation }
    }

    /// Begins the t-SNE map of the current model's digits, from their PCA map (see [`Tsne::new`]),
    /// to be made by [`Session::tsne_step`]. Once the index is whole: an error before. Begun or
    /// made already, nothing changes.
    pub fn tsne_begin(&mut self) -> Result<TsneStatus> {
        if matches!(self.current.tsne, TsneStage::None) {
            let index = self.whole_index("make a t-SNE map")?;
            let tsne = Tsne::new(&index.mu, index.latent, &index.map_positions(), PAGE_TSNE)?;
            self.current.tsne = TsneStage::Making(Box::new(tsne));
        }
        Ok(self.tsne_status())
    }

    /// One step of the current model's t-SNE map: a block of its affinities or one gradient
    /// iteration. Once made, its positions are the map's. Does nothing unless one is being made.
    pub fn tsne_step(&mut self) -> Result<TsneStatus> {
        if let TsneStage::Making(tsne) = &mut self.current.tsne
            && tsne.step(1).done
        {
            let positions = tsne.positions();
            self.tsne_made(positions)?;
        }
        Ok(self.tsne_status())
    }

    /// Makes `positions` (x and y of every data-set digit, by data-set index: the `points` of a
    /// [`Session::tsne_map`] made earlier for the same model, kept by the page) the current model's
    /// t-SNE map; refused unless they fit the data set and the index is whole.
    pub fn tsne_restore(&mut self, positions: &[f32]) -> Result<TsneStatus> {
        self.whole_index("restore a t-SNE map")?;
        if positions.len() != 2 * self.data.len() || positions.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "a t-SNE map of this data set has {} finite values; this one has {}",
                2 * self.data.len(),
                positions.len()
            )));
        }
        let labels = &self.data.labels;
        let label_agreement = knn_label_agreement(positions, labels, AGREEMENT_NEIGHBOURS);
        self.current.tsne = TsneStage::Made { positions: positions.to_vec(), label_agreement };
        Ok(self.tsne_status())
    }

    /// The t-SNE map shown with the neighbours (the previous model's while the current index is
    /// rebuilt, as [`Session::analyse`] does), by data-set index; None until it is made.
    pub fn tsne_map(&self) -> Option<MapPoints> {
        let (shown, _) = self.shown();
        let TsneStage::Made { positions, label_agreement } = &shown.tsne else {
            return None;
        };
        Some(MapPoints {
            points: positions.clone(),
            labels: self.data.labels.clone(),
            indices: (0..self.data.len()).collect(),
            latent: shown.index.latent,
            label_agreement: *label_agreement,
        })
    }

    /// The t-SNE made by [`Session::tsne_step`]: its rows are the index's, stored by data-set index.
    fn tsne_made(&mut self, rows: Vec<f32>) -> Result<()> {
        let index = &self.current.index;
        let mut positions = vec![f32::NAN; 2 * self.data.len()];
        for (row, &digit) in index.indices.iter().enumerate() {
            positions[2 * digit..2 * digit + 2].copy_from_slice(&rows[2 * row..2 * row + 2]);
        }
        self.tsne_restore(&positions).map(|_| ())
    }

    /// The current model's index if it is whole, else an error saying what waits for it.
    fn whole_index(&self, what: &str) -> Result<&LatentIndex> {
        let index = &self.current.index;
        if !self.is_whole(index) {
            return Err(Error::Input(format!("cannot {what} before the neighbour index is whole")));
        }
        Ok(index)
    }

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
        let mut neighbours = source.index.nearest(&seen, k).await?;
        let indices: Vec<usize> = neighbours.iter().map(|n| n.index).collect();
        let neighbour_images = self.data.images(&indices);
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

    /// `n` digits from the weights being trained (the page's model when no run is on).
    pub async fn training_sample(&self, n: usize, seed: u64) -> Result<Vec<f32>> {
        self.refuse_during_step("sample the weights being trained")?;
        let live = self.training.as_ref().map(|run| run.trainer.inference());
        live.as_ref().unwrap_or(&self.current.inference).sample(n, 1.0, None, &mut Rng::new(seed)).await
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
        if index >= self.data.len() {
            return Err(Error::Input(format!("digit {index} of a data set of {}", self.data.len())));
        }
        let image = self.data.image(index);
        let mu = self.current.inference.encode(&image, None).await?.mu;
        Ok(EncodedDigit { digit: Digit { index, label: self.data.labels[index], image }, mu })
    }

    /// `n` decodes of draws from q(z|x) of one 28×28 image.
    pub async fn variations(&self, image: &[f32], n: usize, seed: u64) -> Result<Vec<f32>> {
        self.current.inference.variations(image, n, &mut Rng::new(seed)).await
    }

    /// A uniformly random digit of the test split (the page's "Random digit").
    pub fn random_test_digit(&self, seed: u64) -> Digit {
        let test = self.data.indices(Split::Test);
        let index = test[Rng::new(seed).below(test.len())];
        Digit { index, label: self.data.labels[index], image: self.data.image(index) }
    }

    // ---- training ------------------------------------------------------------------------------

    /// Starts a run. It continues from the page's model unless asked for random weights or given
    /// another shape; β may change either way. The page's model becomes the run's start.
    pub fn train_start(&mut self, r: TrainRequest) -> Result<TrainStarted> {
        if self.is_training() {
            return Err(Error::Input("a training run is going on already: stop it first".into()));
        }
        let config = VaeConfig::vae(r.hidden, r.latent, r.beta);
        config.validate()?;
        let options = TrainerOptions { learning_rate: r.learning_rate, batch_size: r.batch_size, seed: r.seed };
        options.validate()?;
        LIMITS.epochs.check("epochs", r.epochs)?;
        let shape = |c: VaeConfig| (c.hidden, c.latent);
        let from_scratch = r.from_scratch || shape(self.weights.config) != shape(config);
        let weights = if from_scratch {
            VaeWeights::init(config, r.seed)?
        } else {
            VaeWeights { config, ..self.weights.clone() }
        };
        let trainer = Trainer::new(&weights, self.data.indices(Split::Train), options, &self.devices.training)?;
        let steps_per_epoch = trainer.steps_per_epoch();
        // Random weights or a new β make a new model (a new β changes every score); the same
        // weights keep their index.
        if weights != self.weights {
            self.set_model(weights)?;
        }
        let checkpoint = if from_scratch { "the random start" } else { "before training" };
        self.training = Some(Run { trainer, epochs: r.epochs, checkpoint: checkpoint.into() });
        Ok(TrainStarted { steps_per_epoch, from_scratch, model: self.model_info() })
    }

    /// One Adam step of the run. At the end of an epoch the test set is evaluated and the page's
    /// model becomes the new weights. A non-finite loss or weight ends the run; the checkpoint
    /// (the model at the last epoch's end) stays the page's model.
    pub async fn train_step(&mut self) -> Result<TrainProgress> {
        let mut step = self.begin_step(StepReads::default())?;
        step.advance().await;
        self.end_step(step)
    }

    /// Takes the run out for one step, which runs without the session (see [`TrainingStep`]).
    /// Until [`Session::end_step`] the page's calls are answered with the page's model (the
    /// checkpoint), on the sketch's device, and whatever would change the model is refused.
    /// `reads`: what the step also reads after it, while the page's calls are still answered —
    /// the run as [`Session::run_snapshot`] would give it then (a step that ends an epoch always
    /// does, if the run goes on), and digits as [`Session::training_sample`] would draw them then.
    pub fn begin_step(&mut self, reads: StepReads) -> Result<TrainingStep> {
        self.refuse_during_step("start another step")?;
        let run = self.training.take().ok_or_else(|| Error::Input("no training run is going on".into()))?;
        self.step_under_way = true;
        self.step_snapshot = None;
        self.step_samples = None;
        Ok(TrainingStep { run, data: self.data.clone(), reads, reached: None, state: None, samples: None })
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
        let progress = match reached? {
            Reached::Diverged(e) => return Ok(run.diverged(e, "Training stopped; ")),
            Reached::Step(report) => {
                TrainProgress { report: Some(report), test: None, finished: false, diverged: None }
            }
            Reached::EpochEnd { report, weights, test } => {
                self.set_model(*weights)?;
                run.checkpoint = format!("the end of epoch {}", run.trainer.epoch());
                let finished = run.trainer.epoch() >= run.epochs;
                TrainProgress { report: Some(report), test: Some(test), finished, diverged: None }
            }
        };
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
            return Ok(TrainProgress { report: None, test: None, finished: true, diverged: None });
        };
        match run.trainer.weights().await {
            Ok(weights) => {
                if weights != self.weights {
                    self.set_model(weights)?;
                }
                Ok(TrainProgress { report: None, test: None, finished: true, diverged: None })
            }
            Err(e @ Error::Diverged { .. }) => Ok(run.diverged(e, "")),
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
    /// changes.
    pub fn restore_run(&mut self, bytes: &[u8]) -> Result<RunInfo> {
        if self.is_training() {
            return Err(Error::Input("a training run is going on already: stop it first".into()));
        }
        let snapshot = RunSnapshot::from_bytes(bytes)?;
        let (run, model) = (snapshot.trainer.weights.config, self.weights.config);
        if run != model {
            return Err(Error::Input(format!(
                "the training run is for a model with hidden width {}, latent size {} and β {}, the page's has {}, {} and {}",
                run.hidden, run.latent, run.beta, model.hidden, model.latent, model.beta
            )));
        }
        let trainer = Trainer::resume(snapshot.trainer, self.data.indices(Split::Train), &self.devices.training)?;
        let info = RunInfo {
            steps_per_epoch: trainer.steps_per_epoch(),
            epochs: snapshot.epochs,
            epoch: trainer.epoch(),
            step: trainer.steps(),
            learning_rate: trainer.options().learning_rate,
            batch_size: trainer.options().batch_size,
            seed: trainer.options().seed,
            model: self.model_info(),
        };
        self.training = Some(Run { trainer, epochs: snapshot.epochs, checkpoint: snapshot.checkpoint });
        Ok(info)
    }

    // ---- helpers -------------------------------------------------------------------------------

    /// An error while a step is out of the session: what it would change is the step's to change.
    fn refuse_during_step(&self, what: &str) -> Result<()> {
        if self.step_under_way {
            return Err(Error::Input(format!("cannot {what} while a training step is under way: wait for it to end")));
        }
        Ok(())
    }

    /// The model and index whose neighbours and map the page shows: the previous whole one while
    /// the current index grows after a change of model (true), else the current one.
    fn shown(&self) -> (&Indexed, bool) {
        match &self.previous {
            Some(previous) if !self.is_whole(&self.current.index) => (previous, true),
            _ => (&self.current, false),
        }
    }

    fn is_whole(&self, index: &LatentIndex) -> bool {
        index.len() == self.data.len() && !index.test_losses.is_empty()
    }

    /// Makes `weights` the page's model with an empty index to grow. The index that answers
    /// meanwhile is the newest whole one: the old model's if it was whole, else the one kept
    /// from before.
    fn set_model(&mut self, weights: VaeWeights) -> Result<()> {
        let next = Indexed::empty(&weights, &self.devices)?;
        let mut old = std::mem::replace(&mut self.current, next);
        if self.is_whole(&old.index) {
            // A t-SNE map half made for the old model is of no use any more; a made one is shown
            // with the old index while the new one grows.
            if matches!(old.tsne, TsneStage::Making(_)) {
                old.tsne = TsneStage::None;
            }
            self.previous = Some(old);
        }
        self.weights = weights;
        self.generation += 1;
        Ok(())
    }
}

impl Indexed {
    fn empty(weights: &VaeWeights, devices: &Devices) -> Result<Self> {
        let inference = Inference::new(weights, &devices.sketch)?;
        let encoder =
            if devices.index == devices.sketch { inference.clone() } else { Inference::new(weights, &devices.index)? };
        Ok(Indexed {
            index: LatentIndex::new(inference.latent(), &devices.sketch),
            inference,
            encoder,
            tsne: TsneStage::None,
        })
    }
}

impl Run {
    fn diverged(&self, e: Error, prefix: &str) -> TrainProgress {
        TrainProgress {
            report: None,
            test: None,
            finished: true,
            diverged: Some(format!("{e}. {prefix}the model from {} is back.", self.checkpoint)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{backends, block_on, small_dataset};

    fn small() -> VaeWeights {
        VaeWeights::init(VaeConfig::vae(16, 3, 1.0), 1).unwrap()
    }

    /// The page's default model (784-400-20): a map of its latents separates the digits.
    fn trained() -> VaeWeights {
        VaeWeights::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model/default.safetensors"))
            .unwrap()
    }

    fn request(epochs: usize) -> TrainRequest {
        TrainRequest {
            hidden: 16,
            latent: 3,
            beta: 1.0,
            learning_rate: 1e-3,
            batch_size: 64,
            epochs,
            seed: 0,
            from_scratch: false,
        }
    }

    fn build_index(s: &mut Session) {
        while !block_on(s.index_step()).unwrap().done {}
    }

    /// A pad with a vertical bar: a "1".
    fn bar() -> Vec<f32> {
        let mut grey = vec![0.0; 56 * 56];
        for y in 10..46 {
            for x in 26..30 {
                grey[y * 56 + x] = 1.0;
            }
        }
        grey
    }

    #[test]
    fn an_empty_sketch_is_an_answer_not_an_error() {
        let s = Session::new(small(), Arc::new(small_dataset()), backends()[0].clone()).unwrap();
        assert_eq!(block_on(s.analyse(&[0.0; 100], 10, 10, 8)).unwrap(), None);
        assert!(block_on(s.analyse(&[0.0; 99], 10, 10, 8)).is_err(), "a malformed sketch is still an error");
    }

    #[test]
    fn the_index_grows_in_steps_and_a_model_swap_starts_it_over_on_the_new_model() {
        for device in backends() {
            let data = small_dataset();
            let mut s = Session::new(small(), Arc::new(data.clone()), device.clone()).unwrap();
            let first = block_on(s.index_step()).unwrap();
            assert_eq!((first.indexed, first.scored, first.done), (0, true, false), "the test set is scored first");
            let second = block_on(s.index_step()).unwrap();
            assert_eq!(second.indexed, index_step_digits(&device));
            let generation = s.model_info().generation;

            // A swap drops the half-built index: nothing encoded by the old model stays.
            let other = VaeWeights::init(VaeConfig::vae(16, 3, 1.0), 99).unwrap();
            s.load_model(other.clone()).unwrap();
            assert_eq!(s.model_info().generation, generation + 1);
            assert_eq!(s.index_progress(), IndexProgress { indexed: 0, total: data.len(), scored: false, done: false });
            build_index(&mut s);
            let fresh = Inference::new(&other, &s.devices().sketch).unwrap();
            let expected = block_on(fresh.encode(&data.images(&[0, 300, 624]), None)).unwrap().mu;
            let got: Vec<f32> =
                [0, 300, 624].iter().flat_map(|&i| s.current.index.mu[i * 3..i * 3 + 3].to_vec()).collect();
            crate::test_util::assert_close(&got, &expected, 1e-5);
            assert!(block_on(s.index_step()).unwrap().done, "a whole index stays whole");
        }
    }

    #[test]
    fn jobs_on_different_devices_give_the_answers_of_one_device() {
        // Every pairing of the backends (ndarray and wgpu natively): sketches on one, the index
        // and training on the others. The answers must be those of a session on one device.
        let all = backends();
        let data = Arc::new(small_dataset());
        let mut reference = Session::new(small(), data.clone(), all[0].clone()).unwrap();
        build_index(&mut reference);
        let expected = block_on(reference.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
        for sketch in &all {
            for other in &all {
                let mut s = Session::new(small(), data.clone(), all[0].clone()).unwrap();
                block_on(s.index_step()).unwrap();
                let devices = Devices { sketch: sketch.clone(), index: other.clone(), training: other.clone() };
                assert!(s.place(devices).unwrap());
                build_index(&mut s);
                let got = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
                assert_eq!(
                    got.neighbours.iter().map(|n| n.index).collect::<Vec<_>>(),
                    expected.neighbours.iter().map(|n| n.index).collect::<Vec<_>>()
                );
                crate::test_util::assert_close(&got.reconstruction, &expected.reconstruction, 1e-4);
                // One rank of the 61 test digits at most: their losses come from another device.
                assert!((got.percentile.unwrap() - expected.percentile.unwrap()).abs() <= 100.0 / 61.0 + 1e-9);

                // Training runs on its own device, and its epoch's weights come back to the others.
                s.train_start(request(1)).unwrap();
                assert!(!s.place(Devices::all(sketch)).unwrap(), "no move during a training run");
                while s.is_training() {
                    block_on(s.train_step()).unwrap();
                }
                assert_eq!(s.current.inference.device, *sketch);
                assert_ne!(s.weights(), &small(), "the epoch's weights are the page's model");
            }
        }
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
            let now = block_on(s.current.inference.encode(&s.data.images(&indices(&during)), None)).unwrap().mu;
            assert_eq!(during.neighbours.iter().flat_map(|n| n.mu.clone()).collect::<Vec<_>>(), now);

            // Once the new index is whole it answers, and the previous one is gone.
            build_index(&mut s);
            let after = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(!after.updating);
            assert!(s.previous.is_none());
        }
    }

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
            assert!(refused(block_on(s.training_sample(4, 0)).unwrap_err()));
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
                    assert_eq!(sampled, block_on(s.training_sample(4, 11)).unwrap(), "on {device:?}");
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
        assert!(other.restore_run(&good).unwrap_err().to_string().contains("the page's has 16, 3 and 2"));
        fresh.restore_run(&good).unwrap();
        assert!(fresh.restore_run(&good).is_err(), "one run at a time");
    }

    #[test]
    fn a_tsne_map_is_made_in_steps_restored_whole_and_kept_while_a_new_index_grows() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(trained(), data.clone(), device.clone()).unwrap();
            assert_eq!(s.tsne_status().state, "none");
            assert!(s.tsne_begin().unwrap_err().to_string().contains("before the neighbour index is whole"));
            build_index(&mut s);
            let pca = s.map_points();
            assert!(pca.label_agreement > 0.0 && pca.label_agreement < 1.0);
            assert_eq!(s.tsne_begin().unwrap().state, "making");
            assert_eq!(s.tsne_map(), None);
            assert_eq!(block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap().tsne, None, "no map, no place");
            // 7 steps of affinities (625 rows, 100 a step), then 500 iterations, a step each.
            let mut steps = 0;
            let mut last = 0.0;
            while s.tsne_status().state == "making" {
                let status = s.tsne_step().unwrap();
                assert!(status.fraction >= last, "progress goes forward");
                last = status.fraction;
                steps += 1;
            }
            assert_eq!(steps, 7 + 500);
            assert_eq!(s.tsne_begin().unwrap().state, "made", "begun again, nothing changes");
            let map = s.tsne_map().unwrap();
            assert_eq!((map.points.len(), &map.labels, map.indices.len()), (2 * data.len(), &data.labels, data.len()));
            assert!(map.points.iter().all(|v| v.is_finite()));
            assert!(
                map.label_agreement > pca.label_agreement + 0.1,
                "t-SNE keeps neighbourhoods: {} against PCA's {}",
                map.label_agreement,
                pca.label_agreement
            );
            // The sketch goes among its latent neighbours' places.
            let answer = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            let indices: Vec<usize> = answer.neighbours.iter().map(|n| n.index).collect();
            assert_eq!(answer.tsne, Tsne::place(&map.points, &indices));

            // Restored whole in another session of the same model: the same map, no steps.
            let mut other = Session::new(trained(), data.clone(), device.clone()).unwrap();
            build_index(&mut other);
            for bad in [&map.points[..10], &vec![f32::NAN; 1250][..]] {
                assert!(other.tsne_restore(bad).is_err());
                assert_eq!(other.tsne_status().state, "none");
            }
            assert_eq!(other.tsne_restore(&map.points).unwrap().state, "made");
            assert_eq!(other.tsne_map(), Some(map.clone()));

            // A new model: its t-SNE is to be made; meanwhile the old map stays with the old index.
            let generation = s.model_info().generation;
            s.load_model(small()).unwrap();
            assert_eq!(s.tsne_status(), TsneStatus { state: "none", fraction: 0.0, generation: generation + 1 });
            assert_eq!(s.tsne_map(), Some(map.clone()), "the old map is shown while the index grows");
            let during = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(during.updating && during.tsne == answer.tsne);
            build_index(&mut s);
            assert_eq!(s.tsne_map(), None, "the old index and its map are gone");
            assert_eq!(block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap().tsne, None);
            // Back to the first model: its map is restored, and moving the jobs keeps it.
            s.load_model(trained()).unwrap();
            build_index(&mut s);
            s.tsne_restore(&map.points).unwrap();
            assert!(s.place(Devices::all(&device)).unwrap());
            assert_eq!(s.tsne_map(), Some(map), "a move keeps the made map");
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
        let digits: Vec<Digit> = (0..200).map(|seed| s.random_test_digit(seed)).collect();
        assert!(digits.iter().all(|d| s.data.is_test[d.index] && s.data.labels[d.index] == d.label));
        let labels: std::collections::BTreeSet<u8> = digits.iter().map(|d| d.label).collect();
        assert_eq!(labels.len(), 10, "200 draws cover every digit");
        assert_eq!(digits[3].image, s.data.image(digits[3].index));
    }
}
