#!/usr/bin/python3
"""Synthetic index.csv, frames and mel stores in the lib/store layout, written with h5py.

Used by tests/e2e/test_pack.sh, tests/parity/test_store.py and scripts/bench-store to
make pack-h5 inputs without running the extractors, and as the "h5py writes the same
layout" baseline of bench-store.  The layout mirrors lib/store (schemas/features.md):
per-clip datasets [N, ...] with maxshape [None, ...]; fields of >= 16 KiB a clip are
chunked one clip a chunk, smaller ones a power of two of clips (<= 64 KiB, <= 4096);
shuffle + gzip; object timestamps off; clips/id fixed-length S63; root attributes
variable-length strings.

  store_gen.py --out DIR --clips 240 [--frames-shards 2] [--mel-shards 3]
               [--config FILE] [--deflate 4] [--hw 224] [--k 1]

DIR gets index.csv, frames.h5 (or frames.I.h5 for I of N shards), mel.h5 (or mel.I.h5).
--config is the effective config text (pack-h5 --print-config); without it a
minimal config with the default image.* and audio.* keys is recorded.
"""

import argparse
import hashlib
import os
import sys

import h5py
import numpy as np

SCHEMA_VERSION = "1"
ID_BYTES = 63  # RVT_STORE_ID_MAX - 1
CHUNK_MIN = 16384

