#!/bin/bash
# leash-sweep run locally: a grid of cells, each one document named after its settings;
# the same command again skips every finished cell and reruns (resumes) a killed one;
# cells that make no sense are skipped; bad grids are refused with one line.
set -u
LEASH=${LEASH:-./leash}
SWEEP=${LEASH_SWEEP:-$(dirname "$0")/../tools/leash-sweep}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-sweep.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
echo "1..6"

# The leash options every cell shares, after --.
FIXED=(-D SYNTH --synth-train 6000 --synth-test 300 -b 16 -e 2 --target-loss 0.5)
grid=(-a SEQ,LSH -n 1,2 -l 0.05,0.1 --repeats 2)
out=$T/sweep

statuses() { python3 - "$1" <<'EOF'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    if "leash_version" in d:
        print(os.path.basename(f), d["status"], d["config"]["algorithm"], d["config"]["threads"],
              d["config"]["step"], d["config"]["seed"])
EOF
}

# SEQ with -n 2 makes no sense: 2 x 2 of the 8 combinations go, 6 x 2 seeds remain.
"$SWEEP" "${grid[@]}" --out "$out" --leash "$LEASH" -- "${FIXED[@]}" 2> "$T/first.err"
status=$?
docs=$(statuses "$out")
if [ $status -eq 0 ] && [ "$(wc -l <<< "$docs")" -eq 12 ] && ! grep -qv " complete " <<< "$docs" &&
   [ "$(grep -c 'skipped (makes no sense): -a SEQ -n 2' "$T/first.err")" -eq 2 ] &&
   grep -q '^\[12/12\] .* elapsed, ETA 0:00:00: ' "$T/first.err" &&
   [ -e "$out/a-LSH_n-2_l-0.1_seed-2.json" ] && [ -z "$(ls "$out" | grep '\.ckpt$')" ]; then
    ok "a 2 x 2 x 2 grid with 2 seeds: 12 complete documents named after their cells, progress lines, 2 cells skipped"
else
    not_ok "the first sweep" "status $status" "$docs" "$(tail -5 "$T/first.err")"
fi

# Every document's settings are the ones its name gives.
if python3 - "$out" <<'EOF'
import glob, json, os, re, sys
for f in glob.glob(os.path.join(sys.argv[1], "*.json")):
    m = re.fullmatch(r"a-(\w+)_n-(\d)_l-([\d.]+)_seed-(\d)\.json", os.path.basename(f))
    c = json.load(open(f))["config"]
    want = (c["algorithm"], str(c["threads"]), f"{c['step']:g}", str(c["seed"]))
    if not m or m.groups() != want: sys.exit(f"{f}: {want}")
EOF
then ok "each document holds the settings its name says"; else not_ok "each document holds the settings its name says"; fi

# The same command again: nothing to run.
stamp=$(stat -c %Y "$out"/*.json | sort | md5sum)
"$SWEEP" "${grid[@]}" --out "$out" --leash "$LEASH" -- "${FIXED[@]}" 2> "$T/again.err"
if grep -q "12 of 12 cells already finished" "$T/again.err" && ! grep -q '^\[' "$T/again.err" &&
   [ "$(stat -c %Y "$out"/*.json | sort | md5sum)" = "$stamp" ]; then
    ok "the same command again skips every finished cell"
else not_ok "the same command again skips every finished cell" "$(cat "$T/again.err")"; fi

# A cell killed halfway (SIGKILL: no chance to write anything) is run again by the next
# sweep, which finishes it; the others are not touched.
out2=$T/killed
long=(-D SYNTH --synth-train 30000 --synth-test 300 -b 16 -e 3)
"$SWEEP" -a LSH -n 2 -l 0.05,0.1 --out "$out2" --leash "$LEASH" --checkpoint-period 0.2 -- "${long[@]}" \
    2> "$T/killed.err" &
sweep=$!
victim=
for _ in $(seq 1 300); do
    victim=$(pgrep -f -- "--output $out2/a-LSH_n-2_l-0.1_seed-1.json" | head -1)
    [ -n "$victim" ] && break
    sleep 0.05
done
sleep 0.5
[ -n "$victim" ] && kill -KILL "$victim"
wait $sweep
before=$(statuses "$out2")
"$SWEEP" -a LSH -n 2 -l 0.05,0.1 --out "$out2" --leash "$LEASH" --checkpoint-period 0.2 -- "${long[@]}" \
    2> "$T/rerun.err"
after=$(statuses "$out2")
if [ -n "$victim" ] && ! grep -q "l-0.1_seed-1.json complete" <<< "$before" &&
   grep -q "1 of 2 cells already finished" "$T/rerun.err" &&
   [ "$(grep -c ' complete ' <<< "$after")" -eq 2 ]; then
    ok "a cell killed halfway is rerun by the same command, and completes"
else not_ok "a cell killed halfway is rerun" "victim ${victim:-none}" "before: $before" "after: $after" "$(cat "$T/rerun.err")"; fi

# Refusals: one line naming what is wrong, exit 2, nothing run.
status=0
"$SWEEP" -a SEQ -l --out "$T/bad" --leash "$LEASH" 2> "$T/bad.err" || status=$?
if [ $status -eq 2 ] && [ "$(cat "$T/bad.err")" = "leash-sweep: -l: missing its comma list of values" ] &&
   [ ! -e "$T/bad" ]; then
    ok "a malformed grid is refused in one line"
else not_ok "a malformed grid is refused in one line" "status $status" "$(cat "$T/bad.err")"; fi
status=0
"$SWEEP" -a SEQ --out "$T/bad2" --leash "$LEASH" -- --output x.json 2> "$T/bad2.err" || status=$?
if [ $status -eq 2 ] && [ "$(cat "$T/bad2.err")" = "leash-sweep: --output: set by leash-sweep for every cell" ]; then
    ok "options the sweep sets itself are refused"
else not_ok "options the sweep sets itself are refused" "status $status" "$(cat "$T/bad2.err")"; fi
