"""Peers of the small networks' matrix products: torch.matmul on the same layout (f32, TF32 off)."""
import torch

from common import peer, rel_err


@peer("matmul")
def matmul(case):
    ta, tb = bool(case.args["trans_a"]), bool(case.args["trans_b"])
    As, Bs = case.rolled(case.load("a")), case.rolled(case.load("b"))

    def product(r):
        a, b = As[r], Bs[r]
        return torch.matmul(a.t() if ta else a, b.t() if tb else b)

    err = rel_err(product(0), case.load_np("c"))
    ms, times = case.measure(product)
    return dict(eager_ms=ms, eager_times_ms=times, error=err,
                compile_note="not applicable (one library call)")
