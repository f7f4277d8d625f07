/* The FP32 peak of the cores: a loop of AVX2 FMAs on registers, nothing else.
 *
 * Each loop iteration issues ACC independent 8-lane FMAs (acc = acc * a + b). A core
 * with two FMA pipes of latency L needs 2 L of them in flight to keep both pipes busy
 * (L = 4 on Zen 3, 5 on Haswell, 4 on Skylake); ACC = 12 covers all of these and leaves
 * registers for a and b. So the rate is 2 pipes x 8 lanes x 2 FLOP = 32 FLOP a cycle on
 * such a core: implied_ghz (the rate over 32) is the clock the core ran at, a sanity
 * check against its nominal and boost clocks.
 *
 * - one core: one thread, gflops_one_core.
 * - all cores: N threads (one per online CPU unless -n), each bound to CPU i, started
 *   together; gflops_per_core is their summed rate over N (below the one-core rate where
 *   the cores share a clock budget or the machine is busy).
 * The two alternate over k rounds; figures are medians.
 *
 * Usage: fma_peak [-n THREADS] [-k ROUNDS] [-s SECONDS]
 * Prints one JSON object on stdout; exits 1 where the CPU lacks AVX2 or FMA. */
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_util.h"

#define ACC 12
#define FLOP_PER_ITER (ACC * 8 * 2)
#define ITERS_PER_CHECK 100000 /* 600,000 cycles (about 0.2 ms) between clock reads */

typedef struct peak_job {
    int cpu; /* -1: unbound */
    double seconds;
    pthread_barrier_t *start;
    double gflops; /* out */
    float sink;    /* out: the accumulators' sum, so the loop is not optimized away */
} peak_job;

/* ITERS_PER_CHECK iterations of ACC FMAs on acc. The accumulators converge to b / (1 - a)
 * = 1, so they stay normal floats (no denormal slowdown) however long the loop runs. */
__attribute__((target("avx2,fma"))) static void fma_block(__m256 acc[ACC])
{
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    __m256 r[ACC];
    for (int i = 0; i < ACC; ++i) r[i] = acc[i];
    for (long it = 0; it < ITERS_PER_CHECK; ++it)
        for (int i = 0; i < ACC; ++i) r[i] = _mm256_fmadd_ps(r[i], a, b);
    for (int i = 0; i < ACC; ++i) acc[i] = r[i];
}

__attribute__((target("avx2,fma"))) static float fma_sum(const __m256 acc[ACC])
{
    __m256 s = acc[0];
    for (int i = 1; i < ACC; ++i) s = _mm256_add_ps(s, acc[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

__attribute__((target("avx2,fma"))) static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    if (j->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(j->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    }
    __m256 acc[ACC];
    for (int i = 0; i < ACC; ++i) acc[i] = _mm256_set1_ps((float)i);
    fma_block(acc); /* warm-up: the clock ramps up and the core leaves any AVX2 slow mode */
    pthread_barrier_wait(j->start);
    long blocks = 0;
    double t0 = leash_now(), t;
    do {
        fma_block(acc);
        ++blocks;
        t = leash_now() - t0;
    } while (t < j->seconds);
    j->gflops = (double)blocks * ITERS_PER_CHECK * FLOP_PER_ITER / t / 1e9;
    j->sink = fma_sum(acc);
    return NULL;
}

/* Summed GFLOP/s of n threads started together, thread i bound to CPU i. */
static double run_threads(int n, double seconds, float *sink)
{
    peak_job jobs[BENCH_MAX_THREADS];
    pthread_t th[BENCH_MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; ++i) jobs[i] = (peak_job){.cpu = n > 1 ? i : -1, seconds, &start};
    for (int i = 1; i < n; ++i)
        if (pthread_create(&th[i], NULL, peak_thread, &jobs[i]) != 0) {
            fputs("fma_peak: cannot start a thread\n", stderr);
            exit(1);
        }
    peak_thread(&jobs[0]);
    double sum = jobs[0].gflops;
    for (int i = 1; i < n; ++i) {
        pthread_join(th[i], NULL);
        sum += jobs[i].gflops;
    }
    for (int i = 0; i < n; ++i) *sink += jobs[i].sink;
    pthread_barrier_destroy(&start);
    return sum;
}

int main(int argc, char **argv)
{
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), rounds = 3, opt;
    double seconds = 1.0;
    while ((opt = getopt(argc, argv, "n:k:s:")) != -1) {
        if (opt == 'n') threads = atoi(optarg);
        else if (opt == 'k') rounds = atoi(optarg);
        else if (opt == 's') seconds = atof(optarg);
        else return 2;
    }
    if (threads < 1 || threads > BENCH_MAX_THREADS || rounds < 1 || rounds > BENCH_MAX_RUNS ||
        seconds <= 0) {
        fputs("usage: fma_peak [-n THREADS] [-k ROUNDS] [-s SECONDS]\n", stderr);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fputs("fma_peak: this CPU has no AVX2 and FMA\n", stderr);
        return 1;
    }
    double one[BENCH_MAX_RUNS], all[BENCH_MAX_RUNS];
    float sink = 0.0f;
    for (int k = 0; k < rounds; ++k) {
        one[k] = run_threads(1, seconds, &sink);
        all[k] = run_threads(threads, seconds, &sink) / threads;
    }
    double g1 = bench_median(one, rounds), gn = bench_median(all, rounds);
    printf("{\"benchmark\": \"fma_peak\", \"isa\": \"avx2+fma\", \"accumulators\": %d, "
           "\"flop_per_cycle\": %d, \"rounds\": %d, \"seconds\": %g, \"threads\": %d, "
           "\"gflops_one_core\": %.2f, \"implied_ghz\": %.3f, \"gflops_per_core\": %.2f, "
           "\"gflops_all_cores\": %.2f, \"checksum\": %g}\n",
           ACC, 32, rounds, seconds, threads, g1, g1 / 32, gn, gn * threads, (double)sink);
    return 0;
}
