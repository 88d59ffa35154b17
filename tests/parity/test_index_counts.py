"""ravdess-index against an independent count from the file names.

For the sample corpus (data/sample, skipped when it has not been generated) and for
a synthetic full-size tree (24 actors, speech and song, both zip layouts), the
counts per emotion, actor, label and split in index.csv must equal a count made
here in plain Python from the file names alone, under several label/split
settings.  Every row's fields are also checked against its own file names.
"""
import collections
import csv
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("RVT_ROOT", pathlib.Path(__file__).resolve().parents[2]))
BIN = pathlib.Path(os.environ.get("RVT_BIN", ROOT / "bin"))
TOOL = str(BIN / "ravdess-index")
SAMPLE = ROOT / "data" / "sample"

NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(mp4|wav)$")
EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
SEED7 = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
SEED7_OF = {"neutral": "Neutral", "calm": "Neutral", "happy": "Happy", "sad": "Sad",
            "angry": "Angry", "fearful": "Fear", "disgust": "Disgust", "surprised": "Surprise"}
DEFAULT_VAL = {3, 8, 13, 18, 23}
DEFAULT_TEST = {4, 9, 14, 19, 24}


def count_from_names(root, vocal="speech", labels="seed7", calm="neutral", folds=0, fold=0):
    """The expected index, from file names only: {id: row dict}."""
    files = collections.defaultdict(dict)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        for f in filenames:
            m = NAME.match(f)
            if not m:
                continue
            mod, voc, emo, inten, stmt, rep, actor, _ = m.groups()
            assert os.path.basename(dirpath) == f"Actor_{actor}", f"{dirpath}/{f}"
            cid = f"{voc}-{emo}-{inten}-{stmt}-{rep}-{actor}"
            assert mod not in files[cid], f"duplicate {f}"
            files[cid][mod] = os.path.join(dirpath, f)
    want = {}
    for cid, by_mod in files.items():
        voc, emo, inten, stmt, rep, actor = (int(x) for x in cid.split("-"))
        if vocal != "all" and voc != {"speech": 1, "song": 2}[vocal]:
            continue
        name = EMOTIONS[emo - 1]
        if labels == "seed7":
            if name == "calm" and calm == "drop":
                continue
            label_name = SEED7_OF[name]
            label = SEED7.index(label_name)
        else:
            label_name, label = name, emo - 1
        assert "01" in by_mod and "03" in by_mod, f"clip {cid} lacks its mp4 or wav"
        if folds:
            f = (actor - 1) % folds
            split = "test" if f == fold else "val" if f == (fold + 1) % folds else "train"
        else:
            split = "val" if actor in DEFAULT_VAL else "test" if actor in DEFAULT_TEST else "train"
        want[cid] = dict(actor=actor, emotion=emo, emotion_name=name, label=label,
                         label_name=label_name, split=split, vocal_channel=voc,
                         gender="male" if actor % 2 else "female",
                         video=by_mod["01"], audio=by_mod["03"])
    return want


