"""Shared machinery of the PyTorch peers: the peer registry, timing that mirrors orbit_bench's
(warm-up, rotated inputs, CUDA events on the GPU / perf_counter on the CPU, medians, a per-case
time budget), agreement metrics and torch.compile attempts.

A workload's peer module (bench/peers/<workload>.py) registers one function per case kind:

    from common import peer
    @peer("mlp")
    def mlp(case):            # case: Case (meta.json, the case folder, the device, timing helpers)
        ...
        return dict(eager_ms=..., compiled_ms=..., error=..., ...)
"""
import json
import math
import os
import time

import numpy as np
import torch

PEERS = {}


def peer(kind):
    def deco(fn):
        PEERS[kind] = fn
        return fn
    return deco


def setup_torch(device, threads):
    # Exactly f32: no TF32 in matrix products or convolutions.
    if hasattr(torch.backends, "cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.allow_tf32 = False
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("highest")
    if device == "cpu" and threads:
        torch.set_num_threads(int(threads))


class Case:
    def __init__(self, folder, device, budget_s=10.0):
        self.dir = folder
        with open(os.path.join(folder, "meta.json")) as f:
            self.meta = json.load(f)
        self.args = self.meta.get("args", {})
        self.name = self.meta["case"]
        self.device = device
        self.dev = torch.device("cuda" if device == "cuda" else "cpu")
        self.rotations = int(self.meta.get("rotations", 1))
        self.repeat = int(self.meta.get("repeat", 10))
        self.warmup = int(self.meta.get("warmup", 3))
        self.budget_s = budget_s

    def load(self, name, device=True):
        """DIR/<case>/<name>.npy as a tensor (on the run's device unless device=False)."""
        a = np.load(os.path.join(self.dir, name + ".npy"))
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(self.dev) if device else t

    def load_np(self, name):
        return np.load(os.path.join(self.dir, name + ".npy"))

    def rolled(self, t):
        """The rotated input set: input r is t with its leading axis rolled by r (as orbit_bench builds it)."""
        return [t if r == 0 else torch.roll(t, r, 0).contiguous() for r in range(self.rotations)]

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def measure(self, fn, warmup=None, repeat=None):
        """fn(r) for rotation r; returns (median ms, list of ms)."""
        warmup = self.warmup if warmup is None else warmup
        repeat = self.repeat if repeat is None else repeat
        rot = max(1, self.rotations)
        call = 0
        t0 = time.perf_counter()
        for _ in range(warmup):
            fn(call % rot)
            call += 1
        self.sync()
        if warmup > 0:
            per = (time.perf_counter() - t0) / warmup
            if per * repeat > self.budget_s:
                repeat = max(min(3, repeat), int(self.budget_s / per))
        times = []
        for _ in range(repeat):
            if self.device == "cuda":
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                fn(call % rot)
                e.record()
                e.synchronize()
                times.append(s.elapsed_time(e))
            else:
                t = time.perf_counter()
                fn(call % rot)
                times.append((time.perf_counter() - t) * 1e3)
            call += 1
        return median(times), times

    def compile_and_measure(self, make, warmup=None, repeat=None):
        """torch.compile where it exists and the device is a GPU: make() returns fn(r) built on compiled
        modules; the first call compiles (timed separately). Returns dict(compiled_ms, compile_s) or
        dict(compile_note) when not applicable or failing."""
        if not hasattr(torch, "compile"):
            return dict(compile_note="torch %s has no torch.compile" % torch.__version__)
        if self.device != "cuda" and not os.environ.get("ORBIT_BENCH_COMPILE_CPU"):
            return dict(compile_note="not tried on the CPU (ORBIT_BENCH_COMPILE_CPU=1 tries)")
        # ORBIT_BENCH_COMPILE: "none", or comma-separated substrings of the case names to compile (each
        # compile takes 20-60 s on a GPU machine; a short run compiles a few representative cases).
        only = os.environ.get("ORBIT_BENCH_COMPILE", "all").strip()
        if only != "all":
            keys = [k.strip().lower() for k in only.split(",") if k.strip() and k.strip() != "none"]
            if not any(k in self.name.lower() for k in keys):
                return dict(compile_note="not compiled in this run (ORBIT_BENCH_COMPILE=%s)" % only)
        try:
            t0 = time.time()
            fn = make()
            fn(0)
            self.sync()
            cs = time.time() - t0
            ms, times = self.measure(fn, warmup, repeat)
            return dict(compiled_ms=ms, compiled_times_ms=times, compile_s=round(cs, 1))
        except Exception as ex:  # keep going: report why
            msg = repr(ex).replace("\n", " ")
            return dict(compile_note="torch.compile failed: " + msg[:200])


def cpu_blas():
    """Which BLAS library torch's CPU matrix products call (Debian's torch: whatever libblas.so.3 is)."""
    torch.randn(64, 64).matmul(torch.randn(64, 64))
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() or "mkl" in l.lower()})
    except OSError:
        return "unknown"
    if not libs:
        return "built-in"
    names = [os.path.basename(l) for l in libs]
    if any("openblas" in l for l in libs):
        return "OpenBLAS (%s)" % next(n for n in names if "openblas" in n)
    if any("mkl" in l for l in libs):
        return "MKL"
    return "reference netlib BLAS (%s)" % ", ".join(names)


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def rel_err(peer_value, orbit_value, rowwise=False):
    """max |a - b| / max |b| (b: orbit's), over everything or per row (then the worst row)."""
    a = np.asarray(peer_value.detach().cpu().numpy() if torch.is_tensor(peer_value) else peer_value, dtype=np.float64)
    b = np.asarray(orbit_value, dtype=np.float64)
    if a.shape != b.shape:
        a = a.reshape(b.shape)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    if rowwise and b.ndim >= 2:
        a2, b2 = a.reshape(b.shape[0], -1), b.reshape(b.shape[0], -1)
        den = np.maximum(np.abs(b2).max(1), 1e-30)
        return float((np.abs(a2 - b2).max(1) / den).max())
    den = max(float(np.abs(b).max()) if b.size else 0.0, 1e-30)
    return float(np.abs(a - b).max() / den) if b.size else 0.0


def finite_or_none(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None
