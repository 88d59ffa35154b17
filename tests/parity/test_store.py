"""pack-h5 against h5py: values, determinism (-j, shards, re-encoding), plain-h5py
readability, and scripts/ravdess_dataset.py against the seed's torchvision pipeline."""

import hashlib
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROOT = os.environ.get("RVT_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
PACK = os.path.join(BIN, "pack-h5")
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import store_gen  # noqa: E402

# Small clips that are still chunked one clip a chunk (>= 16 KiB) like the real
# 224x224 frames and 64x300 mels, so that full h5dump texts stay a few MB.
HW = 76       # 17.3 KiB a frame
N_MELS = 16   # 16 x 300 float32 = 18.8 KiB a clip
SETS = ["--set", "image.width=%d" % HW, "--set", "image.height=%d" % HW, "--set", "audio.n_mels=%d" % N_MELS]


def run(*args, cwd=None, ok=True):
    p = subprocess.run([PACK, "-q"] + list(args), cwd=cwd, capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pack"))
    cfg = subprocess.run([PACK, "--print-config"] + SETS, capture_output=True, text=True, check=True).stdout
    with open(os.path.join(d, "cfg.yaml"), "w") as f:
        f.write(cfg)
    rows = store_gen.make_rows(240)[::9]  # 27 clips of actors 1-4: train, train, val, test
    for sub, fs, ms in (("one", 1, 1), ("sharded", 2, 3)):
        out = os.path.join(d, sub)
        os.makedirs(out)
        idx_sha = store_gen.write_index(os.path.join(out, "index.csv"), rows)
        store_gen.write_kind(out, "frames", rows, fs, 4, cfg, idx_sha, 1, HW, N_MELS, 300)
        store_gen.write_kind(out, "mel", rows, ms, 4, cfg, idx_sha, 1, HW, N_MELS, 300)
    return dict(dir=d, cfg=cfg, rows=rows)


def pack(data, sub, out, *extra):
    d = os.path.join(data["dir"], sub)
    frames = sorted(x for x in os.listdir(d) if x.startswith("frames"))
    mel = sorted(x for x in os.listdir(d) if x.startswith("mel"))
    os.makedirs(os.path.dirname(os.path.join(d, out)) or d, exist_ok=True)
    run("-c", "../cfg.yaml", "-i", "index.csv", "-f", ",".join(frames), "-a", ",".join(mel),
        "-o", out, *extra, cwd=d)
    return os.path.join(d, out)


def collect(path, skip_attrs=()):
    """Every dataset (values, dtype, shape, chunks, filters) and every attribute."""
    out = {}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            if k not in skip_attrs:
                out["@" + k] = np.asarray(v).tolist()

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj.chunks, obj.compression,
                             obj.compression_opts, obj.shuffle, obj[()].tobytes())
        f.visititems(visit)
    return out


def h5dump(path, skip_attrs=()):
    text = subprocess.run(["h5dump", os.path.basename(path)], cwd=os.path.dirname(path),
                          capture_output=True, text=True, check=True).stdout
    for a in skip_attrs:  # drop the ATTRIBUTE "a" { ... } block
        text = re.sub(r'\n( *)ATTRIBUTE "%s" \{.*?\n\1\}' % a, "", text, flags=re.S)
    return text


INPUT_ATTRS = ("input_files", "input_kinds", "input_shards", "input_sha256")


def test_values_and_provenance(data):
    out = pack(data, "one", "a/features.h5")
    d = os.path.join(data["dir"], "one")
    rows = data["rows"]
    with h5py.File(out, "r") as f, h5py.File(os.path.join(d, "frames.h5"), "r") as fr, \
            h5py.File(os.path.join(d, "mel.h5"), "r") as me:
        assert f.attrs["schema_version"] == "1" and f.attrs["kind"] == "features"
        assert f.attrs["config"] == data["cfg"]
        assert f.attrs["config_sha256"] == hashlib.sha256(data["cfg"].encode()).hexdigest()
        assert f.attrs["index_sha256"] == sha(os.path.join(d, "index.csv"))
        assert list(f.attrs["input_files"]) == ["frames.h5", "mel.h5"]
        assert list(f.attrs["input_sha256"]) == [sha(os.path.join(d, "frames.h5")), sha(os.path.join(d, "mel.h5"))]
        assert list(f.attrs["class_names"]) == store_gen.SEED7
        assert f.attrs["split"] == "all"
        assert f.attrs["tool_version"].startswith("pack-h5 ")
        ids = [x.decode() for x in f["clips/id"][:]]
        assert ids == [r["id"] for r in rows]
        for col in ("actor", "vocal_channel", "emotion", "intensity", "statement", "repetition", "label"):
            assert f["clips/" + col][:].tolist() == [r[col] for r in rows], col
        for col in ("gender", "emotion_name", "label_name", "split", "video_path", "audio_path"):
            assert [x.decode() for x in f["clips/" + col][:]] == [r[col] for r in rows], col
        fid = {x.decode(): i for i, x in enumerate(fr["clips/id"][:])}
        mid = {x.decode(): i for i, x in enumerate(me["clips/id"][:])}
        for i in range(len(ids)):
            assert np.array_equal(f["frames"][i], fr["frames"][fid[ids[i]]])
            assert np.array_equal(f["frame_pts"][i], fr["frame_pts"][fid[ids[i]]])
            assert np.array_equal(f["mel"][i], me["mel"][mid[ids[i]]])
            assert f["mel_frames"][i] == me["mel_frames"][mid[ids[i]]]
        assert np.array_equal(f["mel"][5], store_gen.mel_of(ids[5], N_MELS, 300)[0])
        # plain h5py, no plugin: only shuffle (2) and deflate (1) filters, one clip a chunk
        for name in ("frames", "mel"):
            plist = f[name].id.get_create_plist()
            assert [plist.get_filter(k)[0] for k in range(plist.get_nfilters())] == [2, 1]
            assert f[name].chunks[0] == 1


def test_deterministic_jobs(data):
    a = pack(data, "one", "j1/features.h5", "-j", "1")
    b = pack(data, "one", "j2/features.h5", "-j", "2")
    assert collect(a) == collect(b)
    assert h5dump(a) == h5dump(b)
    assert sha(a) == sha(b)  # even the bytes


def test_deterministic_shards(data):
    a = pack(data, "one", "s1/features.h5", "-j", "1")
    b = pack(data, "sharded", "s23/features.h5", "-j", "2")
    with h5py.File(b, "r") as f:
        assert list(f.attrs["input_shards"]) == ["0/2", "1/2", "0/3", "1/3", "2/3"]
    assert collect(a, INPUT_ATTRS) == collect(b, INPUT_ATTRS)
    assert h5dump(a, INPUT_ATTRS) == h5dump(b, INPUT_ATTRS)
    assert "input_files" not in h5dump(a, INPUT_ATTRS) and "input_files" in h5dump(a)


def test_reencode_same_values(data):
    a = pack(data, "one", "r4/features.h5")
    b = pack(data, "sharded", "r1/features.h5", "--deflate", "1", "-j", "2")
    ca, cb = collect(a, INPUT_ATTRS + ("config", "config_sha256")), collect(b, INPUT_ATTRS + ("config", "config_sha256"))
    for k in ca:
        if k.startswith("@"):
            assert ca[k] == cb[k], k
        else:
            assert ca[k][6] == cb[k][6] and ca[k][:3] == cb[k][:3], k
            assert cb[k][4] == 1, k
    with h5py.File(b, "r") as f:
        assert "deflate: 1" in f.attrs["config"]


def test_odd_input_layout(data, tmp_path):
    """A mel store chunked 2 clips a chunk without shuffle: read and re-encoded."""
    src = os.path.join(data["dir"], "one")
    odd = str(tmp_path)
    with h5py.File(os.path.join(src, "mel.h5"), "r") as s, h5py.File(os.path.join(odd, "mel.h5"), "w") as d:
        for k, v in s.attrs.items():
            d.attrs[k] = v
        for name in ("clips/id", "mel", "mel_frames"):
            x = s[name][()]
            d.create_dataset(name, data=x, chunks=(2,) + x.shape[1:], compression="gzip",
                             maxshape=(None,) + x.shape[1:])
    os.symlink(os.path.join(src, "frames.h5"), os.path.join(odd, "frames.h5"))
    os.symlink(os.path.join(src, "index.csv"), os.path.join(odd, "index.csv"))
    run("-c", os.path.join(data["dir"], "cfg.yaml"), "-i", "index.csv", "-f", "frames.h5", "-a", "mel.h5",
        "-o", "features.h5", cwd=odd)
    a = pack(data, "one", "odd/features.h5")
    skip = INPUT_ATTRS
    assert collect(a, skip) == collect(os.path.join(odd, "features.h5"), skip)


def test_split_and_folds(data):
    out = pack(data, "one", "t/features.h5", "--split", "test")
    rows = [r for r in data["rows"] if r["split"] == "test"]
    with h5py.File(out, "r") as f:
        assert [x.decode() for x in f["clips/id"][:]] == [r["id"] for r in rows]
        assert f.attrs["split"] == "test"
        assert set(f["clips/actor"][:].tolist()) == {4}
    out = pack(data, "one", "k/features.h5", "--folds", "4", "--fold", "1")
    with h5py.File(out, "r") as f:
        split = {a: s.decode() for a, s in zip(f["clips/actor"][:], f["clips/split"][:])}
        # actor a is in fold (a - 1) mod 4; fold 1 is test, fold 2 val
        assert split == {1: "train", 2: "test", 3: "val", 4: "train"}
        assert "folds: 4" in f.attrs["config"] and "fold: 1" in f.attrs["config"]


def test_ravdess_dataset_matches_seed(tmp_path):
    """The Dataset's tensors equal the seed's PIL -> Resize -> ToTensor -> Normalize."""
    import torch
    from PIL import Image
    from torchvision import transforms
    from ravdess_dataset import RavdessFeatures

    d = str(tmp_path)
    cfg = subprocess.run([PACK, "--print-config"], capture_output=True, text=True, check=True).stdout
    rows = store_gen.make_rows(240)[::21]  # 12 clips over actors 1-4, 224x224 frames
    idx_sha = store_gen.write_index(os.path.join(d, "index.csv"), rows)
    store_gen.write_kind(d, "frames", rows, 1, 4, cfg, idx_sha, 1, 224, 64, 300)
    store_gen.write_kind(d, "mel", rows, 1, 4, cfg, idx_sha, 1, 224, 64, 300)
    run("-i", "index.csv", "-f", "frames.h5", "-a", "mel.h5", "-o", "features.h5", cwd=d)
    path = os.path.join(d, "features.h5")
    seed = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    ds = RavdessFeatures(path)
    assert len(ds) == 12
    with h5py.File(path, "r") as f:
        for k in range(len(ds)):
            image, mel, label = ds[k]
            ref = seed(Image.fromarray(f["frames"][k, 0]))
            assert image.dtype == torch.float32 and tuple(image.shape) == (3, 224, 224)
            assert torch.equal(image, ref), k
            assert mel.dtype == torch.float32 and tuple(mel.shape) == (64, 300)
            assert torch.equal(mel, torch.from_numpy(store_gen.mel_of(rows[k]["id"], 64, 300)[0]))
            assert label == rows[k]["label"] and isinstance(label, int)
    test = RavdessFeatures(path, split="test")
    assert [test.clip_id(k) for k in range(len(test))] == [r["id"] for r in rows if r["split"] == "test"]
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2)
    images, mels, labels = next(iter(loader))
    assert images.shape == (5, 3, 224, 224) and mels.shape == (5, 64, 300) and labels.dtype == torch.int64


