//! The page's face on the VAE: one [`Sketchpad`] per worker. Backend choice lives here and only
//! here: WebGPU when the browser has an adapter and it passes a self-test against the CPU backend,
//! else burn-ndarray, with the reason said. Every method is async (WebGPU reads must be) and errors
//! cross as `JsError` with a readable message.

use std::cell::RefCell;

use burn::tensor::Device;
use serde::Serialize;
use vae::infer::{LatentIndex, Neighbour, interpolate_latents};
use vae::rng::Rng;
use vae::{Dataset, Inference, Split, VaeWeights};
use wasm_bindgen::prelude::*;

/// Largest relative error WebGPU may show against the CPU in the start-up self-test.
const SELF_TEST_TOLERANCE: f32 = 1e-3;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

thread_local! {
    /// Burn's wgpu runtime may be initialised only once per page: the first outcome is kept.
    static WEBGPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
}

async fn webgpu_device() -> Result<Device, String> {
    if let Some(known) = WEBGPU.with(|w| w.borrow().clone()) {
        return known;
    }
    let outcome = if !burn::tensor::wgpu::wgpu::util::is_browser_webgpu_supported().await {
        Err("this browser has no WebGPU adapter".to_string())
    } else {
        Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU did not start: {e}"))
    };
    WEBGPU.with(|w| *w.borrow_mut() = Some(outcome.clone()));
    outcome
}

#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
fn cpu_device() -> Device {
    Device::ndarray()
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Structured results cross as JSON text that the worker parses: serde-wasm-bindgen builds a JS
/// value one element at a time, which took 2.1 s for one analysis (8 000 floats) and about 10 s
/// for the map's 30 000 numbers in Chromium here; `JSON.parse` takes milliseconds.
fn to_js<T: Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(js_err)
}

#[derive(Serialize)]
struct BackendInfo {
    /// "webgpu" or "cpu".
    kind: &'static str,
    /// "WebGPU" or "CPU (ndarray)".
    label: &'static str,
    /// Why the CPU is used, when WebGPU was wanted.
    fallback_reason: Option<String>,
    /// Largest relative error of WebGPU against the CPU in the self-test, when it ran.
    self_test_error: Option<f32>,
}

#[derive(Serialize)]
struct Analysis {
    /// The 28×28 MNIST-style input.
    input: Vec<f32>,
    reconstruction: Vec<f32>,
    mu: Vec<f32>,
    logvar: Vec<f32>,
    neighbours: Vec<Neighbour>,
    /// The neighbours' own grey levels, 784 each, in the same order.
    neighbour_images: Vec<f32>,
    /// Negative ELBO with z = μ, in nats.
    loss: f64,
    recon: f64,
    kl: f64,
    /// Share of test digits less digit-like than this one, in percent.
    percentile: Option<f64>,
    /// Position on the latent map.
    map: [f32; 2],
}

#[derive(Serialize)]
struct MapPoints {
    /// x0, y0, x1, y1, …
    points: Vec<f32>,
    labels: Vec<u8>,
    indices: Vec<usize>,
    latent: usize,
}

#[derive(Serialize)]
struct IndexProgress {
    /// Digits in the neighbour index so far.
    indexed: usize,
    total: usize,
    /// Whether the test set's losses (the score's percentiles) are ready.
    scored: bool,
    done: bool,
}

/// Digits added to the neighbour index per [`Sketchpad::index_step`]: small enough that a sketch
/// waits at most one step (well under a second on the CPU).
const INDEX_STEP: usize = 500;

#[wasm_bindgen]
pub struct Sketchpad {
    inference: Inference,
    /// Grows step by step after start-up. Never borrowed across an await: methods clone it (the
    /// host copy is 0.8 MB, the device tensor is shared), and the worker runs one call at a time.
    index: RefCell<LatentIndex>,
    data: Dataset,
    backend: BackendInfo,
}

