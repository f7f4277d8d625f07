#!/bin/bash
# Ranks under mpirun: shards, the averaging layer, identical final models, and the job's
# behaviour on bad input and on a killed rank.
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
SHARDS=${MPI_SHARDS:-./tests/mpi_shards}
ROUNDS=${MPI_ROUNDS:-./tests/mpi_rounds}
FAULT=${LEASH_MPIFAULT:-./tests/leash_mpifault}
FASHION=${LEASH_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-mpi.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"

. "$(dirname "$0")/mpi_env.sh"
# More ranks than cores need --oversubscribe.
mpi() { local np=$1; shift; "$MPIRUN" -np "$np" --oversubscribe "$@"; }

# field FILE KEY: every value of "KEY": in a JSON document, one per line.
field() { grep -o "\"$2\": [^,}]*" "$1" | sed 's/^[^:]*: //; s/"//g'; }
# final FILE KEY: KEY of the document's "final" object.
final() { sed -n '/"final": {/,/}/p' "$1" | grep -m1 -o "\"$2\": [^,]*" | awk '{print $2}'; }

echo "1..33"

for np in 2 3; do
    if out=$(mpi "$np" "$SHARDS" 2>&1); then ok "$np ranks: shards disjoint and covering ($out)"
    else not_ok "$np ranks: shards disjoint and covering" "$out"; fi
done

# A round's arithmetic against the test's own: 3 ranks (the mean divides by 3, so it is
# rounded), pre-round parameters gathered and averaged in double by the test.
if out=$(mpi 3 "$ROUNDS" blocking 2>&1); then
    ok "3 ranks, blocking rounds of every strategy: the parameters become the ranks' mean"
else not_ok "3 ranks, blocking rounds: the parameters become the ranks' mean" "$out"; fi
if out=$(mpi 3 "$ROUNDS" overlapped 2>&1); then
    ok "3 ranks, overlapped rounds under SEQ: the mean plus the updates made meanwhile"
else not_ok "3 ranks, overlapped rounds under SEQ: the mean plus the updates made meanwhile" "$out"; fi

# check_ranks NAME FILE NP TRAIN: every rank ended with the same parameters (digests of
# the final mean's bytes), took part in the same number of averaging rounds, at least one
# (the run asked for them; rounds are collectives, so one rank skipping them would leave
# counts unequal or none at all), and the shards' sizes add up to the training set.
check_ranks() {
    local name=$1 f=$2 np=$3 train=$4 why
    if why=$(python3 - "$f" "$np" "$train" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); np, train = int(sys.argv[2]), int(sys.argv[3])
ranks = d["per_rank"]
digests = {r["params_digest"] for r in ranks}
rounds = [r["averagings"] for r in ranks]
sizes = sum(r["train_samples"] for r in ranks)
if len(ranks) != np: sys.exit(f"expected {np} per-rank entries, got {len(ranks)}")
if len(digests) != 1: sys.exit(f"final parameters differ between ranks: {digests}")
if len(set(rounds)) != 1: sys.exit(f"ranks ran different numbers of averagings: {rounds}")
if rounds[0] < 1: sys.exit("the run asked for averaging rounds and no rank took any")
if sizes != train: sys.exit(f"shards hold {sizes} samples, not {train}")
print(f"{rounds[0]} rounds")
EOF
    ); then ok "$name ($why)"; else not_ok "$name" "$why"; fi
}

# Every strategy keeps the ranks' rounds paired and ends with bitwise-equal models;
# small synthetic data, overlapped rounds every 3 updates (SEQ and SYNC go through the
# mailbox): 46 updates per rank leave room for several.
for algo in SEQ SYNC ASYNC HOG; do
    threads=2; [ $algo = SEQ ] && threads=1
    f=$T/synth-$algo.json
    if mpi 2 "$LEASH" -q -D SYNTH --synth-train 1500 --synth-test 200 -b 32 -e 2 -l 0.05 \
        -a $algo -n $threads --avg-every 3 --output "$f" 2> "$T/err"; then
        check_ranks "$algo, 2 ranks, overlapped --avg-every 3: identical final models, paired rounds, at least one" "$f" 2 1500
    else not_ok "$algo, 2 ranks: identical final models" "$(cat "$T/err")"; fi
