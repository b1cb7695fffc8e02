//! The page's face on the core: one [`Session`] per worker, wrapping [`vae::Session`]. Translation
//! only — bytes and JSON in, JSON text and `Float32Array`s out, errors as `JsError` with the core's
//! message; the backend's lifecycle is in [`backend`]; every rule of the page is the core's.
//!
//! Structured results cross as JSON text that the worker parses: serde-wasm-bindgen builds a JS
//! value one element at a time, which took 2.1 s for one analysis (8 000 floats) and about 10 s for
//! the map's 30 000 numbers in Chromium here; `JSON.parse` takes milliseconds.

mod backend;
mod yours;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use backend::Backend;
use serde::Serialize;
use vae::device::placement::Devices;
use vae::model::inference::Walk;
use vae::session::{StepReads, TrainRequest, TrainingStep};
use vae::{Dataset, LIMITS, ModelKind, VaeWeights};
use wasm_bindgen::prelude::*;

#[cfg(target_family = "wasm")]
unsafe extern "C" {
    /// wasm-ld's runner of the module's constructors: the `inventory` registrations of pliron
    /// (CubeCL's IR), a few thousand of them.
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
pub fn start() {
    // Once, here, and never again: while no export calls it, wasm-ld takes the module for a
    // "command" and runs every constructor at the top of every export — each call from JS,
    // wasm-bindgen's own handle bookkeeping included, so each WebGPU call (a handle or more).
    // Profiled in Chromium before this: 80 % of the worker's time during WebGPU training, about
    // 5 ms a kernel launch. The constructors only register (idempotently), so once is enough.
    #[cfg(target_family = "wasm")]
    // SAFETY: the linker's synthesized function; it runs before any other call into the module
    // (wasm-bindgen calls the start function first) and `inventory`'s constructors are idempotent.
    unsafe {
        __wasm_call_ctors()
    };
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(js_err)
}

/// The bounds the page's form, import and labels use: the core's [`LIMITS`] and the backends'
/// names. JSON `{latent: {min, max}, …, maxModelBytes, backendLabels: {cpu, webgpu, webgpu-training}}`.
#[wasm_bindgen]
pub fn limits() -> Result<String, JsError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PageLimits {
        #[serde(flatten)]
        limits: vae::limits::Limits,
        backend_labels: BackendLabels,
    }
    #[derive(Serialize)]
    struct BackendLabels {
        cpu: &'static str,
        webgpu: &'static str,
        #[serde(rename = "webgpu-training")]
        webgpu_training: &'static str,
    }
    let labels = BackendLabels {
        cpu: backend::CPU_LABEL,
        webgpu: backend::WEBGPU_LABEL,
        webgpu_training: backend::WEBGPU_TRAINING_LABEL,
    };
    to_js(&PageLimits { limits: LIMITS, backend_labels: labels })
}

#[wasm_bindgen]
pub struct Session {
    /// Taken out for the length of each call, so no borrow is held across an await: a call that
    /// arrives while another runs is refused with a message instead of panicking.
    core: RefCell<Option<vae::Session>>,
    /// Shared with [`Session::prepare_webgpu`]'s background work.
    backend: Rc<RefCell<Backend>>,
    /// A training step out of the core session, from [`Session::train_step_run`] to
    /// [`Session::train_step_end`].
    step: RefCell<Option<TrainingStep>>,
    /// The record [`vae::Session::held_record`] gave at the model's last change or record: a lost
    /// GPU's handover when a call that waits on it holds the session.
    held: RefCell<Option<Vec<u8>>>,
}

/// An answer in two parts: its figures as JSON, its images as one `Float32Array`, 784 grey levels
/// each (a sketch's analysis: the 28×28 input, the reconstruction, then the neighbours in order; a
/// sketch's reading: its redraws as 0 … 9). As JSON
/// text, those 10 × 784 floats took longer to write and parse than the analysis itself.
#[wasm_bindgen]
pub struct SketchAnswer {
    json: String,
    images: Vec<f32>,
}

