//! The backend's lifecycle in the page: the one place that chooses between WebGPU and the CPU.
//! "auto" answers on burn-ndarray at once; meanwhile WebGPU is started (once per page), checked
//! against the CPU on a fixed input, warmed up (its kernels compiled) and each of the page's jobs
//! is timed on both; then each job moves to the faster one ([`vae::placement`]), or the CPU stays
//! with the reason said.

use std::cell::RefCell;

use burn::tensor::Device;
use serde::Serialize;
use vae::device::placement::{self, Devices, Job, JobChoice, Place};
use vae::device::readiness;
use vae::{Dataset, VaeWeights};

pub const CPU_LABEL: &str = "CPU (ndarray)";
pub const WEBGPU_LABEL: &str = "WebGPU";
/// Some jobs on each: the label names both.
pub const MIXED_LABEL: &str = "WebGPU + CPU";
/// The choice of [`WEBGPU_TRAINING`].
pub const WEBGPU_TRAINING_LABEL: &str = "WebGPU for training, CPU for the rest";
const NO_ADAPTER: &str = "this browser has no WebGPU adapter";
/// The reason of a job's place when the page asked for its backend.
const CHOSEN_IN_THE_PAGE: &str = "chosen in the page";

/// Where the page's jobs run, and how they got there.
#[derive(Clone)]
pub enum Backend {
    /// Every job on the CPU for good: asked for, or WebGPU is missing, failed or disagreed (the
    /// reason).
    Cpu { fallback_reason: Option<String>, self_test_error: Option<f32> },
    /// "auto": the CPU answers while WebGPU is started, checked, warmed up and timed.
    WarmingUp,
    /// WebGPU passed its self-test and each job was timed on both backends; the session takes
    /// the chosen places when no training run is on.
    Ready { device: Device, self_test_error: f32, jobs: Vec<JobChoice> },
    /// The jobs are where `jobs` says: each on its faster backend ("auto"), or all on WebGPU
    /// (asked for).
    Placed { self_test_error: f32, jobs: Vec<JobChoice> },
}

/// What the page shows about the backend.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    /// Where the jobs run now: "cpu", "webgpu" or "mixed".
    kind: &'static str,
    label: &'static str,
    /// Why the CPU is used, when WebGPU was wanted and could not be used.
    fallback_reason: Option<String>,
    /// Largest relative error of WebGPU against the CPU in the self-test, when it ran.
    self_test_error: Option<f32>,
    /// The matmul routine WebGPU runs, once started ([`vae::gpu::start`]).
    matmul: Option<&'static str>,
    /// WebGPU is being started, checked, warmed up and timed (or waits to take its jobs) while
    /// the CPU answers.
    warming_up: bool,
    /// Each job's place, with both timings and the reason once measured.
    jobs: Vec<JobChoice>,
}

impl Backend {
    pub fn info(&self) -> BackendInfo {
        match self {
            Backend::Cpu { fallback_reason, self_test_error } => BackendInfo {
                kind: "cpu",
                label: CPU_LABEL,
                fallback_reason: fallback_reason.clone(),
                self_test_error: *self_test_error,
                matmul: started_matmul(),
                warming_up: false,
                jobs: placement::forced(Place::Cpu, fallback_reason.as_deref().unwrap_or(CHOSEN_IN_THE_PAGE)),
            },
            Backend::WarmingUp => BackendInfo {
                kind: "cpu",
                label: CPU_LABEL,
                fallback_reason: None,
                self_test_error: None,
                matmul: started_matmul(),
                warming_up: true,
                jobs: placement::forced(Place::Cpu, "WebGPU is being checked and timed"),
            },
            Backend::Ready { self_test_error, jobs, .. } => BackendInfo {
                kind: "cpu",
                label: CPU_LABEL,
                fallback_reason: None,
                self_test_error: Some(*self_test_error),
                matmul: started_matmul(),
                warming_up: true,
                jobs: jobs.clone(),
            },
            Backend::Placed { self_test_error, jobs } => {
                let on_webgpu = jobs.iter().filter(|j| j.place == Place::Webgpu).count();
                let (kind, label) = match on_webgpu {
                    0 => ("cpu", CPU_LABEL),
                    n if n == jobs.len() => ("webgpu", WEBGPU_LABEL),
                    _ => ("mixed", MIXED_LABEL),
                };
                BackendInfo {
                    kind,
                    label,
                    fallback_reason: None,
                    self_test_error: Some(*self_test_error),
                    matmul: started_matmul(),
                    warming_up: false,
                    jobs: jobs.clone(),
                }
            }
        }
    }
}

thread_local! {
    /// Burn's wgpu runtime may be initialised only once per page: the first outcome is kept, with
    /// the matmul routine chosen for the adapter.
    static WEBGPU: RefCell<Option<Result<(Device, &'static str), String>>> = const { RefCell::new(None) };
}

/// The matmul routine WebGPU runs, once started ([`vae::gpu::start`]).
pub fn started_matmul() -> Option<&'static str> {
    WEBGPU.with(|w| w.borrow().as_ref()?.as_ref().ok().map(|&(_, matmul)| matmul))
}

