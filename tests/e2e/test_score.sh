#!/usr/bin/env bash
# score end to end: options, outputs, SVG validity and rendering, determinism,
# bad input (one-line error naming file and line, exit 1, no outputs).
. tests/lib.sh
T=$(mktmp)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT

# Predictions for 8 classes over 3 folds; names that need XML and CSV escaping in a 4th set.
$PY - "$T" <<'EOF'
import csv, sys
import numpy as np
d = sys.argv[1]
def write(path, classes, n, seed, splits=("train", "val", "test")):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "split", "label", "pred"] + ["p_" + c for c in classes])
        for i in range(n):
            y = int(rng.integers(len(classes)))
            logits = rng.normal(size=len(classes)); logits[y] += 1.5
            p = np.exp(logits) / np.exp(logits).sum()
            w.writerow([f"01-01-{seed:02d}-{i:04d}", splits[i % len(splits)], classes[y],
                        classes[int(np.argmax(p))]] + [repr(float(x)) for x in p])
native8 = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
for f in range(3):
    write(f"{d}/fold{f}.csv", native8, 90, f)
odd = ["A & B", "<tag>", "quote\"d", "it's", "comma, too", "\u00e9motion \u65e5\u672c",
       "a very long class name that goes on and on"]
write(f"{d}/odd.csv", odd, 60, 9, ("test",))
EOF
ok $? "generate predictions"

# ---- usage -------------------------------------------------------------------------
score --help >"$T/help.txt" 2>&1
ok $? "--help exits 0"
for w in SYNOPSIS OPTIONS EXAMPLES "EXIT STATUS" --output-dir --metrics --confusion --svg \
         --split --bootstrap --seed --eps "default"; do
  grep -q -- "$w" "$T/help.txt"; ok $? "--help mentions $w"
done
check "--version" score --version
expect_exit 2 "no input" score -o "$T/x"
expect_exit 2 "bad --bootstrap" score --bootstrap -3 "$T/fold0.csv"
expect_exit 2 "bad --seed" score --seed 1x "$T/fold0.csv"
expect_exit 2 "bad --eps" score --eps 0.7 "$T/fold0.csv"
expect_exit 2 "unknown option" score --frobnicate "$T/fold0.csv"
expect_exit 2 "--keep-going does not apply" score -k "$T/fold0.csv"
expect_exit 2 "--shard does not apply" score --shard 0/2 "$T/fold0.csv"
expect_exit 2 "two outputs to stdout" score --metrics - --svg - "$T/fold0.csv"
expect_exit 2 "two outputs the same file" score --metrics "$T/m.csv" --confusion "$T/m.csv" "$T/fold0.csv"
[ ! -e "$T/x" ] && [ ! -e "$T/m.csv" ]; ok $? "usage errors write nothing"

# ---- a good run ----------------------------------------------------------------------
score -o "$T/out" "$T/fold0.csv" "$T/fold1.csv" "$T/fold2.csv" >"$T/summary.txt" 2>"$T/err.txt"
ok $? "three folds scored"
for f in metrics.csv confusion.csv confusion.svg; do
  [ -s "$T/out/$f" ]; ok $? "$f written"
done
grep -q "^accuracy " "$T/summary.txt" && grep -q "^weighted F1 " "$T/summary.txt" &&
  grep -q "^class-wise accuracy:" "$T/summary.txt" && grep -q "^  surprised " "$T/summary.txt" &&
  grep -q "across folds" "$T/summary.txt"
ok $? "summary: accuracy, weighted F1, class-wise accuracy, folds"
[ ! -s "$T/err.txt" ]; ok $? "nothing on stderr"
head -1 "$T/out/metrics.csv" | grep -qx "metric,class,split,fold,value"; ok $? "metrics.csv header"
for fold in 0 1 2 pooled mean std; do
  grep -q "^accuracy,,all,$fold," "$T/out/metrics.csv"; ok $? "metrics.csv has fold $fold"
done
grep -q "^f1,calm,test,pooled," "$T/out/metrics.csv"; ok $? "per-class, per-split rows"
head -1 "$T/out/confusion.csv" | grep -qx "label,neutral,calm,happy,sad,angry,fearful,disgust,surprised"
ok $? "confusion.csv header = class names"
[ "$(awk -F, 'NR > 1 { for (i = 2; i <= NF; i++) s += $i } END { print s }' "$T/out/confusion.csv")" = 270 ]
ok $? "confusion.csv counts every clip of the three folds"
ls -A "$T/out" | grep -q '^\.' ; [ $? -ne 0 ]; ok $? "no temporaries left"

