#!/bin/bash
# leash-report on fabricated result documents whose figures are known: the groups'
# medians, quartiles and counts as computed by hand (one repetition diverged, one never
# reached the target, runs stopped at the target kept apart, a diverged group); plots
# read back through plots.json (a panel per thread count, censored groups marked);
# malformed documents and inputs skipped in one line each; a bad OUTDIR refused; and
# outputs that change all at once or not at all (a full disk, a signal, stale plots);
# architectures given as layer lists labelled by their short forms, long ones cut and
# hashed, whole lists in report.md and report.csv, and documents from before config.layers.
set -u
LEASH=${LEASH:-./leash}
REPORT=${LEASH_REPORT:-$(dirname "$0")/../tools/leash-report}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-report.XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
# Debian's interpreter, which python3-matplotlib installs for (the tools' own).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$(dirname "$0")/tap.sh"
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name${out:+ ($out)}"; else not_ok "$name" "$out"; fi
}
# The report under limits, so that a hang or a runaway read fails the test instead.
report() { (ulimit -v 4000000; timeout 60 "$REPORT" "$@"); }
echo "1..28"

# Two groups: LSH (B = inf, 2 threads) with 5 seeds, whose times to target are 1, 2, 3,
# never, and one that diverged; ASYNC (2 threads) with 3 seeds and times 4, 5, 6. SYNC
# asked for 5 epochs: two repetitions stopped at the target after 2 (accuracy 0.5, 0.6),
# two trained all 5 (0.8, 0.9). HOG diverged every time.
mkdir -p "$T/runs/sub"
"$PY" - "$T/runs" <<'EOF'
import json, os, sys
out = sys.argv[1]
def doc(algo, seed, status, ttt, acc, sps, persistence="inf", epochs=5, dropped=0):
    stale = {"LSH": [50, 30, 20], "ASYNC": [80, 15, 5], "SYNC": [100], "HOG": [60, 40]}[algo]
    scale = {"LSH": 1, "ASYNC": 0.8, "SYNC": 0.6, "HOG": 0.4}[algo]  # curves apart
    pts = [[0.1 * k, 10 * k, scale * (2.3 - 0.1 * k - 0.01 * seed)] for k in range(1, 21)]
    d = {"leash_version": "test", "status": status, "resumes": 0,
         "config": {"algorithm": algo, "threads": 2, "persistence": persistence, "step": 0.1, "seed": seed,
                    "target_loss": 0.5, "arch": "MLP", "dataset": "SYNTH", "epochs": 5},
         "ranks": 1,
         "epochs": [{"epoch": e, "time_s": 1.0, "test_accuracy": acc and acc * e / epochs, "train_loss": 1.0 / e}
                    for e in range(1, epochs + 1)],
         "trace": {"every": 10, "points": pts},
         "final": {"time_to_target_s": ttt, "test_accuracy": acc, "samples_per_s": sps, "train_loss": 0.5},
         "sync": {"staleness_mean": 0.7, "failed_cas": 10, "gradients": 100, "dropped_gradients": dropped,
                  "peak_live_versions": 5, "staleness_hist": stale, "cas_attempts_hist": [90, 10]}}
    return d
lsh = [(1, "complete", 1.0, 0.80, 100), (2, "complete", 2.0, 0.82, 200), (3, "complete", 3.0, 0.84, 300),
       (4, "complete", None, 0.70, 400), (5, "diverged", None, 0.10, 500)]
for seed, status, ttt, acc, sps in lsh:
    json.dump(doc("LSH", seed, status, ttt, acc, sps), open(f"{out}/lsh-{seed}.json", "w"))
for seed, ttt in ((1, 4.0), (2, 5.0), (3, 6.0)):
    json.dump(doc("ASYNC", seed, "complete", ttt, 0.6, 1000), open(f"{out}/sub/async-{seed}.json", "w"))
for seed, epochs, acc, dropped in ((1, 2, 0.5, 1), (2, 2, 0.6, 3), (3, 5, 0.8, 10), (4, 5, 0.9, 20)):
    json.dump(doc("SYNC", seed, "complete", 1.5, acc, 800, epochs=epochs, dropped=dropped),
              open(f"{out}/sync-{seed}.json", "w"))
for seed in (1, 2, 3):
    d = doc("HOG", seed, "diverged", None, None, 0)
    d["final"].update(test_accuracy=None, train_loss=None)
    json.dump(d, open(f"{out}/hog-{seed}.json", "w"))
json.dump({"not": "a result"}, open(f"{out}/manifest.json", "w"))
EOF

status=0
report "$T/runs" -o "$T/report" 2> "$T/stderr" || status=$?
if [ $status -eq 0 ] && [ -s "$T/report/report.md" ] && [ -s "$T/report/report.csv" ]; then
    ok "leash-report writes report.md and report.csv ($(cat "$T/stderr"))"
else not_ok "leash-report runs" "status $status" "$(cat "$T/stderr")"; fi

# Figures over the complete repetitions: the diverged one's samples/s (500) is left out.
check "the groups' medians, quartiles and counts are those computed by hand" \
    "$PY" - "$T/report/report.csv" <<'EOF'
import csv, sys
rows = {r["strategy"]: r for r in csv.DictReader(open(sys.argv[1]))}
want = {
    "LSH B=inf": {"runs": "5", "diverged": "1", "not_reached": "1", "unfinished": "0",
                  "time_to_target_s_median": 2.0, "time_to_target_s_q1": 1.5, "time_to_target_s_q3": 2.5,
                  "time_to_target_s_n": "3",
                  "test_accuracy_median": 0.81, "test_accuracy_q1": 0.775, "test_accuracy_q3": 0.825,
                  "samples_per_s_median": 250.0, "samples_per_s_q1": 175.0, "samples_per_s_q3": 325.0,
                  "samples_per_s_n": "4", "failed_cas_rate_median": 0.1},
    "ASYNC": {"runs": "3", "diverged": "0", "not_reached": "0", "time_to_target_s_median": 5.0,
              "time_to_target_s_q1": 4.5, "time_to_target_s_q3": 5.5},
}
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

check "runs stopped at the target are not averaged with runs that trained every epoch" \
    "$PY" - "$T/report" <<'EOF'
import csv, os, sys
r = {r["strategy"]: r for r in csv.DictReader(open(os.path.join(sys.argv[1], "report.csv")))}["SYNC"]
want = {"stopped_at_target": "2", "test_accuracy_median": "0.85", "test_accuracy_n": "2",
        "test_accuracy_at_target_median": "0.55", "test_accuracy_at_target_n": "2",
        "dropped_gradients_median": "15", "dropped_gradients_at_target_median": "2",
        "time_to_target_s_n": "4", "samples_per_s_n": "4"}
