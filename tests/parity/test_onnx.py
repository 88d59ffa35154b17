"""scripts/export-onnx run in ONNX Runtime (scripts/ort-run.mjs) against run-model.

One seeded checkpoint (BatchNorm re-estimated) and 6 clips:
  fp32: the exported graph's logits equal run-model's within 1e-5 of the clip's
        largest |logit|, in batches of 4 (the batch axis is dynamic: 4 then 2);
  int8: quantize-model's checkpoint (dynamic, per column) exported as QDQ: the int8
        initializers are the checkpoint's q, the DequantizeLinear scales its scales
        with the BatchNorm folded as run-model folds it; three layers (a Linear, two
        pointwise convs) output within 1e-5 of the scheme computed in NumPy from
        ORT's own input to them; ORT's argmax equals run-model's on every clip that
        is not a near-tie (top-2 margin < 0.02).  The same for a calibrated
        (static-minmax) checkpoint, whose QuantizeLinear maps are checked against
        its K_act_range.  The logits are not compared tightly: the scheme is
        discontinuous, and this untrained EfficientNet amplifies the ~1e-6 by which
        ORT's float32 features differ from run-model's into codes one step over
        (schemas/checkpoint-int8.md): the logits differ by up to half the int8 error.
  a file that is not a checkpoint: exit 1, one line naming it, no output left.
ORT must be installed in build/ort (scripts/install-ort.sh: npm, ~20 s, 300 MB, too slow for
a test to do it);
without it, or without node or python3-onnx, the tests skip and say how to install.
"""

import csv
import glob
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import model_fixtures as F

N_CLIPS = 6
ROOT = F.ROOT
ORT_INSTALL = "scripts/install-ort.sh"


def cpu_has_vnni():
    """ONNX Runtime's u8 x s8 integer kernels sum the products exactly only with VNNI
    (vpdpbusd); without it (AVX2 alone, e.g. AMD Zen 3) they use vpmaddubsw, whose int16
    pair sums saturate (255 * 127 * 2 > 32767: ORT's documentation suggests 7-bit
    weights, reduce_range, on such CPUs), so an int8 layer's output can be a little off
    the scheme that run-model computes exactly."""
    flags = F.cpu_flags()
    return flags is None or bool({"avx512_vnni", "avx_vnni"} & flags)


def ort_dir():
    for d in (os.environ.get("RVT_ORT_DIR"), os.path.join(os.environ.get("RVT_BUILD", ""), "ort"),
              os.path.join(ROOT, "build", "ort")):
        if d and os.path.exists(os.path.join(d, "node_modules", "onnxruntime-node", "package.json")):
            return d
    return None


def need_ort():
    try:
        import onnx  # noqa: F401
    except ImportError:
        pytest.skip("python3-onnx missing (scripts/install-deps.sh installs it)")
    if not shutil.which("node"):
        pytest.skip("node missing: ONNX Runtime runs through onnxruntime-node")
    if not ort_dir():
        pytest.skip("onnxruntime-node not in build/ort (install: %s)" % ORT_INSTALL)


