#!/usr/bin/python3
"""Independent NumPy energies and gradients of the Boltzmann systems (f64), for orbit's energy tests.

Writes tests/fixtures/systems/energies_numpy.npz with, per system S in gmm40, gmm40n (GMM-40 in iDEM's
normalised coordinates, x = y / 50), dw4, lj13, lj55, lj13u (unique-pair LJ):
  S_x [B, D] f64 configurations, S_e [B] energies, S_g [B, D] dE/dx.
Run from the repository root:  /usr/bin/python3 tests/scripts/make_systems_fixture.py [../shared/data]
"""
import os
import sys

import numpy as np

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../shared/data")
OUT = os.path.join(os.path.dirname(__file__), "../fixtures/systems/energies_numpy.npz")
rng = np.random.default_rng(20261127)


def pair_parts(x, n, d):
    x = x.reshape(n, d)
    diff = x[:, None, :] - x[None, :, :]          # [n, n, d]
    r = np.sqrt((diff ** 2).sum(-1))               # [n, n]
    return x, diff, r


def dw_energy_grad(x, n=4, d=2, a=0.9, b=-4.0, d0=4.0):
    x, diff, r = pair_parts(x, n, d)
    iu = np.triu_indices(n, 1)
    u = r[iu] - d0
    e = np.sum(a * u ** 4 + b * u ** 2)
    np.fill_diagonal(r, 1.0)
    dedr = 4 * a * (r - d0) ** 3 + 2 * b * (r - d0)
    np.fill_diagonal(dedr, 0.0)
    g = (dedr[:, :, None] * diff / r[:, :, None]).sum(1)  # every unordered pair once per endpoint
    return e, g.ravel()


def lj_energy_grad(x, n, d=3, ordered=True, eps_soft=1e-6):
    x, diff, _ = pair_parts(x, n, d)
    r2 = (diff ** 2).sum(-1) + eps_soft
    off = ~np.eye(n, dtype=bool)
    rr = np.sqrt(r2)
    lj = rr ** -12 - 2 * rr ** -6
    factor = 1.0 if ordered else 0.5                    # ordered: sum over i != j
    e = factor * lj[off].sum()
    dlj_dr = -12 * rr ** -13 + 12 * rr ** -7
    coef = np.where(off, dlj_dr / rr, 0.0)              # d lj / d x_i = lj'(r) (x_i - x_j) / r
    g = 2 * factor * (coef[:, :, None] * diff).sum(1)   # i appears as first and as second index
    c = x - x.mean(0, keepdims=True)
    e += 0.5 * (c ** 2).sum()
    g += c
    return e, g.ravel()


def gmm_energy_grad(x, means, scale, std=np.log1p(np.e)):
    y = scale * x
    diff = y[None, :] - means                            # [K, 2]
    logn = -0.5 * (diff ** 2).sum(-1) / std ** 2 - np.log(2 * np.pi * std ** 2)
    m = logn.max()
    w = np.exp(logn - m)
    logp = m + np.log(w.sum()) - np.log(len(means))
    w /= w.sum()
    g = scale * (w[:, None] * diff).sum(0) / std ** 2  # dE/dx = -d log p / dx
    return -logp, g


def centred(rows, n, d):
    r = rows.reshape(len(rows), n, d)
    return (r - r.mean(1, keepdims=True)).reshape(len(rows), n * d).astype(np.float64)


def lattice(n, spacing, noise):
    side = int(np.ceil(n ** (1 / 3)))
    pts = np.array([(i, j, k) for i in range(side) for j in range(side) for k in range(side)], float)[:n]
    return (spacing * pts + noise * rng.standard_normal(pts.shape)).ravel()


out = {}
means = np.load(os.path.join(DATA, "gmm40_means.npy"))
gx = np.concatenate([rng.uniform(-45, 45, (6, 2)), means[:3] + 0.7 * rng.standard_normal((3, 2))])
for name, scale, xs in [("gmm40", 1.0, gx), ("gmm40n", 50.0, gx / 50.0)]:
    eg = [gmm_energy_grad(x, means, scale) for x in xs]
    out[name + "_x"], out[name + "_e"], out[name + "_g"] = xs, np.array([e for e, _ in eg]), np.array([g for _, g in eg])

dw_ref = centred(np.load(os.path.join(DATA, "test_split_DW4.npy"))[:4], 4, 2)
dw_x = np.concatenate([dw_ref, rng.uniform(-4, 4, (4, 8))])
lj_ref = centred(np.load(os.path.join(DATA, "test_split_LJ13-1000.npy"))[:4], 13, 3)
lj13_x = np.concatenate([lj_ref, np.stack([lattice(13, 1.1, 0.08) for _ in range(3)])])
lj55_x = np.stack([lattice(55, 1.12, 0.06) for _ in range(4)])
for name, xs, f in [("dw4", dw_x, dw_energy_grad),
                    ("lj13", lj13_x, lambda x: lj_energy_grad(x, 13)),
                    ("lj13u", lj13_x, lambda x: lj_energy_grad(x, 13, ordered=False)),
                    ("lj55", lj55_x, lambda x: lj_energy_grad(x, 55))]:
    eg = [f(x) for x in xs]
    out[name + "_x"], out[name + "_e"], out[name + "_g"] = xs, np.array([e for e, _ in eg]), np.array([g for _, g in eg])

np.savez(OUT, **out)
print("wrote", OUT, {k: v.shape for k, v in out.items()})
print("dw4 reference energies", out["dw4_e"][:4], "lj13 reference energies", out["lj13_e"][:4])
