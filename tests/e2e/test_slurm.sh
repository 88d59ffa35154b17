#!/usr/bin/env bash
# scripts/slurm/: the job-array extraction and its merge, run through a stand-in
# `sbatch` that executes each job at once as Slurm would (array tasks in turn, with the
# SLURM_ARRAY_* variables and --export'ed environment).  The merged store must hold
# exactly the datasets of an unsharded run; a missing shard must stop the merge.
. tests/lib.sh
set -u
need_sample
T=$(mktmp); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/corpus" "$T/fake"
ln -s "$(realpath "$SAMPLE/Actor_01")" "$T/corpus/Actor_01"
ravdess-index -q "$T/corpus" -o "$T/index.csv"; ok $? "index of one sample actor"

# the stand-in: sbatch [--parsable] [--array=A-B] [--export=ALL,K=V,...] [opts] SCRIPT
cat > "$T/fake/sbatch" <<'SH'
#!/usr/bin/env bash
set -u
array= exports= script=
for a in "$@"; do
  case $a in
    --array=*) array=${a#--array=} ;;
    --export=*) exports=${a#--export=} ;;
    --*) ;;
    *) script=$a; break ;;
  esac
done
echo "$*" >> "$SBATCH_LOG"
env=()
IFS=, read -ra kv <<< "$exports"
for x in "${kv[@]}"; do [ "$x" = ALL ] || env+=("$x"); done
n=$(( $(cat "$SBATCH_IDS" 2>/dev/null || echo 100) + 1 )); echo $n > "$SBATCH_IDS"
if [ -n "$array" ]; then
  lo=${array%-*} hi=${array#*-}
  for ((t = lo; t <= hi; t++)); do
    env "${env[@]}" SLURM_ARRAY_JOB_ID=$n SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_MIN=$lo \
      SLURM_ARRAY_TASK_MAX=$hi SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) SLURM_CPUS_PER_TASK=1 \
      bash "$script" || exit 1
  done
else
  env "${env[@]}" SLURM_JOB_ID=$n bash "$script" || exit 1
fi
echo "$n;cluster"
SH
chmod +x "$T/fake/sbatch"
export SBATCH_LOG=$T/sbatch.log SBATCH_IDS=$T/ids
PATH="$T/fake:$PATH" RVT_BIN="$RVT_BIN" scripts/slurm/submit.sh -n 3 "$T/index.csv" "$T/out" \
  --partition=cpu > "$T/submit.out" 2>&1
ok $? "submit.sh -n 3: array and merge ($(tail -1 "$T/submit.out"))"
grep -q "job array 101 (3 tasks); pack: job 102 -> $T/out/features.h5" "$T/submit.out"
ok $? "submit.sh prints both job ids"
grep -q -- "--dependency=afterok:101 " "$SBATCH_LOG" && grep -q -- "--partition=cpu" "$SBATCH_LOG"
ok $? "the merge waits for the array (afterok), extra options reach sbatch"
ls "$T/out" | grep -c -- '-of-3\.h5$' | grep -qx 6; ok $? "3 frames and 3 mel shards"

# the same store unsharded
extract-frames -q "$T/index.csv" -o "$T/frames.h5" && extract-mel -q "$T/index.csv" -o "$T/mel.h5" &&
  pack-h5 -q -i "$T/index.csv" -f "$T/frames.h5" -a "$T/mel.h5" -o "$T/features.h5"
ok $? "unsharded chain"
$PY - "$T/out/features.h5" "$T/features.h5" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
other = []
b.visititems(lambda k, v: other.append(k) if isinstance(v, h5py.Dataset) else None)
assert sorted(names) == sorted(other), (names, other)
for k in names:
    assert np.array_equal(a[k][()], b[k][()]), k
assert a["mel"].shape[0] == 60
PYEOF
ok $? "the 3-shard store equals the unsharded one, dataset by dataset"

# a missing shard: pack.sbatch refuses, nothing under the final name
rm -f "$T/out/mel.1-of-3.h5" "$T/out/features.h5"
RVT_INDEX=$T/index.csv RVT_OUT=$T/out RVT_SHARDS=3 RVT_BIN=$RVT_BIN bash scripts/slurm/pack.sbatch \
  2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "mel.1-of-3.h5" "$T/err" && [ ! -e "$T/out/features.h5" ]
ok $? "pack.sbatch with a missing shard: exit $rc, $(head -c 200 "$T/err")"
# rerunning that one task (RVT_SHARDS names N, the array index the shard) repairs it
RVT_INDEX=$T/index.csv RVT_OUT=$T/out RVT_SHARDS=3 RVT_BIN=$RVT_BIN SLURM_ARRAY_TASK_ID=1 \
  SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=1 SLURM_ARRAY_TASK_COUNT=1 \
  bash scripts/slurm/extract.sbatch && [ -s "$T/out/mel.1-of-3.h5" ] && [ ! -e "$T/out/frames.0-of-1.h5" ]
ok $? "a rerun of task 1 alone writes shard 1 of 3"
RVT_INDEX=$T/index.csv RVT_OUT=$T/out RVT_SHARDS=3 RVT_BIN=$RVT_BIN bash scripts/slurm/pack.sbatch
ok $? "then the merge succeeds"
bash scripts/slurm/extract.sbatch 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "RVT_INDEX" "$T/err"; ok $? "extract.sbatch without RVT_INDEX says so (exit $rc)"
scripts/slurm/submit.sh 2>/dev/null; [ $? -eq 2 ]; ok $? "submit.sh without arguments: usage, exit 2"
done_testing
