#!/bin/bash
# The job scripts in jobs/ under a real Slurm: a private single-node cluster (munged,
# slurmctld, slurmd on free ports under a scratch directory) runs the hybrid job (2 ranks
# through srun --mpi=pmix), a leash-sweep array job and the multi-node job, each
# submitted from a directory that is not the build tree; the hybrid job is stopped with
# scancel --signal=USR1 --batch, requeues itself and resumes from its checkpoint.
# Skipped where Slurm or munge is not installed, or without root (slurmd must run as
# root).
set -u
LEASH=${LEASH:-./leash}
LEASH=$(cd "$(dirname "$LEASH")" && pwd)/$(basename "$LEASH")
JOBS=${LEASH_JOBS_DIR:-$(cd "$(dirname "$0")/../jobs" && pwd)}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/slurm_util.sh"
TESTS=("hybrid job" "sweep array" "multi-node job" "leash not found" "requeued hybrid job")
echo "1..${#TESTS[@]}"
skip_all() { for t in "${TESTS[@]}"; do n=$((n + 1)); echo "ok $n - $t # SKIP $1"; done; exit 0; }
for cmd in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
    command -v "$cmd" > /dev/null || skip_all "$cmd not installed (Debian: slurmctld slurmd slurm-client munge)"
done
[ "$(id -u)" = 0 ] || skip_all "slurmd needs root"

# As in test_mpi.sh: Open MPI's allocations outlive MPI_Finalize (sanitized builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-slurm.XXXXXX")
chmod 755 "$T"
stop() {
    for d in slurmd slurmctld munged; do
        [ -f "$T/$d.pid" ] && kill "$(cat "$T/$d.pid")" 2> /dev/null
    done
    sleep 1
    for d in slurmd slurmctld munged; do
        [ -f "$T/$d.pid" ] && kill -9 "$(cat "$T/$d.pid")" 2> /dev/null
    done
    rm -rf "$T"
}
trap stop EXIT

# A port pair nobody listens on (another cluster may run on this machine).
base=$((20000 + RANDOM % 20000))
while ss -ltn 2> /dev/null | grep -qE ":($base|$((base + 1)))\b"; do base=$((base + 2)); done
host=$(hostname -s)

mkdir -p "$T/munge" "$T/spool" "$T/state"
chmod 755 "$T/munge"
mungekey --create --keyfile="$T/munge.key" 2> "$T/mungekey.log" || skip_all "mungekey failed: $(cat "$T/mungekey.log")"
chmod 600 "$T/munge.key"
munged --socket="$T/munge/munge.socket" --key-file="$T/munge.key" --log-file="$T/munged.log" \
    --pid-file="$T/munged.pid" --seed-file="$T/munge.seed" --force 2>> "$T/munged.log"

cat > "$T/slurm.conf" <<CONF
ClusterName=leashtest
SlurmctldHost=$host
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
KillWait=5
ReturnToService=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=30 State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -f "$SLURM_CONF" 2> "$T/slurmctld.err"
slurmd -f "$SLURM_CONF" 2> "$T/slurmd.err"
for _ in $(seq 1 100); do
    sinfo -h -o %t 2> /dev/null | grep -q idle && break
    sleep 0.2
done
if ! sinfo -h -o %t 2> /dev/null | grep -q idle; then
    for t in "${TESTS[@]}"; do
        not_ok "$t" "the private cluster did not come up" "$(tail -3 "$T/slurmctld.log" "$T/slurmd.log" 2> /dev/null)"
    done
    exit 0
fi

small=(-D SYNTH --synth-train 2000 --synth-test 300 -b 32 -e 2 -l 0.05 -q)
# The scripts find leash on PATH (as installed), or in the directory a job was submitted
# from: none of the jobs below is told where it is.
BIN=$(dirname "$LEASH")
mkdir -p "$T/elsewhere"
unset LEASH

# Two ranks through srun --mpi=pmix: both ran, and the final averaging left them equal.
out=$T/hybrid.json
if (cd "$T/elsewhere" && PATH=$BIN:$PATH sbatch --wait --chdir="$T" --ntasks-per-node=2 \
    --cpus-per-task=1 --time=5 --export=ALL,LEASH_OUT="$out",LEASH_ARGS="${small[*]} --avg-every 5" \
    "$JOBS/leash-hybrid.sbatch") > "$T/sbatch.out" 2>&1; then
    ranks=$(grep -m1 -o '"ranks": [0-9]*' "$out" | awk '{print $2}')
    digests=$(grep -o '"params_digest": "[0-9a-f]*"' "$out" | sort -u | wc -l)
    # The final mean is equal by construction: the rounds' counts show the ranks averaged.
    rounds=$(sed -n '/"per_rank"/,$p' "$out" | grep -o '"averagings": [0-9]*' | awk '{print $2}' | sort -u)
    if [ "$ranks" = 2 ] && [ "$digests" = 1 ] && [ "$(echo "$rounds" | wc -l)" = 1 ] && [ "${rounds:-0}" -ge 1 ]; then
        ok "hybrid job: 2 ranks under srun --mpi=pmix, equal final models, $rounds paired rounds"
    else not_ok "hybrid job" "ranks $ranks, distinct digests $digests, rounds per rank: $(echo $rounds)"; fi
