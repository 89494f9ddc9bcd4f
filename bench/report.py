"""Merges orbit_bench's JSON and the peers' JSON of one bench/run.sh run into the comparison table
(printed, and written as markdown) and one JSON record for the history.

    python3 bench/report.py --dir EXCHANGE --out OUTDIR --command "..." [--commit SHA]
    python3 bench/report.py --from-record bench/results/bench-cuda-....json --out OUTDIR

The second form renders a stored record again (table, target verdicts, chart) without a new record.

Ratios are PyTorch time / orbit time (above 1: orbit is faster). The card's limits are the better of
orbit's and PyTorch's SGEMM rate and copy bandwidth measured in the same run; a case's "of limit" is
max(flops / SGEMM rate, bytes / copy bandwidth) / orbit's time, from the cost model orbit_bench
declares for the case (bench/README.md). On a CUDA run each row with a target from the issues
(bench/targets.py) gets its verdict (met / MISSED / open) in a "target" column and in a summary; the
chart (latest-<device>.svg, bench/chart.py) shows the ratios with the targets marked."""
import argparse
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chart import write_svg  # noqa: E402
from targets import judge  # noqa: E402

SI = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")]
UNITS = {"flop": "FLOP", "B": "B", "pair terms": "pair", "rows": "row", "points": "pt", "weights": "w", "keys": "key"}


def si(x, unit):
    for f, p in SI:
        if abs(x) >= f:
            return "%.3g %s%s/s" % (x / f, p, UNITS.get(unit, unit))
    return "%.3g %s/s" % (x, UNITS.get(unit, unit))


def fmt_ms(x):
    if x is None:
        return "-"
    return "%.4g" % x if x < 1000 else "%.0f" % x


def load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def collect(folder):
    """orbit_bench's documents and the rows (orbit result, peer result) of one exchange folder."""
    orbit_docs = [load(p, None) for p in sorted(glob.glob(os.path.join(folder, "*.orbit.json")))]
    orbit_docs = [d for d in orbit_docs if d]
    if not orbit_docs:
        raise SystemExit("report: no orbit_bench results in %s" % folder)
    peers = {}
    for p in glob.glob(os.path.join(folder, "*.peer.json")):
        for r in load(p, []):
            peers[r["case"]] = r
    rows = []
    for d in orbit_docs:
        for r in d["results"]:
            rows.append(dict(orbit=r, peer=peers.get(r["case"], {})))
    order = ["ceiling", "products", "mlp", "pinn", "energy", "egnn", "idem", "prox"]
    rows.sort(key=lambda x: order.index(x["orbit"]["workload"]) if x["orbit"]["workload"] in order else 99)
    return orbit_docs, rows


def limits(rows):
    """The machine's SGEMM rate and copy bandwidth: the better side of this run's ceiling cases."""
    peak_flops = peak_bw = None
    for x in rows:
        o, p = x["orbit"], x["peer"]
        best_ms = min(t for t in (o["median_ms"], p.get("eager_ms")) if t)
        if o["case"].startswith("sgemm"):
            peak_flops = o["flops"] / (best_ms * 1e-3)
        elif o["case"].startswith("copy"):
            peak_bw = o["bytes"] / (best_ms * 1e-3)
    return peak_flops, peak_bw


