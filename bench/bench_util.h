/* Helpers shared by the benchmark programs: the models by name, the sgemm-bound rate
 * of a list of GEMM shapes, medians and the BLAS identification.
 *
 * Everything is static inline so that each program compiles only what it uses. */
#ifndef LEASH_BENCH_UTIL_H
#define LEASH_BENCH_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "leash/leash.h"
#include "nn/layers_internal.h"

#define BENCH_MAX_RUNS 64
#define BENCH_MAX_THREADS 64
/* sgemm calls a step may make: a conv layer makes 2 or 3 per im2col chunk, and wide
 * layers take one sample per chunk. */
#define BENCH_MAX_SHAPES 16384

/* The model of arch, a preset (MLP, CNN, LENET) or any layer list, on the 28x28x1,
 * 10-class (Fashion-)MNIST shape; the MLP preset is leash's default, 3 hidden layers of
 * 128 ReLU units. Prints leash's message on failure. */
static inline int bench_model(leash_model *m, const char *arch)
{
    int rc = leash_model_build(m, arch, 28, 28, 1, 10, 3, 128, LEASH_ACT_RELU);
    if (rc) fprintf(stderr, "bench: -A %s: %s\n", arch, leash_last_error());
    return rc;
}

/* FLOP of the n sgemm calls s: 2 m n k each (a multiply and an add per term). */
static inline double bench_gemm_flops(const leash_gemm_shape *s, int n)
{
    double f = 0.0;
    for (int i = 0; i < n; ++i) f += 2.0 * s[i].m * s[i].n * s[i].k;
    return f;
}

/* Samples/s of a step that only issues the n sgemm calls s (batch B), run back to back
 * for at least `seconds`, on operands as large as the largest call needs. */
static inline double bench_sgemm_rate(const leash_gemm_shape *s, int n, int B, double seconds)
{
    size_t big = 1;
    for (int i = 0; i < n; ++i) {
        size_t a = (size_t)s[i].m * s[i].k, b = (size_t)s[i].k * s[i].n, c = (size_t)s[i].m * s[i].n;
        big = a > big ? a : big;
        big = b > big ? b : big;
        big = c > big ? c : big;
    }
    float *A = leash_params_alloc(big), *Bm = leash_params_alloc(big), *C = leash_params_alloc(big);
    if (!A || !Bm || !C) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < big; ++i) A[i] = Bm[i] = 0.001f * (float)(i % 1000);
    long steps = 0;
    double t0 = leash_now(), t;
    do {
        for (int i = 0; i < n; ++i) {
            int lda = s[i].ta == CblasNoTrans ? s[i].k : s[i].m;
            int ldb = s[i].tb == CblasNoTrans ? s[i].n : s[i].k;
            cblas_sgemm(CblasRowMajor, s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 1.0f, A, lda, Bm,
                        ldb, s[i].beta, C, s[i].n);
        }
        ++steps;
        t = leash_now() - t0;
    } while (t < seconds);
    leash_params_free(A);
    leash_params_free(Bm);
    leash_params_free(C);
    return (double)steps * B / t;
}

typedef struct bench_sgemm_job {
    const leash_gemm_shape *s;
    int n, B;
    double seconds, rate;
} bench_sgemm_job;

static inline void *bench_sgemm_thread(void *arg)
{
    bench_sgemm_job *j = arg;
    j->rate = bench_sgemm_rate(j->s, j->n, j->B, j->seconds);
    return NULL;
}

/* The summed rate of `threads` threads running bench_sgemm_rate at once, each on its
 * own operands: the bound for as many workers, on cores shared as theirs are. */
static inline double bench_sgemm_rate_threads(const leash_gemm_shape *s, int n, int B,
                                              double seconds, int threads)
{
    bench_sgemm_job jobs[BENCH_MAX_THREADS];
    pthread_t th[BENCH_MAX_THREADS];
    for (int i = 0; i < threads; ++i) jobs[i] = (bench_sgemm_job){s, n, B, seconds, 0.0};
    for (int i = 1; i < threads; ++i)
        if (pthread_create(&th[i], NULL, bench_sgemm_thread, &jobs[i]) != 0) {
            fputs("bench: cannot start a thread\n", stderr);
            exit(1);
        }
    bench_sgemm_thread(&jobs[0]);
    double rate = jobs[0].rate;
    for (int i = 1; i < threads; ++i) {
        pthread_join(th[i], NULL);
        rate += jobs[i].rate;
    }
    return rate;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts a copy). */
static inline double bench_median(const double *v, int n)
{
    double c[BENCH_MAX_RUNS];
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, bench_cmp_double);
    return n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
}

/* The BLAS fields of a result object, without braces. */
static inline void bench_print_blas(void)
{
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("\"openblas_coretype\": \"%s\", \"openblas_core\": \"%s\", \"openblas_config\": \"%s\"",
           core ? core : "(unset)", openblas_get_corename(), openblas_get_config());
}

#endif
