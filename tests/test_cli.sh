#!/bin/bash
# Command-line contract of leash: every bad input gives exactly one line on stderr that
# names the flag or file and the problem, exit status 2, and no output file.
set -u
LEASH=${LEASH:-./leash}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"

# Big-endian 32-bit integer as raw bytes.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }

# idx_images FILE COUNT [MAGIC [PIXEL_BYTES]]: COUNT 28x28 images of a byte pattern.
idx_images() {
    local file=$1 count=$2 magic=${3:-2051} bytes=${4:-$(($2 * 784))}
    { be32 "$magic"; be32 "$count"; be32 28; be32 28; head -c "$bytes" /dev/urandom; } > "$file"
}
# idx_labels FILE COUNT [BAD_LABEL]: labels i % 10, the last one replaced by BAD_LABEL.
idx_labels() {
    local file=$1 count=$2 bad=${3:-} i
    { be32 2049; be32 "$count"
      for ((i = 0; i < count; ++i)); do
          if [ -n "$bad" ] && [ $i -eq $((count - 1)) ]; then printf "\\$(printf %03o "$bad")"
          else printf "\\$(printf %03o $((i % 10)))"; fi
      done; } > "$file"
}
# dataset DIR: a valid 20-image training split and 10-image test split.
dataset() {
    mkdir -p "$1"
    idx_images "$1/train-images-idx3-ubyte" 20; idx_labels "$1/train-labels-idx1-ubyte" 20
    idx_images "$1/t10k-images-idx3-ubyte" 10; idx_labels "$1/t10k-labels-idx1-ubyte" 10
}

# expect_fail NAME EXPECTED_STDERR ARGS...: exit 2, exactly that one line, no output.
expect_fail() {
    local name=$1 expected=$2; shift 2
    local out="$T/out.json" status
    rm -f "$T"/out.json*
    "$LEASH" -q --output "$out" "$@" > "$T/stdout" 2> "$T/stderr"
    status=$?
    local got leftovers
    got=$(cat "$T/stderr")
    leftovers=$(ls "$T" | grep -c '^out\.json' || true)
    if [ $status -ne 2 ]; then not_ok "$name" "exit status $status, expected 2" "stderr: $got"
    elif [ "$got" != "$expected" ]; then not_ok "$name" "stderr: $got" "expected: $expected"
    elif [ "$(wc -l < "$T/stderr")" -ne 1 ]; then not_ok "$name" "stderr is not one line"
    elif [ "$leftovers" -ne 0 ]; then not_ok "$name" "an output file was left behind"
    else ok "$name"; fi
}

echo "1..33"

dataset "$T/good"
D=(-D MNIST --data-dir "$T/good")

# --- the data ----------------------------------------------------------------------
IDX_FILES="train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or .gz"
expect_fail "missing data directory" \
    "leash: $T/nowhere: cannot open data directory: No such file or directory; the directory should hold MNIST's $IDX_FILES" \
    -D MNIST --data-dir "$T/nowhere"

mkdir -p "$T/nofile"
expect_fail "missing data file" \
    "leash: $T/nofile/train-images-idx3-ubyte.gz: not found (nor $T/nofile/train-images-idx3-ubyte); the directory should hold MNIST's $IDX_FILES" \
    -D MNIST --data-dir "$T/nofile"

dataset "$T/magic"; idx_images "$T/magic/train-images-idx3-ubyte" 20 2049
expect_fail "wrong magic number" \
    "leash: $T/magic/train-images-idx3-ubyte: bad magic number 0x00000801 (expected 0x00000803, IDX images)" \
    -D MNIST --data-dir "$T/magic"

dataset "$T/trunc"; idx_images "$T/trunc/train-images-idx3-ubyte" 20 2051 $((20 * 784 - 100))
expect_fail "truncated image file" \
    "leash: $T/trunc/train-images-idx3-ubyte: truncated: header promises 15680 bytes of data, file has 15580" \
    -D MNIST --data-dir "$T/trunc"

dataset "$T/count"; idx_labels "$T/count/train-labels-idx1-ubyte" 19
expect_fail "label count differs from image count" \
    "leash: $T/count/train-labels-idx1-ubyte: 19 labels but $T/count/train-images-idx3-ubyte holds 20 images" \
    -D MNIST --data-dir "$T/count"

dataset "$T/range"; idx_labels "$T/range/t10k-labels-idx1-ubyte" 10 12
expect_fail "label out of range" \
    "leash: $T/range/t10k-labels-idx1-ubyte: label 12 at index 9 is out of range (0-9)" \
    -D MNIST --data-dir "$T/range"

expect_fail "batch larger than the dataset" \
    "leash: -b 21: batch size exceeds the 20 training samples" "${D[@]}" -b 21

expect_fail "holdout larger than the test split" \
    "leash: --holdout 10: must be less than the 10 samples of the test split in $T/good" \
    "${D[@]}" --holdout 10

