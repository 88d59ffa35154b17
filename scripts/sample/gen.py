#!/usr/bin/python3
"""Generate a small RAVDESS-shaped speech corpus (helper of scripts/make-sample-dataset.sh).

Do not call this directly unless you know why: the shell wrapper owns the output
directory (temporary dir + rename, stamp file).  This program writes every clip of
the requested actors into --out, which must already exist and be empty.

Every clip is independent and all its "randomness" comes from a SHA-256 of its own
name, so the bytes of a clip never depend on -j or on the order clips are made in.
See schemas/sample-corpus.md for the contract (names, layouts, media traits).
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw
from scipy import signal as sps
from scipy.io import wavfile

SR = 48000                      # output sample rate (wav and AAC)
FPS_NUM, FPS_DEN = 30000, 1001  # 29.97 fps, like the real corpus
FPS = FPS_NUM / FPS_DEN
W, H = 1280, 720
MARGIN = 32                     # head sway range (pixels) of the pre-drawn static layer
BOX_W, BOX_UP, BOX_H = 300, 180, 420   # per-frame redrawn box around eyes and mouth
MIN_DUR, MAX_DUR = 2.0, 4.0     # clip length bounds (seconds)
X264_PRESET = "superfast"   # standard preset: CABAC, 8x8dct, deblock, 3 B-frames, B-pyramid
X264_CRF = "26"
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}

# RAVDESS emotion codes -> names (as in the official README).
EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad",
            5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}

# Voice per emotion, as deviations from the actor's neutral voice.
#   dp: espeak pitch offset (-p, 0..99), rate: words/min at normal intensity
#   amp: espeak amplitude (-a), level: peak level of the final wav in dBFS
#   fx: post effect applied at 48 kHz (see apply_effect)
VOICE = {
    1: dict(dp=0,   rate=165, amp=100, level=-6.0,  fx=None),
    2: dict(dp=-5,  rate=142, amp=85,  level=-9.0,  fx="lowpass_soft"),
    3: dict(dp=14,  rate=185, amp=120, level=-4.0,  fx="bright"),
    4: dict(dp=-12, rate=132, amp=70,  level=-13.0, fx="lowpass_dark"),
    5: dict(dp=6,   rate=192, amp=170, level=-1.5,  fx="drive"),
    6: dict(dp=18,  rate=198, amp=100, level=-7.0,  fx="tremolo"),
    7: dict(dp=-9,  rate=138, amp=110, level=-8.0,  fx="rough"),
    8: dict(dp=24,  rate=170, amp=140, level=-3.0,  fx="question"),
}
STRONG = 1.6  # intensity 02 multiplies every deviation from neutral by this

# Face expression per emotion (pixels at 1280x720; deviations from a neutral face).
#   smile: mouth-corner lift, width: mouth width factor, open: mouth opening at rest,
#   asym: one-sided corner lift (sneer), brow_in/brow_out: eyebrow inner/outer end
#   shift (positive = down), eye: eye opening factor, tint/tint_a: skin tint colour
#   and amount, bg: background colour, sway: head motion amplitude, trem: fast
#   trembling amplitude.
FACE = {
    1: dict(smile=0,   width=1.00, open=0,  asym=0,  brow_in=0,   brow_out=0,   eye=1.00,
            tint=None, tint_a=0.00, bg=(150, 150, 150), sway=6,  trem=0),
    2: dict(smile=7,   width=1.00, open=0,  asym=0,  brow_in=-3,  brow_out=2,   eye=0.70,
            tint=(230, 190, 170), tint_a=0.08, bg=(140, 190, 165), sway=4, trem=0),
    3: dict(smile=26,  width=1.25, open=6,  asym=0,  brow_in=-6,  brow_out=-8,  eye=0.85,
            tint=(240, 150, 140), tint_a=0.12, bg=(240, 205, 100), sway=10, trem=0),
    4: dict(smile=-18, width=0.90, open=0,  asym=0,  brow_in=-16, brow_out=10,  eye=0.75,
            tint=(120, 135, 190), tint_a=0.15, bg=(90, 110, 170), sway=3, trem=0),
    5: dict(smile=-10, width=1.10, open=8,  asym=0,  brow_in=20,  brow_out=-8,  eye=0.70,
            tint=(220, 60, 50), tint_a=0.22, bg=(195, 75, 65), sway=9, trem=0),
    6: dict(smile=-8,  width=1.15, open=10, asym=0,  brow_in=-18, brow_out=-6,  eye=1.45,
            tint=(235, 235, 240), tint_a=0.22, bg=(120, 95, 155), sway=4, trem=3),
    7: dict(smile=-12, width=0.90, open=2,  asym=12, brow_in=12,  brow_out=4,   eye=0.60,
            tint=(130, 165, 80), tint_a=0.18, bg=(125, 140, 75), sway=5, trem=0),
    8: dict(smile=0,   width=0.75, open=26, asym=0,  brow_in=-26, brow_out=-26, eye=1.60,
            tint=(245, 200, 180), tint_a=0.06, bg=(235, 150, 75), sway=7, trem=0),
}

SKINS = [(241, 194, 160), (224, 172, 130), (198, 140, 100), (160, 105, 70),
         (120, 80, 55), (250, 210, 185)]
HAIRS = [(30, 25, 22), (90, 60, 35), (200, 165, 95), (150, 70, 35), (150, 150, 150),
         (60, 40, 30)]
IRISES = [(80, 50, 30), (60, 100, 160), (70, 120, 70), (40, 30, 25)]
SHIRTS = [(40, 60, 110), (120, 30, 40), (30, 90, 60), (70, 70, 75), (200, 200, 190),
          (110, 80, 140), (30, 30, 35), (160, 120, 60)]


def seed_of(key):
    return int.from_bytes(hashlib.sha256(("ravdess-sample/" + key).encode()).digest()[:8], "little")


def rng_of(key):
    return np.random.Generator(np.random.PCG64(seed_of(key)))


def stem(modality, e, i, s, r, a):
    return f"{modality:02d}-01-{e:02d}-{i:02d}-{s:02d}-{r:02d}-{a:02d}"


def clip_grid(actors):
    """The RAVDESS speech grid: 60 clips per actor (neutral has no strong intensity)."""
    clips = []
    for a in range(1, actors + 1):
        for e in range(1, 9):
            for i in ((1,) if e == 1 else (1, 2)):
                for s in (1, 2):
                    for r in (1, 2):
                        clips.append((e, i, s, r, a))
    return clips


def preroll_frames(clips):
    """Which clips get a header frame count that disagrees with the decoded frames.

    Exactly a third of each actor's clips (20 of 60), picked by a hash of the clip name;
    each hides 1-4 leading frames behind an mp4 edit list.  Returns {clip: k}.
    """
    out = {}
    by_actor = {}
    for c in clips:
        by_actor.setdefault(c[4], []).append(c)
    for a, cs in by_actor.items():
        ranked = sorted(cs, key=lambda c: hashlib.sha256(stem(1, *c).encode()).hexdigest())
        for c in ranked[: len(cs) // 3]:
            out[c] = 1 + seed_of("preroll/" + stem(1, *c)) % 4
    return out


# ---------------------------------------------------------------------------- actors

def actor_traits(a):
    rng = rng_of(f"actor/{a:02d}")
    male = a % 2 == 1
    k = (a - 1) // 2
    t = dict(male=male)
    t["voice"] = f"en+m{k % 7 + 1}" if male else f"en+f{k % 5 + 1}"
    t["pitch"] = int(rng.integers(28, 46)) if male else int(rng.integers(50, 68))
    t["rate"] = 0.92 + 0.16 * float(rng.random())
    t["skin"] = jitter(SKINS[int(rng.integers(len(SKINS)))], rng, 12)
    t["hair"] = jitter(HAIRS[int(rng.integers(len(HAIRS)))], rng, 10)
    t["iris"] = IRISES[int(rng.integers(len(IRISES)))]
    t["shirt"] = SHIRTS[(a * 5) % len(SHIRTS)]
    t["studio"] = jitter((205, 205, 200), rng, 12)
    t["cx"] = 640 + int(rng.integers(-110, 111))
    t["cy"] = 330 + int(rng.integers(-25, 26))
    t["fw"] = int(rng.integers(118, 150)) if male else int(rng.integers(110, 138))  # half width
    t["fh"] = int(rng.integers(165, 195))                                          # half height
    t["eye_dx"] = int(rng.integers(50, 66))
    t["eye_y"] = -int(rng.integers(30, 48))
    t["mouth_y"] = int(rng.integers(88, 112))
    t["mouth_hw"] = int(rng.integers(44, 60))
    t["beard"] = male and rng.random() < 0.4
    t["sway_phase"] = float(rng.random()) * 6.283
    t["blink_period"] = 2.2 + float(rng.random())
    return t


def jitter(rgb, rng, amount):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def mix(c1, c2, a):
    return tuple(int(round(x * (1 - a) + y * a)) for x, y in zip(c1, c2))


def ycc(rgb):
    """8-bit RGB -> BT.601 limited-range Y'CbCr (the yuv420p the encoder receives)."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return (int(round(y)), int(round(cb)), int(round(cr)))


