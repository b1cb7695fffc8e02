//! The current model's neighbour index as it grows, a step at a time, and the maps of its digits:
//! the PCA map (the index's own) and the t-SNE map, made in steps or restored whole.

use super::{IndexProgress, MapPoints, Session, TsneStatus};
use crate::device::placement::index_step_digits;
use crate::explore::neighbours::LatentIndex;
use crate::explore::tsne::{Tsne, TsneOptions, knn_label_agreement};
use crate::{Error, Result};

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

/// Where the t-SNE map of a model is.
pub(super) enum TsneStage {
    None,
    Making(Box<Tsne>),
    /// Each data-set digit's position (by data-set index, x and y) and the map's label agreement
    /// over them. While the data set holds its test digits alone, a map of the whole data set (the
    /// shipped map file) places more: its first digits are these.
    Made {
        positions: Vec<f32>,
        label_agreement: f64,
    },
}

impl TsneStage {
    /// The data set grew to the digits labelled `labels`: a made map that places them all stays
    /// (its label agreement now over all of them); one being made, or one of fewer digits, goes.
    pub(super) fn keep_if_it_places(&mut self, labels: &[u8]) {
        match self {
            TsneStage::Made { positions, label_agreement } if positions.len() >= 2 * labels.len() => {
                *label_agreement = knn_label_agreement(&positions[..2 * labels.len()], labels, AGREEMENT_NEIGHBOURS);
            }
            _ => *self = TsneStage::None,
        }
    }
}

impl Session {
    // ---- the neighbour index --------------------------------------------------------------------

    pub fn index_progress(&self) -> IndexProgress {
        let index = &self.current.index;
        let scored = !index.test_losses.is_empty();
        let total = self.data.as_ref().map_or(0, |data| data.len());
        IndexProgress { indexed: index.len(), total, scored, done: self.is_whole(index) }
    }

