/* The trainer with worker threads: every strategy learns, and the instrumentation adds
 * up (small synthetic data, so it also runs under ThreadSanitizer). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "leash/leash.h"
#include "tap.h"

static leash_dataset train_set, test_set;

/* The tests' configuration: 4 epochs at batch 32, step 0.1, He initialization. */
static leash_config config(leash_algorithm algo, int threads)
{
    leash_config c;
    leash_config_defaults(&c);
    c.algorithm = algo;
    c.threads = threads;
    c.batch = 32;
    c.epochs = 4;
    c.step = 0.1;
    c.init = LEASH_INIT_HE;
    return c;
}

static int train_with(leash_algorithm algo, int threads, long persistence, leash_step_policy policy,
                      leash_result *r)
{
    leash_config c = config(algo, threads);
    c.persistence = persistence;
    c.step_policy = policy;
    /* TAIL with amplitude A scales steps by 1 - A .. 1 + A: halve it to keep the range
     * of steps comparable to the other policies'. */
    c.tail_amplitude = 0.5;
    return leash_train(&c, &train_set, &test_set, r, NULL, NULL);
}

static uint64_t sum(const uint64_t *v, int n)
{
    uint64_t s = 0;
    for (int i = 0; i < n; ++i) s += v[i];
    return s;
}

/* Accuracy far above chance (0.1) and the books balance: every gradient is an update,
 * part of one (SYNC) or dropped; histograms count every update once.
 *
 * The accuracy bounds, from runs on 2 busy cores. SYNC, ASYNC, HOG and LSH with 4 workers
 * reach 0.854 to 0.928; HOG broken to apply one counted update in 64 reaches 0.44 to 0.55,
 * one in 32 0.64 to 0.74, one in 16 0.71 to 0.79, one in 4 or 2 still 0.84 to 0.88 (this
 * easy set saturates: accuracy cannot tell those from load noise); gradients applied with
 * the wrong sign diverge (LEASH_EDIVERGED). Hence 0.75 for them: below the healthy floor
 * with a margin, above the runs broken by one in 16 or worse (the former 0.6 let one in
 * 32 through). LSH with 8 workers on 2 cores spreads widely, its version contention
 * depending on the load: 0.57 to 0.87 seen for B = 0 and 1 (and, with TAIL, about half
 * the runs diverge): for those the former 0.6 stays, which such runs can miss without a
 * defect in the code under test being shown. */
static void check(leash_algorithm algo, int threads, long persistence, leash_step_policy policy)
{
    leash_result r;
    ASSERT_INT_EQ(train_with(algo, threads, persistence, policy, &r), 0);
    double acc = r.epochs[r.nepochs - 1].test_accuracy;
    tap_diag("%-5s m=%d B=%ld t=%s: accuracy %.3f, updates %llu, dropped %llu, failed CAS %llu, "
             "peak versions %llu",
             leash_algorithm_name(algo), threads, persistence, leash_step_policy_name(policy), acc,
             (unsigned long long)r.updates, (unsigned long long)r.dropped,
             (unsigned long long)r.failed_cas, (unsigned long long)r.peak_versions);
    const double bound = algo == LEASH_ALGO_LSH && threads > 4 ? 0.6 : 0.75;
    if (acc < bound) {
        /* Load now and then pushes a healthy run below the bound (ASYNC reached 0.724 once,
         * under AddressSanitizer in CI); the broken runs above fall below it every time. So
         * a second run decides, and both are shown. */
        leash_result again;
        int rc = train_with(algo, threads, persistence, policy, &again);
        double acc2 = rc == 0 ? again.epochs[again.nepochs - 1].test_accuracy : 0.0;
        tap_diag("accuracy %.3f below %.2f: a second run reaches %.3f (status %d)", acc, bound,
                 acc2, rc);
        leash_result_free(&again);
        if (acc2 > acc) acc = acc2;
    }
    ASSERT_DBL_GE(acc, bound);
    uint64_t per_epoch = train_set.n / 32, gradients = 4 * per_epoch;
    if (algo == LEASH_ALGO_SYNC) {
        /* Lockstep: each epoch's gradients rounded down to whole rounds of m. */
        uint64_t rounds = 4 * (per_epoch / (uint64_t)threads);
        ASSERT_INT_EQ(r.gradients, rounds * (uint64_t)threads);
        ASSERT_INT_EQ(r.updates, rounds);
        ASSERT_INT_EQ(r.staleness_hist[0], r.updates); /* synchronous: never stale */
    } else {
        ASSERT_INT_EQ(r.gradients, gradients);
        ASSERT_INT_EQ(r.updates + r.dropped, r.gradients);
    }
    ASSERT_INT_EQ(sum(r.updates_per_thread, r.threads), r.updates);
    ASSERT_INT_EQ(sum(r.staleness_hist, r.tau_max + 1), r.updates);
    ASSERT_INT_EQ(sum(r.attempts_hist, r.attempt_bins), r.updates);
    if (algo != LEASH_ALGO_LSH) {
        ASSERT_INT_EQ(r.failed_cas, 0);
        ASSERT_INT_EQ(r.dropped, 0);
    } else {
        ASSERT_INT_LE(r.peak_versions, 2 * threads + 1);
        if (persistence == LEASH_PERSIST_INF) ASSERT_INT_EQ(r.dropped, 0);
        /* Every failed CAS preceded a later success of the same gradient or belongs to a
         * dropped one (which failed B + 1 times); exact unless the last bin clamped. */
        uint64_t retried = 0;
        for (int k = 1; k < r.attempt_bins; ++k) retried += (uint64_t)k * r.attempts_hist[k];
        uint64_t in_drops = persistence == LEASH_PERSIST_INF ? 0 : r.dropped * (uint64_t)(persistence + 1);
        if (r.attempts_hist[r.attempt_bins - 1] == 0)
            ASSERT_INT_EQ(r.failed_cas, retried + in_drops);
        else
            ASSERT_INT_LE(retried + in_drops, r.failed_cas);
    }
    uint64_t epoch_updates = 0;
    for (int e = 0; e < r.nepochs; ++e) epoch_updates += r.epochs[e].updates;
    ASSERT_INT_EQ(epoch_updates, r.updates);
    leash_result_free(&r);
}

