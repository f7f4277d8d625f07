#!/bin/bash
# The bad-input battery: hostile paths, closed descriptors, huge sizes, FIFOs, damaged
# data and options. Each case checks the exit status, that the one message names the
# file or flag, and what is left on disk (no output, nothing replaced, no temporary file).
set -u
LEASH=${LEASH:-./leash}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-bad.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
check() { # check NAME COMMAND...: ok if the command succeeds, else its output as the reason
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

S=(-q -D SYNTH --synth-train 200 --synth-test 50 -b 20 -e 2)

# run ARGS...: leash with a 60 s limit; status in $status, stderr in $T/err.
run() { status=0; timeout -k 5 60 "$LEASH" "$@" > "$T/stdout" 2> "$T/err" || status=$?; }
# refused NAME STATUS TEXT: the last run exited STATUS with one line containing TEXT.
refused() {
    local name=$1 want=$2 text=$3
    if [ "$status" -ne "$want" ]; then not_ok "$name" "exit status $status, expected $want" "$(cat "$T/err")"
    elif [ "$(wc -l < "$T/err")" -ne 1 ]; then not_ok "$name" "not one line:" "$(cat "$T/err")"
    elif ! grep -qF -- "$text" "$T/err"; then not_ok "$name" "message lacks '$text':" "$(cat "$T/err")"
    else ok "$name"; fi
}
json_ok() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["status"] != "complete")' "$1"; }
# litter DIR: temporary files left in DIR.
litter() { ls -A "$1" | grep '^\.leash-' || true; }
no_litter() { [ -z "$(litter "$1")" ] || { echo "left behind: $(litter "$1")"; return 1; }; }

echo "1..50"

# --- 1. the output path is never clobbered ----------------------------------------------
# A device: a private one as root (CI), else /dev/null itself (leash cannot replace it).
if [ "$(id -u)" -eq 0 ] && mknod "$T/null" c 1 3 2> /dev/null; then dev=$T/null; else dev=/dev/null; fi
run "${S[@]}" --output "$dev"
check "--output on a device: exit 0, still the device, no temporary file" \
    bash -c "[ $status -eq 0 ] && [ -c '$dev' ] && [ -z \"\$(ls -A '$(dirname "$dev")' | grep '^\.leash-')\" ]"

mkfifo "$T/fifo"
timeout 30 cat "$T/fifo" > "$T/fifo.out" & reader=$!
run "${S[@]}" --output "$T/fifo"
wait "$reader"
check "--output on a FIFO with a reader: one whole document through it, still a FIFO" \
    bash -c "[ $status -eq 0 ] && [ -p '$T/fifo' ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' '$T/fifo.out'"

mkdir -p "$T/l"; echo old > "$T/l/target"; chmod 640 "$T/l/target"; ln -s target "$T/l/link"
run "${S[@]}" --output "$T/l/link"
check "--output through a symlink: the link stays, its target gets the document, mode kept" \
    bash -c "[ $status -eq 0 ] && [ -L '$T/l/link' ] && [ \"\$(stat -c %a '$T/l/target')\" = 640 ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' '$T/l/target'"
ln -s nowhere "$T/l/dangling"
run "${S[@]}" --output "$T/l/dangling"
check "--output through a dangling symlink: creates its target, keeps the link" \
    bash -c "[ $status -eq 0 ] && [ -L '$T/l/dangling' ] && [ -f '$T/l/nowhere' ]"
check "no temporary file beside the targets" no_litter "$T/l"

mkdir -p "$T/m"; echo old > "$T/m/keep"; chmod 604 "$T/m/keep"
(umask 077; "$LEASH" "${S[@]}" --output "$T/m/keep" 2> "$T/err")
check "an existing file keeps its permission bits (0604 under umask 077)" \
    bash -c "[ \"\$(stat -c %a '$T/m/keep')\" = 604 ]"
(umask 027; "$LEASH" "${S[@]}" --output "$T/m/new" 2> "$T/err")
check "a new file gets 0666 less the umask (0640 under umask 027)" \
    bash -c "[ \"\$(stat -c %a '$T/m/new')\" = 640 ]"

name=$(printf 'n%.0s' $(seq 1 250))
run "${S[@]}" --output "$T/m/$name"
check "a legal 250-character name is written" bash -c "[ $status -eq 0 ] && [ -f '$T/m/$name' ] && [ -z \"\$(ls -A '$T/m' | grep '^\.leash-')\" ]"

