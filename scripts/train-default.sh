#!/usr/bin/env bash
# Trains the committed default model (www/model/default.safetensors) with `vae train`'s defaults:
# 10 epochs, latent 20, hidden 400, β 1, Adam lr 1e-3, batch 128, seed 0, on the 9 003 training digits.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
cargo build --release --workspace -q
"$CARGO_TARGET_DIR/release/vae" train --out www/model/default.safetensors "$@"
"$CARGO_TARGET_DIR/release/vae" sample --out docs/samples.png