done

# Without rounds the ranks train apart on their own shards: their own models before the
# final averaging differ (so that the digests can tell what rounds did), while the final
# mean is the same on both.
f=$T/norounds.json
name="SEQ, 2 ranks, --avg-every 0: no rounds, local models differ, final mean equal"
if mpi 2 "$LEASH" -q -D SYNTH --synth-train 1500 --synth-test 200 -b 32 -e 2 -l 0.05 \
    -a SEQ -n 1 --avg-every 0 --output "$f" 2> "$T/err"; then
    if why=$(python3 - "$f" 2>&1 <<'EOF'
import json, re, sys
ranks = json.load(open(sys.argv[1]))["per_rank"]
hexd = re.compile("^[0-9a-f]{16}$")
if len(ranks) != 2: sys.exit(f"{len(ranks)} per-rank entries")
if not all(hexd.match(r["local_digest"]) for r in ranks): sys.exit("local_digest is not 16 hex digits")
if any(r["averagings"] or r["round_updates"] for r in ranks): sys.exit("rounds ran")
if ranks[0]["local_digest"] == ranks[1]["local_digest"]: sys.exit("the ranks' local models are equal")
if ranks[0]["params_digest"] != ranks[1]["params_digest"]: sys.exit("the final means differ")
if ranks[0]["params_digest"] == ranks[0]["local_digest"]: sys.exit("rank 0 reports the mean as its local model")
EOF
    ); then ok "$name"; else not_ok "$name" "$why"; fi
else not_ok "$name" "$(cat "$T/err")"; fi

# Blocking rounds every K: under the lockstep strategies (SEQ, SYNC: the segments are cut
# at exactly the round's update) each rank takes one at exactly K, 2K, ... of its own
# updates, floor(updates / K) in all (equal shards: SEQ 46 updates, SYNC 22).
# (HOG and ASYNC workers may run past the pause point: their rounds fall later.)
for algo in SEQ SYNC; do
    threads=2; [ $algo = SEQ ] && threads=1
    f=$T/blocking-$algo.json
    name="$algo, 2 ranks, blocking --avg-every 3: floor(updates / 3) rounds on each rank, at updates 3, 6, ..."
    if mpi 2 "$LEASH" -q -D SYNTH --synth-train 1500 --synth-test 200 -b 32 -e 2 -l 0.05 \
        -a $algo -n $threads --avg-every 3 --avg-mode blocking --output "$f" 2> "$T/err"; then
        if why=$(python3 - "$f" 3 "$T/norounds.json" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); k = int(sys.argv[2])
ranks = d["per_rank"]
# SEQ repeats bit for bit: rounds that averaged nothing would leave the models of the
# run without rounds.
apart = json.load(open(sys.argv[3]))["per_rank"] if d["config"]["algorithm"] == "SEQ" else []
if [r["local_digest"] for r in ranks] == [r["local_digest"] for r in apart]:
    sys.exit("the rounds left the same local models as no rounds")
if len(ranks) != 2: sys.exit(f"{len(ranks)} per-rank entries")
for r in ranks:
    want = r["updates"] // k
    at = list(range(k, k * want + 1, k))[:64]
    if want < 5: sys.exit(f"rank {r['rank']}: {r['updates']} updates, too few for the test")
    if r["averagings"] != want: sys.exit(f"rank {r['rank']}: {r['averagings']} rounds, not {want}")
    if r["round_updates"] != at: sys.exit(f"rank {r['rank']}: rounds at {r['round_updates']}, not {at}")
if ranks[0]["local_digest"] == ranks[1]["local_digest"]: sys.exit("local digests equal: the mean reported as local?")
if d["mpi"]["averagings"] != ranks[0]["averagings"]: sys.exit("mpi.averagings differs from the ranks'")
EOF
        ); then ok "$name"; else not_ok "$name" "$why"; fi
    else not_ok "$name" "$(cat "$T/err")"; fi
