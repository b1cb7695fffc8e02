//! The page's t-SNE map as a file: made with the CLI (`vae map --page-file`) for the page's default
//! model through this session, as the page makes it, and shipped beside that model
//! (`www/model/default-tsne.bin`), so the page shows the informative map first instead of making
//! it in 20–40 s of its worker's background steps. A file holds one model's map (named by
//! [`VaeWeights::digest`]), made by one t-SNE ([`PAGE_TSNE`]), of a data set of its size; each
//! coordinate quantised to 16 bits over the map's extent (a step of about 1/65 535 of the map's
//! width: the page draws it on a canvas of some hundred pixels).
//!
//! The layout, little-endian:
//!
//! | bytes      | what                                                                       |
//! |------------|----------------------------------------------------------------------------|
//! | 0..8       | `LSK-TSNE`                                                                 |
//! | 8..12      | the version, 1 (u32)                                                       |
//! | 12..16     | N, the digits (u32)                                                        |
//! | 16..48     | the model's digest ([`VaeWeights::digest`])                                |
//! | 48..80     | the t-SNE: perplexity, θ, exaggeration (f64), iterations, of them exaggerated (u32) |
//! | 80..96     | the extent: x min, x max, y min, y max (f32)                               |
//! | 96..100    | CRC-32 of the positions                                                    |
//! | 100..      | N x, then N y (u16): `round((v − min) / (max − min) × 65 535)`, by data-set index |
//!
//! [`VaeWeights::digest`]: crate::VaeWeights::digest

use super::maps::{PAGE_TSNE, TsneStage};
use super::{Session, TsneStatus};
use crate::explore::tsne::TsneOptions;
use crate::model::weights::hex;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LSK-TSNE";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 100;
const STEPS: f64 = u16::MAX as f64;
/// Far more digits than a data file holds (`Dataset`'s bound): a header that says more is damaged.
const MAX_DIGITS: usize = 1 << 24;

/// A t-SNE map file, read and checked: the model it is of, and each digit's x and y.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneMapFile {
    /// The model's [`crate::VaeWeights::digest`].
    pub digest: [u8; 32],
    /// x and y of every data-set digit, by data-set index.
    pub positions: Vec<f32>,
}

impl TsneMapFile {
    /// The file of `positions` (x and y of each digit, all finite), made with [`PAGE_TSNE`] for the
    /// model whose digest is `digest`.
    pub fn write(digest: [u8; 32], positions: &[f32]) -> Result<Vec<u8>> {
        let n = positions.len() / 2;
        if positions.is_empty()
            || !positions.len().is_multiple_of(2)
            || n > MAX_DIGITS
            || positions.iter().any(|v| !v.is_finite())
        {
            return Err(Error::Input(format!(
                "a t-SNE map file holds finite x and y for 1 to {MAX_DIGITS} digits; these are {} values",
                positions.len()
            )));
        }
        let axes = [0, 1].map(|axis| {
            let values = positions.iter().skip(axis).step_by(2);
            let lo = values.clone().copied().fold(f32::INFINITY, f32::min);
            let hi = values.copied().fold(f32::NEG_INFINITY, f32::max);
            (lo, hi)
        });
        let mut quantised = Vec::with_capacity(2 * positions.len());
        for (axis, (lo, hi)) in axes.iter().enumerate() {
            let width = f64::from(*hi) - f64::from(*lo);
            for v in positions.iter().skip(axis).step_by(2) {
                let q = if width > 0.0 { ((f64::from(*v) - f64::from(*lo)) / width * STEPS).round() } else { 0.0 };
                quantised.extend((q as u16).to_le_bytes());
            }
        }
        let mut bytes = Vec::with_capacity(HEADER_BYTES + quantised.len());
        bytes.extend(MAGIC);
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend((n as u32).to_le_bytes());
        bytes.extend(digest);
        bytes.extend(options_bytes(&PAGE_TSNE));
        for (lo, hi) in axes {
            bytes.extend(lo.to_le_bytes());
            bytes.extend(hi.to_le_bytes());
        }
        bytes.extend(crc32(&quantised).to_le_bytes());
        bytes.extend(quantised);
        Ok(bytes)
    }

