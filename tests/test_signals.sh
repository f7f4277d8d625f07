#!/bin/bash
# Stop signals (README "Checkpoints and signals"): SIGINT, SIGTERM and SIGUSR1 stop a run
# at the next mini-batch, with or without --checkpoint, alone and under mpirun: exit 75,
# the document says interrupted and is whole, no temporary file is left, and the stop
# line names the command that resumes (which then does).
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-signals.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/mpi_env.sh"
. "$(dirname "$0")/run_leash.sh"
echo "1..15"

# Epochs of a few milliseconds, far more than a test waits for: a stop lands mid-run.
R=(-D SYNTH --synth-train 2000 --synth-test 200 -b 50 -l 0.1 -e 100000)

# whole DOC: the document is interrupted, valid JSON, with consecutive whole epochs.
whole() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = len(d["epochs"])
if d["status"] != "interrupted": sys.exit(f"status {d['status']}")
if [e["epoch"] for e in d["epochs"]] != list(range(1, n + 1)): sys.exit("epochs out of order")
print(f"interrupted after {n} epochs")
EOF
}

# crc_ok FILE: a checkpoint whose last 4 bytes are the CRC-32 of the rest.
crc_ok() {
    python3 - "$1" <<'EOF'
import sys, zlib
b = open(sys.argv[1], "rb").read()
if b[:8] != b"LEASHCKP" or zlib.crc32(b[:-4]) != int.from_bytes(b[-4:], "little"):
    sys.exit("not a whole checkpoint")
EOF
}

# stop_after_start DIR PID SIG: once the run has written its first document, a moment of
# training, then the signal; the run's exit status.
stop_after_start() {
    while [ ! -s "$1/r.json" ] && kill -0 "$2" 2>/dev/null; do sleep 0.02; done
    sleep 0.3
    kill -"$3" "$2" 2>/dev/null
    local status=0
    wait "$2" || status=$?
    return $status
}

litter() { ls -A "$1" | grep '^\.leash-' || true; }

for sig in INT TERM USR1; do
    for ck in "" ck; do
        d=$T/$sig${ck:+-$ck}
        mkdir -p "$d"
        args=("${R[@]}" --output "$d/r.json")
        [ -n "$ck" ] && args+=(--checkpoint "$d/ck")
        "$LEASH" "${args[@]}" 2> "$d/stderr" & pid=$!
        status=0; stop_after_start "$d" $pid $sig || status=$?
        name="SIG$sig $([ -n "$ck" ] && echo with || echo without) --checkpoint: exit 75, the document interrupted and whole, no temporary file"
        last=$(tail -1 "$d/stderr")
        if [ -n "$ck" ]; then
            want="; to resume: $LEASH ${args[*]} --resume $d/ck"
            ckok=$(crc_ok "$d/ck" 2>&1)
        else
            want="; without --checkpoint it cannot be resumed (the result so far is in $d/r.json)"
            ckok=$([ ! -e "$d/ck" ] || echo "a checkpoint was written")
        fi
        if [ $status -eq 75 ] && why=$(whole "$d/r.json" 2>&1) && [ -z "$(litter "$d")" ] &&
           [ -z "$ckok" ] && [ "${last#*epochs}" = "$want" ]; then
            ok "$name ($why)"
        else
            not_ok "$name" "status $status" "${why:-}" "${ckok:-}" "litter: $(litter "$d")" \
                "stop line: $last" "expected: ...$want"
        fi
    done
done

# The stop line's command resumes the run: shortened to 3 epochs, it completes them.
d=$T/TERM-ck
cmd=$(tail -1 "$d/stderr" | sed 's/^.*; to resume: //; s/-e 100000/-e 3/')
rm -f "$d/ck"
"$LEASH" "${R[@]}" -e 2 --output "$d/r.json" --checkpoint "$d/ck" -q
status=0; eval "$cmd" -q 2> "$d/resume.err" || status=$?
if [ $status -eq 0 ] && out=$(python3 - "$d/r.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if (d["status"], d["resumes"], len(d["epochs"])) != ("complete", 1, 3):
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, {len(d['epochs'])} epochs")
EOF
); then ok "the stop line's command resumes the run from its checkpoint"
else not_ok "the stop line's command resumes the run from its checkpoint" "status $status" "command: $cmd" "${out:-}" "$(cat "$d/resume.err")"; fi

