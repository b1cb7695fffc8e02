//! The page's model's record: the one blob the page keeps in the browser and hands to a fresh
//! worker when the GPU is lost — the model, its training history and the training run going on, if
//! any, and the conditional model when it is the session's own (trained, imported or restored: not
//! the shipped one, which the page fetches again) as a record of its own inside it
//! ([`Session::record`], [`Session::restore`]).
//!
//! The format is a safetensors file (version 1):
//! - tensors: `model` (U8: the page's model as its safetensors file, [`VaeWeights::to_safetensors`]),
//!   `history.steps` and `history.tests` (F64 `[n, 5]`: step, epoch, loss, recon, kl per record;
//!   step and epoch count over the model's life), and `run` (U8: the run's snapshot,
//!   [`crate::model::snapshot`]) when a run is stored;
//! - metadata, decimal strings: `format` = `latent-sketchpad-record`, `version` = `1`,
//!   `model_steps` (how many step records are the model's; those after are the run's since its last
//!   epoch's end), and with a run `run_steps` and `run_epochs` (the model's steps and epochs when
//!   the run began: the run's own count on from them);
//! - `conditional` (U8, optional, in the page's model's record only): the conditional model's record,
//!   in this same format, with its history and the run when the run trains it (at most one of the
//!   two records holds a run).
//!
//! Reading checks everything and says what is wrong; it never panics on any input.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::history::{Counted, ModelHistory};
use super::{History, Restored, RunInfo, Session, TrainRecord};
use crate::limits::LIMITS;
use crate::model::snapshot::MAX_SNAPSHOT_BYTES;
use crate::{Error, ModelKind, Result, VaeWeights};

const FORMAT: &str = "latent-sketchpad-record";
const VERSION: &str = "1";
/// Fields of a history record, in their order in `history.*`.
const FIELDS: usize = 5;
/// The records a history may hold: a thousand epochs of 470 steps (the default run's), twenty
/// times over.
const MAX_HISTORY_RECORDS: usize = 10_000_000;
/// A model's record; the page's may hold the conditional model's beside its own.
const MAX_MODEL_RECORD_BYTES: usize = MAX_SNAPSHOT_BYTES + LIMITS.max_model_bytes + 8 * FIELDS * MAX_HISTORY_RECORDS;
const MAX_RECORD_BYTES: usize = 2 * MAX_MODEL_RECORD_BYTES;
/// Step and epoch counts are stored as F64: whole numbers up to 2⁵³ read back exactly.
const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// A record as read: the model, its history and the run stored with it; and the conditional
/// model's record, in the page's model's.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    weights: VaeWeights,
    history: ModelHistory,
    run: Option<StoredRun>,
    conditional: Option<Box<Record>>,
}

/// A run as a record stores it: its snapshot and the model's counts when it began.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StoredRun {
    pub(super) snapshot: Vec<u8>,
    pub(super) counted: Counted,
}

/// The run last read for a record, kept for [`Session::held_record`]: the kind of model it trains,
/// and the number of step records that model had when it was read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HeldRun {
    pub(super) run: StoredRun,
    pub(super) kind: ModelKind,
    pub(super) steps: usize,
}

/// A stored run that waits for the data set's training digits to go on ([`Session::set_data`],
/// [`Session::add_training_data`]): its steps since the last epoch's end wait with it, and the
/// kind of model it trains.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PendingRun {
    run: StoredRun,
    tail: Vec<TrainRecord>,
    kind: ModelKind,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Input(format!("not a record of a model this page can read: {what}"))
}

#[cfg(test)]
fn write(weights: &[u8], history: &History, model_steps: usize, run: Option<&StoredRun>) -> Result<Vec<u8>> {
    write_with(weights, history, model_steps, run, None)
}

