#!/usr/bin/env bash
# Stores and checkpoints made bad with h5py from good ones, given to the tools that
# read them: each is refused when opened (exit 1, or 2 for an empty index), with one
# message naming the file and saying what it is and what was expected; no output and
# no temporary left, the inputs unchanged (tests/lib.sh bad_case).
. "$(dirname "$0")/../lib.sh"
set -u
T=$(mktmp); trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"
mkdir -p "$T/o" "$T/b"
BAD_DIRS="$T/o"
$PY "$FIX" model "$T/model.h5" + store "$T/features.h5" 4  # one Python for both
ok $? "fixtures: model.h5, a 4-clip features.h5"
pack-h5 --print-config --set image.width=32 --set image.height=32 >"$T/cfg.yaml"
$PY "$RVT_ROOT/scripts/store_gen.py" --out "$T/s" --clips 8 --hw 32 --config "$T/cfg.yaml" >/dev/null
ok $? "fixtures: index.csv, frames.h5, mel.h5 of 8 clips"

# bad copies: NAME SOURCE PYTHON (f is the copy, opened r+); listed by mk, made by
# mk_all in one Python process (one start of h5py instead of thirty)
: >"$T/mk.list"
mk() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$T/mk.list"; }
mk_all() {
  $PY - "$T/b" "$T/mk.list" <<'PYEOF'
import shutil, sys, h5py, numpy as np
out, spec = sys.argv[1], sys.argv[2]
for line in open(spec):
    name, src, code = line.rstrip("\n").split("\t")
    shutil.copyfile(src, out + "/" + name)
    f = h5py.File(out + "/" + name, "r+")
    exec(code)
    f.close()
PYEOF
}
F=$T/features.h5 M=$T/model.h5 FR=$T/s/frames.h5 ME=$T/s/mel.h5
mk f_nokind.h5 "$F" 'del f.attrs["kind"]'
mk f_frames32.h5 "$F" 'd = f["frames"][:].astype("f4"); del f["frames"]; f["frames"] = d'
mk f_mel64.h5 "$F" 'd = f["mel"][:].astype("f8"); del f["mel"]; f["mel"] = d'
mk f_mel3d.h5 "$F" 'd = f["mel"][:][:, None]; del f["mel"]; f["mel"] = d'
mk f_rgba.h5 "$F" 'd = np.concatenate([f["frames"][:]] * 2, axis=4)[..., :4]; del f["frames"]; f["frames"] = d'
mk f_nolabel.h5 "$F" 'del f["clips/label"]'
mk f_labelf.h5 "$F" 'd = f["clips/label"][:].astype("f4"); del f["clips/label"]; f["clips/label"] = d'
mk f_splitint.h5 "$F" 'del f["clips/split"]; f["clips/split"] = np.zeros(4, "i4")'
mk f_noclasses.h5 "$F" 'del f.attrs["class_names"]'
mk f_noconfig.h5 "$F" 'del f.attrs["config"]'
mk f_dupid.h5 "$F" 'f["clips/id"][1] = f["clips/id"][0]'
mk f_rows.h5 "$F" 'd = f["mel"][:3]; del f["mel"]; f["mel"] = d'
mk f_v2.h5 "$F" 'f.attrs["schema_version"] = "2"'
mk f_noids.h5 "$F" 'del f["clips/id"]'
mk f_cfg.h5 "$F" 'f.attrs["config"] = f.attrs["config"].replace("n_mels: 64", "n_mels: 32")'
# h5py's own lzf filter, which libhdf5 cannot decode (zeros: every chunk compresses)
mk f_lzf.h5 "$F" 'd = np.zeros_like(f["mel"][:]); del f["mel"]; f.create_dataset("mel", data=d, chunks=(1,) + d.shape[1:], compression="lzf")'
head -c 3000 "$F" >"$T/b/f_trunc.h5"
echo "id,label" >"$T/b/f_text.h5"
: >"$T/b/f_empty.h5"
mk m_missing.h5 "$M" 'del f["fusion.0.weight"]'
mk m_shape.h5 "$M" 'd = f["fusion.0.weight"][:, :100]; del f["fusion.0.weight"]; f["fusion.0.weight"] = d'
mk m_int.h5 "$M" 'd = f["fusion.0.weight"][:].astype("i4"); del f["fusion.0.weight"]; f["fusion.0.weight"] = d'
mk m_nan.h5 "$M" 'f["fusion.0.bias"][3] = np.nan'
mk m_extra.h5 "$M" 'f["stray.weight"] = np.zeros(3, "f4")'
mk m_noarch.h5 "$M" 'del f.attrs["architecture"]'
head -c 100000 "$M" >"$T/b/m_trunc.h5"
mk fr_f32.h5 "$FR" 'd = f["frames"][:].astype("f4"); del f["frames"]; f["frames"] = d'
mk fr_pts.h5 "$FR" 'd = f["frame_pts"][:].astype("f4"); del f["frame_pts"]; f["frame_pts"] = d'
mk fr_ptsk.h5 "$FR" 'd = np.zeros((f["frame_pts"].shape[0], 2)); del f["frame_pts"]; f["frame_pts"] = d'
mk me_nomf.h5 "$ME" 'del f["mel_frames"]'
mk me_i16.h5 "$ME" 'd = f["mel"][:].astype("i2"); del f["mel"]; f["mel"] = d'
mk me_lzf.h5 "$ME" 'd = np.zeros_like(f["mel"][:]); del f["mel"]; f.create_dataset("mel", data=d, chunks=(1,) + d.shape[1:], compression="lzf")'
head -n 1 "$T/s/index.csv" >"$T/b/empty.csv" && mk_all
ok $? "bad copies made"

