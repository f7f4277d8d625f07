#!/bin/bash
# Ranks on several hosts: a virtual cluster of 2 nodes (tests/cluster/vcluster: network
# namespaces with their own hostnames on a bridge, Open MPI over TCP only, node-local
# scratch at the same path on each node). Skipped where namespaces cannot be made (not
# root, no iproute2). Shared files live under /var/tmp: every node sees them.
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
SRC=${LEASH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
VC=$SRC/tests/cluster/vcluster
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/mpi_env.sh"
. "$(dirname "$0")/slurm_util.sh"

PLAN=15
echo "1..$PLAN"
if ! why=$("$VC" usable 2>&1); then
    for i in $(seq 1 $PLAN); do skip "virtual cluster test $i" "$why"; done
    exit 0
fi

S=$(mktemp -d /var/tmp/leash-cluster.XXXXXX)
C=$S/cluster
trap '"$VC" down "$C" > /dev/null 2>&1; rm -rf "$S"' EXIT
trap 'exit 1' INT TERM HUP

# vmpi ARGS...: mpirun across the cluster, never longer than 2 minutes.
vmpi() { timeout -k 5 120 "$VC" mpirun "$C" "$@"; }
# py FILE...: a check in Python over the files, its message on failure.
py() { /usr/bin/python3 - "$@"; }

if ! "$VC" up 2 "$C" > "$S/up.log" 2>&1; then
    not_ok "2 nodes come up" "$(cat "$S/up.log")"
    for i in $(seq 2 $PLAN); do skip "virtual cluster test $i" "the cluster did not come up"; done
    exit 0
fi
ID=$(sed -n 's/^ID=//p' "$C/cluster.env") # its namespaces and links carry it
names=$("$C/agent" node1 hostname)/$("$C/agent" node2 hostname)
"$VC" run "$C" 1 touch "$C/scratch/mine"
if [ "$names" = node1/node2 ] && [ -e "$C/node1/mine" ] && ! "$VC" run "$C" 2 test -e "$C/scratch/mine"; then
    ok "2 nodes: hostnames node1 and node2, node-local scratch at the same path"
else not_ok "2 nodes: hostnames and node-local scratch" "hostnames $names"; fi

# LSH with overlapped averaging, 2 ranks per node, rounds over TCP.
L=(-q -D SYNTH --synth-train 8000 --synth-test 1000 -b 32 -e 3 -l 0.05 -m 0.5 --init HE)
name="2 nodes x 2 ranks, LSH -n 2, overlapped --avg-every 5: complete on both hosts, equal models, accuracy >= 0.85"
if vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${L[@]}" -a LSH -n 2 --placement none --avg-every 5 \
    --output "$S/lsh.json" 2> "$S/err"; then
    if why=$(py "$S/lsh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
hosts, ranks = d["provenance"]["hosts"], d["per_rank"]
if d["status"] != "complete": sys.exit(f"status {d['status']}")
if hosts != ["node1", "node1", "node2", "node2"]: sys.exit(f"hosts {hosts}")
if len({r["params_digest"] for r in ranks}) != 1: sys.exit("final models differ")
if len({r["averagings"] for r in ranks}) != 1 or ranks[0]["averagings"] < 1:
    sys.exit(f"rounds {[r['averagings'] for r in ranks]}")
acc = d["final"]["test_accuracy"]
if acc < 0.85: sys.exit(f"test accuracy {acc}")
print(f"accuracy {acc}, {ranks[0]['averagings']} rounds")
EOF
    ); then ok "$name ($why)"; else not_ok "$name" "$why"; fi
else not_ok "$name" "$(cat "$S/err")"; fi

# The reproducibility contract across transports and placements: SEQ with blocking
# rounds is deterministic, so the same 4 ranks give the same bits over TCP on 2 hosts
# (2 + 2 and 1 + 3 ranks) as through shared memory on one.
B=(-q -D SYNTH --synth-train 4000 --synth-test 400 -b 32 -l 0.05 -m 0.5 --init HE -a SEQ -n 1
   --avg-every 3 --avg-mode blocking)
"$MPIRUN" -np 4 --oversubscribe "$LEASH" "${B[@]}" -e 2 --output "$S/host.json" 2> "$S/err.host"
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${B[@]}" -e 2 --output "$S/tcp22.json" 2> "$S/err.22"
vmpi -np 4 --host node1:1,node2:3 "$LEASH" "${B[@]}" -e 2 --output "$S/tcp13.json" 2> "$S/err.13"
same() {
    py "$@" <<'EOF'
import json, sys
def key(f):
    d = json.load(open(f))
    return (d["per_rank"][0]["params_digest"], [r["local_digest"] for r in d["per_rank"]],
            [e["train_loss"] for e in d["epochs"]], [e["test_accuracy"] for e in d["epochs"]])
want = key(sys.argv[1])
for f in sys.argv[2:]:
    if key(f) != want: sys.exit(f"{f}: {key(f)}, not {want}")
print(want[0])
EOF
}
name="SEQ, 4 ranks, blocking rounds: over TCP on 2 hosts (2+2, 1+3) the same digests and losses as on one host"
if why=$(same "$S/host.json" "$S/tcp22.json" "$S/tcp13.json" 2>&1); then ok "$name ($why)"
else not_ok "$name" "$why" "$(cat "$S"/err.*)"; fi

# A checkpoint written across 2 nodes resumes across 2 nodes, bit for bit.
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${B[@]}" -e 1 --checkpoint "$S/shared.ck" \
    --output "$S/e1.json" 2> "$S/err"
cp "$S/shared.ck" "$S/fewer.ck"
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${B[@]}" -e 2 --checkpoint "$S/shared.ck" \
    --resume "$S/shared.ck" --output "$S/e2.json" 2>> "$S/err"
name="checkpoint on shared storage: 1 epoch on 2 nodes, resumed on 2 nodes, equals 2 epochs"
if why=$(same "$S/host.json" "$S/e2.json" 2>&1); then ok "$name"; else not_ok "$name" "$why" "$(cat "$S/err")"; fi

# The same checkpoint resumed by a job given one node instead of two (2 ranks, not 4):
# from the mean of the 4 ranks' models, warned once, the job's update count carried on.
vmpi -np 2 --host node1:2 "$LEASH" "${B[@]}" -e 2 --checkpoint "$S/fewer.ck" \
    --resume "$S/fewer.ck" --output "$S/fewer.json" 2> "$S/err"
name="checkpoint of 4 ranks on 2 nodes resumed by 2 ranks on 1 node: from their mean, warned once, every epoch"
warned=$(grep -c "^leash: warning: checkpoint $S/fewer.ck: written by 4 ranks with -n 1, resumed by 2 ranks with -n 1: every rank starts from the mean of its ranks' models" "$S/err")
if [ "$warned" = 1 ] && why=$(py "$S/e1.json" "$S/fewer.json" 2>&1 <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
c = b["checkpoints"]
got = (b["status"], len(b["epochs"]), len(b["per_rank"]), c["resumed_ranks"], b["provenance"]["hosts"])
if got != ("complete", 2, 2, {"from": 4, "to": 2}, ["node1", "node1"]): sys.exit(f"status, epochs, ranks, resumed_ranks, hosts: {got}")
total = lambda d: sum(r["updates"] for r in d["per_rank"])
if b["epochs"][0] != a["epochs"][0] or total(b) != total(a) + b["epochs"][1]["updates"]:
    sys.exit(f"epoch 1 or the update count differ: {total(b)} updates, {total(a)} before")
acc = b["epochs"][1]["test_accuracy"]
if acc < 0.8: sys.exit(f"accuracy {acc}")
print(f"accuracy {acc:.3f}, {total(b)} updates")
EOF
); then ok "$name ($why)"; else not_ok "$name" "warned $warned time(s)" "${why:-}" "$(cat "$S/err")"; fi

# Node-local scratch: rank 0 alone reads and writes checkpoints, so a checkpoint there
# resumes while rank 0 runs on the node that holds it, and is refused, naming the
# reason, when rank 0 runs elsewhere (--resume auto included: it must not start over).
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${B[@]}" -e 1 --checkpoint "$C/scratch/local.ck" \
    --output "$S/l1.json" 2> "$S/err"
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${B[@]}" -e 2 --checkpoint "$C/scratch/local.ck" \
    --resume "$C/scratch/local.ck" --output "$S/l2.json" 2>> "$S/err"
name="checkpoint on node-local scratch: resumed with rank 0 on its node, bit for bit"
if [ -f "$C/node1/local.ck" ] && why=$(same "$S/host.json" "$S/l2.json" 2>&1); then ok "$name"
else not_ok "$name" "${why:-}" "$(cat "$S/err")"; fi
msg="leash: rank 0: checkpoint $C/scratch/local.ck: rank 0 cannot see it but 2 other ranks can: rank 0 reads and writes checkpoints, so the path must be visible to it (shared storage, or rank 0 on the node that holds the file)"
bad=
for resume in "$C/scratch/local.ck" auto; do
    vmpi -np 4 --host node2:2,node1:2 "$LEASH" "${B[@]}" -e 2 --checkpoint "$C/scratch/local.ck" \
        --resume "$resume" --output "$S/moved.json" > /dev/null 2> "$S/err"
    status=$?
    [ $status -eq 2 ] && [ "$(grep '^leash' "$S/err")" = "$msg" ] && [ ! -e "$S/moved.json" ] ||
        bad="$bad --resume $resume: status $status, $(grep '^leash' "$S/err");"
done
name="checkpoint on node-local scratch, rank 0 on the other node: --resume PATH and auto refused in one line, exit 2"
if [ -z "$bad" ]; then ok "$name"; else not_ok "$name" "$bad"; fi

# A lost node: every process of node 2 killed after the first epoch. The job ends soon
# with a non-zero status, the result keeps the epochs so far, and the same command with
# --resume auto completes from the last checkpoint.
K=(-q -D SYNTH --synth-train 8000 --synth-test 400 -b 16 -l 0.05 -m 0.5 --init HE -a LSH -n 1
   --avg-every 10 -e 6 --checkpoint "$S/lost.ck" --checkpoint-every 100 --output "$S/lost.json")
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${K[@]}" > /dev/null 2> "$S/err" & job=$!
for _ in $(seq 1 600); do
    grep -q '"epoch": 1' "$S/lost.json" 2> /dev/null && [ -e "$S/lost.ck" ] && break
    kill -0 $job 2> /dev/null || break
    sleep 0.1
done
t0=$(date +%s%N)
"$VC" kill "$C" 2
status=0; wait $job || status=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
name="node 2 lost after an epoch: the job ends within 10 s, non-zero, the result keeps its epochs"
if [ $status -ne 0 ] && [ $status -ne 124 ] && [ $ms -le 10000 ] && why=$(py "$S/lost.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "running" or len(d["epochs"]) < 1 or len(d["epochs"]) >= 6:
    sys.exit(f"status {d['status']} with {len(d['epochs'])} epochs")
print(f"{len(d['epochs'])} epochs kept")
EOF
); then ok "$name (status $status after $ms ms, $why)"
else not_ok "$name" "status $status after $ms ms" "${why:-}" "$(tail -3 "$S/err")"; fi
vmpi -np 4 --host node1:2,node2:2 "$LEASH" "${K[@]}" --resume auto > /dev/null 2> "$S/err"
name="the same command with --resume auto on the cluster completes every epoch"
if why=$(py "$S/lost.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "complete" or len(d["epochs"]) != 6 or d["resumes"] != 1:
    sys.exit(f"status {d['status']}, {len(d['epochs'])} epochs, {d['resumes']} resumes")
EOF
); then ok "$name"; else not_ok "$name" "$why" "$(tail -3 "$S/err")"; fi

# A link taken down mid-run (node 2's veth): the ranks say within --stall-warn that they
# wait, and where; with the link back up the job goes on and completes. It never hangs.
vmpi -np 2 --host node1:1,node2:1 "$LEASH" -q -D SYNTH --synth-train 16000 --synth-test 200 -b 16 -e 4 \
    -l 0.05 --init HE -a LSH -n 1 --avg-every 10 --stall-warn 3 --output "$S/link.json" > /dev/null 2> "$S/link.err" &
job=$!
for _ in $(seq 1 300); do grep -q '"epoch": 1' "$S/link.json" 2> /dev/null && break; sleep 0.1; done
t0=$(date +%s)
ip link set "lv${ID}h2" down
for _ in $(seq 1 600); do grep -q "^leash: rank [01] (node[12]): waiting" "$S/link.err" && break; sleep 0.1; done
warned=$(( $(date +%s) - t0 ))
ip link set "lv${ID}h2" up
status=0; wait $job || status=$?
name="node 2's link down mid-run: the stall warning within 60 s; link up again, the job completes"
if grep -q "^leash: rank [01] (node[12]): waiting [0-9]* s for the other ranks in MPI_" "$S/link.err" &&
    [ $warned -le 60 ] && grep -q "completed after" "$S/link.err" && [ $status -eq 0 ] &&
    grep -q '"status": "complete"' "$S/link.json"; then ok "$name (warned after $warned s)"
else not_ok "$name" "warned after $warned s, status $status" "$(cat "$S/link.err")"; fi

# A slow link (node 2's shaped to 20 Mbit/s both ways by tc's token bucket): a round of
# the MLP (0.5 MB each way) takes far longer than 10 updates, so overlapped rounds run
# back to back and fall behind (rounds_behind > 0, fewer rounds than updates / 10) while
# the workers go on; blocking rounds never fall behind.
tc qdisc replace dev "lv${ID}h2" root tbf rate 20mbit burst 32kb latency 100ms
ip netns exec "lv$ID-2" tc qdisc replace dev eth0 root tbf rate 20mbit burst 32kb latency 100ms
W=(-q -D SYNTH --synth-train 16000 --synth-test 200 -b 16 -e 1 -l 0.05 --init HE -a SEQ -n 1)
vmpi -np 2 --host node1:1,node2:1 "$LEASH" "${W[@]}" --avg-every 10 --output "$S/slow-ov.json" 2> "$S/err"
vmpi -np 2 --host node1:1,node2:1 "$LEASH" "${W[@]}" --avg-every 50 --avg-mode blocking \
    --output "$S/slow-bl.json" 2>> "$S/err"
tc qdisc del dev "lv${ID}h2" root
ip netns exec "lv$ID-2" tc qdisc del dev eth0 root
name="a 20 Mbit/s link: overlapped rounds fall behind (rounds_behind > 0, fewer rounds), blocking ones do not"
if why=$(py "$S/slow-ov.json" "$S/slow-bl.json" <<'EOF'
import json, sys
ov, bl = (json.load(open(f)) for f in sys.argv[1:])
for r in ov["per_rank"]:
    if r["rounds_behind"] < 1 or r["averagings"] >= r["updates"] // 10:
        sys.exit(f"overlapped, rank {r['rank']}: {r['averagings']} rounds in {r['updates']} updates, {r['rounds_behind']} behind")
if ov["mpi"]["rounds_behind"] != max(r["rounds_behind"] for r in ov["per_rank"]): sys.exit("mpi.rounds_behind")
if any(r["rounds_behind"] for r in bl["per_rank"]) or bl["mpi"]["averagings"] != bl["per_rank"][0]["updates"] // 50:
    sys.exit(f"blocking: {bl['mpi']['averagings']} rounds, behind {[r['rounds_behind'] for r in bl['per_rank']]}")
print(f"overlapped: {ov['mpi']['averagings']} rounds, {ov['mpi']['rounds_behind']} intervals behind")
EOF
); then ok "$name ($why)"; else not_ok "$name" "$why" "$(cat "$S/err")"; fi

# --- Slurm across the nodes: slurmctld here, a slurmd in each node -------------------
JOBS=${LEASH_JOBS_DIR:-$SRC/jobs}
SWEEP=${LEASH_SWEEP:-$SRC/tools/leash-sweep}
ABS_LEASH=$(cd "$(dirname "$LEASH")" && pwd)/$(basename "$LEASH")
SLURM_TESTS=("multi-node job on 2 nodes" "multi-node job stopped by its batch signal" "sweep array over both nodes")
missing=
for cmd in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v $cmd > /dev/null || missing="$missing $cmd"
done
if [ -n "$missing" ]; then
    for t in "${SLURM_TESTS[@]}"; do skip "$t" "not installed:$missing (Debian: slurmctld slurmd slurm-client munge)"; done
elif ! conf=$("$VC" slurm "$C" 2> "$S/slurm.err"); then
    for t in "${SLURM_TESTS[@]}"; do not_ok "$t" "Slurm did not come up: $(cat "$S/slurm.err")"; done
else
    export "$conf"
    mkdir -p "$S/elsewhere"
    small=(-D SYNTH --synth-train 2000 --synth-test 300 -b 32 -e 2 -l 0.05 -q)
    # The layout comes from leash --topology on the first node: one rank per node here.
    name="multi-node job: sbatch --nodes=2 runs a rank on each node, complete"
    if (cd "$S/elsewhere" && LEASH=$ABS_LEASH LEASH_OUT=$S/mn.json LEASH_ARGS="${small[*]}" timeout 120 \
        sbatch --wait --chdir="$S" --nodes=2 --time=5 "$JOBS/leash-multinode.sbatch") > "$S/sbatch.out" 2>&1 &&
        why=$(py "$S/mn.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "complete" or d["provenance"]["hosts"] != ["node1", "node2"]:
    sys.exit(f"status {d['status']}, hosts {d['provenance']['hosts']}")
EOF
        ); then ok "$name ($(grep -ho '2 nodes x [0-9]* ranks x [0-9]* workers' "$S"/leash-multinode-*.log))"
    else not_ok "$name" "${why:-}" "$(cat "$S/sbatch.out" "$S"/leash-multinode-*.log 2> /dev/null)"; fi

    # Preemption across nodes: the batch signal stops every rank with a checkpoint, the
    # job requeues itself, and the requeued job resumes on the nodes and completes.
    long=(-D SYNTH --synth-train 16000 --synth-test 300 -b 16 -e 3 -l 0.05 -q --checkpoint-every 100 --avg-every 10)
    job=$(cd "$S/elsewhere" && LEASH=$ABS_LEASH LEASH_OUT=$S/rq.json LEASH_CHECKPOINT=$S/rq.ckpt \
        LEASH_ARGS="${long[*]}" sbatch --parsable --chdir="$S" --nodes=2 --time=5 \
        "$JOBS/leash-multinode.sbatch" 2> "$S/sbatch.out")
    for _ in $(seq 1 600); do [ -e "$S/rq.ckpt" ] && break; sleep 0.1; done
    scancel --signal=USR1 --batch "$job"
    wait_requeued "$job"
    name="multi-node job stopped with scancel --signal=USR1 --batch: requeued, resumed on both nodes, every epoch"
    if [ "$state" = COMPLETED ] && [ "${restarts:-0}" -ge 1 ] && why=$(py "$S/rq.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "complete" or d["resumes"] < 1 or [e["epoch"] for e in d["epochs"]] != [1, 2, 3]:
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, epochs {len(d['epochs'])}")
if d["provenance"]["hosts"] != ["node1", "node2"]: sys.exit(f"hosts {d['provenance']['hosts']}")
EOF
    ); then ok "$name (requeued $restarts time(s))"
    else not_ok "$name" "state $state, restarts ${restarts:-?}" "${why:-}" "$(cat "$S"/leash-multinode-"$job".log 2> /dev/null)"; fi

    # A sweep's array job, one whole node per task: its tasks run on both nodes.
    sweep=(-a SEQ,LSH --repeats 2 --out "$S/sweep" --leash "$ABS_LEASH" --slurm
           --sbatch '--wait --time=5 --exclusive' -- "${small[@]}")
    name="leash-sweep --slurm: 4 cells as one array job, all complete, spread over node1 and node2"
    if (cd "$S/elsewhere" && timeout 300 "$SWEEP" "${sweep[@]}") > "$S/sweep.out" 2> "$S/sweep.err" &&
        why=$(py "$S"/sweep/*.json <<'EOF'
import json, sys
docs = [d for d in (json.load(open(f)) for f in sys.argv[1:]) if "provenance" in d]
hosts = {h for d in docs for h in d["provenance"]["hosts"]}
if len(docs) != 4 or any(d["status"] != "complete" for d in docs): sys.exit(f"{len(docs)} documents")
if hosts != {"node1", "node2"}: sys.exit(f"hosts {sorted(hosts)}")
EOF
        ); then ok "$name"
    else not_ok "$name" "${why:-}" "$(cat "$S/sweep.err")"; fi
fi

# Down leaves nothing of this cluster (others may run beside it: a parallel make check):
# no namespace, no link, no daemon, no directory.
"$VC" down "$C" > "$S/down.log" 2>&1
left_ns=$(ip netns list | grep "^lv$ID-")
left_links=$(ip -o link show | grep -o "lvb\?$ID[^:@ ]*")
left_daemons=$(pgrep -f "$C/" | tr '\n' ' ')
if [ -z "$left_ns$left_links$left_daemons" ] && [ ! -e "$C" ]; then
    ok "vcluster down: every namespace, link, daemon and file of the cluster gone"
else not_ok "vcluster down leaves nothing" "namespaces: $left_ns" "links: $left_links" \
    "processes: $left_daemons" "$(cat "$S/down.log")"; fi
