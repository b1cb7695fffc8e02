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
//!
//! The files: this one holds the session, its model and where its jobs run; [`maps`] the
//! neighbour index as it grows and the PCA and t-SNE maps; [`map_file`] a t-SNE map as the file
//! shipped beside the page's default model; [`sketch`] the answers to a sketch and
//! the page's other questions of the model; [`training`] the training run and its rules; [`yours`]
//! the digits a person keeps, in the neighbours, as files, and learnt ("Learn my hand"). Every
//! type serialised to the page is in [`wire`], one file, so the names the page reads are in one
//! place; each file's tests are beside its code.

mod history;
mod map_file;
mod maps;
mod reading;
mod record;
mod sketch;
mod training;
pub mod wire;
mod yours;

use std::sync::Arc;

use burn::tensor::Device;

use self::history::ModelHistory;
pub use self::map_file::TsneMapFile;
use self::maps::TsneStage;
pub use self::maps::{AGREEMENT_NEIGHBOURS, PAGE_TSNE};
use self::reading::Conditional;
use self::record::{HeldRun, PendingRun};
use self::training::Run;
pub use self::training::{StepReads, TrainingStep};
pub use self::wire::*;
use self::yours::YourDigits;
pub use self::yours::{MIN_YOUR_DIGITS, YOUR_DIGITS_PREFIX, YourDigit, read_your_digits};
use crate::device::placement::Devices;
use crate::explore::neighbours::LatentIndex;
use crate::model::inference::Inference;
use crate::{Dataset, Error, ModelKind, Result, Split, VaeWeights};

/// A model and the neighbour index it built: the model on the sketch's device, and on the index's
/// device to encode the digits (the same model when the two are one device); and the t-SNE map of
/// its whole index, if the page asked for one.
struct Indexed {
    inference: Inference,
    encoder: Inference,
    index: LatentIndex,
    tsne: TsneStage,
    /// The person's own digits encoded by this model (`yours.rs`), searched beside the index.
    yours: LatentIndex,
    /// The index was whole when the training digits arrived ([`Session::add_training_data`]): it
    /// grows on over them, and until then it answers for a new model's as a whole one would.
    whole_before_training: bool,
}

pub struct Session {
    /// Shared, not copied, with whoever else needs the digits (the page's WebGPU warm-up). None
    /// until they arrive ([`Session::without_data`]): the page answers a sketch with the model alone
    /// before it fetches the data set.
    data: Option<Arc<Dataset>>,
    /// A stored run restored before the training digits arrived: it goes on (paused) once they are
    /// there ([`Session::set_data`], [`Session::add_training_data`]), as it would have at
    /// [`Session::restore`].
    pending_run: Option<PendingRun>,
    /// Where each job runs (see [`crate::device::placement`]).
    devices: Devices,
    weights: VaeWeights,
    /// The model's training history, kept with it.
    history: ModelHistory,
    /// The run as last read for a record ([`Session::held_record`]).
    held_run: Option<HeldRun>,
    /// The current model, on the sketch's and the index's devices.
    current: Indexed,
    /// The last whole index and the model that built it, kept while the current model's index
    /// grows after a change of model, so the page's neighbours stay sensible meanwhile.
    previous: Option<Indexed>,
    /// The conditional model beside the page's, for what needs a label ([`reading`]).
    conditional: Option<Conditional>,
    training: Option<Run>,
    /// The run is out of the session for a step ([`Session::begin_step`]).
    step_under_way: bool,
    /// The run after the last step, read during it ([`Session::take_step_snapshot`]).
    step_snapshot: Option<Result<Vec<u8>>>,
    /// Digits from the weights after the last step, drawn during it ([`Session::take_step_samples`]).
    step_samples: Option<Result<Vec<f32>>>,
    generation: u64,
    /// The digits the person kept (`yours.rs`).
    yours: YourDigits,
}

impl Session {
    /// A session with every job on `device`, showing `weights`; its neighbour index starts empty
    /// (see [`Session::index_step`]).
    pub fn new(weights: VaeWeights, data: Arc<Dataset>, device: Device) -> Result<Self> {
        Self::placed(weights, data, Devices::all(&device))
    }

