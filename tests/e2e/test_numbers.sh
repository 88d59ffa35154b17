#!/usr/bin/env bash
# The NaN/Inf policy (schemas/numbers.md): a non-finite number is an error for its
# clip (exit 1; with -k a skip listed in the failures CSV, exit 3), never replaced.
set -u
. "$(dirname "$0")/../lib.sh"
T=$(mktmp)
trap 'rm -rf "$T"' EXIT
FIX="$RVT_ROOT/tests/parity/model_fixtures.py"
BAD_DIRS="$T"

# ---- audio: a float32 wav with one NaN sample, one with +Inf ----
$PY - "$T" <<'PYEOF'
import sys, numpy as np, scipy.io.wavfile as w
d = sys.argv[1]
t = np.arange(16000, dtype=np.float32) / 16000
y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
w.write(d + "/good.wav", 16000, y)
n = y.copy(); n[8000] = np.nan; w.write(d + "/nan.wav", 16000, n)
i = y.copy(); i[100] = np.inf; w.write(d + "/inf.wav", 16000, i)
PYEOF
ok $? "make float32 wavs (good, one NaN sample, one +Inf sample)"
BAD_INPUTS="$T/nan.wav $T/good.wav"
bad_case 1 "nan.wav.*sample 8000 is NaN" "extract-mel: a NaN sample fails the run (exit 1)" \
  extract-mel -q -o "$T/m.h5" "$T/good.wav" "$T/nan.wav"
[ ! -e "$T/m.h5" ] && [ ! -e "$T/m.h5.failures.csv" ]; ok $? "nothing left behind"
bad_case 1 "inf.wav.*sample 100 is infinite" "extract-mel: an infinite sample fails the run" \
  extract-mel -q --npy "$T/npy" "$T/inf.wav" "$T/good.wav"
[ -z "$(ls "$T/npy" 2>/dev/null)" ]; ok $? "--npy: no file left behind"
bad_case 3 "skipped nan: .*NaN" "extract-mel -k: the NaN clip is skipped (exit 3)" \
  extract-mel -k -o "$T/m.h5" "$T/good.wav" "$T/nan.wav"
grep -q "^nan,.*nan.wav,.*NaN" "$T/m.h5.failures.csv"; ok $? "the failures CSV names the clip and the reason"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert [x.decode() for x in f['clips/id'][:]] == ['good']" "$T/m.h5"
ok $? "the store holds the good clip only"

# ---- features: a store whose mel holds NaN (clip 1) and Inf (clip 3) ----
$PY "$FIX" model "$T/model.h5" + store "$T/features.h5" 5  # one Python for both
ok $? "fixtures: a model.h5 and a 5-clip features.h5"
cp "$T/features.h5" "$T/bad.h5"
$PY - "$T/bad.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    m = f["mel"][1]; m[3, 7] = np.nan; f["mel"][1] = m
    m = f["mel"][3]; m[0, 0] = -np.inf; f["mel"][3] = m
PYEOF
ok $? "a store with a NaN and an Inf mel value"
ID1=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['clips/id'][1].decode())" "$T/bad.h5")
ID3=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['clips/id'][3].decode())" "$T/bad.h5")
BAD_INPUTS="$T/bad.h5 $T/model.h5"
bad_case 1 "bad.h5.*$ID1.*mel value .* is NaN" "run-model: NaN mel fails the run (exit 1)" \
  run-model -q -m "$T/model.h5" -F "$T/bad.h5" -o "$T/p.csv"
[ ! -e "$T/p.csv" ] && [ ! -e "$T/p.csv.failures.csv" ]; ok $? "nothing left behind"
bad_case 3 "skipped $ID1" "run-model -k: NaN and Inf clips skipped (exit 3)" \
  run-model -k -m "$T/model.h5" -F "$T/bad.h5" -o "$T/p.csv"
[ "$(wc -l <"$T/p.csv")" -eq 4 ] && grep -q "^$ID1,.*NaN" "$T/p.csv.failures.csv" &&
  grep -q "^$ID3,.*infinite" "$T/p.csv.failures.csv" && ! grep -q "^$ID1," "$T/p.csv"
ok $? "3 rows written; the failures CSV names both clips and why"
run-model -q -j 2 -m "$T/model.h5" -F "$T/features.h5" -o "$T/good.csv"; ok $? "the clean store runs"
grep -v "^$ID1,\|^$ID3," "$T/good.csv" | cmp -s - "$T/p.csv"; ok $? "the other rows are unchanged"

# ---- weights: a checkpoint with a NaN weight is a whole-run error naming the tensor ----
cp "$T/model.h5" "$T/nanw.h5"
KEY=$($PY - "$T/nanw.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    keys = []
    f.visititems(lambda k, o: keys.append(k) if isinstance(o, h5py.Dataset) and o.dtype == np.float32 and o.ndim >= 2 else None)
    k = sorted(keys)[0]; a = f[k][()]; a.flat[0] = np.nan; f[k][...] = a
    print(k)
PYEOF
)
ok $? "a checkpoint with one NaN weight ($KEY)"
BAD_INPUTS="$T/nanw.h5 $T/features.h5"
bad_case 1 "nanw.h5.*$(basename "$KEY").*NaN" "run-model: NaN weight, exit 1, names the tensor" \
  run-model -k -m "$T/nanw.h5" -F "$T/features.h5" -o "$T/w.csv"
[ ! -e "$T/w.csv" ]; ok $? "no output"

done_testing
