/* Run under mpirun by tests/test_mpi.sh: averaging rounds checked against the test's own
 * arithmetic, not leash's.
 *
 * Every rank starts from parameters of its own and its workers publish a constant
 * gradient of its own, so the ranks' models differ before each round. The test gathers
 * every rank's pre-round parameters with its own MPI_Allgather and computes their
 * element-wise mean in double precision; only float rounding may separate the round's
 * result from it.
 *
 *   mpi_rounds blocking    every strategy; the workers have stopped, as at a blocking
 *                          round's safe point. The test copies the parameters itself
 *                          before the round; after it they must equal the mean, with the
 *                          timestamp one update further (the correction is one update).
 *   mpi_rounds overlapped  SEQ, whose worker keeps publishing while the round is in
 *                          flight: the round copies the model at one update, sums, and
 *                          corrects at a later one. Read back through the same mailbox,
 *                          the model must be the mean of the copies the round took minus
 *                          eta k c for a whole k >= 2 (at least one update between the
 *                          copy and the correction, and the one that served the read).
 *
 * Exit 0 if all holds; otherwise 1, with the first discrepancy on stderr. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "leash/leash.h"
#include "mpi/averaging_internal.h"
#include "sync/strategy_internal.h"

enum { ROUNDS = 4 };
static const float eta = 0.25f;

static int rank, ranks;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mpi_rounds: rank %d: %s\n", rank, line); /* one write: ranks interleave */
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* Values in [-1, 1] that differ between ranks and between parameters. */
static float spread(size_t i, int salt)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(salt + 1) * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)(h % 2001) / 1000.0f - 1.0f;
}

/* The test's own mean of every rank's `mine`, in double; bound[i] gets the largest
 * magnitude any rank had at i (the scale of the float rounding a round may add). */
static void gathered_mean(const float *mine, size_t n, double *mean, double *bound)
{
    float *all = malloc(n * (size_t)ranks * sizeof *all);
    if (!all || MPI_Allgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD))
        fail("MPI_Allgather of %zu floats failed", n);
    for (size_t i = 0; i < n; ++i) {
        double sum = 0, big = 0;
        for (int r = 0; r < ranks; ++r) {
            double x = all[(size_t)r * n + i];
            sum += x;
            big = fmax(big, fabs(x));
        }
        mean[i] = sum / ranks;
        bound[i] = big;
    }
    free(all);
}

typedef struct rig {
    leash_model model;
    leash_config cfg;
    leash_stepper *stepper;
    const leash_strategy_ops *ops;
    leash_strategy *s;
    leash_averager avg;
    float *c; /* this rank's gradient */
    size_t n;
    _Atomic int stop; /* overlapped mode: ask the worker to end */
} rig;

static void rig_init(rig *g, leash_algorithm algo, int threads)
{
    memset(g, 0, sizeof *g);
    if (leash_model_mlp(&g->model, 4, 4, 1, 10, 1, 16, LEASH_ACT_RELU))
        fail("model: %s", leash_last_error());
    g->n = g->model.nparams;
    leash_config_defaults(&g->cfg);
    g->cfg.algorithm = algo;
    g->cfg.threads = threads;
    g->cfg.step = eta;
    float *theta0 = leash_params_alloc(g->n);
    g->c = leash_params_alloc(g->n);
    if (!theta0 || !g->c) fail("out of memory for %zu parameters", g->n);
    for (size_t i = 0; i < g->n; ++i) {
        theta0[i] = spread(i, rank);
        g->c[i] = spread(i, 1000 + rank) / 512.0f;
    }
    g->ops = leash_strategy_for(algo);
    if (leash_stepper_create(&g->stepper, LEASH_STEP_NONE, eta, threads, g->cfg.tau_max, 1.0))
        fail("stepper: %s", leash_last_error());
    leash_strategy_args args = {.model = &g->model, .theta0 = theta0, .cfg = &g->cfg,
                                .stepper = g->stepper};
    if (g->ops->create(&g->s, &args) || leash_averager_init(&g->avg, g->ops, g->s, g->n, 1, 0.0))
        fail("%s: %s", leash_algorithm_name(algo), leash_last_error());
    leash_params_free(theta0);
    atomic_init(&g->stop, 0);
}

static void rig_free(rig *g)
{
    leash_averager_free(&g->avg);
    g->ops->destroy(g->s);
    leash_stepper_destroy(g->stepper);
    leash_params_free(g->c);
    leash_model_free(&g->model);
}

typedef struct worker {
    rig *g;
    int w;
    int publishes; /* blocking mode: this many; overlapped: until stop */
    leash_worker_stats stats;
} worker;

static void *worker_main(void *arg)
{
    worker *k = arg;
    rig *g = k->g;
    const struct timespec breath = {0, 20000}; /* keeps k small in overlapped rounds */
    for (int p = 0; k->publishes ? p < k->publishes : !atomic_load(&g->stop); ++p) {
        uint64_t ts;
        const float *v = g->ops->read(g->s, k->w, &ts, &k->stats);
        g->ops->release(g->s, k->w, v);
        g->ops->publish(g->s, k->w, g->c, ts, &k->stats);
        if (!k->publishes) nanosleep(&breath, NULL);
    }
    return NULL;
}

