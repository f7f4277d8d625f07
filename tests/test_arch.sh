#!/bin/bash
# -A as users meet it: the presets as layer lists (bit for bit the runs of the release
# before them), --describe, the refusals, user lists that learn, saved models and
# checkpoints of layer lists, and files of the format before layer lists.
set -u
LEASH=${LEASH:-./leash}
FASHION=${LEASH_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
SRC=${LEASH_SRCDIR:-$(dirname "$0")/..}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-arch.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/run_leash.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

echo "1..16"

field() { /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval("d" + sys.argv[2]))' "$@"; }

CNN_LIST=conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc
WIDE=conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:512,relu,fc
USER=conv:16:5,relu,maxpool:2,fc:64,relu,fc
SEQ=(-q -a SEQ -e 2 -r 30 -b 32 -l 0.1 --init HE --seed 7 --data-dir "$FASHION")

# --- the presets: the runs of leash 0.1.0 before layer lists, bit for bit ---------------
# Recorded with that release's binary on the AVX2 (Haswell) kernels of OpenBLAS and the
# AVX2 code paths of leash; an instrumented build or another kernel set rounds otherwise.
declare -A WANT=(
    [MLP]="aac0992933f96f35 (1.5593493481477101, 0.9499282171208373, 0.65469999999999995) (0.78481122454007468, 0.82088487767519569, 0.69699999999999995)"
    [MLP -L 2 -U 64 --activation SIGMOID]="8adc6409b2418151 (2.177284363905589, 1.9674834248551742, 0.40949999999999998) (1.819010353088379, 1.7078731426665608, 0.42520000000000002)"
    [CNN]="cf648e2e9ed7da3d (2.7962722857793172, 2.0322614367013685, 0.35980000000000001) (1.4983326315879821, 1.1388120618385307, 0.59389999999999998)"
    [LENET]="c826de8a3b86b31d (3.699087643623352, 2.0286736387464717, 0.34839999999999999) (1.773902142047882, 1.5287160732209601, 0.46879999999999999)"
)
for arch in "MLP" "MLP -L 2 -U 64 --activation SIGMOID" "CNN" "LENET"; do
    name="-A $arch, SEQ: the release's per-epoch figures and params_digest, bit for bit"
    if [ -n "${LEASH_SANITIZERS:-}" ]; then skip "$name" "instrumented build"; continue; fi
    if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then skip "$name" "no AVX2"; continue; fi
    # shellcheck disable=SC2086
    OPENBLAS_CORETYPE=Haswell run "${SEQ[@]}" -A $arch --output "$T/p.json"
    got=$([ "$status" -eq 0 ] && fingerprint "$T/p.json")
    if [ "$got" = "${WANT[$arch]}" ]; then ok "$name"; else not_ok "$name" "got:  $got" "want: ${WANT[$arch]}" "$(cat "$T/err")"; fi
done

# --- a preset and its list are one model; the document names both -----------------------
run "${SEQ[@]}" -A CNN --output "$T/preset.json"
run "${SEQ[@]}" -A "$CNN_LIST" --output "$T/list.json"
if [ "$(fingerprint "$T/preset.json")" = "$(fingerprint "$T/list.json")" ] &&
    [ "$(field "$T/preset.json" '["config"]["arch"]')" = CNN ] &&
    [ "$(field "$T/preset.json" '["config"]["layers"]')" = "$CNN_LIST" ] &&
    [ "$(field "$T/list.json" '["config"]["arch"]')" = "$CNN_LIST" ]; then
    ok "-A CNN and -A its layer list: the same run; config.arch and config.layers"
else
    not_ok "-A CNN and -A its layer list: the same run; config.arch and config.layers" \
        "$(fingerprint "$T/preset.json")" "$(fingerprint "$T/list.json")"
fi

# --- --describe ---------------------------------------------------------------------------
run -A "$WIDE" --describe
if [ "$status" -eq 0 ] && grep -qx '    4  conv:64:5:p2             14x14x64                51264' "$T/stdout" &&
    grep -qx '    7  fc:512                   1x1x512               1606144' "$T/stdout" &&
    grep -qx '    9  fc:10                    1x1x10                   5130' "$T/stdout" &&
    grep -qx '       total                                          1663370' "$T/stdout"; then
    ok "--describe: each layer's output shape and parameters, and the total"
else
    not_ok "--describe: each layer's output shape and parameters, and the total" "$(cat "$T/stdout" "$T/err")"
fi
run -A CNN -D CIFAR10 --describe
if [ "$status" -eq 0 ] && grep -q '^on CIFAR10: 32x32x3 inputs, 10 classes$' "$T/stdout" &&
    grep -qx '    7  fc:128                   1x1x128                 36992' "$T/stdout"; then
    ok "--describe: -D's input shape, no data read (CIFAR-10 is not on this machine)"
else
    not_ok "--describe: -D's input shape, no data read" "$(cat "$T/stdout" "$T/err")"
fi

# --- refusals: exit 2, one line naming -A and the layer, nothing written -----------------
run -A conv:32:5,maxpool:2,conv:64:13,fc --data-dir "$FASHION" --output "$T/out.json"
refused "-A: a kernel larger than its input" \
    "leash: -A: layer 3 'conv:64:13': its 13x13 kernel is larger than its 12x12x32 input"
run -A conv:8:3,relu,fc:7 --data-dir "$FASHION" --output "$T/out.json"
refused "-A: a last layer of another width than the classes" \
    "leash: -A: layer 3 'fc:7': the last layer gives 7 outputs (1x1x7), the data has 10 classes"
run -A conv:8:3:q2,fc --output "$T/out.json" --data-dir /nonexistent
refused "-A: a malformed layer, refused before the data is looked for" \
    "leash: -A: layer 1 'conv:8:3:q2': expected conv:C:K with optional :sS (stride) and :pP (padding)"

# --- user lists learn ---------------------------------------------------------------------
# One epoch of Fashion-MNIST; a model that did not learn stays near 0.1.
run -q -a SEQ -A "$USER" -e 1 -b 32 -l 0.05 --init HE --data-dir "$FASHION" \
    --output "$T/seq.json" --save-model "$T/user.model" --checkpoint "$T/user.ckpt"
acc=$([ "$status" -eq 0 ] && field "$T/seq.json" '["final"]["test_accuracy"]')
if awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.84) }'; then ok "-A $USER, SEQ: test accuracy $acc >= 0.84"
else not_ok "-A $USER, SEQ: test accuracy ${acc:-none} >= 0.84" "$(cat "$T/err")"; fi
run -q -a LSH -n 2 -A "$USER" -e 1 -b 32 -l 0.05 --init HE --data-dir "$FASHION" --output "$T/lsh.json"
acc=$([ "$status" -eq 0 ] && field "$T/lsh.json" '["final"]["test_accuracy"]')
if awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.84) }'; then ok "-A $USER, LSH -n 2: test accuracy $acc >= 0.84"
else not_ok "-A $USER, LSH -n 2: test accuracy ${acc:-none} >= 0.84" "$(cat "$T/err")"; fi