static void sync_learns(void) { check(LEASH_ALGO_SYNC, 4, LEASH_PERSIST_INF, LEASH_STEP_NONE); }
static void async_learns(void) { check(LEASH_ALGO_ASYNC, 4, LEASH_PERSIST_INF, LEASH_STEP_NONE); }
static void hog_learns(void) { check(LEASH_ALGO_HOG, 4, LEASH_PERSIST_INF, LEASH_STEP_NONE); }
static void lsh_learns(void) { check(LEASH_ALGO_LSH, 4, LEASH_PERSIST_INF, LEASH_STEP_NONE); }
static void lsh_b0_learns(void) { check(LEASH_ALGO_LSH, 8, 0, LEASH_STEP_NONE); }
static void lsh_tail_learns(void) { check(LEASH_ALGO_LSH, 8, 1, LEASH_STEP_TAIL); }
static void hog_inverse_learns(void) { check(LEASH_ALGO_HOG, 8, LEASH_PERSIST_INF, LEASH_STEP_INVERSE); }
static void async_fleet_learns(void) { check(LEASH_ALGO_ASYNC, 3, LEASH_PERSIST_INF, LEASH_STEP_FLEET); }

static void seq_refuses_threads(void)
{
    leash_result r;
    ASSERT_INT_EQ(train_with(LEASH_ALGO_SEQ, 2, LEASH_PERSIST_INF, LEASH_STEP_NONE, &r), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "leash_config.threads = 2: SEQ runs exactly one worker thread");
}

/* A diverging run stops with LEASH_EDIVERGED for every strategy, lockstep included. */
static void divergence_stops_every_strategy(void)
{
    static const leash_algorithm algos[] = {LEASH_ALGO_SYNC, LEASH_ALGO_ASYNC, LEASH_ALGO_HOG, LEASH_ALGO_LSH};
    for (int a = 0; a < 4; ++a) {
        leash_config c;
        leash_config_defaults(&c);
        c.algorithm = algos[a];
        c.threads = 3;
        c.batch = 32;
        c.step = 1e6;
        c.init = LEASH_INIT_HE;
        leash_result r;
        ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &r, NULL, NULL), LEASH_EDIVERGED);
        /* The run so far is kept: it diverged in its first epoch, on some update. */
        ASSERT_INT_EQ(r.nepochs, 0);
        ASSERT_INT_EQ(r.diverged_epoch, 1);
        leash_result_free(&r);
    }
}

/* The timeline records every sampled event on the workers' own tracks while they run:
 * LSH with 4 workers and every update sampled (under ThreadSanitizer too). Per gradient
 * 4 phase spans, a CAS span per attempt, a staleness and a live-versions counter; per
 * worker a pause between epochs; per epoch an evaluation on the main thread. The epoch's
 * breakdown has no negative share and sums to 1. */
static void timeline_counts_every_event(void)
{
    char path[] = "/tmp/leash-timeline-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    leash_config c = config(LEASH_ALGO_LSH, 4);
    c.epochs = 2;
    c.timeline = path;
    c.timeline_every = 1;
    leash_result r;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &r, NULL, NULL), 0);
    unlink(path);
    ASSERT_INT_EQ(r.timeline_cut, 0);
    const uint64_t paused = (uint64_t)(c.epochs - 1) * (uint64_t)c.threads;
    ASSERT_TRUE(r.timeline_events == 7 * r.gradients + r.failed_cas + paused + (uint64_t)c.epochs);
    for (int e = 0; e < r.nepochs; ++e) {
        ASSERT_INT_EQ(r.epochs[e].split_known, LEASH_SPLIT_WORKERS);
        for (int w = 0; w < c.threads; ++w) {
            const leash_time_split *s = &r.worker_splits[e * c.threads + w];
            ASSERT_DBL_GE(fmin(fmin(s->compute, s->read), fmin(s->publish, s->wait)), 0.0);
            ASSERT_DBL_NEAR(s->compute + s->read + s->publish + s->wait + s->idle, 1.0, 1e-9);
        }
    }
    leash_result_free(&r);
}

int main(void)
{
    if (leash_synth_generate(&train_set, &test_set, 2000, 500, 28, 28, 11) != 0) {
        printf("Bail out! cannot generate data: %s\n", leash_last_error());
        return 1;
    }
    tap_plan(11);
    TAP_RUN(sync_learns);
    TAP_RUN(async_learns);
    TAP_RUN(hog_learns);
    TAP_RUN(lsh_learns);
    TAP_RUN(lsh_b0_learns);
    TAP_RUN(lsh_tail_learns);
    TAP_RUN(hog_inverse_learns);
    TAP_RUN(async_fleet_learns);
    TAP_RUN(seq_refuses_threads);
    TAP_RUN(divergence_stops_every_strategy);
    TAP_RUN(timeline_counts_every_event);
    leash_dataset_free(&train_set);
    leash_dataset_free(&test_set);
    return tap_done();
}
