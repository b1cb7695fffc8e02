#!/usr/bin/env bash
# The conditional model against its PyTorch reference, in one run on the same machine: the same
# module (scripts/bench/pytorch_cvae.py), the same data file and split, the same configuration
# (scripts/lib.sh, CONDITIONAL_*), seed 0. Each side trains its own model with its own RNG, and each
# is measured by its own code on the test split: test loss (z = μ, the digit given), the reading
# (lowest per-label loss) and by IWAE (K = 64), the redraws and prior samples read as asked by a 5-NN
# judge on the training pixels, the slant kept, and the seed model's neighbours' reading. Our
# evaluation of PyTorch's trained model is printed too: same file, two implementations. Training is
# timed on one thread each (PyTorch's `torch.set_num_threads(1)`, ours RAYON_NUM_THREADS=1), and the
# script ends with
#   RATIO conditional_epoch_vs_pytorch=<PyTorch's median epoch / ours>   (above 1: we are ahead)
#   bash scripts/bench-conditional.sh
# Installs what is missing: torch from PyPI in .tools/torch-venv (scripts/lib.sh, setup_torch).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
setup_torch
py="$TORCH_VENV/bin/python"
data="$ROOT/www/data/mnist.bin"
seed_model="$ROOT/www/model/default.safetensors"
k=64
build_cli
vae="$CARGO_TARGET_DIR/release/vae"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
config=(--latent "$CONDITIONAL_LATENT" --beta "$CONDITIONAL_BETA" --epochs "$CONDITIONAL_EPOCHS")
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# configuration: latent $CONDITIONAL_LATENT, hidden 400, β $CONDITIONAL_BETA, $CONDITIONAL_EPOCHS epochs, Adam 1e-3, batch 128, seed 0"

log "ours: vae train --kind cvae ${config[*]} (1 thread)"
RAYON_NUM_THREADS=1 "$vae" train --kind cvae "${config[@]}" --seed 0 --data "$data" --out "$out/ours.safetensors" \
  | tee "$out/ours-train.log"
"$vae" eval --model "$out/ours.safetensors" --data "$data" --iw "$k" --seed-model "$seed_model" --seed 0 --json \
  > "$out/ours.json"
log "PyTorch: pytorch_cvae.py train ${config[*]} (1 thread)"
OMP_NUM_THREADS=1 "$py" scripts/bench/pytorch_cvae.py train "${config[@]}" --seed 0 --iwae-k "$k" --data "$data" \
  --seed-model "$seed_model" --save "$out/torch.safetensors" | tee "$out/torch.log"
log "ours, on PyTorch's trained model"
"$vae" eval --model "$out/torch.safetensors" --data "$data" --iw "$k" --seed-model "$seed_model" --seed 0 --json \
  > "$out/ours-on-torch.json"

"$py" - "$out" "$CONDITIONAL_BETA" <<'PY'
import json, re, statistics, sys
out, beta = sys.argv[1], float(sys.argv[2])
torch_m = json.loads(re.search(r"^metrics (.*)$", open(f"{out}/torch.log").read(), re.M).group(1))
def ours(path):
    v = json.load(open(f"{out}/{path}"))
    c = v["conditional"]
    return {"loss": v["loss_mu"], "iwae_true": -v["iw_nll"], "reading": c["reading"], "reading_iwae": c["reading_iwae"],
            "redraw": c["redrawn_as_asked"], "slant_r": c["slant_kept"], "prior": c["samples_as_asked"],
            "judge": c["judge_accuracy"], "seed": c["neighbour_reading"], "combined": c["combined_reading"]}
o, ot = ours("ours.json"), ours("ours-on-torch.json")
rows = [("test loss, z = μ, digit given (nats)", "loss", "{:.2f}"),
        ("IWAE bound on log p(x), the digit given, K = 64 (nats)", "iwae_true", "{:.2f}"),
        ("reading: lowest per-label loss (%)", "reading", "{:.1f}"),
        ("reading by each label's IWAE bound (%)", "reading_iwae", "{:.1f}"),
        ("redrawn as another digit, read as asked (%)", "redraw", "{:.1f}"),
        ("slant kept (r)", "slant_r", "{:.2f}"),
        ("prior samples of a digit, read as asked (%)", "prior", "{:.1f}"),
        ("the seed model's 5 latent neighbours (%)", "seed", "{:.1f}"),
        ("combined: the reading among those neighbours (%)", "combined", "{:.1f}"),
        ("the judge itself on the test digits (%)", "judge", "{:.1f}")]
print()
print("| figure (997 test digits) | ours (`vae`) | PyTorch | ours, measuring PyTorch's model |")
print("|---|---|---|---|")
for name, key, fmt in rows:
    # PyTorch's file has no metadata, so β reads as 1 there: its β-weighted loss is not comparable.
    theirs = "—" if key == "loss" else fmt.format(ot[key])
    print(f"| {name} | {fmt.format(o[key])} | {fmt.format(torch_m[key])} | {theirs} |")
def epoch_seconds(path):
    return [float(re.search(r"([0-9.]+) s$", line).group(1)) for line in open(f"{out}/{path}") if line.startswith("epoch")]
ours_s, torch_s = epoch_seconds("ours-train.log"), epoch_seconds("torch.log")
median = lambda xs: statistics.median(xs[1:] or xs)
print()
print(f"one training epoch (9 003 digits, batch 128, one thread), median after the first: ours {median(ours_s):.3f} s, "
      f"PyTorch {median(torch_s):.3f} s")
# Same model, two implementations of the measures: they must agree (the IWAE bound and the samples
# use each side's own random numbers, so they agree only to their noise).
for key, tol in [("reading", 0.35), ("judge", 0.15), ("redraw", 0.5), ("slant_r", 0.01)]:
    if abs(ot[key] - torch_m[key]) > tol:
        print(f"MISMATCH: {key}: ours measuring PyTorch's model {ot[key]}, PyTorch {torch_m[key]}")
        sys.exit(1)
print("check: our measures of PyTorch's model agree with PyTorch's own (reading, judge, redraws, slant)")
print(f"RATIO conditional_epoch_vs_pytorch={median(torch_s) / median(ours_s):.2f}")
PY
