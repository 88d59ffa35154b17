"""scripts/experiment's fold rule, without training: train.py --folds K --fold I must
give every clip the split ravdess-index --folds K --fold I gives it (one store serves
all folds only if the two agree), and the driver's own split rewriting of predictions
must agree with both.  The driver end to end trains a network per fold, too slow for
a test; docs/reproduce.md shows a run."""
import csv
import importlib.util
import os
import subprocess

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