# ----------------------------------------------------------------------------- audio

def espeak(text, voice, pitch, rate, amp, path):
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(rate),
                    "-a", str(amp), "-w", path, text],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    sr, x = wavfile.read(path)
    x = x.astype(np.float64) / 32768.0
    if x.ndim > 1:
        x = x.mean(axis=1)
    nz = np.flatnonzero(np.abs(x) > 0.01 * max(np.abs(x).max(), 1e-9))
    if len(nz):
        x = x[nz[0]: nz[-1] + 1]
    g = np.gcd(sr, SR)
    return sps.resample_poly(x, SR // g, sr // g)


def apply_effect(x, fx, d):
    """Emotion-specific colouring; d = 1 (normal) or STRONG (strong intensity)."""
    t = np.arange(len(x)) / SR
    if fx == "lowpass_soft":
        x = sps.sosfilt(sps.butter(4, 4500 / d, fs=SR, output="sos"), x)
    elif fx == "lowpass_dark":
        x = sps.sosfilt(sps.butter(4, 2600 / d, fs=SR, output="sos"), x)
    elif fx == "bright":
        x = x + 0.6 * d * sps.sosfilt(sps.butter(2, 2500, btype="high", fs=SR, output="sos"), x)
    elif fx == "drive":
        g = 2.5 * d
        x = x + 0.5 * sps.sosfilt(sps.butter(2, 1500, btype="high", fs=SR, output="sos"), x)
        x = np.tanh(g * x / max(np.abs(x).max(), 1e-9)) / np.tanh(g)
    elif fx == "tremolo":
        depth = min(0.3 * d, 0.7)
        x = x * (1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * 7.0 * t)))
    elif fx == "rough":
        depth = min(0.3 * d, 0.7)
        x = x * (1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * 38.0 * t)))
    return x


