#!/usr/bin/env bash
# Training speed natively: one epoch of `vae train` (defaults: batch 128, 71 steps over 9 003 digits)
# on burn-ndarray and on Burn's wgpu backend (whatever Vulkan adapter is present; lavapipe on a CPU
# machine), measured in the same run; prints seconds per epoch and the ratio wgpu / ndarray.
#   bash scripts/bench-train.sh [EPOCHS]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
epochs="${1:-2}"
apt_install mesa-vulkan-drivers libvulkan1
cargo build --release --workspace -q
vae="$CARGO_TARGET_DIR/release/vae"
out="$(mktemp -d)"
declare -A per_epoch
for backend in ndarray wgpu; do
  log "$backend: $epochs epoch(s)"
  "$vae" --backend "$backend" train --epochs "$epochs" --out "$out/$backend.safetensors" | tee "$out/$backend.log"
  # The first epoch of wgpu compiles its kernels: report the last epoch.
  per_epoch[$backend]=$(grep '^epoch' "$out/$backend.log" | tail -1 | awk '{print $(NF-1)}')
done
echo "seconds per epoch: ndarray ${per_epoch[ndarray]}, wgpu ${per_epoch[wgpu]}"
awk -v a="${per_epoch[ndarray]}" -v b="${per_epoch[wgpu]}" 'BEGIN { printf "ratio wgpu / ndarray: %.2f\n", b / a }'