for k, v in want.items():
    if r.get(k) != v: sys.exit(f"SYNC {k}: {r.get(k)}, want {v}")
md = open(os.path.join(sys.argv[1], "report.md")).read().splitlines()
if not any(l.startswith("| SYNC | 4 |") and "| 0.85 [0.825, 0.875] |" in l for l in md): sys.exit("no SYNC row")
if not any(l.startswith("| SYNC, stopped at target | 2 |") and "| 0.55 [0.525, 0.575] |" in l for l in md):
    sys.exit("no row for SYNC's runs stopped at the target")
EOF

check "a group whose every repetition diverged shows - (its samples/s, staleness and CAS left out)" \
    "$PY" - "$T/report" <<'EOF'
import csv, os, sys
r = {r["strategy"]: r for r in csv.DictReader(open(os.path.join(sys.argv[1], "report.csv")))}["HOG"]
if r["diverged"] != "3": sys.exit(f"HOG diverged {r['diverged']}")
for m in ("time_to_target_s", "test_accuracy", "samples_per_s", "staleness_mean", "failed_cas_rate",
          "dropped_gradients", "peak_live_versions"):
    if r[f"{m}_median"] != "" or r[f"{m}_n"] != "0": sys.exit(f"HOG {m}: {r[f'{m}_median']} over {r[f'{m}_n']}")
row = [l for l in open(os.path.join(sys.argv[1], "report.md")) if l.startswith("| HOG ")]
if not row or row[0].strip().split(" | ")[5:] != ["-"] * 6 + ["- |"]: sys.exit(f"HOG row {row}")
EOF

# The pictures: the size plots.json gives, not blank, and the strategies' colours.
check "every plot is a picture of the size plots.json gives, not blank" \
    "$PY" - "$T/report" <<'EOF'
import json, os, sys
import matplotlib.image as mpimg
plots = json.load(open(os.path.join(sys.argv[1], "plots.json")))
for name in ("loss_vs_time.png", "accuracy_vs_time.png", "time_to_target_vs_threads.png", "staleness_hist.png",
             "cas_attempts_hist.png", "throughput_vs_threads.png"):
    img = mpimg.imread(os.path.join(sys.argv[1], name))
    h, w = img.shape[:2]
    if [w, h] != plots[name]["size"]: sys.exit(f"{name}: {w} x {h}, plots.json says {plots[name]['size']}")
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
    want = {"LSH B=inf", "ASYNC", "SYNC"} | ({"HOG"} if name == "loss_vs_time" else set())
    if seen != want: sys.exit(f"{name}: curves in the colours of {sorted(seen)}")
EOF

# A grid from one real document: LSH and HOG at 2 and 4 threads, steps 0.1 and 0.2, 3
# seeds. At 4 threads HOG reached the target 1 of 3 times at step 0.1 and never at
# 0.2, LSH 2 of 3 times at either step; at 2 threads every run reached it.
"$LEASH" -q -a LSH -n 2 -D SYNTH --synth-train 600 --synth-test 100 -b 16 -e 2 --target-loss 0.5 \
    --output "$T/real.json" 2> "$T/leash.err"
mkdir -p "$T/grid"
"$PY" - "$T/real.json" "$T/grid" <<'EOF'
import copy, json, math, sys
real = json.load(open(sys.argv[1]))
reached = {("LSH", 2, 0.1): 3, ("LSH", 2, 0.2): 3, ("HOG", 2, 0.1): 3, ("HOG", 2, 0.2): 3,
           ("LSH", 4, 0.1): 2, ("LSH", 4, 0.2): 2, ("HOG", 4, 0.1): 1, ("HOG", 4, 0.2): 0}
for (algo, n, step), k in reached.items():
    for seed in (1, 2, 3):
        d = copy.deepcopy(real)
        d["config"].update(algorithm=algo, threads=n, step=step, seed=seed, target_loss=0.5)
        d["status"] = "complete"
        d["final"]["time_to_target_s"] = 0.01 * n + step / 10 + seed / 1000 if seed <= k else None
        d["final"]["samples_per_s"] = 1000.0 * n + (500 if algo == "LSH" else 0) + seed
        d["trace"]["points"] = [[0.001 * i, i, 2.3 * math.exp(-0.03 * i * (1 + seed / 10))] for i in range(1, 101)]
        if algo == "HOG":
            d["sync"]["cas_attempts_hist"] = [sum(d["sync"]["staleness_hist"])]
        d["sync"]["staleness_hist"] = [10, 5 * n, n, 1]
        json.dump(d, open(f"{sys.argv[2]}/{algo}-{n}-{step}-{seed}.json", "w"))
EOF
status=0
report "$T/grid" -o "$T/grid-report" 2> "$T/grid.err" || status=$?
[ $status -eq 0 ] || echo "# the grid's report: status $status: $(head -3 "$T/grid.err")"
P=$T/grid-report/plots.json

check "one panel per thread count, each with the strategies run at it (CAS: LSH only)" "$PY" - "$P" <<'EOF'
import json, re, sys
plots = json.load(open(sys.argv[1]))
for name in ("loss_vs_time.png", "accuracy_vs_time.png", "staleness_hist.png", "cas_attempts_hist.png"):
    panels = plots[name]["panels"]
    threads = [int(re.search(r"(\d+) threads?\b", p["title"]).group(1)) for p in panels]
    if threads != [2, 4]: sys.exit(f"{name}: panels for {threads} threads")
    for p in panels:
        strategies = sorted(s["label"].split(" ")[0] for s in p["series"] if not s["label"].startswith("target"))
        want = ["LSH"] if name.startswith("cas") else ["HOG", "LSH"]
        if strategies != want: sys.exit(f"{name}, {p['title']}: series {strategies}")
        if any(s["points"] == 0 for s in p["series"]): sys.exit(f"{name}, {p['title']}: an empty series")
rows = [p["title"] for p in plots["step_sensitivity.png"]["panels"]]
if len(rows) != 4 or not all("2 threads" in t for t in rows[:2]) or not all("4 threads" in t for t in rows[2:]):
    sys.exit(f"step sensitivity panels {rows}")
EOF

check "groups where not every run reached the target are drawn and marked (reached k of n) on every plot" \
    "$PY" - "$P" <<'EOF'