#[wasm_bindgen]
impl SketchAnswer {
    #[wasm_bindgen(getter)]
    pub fn json(&self) -> String {
        self.json.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn images(&self) -> Vec<f32> {
        self.images.clone()
    }
}

#[derive(Serialize)]
struct Switch {
    /// The jobs are now in their places.
    switched: bool,
    backend: backend::BackendInfo,
}

#[wasm_bindgen]
impl Session {
    /// `weights`: a safetensors file; `data`: the data set file (the page's: its test digits, the
    /// training digits coming later by [`Session::add_training_data`]), or none yet (then
    /// [`Session::set_data`] gives it later; "webgpu" and "webgpu-training" need it now);
    /// `backend`: "auto" (the CPU at once; each job on its faster backend once
    /// [`Session::prepare_webgpu`] has timed them), "webgpu" (every job), "webgpu-training"
    /// (training alone) or "cpu".
    pub async fn create(weights: Vec<u8>, data: Option<Vec<u8>>, backend: String) -> Result<Session, JsError> {
        let weights = VaeWeights::from_safetensors(&weights).map_err(js_err)?;
        let data = data.map(|bytes| Dataset::from_bin(&bytes).map(Arc::new)).transpose().map_err(js_err)?;
        let (devices, backend) = backend::choose(&backend, &weights, data.as_deref()).await.map_err(js_err)?;
        let mut core = vae::Session::without_data(weights, devices).map_err(js_err)?;
        if let Some(data) = data {
            core.set_data(data).map_err(js_err)?;
        }
        let session = Session {
            core: RefCell::new(Some(core)),
            backend: Rc::new(RefCell::new(backend)),
            step: RefCell::new(None),
            held: RefCell::new(None),
        };
        session.keep_held();
        Ok(session)
    }

