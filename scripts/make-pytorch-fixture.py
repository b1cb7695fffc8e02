"""Makes tests/fixtures/pytorch-vae-h16-z2.safetensors: "a model trained elsewhere", by PyTorch, and
what PyTorch says about it (tests/fixtures/pytorch-vae-h16-z2.json), for the tests that check that
the core, the CLI and the page read such a file and score digits as PyTorch does; with `--kind cvae`
the same for the conditional module (tests/fixtures/pytorch-cvae-h16-z2.*, below).

How it was made (rerun to check; the result is committed, so the tests need no Python):

    .tools/torch-venv/bin/python scripts/make-pytorch-fixture.py
    .tools/torch-venv/bin/python scripts/make-pytorch-fixture.py --kind cvae

- The venv is scripts/lib.sh's `setup_torch` (PyPI: torch 2.15.0, numpy 2.4.6, safetensors 0.8.0);
  this script needs the `safetensors` package besides torch.
- The module is the seed's, imported from scripts/bench/pytorch_vae.py (fc1 784→h, fc21/fc22 h→latent,
  fc3 latent→h, fc4 h→784), at hidden 16 and latent 2: 25 906 parameters, about 100 KB as f32
  (hidden 32 would be 51 K parameters, 200 KB).
- Initialised by PyTorch itself (nn.Linear's default init, torch.manual_seed(0)), then trained by the
  seed's loop for 10 epochs (710 Adam steps, lr 1e-3, batch 128, the seed's loss: BCE on the sigmoid
  output + KL, summed) on the 9 003 training digits of www/data/mnist.bin, in torch's own batch order,
  one thread. None of our code or RNG is involved.
- Saved with `safetensors.torch.save_model(model, path)`: the state_dict's names (`fc1.weight`, …),
  PyTorch's layout (a Linear's weight is [out, in]), f32, and no metadata at all (no `__metadata__`
  key), as PyTorch users save models: the reader must take the hidden width and latent size from the
  shapes, and β = 1.

The JSON holds, for the first test digit of each label (their indices in www/data/mnist.bin, which is
committed) the score `vae score` prints — the negative ELBO with z = μ, recon + β·KL with β = 1, in
nats — computed by PyTorch three ways: in float64 (the model converted with .double(): the reference),
in float32 from logits (BCE with logits, as crates/vae/src/model/loss.rs writes it), and in float32 the
seed's way (BCE on the sigmoid output, whose log PyTorch clamps at −100). Also μ (float64) and the
parts (recon, KL). Same file in, the core must give these numbers.

`--kind cvae`: the conditional module of scripts/bench/pytorch_cvae.py (fc1 takes the one-hot label
after the pixels, fc3 after z: fc1.weight [16, 794], fc3.weight [16, 12]), trained the same way with
each digit's label, saved the same way (no metadata: the reader must tell the kind from fc1's width).
Its JSON adds, per digit, the loss under each of the ten labels (`losses_by_label_f64`, recon + KL at
z = μ(x, y), float64): the reading `vae read` must give.
"""

import argparse
import json
import os
import re
import sys

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
from pytorch_vae import VAE, load_mnist_bin, seed_loss  # noqa: E402  (the seed's module, one definition)
from pytorch_cvae import CVAE, LABELS, one_hot  # noqa: E402  (the conditional module, one definition)

HIDDEN, LATENT, EPOCHS, BATCH, SEED = 16, 2, 10, 128, 0
OUT = os.path.join(ROOT, "tests", "fixtures")


