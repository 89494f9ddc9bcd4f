#!/usr/bin/env python3
"""Golden values for orbit's EGNN, MC-EGNN and EGNN_dynamics from PyTorch (Debian's python3-torch,
/usr/bin/python3).

An independent edge-list implementation of the layer equations of the paper spec (sections 1.1 and
3.2), in float64, with seeded weights stored in orbit's layout (Linear weights [in, out], the
concatenated inputs [h_i, h_j, r_ij, a_ij] and [h_i, sum_j m_ij, node_attr] in that order). For each
case it writes tests/fixtures/golden/egnn_<case>.npz with the inputs, the weights (keys: orbit's
parameter names with '/' -> '.'), the output, the gradient of L = sum(out * W) with respect to the
positions and to every weight, and the gradient with respect to every weight of
F = sum((dL/dx)^2) (second order, as in force matching).
Usage: /usr/bin/python3 tests/scripts/make_golden_egnn.py
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "golden")
torch.set_default_dtype(torch.float64)


class Params:
    def __init__(self, gen):
        self.gen = gen
        self.p = {}

    def linear(self, name, fan_in, out, bias=True, gain=None):
        if gain is None:
            b = 1.0 / np.sqrt(fan_in) * 1.5
            w = (torch.rand(fan_in, out, generator=self.gen) * 2 - 1) * b
        else:  # xavier-like, but large enough that the coordinate updates matter
            b = gain * np.sqrt(6.0 / (fan_in + out))
            w = (torch.rand(fan_in, out, generator=self.gen) * 2 - 1) * b
        self.p[name + "/w"] = w.requires_grad_(True)
        if bias:
            self.p[name + "/b"] = ((torch.rand(out, generator=self.gen) * 2 - 1) * 0.5).requires_grad_(True)

    def lin(self, name, x):
        y = x @ self.p[name + "/w"]
        if name + "/b" in self.p:
            y = y + self.p[name + "/b"]
        return y


def egcl(P, name, opt, h, X, row, col, N, edge_attr=None, vel=None, node_attr=None):
    """One E_GCL layer on an edge list. X: [N, d, m_in]."""
    act = torch.nn.functional.silu
    D = X[row] - X[col]  # [E, d, m_in]
    r = (D ** 2).sum(1)  # [E, m_in]
    if opt["norm_diff"]:
        D = D / (torch.sqrt(r + 1e-8) + 1).unsqueeze(1)
    parts = [h[row], h[col], r] + ([edge_attr] if edge_attr is not None else [])
    m = act(P.lin(name + "/edge1", act(P.lin(name + "/edge0", torch.cat(parts, 1)))))
    if opt["attention"]:
        m = m * torch.sigmoid(P.lin(name + "/att", m))
    mi, mo = opt["ch_in"], opt["ch_out"]
    w = P.lin(name + "/coord1", act(P.lin(name + "/coord0", m)))
    if opt["tanh"]:
        w = torch.tanh(w) * opt["coords_range"]
    W = w.reshape(-1, mi, mo)
    trans = torch.einsum("eij,eci->ecj", W, D)  # (D W)[c, k] = sum_l D[c, l] W[l, k]
    if opt["clamp"] > 0:
        trans = torch.clamp(trans, -opt["clamp"], opt["clamp"])
    agg = torch.zeros(N, X.shape[1], mo).index_add(0, row, trans)
    if opt["coord_agg"] == "mean":
        cnt = torch.zeros(N).index_add(0, row, torch.ones(row.shape[0])).clamp(min=1)
        agg = agg / cnt[:, None, None]
    base = X.mean(-1, keepdim=True) if opt["init"] == "mean" else X
    Xn = base + agg
    if vel is not None:
        psi = P.lin(name + "/vel1", act(P.lin(name + "/vel0", h))).reshape(-1, mi, mo)
        Xn = Xn + vel * psi.sum(1).unsqueeze(1)  # v [N, d, 1] times sum_l psi[l, k]
    magg = torch.zeros(N, m.shape[1]).index_add(0, row, m)
    if opt["node_agg"] == "mean":
        cnt = torch.zeros(N).index_add(0, row, torch.ones(row.shape[0])).clamp(min=1)
        magg = magg / cnt[:, None]
    parts = [h, magg] + ([node_attr] if node_attr is not None else [])
    out = P.lin(name + "/node1", act(P.lin(name + "/node0", torch.cat(parts, 1))))
    return (h + out if opt["recurrent"] else out), Xn


def make_layer_params(P, name, opt, F, H, edge_attr, node_attr):
    mi, mo = opt["ch_in"], opt["ch_out"]
    P.linear(name + "/edge0", 2 * F + mi + edge_attr, H)
    P.linear(name + "/edge1", H, H)
    if opt["attention"]:
        P.linear(name + "/att", H, 1)
    P.linear(name + "/coord0", H, H)
    P.linear(name + "/coord1", H, mi * mo, bias=False, gain=0.8)
    if opt["velocity"]:
        P.linear(name + "/vel0", F, H)
        P.linear(name + "/vel1", H, mi * mo)
    P.linear(name + "/node0", F + H + node_attr, H)
    P.linear(name + "/node1", H, H)


def complete_graph(B, n):
    row, col = [], []
    for b in range(B):
        for i in range(n):
            for j in range(n):
                if i != j:
                    row.append(b * n + i)
                    col.append(b * n + j)
    return torch.tensor(row), torch.tensor(col)


def stack(P, cfg, h0, x, row, col, N, edge_attr, vel, node_attr, build):
    """EGNN (channels 0) or MC-EGNN over L layers; x [N, d] -> [N, d, m_out]."""
    L, m = cfg["layers"], cfg["channels"]
    H = cfg["hidden"]
    if build:
        P.linear("net/embed", h0.shape[1], H)
    h = P.lin("net/embed", h0)
    X = x.unsqueeze(-1)
    V = vel.unsqueeze(-1) if vel is not None else None
    for l in range(L):
        opt = dict(cfg)
        if m == 0:
            opt.update(ch_in=1, ch_out=1, init="keep")
        else:
            first, last = l == 0, l == L - 1
            opt.update(ch_in=1 if first else m, ch_out=cfg["channels_out"] if last else m,
                       init="replicate" if first else ("mean" if last else "keep"))
        name = "net/gcl%d" % l
        if build:
            make_layer_params(P, name, opt, H, H, 0 if edge_attr is None else edge_attr.shape[1],
                              0 if node_attr is None else node_attr.shape[1])
        h, X = egcl(P, name, opt, h, X, row, col, N, edge_attr, V, node_attr)
    return X


def run_case(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    B, n, d = cfg["B"], cfg["n"], cfg["d"]
    N = B * n
    row, col = complete_graph(B, n)
    x = (torch.randn(B, n, d, generator=gen) * 1.2).requires_grad_(True)
    arrays = {}
    P = Params(gen)
    if cfg["kind"] == "dynamics":
        t = torch.rand(B, 1, generator=gen)
        arrays["t"] = t

        def model(xin, build):
            x0 = xin.reshape(N, d)
            h0 = t.repeat_interleave(n, 0)  # [N, 1]
            a = ((x0[row] - x0[col]) ** 2).sum(1, keepdim=True)
            X = stack(P, cfg, h0, x0, row, col, N, a, None, None, build)
            v = (X[:, :, 0] - x0).reshape(B, n, d)
            v = v - v.mean(1, keepdim=True)
            return v.reshape(B, n * d)

        xin = x.reshape(B, n * d).detach().requires_grad_(True)
    else:
        h = torch.randn(B, n, 2, generator=gen)
        v = torch.randn(B, n, d, generator=gen)
        q = torch.where(torch.rand(B, n, 1, generator=gen) < 0.5, -1.0, 1.0)
        na = torch.randn(B, n, 2, generator=gen)
        arrays.update(h=h, v=v, q=q, na=na)

        def model(xin, build):
            x0 = xin.reshape(N, d)
            qf = q.reshape(N, 1)
            ea = None
            if cfg["edge_q"]:
                ea = torch.cat([qf[row] * qf[col], ((x0[row] - x0[col]) ** 2).sum(1, keepdim=True)], 1)
            vel = v.reshape(N, d) if cfg["velocity"] else None
            nattr = na.reshape(N, 2) if cfg["node_attr"] else None
            X = stack(P, cfg, h.reshape(N, 2), x0, row, col, N, ea, vel, nattr, build)
            return X.reshape(B, n, d, -1)

        xin = x.detach().requires_grad_(True)
    out = model(xin, True)
    W = torch.randn(out.shape, generator=gen)
    L = (out * W).sum()
    names = sorted(P.p)
    wrt = [xin] + [P.p[k] for k in names]
    grads = torch.autograd.grad(L, wrt, create_graph=True, allow_unused=True)
    # Parameters the output does not depend on (the last layer's node update) get zero gradients.
    grads = [torch.zeros_like(w) if g is None else g for w, g in zip(wrt, grads)]
    F = (grads[0] ** 2).sum()
    g2 = torch.autograd.grad(F, wrt[1:], allow_unused=True)
    g2 = [torch.zeros_like(w) if g is None else g for w, g in zip(wrt[1:], g2)]
    arrays.update(x=xin, out=out, W=W, dx=grads[0], F=F.reshape(1))
    for k, g, gg in zip(names, grads[1:], g2):
        key = k.replace("/", ".")
        arrays["p." + key] = P.p[k]
        arrays["g." + key] = g
        arrays["gg." + key] = gg
    np.savez(os.path.join(OUT, "egnn_%s.npz" % name), **{k: a.detach().numpy() for k, a in arrays.items()})
    print("egnn_%s.npz: %d parameters, L = %.6g, F = %.6g" % (name, len(names), L.item(), F.item()))


BASE = dict(B=2, n=4, d=3, hidden=6, layers=2, channels=0, channels_out=1, attention=False, norm_diff=False,
            tanh=False, coords_range=1.0, clamp=0.0, coord_agg="sum", node_agg="sum", recurrent=True,
            velocity=False, edge_q=False, node_attr=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    run_case("dynamics", dict(BASE, kind="dynamics", d=3, hidden=8, layers=2, attention=True, norm_diff=True,
                              tanh=True, coords_range=7.5), 1)
    run_case("vel", dict(BASE, kind="egnn", coord_agg="mean", clamp=0.05, velocity=True, edge_q=True, layers=3), 2)
    run_case("mc", dict(BASE, kind="egnn", channels=3, layers=3, coord_agg="mean", clamp=100.0, velocity=True,
                        edge_q=True, attention=True, norm_diff=True, tanh=True, coords_range=2.0, node_attr=True,
                        node_agg="mean"), 3)


if __name__ == "__main__":
    main()
