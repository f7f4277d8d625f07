#!/bin/bash
# Mutation check, not run by make check or CI (about 20 minutes on 2 cores): each
# mutant below breaks one claim in a scratch copy of this source tree, and the tests
# named with it must fail on the broken build. The tests first run on the unbroken copy,
# where they must pass. Memory-order mutants are built with ThreadSanitizer, which is
# what guards them (plain runs rarely show a missing fence on x86).
#
# usage: tests/mutants.sh [NAME...]      (no NAME: every mutant)
# Prints one line per mutant, "caught" or "SURVIVED"; exits 1 if one survived or a
# baseline failed. Needs the build dependencies of README.md; writes only under $TMPDIR.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/leash-mutants.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export LEASH_SKIP_SLOW=1 LEASH_MNIST_DIR=${LEASH_MNIST_DIR:-$src/../shared/data/mnist}
# The first race report ends the test: a mutant's races would otherwise be reported for
# every publish of the torture, for hours.
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=1"
wanted=("$@")
survived=0

# The working tree as it is (tracked and new files, without build products).
git -C "$src" ls-files -co --exclude-standard -z | (cd "$src" && tar --null -T - -cf -) |
    (mkdir "$scratch/tree" && cd "$scratch/tree" && tar -xf -)
(cd "$scratch/tree" && autoreconf -fi > /dev/null 2>&1) || { echo "autoreconf failed"; exit 1; }

# build VARIANT: configure (once) and make the scratch build plain or thread.
build() {
    local dir=$scratch/$1
    if [ ! -d "$dir" ]; then
        mkdir "$dir"
        local opt=; [ "$1" = thread ] && opt=--enable-sanitizers=thread
        (cd "$dir" && ../tree/configure -q $opt > /dev/null) || return 1
    fi
    make -C "$dir" -s -j2 all > "$scratch/build.log" 2>&1 &&
        make -C "$dir" -s -j2 check TESTS= > "$scratch/build.log" 2>&1
}

# run VARIANT TEST...: 0 if every test passes.
run() {
    local v=$1; shift
    make -C "$scratch/$v" -s check TESTS="$*" > "$scratch/run.log" 2>&1
}

# mutant NAME VARIANT FILE OLD NEW TEST...: replace every OLD in FILE by NEW, build, and
# expect one of the tests to fail.
mutant() {
    local name=$1 v=$2 file=$3 old=$4 new=$5; shift 5
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then return; fi
    local f=$scratch/tree/$file
    if [ ! -f "$scratch/$v.ok" ]; then
        if ! build "$v" || ! run "$v" "$@"; then
            echo "baseline ($v build): $* do not pass unmutated"; tail -20 "$scratch/run.log"; exit 1
        fi
        touch "$scratch/$v.ok"
    fi
    cp "$f" "$scratch/orig"
    if ! /usr/bin/python3 - "$f" "$old" "$new" <<'EOF'; then echo "$name: not applied"; exit 1; fi
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text: sys.exit(f"{path}: {old!r} not found")
open(path, "w").write(text.replace(old, new))
EOF
    if ! build "$v"; then echo "$name: does not build"; tail -5 "$scratch/build.log"; survived=1
    elif run "$v" "$@"; then echo "$name: SURVIVED $*"; survived=1
    else echo "$name: caught: $(grep -m1 '^FAIL:\|^ERROR:' "$scratch/run.log" | cut -c1-150)"
    fi
    cp "$scratch/orig" "$f" # a fresh mtime: the next build compiles it again
}

AVG=src/mpi/averaging.c
mutant correction-disabled plain $AVG 'rc = a->ops->mix_apply(a->strategy, a->sum);' 'rc = 0;' \
    tests/test_mpi.sh
mutant correction-halved plain $AVG 'a->sum[i] * inv - a->snapshot[i];' \
    '(a->sum[i] * inv - a->snapshot[i]) * 0.5f;' tests/test_mpi.sh
mutant correction-doubled plain $AVG 'a->sum[i] * inv - a->snapshot[i];' \
    '(a->sum[i] * inv - a->snapshot[i]) * 2.0f;' tests/test_mpi.sh
