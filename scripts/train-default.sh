#!/usr/bin/env bash
# Trains the committed default model (www/model/default.safetensors) with `vae train`'s defaults:
# 10 epochs, latent 20, hidden 400, β 1, Adam lr 1e-3, batch 128, seed 0, on the 9 003 training digits;
# and its f16 copy, which the page fetches (half the bytes; a CLI test checks the two agree).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
cargo build --release --workspace -q
"$CARGO_TARGET_DIR/release/vae" train --out www/model/default.safetensors "$@"
"$CARGO_TARGET_DIR/release/vae" convert --f16 --out www/model/default-f16.safetensors
"$CARGO_TARGET_DIR/release/vae" sample --out docs/samples.png
