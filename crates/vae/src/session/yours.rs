//! The digits a person keeps ("Your digits"): sketches as the model read them (the 28×28 input),
//! each with its label, searched beside the data set for a sketch's neighbours (marked as theirs),
//! written and read as MNIST's IDX pair (`vae eval --data PREFIX` reads it), and learnt: "Learn my
//! hand" fine-tunes the page's model or the conditional one from its weights on the training set
//! with the person's digits mixed into every batch ([`crate::model::mixing`]; the conditional model
//! learns each with its label), and is judged on the last fifth of them, which it never sees, and
//! for the conditional model also on how well it still reads the test split.
//!
//! The page stores each digit under an id of its own choosing (its store's key) and hands them to
//! the session at start-up; the session keeps them in the order given, and encodes them with each
//! model it shows (a few hundred at most: one pass).

use super::training::Run;
use super::{
    DigitToKeep, HandReport, Indexed, LearnRequest, LearnStarted, Session, TrainStarted, YourDigitInfo, YourHand,
};
use crate::config::ModelKind;
use crate::data::{DataFormat, idx_file_names};
use crate::explore::neighbours::{LatentIndex, Neighbour};
use crate::explore::sketch;
use crate::limits::LIMITS;
use crate::model::mixing::MixingState;
use crate::{Dataset, Error, IMAGE_PIXELS, Result, Split, Trainer, TrainerOptions};

/// "Learn my hand" needs this many digits: four to learn from and one to judge by, at least.
pub const MIN_YOUR_DIGITS: usize = 5;
/// The page's file names for the person's digits ([`idx_file_names`] of it).
pub const YOUR_DIGITS_PREFIX: &str = "your-digits";

/// One digit the person kept.
#[derive(Debug, Clone, PartialEq)]
pub struct YourDigit {
    /// The page's id for it (its store's key).
    pub id: u64,
    pub label: u8,
    /// Grey levels × 255, 784.
    pub pixels: Vec<u8>,
}

/// The person's digits in the session, and what the last "Learn my hand" is judged on.
#[derive(Debug, Default)]
pub(super) struct YourDigits {
    digits: Vec<YourDigit>,
    learnt: Option<Learnt>,
}

/// The last "Learn my hand": the ids of the digits it kept aside, and how the model it tuned did on
/// them before it (the report names the model's kind).
#[derive(Debug, Clone)]
struct Learnt {
    held_out: Vec<u64>,
    before: HandReport,
}

/// The test digits the conditional model reads at once for [`HandReport::test_read_percent`]: ten
/// passes each, so a chunk is 2 500 rows.
const READ_CHUNK: usize = 250;

/// How many of `n` digits are kept aside to judge what a model learnt: the last fifth, at least one.
pub fn held_out_count(n: usize) -> usize {
    (n / 5).max(1).min(n)
}

/// The digits of an IDX pair (images and labels, in either order, each plain or gzipped), to be
/// kept: refused whole, with what is wrong, if either file is bad or they are more than a person
/// may keep. Each digit as (label, grey levels × 255).
pub fn read_your_digits(files: [&[u8]; 2]) -> Result<Vec<(u8, Vec<u8>)>> {
    let data = Dataset::from_idx_pair(files)?;
    if data.len() > LIMITS.max_your_digits {
        return Err(Error::Data(format!(
            "the files hold {} digits; a person keeps {} at most here",
            data.len(),
            LIMITS.max_your_digits
        )));
    }
    Ok((0..data.len())
        .map(|i| (data.labels[i], data.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].to_vec()))
        .collect())
}

/// `digits` as a data set (all "train"), in their order.
fn as_dataset(digits: &[&YourDigit]) -> Dataset {
    Dataset {
        format: DataFormat::Idx,
        labels: digits.iter().map(|d| d.label).collect(),
        is_test: vec![false; digits.len()],
        pixels: digits.iter().flat_map(|d| d.pixels.iter().copied()).collect(),
    }
}

/// `digits` encoded by `indexed`'s model, searched on its sketch's device.
async fn encoded(indexed: &Indexed, digits: &[YourDigit]) -> Result<LatentIndex> {
    let mut index = LatentIndex::new(indexed.inference.latent(), &indexed.inference.device);
    let data = as_dataset(&digits.iter().collect::<Vec<_>>());
    index.add(&indexed.encoder, &data, &(0..digits.len()).collect::<Vec<_>>()).await?;
    Ok(index)
}

fn check_label(label: u8) -> Result<()> {
    if label > 9 {
        return Err(Error::Input(format!("label {label} is not a digit 0–9")));
    }
    Ok(())
}

impl Session {
    /// The digits the person kept, in their order (the last fifth is what "Learn my hand" keeps
    /// aside).
    pub fn your_digits(&self) -> &[YourDigit] {
        &self.yours.digits
    }

    /// The person's digits as the page lists them.
    pub fn your_digit_list(&self) -> Vec<YourDigitInfo> {
        let n = self.yours.digits.len();
        let held = n - held_out_count(n);
        let info = |(i, d): (usize, &YourDigit)| YourDigitInfo { id: d.id, label: d.label, held_out: i >= held };
        self.yours.digits.iter().enumerate().map(info).collect()
    }

