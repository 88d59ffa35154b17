#!/usr/bin/env bash
# ravdess-index end to end: golden output, options, every bad-input case, --keep-going.
# The trees are empty files with RAVDESS names: the tool never opens media.
. "$(dirname "$0")/../lib.sh"
T=$(mktmp)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T" || exit 1

# the 60 speech clip ids of actor $1 (VV-EE-II-SS-RR-AA)
grid() {
  local e i s r
  for e in 01 02 03 04 05 06 07 08; do for i in 01 02; do
    [ "$e$i" = 0102 ] && continue
    for s in 01 02; do for r in 01 02; do echo "01-$e-$i-$s-$r-$1"; done; done
  done; done
}
# mkactor DIR ACTOR MODALITY...: one file per id and modality in DIR
mkactor() {
  local dir=$1 a=$2 m; shift 2
  mkdir -p "$dir"
  for m in "$@"; do
    local ext=mp4; [ "$m" = 03 ] && ext=wav
    grid "$a" | sed "s|^|$dir/$m-|; s|\$|.$ext|" | xargs touch
  done
}
lines() { wc -l <"$1" | tr -d ' '; }

# ---------------------------------------------------------------- usage
ravdess-index --help >help.txt; ok $? "--help exits 0"
grep -q "^  ravdess-index \[OPTIONS\] ROOT" help.txt && grep -q "^EXIT STATUS" help.txt &&
  grep -q -- "--modality" help.txt && grep -q "^EXAMPLES" help.txt
ok $? "--help has usage, options, examples, exit status"
expect_exit 0 "--version" ravdess-index --version
expect_exit 2 "no root" ravdess-index
expect_exit 2 "unknown option" ravdess-index --bogus x
expect_exit 2 "--modality bogus" ravdess-index --modality bogus x
expect_exit 2 "--vocal bogus" ravdess-index --vocal bogus x
expect_exit 2 "--labels bogus" ravdess-index --labels seed6 x
expect_exit 2 "--calm drop with native8" ravdess-index --labels native8 --calm drop x
expect_exit 2 "--folds 2" ravdess-index --folds 2 x
expect_exit 2 "--fold without --folds" ravdess-index --fold 1 x
expect_exit 2 "--fold out of range" ravdess-index --folds 4 --fold 4 x
expect_exit 2 "actor in val and test" ravdess-index --val-actors 3,4 --test-actors 4 x
expect_exit 2 "--shard refused" ravdess-index --shard 0/2 x
ravdess-index --modality bogus x 2>err.txt
grep -Eq "^ravdess-index: .*corpus.modality.*av audio video.*'bogus'" err.txt
ok $? "bad --modality names the key: $(cat err.txt)"
ravdess-index --print-config | grep -q "modality: av"
ok $? "--print-config shows corpus.modality"

# ---------------------------------------------------------------- golden
# flat Actor_01 (audio-zip layout), nested Actor_02 (video-zip layout), noise files
mkdir -p g/Actor_01 g/Video_Speech_Actor_02/Actor_02 g/Audio_Speech_Actors_01-24/Actor_02 g/__MACOSX/Actor_01
touch g/Actor_01/01-01-01-01-01-01-01.mp4 g/Actor_01/03-01-01-01-01-01-01.wav \
      g/Actor_01/01-01-02-02-01-02-01.mp4 g/Actor_01/03-01-02-02-01-02-01.wav \
      g/Actor_01/01-01-05-02-02-01-01.mp4 g/Actor_01/03-01-05-02-02-01-01.wav \
      g/Actor_01/02-01-05-02-02-01-01.mp4 \
      g/Video_Speech_Actor_02/Actor_02/01-01-08-01-01-01-02.mp4 \
      g/Video_Speech_Actor_02/Actor_02/02-01-08-01-01-01-02.mp4 \
      g/Audio_Speech_Actors_01-24/Actor_02/03-01-08-01-01-01-02.wav \
      g/Video_Speech_Actor_02/Actor_02/01-01-06-01-02-02-02.mp4 \
      g/Audio_Speech_Actors_01-24/Actor_02/03-01-06-01-02-02-02.wav \
      g/Actor_01/01-02-03-01-01-01-01.mp4 g/Actor_01/03-02-03-01-01-01-01.wav \
      g/README.md g/Actor_01/.DS_Store g/Actor_01/._01-01-01-01-01-01-01.mp4 g/Actor_01/notes.txt \
      g/__MACOSX/Actor_01/01-01-09-01-01-01-01.mp4
