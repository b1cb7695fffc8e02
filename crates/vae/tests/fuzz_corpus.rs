//! Replays every fuzz input kept in the repository, the corpora (`fuzz/corpus/<target>/`: what
//! `scripts/fuzz.sh` found interesting) and any crash inputs (`fuzz/artifacts/<target>/`), through
//! the same functions the fuzz targets call, so that `cargo test` guards what fuzzing established
//! without a fuzz build. A panic here is a bug the fuzzer found (or one that came back).

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// A fuzz target's name (its folder under `fuzz/corpus/`) and what it does with an input.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 4] = [
    ("safetensors", targets::safetensors),
    ("idx", targets::idx),
    ("dataset", targets::dataset),
    ("sketch", targets::sketch),
];

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_kept_fuzz_input_is_answered_without_a_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, run) in TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(name));
        // The seeds are committed: an empty corpus means the replay lost its inputs.
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty");
        let crashes = inputs(&fuzz.join("artifacts").join(name));
        for file in corpus.iter().chain(&crashes) {
            let bytes = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{name}: {} panics", file.display());
        }
        eprintln!("{name}: {} corpus inputs, {} crash inputs replayed", corpus.len(), crashes.len());
    }
}
