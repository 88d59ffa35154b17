#!/usr/bin/env bash
# Write faults at any byte, for every tool that writes: an LD_PRELOAD shim
# (build/tests/libwfault.so, tests/faults/wfault.c) makes write/pwrite/writev on
# regular files fail with ENOSPC or EIO after N bytes, swept over N; then a tiny
# tmpfs swept over its size (skipped with the reason when mount is not permitted).
# Each case: no crash (no signal exit), exit 1 (or 0 when the fault comes after
# the last byte, then the output is whole), a message naming the output, no
# temporary left, inputs untouched (tests/lib.sh stamp).
set -u
. "$(dirname "$0")/../lib.sh"
need_sample
T=$(mktmp)
MNT=$T/mnt
trap 'mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"; rm -rf "$T"' EXIT
SHIM=${RVT_BUILD:-$RVT_ROOT/build}/tests/libwfault.so
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"
# an ASan tool refuses a preloaded library that is not its runtime; let it be
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"

cd "$T" || exit 1
F=-F; run-model --help | grep -q -- '-F, ' || F=-i  # -F once the runner lands it
ravdess-index "$SAMPLE" -o all.csv -q && head -4 all.csv >index.csv &&
  extract-frames index.csv -o frames.h5 -q && extract-mel index.csv -o mel.h5 -q &&
  pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o features.h5 -q &&
  $PY "$FIX" model model.h5 && run-model -m model.h5 $F features.h5 -o pred.csv -q
ok $? "fixtures: a 3-clip index, stores, a model and predictions"
[ -f "$SHIM" ]; ok $? "the shim is built ($SHIM)"
INPUTS="index.csv frames.h5 mel.h5 features.h5 model.h5 pred.csv"

# fault_case OUTDIR LABEL OUTPUT CMD...  (OUTPUT: the file named in the message)
fault_case() {
  local dir=$1 label=$2 out=$3; shift 3
  local before after rc left why=""
  before=$(stamp $INPUTS)
  rm -rf "${dir:?}"/* 2>/dev/null
  "$@" >/dev/null 2>"$T/err"; rc=$?
  after=$(stamp $INPUTS)
  left=$(find "$dir" -name '.*.tmp-*' 2>/dev/null)
  if [ "$rc" -ge 128 ]; then why+=" killed by signal $((rc - 128));"
  elif [ "$rc" -eq 0 ]; then [ -s "$dir/$(basename "$out")" ] || why+=" exit 0 but no output;"
  elif [ "$rc" -ne 1 ]; then why+=" exit $rc (want 1);"
  else
    grep -Eq -- "${NAMES:-$(basename "$out")}" "$T/err" || why+=" message does not name ${NAMES:-$(basename "$out")}: $(head -c 200 "$T/err");"
    grep -Eqi "no space|input/output error|cannot" "$T/err" || why+=" message gives no reason;"
    [ ! -e "$dir/$(basename "$out")" ] || why+=" a file under the final name;"
  fi
  [ -z "$left" ] || why+=" left $left;"
  [ "$before" = "$after" ] || why+=" an input changed;"
  [ "$rc" -ge 128 ] && echo "# crash: $label" >>"$T/crashes"
  if [ -z "$why" ]; then ok 0 "$label (exit $rc)"; else ok 1 "$label:$why"; fi
}

# tool_cmd TOOL OUTDIR: prints the output path on line 1 and sets CMD
tool_cmd() {
  local o=$2
  NAMES=
  case $1 in
    ravdess-index)  OUT=$o/index.csv;  CMD=(ravdess-index "$SAMPLE" -o "$OUT" -q) ;;
    extract-frames) OUT=$o/frames.h5;  CMD=(extract-frames index.csv -o "$OUT" -q) ;;
    extract-mel)    OUT=$o/mel.h5;     CMD=(extract-mel index.csv -o "$OUT" -q) ;;
    pack-h5)        OUT=$o/features.h5; CMD=(pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o "$OUT" -q) ;;
    run-model)      OUT=$o/pred.csv;   CMD=(run-model -m model.h5 $F features.h5 -o "$OUT" -q) ;;
    quantize-model) OUT=$o/int8.h5;    CMD=(quantize-model model.h5 -o "$OUT" -q) ;;
    score)          OUT=$o/metrics.csv; CMD=(score pred.csv -o "$o" -q); NAMES='metrics.csv|confusion.csv|confusion.svg' ;;
  esac
}
TOOLS="ravdess-index extract-frames extract-mel pack-h5 run-model quantize-model score"

mkdir -p "$T/o"
for tool in $TOOLS; do
  for n in 0 1 100 1000 4096 20000 100000 1000000 4000000; do
    for e in ENOSPC EIO; do
      [ "$e" = EIO ] && [ "$n" -ne 1000 ] && continue
      tool_cmd "$tool" "$T/o"
      fault_case "$T/o" "shim $tool: $e after $n bytes" "$OUT" \
        env LD_PRELOAD="$SHIM" WFAULT_BYTES=$n WFAULT_ERRNO=$e "${CMD[@]}"
    done
  done
done

mkdir -p "$MNT"
if ! mount -t tmpfs -o size=4k tmpfs "$MNT" 2>"$T/merr"; then
  echo "ok $((_tap_n + 1)) - # SKIP tmpfs sweep: mount not permitted ($(head -c 100 "$T/merr"))"
  _tap_n=$((_tap_n + 1))
else
  umount "$MNT"
  for tool in $TOOLS; do
    for k in 4 16 64 256 1024 4096; do
      mount -t tmpfs -o size=${k}k tmpfs "$MNT" || continue
      tool_cmd "$tool" "$MNT"
      fault_case "$MNT" "tmpfs ${k}k: $tool" "$OUT" "${CMD[@]}"
      umount "$MNT"
    done
  done
fi
[ ! -s "$T/crashes" ]; ok $? "no tool crashed ($(cat "$T/crashes" 2>/dev/null | tr '\n' ' '))"
done_testing
