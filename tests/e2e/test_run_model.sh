#!/usr/bin/env bash
# run-model end to end: options, output, exit codes, atomic output, --keep-going.
# (Numbers against PyTorch: tests/parity/test_model.py.)
set -u
. "$(dirname "$0")/../lib.sh"
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"

run-model --help >"$T/help" 2>&1; ok $? "--help exits 0"
grep -q SYNOPSIS "$T/help" && grep -q EXAMPLES "$T/help" && grep -q -- "--batch" "$T/help" &&
  grep -q "EXIT STATUS" "$T/help" && grep -q -- "-F, --features" "$T/help" && ! grep -q "shared/\|DESIGN.md" "$T/help"
ok $? "--help has synopsis, options and examples"
run-model --version >"$T/ver" 2>&1; ok $? "--version exits 0"
grep -q "OpenBLAS" "$T/ver"; ok $? "--version names the OpenBLAS kernels"

expect_exit 2 "no arguments" run-model
expect_exit 2 "missing -o" run-model -m a.h5 -F b.h5
expect_exit 2 "bad --split" run-model -m a.h5 -F b.h5 -o c.csv --split dev
expect_exit 2 "bad --batch" run-model -m a.h5 -F b.h5 -o c.csv --batch 0
expect_exit 2 "stray argument" run-model -m a.h5 -F b.h5 -o c.csv extra
expect_exit 2 "unknown option" run-model --frobnicate

# one Python for all three fixtures (model-s.h5: audio attention 'scale', used below)
$PY "$FIX" model "$T/model.h5" + store "$T/features.h5" 5 + model "$T/model-s.h5" scale
ok $? "fixtures: a seeded model.h5, a 5-clip features.h5 and a seeded model-s.h5 (scale)"

run-model -m "$T/none.h5" -F "$T/features.h5" -o "$T/p.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "cannot open" "$T/err" && [ ! -e "$T/p.csv" ]
ok $? "missing checkpoint: exit 1, one line, no output"
run-model -m "$T/model.h5" -F "$T/model.h5" -o "$T/p.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -e "$T/p.csv" ]
ok $? "a checkpoint given as the store: exit 1, one line, no output ($(cat "$T/err"))"

run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/p.csv" -j 2 2>"$T/err"; ok $? "run exits 0"
head -1 "$T/p.csv" | grep -qx "id,split,label,pred,p_Angry,p_Disgust,p_Fear,p_Happy,p_Sad,p_Surprise,p_Neutral"
ok $? "header: id,split,label,pred,p_<class>..."
[ "$(wc -l <"$T/p.csv")" -eq 6 ]; ok $? "one row per clip"
grep -q "clips 5/5" "$T/err"; ok $? "progress on stderr"
grep -Eq "^run-model: 5 clips, forward [0-9.]+ ms/clip, io [0-9.]+ ms/clip, 2 threads$" "$T/err"
ok $? "the timing line separates forward time from store reads"
run-model -m "$T/model.h5" -i "$T/features.h5" -o "$T/pi.csv" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "warning: -i (--input) is deprecated: use -F" "$T/err" && cmp -s "$T/p.csv" "$T/pi.csv"
ok $? "-i still works as a deprecated alias of -F and warns"
ls -a "$T" | grep -q '\.tmp-'; [ $? -ne 0 ]; ok $? "no temporary left behind"
awk -F, 'NR > 1 { s = 0; for (i = 5; i <= NF; i++) s += $i; if (s < 0.9999 || s > 1.0001) bad = 1 } END { exit bad }' "$T/p.csv"
ok $? "probabilities sum to 1"

run-model -m "$T/model.h5" -F "$T/features.h5" -o - -q >"$T/stdout.csv" 2>"$T/err"
ok $? "-o - writes stdout"
cmp -s "$T/p.csv" "$T/stdout.csv" && [ ! -s "$T/err" ]; ok $? "stdout equals the file, -q is quiet"
mkfifo "$T/fifo" && { cat "$T/fifo" >"$T/fifo.csv" & }
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/fifo" -q; rc=$?; wait
[ $rc -eq 0 ] && [ -p "$T/fifo" ] && cmp -s "$T/p.csv" "$T/fifo.csv"
ok $? "a FIFO (or /dev/null) as the output is written in place, not replaced"
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/p1.csv" -j 1 --batch 1 -q
cmp -s "$T/p.csv" "$T/p1.csv"; ok $? "same bytes with -j 1 --batch 1"
# 2 val clips, -j 4: 2 workers of 2 threads each sharing a clip's layers (nn/team.h)
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/v1.csv" --split val -j 1 -q &&
  run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/v4.csv" --split val -j 4 2>"$T/err" &&
  cmp -s "$T/v1.csv" "$T/v4.csv" && grep -q ", 4 threads$" "$T/err"
