/* Pausing, stopping and resuming the trainer with many more threads than cores: the
 * workers' pause protocol (claim loop and SYNC's lockstep end), leash_request_stop from
 * another thread at an arbitrary moment, and resuming from the checkpoint it leaves.
 * Small synthetic data, so that it also runs under ThreadSanitizer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leash/leash.h"
#include "tap.h"

static leash_dataset train_set, test_set;
static char dir[] = "/tmp/leash-resume.XXXXXX";
static char ckpt[64];

static void config(leash_config *c, leash_algorithm algo, int threads)
{
    leash_config_defaults(c);
    c->algorithm = algo;
    c->threads = threads;
    c->hidden_layers = 1;
    c->units = 32;
    c->batch = 16;
    c->epochs = 3;
    c->step = 0.05;
    c->momentum = 0.5;
    c->init = LEASH_INIT_HE;
    c->dataset = LEASH_DATA_SYNTH;
}

static int same_params(const leash_result *a, const leash_result *b)
{
    return a->model.nparams == b->model.nparams &&
           memcmp(a->params, b->params, a->model.nparams * sizeof *a->params) == 0;
}

/* SYNC with 16 workers on 2 cores paused for a checkpoint every 3 updates (dozens of
 * pauses, each a lockstep end agreed inside a round) ends bit for bit where the run
 * without pauses does, with the same figures. A pause lands within a round or two of its
 * update count (the worker that reaches it may be behind worker 0), hence the bound. */
static void test_sync_pauses_change_nothing(void)
{
    leash_config c;
    config(&c, LEASH_ALGO_SYNC, 16);
    c.rounds = 16 * 40; /* 40 updates an epoch */
    leash_result plain, paused;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &plain, NULL, NULL), 0);
    c.checkpoint = ckpt;
    c.checkpoint_every = 3;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &paused, NULL, NULL), 0);
    tap_diag("%llu checkpoints, %llu updates", (unsigned long long)paused.checkpoints,
             (unsigned long long)paused.updates);
    ASSERT_INT_EQ(plain.updates, 120);
    ASSERT_INT_LE(120 / 5, paused.checkpoints);
    ASSERT_TRUE(same_params(&plain, &paused));
    for (int e = 0; e < c.epochs; ++e) {
        ASSERT_TRUE(plain.epochs[e].train_loss == paused.epochs[e].train_loss);
        ASSERT_TRUE(plain.epochs[e].test_loss == paused.epochs[e].test_loss);
    }
    leash_result_free(&plain);
    leash_result_free(&paused);
    unlink(ckpt);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *stop_later(void *arg)
{
    const double delay = *(double *)arg;
    const struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
    nanosleep(&ts, NULL);
    leash_request_stop();
    return NULL;
}

/* A stop requested from another thread while the workers run, at `at` of the length of
 * an uninterrupted run: LEASH_ESTOPPED with the epochs so far and fewer gradients than
 * the whole run, then a resumed run that completes. SEQ and SYNC end bit for bit as the
 * uninterrupted run; every strategy applies exactly the run's gradients, and its
 * timestamps go on from the checkpointed ones. A run that beats the stop (the machine's
 * load can slow the stopper's clock relative to the workers) proves nothing, so it is
 * retried with the stop asked for earlier; a stop that never lands fails the test. */
enum { STOP_TRIES = 6 };

static void stop_and_resume(leash_algorithm algo, int threads, double at)
{
    leash_config c;
    config(&c, algo, threads);
    c.rounds = 400;
    leash_result full, part, rest;
    double t0 = now();
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &full, NULL, NULL), 0);
    double delay_s = at * (now() - t0);

    c.checkpoint = ckpt;
    int rc = 0;
    for (int attempt = 0; attempt < STOP_TRIES; ++attempt, delay_s /= 2) {
        pthread_t stopper;
        ASSERT_INT_EQ(pthread_create(&stopper, NULL, stop_later, &delay_s), 0);
        rc = leash_train(&c, &train_set, &test_set, &part, NULL, NULL);
        pthread_join(stopper, NULL);
        leash_clear_stop();
        tap_diag("%s m=%d, stop after %.4f s: %s after %d epochs, %llu gradients",
                 leash_algorithm_name(algo), threads, delay_s, rc ? "stopped" : "completed",
                 part.nepochs, (unsigned long long)part.gradients);
        if (rc == LEASH_ESTOPPED) break;
        ASSERT_INT_EQ(rc, 0);
        leash_result_free(&part);
        unlink(ckpt);
    }
    /* The stop landed, inside the run: there is something left to resume. */
    ASSERT_INT_EQ(rc, LEASH_ESTOPPED);
    ASSERT_TRUE(part.gradients < full.gradients);
    ASSERT_TRUE(part.nepochs < c.epochs);
    c.resume = ckpt;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &rest, NULL, NULL), 0);
    ASSERT_INT_EQ(rest.nepochs, c.epochs);
    ASSERT_INT_EQ(rest.resumes, 1);
    ASSERT_INT_EQ(rest.gradients, full.gradients);
    if (algo == LEASH_ALGO_SYNC)
        ASSERT_INT_EQ(rest.updates * (uint64_t)threads, rest.gradients);
    else
        ASSERT_INT_EQ(rest.updates + rest.dropped, rest.gradients);
    ASSERT_INT_EQ(rest.timestamp, rest.updates);
    if (algo == LEASH_ALGO_SEQ || algo == LEASH_ALGO_SYNC) {
        ASSERT_TRUE(same_params(&full, &rest));
        for (int e = 0; e < c.epochs; ++e)
            ASSERT_TRUE(full.epochs[e].train_loss == rest.epochs[e].train_loss);
    }
    leash_result_free(&full);
    leash_result_free(&part);
    leash_result_free(&rest);
    unlink(ckpt);
}