mkdir -p "$T/d"
start=$SECONDS
run -q -D SYNTH --synth-train 200 --synth-test 50 -b 20 -e 100000 --output "$T/d"
refused "--output a directory: refused before training" 2 "--output $T/d: is a directory"
run "${S[@]}" --output ""
refused "--output '': refused" 2 "--output: empty file name"
run "${S[@]}" --checkpoint "$T/fifo"
refused "--checkpoint on a FIFO: refused, not replaced" 2 "--checkpoint $T/fifo: exists and is not a regular file (not replaced)"
run "${S[@]}" --save-model "$dev"
refused "--save-model on a device: refused, not replaced" 2 "--save-model $dev: exists and is not a regular file (not replaced)"
check "the FIFO and the device are still there" bash -c "[ -p '$T/fifo' ] && [ -c '$dev' ]"
echo old > "$T/l/ckpt-target"; ln -s ckpt-target "$T/l/ckpt"
run "${S[@]}" --checkpoint "$T/l/ckpt"
check "--checkpoint through a symlink: the link stays, the target is a checkpoint" \
    bash -c "[ $status -eq 0 ] && [ -L '$T/l/ckpt' ] && [ \"\$(head -c 8 '$T/l/ckpt-target')\" = LEASHCKP ]"

# --- 2. closed and failing standard descriptors -------------------------------------------
status=0; "$LEASH" "${S[@]}" --output "$T/closed2.json" 2>&- || status=$?
check "stderr closed: the document is valid JSON, exit 0" bash -c "[ $status -eq 0 ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' '$T/closed2.json'"
status=0; "$LEASH" -D SYNTH --synth-train 200 --synth-test 50 -b 20 -e 2 --output "$T/closed2v.json" 2>&- || status=$?
check "stderr closed with progress lines: none of them in the document" \
    bash -c "[ $status -eq 0 ] && ! grep -q '^epoch' '$T/closed2v.json' && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' '$T/closed2v.json'"
status=0; "$LEASH" "${S[@]}" --output "$T/closed0.json" <&- 2> "$T/err" || status=$?
check "stdin closed: runs as usual" bash -c "[ $status -eq 0 ] && [ -f '$T/closed0.json' ]"
status=0; "$LEASH" "${S[@]}" >&- 2> "$T/err" || status=$?
refused "stdout closed, no --output: refused before training" 2 "standard output is closed"
if [ -w /dev/full ]; then
    status=0; "$LEASH" "${S[@]}" > /dev/full 2> "$T/err" || status=$?
    refused "stdout full: one message, exit 1" 1 "standard output: cannot write the result: No space left on device"
else ok "stdout full # SKIP no /dev/full"; fi
status=0; { "$LEASH" "${S[@]}" 2> "$T/err"; echo $? > "$T/pipe.status"; } | true
status=$(cat "$T/pipe.status")
refused "stdout a broken pipe: one message, exit 1" 1 "standard output: cannot write the result: Broken pipe"
status=0; "$LEASH" --help >&- 2> "$T/err" || status=$?
refused "--help to a closed stdout: one message, exit 1" 1 "standard output: Bad file descriptor"

# --- 5. data loaders ------------------------------------------------------------------------
# idx DIR SPLIT COUNT [SIDE]: a valid IDX pair of COUNT SIDExSIDE images.
idx() {
    python3 - "$@" <<'EOF'
import os, struct, sys
d, split, n = sys.argv[1], sys.argv[2], int(sys.argv[3]); side = int(sys.argv[4]) if len(sys.argv) > 4 else 28
os.makedirs(d, exist_ok=True)
open(f"{d}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, side, side) + os.urandom(n * side * side))
open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + bytes(i % 10 for i in range(n)))
EOF
}
# gz FILE [TRAILER]: gzip FILE in place (to FILE.gz), with TRAILER bytes appended.
gz() { python3 -c 'import gzip, os, sys; d = open(sys.argv[1], "rb").read(); os.remove(sys.argv[1]); open(sys.argv[1] + ".gz", "wb").write(gzip.compress(d) + sys.argv[2].encode())' "$1" "${2:-}"; }
data() { rm -rf "$1"; idx "$1" train 20; idx "$1" t10k 10; }
M=(-q -D MNIST -b 5 -e 1)

