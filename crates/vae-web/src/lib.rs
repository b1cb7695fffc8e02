//! The page's face on the VAE: one [`Sketchpad`] per worker. Backend choice lives here and only
//! here. "auto" answers on burn-ndarray at once, and meanwhile starts WebGPU, checks it against the
//! CPU on a fixed input and compiles the page's kernels ([`Sketchpad::prepare_webgpu`]); the page
//! moves to WebGPU when that is done ([`Sketchpad::use_webgpu`]), or stays on the CPU with the
//! reason said. Every method is async where it reads tensors (WebGPU reads must be) and errors
//! cross as `JsError` with a readable message.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use vae::infer::{EvalReport, LatentIndex, Neighbour, interpolate_latents};
use vae::rng::Rng;
use vae::train::StepReport;
use vae::{Dataset, Inference, Split, Trainer, TrainerOptions, VaeConfig, VaeWeights};
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
    let outcome = if !webgpu_supported().await {
        Err(NO_ADAPTER.to_string())
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

#[derive(Serialize, Clone)]
struct BackendInfo {
    /// "webgpu" or "cpu".
    kind: &'static str,
    /// "WebGPU" or "CPU (ndarray)".
    label: &'static str,
    /// Why the CPU is used, when WebGPU was wanted.
    fallback_reason: Option<String>,
    /// Largest relative error of WebGPU against the CPU in the self-test, when it ran.
    self_test_error: Option<f32>,
    /// WebGPU is being started, checked and warmed up while the CPU answers.
    warming_up: bool,
}

impl BackendInfo {
    fn cpu(fallback_reason: Option<String>, self_test_error: Option<f32>) -> Self {
        BackendInfo { kind: "cpu", label: "CPU (ndarray)", fallback_reason, self_test_error, warming_up: false }
    }

    fn webgpu(self_test_error: f32) -> Self {
        BackendInfo {
            kind: "webgpu",
            label: "WebGPU",
            fallback_reason: None,
            self_test_error: Some(self_test_error),
            warming_up: false,
        }
    }
}

#[derive(Serialize)]
struct Switch {
    /// The page's model is now on WebGPU.
    switched: bool,
    backend: BackendInfo,
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

/// Most epochs one training run may ask for.
const MAX_EPOCHS: usize = 1000;

/// The model the page shows: its weights, on the device, and its neighbour index.
struct Current {
    weights: VaeWeights,
    inference: Inference,
    /// Grows step by step after every change of model. Shared, not copied, by the calls that
    /// read it; [`Sketchpad::index_step`] builds the next one beside it.
    index: Rc<LatentIndex>,
    /// Bumped on every change of model, so an index step that started on the old one is dropped.
    generation: u64,
}

/// A training run. The page's model ([`Current`]) is its checkpoint: it moves to the trainer's
/// weights at the end of every epoch (and on Stop), and is what divergence falls back to.
struct Training {
    trainer: Trainer,
    epochs: usize,
    /// "the end of epoch N" or "before training": what the checkpoint is, for messages.
    checkpoint: String,
}

/// What the panel sends to start training.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TrainRequest {
    hidden: usize,
    latent: usize,
    beta: f64,
    learning_rate: f64,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    /// Start from fresh random weights (also implied when the shape differs from the model's).
    from_scratch: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainStarted {
    steps_per_epoch: usize,
    /// True when the run starts from random weights (the page's model changed to them).
    from_scratch: bool,
    model: ModelInfo,
}

/// What one training step gives the page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainProgress {
    report: Option<StepReport>,
    /// Test figures, at the end of an epoch (the page's model is then the new weights).
    test: Option<EvalReport>,
    /// The run trained all its epochs and ended.
    finished: bool,
    /// Why training stopped on a non-finite loss or weights; the checkpoint is the model again.
    diverged: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    hidden: usize,
    latent: usize,
    beta: f64,
    parameters: usize,
}

impl ModelInfo {
    fn of(config: VaeConfig) -> Self {
        ModelInfo { hidden: config.hidden, latent: config.latent, beta: config.beta, parameters: config.num_params() }
    }
}

#[wasm_bindgen]
pub struct Sketchpad {
    /// Where the page's model lives; changes once, from the CPU to WebGPU, in "auto".
    device: RefCell<Device>,
    current: RefCell<Current>,
    /// Taken out for the length of a step, so no borrow is held across an await.
    training: RefCell<Option<Training>>,
    data: Dataset,
    backend: RefCell<BackendInfo>,
    /// WebGPU, started, checked and warmed up, with its self-test error: waiting for
    /// [`Sketchpad::use_webgpu`].
    webgpu_ready: RefCell<Option<(Device, f32)>>,
}

#[wasm_bindgen]
impl Sketchpad {
    /// `backend`: "auto" (the CPU at once, WebGPU when [`Sketchpad::prepare_webgpu`] has made it
    /// ready), "webgpu" (WebGPU from the start; an error if it does not work) or "cpu". `weights` is
    /// a safetensors file, `data` the data set file.
    pub async fn create(weights: Vec<u8>, data: Vec<u8>, backend: String) -> Result<Sketchpad, JsError> {
        let weights = VaeWeights::from_safetensors(&weights).map_err(js_err)?;
        let data = Dataset::from_bin(&data).map_err(js_err)?;
        let (device, backend) = match backend.as_str() {
            "cpu" => (cpu_device(), BackendInfo::cpu(None, None)),
            "webgpu" => {
                let device = webgpu_device().await.map_err(js_err)?;
                let err = checked(&device, &weights, &data).await.map_err(|(reason, _)| js_err(reason))?;
                (device, BackendInfo::webgpu(err))
            }
            "auto" if webgpu_supported().await => {
                (cpu_device(), BackendInfo { warming_up: true, ..BackendInfo::cpu(None, None) })
            }
            "auto" => (cpu_device(), BackendInfo::cpu(Some(NO_ADAPTER.into()), None)),
            other => return Err(js_err(format!("unknown backend {other:?}: expected auto, webgpu or cpu"))),
        };
        let current = RefCell::new(Current::new(weights, &device, 0).map_err(js_err)?);
        Ok(Sketchpad {
            device: RefCell::new(device),
            current,
            training: RefCell::new(None),
            data,
            backend: RefCell::new(backend),
            webgpu_ready: RefCell::new(None),
        })
    }

    /// Starts WebGPU, checks it against the CPU and runs each of the page's operations on it once
    /// (their kernels compile on first use: seconds each on a software adapter), while the page
    /// goes on answering on the CPU. Then [`Sketchpad::use_webgpu`] moves the page to it. On
    /// failure the CPU stays, with the reason. Returns the backend information.
    #[wasm_bindgen(js_name = prepareWebgpu)]
    pub async fn prepare_webgpu(&self) -> Result<String, JsError> {
        if !self.backend.borrow().warming_up {
            return self.backend_info();
        }
        let weights = self.current.borrow().weights.clone();
        let outcome = match webgpu_device().await {
            Err(reason) => Err((reason, None)),
            Ok(device) => match checked(&device, &weights, &self.data).await {
                Ok(err) => match warm_up(&device, &weights, &self.data).await {
                    Ok(()) => Ok((device, err)),
                    Err(e) => Err((format!("WebGPU failed while warming up: {e}"), Some(err))),
                },
                Err(failure) => Err(failure),
            },
        };
        match outcome {
            Ok(ready) => *self.webgpu_ready.borrow_mut() = Some(ready),
            Err((reason, err)) => *self.backend.borrow_mut() = BackendInfo::cpu(Some(reason), err),
        }
        self.backend_info()
    }

    /// Moves the page's model (and its neighbour index) to WebGPU once it is ready; not during a
    /// training run (its optimiser state lives on the CPU), so the page asks again after it.
    #[wasm_bindgen(js_name = useWebgpu)]
    pub fn use_webgpu(&self) -> Result<String, JsError> {
        let ready = self.training.borrow().is_none().then(|| self.webgpu_ready.borrow_mut().take()).flatten();
        let switched = ready.is_some();
        if let Some((device, err)) = ready {
            let next = {
                let c = self.current.borrow();
                Current {
                    inference: Inference::new(&c.weights, &device).map_err(js_err)?,
                    weights: c.weights.clone(),
                    index: Rc::new(c.index.on_device(&device)),
                    generation: c.generation + 1,
                }
            };
            *self.current.borrow_mut() = next;
            *self.device.borrow_mut() = device;
            *self.backend.borrow_mut() = BackendInfo::webgpu(err);
        }
        to_js(&Switch { switched, backend: self.backend.borrow().clone() })
    }

    /// Makes a safetensors file the page's model, or says what is wrong with it and keeps the
    /// current one. Ends any training run.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        let weights = VaeWeights::from_safetensors(&bytes).map_err(js_err)?;
        let info = ModelInfo::of(weights.config);
        self.set_model(weights)?;
        self.training.borrow_mut().take();
        to_js(&info)
    }

    /// The page's model as a safetensors file (PyTorch names, configuration in the metadata).
    #[wasm_bindgen(js_name = exportModel)]
    pub fn export_model(&self) -> Result<Vec<u8>, JsError> {
        self.current.borrow().weights.to_safetensors().map_err(js_err)
    }

    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<String, JsError> {
        to_js(&ModelInfo::of(self.current.borrow().weights.config))
    }

    /// Builds the neighbour index one step further: first the test set's losses (for the score),
    /// then [`INDEX_STEP`] digits at a time. The page answers sketches between steps.
    #[wasm_bindgen(js_name = indexStep)]
    pub async fn index_step(&self) -> Result<String, JsError> {
        let (inference, mut index, generation) = {
            let c = self.current.borrow();
            (c.inference.clone(), (*c.index).clone(), c.generation)
        };
        let all = self.data.indices(Split::All);
        if index.test_losses.is_empty() {
            index.score_test_set(&inference, &self.data).await.map_err(js_err)?;
        } else {
            let next = &all[index.len()..(index.len() + INDEX_STEP).min(all.len())];
            index.add(&inference, &self.data, next).await.map_err(js_err)?;
        }
        let mut current = self.current.borrow_mut();
        if current.generation == generation {
            current.index = Rc::new(index);
        }
        let index = &current.index;
        let scored = !index.test_losses.is_empty();
        to_js(&IndexProgress {
            indexed: index.len(),
            total: all.len(),
            scored,
            done: index.len() == all.len() && scored,
        })
    }

    #[wasm_bindgen(js_name = backendInfo)]
    pub fn backend_info(&self) -> Result<String, JsError> {
        to_js(&*self.backend.borrow())
    }

    pub fn latent(&self) -> usize {
        self.current.borrow().inference.latent()
    }

    /// Everything the page shows for a sketch: preprocessed input, reconstruction, neighbours,
    /// score and map position. `grey` is `width × height`, ink = 1.
    pub async fn analyse(&self, grey: Vec<f32>, width: usize, height: usize, k: usize) -> Result<String, JsError> {
        let input = vae::sketch::preprocess(&grey, width, height).map_err(js_err)?;
        let (inference, index) = self.inference_and_index();
        let encoded = inference.encode(&input).await.map_err(js_err)?;
        let reconstruction = inference.decode(&encoded.mu).await.map_err(js_err)?;
        let parts = inference.losses(&input, None).await.map_err(js_err)?[0];
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
        let (inference, _) = self.inference_and_index();
        inference.sample(n, temperature, &mut Rng::new(seed)).await.map_err(js_err)
    }

    /// `n` digits from the weights being trained (the page's model when no run is on).
    #[wasm_bindgen(js_name = trainingSample)]
    pub async fn training_sample(&self, n: usize, seed: u64) -> Result<Vec<f32>, JsError> {
        let live = self.training.borrow().as_ref().map(|t| t.trainer.inference());
        let inference = live.unwrap_or_else(|| self.inference_and_index().0);
        inference.sample(n, 1.0, &mut Rng::new(seed)).await.map_err(js_err)
    }

    /// Decodes latents (`n × latent`).
    pub async fn decode(&self, z: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let (inference, _) = self.inference_and_index();
        inference.decode(&z).await.map_err(js_err)
    }

    /// Decodes the latent under a point of the latent map.
    #[wasm_bindgen(js_name = decodeMapPoint)]
    pub async fn decode_map_point(&self, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        let (inference, index) = self.inference_and_index();
        inference.decode(&index.map.unproject([x, y])).await.map_err(js_err)
    }

    /// `steps` decodes from latent `a` to latent `b`.
    pub async fn interpolate(&self, a: Vec<f32>, b: Vec<f32>, steps: usize) -> Result<Vec<f32>, JsError> {
        let z = interpolate_latents(&a, &b, steps).map_err(js_err)?;
        let (inference, _) = self.inference_and_index();
        inference.decode(&z).await.map_err(js_err)
    }

    /// `n` decodes of draws from q(z|x) of one 28×28 image.
    pub async fn variations(&self, image: Vec<f32>, n: usize, seed: u64) -> Result<Vec<f32>, JsError> {
        let (inference, _) = self.inference_and_index();
        inference.variations(&image, n, &mut Rng::new(seed)).await.map_err(js_err)
    }

    /// μ of a data-set digit.
    #[wasm_bindgen(js_name = datasetLatent)]
    pub fn dataset_latent(&self, index: usize) -> Result<Vec<f32>, JsError> {
        let (_, built) = self.inference_and_index();
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
        let (_, index) = self.inference_and_index();
        let l = index.latent;
        let points = index.mu.chunks(l).flat_map(|z| index.map.project(z)).collect();
        to_js(&MapPoints { points, labels: index.labels.clone(), indices: index.indices.clone(), latent: l })
    }

    /// Starts a training run (JSON [`TrainRequest`]). It continues from the page's model unless
    /// asked for random weights or given another shape; β may change either way.
    #[wasm_bindgen(js_name = trainStart)]
    pub fn train_start(&self, request: String) -> Result<String, JsError> {
        let r: TrainRequest =
            serde_json::from_str(&request).map_err(|e| js_err(format!("invalid training request: {e}")))?;
        let config = VaeConfig { hidden: r.hidden, latent: r.latent, beta: r.beta };
        config.validate().map_err(js_err)?;
        let options = TrainerOptions { learning_rate: r.learning_rate, batch_size: r.batch_size, seed: r.seed };
        options.validate().map_err(js_err)?;
        if !(1..=MAX_EPOCHS).contains(&r.epochs) {
            return Err(js_err(format!("epochs {} is outside 1..={MAX_EPOCHS}", r.epochs)));
        }
        let current = self.current.borrow().weights.clone();
        let from_scratch =
            r.from_scratch || (current.config.hidden, current.config.latent) != (config.hidden, config.latent);
        let weights = if from_scratch {
            VaeWeights::init(config, r.seed).map_err(js_err)?
        } else {
            VaeWeights { config, ..current }
        };
        let device = self.device.borrow().clone();
        let trainer = Trainer::new(&weights, self.data.indices(Split::Train), options, &device).map_err(js_err)?;
        let started =
            TrainStarted { steps_per_epoch: trainer.steps_per_epoch(), from_scratch, model: ModelInfo::of(config) };
        let checkpoint = if from_scratch { "the random start" } else { "before training" };
        self.set_model(weights)?;
        *self.training.borrow_mut() = Some(Training { trainer, epochs: r.epochs, checkpoint: checkpoint.into() });
        to_js(&started)
    }

    /// One Adam step of the run. At the end of an epoch the test set is evaluated and the page's
    /// model becomes the new weights; a non-finite loss or weight ends the run, and the
    /// checkpoint (the model at the last epoch's end) stays the page's model.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&self) -> Result<String, JsError> {
        let mut run = self.training.borrow_mut().take().ok_or_else(|| js_err("no training run is going on"))?;
        let diverged = |e: vae::Error, run: &Training| {
            to_js(&TrainProgress {
                report: None,
                test: None,
                finished: true,
                diverged: Some(format!("{e}. Training stopped; the model from {} is back.", run.checkpoint)),
            })
        };
        let report = match run.trainer.step(&self.data).await {
            Ok(report) => report,
            Err(e @ vae::Error::Diverged { .. }) => return diverged(e, &run),
            Err(e) => return Err(js_err(e)),
        };
        let mut progress = TrainProgress { report: Some(report), test: None, finished: false, diverged: None };
        if report.epoch_done {
            let weights = match run.trainer.weights().await {
                Ok(weights) => weights,
                Err(e @ vae::Error::Diverged { .. }) => return diverged(e, &run),
                Err(e) => return Err(js_err(e)),
            };
            let test = run.trainer.evaluate(&self.data, &self.data.indices(Split::Test)).await.map_err(js_err)?;
            self.set_model(weights)?;
            run.checkpoint = format!("the end of epoch {}", run.trainer.epoch());
            progress.test = Some(test);
            progress.finished = run.trainer.epoch() >= run.epochs;
        }
        if !progress.finished {
            *self.training.borrow_mut() = Some(run);
        }
        to_js(&progress)
    }

    /// Ends the run; the page's model becomes its latest weights (or stays the checkpoint, with
    /// the reason, if they are not finite).
    #[wasm_bindgen(js_name = trainStop)]
    pub async fn train_stop(&self) -> Result<String, JsError> {
        let Some(mut run) = self.training.borrow_mut().take() else {
            return to_js(&TrainProgress { report: None, test: None, finished: true, diverged: None });
        };
        let diverged = match run.trainer.weights().await {
            Ok(weights) => {
                self.set_model(weights)?;
                None
            }
            Err(e) => Some(format!("{e}. The model from {} is back.", run.checkpoint)),
        };
        to_js(&TrainProgress { report: None, test: None, finished: true, diverged })
    }
}

