#!/usr/bin/python3
"""export-checkpoint: a PyTorch state_dict of MultimodalAttentionFusion -> model.h5.

Usage:
    export-checkpoint.py [options] STATE_DICT.pt OUTPUT.h5

STATE_DICT is a .pt/.pth file holding a state_dict, or a dict with a 'state_dict' or
'model_state_dict' entry (a training checkpoint), or a whole pickled model.  The
file written follows schemas/checkpoint.md: one float32 dataset per state_dict key,
named exactly as PyTorch names it (num_batches_tracked counters are left out: eval
mode never reads them), and root attributes naming the architecture, the audio
attention variant, the class names and the preprocessing the model expects,
and the frame recipe it was trained on: one string attribute per key of
RECIPE_KEYS (image.convert, image.resize, image.jpeg_quality, image.pick, image.crop,
image.width, image.height, image.frames; schemas/checkpoint.md).  run-model refuses
a feature store made with another recipe.

The state_dict is first loaded into scripts/reference_model.py's model with
strict=True, so a missing or unexpected key or a wrong shape fails here, naming it.

Options:
    --audio-attention replace|scale   default: model.audio_attention of the config
    --labels seed7|native8            class names of a label set (default: labels.set
                                      of the config)
    --class-names A,B,...             explicit class names (overrides --labels)
    --config FILE                     YAML config over configs/default.yaml: the
                                      image.* and audio.* keys become the
                                      checkpoint's preprocessing
    --features FILE                   take the config from a feature store's "config"
                                      attribute instead (what the model was trained on)
    --set KEY=VALUE                   override one config key (repeatable)
    --convert accurate|opencv|pyav|ffmpeg
    --resize pil|opencv
    --jpeg-quality Q                  the frame recipe the model was trained on
                                      (image.convert, image.resize,
                                      image.jpeg_quality; 0 = no JPEG round trip).
                                      Default: the config's (with --features, the
                                      store's recipe), else today's default recipe

Exit status: 0 success, 1 bad input, 2 usage error.
"""

import argparse
import hashlib
import os
import sys

import h5py
import numpy as np
import yaml

HERE = os.path.dirname(os.path.realpath(__file__))  # the real folder, also when run through a link
sys.path.insert(0, HERE)

import outfile  # noqa: E402 (scripts/)

SCHEMA_VERSION = "1"
LABEL_SETS = {
    "seed7": ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"],
    "native8": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"],
}
# The config sections a checkpoint records as its preprocessing.
PREPROCESSING_SECTIONS = ("image", "audio")
# The frame recipe (lib/store/recipe.h): key -> the value of every file older than
# the key (today's default recipe).
RECIPE_KEYS = {
    "image.convert": "accurate", "image.resize": "pil", "image.jpeg_quality": 0,
    "image.pick": "middle", "image.crop": "none", "image.width": 224, "image.height": 224,
    "image.frames": 1,
}
RECIPE_OPTIONS = {"convert": "image.convert", "resize": "image.resize",
                  "jpeg_quality": "image.jpeg_quality"}


class OutputError(Exception):
    """The output could not be written (the message names it)."""


def die(msg, code=1):
    sys.stderr.write("export-checkpoint: %s\n" % msg)
    sys.exit(code)


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = prefix + str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def nest(flat):
    out = {}
    for key, v in flat.items():
        parts = key.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


def load_config(args):
    """The effective config (flat dotted keys), as the tools compute it: the default,
    then --config or the store's config, then --set."""
    default_path = os.path.join(HERE, "..", "configs", "default.yaml")
    with open(default_path) as f:
        cfg = flatten(yaml.safe_load(f))
    over = None
    if args.config:
        with open(args.config) as f:
            over = yaml.safe_load(f) or {}
    elif args.features:
        with h5py.File(args.features, "r") as f:
            if "config" not in f.attrs:
                die("%s: no 'config' attribute (not a feature store?)" % args.features)
            text = f.attrs["config"]
            if isinstance(text, bytes):
                text = text.decode()
        over = yaml.safe_load(text) or {}
    if over is not None:
        for k, v in flatten(over).items():
            if k not in cfg:
                die("%s: unknown config key '%s'" % (args.config or args.features, k))
            cfg[k] = v
    for s in args.set:
        if "=" not in s:
            die("--set wants KEY=VALUE, not '%s'" % s, 2)
        k, v = s.split("=", 1)
        if k not in cfg:
            die("unknown config key '%s'" % k, 2)
        cfg[k] = yaml.safe_load(v)
    return cfg


def recipe_of(cfg, store=None):
    """The frame recipe {key: text}: RECIPE_KEYS' values, then the config's, then
    (with store) the store's recipe attributes, as run-model reads a store."""
    r = {k: attr_text(cfg.get(k, v)) for k, v in RECIPE_KEYS.items()}
    if store:
        with h5py.File(store, "r") as f:
            for k in RECIPE_KEYS:
                if k in f.attrs:
                    v = f.attrs[k]
                    r[k] = v.decode() if isinstance(v, bytes) else str(v)
    return r


def attr_text(v):
    """A config value as the C config holds it (its text)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def scalar_text(v):
    """A scalar as the C config's canonical dump writes it (quoted only when needed)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = "" if v is None else str(v)
    if (not s or any(c in s for c in ":#{}[]&*!|>'\"%@`\n") or s[0] in " -?"
            or s[-1] == " "):
        return "'" + s.replace("'", "''") + "'"
    return s