data "$T/fifo-data"; rm "$T/fifo-data/train-labels-idx1-ubyte"; mkfifo "$T/fifo-data/train-labels-idx1-ubyte"
status=0; timeout -k 5 10 "$LEASH" "${M[@]}" --data-dir "$T/fifo-data" > /dev/null 2> "$T/err" || status=$?
refused "a FIFO in place of a data file: refused at once, not waited on" 2 "$T/fifo-data/train-labels-idx1-ubyte: not a regular file"
mkfifo "$T/fifo-ckpt"
status=0; timeout -k 5 10 "$LEASH" "${S[@]}" --resume "$T/fifo-ckpt" > /dev/null 2> "$T/err" || status=$?
refused "a FIFO as --resume: refused at once" 2 "checkpoint $T/fifo-ckpt: not a regular file"
status=0; timeout -k 5 10 "$LEASH" --evaluate "$T/fifo-ckpt" -D SYNTH > /dev/null 2> "$T/err" || status=$?
refused "a FIFO as --evaluate: refused at once" 2 "$T/fifo-ckpt: not a regular file"

data "$T/trail"; gz "$T/trail/train-images-idx3-ubyte" "garbage"
run "${M[@]}" --data-dir "$T/trail"
refused "data after the end of a gzip stream: refused" 2 "$T/trail/train-images-idx3-ubyte.gz: 7 bytes after the end of the gzip data"
data "$T/concat"
python3 -c 'import gzip, os, sys; d = open(sys.argv[1], "rb").read(); os.remove(sys.argv[1]); open(sys.argv[1] + ".gz", "wb").write(gzip.compress(d[:100]) + gzip.compress(d[100:]))' "$T/concat/train-images-idx3-ubyte"
run "${M[@]}" --data-dir "$T/concat" --output "$T/concat.json"
check "a gzip file of two members (as gzip writes them) is read whole" bash -c "[ $status -eq 0 ] && [ -f '$T/concat.json' ]"

# A header promising 60 million images (47 GB), its gzip padded with zeros to 46 MB: by
# deflate's ratio the padding would allow 47 GB; leash must refuse it without trying.
data "$T/pad"
python3 - "$T/pad/train-images-idx3-ubyte" "$T/pad/train-labels-idx1-ubyte" <<'EOF'
import gzip, os, struct, sys
os.remove(sys.argv[1])
open(sys.argv[1] + ".gz", "wb").write(gzip.compress(struct.pack(">IIII", 2051, 60000000, 28, 28) + bytes(10 * 784)))
f = open(sys.argv[2], "r+b"); f.seek(4); f.write(struct.pack(">I", 60000000))
EOF
truncate -s 46M "$T/pad/train-images-idx3-ubyte.gz"
run "${M[@]}" --data-dir "$T/pad"
refused "a padded gzip whose header promises 47 GB: exit 2 naming the file, no huge allocation" 2 "$T/pad/train-images-idx3-ubyte.gz: "
data "$T/short"
python3 - "$T/short/train-images-idx3-ubyte" <<'EOF'
import gzip, os, struct, sys
os.remove(sys.argv[1])
open(sys.argv[1] + ".gz", "wb").write(gzip.compress(struct.pack(">IIII", 2051, 20, 28, 28) + bytes(19 * 784)))
EOF
run "${M[@]}" --data-dir "$T/short"
refused "a gzip holding less than its header promises: truncated" 2 "$T/short/train-images-idx3-ubyte.gz: truncated: header promises 15680 bytes of data, file has 14896"

data "$T/shape"; idx "$T/shape" t10k 10 32
run "${M[@]}" --data-dir "$T/shape"
refused "test images of another shape: the file named, before training" 2 "$T/shape/t10k-images-idx3-ubyte: images of 32x32, but those of $T/shape/train-images-idx3-ubyte are 28x28"
# The training images are truncated too: only reading every header first reports the
# test split's bad magic rather than the training data.
data "$T/first"; truncate -s 1000 "$T/first/train-images-idx3-ubyte"
printf 'XXXX' | dd of="$T/first/t10k-images-idx3-ubyte" conv=notrunc 2> /dev/null
run "${M[@]}" --data-dir "$T/first"
refused "every header is read before any data" 2 "$T/first/t10k-images-idx3-ubyte: bad magic number"