    /// The sketch (`grey` is `width × height`, ink = 1) as it would be kept: its 28×28 input, as
    /// the page's analysis computed it, in grey levels × 255, with `label`, or if none is given its
    /// reading: the conditional model's ([`Session::read_sketch`]) where the page has one, else the
    /// label of its nearest neighbour (the data set's or the person's own). An error for an empty
    /// pad, and for a sketch with nothing to read its label (before the conditional model, the
    /// data set and any digit of the person's: then it needs a label).
    pub async fn digit_to_keep(
        &self,
        grey: &[f32],
        width: usize,
        height: usize,
        label: Option<u8>,
    ) -> Result<DigitToKeep> {
        let input = sketch::preprocess(grey, width, height)?
            .ok_or_else(|| Error::Input("the pad is empty: draw a digit to keep".into()))?;
        let pixels = input.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        let (label, read) = match label {
            Some(label) => {
                check_label(label)?;
                (label, false)
            }
            None => (self.read_label(&input).await?, true),
        };
        Ok(DigitToKeep { label, read, pixels })
    }

    /// The conditional model's reading of `image`, or without one the label of its nearest
    /// neighbour, as the page shows the neighbours.
    async fn read_label(&self, image: &[f32]) -> Result<u8> {
        if let Some(conditional) = &self.conditional {
            return Ok(conditional.inference.read(image).await?.remove(0).digit);
        }
        let (source, _) = self.shown();
        let mu = source.inference.encode(image, None).await?.mu;
        let (nearest, _) = self.neighbours_with_yours(source, &mu, 1).await?;
        nearest
            .first()
            .map(|n| n.label)
            .ok_or_else(|| Error::Input("nothing can read its label yet: choose its label".into()))
    }

    /// Adds digits the person kept (new ones, or the page's stored ones at start-up), after those
    /// kept so far. All are checked first; if any is wrong (an id already kept, a label that is no
    /// digit, not 784 grey levels, more than a person may keep), none is added and the error says
    /// which. Returns how many the person has now.
    pub async fn add_your_digits(&mut self, digits: Vec<YourDigit>) -> Result<usize> {
        let total = self.yours.digits.len() + digits.len();
        if total > LIMITS.max_your_digits {
            return Err(Error::Input(format!(
                "{total} digits would be kept; a person keeps {} at most here",
                LIMITS.max_your_digits
            )));
        }
        let mut ids: Vec<u64> = self.yours.digits.iter().map(|d| d.id).collect();
        for (i, d) in digits.iter().enumerate() {
            if ids.contains(&d.id) {
                return Err(Error::Input(format!("digit {i}: id {} is kept already", d.id)));
            }
            check_label(d.label).map_err(|e| Error::Input(format!("digit {i}: {e}")))?;
            if d.pixels.len() != IMAGE_PIXELS {
                return Err(Error::Input(format!("digit {i} has {} grey levels, not {IMAGE_PIXELS}", d.pixels.len())));
            }
            ids.push(d.id);
        }
        self.yours.digits.extend(digits);
        self.encode_your_digits().await?;
        Ok(self.yours.digits.len())
    }

    /// Forgets the digit `id`; an error if there is none.
    pub async fn remove_your_digit(&mut self, id: u64) -> Result<()> {
        let at = self.your_digit_at(id)?;
        self.yours.digits.remove(at);
        self.encode_your_digits().await
    }

    /// Gives the digit `id` another label.
    pub fn relabel_your_digit(&mut self, id: u64, label: u8) -> Result<()> {
        check_label(label)?;
        let at = self.your_digit_at(id)?;
        self.yours.digits[at].label = label;
        for indexed in std::iter::once(&mut self.current).chain(self.previous.as_mut()) {
            if let Some(l) = indexed.yours.labels.get_mut(at) {
                *l = label;
            }
        }
        Ok(())
    }

    /// Forgets every digit the person kept.
    pub fn clear_your_digits(&mut self) {
        self.yours = YourDigits::default();
        for indexed in std::iter::once(&mut self.current).chain(self.previous.as_mut()) {
            indexed.yours = LatentIndex::new(indexed.inference.latent(), &indexed.inference.device);
        }
    }

    /// The person's digits as MNIST's IDX pair with the page's file names ([`YOUR_DIGITS_PREFIX`]):
    /// `[(name, bytes); 2]`, images then labels. Refused when there are none.
    pub fn your_digits_idx(&self) -> Result<[(String, Vec<u8>); 2]> {
        if self.yours.digits.is_empty() {
            return Err(Error::Input("no digits are kept: keep some first".into()));
        }
        let (images, labels) = as_dataset(&self.yours.digits.iter().collect::<Vec<_>>()).to_idx()?;
        let [images_name, labels_name] = idx_file_names(YOUR_DIGITS_PREFIX);
        Ok([(images_name, images), (labels_name, labels)])
    }