# --- the flags ---------------------------------------------------------------------
expect_fail "unknown -a" "leash: -a FOO: unknown algorithm (expected SEQ, SYNC, ASYNC, HOG or LSH)" "${D[@]}" -a FOO
expect_fail "unknown -A" "leash: -A: 'RNN': neither a preset (MLP, CNN or LENET) nor a layer list" "${D[@]}" -A RNN
expect_fail "unknown -D" "leash: -D IMAGENET: unknown dataset (expected MNIST, FASHION-MNIST, CIFAR10 or SYNTH)" -D IMAGENET
expect_fail "unknown -t" "leash: -t SOMETIMES: unknown step policy (expected NONE, INVERSE, TAIL or FLEET)" "${D[@]}" -t SOMETIMES
expect_fail "non-numeric -n" "leash: -n two: not a whole number" "${D[@]}" -n two
expect_fail "negative -n" "leash: -n -2: must be between 1 and 4096" "${D[@]}" -n -2
expect_fail "non-numeric -b" "leash: -b 12x: not a whole number" "${D[@]}" -b 12x
expect_fail "negative -b" "leash: -b -512: must be between 1 and 1048576" "${D[@]}" -b -512
expect_fail "non-numeric -e" "leash: -e ten: not a whole number" "${D[@]}" -e ten
expect_fail "negative -e" "leash: -e -1: must be between 1 and 2147483647" "${D[@]}" -e -1
expect_fail "non-numeric -l" "leash: -l fast: not a number" "${D[@]}" -l fast
expect_fail "negative -l" "leash: -l -0.1: must be greater than 0" "${D[@]}" -l -0.1
expect_fail "momentum of 1" "leash: -m 1: must be less than 1" "${D[@]}" -m 1
expect_fail "unknown option" "leash: --frobnicate: unknown option (see leash --help)" "${D[@]}" --frobnicate
expect_fail "missing value" "leash: -b: missing value" "${D[@]}" -b
expect_fail "unknown --placement" "leash: --placement spread: unknown placement (expected compact, scatter or none)" "${D[@]}" --placement spread
expect_fail "negative --avg-every" "leash: --avg-every -5: must be between 0 and 9223372036854775807" "${D[@]}" --avg-every -5
expect_fail "negative --avg-period" "leash: --avg-period -1: must be at least 0" "${D[@]}" --avg-period -1
expect_fail "SEQ with two threads" "leash: -n 2: SEQ runs exactly one worker thread" "${D[@]}" -n 2

# --- the output ---------------------------------------------------------------------
status=0
"$LEASH" -q "${D[@]}" --output "$T/nodir/out.json" -e 1 -b 5 2> "$T/stderr" || status=$?
got=$(cat "$T/stderr")
if [ $status -eq 2 ] && [ "$got" = "leash: --output $T/nodir/out.json: directory $T/nodir does not exist" ] &&
   [ ! -e "$T/nodir" ]; then ok "unwritable --output path"
else not_ok "unwritable --output path" "status $status" "stderr: $got"; fi

status=0
"$LEASH" -q "${D[@]}" --output "$T/run.json" -e 2 -b 5 2> "$T/stderr" || status=$?
if [ $status -eq 0 ] && [ ! -s "$T/stderr" ] && grep -q '"test_accuracy"' "$T/run.json" &&
   [ "$(grep -c '"epoch":' "$T/run.json")" -eq 2 ] && [ -z "$(ls "$T" | grep 'run.json.tmp')" ]; then
    ok "a run writes the JSON document with one entry per epoch, quietly"
else not_ok "a run writes the JSON document with one entry per epoch, quietly" "status $status" "$(cat "$T/stderr")"; fi

status=0
"$LEASH" "${D[@]}" -e 3 -b 5 > "$T/stdout" 2> "$T/stderr" || status=$?
if [ $status -eq 0 ] && [ "$(grep -c '^epoch [123]/3  train_loss .* updates/s ' "$T/stderr")" -eq 3 ] &&
   grep -q '"leash_version"' "$T/stdout"; then ok "progress on stderr, one line per epoch; JSON on stdout"
else not_ok "progress on stderr, one line per epoch; JSON on stdout" "status $status" "$(cat "$T/stderr")"; fi

status=0
"$LEASH" -q "${D[@]}" -a LSH -n 3 -b 2 -e 2 --output "$T/lsh.json" 2> "$T/stderr" || status=$?
threads=$(sed -n '/"updates_per_thread": \[/,/\]/p' "$T/lsh.json" | grep -c '^ *[0-9]')
if [ $status -eq 0 ] && grep -q '"algorithm": "LSH"' "$T/lsh.json" && [ "$threads" -eq 3 ] &&
   grep -q '"peak_live_versions": [1-7],' "$T/lsh.json"; then
    ok "LSH with 3 threads reports per-thread updates and at most 2m+1 live versions"
else not_ok "LSH with 3 threads reports per-thread updates and at most 2m+1 live versions" "status $status" "$(cat "$T/stderr")"; fi

status=0
topo=$("$LEASH" --topology -n 3 --placement scatter 2> "$T/stderr") || status=$?
if [ $status -eq 0 ] && echo "$topo" | grep -q '^placement: scatter, 3 workers on PUs [0-9]*,[0-9]*,[0-9]* ' &&
   [ "$(echo "$topo" | grep -c '^  worker [0-2]: PU ')" -eq 3 ]; then
    ok "--topology prints the machine and one plan line per worker"
else not_ok "--topology prints the machine and one plan line per worker" "status $status" "$topo"; fi

status=0
help=$("$LEASH" --help) || status=$?
if [ $status -eq 0 ] && echo "$help" | grep -q -- '-l, --step X .*MEAN loss' &&
   echo "$help" | grep -q -- '--input-scale S .*pixels to inputs'; then
    ok "--help documents the step-size convention"
else not_ok "--help documents the step-size convention" "status $status"; fi

[ $failed -eq 0 ]