def make_audio(clip, actor, work):
    """Returns int16 PCM at 48 kHz, 2-4 s."""
    e, i, s, r, a = clip
    v = VOICE[e]
    d = 1.0 if i == 1 else STRONG
    n = VOICE[1]
    rng = rng_of("audio/" + stem(3, *clip))
    pitch = int(np.clip(round(actor["pitch"] + v["dp"] * d + (r - 1.5) * 2), 0, 99))
    rate = (n["rate"] + (v["rate"] - n["rate"]) * d) * actor["rate"] * (1 + 0.03 * (r - 1.5))
    amp = int(np.clip(round(n["amp"] + (v["amp"] - n["amp"]) * d), 10, 200))
    text = STATEMENTS[s] + ("?" if v["fx"] == "question" else "")
    for _ in range(8):                       # keep the speech under MAX_DUR - padding
        x = espeak(text, actor["voice"], pitch, int(round(rate)), amp, os.path.join(work, "tts.wav"))
        if len(x) / SR <= MAX_DUR - 0.6:
            break
        rate *= 1.12
    x = apply_effect(x, v["fx"], d)
    level = n["level"] + (v["level"] - n["level"]) * d
    x = x / max(np.abs(x).max(), 1e-9) * 10 ** (level / 20)
    speech = len(x) / SR
    lead = 0.35 + 0.45 * float(rng.random())   # the real clips start with ~0.5-1 s of room tone
    tail = 0.45 + 0.45 * float(rng.random())
    if lead + speech + tail < MIN_DUR:
        tail = MIN_DUR - lead - speech
    over = lead + speech + tail - MAX_DUR
    if over > 0:
        cut = min(over, tail - 0.1)
        tail -= cut
        lead -= over - cut
    total = int(round((lead + speech + tail) * SR))
    out = np.zeros(total)
    start = int(round(lead * SR))
    out[start: start + len(x)] = x[: total - start]
    out += rng.standard_normal(total) * 10 ** (-66 / 20)   # faint room noise
    return np.clip(np.round(out * 32767), -32768, 32767).astype("<i2")


