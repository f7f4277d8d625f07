#!/bin/bash
# Pins of leash 2301d6e ("the current release"), for the structural refactor of issue 20,
# which must change neither behaviour nor file formats: SEQ and SYNC runs (and the other
# runs that repeat bit for bit, doc/design.md section 10) must end with the same final
# parameters as that release, checkpoints must keep their layout, and checkpoints that
# release wrote must still resume. Every digest, loss and layout below was recorded by
# running leash 2301d6e; they must not change. If one does, the change altered training
# or the file format: find out why before re-recording anything (a deliberate change of
# behaviour is re-recorded in a commit that says so; the failure prints what it got).
#
# Bits depend on the machine (doc/design.md, "Another machine or build"): OpenBLAS picks
# its kernels for the CPU, and leash's elementwise loops have an AVX2 version. So every
# run here takes OpenBLAS's Haswell kernels (OPENBLAS_CORETYPE=Haswell, which any
# x86-64-v3 CPU runs; an AMD EPYC recorded these), and the points whose values depend on
# the kernels are skipped, saying why, where the CPU is not x86-64-v3 or the BLAS is not
# Debian's OpenBLAS 0.3.21 taking that core. Read from the files, the checkpoints' own
# figures (finished epochs, loss trace) do not depend on the machine and are always
# checked. (A build without target_clones, e.g. with clang, also rounds otherwise.)
#
# The checkpoints in tests/data were written by leash 2301d6e (configure; make) from the
# top of the source tree, with bash, as follows:
#
#   export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
#   SQ=(-a SEQ -D SYNTH --synth-train 2000 --synth-test 200 -L 1 -U 8 -b 10 -l 0.05 -m 0.5 --seed 5 -q)
#   LS=(-a LSH -n 2 -t TAIL -B 8 -D SYNTH --synth-train 2000 --synth-test 200 -L 1 -U 8 -b 10 -r 1000 -l 0.05 -m 0.5 --seed 5 -q)
#   # seq-2301d6e.ck (92,692 bytes): SEQ with momentum, stopped by SIGTERM inside epoch 3,
#   # after 500 updates (worker 0 slowed to 4 ms an update by the test hook, so that the
#   # stop lands inside the epoch); exit status 75.
#   rm -f /tmp/seq-stop.json
#   LEASH_TEST_SLOW_WORKER=0:0.004 ./leash "${SQ[@]}" -e 100 --checkpoint tests/data/seq-2301d6e.ck --output /tmp/seq-stop.json & pid=$!
#   until grep -q '"epoch": 2,' /tmp/seq-stop.json 2>/dev/null; do sleep 0.01; done
#   sleep 0.4; kill -TERM $pid; wait $pid
#   # lsh-2301d6e.ck (120,343 bytes): LSH with 2 workers, TAIL, -B 8 and momentum (a
#   # momentum buffer per worker, TAIL's staleness sample, a loss trace), stopped by SIGTERM
#   # inside epoch 3, after 2175 updates; tried again until the stop fell inside epoch 3.
#   until rm -f /tmp/lsh-stop.json
#         ./leash "${LS[@]}" -e 100 --checkpoint tests/data/lsh-2301d6e.ck --output /tmp/lsh-stop.json & pid=$!
#         until grep -q '"epoch": 2,' /tmp/lsh-stop.json 2>/dev/null; do sleep 0.002; done
#         kill -TERM $pid; wait $pid
#         grep -q '"gradients": 2[1-9][0-9][0-9],' /tmp/lsh-stop.json; do :; done
#
# Each was then resumed by the same leash (-e 4 --resume FILE, as below) to record the
# figures checked here; SEQ's resumed run ends with the digest and loss trace of the
# same run never stopped (54ef780ae9568e0b). Every recorded run here repeated bit for bit
# 3 times, on a loaded machine too, and in a build with AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -u
LEASH=${LEASH:-./leash}
MPIRUN=${MPIRUN:-mpirun}
DATA=$(dirname "$0")/data
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-pins.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/run_leash.sh"
. "$(dirname "$0")/mpi_env.sh"
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
py() { /usr/bin/python3 - "$@"; }

