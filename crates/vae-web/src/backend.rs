//! The backend's lifecycle in the page: the one place that chooses between WebGPU and the CPU.
//! "auto" answers on burn-ndarray at once; meanwhile WebGPU is started (once per page), checked
//! against the CPU on a fixed input and warmed up (its kernels compiled); then the session moves
//! over, or the CPU stays with the reason said.

use std::cell::RefCell;

use burn::tensor::Device;
use serde::Serialize;
use vae::rng::Rng;
use vae::{Dataset, Inference, LatentIndex, VaeWeights};

/// Largest relative error WebGPU may show against the CPU in the start-up self-test.
const SELF_TEST_TOLERANCE: f32 = 1e-3;

pub const CPU_LABEL: &str = "CPU (ndarray)";
pub const WEBGPU_LABEL: &str = "WebGPU";
const NO_ADAPTER: &str = "this browser has no WebGPU adapter";

/// Where the page's model runs, and how it got there.
#[derive(Clone)]
pub enum Backend {
    /// On the CPU for good: asked for, or WebGPU is missing, failed or disagreed (the reason).
    Cpu { fallback_reason: Option<String>, self_test_error: Option<f32> },
    /// "auto": the CPU answers while WebGPU is started, checked and warmed up.
    WarmingUp,
    /// WebGPU passed its self-test and is warm; the session moves when no training run is on.
    Ready { device: Device, self_test_error: f32 },
    /// The session runs on WebGPU.
    Webgpu { self_test_error: f32 },
}

/// What the page shows about the backend.
#[derive(Serialize)]
pub struct BackendInfo {
    /// "webgpu" or "cpu": where the model runs now.
    kind: &'static str,
    label: &'static str,
    /// Why the CPU is used, when WebGPU was wanted.
    fallback_reason: Option<String>,
    /// Largest relative error of WebGPU against the CPU in the self-test, when it ran.
    self_test_error: Option<f32>,
    /// WebGPU is being started, checked and warmed up (or waits to take over) while the CPU answers.
    warming_up: bool,
}

impl Backend {
    pub fn info(&self) -> BackendInfo {
        let cpu = |fallback_reason, self_test_error, warming_up| BackendInfo {
            kind: "cpu",
            label: CPU_LABEL,
            fallback_reason,
            self_test_error,
            warming_up,
        };
        match self {
            Backend::Cpu { fallback_reason, self_test_error } => cpu(fallback_reason.clone(), *self_test_error, false),
            Backend::WarmingUp => cpu(None, None, true),
            Backend::Ready { self_test_error, .. } => cpu(None, Some(*self_test_error), true),
            Backend::Webgpu { self_test_error } => BackendInfo {
                kind: "webgpu",
                label: WEBGPU_LABEL,
                fallback_reason: None,
                self_test_error: Some(*self_test_error),
                warming_up: false,
            },
        }
    }
}

thread_local! {
    /// Burn's wgpu runtime may be initialised only once per page: the first outcome is kept.
    static WEBGPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
}

#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
pub fn cpu_device() -> Device {
    Device::ndarray()
}

pub async fn webgpu_supported() -> bool {
    burn::tensor::wgpu::wgpu::util::is_browser_webgpu_supported().await
}

/// The page's WebGPU device, started on first use.
pub async fn webgpu_device() -> Result<Device, String> {
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

/// The device and backend state for the page's choice: "cpu", "webgpu" (an error if it does not
/// work) or "auto" (the CPU now, WebGPU warming up if there is an adapter).
pub async fn choose(wanted: &str, weights: &VaeWeights, data: &Dataset) -> Result<(Device, Backend), String> {
    match wanted {
        "cpu" => Ok((cpu_device(), Backend::Cpu { fallback_reason: None, self_test_error: None })),
        "webgpu" => {
            let device = webgpu_device().await?;
            let self_test_error = checked(&device, weights, data).await.map_err(|(reason, _)| reason)?;
            Ok((device, Backend::Webgpu { self_test_error }))
        }
        "auto" if webgpu_supported().await => Ok((cpu_device(), Backend::WarmingUp)),
        "auto" => Ok((cpu_device(), Backend::Cpu { fallback_reason: Some(NO_ADAPTER.into()), self_test_error: None })),
        other => Err(format!("unknown backend {other:?}: expected auto, webgpu or cpu")),
    }
}

/// Starts WebGPU, checks it and warms it up with `weights`: Ready, or the CPU with the reason.
pub async fn prepare(weights: &VaeWeights, data: &Dataset) -> Backend {
    let device = match webgpu_device().await {
        Ok(device) => device,
        Err(reason) => return Backend::Cpu { fallback_reason: Some(reason), self_test_error: None },
    };
    match checked(&device, weights, data).await {
        Err((reason, self_test_error)) => Backend::Cpu { fallback_reason: Some(reason), self_test_error },
        Ok(self_test_error) => match warm_up(&device, weights, data).await {
            Ok(()) => Backend::Ready { device, self_test_error },
            Err(e) => Backend::Cpu {
                fallback_reason: Some(format!("WebGPU failed while warming up: {e}")),
                self_test_error: Some(self_test_error),
            },
        },
    }
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
    let picks: Vec<usize> = (0..8).map(|i| i * (data.len() - 1) / 7).collect();
    let images = data.images(&picks);
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
    let analysed = inference.analyse(&image).await?;
    inference.decode(&analysed.mu).await?;
    inference.sample(64, 1.0, &mut Rng::new(0)).await?;
    inference.variations(&image, 8, &mut Rng::new(0)).await?;
    // The kernels do not depend on the number of rows: a small index compiles what a full one uses.
    let mut index = LatentIndex::new(inference.latent());
    index.add(&inference, data, &(0..64.min(data.len())).collect::<Vec<_>>()).await?;
    index.nearest(&analysed.mu, 8).await?;
    Ok(())
}
