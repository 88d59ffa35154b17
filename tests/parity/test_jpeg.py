"""image.jpeg_quality against PIL: extract-frames with a JPEG quality q stores, for
every frame, exactly what PIL gives for the same frame extracted without it:

    buf = io.BytesIO(); Image.fromarray(frame).save(buf, "JPEG", quality=q)
    Image.open(buf).convert("RGB")

byte for byte, at q = 1, 75, 95, 100 for the default 224x224, and a few of them
for odd sizes (223x97; 17x9 of a center crop: partial MCUs; 1x1), on two
sample-corpus clips and a noisy generated clip (saturated colours, fine detail).  Also: the store records
the quality, and bad values are usage errors.
"""
import glob
import io
import os
import subprocess

import h5py
import numpy as np
import pytest
from PIL import Image

from frame_fixtures import write_index

ROOT = os.environ.get("RVT_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.environ.get("RVT_BIN", os.path.join(ROOT, "bin"))
TOOL = os.path.join(BIN, "extract-frames")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("jpeg")
    noisy = str(d / "noisy.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=320x240:rate=25", "-t", "1", "-vf",
                    "noise=alls=60:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                    "-pix_fmt", "yuv420p", "-x264-params", "threads=1", noisy], check=True)
    paths = [noisy]
    sample = sorted(glob.glob(os.path.join(ROOT, "data", "sample", "**", "01-*.mp4"),
                              recursive=True))
    paths += sample[:: max(1, len(sample) // 2)][:2]
    return write_index(str(d / "index.csv"), paths)


def extract(index, out, *args):
    subprocess.run([TOOL, "-q", "-j", "2", index, "-o", str(out)] + list(args), check=True)
    with h5py.File(str(out), "r") as f:
        return f["frames"][:], dict(f.attrs)


def pil_roundtrip(frame, q):
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.mark.parametrize("size,qualities", [
    ([], (1, 75, 95, 100)),
    (["--size", "223x97"], (1, 75, 100)),
    (["--size", "17x9", "--crop", "center"], (50, 95)),
    (["--size", "1"], (75,)),
], ids=["224", "223x97", "17x9-center", "1x1"])
def test_equals_pil(index, tmp_path, size, qualities):
    base, _ = extract(index, tmp_path / "q0.h5", *size)
    for q in qualities:
        ours, attrs = extract(index, tmp_path / f"q{q}.h5", *size,
                              "--jpeg-quality", str(q))
        assert ours.shape == base.shape
        for i in range(base.shape[0]):
            for k in range(base.shape[1]):
                ref = pil_roundtrip(base[i, k], q)
                diff = np.count_nonzero(ref != ours[i, k])
                assert diff == 0, f"q={q} clip {i} frame {k}: {diff} bytes differ from PIL"
        assert str(attrs["image.jpeg_quality"]) == str(q)
        if q < 100 and base.shape[2] * base.shape[3] > 64:
            assert not np.array_equal(ours, base), f"q={q} changed nothing"


@pytest.mark.parametrize("value", ["101", "-1", "high"])
def test_bad_quality_is_a_usage_error(index, tmp_path, value):
    r = subprocess.run([TOOL, index, "-o", str(tmp_path / "x.h5"), "--set",
                        f"image.jpeg_quality={value}"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "image.jpeg_quality" in r.stderr
    assert not os.path.exists(tmp_path / "x.h5")
