"""scripts/train.py --init-image (torchvision's efficientnet_b0 state_dict file), the
freeze/unfreeze schedule, and the convolution-path probe.

The ImageNet file is not in the repository and nothing is downloaded: the tests make a
file in its exact format, torchvision.models.efficientnet_b0().state_dict() saved with
torch.save (the same keys, shapes and dtypes; other values), and files of other models
for the errors.
"""
import importlib.util
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_fixtures as F  # noqa: E402

TRAIN = os.path.join(F.ROOT, "scripts", "train.py")


def load_train_module():
    spec = importlib.util.spec_from_file_location("train_under_test", TRAIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("init")
    fr, mel = F.random_inputs(12, 3)
    store = str(d / "features.h5")
    F.make_store(store, fr, mel, [i % 7 for i in range(12)], ["train"] * 8 + ["val"] * 2 + ["test"] * 2)
    torch.manual_seed(123)  # weights unlike the ones train.py's own seed draws
    net = torchvision.models.efficientnet_b0(weights=None)
    with torch.no_grad():  # BatchNorm statistics as ImageNet's would be: not 0 and 1
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    init = str(d / "efficientnet_b0_imagenet.pth")
    torch.save(net.state_dict(), init)
    return store, init, net.state_dict()


def train(store, out, *args):
    return subprocess.run(["/usr/bin/python3", TRAIN, store, "-o", str(out), "--threads", "1",
                           "--batch", "8", *args], capture_output=True, text=True)


def run_main(mod, argv):
    saved = sys.argv
    sys.argv = ["train.py"] + argv
    try:
        mod.main()
    finally:
        sys.argv = saved


def encoder(path):
    with h5py.File(path, "r") as f:
        return {k[len("img_encoder."):]: f[k][()] for k in f.keys() if k.startswith("img_encoder.")}


def test_init_image_frozen_keeps_the_file(files, tmp_path, capsys):
    """--init-image + --freeze-image: the exported image branch is the file's tensors
    (weights and BatchNorm statistics: not re-estimated), less its ImageNet head."""
    store, init, sd = files
    run_main(load_train_module(), [store, "-o", str(tmp_path / "m"), "--init-image", init, "--freeze-image",
                                   "--epochs", "1", "--conv", "onednn", "--threads", "1", "--batch", "8"])
    assert "image branch from %s (%d tensors)" % (init, len(sd) - 2) in capsys.readouterr().err
    enc = encoder(tmp_path / "m.h5")
    assert "classifier.1.weight" not in enc
    for k, v in sd.items():
        if k in enc:
            assert np.array_equal(enc[k], v.numpy()), k
    n = sum(k in enc for k in sd)
    assert n >= 200 and "features.0.0.weight" in enc and "features.8.1.running_var" in enc


def test_freeze_then_unfreeze(files, tmp_path):
    """--freeze-image-epochs 1 of 2: frozen in epoch 1, trained in epoch 2."""
    store, init, sd = files
    p = train(store, tmp_path / "u", "--init-image", init, "--epochs", "2", "--freeze-image-epochs", "1",
              "--conv", "onednn")
    assert p.returncode == 0, p.stderr
    assert "epoch 2: image branch unfrozen" in p.stderr, p.stderr
    lines = [x for x in p.stderr.splitlines() if " val acc " in x]
    assert len(lines) == 2 and "s/clip" in lines[0] and "ETA" in lines[0], p.stderr
    assert "s per clip-epoch" in p.stderr
    enc = encoder(tmp_path / "u.h5")
    w = "features.3.0.block.0.0.weight"
    assert not np.array_equal(enc[w], sd[w].numpy()), "the unfrozen epoch trains the image branch"


def test_refuses_other_models(files, tmp_path):
    """Another model's file: one line naming the file and what does not fit."""
    store, init, sd = files
    mod = load_train_module()
    enc = torchvision.models.efficientnet_b0(weights=None)
    enc.classifier = torch.nn.Identity()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cases = {
        "resnet18": (torchvision.models.resnet18(weights=None).state_dict(),
                     r"keys missing \(features\.0\.0\.weight.*unexpected keys \(bn1\.bias"),
        "efficientnet_b2": (torchvision.models.efficientnet_b2(weights=None).state_dict(),
                            r"unexpected keys .*tensors of another shape \(features\.0\.0\.weight "
                            r"\(32, 3, 3, 3\), want \(32, 3, 3, 3\)|tensors of another shape"),
        "whole model": ({"img_encoder." + k: v for k, v in sd.items()}, "whole MultimodalAttentionFusion"),
    }
    cut = dict(sd)
    cut["features.1.0.block.0.0.weight"] = torch.zeros(5, 1, 3, 3)
    cases["one shape"] = (cut, r"1 tensors of another shape \(features\.1\.0\.block\.0\.0\.weight \(5, 1, 3, 3\), want \(32, 1, 3, 3\)\)")
    for name, (state, want) in cases.items():
        path = str(tmp_path / (name.replace(" ", "_") + ".pth"))
        torch.save(state, path)
        with pytest.raises(SystemExit) as e:
            mod.load_image_init(enc, path)
        msg = str(e.value)
        assert msg.startswith("train.py: --init-image '%s': " % path), msg
        assert re.search(want, msg), (name, msg)
        assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items()), "untouched on error"
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        mod.load_image_init(enc, str(tmp_path / "junk.pth"))
    assert "cannot read a state_dict" in str(e.value)
    # and through main(): sys.exit(message) = exit status 1 with the message; nothing written
    with pytest.raises(SystemExit) as e:
        run_main(mod, [store, "-o", str(tmp_path / "r"), "--init-image", str(tmp_path / "resnet18.pth"),
                       "--epochs", "1", "--conv", "onednn", "-q"])
    assert isinstance(e.value.code, str) and "not torchvision's efficientnet_b0 state_dict" in e.value.code
    assert not any(x.name.startswith("r.") for x in tmp_path.iterdir())


