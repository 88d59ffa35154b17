#!/usr/bin/env bash
# End-to-end test of scripts/make-sample-dataset.sh (TAP output). Run from the repo root.
#
# Two corpora are compared: A (merged layout, -j 2) and B (1 actor, speech-zip layout,
# -j 3). The bytes of a clip depend on neither layout, -j nor the number of actors
# (schemas/sample-corpus.md), so comparing every file of B with its namesake in A checks
# determinism, order independence and the split layout.  A is the repository's own
# sample corpus (data/sample, 4 actors, made by `make sample` before the tests) when it
# is there and up to date, else a 1-actor corpus made here.
set -u

gen=scripts/make-sample-dataset.sh
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ $# -lt 2 ] || echo "# $2"; }
check() { # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}

if [ ! -x "$gen" ]; then
    echo "not ok 1 - $gen exists (run from the repository root)"
    echo "1..1"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_sample_dataset.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
A=$tmp/a
B=$tmp/b

# --- help and argument errors -------------------------------------------------------
check "--help exits 0 and prints usage" bash -c "'$gen' --help | grep -q '^Usage:'"
check "--check on a missing OUT: exit 1, nothing written" \
    bash -c "! '$gen' --check -q --out '$tmp/none' && [ ! -e '$tmp/none' ]"
check "--actors 25 is refused" bash -c "! '$gen' --actors 25 --out '$tmp/bad' 2>/dev/null && [ ! -e '$tmp/bad' ]"

# --- run A --------------------------------------------------------------------------
na=1
root=$(pwd)
if "$gen" --check -q --out "$root/data/sample"; then
    A=$root/data/sample na=4
    ok "A: the sample corpus data/sample (4 actors, merged, up to date)"
    check "no temporary directory left beside it" \
        bash -c "[ -z \"\$(ls -A '$root/data' | grep -E '^\.?sample\.(tmp|work)' )\" ]"
else
    t0=$(date +%s)
    if "$gen" --actors 1 --out "$A" -j 2 -q 2>"$tmp/a.err"; then
        ok "generate 1 actor, merged layout ($(( $(date +%s) - t0 )) s)"
    else
        nok "generate 1 actor, merged layout" "$(tail -n 3 "$tmp/a.err")"
    fi
    check "run is quiet with -q" test ! -s "$tmp/a.err"
    check "no temporary directory left beside OUT" \
        bash -c "[ -z \"\$(ls -A '$tmp' | grep -v -x -e a -e a.err)\" ]"
fi
d=$A/Actor_01
nmp4=$(find "$d" -name '*.mp4' 2>/dev/null | wc -l)
nwav=$(find "$d" -name '*.wav' 2>/dev/null | wc -l)
check "60 mp4 and 60 wav in Actor_01 (got $nmp4 + $nwav)" test "$nmp4" = 60 -a "$nwav" = 60
check "file names follow MM-VV-EE-II-SS-RR-AA" bash -c \
    "[ \$(ls '$d' | grep -E -c '^(01-01-0[1-8]-0[12]-0[12]-0[12]-01\.mp4|03-01-0[1-8]-0[12]-0[12]-0[12]-01\.wav)$') = 120 ]"
check "neutral has no strong intensity" bash -c "[ -z \"\$(ls '$d' | grep -E '^0[13]-01-01-02-')\" ]"
check "every mp4 has its wav" bash -c \
    "for f in '$d'/01-01-*.mp4; do b=\${f##*/}; [ -f '$d'/03\${b:2:18}.wav ] || exit 1; done"

# --- media traits -------------------------------------------------------------------
mp4=$d/01-01-05-02-01-01-01.mp4
probe() { ffprobe -v error -of default=nw=1 "$@"; }
v=$(probe -select_streams v:0 -show_entries stream=codec_name,profile,width,height,pix_fmt,r_frame_rate "$mp4" | tr '\n' ' ')
check "mp4 video is h264 High 1280x720 yuv420p 30000/1001 ($v)" bash -c \
    "[ '$v' = 'codec_name=h264 profile=High width=1280 height=720 pix_fmt=yuv420p r_frame_rate=30000/1001 ' ]"
a=$(probe -select_streams a:0 -show_entries stream=codec_name,sample_rate "$mp4" | tr '\n' ' ')
check "mp4 audio is aac 48000 ($a)" test "$a" = "codec_name=aac sample_rate=48000 "
nkey=$(ffprobe -v error -select_streams v:0 -show_entries packet=flags -of csv=p=0 "$mp4" | grep -c K)
check "mp4 has one keyframe (got $nkey)" test "$nkey" = 1

wav=$d/03-01-05-02-01-01-01.wav
w=$(probe -show_entries stream=codec_name,sample_rate,channels "$wav" | tr '\n' ' ')
check "wav is pcm_s16le 48000 mono ($w)" test "$w" = "codec_name=pcm_s16le sample_rate=48000 channels=1 "
fllr=$(dd if="$wav" bs=1 skip=36 count=4 2>/dev/null)
fllr_size=$(od -An -tu4 -j40 -N4 "$wav" | tr -d ' ')
data=$(dd if="$wav" bs=1 skip=4088 count=4 2>/dev/null)
check "wav has a 4044-byte FLLR chunk before data" test "$fllr/$fllr_size/$data" = "FLLR/4044/data"
riff=$(od -An -tu4 -j4 -N4 "$wav" | tr -d ' ')
check "wav RIFF size is file size - 8" test "$riff" = "$(( $(stat -c %s "$wav") - 8 ))"

durs_ok=1
for f in "$d"/03-*.wav; do
    s=$(soxi -s "$f")
    if [ "$s" -lt 96000 ] || [ "$s" -gt 192000 ]; then durs_ok=0; echo "# $f: $s samples"; fi
done
check "every wav lasts 2-4 s" test "$durs_ok" = 1

rms() { sox "$1" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}'; }
r_angry=$(rms "$d/03-01-05-02-01-01-01.wav")
r_sad=$(rms "$d/03-01-04-02-01-01-01.wav")
check "angry speech is louder than sad speech (RMS $r_angry vs $r_sad)" \
    awk -v a="$r_angry" -v b="$r_sad" 'BEGIN { exit !(a > 3 * b) }'
r_neu=$(rms "$d/03-01-01-01-01-01-01.wav")
r_neu2=$(rms "$d/03-01-01-01-01-02-01.wav")
check "two repetitions differ but stay alike (neutral RMS $r_neu vs $r_neu2)" \
    awk -v a="$r_neu" -v b="$r_neu2" 'BEGIN { exit !(a != b && a < 1.5 * b && b < 1.5 * a) }'

ffmpeg -v error -i "$mp4" -map 0:a:0 -ac 1 -ar 48000 -c:a pcm_s16le -y "$tmp/aac.wav"
r_aac=$(rms "$tmp/aac.wav")
check "mp4 AAC track carries the wav's speech (RMS $r_aac vs $r_angry)" \
    awk -v a="$r_aac" -v b="$r_angry" 'BEGIN { exit !(a > 0.8 * b && a < 1.25 * b) }'

fm=$(ffmpeg -v error -i "$mp4" -map 0:v:0 -f framemd5 - | grep -v '^#' | awk -F, '{print $6}')
first=$(echo "$fm" | head -n1)
middle=$(echo "$fm" | sed -n "$(( $(echo "$fm" | wc -l) / 2 ))p")
check "middle video frame differs from the first" test -n "$first" -a "$first" != "$middle"

mid() { ffmpeg -v error -i "$1" -map 0:v:0 -vf "select=eq(n\,30)" -frames:v 1 -f rawvideo -pix_fmt rgb24 - | md5sum; }
check "pictures of two emotions differ" test "$(mid "$d/01-01-03-02-01-01-01.mp4")" != "$(mid "$d/01-01-04-02-01-01-01.mp4")"

# header frame count vs decoded frames: a third of the clips hide leading frames
# behind an edit list (first packet pts < 0); those decode fewer frames than stts says
npre=0
pre=
plain=
for f in "$d"/01-01-*.mp4; do
    p=$(ffprobe -v error -select_streams v:0 -read_intervals '%+#1' -show_entries packet=pts -of csv=p=0 "$f" | head -n1)
    if [ "${p:-0}" -lt 0 ]; then npre=$((npre + 1)); pre=$f; else plain=$f; fi
done
check "20 of 60 mp4s carry hidden leading frames (got $npre)" test "$npre" = 20
counts() { ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_frames,nb_read_frames -of csv=p=0 "$1"; }
cp_=$(counts "$pre")
cn=$(counts "$plain")
check "header frame count exceeds decoded frames there ($cp_)" \
    awk -F, -v s="$cp_" 'BEGIN { split(s, x, ","); exit !(x[1] > x[2] && x[1] - x[2] <= 4) }'
check "and equals it elsewhere ($cn)" awk -v s="$cn" 'BEGIN { split(s, x, ","); exit !(x[1] == x[2]) }'

# --- up to date -----------------------------------------------------------------------
before=$(stat -c %Y.%i "$A/.sample-stamp" 2>/dev/null)
msg=$("$gen" --actors $na --out "$A" -j 2 2>&1)
check "second call with the same parameters is a no-op (\"$msg\")" bash -c \
    "[[ '$msg' == *'up to date'* ]] && [ '$before' = \"\$(stat -c %Y.%i '$A/.sample-stamp')\" ]"
mkdir -p "$tmp/foreign" && touch "$tmp/foreign/keep"
check "refuses to replace a directory it did not make" bash -c \
    "! '$gen' --actors 1 --out '$tmp/foreign' -q 2>/dev/null && [ -f '$tmp/foreign/keep' ]"
rm -rf -- "$tmp/foreign"

# --- run B: split layout, other -j, same bytes ------------------------------------------
# beside B: a temporary of a run that died (its pid is gone), one of a live run
# (this shell) and a fresh one without owner: run B sweeps only the first
Bp=$(dirname "$B") Bn=$(basename "$B")
true & dead=$!; wait "$dead"
mkdir -p "$Bp/.$Bn.tmp.dead" "$Bp/.$Bn.tmp.live" "$Bp/.$Bn.tmp.fresh"
echo "$dead $(uname -n)" >"$Bp/.$Bn.tmp.dead/.owner"
echo "$$ $(uname -n)" >"$Bp/.$Bn.tmp.live/.owner"
t0=$(date +%s)
if "$gen" --actors 1 --out "$B" --layout speech-zip -j 3 -q 2>"$tmp/b.err"; then
    ok "generate 1 actor, speech-zip layout ($(( $(date +%s) - t0 )) s)"
else
    nok "generate 1 actor, speech-zip layout" "$(tail -n 3 "$tmp/b.err")"
fi
check "run B is quiet with -q" test ! -s "$tmp/b.err"
check "run B swept a dead run's temporary, kept a live and a fresh one" bash -c \
    "[ ! -e '$Bp/.$Bn.tmp.dead' ] && [ -d '$Bp/.$Bn.tmp.live' ] && [ -d '$Bp/.$Bn.tmp.fresh' ]"
rm -rf -- "$Bp/.$Bn.tmp.live" "$Bp/.$Bn.tmp.fresh"
bw=$(find "$B/Audio_Speech_Actors_01-24/Actor_01" -name '03-01-*.wav' 2>/dev/null | wc -l)
bv=$(find "$B/Video_Speech_Actor_01/Actor_01" -name '01-01-*.mp4' 2>/dev/null | wc -l)
bo=$(find "$B" -type f ! -name .sample-stamp | wc -l)
check "speech-zip: wavs under Audio_Speech_Actors_01-24/Actor_01 ($bw)" test "$bw" = 60
check "speech-zip: mp4s under Video_Speech_Actor_01/Actor_01 ($bv)" test "$bv" = 60
check "speech-zip: nothing else ($bo files)" test "$bo" = 120

same=1
while read -r f; do
    g=$(find "$B" -name "${f##*/}" | head -n1)
    if [ -z "$g" ] || [ "$(sha256sum <"$f")" != "$(sha256sum <"$g")" ]; then
        same=0; echo "# differs: ${f##*/}"
    fi
done < <(find "$d" -type f \( -name '*.mp4' -o -name '*.wav' \))
check "both runs give byte-identical files (sha256 of all 120)" test "$same" = 1

echo "1..$n"
[ "$failed" = 0 ]
