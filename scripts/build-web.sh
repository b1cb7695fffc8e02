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
log "building crates/vae-web for wasm32 (profile wasm-release)"
cargo_wasm build --manifest-path "$ROOT/Cargo.toml" -p vae-web --profile wasm-release
wait "$bindgen_install" || { cat "$bindgen_log"; log "installing wasm-bindgen-cli failed"; exit 1; }
trap - EXIT
cat "$bindgen_log"
raw="$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/vae_web.wasm"
opt="$WASM_TARGET_DIR/vae_web.opt.wasm"
# wasm-opt BEFORE wasm-bindgen: Debian's binaryen 108 breaks wasm-bindgen's externref table after it.
if [ ! -f "$opt" ] || [ "$raw" -nt "$opt" ]; then
  log "wasm-opt -O2 (binaryen $(wasm-opt --version | awk '{print $3}'))"
  wasm-opt -O2 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-simd "$raw" -o "$opt"
fi
rm -rf "$ROOT/www/pkg"
"$TOOLS/bin/wasm-bindgen" --target web --no-typescript --out-name vae_web --out-dir "$ROOT/www/pkg" "$opt"
size=$(stat -c %s "$ROOT/www/pkg/vae_web_bg.wasm"); gz=$(gzip -9 -c "$ROOT/www/pkg/vae_web_bg.wasm" | wc -c)
log "www/pkg/vae_web_bg.wasm: $((size / 1024)) KiB raw, $((gz / 1024)) KiB gzip -9 (raw $((($(stat -c %s "$raw")) / 1024)) KiB before wasm-opt)"
log "brotli and gzip copies of the big files, for servers that send them (scripts/precompress.mjs)"
node "$ROOT/scripts/precompress.mjs" "$ROOT/www"
log "the offline manifest: the page's files and their SHA-256, for the service worker (scripts/offline-manifest.mjs)"
node "$ROOT/scripts/offline-manifest.mjs" "$ROOT/www"
