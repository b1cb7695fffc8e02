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

# The wasm build runs beside the native build and tests: each has long stretches on one core (a
# big crate's codegen, the link, single-threaded tests) that the other fills. Its output is shown
# when it ends. The tools first, alone: apt must never run twice at once, and in a cold run
# `cargo install wasm-bindgen-cli` beside the native build was still compiling after 20 minutes,
# holding back the wasm build behind it.
phase "tools for the page's build and the browser tests"
setup_web_tools
setup_browser_tools
phase "wasm build of the page's module (in the background)"
wasm_log="$(mktemp)"
bash "$ROOT/scripts/build-web.sh" >"$wasm_log" 2>&1 &
wasm_build=$!
trap 'kill "$wasm_build" 2>/dev/null || true' EXIT

# clippy-driver compiles our crates for real while linting them, so the lints cost no second
# (check-mode) build of Burn; dependencies are built by plain rustc as usual.
# The host side of Burn's GPU backend (CubeCL's kernels and their launching, wgpu, naga), used only
# by the wgpu tests and the CLI's `--backend wgpu`, at opt-level 1 in this test build: the tests spend
# seconds in it, where optimising it fully took ≈ 880 s of the cold native build's 2 600 s of CPU
# (docs/speed.md). Everything on the CPU path (burn-ndarray, autodiff, our crates) keeps opt-level 3,
# and so do `cargo build --release` and the page's wasm build.
gpu_host_opt_level_1=()
for crate in cubek-matmul cubek-quant cubek-interpolate cubek-convolution cubek-reduce cubek-tile \
  cubek-pool cubek-attention burn-cubecl cubecl-wgpu cubecl-opt naga wgpu-core wgpu-hal ash wgpu; do
  gpu_host_opt_level_1+=(--config "profile.release.package.$crate.opt-level=1")
done
phase "native build with clippy -D warnings, and tests (ndarray, wgpu)"
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which rustc)")/clippy-driver" \
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  cargo test --workspace --release "${gpu_host_opt_level_1[@]}"

phase "waiting for the wasm build"
wasm_status=0
wait "$wasm_build" || wasm_status=$?
trap - EXIT
cat "$wasm_log"
[ "$wasm_status" = 0 ] || { log "the wasm build failed (exit $wasm_status)"; exit "$wasm_status"; }

phase "browser tests (headless Chromium, with and without WebGPU)"
node --test --test-concurrency=1 "$ROOT/tests/"

phase "all tests passed"