echo "1..14"

# --- where the recorded bits apply --------------------------------------------------
why=
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2> /dev/null | cut -d: -f2) "
for f in avx2 fma bmi1 bmi2 f16c movbe abm xsave; do
    case $flags in *" $f "*) ;; *) why="the CPU is not x86-64-v3 (no $f): leash's loops run their baseline version" ;; esac
done
run -q -D SYNTH --synth-train 100 --synth-test 10 -b 10 -e 1 -L 1 -U 2 --output "$T/probe.json"
blas=$(py "$T/probe.json" 2>&1 <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))["blas"]
print(f"{b['core']}|{b['config']}")
EOF
) || blas="?|leash failed: $(cat "$T/err")"
if [ -z "$why" ] && [ "${blas%%|*}" != Haswell ]; then
    why="OpenBLAS did not take OPENBLAS_CORETYPE=Haswell (${blas#*|}, core ${blas%%|*})"
elif [ -z "$why" ] && [ "${blas#*|}" = "${blas#*|OpenBLAS 0.3.21 }" ]; then
    why="recorded with OpenBLAS 0.3.21, this is ${blas#*|}"
fi

# fp DOC: the fingerprint of a finished run: the final parameters' digest (every rank's,
# which must agree), the last epoch's training and test loss, and a hash of the loss
# trace's points (updates and loss; their times are clocks).
fp() {
    py "$1" <<'EOF'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != "complete": sys.exit(f"status {d['status']}")
digests = {r["params_digest"] for r in d["per_rank"]}
if len(digests) != 1: sys.exit(f"the ranks' digests differ: {digests}")
e = d["epochs"][-1]
trace = hashlib.sha256(json.dumps([p[1:] for p in d["trace"]["points"]]).encode()).hexdigest()[:16]
print(digests.pop(), repr(e["train_loss"]), repr(e["test_loss"]), f"trace:{trace}")
EOF
}

# pin NAME EXPECTED ARGS...: leash ARGS (with $R) ends with the fingerprint EXPECTED.
R=(-q -D SYNTH --synth-train 1200 --synth-test 200 --seed 3)
pin() {
    local name=$1 want=$2 got; shift 2
    if [ -n "$why" ]; then skip "$name" "$why"; return; fi
    run "${R[@]}" "$@" --output "$T/pin.json"
    if [ "$status" -ne 0 ]; then not_ok "$name" "exit status $status" "$(cat "$T/err")"; return; fi
    got=$(fp "$T/pin.json" 2>&1)
    if [ "$got" = "$want" ]; then ok "$name (${want%% *})"
    else not_ok "$name" "got:  $got" "want: $want"; fi
}

# --- runs that repeat bit for bit: the release's final parameters --------------------
pin "SEQ, MLP -L 1 -U 32: the release's final parameters" \
    "e6405657b73363ea 0.36687206416516693 0.24626085705081224 trace:f2f3be56c7a685bf" \
    -a SEQ -b 32 -l 0.1 -L 1 -U 32 -e 2
pin "SYNC -n 2, MLP -L 1 -U 32: the release's final parameters" \
    "3384dbf95f39831a 1.2173895753092236 0.7086378873485373 trace:514e4464e0801246" \
    -a SYNC -n 2 -b 32 -l 0.1 -L 1 -U 32 -e 2
pin "SYNC -n 3 with momentum, tanh, He initialization: the release's final parameters" \
    "dc3c3f2d004d8eec 0.3075235229399469 0.32124686664699825 trace:61603bbe0bd891f5" \
    -a SYNC -n 3 -b 32 -l 0.1 -L 1 -U 32 -e 2 -m 0.5 --activation TANH --init HE
pin "SEQ, the MLP preset (3 x 128) with momentum: the release's final parameters" \
    "432e92caf6479a65 0.13874864774579937 0.3321463587145864 trace:42fa58932141fcfa" \
    -a SEQ -A MLP -b 32 -l 0.1 -m 0.5 --init HE -e 2
