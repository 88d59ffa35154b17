#!/usr/bin/env bash
# tests/fuzz/fuzz.sh: builds and runs the libFuzzer targets (tests/fuzz/README.md).
#   fuzz.sh build            the targets into build-fuzz/fuzz/ (exit 77: no clang/libFuzzer)
#   fuzz.sh run [TARGET...]  each target for $FUZZ_SECONDS (default 300); prints per target
#                            runs, coverage, crashes (artifacts in build-fuzz/crashes/T/)
#   fuzz.sh regress [T...]   every file of tests/fuzz/regress/T/ once
#   fuzz.sh opts T           the libFuzzer options of target T
#   fuzz.sh triage T FILE... whether each crashing input dies in libhdf5 or in our code
# The library is built with clang -fsanitize=fuzzer-no-link,address,undefined into
# build-fuzz/ (only lib/core, ravdess, eval and store: what the targets link).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGETS=(name index predictions config store)
B=build-fuzz
CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
  for c in clang-14 clang; do command -v "$c" >/dev/null 2>&1 && { CC=$c; break; }; done
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

build() {
  if [ -z "$CC" ]; then echo "fuzz: no clang (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 77; fi
  if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
       "$CC" -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
    echo "fuzz: $CC cannot link libFuzzer (apt-get install libclang-rt-14-dev)" >&2; exit 77
  fi
  local mk=(make --no-print-directory -s BUILD=$B CC="$CC" OPT=-O1
            CFLAGS="-O1 -g -Wno-unknown-warning-option" SAN="-fsanitize=fuzzer-no-link $SAN")
  local objs
  objs=$(find lib/core lib/ravdess lib/eval lib/store -name '*.c' | sort | sed "s|^|$B/|; s|\.c$|.o|")
  "${mk[@]}" -j"${FUZZ_JOBS:-2}" $objs $B/gen/default_config.o
  eval "$("${mk[@]}" --eval 'print-%: ; @echo "$*=\"$($*)\""' print-PKG_CFLAGS print-PKG_LIBS)"
  rm -f $B/librvt-fuzz.a
  ar rcs $B/librvt-fuzz.a $objs $B/gen/default_config.o
  mkdir -p $B/fuzz
  for t in "${TARGETS[@]}"; do
    "$CC" -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wstrict-prototypes -Wvla \
      -Wno-unused-parameter -fsanitize=fuzzer $SAN -Ilib -Itests/fuzz $PKG_CFLAGS \
      tests/fuzz/fuzz_$t.c $B/librvt-fuzz.a $PKG_LIBS -o $B/fuzz/fuzz_$t
  done
}

opts() {  # opts TARGET: the libFuzzer options of a target
  local t=$1 o=(-rss_limit_mb=2048 -print_final_stats=1)
  [ "$t" = store ] || o+=(-timeout=10)
  [ -f tests/fuzz/$t.dict ] && o+=(-dict=tests/fuzz/$t.dict)
  # store: libhdf5 (1.10) can loop forever on a damaged file
  # and crash in H5HG_read (tests/fuzz/README.md); fork mode notes those and goes on,
  # `fuzz.sh triage` tells them from crashes in our code
  [ "$t" = store ] && o+=(-max_len=65536 -fork=1 -ignore_timeouts=1 -ignore_crashes=1 -timeout=3) ||
    o+=(-max_len=8192)
  echo "${o[@]}"
}