cat >golden.csv <<'EOF'
id,actor,gender,vocal_channel,emotion,emotion_name,intensity,statement,repetition,label,label_name,split,video_path,audio_path
01-01-01-01-01-01,1,male,1,1,neutral,1,1,1,6,Neutral,train,g/Actor_01/01-01-01-01-01-01-01.mp4,g/Actor_01/03-01-01-01-01-01-01.wav
01-02-02-01-02-01,1,male,1,2,calm,2,1,2,6,Neutral,train,g/Actor_01/01-01-02-02-01-02-01.mp4,g/Actor_01/03-01-02-02-01-02-01.wav
01-05-02-02-01-01,1,male,1,5,angry,2,2,1,0,Angry,train,g/Actor_01/01-01-05-02-02-01-01.mp4,g/Actor_01/03-01-05-02-02-01-01.wav
01-06-01-02-02-02,2,female,1,6,fearful,1,2,2,2,Fear,train,g/Video_Speech_Actor_02/Actor_02/01-01-06-01-02-02-02.mp4,g/Audio_Speech_Actors_01-24/Actor_02/03-01-06-01-02-02-02.wav
01-08-01-01-01-02,2,female,1,8,surprised,1,1,1,5,Surprise,train,g/Video_Speech_Actor_02/Actor_02/01-01-08-01-01-01-02.mp4,g/Audio_Speech_Actors_01-24/Actor_02/03-01-08-01-01-01-02.wav
EOF
ravdess-index g -o out.csv 2>err.txt
ok $? "golden tree indexes (exit 0)"
cmp -s out.csv golden.csv
ok $? "golden output (both layouts, noise ignored, song left out, 02 unused)"
[ "$(grep -c . err.txt)" -ge 2 ] && grep -q "5 clips from 14 corpus files under 1 root" err.txt &&
  grep -q "split: train 5 clips (2 actors), val 0 clips (0 actors), test 0 clips (0 actors)" err.txt &&
  grep -q "left out 1 song clip (corpus.vocal speech)" err.txt
ok $? "per-split counts and left-out song clip on stderr"
ravdess-index g 2>/dev/null >stdout.csv
cmp -s stdout.csv golden.csv
ok $? "no -o writes the same to stdout"
ravdess-index g/ -o - 2>/dev/null | cmp -s - golden.csv
ok $? "-o - and a trailing slash give the same output"
ravdess-index -q g -o q.csv 2>err.txt; [ ! -s err.txt ]
ok $? "-q prints nothing on success"
ravdess-index -v g -o v.csv 2>err.txt; grep -q "debug: ignoring 'g/README.md'" err.txt && grep -q "skipping hidden" err.txt
ok $? "-v names ignored and skipped files"

ravdess-index g --labels native8 -o n8.csv 2>/dev/null
[ "$(cut -d, -f1,10,11 n8.csv | tr '\n' ' ')" = "id,label,label_name 01-01-01-01-01-01,0,neutral 01-02-02-01-02-01,1,calm 01-05-02-02-01-01,4,angry 01-06-01-02-02-02,5,fearful 01-08-01-01-01-02,7,surprised " ]
ok $? "--labels native8: label = code - 1"
ravdess-index g --calm drop -o drop.csv 2>err.txt
[ "$(lines drop.csv)" = 5 ] && ! grep -q ",calm," drop.csv && grep -q "left out 1 calm clip (labels.calm drop)" err.txt
ok $? "--calm drop leaves calm out and says so"
printf 'labels:\n  set: native8\n' >n8.yaml
ravdess-index -c n8.yaml g -o cfg.csv 2>/dev/null && cmp -s cfg.csv n8.csv
ok $? "--config labels.set native8 = --labels native8"
ravdess-index g --set labels.set=native8 -o set.csv 2>/dev/null && cmp -s set.csv n8.csv
ok $? "--set labels.set=native8 = --labels native8"
ravdess-index g --vocal all -o all.csv 2>/dev/null
[ "$(lines all.csv)" = 7 ] && grep -q "^02-03-01-01-01-01,1,male,2,3,happy," all.csv
ok $? "--vocal all includes the song clip"
ravdess-index g --vocal song -o song.csv 2>/dev/null
[ "$(lines song.csv)" = 2 ]
ok $? "--vocal song: the song clip only"
ravdess-index g --modality video -o video.csv 2>/dev/null
[ "$(awk -F, 'NR > 1 && $14 != ""' video.csv | wc -l)" = 0 ] && [ "$(lines video.csv)" = 6 ]
ok $? "--modality video: audio_path empty"
ravdess-index g --absolute -o abs.csv 2>/dev/null
grep -q ",$T/g/Actor_01/01-01-01-01-01-01-01.mp4,$T/g/Actor_01/03-01-01-01-01-01-01.wav\$" abs.csv
ok $? "--absolute writes absolute paths"