    /// Reads a file [`TsneMapFile::write`] wrote; refused, saying what is wrong, unless it is one
    /// whole and undamaged, of this version, made with [`PAGE_TSNE`].
    pub fn read(bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| Error::Input(format!("not a usable t-SNE map file: {what}"));
        if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
            return Err(bad(format!(
                "it does not begin with a t-SNE map file's header ({} bytes, beginning {:?})",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
            )));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let f32_at = |at: usize| f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!("it is of version {version}; this one reads version {VERSION}")));
        }
        let n = u32_at(12) as usize;
        if n == 0 || n > MAX_DIGITS {
            return Err(bad(format!("its header says {n} digits; a map file holds 1 to {MAX_DIGITS}")));
        }
        let expected = HEADER_BYTES + 4 * n;
        if bytes.len() != expected {
            return Err(bad(format!(
                "its header says {n} digits, which take {expected} bytes; it has {} (truncated or padded)",
                bytes.len()
            )));
        }
        if bytes[48..80] != options_bytes(&PAGE_TSNE) {
            return Err(bad(format!(
                "it was made by another t-SNE ({}); the page's is {}",
                describe(&bytes[48..80]),
                describe(&options_bytes(&PAGE_TSNE))
            )));
        }
        let payload = &bytes[HEADER_BYTES..];
        if crc32(payload) != u32_at(96) {
            return Err(bad("its positions do not match their checksum (the file is damaged)".into()));
        }
        let mut positions = vec![0.0f32; 2 * n];
        for axis in 0..2 {
            let (lo, hi) = (f32_at(80 + 8 * axis), f32_at(84 + 8 * axis));
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                return Err(bad(format!("its extent on the {} axis is {lo} to {hi}", ["x", "y"][axis])));
            }
            let width = f64::from(hi) - f64::from(lo);
            for (i, q) in payload[axis * 2 * n..(axis + 1) * 2 * n].chunks_exact(2).enumerate() {
                let q = f64::from(u16::from_le_bytes([q[0], q[1]]));
                positions[2 * i + axis] = (f64::from(lo) + q / STEPS * width) as f32;
            }
        }
        Ok(TsneMapFile { digest: bytes[16..48].try_into().expect("32 bytes"), positions })
    }
}

impl Session {
    /// The current model's t-SNE map as a map file; an error until it is made.
    pub fn tsne_file(&self) -> Result<Vec<u8>> {
        let TsneStage::Made { positions, .. } = &self.current.tsne else {
            return Err(Error::Input("the current model's t-SNE map is not made yet: nothing to write".into()));
        };
        TsneMapFile::write(self.weights.digest(), positions)
    }

    /// Whether a map file is the current model's; an error if it is no usable map file.
    pub fn tsne_file_fits(&self, file: &[u8]) -> Result<bool> {
        Ok(TsneMapFile::read(file)?.digest == self.weights.digest())
    }

    /// Makes a map file's positions the current model's t-SNE map (see [`Session::tsne_restore`]);
    /// refused, with what is wrong and nothing changed, unless it is a usable map file of this
    /// model and of a data set of this one's size (or, while it holds its test digits alone, of the
    /// whole data set they begin), and the index is whole.
    pub fn tsne_restore_file(&mut self, file: &[u8]) -> Result<TsneStatus> {
        let file = TsneMapFile::read(file)?;
        let digest = self.weights.digest();
        if file.digest != digest {
            return Err(Error::Input(format!(
                "this t-SNE map file is of another model (weights digest {}); the page's model is {}",
                hex(&file.digest),
                hex(&digest)
            )));
        }
        let digits = self.dataset("restore a t-SNE map")?.len();
        if !self.map_fits(file.positions.len() / 2) {
            return Err(Error::Input(format!(
                "this t-SNE map file places {} digits; the data set has {digits}",
                file.positions.len() / 2
            )));
        }
        self.tsne_restore(&file.positions)
    }
}

