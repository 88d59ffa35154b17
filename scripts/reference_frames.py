#!/usr/bin/python3
"""Reference frame extraction: the ffmpeg CLI + PIL/torchvision, as a Python user would.

For every clip this script
  1. lists the video frames with ffprobe: by default the decoded frame list
     (`-show_entries frame=...`, the ground truth), or with --timestamps packets
     the demuxed packets without the discard flag (no decoding, fast);
  2. picks frames exactly as extract-frames documents (schemas/frames.md):
     targets middle = (first + end) / 2, uniform = first + (2i + 1)(end - first) / 2K,
     or times=t1,..., where end = last pts + its duration; the frame whose pts is
     nearest wins, the earlier one on a tie.  Distances are computed by brute
     force with exact fractions (an independent implementation of the C side);
  3. decodes the picked frames with the ffmpeg CLI at full size as rgb24, with the
     swscale flags extract-frames uses (-vf scale=flags=...; the CLI applies the
     display rotation itself), one CLI call per clip;
  4. crops with PIL (none | center | box=x,y,w,h, same integer geometry as
     rvt_crop_rect) and resizes with torchvision.transforms.Resize((H, W)), which
     on a PIL image is Image.resize((W, H), resample=BILINEAR): PIL's triangle
     filter widened by the scale factor when downscaling (antialiasing).

Output: an .npz with frames uint8 [N, K, H, W, 3], frame_pts float64 [N, K]
(seconds) and ids.  Clips come from --index INDEX.csv (id, video_path columns) or
are given as files (ids = file names).

  reference_frames.py --index index.csv -o ref.npz
  reference_frames.py --frames 8 --pick uniform --size 224 a.mp4 b.mp4 -o ref.npz
"""

import argparse
import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
from PIL import Image

# Must equal RVT_VIDEO_CLI_FILTER in lib/media/video.h.
CLI_FILTER = "scale=flags=bilinear+accurate_rnd+full_chroma_int+bitexact"
FF = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]


def probe(path, timestamps):
    """Stream facts and the presented frames' (pts, duration) in pts order (one ffprobe)."""
    if timestamps == "frames":
        entries, kind = "frame=pts,pkt_duration", "frames"
    else:
        entries, kind = "packet=pts,duration,flags", "packets"
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries",
         "stream=time_base,width,height,sample_aspect_ratio:stream_side_data=rotation:" + entries,
         path], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    if not j.get("streams"):
        raise ValueError(f"{path}: no video stream")
    st = j["streams"][0]
    items = j.get(kind, [])
    frames = []
    for it in items:
        if kind == "packets" and "D" in it.get("flags", ""):
            continue
        dur = it.get("pkt_duration", it.get("duration"))
        frames.append((int(it["pts"]), int(dur) if dur is not None else 0))
    frames.sort(key=lambda f: f[0])
    num, den = (int(x) for x in st["time_base"].split("/"))
    rot = 0
    for sd in st.get("side_data_list", []):
        if "rotation" in sd:
            # the CLI's autorotate: clockwise theta = -rotation, normalised to [0, 360)
            rot = (-int(round(float(sd["rotation"])))) % 360
    sar = st.get("sample_aspect_ratio", "1:1")
    sn, sd_ = (int(x) for x in sar.split(":")) if ":" in sar else (1, 1)
    if sn <= 0 or sd_ <= 0:
        sn, sd_ = 1, 1
    return dict(tb=Fraction(num, den), frames=frames, rot=rot, sar=(sn, sd_),
                width=int(st["width"]), height=int(st["height"]))


def stream_end(frames):
    last_pts, last_dur = frames[-1]
    if last_dur > 0:
        return last_pts + last_dur
    if len(frames) > 1:
        return last_pts + (last_pts - frames[0][0]) // (len(frames) - 1)
    return last_pts


def nearest(pts, target):
    """Index of the pts nearest to target (a Fraction of ticks); ties: earlier."""
    best, best_d = 0, None
    for i, p in enumerate(pts):
        d = abs(p - target)
        if best_d is None or d < best_d:
            best, best_d = i, d
    return best


def pick(pts, end, tb, mode, k, times):
    n = len(pts)
    first = pts[0]
    end = max(end, pts[-1])
    if mode == "middle":
        m = nearest(pts, Fraction(first + end, 2))
        start = m - (k - 1) // 2
        start = max(0, min(start, n - k))
        return [min(start + i, n - 1) for i in range(k)]
    if mode == "uniform":
        d = end - first
        return [nearest(pts, first + Fraction((2 * i + 1) * d, 2 * k)) for i in range(k)]
    out = []
    for t in times:
        if t > float(end * tb):  # the end as a double, like extract-frames
            raise ValueError(f"requested time {t:.3f} s is past the end of the video "
                             f"({float(end * tb):.3f} s)")
        out.append(nearest(pts, Fraction(t) / tb))
    return out


def div_round(a, b):
    return (2 * a + b) // (2 * b)