# ---------------------------------------------------------------- full corpus, splits, speed
for a in $(seq -w 1 24); do
  mkactor "full/Video_Speech_Actor_$a/Actor_$a" "$a" 01 02
  mkactor "full/Audio_Speech_Actors_01-24/Actor_$a" "$a" 03
done
ravdess-index -v full -o full.csv 2>err.txt
ok $? "24 actors x 60 clips (4,320 files) index"
[ "$(lines full.csv)" = 1441 ]
ok $? "1,440 clips"
ms=$(sed -n 's/.*walked and paired 4320 files in \([0-9.]*\) ms/\1/p' err.txt)
# Speed is a benchmark's business, not a test's (a loaded CI machine would fail it):
# the test checks the timing line exists and prints the figure.
[ -n "$ms" ]
ok $? "walk + pairing of 1,440 clips (4,320 files) reports its time (${ms:-?} ms)"
grep -q "split: train 840 clips (14 actors), val 300 clips (5 actors), test 300 clips (5 actors)" err.txt
ok $? "default split counts on stderr"
[ "$(cut -d, -f12 full.csv | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" = "split=1 test=300 train=840 val=300 " ]
ok $? "default actor lists: train 840, val 300, test 300"
ravdess-index full --folds 4 --fold 1 -o f41.csv 2>err.txt
[ "$(awk -F, 'NR > 1 { print $2 % 4, $12 }' f41.csv | sort -u | tr '\n' ' ')" = "0 train 1 train 2 test 3 val " ]
ok $? "--folds 4 --fold 1: actor a in fold (a-1) mod 4; fold 1 test, fold 2 val"
grep -q "split: train 720 clips (12 actors), val 360 clips (6 actors), test 360 clips (6 actors)" err.txt
ok $? "fold split counts on stderr"
ravdess-index full -o again.csv 2>/dev/null && cmp -s full.csv again.csv
ok $? "deterministic: two runs, same bytes"
ravdess-index -j 1 full -o j1.csv 2>/dev/null && cmp -s full.csv j1.csv
ok $? "-j 1 gives the same bytes"

# ---------------------------------------------------------------- bad input
# bad NAME EXPECTED-STDERR-LINE ROOT...: exit 1, exactly that one line, no output written
bad() {
  local d=$1 want=$2; shift 2
  rm -rf outdir; mkdir outdir
  ravdess-index "$@" -o outdir/index.csv >stdout.txt 2>err.txt; local rc=$?
  [ "$rc" -eq 1 ]; ok $? "$d: exit 1 (got $rc)"
  [ "$(cat err.txt)" = "ravdess-index: $want" ]; ok $? "$d: one line: $(head -3 err.txt)"
  [ -z "$(ls -A outdir)" ] && [ ! -s stdout.txt ]; ok $? "$d: nothing written"
}
mkdir -p empty; bad "empty root" "'empty': no RAVDESS files found (want Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4 or .wav below this folder)" empty
bad "nonexistent root" "'nope/corpus': cannot read folder: No such file or directory" nope/corpus
mkdir -p docs/sub; touch docs/README.md docs/sub/notes.txt
bad "root without RAVDESS files" "'docs': no RAVDESS files found (want Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4 or .wav below this folder)" docs
bad "a file as root" "'golden.csv': cannot read folder: Not a directory" golden.csv