/// The t-SNE's settings that shape its map (not how many rows it takes a step).
fn options_bytes(o: &TsneOptions) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32);
    for v in [o.perplexity, o.theta, o.exaggeration] {
        bytes.extend(v.to_le_bytes());
    }
    for v in [o.iterations, o.exaggeration_iterations] {
        bytes.extend((v as u32).to_le_bytes());
    }
    bytes
}

/// [`options_bytes`] in words.
fn describe(options: &[u8]) -> String {
    let f = |at: usize| f64::from_le_bytes(options[at..at + 8].try_into().expect("8 bytes"));
    let u = |at: usize| u32::from_le_bytes(options[at..at + 4].try_into().expect("4 bytes"));
    format!("perplexity {}, θ {}, exaggeration {} for {} of {} iterations", f(0), f(8), f(16), u(28), u(24))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::*;
    use crate::explore::tsne::knn_label_agreement;
    use crate::session::AGREEMENT_NEIGHBOURS;
    use crate::test_util::{dataset, ndarray, small_dataset};
    use crate::{Dataset, Split, VaeWeights};

    /// A map where each label is a cluster: every digit on a circle around its label's place.
    fn clustered(data: &Dataset) -> Vec<f32> {
        (0..data.len())
            .flat_map(|i| {
                let (label, angle) = (f32::from(data.labels[i]), i as f32 * 0.7);
                [label * 9.0 - 40.0 + angle.cos(), (label * 2.0).sin() * 30.0 + angle.sin() * 2.5]
            })
            .collect()
    }

    /// Reads `bytes`, expecting a refusal that says `needle`.
    fn refused(bytes: &[u8], needle: &str) {
        let e = TsneMapFile::read(bytes).expect_err(needle).to_string();
        assert!(e.contains(needle), "{e}");
    }

    #[test]
    fn a_map_file_round_trips_to_within_its_quantisation_step() {
        let data = small_dataset();
        let positions = clustered(&data);
        let digest = small().digest();
        let bytes = TsneMapFile::write(digest, &positions).unwrap();
        assert_eq!(bytes.len(), HEADER_BYTES + 4 * data.len());
        let file = TsneMapFile::read(&bytes).unwrap();
        assert_eq!(file.digest, digest);
        for axis in 0..2 {
            let axis_values = |p: &[f32]| p.iter().skip(axis).step_by(2).copied().collect::<Vec<f32>>();
            let (written, read) = (axis_values(&positions), axis_values(&file.positions));
            let (lo, hi) = written.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
            let step = (hi - lo) / 65_535.0;
            let worst = written.iter().zip(&read).map(|(w, r)| (w - r).abs()).fold(0.0, f32::max);
            assert!(worst <= 0.5 * step * 1.01, "axis {axis}: off by {worst}, half a step is {}", 0.5 * step);
            // The extremes are exact: the map's extent is the file's.
            assert_eq!(read.iter().copied().fold(f32::INFINITY, f32::min), lo);
            assert_eq!(read.iter().copied().fold(f32::NEG_INFINITY, f32::max), hi);
        }
        let agreement = |p: &[f32]| knn_label_agreement(p, &data.labels, AGREEMENT_NEIGHBOURS);
        assert!((agreement(&file.positions) - agreement(&positions)).abs() < 1e-3);
        // Written again from what was read: the same file.
        assert_eq!(TsneMapFile::write(digest, &file.positions).unwrap(), bytes);
        // One digit, and all digits in one place: an extent of no width.
        let one = TsneMapFile::read(&TsneMapFile::write(digest, &[3.5, -2.0]).unwrap()).unwrap();
        assert_eq!(one.positions, [3.5, -2.0]);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_saying_what_is_wrong() {
        let positions = clustered(&small_dataset());
        let good = TsneMapFile::write(small().digest(), &positions).unwrap();
        let with = |at: usize, new: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + new.len()].copy_from_slice(new);
            bytes
        };
        refused(&good[..50], "does not begin with a t-SNE map file's header");
        refused(b"", "does not begin with a t-SNE map file's header (0 bytes");
        refused(&with(0, b"safetens"), "beginning \"safetens\"");
        refused(&with(8, &2u32.to_le_bytes()), "it is of version 2; this one reads version 1");
        refused(&good[..good.len() - 1], "its header says 625 digits, which take 2600 bytes; it has 2599");
        refused(&[&good[..], &[0]].concat(), "it has 2601 (truncated or padded)");
        refused(&with(12, &0u32.to_le_bytes()), "its header says 0 digits");
        refused(&with(12, &u32::MAX.to_le_bytes()), "its header says 4294967295 digits");
        let iterations = 48 + 24;
        refused(
            &with(iterations, &1000u32.to_le_bytes()),
            "it was made by another t-SNE (perplexity 30, θ 1, exaggeration 12 for 200 of 1000 iterations); the page's is \
             perplexity 30, θ 1, exaggeration 12 for 200 of 500 iterations",
        );
        refused(&with(HEADER_BYTES + 7, &[0x5a]), "its positions do not match their checksum (the file is damaged)");
        refused(&with(96, &[0, 0, 0, 0]), "do not match their checksum");
        refused(&with(84, &f32::NAN.to_le_bytes()), "its extent on the x axis is");
        refused(&with(88, &1e9f32.to_le_bytes()), "its extent on the y axis is 1000000000 to");
        // What cannot be written is refused too.
        for bad in [&[][..], &[1.0, 2.0, 3.0][..], &[1.0, f32::NAN][..], &[f32::INFINITY, 0.0][..]] {
            let e = TsneMapFile::write([0; 32], bad).unwrap_err().to_string();
            assert!(e.contains("holds finite x and y for 1 to"), "{e}");
        }
    }

    #[test]
    fn a_session_writes_its_map_and_another_of_the_same_model_takes_it_only_that_one() {
        let data = Arc::new(small_dataset());
        let mut maker = Session::new(small(), data.clone(), ndarray()).unwrap();
        assert!(maker.tsne_file().unwrap_err().to_string().contains("is not made yet"));
        build_index(&mut maker);
        maker.tsne_restore(&clustered(&data)).unwrap();
        let file = maker.tsne_file().unwrap();
        let made = maker.tsne_map().unwrap();

        let mut page = Session::new(small(), data.clone(), ndarray()).unwrap();
        assert!(page.tsne_file_fits(&file).unwrap(), "the same model: its file");
        let e = page.tsne_restore_file(&file).unwrap_err().to_string();
        assert!(e.contains("before the neighbour index is whole"), "{e}");
        build_index(&mut page);
        assert_eq!(page.tsne_restore_file(&file).unwrap().state, "made");
        let shown = page.tsne_map().unwrap();
        assert!((shown.label_agreement - made.label_agreement).abs() < 1e-3);
        crate::test_util::assert_close(&shown.points, &made.points, 1e-3);

        // Another model: not its file, refused saying so, nothing changed.
        let other = VaeWeights::init(crate::VaeConfig::vae(16, 3, 1.0), 7).unwrap();
        let mut foreign = Session::new(other.clone(), data.clone(), ndarray()).unwrap();
        build_index(&mut foreign);
        assert!(!foreign.tsne_file_fits(&file).unwrap());
        let e = foreign.tsne_restore_file(&file).unwrap_err().to_string();
        assert!(e.contains(&format!("is of another model (weights digest {})", small().digest_hex())), "{e}");
        assert!(e.contains(&format!("the page's model is {}", other.digest_hex())), "{e}");
        assert_eq!(foreign.tsne_status().state, "none");
        // A damaged file is an error, not "another model's".
        assert!(foreign.tsne_file_fits(&file[..40]).is_err());

        // A map of a data set of another size: refused, the map stays as it was.
        let fewer = TsneMapFile::write(small().digest(), &clustered(&data)[..2 * (data.len() - 1)]).unwrap();
        let e = page.tsne_restore_file(&fewer).unwrap_err().to_string();
        assert!(e.contains("this t-SNE map file places 624 digits; the data set has 625"), "{e}");
        assert_eq!(page.tsne_map().unwrap(), shown);

        // The page's test digits before its training digits: the file of the whole set (test
        // digits first) shows them, its first digits.
        let (test, train) = crate::test_util::small_parts();
        let whole = test.appended(&train);
        let file = TsneMapFile::write(small().digest(), &clustered(&whole)).unwrap();
        let mut early = Session::without_data(small(), crate::device::placement::Devices::all(&ndarray())).unwrap();
        early.set_data(Arc::new(test.clone())).unwrap();
        build_index(&mut early);
        assert_eq!(early.tsne_restore_file(&file).unwrap().state, "made");
        let prefix = TsneMapFile::read(&file).unwrap().positions[..2 * test.len()].to_vec();
        assert_eq!(early.tsne_map().unwrap().points, prefix);
    }

    proptest::proptest! {
        #![proptest_config(crate::test_util::proptest_config(64))]

        /// A file with any bytes changed (its extent, which no checksum covers, included), cut
        /// short or grown is read or refused, never a panic; what is read places every digit
        /// finitely.
        #[test]
        fn any_damage_is_read_or_refused_never_a_panic(
            changes in proptest::collection::vec((0usize..2_600, proptest::num::u8::ANY), 0..6),
            length in proptest::option::of(0usize..2_800),
        ) {
            let mut bytes = TsneMapFile::write(small().digest(), &clustered(&small_dataset())).unwrap();
            for (at, value) in changes {
                bytes[at] = value;
            }
            if let Some(length) = length {
                bytes.resize(length, 0);
            }
            if let Ok(file) = TsneMapFile::read(&bytes) {
                proptest::prop_assert!(file.positions.iter().all(|v| v.is_finite()));
            }
        }
    }

    /// The file shipped beside the page's default model is that model's (the q8 copy the page
    /// loads, www/worker/modules.js), places every digit of the page's data set, and keeps digits together as a t-SNE
    /// map does: `scripts/train-default.sh` remakes it with the model.
    #[test]
    fn the_shipped_map_is_the_page_default_models() {
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model");
        let weights = VaeWeights::load(&model.join("default-q8.safetensors")).unwrap();
        let file = TsneMapFile::read(&std::fs::read(model.join("default-tsne.bin")).unwrap()).unwrap();
        assert_eq!(hex(&file.digest), weights.digest_hex(), "www/model/default-tsne.bin is of another model");
        // The page's order: the test digits first (scripts/split-data.mjs), the prefix it shows
        // until the training digits arrive.
        let data = dataset();
        let page = data.select(&[data.indices(Split::Test), data.indices(Split::Train)].concat());
        assert_eq!(file.positions.len(), 2 * page.len());
        let agreement = knn_label_agreement(&file.positions, &page.labels, AGREEMENT_NEIGHBOURS);
        assert!(agreement > 0.9, "the shipped map's 10-NN label agreement is {agreement}");
        let tests = data.indices(Split::Test).len();
        let early = knn_label_agreement(&file.positions[..2 * tests], &page.labels[..tests], AGREEMENT_NEIGHBOURS);
        assert!(early > 0.85, "the 10-NN label agreement of its test digits alone is {early}");
    }
}