done

# The acceptance runs: LSH with averaging on Fashion-MNIST reaches 0.84.
for np in 2 3; do
    name="LSH, $np ranks x 2 threads, --avg-every 5: test accuracy >= 0.84, identical models"
    if [ -n "${LEASH_SKIP_SLOW:-}" ]; then skip "$name" "LEASH_SKIP_SLOW"; continue; fi
    if [ ! -f "$FASHION/train-images-idx3-ubyte.gz" ]; then skip "$name" "no Fashion-MNIST in $FASHION"; continue; fi
    f=$T/lsh-$np.json
    if ! mpi "$np" "$LEASH" -q -a LSH -n 2 -e 15 -l 0.1 -m 0.9 --avg-every 5 \
        -D FASHION-MNIST --data-dir "$FASHION" --output "$f" 2> "$T/err"; then
        not_ok "$name" "$(cat "$T/err")"; continue
    fi
    acc=$(final "$f" test_accuracy)
    if awk -v a="$acc" 'BEGIN { exit !(a >= 0.84) }'; then check_ranks "$name (accuracy $acc)" "$f" "$np" 60000
    else not_ok "$name" "test accuracy $acc"; fi
done

# The time a job of 3 ranks takes to start and end with nothing to do, under the load
# of the moment (a parallel make check on 2 cores can make it seconds): the bounds below
# on how long a failing job takes are this plus 10 s, so they catch a job that waits
# instead of ending, not a slow machine.
launch_s() {
    local t0; t0=$(date +%s%N)
    mpi 3 "$LEASH" --version > /dev/null 2>&1
    echo $(( ($(date +%s%N) - t0) / 1000000000 ))
}
bound=$(( 10 + 2 * $(launch_s) ))

# Bad input on every rank: one message, exit status 2, within the bound, no output file.
start=$(date +%s)
mpi 3 "$LEASH" -q --data-dir "$T/missing" --output "$T/bad.json" > /dev/null 2> "$T/err"
status=$?
took=$(( $(date +%s) - start ))
lines=$(grep -c '^leash' "$T/err")
if [ $status -ne 2 ]; then not_ok "bad data path, 3 ranks: exit status 2" "status $status" "$(cat "$T/err")"
elif [ "$took" -gt "$bound" ]; then not_ok "bad data path, 3 ranks: ends within $bound s" "took $took s"
elif [ "$lines" -ne 1 ] || ! grep -q "$T/missing" "$T/err"; then not_ok "bad data path, 3 ranks: one message naming the path" "$(cat "$T/err")"
elif ls "$T" | grep -q '^bad\.json'; then not_ok "bad data path, 3 ranks: no output file"
else ok "bad data path, 3 ranks: one message, exit 2 in $took s, no output"; fi

# A rank killed in the middle of training ends the job instead of leaving the others
# waiting in a collective forever.
marker=$((RANDOM * 1000 + 7))
mpi 2 "$LEASH" -q -D SYNTH --synth-train 4000 --synth-test 100 -b 32 -e 100000 -a LSH -n 1 \
    --avg-every 5 --seed "$marker" --output "$T/killed.json" > /dev/null 2> "$T/err" &
job=$!
victim=
for _ in $(seq 1 100); do
    pids=$(pgrep -f -- "--seed $marker" | while read -r p; do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = leash ] && echo "$p"; done)
    [ "$(echo "$pids" | grep -c .)" -ge 2 ] && { victim=$(echo "$pids" | tail -1); break; }
    sleep 0.1
done
if [ -z "$victim" ]; then
    kill "$job" 2> /dev/null; wait "$job"
    not_ok "killed rank: the job ends" "the ranks did not start" "$(cat "$T/err")"
else
    sleep 1
    kill -9 "$victim"
    start=$(date +%s)
    for _ in $(seq 1 300); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
    took=$(( $(date +%s) - start ))
    if kill -0 "$job" 2> /dev/null; then
        pkill -9 -f -- "--seed $marker"; kill -9 "$job" 2> /dev/null; wait "$job"
        not_ok "killed rank: the job ends within 30 s" "still running after $took s"
    else
        wait "$job"; status=$?
        if [ $status -eq 0 ]; then not_ok "killed rank: the job fails" "exit status 0"
        else ok "killed rank: the job ended in $took s with status $status"; fi
    fi