    /// A session with each job on its device in `devices`.
    pub fn placed(weights: VaeWeights, data: Arc<Dataset>, devices: Devices) -> Result<Self> {
        let mut session = Self::without_data(weights, devices)?;
        session.set_data(data)?;
        Ok(session)
    }

    /// A session that answers with its model alone (a sketch's reconstruction and score, samples,
    /// decodes, walks) until [`Session::set_data`] gives it the digits that the neighbours, the
    /// score's percentile, the maps and training need; those say they wait for them meanwhile.
    pub fn without_data(weights: VaeWeights, devices: Devices) -> Result<Self> {
        let current = Indexed::empty(&weights, &devices)?;
        Ok(Session {
            data: None,
            pending_run: None,
            devices,
            weights,
            history: ModelHistory::default(),
            held_run: None,
            current,
            previous: None,
            conditional: None,
            training: None,
            step_under_way: false,
            step_snapshot: None,
            step_samples: None,
            generation: 0,
            yours: YourDigits::default(),
        })
    }

    pub fn weights(&self) -> &VaeWeights {
        &self.weights
    }

    /// The model's training history, and the steps of a run since its last epoch's end.
    pub fn history(&self) -> &History {
        &self.history.history
    }

    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// The data set, once it has arrived.
    pub fn data(&self) -> Option<&Arc<Dataset>> {
        self.data.as_ref()
    }

    /// The data set arrives (once): the neighbour index starts growing at the next
    /// [`Session::index_step`], and a run restored before it goes on, paused — said in the answer
    /// as [`Session::restore`] says it (`run`, or `run_error` if it cannot go on). It needs test
    /// digits (the score's percentile is ranked among them); its training digits may come later
    /// ([`Session::add_training_data`]: the page fetches them when something first trains), and
    /// a restored run then waits on for them (`run_waits_for_data`).
    pub fn set_data(&mut self, data: Arc<Dataset>) -> Result<Restored> {
        if self.data.is_some() {
            return Err(Error::Input("the session has its data set already".into()));
        }
        if data.indices(Split::Test).is_empty() {
            return Err(Error::Data("the data set needs test digits (training digits may come later)".into()));
        }
        self.data = Some(data);
        Ok(self.resume_pending())
    }

    /// The data set's training digits arrive after its test digits ([`Session::set_data`] with
    /// test digits alone): they are appended, so every digit keeps its index, and the neighbour
    /// index goes on growing over them. A t-SNE map that does not place them is dropped, to be
    /// made again once the index is whole (a map of the whole data set, as the shipped map file,
    /// stays); a run restored before them goes on, as [`Session::set_data`] says. Refused (nothing
    /// changed) before the test digits, when the session has training digits already, or when
    /// `digits` are not all training digits.
    pub fn add_training_data(&mut self, digits: &Dataset) -> Result<Restored> {
        let data = self
            .data
            .as_ref()
            .ok_or_else(|| Error::Input("the training digits come after the data set's test digits".into()))?;
        if self.has_training_data() {
            return Err(Error::Input("the session has its training digits already".into()));
        }
        if digits.is_empty() || digits.is_test.iter().any(|&t| t) {
            return Err(Error::Data("the training digits' file holds no digits, or test digits".into()));
        }
        self.current.whole_before_training = self.is_whole(&self.current.index);
        let data = Arc::new(data.appended(digits));
        // A previous model's index, kept while the current one grows, answers on with the test
        // digits until the current one is whole.
        for indexed in std::iter::once(&mut self.current).chain(self.previous.as_mut()) {
            indexed.tsne.keep_if_it_places(&data.labels);
        }
        self.data = Some(data);
        Ok(self.resume_pending())
    }

    /// Whether the data set's training digits are here: training and "Learn my hand" wait for them.
    pub fn has_training_data(&self) -> bool {
        self.data.as_ref().is_some_and(|data| data.is_test.iter().any(|&t| !t))
    }

