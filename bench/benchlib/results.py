"""Results: per-metric samples of both daemons, summarized as median and
min-max spread, compared as a ratio, printed as a table, saved as JSON and
drawn as a PNG chart (with gnuplot)."""

import json
import os
import statistics
import subprocess
import textwrap


class Metric:
    def __init__(self, name, unit, better):
        assert better in ("lower", "higher")
        self.name, self.unit, self.better = name, unit, better


def summary(samples):
    if not samples:
        return None
    return {"median": statistics.median(samples), "min": min(samples),
            "max": max(samples), "n": len(samples), "samples": samples}


def ratio(metric, stock, ferrovs):
    """How many times better ferrovs is than stock (>1: ferrovs better),
    whichever direction the metric counts in; None when undefined."""
    if not stock or not ferrovs:
        return None
    s, f = stock["median"], ferrovs["median"]
    if s == f:
        return 1.0  # including both zero (e.g. nothing lost on either side)
    # A difference of two medians can come out at or below zero (noise):
    # no ratio then, on either side.
    if s <= 0 or f <= 0:
        return None
    return s / f if metric.better == "lower" else f / s


def make_row(scenario, metric, samples, missing, reference=None):
    """samples/missing: dicts keyed by daemon label ('stock', 'ferrovs')."""
    row = {"scenario": scenario, "metric": metric.name, "unit": metric.unit,
           "better": metric.better}
    for label in ("stock", "ferrovs"):
        s = summary(samples.get(label, []))
        why = missing.get(label)
        if s and why and why != "not measured":
            s["stopped"] = why  # measured, then failed in a later step or round
        row[label] = s if s else {"missing": why or "not measured"}
    row["ratio"] = ratio(metric, row["stock"] if "median" in row["stock"] else None,
                         row["ferrovs"] if "median" in row["ferrovs"] else None)
    variants = {label: summary(v) or {"missing": missing.get(label) or "not measured"}
                for label, v in samples.items() if label not in ("stock", "ferrovs")}
    if variants:
        row["variants"] = variants  # ferrovs run with other settings
    if reference:
        name, values, why = reference
        row["reference"] = {"name": name, **(summary(values) or
                                             {"missing": why or "not measured"})}
    return row


def missing_row(scenario, reason):
    """A scenario that could not run at all."""
    return {"scenario": scenario, "metric": "-", "unit": "", "better": "higher",
            "stock": {"missing": reason}, "ferrovs": {"missing": reason}, "ratio": None}


def fmt_num(x):
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def fmt_cell(cell):
    if "median" in cell:
        spread = f" [{fmt_num(cell['min'])}-{fmt_num(cell['max'])}]" if cell["n"] > 1 else ""
        return fmt_num(cell["median"]) + spread
    return "missing: " + cell["missing"]


def table(rows, width=150):
    """The results table as text; long 'missing' reasons wrap inside their
    column so that each row still says why."""
    head = ["scenario", "metric", "stock median [min-max]", "ferrovs median [min-max]",
            "ratio"]
    body = []
    previous = None
    for r in rows:
        metric = r["metric"] + (f" ({r['unit']})" if r["unit"] else "")
        ratio_text = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        ref = r.get("reference")
        if ref:
            metric += f"; {ref['name']}: " + (fmt_num(ref["median"]) if "median" in ref
                                                else "missing: " + ref["missing"])
        for label, cell in r.get("variants", {}).items():
            metric += f"; ferrovs {label}: " + fmt_cell(cell)
        cells = []
        for label in ("stock", "ferrovs"):
            text = fmt_cell(r[label])
            # A reason repeated down one scenario is spelled out once.
            if previous and previous["scenario"] == r["scenario"] and \
                    "missing" in r[label] and previous[label] == r[label]:
                text = "missing (as above)"
            cells.append(text)
        body.append([r["scenario"], metric, *cells, ratio_text])
        previous = r
    caps = [10, 44, 34, 34, 7]
    widths = [min(cap, max(len(h), *(len(b[i]) for b in body)) if body else len(h))
              for i, (h, cap) in enumerate(zip(head, caps))]
    lines = []

    def emit(cells):
        wrapped = [textwrap.wrap(c, w, break_on_hyphens=False) or [""]
                   for c, w in zip(cells, widths)]
        for k in range(max(len(w) for w in wrapped)):
            lines.append("  ".join((w[k] if k < len(w) else "").ljust(widths[i])
                                   for i, w in enumerate(wrapped)).rstrip())

    emit(head)
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        emit(b)
    return "\n".join(lines)


def write_json(path, meta, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=1)
        f.write("\n")


def draw_chart(png_path, rows, title):
    """Bar chart of the ratios (log scale, 1 = parity) through gnuplot.
    Metrics without a ratio are listed under the chart."""
    have = [r for r in rows if r["ratio"] is not None]
    lacking = {}
    for r in rows:
        if r["ratio"] is None:
            lacking[r["scenario"]] = lacking.get(r["scenario"], 0) + 1
    # The data goes inline, as a gnuplot data block.
    data = ["$ratios << EOD"]
    for i, r in enumerate(have):
        label = f"{r['scenario']}: {r['metric']}".replace('"', "'")
        data.append(f'{i} {r["ratio"]:.6g} "{label}"')
    data.append("EOD")
    note = ""
    if lacking:
        note = "no ratio (a side missing, see the table): " + ", ".join(
            f"{name} ({n} metric{'s' if n > 1 else ''})" for name, n in lacking.items())
    note = "\\n".join(textwrap.wrap(note, 110)).replace('"', "'")
    script = data + [
        f'set terminal pngcairo size 1200,{600 + 14 * len(have)} font "sans,10"',
        f'set output "{png_path}"',
        f'set title "{title}"'.replace("\n", " "),
        "set logscale y 2",
        'set ylabel "ferrovs advantage (x better than stock; >1 = ferrovs better)"',
        "set style fill solid 0.6 border -1",
        "set boxwidth 0.7",
        "set grid ytics",
        "set xtics rotate by -35 left noenhanced",
        "set bmargin 14",
        "set rmargin 16",
        f'set label 1 "{note}" at screen 0.02, screen 0.06 noenhanced font "sans,9"',
        "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2",
    ]
    if have:
        lows = [r["ratio"] for r in have]
        highs = lows
        script += [f"set xrange [-0.6:{len(have) - 0.4}]",
                   f"set yrange [{min(0.5, *lows) / 1.5:.3g}:{max(2.0, *highs) * 1.5:.3g}]",
                   'plot $ratios using 1:2:xtic(3) with boxes notitle, '
                   '$ratios using 1:2:(sprintf("%.2fx", $2)) with labels offset 0,0.8 notitle']
    else:
        script += ["set xrange [0:1]", "set yrange [0.5:2]", "unset xtics",
                   'set label 2 "no ratios yet: every metric is missing in ferrovs" '
                   "at graph 0.5, graph 0.75 center",
                   "plot 1/0 notitle"]
    done = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                          capture_output=True, timeout=60)
    if done.returncode != 0 or not os.path.exists(png_path):
        raise RuntimeError(f"gnuplot failed: {done.stderr.strip()[-300:]}")
