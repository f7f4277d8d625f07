#!/bin/bash
# The installed library as a user gets it: `make install` of this build tree into a
# scratch DESTDIR, then the installed example built with nothing but pkg-config's flags,
# in C and in C++, against the shared library and against the static one, and run: it
# trains, saves and reloads its parameters, and exits 0 only if they come back bit for
# bit and score as the trained model did.
set -u
MAKE=${LEASH_MAKE:-make}
CC=${LEASH_CC:-cc}
PKG_CONFIG=${LEASH_PKG_CONFIG:-pkg-config}

reason=
if [ -z "${LEASH_BUILDDIR:-}" ]; then
    reason="needs the build tree's settings: run it through make check"
elif [ -n "${LEASH_SANITIZERS:-}" ]; then
    # An instrumented libleash needs the sanitizer runtime in every program that links
    # it, which pkg-config's flags do not give; the plain build runs this test.
    reason="instrumented build ($LEASH_SANITIZERS)"
elif ! command -v readelf > /dev/null; then
    reason="readelf not installed (Debian: binutils)"
fi
if [ -n "$reason" ]; then echo "1..0 # SKIP $reason"; exit 0; fi

CXX_FOUND=
for c in ${CXX:-} g++ c++ clang++; do
    if command -v "$c" > /dev/null; then CXX_FOUND=$c; break; fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/leash-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
dest=$T/dest
. "$(dirname "$0")/tap.sh"

# pkg-config with the staged leash.pc first, the directories it names moved under
# DESTDIR (whatever ./configure made of them); leash.pc requires no other module, which
# these definitions would move too.
pc() {
    PKG_CONFIG_PATH=$dest$LEASH_PKGCONFIGDIR "$PKG_CONFIG" \
        --define-variable=libdir="$dest$LEASH_LIBDIR" \
        --define-variable=includedir="$dest$LEASH_INCLUDEDIR" "$@"
}

echo "1..10"

# A recipe's jobserver and command-line variables are not this make's business.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -s -C "$LEASH_BUILDDIR" install DESTDIR="$dest" \
    > "$T/install.log" 2>&1; then
    missing=
    for f in "$LEASH_LIBDIR/libleash.so.0" "$LEASH_LIBDIR/libleash.a" \
        "$LEASH_PKGCONFIGDIR/leash.pc" "$LEASH_INCLUDEDIR/leash/leash.h" \
        "$LEASH_MAN1DIR/leash.1" "$LEASH_DOCDIR/README.md" "$LEASH_DOCDIR/doc/design.md" \
        "$LEASH_DOCDIR/doc/output.md" "$LEASH_DOCDIR/doc/file-formats.md" "$LEASH_DOCDIR/doc/api.md" \
        "$LEASH_DOCDIR/BENCHMARKS.md" "$LEASH_EXAMPLESDIR/train.c" \
        "$LEASH_JOBSDIR/leash-hybrid.sbatch" "$LEASH_JOBSDIR/leash-multinode.sbatch" \
        "$LEASH_BINDIR/leash-sweep" "$LEASH_BINDIR/leash-report"; do
        [ -e "$dest$f" ] || missing="$missing $f"
    done
    if [ -z "$missing" ]; then ok "make install: the libraries, headers, leash.pc, man page, docs and examples"
    else not_ok "make install installs everything" "missing:$missing"; fi
else
    not_ok "make install DESTDIR=..." "$(tail -20 "$T/install.log")"
    for t in "links" "man" "pkg-config finds leash" "shared, C" "shared, C++" "api.md" "static, C" \
        "static, C++" "make uninstall"; do
        not_ok "$t" "not installed"
    done
    exit 1
fi