# --- 3. workers the BLAS cannot serve; 6. option parsing ----------------------------------
# rejects NAME TEXT ARGS...: exit 2 within 20 s, one line with TEXT, no output file and
# no temporary file.
rejects() {
    local name=$1 text=$2; shift 2
    rm -rf "$T/o"; mkdir "$T/o"
    status=0; timeout -k 5 20 "$LEASH" --output "$T/o/out.json" "$@" > /dev/null 2> "$T/err" || status=$?
    if [ -n "$(ls -A "$T/o")" ]; then not_ok "$name" "left in the output directory: $(ls -A "$T/o")"
    else refused "$name" 2 "$text"; fi
}
rejects "-a LSH -n 4096: refused naming -n and the BLAS's limit" "-n 4096: at most" -q -D SYNTH -a LSH -n 4096
rejects "-a HOG -n 4096: refused" "-n 4096: at most" -q -D SYNTH -a HOG -n 4096
rejects "-a LSH -n 3000: refused" "-n 3000: at most" -q -D SYNTH -a LSH -n 3000
rejects "-Zq names -Z" "leash: -Z: unknown option" -Zq
rejects "-qZ names -Z" "leash: -Z: unknown option" -qZ
rejects "--s is ambiguous, with the candidates" "leash: --s: ambiguous option (could be --step, " --s 1
rejects "--quiet=1: takes no value" "leash: --quiet: takes no value" --quiet=1
rejects "-qb: -b's value is missing" "leash: -b: missing value" -qb
# Sizes beyond this machine's memory (a machine with more would rightly try them).
mem_gib=$(awk '/^MemTotal:/ {print int($2 / 1048576)}' /proc/meminfo)
if [ "$mem_gib" -lt 90 ]; then
    rejects "-e 2147483647: refused with the size it needs" "-e 2147483647: the run would need " -q -D SYNTH -e 2147483647
else ok "-e 2147483647 # SKIP $mem_gib GiB of memory"; fi
rejects "-U 65536 -L 7: refused with the size it needs" "-U 65536 -L 7: the run would need " -q -D SYNTH -U 65536 -L 7
if [ "$mem_gib" -lt 24 ]; then
    rejects "--synth-train beyond memory: refused" "--synth-train 16777216 --synth-test 16777216: " -q -D SYNTH --synth-train 16777216 --synth-test 16777216 -U 1 -L 1 -b 1
else ok "--synth-train beyond memory # SKIP $mem_gib GiB of memory"; fi
rejects "--avg-period 1e300: refused" "--avg-period 1e300: must be at most 1e+09" -q -D SYNTH --avg-period 1e300
# Every file named on the command line is checked before the data are read: with a data
# directory that does not exist, the message is about the file.
rejects "--resume of a missing file: refused before the data are read" \
    "leash: --resume $T/none.ck: No such file or directory" -q -D MNIST --data-dir "$T/nodata" --resume "$T/none.ck"
rejects "--checkpoint in a missing directory: refused before the data are read" \
    "leash: --checkpoint $T/nodir/ck: directory $T/nodir does not exist" -q -D MNIST --data-dir "$T/nodata" --checkpoint "$T/nodir/ck"
rejects "--save-model in a missing directory: refused before the data are read" \
    "leash: --save-model $T/nodir/m: directory $T/nodir does not exist" -q -D MNIST --data-dir "$T/nodata" --save-model "$T/nodir/m"

# warns TEXT ARGS...: exit 0 and exactly one warning line, containing TEXT.
warns() {
    local name=$1 text=$2; shift 2
    status=0; "$LEASH" "${S[@]}" "$@" --output "$T/w.json" 2> "$T/err" || status=$?
    refused "$name" 0 "$text"
}
warns "--holdout with SYNTH: one warning" "leash: warning: --holdout: no effect with -D SYNTH" --holdout 10
warns "-B without LSH: one warning" "leash: warning: -B: no effect without -a LSH" -B 3
warns "--avg-every with one rank: one warning for the run" "leash: warning: --avg-every: no effect with one rank" --avg-every 5 -e 3
warns "-t INVERSE with SEQ: one warning" "leash: warning: -t: no effect with -a SEQ or SYNC" -t INVERSE
warns "--tail-amplitude without TAIL: one warning" "leash: warning: --tail-amplitude: no effect without -t TAIL" --tail-amplitude 0.5

[ $failed -eq 0 ]