# Under mpirun: SIGUSR1 is forwarded to every rank (exit 75). On SIGINT and SIGTERM,
# mpirun sends SIGTERM to the ranks, which stop as alone, and exits with a status of its
# own (1 with Open MPI 4.1): the document and the checkpoint are what count.
for case in USR1: INT:ck TERM:; do
    sig=${case%:*} ck=${case#*:}
    d=$T/mpi-$sig
    mkdir -p "$d"
    args=(-a LSH "${R[@]}" -q --output "$d/r.json")
    [ -n "$ck" ] && args+=(--checkpoint "$d/ck")
    "$MPIRUN" -np 2 --oversubscribe "$LEASH" "${args[@]}" > /dev/null 2> "$d/stderr" & pid=$!
    status=0; stop_after_start "$d" $pid $sig || status=$?
    left=$(pgrep -f -- "--output $d/r.json" || true)
    name="mpirun -np 2, SIG$sig $([ -n "$ck" ] && echo with || echo without) --checkpoint: every rank stops, the document interrupted and whole"
    if { [ $sig != USR1 ] || [ $status -eq 75 ]; } && [ $status -ne 0 ] && why=$(whole "$d/r.json" 2>&1) &&
       { [ -z "$ck" ] || crc_ok "$d/ck"; } && [ -z "$left" ] && [ -z "$(litter "$d")" ]; then
        ok "$name (exit $status, $why)"
    else
        not_ok "$name" "status $status" "${why:-}" "left running: $left" "litter: $(litter "$d")" \
            "$(tail -3 "$d/stderr")"
        [ -n "$left" ] && kill -9 $left 2>/dev/null
    fi
done
# LSH with one worker repeats bit for bit: stopped by SIGUSR1 as soon as its first epoch is
# done and resumed, a run of each staleness policy (TAIL's sampled staleness, INVERSE's and
# FLEET's state in the checkpoint) ends as the uninterrupted run does. A stop that did not
# land (the run finished first) is tried again, and fails the point after three tries.
P=(-q -a LSH -n 1 -D SYNTH --synth-train 2000 --synth-test 200 -b 50 -l 0.1 -e 40 --seed 5)
for pol in TAIL INVERSE FLEET; do
    d=$T/policy-$pol
    mkdir -p "$d"
    "$LEASH" "${P[@]}" -t $pol --output "$d/full.json" 2> "$d/full.err"
    landed=
    for try in 1 2 3; do
        rm -f "$d/r.json" "$d/ck"
        "$LEASH" "${P[@]}" -t $pol --output "$d/r.json" --checkpoint "$d/ck" 2> "$d/stop.err" & pid=$!
        while [ ! -s "$d/r.json" ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done
        kill -USR1 $pid 2>/dev/null
        status=0; wait $pid || status=$?
        [ $status -eq 75 ] && landed=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["epochs"]))' "$d/r.json") && break
    done
    status=0
    [ -n "$landed" ] && { "$LEASH" "${P[@]}" -t $pol --output "$d/r.json" --checkpoint "$d/ck" \
        --resume "$d/ck" 2> "$d/resume.err" || status=$?; }
    name="LSH -n 1 -t $pol stopped after epoch ${landed:-?} and resumed: the uninterrupted run, bit for bit"
    want=$(fingerprint "$d/full.json") got=$([ -n "$landed" ] && [ $status -eq 0 ] && fingerprint "$d/r.json")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$name"
    else not_ok "$name" "${landed:-the stop never landed}; resume status $status" "got:  $got" "want: $want" \
        "$(cat "$d/stop.err" "$d/resume.err" 2>/dev/null | tail -3)"; fi
done
# A second signal while the stop's checkpoint is being written ends the run at once: exit
# 75, the temporary file removed, the previous checkpoint whole and unchanged. The model
# (19 million parameters, a 150 MB checkpoint) makes the write last long enough to be hit.
d=$T/second
mkdir -p "$d"
B=(-q -a SEQ -A fc:4000,relu,fc:4000,relu,fc -D SYNTH --synth-train 2000 --synth-test 200 -b 16
   -r 3 --checkpoint "$d/ck" --output "$d/r.json")
"$LEASH" "${B[@]}" -e 1 2> "$d/first.err"
cp "$d/ck" "$d/ck.first"
"$LEASH" "${B[@]}" -e 100000 --resume auto 2> "$d/second.err" & pid=$!
while [ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["epochs"]))' "$d/r.json" 2>/dev/null)" != 2 ] &&
    kill -0 $pid 2>/dev/null; do sleep 0.01; done
kill -USR1 $pid 2>/dev/null
hit=
for i in $(seq 2000); do
    [ -n "$(litter "$d")" ] && { kill -USR1 $pid 2>/dev/null; hit=yes; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.002
done
status=0; wait $pid || status=$?
name="a second signal during the stop's checkpoint: exit 75, no temporary file, the previous checkpoint whole and unchanged"
if [ -n "$hit" ] && [ $status -eq 75 ] && [ -z "$(litter "$d")" ] && cmp -s "$d/ck" "$d/ck.first" &&
    crc_ok "$d/ck"; then ok "$name"
else not_ok "$name" "second signal sent during the write: ${hit:-no}; status $status" \
    "litter: $(litter "$d")" "$(cmp "$d/ck" "$d/ck.first" 2>&1)" "$(tail -2 "$d/second.err")"; fi
rm -rf "$d"

# A FIFO as --output with no reader: the finished run waits for one, and the first
# SIGTERM ends that wait (exit 75, one line saying so), the FIFO left as it was.
d=$T/fifo
mkdir -p "$d" && mkfifo "$d/out"
"$LEASH" -D SYNTH --synth-train 2000 --synth-test 200 -b 50 -l 0.1 -e 1 --output "$d/out" 2> "$d/err" & pid=$!
for _ in $(seq 1 300); do grep -q '^epoch 1/1' "$d/err" && break; kill -0 $pid 2>/dev/null || break; sleep 0.02; done
sleep 0.2
waiting=$(kill -0 $pid 2>/dev/null && echo yes)
t0=$(date +%s%N)
kill -TERM $pid 2>/dev/null
for _ in $(seq 1 500); do kill -0 $pid 2>/dev/null || break; sleep 0.01; done
kill -KILL $pid 2>/dev/null # still waiting: the test fails, it does not hang
status=0; wait $pid || status=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
name="--output on a FIFO without a reader: the first SIGTERM ends the wait, exit 75, one line"
if [ "$waiting" = yes ] && [ $status -eq 75 ] && [ $ms -le 3000 ] && [ -p "$d/out" ] && [ -z "$(litter "$d")" ] &&
    [ "$(grep '^leash: ' "$d/err")" = "leash: --output $d/out: stopped while waiting for its reader; nothing more was written" ]
then ok "$name (in $ms ms)"
else not_ok "$name" "waiting: ${waiting:-no}; status $status after $ms ms" "$(tail -2 "$d/err")"; fi
[ $failed -eq 0 ]
