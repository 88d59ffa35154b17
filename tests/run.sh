#!/usr/bin/env bash
# Runs every test and prints one closing line "N passed, N failed".
#   unit:   $RVT_BUILD/tests/test_*   (TAP)
#   e2e:    tests/e2e/*.sh            (TAP)
#   parity: tests/parity/test_*.py    (pytest, against torch/h5py/sklearn/...)
# A test program that exits non-zero without printing "not ok" counts one failure.
# RVT_TESTS=pattern runs only the files whose name contains it.
set -u
cd "$(dirname "$0")/.."
: "${RVT_BIN:=$(pwd)/bin}" "${RVT_BUILD:=$(pwd)/build}"
export RVT_BIN RVT_BUILD RVT_ROOT=$(pwd)
# ../shared (beside the clone in CI) holds the real librosa outputs
if [ -z "${RVT_SHARED:-}" ]; then
  if [ -d ../shared/librosa-ref ]; then RVT_SHARED=$(cd ../shared && pwd); else RVT_SHARED=/work/shared; fi
fi
export RVT_SHARED
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$RVT_BUILD/test-logs
mkdir -p "$logdir"
pass=0 fail=0 failed_names=()

count_tap() {  # count_tap NAME LOG RC
  local p f
  p=$(grep -cE '^ok [0-9]+' "$2")
  f=$(grep -cE '^not ok [0-9]+' "$2")
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  [ "$f" -eq 0 ] || failed_names+=("$1")
  printf '%-44s %3d passed, %d failed%s\n' "$1" "$p" "$f" "$([ "$f" -eq 0 ] || echo "   (log: $2)")"
}

want() { [ -z "${RVT_TESTS:-}" ] || [[ "$1" == *"$RVT_TESTS"* ]]; }

for t in "$RVT_BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  n=unit/$(basename "$t"); want "$n" || continue
  log=$logdir/$(basename "$t").log
  "$t" >"$log" 2>&1; count_tap "$n" "$log" $?
done

for t in tests/e2e/*.sh; do
  [ -f "$t" ] || continue
  n=e2e/$(basename "$t" .sh); want "$n" || continue
  log=$logdir/e2e-$(basename "$t" .sh).log
  bash "$t" >"$log" 2>&1; count_tap "$n" "$log" $?
done

for t in tests/parity/test_*.py; do
  [ -f "$t" ] || continue
  n=parity/$(basename "$t" .py); want "$n" || continue
  log=$logdir/parity-$(basename "$t" .py).log
  /usr/bin/python3 -m pytest -q -p no:cacheprovider "$t" >"$log" 2>&1; rc=$?
  s=$(grep -E '^=*.*(passed|failed|error)' "$log" | tail -1)
  p=$(echo "$s" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
  f=$(echo "$s" | grep -oE '[0-9]+ (failed|error)' | awk '{s+=$1} END {print s+0}')
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  [ "$f" -eq 0 ] || failed_names+=("$n")
  printf '%-44s %3d passed, %d failed%s\n' "$n" "$p" "$f" "$([ "$f" -eq 0 ] || echo "   (log: $log)")"
done

if [ ${#failed_names[@]} -gt 0 ]; then
  echo
  for n in "${failed_names[@]}"; do
    echo "--- failures in $n:"
    case $n in
      unit/*) grep -E '^not ok' "$logdir/${n#unit/}.log" | head -20 ;;
      e2e/*) grep -E '^not ok' "$logdir/e2e-${n#e2e/}.log" | head -20; tail -5 "$logdir/e2e-${n#e2e/}.log" ;;
      parity/*) grep -E '^(FAILED|ERROR|E )' "$logdir/parity-${n#parity/}.log" | head -20 ;;
    esac
  done
fi
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
