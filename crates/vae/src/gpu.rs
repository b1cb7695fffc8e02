//! Burn's wgpu backend (feature `wgpu`): the one choice the adapter makes for us.

use burn::tensor::wgpu::wgpu::{AdapterInfo, DeviceType};

/// The matmul routine [`choose_matmul`] picks on a software adapter.
pub const CPU_GEMM: &str = "CubeCL's CPU-tuned matmul (CpuGemm)";
/// The matmul routine [`choose_matmul`] picks on a GPU.
pub const DEFAULT_MATMUL: &str = "CubeCL's default matmul";

/// Picks the matmul routine every later product on wgpu launches, for the process's adapter, and
/// returns its name. A software adapter (a CPU: Chrome's SwiftShader, Mesa's lavapipe; a browser
/// says `isFallbackAdapter`) takes CubeCL's routine tuned for CPUs: there it ran a training step
/// 2.5× faster than the default routine, whose shared-memory tiles and barriers a CPU pays for
/// without gaining from (docs/speed.md). A GPU keeps the default (tensor cores where there are).
/// The switch is our patch of burn-cubecl (vendor/README.md).
pub fn choose_matmul(adapter: &AdapterInfo) -> &'static str {
    let software = adapter.device_type == DeviceType::Cpu;
    burn_cubecl::kernel::matmul::set_cpu_gemm(software);
    if software { CPU_GEMM } else { DEFAULT_MATMUL }
}
