#!/usr/bin/env bash
# `make demo`: the whole chain on the bundled sample corpus, step by step, timed.
#   index -> frames + mel -> features.h5 -> train (PyTorch, fast mode) -> model.h5
#   -> quantize -> run-model fp32 and int8 -> score
# Outputs land in build/demo/ (DEMO_OUT to change); re-running redoes only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-build/demo}
scripts/make-sample-dataset.sh -q
mkdir -p "$OUT"
step() {
  local what=$1; shift
  local t0=$(date +%s.%N)
  make --no-print-directory -s -f scripts/pipeline.mk CORPUS=data/sample OUT="$OUT" "$@"
  printf '== %-34s %6.1f s\n' "$what" "$(awk -v a="$t0" -v b="$(date +%s.%N)" "BEGIN{print b-a}")"
}
step "index (ravdess-index)" index
step "frames + mel + pack-h5" features
step "train (scripts/train.py)" model
step "quantize-model" int8
step "run-model fp32 + int8" predictions
step "score" report
echo
echo "== fp32 model, test split ($OUT/report/):"
cat "$OUT/report/summary.txt" 2>/dev/null || bin/score --split test "$OUT/predictions.csv" -o "$OUT/report"
echo
echo "== int8 model, test split ($OUT/report-int8/):"
cat "$OUT/report-int8/summary.txt" 2>/dev/null || bin/score --split test "$OUT/predictions-int8.csv" -o "$OUT/report-int8"
echo
echo "Outputs: $OUT/{index.csv,features.h5,model.h5,model-int8.h5,predictions*.csv,report*/}"
