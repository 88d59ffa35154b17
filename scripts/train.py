#!/usr/bin/python3
"""Train the reference MultimodalAttentionFusion on a features.h5 and export model.h5.

The seed's recipe: AdamW, a cosine learning-rate schedule over the epochs, gradient
clipping, cross-entropy, on the train split.  Each epoch prints its mean loss, the
accuracy of its own training batches (train mode, as the weights moved) and the val
split's accuracy (eval mode; skipped with -q, the weights are the same either way).

Two modes:
  full (default)   every parameter trains, as the seed did.  EfficientNet-B0 forward
                   + backward costs ~75 ms a clip on 2 cores with OpenBLAS's SkylakeX
                   kernels (OPENBLAS_CORETYPE=SkylakeX, as scripts/pipeline.mk sets;
                   ~1.5 s on torch's default netlib BLAS): the demo's 15 epochs over
                   the sample corpus's 120 training clips take ~2 min, RAVDESS's
                   ~1150 about 20.
  --freeze-image   fast mode for large corpora and small machines: EfficientNet's
                   BatchNorm statistics are first re-estimated on the training images
                   (one pass in train mode without gradients, cumulative averages), its
                   weights then stay fixed, its 1280-d pooled features are computed once,
                   and the rest (image attention, audio branch, fusion, classifier)
                   trains on them.  The exported checkpoint is a complete model.

Deterministic for a given --seed and thread count.  Needs /usr/bin/python3 (Debian's
torch).  -o model.h5 writes model.h5 (through scripts/export-checkpoint.py) and the
state_dict beside it as model.pt; -o STEM without .h5 writes STEM.h5 and STEM.pt.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.realpath(__file__))  # the real folder, also when run through a link
sys.path.insert(0, HERE)
from reference_model import MultimodalAttentionFusion  # noqa: E402


def keep_heap_mapped():
    """Page faults are costly on small VMs: glibc hands PyTorch's large activation
    buffers back to the kernel after every step and faults them in again (measured
    here: 9 s -> 0.7 s for one audio-branch step).  Keep freed memory mapped."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)            # M_MMAP_MAX: large blocks from the heap too
        libc.mallopt(-1, 1 << 30)      # M_TRIM_THRESHOLD
        libc.mallopt(-2, 256 << 20)    # M_TOP_PAD
    except OSError:
        pass


def parse_config(text):
    """The store's canonical config text -> {"audio.sr": "16000", ...} (flat)."""
    out, stack = {}, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = (len(line) - len(line.lstrip(" "))) // 2
        key, _, val = line.strip().partition(":")
        stack = stack[:indent] + [key]
        val = val.strip()
        if val:
            out[".".join(stack)] = val.strip("'")
    return out


def as_str(x):
    return x.decode() if isinstance(x, bytes) else str(x)


class Store:
    """features.h5 opened with plain h5py; images normalised as the seed did."""

    def __init__(self, path):
        self.f = h5py.File(path, "r")
        self.cfg = parse_config(as_str(self.f.attrs["config"]))
        self.class_names = [as_str(c) for c in self.f.attrs["class_names"]]
        self.labels = self.f["clips/label"][:].astype(np.int64)
        self.splits = np.array([as_str(s) for s in self.f["clips/split"][:]])
        mean = [float(v) for v in self.cfg["image.mean"].strip("[]").split(",")]
        std = [float(v) for v in self.cfg["image.std"].strip("[]").split(",")]
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def batch(self, idx, images=True):
        idx = np.sort(np.asarray(idx))
        img = None
        if images:
            frames = self.f["frames"][idx, 0]  # [B,H,W,3] uint8, first frame
            img = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
            img = (img - self.mean) / self.std
        mel = torch.from_numpy(self.f["mel"][idx].astype(np.float32))
        return img, mel, torch.from_numpy(self.labels[idx]), idx


def reestimate_bn(model, store, idx, batch):
    """Cumulative BatchNorm statistics of the image encoder over the given clips."""
    enc = model.img_encoder
    for m in enc.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    enc.train()
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            img, _, _, _ = store.batch(idx[s:s + batch])
            enc(img)
    enc.eval()


def image_features(model, store, idx, batch):
    feats = {}
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            img, _, _, ids = store.batch(idx[s:s + batch])
            f = model.img_encoder(img)
            for i, row in zip(ids, f):
                feats[int(i)] = row
    return feats


