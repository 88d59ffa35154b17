#!/usr/bin/python3
"""Train the reference MultimodalAttentionFusion on a features.h5 and export model.h5.

The seed's recipe: AdamW, a cosine learning-rate schedule over the epochs, gradient
clipping, cross-entropy, on the train split.  Each epoch prints its mean loss, the
accuracy of its own training batches (train mode, as the weights moved) and the val
split's accuracy (eval mode, which leaves the weights and the random stream alone), and
adds a line to STEM.history.csv (epoch, train and val loss and accuracy, learning rate,
seconds; also with -q), which scripts/plot-history.py draws as SVG curves.

Two modes:
  full (default)   every parameter trains, as the seed did.  EfficientNet-B0 forward
                   + backward costs ~75 ms a clip on 2 cores with OpenBLAS's SkylakeX
                   kernels (OPENBLAS_CORETYPE chosen for this CPU, as scripts/pipeline.mk
                   does; ~1.5 s on torch's default netlib BLAS): the demo's 15 epochs over
                   the sample corpus's 120 training clips take ~2 min, RAVDESS's
                   ~1150 about 20.
  --freeze-image   fast mode for large corpora and small machines: EfficientNet's
                   BatchNorm statistics are first re-estimated on the training images
                   (one pass in train mode without gradients, cumulative averages), its
                   weights then stay fixed, its 1280-d pooled features are computed once,
                   and the rest (image attention, audio branch, fusion, classifier)
                   trains on them.  The exported checkpoint is a complete model.

Pretrained start: --init-image FILE loads torchvision's efficientnet_b0 ImageNet
state_dict (the file torchvision downloads, e.g. efficientnet_b0_rwightman-*.pth, keys
features.0.0.weight ... classifier.1.bias; the user brings it, nothing is downloaded)
into the image branch; its ImageNet classifier is left out (the branch ends at the
pooled 1280-d feature) and its BatchNorm statistics are kept (--freeze-image then does
not re-estimate them).  --freeze-image-epochs N trains with the image branch frozen
(weights and BatchNorm statistics fixed, its features cached as in --freeze-image) for
the first N epochs and unfreezes it after; --image-lr sets its learning rate apart.

Speed: the thread count is set once, for PyTorch and OpenBLAS alike, before either
starts; --conv auto (the default) times a few small training steps of the model with oneDNN
(torch.backends.mkldnn) and with PyTorch's native convolutions on this CPU and keeps
the faster (the probe runs on a copy, so the weights and the random stream are not
touched; --conv onednn skips it).  Progress lines give each epoch's time, seconds per clip and the ETA.

Deterministic for a given --seed, thread count and convolution path (--conv onednn or
native: under auto, a loaded machine can tip the probe the other way).  Needs /usr/bin/python3 (Debian's
torch).  -o model.h5 writes model.h5 (through scripts/export-checkpoint.py) and the
state_dict beside it as model.pt (and model.history.csv); -o STEM without .h5 writes
STEM.h5, STEM.pt and STEM.history.csv.
"""
import argparse
import copy
import ctypes
import importlib.util
import os
import sys
import time


def threads_from_argv(argv, default=2):
    """--threads N from the command line, read before numpy and torch load: OpenBLAS
    and OpenMP size their pools from the environment when they start."""
    for i, a in enumerate(argv):
        try:
            if a == "--threads" and i + 1 < len(argv):
                return max(1, int(argv[i + 1]))
            if a.startswith("--threads="):
                return max(1, int(a.split("=", 1)[1]))
        except ValueError:
            break  # argparse reports it
    return default


