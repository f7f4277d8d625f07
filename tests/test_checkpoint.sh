#!/bin/bash
# Checkpoints, resuming, stopping on a signal, results that survive every ending, saved
# models: the cluster-operations contract of leash (README "Checkpoints and signals").
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
FASHION=${LEASH_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-ckpt.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
check() { # check NAME COMMAND...: ok if the command succeeds, else its output as the reason
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name${out:+ ($out)}"; else not_ok "$name" "$out"; fi
}

. "$(dirname "$0")/mpi_env.sh"

# Result documents and checkpoint files are read with Python (json, zlib).
py() { python3 - "$@"; }

# same A.json B.json: every per-epoch figure, the final parameters' digests and the
# strategy's counters are equal, bit for bit (times excepted); B was resumed once.
same() {
    py "$@" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
keys = ("epoch", "train_loss", "test_loss", "test_accuracy", "updates")
ea = [[e[k] for k in keys] for e in a["epochs"]]
eb = [[e[k] for k in keys] for e in b["epochs"]]
if ea != eb: sys.exit(f"epochs differ:\n{ea}\n{eb}")
da = [r["params_digest"] for r in a["per_rank"]]
db = [r["params_digest"] for r in b["per_rank"]]
if da != db: sys.exit(f"final parameters differ: {da} {db}")
for k in ("staleness_hist", "cas_attempts_hist", "gradients", "timestamp"):
    if a["sync"][k] != b["sync"][k]: sys.exit(f"sync.{k} differs: {a['sync'][k]} {b['sync'][k]}")
# The trace: the same points (updates; losses too with one worker or SYNC, where a point
# is exact); its clock goes on where the stop left it.
ta, tb = a["trace"]["points"], b["trace"]["points"]
n = 3 if a["config"]["threads"] == 1 or a["config"]["algorithm"] == "SYNC" else 2
if [p[1:n] for p in ta] != [p[1:n] for p in tb]: sys.exit("the loss traces differ")
back = [(p[:2], q[:2]) for p, q in zip(tb, tb[1:]) if q[0] < p[0]]
if back: sys.exit(f"the resumed trace's time goes backwards: {back[0]}")
if (a["status"], b["status"], b["resumes"]) != ("complete", "complete", 1):
    sys.exit(f"status {a['status']}, {b['status']}, resumes {b['resumes']}")
print(f"{len(ea)} epochs, digest {da[0]}")
EOF
}

# interrupted DOC ROUNDS: the document says interrupted, with whole epochs only, and the
# run stopped inside an epoch (more gradients than its finished epochs hold).
interrupted() {
    py "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); rounds = int(sys.argv[2])
done = len(d["epochs"]); grads = d["sync"]["gradients"]
if d["status"] != "interrupted": sys.exit(f"status {d['status']}")
if [e["epoch"] for e in d["epochs"]] != list(range(1, done + 1)): sys.exit("epochs out of order")
if grads <= done * rounds: sys.exit(f"stopped at an epoch's end ({grads} gradients, {done} epochs)")
print(f"stopped in epoch {done + 1} after {grads} gradients")
EOF
}

# crc_ok FILE: the file's last 4 bytes are the CRC-32 of the rest, and it is a checkpoint.
crc_ok() {
    py "$1" <<'EOF'
import sys, zlib
b = open(sys.argv[1], "rb").read()
if b[:8] != b"LEASHCKP": sys.exit("not a checkpoint")
if zlib.crc32(b[:-4]) != int.from_bytes(b[-4:], "little"): sys.exit("CRC mismatch")
EOF
}

# wait_for FILE PID: until FILE exists (the first checkpoint) or PID ends.
wait_for() { while [ ! -e "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 0.01; done; }

# litter DIR: temporary files left in DIR.
litter() { ls -A "$1" | grep '^\.leash-' || true; }

echo "1..25"

S=(-D SYNTH --synth-train 4000 --synth-test 400 -b 40 -q -l 0.1 -m 0.5)

# --- exact resumption (SEQ and SYNC are deterministic) --------------------------------
"$LEASH" "${S[@]}" -e 2 --output "$T/full.json"
"$LEASH" "${S[@]}" -e 1 --checkpoint "$T/e1.ck" --output "$T/e1.json"
"$LEASH" "${S[@]}" -e 2 --resume "$T/e1.ck" --output "$T/e2.json"
check "SEQ: 2 epochs equal 1 epoch + checkpoint + resume, bit for bit" same "$T/full.json" "$T/e2.json"

"$LEASH" "${S[@]}" -e 2 --checkpoint "$T/every.ck" --checkpoint-every 7 --output "$T/every.json"
written=$(py "$T/every.json" <<'EOF'
import json, sys; print(json.load(open(sys.argv[1]))["checkpoints"]["written"])
EOF
)
# 200 updates: checkpoints at 7, 14, ..., 196 (28, the 14th and 15th on either side of
# the epochs' boundary at 100), and one after the run.
if out=$(py "$T/full.json" "$T/every.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
# Times differ from run to run: the epoch's, and the breakdown of where it went.
same_times = lambda e, x: dict(e, time_s=x["time_s"], time_split=x["time_split"])
if a["epochs"] != [same_times(e, x) for e, x in zip(b["epochs"], a["epochs"])]:
    sys.exit("the epochs differ")
if a["per_rank"][0]["params_digest"] != b["per_rank"][0]["params_digest"]: sys.exit("digest differs")
EOF
) && [ "$written" -eq 29 ]; then ok "SEQ: a checkpoint every 7 updates (mid-epoch) changes nothing ($written written)"
else not_ok "SEQ: a checkpoint every 7 updates (mid-epoch) changes nothing" "$out" "written: $written"; fi

# Stopped mid-epoch by SIGTERM at whatever update, resumed: the uninterrupted run's
# document. Long epochs (one pass = 1000 updates) put the stop inside one, some 50 ms of
# training after the first checkpoint (at update 300), so that the stop's checkpoint
# holds more training time than that one.
L=(-D SYNTH --synth-train 16000 --synth-test 400 -b 16 -q -l 0.05 -m 0.5 -e 2)
for algo in SEQ "SYNC -n 2"; do
    name=${algo%% *}
    # shellcheck disable=SC2086 # algo is two words
    "$LEASH" "${L[@]}" -a $algo --output "$T/$name-full.json"
    rm -f "$T/$name.ck"
    # shellcheck disable=SC2086
    "$LEASH" "${L[@]}" -a $algo --checkpoint "$T/$name.ck" --checkpoint-every 300 \
        --output "$T/$name-stop.json" & pid=$!
    wait_for "$T/$name.ck" $pid
    sleep 0.05
    kill -TERM $pid 2>/dev/null
    status=0; wait $pid || status=$?
    if [ $status -eq 75 ] && why=$(interrupted "$T/$name-stop.json" 1000); then
        # shellcheck disable=SC2086
        "$LEASH" "${L[@]}" -a $algo --checkpoint "$T/$name.ck" --resume auto --output "$T/$name-res.json"
        check "$name: stopped mid-epoch by SIGTERM ($why), resumed: bit for bit the uninterrupted run" \
            same "$T/$name-full.json" "$T/$name-res.json"
    else
        not_ok "$name: stopped mid-epoch by SIGTERM, resumed" "status $status" "${why:-}"
    fi
done

# --- refusals: one line naming the file and the mismatch, exit 2, no output ---------
# refuse NAME EXPECTED ARGS...
refuse() {
    local name=$1 expected=$2 status=0; shift 2
    rm -f "$T/out.json"
    "$LEASH" "$@" --output "$T/out.json" 2> "$T/stderr" || status=$?
    local got; got=$(cat "$T/stderr")
    if [ $status -eq 2 ] && [ "$got" = "$expected" ] && [ ! -e "$T/out.json" ] &&
       [ -z "$(litter "$T")" ]; then ok "$name"
    else not_ok "$name" "status $status" "stderr: $got" "expected: $expected"; fi
}
cp "$T/e1.ck" "$T/flip.ck"
size=$(stat -c %s "$T/flip.ck")
printf '\x5a' | dd of="$T/flip.ck" bs=1 seek=$((size / 2)) conv=notrunc status=none
refuse "a checkpoint with a flipped byte is refused" \
    "leash: checkpoint $T/flip.ck: CRC mismatch: the file is corrupt or truncated" \
    "${S[@]}" -e 2 --resume "$T/flip.ck"
head -c $((size - 100)) "$T/e1.ck" > "$T/short.ck"
refuse "a truncated checkpoint is refused" \
    "leash: checkpoint $T/short.ck: CRC mismatch: the file is corrupt or truncated" \
    "${S[@]}" -e 2 --resume "$T/short.ck"
refuse "a checkpoint written for another architecture is refused" \
    "leash: checkpoint $T/e1.ck: written for -A fc:128,relu,fc:128,relu,fc:128,relu,fc, this run is -A conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc" \
    "${S[@]}" -A CNN -e 2 --resume "$T/e1.ck"
refuse "a checkpoint written for another step size is refused" \
    "leash: checkpoint $T/e1.ck: written for -l 0.1, this run is -l 0.2" \
    "${S[@]}" -l 0.2 -e 2 --resume "$T/e1.ck"
refuse "a checkpoint written for another input scaling is refused" \
    "leash: checkpoint $T/e1.ck: written for another input scaling (--input-scale)" \
    "${S[@]}" --input-scale unit -e 2 --resume "$T/e1.ck"
refuse "a file that is not a checkpoint is refused" \
    "leash: checkpoint $T/e1.json: not a leash checkpoint file" \
    "${S[@]}" -e 2 --resume "$T/e1.json"
refuse "a checkpoint with more epochs than -e is refused" \
    "leash: -e 1: the checkpoint $T/every.ck has finished 2 epochs already" \
    "${S[@]}" -e 1 --resume "$T/every.ck"

# --- the other endings ----------------------------------------------------------------
status=0
"$LEASH" -D SYNTH --synth-train 3000 --synth-test 300 -b 32 -e 8 -m 0.9 -l 0.3 -q \
    --output "$T/div.json" 2> "$T/stderr" || status=$?
if [ $status -eq 1 ] && out=$(py "$T/div.json" <<'EOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "diverged": sys.exit(f"status {d['status']}")
e = d["diverged"]["epoch"]
if len(d["epochs"]) != e - 1: sys.exit(f"{len(d['epochs'])} epochs kept before epoch {e}")
if not all(math.isfinite(x["train_loss"]) for x in d["epochs"]): sys.exit("a kept epoch is not finite")
print(f"diverged in epoch {e} at update {d['diverged']['update']}, {e - 1} epochs kept")
EOF
) && grep -q "^leash: training diverged: the loss became non-finite in epoch" "$T/stderr"; then
    ok "a diverged run leaves a document that says so, with the epochs before ($out)"
else not_ok "a diverged run leaves a document that says so, with the epochs before" "status $status" "${out:-}" "$(cat "$T/stderr")"; fi

"$LEASH" "${S[@]}" -e 2 --save-model "$T/model.lm" --checkpoint "$T/e2.ck" --output "$T/run.json"
"$LEASH" "${S[@]}" --evaluate "$T/model.lm" --output "$T/eval.json"
"$LEASH" "${S[@]}" --evaluate "$T/e2.ck" > "$T/eval-ck.json"
check "--evaluate scores a saved model and a checkpoint exactly as the run's final figures" \
    py "$T/run.json" "$T/eval.json" "$T/eval-ck.json" <<'EOF'
import json, sys
run, ev, ck = (json.load(open(f)) for f in sys.argv[1:4])
want = (run["final"]["test_loss"], run["final"]["test_accuracy"])
for d in (ev, ck):
    if (d["test_loss"], d["test_accuracy"]) != want: sys.exit(f"{d} != {want}")
print(f"test_loss {want[0]!r}, test_accuracy {want[1]!r}")
EOF

refuse "--evaluate refuses a file that is neither a model nor a checkpoint" \
    "leash: $T/run.json: neither a leash saved model nor a checkpoint" \
    "${S[@]}" --evaluate "$T/run.json"

rm -f "$T/auto.ck"
"$LEASH" "${S[@]}" -e 1 --checkpoint "$T/auto.ck" --resume auto --output "$T/auto.json"
"$LEASH" "${S[@]}" -e 1 --checkpoint "$T/auto.ck" --resume auto --output "$T/auto2.json"
check "--resume auto starts afresh without the file, and resumes a finished run as finished" \
    py "$T/auto.json" "$T/auto2.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
if (a["resumes"], b["resumes"], a["status"], b["status"]) != (0, 1, "complete", "complete"):
    sys.exit(f"resumes {a['resumes']} {b['resumes']}, status {a['status']} {b['status']}")
if a["epochs"] != b["epochs"]: sys.exit("the finished run's epochs changed")
EOF

# --- Leashed-SGD and a CNN on real data -----------------------------------------------
if [ -n "${LEASH_SKIP_SLOW:-}" ]; then
    skip "LSH resumed: timestamps continue, the usual accuracy" "LEASH_SKIP_SLOW is set"
    skip "SIGTERM to LSH -n 2 -A CNN mid-epoch: exit 75 within 3 s" "LEASH_SKIP_SLOW is set"
    skip "the same command with --resume auto completes the run" "LEASH_SKIP_SLOW is set"
elif [ ! -r "$FASHION/train-images-idx3-ubyte" ] && [ ! -r "$FASHION/train-images-idx3-ubyte.gz" ]; then
    for c in "LSH resumed" "SIGTERM to LSH CNN" "resume CNN"; do skip "$c" "no Fashion-MNIST in $FASHION"; done
else
    F=(-D FASHION-MNIST --data-dir "$FASHION" -a LSH -n 2 -q)
    rm -f "$T/lsh.ck"
    # As the MPI accuracy runs: 15 epochs at -l 0.1 -m 0.9 end near 0.86.
    "$LEASH" "${F[@]}" -l 0.1 -m 0.9 -e 15 --checkpoint "$T/lsh.ck" --checkpoint-every 150 --output "$T/lsh.json" & pid=$!
    wait_for "$T/lsh.ck" $pid
    kill -TERM $pid 2>/dev/null
    status=0; wait $pid || status=$?
    "$LEASH" "${F[@]}" -l 0.1 -m 0.9 -e 15 --checkpoint "$T/lsh.ck" --resume auto --output "$T/lsh.json"
    if [ $status -eq 75 ] && out=$(py "$T/lsh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
acc, ts, upd = d["final"]["test_accuracy"], d["sync"]["timestamp"], d["final"]["updates"]
if d["status"] != "complete" or d["resumes"] != 1 or len(d["epochs"]) != 15:
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, {len(d['epochs'])} epochs")
# Timestamps count every update since the start: the resumed run went on from the
# checkpointed version's instead of starting again from 0.
if ts != upd: sys.exit(f"timestamp {ts}, updates {upd}")
if acc < 0.84: sys.exit(f"test accuracy {acc}")
print(f"timestamp {ts} = updates, accuracy {acc}")
EOF
    ); then ok "LSH resumed: timestamps continue, the usual accuracy ($out)"
    else not_ok "LSH resumed: timestamps continue, the usual accuracy" "status $status" "${out:-}"; fi

    C=("${F[@]}" -A CNN -l 0.1 -e 2 --checkpoint "$T/cnn/ck" --output "$T/cnn/r.json")
    mkdir -p "$T/cnn"
    "$LEASH" "${C[@]}" --checkpoint-every 30 & pid=$!
    wait_for "$T/cnn/ck" $pid
    rm -f "$T/cnn/ck"
    wait_for "$T/cnn/ck" $pid # the second checkpoint: well inside the first epoch
    # The stop lands at the next update and writes one small checkpoint: under 0.1 s on
    # an idle machine; 3 s leaves room for a loaded one, not for a stop that waits.
    t0=$(date +%s%N)
    kill -TERM $pid 2>/dev/null
    status=0; wait $pid || status=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ $status -eq 75 ] && [ $ms -le 3000 ] && crc=$(crc_ok "$T/cnn/ck") &&
       why=$(interrupted "$T/cnn/r.json" 117) && [ -z "$(litter "$T/cnn")" ]; then
        ok "SIGTERM to LSH -n 2 -A CNN mid-epoch: exit 75 in $ms ms, CRC good, interrupted ($why), no temporary file"
    else
        not_ok "SIGTERM to LSH -n 2 -A CNN mid-epoch: exit 75 within 3 s" "status $status after $ms ms" \
            "${crc:-}" "${why:-}" "litter: $(litter "$T/cnn")"
    fi
    "$LEASH" "${C[@]}" --resume auto
    check "the same command with --resume auto completes the run in one document" \
        py "$T/cnn/r.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if (d["status"], d["resumes"], [e["epoch"] for e in d["epochs"]]) != ("complete", 1, [1, 2]):
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, epochs {len(d['epochs'])}")
EOF
fi

# --- ranks ---------------------------------------------------------------------------
M=(-a LSH -n 1 -D SYNTH --synth-train 16000 --synth-test 400 -b 16 -l 0.05 -e 3 -q --avg-every 10)
mkdir -p "$T/mpi"
"$MPIRUN" -np 2 --oversubscribe "$LEASH" "${M[@]}" --checkpoint "$T/mpi/ck" --checkpoint-every 200 \
    --output "$T/mpi/r.json" 2> "$T/mpi/stderr" & pid=$!
wait_for "$T/mpi/ck" $pid
kill -USR1 $pid 2>/dev/null # mpirun forwards SIGUSR1 to every rank
status=0; wait $pid || status=$?
# Both ranks' gradients count: 1000 per epoch.
if [ $status -eq 75 ] && why=$(interrupted "$T/mpi/r.json" 1000) && crc_ok "$T/mpi/ck"; then
    cp "$T/mpi/ck" "$T/mpi/mid.ck"
    cp "$T/mpi/r.json" "$T/mpi/mid-stop.json"
    "$MPIRUN" -np 2 --oversubscribe "$LEASH" "${M[@]}" --checkpoint "$T/mpi/ck" --resume auto \
        --output "$T/mpi/r.json" 2>> "$T/mpi/stderr"
    check "mpirun -np 2 with averaging: all ranks stop on SIGUSR1 ($why), the resumed job ends with equal digests and paired rounds" \
        py "$T/mpi/r.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
digests = {r["params_digest"] for r in d["per_rank"]}
# The final mean is equal by construction; the rounds' counts show the averaging ran.
rounds = [r["averagings"] for r in d["per_rank"]]
if (d["status"], d["resumes"], len(d["epochs"]), len(d["per_rank"])) != ("complete", 1, 3, 2):
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, {len(d['epochs'])} epochs")
if len(digests) != 1: sys.exit(f"digests differ: {digests}")
if len(set(rounds)) != 1 or rounds[0] < 1: sys.exit(f"averaging rounds per rank: {rounds}")
print(f"digest {digests.pop()}, {rounds[0]} rounds")
EOF
else
    not_ok "mpirun -np 2 with averaging: all ranks stop on SIGUSR1" "status $status" "${why:-}" "$(tail -3 "$T/mpi/stderr")"
fi
# --- resuming on another layout -----------------------------------------------------
# A finished 2-rank epoch resumed for a second on 1 rank (-n 2) and on 3: every rank starts
# from the mean of the 2 ranks' models, which for 2 ranks is bit for bit the final mean
# the first run reported; the records and the job's update count go on. (A larger step
# than M's: 2 epochs on 3 ranks' shards must reach the accuracy bound.)
R=("${M[@]}" -l 0.2)
"$MPIRUN" -np 2 --oversubscribe "$LEASH" "${R[@]}" -e 1 --checkpoint "$T/mpi/two.ck" \
    --output "$T/mpi/two.json" 2> /dev/null
reshaped() { # reshaped NAME FILE.json RANKS THREADS: the resumed run against two.json
    check "$1" py "$T/mpi/two.json" "$2" "$3" "$4" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ranks, threads = int(sys.argv[3]), int(sys.argv[4])
c = b["checkpoints"]
if (b["status"], b["resumes"], len(b["epochs"]), len(b["per_rank"])) != ("complete", 1, 2, ranks):
    sys.exit(f"status {b['status']}, resumes {b['resumes']}, {len(b['epochs'])} epochs, {len(b['per_rank'])} ranks")
if (c["resumed_ranks"], c["resumed_threads"]) != ({"from": 2, "to": ranks}, {"from": 1, "to": threads}):
    sys.exit(f"resumed_ranks {c['resumed_ranks']}, resumed_threads {c['resumed_threads']}")
mean = a["per_rank"][0]["params_digest"]
if c["resumed_start_digest"] != mean: sys.exit(f"started from {c['resumed_start_digest']}, the mean is {mean}")
# Epoch 1's record carries over; its workers' breakdown only on the same -n.
old = dict(a["epochs"][0])
if a["config"]["threads"] != b["config"]["threads"]: old["time_split"] = dict(old["time_split"], workers=None)
if b["epochs"][0] != old: sys.exit(f"epoch 1 differs: {b['epochs'][0]} vs {old}")
total = lambda d: sum(r["updates"] for r in d["per_rank"])
if total(b) != total(a) + b["epochs"][1]["updates"]:
    sys.exit(f"updates: {total(b)}, expected {total(a)} + {b['epochs'][1]['updates']}")
if b["epochs"][1]["test_accuracy"] < 0.85: sys.exit(f"accuracy {b['epochs'][1]['test_accuracy']}")
print(f"from {mean}, accuracy {b['epochs'][1]['test_accuracy']:.3f}, {total(b)} updates")
EOF
}
warning="leash: warning: checkpoint $T/mpi/one.ck: written by 2 ranks with -n 1, resumed by 1 rank with -n 2: every rank starts from the mean of its ranks' models, and the run is no longer bit-for-bit resumable"
cp "$T/mpi/two.ck" "$T/mpi/one.ck"
status=0
"$LEASH" "${R[@]}" -n 2 -e 2 --checkpoint "$T/mpi/one.ck" --resume "$T/mpi/one.ck" \
    --output "$T/mpi/one.json" 2> "$T/mpi/stderr" || status=$?
if [ $status -eq 0 ] && [ "$(grep -v -e 'nothing to average' -e oversubscribed "$T/mpi/stderr")" = "$warning" ]; then
    reshaped "a checkpoint of 2 ranks resumed by 1 rank with -n 2: one warning, from the ranks' mean" \
        "$T/mpi/one.json" 1 2
else
    not_ok "a checkpoint of 2 ranks resumed by 1 rank with -n 2" "status $status" "$(cat "$T/mpi/stderr")"
fi
cp "$T/mpi/two.ck" "$T/mpi/three.ck"
"$MPIRUN" -np 3 --oversubscribe "$LEASH" "${R[@]}" -e 2 --checkpoint "$T/mpi/three.ck" \
    --resume "$T/mpi/three.ck" --output "$T/mpi/three.json" 2> "$T/mpi/stderr"
reshaped "a checkpoint of 2 ranks resumed by 3: from the ranks' mean, the job's updates carried on" \
    "$T/mpi/three.json" 3 1
# Stopped mid-epoch: the epoch goes on at the same fraction on the new layout.
status=0
"$LEASH" "${M[@]}" -n 2 --checkpoint "$T/mpi/mid.ck" --resume "$T/mpi/mid.ck" \
    --output "$T/mpi/mid.json" 2> "$T/mpi/stderr" || status=$?
check "a 2-rank checkpoint taken mid-epoch resumed by 1 rank: every epoch, the accuracy bound" \
    py "$T/mpi/mid.json" "$status" "$T/mpi/mid-stop.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
# Rank 0 had computed g0 of its shard's 500 rounds (one update each): the single rank goes
# on at the same fraction of its 1000, and the epoch counts rank 0's part and the rest.
g0 = json.load(open(sys.argv[3]))["per_rank"][0]["gradients"]
expected = 1000 - g0
acc = d["epochs"][-1]["test_accuracy"] if d["epochs"] else 0
got = (sys.argv[2], d["status"], len(d["epochs"]), d["checkpoints"]["resumed_ranks"])
if got != ("0", "complete", 3, {"from": 2, "to": 1}): sys.exit(f"exit, status, epochs, resumed_ranks: {got}")
if abs(d["epochs"][0]["updates"] - expected) > 4 or acc < 0.85:
    sys.exit(f"epoch 1: {d['epochs'][0]['updates']} updates, expected {expected}; accuracy {acc}")
print(f"epoch 1: {d['epochs'][0]['updates']} updates ({g0} before the stop), accuracy {acc:.3f}")
EOF
# More ranks after several epochs: each rank's epochs hold fewer trace points than the
# checkpoint's did, and the trace goes on past them (60 points of 1000-update epochs at
# 50 apart, then 500 updates on rank 0: 70).
"$LEASH" "${R[@]}" -e 3 --checkpoint "$T/mpi/grow.ck" --output /dev/null 2> /dev/null
"$MPIRUN" -np 2 --oversubscribe "$LEASH" "${R[@]}" -e 4 --checkpoint "$T/mpi/grow.ck" \
    --resume "$T/mpi/grow.ck" --output "$T/mpi/grow.json" 2> "$T/mpi/stderr"
check "a 3-epoch checkpoint of 1 rank resumed by 2: the loss trace goes on (60 points, then 70)" \
    py "$T/mpi/grow.json" "$(tail -1 "$T/mpi/stderr")" <<'EOF'
import json, os, sys
if not os.path.exists(sys.argv[1]): sys.exit(f"no result: {sys.argv[2]}")
d = json.load(open(sys.argv[1]))
got = (d["status"], len(d["epochs"]), d["checkpoints"]["resumed_ranks"], d["trace"]["every"], len(d["trace"]["points"]))
if got != ("complete", 4, {"from": 1, "to": 2}, 50, 70): sys.exit(f"status, epochs, resumed_ranks, every, points: {got}")
EOF
# Another -n under TAIL, whose sample of staleness is sized by the threads: it starts afresh.
TAIL=(-a ASYNC -t TAIL -D SYNTH --synth-train 16000 --synth-test 400 -b 16 -l 0.05 -q)
"$LEASH" "${TAIL[@]}" -n 4 -e 1 --checkpoint "$T/mpi/tail.ck" --output /dev/null 2> /dev/null
status=0
"$LEASH" "${TAIL[@]}" -n 2 -e 2 --checkpoint "$T/mpi/tail.ck" --resume "$T/mpi/tail.ck" \
    --output "$T/mpi/tail.json" 2> "$T/mpi/stderr" || status=$?
check "TAIL's checkpoint of -n 4 resumed with -n 2: its sample starts afresh, the run completes" \
    py "$T/mpi/tail.json" "$status" "$(tail -1 "$T/mpi/stderr")" <<'EOF'
import json, os, sys
if not os.path.exists(sys.argv[1]): sys.exit(f"exit {sys.argv[2]}, no result: {sys.argv[3]}")
d = json.load(open(sys.argv[1]))
got = (sys.argv[2], d["status"], len(d["epochs"]), d["checkpoints"]["resumed_threads"])
if got != ("0", "complete", 2, {"from": 4, "to": 2}): sys.exit(f"exit, status, epochs, resumed_threads: {got}")
EOF
# Any other difference is still refused, whatever the rank count.
refuse "a checkpoint of 2 ranks and -b 16 is refused by 1 rank with -b 32" \
    "leash: warning: --avg-every: no effect with one rank (nothing to average)
leash: checkpoint $T/mpi/two.ck: written for -b 16, this run is -b 32" \
    "${R[@]}" -b 32 -e 2 --resume "$T/mpi/two.ck"
