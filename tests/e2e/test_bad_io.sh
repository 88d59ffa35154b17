#!/usr/bin/env bash
# Bad inputs and outputs, every tool (tests/lib.sh bad_case: exit code, a message
# naming the file and the reason, no temporary left, inputs unchanged):
#   identity   an output that is an input (same name, ./x, symlink, hard link,
#              run-model --logits, two outputs on one file), refused up front
#              (exit 2), or at commit when the input is only known then (exit 1)
#   kinds      a folder, a FIFO, /dev/zero, a missing or unreadable file as input
#   config     repeated --config, bad --set values, unknown keys, --set of a key
#              the tool does not read
#   names      outputs in a missing folder, an output that is a folder
#   sweep      a SIGKILLed writer's temporary is removed by the next run
set -u
. "$(dirname "$0")/../lib.sh"
need_sample
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"
cd "$T" || exit 1
F=-F; run-model --help | grep -q -- '-F, ' || F=-i  # -F once the runner lands it

# a private copy of four clips, so that an output may even name a wav of the index
mkdir -p corpus/Actor_01 corpus/Actor_02
cp "$SAMPLE"/Actor_01/*-01-01-01-01-01.* corpus/Actor_01/ 2>/dev/null
cp "$SAMPLE"/Actor_02/*-01-01-01-01-02.* corpus/Actor_02/ 2>/dev/null
ravdess-index corpus -o index.csv -q && extract-frames index.csv -o frames.h5 -q &&
  extract-mel index.csv -o mel.h5 -q && pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o features.h5 -q &&
  $PY "$FIX" model model.h5 && run-model -m model.h5 $F features.h5 -o pred.csv -q
ok $? "fixtures: index, stores, model, predictions"
WAV=$(ls corpus/Actor_01/03-*.wav | head -1)
ln -s index.csv link.csv; ln -s pred.csv plink.csv; ln index.csv hard.csv
ln -s mel.h5 link.h5; ln frames.h5 hard.h5
ln -s model.h5 mlink.h5; ln model.h5 mhard.h5
cp pred.csv metrics.csv
mkfifo fifo
mkdir -p adir
printf 'audio:\n  n_mels: 40\n  hop: 256\n' >a.yaml
printf 'audio:\n  n_mels: 80\n' >b.yaml
printf 'audio:\n  n_melz: 80\n' >typo.yaml
export BAD_DIRS="$T $T/corpus/Actor_01 $T/out"
export BAD_INPUTS="index.csv frames.h5 mel.h5 features.h5 model.h5 pred.csv metrics.csv a.yaml $WAV"
mkdir -p out
IS="output '.*' is the input '.*'"

# ---------------------------------------------------------------- identity
bad_case 2 "$IS" "extract-mel -o the index" extract-mel index.csv -o index.csv
bad_case 2 "$IS" "extract-mel -o ./the index" extract-mel index.csv -o ./index.csv
bad_case 2 "$IS" "extract-mel -o a symlink to the index" extract-mel index.csv -o link.csv
bad_case 2 "$IS" "extract-mel -o a hard link of the index" extract-mel index.csv -o hard.csv
bad_case 1 "output '$WAV' is the input" "extract-mel -o a wav the index lists (refused at commit)" extract-mel index.csv -o "$WAV"
bad_case 2 "$IS" "extract-frames -o the index" extract-frames index.csv -o index.csv
bad_case 2 "$IS" "extract-frames -o ./the index" extract-frames index.csv -o ./index.csv
bad_case 2 "$IS" "extract-frames -o a symlink to the index" extract-frames index.csv -o link.csv
bad_case 2 "$IS" "extract-frames -o a hard link of the index" extract-frames hard.csv -o index.csv
bad_case 2 "$IS" "pack-h5 -o the index" pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o index.csv
bad_case 2 "$IS" "pack-h5 -o the frames store" pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o frames.h5
bad_case 2 "$IS" "pack-h5 -o ./the mel store" pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o ./mel.h5
bad_case 2 "$IS" "pack-h5 -o a symlink to the mel store" pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o link.h5
bad_case 2 "$IS" "pack-h5 -o a hard link of the frames store" pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o hard.h5
bad_case 2 "$IS" "run-model -o the features store" run-model -m model.h5 $F features.h5 -o features.h5
bad_case 2 "$IS" "run-model -o the model" run-model -m model.h5 $F features.h5 -o ./model.h5
bad_case 2 "$IS" "run-model --logits the features store" run-model -m model.h5 $F features.h5 -o out/p.csv --logits features.h5
bad_case 2 "$IS" "run-model --logits ./the model" run-model -m model.h5 $F features.h5 -o out/p.csv --logits ./model.h5
bad_case 2 "$IS" "run-model -o a symlink to the model" run-model -m model.h5 $F features.h5 -o mlink.h5
bad_case 2 "$IS" "run-model --logits a hard link of the model" run-model -m model.h5 $F features.h5 -o out/p.csv --logits mhard.h5
bad_case 2 "outputs 'out/p.csv' and '(\./)?out/p.csv' are the same file" "run-model -o and --logits on one file" run-model -m model.h5 $F features.h5 -o out/p.csv --logits ./out/p.csv
bad_case 2 "$IS" "quantize-model -o the model" quantize-model model.h5 -o model.h5
bad_case 2 "$IS" "quantize-model -o ./the model" quantize-model model.h5 -o ./model.h5
bad_case 2 "$IS" "quantize-model -o a symlink to the model" quantize-model model.h5 -o mlink.h5
bad_case 2 "$IS" "quantize-model -o a hard link of the model" quantize-model model.h5 -o mhard.h5
bad_case 2 "$IS" "quantize-model -o the calibration store" quantize-model model.h5 --calibrate features.h5 -o features.h5
bad_case 2 "$IS" "score --metrics the predictions" score pred.csv --metrics pred.csv -o out
bad_case 2 "$IS" "score --svg ./the predictions" score pred.csv --svg ./pred.csv -o out
bad_case 2 "$IS" "score -o the folder of an input named metrics.csv" score metrics.csv -o .
bad_case 2 "$IS" "score --confusion a symlink to the predictions" score pred.csv --confusion plink.csv -o out
bad_case 2 "outputs .* are the same file" "ravdess-index -o and --failures on one file" ravdess-index corpus -k -o out/i.csv --failures ./out/i.csv

# ---------------------------------------------------------------- input kinds
DIR="'adir' is a directory"; FIFO="'fifo' is not a regular file \(a FIFO\)"
ZERO="'/dev/zero' is not a regular file \(a character device\)"; MISS="cannot open 'missing[^']*': No such file"
for tool in extract-mel extract-frames; do
  bad_case 1 "$DIR" "$tool: the index is a folder" $tool adir -o out/x.h5
  bad_case 1 "$FIFO" "$tool: the index is a FIFO" $tool fifo -o out/x.h5
  bad_case 1 "$ZERO" "$tool: the index is /dev/zero" $tool /dev/zero -o out/x.h5
  bad_case 1 "$MISS" "$tool: the index is missing" $tool missing.csv -o out/x.h5
done
bad_case 1 "$DIR" "pack-h5: -f a folder" pack-h5 -i index.csv -f adir -a mel.h5 -o out/f.h5
bad_case 1 "$FIFO" "pack-h5: -a a FIFO" pack-h5 -i index.csv -f frames.h5 -a fifo -o out/f.h5
bad_case 1 "$ZERO" "pack-h5: -i /dev/zero" pack-h5 -i /dev/zero -f frames.h5 -a mel.h5 -o out/f.h5
bad_case 1 "$MISS" "pack-h5: -f missing" pack-h5 -i index.csv -f missing.h5 -a mel.h5 -o out/f.h5
bad_case 1 "$DIR" "run-model: -m a folder" run-model -m adir $F features.h5 -o out/p.csv
bad_case 1 "$FIFO" "run-model: -m a FIFO" run-model -m fifo $F features.h5 -o out/p.csv
bad_case 1 "$ZERO" "run-model: the features are /dev/zero" run-model -m model.h5 $F /dev/zero -o out/p.csv
bad_case 1 "$MISS" "run-model: -m missing" run-model -m missing.h5 $F features.h5 -o out/p.csv
bad_case 1 "$DIR" "quantize-model: a folder" quantize-model adir -o out/q.h5
bad_case 1 "$FIFO" "quantize-model: a FIFO" quantize-model fifo -o out/q.h5
bad_case 1 "$ZERO" "quantize-model: /dev/zero" quantize-model /dev/zero -o out/q.h5
bad_case 1 "$MISS" "quantize-model: missing" quantize-model missing.h5 -o out/q.h5
bad_case 1 "$DIR" "score: a folder" score adir -o out
bad_case 1 "$FIFO" "score: a FIFO" score fifo -o out
bad_case 1 "$ZERO" "score: /dev/zero" score /dev/zero -o out
bad_case 1 "$MISS" "score: missing" score missing.csv -o out
bad_case 2 "$DIR" "--config a folder" extract-mel --config adir index.csv -o out/m.h5
bad_case 2 "$FIFO" "--config a FIFO" extract-frames --config fifo index.csv -o out/f.h5
bad_case 2 "$ZERO" "--config /dev/zero" pack-h5 --config /dev/zero -i index.csv -f frames.h5 -o out/f.h5
bad_case 2 "$MISS" "--config missing" ravdess-index --config missing.yaml corpus -o out/i.csv
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  AS=()
fi
if [ "$(id -u)" -ne 0 ] || [ ${#AS[@]} -gt 0 ]; then
  cp pred.csv secret.csv; chmod 000 secret.csv; chmod 777 out; chmod 755 "$T"
  bad_case 1 "cannot open 'secret.csv': Permission denied" "score: an unreadable file" "${AS[@]}" score secret.csv -o out
  cp index.csv secret.csv; chmod 000 secret.csv
  bad_case 1 "cannot open 'secret.csv': Permission denied" "extract-mel: an unreadable index" "${AS[@]}" extract-mel secret.csv -o out/m.h5
else
  ok 0 "# SKIP unreadable files: running as root without setpriv"
fi

# ---------------------------------------------------------------- config
extract-mel --config a.yaml --config b.yaml --print-config >cfg.txt 2>&1
grep -q "n_mels: 80" cfg.txt && grep -q "hop: 256" cfg.txt
ok $? "--config twice: both files apply, in order"
extract-mel --config b.yaml --config a.yaml --print-config | grep -q "n_mels: 40"
ok $? "--config in the other order: the last file wins"
bad_case 2 "audio.n_mels' wants an integer 1 to 1024, got 'abc'" "--set audio.n_mels=abc" extract-mel --set audio.n_mels=abc index.csv -o out/m.h5
bad_case 2 "audio.n_mels' wants an integer" "--set audio.n_mels=0 with --print-config" extract-mel --set audio.n_mels=0 --print-config
bad_case 2 "store.deflate' wants an integer 0 to 9, got '10'" "--set store.deflate=10" pack-h5 --set store.deflate=10 -i index.csv -f frames.h5 -o out/f.h5
bad_case 2 "audio.top_db' wants a number .* or 'none'" "--set audio.top_db=loud" extract-mel --set audio.top_db=loud --print-config
bad_case 2 "labels.set' wants one of: seed7 native8" "--set labels.set=seed8" ravdess-index --set labels.set=seed8 corpus -o out/i.csv
bad_case 2 "run.batch' wants an integer" "--set run.batch=0" run-model --set run.batch=0 -m model.h5 $F features.h5 -o out/p.csv
bad_case 2 "image.width' wants an integer 1 to 16384" "--set image.width=-3" extract-frames --set image.width=-3 index.csv -o out/f.h5
bad_case 2 "image.mean' wants 3 numbers" "--set image.mean=0.5,0.5" extract-frames --set image.mean=0.5,0.5 --print-config
bad_case 2 "split.val_actors' wants a list of integers 1 to 99" "--set split.val_actors=3,100" ravdess-index --set split.val_actors=3,100 --print-config
bad_case 2 "unknown config key 'audio.n_melz'" "--set of an unknown key" extract-mel --set audio.n_melz=3 --print-config
bad_case 2 "typo.yaml: unknown config key 'audio.n_melz'" "an unknown key in a config file" extract-mel --config typo.yaml index.csv -o out/m.h5
bad_case 2 "--set 'run.batch': quantize-model reads no config keys" "quantize-model refuses --set" quantize-model --set run.batch=4 model.h5 -o out/q.h5
bad_case 2 "--set 'audio.sr': score reads no config keys" "score refuses --set" score --set audio.sr=8000 pred.csv -o out
bad_case 2 "--set 'run.batch': pack-h5 reads only" "pack-h5 refuses --set of a run key" pack-h5 --set run.batch=3 -i index.csv -f frames.h5 -o out/f.h5
bad_case 2 "--set 'audio.sr': run-model reads only" "run-model refuses --set of an audio key" run-model --set audio.sr=8000 -m model.h5 $F features.h5 -o out/p.csv
bad_case 2 "--set 'image.width': extract-mel reads only" "extract-mel refuses --set of an image key" extract-mel --set image.width=64 index.csv -o out/m.h5

# ---------------------------------------------------------------- names
bad_case 1 "nope/m.h5'?.*No such file" "extract-mel: output in a missing folder" extract-mel index.csv -o nope/m.h5
bad_case 1 "'adir'.*is a directory" "extract-frames: the output is a folder" extract-frames index.csv -o adir
bad_case 1 "nope/p.csv'?.*No such file" "run-model: output in a missing folder" run-model -m model.h5 $F features.h5 -o nope/p.csv
bad_case 1 "nope/q.h5'?.*No such file" "quantize-model: output in a missing folder" quantize-model model.h5 -o nope/q.h5
bad_case 2 "-o wants a file name" "ravdess-index -o ''" ravdess-index corpus -o ''

# ---------------------------------------------------------------- sweep
# a named (HDF5) temporary of a SIGKILLed run is removed by the next run in that folder
mkdir -p sweep
ravdess-index "$SAMPLE" -o sweep-index.csv -q  # the whole sample: a run long enough to kill
( extract-frames sweep-index.csv -o sweep/f.h5 -j 1 -q & p=$!; while [ -z "$(ls -A sweep)" ]; do sleep 0.01; done; kill -9 $p; wait $p ) 2>/dev/null
left=$(find sweep -name '.f.h5.tmp-*' | wc -l)
[ "$left" -eq 1 ] && [ ! -e sweep/f.h5 ]; ok $? "SIGKILL leaves one named temporary, no final file ($left)"
extract-mel index.csv -o sweep/m.h5 -q
[ -z "$(find sweep -name '.*.tmp-*')" ] && [ -s sweep/m.h5 ]; ok $? "the next run in the folder swept it"
touch "sweep/.x.h5.tmp-999999999-otherhost-abcdef"
extract-mel index.csv -o sweep/m2.h5 -q
[ -e "sweep/.x.h5.tmp-999999999-otherhost-abcdef" ]; ok $? "another host's temporary is left alone"
rm -f sweep/.x.h5.tmp-*
done_testing
