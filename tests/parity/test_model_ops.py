"""Every operator of the network, one at a time, against PyTorch.

tests/unit/test_nn.c in harness mode runs one lib/nn operator on .npy inputs; the
same inputs go through the torch module the reference model uses.  Shapes are the
ones EfficientNet-B0 and the audio branch use (channel counts cut down where the
channel count does not change the arithmetic), plus odd sizes for the edges.
Depthwise and activation kernels run at every ISA level (RVT_ISA=ref|avx2|avx512;
a level the CPU lacks falls back to the best it has).

Tolerance: max |ours - torch| <= 1e-5 * max(1, max |torch|): float32 sums of at
most a few thousand products, in another order, plus a few-ulp exp.
"""

import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

import model_fixtures as F

ISAS = ["ref", "avx2", "avx512"]


def harness(args, tmp, isa=None):
    env = dict(os.environ)
    if isa:
        env["RVT_ISA"] = isa
    out = str(tmp / "out.npy")
    p = subprocess.run([F.harness()] + args + [out], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return np.load(out)


def save(tmp, name, a):
    path = str(tmp / (name + ".npy"))
    np.save(path, np.ascontiguousarray(np.asarray(a, np.float32)))
    return path


def close(ours, ref, rel=1e-5):
    ref = ref.detach().numpy() if torch.is_tensor(ref) else ref
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    err = np.abs(ours - ref).max()
    assert err <= rel * max(1.0, np.abs(ref).max()), "max error %.3g (scale %.3g)" % (err, np.abs(ref).max())


g = torch.Generator().manual_seed(1234)


def rnd(*shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# (channels, h, w, k, stride): every depthwise conv of EfficientNet-B0 (channels cut),
# then odd sizes
DW_SHAPES = [
    (8, 112, 112, 3, 1), (8, 112, 112, 3, 2), (8, 56, 56, 3, 1), (8, 56, 56, 5, 2),
    (8, 28, 28, 5, 1), (8, 28, 28, 3, 2), (8, 14, 14, 3, 1), (8, 14, 14, 5, 1),
    (8, 14, 14, 5, 2), (8, 7, 7, 5, 1), (8, 7, 7, 3, 1),
    (3, 9, 31, 3, 2), (3, 17, 5, 5, 2), (2, 1, 1, 3, 1), (2, 3, 2, 5, 1), (2, 33, 65, 5, 1),
]


@pytest.mark.parametrize("isa", ISAS)
def test_depthwise(isa, tmp_path):
    for c, h, w, k, s in DW_SHAPES:
        conv = nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=True)
        with torch.no_grad():
            conv.weight.copy_(rnd(c, 1, k, k, scale=0.3))
            conv.bias.copy_(rnd(c))
        x = rnd(c, h, w, scale=2)
        with torch.no_grad():
            ref = nn.SiLU()(conv(x[None]))[0]
        ours = harness(["dwconv", save(tmp_path, "x", x), save(tmp_path, "w", conv.weight.detach()),
                        save(tmp_path, "b", conv.bias.detach()), str(s), "silu"], tmp_path, isa)
        close(ours, ref)


# (c_in, c_out, h, w, k, stride, pad): the stem, the audio convs (and the 1x1 input
# the seed's replace attention gives the second one), odd sizes
CONV_SHAPES = [
    (3, 32, 224, 224, 3, 2, 1), (1, 32, 64, 300, 3, 1, 1), (32, 64, 32, 150, 3, 1, 1),
    (32, 64, 1, 1, 3, 1, 1), (3, 5, 7, 9, 3, 2, 1), (2, 4, 5, 5, 3, 1, 0),
]


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_regular_conv(shape, tmp_path):
    ci, co, h, w, k, s, p = shape
    conv = nn.Conv2d(ci, co, k, s, p)
    x = rnd(ci, h, w)
    with torch.no_grad():
        ref = conv(x[None])[0]
    ours = harness(["conv", save(tmp_path, "x", x), save(tmp_path, "w", conv.weight.detach()),
                    save(tmp_path, "b", conv.bias.detach()), str(s), str(p), "none"], tmp_path)
    close(ours, ref)


# (c_in, c_out, h, w, act): pointwise convs (expand with SiLU, project without),
# the head conv, and Linear layers (h = w = 1: one column)
DENSE_SHAPES = [
    (16, 96, 112, 112, "silu"), (96, 24, 56, 56, "none"), (192, 1152, 7, 7, "silu"),
    (1152, 320, 7, 7, "none"), (320, 1280, 7, 7, "silu"), (1344, 512, 1, 1, "relu"),
    (512, 7, 1, 1, "none"), (1280, 160, 1, 1, "relu"), (160, 1280, 1, 1, "sigmoid"),
]


@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_pointwise_and_linear(shape, tmp_path):
    ci, co, h, w, act = shape
    conv = nn.Conv2d(ci, co, 1)
    x = rnd(ci, h, w)
    acts = {"silu": nn.SiLU(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}
    with torch.no_grad():
        ref = acts[act](conv(x[None]))[0].reshape(co, h * w)
    ours = harness(["dense", save(tmp_path, "x", x.reshape(ci, h * w)),
                    save(tmp_path, "w", conv.weight.detach().reshape(co, ci)),
                    save(tmp_path, "b", conv.bias.detach()), act], tmp_path)
    close(ours, ref)


@pytest.mark.parametrize("c,sq,h", [(32, 8, 112), (96, 4, 56), (1152, 48, 7)])
def test_squeeze_excitation(c, sq, h, tmp_path):
    se = torchvision.ops.SqueezeExcitation(c, sq, activation=nn.SiLU)  # as MBConv builds it
    x = rnd(c, h, h)
    with torch.no_grad():
        ref = se(x[None])[0]
    ours = harness(["se", save(tmp_path, "x", x),
                    save(tmp_path, "w1", se.fc1.weight.detach().reshape(sq, c)),
                    save(tmp_path, "b1", se.fc1.bias.detach()),
                    save(tmp_path, "w2", se.fc2.weight.detach().reshape(c, sq)),
                    save(tmp_path, "b2", se.fc2.bias.detach())], tmp_path)
    close(ours, ref)


def test_pools(tmp_path):
    x = rnd(32, 64, 300)
    close(harness(["maxpool2", save(tmp_path, "x", x)], tmp_path), nn.MaxPool2d(2)(x[None])[0])
    x = rnd(5, 7, 9)  # odd sizes: floor mode drops the last row and column
    close(harness(["maxpool2", save(tmp_path, "x", x)], tmp_path), nn.MaxPool2d(2)(x[None])[0])
    x = rnd(64, 32, 150)
    close(harness(["avgpool", save(tmp_path, "x", x)], tmp_path),
          nn.AdaptiveAvgPool2d(1)(x[None]).reshape(64))
    close(harness(["maxpool", save(tmp_path, "x", x)], tmp_path),
          nn.AdaptiveMaxPool2d(1)(x[None]).reshape(64))
    x = rnd(1280, 7, 7)
    close(harness(["avgpool", save(tmp_path, "x", x)], tmp_path),
          nn.AdaptiveAvgPool2d(1)(x[None]).reshape(1280))


@pytest.mark.parametrize("c,h,w,mode", [(32, 32, 150, "weights"), (32, 32, 150, "scale"),
                                        (1280, 1, 1, "weights"), (1280, 1, 1, "scale")])
def test_channel_attention(c, h, w, mode, tmp_path):
    a = F.R.ChannelAttention(c, mode=mode)
    x = rnd(c, h, w)
    with torch.no_grad():
        ref = a(x[None])[0]
    if mode == "weights":
        ref = ref.reshape(c)
    ours = harness(["chattn", save(tmp_path, "x", x),
                    save(tmp_path, "w1", a.fc[0].weight.detach()), save(tmp_path, "b1", a.fc[0].bias.detach()),
                    save(tmp_path, "w2", a.fc[2].weight.detach()), save(tmp_path, "b2", a.fc[2].bias.detach()),
                    mode], tmp_path)
    close(ours, ref)


@pytest.mark.parametrize("isa", ISAS)
def test_activations(isa, tmp_path):
    x = torch.cat([torch.linspace(-100, 100, 4001), rnd(3000, scale=8)])
    for name, mod in (("silu", nn.SiLU()), ("sigmoid", nn.Sigmoid()), ("relu", nn.ReLU())):
        ours = harness(["act", save(tmp_path, "x", x), name], tmp_path, isa)
        ref = mod(x).numpy()
        # relative per element (a few ulps), absolute below 1e-30 (exp's clamp)
        err = np.abs(ours - ref) - 1e-6 * np.abs(ref)
        assert (err <= 1e-30).all(), (name, float(err.max()))
