"""image.convert / image.resize modes against the real clients on this machine.

  - convert=opencv: cv2.VideoCapture(path) (FFmpeg backend) + cap.read(), BGR
    turned to RGB;
  - convert=pyav: PyAV's frame.to_ndarray(format="rgb24") (run in a child
    process: PyAV's log callback and cv2's decoder threads deadlock in one
    process);
  - convert=ffmpeg: the ffmpeg CLI's `-pix_fmt rgb24` with no scale flags;
  - resize=opencv: cv2.resize(img, (w, h)) (INTER_LINEAR); resize=pil after
    convert=pyav: torchvision's Resize on the PIL image of to_ndarray.

Each must be byte-equal, at full size and resized, on generated clips (BT.709,
full range (H.264 full range decodes as yuvj420p), odd sizes, rotation 90 / 270
/ 180 on an odd size, 10-bit, hidden pre-roll) and two sample-corpus clips.  The frame compared is the one
extract-frames picks (the middle by timestamps); the client's frame is found by
its index in ffprobe's frame list (the clients' own frame choice is in
schemas/frames.md, not tested here).
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from frame_fixtures import display_size, write_index

cv2 = pytest.importorskip("cv2", reason="python3-opencv is not installed (make deps)")

ROOT = os.environ.get("RVT_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
TOOL = os.path.join(BIN, "extract-frames")
FF = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-x264-params", "threads=1"]
SIZES = [(224, 224), (37, 23), (7, 300)]  # the seed's, odd, a tall thin one (SIMD tails)

# PyAV in a child process: for each clip, the decoded frame whose pts is
# nearest the given seconds, its index in decoding order and to_ndarray("rgb24")
PYAV_CHILD = r"""
import json, sys, av, numpy as np
jobs, out = json.loads(sys.argv[1]), sys.argv[2]
got = {}
for name, path, t in jobs:
    with av.open(path) as c:
        tb = c.streams.video[0].time_base
        for i, fr in enumerate(c.decode(video=0)):
            if abs(float(fr.pts * tb) - t) < 1e-6:
                got[name] = fr.to_ndarray(format="rgb24")
                got[name + ".index"] = np.array(i)
                break
