#!/bin/bash
# The job scripts in jobs/ without a cluster: each runs as the batch script of a made-up
# job (SLURM_* set by hand), with an srun that records its arguments and runs the
# program once, as one rank, and a scontrol that records its arguments. Outside a job
# they say to use sbatch; a LEASH that is no program is refused; LEASH_ARGS keeps its
# quotes and expands nothing, and the script's own arguments reach leash as they are;
# "result: FILE" only when the run wrote FILE; the multi-node script stops when
# leash --topology fails. tests/test_slurm.sh runs them under a real Slurm.
set -u
LEASH=${LEASH:-./leash}
LEASH=$(cd "$(dirname "$LEASH")" && pwd)/$(basename "$LEASH")
JOBS=${LEASH_JOBS_DIR:-$(cd "$(dirname "$0")/../jobs" && pwd)}
. "$(dirname "$0")/tap.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-jobs.XXXXXX")
trap 'rm -rf "$T"' EXIT
# The test may itself run inside a Slurm job: none of its variables reach the scripts.
unset "${!SLURM_@}"
export OPENBLAS_NUM_THREADS=1

# The scripts' PATH: the fake srun and scontrol, and the few tools they use, nothing else
# (no real srun, no installed leash).
mkdir -p "$T/bin" "$T/work" "$T/submit"
for tool in stat head sed cat; do ln -s "$(type -P "$tool")" "$T/bin/$tool"; done
cat > "$T/bin/srun" <<EOF
#!$BASH
printf '%s\0' "\$@" > "$T/srun.args"
while [ \$# -gt 0 ] && [[ \$1 == -* ]]; do shift; done
exec "\$@"
EOF
cat > "$T/bin/scontrol" <<EOF
#!$BASH
echo "\$*" > "$T/scontrol.args"
EOF
chmod +x "$T/bin/srun" "$T/bin/scontrol"

small="-D SYNTH --synth-train 600 --synth-test 100 -b 16 -e 1 -q"
CPUS=2

# job NAME [VAR=VALUE...] [-- ARG...]: jobs/leash-NAME.sbatch as the batch script of job 7
# on one node with 2 CPUs a task, run in $T/work, submitted from $T/submit; LEASH is the
# leash under test and LEASH_ARGS $small unless given. Sets status, and leaves stdout,
# stderr and srun's arguments (if it ran) in $T.
job() {
    local name=$1 vars=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    [ $# -eq 0 ] || shift
    rm -rf "$T/srun.args" "$T/scontrol.args" "$T/work"
    mkdir "$T/work"
    (cd "$T/work" && env PATH="$T/bin" SLURM_JOB_ID=7 SLURM_JOB_NUM_NODES=1 SLURM_NNODES=1 \
        SLURM_NTASKS=1 SLURM_CPUS_PER_TASK=$CPUS SLURM_SUBMIT_DIR="$T/submit" \
        LEASH="$LEASH" LEASH_ARGS="$small" "${vars[@]}" \
        "$BASH" "$JOBS/leash-$name.sbatch" "$@") > "$T/stdout" 2> "$T/stderr"
    status=$?
}
srun_ran() { [ -e "$T/srun.args" ]; }
# srun_argv ARG...: srun got exactly these arguments.
srun_argv() { srun_ran && cmp -s "$T/srun.args" <(printf '%s\0' "$@"); }
shown_argv() { srun_ran && tr '\0' ' ' < "$T/srun.args"; }
# refused NAME STATUS LINE: exit status STATUS, LINE the last line on stderr, srun never ran.
refused() {
    local got
    got=$(tail -1 "$T/stderr")
    if [ $status -eq "$2" ] && [ "$got" = "$3" ] && ! srun_ran; then ok "$1"
    else not_ok "$1" "exit status $status (expected $2), srun ran: $(srun_ran && echo yes || echo no)" \
        "stderr: $(text "$T/stderr")" "expected: $3"; fi
}
# text FILE...: the files' lines joined with " | ", for a one-line diagnostic.
text() { cat -- "$@" 2> /dev/null | sed -z 's/\n$//; s/\n/ | /g'; }
complete() { grep -q '"status": "complete"' "$1" 2> /dev/null; }

# The layout leash-multinode derives, from the first line of leash --topology.
machine=$("$LEASH" --topology | head -1)
numa=$(grep -o '[0-9]* NUMA node' <<< "$machine" | grep -o '^[0-9]*')
cores=$(grep -o '[0-9]* cores' <<< "$machine" | grep -o '^[0-9]*')
per_rank=$((cores / numa))

echo "1..28"

for name in hybrid multinode; do
    me=leash-$name
    # Run by hand: one line saying how to submit it.
    rm -f "$T/srun.args"
    (cd "$T/work" && env -u SLURM_JOB_ID PATH="$T/bin" LEASH="$LEASH" "$BASH" "$JOBS/$me.sbatch") \
        > "$T/stdout" 2> "$T/stderr"
    status=$?
    expected="$me: not inside a Slurm job: submit it with sbatch $JOBS/$me.sbatch"
    if [ $status -eq 2 ] && [ "$(text "$T/stderr")" = "$expected" ] && [ ! -s "$T/stdout" ] && ! srun_ran; then
        ok "$me outside Slurm: exit status 2, one line: submit it with sbatch"
    else not_ok "$me outside Slurm" "exit status $status" "stderr: $(text "$T/stderr")" "expected: $expected"; fi

    # LEASH names a directory (a source tree called leash), a file that is no program.
    mkdir -p "$T/tree/leash"
    job "$name" LEASH="$T/tree/leash"
    refused "$me: LEASH naming a directory is refused" 2 "$me: LEASH=$T/tree/leash is a directory, not the leash program"
    : > "$T/notexec"
    job "$name" LEASH="$T/notexec"
    refused "$me: LEASH naming a file that is not executable is refused" 2 "$me: LEASH=$T/notexec is not an executable file"

    # Not on PATH: the submit directory's ./leash is a directory (the source tree), and
    # build/leash the program.
    rm -rf "$T/submit"
    mkdir -p "$T/submit/leash" "$T/submit/build"
    printf '#!%s\nexec "%s" "$@"\n' "$BASH" "$LEASH" > "$T/submit/build/leash"
    chmod +x "$T/submit/build/leash"
    job "$name" LEASH=
    if [ $status -eq 0 ] && srun_ran && grep -qzxF "$T/submit/build/leash" "$T/srun.args" && complete "$T/work/$me-7.json"; then
        ok "$me: past a directory named leash in the submit directory, to its build/leash"
    else not_ok "$me: finds the submit directory's build/leash" "exit status $status" "srun: $(shown_argv)" "$(text "$T/stderr")"; fi
    rm -rf "$T/submit"; mkdir -p "$T/submit"

    # LEASH_ARGS with the shell's quoting, and a glob that would match a file: the model
    # is saved under the name as written, the file the glob matches is left alone.
    dir="$T/my models $name"
    mkdir -p "$dir"
    echo decoy > "$dir/m1.model"
    job "$name" LEASH_ARGS="$small --save-model '$dir/m*.model' --seed \"2\" -l 0\\.05"
    if [ $status -eq 0 ] && [ -s "$dir/m*.model" ] && [ "$(cat "$dir/m1.model")" = decoy ] &&
       grep -qzxF -- "$dir/m*.model" "$T/srun.args" && grep -qzx -- 2 "$T/srun.args" &&
       grep -qzxF -- 0.05 "$T/srun.args"; then
        ok "$me: LEASH_ARGS keeps its quoting ('a space/m*', \"2\", 0\\.05) and expands no glob"
    else not_ok "$me: LEASH_ARGS keeps its quotes" "exit status $status" "srun: $(shown_argv)" "$(ls "$dir" | text)" "$(text "$T/stderr")"; fi

    # Arguments after the script's name (sbatch passes them on): as they are, after
    # LEASH_ARGS and before the script's own options.
    dir="$T/args dir $name"
    mkdir -p "$dir"
    echo decoy > "$dir/n1.model"
    job "$name" LEASH_ARGS="-e 3" -- -- -e 1 -D SYNTH --synth-train 600 --synth-test 100 -b 16 -q \
        --save-model "$dir/n*.model"
    if [ $name = hybrid ]; then lead=(--mpi=pmix "--cpus-per-task=$CPUS" "$LEASH" -a LSH -n "$CPUS")
    else lead=(--mpi=pmix --nodes=1 "--ntasks-per-node=$numa" "--ntasks=$numa" "--cpus-per-task=$per_rank"
               --cpu-bind=cores "$LEASH" -a LSH -n "$per_rank"); fi
    if [ $status -eq 0 ] && [ -s "$dir/n*.model" ] && [ "$(cat "$dir/n1.model")" = decoy ] &&
       srun_argv "${lead[@]}" --avg-every 100 -e 3 -e 1 -D SYNTH --synth-train 600 --synth-test 100 -b 16 -q \
           --save-model "$dir/n*.model" --checkpoint $me-7.ckpt --resume auto --checkpoint-period 600 \
           --output $me-7.json; then
        ok "$me: the arguments after the script reach leash as they are, after LEASH_ARGS"
    else not_ok "$me: the arguments after the script reach leash" "exit status $status" "srun: $(shown_argv)" "$(text "$T/stderr")"; fi

    # The options the script gives leash itself, abbreviated as leash allows.
    job "$name" -- --out="$T/elsewhere.json"
    refused "$me: --out=FILE among the arguments is refused: set LEASH_OUT" 2 \
        "$me: --out=$T/elsewhere.json: the script gives leash this option: set LEASH_OUT instead"
    job "$name" LEASH_ARGS="$small --res '$T/x.ckpt'"
    refused "$me: --res FILE in LEASH_ARGS is refused: set LEASH_CHECKPOINT" 2 \
        "$me: --res: the script gives leash this option: set LEASH_CHECKPOINT instead"

    job "$name" LEASH_ARGS="$small --save-model 'unclosed"
    refused "$me: an unmatched quote in LEASH_ARGS is refused" 2 \
        "$me: LEASH_ARGS: unmatched ' quote: $small --save-model 'unclosed"

    # The result document: named when this run wrote it, not when leash failed before
    # writing it (here -e 0, a usage error), nor when it is an earlier run's.
    out="$T/out dir $name/r*.json"
    mkdir -p "$(dirname "$out")"
    job "$name" LEASH_OUT="$out"
    if [ $status -eq 0 ] && [ "$(tail -1 "$T/stdout")" = "result: $out (exit status 0)" ] && complete "$out"; then
        ok "$me: result: FILE (exit status 0), FILE complete"
    else not_ok "$me: result: FILE when written" "exit status $status" "$(text "$T/stdout" "$T/stderr")"; fi
    job "$name" LEASH_OUT="$T/none.json" LEASH_ARGS="$small -e 0"
    if [ $status -eq 2 ] && ! grep -q '^result:' "$T/stdout" && [ ! -e "$T/none.json" ] &&
       [ "$(tail -1 "$T/stderr")" = "$me: no result written to $T/none.json (exit status 2)" ]; then
        ok "$me: leash fails before writing: no result line, \"no result written\", its exit status"
    else not_ok "$me: no result line when none was written" "exit status $status" "$(text "$T/stdout" "$T/stderr")"; fi
    echo '{"earlier": true}' > "$T/earlier.json"
    touch -d '2020-01-01' "$T/earlier.json"
    job "$name" LEASH_OUT="$T/earlier.json" LEASH_ARGS="$small -e 0"
    if [ $status -eq 2 ] && ! grep -q '^result:' "$T/stdout" && [ "$(cat "$T/earlier.json")" = '{"earlier": true}' ] &&
       [ "$(tail -1 "$T/stderr")" = "$me: no result written to $T/earlier.json (exit status 2)" ]; then
        ok "$me: an earlier run's document is not this run's result"
    else not_ok "$me: an earlier run's document is not this run's result" "exit status $status" "$(text "$T/stdout" "$T/stderr")"; fi
done

# A leash that stops early (75): the job requeues itself and names no result.
cat > "$T/stops" <<EOF
#!$BASH
case "\$*" in *--topology*) exec "$LEASH" --topology ;; esac
exit 75
EOF
chmod +x "$T/stops"
for name in hybrid multinode; do
    me=leash-$name
    job "$name" LEASH="$T/stops"
    if [ $status -eq 0 ] && [ "$(cat "$T/scontrol.args" 2> /dev/null)" = "requeue 7" ] && ! grep -q '^result:' "$T/stdout" &&
       [ "$(tail -1 "$T/stdout")" = "$me: stopped early with checkpoint $me-7.ckpt; requeueing job 7" ]; then
        ok "$me: stopped early (75): scontrol requeue 7, exit status 0, no result line"
    else not_ok "$me: requeue after 75" "exit status $status" "$(text "$T/stdout" "$T/stderr")"; fi
done

# leash-multinode without a layout: leash --topology fails, or says nothing usable.
cat > "$T/notopo" <<EOF
#!$BASH
echo "leash: cannot read the machine's topology" >&2
exit 1
EOF
printf '#!%s\necho "machine: unknown"\n' "$BASH" > "$T/oddtopo"
chmod +x "$T/notopo" "$T/oddtopo"
job multinode LEASH="$T/notopo"
refused "leash-multinode: leash --topology fails: the job stops, exit status 1" 1 \
    "leash-multinode: $T/notopo --topology failed (exit status 1): cannot tell the nodes' layout"
job multinode LEASH="$T/oddtopo"
refused "leash-multinode: leash --topology gives no NUMA nodes and cores: the job stops" 1 \
    "leash-multinode: $T/oddtopo --topology gave no NUMA nodes and cores: machine: unknown"

[ $failed -eq 0 ]
