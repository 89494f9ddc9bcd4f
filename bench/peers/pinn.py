"""Peers of the PINN steps.

pinn: torch_anchors.py's bench_pinn: heat residual u_t - u_xx from two autograd.grad calls with
create_graph=True, mean square, backward, torch.optim.Adam.

pinn_sym: the heat step with the Lie point symmetry loss as `orbit pinn train --symmetry on` builds its
interior losses (the evolutionary form, models/pinn/symmetry.cpp, and the weighting of
models/pinn/trainer.cpp): the network on (x, t) scaled to [-1, 1]^2, the jet u_x, u_t, u_xx, u_xt,
u_tt, u_xxx, u_xxt by four autograd.grad calls with create_graph=True (as orbit's make_jet), the
generators' terms divided by their coefficient scales, backward, torch.optim.Adam."""
import numpy as np
import torch

from common import peer, rel_err
from mlp import build_mlp


def loss_of(net, p):
    u = net(p)
    du, = torch.autograd.grad(u.sum(), p, create_graph=True)
    uxx, = torch.autograd.grad(du[:, 0].sum(), p, create_graph=True)
    res = du[:, 1] - uxx[:, 0]
    return (res ** 2).mean()


@peer("pinn")
def pinn(case):
    a = case.args
    net = build_mlp(case, a["widths"], a["activation"], a["params"])
    xs = case.rolled(case.load("xt"))
    # Agreement at the initial parameters: the loss and every parameter gradient.
    p = xs[0].clone().requires_grad_(True)
    loss = loss_of(net, p)
    params = list(net.parameters())
    # The last bias does not reach the residual: autograd gives None, orbit zeros.
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    errs = [rel_err(loss.reshape(1), np.asarray(case.load_np("loss")).reshape(1))]
    for k, g in enumerate(grads):  # nn.Sequential order: w0 [out, in], b0, w1, ...: orbit's order
        go = case.load_np(a["grads"][k])
        errs.append(rel_err(g.t() if g.dim() == 2 else g, go))

    def make(m):
        opt = torch.optim.Adam(m.parameters(), a["lr"])

        def step(r):
            q = xs[r].clone().requires_grad_(True)
            l = loss_of(m, q)
            opt.zero_grad(set_to_none=True)
            l.backward()
            opt.step()
        return step

    ms, times = case.measure(make(net))
    res = dict(eager_ms=ms, eager_times_ms=times, error=max(errs), error_loss=errs[0])
    net2 = build_mlp(case, a["widths"], a["activation"], a["params"])
    res.update(case.compile_and_measure(lambda: make(torch.compile(net2))))
    return res


def coefficient_scale(length, t_end, magnitude):
    """symmetry.cpp's coefficient_scale: the largest magnitude over a 21 x 21 grid of the domain, x
    measured from the centre; 1 when it is 0."""
    m = 0.0
    for a in range(21):
        for b in range(21):
            m = max(m, magnitude(-length / 2 + length * a / 20, t_end * b / 20))
    return m if m > 0 else 1.0


def heat_evolutionary_scales(nu, length, t_end):
    """The scales of symmetry.cpp's six heat generators in the evolutionary form (v1, ..., v6)."""
    mags = [
        lambda x, t: 1.0,                                                          # v1
        lambda x, t: 1.0,                                                          # v2
        lambda x, t: 1.0,                                                          # v3
        lambda x, t: 2 + abs(x) + 2 * t,                                           # v4
        lambda x, t: abs(x) + 2 * nu * t,                                          # v5
        lambda x, t: x * x + 10 * nu * t + 4 * nu * t * abs(x) + 4 * nu * t * t,   # v6
    ]
    return [coefficient_scale(length, t_end, m) for m in mags]


def make_sym_loss(a, dev):
    """loss(net, X): w_residual mean((T Delta)^2) + w_symmetry T^2 sum_v mean((term_v / scale_v)^2),
    Delta = u_t - nu u_xx (orbit's residual, symmetry_terms and the trainer's weighting)."""
    if a["form"] != "evolutionary":
        raise ValueError("pinn_sym peer: only the evolutionary form, got " + a["form"])
    nu, L, T = float(a["nu"]), float(a["length"]), float(a["t_end"])
    w_res, w_sym = float(a["w_residual"]), float(a["w_symmetry"])
    inv = [1.0 / s for s in heat_evolutionary_scales(nu, L, T)]
    centre = torch.tensor([L / 2, T / 2], dtype=torch.float32, device=dev)
    inv_half = torch.tensor([2 / L, 2 / T], dtype=torch.float32, device=dev)

    def grad(y, X):
        g, = torch.autograd.grad(y.sum(), X, create_graph=True)
        return g

    def loss_of(net, X):
        u = net((X - centre) * inv_half)
        g1 = grad(u, X)
        ux, ut = g1[:, 0:1], g1[:, 1:2]
        gx = grad(ux, X)
        uxx, uxt = gx[:, 0:1], gx[:, 1:2]
        utt = grad(ut, X)[:, 1:2]
        gxx = grad(uxx, X)
        uxxx, uxxt = gxx[:, 0:1], gxx[:, 1:2]
        x, t = X[:, 0:1] - L / 2, X[:, 1:2]
        d = ut - nu * uxx                  # Delta
        dx = uxt - nu * uxxx               # D_x Delta
        dt = utt - nu * uxxt               # D_t Delta
        terms = [
            -dx,                                                               # v1
            -dt,                                                               # v2
            d,                                                                 # v3
            -(2.0 * d + x * dx + 2.0 * t * dt),                                # v4
            -(x * d + 2 * nu * t * dx),                                        # v5
            -((x * x + 10 * nu * t) * d + 4 * nu * t * x * dx + 4 * nu * t * t * dt),  # v6
        ]
        loss_res = ((d * T) ** 2).mean()
        loss_sym = sum(((term * s) ** 2).mean() for term, s in zip(terms, inv)) * (T * T)
        return w_res * loss_res + w_sym * loss_sym

    return loss_of


@peer("pinn_sym")
def pinn_sym(case):
    a = case.args
    net = build_mlp(case, a["widths"], a["activation"], a["params"])
    xs = case.rolled(case.load("xt"))
    loss_of = make_sym_loss(a, case.dev)
    # Agreement at the initial parameters: the loss and every parameter gradient.
    p = xs[0].clone().requires_grad_(True)
    loss = loss_of(net, p)
    params = list(net.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)  # the last bias: None (orbit: zeros)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    errs = [rel_err(loss.reshape(1), np.asarray(case.load_np("loss")).reshape(1))]
    for k, g in enumerate(grads):
        errs.append(rel_err(g.t() if g.dim() == 2 else g, case.load_np(a["grads"][k])))

    opt = torch.optim.Adam(net.parameters(), a["lr"])

    def step(r):
        q = xs[r].clone().requires_grad_(True)
        l = loss_of(net, q)
        opt.zero_grad(set_to_none=True)
        l.backward()
        opt.step()

    ms, times = case.measure(step)
    return dict(eager_ms=ms, eager_times_ms=times, error=max(errs), error_loss=errs[0],
                compile_note="torch.compile not tried: the step is a double backward (nested "
                             "autograd.grad with create_graph=True), which torch.compile does not support")
