"""Peer of the energy + forces workload: the same pair energy as orbit's pair_potential op, written in
PyTorch over the unique pairs i < j (triu indices), forces by autograd (as in torch_anchors.py)."""
import torch

from common import peer, rel_err


def make_energy(a, dev):
    n, dim = int(a["n"]), int(a["dim"])
    iu = torch.triu_indices(n, n, 1, device=dev)
    scale, osc = float(a["scale"]), float(a["oscillator"])
    lj = a["kind"] == "lj"
    eps, rm2, soft = float(a["eps"]), float(a["rm"]) ** 2, float(a["softening"])
    aa, bb, d0 = float(a["a"]), float(a["b"]), float(a["d0"])

    def energy(x):
        X = x.view(-1, n, dim)
        diff = X[:, iu[0]] - X[:, iu[1]]
        r2 = (diff * diff).sum(-1)
        if lj:
            s = rm2 / (r2 + soft)
            s3 = s * s * s
            e = eps * (s3 * s3 - 2 * s3)
        else:
            u = torch.sqrt(r2) - d0
            u2 = u * u
            e = aa * u2 * u2 + bb * u2
        E = scale * e.sum(-1)
        if osc != 0:
            c = X - X.mean(1, keepdim=True)
            E = E + 0.5 * osc * (c * c).sum((-1, -2))
        return E
    return energy


@peer("energy")
def energy(case):
    f = make_energy(case.args, case.dev)
    xs = case.rolled(case.load("x"))

    def run(fe):
        def g(r):
            x = xs[r].detach().requires_grad_(True)
            e = fe(x)
            gr, = torch.autograd.grad(e.sum(), x)
            return e, gr
        return g

    e, gr = run(f)(0)
    err = rel_err(torch.cat([e[:, None], gr], 1), case.load_np("out"), rowwise=True)
    ms, times = case.measure(run(f))
    res = dict(eager_ms=ms, eager_times_ms=times, error=err)
    res.update(case.compile_and_measure(lambda: run(torch.compile(f))))
    return res
