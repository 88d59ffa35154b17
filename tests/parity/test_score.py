"""score against scikit-learn 1.2: every metric to 1e-12, confusion matrices exactly.

Random prediction sets cover 2, 3, 7 and 8 classes, classes missing from the
labels or the predictions, a single class, ties in the probabilities, exact
zeros and ones (log-loss clipping), several folds and splits.  The bootstrap
intervals are checked against a Python re-implementation of the documented
generator (xoshiro256** seeded by splitmix64) with sklearn's metrics and
numpy.percentile on the same resamples.
"""
import csv
import math
import os
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, cohen_kappa_score,
                             confusion_matrix, f1_score, log_loss, matthews_corrcoef,
                             precision_recall_fscore_support, top_k_accuracy_score)

ROOT = os.environ.get("RVT_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
SCORE = os.path.join(BIN, "score")
TOL = 1e-12
EPS_AUTO = np.finfo(np.float64).eps

SEED7 = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
NATIVE8 = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


# ---- writing inputs and running the tool ------------------------------------------

def write_predictions(path, classes, rows):
    """rows: (id, split, label index, pred index, probability row)"""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "split", "label", "pred"] + ["p_" + c for c in classes])
        for cid, split, y, p, prob in rows:
            w.writerow([cid, split, classes[y], classes[p]] + [repr(float(x)) for x in prob])


def run_score(files, outdir, *extra):
    cmd = [SCORE, "-q", "-o", outdir] + list(extra) + list(files)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}: {r.stderr}"
    metrics = {}
    with open(os.path.join(outdir, "metrics.csv"), newline="") as f:
        rd = csv.reader(f)
        assert next(rd) == ["metric", "class", "split", "fold", "value"]
        for metric, cls, split, fold, value in rd:
            key = (metric, cls, split, fold)
            assert key not in metrics, f"duplicate row {key}"
            metrics[key] = float(value)
    with open(os.path.join(outdir, "confusion.csv"), newline="") as f:
        conf = list(csv.reader(f))
    return metrics, conf


# ---- the reference ------------------------------------------------------------------

def reference_group(classes, y, p, prob, eps="auto"):
    """Every metric of one group, computed with scikit-learn as the schema documents."""
    k = len(classes)
    labels = list(range(k))
    y = np.asarray(y)
    p = np.asarray(p)
    prob = np.asarray(prob, dtype=np.float64)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["n"] = float(len(y))
        out["accuracy"] = accuracy_score(y, p)
        out["balanced_accuracy"] = balanced_accuracy_score(y, p)
        if k == 2:
            # binary y: sklearn wants the positive class's score; k=2 >= 2 classes hits all
            out["top2_accuracy"] = top_k_accuracy_score(y, prob[:, 1], k=2, labels=labels)
        else:
            out["top2_accuracy"] = top_k_accuracy_score(y, prob, k=2, labels=labels)
        out["log_loss"] = log_loss(y, prob, labels=labels, eps=eps)
        out["cohen_kappa"] = cohen_kappa_score(y, p, labels=labels)
        out["matthews_corrcoef"] = matthews_corrcoef(y, p)
        for avg in ("macro", "weighted", "micro"):
            pr, rc, f1, _ = precision_recall_fscore_support(y, p, labels=labels, average=avg)
            out["precision_" + avg] = pr
            out["recall_" + avg] = rc
            out["f1_" + avg] = f1
        pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=labels, average=None)
        cm = confusion_matrix(y, p, labels=labels)
        with np.errstate(divide="ignore", invalid="ignore"):
            cacc = cm.diagonal() / cm.sum(axis=1)
    res = {(m, ""): float(v) for m, v in out.items()}
    for c, name in enumerate(classes):
        res[("precision", name)] = float(pr[c])
        res[("recall", name)] = float(rc[c])
        res[("f1", name)] = float(f1[c])
        res[("support", name)] = float(sup[c])
        res[("class_accuracy", name)] = float(cacc[c])
    return res, cm