# The installed documents' relative links lead to installed files.
broken=
for md in "$dest$LEASH_DOCDIR/README.md" "$dest$LEASH_DOCDIR"/doc/*.md "$dest$LEASH_DOCDIR/BENCHMARKS.md"; do
    for link in $(grep -o '](\([^)#]*\)' "$md" | sed 's/^](//' | grep -v '^[a-z]*:'); do
        [ -e "$(dirname "$md")/$link" ] || broken="$broken ${md#"$dest$LEASH_DOCDIR/"}:$link"
    done
done
if [ -z "$broken" ]; then ok "the installed README's and documents' links lead to installed files"
else not_ok "the installed documents' links lead to installed files" "broken:$broken"; fi

# man finds the page under the prefix's man directory.
if command -v man > /dev/null; then
    found=$(MANPATH=$dest$(dirname "$LEASH_MAN1DIR") man -w leash 2>&1)
    if [ "$found" = "$dest$LEASH_MAN1DIR/leash.1" ]; then ok "man -w leash finds the installed page"
    else not_ok "man -w leash finds the installed page" "got: $found"; fi
else skip "man -w leash finds the installed page" "man not installed (Debian: man-db)"; fi

version=$(pc --modversion leash 2>&1)
if [ "$version" = "$LEASH_VERSION" ]; then ok "pkg-config finds leash $version in the installed tree"
else not_ok "pkg-config finds leash $LEASH_VERSION in the installed tree" "got: $version"; fi

example=$dest$LEASH_EXAMPLESDIR/train.c
# build_and_run NAME MODE LANG: build the example with pkg-config's flags for MODE (shared
# or static) as LANG (c or c++), check which libleash it links, run it.
build_and_run() {
    local name=$1 mode=$2 lang=$3 exe=$T/train-$2-$3 flags needed status
    if [ "$mode" = static ]; then flags=$(pc --static --cflags --libs leash 2> "$T/pc.err")
    else flags=$(pc --cflags --libs leash 2> "$T/pc.err"); fi || {
        not_ok "$name" "pkg-config failed:" "$(cat "$T/pc.err")"; return; }
    # shellcheck disable=SC2086 # the flags are a list
    if [ "$lang" = c ]; then $CC "$example" $flags -o "$exe"
    else $CXX_FOUND -x c++ "$example" -x none $flags -o "$exe"; fi > "$T/build.log" 2>&1 || {
        not_ok "$name" "build failed with: $flags" "$(tail -20 "$T/build.log")"; return; }
    needed=$(readelf -d "$exe" | grep NEEDED)
    if [ "$mode" = shared ] && ! grep -q 'libleash\.so\.0' <<<"$needed"; then
        not_ok "$name" "does not link libleash.so.0:" "$needed"; return
    elif [ "$mode" = static ] && grep -q 'libleash' <<<"$needed"; then
        not_ok "$name" "links a shared libleash:" "$needed"; return
    fi
    status=0
    # The shared build finds libleash.so in the staged libdir; the static one needs none.
    (cd "$T" && if [ "$mode" = shared ]; then LD_LIBRARY_PATH=$dest$LEASH_LIBDIR "$exe" "$T/params-$mode-$lang"
     else "$exe" "$T/params-$mode-$lang"; fi) > "$T/out" 2> "$T/err" || status=$?
    if [ $status -ne 0 ]; then not_ok "$name" "exit status $status" "$(cat "$T/err")"
    elif [ "$(grep -c '^epoch [1-5]/5: train loss ' "$T/out")" -ne 5 ]; then
        not_ok "$name" "expected one callback line per epoch:" "$(cat "$T/out")"
    elif ! grep -q '^reloaded: the same parameters, bit for bit' "$T/out" || [ ! -s "$T/params-$mode-$lang" ]; then
        not_ok "$name" "no bit-for-bit reload:" "$(cat "$T/out")"
    else ok "$name: $(grep '^reloaded' "$T/out")"; fi
}

build_and_run "shared, C: trains, saves and reloads its parameters" shared c
if [ -n "$CXX_FOUND" ]; then build_and_run "shared, C++ ($CXX_FOUND)" shared c++
else skip "shared, C++" "no C++ compiler (Debian: g++)"; fi
# doc/api.md's worked cases, built as a user would from the installed page: the placement
# plan it prints, and the signal case stopped by SIGTERM (exit 75) then resumed (exit 0).
api_cases() {
    local src=$dest$LEASH_DOCDIR/doc/api.md flags name extra
    flags=$(pc --cflags --libs leash) || return 1
    mkdir -p "$T/api"
    for name in ranks placement signals; do
        sed -n "/^<!-- example: $name.c -->\$/,/^\`\`\`\$/p" "$src" | sed '1,2d;$d' > "$T/api/$name.c"
        [ -s "$T/api/$name.c" ] || { echo "no example $name.c in api.md"; return 1; }
        # The placement case makes its own hwloc topology, so it links hwloc as well.
        extra=
        [ $name = placement ] && { extra=$($PKG_CONFIG --cflags --libs hwloc) || return 1; }
        # shellcheck disable=SC2086 # the flags are a list
        $CC "$T/api/$name.c" $flags $extra -o "$T/api/$name" > "$T/api/build.log" 2>&1 ||
            { echo "$name.c does not build:"; cat "$T/api/build.log"; return 1; }
    done
    export LD_LIBRARY_PATH=$dest$LEASH_LIBDIR
    local want got status=0
    want=$(sed -n '/^compact: model on NUMA node/p; /^scatter: model on NUMA node/p' "$src")
    got=$("$T/api/placement") || { echo "placement: exit $?"; return 1; }
    [ "$got" = "$want" ] || { echo "placement printed: $got"; echo "api.md says: $want"; return 1; }
    (cd "$T/api" && exec ./signals "$T/api/ck") > "$T/api/sig.out" & local pid=$!
    sleep 0.5 # of its 200 epochs, some 10 s
    kill -TERM $pid 2> /dev/null
    wait $pid || status=$?
    [ $status -eq 75 ] || { echo "signals: exit $status after SIGTERM"; cat "$T/api/sig.out"; return 1; }
    status=0
    (cd "$T/api" && ./signals "$T/api/ck") > "$T/api/sig.out" || status=$?
    grep -q '^complete: 200 epochs, resumed 1 time$' "$T/api/sig.out" && [ $status -eq 0 ] ||
        { echo "signals: exit $status on resume"; cat "$T/api/sig.out"; return 1; }
    (cd "$T/api" && ./ranks) > "$T/api/ranks.out" || { echo "ranks: exit $?"; return 1; }
    echo "$(cat "$T/api/ranks.out")"
}

# The linker takes libleash.so whenever it finds it; pkg-config --static lists what the
# archive needs, so link it as an installation without the shared library has it.
if out=$(api_cases 2>&1); then ok "doc/api.md's worked cases build from the installed page and run as it says ($out)"
else not_ok "doc/api.md's worked cases build from the installed page and run as it says" "$out"; fi
rm -f "$dest$LEASH_LIBDIR"/libleash.so*
build_and_run "static, C: trains, saves and reloads its parameters" static c
if [ -n "$CXX_FOUND" ]; then build_and_run "static, C++ ($CXX_FOUND)" static c++
else skip "static, C++" "no C++ compiler (Debian: g++)"; fi

if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -s -C "$LEASH_BUILDDIR" uninstall DESTDIR="$dest" \
    > "$T/uninstall.log" 2>&1; then
    left=$(find "$dest" -type f -o -type l)
    if [ -z "$left" ]; then ok "make uninstall removes every installed file"
    else not_ok "make uninstall removes every installed file" "left:" "$left"; fi
else not_ok "make uninstall" "$(tail -20 "$T/uninstall.log")"; fi

[ $failed -eq 0 ]