    fn your_digit_at(&self, id: u64) -> Result<usize> {
        self.yours.digits.iter().position(|d| d.id == id).ok_or_else(|| Error::Input(format!("no digit {id} is kept")))
    }

    // ---- in the neighbours ---------------------------------------------------------------------

    /// Encodes the person's digits with the model shown and, while its index grows, the previous
    /// one (whose neighbours the page shows meanwhile).
    async fn encode_your_digits(&mut self) -> Result<()> {
        self.current.yours = encoded(&self.current, &self.yours.digits).await?;
        if let Some(previous) = &self.previous {
            let yours = encoded(previous, &self.yours.digits).await?;
            self.previous.as_mut().expect("just read").yours = yours;
        }
        Ok(())
    }

    /// A new model (its index grows): the person's digits are encoded with it, if they are not yet.
    pub(super) async fn encode_your_digits_if_new(&mut self) -> Result<()> {
        if self.current.yours.len() != self.yours.digits.len() {
            self.current.yours = encoded(&self.current, &self.yours.digits).await?;
        }
        Ok(())
    }

    /// The `k` nearest digits to `z` in `source`'s latent space among the data set's indexed so far
    /// and the person's own (marked `yours`, indexed by their place among them), nearest first (a
    /// data-set digit first on a tie); and their images, 784 grey levels each, in that order.
    pub(super) async fn neighbours_with_yours(
        &self,
        source: &Indexed,
        z: &[f32],
        k: usize,
    ) -> Result<(Vec<Neighbour>, Vec<f32>)> {
        let mut found = source.index.nearest(z, k).await?;
        // Encoded with this model already (a new model's are, at its index's first step).
        if source.yours.len() == self.yours.digits.len() {
            let theirs = source.yours.nearest(z, k).await?;
            found.extend(theirs.into_iter().map(|n| Neighbour { yours: true, ..n }));
            found.sort_by(|a, b| a.distance.total_cmp(&b.distance));
            found.truncate(k);
        }
        let mut images = Vec::with_capacity(found.len() * IMAGE_PIXELS);
        for n in &found {
            if n.yours {
                images.extend(self.yours.digits[n.index].pixels.iter().map(|&p| p as f32 / 255.0));
            } else if let Some(data) = &self.data {
                images.extend(data.image(n.index));
            }
        }
        Ok((found, images))
    }

    // ---- learning the person's hand -----------------------------------------------------------

    /// "Learn my hand": a training run of the model of `r.kind` (the page's, or the conditional
    /// one, which learns each digit with its label) from its weights (its shape and β kept),
    /// on the training set with the first four fifths of the person's digits mixed into every
    /// batch (`share` of it), with training's rules (steps out of the session, epochs' ends, Stop,
    /// divergence, snapshots). The last fifth (at least one) is kept aside: the answer says how
    /// the model does on it before, and [`Session::your_hand`] how it does after. Refused with
    /// fewer than [`MIN_YOUR_DIGITS`] digits, during a run, and for a conditional model the page
    /// does not have.
    pub async fn learn_your_hand(&mut self, r: LearnRequest) -> Result<LearnStarted> {
        if self.is_training() {
            return Err(Error::Input("a training run is going on already: stop it first".into()));
        }
        let n = self.yours.digits.len();
        if n < MIN_YOUR_DIGITS {
            return Err(Error::Input(format!(
                "learning your hand needs at least {MIN_YOUR_DIGITS} of your digits (a fifth of them is kept aside to \
                 judge what it learnt); you have kept {n}"
            )));
        }
        LIMITS.epochs.check("epochs", r.epochs)?;
        let options = TrainerOptions { learning_rate: r.learning_rate, batch_size: r.batch_size, seed: r.seed };
        options.validate()?;
        let (learn, held) = self.yours.digits.split_at(n - held_out_count(n));
        let learn = as_dataset(&learn.iter().collect::<Vec<_>>());
        let held_out: Vec<u64> = held.iter().map(|d| d.id).collect();
        let mixing = MixingState::new(learn.labels, learn.pixels, r.share)?;
        let train = self.training_digits("learn your hand")?;
        let weights = self.model_of(r.kind, "learn your hand")?;
        let trainer = Trainer::new(weights, train, options, &self.devices.training)?.with_mixing(mixing)?;
        let before = self.hand_report(r.kind, &held_out).await?;
        let mixing = trainer.mixing().expect("mixed");
        let (learns_from, theirs) = (mixing.len(), mixing.per_batch(r.batch_size));
        let model = self.info_of(r.kind).expect("checked above");
        let started = TrainStarted { steps_per_epoch: trainer.steps_per_epoch(), from_scratch: false, model };
        self.held_run = None;
        let counted = self.history_mut(r.kind).counted();
        self.training = Some(Run::new(r.kind, trainer, r.epochs, "before learning your hand", counted));
        self.yours.learnt = Some(Learnt { held_out, before: before.clone() });
        Ok(LearnStarted { started, learns_from, per_batch: [r.batch_size - theirs, theirs], before })
    }