def reference(classes, folds, split_sel=None, eps="auto"):
    """folds: list of row lists as write_predictions takes.  Returns {key: value}, cm."""
    expect = {}
    nf = len(folds)

    def groups(rows):
        if split_sel is not None:
            rows = [r for r in rows if r[1] == split_sel]
            keys = [split_sel] if rows else []
        else:
            keys = ["all"] + sorted({r[1] for r in rows})
        for key in keys:
            sel = [r for r in rows if key == "all" or r[1] == key]
            yield key, sel

    per_fold = {}
    main_cm = None
    for f, rows in enumerate(folds):
        for key, sel in groups(rows):
            vals, cm = reference_group(classes, [r[2] for r in sel], [r[3] for r in sel],
                                       [r[4] for r in sel], eps)
            for (m, c), v in vals.items():
                expect[(m, c, key, str(f))] = v
                per_fold.setdefault((m, c, key), []).append(v)
            if nf == 1 and key == (split_sel or "all"):
                main_cm = cm
    if nf >= 2:
        pooled = [r for rows in folds for r in rows]
        for key, sel in groups(pooled):
            vals, cm = reference_group(classes, [r[2] for r in sel], [r[3] for r in sel],
                                       [r[4] for r in sel], eps)
            for (m, c), v in vals.items():
                expect[(m, c, key, "pooled")] = v
            if key == (split_sel or "all"):
                main_cm = cm
        for (m, c, key), v in per_fold.items():
            expect[(m, c, key, "mean")] = float(np.mean(v))
            expect[(m, c, key, "std")] = float(np.std(v))
    return expect, main_cm


def compare(got, expect, tol=TOL):
    """Same keys, values within tol (NaN equal to NaN); returns how many are bit-identical."""
    ci = {k for k in got if k[0].endswith(("_ci_low", "_ci_high"))}
    assert set(got) - ci == set(expect), (
        f"missing {sorted(set(expect) - set(got))[:5]}, extra {sorted(set(got) - ci - set(expect))[:5]}")
    same = 0
    for key, want in expect.items():
        have = got[key]
        if math.isnan(want) or math.isnan(have):
            assert math.isnan(want) and math.isnan(have), f"{key}: got {have}, want {want}"
            same += 1
            continue
        assert abs(have - want) <= tol, f"{key}: got {have!r}, want {want!r}"
        same += have == want
    return same


def check_confusion(conf, classes, cm):
    assert conf[0] == ["label"] + classes
    assert [r[0] for r in conf[1:]] == classes
    got = np.array([[int(x) for x in r[1:]] for r in conf[1:]])
    assert got.shape == cm.shape and (got == cm).all(), f"confusion\n{got}\nwant\n{cm}"


# ---- random prediction sets ------------------------------------------------------------

def random_probs(rng, n, k, style):
    if style == "dirichlet":
        return rng.dirichlet(np.full(k, 0.7), size=n)
    if style == "ties":
        # small integer weights: many equal probabilities in a row
        w = rng.integers(0, 3, size=(n, k)).astype(np.float64)
        w[w.sum(axis=1) == 0, 0] = 1
        return w / w.sum(axis=1, keepdims=True)
    if style == "uniform":
        return np.full((n, k), 1.0 / k)
    if style == "onehot":
        # exact 0 and 1: log-loss clips them
        out = np.zeros((n, k))
        out[np.arange(n), rng.integers(0, k, size=n)] = 1.0
        return out
    raise ValueError(style)