def write_wav_fllr(path, pcm):
    """RIFF/WAVE: fmt (PCM 16-bit mono 48 kHz), a 4,044-byte FLLR filler, then data.

    That is the header of the real corpus's wavs: 12 + 24 + 4052 + 8 = 4096 bytes.
    """
    data = pcm.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, SR, SR * 2, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"FLLR" + struct.pack("<I", 4044) + bytes(4044)
            + b"data" + struct.pack("<I", len(data)) + data)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def frame_envelope(pcm, nframes, preroll):
    """Mouth opening per encoded frame (0..1) from the speech RMS around its time."""
    x = pcm.astype(np.float64) / 32768.0
    env = np.zeros(nframes)
    hop = SR / FPS
    for j in range(nframes):
        t = j - preroll
        if t < 0:
            continue
        a, b = int((t - 0.5) * hop), int((t + 1.5) * hop)
        seg = x[max(a, 0): max(min(b, len(x)), 0)]
        if len(seg):
            env[j] = np.sqrt(np.mean(seg * seg))
    m = env.max()
    if m > 0:
        env = env / m
    env = np.where(env < 0.04, 0.0, env)
    return env ** 0.6


# ----------------------------------------------------------------------------- video

class Face:
    def __init__(self, clip, actor):
        e, i, s, r, a = clip
        d = 1.0 if i == 1 else 1.7
        f = FACE[e]
        self.t = actor
        self.d = d
        self.f = f
        self.smile = f["smile"] * d
        self.mouth_hw = actor["mouth_hw"] * (1 + (f["width"] - 1) * d)
        self.rest_open = f["open"] * d
        self.asym = f["asym"] * d
        self.brow_in = f["brow_in"] * d
        self.brow_out = f["brow_out"] * d
        self.eye = 1 + (f["eye"] - 1) * d
        self.eye = max(self.eye, 0.3)
        self.sway = f["sway"] * (1 + 0.3 * (i - 1))
        self.trem = f["trem"] * d
        tint_a = min(f["tint_a"] * d, 0.6)
        self.skin = mix(actor["skin"], f["tint"], tint_a) if f["tint"] else actor["skin"]
        self.bg = mix(actor["studio"], f["bg"], 0.55 if i == 1 else 0.85)
        self.static = self._static_layer(e, i)

    def _static_layer(self, e, i):
        t = self.t
        im = Image.new("YCbCr", (W + 2 * MARGIN, H + 2 * MARGIN), ycc(self.bg))
        dr = ImageDraw.Draw(im)
        cx, cy = t["cx"] + MARGIN, t["cy"] + MARGIN
        fw, fh = t["fw"], t["fh"]
        # a darker backdrop band so the picture is not one flat colour
        dr.rectangle((0, H + 2 * MARGIN - 150, W + 2 * MARGIN, H + 2 * MARGIN),
                     fill=ycc(mix(self.bg, (40, 40, 40), 0.25)))
        if not t["male"]:   # long hair behind the face
            dr.rounded_rectangle((cx - fw - 40, cy - fh - 30, cx + fw + 40, cy + fh + 120),
                                 radius=110, fill=ycc(t["hair"]))
        # shoulders and neck
        dr.ellipse((cx - 330, cy + fh + 20, cx + 330, cy + fh + 420), fill=ycc(t["shirt"]))
        dr.rectangle((cx - 55, cy + fh - 40, cx + 55, cy + fh + 60), fill=ycc(mix(self.skin, (0, 0, 0), 0.12)))
        # ears and face
        for sx in (-1, 1):
            dr.ellipse((cx + sx * fw - 22, cy - 35, cx + sx * fw + 22, cy + 40),
                       fill=ycc(mix(self.skin, (0, 0, 0), 0.08)))
        dr.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=ycc(self.skin))
        if t["male"]:
            dr.chord((cx - fw - 6, cy - fh - 12, cx + fw + 6, cy - fh // 5), 180, 360,
                     fill=ycc(t["hair"]))
            if t["beard"]:
                dr.chord((cx - fw + 8, cy - 10, cx + fw - 8, cy + fh + 8), 20, 160,
                         fill=ycc(mix(t["hair"], self.skin, 0.25)))
        else:
            dr.chord((cx - fw - 4, cy - fh - 10, cx + fw + 4, cy - fh // 4), 180, 360,
                     fill=ycc(t["hair"]))
        # nose
        nose = ycc(mix(self.skin, (0, 0, 0), 0.22))
        dr.line([(cx, cy - 10), (cx - 12, cy + 45), (cx + 6, cy + 50)], fill=nose, width=5)
        # cheeks: blush for happy / angry, tears for strong sad, sweat for fear
        if e in (3, 5):
            for sx in (-1, 1):
                ex = cx + sx * (t["eye_dx"] + 20)
                dr.ellipse((ex - 30, cy + 35, ex + 30, cy + 65),
                           fill=ycc(mix(self.skin, (230, 80, 90), 0.35 * self.d)))
        if e == 4 and i == 2:
            for sx in (-1, 1):
                ex = cx + sx * t["eye_dx"]
                dr.ellipse((ex - 7, cy + t["eye_y"] + 30, ex + 7, cy + t["eye_y"] + 55),
                           fill=ycc((150, 190, 240)))
        if e == 6:
            dr.ellipse((cx + fw - 60, cy - fh + 70, cx + fw - 44, cy - fh + 96),
                       fill=ycc((200, 225, 245)))
        if e == 7:   # wrinkled nose
            for k in range(2):
                dr.line([(cx - 22, cy - 2 + 9 * k), (cx + 22, cy - 2 + 9 * k)], fill=nose, width=3)
        return im

    def _planes(self):
        """The static layer as numpy planes: Y at full size, Cb/Cr subsampled 2x2."""
        if not hasattr(self, "_y"):
            y, cb, cr = self.static.split()
            self._y = np.asarray(y)
            self._cb = np.asarray(cb.reduce(2))
            self._cr = np.asarray(cr.reduce(2))
            self._buf = np.empty(W * H * 3 // 2, np.uint8)
        return self._y, self._cb, self._cr, self._buf

    def frame(self, j, opening):
        """The j-th encoded frame as raw yuv420p bytes (a view valid until the next call).

        The static layer is copied at an even offset (head motion moves in 2-pixel steps
        so that the subsampled chroma planes stay aligned); only a box around the eyes
        and mouth is drawn per frame.
        """
        t = self.t
        time_s = j / FPS
        dx = self.sway * np.sin(2 * np.pi * time_s / 2.3 + t["sway_phase"])
        dy = 0.5 * self.sway * np.sin(2 * np.pi * time_s / 1.4 + 1.3 * t["sway_phase"])
        if self.trem:
            dx += self.trem * np.sin(2 * np.pi * 9.0 * time_s)
            dy += self.trem * np.sin(2 * np.pi * 11.0 * time_s + 1.0)
        dx, dy = 2 * int(round(dx / 2)), 2 * int(round(dy / 2))
        ys, cbs, crs, buf = self._planes()
        x0, y0 = MARGIN - dx, MARGIN - dy
        yp = buf[: W * H].reshape(H, W)
        cbp = buf[W * H: W * H * 5 // 4].reshape(H // 2, W // 2)
        crp = buf[W * H * 5 // 4:].reshape(H // 2, W // 2)
        yp[:] = ys[y0: y0 + H, x0: x0 + W]
        cbp[:] = cbs[y0 // 2: y0 // 2 + H // 2, x0 // 2: x0 // 2 + W // 2]
        crp[:] = crs[y0 // 2: y0 // 2 + H // 2, x0 // 2: x0 // 2 + W // 2]
        # the moving box, in frame coordinates (even-aligned)
        cx, cy = t["cx"] + dx, t["cy"] + dy
        bx0, by0 = (cx - BOX_W // 2) & ~1, (cy - BOX_UP) & ~1
        box = self.static.crop((bx0 + x0, by0 + y0, bx0 + x0 + BOX_W, by0 + y0 + BOX_H))
        self._features(ImageDraw.Draw(box), cx - bx0, cy - by0, time_s, opening)
        y, cb, cr = box.split()
        yp[by0: by0 + BOX_H, bx0: bx0 + BOX_W] = np.asarray(y)
        cbp[by0 // 2: (by0 + BOX_H) // 2, bx0 // 2: (bx0 + BOX_W) // 2] = np.asarray(cb.reduce(2))
        crp[by0 // 2: (by0 + BOX_H) // 2, bx0 // 2: (bx0 + BOX_W) // 2] = np.asarray(cr.reduce(2))
        return buf

    def _features(self, dr, cx, cy, time_s, opening):
        """Eyes, brows and mouth around face centre (cx, cy) of the draw target."""
        t = self.t
        # eyes (with blinks)
        phase = (time_s + t["sway_phase"]) % t["blink_period"]
        blink = phase < 0.12
        eh = 2 if blink else 13 * self.eye
        ey = cy + t["eye_y"]
        for sx in (-1, 1):
            ex = cx + sx * t["eye_dx"]
            if blink:
                dr.line([(ex - 24, ey), (ex + 24, ey)], fill=ycc((40, 30, 30)), width=4)
            else:
                dr.ellipse((ex - 24, ey - eh, ex + 24, ey + eh), fill=ycc((245, 245, 245)))
                ir = min(11, eh)
                dr.ellipse((ex - 11, ey - ir, ex + 11, ey + ir), fill=ycc(t["iris"]))
                pr = min(5, eh)
                dr.ellipse((ex - 5, ey - pr, ex + 5, ey + pr), fill=ycc((10, 10, 10)))
            # brows
            by = ey - 30 - (8 if self.eye > 1.2 else 0)
            inner = (ex - sx * 24, by + self.brow_in)
            outer = (ex + sx * 34, by + self.brow_out)
            dr.line([inner, outer], fill=ycc(mix(t["hair"], (0, 0, 0), 0.3)), width=10)
        # mouth
        hw = self.mouth_hw
        mx, my = cx, cy + t["mouth_y"]
        op = self.rest_open + opening * 34
        xs = np.linspace(-1, 1, 17)
        upper = [(mx + hw * x, my - self.smile * x * x - self.asym * x) for x in xs]
        lip = ycc(mix(self.skin, (150, 40, 50), 0.55))
        if op < 3:
            dr.line(upper, fill=lip, width=8, joint="curve")
        else:
            lower = [(mx + hw * x, my - self.smile * x * x - self.asym * x + op * np.sqrt(1 - x * x))
                     for x in xs[::-1]]
            dr.polygon(upper + lower, fill=ycc((70, 20, 30)))
            if op > 14:   # teeth
                dr.rectangle((mx - hw * 0.45, upper[8][1] + 1, mx + hw * 0.45, upper[8][1] + 7),
                             fill=ycc((235, 235, 225)))
            dr.line(upper, fill=lip, width=7, joint="curve")
            dr.line(lower, fill=lip, width=7, joint="curve")


# ------------------------------------------------------------------------------ clip

FF = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
BITEXACT = ["-fflags", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1"]


def make_clip(job):
    clip, out_dir, layout, video_only, preroll = job
    e, i, s, r, a = clip
    actor = actor_traits(a)
    wav_name, mp4_name, vo_name = stem(3, *clip) + ".wav", stem(1, *clip) + ".mp4", stem(2, *clip) + ".mp4"
    ad = f"Actor_{a:02d}"
    if layout == "merged":
        wav_dir = vid_dir = os.path.join(out_dir, ad)
    else:
        wav_dir = os.path.join(out_dir, "Audio_Speech_Actors_01-24", ad)
        vid_dir = os.path.join(out_dir, f"Video_Speech_Actor_{a:02d}", ad)
    work = os.path.join(out_dir, ".work", stem(1, *clip))
    os.makedirs(work, exist_ok=True)
    os.makedirs(wav_dir, exist_ok=True)
    os.makedirs(vid_dir, exist_ok=True)
    try:
        pcm = make_audio(clip, actor, work)
        wav_path = os.path.join(wav_dir, wav_name)
        write_wav_fllr(wav_path, pcm)

        nvis = int(round(len(pcm) / SR * FPS))
        nframes = nvis + preroll
        env = frame_envelope(pcm, nframes, preroll)
        face = Face(clip, actor)
        mp4_path = os.path.join(vid_dir, mp4_name)
        venc = ["-c:v", "libx264", "-preset", X264_PRESET, "-crf", X264_CRF,
                "-profile:v", "high", "-pix_fmt", "yuv420p", "-threads", "1",
                "-x264-params", "threads=1:lookahead-threads=1:keyint=infinite:scenecut=0",
                "-flags:v", "+bitexact"]
        aenc = ["-c:a", "aac", "-b:a", "128k", "-ar", str(SR), "-ac", "1", "-flags:a", "+bitexact"]
        raw_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", f"{W}x{H}",
                  "-framerate", f"{FPS_NUM}/{FPS_DEN}", "-i", "pipe:0"]
        if preroll:
            # Header/decode mismatch: encode all frames, then stream-copy with -ss.  The
            # copy keeps the leading frames (the only keyframe is frame 0) and hides them
            # behind an edit list, so the header (stts) counts nframes while decoders
            # that honour the edit list output nvis frames starting at pts 0.
            tmp_v = os.path.join(work, "v.mp4")
            cmd = FF + raw_in + ["-an"] + venc + BITEXACT + [tmp_v]
        else:
            cmd = FF + raw_in + ["-i", wav_path, "-map", "0:v:0", "-map", "1:a:0"] + venc + aenc \
                + BITEXACT + [mp4_path]
        enc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        try:
            fcntl.fcntl(enc.stdin.fileno(), F_SETPIPE_SZ, 1 << 20)   # fewer context switches
        except OSError:
            pass
        try:
            for j in range(nframes):
                enc.stdin.write(face.frame(j, env[j]))
        finally:
            enc.stdin.close()
            rc = enc.wait()
        if rc != 0:
            raise RuntimeError(f"ffmpeg (x264) failed for {mp4_name}")
        if preroll:
            seek = ["-ss", "%.6f" % (preroll * FPS_DEN / FPS_NUM)]
            subprocess.run(FF + seek + ["-i", tmp_v, "-i", wav_path, "-map", "0:v:0", "-map", "1:a:0",
                                        "-c:v", "copy"] + aenc + BITEXACT + [mp4_path], check=True)
            v_src = seek + ["-i", tmp_v]
        else:
            v_src = ["-i", mp4_path]
        if video_only:   # 02-01: the same video, no audio track (as in the real corpus)
            subprocess.run(FF + v_src + ["-map", "0:v:0", "-c:v", "copy", "-an"]
                           + BITEXACT + [os.path.join(vid_dir, vo_name)], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return stem(1, *clip)


def _worker_init():
    # Ctrl-C is the parent's business; pool.terminate() stops workers with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _term(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actors", type=int, default=4)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layout", choices=["merged", "split"], default="merged")
    ap.add_argument("--video-only", type=int, default=0)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("-q", action="store_true")
    ap.add_argument("--only", help="comma-separated stems (debugging)")
    args = ap.parse_args()

    clips = clip_grid(args.actors)
    pre = preroll_frames(clips)
    jobs = [(c, args.out, args.layout, args.video_only, pre.get(c, 0)) for c in clips]
    if args.only:
        want = set(args.only.split(","))
        jobs = [jb for jb in jobs if stem(1, *jb[0])[3:] in want or stem(1, *jb[0]) in want]
    signal.signal(signal.SIGTERM, _term)
    t0 = time.time()
    n = len(jobs)
    done = 0
    import multiprocessing as mp
    pool = mp.get_context("fork").Pool(max(1, args.j), initializer=_worker_init)
    try:
        for _ in pool.imap_unordered(make_clip, jobs):
            done += 1
            if not args.q and (done % 20 == 0 or done == n):
                print(f"make-sample-dataset: {done}/{n} clips ({time.time() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    shutil.rmtree(os.path.join(args.out, ".work"), ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.CalledProcessError as ex:
        print(f"make-sample-dataset: error: {ex}", file=sys.stderr)
        sys.exit(1)