pin "SYNC -n 2, the CNN preset with momentum: the release's final parameters" \
    "c2b94aaa1ccd3a03 0.42575942382619186 0.4198318919181029 trace:109d36f166328dad" \
    -a SYNC -n 2 -A CNN -b 16 -l 0.05 -m 0.5 --init HE -e 2
pin "SEQ, a layer list (padded conv, tanh, avgpool, sigmoid), --input-scale unit: the release's final parameters" \
    "70fa70e3b71105fe 1.4191975625785622 1.0292788848352437 trace:091c3350ff7716ff" \
    -a SEQ -A conv:4:3:s1:p1,tanh,avgpool:2,fc:24,sigmoid,fc --init GLOROT --input-scale unit \
    -b 32 -l 0.1 -m 0.5 -e 2
pin "LSH -n 1 with TAIL, -B 4 and momentum (one worker: repeats): the release's final parameters" \
    "1d8776d6cbc28e5c 0.23669719353720947 0.1842240898127055 trace:0126f867ad46b250" \
    -a LSH -n 1 -t TAIL -B 4 -m 0.5 -b 32 -l 0.1 -L 1 -U 32 -e 2

# Two ranks of SYNC -n 2 with blocking averaging rounds every 5 updates.
name="mpirun -np 2, SYNC -n 2, blocking averaging every 5 updates: the release's final parameters"
want="0edd8af34c6ebdcf 1.9876908991071913 1.7598184209403553 trace:8483d0a1d7f5ed39"
if [ -n "$why" ]; then skip "$name" "$why"
elif timeout -k 5 300 "$MPIRUN" -np 2 --oversubscribe -x OPENBLAS_CORETYPE "$LEASH" "${R[@]}" \
        -a SYNC -n 2 -b 32 -l 0.1 -L 1 -U 32 -e 2 --avg-every 5 --avg-mode blocking \
        --output "$T/mpi.json" > /dev/null 2> "$T/mpi.err"; then
    got=$(fp "$T/mpi.json" 2>&1)
    if [ "$got" = "$want" ]; then ok "$name (${want%% *})"; else not_ok "$name" "got:  $got" "want: $want"; fi
else not_ok "$name" "$(tail -3 "$T/mpi.err")"; fi

# --- the layout of the files this leash writes ----------------------------------------
# layout FILE: magic, format version, then each section as TAG:LENGTH, and the CRC-32 of
# PARM's payload after a |; fails unless the file's own CRC is good.
layout() {
    py "$1" <<'EOF'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
if zlib.crc32(b[:-4]) != int.from_bytes(b[-4:], "little"): sys.exit("CRC mismatch")
out, off, parm = [b[:8].decode(), str(struct.unpack_from("<I", b, 8)[0])], 12, "none"
while off < len(b) - 4:
    tag, (n,) = b[off:off + 4].decode(), struct.unpack_from("<Q", b, off + 4)
    if tag == "PARM": parm = f"{zlib.crc32(b[off + 12:off + 12 + n]):08x}"
    out.append(f"{tag}:{n}")
    off += 12 + n
if off != len(b) - 4: sys.exit("the sections overrun the file")
print(" ".join(out) + "|" + parm)
EOF
}
# same_layout NAME FILE EXPECTED: FILE's layout is EXPECTED (its PARM's CRC only where
# the recorded bits apply; "-" for a run whose parameters vary).
same_layout() {
    local got want=$3
    got=$(layout "$2" 2>&1)
    if [ -n "$why" ] || [ "${want#*|}" = - ]; then got=${got%|*}; want=${want%|*}; fi
    [ "$got" = "$want" ] || echo "$1: got $got, want $want"
}

