#!/bin/bash
# leash-sweep run locally: a grid of cells, each one document named after its settings
# and a hash of its command line; the same command again skips every finished cell and
# reruns (resumes) a killed one, but other options after -- make other cells; cells that
# make no sense are skipped; bad grids, directories and programs are refused with one
# line; a stop signal reaches the running cell once; failed cells make the exit non-zero;
# one sweep at a time in a directory. With --slurm (a stand-in sbatch records what it is
# given): sbatch's options stay apart from leash's, every cell is checked first, the
# script quotes its paths and runs a task's cell, and a later submission does not change
# what an earlier one runs.
set -u
LEASH=${LEASH:-./leash}
SWEEP=${LEASH_SWEEP:-$(dirname "$0")/../tools/leash-sweep}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-sweep.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
echo "1..25"

# The leash options every cell shares, after --.
FIXED=(-D SYNTH --synth-train 6000 --synth-test 300 -b 16 -e 2 --target-loss 0.5)
TINY=(-D SYNTH --synth-train 600 --synth-test 100 -b 16)
# Long enough to be stopped halfway.
LONG=(-D SYNTH --synth-train 30000 --synth-test 300 -b 16 -e 10)
grid=(-a SEQ,LSH -n 1,2 -l 0.05,0.1 --repeats 2)
out=$T/sweep

statuses() { python3 - "$1" <<'EOF'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    if "leash_version" in d:
        c = d["config"]
        print(os.path.basename(f), d["status"], c["algorithm"], c["threads"], c["step"], c["seed"], c["epochs"])
EOF
}
# one_line FILE: what a refusal prints, one line of leash-sweep's own.
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && grep -q '^leash-sweep: ' "$1" && ! grep -q Traceback "$1"; }
# wait_for GLOB: until a file matches it (a cell's first checkpoint), at most 15 s.
wait_for() { for _ in $(seq 1 300); do compgen -G "$1" > /dev/null && return 0; sleep 0.05; done; return 1; }
# leashes DIR: the pids of the leash processes that write into DIR.
leashes() { pgrep -f -- "--output $1/" | tr '\n' ' '; }

# SEQ with -n 2 makes no sense: 2 x 2 of the 8 combinations go, 6 x 2 seeds remain.
"$SWEEP" "${grid[@]}" --out "$out" --leash "$LEASH" -- "${FIXED[@]}" 2> "$T/first.err"
status=$?
docs=$(statuses "$out")
if [ $status -eq 0 ] && [ "$(wc -l <<< "$docs")" -eq 12 ] && ! grep -qv " complete " <<< "$docs" &&
   [ "$(grep -c 'skipped (makes no sense): -a SEQ -n 2' "$T/first.err")" -eq 2 ] &&
   grep -q '^\[12/12\] .* elapsed, ETA 0:00:00: ' "$T/first.err" &&
   compgen -G "$out/a-LSH_n-2_l-0.1_seed-2_??????????.json" > /dev/null &&
   [ -z "$(ls "$out" | grep '\.ckpt$')" ]; then
    ok "a 2 x 2 x 2 grid with 2 seeds: 12 complete documents named after their cells, progress lines, 2 cells skipped"
else
    not_ok "the first sweep" "status $status" "$docs" "$(tail -5 "$T/first.err")"
fi

# Every document's settings are the ones its name gives, and it ran the options after --.
if python3 - "$out" "${FIXED[@]}" <<'EOF'
import glob, json, os, re, sys
for f in glob.glob(os.path.join(sys.argv[1], "*.json")):
    m = re.fullmatch(r"a-(\w+)_n-(\d)_l-([\d.]+)_seed-(\d)_[0-9a-f]{10}\.json", os.path.basename(f))
    d = json.load(open(f))
    c = d["config"]
    want = (c["algorithm"], str(c["threads"]), f"{c['step']:g}", str(c["seed"]))
    ran = d["provenance"]["command_line"]
    if not m or m.groups() != want or " ".join(sys.argv[2:]) not in " ".join(ran):
        sys.exit(f"{f}: {want} {ran}")