    /// Builds the current model's index one step further: first the test set's losses (for the
    /// score), then the digits' latents, [`index_step_digits`] a step. Once it is whole, the
    /// previous model's index is dropped. Does nothing when it is whole already, or before the
    /// data set has arrived.
    pub async fn index_step(&mut self) -> Result<IndexProgress> {
        // A new model encodes the person's digits first: a few, in one pass.
        self.encode_your_digits_if_new().await?;
        let Some(data) = &self.data else {
            return Ok(self.index_progress());
        };
        let index = &mut self.current.index;
        let inference = &self.current.encoder;
        let digits = index_step_digits(&self.devices.index);
        if index.test_losses.is_empty() {
            index.score_test_part(inference, data, digits).await?;
        } else if index.len() < data.len() {
            let next: Vec<usize> = (index.len()..(index.len() + digits).min(data.len())).collect();
            index.add(inference, data, &next).await?;
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
    /// t-SNE map; refused unless they fit the data set and the index is whole. While the data set
    /// holds its test digits alone (the training digits to come after them), a map of more digits
    /// is a map of the whole data set: it places these as its first ones.
    pub fn tsne_restore(&mut self, positions: &[f32]) -> Result<TsneStatus> {
        self.whole_index("restore a t-SNE map")?;
        let data = self.dataset("restore a t-SNE map")?;
        let shown = 2 * data.len();
        if !self.map_fits(positions.len() / 2) || positions.len() % 2 == 1 || positions.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "a t-SNE map of this data set has {shown} finite values; this one has {}",
                positions.len()
            )));
        }
        let label_agreement = knn_label_agreement(&positions[..shown], &data.labels, AGREEMENT_NEIGHBOURS);
        self.current.tsne = TsneStage::Made { positions: positions.to_vec(), label_agreement };
        Ok(self.tsne_status())
    }

    /// The t-SNE map shown with the neighbours (the previous model's while the current index is
    /// rebuilt, as [`Session::analyse`] does), by data-set index; None until it is made.
    pub fn tsne_map(&self) -> Option<MapPoints> {
        let (shown, _) = self.shown();
        let (TsneStage::Made { positions, label_agreement }, Some(data)) = (&shown.tsne, &self.data) else {
            return None;
        };
        Some(MapPoints {
            points: positions[..2 * data.len()].to_vec(),
            labels: data.labels.clone(),
            indices: (0..data.len()).collect(),
            latent: shown.index.latent,
            label_agreement: *label_agreement,
        })
    }

    /// The t-SNE made by [`Session::tsne_step`]: its rows are the index's, stored by data-set index.
    fn tsne_made(&mut self, rows: Vec<f32>) -> Result<()> {
        let index = &self.current.index;
        let mut positions = vec![f32::NAN; 2 * self.dataset("make a t-SNE map")?.len()];
        for (row, &digit) in index.indices.iter().enumerate() {
            positions[2 * digit..2 * digit + 2].copy_from_slice(&rows[2 * row..2 * row + 2]);
        }
        self.tsne_restore(&positions).map(|_| ())
    }

    /// Whether a t-SNE map of `digits` digits fits the data set: one of its size, or, while it
    /// holds its test digits alone, of the whole data set whose first digits they are.
    pub(super) fn map_fits(&self, digits: usize) -> bool {
        let Some(data) = &self.data else { return false };
        digits == data.len() || (digits > data.len() && !self.has_training_data())
    }

    /// The current model's index if it is whole, else an error saying what waits for it.
    fn whole_index(&self, what: &str) -> Result<&LatentIndex> {
        let index = &self.current.index;
        if !self.is_whole(index) {
            return Err(Error::Input(format!("cannot {what} before the neighbour index is whole")));
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::*;
    use crate::device::placement::Devices;
    use crate::model::inference::Inference;
    use crate::test_util::{backends, block_on, small_dataset, small_parts};
    use crate::{Split, VaeConfig, VaeWeights};

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

    /// While the data set holds its test digits alone, a map of the whole set (the shipped map
    /// file) shows them as its first digits, and stays when the training digits arrive; a map
    /// made of the test digits alone is dropped then, to be made again over the whole index.
    #[test]
    fn a_map_of_the_whole_set_shows_its_test_digits_first_and_one_of_them_alone_is_made_again() {
        for device in backends() {
            let (test, train) = small_parts();
            let whole = test.appended(&train);
            let positions: Vec<f32> = (0..whole.len())
                .flat_map(|i| [f32::from(whole.labels[i]) * 10.0 + (i % 7) as f32, (i % 5) as f32])
                .collect();
            let mut shipped = Session::without_data(small(), Devices::all(&device)).unwrap();
            shipped.set_data(Arc::new(test.clone())).unwrap();
            build_index(&mut shipped);
            assert_eq!(shipped.tsne_restore(&positions).unwrap().state, "made");
            let early = shipped.tsne_map().unwrap();
            assert_eq!((&early.points[..], early.indices.len()), (&positions[..2 * test.len()], test.len()));
            shipped.add_training_data(&train).unwrap();
            let map = shipped.tsne_map().expect("the whole set's map stays");
            assert_eq!((map.points, map.labels), (positions.clone(), whole.labels.clone()));
            let agreement = knn_label_agreement(&positions, &whole.labels, AGREEMENT_NEIGHBOURS);
            assert_eq!(map.label_agreement, agreement);
            build_index(&mut shipped);
            // Once the data set is whole, a map must place every digit, no more.
            let more = [&positions[..], &[0.0, 0.0]].concat();
            assert!(shipped.tsne_restore(&more).is_err() && shipped.tsne_restore(&positions[..122]).is_err());

            // A t-SNE needs more digits than the small set's 61 test digits: every 4th of the whole.
            let full = crate::test_util::dataset().select(&(0..10_000).step_by(4).collect::<Vec<_>>());
            let (test, train) = (full.select(&full.indices(Split::Test)), full.select(&full.indices(Split::Train)));
            let mut made = Session::without_data(small(), Devices::all(&device)).unwrap();
            made.set_data(Arc::new(test.clone())).unwrap();
            build_index(&mut made);
            made.tsne_begin().unwrap();
            while made.tsne_status().state == "making" {
                made.tsne_step().unwrap();
            }
            assert_eq!(made.tsne_map().unwrap().indices.len(), test.len());
            made.add_training_data(&train).unwrap();
            assert_eq!((made.tsne_status().state, made.tsne_map()), ("none", None), "made again once whole");
            assert!(made.tsne_begin().is_err());
            build_index(&mut made);
            assert_eq!(made.tsne_begin().unwrap().state, "making");
        }
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
}