    /// How the model of `kind` (the page's, or the conditional one) does now on the held-out digits
    /// of the last "Learn my hand" of it (those still kept), with how it did before it; without
    /// one (or once none of those is kept), on the last fifth of the person's digits, with no
    /// "before". An error when none is kept, or for a conditional model the page does not have.
    pub async fn your_hand(&self, kind: ModelKind) -> Result<YourHand> {
        let learnt = self
            .yours
            .learnt
            .as_ref()
            .filter(|l| l.before.kind == kind && l.held_out.iter().any(|id| self.your_digit_at(*id).is_ok()));
        let held_out = match learnt {
            Some(learnt) => learnt.held_out.clone(),
            None => {
                let n = self.yours.digits.len();
                self.yours.digits[n - held_out_count(n)..].iter().map(|d| d.id).collect()
            }
        };
        let now = self.hand_report(kind, &held_out).await?;
        Ok(YourHand { before: learnt.map(|l| l.before.clone()), now })
    }

    /// The model of `kind` on the person's digits `ids` (those still kept): their mean loss (z =
    /// μ), how many are read as their label, and the test split's mean loss (and, for the
    /// conditional model, how much of it the model reads right).
    async fn hand_report(&self, kind: ModelKind, ids: &[u64]) -> Result<HandReport> {
        let digits: Vec<&YourDigit> =
            ids.iter().filter_map(|&id| self.your_digit_at(id).ok()).map(|at| &self.yours.digits[at]).collect();
        if digits.is_empty() {
            return Err(Error::Input("no digits are kept: keep some first".into()));
        }
        let data = as_dataset(&digits);
        let images = data.images(&data.indices(Split::All));
        if kind == ModelKind::Cvae {
            return self.conditional_hand_report(&data, &images).await;
        }
        let inference = &self.current.inference;
        let losses = inference.losses(&images, None, None).await?;
        let loss = losses.iter().map(|p| p.loss).sum::<f64>() / losses.len() as f64;
        let (read_right, read_by) = {
            let index = &self.current.index;
            // An index of every test digit, growing over the training digits that have just
            // arrived (for this run), reads as a whole one.
            let read = if self.is_whole(index) || self.current.whole_before_training {
                let mu = inference.encode(&images, None).await?.mu;
                let mut right = 0;
                for (z, &label) in mu.chunks(inference.latent()).zip(&data.labels) {
                    right += usize::from(index.nearest(z, 1).await?.first().is_some_and(|n| n.label == label));
                }
                Some(right)
            } else {
                None
            };
            (read, "the nearest data-set digit")
        };
        let test = &self.current.index.test_losses;
        Ok(HandReport {
            kind,
            generation: self.generation,
            held_out: digits.len(),
            loss,
            read_right,
            read_by,
            test_loss: (!test.is_empty()).then(|| test.iter().sum::<f64>() / test.len() as f64),
            test_read_percent: None,
        })
    }

