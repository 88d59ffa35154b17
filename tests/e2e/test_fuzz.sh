#!/usr/bin/env bash
# Fuzzing smoke (CI): builds the libFuzzer targets of tests/fuzz (skips when clang
# or libFuzzer is missing), runs each from its seed corpus for FUZZ_SMOKE_SECONDS
# (default 4), then every kept crashing input of tests/fuzz/regress/T/ once.
# `make fuzz` is the long run.
cd "$(dirname "$0")/../.."
. tests/lib.sh
secs=${FUZZ_SMOKE_SECONDS:-4}
tmp=$(mktmp); trap 'rm -rf "$tmp"' EXIT

tests/fuzz/fuzz.sh build >"$tmp/build.log" 2>&1; rc=$?
if [ "$rc" -eq 77 ]; then
  echo "ok 1 - # SKIP $(tail -1 "$tmp/build.log")"; echo "1..1"; exit 0
fi
ok $rc "the fuzz targets build with clang -fsanitize=fuzzer,address,undefined$([ $rc -eq 0 ] || echo ": $(tail -3 "$tmp/build.log")")"
[ "$rc" -eq 0 ] || { done_testing; exit 1; }

for t in name index predictions config store; do
  mkdir -p "$tmp/$t" "$tmp/art-$t" "$tmp/files"
  if [ $t = store ] && [ -z "${RVT_FUZZ_STORE:-}" ]; then
    # libhdf5 1.10.8 crashes, hangs and leaks on random damaged stores within seconds,
    # and telling those from ours by the stack failed twice in CI this stop (fork mode,
    # stacks through a library without frame pointers): the random store run is left
    # to `make fuzz` (tests/fuzz/README.md) or RVT_FUZZ_STORE=1; its regression inputs
    # still replay below
    skip "fuzz_store's random run: libhdf5 crashes on random stores make a ${secs} s smoke flaky (RVT_FUZZ_STORE=1 runs it; make fuzz)"
  else
    TMPDIR=$tmp/files build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" $(tests/fuzz/fuzz.sh opts $t) \
    -artifact_prefix="$tmp/art-$t/" "$tmp/$t" tests/fuzz/corpus/$t >"$tmp/$t.log" 2>&1
  rc=$?
  runs=$(grep -oE '^#[0-9]+' "$tmp/$t.log" | tail -1 | tr -d '#')
  # store: libhdf5's own hangs and crashes are known (tests/fuzz/README.md); ours fail
  bad=$(find "$tmp/art-$t" -type f ! -name 'timeout-*' -print0 | xargs -0r tests/fuzz/fuzz.sh triage $t |
        grep -v '^libhdf5' || true)
  [ $t = store ] || bad+=$(find "$tmp/art-$t" -type f -name 'timeout-*')
  { [ "$rc" -eq 0 ] || [ $t = store ]; } && [ -z "$bad" ]
  ok $? "fuzz_$t runs ${secs} s without a crash (${runs:-0} runs)$([ $rc -eq 0 ] || echo ": $(grep -m1 -E 'ERROR|invariant' "$tmp/$t.log")")"
  fi
  n=$(find tests/fuzz/regress/$t -type f 2>/dev/null | wc -l)
  if [ "$n" -gt 0 ]; then
    tests/fuzz/fuzz.sh regress $t 2>"$tmp/regress-$t.log"
    ok $? "fuzz_$t passes its $n regression inputs$(head -c 300 "$tmp/regress-$t.log")"
  fi
done
done_testing