def crop_rect(crop, w, h, sar):
    num, den = sar
    if crop == "none":
        return (0, 0, w, h)
    if crop == "center":
        if w * num >= h * den:
            ch, cw = h, min(w, div_round(h * den, num))
        else:
            cw, ch = w, min(h, div_round(w * num, den))
        cw, ch = max(cw, 1), max(ch, 1)
        return ((w - cw) // 2, (h - ch) // 2, cw, ch)
    x, y, bw, bh = (int(v) for v in crop[4:].split(","))
    xs, ws = div_round(x * den, num), div_round(bw * den, num)
    if ws < 1 or xs + ws > w or y + bh > h:
        raise ValueError(f"crop box {x},{y},{bw},{bh} is outside the picture")
    return (xs, y, ws, bh)


def decode_rgb(path, indices, info):
    """Full-size rgb24 frames at the given presentation indices (CLI, one call)."""
    want = sorted(set(indices))
    sel = "+".join(f"eq(n\\,{i})" for i in want)
    w, h = info["width"], info["height"]
    if info["rot"] in (90, 270):
        w, h = h, w
    cmd = FF + ["-threads", str(info.get("threads", 0)), "-i", path, "-an",
                "-vf", f"select={sel},{CLI_FILTER}", "-fps_mode", "passthrough",
                "-frames:v", str(len(want)), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    if len(raw) != len(want) * w * h * 3:
        raise RuntimeError(f"{path}: the CLI gave {len(raw)} bytes, want {len(want)} frames "
                           f"of {w}x{h}")
    arr = np.frombuffer(raw, np.uint8).reshape(len(want), h, w, 3)
    return {i: arr[j] for j, i in enumerate(want)}


def resize(img, size):
    """torchvision.transforms.Resize((H, W)) on a PIL image."""
    try:
        from torchvision.transforms import InterpolationMode, Resize
        return Resize((size[1], size[0]), interpolation=InterpolationMode.BILINEAR)(img)
    except ImportError:  # the same call torchvision makes
        return img.resize(size, Image.BILINEAR)


def extract(path, args, threads=0):
    info = probe(path, args.timestamps)
    info["threads"] = threads
    if not info["frames"]:
        raise ValueError(f"{path}: no video frames")
    pts = [p for p, _ in info["frames"]]
    end = stream_end(info["frames"])
    idx = pick(pts, end, info["tb"], args.mode, args.frames, args.times)
    rgb = decode_rgb(path, idx, info)
    sar = info["sar"]
    if info["rot"] in (90, 270):
        sar = (sar[1], sar[0])
    out = np.zeros((args.frames, args.size[1], args.size[0], 3), np.uint8)
    for k, i in enumerate(idx):
        img = Image.fromarray(rgb[i])
        x, y, w, h = crop_rect(args.crop, img.width, img.height, sar)
        if (x, y, w, h) != (0, 0, img.width, img.height):
            img = img.crop((x, y, x + w, y + h))
        out[k] = np.asarray(resize(img, args.size))
    return out, np.array([float(pts[i] * info["tb"]) for i in idx])


def parse_size(s):
    if "x" in s:
        w, h = s.split("x")
        return int(w), int(h)
    return int(s), int(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*")
    ap.add_argument("--index", help="index.csv (id, video_path)")
    ap.add_argument("-o", "--output", required=True, help=".npz to write")
    ap.add_argument("-K", "--frames", type=int, default=1)
    ap.add_argument("--pick", default="middle")
    ap.add_argument("--crop", default="none")
    ap.add_argument("--size", default="224", type=parse_size)
    ap.add_argument("--timestamps", choices=["frames", "packets"], default="frames",
                    help="frame list from decoded frames (default) or demuxed packets")
    ap.add_argument("-j", type=int, default=1, help="clips in parallel (CLI threads 1 when > 1)")
    args = ap.parse_args()
    if args.pick.startswith("times="):
        args.mode, args.times = "times", [float(t) for t in args.pick[6:].split(",")]
        if args.frames == 1:
            args.frames = len(args.times)
    else:
        args.mode, args.times = args.pick, []
    clips = []
    if args.index:
        with open(args.index, newline="") as f:
            # relative paths are relative to the index's folder (schemas/index.md)
            base = os.path.dirname(args.index)
            clips += [(r["id"], os.path.join(base, r["video_path"])) for r in csv.DictReader(f)]
    clips += [(os.path.basename(v), v) for v in args.videos]
    threads = 1 if args.j > 1 else 0
    with ThreadPoolExecutor(max_workers=max(1, args.j)) as ex:
        res = list(ex.map(lambda c: extract(c[1], args, threads), clips))
    frames = np.stack([r[0] for r in res]) if res else np.zeros((0, args.frames, args.size[1],
                                                                 args.size[0], 3), np.uint8)
    pts = np.stack([r[1] for r in res]) if res else np.zeros((0, args.frames))
    np.savez(args.output, frames=frames, frame_pts=pts, ids=np.array([c[0] for c in clips]))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"reference_frames: {e}", file=sys.stderr)
        sys.exit(1)