B=$T/b O=$T/o
run() { run-model -q -m "${2:-$M}" -i "$1" -o "$O/p.csv"; }
BAD_INPUTS="$M $B/*.h5"
bad_case 1 "'.*mel.h5' is a mel store, expected a features store" "run-model: a mel store as features" run "$ME"
bad_case 1 "'.*frames.h5' is a frames store, expected a features store" "run-model: a frames store as features" run "$FR"
bad_case 1 "'.*model.h5' is a model checkpoint, not a feature store" "run-model: a checkpoint as features" run "$M"
bad_case 1 "'.*features.h5' is a features store, expected a model checkpoint" "run-model: a store as the checkpoint" run "$F" "$F"
bad_case 1 "'.*f_nokind.h5' has no attribute 'kind', expected a features store" "features: no kind" run "$B/f_nokind.h5"
bad_case 1 "'.*f_frames32.h5': dataset 'frames' is f32.* a features store has u8" "features: float32 frames" run "$B/f_frames32.h5"
bad_case 1 "'.*f_mel64.h5': dataset 'mel' is f64.* has f32" "features: float64 mel" run "$B/f_mel64.h5"
bad_case 1 "'.*f_mel3d.h5': dataset 'mel' is f32\[1,64,300\]" "features: 3-d mel" run "$B/f_mel3d.h5"
bad_case 1 "'.*f_rgba.h5': dataset 'frames' is u8\[1,224,224,4\]" "features: 4-channel frames" run "$B/f_rgba.h5"
bad_case 1 "'.*f_nolabel.h5' has no dataset 'clips/label'" "features: no clips/label" run "$B/f_nolabel.h5"
bad_case 1 "'.*f_labelf.h5': dataset 'clips/label' is f32" "features: float labels" run "$B/f_labelf.h5"
bad_case 1 "'.*f_splitint.h5': dataset 'clips/split' is i32" "features: integer split column" run "$B/f_splitint.h5"
bad_case 1 "'.*f_noclasses.h5' has no attribute 'class_names'" "features: no class_names" run "$B/f_noclasses.h5"
bad_case 1 "'.*f_noconfig.h5' has no attribute 'config'" "features: no config" run "$B/f_noconfig.h5"
bad_case 1 "'.*f_dupid.h5': clip id '.*' appears twice" "features: a clip id twice" run "$B/f_dupid.h5"
bad_case 1 "'.*f_rows.h5': dataset 'mel' has 3 clips, clips/id has 4" "features: mismatched clip ids and rows" run "$B/f_rows.h5"
bad_case 1 "'.*f_v2.h5' has store schema version '2'" "features: another schema version" run "$B/f_v2.h5"
bad_case 1 "'.*f_noids.h5' has no dataset 'clips/id'" "features: no clips/id" run "$B/f_noids.h5"
bad_case 1 "n_mels.*'.*f_cfg.h5'|'.*f_cfg.h5'.*n_mels" "features: config disagrees with the model" run "$B/f_cfg.h5"
bad_case 1 "'.*f_lzf.h5': dataset 'mel' is compressed with HDF5 filter 32000 \('lzf'\), which this HDF5 library cannot decode" "features: h5py's lzf compression" run "$B/f_lzf.h5"
bad_case 1 "'.*f_trunc.h5'.*(truncated|signature|HDF5)" "features: truncated file" run "$B/f_trunc.h5"
bad_case 1 "'.*f_text.h5'.*not an HDF5 file" "features: a text file" run "$B/f_text.h5"
bad_case 1 "'.*f_empty.h5'.*(empty|not an HDF5 file)" "features: an empty file" run "$B/f_empty.h5"
bad_case 1 "'.*f_missing.h5'.*No such file" "features: no such file" run "$B/f_missing.h5"

