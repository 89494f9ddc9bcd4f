"""Peers of the machine ceilings: torch.matmul in f32 (TF32 off) and Tensor.copy_."""
import torch

from common import peer, rel_err


@peer("sgemm")
def sgemm(case):
    a0, b0 = case.load("a"), case.load("b")
    As, Bs = case.rolled(a0), case.rolled(b0)
    c = torch.matmul(As[0], Bs[0])
    err = rel_err(c, case.load_np("c"))
    ms, times = case.measure(lambda r: torch.matmul(As[r], Bs[r]))
    return dict(eager_ms=ms, eager_times_ms=times, error=err,
                compile_note="not applicable (one library call)")


@peer("copy")
def copy(case):
    n = int(case.args["bytes"]) // 4
    srcs = [torch.randn(n, device=case.dev) for _ in range(case.rotations)]
    dsts = [torch.zeros(n, device=case.dev) for _ in range(case.rotations)]
    ms, times = case.measure(lambda r: dsts[r].copy_(srcs[r]))
    ok = bool(torch.equal(dsts[0], srcs[0]))
    return dict(eager_ms=ms, eager_times_ms=times, error=0.0 if ok else float("inf"),
                compile_note="not applicable (one library call)")
