#!/usr/bin/env bash
# tests/run.sh itself: it counts TAP and pytest passes, failures and skips apart, prints
# each skip's reason, takes several RVT_TESTS patterns, and ends with the summary line.
. tests/lib.sh
T=$(mktmp)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
root=$(pwd)

# fake unit tests in a fake build folder
mkdir -p "$T/build/tests"
cat >"$T/build/tests/test_fake_a" <<'EOF'
#!/bin/sh
echo "ok 1 - one"
echo "ok 2 - # SKIP no frobnicator here"
echo "ok 3 # skip lower case, no dash"
echo "not ok 4 - broken"
echo "ok - unnumbered"
echo "1..5"
exit 1
EOF
cat >"$T/build/tests/test_fake_b" <<'EOF'
#!/bin/sh
echo "1..0 # SKIP nothing to do on this machine"
EOF
cat >"$T/build/tests/test_fake_c" <<'EOF'
#!/bin/sh
echo "ok 1 - fine"
echo "1..1"
exit 2
EOF
cat >"$T/build/tests/test_other" <<'EOF'
#!/bin/sh
echo "ok 1 - should not run"
EOF
cat >"$T/build/tests/test_fake_d" <<'EOF'
#!/bin/sh
echo "# timing: 3 ms"
EOF
chmod +x "$T"/build/tests/*

RVT_BUILD=$T/build RVT_TESTS="unit/test_fake_a unit/test_fake_b" tests/run.sh >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 "$T/out")" = "2 passed, 1 failed, 3 skipped" ]
ok $? "TAP: passes, failures and skips counted apart over two patterns (exit $rc, $(tail -1 "$T/out"))"
grep -q '^    skip: no frobnicator here$' "$T/out" && grep -q '^    skip: lower case, no dash$' "$T/out" &&
  grep -q '^    skip: nothing to do on this machine$' "$T/out"
ok $? "each skip's reason is printed, a 1..0 plan's too"
! grep -q test_other "$T/out" && ! grep -q test_fake_c "$T/out"
ok $? "files matching no pattern do not run"
RVT_BUILD=$T/build RVT_TESTS=unit/test_fake RVT_TESTS_EXCLUDE="unit/test_fake_a unit/test_fake_c unit/test_fake_d unit/test_fake" tests/run.sh >"$T/out" 2>&1
grep -q test_fake_b "$T/out" && ! grep -qE 'test_fake_[acd]' "$T/out"
ok $? "RVT_TESTS_EXCLUDE leaves out the files it names, exactly"

RVT_BUILD=$T/build RVT_TESTS=unit/test_fake_c tests/run.sh >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 "$T/out")" = "1 passed, 1 failed, 0 skipped" ]
ok $? "a non-zero exit without 'not ok' is one failure ($(tail -1 "$T/out"))"

RVT_BUILD=$T/build RVT_TESTS=unit/test_fake_d tests/run.sh >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 "$T/out")" = "0 passed, 1 failed, 0 skipped" ]
ok $? "a program that asserts nothing fails ($(tail -1 "$T/out"))"

# pytest: a fake repository holding one parity file, so the real ones do not run
mkdir -p "$T/repo/tests/parity" "$T/repo/tests/e2e"
cp tests/run.sh "$T/repo/tests/"
cat >"$T/repo/tests/parity/test_fake.py" <<'EOF'
import pytest
def test_a(): assert True
def test_b(): assert False
@pytest.mark.skip(reason='no widget attached')
def test_c(): pass
def test_d(): pytest.skip('runtime reason')
EOF
mkdir -p "$T/empty/tests"
RVT_TESTS= RVT_BUILD=$T/empty RVT_SHARED=/nonexistent "$T/repo/tests/run.sh" >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 "$T/out")" = "1 passed, 1 failed, 2 skipped" ]
ok $? "pytest: skips counted as skipped ($(tail -1 "$T/out"))"
grep -q 'skip: no widget attached' "$T/out" && grep -q 'skip: runtime reason' "$T/out"
ok $? "pytest skip reasons printed"

# no ../shared beside the clone and no RVT_SHARED: the variable stays unset
cat >"$T/repo/tests/e2e/test_env.sh" <<'EOF'
echo "ok 1 - RVT_SHARED=${RVT_SHARED-unset}"
EOF
rm "$T/repo/tests/parity/test_fake.py"
( unset RVT_SHARED RVT_TESTS; RVT_BUILD=$T/empty "$T/repo/tests/run.sh" ) >"$T/out" 2>&1
grep -q 'RVT_SHARED=unset' "$T/empty/test-logs/e2e-test_env.log"
ok $? "no ../shared: RVT_SHARED is left unset (the reference-data tests skip)"
! grep -nE '/work|DESIGN' "$root/tests/run.sh"
ok $? "run.sh names no path outside the repository"
done_testing
