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
 *
 * Usage: compute_bound [-A MLP|CNN|LENET] [-b BATCH] [-n THREADS] [-k ROUNDS] [-s SECONDS]
 * Models use the 28x28x1, 10-class shape of (Fashion-)MNIST, MLP 3 x 128 ReLU.
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
#define MAX_SHAPES 4096

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

int main(int argc, char **argv)
{
    const char *arch = "MLP";
    int batch = 512, threads = 2, rounds = 5;
    double seconds = 1.0;
    int opt;
    while ((opt = getopt(argc, argv, "A:b:n:k:s:")) != -1) {
        if (opt == 'A') arch = optarg;
        else if (opt == 'b') batch = atoi(optarg);
        else if (opt == 'n') threads = atoi(optarg);
        else if (opt == 'k') rounds = atoi(optarg);
        else if (opt == 's') seconds = atof(optarg);
        else return 2;
    }
    leash_model m;
    if (batch < 1 || threads < 1 || threads > MAX_THREADS || rounds < 1 || rounds > BENCH_MAX_RUNS ||
        seconds <= 0 || bench_model(&m, arch) != 0) {
        fprintf(stderr, "usage: compute_bound [-A MLP|CNN|LENET] [-b B] [-n N] [-k K] [-s S]\n");
        return 2;
    }
    openblas_set_num_threads(1); /* the workers are the parallelism */
    leash_gemm_shape shapes[MAX_SHAPES];
    int nshapes = leash_model_gemm_shapes(&m, batch, shapes, MAX_SHAPES);
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
    printf("{\"benchmark\": \"compute_bound\", \"model\": \"%s\", \"batch\": %d, \"rounds\": %d, "
           "\"seconds\": %g, \"sgemm_calls_per_step\": %d, ",
           arch, batch, rounds, seconds, nshapes);
    bench_print_blas();
    printf(", \"grad_samples_per_s\": %.1f, \"sgemm_bound_samples_per_s\": %.1f, "
           "\"ratio_to_sgemm\": %.3f, \"threads\": %d, \"grad_samples_per_s_threads\": %.1f, "
           "\"scaling\": %.3f, \"sgemm_scaling\": %.3f}\n",
           bench_median(g1, rounds), bench_median(sg, rounds), bench_median(r_sgemm, rounds),
           threads, bench_median(gn, rounds), bench_median(r_scale, rounds),
           bench_median(r_sgemm_scale, rounds));
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
