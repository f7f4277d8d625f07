/* Per-thread compute at the limit: forward + backward against cblas_sgemm, and worker
 * scaling, in one process.
 *
 * - grad: samples/s of leash_model_gradient (forward + backward, nothing else) on one
 *   fixed batch, one thread.
 * - sgemm: samples/s the same step would reach doing only its cblas_sgemm calls, with
 *   the shapes the layers report (leash_model_gemm_shapes), issued back to back.
 * - scaling: n threads each computing gradients on their own batch and workspace from
 *   one shared parameter vector (no publish), their summed rate over grad's rate. On n
 *   free cores it is about n unless something (OpenBLAS locks, memory bandwidth)
 *   serializes the workers. sgemm_scaling is the same for the sgemm calls alone: the
 *   control that tells a shared machine's lost cores from serialization in leash.
 * The three alternate in each of k rounds so drift on a noisy machine hits all; the
 * figures are medians over the rounds, the ratios medians of the per-round ratios.
 * - flop_per_sample: 2 m n k summed over the step's sgemm calls, over the batch, so
 *   that each rate is also given in GFLOP/s (to set against bench/fma_peak's peak).
 * - -S: each distinct sgemm shape of the step alone, in GFLOP/s, with its calls per
 *   step and its share of the sgemm-bound step's time: which GEMMs run below the peak.
 *
 * Usage: compute_bound [-A ARCH] [-b BATCH] [-n THREADS] [-k ROUNDS] [-s SECONDS] [-S]
 * ARCH is a preset (MLP, CNN, LENET) or a layer list, as leash -A takes; models use the
 * 28x28x1, 10-class shape of (Fashion-)MNIST, MLP 3 x 128 ReLU.
 * Prints one JSON object on stdout. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "bench_util.h"
#include "core/clock_internal.h"
#include "leash/leash.h"
#include "nn/layers_internal.h"

#define MAX_THREADS 64

typedef struct job {
    const leash_model *m;
    const float *params;
    int batch;
    double seconds;
    pthread_barrier_t *start;
    const leash_gemm_shape *shapes; /* non-NULL: time only these sgemm calls */
    int nshapes;
    leash_workspace *ws;
    float *grad;
    double rate; /* out: samples/s */
} job;

static void *grad_loop(void *arg)
{
    job *j = arg;
    long steps = 0;
    pthread_barrier_wait(j->start);
    if (j->shapes) {
        j->rate = bench_sgemm_rate(j->shapes, j->nshapes, j->batch, j->seconds);
        return NULL;
    }
    double t0 = leash_now(), t;
    do {
        leash_model_gradient(j->m, j->params, j->grad, j->ws, j->batch);
        ++steps;
        t = leash_now() - t0;
    } while (t < j->seconds);
    j->rate = (double)steps * j->batch / t;
    return NULL;
}

/* Summed rate of n threads running together, of gradients or (shapes non-NULL) of the
 * sgemm calls alone; threads 1.. are spawned, job 0 runs on the calling thread. */
static int grad_rate(job *jobs, int n, pthread_barrier_t *start, const leash_gemm_shape *shapes,
                     int nshapes, double *rate)
{
    for (int i = 0; i < n; ++i) {
        jobs[i].start = start;
        jobs[i].shapes = shapes;
        jobs[i].nshapes = nshapes;
    }
    pthread_t th[MAX_THREADS];
    for (int i = 1; i < n; ++i)
        if (pthread_create(&th[i], NULL, grad_loop, &jobs[i]) != 0) return LEASH_ENOMEM;
    grad_loop(&jobs[0]);
    for (int i = 1; i < n; ++i) pthread_join(th[i], NULL);
    *rate = 0;
    for (int i = 0; i < n; ++i) *rate += jobs[i].rate;
    return 0;
}

static int same_shape(const leash_gemm_shape *a, const leash_gemm_shape *b)
{
    return a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n && a->k == b->k &&
           a->beta == b->beta;
}

static char trans_name(CBLAS_TRANSPOSE t) { return t == CblasNoTrans ? 'N' : 'T'; }

/* The "shapes" array: each distinct shape of s[0..n), in first-call order, timed alone
 * (seconds each) on one thread. */
static void print_shapes(const leash_gemm_shape *s, int n, double seconds)
{
    double step_s = 0.0, call_s[BENCH_MAX_SHAPES];
    int count[BENCH_MAX_SHAPES], first[BENCH_MAX_SHAPES], distinct = 0;
    for (int i = 0; i < n; ++i) {
        int d = 0;
        while (d < distinct && !same_shape(&s[first[d]], &s[i])) ++d;
        if (d == distinct) {
            first[distinct] = i;
            count[distinct++] = 0;
        }
        ++count[d];
    }
    for (int d = 0; d < distinct; ++d) {
        call_s[d] = 1.0 / bench_sgemm_rate(&s[first[d]], 1, 1, seconds);
        step_s += count[d] * call_s[d];
    }
    printf(", \"shapes\": [");
    for (int d = 0; d < distinct; ++d) {
        const leash_gemm_shape *g = &s[first[d]];
        printf("%s{\"ta\": \"%c\", \"tb\": \"%c\", \"m\": %d, \"n\": %d, \"k\": %d, "
               "\"beta\": %g, \"calls_per_step\": %d, \"gflops\": %.2f, \"share_of_sgemm_time\": "
               "%.4f}",
               d ? ", " : "", trans_name(g->ta), trans_name(g->tb), g->m, g->n, g->k, g->beta,
               count[d], bench_gemm_flops(g, 1) / call_s[d] / 1e9, count[d] * call_s[d] / step_s);
    }
    printf("]");
}

