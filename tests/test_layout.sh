#!/bin/bash
# The code's shape, as doc/design.md promises it: no function in src/ over 60 lines,
# src/train/trainer.c under 450, checkpoint.c blind to the trainer's state, no circle
# of calls between the files of src/train or of src/data (measured on the library's
# objects with nm: a file calls another when it uses a symbol defined there), and every
# setting the library's messages name (leash_config.FIELD) known to the program by a
# flag (src/cli/fields.c), and none of those flags in the public headers.
set -u
. "$(dirname "$0")/tap.sh"
SRC=${LEASH_SRCDIR:-$(dirname "$0")/..}
BUILD=${LEASH_BUILDDIR:-.}
CC=${LEASH_CC:-cc}
echo "1..7"

# A function runs from a line that starts with "{" to the next that starts with "}"
# (the code base's style, which clang-format keeps); its name is on the line before.
long=$(for f in "$SRC"/src/*/*.c; do
    awk -v file="${f#"$SRC"/}" '
        /^[A-Za-z_].*\(/ { sig = $0 }
        /^\{/ { start = NR; name = sig }
        /^\}/ && start { if (NR - start + 1 > 60) printf "%s:%d (%d lines) ", file, start, NR - start + 1; start = 0 }
    ' "$f"
done)
functions=$(cat "$SRC"/src/*/*.c | grep -c '^{')
if [ -z "$long" ] && [ "$functions" -gt 100 ]; then ok "none of the $functions functions of src/ is over 60 lines"
else not_ok "no function of src/ over 60 lines" "over: $long" "functions found: $functions"; fi

lines=$(wc -l < "$SRC/src/train/trainer.c")
if [ "$lines" -lt 450 ]; then ok "src/train/trainer.c tells its story in $lines lines (under 450)"
else not_ok "src/train/trainer.c under 450 lines" "it has $lines"; fi

# Every header checkpoint.c reads, transitively, as the compiler sees them.
deps=$($CC -std=c11 -MM -I"$SRC/src" -I"$SRC/include" -I"$BUILD" -I"$SRC" \
    "$SRC/src/train/checkpoint.c" 2>&1)
if [ $? -ne 0 ]; then not_ok "checkpoint.c does not include trainer_internal.h" "$deps"
elif grep -q 'trainer_internal\.h' <<<"$deps"; then
    not_ok "checkpoint.c does not include trainer_internal.h" "it does, through: $deps"
else ok "checkpoint.c keeps the file and does not see the trainer's state"; fi

# The objects of a directory: libtool's static ones, or its shared ones.
objects() {
    local dir=$BUILD/src/$1
    ls "$dir"/libleash_la-*.o 2> /dev/null || ls "$dir"/.libs/libleash_la-*.o 2> /dev/null
}
# "caller callee" for every symbol one object uses and another defines.
edges() {
    local o
    for o in "$@"; do nm --defined-only "$o" | awk -v f="$(basename "$o" .o)" '$2 ~ /[TDRB]/ {print $3, f}'; done |
        sort -k1,1 > "$T/defined"
    for o in "$@"; do nm --undefined-only "$o" | awk -v f="$(basename "$o" .o)" '{print $2, f}'; done |
        sort -k1,1 > "$T/used"
    join "$T/used" "$T/defined" | awk '$2 != $3 {print $2, $3}' | sort -u
}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-layout.XXXXXX")
trap 'rm -rf "$T"' EXIT
for dir in train data; do
    objs=$(objects $dir)
    if ! command -v nm > /dev/null || ! command -v tsort > /dev/null; then
        skip "no circle of calls between the files of src/$dir" "nm or tsort not installed"
    elif [ -z "$objs" ]; then
        skip "no circle of calls between the files of src/$dir" "no objects under $BUILD/src/$dir"
    else
        # shellcheck disable=SC2086
        edges $objs > "$T/edges"
        if loop=$(tsort "$T/edges" 2>&1 > /dev/null) && [ -z "$loop" ] && [ -s "$T/edges" ]; then
            ok "no circle of calls between the $(echo "$objs" | wc -l) files of src/$dir ($(wc -l < "$T/edges") calls)"
        else not_ok "no circle of calls between the files of src/$dir" "$loop" "$(sed 's/libleash_la-//g' "$T/edges" | tr '\n' ';')"; fi
    fi
done

# The fields the library's messages name: in its string literals, and the checkpoint's
# settings (the field of each pair in checkpoint.c's describe_config; "ranks" is the
# layout, never named).
named=$( (grep -ho '"[^"]*leash_config\.[a-z_]*' "$SRC"/src/{core,nn,data,sync,mpi,topo,train}/*.c |
    grep -o 'leash_config\.[a-z_]\+' | sed 's/^leash_config\.//'
    grep -o 'pair\(_double\)\?(p, "[-a-zA-Z]*", "[a-z_]*"' "$SRC/src/train/checkpoint.c" |
        sed 's/.*, "\([a-z_]*\)"$/\1/' | grep -v '^ranks$') | sort -u)
known=$(grep -o '{"[a-z_]*", "-[-a-zA-Z]*"}' "$SRC/src/cli/fields.c" | sed 's/{"\([a-z_]*\)".*/\1/' | sort -u)
unknown=$(comm -23 <(echo "$named") <(echo "$known") | tr '\n' ' ')
if [ -z "$unknown" ] && [ "$(echo "$named" | wc -l)" -gt 10 ]; then
    ok "the $(echo "$named" | wc -l) settings the library's messages name all have a flag in leash"
else not_ok "every setting the library's messages name has a flag in leash" "without one: $unknown"; fi

# The public headers speak of fields, not of the program's flags.
flags=$(grep -o '{"[a-z_]*", "-[-a-zA-Z]*"}' "$SRC/src/cli/fields.c" | sed 's/.*", "\(-[-a-zA-Z]*\)"}/\1/' | sort -u)
said=$(for f in $flags; do
    grep -n -E -- "(^|[ (/*\`])$f([ ,.):;\`]|\$)" "$SRC"/include/leash/*.h | sed "s|^|$f in |"
done)
if [ -z "$said" ] && [ "$(echo "$flags" | wc -w)" -gt 20 ]; then
    ok "the public headers name none of leash's $(echo "$flags" | wc -w) flags"
else not_ok "the public headers name no flag of leash" "$said"; fi