static void run_workers(rig *g, worker *ws, pthread_t *th, int publishes)
{
    for (int w = 0; w < g->cfg.threads; ++w) {
        ws[w] = (worker){.g = g, .w = w, .publishes = publishes};
        ws[w].stats.staleness = calloc((size_t)g->cfg.tau_max + 1, sizeof(uint64_t));
        pthread_create(&th[w], NULL, worker_main, &ws[w]);
    }
}

static void join_workers(rig *g, worker *ws, pthread_t *th)
{
    for (int w = 0; w < g->cfg.threads; ++w) {
        pthread_join(th[w], NULL);
        free(ws[w].stats.staleness);
    }
}

static int always_idle(void *arg) { return (void)arg, 1; }
static int never_idle(void *arg) { return (void)arg, 0; }

/* One strategy, ROUNDS blocking rounds, each after a different number of local updates
 * on each rank. */
static void check_blocking(leash_algorithm algo, int threads)
{
    rig g;
    rig_init(&g, algo, threads);
    worker ws[2];
    pthread_t th[2];
    float *pre = leash_params_alloc(g.n), *post = leash_params_alloc(g.n);
    double *mean = malloc(g.n * sizeof *mean), *bound = malloc(g.n * sizeof *bound);
    for (int r = 0; r < ROUNDS; ++r) {
        run_workers(&g, ws, th, 2 + rank + r);
        join_workers(&g, ws, th);
        uint64_t ts0, ts1;
        g.ops->snapshot(g.s, pre, &ts0);
        gathered_mean(pre, g.n, mean, bound);
        if (leash_averager_exchange(&g.avg, ts0, always_idle, NULL))
            fail("round %d: %s", r, leash_last_error());
        g.ops->snapshot(g.s, post, &ts1);
        if (ts1 != ts0 + 1) fail("%s: timestamp %llu after a round from %llu, not one more", leash_algorithm_name(algo),
                 (unsigned long long)ts1, (unsigned long long)ts0);
        for (size_t i = 0; i < g.n; ++i) {
            double tol = (ranks + 4) * FLT_EPSILON * bound[i];
            if (fabs(post[i] - mean[i]) > tol)
                fail("%s, blocking round %d: parameter %zu is %.9g, the ranks' mean %.9g",
                     leash_algorithm_name(algo), r, i, post[i], mean[i]);
        }
    }
    free(mean);
    free(bound);
    leash_params_free(pre);
    leash_params_free(post);
    rig_free(&g);
}

/* The whole k with model = mean - eta k c, by least squares over all parameters. */
static double fitted_updates(const float *model, const double *mean, const float *c, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        double step = (double)eta * c[i];
        num += (mean[i] - model[i]) * step;
        den += step * step;
    }
    return nearbyint(num / den);
}

/* A copy of the running SEQ model, through the same mailbox the rounds use. */
static void read_running(rig *g, float *out)
{
    if (g->ops->mix_read(g->s, out) == 1)
        while (g->ops->mix_pending(g->s)) sched_yield();
}

static void check_overlapped(void)
{
    rig g;
    rig_init(&g, LEASH_ALGO_SEQ, 1);
    worker ws[1];
    pthread_t th[1];
    float *now = leash_params_alloc(g.n);
    double *mean = malloc(g.n * sizeof *mean), *bound = malloc(g.n * sizeof *bound);
    const struct timespec between = {0, 2000000};
    run_workers(&g, ws, th, 0);
    for (int r = 0; r < ROUNDS; ++r) {
        nanosleep(&between, NULL);
        if (leash_averager_exchange(&g.avg, 0, never_idle, NULL)) fail("round %d: %s", r, leash_last_error());
        gathered_mean(g.avg.snapshot, g.n, mean, bound); /* the copies the round took */
        read_running(&g, now);
        double k = fitted_updates(now, mean, g.c, g.n);
        if (k < 2) fail("overlapped round %d: the model is the mean minus %g updates, not >= 2", r, k);
        for (size_t i = 0; i < g.n; ++i) {
            double local = k * (double)eta * g.c[i];
            double tol = 2 * (ranks + 4 + k) * FLT_EPSILON * (bound[i] + fabs(local));
            if (fabs(now[i] - (mean[i] - local)) > tol)
                fail("overlapped round %d: parameter %zu is %.9g, the mean minus %g updates %.9g", r, i,
                     now[i], k, mean[i] - local);
        }
    }
    atomic_store(&g.stop, 1);
    join_workers(&g, ws, th);
    free(mean);
    free(bound);
    leash_params_free(now);
    rig_free(&g);
}

int main(int argc, char **argv)
{
    if (argc != 2 || leash_dist_init(&argc, &argv) != 0 || leash_dist_size() < 2) {
        fprintf(stderr, "usage: mpirun -np N mpi_rounds blocking|overlapped (N >= 2)\n");
        return 1;
    }
    rank = leash_dist_rank();
    ranks = leash_dist_size();
    if (!strcmp(argv[1], "blocking")) {
        check_blocking(LEASH_ALGO_SEQ, 1);
        check_blocking(LEASH_ALGO_SYNC, 2);
        check_blocking(LEASH_ALGO_ASYNC, 2);
        check_blocking(LEASH_ALGO_HOG, 2);
        check_blocking(LEASH_ALGO_LSH, 2);
    } else if (!strcmp(argv[1], "overlapped")) {
        check_overlapped();
    } else {
        fprintf(stderr, "mpi_rounds: %s: not blocking or overlapped\n", argv[1]);
        return 1;
    }
    leash_dist_finalize();
    return 0;
}
