"""A label-conditioned VAE (cVAE) in PyTorch, on our data file and split: the reference for the `cvae`
model kind, and the tool of its configuration search (docs/conditional.md).

    python pytorch_cvae.py train --save FILE [--latent 8] [--hidden 400] [--beta 5] [--epochs 30]
                                 [--warmup 0] [--free-bits 0] [--batch 128] [--seed 0] [--threads 1] [--data …]
    python pytorch_cvae.py eval  --model FILE [--beta 5] [--seed-model www/model/default.safetensors] [--data …]

The defaults are the configuration chosen by the search in docs/conditional.md.

The module is the seed's (scripts/bench/pytorch_vae.py, VAE) with the digit's one-hot label (10)
concatenated after the pixels at the encoder input and after z at the decoder input: fc1.weight
[hidden, 784 + 10], fc21/fc22 [latent, hidden], fc3.weight [hidden, latent + 10], fc4.weight
[784, hidden]. Loss per image = BCE from logits summed over the pixels + β·KL, mean over the batch
(crates/vae/src/model/loss.rs); Adam lr 1e-3. `train` uses PyTorch's own init and RNG
(torch.manual_seed(seed)), batches shuffled every epoch, then runs `eval` on the trained module;
`--save` writes it with safetensors.torch.save_model (no metadata).
Two optional remedies against a decoder that ignores its label: `--warmup E` raises β linearly from 0
to β over the first E epochs (per step); `--free-bits λ` replaces the KL term by
Σ_j max(λ, batch mean of KL_j) (Kingma et al. 2016), so no latent dimension is pushed below λ nats.

`eval` prints one keyword-led line per measure, on the test split:
  loss        z = μ(x, true label), recon + β·KL, nats per digit (and its two parts)
  reading     argmin over the 10 labels of recon + KL (β = 1, z = μ(x, label)): % equal to the true label
  iwae        argmin over labels of the IWAE bound of −log p(x | label), K samples: % correct; and the
              mean IWAE bound of log p(x | true label) (pixels are grey levels: a bound of the BCE "likelihood")
  redraw      z = μ(x, true label) decoded with each of the 9 other labels: % that the judge reads as
              the label asked for
  slant       Pearson r between the slant of the test digit and the mean slant of its 9 redraws
  prior       z ~ N(0, I) (temperature 1, fixed seed), decoded with each label: % read as asked
  judge       the judge's own accuracy on the test digits
  seed        the seed model's reading: 5-NN on its μ (www/model/default.safetensors), train → test;
              `combined`: the cVAE's reading restricted to the labels among those 5 neighbours
  metrics     all of the above on one line (a row of docs/conditional.md)
The judge is independent of the model: a 5-NN on the training pixels (Euclidean, majority vote, a tie
going to the tied label with the nearer neighbour). Decoded images are the decoder's mean (sigmoid of
the logits). Slant is measured by image moments: with the pixel values as mass, x the column and
y the row, slant = cov(x, y) / var(y), the shear that would make the digit upright.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_vae import PIXELS, VAE, kl_per_image, load_mnist_bin, recon_per_image  # noqa: E402

LABELS = 10
SIDE = 28


class CVAE(VAE):
    """The seed's module, with the one-hot label after the pixels (encoder) and after z (decoder)."""

    def __init__(self, hidden, latent):
        nn.Module.__init__(self)
        self.fc1 = nn.Linear(PIXELS + LABELS, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent + LABELS, hidden)
        self.fc4 = nn.Linear(hidden, PIXELS)

    def encode(self, x, y):
        return VAE.encode(self, torch.cat([x, y], 1))

    def decode_logits(self, z, y):
        return VAE.decode_logits(self, torch.cat([z, y], 1))


def one_hot(labels):
    """[n, 10] one-hot rows of a tensor or of a (possibly read-only) numpy array of labels."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels.astype(np.int64))
    return torch.nn.functional.one_hot(labels.long(), LABELS).float()


def read_state(path):
    """The tensors of a safetensors file, or a clear error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(path)
    except (OSError, SafetensorError) as e:
        sys.exit(f"{path}: cannot be read as safetensors ({e})")


def shape_of(state, path):
    """(hidden, latent) of a saved cVAE, or a clear error."""
    try:
        hidden, inputs = state["fc1.weight"].shape
        latent = state["fc21.weight"].shape[0]
    except KeyError as e:
        sys.exit(f"{path}: no tensor {e}: not a cVAE file")
    if inputs != PIXELS + LABELS or tuple(state["fc3.weight"].shape) != (hidden, latent + LABELS):
        sys.exit(f"{path}: fc1.weight {list(state['fc1.weight'].shape)}, fc3.weight "
                 f"{list(state['fc3.weight'].shape)}: not a cVAE (784 + 10 inputs, latent + 10 decoder inputs)")
    return hidden, latent


