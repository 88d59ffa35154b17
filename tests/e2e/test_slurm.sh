#!/usr/bin/env bash
# scripts/slurm/ on a real Slurm: a one-node cluster on 127.0.0.1 (munged, slurmctld,
# slurmd from Debian's packages, installed when missing; scripts/slurm/local-cluster.sh)
# runs submit.sh's job array and merge on 12 sample clips in 3 shards; the merged store
# must equal an unsharded run dataset by dataset.  Then a damaged clip fails one task:
# the merge is stuck (DependencyNeverSatisfied), the clip is repaired, and
# `submit.sh --resume` cancels that merge, reruns only the missing shard and merges.
# Also scripts/pipeline.mk without CORPUS and under `make -n`.  Every daemon started
# here is stopped by pid on exit.
. tests/lib.sh
set -u
need_sample
T=$(mktmp)
. scripts/slurm/local-cluster.sh
trap 'rvt_slurm_stop; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP  # so that the EXIT trap runs

# 12 clips: the first 6 speech ids of actors 1 and 2 (mp4 + wav each)
for a in 01 02; do
  mkdir -p "$T/corpus/Actor_$a"
  for w in $(ls "$SAMPLE/Actor_$a" | grep '^03-' | head -6); do
    ln -s "$(realpath "$SAMPLE/Actor_$a/$w")" "$T/corpus/Actor_$a/$w"
    m=01-${w#03-}; m=${m%.wav}.mp4
    ln -s "$(realpath "$SAMPLE/Actor_$a/$m")" "$T/corpus/Actor_$a/$m"
  done
done
ravdess-index -q "$T/corpus" -o "$T/index.csv"
[ "$(wc -l < "$T/index.csv")" -eq 13 ]; ok $? "index of 12 sample clips"
# the same store unsharded, for comparison
extract-frames -q "$T/index.csv" -o "$T/frames.h5" && extract-mel -q "$T/index.csv" -o "$T/mel.h5" &&
  pack-h5 -q -i "$T/index.csv" -f "$T/frames.h5" -a "$T/mel.h5" -o "$T/features.h5"
ok $? "unsharded chain"
same_store() {  # same_store A.h5 B.h5: every dataset of both, equal
  $PY - "$1" "$2" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
def names(f):
    out = []
    f.visititems(lambda k, v: out.append(k) if isinstance(v, h5py.Dataset) else None)
    return sorted(out)
assert names(a) == names(b), (names(a), names(b))
for k in names(a):
    assert a[k].dtype == b[k].dtype and np.array_equal(a[k][()], b[k][()]), k
assert a["mel"].shape[0] == 12, a["mel"].shape
PYEOF
}

# ---- scripts/pipeline.mk: no silent corpus, `make -n` writes nothing
mkdir -p "$T/mk"
make -s -f scripts/pipeline.mk BIN="$RVT_BIN" OUT="$T/mk" features > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "CORPUS is not set" "$T/err" && [ -z "$(ls -A "$T/mk")" ]
ok $? "pipeline.mk without CORPUS nor index: exit $rc, $(head -c 120 "$T/err")"
make -n -f scripts/pipeline.mk BIN="$RVT_BIN" CORPUS="$T/corpus" OUT="$T/mk/o" SHARDS=3 features > "$T/n.out" 2>&1
[ $? -eq 0 ] && [ ! -e "$T/mk/o" ] && grep -q -- "--shard 2/3" "$T/n.out"
ok $? "make -n with CORPUS prints the shards' commands and writes nothing"
cp "$T/index.csv" "$T/mk/index.csv"
make -s -j2 -f scripts/pipeline.mk BIN="$RVT_BIN" OUT="$T/mk" SHARDS=2 JOBS=1 features && same_store "$T/mk/features.h5" "$T/features.h5"
ok $? "pipeline.mk without CORPUS takes an existing OUT/index.csv (2 shards = unsharded)"

scripts/slurm/submit.sh 2>/dev/null; [ $? -eq 2 ]; ok $? "submit.sh without arguments: usage, exit 2"
scripts/slurm/submit.sh --resume "$T/mk" 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no slurm.jobs" "$T/err"; ok $? "submit.sh --resume of a folder it did not make: exit $rc"

# ---- the cluster
t0=$SECONDS
if ! rvt_slurm_install || ! rvt_slurm_start "$T/slurm"; then
  skip "Slurm cannot start here: $RVT_SLURM_WHY"
  done_testing; exit
fi
ok 0 "one-node Slurm up in $((SECONDS - t0)) s ($(sinfo -h -o '%P %D node, %c CPUs, %t'))"
export RVT_BIN
opts=(--partition=rvt --cpus-per-task=1)

scripts/slurm/submit.sh -n 3 "$T/index.csv" "$T/run" "${opts[@]}" > "$T/submit.out" 2>&1 &&
  grep -q "(3 of 3 shards: 0-2)" "$T/submit.out"
ok $? "submit.sh -n 3: $(cat "$T/submit.out")"
rvt_slurm_wait "$T/run" 120; ok $? "the array and the merge finish"
ls "$T/run" | grep -c -- '-of-3\.h5$' | grep -qx 6; ok $? "3 frames and 3 mel shards"
same_store "$T/run/features.h5" "$T/features.h5"; ok $? "the merged store equals the unsharded one"
[ "$(ls "$T/run/logs" | grep -c '^extract-.*_[0-2]\.out$')" -eq 3 ] && ls "$T/run/logs" | grep -q '^pack-' &&
  [ -z "$(ls | grep '^rvt-.*\.out$')" ]
ok $? "Slurm's logs are in OUT/logs/ ($(ls "$T/run/logs" | paste -sd' ')), none in the submit folder"

# ---- a damaged clip fails one task; the merge waits forever
bad=$(ls "$T/corpus/Actor_02" | grep '\.mp4$' | sed -n 3p)
good=$(readlink "$T/corpus/Actor_02/$bad")
head -c 3000 "$good" > "$T/damaged.mp4"
ln -sfn "$T/damaged.mp4" "$T/corpus/Actor_02/$bad"
scripts/slurm/submit.sh -n 3 "$T/index.csv" "$T/out" "${opts[@]}" > "$T/submit.out" 2>&1
ok $? "submit.sh -n 3 with a damaged clip: $(cat "$T/submit.out")"
rvt_slurm_wait "$T/out" 120; rc=$?
pack=$(sed -n 's/^pack=//p' "$T/out/slurm.jobs")
array=$(sed -n 's/^array=//p' "$T/out/slurm.jobs")
reason=$(squeue -h -j "$pack" -o '%T %r')
[ $rc -eq 1 ] && [ "$reason" = "PENDING DependencyNeverSatisfied" ] && [ ! -e "$T/out/features.h5" ]
ok $? "the merge is stuck: $reason"
failed=$(squeue -h -r -t all -j "$array" -o '%K %T' | awk '$2 == "FAILED" {print $1}')
[ "$(echo "$failed" | wc -w)" -eq 1 ] && [ ! -e "$T/out/frames.$failed-of-3.h5" ] &&
  grep -q "$bad" "$T/out/logs/extract-${array}_$failed.out"
ok $? "task $failed failed, its shard is absent, its log names the clip: $(grep -m1 "$bad" "$T/out/logs/extract-${array}_$failed.out" | head -c 160)"
kept=$(for i in 0 1 2; do [ "$i" = "$failed" ] || stat -c '%n %Y %i' "$T/out/frames.$i-of-3.h5" "$T/out/mel.$i-of-3.h5"; done)

# ---- repaired, resumed
ln -sfn "$good" "$T/corpus/Actor_02/$bad"
scripts/slurm/submit.sh --resume "$T/out" --time=7 > "$T/resume.out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "cancelled the merge, job $pack" "$T/resume.out" &&
  grep -q "1 of 3 shards: $failed)" "$T/resume.out"
ok $? "submit.sh --resume: $(paste -sd' ' "$T/resume.out")"
[ "$(squeue -h -t all -j "$pack" -o %T)" = CANCELLED ]; ok $? "the stuck merge job $pack is cancelled"
new=$(sed -n 's/^array=//p' "$T/out/slurm.jobs" | tail -1)
[ "$(squeue -h -r -t all -j "$new" -o %K)" = "$failed" ] &&
  [ "$(squeue -h -t all -j "$new" -o '%P %l' | sort -u)" = "rvt 7:00" ]
ok $? "only shard $failed is resubmitted (job array $new), with the first submission's options and the new one"
rvt_slurm_wait "$T/out" 120; ok $? "the resubmitted shard and merge finish"
same_store "$T/out/features.h5" "$T/features.h5"; ok $? "the resumed store equals the unsharded one"
[ "$kept" = "$(for i in 0 1 2; do [ "$i" = "$failed" ] || stat -c '%n %Y %i' "$T/out/frames.$i-of-3.h5" "$T/out/mel.$i-of-3.h5"; done)" ]
ok $? "the shards that were there are not rewritten"
scripts/slurm/submit.sh --resume "$T/out" > "$T/resume.out" 2>&1
[ $? -eq 0 ] && grep -q "nothing to resume" "$T/resume.out"; ok $? "a second --resume: $(cat "$T/resume.out")"

# ---- a resume while tasks are queued refuses (never two tasks on one shard)
scripts/slurm/submit.sh -n 2 "$T/index.csv" "$T/held" "${opts[@]}" --hold > /dev/null 2>&1
scripts/slurm/submit.sh --resume "$T/held" > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "still queued or running" "$T/err"; ok $? "--resume while the array is queued: exit $rc, $(head -c 150 "$T/err")"
scancel $(sed -n 's/^\(array\|pack\)=//p' "$T/held/slurm.jobs")
done_testing
