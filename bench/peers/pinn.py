"""Peer of the PINN step (torch_anchors.py's bench_pinn): heat residual u_t - u_xx from two
autograd.grad calls with create_graph=True, mean square, backward, torch.optim.Adam."""
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
