#!/usr/bin/env bash
# The include layering of docs/architecture.md, checked on the sources:
#   - every lib/<layer>/*.[ch] (lib/nn/x86 counts as nn) includes only headers of
#     the layers its row below allows;
#   - a private header (internal.h, *_internal.h, *_kernels.h) is included only
#     from its own layer, never from cmd/;
#   - every lib/ and cmd/ .c file includes "core/common.h" first;
#   - README, docs, schemas, scripts, lib and cmd name no path outside the repository.
# It fails naming the file and the include that breaks the rule.
. tests/lib.sh
root=${RVT_ROOT:-.}
cd "$root" || exit 1

declare -A allowed=(
  [core]="core"
  [ravdess]="core ravdess"
  [media]="core media"
  [dsp]="core media dsp"
  [eval]="core eval"
  [store]="core ravdess store"
  [nn]="core store nn"
  [run]="core ravdess media dsp store nn eval run"
)
private_re='(^|/)([a-z0-9_]*_)?internal\.h$|_kernels\.h$'

bad=""
for f in $(find lib -name '*.[ch]' | sort); do
  layer=$(echo "$f" | cut -d/ -f2)
  if [ -z "${allowed[$layer]+x}" ]; then
    bad+=" $f: layer '$layer' is not in the table (add it here and to docs/architecture.md);"
    continue
  fi
  while IFS= read -r inc; do
    l=${inc%%/*}
    [ "$inc" = "$l" ] && { bad+=" $f: #include \"$inc\" is not layer/header;"; continue; }
    case " ${allowed[$layer]} " in *" $l "*) ;; *) bad+=" $f: $layer may not include \"$inc\";" ;; esac
    if [[ "$inc" =~ $private_re ]] && [ "$l" != "$layer" ]; then
      bad+=" $f: \"$inc\" is private to lib/$l;"
    fi
  done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
done
[ -z "$bad" ]; ok $? "lib/: each layer includes only the layers it may${bad:+:$bad}"

bad=""
for f in cmd/*.c; do
  while IFS= read -r inc; do
    [ -f "lib/$inc" ] || bad+=" $f: \"$inc\" is not a library header;"
    [[ "$inc" =~ $private_re ]] && bad+=" $f: \"$inc\" is private;"
  done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
done
[ -z "$bad" ]; ok $? "cmd/: tools include only public library headers${bad:+:$bad}"

bad=""
for f in $(find lib cmd -name '*.c' | sort); do
  first=$(grep -m1 -E '^[[:space:]]*#[[:space:]]*include' "$f")
  [ "$first" = '#include "core/common.h"' ] || bad+=" $f: first include is '$first';"
done
[ -z "$bad" ]; ok $? "every .c includes core/common.h first${bad:+:$bad}"

# nothing shipped points outside the repository (tests may read $RVT_SHARED)
out=$(grep -rnE '\.\./shared|/work/|DESIGN\.md' README.md Makefile docs schemas scripts lib cmd configs 2>/dev/null | head -5)
[ -z "$out" ]; ok $? "docs, tools, library and scripts refer to nothing outside the repository${out:+: $out}"

[ "${1:-}" = --self ] && exit 0
# the checker itself: a file that breaks the rules must be caught
T=$(mktmp); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/lib/core" "$T/lib/nn" "$T/cmd"
printf '#include "core/common.h"\n#include "nn/model.h"\n' >"$T/lib/core/x.c"
printf '#include "core/common.h"\n#include "ravdess/internal.h"\n' >"$T/cmd/t.c"
touch "$T/lib/nn/model.h"
mkdir -p "$T/docs"; echo 'see ../shared/DESIGN.md' >"$T/docs/x.md"
RVT_ROOT=$T bash "$(pwd)/tests/e2e/test_layers.sh" --self >"$T/out" 2>&1
grep -q '^not ok 1 .*core may not include "nn/model.h"' "$T/out" &&
  grep -q '^not ok 2 .*"ravdess/internal.h" is not a library header' "$T/out" &&
  grep -q '^not ok 4 .*docs/x.md' "$T/out"
ok $? "the check catches a layer violation, a private include and an outside path"
done_testing