    /// The answer to new digits: a stored run that waited for the training digits goes on now.
    fn resume_pending(&mut self) -> Restored {
        let mut restored = Restored { model: self.model_info(), run: None, run_error: None, run_waits_for_data: false };
        if !self.has_training_data() {
            restored.run_waits_for_data = self.pending_run.is_some();
        } else if let Some(pending) = self.pending_run.take() {
            match self.resume_stored(pending) {
                Ok(run) => restored.run = Some(run),
                Err(e) => restored.run_error = Some(e),
            }
        }
        restored
    }

    /// The data set, or an error saying that `what` waits for it.
    fn dataset(&self, what: &str) -> Result<&Arc<Dataset>> {
        self.data.as_ref().ok_or_else(|| Error::Input(format!("cannot {what} before the data set has arrived")))
    }

    /// The training digits' indices, or an error saying that `what` waits for them (or for the
    /// data set).
    fn training_digits(&self, what: &str) -> Result<Vec<usize>> {
        let train = self.dataset(what)?.indices(Split::Train);
        if train.is_empty() {
            return Err(Error::Input(format!("cannot {what} before the training digits have arrived")));
        }
        Ok(train)
    }

    pub fn model_info(&self) -> ModelInfo {
        ModelInfo::of(&self.weights, self.generation)
    }

    pub fn is_training(&self) -> bool {
        self.training.is_some() || self.step_under_way
    }

    /// Makes `weights` the page's model, with no training history; ends any training run (a run
    /// of the conditional model ends as a diverged one does: its steps go, its checkpoint stays).
    pub fn load_model(&mut self, weights: VaeWeights) -> Result<ModelInfo> {
        self.refuse_during_step("load a model")?;
        self.set_model(weights)?;
        self.history = ModelHistory::default();
        self.held_run = None;
        self.pending_run = None;
        if self.training.take().is_some_and(|run| run.kind == ModelKind::Cvae) {
            self.history_mut(ModelKind::Cvae).run_dropped();
        }
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
        let yours = self.current.yours.on_device(&devices.sketch);
        let tsne = std::mem::replace(&mut self.current.tsne, TsneStage::None);
        self.current = Indexed { index, tsne, yours, ..moved };
        self.devices = devices;
        self.place_conditional()?;
        Ok(true)
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
        self.data.as_ref().is_some_and(|data| index.len() == data.len()) && !index.test_losses.is_empty()
    }

