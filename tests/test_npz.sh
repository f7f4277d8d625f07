#!/bin/bash
# -D FILE.npz as users meet it: Fashion-MNIST written by numpy trains exactly as the IDX
# files do (np.savez and np.savez_compressed alike), a float32 copy learns as well, a
# softmax regression learns feature vectors, and bad files and flags are refused.
set -u
LEASH=${LEASH:-./leash}
FASHION=${LEASH_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-npz.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/run_leash.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

echo "1..11"
if ! /usr/bin/python3 -c 'import numpy' 2> /dev/null; then
    for i in $(seq 11); do skip "npz point $i" "/usr/bin/python3 has no numpy (python3-numpy)"; done
    exit 0
fi

accuracy() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["final"]["test_accuracy"])' "$1"; }
at_least() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# Fashion-MNIST's IDX files as numpy arrays: plain, compressed, and a float32 copy.
/usr/bin/python3 - "$FASHION" "$T" << 'EOF'
import gzip, os, sys
import numpy as np
src, out = sys.argv[1:]
def idx(name):
    path = os.path.join(src, name)
    raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
a = dict(x_train=idx("train-images-idx3-ubyte"), y_train=idx("train-labels-idx1-ubyte"),
         x_test=idx("t10k-images-idx3-ubyte"), y_test=idx("t10k-labels-idx1-ubyte").astype(np.int64))
np.savez(os.path.join(out, "fashion.npz"), **a)
np.savez_compressed(os.path.join(out, "fashion-z.npz"), **a)
np.savez(os.path.join(out, "fashion-f32.npz"), x_train=a["x_train"].astype(np.float32),
         y_train=a["y_train"], x_test=a["x_test"].astype(np.float32), y_test=a["y_test"])
# Two classes split by a hyperplane of 20 features, no test pair.
rng = np.random.default_rng(7)
x = rng.normal(size=(3000, 20)).astype(np.float32)
y = (x @ rng.normal(size=20) > 0).astype(np.int16)
np.savez(os.path.join(out, "plane.npz"), x_train=x, y_train=y)
EOF

SEQ=(-q -a SEQ -A MLP -e 2 -r 40 -b 32 -l 0.1 --init HE --seed 3)
run "${SEQ[@]}" --data-dir "$FASHION" --output "$T/idx.json"
want=$(fingerprint "$T/idx.json")
for f in fashion fashion-z; do
    run "${SEQ[@]}" -D "$T/$f.npz" --output "$T/$f.json"
    got=$([ "$status" -eq 0 ] && fingerprint "$T/$f.json")
    name="-D $f.npz (uint8, np.$([ $f = fashion ] && echo savez || echo savez_compressed)): the run of -D FASHION-MNIST, bit for bit"
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name" "got:  $got" "want: $want" "$(cat "$T/err")"; fi
done

# One epoch of the MLP: bytes and their float32 copy (standardized alike) both learn.
for f in fashion fashion-f32; do
    run -q -a SEQ -A MLP -e 1 -b 64 -l 0.1 --init HE -D "$T/$f.npz" --output "$T/acc-$f.json"
    acc=$([ "$status" -eq 0 ] && accuracy "$T/acc-$f.json")
    if at_least "$acc" 0.82; then ok "-D $f.npz: test accuracy $acc >= 0.82"
    else not_ok "-D $f.npz: test accuracy ${acc:-none} >= 0.82" "$(cat "$T/err")"; fi
done

# A softmax regression on feature vectors, its test set held out of x_train.
run -q -a SEQ -A fc -e 5 -b 32 -l 0.1 -D "$T/plane.npz" --holdout 500 --output "$T/plane.json"
acc=$([ "$status" -eq 0 ] && accuracy "$T/plane.json")
if at_least "$acc" 0.95; then ok "-A fc on (N, F) float32 features: test accuracy $acc >= 0.95"
else not_ok "-A fc on (N, F) float32 features: test accuracy ${acc:-none} >= 0.95" "$(cat "$T/err")"; fi

run -A fc:8,relu,fc --classes 5 -D "$T/plane.npz" --describe
if [ "$status" -eq 0 ] && grep -qx "on $T/plane.npz: 1x20x1 inputs, 5 classes" "$T/stdout" &&
    grep -qx '    3  fc:5                     1x1x5                      45' "$T/stdout"; then
    ok "--describe on an .npz of feature vectors, --classes 5"
else not_ok "--describe on an .npz of feature vectors, --classes 5" "$(cat "$T/stdout" "$T/err")"; fi

# --- refusals -------------------------------------------------------------------------
run -q -A fc -D "$T/plane.npz" --output "$T/out.json"
refused "no test pair and no --holdout" \
    "leash: -D $T/plane.npz: no x_test and y_test: give --holdout N to test on the last N training samples"
run -q -A fc -D "$T/fashion-f32.npz" --input-scale unit --output "$T/out.json"
refused "--input-scale unit on float data" \
    "leash: --input-scale unit: the data of $T/fashion-f32.npz are floats (standardize or raw)"
head -c 100000 "$T/fashion-z.npz" > "$T/cut.npz"
run -q -D "$T/cut.npz" --output "$T/out.json"
refused "a truncated archive" "leash: $T/cut.npz: not a zip archive (an .npz file is one)"
/usr/bin/python3 -c 'import numpy as np, sys; np.savez(sys.argv[1], x_train=np.zeros((4, 3), np.float32), y_train=np.array([0, 1, 2, 3]), x_test=np.zeros((2, 3), np.float32), y_test=np.array(["a", "b"], dtype=object))' "$T/obj.npz"
run -q -D "$T/obj.npz" --output "$T/out.json"
refused "an object array (a pickle) is never loaded" \
    "leash: $T/obj.npz: array 'y_test': dtype '|O' holds Python objects (a pickle), which are never loaded"
run -q -A fc:3 -D "$T/plane.npz" --holdout 500 --output "$T/out.json"
refused "a last layer of another width than the labels' classes, known once they are read" \
    "leash: -A: layer 1 'fc:3': the last layer gives 3 outputs (1x1x3), the data has 2 classes"
[ $failed -eq 0 ]
