"""The seed's PyTorch VAE, on our data file and split: the native peer of `vae train`.

    python pytorch_vae.py train   [--data www/data/mnist.bin] [--epochs 3] [--batch 128] [--seed 0] [--threads 2]
    python pytorch_vae.py replica [--data …] [--epochs 1] [--seed 0] [--threads 2] [--init-out FILE]
    python pytorch_vae.py eval    --model FILE [--data …] [--seed 0]

`train` is the seed's code (PyTorch's examples/vae): fc1 784→400, fc21/fc22 400→20, fc3 20→400,
fc4 400→784; loss = BCE summed over the pixels + KL, summed over the batch; Adam lr 1e-3; batch 128,
shuffled every epoch by torch's RNG (torch.manual_seed(seed)); `loss.item()` after every step, as the
seed does. The only change: the digits are read once into one float tensor and batches are taken by
indexing it (the seed's DataLoader converts digit by digit, which would only slow PyTorch down).
Training is timed per epoch (training steps only, not the test pass), like `vae train`.

`replica` and `eval` check that PyTorch and ours compute the same thing: they reproduce our host RNG
(crates/vae/src/rng.rs, xoshiro256++), so the initial weights (crates/vae/src/model/weights.rs, init),
the batch order and ε are ours, and the loss is written as ours (BCE from logits, mean over the
batch). Same numbers in, the test losses must agree with `vae eval` / `vae train` to float rounding.

Every line that a script reads starts with a keyword: `epoch`, `untrained`, `eval`.
"""

import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PIXELS = 784
MASK = (1 << 64) - 1


def load_mnist_bin(path):
    """Our data file (format: crates/vae/src/data.rs): labels, split (1 = test), pixels × 255."""
    raw = open(path, "rb").read()
    if raw[:4] != b"LSMN":
        sys.exit(f"{path}: not an LSMN data file")
    version, n = struct.unpack_from("<II", raw, 4)
    rows, cols = struct.unpack_from("<HH", raw, 12)
    if version != 1 or rows * cols != PIXELS:
        sys.exit(f"{path}: version {version}, {rows}×{cols}: not what this script reads")
    labels = np.frombuffer(raw, np.uint8, n, 16)
    split = np.frombuffer(raw, np.uint8, n, 16 + n)
    pixels = np.frombuffer(raw, np.uint8, n * PIXELS, 16 + 2 * n).reshape(n, PIXELS)
    images = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0))
    train = np.nonzero(split == 0)[0]
    test = np.nonzero(split == 1)[0]
    return images, labels, train, test


