#!/usr/bin/env bash
# The frame recipe (lib/store/recipe.h, schemas/frames.md): extract-frames records it,
# pack-h5 carries it, export-checkpoint.py writes the one a model was trained on,
# quantize-model keeps it, and run-model refuses a store made another way, naming
# both files and the key.  Files older than the attributes mean the default recipe.
set -u
. "$(dirname "$0")/../lib.sh"
need_sample
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"
EXPORT="$RVT_ROOT/scripts/export-checkpoint.py"

# two sample clips: frames at the default recipe and with a JPEG round trip at 50
ravdess-index "$SAMPLE" -o "$T/all.csv" -q && head -3 "$T/all.csv" >"$T/index.csv" &&
  extract-frames "$T/index.csv" -o "$T/frames.h5" -q &&
  extract-frames "$T/index.csv" -o "$T/frames50.h5" --set image.jpeg_quality=50 -q &&
  extract-mel "$T/index.csv" -o "$T/mel.h5" -q &&
  pack-h5 -i "$T/index.csv" -f "$T/frames.h5" -a "$T/mel.h5" -o "$T/f.h5" -q &&
  pack-h5 -i "$T/index.csv" -f "$T/frames50.h5" -a "$T/mel.h5" -o "$T/f50.h5" \
    --set image.jpeg_quality=50 -q &&
  extract-frames "$T/index.csv" -o "$T/framescv.h5" --set image.convert=opencv \
    --set image.resize=opencv -q &&
  pack-h5 -i "$T/index.csv" -f "$T/framescv.h5" -a "$T/mel.h5" -o "$T/fcv.h5" \
    --set image.convert=opencv --set image.resize=opencv -q
ok $? "stores of two clips: the default recipe, image.jpeg_quality=50, OpenCV's convert and resize"

# the attributes, read with h5py
$PY - "$T" <<'EOF' >"$T/attrs.out" 2>&1
import sys, h5py
t = sys.argv[1]
def attrs(p):
    with h5py.File(p, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()
                if k.startswith("image.")}
want = {"image.convert": "accurate", "image.resize": "pil", "image.jpeg_quality": "0",
        "image.pick": "middle", "image.crop": "none", "image.width": "224",
        "image.height": "224", "image.frames": "1"}
for name in ("frames.h5", "f.h5"):
    a = attrs(f"{t}/{name}")
    assert a == want, (name, a)
want["image.jpeg_quality"] = "50"
for name in ("frames50.h5", "f50.h5"):
    a = attrs(f"{t}/{name}")
    assert a == want, (name, a)
want.update({"image.jpeg_quality": "0", "image.convert": "opencv", "image.resize": "opencv"})
for name in ("framescv.h5", "fcv.h5"):
    a = attrs(f"{t}/{name}")
    assert a == want, (name, a)
print("ok")
EOF
ok $? "frames and features stores hold the 8 recipe attributes, pack-h5 carried them ($(tail -1 "$T/attrs.out"))"

# a frames store older than the recipe keys: config without them, no attributes
cp "$T/frames.h5" "$T/frold.h5" && $PY - "$T/frold.h5" <<'EOF' &&
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    c = f.attrs["config"]
    c = c.decode() if isinstance(c, bytes) else c
    f.attrs["config"] = "\n".join(l for l in c.split("\n")
                                  if l.split(":")[0].strip() not in ("convert", "resize", "jpeg_quality"))
    for k in [k for k in f.attrs if k.startswith("image.")]:
        del f.attrs[k]
EOF
  pack-h5 -i "$T/index.csv" -f "$T/frold.h5" -a "$T/mel.h5" -o "$T/fpold.h5" -q 2>"$T/err" &&
  $PY - "$T/fpold.h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["image.convert"] == "accurate" and f.attrs["image.jpeg_quality"] == "0"
EOF
ok $? "pack-h5 takes a frames store older than the recipe keys as the default recipe $(head -c 200 "$T/err")"

# checkpoints: one state_dict exported with the default recipe, --jpeg-quality 50 and
# --convert opencv; an "old" copy without the attributes; one process (torch loads once)
$PY - "$T" "$FIX" "$EXPORT" <<'EOF' >"$T/export.out" 2>&1
import importlib.util, shutil, sys
import h5py, torch
t, fix, exp = sys.argv[1:4]
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m
F = load("fix", fix)
E = load("exp", exp)
torch.save(F.make_model(reest_inputs=8).state_dict(), f"{t}/m.pt")
assert E.main([f"{t}/m.pt", f"{t}/m.h5", "--labels", "seed7"]) == 0
assert E.main([f"{t}/m.pt", f"{t}/m50.h5", "--labels", "seed7", "--jpeg-quality", "50"]) == 0
assert E.main([f"{t}/m.pt", f"{t}/mcv.h5", "--labels", "seed7", "--convert", "opencv"]) == 0
assert E.main([f"{t}/m.pt", f"{t}/mcv2.h5", "--labels", "seed7", "--convert", "opencv",
               "--resize", "opencv"]) == 0
