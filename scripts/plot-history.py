#!/usr/bin/python3
"""plot-history.py: training curves of a train.py history as one SVG file.

    scripts/plot-history.py STEM.history.csv -o curves.svg [--title TEXT]

The history is the STEM.history.csv that scripts/train.py writes (epoch, train_loss,
train_acc, val_loss, val_acc, lr, seconds; nan where there is no val split).  The SVG
has two panels side by side, loss and accuracy by epoch, each with one polyline per
series (train solid, val dashed); a series with no finite value (no val split) is left
out and says so in the legend.  The polylines carry class="series" and
data-series="loss train" (loss val, accuracy train, accuracy val), so a test or a
script can find them.  The size is fixed, text is XML-escaped, and no font metrics are
needed, as for score's confusion.svg.  Needs only the standard library.
"""
import argparse
import csv
import math
import os
import sys
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))  # the real folder, also through a link
import outfile  # noqa: E402 (scripts/)

W, H = 760, 336            # whole picture
PW, PH = 300, 200          # one panel's plot area
LEFT, TOP = 70, 56         # first panel's plot area origin
GAP = 380                  # second panel's x offset from the first
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
COLOUR = {"train": "#1f5fa8", "val": "#d9730d"}
DASH = {"train": "", "val": ' stroke-dasharray="6 4"'}


def die(msg):
    print("plot-history: error: " + msg, file=sys.stderr)
    sys.exit(1)


def read_history(path):
    """{column: [float, ...]} with epochs in file order; SystemExit on a bad file."""
    need = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        die("cannot open '%s': %s" % (path, e.strerror))
    if not rows:
        die("'%s': no epochs" % path)
    missing = [c for c in need if c not in rows[0]]
    if missing:
        die("'%s': not a train.py history (no column %s)" % (path, ", ".join(missing)))
    cols = {c: [] for c in need}
    for n, r in enumerate(rows, 2):
        for c in need:
            try:
                cols[c].append(float(r[c]))
            except (TypeError, ValueError):
                die("'%s' line %d: %s is not a number: %r" % (path, n, c, r[c]))
    return cols


def nice_step(span, ticks):
    """A 1-2-5 step giving about `ticks` intervals over span."""
    raw = span / max(ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt(v):
    return ("%.3f" % v).rstrip("0").rstrip(".") if v != int(v) else "%d" % v


def panel(out, x0, name, epochs, series, ymax):
    """One panel: frame, grid, ticks, the series.  series: [(kind, values)]."""
    n = len(epochs)
    e_lo, e_hi = epochs[0], epochs[-1]
    xs = (lambda e: x0 + PW / 2) if e_hi == e_lo else (lambda e: x0 + (e - e_lo) / (e_hi - e_lo) * PW)
    ys = lambda v: TOP + PH - v / ymax * PH  # noqa: E731
    out.append('<g class="panel" data-panel=%s>' % quoteattr(name))
    out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="14">%s</text>'
               % (x0 + PW / 2, TOP - 12, escape(name)))
    step = nice_step(ymax, 5)
    v = 0.0
    while v <= ymax * (1 + 1e-9):
        y = ys(v)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/>' % (x0, y, x0 + PW, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end" font-size="11">%s</text>' % (x0 - 6, y + 4, fmt(v)))
        v += step
    estep = max(1, int(nice_step(max(e_hi - e_lo, 1), 8)))
    for e in range(int(e_lo), int(e_hi) + 1):
        if (e - int(e_lo)) % estep == 0 or e == int(e_hi):
            out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="11">%d</text>'
                       % (xs(e), TOP + PH + 16, e))
    out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="12">epoch</text>'
               % (x0 + PW / 2, TOP + PH + 34))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#555"/>' % (x0, TOP, PW, PH))
    for kind, vals in series:
        pts = [(xs(e), ys(min(max(v, 0.0), ymax))) for e, v in zip(epochs, vals) if math.isfinite(v)]
        out.append('<polyline class="series" data-series=%s fill="none" stroke="%s" stroke-width="2"%s '
                   'points="%s"/>' % (quoteattr("%s %s" % (name, kind)), COLOUR[kind], DASH[kind],
                                      " ".join("%.1f,%.1f" % p for p in pts)))
        if n <= 40:
            for x, y in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (x, y, COLOUR[kind]))
    out.append("</g>")


def render(h, title):
    epochs = h["epoch"]
    has_val = any(math.isfinite(v) for v in h["val_loss"])
    kinds = ["train"] + (["val"] if has_val else [])
    losses = [v for k in kinds for v in h[k + "_loss"] if math.isfinite(v)]
    lmax = max(losses) if losses else 1.0
    lmax = nice_step(lmax, 5) * math.ceil(lmax / nice_step(lmax, 5)) if lmax > 0 else 1.0
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="%s">' % (W, H, W, H, FONT),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" text-anchor="middle" font-size="15" font-weight="bold">%s</text>'
           % (W // 2, escape(title))]
    panel(out, LEFT, "loss", epochs, [(k, h[k + "_loss"]) for k in kinds], lmax)
    panel(out, LEFT + GAP, "accuracy", epochs, [(k, h[k + "_acc"]) for k in kinds], 1.0)
    ly = H - 10
    lx = W // 2 - 110
    for k in ("train", "val"):
        if k in kinds:
            out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                       % (lx, ly - 4, lx + 28, ly - 4, COLOUR[k], DASH[k]))
            out.append('<text x="%d" y="%d" font-size="12">%s</text>' % (lx + 34, ly, k))
        else:
            out.append('<text x="%d" y="%d" font-size="12">(no val split)</text>' % (lx, ly))
        lx += 110
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("history", help="STEM.history.csv from scripts/train.py")
    ap.add_argument("-o", "--out", required=True, help="the SVG file to write")
    ap.add_argument("--title", default=None, help="default: the history file's name")
    a = ap.parse_args()
    h = read_history(a.history)
    svg = render(h, a.title if a.title is not None else os.path.basename(a.history))
    try:
        with outfile.replacing(a.out) as tmp, open(tmp, "w") as f:
            f.write(svg)
    except OSError as e:
        die("cannot write '%s': %s" % (a.out, e.strerror or e))


if __name__ == "__main__":
    main()
