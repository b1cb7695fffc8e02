#!/usr/bin/env bash
# The core's unit tests on Burn's wgpu backend natively, beside burn-ndarray (every test that loops
# over `test_util::backends()`, and the ndarray-against-wgpu check of check.rs), and the CLI with
# `--backend wgpu`; clippy -D warnings over the code only this build compiles. Vulkan: Mesa's
# lavapipe on a machine without a GPU. Not in the test command (scripts/test.sh), which cannot afford
# a native build of CubeCL and wgpu beside the page's; it checks the page's WebGPU against the CPU
# in Chromium instead.
#   bash scripts/test-native-gpu.sh [cargo test arguments, e.g. a test name]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
apt_install mesa-vulkan-drivers libvulkan1
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
with_clippy cargo test --release -p vae -p vae-cli --features vae/wgpu-tests "$@"
