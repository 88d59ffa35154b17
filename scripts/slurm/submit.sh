#!/usr/bin/env bash
# Feature extraction of a large corpus as a Slurm job array, then the merge:
#
#   scripts/slurm/submit.sh [-n N] [-c CONFIG] INDEX.csv OUT/ [sbatch options...]
#   scripts/slurm/submit.sh --resume OUT/ [sbatch options...]
#
# submits extract.sbatch as an array of N tasks (default 8; shard I/N of the index
# each) and pack.sbatch to run once all of them succeeded, and prints both job ids.
# Run it from the repository (the tools are taken from its bin/, RVT_BIN to change);
# OUT must be on a file system every node sees.  Options after OUT go to both sbatch
# calls (e.g. --partition=cpu --account=X).  Logs: OUT/logs/; the job ids and settings:
# OUT/slurm.jobs.  Make the index first:
#   bin/ravdess-index /data/RAVDESS -o OUT/index.csv
# --resume, after a task failed (its cause fixed) or was lost: cancels the merge that
# waits for it in vain, resubmits only the shards missing from OUT, then the merge
# (the same N, index, config and sbatch options; options given now are added).
set -euo pipefail
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "submit.sh: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
bin=${RVT_BIN:-$(cd "$here/../.." && pwd)/bin}
n=8 config= resume=0
if [ "${1:-}" = --resume ]; then
  resume=1; shift
  [ $# -ge 1 ] || usage
else
  while getopts n:c:h o; do
    case $o in n) n=$OPTARG ;; c) config=$(realpath "$OPTARG") ;; *) usage ;; esac
  done
  shift $((OPTIND - 1))
  [ $# -ge 2 ] || usage
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: -n wants a positive count, not '$n'" >&2; exit 2; }
  index=$(realpath "$1"); shift
  [ -f "$index" ] && [ -r "$index" ] || die "cannot read '$index'"
fi
out=$(realpath -m "$1"); shift
state=$out/slurm.jobs
opts=("$@")

# OUT/slurm.jobs: key=value lines; opt= lines are the sbatch options, in order; a
# resume appends its array= and pack= lines (the last of each is current)
if [ $resume = 1 ]; then
  [ -f "$state" ] || die "cannot resume '$out': no slurm.jobs there (not an OUT of submit.sh)"
  get() { sed -n "s/^$1=//p" "$state" | tail -1; }
  index=$(get index) n=$(get shards) config=$(get config)
  [ -n "$index" ] && [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$state': no index= or shards= line"
  [ -f "$index" ] || die "cannot read '$index' (the index of '$state')"
  [ "$(sha256sum < "$index")" = "$(get index_sha256)" ] ||
    die "'$index' changed since the first submission; submit anew into an empty folder"
  # the first submission's options, then the ones given now (in sbatch the last wins)
  mapfile -t opts < <(sed -n 's/^opt=//p' "$state")
  opts+=("$@")
  array=$(get array) pack=$(get pack)
  if [ -s "$out/features.h5" ] && [ "$out/features.h5" -nt "$state" ]; then
    echo "submit.sh: nothing to resume: '$out/features.h5' is complete"; exit 0
  fi
  # squeue of jobs that may be gone (finished longer than MinJobAge ago): nothing
  sq() {
    local o
    o=$(squeue -h "$@" 2>&1) && { printf '%s\n' "$o"; return 0; }
    case $o in *"Invalid job id"*) return 0 ;; esac
    die "squeue $*: $o"
  }
  # a task still pending or running may yet write its shard: never run it twice
  busy=
  [ -z "$array" ] || busy=$(sq -r -j "$array" -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED -o %i | paste -sd' ')
  [ -z "$busy" ] || die "tasks of job array $array are still queued or running ($busy): wait for them or scancel $array, then resume"
  # the merge that waits for a failed task forever (DependencyNeverSatisfied)
  pst=
  [ -z "$pack" ] || pst=$(sq -j "$pack" -o %T)
  case $pst in
    RUNNING|CONFIGURING|COMPLETING) die "the merge (job $pack) is running: wait for it, then resume if it failed" ;;
    PENDING|SUSPENDED) scancel "$pack" && echo "submit.sh: cancelled the merge, job $pack (it waited for failed tasks)" ;;
  esac
  missing=()
  for ((i = 0; i < n; i++)); do
    [ -s "$out/frames.$i-of-$n.h5" ] && [ -s "$out/mel.$i-of-$n.h5" ] || missing+=("$i")
  done
else
  mkdir -p "$out" || die "cannot create '$out'"
  rm -f "$out/features.h5"  # an earlier run's merge is not this one's
  {
    echo "index=$index"
    echo "index_sha256=$(sha256sum < "$index")"
    echo "shards=$n"
    echo "config=$config"
    for o in "${opts[@]}"; do echo "opt=$o"; done
  } > "$state.tmp" && mv "$state.tmp" "$state"
  missing=($(seq 0 $((n - 1))))
fi
mkdir -p "$out/logs"
env="ALL,RVT_INDEX=$index,RVT_OUT=$out,RVT_BIN=$bin,RVT_CONFIG=$config,RVT_SHARDS=$n"
dep=()
if [ ${#missing[@]} -gt 0 ]; then
  # 0 1 2 5 -> "0-2,5" (the --array syntax)
  list= lo=${missing[0]} hi=${missing[0]}
  for i in "${missing[@]:1}" end; do
    if [ "$i" != end ] && [ "$i" -eq $((hi + 1)) ]; then hi=$i; continue; fi
    list+=${list:+,}$lo$([ "$hi" = "$lo" ] || echo "-$hi")
    lo=$i hi=$i
  done
  array=$(sbatch --parsable --array="$list" --export="$env" --output="$out/logs/extract-%A_%a.out" \
          "${opts[@]}" "$here/extract.sbatch")
  array=${array%%;*}  # --parsable prints "id" or "id;cluster"
  echo "array=$array" >> "$state"
  dep=(--dependency=afterok:"$array")
fi
pack=$(sbatch --parsable "${dep[@]}" --export="$env" --output="$out/logs/pack-%j.out" "${opts[@]}" \
       "$here/pack.sbatch")
pack=${pack%%;*}
echo "pack=$pack" >> "$state"
if [ ${#missing[@]} -gt 0 ]; then
  echo "extract: job array $array (${#missing[@]} of $n shards: $list); pack: job $pack -> $out/features.h5"
else
  echo "extract: every shard is there; pack: job $pack -> $out/features.h5"
fi