#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
pub fn cpu_device() -> Device {
    Device::ndarray()
}

#[cfg(feature = "webgpu")]
pub async fn webgpu_supported() -> bool {
    burn::tensor::wgpu::wgpu::util::is_browser_webgpu_supported().await
}

/// The CPU module has no WebGPU backend: the page loads the other module for it.
#[cfg(not(feature = "webgpu"))]
pub async fn webgpu_supported() -> bool {
    false
}

#[cfg(feature = "webgpu")]
async fn start_webgpu() -> Result<(Device, &'static str), String> {
    vae::gpu::start().await.map_err(|e| e.to_string())
}

#[cfg(not(feature = "webgpu"))]
async fn start_webgpu() -> Result<(Device, &'static str), String> {
    Err("this is the page's CPU module, built without WebGPU".into())
}

/// The page's WebGPU device, started on first use.
pub async fn webgpu_device() -> Result<Device, String> {
    if let Some(known) = WEBGPU.with(|w| w.borrow().clone()) {
        return known.map(|(device, _)| device);
    }
    let outcome = if !webgpu_supported().await {
        Err(NO_ADAPTER.to_string())
    } else {
        start_webgpu().await.map_err(|e| format!("WebGPU did not start: {e}"))
    };
    WEBGPU.with(|w| *w.borrow_mut() = Some(outcome.clone()));
    outcome.map(|(device, _)| device)
}

/// The page's choice that puts training alone on WebGPU: the sketches and the index stay on the
/// CPU, and a stroke is answered while the GPU trains.
pub const WEBGPU_TRAINING: &str = "webgpu-training";
/// The page's first choice in a browser with a WebGPU adapter, in the CPU module.
const CPU_FIRST: &str = "cpu-first";

/// Each job's device and the backend state for the page's choice: "cpu", "webgpu" or
/// [`WEBGPU_TRAINING`] (an error if WebGPU does not work), or "auto" (the CPU now, WebGPU warming
/// up if there is an adapter). WebGPU chosen outright is checked against the CPU on `data`'s
/// digits before it answers anything: it needs them.
pub async fn choose(wanted: &str, weights: &VaeWeights, data: Option<&Dataset>) -> Result<(Devices, Backend), String> {
    let cpu = Devices::all(&cpu_device());
    match wanted {
        "cpu" => Ok((cpu, Backend::Cpu { fallback_reason: None, self_test_error: None })),
        "webgpu" | WEBGPU_TRAINING => {
            let data = data.ok_or("WebGPU chosen outright is checked on the data set's digits: it needs them")?;
            let device = webgpu_device().await?;
            let self_test_error =
                readiness::checked(&cpu_device(), &device, weights, data).await.map_err(|(reason, _)| reason)?;
            let jobs = if wanted == "webgpu" {
                placement::forced(Place::Webgpu, CHOSEN_IN_THE_PAGE)
            } else {
                let place = |job| if job == Job::Training { Place::Webgpu } else { Place::Cpu };
                placement::forced_each(place, CHOSEN_IN_THE_PAGE)
            };
            Ok((Devices::placed(&jobs, &cpu_device(), &device), Backend::Placed { self_test_error, jobs }))
        }
        "auto" if webgpu_supported().await => Ok((cpu, Backend::WarmingUp)),
        // The CPU module, in a browser with an adapter: the CPU answers while the page fetches the
        // module with WebGPU, which takes over (www/worker/modules.js).
        CPU_FIRST => Ok((cpu, Backend::WarmingUp)),
        "auto" => Ok((cpu, Backend::Cpu { fallback_reason: Some(NO_ADAPTER.into()), self_test_error: None })),
        other => {
            Err(format!("unknown backend {other:?}: expected auto, webgpu, {WEBGPU_TRAINING}, {CPU_FIRST} or cpu"))
        }
    }
}

/// Starts WebGPU, checks it, warms it up and times each job on it and on the CPU with `weights`:
/// Ready with each job's place, or the CPU with the reason.
pub async fn prepare(weights: &VaeWeights, data: &Dataset) -> Backend {
    let device = match webgpu_device().await {
        Ok(device) => device,
        Err(reason) => return Backend::Cpu { fallback_reason: Some(reason), self_test_error: None },
    };
    let self_test_error = match readiness::checked(&cpu_device(), &device, weights, data).await {
        Ok(error) => error,
        Err((reason, self_test_error)) => return Backend::Cpu { fallback_reason: Some(reason), self_test_error },
    };
    let failed = |e: vae::Error| Backend::Cpu {
        fallback_reason: Some(format!("WebGPU failed while warming up: {e}")),
        self_test_error: Some(self_test_error),
    };
    if let Err(e) = readiness::warm_up(&device, weights, data).await {
        return failed(e);
    }
    match placement::measure(&cpu_device(), &device, weights, data).await {
        Ok(timings) => Backend::Ready { device, self_test_error, jobs: placement::choose(&timings) },
        Err(e) => failed(e),
    }
}
