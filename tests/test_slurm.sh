#!/bin/bash
# The job scripts in jobs/ under a real Slurm: a private single-node cluster (munged,
# slurmctld, slurmd on free ports under a scratch directory) runs the hybrid job (2 ranks
# through srun --mpi=pmix) and the strategy-comparison array. Skipped where Slurm or
# munge is not installed, or without root (slurmd must run as root).
set -u
LEASH=${LEASH:-./leash}
LEASH=$(cd "$(dirname "$LEASH")" && pwd)/$(basename "$LEASH")
JOBS=${LEASH_JOBS_DIR:-$(cd "$(dirname "$0")/../jobs" && pwd)}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
echo "1..2"
skip_all() { echo "ok 1 - hybrid job # SKIP $1"; echo "ok 2 - comparison array # SKIP $1"; exit 0; }
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
    not_ok "hybrid job" "the private cluster did not come up" "$(tail -3 "$T/slurmctld.log" "$T/slurmd.log" 2> /dev/null)"
    not_ok "comparison array" "the private cluster did not come up"
    exit 0
fi

small=(-D SYNTH --synth-train 2000 --synth-test 300 -b 32 -e 2 -l 0.05 -q)

# Two ranks through srun --mpi=pmix: both ran, and the final averaging left them equal.
out=$T/hybrid.json
if sbatch --wait --chdir="$T" --ntasks-per-node=2 --cpus-per-task=1 --time=5 \
    --export=ALL,LEASH="$LEASH",LEASH_OUT="$out",LEASH_ARGS="${small[*]} --avg-every 5" \
    "$JOBS/leash-hybrid.sbatch" > "$T/sbatch.out" 2>&1; then
    ranks=$(grep -m1 -o '"ranks": [0-9]*' "$out" | awk '{print $2}')
    digests=$(grep -o '"params_digest": "[0-9a-f]*"' "$out" | sort -u | wc -l)
    if [ "$ranks" = 2 ] && [ "$digests" = 1 ]; then ok "hybrid job: 2 ranks under srun --mpi=pmix, equal final models"
    else not_ok "hybrid job" "ranks $ranks, distinct digests $digests"; fi
else
    not_ok "hybrid job: sbatch --wait failed" "$(cat "$T/sbatch.out")" "$(cat "$T"/leash-hybrid-*.log 2> /dev/null)"
fi

# The array: one document per strategy, each naming its algorithm.
if sbatch --wait --chdir="$T" --cpus-per-task=2 --time=5 \
    --export=ALL,LEASH="$LEASH",LEASH_OUT_DIR="$T",LEASH_ARGS="${small[*]}" \
    "$JOBS/leash-compare.sbatch" > "$T/sbatch.out" 2>&1; then
    missing=
    for algo in SEQ SYNC ASYNC HOG LSH; do
        f=$(ls "$T"/leash-compare-*-"$algo".json 2> /dev/null | head -1)
        [ -n "$f" ] && grep -q "\"algorithm\": \"$algo\"" "$f" || missing="$missing $algo"
    done
    if [ -z "$missing" ]; then ok "comparison array: one result per strategy"
    else not_ok "comparison array" "no result for:$missing" "$(cat "$T"/leash-compare-*.log 2> /dev/null)"; fi
else
    not_ok "comparison array: sbatch --wait failed" "$(cat "$T/sbatch.out")"
fi