fi

# A rank that stops answering (SIGSTOP): the other says, within --stall-warn, that it
# waits and where, and that the wait ended once the rank goes on (the frozen rank itself
# does not blame the others). Frozen again, a SIGTERM to the waiting rank ends it once
# the stop is 10 s old: exit 75 for the job and a message, not a hang.
marker=$((RANDOM * 1000 + 11))
mpi 2 "$LEASH" -q -D SYNTH --synth-train 4000 --synth-test 100 -b 32 -e 100000 -l 0.02 --init HE \
    -a SEQ -n 1 --avg-every 5 --stall-warn 2 --seed "$marker" --output "$T/stall.json" > /dev/null 2> "$T/stall.err" &
job=$!
r0= r1=
for _ in $(seq 1 100); do
    for p in $(pgrep -f -- "--seed $marker"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = leash ] || continue
        case $(tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep '^OMPI_COMM_WORLD_RANK=') in
        *=0) r0=$p ;; *=1) r1=$p ;;
        esac
    done
    [ -n "$r0" ] && [ -n "$r1" ] && break
    sleep 0.1
done
stalled() { grep -c "^leash: rank 0 ($(hostname)): waiting [0-9]* s for the other ranks in MPI_" "$T/stall.err"; }
if [ -z "$r0" ] || [ -z "$r1" ]; then
    kill "$job" 2> /dev/null; wait "$job"
    not_ok "a frozen rank: the other says it waits" "the ranks did not start" "$(cat "$T/stall.err")"
    not_ok "a frozen rank: a stop ends the wait" "the ranks did not start"
else
    sleep 1
    kill -STOP "$r1"
    for _ in $(seq 1 200); do [ "$(stalled)" -ge 1 ] && break; sleep 0.1; done
    kill -CONT "$r1"
    for _ in $(seq 1 100); do grep -q "^leash: rank 0 (.*): MPI_[A-Za-z]* completed after" "$T/stall.err" && break; sleep 0.1; done
    name="a frozen rank (SIGSTOP): the other says within --stall-warn 2 that it waits, and when the wait ends"
    if [ "$(stalled)" -ge 1 ] && grep -q "^leash: rank 0 (.*): MPI_[A-Za-z]* completed after" "$T/stall.err" &&
        ! grep -q "^leash: rank 1" "$T/stall.err"; then ok "$name"
    else not_ok "$name" "$(cat "$T/stall.err")"; fi
    kill -STOP "$r1"
    sleep 0.5
    t0=$(date +%s)
    kill -TERM "$r0"
    for _ in $(seq 1 400); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
    took=$(( $(date +%s) - t0 ))
    if kill -0 "$job" 2> /dev/null; then
        pkill -9 -f -- "--seed $marker"; wait "$job"; status=hung
    else status=0; wait "$job" || status=$?; fi
    name="a frozen rank: SIGTERM to the waiting one ends the job after the 10 s grace, exit 75, a message naming the wait"
    if [ "$status" = 75 ] && [ "$took" -le 30 ] &&
        grep -q "^leash: rank 0: stopped after waiting [0-9]* s for the other ranks in MPI_" "$T/stall.err"
    then ok "$name ($took s)"
    else not_ok "$name" "status $status after $took s" "$(grep '^leash' "$T/stall.err")"; fi
    pkill -9 -f -- "--seed $marker" 2> /dev/null
fi

