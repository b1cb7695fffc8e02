#!/usr/bin/env bash
# Trains the committed default model (www/model/default.safetensors) with `vae train`'s defaults:
# 10 epochs, latent 20, hidden 400, β 1, Adam lr 1e-3, batch 128, seed 0, on the 9 003 training digits;
# and its f16 copy (half the bytes; a CLI test checks the two agree), and its 8-bit copy (`convert
# --q8`: a quarter of the bytes, for transfer; a CLI test checks its test loss), which the page
# fetches, with the page's t-SNE map of it.
# Then the conditional model (www/model/conditional.safetensors, and its f16 and q8 copies) with the
# configuration in scripts/lib.sh (CONDITIONAL_*), and pictures of both for the README.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
build_cli
"$CARGO_TARGET_DIR/release/vae" train --out www/model/default.safetensors "$@"
"$CARGO_TARGET_DIR/release/vae" convert --f16 --out www/model/default-f16.safetensors
"$CARGO_TARGET_DIR/release/vae" convert --q8 --out www/model/default-q8.safetensors
# The page's t-SNE map of the model it loads (the q8 copy), made as the page makes it; the page
# shows it first instead of making it (a core test checks that it is that model's). Of the data
# set in the page's order, its test digits first (scripts/split-data.mjs, worker/modules.js).
page_data="$(mktemp -d)"
trap 'rm -rf "$page_data"' EXIT
node scripts/split-data.mjs --whole "$page_data/test-first.bin" www/data/mnist.bin "$page_data"
"$CARGO_TARGET_DIR/release/vae" map --model www/model/default-q8.safetensors --data "$page_data/test-first.bin" \
  --page-file www/model/default-tsne.bin
node -e 'const z = require("zlib"), f = process.argv[1], b = require("fs").readFileSync(f);
  const br = z.brotliCompressSync(b, { params: { [z.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  console.log(`${f}: ${b.length} bytes; brotli (quality 11) ${br}, gzip -9 ${z.gzipSync(b, { level: 9 }).length}`);' \
  www/model/default-tsne.bin
"$CARGO_TARGET_DIR/release/vae" sample --out docs/samples.png
"$CARGO_TARGET_DIR/release/vae" train --kind cvae --latent "$CONDITIONAL_LATENT" --beta "$CONDITIONAL_BETA" \
  --epochs "$CONDITIONAL_EPOCHS" --out www/model/conditional.safetensors
"$CARGO_TARGET_DIR/release/vae" convert --f16 --model www/model/conditional.safetensors \
  --out www/model/conditional-f16.safetensors
"$CARGO_TARGET_DIR/release/vae" convert --q8 --model www/model/conditional.safetensors \
  --out www/model/conditional-q8.safetensors
# The first test digit of each label (as in tests/fixtures/pytorch-vae-h16-z2.json), redrawn as 0–9.
"$CARGO_TARGET_DIR/release/vae" restyle --model www/model/conditional.safetensors --images www/data/mnist.bin \
  --pick 901,2016,3020,4048,5033,5908,6907,7971,8928,9903 --out docs/restyle.png
