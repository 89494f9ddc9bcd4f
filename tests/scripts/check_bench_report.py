"""ctest bench_report_targets: bench/targets.py judges the issues' targets correctly, and bench/report.py
renders a stored record (markdown with the target column and summary, a well-formed SVG chart).

    python3 tests/scripts/check_bench_report.py REPO_ROOT WORK_DIR"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def main():
    root, work = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.join(root, "bench"))
    from targets import judge

    fails = []

    def expect(got, want, what):
        if got != want:
            fails.append("%s: got %r, want %r" % (what, got, want))

    # Ratio targets: met, missed at the bound's edge, and not judged where torch.compile was not run.
    expect(judge("mlp_infer_N4194304_w64_d4", 2.0, 3.5, 3.1, None)[0], "met", "mlp both above 3x")
    expect(judge("mlp_infer_N4194304_w64_d4", 2.0, 2.999, 3.1, None)[0], "MISSED", "mlp eager just below 3x")
    expect(judge("mlp_infer_N4194304_w64_d4", 2.0, 3.5, None, None)[0], "open", "mlp compile not run")
    expect(judge("egnn_step_lj55_B512_h128_L5", 50.0, 4.0, None, None)[0], "MISSED", "egnn eager below 5x")
    expect(judge("egnn_step_lj55_B512_h128_L5", 40.0, 5.0, 3.0, None)[0], "met", "egnn at both bounds")
    expect(judge("egnn_forward_lj55_B512_h128_L5", 40.0, 1.0, None, None), (None, ""), "forward: no target")
    expect(judge("idem_sampler_lj13_B1000_steps100", 100.0, 9.0, 4.9, None)[0], "MISSED", "sampler 4.9x")
    # Rate and time targets.
    expect(judge("energy_grad_lj55_B65536", 0.4, 100.0, None, 245e9, "pair terms"),
           ("MISSED", "245 Gpair/s < 500 Gpair/s"), "lj55 energy at 245 G pair/s")
    expect(judge("energy_grad_lj55_B65536", 0.2, 100.0, None, 501e9, "pair terms")[0], "met", "lj55 energy 501")
    expect(judge("prox_search_gauss_d16777216", 5.68, 370.0, None, None), ("met", "5.68 ms <= 10 ms"), "prox 2^24")
    expect(judge("prox_search_gauss_d16777216", 10.5, 370.0, None, None)[0], "MISSED", "prox 10.5 ms")
    expect(judge("prox_search_gauss_d1048576", 10.5, 370.0, None, None)[0], None, "prox 2^20: no target")

    # A record rendered again: the CUDA table gets the target column, the summary and the chart.
    rec = dict(device="cuda", device_name="test card", date="2026-11-28 00:00 UTC", commit="abc", command="x",
               table=[
                   dict(case="mlp_infer_N4194304_w64_d4", label="MLP", orbit_ms=2.0, eager_ms=8.0, compiled_ms=None,
                        eager_ratio=4.0, compiled_ratio=None, rate="-", of_limit=0.5, agree="ok 0e+00", notes=""),
                   dict(case="energy_grad_lj55_B65536", label="lj55 energy", orbit_ms=0.4, eager_ms=48.0,
                        compiled_ms=None, eager_ratio=120.0, compiled_ratio=None, rate="-", of_limit=0.15,
                        agree="ok 1e-06", notes=""),
                   dict(case="idem_step_dw4_B512_K1000", label="dw4 iDEM step", orbit_ms=1.0, eager_ms=11.0,
                        compiled_ms=None, eager_ratio=11.0, compiled_ratio=None, rate="-", of_limit=0.1,
                        agree="ok 5e-05", notes="")],
               orbit=[dict(case="energy_grad_lj55_B65536", work=65536 * 1485 * 1.0, work_unit="pair terms",
                           median_ms=0.4)])
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "bench-cuda-test.json")
    with open(path, "w") as f:
        json.dump(rec, f)
    r = subprocess.run([sys.executable, os.path.join(root, "bench", "report.py"), "--from-record", path, "--out", work],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fails.append("report --from-record failed (%d): %s" % (r.returncode, r.stderr))
    else:
        md = open(os.path.join(work, "bench-cuda-test.md")).read()
        for want in ("| target |", "open: eager 4.00x >= 3x; compile 3x: not run",
                     "MISSED: 243 Gpair/s < 500 Gpair/s", "met: eager 11.00x >= 10x",
                     "1 met, 1 missed, 1 open of 3"):
            if want not in md:
                fails.append("markdown lacks %r:\n%s" % (want, md))
        svg = ET.parse(os.path.join(work, "bench-cuda-test.svg")).getroot()
        rects = [e for e in svg.iter() if e.tag.endswith("rect")]
        if len(rects) != 1 + 3:  # the background and one bar per row with a PyTorch time
            fails.append("chart: %d rect elements, want 4" % len(rects))
    for f in fails:
        print("FAIL " + f)
    print("bench report: %d checks failed" % len(fails) if fails else "bench report: all checks passed")
    return 1 if fails else 0


if __name__ == "__main__":
    raise SystemExit(main())
