//! What each fuzz target does with its input, shared by the targets (`fuzz_targets/`) and by the
//! replay of the corpora in `cargo test` (`crates/vae/tests/fuzz_corpus.rs` includes this file).
//! Each function must return (an answer or an error) for any bytes: a panic, a hang or an
//! allocation above libFuzzer's limit is a bug.

use vae::data::{Dataset, float_images_file};
use vae::explore::sketch;
use vae::model::snapshot::RunSnapshot;
use vae::{IMAGE_PIXELS, VaeWeights};

/// A model file (the page's import, the CLI's `--model`) and a stored training run: both
/// safetensors. What loads must also write, in f32 and in 8 bits, and read back the same.
pub fn safetensors(bytes: &[u8]) {
    if let Ok(weights) = VaeWeights::from_safetensors(bytes) {
        for written in [weights.to_safetensors(), weights.to_safetensors_q8()] {
            let again =
                VaeWeights::from_safetensors(&written.expect("a loaded model writes")).expect("a written model reads");
            assert_eq!(again.config, weights.config);
        }
    }
    if let Ok(run) = RunSnapshot::from_bytes(bytes) {
        RunSnapshot::from_bytes(&run.to_bytes().expect("a loaded run writes")).expect("a written run reads");
    }
}

/// IDX files: a pair of images and labels (the input is split at its first byte's fraction), and
/// the float images that `vae score`/`encode` read.
pub fn idx(bytes: &[u8]) {
    let Some((&cut, rest)) = bytes.split_first() else { return };
    let cut = rest.len() * cut as usize / 255;
    let (images, labels) = rest.split_at(cut);
    if let Ok(data) = Dataset::from_idx(images, Some(labels)) {
        assert!(!data.is_empty());
        assert_eq!(data.images(&[data.len() - 1]).len(), IMAGE_PIXELS);
    }
    let _ = Dataset::from_idx(rest, None);
    if let Some(Ok(images)) = float_images_file(rest) {
        assert_eq!(images.len() % IMAGE_PIXELS, 0);
    }
}

/// The page's compact data file (`www/data/*.bin`, or the CLI's `--data`).
pub fn dataset(bytes: &[u8]) {
    if let Ok(data) = Dataset::from_bin(bytes) {
        assert!(!data.is_empty());
        assert_eq!(data.images(&[data.len() - 1]).len(), IMAGE_PIXELS);
    }
}

/// A sketch of any size and any values, NaN and infinities included: the first two bytes are the
/// width and a flag (the height is what the values make, or one more when the flag's low bit is
/// set, so that mismatched sizes are tried too), then the grey levels as little-endian f32.
pub fn sketch(bytes: &[u8]) {
    let Some((&[width, flag], rest)) = bytes.split_first_chunk::<2>() else { return };
    let grey: Vec<f32> = rest.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let width = width as usize;
    let height = grey.len().checked_div(width).map_or(0, |rows| rows + (flag & 1) as usize);
    if let Ok(Some(image)) = sketch::preprocess(&grey, width, height) {
        assert_eq!(image.len(), IMAGE_PIXELS);
        assert!(image.iter().all(|v| (0.0..=1.0).contains(v)), "grey levels out of [0, 1]");
    }
}
