#!/usr/bin/env bash
# make-sample-dataset.sh: write a small, deterministic, RAVDESS-shaped speech corpus.
#
# No RAVDESS can be downloaded on our machines, so this makes one whose speech
# (espeak-ng) and pictures (a drawn face) depend on emotion, intensity and actor.
# Contract in schemas/sample-corpus.md; the clip maker is scripts/sample/gen.py.
#
# Per actor: the full RAVDESS speech grid, 60 clips (8 emotions x 2 statements x
# 2 repetitions x 2 intensities; neutral only has normal intensity). Each clip gives
#   01-01-EE-II-SS-RR-AA.mp4   full AV: H.264 High 1280x720 yuv420p, 30000/1001 fps,
#                              one keyframe, AAC-LC 48 kHz mono; 2-4 s
#   03-01-EE-II-SS-RR-AA.wav   16-bit 48 kHz mono PCM, 4,044-byte FLLR chunk before data
#   02-01-EE-II-SS-RR-AA.mp4   video only, same video, no audio (only with --video-only)
#
# Layouts (as the official zips unpack):
#   merged (default)        OUT/Actor_XX/{01-01-*.mp4,03-01-*.wav[,02-01-*.mp4]}
#   speech-zip | video-zip  both zips unpacked side by side (the two names are synonyms):
#                           OUT/Audio_Speech_Actors_01-24/Actor_XX/03-01-*.wav
#                             (Audio_Speech_Actors_01-24.zip)
#                           OUT/Video_Speech_Actor_XX/Actor_XX/01-01-*.mp4 [02-01-*.mp4]
#                             (Video_Speech_Actor_XX.zip)
#
# The clips are written to a temporary directory beside OUT, which replaces OUT only
# when complete: a killed run never leaves a half corpus under OUT. OUT/.sample-stamp
# records the parameters, the hash of this script and gen.py, and the ffmpeg and
# espeak-ng versions; when it matches, the script exits at once ("up to date").
# The same script, arguments and tool versions give byte-identical files, whatever -j.
set -euo pipefail

prog=make-sample-dataset
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
PY=${SAMPLE_PYTHON:-/usr/bin/python3}

actors=4
out=$root/data/sample
layout=merged
jobs=2
quiet=0
video_only=0
check=0

usage() {
    cat <<EOF
Usage: scripts/make-sample-dataset.sh [--actors N] [--out DIR] [--layout L] [-j N]
                                      [--video-only] [-q] [--check] [--help]

Write a deterministic RAVDESS-shaped speech corpus: 60 clips per actor, each a
01-01-*.mp4 (H.264+AAC, 1280x720) and a 03-01-*.wav (48 kHz 16-bit mono).

  --actors N      actors Actor_01..Actor_NN, 1-24 (default 4; odd = male, even = female)
  --out DIR       output directory (default: data/sample in the repository)
  --layout L      merged (default): OUT/Actor_XX/ holds wav and mp4
                  speech-zip | video-zip: as the official zips unpack, side by side:
                    OUT/Audio_Speech_Actors_01-24/Actor_XX/03-01-*.wav
                    OUT/Video_Speech_Actor_XX/Actor_XX/01-01-*.mp4
  --video-only    also write the 02-01-*.mp4 video-only files (no audio track)
  -j N            clips made in parallel (default 2); never changes the bytes
  -q              no progress output
  --check         write nothing; exit 0 when OUT is up to date for these
                  parameters, 1 when a run would (re)make it
  -h, --help      this help

An existing OUT made with the same parameters by the same script is left as it
is ("up to date"). See schemas/sample-corpus.md.
EOF
}

die() { echo "$prog: error: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "option $1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
    case $1 in
        --actors) need_arg "$@"; actors=$2; shift 2 ;;
        --actors=*) actors=${1#*=}; shift ;;
        --out) need_arg "$@"; out=$2; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        --layout) need_arg "$@"; layout=$2; shift 2 ;;
        --layout=*) layout=${1#*=}; shift ;;
        -j|--jobs) need_arg "$@"; jobs=$2; shift 2 ;;
        -j*) jobs=${1#-j}; shift ;;
        --jobs=*) jobs=${1#*=}; shift ;;
        --video-only) video_only=1; shift ;;
        -q|--quiet) quiet=1; shift ;;
        --check) check=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ $actors =~ ^[0-9]+$ ]] && [ "$((10#$actors))" -ge 1 ] && [ "$((10#$actors))" -le 24 ] ||
    die "--actors must be 1..24, not '$actors'"
