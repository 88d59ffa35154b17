#!/usr/bin/env bash
# Runs every test and prints one closing line "N passed, N failed, N skipped".
#   unit:   $RVT_BUILD/tests/test_*   (TAP)
#   e2e:    tests/e2e/*.sh            (TAP)
#   parity: tests/parity/test_*.py    (pytest, against torch/h5py/sklearn/...)
# TAP "ok N - # SKIP reason" (any case, number optional) and a whole-file plan
# "1..0 # SKIP reason" count as skipped, not passed; pytest's skips likewise.  Each
# skip's reason is printed under its file's line.  A test program that exits non-zero
# without printing "not ok", or prints no result at all, counts one failure.
# Each file's line ends with its wall time and CPU time (user + sys, all its processes).  RVT_TEST_JOBS files run at once (default
# 2: most files are single-threaded Python or shell); the slowest known files start
# first, and each file's line prints when it finishes.
# RVT_TESTS="pat1 pat2 ..." runs only the files whose name (unit/test_x, e2e/test_x,
# parity/test_x) contains one of the patterns; RVT_TESTS_EXCLUDE="name ..." leaves out
# the files of exactly these names (e.g. parity/test_model, not test_model_ops).
# RVT_SHARED names a folder of reference data (librosa-ref/); when unset it is ../shared
# beside the repository if that holds librosa-ref/, else unset, and the tests that need
# it skip and say so.
set -u
cd "$(dirname "$0")/.."
: "${RVT_BIN:=$(pwd)/bin}" "${RVT_BUILD:=$(pwd)/build}"
export RVT_BIN RVT_BUILD RVT_ROOT=$(pwd)
if [ -z "${RVT_SHARED:-}" ] && [ -d ../shared/librosa-ref ]; then
  RVT_SHARED=$(cd ../shared && pwd)
fi
if [ -n "${RVT_SHARED:-}" ]; then export RVT_SHARED; else unset RVT_SHARED; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$RVT_BUILD/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed_names=()

# report NAME LOG PASSED FAILED SKIPPED REASONS: adds to the totals, prints the line
report() {
  pass=$(($pass + $3)); fail=$(($fail + $4)); skip=$(($skip + $5))
  [ "$4" -eq 0 ] || failed_names+=("$1")
  printf '%-44s %3d passed, %d failed, %d skipped %6.1f s (cpu %5.1f s)%s\n' "$1" "$3" "$4" "$5" \
    "$elapsed" "${cpu:-0}" \
    "$([ "$4" -eq 0 ] || echo "   (log: $2)")"
  [ -z "$6" ] || printf '%s\n' "$6" | sed 's/^/    skip: /'
}

count_tap() {  # count_tap NAME LOG RC
  local p f s reasons
  # "ok", optional number, then a "# SKIP" directive anywhere after it
  reasons=$(grep -iE '^ok( [0-9]+)?( |$).*#[[:space:]]*skip' "$2" |
            sed -E 's/^ok( [0-9]+)?[[:space:]]*(-[[:space:]]*)?//; s/#[[:space:]]*[Ss][Kk][Ii][Pp][[:space:]]*//')
  s=$(grep -ciE '^ok( [0-9]+)?( |$).*#[[:space:]]*skip' "$2")
  p=$(( $(grep -cE '^ok( [0-9]+)?( |$)' "$2") - s ))
  f=$(grep -cE '^not ok( [0-9]+)?( |$)' "$2")
  if grep -qiE '^1\.\.0[[:space:]]*#[[:space:]]*skip' "$2"; then  # the whole file skipped
    s=$((s + 1))
    reasons+=$'\n'$(grep -iE '^1\.\.0[[:space:]]*#[[:space:]]*skip' "$2" | head -1 |
                    sed -E 's/^1\.\.0[[:space:]]*#[[:space:]]*[Ss][Kk][Ii][Pp][[:space:]]*//')
    reasons=${reasons#$'\n'}
  fi
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ $((p + f + s)) -eq 0 ]; then f=1; echo "not ok - no test result at all (a test must assert)" >>"$2"; fi
  report "$1" "$2" "$p" "$f" "$s" "$reasons"
}

