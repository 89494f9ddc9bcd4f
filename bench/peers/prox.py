"""Peer of the weight-sharing prox: the paper's own PyTorch algorithm (Shakerinava et al., AISTATS
2024, `prox_R_and_l1` with `imminent_collisions` and `search_collisions`), written here from the
description in ../shared/papers/prox-rl-pinn-equivariance.md section 1 (no l1, rho = 0, lr = 1):
sort, add the rank velocities, run the collision algorithm on (x, v, m) = (cluster mean position, mean
velocity, mass), final positions x + v, repeat_interleave by mass, unsort. Cumulative sums in the
input's dtype, as the paper's code does. And the sort floor: torch.sort (values and indices)."""
import math

import numpy as np
import torch

from common import peer, rel_err

BATCH_ROWS = 256  # the paper's code: above this many rows a level's probes are batched, else a Python loop


def imminent_collisions(x, v, m):
    """All collisions between currently adjacent clusters that happen before time 1, simultaneously;
    repeated until the number of clusters stops changing (ties merge)."""
    while True:
        z = x + v
        c = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        c[1:] = z[:-1] < z[1:]  # True: a new cluster starts here
        gid = torch.cumsum(c.to(torch.int64), 0)
        groups = int(gid[-1]) + 1
        if groups == z.shape[0]:
            return x, v, m
        M = torch.zeros(groups, dtype=m.dtype, device=m.device).index_add_(0, gid, m)
        x = torch.zeros(groups, dtype=x.dtype, device=x.device).index_add_(0, gid, x * m) / M
        v = torch.zeros(groups, dtype=v.dtype, device=v.device).index_add_(0, gid, v * m) / M
        m = M


def rightmost_rows(X, V, M, i):
    """For each row b, the first argmin over k >= i[b] of the prefix average of z = x + v weighted by
    mass from slot i[b] (+inf before the first massive slot): the rightmost collision partner."""
    s = X.shape[1]
    idx = torch.arange(s, device=X.device)
    mm = M * (idx[None, :] >= i[:, None]).to(M.dtype)
    cm = torch.cumsum(mm, 1)
    cz = torch.cumsum((X + V) * mm, 1)
    avg = torch.where(cm > 0, cz / torch.where(cm > 0, cm, torch.ones_like(cm)), torch.full_like(cm, math.inf))
    return torch.argmin(avg, 1)


def merge_range_rows(X, V, M, i, j, do):
    """Rows where `do`: slots i..j become one cluster at slot i."""
    s = X.shape[1]
    idx = torch.arange(s, device=X.device)
    sel = ((idx[None, :] >= i[:, None]) & (idx[None, :] <= j[:, None]) & do[:, None]).to(M.dtype)
    ms = M * sel
    tot = ms.sum(1)
    safe = torch.where(tot > 0, tot, torch.ones_like(tot))
    xm = (X * ms).sum(1) / safe
    vm = (V * ms).sum(1) / safe
    rows = torch.nonzero(do).flatten()
    ir = i[rows]
    M.mul_(1 - sel)  # absorbed slots (and slot i, refilled next) lose their mass
    X[rows, ir] = xm[rows]
    V[rows, ir] = vm[rows]
    M[rows, ir] = tot[rows]


def merge_level_batched(X, V, M):
    rows, s = X.shape
    mid = s // 2
    if s == 2:
        z0, z1 = X[:, 0] + V[:, 0], X[:, 1] + V[:, 1]
        do = (z0 > z1) & (M[:, 1] > 0)
        merge_range_rows(X, V, M, torch.zeros(rows, dtype=torch.int64, device=X.device),
                         torch.ones(rows, dtype=torch.int64, device=X.device), do)
        return
    le = torch.zeros(rows, dtype=torch.int64, device=X.device)
    ri = torch.full((rows,), mid, dtype=torch.int64, device=X.device)
    for _ in range(int(math.log2(s)) - 1):
        md = (le + ri - 1) // 2
        j = rightmost_rows(X, V, M, md)
        right = j >= mid
        ri = torch.where(right, md + 1, ri)
        le = torch.where(right, le, md + 1)
    i = le
    j = rightmost_rows(X, V, M, i)
    merge_range_rows(X, V, M, i, j, (i < mid) & (j >= mid))