W=(-D SYNTH --synth-train 1200 --synth-test 200 -b 32 -l 0.1 --seed 3 -L 1 -U 8 -m 0.5 -e 1 -q)
run -a SEQ "${W[@]}" --checkpoint "$T/seq.ck" --save-model "$T/seq.lm" --output "$T/seq.json"
if [ "$status" -eq 0 ] && out=$(same_layout checkpoint "$T/seq.ck" \
        "LEASHCKP 2 CONF:260 DATA:12 ARCH:59 IMAP:12 EVAL:8 PARM:25536 RANK:62832 SPLT:92|80985498"
    same_layout "saved model" "$T/seq.lm" "LEASHMDL 2 ARCH:59 IMAP:12 EVAL:8 PARM:25536|80985498") &&
    [ -z "$out" ]; then
    ok "a SEQ checkpoint and saved model written now: the release's sections, lengths and parameters"
else not_ok "a SEQ checkpoint and saved model written now have the release's layout" "exit status $status" "$out" "$(cat "$T/err")"; fi

run -a LSH -n 2 -t TAIL -B 8 "${W[@]}" --checkpoint "$T/lsh.ck" --output "$T/lsh.json"
if [ "$status" -eq 0 ] && out=$(same_layout checkpoint "$T/lsh.ck" \
        "LEASHCKP 2 CONF:296 DATA:12 ARCH:59 IMAP:12 EVAL:8 PARM:25536 RANK:90588 SPLT:132|-") &&
    [ -z "$out" ]; then
    ok "an LSH -n 2 checkpoint with TAIL and momentum written now: the release's sections and lengths"
else not_ok "an LSH -n 2 checkpoint written now has the release's layout" "exit status $status" "$out" "$(cat "$T/err")"; fi

# --- checkpoints written by the release -----------------------------------------------
SQ=(-a SEQ -D SYNTH --synth-train 2000 --synth-test 200 -L 1 -U 8 -b 10 -l 0.05 -m 0.5 --seed 5 -q)
LS=(-a LSH -n 2 -t TAIL -B 8 -D SYNTH --synth-train 2000 --synth-test 200 -L 1 -U 8 -b 10 -r 1000 -l 0.05 -m 0.5 --seed 5 -q)

# evaluated NAME FILE EXPECTED: --evaluate scores the file's parameters (those its last
# finished epoch was scored on) as that epoch was: "test_loss test_accuracy".
evaluated() {
    local got
    if [ -n "$why" ]; then skip "$1" "$why"; return; fi
    run -D SYNTH --synth-train 2000 --synth-test 200 --seed 5 --evaluate "$2"
    got=$(py "$T/stdout" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(repr(d["test_loss"]), repr(d["test_accuracy"]))
EOF
)
    if [ "$status" -eq 0 ] && [ "$got" = "$3" ]; then ok "$1 ($3)"
    else not_ok "$1" "exit status $status" "got:  $got" "want: $3" "$(cat "$T/err")"; fi
}

# resumed DOC STOPPED_EPOCHS TRACE_HASH: checks common to both files: the run completed
# from the file (resumes 1, 4 epochs of UPDATES), its first 2 epochs are the file's, as
# recorded ("train_loss test_loss test_accuracy updates" each), and so are the trace's
# first points (the hash of their updates and losses, and how many).
resumed() {
    py "$@" <<'EOF'
import hashlib, json, math, sys
d = json.load(open(sys.argv[1]))
stopped, (points, trace), updates = sys.argv[2].split(";"), sys.argv[3].split(":"), int(sys.argv[4])
if (d["status"], d["resumes"], [e["epoch"] for e in d["epochs"]]) != ("complete", 1, [1, 2, 3, 4]):
    sys.exit(f"status {d['status']}, resumes {d['resumes']}, epochs {[e['epoch'] for e in d['epochs']]}")
if d["checkpoints"]["resumed_from"] is None: sys.exit("not resumed")
got = [" ".join(repr(e[k]) for k in ("train_loss", "test_loss", "test_accuracy", "updates")) for e in d["epochs"]]
if got[:2] != stopped: sys.exit(f"the file's epochs read back as {got[:2]}, recorded {stopped}")
if any(e["updates"] != updates for e in d["epochs"]): sys.exit(f"updates per epoch: {[e['updates'] for e in d['epochs']]}")
p = d["trace"]["points"][:int(points)]
h = hashlib.sha256(json.dumps([q[1:] for q in p]).encode()).hexdigest()[:16]
if h != trace: sys.exit(f"the file's {points} trace points read back with hash {h}, recorded {trace}")
if not all(math.isfinite(x) for e in d["epochs"] for x in (e["train_loss"], e["test_loss"])): sys.exit("a loss is not finite")
EOF
}