#[wasm_bindgen]
impl Sketchpad {
    /// `backend`: "auto" (WebGPU if it works, else CPU), "webgpu" (error if it does not work) or
    /// "cpu". `weights` is a safetensors file, `data` the data set file.
    pub async fn create(weights: Vec<u8>, data: Vec<u8>, backend: String) -> Result<Sketchpad, JsError> {
        let weights = VaeWeights::from_safetensors(&weights).map_err(js_err)?;
        let data = Dataset::from_bin(&data).map_err(js_err)?;
        let (device, backend) = choose_backend(&backend, &weights, &data).await?;
        let inference = Inference::new(&weights, &device).map_err(js_err)?;
        let index = RefCell::new(LatentIndex::new(inference.latent()));
        Ok(Sketchpad { inference, index, data, backend })
    }

    /// Builds the neighbour index one step further: first the test set's losses (for the score),
    /// then [`INDEX_STEP`] digits at a time. The page answers sketches between steps.
    #[wasm_bindgen(js_name = indexStep)]
    pub async fn index_step(&self) -> Result<String, JsError> {
        let mut index = self.index.borrow().clone();
        let all = self.data.indices(Split::All);
        if index.test_losses.is_empty() {
            index.score_test_set(&self.inference, &self.data).await.map_err(js_err)?;
        } else {
            let next = &all[index.len()..(index.len() + INDEX_STEP).min(all.len())];
            index.add(&self.inference, &self.data, next).await.map_err(js_err)?;
        }
        let progress = IndexProgress {
            indexed: index.len(),
            total: all.len(),
            scored: !index.test_losses.is_empty(),
            done: index.len() == all.len() && !index.test_losses.is_empty(),
        };
        *self.index.borrow_mut() = index;
        to_js(&progress)
    }

    #[wasm_bindgen(js_name = backendInfo)]
    pub fn backend_info(&self) -> Result<String, JsError> {
        to_js(&self.backend)
    }

    pub fn latent(&self) -> usize {
        self.inference.latent()
    }

    /// Everything the page shows for a sketch: preprocessed input, reconstruction, neighbours,
    /// score and map position. `grey` is `width × height`, ink = 1.
    pub async fn analyse(&self, grey: Vec<f32>, width: usize, height: usize, k: usize) -> Result<String, JsError> {
        let input = vae::sketch::preprocess(&grey, width, height).map_err(js_err)?;
        let index = self.index.borrow().clone();
        let encoded = self.inference.encode(&input).await.map_err(js_err)?;
        let reconstruction = self.inference.decode(&encoded.mu).await.map_err(js_err)?;
        let parts = self.inference.losses(&input, None).await.map_err(js_err)?[0];
        let neighbours = index.nearest(&encoded.mu, k).await.map_err(js_err)?;
        let neighbour_images = self.data.images(&neighbours.iter().map(|n| n.index).collect::<Vec<_>>());
        to_js(&Analysis {
            neighbour_images,
            map: index.map.project(&encoded.mu),
            // None until the test set is scored.
            percentile: (!index.test_losses.is_empty()).then(|| index.percentile(parts.loss)),
            loss: parts.loss,
            recon: parts.recon,
            kl: parts.kl,
            neighbours,
            input,
            reconstruction,
            mu: encoded.mu,
            logvar: encoded.logvar,
        })
    }

    /// `n` digits from N(0, T² I), `n × 784` grey levels.
    pub async fn sample(&self, n: usize, temperature: f64, seed: u64) -> Result<Vec<f32>, JsError> {
        self.inference.sample(n, temperature, &mut Rng::new(seed)).await.map_err(js_err)
    }

    /// Decodes latents (`n × latent`).
    pub async fn decode(&self, z: Vec<f32>) -> Result<Vec<f32>, JsError> {
        self.inference.decode(&z).await.map_err(js_err)
    }

    /// Decodes the latent under a point of the latent map.
    #[wasm_bindgen(js_name = decodeMapPoint)]
    pub async fn decode_map_point(&self, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        let z = self.index.borrow().map.unproject([x, y]);
        self.inference.decode(&z).await.map_err(js_err)
    }

    /// `steps` decodes from latent `a` to latent `b`.
    pub async fn interpolate(&self, a: Vec<f32>, b: Vec<f32>, steps: usize) -> Result<Vec<f32>, JsError> {
        let z = interpolate_latents(&a, &b, steps).map_err(js_err)?;
        self.inference.decode(&z).await.map_err(js_err)
    }

