#!/usr/bin/env bash
# The one test command (README, .ci/run). Installs what is missing, then: formatting and the core's
# layers (scripts/check-layers.sh); the page worker's unit tests in node (tests/unit/); the native
# build with clippy -D warnings on the core and the CLI; the core's tests on burn-ndarray; the CLI
# end to end; the wasm build of the page's module, with clippy -D warnings on it; the page in
# headless Chromium with and without WebGPU (tests/*.test.mjs), where WebGPU is checked against
# the CPU.
# The core's tests on Burn's wgpu backend natively are scripts/test-native-gpu.sh's: building
# CubeCL and wgpu natively too would cost this command a third build of Burn's heaviest parts.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
start=$(date +%s)
phase() { log "$1 ($(( $(date +%s) - start )) s so far)"; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add rustfmt clippy

phase "cargo fmt --check, and the core's layers"
cargo fmt --all -- --check
bash "$ROOT/scripts/check-layers.sh"

# The worker's modules that hold logic (its queue, its persistence), in node: seconds, before
# the builds, so that a mistake there is heard of at once.
phase "unit tests of the page's worker (node)"
node --test "$ROOT/tests/unit/"

# Three things run at once, so that both cores stay busy from the first second: the native build
# and tests, the wasm build (after its Debian packages), and the installs for the browser tests.
# The wasm build (Burn with both backends, for wasm32, std from source) goes first: the native
# build runs at a lower priority, filling the cores while the wasm build waits on its one-core
# stretches (a big crate's codegen, the link) and while apt and npm download, and taking them once
# the wasm build is done (in a cold run: the wasm crate built at 21 min, the native tests done at
# 25 min; docs/speed.md). Each one's output is shown when it ends.
#
# The native build is linted as it compiles (with_clippy, scripts/lib.sh). vae-web is left out:
# natively it would pull in Burn's GPU backend; the wasm build compiles and lints it.
# --no-default-features: the CLI without its `wgpu` feature (`--backend wgpu` says so).
phase "native build with clippy -D warnings, and tests (ndarray), in the background"
native_log="$(mktemp)"
with_clippy nice -n 10 cargo test --workspace --exclude vae-web --release --no-default-features >"$native_log" 2>&1 &
native=$!
trap 'kill "$native" "${wasm_build:-}" 2>/dev/null || true' EXIT

phase "Debian packages for the wasm build"
setup_web_packages
phase "wasm build of the page's module, in the background"
wasm_log="$(mktemp)"
WASM_CLIPPY=1 bash "$ROOT/scripts/build-web.sh" >"$wasm_log" 2>&1 &
wasm_build=$!

phase "Chromium and the npm packages for the browser tests"
setup_browser_tools

# finish NAME PID LOG: waits for a background part, shows its output, stops here if it failed.
finish() {
  local status=0
  wait "$2" || status=$?
  cat "$3"
  [ "$status" = 0 ] || { log "$1 failed (exit $status)"; exit "$status"; }
  phase "$1: done"
}
phase "waiting for the native build and tests"
finish "native build and tests" "$native" "$native_log"
phase "waiting for the wasm build"
finish "wasm build" "$wasm_build" "$wasm_log"
trap - EXIT

phase "browser tests (headless Chromium, with and without WebGPU)"
node --test --test-concurrency=1 "$ROOT"/tests/*.test.mjs

phase "all tests passed"