    /// Starts WebGPU, checks it against the CPU, runs each of the page's operations on it once
    /// and times each job on both, with the model as it is now, while the page goes on answering
    /// on the CPU (a call answered while a WebGPU timing waits on the GPU counts against WebGPU:
    /// the choice errs towards the CPU). Resolves to the
    /// backend information (never rejects for WebGPU's sake: a failure is the CPU with its reason).
    /// Then [`Session::place_jobs`] puts each job on its backend.
    #[wasm_bindgen(js_name = prepareWebgpu)]
    pub fn prepare_webgpu(&self) -> Result<js_sys::Promise, JsError> {
        let backend = self.backend.clone();
        if !matches!(*backend.borrow(), Backend::WarmingUp) {
            let info = to_js(&backend.borrow().info())?;
            return Ok(js_sys::Promise::resolve(&JsValue::from(info)));
        }
        // Taken now, while no other call runs: the work below goes on beside later calls.
        let (weights, data) = self.now(|s| {
            let data = s.data().cloned().ok_or_else(|| {
                vae::Error::Input("WebGPU's check and timings wait for the data set: give it first".into())
            })?;
            Ok((s.weights().clone(), data))
        })?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let next = backend::prepare(&weights, &data).await;
            *backend.borrow_mut() = next;
            let info = to_js(&backend.borrow().info()).map_err(JsValue::from)?;
            Ok(info.into())
        }))
    }

    /// Puts each job where the warm-up's timings chose once WebGPU is ready; not during a
    /// training run (its optimiser state lives on its device), so the page asks again after it.
    #[wasm_bindgen(js_name = placeJobs)]
    pub fn place_jobs(&self) -> Result<String, JsError> {
        let ready = match &*self.backend.borrow() {
            Backend::Ready { device, self_test_error, jobs } => Some((device.clone(), *self_test_error, jobs.clone())),
            _ => None,
        };
        let mut switched = false;
        if let Some((device, self_test_error, jobs)) = ready {
            let devices = Devices::placed(&jobs, &backend::cpu_device(), &device);
            switched = self.now(|s| s.place(devices))?;
            if switched {
                *self.backend.borrow_mut() = Backend::Placed { self_test_error, jobs };
            }
        }
        to_js(&Switch { switched, backend: self.backend.borrow().info() })
    }

    /// The data set file arrives (once): the neighbour index can grow. JSON: a run restored
    /// before the data set, now going on paused (`run`), or why it cannot (`runError`).
    #[wasm_bindgen(js_name = setData)]
    pub fn set_data(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        let data = Arc::new(Dataset::from_bin(&bytes).map_err(js_err)?);
        to_js(&self.now(|s| s.set_data(data))?)
    }

    /// Whether the data set has arrived.
    #[wasm_bindgen(js_name = hasData)]
    pub fn has_data(&self) -> Result<bool, JsError> {
        self.now(|s| Ok(s.data().is_some()))
    }

    /// The data set's training digits (a data file of them alone) arrive after its test digits
    /// (given by [`Session::create`] or [`Session::set_data`]): the neighbour index grows on over
    /// them, and training can start. JSON as [`Session::set_data`]'s.
    #[wasm_bindgen(js_name = addTrainingData)]
    pub fn add_training_data(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        let digits = Dataset::from_bin(&bytes).map_err(js_err)?;
        to_js(&self.now(|s| s.add_training_data(&digits))?)
    }

    /// Whether the data set's training digits have arrived (training waits for them).
    #[wasm_bindgen(js_name = hasTrainingData)]
    pub fn has_training_data(&self) -> Result<bool, JsError> {
        self.now(|s| Ok(s.has_training_data()))
    }

    #[wasm_bindgen(js_name = backendInfo)]
    pub fn backend_info(&self) -> Result<String, JsError> {
        to_js(&self.backend.borrow().info())
    }

    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| Ok(s.model_info()))?)
    }

    /// Makes a safetensors file the page's model, or says what is wrong with it and keeps the
    /// current one. Ends any training run.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        self.model_file(&bytes, vae::Session::load_model)
    }

    /// The page's model as a safetensors file (PyTorch names, configuration in the metadata).
    #[wasm_bindgen(js_name = exportModel)]
    pub fn export_model(&self) -> Result<Vec<u8>, JsError> {
        self.now(|s| s.weights().to_safetensors())
    }

    /// A model file the person imports: the seed's kind becomes the page's model, a conditional
    /// one the reading model (see [`vae::Session::import_model`]); or what is wrong with it, and
    /// nothing changes. JSON: its shape, with its `kind`.
    #[wasm_bindgen(js_name = importModel)]
    pub fn import_model(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        self.model_file(&bytes, vae::Session::import_model)
    }

    /// The conditional model (the reading model) as a safetensors file, as `vae read` reads it.
    #[wasm_bindgen(js_name = exportConditional)]
    pub fn export_conditional(&self) -> Result<Vec<u8>, JsError> {
        self.now(|s| {
            let weights = s
                .conditional_weights()
                .ok_or_else(|| vae::Error::Input("the page has no conditional model (yet) to export".into()))?;
            weights.to_safetensors()
        })
    }

    /// The conditional model's shape (JSON), or `undefined` while the page has none.
    #[wasm_bindgen(js_name = conditionalInfo)]
    pub fn conditional_info(&self) -> Result<Option<String>, JsError> {
        self.now(|s| Ok(s.conditional_info()))?.map(|info| to_js(&info)).transpose()
    }

    /// Whether the conditional model is the session's own (trained, imported, restored), which its
    /// record keeps, rather than the shipped one.
    #[wasm_bindgen(js_name = hasOwnConditional)]
    pub fn has_own_conditional(&self) -> Result<bool, JsError> {
        self.now(|s| Ok(s.has_own_conditional()))
    }

    /// Builds the neighbour index one step further (see [`vae::Session::index_step`]).
    #[wasm_bindgen(js_name = indexStep)]
    pub async fn index_step(&self) -> Result<String, JsError> {
        to_js(&self.run(async |s| s.index_step().await).await?)
    }

    /// The data set on the latent map, with the map's label agreement.
    #[wasm_bindgen(js_name = mapPoints)]
    pub fn map_points(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| Ok(s.map_points()))?)
    }

    /// Where the current model's t-SNE map is: JSON `{state, fraction, generation}`.
    #[wasm_bindgen(js_name = tsneStatus)]
    pub fn tsne_status(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| Ok(s.tsne_status()))?)
    }

    /// Begins the current model's t-SNE map (see [`vae::Session::tsne_begin`]).
    #[wasm_bindgen(js_name = tsneBegin)]
    pub fn tsne_begin(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| s.tsne_begin())?)
    }

    /// One step of the t-SNE map (see [`vae::Session::tsne_step`]).
    #[wasm_bindgen(js_name = tsneStep)]
    pub fn tsne_step(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| s.tsne_step())?)
    }

    /// A t-SNE map kept by the page for this model (see [`vae::Session::tsne_restore`]).
    #[wasm_bindgen(js_name = tsneRestore)]
    pub fn tsne_restore(&self, positions: Vec<f32>) -> Result<String, JsError> {
        to_js(&self.now(|s| s.tsne_restore(&positions))?)
    }

    /// The page's model's digest, 64 hex digits (see [`vae::VaeWeights::digest`]): the page keeps
    /// its t-SNE maps under it.
    #[wasm_bindgen(js_name = modelDigest)]
    pub fn model_digest(&self) -> Result<String, JsError> {
        self.now(|s| Ok(s.weights().digest_hex()))
    }

    /// Whether a t-SNE map file is the page's model's (see [`vae::Session::tsne_file_fits`]).
    #[wasm_bindgen(js_name = tsneFileFits)]
    pub fn tsne_file_fits(&self, file: Vec<u8>) -> Result<bool, JsError> {
        self.now(|s| s.tsne_file_fits(&file))
    }

    /// The page's model's t-SNE map from a map file (see [`vae::Session::tsne_restore_file`]).
    #[wasm_bindgen(js_name = tsneRestoreFile)]
    pub fn tsne_restore_file(&self, file: Vec<u8>) -> Result<String, JsError> {
        to_js(&self.now(|s| s.tsne_restore_file(&file))?)
    }

    /// The t-SNE map shown, as [`Session::map_points`] gives the PCA map, or `undefined` until made.
    #[wasm_bindgen(js_name = tsneMap)]
    pub fn tsne_map(&self) -> Result<Option<String>, JsError> {
        self.now(|s| Ok(s.tsne_map()))?.map(|map| to_js(&map)).transpose()
    }

    /// Everything the page shows for a sketch (`grey` is `width × height`, ink = 1), or
    /// `undefined` for an empty one.
    pub async fn analyse(
        &self,
        grey: Vec<f32>,
        width: usize,
        height: usize,
        k: usize,
    ) -> Result<Option<SketchAnswer>, JsError> {
        let Some(answer) = self.run(async |s| s.analyse(&grey, width, height, k).await).await? else {
            return Ok(None);
        };
        let images = [&answer.input[..], &answer.reconstruction, &answer.neighbour_images].concat();
        Ok(Some(SketchAnswer { json: to_js(&answer)?, images }))
    }

    /// `n` digits from N(0, T² I), `n × 784` grey levels.
    pub async fn sample(&self, n: usize, temperature: f64, seed: u64) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.sample(n, temperature, seed).await).await
    }

    /// Makes a safetensors file of a conditional model the page's second model (the reading, the
    /// redraws, the chosen-digit samples), or says why it cannot be. JSON: its shape.
    #[wasm_bindgen(js_name = setConditional)]
    pub fn set_conditional(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        let weights = VaeWeights::from_safetensors(&bytes).map_err(js_err)?;
        to_js(&self.now(|s| s.set_conditional(weights))?)
    }

    /// The conditional model's reading of a sketch and its ten redraws: JSON `{digit, confidence}`
    /// and the redraws as images (10 × 784, digit by digit); `undefined` for an empty sketch.
    #[wasm_bindgen(js_name = readSketch)]
    pub async fn read_sketch(
        &self,
        grey: Vec<f32>,
        width: usize,
        height: usize,
    ) -> Result<Option<SketchAnswer>, JsError> {
        let Some(reading) = self.run(async |s| s.read_sketch(&grey, width, height).await).await? else {
            return Ok(None);
        };
        Ok(Some(SketchAnswer { json: to_js(&reading)?, images: reading.redraws }))
    }

    /// `n` samples of `digit` from the conditional model, `n × 784` grey levels.
    #[wasm_bindgen(js_name = sampleDigit)]
    pub async fn sample_digit(&self, n: usize, temperature: f64, seed: u64, digit: u8) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.sample_digit(n, temperature, seed, digit).await).await
    }

    /// The `n × latent` codes [`Session::sample`] decodes for the same arguments.
    #[wasm_bindgen(js_name = sampleLatents)]
    pub fn sample_latents(&self, n: usize, temperature: f64, seed: u64) -> Result<Vec<f32>, JsError> {
        self.now(|s| s.sample_latents(n, temperature, seed))
    }

    /// `n` digits from the weights being trained (when no run is on, the model of `kind`: "vae",
    /// the page's, or "cvae", the conditional one).
    #[wasm_bindgen(js_name = trainingSample)]
    pub async fn training_sample(&self, n: usize, seed: u64, kind: String) -> Result<Vec<f32>, JsError> {
        let kind = ModelKind::parse(&kind).map_err(js_err)?;
        self.run(async |s| s.training_sample(n, seed, kind).await).await
    }

    /// μ of one 28 × 28 image under the page's model.
    #[wasm_bindgen(js_name = encodeImage)]
    pub async fn encode_image(&self, image: Vec<f32>) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.encode_image(&image).await).await
    }

    /// Decodes latents (`n × latent`).
    pub async fn decode(&self, z: Vec<f32>) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.decode(&z).await).await
    }

    /// Decodes the latent under a point of the latent map.
    #[wasm_bindgen(js_name = decodeMapPoint)]
    pub async fn decode_map_point(&self, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.decode_map_point(x, y).await).await
    }

    /// The latent under a point of the latent map.
    #[wasm_bindgen(js_name = mapPointLatent)]
    pub fn map_point_latent(&self, x: f32, y: f32) -> Result<Vec<f32>, JsError> {
        self.now(|s| Ok(s.map_point_latent(x, y)))
    }

    /// `steps` decodes from latent `a` to latent `b`; `walk`: "linear" or "spherical".
    pub async fn interpolate(&self, a: Vec<f32>, b: Vec<f32>, steps: usize, walk: String) -> Result<Vec<f32>, JsError> {
        let walk: Walk = serde_json::from_value(serde_json::Value::String(walk))
            .map_err(|e| js_err(format!("invalid walk: {e}")))?;
        self.run(async |s| s.interpolate(&a, &b, steps, walk).await).await
    }

    /// `steps` decodes of `z` with latent dimension `dim` (from 0) moved from −3 to +3.
    pub async fn traverse(&self, z: Vec<f32>, dim: usize, steps: usize) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.traverse(&z, dim, steps).await).await
    }

    /// A data-set digit with its μ: JSON `{index, label, image, mu}`.
    #[wasm_bindgen(js_name = dataDigit)]
    pub async fn data_digit(&self, index: usize) -> Result<String, JsError> {
        to_js(&self.run(async |s| s.digit(index).await).await?)
    }

    /// `n` decodes of draws from q(z|x) of one 28×28 image.
    pub async fn variations(&self, image: Vec<f32>, n: usize, seed: u64) -> Result<Vec<f32>, JsError> {
        self.run(async |s| s.variations(&image, n, seed).await).await
    }

    /// A random test digit: JSON `{index, label, image}`.
    #[wasm_bindgen(js_name = randomTestDigit)]
    pub fn random_test_digit(&self, seed: u64) -> Result<String, JsError> {
        to_js(&self.now(|s| s.random_test_digit(seed))?)
    }

    /// Starts a training run (JSON [`TrainRequest`]).
    #[wasm_bindgen(js_name = trainStart)]
    pub fn train_start(&self, request: String) -> Result<String, JsError> {
        let request: TrainRequest =
            serde_json::from_str(&request).map_err(|e| js_err(format!("invalid training request: {e}")))?;
        let started = self.now(|s| s.train_start(request))?;
        self.keep_held();
        to_js(&started)
    }

    /// Takes one Adam step of the run out of the core session and runs it on the training device
    /// (see [`vae::Session::begin_step`]). The session answers other calls meanwhile (with the
    /// page's model); the worker lets only those through that change nothing, and then applies
    /// the step with [`Session::train_step_end`].
    /// The step also reads the run for the next [`Session::record`] if `snapshot`, and draws
    /// `samples` digits (seeded with `seed`) for [`Session::take_step_samples`] unless 0.
    #[wasm_bindgen(js_name = trainStepRun)]
    pub async fn train_step_run(&self, snapshot: bool, samples: usize, seed: u64) -> Result<(), JsError> {
        if self.step.borrow().is_some() {
            return Err(js_err("a training step is waiting to be ended"));
        }
        let reads = StepReads { snapshot, samples: (samples > 0).then_some((samples, seed)) };
        let mut step = self.now(|s| s.begin_step(reads))?;
        step.advance().await;
        *self.step.borrow_mut() = Some(step);
        Ok(())
    }

    /// Applies the step run by [`Session::train_step_run`] (see [`vae::Session::end_step`]).
    #[wasm_bindgen(js_name = trainStepEnd)]
    pub fn train_step_end(&self) -> Result<String, JsError> {
        let step = self.step.borrow_mut().take().ok_or_else(|| js_err("no training step has run"))?;
        let progress = self.now(|s| s.end_step(step))?;
        if progress.test_record.is_some() || progress.finished {
            self.keep_held();
        }
        to_js(&progress)
    }

    /// The digits drawn by the last step, if it was asked to (see
    /// [`vae::Session::take_step_samples`]), or `undefined`.
    #[wasm_bindgen(js_name = takeStepSamples)]
    pub fn take_step_samples(&self) -> Result<Option<Vec<f32>>, JsError> {
        self.now(|s| s.take_step_samples())
    }

    /// The page's model's record: model, training history and run, as one blob for IndexedDB (see
    /// [`vae::Session::record`]).
    pub async fn record(&self) -> Result<Vec<u8>, JsError> {
        let record = self.run(async |s| s.record().await).await?;
        self.keep_held();
        Ok(record)
    }

    /// The record from what the session holds, reading no device, for a lost GPU's handover (see
    /// [`vae::Session::held_record`]); while a call that waits on the GPU holds the session, the
    /// one kept at the model's last change or record.
    #[wasm_bindgen(js_name = heldRecord)]
    pub fn held_record(&self) -> Result<Vec<u8>, JsError> {
        if let Ok(cell) = self.core.try_borrow()
            && let Some(core) = cell.as_ref()
        {
            return core.held_record().map_err(js_err);
        }
        self.held.borrow().clone().ok_or_else(busy)
    }

    /// Makes a record the session's (see [`vae::Session::restore`]): JSON `Restored`.
    pub fn restore(&self, bytes: Vec<u8>) -> Result<String, JsError> {
        let restored = self.now(|s| s.restore(&bytes))?;
        self.keep_held();
        to_js(&restored)
    }

    /// The model's training history (see [`vae::Session::history`]): JSON `History`.
    pub fn history(&self) -> Result<String, JsError> {
        to_js(self.core.borrow().as_ref().ok_or_else(busy)?.history())
    }

    /// The training history of the model of `kind` ("vae": the page's; "cvae": the conditional
    /// one, empty while the page has none): JSON `History`.
    #[wasm_bindgen(js_name = historyOf)]
    pub fn history_of(&self, kind: String) -> Result<String, JsError> {
        let kind = ModelKind::parse(&kind).map_err(js_err)?;
        let core = self.core.borrow();
        to_js(&core.as_ref().ok_or_else(busy)?.history_of(kind).cloned().unwrap_or_default())
    }

    /// Ends the run, keeping the weights reached (see [`vae::Session::train_stop`]).
    #[wasm_bindgen(js_name = trainStop)]
    pub async fn train_stop(&self) -> Result<String, JsError> {
        let progress = self.run(async |s| s.train_stop().await).await?;
        self.keep_held();
        to_js(&progress)
    }
}