# ---- training -------------------------------------------------------------------------------------


def kl_term(kl_dims, free_bits):
    """The KL term of the loss, per image: Σ_j KL_j, or with free bits Σ_j max(λ, batch mean of KL_j)."""
    if free_bits <= 0:
        return kl_dims.sum(1)
    return torch.clamp(kl_dims.mean(0), min=free_bits).sum().expand(kl_dims.shape[0])


def cmd_train(args):
    torch.manual_seed(args.seed)
    images, labels, train_idx, test_idx = load_mnist_bin(args.data)
    train_idx = torch.from_numpy(train_idx)
    y_all = one_hot(labels)
    model = CVAE(args.hidden, args.latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = math.ceil(len(train_idx) / args.batch)
    step = 0
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s); latent {args.latent}, hidden "
          f"{args.hidden}, β {args.beta}, warm-up {args.warmup} epochs, free bits {args.free_bits}, "
          f"{args.epochs} epochs, batch {args.batch}, seed {args.seed}", flush=True)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = train_idx[torch.randperm(len(train_idx))]
        totals = np.zeros(2)
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            x, y = images[idx], y_all[idx]
            warm = min(1.0, step / (args.warmup * steps_per_epoch)) if args.warmup > 0 else 1.0
            mu, logvar = model.encode(x, y)
            recon = recon_per_image(model.decode_logits(model.reparameterize(mu, logvar), y), x)
            kl_dims = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
            loss = (recon + args.beta * warm * kl_term(kl_dims, args.free_bits)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += [recon.sum().item(), kl_dims.sum().item()]
            step += 1
        print(f"epoch {epoch:>3}  train recon {totals[0] / len(order):.2f}  KL {totals[1] / len(order):.2f}"
              f"  β now {args.beta * warm:.3g}  {time.perf_counter() - start:.2f} s", flush=True)
    model.eval()
    if args.save:
        from safetensors.torch import save_model
        save_model(model, args.save)
        print(f"# saved {args.save}", flush=True)
    evaluate(model, images, labels, train_idx.numpy(), test_idx, args)


# ---- evaluation -----------------------------------------------------------------------------------


class Judge:
    """5-NN on the training pixels (Euclidean); majority vote, a tie going to the tied label whose
    first neighbour is nearer."""

    def __init__(self, train_x, train_labels, k=5):
        self.x = train_x
        self.sq = (train_x * train_x).sum(1)
        self.labels = torch.as_tensor(train_labels, dtype=torch.long)
        self.k = k

    def neighbours(self, queries, chunk=2000):
        out = []
        for i in range(0, len(queries), chunk):
            q = queries[i:i + chunk]
            d = (q * q).sum(1, keepdim=True) + self.sq[None, :] - 2.0 * q @ self.x.T
            out.append(d.topk(self.k, dim=1, largest=False).indices)
        return self.labels[torch.cat(out)]

    def read(self, queries):
        return vote(self.neighbours(queries))


def vote(neighbour_labels):
    """Majority of each row's labels (nearest first); a tie goes to the label seen first."""
    k = neighbour_labels.shape[1]
    counts = torch.nn.functional.one_hot(neighbour_labels, LABELS).float()   # [n, k, 10]
    rank_bonus = (k - torch.arange(k, dtype=torch.float32))[None, :, None] / (k + 1)  # < 1: breaks ties only
    first = (counts * rank_bonus).amax(1)
    return (counts.sum(1) + first).argmax(1)


def slant(images):
    """Shear of the pixel mass, cov(x, y) / var(y), x the column and y the row (image moments)."""
    m = images.reshape(-1, SIDE, SIDE).double()
    rows = torch.arange(SIDE, dtype=torch.float64)[None, :, None]
    cols = torch.arange(SIDE, dtype=torch.float64)[None, None, :]
    mass = m.sum((1, 2)).clamp_min(1e-9)
    my = (m * rows).sum((1, 2)) / mass
    mx = (m * cols).sum((1, 2)) / mass
    cov = (m * (cols - mx[:, None, None]) * (rows - my[:, None, None])).sum((1, 2)) / mass
    var = (m * (rows - my[:, None, None]) ** 2).sum((1, 2)) / mass
    return (cov / var.clamp_min(1e-9)).float()


def per_label_losses(model, x, chunk=1000):
    """[n, 10] recon + KL (β = 1) with z = μ(x, label), and the recon and KL of each."""
    recon = torch.empty(len(x), LABELS)
    kl = torch.empty(len(x), LABELS)
    for c in range(LABELS):
        for i in range(0, len(x), chunk):
            xb = x[i:i + chunk]
            y = one_hot(torch.full((len(xb),), c))
            mu, logvar = model.encode(xb, y)
            recon[i:i + chunk, c] = recon_per_image(model.decode_logits(mu, y), xb)
            kl[i:i + chunk, c] = kl_per_image(mu, logvar)
    return recon, kl


def iwae_bounds(model, x, k, generator, chunk=100):
    """[n, 10] IWAE bound of log p(x | label) with k samples of q(z | x, label):
    log (1/k) Σ exp(−BCE(x; z_i, label) + log N(z_i; 0, I) − log q(z_i | x, label))."""
    out = torch.empty(len(x), LABELS)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for c in range(LABELS):
        for i in range(0, len(x), chunk):
            xb = x[i:i + chunk]
            n = len(xb)
            y = one_hot(torch.full((n,), c))
            mu, logvar = model.encode(xb, y)
            eps = torch.randn(n, k, mu.shape[1], generator=generator)
            z = mu[:, None, :] + eps * torch.exp(0.5 * logvar)[:, None, :]
            logits = model.decode_logits(z.reshape(n * k, -1), y.repeat_interleave(k, 0))
            log_px = -recon_per_image(logits, xb.repeat_interleave(k, 0)).reshape(n, k)
            log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(2)
            log_qz = (-0.5 * eps.pow(2) - half_log_2pi - 0.5 * logvar[:, None, :]).sum(2)
            out[i:i + chunk, c] = torch.logsumexp(log_px + log_pz - log_qz, 1) - math.log(k)
    return out


def seed_neighbour_labels(path, images, labels, train_idx, test_idx):
    """Labels of the 5 training digits nearest to each test digit in the seed model's μ space."""
    state = read_state(path)
    seed = VAE(state["fc1.weight"].shape[0], state["fc21.weight"].shape[0])
    seed.load_state_dict(state)
    mu_train = seed.encode(images[train_idx])[0]
    mu_test = seed.encode(images[test_idx])[0]
    return Judge(mu_train, labels[train_idx]).neighbours(mu_test)


def evaluate(model, images, labels, train_idx, test_idx, args):
    torch.manual_seed(args.eval_seed)
    generator = torch.Generator().manual_seed(args.eval_seed)
    metrics = {}
    with torch.no_grad():
        x = images[torch.from_numpy(np.asarray(test_idx))]
        truth = torch.as_tensor(labels[test_idx], dtype=torch.long)
        n = len(x)
        judge = Judge(images[torch.from_numpy(np.asarray(train_idx))], labels[train_idx])

        recon, kl = per_label_losses(model, x)
        true_recon = recon.gather(1, truth[:, None]).squeeze(1)
        true_kl = kl.gather(1, truth[:, None]).squeeze(1)
        metrics["loss"] = (true_recon + args.beta * true_kl).mean().item()
        metrics["recon"] = true_recon.mean().item()
        metrics["kl"] = true_kl.mean().item()
        print(f"loss {metrics['loss']:.2f} nats/digit (test, z = μ, true label: recon {metrics['recon']:.2f}"
              f" + β {args.beta:g} × KL {metrics['kl']:.2f})", flush=True)
        reading = (recon + kl).argmin(1)
        metrics["reading"] = 100 * (reading == truth).float().mean().item()
        print(f"reading {metrics['reading']:.1f} % (argmin over the 10 labels of recon + KL, β = 1,"
              f" z = μ(x, label))", flush=True)

        bounds = iwae_bounds(model, x, args.iwae_k, generator)
        metrics["reading_iwae"] = 100 * (bounds.argmax(1) == truth).float().mean().item()
        metrics["iwae_true"] = bounds.gather(1, truth[:, None]).mean().item()
        print(f"iwae reading {metrics['reading_iwae']:.1f} % (argmax over labels of the IWAE bound, K ="
              f" {args.iwae_k}); mean bound of log p(x | true label) {metrics['iwae_true']:.2f} nats", flush=True)

        mu, _ = model.encode(x, one_hot(truth))
        others = torch.stack([torch.tensor([c for c in range(LABELS) if c != t]) for t in truth.tolist()])
        asked = others.reshape(-1)                                   # [n·9], digit by digit
        redraws = torch.sigmoid(model.decode_logits(mu.repeat_interleave(LABELS - 1, 0), one_hot(asked)))
        metrics["redraw"] = 100 * (judge.read(redraws) == asked).float().mean().item()
        print(f"redraw {metrics['redraw']:.1f} % read as asked (z = μ(x, true label) decoded with each of"
              f" the 9 other labels, {len(asked)} images, judged by 5-NN on the training pixels)", flush=True)

        redraw_slant = slant(redraws).reshape(n, LABELS - 1).mean(1)
        metrics["slant_r"] = float(np.corrcoef(slant(x).numpy(), redraw_slant.numpy())[0, 1])
        print(f"slant r {metrics['slant_r']:.3f} (Pearson, slant cov(x, y)/var(y) of the test digit vs. the"
              f" mean slant of its 9 redraws)", flush=True)

        latent = mu.shape[1]
        per_digit = args.prior_samples
        z = torch.randn(LABELS * per_digit, latent, generator=generator)
        wanted = torch.arange(LABELS).repeat_interleave(per_digit)
        samples = torch.sigmoid(model.decode_logits(z, one_hot(wanted)))
        read = judge.read(samples)
        metrics["prior"] = 100 * (read == wanted).float().mean().item()
        worst = min(range(LABELS), key=lambda c: (read[wanted == c] == c).float().mean().item())
        metrics["prior_worst"] = f"{worst}:{100 * (read[wanted == worst] == worst).float().mean().item():.0f}"
        print(f"prior {metrics['prior']:.1f} % read as asked (z ~ N(0, I), temperature 1, {per_digit} per digit,"
              f" seed {args.eval_seed}; worst digit {metrics['prior_worst']} %)", flush=True)

        metrics["judge"] = 100 * (judge.read(x) == truth).float().mean().item()
        print(f"judge {metrics['judge']:.1f} % (5-NN on the training pixels, on the {n} test digits)", flush=True)

        if args.seed_model:
            neighbours = seed_neighbour_labels(args.seed_model, images, labels,
                                               torch.from_numpy(np.asarray(train_idx)), test_idx)
            metrics["seed"] = 100 * (vote(neighbours) == truth).float().mean().item()
            among = torch.nn.functional.one_hot(neighbours, LABELS).amax(1).bool()     # [n, 10]
            combined = (recon + kl).masked_fill(~among, float("inf")).argmin(1)
            metrics["combined"] = 100 * (combined == truth).float().mean().item()
            print(f"seed {metrics['seed']:.1f} % (5-NN on the seed model's μ, {args.seed_model}); combined"
                  f" {metrics['combined']:.1f} % (the reading's argmin among the labels of those 5 neighbours)",
                  flush=True)
    print("metrics " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()}),
          flush=True)
    return metrics