/* Stops spread over the run's length, so that they land at different rounds; each must
 * land (retried earlier if the run beat it). */
static void test_stop_and_resume(void)
{
    stop_and_resume(LEASH_ALGO_SEQ, 1, 0.3);
    stop_and_resume(LEASH_ALGO_SYNC, 12, 0.6);
    stop_and_resume(LEASH_ALGO_ASYNC, 12, 0.45);
    stop_and_resume(LEASH_ALGO_HOG, 12, 0.2);
    stop_and_resume(LEASH_ALGO_LSH, 16, 0.5);
}

/* A stop asked for before training starts: the run stops at once, at position 0 of the
 * first epoch, and resumes from there to the uninterrupted run's end. */
static void test_stop_before_start(void)
{
    leash_config c;
    config(&c, LEASH_ALGO_SEQ, 1);
    leash_result full, part, rest;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &full, NULL, NULL), 0);
    c.checkpoint = ckpt;
    leash_request_stop();
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &part, NULL, NULL), LEASH_ESTOPPED);
    leash_clear_stop();
    ASSERT_INT_EQ(part.nepochs, 0);
    ASSERT_INT_EQ(part.gradients, 0);
    c.resume = ckpt;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &rest, NULL, NULL), 0);
    ASSERT_TRUE(same_params(&full, &rest));
    leash_result_free(&full);
    leash_result_free(&part);
    leash_result_free(&rest);
    unlink(ckpt);
}

/* What the progress callback saw. */
typedef struct progress_log {
    pthread_t trainer;
    int calls, elsewhere;
    int epoch[512];
    uint64_t updates[512], per_epoch;
} progress_log;

static void log_progress(const leash_progress_info *p, void *arg)
{
    progress_log *l = arg;
    if (!pthread_equal(pthread_self(), l->trainer)) l->elsewhere = 1;
    if (l->calls < 512) {
        l->epoch[l->calls] = p->epoch;
        l->updates[l->calls] = p->updates;
    }
    ++l->calls;
    l->per_epoch = p->updates_per_epoch;
}

/* Progress reports while 8 LSH workers run on 2 cores and --checkpoint-period pauses
 * them: on the training thread, the epoch in progress, updates that never go back
 * within an epoch nor pass its count; the checkpoints' deadlines still pause the
 * workers with the reports' deadlines in between. */
static void test_progress_reports(void)
{
    leash_config c;
    config(&c, LEASH_ALGO_LSH, 8);
    c.rounds = 2500;
    c.checkpoint = ckpt;
    c.checkpoint_period = 0.05;
    progress_log log = {.trainer = pthread_self()};
    c.progress_every = 0.01;
    c.on_progress = log_progress;
    c.progress_arg = &log;
    leash_result res;
    ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &res, NULL, NULL), 0);
    tap_diag("%d reports, %llu checkpoints, %.2f s", log.calls,
             (unsigned long long)res.checkpoints, res.time_s);
    ASSERT_INT_LE(3, log.calls);
    ASSERT_INT_EQ(log.elsewhere, 0);
    ASSERT_INT_EQ(log.per_epoch, 2500);
    ASSERT_TRUE(res.checkpoints >= 1 + (uint64_t)(res.time_s / 0.05) / 2);
    for (int k = 0; k < log.calls && k < 512; ++k) {
        ASSERT_TRUE(log.epoch[k] >= 1 && log.epoch[k] <= c.epochs);
        ASSERT_TRUE(log.updates[k] <= 2500);
        if (k > 0) ASSERT_TRUE(log.epoch[k] > log.epoch[k - 1] ||
                               (log.epoch[k] == log.epoch[k - 1] && log.updates[k] >= log.updates[k - 1]));
    }
    leash_result_free(&res);
    unlink(ckpt);
}

int main(void)
{
    if (!mkdtemp(dir) || leash_synth_generate(&train_set, &test_set, 1600, 200, 28, 28, 5) != 0) {
        printf("Bail out! cannot set up: %s\n", leash_last_error());
        return 1;
    }
    snprintf(ckpt, sizeof ckpt, "%s/ck", dir);
    tap_plan(4);
    TAP_RUN(test_sync_pauses_change_nothing);
    TAP_RUN(test_stop_and_resume);
    TAP_RUN(test_stop_before_start);
    TAP_RUN(test_progress_reports);
    leash_dataset_free(&train_set);
    leash_dataset_free(&test_set);
    rmdir(dir);
    return tap_done();
}