import json, sys
plots = json.load(open(sys.argv[1]))
def texts(name, threads=None):
    out = []
    for p in plots[name]["panels"]:
        if threads is None or f"{threads} threads" in p["title"]:
            out += [s["label"] for s in p["series"] if s["points"]] + p["notes"]
    return out
# The best configurations at 4 threads: HOG at step 0.1 (1 of 3), LSH at either (2 of 3).
for name in ("loss_vs_time.png", "accuracy_vs_time.png", "staleness_hist.png"):
    t = texts(name, 4)
    if not any(x.startswith("HOG l=0.1 ") and x.endswith("(reached 1 of 3)") for x in t) or \
       not any(x.startswith("LSH B=inf ") and x.endswith("(reached 2 of 3)") for x in t):
        sys.exit(f"{name}: {t}")
    if not all(x.endswith("(reached 3 of 3)") for x in texts(name, 2) if not x.startswith("target")):
        sys.exit(f"{name} at 2 threads: {texts(name, 2)}")
for name in ("time_to_target_vs_threads.png", "throughput_vs_threads.png"):
    t = texts(name)
    if "(reached 1 of 3)" not in t or "(reached 2 of 3)" not in t: sys.exit(f"{name}: {t}")
t = texts("step_sensitivity.png", 4)
if not {"(reached 1 of 3)", "HOG (reached 0 of 3)", "(reached 2 of 3)"} <= set(t):
    sys.exit(f"step sensitivity: {t}")
EOF

check "a line at the target loss, and a caption with the shared settings and what best configuration means" \
    "$PY" - "$P" "$T/real.json" <<'EOF'
import json, sys
plots = json.load(open(sys.argv[1]))
real = json.load(open(sys.argv[2]))
for p in plots["loss_vs_time.png"]["panels"]:
    line = [s for s in p["series"] if s["label"] == "target loss 0.5"]
    if not line or line[0]["y"] != [0.5, 0.5]: sys.exit(f"{p['title']}: no target line")
want = ["data set SYNTH (600 training, 100 test samples)", "model MLP 3 x 128", "batch 16", "step 0.1 to 0.2",
        f"machine {real['provenance']['hosts'][0]} ({real['topology']['cores']} cores)",
        f"BLAS kernels {real['blas']['core']}", "target loss 0.5", "Best configuration: "]
for name, fig in plots.items():
    # The time breakdown's bars are per group: no best configuration is chosen there.
    missing = [w for w in want if w not in fig["caption"] and not (name.startswith("time_split_") and w == want[-1])]
    if missing: sys.exit(f"{name}: the caption lacks {missing}: {fig['caption']}")
EOF

check "integer ticks for threads and attempts, rates and times from zero" "$PY" - "$P" <<'EOF'
import json, sys
plots = json.load(open(sys.argv[1]))
for name in ("time_to_target_vs_threads.png", "throughput_vs_threads.png"):
    p = plots[name]["panels"][0]
    if p["xticks"] != [2, 4] or p["ylim"][0] != 0: sys.exit(f"{name}: ticks {p['xticks']}, y from {p['ylim'][0]}")
for name in ("cas_attempts_hist.png", "staleness_hist.png"):
    for p in plots[name]["panels"]:
        if not p["xticks"] or any(t != int(t) for t in p["xticks"]): sys.exit(f"{name}: ticks {p['xticks']}")
for p in plots["step_sensitivity.png"]["panels"][::2]:
    if p["ylim"][0] != 0: sys.exit(f"{p['title']}: from {p['ylim'][0]}")
EOF

# Malformed documents beside two good ones (one step, no target): each skipped in one
# line that names it and the field; FIFOs, devices, huge and deeply nested files too.
mkdir -p "$T/bad"
"$PY" - "$T/real.json" "$T/bad" > "$T/bad.want" <<'EOF'
import copy, json, sys
real = json.load(open(sys.argv[1]))
real["config"]["target_loss"] = 0
out = sys.argv[2]
for seed in (1, 2):
    d = copy.deepcopy(real)
    d["config"]["seed"] = seed
    json.dump(d, open(f"{out}/good-{seed}.json", "w"))