# A bad flag or bad data seen by one rank only (a wrapper adds arguments on rank 1 of 3):
# every kind of start-up check ends the job within the bound, with one message, exit 2.
# idx_dir DIR: a valid 300 + 30 image MNIST-format directory.
idx_dir() {
    python3 - "$1" <<'EOF'
import os, struct, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
for split, n in (("train", 300), ("t10k", 30)):
    open(f"{d}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, 28, 28) + os.urandom(n * 784))
    open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + bytes(i % 10 for i in range(n)))
EOF
}
idx_dir "$T/fifo-data"; rm "$T/fifo-data/train-images-idx3-ubyte"; mkfifo "$T/fifo-data/train-images-idx3-ubyte"
idx_dir "$T/magic"; printf 'XXXX' | dd of="$T/magic/train-images-idx3-ubyte" conv=notrunc 2> /dev/null
cat > "$T/rank1.sh" <<'EOF'
#!/bin/bash
# Rank 1 gets the extra arguments in RANK1_ARGS (one per line).
leash=$1; shift
if [ "${OMPI_COMM_WORLD_RANK:-}" = 1 ]; then mapfile -t extra <<< "$RANK1_ARGS"; exec "$leash" "$@" "${extra[@]}"; fi
exec "$leash" "$@"
EOF
chmod +x "$T/rank1.sh"
one_rank_bad() {
    local name=$1 text=$2; shift 2
    local start took status lines
    start=$(date +%s)
    RANK1_ARGS=$(printf '%s\n' "$@") timeout -k 5 60 "$MPIRUN" -np 3 --oversubscribe -x RANK1_ARGS "$T/rank1.sh" "$LEASH" \
        -q -D SYNTH --synth-train 300 --synth-test 30 -b 10 -e 1 --output "$T/one.json" > /dev/null 2> "$T/err"
    status=$?
    took=$(( $(date +%s) - start ))
    lines=$(grep -c '^leash' "$T/err")
    if [ $status -ne 2 ]; then not_ok "one rank: $name: exit status 2" "status $status" "$(cat "$T/err")"
    elif [ "$took" -gt "$bound" ]; then not_ok "one rank: $name: ends within $bound s" "took $took s"
    elif [ "$lines" -ne 1 ] || ! grep '^leash' "$T/err" | grep -qF -- "$text"; then not_ok "one rank: $name: one message with '$text'" "$(cat "$T/err")"
    elif [ -e "$T/one.json" ]; then not_ok "one rank: $name: no output file"
    else ok "one rank: $name: one message, exit 2 in $took s"; fi
    rm -f "$T/one.json"
}
one_rank_bad "-n 0" "rank 1: -n 0: must be between 1 and 4096" -n 0
one_rank_bad "an unknown flag" "rank 1: --frobnicate: unknown option" --frobnicate
one_rank_bad "another mode (--help)" "the ranks were given different modes" --help
one_rank_bad "-n beyond the BLAS" "rank 1: -n 4000: at most" -a HOG -n 4000
one_rank_bad "a missing data directory" "rank 1: $T/missing: cannot open data directory" -D MNIST --data-dir "$T/missing"
one_rank_bad "a FIFO as a data file" "rank 1: $T/fifo-data/train-images-idx3-ubyte: not a regular file" -D MNIST --data-dir "$T/fifo-data"
one_rank_bad "a data file with a bad magic number" "rank 1: $T/magic/train-images-idx3-ubyte: bad magic number" -D MNIST --data-dir "$T/magic"
one_rank_bad "a batch larger than its shard" "rank 1: -b 500: batch size exceeds" -b 500
one_rank_bad "a size beyond memory" "rank 1: -U 65536 -L 7: the run would need" -U 65536 -L 7
one_rank_bad "--evaluate of a missing model" "the ranks were given different modes" --evaluate "$T/nomodel"

# An averaging round that fails on one rank (an injected MPI error, the first reduction
# of its first round, while its SYNC workers may not yet have left the gate): the rank
# lets its workers finish the segment and calls MPI_Abort, so the job ends instead of
# hanging, with the failing rank's message.
if [ -x "$FAULT" ]; then
    start=$(date +%s)
    LEASH_TEST_MPI_FAIL_RANK=1 timeout -k 5 60 "$MPIRUN" -np 2 --oversubscribe -x LEASH_TEST_MPI_FAIL_RANK "$FAULT" \
        -q -a SYNC -n 8 -D SYNTH --synth-train 2000 --synth-test 100 -b 8 -e 3 --avg-period 0.000001 \
        --placement none --output "$T/fault.json" > /dev/null 2> "$T/err"
    status=$?
    took=$(( $(date +%s) - start ))
    if [ $status -eq 0 ] || [ $status -eq 124 ]; then not_ok "a failed averaging round under SYNC ends the job" "status $status after $took s" "$(cat "$T/err")"
    elif ! grep -q '^leash: rank 1: MPI_Allreduce failed' "$T/err"; then not_ok "a failed averaging round under SYNC: the rank says so" "$(cat "$T/err")"
    else ok "a failed averaging round under SYNC ends the job (status $status in $took s)"; fi