def table_rows(rows, device, peak_flops, peak_bw):
    table = []
    for x in rows:
        o, p = x["orbit"], x["peer"]
        om, em, cm = o["median_ms"], p.get("eager_ms"), p.get("compiled_ms")
        frac = None
        if o.get("orbit_device", device) == device and om > 0:
            lim = 0.0
            if o.get("flops") and peak_flops:
                lim = max(lim, o["flops"] / peak_flops)
            if o.get("bytes") and peak_bw:
                lim = max(lim, o["bytes"] / peak_bw)
            if lim > 0:
                frac = lim / (om * 1e-3)
        agree = "-"
        if "error" in p:
            agree = ("ok %.0e" if p.get("agree") else "NO %.1e") % p["error"]
        elif o.get("extra", {}).get("self_checked"):
            agree = "self-checked"
        elif p.get("failed"):
            agree = "peer failed"
        notes = []
        if o.get("orbit_device", device) != device:
            notes.append("orbit on %s" % o["orbit_device"])
        for k in ("compile_note", "note", "failed"):
            if p.get(k) and not p[k].startswith(("not applicable", "not tried")) and "has no torch.compile" not in p[k]:
                notes.append(p[k])
        table.append(dict(
            case=o["case"], label=o["label"], orbit_ms=om, eager_ms=em, compiled_ms=cm,
            eager_ratio=(em / om) if em and om else None, compiled_ratio=(cm / om) if cm and om else None,
            rate=si(o["work"] / (om * 1e-3), o["work_unit"]) if o.get("work") and om else "-",
            of_limit=frac, agree=agree, notes="; ".join(notes), compile_s=p.get("compile_s")))
    return table


def add_verdicts(table, orbit_rows, device):
    """Each row's target verdict (bench/targets.py); the issues' targets are judged on CUDA runs only."""
    by_case = {o["case"]: o for o in orbit_rows}
    for t in table:
        t["target_status"], t["target"] = None, ""
        if device != "cuda":
            continue
        o = by_case.get(t["case"], {})
        om = t["orbit_ms"]
        work_per_s = o["work"] / (om * 1e-3) if o.get("work") and om else None
        t["target_status"], t["target"] = judge(t["case"], om, t["eager_ratio"], t["compiled_ratio"], work_per_s,
                                                o.get("work_unit", ""))


def render(table, meta, device, md_path, svg_path, title):
    """Prints the table and writes it as markdown and as the SVG chart; returns the markdown text."""
    judged = device == "cuda"
    hdr = ["workload", "orbit ms", "torch eager ms", "torch.compile ms", "eager/orbit", "compile/orbit",
           "orbit throughput", "of limit", "agree"] + (["target"] if judged else [])

    def cells(t):
        c = [t["label"], fmt_ms(t["orbit_ms"]), fmt_ms(t["eager_ms"]), fmt_ms(t["compiled_ms"]),
             "%.2fx" % t["eager_ratio"] if t["eager_ratio"] else "-",
             "%.2fx" % t["compiled_ratio"] if t["compiled_ratio"] else "-",
             t["rate"], "%.1f%%" % (100 * t["of_limit"]) if t["of_limit"] is not None else "-", t["agree"]]
        if judged:
            c.append("%s: %s" % (t["target_status"], t["target"]) if t.get("target_status") else "-")
        return c

    widths = [max(len(h), *(len(cells(t)[i]) for t in table)) for i, h in enumerate(hdr)]
    print()
    for m in meta:
        print(m)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(hdr, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(cells(t), widths)))
    notes = [(t["label"], t["notes"]) for t in table if t.get("notes")]
    for lab, n in notes:
        print("  note: %s: %s" % (lab, n))
    summary = verdict_summary(table) if judged else ""
    if summary:
        print("\n" + summary)
    md = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    md += ["| " + " | ".join(cells(t)) + " |" for t in table]
    md_text = "\n".join("- " + m for m in meta) + "\n\n" + "\n".join(md) + "\n"
    if notes:
        md_text += "\n" + "\n".join("- %s: %s" % n for n in notes) + "\n"
    if summary:
        md_text += "\n" + summary + "\n"
    with open(md_path, "w") as f:
        f.write(md_text)
    wrote = [md_path]
    if write_svg(svg_path, table, title, judged):
        wrote.append(svg_path)
    print("\nwrote " + " and ".join(wrote))
    return md_text


def verdict_summary(table):
    judged = [t for t in table if t.get("target_status")]
    if not judged:
        return ""
    lines = ["targets (issues 4, 7, 8, 10, 11): %d met, %d missed, %d open of %d" % (
        sum(t["target_status"] == "met" for t in judged), sum(t["target_status"] == "MISSED" for t in judged),
        sum(t["target_status"] == "open" for t in judged), len(judged))]
    lines += ["- %s %s: %s" % (t["target_status"], t["label"], t["target"]) for t in judged]
    return "\n".join(lines)


