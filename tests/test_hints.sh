#!/bin/bash
# Messages that say what to do: a missing data directory names the files expected and
# where they are looked for; oversubscribed workers say how to give the process more
# cores, and following that advice (mpirun --map-by slot:PE=N) silences the warning;
# --topology under mpirun --bind-to none shows the share of the node each rank uses.
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-hints.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"

. "$(dirname "$0")/mpi_env.sh"
SYNTH=(-q -D SYNTH --synth-train 400 --synth-test 100 -b 20 -e 1 -a LSH)

# expect_line NAME EXPECTED ARGS...: exit 2 and exactly that line on stderr.
expect_line() {
    local name=$1 expected=$2 status=0 got; shift 2
    "$LEASH" "$@" > /dev/null 2> "$T/err" || status=$?
    got=$(cat "$T/err")
    if [ $status -ne 2 ]; then not_ok "$name" "exit status $status, expected 2" "stderr: $got"
    elif [ "$got" != "$expected" ]; then not_ok "$name" "stderr: $got" "expected: $expected"
    else ok "$name"; fi
}

echo "1..8"

CIFAR="binary version: data_batch_1.bin to data_batch_5.bin and test_batch.bin"
expect_line "missing CIFAR-10 directory: the files expected in it" \
    "leash: $T/nowhere: cannot open data directory: No such file or directory; the directory should hold CIFAR10's $CIFAR" \
    -q -D CIFAR10 --data-dir "$T/nowhere"
mkdir -p "$T/empty"
expect_line "CIFAR-10 directory without its files: the first missing one, and all expected" \
    "leash: $T/empty/data_batch_1.bin: not found; the directory should hold CIFAR10's $CIFAR" \
    -q -D CIFAR10 --data-dir "$T/empty"

default=/usr/share/datasets/mnist
if [ -e "$default" ]; then skip "missing default MNIST directory: how to choose another" "$default exists"
else
    expect_line "missing default MNIST directory: how to choose another" \
        "leash: $default: cannot open data directory: No such file or directory; the directory should hold MNIST's train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or .gz; it is the default directory of -D MNIST: give another with --data-dir" \
        -q -D MNIST
fi

# The rest needs two cores: one for a bound process, two for one with room to share.
cores=$("$LEASH" --topology | sed -n 's/^machine: .*, \([0-9]*\) cores, .*/\1/p')
pus=$("$LEASH" --topology | sed -n 's/^machine: .*, \([0-9]*\) PUs$/\1/p')
if [ "${cores:-0}" -lt 2 ]; then
    for t in "taskset: the process's share" "mpirun: one core per rank" "mpirun --map-by slot:PE=2" \
        "--topology under mpirun --bind-to none" "a run under mpirun --bind-to none"; do
        skip "$t" "needs 2 cores, this machine has ${cores:-?}"
    done
    [ $failed -eq 0 ]; exit
fi

status=0
taskset -c 0 "$LEASH" "${SYNTH[@]}" -n 2 > /dev/null 2> "$T/err" || status=$?
want="leash: warning: 2 workers on 1 PU: oversubscribed; this process was given 1 of this machine's $pus PUs"
if [ $status -eq 0 ] && [ "$(cat "$T/err")" = "$want" ]; then ok "taskset -c 0, 2 workers: the process's share of the machine"
else not_ok "taskset -c 0, 2 workers: the process's share of the machine" "status $status" "stderr: $(cat "$T/err")" "expected: $want"; fi

# Open MPI binds each of 2 ranks to one core unless told otherwise.
status=0
"$MPIRUN" -np 2 --oversubscribe --bind-to core "$LEASH" "${SYNTH[@]}" -n 2 > /dev/null 2> "$T/err" || status=$?
hint="give each rank 2 cores: mpirun --map-by slot:PE=2 (or --bind-to none, and the ranks on a node split its cores), srun --cpus-per-task=2"
lines=$(grep -c "^leash: rank [01]: warning: 2 workers on 1 PU: oversubscribed; $hint$" "$T/err")
if [ $status -eq 0 ] && [ "$lines" -eq 2 ]; then ok "mpirun --bind-to core, 2 workers: each rank says how to give it 2 cores"
else not_ok "mpirun --bind-to core, 2 workers: each rank says how to give it 2 cores" "status $status" "$(cat "$T/err")"; fi

status=0
"$MPIRUN" -np 1 --map-by slot:PE=2 "$LEASH" "${SYNTH[@]}" -n 2 > /dev/null 2> "$T/err" || status=$?
if [ $status -eq 0 ] && ! grep -q oversubscribed "$T/err"; then ok "mpirun --map-by slot:PE=2, 2 workers: no warning"
else not_ok "mpirun --map-by slot:PE=2, 2 workers: no warning" "status $status" "$(cat "$T/err")"; fi

# Two ranks given the whole machine split its cores: rank 0 keeps the first half.
status=0
topo=$("$MPIRUN" -np 2 --oversubscribe --bind-to none "$LEASH" --topology 2> "$T/err") || status=$?
half=$((cores / 2))
if [ $status -eq 0 ] && grep -q '^shared by the 2 ranks on this node given it: rank 0 uses ' <<<"$topo" &&
   grep -q "^placement: compact, 1 worker on PU [0-9]* ($half cores\{0,1\}, " <<<"$topo"; then
    ok "--topology under mpirun --bind-to none: rank 0 plans on its $half of $cores cores"
else not_ok "--topology under mpirun --bind-to none: rank 0 plans on its $half of $cores cores" "status $status" "$topo" "$(cat "$T/err")"; fi

# ... and the run itself uses that share: the plan printed at start matches.
status=0
"$MPIRUN" -np 2 --oversubscribe --bind-to none "$LEASH" -D SYNTH --synth-train 400 --synth-test 100 \
    -b 20 -e 1 > /dev/null 2> "$T/err" || status=$?
run_plan=$(grep '^placement: ' "$T/err")
topo_plan=$(grep '^placement: ' <<<"$topo")
if [ $status -eq 0 ] && [ -n "$run_plan" ] && [ "$run_plan" = "$topo_plan" ]; then
    ok "a run under mpirun --bind-to none plans as --topology said"
else not_ok "a run under mpirun --bind-to none plans as --topology said" "status $status" "run: $run_plan" "--topology: $topo_plan"; fi

[ $failed -eq 0 ]
