//! The model: the network, its weights and their files, its loss, training (Adam, the loop, the
//! digits mixed into its batches, a run's snapshot), inference on a trained model, what only the
//! conditional model does (read, restyle), and the measures that judge it.

pub mod adam;
pub mod conditional;
pub mod inference;
pub mod loss;
pub mod mixing;
pub mod network;
pub mod quality;
pub mod snapshot;
pub mod train;
pub mod weights;

/// What the model layer's tests share.
#[cfg(test)]
pub(crate) mod test_fixtures {
    use std::path::Path;

    /// A model trained and saved by PyTorch (`tests/fixtures/NAME.safetensors`, made by
    /// `scripts/make-pytorch-fixture.py`) and what PyTorch says about it (`NAME.json`). The file must be
    /// as PyTorch saves a module: no metadata, so the reader takes everything from the shapes.
    pub fn pytorch_fixture(name: &str) -> (crate::VaeWeights, serde_json::Value) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let bytes = std::fs::read(fixtures.join(format!("{name}.safetensors"))).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert!(header.metadata().is_none(), "the fixture must be as PyTorch saves a module: no metadata");
        let json = std::fs::read_to_string(fixtures.join(format!("{name}.json"))).unwrap();
        (crate::VaeWeights::from_safetensors(&bytes).unwrap(), serde_json::from_str(&json).unwrap())
    }
}
