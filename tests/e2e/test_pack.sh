#!/usr/bin/env bash
# pack-h5 end to end: usage, refusals of bad or disagreeing inputs (one-line error,
# exit 1, nothing under the output name), a full disk, SIGKILL at several points,
# and peak RSS flat in the clip count.
. "$(dirname "$0")/../lib.sh"
set -u
T=$(mktmp)
trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
GEN="$PY $RVT_ROOT/scripts/store_gen.py"
SETS=(--set image.width=80 --set image.height=80)
pack-h5 --print-config "${SETS[@]}" >"$T/cfg.yaml"
P=(pack-h5 -q -c "$T/cfg.yaml")

# inputs: 120 clips (actors 1-2), frames in 2 shards, mel in 3, and unsharded copies
$GEN --out "$T/s" --clips 120 --hw 80 --frames-shards 2 --mel-shards 3 --config "$T/cfg.yaml"
$GEN --out "$T/u" --clips 120 --hw 80 --config "$T/cfg.yaml"
ok $? "generate inputs"
S=$T/s U=$T/u

no_output() {  # no_output DIR: neither features.h5 nor a temporary in DIR
  [ ! -e "$1/features.h5" ] && ! ls -A "$1" | grep -q '\.tmp-'
}

# fails CODE PATTERN DESC CMD...: exit CODE, one stderr line matching PATTERN (usage
# errors: plus the "Try 'pack-h5 --help'" line), no output
fails() {
  local code=$1 pat=$2 d=$3; shift 3
  "$@" 2>"$T/err" >/dev/null; local rc=$?
  local lines; lines=$(grep -vc "^Try 'pack-h5 --help'" "$T/err")
  if [ "$rc" -eq "$code" ] && [ "$lines" -eq 1 ] && head -1 "$T/err" | grep -q -- "$pat" && no_output "$T/o"; then
    ok 0 "$d"
  else
    ok 1 "$d (exit $rc, $lines lines: $(head -c 300 "$T/err"))"
  fi
}
mkdir -p "$T/o"
O=$T/o/features.h5

# ---- usage ----
check "--help" pack-h5 --help
pack-h5 --help | grep -q "EXIT\|Exit status"; ok $? "--help documents exit status"
expect_exit 2 "no arguments" pack-h5
fails 2 "required" "no -o" pack-h5 -i "$U/index.csv" -f "$U/frames.h5"
fails 2 "split" "bad --split" pack-h5 -i "$U/index.csv" -f "$U/frames.h5" -o "$O" --split dev
fails 2 "folds" "--fold without --folds" "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -o "$O" --fold 1
fails 2 "shard" "--shard does not apply" "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -o "$O" --shard 0/2
fails 2 "is the input" "output is an input" "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -o "$U/frames.h5"

# ---- good runs ----
"${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O"; ok $? "pack unsharded"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f['mel'].shape==(120,64,300) and f['frames'].shape==(120,1,80,80,3)" "$O"
ok $? "output readable by h5py"
rm -f "$O"
"${P[@]}" -i "$S/index.csv" -f "$S/frames.1.h5,$S/frames.0.h5" -a "$S/mel.2.h5" -a "$S/mel.0.h5,$S/mel.1.h5" -o "$O" -j 2
ok $? "pack shards given in any order"
cp "$O" "$T/a.h5"; rm -f "$O"
"${P[@]}" -i "$S/index.csv" -f "$S/frames.1.h5,$S/frames.0.h5" -m "$S/mel.2.h5" --mel "$S/mel.0.h5,$S/mel.1.h5" -o "$O" -j 2 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'warning: -m is deprecated: use -a' "$T/err")" = 1 ] &&
  $PY -c "import h5py,sys,numpy as np; a=h5py.File(sys.argv[1],'r'); b=h5py.File(sys.argv[2],'r'); assert np.array_equal(a['mel'][:], b['mel'][:])" "$T/a.h5" "$O"
ok $? "-m (deprecated) still packs the mel stores, = -a, and warns once (exit $rc: $(head -c 200 "$T/err"))"
rm -f "$O" "$T/a.h5"

# ---- refusals ----
fails 1 "frames shard 1/2 is missing" "a missing shard" \
  "${P[@]}" -i "$S/index.csv" -f "$S/frames.0.h5" -a "$U/mel.h5" -o "$O"