def export_onnx(*args):
    """scripts/export-onnx's main() in this process (torch is imported once)."""
    loader = importlib.machinery.SourceFileLoader("export_onnx", os.path.join(ROOT, "scripts", "export-onnx"))
    spec = importlib.util.spec_from_loader("export_onnx", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    assert mod.main(["-q"] + list(args)) == 0
    return mod


def ort_logits(d, onnx_path, batch=4):
    out = os.path.join(d, "ort-%s.npy" % os.path.basename(onnx_path))
    env = dict(os.environ, RVT_ORT_DIR=ort_dir())
    p = subprocess.run(["node", os.path.join(ROOT, "scripts", "ort-run.mjs"), onnx_path,
                        "--input", "image=" + os.path.join(d, "img.npy"),
                        "--input", "mel=" + os.path.join(d, "mel.npy"),
                        "--output", "logits=" + out, "--batch", str(batch)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return np.load(out).astype(np.float64)


def run_model_logits(d, model):
    out = os.path.join(d, "logits-%s.csv" % os.path.basename(model))
    p = subprocess.run([F.tool("run-model"), "-q", "-m", model, "-F", os.path.join(d, "features.h5"),
                        "-o", os.devnull, "--logits", out, "--batch", "4"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open(out, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return np.array([[float(x) for x in r[1:]] for r in rows])


def quantize(d, *args):
    out = os.path.join(d, "model-int8%s.h5" % ("-static" if args else ""))
    p = subprocess.run([F.tool("quantize-model"), "-q", os.path.join(d, "model.h5"), "-o", out] + list(args),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    need_ort()
    d = str(tmp_path_factory.mktemp("onnx"))
    frames, mel = F.random_inputs(N_CLIPS, 21)
    F.make_store(os.path.join(d, "features.h5"), frames, mel, [i % 7 for i in range(N_CLIPS)],
                 ["test"] * N_CLIPS)
    img, melt = F.to_torch_inputs(frames, mel)
    np.save(os.path.join(d, "img.npy"), img.numpy())
    np.save(os.path.join(d, "mel.npy"), melt.numpy())
    F.export_model(F.make_model("replace", seed=5, reest_inputs=8), os.path.join(d, "model.h5"))
    return d


def test_fp32_logits_equal_run_model(work):
    import onnx
    path = os.path.join(work, "model.onnx")
    export_onnx(os.path.join(work, "model.h5"), "-o", path)
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert meta["image.convert"] == "accurate" and meta["image.jpeg_quality"] == "0", meta
    g = onnx.load(path).graph
    assert [i.name for i in g.input] == ["image", "mel"] and [o.name for o in g.output] == ["logits"]
    for v in list(g.input) + list(g.output):
        assert v.type.tensor_type.shape.dim[0].dim_param == "batch", v.name
    ours = run_model_logits(work, os.path.join(work, "model.h5"))
    ort = ort_logits(work, path)
    assert ours.shape == ort.shape == (N_CLIPS, 7)
    tol = 1e-5 * np.abs(ours).max(axis=1, keepdims=True)
    worst = (np.abs(ort - ours) / tol).max()
    assert worst <= 1.0, "ORT's fp32 logits differ from run-model's by %.3g of 1e-5 relative" % worst
    assert (ort.argmax(1) == ours.argmax(1)).all()


def test_ort_profile(work):
    """ort-run.mjs --profile: ORT's own trace summed by node kind and output shape, in
    run-model --profile's columns; the outputs as without it."""
    path = os.path.join(work, "model.onnx")
    if not os.path.exists(path):
        export_onnx(os.path.join(work, "model.h5"), "-o", path)
    plain = ort_logits(work, path, batch=2)
    prof, out = os.path.join(work, "ort-prof.csv"), os.path.join(work, "ort-prof.npy")
    env = dict(os.environ, RVT_ORT_DIR=ort_dir())
    p = subprocess.run(["node", os.path.join(ROOT, "scripts", "ort-run.mjs"), path,
                        "--input", "image=" + os.path.join(work, "img.npy"),
                        "--input", "mel=" + os.path.join(work, "mel.npy"),
                        "--output", "logits=" + out, "--batch", "2", "--profile", prof],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert (np.load(out) == plain).all()
    assert "profile: nodes" in p.stderr and prof in p.stderr
    with open(prof, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["kernel", "shape", "calls_per_clip", "ms_per_clip", "share", "gflop_s"]
    body, total = rows[1:-1], rows[-1]
    assert total[0] == "total" and total[4] == "1.0000"
    kinds = {r[0] for r in body}
    assert "Conv" in kinds or "FusedConv" in kinds, kinds
    # the 224 px pointwise expands 192 -> 1152 at 7 x 7 (4 blocks): one node run each a
    # batch of 2, so 2 calls a clip
    expand = [r for r in body if r[1] == "out=1152x7x7 w=1152x192x1x1"]
    assert len(expand) == 1 and float(expand[0][2]) == 2.0, expand
    shares = [float(r[4]) for r in body]
    assert all(0 <= x <= 1 for x in shares) and abs(sum(shares) - 1) < 1e-3
    assert abs(sum(float(r[3]) for r in body) - float(total[3])) < 1e-3 * max(1, float(total[3]))
    assert not [f for f in os.listdir(work) if ".tmp-" in f]


def check_qdq_weights(onnx_path, ckpt, export_mod):
    """Every quantized layer: an int8 initializer equal to the checkpoint's q, dequantized
    (axis 0, zero 0) with K_scale times run-model's BatchNorm factor."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    dq = {n.output[0]: n for n in m.graph.node if n.op_type == "DequantizeLinear"}
    with h5py.File(ckpt, "r") as f:
        data = {k: f[k][()] for k in f}
        layers = [k.decode() if isinstance(k, bytes) else k for k in f.attrs["quant_layers"]]
    assert len(layers) > 50
    for k in layers:
        n = dq[k]
        assert [a.i for a in n.attribute if a.name == "axis"] == [0], k
        q, s, z = (inits[i] for i in n.input)
        assert q.dtype == np.int8 and np.array_equal(q, data[k]), k
        want = data[k + "_scale"].astype(np.float64)
        bn = export_mod.bn_prefix(k, data)
        if bn:
            want = want * export_mod.bn_factor(data, bn)[0]
        assert np.array_equal(s, want.astype(np.float32)), k
        assert not z.any(), k
    return m


def decided(ours, margin=0.02, least=N_CLIPS // 2):
    """Clips whose run-model int8 top-2 margin is at least `margin` (an untrained
    network's near-ties may flip on a one-ulp change of an input, in either engine);
    at least `least` of them, so the comparison can fail."""
    s = np.sort(ours, axis=1)
    keep = s[:, -1] - s[:, -2] >= margin
    assert keep.sum() >= least, "too few clearly decided clips: %s" % (s[:, -1] - s[:, -2])
    return keep


def layer_outputs(work, m, names):
    """Runs graph m in ORT with extra outputs `names`: {name: array}."""
    import onnx
    from onnx import TensorProto, helper
    m = onnx.ModelProto.FromString(m.SerializeToString())
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    path = os.path.join(work, "probe.onnx")
    onnx.save(m, path)
    env = dict(os.environ, RVT_ORT_DIR=ort_dir())
    args = []
    for i, n in enumerate(names):
        args += ["--output", "%s=%s" % (n, os.path.join(work, "probe%d.npy" % i))]
    p = subprocess.run(["node", os.path.join(ROOT, "scripts", "ort-run.mjs"), path,
                        "--input", "image=" + os.path.join(work, "img.npy"),
                        "--input", "mel=" + os.path.join(work, "mel.npy")] + args,
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return {n: np.load(os.path.join(work, "probe%d.npy" % i)) for i, n in enumerate(names)}


def column_codes(x):
    """schemas/checkpoint-int8.md's dynamic map of each column of x [B, C, ...] in float32
    NumPy: (u - zero) and the scale, column by column."""
    f = np.float32
    lo = np.minimum(x.min(axis=1, keepdims=True), f(0))
    hi = np.maximum(x.max(axis=1, keepdims=True), f(0))
    s = ((hi - lo) / f(255)).astype(np.float32)
    z = np.clip(np.rint(-lo / s), 0, 255)
    v = np.clip(x * (f(1) / s), -z, 255 - z)
    return np.rint(v), s


def ort_follows_run_model(work, q8, path):
    """ORT on the int8 graph `path` keeps run-model's argmax on `q8` (clips not near a
    tie) and ran our int8 numbers, not fp32's: its logits are nearer run-model's int8
    than fp32's are."""
    ours = run_model_logits(work, q8)
    ort = ort_logits(work, path, batch=1)
    fp32 = run_model_logits(work, os.path.join(work, "model.h5"))
    keep = decided(ours)
    assert (ort.argmax(1) == ours.argmax(1))[keep].all(), (ort.argmax(1), ours.argmax(1))
    assert np.abs(ort - ours).max() < np.abs(fp32 - ours).max()


def test_int8_dynamic_qdq(work):
    import onnx
    from onnx import numpy_helper
    q8 = quantize(work)
    path = os.path.join(work, "model-int8.onnx")
    mod = export_onnx(q8, "-o", path)
    m = check_qdq_weights(path, q8, mod)
    with h5py.File(q8, "r") as f:
        n_int8 = len(f.attrs["quant_layers"])
    assert n_int8 == 65  # quantize-model's default: 71 layers but the six narrowest pointwise
    assert sum(n.op_type == "ReduceMin" for n in m.graph.node) >= n_int8  # one map per column
    # layer by layer, exactly the scheme: the int8 product of the codes of ORT's own
    # input, times the column's scale and the weight's, plus the (folded) bias
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    with h5py.File(q8, "r") as f:
        data = {k: f[k][()] for k in f}
    probes = []
    for key, op in (("fusion.0.weight", "Gemm"), ("img_encoder.features.8.0.weight", "Conv"),
                    ("img_encoder.features.5.1.block.3.0.weight", "Conv")):
        node = [n for n in m.graph.node if n.op_type == op and n.input[1] == key][0]
        # back through the map's nodes (breadth first) to its ReduceMin: the raw input
        todo, red = [node.input[0]], None
        while red is None:
            p = prod[todo.pop(0)]
            red = p if p.op_type == "ReduceMin" else None
            todo += [i for i in p.input if i in prod]
        probes.append((key, op, node, red.input[0]))
    got = layer_outputs(work, m, [n for _, _, node, raw in probes for n in (raw, node.output[0])])
    for key, op, node, raw in probes:
        codes, s = column_codes(got[raw])
        w_scale = inits[prod[key].input[1]].astype(np.float64)
        bias = inits[node.input[2]].astype(np.float64)
        q = data[key].reshape(data[key].shape[0], -1).astype(np.float64)
        if op == "Gemm":
            want = (codes @ q.T) * s * w_scale + bias
        else:
            want = np.einsum("oc,bchw->bohw", q, codes) * s * w_scale[:, None, None] + bias[:, None, None]
        err = np.abs(got[node.output[0]] - want).max() / np.abs(want).max()
        # without VNNI ORT's saturated pair sums: 4.8e-4 measured (Zen 3)
        tol = 1e-5 if cpu_has_vnni() else 2e-3
        assert err < tol, "%s: ORT's output is %.3g off the int8 scheme" % (key, err)
    ort_follows_run_model(work, q8, path)
    del onnx


def test_int8_w7_qdq(work):
    """quantize-model --weight-bits 7 exports the same way: the graph's weights are the
    file's (-63..63), and ORT's logits follow run-model's int8 (which multiplies them with
    vpmaddubsw on AVX2) rather than fp32's."""
    q7 = os.path.join(work, "model-int8-w7.h5")
    p = subprocess.run([F.tool("quantize-model"), "-q", "--weight-bits", "7",
                        os.path.join(work, "model.h5"), "-o", q7], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    path = os.path.join(work, "model-int8-w7.onnx")
    mod = export_onnx(q7, "-o", path)
    check_qdq_weights(path, q7, mod)
    with h5py.File(q7, "r") as f:
        assert f.attrs["quant_weight_bits"] == 7
        assert max(np.abs(f[k][()]).max() for k in f.attrs["quant_layers"]) == 63
    ort_follows_run_model(work, q7, path)


def test_int8_static_qdq(work):
    from onnx import numpy_helper
    q8 = quantize(work, "--calibrate", os.path.join(work, "features.h5"), "--calib-split", "all")
    path = os.path.join(work, "model-int8-static.onnx")
    mod = export_onnx(q8, "-o", path)
    m = check_qdq_weights(path, q8, mod)
    assert not any(n.op_type == "ReduceMin" for n in m.graph.node)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    with h5py.File(q8, "r") as f:
        ranges = {k[:-len("_act_range")]: f[k][()] for k in f if k.endswith("_act_range")}
    quants = [n for n in m.graph.node if n.op_type == "QuantizeLinear"]
    assert len(quants) >= len(ranges) >= 65
    users = {}
    for n in m.graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    for qn in quants:  # QuantizeLinear -> DequantizeLinear -> the layer, with its range's map
        layer = users[users[qn.output[0]][0].output[0]][0]
        lo, hi = ranges[layer.input[1]]
        s, z = mod.qmap(float(lo), float(hi))
        assert inits[qn.input[1]] == s and int(inits[qn.input[2]]) == z, layer.input[1]
    ours = run_model_logits(work, q8)
    ort = ort_logits(work, path)
    # static maps: ORT divides by the scale where run-model multiplies by its inverse, so
    # values at a rounding tie get the other code, and this untrained network carries
    # such steps to the logits (0.05-0.09 measured, whatever run-model's fp32 kernels
    # that made the calibration ranges): only margins above that say something
    # (and without VNNI ORT's saturated pair sums: 0.19 measured on Zen 3)
    d = np.abs(ort - ours).max()
    assert d < (0.15 if cpu_has_vnni() else 0.3), d
    # (this untrained network's margins: 2 or 3 of the 6 clips clear 0.1, depending on
    # the last ulp of run-model's fp32 kernels)
    keep = decided(ours, margin=0.1, least=2)
    assert (ort.argmax(1) == ours.argmax(1))[keep].all(), (ort.argmax(1), ours.argmax(1), d)


def test_frame_recipe_metadata():
    """The recipe in the graph's metadata: attributes over preprocessing over defaults
    (no ORT needed: the function alone)."""
    loader = importlib.machinery.SourceFileLoader("export_onnx", os.path.join(ROOT, "scripts", "export-onnx"))
    spec = importlib.util.spec_from_loader("export_onnx", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    r = mod.frame_recipe({"image.jpeg_quality": b"50", "preprocessing": "image:\n  width: 112\n"})
    assert (r["image.jpeg_quality"], r["image.width"], r["image.resize"]) == ("50", "112", "pil"), r
    assert len(r) == 8


def test_not_a_checkpoint(work):
    bad = os.path.join(work, "bad.h5")
    with h5py.File(bad, "w") as f:
        f["x"] = np.zeros(3, np.float32)
    out = os.path.join(work, "bad.onnx")
    p = subprocess.run([os.path.join(ROOT, "scripts", "export-onnx"), bad, "-o", out],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.startswith("export-onnx: '%s': not a checkpoint" % bad), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(out) and not glob.glob(os.path.join(work, ".bad.onnx.tmp-*"))
