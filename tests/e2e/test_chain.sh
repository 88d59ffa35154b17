#!/usr/bin/env bash
# The whole chain as a user runs it, through scripts/pipeline.mk, on a tiny corpus
# (3 clips of each emotion... of every sample actor, symlinked from data/sample), with
# a seeded random checkpoint (training is exercised by `make demo`):
#   ravdess-index -> extract-frames + extract-mel (2 shards, make -j2) -> pack-h5
#   -> run-model fp32 and int8 -> score
# Outputs are checked with h5py and scikit-learn; a second make is a no-op; a touched
# input reruns only what depends on it.
. tests/lib.sh
set -u
need_sample
T=$(mktmp); trap 'rm -rf "$T"' EXIT
# 8 clips per actor: one of each emotion (normal intensity, statement 1, repetition 1)
for a in 01 02 03 04; do
  mkdir -p "$T/corpus/Actor_$a"
  for e in 01 02 03 04 05 06 07 08; do
    for m in 01 03; do
      ext=$([ $m = 01 ] && echo mp4 || echo wav)
      f=$SAMPLE/Actor_$a/$m-01-$e-01-01-01-$a.$ext
      [ -f "$f" ] && ln -s "$(realpath "$f")" "$T/corpus/Actor_$a/"
    done
  done
done

# a seeded random checkpoint whose BatchNorm statistics are estimated on random inputs
$PY - "$T/model.pt" <<'PYEOF'
import sys, torch
sys.path.insert(0, "scripts")
from reference_model import MultimodalAttentionFusion
torch.manual_seed(1)
m = MultimodalAttentionFusion(7)
for mod in m.modules():
    if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
        mod.momentum = None
m.train()
with torch.no_grad():
    m(torch.randn(8, 3, 224, 224), torch.randn(8, 64, 300) * 20 - 40)
m.eval()
torch.save(m.state_dict(), sys.argv[1])
PYEOF
ok $? "random reference checkpoint"
$PY scripts/export-checkpoint.py "$T/model.pt" "$T/model.h5" --labels seed7 >/dev/null 2>&1
ok $? "export-checkpoint.py writes model.h5"

run_pipeline() {
  make --no-print-directory -j2 -f scripts/pipeline.mk BIN="$RVT_BIN" CORPUS="$T/corpus" \
    OUT="$T/out" MODEL="$T/model.h5" SHARDS=2 JOBS=1 SPLIT=all "$@"
}
run_pipeline report > "$T/make1.log" 2>&1
ok $? "pipeline runs end to end (make -j2, 2 shards)"
INT8_OUT=
[ -x "$RVT_BIN/quantize-model" ] && INT8_OUT="model-int8.h5 predictions-int8.csv report-int8/metrics.csv"
for f in index.csv features.h5 predictions.csv report/metrics.csv report/confusion.csv \
         report/confusion.svg $INT8_OUT; do
  [ -s "$T/out/$f" ]; ok $? "output $f"
done

$PY - "$T/out" <<'PYEOF'
import csv, sys
import h5py, numpy as np
from sklearn.metrics import accuracy_score, f1_score
out = sys.argv[1]
rows = list(csv.DictReader(open(out + "/index.csv")))
with h5py.File(out + "/features.h5", "r") as f:
    ids = [x.decode() for x in f["clips/id"][:]]
    assert ids == [r["id"] for r in rows], "store ids == index ids"
    assert f["frames"].shape == (len(rows), 1, 224, 224, 3) and f["frames"].dtype == np.uint8
    assert f["mel"].shape == (len(rows), 64, 300) and f["mel"].dtype == np.float32
    assert [int(x) for x in f["clips/label"][:]] == [int(r["label"]) for r in rows]
    assert np.isfinite(f["mel"][:]).all()
print("features.h5 agrees with index.csv", file=sys.stderr)
import os
for name in ("predictions", "predictions-int8"):
    if not os.path.exists("%s/%s.csv" % (out, name)):
        continue
    p = list(csv.DictReader(open("%s/%s.csv" % (out, name))))
    assert [r["id"] for r in p] == [r["id"] for r in rows]
    y, yhat = [r["label"] for r in p], [r["pred"] for r in p]
    m = {(r["metric"], r["class"], r["split"], r["fold"]): float(r["value"])
         for r in csv.DictReader(open("%s/report%s/metrics.csv" % (out, name[11:])))}
    acc = [v for (k, c, s, fo), v in m.items() if k == "accuracy" and s == "all"][0]
    assert abs(acc - accuracy_score(y, yhat)) < 1e-12, (acc, accuracy_score(y, yhat))
    f1 = [v for (k, c, s, fo), v in m.items() if k == "f1_macro" and s == "all"]
    if f1:
        classes = sorted(k[2:] for k in p[0] if k.startswith("p_"))
        assert abs(f1[0] - f1_score(y, yhat, labels=classes, average="macro", zero_division=0)) < 1e-12
    print(name, "scored as scikit-learn scores it", file=sys.stderr)
PYEOF
ok $? "outputs checked with h5py and scikit-learn"

run_pipeline report > "$T/make2.log" 2>&1
! grep -qE 'ravdess-index|extract-|pack-h5|run-model|score' "$T/make2.log"
ok $? "second make is a no-op"
touch "$T/model.h5"
run_pipeline report > "$T/make3.log" 2>&1
grep -q run-model "$T/make3.log" && ! grep -qE 'extract-|pack-h5' "$T/make3.log"
ok $? "a new checkpoint reruns run-model and score only"
# a clip added to the corpus, then removed: the listing changes, so the index and
# what follows it rerun (model.h5 is given, so nothing trains)
for e in 01 03; do
  ln -s "$(realpath "$SAMPLE/Actor_01/$e-01-02-02-01-01-01.$([ $e = 01 ] && echo mp4 || echo wav)")" \
    "$T/corpus/Actor_01/"
done
run_pipeline report > "$T/make4.log" 2>&1
grep -q ravdess-index "$T/make4.log" && grep -q pack-h5 "$T/make4.log" &&
  [ "$(grep -c '^01-' "$T/out/index.csv")" -eq 33 ]
ok $? "a clip added to the corpus reruns the index and what follows (33 clips)"
rm "$T/corpus/Actor_01/"*-01-02-02-01-01-01.*
run_pipeline report > "$T/make5.log" 2>&1
grep -q ravdess-index "$T/make5.log" && [ "$(grep -c '^01-' "$T/out/index.csv")" -eq 32 ]
ok $? "and removed again: back to 32 clips"
printf 'store:\n  deflate: 1\n' > "$T/cfg.yaml"
run_pipeline CONFIG="$T/cfg.yaml" report > "$T/make6.log" 2>&1
grep -q -- "ravdess-index.*--config $T/cfg.yaml" "$T/make6.log" &&
  grep -q -- "run-model.*--config $T/cfg.yaml" "$T/make6.log" &&
  grep -q -- "score.*--config $T/cfg.yaml" "$T/make6.log"
ok $? "CONFIG= reruns every step, each with --config"
done_testing
