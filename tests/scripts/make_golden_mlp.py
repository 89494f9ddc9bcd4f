#!/usr/bin/env python3
"""Golden values for orbit's MLP from PyTorch (Debian's python3-torch, /usr/bin/python3).

For each activation, a 2 -> 8 -> 8 -> 1 MLP in float64 with seeded weights (stored in orbit's
x W + b layout, W of shape [in, out]) evaluated at 6 points: the output u, du/dx, the second
derivatives d2u/dx0^2 and d2u/dx1^2 (grad of grad), and the gradient with respect to every parameter
of the loss mean((u_x0x0 + u)^2) (third order through the network). Written to
tests/fixtures/golden/mlp_<activation>.npz; orbit's test recomputes everything and compares.
Usage: /usr/bin/python3 tests/scripts/make_golden_mlp.py
"""
import os

import numpy as np
import torch

ACTS = {
    "tanh": torch.tanh,
    "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,  # exact (erf) form, as orbit's gelu
    "softplus": torch.nn.functional.softplus,
    "sigmoid": torch.sigmoid,
}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "golden")


def main():
    os.makedirs(OUT, exist_ok=True)
    for k, (name, act) in enumerate(ACTS.items()):
        g = torch.Generator().manual_seed(100 + k)
        widths = [2, 8, 8, 1]
        params = {}
        for i in range(3):
            params[f"w{i}"] = (torch.rand(widths[i], widths[i + 1], generator=g, dtype=torch.float64) - 0.5) * 1.6
            params[f"b{i}"] = (torch.rand(widths[i + 1], generator=g, dtype=torch.float64) - 0.5) * 0.4
        for p in params.values():
            p.requires_grad_(True)
        x = ((torch.rand(6, 2, generator=g, dtype=torch.float64) - 0.5) * 3).requires_grad_(True)

        def mlp(inp):
            h = inp
            for i in range(3):
                h = h @ params[f"w{i}"] + params[f"b{i}"]
                if i < 2:
                    h = act(h)
            return h

        u = mlp(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        (d2x0,) = torch.autograd.grad(du[:, 0].sum(), x, create_graph=True)
        (d2x1,) = torch.autograd.grad(du[:, 1].sum(), x, create_graph=True)
        u_xx = d2x0[:, 0:1]
        loss = ((u_xx + u) ** 2).mean()
        grads = torch.autograd.grad(loss, [params[f"{t}{i}"] for i in range(3) for t in "wb"])
        arrays = {"x": x, "u": u, "du": du, "d2x0": d2x0[:, 0:1], "d2x1": d2x1[:, 1:2], "loss": loss.reshape(1)}
        for (i, t), gr in zip([(i, t) for i in range(3) for t in "wb"], grads):
            arrays[f"{t}{i}"] = params[f"{t}{i}"]
            arrays[f"grad_{t}{i}"] = gr
        np.savez(os.path.join(OUT, f"mlp_{name}.npz"), **{k: v.detach().numpy() for k, v in arrays.items()})
        print(f"mlp_{name}.npz: loss {loss.item():.6g}")


if __name__ == "__main__":
    main()
