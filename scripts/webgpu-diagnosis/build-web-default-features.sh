#!/usr/bin/env bash
# Builds the page's wasm as the spike did, with Burn's DEFAULT features back on (burn-wgpu's
# autotune + fusion, cubecl's defaults incl. autotune persistence), into www/pkg-autotune, for
# scripts/webgpu-diagnosis/diagnose-webgpu.mjs. The build runs in a git worktree with one line of the workspace
# Cargo.toml changed, so this checkout keeps default-features = false.
#   CARGO_TARGET_DIR=../target-rootcause scripts/webgpu-diagnosis/build-web-default-features.sh
# env: VARIANT_WORKTREE (../rc-variant/src), TOOLS_DIR (wasm-bindgen 0.2.130 under bin/; default .tools)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WT="${VARIANT_WORKTREE:-$ROOT/../rc-variant/src}"
if [ ! -d "$WT" ]; then git -C "$ROOT" worktree add --detach "$WT" HEAD; fi
sed -i 's|^burn = { version = "0.22.1", default-features = false }|burn = { version = "0.22.1" }|' "$WT/Cargo.toml"
grep -q '^burn = { version = "0.22.1" }' "$WT/Cargo.toml"
TOOLS_DIR="${TOOLS_DIR:-$ROOT/.tools}"
if [ -d "$TOOLS_DIR" ] && [ ! -e "$WT/.tools" ]; then ln -s "$(cd "$TOOLS_DIR" && pwd)" "$WT/.tools"; fi
bash "$WT/scripts/build-web.sh"
rm -rf "$ROOT/www/pkg-autotune"
cp -r "$WT/www/pkg" "$ROOT/www/pkg-autotune"
echo "www/pkg-autotune: $(du -sh "$ROOT/www/pkg-autotune/vae_web_bg.wasm" | cut -f1)"
