"""Peer of the iDEM workload: one training step as iDEM's PyTorch code runs it (the DEM Monte-Carlo
score target by autograd over the K noisy copies, as torch_anchors.py's dem_target, with softmax(-E)
weights and iDEM's per-particle norm clip; the EGNN forward/backward; gradient-norm clip; Adam), and the
reverse-SDE Euler-Maruyama sampler with the EGNN score. Same network and parameters as orbit's
(bench/peers/egnn.py), same energy (bench/peers/energy.py), same schedule.

The random draws differ from orbit's, so agreement is checked on what is deterministic: the step's EGNN
output, DEM target and loss at sigma = 0 on orbit's x_t (every copy is x_t: the clipped forces;
computed in f64 by the peer, as orbit's kernel accumulates in f64), and the sampler without noise."""
import math

import torch

from common import peer, rel_err
from egnn import build_egnn
from energy import make_energy


def center(v, n, dim):
    r = v.view(-1, n, dim)
    return (r - r.mean(1, keepdim=True)).reshape(v.shape)


def clip_particles(v, n, dim, max_norm):
    """iDEM's clipper per particle: v min(1, max_norm / (|v| + 1e-6))."""
    r = v.view(-1, n, dim)
    f = torch.clamp(max_norm / (r.norm(dim=-1, keepdim=True) + 1e-6), max=1.0)
    return (r * f).reshape(v.shape)


def dem_target(energy, x, sigma, K, n, dim, max_norm):
    """sum_k softmax_k(-E(x + sigma eps_k)) (-grad E)(x + sigma eps_k), clipped; x [B, D], sigma [B, 1]."""
    xs = (x[None] + sigma[None] * torch.randn(K, *x.shape, device=x.device, dtype=x.dtype)).detach().requires_grad_(True)
    logr = -energy(xs.reshape(-1, x.shape[1])).view(K, -1)
    g, = torch.autograd.grad(logr.sum(), xs)
    w = torch.softmax(logr.detach(), 0)
    s = (w[..., None] * g).sum(0).detach()
    return clip_particles(s, n, dim, max_norm)


class Schedule:
    def __init__(self, a):
        self.lo, self.hi = float(a["sigma_min"]), float(a["sigma_max"])
        self.lr = math.log(self.hi / self.lo)

    def h(self, t):
        return self.lo ** 2 * (torch.exp(t * (2 * self.lr)) - 1)

    def g(self, t):
        return self.lo * math.sqrt(2 * self.lr) * torch.exp(t * self.lr)


@peer("idem_step")
def idem_step(case):
    a = case.args
    n, dim, K, clip = int(a["n"]), int(a["dim"]), int(a["K"]), float(a["clip"])
    energy = make_energy(a, case.dev)
    sched = Schedule(a)
    net = build_egnn(case)
    # Agreement at sigma = 0 on orbit's x_t and t (f64 target, f32 network).
    xt, t = case.load("xt"), case.load("t")
    with torch.no_grad():
        out = net(t, xt)
    tgt = dem_target(energy, xt.double(), torch.zeros(xt.shape[0], 1, dtype=torch.float64, device=case.dev), K, n, dim,
                     clip).float()
    loss = ((out - tgt) ** 2).mean(1).mean()
    err_out = rel_err(out, case.load_np("out"))
    err_tgt = rel_err(tgt, case.load_np("target0"))
    err_loss = rel_err(loss.reshape(1), case.load_np("loss0").reshape(1))
    xs = case.rolled(xt)
    B = xt.shape[0]

    def make(m):
        opt = torch.optim.Adam(m.parameters(), float(a["lr"]))
        params = list(m.parameters())

        def step(r):
            x0 = xs[r]
            tt = torch.rand(B, 1, device=case.dev)
            sigma = torch.sqrt(sched.h(tt))
            x = center(x0 + sigma * center(torch.randn_like(x0), n, dim), n, dim)
            target = dem_target(energy, x, sigma, K, n, dim, clip)
            opt.zero_grad(set_to_none=True)
            l = ((m(tt, x) - target) ** 2).mean(1).mean()
            l.backward()
            torch.nn.utils.clip_grad_norm_(params, float(a["grad_clip"]))
            opt.step()
        return step

    ms, times = case.measure(make(net))
    res = dict(eager_ms=ms, eager_times_ms=times, error=max(err_out, err_tgt, err_loss), error_out=err_out,
               error_target=err_tgt, error_loss=err_loss,
               compared="EGNN output, DEM target and loss at sigma = 0 on the same x_t (noise differs)")
    res.update(case.compile_and_measure(lambda: make(torch.compile(build_egnn(case)))))
    return res


@peer("idem_sampler")
def idem_sampler(case):
    a = case.args
    n, dim, steps, lam = int(a["n"]), int(a["dim"]), int(a["steps"]), float(a["diffusion_scale"])
    sched = Schedule(a)
    net = build_egnn(case)
    xs = case.rolled(case.load("x0"))
    B = xs[0].shape[0]
    dt = 1.0 / steps

    def make(m, lam):
        def run(r):
            x = xs[r]
            with torch.no_grad():
                for i in range(steps):
                    t = torch.full((B, 1), 1.0 - i * dt, device=case.dev)
                    g = sched.g(t)
                    dx = (g * g * dt) * m(t, x)
                    if lam != 0:
                        dx = dx + (lam * math.sqrt(dt)) * g * torch.randn_like(x)
                    x = center(x + dx, n, dim)
            return x
        return run

    # The displacement from the prior draw (the score's whole contribution), row by row.
    err = rel_err(make(net, 0.0)(0) - xs[0], case.load_np("out") - case.load_np("x0"), rowwise=True)
    ms, times = case.measure(make(net, lam))
    res = dict(eager_ms=ms, eager_times_ms=times, error=err,
               compared="x_T - x_0 of the noise-free sampler (lambda = 0) from the same prior draw")
    res.update(case.compile_and_measure(lambda: make(torch.compile(build_egnn(case)), lam)))
    return res