def forward_frozen(model, feats, mel, ids):
    """The model's forward with the image encoder output taken from the cache."""
    f = torch.stack([feats[int(i)] for i in ids])
    f4 = f.reshape(f.shape[0], 1280, 1, 1)
    img = (f4 * model.img_attn(f4)).reshape(f.shape[0], 1280)
    x = torch.cat([img, model.audio_features(mel)], dim=1)
    return model.classifier(model.fusion(x))


def evaluate(model, store, idx, batch, feats=None):
    if len(idx) == 0:
        return float("nan")
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            img, mel, y, ids = store.batch(idx[s:s + batch], images=feats is None)
            logits = forward_frozen(model, feats, mel, ids) if feats else model(img, mel)
            correct += int((logits.argmax(1) == y).sum())
    return correct / len(idx)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", help="features.h5 from pack-h5 (train split used for training)")
    ap.add_argument("-o", "--out", required=True, help="the checkpoint to write, e.g. model.h5 (and model.pt beside it); "
                         "a name without .h5 is a stem: STEM.h5 and STEM.pt")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=1e-5)
    ap.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--audio-attention", choices=["replace", "scale"], default=None,
                    help="default: the store config's model.audio_attention")
    ap.add_argument("--freeze-image", action="store_true", help="fast mode (see above)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()

    keep_heap_mapped()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    store = Store(a.features)
    attention = a.audio_attention or store.cfg.get("model.audio_attention", "replace")
    model = MultimodalAttentionFusion(num_classes=len(store.class_names), audio_attention=attention)

    train_idx = np.flatnonzero(store.splits == "train")
    val_idx = np.flatnonzero(store.splits == "val")
    if len(train_idx) == 0:
        sys.exit("train.py: %s: no clips in the train split" % a.features)
    log = (lambda *x: None) if a.quiet else (lambda *x: print("train.py:", *x, file=sys.stderr, flush=True))

    feats = None
    if a.freeze_image:
        t = time.time()
        reestimate_bn(model, store, train_idx, a.batch)
        feats = image_features(model, store, np.concatenate([train_idx, val_idx]), a.batch)
        for p in model.img_encoder.parameters():
            p.requires_grad_(False)
        log("image features of %d clips in %.1fs" % (len(feats), time.time() - t))

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    bar = not a.quiet and sys.stderr.isatty()  # a redrawn bar on a terminal, epoch lines always
    for epoch in range(a.epochs):
        model.train()
        if a.freeze_image:
            model.img_encoder.eval()
        perm = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        total, right, t = 0.0, 0, time.time()
        for s in range(0, len(perm), a.batch):
            chunk = perm[s:s + a.batch]
            if len(chunk) < 2:  # BatchNorm1d needs 2 samples in train mode
                continue
            img, mel, y, ids = store.batch(chunk, images=feats is None)
            logits = forward_frozen(model, feats, mel, ids) if feats else model(img, mel)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, a.clip)
            opt.step()
            total += float(loss) * len(chunk)
            right += int((logits.argmax(1) == y).sum())
            if bar:
                done = min(s + a.batch, len(perm))
                fill = 30 * done // len(perm)
                sys.stderr.write("\rtrain.py: epoch %d/%d [%s%s] %d/%d" % (
                    epoch + 1, a.epochs, "#" * fill, "." * (30 - fill), done, len(perm)))
                sys.stderr.flush()
        sched.step()
        if bar:
            sys.stderr.write("\r")
        if not a.quiet:  # train acc: of the epoch's own batches, in train mode, as they went
            log("epoch %d/%d loss %.4f train acc %.3f val acc %.3f (%.1fs)" % (
                epoch + 1, a.epochs, total / len(train_idx), right / len(train_idx),
                evaluate(model, store, val_idx, a.batch, feats), time.time() - t))

    model.eval()
    stem = a.out[:-3] if a.out.endswith(".h5") else a.out
    torch.save(model.state_dict(), stem + ".pt")
    cmd = [sys.executable, os.path.join(HERE, "export-checkpoint.py"), stem + ".pt", stem + ".h5",
           "--audio-attention", attention, "--class-names", ",".join(store.class_names),
           "--features", a.features]
    subprocess.run(cmd, check=True)
    log("wrote %s.h5 and %s.pt" % (stem, stem))


if __name__ == "__main__":
    main()