bad_case 1 "m_missing.h5.*missing key 'fusion.0.weight'" "checkpoint: a tensor missing" run "$F" "$B/m_missing.h5"
bad_case 1 "m_shape.h5.*'fusion.0.weight' has shape \[512, 100\], expected \[512, 1344\]" "checkpoint: a wrong shape" run "$F" "$B/m_shape.h5"
bad_case 1 "m_int.h5.*'fusion.0.weight' is not floating point" "checkpoint: a wrong dtype" run "$F" "$B/m_int.h5"
bad_case 1 "m_nan.h5.*'fusion.0.bias' holds NaN or Inf" "checkpoint: NaN" run "$F" "$B/m_nan.h5"
bad_case 1 "m_extra.h5.*unexpected key 'stray.weight'" "checkpoint: a stray tensor" run "$F" "$B/m_extra.h5"
bad_case 1 "m_noarch.h5.*attribute 'architecture'" "checkpoint: no architecture" run "$F" "$B/m_noarch.h5"
bad_case 1 "m_trunc.h5.*(truncated|cannot)" "checkpoint: truncated" run "$F" "$B/m_trunc.h5"
bad_case 1 "f_text.h5.*not an HDF5 file" "checkpoint: a text file" run "$F" "$B/f_text.h5"

q() { quantize-model -q "$1" -o "$O/q.h5"; }
bad_case 1 "m_missing.h5.*missing key 'fusion.0.weight'" "quantize-model: a tensor missing, no output" q "$B/m_missing.h5"
bad_case 1 "m_shape.h5.*'fusion.0.weight' has shape" "quantize-model: a wrong shape" q "$B/m_shape.h5"
bad_case 1 "m_nan.h5.*'fusion.0.bias' holds NaN" "quantize-model: NaN" q "$B/m_nan.h5"
bad_case 1 "'.*features.h5' is a features store, expected a model checkpoint" "quantize-model: a store" q "$F"
bad_case 1 "'.*mel.h5' is a mel store, expected a features store" "quantize-model --calibrate: a mel store" \
  quantize-model -q "$M" --calibrate "$ME" -o "$O/q.h5"
[ ! -e "$O/q.h5" ]; ok $? "quantize-model wrote nothing"

p() { pack-h5 -q -c "$T/cfg.yaml" -i "${3:-$T/s/index.csv}" -f "$1" -m "$2" -o "$O/f.h5"; }
bad_case 1 "'.*fr_f32.h5': dataset 'frames' is f32.* a frames store has u8" "pack-h5: float32 frames" p "$B/fr_f32.h5" "$ME"
bad_case 1 "'.*fr_pts.h5': dataset 'frame_pts' is f32" "pack-h5: float32 frame_pts" p "$B/fr_pts.h5" "$ME"
bad_case 1 "'.*fr_ptsk.h5': dataset 'frame_pts' has 2 times a clip, 'frames' 1" "pack-h5: 2-d frame_pts" p "$B/fr_ptsk.h5" "$ME"
bad_case 1 "'.*me_nomf.h5' has no dataset 'mel_frames'" "pack-h5: mel store without mel_frames" p "$FR" "$B/me_nomf.h5"
bad_case 1 "'.*me_i16.h5': dataset 'mel' has a type .* a mel store has f32" "pack-h5: integer mel" p "$FR" "$B/me_i16.h5"
bad_case 1 "'.*me_lzf.h5': dataset 'mel' is compressed with HDF5 filter 32000 \('lzf'\)" "pack-h5: h5py's lzf compression" p "$FR" "$B/me_lzf.h5"
bad_case 1 "'.*mel.h5' is a mel store, expected a frames store" "pack-h5: a mel store as frames" p "$ME" "$ME"
bad_case 1 "'.*model.h5' is a model checkpoint, not a feature store" "pack-h5: a checkpoint as mel" p "$FR" "$M"
bad_case 2 "'.*empty.csv' lists no clips" "pack-h5: an empty index" p "$FR" "$ME" "$B/empty.csv"
[ ! -e "$O/f.h5" ] && [ ! -e "$O/p.csv" ]; ok $? "no output written"
done_testing