    /// `n` decodes of draws from q(z|x) of one 28×28 image.
    pub async fn variations(&self, image: Vec<f32>, n: usize, seed: u64) -> Result<Vec<f32>, JsError> {
        self.inference.variations(&image, n, &mut Rng::new(seed)).await.map_err(js_err)
    }

    /// μ of a data-set digit.
    #[wasm_bindgen(js_name = datasetLatent)]
    pub fn dataset_latent(&self, index: usize) -> Result<Vec<f32>, JsError> {
        let built = self.index.borrow();
        let row =
            built.indices.iter().position(|&i| i == index).ok_or_else(|| js_err("that digit is not indexed yet"))?;
        let l = built.latent;
        Ok(built.mu[row * l..(row + 1) * l].to_vec())
    }

    /// A data-set digit's grey levels.
    #[wasm_bindgen(js_name = datasetImage)]
    pub fn dataset_image(&self, index: usize) -> Result<Vec<f32>, JsError> {
        if index >= self.data.len() {
            return Err(js_err(format!("digit {index} is outside the data set of {}", self.data.len())));
        }
        Ok(self.data.image(index))
    }

    /// The data set on the latent map.
    #[wasm_bindgen(js_name = mapPoints)]
    pub fn map_points(&self) -> Result<String, JsError> {
        let index = self.index.borrow();
        let l = index.latent;
        let points = index.mu.chunks(l).flat_map(|z| index.map.project(z)).collect();
        to_js(&MapPoints { points, labels: index.labels.clone(), indices: index.indices.clone(), latent: l })
    }
}

/// Picks the device: WebGPU when asked for (or "auto") and it both starts and agrees with the CPU
/// on a fixed input; else the CPU, with the reason.
async fn choose_backend(wanted: &str, weights: &VaeWeights, data: &Dataset) -> Result<(Device, BackendInfo), JsError> {
    let cpu = |reason: Option<String>| BackendInfo {
        kind: "cpu",
        label: "CPU (ndarray)",
        fallback_reason: reason,
        self_test_error: None,
    };
    match wanted {
        "cpu" => return Ok((cpu_device(), cpu(None))),
        "auto" | "webgpu" => {}
        other => return Err(js_err(format!("unknown backend {other:?}: expected auto, webgpu or cpu"))),
    }
    let outcome = match webgpu_device().await {
        Err(reason) => Err((reason, None)),
        Ok(device) => match self_test(&device, weights, data).await {
            Ok(err) if err <= SELF_TEST_TOLERANCE => Ok((device, err)),
            Ok(err) => {
                Err((format!("WebGPU gave wrong results on this adapter (relative error {err:.2e})"), Some(err)))
            }
            Err(e) => Err((format!("WebGPU failed its self-test: {e}"), None)),
        },
    };
    match outcome {
        Ok((device, err)) => Ok((
            device,
            BackendInfo { kind: "webgpu", label: "WebGPU", fallback_reason: None, self_test_error: Some(err) },
        )),
        Err((reason, _)) if wanted == "webgpu" => Err(js_err(reason)),
        Err((reason, err)) => Ok((cpu_device(), BackendInfo { self_test_error: err, ..cpu(Some(reason)) })),
    }
}

/// Reconstructs a few data digits and decodes a few prior samples on both devices; returns the
/// largest relative error of `device` against the CPU.
async fn self_test(device: &Device, weights: &VaeWeights, data: &Dataset) -> vae::Result<f32> {
    let images = data.images(&[0, 1500, 3000, 4500, 6000, 7500, 9000, 9999]);
    let z = Rng::new(1).normals(8 * weights.config.latent, 1.0);
    let mut outputs = Vec::new();
    for d in [cpu_device(), device.clone()] {
        let inf = Inference::new(weights, &d)?;
        let mut out = inf.reconstruct(&images).await?;
        out.extend(inf.decode(&z).await?);
        outputs.push(out);
    }
    Ok(outputs[0]
        .iter()
        .zip(&outputs[1])
        .map(|(a, b)| if b.is_finite() { (a - b).abs() / a.abs().max(1.0) } else { f32::INFINITY })
        .fold(0.0, f32::max))
}
