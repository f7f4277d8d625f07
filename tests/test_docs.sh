#!/bin/bash
# The user documentation against the program: every long option that leash accepts is
# in the README's table and in the man page, every option those document is one leash
# accepts, and no document sends the reader to a file outside the distribution.
set -u
SRC=${LEASH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$(dirname "$0")/tap.sh"

LEASH=${LEASH:-./leash}
echo "1..7"

# The options leash accepts: the names in its getopt_long table.
accepted=$(sed -n '/^static const struct option long_options\[\] = {/,/^};/p' "$SRC/src/cli/options.c" |
    grep -o '{"[a-z][a-z-]*"' | tr -d '{"' | sort -u)
if [ "$(wc -l <<<"$accepted")" -ge 20 ]; then ok "$(wc -l <<<"$accepted") long options in src/cli/options.c"
else not_ok "the long options in src/cli/options.c" "found: $accepted"; fi

# In the README as `--name` or `--name ARG`; in the man page as \-\-name, in roff's
# escapes, followed by a font change, a space, a quote or the end of the line.
missing_readme= missing_man=
for o in $accepted; do
    in_readme=yes in_man=yes
    grep -q -- "\`--$o[ \`]" "$SRC/README.md" || in_readme=
    roff='\\-\\-'${o//-/'\\-'}
    grep -Eq -- "$roff"'(\\fR| |"|$)' "$SRC/doc/leash.1" || in_man=
    [ -n "$in_readme" ] || missing_readme="$missing_readme --$o"
    [ -n "$in_man" ] || missing_man="$missing_man --$o"
done
if [ -z "$missing_readme" ]; then ok "the README's table documents every long option"
else not_ok "the README's table documents every long option" "missing:$missing_readme"; fi
if [ -z "$missing_man" ]; then ok "the man page documents every long option"
else not_ok "the man page documents every long option" "missing:$missing_man"; fi

# The other way round: the README's table rows and the man page's option items name
# options that leash accepts.
documented=$( { grep -o '^| `-[^|]*|' "$SRC/README.md" | grep -o -- '--[a-z][a-z-]*'
                sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$SRC/doc/leash.1" | grep -A1 '^\.TP' |
                    grep -oE -- '\\-\\-([a-z]|\\-)+' | sed 's/\\//g'; } | sed 's/^--//' | sort -u)
unknown=
for o in $documented; do grep -qx -- "$o" <<<"$accepted" || unknown="$unknown --$o"; done
if [ -z "$unknown" ]; then ok "every documented long option is accepted"
else not_ok "every documented long option is accepted" "unknown:$unknown"; fi

# --help names every long option, beside its short one where it has one.
table=$(sed -n '/^static const struct option long_options\[\] = {/,/^};/p' "$SRC/src/cli/options.c")
help=$("$LEASH" --help)
absent=
for o in $accepted; do
    short=$(grep -o "{\"$o\", [a-z_]*, NULL, '.'}" <<<"$table" | grep -o "'.'" | tr -d "'")
    want="--$o"
    [ -n "$short" ] && want="-$short, --$o"
    grep -qE -- "^  $want( |$)" <<<"$help" || absent="$absent $want"
done
if [ -z "$absent" ]; then ok "--help names every long option, beside its short one"
else not_ok "--help names every long option, beside its short one" "absent:$absent"; fi

# leash-sweep reads leash's command lines itself (which grid flag a fixed option
# repeats): its copy of the option table must be options.c's, names, values and letters.
table_of_sweep=$(/usr/bin/python3 - "$SRC/tools/leash-sweep" <<'EOF'
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("sweep", sys.argv[1])
sweep = importlib.util.module_from_spec(importlib.util.spec_from_loader("sweep", loader))
loader.exec_module(sweep)
short = {n: s for s, n in sweep.SHORT.items()}
for n in sweep.LONG:
    print(n, "no" if n in sweep.SWITCHES else "required", short.get(n, "-"))
EOF
)
table_of_leash=$(grep -o '{"[a-z-]*", [a-z_]*, NULL, [^}]*}' <<<"$table" |
    sed -E "s/^\{\"([a-z-]*)\", ([a-z]*)_argument, NULL, '?([^'}]*)'?\}$/\1 \2 \3/; s/ OPT_[A-Z_]*$/ -/")
if [ -n "$table_of_leash" ] && [ "$table_of_sweep" = "$table_of_leash" ]; then
    ok "leash-sweep's copy of the option table is src/cli/options.c's"
else not_ok "leash-sweep's copy of the option table is src/cli/options.c's" \
    "$(diff <(echo "$table_of_leash") <(echo "$table_of_sweep"))"; fi

# Files the reader cannot have: the project's private notes, paths beside the checkout.
bad=$(grep -n -e 'DESIGN\.md' -e '\.\./shared' "$SRC/README.md" "$SRC/doc/leash.1" "$SRC/doc/design.md" \
    "$SRC/doc/output.md" "$SRC/examples/"* "$SRC/jobs/"* 2> /dev/null)
if [ -z "$bad" ]; then ok "the documents refer to no file outside the distribution"
else not_ok "the documents refer to no file outside the distribution" "$bad"; fi

[ $failed -eq 0 ]