impl Session {
    /// The model file `bytes`, read, given to `op` (which makes it a model of the session's); the
    /// record is kept as it is then. JSON: the model's shape.
    fn model_file(
        &self,
        bytes: &[u8],
        op: impl FnOnce(&mut vae::Session, VaeWeights) -> vae::Result<vae::session::ModelInfo>,
    ) -> Result<String, JsError> {
        let weights = VaeWeights::from_safetensors(bytes).map_err(js_err)?;
        let info = self.now(|s| op(s, weights))?;
        self.keep_held();
        to_js(&info)
    }

    /// Keeps the session's record as it holds it now, for [`Session::held_record`] while a call
    /// holds the session: after each change of the model and each record.
    /// Without the `webgpu` feature (the CPU module) nothing is kept: none of its devices can be
    /// lost and a CPU worker's traps stay errors (www/worker/gpu-loss.js), so nothing asks for it;
    /// and writing the record (the model in f32, 2.6 MB) was the costliest part of `create`, in
    /// front of the page's first answer (natively 3-7 ms against 3 ms for reading the model and
    /// making the session; docs/speed.md, 2026-12-06).
    fn keep_held(&self) {
        if !cfg!(feature = "webgpu") {
            return;
        }
        if let Some(core) = self.core.borrow().as_ref() {
            *self.held.borrow_mut() = core.held_record().ok();
        }
    }

