#!/usr/bin/env python3
"""Checks orbit's exact assignment and sample metrics against SciPy / NumPy.

  check_assignment_scipy.py --check DIR
      DIR was written by the doctest case "assignment export" (ORBIT_ASSIGNMENT_EXPORT_DIR=DIR): point
      sets inst_K_a.npy / inst_K_b.npy, orbit's matching inst_K_cols.npy and results.json (orbit's
      costs, and its metrics of the committed DW4 / LJ13 fixtures). For every instance the optimal cost
      of scipy.optimize.linear_sum_assignment on the squared Euclidean cost matrix must equal orbit's,
      and orbit's matching must be a permutation that attains it. For the fixtures, x-W2 is recomputed
      with SciPy and dist_w2 (squared) / dist_total_var exactly as the iDEM code computes them with NumPy
      (sorted differences; np.histogram with 200 bins whose edges come from the reference distances).

  check_assignment_scipy.py --write-fixture OUT.json
      Writes SciPy's optimal costs of the committed fixture pairs (the C++ tests compare with them
      where SciPy is not installed).
"""
import json
import os
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "systems")
SYSTEMS = {"dw4": (4, 2), "lj13": (13, 3)}


def centred(path, particles, dim):
    x = np.load(path).astype(np.float64).reshape(-1, particles, dim)
    x = x - x.mean(axis=1, keepdims=True)
    return x


def pair_distances(x):
    n = x.shape[1]
    iu = np.triu_indices(n, k=1)
    d = np.linalg.norm(x[:, :, None, :] - x[:, None, :, :], axis=-1)
    return d[:, iu[0], iu[1]].reshape(-1)


def optimal_cost(a, b):
    c = cdist(a, b, "sqeuclidean")
    r, k = linear_sum_assignment(c)
    return float(c[r, k].sum()), c


def fixture_costs():
    out = {}
    for name, (p, d) in SYSTEMS.items():
        a = centred(os.path.join(FIXTURES, f"{name}_test_first1000.npy"), p, d).reshape(1000, -1)
        b = centred(os.path.join(FIXTURES, f"{name}_val_first1000.npy"), p, d).reshape(1000, -1)
        out[name] = optimal_cost(a, b)[0]
    return out


def close(x, y, rtol):
    return abs(x - y) <= rtol * max(1.0, abs(y))


def check(directory):
    with open(os.path.join(directory, "results.json")) as f:
        res = json.load(f)
    failures = []
    for inst in res["instances"]:
        k = inst["name"]
        a = np.load(os.path.join(directory, f"{k}_a.npy"))
        b = np.load(os.path.join(directory, f"{k}_b.npy"))
        cols = np.load(os.path.join(directory, f"{k}_cols.npy"))
        best, c = optimal_cost(a, b)
        n = a.shape[0]
        if sorted(cols.tolist()) != list(range(n)):
            failures.append(f"{k}: orbit's matching is not a permutation")
            continue
        own = float(c[np.arange(n), cols].sum())
        print(f"{k}: n={n} d={a.shape[1]} scipy={best:.12g} orbit={inst['cost']:.12g} (matching re-costed: {own:.12g})")
        if not close(inst["cost"], best, 1e-11) or not close(own, best, 1e-11):
            failures.append(f"{k}: orbit cost {inst['cost']!r} (re-costed {own!r}) != scipy {best!r}")
    for name, (p, d) in SYSTEMS.items():
        m = res["fixtures"][name]
        a = centred(os.path.join(FIXTURES, f"{name}_test_first1000.npy"), p, d)
        b = centred(os.path.join(FIXTURES, f"{name}_val_first1000.npy"), p, d)
        cost, _ = optimal_cost(a.reshape(1000, -1), b.reshape(1000, -1))
        xw2 = np.sqrt(cost / 1000)
        ds, dr = pair_distances(a), pair_distances(b)  # samples = test split, reference = val split
        dw2sq = float(np.mean((np.sort(ds) - np.sort(dr)) ** 2))
        h_ref, edges = np.histogram(dr, bins=200)
        h_gen, _ = np.histogram(ds, bins=edges)
        tv = float(0.5 * np.abs(h_ref / h_ref.sum() - h_gen / h_gen.sum()).sum())
        print(f"{name}: x_w2 scipy={xw2:.12g} orbit={m['x_w2']:.12g}; dist_w2^2 numpy={dw2sq:.12g} "
              f"orbit={m['dist_w2_squared']:.12g}; dist_tv numpy={tv:.12g} orbit={m['dist_tv']:.12g}")
        if not close(m["x_w2"], xw2, 1e-11):
            failures.append(f"{name}: x_w2 {m['x_w2']!r} != scipy {xw2!r}")
        if not close(m["dist_w2_squared"], dw2sq, 1e-9):
            failures.append(f"{name}: dist_w2_squared {m['dist_w2_squared']!r} != numpy {dw2sq!r}")
        if abs(m["dist_tv"] - tv) > 1e-12:
            failures.append(f"{name}: dist_tv {m['dist_tv']!r} != numpy {tv!r}")
    if not res["instances"]:
        failures.append("no instances exported")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return check(argv[2])
    if len(argv) == 3 and argv[1] == "--write-fixture":
        costs = fixture_costs()
        doc = {
            "what": "optimal assignment cost (sum over 1000 matched pairs of squared Euclidean distance) of "
                    "the centred test vs val fixture rows, from scipy.optimize.linear_sum_assignment",
            "scipy": __import__("scipy").__version__,
            "cost": costs,
        }
        with open(argv[2], "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(json.dumps(doc))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
