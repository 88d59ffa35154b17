#!/usr/bin/env bash
# extract-mel end to end: options, outputs, determinism, shards, bad input.
. tests/lib.sh
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
EM=extract-mel

# ---- inputs: two wavs, a stereo 44.1 kHz wav, an mp4 (AAC) ----
ffmpeg -v error -f lavfi -i "sine=frequency=440:duration=1.5" -ar 48000 -c:a pcm_s16le "$T/a.wav" &&
ffmpeg -v error -f lavfi -i "sine=frequency=660:duration=2" -af "volume=0.5" -ar 48000 -c:a pcm_s16le "$T/b.wav" &&
ffmpeg -v error -f lavfi -i "sine=frequency=880:duration=2.2" -ac 2 -ar 44100 -c:a pcm_s16le "$T/c.wav" &&
ffmpeg -v error -f lavfi -i "sine=frequency=300:duration=1.2" -ac 2 -ar 48000 -c:a aac "$T/d.mp4"
ok $? "make input files"

# bad inputs
head -c 30000 "$T/a.wav" > "$T/trunc.wav"
: > "$T/empty.wav"
printf 'this is plainly not audio, only some bytes of text in a file\n' > "$T/junk.wav"
$PY - "$T/unsup.wav" "$T/short.wav" <<'EOF'
import struct, sys
def wav(path, tag, bits, data, sr=16000):
    fmt = struct.pack('<HHIIHH', tag, 1, sr, sr * bits // 8, bits // 8, bits)
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', len(data)) + data
    open(path, 'wb').write(b'RIFF' + struct.pack('<I', len(body)) + body)
wav(sys.argv[1], 0x1234, 16, b'\x00\x01' * 8000)          # unknown format tag
wav(sys.argv[2], 1, 16, b'\x00\x10' * 300, sr=48000)       # 300 samples: 100 at 16 kHz
EOF
ok $? "make bad input files"

hdr="id,actor,gender,vocal_channel,emotion,emotion_name,intensity,statement,repetition,label,label_name,split,video_path,audio_path"
names=(- neutral calm happy sad angry fearful disgust surprised)
row() {  # row ID AUDIO_PATH: an index.csv row whose fields agree with the id
  local v e i s r a g
  IFS=- read -r v e i s r a <<< "$1"
  a=$((10#$a)); g=female; [ $((a % 2)) -eq 1 ] && g=male
  echo "$1,$a,$g,$((10#$v)),$((10#$e)),${names[$((10#$e))]},$((10#$i)),$((10#$s)),$((10#$r)),0,Angry,train,,$2"
}
{ echo "$hdr"; row 01-01-01-01-01-01 "$T/a.wav"; row 01-01-01-01-02-01 "$T/b.wav"
  row 01-01-01-02-01-01 "$T/c.wav"; row 01-01-01-02-02-01 "$T/d.mp4"; } > "$T/index.csv"
{ echo "$hdr"; row 01-01-01-01-01-01 "$T/a.wav"; row 01-01-01-01-02-01 "$T/trunc.wav"
  row 01-01-01-02-01-01 "$T/c.wav"; row 01-01-01-02-02-01 "$T/empty.wav"
  row 01-01-02-01-01-01 "$T/junk.wav"; row 01-01-02-01-02-01 "$T/unsup.wav"
  row 01-01-02-02-01-01 "$T/missing.wav"; row 01-01-02-02-02-01 "$T/short.wav"; } > "$T/bad.csv"

# ---- help, version, usage errors ----
$EM --help > "$T/help.txt"; ok $? "--help exits 0"
for w in SYNOPSIS --npy --output --dump-stages --sr --n-fft --hop --n-mels --fmin --fmax --top-db \
         --max-len --preemphasis --noise-level --noise-seed --fft --keep-going --shard EXAMPLES "EXIT STATUS"; do
  grep -q -- "$w" "$T/help.txt" || { echo "# help lacks $w"; false; } || break
done
ok $? "--help documents every option, examples and exit status"
$EM --version | grep -q "libsoxr"; ok $? "--version names the libraries"
expect_exit 2 "no input" $EM -o "$T/x.h5"
expect_exit 2 "no output" $EM "$T/index.csv"
expect_exit 2 "both -o and --npy" $EM "$T/index.csv" -o "$T/x.h5" --npy "$T/x"
expect_exit 2 "n_mels 0" $EM --n-mels 0 --npy "$T/x" "$T/index.csv"
expect_exit 2 "unknown config key" $EM --set audio.bogus=1 --npy "$T/x" "$T/index.csv"
expect_exit 2 "bad --fft" $EM --fft quad --npy "$T/x" "$T/index.csv"
expect_exit 2 "fmin above fmax" $EM --fmin 5000 --fmax 4000 --npy "$T/x" "$T/index.csv"
[ ! -e "$T/x" ] && [ ! -e "$T/x.h5" ]; ok $? "usage errors write nothing"
$EM --print-config | grep -q "res_type: soxr_hq"; ok $? "--print-config shows the audio keys"

# ---- npy output, -j determinism ----
$EM -q -j 1 --npy "$T/n1" "$T/index.csv"; ok $? "index -> npy (-j 1)"
$EM -q -j 2 --npy "$T/n2" "$T/index.csv"; ok $? "index -> npy (-j 2)"
diff -r "$T/n1" "$T/n2" > /dev/null; ok $? "-j 1 and -j 2 give identical files"
$PY - "$T/n1" <<'EOF'
import csv, sys, os, numpy as np
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, 'mel_frames.csv'))))
want = {'01-01-01-01-01-01': 1 + 24000 // 512, '01-01-01-01-02-01': 1 + 32000 // 512,
        '01-01-01-02-01-01': 1 + 35200 // 512}
assert len(rows) == 4, rows
for r in rows:
    a = np.load(os.path.join(d, r['id'] + '.npy'))
    assert a.shape == (64, 300) and a.dtype == np.float32, (a.shape, a.dtype)
    T = int(r['mel_frames'])
    assert np.all(a[:, T:] == 0) and np.all(a[:, :T] <= a[:, :T].max()) and a[:, :T].max() > -100
    if r['id'] in want:
        assert T == want[r['id']], (r, want[r['id']])
attrs = open(os.path.join(d, 'mel_attrs.yaml')).read()
for k in ('audio.sr: 16000', 'audio.n_mels: 64', 'audio.top_db: 80', 'index_sha256: ', 'config: |'):
    assert k in attrs, k
EOF
ok $? "npy files are float32 [64, 300], frames and attributes recorded"

# ---- shards ----
$EM -q --shard 0/2 --npy "$T/s0" "$T/index.csv" && $EM -q --shard 1/2 --npy "$T/s1" "$T/index.csv"
ok $? "two shards run"
a=$( (tail -n +2 "$T/s0/mel_frames.csv"; tail -n +2 "$T/s1/mel_frames.csv") | sort)
b=$(tail -n +2 "$T/n1/mel_frames.csv" | sort)
[ "$a" = "$b" ]; ok $? "shards partition the clips"

# ---- plain files, dump stages, options ----
$EM -q --npy "$T/f" --dump-stages "$T/st" "$T/a.wav" "$T/d.mp4"; ok $? "audio files as input"
[ -f "$T/f/a.npy" ] && [ -f "$T/f/d.npy" ] && [ -f "$T/st/a.stftpow.npy" ] && [ -f "$T/st/d.db.npy" ] &&
  [ -f "$T/st/window.npy" ] && [ -f "$T/st/melfb.npy" ]
ok $? "ids from file names; stages dumped"
cmp -s "$T/f/a.npy" "$T/n1/01-01-01-01-01-01.npy"; ok $? "same clip, same features from index or file"
mkdir -p "$T/dup"; cp "$T/a.wav" "$T/dup/a.wav"
expect_exit 2 "two files with one id" $EM --npy "$T/y" "$T/a.wav" "$T/dup/a.wav"
$EM -q --noise-level 0.05 --noise-seed 3 -j 1 --npy "$T/z1" "$T/index.csv" &&
  $EM -q --noise-level 0.05 --noise-seed 3 -j 2 --npy "$T/z2" "$T/index.csv"
ok $? "noise runs"
diff -r "$T/z1" "$T/z2" > /dev/null && ! cmp -s "$T/z1/01-01-01-01-01-01.npy" "$T/n1/01-01-01-01-01-01.npy"
ok $? "noise is seeded per clip: deterministic across -j, changes the features"
$EM -q --n-mels 40 --max-len 50 --top-db none --npy "$T/o" "$T/a.wav" &&
  $PY -c "import numpy as np,sys; a=np.load(sys.argv[1]); assert a.shape==(40,50), a.shape; assert a.min() < a.max() - 80.5, (a.min(), a.max())" "$T/o/a.npy"
ok $? "n_mels, max_len and top_db none apply"

# ---- bad input: one line naming the file and the reason, exit 1, no output ----
check_bad() {  # check_bad FILE REASON
  local f=$1 why=$2 rc
  rm -rf "$T/bad_out"
  $EM -q --npy "$T/bad_out" "$T/$f" 2> "$T/err.txt"; rc=$?
  [ "$rc" -eq 1 ] && [ "$(wc -l < "$T/err.txt")" -eq 1 ] && grep -q "$f" "$T/err.txt" &&
    grep -q "$why" "$T/err.txt" && [ -z "$(ls "$T/bad_out" 2>/dev/null)" ]
  ok $? "$f: exit $rc, one line naming the file and '$why', no output ($(cat "$T/err.txt"))"
}
check_bad trunc.wav truncated
check_bad empty.wav "empty file"
check_bad junk.wav "cannot decode"
check_bad unsup.wav "unsupported"
check_bad missing.wav "No such file"
check_bad short.wav "too short"

rm -rf "$T/k"
$EM -q --npy "$T/k" "$T/bad.csv" 2> "$T/err.txt"; rc=$?
[ "$rc" -eq 1 ] && [ -z "$(ls "$T/k" 2>/dev/null)" ]
ok $? "index with bad clips: exit $rc, first bad clip stops the run, nothing left"
$EM -q -k --npy "$T/k" --failures "$T/fail.csv" "$T/bad.csv" 2> "$T/err.txt"; rc=$?
[ "$rc" -eq 3 ]; ok $? "--keep-going exits 3 (got $rc)"
[ "$(tail -n +2 "$T/fail.csv" | wc -l)" -eq 6 ] && head -1 "$T/fail.csv" | grep -q "^id,path,reason" &&
  grep -q "trunc.wav.*truncated" "$T/fail.csv" && grep -q "short.wav.*too short" "$T/fail.csv"
ok $? "failures CSV lists the 6 bad clips with reasons"
[ -f "$T/k/01-01-01-01-01-01.npy" ] && [ -f "$T/k/01-01-01-02-01-01.npy" ] &&
  [ "$(tail -n +2 "$T/k/mel_frames.csv" | wc -l)" -eq 2 ]
ok $? "--keep-going writes the good clips"

# ---- HDF5 output ----
$EM -q -j 2 "$T/index.csv" -o "$T/mel.h5" && $EM -q -j 1 "$T/index.csv" -o "$T/mel1.h5"
ok $? "index -> mel.h5 (-j 2 and -j 1)"
$PY - "$T/mel.h5" "$T/mel1.h5" "$T/n1" "$T/index.csv" <<'EOF'
import sys, os, hashlib, h5py, numpy as np
a, b, npy, index = sys.argv[1:]
with h5py.File(a, 'r') as f, h5py.File(b, 'r') as g:
    ids = [x.decode() if isinstance(x, bytes) else x for x in f['clips/id'][()]]
    assert ids == sorted(ids) and len(ids) == 4, ids
    assert f['mel'].shape == (4, 64, 300) and f['mel'].dtype == np.float32
    assert f['mel_frames'].dtype == np.int32
    frames = dict(l.strip().split(',') for l in open(os.path.join(npy, 'mel_frames.csv')).readlines()[1:])
    for i, cid in enumerate(ids):
        assert np.array_equal(f['mel'][i], np.load(os.path.join(npy, cid + '.npy'))), cid
        assert f['mel_frames'][i] == int(frames[cid]), cid
    assert np.array_equal(f['mel'][()], g['mel'][()]) and np.array_equal(f['mel_frames'][()], g['mel_frames'][()])
    at = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    for k in ('audio.sr', 'audio.n_fft', 'audio.hop', 'audio.n_mels', 'audio.fmin', 'audio.fmax',
              'audio.top_db', 'audio.max_len', 'audio.preemphasis', 'audio.noise_level', 'audio.noise_seed',
              'config', 'config_sha256', 'tool_version', 'shard'):
        assert k in at, k
    assert at['kind'] == 'mel' and at['audio.fmax'] == '8000' and at['audio.n_mels'] == '64'
    assert at['index_sha256'] == hashlib.sha256(open(index, 'rb').read()).hexdigest()
    assert 'n_mels: 64' in at['config']
EOF
ok $? "mel.h5: [N, 64, 300] float32 equal to the npy output, -j independent, attributes"
$EM -q "$T/bad.csv" -o "$T/bad.h5" 2>/dev/null; rc=$?
[ "$rc" -eq 1 ] && [ -z "$(ls -A "$T" | grep 'bad.h5')" ]
ok $? "mel.h5 (nor a temporary) not left when a clip fails (exit $rc)"
$EM -q -k "$T/bad.csv" -o "$T/bad.h5" 2>/dev/null; rc=$?
[ "$rc" -eq 3 ] && [ -f "$T/bad.h5.failures.csv" ] &&
  $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f['mel'].shape[0]==2" "$T/bad.h5"
ok $? "mel.h5 with --keep-going: good clips kept, failures next to it, exit $rc"

done_testing
