# Sourced by the Slurm tests (. "$(dirname "$0")/slurm_util.sh").

# wait_requeued JOB: until JOB has ended (COMPLETED, FAILED, CANCELLED, TIMEOUT) or 3
# minutes have passed; a job that requeued itself is started at once (Slurm holds a
# requeued job back for a while, its BeginTime). Leaves its final JobState in $state and
# its Restarts in $restarts.
wait_requeued() {
    local job=$1 info released=
    state= restarts=
    for _ in $(seq 1 900); do
        info=$(scontrol show job "$job" 2> /dev/null)
        state=$(grep -o 'JobState=[A-Z_]*' <<< "$info" | cut -d= -f2)
        restarts=$(grep -o 'Restarts=[0-9]*' <<< "$info" | cut -d= -f2)
        case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT) return ;; esac
        if [ "$state" = PENDING ] && [ "${restarts:-0}" -ge 1 ] && [ -z "$released" ]; then
            scontrol update JobId="$job" StartTime=now && released=1
        fi
        sleep 0.2
    done
}
