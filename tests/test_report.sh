#!/bin/bash
# leash-report on fabricated result documents whose figures are known: the groups'
# medians, quartiles and counts as computed by hand (one repetition diverged, one never
# reached the target), and plots that are real pictures with one curve per strategy.
set -u
REPORT=${LEASH_REPORT:-$(dirname "$0")/../tools/leash-report}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-report.XXXXXX")
trap 'rm -rf "$T"' EXIT
# Debian's interpreter, which python3-matplotlib installs for (the tools' own).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$(dirname "$0")/tap.sh"
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name${out:+ ($out)}"; else not_ok "$name" "$out"; fi
}
echo "1..5"

# Two groups: LSH (B = inf, 2 threads) with 5 seeds, whose times to target are 1, 2, 3,
# never, and one that diverged; ASYNC (2 threads) with 3 seeds and times 4, 5, 6.
mkdir -p "$T/runs/sub"
"$PY" - "$T/runs" <<'EOF'
import json, os, sys
out = sys.argv[1]
def doc(algo, seed, status, ttt, acc, sps, persistence="inf"):
    stale = {"LSH": [50, 30, 20], "ASYNC": [80, 15, 5]}[algo]
    pts = [[0.1 * k, 10 * k, 2.3 - 0.1 * k - 0.01 * seed] for k in range(1, 21)]
    return {"leash_version": "test", "status": status, "resumes": 0,
            "config": {"algorithm": algo, "threads": 2, "persistence": persistence, "step": 0.1, "seed": seed,
                       "target_loss": 0.5, "arch": "MLP", "dataset": "SYNTH"},
            "ranks": 1,
            "epochs": [{"epoch": e, "time_s": 1.0, "test_accuracy": acc - 0.1 * (2 - e), "train_loss": 1.0 / e}
                       for e in (1, 2)],
            "trace": {"every": 10, "points": pts},
            "final": {"time_to_target_s": ttt, "test_accuracy": acc, "samples_per_s": sps, "train_loss": 0.5},
            "sync": {"staleness_mean": 0.7, "failed_cas": 10, "gradients": 100, "dropped_gradients": 0,
                     "peak_live_versions": 5, "staleness_hist": stale, "cas_attempts_hist": [90, 10]}}
lsh = [(1, "complete", 1.0, 0.80, 100), (2, "complete", 2.0, 0.82, 200), (3, "complete", 3.0, 0.84, 300),
       (4, "complete", None, 0.70, 400), (5, "diverged", None, 0.10, 500)]
for seed, status, ttt, acc, sps in lsh:
    json.dump(doc("LSH", seed, status, ttt, acc, sps), open(f"{out}/lsh-{seed}.json", "w"))
for seed, ttt in ((1, 4.0), (2, 5.0), (3, 6.0)):
    json.dump(doc("ASYNC", seed, "complete", ttt, 0.6, 1000), open(f"{out}/sub/async-{seed}.json", "w"))
json.dump({"not": "a result"}, open(f"{out}/manifest.json", "w"))
EOF

status=0
"$REPORT" "$T/runs" -o "$T/report" 2> "$T/stderr" || status=$?
if [ $status -eq 0 ] && [ -s "$T/report/report.md" ] && [ -s "$T/report/report.csv" ]; then
    ok "leash-report writes report.md and report.csv ($(cat "$T/stderr"))"
else not_ok "leash-report runs" "status $status" "$(cat "$T/stderr")"; fi

check "the groups' medians, quartiles and counts are those computed by hand" \
    "$PY" - "$T/report/report.csv" <<'EOF'
import csv, sys
rows = {r["strategy"]: r for r in csv.DictReader(open(sys.argv[1]))}
want = {
    "LSH B=inf": {"runs": "5", "diverged": "1", "not_reached": "1", "unfinished": "0",
                  "time_to_target_s_median": 2.0, "time_to_target_s_q1": 1.5, "time_to_target_s_q3": 2.5,
                  "time_to_target_s_n": "3",
                  "test_accuracy_median": 0.81, "test_accuracy_q1": 0.775, "test_accuracy_q3": 0.825,
                  "samples_per_s_median": 300.0, "samples_per_s_q1": 200.0, "samples_per_s_q3": 400.0,
                  "failed_cas_rate_median": 0.1},
    "ASYNC": {"runs": "3", "diverged": "0", "not_reached": "0", "time_to_target_s_median": 5.0,
              "time_to_target_s_q1": 4.5, "time_to_target_s_q3": 5.5},
}
if set(rows) != set(want): sys.exit(f"groups {sorted(rows)}")
for s, fields in want.items():
    for k, v in fields.items():
        got = rows[s][k]
        if isinstance(v, float) and abs(float(got) - v) > 1e-9 or not isinstance(v, float) and got != v:
            sys.exit(f"{s} {k}: {got}, want {v}")
EOF

if grep -q '^| LSH B=inf \*\*!\*\* | 5 | 1 | 1 | 0 | 2 \[1.5, 2.5\]' "$T/report/report.md" &&
   grep -q '^| ASYNC | 3 | 0 | 0 | 0 | 5 \[4.5, 5.5\]' "$T/report/report.md"; then
    ok "report.md marks the group with a diverged and an unreached repetition, and counts them"
else not_ok "report.md's table" "$(grep '^|' "$T/report/report.md")"; fi

# The pictures: their size, not blank, and the strategies' colours (one curve each).
check "the seven plots are 800 x 500 (step sensitivity 1200 x 500) pictures, not blank" \
    "$PY" - "$T/report" <<'EOF'
import os, sys
import matplotlib.image as mpimg
names = ["loss_vs_time", "accuracy_vs_time", "time_to_target_vs_threads", "step_sensitivity",
         "staleness_hist", "cas_attempts_hist", "throughput_vs_threads"]
for name in names:
    img = mpimg.imread(os.path.join(sys.argv[1], name + ".png"))
    h, w = img.shape[:2]
    if (w, h) != ((1200, 500) if name == "step_sensitivity" else (800, 500)): sys.exit(f"{name}: {w} x {h}")
    ink = (img[:, :, :3].sum(axis=2) < 2.9).mean()
    if ink < 0.01: sys.exit(f"{name}: blank ({ink:.4f} of the pixels drawn)")
EOF
check "each plot over time has one curve per strategy, in the strategy's colour" \
    "$PY" - "$T/report" <<'EOF'
import os, sys
import matplotlib.image as mpimg
colours = {"LSH B=inf": (0x2c, 0xa0, 0x2c), "ASYNC": (0xff, 0x7f, 0x0e), "SEQ": (0x8c, 0x56, 0x4b),
           "SYNC": (0x1f, 0x77, 0xb4), "HOG": (0xd6, 0x27, 0x28), "LSH B=0": (0x94, 0x67, 0xbd)}
for name in ("loss_vs_time", "accuracy_vs_time", "staleness_hist"):
    img = mpimg.imread(os.path.join(sys.argv[1], name + ".png"))[:, :, :3] * 255
    seen = set()
    for s, rgb in colours.items():
        d = abs(img - rgb).max(axis=2)
        if (d < 3).sum() > 50: seen.add(s)
    if seen != {"LSH B=inf", "ASYNC"}: sys.exit(f"{name}: curves in the colours of {sorted(seen)}")
EOF
