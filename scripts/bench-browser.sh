#!/usr/bin/env bash
# The browser benchmark: ours (the page's wasm module on its CPU and WebGPU backends) against the
# same model and training step in TF.js 4.22 (wasm SIMD and WebGPU), in the same headless Chromium,
# back to back, all served from our own origin; then the real page's time to its first answer and
# the bytes it fetched before it. Prints tables and `RATIO <name>=<value>` lines (above 1: we are
# ahead). The work is in scripts/bench/browser.mjs.
#   bash scripts/bench-browser.sh [BATCH (128)] [HIDDEN (400)]
# Installs what is missing (Chromium, npm packages incl. TF.js) and builds the wasm module if absent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
setup_browser_tools
if [ ! -d node_modules/@tensorflow/tfjs-backend-wasm ] || [ ! -d node_modules/@tensorflow/tfjs-backend-webgpu ] || [ ! -d node_modules/lighthouse ]; then
  log "installing npm packages (TF.js)"
  npm ci --no-audit --no-fund --silent
fi
if [ ! -f www/pkg/vae_web.js ]; then bash scripts/build-web.sh; fi
node scripts/bench/browser.mjs "$@"