def test_options_checked(files, tmp_path, capsys):
    store, init, sd = files
    mod = load_train_module()
    for args in (["--freeze-image", "--freeze-image-epochs", "1"], ["--epochs", "2", "--freeze-image-epochs", "3"]):
        with pytest.raises(SystemExit) as e:
            run_main(mod, [store, "-o", str(tmp_path / "x")] + args)
        assert e.value.code == 2 and "--freeze-image" in capsys.readouterr().err


class TinyNet(torch.nn.Module):
    """A stand-in with what the probe must not disturb (BatchNorm statistics, dropout's
    random draws): the probe's mechanics without EfficientNet's cost (in this process
    OpenBLAS runs its generic kernels, so a native EfficientNet step takes a minute)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, groups=1),
                                        torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
                                        torch.nn.AdaptiveAvgPool2d(1))
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(8 + 64, 7)

    def forward(self, img, mel):
        b = img.shape[0]
        return self.head(self.drop(torch.cat([self.conv(img).reshape(b, 8), mel.mean(2)], 1)))


def test_conv_probe_leaves_the_run_alone(files):
    """--conv auto times both paths on a copy of the model: the weights, BatchNorm
    statistics and the random stream are as before, so the run that follows is the one
    a fixed --conv of the chosen path gives; the flag is set to the faster path."""
    store, init, sd = files
    mod = load_train_module()
    torch.manual_seed(5)
    model = TinyNet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    st = mod.Store(store)
    try:
        pick, times = mod.pick_conv(model, st, np.flatnonzero(st.splits == "train"), "auto")
        assert set(times) == {"onednn", "native"} and all(t > 0 for t in times.values())
        assert pick == min(times, key=times.get)
        assert torch.backends.mkldnn.enabled == (pick == "onednn")
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert torch.equal(rng, torch.get_rng_state())
        assert all(p.grad is None for p in model.parameters()) and model.training
        assert mod.pick_conv(model, st, [], "native") == ("native", {})
        assert not torch.backends.mkldnn.enabled
    finally:
        torch.backends.mkldnn.enabled = True
