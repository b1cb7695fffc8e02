//! Helpers shared by the unit tests: the backends to run on, and comparisons.

use std::path::Path;
use std::sync::OnceLock;

use burn::tensor::Device;

use crate::Dataset;

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// The CPU backend, then, with the `wgpu-tests` feature, Burn's wgpu backend natively (Vulkan;
/// Mesa's lavapipe on a CPU), so every test that loops over `backends()` proves both
/// (`scripts/test-native-gpu.sh`). `VAE_TEST_BACKENDS=ndarray` skips wgpu on a machine without Vulkan.
#[cfg_attr(not(feature = "wgpu-tests"), allow(unused_mut))]
pub fn backends() -> Vec<Device> {
    let mut devices = vec![ndarray()];
    #[cfg(feature = "wgpu-tests")]
    if std::env::var("VAE_TEST_BACKENDS").as_deref() != Ok("ndarray") {
        static WGPU: OnceLock<Device> = OnceLock::new();
        devices.push(
            WGPU.get_or_init(|| {
                block_on(crate::gpu::start())
                    .unwrap_or_else(|e| panic!("Burn's wgpu backend did not start ({e}); install mesa-vulkan-drivers"))
                    .0
            })
            .clone(),
        );
    }
    devices
}

/// The CPU backend alone, for property tests (many small cases: `check.rs` proves the backends
/// agree).
#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
pub fn ndarray() -> Device {
    Device::ndarray()
}

pub fn dataset() -> Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/data/mnist.bin")).unwrap())
        .clone()
}

/// Every 16th digit of the committed data set (625, with their split: 564 train and 61 test digits, every label in each),
/// for tests that go through whole epochs and whole indexes on both backends.
pub fn small_dataset() -> Dataset {
    let full = dataset();
    full.select(&(0..full.len()).step_by(16).collect::<Vec<_>>())
}

/// [`small_dataset`] as the page gets it: its test digits (a data set of its own), then its
/// training digits.
pub fn small_parts() -> (Dataset, Dataset) {
    let small = small_dataset();
    (small.select(&small.indices(crate::Split::Test)), small.select(&small.indices(crate::Split::Train)))
}

/// [`crate::tensor::relative_error`] per element, naming the first element over `tol`.
pub fn assert_close(got: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(got.len(), expected.len(), "lengths differ");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let err = crate::tensor::relative_error(*g, *e);
        assert!(err <= tol, "element {i}: got {g}, expected {e} (relative error {err} > {tol})");
    }
}

/// The property tests' configuration: `cases` per property (kept small: the whole suite runs in
/// CI), or `PROPTEST_CASES` if set (for a longer hunt: `PROPTEST_CASES=5000 cargo test …`). No
/// failure files are written: a case a property found is kept as an ordinary regression test
/// beside it.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    proptest::test_runner::Config { cases, failure_persistence: None, ..Default::default() }
}

/// A JSON array of numbers.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// A 28×28 digit as an unusual hand might write it: slanted (sheared: the top leans right by 0.4
/// pixel a row, linearly interpolated) and thick (each pixel the brightest of its 3 × 3
/// neighbourhood). What a person's own digits might look like to a model trained on MNIST's.
pub fn unusual_hand(image: &[f32]) -> Vec<f32> {
    let side = crate::IMAGE_SIDE;
    let at = |x: isize, y: isize, img: &[f32]| {
        if (0..side as isize).contains(&x) && (0..side as isize).contains(&y) {
            img[y as usize * side + x as usize]
        } else {
            0.0
        }
    };
    let mut slanted = vec![0.0; side * side];
    for y in 0..side {
        let shift = 0.4 * (side as f32 / 2.0 - y as f32 - 0.5);
        for x in 0..side {
            let from = x as f32 - shift;
            let (left, t) = (from.floor(), from - from.floor());
            let (l, r) = (at(left as isize, y as isize, image), at(left as isize + 1, y as isize, image));
            slanted[y * side + x] = l * (1.0 - t) + r * t;
        }
    }
    (0..side * side)
        .map(|i| {
            let (x, y) = ((i % side) as isize, (i / side) as isize);
            let around = (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (x + dx, y + dy)));
            around.map(|(x, y)| at(x, y, &slanted)).fold(0.0, f32::max)
        })
        .collect()
}