ok $? "threads sharing a clip (-j 4, 2 clips) give the same bytes as -j 1"
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/v256.csv" --split val -j 256 -q &&
  cmp -s "$T/v1.csv" "$T/v256.csv"
ok $? "-j 256 on 2 clips: teams capped at 16 threads, the same bytes"
[ -s "$T/model-s.h5" ] && quantize-model -q "$T/model-s.h5" -o "$T/model-s8.h5" &&
  (for m in model-s model-s8; do
    run-model -m "$T/$m.h5" -F "$T/features.h5" -o "$T/s1.csv" --logits "$T/l1.csv" --split val -j 1 -q &&
      run-model -m "$T/$m.h5" -F "$T/features.h5" -o "$T/s3.csv" --logits "$T/l3.csv" --split val -j 5 -q &&
      cmp -s "$T/s1.csv" "$T/s3.csv" && cmp -s "$T/l1.csv" "$T/l3.csv" || exit 1
  done)
ok $? "the same with audio attention 'scale', fp32 and int8 (-j 5: uneven shares)"
# --profile: a CSV of kernel times, the same predictions and logits, on 1 thread and a team
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/v1.csv" --logits "$T/vl1.csv" --split val -j 1 -q &&
  run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/vp.csv" --logits "$T/vlp.csv" --split val -j 4 \
    --profile "$T/prof.csv" 2>"$T/err" &&
  cmp -s "$T/v1.csv" "$T/vp.csv" && cmp -s "$T/vl1.csv" "$T/vlp.csv"
ok $? "--profile leaves the predictions and logits the same bytes (-j 4: teams of 2)"
run-model -m "$T/model.h5" -F "$T/features.h5" -o /dev/null --split val -j 1 -b 1 -q --profile "$T/prof1.csv" &&
  head -1 "$T/prof.csv" | grep -qx "kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s" &&
  grep -q '^sgemm,k=192 n=1152 pos=49 silu,8.00,' "$T/prof.csv" &&
  grep -q '^sgemm,k=192 n=1152 pos=49 silu,4.00,' "$T/prof1.csv" &&
  grep -q '^sgemm-gather,k=27 n=32 pos=12544 silu,1.00,' "$T/prof1.csv" &&
  grep -q '^dwconv,c=32 width=112 k=3 s=1 silu,1.00,' "$T/prof1.csv" &&
  tail -1 "$T/prof1.csv" | grep -q '^total,[0-9]* records,,[0-9.]*,1.0000,'
ok $? "the profile names each layer's kernel and shape (224 px: 4 calls of the 192 -> 1152 expand a clip, 8 on a team of 2), and a total"
awk -F, 'NR > 1 && $1 != "total" { s += $5; if ($4 < 0 || $5 < 0 || $5 > 1) bad = 1 }
         END { exit bad || s < 0.999 || s > 1.001 }' "$T/prof.csv"
ok $? "the profile's shares are in [0, 1] and sum to 1"
grep -Eq "^run-model: profile: kernels [0-9.]+ ms/clip of CPU, forward [0-9.]+ ms/clip -> " "$T/err"
ok $? "stderr compares the kernels' total with the forward time"
[ -s "$T/model-s8.h5" ] &&
  run-model -m "$T/model-s8.h5" -F "$T/features.h5" -o /dev/null --split val -q --profile "$T/prof8.csv" &&
  grep -q '^qgemm-t,k=192 n=1152 pos=49 ' "$T/prof8.csv" && grep -q '^quant-rows,' "$T/prof8.csv"
ok $? "int8: the profile has the int8 products and the activations' quantization"
expect_exit 2 "--profile onto the store" run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/x.csv" \
  --profile "$T/features.h5"
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/val.csv" --split val -q
[ "$(wc -l <"$T/val.csv")" -eq 3 ] && ! cut -d, -f2 "$T/val.csv" | tail -n +2 | grep -vqx val
ok $? "--split val keeps the val clips"

# a clip whose label is not a class: exit 1 without -k; skipped with -k (exit 3)
$PY - "$T/features.h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f["clips/label"][2] = 42
EOF
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/bad.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "label 42" "$T/err" && [ ! -e "$T/bad.csv" ]
ok $? "bad label: exit 1, no output"
run-model -m "$T/model.h5" -F "$T/features.h5" -o "$T/k.csv" -k -q 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && [ "$(wc -l <"$T/k.csv")" -eq 5 ] && grep -q "label 42" "$T/k.csv.failures.csv"
ok $? "--keep-going skips it, lists it in the failures CSV, exit 3"

done_testing
