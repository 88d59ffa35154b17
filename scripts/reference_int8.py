#!/usr/bin/python3
"""The int8 scheme of schemas/checkpoint-int8.md simulated in PyTorch: the reference for
run-model on a model-int8.h5 of quantize-model.

simulate(path) returns the reference MultimodalAttentionFusion (scripts/reference_model.py)
with the int8 file's weights, in which every quantized layer (the file's quant_layers)
computes what the scheme defines instead of a float32 product:

    weights    W^ = q[o, ...] * K_scale[o]           (the stored int8 values, exactly)
    inputs     x^ = (u - zero) * scale, u = the uint8 code of x under the map of its
               column: dynamic = one map per column (a 1x1 convolution: the channel
               vector of one pixel; a k x k convolution: one im2col column, padding zeros
               included; a Linear layer: the input vector), static = one map per tensor
               from K_act_range, values outside clamped
    output     W^ x^ in float64, then float32, then bias / BatchNorm as in fp32

with the map computed in float32 operations as lib/nn/qgemm.h does (scale = (hi - lo) / 255,
zero = rint(-lo / scale) clamped to 0..255, u = rint(clamp(x * (1 / scale), -zero,
255 - zero)) + zero, ties to even).  run-model's int32 sums are exact, so the two differ
only by float rounding; but the scheme is discontinuous, and where a layer's fp32 input
differs by an ulp from PyTorch's a code can land one step over, which the untrained
EfficientNet of train.py --freeze-image amplifies (a 1e-6 relative change of the image
moves the logits of the all-pointwise int8 model by ~0.05).  tests/parity/test_int8.py
therefore compares layer by layer: the Linear layers and the audio conv to 1e-4, one
pointwise conv at a time to 5-10 % of the change int8 makes there.

Command line: reference_int8.py MODEL-int8.h5 FEATURES.h5 prints one line per clip:
the clip id and the logits.
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import reference_model as R  # noqa: E402


def _as_str(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def _codes(x, lo, hi):
    """x^ for values x (float32) under the maps [lo, hi] (broadcast against x)."""
    lo = torch.minimum(lo, torch.zeros_like(lo))
    hi = torch.maximum(hi, torch.zeros_like(hi))
    tiny = (hi - lo) < 1e-30
    scale = torch.where(tiny, torch.ones_like(lo), (hi - lo) / 255.0)
    zero = torch.where(tiny, torch.zeros_like(lo), torch.clamp(torch.round(-lo / scale), 0, 255))
    inv = torch.where(tiny, torch.ones_like(lo), 1.0 / scale)
    v = torch.minimum(x * inv, 255.0 - zero)
    v = torch.maximum(v, -zero)
    u = torch.round(v) + zero
    return (u.double() - zero.double()) * scale.double()


def _dequant_columns(cols, act_range):
    """cols [..., K] float32: each row a column of the scheme."""
    if act_range is not None:
        lo = torch.tensor(float(act_range[0]), dtype=torch.float32)
        hi = torch.tensor(float(act_range[1]), dtype=torch.float32)
        return _codes(cols, lo, hi)
    lo = cols.amin(dim=-1, keepdim=True)
    hi = cols.amax(dim=-1, keepdim=True)
    return _codes(cols, lo, hi)


class _QLinear(nn.Module):
    def __init__(self, lin, w, act_range):
        super().__init__()
        self.w, self.bias, self.act_range = w, lin.bias, act_range

    def forward(self, x):
        y = (_dequant_columns(x, self.act_range) @ self.w.t()).float()
        return y if self.bias is None else y + self.bias


class _QConv(nn.Module):
    def __init__(self, conv, w, act_range):
        super().__init__()
        self.conv, self.w, self.act_range = conv, w, act_range

    def forward(self, x):
        c = self.conv
        b, _, h, wd = x.shape
        k, s, p = c.kernel_size, c.stride, c.padding
        cols = F.unfold(x, k, padding=p, stride=s)  # [B, C*kh*kw, L]
        oh = (h + 2 * p[0] - k[0]) // s[0] + 1
        ow = (wd + 2 * p[1] - k[1]) // s[1] + 1
        xq = _dequant_columns(cols.transpose(1, 2), self.act_range)  # [B, L, C*kh*kw]
        y = (xq @ self.w.reshape(self.w.shape[0], -1).t()).float()  # [B, L, O]
        y = y.transpose(1, 2).reshape(b, -1, oh, ow)
        return y if c.bias is None else y + c.bias.view(1, -1, 1, 1)


def simulate(path, quantize_inputs=True):
    """(model in eval mode, class names) of a model-int8.h5, its int8 layers simulated;
    quantize_inputs False keeps only the weight rounding (the layers' inputs stay float),
    to show how much of the int8-vs-fp32 difference the activation maps make."""
    with h5py.File(path, "r") as f:
        names = [_as_str(c) for c in f.attrs["class_names"]]
        mode = _as_str(f.attrs["audio_attention"])
        layers = [_as_str(k) for k in f.attrs["quant_layers"]]
        sd, wq, ranges = {}, {}, {}
        for k in f.keys():
            if k.endswith("_scale") or k.endswith("_act_range"):
                continue
            v = f[k][()]
            if k in layers:
                w = torch.from_numpy(v.astype(np.float64)) * \
                    torch.from_numpy(f[k + "_scale"][()].astype(np.float64)).view(
                        -1, *([1] * (v.ndim - 1)))
                wq[k] = w
                sd[k] = w.float()
                if k + "_act_range" in f:
                    ranges[k] = f[k + "_act_range"][()]
            else:
                sd[k] = torch.from_numpy(v)
    m = R.MultimodalAttentionFusion(len(names), mode)
    m.load_state_dict(sd, strict=False)
    m.eval()
    for k in layers if quantize_inputs else []:
        mod_name = k[:-len(".weight")]
        parent_name, _, child = mod_name.rpartition(".")
        parent = m.get_submodule(parent_name)
        old = getattr(parent, child)
        if isinstance(old, nn.Linear):
            new = _QLinear(old, wq[k], ranges.get(k))
        elif isinstance(old, nn.Conv2d) and old.groups == 1:
            new = _QConv(old, wq[k], ranges.get(k))
        else:
            raise ValueError("%s: %s is not a Linear or a regular Conv2d" % (path, k))
        setattr(parent, child, new)
    return m, names


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: reference_int8.py MODEL-int8.h5 FEATURES.h5")
    m, _ = simulate(argv[1])
    with h5py.File(argv[2], "r") as f:
        ids = [_as_str(x) for x in f["clips/id"][:]]
        img = R.preprocess_frames(f["frames"][:, 0])
        mel = torch.from_numpy(f["mel"][()].astype(np.float32))
    with torch.no_grad():
        for i in range(0, len(ids), 16):
            for cid, row in zip(ids[i:i + 16], m(img[i:i + 16], mel[i:i + 16])):
                print(cid, " ".join("%.9g" % v for v in row.tolist()))


if __name__ == "__main__":
    main(sys.argv)