one() {  # one DIR FILE: a tree holding one good clip plus FILE
  rm -rf "$1"; mkdir -p "$1/Actor_01"
  touch "$1/Actor_01/01-01-03-01-01-01-01.mp4" "$1/Actor_01/03-01-03-01-01-01-01.wav"
  mkdir -p "$(dirname "$1/$2")"; touch "$1/$2"
}
one b1 Actor_01/01-01-09-01-01-01-01.mp4
bad "emotion 09" "'b1/Actor_01/01-01-09-01-01-01-01.mp4': emotion '09' is not 01-08" b1
one b2 Actor_01/03-01-01-02-01-01-01.wav
bad "strong neutral" "'b2/Actor_01/03-01-01-02-01-01-01.wav': intensity '02' (strong) does not occur with emotion '01' (neutral)" b2
one b3 Actor_01/03-01-04-01-01-01-01.mp4
bad "wav modality with .mp4" "'b3/Actor_01/03-01-04-01-01-01-01.mp4': extension '.mp4' is not '.wav' (modality '03' is audio-only)" b3
one b4 Actor_01/01-01-04-01-01-01-01.MP4
bad "upper-case extension" "'b4/Actor_01/01-01-04-01-01-01-01.MP4': extension '.MP4' is not '.mp4' (modality '01' is full-AV)" b4
one b5 Actor_01/01-02-07-01-01-01-01.mp4
bad "song disgust" "'b5/Actor_01/01-02-07-01-01-01-01.mp4': emotion '07' (disgust) does not occur in song (vocal channel 02 has emotions 01-06)" b5
one b6 Actor_02/01-01-04-01-01-01-01.mp4
bad "wrong actor folder" "'b6/Actor_02/01-01-04-01-01-01-01.mp4': actor '01' does not match its folder 'Actor_02'" b6
one b7 Actor_01/clip.mp4
bad "foreign mp4 name" "'b7/Actor_01/clip.mp4': name has 1 field, want 7 (MM-VV-EE-II-SS-RR-AA.ext)" b7
one b8 Actor_01/01-01-04-01-01-01-01.mp4
bad "missing wav" "'b8/Actor_01/01-01-04-01-01-01-01.mp4': no wav '03-01-04-01-01-01-01.wav' for this mp4" b8
one b9 Actor_01/03-01-04-01-01-01-01.wav
bad "missing mp4" "'b9/Actor_01/03-01-04-01-01-01-01.wav': no full-AV mp4 '01-01-04-01-01-01-01.mp4' for this wav" b9
one b10 01-01-04-01-01-01-01.mp4
bad "file outside an Actor folder" "'b10/01-01-04-01-01-01-01.mp4': folder 'b10' is not Actor_01 (actor '01')" b10
one b11 Actor_01/01-01-04-01-01-01-1.mp4
bad "one-digit actor" "'b11/Actor_01/01-01-04-01-01-01-1.mp4': actor '1' is not two digits" b11
one b12 Actor_01/01-01-04-01-01-01-01.avi
bad "RAVDESS name, other extension" "'b12/Actor_01/01-01-04-01-01-01-01.avi': extension '.avi' is not '.mp4' (modality '01' is full-AV)" b12
one b13 a/b/c/d/e/f/g/h/i/x.txt
bad "folder nested too deep" "'b13/a/b/c/d/e/f/g/h/i': folder is nested more than 8 levels below the corpus root" b13
one d1 README; mkdir -p d2/Actor_01; touch d2/Actor_01/01-01-03-01-01-01-01.mp4
bad "duplicate across roots" "'d2/Actor_01/01-01-03-01-01-01-01.mp4': duplicate of 'd1/Actor_01/01-01-03-01-01-01-01.mp4' (the same file name twice)" d1 d2
ln -s nowhere b1/Actor_01/01-01-05-01-01-01-01.mp4; rm b1/Actor_01/01-01-09-01-01-01-01.mp4
bad "dangling symlink" "'b1/Actor_01/01-01-05-01-01-01-01.mp4': cannot stat: No such file or directory" b1

# an unreadable folder: as root, drop to nobody (root reads anything)
one u Actor_01/README; mkdir -p u/Actor_03; touch u/Actor_03/01-01-03-01-01-01-03.mp4; chmod 000 u/Actor_03
if [ "$(id -u)" -ne 0 ]; then
  bad "unreadable folder" "'u/Actor_03': cannot read folder: Permission denied" u
elif command -v setpriv >/dev/null && chmod 755 "$T" && cp "$(command -v ravdess-index)" "$T/ri" && chmod 755 "$T/ri"; then
  rm -rf outdir; mkdir outdir; chmod 777 outdir
  setpriv --reuid=65534 --regid=65534 --clear-groups "$T/ri" u -o outdir/index.csv >stdout.txt 2>err.txt; rc=$?
  [ "$rc" -eq 1 ] && [ "$(cat err.txt)" = "ravdess-index: 'u/Actor_03': cannot read folder: Permission denied" ] &&
    [ -z "$(ls -A outdir)" ]
  ok $? "unreadable folder (as nobody): exit $rc, $(head -2 err.txt)"