assert E.main([f"{t}/m.pt", f"{t}/mfeat.h5", "--features", f"{t}/f50.h5"]) == 0
with h5py.File(f"{t}/m50.h5", "r") as f:
    assert f.attrs["image.jpeg_quality"] == "50" and f.attrs["image.convert"] == "accurate", dict(f.attrs)
with h5py.File(f"{t}/mfeat.h5", "r") as f:
    assert f.attrs["image.jpeg_quality"] == "50", "--features takes the store's recipe"
shutil.copy(f"{t}/m.h5", f"{t}/mold.h5")
shutil.copy(f"{t}/f.h5", f"{t}/fold.h5")
for p in (f"{t}/mold.h5", f"{t}/fold.h5"):
    with h5py.File(p, "a") as f:
        for k in [k for k in f.attrs if k.startswith("image.")]:
            del f.attrs[k]
print("ok")
EOF
ok $? "export-checkpoint.py writes the recipe: default, --jpeg-quality, --convert, --features ($(tail -1 "$T/export.out"))"

run-model -m "$T/m.h5" -F "$T/f.h5" -o "$T/p.csv" -q; ok $? "same recipe: run-model runs"
run-model -m "$T/m50.h5" -F "$T/f50.h5" -o "$T/p50.csv" -q; ok $? "both at jpeg_quality 50: runs"
run-model -m "$T/mold.h5" -F "$T/fold.h5" -o "$T/pold.csv" -q &&
  run-model -m "$T/m.h5" -F "$T/fold.h5" -o "$T/pold2.csv" -q &&
  run-model -m "$T/mold.h5" -F "$T/f.h5" -o "$T/pold3.csv" -q
ok $? "a store and a checkpoint without the attributes are the default recipe"

BAD_DIRS="$T" BAD_INPUTS="$T/m.h5 $T/f50.h5"
bad_case 1 "features '$T/f50.h5' were made with image.jpeg_quality=50, model '$T/m.h5' expects 0" \
  "JPEG frames, a model of plain frames: refused naming both files and the key" \
  run-model -m "$T/m.h5" -F "$T/f50.h5" -o "$T/x.csv"
[ ! -e "$T/x.csv" ]; ok $? "nothing written"
BAD_INPUTS="$T/mcv.h5 $T/f.h5"
bad_case 1 "features '$T/f.h5' were made with image.convert=accurate, model '$T/mcv.h5' expects opencv" \
  "a model trained on OpenCV's conversion: refused" run-model -m "$T/mcv.h5" -F "$T/f.h5" -o "$T/x.csv"
run-model -m "$T/mcv2.h5" -F "$T/fcv.h5" -o "$T/pcv.csv" -q
ok $? "frames of OpenCV's convert and resize, a model trained on them: runs"
BAD_INPUTS="$T/mcv.h5 $T/fcv.h5"
bad_case 1 "features '$T/fcv.h5' were made with image.resize=opencv, model '$T/mcv.h5' expects pil" \
  "OpenCV's conversion but PIL's resize in the model: refused on the resize" \
  run-model -m "$T/mcv.h5" -F "$T/fcv.h5" -o "$T/x.csv"
BAD_INPUTS="$T/m50.h5 $T/fold.h5"
bad_case 1 "features '$T/fold.h5' were made with image.jpeg_quality=0, model '$T/m50.h5' expects 50" \
  "a store older than the attributes is the default recipe, refused by a JPEG model" \
  run-model -m "$T/m50.h5" -F "$T/fold.h5" -o "$T/x.csv"

# quantize-model keeps the recipe (and writes it whole from an old checkpoint)
quantize-model "$T/mcv.h5" -o "$T/q.h5" -q && quantize-model "$T/mold.h5" -o "$T/qold.h5" -q
ok $? "quantize-model runs"
$PY - "$T" <<'EOF' >"$T/q.out" 2>&1
import sys, h5py
t = sys.argv[1]
with h5py.File(f"{t}/q.h5", "r") as f:
    assert f.attrs["image.convert"] == "opencv" and f.attrs["format"] == "int8", dict(f.attrs)
with h5py.File(f"{t}/qold.h5", "r") as f:
    a = {k: f.attrs[k] for k in f.attrs if k.startswith("image.")}
    assert len(a) == 8 and a["image.convert"] == "accurate" and a["image.jpeg_quality"] == "0", a
print("ok")
EOF
ok $? "the int8 checkpoint has the recipe ($(tail -1 "$T/q.out"))"
BAD_INPUTS="$T/q.h5 $T/f.h5"
bad_case 1 "features '$T/f.h5' were made with image.convert=accurate, model '$T/q.h5' expects opencv" \
  "an int8 model refuses the same way" run-model -m "$T/q.h5" -F "$T/f.h5" -o "$T/x.csv"

$PY "$EXPORT" "$T/m.pt" "$T/bad.h5" --jpeg-quality 101 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "jpeg-quality" "$T/err" && [ ! -e "$T/bad.h5" ]
ok $? "export-checkpoint.py --jpeg-quality 101: usage error"
done_testing