def preprocessing_text(cfg):
    """The image.* and audio.* keys as canonical config text (keys sorted, nested
    maps, lists inline: the layout of rvt_config_dump); run-model loads it as a
    config and compares it key by key with a feature store's config."""
    lines, prev = [], []
    for key in sorted(k for k in cfg if k.split(".")[0] in PREPROCESSING_SECTIONS):
        parts = key.split(".")
        level = 0
        while level < len(parts) - 1 and level < len(prev) - 1 and parts[level] == prev[level]:
            level += 1
        for i in range(level, len(parts) - 1):
            lines.append("  " * i + parts[i] + ":")
        v = cfg[key]
        if isinstance(v, (list, tuple)):
            text = "[" + ", ".join(scalar_text(x) for x in v) + "]"
        else:
            text = scalar_text(v)
        lines.append("  " * (len(parts) - 1) + parts[-1] + ": " + text)
        prev = parts
    return "\n".join(lines) + "\n"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(state_dict, out_path, class_names, audio_attention, preprocessing, source=None,
           recipe=None):
    """Writes model.h5 (scripts/outfile.py: a temporary beside out_path, then rename;
    a device or FIFO written in place); OutputError when it cannot.
    recipe: {key: text} of RECIPE_KEYS; None = the one the preprocessing text gives."""
    import torch
    import reference_model as R

    if recipe is None:
        recipe = recipe_of(flatten(yaml.safe_load(preprocessing) or {}))

    if audio_attention not in R.AUDIO_ATTENTION_MODES:
        raise ValueError("audio_attention must be replace or scale, not %r" % audio_attention)
    n_classes = state_dict["classifier.weight"].shape[0] if "classifier.weight" in state_dict else 0
    if len(class_names) != n_classes:
        raise ValueError("%d class names for a classifier with %d outputs"
                         % (len(class_names), n_classes))
    model = R.MultimodalAttentionFusion(n_classes, audio_attention)
    # strict: names the missing/unexpected keys and the mismatched shapes
    model.load_state_dict(state_dict, strict=True)

    try:
        with outfile.replacing(out_path) as tmp:
            with h5py.File(tmp, "w", track_order=False) as f:
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["architecture"] = R.ARCHITECTURE
                f.attrs["format"] = "fp32"
                f.attrs["audio_attention"] = audio_attention
                f.attrs["num_classes"] = np.int64(n_classes)
                f.attrs.create("class_names", [c.encode() for c in class_names],
                               dtype=h5py.string_dtype("utf-8"))
                f.attrs["preprocessing"] = preprocessing
                f.attrs["source"] = source["name"] if source else ""
                f.attrs["source_sha256"] = source["sha256"] if source else ""
                for k in RECIPE_KEYS:
                    f.attrs[k] = recipe[k]
                for key in sorted(state_dict):
                    if key.endswith("num_batches_tracked"):
                        continue
                    t = state_dict[key].detach().cpu()
                    a = np.ascontiguousarray(t.numpy().astype(np.float32))
                    if not np.all(np.isfinite(a)):
                        raise ValueError("%s holds NaN or Inf" % key)
                    f.create_dataset(key, data=a, track_times=False)
    except OSError as e:
        raise OutputError("cannot write '%s': %s" % (out_path, e.strerror or e)) from None


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="export-checkpoint.py",
        description="Write model.h5 (schemas/checkpoint.md) from a PyTorch state_dict of "
                    "MultimodalAttentionFusion.")
    ap.add_argument("state_dict")
    ap.add_argument("output")
    ap.add_argument("--audio-attention", choices=["replace", "scale"])
    ap.add_argument("--labels", choices=sorted(LABEL_SETS))
    ap.add_argument("--class-names")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--config")
    g.add_argument("--features")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--convert", choices=["accurate", "opencv", "pyav", "ffmpeg"])
    ap.add_argument("--resize", choices=["pil", "opencv"])
    ap.add_argument("--jpeg-quality", type=int, metavar="Q")
    args = ap.parse_args(argv)
    if args.jpeg_quality is not None and not 0 <= args.jpeg_quality <= 100:
        die("--jpeg-quality wants 0 (off) or 1-100, not %d" % args.jpeg_quality, 2)

    try:
        import reference_model as R
        cfg = load_config(args)
        if args.class_names:
            names = [c.strip() for c in args.class_names.split(",")]
            if any(not c for c in names) or len(set(names)) != len(names):
                die("--class-names: empty or repeated name", 2)
        else:
            ls = args.labels or cfg["labels.set"]
            if ls not in LABEL_SETS:
                die("unknown label set '%s'" % ls, 2)
            names = LABEL_SETS[ls]
        mode = args.audio_attention or cfg["model.audio_attention"]
        recipe = recipe_of(cfg, args.features)
        for opt, key in RECIPE_OPTIONS.items():
            v = getattr(args, opt)
            if v is not None:
                recipe[key] = attr_text(v)
                if key in cfg:  # the preprocessing text says the same
                    cfg[key] = v
        try:  # before the long work
            outfile.check(args.output)
        except OSError as e:
            die("cannot write '%s': %s" % (args.output, e.strerror or e))
        sd = R.load_state_dict_file(args.state_dict)
        export(sd, args.output, names, mode, preprocessing_text(cfg),
               {"name": os.path.basename(args.state_dict),
                "sha256": sha256_file(args.state_dict)}, recipe)
    except SystemExit:
        raise
    except OutputError as e:
        die(str(e))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        msg = str(e).strip().replace("\n\t", " ").replace("\n", " ")
        die("%s: %s" % (args.state_dict, msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