int main(int argc, char **argv)
{
    const char *arch = "MLP";
    int batch = 512, threads = 2, rounds = 5;
    double seconds = 1.0;
    int opt, per_shape = 0;
    while ((opt = getopt(argc, argv, "A:b:n:k:s:S")) != -1) {
        if (opt == 'A') arch = optarg;
        else if (opt == 'S') per_shape = 1;
        else if (opt == 'b') batch = atoi(optarg);
        else if (opt == 'n') threads = atoi(optarg);
        else if (opt == 'k') rounds = atoi(optarg);
        else if (opt == 's') seconds = atof(optarg);
        else return 2;
    }
    leash_model m;
    if (batch < 1 || threads < 1 || threads > MAX_THREADS || rounds < 1 || rounds > BENCH_MAX_RUNS ||
        seconds <= 0 || bench_model(&m, arch) != 0) {
        fprintf(stderr, "usage: compute_bound [-A ARCH] [-b B] [-n N] [-k K] [-s S] [-S]\n");
        return 2;
    }
    openblas_set_num_threads(1); /* the workers are the parallelism */
    leash_gemm_shape shapes[BENCH_MAX_SHAPES];
    int nshapes = leash_model_gemm_shapes(&m, batch, shapes, BENCH_MAX_SHAPES);
    if (nshapes < 0) return 1;

    float *params = leash_params_alloc(m.nparams);
    if (!params) return 1;
    leash_model_init_params(&m, params, LEASH_INIT_HE, 1);
    pthread_barrier_t start1, startn;
    pthread_barrier_init(&start1, NULL, 1);
    pthread_barrier_init(&startn, NULL, (unsigned)threads);
    job jobs[MAX_THREADS];
    leash_rng rng;
    leash_rng_seed(&rng, 7);
    for (int i = 0; i < threads; ++i) {
        jobs[i] = (job){.m = &m, .params = params, .batch = batch, .seconds = seconds};
        if (leash_workspace_create(&jobs[i].ws, &m, batch) != 0 ||
            !(jobs[i].grad = leash_params_alloc(m.nparams)))
            return 1;
        /* Standardized-looking inputs and spread labels: the work does not depend on them. */
        float *x = leash_workspace_input(jobs[i].ws);
        int *y = leash_workspace_labels(jobs[i].ws);
        for (size_t v = 0; v < (size_t)batch * leash_model_input_size(&m); ++v)
            x[v] = (float)(2.0 * leash_rng_uniform(&rng) - 1.0);
        for (int s = 0; s < batch; ++s) y[s] = (int)(leash_rng_next(&rng) % (uint64_t)m.nclasses);
    }

    double g1[BENCH_MAX_RUNS], gn[BENCH_MAX_RUNS], sg[BENCH_MAX_RUNS], sgn[BENCH_MAX_RUNS];
    double r_sgemm[BENCH_MAX_RUNS], r_scale[BENCH_MAX_RUNS], r_sgemm_scale[BENCH_MAX_RUNS];
    for (int k = 0; k < rounds; ++k) {
        if (grad_rate(jobs, 1, &start1, NULL, 0, &g1[k]) != 0 ||
            grad_rate(jobs, 1, &start1, shapes, nshapes, &sg[k]) != 0 ||
            grad_rate(jobs, threads, &startn, NULL, 0, &gn[k]) != 0 ||
            grad_rate(jobs, threads, &startn, shapes, nshapes, &sgn[k]) != 0)
            return 1;
        r_sgemm[k] = g1[k] / sg[k];
        r_scale[k] = gn[k] / g1[k];
        r_sgemm_scale[k] = sgn[k] / sg[k];
    }
    /* GFLOP/s of a rate in samples/s. */
    double gf = bench_gemm_flops(shapes, nshapes) / batch / 1e9;
    printf("{\"benchmark\": \"compute_bound\", \"model\": \"%s\", \"batch\": %d, \"rounds\": %d, "
           "\"seconds\": %g, \"sgemm_calls_per_step\": %d, \"flop_per_sample\": %.0f, ",
           arch, batch, rounds, seconds, nshapes, gf * 1e9);
    bench_print_blas();
    printf(", \"grad_samples_per_s\": %.1f, \"sgemm_bound_samples_per_s\": %.1f, "
           "\"ratio_to_sgemm\": %.3f, \"grad_gflops\": %.2f, \"sgemm_bound_gflops\": %.2f, "
           "\"threads\": %d, \"grad_samples_per_s_threads\": %.1f, "
           "\"sgemm_bound_samples_per_s_threads\": %.1f, \"scaling\": %.3f, "
           "\"sgemm_scaling\": %.3f",
           bench_median(g1, rounds), bench_median(sg, rounds), bench_median(r_sgemm, rounds),
           bench_median(g1, rounds) * gf, bench_median(sg, rounds) * gf, threads,
           bench_median(gn, rounds), bench_median(sgn, rounds), bench_median(r_scale, rounds),
           bench_median(r_sgemm_scale, rounds));
    if (per_shape) print_shapes(shapes, nshapes, seconds / 4);
    printf("}\n");
    for (int i = 0; i < threads; ++i) {
        leash_workspace_destroy(jobs[i].ws);
        leash_params_free(jobs[i].grad);
    }
    leash_params_free(params);
    leash_model_free(&m);
    pthread_barrier_destroy(&start1);
    pthread_barrier_destroy(&startn);
    return 0;
}
