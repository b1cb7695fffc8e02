#!/usr/bin/env bash
# The soak (not part of the test command): one page on the CPU backend, 2 000 traced
# sketches while a training run of 2 000+ steps goes on; the wasm memory and the JS heaps (page and
# worker) must grow less than 10 % after warm-up and nothing may be logged as an error. Prints a
# table of samples and `SOAK wasm_growth=…% heap_growth=…%`; exits 1 otherwise. About 15 minutes on
# 2 cores. The work is in scripts/soak.mjs.
#   bash scripts/soak.sh [SKETCHES (2000)] [STEPS (2000)] [BATCH (128)]
# Installs what is missing (Chromium, npm packages) and builds the wasm module if absent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
setup_browser_tools
if [ ! -f www/pkg/vae_web.js ]; then bash scripts/build-web.sh; fi
node scripts/soak.mjs "$@"
