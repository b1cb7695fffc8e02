#!/usr/bin/env bash
# The one test command (README, .ci/run). Installs what is missing, then: formatting; the native
# build with clippy -D warnings on our crates; the core's tests on burn-ndarray and on Burn's wgpu
# backend (Vulkan: Mesa's lavapipe on a CPU machine); the CLI end to end; the wasm build of the
# page's module; the page in headless Chromium with and without WebGPU.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
start=$(date +%s)
phase() { log "$1 ($(( $(date +%s) - start )) s so far)"; }
apt_install mesa-vulkan-drivers libvulkan1
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add rustfmt clippy

phase "cargo fmt --check"
cargo fmt --all -- --check

# clippy-driver compiles our crates for real while linting them, so the lints cost no second
# (check-mode) build of Burn; dependencies are built by plain rustc as usual.
phase "native build with clippy -D warnings, and tests (ndarray, wgpu)"
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which rustc)")/clippy-driver" \
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  cargo test --workspace --release

phase "wasm build of the page's module"
bash "$ROOT/scripts/build-web.sh"

phase "browser tests (headless Chromium, with and without WebGPU)"
setup_browser_tools
node --test --test-concurrency=1 "$ROOT/tests/"

phase "all tests passed"
