//! Where a sketch's answer spends its time, natively on burn-ndarray (one thread unless
//! RAYON_NUM_THREADS says otherwise): the whole `Session::analyse` and its parts, medians over N
//! calls. Run under `perf record -g` for the profile behind docs/speed.md.
//!   cargo run --release -p vae-cli --example sketch_profile -- [N (300)]
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use vae::{Dataset, Device, Inference, LatentIndex, Session, VaeWeights};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Median milliseconds of `n` calls of `f`.
fn median_ms<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
fn main() {
    let n: usize = std::env::args().nth(1).map_or(300, |a| a.parse().expect("N is a count"));
    let weights = VaeWeights::load(&Path::new(ROOT).join("www/model/default.safetensors")).unwrap();
    let data = Arc::new(Dataset::load(&Path::new(ROOT).join("www/data/mnist.bin")).unwrap());
    let device = Device::ndarray();
    let mut session = Session::new(weights.clone(), data.clone(), device.clone()).unwrap();
    while !pollster::block_on(session.index_step()).unwrap().done {}

    // A 280 × 280 pad with one thick vertical stroke, as the page sends it.
    let pad: Vec<f32> = (0..280 * 280)
        .map(|i| f32::from(u8::from((100..140).contains(&(i % 280)) && (50..230).contains(&(i / 280)))))
        .collect();
    let inference = Inference::new(&weights, &device).unwrap();
    let all: Vec<usize> = (0..data.len()).collect();
    let index = pollster::block_on(LatentIndex::build(&inference, &data, &all)).unwrap();
    let input = vae::explore::sketch::preprocess(&pad, 280, 280).unwrap().unwrap();
    let z = pollster::block_on(inference.encode(&input, None)).unwrap().mu;

    println!("median of {n} calls, ms:");
    println!(
        "  Session::analyse (all of it)     {:.3}",
        median_ms(n, || pollster::block_on(session.analyse(&pad, 280, 280, 8)))
    );
    println!(
        "  sketch::preprocess (280 × 280)   {:.3}",
        median_ms(n, || vae::explore::sketch::preprocess(&pad, 280, 280))
    );
    println!(
        "  Inference::analyse (one pass)    {:.3}",
        median_ms(n, || pollster::block_on(inference.analyse(&input)))
    );
    println!("  LatentIndex::nearest (10 000)    {:.3}", median_ms(n, || pollster::block_on(index.nearest(&z, 8))));
}
