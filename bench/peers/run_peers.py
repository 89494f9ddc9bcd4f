"""Runs the PyTorch peers of the cases orbit_bench wrote into an exchange folder.

    python3 bench/peers/run_peers.py --exchange DIR --device cpu|cuda [--threads N] --json FILE

Every DIR/<case>/meta.json names its workload and peer kind; the peer function registered for that
kind in bench/peers/<workload>.py loads the case's inputs, checks agreement with orbit's outputs,
times itself and returns a dict. One JSON list of those dicts is written to FILE."""
import argparse
import importlib.util
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import common  # noqa: E402


def load_module(workload):
    path = os.path.join(HERE, workload + ".py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("orbit_peer_" + workload, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exchange", required=True)
    ap.add_argument("--device", choices=["cpu", "cuda"], required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--budget", type=float, default=10.0, help="seconds of timed runs per case and variant")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    common.setup_torch(a.device, a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("run_peers: --device cuda but torch sees no GPU")
    dev_name = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    blas = "cuBLAS" if a.device == "cuda" else common.cpu_blas()
    if a.device == "cpu":
        dev_name += " (BLAS: %s)" % blas
    print("torch %s on %s, %d threads" % (torch.__version__, dev_name, torch.get_num_threads()), flush=True)
    results = []
    cases = sorted(d for d in os.listdir(a.exchange) if os.path.exists(os.path.join(a.exchange, d, "meta.json")))
    for name in cases:
        case = common.Case(os.path.join(a.exchange, name), a.device, a.budget)
        rec = dict(case=name, workload=case.meta["workload"], peer=case.meta["peer"], torch=torch.__version__,
                   torch_device=dev_name, torch_threads=torch.get_num_threads(), tolerance=case.meta["tolerance"])
        t0 = time.time()
        try:
            mod = load_module(case.meta["workload"])
            fn = common.PEERS.get(case.meta["peer"]) if mod else None
            if fn is None:
                rec["note"] = "no peer function '%s' in bench/peers/%s.py" % (case.meta["peer"], case.meta["workload"])
            else:
                rec.update(fn(case))
        except Exception as ex:
            rec["failed"] = repr(ex)[:300]
            traceback.print_exc()
        finally:
            if a.device == "cuda":
                torch.cuda.empty_cache()
        if "error" in rec:
            rec["agree"] = bool(rec["error"] <= rec["tolerance"])
        rec["wall_s"] = round(time.time() - t0, 2)
        line = "  %-44s" % name
        if rec.get("eager_ms") is not None:
            line += " eager %11.4f ms" % rec["eager_ms"]
        if rec.get("compiled_ms") is not None:
            line += "  compiled %11.4f ms (compile %ss)" % (rec["compiled_ms"], rec.get("compile_s"))
        if "error" in rec:
            line += "  rel.err %.2e %s" % (rec["error"], "ok" if rec["agree"] else "DISAGREES")
        for k in ("compile_note", "note", "failed"):
            if rec.get(k):
                line += "  [%s]" % rec[k]
        print(line, flush=True)
        results.append(rec)
    with open(a.json, "w") as f:
        json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