def cmd_eval(args):
    images, labels, train_idx, test_idx = load_mnist_bin(args.data)
    state = read_state(args.model)
    model = CVAE(*shape_of(state, args.model))
    model.load_state_dict(state)
    model.eval()
    evaluate(model, images, labels, train_idx, test_idx, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ["train", "eval"]:
        p = sub.add_parser(name)
        p.add_argument("--data", default="www/data/mnist.bin")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--beta", type=float, default=5.0, help="β of the loss (eval: of the reported test loss)")
        p.add_argument("--eval-seed", type=int, default=0, help="seed of the IWAE ε and the prior samples")
        p.add_argument("--iwae-k", type=int, default=64)
        p.add_argument("--prior-samples", type=int, default=100, help="prior samples per digit")
        p.add_argument("--seed-model", default="www/model/default.safetensors",
                       help="the seed VAE whose μ-space 5-NN reading is reported ('' to skip)")
        if name == "train":
            p.add_argument("--save")
            p.add_argument("--latent", type=int, default=8)
            p.add_argument("--hidden", type=int, default=400)
            p.add_argument("--epochs", type=int, default=30)
            p.add_argument("--warmup", type=float, default=0.0, help="epochs over which β rises from 0")
            p.add_argument("--free-bits", type=float, default=0.0, help="nats per latent dimension")
            p.add_argument("--batch", type=int, default=128)
            p.add_argument("--seed", type=int, default=0)
        else:
            p.add_argument("--model", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"train": cmd_train, "eval": cmd_eval}[args.command](args)


if __name__ == "__main__":
    main()
