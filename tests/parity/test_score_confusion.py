"""score --from-confusion against scikit-learn 1.2: a published confusion matrix
(rows true class, columns predicted) expanded into its (true, predicted) pairs
must give every metric sklearn gives on those pairs, to 1e-12 (in practice the
same bits); log-loss and top-2 accuracy, which need probabilities, are nan.

Also: the four layouts (header row and/or first column of names, or bare
counts), the seed's published matrix (its accuracy is the diagonal over the
total, whatever its text says), and malformed matrices (exit 1, one line naming
the file and the reason, nothing written).
"""
import csv
import math
import os
import re
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, cohen_kappa_score,
                             confusion_matrix, matthews_corrcoef,
                             precision_recall_fscore_support)

ROOT = os.environ.get("RVT_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
SCORE = os.path.join(BIN, "score")
TOL = 1e-12
SEED7 = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]


def write_matrix(path, cm, classes=None, header=True, names=True, corner="label"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if header:
            w.writerow(([corner] if names else []) + list(classes))
        for t, row in enumerate(cm):
            w.writerow(([classes[t]] if names else []) + [int(x) for x in row])


def run(matrix, outdir, *extra):
    cmd = [SCORE, "-q", "-o", str(outdir), "--from-confusion", str(matrix)] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True)


def read_metrics(outdir):
    got = {}
    with open(os.path.join(outdir, "metrics.csv"), newline="") as f:
        rd = csv.reader(f)
        assert next(rd) == ["metric", "class", "split", "fold", "value"]
        for metric, cls, split, fold, value in rd:
            assert (split, fold) == ("all", "0"), "one group: split all, fold 0"
            got[(metric, cls)] = float(value)
    return got


def reference(cm, classes):
    """sklearn on the pairs the matrix counts, labels = every class in order."""
    k = len(classes)
    labels = list(range(k))
    y = np.repeat(np.repeat(np.arange(k), k), np.asarray(cm).ravel())
    p = np.repeat(np.tile(np.arange(k), k), np.asarray(cm).ravel())
    assert (confusion_matrix(y, p, labels=labels) == cm).all()
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["n"] = float(len(y))
        out["accuracy"] = accuracy_score(y, p)
        out["balanced_accuracy"] = balanced_accuracy_score(y, p)
        out["top2_accuracy"] = math.nan
        out["log_loss"] = math.nan
        out["cohen_kappa"] = cohen_kappa_score(y, p, labels=labels)
        out["matthews_corrcoef"] = matthews_corrcoef(y, p)
        for avg in ("macro", "weighted", "micro"):
            pr, rc, f1, _ = precision_recall_fscore_support(y, p, labels=labels, average=avg)
            out["precision_" + avg], out["recall_" + avg], out["f1_" + avg] = pr, rc, f1
        pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=labels, average=None)
        with np.errstate(divide="ignore", invalid="ignore"):
            cacc = np.diagonal(cm) / np.asarray(cm).sum(axis=1)
    res = {(m, ""): float(v) for m, v in out.items()}
    for c, name in enumerate(classes):
        for m, v in (("precision", pr), ("recall", rc), ("f1", f1), ("support", sup),
                     ("class_accuracy", cacc)):
            res[(m, name)] = float(v[c])
    return res


def compare(got, want):
    assert set(got) == set(want), f"extra {set(got) - set(want)}, missing {set(want) - set(got)}"
    same = 0
    for key, w in want.items():
        g = got[key]
        if math.isnan(w) or math.isnan(g):
            assert math.isnan(w) and math.isnan(g), f"{key}: got {g}, want {w}"
        else:
            assert abs(g - w) <= TOL, f"{key}: got {g!r}, want {w!r}"
        same += math.isnan(w) or g == w
    return same


def random_matrix(rng, k, style):
    if style == "diagonal-heavy":
        cm = rng.integers(0, 6, size=(k, k))
        cm[np.diag_indices(k)] += rng.integers(10, 60, size=k)
    elif style == "sparse":
        cm = rng.integers(0, 4, size=(k, k)) * (rng.random((k, k)) < 0.3)
    elif style == "empty-rows":
        cm = rng.integers(0, 9, size=(k, k))
        cm[rng.integers(0, k)] = 0          # a class without clips
        cm[:, rng.integers(0, k)] = 0       # a class never predicted
    else:
        cm = rng.integers(0, 30, size=(k, k))
    if cm.sum() == 0:
        cm[0, 0] = 1
    return cm


CASES = [(k, style, seed) for k in (2, 3, 7, 8) for style in
         ("diagonal-heavy", "sparse", "empty-rows", "uniform") for seed in range(2)]