else skip "a failed averaging round under SYNC ends the job" "no $FAULT"; fi

# leash sets MPI_ERRORS_RETURN, so that the error reaches its own paths above instead of
# Open MPI's default handler ending the job with its own message.
if [ -x "$FAULT" ] && grep -q 'MPI_Allreduce failed' "$T/err" && ! grep -q 'MPI_ERRORS_ARE_FATAL' "$T/err"; then
    ok "MPI errors return to leash (no MPI_ERRORS_ARE_FATAL abort)"
else not_ok "MPI errors return to leash" "$(cat "$T/err")"; fi

# A rank held back at start (the fault hook sleeps on rank 2 before its first
# MPI_Iallreduce, the options' agreement): after --stall-warn 2 the waiting ranks 0 and 1
# ask the others and say, within --stall-warn + 1 s of their wait's start, that 0 and 1
# have arrived and 2 has not, with their hosts; then that the wait ended. Every stderr
# line is stamped on arrival, and each rank's wait starts when the hook says it enters
# the call. Rank 2 itself waited for nobody; the job ends normally, though rank 2 is
# also deaf (its MPI_Iprobe finds nothing): the queries sent to it stay unreceived, and
# must not hold up MPI_Finalize.
# held HOLD_S WARN: the run, rank 2 held HOLD_S seconds; stamped stderr in $T/held.err.
held() {
    local hold=$1 warn=$2
    LEASH_TEST_MPI_HOLD_RANK=2 LEASH_TEST_MPI_HOLD_S=$hold LEASH_TEST_MPI_DEAF_RANK=2 timeout -k 5 120 \
        "$MPIRUN" -np 3 --oversubscribe -x LEASH_TEST_MPI_HOLD_RANK -x LEASH_TEST_MPI_HOLD_S \
        -x LEASH_TEST_MPI_DEAF_RANK "$FAULT" -q -D SYNTH --synth-train 300 \
        --synth-test 30 -b 10 -e 1 --stall-warn "$warn" --output "$T/held.json" 2>&1 > /dev/null |
        while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/,/.}" "$l"; done > "$T/held.err"
    status=${PIPESTATUS[0]}
}
held_check() {
    python3 - "$T/held.err" "$(hostname)" "$@" <<'EOF'
import re, sys
path, host, warn, want = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
entered, stalls, ended = {}, {}, {}
for line in open(path).read().splitlines():
    stamp, _, text = line.partition(" ")
    if m := re.fullmatch(r"leash_mpifault: rank (\d) enters its first MPI_Iallreduce at ([0-9.]+)", text):
        entered[int(m[1])] = float(m[2])
    elif m := re.match(r"leash: rank (\d) \(.*\): waiting ", text):
        stalls.setdefault(int(m[1]), []).append((float(stamp), text))
    elif m := re.fullmatch(r"leash: rank (\d) \(.*\): MPI_Allreduce completed after \d+ s", text):
        ended.setdefault(int(m[1]), []).append(float(stamp))
if sorted(entered) != [0, 1, 2]: sys.exit(f"the hook's lines came from ranks {sorted(entered)}")
if want == "none":
    if stalls or ended: sys.exit(f"stall lines without a stall: {stalls} {ended}")
    sys.exit(0)
if sorted(stalls) != [0, 1]: sys.exit(f"stall lines from ranks {sorted(stalls)}, not 0 and 1")
said = []
for r in (0, 1):
    if len(stalls[r]) != 1: sys.exit(f"rank {r} said {len(stalls[r])} times that it waits")
    at, text = stalls[r][0]
    m = re.fullmatch(rf"leash: rank {r} \((.*)\): waiting \d+ s for the other ranks in MPI_Allreduce "
                     r"\(main thread and workers wait\); arrived: 0 \((.*)\), 1 \((.*)\); not arrived: 2 \((.*)\)", text)
    if not m or set(m.groups()) != {host}: sys.exit(f"rank {r}: {text!r}")
    took = at - entered[r]
    if not warn <= took <= warn + 1: sys.exit(f"rank {r} said it {took:.2f} s after its wait started")
    if want == "ended" and (len(ended.get(r, [])) != 1 or ended[r][0] < at):
        sys.exit(f"rank {r}: no single line saying that the wait ended after the stall line")
    said.append(f"{took:.2f}")
print(f"after {' and '.join(said)} s")
EOF
}
if [ -x "$FAULT" ]; then
    start=$(date +%s)
    held 6 2
    took=$(( $(date +%s) - start ))
    name="rank 2 of 3 held back 6 s, --stall-warn 2: ranks 0 and 1 say within 3 s that 0 and 1 have arrived, 2 (its host) not"
    if why=$(held_check 2 stalled 2>&1); then ok "$name ($why)"; else not_ok "$name" "$why" "$(cat "$T/held.err")"; fi
    name="rank 2 held back 6 s: ranks 0 and 1 say when the wait ends, rank 2 nothing; exit 0 within $((6 + bound)) s"
    if [ "$status" -ne 0 ] || [ "$took" -gt $((6 + bound)) ]; then
        not_ok "$name" "status $status after $took s" "$(cat "$T/held.err")"
    elif why=$(held_check 2 ended 2>&1); then ok "$name (in $took s)"
    else not_ok "$name" "$why" "$(cat "$T/held.err")"; fi
    held 1 3
    name="rank 2 held back 1 s, --stall-warn 3: no stall line, exit 0"
    if [ "$status" -ne 0 ]; then not_ok "$name" "status $status" "$(cat "$T/held.err")"
    elif why=$(held_check 3 none 2>&1); then ok "$name"
    else not_ok "$name" "$why" "$(cat "$T/held.err")"; fi
    # Held at its first averaging round instead, in overlapped mode: the others' workers
    # go on training while their main threads wait, and the line says so.
    LEASH_TEST_MPI_HOLD_RANK=2 LEASH_TEST_MPI_HOLD_S=4 LEASH_TEST_MPI_HOLD_FLOAT=1 timeout -k 5 120 \
        "$MPIRUN" -np 3 --oversubscribe -x LEASH_TEST_MPI_HOLD_RANK -x LEASH_TEST_MPI_HOLD_S \
        -x LEASH_TEST_MPI_HOLD_FLOAT "$FAULT" -q -a LSH -n 1 -D SYNTH --synth-train 3000 \
        --synth-test 30 -b 10 -l 0.05 -r 12000 -e 1 --avg-every 50 --stall-warn 1 --output "$T/held.json" \
        2> "$T/round.err" > /dev/null
    status=$?
    name="rank 2 held at its first overlapped round: ranks 0 and 1 say their workers go on, and name it"
    pattern='^leash: rank [01] \(.*\): waiting [0-9]+ s for the other ranks in MPI_Allreduce \(main thread waits, workers go on\); arrived: 0 \(.*\), 1 \(.*\); not arrived: 2 \(.*\)$'
    lines=$(grep -c -E "$pattern" "$T/round.err")
    if [ "$status" -eq 0 ] && [ "$lines" -eq 2 ]; then ok "$name"
    else not_ok "$name" "status $status, $lines lines" "$(cat "$T/round.err")"; fi
else
    skip "a rank held back at start: the others name it" "no $FAULT"
    skip "a rank held back at start: the wait's end" "no $FAULT"
    skip "a rank held back shorter than --stall-warn: no stall line" "no $FAULT"
    skip "a rank held at an overlapped round: the others' workers go on" "no $FAULT"
fi