impl Current {
    fn new(weights: VaeWeights, device: &Device, generation: u64) -> vae::Result<Self> {
        let inference = Inference::new(&weights, device)?;
        let index = Rc::new(LatentIndex::new(inference.latent()));
        Ok(Current { weights, inference, index, generation })
    }
}

impl Sketchpad {
    fn inference_and_index(&self) -> (Inference, Rc<LatentIndex>) {
        let c = self.current.borrow();
        (c.inference.clone(), c.index.clone())
    }

    /// Makes `weights` the page's model, with an empty neighbour index for the page to rebuild.
    fn set_model(&self, weights: VaeWeights) -> Result<(), JsError> {
        let generation = self.current.borrow().generation + 1;
        let next = Current::new(weights, &self.device.borrow(), generation).map_err(js_err)?;
        *self.current.borrow_mut() = next;
        Ok(())
    }
}

const NO_ADAPTER: &str = "this browser has no WebGPU adapter";

async fn webgpu_supported() -> bool {
    burn::tensor::wgpu::wgpu::util::is_browser_webgpu_supported().await
}

/// The self-test's largest relative error when WebGPU agrees with the CPU, else why not (with the
/// error when there was one).
async fn checked(device: &Device, weights: &VaeWeights, data: &Dataset) -> Result<f32, (String, Option<f32>)> {
    match self_test(device, weights, data).await {
        Ok(err) if err <= SELF_TEST_TOLERANCE => Ok(err),
        Ok(err) => Err((format!("WebGPU gave wrong results on this adapter (relative error {err:.2e})"), Some(err))),
        Err(e) => Err((format!("WebGPU failed its self-test: {e}"), None)),
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
    Ok(vae::check::max_relative_error(&outputs[1], &outputs[0]))
}

/// Runs each operation the page uses once, at the shapes it uses them, so that their kernels are
/// compiled before the page moves to `device`.
async fn warm_up(device: &Device, weights: &VaeWeights, data: &Dataset) -> vae::Result<()> {
    let inference = Inference::new(weights, device)?;
    let image = data.image(0);
    let mu = inference.encode(&image).await?.mu;
    inference.decode(&mu).await?;
    inference.losses(&image, None).await?;
    inference.sample(64, 1.0, &mut Rng::new(0)).await?;
    inference.variations(&image, 8, &mut Rng::new(0)).await?;
    // The kernels do not depend on the number of rows: a small index compiles what a full one uses.
    let mut index = LatentIndex::new(inference.latent());
    index.add(&inference, data, &(0..64.min(data.len())).collect::<Vec<_>>()).await?;
    index.nearest(&mu, 8).await?;
    Ok(())
}

/// The fixed cross-backend problem of [`vae::check`] on the CPU and on WebGPU: the largest relative
/// error of WebGPU's forward pass, loss, gradients, Adam steps, samples and neighbour distances.
#[wasm_bindgen(js_name = compareBackends)]
pub async fn compare_backends(data: Vec<u8>) -> Result<String, JsError> {
    let data = Dataset::from_bin(&data).map_err(js_err)?;
    let webgpu = webgpu_device().await.map_err(js_err)?;
    to_js(&vae::check::compare(&cpu_device(), &webgpu, &data).await.map_err(js_err)?)
}
