#!/usr/bin/env bash
# extract-frames end to end: options, the store it writes, -j determinism,
# shards, bad clips with and without --keep-going.
. "$(dirname "$0")/../lib.sh"
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
FF="ffmpeg -nostdin -hide_banner -loglevel error -y"

# clips: two good ones (B-frames + audio; an edit-list pre-roll), one audio-only
$FF -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=d=2 -t 2 -c:v libx264 \
    -preset veryfast -crf 30 -pix_fmt yuv420p -x264-params threads=1 -c:a aac "$T/a.mp4"
$FF -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 70 -c:v libx264 -preset veryfast \
    -crf 30 -pix_fmt yuv420p -x264-params threads=1:keyint=infinite "$T/raw.mp4"
$FF -ss 0.2 -i "$T/raw.mp4" -c copy "$T/b.mp4"
$FF -f lavfi -i sine=d=1 -c:a aac "$T/noviddeo.mp4"
check "test clips made" test -s "$T/a.mp4" -a -s "$T/b.mp4" -a -s "$T/noviddeo.mp4"

HDR=id,actor,gender,vocal_channel,emotion,emotion_name,intensity,statement,repetition,label,label_name,split,video_path,audio_path
row() {  # row ACTOR PATH
  local g=male; [ $(($1 % 2)) -eq 0 ] && g=female
  printf '01-01-01-01-01-%02d,%d,%s,1,1,neutral,1,1,1,6,Neutral,train,%s,\n' "$1" "$1" "$g" "$2"
}
{ echo $HDR; row 1 "$T/a.mp4"; row 2 "$T/b.mp4"; row 3 "$T/a.mp4"; } > "$T/good.csv"
{ echo $HDR; row 1 "$T/a.mp4"; row 2 "$T/noviddeo.mp4"; row 3 "$T/b.mp4"; } > "$T/bad.csv"

# --- options
extract-frames --help > "$T/help" 2>&1; ok $? "--help exits 0"
grep -q -- "--pick" "$T/help" && grep -q -- "--crop" "$T/help" && grep -q "EXIT STATUS" "$T/help" &&
  grep -q "EXAMPLES" "$T/help"
ok $? "--help documents options, examples and exit status"
expect_exit 0 "--version" extract-frames --version
expect_exit 2 "no arguments" extract-frames
expect_exit 2 "missing -o" extract-frames "$T/good.csv"
expect_exit 2 "bad --pick" extract-frames --pick first "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "bad --crop" extract-frames --crop box=1,2 "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "bad --size" extract-frames --size 0x5 "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "-K 0" extract-frames -K 0 "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "times count differs from -K" extract-frames -K 3 --pick times=1,2 "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "--ppm to a missing folder" extract-frames --ppm "$T/nope" "$T/good.csv" -o "$T/x.h5"
expect_exit 2 "unknown option" extract-frames --bogus "$T/good.csv" -o "$T/x.h5"
expect_exit 1 "missing index" extract-frames "$T/none.csv" -o "$T/x.h5"
test ! -e "$T/x.h5"; ok $? "no output after usage errors"
extract-frames --size 100x50 -K 2 --print-config | grep -q "width: 100"
ok $? "--size lands in image.width (--print-config)"

# --- a good run
extract-frames -q -j 1 "$T/good.csv" -o "$T/j1.h5"; ok $? "run -j 1"
extract-frames -q -j 2 "$T/good.csv" -o "$T/j2.h5"; ok $? "run -j 2"
$PY - "$T" <<'EOF'; ok $? "store layout: frames [3,1,224,224,3] u8, frame_pts [3,1], ids, attrs"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1] + "/j1.h5", "r")
assert f["frames"].shape == (3, 1, 224, 224, 3) and f["frames"].dtype == np.uint8
assert f["frame_pts"].shape == (3, 1) and f["frame_pts"].dtype == np.float64
assert [i.decode() for i in f["clips/id"][:]] == ["01-01-01-01-01-%02d" % i for i in (1, 2, 3)]
assert f.attrs["kind"] == "frames" and "image:" in f.attrs["config"]
assert abs(f["frame_pts"][0, 0] - 1.0) < 1e-9, f["frame_pts"][0]   # 50 frames at 25 fps: frame 25
assert (f["frames"][0] == f["frames"][2]).all()                     # same clip twice
assert f["frames"][0].std() > 10                                    # a picture, not a blank
EOF
$PY - "$T" <<'EOF'; ok $? "-j 1 and -j 2 give identical datasets"
import sys, h5py, numpy as np
a, b = (h5py.File(sys.argv[1] + n, "r") for n in ("/j1.h5", "/j2.h5"))
for k in ("frames", "frame_pts", "clips/id"):
    assert (a[k][:] == b[k][:]).all(), k
EOF

extract-frames -q -K 8 --pick uniform --crop center --size 112x64 "$T/good.csv" -o "$T/k8.h5"
ok $? "K=8 uniform, center crop, 112x64"
$PY - "$T" <<'EOF'; ok $? "K=8 shapes and increasing pts"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1] + "/k8.h5", "r")
assert f["frames"].shape == (3, 8, 64, 112, 3)
assert (np.diff(f["frame_pts"][:], axis=1) > 0).all()
EOF

extract-frames -q --shard 0/2 "$T/good.csv" -o "$T/s0.h5" && extract-frames -q --shard 1/2 "$T/good.csv" -o "$T/s1.h5"
ok $? "two shards"
$PY - "$T" <<'EOF'; ok $? "shards are disjoint and cover the index"
import sys, h5py
ids = [set(h5py.File(sys.argv[1] + n, "r")["clips/id"][:]) for n in ("/s0.h5", "/s1.h5")]
assert not (ids[0] & ids[1]) and len(ids[0] | ids[1]) == 3
EOF

mkdir "$T/ppm"
extract-frames -q --ppm "$T/ppm" --size 32 "$T/good.csv" -o "$T/p.h5"
test "$(head -c 2 "$T/ppm/01-01-01-01-01-02_0.ppm")" = P6; ok $? "--ppm writes P6 files"

# --- bad clips
extract-frames -q "$T/bad.csv" -o "$T/bad.h5" 2> "$T/err"; rc=$?
[ $rc -eq 1 ]; ok $? "a bad clip stops the run with exit 1 (got $rc)"
[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "noviddeo.mp4" "$T/err" && grep -q "no video stream" "$T/err"
ok $? "one line naming the file and the reason: $(cat "$T/err")"
[ -z "$(ls -A "$T" | grep -E '^(bad\.h5|\.bad\.h5)')" ]; ok $? "nothing half-written"

extract-frames -q -k "$T/bad.csv" -o "$T/kg.h5" 2> "$T/err"; rc=$?
[ $rc -eq 3 ]; ok $? "--keep-going exits 3 (got $rc)"
grep -q "noviddeo.mp4" "$T/kg.h5.failures.csv" && [ "$(wc -l < "$T/kg.h5.failures.csv")" -eq 2 ]
ok $? "failures CSV lists the bad clip"
$PY - "$T" <<'EOF'; ok $? "the store holds the good clips"
import sys, h5py
f = h5py.File(sys.argv[1] + "/kg.h5", "r")
assert [i.decode() for i in f["clips/id"][:]] == ["01-01-01-01-01-01", "01-01-01-01-01-03"]
EOF
extract-frames -q -k --pick times=2.1 --failures "$T/late.csv" "$T/good.csv" -o "$T/late.h5"; rc=$?
[ $rc -eq 3 ] && grep -q "past the end" "$T/late.csv"
ok $? "a time past a clip's end skips that clip (exit $rc)"

done_testing
