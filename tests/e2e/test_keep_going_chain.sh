#!/usr/bin/env bash
# --keep-going flows through the chain: a copy of the sample corpus with a damaged
# clip in the middle (its mp4 truncated) and another (its wav replaced by garbage)
#   ravdess-index -> extract-frames -k -> extract-mel -k -> pack-h5 -> run-model -> score
# Each extractor skips its bad clip (exit 3, failures CSV), pack-h5 packs the clips
# present in both stores and lists the two others in missing_clips (exit 3), and
# run-model and score work on the result.  The index lives in another folder than
# the corpus, and the tools run from a third one (index paths are relative to the
# index's own folder).
. "$(dirname "$0")/../lib.sh"
set -u
need_sample
SAMPLE=$(realpath "$SAMPLE")
T=$(mktmp); trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"

# two actors of the sample corpus, symlinked; the damaged files are real copies
for a in 01 02; do
  mkdir -p "$T/corpus/Actor_$a"
  for f in "$SAMPLE/Actor_$a"/0[13]-01-0[1-8]-01-01-01-$a.*; do ln -s "$f" "$T/corpus/Actor_$a/"; done
done
n_clips=$(ls "$T/corpus"/Actor_*/01-* | wc -l)
[ "$n_clips" -ge 8 ]; ok $? "corpus of $n_clips clips"
BADV=$(basename "$(ls "$T/corpus"/Actor_01/01-* | sed -n 3p)")
BADA=$(basename "$(ls "$T/corpus"/Actor_02/03-* | sed -n 4p)")
IDV=$(echo "$BADV" | cut -c4-20)
IDA=$(echo "$BADA" | cut -c4-20)
rm "$T/corpus/Actor_01/$BADV" "$T/corpus/Actor_02/$BADA"
head -c 20000 "$SAMPLE/Actor_01/$BADV" >"$T/corpus/Actor_01/$BADV"
head -c 30000 /dev/urandom >"$T/corpus/Actor_02/$BADA"

mkdir -p "$T/idx" "$T/out" "$T/elsewhere"
cd "$T" || exit 1
ravdess-index -q corpus -o idx/index.csv; ok $? "ravdess-index"
[ "$(tail -n +2 "$T/idx/index.csv" | wc -l)" -eq "$n_clips" ]; ok $? "index lists the $n_clips clips"
[ "$(tail -n +2 "$T/idx/index.csv" | grep -vc ',\.\./corpus/Actor_0[12]/0[13]-[^,]*,\.\./corpus/')" -eq 0 ]
ok $? "a relative root is written relative to the index's folder (../corpus/...)"

# from another folder: the index by an absolute, then by a relative path
cd "$T/elsewhere" || exit 1
extract-frames -q -k "$T/idx/index.csv" -o "$T/out/frames.h5" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "$IDV" "$T/out/frames.h5.failures.csv" 2>/dev/null
ok $? "extract-frames -k skips the truncated mp4, exit 3 (exit $rc: $(head -c 200 "$T/err"))"
extract-mel -q -k ../idx/index.csv -o "$T/out/mel.h5" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "$IDA" "$T/out/mel.h5.failures.csv" 2>/dev/null
ok $? "extract-mel -k skips the garbage wav, exit 3 (exit $rc: $(head -c 200 "$T/err"))"

pack-h5 -i "$T/idx/index.csv" -f "$T/out/frames.h5" -a "$T/out/mel.h5" -o "$T/out/features.h5" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "clip $IDV is missing from '.*frames.h5'" "$T/err" &&
  grep -q "clip $IDA is missing from '.*mel.h5'" "$T/err"
ok $? "pack-h5 packs the rest, names both missing clips, exit 3 (exit $rc: $(head -c 300 "$T/err"))"
$PY - "$T/out/features.h5" "$IDV" "$IDA" "$((n_clips - 2))" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
ids = [x.decode() for x in f["clips/id"][:]]
missing = sorted(f.attrs["missing_clips"])
assert missing == sorted(sys.argv[2:4]), missing
assert len(ids) == int(sys.argv[4]) and not set(ids) & set(missing), ids
assert f["mel"].shape[0] == f["frames"].shape[0] == len(ids)
PYEOF
ok $? "features.h5: the other clips, missing_clips lists the two"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert all(p.startswith(b'../corpus/') for p in f['clips/audio_path'][:])" "$T/out/features.h5"
ok $? "features.h5 keeps the paths as written in index.csv"

$PY "$FIX" model "$T/model.h5"; ok $? "a seeded model.h5"
run-model -q -m "$T/model.h5" -i "$T/out/features.h5" -o "$T/out/predictions.csv" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(tail -n +2 "$T/out/predictions.csv" | wc -l)" -eq $((n_clips - 2)) ]
ok $? "run-model on the packed store (exit $rc: $(head -c 200 "$T/err"))"
score -q "$T/out/predictions.csv" -o "$T/out/report" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/out/report/metrics.csv" ]; ok $? "score on the predictions (exit $rc: $(head -c 200 "$T/err"))"
ls -A "$T/out" "$T/idx" | grep -q '\.tmp-'; [ $? -ne 0 ]; ok $? "no temporary left"

# a filtered index (the rows of actor 1 only) packs just those
head -n 1 "$T/idx/index.csv" >"$T/idx/actor1.csv"
grep -- '-01,1,' "$T/idx/index.csv" >>"$T/idx/actor1.csv"
pack-h5 -q -i "$T/idx/actor1.csv" -f "$T/out/frames.h5" -a "$T/out/mel.h5" -o "$T/out/a1.h5"; rc=$?
n1=$(($(wc -l <"$T/idx/actor1.csv") - 2))
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f['clips/id'].shape[0]==int(sys.argv[2]), f['clips/id'].shape" "$T/out/a1.h5" "$n1"
[ $? -eq 0 ] && [ $rc -eq 3 ]; ok $? "a filtered index: its clips, its one missing clip, exit 3 (exit $rc)"
done_testing
