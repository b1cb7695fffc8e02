#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, then formatting, lints, the
# native tests on ndarray and on Burn's wgpu backend (Mesa lavapipe), the CLI end to end, and the
# wasm build of the page's module.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
start=$(date +%s)
apt_install mesa-vulkan-drivers libvulkan1 pkg-config
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
log "native tests (ndarray and wgpu on Vulkan)"
cargo test --workspace --release
log "wasm build"
bash "$ROOT/scripts/build-web.sh"
log "all tests passed in $(( $(date +%s) - start )) s"