actors=$((10#$actors))
[[ $jobs =~ ^[0-9]+$ ]] && [ "$((10#$jobs))" -ge 1 ] || die "-j must be a positive integer, not '$jobs'"
jobs=$((10#$jobs))
case $layout in
    merged) ;;
    speech-zip|video-zip|split) layout=split ;;
    *) die "--layout must be merged, speech-zip or video-zip, not '$layout'" ;;
esac
[ -n "$out" ] || die "--out must not be empty"
out=${out%/}
[ -n "$out" ] || die "--out must not be /"

say() { [ "$quiet" = 1 ] || echo "$prog: $*" >&2; }

for tool in ffmpeg espeak-ng; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install ffmpeg espeak-ng)"
done

# Everything the bytes depend on goes into the stamp.
stamp="ravdess-tools sample corpus, stamp v1
actors=$actors
layout=$layout
video_only=$video_only
script=$(cat "$here/make-sample-dataset.sh" "$here/sample/gen.py" | sha256sum | cut -d' ' -f1)
ffmpeg=$(ffmpeg -hide_banner -version 2>/dev/null | head -n1)
espeak=$(espeak-ng --version 2>/dev/null | head -n1 | sed 's/ *Data at:.*//')"
stamp_name=.sample-stamp

if [ -f "$out/$stamp_name" ] && [ "$(cat "$out/$stamp_name")" = "$stamp" ]; then
    say "$out is up to date"
    exit 0
fi
if [ "$check" = 1 ]; then
    say "$out is not up to date"
    exit 1
fi
if [ -e "$out" ] || [ -L "$out" ]; then
    # Only ever replace what this script made (or an empty directory).
    [ -d "$out" ] && [ ! -L "$out" ] || die "$out exists and is not a directory"
    if [ ! -f "$out/$stamp_name" ] && [ -n "$(ls -A "$out")" ]; then
        die "$out exists and was not made by this script; remove it or choose another --out"
    fi
fi

"$PY" -c 'import numpy, scipy.signal, PIL.Image' 2>/dev/null ||
    die "$PY lacks numpy/scipy/PIL (apt-get install python3-numpy python3-scipy python3-pil; or set SAMPLE_PYTHON)"

parent=$(dirname "$out")
base=$(basename "$out")
mkdir -p "$parent"
# A run killed outright (SIGKILL, power loss) cannot clean up: sweep the
# temporaries of runs that are dead, i.e. whose .owner names a pid of this host
# that is gone, or that have no .owner and were last touched an hour ago.
for d in "$parent/.$base.tmp."* "$parent/.$base.old."*; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    if [ -f "$d/.owner" ]; then
        read -r opid ohost <"$d/.owner" || continue
        [ "$ohost" = "$(uname -n)" ] && ! kill -0 "$opid" 2>/dev/null || continue
    elif [ -z "$(find "$d" -maxdepth 0 -mmin +60)" ]; then
        continue
    fi
    say "removing $d, left by a run that died"
    rm -rf -- "$d"
done
tmp=$(mktemp -d "$parent/.$base.tmp.XXXXXX")
echo "$$ $(uname -n)" >"$tmp/.owner"
old=
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf -- "$tmp"
    if [ -n "$old" ]; then rm -rf -- "$old"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "writing $((actors * 60)) clips (Actor_01..Actor_$(printf %02d "$actors"), layout $layout, -j $jobs) to $out"
t0=$(date +%s)
qflag=()
[ "$quiet" = 1 ] && qflag=(-q)
# In the background so that a signal to this shell reaches the trap at once.
"$PY" "$here/sample/gen.py" --actors "$actors" --out "$tmp" --layout "$layout" \
    --video-only "$video_only" -j "$jobs" "${qflag[@]}" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { echo "$prog: error: clip generation failed (exit $rc)" >&2; exit 1; }

rm -f -- "$tmp/.owner"
printf '%s\n' "$stamp" >"$tmp/$stamp_name"
chmod "$(printf %o $((0777 & ~0$(umask))))" "$tmp"    # mktemp -d makes it 0700
if [ -e "$out" ]; then
    old=$(mktemp -d "$parent/.$base.old.XXXXXX")
    echo "$$ $(uname -n)" >"$old/.owner"
    mv -T -- "$out" "$old/x"
fi
mv -T -- "$tmp" "$out"
say "done: $out ($(( $(date +%s) - t0 )) s)"