else
    not_ok "hybrid job: sbatch --wait failed" "$(cat "$T/sbatch.out")" "$(cat "$T"/leash-hybrid-*.log 2> /dev/null)"
fi

# leash-sweep --slurm: a 2 strategies x 2 step sizes x 2 seeds grid as one array job
# (one task per cell), then the same command again, which finds every cell finished and
# submits nothing.
SWEEP=${LEASH_SWEEP:-$(cd "$(dirname "$0")/../tools" && pwd)/leash-sweep}
sweep=(-a SEQ,LSH -l 0.05,0.1 --repeats 2 --out "$T/sweep" --leash "$BIN/leash" --slurm --sbatch '--wait --time=5'
       -- -D SYNTH --synth-train 2000 --synth-test 300 -b 32 -e 2 -q) # -l is the grid's
if (cd "$T/elsewhere" && "$SWEEP" "${sweep[@]}") > "$T/sweep.out" 2> "$T/sweep.err" &&
   [ "$(grep -l '"status": "complete"' "$T"/sweep/*.json 2> /dev/null | wc -l)" -eq 8 ] &&
   (cd "$T/elsewhere" && "$SWEEP" "${sweep[@]}") 2> "$T/sweep2.err" && grep -q "all 8 cells finished" "$T/sweep2.err"; then
    ok "leash-sweep --slurm: 8 cells as one array job, all complete; run again, nothing to submit"
else
    not_ok "leash-sweep --slurm" "$(cat "$T/sweep.err" "$T/sweep2.err" 2> /dev/null)" "$(cat "$T"/sweep/slurm-*.log 2> /dev/null | tail -5)"
fi

# The multi-node job on this one node: its layout read from leash --topology.
out=$T/multinode.json
if (cd "$T/elsewhere" && PATH=$BIN:$PATH sbatch --wait --chdir="$T" --nodes=1 --time=5 \
    --export=ALL,LEASH_OUT="$out",LEASH_ARGS="${small[*]}" \
    "$JOBS/leash-multinode.sbatch") > "$T/sbatch.out" 2>&1 &&
    grep -q '"status": "complete"' "$out"; then
    ok "multi-node job: $(grep -h -o 'leash-multinode: job [0-9]*, start 0: .* workers' "$T"/leash-multinode-*.log)"
else
    not_ok "multi-node job" "$(cat "$T/sbatch.out")" "$(cat "$T"/leash-multinode-*.log 2> /dev/null)"
fi

# Nowhere to be found: one line that says what to set, and the job fails.
status=0
(cd "$T/elsewhere" && PATH=/usr/bin:/bin sbatch --wait --chdir="$T" --time=5 \
    --output="$T/notfound.log" "$JOBS/leash-hybrid.sbatch") > "$T/sbatch.out" 2>&1 || status=$?
if [ $status -ne 0 ] && grep -qx "leash-hybrid: leash not found: set LEASH=/path/to/leash, or install it on PATH" "$T/notfound.log"; then
    ok "leash not found: the job fails with one line naming what to set"
else not_ok "leash not found" "status $status" "$(cat "$T/notfound.log")"; fi

# Preemption: stop the running job with its batch signal; it checkpoints, requeues
# itself, and the requeued job resumes and completes with every epoch in one document.
out=$T/requeue.json
ckpt=$T/requeue.ckpt
long=(-D SYNTH --synth-train 16000 --synth-test 300 -b 16 -e 3 -l 0.05 -q --checkpoint-every 100)
job=$(cd "$T/elsewhere" && PATH=$BIN:$PATH sbatch --parsable --chdir="$T" --ntasks-per-node=2 \
    --cpus-per-task=1 --time=5 \
    --export=ALL,LEASH_OUT="$out",LEASH_CHECKPOINT="$ckpt",LEASH_ARGS="${long[*]} --avg-every 10" \
    "$JOBS/leash-hybrid.sbatch" 2> "$T/sbatch.out")
for _ in $(seq 1 600); do [ -e "$ckpt" ] && break; sleep 0.1; done
scancel --signal=USR1 --batch "$job"
wait_requeued "$job"
log=$(cat "$T/leash-hybrid-$job.log" 2> /dev/null)
check_doc() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ok = d["status"] == "complete" and d["resumes"] >= 1 and [e["epoch"] for e in d["epochs"]] == [1, 2, 3]
ok = ok and len({r["params_digest"] for r in d["per_rank"]}) == 1
# Equal final digests hold by construction; paired rounds (at least one) show averaging.
rounds = {r["averagings"] for r in d["per_rank"]}
ok = ok and len(rounds) == 1 and min(rounds) >= 1
sys.exit(0 if ok else f"status {d['status']}, resumes {d['resumes']}, {len(d['epochs'])} epochs")
EOF
}
if [ "$state" = COMPLETED ] && [ "${restarts:-0}" -ge 1 ] && grep -q "requeueing job $job" <<< "$log" &&
   why=$(check_doc "$out" 2>&1); then
    ok "requeued hybrid job: stopped by its batch signal, requeued $restarts time(s), resumed, every epoch in one document"
else not_ok "requeued hybrid job" "state $state, restarts ${restarts:-?}" "${why:-}" "$log" "$(cat "$T/sbatch.out")"; fi