def put(path, value):
    def edit(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        if isinstance(d, list): d[int(keys[-1])] = value
        else: d[keys[-1]] = value
    return edit
def drop(path):
    def edit(d):
        keys = path.split(".")
        for k in keys[:-1]: d = d[int(k)] if isinstance(d, list) else d[k]
        del d[keys[-1]]
    return edit
NAN, INF, NINF = float("nan"), float("inf"), float("-inf")
cases = [  # (name, edit, what the line says)
    ("nan-accuracy", put("final.test_accuracy", NAN), '"final.test_accuracy" is NaN'),
    ("inf-rate", put("final.samples_per_s", INF), '"final.samples_per_s" is Infinity'),
    ("ninf-trace", put("trace.points.3.2", NINF), '"trace.points[3][2]" is -Infinity'),
    ("nan-unused", put("per_rank.0.time_s", NAN), '"per_rank[0].time_s" is NaN'),
    ("nan-hist", put("sync.staleness_hist.0", NAN), '"sync.staleness_hist[0]" is NaN'),
    ("config-null", put("config", None), '"config" is null, not an object'),
    ("config-array", put("config", [1]), '"config" is an array of 1, not an object'),
    ("config-text", put("config", "x"), '"config" is "x", not an object'),
    ("config-missing", drop("config"), '"config" is missing'),
    ("final-null", put("final", None), '"final" is null'),
    ("final-number", put("final", 3), '"final" is 3'),
    ("trace-null", put("trace", None), '"trace" is null'),
    ("trace-text", put("trace", "t"), '"trace" is "t"'),
    ("points-null", put("trace.points", None), '"trace.points" is null'),
    ("point-short", put("trace.points.0", [1, 2]), '"trace.points[0]" is an array of 2'),
    ("point-null", put("trace.points.1", None), '"trace.points[1]" is null'),
    ("epochs-null", put("epochs", None), '"epochs" is null'),
    ("epochs-object", put("epochs", {}), '"epochs" is an object'),
    ("epoch-null", put("epochs.0", None), '"epochs[0]" is null'),
    ("epoch-time-null", put("epochs.0.time_s", None), '"epochs[0].time_s" is null'),
    ("epoch-time-text", put("epochs.1.time_s", "1"), '"epochs[1].time_s" is "1"'),
    ("step-null", put("config.step", None), '"config.step" is null'),
    ("step-text", put("config.step", "0.1"), '"config.step" is "0.1"'),
    ("step-zero", put("config.step", 0), '"config.step" is 0'),
    ("rate-1e308", put("final.samples_per_s", 1e308), '"final.samples_per_s" is 1e+308'),
    ("cas-1e308", put("sync.failed_cas", 1e308), '"sync.failed_cas" is 1e+308'),
    ("gradients-huge-int", put("sync.gradients", 10 ** 120), '"sync.gradients" is 100000000000000000000000000...'),
    ("ttt-negative", put("final.time_to_target_s", -1), '"final.time_to_target_s" is -1'),
    ("accuracy-2", put("final.test_accuracy", 2), '"final.test_accuracy" is 2'),
    ("status-null", put("status", None), '"status" is null'),
    ("status-odd", put("status", "banana"), '"status" is "banana"'),
    ("status-missing", drop("status"), '"status" is missing'),
    ("threads-zero", put("config.threads", 0), '"config.threads" is 0'),
    ("threads-text", put("config.threads", "2"), '"config.threads" is "2"'),
    ("threads-true", put("config.threads", True), '"config.threads" is true'),
    ("threads-half", put("config.threads", 2.5), '"config.threads" is 2.5'),
    ("ranks-zero", put("ranks", 0), '"ranks" is 0'),
    ("algorithm-null", put("config.algorithm", None), '"config.algorithm" is null'),
    ("algorithm-math", put("config.algorithm", "$\\frac$"), '"config.algorithm" is "$\\\\frac$"'),
    ("persistence-odd", put("config.persistence", "infinite"), '"config.persistence" is "infinite"'),
    ("target-negative", put("config.target_loss", -1), '"config.target_loss" is -1'),
    ("dataset-newline", put("config.dataset", "SY\nNTH"), '"config.dataset" is "SY\\nNTH"'),
    ("config-nested", put("config.arch", {"a": 1}), '"config.arch" is an object'),
    ("deep", put("config.units", json.loads("[" * 40 + "]" * 40)), "nested deeper than 32 levels"),
    ("sync-null", put("sync", None), '"sync" is null'),
    ("hist-text", put("sync.staleness_hist", "x"), '"sync.staleness_hist" is "x"'),
    ("hist-negative", put("sync.cas_attempts_hist.0", -1), '"sync.cas_attempts_hist[0]" is -1'),
    ("hosts-text", put("provenance.hosts", "vm"), '"provenance.hosts" is "vm"'),
    ("core-number", put("blas.core", 5), '"blas.core" is 5'),
    ("cores-text", put("topology.cores", "two"), '"topology.cores" is "two"'),
    ("split-text", put("epochs.0.time_split", "x"), '"epochs[0].time_split" is "x", not an object or null'),
    ("split-array", put("epochs.0.time_split", [0.5]), '"epochs[0].time_split" is an array of 1'),
    ("split-compute-null", put("epochs.0.time_split.compute", None), '"epochs[0].time_split.compute" is null'),
    ("split-wait-negative", put("epochs.0.time_split.wait", -0.1), '"epochs[0].time_split.wait" is -0.1'),
    ("split-idle-missing", drop("epochs.0.time_split.idle"), '"epochs[0].time_split.idle" is missing'),
    ("split-workers-object", put("epochs.0.time_split.workers", {}), '"epochs[0].time_split.workers" is an object'),
    ("split-worker-read-text", put("epochs.0.time_split.workers.1.read", "0"),
     '"epochs[0].time_split.workers[1].read" is "0"'),
    ("sync-read-text", put("sync.time_read_s", "1"), '"sync.time_read_s" is "1"'),
    ("rank-read-negative", put("per_rank.0.time_read_s", -1), '"per_rank[0].time_read_s" is -1'),
    ("per-rank-object", put("per_rank", {}), '"per_rank" is an object, not an array'),
]
for name, edit, says in cases:
    d = copy.deepcopy(real)
    edit(d)
    open(f"{out}/{name}.json", "w").write(json.dumps(d))
    print(f"{name}.json\t{says}")
texts = {"deep-text": ("[" * 100000 + "]" * 100000, "nested too deeply"), "empty": ("", "not JSON"),
         "truncated": (json.dumps(real)[:500], "not JSON"), "number-1e999": (
             json.dumps(real).replace('"staleness_mean": ', '"staleness_mean": 1e999, "x": ', 1),
             '"epochs[0].staleness_mean" is 1e999')}
for name, (text, says) in texts.items():
    open(f"{out}/{name}.json", "w").write(text)
    print(f"{name}.json\t{says}")
open(f"{out}/latin1.json", "wb").write(json.dumps(real).replace("SYNTH", "SYNT\xc9").encode("latin-1"))
print("latin1.json\tnot UTF-8")
EOF
mkfifo "$T/bad/fifo.json"
ln -s /dev/zero "$T/bad/zero.json"
truncate -s 65M "$T/bad/huge.json"
ln -s "$T/nowhere" "$T/bad/dangling.json"
printf '%s\t%s\n' fifo.json "not a regular file" zero.json "not a regular file" huge.json "larger than 64 MiB" \
    dangling.json "No such file or directory" >> "$T/bad.want"
# A report that draws no time-to-target or step-sensitivity plots over the grid's.
cp -r "$T/grid-report" "$T/bad-report"
status=0
report "$T/bad" -o "$T/bad-report" 2> "$T/bad.err" || status=$?

check "malformed documents and inputs are skipped, each in one line naming it and the field" \
    "$PY" - "$T/bad.want" "$T/bad.err" "$T/bad" "$status" <<'EOF'
import sys
want = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()
if sys.argv[4] != "0": sys.exit(f"status {sys.argv[4]}: {lines[-5:]}")
if any(not l.startswith("leash-report: ") for l in lines): sys.exit(f"not one line each: {lines[:8]}")
for name, says in want.items():
    got = [l for l in lines if l.startswith(f"leash-report: {sys.argv[3]}/{name}: skipped: ")]
    if len(got) != 1 or says not in got[0]: sys.exit(f"{name}: {got or 'not named'}, want {says}")
if len(lines) != len(want) + 1 or "2 documents, 1 groups" not in lines[-1]: sys.exit(f"the last line: {lines[-1]}")
EOF

# The grid's report drew time_split_n2.png and time_split_n4.png; these documents are all
# at 2 threads.
check "plots a report does not draw are removed (one step, no target: no time-to-target plots; no 4 threads)" \
    "$PY" - "$T/bad-report" <<'EOF'
import json, os, sys
have = sorted(f for f in os.listdir(sys.argv[1]) if f.endswith(".png"))
want = ["accuracy_vs_time.png", "cas_attempts_hist.png", "loss_vs_time.png", "staleness_hist.png",
        "throughput_vs_threads.png", "time_split_n2.png"]
if have != want: sys.exit(f"{have}")
if sorted(json.load(open(os.path.join(sys.argv[1], "plots.json")))) != want: sys.exit("plots.json")
EOF

status=0
report "$T/grid" -o "$T/grid-report" --no-plots 2> "$T/noplots.err" || status=$?
if [ $status -eq 0 ] && ! grep -q '\.png' "$T/grid-report/report.md" &&
   [ -z "$(ls -A "$T/grid-report" | grep -v '^report\.\(md\|csv\)$')" ]; then
    ok "--no-plots links no PNG and removes the earlier report's plots and plots.json"
else not_ok "--no-plots" "status $status" "$(ls "$T/grid-report")" "$(grep -i 'png' "$T/grid-report/report.md")"; fi

# A bad OUTDIR: a file, and a directory the report may not write (as another user when
# the test runs as root, whom permissions do not stop).
touch "$T/afile"
chmod 755 "$T"
mkdir "$T/readonly" && chmod 555 "$T/readonly"
as_user=() can_deny=1
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv > /dev/null; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else can_deny=0; fi
fi
s1=0; report "$T/runs" -o "$T/afile" --no-plots 2> "$T/afile.err" || s1=$?
s2=0; (ulimit -v 4000000; timeout 60 "${as_user[@]}" "$REPORT" "$T/runs" -o "$T/readonly" --no-plots) \
    2> "$T/readonly.err" || s2=$?
if [ $s1 -eq 2 ] && [ "$(cat "$T/afile.err")" = "leash-report: $T/afile: not a directory" ] &&
   { [ $can_deny -eq 0 ] || { [ $s2 -eq 2 ] && [ "$(wc -l < "$T/readonly.err")" -eq 1 ] &&
       grep -q "^leash-report: $T/readonly: cannot write there: Permission denied$" "$T/readonly.err"; }; } &&
   [ -z "$(ls -A "$T/readonly")" ] && [ ! -s "$T/afile" ]; then
    ok "an OUTDIR that is a file or unwritable is refused in one line"
else not_ok "a bad OUTDIR" "status $s1: $(cat "$T/afile.err")" "status $s2: $(cat "$T/readonly.err")"; fi

# A full disk, as a file-size limit (Python ignores SIGXFSZ, so writes fail with EFBIG):
# the earlier report stays whole, nothing temporary is left.
snapshot() { (cd "$1" && find . -type f -exec md5sum {} + | sort; ls -A); }
cp -r "$T/report" "$T/full"
before=$(snapshot "$T/full")
status=0
(ulimit -f 20; report "$T/grid" -o "$T/full") 2> "$T/full.err" || status=$?
if [ $status -eq 1 ] && [ "$(wc -l < "$T/full.err")" -eq 1 ] &&
   grep -q "^leash-report: $T/full: cannot write .*: File too large$" "$T/full.err" &&
   [ "$(snapshot "$T/full")" = "$before" ]; then
    ok "a write that fails (a full disk) is one line and leaves OUTDIR as it was"
else not_ok "a full disk" "status $status" "$(head -5 "$T/full.err")" \
    "$(diff <(echo "$before") <(snapshot "$T/full") | head -5)"; fi

check "SIGINT or SIGTERM while it writes: one line, OUTDIR as it was, nothing temporary left" \
    "$PY" - "$REPORT" "$T/grid" "$T/report" <<'EOF'
import hashlib, os, signal, subprocess, sys, time
report, docs, outdir = sys.argv[1:]
def snapshot():
    return {f: hashlib.md5(open(os.path.join(outdir, f), "rb").read()).hexdigest() for f in os.listdir(outdir)}
before = snapshot()
for sig in (signal.SIGINT, signal.SIGTERM):
    p = subprocess.Popen([report, docs, "-o", outdir], stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline and \
            not any(f.startswith(".leash-report-") for f in os.listdir(outdir)):
        time.sleep(0.01)
    p.send_signal(sig)
    try:
        err = p.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit(f"{sig.name}: still running")
    if p.returncode != 128 + sig or err != f"leash-report: interrupted by {sig.name}\n":
        sys.exit(f"{sig.name}: status {p.returncode}, {err[-300:]!r}")
    if snapshot() != before: sys.exit(f"{sig.name}: OUTDIR changed: {sorted(snapshot())}")
EOF

check "--help describes the inputs it skips, the outputs and how they are written, and the plots" \
    "$PY" - "$REPORT" <<'EOF'
import subprocess, sys
out = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout
for want in ("--no-plots", "not a regular file", "64 MiB", "NaN or Infinity", "nested", "plots.json",
             "temporary directory", "removed", "not a writable", "one panel per thread count",
             "best configuration", "(reached k of n)", "target loss", "stopped at the", "exit status"):
    if want not in " ".join(out.split()): sys.exit(f"nothing about {want!r}")
EOF

# Architectures as layer lists (config.arch the canonical list, config.layers the list
# for presets too): a group per list, labelled by its short form; a list whose short form
# is over 32 characters by its first 24, ~ and 6 hex digits of its hash (two lists that
# share those 24 apart); a preset by its name, its documents from before config.layers
# in its group. One seed each but for the CNN group (2 new documents, 1 old).
mkdir -p "$T/archs"
"$PY" - "$T/archs" > "$T/archs.want" <<'EOF'
import hashlib, json, sys
out = sys.argv[1]
long1 = "conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:512,relu,fc"
long2 = "conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2," + "fc:512,relu," * 12 + "fc"
cnn = "conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc"
hashed = lambda full: "c32k5p2-r-mp2-c64k5p2-r~" + hashlib.sha256(full.encode()).hexdigest()[:6]
# (arch, layers or None for an older document, seeds, the label's short form)
groups = [("conv:16:5,relu,maxpool:2,fc", "conv:16:5,relu,maxpool:2,fc", (1, 2), "c16k5-r-mp2-f"),
          ("conv:8:3:s2:p1,tanh,avgpool:2,fc:32,sigmoid,fc", "conv:8:3:s2:p1,tanh,avgpool:2,fc:32,sigmoid,fc",
           (1,), "c8k3s2p1-t-ap2-f32-s-f"),
          (long1, long1, (1,), hashed(long1)), (long2, long2, (1,), hashed(long2)),
          ("CNN", cnn, (1, 2), "CNN"), ("CNN", None, (3,), "CNN"), ("LENET", None, (1,), "LENET")]
for k, (arch, layers, seeds, short) in enumerate(groups):
    for seed in seeds:
        c = {"algorithm": "ASYNC", "threads": 2, "step": 0.1, "seed": seed, "target_loss": 0.5, "arch": arch,
             "hidden_layers": 3, "units": 128, "dataset": "SYNTH", "epochs": 2}
        if layers:
            c["layers"] = layers
        d = {"leash_version": "test", "status": "complete", "config": c, "ranks": 1,
             "epochs": [{"epoch": e, "time_s": 1.0, "test_accuracy": 0.5, "train_loss": 1.0} for e in (1, 2)],
             "trace": {"every": 10, "points": [[0.1 * i, 10 * i, 2.3 - 0.1 * i] for i in range(1, 11)]},
             "final": {"time_to_target_s": 1.5, "test_accuracy": 0.5, "samples_per_s": 100 + k, "train_loss": 0.4},
             "sync": {"staleness_mean": 0.5, "failed_cas": 0, "gradients": 100, "dropped_gradients": 0,
                      "peak_live_versions": 2, "staleness_hist": [5, 5], "cas_attempts_hist": [10]}}
        json.dump(d, open(f"{out}/{k}-{seed}.json", "w"))
# What each group's row must say: label, arch column, layers column, runs.
want = {}
for arch, layers, seeds, short in groups:
    label = f"ASYNC A={short}"
    old = want.get(label, (short, "", 0))
    want[label] = (short, layers or old[1], old[2] + len(seeds))
json.dump(want, sys.stdout)
EOF
status=0
report "$T/archs" -o "$T/archs-report" 2> "$T/archs.err" || status=$?
[ $status -eq 0 ] || echo "# the architectures' report: status $status: $(head -3 "$T/archs.err")"

check "a group per layer list, labelled short; a long one cut and hashed; two that share a start apart" \
    "$PY" - "$T/archs.want" "$T/archs-report/report.csv" "$T/archs.err" <<'EOF'
import csv, json, sys
want = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
got = {r["group"]: (r["arch"], r["layers"], int(r["runs"])) for r in rows}
if got != {k: tuple(v) for k, v in want.items()} or len(rows) != len(want):
    sys.exit(f"groups {sorted(got.items())}, want {sorted(want.items())}")
if any(len(r["arch"]) > 32 for r in rows): sys.exit(f"a label over 32 characters: {[r['arch'] for r in rows]}")
hashed = sorted(r["arch"] for r in rows if "~" in r["arch"])
if len(hashed) != 2 or hashed[0] == hashed[1] or hashed[0][:24] != hashed[1][:24]:
    sys.exit(f"the long lists' labels: {hashed}")
if "9 documents, 6 groups" not in open(sys.argv[3]).read(): sys.exit(open(sys.argv[3]).read())
EOF

check "report.md gives each label with its whole layer list (one over 200 characters too)" \
    "$PY" - "$T/archs.want" "$T/archs-report/report.md" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1]))
