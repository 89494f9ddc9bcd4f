"""An SVG chart of one benchmark table: for every workload with a PyTorch time, how many times faster
orbit is than PyTorch eager (and than torch.compile where it ran), on a log axis with 1x marked, and
the issue's target where one applies (a black tick; bars green where the row meets its target, red
where it misses). Written beside the markdown table by report.py (latest-<device>.svg)."""
import math
from xml.sax.saxutils import escape

from targets import conditions

BAR_H, GAP, LEFT, RIGHT, TOP, BOTTOM = 9, 8, 430, 50, 48, 52


def nice(v, down):
    """The nearest of 1, 2, 5 times a power of ten below (down) or above v."""
    k = math.floor(math.log10(v))
    steps = [m * 10 ** e for e in (k - 1, k, k + 1) for m in (1, 2, 5)]
    return max(c for c in steps if c <= v * (1 + 1e-9)) if down else min(c for c in steps if c >= v * (1 - 1e-9))


def write_svg(path, table, title, judged):
    """table: report.py's rows (label, case, eager_ratio, compiled_ratio, target_status). judged: whether
    the targets apply to this device (the issues' targets are for the GPU)."""
    rows = [t for t in table if t.get("eager_ratio") or t.get("compiled_ratio")]
    if not rows:
        return False
    vals = [v for t in rows for v in (t.get("eager_ratio"), t.get("compiled_ratio")) if v]
    if judged:
        vals += [b for t in rows for k, b in conditions(t["case"]) if k in ("eager", "compile")]
    lo, hi = nice(min(min(vals), 0.5), down=True), nice(max(max(vals), 2.0) * 1.3, down=False)
    width = 1100
    plot_w = width - LEFT - RIGHT
    row_h = 2 * BAR_H + GAP
    height = TOP + len(rows) * row_h + BOTTOM

    def x(v):
        return LEFT + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="18" font-size="13" font-weight="bold">%s</text>' % escape(title),
           '<text x="10" y="34" fill="#444">PyTorch time / orbit time (log scale; right of 1x: orbit is faster)'
           '</text>']
    label_minor = math.log10(hi / lo) <= 3  # 2x and 5x labelled only on short axes
    decade = 10 ** math.floor(math.log10(lo) + 1e-9)
    while decade <= hi * 1.0001:
        for m in (1, 2, 5):
            v = decade * m
            if lo <= v <= hi:
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (
                    x(v), TOP - 4, x(v), height - BOTTOM + 4, "#999" if m == 1 else "#e4e4e4"))
                if m == 1 or label_minor:
                    out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%gx</text>' % (
                        x(v), height - BOTTOM + 18, v))
        decade *= 10
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="1.5"/>' % (
        x(1), TOP - 4, x(1), height - BOTTOM + 4))
    colours = {"met": ("#2e9d4a", "#8fd19e"), "MISSED": ("#c8382f", "#eb9a94")}
    for i, t in enumerate(rows):
        y0 = TOP + i * row_h
        out.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>' % (
            LEFT - 8, y0 + BAR_H, escape(t["label"])))
        dark, light = colours.get(t.get("target_status") if judged else None, ("#3b6fb6", "#9dbbe3"))
        for j, (key, fill, name) in enumerate((("eager_ratio", dark, "eager"), ("compiled_ratio", light, "compile"))):
            v = t.get(key)
            if not v:
                continue
            y = y0 + j * BAR_H
            end = x(min(max(v, lo), hi))
            x0, x1 = sorted((x(1), end))
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %.2fx</title></rect>' % (
                x0, y, max(x1 - x0, 1), BAR_H - 1, fill, name, v))
            # the value right of the bar's end; for a bar left of 1x, right of the 1x line
            tx = max(end, x(1)) + 3
            out.append('<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#222" font-size="9">%.2fx%s</text>' % (
                tx, y + BAR_H / 2, v, "" if j == 0 else " compile"))
        if judged:
            for k, b in conditions(t["case"]):
                if k not in ("eager", "compile"):
                    continue
                y = y0 + (0 if k == "eager" else BAR_H)
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2">'
                           '<title>target: %s %gx</title></line>' % (x(b), y - 1, x(b), y + BAR_H, k, b))
    legend_y = height - 10
    out.append('<text x="10" y="%d" fill="#444">dark bar: vs PyTorch eager; light bar: vs torch.compile%s</text>' % (
        legend_y, "; black tick: the issue's target (green: met, red: missed)" if judged else ""))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return True