else
  skip "unreadable folder: cannot drop root"
fi
chmod 755 u/Actor_03

# a previous index.csv stays as it was
cp golden.csv keep.csv
ravdess-index b1 -o keep.csv 2>/dev/null; rc=$?
[ $rc -eq 1 ] && cmp -s keep.csv golden.csv
ok $? "a failed run leaves an existing output untouched"
[ -z "$(ls -A . | grep '\.tmp-')" ]
ok $? "no temporary files left"

# many faults: one line each, capped at 20 and a summary
mkdir -p many/Actor_01; for e in 01 02 03 04 05 06 07 08; do for s in 01 02; do for r in 01 02; do
  touch "many/Actor_01/01-01-$e-01-$s-$r-01.mp4"; done; done; done
ravdess-index many -o x.csv 2>err.txt; rc=$?
[ $rc -eq 1 ] && [ "$(lines err.txt)" = 21 ] && tail -1 err.txt | grep -q "12 more faults (--keep-going lists them all" && [ ! -e x.csv ]
ok $? "32 faults: 20 lines and a summary, exit 1"

# ---------------------------------------------------------------- --keep-going
rm -rf k; mkactor k/Actor_01 01 01 03; touch k/Actor_01/01-01-09-01-01-01-01.mp4 k/Actor_01/03-01-01-02-01-01-01.wav
rm k/Actor_01/03-01-05-02-01-02-01.wav
ravdess-index -k k -o k.csv 2>err.txt; rc=$?
[ $rc -eq 3 ]; ok $? "--keep-going with faults: exit 3 (got $rc)"
[ "$(lines k.csv)" = 60 ]; ok $? "--keep-going indexes the 59 good clips"
cat >kfail.csv <<'EOF'
id,path,reason
,k/Actor_01/01-01-09-01-01-01-01.mp4,emotion '09' is not 01-08
,k/Actor_01/03-01-01-02-01-01-01.wav,intensity '02' (strong) does not occur with emotion '01' (neutral)
01-05-02-01-02-01,k/Actor_01/01-01-05-02-01-02-01.mp4,no wav '03-01-05-02-01-02-01.wav' for this mp4
EOF
cmp -s k.csv.failures.csv kfail.csv
ok $? "failures CSV lists every fault (default name k.csv.failures.csv)"
grep -q "warning: skipped 3 faults, listed in 'k.csv.failures.csv'" err.txt && grep -q "warning: 'k/Actor_01/01-01-09-01-01-01-01.mp4': emotion '09' is not 01-08" err.txt
ok $? "--keep-going warns each fault and where they are listed"
ravdess-index -k k -o k2.csv --failures my-failures.csv 2>/dev/null; rc=$?
[ $rc -eq 3 ] && cmp -s my-failures.csv kfail.csv && [ ! -e k2.csv.failures.csv ]
ok $? "--failures FILE"
ravdess-index -k g -o clean.csv 2>/dev/null; rc=$?
[ $rc -eq 0 ] && [ ! -e clean.csv.failures.csv ]
ok $? "--keep-going on a clean tree: exit 0, no failures file"
rm -rf outdir; mkdir outdir
ravdess-index -k b2 g -o outdir/index.csv 2>/dev/null; rc=$?
[ $rc -eq 3 ] && [ "$(lines outdir/index.csv)" = 7 ]
ok $? "--keep-going over two roots, one faulty: exit 3, good clips of both"
rm -rf outdir; mkdir outdir
ravdess-index -k empty -o outdir/index.csv 2>err.txt; rc=$?
[ $rc -eq 1 ] && [ ! -e outdir/index.csv ] && [ -e outdir/index.csv.failures.csv ] && grep -q "no clips to index" err.txt
ok $? "--keep-going with nothing left: exit 1, failures CSV, no index"
ravdess-index full --vocal song -o none.csv 2>err.txt; rc=$?
[ $rc -eq 1 ] && [ ! -e none.csv ] && grep -q "no clips to index (all were left out" err.txt
ok $? "everything left out on purpose: exit 1, no index"

done_testing