def from_record(path, out):
    rec = load(path, None)
    if not rec or "table" not in rec:
        raise SystemExit("report: %s is not a bench record (no 'table')" % path)
    device = rec.get("device", "?")
    table = rec["table"]
    add_verdicts(table, rec.get("orbit", []), device)
    meta = ["device: %s (%s)" % (rec.get("device_name", "?"), device), "date: %s" % rec.get("date", "?"),
            "commit: %s" % rec.get("commit", "?"), "command: %s" % rec.get("command", "?"),
            "rendered again from %s" % os.path.basename(path)]
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
    render(table, meta, device, base + ".md", base + ".svg",
           "orbit vs PyTorch on %s, %s" % (rec.get("device_name", device), rec.get("date", "")))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir")
    ap.add_argument("--from-record")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bash bench/run.sh")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    if a.from_record:
        return from_record(a.from_record, a.out)
    if not a.dir:
        ap.error("one of --dir or --from-record is required")

    orbit_docs, rows = collect(a.dir)
    head = orbit_docs[0]
    peak_flops, peak_bw = limits(rows)
    device = head["device"]
    table = table_rows(rows, device, peak_flops, peak_bw)
    add_verdicts(table, [x["orbit"] for x in rows], device)

    torch_v = next((x["peer"].get("torch") for x in rows if x["peer"].get("torch")), "not run")
    torch_dev = next((x["peer"].get("torch_device") for x in rows if x["peer"].get("torch_device")), "")
    threads = next((x["peer"].get("torch_threads") for x in rows if x["peer"].get("torch_threads")), None)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ceil_txt = "limits (best of orbit and PyTorch in this run): SGEMM f32 %s, copy %s" % (
        si(peak_flops, "flop") if peak_flops else "-", si(peak_bw, "B") if peak_bw else "-")
    meta = ["device: %s (%s)" % (head["device_name"], device), "date: %s" % date, "commit: %s" % a.commit,
            "orbit threads: %s; torch %s on %s%s" % (head["threads"], torch_v, torch_dev,
                                                     (", %s threads" % threads) if threads else ""),
            "load average at start / end of orbit_bench: %s / %s" % (head["loadavg_start"],
                                                                     orbit_docs[-1]["loadavg_end"]),
            ceil_txt, "command: %s" % a.command]
    if not any(t["compiled_ms"] for t in table):
        why = next((x["peer"]["compile_note"] for x in rows if x["peer"].get("compile_note", "").startswith(
            ("torch ", "not tried"))), "")
        if why:
            meta.append("torch.compile: %s" % why)
    if device != "cuda":
        meta.append("targets: the issues' targets are for the GPU; not judged on %s" % device)
    if a.note:
        meta.append("note: %s" % a.note)

    os.makedirs(a.out, exist_ok=True)
    render(table, meta, device, os.path.join(a.out, "latest-%s.md" % device),
           os.path.join(a.out, "latest-%s.svg" % device),
           "orbit vs PyTorch on %s, %s, commit %s" % (head["device_name"], date, a.commit))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = dict(date=date, commit=a.commit, command=a.command, device=device, device_name=head["device_name"],
                  torch=torch_v, torch_device=torch_dev, orbit_threads=head["threads"], torch_threads=threads,
                  loadavg_start=head["loadavg_start"], loadavg_end=orbit_docs[-1]["loadavg_end"],
                  sgemm_flops_per_s=peak_flops, copy_bytes_per_s=peak_bw, note=a.note, table=table,
                  orbit=[x["orbit"] for x in rows], peers=[x["peer"] for x in rows])
    path = os.path.join(a.out, "bench-%s-%s.json" % (device, stamp))
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote %s" % path)
    bad = [t["label"] for t in table if t["agree"].startswith("NO")]
    if bad:
        print("DISAGREEMENT beyond tolerance: " + ", ".join(bad))
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
