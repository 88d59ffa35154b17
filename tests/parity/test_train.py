"""scripts/train.py: the seed's recipe, seeded and deterministic, and what it writes.

A 14-clip store of random inputs (model_fixtures) is enough to check the mechanics; that
training learns something is shown by `make demo` (held-out accuracy vs chance) and
used by test_int8's accuracy test.
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_fixtures as F  # noqa: E402

TRAIN = os.path.join(F.ROOT, "scripts", "train.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    fr, mel = F.random_inputs(14, 5)
    path = str(d / "features.h5")
    F.make_store(path, fr, mel, [i % 7 for i in range(14)], ["train"] * 8 + ["val"] * 3 + ["test"] * 3)
    return path


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    """trained(*args) -> (folder, CompletedProcess): train.py on the store with these
    arguments and -o FOLDER/model, run once in this module and shared by the tests that
    read the same run (each run is a ~5 s process, mostly torch's start-up).  Callers
    only read the folder, which holds that run's model.h5, model.pt, model.history.csv."""
    runs = {}

    def get(*args):
        if args not in runs:
            d = tmp_path_factory.mktemp("run")
            runs[args] = (d, train(store, d / "model", *args))
        return runs[args]
    return get


# the modes of test_seeded_and_deterministic, whose runs the other tests reuse
FREEZE = ("--batch", "4", "--freeze-image", "--epochs", "3")
FULL = ("--batch", "4", "--epochs", "2")


def train(store, out, *args):
    p = subprocess.run(["/usr/bin/python3", TRAIN, store, "-o", str(out), "--threads", "1",
                        "--conv", "onednn", *args],  # a fixed path: auto may tip either way
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


def h5_datasets(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}


def same_checkpoints(a, b):
    da, db = h5_datasets(a), h5_datasets(b)
    return da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da)


@pytest.mark.parametrize("mode", [FREEZE, FULL], ids=["freeze-image", "full"])
def test_seeded_and_deterministic(trained, mode):
    """The same seed twice (once with -q, which skips the per-epoch evaluation): the same
    state_dict and the same model.h5; another seed: other weights.  Per-epoch
    validation lines go to stderr."""
    a, p = trained(*mode)
    b, q = trained("-q", *mode)
    assert q.stderr == "", q.stderr
    c, _ = trained("--seed", "7", *mode)
    epochs = int(mode[-1])
    lines = [x for x in p.stderr.splitlines() if " val acc " in x]
    assert len(lines) == epochs and lines[0].startswith("train.py: epoch 1/%d loss " % epochs), p.stderr
    sa, sb = torch.load(a / "model.pt"), torch.load(b / "model.pt")
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert same_checkpoints(a / "model.h5", b / "model.h5")
    assert not same_checkpoints(a / "model.h5", c / "model.h5")
    # the history: one line an epoch, the same numbers with -q (all but the seconds)
    ha, hb = [(x / "model.history.csv").read_text().splitlines() for x in (a, b)]
    assert ha[0] == "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds" and len(ha) == epochs + 1
    assert [r.rsplit(",", 1)[0] for r in ha] == [r.rsplit(",", 1)[0] for r in hb]
    assert ["%.3f" % float(r.split(",")[4]) for r in ha[1:]] == [x.split(" val acc ")[1][:5] for x in lines]
    # the exported checkpoint holds the trained weights, named as PyTorch names them
    d = h5_datasets(a / "model.h5")
    assert all(np.array_equal(d[k], v.numpy()) for k, v in sa.items() if k in d)
    assert "classifier.weight" in d and "img_encoder.features.0.0.weight" in d


def test_freeze_image_keeps_efficientnet_weights(trained):
    """--freeze-image trains everything but EfficientNet's weights (its BatchNorm
    statistics are re-estimated); the full mode trains them too.  (The trained runs
    are test_seeded_and_deterministic's; only the --lr 0 one is this test's own.)"""
    f, _ = trained(*FREEZE)
    u, _ = trained("--lr", "0", *FREEZE)
    f, u = h5_datasets(f / "model.h5"), h5_datasets(u / "model.h5")
    conv = "img_encoder.features.3.0.block.0.0.weight"
    assert np.array_equal(f[conv], u[conv])            # frozen: the same initial weights
    assert not np.array_equal(f["fusion.0.weight"], u["fusion.0.weight"])   # trained
    assert not np.array_equal(f["audio_encoder.0.weight"], u["audio_encoder.0.weight"])
    full, _ = trained(*FULL)
    assert not np.array_equal(h5_datasets(full / "model.h5")[conv], u[conv])


def test_refuses_a_store_without_train_clips(tmp_path):
    fr, mel = F.random_inputs(2, 6)
    path = str(tmp_path / "f.h5")
    F.make_store(path, fr, mel, [0, 1], ["test", "test"])
    p = subprocess.run(["/usr/bin/python3", TRAIN, path, "-o", str(tmp_path / "m")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "no clips in the train split" in p.stderr
    assert not (tmp_path / "m.h5").exists()


def test_output_named_with_h5(store, trained, tmp_path):
    """-o model.h5 writes model.h5 (not model.h5.h5), model.pt and model.history.csv beside it, with the
    same weights as the stem spelling -o model (test_seeded_and_deterministic's -q run)."""
    train(store, tmp_path / "model.h5", "-q", *FREEZE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5", "model.history.csv", "model.pt"]
    stem, _ = trained("-q", *FREEZE)  # -o STEM/model
    assert sorted(p.name for p in stem.iterdir()) == ["model.h5", "model.history.csv", "model.pt"]
    assert same_checkpoints(tmp_path / "model.h5", stem / "model.h5")


def test_blas_coretype_runs_here():
    """train.py and scripts/pipeline.mk pick the same OpenBLAS kernels, ones this CPU
    runs: a fixed SkylakeX killed train.py with SIGILL on a CPU without AVX-512."""
    flags = F.cpu_flags()
    assert flags is not None
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = ("import importlib.util, sys; sys.argv = ['train.py'];"
            "s = importlib.util.spec_from_file_location('train_mod', %r);"
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m);"
            "print(m.blas_coretype() or '')" % TRAIN)
    py = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env)
    assert py.returncode == 0, py.stderr
    mk = subprocess.run(["make", "-s", "-f", os.path.join(F.ROOT, "scripts", "pipeline.mk"),
                         "--eval", "show-core: ; @echo '$(OPENBLAS_CORETYPE)'", "show-core"],
                        capture_output=True, text=True, env=env, cwd=F.ROOT)
    assert mk.returncode == 0, mk.stderr
    core = py.stdout.strip()
    assert mk.stdout.strip() == core
    if "avx512f" not in flags:
        assert core != "SkylakeX"
    if "avx2" in flags and "fma" in flags:
        assert core in ("SkylakeX", "Haswell")
    # what it picked runs: a matrix product in torch with those kernels
    env["OPENBLAS_CORETYPE"] = core
    run = subprocess.run(["/usr/bin/python3", "-c", "import torch; (torch.ones(64, 64) @ torch.ones(64, 64)).sum()"],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, (core, run.returncode, run.stderr)
