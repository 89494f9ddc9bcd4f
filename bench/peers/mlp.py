"""Peer of the small-MLP inference: nn.Sequential of nn.Linear + activation, under torch.no_grad()."""
import torch
import torch.nn as nn

from common import peer, rel_err

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


def build_mlp(case, widths, activation, files):
    """The network with orbit's parameters (orbit stores w as [in, out]; nn.Linear as [out, in])."""
    layers = []
    for i in range(len(widths) - 1):
        lin = nn.Linear(widths[i], widths[i + 1])
        with torch.no_grad():
            lin.weight.copy_(case.load(files[2 * i], device=False).t())
            lin.bias.copy_(case.load(files[2 * i + 1], device=False))
        layers.append(lin)
        if i + 2 < len(widths):
            layers.append(ACTS[activation]())
    return nn.Sequential(*layers).to(case.dev)


@peer("mlp")
def mlp(case):
    a = case.args
    net = build_mlp(case, a["widths"], a["activation"], a["params"])
    xs = case.rolled(case.load("x"))
    with torch.no_grad():
        err = rel_err(net(xs[0]), case.load_np("y"))

    def run(m):
        def f(r):
            with torch.no_grad():
                m(xs[r])
        return f

    ms, times = case.measure(run(net))
    res = dict(eager_ms=ms, eager_times_ms=times, error=err)
    res.update(case.compile_and_measure(lambda: run(torch.compile(net))))
    return res