    /// Makes `weights` the page's model with an empty index to grow. The index that answers
    /// meanwhile is the newest whole one: the old model's if it was whole, else the one kept
    /// from before.
    fn set_model(&mut self, weights: VaeWeights) -> Result<()> {
        let next = Indexed::empty(&weights, &self.devices)?;
        let mut old = std::mem::replace(&mut self.current, next);
        if self.is_whole(&old.index) || old.whole_before_training {
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
    /// The page's model on its devices, its index empty. The sketchpad reconstructs, scores and
    /// maps a sketch with no digit given, so its model is the seed's kind: a conditional model
    /// (which needs each image's digit) is refused here, the one place a model becomes the page's.
    fn empty(weights: &VaeWeights, devices: &Devices) -> Result<Self> {
        if weights.config.kind != ModelKind::Vae {
            return Err(Error::Input(
                "this is a conditional model (kind cvae), which needs each digit's label: the sketchpad's model is the \
                 seed's kind (vae), which reads a sketch without one"
                    .into(),
            ));
        }
        let inference = Inference::new(weights, &devices.sketch)?;
        let encoder =
            if devices.index == devices.sketch { inference.clone() } else { Inference::new(weights, &devices.index)? };
        Ok(Indexed {
            index: LatentIndex::new(inference.latent(), &devices.sketch),
            yours: LatentIndex::new(inference.latent(), &devices.sketch),
            inference,
            encoder,
            tsne: TsneStage::None,
            whole_before_training: false,
        })
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::VaeConfig;
    use crate::test_util::block_on;

    pub(super) fn small() -> VaeWeights {
        VaeWeights::init(VaeConfig::vae(16, 3, 1.0), 1).unwrap()
    }

    /// The page's default model (784-400-20): a map of its latents separates the digits.
    pub(super) fn trained() -> VaeWeights {
        VaeWeights::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model/default.safetensors"))
            .unwrap()
    }

    pub(super) fn request(epochs: usize) -> TrainRequest {
        TrainRequest {
            hidden: 16,
            latent: 3,
            beta: 1.0,
            learning_rate: 1e-3,
            batch_size: 64,
            epochs,
            seed: 0,
            from_scratch: false,
            kind: crate::ModelKind::Vae,
        }
    }

    pub(super) fn build_index(s: &mut Session) {
        while !block_on(s.index_step()).unwrap().done {}
    }

    /// A pad with a vertical bar: a "1".
    pub(super) fn bar() -> Vec<f32> {
        let mut grey = vec![0.0; 56 * 56];
        for y in 10..46 {
            for x in 26..30 {
                grey[y * 56 + x] = 1.0;
            }
        }
        grey
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::test_util::{backends, block_on, small_dataset, small_parts};

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

    /// Before its data set arrives a session answers with its model alone, and what needs the
    /// digits says so; once they arrive, the index grows and everything answers as in a session
    /// that had them from the start.
    #[test]
    fn a_session_answers_with_its_model_before_the_data_set_arrives() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::without_data(small(), Devices::all(&device)).unwrap();
            let early = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(early.neighbours.is_empty() && early.percentile.is_none());
            let mut reference = Session::new(small(), data.clone(), device.clone()).unwrap();
            let expected = block_on(reference.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert_eq!(early.reconstruction, expected.reconstruction);
            assert_eq!((early.loss, early.recon, early.kl), (expected.loss, expected.recon, expected.kl));
            assert_eq!(block_on(s.sample(4, 1.0, 3)).unwrap(), block_on(reference.sample(4, 1.0, 3)).unwrap());

            let waiting = IndexProgress { indexed: 0, total: 0, scored: false, done: false };
            assert_eq!(block_on(s.index_step()).unwrap(), waiting);
            let refused = |e: Error| e.to_string();
            assert_eq!(
                refused(s.train_start(request(1)).unwrap_err()),
                "invalid input: cannot train before the data set has arrived"
            );
            assert_eq!(
                refused(s.random_test_digit(1).unwrap_err()),
                "invalid input: cannot draw a test digit before the data set has arrived"
            );
            assert!(block_on(s.digit(0)).is_err() && s.tsne_map().is_none());

            // A data set without test digits is refused, and the session still waits.
            let no_test = Dataset { is_test: vec![false; data.len()], ..(*data).clone() };
            assert!(s.set_data(Arc::new(no_test)).unwrap_err().to_string().contains("needs test digits"));
            assert!(s.data().is_none());

            let arrived = s.set_data(data.clone()).unwrap();
            assert_eq!((arrived.run, arrived.run_waits_for_data), (None, false));
            assert!(s.set_data(data.clone()).unwrap_err().to_string().contains("has its data set already"));
            build_index(&mut s);
            build_index(&mut reference);
            let now = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            let then = block_on(reference.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert_eq!((now.neighbours, now.percentile), (then.neighbours, then.percentile));
            s.train_start(request(1)).unwrap();
        }
    }

    /// The page's data set in two parts: its test digits first (the neighbours and the score's
    /// percentile from them), its training digits when something trains. Training waits for
    /// them; once they are appended the index grows on over them, every digit keeping its index,
    /// and everything answers as in a session that had the whole set (test digits first) at once.
    #[test]
    fn the_test_digits_come_first_and_the_training_digits_when_training_needs_them() {
        for device in backends() {
            let (test, train) = small_parts();
            let whole = Arc::new(test.appended(&train));
            let mut s = Session::without_data(small(), Devices::all(&device)).unwrap();
            assert!(s.add_training_data(&train).unwrap_err().to_string().contains("come after the data set's test"));
            assert!(s.set_data(Arc::new(train.clone())).unwrap_err().to_string().contains("needs test digits"));
            let arrived = s.set_data(Arc::new(test.clone())).unwrap();
            assert_eq!((arrived.run, arrived.run_waits_for_data, s.has_training_data()), (None, false, false));
            let refused = |e: Error| e.to_string();
            assert_eq!(
                refused(s.train_start(request(1)).unwrap_err()),
                "invalid input: cannot train before the training digits have arrived"
            );

            // The test digits alone: a whole index of them, the neighbours among them, the percentile.
            build_index(&mut s);
            let progress = s.index_progress();
            assert_eq!((progress.indexed, progress.total, progress.done), (61, 61, true));
            let mut reference = Session::new(small(), whole.clone(), device.clone()).unwrap();
            build_index(&mut reference);
            let early = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            let expected = block_on(reference.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(early.neighbours.iter().all(|n| n.index < 61 && whole.is_test[n.index]));
            assert_eq!(early.percentile, expected.percentile, "ranked among the same test digits");
            assert_eq!(s.map_points().indices, (0..61).collect::<Vec<_>>());

            // The training digits: refused if any is a test digit; then appended, once.
            assert!(s.add_training_data(&test).unwrap_err().to_string().contains("or test digits"));
            let arrived = s.add_training_data(&train).unwrap();
            assert_eq!((arrived.run, arrived.run_waits_for_data, s.has_training_data()), (None, false, true));
            assert!(s.add_training_data(&train).unwrap_err().to_string().contains("has its training digits already"));
            let growing = s.index_progress();
            assert_eq!((growing.indexed, growing.total, growing.done, growing.scored), (61, 625, false, true));
            assert_eq!(block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap().neighbours, early.neighbours);
            // A new model meanwhile (a run from random weights): the index of the test digits
            // answers, as a whole one would, while the new one grows.
            let mut other = Session::without_data(small(), Devices::all(&device)).unwrap();
            other.set_data(Arc::new(test.clone())).unwrap();
            build_index(&mut other);
            other.add_training_data(&train).unwrap();
            other.train_start(TrainRequest { from_scratch: true, ..request(1) }).unwrap();
            let during = block_on(other.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            // (Their μ is the new model's: compare the digits.)
            let digits = |a: &SketchAnswer| a.neighbours.iter().map(|n| n.index).collect::<Vec<_>>();
            assert!(during.updating);
            assert_eq!((digits(&during), during.percentile), (digits(&early), early.percentile));
            build_index(&mut s);
            let now = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            // The digits were encoded in other batches than the reference's: the same up to rounding.
            assert_eq!((digits(&now), now.percentile), (digits(&expected), expected.percentile));
            let (map, reference_map) = (s.map_points(), reference.map_points());
            assert_eq!((&map.indices, &map.labels), (&reference_map.indices, &reference_map.labels));
            crate::test_util::assert_close(&map.points, &reference_map.points, 1e-3);
            assert_eq!(s.train_start(request(1)).unwrap().steps_per_epoch, 9, "564 training digits at 64 a batch");
        }
    }

    /// A conditional model cannot be the sketchpad's (it needs each digit's label): refused when
    /// a session starts with it, and when it is loaded, with nothing changed (a stored record
    /// holding one: `record.rs`).
    #[test]
    fn a_conditional_model_is_refused_as_the_pages_and_nothing_changes() {
        let data = Arc::new(small_dataset());
        let cvae = VaeWeights::init(crate::VaeConfig::cvae(16, 3, 1.0), 1).unwrap();
        let device = backends()[0].clone();
        let e = Session::new(cvae.clone(), data.clone(), device.clone()).err().unwrap().to_string();
        assert!(e.contains("this is a conditional model (kind cvae)"), "{e}");
        let mut s = Session::new(small(), data, device).unwrap();
        let generation = s.model_info().generation;
        let e = s.load_model(cvae.clone()).unwrap_err().to_string();
        assert!(e.contains("the sketchpad's model is the seed's kind"), "{e}");
        assert_eq!((s.weights(), s.model_info().generation), (&small(), generation));
        assert!(block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().is_some(), "the page's model still answers");
    }
}