cp "$S/frames.0.h5" "$T/frames.0.copy.h5"
fails 1 "are both frames shard 0/2" "a repeated shard" \
  "${P[@]}" -i "$S/index.csv" -f "$S/frames.0.h5,$T/frames.0.copy.h5,$S/frames.1.h5" -a "$U/mel.h5" -o "$O"
fails 1 "shards of different sets" "shards of different sets" \
  "${P[@]}" -i "$S/index.csv" -f "$S/frames.0.h5,$U/frames.h5" -a "$U/mel.h5" -o "$O"
fails 1 "is a mel store, expected a frames store" "wrong kind" \
  "${P[@]}" -i "$U/index.csv" -f "$U/mel.h5" -a "$U/mel.h5" -o "$O"
fails 1 "config key audio.top_db differs: '.*mel.h5' has 80, this run has 60" "config differs from this run" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" --set audio.top_db=60
$PY - "$S/mel.1.h5" "$T/mel.1.h5" <<'EOF'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["config"] = f.attrs["config"].replace("n_fft: 2048", "n_fft: 1024")
EOF
fails 1 "config key audio.n_fft differs: '.*mel.0.h5' has 2048, '.*mel.1.h5' has 1024" "inputs disagree on config" \
  "${P[@]}" -i "$S/index.csv" -f "$S/frames.0.h5,$S/frames.1.h5" -a "$S/mel.0.h5,$T/mel.1.h5,$S/mel.2.h5" -o "$O"
# a filtered index (a subset of the stored clips) packs its rows only
head -n 100 "$U/index.csv" >"$T/short.csv"
"${P[@]}" -i "$T/short.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" 2>"$T/err"; rc=$?
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f['mel'].shape[0]==99 and 'missing_clips' not in f.attrs" "$O"
[ $rc -eq 0 ] && [ $? -eq 0 ] && [ ! -s "$T/err" ]; ok $? "a filtered index: its 99 rows, exit 0 (exit $rc)"
rm -f "$O"
# an index row no store holds: left out, listed on stderr and in missing_clips, exit 3
{ cat "$U/index.csv"; echo "01-08-02-02-02-03,3,male,1,8,surprised,2,2,2,5,Surprise,val,x.mp4,x.wav"; } >"$T/long.csv"
pack-h5 -c "$T/cfg.yaml" -i "$T/long.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "clip 01-08-02-02-02-03 is missing from '.*frames.h5'" "$T/err" &&
  $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f['mel'].shape[0]==120 and list(f.attrs['missing_clips'])==['01-08-02-02-02-03']" "$O"
ok $? "an index clip not in the stores: left out, missing_clips, exit 3 (exit $rc: $(head -c 200 "$T/err"))"
rm -f "$O"
head -n 1 "$U/index.csv" >"$T/empty.csv"
fails 2 "'.*empty.csv' lists no clips" "an empty index" \
  "${P[@]}" -i "$T/empty.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O"
{ head -n 1 "$U/index.csv"; echo "01-08-02-02-02-03,3,male,1,8,surprised,2,2,2,5,Surprise,val,x.mp4,x.wav"; } >"$T/other.csv"
fails 1 "none of the 1 clips of '.*other.csv' is in every store" "an index none of whose clips is stored" \
  "${P[@]}" -i "$T/other.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O"
fails 1 "labels.set native8 gives" "labels disagree with the config" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" --set labels.set=native8
fails 1 "split" "splits disagree with the config" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" --set split.test_actors=[2]
pack-h5 --print-config >"$T/cfg224.yaml"
$PY - "$U/frames.h5" "$T/f224.h5" "$T/cfg224.yaml" <<'EOF'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["config"] = open(sys.argv[3]).read()
EOF
fails 1 "dataset 'frames' is u8\[1,80,80,3\], this run's image. keys want u8\[1,224,224,3\]" \
  "frame shape disagrees with the config" pack-h5 -q -i "$U/index.csv" -f "$T/f224.h5" -o "$O"

# ---- bad files ----
echo "id,actor" >"$T/text.h5"
fails 1 "text.h5': not an HDF5 file" "a text file" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$T/text.h5" -o "$O"
head -c 2000000 "$U/mel.h5" >"$T/trunc.h5"
fails 1 "trunc.h5" "a truncated store" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$T/trunc.h5" -o "$O"
fails 1 "cannot open '.*nope.h5': No such file" "a missing file" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$T/nope.h5" -o "$O"
$PY - "$U/mel.h5" "$T" <<'EOF'
import shutil, sys, h5py
src, d = sys.argv[1], sys.argv[2]
shutil.copy(src, d + "/v2.h5")
with h5py.File(d + "/v2.h5", "r+") as f:
    f.attrs["schema_version"] = "2"
