"""Inputs of the run-model tests: seeded checkpoints and feature stores.

Used by tests/parity/test_model*.py and tests/e2e/test_run_model.sh (through
`/usr/bin/python3 tests/parity/model_fixtures.py ...`).  Stores are written with h5py in the
layout of lib/store/store.h (schemas/features.md); checkpoints with
scripts/export-checkpoint.py's export().
"""

import importlib.util
import os
import sys

import h5py
import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import reference_model as R  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "export_checkpoint", os.path.join(ROOT, "scripts", "export-checkpoint.py"))
E = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(E)

SEED7 = E.LABEL_SETS["seed7"]


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (a set), None when it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(l.split(":", 1)[1].split()) for l in f if l.startswith("flags")), set())
    except OSError:
        return None


def tool(name):
    return os.path.join(os.environ.get("RVT_BIN", os.path.join(ROOT, "bin")), name)


def harness():
    return os.path.join(os.environ.get("RVT_BUILD", os.path.join(ROOT, "build")), "tests", "test_nn")


def default_config(**over):
    """The default config (flat dotted keys) with overrides."""
    import yaml
    with open(os.path.join(ROOT, "configs", "default.yaml")) as f:
        cfg = E.flatten(yaml.safe_load(f))
    cfg.update(over)
    return cfg


def config_text(cfg):
    """Config YAML of every key (the layout of rvt_config_dump)."""
    sections = sorted({k.split(".")[0] for k in cfg})
    saved = E.PREPROCESSING_SECTIONS
    try:
        E.PREPROCESSING_SECTIONS = tuple(sections)
        return E.preprocessing_text(cfg)
    finally:
        E.PREPROCESSING_SECTIONS = saved


def random_inputs(n, seed, h=224, w=224, n_mels=64, t=300, k=1):
    """uint8 frames [n,k,h,w,3] (smooth images plus noise) and log-mel-like [n,n_mels,t]."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((n, k, h, w, 3), np.uint8)
    for i in range(n):
        for j in range(k):
            base = np.stack([np.sin(xx / (7 + 5 * c + i) + c + j) * np.cos(yy / (11 + 3 * i)) for c in range(3)], -1)
            img = 128 + 90 * base + g.normal(0, 25, (h, w, 3))
            frames[i, j] = np.clip(img, 0, 255).astype(np.uint8)
    mel = np.clip(g.normal(-40, 18, (n, n_mels, t)), -80, 0).astype(np.float32)
    mel[:, :, int(t * 0.8):] = -80.0  # zero-padded tail, as extract-mel writes it
    return frames, mel


def make_store(path, frames, mel, labels, splits, ids=None, cfg=None, class_names=SEED7):
    """features.h5 with h5py in lib/store's layout."""
    n = frames.shape[0]
    if ids is None:
        ids = ["01-01-%02d-01-01-%02d" % (1 + i % 8, 1 + i // 8) for i in range(n)]
    cfg = cfg or default_config()
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = "1"
        f.attrs["kind"] = "features"
        f.attrs["tool_version"] = "test"
        f.attrs["config"] = config_text(cfg)
        f.attrs.create("class_names", list(class_names), dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("clips/id", data=np.array([s.encode() for s in ids], dtype="S63"))
        f.create_dataset("clips/split", data=np.array([s.encode() for s in splits], dtype="S5"))
        f.create_dataset("clips/label", data=np.asarray(labels, np.int32))
        f.create_dataset("clips/label_name",
                         data=np.array([class_names[i].encode() for i in labels], dtype="S15"))
        f.create_dataset("frames", data=frames, chunks=(1,) + frames.shape[1:],
                         compression="gzip", shuffle=True)
        f.create_dataset("mel", data=mel, chunks=(1,) + mel.shape[1:], compression="gzip",
                         shuffle=True)
        f.create_dataset("mel_frames", data=np.full(n, mel.shape[2], np.int32))
    return ids


def to_torch_inputs(frames, mel, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    return R.preprocess_frames(frames[:, 0], mean, std), torch.from_numpy(mel)


def make_model(mode="replace", seed=0, n_classes=7, reest_inputs=16, train_steps=0):
    """A seeded model whose BatchNorm statistics are re-estimated on random inputs
    (and, with train_steps > 0, briefly trained with AdamW on a learnable synthetic
    task first), so that both branches matter in the logits."""
    torch.manual_seed(seed)
    m = R.MultimodalAttentionFusion(n_classes, mode)
    frames, mel = random_inputs(reest_inputs, seed + 1000)
    img, melt = to_torch_inputs(frames, mel)
    if train_steps:
        # labels from a mix of image brightness and mel energy: both branches useful
        y = torch.from_numpy(((frames.mean(axis=(1, 2, 3, 4)) > frames.mean()).astype(int) * 2 +
                              (mel.mean(axis=(1, 2)) > mel.mean()).astype(int)) % n_classes)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
        m.train()
        for step in range(train_steps):
            idx = torch.arange(step * 4, step * 4 + 4) % reest_inputs
            loss = torch.nn.functional.cross_entropy(m(img[idx], melt[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
    R.reestimate_batchnorm(m, [(img[i:i + 8], melt[i:i + 8]) for i in range(0, reest_inputs, 8)])
    return m.eval()


def export_model(m, path, mode=None, class_names=SEED7, cfg=None):
    cfg = cfg or default_config()
    E.export(m.state_dict(), path, list(class_names), mode or m.audio_attention,
             E.preprocessing_text(cfg))


def main(argv):
    """model_fixtures.py store|model OUT [N|MODE] [+ store|model OUT [N|MODE]]...: small
    inputs for the shell tests, several in one process (torch's start-up is most of a
    call's time)."""
    specs, cur = [], []
    for a in argv[1:] + ["+"]:
        if a == "+":
            specs.append(cur)
            cur = []
        else:
            cur.append(a)
    for spec in specs:
        if len(spec) < 2 or len(spec) > 3 or spec[0] not in ("model", "store"):
            raise SystemExit("usage: model_fixtures.py store|model OUT [N|MODE] [+ store|model OUT [N|MODE]]...")
    for spec in specs:
        what, out = spec[0], spec[1]
        if what == "model":
            export_model(make_model(spec[2] if len(spec) > 2 else "replace", reest_inputs=8), out)
        else:
            n = int(spec[2]) if len(spec) > 2 else 4
            frames, mel = random_inputs(n, 7)
            splits = [("train", "val", "test")[i % 3] for i in range(n)]
            make_store(out, frames, mel, [i % 7 for i in range(n)], splits)


if __name__ == "__main__":
    main(sys.argv)
