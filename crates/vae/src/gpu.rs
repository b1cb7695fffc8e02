//! Burn's wgpu backend (feature `wgpu`): started with the one choice its adapter makes for us.

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuInitError;
use burn::tensor::wgpu::wgpu::{AdapterInfo, DeviceType};

/// The matmul routine [`start`] picks on a software adapter.
pub const CPU_GEMM: &str = "CubeCL's CPU-tuned matmul (CpuGemm)";
/// The matmul routine [`start`] picks on a GPU.
pub const DEFAULT_MATMUL: &str = "CubeCL's default matmul";

/// Starts Burn's wgpu backend on its default adapter (once per process: Burn refuses a second
/// start) with the matmul routine chosen for that adapter; the device and the routine's name.
/// Natively and in a browser alike (native callers block on it).
pub async fn start() -> Result<(Device, &'static str), WgpuInitError> {
    let (device, setup) = Device::wgpu_options().init_with_setup_async().await?;
    Ok((device, choose_matmul(&setup.adapter.get_info())))
}

/// Picks the matmul routine every later product on wgpu launches. A software adapter (a CPU:
/// Chrome's SwiftShader, Mesa's lavapipe; a browser says `isFallbackAdapter`) takes CubeCL's
/// routine tuned for CPUs: there it ran a training step 2.5× faster than the default routine,
/// whose shared-memory tiles and barriers a CPU pays for without gaining from (docs/speed.md). A
/// GPU keeps the default (tensor cores where there are). The switch is our patch of burn-cubecl
/// (vendor/README.md).
fn choose_matmul(adapter: &AdapterInfo) -> &'static str {
    let software = adapter.device_type == DeviceType::Cpu;
    burn_cubecl::kernel::matmul::set_cpu_gemm(software);
    if software { CPU_GEMM } else { DEFAULT_MATMUL }
}