with h5py.File(src, "r") as s, h5py.File(d + "/nodata.h5", "w") as f:
    for k, v in s.attrs.items():
        f.attrs[k] = v
    s.copy("clips", f)
    s.copy("mel", f)
EOF
fails 1 "schema version '2'" "another schema version" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$T/v2.h5" -o "$O"
fails 1 "has no dataset 'mel_frames'" "a missing dataset" \
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$T/nodata.h5" -o "$O"

# ---- a full disk: a 1 MiB tmpfs if we may mount, and a file size limit ----
mkdir -p "$T/full"
if mount -t tmpfs -o size=1m tmpfs "$T/full" 2>/dev/null; then
  "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$T/full/features.h5" 2>"$T/err"
  rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "No space left on device" "$T/err" &&
    [ -z "$(ls -A "$T/full")" ]
  ok $? "full tmpfs: one-line error, nothing left (exit $rc: $(cat "$T/err"))"
  umount "$T/full"
else
  skip "cannot mount a tmpfs here"
fi
( ulimit -f 1024; "${P[@]}" -i "$U/index.csv" -f "$U/frames.h5" -a "$U/mel.h5" -o "$O" ) 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "File too large" "$T/err" && no_output "$T/o"
ok $? "file size limit: one-line error, nothing left (exit $rc: $(cat "$T/err"))"

# ---- SIGKILL at several points leaves no file, or the previous one intact ----
$GEN --out "$T/big" --clips 150 --hw 80 --config "$T/cfg.yaml" --deflate 1
KP=("${P[@]}" -i "$T/big/index.csv" -f "$T/big/frames.h5" -a "$T/big/mel.h5" -o "$T/k/features.h5"
    --deflate 9 -j 1)
mkdir -p "$T/k"
"${KP[@]}"; ok $? "pack before the kills"
before=$(sha256sum <"$T/k/features.h5")
start=$(date +%s.%N)
"${KP[@]}" -o "$T/k/full-run.h5"
full=$(echo "$(date +%s.%N) - $start" | bc)
intact=0 killed=0
for frac in 0.02 0.1 0.25 0.5 0.75 0.9; do
  "${KP[@]}" & pid=$!
  sleep "$(echo "$full * $frac" | bc)"
  kill -9 $pid 2>/dev/null && killed=$((killed + 1))
  wait $pid 2>/dev/null
  [ "$(sha256sum <"$T/k/features.h5")" = "$before" ] && intact=$((intact + 1))
done
[ $intact -eq 6 ] && [ $killed -ge 4 ]
ok $? "SIGKILL at 6 points ($killed while running, full run ${full}s): the previous store intact"
rm -f "$T/k/features.h5"
for frac in 0.1 0.5; do
  "${KP[@]}" & pid=$!
  sleep "$(echo "$full * $frac" | bc)"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
done
[ ! -e "$T/k/features.h5" ]; ok $? "SIGKILL without a previous store: no store"
rm -rf "$T/k" "$T/big"

# ---- peak RSS does not grow with the clip count ----
$GEN --out "$T/n200" --clips 200 --hw 80 --config "$T/cfg.yaml"
$GEN --out "$T/n2000" --clips 2000 --hw 80 --config "$T/cfg.yaml"
rss() {  # rss DIR EXTRA...: peak RSS in KiB of packing DIR
  local d=$1; shift
  # under ASan, freed blocks (zlib's per-call state) sit in a 256 MiB quarantine
  # that looks like growth; a 1 MiB quarantine measures our memory, not ASan's
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1" /usr/bin/time -f %M -o "$T/rss" "${P[@]}" -i "$d/index.csv" -f "$d/frames.h5" -a "$d/mel.h5" \
    -o "$d/features.h5" "$@" && cat "$T/rss"
}
for mode in copy recode; do
  extra=(); [ $mode = recode ] && extra=(--deflate 1 -j 2)
  r1=$(rss "$T/n200" "${extra[@]}") r2=$(rss "$T/n2000" "${extra[@]}")
  echo "# peak RSS ($mode): 200 clips ${r1} KiB, 2000 clips ${r2} KiB"
  [ -n "$r1" ] && [ -n "$r2" ] && [ "$r2" -lt $((r1 + r1 / 10 + 4096)) ]
  ok $? "peak RSS flat in N ($mode): 200 clips ${r1} KiB, 2000 clips ${r2} KiB"
done

done_testing