mutant rounds-skipped plain $AVG 'return updates >= a->next_updates ||' 'return 0 &&' \
    tests/test_averaging tests/test_mpi.sh
mutant pool-one-smaller plain src/sync/lsh.c '(uint32_t)(2 * (cfg->threads + 1))' \
    '(uint32_t)(2 * (cfg->threads + 1) - 1)' tests/torture/test_lsh_torture
mutant aba-tag-removed plain src/sync/version_pool.c 'pack(leash_vp_gen(head) + 1, ' \
    'pack(leash_vp_gen(head), ' tests/test_vpool
mutant tail-not-restored plain src/sync/stepsize.c \
    'int rc = leash_stepper_restore(s, hist, samples);' 'int rc = ((void)hist, (void)samples, 0);' \
    tests/test_signals.sh
mutant second-signal-ignored plain src/cli/main.c 'if (signals_seen++ == 0) {' 'if (++signals_seen) {' \
    tests/test_signals.sh
mutant latest-not-acquired thread src/sync/version_pool.c \
    'atomic_load_explicit(&p->latest, memory_order_acquire)' \
    'atomic_load_explicit(&p->latest, memory_order_relaxed)' tests/torture/test_lsh_torture
mutant install-not-released thread src/sync/version_pool.c \
    'pack(gen, d),
                                                 memory_order_release,' \
    'pack(gen, d),
                                                 memory_order_relaxed,' tests/torture/test_lsh_torture
# The pins of leash 2301d6e (tests/test_pins.sh): a last-bit change of SEQ's step, SYNC's
# gradients summed in another order (-n 3: with 2 the sum does not depend on order), the
# momentum a checkpoint holds not restored, a field added to what checkpoints write, and a
# change of the format that writer and reader agree on (the old files no longer resume).
mutant seq-step-scaled plain src/sync/seq.c 'leash_stepper_eta(s->stepper, 0), s->n);' \
    'leash_stepper_eta(s->stepper, 0) * 1.000001f, s->n);' tests/test_pins.sh
mutant sync-sum-reversed plain src/sync/sync.c \
    'memcpy(s->sum + first, s->grads[0] + first, len * sizeof *s->sum);
    for (int k = 1; k < s->m; ++k)' \
    'memcpy(s->sum + first, s->grads[s->m - 1] + first, len * sizeof *s->sum);
    for (int k = s->m - 2; k >= 0; --k)' tests/test_pins.sh
mutant momentum-not-resumed plain src/sync/strategy.c 'leash_rbuf_floats(&m, v, n);' \
    'leash_rbuf_floats(&m, v, n); memset(v, 0, n * sizeof *v);' tests/test_pins.sh
mutant position-field-added plain src/train/epoch.c 'leash_wbuf_u64(b, pg->next_ckpt_updates);' \
    'leash_wbuf_u64(b, pg->next_ckpt_updates); leash_wbuf_u32(b, 0);' tests/test_pins.sh
mutant attempt-bins-changed plain src/sync/strategy_internal.h '#define LEASH_ATTEMPT_BINS 64' \
    '#define LEASH_ATTEMPT_BINS 63' tests/test_pins.sh
# Issue 20's structure: the ranks' vote by name, the gate's wake-up, the memory floor's
# gradients, the program's names for the library's fields.
mutant vote-swapped plain src/train/segment.c \
    '.stop = leash_stop_asked(),
                        .checkpoint_due = leash_checkpoint_due(t),' \
    '.stop = leash_checkpoint_due(t),
                        .checkpoint_due = leash_stop_asked(),' tests/test_checkpoint.sh
mutant wake-ignored plain src/train/gate.c '!(until_woken && g->wake)' '!(until_woken && 0)' \
    tests/test_averaging tests/test_mpi.sh
mutant floor-without-gradients plain src/train/checks.c 'held + 1 + 2 * averaging + threads' \
    'held + 1 + 2 * averaging' tests/test_train
mutant field-unmapped plain src/cli/fields.c '{"threads", "-n"},' '{"threads", "-N"},' \
    tests/test_cli.sh
exit $survived