md = open(sys.argv[2]).read().splitlines()
for label, (short, layers, runs) in want.items():
    if not any(l.startswith(f"| {label} | {runs} |") for l in md): sys.exit(f"no row | {label} | {runs} |")
    if layers and f"- `{short}`: `{layers}`" not in md: sys.exit(f"no line for {short}: {layers}")
if max(len(v[1]) for v in want.values()) <= 200: sys.exit("the test wants a list over 200 characters")
if any("LENET`:" in l for l in md): sys.exit("a line for LENET, whose documents have no layer list")
EOF

check "--help tells how a layer list is labelled" "$PY" - "$REPORT" <<'EOF'
import subprocess, sys
out = " ".join(subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout.split())
for want in ("conv:C:K[:sS][:pP] as cCkK[sS][pP]", "longer than 32 characters", "6 hex digits", "layers column"):
    if want not in out: sys.exit(f"nothing about {want!r}")
EOF

# Where the time went: real runs at 1 and 2 threads, and documents made from them whose
# breakdown is known: ASYNC again with its first epoch's breakdown null (as a resumed
# run's) and its second three times as long; ASYNC diverged (left out); SYNC from a leash
# without breakdowns; HOG with fractions far apart in epochs of 1, 3 and 2 seconds (its
# second repetition's second epoch null), where weighting by time matters.
mkdir -p "$T/split"
while read -r algo threads seed; do
    "$LEASH" -q -a "$algo" -n "$threads" --seed "$seed" -D SYNTH --synth-train 600 --synth-test 100 -b 16 -e 2 \
        --output "$T/split/$algo-$threads-$seed.json" 2>> "$T/leash.err"