    /// Runs an async operation with the core session taken out of its cell.
    async fn run<T>(&self, op: impl AsyncFnOnce(&mut vae::Session) -> vae::Result<T>) -> Result<T, JsError> {
        let mut core = self.core.borrow_mut().take().ok_or_else(busy)?;
        let outcome = op(&mut core).await;
        *self.core.borrow_mut() = Some(core);
        outcome.map_err(js_err)
    }

    /// Runs a synchronous operation on the core session.
    fn now<T>(&self, op: impl FnOnce(&mut vae::Session) -> vae::Result<T>) -> Result<T, JsError> {
        let mut cell = self.core.borrow_mut();
        op(cell.as_mut().ok_or_else(busy)?).map_err(js_err)
    }
}

fn busy() -> JsError {
    js_err("the model is busy with another call; calls must wait for each other")
}

/// The fixed cross-backend problem of [`vae::check`] on the CPU and on WebGPU: the largest relative
/// error of WebGPU's forward pass, loss, gradients, Adam steps, samples and neighbour distances, and
/// the matmul routine WebGPU ran them with.
#[wasm_bindgen(js_name = compareBackends)]
pub async fn compare_backends(data: Vec<u8>) -> Result<String, JsError> {
    let data = Dataset::from_bin(&data).map_err(js_err)?;
    let webgpu = backend::webgpu_device().await.map_err(js_err)?;
    #[derive(Serialize)]
    struct Checked {
        comparison: vae::device::check::Comparison,
        /// The matmul routine WebGPU ran them with.
        matmul: Option<&'static str>,
    }
    let comparison = vae::device::check::compare(&backend::cpu_device(), &webgpu, &data).await.map_err(js_err)?;
    to_js(&Checked { comparison, matmul: backend::started_matmul() })
}
