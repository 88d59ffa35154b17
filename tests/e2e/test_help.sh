#!/usr/bin/env bash
# Every tool's --help in the one style: the sections NAME, SYNOPSIS, DESCRIPTION,
# OPTIONS, EXIT STATUS, EXAMPLES in this order, each once; the NAME line names the
# tool; only options that apply are listed (no "does not apply" notes); exit
# status 3 is documented when --keep-going is listed; a tool that reads no config
# keys (it refuses --set) lists neither --set nor --config.
. tests/lib.sh
T=$(mktmp)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
root=${RVT_ROOT:-.}

for src in "$root"/cmd/*.c; do
  t=$(basename "$src" .c)
  "$t" --help >"$T/h" 2>"$T/e"; rc=$?
  [ $rc -eq 0 ] && [ -s "$T/h" ] && [ ! -s "$T/e" ]
  ok $? "$t --help: exit 0, text on stdout only (exit $rc)"
  got=$(grep -E '^(NAME|SYNOPSIS|DESCRIPTION|OPTIONS|EXIT STATUS|EXAMPLES)$' "$T/h" | tr '\n' ',')
  [ "$got" = "NAME,SYNOPSIS,DESCRIPTION,OPTIONS,EXIT STATUS,EXAMPLES," ]
  ok $? "$t: the six sections in order ($got)"
  sed -n '2p' "$T/h" | grep -qE "^  $t - [a-z]"
  ok $? "$t: NAME line '$t - what it does' ($(sed -n 2p "$T/h"))"
  ! grep -qiE 'do(es)? not apply|accepted (and|but) (unused|change)|change nothing' "$T/h"
  ok $? "$t: lists only options that apply"
  exit3=$(sed -n '/^EXIT STATUS$/,/^[A-Z]/p' "$T/h" | grep -c '\b3\b')
  ! grep -qE '^  -k, --keep-going' "$T/h" || [ "$exit3" -gt 0 ]
  ok $? "$t: exit status 3 documented when --keep-going is listed"
  grep -qE '^  -h, --help' "$T/h" && grep -qE '^  -V, --version' "$T/h"
  ok $? "$t: -h and -V listed"
  "$t" --set x.y=1 "$T/none" </dev/null >/dev/null 2>"$T/e"
  if grep -q 'reads no config keys' "$T/e"; then
    ! grep -qE -- '--set|--config' "$T/h"
    ok $? "$t: reads no config keys, lists no --set/--config"
  fi
  sed -n '/^EXAMPLES$/,$p' "$T/h" | grep -qE "^  $t "
  ok $? "$t: examples call the tool"
done
done_testing