def run_index(tmp_path, roots, *args):
    out = tmp_path / "index.csv"
    r = subprocess.run([TOOL, *map(str, roots), "-o", str(out), *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, r.stderr


def compare(rows, want, stderr):
    got_ids = [r["id"] for r in rows]
    assert got_ids == sorted(want), "ids differ from the file names' clips"
    for key in ("emotion_name", "actor", "label", "label_name", "split", "gender",
                "vocal_channel"):
        got = collections.Counter(str(r[key]) for r in rows)
        exp = collections.Counter(str(w[key]) for w in want.values())
        assert got == exp, f"counts per {key}: {got} != {exp}"
    got = collections.Counter((r["split"], r["label_name"]) for r in rows)
    exp = collections.Counter((w["split"], w["label_name"]) for w in want.values())
    assert got == exp, "counts per (split, label)"
    for r in rows:
        w = want[r["id"]]
        assert int(r["actor"]) == w["actor"] and int(r["emotion"]) == w["emotion"]
        assert r["video_path"] == w["video"] and r["audio_path"] == w["audio"], r["id"]
        # the row agrees with its own file names
        for path, mod in ((r["video_path"], "01"), (r["audio_path"], "03")):
            m = NAME.match(os.path.basename(path))
            assert m and m.group(1) == mod and "-".join(m.groups()[1:7]) == r["id"]
            assert (int(m.group(4)), int(m.group(5)), int(m.group(6))) == (
                int(r["intensity"]), int(r["statement"]), int(r["repetition"]))
    # the per-split counts printed on stderr
    n = collections.Counter(w["split"] for w in want.values())
    actors = {s: len({w["actor"] for w in want.values() if w["split"] == s})
              for s in ("train", "val", "test")}
    def pl(k, word):
        return f"{k} {word}" + ("" if k == 1 else "s")
    line = "split: " + ", ".join(
        f"{s} {pl(n[s], 'clip')} ({pl(actors[s], 'actor')})" for s in ("train", "val", "test"))
    assert line in stderr, stderr


SETTINGS = [
    ({}, []),
    (dict(labels="native8"), ["--labels", "native8"]),
    (dict(calm="drop"), ["--calm", "drop"]),
    (dict(folds=4, fold=1), ["--folds", "4", "--fold", "1"]),
    (dict(folds=5, fold=4, labels="native8"), ["--folds", "5", "--fold", "4", "--labels", "native8"]),
]


@pytest.mark.parametrize("kw,args", SETTINGS)
def test_sample_corpus(tmp_path, kw, args):
    if not (SAMPLE.is_dir() and any(SAMPLE.rglob("*.wav"))):
        pytest.skip(f"sample corpus {SAMPLE} is absent: run `make sample` "
                    "(scripts/make-sample-dataset.sh) to generate it")
    rows, err = run_index(tmp_path, [SAMPLE], *args)
    want = count_from_names(SAMPLE, **kw)
    assert len(count_from_names(SAMPLE)) >= 240, "the sample corpus has 4 actors x 60 clips or more"
    compare(rows, want, err)


def grid(vocal):
    """(emotion, intensity, statement, repetition) of one actor's RAVDESS grid."""
    emotions = range(1, 9) if vocal == 1 else range(1, 7)
    for e in emotions:
        for i in (1, 2):
            if e == 1 and i == 2:
                continue
            for s in (1, 2):
                for r in (1, 2):
                    yield e, i, s, r


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The shape of the real corpus: 24 actors, 1,440 speech clips, 1,012 song clips
    (actor 18 has no song), audio zips flat, video zips nested, with noise files."""
    root = tmp_path_factory.mktemp("corpus")
    for a in range(1, 25):
        for voc, kind in ((1, "Speech"), (2, "Song")):
            if voc == 2 and a == 18:
                continue
            vdir = root / f"Video_{kind}_Actor_{a:02d}" / f"Actor_{a:02d}"
            adir = root / f"Audio_{kind}_Actors_01-24" / f"Actor_{a:02d}"
            vdir.mkdir(parents=True, exist_ok=True)
            adir.mkdir(parents=True, exist_ok=True)
            for e, i, s, r in grid(voc):
                stem = f"{voc:02d}-{e:02d}-{i:02d}-{s:02d}-{r:02d}-{a:02d}"
                (vdir / f"01-{stem}.mp4").touch()
                (vdir / f"02-{stem}.mp4").touch()
                (adir / f"03-{stem}.wav").touch()
    (root / "README.txt").touch()
    (root / "Video_Speech_Actor_01" / "Actor_01" / ".DS_Store").touch()
    return root


def test_synthetic_shape(synthetic, tmp_path):
    rows, err = run_index(tmp_path, [synthetic], "--vocal", "all")
    assert len(rows) == 1440 + 1012
    assert sum(r["vocal_channel"] == "2" for r in rows) == 1012


# every setting with both vocal channels, and each channel alone once
SYNTHETIC = [("all", kw, args) for kw, args in SETTINGS] + [
    ("speech", {}, []), ("song", dict(calm="drop"), ["--calm", "drop"])]


@pytest.mark.parametrize("vocal,kw,args", SYNTHETIC)
def test_synthetic_corpus(synthetic, tmp_path, vocal, kw, args):
    rows, err = run_index(tmp_path, [synthetic], "--vocal", vocal, *args)
    compare(rows, count_from_names(synthetic, vocal=vocal, **kw), err)
