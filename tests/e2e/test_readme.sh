#!/usr/bin/env bash
# The README's "One chain" block runs as written, copy-pasted, in a folder laid out
# like a fresh clone, and leaves every output it promises.  The folder links the
# repository's scripts/ and the already built bin/ and data/sample/, and `make` /
# `make sample` are stood in for by a function that only accepts those two calls
# (make test has just built the tools and the sample corpus; rebuilding them here
# would take minutes and test the Makefile, not the README).  Its data/sample holds
# repetition 1 of every clip of the sample corpus (symlinks): all 4 actors (train, val
# and test splits), every emotion, intensity and statement, clips with and without
# an edit-list pre-roll, 60 training clips (several batches, the last one partial);
# half the clips halve the block's time, mostly train.py's EfficientNet passes.
. tests/lib.sh
need_sample
root=$(cd "${RVT_ROOT:-.}" && pwd)
T=$(mktmp)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT

awk '/^## One chain/ {on = 1; next} on && /^```sh/ {code = 1; next}
     code && /^```/ {exit} code {print}' "$root/README.md" >"$T/chain.sh"
[ -s "$T/chain.sh" ] && grep -q '^score ' "$T/chain.sh"
ok $? "README.md has the One chain block ($(wc -l <"$T/chain.sh") lines)"

mkdir -p "$T/clone/data"
ln -s "$RVT_BIN" "$T/clone/bin"
ln -s "$root/scripts" "$T/clone/scripts"
for a in "$root"/data/sample/Actor_*; do
  mkdir -p "$T/clone/data/sample/${a##*/}"
  ln -s "$a"/0[13]-01-*-01-??.* "$T/clone/data/sample/${a##*/}/"
done
n=$(find "$T/clone/data/sample" -name '*-01-??.mp4' | wc -l)
[ "$n" -eq 120 ] && [ "$(find "$T/clone/data/sample" -name '*.wav' | wc -l)" -eq 120 ]
ok $? "the clone's data/sample: repetition 1 of the sample corpus ($n mp4 + wav, symlinked)"
cat >"$T/run.sh" <<'EOS'
set -e
make() {
  case "$*" in
    ""|sample) [ -x bin/ravdess-index ] && [ -d data/sample ] ;;
    *) echo "README block calls 'make $*': not stood in for" >&2; return 1 ;;
  esac
}
PATH=/usr/local/bin:/usr/bin:/bin   # only what a fresh shell has: the block adds bin/
EOS
cat "$T/chain.sh" >>"$T/run.sh"
( cd "$T/clone" && bash "$T/run.sh" ) >"$T/out" 2>&1; rc=$?
ok $rc "the block runs as written (exit $rc: $(tail -3 "$T/out" | tr '\n' ' ' | head -c 400))"
for f in index.csv frames.h5 mel.h5 features.h5 model.h5 predictions.csv report/metrics.csv \
         report/confusion.csv report/confusion.svg; do
  [ -s "$T/clone/$f" ]; ok $? "it writes $f"
done
[ ! -e "$T/clone/model.h5.h5" ]; ok $? "train.py -o model.h5 writes model.h5, not model.h5.h5"
n=$(awk -F, 'NR > 1' "$T/clone/predictions.csv" | wc -l)
t=$(awk -F, 'NR > 1 && $12 == "test"' "$T/clone/index.csv" | wc -l)
[ "$n" -gt 0 ] && [ "$n" -eq "$t" ]; ok $? "predictions for every test clip ($n of $t)"
done_testing
