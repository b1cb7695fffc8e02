#!/usr/bin/env bash
# Builds everything the page needs under www/ (www/pkg: the wasm module and its JS glue), so that
# www/ is a static site any file server can serve.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_web_packages
# wasm-bindgen-cli is needed only after the module is built: on a fresh machine it compiles beside
# the module's build, at a lower priority (the module's build is the longer).
bindgen_log="$(mktemp)"
nice -n 10 bash -c "source '$ROOT/scripts/lib.sh'; setup_wasm_bindgen" >"$bindgen_log" 2>&1 &
bindgen_install=$!
trap 'kill "$bindgen_install" 2>/dev/null || true' EXIT
# The page's two modules, from one crate: www/pkg-cpu (burn-ndarray alone, without the `webgpu`
# feature), which every page starts on, and www/pkg (both backends), which only a browser with a
# WebGPU adapter fetches, after its first answer. Their builds share every crate whose features
# do not differ (docs/speed.md).
wait_bindgen() {
  [ -n "${bindgen_install:-}" ] || return 0
  wait "$bindgen_install" || { cat "$bindgen_log"; log "installing wasm-bindgen-cli failed"; exit 1; }
  trap - EXIT
  cat "$bindgen_log"
  bindgen_install=
}
module() { # module FEATURE_ARGS OUT_DIR: builds, optimises and binds one module
  local out="$2" name
  name="$(basename "$out")"
  log "building crates/vae-web for wasm32 (profile wasm-release${1:+, $1}) into www/$name"
  # shellcheck disable=SC2086 # $1 is one flag or none
  cargo_wasm build --manifest-path "$ROOT/Cargo.toml" -p vae-web --profile wasm-release $1
  local raw="$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/vae_web.wasm"
  # -O2, but a function with one caller is inlined into it only when small: binaryen inlines such
  # functions whatever their size by default, which made Burn's dtype conversions (one match over
  # every pair of types) a 240 KB function, compiled whole by the browser at its first call, on the
  # first answer's path (Session.create 50 → 20 ms and the first 64 samples 40 → 11 ms in node; the
  # module 3 % smaller with brotli, training and sketches as fast: docs/speed.md, 2026-12-07).
  local optimise=(-O2 --one-caller-inline-max-function-size=50 --strip-debug --strip-producers --enable-bulk-memory
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-simd)
  local flags_hash
  flags_hash="$(echo "${optimise[*]}" | sha256sum | cut -c1-8)"
  local kept="$WASM_TARGET_DIR/vae_web.$name.wasm" opt="$WASM_TARGET_DIR/vae_web.$name.$flags_hash.opt.wasm"
  # Both builds write the same file: this one's is kept aside.
  cp -p "$raw" "$kept"
  # wasm-opt BEFORE wasm-bindgen: Debian's binaryen 108 breaks wasm-bindgen's externref table after it.
  if [ ! -f "$opt" ] || [ "$kept" -nt "$opt" ]; then
    log "wasm-opt ${optimise[*]:0:2} (binaryen $(wasm-opt --version | awk '{print $3}'))"
    wasm-opt "${optimise[@]}" "$kept" -o "$opt"
  fi
  rm -rf "$out"
  wait_bindgen
  "$TOOLS/bin/wasm-bindgen" --target web --no-typescript --out-name vae_web --out-dir "$out" "$opt"
  log "www/$name/vae_web_bg.wasm: $(($(stat -c %s "$out/vae_web_bg.wasm") / 1024)) KiB ($(($(stat -c %s "$kept") / 1024)) KiB before wasm-opt)"
}
log "the page's data set in two files, test digits and training digits (scripts/split-data.mjs)"
node "$ROOT/scripts/split-data.mjs" "$ROOT/www/data/mnist.bin"
module --no-default-features "$ROOT/www/pkg-cpu"
module "" "$ROOT/www/pkg"
log "brotli and gzip copies of the big files, for servers that send them (scripts/precompress.mjs)"
node "$ROOT/scripts/precompress.mjs" "$ROOT/www"
for name in pkg-cpu pkg; do
  log "www/$name/vae_web_bg.wasm on the wire: $(($(stat -c %s "$ROOT/www/$name/vae_web_bg.wasm.br") / 1024)) KiB brotli"
done
log "the offline manifest: the page's files and their SHA-256, for the service worker (scripts/offline-manifest.mjs)"
node "$ROOT/scripts/offline-manifest.mjs" "$ROOT/www"