evaluated "seq-2301d6e.ck, written by the release: --evaluate scores it as its epoch 2" \
    "$DATA/seq-2301d6e.ck" "0.37693627600257235 0.875"
run "${SQ[@]}" -e 4 --resume "$DATA/seq-2301d6e.ck" --output "$T/seq-res.json"
if [ "$status" -ne 0 ]; then not_ok "seq-2301d6e.ck resumed" "exit status $status" "$(cat "$T/err")"
elif ! out=$(resumed "$T/seq-res.json" \
        "0.7497626416105777 0.2966034875680483 0.905 200;0.18392801309906645 0.37693627600257235 0.875 200" \
        "50:163d0c44b3ebd72d" 200 2>&1); then not_ok "seq-2301d6e.ck resumed" "$out"
elif [ -n "$why" ]; then ok "seq-2301d6e.ck resumed to 4 epochs: its epochs and trace carried over (final digest not checked: $why)"
else
    got=$(fp "$T/seq-res.json" 2>&1)
    want="54ef780ae9568e0b 0.038012589173031304 0.1787191428185319 trace:1764c24066160e26"
    if [ "$got" = "$want" ]; then ok "seq-2301d6e.ck resumed to 4 epochs: its epochs and trace carried over, the release's final parameters (${want%% *})"
    else not_ok "seq-2301d6e.ck resumed to 4 epochs: the release's final parameters" "got:  $got" "want: $want"; fi
fi

evaluated "lsh-2301d6e.ck, written by the release: --evaluate scores it as its epoch 2" \
    "$DATA/lsh-2301d6e.ck" "1.58644730659694 0.745"
# LSH with 2 workers does not repeat: the resumed run goes on from the file's state (its
# timestamps from the file's 2175 updates, to 4 epochs of 1000) and trains on. The bounds
# leave room: 100 resumed runs, half of them on a loaded machine, ended with training
# loss 0.83 at most and test accuracy 0.62 at least (an untrained model: 2.30 and 0.1).
run "${LS[@]}" -e 4 --resume "$DATA/lsh-2301d6e.ck" --output "$T/lsh-res.json"
if [ "$status" -ne 0 ]; then not_ok "lsh-2301d6e.ck resumed" "exit status $status" "$(cat "$T/err")"
elif ! out=$(resumed "$T/lsh-res.json" \
        "0.9854225734278443 1.1293037666132169 0.67 1000;0.771396591041714 1.58644730659694 0.745 1000" \
        "43:b3ce3957aa6d02a2" 1000 2>&1); then not_ok "lsh-2301d6e.ck resumed" "$out"
elif out=$(py "$T/lsh-res.json" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ts, upd, e = d["sync"]["timestamp"], d["final"]["updates"], d["epochs"][-1]
if (ts, upd) != (4000, 4000): sys.exit(f"timestamp {ts}, updates {upd}: expected 4000 and 4000")
if len(d["trace"]["points"]) != 80: sys.exit(f"{len(d['trace']['points'])} trace points, expected 80 (every 50 updates)")
if not (e["train_loss"] < 1.5 and e["test_accuracy"] >= 0.4):
    sys.exit(f"epoch 4: training loss {e['train_loss']}, test accuracy {e['test_accuracy']}")
print(f"epoch 4: training loss {e['train_loss']:.3f}, test accuracy {e['test_accuracy']}")
EOF
); then ok "lsh-2301d6e.ck resumed to 4 epochs: its epochs and trace carried over, timestamps go on to 4000 ($out)"
else not_ok "lsh-2301d6e.ck resumed to 4 epochs" "$out"; fi

[ "$failed" -eq 0 ]
