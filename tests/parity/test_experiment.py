"""scripts/experiment's fold rule, without training: train.py --folds K --fold I must
give every clip the split ravdess-index --folds K --fold I gives it (one store serves
all folds only if the two agree), and the driver's own split rewriting of predictions
must agree with both.  Then the driver end to end on a tiny corpus (3 actors x 2
clips, 32 x 32 pixel frames, image branch frozen, 2 epochs): the report, and each
fold's training curves (an SVG that parses as XML, one polyline per series, one point
per epoch) drawn from train.py's history; a rerun trains nothing.  docs/reproduce.md
shows a run on the whole sample corpus."""
import csv
import importlib.util
import math
import os
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

ROOT = os.environ.get("RVT_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
SAMPLE = os.path.join(ROOT, "data", "sample")
EXPERIMENT = os.path.join(ROOT, "scripts", "experiment")


def train_module():
    spec = importlib.util.spec_from_file_location("train_fold", os.path.join(ROOT, "scripts", "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakeStore:
    def __init__(self, actors):
        self.actors = np.asarray(actors)


@pytest.mark.skipif(not os.path.isdir(SAMPLE), reason="no data/sample (make sample)")
@pytest.mark.parametrize("k", [3, 4])
def test_fold_rule_matches_ravdess_index(k, tmp_path):
    mod = train_module()
    for i in range(k):
        out = tmp_path / ("index-%d.csv" % i)
        r = subprocess.run([os.path.join(BIN, "ravdess-index"), "-q", SAMPLE, "--folds", str(k),
                            "--fold", str(i), "-o", str(out)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        st = FakeStore([int(r["actor"]) for r in rows])
        mod.Store.fold_splits(st, k, i)
        assert list(st.splits) == [r["split"] for r in rows]
        # the driver's rewrite of a predictions file's split column, from the ids
        pred = tmp_path / "p.csv"
        with open(pred, "w") as f:
            f.write("id,split,label,pred,p_a,p_b\n")
            for r in rows:
                f.write("%s,zzz,a,a,1,0\n" % r["id"])
        awk = subprocess.run(["sh", "-c", 'sed -n "/^resplit() {/,/^}/p" "$0" > "$1.fn" && . "$1.fn" && '
                              'resplit "$2" "$3" "$4" "$5"', EXPERIMENT, str(tmp_path / "x"), str(k), str(i),
                              str(pred), str(tmp_path / "q.csv")], capture_output=True, text=True)
        assert awk.returncode == 0, awk.stderr
        with open(tmp_path / "q.csv", newline="") as f:
            assert [r["split"] for r in csv.DictReader(f)] == [r["split"] for r in rows]


def test_usage_errors(tmp_path):
    for args in (["-k", "2", "x"], ["-k", "x", "x"], []):
        r = subprocess.run([EXPERIMENT, "-o", str(tmp_path / "o")] + args, capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
    assert not (tmp_path / "o").exists()


SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.skipif(not os.path.isdir(SAMPLE), reason="no data/sample (make sample)")
def test_driver_tiny(tmp_path):
    corpus = tmp_path / "corpus"
    for a in (1, 2, 3):   # K = 3: one actor a fold (test, val, train)
        d = corpus / ("Actor_%02d" % a)
        d.mkdir(parents=True)
        for e in ("01", "05"):
            for m in ("01", "03"):
                name = "%s-01-%s-01-01-01-%02d.%s" % (m, e, a, "mp4" if m == "01" else "wav")
                os.symlink(os.path.join(SAMPLE, d.name, name), d / name)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("image:\n  width: 32\n  height: 32\n")
    out = tmp_path / "x"
    epochs = 2
    cmd = [EXPERIMENT, "-k", "3", "-o", str(out), "-c", str(cfg), "-b", "10", "-t",
           "--epochs %d --batch 2 --freeze-image --threads 1 --conv onednn" % epochs, str(corpus)]
    env = dict(os.environ, BIN=BIN)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    report = (out / "report.md").read_text()
    assert "| pooled |" in report and "| mean |" in report, report
    for i in range(3):
        with open(out / ("fold-%d" % i) / "history.csv", newline="") as f:
            hist = list(csv.DictReader(f))
        assert [int(h["epoch"]) for h in hist] == list(range(1, epochs + 1))
        assert all(math.isfinite(float(h[c])) for h in hist for c in ("train_loss", "val_loss", "val_acc"))
        svg = out / ("fold-%d" % i) / "curves.svg"
        assert "](fold-%d/curves.svg)" % i in report
        root = ET.parse(svg).getroot()
        assert root.tag == SVG + "svg"
        lines = {p.get("data-series"): p.get("points").split() for p in root.iter(SVG + "polyline")}
        assert sorted(lines) == ["accuracy train", "accuracy val", "loss train", "loss val"], lines
        for name, pts in lines.items():
            assert len(pts) == epochs, (name, pts)
            assert all(len(p.split(",")) == 2 for p in pts)
    # resumable: a rerun trains nothing and keeps the curves
    before = (out / "fold-0" / "curves.svg").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "train.py" not in r.stderr and "not retrained" in r.stderr, r.stderr
    assert (out / "fold-0" / "curves.svg").stat().st_mtime_ns == before