SEED7 = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
SEED7_OF = [None, 6, 6, 3, 4, 0, 2, 1, 5]
EMOTIONS = [None, "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
VAL = {3, 8, 13, 18, 23}
TEST = {4, 9, 14, 19, 24}

DEFAULT_CONFIG = """audio:
  fmax: 0
  fmin: 0
  hop: 512
  max_len: 300
  n_fft: 2048
  n_mels: 64
  noise_level: 0
  noise_seed: 0
  preemphasis: 0
  sr: 16000
  top_db: 80
image:
  crop: none
  frames: 1
  height: 224
  mean: [0.485, 0.456, 0.406]
  pick: middle
  std: [0.229, 0.224, 0.225]
  width: 224
"""


def fnv1a64(s):
    """lib/core/hash.c rvt_fnv1a64: the stable shard hash."""
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shard_of(clip_id, n):
    return fnv1a64(clip_id) % n


def chunk_clips(clip_bytes):
    if clip_bytes >= CHUNK_MIN:
        return 1
    c = 1
    while c < 4096 and (c * 2) * clip_bytes <= 65536:
        c *= 2
    return c


def make_rows(n_clips):
    """RAVDESS speech clips of actors 1, 2, ... (60 a actor), the first n_clips by id."""
    rows = []
    actor = 0
    while len(rows) < n_clips:
        actor += 1
        for emo in range(1, 9):
            for inten in (1, 2):
                if emo == 1 and inten == 2:
                    continue
                for stmt in (1, 2):
                    for rep in (1, 2):
                        cid = "01-%02d-%02d-%02d-%02d-%02d" % (emo, inten, stmt, rep, actor)
                        rows.append(dict(
                            id=cid, actor=actor, gender="male" if actor % 2 else "female",
                            vocal_channel=1, emotion=emo, emotion_name=EMOTIONS[emo],
                            intensity=inten, statement=stmt, repetition=rep,
                            label=SEED7_OF[emo], label_name=SEED7[SEED7_OF[emo]],
                            split="val" if actor in VAL else "test" if actor in TEST else "train",
                            video_path="corpus/Actor_%02d/01-%s.mp4" % (actor, cid),
                            audio_path="corpus/Actor_%02d/03-%s.wav" % (actor, cid)))
    rows.sort(key=lambda r: r["id"])
    return rows[:n_clips]


COLUMNS = ["id", "actor", "gender", "vocal_channel", "emotion", "emotion_name", "intensity",
           "statement", "repetition", "label", "label_name", "split", "video_path", "audio_path"]


def write_index(path, rows):
    with open(path, "w", newline="") as f:
        f.write(",".join(COLUMNS) + "\n")
        for r in rows:
            f.write(",".join(str(r[c]) for c in COLUMNS) + "\n")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def clip_seed(cid):
    return int(hashlib.sha256(cid.encode()).hexdigest()[:8], 16)


def frames_of(cid, k, h, w):
    """A smooth picture that depends on the clip (compresses like a real frame, roughly)."""
    rng = np.random.RandomState(clip_seed(cid))
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    out = np.empty((k, h, w, 3), np.uint8)
    for j in range(k):
        a, b, c = rng.rand(3).astype(np.float32) * 6
        for ch in range(3):
            v = 127.5 + 100 * np.sin(a * x + b * y * (ch + 1) + c + j)
            out[j, :, :, ch] = np.clip(v + rng.randint(0, 8, (h, w)), 0, 255).astype(np.uint8)
    return out


def mel_of(cid, n_mels, max_len):
    rng = np.random.RandomState(clip_seed(cid) ^ 0x5A5A)
    n = int(rng.randint(max_len // 2, max_len + 1))
    m = np.zeros((n_mels, max_len), np.float32)
    m[:, :n] = (-80 + 80 * rng.rand(n_mels, n)).astype(np.float32).round(2)
    return m, np.int32(n)


def create_store(path, kind, n, fields, level, attrs):
    """Opens an h5py store with lib/store's layout; fields: name -> (dtype, per-clip shape)."""
    f = h5py.File(path, "w", libver="earliest")
    for k, v in attrs.items():
        if isinstance(v, (list, tuple)):
            f.attrs[k] = np.array(v, dtype=h5py.string_dtype())
        else:
            f.attrs[k] = v
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["kind"] = kind
    dsets = {}
    allf = [("clips/id", ("S%d" % ID_BYTES, ()))] + list(fields.items())
    for name, (dt, shape) in allf:
        dt = np.dtype(dt)
        clip_bytes = dt.itemsize * int(np.prod(shape, dtype=np.int64)) if shape else dt.itemsize
        if dt.kind == "S":
            clip_bytes = dt.itemsize + 1
        c = chunk_clips(clip_bytes)
        kw = dict(compression="gzip", compression_opts=level, shuffle=True) if level > 0 else {}
        dsets[name] = f.create_dataset(name, shape=(n,) + tuple(shape), maxshape=(None,) + tuple(shape),
                                       chunks=(c,) + tuple(shape), dtype=dt, track_times=False, **kw)
    return f, dsets


def write_kind(out_dir, kind, rows, n_shards, level, config, index_sha, k, hw, n_mels, max_len):
    paths = []
    for s in range(n_shards):
        mine = [r for r in rows if n_shards == 1 or shard_of(r["id"], n_shards) == s]
        path = os.path.join(out_dir, "%s.h5" % kind if n_shards == 1 else "%s.%d.h5" % (kind, s))
        if kind == "frames":
            fields = {"frames": ("u1", (k, hw, hw, 3)), "frame_pts": ("f8", (k,))}
        else:
            fields = {"mel": ("f4", (n_mels, max_len)), "mel_frames": ("i4", ())}
        attrs = {"tool_version": "store_gen.py", "config": config,
                 "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
                 "index_sha256": index_sha, "shard": "%d/%d" % (s, n_shards)}
        f, d = create_store(path, kind, len(mine), fields, level, attrs)
        d["clips/id"][:] = np.array([r["id"] for r in mine], dtype="S%d" % ID_BYTES)
        for i, r in enumerate(mine):
            if kind == "frames":
                d["frames"][i] = frames_of(r["id"], k, hw, hw)
                d["frame_pts"][i] = (np.arange(k) + 1.0) * 1.5 / (k + 1)
            else:
                m, nf = mel_of(r["id"], n_mels, max_len)
                d["mel"][i] = m
                d["mel_frames"][i] = nf
        f.close()
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--frames-shards", type=int, default=1)
    ap.add_argument("--mel-shards", type=int, default=1)
    ap.add_argument("--config", help="effective config text file (pack-h5 --print-config)")
    ap.add_argument("--deflate", type=int, default=4)
    ap.add_argument("--hw", type=int, default=224, help="frame height = width")
    ap.add_argument("--k", type=int, default=1, help="frames a clip")
    ap.add_argument("--n-mels", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=300)
    ap.add_argument("--no-frames", action="store_true")
    ap.add_argument("--no-mel", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    config = open(a.config).read() if a.config else DEFAULT_CONFIG
    rows = make_rows(a.clips)
    sha = write_index(os.path.join(a.out, "index.csv"), rows)
    if not a.no_frames:
        write_kind(a.out, "frames", rows, a.frames_shards, a.deflate, config, sha, a.k, a.hw,
                   a.n_mels, a.max_len)
    if not a.no_mel:
        write_kind(a.out, "mel", rows, a.mel_shards, a.deflate, config, sha, a.k, a.hw,
                   a.n_mels, a.max_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
