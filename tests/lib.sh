# Shell helpers for tests/e2e/*.sh: TAP output and common checks.
# Source it; RVT_BIN points at the tools (bin/ or build-asan/bin/).
: "${RVT_BIN:=$(pwd)/bin}"
PATH="$RVT_BIN:$PATH"
PY=/usr/bin/python3
_tap_n=0
_tap_failed=0
ok() {  # ok CONDITION-EXIT-CODE DESCRIPTION  (use: cmd; ok $? "what")
  _tap_n=$((_tap_n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
check() {  # check DESCRIPTION CMD...   runs CMD, passes when it exits 0
  local d=$1; shift
  "$@" >/dev/null 2>&1; ok $? "$d"
}
expect_exit() {  # expect_exit CODE DESCRIPTION CMD...
  local code=$1 d=$2; shift 2
  "$@" >/dev/null 2>&1; local rc=$?
  [ "$rc" -eq "$code" ]; ok $? "$d (exit $rc, want $code)"
}
skip() {  # skip REASON: one test not run, and why (run.sh counts it as skipped)
  _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - # SKIP $1"
}
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }
mktmp() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/rvt-test.XXXXXX"); echo "$d"; }
need_sample() {  # sets SAMPLE to the sample corpus, or skips the whole test (TAP) when it is absent
  SAMPLE=${RVT_ROOT:-.}/data/sample
  if [ ! -d "$SAMPLE/Actor_01" ]; then
    echo "ok 1 - # SKIP no sample corpus (run make sample)"; echo "1..1"; exit 0
  fi
}
# bad_case CODE PATTERN DESC CMD...: one bad-input case.  Passes when CMD exits CODE,
# its stderr matches the extended regex PATTERN (name the file and the reason), no
# temporary ('.*.tmp-*') is left in the folders of $BAD_DIRS (default: .), and no
# file of $BAD_INPUTS (space-separated) was touched: same inode, size, modification and
# status-change times to the nanosecond (any write, truncation, rename-over or chmod
# changes one of them; hashing instead took 95 of test_bad_store's 107 s).
# stamp FILE...: what bad_case and test_write_faults compare to show an input untouched
stamp() { stat -c '%n %i %s %.9Y %.9Z' "$@" 2>/dev/null; }
bad_case() {
  local code=$1 pat=$2 d=$3; shift 3
  local f before="" after="" left="" rc
  [ -z "${BAD_INPUTS:-}" ] || before=$(stamp ${BAD_INPUTS})
  "$@" >/dev/null 2>"${TMPDIR:-/tmp}/rvt-bad.$$"; rc=$?
  [ -z "${BAD_INPUTS:-}" ] || after=$(stamp ${BAD_INPUTS})
  for f in ${BAD_DIRS:-.}; do left+=$(find "$f" -maxdepth 1 -name '.*.tmp-*' 2>/dev/null); done
  local why=""
  [ "$rc" -eq "$code" ] || why+=" exit $rc (want $code);"
  grep -Eq -- "$pat" "${TMPDIR:-/tmp}/rvt-bad.$$" || why+=" stderr does not match /$pat/: $(head -c 200 "${TMPDIR:-/tmp}/rvt-bad.$$");"
  [ -z "$left" ] || why+=" left $left;"
  [ "$before" = "$after" ] || why+=" an input changed;"
  rm -f "${TMPDIR:-/tmp}/rvt-bad.$$"
  if [ -z "$why" ]; then ok 0 "$d"; else ok 1 "$d:$why"; fi
}