done <<'EOF'
LSH 1 1
LSH 2 1
LSH 2 2
ASYNC 2 1
SYNC 2 1
EOF
"$PY" - "$T/split" <<'EOF'
import copy, json, sys
d = sys.argv[1]
load = lambda name: json.load(open(f"{d}/{name}.json"))
def save(doc, name): json.dump(doc, open(f"{d}/{name}.json", "w"))
sync = load("SYNC-2-1")
for e in sync["epochs"]: del e["time_split"]
del sync["sync"]["time_read_s"]
for r in sync["per_rank"]: del r["time_read_s"]
save(sync, "SYNC-2-1")
a = load("ASYNC-2-1")
resumed = copy.deepcopy(a)
resumed["config"]["seed"] = 2
resumed["epochs"][0]["time_split"] = None
resumed["epochs"][1]["time_s"] *= 3
save(resumed, "ASYNC-2-2")
diverged = copy.deepcopy(a)
diverged["config"]["seed"] = 3
diverged["status"] = "diverged"
for e in diverged["epochs"]: e["time_split"].update(compute=0, read=0, publish=0, wait=0, idle=1)
save(diverged, "ASYNC-2-3")
split = lambda c, r, p, w, i: {"compute": c, "read": r, "publish": p, "wait": w, "idle": i, "workers": []}
for seed, times, splits in ((1, (1.0, 3.0), (split(0.5, 0.1, 0.2, 0.1, 0.1), split(0.9, 0.02, 0.04, 0.02, 0.02))),
                            (2, (2.0, 5.0), (split(0.2, 0.2, 0.2, 0.2, 0.2), None))):
    hog = load("LSH-2-1")
    hog["config"].update(algorithm="HOG", seed=seed)
    for e, t, s in zip(hog["epochs"], times, splits): e.update(time_s=t, time_split=s)
    save(hog, f"HOG-2-{seed}")
EOF
status=0
report "$T/split" -o "$T/split-report" 2> "$T/split.err" || status=$?
[ $status -eq 0 ] || echo "# the time breakdown's report: status $status: $(head -3 "$T/split.err")"