def random_set(rng, k, n_folds, missing=False, single=False, style="dirichlet"):
    classes = (SEED7 if k == 7 else NATIVE8 if k == 8 else [f"c{i}" for i in range(k)])[:k]
    present_y = list(range(k))
    present_p = list(range(k))
    if missing:
        present_y = sorted(rng.choice(k, size=rng.integers(1, k), replace=False).tolist())
        present_p = sorted(rng.choice(k, size=rng.integers(1, k), replace=False).tolist())
    if single:
        c = int(rng.integers(0, k))
        present_y = [c]
        present_p = [c] if rng.random() < 0.5 else present_p
    folds = []
    for f in range(n_folds):
        n = int(rng.integers(1, 120))
        prob = random_probs(rng, n, k, style)
        y = rng.choice(present_y, size=n)
        if rng.random() < 0.5:
            # predictions mostly from the probabilities (argmax), restricted to present_p
            p = np.array([present_p[int(np.argmax(prob[i, present_p]))] for i in range(n)])
        else:
            p = rng.choice(present_p, size=n)
        splits = rng.choice(["train", "val", "test"], size=n, p=[0.5, 0.2, 0.3])
        folds.append([(f"f{f}-{i:04d}", str(splits[i]), int(y[i]), int(p[i]), prob[i])
                      for i in range(n)])
    return classes, folds


