#!/usr/bin/env python3
"""PyTorch twin of one `galsed train` epoch, for timing only (docs/training.md, "Training speed
next to PyTorch").

For each network it builds the architecture `galsed train` builds with its default sizes, and
runs N epochs of what `galsed_train::train` does per epoch: a fresh shuffle, batches of 256
(forward, per-sample loss averaged over the batch, loss read back as a float, backward, Adam
step, one-cycle learning-rate step), then the validation loss in chunks of 1024 without
gradients. It prints the wall time per epoch (galsed records the same span in training.json).

  network          inputs -> output                                 loss
  curve_disk/bulge params[:, :4] / [:, :5] -> A(lambda), 297 points max-abs over lambda
  dust_emission    two absorption MLPs (-> 283 sigmoid) + the       KL_trapz(y||y^) + binary KL
                   emission network (Planck mixture + transfer)     of the absorbed fraction
  selector_*       params[:, :4] / [:, :5] -> logit                 BCE with logits

Rows as galsed selects them: a curve sample is used when its component is valid and
A(~100 um) <= 0.01 mag; the emission samples are valid for both components and the emission;
the selectors use all samples. The split holds out round(f*N) random samples (not galsed's
rows, same counts). The curve heads are fused into one Linear, as galsed does. The light per
absorption segment (sfh . L_ssp) uses a random stand-in for the SSP table L_ssp (36 x 283):
the work is the same, only the values differ. Numbers are not meant to match galsed's.

  python crates/galsed-train/bench/torch_train.py --data train.npz --epochs 10 --threads 2
"""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_CURVE = 297                                  # attenuation-curve points (lam[:297])
BUMPS = [(17, 48), (182, 216), (215, 245)]     # spec section 4.1
TROUGH = (17, 159)
K_BASE, K_BUMP, NORM_FIX = 15, 5, 0.1
N_SEG, N_MIX, DX = 283, 16, 0.023283137881862093
LOG_FLOOR = 1e-30


