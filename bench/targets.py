"""The issues' performance targets, judged per row of a benchmark table.

The targets are stated for a GPU (orbit against PyTorch on the same card in the same run: issues 4, 7,
8, 10, 11), so report.py judges them on CUDA runs only. Each target is a list of conditions:

    eager    PyTorch eager time / orbit time >= bound
    compile  torch.compile time / orbit time >= bound (not judged where torch.compile was not run)
    rate     orbit's work per second >= bound (the case's own work unit, e.g. pair terms)
    ms       orbit's median time <= bound

A row is "met" when every condition was measured and holds, "MISSED" when a measured one fails, and
"open" when none fails but one could not be judged (e.g. torch.compile not run in that session)."""
import re

TARGETS = [
    # issue 4: MLP inference at least 3x faster than eager and than torch.compile
    (r"^mlp_infer_", [("eager", 3.0), ("compile", 3.0)]),
    # issues 4 and 10: the residual-only PINN step at least 3x faster than eager
    (r"^pinn_heat_step_", [("eager", 3.0)]),
    # issue 11: LJ55 energy + forces at 500 G pair terms per second or more
    (r"^energy_grad_lj55_", [("rate", 500e9)]),
    # issue 7: EGNN training steps 3x torch.compile and 5x eager
    (r"^egnn_step_", [("compile", 3.0), ("eager", 5.0)]),
    # issue 8: the iDEM training step 10x eager
    (r"^idem_step_", [("eager", 10.0)]),
    # issue 8: the sampler 5x torch.compile
    (r"^idem_sampler_", [("compile", 5.0)]),
    # issue 11: prox_R at d = 2^24 within 10 ms
    (r"^prox_(imminent|search)_gauss_d16777216$", [("ms", 10.0)]),
]


def _si(x):
    for f, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return "%.3g %s" % (x / f, p)
    return "%.3g " % x


def conditions(case):
    """The target conditions of a case name, or [] when no issue sets one."""
    for pattern, conds in TARGETS:
        if re.search(pattern, case):
            return conds
    return []


def judge(case, orbit_ms, eager_ratio, compiled_ratio, work_per_s, work_unit=""):
    """(status, text) for one row: status is None (no target), "met", "MISSED" or "open"; text says
    each condition with the measured value, e.g. "eager 0.92x < 3x; compile 3x: not run"."""
    conds = conditions(case)
    if not conds:
        return None, ""
    unit = {"pair terms": "pair/s"}.get(work_unit, (work_unit + "/s") if work_unit else "/s")
    rate = lambda x: "%s%s" % (_si(x), unit)  # noqa: E731
    # kind -> (measured value, at least (else at most), the value as text, the bound as text, if missing)
    spec = {
        "eager": (eager_ratio, True, lambda x: "eager %.2fx" % x, lambda b: "%gx" % b, lambda b: "eager %gx: not run" % b),
        "compile": (compiled_ratio, True, lambda x: "compile %.2fx" % x, lambda b: "%gx" % b,
                    lambda b: "compile %gx: not run" % b),
        "rate": (work_per_s, True, rate, rate, lambda b: "rate: not measured"),
        "ms": (orbit_ms, False, lambda x: "%.3g ms" % x, lambda b: "%g ms" % b, lambda b: "time: not measured"),
    }
    parts, failed, unjudged = [], False, False
    for kind, bound in conds:
        if kind not in spec:
            raise ValueError("targets: unknown condition kind %r" % kind)
        v, at_least, value_text, bound_text, missing = spec[kind]
        if v is None:
            parts.append(missing(bound))
            unjudged = True
            continue
        ok = v >= bound if at_least else v <= bound
        rel = (">=" if ok else "<") if at_least else ("<=" if ok else ">")
        parts.append("%s %s %s" % (value_text(v), rel, bound_text(bound)))
        failed = failed or not ok
    return ("MISSED" if failed else "open" if unjudged else "met"), "; ".join(parts)
