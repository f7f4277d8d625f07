/* SEQ training throughput against the sgemm-bound rate of the same model, in one process.
 *
 * The sgemm-bound rate is what the training step would reach if it did nothing but its
 * cblas_sgemm calls: the same shapes and transposes, run back to back. The training rate
 * is leash_train's own (batch gathering, forward, backward, update; evaluation excluded).
 * Runs alternate between the two so drift on a noisy machine hits both; the figures are
 * medians, and the ratio is the median of the per-pair ratios.
 *
 * Usage: seq_throughput [-A MLP] [-e EPOCHS] [-k PAIRS] [--data-dir DIR]
 * Prints one JSON object on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "leash/leash.h"

typedef struct gemm_shape {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
} gemm_shape;

/* The sgemm calls of one training step of an MLP with batch B: per fully connected
 * layer the forward product, the weight gradient and (except the first layer) the
 * input gradient, exactly as src/nn/fc.c issues them. */
static int mlp_step_shapes(const leash_model *m, int B, gemm_shape *s, int max)
{
    int n = 0;
    for (int i = 0; i < m->nlayers && n + 3 <= max; ++i) {
        const leash_layer *l = &m->layers[i];
        if (l->kind != LEASH_LAYER_FC) continue;
        int C = l->in_c, OC = l->out_c;
        s[n++] = (gemm_shape){CblasNoTrans, CblasTrans, B, OC, C};
        s[n++] = (gemm_shape){CblasTrans, CblasNoTrans, OC, C, B};
        if (i > 0) s[n++] = (gemm_shape){CblasNoTrans, CblasNoTrans, B, C, OC};
    }
    return n;
}

static double sgemm_rate(const gemm_shape *s, int n, int B, double seconds)
{
    size_t big = 0;
    for (int i = 0; i < n; ++i) {
        size_t a = (size_t)s[i].m * s[i].k, b = (size_t)s[i].k * s[i].n, c = (size_t)s[i].m * s[i].n;
        big = a > big ? a : big;
        big = b > big ? b : big;
        big = c > big ? c : big;
    }
    float *A = leash_params_alloc(big), *Bm = leash_params_alloc(big), *C = leash_params_alloc(big);
    for (size_t i = 0; i < big; ++i) A[i] = Bm[i] = 0.001f * (float)(i % 1000);
    long steps = 0;
    double t0 = leash_now(), t;
    do {
        for (int i = 0; i < n; ++i) {
            int lda = s[i].ta == CblasNoTrans ? s[i].k : s[i].m;
            int ldb = s[i].tb == CblasNoTrans ? s[i].n : s[i].k;
            cblas_sgemm(CblasRowMajor, s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 1.0f, A, lda, Bm,
                        ldb, 1.0f, C, s[i].n);
        }
        ++steps;
        t = leash_now() - t0;
    } while (t < seconds);
    leash_params_free(A);
    leash_params_free(Bm);
    leash_params_free(C);
    return (double)steps * B / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int pairs = 5, epochs = 1;
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "e:k:", opts, NULL)) != -1) {
        if (opt == 'd') dir = optarg;
        else if (opt == 'e') epochs = atoi(optarg);
        else if (opt == 'k') pairs = atoi(optarg);
        else return 2;
    }
    if (pairs < 1 || pairs > 64 || epochs < 1) return 2;

    leash_dataset train, test;
    if (leash_dataset_load(&train, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TRAIN) ||
        leash_dataset_load(&test, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TEST)) {
        fprintf(stderr, "seq_throughput: %s\n", leash_last_error());
        return 2;
    }
    leash_config cfg;
    leash_config_defaults(&cfg); /* MLP 3 x 128, b = 512: the reference run */
    cfg.epochs = epochs;
    leash_model m;
    leash_model_mlp(&m, 28, 28, 1, 10, cfg.hidden_layers, cfg.units, cfg.activation);
    gemm_shape shapes[3 * LEASH_MAX_LAYERS];
    int nshapes = mlp_step_shapes(&m, cfg.batch, shapes, 3 * LEASH_MAX_LAYERS);

    double train_rate[64], gemm_rate[64], ratio[64];
    for (int p = 0; p < pairs; ++p) {
        leash_result res;
        if (leash_train(&cfg, &train, &test, &res, NULL, NULL) != 0) {
            fprintf(stderr, "seq_throughput: %s\n", leash_last_error());
            return 1;
        }
        train_rate[p] = (double)res.samples / res.time_s;
        /* As long as the training run, so both see the same machine state. */
        gemm_rate[p] = sgemm_rate(shapes, nshapes, cfg.batch, res.time_s);
        ratio[p] = train_rate[p] / gemm_rate[p];
        leash_result_free(&res);
    }
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("{\"benchmark\": \"seq_throughput\", \"model\": \"MLP 784-128-128-128-10\", "
           "\"batch\": %d, \"epochs_per_run\": %d, \"pairs\": %d, \"openblas_coretype\": \"%s\", "
           "\"openblas_core\": \"%s\", \"openblas_config\": \"%s\", \"train_samples_per_s\": %.1f, "
           "\"sgemm_bound_samples_per_s\": %.1f, \"ratio\": %.3f}\n",
           cfg.batch, epochs, pairs, core ? core : "(unset)", openblas_get_corename(), openblas_get_config(),
           median(train_rate, pairs), median(gemm_rate, pairs), median(ratio, pairs));
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return 0;
}
