"""The Python scripts' output files follow the C tools' policy (lib/core/atomic.c,
scripts/outfile.py): a device or FIFO is written in place, never renamed over (an
export to /dev/null used to replace /dev/null with a regular file for the whole
machine); a directory is refused; a failed write leaves what was there and no
temporary.

The device cases write through a symlink to /dev/null: if a script renamed over its
output again, it would replace the link in the test's folder, not /dev/null, and the
test would fail on the link.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import outfile  # noqa: E402


def null_link(d, name):
    p = os.path.join(str(d), name)
    os.symlink(os.devnull, p)
    return p


def still_null(p):
    return os.path.islink(p) and os.readlink(p) == os.devnull


def leftovers(d):
    return [n for n in os.listdir(str(d)) if ".tmp-" in n]


# ------------------------------------------------------------- outfile itself

def test_replacing_file_fifo_dir_failure(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("old\n")
    with outfile.replacing(str(f)) as t:
        assert os.path.dirname(t) == str(tmp_path)       # beside it: rename, not copy
        with open(t, "w") as o:
            o.write("new\n")
    assert f.read_text() == "new\n" and oct(f.stat().st_mode & 0o777) == "0o644"
    # an exception in the block: the old content stays, no temporary
    with pytest.raises(RuntimeError):
        with outfile.replacing(str(f)) as t:
            open(t, "w").write("half")
            raise RuntimeError("stop")
    assert f.read_text() == "new\n" and not leftovers(tmp_path)
    # a device, through a link: written in place, the link stays a link
    link = null_link(tmp_path, "null.txt")
    with outfile.replacing(link) as t:
        assert os.path.dirname(t) != str(tmp_path)
        open(t, "w").write("x" * 100000)
    assert still_null(link) and not leftovers(tmp_path)
    # a FIFO: its reader gets the bytes
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE)
    with outfile.replacing(fifo) as t:
        open(t, "w").write("through the pipe\n")
    assert reader.communicate(timeout=30)[0] == b"through the pipe\n"
    assert not os.path.isfile(fifo) and os.path.exists(fifo)
    with pytest.raises(IsADirectoryError):
        with outfile.replacing(str(tmp_path)):
            pass
    with pytest.raises(FileNotFoundError):
        with outfile.replacing(str(tmp_path / "no" / "x")):
            pass


# ------------------------------------------------------------- the scripts

def script(*args):
    return subprocess.run(list(args), capture_output=True, text=True)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    import model_fixtures as F
    d = tmp_path_factory.mktemp("outputs")
    path = str(d / "model.h5")
    F.export_model(F.make_model("replace", seed=3), path)
    return path


def test_export_onnx(ckpt, tmp_path):
    exp = os.path.join(ROOT, "scripts", "export-onnx")
    link = null_link(tmp_path, "m.onnx")
    p = script(exp, "-q", ckpt, "-o", link)
    assert p.returncode == 0 and still_null(link), p.stderr
    p = script(exp, "-q", ckpt, "-o", str(tmp_path))
    assert p.returncode == 1 and "it is a directory" in p.stderr, p.stderr
    p = script(exp, "-q", ckpt, "-o", str(tmp_path / "no" / "m.onnx"))
    assert p.returncode == 1 and "No such file or directory" in p.stderr, p.stderr
    assert not leftovers(tmp_path)


def test_export_checkpoint(ckpt, tmp_path):
    import h5py
    import torch
    with h5py.File(ckpt, "r") as f:
        sd = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
    pt = str(tmp_path / "m.pt")
    torch.save(sd, pt)
    exp = os.path.join(ROOT, "scripts", "export-checkpoint.py")
    link = null_link(tmp_path, "m.h5")
    p = script("/usr/bin/python3", exp, pt, link)
    assert p.returncode == 0 and still_null(link), p.stderr
    p = script("/usr/bin/python3", exp, pt, str(tmp_path))
    assert p.returncode == 1 and p.stderr.strip() == \
        "export-checkpoint: cannot write '%s': it is a directory" % tmp_path, p.stderr
    assert not leftovers(tmp_path)


def test_plot_history(tmp_path):
    h = tmp_path / "m.history.csv"
    h.write_text("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n"
                 "1,1.9,0.2,1.8,0.25,0.001,3.0\n2,1.5,0.4,1.6,0.35,0.001,3.1\n")
    plot = os.path.join(ROOT, "scripts", "plot-history.py")
    link = null_link(tmp_path, "m.svg")
    p = script("/usr/bin/python3", plot, str(h), "-o", link)
    assert p.returncode == 0 and still_null(link), p.stderr
    p = script("/usr/bin/python3", plot, str(h), "-o", str(tmp_path))
    assert p.returncode == 1 and "it is a directory" in p.stderr, p.stderr
    assert not leftovers(tmp_path)


def test_ort_run(tmp_path):
    ort_dir = os.environ.get("RVT_ORT_DIR") or os.path.join(ROOT, "build", "ort")
    if not os.path.exists(os.path.join(ort_dir, "node_modules", "onnxruntime-node")):
        pytest.skip("ONNX Runtime is not in %s (scripts/install-ort.sh installs it)" % ort_dir)
    if subprocess.run(["sh", "-c", "command -v node"], capture_output=True).returncode:
        pytest.skip("no node")
    from onnx import TensorProto, helper, save
    # a one-node graph: what is tested is how ort-run writes its output
    g = helper.make_graph([helper.make_node("Neg", ["x"], ["logits"])], "neg",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 7])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 7])])
    onnx = str(tmp_path / "neg.onnx")
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), onnx)
    np.save(tmp_path / "x.npy", np.ones((2, 7), np.float32))
    run = ["node", os.path.join(ROOT, "scripts", "ort-run.mjs"), onnx,
           "--input", "x=%s" % (tmp_path / "x.npy")]
    env = dict(os.environ, RVT_ORT_DIR=ort_dir)
    link = null_link(tmp_path, "logits.npy")
    p = subprocess.run(run + ["--output", "logits=" + link], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and still_null(link), p.stderr
    p = subprocess.run(run + ["--output", "logits=" + str(tmp_path)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 1 and "it is a directory" in p.stderr, p.stderr
    assert not leftovers(tmp_path)