/// [`write`], with the conditional model's record inside if given.
fn write_with(
    weights: &[u8],
    history: &History,
    model_steps: usize,
    run: Option<&StoredRun>,
    conditional: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let rows = |records: &[TrainRecord]| -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| [r.step as f64, r.epoch as f64, r.loss, r.recon, r.kl])
            .flat_map(f64::to_le_bytes)
            .collect()
    };
    let (steps, tests) = (rows(&history.steps), rows(&history.tests));
    let mut owned: Vec<(&str, Dtype, Vec<usize>, &[u8])> = vec![
        ("model", Dtype::U8, vec![weights.len()], weights),
        ("history.steps", Dtype::F64, vec![history.steps.len(), FIELDS], &steps),
        ("history.tests", Dtype::F64, vec![history.tests.len(), FIELDS], &tests),
    ];
    let mut metadata: HashMap<String, String> =
        [("format", FORMAT.to_string()), ("version", VERSION.to_string()), ("model_steps", model_steps.to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    if let Some(conditional) = conditional {
        owned.push(("conditional", Dtype::U8, vec![conditional.len()], conditional));
    }
    if let Some(run) = run {
        owned.push(("run", Dtype::U8, vec![run.snapshot.len()], &run.snapshot));
        metadata.insert("run_steps".into(), run.counted.steps.to_string());
        metadata.insert("run_epochs".into(), run.counted.epochs.to_string());
    }
    let written = |e: safetensors::SafeTensorError| Error::Input(format!("the record could not be written: {e}"));
    let views = owned
        .into_iter()
        .map(|(name, dtype, shape, bytes)| TensorView::new(dtype, shape, bytes).map(|v| (name, v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(written)?;
    safetensors::serialize(views, Some(metadata)).map_err(written)
}

fn read(bytes: &[u8]) -> Result<Record> {
    let record = read_part(bytes, false)?;
    if let Some(conditional) = &record.conditional {
        if conditional.weights.config.kind != ModelKind::Cvae {
            return Err(bad(format!("its conditional model is a model {}", conditional.weights.config.describe())));
        }
        if record.run.is_some() && conditional.run.is_some() {
            return Err(bad("both its models hold a training run"));
        }
    }
    Ok(record)
}

/// A record, the page's model's (which may hold the conditional model's) or, `inner`, the
/// conditional model's inside it.
fn read_part(bytes: &[u8], inner: bool) -> Result<Record> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(bad(format!("{} bytes; a record is at most {MAX_RECORD_BYTES} bytes", bytes.len())));
    }
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let text = |key: &str| meta.get(key).map(String::as_str).ok_or_else(|| bad(format!("metadata {key} is missing")));
    if text("format")? != FORMAT {
        return Err(bad(format!("its format is {:?}", text("format")?)));
    }
    if text("version")? != VERSION {
        return Err(bad(format!("version {:?}; this page reads version {VERSION}", text("version")?)));
    }
    let number = |key: &str| -> Result<u64> {
        let v = text(key)?;
        v.parse().map_err(|_| bad(format!("metadata {key} = {v:?} is not a count")))
    };
    let has_run = meta.contains_key("run_steps") || meta.contains_key("run_epochs");
    let mut names: Vec<&str> = tensors.names().into_iter().collect();
    let mut expected = vec!["history.steps", "history.tests", "model"];
    if has_run {
        expected.push("run");
    }
    let has_conditional = !inner && names.contains(&"conditional");
    if has_conditional {
        expected.push("conditional");
    }
    names.sort_unstable();
    expected.sort_unstable();
    if names != expected {
        return Err(bad(format!("its tensors are [{}], expected [{}]", names.join(", "), expected.join(", "))));
    }
    let bytes_of = |name: &str| -> Result<Vec<u8>> {
        let view = tensors.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
        if view.dtype() != Dtype::U8 || view.shape().len() != 1 {
            return Err(bad(format!("{name} is {:?} {:?}, expected U8 bytes", view.dtype(), view.shape())));
        }
        Ok(view.data().to_vec())
    };
    let weights =
        VaeWeights::from_safetensors(&bytes_of("model")?).map_err(|e| bad(format!("its model is unusable: {e}")))?;
    let records = |name: &str| -> Result<Vec<TrainRecord>> {
        let view = tensors.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
        if view.dtype() != Dtype::F64 || view.shape().len() != 2 || view.shape()[1] != FIELDS {
            return Err(bad(format!("{name} is {:?} {:?}, expected F64 [n, {FIELDS}]", view.dtype(), view.shape())));
        }
        if view.shape()[0] > MAX_HISTORY_RECORDS {
            return Err(bad(format!("{name} holds {} records, at most {MAX_HISTORY_RECORDS}", view.shape()[0])));
        }
        let values: Vec<f64> =
            view.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
        let count = |v: f64| (v.fract() == 0.0 && (0.0..=MAX_COUNT).contains(&v)).then_some(v as u64);
        values
            .chunks_exact(FIELDS)
            .enumerate()
            .map(|(i, r)| match (count(r[0]), count(r[1]), r[2..].iter().all(|v| v.is_finite())) {
                (Some(step), Some(epoch), true) => Ok(TrainRecord { step, epoch, loss: r[2], recon: r[3], kl: r[4] }),
                _ => Err(bad(format!("{name} record {i} is damaged ({r:?})"))),
            })
            .collect()
    };
    let history = History { steps: records("history.steps")?, tests: records("history.tests")? };
    let model_steps = usize::try_from(number("model_steps")?).unwrap_or(usize::MAX);
    let run = if has_run {
        let counted = Counted { steps: number("run_steps")?, epochs: number("run_epochs")? };
        Some(StoredRun { snapshot: bytes_of("run")?, counted })
    } else {
        None
    };
    let steps = history.steps.len();
    if model_steps > steps || (run.is_none() && model_steps != steps) {
        let without = if run.is_some() { "" } else { ", and it holds no run" };
        return Err(bad(format!("{model_steps} of its {steps} step records are said to be the model's{without}")));
    }
    let conditional = if has_conditional {
        let inside = read_part(&bytes_of("conditional")?, true)
            .map_err(|e| bad(format!("its conditional model's record is unusable: {e}")))?;
        Some(Box::new(inside))
    } else {
        None
    };
    Ok(Record { weights, history: ModelHistory::new(history, model_steps), run, conditional })
}

/// A model's record: `weights` with `history` (and `tail`, steps of a run waiting for the data set)
/// up to `held`'s run if given, with it, and `conditional` inside.
fn record_part(
    weights: &VaeWeights,
    history: &ModelHistory,
    tail: &[TrainRecord],
    held: Option<&HeldRun>,
    conditional: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let all = [history.history.steps.as_slice(), tail].concat();
    let steps = held.map_or(history.model_steps, |held| held.steps);
    let kept = History { steps: all[..steps].to_vec(), tests: history.history.tests.clone() };
    write_with(&weights.to_safetensors()?, &kept, history.model_steps, held.map(|held| &held.run), conditional)
}

impl Session {
    /// The record of the page's model as bytes (see the module's doc): the model, its history and
    /// the run going on, if any, at the step it reached — read by the last step if it read it
    /// ([`Session::begin_step`]), else now. Between steps (refused while one is out).
    pub async fn record(&mut self) -> Result<Vec<u8>> {
        if self.pending_run.is_some() {
            return self.held_record();
        }
        let snapshot = match self.take_step_snapshot()? {
            Some(snapshot) => Some(snapshot),
            None => self.run_snapshot().await?,
        };
        let held = snapshot.zip(self.training.as_ref()).map(|(snapshot, run)| HeldRun {
            run: StoredRun { snapshot, counted: run.counted },
            kind: run.kind,
            steps: self.history_of(run.kind).map_or(0, |h| h.steps.len()),
        });
        let bytes = self.record_of(held.as_ref(), &[])?;
        self.held_run = held;
        Ok(bytes)
    }

    /// The record from what the session holds, reading no device (for a GPU that is lost): the
    /// page's model, and the run as [`Session::record`] last read it, unless the run ended by its
    /// own rules since (its epochs done, divergence, Stop, a new model): a run whose step failed
    /// (a lost device) is kept (its steps since are not in it).
    pub fn held_record(&self) -> Result<Vec<u8>> {
        if let Some(pending) = &self.pending_run {
            // As it was restored: the model's history, then the run's steps.
            let steps = self.history_of(pending.kind).map_or(0, |h| h.steps.len()) + pending.tail.len();
            let held = HeldRun { run: pending.run.clone(), kind: pending.kind, steps };
            return self.record_of(Some(&held), &pending.tail);
        }
        // A run read before its model last moved (an epoch's end) is older than the model.
        let held = self.held_run.as_ref().filter(|held| held.steps >= self.model_steps_of(held.kind));
        self.record_of(held, &[])
    }

    fn model_steps_of(&self, kind: ModelKind) -> usize {
        match kind {
            ModelKind::Vae => self.history.model_steps,
            ModelKind::Cvae => self.conditional.as_ref().map_or(0, |c| c.history.model_steps),
        }
    }

    /// A record of the page's model and history, with `held`'s run and its steps if given (`tail`:
    /// the steps of a run that waits for the data set), and the conditional model's inside when it
    /// is the session's own or the run trains it.
    fn record_of(&self, held: Option<&HeldRun>, tail: &[TrainRecord]) -> Result<Vec<u8>> {
        let of = |kind: ModelKind| held.filter(|held| held.kind == kind);
        let tail_of = |kind: ModelKind| if of(kind).is_some() { tail } else { &[] };
        let conditional = match &self.conditional {
            Some(c) if c.own || of(ModelKind::Cvae).is_some() => {
                Some(record_part(&c.weights, &c.history, tail_of(ModelKind::Cvae), of(ModelKind::Cvae), None)?)
            }
            _ => None,
        };
        record_part(&self.weights, &self.history, tail_of(ModelKind::Vae), of(ModelKind::Vae), conditional.as_deref())
    }

    /// Makes a record ([`Session::record`], [`Session::held_record`]) the session's: its model and
    /// history become the page's (ending any run), and its run, if it has one, goes on paused at
    /// the step it was read at. A record that cannot be used is refused with what is wrong and
    /// nothing changes. A run that cannot be resumed (damaged, or its history does not end at its
    /// step) is dropped, with why, and the model stays.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<Restored> {
        self.refuse_during_step("restore a record")?;
        let Record { weights, mut history, run, conditional } = read(bytes)?;
        self.load_model(weights)?;
        let tail = history.history.steps.split_off(history.model_steps);
        self.history = history;
        let mut pending = run.map(|run| PendingRun { run, tail, kind: ModelKind::Vae });
        if let Some(conditional) = conditional {
            let Record { weights, mut history, run, .. } = *conditional;
            let tail = history.history.steps.split_off(history.model_steps);
            self.replace_conditional(weights, history, true)?;
            if let Some(run) = run {
                pending = Some(PendingRun { run, tail, kind: ModelKind::Cvae });
            }
        }
        let mut restored = Restored { model: self.model_info(), run: None, run_error: None, run_waits_for_data: false };
        let Some(pending) = pending else {
            return Ok(restored);
        };
        if !self.has_training_data() {
            self.pending_run = Some(pending);
            restored.run_waits_for_data = true;
            return Ok(restored);
        }
        match self.resume_stored(pending) {
            Ok(run) => restored.run = Some(run),
            Err(e) => restored.run_error = Some(e),
        }
        Ok(restored)
    }

    /// A stored run goes on, paused at its step, with its steps since the last epoch's end; or
    /// why it cannot.
    pub(super) fn resume_stored(
        &mut self,
        PendingRun { run, tail, kind }: PendingRun,
    ) -> std::result::Result<RunInfo, String> {
        let info = self.resume_run(&run.snapshot, run.counted).map_err(|e| e.to_string())?;
        if info.model.kind != kind {
            self.training = None;
            return Err(format!(
                "it trains a model of kind {}, stored with one of kind {}",
                info.model.kind.name(),
                kind.name()
            ));
        }
        let history = &mut self.history_mut(kind).history;
        let last = tail.last().or(history.steps.last()).map_or(0, |r| r.step);
        if last != info.step {
            self.training = None;
            return Err(format!("its history ends at step {last}, the run at step {}", info.step));
        }
        history.steps.extend(tail);
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::super::{TrainProgress, TrainRequest};
    use super::*;
    use crate::ModelKind;
    use crate::device::placement::Devices;
    use crate::test_util::{backends, block_on, small_dataset, small_parts};

    /// 564 training digits in batches of 64: 9 steps an epoch.
    fn run(epochs: usize) -> TrainRequest {
        TrainRequest { batch_size: 64, ..request(epochs) }
    }

    fn steps(s: &mut Session, n: usize) -> Vec<TrainProgress> {
        (0..n).map(|_| block_on(s.train_step()).unwrap()).collect()
    }

    /// A session `n` steps into a 2-epoch run, and its record then.
    fn recorded_run(device: &crate::Device, data: &Arc<crate::Dataset>, n: usize) -> (Session, Vec<u8>) {
        let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
        s.train_start(run(2)).unwrap();
        steps(&mut s, n);
        let bytes = block_on(s.record()).unwrap();
        (s, bytes)
    }

    #[test]
    fn a_record_of_a_conditional_model_is_refused_and_nothing_changes() {
        let mut s = Session::new(small(), Arc::new(small_dataset()), backends()[0].clone()).unwrap();
        let cvae = VaeWeights::init(crate::VaeConfig::cvae(16, 3, 1.0), 1).unwrap();
        let bytes = write(&cvae.to_safetensors().unwrap(), &History::default(), 0, None).unwrap();
        let e = s.restore(&bytes).unwrap_err().to_string();
        assert!(e.contains("this is a conditional model (kind cvae)"), "{e}");
        assert_eq!(s.weights(), &small());
    }

    #[test]
    fn a_record_restores_the_model_its_history_and_a_paused_run_that_goes_on_with_the_same_next_step() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            // Past the first epoch's end: the model is that epoch's, 3 steps of the run are not.
            let (mut s, bytes) = recorded_run(&device, &data, 12);
            let (model, history) = (s.weights().clone(), s.history().clone());
            assert_eq!((history.steps.len(), history.tests.len()), (12, 1));
            let next = steps(&mut s, 2);

            let mut other = Session::new(small(), data.clone(), device.clone()).unwrap();
            let restored = other.restore(&bytes).unwrap();
            assert_eq!(restored.run_error, None);
            let info = restored.run.expect("the run is stored");
            assert_eq!((info.step, info.run_step, info.epoch, info.epochs), (12, 12, 1, 2));
            assert_eq!((other.weights(), other.history()), (&model, &history));
            assert!(other.is_training(), "paused, not ended");
            assert_eq!(steps(&mut other, 2), next, "the same next steps, bit for bit, on {device:?}");

            // The record held in memory (a lost GPU) is the run as last read, whatever came since.
            let held = s.held_record().unwrap();
            let mut third = Session::new(small(), data.clone(), device.clone()).unwrap();
            assert_eq!(third.restore(&held).unwrap().run.unwrap().step, 12);
            assert_eq!(third.history(), &history);

            // Without a run: the model and its history, nothing else; a stopped run is not held.
            block_on(s.train_stop()).unwrap();
            assert_eq!(read(&s.held_record().unwrap()).unwrap().run, None);
            let stopped = block_on(s.record()).unwrap();
            let mut fourth = Session::new(small(), data.clone(), device.clone()).unwrap();
            let restored = fourth.restore(&stopped).unwrap();
            assert_eq!((restored.run, restored.run_error), (None, None));
            assert_eq!((fourth.weights(), fourth.history()), (s.weights(), s.history()));
            assert_eq!(fourth.history().steps.len(), 14, "Stop makes the run's steps the model's");
            assert!(!fourth.is_training());
        }
    }

    #[test]
    fn a_run_restored_before_the_data_set_waits_for_it_and_then_goes_on_with_the_same_steps() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let (mut s, bytes) = recorded_run(&device, &data, 12);
            let (model, history) = (s.weights().clone(), s.history().clone());
            let next = steps(&mut s, 2);

            let mut early = Session::without_data(small(), Devices::all(&device)).unwrap();
            let restored = early.restore(&bytes).unwrap();
            assert_eq!((restored.run, restored.run_error, restored.run_waits_for_data), (None, None, true));
            assert_eq!(early.weights(), &model, "the model answers at once");
            assert!(!early.is_training());
            // Meanwhile its record is the one it restored: a worker that takes over keeps the run.
            assert_eq!(read(&block_on(early.record()).unwrap()).unwrap(), read(&bytes).unwrap());
            assert_eq!(read(&early.held_record().unwrap()).unwrap(), read(&bytes).unwrap());

            let arrived = early.set_data(data.clone()).unwrap();
            assert_eq!((arrived.run_error, arrived.run_waits_for_data), (None, false));
            assert_eq!(arrived.run.expect("the run goes on").step, 12);
            assert_eq!(early.history(), &history);
            assert_eq!(steps(&mut early, 2), next, "the same next steps, bit for bit, on {device:?}");
        }
    }

    /// The page gets its test digits first: a stored run waits on past them, for the training
    /// digits, and then goes on as in a session that had the whole set (test digits first).
    #[test]
    fn a_restored_run_waits_past_the_test_digits_for_the_training_digits() {
        for device in backends() {
            let (test, train) = small_parts();
            let (mut s, bytes) = recorded_run(&device, &Arc::new(test.appended(&train)), 12);
            let next = steps(&mut s, 2);

            let mut early = Session::without_data(small(), Devices::all(&device)).unwrap();
            assert!(early.restore(&bytes).unwrap().run_waits_for_data);
            let tested = early.set_data(Arc::new(test)).unwrap();
            assert_eq!((tested.run, tested.run_error, tested.run_waits_for_data), (None, None, true));
            assert!(!early.is_training());
            assert_eq!(
                read(&early.held_record().unwrap()).unwrap(),
                read(&bytes).unwrap(),
                "the run is kept meanwhile"
            );
            let arrived = early.add_training_data(&train).unwrap();
            assert_eq!((arrived.run_error, arrived.run_waits_for_data), (None, false));
            assert_eq!(arrived.run.expect("the run goes on").step, 12);
            assert_eq!(steps(&mut early, 2), next, "the same next steps, bit for bit, on {device:?}");

            // Restored once the test digits are here: it waits for the training digits all the same.
            let mut later = Session::without_data(small(), Devices::all(&device)).unwrap();
            later.set_data(Arc::new(small_parts().0)).unwrap();
            let restored = later.restore(&bytes).unwrap();
            assert_eq!((restored.run, restored.run_waits_for_data), (None, true));
            assert_eq!(later.add_training_data(&train).unwrap().run.expect("the run goes on").step, 12);
        }
    }

    #[test]
    fn a_run_that_cannot_go_on_when_the_data_arrives_is_dropped_with_why_and_the_model_stays() {
        let device = backends()[0].clone();
        let data = Arc::new(small_dataset());
        let (_, bytes) = recorded_run(&device, &data, 3);
        // The same run's record with its history cut short of its step.
        let Record { weights, history, run, .. } = read(&bytes).unwrap();
        let cut = History { steps: history.history.steps[..1].to_vec(), tests: vec![] };
        let damaged = write(&weights.to_safetensors().unwrap(), &cut, 0, run.as_ref()).unwrap();
        let mut early = Session::without_data(small(), Devices::all(&device)).unwrap();
        assert!(early.restore(&damaged).unwrap().run_waits_for_data);
        let arrived = early.set_data(data).unwrap();
        assert_eq!(arrived.run, None);
        assert_eq!(arrived.run_error.as_deref(), Some("its history ends at step 1, the run at step 3"));
        assert_eq!(early.weights(), &weights);
        assert!(!early.is_training());
    }

    #[test]
    fn the_history_counts_over_the_models_life_across_runs() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            s.train_start(run(1)).unwrap();
            let first = steps(&mut s, 9);
            assert_eq!(first[0].record.unwrap().step, 1);
            s.train_start(run(1)).unwrap();
            let second = steps(&mut s, 9);
            assert!(!s.is_training());
            let record = |p: &TrainProgress| p.record.map(|r| (r.step, r.epoch));
            assert_eq!(record(&second[0]), Some((10, 2)), "the second run counts on from the first");
            let test = second[8].test_record.unwrap();
            assert_eq!((test.step, test.epoch, test.loss), (18, 2, second[8].test.as_ref().unwrap().loss));
            let history = s.history().clone();
            assert_eq!(history.steps.len(), 18);
            assert_eq!(history.tests.iter().map(|t| (t.step, t.epoch)).collect::<Vec<_>>(), [(9, 1), (18, 2)]);
            assert_eq!(history.steps[12].loss, second[3].report.as_ref().unwrap().parts.loss);
            // Kept by a record; a third run after a restore counts on from it.
            let mut other = Session::new(small(), data.clone(), device.clone()).unwrap();
            other.restore(&block_on(s.record()).unwrap()).unwrap();
            other.train_start(run(1)).unwrap();
            assert_eq!(record(&steps(&mut other, 1)[0]), Some((19, 3)));
            // A run that diverges takes its steps with it; random weights and a loaded model start
            // a history of their own.
            s.train_start(TrainRequest { learning_rate: 100.0, batch_size: 8, ..run(5) }).unwrap();
            while s.is_training() {
                block_on(s.train_step()).unwrap();
            }
            assert_eq!(s.history(), &history, "the diverged run's steps are gone with its weights");
            s.train_start(TrainRequest { from_scratch: true, ..run(1) }).unwrap();
            assert_eq!(record(&steps(&mut s, 1)[0]), Some((1, 1)));
            s.load_model(small()).unwrap();
            assert_eq!(s.history(), &History::default());
        }
    }

    #[test]
    fn a_run_whose_history_does_not_end_at_its_step_is_refused_and_the_model_loads() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            s.train_start(run(2)).unwrap();
            steps(&mut s, 12);
            let Record { weights, mut history, run, .. } = read(&block_on(s.record()).unwrap()).unwrap();
            history.history.steps.pop();
            let bytes =
                write(&weights.to_safetensors().unwrap(), &history.history, history.model_steps, run.as_ref()).unwrap();
            let mut other = Session::new(small(), data.clone(), device.clone()).unwrap();
            let restored = other.restore(&bytes).unwrap();
            assert_eq!(restored.run, None);
            assert_eq!(restored.run_error.as_deref(), Some("its history ends at step 11, the run at step 12"));
            assert!(!other.is_training());
            assert_eq!(other.weights(), s.weights(), "the model is loaded");
            assert_eq!(other.history().steps.len(), 9, "with the model's own history");
            // A run that is not this model's is refused too, the model loaded.
            let foreign = write(&small().to_safetensors().unwrap(), &History::default(), 0, run.as_ref()).unwrap();
            let e = other.restore(&foreign).unwrap().run_error.unwrap();
            assert!(e.contains("its history ends at step 0, the run at step 12"), "{e}");
        }
    }

    #[test]
    fn a_damaged_record_is_refused_saying_what_and_nothing_changes() {
        let device = backends()[0].clone();
        let data = Arc::new(small_dataset());
        let (mut s, good) = recorded_run(&device, &data, 10);
        let Record { weights, history, run, .. } = read(&good).unwrap();
        let model = weights.to_safetensors().unwrap();
        let with = |history: &History, model_steps: usize, run: Option<&StoredRun>| {
            write(&model, history, model_steps, run).unwrap()
        };
        let h = &history.history;
        let changed = |change: &dyn Fn(&mut History)| {
            let mut h = h.clone();
            change(&mut h);
            with(&h, history.model_steps, run.as_ref())
        };
        let mut garbage = good.clone();
        garbage[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(good[8..8 + header_len].to_vec()).unwrap();
        let edited = |from: &str, to: &str| {
            assert!(header.contains(from), "{from} in {header}");
            let header = header.replace(from, to);
            [&(header.len() as u64).to_le_bytes()[..], header.as_bytes(), &good[8 + header_len..]].concat()
        };
        let mut bad_model = model.clone();
        bad_model[..8].copy_from_slice(&[0xff; 8]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not a record".to_vec(), "not a safetensors file"),
            (good[..good.len() / 2].to_vec(), "not a safetensors file"),
            (garbage, "not a safetensors file"),
            (model.clone(), r#"its format is "pt""#),
            (edited(r#""version":"1""#, r#""version":"2""#), "this page reads version 1"),
            (edited(r#""model_steps":"9""#, r#""model_steps":"x""#), r#"metadata model_steps = "x" is not a count"#),
            (with(h, 11, run.as_ref()), "11 of its 10 step records"),
            (with(h, 9, None), "and it holds no run"),
            (edited(r#""run_steps""#, r#""run_stepz""#), "metadata run_steps is missing"),
            (write(&bad_model, h, 9, run.as_ref()).unwrap(), "its model is unusable"),
            (changed(&|h| h.steps[3].loss = f64::NAN), "history.steps record 3 is damaged"),
            (changed(&|h| h.tests[0].recon = f64::INFINITY), "history.tests record 0 is damaged"),
        ];
        for (bytes, expected) in cases {
            let e = s.restore(&bytes).unwrap_err().to_string();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
            assert!(s.is_training(), "the run goes on");
            assert_eq!(s.history().steps.len(), 10, "the history stays");
        }
        // Counts that are not whole numbers, and a tensor too many.
        let mut rows = with(h, 9, run.as_ref());
        let at = rows.windows(8).position(|w| w == 1.0f64.to_le_bytes()).unwrap();
        rows[at..at + 8].copy_from_slice(&1.5f64.to_le_bytes());
        assert!(s.restore(&rows).unwrap_err().to_string().contains("record 0 is damaged"));
        let extra = safetensors::serialize(
            [
                ("model", TensorView::new(Dtype::U8, vec![model.len()], &model).unwrap()),
                ("extra", TensorView::new(Dtype::U8, vec![1], &[0]).unwrap()),
            ],
            Some(HashMap::from([("format".into(), FORMAT.into()), ("version".into(), VERSION.into())])),
        )
        .unwrap();
        let e = s.restore(&extra).unwrap_err().to_string();
        assert!(e.contains("its tensors are [extra, model], expected [history.steps, history.tests, model]"), "{e}");
        assert!(s.weights() == &weights, "the model stays");
        s.restore(&good).unwrap();
    }

    /// The conditional model is in the record when it is the session's own (trained, imported),
    /// with its history and the run that trains it; the shipped one is not (the page fetches it).
    #[test]
    fn a_record_keeps_the_conditional_model_the_session_trained_and_its_run() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let shipped = VaeWeights::init(crate::VaeConfig::cvae(16, 3, 1.0), 5).unwrap();
            let mut s = Session::new(small(), data.clone(), device.clone()).unwrap();
            s.set_conditional(shipped.clone()).unwrap();
            let plain = block_on(s.record()).unwrap();
            assert_eq!(read(&plain).unwrap().conditional, None, "the shipped model is not stored");

            let conditional = TrainRequest { kind: ModelKind::Cvae, ..run(2) };
            s.train_start(conditional).unwrap();
            steps(&mut s, 12);
            let bytes = block_on(s.record()).unwrap();
            let held = read(&bytes).unwrap();
            assert!(
                held.run.is_none() && held.conditional.as_ref().unwrap().run.is_some(),
                "the run is the conditional's"
            );
            let next = steps(&mut s, 2);

            let mut other = Session::new(small(), data.clone(), device.clone()).unwrap();
            other.set_conditional(shipped.clone()).unwrap();
            let restored = other.restore(&bytes).unwrap();
            let info = restored.run.expect("the run goes on");
            assert_eq!((info.step, info.model.kind), (12, ModelKind::Cvae));
            assert!(other.has_own_conditional());
            assert_eq!(other.history(), &History::default(), "the page's model has no history");
            assert_eq!(other.history_of(ModelKind::Cvae).unwrap().steps.len(), 12);
            assert_eq!(steps(&mut other, 2), next, "the same next steps, bit for bit, on {device:?}");
            // The shipped model, given again (a new module's session), does not replace it.
            other.set_conditional(shipped.clone()).unwrap();
            assert_eq!(other.conditional_weights(), s.conditional_weights());

            // Before the data set, the run waits and the record stays as restored.
            let mut early = Session::without_data(small(), Devices::all(&device)).unwrap();
            assert!(early.restore(&bytes).unwrap().run_waits_for_data);
            assert_eq!(read(&early.held_record().unwrap()).unwrap(), held);
            assert_eq!(early.set_data(data.clone()).unwrap().run.unwrap().step, 12);
            assert_eq!(steps(&mut early, 2), next);

            // Once the run ends, the tuned model is stored alone, and comes back as the conditional one.
            while s.is_training() {
                block_on(s.train_step()).unwrap();
            }
            let ended = block_on(s.record()).unwrap();
            let mut third = Session::new(small(), data.clone(), device.clone()).unwrap();
            assert_eq!(third.restore(&ended).unwrap().run, None);
            assert_eq!(third.conditional_weights(), s.conditional_weights());
            let read_by = |s: &Session| block_on(s.read_sketch(&bar(), 56, 56)).unwrap().unwrap().confidence;
            assert_eq!(read_by(&third), read_by(&s));
        }
    }

    #[test]
    fn a_record_whose_conditional_part_is_wrong_is_refused_and_nothing_changes() {
        let mut s = Session::new(small(), Arc::new(small_dataset()), backends()[0].clone()).unwrap();
        let page = small().to_safetensors().unwrap();
        let seed_kind = write(&page, &History::default(), 0, None).unwrap();
        let inside_vae = write_with(&page, &History::default(), 0, None, Some(&seed_kind)).unwrap();
        let e = s.restore(&inside_vae).unwrap_err().to_string();
        assert!(e.contains("its conditional model is a model of kind vae"), "{e}");
        let e = s.restore(&write_with(&page, &History::default(), 0, None, Some(b"junk")).unwrap()).unwrap_err();
        assert!(e.to_string().contains("its conditional model's record is unusable"), "{e}");
        assert!(s.conditional_weights().is_none() && s.weights() == &small());
    }
}
