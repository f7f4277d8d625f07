#!/bin/bash
# The fuzz harnesses without libFuzzer: each replays its seed corpus (written here by
# tests/fuzz/make-seeds) and every reproducer kept in tests/fuzz/regressions/<harness>/.
set -u
LEASH=${LEASH:-./leash}
SRC=${LEASH_SRCDIR:-.}
BUILD=${LEASH_BUILDDIR:-.}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-fuzz.XXXXXX")
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
harnesses=(idx cifar options model checkpoint npz)
echo "1..${#harnesses[@]}"
seeds_ok=1
"$SRC/tests/fuzz/make-seeds" "$LEASH" "$T/seeds" > "$T/seeds.log" 2>&1 || seeds_ok=0
n=0
for h in "${harnesses[@]}"; do
    n=$((n + 1))
    if [ $seeds_ok -eq 0 ]; then echo "not ok $n - $h: the seed corpus could not be written"; sed 's/^/# /' "$T/seeds.log"; continue; fi
    if out=$("$BUILD/tests/fuzz/replay_$h" "$T/seeds/$h" "$SRC/tests/fuzz/regressions/$h" 2>&1); then
        echo "ok $n - $h: $(echo "$out" | tail -1) replayed"
    else
        echo "not ok $n - $h: an input failed"; echo "$out" | tail -20 | sed 's/^/# /'
    fi
done