def mlp(sizes, last=nn.Tanh):
    """Linear + tanh layers; `last` is the activation of the final layer (None: none)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        act = nn.Tanh if i < len(sizes) - 2 else last
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def smooth(x, k):
    """Moving average of width k, stride 1, no padding."""
    return F.avg_pool1d(x.unsqueeze(1), k, stride=1).squeeze(1)


class Curve(nn.Module):
    """Attenuation curve (spec 4.1): baseline, three bumps, trough, normalisation."""

    def __init__(self, n_in):
        super().__init__()
        self.mlp = mlp([n_in, 128, 128, 128])
        self.lens = [N_CURVE + K_BASE - 1]                        # baseline
        for b, e in BUMPS:
            self.lens += [e - b + K_BUMP - 1] * 2                 # increasing, decreasing
        self.lens += [TROUGH[1] - TROUGH[0] + K_BASE - 1] * 2
        self.heads = nn.Linear(128, sum(self.lens) + 1)           # + norm

    def forward(self, x):
        s = F.softplus(self.heads(self.mlp(x)))
        parts = list(torch.split(s, self.lens + [1], dim=1))
        inc = lambda v: (v.cumsum(1) - v[:, :1]) / v.shape[1]
        dec = lambda v: (v.sum(1, keepdim=True) - v.cumsum(1)) / v.shape[1]
        place = lambda v, b, e: F.pad(v, (b, N_CURVE - e))
        y = smooth(dec(parts[0]), K_BASE)
        for q, (b, e) in enumerate(BUMPS):
            y = y + place(smooth(inc(parts[1 + 2 * q]) * dec(parts[2 + 2 * q]), K_BUMP), b, e)
        t = smooth(inc(parts[7]) * dec(parts[8]), K_BASE)
        y = y - place(t, *TROUGH)
        return y * parts[9] / (y.mean(1, keepdim=True) + NORM_FIX)


def trapz(y):
    return DX * (y.sum(1, keepdim=True) - 0.5 * (y[:, :1] + y[:, -1:]))


class Emission(nn.Module):
    """Absorption fractions (spec 4.2) and emission distribution (4.3), trained together."""

    def __init__(self, lam):
        super().__init__()
        self.frac_disk = mlp([4, 128, 128, N_SEG], last=nn.Sigmoid)
        self.frac_bulge = mlp([5, 128, 128, N_SEG], last=nn.Sigmoid)
        self.distri = mlp([9, 128, 128, 128])
        self.lin_mu, self.lin_w = nn.Linear(128, N_MIX), nn.Linear(128, N_MIX)
        self.lin_pos, self.lin_neg = nn.Linear(128, len(lam)), nn.Linear(128, len(lam))
        x_inv = torch.tensor(1.0 / lam, dtype=torch.float32)
        self.register_buffer("x_inv", x_inv)
        self.register_buffer("planck_x4", 15 / np.pi**4 * x_inv**4)

    def forward(self, gp, seg_disk, seg_bulge, b_to_t):
        f_disk = (seg_disk * self.frac_disk(gp[:, [1, 2, 3, 5]])).sum(1, keepdim=True)
        f_bulge = (seg_bulge * self.frac_bulge(gp[:, 1:6])).sum(1, keepdim=True)
        frac = f_disk * (1 - b_to_t) + f_bulge * b_to_t
        z = self.distri(torch.cat([gp, f_disk, f_bulge], 1))
        mu = self.lin_mu(z).exp().cumsum(1)
        w = torch.softmax(self.lin_w(z), 1)
        inv_expm1 = 1 / ((mu[:, :, None] * self.x_inv).clamp(max=88.0).exp() - 1)
        mix = torch.bmm((w * mu**4)[:, None, :], inv_expm1).squeeze(1) * self.planck_x4
        y0 = mix / trapz(mix)
        z_pos = F.softplus(self.lin_pos(z))
        z_pos = z_pos / trapz(z_pos)
        z_neg = torch.sigmoid(self.lin_neg(z)) * y0
        return frac.squeeze(1), y0 + z_pos * trapz(z_neg) - z_neg


def ln(x):
    return x.clamp(min=LOG_FLOOR).log()


def emission_loss(net, d):
    frac, y_hat = net(d["gp"], d["seg_disk"], d["seg_bulge"], d["b_to_t"])
    y, f = d["y"], d["frac"]
    kl = trapz(y * (ln(y) - ln(y_hat))).squeeze(1)
    return kl + f * (ln(f) - ln(frac)) + (1 - f) * (ln(1 - f) - ln(1 - frac))


def tasks(data, names, rng):
    """(name, network, per-sample loss, data rows) for each network asked for."""
    lam = data["lam"].astype(np.float64)
    gp = np.clip(data["params"], -1, 1).astype(np.float32)
    n = len(gp)
    k100 = int(np.argmin(np.abs(np.log(lam[:N_CURVE]) - np.log(100.0))))
    ones = np.ones(n, bool)
    valid = {}
    for part in ("disk", "bulge"):
        lab = data.get(f"valid_{part}", ones).astype(bool)
        c = data[f"curve_{part}"]
        valid[part] = lab & ~(np.nan_to_num(c[:, k100], nan=np.inf) > 0.01)
    ok_all = valid["disk"] & valid["bulge"] & data.get("valid_emission", ones).astype(bool)
    l_ssp = rng.random((36, N_SEG))
    l_ssp /= l_ssp.sum(1, keepdims=True)                    # stand-in for the SSP table
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)
    out = []
    for name in names:
        if name.startswith("curve_"):
            part = name[6:]
            k = 4 if part == "disk" else 5
            d = dict(x=t(gp[:, :k]), y=t(np.nan_to_num(data[f"curve_{part}"])))
            loss = lambda net, d: (net(d["x"]) - d["y"]).abs().amax(1)
            out.append((name, Curve(k), loss, d, valid[part]))
        elif name.startswith("selector_"):
            part = name[9:]
            k = 4 if part == "disk" else 5
            d = dict(x=t(gp[:, :k]), label=t(valid[part].astype(np.float32)))
            loss = lambda net, d: F.binary_cross_entropy_with_logits(
                net(d["x"]).squeeze(1), d["label"], reduction="none")
            out.append((name, mlp([k, 32, 1], last=None), loss, d, ones))
        elif name == "dust_emission":
            d = dict(gp=t(gp), seg_disk=t(data["sfh_disk"] @ l_ssp),
                     seg_bulge=t(data["sfh_bulge"] @ l_ssp), b_to_t=t((gp[:, 6:7] + 1) / 2),
                     frac=t(np.nan_to_num(data["frac_abs"])),
                     y=t(np.nan_to_num(data["dust_emission"])))
            out.append((name, Emission(lam), emission_loss, d, ok_all))
        else:
            raise SystemExit(f"unknown network {name}")
    return out


def train(name, net, loss_fn, d, tr, va, epochs, batch, max_lr):
    rows = lambda idx: {k: v[idx] for k, v in d.items()}
    steps = -(-len(tr) // batch)
    opt = torch.optim.Adam(net.parameters(), lr=max_lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr, total_steps=epochs * steps, pct_start=0.3, cycle_momentum=False)
    tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        total = 0.0
        for idx in tr[torch.randperm(len(tr))].split(batch):
            loss = loss_fn(net, rows(idx)).mean()
            total += loss.item() * len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            v = sum(loss_fn(net, rows(i)).sum().item() for i in va.split(1024)) / len(va)
        times.append(time.perf_counter() - start)
        print(f"  {name} epoch {epoch}: train {total / len(tr):.4g} valid {v:.4g} "
              f"{times[-1]:.3f} s", flush=True)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--networks", default="curve_disk,curve_bulge,dust_emission,"
                   "selector_disk,selector_bulge")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-lr", type=float, default=1e-2)
    p.add_argument("--validation-fraction", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    data = dict(np.load(a.data))
    n = len(data["params"])
    held = np.zeros(n, bool)
    held[rng.permutation(n)[:round(a.validation_fraction * n)]] = True
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} samples")
    for name, net, loss_fn, d, use in tasks(data, a.networks.split(","), rng):
        tr, va = np.flatnonzero(use & ~held), np.flatnonzero(use & held)
        times = train(name, net, loss_fn, d, tr, va, a.epochs, a.batch_size, a.max_lr)
        print(f"{name}: n_train {len(tr)} n_valid {len(va)} epochs {a.epochs} "
              f"mean {np.mean(times):.4f} s/epoch, min {np.min(times):.4f}", flush=True)


if __name__ == "__main__":
    main()