@pytest.mark.parametrize("k,style,seed", CASES)
def test_random_matrices(k, style, seed, tmp_path):
    rng = np.random.default_rng(1000 * k + seed)
    cm = random_matrix(rng, k, style)
    classes = [f"c{i}" for i in range(k)]
    write_matrix(tmp_path / "m.csv", cm, classes)
    r = run(tmp_path / "m.csv", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    compare(read_metrics(tmp_path / "out"), reference(cm, classes))
    with open(tmp_path / "out" / "confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["label"] + classes
    assert np.array_equal(np.array([[int(x) for x in r[1:]] for r in rows[1:]]), cm)


@pytest.mark.parametrize("header,names,corner", [(True, True, "label"), (True, True, ""),
                                                 (True, False, None), (False, True, None),
                                                 (False, False, None)])
def test_layouts(header, names, corner, tmp_path):
    """Header row and/or first column of names, or bare counts: the same metrics."""
    cm = np.array([[9, 1, 0], [2, 6, 3], [0, 1, 8]])
    classes = ["neutral", "happy", "sad"]
    write_matrix(tmp_path / "m.csv", cm, classes, header=header, names=names, corner=corner)
    r = run(tmp_path / "m.csv", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    shown = classes if (header or names) else ["0", "1", "2"]
    compare(read_metrics(tmp_path / "out"), reference(cm, shown))


# The seed's table: 7 classes, 1,105 clips, 916 on the diagonal.  Its cells are not
# in this repository, so this matrix is built to the same totals (rows are RAVDESS-like
# class sizes; off-diagonal errors spread over the neighbours); what the test pins is
# what any matrix with those totals gives: accuracy 916 / 1105 = 0.8289592760180995,
# not the 0.667 the seed's text claims.
SEED_CM = np.array([
    [158, 4, 3, 1, 2, 5, 3],    # Angry    176
    [5, 150, 4, 2, 6, 4, 5],    # Disgust  176
    [6, 4, 138, 6, 10, 8, 4],   # Fear     176
    [2, 3, 6, 150, 6, 5, 4],    # Happy    176
    [2, 6, 14, 4, 138, 3, 9],   # Sad      176
    [4, 3, 3, 6, 2, 152, 6],    # Surprise 176
    [2, 5, 3, 2, 4, 3, 30],     # Neutral   49
])


def test_seed_matrix(tmp_path):
    assert SEED_CM.sum() == 1105 and np.trace(SEED_CM) == 916
    write_matrix(tmp_path / "seed.csv", SEED_CM, SEED7)
    r = subprocess.run([SCORE, "-o", str(tmp_path / "out"), "--from-confusion",
                        str(tmp_path / "seed.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = read_metrics(tmp_path / "out")
    assert compare(got, reference(SEED_CM, SEED7)) == len(got), "bit-identical on the seed's matrix"
    assert got[("accuracy", "")] == 916 / 1105
    assert abs(got[("accuracy", "")] - 0.667) > 0.15, "the seed's text (66.7 %) is not its matrix"
    assert "accuracy           0.8290  (916 of 1105 right)" in r.stdout
    assert "top-2 accuracy        n/a" in r.stdout and "log-loss              n/a" in r.stdout
    assert os.path.getsize(tmp_path / "out" / "confusion.svg") > 0


BAD = [
    ("label,A,B\nA,1,2\n", "'A' is not a count of clips, and read as a header the 1 rows below it do not make a square matrix"),
    ("label,A,B\nA,1,2\nB,3\n", "line 2: 3 fields, want 2"),
    ("A,B\n1,2.5\n3,4\n", r"line 2: column 2: '2.5' is not a count"),
    ("A,B\n1,-2\n3,4\n", r"'-2' is not a count"),
    ("A,B\n50%,50%\n0,1\n", "is not a count"),
    ("label,A,B\nA,1,2\nC,3,4\n", "row class 'C' but column 2 is 'B'"),
    ("label,A,A\nA,1,2\nA,3,4\n", "class 'A' twice"),
    ("A,B\n0,0\n0,0\n", "every count is 0"),
    ("label,A,B\n", "must be square"),
    ("", "empty file"),
    ("A,1,2\n3,4\n", "must be square"),
    ("1,2,3,4\n5,6,7,8\n", "must be square"),
    ("label,A,B,C\nA,1,2\nB,3,4\n", "header has 4 fields"),
    ("A,1,0\n2,3\n", "1 x 1 matrix: the matrix must be square"),
    ("A,B\n1,2\n3,4\n5,6\n", "must be square"),
]


@pytest.mark.parametrize("text,reason", BAD)
def test_bad_matrices(text, reason, tmp_path):
    m = tmp_path / "bad.csv"
    m.write_text(text)
    r = run(m, tmp_path / "out")
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0], r.stderr
    assert re.search(reason, lines[0]), lines[0]
    assert not (tmp_path / "out").exists(), "nothing written on bad input"
    assert m.read_text() == text


def test_usage(tmp_path):
    m = tmp_path / "m.csv"
    write_matrix(m, np.eye(2, dtype=int), ["a", "b"])
    r = subprocess.run([SCORE, "--from-confusion", str(m), str(m)], capture_output=True, text=True)
    assert r.returncode == 2 and "takes no predictions file" in r.stderr
    r = run(m, tmp_path / "out", "--confusion", str(m))
    assert r.returncode == 2 and not (tmp_path / "out").exists(), r.stderr
    assert m.read_text().startswith("label,a,b"), "the input is never replaced"
