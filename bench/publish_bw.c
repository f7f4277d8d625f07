/* LSH's publish pass against memcpy on the same buffer size, in one process.
 *
 * A Leashed-SGD publish writes a new version in one fused pass, theta' = theta - eta * g
 * (leash_axpy_into): two parameter vectors read, one written. memcpy of one vector
 * (one read, one write) is the bandwidth reference. Both rotate through 2m + 1 = 5
 * buffers like the version pool at m = 2, and alternate in each of k rounds; bytes/s
 * count every byte read and written, and the ratio is the median of per-round ratios.
 *
 * Usage: publish_bw [-A MLP|CNN|LENET] [-k ROUNDS] [-s SECONDS]
 * Prints one JSON object on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "sync/strategy_internal.h"

#define POOL 5

/* Passes per second of op over n floats (0: axpy, 1: memcpy). */
static double pass_rate(float **buf, const float *grad, size_t n, int op, double seconds)
{
    long passes = 0;
    double t0 = leash_now(), t;
    do {
        float *dst = buf[(passes + 1) % POOL];
        const float *src = buf[passes % POOL];
        if (op == 0) leash_axpy_into(dst, src, grad, 1e-3f, n);
        else memcpy(dst, src, n * sizeof *dst);
        ++passes;
        t = leash_now() - t0;
    } while (t < seconds);
    return (double)passes / t;
}

int main(int argc, char **argv)
{
    const char *arch = "MLP";
    int rounds = 5;
    double seconds = 0.3;
    int opt;
    while ((opt = getopt(argc, argv, "A:k:s:")) != -1) {
        if (opt == 'A') arch = optarg;
        else if (opt == 'k') rounds = atoi(optarg);
        else if (opt == 's') seconds = atof(optarg);
        else return 2;
    }
    leash_model m;
    if (rounds < 1 || rounds > BENCH_MAX_RUNS || seconds <= 0 || bench_model(&m, arch) != 0) {
        fprintf(stderr, "usage: publish_bw [-A MLP|CNN|LENET] [-k K] [-s S]\n");
        return 2;
    }
    size_t n = m.nparams;
    float *buf[POOL], *grad = leash_params_alloc(n);
    for (int i = 0; i < POOL; ++i)
        if (!(buf[i] = leash_params_alloc(n)) || !grad) return 1;
    for (size_t i = 0; i < n; ++i) grad[i] = 0.001f * (float)(i % 997);

    double axpy[BENCH_MAX_RUNS], copy[BENCH_MAX_RUNS], ratio[BENCH_MAX_RUNS];
    for (int k = 0; k < rounds; ++k) {
        axpy[k] = 3.0 * sizeof(float) * n * pass_rate(buf, grad, n, 0, seconds);
        copy[k] = 2.0 * sizeof(float) * n * pass_rate(buf, grad, n, 1, seconds);
        ratio[k] = axpy[k] / copy[k];
    }
    double bw = bench_median(axpy, rounds);
    printf("{\"benchmark\": \"publish_bw\", \"model\": \"%s\", \"parameter_bytes\": %zu, "
           "\"rounds\": %d, \"axpy_bytes_per_s\": %.4g, \"memcpy_bytes_per_s\": %.4g, "
           "\"ratio\": %.3f, \"axpy_pass_s\": %.4g}\n",
           arch, n * sizeof(float), rounds, bw, bench_median(copy, rounds),
           bench_median(ratio, rounds), 3.0 * sizeof(float) * n / bw);
    for (int i = 0; i < POOL; ++i) leash_params_free(buf[i]);
    leash_params_free(grad);
    leash_model_free(&m);
    return 0;
}