    /// [`Session::hand_report`] for the conditional model: each held-out digit's loss with its
    /// label, its reading, and the test split's mean loss (with labels) and share read right,
    /// which needs the data set (None before it).
    async fn conditional_hand_report(&self, held: &Dataset, images: &[f32]) -> Result<HandReport> {
        let conditional = self.conditional("judge how it reads your hand")?;
        let inference = &conditional.inference;
        let losses = inference.losses(images, Some(&held.labels), None).await?;
        let loss = losses.iter().map(|p| p.loss).sum::<f64>() / losses.len() as f64;
        let readings = inference.read(images).await?;
        let read_right = readings.iter().zip(&held.labels).filter(|(r, l)| r.digit == **l).count();
        let (mut test_loss, mut test_read_percent) = (None, None);
        if let Some(data) = &self.data {
            let test = data.indices(Split::Test);
            let (mut total, mut right) = (0.0, 0);
            for chunk in test.chunks(READ_CHUNK) {
                let images = data.images(chunk);
                let labels: Vec<u8> = chunk.iter().map(|&i| data.labels[i]).collect();
                total += inference.losses(&images, Some(&labels), None).await?.iter().map(|p| p.loss).sum::<f64>();
                let readings = inference.read(&images).await?;
                right += readings.iter().zip(&labels).filter(|(r, l)| r.digit == **l).count();
            }
            test_loss = Some(total / test.len() as f64);
            test_read_percent = Some(100.0 * right as f64 / test.len() as f64);
        }
        Ok(HandReport {
            kind: ModelKind::Cvae,
            generation: conditional.generation,
            held_out: held.len(),
            loss,
            read_right: Some(read_right),
            read_by: "the model's reading",
            test_loss,
            test_read_percent,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::super::{StepReads, TrainProgress};
    use super::*;
    use crate::ModelKind;
    use crate::device::placement::Devices;
    use crate::test_util::{backends, block_on, small_dataset, unusual_hand};

    /// The test split's digits in turn by label (a 0, a 1, …, a 9, another 0, …), as a person
    /// might keep them: the last fifth of any run of them holds most digits.
    fn in_turn(data: &Dataset) -> Vec<usize> {
        let test = data.indices(Split::Test);
        let by_label: Vec<Vec<usize>> =
            (0..10).map(|l| test.iter().copied().filter(|&i| data.labels[i] == l).collect()).collect();
        (0..test.len()).flat_map(|round| by_label.iter().filter_map(move |l| l.get(round).copied())).collect()
    }

    /// The `i`th of those digits in an unusual hand, as a 28×28 sketch.
    fn sketch_of(data: &Dataset, i: usize) -> Vec<f32> {
        unusual_hand(&data.image(in_turn(data)[i]))
    }

    /// Those digits `from..to` in an unusual hand, as the page keeps a sketch of them (its 28×28
    /// input), with ids from 100.
    fn kept(data: &Dataset, from: usize, to: usize) -> Vec<YourDigit> {
        (from..to)
            .map(|i| {
                let input = sketch::preprocess(&sketch_of(data, i), 28, 28).unwrap().unwrap();
                let pixels = input.iter().map(|v| (v * 255.0).round() as u8).collect();
                YourDigit { id: 100 + i as u64, label: data.labels[in_turn(data)[i]], pixels }
            })
            .collect()
    }

    fn image_of(d: &YourDigit) -> Vec<f32> {
        d.pixels.iter().map(|&p| p as f32 / 255.0).collect()
    }

    #[test]
    fn kept_digits_go_out_as_an_idx_pair_and_come_back_the_same_and_bad_files_are_refused() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(small(), data.clone(), device).unwrap();
            assert!(s.your_digits_idx().unwrap_err().to_string().contains("no digits are kept"));
            let digits = kept(&data, 0, 12);
            block_on(s.add_your_digits(digits.clone())).unwrap();
            let [(images_name, images), (labels_name, labels)] = s.your_digits_idx().unwrap();
            assert_eq!(
                (images_name.as_str(), labels_name.as_str()),
                ("your-digits-images-idx3-ubyte", "your-digits-labels-idx1-ubyte")
            );
            // Read back in either order: the same digits, bit for bit.
            for files in [[&images[..], &labels[..]], [&labels[..], &images[..]]] {
                let read = read_your_digits(files).unwrap();
                assert_eq!(read, digits.iter().map(|d| (d.label, d.pixels.clone())).collect::<Vec<_>>());
            }
            // As `vae eval --data your-digits` finds them: a prefix on disk.
            let dir = std::env::temp_dir().join(format!(
                "vae-yours-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&images_name), &images).unwrap();
            std::fs::write(dir.join(&labels_name), &labels).unwrap();
            let loaded = Dataset::load(&dir.join(YOUR_DIGITS_PREFIX)).unwrap();
            assert_eq!((loaded.len(), loaded.evaluation_split()), (12, Split::All));
            assert_eq!(loaded.labels, digits.iter().map(|d| d.label).collect::<Vec<_>>());

            // Bad files: refused with what is wrong, and nothing kept changes.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &images).unwrap();
            assert_eq!(
                read_your_digits([&gz.finish().unwrap(), &labels]).unwrap().len(),
                12,
                "gzipped images read too"
            );
            let mut bad_label = labels.clone();
            bad_label[8 + 3] = 11;
            let err = |files: [&[u8]; 2]| read_your_digits(files).unwrap_err().to_string();
            assert!(err([&images, &bad_label]).contains("label 3 is 11"));
            assert!(err([&images, &images]).contains("the labels file (idx1-ubyte) is missing"));
            assert!(err([&labels, &labels]).contains("the images file (idx3-ubyte) is missing"));
            assert!(err([b"my shopping list", &labels]).contains("file 1 is not an IDX file"));
            assert!(err([&images[..images.len() - 1], &labels]).contains("does not match its dimensions"));
            assert!(err([&images, &labels[..labels.len() - 2]]).contains("does not match its dimensions"));
            let mut short_labels = labels[..labels.len() - 1].to_vec();
            short_labels[4..8].copy_from_slice(&11u32.to_be_bytes());
            assert!(err([&images, &short_labels]).contains("11 labels for 12 images"));
            assert_eq!(s.your_digits(), &digits[..], "nothing kept changed");

            // Adding is checked whole: a clash of ids, a bad label or image adds nothing.
            let mut clash = kept(&data, 12, 14);
            clash[1].id = digits[3].id;
            assert!(block_on(s.add_your_digits(clash)).unwrap_err().to_string().contains("is kept already"));
            let mut bad = kept(&data, 12, 14);
            bad[0].label = 10;
            assert!(block_on(s.add_your_digits(bad)).unwrap_err().to_string().contains("label 10 is not a digit"));
            let mut short = kept(&data, 12, 14);
            short[1].pixels.pop();
            assert!(block_on(s.add_your_digits(short)).unwrap_err().to_string().contains("783 grey levels"));
            assert_eq!(s.your_digits().len(), 12);
        }
    }

    #[test]
    fn your_digits_join_the_neighbours_marked_as_yours_and_follow_the_model() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(trained(), data.clone(), device.clone()).unwrap();
            build_index(&mut s);
            // A sketch: the bar; kept, it is its own nearest neighbour, marked as yours.
            let before = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(before.neighbours.iter().all(|n| !n.yours));
            let keep = block_on(s.digit_to_keep(&bar(), 56, 56, None)).unwrap();
            assert!(keep.read);
            assert_eq!(keep.label, before.neighbours[0].label, "read from its nearest neighbour");
            // With the conditional model, its reading is the label.
            let mut reader = Session::new(trained(), data.clone(), device.clone()).unwrap();
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model/conditional.safetensors");
            reader.set_conditional(crate::VaeWeights::load(&path).unwrap()).unwrap();
            for digit in [0, 6, 12, 18] {
                let sketch = sketch_of(&data, digit);
                let read = block_on(reader.read_sketch(&sketch, 28, 28)).unwrap().unwrap().digit;
                assert_eq!(block_on(reader.digit_to_keep(&sketch, 28, 28, None)).unwrap().label, read);
            }
            let as_kept: Vec<u8> = before.input.iter().map(|v| (v * 255.0).round() as u8).collect();
            assert_eq!(keep.pixels, as_kept, "the 28×28 input the analysis showed");
            let others = kept(&data, 0, 20);
            let mut digits = others.clone();
            digits.insert(7, YourDigit { id: 7, label: 4, pixels: keep.pixels.clone() });
            block_on(s.add_your_digits(digits.clone())).unwrap();
            let after = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            let first = &after.neighbours[0];
            assert!(first.yours && first.index == 7 && first.label == 4, "{first:?}");
            assert!(first.distance < 1e-2, "the kept sketch is the sketch: {}", first.distance);
            assert_eq!(&after.neighbour_images[..IMAGE_PIXELS], &image_of(&digits[7])[..]);
            // The data set's neighbours fill the rest, nearest first.
            assert!(after.neighbours.windows(2).all(|w| w[0].distance <= w[1].distance));
            let data_neighbours: Vec<usize> = after.neighbours.iter().filter(|n| !n.yours).map(|n| n.index).collect();
            let expected: Vec<usize> = before.neighbours.iter().map(|n| n.index).take(data_neighbours.len()).collect();
            assert_eq!(data_neighbours, expected);
            // Each of the person's unusual digits, sketched again, finds itself first among theirs
            // and the data set's.
            for (i, mine) in others.iter().enumerate() {
                let answer = block_on(s.analyse(&sketch_of(&data, i), 28, 28, 8)).unwrap().unwrap();
                let n = &answer.neighbours[0];
                assert!(n.yours && s.your_digits()[n.index].id == mine.id, "{n:?}");
            }

            // A new label shows at once; the JSON says `yours`.
            s.relabel_your_digit(7, 1).unwrap();
            let relabelled = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert_eq!(relabelled.neighbours[0].label, 1);
            let json = serde_json::to_value(&relabelled).unwrap();
            assert_eq!(json["neighbours"][0]["yours"], true);
            assert!(s.relabel_your_digit(7, 10).is_err() && s.relabel_your_digit(999, 1).is_err());

            // A new model: while its index grows, the previous one answers with the person's
            // digits; once whole, the new one does, their μs its own.
            s.load_model(small()).unwrap();
            let during = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(during.updating && during.neighbours[0].yours && during.neighbours[0].index == 7);
            build_index(&mut s);
            let fresh = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            let mine = fresh.neighbours.iter().find(|n| n.yours && n.index == 7).expect("still found");
            let mu = block_on(s.current.inference.encode(&image_of(&digits[7]), None)).unwrap().mu;
            crate::test_util::assert_close(&mine.mu, &mu, 1e-4);
            assert!(s.place(Devices::all(&device)).unwrap());
            assert!(block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap().neighbours[0].yours, "a move keeps them");

            // Removed and cleared: gone from the neighbours.
            block_on(s.remove_your_digit(7)).unwrap();
            assert!(block_on(s.remove_your_digit(7)).is_err());
            let gone = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(gone.neighbours.iter().all(|n| !n.yours || s.your_digits()[n.index].id != 7));
            s.clear_your_digits();
            let cleared = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
            assert!(cleared.neighbours.iter().all(|n| !n.yours) && s.your_digits().is_empty());
        }
    }

    #[test]
    fn before_the_data_set_a_label_must_be_given_and_an_empty_pad_is_refused() {
        let mut s = Session::without_data(small(), Devices::all(&backends()[0])).unwrap();
        let e = block_on(s.digit_to_keep(&bar(), 56, 56, None)).unwrap_err().to_string();
        assert!(e.contains("nothing can read its label yet: choose its label"), "{e}");
        let keep = block_on(s.digit_to_keep(&bar(), 56, 56, Some(1))).unwrap();
        assert_eq!((keep.label, keep.read), (1, false));
        assert!(
            block_on(s.digit_to_keep(&[0.0; 100], 10, 10, Some(1)))
                .unwrap_err()
                .to_string()
                .contains("the pad is empty")
        );
        assert!(block_on(s.digit_to_keep(&bar(), 56, 56, Some(10))).is_err());
        // Kept before the data set: it is a neighbour, and reads the next sketch's label.
        block_on(s.add_your_digits(vec![YourDigit { id: 1, label: 1, pixels: keep.pixels }])).unwrap();
        let answer = block_on(s.analyse(&bar(), 56, 56, 8)).unwrap().unwrap();
        assert_eq!(answer.neighbours.len(), 1);
        assert!(answer.neighbours[0].yours);
        assert_eq!(block_on(s.digit_to_keep(&bar(), 56, 56, None)).unwrap().label, 1);
    }

    /// Every step until the run ends.
    fn finish(s: &mut Session) -> Vec<TrainProgress> {
        let mut all = Vec::new();
        while s.is_training() {
            all.push(block_on(s.train_step()).unwrap());
        }
        all
    }

    fn learn(epochs: usize) -> LearnRequest {
        LearnRequest { learning_rate: 1e-3, batch_size: 64, epochs, share: 0.25, seed: 3, kind: ModelKind::Vae }
    }

    #[test]
    fn learning_your_hand_as_the_training_digits_arrive_reads_by_the_test_digits() {
        for device in backends() {
            let (test, train) = crate::test_util::small_parts();
            let mut s = Session::without_data(trained(), Devices::all(&device)).unwrap();
            s.set_data(Arc::new(test.clone())).unwrap();
            block_on(s.add_your_digits(kept(&test, 0, 10))).unwrap();
            build_index(&mut s);
            let e = block_on(s.learn_your_hand(learn(1))).unwrap_err().to_string();
            assert_eq!(e, "invalid input: cannot learn your hand before the training digits have arrived");
            s.add_training_data(&train).unwrap();
            let started = block_on(s.learn_your_hand(learn(1))).unwrap();
            assert!(!s.index_progress().done && started.before.read_right.is_some(), "read by the test digits' index");
        }
    }

    #[test]
    fn learning_your_hand_lowers_the_loss_on_your_held_out_digits() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(trained(), data.clone(), device.clone()).unwrap();
            block_on(s.add_your_digits(kept(&data, 0, 4))).unwrap();
            let e = block_on(s.learn_your_hand(learn(2))).unwrap_err().to_string();
            assert!(e.contains("at least 5 of your digits") && e.contains("you have kept 4"), "{e}");
            block_on(s.add_your_digits(kept(&data, 4, 50))).unwrap();
            build_index(&mut s);
            let list = s.your_digit_list();
            assert_eq!(list.iter().filter(|d| d.held_out).count(), 10, "the last fifth of 50");
            assert!(list[40..].iter().all(|d| d.held_out));

            let started = block_on(s.learn_your_hand(learn(2))).unwrap();
            // 40 to learn from; 16 of each 64 theirs, 48 from the 564 training digits.
            assert_eq!((started.learns_from, started.per_batch, started.started.steps_per_epoch), (40, [48, 16], 12));
            let before = started.before.clone();
            assert_eq!((before.held_out, before.read_by), (10, "the nearest data-set digit"));
            assert!(before.read_right.is_some() && before.test_loss.is_some());
            assert!(block_on(s.learn_your_hand(learn(2))).unwrap_err().to_string().contains("going on already"));
            let steps = finish(&mut s);
            assert_eq!(steps.len(), 24);
            assert!(steps.iter().all(|p| p.diverged.is_none()));
            let batches: Vec<usize> = steps.iter().map(|p| p.report.unwrap().batch).collect();
            assert_eq!(batches[..12], [[64; 11].as_slice(), &[36 + 16]].concat(), "an epoch's last: 36 of the 564");
            build_index(&mut s);
            let hand = block_on(s.your_hand(ModelKind::Vae)).unwrap();
            assert_eq!(hand.before.as_ref(), Some(&before));
            let now = &hand.now;
            assert!(now.generation > before.generation);
            assert!(
                now.loss < before.loss - 5.0,
                "the held-out digits' loss went from {} to {} nats on {device:?}",
                before.loss,
                now.loss
            );
            let (test_before, test_now) = (before.test_loss.unwrap(), now.test_loss.unwrap());
            assert!(test_now < test_before + 2.0, "the test digits' loss went from {test_before} to {test_now}");
            eprintln!(
                "learn my hand on {device:?}: held-out loss {:.2} → {:.2} nats, read right {:?} → {:?} of 10, test loss \
                 {test_before:.2} → {test_now:.2}",
                before.loss, now.loss, before.read_right, now.read_right
            );
        }
    }

    /// "Learn my hand" on the conditional model (the page's reading model): it learns the person's
    /// digits with their labels, lowers their held-out loss, and still reads the test split about
    /// as well; the model it tunes becomes the reading model, the page's model stays.
    #[test]
    fn learning_your_hand_tunes_the_conditional_model_and_it_still_reads_the_test_digits() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model/conditional.safetensors");
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut s = Session::new(trained(), data.clone(), device.clone()).unwrap();
            block_on(s.add_your_digits(kept(&data, 0, 50))).unwrap();
            let cvae = LearnRequest { kind: ModelKind::Cvae, ..learn(2) };
            let e = block_on(s.learn_your_hand(cvae)).unwrap_err().to_string();
            assert!(e.contains("no conditional model"), "{e}");
            s.set_conditional(crate::VaeWeights::load(&shipped).unwrap()).unwrap();
            let started = block_on(s.learn_your_hand(cvae)).unwrap();
            assert_eq!(started.started.model.kind, ModelKind::Cvae);
            let before = started.before.clone();
            assert_eq!((before.kind, before.held_out, before.read_by), (ModelKind::Cvae, 10, "the model's reading"));
            let page = s.weights().clone();
            let steps = finish(&mut s);
            assert!(steps.iter().all(|p| p.diverged.is_none()));
            assert_eq!(s.weights(), &page, "the page's model stays");
            assert!(s.has_own_conditional());
            let hand = block_on(s.your_hand(ModelKind::Cvae)).unwrap();
            assert_eq!(hand.before.as_ref(), Some(&before));
            let now = &hand.now;
            let (test_before, test_now) = (before.test_read_percent.unwrap(), now.test_read_percent.unwrap());
            eprintln!(
                "learn my hand (conditional) on {device:?}: held-out loss {:.2} → {:.2} nats, read right {:?} → {:?} of \
                 10; test loss {:.2} → {:.2} nats, test read right {test_before:.1} → {test_now:.1} %",
                before.loss,
                now.loss,
                before.read_right,
                now.read_right,
                before.test_loss.unwrap(),
                now.test_loss.unwrap()
            );
            assert!(now.loss < before.loss - 5.0, "held-out loss {} → {} nats", before.loss, now.loss);
            // Two of the 61 test digits at most.
            assert!(test_now >= test_before - 200.0 / 61.0 - 1e-9, "test read right {test_before} → {test_now} %");
            // The page's model's report is as before, and has no test reading.
            assert_eq!(block_on(s.your_hand(ModelKind::Vae)).unwrap().before, None);
            assert_eq!(block_on(s.your_hand(ModelKind::Vae)).unwrap().now.test_read_percent, None);
        }
    }

    /// The person's digits must matter: the same run without them (a plain training run of the same
    /// steps) does not learn their hand as much.
    #[test]
    fn a_run_without_your_digits_does_not_learn_your_hand() {
        let device = backends()[0].clone();
        let data = Arc::new(small_dataset());
        let mut s = Session::new(trained(), data.clone(), device).unwrap();
        block_on(s.add_your_digits(kept(&data, 0, 50))).unwrap();
        let before = block_on(s.your_hand(ModelKind::Vae)).unwrap().now;
        let c = s.weights().config;
        let request = super::super::TrainRequest {
            hidden: c.hidden,
            latent: c.latent,
            beta: c.beta,
            learning_rate: 1e-3,
            batch_size: 48,
            epochs: 2,
            seed: 3,
            from_scratch: false,
            kind: ModelKind::Vae,
        };
        s.train_start(request).unwrap();
        finish(&mut s);
        let plain = block_on(s.your_hand(ModelKind::Vae)).unwrap().now;
        eprintln!("without their digits: {:.2} → {:.2} nats", before.loss, plain.loss);
        assert!(plain.loss > before.loss - 2.0, "without their digits: {} → {} nats", before.loss, plain.loss);
    }

    #[test]
    fn a_learning_run_resumes_exactly_from_its_snapshot_with_your_digits_in_it() {
        for device in backends() {
            let data = Arc::new(small_dataset());
            let mut whole = Session::new(small(), data.clone(), device.clone()).unwrap();
            block_on(whole.add_your_digits(kept(&data, 0, 10))).unwrap();
            whole.learn_your_hand_now(learn(2));
            let expected = finish(&mut whole);
            let mut first = Session::new(small(), data.clone(), device.clone()).unwrap();
            block_on(first.add_your_digits(kept(&data, 0, 10))).unwrap();
            first.learn_your_hand_now(learn(2));
            for _ in 0..7 {
                block_on(first.train_step()).unwrap();
            }
            let mut step = first.begin_step(StepReads { snapshot: true, samples: None }).unwrap();
            block_on(step.advance());
            first.end_step(step).unwrap();
            let bytes = first.take_step_snapshot().unwrap().unwrap();
            // In a fresh session with none of the person's digits: the run holds those it learns.
            let mut resumed = Session::new(first.weights().clone(), data.clone(), device.clone()).unwrap();
            resumed.restore_run(&bytes).unwrap();
            assert_eq!(finish(&mut resumed), expected[8..], "on {device:?}");
        }
    }

    impl Session {
        fn learn_your_hand_now(&mut self, r: LearnRequest) {
            block_on(self.learn_your_hand(r)).unwrap();
        }
    }
}