run() {
  local secs=${FUZZ_SECONDS:-300} t
  [ $# -gt 0 ] || set -- "${TARGETS[@]}"
  printf '%-12s %8s %10s %10s %8s %8s %8s  %s\n' target seconds cpu_s runs cov ft known crashes
  for t in "$@"; do
    local work=$B/corpus/$t art=$B/crashes/$t/ log=$B/fuzz-$t.log
    mkdir -p "$work" "$art"
    # tests/fuzz/corpus stays the small seed set; what the run finds goes to build-fuzz
    rm -rf "$B/tmp-$t"; mkdir -p "$B/tmp-$t"
    TMPDIR=$PWD/$B/tmp-$t /usr/bin/time -f '%e %U %S' -o $B/time-$t \
      $B/fuzz/fuzz_$t $(opts $t) -max_total_time="$secs" -artifact_prefix="$art" \
      "$work" tests/fuzz/corpus/$t >"$log" 2>&1 || true
    rm -rf "$B/tmp-$t" # what crashed children left
    local runs cov ft crashes known wall cpu
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' ||
           grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    # crashes: in our code; known: libhdf5 timeouts and crashes (store)
    crashes=$(find "$art" -type f ! -name 'timeout-*' -print0 | xargs -0r tests/fuzz/fuzz.sh triage "$t" |
              grep -c '^ours' || true)
    known=$(( $(find "$art" -type f | wc -l) - crashes ))
    [ "$t" = store ] || { crashes=$((crashes + known)); known=0; }
    read -r wall u s < <(tail -1 $B/time-$t)
    cpu=$(echo "$u + $s" | bc)
    printf '%-12s %8s %10s %10s %8s %8s %8s  %s\n' "$t" "$wall" "$cpu" "${runs:-0}" "$cov" "$ft" "$known" \
      "$crashes$([ "$crashes" -eq 0 ] || echo " ($art, log $log)")"
  done
}

regress() {
  local t f rc=0
  [ $# -gt 0 ] || set -- "${TARGETS[@]}"
  for t in "$@"; do
    for f in tests/fuzz/regress/$t/*; do
      [ -f "$f" ] || continue
      $B/fuzz/fuzz_$t $(opts $t) "$f" >/dev/null 2>&1 || { echo "fuzz: $t fails on $f" >&2; rc=1; }
    done
  done
  return $rc
}

triage() {  # triage T FILE...: prints "libhdf5 FILE" or "ours FILE" for each crashing input
  # by the first stack frame outside the sanitizer and fuzzer runtimes; a timeout of
  # store counts as libhdf5's (our readers have no unbounded loop; the one seen is H5HG_read)
  local t=$1 f top; shift
  for f in "$@"; do
    if [ "$t" = store ] && [[ $(basename "$f") == timeout-* ]]; then echo "libhdf5 $f"; continue; fi
    # a store input that runs clean alone (a leak libhdf5 shows once) counts as libhdf5's
    if [ "$t" = store ] && timeout 20 $B/fuzz/fuzz_$t "$f" >/dev/null 2>&1; then
      echo "libhdf5 $f"; continue
    fi
    top=$(timeout 20 $B/fuzz/fuzz_$t "$f" 2>&1 | grep -E '^ *#[0-9]+ ' |
          grep -vE ' in (__interceptor_|__sanitizer|__asan|__ubsan|fuzzer::|malloc|calloc|realloc|free|strdup|raise|abort|__pthread_kill|__libc_)' |
          grep -vE 'libc\.so|\(/usr/lib/llvm' | head -1 || true)
    # ours: a frame of our code (statically linked into the target: a source line of
    # lib/ or tests/fuzz/, or an unsymbolised offset in the target); anything else is a
    # frame libhdf5 called (zlib) or the unwinder's guess through libhdf5, which is
    # built without frame pointers (a CI run saw such a leak once in 4 s)
    case $top in
      *libhdf5*) echo "libhdf5 $f" ;;
      *"fuzz_$t+0x"* | */lib/*/*.c:* | */tests/fuzz/*.c:*) echo "ours $f" ;;
      *) echo "libhdf5 $f" ;;
    esac
  done
}

cmd=${1:-run}; shift || true
case $cmd in
  build) build ;;
  run) build; run "$@" ;;
  regress) regress "$@" ;;
  opts) opts "$1" ;;
  triage) triage "$@" ;;
  *) echo "usage: $0 build | run [TARGET...] | regress [TARGET...]" >&2; exit 2 ;;
esac
