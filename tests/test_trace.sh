#!/bin/bash
# The loss trace and the per-epoch contention figures of the result document
# (doc/output.md, "trace" and "epochs[]"), and time to target taken from the trace.
set -u
LEASH=${LEASH:-./leash}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-trace.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
check() { # check NAME COMMAND...: ok if the command succeeds, with its output as a note
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name${out:+ ($out)}"; else not_ok "$name" "$out"; fi
}
py() { python3 - "$@"; }
echo "1..5"

S=(-a SEQ -D SYNTH --synth-train 8000 --synth-test 300 -b 32 -l 0.1 --init HE -e 2 -q)

"$LEASH" "${S[@]}" --output "$T/default.json"
check "by default at least 20 trace points an epoch, at multiples of the interval, in order" \
    py "$T/default.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); every = d["trace"]["every"]; pts = d["trace"]["points"]
per_epoch = d["epochs"][0]["updates"]
if len(pts) < 20 * len(d["epochs"]): sys.exit(f"{len(pts)} points for {len(d['epochs'])} epochs")
if [p[1] for p in pts] != [every * (k + 1) for k in range(len(pts))]: sys.exit("points not every interval")
if any(b[0] < a[0] for a, b in zip(pts, pts[1:])): sys.exit("times go backwards")
print(f"{len(pts)} points, every {every} of {per_epoch} updates an epoch")
EOF

# The truth: from a trace of every single loss (a deterministic SEQ run repeats
# exactly), the first update at which the mean of the last N losses reaches the target.
# The trace at interval N must place the crossing within N updates of it.
"$LEASH" "${S[@]}" --trace-every 1 --output "$T/fine.json"
for target in 1.0 0.5 0.2; do
    "$LEASH" "${S[@]}" --trace-every 25 --target-loss "$target" --output "$T/coarse-$target.json"
done
check "time to target from the trace is within one trace interval of the truth (SEQ)" \
    py "$T/fine.json" "$T"/coarse-*.json <<'EOF'
import json, sys
fine = json.load(open(sys.argv[1]))
losses = [p[2] for p in fine["trace"]["points"]]
notes = []
for path in sys.argv[2:]:
    d = json.load(open(path)); target = d["config"]["target_loss"]; N = d["trace"]["every"]
    truth = next(u for u in range(N, len(losses) + 1) if sum(losses[u - N:u]) / N <= target)
    got = d["final"]["updates_to_target"]
    if got is None or abs(got - truth) > N: sys.exit(f"target {target}: {got} updates, truth {truth}")
    # The time is interpolated alike, between the points' times.
    t = d["final"]["time_to_target_s"]
    if not 0 < t <= d["final"]["time_s"]: sys.exit(f"target {target}: time {t}")
    notes.append(f"{target}: {got:.1f} vs {truth}")
print(", ".join(notes))
EOF

"$LEASH" "${S[@]}" --trace-every 0 --target-loss 0.5 --output "$T/off.json"
check "--trace-every 0: no trace, the target seen at the end of an epoch" \
    py "$T/off.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d["trace"]["points"]: sys.exit("points written")
if d["final"]["time_to_target_s"] != d["epochs"][0]["time_s"]: sys.exit("not the first epoch's end")
EOF

"$LEASH" -a LSH -n 3 -D SYNTH --synth-train 4000 --synth-test 300 -b 32 -l 0.1 -e 3 -q \
    --output "$T/lsh.json"
check "LSH -n 3: per-epoch staleness, failed CAS and live versions add up to the run's" \
    py "$T/lsh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); ep = d["epochs"]; s = d["sync"]
rounds = s["gradients"] // len(ep)
failed = sum(e["failed_cas_rate"] * rounds for e in ep)
if abs(failed - s["failed_cas"]) > 1e-6 * max(1, s["failed_cas"]): sys.exit(f"failed CAS {failed} vs {s['failed_cas']}")
mean = sum(e["staleness_mean"] * e["updates"] for e in ep) / sum(e["updates"] for e in ep)
if abs(mean - s["staleness_mean"]) > 1e-9: sys.exit(f"staleness mean {mean} vs {s['staleness_mean']}")
if max(e["staleness_max"] for e in ep) != s["staleness_max"]: sys.exit("staleness max")
if not all(1 <= e["live_versions"] <= 7 for e in ep): sys.exit(f"live versions {[e['live_versions'] for e in ep]}")
lv = [e["live_versions"] for e in ep]
if any(b < a for a, b in zip(lv, lv[1:])): sys.exit(f"live versions shrink: {lv}")
# Contention needs versions side by side: a stale gradient was computed on a version
# kept while a newer one was published, and a failed CAS raced a newer head. So the
# pool, which grows only when it must, held at least 2 (the staleness and CAS counts
# are the workers' own, not the pool's).
if (s["staleness_max"] > 0 or s["failed_cas"] > 0) and s["peak_live_versions"] < 2:
    sys.exit(f"peak {s['peak_live_versions']} versions with staleness max {s['staleness_max']}, failed CAS {s['failed_cas']}")
if s["staleness_max"] == 0: sys.exit("no staleness with 3 workers: nothing contended")
print(f"staleness mean {s['staleness_mean']:.3f}, failed CAS {s['failed_cas']}, live versions {lv}")
EOF

"$LEASH" "${S[@]}" --trace-every 7 --output "$T/seven.json"
check "--trace-every 7: a point every 7 updates, each the mean of its window's losses" \
    py "$T/seven.json" "$T/fine.json" <<'EOF'
import json, sys
d, fine = (json.load(open(f)) for f in sys.argv[1:3])
losses = [p[2] for p in fine["trace"]["points"]]
pts = d["trace"]["points"]
if [p[1] for p in pts] != [7 * (k + 1) for k in range(len(pts))]: sys.exit("not every 7 updates")
for k, p in enumerate(pts):
    want = sum(losses[7 * k:7 * k + 7]) / 7
    if abs(p[2] - want) > 1e-6 * abs(want): sys.exit(f"point {k}: {p[2]} vs {want}")
print(f"{len(pts)} points")
EOF