check "report.md's and report.csv's time breakdown: the epochs' fractions weighted by time_s, computed here" \
    "$PY" - "$T/split" "$T/split-report" <<'EOF'
import csv, glob, json, os, sys
PH = ["compute", "read", "publish", "wait", "idle"]
docs, out = sys.argv[1:]
want = {}
for f in glob.glob(os.path.join(docs, "*.json")):
    doc = json.load(open(f))
    c = doc["config"]
    key = (f"LSH B={c['persistence']}" if c["algorithm"] == "LSH" else c["algorithm"], c["threads"])
    w = want.setdefault(key, {"seconds": 0.0, "runs": 0, "epochs": 0, **dict.fromkeys(PH, 0.0)})
    epochs = [e for e in doc["epochs"] if e.get("time_split")] if doc["status"] == "complete" else []
    w["runs"] += bool(epochs)
    for e in epochs:
        w["epochs"] += 1
        w["seconds"] += e["time_s"]
        for p in PH: w[p] += e["time_s"] * e["time_split"][p]
if sorted(want) != [("ASYNC", 2), ("HOG", 2), ("LSH B=inf", 1), ("LSH B=inf", 2), ("SYNC", 2)]:
    sys.exit(f"the test's documents: {sorted(want)}")
rows = {(r["strategy"], int(r["threads"])): r for r in csv.DictReader(open(os.path.join(out, "report.csv")))}
md = open(os.path.join(out, "report.md")).read().split("\n## Where the time went\n", 1)
if len(md) != 2: sys.exit("report.md has no section 'Where the time went'")
table = [l for l in md[1].split("\n## ")[0].splitlines() if l.startswith("| ")]
if table[0] != "| group | runs | epochs | compute | read | publish | wait | idle |": sys.exit(f"header {table[0]}")
cells = {c[0]: c[1:] for c in ([x.strip() for x in l.strip("|").split("|")] for l in table[1:])}
if len(cells) != len(want): sys.exit(f"{len(cells)} rows, want {len(want)}")
for key, w in want.items():
    r = rows[key]
    got = cells.get(r["group"])
    if got is None: sys.exit(f"no row for {r['group']}")
    if got[:2] != [str(w["runs"]), str(w["epochs"])] or [r["time_split_runs"], r["time_split_epochs"]] != got[:2]:
        sys.exit(f"{r['group']}: runs, epochs {got[:2]} (csv {r['time_split_runs']}, {r['time_split_epochs']}), "
                 f"want {w['runs']}, {w['epochs']}")
    if not w["seconds"]:
        if got[2:] != ["-"] * 5 or any(r[f"time_{p}_frac"] for p in PH): sys.exit(f"{r['group']}: {got}")
        continue
    frac = [w[p] / w["seconds"] for p in PH]
    md_frac = [float(x) for x in got[2:]]
    csv_frac = [float(r[f"time_{p}_frac"]) for p in PH]
    if any(abs(a - b) > 0.0006 for a, b in zip(md_frac, frac)):
        sys.exit(f"{r['group']}: report.md {md_frac}, want {frac}")
    if any(abs(a - b) > 1e-9 for a, b in zip(csv_frac, frac)):
        sys.exit(f"{r['group']}: report.csv {csv_frac}, want {frac}")
    if abs(sum(md_frac) - 1) > 0.01 or abs(sum(csv_frac) - 1) > 0.01: sys.exit(f"{r['group']}: sums to {sum(md_frac)}")
if abs(float(rows[("HOG", 2)]["time_compute_frac"]) - 0.6) > 1e-9: sys.exit("HOG's compute, (0.5 + 2.7 + 0.4) / 6")
EOF

check "one stacked-bar PNG per thread count: a bar per group, a segment per phase in its colour" \
    "$PY" - "$T/split-report" <<'EOF'
import csv, json, os, re, sys
import matplotlib.image as mpimg
PH = {"compute": (0x4c, 0x72, 0xb0), "read": (0x55, 0xa8, 0x68), "publish": (0xc4, 0x4e, 0x52),
      "wait": (0x81, 0x72, 0xb2), "idle": (0xcf, 0xcf, 0xcf)}
out = sys.argv[1]
pngs = sorted(f for f in os.listdir(out) if f.startswith("time_split"))
if pngs != ["time_split_n1.png", "time_split_n2.png"]: sys.exit(f"{pngs}")
plots = json.load(open(os.path.join(out, "plots.json")))
rows = list(csv.DictReader(open(os.path.join(out, "report.csv"))))
md = open(os.path.join(out, "report.md")).read()
for name in pngs:
    path = os.path.join(out, name)
    data = open(path, "rb").read()
    if len(data) < 1000 or data[:8] != b"\x89PNG\r\n\x1a\n": sys.exit(f"{name}: not a PNG ({len(data)} bytes)")
    if f"[{name}]({name})" not in md: sys.exit(f"report.md does not link {name}")
    img = mpimg.imread(path)[:, :, :3] * 255
    if [img.shape[1], img.shape[0]] != plots[name]["size"]: sys.exit(f"{name}: {img.shape}, {plots[name]['size']}")
    n = int(re.search(r"_n(\d+)\.png$", name)[1])
    panel = plots[name]["panels"][0]
    if f"{n} thread" not in panel["title"]: sys.exit(f"{name}: {panel['title']}")
    here = [r for r in rows if int(r["threads"]) == n and r["time_compute_frac"]]
    if len(panel["categories"]) != len(here): sys.exit(f"{name}: bars {panel['categories']}, groups {len(here)}")
    if [s["label"] for s in panel["series"]] != list(PH): sys.exit(f"{name}: {[s['label'] for s in panel['series']]}")
    for s in panel["series"]:
        want = [float(r[f"time_{s['label']}_frac"]) for r in here]
        if any(abs(a - b) > 1e-9 for a, b in zip(s["values"], want)) or len(s["values"]) != len(want):
            sys.exit(f"{name} {s['label']}: {s['values']}, want {want}")
        if max(want) >= 0.1 and (abs(img - PH[s["label"]]).max(axis=2) < 3).sum() < 400:
            sys.exit(f"{name}: little of {s['label']}'s colour")
EOF

# The first documents have no breakdown, as those of a leash from before it.
status=0
report "$T/runs" -o "$T/old-report" 2> "$T/old.err" || status=$?
if [ $status -eq 0 ] && [ -s "$T/old-report/loss_vs_time.png" ] &&
   [ -z "$(ls "$T/old-report" | grep '^time_split')" ] &&
   grep -q '^No complete repetition has a time breakdown' "$T/old-report/report.md" &&
   "$PY" -c 'import csv, sys; sys.exit(any(r["time_compute_frac"] or r["time_split_runs"] != "0"
                                            for r in csv.DictReader(open(sys.argv[1]))))' \
       "$T/old-report/report.csv"; then
    ok "documents without a time breakdown still make a report: no bars, report.md says so, empty columns"