# --- saved models and checkpoints of layer lists ------------------------------------------
run --evaluate "$T/user.model" --data-dir "$FASHION"
want="$(field "$T/seq.json" '["final"]["test_loss"]') $(field "$T/seq.json" '["final"]["test_accuracy"]')"
got=$([ "$status" -eq 0 ] && echo "$(field "$T/stdout" '["test_loss"]') $(field "$T/stdout" '["test_accuracy"]')")
if [ "$got" = "$want" ]; then ok "--evaluate on a saved layer-list model: the run's own figures"
else not_ok "--evaluate on a saved layer-list model: the run's own figures" "got $got, want $want" "$(cat "$T/err")"; fi
run -q -a SEQ -A conv:16:5,relu,maxpool:2,fc:65,relu,fc -e 2 -b 32 --data-dir "$FASHION" --resume "$T/user.ckpt" --output "$T/out.json"
refused "--resume of a checkpoint of another layer list names both" \
    "leash: checkpoint $T/user.ckpt: written for -A $USER, this run is -A conv:16:5,relu,maxpool:2,fc:65,relu,fc"

# --- files of the format before layer lists -----------------------------------------------
# A saved model of leash 0.1.0 (format 1: -A MLP -L 0, one epoch of Fashion-MNIST, whose run
# scored test loss 3.1178653835885681, accuracy 0.5568) loads as the layer list "fc".
run --evaluate "$SRC/tests/data/mlp-L0-v1.model" --data-dir "$FASHION"
got=$([ "$status" -eq 0 ] && /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("%.6g %.4f" % (d["test_loss"], d["test_accuracy"]))' "$T/stdout")
if [ "$got" = "3.11787 0.5568" ]; then ok "a saved model of format 1 still loads and scores as its run did"
else not_ok "a saved model of format 1 still loads and scores as its run did" "got '$got'" "$(cat "$T/err")"; fi
# A checkpoint of format 1 (this one's bytes, marked version 1, its CRC redone) is refused.
/usr/bin/python3 - "$T/user.ckpt" "$T/old.ckpt" << 'EOF'
import struct, sys, zlib
data = bytearray(open(sys.argv[1], "rb").read()[:-4])
data[8:12] = struct.pack("<I", 1)
open(sys.argv[2], "wb").write(data + struct.pack("<I", zlib.crc32(data)))
EOF
run -q -a SEQ -A "$USER" -e 2 -b 32 --data-dir "$FASHION" --resume "$T/old.ckpt" --output "$T/out.json"
refused "a checkpoint of format 1 is refused, naming the versions" \
    "leash: checkpoint $T/old.ckpt: format version 1, this leash reads version 2"
[ $failed -eq 0 ]
