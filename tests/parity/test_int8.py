"""int8: quantize-model against NumPy/PyTorch, and its refusals (schemas/checkpoint-int8.md).

The checkpoints here are small synthetic model.h5 files with the real key names (the
quantizer decides by name and shape), so these tests need no trained model.  The
network-level accuracy test (int8 vs fp32 vs PyTorch quantized) is at the end and runs
when a trained checkpoint and a feature store are available.
"""
import hashlib
import os
import subprocess

import h5py
import numpy as np
import pytest

ROOT = os.environ.get("RVT_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
QM = os.path.join(BIN, "quantize-model")

KEYS = {
    # key: shape, expected kind (None: never quantized)
    "fusion.0.weight": ((64, 134), "linear"),
    "fusion.0.bias": ((64,), None),
    "classifier.weight": ((7, 64), "linear"),
    "img_attn.fc.0.weight": ((16, 128), "linear"),
    "img_encoder.features.0.0.weight": ((32, 3, 3, 3), "stem"),
    "img_encoder.features.1.0.block.0.0.weight": ((32, 1, 3, 3), None),  # depthwise
    "img_encoder.features.1.0.block.1.fc1.weight": ((8, 32, 1, 1), "se"),
    "img_encoder.features.1.0.block.1.fc1.bias": ((8,), None),
    "img_encoder.features.1.0.block.2.0.weight": ((16, 32, 1, 1), "pointwise"),
    "img_encoder.features.1.0.block.2.1.running_var": ((16,), None),
    "audio_encoder.0.weight": ((32, 1, 3, 3), "stem"),
    "audio_encoder.5.weight": ((64, 32, 3, 3), "conv"),
}
DEFAULT_KINDS = {"linear", "pointwise", "se", "conv"}


def make_ckpt(path, seed=0, mutate=None, fmt="fp32"):
    rng = np.random.default_rng(seed)
    data = {}
    for k, (shape, _) in KEYS.items():
        a = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        if k.endswith("running_var"):
            a = np.abs(a) + 0.5
        data[k] = a
    # an all-zero output channel, an all-zero layer, exact .5 ties
    data["img_encoder.features.1.0.block.2.0.weight"][3] = 0
    data["img_encoder.features.1.0.block.1.fc1.weight"][:] = 0
    w = data["classifier.weight"]
    w[0, :] = 0
    w[0, 0] = 1.27          # scale 0.01
    w[0, 1:5] = [0.005, 0.015, -0.025, 0.635]
    if mutate:
        mutate(data)
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = "1"
        f.attrs["architecture"] = "MultimodalAttentionFusion"
        f.attrs["format"] = fmt
        f.attrs["audio_attention"] = "replace"
        f.attrs["num_classes"] = np.int64(7)
        f.attrs.create("class_names", [c.encode() for c in "ABCDEFG"],
                       dtype=h5py.string_dtype("utf-8"))
        f.attrs["preprocessing"] = "image:\n  width: 224\n"
        f.attrs["source"] = "x.pt"
        f.attrs["source_sha256"] = "0" * 64
        for k, a in data.items():
            f.create_dataset(k, data=a, track_times=False)
    return data


def run(*args):
    return subprocess.run([QM, *args], capture_output=True, text=True)


def expected_q(w):
    """The documented scheme in float32 NumPy: scale = max|w| / 127, q = rint(w / scale)."""
    w2 = w.reshape(w.shape[0], -1)
    m = np.abs(w2).max(axis=1)
    s = (m / np.float32(127)).astype(np.float32)
    s[m == 0] = 1
    q = np.clip(np.rint(w2 / s[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), s


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


def test_quantize_matches_numpy_and_torch(tmp):
    src = tmp / "model.h5"
    data = make_ckpt(src)
    r = run(str(src))
    assert r.returncode == 0, r.stderr
    out = tmp / "model-int8.h5"
    assert out.exists()
    assert "all zero" in r.stderr and "block.1.fc1.weight" in r.stderr
    import torch
    with h5py.File(src, "r") as f, h5py.File(out, "r") as g:
        quantized = set()
        for k, (shape, kind) in KEYS.items():
            if kind in DEFAULT_KINDS:
                quantized.add(k)
                assert g[k].dtype == np.int8 and g[k].shape == shape, k
                q, s = expected_q(data[k])
                assert np.array_equal(g[k + "_scale"][()], s), k
                assert np.array_equal(g[k][()], q), k
                assert g[k][()].min() >= -127
                # PyTorch's per-channel quantizer with our scales: it multiplies by
                # 1/scale, so a value within an ulp of a .5 tie may round the other way
                t = torch.quantize_per_channel(
                    torch.from_numpy(data[k].reshape(shape[0], -1)),
                    torch.from_numpy(s.astype(np.float64)),
                    torch.zeros(shape[0], dtype=torch.long), 0, torch.qint8).int_repr().numpy()
                d = np.abs(t.astype(int) - q.reshape(shape[0], -1))
                assert d.max() <= 1 and (d == 0).mean() > 0.999, k
            else:
                assert g[k].dtype == np.float32 and np.array_equal(g[k][()], f[k][()]), k
                assert k + "_scale" not in g
        assert set(g.attrs["quant_layers"]) == quantized
        assert g.attrs["format"] == "int8"
        assert g.attrs["quant_activations"] == "dynamic"
        assert g.attrs["quant_kinds"] == "linear,pointwise,se,conv"
        assert g.attrs["quant_source"] == "model.h5"
        assert g.attrs["quant_source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        assert list(g.attrs["quant_zero_layers"]) == ["img_encoder.features.1.0.block.1.fc1.weight"]
        assert g.attrs["quant_zero_channels"] == 1 + 8
        for a in ("architecture", "audio_attention", "num_classes", "preprocessing", "source",
                  "source_sha256", "schema_version"):
            assert g.attrs[a] == f.attrs[a], a
        assert list(g.attrs["class_names"]) == list(f.attrs["class_names"])
        # exact .5 ties go to even: 0.005 / 0.01 = 0.5 -> 0, 1.5 -> 2, -2.5 -> -2
        cw = g["classifier.weight"][0, :5]
        assert list(cw) == [127, 0, 2, -2, 64], cw   # 63.5 -> 64
        # all-zero channel and layer: scale 1, zeros
        pw = "img_encoder.features.1.0.block.2.0.weight"
        assert g[pw + "_scale"][3] == 1 and not g[pw][3].any()


def test_deterministic_and_smaller(tmp):
    src = tmp / "m.h5"
    make_ckpt(src, seed=3)
    assert run(str(src), "-o", str(tmp / "a.h5")).returncode == 0
    assert run(str(src), "-o", str(tmp / "b.h5"), "-q").returncode == 0
    assert (tmp / "a.h5").read_bytes() == (tmp / "b.h5").read_bytes()
    assert (tmp / "a.h5").stat().st_size < 0.5 * src.stat().st_size


def test_layers_exclude_list(tmp):
    src = tmp / "m.h5"
    make_ckpt(src)
    r = run("--list", "--layers", "linear,stem", "--exclude", "classifier.weight", str(src))
    assert r.returncode == 0, r.stderr
    got = set(r.stdout.split())
    want = {k for k, (_, kind) in KEYS.items() if kind in ("linear", "stem")} - {"classifier.weight"}
    assert got == want
    r = run("--layers", "all", str(src), "-o", str(tmp / "all.h5"))
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp / "all.h5", "r") as g:
        assert g["img_encoder.features.0.0.weight"].dtype == np.int8
        assert g["img_encoder.features.1.0.block.0.0.weight"].dtype == np.float32  # depthwise
        assert g.attrs["quant_kinds"] == "linear,pointwise,se,conv,stem"
    r = run("--layers", "dense", str(src))
    assert r.returncode == 2 and "unknown layer kind 'dense'" in r.stderr


def test_refusals(tmp):
    src = tmp / "m.h5"
    make_ckpt(src)
    out = tmp / "m8.h5"
    assert run(str(src), "-o", str(out)).returncode == 0
    r = run(str(out), "-o", str(tmp / "again.h5"))
    assert r.returncode == 1 and "already quantized" in r.stderr
    assert not (tmp / "again.h5").exists()

    def nan(d):
        d["fusion.0.weight"][5, 9] = np.nan
    bad = tmp / "nan.h5"
    make_ckpt(bad, mutate=nan)
    r = run(str(bad), "-o", str(tmp / "nan8.h5"))
    assert r.returncode == 1
    assert "'fusion.0.weight': channel 5 of 64 has a nan weight at column 9" in r.stderr, r.stderr
    assert not (tmp / "nan8.h5").exists()
    assert not [p for p in os.listdir(tmp) if ".tmp-" in p]   # no temporary left behind

    (tmp / "text.h5").write_text("not hdf5\n")
    r = run(str(tmp / "text.h5"))
    assert r.returncode == 1 and "not an HDF5 file" in r.stderr
    with h5py.File(tmp / "plain.h5", "w") as f:
        f["x"] = np.zeros(3, np.float32)
    r = run(str(tmp / "plain.h5"))
    assert r.returncode == 1 and "no 'architecture' attribute" in r.stderr
    r = run(str(tmp / "missing.h5"))
    assert r.returncode == 1 and "No such file" in r.stderr
    r = run()
    assert r.returncode == 2
    r = run("--help")
    assert r.returncode == 0 and "SYNOPSIS" in r.stdout and "--layers" in r.stdout
