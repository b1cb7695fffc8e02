#!/usr/bin/env bash
# Native training against its peer, back to back on the same machine: `vae train` (Burn, ndarray)
# and the seed's PyTorch VAE (scripts/bench/pytorch_vae.py), same data file and split (9 003 train,
# 997 test), same seed, batch 128, 2 threads each. Prints seconds per epoch and test loss per epoch
# for both, checks that PyTorch and ours compute the same losses from the same numbers, and ends with
#   RATIO native_epoch_vs_pytorch=<PyTorch's seconds per epoch / ours>   (above 1: we are ahead)
# from the median epoch after the first.
#   bash scripts/bench-native.sh [EPOCHS (3)]
# Installs what is missing: torch from PyPI in .tools/torch-venv (scripts/lib.sh, setup_torch).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
epochs="${1:-3}"
threads=2
data="$ROOT/www/data/mnist.bin"

setup_torch
py="$TORCH_VENV/bin/python"
build_cli
vae="$CARGO_TARGET_DIR/release/vae"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Both sides use 2 threads on 2 cores: anything else running skews them (PyTorch's OpenMP threads most).
# How busy the CPUs were over 2 s before starting (the load average lags by a minute):
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat; }
read -r busy0 idle0 < <(cpu_ticks); sleep 2; read -r busy1 idle1 < <(cpu_ticks)
busy=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), CPUs busy before: ${busy} %, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$busy" -gt 10 ]; then echo "# warning: something else is running (${busy} % busy): the times will be noisy"; fi
log "ours: vae train, $epochs epoch(s), RAYON_NUM_THREADS=$threads"
RAYON_NUM_THREADS=$threads "$vae" train --epochs "$epochs" --seed 0 --data "$data" --out "$out/ours.safetensors" | tee "$out/ours.log"
log "PyTorch: the seed's VAE, $epochs epoch(s), $threads threads"
OMP_NUM_THREADS=$threads "$py" scripts/bench/pytorch_vae.py train --epochs "$epochs" --seed 0 --threads "$threads" --data "$data" | tee "$out/pytorch.log"

log "check: PyTorch from our initial weights, batch order and ε (our RNG, replayed in Python)"
OMP_NUM_THREADS=$threads "$py" scripts/bench/pytorch_vae.py replica --seed 0 --threads "$threads" --data "$data" --init-out "$out/init.safetensors" | tee "$out/replica.log"
"$vae" eval --model "$out/init.safetensors" --data "$data" --seed 0 --json > "$out/ours-untrained.json"
"$vae" eval --model "$ROOT/www/model/default.safetensors" --data "$data" --seed 0 --json > "$out/ours-default.json"
"$py" scripts/bench/pytorch_vae.py eval --model "$ROOT/www/model/default.safetensors" --seed 0 --data "$data" > "$out/pytorch-default.log"

"$py" - "$out" <<'EOF'
import json, re, statistics, sys
out = sys.argv[1]

def epochs(path):
    rows = []
    for line in open(f"{out}/{path}"):
        if line.startswith("epoch"):
            f = line.split()
            test = float(re.search(r"test loss ([0-9.]+)", line).group(1))
            rows.append((int(f[1]), float(f[-2]), test))
    return rows

ours, torch_ = epochs("ours.log"), epochs("pytorch.log")
print()
print("native training, one epoch = 9 003 digits, batch 128, 2 threads")
print(f"{'epoch':>5} | {'ours s':>8} | {'ours test loss':>14} | {'PyTorch s':>9} | {'PyTorch test loss':>17}")
for (e, s, t), (_, ps, pt) in zip(ours, torch_):
    print(f"{e:>5} | {s:>8.3f} | {t:>14.2f} | {ps:>9.3f} | {pt:>17.2f}")
pick = lambda rows: statistics.median([s for _, s, _ in rows[1:]] or [rows[0][1]])
o, p = pick(ours), pick(torch_)
print(f"median epoch after the first: ours {o:.3f} s, PyTorch {p:.3f} s")

# Same numbers in, same losses out.
replica = open(f"{out}/replica.log").read()
r_untrained = json.loads(re.search(r"^untrained (.*)$", replica, re.M).group(1))
r_epoch1 = float(re.search(r"^epoch +1 .*test loss ([0-9.]+)", replica, re.M).group(1))
o_untrained = json.load(open(f"{out}/ours-untrained.json"))
o_default = json.load(open(f"{out}/ours-default.json"))
p_default = json.loads(re.search(r"^eval (.*)$", open(f"{out}/pytorch-default.log").read(), re.M).group(1))
checks = [
    ("untrained (our init, seed 0), test loss z sampled", o_untrained["loss"], r_untrained["loss"], 1e-4),
    ("untrained (our init, seed 0), test loss z = μ", o_untrained["loss_mu"], r_untrained["loss_mu"], 1e-4),
    ("after epoch 1 (our init, order, ε), test loss", ours[0][2], r_epoch1, 2e-3),
    ("default model, test loss z sampled", o_default["loss"], p_default["loss"], 1e-4),
    ("default model, test loss z = μ", o_default["loss_mu"], p_default["loss_mu"], 1e-4),
]
print()
print("check: the same computation (nats/image on the 997 test digits; PyTorch fed our numbers)")
print(f"{'figure':<52} | {'ours':>9} | {'PyTorch':>9} | rel. diff")
bad = 0
for name, a, b, tol in checks:
    rel = abs(a - b) / abs(a)
    bad += rel > tol
    print(f"{name:<52} | {a:>9.3f} | {b:>9.3f} | {rel:.1e}{'  MISMATCH (bound %.0e)' % tol if rel > tol else ''}")
print()
print(f"RATIO native_epoch_vs_pytorch={p / o:.2f}")
sys.exit(1 if bad else 0)
EOF