CASES = []
for i in range(48):
    k = [2, 3, 7, 8][i % 4]
    CASES.append(dict(seed=1000 + i, k=k, n_folds=1 + (i // 4) % 4,
                      missing=(i % 3 == 1), single=(i % 11 == 5),
                      style=["dirichlet", "ties", "uniform", "onehot", "ties"][i % 5]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "k{k}-folds{n_folds}-{style}-{seed}".format(**c))
def test_random_sets(case, tmp_path):
    rng = np.random.default_rng(case["seed"])
    classes, folds = random_set(rng, case["k"], case["n_folds"], case["missing"], case["single"],
                                case["style"])
    files = []
    for f, rows in enumerate(folds):
        files.append(str(tmp_path / f"fold{f}.csv"))
        write_predictions(files[-1], classes, rows)
    got, conf = run_score(files, str(tmp_path / "out"))
    expect, cm = reference(classes, folds)
    compare(got, expect)
    check_confusion(conf, classes, cm)


def test_single_class_everything_right(tmp_path):
    """One class, every clip right: kappa is 0/0 = NaN in sklearn and here."""
    classes = SEED7
    rows = [(f"x{i}", "test", 3, 3, np.eye(7)[3] * 0.9 + 0.1 / 7) for i in range(10)]
    write_predictions(tmp_path / "p.csv", classes, rows)
    got, conf = run_score([str(tmp_path / "p.csv")], str(tmp_path / "out"))
    expect, cm = reference(classes, [rows])
    assert math.isnan(got[("cohen_kappa", "", "all", "0")])
    assert math.isnan(got[("class_accuracy", "Angry", "all", "0")])
    compare(got, expect)
    check_confusion(conf, classes, cm)


def test_top2_ties_take_the_higher_class_index(tmp_path):
    """All probabilities equal: sklearn's reversed mergesort ranks the last two classes first."""
    classes = ["a", "b", "c", "d"]
    rows = [(f"x{t}", "test", t, 0, [0.25] * 4) for t in range(4)]
    write_predictions(tmp_path / "p.csv", classes, rows)
    got, _ = run_score([str(tmp_path / "p.csv")], str(tmp_path / "out"))
    assert got[("top2_accuracy", "", "all", "0")] == 0.5  # classes c and d hit
    compare(got, reference(classes, [rows])[0])


def test_split_selection(tmp_path):
    rng = np.random.default_rng(7)
    classes, folds = random_set(rng, 7, 3)
    files = []
    for f, rows in enumerate(folds):
        files.append(str(tmp_path / f"fold{f}.csv"))
        write_predictions(files[-1], classes, rows)
    got, conf = run_score(files, str(tmp_path / "out"), "--split", "test")
    expect, cm = reference(classes, folds, split_sel="test")
    compare(got, expect)
    check_confusion(conf, classes, cm)


def test_eps_1e15(tmp_path):
    """--eps 1e-15 gives sklearn's log_loss(eps=1e-15) (the pre-1.2 default)."""
    rng = np.random.default_rng(3)
    classes, folds = random_set(rng, 8, 1, style="onehot")
    write_predictions(tmp_path / "p.csv", classes, folds[0])
    got, _ = run_score([str(tmp_path / "p.csv")], str(tmp_path / "out"), "--eps", "1e-15")
    compare(got, reference(classes, folds, eps=1e-15)[0])
    got, _ = run_score([str(tmp_path / "p.csv")], str(tmp_path / "out2"))
    compare(got, reference(classes, folds, eps=EPS_AUTO)[0])


def test_bit_identical_share(tmp_path):
    """Not just 1e-12: the operations are numpy's, so nearly every value is bit-identical."""
    rng = np.random.default_rng(11)
    classes, folds = random_set(rng, 8, 5)
    files = []
    for f, rows in enumerate(folds):
        files.append(str(tmp_path / f"fold{f}.csv"))
        write_predictions(files[-1], classes, rows)
    got, _ = run_score(files, str(tmp_path / "out"))
    expect, _ = reference(classes, folds)
    same = compare(got, expect)
    assert same >= 0.99 * len(expect), f"{same} of {len(expect)} bit-identical"


# ---- bootstrap ---------------------------------------------------------------------------

M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


class Xoshiro256ss:
    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed, v = splitmix64(seed)
            self.s.append(v)

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            x = self.next()
            if x < limit:
                return x % n


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def bootstrap_reference(classes, y, p, n_boot, seed, key):
    rng = Xoshiro256ss(seed ^ fnv1a(key))
    y = np.asarray(y)
    p = np.asarray(p)
    n = len(y)
    acc, f1 = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            idx = np.array([rng.below(n) for _ in range(n)])
            acc.append(accuracy_score(y[idx], p[idx]))
            f1.append(f1_score(y[idx], p[idx], labels=list(range(len(classes))), average="macro"))
    return np.percentile(acc, [2.5, 97.5]), np.percentile(f1, [2.5, 97.5])


def test_bootstrap_intervals(tmp_path):
    rng = np.random.default_rng(5)
    classes, folds = random_set(rng, 7, 2, missing=True)
    files = []
    for f, rows in enumerate(folds):
        files.append(str(tmp_path / f"fold{f}.csv"))
        write_predictions(files[-1], classes, rows)
    seed = 12345678901234567890
    got, _ = run_score(files, str(tmp_path / "out"), "--bootstrap", "60", "--seed", str(seed))
    checked = 0
    for fold, rows in [("0", folds[0]), ("1", folds[1]), ("pooled", folds[0] + folds[1])]:
        for split in ["all", "test"]:
            sel = [r for r in rows if split == "all" or r[1] == split]
            if not sel:
                continue
            acc, f1 = bootstrap_reference(classes, [r[2] for r in sel], [r[3] for r in sel], 60,
                                          seed, f"{fold}/{split}")
            for name, want in [("accuracy", acc), ("f1_macro", f1)]:
                lo = got[(name + "_ci_low", "", split, fold)]
                hi = got[(name + "_ci_high", "", split, fold)]
                assert abs(lo - want[0]) <= TOL and abs(hi - want[1]) <= TOL, (
                    f"{name} {fold}/{split}: got [{lo}, {hi}], want {want}")
                checked += 1
    assert checked >= 8
    assert not any(k[3] in ("mean", "std") and k[0].endswith(("_ci_low", "_ci_high")) for k in got)
    # the other metrics are unchanged by --bootstrap
    compare(got, reference(classes, folds)[0])
    # same seed, same bytes; another seed, other intervals
    run_score(files, str(tmp_path / "again"), "--bootstrap", "60", "--seed", str(seed))
    a = open(tmp_path / "out" / "metrics.csv", "rb").read()
    assert a == open(tmp_path / "again" / "metrics.csv", "rb").read()
    other, _ = run_score(files, str(tmp_path / "other"), "--bootstrap", "60", "--seed", "1")
    assert any(other[k] != got[k] for k in got if k[0].endswith("_ci_low"))