np.savez(out, **got)
"""


def ff(*args):
    subprocess.run(FF + list(args), check=True)


def extract(tmp, paths, convert, resize, size, pick="middle"):
    """extract-frames on these clips (middle frame): frames [N, H, W, 3], pts [N]"""
    idx = write_index(os.path.join(tmp, "index.csv"), paths)
    out = os.path.join(tmp, "o.h5")
    subprocess.run([TOOL, "-q", "-j", "2", idx, "-o", out, "--size", "%dx%d" % size,
                    "--set", f"image.convert={convert}", "--set", f"image.resize={resize}",
                    "--pick", pick],
                   check=True)
    with h5py.File(out, "r") as f:
        return f["frames"][:, 0], f["frame_pts"][:, 0]


def full_size(tmp, clips, convert, size_of):
    """each clip at its own full size, one run per distinct size"""
    out = {}
    for size in sorted(set(size_of.values())):
        names = [n for n in clips if size_of[n] == size]
        frames, pts = extract(tmp, [clips[n] for n in names], convert, "pil", size)
        for i, n in enumerate(names):
            out[n] = (frames[i], float(pts[i]))
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    p = lambda n: str(d / n)
    src = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "1"]
    ff(*src, *X264, "-pix_fmt", "yuv420p", p("base.mp4"))
    ff("-i", p("base.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", p("rot90.mp4"))
    ff("-i", p("base.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=270", p("rot270.mp4"))
    ff("-f", "lavfi", "-i", "testsrc2=size=225x161:rate=25", "-t", "1", *X264,
       "-pix_fmt", "yuv420p", p("odd.mp4"))
    ff("-i", p("odd.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=180", p("oddrot.mp4"))
    ff(*src, *X264, "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
       "-color_trc", "bt709", p("bt709.mp4"))
    ff(*src, *X264, "-pix_fmt", "yuvj420p", "-color_range", "pc", p("full.mp4"))
    # 10-bit 4:2:0, 226x130 coded 240x144: libswscale's scaled path, which OpenCV
    # feeds the frame as a slice of the coded picture
    ff("-f", "lavfi", "-i", "testsrc2=size=226x130:rate=25", "-t", "1", *X264,
       "-pix_fmt", "yuv420p10le", p("y10.mp4"))
    # a header that counts frames that do not play: an edit list hides the pre-roll
    ff("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30000/1001", "-frames:v", "40", *X264,
       "-pix_fmt", "yuv420p", p("raw.mp4"))
    ff("-ss", "0.2", "-i", p("raw.mp4"), "-c", "copy", p("pre.mp4"))
    out = {n: p(n + ".mp4") for n in ("base", "rot90", "rot270", "odd", "oddrot", "bt709",
                                      "full", "y10", "pre")}
    sample = sorted(
        os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(ROOT, "data", "sample"))
        for f in fs if f.startswith("01-") and f.endswith(".mp4"))
    if sample:  # two RAVDESS-like 1280x720 clips (edit-list pre-roll on some)
        out["sample0"] = sample[0]
        out["sampleN"] = sample[len(sample) // 2]
    return out


@pytest.fixture(scope="module")
def runs(clips, tmp_path_factory):
    """Every extract-frames run and every client's frames, computed once."""
    tmp = str(tmp_path_factory.mktemp("runs"))
    shown, stored = {}, {}
    for n, v in clips.items():
        shown[n], stored[n] = display_size(v)
    r = {"shown": shown}
    r["opencv"] = full_size(tmp, clips, "opencv", shown)
    r["pyav"] = full_size(tmp, clips, "pyav", stored)  # PyAV does not rotate
    r["ffmpeg"] = full_size(tmp, clips, "ffmpeg", shown)
    names = list(clips)
    for conv, rs, sizes in (("opencv", "opencv", SIZES), ("pyav", "pil", SIZES[:2])):
        for size in sizes:
            # the odd sizes on the small clips only: 1280x720 decodes cost the most
            some = names if size == SIZES[0] else [n for n in names if "sample" not in n]
            frames, _ = extract(tmp, [clips[n] for n in some], conv, rs, size)
            r[(conv, rs, size)] = dict(zip(some, frames))
    # the clients: PyAV first (it also gives each frame's index)
    jobs = [(n, clips[n], r["pyav"][n][1]) for n in names]
    npz = os.path.join(tmp, "pyav.npz")
    subprocess.run([sys.executable, "-c", PYAV_CHILD, json.dumps(jobs), npz], check=True)
    z = np.load(npz)
    r["index"] = {n: int(z[n + ".index"]) for n in names}
    r["pyav_ref"] = {n: z[n] for n in names}
    r["cv_ref"] = {n: cv_read(clips[n], r["index"][n]) for n in names}
    return r


def cv_read(path, i):
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        for _ in range(i + 1):
            ok, img = cap.read()
            assert ok
    finally:
        cap.release()
    return img