class VAE(nn.Module):
    """The seed's module, names and all."""

    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, PIXELS)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps=None):
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + eps * std

    def decode_logits(self, z):
        return self.fc4(F.relu(self.fc3(z)))

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, PIXELS))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def seed_loss(recon_x, x, mu, logvar):
    """The seed's loss_function: summed over pixels and over the batch."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, PIXELS), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


# ---- the seed's training, timed -------------------------------------------------------------------


def cmd_train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    images, _, train_idx, test_idx = load_mnist_bin(args.data)
    train_idx = torch.from_numpy(train_idx)
    test_x = images[torch.from_numpy(test_idx)]
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {len(train_idx)} training digits, "
          f"{len(test_idx)} test digits, batch {args.batch}", flush=True)
    with torch.no_grad():
        total = 0.0
        for i in range(0, len(test_x), args.batch):
            data = test_x[i:i + args.batch]
            recon, mu, logvar = model(data)
            total += seed_loss(recon, data, mu, logvar).item()
    print(f"untrained test loss {total / len(test_x):.2f}", flush=True)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = train_idx[torch.randperm(len(train_idx))]
        train_loss = 0.0
        for i in range(0, len(order), args.batch):
            data = images[order[i:i + args.batch]]
            optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = seed_loss(recon, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for i in range(0, len(test_x), args.batch):
                data = test_x[i:i + args.batch]
                recon, mu, logvar = model(data)
                test_loss += seed_loss(recon, data, mu, logvar).item()
        print(f"epoch {epoch:>3}  train loss {train_loss / len(order):.2f}  test loss {test_loss / len(test_x):.2f}"
              f"  {seconds:.3f} s", flush=True)


# ---- our host RNG and our computation, to check that both sides compute the same thing -------------


class Rng:
    """crates/vae/src/rng.rs: xoshiro256++ seeded by SplitMix64; Box–Muller normals; Fisher–Yates."""

    def __init__(self, seed):
        x = seed & MASK
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            s.append(z ^ (z >> 31))
        self.s = s

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        t = (s0 + s3) & MASK
        result = ((((t << 23) | (t >> 41)) & MASK) + s0) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & MASK
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self):
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n):
        return (self.next_u64() * n) >> 64

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(math.tau * u2)

    def normals(self, n):
        return np.array([self.normal() for _ in range(n)], dtype=np.float64).astype(np.float32)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def our_init(seed, hidden=400, latent=20):
    """VaeWeights::init: PyTorch's nn.Linear bounds (±1/√inputs), values from our RNG, layer by
    layer (weight [outputs, inputs] row-major, then bias)."""
    rng = Rng(seed)
    state = {}
    for name, inputs, outputs in [("fc1", PIXELS, hidden), ("fc21", hidden, latent), ("fc22", hidden, latent),
                                  ("fc3", latent, hidden), ("fc4", hidden, PIXELS)]:
        bound = 1.0 / math.sqrt(inputs)
        for part, n, shape in [("weight", inputs * outputs, (outputs, inputs)), ("bias", outputs, (outputs,))]:
            u = np.array([rng.uniform() for _ in range(n)], dtype=np.float64)
            state[f"{name}.{part}"] = torch.from_numpy(((u * 2.0 - 1.0) * bound).astype(np.float32).reshape(shape))
    return state


def recon_per_image(logits, x):
    """BCE from logits summed over the pixels, per image (crates/vae/src/model/loss.rs, recon_per_image)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def kl_per_image(mu, logvar):
    """KL(N(μ, σ²) ‖ N(0, I)) per image (crates/vae/src/model/loss.rs, kl_per_image)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def our_parts(model, x, eps):
    """Per-image reconstruction (BCE from logits, as crates/vae/src/model/loss.rs) and KL; z = μ when eps is None."""
    mu, logvar = model.encode(x)
    z = mu if eps is None else model.reparameterize(mu, logvar, eps)
    return recon_per_image(model.decode_logits(z), x), kl_per_image(mu, logvar)


def our_evaluate(model, images, test_idx, rng, latent=20, chunk=500):
    """Inference::evaluate: chunks of 500 test digits, ε from `rng`; loss with z sampled and with z = μ."""
    sums = np.zeros(4)
    with torch.no_grad():
        for i in range(0, len(test_idx), chunk):
            idx = test_idx[i:i + chunk]
            x = images[torch.from_numpy(idx)]
            eps = torch.from_numpy(rng.normals(len(idx) * latent).reshape(len(idx), latent))
            recon, kl = our_parts(model, x, eps)
            recon_mu, kl_mu = our_parts(model, x, None)
            sums += [recon.sum().item(), kl.sum().item(), recon_mu.sum().item(), kl_mu.sum().item()]
    n = len(test_idx)
    return {"n": n, "loss": (sums[0] + sums[1]) / n, "recon": sums[0] / n, "kl": sums[1] / n,
            "loss_mu": (sums[2] + sums[3]) / n}


def save_ours(state, path):
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, path,
              metadata={"format": "pt", "model": "latent-sketchpad-vae", "input": "784",
                        "hidden": str(state["fc1.weight"].shape[0]), "latent": str(state["fc21.weight"].shape[0]),
                        "beta": "1"})


def cmd_replica(args):
    """Trainer::new + train_epoch + evaluate, in PyTorch: our init, our batch order, our ε."""
    torch.set_num_threads(args.threads)
    images, _, train_idx, test_idx = load_mnist_bin(args.data)
    state = our_init(args.seed)
    if args.init_out:
        save_ours(state, args.init_out)
    model = VAE()
    model.load_state_dict(state)
    eval_rng = Rng(args.seed ^ 0x7E57)
    print("untrained " + json.dumps(our_evaluate(model, images, test_idx, Rng(args.seed))), flush=True)
    rng = Rng(args.seed)
    order = [int(i) for i in train_idx]
    rng.shuffle(order)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    first = None
    for epoch in range(1, args.epochs + 1):
        totals = np.zeros(2)
        for i in range(0, len(order), args.batch):
            batch = order[i:i + args.batch]
            x = images[torch.tensor(batch)]
            eps = torch.from_numpy(rng.normals(len(batch) * 20).reshape(len(batch), 20))
            recon, kl = our_parts(model, x, eps)
            loss = (recon + kl).mean()
            if first is None:
                first = loss.item()
                print(f"first step loss {first:.4f}", flush=True)
            totals += [recon.sum().item(), kl.sum().item()]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        rng.shuffle(order)
        t = our_evaluate(model, images, test_idx, eval_rng)
        print(f"epoch {epoch:>3}  train loss {totals.sum() / len(order):.2f}  test loss {t['loss']:.2f}"
              f"  (z = μ {t['loss_mu']:.2f})", flush=True)


def cmd_eval(args):
    from safetensors.torch import load_file
    images, _, _, test_idx = load_mnist_bin(args.data)
    state = load_file(args.model)
    model = VAE(state["fc1.weight"].shape[0], state["fc21.weight"].shape[0])
    model.load_state_dict(state)
    print("eval " + json.dumps(our_evaluate(model, images, test_idx, Rng(args.seed), state["fc21.weight"].shape[0])))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ["train", "replica", "eval"]:
        p = sub.add_parser(name)
        p.add_argument("--data", default="www/data/mnist.bin")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--batch", type=int, default=128)
        p.add_argument("--epochs", type=int, default=3 if name == "train" else 1)
        if name == "replica":
            p.add_argument("--init-out")
        if name == "eval":
            p.add_argument("--model", required=True)
    args = parser.parse_args()
    {"train": cmd_train, "replica": cmd_replica, "eval": cmd_eval}[args.command](args)


if __name__ == "__main__":
    main()