xmllint --noout "$T/out/confusion.svg"; ok $? "confusion.svg is valid XML (xmllint)"
grep -q "accuracy 0\.[0-9]*, macro F1 0\.[0-9]*" "$T/out/confusion.svg"; ok $? "SVG title has accuracy and macro F1"

png_check() {  # png_check SVG PNG: size as the SVG says, not blank, has the colour scale
  rsvg-convert "$1" -o "$2" && $PY - "$1" "$2" <<'EOF'
import re, sys
from PIL import Image
svg = open(sys.argv[1], encoding="utf-8").read()
w, h = (int(v) for v in re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg).groups())
im = Image.open(sys.argv[2]).convert("RGB")
assert im.size == (w, h), (im.size, w, h)
px = list(im.getdata())
white = sum(1 for p in px if p == (255, 255, 255))
colours = len(set(px))
dark_blue = sum(1 for r, g, b in px if b > 90 and r < 60)
assert 0.05 < 1 - white / len(px) < 0.9, f"ink share {1 - white / len(px)}"
assert colours > 50, f"{colours} colours"
assert dark_blue > 200, f"{dark_blue} dark blue pixels"
print(f"png {w}x{h}, {colours} colours, {1 - white / len(px):.2f} ink")
EOF
}
png_check "$T/out/confusion.svg" "$T/out/confusion.png"; ok $? "rendered PNG has the SVG's size and is not blank"

score -q -o "$T/again" -j 1 "$T/fold0.csv" "$T/fold1.csv" "$T/fold2.csv" &&
  score -q -o "$T/again2" -j 2 "$T/fold0.csv" "$T/fold1.csv" "$T/fold2.csv"
ok $? "rerun"
for f in metrics.csv confusion.csv confusion.svg; do
  cmp -s "$T/out/$f" "$T/again/$f" && cmp -s "$T/out/$f" "$T/again2/$f"; ok $? "$f byte-identical on rerun, any -j"
done

score -q --bootstrap 200 --seed 3 -o "$T/b1" "$T/fold0.csv" && score -q --bootstrap 200 --seed 3 -o "$T/b2" "$T/fold0.csv"
ok $? "bootstrap runs"
grep -q "^accuracy_ci_low,,all,0," "$T/b1/metrics.csv" && grep -q "^f1_macro_ci_high,,test,0," "$T/b1/metrics.csv"
ok $? "bootstrap intervals in metrics.csv"
cmp -s "$T/b1/metrics.csv" "$T/b2/metrics.csv"; ok $? "same seed, same intervals"
score --bootstrap 100 -o "$T/b3" "$T/fold0.csv" | grep -q "95% CI"; ok $? "summary shows the interval"

score -q --metrics - --confusion "$T/c.csv" --svg "$T/c.svg" "$T/fold0.csv" >"$T/stdout.csv" &&
  head -1 "$T/stdout.csv" | grep -qx "metric,class,split,fold,value" && ! grep -q "class-wise" "$T/stdout.csv"
ok $? "--metrics - writes the CSV alone on stdout"
# a FIFO stands for /dev/null & co. (testing on /dev/null itself could break the machine)
mkfifo "$T/fifo" && { cat "$T/fifo" >"$T/fifo.out" & }
score -q --metrics "$T/fifo" --confusion "$T/c2.csv" --svg "$T/c2.svg" "$T/fold0.csv"; rc=$?
wait
[ $rc -eq 0 ] && [ -p "$T/fifo" ] && [ -s "$T/c2.csv" ] && head -1 "$T/fifo.out" | grep -qx "metric,class,split,fold,value"
ok $? "a FIFO (or device) as output is written in place, never renamed over"

score -q --split test -o "$T/test" "$T/fold0.csv" && ! grep -q ",all,0," "$T/test/metrics.csv" &&
  grep -q "^accuracy,,test,0," "$T/test/metrics.csv"
ok $? "--split test scores the test clips only"
[ "$(awk -F, 'NR > 1 { for (i = 2; i <= NF; i++) s += $i } END { print s }' "$T/test/confusion.csv")" = 30 ]
ok $? "--split test confusion has the 30 test clips"