def rightmost_1d(x, v, m, i):
    mm = m[i:]
    cm = torch.cumsum(mm, 0)
    cz = torch.cumsum((x[i:] + v[i:]) * mm, 0)
    avg = torch.where(cm > 0, cz / torch.where(cm > 0, cm, torch.ones_like(cm)), torch.full_like(cm, math.inf))
    return i + int(torch.argmin(avg))


def merge_row_loop(x, v, m):
    """One row (a view), with Python control flow: the paper's path for levels with few rows."""
    s = x.shape[0]
    mid = s // 2
    le, ri = 0, mid
    for _ in range(int(math.log2(s)) - 1):
        md = (le + ri - 1) // 2
        if rightmost_1d(x, v, m, md) >= mid:
            ri = md + 1
        else:
            le = md + 1
    i = le
    j = rightmost_1d(x, v, m, i)
    if i < mid and j >= mid:
        ms = m[i:j + 1]
        tot = ms.sum()
        x[i] = (x[i:j + 1] * ms).sum() / tot
        v[i] = (v[i:j + 1] * ms).sum() / tot
        m[i + 1:j + 1] = 0
        m[i] = tot


def search_collisions(x, v, m):
    """Bottom-up divide and conquer: after level l every aligned block of 2^l slots is solved alone;
    merging two solved halves creates at most one new cluster, found by binary search."""
    n = x.shape[0]
    L = (n - 1).bit_length()
    N = 1 << L
    pad = N - n
    if pad:
        zeros = torch.zeros(pad, dtype=x.dtype, device=x.device)
        x, v, m = torch.cat([x, zeros]), torch.cat([v, zeros]), torch.cat([m, zeros])
    for l in range(1, L + 1):
        s = 1 << l
        rows = (n + s - 1) // s
        X, V, M = x.view(N // s, s)[:rows], v.view(N // s, s)[:rows], m.view(N // s, s)[:rows]
        if rows > BATCH_ROWS or s == 2:  # (level 1 is one vectorised compare-and-merge at every size)
            merge_level_batched(X, V, M)
        else:
            for r in range(rows):
                merge_row_loop(X[r], V[r], M[r])
    return x[:n], v[:n], m[:n]


ALGORITHMS = {"imminent": imminent_collisions, "search": search_collisions}


def prox_R(w, t, algorithm):
    n = w.numel()
    if n <= 1:
        return w.clone()
    x, perm = torch.sort(w)
    k = torch.arange(n, device=w.device, dtype=w.dtype)
    v = t * (n - 2 * k - 1) / (n - 1)
    m = torch.ones(n, device=w.device, dtype=w.dtype)
    x, v, m = ALGORITHMS[algorithm](x, v, m)
    out = torch.repeat_interleave(x + v, m.round().to(torch.int64))
    res = torch.empty_like(w)
    res[perm] = out
    return res


@peer("prox")
def prox(case):
    a = case.args
    w0 = case.load("w")
    orbit_out = case.load_np("out")
    scale = float(np.abs(case.load_np("w")).max())
    alg = a["algorithm"]
    if alg not in ALGORITHMS:  # orbit's sequential PAVA: no peer of its own; check against search
        out = prox_R(w0, float(a["step"]), "search")
        err = float(np.abs(out.cpu().numpy().astype(np.float64) - orbit_out).max() / scale)
        return dict(error=err, note="no peer algorithm (the paper's code has no PAVA); checked against its search")
    ws = case.rolled(w0)
    out = prox_R(ws[0], float(a["step"]), alg)
    err = float(np.abs(out.cpu().numpy().astype(np.float64) - orbit_out).max() / scale)
    ms, times = case.measure(lambda r: prox_R(ws[r], float(a["step"]), alg), warmup=min(case.warmup, 1))
    return dict(eager_ms=ms, eager_times_ms=times, error=err,
                compile_note="not applicable (data-dependent Python control flow)")


@peer("sort")
def sort(case):
    ws = case.rolled(case.load("w"))
    vals, _ = torch.sort(ws[0])
    err = rel_err(vals, case.load_np("sorted"))
    ms, times = case.measure(lambda r: torch.sort(ws[r]))
    return dict(eager_ms=ms, eager_times_ms=times, error=err, compile_note="not applicable (one library call)")
