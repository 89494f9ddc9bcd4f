"""Peer of the EGNN workload: iDEM's EGNN_dynamics written in PyTorch as the official code runs it
(edge lists of the fully connected graph, torch.cat of [h_i, h_j, r_ij, a_ij], index_add_ as the sum
aggregation; as torch_anchors.py's EGNNDynamics), with iDEM's layer: norm_diff, attention, tanh *
coords_range, SiLU, recurrent node updates. The parameters are orbit's initial ones, loaded from the
exchange folder in orbit's layout (Linear weights [in, out]: y = x @ W + b)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import peer, rel_err


class EGNNDynamics(nn.Module):
    """s(t, x) of orbit's egnn::Dynamics; parameters named as orbit's ('score/gcl0/edge0/w', ...)."""

    def __init__(self, n, dim, layers, coords_range, params):
        super().__init__()
        self.n, self.dim, self.layers, self.range = n, dim, layers, coords_range
        self.p = nn.ParameterDict({k.replace("/", "__"): nn.Parameter(v.clone()) for k, v in params.items()})
        ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        mask = ii != jj
        self.register_buffer("r0", ii[mask])
        self.register_buffer("c0", jj[mask])

    def lin(self, name, x):
        key = "score__" + name.replace(".", "__").replace("/", "__")
        y = x @ self.p[key + "__w"]
        b = key + "__b"
        return y + self.p[b] if b in self.p else y

    def forward(self, t, xs):
        B, n, d = xs.shape[0], self.n, self.dim
        N = B * n
        off = (torch.arange(B, device=xs.device) * n)[:, None]
        row = (self.r0[None] + off).reshape(-1)
        col = (self.c0[None] + off).reshape(-1)
        x = xs.reshape(N, d)
        h = self.lin("embed", t.reshape(B, 1).repeat_interleave(n, 0))  # h^0_i = t
        eattr = ((x[row] - x[col]) ** 2).sum(1, keepdim=True)
        x0 = x
        for l in range(self.layers):
            g = "gcl%d." % l
            diff = x[row] - x[col]
            radial = (diff ** 2).sum(1, keepdim=True)
            diff = diff / (torch.sqrt(radial + 1e-8) + 1)
            m = F.silu(self.lin(g + "edge0", torch.cat([h[row], h[col], radial, eattr], 1)))
            m = F.silu(self.lin(g + "edge1", m))
            m = m * torch.sigmoid(self.lin(g + "att", m))
            w = torch.tanh(self.lin(g + "coord1", F.silu(self.lin(g + "coord0", m)))) * self.range
            x = x + torch.zeros_like(x).index_add_(0, row, diff * w)
            agg = torch.zeros(N, m.shape[1], device=m.device, dtype=m.dtype).index_add_(0, row, m)
            h = h + self.lin(g + "node1", F.silu(self.lin(g + "node0", torch.cat([h, agg], 1))))
        v = (x - x0).view(B, n, d)
        v = v - v.mean(1, keepdim=True)
        return v.reshape(B, n * d)


def build_egnn(case):
    a = case.args
    params = {name: case.load(f) for name, f in zip(a["param_names"], a["params"])}
    return EGNNDynamics(int(a["n"]), int(a["dim"]), int(a["layers"]), float(a["coords_range"]), params).to(case.dev)


@peer("egnn_forward")
def egnn_forward(case):
    net = build_egnn(case)
    xs, ts = case.rolled(case.load("x")), case.rolled(case.load("t"))

    def make(m):
        def f(r):
            with torch.no_grad():
                return m(ts[r], xs[r])
        return f

    err = rel_err(make(net)(0), case.load_np("out"))
    ms, times = case.measure(make(net))
    res = dict(eager_ms=ms, eager_times_ms=times, error=err, compared="forward output s(t, x)")
    res.update(case.compile_and_measure(lambda: make(torch.compile(build_egnn(case)))))
    return res


@peer("egnn_step")
def egnn_step(case):
    net = build_egnn(case)
    xs, ts, ys = case.rolled(case.load("x")), case.rolled(case.load("t")), case.rolled(case.load("y"))
    # Agreement at the initial parameters: the forward output and the loss.
    with torch.no_grad():
        out = net(ts[0], xs[0])
        loss = ((out - ys[0]) ** 2).mean()
    err_out = rel_err(out, case.load_np("out"))
    err_loss = rel_err(loss.reshape(1), case.load_np("loss").reshape(1))

    def make(m):
        opt = torch.optim.Adam(m.parameters(), case.args["lr"])

        def step(r):
            opt.zero_grad(set_to_none=True)
            l = ((m(ts[r], xs[r]) - ys[r]) ** 2).mean()
            l.backward()
            opt.step()
        return step

    ms, times = case.measure(make(net))
    res = dict(eager_ms=ms, eager_times_ms=times, error=max(err_out, err_loss), error_loss=err_loss,
               compared="forward output and loss at the initial parameters")
    res.update(case.compile_and_measure(lambda: make(torch.compile(build_egnn(case)))))
    return res