def test_ravdess_dataset_on_real_clips(tmp_path):
    """From the files to the tensors: sample-corpus clips through the real chain
    (ravdess-index, extract-frames, extract-mel, pack-h5) and RavdessFeatures, against the
    seed's preprocessing of the same mp4 and wav: the middle frame decoded at full size
    (the ffmpeg CLI, scripts/reference_frames.py), PIL -> Resize((224, 224)) -> ToTensor
    -> Normalize, exactly; the log-mel of the wav (scripts/reference_mel.py, librosa's
    steps) to 0.01 dB."""
    import argparse
    import torch
    from PIL import Image
    from torchvision import transforms
    from ravdess_dataset import RavdessFeatures
    import reference_frames as RF
    import reference_mel as RM

    sample = os.path.join(ROOT, "data", "sample", "Actor_02")
    if not os.path.isdir(sample):
        pytest.skip("no sample corpus (make sample)")
    corpus = tmp_path / "corpus" / "Actor_02"
    corpus.mkdir(parents=True)
    stems = ["%s-01-%s-02-01-02-02" % (m, e) for e in ("03", "05", "08") for m in ("01", "03")]
    for s in stems:
        ext = ".mp4" if s.startswith("01") else ".wav"
        os.symlink(os.path.join(sample, s + ext), corpus / (s + ext))
    d = str(tmp_path)
    for cmd in (["ravdess-index", "corpus", "-o", "index.csv"],
                ["extract-frames", "index.csv", "-o", "frames.h5"],
                ["extract-mel", "index.csv", "-o", "mel.h5"],
                ["pack-h5", "-i", "index.csv", "-f", "frames.h5", "-a", "mel.h5", "-o", "features.h5"]):
        p = subprocess.run([os.path.join(BIN, cmd[0]), "-q"] + cmd[1:], cwd=d, capture_output=True,
                           text=True)
        assert p.returncode == 0, (cmd, p.stderr)
    seed = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    full = argparse.Namespace(timestamps="frames", mode="middle", frames=1, times=[],
                              crop="none", size=(1280, 720))
    ds = RavdessFeatures(os.path.join(d, "features.h5"))
    assert len(ds) == 3
    for k in range(len(ds)):
        cid = ds.clip_id(k)
        image, mel, label = ds[k]
        frame, _ = RF.extract(str(corpus / ("01-" + cid + ".mp4")), full)
        assert frame.shape == (1, 720, 1280, 3)
        ref = seed(Image.fromarray(frame[0]))
        assert torch.equal(image, ref), (cid, float((image - ref).abs().max()))
        want, _ = RM.logmel(str(corpus / ("03-" + cid + ".wav")), cid)
        assert float(np.abs(mel.numpy() - want).max()) <= 0.01, cid
        # emotions 03 happy, 05 angry, 08 surprised: seed7 classes 3, 0, 5
        assert label == [3, 0, 5][k], (cid, label)