else not_ok "documents without a time breakdown" "status $status: $(cat "$T/old.err")" "$(ls "$T/old-report")" \
    "$(grep -A3 'Where the time' "$T/old-report/report.md")"; fi

# --timeline: LSH and ASYNC at 4 threads, every update recorded.
mkdir -p "$T/tl"
for algo in LSH ASYNC; do
    "$LEASH" -q -a $algo -n 4 -D SYNTH --synth-train 600 --synth-test 100 -b 16 -e 1 --timeline "$T/tl/$algo.json" \
        --timeline-every 1 --output "$T/tl/$algo-result.json" 2>> "$T/leash.err"
done
# ASYNC's first half, from its first gradient to halfway to its last one's start (to the
# 0.1 ms; a fixed length would hold the whole run on a fast enough CPU).
window=$("$PY" -c 'import json, sys
ts = [e["ts"] for e in json.load(open(sys.argv[1]))["traceEvents"] if e["name"] == "gradient"]
t0, t1 = min(ts) // 100 / 10, max(ts) // 100 / 10
print(f"{t0}:{t0 + max((t1 - t0) / 2, 0.1):.1f}")' "$T/tl/ASYNC.json")
s1=0; report --timeline "$T/tl/LSH.json" 2> "$T/tl/lsh.err" || s1=$?
s2=0; report --timeline "$T/tl/ASYNC.json" --window "$window" -o "$T/tl/async-half.png" 2> "$T/tl/async.err" || s2=$?
check "--timeline draws a real run's timeline: a row per worker and the main thread, its spans, FILE.png" \
    "$PY" - "$T/tl" "$s1" "$s2" "$window" <<'EOF'
import json, os, sys
import matplotlib.image as mpimg
d, s1, s2, window = sys.argv[1:]
window = tuple(map(float, window.split(":")))
for trace, png, err, status, window in (("LSH.json", "LSH.png", "lsh.err", s1, None),
                                        ("ASYNC.json", "async-half.png", "async.err", s2, window)):
    events = json.load(open(os.path.join(d, trace)))["traceEvents"]
    spans = [(e["ts"] / 1000, (e["ts"] + e["dur"]) / 1000) for e in events if e["ph"] == "X"]
    lo, hi = window or (0, max(b for a, b in spans))
    shown = sum(a <= hi and b >= lo for a, b in spans)
    want = f"leash-report: 5 tracks, {shown} spans from {lo:.6g} to {hi:.6g} ms: {os.path.join(d, png)}\n"
    got = open(os.path.join(d, err)).read()
    if status != "0" or got != want: sys.exit(f"status {status}: {got!r}, want {want!r}")
    if not shown or shown == len(spans) and window: sys.exit(f"{trace}: {shown} of {len(spans)} spans: a poor test")
    data = open(os.path.join(d, png), "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n": sys.exit(f"{png}: not a PNG")
    img = mpimg.imread(os.path.join(d, png))[:, :, :3] * 255
    if (abs(img - (0x4c, 0x72, 0xb0)).max(axis=2) < 3).sum() < 2000: sys.exit(f"{png}: few gradient spans drawn")
EOF

printf 'no JSON here\n' > "$T/tl/notes.txt"
echo keep > "$T/tl/keep.png"
s1=0; report --timeline "$T/tl/notes.txt" 2> "$T/tl/e1" || s1=$?
s2=0; report --timeline "$T/tl/LSH-result.json" -o "$T/tl/keep.png" 2> "$T/tl/e2" || s2=$?
s3=0; report --timeline "$T/tl/LSH.json" --window 5:2 -o "$T/tl/keep.png" 2> "$T/tl/e3" || s3=$?
want1="leash-report: --timeline $T/tl/notes.txt: not JSON: Expecting value: line 1 column 1 (char 0)"
want2="leash-report: --timeline $T/tl/LSH-result.json: no \"traceEvents\": not a Chrome trace (leash --timeline FILE"
want2="$want2 writes one)"
want3="leash-report: --window 5:2: want T0:T1, milliseconds from the trace's start, 0 <= T0 < T1 (either may be"
want3="$want3 left out)"
if [ $s1 -eq 2 ] && [ $s2 -eq 2 ] && [ $s3 -eq 2 ] && [ "$(cat "$T/tl/e1")" = "$want1" ] &&
   [ "$(cat "$T/tl/e2")" = "$want2" ] && [ "$(cat "$T/tl/e3")" = "$want3" ] &&
   [ "$(cat "$T/tl/keep.png")" = keep ] && [ ! -e "$T/tl/notes.txt.png" ] &&
   [ -z "$(ls -A "$T/tl" | grep '^\.leash-report-')" ]; then
    ok "--timeline refuses a non-JSON file, one without traceEvents, a bad --window: one line, status 2, nothing written"
else not_ok "--timeline's errors" "$s1: $(cat "$T/tl/e1")" "$s2: $(cat "$T/tl/e2")" "$s3: $(cat "$T/tl/e3")" \
    "$(ls -A "$T/tl")"; fi

status=0
(ulimit -f 10; report --timeline "$T/tl/LSH.json" -o "$T/tl/keep.png") 2> "$T/tl/full.err" || status=$?
if [ $status -eq 1 ] && [ "$(cat "$T/tl/full.err")" = "leash-report: $T/tl/keep.png: cannot write: File too large" ] &&
   [ "$(cat "$T/tl/keep.png")" = keep ] && [ -z "$(ls -A "$T/tl" | grep '^\.leash-report-')" ]; then
    ok "--timeline on a full disk: one line, status 1, the earlier file kept, nothing temporary left"
else not_ok "--timeline on a full disk" "status $status: $(cat "$T/tl/full.err")" "$(ls -A "$T/tl")"; fi

check "--help describes --timeline, --window, the default output name and the rows and spans drawn" \
    "$PY" - "$REPORT" <<'EOF'
import subprocess, sys
out = " ".join(subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout.split())
for want in ("--timeline FILE", "--window T0:T1", "t.json gives t.png", '"rank R worker W"', '"cas (failed)"',
             "thinner on top", "512 MiB", "time_split_nN.png", "time_{compute,read,publish,wait,idle}_frac",
             "weighted by its time_s"):
    if want not in out: sys.exit(f"nothing about {want!r}")
EOF