def cli_frame(path, i, w, h):
    raw = subprocess.run(FF + ["-i", path, "-vf", f"select=eq(n\\,{i})", "-fps_mode",
                               "passthrough", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                               "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def diff(a, b):
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    d = np.abs(a.astype(int) - b.astype(int))
    return f"{np.count_nonzero(d)} bytes differ, max {d.max()}, mean {d.mean():.4f}"


NAMES = ["base", "rot90", "rot270", "odd", "oddrot", "bt709", "full", "y10", "pre",
         "sample0", "sampleN"]


def need(clips, name):
    if name not in clips:
        pytest.skip("no sample corpus in data/sample (make sample)")


@pytest.mark.parametrize("name", NAMES)
def test_opencv_equals_videocapture_and_cv2_resize(clips, runs, name):
    need(clips, name)
    bgr = runs["cv_ref"][name]
    full = runs["opencv"][name][0]
    assert np.array_equal(full, bgr[:, :, ::-1]), diff(full, bgr[:, :, ::-1])
    for size in SIZES:
        if name not in runs[("opencv", "opencv", size)]:
            continue
        got = runs[("opencv", "opencv", size)][name]
        want = cv2.resize(bgr, size)[:, :, ::-1]
        assert np.array_equal(got, want), f"{size}: {diff(got, want)}"


@pytest.mark.parametrize("name", NAMES)
def test_pyav_equals_to_ndarray_and_torchvision_resize(clips, runs, name):
    need(clips, name)
    want_full = runs["pyav_ref"][name]
    full = runs["pyav"][name][0]
    assert np.array_equal(full, want_full), diff(full, want_full)
    try:
        from torchvision import transforms
        resize = lambda img, s: np.asarray(transforms.Resize((s[1], s[0]))(img))
    except ImportError:  # PIL is what torchvision calls
        resize = lambda img, s: np.asarray(img.resize(s, Image.BILINEAR))
    for size in SIZES[:2]:
        if name not in runs[("pyav", "pil", size)]:
            continue
        got = runs[("pyav", "pil", size)][name]
        want = resize(Image.fromarray(want_full), size)
        assert np.array_equal(got, want), f"{size}: {diff(got, want)}"


@pytest.mark.parametrize("name", NAMES)
def test_ffmpeg_equals_the_cli_with_default_flags(clips, runs, name):
    need(clips, name)
    w, h = runs["shown"][name]
    want = cli_frame(clips[name], runs["index"][name], w, h)
    full = runs["ffmpeg"][name][0]
    assert np.array_equal(full, want), diff(full, want)


def test_modes_differ_where_they_should(clips, runs):
    """The modes are not all the same thing: on BT.709 the CLI honours the tag,
    OpenCV and PyAV do not; the OpenCV resize is not PIL's."""
    assert np.array_equal(runs["opencv"]["bt709"][0], runs["pyav"]["bt709"][0])
    assert not np.array_equal(runs["ffmpeg"]["bt709"][0], runs["opencv"]["bt709"][0])
    assert not np.array_equal(runs["opencv"]["rot90"][0], runs["ffmpeg"]["rot90"][0])
    assert not np.array_equal(runs[("pyav", "pil", SIZES[0])]["base"],
                              runs[("opencv", "opencv", SIZES[0])]["base"])


def test_cv_middle_is_where_opencv_seeks(clips, tmp_path):
    """--pick cv-middle: cap.set(CAP_PROP_POS_FRAMES, CAP_PROP_FRAME_COUNT // 2) then
    cap.read(); on clips whose header count includes hidden pre-roll frames it is
    not our middle."""
    names = [n for n in ("pre", "base", "sample0", "sampleN") if n in clips]
    size = (64, 48)
    got, pts = extract(str(tmp_path), [clips[n] for n in names], "opencv", "opencv", size,
                       "cv-middle")
    mid, mid_pts = extract(str(tmp_path), [clips[n] for n in names], "opencv", "opencv", size)
    with h5py.File(os.path.join(str(tmp_path), "o.h5"), "r") as f:  # says what made it
        assert "OpenCV" in f.attrs["rgb_conversion"] and "cv2.resize" in f.attrs["resize"]
        assert f.attrs["image.convert"] == "opencv" and f.attrs["image.resize"] == "opencv"
    for i, n in enumerate(names):
        cap = cv2.VideoCapture(clips[n], cv2.CAP_FFMPEG)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.set(cv2.CAP_PROP_POS_FRAMES, count // 2)
        ok, img = cap.read()
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
        cap.release()
        assert ok
        assert abs(pts[i] - t) < 1e-4, (n, pts[i], t)
        want = cv2.resize(img, size)[:, :, ::-1]
        assert np.array_equal(got[i], want), f"{n}: {diff(got[i], want)}"
    assert pts[0] > mid_pts[0], "pre.mp4: the header counts the hidden pre-roll"
