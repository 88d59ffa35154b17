#!/usr/bin/env bash
# Feature extraction of a large corpus as a Slurm job array, then the merge:
#
#   scripts/slurm/submit.sh [-n N] [-c CONFIG] INDEX.csv OUT/ [sbatch options...]
#
# submits extract.sbatch as an array of N tasks (default 8; shard I/N of the index
# each) and pack.sbatch to run once all of them succeeded, and prints both job ids.
# Run it from the repository (the tools are taken from its bin/, RVT_BIN to change);
# OUT must be on a file system every node sees.  Options after OUT go to both sbatch
# calls (e.g. --partition=cpu --account=X).  Make the index first:
#   bin/ravdess-index /data/RAVDESS -o OUT/index.csv
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
n=8 config=
while getopts n:c:h o; do
  case $o in n) n=$OPTARG ;; c) config=$(realpath "$OPTARG") ;; *) usage ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: -n wants a positive count, not '$n'" >&2; exit 2; }
index=$(realpath "$1") out=$(realpath -m "$2"); shift 2
[ -f "$index" ] || { echo "submit.sh: cannot read '$index'" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
bin=${RVT_BIN:-$(cd "$here/../.." && pwd)/bin}
mkdir -p "$out"
env="ALL,RVT_INDEX=$index,RVT_OUT=$out,RVT_BIN=$bin,RVT_CONFIG=$config"
array=$(sbatch --parsable --array=0-$((n - 1)) --export="$env" "$@" "$here/extract.sbatch")
array=${array%%;*}  # --parsable prints "id" or "id;cluster"
pack=$(sbatch --parsable --dependency=afterok:"$array" --export="$env,RVT_SHARDS=$n" "$@" \
       "$here/pack.sbatch")
echo "extract: job array $array ($n tasks); pack: job ${pack%%;*} -> $out/features.h5"