# names that need escaping: valid XML, rendered, CSV round trip
score -q -o "$T/odd" "$T/odd.csv"; ok $? "odd class names scored"
xmllint --noout "$T/odd/confusion.svg"; ok $? "odd names: SVG valid"
grep -q "A &amp; B" "$T/odd/confusion.svg" && grep -q "&lt;tag&gt;" "$T/odd/confusion.svg"
ok $? "odd names: escaped in the SVG"
png_check "$T/odd/confusion.svg" "$T/odd/confusion.png"; ok $? "odd names: PNG renders"
$PY -c "
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
assert rows[0][1:] == ['A & B', '<tag>', 'quote\"d', \"it's\", 'comma, too', '\u00e9motion \u65e5\u672c', 'a very long class name that goes on and on'], rows[0]
" "$T/odd/confusion.csv"
ok $? "odd names: confusion.csv round-trips through a CSV reader"

# ---- bad input: one line naming file and line, exit 1, nothing written ------------------
bad() {  # bad NAME EXPECTED-MESSAGE-PART FILE...
  local name=$1 want=$2; shift 2
  rm -rf "$T/bad"
  score -o "$T/bad" "$@" >"$T/bad.out" 2>"$T/bad.err"; local rc=$?
  [ $rc -eq 1 ]; ok $? "$name: exit 1 (got $rc)"
  [ "$(wc -l <"$T/bad.err")" -eq 1 ] && grep -q "^score: .*$want" "$T/bad.err"
  ok $? "$name: one-line error: $(head -c 200 "$T/bad.err")"
  [ ! -e "$T/bad" ]; ok $? "$name: no output folder, no partial outputs"
}
H=$(head -1 "$T/fold0.csv")
R=$(sed -n 2p "$T/fold0.csv")
{ echo "$H"; echo "$R"; echo "x,test,neutral,neutral,1,0"; } >"$T/malformed.csv"
bad "malformed row" "malformed.csv': line 3: " "$T/malformed.csv"
{ echo "$H"; echo "$R"; echo "$R" | sed 's/^\([^,]*\),\([^,]*\),[^,]*,/x9,\2,Happy,/'; } >"$T/unknown.csv"
bad "unknown class" "unknown.csv': line 3: unknown class 'Happy' in column label" "$T/unknown.csv"
{ echo "$H"; echo "x1,test,calm,calm,0.5,0.1,0.1,0.1,0.1,0.1,0.1,0.1"; } >"$T/sum.csv"
bad "probabilities sum" "sum.csv': line 2: probabilities sum to 1.2" "$T/sum.csv"
{ echo "$H"; echo "x1,test,calm,calm,0.2998,0.1,0.1,0.1,0.1,0.1,0.1,0.1"; } >"$T/sumlow.csv"
bad "probabilities sum low" "sumlow.csv': line 2: probabilities sum to 0.9998" "$T/sumlow.csv"
{ echo "$H"; sed -n 2,4p "$T/fold0.csv"; echo "$R"; } >"$T/dup.csv"
bad "duplicate id" "dup.csv': line 5: duplicate id '[^']*' (first on line 2)" "$T/dup.csv"
bad "different label sets" "odd.csv': line 1: 7 classes where" "$T/fold0.csv" "$T/odd.csv"
sed '1s/p_calm,p_happy/p_happy,p_calm/' "$T/fold1.csv" >"$T/swapped.csv"
bad "label order differs" "swapped.csv': line 1: class 2 is 'happy' where" "$T/fold0.csv" "$T/swapped.csv"
bad "missing file" "cannot open '.*nope.csv'" "$T/fold0.csv" "$T/nope.csv"
: >"$T/empty.csv"
bad "empty file" "empty.csv': empty file" "$T/empty.csv"
bad "unknown split" "no clips of split 'holdout'" --split holdout "$T/fold0.csv"

# an error must not touch earlier outputs either
cp -r "$T/out" "$T/keep"
score -o "$T/out" "$T/fold0.csv" "$T/dup.csv" >/dev/null 2>&1
[ $? -eq 1 ] && diff -r "$T/out" "$T/keep" >/dev/null; ok $? "failed run leaves the previous outputs as they were"
# an output that cannot be written: none of the three appears
rm -rf "$T/part"; mkdir "$T/part"
score -q --metrics "$T/part/m.csv" --confusion "$T/part/c.csv" --svg "$T/part/no/such/dir/c.svg" "$T/fold0.csv" 2>"$T/part.err"
[ $? -eq 1 ] && [ -z "$(ls -A "$T/part")" ] && grep -q "^score: cannot create" "$T/part.err"
ok $? "unwritable SVG: no metrics.csv or confusion.csv either ($(head -c 150 "$T/part.err"))"

done_testing