EOF
then ok "each document holds the settings its name says"; else not_ok "each document holds the settings its name says"; fi

# The same command again: nothing to run.
stamp=$(stat -c %Y "$out"/*.json | sort | md5sum)
"$SWEEP" "${grid[@]}" --out "$out" --leash "$LEASH" -- "${FIXED[@]}" 2> "$T/again.err"
if grep -q "12 of 12 cells already finished" "$T/again.err" && ! grep -q '^\[' "$T/again.err" &&
   [ "$(stat -c %Y "$out"/*.json | sort | md5sum)" = "$stamp" ]; then
    ok "the same command again skips every finished cell"
else not_ok "the same command again skips every finished cell" "$(cat "$T/again.err")"; fi

# Other options after --: other cells, run anew, beside the first ones.
out7=$T/fixed
"$SWEEP" -a LSH -l 0.05 --out "$out7" --leash "$LEASH" -- "${TINY[@]}" -e 1 2> "$T/fixed1.err"
"$SWEEP" -a LSH -l 0.05 --out "$out7" --leash "$LEASH" -- "${TINY[@]}" -e 2 2> "$T/fixed2.err"
docs=$(statuses "$out7")
if ! grep -q "already finished" "$T/fixed2.err" && [ "$(grep -c ' complete LSH ' <<< "$docs")" -eq 2 ] &&
   [ "$(awk '{print $NF}' <<< "$docs" | sort | tr '\n' ' ')" = "1 2 " ]; then
    ok "other options after -- are other cells: run anew, never taken as finished"
else not_ok "other options after -- are other cells" "$docs" "$(cat "$T/fixed2.err")"; fi

# Two values that would make one file name (a/b and a_b), and values too long for one:
# one document per cell all the same.
out8=$T/names
"$SWEEP" --data-dir "$T/a_b,$T/a/b" --out "$out8" --leash "$LEASH" -- "${TINY[@]}" -e 1 2> "$T/names.err"
status=$?
if [ $status -eq 0 ] && [ "$(statuses "$out8" | grep -c ' complete ')" -eq 2 ]; then
    ok "two cells whose settings read alike write two documents"
else not_ok "two cells whose settings read alike write two documents" "status $status" "$(ls "$out8")" "$(cat "$T/names.err")"; fi
out9=$T/long
x=$(printf 'x%.0s' {1..300})
"$SWEEP" --data-dir "$T/$x,$T/y$x" --out "$out9" --leash "$LEASH" -- "${TINY[@]}" -e 1 2> "$T/long.err"
status=$?
if [ $status -eq 0 ] && [ "$(statuses "$out9" | grep -c ' complete ')" -eq 2 ]; then
    ok "settings too long for a file name: the name is cut, the cells run"
else not_ok "settings too long for a file name" "status $status" "$(cat "$T/long.err")"; fi

# A cell killed halfway (SIGKILL: no chance to write anything) is run again by the next
# sweep, which finishes it; the others are not touched.
out2=$T/killed
long=(-D SYNTH --synth-train 30000 --synth-test 300 -b 16 -e 3)
"$SWEEP" -a LSH -n 2 -l 0.05,0.1 --out "$out2" --leash "$LEASH" --checkpoint-period 0.2 -- "${long[@]}" \
    2> "$T/killed.err" &
sweep=$!
victim=
for _ in $(seq 1 300); do
    # The cell's run, not leash-sweep's check of its arguments (the same command line
    # with --topology after it).
    victim=$(pgrep -f -- "--output $out2/a-LSH_n-2_l-0.1_seed-1_.* --resume auto\$" | head -1)
    [ -n "$victim" ] && break
    sleep 0.05
done
sleep 0.5
[ -n "$victim" ] && kill -KILL "$victim"
wait $sweep
before=$(statuses "$out2")
"$SWEEP" -a LSH -n 2 -l 0.05,0.1 --out "$out2" --leash "$LEASH" --checkpoint-period 0.2 -- "${long[@]}" \
    2> "$T/rerun.err"
after=$(statuses "$out2")
if [ -n "$victim" ] && ! grep -q "l-0.1_seed-1_.* complete" <<< "$before" &&
   grep -q "1 of 2 cells already finished" "$T/rerun.err" &&
   [ "$(grep -c ' complete ' <<< "$after")" -eq 2 ]; then
    ok "a cell killed halfway is rerun by the same command, and completes"
else not_ok "a cell killed halfway is rerun" "victim ${victim:-none}" "before: $before" "after: $after" "$(cat "$T/rerun.err")"; fi

# ^C (SIGINT to the sweep's process group, as a terminal sends it): the cell stops at a
# safe point with its checkpoint and an "interrupted" document (a second signal would
# have ended it at once, without either), and the sweep exits 130 with the resume hint.
# Meanwhile a second sweep on the same directory is refused.
out3=$T/interrupted
setsid "$SWEEP" -a LSH -n 2 -l 0.05 --out "$out3" --leash "$LEASH" --checkpoint-period 0.2 -- "${LONG[@]}" \
    2> "$T/int.err" &
sweep=$!
wait_for "$out3/*.ckpt"
status2=0
"$SWEEP" -a LSH -n 2 -l 0.05 --out "$out3" --leash "$LEASH" -- "${LONG[@]}" 2> "$T/second.err" || status2=$?
kill -INT -- -$sweep
wait $sweep
status=$?
left=$(leashes "$out3")
if [ $status -eq 130 ] && [ -z "$left" ] && grep -q " interrupted LSH " <<< "$(statuses "$out3")" &&
   compgen -G "$out3/*.ckpt" > /dev/null && grep -q 'run the same command to continue' "$T/int.err" &&
   ! grep -q Traceback "$T/int.err"; then
    ok "^C: the cell stops with its checkpoint, the sweep exits 130 with the resume hint"
else not_ok "^C stops the cell once" "status $status" "leash left: $left" "$(statuses "$out3")" "$(cat "$T/int.err")"; fi
if [ $status2 -eq 2 ] && one_line "$T/second.err" && grep -q 'another leash-sweep is using it' "$T/second.err"; then
    ok "a second sweep on the same directory is refused while the first runs"
else not_ok "a second sweep on the same directory is refused" "status $status2" "$(cat "$T/second.err")"; fi
[ -n "$left" ] && xargs kill -KILL <<< "$left"

# A hangup, then ^C: one stop signal reaches the cell, which stops as above, and no
# leash outlives the sweep (exit 129).
out4=$T/hangup
setsid "$SWEEP" -a LSH -n 2 -l 0.05 --out "$out4" --leash "$LEASH" --checkpoint-period 0.2 -- "${LONG[@]}" \
    2> "$T/hup.err" &
sweep=$!
wait_for "$out4/*.ckpt"
kill -HUP -- -$sweep
kill -INT -- -$sweep
wait $sweep
status=$?
left=$(leashes "$out4")
if [ $status -eq 129 ] && [ -z "$left" ] && grep -q " interrupted LSH " <<< "$(statuses "$out4")" &&
   compgen -G "$out4/*.ckpt" > /dev/null && ! grep -q Traceback "$T/hup.err"; then
    ok "a hangup then ^C: one stop signal reaches the cell, no leash outlives the sweep"
else not_ok "a hangup stops the cell once" "status $status" "leash left: $left" "$(statuses "$out4")" "$(cat "$T/hup.err")"; fi
[ -n "$left" ] && xargs kill -KILL <<< "$left"

# A cell that fails (a batch larger than the training set, which only the data shows):
# the others still run, and the sweep exits 1 naming it.
out10=$T/failing
status=0
"$SWEEP" -b 100000,16 --out "$out10" --leash "$LEASH" -- -D SYNTH --synth-train 600 --synth-test 100 -e 1 \
    2> "$T/failing.err" || status=$?
if [ $status -eq 1 ] && [ "$(statuses "$out10" | grep -c ' complete ')" -eq 1 ] &&
   grep -q '1 of 2 cells failed' "$T/failing.err" &&
   grep -q '^  b-100000_seed-1_.*batch size exceeds the 600 training samples' "$T/failing.err"; then
    ok "a failed cell: the others run, the sweep exits 1 with a summary"
else not_ok "a failed cell makes the exit non-zero" "status $status" "$(cat "$T/failing.err")"; fi

# Refusals: one line naming what is wrong, exit 2, nothing run.
status=0
"$SWEEP" -a SEQ -l --out "$T/bad" --leash "$LEASH" 2> "$T/bad.err" || status=$?
if [ $status -eq 2 ] && [ "$(cat "$T/bad.err")" = "leash-sweep: -l: missing its comma list of values" ] &&
   [ ! -e "$T/bad" ]; then
    ok "a malformed grid is refused in one line"
else not_ok "a malformed grid is refused in one line" "status $status" "$(cat "$T/bad.err")"; fi
status=0
"$SWEEP" -a SEQ --out "$T/bad2" --leash "$LEASH" -- --output x.json 2> "$T/bad2.err" || status=$?
if [ $status -eq 2 ] && [ "$(cat "$T/bad2.err")" = "leash-sweep: --output: set by leash-sweep for every cell" ]; then
    ok "options the sweep sets itself are refused"
else not_ok "options the sweep sets itself are refused" "status $status" "$(cat "$T/bad2.err")"; fi

# A grid flag after -- too, in any of leash's spellings, would override the grid.
bad=
for again in "-l 0.2" "--step=0.2" "--step 0.2" "-ql0.2"; do
    status=0
    # shellcheck disable=SC2086 # each spelling is one or two words
    "$SWEEP" -a LSH -l 0.05,0.1 --out "$T/twice" --leash "$LEASH" --dry-run -- "${TINY[@]}" $again \
        > /dev/null 2> "$T/twice.err" || status=$?
    if ! [ $status -eq 2 ] || [ "$(cat "$T/twice.err")" != "leash-sweep: -l: given both in the grid and after --" ]; then
        bad="$bad [$again: status $status: $(cat "$T/twice.err")]"
    fi
done
if [ -z "$bad" ] && [ ! -e "$T/twice" ]; then ok "a grid flag given after -- as well is refused"
else not_ok "a grid flag given after -- as well is refused" "$bad"; fi

# Bad directories and programs: one line each, never a traceback.
touch "$T/afile"
printf '#!/nonexistent/interpreter\n' > "$T/badscript"
chmod +x "$T/badscript"
bad=
while IFS='|' read -r what dir prog; do
    status=0
    (cd "$T" && "$SWEEP" -a LSH --out "$dir" --leash "$prog" --dry-run -- "${TINY[@]}") \
        > /dev/null 2> "$T/refused.err" || status=$?
    if ! [ $status -eq 2 ] || ! one_line "$T/refused.err"; then
        bad="$bad [$what: status $status: $(head -3 "$T/refused.err")]"
    fi
done <<EOF
--out a file|$T/afile|$LEASH
--out under a file|$T/afile/sub|$LEASH
--out empty||$LEASH
--out too long|$T/$x|$LEASH
--leash missing|$T/sweep|$T/nonexistent
--leash a directory|$T/sweep|$T
--leash not leash|$T/sweep|/bin/true
--leash that cannot start|$T/sweep|$T/badscript
EOF
if [ -z "$bad" ]; then ok "a bad --out or --leash is refused in one line"
else not_ok "a bad --out or --leash is refused in one line" "$bad"; fi

# -A's values hold commas when they are layer lists, which this leash cannot read yet: a
# stand-in for leash answers --version and records the -A of every command line it is
# given, which with --dry-run is leash-sweep's check of each cell, in the cells' order.
STANDIN=$T/standin/leash
mkdir "$T/standin"
cat > "$STANDIN" <<'EOF'
#!/bin/bash
[ "$1" = --version ] && { echo "leash stand-in"; exit 0; }
for ((i = 1; i < $#; i++)); do
    if [ "${!i}" = -A ]; then j=$((i + 1)); printf '%s\n' "${!j}" >> "$STANDIN_LOG"; fi
done
EOF
chmod +x "$STANDIN"
export STANDIN_LOG=$T/standin/log
# plan GRID...: a dry run's cells, "NAME.json -A-value" a line, to $T/plan.cells, and
# the -A values the stand-in was given to check, to $T/plan.checked.
plan() {
    : > "$STANDIN_LOG"
    "$SWEEP" "$@" --out "$T/plan" --leash "$STANDIN" --dry-run -- "${TINY[@]}" 2> "$T/plan.err" |
        awk '{for (i = 3; i < NF; i++) if ($i == "-A") print $2, $(i + 1)}' > "$T/plan.cells"
    cp "$STANDIN_LOG" "$T/plan.checked"
}
# planned GRID... -- VALUE...: the dry run's cells have those -A values, in that order,
# and leash was given them to check; else says what it got.
planned() {
    local grid=() want
    while [ "$1" != -- ]; do grid+=("$1"); shift; done
    shift
    want=$(printf '%s\n' "$@")
    plan "${grid[@]}"
    [ "$(cut -d' ' -f2- "$T/plan.cells")" = "$want" ] && [ "$(cat "$T/plan.checked")" = "$want" ] ||
        echo "[${grid[*]}: cells $(cat "$T/plan.cells" "$T/plan.err" | tr '\n' ' ') checked $(tr '\n' ' ' < "$T/plan.checked")]"
}
long1=conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:512,relu,fc
list1=conv:16:5,relu,maxpool:2,fc
bad=$(planned -A CNN,LENET -- CNN LENET
      planned -A conv:16:5,relu,fc -- conv:16:5,relu,fc
      planned --arch="CNN;$list1" -a LSH,HOG -- CNN CNN "$list1" "$list1"
      planned -A "$long1;conv:16:5,relu,fc" -- "$long1" conv:16:5,relu,fc
      planned -A " cnn ; conv:16:5,relu,fc " -- cnn conv:16:5,relu,fc)
# The presets as before, checked by leash itself.
status=0
"$SWEEP" -A MLP,CNN --out "$T/presets" --leash "$LEASH" --dry-run -- "${TINY[@]}" > "$T/presets.out" \
    2> "$T/presets.err" || status=$?
if [ -z "$bad" ] && [ $status -eq 0 ] && [ "$(wc -l < "$T/presets.out")" -eq 2 ] &&
   grep -q '^todo  A-MLP_seed-1_[0-9a-f]\{10\}\.json  -A MLP --seed 1$' "$T/presets.out" &&
   grep -q '^todo  A-CNN_seed-1_[0-9a-f]\{10\}\.json  -A CNN --seed 1$' "$T/presets.out"; then
    ok "-A splits on ; when it holds one, else on , when every piece is a preset, else is one layer list"
else not_ok "-A's values" "$bad" "leash's presets: status $status: $(cat "$T/presets.out" "$T/presets.err")"; fi

# An empty value or one given twice, in either list: refused in one line, nothing checked.
bad=
while IFS='|' read -r value says; do
    status=0
    : > "$STANDIN_LOG"
    "$SWEEP" -A "$value" --out "$T/plan" --leash "$STANDIN" --dry-run > /dev/null 2> "$T/arch.err" || status=$?
    if [ $status -ne 2 ] || [ "$(cat "$T/arch.err")" != "leash-sweep: -A $value: $says" ] || [ -s "$STANDIN_LOG" ]
    then bad="$bad [$value: status $status: $(cat "$T/arch.err")]"; fi
done <<EOF
CNN,|an empty value in the list
CNN;;$list1|an empty value in the list
$list1;|an empty value in the list
CNN,CNN|a value given twice
$list1;CNN;$list1|a value given twice
EOF
if [ -z "$bad" ]; then ok "an -A list with an empty value or one given twice is refused in one line"
else not_ok "an -A list with an empty value or one given twice is refused in one line" "$bad"; fi

# Cell names: a layer list in its short form, over 32 characters cut to 24 and a hash
# of the list; filesystem-safe, short, and apart for lists that read alike (the same
# list spelt otherwise: the same short form, another hash of the command line).
plan -A "$long1;conv:16:5,relu,fc;CONV:16:5:S1:P0,RELU,FC;conv:8:3:s2:p1,tanh,avgpool:2,fc:32,sigmoid,fc"
if /usr/bin/python3 - "$T/plan.cells" "$long1" <<'EOF'
import hashlib, re, sys
names = [l.split(" ")[0] for l in open(sys.argv[1]).read().splitlines()]
h = hashlib.sha256(sys.argv[2].encode()).hexdigest()[:6]
want = [f"A-c32k5p2-r-mp2-c64k5p2-r_{h}_seed-1_", "A-c16k5-r-f_seed-1_", "A-c16k5-r-f_seed-1_",
        "A-c8k3s2p1-t-ap2-f32-s-f_seed-1_"]
if len(names) != len(want) or len(set(names)) != len(names): sys.exit(f"names {names}")
for name, start in zip(names, want):
    if not re.fullmatch(re.escape(start) + r"[0-9a-f]{10}\.json", name) or len(name) > 64:
        sys.exit(f"{name}: want {start}HASH.json")
EOF
then ok "cell names show a layer list short (cut and hashed when long), filesystem-safe and apart"
else not_ok "cell names for layer lists" "$(cat "$T/plan.cells" "$T/plan.err")"; fi

# The short form is leash-report's label (which writes ~ where a file name has _).
if /usr/bin/python3 - "$SWEEP" "${LEASH_REPORT:-$(dirname "$0")/../tools/leash-report}" <<'EOF'
import importlib.machinery, importlib.util, sys
def load(name, path):
    loader = importlib.machinery.SourceFileLoader(name, path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    loader.exec_module(module)
    return module
sweep, report = load("sweep", sys.argv[1]), load("report", sys.argv[2])
lists = ["CNN", "lenet", "conv:16:5,relu,fc", "conv:8:3:s2:p1,tanh,avgpool:2,fc:32,sigmoid,fc",
         "conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:512,relu,fc",
         "conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:256,relu,fc", "CONV:16:5:S1:P0,RELU,FC",
         "conv:4:3,bogus:1,fc"]
for x in lists:
    if sweep.arch_short(x) != report.arch_short(x): sys.exit(f"{x}: {sweep.arch_short(x)}, {report.arch_short(x)}")
if len({report.arch_short(x) for x in lists}) != len(lists) - 1: sys.exit("two lists share a short form")
EOF
then ok "leash-sweep's short form of a layer list is leash-report's label"
else not_ok "leash-sweep's short form of a layer list is leash-report's label"; fi

help=$("$SWEEP" --help | tr -s ' \n' '  ')
if grep -qF "split on ; when it holds a ;" <<< "$help" && grep -qF "on , when every piece is a preset name" <<< "$help" &&
   grep -qF "otherwise it is one layer list" <<< "$help" && grep -qF "cCkK[sS][pP]" <<< "$help"; then
    ok "--help gives -A's splitting rule and the short form of a layer list"
else not_ok "--help gives -A's splitting rule and the short form of a layer list"; fi

# --slurm, with a stand-in for sbatch that keeps its arguments (NUL-separated) and the
# script as submitted, as Slurm does, and answers a job id.
mkdir "$T/bin"
cat > "$T/bin/sbatch" <<'EOF'
#!/bin/bash
# (The sweep may submit several jobs at once: one number each.)
exec 9> "$FAKE_SLURM/lock"
flock 9
k=$(($(find "$FAKE_SLURM" -name '*.args' | wc -l) + 1))
printf '%s\0' "$@" > "$FAKE_SLURM/$k.args"
for a in "$@"; do case $a in *.sbatch) cp "$a" "$FAKE_SLURM/$k.sh" ;; esac; done
echo $((100 + k))
EOF
chmod +x "$T/bin/sbatch"
# args_of K: the K-th submission's arguments, one per line (a newline in one shows as \n).
args_of() { python3 -c 'import sys; [print(a.replace("\n", "\\n")) for a in open(sys.argv[1]).read().split("\0")[:-1]]' "$FAKE_SLURM/$1.args"; }
# run_task K INDEX: array task INDEX of the K-th submission, as Slurm runs it: the saved
# script with the arguments that followed it.
run_task() {
    local args=() i
    mapfile -d '' args < "$FAKE_SLURM/$1.args"
    for i in "${!args[@]}"; do [[ ${args[i]} == *.sbatch ]] && break; done
    SLURM_ARRAY_TASK_ID=$2 bash "$FAKE_SLURM/$1.sh" "${args[@]:i+1}"
}

# A directory with a space and a newline; cells with -n 1 and -n 2; sbatch's options in
# --sbatch. One array job per -n, each asking for that many CPUs; sbatch's options go
# to sbatch only; the script parses and runs its task's cell.
export FAKE_SLURM=$T/fake1
mkdir "$FAKE_SLURM"
out5="$T/slurm out
dir"
status=0
PATH=$T/bin:$PATH "$SWEEP" -a LSH -n 1,2 -l 0.05 --out "$out5" --leash "$LEASH" --slurm \
    --sbatch '-t 00:10:00 --exclusive' -- "${TINY[@]}" -e 1 > "$T/slurm.out" 2> "$T/slurm.err" || status=$?
calls=$(find "$FAKE_SLURM" -name '*.args' | wc -l)
# (Submitted at once, the two jobs may come in either order.)
if grep -qx -- '--cpus-per-task=2' <<< "$(args_of 1 2> /dev/null)"; then two=1; else two=2; fi
one=$(args_of $((3 - two)) 2> /dev/null)
two_args=$(args_of $two 2> /dev/null)
want_log="--output=${out5//$'\n'/\\n}/slurm-%A_%a.log"
if [ $status -eq 0 ] && [ "$calls" -eq 2 ] &&
   grep -qx -- '--cpus-per-task=1' <<< "$one" && grep -qx -- '--cpus-per-task=2' <<< "$two_args" &&
   [ "$(grep -x -A1 -- -t <<< "$two_args")" = $'-t\n00:10:00' ] && grep -qx -- --exclusive <<< "$two_args" &&
   grep -qxF -- "$want_log" <<< "$two_args" && ! grep -q -e '00:10:00' -e exclusive "$out5"/manifest-*.json; then
    ok "--slurm: an array job per -n with its --cpus-per-task; --sbatch's options go to sbatch, not leash"
else not_ok "--slurm: the submissions" "status $status, $calls calls" "$(cat "$T/slurm.err")" "$two_args"; fi
task=$(sed -n 's/^--array=//p' <<< "$two_args")
if [ "$calls" -eq 2 ] && bash -n "$FAKE_SLURM/$two.sh" && run_task $two "$task" 2> "$T/task.err" &&
   [ "$(statuses "$out5" | awk '{print $2, $4}')" = "complete 2" ]; then
    ok "the script parses, and its task runs its cell in a directory with a space and a newline"
else not_ok "the script runs its task" "task ${task:-none}" "$(cat "$T/task.err" 2> /dev/null)" \
    "$(cat "$FAKE_SLURM/$two.sh" 2> /dev/null)"; fi

# An sbatch option without --sbatch is a grid flag, and leash refuses it: nothing is submitted.
export FAKE_SLURM=$T/fake2
mkdir "$FAKE_SLURM"
status=0
PATH=$T/bin:$PATH "$SWEEP" -a LSH -l 0.05 --out "$T/leak" --leash "$LEASH" --slurm -t 00:10:00 \
    -- "${TINY[@]}" -e 1 > /dev/null 2> "$T/leak.err" || status=$?
if [ $status -eq 2 ] && one_line "$T/leak.err" && grep -q 'leash: -t 00:10:00' "$T/leak.err" &&
   [ -z "$(ls "$FAKE_SLURM")" ]; then
    ok "--slurm checks every cell with leash first: -t 00:10:00 is refused, nothing submitted"
else not_ok "--slurm checks every cell first" "status $status" "$(cat "$T/leak.err")" "$(ls "$FAKE_SLURM")"; fi

# Two submissions of two grids to one directory: the first one's task still runs the
# first grid's cell.
export FAKE_SLURM=$T/fake3
mkdir "$FAKE_SLURM"
out6=$T/resubmit
for step in 0.05 0.1; do
    PATH=$T/bin:$PATH "$SWEEP" -a LSH -l $step --out "$out6" --leash "$LEASH" --slurm -- "${TINY[@]}" -e 1 \
        > /dev/null 2>> "$T/resubmit.err"
done
if [ -e "$FAKE_SLURM/2.args" ] && run_task 1 0 2>> "$T/resubmit.err" &&
   [ "$(statuses "$out6" | awk '{print $2, $5}')" = "complete 0.05" ]; then
    ok "a later submission does not change the cells of an earlier one's tasks"
else not_ok "a later submission does not change an earlier one" "$(statuses "$out6")" "$(cat "$T/resubmit.err")"; fi

# A sweep over two layer lists (';' between them) runs both with the real leash, and the
# report holds both, labelled by their short forms, with their full lists.
REPORT=${LEASH_REPORT:-$(dirname "$0")/../tools/leash-report}
A1=conv:4:3,relu,maxpool:2,fc
A2=conv:8:3:p1,relu,fc
if timeout -k 5 300 "$SWEEP" -A "$A1;$A2" -a LSH --out "$T/archs" --leash "$LEASH" -- \
        "${TINY[@]}" -e 1 > "$T/archs.out" 2>&1 &&
    timeout -k 5 120 /usr/bin/python3 "$REPORT" "$T/archs" --no-plots > "$T/archs.report" 2>&1 &&
    /usr/bin/python3 - "$T/archs" "$A1" "$A2" <<'EOF'
import csv, glob, json, os, sys
d, a1, a2 = sys.argv[1:]
docs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "*.json")))]
assert sorted((x["status"], x["config"]["arch"], x["config"]["layers"]) for x in docs) == \
    sorted([("complete", a1, a1), ("complete", a2, a2)]), docs
rows = list(csv.DictReader(open(os.path.join(d, "report.csv"))))
assert sorted((r["arch"], r["layers"]) for r in rows) == \
    sorted([("c4k3-r-mp2-f", a1), ("c8k3p1-r-f", a2)]), rows
md = open(os.path.join(d, "report.md")).read()
assert f"`c4k3-r-mp2-f`: `{a1}`" in md and f"`c8k3p1-r-f`: `{a2}`" in md
EOF
then ok "a sweep over two layer lists: both documents, and a report with both"
else not_ok "a sweep over two layer lists: both documents, and a report with both" \
    "$(cat "$T/archs.out" "$T/archs.report" 2>/dev/null)"; fi
[ $failed -eq 0 ]