def blas_coretype():
    """OpenBLAS's best kernels that this CPU can run, from /proc/cpuinfo's flags (as
    lib/core/cpu.c chooses them for the tools): SkylakeX with AVX-512 F/BW/VL/DQ,
    Haswell with AVX2 + FMA, else None (OpenBLAS's own choice).  Never a fixed name: the
    SkylakeX kernels die of SIGILL on a CPU without AVX-512."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(l.split(":", 1)[1].split()) for l in f if l.startswith("flags")), set())
    except OSError:
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


if __name__ == "__main__":
    # One owner of parallelism per call path: PyTorch's OpenMP pool runs N threads;
    # OpenBLAS, which PyTorch's native convolutions call from inside that pool, runs
    # one (else N x N threads contend for N cores).  OpenBLAS's kernels for this CPU, as
    # scripts/pipeline.mk chooses them (Debian's OpenBLAS misdetects newer Xeons).
    _n = str(threads_from_argv(sys.argv[1:]))
    os.environ.setdefault("OMP_NUM_THREADS", _n)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _core = blas_coretype()
    if _core:
        os.environ.setdefault("OPENBLAS_CORETYPE", _core)

import h5py
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.realpath(__file__))  # the real folder, also when run through a link
sys.path.insert(0, HERE)
import outfile  # noqa: E402 (scripts/)
from reference_model import MultimodalAttentionFusion, load_state_dict_file  # noqa: E402

# The ImageNet head of torchvision's efficientnet_b0 (Dropout, Linear(1280, 1000)): in
# the file, not in the image branch, which ends at the pooled feature.
IMAGENET_HEAD = ("classifier.1.weight", "classifier.1.bias")


def short_list(keys, n=3):
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (", ... (%d in all)" % len(keys) if len(keys) > n else "")


def load_image_init(encoder, path):
    """torchvision's efficientnet_b0 state_dict file -> the image branch, or SystemExit
    with what does not fit: keys missing from the file, keys the branch does not have,
    tensors of another shape.  BatchNorm's num_batches_tracked may be absent (older
    files), as torchvision's own loading allows."""
    try:
        sd = load_state_dict_file(path)
    except Exception as e:  # torch.load raises many kinds for a file that is not one
        sys.exit("train.py: --init-image '%s': cannot read a state_dict: %s" % (path, e))
    own = encoder.state_dict()
    if sd and all(k.startswith("img_encoder.") for k in sd):
        sys.exit("train.py: --init-image '%s': a whole MultimodalAttentionFusion state_dict "
                 "(keys img_encoder.*), not torchvision's efficientnet_b0 one" % path)
    given = {k: v for k, v in sd.items() if k not in IMAGENET_HEAD}
    missing = [k for k in own if k not in given and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in given if k not in own]
    shapes = ["%s %s, want %s" % (k, tuple(given[k].shape), tuple(own[k].shape))
              for k in own if k in given and given[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        why = []
        if missing:
            why.append("%d keys missing (%s)" % (len(missing), short_list(missing)))
        if unexpected:
            why.append("%d unexpected keys (%s)" % (len(unexpected), short_list(unexpected)))
        if shapes:
            why.append("%d tensors of another shape (%s)" % (len(shapes), short_list(shapes, 2)))
        sys.exit("train.py: --init-image '%s': not torchvision's efficientnet_b0 state_dict: %s"
                 % (path, "; ".join(why)))
    for k, v in own.items():
        if k in given:
            v.copy_(given[k].to(v.dtype))
    return len(given)


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
        self.actors = self.f["clips/actor"][:].astype(np.int64) if "clips/actor" in self.f else None
        mean = [float(v) for v in self.cfg["image.mean"].strip("[]").split(",")]
        std = [float(v) for v in self.cfg["image.std"].strip("[]").split(",")]
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def fold_splits(self, k, i):
        """ravdess-index's --folds K --fold I rule on the store's actors: actor a is in
        fold (a - 1) mod K; fold I is test, fold (I + 1) mod K val, the rest train.
        One store then serves every fold (scripts/experiment)."""
        if self.actors is None:
            sys.exit("train.py: --folds: the store has no clips/actor column")
        fold = (self.actors - 1) % k
        self.splits = np.where(fold == i, "test", np.where(fold == (i + 1) % k, "val", "train"))

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


def pick_conv(model, store, idx, choice):
    """Sets torch.backends.mkldnn.enabled for the whole run.  auto: training steps
    (forward, loss, backward) of a copy of the model in eval mode (no dropout, no
    BatchNorm update, so neither the weights nor the random stream move) on two
    training clips with the image at 64 x 64 pixels: per path one step to warm up,
    then the best of two timed; a path whose warm-up already took 3 times the other's
    best is not timed further (on a loaded machine native steps ran 80 s).  The
    faster path wins.  Returns (name, {name: seconds})."""
    if choice != "auto":
        torch.backends.mkldnn.enabled = choice == "onednn"
        return choice, {}
    probe = copy.deepcopy(model).eval()
    img, mel, y, _ = store.batch(idx[:2])
    img = nn.functional.interpolate(img, size=(64, 64), mode="bilinear", align_corners=False)
    loss_fn = nn.CrossEntropyLoss()
    times = {}
    for name in ("onednn", "native"):
        torch.backends.mkldnn.enabled = name == "onednn"
        best = float("inf")
        for rep in range(3):
            t = time.perf_counter()
            loss_fn(probe(img, mel), y).backward()
            took = time.perf_counter() - t
            probe.zero_grad(set_to_none=True)
            if rep == 0 and times and took > 3 * min(times.values()):
                best = took  # clearly slower: not worth timing again
                break
            if rep:
                best = min(best, took)
        times[name] = best
    pick = min(times, key=times.get)
    torch.backends.mkldnn.enabled = pick == "onednn"
    return pick, times


def clock(seconds):
    seconds = int(round(seconds))
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60) if seconds >= 3600 \
        else "%d:%02d" % (seconds // 60, seconds % 60)


def evaluate(model, store, idx, batch, feats=None):
    """(mean cross-entropy, accuracy) of the clips in eval mode; (nan, nan) for none.
    Eval mode draws no random numbers, so it leaves the training's stream alone."""
    if len(idx) == 0:
        return float("nan"), float("nan")
    model.eval()
    correct, total = 0, 0.0
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            img, mel, y, ids = store.batch(idx[s:s + batch], images=feats is None)
            logits = forward_frozen(model, feats, mel, ids) if feats else model(img, mel)
            total += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    return total / len(idx), correct / len(idx)


HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def write_history(path, rows):
    """STEM.history.csv: one line per finished epoch (HISTORY_COLUMNS; nan where there
    is no val split), rewritten whole after each epoch through a temporary, so a
    reader sees the epochs so far and never half a file.  scripts/plot-history.py
    draws it."""
    with outfile.replacing(path) as tmp, open(tmp, "w") as f:
        f.write(",".join(HISTORY_COLUMNS) + "\n")
        for r in rows:
            f.write("%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f\n" % r)


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
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for PyTorch (OpenBLAS runs one inside them); set once")
    ap.add_argument("--conv", choices=["auto", "onednn", "native"], default="auto",
                    help="convolution path: oneDNN, PyTorch's native one, or auto = the faster "
                         "on this CPU by a short timed probe (default)")
    ap.add_argument("--audio-attention", choices=["replace", "scale"], default=None,
                    help="default: the store config's model.audio_attention")
    ap.add_argument("--freeze-image", action="store_true", help="fast mode (see above)")
    ap.add_argument("--init-image", metavar="FILE",
                    help="start the image branch from torchvision's efficientnet_b0 state_dict "
                         "(ImageNet weights; see above)")
    ap.add_argument("--freeze-image-epochs", type=int, default=0, metavar="N",
                    help="image branch frozen for the first N epochs, trained after (default 0)")
    ap.add_argument("--image-lr", type=float, default=None,
                    help="learning rate of the image branch (default: --lr)")
    ap.add_argument("--folds", type=int, default=0, metavar="K",
                    help="ignore the store's splits: deal actors into K >= 3 folds as "
                         "ravdess-index --folds does (actor a in fold (a-1) mod K)")
    ap.add_argument("--fold", type=int, default=0, metavar="I",
                    help="with --folds: fold I is test, fold I+1 mod K val, the rest train")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    if a.epochs < 1 or a.batch < 2:
        ap.error("--epochs wants 1 or more, --batch 2 or more")
    if not 0 <= a.freeze_image_epochs <= a.epochs:
        ap.error("--freeze-image-epochs wants 0 to --epochs (%d)" % a.epochs)
    if a.folds and not (a.folds >= 3 and 0 <= a.fold < a.folds):
        ap.error("--folds wants K >= 3 and --fold 0 to K-1")
    if a.freeze_image and a.freeze_image_epochs:
        ap.error("--freeze-image freezes every epoch; --freeze-image-epochs N only the first N")

    keep_heap_mapped()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    store = Store(a.features)
    if a.folds:
        store.fold_splits(a.folds, a.fold)
    attention = a.audio_attention or store.cfg.get("model.audio_attention", "replace")
    model = MultimodalAttentionFusion(num_classes=len(store.class_names), audio_attention=attention)
    if a.init_image:
        n = load_image_init(model.img_encoder, a.init_image)
        if not a.quiet:
            print("train.py: image branch from %s (%d tensors)" % (a.init_image, n), file=sys.stderr)

    train_idx = np.flatnonzero(store.splits == "train")
    val_idx = np.flatnonzero(store.splits == "val")
    if len(train_idx) == 0:
        sys.exit("train.py: %s: no clips in the train split" % a.features)
    log = (lambda *x: None) if a.quiet else (lambda *x: print("train.py:", *x, file=sys.stderr, flush=True))

    t = time.time()
    conv, probe_times = pick_conv(model, store, train_idx, a.conv)
    if probe_times:
        log("convolutions: %s (probe: oneDNN %.3fs, native %.3fs a step, %.1fs in all)" % (
            conv, probe_times["onednn"], probe_times["native"], time.time() - t))

    feats = None
    frozen = a.freeze_image or a.freeze_image_epochs > 0
    if frozen:
        t = time.time()
        if not a.init_image:  # random weights: statistics of this data; ImageNet's kept
            reestimate_bn(model, store, train_idx, a.batch)
        model.img_encoder.eval()
        feats = image_features(model, store, np.concatenate([train_idx, val_idx]), a.batch)
        for p in model.img_encoder.parameters():
            p.requires_grad_(False)
        log("image features of %d clips in %.1fs" % (len(feats), time.time() - t))

    # Every parameter that will ever train is in the optimiser from the start: one
    # frozen for now has no gradient, and AdamW leaves it (and its state) alone.
    enc_ids = {id(p) for p in model.img_encoder.parameters()}
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    groups = [{"params": rest}]
    if not a.freeze_image:
        groups.append({"params": list(model.img_encoder.parameters()),
                       "lr": a.lr if a.image_lr is None else a.image_lr})
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    bar = not a.quiet and sys.stderr.isatty()  # a redrawn bar on a terminal, epoch lines always
    # training time, wall and CPU (of this process, all threads; not the val passes),
    # clips trained on: CPU seconds say the cost on a machine shared with other jobs
    t_train, cpu_train, n_seen = 0.0, 0.0, 0
    stem = a.out[:-3] if a.out.endswith(".h5") else a.out
    history = []
    for epoch in range(a.epochs):
        if feats is not None and not a.freeze_image and epoch == a.freeze_image_epochs:
            feats = None  # unfreeze: the image branch trains from here on
            for p in model.img_encoder.parameters():
                p.requires_grad_(True)
            log("epoch %d: image branch unfrozen" % (epoch + 1))
        model.train()
        if feats is not None:
            model.img_encoder.eval()
        perm = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        lr = opt.param_groups[0]["lr"]  # this epoch's (the scheduler steps after it)
        total, right, t, cpu = 0.0, 0, time.time(), time.process_time()
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
                left = (time.time() - t) / done * (len(perm) - done + (a.epochs - epoch - 1) * len(perm))
                sys.stderr.write("\rtrain.py: epoch %d/%d [%s%s] %d/%d ETA %s " % (
                    epoch + 1, a.epochs, "#" * fill, "." * (30 - fill), done, len(perm), clock(left)))
                sys.stderr.flush()
        sched.step()
        took = time.time() - t
        n_seen += len(perm)
        t_train += took
        cpu_train += time.process_time() - cpu
        if bar:
            sys.stderr.write("\r")
        # train loss and acc: of the epoch's own batches, in train mode, as they went
        val_loss, val_acc = evaluate(model, store, val_idx, max(a.batch, 32), feats)  # larger batches: cheaper
        history.append((epoch + 1, total / len(train_idx), right / len(train_idx), val_loss, val_acc,
                        lr, took))
        write_history(stem + ".history.csv", history)
        if not a.quiet:
            # ETA from this epoch's pace: frozen and unfrozen epochs differ
            left = took * (a.epochs - epoch - 1)
            if feats is not None and not a.freeze_image and epoch + 1 < a.freeze_image_epochs:
                left = None  # unfrozen epochs to come run at another pace
            log("epoch %d/%d loss %.4f train acc %.3f val acc %.3f (%.1fs, %.4f s/clip%s)" % (
                epoch + 1, a.epochs, total / len(train_idx), right / len(train_idx),
                val_acc, took, took / len(perm),
                ", ETA %s" % clock(left) if left is not None and epoch + 1 < a.epochs else ""))
    log("trained %d epochs of %d clips in %.1fs: %.4f s per clip-epoch, %.4f s of CPU "
        "(%s convolutions, %d threads)" % (a.epochs, len(train_idx), t_train, t_train / max(n_seen, 1),
                                            cpu_train / max(n_seen, 1), conv, a.threads))

    model.eval()
    with outfile.replacing(stem + ".pt") as tmp:   # never half a .pt
        torch.save(model.state_dict(), tmp)
    # export-checkpoint.py in this process (its main, as its command line would run it):
    # a second interpreter would load torch again, ~1.5 s of CPU
    spec = importlib.util.spec_from_file_location("export_checkpoint", os.path.join(HERE, "export-checkpoint.py"))
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    export.main([stem + ".pt", stem + ".h5", "--audio-attention", attention,
                 "--class-names", ",".join(store.class_names), "--features", a.features])
    log("wrote %s.h5 and %s.pt" % (stem, stem))


if __name__ == "__main__":
    main()