def scores(model, x, seed_way=False, y=None):
    """Per image: recon, KL, recon + KL (β = 1) with z = μ, and μ; `y` the one-hot labels of a cVAE."""
    cond = () if y is None else (y,)
    with torch.no_grad():
        mu, logvar = model.encode(x, *cond)
        logits = model.decode_logits(mu, *cond)
        if seed_way:
            recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(1)
        else:
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return recon, kl, recon + kl, mu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["vae", "cvae"], default="vae")
    kind = parser.parse_args().kind
    conditional = kind == "cvae"
    name = f"pytorch-{kind}-h{HIDDEN}-z{LATENT}"
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    data = os.path.join(ROOT, "www", "data", "mnist.bin")
    images, labels, train_idx, test_idx = load_mnist_bin(data)
    y_all = one_hot(labels)
    model = CVAE(HIDDEN, LATENT) if conditional else VAE(HIDDEN, LATENT)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_idx = torch.from_numpy(train_idx)
    steps = 0
    for epoch in range(1, EPOCHS + 1):
        order = train_idx[torch.randperm(len(train_idx))]
        total = 0.0
        for i in range(0, len(order), BATCH):
            x = images[order[i:i + BATCH]]
            optimizer.zero_grad()
            if conditional:
                y = y_all[order[i:i + BATCH]]
                mu, logvar = model.encode(x, y)
                recon = torch.sigmoid(model.decode_logits(model.reparameterize(mu, logvar), y))
            else:
                recon, mu, logvar = model(x)
            loss = seed_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            total += loss.item()
            steps += 1
        print(f"epoch {epoch}: train loss {total / len(order):.2f} nats/digit", file=sys.stderr)
    model.eval()

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.safetensors")
    save_model(model, path)
    # What was written: the module's names, [out, in] weights, f32, no metadata.
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert "__metadata__" not in header, header.get("__metadata__")
    inputs = 784 + (LABELS if conditional else 0)
    assert header["fc1.weight"]["shape"] == [HIDDEN, inputs] and header["fc1.weight"]["dtype"] == "F32"
    back = load_file(path)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())

    # The first test digit of each label.
    digits = [int(next(i for i in test_idx if labels[i] == d)) for d in range(10)]
    x = images[torch.tensor(digits)]
    y = one_hot(torch.tensor([int(labels[i]) for i in digits])) if conditional else None
    recon64, kl64, loss64, mu64 = scores(model.double(), x.double(), y=None if y is None else y.double())
    by_label = None
    if conditional:
        # Each digit under each label: rows digit by digit, label by label.
        xs = x.double().repeat_interleave(LABELS, 0)
        ys = one_hot(torch.arange(LABELS).repeat(len(digits))).double()
        by_label = scores(model, xs, y=ys)[2].reshape(len(digits), LABELS)
    model.float()
    _, _, loss32, _ = scores(model, x, y=y)
    _, _, seed32, _ = scores(model, x, seed_way=True, y=y)
    f64 = lambda t: [float(v) for v in t]
    record = {
        "model": f"{name}.safetensors",
        "made_by": "scripts/make-pytorch-fixture.py",
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "hidden": HIDDEN,
        "latent": LATENT,
        "training": {"seed": SEED, "epochs": EPOCHS, "steps": steps, "batch": BATCH, "lr": 1e-3,
                     "data": "www/data/mnist.bin (training split)", "loss": "the seed's: BCE(sigmoid) + KL, summed"},
        "score": "negative ELBO with z = mu (recon + KL, beta = 1), nats per digit, as `vae score` prints",
        "digits": digits,
        "labels": [int(labels[i]) for i in digits],
        "loss_f64": f64(loss64),
        "recon_f64": f64(recon64),
        "kl_f64": f64(kl64),
        "mu_f64": [f64(row) for row in mu64],
        "loss_f32_logits": f64(loss32),
        "loss_f32_seed_bce": f64(seed32),
    }
    if conditional:
        record["kind"] = kind
        record["score"] = "negative ELBO with z = mu(x, y), y the digit's label (recon + KL), nats per digit"
        record["losses_by_label_f64"] = [f64(row) for row in by_label]
    text = json.dumps(record, indent=1)
    # Lists of numbers on one line each.
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        f.write(text + "\n")
    spread = np.max(np.abs(np.array(record["loss_f32_logits"]) - np.array(record["loss_f64"])))
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and {name}.json; {steps} steps; "
          f"scores {min(record['loss_f64']):.2f}–{max(record['loss_f64']):.2f} nats; "
          f"float32 vs float64 within {spread:.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