count_pytest() {  # count_pytest NAME LOG RC
  local sum p f s reasons
  sum=$(grep -E '^=*.*[0-9]+ (passed|failed|error|errors|skipped)' "$2" | tail -1)
  p=$(echo "$sum" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
  f=$(echo "$sum" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
  s=$(echo "$sum" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || true)
  p=${p:-0}; s=${s:-0}
  # -rs lists "SKIPPED [n] file:line: reason"
  reasons=$(grep -E '^SKIPPED' "$2" | sed -E 's/^SKIPPED \[([0-9]+)\] [^ ]*: /(\1x) /; s/^\(1x\) //')
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # 5: no test collected
  report "$1" "$2" "$p" "$f" "$s" "$reasons"
}

want() {
  local pat
  for pat in ${RVT_TESTS_EXCLUDE:-}; do [ "$1" = "$pat" ] && return 1; done
  [ -z "${RVT_TESTS:-}" ] && return 0
  for pat in $RVT_TESTS; do [[ "$1" == *"$pat"* ]] && return 0; done
  return 1
}

# The files to run: "NAME KIND PATH LOG" lines, the slow ones first (so that two
# workers finish together), then the rest in their usual order.
SLOW_FIRST="e2e/test_sample_dataset parity/test_train parity/test_model e2e/test_fuzz
  parity/test_frames e2e/test_pack e2e/test_readme parity/test_int8 e2e/test_chain e2e/test_slurm
  e2e/test_write_faults parity/test_train_init parity/test_onnx parity/test_store e2e/test_bad_store e2e/test_bad_io"
list=()
for t in "$RVT_BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  n=unit/$(basename "$t"); want "$n" && list+=("$n unit $t $logdir/$(basename "$t").log")
done
for t in tests/e2e/*.sh; do
  [ -f "$t" ] || continue
  n=e2e/$(basename "$t" .sh); want "$n" && list+=("$n e2e $t $logdir/e2e-$(basename "$t" .sh).log")
done
for t in tests/parity/test_*.py; do
  [ -f "$t" ] || continue
  n=parity/$(basename "$t" .py); want "$n" && list+=("$n parity $t $logdir/parity-$(basename "$t" .py).log")
done
ordered=()
for s in $SLOW_FIRST; do
  for e in "${list[@]}"; do [ "${e%% *}" = "$s" ] && ordered+=("$e"); done
done
for e in "${list[@]}"; do
  case " $(echo $SLOW_FIRST) " in *" ${e%% *} "*) ;; *) ordered+=("$e") ;; esac
done

# run_one KIND PATH LOG: runs one file; its exit code and wall time go to LOG.rc
run_one() {
  local t0 rc
  t0=$(date +%s.%N)
  case $1 in
    unit) "$2" >"$3" 2>&1 ;;
    e2e) bash "$2" >"$3" 2>&1 ;;
    parity) /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider "$2" >"$3" 2>&1 ;;
  esac
  rc=$?
  # wall time, and the CPU time (user + sys) of the file's processes: the second line
  # of `times` ("XmY.YYYs XmY.YYYs") in this subshell, which runs nothing else
  # (redirected, not piped: a pipe would run `times` in a new process)
  times >"$3.times"
  echo "$rc $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')" \
       "$(sed -n 2p "$3.times" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m");
            s += p[1] * 60 + p[2] } print s }')" >"$3.rc"
  rm -f "$3.times"
}

# collect ENTRY: counts a finished file and prints its line
collect() {
  local n kind path log rc
  read -r n kind path log <<<"$1"
  read -r rc elapsed cpu <"$log.rc" || { rc=1 elapsed=0 cpu=0; }
  rm -f "$log.rc"
  case $kind in
    parity) count_pytest "$n" "$log" "$rc" ;;
    *) count_tap "$n" "$log" "$rc" ;;
  esac
}

# RVT_TEST_JOBS files at a time (default 2); lines print as files finish
jobs_max=${RVT_TEST_JOBS:-2}
declare -A running=()
reap() {  # waits for one running file to finish and collects it
  local done_pid= p
  if ! wait -n -p done_pid 2>/dev/null && [ -z "$done_pid" ]; then
    for p in "${!running[@]}"; do collect "${running[$p]}"; unset "running[$p]"; done
    return
  fi
  [ -n "${running[$done_pid]:-}" ] || return 0
  collect "${running[$done_pid]}"; unset "running[$done_pid]"
}
for e in "${ordered[@]}"; do
  while [ ${#running[@]} -ge "$jobs_max" ]; do
    reap
  done
  read -r n kind path log <<<"$e"
  rm -f "$log.rc"
  run_one "$kind" "$path" "$log" &
  running[$!]=$e
done
while [ ${#running[@]} -gt 0 ]; do
  reap
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
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
