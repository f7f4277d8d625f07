#!/bin/bash
# The library exports its API and no more: the shared library's symbols are exactly the
# functions its public headers declare (LEASH_API, include/leash/api.h), and the public
# headers compile without hwloc's.
set -u
. "$(dirname "$0")/tap.sh"
SRC=${LEASH_SRCDIR:-$(dirname "$0")/..}
BUILD=${LEASH_BUILDDIR:-.}
CC=${LEASH_CC:-cc}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-exports.XXXXXX")
trap 'rm -rf "$T"' EXIT
echo "1..2"

lib=$BUILD/.libs/libleash.so
declared=$(/usr/bin/python3 "$(dirname "$0")/exported_names.py" "$SRC"/include/leash/*.h | sort -u)
if [ ! -e "$lib" ]; then
    skip "the shared library exports exactly the public API" "no $lib (configured --disable-shared?)"
elif ! command -v nm > /dev/null; then
    skip "the shared library exports exactly the public API" "nm not installed (Debian: binutils)"
else
    # Names starting with _ are the linker's and the instrumentation's, not leash's.
    exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^_' | sort -u)
    extra=$(comm -13 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')
    missing=$(comm -23 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')
    if [ -z "$extra" ] && [ -z "$missing" ] && [ -n "$declared" ]; then
        ok "libleash.so exports exactly the $(echo "$declared" | wc -l) functions the public headers declare"
    else not_ok "the shared library exports exactly the public API" "exported, not declared: $extra" \
        "declared, not exported: $missing"; fi
fi

# leash.h with nothing but leash's headers on the path: no hwloc (HWLOC_API_VERSION is
# what <hwloc.h> defines first).
printf '#include <leash/leash.h>\n#ifdef HWLOC_API_VERSION\n#error hwloc.h came in\n#endif\nint main(void) { return leash_strerror(0) == 0; }\n' > "$T/user.c"
if out=$($CC -std=c11 -c -I"$SRC/include" "$T/user.c" -o "$T/user.o" 2>&1); then
    ok "the public headers compile without hwloc's, and do not include it"
else not_ok "the public headers compile without hwloc's" "$out"; fi
