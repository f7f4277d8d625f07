#!/bin/bash
# make fuzz: run each libFuzzer harness for FUZZ_SECONDS, starting from its seed corpus
# and the kept reproducers. ok means no crash, sanitizer report, leak or timeout; a
# finding is left in fuzz-work/findings/<harness>/ (add it to
# tests/fuzz/regressions/<harness>/ with its fix, and make check replays it).
set -u
LEASH=${LEASH:-./leash}
SRC=${LEASH_SRCDIR:-.}
BUILD=${LEASH_BUILDDIR:-.}
SECONDS_EACH=${FUZZ_SECONDS:-30}
W=$BUILD/fuzz-work
rm -rf "$W"; mkdir -p "$W"
harnesses=(idx cifar options model checkpoint npz)
echo "1..${#harnesses[@]}"
if ! "$SRC/tests/fuzz/make-seeds" "$LEASH" "$W/seeds" > "$W/seeds.log" 2>&1; then
    for i in "${!harnesses[@]}"; do echo "not ok $((i + 1)) - ${harnesses[$i]}: no seed corpus"; done
    sed 's/^/# /' "$W/seeds.log"; exit 1
fi
n=0
for h in "${harnesses[@]}"; do
    n=$((n + 1))
    corpus=$W/corpus/$h findings=$W/findings/$h
    mkdir -p "$corpus" "$findings"
    cp "$W/seeds/$h"/* "$corpus"/
    dirs=("$corpus")
    [ -d "$SRC/tests/fuzz/regressions/$h" ] && dirs+=("$SRC/tests/fuzz/regressions/$h")
    status=0
    "$BUILD/tests/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$findings/" "${dirs[@]}" \
        > "$W/$h.log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$W/$h.log" | grep -o '[0-9]*$')
    size=$(ls "$corpus" | wc -l)
    if [ $status -eq 0 ] && [ -z "$(ls -A "$findings")" ]; then
        echo "ok $n - $h: ${SECONDS_EACH} s, ${execs:-?} inputs run, corpus of $size, no finding"
    else
        echo "not ok $n - $h: exit status $status, findings: $(ls "$findings" | tr '\n' ' ')"
        grep -m1 -A30 'ERROR\|runtime error\|Sanitizer' "$W/$h.log" | sed 's/^/# /'
    fi
done
