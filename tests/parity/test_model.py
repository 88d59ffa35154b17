"""run-model against the PyTorch reference (scripts/reference_model.py).

Seeded checkpoints whose BatchNorm statistics are re-estimated on inputs (and one
briefly trained), for both audio_attention variants: logits within
1e-4 x max(1, |logit|), the same argmax on every clip, probabilities = softmax.
Every traced layer of the C forward pass is compared with the PyTorch module's
output.  Also: byte-identical CSVs whatever -j and --batch, and the refusals of
bad checkpoints and mismatched stores.
"""

import csv
import os
import subprocess

import h5py
import numpy as np
import pytest
import torch

import model_fixtures as F

N_CLIPS = 6


def run(args, check=True):
    p = subprocess.run([F.tool("run-model")] + args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("run-model %s: exit %d: %s" % (args, p.returncode, p.stderr))
    return p


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    frames, mel = F.random_inputs(N_CLIPS, 11)
    labels = [i % 7 for i in range(N_CLIPS)]
    splits = [("train", "val", "test")[i % 3] for i in range(N_CLIPS)]
    path = str(d / "features.h5")
    ids = F.make_store(path, frames, mel, labels, splits)
    return {"path": path, "frames": frames, "mel": mel, "labels": labels, "splits": splits,
            "ids": ids, "dir": d}


MODELS = {
    "replace": dict(mode="replace", seed=1),
    "scale": dict(mode="scale", seed=2),
    "trained": dict(mode="replace", seed=3, train_steps=6),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """models(name) -> the checkpoint of MODELS[name], built once in this module (a
    build re-estimates BatchNorm on EfficientNet passes) and shared: tests only read
    its file and run the PyTorch model in eval mode."""
    built = {}

    def get(name):
        if name not in built:
            d = tmp_path_factory.mktemp("model")
            m = F.make_model(**MODELS[name])
            path = str(d / "model.h5")
            F.export_model(m, path)
            built[name] = {"name": name, "torch": m, "path": path, "dir": d}
        return built[name]
    return get


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request, models):
    return models(request.param)


def torch_from_h5(path, mode="replace"):
    """The PyTorch model of an exported checkpoint."""
    with h5py.File(path, "r") as f:
        sd = {k: torch.from_numpy(f[k][()]) for k in f}
    m = F.R.MultimodalAttentionFusion(7, mode)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return m.eval()


def torch_logits(m, frames, mel):
    """Logits in batches of 4 (much faster in PyTorch than one big batch)."""
    img, melt = F.to_torch_inputs(frames, mel)
    with torch.no_grad():
        return torch.cat([m(img[i:i + 4], melt[i:i + 4]) for i in range(0, len(img), 4)]).double().numpy()


def test_logits_match_pytorch(model, store):
    d = model["dir"]
    run(["-m", model["path"], "-F", store["path"], "-o", str(d / "p.csv"), "--logits",
         str(d / "l.csv"), "-q"])
    rows = read_csv(str(d / "l.csv"))
    assert rows[0] == ["id"] + ["logit_" + c for c in F.SEED7]
    ours = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    ref = torch_logits(model["torch"], store["frames"], store["mel"])
    assert ours.shape == ref.shape == (N_CLIPS, 7)
    tol = 1e-4 * np.maximum(1.0, np.abs(ref))
    worst = (np.abs(ours - ref) / tol).max()
    assert worst <= 1.0, "logits differ by %.3g of the tolerance" % worst
    assert (ours.argmax(1) == ref.argmax(1)).all()
    # both branches matter in this checkpoint (a random init is a weak reference)
    m = model["torch"]
    img, melt = F.to_torch_inputs(store["frames"], store["mel"])
    with torch.no_grad():
        a = m.image_features(img).abs().mean().item()
        b = m.audio_features(melt).abs().mean().item()
    assert a > 1e-3 and b > 1e-3, (a, b)

    # predictions.csv: names, softmax, argmax
    pred = read_csv(str(d / "p.csv"))
    assert pred[0] == ["id", "split", "label", "pred"] + ["p_" + c for c in F.SEED7]
    for i, r in enumerate(pred[1:]):
        assert r[0] == store["ids"][i] and r[1] == store["splits"][i]
        assert r[2] == F.SEED7[store["labels"][i]]
        assert r[3] == F.SEED7[int(ref[i].argmax())]
        p = np.array([float(x) for x in r[4:]])
        e = np.exp(ours[i] - ours[i].max())
        assert np.allclose(p, e / e.sum(), rtol=0, atol=1e-15)
        assert abs(p.sum() - 1) < 1e-12


def test_every_layer_matches_pytorch(model, store, tmp_path):
    """The harness traces every layer of clip 0; each must match the PyTorch module."""
    frames, mel = store["frames"][:2, 0], store["mel"][:2]
    np.save(str(tmp_path / "frames.npy"), np.ascontiguousarray(frames))
    np.save(str(tmp_path / "mel.npy"), mel)
    out = tmp_path / "trace"
    out.mkdir()
    p = subprocess.run([F.harness(), "model", model["path"], str(tmp_path / "frames.npy"),
                        str(tmp_path / "mel.npy"), str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    m = model["torch"]
    acts = {}

    def hook(name):
        def f(mod, inp, o):
            acts[name] = o.detach()[0].clone()
        return f

    hooks = []
    for i, stage in enumerate(m.img_encoder.features):
        if i in (0, 8):
            hooks.append(stage.register_forward_hook(hook("img.features.%d" % i)))
            continue
        for j, blk in enumerate(stage):
            hooks.append(blk.register_forward_hook(hook("img.features.%d.%d" % (i, j))))
            parts = ["expand", "dw", "se", "project"] if len(blk.block) == 4 else ["dw", "se", "project"]
            for nm, sub in zip(parts, blk.block):
                hooks.append(sub.register_forward_hook(hook("img.features.%d.%d.%s" % (i, j, nm))))
    hooks.append(m.img_encoder.avgpool.register_forward_hook(hook("img.avgpool")))
    for i in (2, 3, 4, 5):
        hooks.append(m.audio_encoder[i].register_forward_hook(hook("audio.%d" % i)))
    hooks.append(m.fusion.register_forward_hook(hook("fusion")))
    img, melt = F.to_torch_inputs(store["frames"][:2], mel)
    with torch.no_grad():
        logits = m(img, melt)
        acts["img.attn"] = m.image_features(img)[0]
        acts["audio.feat"] = m.audio_features(melt)[0]
        acts["image"] = img[0]
    for h in hooks:
        h.remove()
    acts["logits"] = logits[0]
    assert len(acts) == 91  # input, stem, 16 blocks (79 outputs), head, pools, audio, head
    bad = []
    for name, t in sorted(acts.items()):
        f = out / (name + ".npy")
        assert f.exists(), "no trace of " + name
        c = np.load(str(f)).ravel()
        t = t.numpy().ravel()
        assert c.size == t.size, name
        scale = max(np.abs(t).max(), 1e-30)
        # fp32 rounding through up to ~80 layers: 1e-4 of the layer's largest value
        if np.abs(c - t).max() > 1e-4 * scale:
            bad.append("%s: %.3g" % (name, np.abs(c - t).max() / scale))
    assert not bad, bad
    lc = np.load(str(out / "all_logits.npy"))
    assert lc.shape == (2, 7)
    # untraced on a team of two (banded blocks, fused epilogues): the same bits
    fast = np.load(str(out / "fast_logits.npy"))
    assert np.array_equal(lc, fast), np.abs(lc - fast).max()


def test_batch_one_and_any_batch(model, store):
    """The reference works at batch 1 (no bare squeeze) and equals the batched result."""
    m = model["torch"]
    img, melt = F.to_torch_inputs(store["frames"], store["mel"])
    with torch.no_grad():
        full = m(img, melt)
        one = torch.cat([m(img[i:i + 1], melt[i:i + 1]) for i in range(N_CLIPS)])
    assert one.shape == full.shape
    assert torch.allclose(one, full, rtol=1e-4, atol=1e-5)


def test_deterministic_whatever_j_and_batch(models, store, tmp_path):
    path = models("scale")["path"]  # audio attention 'scale'
    outs = []
    for j, b in ((1, 32), (2, 1), (2, 4), (1, 5), (2, 32)):
        o = str(tmp_path / ("p_%d_%d.csv" % (j, b)))
        run(["-m", path, "-F", store["path"], "-o", o, "-j", str(j), "--batch", str(b), "-q"])
        outs.append(open(o, "rb").read())
    assert all(o == outs[0] for o in outs)
    # --split and --shard select rows, in store order, with the same values
    o = str(tmp_path / "test.csv")
    run(["-m", path, "-F", store["path"], "-o", o, "--split", "test", "-q"])
    all_rows = outs[0].decode().splitlines()
    test_rows = open(o).read().splitlines()
    assert test_rows == [all_rows[0]] + [r for r in all_rows[1:] if r.split(",")[1] == "test"]
    parts = []
    for i in range(2):
        o = str(tmp_path / ("s%d.csv" % i))
        run(["-m", path, "-F", store["path"], "-o", o, "--shard", "%d/2" % i, "-q"])
        parts += open(o).read().splitlines()[1:]
    assert sorted(parts) == sorted(all_rows[1:])


def test_late_groups_same_bytes(models, tmp_path):
    """11 clips: at --batch 32 the late blocks run a group of 8 clips, then one of 3
    (model.c LATE_GROUP), at --batch 5 groups of 5, 5, 1; the logits are the same bytes
    as one clip at a time."""
    frames, mel = F.random_inputs(11, 23)
    path = str(tmp_path / "features.h5")
    F.make_store(path, frames, mel, [i % 7 for i in range(11)], ["test"] * 11)
    model = models("scale")["path"]
    outs = []
    for j, b in ((1, 1), (1, 32), (2, 32), (1, 5)):
        o = str(tmp_path / ("l_%d_%d.csv" % (j, b)))
        run(["-m", model, "-F", path, "-o", str(tmp_path / "p.csv"), "--logits", o, "-j", str(j),
             "--batch", str(b), "-q"])
        outs.append(open(o, "rb").read())
    assert len(outs[0].splitlines()) == 12
    assert all(o == outs[0] for o in outs)


# ------------------------------------------------------------ bad checkpoints

@pytest.fixture(scope="module")
def good(models):
    return models("replace")["path"]  # read and copied, never changed


def copy_h5(src, dst, edit):
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        for k, v in a.attrs.items():
            b.attrs[k] = v
        for k in a:
            b.create_dataset(k, data=a[k][()])
        edit(b)


def expect_refused(model_path, store, tmp_path, *needles):
    o = tmp_path / "out.csv"
    p = run(["-m", model_path, "-F", store["path"], "-o", str(o)], check=False)
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert not o.exists()
    return lines[0]


KEY = "img_encoder.features.3.1.block.1.0.weight"  # a depthwise 5x5: [240, 1, 5, 5]


def test_missing_key(good, store, tmp_path):
    bad = str(tmp_path / "bad.h5")
    copy_h5(good, bad, lambda f: f.__delitem__(KEY))
    expect_refused(bad, store, tmp_path, "missing key", KEY, "expected shape [240, 1, 5, 5]")


def test_wrong_shape(good, store, tmp_path):
    bad = str(tmp_path / "bad.h5")

    def edit(f):
        del f[KEY]
        f.create_dataset(KEY, data=np.zeros((240, 1, 3, 3), np.float32))
    copy_h5(good, bad, edit)
    expect_refused(bad, store, tmp_path, KEY, "[240, 1, 3, 3]", "expected [240, 1, 5, 5]")


def test_unknown_architecture(good, store, tmp_path):
    bad = str(tmp_path / "bad.h5")
    copy_h5(good, bad, lambda f: f.attrs.__setitem__("architecture", "ResNet50"))
    expect_refused(bad, store, tmp_path, "unknown architecture", "ResNet50")


def test_nan_weight(good, store, tmp_path):
    bad = str(tmp_path / "bad.h5")

    def edit(f):
        w = f["fusion.0.weight"][()]
        w[3, 5] = np.nan
        del f["fusion.0.weight"]
        f.create_dataset("fusion.0.weight", data=w)
    copy_h5(good, bad, edit)
    expect_refused(bad, store, tmp_path, "fusion.0.weight", "NaN")


def test_truncated(good, store, tmp_path):
    bad = tmp_path / "bad.h5"
    data = open(good, "rb").read()
    for cut in (len(data) // 2, 4096, 100):
        bad.write_bytes(data[:cut])
        expect_refused(str(bad), store, tmp_path, str(bad))


def test_not_hdf5_and_missing(store, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("hello\n")
    expect_refused(str(bad), store, tmp_path, "not an HDF5 file")
    expect_refused(str(tmp_path / "none.h5"), store, tmp_path, "cannot open", "No such file")


def test_unexpected_key_and_class_count(good, store, tmp_path):
    bad = str(tmp_path / "bad.h5")
    copy_h5(good, bad, lambda f: f.create_dataset("extra.weight", data=np.zeros(3, np.float32)))
    expect_refused(bad, store, tmp_path, "unexpected key 'extra.weight'")
    copy_h5(good, bad, lambda f: f.attrs.__setitem__("num_classes", np.int64(8)))
    expect_refused(bad, store, tmp_path, "num_classes")


def test_schema_version(good, store, tmp_path):
    """A checkpoint of another layout version is refused, not read as version 1; one
    without the attribute (none was written without it, but h5py users may) is read."""
    bad = str(tmp_path / "bad.h5")
    copy_h5(good, bad, lambda f: f.attrs.__setitem__("schema_version", "2"))
    expect_refused(bad, store, tmp_path, "schema_version '2', expected '1'")
    plain = str(tmp_path / "plain.h5")
    copy_h5(good, plain, lambda f: f.attrs.__delitem__("schema_version"))
    o = tmp_path / "out.csv"
    p = run(["-m", plain, "-F", store["path"], "-o", str(o)], check=False)
    assert p.returncode == 0 and o.exists(), p.stderr


# ---------------------------------------------------------- mismatched stores

def mismatched_store(tmp_path, cfg=None, class_names=F.SEED7, h=224, n_mels=64):
    frames, mel = F.random_inputs(2, 3, h=h, w=h, n_mels=n_mels)
    path = str(tmp_path / "other.h5")
    F.make_store(path, frames, mel, [0, 1], ["test", "test"], cfg=cfg, class_names=class_names)
    return {"path": path}


def test_refuses_other_preprocessing(good, tmp_path):
    s = mismatched_store(tmp_path, cfg=F.default_config(**{"image.width": 112, "image.height": 112}), h=112)
    msg = expect_refused(good, s, tmp_path, "112")
    assert "224" in msg
    s = mismatched_store(tmp_path, cfg=F.default_config(**{"audio.n_mels": 128}), n_mels=128)
    expect_refused(good, s, tmp_path, "audio.n_mels 128", "expects 64")
    s = mismatched_store(tmp_path, cfg=F.default_config(**{"audio.hop": 256}))
    expect_refused(good, s, tmp_path, "audio.hop 256", "expects 512")


def test_refuses_other_label_set(good, tmp_path):
    names = F.E.LABEL_SETS["native8"]
    s = mismatched_store(tmp_path, cfg=F.default_config(**{"labels.set": "native8"}), class_names=names)
    expect_refused(good, s, tmp_path, "label set", "neutral,calm", "Angry,Disgust")


def test_exporter_accepts_training_checkpoints(tmp_path):
    """export-checkpoint.py: a dict with model_state_dict, and strict key checking."""
    m = F.R.MultimodalAttentionFusion(7)
    torch.save({"model_state_dict": m.state_dict(), "epoch": 1}, str(tmp_path / "ck.pth"))
    script = os.path.join(F.ROOT, "scripts", "export-checkpoint.py")
    p = subprocess.run(["/usr/bin/python3", script, str(tmp_path / "ck.pth"), str(tmp_path / "m.h5")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with h5py.File(str(tmp_path / "m.h5"), "r") as f:
        assert f.attrs["architecture"] == "MultimodalAttentionFusion"
        assert list(f.attrs["class_names"]) == F.SEED7
        keys = set(f)
    want = {k for k in m.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == want
    sd = m.state_dict()
    del sd["classifier.bias"]
    torch.save(sd, str(tmp_path / "bad.pt"))
    p = subprocess.run(["/usr/bin/python3", script, str(tmp_path / "bad.pt"), str(tmp_path / "b.h5")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "classifier.bias" in p.stderr
    assert not (tmp_path / "b.h5").exists()


def test_int8_layers_load_and_run(good, store, tmp_path):
    """An int8 checkpoint (schemas/checkpoint.md: int8 weight + <key>_scale) runs
    through the int8 reference path and stays close to fp32."""
    q = str(tmp_path / "q.h5")

    def edit(f):
        f.attrs["format"] = "int8"
        for k in ("fusion.0.weight", "img_encoder.features.6.1.block.0.0.weight"):
            w = f[k][()]
            s = np.abs(w.reshape(w.shape[0], -1)).max(1) / 127
            qw = np.round(w / s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.int8)
            del f[k]
            f.create_dataset(k, data=qw)
            f.create_dataset(k + "_scale", data=s.astype(np.float32))
    copy_h5(good, q, edit)
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    run(["-m", good, "-F", store["path"], "-o", str(tmp_path / "pa.csv"), "--logits", a, "-q"])
    run(["-m", q, "-F", store["path"], "-o", str(tmp_path / "pb.csv"), "--logits", b, "-q"])
    la = np.array([[float(x) for x in r[1:]] for r in read_csv(a)[1:]])
    lb = np.array([[float(x) for x in r[1:]] for r in read_csv(b)[1:]])
    assert not np.array_equal(la, lb)
    assert np.abs(la - lb).max() < 0.05 * max(1.0, np.abs(la).max())


def test_first_of_k_frames(good, tmp_path):
    """A store of image.frames K = 2 (and a checkpoint that expects it): frame 0 is used."""
    frames, mel = F.random_inputs(3, 21, k=2)
    cfg = F.default_config(**{"image.frames": 2})
    store = str(tmp_path / "k2.h5")
    F.make_store(store, frames, mel, [0, 1, 2], ["test"] * 3, cfg=cfg)
    m = torch_from_h5(good)
    model = str(tmp_path / "k2model.h5")
    F.export_model(m, model, cfg=cfg)
    run(["-m", model, "-F", store, "-o", str(tmp_path / "p.csv"), "--logits", str(tmp_path / "l.csv"), "-q"])
    ours = np.array([[float(x) for x in r[1:]] for r in read_csv(str(tmp_path / "l.csv"))[1:]])
    ref = torch_logits(m, frames, mel)  # to_torch_inputs takes frames[:, 0]
    assert (np.abs(ours - ref) <= 1e-4 * np.maximum(1, np.abs(ref))).all()
    # the default checkpoint (image.frames 1) refuses that store
    p = run(["-m", good, "-F", store, "-o", str(tmp_path / "x.csv")], check=False)
    assert p.returncode == 1 and "made with image.frames=2" in p.stderr and "expects 1" in p.stderr


@pytest.mark.parametrize("isa", ["ref", "avx2"])
def test_other_kernel_levels(isa, good, store, tmp_path):
    """The planar kernels (ref, AVX2; AVX-512 runs the channels-last path) give the
    same logits as PyTorch too."""
    m = torch_from_h5(good)
    env = dict(os.environ, RVT_ISA=isa)
    p = subprocess.run([F.tool("run-model"), "-m", good, "-F", store["path"], "-o", str(tmp_path / "p.csv"),
                        "--logits", str(tmp_path / "l.csv"), "-q"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    ours = np.array([[float(x) for x in r[1:]] for r in read_csv(str(tmp_path / "l.csv"))[1:]])
    ref = torch_logits(m, store["frames"], store["mel"])
    assert (np.abs(ours - ref) <= 1e-4 * np.maximum(1, np.abs(ref))).all()
    assert (ours.argmax(1) == ref.argmax(1)).all()


def test_real_chain_store(good, tmp_path):
    """The sample corpus through ravdess-index, extract-frames, extract-mel and pack-h5
    (--split test): run-model and PyTorch on that store agree."""
    corpus = os.path.join(F.ROOT, "data", "sample")
    tools = [F.tool(t) for t in ("ravdess-index", "extract-frames", "extract-mel", "pack-h5")]
    if not os.path.isdir(corpus) or not all(os.path.exists(t) for t in tools):
        pytest.skip("no sample corpus or extraction tools")
    d = str(tmp_path)
    # one test actor is enough (and quick): its repetition-1 clips (30 of 60: every
    # emotion, intensity and statement, clips with and without an edit-list pre-roll)
    os.makedirs(d + "/corpus/Actor_04")
    actor = os.path.join(corpus, "Actor_04")
    for n in sorted(os.listdir(actor)):
        if n.split("-")[5:6] == ["01"]:
            os.symlink(os.path.join(actor, n), d + "/corpus/Actor_04/" + n)
    steps = [[tools[0], "-q", d + "/corpus", "-o", d + "/index.csv"],
             [tools[1], "-q", "-j", "2", d + "/index.csv", "-o", d + "/frames.h5"],
             [tools[2], "-q", "-j", "2", d + "/index.csv", "-o", d + "/mel.h5"],
             [tools[3], "-q", "-i", d + "/index.csv", "-f", d + "/frames.h5", "-a", d + "/mel.h5",
              "--split", "test", "-o", d + "/features.h5"]]
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert p.returncode == 0, (cmd, p.stderr)
    m, model = torch_from_h5(good), good
    run(["-m", model, "-F", d + "/features.h5", "-o", d + "/p.csv", "--logits", d + "/l.csv", "-q"])
    rows = read_csv(d + "/l.csv")[1:]
    with h5py.File(d + "/features.h5", "r") as f:
        frames, mel = f["frames"][()], f["mel"][()]
        ids = [x.decode() for x in f["clips/id"][()]]
    assert [r[0] for r in rows] == ids and len(ids) > 10
    ours = np.array([[float(x) for x in r[1:]] for r in rows])
    ref = torch_logits(m, frames, mel)
    assert (np.abs(ours - ref) <= 1e-4 * np.maximum(1, np.abs(ref))).all()
    assert (ours.argmax(1) == ref.argmax(1)).all()
