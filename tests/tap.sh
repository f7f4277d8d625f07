# TAP helpers that the shell tests source (. "$(dirname "$0")/tap.sh"): ok NAME;
# not_ok NAME [DIAGNOSTIC...], each diagnostic on a "# " line; skip NAME REASON. n counts
# the test points and failed the failures, so a test can end with [ $failed -eq 0 ].
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
